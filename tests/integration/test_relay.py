"""Relay integration tests: the upstream side of mailhold (proxy/smtp_client.c).

    RelayTLSTest        STARTTLS and implicit TLS to a private Postfix with a
                        throwaway CA: verified delivery (by IP and by name),
                        unknown CA / wrong name -> deferred, verify off.
    RelayAuthTest       AUTH PLAIN/LOGIN to Postfix with Cyrus SASL (sasldb);
                        that Postfix relays only for authenticated clients.
    RelayPostfixTest    a plain Postfix: STARTTLS required but not offered,
                        connection reuse, pipelining, messages_per_connection.
    RelayHostileTest    a scripted hostile upstream (fakesmtp.py): malformed
                        and oversized replies, bytes injected after the
                        STARTTLS 220, connection closed mid-body, bare LF,
                        silence.
    RelayRetryTest      backoff growth while the upstream is down; give-up.

Run: python3 tests/integration/harness.py -k Relay
     MAILHOLD_BIN=/path/to/mailhold python3 tests/integration/harness.py -k Relay

Every wait is bounded (a few seconds); a test that expects "deferred" fails
fast if instead the relay reconnects in a loop (STORM_LIMIT connections).
"""

import base64
import collections
import hashlib
import os
import re
import signal
import shutil
import smtplib
import socket
import sqlite3
import ssl
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdTestCase, crlf, raw_session, smtp_send  # noqa: E402
from upstream import PostfixUpstream, free_port  # noqa: E402
from fakesmtp import FakeSMTP  # noqa: E402
from certs import TestPKI, have_openssl  # noqa: E402

SENDER = "sender@example.com"
DELIVERY_TIMEOUT = 10.0     # hold (1 s) + relay + Postfix delivery, generously
DEFER_TIMEOUT = 8.0
# More upstream connections than this before the first event=deferred means
# the relay is reconnecting in a loop instead of deferring.
STORM_LIMIT = 10
TLS_REASON = r"(?i)\b(tls|ssl|certificate|handshake)"


def new_tag():
    return uuid.uuid4().hex[:12]


def message(tag, rcpt="rcpt@example.org", body=None, subject="relay test"):
    if body is None:
        body = b"Hello,\r\n\r\nthis is message %s.\r\n" % tag.encode()
    head = (b"From: Sender <%s>\r\nTo: <%s>\r\nSubject: %s %s\r\n"
            b"Date: Thu, 01 Jan 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.com>\r\n"
            % (SENDER.encode(), rcpt.encode(), subject.encode(), tag.encode(), tag.encode()))
    return crlf(head + b"\r\n" + body)


def tagged(tag):
    t = tag.encode()
    return lambda m: t in m.raw


def disconnect_stats(maillog_text):
    """[{'mail': n, 'rcpt': ..., 'starttls': ..., 'auth': ...}] for each smtpd
    'disconnect from' line (Postfix 3.x prints per-command counters)."""
    out = []
    for line in maillog_text.splitlines():
        if "/smtpd[" not in line or ": disconnect from " not in line:
            continue
        d = {}
        for k, v in re.findall(r"\b([a-z]+)=(\d+)", line.split(": disconnect from ", 1)[1]):
            d[k] = int(v)
        out.append(d)
    return out


