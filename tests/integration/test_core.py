"""Core integration tests: the real mailhold daemon between real clients
(smtplib, swaks, raw sockets) and a real, private Postfix upstream.

Run: python3 tests/integration/harness.py            (all integration tests)
     python3 -m unittest -v test_core                 (from tests/integration)
     MAILHOLD_BIN=build-asan/mailhold ...             (another binary)

Every test is bounded: hold is 1 s unless a test says otherwise, and every
wait has a timeout of a few seconds.
"""

import email
import email.policy
import hashlib
import os
import random
import re
import smtplib
import socket
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (MailholdTestCase, QUEUED_RE, crlf, raw_session,  # noqa: E402
                     smtp_send, swaks)
from upstream import PostfixUpstream  # noqa: E402
from fakesmtp import FakeSMTP  # noqa: E402
from torture import TORTURE_CONFIG, Load, delivered_subjects, torture  # noqa: E402

SENDER = "sender@example.com"
REJECT_TEXT = "mhtest-upstream-rejects-this-recipient"
DELIVERY_TIMEOUT = 10.0     # hold (1 s) + relay + Postfix delivery, generously


def new_tag():
    return uuid.uuid4().hex[:12]


def message(tag, rcpt="rcpt@example.org", subject="test", body=None, headers=()):
    """A complete RFC 5322 message (CRLF line ends) carrying tag."""
    if body is None:
        body = b"Hello,\r\n\r\nthis is message %s.\r\n" % tag.encode()
    lines = [
        b"From: Sender <%s>" % SENDER.encode(),
        b"To: <%s>" % rcpt.encode(),
        b"Subject: %s %s" % (subject.encode(), tag.encode()),
        b"Date: Thu, 01 Jan 2026 10:00:00 +0000",
        b"Message-ID: <%s@example.com>" % tag.encode(),
    ] + [h if isinstance(h, bytes) else h.encode() for h in headers]
    return crlf(b"\r\n".join(lines) + b"\r\n\r\n" + body)


def lf(data):
    """How Postfix stores `data` in a Maildir: every line end a LF."""
    return crlf(data).replace(b"\r\n", b"\n")


def tagged(tag):
    t = tag.encode()
    return lambda m: t in m.raw


def to(addr):
    addr = addr.lower()
    return lambda m: m.recipient == addr


def decoded_text(raw):
    """Everything readable in a message: raw bytes plus every MIME part
    decoded (a failure notice may be base64 or quoted-printable)."""
    out = [raw.decode("utf-8", "replace")]
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        for part in msg.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True)
            if payload:
                out.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    except Exception as e:  # the raw text is still there
        out.append("(MIME parse error: %r)" % e)
    return "\n".join(out)


class UpstreamSelfTest(unittest.TestCase):
    """The test upstream itself (no daemon needed): delivery into the
    Maildir, permanent rejects, relay refusal, capabilities, stop/start and
    hold-everything mode."""

    def test_upstream_instance(self):
        up = PostfixUpstream()
        self.addCleanup(up.close)
        banner, caps = up.capabilities()
        self.assertIn(up.banner_tag, banner)
        for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8"):
            self.assertIn(kw, caps)
        self.assertEqual(up.postconf("queue_directory")["queue_directory"], up.queue_dir)

        tag = new_tag()
        data = message(tag, body=b".leading dot\r\n..two\r\nplain\r\n")
        up.send(SENDER, ["a@example.org", "b@example.net"], data)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            up.send(SENDER, ["reject@example.org"], data)
        code, text = cm.exception.recipients["reject@example.org"]
        self.assertEqual(code, 550)
        self.assertIn(REJECT_TEXT.encode(), text)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            up.send(SENDER, ["x@elsewhere.invalid"], data)
        self.assertEqual(cm.exception.recipients["x@elsewhere.invalid"][0], 554)

        msgs = up.wait_for(2, 10, settle=0.3)
        self.assertEqual(sorted(m.recipient for m in msgs), ["a@example.org", "b@example.net"])
        for m in msgs:
            self.assertEqual(m.sender, SENDER)
            body, removed = m.strip_trace(received=1)
            self.assertIn(up.hostname.encode(), removed[0])
            self.assertEqual(body, lf(data))

        up.stop()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", up.port), timeout=2).close()
        up.start()
        up.clear()
        up.send("<>", [SENDER], message(new_tag()))
        (m,) = up.wait_for(1, 10)
        self.assertEqual(m.sender, "")
        self.assertEqual(m.recipient, SENDER)

        hold = PostfixUpstream(hold_all=True)
        self.addCleanup(hold.close)
        for _ in range(3):
            hold.send(SENDER, ["a@example.org"], message(new_tag()))
        deadline = time.monotonic() + 10
        while hold.held_count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(hold.held_count(), 3)
        time.sleep(0.5)
        self.assertEqual(hold.messages(), [])


