"""The sender's alert and page (issue 5), end to end: a risky message is
held, the alert arrives in the real upstream's mailbox (Debian's Postfix),
its link opens the page, GET changes nothing, POST cancel stops the
message for good, POST send releases it at once; bad tokens, CSRF and
hostile input are handled.

Each test reads the alert the way a sender would: from the Maildir, MIME
decoded with Python's email package, the link taken from the text part.
"""

import email
import email.header
import email.policy
import http.client
import os
import re
import sqlite3
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdTestCase, crlf, smtp_send  # noqa: E402
from test_policy import rules  # noqa: E402
from upstream import TEST_DOMAINS, PostfixUpstream  # noqa: E402

SENDER = "sender@example.com"
DELIVERY_TIMEOUT = 15.0
LINK_RE = re.compile(r"(http://127\.0\.0\.1:\d+/m/([A-Za-z0-9_-]{44}))")
CSRF_RE = re.compile(r'name="csrf" value="([A-Za-z0-9_-]+)"')


def message(tag, to=("friend@gmial.com",), subject=None):
    lines = ["From: Sender <%s>" % SENDER, "To: " + ", ".join(to),
             "Subject: %s" % (subject if subject is not None else
                              "Quarterly figures " + tag),
             "Message-ID: <%s@example.com>" % tag, "", "Hello %s." % tag, ""]
    return crlf("\r\n".join(lines).encode())


def decoded_subject(msg):
    return str(email.header.make_header(email.header.decode_header(
        msg["Subject"])))


