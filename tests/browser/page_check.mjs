#!/usr/bin/env node
// tests/browser/page_check.mjs - load mailhold's message page in Debian's
// headless Chromium (driven by playwright-core, no browser download), take
// screenshots, optionally press one of its buttons, and check the result.
//
//   node tests/browser/page_check.mjs --url URL --lang ja|en --screenshot OUT.png
//        [--click cancel|send|none] [--expect-text TEXT ...]
//        [--ignore-https-errors] [--no-js] [--timeout SECONDS]
//
// --expect-text takes one or more texts (up to the next --option) and may
// be repeated; every text must be found.
//
// Steps:
//   1. a fresh Chromium (fresh --user-data-dir, removed on exit) with the
//      flags this machine needs (headless, no sandbox as root, no background
//      networking), a phone-sized viewport (390x844, deviceScaleFactor 1),
//      locale and Accept-Language set after --lang;
//   2. GET URL, wait for "load", check HTTP 200, take a full-page
//      screenshot to OUT.png;
//   3. with --click cancel|send: press <button name="action" value=...>
//      (exactly one must exist), wait for the navigation (the POST), check
//      HTTP 200, that #notice exists and holds every --expect-text, and take
//      OUT-after.png; the result reports the page's <h1> texts
//      (after_h1), the values of the buttons left (after_buttons) and its
//      text (after_text);  with --click none (the default) every
//      --expect-text must be in the page's text instead;
//   4. throughout: any console error (CSP violations are reported there),
//      uncaught page error, failed request, HTTP error on a sub-resource
//      (but /favicon.ico), or request to another origin fails the check.
//
// JavaScript is enabled unless --no-js (javaScriptEnabled: false), which
// proves that the page works without it.  The check does not need the
// page's own scripts: it reads the DOM through Playwright.
//
// Output: one line of JSON on stdout ({"ok": true|false, ...}); on failure
// also "page_check: FAIL: ..." on stderr.  Exit 0 on success, 1 when a check
// failed, 2 on a usage error, 3 on the overall timeout (default 60 s), when
// the browser is killed and the process exits.
//
// Environment: MH_CHROMIUM (default /usr/bin/chromium).
// Needs: contrib/setup-deps.sh (chromium, node >= 20, tests/browser/node_modules).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.MH_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];
const LOCALES = {
  en: { locale: 'en-US', acceptLanguage: 'en-US,en;q=0.9' },
  ja: { locale: 'ja-JP', acceptLanguage: 'ja-JP,ja;q=0.9' },
};
const VIEWPORT = { width: 390, height: 844 };

const USAGE = `usage: node page_check.mjs --url URL --lang ja|en --screenshot OUT.png
       [--click cancel|send|none] [--expect-text TEXT ...]
       [--ignore-https-errors] [--no-js] [--timeout SECONDS]`;