def wait_stats(up, since, pred, timeout=5.0):
    """disconnect_stats() of up's maillog after `since`, once pred(stats) is
    true or timeout passed (smtpd logs "disconnect" only after the QUIT)."""
    stats = []
    deadline = time.monotonic() + timeout
    while True:
        stats = disconnect_stats(up.log_text(since=since))
        if pred(stats) or time.monotonic() >= deadline:
            return stats
        time.sleep(0.05)


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def server_tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class RelayBase(MailholdTestCase):
    """Helpers shared by the relay tests."""

    def start(self, port, **config):
        """A daemon relaying to 127.0.0.1:port (config overrides as nested
        dicts; the upstream reply timeout is 5 s so nothing hangs)."""
        config.setdefault("timeouts", {"upstream": "5s"})
        return self.mailhold(upstream_port=port, config=config)

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="mhtest-relay-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def submit(self, m, tag, rcpt="rcpt@example.org", body=None):
        r = smtp_send(m.port, SENDER, [rcpt], message(tag, rcpt=rcpt, body=body))
        self.assertEqual(r.code, 250, r.text)
        self.assertTrue(r.queue_id, r.text)
        return r.queue_id

    def wait_deferred(self, m, qid, connections, reason_re=None, timeout=DEFER_TIMEOUT):
        """Waits for `id=qid event=deferred rcpt=... reason="..."`; returns
        that line.  connections() gives the number of upstream connections
        so far: above STORM_LIMIT without a deferral is a reconnect loop and
        fails at once.  The reason must match reason_re if given."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in m.log_events("deferred", qid) if "reason=" in l]
            if lines:
                if reason_re:
                    self.assertRegex(lines[0], reason_re, "unexpected deferral reason")
                return lines[0]
            n = connections()
            if n > STORM_LIMIT:
                # Stop the loop now (SIGTERM would wait out the relay grace
                # period) so the failure is reported once and quickly.
                m.kill9()
                self.fail("no event=deferred for %s, but %d upstream connections so far: "
                          "the relay reconnects in a loop instead of deferring the message"
                          " (daemon killed)\n--- mailhold log tail:\n%s"
                          % (qid, n, m.log_tail(2500)))
            if not m.running:
                self.fail("mailhold died:\n%s" % m.log_tail())
            if time.monotonic() >= deadline:
                self.fail("no event=deferred for %s within %.0fs (%d upstream connections)"
                          "\n--- mailhold log tail:\n%s" % (qid, timeout, n, m.log_tail(2500)))
            time.sleep(0.05)

    def assertNotFinal(self, m, qid):
        """Neither sent nor failed (so far)."""
        self.assertEqual(m.log_events("sent", qid), [], "message was marked sent")
        self.assertEqual(m.log_events("failed", qid), [], "message was marked failed")

    def assertStillServing(self, m):
        """The daemon runs and its SMTP side accepts a new message."""
        self.assertTrue(m.running, "mailhold died:\n" + m.log_tail())
        r = smtp_send(m.port, SENDER, ["alive@example.org"], message(new_tag()), timeout=10)
        self.assertEqual(r.code, 250, r.text)
        self.assertTrue(r.queue_id)


# --------------------------------------------------------------------- TLS

@unittest.skipUnless(have_openssl(), "needs the openssl CLI")
class RelayTLSTest(RelayBase):
    """Postfix offering STARTTLS (and implicit TLS on a second port) with a
    certificate for 127.0.0.1 and localhost from a throwaway CA."""

    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="mhtest-pki-")
        cls.addClassCleanup(shutil.rmtree, cls.pki_dir, True)
        cls.pki = TestPKI(cls.pki_dir)
        cls.cert, cls.key = cls.pki.server_cert("upstream", ips=["127.0.0.1"],
                                                dns=["localhost"])
        # Right CA, but only a name nobody connects to.
        cls.wrongname_cert, cls.wrongname_key = cls.pki.server_cert(
            "wrongname", ips=[], dns=["elsewhere.mailhold.test"])
        # For the scripted IPv6 upstreams: IP SANs 127.0.0.1 and ::1.
        cls.v6_cert, cls.v6_key = cls.pki.server_cert("v6", ips=["127.0.0.1", "::1"],
                                                      dns=["localhost"])
        cls.up = PostfixUpstream(tls_cert=cls.cert, tls_key=cls.key, tls_wrapper=True)
        cls.addClassCleanup(cls.up.close)

    def setUp(self):
        self.up.clear()
        self.mark = self.up.log_mark()

    def tls_start(self, port=None, **upstream):
        up = {"tls": "starttls", "verify": True, "ca_file": self.pki.ca_cert}
        up.update(upstream)
        return self.start(port or self.up.port, upstream=up)

    def connections(self):
        return self.up.connect_count(since=self.mark)

    def assertDeliveredOverTLS(self, tag):
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, settle=0.3, pred=tagged(tag))
        received = d.header("received")
        self.assertTrue(received, d.raw[:500])
        # Postfix's own Received: (the first) records the TLS session.
        self.assertRegex(received[0], r"\(using TLSv1\.[23] with cipher ",
                         "Postfix's Received: does not show TLS: %r" % received[0])
        self.assertRegex(self.up.log_text(since=self.mark),
                         r"TLS connection established from \S+\[127\.0\.0\.1\]")
        return d

    def assertNotDelivered(self, tag):
        time.sleep(0.5)
        self.assertEqual([x for x in self.up.messages() if tagged(tag)(x)], [])
        sent_mail = [d for d in disconnect_stats(self.up.log_text(since=self.mark))
                     if d.get("mail")]
        self.assertEqual(sent_mail, [], "a MAIL command reached Postfix")

    def test_starttls_verified_by_ip(self):
        m = self.tls_start()
        tag = new_tag()
        qid = self.submit(m, tag)
        self.assertDeliveredOverTLS(tag)
        m.wait_event("sent", qid, timeout=5)
        stats = wait_stats(self.up, self.mark, lambda st: any(
            d.get("starttls") == 1 and d.get("mail") == 1 for d in st))
        self.assertTrue(any(d.get("starttls") == 1 and d.get("mail") == 1 for d in stats),
                        stats)

    def test_starttls_verified_by_name(self):
        m = self.tls_start(host="localhost")
        tag = new_tag()
        qid = self.submit(m, tag)
        self.assertDeliveredOverTLS(tag)
        m.wait_event("sent", qid, timeout=5)

    def test_starttls_unknown_ca_deferred(self):
        m = self.tls_start(ca_file=self.pki.other_ca_cert)
        tag = new_tag()
        qid = self.submit(m, tag)
        self.wait_deferred(m, qid, self.connections, TLS_REASON)
        self.assertNotFinal(m, qid)
        self.assertNotDelivered(tag)
        self.assertStillServing(m)

    def test_starttls_wrong_host_name_deferred(self):
        # The Postfix cert has DNS:localhost; ask for another name that also
        # resolves to 127.0.0.1 ... none exists portably, so use a scripted
        # upstream whose certificate (from the right CA) names someone else.
        fake = FakeSMTP(tls_context=server_tls_context(self.wrongname_cert,
                                                       self.wrongname_key))
        self.addCleanup(fake.close)
        m = self.tls_start(port=fake.port)
        tag = new_tag()
        qid = self.submit(m, tag)
        self.wait_deferred(m, qid, lambda: fake.connections, TLS_REASON)
        self.assertNotFinal(m, qid)
        self.assertEqual(fake.commands("MAIL"), [], "MAIL sent over an unverified session")
        self.assertEqual(fake.messages, [])
        self.assertStillServing(m)

    def test_starttls_verify_off_delivers(self):
        m = self.tls_start(verify=False, ca_file=self.pki.other_ca_cert)
        tag = new_tag()
        qid = self.submit(m, tag)
        self.assertDeliveredOverTLS(tag)
        m.wait_event("sent", qid, timeout=5)

    def test_implicit_tls_delivers(self):
        m = self.tls_start(port=self.up.wrapper_port, tls="implicit")
        tag = new_tag()
        qid = self.submit(m, tag)
        self.assertDeliveredOverTLS(tag)
        m.wait_event("sent", qid, timeout=5)
        stats = wait_stats(self.up, self.mark, lambda st: any(d.get("mail") for d in st))
        # Wrapper mode: TLS without a STARTTLS command.
        self.assertTrue(any(d.get("mail") == 1 and "starttls" not in d for d in stats), stats)

    def _ipv6_literal(self, implicit):
        try:
            fake = FakeSMTP(host="::1", implicit_tls=implicit,
                            tls_context=server_tls_context(self.v6_cert, self.v6_key))
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        self.addCleanup(fake.close)
        m = self.tls_start(port=fake.port, host="::1",
                           tls="implicit" if implicit else "starttls")
        tag = new_tag()
        qid = self.submit(m, tag)

        def outcome():
            if m.log_events("sent", qid):
                return "sent"
            if [l for l in m.log_events("deferred", qid) if "reason=" in l]:
                return "deferred"
            return "storm" if fake.connections > STORM_LIMIT else None
        result = wait_until(outcome, DEFER_TIMEOUT)
        self.assertEqual(result, "sent", "upstream [::1] with a certificate for IP ::1 "
                         "was not verified:\n%s" % m.log_tail(1500))
        self.assertTrue(any(tag.encode() in x[2] for x in fake.messages))

    def test_starttls_ipv6_literal_verified(self):
        self._ipv6_literal(implicit=False)

    def test_implicit_tls_ipv6_literal_verified(self):
        self._ipv6_literal(implicit=True)

    def test_implicit_tls_unknown_ca_deferred(self):
        m = self.tls_start(port=self.up.wrapper_port, tls="implicit",
                           ca_file=self.pki.other_ca_cert)
        tag = new_tag()
        qid = self.submit(m, tag)
        self.wait_deferred(m, qid, self.connections, TLS_REASON)
        self.assertNotFinal(m, qid)
        self.assertNotDelivered(tag)
        self.assertStillServing(m)


# -------------------------------------------------------------------- AUTH

@unittest.skipUnless(have_openssl(), "needs the openssl CLI")
@unittest.skipUnless(shutil.which("saslpasswd2", path=os.environ.get("PATH", "")
                                  + ":/usr/sbin:/sbin"), "needs saslpasswd2 (sasl2-bin)")
class RelayAuthTest(RelayBase):
    """Postfix with Cyrus SASL (sasldb): PLAIN and LOGIN on its main port,
    LOGIN only on a second one; STARTTLS offered; 127.0.0.1 may relay only
    after AUTH."""

    USER = "relayuser"
    # A ':' inside: the auth_file splits at the first one only.
    PASSWORD = "Pw:" + uuid.uuid4().hex[:16]

    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="mhtest-pki-")
        cls.addClassCleanup(shutil.rmtree, cls.pki_dir, True)
        cls.pki = TestPKI(cls.pki_dir)
        cls.cert, cls.key = cls.pki.server_cert("upstream")
        cls.up = PostfixUpstream(tls_cert=cls.cert, tls_key=cls.key,
                                 sasl_users={cls.USER: cls.PASSWORD},
                                 extra_listeners=[{"smtpd_sasl_mechanism_filter": "login"}])
        cls.addClassCleanup(cls.up.close)
        cls.login_port = cls.up.extra_ports[0]

    def setUp(self):
        self.up.clear()
        self.mark = self.up.log_mark()

    def connections(self):
        return self.up.connect_count(since=self.mark)

    def auth_file(self, password=None, user=None):
        p = os.path.join(self.tmpdir(), "upstream-auth")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s:%s\n" % (user or self.USER, password or self.PASSWORD))
        return p

    def secrets_in(self, text, password, user=None):
        """Every form of the password that must never reach the log."""
        user = user or self.USER
        forms = {
            "password": password,
            "base64(password)": base64.b64encode(password.encode()).decode(),
            "AUTH PLAIN response": base64.b64encode(
                b"\0" + user.encode() + b"\0" + password.encode()).decode(),
        }
        return [name for name, v in forms.items() if v in text]

    def auth_start(self, port=None, password=None, **upstream):
        up = {"tls": "starttls", "verify": True, "ca_file": self.pki.ca_cert,
              "auth_file": self.auth_file(password)}
        up.update(upstream)
        return self.start(port or self.up.port, upstream=up, log={"level": "debug"})

    def test_sasl_upstream_refuses_unauthenticated_relay(self):
        # The precondition of the AUTH tests: without AUTH, 127.0.0.1 may not
        # send through this Postfix.
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            self.up.send(SENDER, ["x@example.org"], message(new_tag()))
        self.assertEqual(cm.exception.recipients["x@example.org"][0], 554)
        _, caps = self.up.capabilities()
        self.assertEqual(caps.get("auth", "").split(), ["PLAIN", "LOGIN"])

    def test_auth_plain_over_starttls(self):
        m = self.auth_start()
        tag = new_tag()
        qid = self.submit(m, tag)
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, settle=0.3, pred=tagged(tag))
        self.assertRegex(d.header("received")[0], r"\bwith ESMTPSA\b")
        m.wait_event("sent", qid, timeout=5)
        self.assertRegex(self.up.log_text(since=self.mark),
                         r"sasl_method=PLAIN, sasl_username=%s@" % self.USER)
        self.assertEqual(self.secrets_in(m.log_text(), self.PASSWORD), [])

    def test_auth_plain_without_tls_on_loopback(self):
        m = self.auth_start(tls="none")
        tag = new_tag()
        qid = self.submit(m, tag)
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, settle=0.3, pred=tagged(tag))
        self.assertRegex(d.header("received")[0], r"\bwith ESMTPA\b")
        m.wait_event("sent", qid, timeout=5)
        self.assertEqual(self.secrets_in(m.log_text(), self.PASSWORD), [])

    def test_auth_login_password_not_logged(self):
        # The LOGIN-only listener: mailhold must fall back to AUTH LOGIN, and
        # its debug log must not show the password line (base64).
        m = self.auth_start(port=self.login_port)
        tag = new_tag()
        qid = self.submit(m, tag)
        (d,) = self.up.wait_for(1, DELIVERY_TIMEOUT, settle=0.3, pred=tagged(tag))
        m.wait_event("sent", qid, timeout=5)
        self.assertRegex(self.up.log_text(since=self.mark),
                         r"sasl_method=LOGIN, sasl_username=%s@" % self.USER)
        leaked = self.secrets_in(m.log_text(), self.PASSWORD)
        self.assertEqual(leaked, [], "the password reached mailhold's log as: %s\n%s" % (
            leaked, "\n".join(l for l in m.log_text().splitlines() if "event=send" in l)))

    def test_auth_wrong_password_deferred_and_not_logged(self):
        wrong = "Wrong:" + uuid.uuid4().hex[:12]
        m = self.auth_start(password=wrong)
        tag = new_tag()
        qid = self.submit(m, tag)
        self.wait_deferred(m, qid, self.connections, r"(?i)\b535\b|auth")
        self.assertNotFinal(m, qid)
        time.sleep(0.3)
        self.assertEqual([x for x in self.up.messages() if tagged(tag)(x)], [])
        self.assertRegex(self.up.log_text(since=self.mark), r"SASL PLAIN authentication failed")
        self.assertEqual(self.secrets_in(m.log_text(), wrong), [])
        self.assertStillServing(m)


# ----------------------------------------------------- plain Postfix: reuse

class RelayPostfixTest(RelayBase):
    """A plain Postfix (no TLS offered)."""

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()
        cls.addClassCleanup(cls.up.close)

    def setUp(self):
        self.up.clear()
        self.mark = self.up.log_mark()

    def connections(self):
        return self.up.connect_count(since=self.mark)

    def test_starttls_required_but_not_offered(self):
        m = self.start(self.up.port, upstream={"tls": "starttls", "verify": True})
        tag = new_tag()
        qid = self.submit(m, tag)
        self.wait_deferred(m, qid, self.connections, r"(?i)starttls")
        self.assertNotFinal(m, qid)
        time.sleep(0.5)
        self.assertEqual([x for x in self.up.messages() if tagged(tag)(x)], [])
        stats = wait_stats(self.up, self.mark, bool)
        self.assertTrue(stats, "mailhold never connected")
        self.assertEqual([d for d in stats if d.get("mail") or d.get("rcpt")], [],
                         "the envelope went out in clear text: %r" % stats)
        self.assertStillServing(m)

    def _submit_batch(self, m, n, tag):
        """n messages in one session, started just after a second boundary
        so that (hold counts in whole seconds) they all become due together."""
        frac = time.time() % 1.0
        if frac > 0.3:
            time.sleep(1.02 - frac)
        ids = []
        with smtplib.SMTP("127.0.0.1", m.port, timeout=30) as c:
            c.ehlo("client.example.com")
            for i in range(n):
                self.assertEqual(c.mail(SENDER)[0], 250)
                self.assertEqual(c.rcpt("batch%d@example.org" % i)[0], 250)
                code, text = c.data(message(tag, rcpt="batch%d@example.org" % i))
                self.assertEqual(code, 250, text)
                ids.append(text.decode().rsplit(" ", 1)[1])
        return ids

    def test_five_due_messages_reuse_connections_and_pipeline(self):
        m = self.start(self.up.port, hold={"default": "2s"}, log={"level": "debug"},
                       upstream={"max_connections": 2})
        tag = new_tag()
        ids = self._submit_batch(m, 5, tag)
        msgs = self.up.wait_for(5, DELIVERY_TIMEOUT + 5, settle=0.5, pred=tagged(tag))
        self.assertEqual(sorted(x.recipient for x in msgs),
                         ["batch%d@example.org" % i for i in range(5)])
        for qid in ids:
            m.wait_event("sent", qid, timeout=5)
        stats = wait_stats(self.up, self.mark,
                           lambda st: sum(d.get("mail", 0) for d in st) >= 5)
        self.assertEqual(sum(d.get("mail", 0) for d in stats), 5, stats)
        self.assertLess(len(stats), 5, "one upstream connection per message: %r" % stats)
        # Two connections open at first (max_connections), four messages
        # released at once (relay capacity 2 x max_connections): at least one
        # connection must have carried a second message.
        self.assertGreaterEqual(max(d.get("mail", 0) for d in stats), 2,
                                "no connection was reused: %r" % stats)
        # RFC 2920: MAIL, RCPT and DATA leave in one group, so DATA is sent
        # while the MAIL reply is still outstanding.
        self.assertRegex(m.log_text(), r'relay event=send state=MAIL cmd="DATA"',
                         "no pipelined DATA in the debug log")

    def test_messages_per_connection_limit(self):
        m = self.start(self.up.port, hold={"default": "2s"},
                       upstream={"max_connections": 1, "messages_per_connection": 2})
        tag = new_tag()
        ids = self._submit_batch(m, 5, tag)
        self.up.wait_for(5, DELIVERY_TIMEOUT + 5, settle=0.5, pred=tagged(tag))
        for qid in ids:
            m.wait_event("sent", qid, timeout=5)
        stats = wait_stats(self.up, self.mark,
                           lambda st: sum(d.get("mail", 0) for d in st) >= 5)
        self.assertEqual(sum(d.get("mail", 0) for d in stats), 5, stats)
        self.assertLessEqual(max(d.get("mail", 0) for d in stats), 2,
                             "a connection carried more than messages_per_connection: %r"
                             % stats)
        # Ideally [2, 2, 1]; more connections are possible when a connection
        # goes idle just before the scheduler releases the next message.
        self.assertGreaterEqual(len(stats), 3, stats)


# ------------------------------------------------------------ hostile peer

class RelayHostileTest(RelayBase):
    """A scripted upstream that misbehaves; mailhold must defer (never mark
    sent or failed), keep running, and keep serving clients."""

    def fake(self, **kw):
        f = FakeSMTP(**kw)
        self.addCleanup(f.close)
        return f

    def run_hostile(self, actions, reason_re=None, body=None, **fake_kw):
        fake = self.fake(actions=actions, **fake_kw)
        m = self.start(fake.port)
        tag = new_tag()
        qid = self.submit(m, tag, body=body)
        line = self.wait_deferred(m, qid, lambda: fake.connections, reason_re)
        self.assertNotFinal(m, qid)
        self.assertEqual([x for x in fake.messages if x[3] == 0], [],
                         "the hostile connection got a whole message")
        self.assertStillServing(m)
        return fake, m, qid, tag

    def test_multiline_reply_code_changes(self):        # (a)
        self.run_hostile({"MAIL": b"250-2.1.0 a\r\n550 5.1.0 b\r\n"},
                         r"(?i)code changed|multi-line")

    def test_reply_line_5000_bytes(self):                # (b)
        self.run_hostile({"RCPT": b"250 " + b"x" * 5000 + b"\r\n"}, r"(?i)too long")

    def test_1000_continuation_lines(self):              # (c)
        self.run_hostile({"EOM": b"250-2.0.0 ok\r\n" * 1000 + b"250 2.0.0 ok\r\n"},
                         r"(?i)too long|too many|lines")

    def test_bare_lf_reply(self):                        # (f)
        self.run_hostile({"MAIL": b"250 2.1.0 Ok\n"}, r"(?i)crlf|line end|bare")

    def test_silent_upstream_times_out(self):
        # No reply to MAIL at all: the reply timer (timeouts.upstream, 2 s
        # here) must end the attempt.
        def silent(conn, line):
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline and not conn.closed:
                if conn.read_some(0.2) == b"" and conn.closed:
                    break
            conn.close()
        fake = self.fake(actions={"MAIL": silent})
        m = self.mailhold(upstream_port=fake.port, config={"timeouts": {"upstream": "2s"}})
        tag = new_tag()
        qid = self.submit(m, tag)
        self.wait_deferred(m, qid, lambda: fake.connections, r"(?i)timeout|timed out")
        self.assertNotFinal(m, qid)
        self.assertStillServing(m)

    def test_close_mid_body_then_delivered(self):       # (e)
        got = {}

        def cut(conn, line):
            conn.send(b"354 go ahead\r\n")
            data = b""
            deadline = time.monotonic() + 3
            while len(data) < 20000 and time.monotonic() < deadline:
                chunk = conn.read_some(0.5)
                if not chunk:
                    break
                data += chunk
            got["bytes_before_close"] = len(data)
            conn.close()

        # 300 kB: more than one write, so the cut lands inside the body.
        body = b"".join(b"line %06d of a long body ........................................\r\n"
                        % i for i in range(4000))
        fake, m, qid, tag = self.run_hostile({"DATA": [cut, None]},
                                             r"(?i)closed|reset|connection|broken", body=body)
        self.assertGreater(got.get("bytes_before_close", 0), 0, "no body bytes arrived")
        # Later connections are honest: the message arrives, whole.
        mine = lambda: [x for x in fake.messages if tag.encode() in x[2]]  # noqa: E731
        self.assertTrue(wait_until(mine, DELIVERY_TIMEOUT),
                        "not delivered after the upstream recovered:\n" + m.log_tail())
        m.wait_event("sent", qid, timeout=5)
        (mail_from, rcpts, data, conn_index) = mine()[0]
        self.assertGreater(conn_index, 0)
        self.assertEqual((mail_from, rcpts), (SENDER, ["rcpt@example.org"]))
        self.assertTrue(data.endswith(body), "body damaged: sha256 %s, sent %s" % (
            hashlib.sha256(data[-len(body):]).hexdigest(), hashlib.sha256(body).hexdigest()))

    @unittest.skipUnless(have_openssl(), "needs the openssl CLI")
    def test_bytes_injected_after_starttls_220(self):  # (d)
        pki = TestPKI(self.tmpdir())
        cert, key = pki.server_cert("fake")
        seen = {}

        def starttls(conn, line):
            # The 220 and a forged reply in one write (CVE-2011-0411 /
            # CVE-2021-38371 class): the forged line must not survive into
            # the TLS session.
            conn.send(b"220 2.0.0 go ahead\r\n250 2.0.0 forged\r\n")
            conn.start_tls()

        def ehlo(conn, line):
            if conn.tls:
                # If mailhold took the forged 250 as the EHLO reply it would
                # now send MAIL without waiting for our real reply.
                seen["early"] = conn.read_some(0.7)
            return True

        fake = self.fake(actions={"STARTTLS": starttls, "EHLO": ehlo},
                         tls_context=server_tls_context(cert, key))
        m = self.start(fake.port, upstream={"tls": "starttls", "verify": True,
                                            "ca_file": pki.ca_cert})
        tag = new_tag()
        qid = self.submit(m, tag)

        def outcome():
            if m.log_events("sent", qid):
                return "sent"
            if [l for l in m.log_events("deferred", qid) if "reason=" in l]:
                return "deferred"
            if fake.connections > STORM_LIMIT:
                return "storm"
            return None

        result = wait_until(outcome, DEFER_TIMEOUT)
        self.assertIn(result, ("sent", "deferred"),
                      "neither delivered nor deferred (%s, %d connections):\n%s"
                      % (result, fake.connections, m.log_tail(2500)))
        if result == "sent":
            # Proceeded: then only over TLS, after a real EHLO reply.
            self.assertIn("conn 0: TLS established", fake.events)
            self.assertEqual(seen.get("early"), b"",
                             "mailhold used the forged reply: it sent %r before the "
                             "EHLO reply" % seen.get("early"))
            self.assertEqual(len(fake.messages), 1)
            t = fake.transcripts[0]
            self.assertEqual([l.split(b" ")[0] for l in t[:3]], [b"EHLO", b"STARTTLS", b"EHLO"])
        self.assertEqual(m.log_events("failed", qid), [])
        self.assertStillServing(m)

    @unittest.skipUnless(have_openssl(), "needs the openssl CLI")
    def test_tls_upstream_closes_without_errno(self):
        # Issue 17 item 11: the upstream drops the TCP connection inside
        # TLS (no close_notify, no errno): the reason said
        # "connection error: Success".
        pki = TestPKI(self.tmpdir())
        cert, key = pki.server_cert("fake")
        def drop(conn, line):
            # TCP FIN without a TLS close_notify; the rest of the
            # pipelined group is read first so that no RST follows.
            conn.read_some(0.3)
            try:
                socket.socket.shutdown(conn.sock, socket.SHUT_WR)
            except OSError:
                pass
            conn.read_some(1.0)
            conn.close()

        fake = self.fake(actions={"MAIL": drop},
                         tls_context=server_tls_context(cert, key))
        m = self.start(fake.port, upstream={"tls": "starttls", "verify": True,
                                            "ca_file": pki.ca_cert})
        qid = self.submit(m, new_tag())
        line = self.wait_deferred(m, qid, lambda: fake.connections)
        self.assertIn("conn 0: TLS established", fake.events)
        self.assertNotIn("Success", m.log_text())
        self.assertRegex(line, r'reason="upstream [^"]*: connection closed by upstream"')
        up = m.wait_log(r".*\bevent=upstream_error\b.*", timeout=5).group(0)
        self.assertRegex(up, r"\blevel=warn\b")
        self.assertStillServing(m)

    def test_hostile_reply_before_transaction(self):
        # The same kinds of malformed replies, but to the greeting or EHLO,
        # i.e. before the connection has taken a message.
        cases = {
            "banner code change": {"BANNER": b"220-fake\r\n554 5.0.0 go away\r\n"},
            "banner 554": {"BANNER": b"554 5.3.2 not today\r\n"},
            "EHLO code change": {"EHLO": b"250-fake\r\n550 5.0.0 b\r\n"},
            "EHLO 5000-byte line": {"EHLO": b"250-" + b"x" * 5000 + b"\r\n250 ok\r\n"},
            "EHLO bare LF": {"EHLO": b"250 fake\n"},
            "EHLO 1000 lines": {"EHLO": b"250-X\r\n" * 1000 + b"250 ok\r\n"},
        }
        for name, actions in cases.items():
            with self.subTest(case=name):
                fake = self.fake(actions=actions)
                m = self.start(fake.port)
                try:
                    qid = self.submit(m, new_tag())
                    self.wait_deferred(m, qid, lambda: fake.connections)
                    self.assertNotFinal(m, qid)
                    self.assertEqual(fake.commands("MAIL"), [])
                    self.assertStillServing(m)
                finally:
                    if m.running:
                        m.stop(expect_rc=None)
                    fake.close()


# ------------------------------------------------------------- SMTPUTF8

UTF8_RCPT = "\u00fcml\u00e4ut@example.org"
UTF8_SENDER = "\u82b1\u5b50@example.com"
ADMIN = "admin@example.org"


class RelaySmtputf8Test(RelayBase):
    """Issue 17 item 3: what the upstream cannot carry is refused at MAIL
    FROM / RCPT TO, not after the hold; notices never vanish."""

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()
        cls.addClassCleanup(cls.up.close)
        cls.up_ascii = PostfixUpstream(extra_main={"smtputf8_enable": "no"})
        cls.addClassCleanup(cls.up_ascii.close)

    def setUp(self):
        self.up.clear()
        self.up_ascii.clear()

    def start_probing(self, port, **config):
        """A daemon that probes the upstream at start (the shipped
        default); returns it once it knows the upstream's capabilities."""
        config.setdefault("upstream", {}).setdefault("probe_interval", "10m")
        config["notify"] = dict(config.get("notify", {}), admin=ADMIN)
        m = self.start(port, **config)
        m.wait_log(r"event=upstream_caps smtputf8=(yes|no)", timeout=10)
        return m

    def ehlo_keywords(self, s):
        r = s.cmd("EHLO client.test")
        self.assertEqual(r.code, 250, r.lines)
        return [l.split()[0].upper() for l in r.lines[1:]]

    def test_utf8_refused_before_data_without_upstream_smtputf8(self):
        m = self.start_probing(self.up_ascii.port)
        self.assertRegex(m.log_text(), r"event=upstream_caps smtputf8=no")
        with raw_session(m.port) as s:
            s.read_reply()
            self.assertNotIn("SMTPUTF8", self.ehlo_keywords(s))
            # A client that sends SMTPUTF8 anyway: refused at MAIL.
            r = s.cmd("MAIL FROM:<%s> SMTPUTF8" % SENDER)
            self.assertEqual((r.code, r.lines[0][:5]), (555, "5.5.4"), r.lines)
            r = s.cmd("MAIL FROM:<%s> SMTPUTF8" % UTF8_SENDER)
            self.assertEqual((r.code, r.lines[0][:5]), (553, "5.6.7"), r.lines)
            # Without it, a UTF-8 recipient is refused at RCPT.
            self.assertEqual(s.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
            r = s.cmd("RCPT TO:<%s>" % UTF8_RCPT)
            self.assertEqual((r.code, r.lines[0][:5]), (553, "5.6.7"), r.lines)
            self.assertEqual(s.cmd("RSET").code, 250)
            s.cmd("QUIT")
        self.assertEqual(m.log_events("received"), [], "a message was queued")

    def test_upstream_drops_smtputf8_after_ehlo_is_temporary(self):
        # This session's EHLO offered SMTPUTF8; then the upstream changed
        # (here: a reload points mailhold at one without it).  The client
        # did nothing wrong: 451, not a permanent 555.
        m = self.start_probing(self.up.port)
        self.assertRegex(m.log_text(), r"event=upstream_caps smtputf8=yes")
        with raw_session(m.port) as s:
            s.read_reply()
            self.assertIn("SMTPUTF8", self.ehlo_keywords(s))
            mark = m.log_mark()
            m.update_config({"upstream": {"port": self.up_ascii.port}})
            os.kill(m.pid, signal.SIGHUP)
            m.wait_log(r"event=upstream_caps smtputf8=no", timeout=15, since=mark)
            r = s.cmd("MAIL FROM:<%s> SMTPUTF8" % SENDER)
            self.assertEqual((r.code, r.lines[0][:5]), (451, "4.4.0"), r.lines)
            # A UTF-8 address cannot be carried at all: still 553.
            r = s.cmd("MAIL FROM:<%s> SMTPUTF8" % UTF8_SENDER)
            self.assertEqual((r.code, r.lines[0][:5]), (553, "5.6.7"), r.lines)
            s.cmd("QUIT")
        # A new session is not offered SMTPUTF8, and ASCII mail goes.
        with raw_session(m.port) as s:
            s.read_reply()
            self.assertNotIn("SMTPUTF8", self.ehlo_keywords(s))
            self.assertEqual(s.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
            s.cmd("QUIT")

    def test_ascii_mail_from_client_that_always_uses_smtputf8(self):
        # Go's net/smtp (and others) add SMTPUTF8 whenever EHLO offers
        # it: mailhold must not offer what the upstream cannot carry, or
        # plain ASCII mail from such a client failed after the hold.
        m = self.start_probing(self.up_ascii.port)
        tag = new_tag()
        with raw_session(m.port) as s:
            s.read_reply()
            opt = " SMTPUTF8" if "SMTPUTF8" in self.ehlo_keywords(s) else ""
            self.assertEqual(s.cmd("MAIL FROM:<%s>%s" % (SENDER, opt)).code, 250)
            self.assertEqual(s.cmd("RCPT TO:<rcpt@example.org>").code, 250)
            self.assertEqual(s.cmd("DATA").code, 354)
            s.send(message(tag) + b".\r\n")
            self.assertEqual(s.read_reply().code, 250)
            s.cmd("QUIT")
        self.assertTrue(wait_until(lambda: [x for x in self.up_ascii.messages()
                                            if tagged(tag)(x)], DELIVERY_TIMEOUT),
                        "not delivered:\n" + m.log_tail())

    def test_utf8_relayed_when_upstream_offers_smtputf8(self):
        m = self.start_probing(self.up.port)
        self.assertRegex(m.log_text(), r"event=upstream_caps smtputf8=yes")
        tag = new_tag()
        with raw_session(m.port) as s:
            s.read_reply()
            self.assertIn("SMTPUTF8", self.ehlo_keywords(s))
            self.assertEqual(s.cmd("MAIL FROM:<%s> SMTPUTF8" % UTF8_SENDER).code, 250)
            self.assertEqual(s.cmd("RCPT TO:<%s>" % UTF8_RCPT).code, 250)
            self.assertEqual(s.cmd("DATA").code, 354)
            s.send(message(tag, rcpt=UTF8_RCPT) + b".\r\n")
            r = s.read_reply()
            self.assertEqual(r.code, 250, r.lines)
            s.cmd("QUIT")
        got = wait_until(lambda: [x for x in self.up.messages() if tagged(tag)(x)],
                         DELIVERY_TIMEOUT)
        self.assertTrue(got, "not delivered:\n" + m.log_tail())
        # Logged readable, not as \xNN escapes.
        line = m.wait_log(r".*\bevent=sent\b.*", timeout=5).group(0)
        self.assertIn("rcpt=<%s>" % UTF8_RCPT, line)
        self.assertIn("from=<%s>" % UTF8_SENDER, m.log_events("received")[0])

    def test_notice_to_admin_when_sender_unreachable(self):
        # The upstream offered SMTPUTF8 when the message came in and has
        # lost it when the message leaves the hold: the message fails, and
        # its notice could not reach the UTF-8 sender either.  Before, it
        # was queued for the sender and failed in silence.
        fake = FakeSMTP(ehlo_caps=("PIPELINING", "8BITMIME", "SMTPUTF8",
                                   "ENHANCEDSTATUSCODES"))
        self.addCleanup(fake.close)
        m = self.start_probing(fake.port, hold={"default": "2s"})
        self.assertRegex(m.log_text(), r"event=upstream_caps smtputf8=yes")
        r = smtp_send(m.port, UTF8_SENDER, ["rcpt@example.org"], message(new_tag()),
                      mail_options=["SMTPUTF8"])
        self.assertEqual(r.code, 250, r.text)
        fake.ehlo_caps.remove("SMTPUTF8")
        m.wait_event("failed", r.queue_id, timeout=10)
        line = m.wait_log(r".*\bevent=notice_to_admin\b.*", timeout=5).group(0)
        self.assertRegex(line, r"\blevel=warn\b")
        self.assertIn("to=<%s>" % ADMIN, line)
        self.assertTrue(wait_until(lambda: [x for x in fake.messages
                                            if x[1] == [ADMIN]], DELIVERY_TIMEOUT),
                        "no notice reached the admin:\n" + m.log_tail())
        (mail_from, rcpts, data, _) = [x for x in fake.messages if x[1] == [ADMIN]][0]
        self.assertEqual(mail_from, "")
        self.assertIn(b"rcpt@example.org", data)
        self.assertEqual(metric(m, "mailhold_notices_to_admin_total"), 1)
        self.assertEqual(metric(m, "mailhold_notices_lost_total"), 0)

    def test_failed_notice_goes_to_admin_then_is_counted_lost(self):
        # The upstream refuses the notice to the sender: the admin is told;
        # when it refuses the admin too, the loss is logged and counted.
        def rcpt(conn, line):
            if conn.mail_from == "" and b"@example.org" not in line:
                conn.send(b"550 5.1.1 no such user\r\n")
            elif conn.mail_from == "" and ADMIN.encode() in line:
                conn.send(b"550 5.1.1 no admin here\r\n")
            elif b"bad@" in line:
                conn.send(b"550 5.1.1 bad recipient\r\n")
            else:
                return True
        fake = FakeSMTP(actions={"RCPT": rcpt})
        self.addCleanup(fake.close)
        m = self.start_probing(fake.port)
        qid = self.submit(m, new_tag(), rcpt="bad@example.org")
        m.wait_event("failed", qid, timeout=10)
        m.wait_log(r"event=notice_to_admin\b", timeout=10)
        line = m.wait_log(r".*\bevent=notice_lost\b.*", timeout=10).group(0)
        self.assertRegex(line, r"\blevel=warn\b")
        self.assertIn("rcpt=<%s>" % ADMIN, line)
        self.assertEqual(metric(m, "mailhold_notices_to_admin_total"), 1)
        self.assertEqual(metric(m, "mailhold_notices_lost_total"), 1)


def metric(m, name):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", m.config["metrics"]["port"], timeout=10)
    try:
        c.request("GET", "/metrics")
        for line in c.getresponse().read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    finally:
        c.close()
    return None


# ------------------------------------------------------------------ retries

class RelayRetryTest(RelayBase):
    """Upstream down: nothing listens on its port."""

    LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z")

    def attempts(self, m, qid):
        """[(log_time_s, next_attempt_s, attempts)] from the deferral lines."""
        import calendar
        out = []
        for line in m.log_events("deferred", qid):
            mm = re.search(r"\bnext_attempt=(\d+)\b.*\battempts=(\d+)", line)
            ts = self.LOG_TS.match(line)
            if mm and ts:
                t = calendar.timegm(time.strptime(ts.group(1), "%Y-%m-%dT%H:%M:%S"))
                out.append((t, int(mm.group(1)), int(mm.group(2))))
        return out

    def test_backoff_grows_while_upstream_down(self):
        port = free_port()
        m = self.start(port, retry={"initial": "1s", "max": "8s", "give_up": "1h"})
        qid = self.submit(m, new_tag())
        self.assertTrue(wait_until(lambda: len(self.attempts(m, qid)) >= 3, 12),
                        "fewer than 3 attempts within 12 s:\n" + m.log_tail())
        a = self.attempts(m, qid)[:3]
        self.assertEqual([x[2] for x in a], [1, 2, 3], a)
        delays = [nxt - t for t, nxt, _ in a]
        # retry.initial doubling: 1, 2, 4 s (log times are whole seconds).
        self.assertTrue(0 <= delays[0] <= 2 and delays[1] > delays[0] and delays[2] > delays[1],
                        "backoff does not grow: %r" % delays)
        self.assertTrue(3 <= delays[2] <= 5, delays)
        self.assertNotFinal(m, qid)

        def row():
            # The log line comes before the writer thread commits the attempt.
            db = sqlite3.connect("file:%s?mode=ro" % m.queue_path, uri=True, timeout=5)
            try:
                return db.execute("SELECT state, attempts FROM messages WHERE id=?",
                                  (qid,)).fetchone()
            finally:
                db.close()
        wait_until(lambda: row()[1] >= 3, 5)
        state, attempts = row()
        self.assertIn(state, ("deferred", "releasing"))
        self.assertGreaterEqual(attempts, 3)

    def test_upstream_error_logged_at_warn(self):
        # Issue 17 item 11: event=upstream_error was logged at info.
        port = free_port()
        m = self.start(port)
        qid = self.submit(m, new_tag())
        self.wait_deferred(m, qid, lambda: 0)
        up = m.wait_log(r".*\bevent=upstream_error\b.*", timeout=5).group(0)
        self.assertRegex(up, r"\blevel=warn\b")
        self.assertRegex(up, r'reason="[^"]*refused[^"]*"')

    def test_give_up_marks_failed(self):
        # retry.give_up cannot be shorter than 1m; age the message instead
        # (received_at two hours back, with the daemon stopped).
        port = free_port()
        m = self.start(port, retry={"initial": "1s", "max": "2s", "give_up": "1m"})
        qid = self.submit(m, new_tag())
        self.wait_deferred(m, qid, lambda: 0)
        m.stop()
        db = sqlite3.connect(m.queue_path, timeout=5)
        try:
            with db:
                n = db.execute("UPDATE messages SET received_at = received_at - 7200, "
                               "next_attempt = ? WHERE id = ?",
                               (int(time.time()), qid)).rowcount
        finally:
            db.close()
        self.assertEqual(n, 1)
        m.start()
        line = m.wait_event("failed", qid, timeout=10).group(0)
        self.assertRegex(line, r"gave up after \d+ s")
        m.wait_event("notice", qid, timeout=5)      # the sender is told

        def state():
            # The log line comes before the writer thread commits the attempt.
            db = sqlite3.connect("file:%s?mode=ro" % m.queue_path, uri=True, timeout=5)
            try:
                return db.execute("SELECT state FROM messages WHERE id=?",
                                  (qid,)).fetchone()[0]
            finally:
                db.close()
        wait_until(lambda: state() == "failed", 5)
        self.assertEqual(state(), "failed")


class RelayOutageTest(RelayBase):
    """Issue 16: a long upstream outage under load.  A fake upstream that
    closes every connection before its greeting (so its connections can be
    counted), messages arriving all along, then the upstream back."""

    DOWN = 16.0         # seconds the upstream stays down while mail arrives
    N = 48              # messages (12 before the outage is noticed)

    def test_outage_bounded_attempts_then_all_delivered_once(self):
        up = FakeSMTP(actions={"BANNER": "close"})
        self.addCleanup(up.close)
        m = self.start(up.port, hold={"default": "0"},
                       upstream={"max_connections": 4},
                       retry={"initial": "1s", "max": "4s", "give_up": "1h"})
        mark = m.log_mark()
        t0 = time.monotonic()
        ids = {}
        for i in range(self.N):
            tag = "outage-%02d-%s" % (i, new_tag())
            ids[tag] = self.submit(m, tag)
            time.sleep((self.DOWN - 2) / self.N)
        wait_until(lambda: time.monotonic() - t0 >= self.DOWN, self.DOWN)
        down_for = time.monotonic() - t0
        conns_down = up.connections
        self.assertEqual(up.messages, [])
        self.assertEqual(metric(m, "mailhold_upstream_up"), 0)
        failures = metric(m, "mailhold_upstream_connect_failures_total")
        self.assertGreaterEqual(failures, 3)
        # Connection back-off: 1, 2, 4, 4 ... s, one trial connection at a
        # time; without it every release (48 messages, each retried every
        # 1-4 s) opened a connection of its own.
        self.assertLessEqual(conns_down, down_for / 1.0 + 2,
                             "%d connections in %.0f s of outage" % (conns_down, down_for))
        warn = [l for l in m.log_text(since=mark).splitlines()
                if "event=upstream_error" in l and "level=warn" in l]
        # One warning line a minute, not one per attempt or message.
        self.assertLessEqual(len(warn), 1, "\n".join(warn))
        self.assertRegex(warn[0], r"\bfailures=1\b")
        for tag, qid in ids.items():
            self.assertNotFinal(m, qid)

        del up.actions["BANNER"]        # the upstream is back
        t1 = time.monotonic()
        self.assertTrue(wait_until(lambda: len(up.messages) >= self.N, 20),
                        "%d of %d delivered 20 s after the upstream came back:\n%s"
                        % (len(up.messages), self.N, m.log_tail(3000)))
        time.sleep(1.0)     # any duplicate has its chance
        got = collections.Counter()
        for _frm, _rcpts, data, _ci in up.messages:
            mm = re.search(rb"outage-\d\d-[0-9a-f]{12}", data)
            got[mm.group(0).decode() if mm else None] += 1
        self.assertEqual(set(got), set(ids), "lost or foreign messages")
        self.assertEqual([t for t, n in got.items() if n != 1], [], "duplicates")
        m.wait_log(r"event=upstream_up\b.*\bfailures=\d+", timeout=5)
        self.assertEqual(metric(m, "mailhold_upstream_up"), 1)
        # Within the relay's connection limit once back.
        self.assertLessEqual(up.connections - conns_down, 4 * 2 + 4)
        sys.stderr.write("\n  outage: %.0f s down, %d connections (%d failures counted), "
                         "%d warning line(s); all %d delivered once %.1f s after\n"
                         % (down_for, conns_down, failures, len(warn), self.N,
                            time.monotonic() - t1))


if __name__ == "__main__":
    unittest.main()