class Page:
    """One HTTP exchange with the daemon's page."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            h = {"User-Agent": "mailhold-test/1.0", "Accept-Language": "en"}
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), \
                data.decode("utf-8", "replace")
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, fields, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, urllib.parse.urlencode(fields), h)


class AlertTest(MailholdTestCase):

    @classmethod
    def setUpClass(cls):
        # gmial.com (a typo of gmail.com) must be deliverable, so that a
        # released message can be seen arriving.
        cls.up = PostfixUpstream(domains=tuple(TEST_DOMAINS) + ("gmial.com",))

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    def start(self, hold="1h", typo=None, notify=None, web=None, extra=None):
        cfg = {"hold": {"default": hold, "max": "2h"},
               "policy": {"internal_domains": ["example.com"],
                          "rules": rules(typo_domain=dict(
                              {"action": "hold", "hold": hold}, **(typo or {})))},
               "notify": dict({"alerts": "on_finding"}, **(notify or {})),
               "web": web or {}}
        cfg.update(extra or {})
        m = self.mailhold(upstream_port=self.up.port, config=cfg)
        m.web_port = int(m.config["web"]["port"])
        m.page = Page(m.web_port)
        return m

    def db(self, m, sql, args=()):
        con = sqlite3.connect(m.queue_path, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def state(self, m, qid):
        return self.db(m, "SELECT state FROM messages WHERE id=?", (qid,))[0][0]

    def audit(self, m, qid):
        return self.db(m, "SELECT actor, from_state, to_state, why FROM audit"
                       " WHERE msg_id=? ORDER BY id", (qid,))

    def alert_for(self, tag, timeout=DELIVERY_TIMEOUT):
        """The alert mail (null sender, to SENDER) whose subject names tag."""
        def is_alert(x):
            if x.sender != "" or x.recipient != SENDER:
                return False
            msg = email.message_from_bytes(x.raw)
            return tag in decoded_subject(msg)
        (d,) = self.up.wait_for(1, timeout, pred=is_alert)
        return email.message_from_bytes(d.raw, policy=email.policy.default), d

    def parts(self, msg):
        self.assertEqual(msg.get_content_type(), "multipart/alternative")
        text = msg.get_body(preferencelist=("plain",)).get_content()
        html = msg.get_body(preferencelist=("html",)).get_content()
        return text, html

    def submit(self, m, tag, **kw):
        r = smtp_send(m.port, SENDER, list(kw.pop("to", ["friend@gmial.com"])),
                      message(tag, **kw))
        m.wait_log(r"id=%s event=alert " % r.queue_id, timeout=5)
        return r.queue_id

    def link(self, tag):
        msg, _ = self.alert_for(tag)
        text, _html = self.parts(msg)
        mm = LINK_RE.search(text)
        self.assertIsNotNone(mm, text)
        return mm.group(1), "/m/" + mm.group(2), mm.group(2)

    # -------------------------------------------------------------- alert

    def test_alert_mail_is_proper_mime(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        msg, d = self.alert_for(tag)
        subj = decoded_subject(msg)
        self.assertTrue(subj.startswith("[mailhold] "), subj)
        self.assertIn("Quarterly figures " + tag, subj)
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        self.assertEqual(msg["To"].addresses[0].addr_spec, SENDER)
        self.assertEqual(msg["MIME-Version"], "1.0")
        # The raw Subject is encoded (it holds a non-ASCII dash) and no
        # line of the mail is longer than 998 octets.
        self.assertTrue(all(len(line) <= 998 for line in d.raw.split(b"\n")))
        text, html = self.parts(msg)
        for part in (text, html):
            self.assertIn("friend@gmial.com", part)
            self.assertIn("friend@gmail.com", part)   # the likely intended
        self.assertNotIn("<img", html.lower())
        self.assertNotIn("<script", html.lower())
        url, path, _tok = self.link(tag)
        self.assertIn(url, html)
        # The alert went at once; the message itself is still held.
        self.assertEqual(self.state(m, qid), "held")
        self.assertEqual(m.log_events("sent", qid), [])

    def test_alert_japanese_for_a_listed_user(self):
        m = self.start(notify={"users_ja": [SENDER]})
        tag = uuid.uuid4().hex[:10]
        self.submit(m, tag)
        msg, _d = self.alert_for(tag)
        subj = decoded_subject(msg)
        self.assertIn("保留", subj)
        text, _html = self.parts(msg)
        self.assertIn("friend@gmail.com", text)

    def test_times_in_notify_timezone(self):
        # The machine runs in UTC; notify.timezone: Asia/Tokyo puts every
        # time shown to people in Japan time, named as such.
        m = self.start(notify={"timezone": "Asia/Tokyo"})
        m.wait_log(r"event=timezone zone=Asia/Tokyo")
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        (release_at,) = self.db(m, "SELECT release_at FROM messages WHERE id=?",
                                (qid,))[0]
        hm = time.strftime("%H:%M", time.gmtime(release_at + 9 * 3600))
        want = r"(?:\d{1,2} [A-Z][a-z]{2} )?%s JST" % re.escape(hm)
        msg, _d = self.alert_for(tag)
        text, html = self.parts(msg)
        self.assertRegex(text, r"It will be sent at %s unless" % want)
        self.assertNotIn("+0000", text)
        _url, path, _tok = self.link(tag)
        st, _h, body = m.page.get(path)
        self.assertEqual(st, 200)
        self.assertRegex(body, r">%s</time>" % want)
        self.assertNotIn("+0000<", body)

    def test_no_alert_without_finding(self):
        m = self.start(hold="1s")
        tag = uuid.uuid4().hex[:10]
        r = smtp_send(m.port, SENDER, ["someone@example.org"],
                      message(tag, to=["someone@example.org"]))
        m.wait_event("sent", r.queue_id, timeout=DELIVERY_TIMEOUT)
        self.assertEqual(m.log_events("alert", r.queue_id), [])

    # -------------------------------------------------------------- page

    def test_get_changes_nothing_then_cancel(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        _url, path, _tok = self.link(tag)
        before = self.audit(m, qid)
        # Link scanners fetch it, more than once: nothing changes.
        for _ in range(3):
            st, hdrs, body = m.page.get(path)
            self.assertEqual(st, 200)
            self.assertIn("Quarterly figures " + tag, body)
            self.assertIn("friend@gmial.com", body)
            self.assertIn("friend@gmail.com", body)
        self.assertEqual(self.state(m, qid), "held")
        self.assertEqual(self.audit(m, qid), before)
        # Security headers.
        self.assertIn("default-src 'none'", hdrs["content-security-policy"])
        self.assertEqual(hdrs["x-frame-options"], "DENY")
        self.assertEqual(hdrs["referrer-policy"], "no-referrer")
        self.assertEqual(hdrs["cache-control"], "no-store")
        self.assertNotIn("strict-transport-security", hdrs)  # plain HTTP
        self.assertIn('value="cancel"', body)
        self.assertIn('value="send"', body)

        csrf = CSRF_RE.search(body).group(1)
        st, _h, body = m.page.post(path, {"csrf": csrf, "action": "cancel"})
        self.assertEqual(st, 200, body)
        self.assertIn('id="notice"', body)
        self.assertEqual(self.state(m, qid), "cancelled")
        actor, frm, to, why = self.audit(m, qid)[-1]
        self.assertEqual((actor, frm, to), ("web:127.0.0.1", "held", "cancelled"))
        self.assertIn("mailhold-test/1.0", why)
        # A second click, and a late "send now": answered, nothing changes.
        st, _h, body = m.page.post(path, {"csrf": csrf, "action": "cancel"})
        self.assertEqual(st, 409)
        st, _h, body = m.page.post(path, {"csrf": csrf, "action": "send"})
        self.assertEqual(st, 409)
        self.assertEqual(self.state(m, qid), "cancelled")
        # The page now says what became of it, without buttons.
        st, _h, body = m.page.get(path)
        self.assertEqual(st, 200)
        self.assertNotIn('value="send"', body)
        # Never relayed: release everything else and look.
        time.sleep(1.0)
        self.assertEqual(m.log_events("released", qid), [])
        self.assertFalse([x for x in self.up.messages()
                          if x.sender == SENDER and tag.encode() in x.raw])

    def test_send_now_releases_at_once(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        _url, path, _tok = self.link(tag)
        st, _h, body = m.page.get(path)
        csrf = CSRF_RE.search(body).group(1)
        st, _h, body = m.page.post(path, {"csrf": csrf, "action": "send"})
        self.assertEqual(st, 200, body)
        # The whole page shows the new state: no "on hold" heading, no
        # buttons, nothing asking to cancel (issue 17 item 7).
        self.assertIn('id="notice"', body)
        self.assertRegex(body, r"<h1>(Being sent|Sent)</h1>")
        self.assertNotIn("on hold", body)
        self.assertNotIn("<button", body)
        self.assertNotIn("cancel it now", body.lower())
        m.wait_event("sent", qid, timeout=DELIVERY_TIMEOUT)
        got = self.up.wait_for(1, DELIVERY_TIMEOUT, pred=lambda x: (
            x.sender == SENDER and tag.encode() in x.raw))
        self.assertEqual(got[0].recipient, "friend@gmial.com")
        st, _h, body = m.page.get(path)
        self.assertEqual(st, 200)
        self.assertNotIn('value="cancel"', body)
        # Cancel after it went: too late, said clearly.
        st, _h, body = m.page.post(path, {"csrf": csrf, "action": "cancel"})
        self.assertEqual(st, 409)
        self.assertEqual(self.state(m, qid), "sent")

    def test_hold_for_release_alert_and_send(self):
        m = self.start(typo={"action": "hold_for_release"})
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        msg, _d = self.alert_for(tag)
        text, _html = self.parts(msg)
        self.assertIn("not", text.lower())   # "will not be sent unless..."
        self.assertEqual(self.state(m, qid), "awaiting_release")
        _url, path, _tok = self.link(tag)
        st, _h, body = m.page.get(path)
        csrf = CSRF_RE.search(body).group(1)
        st, _h, body = m.page.post(path, {"csrf": csrf, "action": "send"})
        self.assertEqual(st, 200, body)
        m.wait_event("sent", qid, timeout=DELIVERY_TIMEOUT)

    def test_web_port_zero_links_and_origin_use_the_bound_port(self):
        # web.port: 0 ("any free port") and no base_url: the alert's link
        # and the Origin check must name the port actually bound, not 0.
        m = self.start(web={"port": 0})
        mm = m.wait_log(r"event=web_listening address=\S+ port=(\d+) "
                        r"tls=no base_url=(\S+)")
        port = int(mm.group(1))
        self.assertNotEqual(port, 0)
        self.assertEqual(mm.group(2), "http://127.0.0.1:%d" % port)
        m.page = Page(port)
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        url, path, _tok = self.link(tag)
        self.assertTrue(url.startswith("http://127.0.0.1:%d/m/" % port), url)
        # Follow the link as it is, then press Cancel the way a browser
        # does (Origin: the page's own scheme://host:port).
        u = urllib.parse.urlsplit(url)
        page = Page(u.port)
        st, _h, body = page.get(u.path)
        self.assertEqual(st, 200, body)
        csrf = CSRF_RE.search(body).group(1)
        st, _h, body = page.post(u.path, {"csrf": csrf, "action": "cancel"},
                                 headers={"Origin": "http://127.0.0.1:%d" % port,
                                          "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(st, 200, body)
        self.assertEqual(self.state(m, qid), "cancelled")
        # A reload builds a new config: its links still name that port.
        self.assertEqual(m.ctl("reload").returncode, 0)
        tag = uuid.uuid4().hex[:10]
        self.submit(m, tag)
        url, _path, _tok = self.link(tag)
        self.assertTrue(url.startswith("http://127.0.0.1:%d/m/" % port), url)

    # -------------------------------------------------------------- tokens

    def test_unknown_and_wrong_tokens_look_the_same(self):
        m = self.start(web={"max_failures": 5})
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        _url, path, tok = self.link(tag)
        wrong = tok[:12] + ("A" if tok[12] != "A" else "B") + tok[13:]
        bodies = set()
        for p in ("/m/" + "A" * 44, "/m/" + wrong, "/m/short",
                  "/m/" + tok + "x", "/m/%41" + tok[3:]):
            st, _h, body = m.page.get(p)
            self.assertEqual(st, 404, p)
            bodies.add(body)
        self.assertEqual(len(bodies), 1)    # nothing tells them apart
        # Past web.max_failures failed look-ups get 429...
        st, _h, _b = m.page.get("/m/" + "B" * 44)
        self.assertEqual(st, 429)
        # ...but the valid link still works (senders behind one NAT).
        st, _h, _b = m.page.get(path)
        self.assertEqual(st, 200)
        self.assertEqual(self.state(m, qid), "held")
        # The token is stored only as a hash and never logged.
        self.assertNotIn(tok, m.log_text())
        (sel, h), = self.db(m, "SELECT selector, hex(hash) FROM tokens"
                            " WHERE msg_id=?", (qid,))
        self.assertEqual(sel, tok[:12])
        self.assertNotIn(tok[12:], h)

    def test_token_gone_from_queue_after_alert_sent(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        self.submit(m, tag)
        _url, _path, tok = self.link(tag)
        m.wait_log(r"event=sent", timeout=DELIVERY_TIMEOUT)
        time.sleep(0.5)
        con = sqlite3.connect(m.queue_path, timeout=5)
        try:
            dump = "\n".join(con.iterdump())
        finally:
            con.close()
        self.assertNotIn(tok[12:], dump)

    def test_csrf_and_form_checks(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        _url, path, _tok = self.link(tag)
        st, _h, body = m.page.get(path)
        csrf = CSRF_RE.search(body).group(1)
        bad = "A" * len(csrf) if csrf[0] != "A" else "B" * len(csrf)
        st, _h, _b = m.page.post(path, {"csrf": bad, "action": "cancel"})
        self.assertEqual(st, 403)
        st, _h, _b = m.page.post(path, {"action": "cancel"})
        self.assertEqual(st, 400)
        st, _h, _b = m.page.post(path, {"csrf": csrf, "action": "delete"})
        self.assertEqual(st, 400)
        st, _h, _b = m.page.post(path, {"csrf": csrf, "action": "cancel"},
                                 headers={"Origin": "https://evil.example"})
        self.assertEqual(st, 403)
        st, _h, _b = m.page.request("POST", path, "csrf=%s&action=cancel" % csrf,
                                    {"Content-Type": "text/plain"})
        self.assertEqual(st, 400)
        st, _h, _b = m.page.request("PUT", path)
        self.assertEqual(st, 405)
        self.assertEqual(self.state(m, qid), "held")
        self.assertEqual(len(self.audit(m, qid)), 1)   # "received" only

    def test_hostile_subject_and_address_are_escaped(self):
        m = self.start()
        tag = uuid.uuid4().hex[:10]
        evil = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)> " + tag
        rcpt = '"<b>x</b>"@gmial.com'
        r = smtp_send(m.port, SENDER, [rcpt],
                      message(tag, to=["friend@gmial.com"], subject=evil))
        m.wait_log(r"id=%s event=alert " % r.queue_id, timeout=5)
        msg, _d = self.alert_for(tag)
        _text, html = self.parts(msg)
        for raw in ("<script>", "<img src=x", "<b>x</b>"):
            self.assertNotIn(raw, html)
        self.assertIn("&lt;script&gt;", html)
        _url, path, _tok = self.link(tag)
        st, _h, body = m.page.get(path)
        self.assertEqual(st, 200)
        for raw in ("<script>", "<img src=x", "<b>x</b>"):
            self.assertNotIn(raw, body)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", body)
        self.assertIn("&lt;b&gt;x&lt;/b&gt;", body)

    def test_forwarded_for_only_from_trusted_proxy_last_line(self):
        m = self.start(web={"trusted_proxies": ["127.0.0.1"]})
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        _url, path, _tok = self.link(tag)
        st, _h, body = m.page.get(path)
        csrf = CSRF_RE.search(body).group(1)
        # A client-supplied line first, the proxy's own line last.
        c = http.client.HTTPConnection("127.0.0.1", m.web_port, timeout=10)
        c.putrequest("POST", path)
        c.putheader("Content-Type", "application/x-www-form-urlencoded")
        c.putheader("X-Forwarded-For", "198.51.100.7")
        c.putheader("X-Forwarded-For", "203.0.113.9:51234")
        data = urllib.parse.urlencode({"csrf": csrf, "action": "cancel"})
        c.putheader("Content-Length", str(len(data)))
        c.endheaders(data.encode())
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        self.assertEqual(self.audit(m, qid)[-1][0], "web:203.0.113.9")

    def test_trickling_clients_are_cut_off(self):
        """Connections are counted from accept and live at most
        2 x web.timeout: a client that trickles a request line by line
        holds nothing for long, and the page keeps serving."""
        import socket
        m = self.start(web={"max_connections": 3, "timeout": "1s"})
        socks = []
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", m.web_port), timeout=5)
            s.sendall(b"GET /static/mailhold.css HTTP/1.1\r\n")
            socks.append(s)
        deadline = time.monotonic() + 8
        closed = set()
        while time.monotonic() < deadline and len(closed) < len(socks):
            for i, s in enumerate(socks):
                if i in closed:
                    continue
                try:
                    s.sendall(b"X-a: b\r\n")
                    s.settimeout(0.05)
                    if s.recv(4096) == b"":
                        closed.add(i)
                except socket.timeout:
                    pass
                except OSError:
                    closed.add(i)
            time.sleep(0.3)
        for s in socks:
            s.close()
        self.assertEqual(len(closed), len(socks))
        time.sleep(1.5)            # the sweeper frees the slots
        st, _h, _b = m.page.get("/static/mailhold.css")
        self.assertEqual(st, 200)

    def test_stylesheet_and_unknown_paths(self):
        m = self.start()
        st, hdrs, css = m.page.get("/static/mailhold.css")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/css"))
        st, _h, _b = m.page.get("/")
        self.assertEqual(st, 404)
        st, _h, _b = m.page.get("/etc/passwd")
        self.assertEqual(st, 404)


class BrowserTest(AlertTest):
    """Headless Debian Chromium (playwright-core) opens the page, clicks
    Cancel and sees the confirmation, in English and in Japanese.  The
    screenshots stay under tests/out/screenshots/."""

    SHOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), "out", "screenshots")

    def setUp(self):
        from browser import browser_available
        ok, why = browser_available()
        if not ok:
            self.skipTest(why)

    def run_browser(self, lang, expect, no_js=False, click="cancel",
                    typo=None):
        from browser import page_check
        m = self.start(typo=typo)
        tag = uuid.uuid4().hex[:10]
        qid = self.submit(m, tag)
        url, _path, _tok = self.link(tag)
        os.makedirs(self.SHOTS, exist_ok=True)
        shot = os.path.join(self.SHOTS, "page-%s%s%s.png" % (
            lang, "" if click == "cancel" else "-" + click,
            "-nojs" if no_js else ""))
        r = page_check(url, lang, shot, click=click, expect=(expect,),
                       no_js=no_js)
        self.assertTrue(os.path.getsize(shot) > 1000)
        # After the action the whole page shows the new state: the
        # heading says it, and no button is left to press.
        self.assertEqual(r["after_buttons"], [], r)
        self.assertEqual(len(r["after_h1"]), 1, r)
        if click == "cancel":
            self.assertEqual(self.state(m, qid), "cancelled")
            actor, _f, to, why = self.audit(m, qid)[-1]
            self.assertEqual((actor, to), ("web:127.0.0.1", "cancelled"))
            self.assertIn("Chrome", why)     # the browser's user agent
        return r, m, qid

    def test_english_cancel(self):
        r, _m, _q = self.run_browser(
            "en", "Done: sending cancelled. It will not be sent.")
        self.assertEqual(r["after_h1"], ["Sending cancelled"])
        self.assertNotIn("on hold", r["after_text"])

    def test_japanese_cancel(self):
        r, _m, _q = self.run_browser("ja", "送信を取り消しました。")
        self.assertEqual(r["after_h1"], ["送信を取り消しました"])
        self.assertNotIn("送信を保留しています", r["after_text"])
        self.assertNotIn("今すぐ送信", r["after_text"])

    def test_cancel_without_javascript(self):
        self.run_browser("en", "sending cancelled", no_js=True)

    def test_japanese_send_now(self):
        # The defect: a green "送信を開始しました" next to the heading
        # "送信を保留しています", live buttons and "cancel now".
        r, m, qid = self.run_browser("ja", "送信を開始しました。",
                                     click="send")
        self.assertIn(r["after_h1"][0], ("送信中です", "送信済みです"), r)
        for bad in ("送信を保留しています", "送信を取り消す", "キャンセル",
                    "間違いがあれば"):
            self.assertNotIn(bad, r["after_text"])
        m.wait_event("sent", qid, timeout=DELIVERY_TIMEOUT)

    def test_english_send_now_awaiting(self):
        r, m, qid = self.run_browser("en", "Sent now: it is on its way.",
                                     click="send",
                                     typo={"action": "hold_for_release"})
        self.assertIn(r["after_h1"][0], ("Being sent", "Sent"), r)
        self.assertNotIn("waiting for you", r["after_text"])
        self.assertNotIn("on hold", r["after_text"])
        m.wait_event("sent", qid, timeout=DELIVERY_TIMEOUT)

    # The inherited tests run once, in AlertTest.
    for _n in [n for n in dir(AlertTest) if n.startswith("test_")]:
        locals()[_n] = None
    del _n
