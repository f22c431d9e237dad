"""Integration test harness: the real mailhold daemon on loopback.

Python 3 standard library only.

    Mailhold            fixture: temp YAML config, `mailhold -c CONFIG` in the
                        foreground, stderr+stdout to a log file, the real port
                        read back from `event=listening address=... port=N`.
    smtp_send()         one transaction with smtplib, returns the DATA reply
                        and the queue id from "250 2.0.0 Ok: queued as <id>".
    raw_session()       a socket speaking raw bytes, with a multi-line SMTP
                        reply parser (hostile-byte tests).
    swaks()             the real swaks binary, bounded in time.
    MailholdTestCase    unittest base class: starts daemons and always stops
                        them, failing the test if the daemon log holds a
                        sanitizer (ASan/LSan/UBSan) report.

Environment:
    MAILHOLD_BIN   daemon binary (default: <repo>/build/mailhold)
    MH_KEEP_TMP=1  keep temp dirs (configs, logs, queues) for post-mortems
    ASAN_OPTIONS / UBSAN_OPTIONS are passed through (defaults set if unset).

Run every integration test:  python3 tests/integration/harness.py [-k PATTERN]
It prints a last line "integration: N passed, N failed, N skipped" and, with
--result FILE, writes "passed failed skipped" to FILE (used by run-all.sh).
"""

import collections
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from upstream import free_port  # noqa: E402

__all__ = ["mailholdctl", "mailholdctl_bin", "Mailhold", "MailholdError", "smtp_send", "raw_session", "RawSession",
           "Reply", "swaks", "MailholdTestCase", "to_yaml", "default_config",
           "SANITIZER_RE", "QUEUED_RE", "REPO"]

# "250 2.0.0 Ok: queued as 0123456789ABCDEF"
QUEUED_RE = re.compile(r"\bOk: queued as ([0-9A-Fa-f]{16})\b")
LISTENING_RE = re.compile(r"event=listening\b.*?\baddress=(\S+).*?\bport=(\d+)")
SANITIZER_RE = re.compile(
    r"ERROR: (?:AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)"
    r"|SUMMARY: (?:Address|Leak|Undefined|Thread|Memory)Sanitizer"
    r"|runtime error: "
    r"|MH_BUG")
DEFAULT_ASAN = "detect_leaks=1:abort_on_error=1"
DEFAULT_UBSAN = "print_stacktrace=1:halt_on_error=1"


class MailholdError(RuntimeError):
    pass


def mailhold_bin():
    b = os.environ.get("MAILHOLD_BIN") or os.path.join(REPO, "build", "mailhold")
    return os.path.abspath(b)


def mailholdctl_bin():
    """mailholdctl next to the daemon binary (MAILHOLD_BIN's directory)."""
    return os.path.join(os.path.dirname(mailhold_bin()), "mailholdctl")


def mailholdctl(*args, socket_path=None, config_path=None, json_out=False,
                user_cmd=(), timeout=30):
    """Run mailholdctl; returns subprocess.CompletedProcess (text).
    user_cmd: a prefix such as ("setpriv", "--reuid=nobody", ...)."""
    cmd = list(user_cmd) + [mailholdctl_bin()]
    if socket_path:
        cmd += ["-s", socket_path]
    if config_path:
        cmd += ["-c", config_path]
    if json_out:
        cmd.append("--json")
    cmd += [str(a) for a in args]
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", DEFAULT_ASAN)
    env.setdefault("UBSAN_OPTIONS", DEFAULT_UBSAN)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


# ------------------------------------------------------------------ config

