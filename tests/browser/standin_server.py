#!/usr/bin/env python3
"""A stand-in for mailhold's web page, for the self-test of the browser
tooling (tests/browser/selftest.sh) and for trying contrib/bench/web.sh.

Python 3 standard library only.  Listens on 127.0.0.1 only, on a random port
unless --port is given, and stops by itself after --max-seconds (default
120).  Its first line on stdout is

    standin: listening http://127.0.0.1:PORT/m/TOKEN

It serves what the daemon's page is meant to serve:

    GET  /m/TOKEN            the held message with two POST forms, "cancel"
                             and "send" (hidden input csrf); ja or en after
                             Accept-Language (ja only if it is the first
                             language the client prefers)
    POST /m/TOKEN            action=cancel: the page again (200, same URL)
                             with <div id="notice">Cancelled. It will not be
                             sent.</div> (ja: キャンセルしました); action=send:
                             a notice "Sent." / 送信しました; a wrong csrf
                             gets 403
    GET  /static/mailhold.css
    anything else            404

Every answer carries the Content-Security-Policy the daemon will send:
default-src 'none'; style-src 'self'; form-action 'self';
frame-ancestors 'none'; base-uri 'none'.

Test hook: the token "csp-violation" serves a page with an inline style
attribute and an inline script, which that CSP refuses: page_check.mjs must
fail on it.  HTTP/1.1 with keep-alive, so wrk/ab can load it.

    python3 tests/browser/standin_server.py [--port N] [--max-seconds S]
        [--tls-cert CERT.pem --tls-key KEY.pem]      (https instead of http)
"""

import argparse
import html
import os
import secrets
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CSP = ("default-src 'none'; style-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

TOKEN = "Hq3x9ZkP2mVwR7tYb4nLc8sJ"
CSRF = secrets.token_urlsafe(24)

CSS = b"""\
:root { color-scheme: light; }
body { font-family: system-ui, sans-serif; margin: 0; padding: 1rem;
       background: #f4f5f7; color: #1d1f23; line-height: 1.5; }
main { max-width: 40rem; margin: 0 auto; background: #fff; border-radius: 8px;
       padding: 1rem 1.25rem; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
h1 { font-size: 1.25rem; margin: 0 0 .75rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem .75rem;
     margin: 0 0 1rem; }
dt { font-weight: 600; color: #555; }
dd { margin: 0; overflow-wrap: anywhere; }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; }
.actions form { margin: 0; }
button { font: inherit; padding: .6rem 1.2rem; border-radius: 6px;
         border: 1px solid #888; background: #fff; cursor: pointer; }
button[value=send] { background: #1a5fb4; border-color: #1a5fb4; color: #fff; }
#notice { border: 1px solid #2e7d32; background: #e8f5e9; color: #1b5e20;
          border-radius: 6px; padding: .75rem 1rem; margin: 0 0 1rem; }
"""

TEXT = {
    "en": {
        "title": "Held message", "from": "From", "to": "To",
        "subject": "Subject", "send_at": "Will be sent at",
        "cancel": "Cancel", "send": "Send now",
        "cancelled": "Cancelled. It will not be sent.", "sent": "Sent.",
        "subject_v": "Quarterly report",
    },
    "ja": {
        "title": "保留中のメッセージ", "from": "差出人", "to": "宛先",
        "subject": "件名", "send_at": "送信予定",
        "cancel": "キャンセル", "send": "今すぐ送信",
        "cancelled": "キャンセルしました", "sent": "送信しました",
        "subject_v": "四半期報告書",
    },
}


def pick_lang(accept_language):
    """ja if the client's most preferred language is Japanese, else en."""
    best, best_q = None, -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        fields = part.strip().split(";")
        tag = fields[0].strip().lower()
        if not tag:
            continue
        q = 1.0
        for f in fields[1:]:
            f = f.strip()
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if q > best_q:          # first one wins a tie
            best, best_q = tag, q
    return "ja" if best and (best == "ja" or best.startswith("ja-")) else "en"


def render(lang, token, notice=None, violation=False, done=False):
    t = TEXT[lang]
    e = html.escape
    rows = [(t["from"], "alice@example.com"), (t["to"], "bob@example.org"),
            (t["subject"], t["subject_v"]), (t["send_at"], "2026-05-01 09:30 UTC")]
    dl = "".join("<dt>%s</dt><dd>%s</dd>" % (e(k), e(v)) for k, v in rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="%s">' % lang,
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s - mailhold</title>" % e(t["title"]),
        '<link rel="stylesheet" href="/static/mailhold.css">',
        "</head>",
        "<body>",
        "<main>",
        "<h1>%s</h1>" % e(t["title"]),
    ]
    if notice:
        parts.append('<div id="notice" role="status">%s</div>' % e(notice))
    if violation:
        parts.append('<p style="color: red">inline style</p>')
        parts.append("<script>document.title = 'x';</script>")
    parts.append("<dl>%s</dl>" % dl)
    if not done:
        parts.append('<div class="actions">')
        for action in ("cancel", "send"):
            parts.append(
                '<form method="post" action="/m/%s">'
                '<input type="hidden" name="csrf" value="%s">'
                '<button type="submit" name="action" value="%s">%s</button>'
                "</form>" % (e(token), e(CSRF), action, e(t[action])))
        parts.append("</div>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive for load tools
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle
    # plus the client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "mailhold-standin"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("standin: %s %s\n" % (self.address_string(), fmt % args))

    def _send(self, status, body, ctype="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        if self.request_version == "HTTP/1.0" and not self.close_connection:
            # HTTP/1.0 keep-alive (ab -k) must be confirmed, or the client
            # waits for the server to close.
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _token(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/m/"):
            tok = path[3:]
            if tok in (TOKEN, "csp-violation"):
                return tok
        return None

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/static/mailhold.css":
            return self._send(200, CSS, "text/css; charset=utf-8")
        tok = self._token()
        if tok is None:
            return self._send(404, b"not found\n", "text/plain; charset=utf-8")
        lang = pick_lang(self.headers.get("Accept-Language"))
        self._send(200, render(lang, tok, violation=(tok == "csp-violation")))

    do_HEAD = do_GET

    def do_POST(self):
        tok = self._token()
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > 4096:
            self.close_connection = True
            return self._send(400, b"bad request\n", "text/plain; charset=utf-8")
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"))
        if tok is None:
            return self._send(404, b"not found\n", "text/plain; charset=utf-8")
        if form.get("csrf", [""])[0] != CSRF:
            return self._send(403, b"forbidden\n", "text/plain; charset=utf-8")
        lang = pick_lang(self.headers.get("Accept-Language"))
        action = form.get("action", [""])[0]
        if action not in ("cancel", "send"):
            return self._send(400, b"bad action\n", "text/plain; charset=utf-8")
        notice = TEXT[lang]["cancelled" if action == "cancel" else "sent"]
        self._send(200, render(lang, tok, notice=notice, done=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=120,
                    help="stop by itself after this long (default %(default)s)")
    ap.add_argument("--tls-cert", help="PEM certificate: serve https (with --tls-key)")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    a = ap.parse_args()
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    ThreadingHTTPServer.request_queue_size = 128     # listen backlog (default 5)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.verbose = a.verbose
    scheme = "http"
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    port = srv.server_address[1]
    print("standin: listening %s://127.0.0.1:%d/m/%s" % (scheme, port, TOKEN), flush=True)
    timer = threading.Timer(a.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    print("standin: stopped (pid %d)" % os.getpid(), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
