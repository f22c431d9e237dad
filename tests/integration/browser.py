"""Browser checks of mailhold's web page for the integration tests.

Python 3 standard library only.  Runs tests/browser/page_check.mjs (Node +
playwright-core driving Debian's /usr/bin/chromium; see that file for what
it checks) and hands back its one-line JSON result.

    ok, why = browser_available()       # skip the test when not ok
    r = page_check(url, "ja", screenshot_path, click="cancel",
                   expect=("送信を取り消しました",))
    r["notice"], r["status"], r["after_status"], r["screenshot_after"],
    r["after_h1"], r["after_buttons"], r["after_text"], ...

page_check() raises AssertionError, with the command, its exit status,
stdout and stderr, when a check failed (console error, CSP violation,
HTTP status, missing #notice or text, ...) or the run went wrong.

Environment:
    MH_CHROMIUM   browser binary (default /usr/bin/chromium)
    MH_NODE       node binary (default: node on PATH)
Set-up: contrib/setup-deps.sh installs chromium, Node.js and
tests/browser/node_modules (playwright-core, pinned in package-lock.json).
"""

import json
import os
import re
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BROWSER_DIR = os.path.join(REPO, "tests", "browser")
PAGE_CHECK = os.path.join(BROWSER_DIR, "page_check.mjs")
NODE_MIN_MAJOR = 20         # playwright-core's engines.node

__all__ = ["browser_available", "page_check", "PAGE_CHECK"]


def _chromium():
    return os.environ.get("MH_CHROMIUM") or "/usr/bin/chromium"


def _node():
    return os.environ.get("MH_NODE") or shutil.which("node")


def browser_available():
    """(True, "") when page_check() can run here, else (False, reason)."""
    hint = " (run contrib/setup-deps.sh)"
    node = _node()
    if not node:
        return False, "node not found" + hint
    try:
        v = subprocess.run([node, "--version"], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return False, "node --version failed: %s" % e
    m = re.match(r"v(\d+)\.", v)
    if not m or int(m.group(1)) < NODE_MIN_MAJOR:
        return False, "node %s is too old: playwright-core needs >= %d" % (v or "?", NODE_MIN_MAJOR)
    chromium = _chromium()
    if not os.access(chromium, os.X_OK):
        return False, "%s not found%s" % (chromium, hint)
    if not os.path.isfile(os.path.join(BROWSER_DIR, "node_modules", "playwright-core",
                                       "package.json")):
        return False, "tests/browser/node_modules/playwright-core missing" + hint
    if not os.path.isfile(PAGE_CHECK):
        return False, "%s missing" % PAGE_CHECK
    return True, ""


def page_check(url, lang, screenshot, click=None, expect=(), no_js=False, timeout=90,
               ignore_https_errors=False):
    """Load url in headless Chromium with language lang ("ja" or "en"),
    screenshot it to `screenshot`; with click="cancel"/"send", press that
    button and check that #notice holds every text in expect (without a
    click, the page's text must hold them); no_js=True runs with JavaScript
    disabled.  Returns page_check.mjs's JSON result as a dict.

    timeout bounds the whole node process (seconds); page_check.mjs gets
    timeout - 10 s (at least 20 s) as its own bound, so it can report."""
    if isinstance(expect, str):
        expect = (expect,)
    inner = max(20, int(timeout) - 10)
    cmd = [_node() or "node", PAGE_CHECK, "--url", url, "--lang", lang,
           "--screenshot", os.fspath(screenshot), "--click", click or "none",
           "--timeout", str(inner)]
    for t in expect:
        cmd += ["--expect-text", t]
    if no_js:
        cmd.append("--no-js")
    if ignore_https_errors:
        cmd.append("--ignore-https-errors")
    env = dict(os.environ)
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    env.setdefault("MH_CHROMIUM", _chromium())
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env=env, cwd=BROWSER_DIR)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("page_check: no answer in %s s: %s\nstdout:\n%s\nstderr:\n%s"
                             % (timeout, " ".join(cmd), _text(e.stdout), _text(e.stderr)))
    result = None
    for line in reversed(p.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                pass
            break
    if p.returncode != 0 or not isinstance(result, dict) or result.get("ok") is not True:
        why = (result or {}).get("error") or "exit status %d" % p.returncode
        raise AssertionError("page_check failed: %s\ncommand: %s\nexit status: %d\n"
                             "stdout:\n%s\nstderr:\n%s"
                             % (why, " ".join(cmd), p.returncode, p.stdout, p.stderr))
    return result


def _text(b):
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b