def default_config(tmpdir, upstream_port=None):
    """The daemon's config as a dict, keys exactly as in config.example.yaml.
    hold 1 s and quick retries so tests stay short."""
    return {
        "server": {
            "hostname": "mailhold.test",
            "listeners": [{"address": "127.0.0.1", "port": 0, "mode": "plain"}],
            "trusted_networks": ["127.0.0.0/8", "::1/128"],
            "received_header": True,
            "smtputf8": True,
        },
        "limits": {
            "max_sessions": 1000, "max_sessions_per_ip": 50, "command_line": 512,
            "text_line": 1000, "max_recipients": 100, "message_size": "25M",
            "max_junk_commands": 20, "memory_per_message": "256k",
        },
        "timeouts": {"command": "5m", "data": "10m", "session": "1h", "upstream": "30s"},
        "queue": {"path": os.path.join(tmpdir, "queue.db"), "group_commit_max": 256},
        "hold": {"default": "1s"},
        "upstream": {
            "host": "127.0.0.1",
            # An unused port when the test has no upstream.
            "port": upstream_port if upstream_port else free_port(),
            "tls": "none", "verify": True, "max_connections": 4,
            "messages_per_connection": 100,
            # No capability probe (an extra upstream connection at start
            # would change what the relay tests count); the SMTPUTF8 tests
            # in test_relay.py turn it on.
            "probe_interval": 0,
        },
        "retry": {"initial": "1s", "max": "2s", "give_up": "1h"},
        "log": {"level": "info", "target": "stderr"},
        "control": {"socket": os.path.join(tmpdir, "ctl.sock")},
        # The sender's page on a port of its own (base_url follows it).
        "web": {"address": "127.0.0.1", "port": free_port()},
        "metrics": {"address": "127.0.0.1", "port": free_port()},
        # Alerts add a mail to the sender for most messages (the shipped
        # first_time_recipient rule flags every new recipient), which
        # would change what the older tests count in the upstream's
        # mailbox; test_alerts.py turns them on and tests them.
        "notify": {"alerts": "never"},
    }


def deep_merge(base, over):
    """Dicts merge recursively; anything else (lists included) replaces."""
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


_PLAIN_RE = re.compile(r"[A-Za-z0-9_./@+][A-Za-z0-9_./@+-]*\Z")
_YAML_SPECIAL = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def _yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if (_PLAIN_RE.match(s) and s.lower() not in _YAML_SPECIAL
            and not re.fullmatch(r"[-+]?(\d+|\d*\.\d+|\d+\.\d*)(e[-+]?\d+)?", s, re.I)):
        return s
    # JSON string syntax is valid YAML double-quoted syntax.
    import json
    return json.dumps(s, ensure_ascii=False)


def to_yaml(d, indent=0):
    """Block-style YAML for nested dicts/lists/scalars (all this config needs)."""
    pad = "  " * indent
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 1)))
            elif isinstance(v, list):
                out.append("%s%s: []\n" % (pad, k))
            else:
                out.append("%s%s: %s\n" % (pad, k, _yaml_scalar(v)))
    elif isinstance(d, list):
        for item in d:
            if isinstance(item, dict):
                sub = to_yaml(item, indent + 1).splitlines(True)
                first = sub[0][len(pad) + 2:]
                out.append("%s- %s" % (pad, first))
                out.extend(sub[1:])
            else:
                out.append("%s- %s\n" % (pad, _yaml_scalar(item)))
    return "".join(out)


# ------------------------------------------------------------------ daemon