# Fake ends of data (the SMTP smuggling class); none of them may end it.
SMUGGLE_VARIANTS = [("LF.LF", b"\n.\n"), ("CR.CRLF", b"\r.\r\n"), ("LF.CRLF", b"\n.\r\n"),
                    ("CRLF.LF", b"\r\n.\n"), ("CRLF.CR", b"\r\n.\r"), ("CR.CR", b"\r.\r")]


class CoreBase(MailholdTestCase):
    """One Postfix upstream per class; each test starts its own daemon."""

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()
        cls.addClassCleanup(cls.up.close)

    def setUp(self):
        self.up.clear()

    def start(self, **config):
        """A daemon relaying to this class's upstream, with config overrides
        given as nested dicts (server=..., limits=..., hold=...)."""
        return self.mailhold(upstream_port=self.up.port, config=config)

    def session(self, m, ehlo=True):
        s = raw_session(m.port)
        self.addCleanup(s.close)
        r = s.read_reply()
        self.assertEqual(r.code, 220, str(r))
        if ehlo:
            r = s.cmd("EHLO client.example.com")
            self.assertEqual(r.code, 250, str(r))
        return s

    def assertReply(self, reply, code, enhanced=None, msg=None):
        self.assertEqual(reply.code, code, msg or str(reply))
        if enhanced:
            self.assertEqual(reply.enhanced, enhanced, msg or str(reply))

    def assertRelayed(self, delivered, sent, received=2):
        """delivered (a DeliveredMessage) is sent plus Postfix's Received
        and (received=2) mailhold's Received, byte for byte (LF ends)."""
        body, removed = delivered.strip_trace(received=received)
        self.assertIn(self.up.hostname.encode(), removed[0])
        if received >= 2:
            self.assertIn(b"mailhold.test", removed[1],
                          "second Received: is not mailhold's: %r" % removed[1])
        want = lf(sent)
        if body != want:
            i = next((k for k in range(min(len(body), len(want))) if body[k] != want[k]),
                     min(len(body), len(want)))
            self.fail("relayed bytes differ at offset %d (got %d bytes, sent %d):\n"
                      "got:  %r\nsent: %r" % (i, len(body), len(want),
                                              body[max(0, i - 60):i + 60],
                                              want[max(0, i - 60):i + 60]))
        return body

    def send_canary(self, m, tag):
        """A legitimate message sent after an attack: when it has arrived,
        anything the attack could have queued has had its chance too."""
        r = smtp_send(m.port, SENDER, ["canary@example.org"], message(tag, subject="canary"))
        self.up.wait_for(1, DELIVERY_TIMEOUT, pred=lambda x: x.recipient == "canary@example.org")
        return r