function usage(msg) {
  process.stderr.write(`page_check: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { click: 'none', expect: [], ignoreHttpsErrors: false, js: true, timeout: 60 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--url': o.url = val(); break;
      case '--lang': o.lang = val(); break;
      case '--screenshot': o.screenshot = val(); break;
      case '--click': o.click = val(); break;
      case '--expect-text':         // --expect-text A [B ...] and/or repeated
        o.expect.push(val());
        while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) o.expect.push(argv[++i]);
        break;
      case '--ignore-https-errors': o.ignoreHttpsErrors = true; break;
      case '--no-js': o.js = false; break;
      case '--timeout': o.timeout = Number(val()); break;
      case '-h': case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.url) usage('--url is required');
  if (!o.screenshot) usage('--screenshot is required');
  if (!LOCALES[o.lang]) usage('--lang must be ja or en');
  if (!['cancel', 'send', 'none'].includes(o.click)) usage('--click must be cancel, send or none');
  if (!(o.timeout > 0 && o.timeout <= 600)) usage('--timeout must be 1..600 seconds');
  let u;
  try { u = new URL(o.url); } catch { usage(`bad --url ${o.url}`); }
  if (!['http:', 'https:'].includes(u.protocol)) usage('--url must be http(s)');
  return o;
}

function afterPath(p) {
  const ext = path.extname(p);
  return ext ? p.slice(0, -ext.length) + '-after' + ext : p + '-after.png';
}

const opts = parseArgs(process.argv.slice(2));
const t0 = Date.now();
const result = {
  ok: false, url: opts.url, lang: opts.lang, js: opts.js, click: opts.click,
  screenshot: opts.screenshot,
};
const problems = [];           // console errors, CSP, failed requests...
let context = null;
let profileDir = null;
let finished = false;

function removeProfile() {
  if (profileDir) {
    try { fs.rmSync(profileDir, { recursive: true, force: true }); } catch { /* best effort */ }
    profileDir = null;
  }
}

function finish(code, error) {
  if (finished) return;
  finished = true;
  result.elapsed_ms = Date.now() - t0;
  result.problems = problems;
  if (error) result.error = error;
  process.stdout.write(JSON.stringify(result) + '\n');
  if (error) process.stderr.write(`page_check: FAIL: ${error}\n`);
  process.exitCode = code;
}

// Overall bound: report, then exit; playwright-core's exit handler kills
// the browser (SIGKILL to its process group) and ours removes the profile.
const watchdog = setTimeout(() => {
  finish(3, `overall timeout after ${opts.timeout} s`);
  process.exit(3);
}, opts.timeout * 1000);
process.on('exit', removeProfile);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { finish(3, `killed by ${sig}`); process.exit(3); });
}

class CheckError extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckError(msg);
}

async function run() {
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} not found (run contrib/setup-deps.sh)`);
  fs.mkdirSync(path.dirname(path.resolve(opts.screenshot)), { recursive: true });
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mh-chromium-'));
  const loc = LOCALES[opts.lang];
  const stepMs = Math.max(5000, Math.min(30000, opts.timeout * 1000 / 3));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: stepMs,
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    isMobile: false,
    locale: loc.locale,
    extraHTTPHeaders: { 'Accept-Language': loc.acceptLanguage },
    javaScriptEnabled: opts.js,
    ignoreHTTPSErrors: opts.ignoreHttpsErrors,
    serviceWorkers: 'block',
  });
  result.browser = `chromium ${context.browser()?.version() ?? '?'}`;
  context.setDefaultTimeout(stepMs);
  context.setDefaultNavigationTimeout(stepMs);

  const origin = new URL(opts.url).origin;
  const ignorable = (u) => {
    try { return new URL(u).pathname === '/favicon.ico'; } catch { return false; }
  };
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc2 = msg.location();
      if (loc2 && ignorable(loc2.url)) return;
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (req) => {
    const u = req.url();
    if (u.startsWith('data:') || u.startsWith('about:')) return;
    let o;
    try { o = new URL(u).origin; } catch { o = u; }
    if (o !== origin) problems.push(`request to another origin: ${req.method()} ${u}`);
  });
  page.on('requestfailed', (req) => {
    if (ignorable(req.url())) return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on('response', (resp) => {
    const req = resp.request();
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) return; // checked below
    if (resp.status() >= 400 && !ignorable(resp.url())) {
      problems.push(`HTTP ${resp.status()} for ${req.method()} ${resp.url()}`);
    }
  });

  // --- 1. GET
  const resp = await page.goto(opts.url, { waitUntil: 'load' });
  check(resp, `no response for ${opts.url}`);
  result.status = resp.status();
  check(resp.status() === 200, `GET ${opts.url}: HTTP ${resp.status()}`);
  result.csp = (await resp.allHeaders())['content-security-policy'] ?? null;
  result.title = await page.title();
  result.html_lang = await page.locator('html').getAttribute('lang');
  result.stylesheets = await page.locator('link[rel~="stylesheet"]').count();
  result.buttons = await page.locator('button[name="action"]').evaluateAll(
    (bs) => bs.map((b) => b.value));
  await page.screenshot({ path: opts.screenshot, fullPage: true });

  if (opts.click === 'none') {
    const text = await page.locator('body').innerText();
    for (const t of opts.expect) check(text.includes(t), `page text lacks ${JSON.stringify(t)}`);
    check(problems.length === 0, `${problems.length} problem(s): ${problems.join(' | ')}`);
    return;
  }

  // --- 2. press the button, wait for the POST's page
  const button = page.locator(`button[name="action"][value="${opts.click}"]`);
  const n = await button.count();
  check(n === 1, `expected one button name=action value=${opts.click}, found ${n}`);
  result.form_method = (await button.evaluate((b) => b.form && b.form.method)) || null;
  check(result.form_method === 'post', `the ${opts.click} button is not in a method=post form`);
  const [nav] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    button.click(),
  ]);
  check(nav, `no navigation after pressing ${opts.click}`);
  result.after_status = nav.status();
  result.after_method = nav.request().method();
  result.after_url = page.url();
  check(nav.status() === 200, `POST ${opts.click}: HTTP ${nav.status()}`);
  const shotAfter = afterPath(opts.screenshot);
  result.screenshot_after = shotAfter;
  await page.screenshot({ path: shotAfter, fullPage: true });

  // --- 3. the page after the action: its heading and the buttons left
  //        (the caller checks they agree with the new state)
  result.after_h1 = (await page.locator('h1').allInnerTexts()).map((t) => t.trim());
  result.after_buttons = await page.locator('button').evaluateAll(
    (bs) => bs.map((b) => b.value || b.textContent.trim()));
  result.after_text = (await page.locator('body').innerText()).trim();

  // --- 4. the notice
  const notice = page.locator('#notice');
  const nn = await notice.count();
  check(nn === 1, `expected one #notice after ${opts.click}, found ${nn}`);
  result.notice = (await notice.innerText()).trim();
  check(await notice.isVisible(), '#notice is not visible');
  for (const t of opts.expect) {
    check(result.notice.includes(t), `#notice ${JSON.stringify(result.notice)} lacks ${JSON.stringify(t)}`);
  }
  check(problems.length === 0, `${problems.length} problem(s): ${problems.join(' | ')}`);
}

try {
  await run();
  result.ok = true;
  finish(0);
} catch (e) {
  const msg = e instanceof CheckError ? e.message : `${e.name}: ${e.message.split('\n')[0]}`;
  finish(1, msg);
} finally {
  clearTimeout(watchdog);
  if (context) {
    await Promise.race([
      context.close().catch(() => {}),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
  }
  removeProfile();
}
process.exit(process.exitCode ?? 0);