class Mailhold:
    """The daemon under test.

    m = Mailhold(upstream_port=up.port, config={"limits": {"max_recipients": 3}})
    m.port            the listener's real port (read from the log)
    m.stop()          SIGTERM, wait, assert exit code 0
    m.kill9()         SIGKILL
    m.restart()       stop (if running) and start on the same config and queue
    m.log_text()      the whole log (all runs)
    m.wait_log(r"event=listening", timeout=10) -> re.Match
    m.wait_event("sent", qid, timeout=10)   (key order in the line is free)
    """

    def __init__(self, upstream_port=None, config=None, tmpdir=None, binary=None,
                 start=True, env=None, nofile=None, start_timeout=10.0):
        self.binary = binary or mailhold_bin()
        self._own_tmp = tmpdir is None
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="mhtest-mh-")
        self.config = deep_merge(default_config(self.tmpdir, upstream_port), config)
        self.config_path = os.path.join(self.tmpdir, "mailhold.yaml")
        self.log_path = os.path.join(self.tmpdir, "mailhold.log")
        self.queue_path = self.config["queue"]["path"]
        self.extra_env = dict(env or {})
        self.nofile = nofile
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.ports = []
        self.returncodes = []        # exit code of every run, in order
        self._run_offset = 0         # log offset where the current run began
        self._closed = False
        self.write_config()
        if start:
            self.start()

    # -- config
    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write("# written by tests/integration/harness.py\n")
            f.write(to_yaml(self.config))

    def update_config(self, overrides):
        """Merge overrides into the config and rewrite the file (takes effect
        at the next start/restart)."""
        self.config = deep_merge(self.config, overrides)
        self.write_config()

    # -- process
    def _env(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", DEFAULT_ASAN)
        env.setdefault("UBSAN_OPTIONS", DEFAULT_UBSAN)
        env.update(self.extra_env)
        return env

    def _preexec(self):
        os.setsid()   # own process group: terminal signals do not reach it
        if self.nofile:
            import resource
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = self.nofile if hard == resource.RLIM_INFINITY else min(self.nofile, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        if self.running:
            raise MailholdError("already running")
        if not os.path.exists(self.binary):
            raise MailholdError(
                "daemon binary %s does not exist (build it, or set MAILHOLD_BIN)"
                % self.binary)
        logf = open(self.log_path, "ab")
        self._run_offset = logf.tell()
        logf.write(("=== harness: start %s -c %s\n" % (self.binary, self.config_path)).encode())
        logf.flush()
        self._run_offset = logf.tell()
        try:
            self.proc = subprocess.Popen([self.binary, "-c", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=self._env(),
                                         preexec_fn=self._preexec, cwd=self.tmpdir)
        finally:
            logf.close()
        want = max(1, len(self.config["server"]["listeners"]))
        deadline = time.monotonic() + self.start_timeout
        while True:
            found = LISTENING_RE.findall(self.log_text(current_run=True))
            if len(found) >= want:
                self.ports = [int(p) for _a, p in found]
                self.port = self.ports[0]
                return self.port
            rc = self.proc.poll()
            if rc is not None:
                self.returncodes.append(rc)
                raise MailholdError("mailhold exited with %s before listening:\n%s"
                                    % (rc, self.log_tail()))
            if time.monotonic() >= deadline:
                self.kill9()
                raise MailholdError("no 'event=listening' line within %.0fs:\n%s"
                                    % (self.start_timeout, self.log_tail()))
            time.sleep(0.02)

    def stop(self, timeout=15.0, expect_rc=0):
        """SIGTERM, wait, and (by default) assert exit code 0.  Returns rc."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.returncodes.append(self.proc.returncode)
                self.proc = None
                raise AssertionError("mailhold did not exit within %.0fs of SIGTERM:\n%s"
                                     % (timeout, self.log_tail()))
        rc = self.proc.returncode
        self.returncodes.append(rc)
        self.proc = None
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError("mailhold exited with %s after SIGTERM, expected %s:\n%s"
                                 % (rc, expect_rc, self.log_tail()))
        return rc

    def kill9(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        rc = self.proc.returncode
        self.returncodes.append(rc)
        self.proc = None
        return rc

    def restart(self):
        """Stop (SIGTERM, exit 0 asserted) if running, then start again on the
        same config and queue file.  Returns the new port."""
        if self.running:
            self.stop()
        elif self.proc is not None:
            self.returncodes.append(self.proc.wait())
            self.proc = None
        return self.start()

    def close(self):
        """Terminate whatever still runs (SIGTERM, then SIGKILL) and remove
        the temp dir unless MH_KEEP_TMP is set.  Returns the last exit code."""
        if self._closed:
            return None
        self._closed = True
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            rc = self.proc.returncode
            self.returncodes.append(rc)
            self.proc = None
        return rc

    def remove_tmp(self):
        if self._own_tmp and not os.environ.get("MH_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- log
    def log_text(self, current_run=False, since=None):
        try:
            with open(self.log_path, "rb") as f:
                if since is not None:
                    f.seek(since)
                elif current_run:
                    f.seek(self._run_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_mark(self):
        """An offset for wait_log(since=...): only text logged after now."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_tail(self, n=6000):
        t = self.log_text()
        return t[-n:] if len(t) > n else t

    def wait_log(self, regex, timeout=5.0, since=None, count=1):
        """Wait until regex matches the log (after `since`, a log_mark())
        at least `count` times; return the first re.Match.  AssertionError
        with the log tail on timeout."""
        rx = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text(since=since)
            found = list(rx.finditer(text))
            if len(found) >= count:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError("log did not match %r %d time(s) within %.1fs "
                                     "(%d found):\n%s" % (rx.pattern, count, timeout,
                                                          len(found), self.log_tail()))
            time.sleep(0.02)

    @staticmethod
    def event_re(event, qid=None):
        """A regex for one log line carrying event=<event> (and id=<qid>),
        keys in any order (the log is key=value; order is not fixed)."""
        rx = r"(?m)^(?=.*\bevent=%s\b)" % re.escape(event)
        if qid:
            rx += r"(?=.*\bid=%s\b)" % re.escape(qid)
        return re.compile(rx + r".*$")

    def wait_event(self, event, qid=None, timeout=5.0, since=None, count=1):
        """wait_log() for a line with event=<event> id=<qid> (any order)."""
        return self.wait_log(self.event_re(event, qid), timeout, since, count)

    def log_events(self, event, qid=None):
        """Every log line with event=<event> (and id=<qid>)."""
        out = []
        for line in self.log_text().splitlines():
            if re.search(r"\bevent=%s\b" % re.escape(event), line) and (
                    qid is None or re.search(r"\bid=%s\b" % re.escape(qid), line)):
                out.append(line)
        return out

    @property
    def control_socket(self):
        return self.config["control"]["socket"]

    def ctl(self, *args, json_out=False, **kw):
        """mailholdctl -s <this daemon's socket> ARGS."""
        return mailholdctl(*args, socket_path=self.control_socket,
                           json_out=json_out, **kw)

    def ctl_json(self, *args, **kw):
        """mailholdctl --json ARGS, parsed; (exit code, answer dict)."""
        import json
        p = self.ctl(*args, json_out=True, **kw)
        return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None)

    def sanitizer_report(self):
        """The log from the first sanitizer/MH_BUG line on, or None."""
        text = self.log_text()
        m = SANITIZER_RE.search(text)
        if not m:
            return None
        start = text.rfind("\n", 0, max(0, m.start() - 2000)) + 1
        return text[start:start + 8000]

    def rss_kb(self):
        """VmRSS of the daemon in kB (from /proc/PID/status)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self.remove_tmp()

    def __repr__(self):
        return "<Mailhold pid=%s port=%s %s>" % (self.pid, self.port, self.tmpdir)


# ------------------------------------------------------------------ clients

SendResult = collections.namedtuple("SendResult", "code text queue_id")


def crlf(data):
    """Every line end (CRLF, bare CR, bare LF) as CRLF: what a correct client
    sends for `data` (smtplib sends bytes as they are)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def smtp_send(port, sender, rcpts, data, mail_options=(), rcpt_options=(),
              host="127.0.0.1", timeout=30, helo="client.example.com"):
    """One transaction with smtplib: EHLO, MAIL, RCPT..., DATA.

    data (bytes or str) has its line ends normalised to CRLF; smtplib does
    the dot-stuffing.  Raises smtplib exceptions on any refusal (any refused
    RCPT included).  Returns SendResult(code, text, queue_id)."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    with smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout) as s:
        code, msg = s.ehlo(helo)
        if code != 250:
            raise smtplib.SMTPHeloError(code, msg)
        code, msg = s.mail(sender, list(mail_options))
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, msg, sender)
        refused = {}
        for r in rcpts:
            code, msg = s.rcpt(r, list(rcpt_options))
            if code not in (250, 251):
                refused[r] = (code, msg)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
        code, msg = s.data(crlf(data))
        if code != 250:
            raise smtplib.SMTPDataError(code, msg)
    text = msg.decode("utf-8", "replace")
    m = QUEUED_RE.search(text)
    return SendResult(code, text, m.group(1) if m else None)


class Reply(collections.namedtuple("Reply", "code lines raw")):
    """code: int; lines: texts after "NNN-"/"NNN "; raw: bytes as received."""

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        """Enhanced status code of the first line ("5.5.2") or None."""
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})\b", self.lines[0] if self.lines else "")
        return m.group(1) if m else None

    def __str__(self):
        return "\n".join("%d %s" % (self.code, l) for l in self.lines)


class ProtocolError(AssertionError):
    pass


class RawSession:
    """A plain socket with an SMTP reply parser.  Sends exactly the bytes it
    is given (no CRLF fixing, no dot-stuffing)."""

    MAX_REPLY = 64 * 1024

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.eof = False
        self.timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for a reply; have %r" % self.buf[:300])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk

    def _line(self, deadline):
        while b"\n" not in self.buf:
            if self.eof:
                raise ProtocolError("connection closed; partial data %r" % self.buf[:300])
            if len(self.buf) > self.MAX_REPLY:
                raise ProtocolError("reply line too long")
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_reply(self, timeout=None):
        """One whole (multi-line) reply.  Raises socket.timeout, or
        ProtocolError on EOF / malformed reply."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        raw = b""
        lines = []
        code = None
        while True:
            line = self._line(deadline)
            raw += line
            m = re.match(rb"(\d{3})([ -]|\r?\n)(.*?)\r?\n\Z", line, re.S)
            if not m:
                raise ProtocolError("malformed reply line %r" % line)
            c = int(m.group(1))
            if code is None:
                code = c
            elif c != code:
                raise ProtocolError("reply code changed inside a multi-line reply: %r" % raw)
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) != b"-":
                return Reply(code, lines, raw)

    def cmd(self, line, timeout=None, eol=b"\r\n"):
        """Send line + eol (CRLF) and read one reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + eol)
        return self.read_reply(timeout)

    def replies_until_close(self, timeout=5.0):
        """Every reply until the server closes (or timeout)."""
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                out.append(self.read_reply(max(0.01, deadline - time.monotonic())))
            except (ProtocolError, socket.timeout, OSError):
                break
        return out

    def is_closed(self, timeout=2.0):
        """True if the server closes the connection within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                self._fill(deadline)
            return True
        except (socket.timeout, OSError):
            return self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_session(port, host="127.0.0.1", timeout=10.0):
    return RawSession(port, host, timeout)


def swaks(port, *args, timeout=30, host="127.0.0.1", check=False):
    """Run the real swaks against host:port (extra args as given).
    Returns subprocess.CompletedProcess (text).  swaks' own --timeout is set
    too so it never hangs on a silent server."""
    exe = shutil.which("swaks")
    if not exe:
        raise MailholdError("swaks is not installed (contrib/setup-deps.sh)")
    cmd = [exe, "--server", "%s:%d" % (host, port), "--timeout", "%ds" % max(1, timeout - 5),
           "--helo", "client.example.com"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          check=check, stdin=subprocess.DEVNULL)


# ------------------------------------------------------------------ unittest

class MailholdTestCase(unittest.TestCase):
    """Base class.  self.mailhold(...) starts a daemon that is always stopped
    after the test; the test fails if its log holds a sanitizer report, or if
    the daemon died on its own or does not exit 0 on SIGTERM at the end."""

    def mailhold(self, **kw):
        """Mailhold(**kw), stopped and checked after the test (the cleanup is
        registered before the start, so a failed start keeps its log)."""
        start = kw.pop("start", True)
        m = Mailhold(start=False, **kw)
        self.addCleanup(self._finish_daemon, m)
        if start:
            m.start()
        return m

    def _finish_daemon(self, m):
        problems = []
        try:
            if m.proc is not None and m.proc.poll() is not None:
                problems.append("mailhold died during the test (exit %s)" % m.proc.returncode)
            rc = m.close()
            if rc not in (None, 0) and not problems:
                problems.append("mailhold exited with %s on SIGTERM at test end" % rc)
            rep = m.sanitizer_report()
            if rep:
                problems.append("sanitizer report in the daemon log:\n" + rep)
            if problems:
                raise AssertionError("; ".join(problems[:2]) + "\n--- log tail:\n"
                                     + m.log_tail(4000) + "\n(log kept in %s)" % m.tmpdir)
        finally:
            if not problems:
                m.remove_tmp()


# ------------------------------------------------------------------ runner

def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="run the integration tests")
    ap.add_argument("-k", action="append", dest="patterns", help="only tests matching")
    ap.add_argument("--result", help="write 'passed failed skipped' to this file")
    ap.add_argument("-q", action="store_true", help="less output")
    a = ap.parse_args(argv)
    loader = unittest.TestLoader()
    if a.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in a.patterns]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    print("integration: daemon %s" % mailhold_bin(), flush=True)
    if not os.path.exists(mailhold_bin()):
        print("integration: WARNING: %s does not exist; every daemon test will fail"
              % mailhold_bin(), flush=True)
    runner = unittest.TextTestRunner(verbosity=1 if a.q else 2, stream=sys.stdout)
    res = runner.run(suite)
    # One count per test: a test whose subtests fail twice failed once.
    # A class whose setUpClass failed appears as one error of its own.
    failed = len({getattr(t, "test_case", t).id()
                  for t, _ in res.failures + res.errors}) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    passed = res.testsRun - failed - skipped
    print("integration: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if a.result:
        with open(a.result, "w") as f:
            f.write("%d %d %d\n" % (passed, failed, skipped))
    return 0 if failed == 0 and res.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