class CoreTest(CoreBase):

    # ------------------------------------------------------------ protocol

    def test_greeting_and_ehlo(self):
        m = self.start()
        s = self.session(m, ehlo=False)
        s2 = raw_session(m.port)
        self.addCleanup(s2.close)
        banner = s2.read_reply()
        self.assertEqual(banner.code, 220)
        self.assertRegex(banner.lines[0], r"^mailhold\.test ESMTP mailhold\b")
        r = s.cmd("EHLO client.example.com")
        self.assertEqual(r.code, 250, str(r))
        kws = {}
        for line in r.lines[1:]:
            parts = line.split()
            kws[parts[0].upper()] = parts[1:]
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
            self.assertIn(kw, kws, str(r))
        self.assertEqual(kws["SIZE"], [str(25 * 1024 * 1024)], str(r))
        self.assertReply(s.cmd("NOOP"), 250)
        self.assertReply(s.cmd("QUIT"), 221)
        self.assertTrue(s.is_closed(3))

    def test_smtputf8_not_advertised_when_off(self):
        m = self.start(server={"smtputf8": False})
        s = self.session(m, ehlo=False)
        r = s.cmd("EHLO client.example.com")
        self.assertEqual(r.code, 250)
        self.assertNotIn("SMTPUTF8", [l.split()[0].upper() for l in r.lines[1:]])
        self.assertIn("PIPELINING", [l.split()[0].upper() for l in r.lines[1:]])

    def test_unknown_command_bad_sequence_vrfy(self):
        m = self.start()
        s = self.session(m)
        self.assertReply(s.cmd("FOOBAR baz"), 500, "5.5.1")
        self.assertReply(s.cmd("RCPT TO:<a@example.org>"), 503, "5.5.1")
        self.assertReply(s.cmd("DATA"), 503, "5.5.1")
        self.assertReply(s.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(s.cmd("MAIL FROM:<%s>" % SENDER), 503, "5.5.1")
        r = s.cmd("DATA")       # no valid recipient: RFC 5321 allows 503 or 554
        self.assertIn(r.code, (503, 554), str(r))
        self.assertEqual(r.enhanced, "5.5.1", str(r))
        self.assertEqual(s.cmd("VRFY someone@example.org").code, 252)
        self.assertReply(s.cmd("RSET"), 250)
        self.assertReply(s.cmd("QUIT"), 221)

    def test_bad_addresses(self):
        m = self.start()
        s = self.session(m)
        for bad in ("<a@@example.com>", "<foo@>", "<a@exa..mple.com>"):
            with self.subTest(mail=bad):
                self.assertReply(s.cmd("MAIL FROM:" + bad), 501, "5.1.7")
        self.assertReply(s.cmd("MAIL FROM:<%s>" % SENDER), 250)
        for bad in ("<b@@example.org>", "<@>", "<b@>"):
            with self.subTest(rcpt=bad):
                self.assertReply(s.cmd("RCPT TO:" + bad), 501, "5.1.3")
        self.assertReply(s.cmd("RCPT TO:<ok@example.org>"), 250)

    def test_command_line_too_long_session_survives(self):
        m = self.start()      # limits.command_line: 512 (octets incl. CRLF)
        s = self.session(m)
        self.assertReply(s.cmd(b"NOOP " + b"x" * 1000), 500, "5.5.2")
        self.assertReply(s.cmd("NOOP"), 250)
        # Exactly 512 octets with CRLF is allowed; 513 is not.
        # (NOOP takes and ignores a string: RFC 5321 section 4.1.1.9.)
        self.assertReply(s.cmd(b"NOOP " + b"x" * (512 - 2 - 5)), 250, "2.0.0")
        self.assertReply(s.cmd(b"NOOP " + b"x" * (513 - 2 - 5)), 500, "5.5.2")
        self.assertReply(s.cmd(b"MAIL FROM:<" + b"a" * 600 + b"@example.com>"), 500, "5.5.2")
        # Still a working session: a whole transaction goes through.
        tag = new_tag()
        self.assertReply(s.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(s.cmd("RCPT TO:<long@example.org>"), 250)
        self.assertReply(s.cmd("DATA"), 354)
        s.send(message(tag) + b".\r\n")
        r = s.read_reply()
        self.assertReply(r, 250, "2.0.0")
        self.assertRegex(r.lines[0], QUEUED_RE)
        self.up.wait_for(1, DELIVERY_TIMEOUT, pred=tagged(tag))

    def test_nul_in_command(self):
        m = self.start()
        s = self.session(m)
        self.assertReply(s.cmd(b"NOOP a\x00b"), 500, "5.5.2")
        s2 = self.session(m)
        self.assertReply(s2.cmd(b"MAIL FROM:<a\x00b@example.com>"), 500, "5.5.2")
        # The daemon is still fine for everyone else.
        s3 = self.session(m)
        self.assertReply(s3.cmd("NOOP"), 250)

    def test_too_many_recipients(self):
        m = self.start(limits={"max_recipients": 3})
        s = self.session(m)
        tag = new_tag()
        self.assertReply(s.cmd("MAIL FROM:<%s>" % SENDER), 250)
        for i in range(3):
            self.assertReply(s.cmd("RCPT TO:<r%d@example.org>" % i), 250)
        self.assertReply(s.cmd("RCPT TO:<r3@example.org>"), 452, "4.5.3")
        self.assertReply(s.cmd("RCPT TO:<r4@example.org>"), 452, "4.5.3")
        self.assertReply(s.cmd("DATA"), 354)
        s.send(message(tag) + b".\r\n")
        self.assertReply(s.read_reply(), 250, "2.0.0")
        msgs = self.up.wait_for(3, DELIVERY_TIMEOUT, settle=1.0, pred=tagged(tag))
        self.assertEqual(sorted(x.recipient for x in msgs),
                         ["r0@example.org", "r1@example.org", "r2@example.org"])

    def test_size_parameter_too_big(self):
        m = self.start(limits={"message_size": "1M"})
        s = self.session(m, ehlo=False)
        r = s.cmd("EHLO client.example.com")
        self.assertIn("SIZE %d" % (1024 * 1024), [l.upper() for l in r.lines[1:]], str(r))
        self.assertReply(s.cmd("MAIL FROM:<%s> SIZE=2000000" % SENDER), 552, "5.3.4")
        r = s.cmd("MAIL FROM:<%s> SIZE=99999999999999999999999" % SENDER)
        self.assertIn(r.code, (552, 501), str(r))
        self.assertReply(s.cmd("MAIL FROM:<%s> SIZE=1000" % SENDER), 250)

    def test_message_too_big(self):
        m = self.start(limits={"message_size": "1M"})
        tag = new_tag()
        big = message(tag, body=(b"x" * 70 + b"\r\n") * 22000)   # ~1.5 MB
        with smtplib.SMTP("127.0.0.1", m.port, timeout=30) as c:
            c.ehlo("client.example.com")
            self.assertEqual(c.mail(SENDER)[0], 250)
            self.assertEqual(c.rcpt("big@example.org")[0], 250)
            code, text = c.data(big)
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith(b"5.3.4"), text)
            self.assertEqual(c.noop()[0], 250)
        self.send_canary(m, new_tag())
        time.sleep(0.5)
        self.assertEqual([x for x in self.up.messages() if tagged(tag)(x)], [])

    def test_client_not_trusted_refused(self):
        m = self.start(server={"trusted_networks": ["10.0.0.0/8", "2001:db8::/32"]})
        s = raw_session(m.port)
        self.addCleanup(s.close)
        self.assertReply(s.read_reply(), 554, "5.7.1")

    def test_sessions_per_ip_limit(self):
        m = self.start(limits={"max_sessions_per_ip": 3})
        held = [self.session(m, ehlo=False) for _ in range(3)]
        s4 = raw_session(m.port)
        self.addCleanup(s4.close)
        self.assertReply(s4.read_reply(), 421, "4.7.0")
        self.assertTrue(s4.is_closed(3), "421 session not closed")
        self.assertReply(held[0].cmd("QUIT"), 221)
        held[0].close()
        deadline = time.monotonic() + 5
        while True:
            s5 = raw_session(m.port)
            self.addCleanup(s5.close)
            r = s5.read_reply()
            if r.code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.code, 220, "a slot did not free up after QUIT: %s" % (r,))

    # -------------------------------------------------------------- relay

    def test_relay_byte_identity_and_log_events(self):
        m = self.start()
        tag = new_tag()
        body = (b"Plain line.\r\n"
                b"\r\n"
                b"Trailing spaces   \r\n"
                b"\ttab first, tab\tinside\r\n"
                b"From the start of a line (no > quoting expected)\r\n"
                b"=?utf-8?q?not-a-header?=\r\n"
                + b"L" * 990 + b"\r\n"
                b"\r\n\r\n"
                b"last line\r\n")
        sent = message(tag, rcpt="id@example.org", body=body, headers=(
            b"X-Folded: first part\r\n\tsecond part\r\n  third part",
            b"X-Empty:",
            b"MIME-Version: 1.0",
            b"Content-Type: text/plain; charset=us-ascii"))
        t0 = time.monotonic()
        r = smtp_send(m.port, SENDER, ["id@example.org"], sent)
        self.assertEqual(r.code, 250)
        self.assertRegex(r.text, r"^2\.0\.0 Ok: queued as [0-9A-Fa-f]{16}$")
        qid = r.queue_id
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, settle=0.5, pred=tagged(tag))
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(d.recipient, "id@example.org")
        self.assertEqual(d.sender, SENDER)
        self.assertRelayed(d, sent)
        events = ("received", "held", "released", "sent")
        order = [m.wait_event(ev, qid, timeout=5).start() for ev in events]
        self.assertEqual(order, sorted(order), "events out of order")

    def test_received_header_off(self):
        m = self.start(server={"received_header": False})
        tag = new_tag()
        sent = message(tag)
        smtp_send(m.port, SENDER, ["norcvd@example.org"], sent)
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, pred=tagged(tag))
        self.assertRelayed(d, sent, received=1)     # only Postfix's Received:
        self.assertEqual(len(d.header("received")), 1, d.raw[:600])

    def test_hold_delays_delivery(self):
        m = self.start(hold={"default": "3s"})
        tag = new_tag()
        r = smtp_send(m.port, SENDER, ["later@example.org"], message(tag))
        t0 = time.monotonic()
        m.wait_event("held", r.queue_id, timeout=5)
        while time.monotonic() - t0 < 2.2:
            self.assertEqual(self.up.messages(), [], "relayed before the hold ended")
            time.sleep(0.1)
        self.assertEqual(m.log_events("released", r.queue_id), [])
        self.up.wait_for(1, DELIVERY_TIMEOUT, pred=tagged(tag))
        self.assertGreaterEqual(time.monotonic() - t0, 2.5)
        m.wait_event("sent", r.queue_id, timeout=5)

    def test_smtplib_sendmail_several_recipients(self):
        m = self.start()
        tag = new_tag()
        sent = message(tag)
        rcpts = ["one@example.org", "two@example.com", "three@example.net"]
        with smtplib.SMTP("127.0.0.1", m.port, timeout=30) as c:
            self.assertEqual(c.sendmail(SENDER, rcpts, sent), {})
        msgs = self.up.wait_for(3, DELIVERY_TIMEOUT, settle=1.0, pred=tagged(tag))
        self.assertEqual(sorted(x.recipient for x in msgs), sorted(rcpts))
        for d in msgs:
            self.assertRelayed(d, sent)

    def test_swaks(self):
        m = self.start()
        for pipeline in (True, False):
            with self.subTest(pipeline=pipeline):
                tag = new_tag()
                args = ["--from", SENDER, "--to", "sw1@example.org,sw2@example.org",
                        "--header", "Subject: swaks %s" % tag,
                        "--body", "hello from swaks %s" % tag]
                if pipeline:
                    args.append("--pipeline")
                p = swaks(m.port, *args)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertRegex(p.stdout, QUEUED_RE)
                if pipeline:
                    self.assertIn("PIPELINING", p.stdout)
                msgs = self.up.wait_for(2, DELIVERY_TIMEOUT, settle=0.5, pred=tagged(tag))
                self.assertEqual(sorted(x.recipient for x in msgs),
                                 ["sw1@example.org", "sw2@example.org"])

    def test_pipelined_commands_after_end_of_data(self):
        m = self.start()
        s = self.session(m)
        t1, t2 = new_tag(), new_tag()
        s.send(b"MAIL FROM:<%s>\r\nRCPT TO:<p1@example.org>\r\nDATA\r\n" % SENDER.encode())
        self.assertEqual([s.read_reply().code for _ in range(3)], [250, 250, 354])
        # End of data, then a whole new transaction in the same write.
        s.send(message(t1, rcpt="p1@example.org") + b".\r\n"
               b"RSET\r\nMAIL FROM:<%s>\r\nRCPT TO:<p2@example.org>\r\n"
               b"RCPT TO:<p3@example.org>\r\nDATA\r\n" % SENDER.encode())
        r1 = s.read_reply()
        self.assertReply(r1, 250, "2.0.0")
        self.assertRegex(r1.lines[0], QUEUED_RE)
        self.assertEqual([s.read_reply().code for _ in range(5)], [250, 250, 250, 250, 354])
        s.send(message(t2, rcpt="p2@example.org") + b".\r\nNOOP\r\nQUIT\r\n")
        r2 = s.read_reply()
        self.assertReply(r2, 250, "2.0.0")
        self.assertNotEqual(QUEUED_RE.search(r1.lines[0]).group(1),
                            QUEUED_RE.search(r2.lines[0]).group(1))
        self.assertEqual([s.read_reply().code for _ in range(2)], [250, 221])
        msgs = self.up.wait_for(3, DELIVERY_TIMEOUT, settle=1.0,
                                pred=lambda x: tagged(t1)(x) or tagged(t2)(x))
        got = sorted((x.recipient, t1 if tagged(t1)(x) else t2) for x in msgs)
        self.assertEqual(got, [("p1@example.org", t1), ("p2@example.org", t2),
                               ("p3@example.org", t2)])

    def smuggle(self, bare_newline):
        """Sends every fake end-of-data variant followed by a smuggled
        transaction; returns {variant: (first reply, replies until close)},
        the tag, and the messages the upstream got."""
        m = self.start(server={"bare_newline": bare_newline})
        tag = new_tag()
        smuggled = (b"MAIL FROM:<spoof@example.com>\r\n"
                    b"RCPT TO:<victim@example.org>\r\n"
                    b"DATA\r\n"
                    b"From: spoof@example.com\r\n"
                    b"Subject: smuggled " + tag.encode() + b"\r\n"
                    b"\r\n"
                    b"smuggled body\r\n"
                    b".\r\n")
        seen = {}
        for name, fake_end in SMUGGLE_VARIANTS:
            s = self.session(m)
            s.send(b"MAIL FROM:<%s>\r\nRCPT TO:<outer@example.org>\r\nDATA\r\n"
                   % SENDER.encode())
            self.assertEqual([s.read_reply().code for _ in range(3)], [250, 250, 354], name)
            outer = (b"From: <%s>\r\nTo: <outer@example.org>\r\nSubject: outer %s %s\r\n\r\n"
                     b"outer body" % (SENDER.encode(), name.encode(), tag.encode()))
            s.send(outer + fake_end + smuggled)
            first = s.read_reply(timeout=10)
            s.send(b"QUIT\r\n")
            rest = s.replies_until_close(timeout=5)
            seen[name] = (first, rest)
        self.send_canary(m, tag)
        time.sleep(1.5)     # one more hold period for any late release
        msgs = [x for x in self.up.messages(timeout=2) if tag.encode() in x.raw
                and x.recipient != "canary@example.org"]
        # Whatever the mode: no second message, no smuggled command ran.
        self.assertEqual([x for x in msgs if x.recipient == "victim@example.org"
                          or b"Subject: smuggled" in x.raw.split(b"\n\n", 1)[0]], [],
                         "a smuggled message reached the upstream")
        for name, (first, rest) in seen.items():
            with self.subTest(variant=name):
                self.assertEqual([r.code for r in rest], [221],
                                 "extra replies: the smuggled commands were executed")
        return seen, tag, msgs

    def test_smtp_smuggling_reject_mode(self):
        seen, tag, msgs = self.smuggle("reject")
        self.assertEqual(msgs, [], "a message with bare CR/LF was relayed")
        for name, (first, rest) in seen.items():
            with self.subTest(variant=name):
                self.assertReply(first, 550, "5.5.0")
                self.assertIn("bare CR" if "CR." in name or name.endswith("CR")
                              else "bare LF", first.text)

    def test_smtp_smuggling_normalize_mode(self):
        # The default: a bare LF is a line end inside the data, but never
        # part of the end of data, so the "smuggled" commands stay text in
        # the outer message; a bare CR is still refused.
        seen, tag, msgs = self.smuggle("normalize")
        for name, (first, rest) in seen.items():
            with self.subTest(variant=name):
                if "\r" in dict(SMUGGLE_VARIANTS)[name].replace(b"\r\n", b"").decode():
                    self.assertReply(first, 550, "5.5.0")
                    self.assertIn("bare CR", first.text)
                else:
                    self.assertReply(first, 250, "2.0.0")
        lf_variants = [n for n, e in SMUGGLE_VARIANTS if b"\r" not in e.replace(b"\r\n", b"")]
        self.assertEqual(sorted(re.search(rb"Subject: outer (\S+)", x.raw).group(1).decode()
                                for x in msgs), sorted(lf_variants))
        for x in msgs:
            self.assertEqual(x.recipient, "outer@example.org")
            self.assertIn(b"smuggled body", x.raw)     # as text, inside

    def test_unix_line_endings_normalized(self):
        # A script's LF-only message, as curl --upload-file sends it (see
        # also test_clients.py): stored and relayed with CRLF.
        m = self.start()
        tag = new_tag()
        s = self.session(m)
        s.send(b"MAIL FROM:<%s>\r\nRCPT TO:<lf@example.org>\r\nDATA\r\n" % SENDER.encode())
        self.assertEqual([s.read_reply().code for _ in range(3)], [250, 250, 354])
        body = (b"From: <%s>\nTo: <lf@example.org>\nSubject: lf %s\n\nline one\n"
                b"..stuffed\nline three\n" % (SENDER.encode(), tag.encode()))
        s.send(body + b"\r\n.\r\n")
        self.assertReply(s.read_reply(), 250, "2.0.0")
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, pred=tagged(tag))
        sent = body.replace(b"\n..stuffed", b"\n.stuffed").replace(b"\n", b"\r\n") + b"\r\n"
        self.assertRelayed(d, sent)

    def test_bare_lf_and_cr_in_commands_refused(self):
        m = self.start()
        s = self.session(m)
        # A bare LF ends the line for framing, and is refused.
        self.assertReply(s.cmd(b"NOOP", eol=b"\n"), 500, "5.5.2")
        # A bare CR inside a CRLF line.
        self.assertReply(s.cmd(b"NOOP a\rb"), 500, "5.5.2")
        self.assertReply(s.cmd(b"MAIL FROM:<a@example.com>\rRCPT TO:<b@example.org>"),
                         500, "5.5.2")
        # The session is still in sync.
        self.assertReply(s.cmd("NOOP"), 250, "2.0.0")

    def test_dot_stuffing_round_trip(self):
        m = self.start()
        tag = new_tag()
        body = (b".\r\n"
                b"..\r\n"
                b"...\r\n"
                b".leading dot\r\n"
                b"..two leading dots\r\n"
                b" .space then dot\r\n"
                b".\tdot tab\r\n"
                b"middle . dot\r\n"
                b".\r\n")
        sent = message(tag, rcpt="dots@example.org", body=body)
        smtp_send(m.port, SENDER, ["dots@example.org"], sent)
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, pred=tagged(tag))
        self.assertRelayed(d, sent)

    def test_8bit_body_with_8bitmime(self):
        m = self.start()
        tag = new_tag()
        body = ("Grüße aus Köln — naïve café, 日本語のテキスト, €100\r\n".encode("utf-8")
                + b"latin-1 bytes: caf\xe9 \xff\xfe\xa0end\r\n"
                + bytes(range(0x80, 0x100)) + b"\r\n")
        sent = message(tag, rcpt="eight@example.org", body=body, headers=(
            b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=utf-8",
            b"Content-Transfer-Encoding: 8bit"))
        smtp_send(m.port, SENDER, ["eight@example.org"], sent, mail_options=["BODY=8BITMIME"])
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, pred=tagged(tag))
        self.assertRelayed(d, sent)

    def test_5mb_message_intact(self):
        m = self.start()
        tag = new_tag()
        rnd = random.Random(5)
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        lines = []
        size = 0
        while size < 5 * 1024 * 1024:
            line = bytes(rnd.choice(alphabet) for _ in range(76)) + b"\r\n"
            if rnd.random() < 0.01:
                line = b"." + line      # some dot-stuffing inside too
            lines.append(line)
            size += len(line)
        sent = message(tag, rcpt="big@example.org", body=b"".join(lines))
        r = smtp_send(m.port, SENDER, ["big@example.org"], sent, timeout=60)
        self.assertEqual(r.code, 250)
        (d,) = self.up.wait_for(1, 30, pred=tagged(tag))
        body, _ = d.strip_trace(received=2)
        self.assertEqual(len(body), len(lf(sent)))
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(lf(sent)).hexdigest())

    def test_upstream_rejects_one_recipient(self):
        m = self.start()
        tag = new_tag()
        sent = message(tag, rcpt="ok@example.org")
        r = smtp_send(m.port, SENDER, ["ok@example.org", "reject@example.org"], sent)
        qid = r.queue_id
        self.up.wait_for(1, DELIVERY_TIMEOUT, pred=to("ok@example.org"))
        self.up.wait_for(1, DELIVERY_TIMEOUT + 5, pred=to(SENDER))
        m.wait_event("failed", qid, timeout=5)
        msgs = self.up.messages(timeout=2)
        time.sleep(1.0)
        msgs = self.up.messages(timeout=2)
        oks = [x for x in msgs if x.recipient == "ok@example.org"]
        notices = [x for x in msgs if x.recipient == SENDER]
        self.assertEqual(len(oks), 1, msgs)
        self.assertRelayed(oks[0], sent)
        self.assertEqual(len(notices), 1, msgs)
        self.assertEqual([x for x in msgs if x.recipient == "reject@example.org"], [])
        n = notices[0]
        self.assertEqual(n.sender, "", "failure notice must use the null sender")
        self.assertRegex(" ".join(n.header("from")), r"(?i)mailer-daemon")
        text = decoded_text(n.raw)
        self.assertIn("reject@example.org", text)
        self.assertIn(REJECT_TEXT, text)

    # ------------------------------------------------------ life cycle

    def test_sigterm_exits_0_and_held_mail_survives(self):
        m = self.start(hold={"default": "3s"})
        idle = self.session(m, ehlo=False)           # an open idle session
        tag = new_tag()
        r = smtp_send(m.port, SENDER, ["survivor@example.org"], message(tag))
        t0 = time.monotonic()
        self.assertEqual(m.stop(timeout=10), 0)
        idle.close()
        if time.monotonic() - t0 < 2.5:
            self.assertEqual([x for x in self.up.messages() if tagged(tag)(x)], [],
                             "relayed before the hold ended")
        m.start()
        msgs = self.up.wait_for(1, DELIVERY_TIMEOUT, settle=1.0, pred=tagged(tag))
        self.assertEqual(len(msgs), 1, msgs)
        m.wait_event("sent", r.queue_id, timeout=5)

    def test_kill9_after_250_loses_nothing(self):
        m = self.start(hold={"default": "1s"})
        tag = new_tag()
        ids = []
        with smtplib.SMTP("127.0.0.1", m.port, timeout=30) as c:
            c.ehlo("client.example.com")
            for i in range(20):
                self.assertEqual(c.mail(SENDER)[0], 250)
                self.assertEqual(c.rcpt("k9@example.org")[0], 250)
                code, text = c.data(message(tag, subject="kill9 #%02d" % i))
                self.assertEqual(code, 250, text)
                ids.append(QUEUED_RE.search(text.decode()).group(1))
            # Kill right after the 20th 250, without QUIT.
            m.kill9()
        self.assertEqual(len(set(ids)), 20, ids)
        m.start()
        want = {"kill9 #%02d" % i for i in range(20)}

        def seq(x):
            mm = re.search(rb"kill9 #\d\d", x.raw)
            return mm.group(0).decode() if mm else None

        deadline = time.monotonic() + 30
        while True:
            got = {seq(x) for x in self.up.messages() if tagged(tag)(x)}
            if want <= got or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(sorted(want - got), [], "messages lost after kill -9")

    def test_kill9_under_load_with_relays_in_flight(self):
        """kill -9 while 4 clients submit and the relay is busy (hold 0):
        every message that got a 250 is delivered after restart (at least
        once), whatever state it was in when the daemon died."""
        m = self.start(hold={"default": "0"},
                       upstream={"max_connections": 2})
        load = Load(lambda: m.port, clients=4, per_client=25).start()
        # Kill once some messages are accepted and relays are under way.
        deadline = time.monotonic() + 10
        while load.count() < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        m.kill9()
        load.stop()
        want = set(load.accepted())
        self.assertGreaterEqual(len(want), 30)
        m.start()
        deadline = time.monotonic() + 30
        while True:
            got = delivered_subjects([x.raw for x in self.up.messages()], load.prefix)
            if want <= set(got) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(sorted(want - set(got)), [],
                         "accepted messages lost after kill -9 under load")


class CrashTortureTest(MailholdTestCase):
    """Issue 16: twenty kills -9 at random moments under continuous load
    (tests/integration/torture.py; contrib/torture.sh runs it longer)."""

    KILLS = 20
    CONNECTIONS = 4     # upstream.max_connections

    def test_twenty_kills_nothing_lost(self):
        # FakeSMTP records every delivery, duplicates included.
        up = FakeSMTP(max_conn_seconds=600, read_timeout=30)
        self.addCleanup(up.close)
        m = self.mailhold(upstream_port=up.port,
                          config=dict(TORTURE_CONFIG,
                                      upstream={"max_connections": self.CONNECTIONS}))
        r = torture(m, lambda: [x[2] for x in list(up.messages)], kills=self.KILLS,
                    clients=4, pause=0.1, up_min=0.3, up_max=1.0, settle_timeout=40)
        sys.stderr.write("\n  torture: %d kills in %.0f s, %d accepted, %d delivered, "
                         "%d lost, %d duplicated (%d extra copies), %d committed without "
                         "a 250 seen\n" % (r.kills, r.seconds, r.accepted, r.delivered,
                                           len(r.lost), len(r.duplicates), r.extra,
                                           r.unacknowledged))
        self.assertGreaterEqual(r.accepted, self.KILLS)
        self.assertEqual(r.lost, [], "messages lost after %d kills" % r.kills)
        # A duplicate only for a message in flight to the upstream when the
        # daemon died: at most one copy per relay connection and kill.
        self.assertLessEqual(r.extra, self.KILLS * self.CONNECTIONS, r.duplicates)
        self.assertEqual(r.delivered, r.accepted + r.unacknowledged + r.extra)
        self.assertEqual(m.returncodes, [-9] * self.KILLS)


class UpstreamDownTest(MailholdTestCase):
    """Its own upstream, stopped while mailhold tries to relay."""

    def test_upstream_down_then_up(self):
        up = PostfixUpstream()
        self.addCleanup(up.close)
        up.stop()
        m = self.mailhold(upstream_port=up.port,
                          config={"retry": {"initial": "1s", "max": "2s"},
                                  "timeouts": {"upstream": "5s"}})
        tag = new_tag()
        sent = message(tag, rcpt="down@example.org")
        r = smtp_send(m.port, SENDER, ["down@example.org"], sent)
        m.wait_event("deferred", r.queue_id, timeout=10)
        self.assertEqual(m.log_events("sent", r.queue_id), [])
        up.start()
        (d,) = up.wait_for(1, 15, settle=1.0, pred=tagged(tag))
        m.wait_event("sent", r.queue_id, timeout=5)
        body, removed = d.strip_trace(received=2)
        self.assertEqual(body, lf(sent))


if __name__ == "__main__":
    unittest.main()
