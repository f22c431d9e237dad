"""TLS and AUTH for clients (issue 3): the real daemon with starttls and tls
listeners, a throwaway CA made with the openssl CLI, and real clients
(openssl s_client, swaks, smtplib, raw sockets).

    TLSTest          handshakes (TLS 1.2 and 1.3, STARTTLS and implicit), the
                     certificate served, tls.min_version, STARTTLS injection,
                     no STARTTLS inside TLS, the trace header (ESMTPSA),
                     SIGHUP reload with a bad and a good new key.
    AuthFileTest     auth.backend file: swaks PLAIN and LOGIN, plaintext AUTH
                     refused, wrong password and unknown user give the same
                     reply, sender binding (553), no relay without AUTH
                     (127.0.0.1 is not trusted here), cancel and bad base64,
                     passwords never logged, brute-force limits, the
                     From: check, `mailhold passwd`.
    AuthUpstreamTest auth.backend upstream against a private Postfix with
                     Cyrus SASL (sasldb) and STARTTLS: good and bad logins,
                     the cache, upstream down -> 454.

Run: python3 tests/integration/harness.py -k TLSTest -k Auth
Every test is bounded (< 20 s) and uses 127.0.0.1 only.
"""

import base64
import os
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdTestCase, mailhold_bin, raw_session, swaks  # noqa: E402
from upstream import PostfixUpstream, free_port  # noqa: E402

PASSWORDS = {"alice@example.com": "alice-pw-1", "carol": "carol pw:2"}
MSG = (b"From: <alice@example.com>\r\nTo: <bob@example.org>\r\n"
       b"Subject: tls test\r\n\r\nhello\r\n")


def _openssl(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr))


class PKI:
    """A throwaway CA and server certificates (P-256), keys mode 0600."""

    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.crt")
        self.ca_key = os.path.join(d, "ca.key")
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.ca_key,
                  "-out", self.ca, "-days", "2", "-subj", "/CN=mailhold test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign"], d)

    def server(self, name, cn="localhost"):
        crt, key, csr = (os.path.join(self.dir, name + x) for x in (".crt", ".key", ".csr"))
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:%s\n"
                    "extendedKeyUsage=serverAuth\n" % cn)
        _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn], self.dir)
        _openssl(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                  "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext], self.dir)
        os.chmod(key, 0o600)
        return crt, key


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def client_ctx(pki, **kw):
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.check_hostname = False
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class Session:
    """smtplib over STARTTLS (port of a starttls listener) or implicit TLS."""

    def __init__(self, port, pki, implicit=False, starttls=True, timeout=10):
        if implicit:
            self.s = smtplib.SMTP_SSL("127.0.0.1", port, context=client_ctx(pki),
                                      timeout=timeout)
        else:
            self.s = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
        self.s.ehlo("client.example")
        if starttls and not implicit:
            self.s.starttls(context=client_ctx(pki))
            self.s.ehlo("client.example")

    def cmd(self, line):
        code, msg = self.s.docmd(line)
        return code, msg.decode("utf-8", "replace")

    def auth_plain(self, user, pw):
        return self.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, pw)))

    def close(self):
        try:
            self.s.quit()
        except (smtplib.SMTPException, OSError):
            self.s.close()


class TLSBase(MailholdTestCase):
    """A CA, a server certificate and a password file for the class."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl CLI missing")
        cls.tmp = tempfile.mkdtemp(prefix="mhtest-tls-")
        cls.pki = PKI(cls.tmp)
        cls.cert, cls.key = cls.pki.server("server", "mailhold.test")
        cls.pwfile = os.path.join(cls.tmp, "passwd")
        for user, pw in PASSWORDS.items():
            # The real CLI, password on stdin.
            r = subprocess.run([mailhold_bin(), "passwd", "-f", cls.pwfile, user],
                               input=pw + "\n", capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("MH_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def config(self, **auth):
        a = {"backend": "file", "password_file": self.pwfile, "failure_delay": "0",
             "senders": {"carol": ["carol@example.com", "*@sales.example.com"]}}
        a.update(auth)
        return {
            "server": {
                "listeners": [
                    {"address": "127.0.0.1", "port": 0, "mode": "starttls"},
                    {"address": "127.0.0.1", "port": 0, "mode": "tls"},
                    {"address": "127.0.0.1", "port": 0, "mode": "plain"},
                ],
                # 127.0.0.1 is NOT trusted: every test client must AUTH.
                "trusted_networks": ["192.0.2.1/32"],
            },
            "tls": {"cert_file": self.cert, "key_file": self.key},
            "auth": a,
            "hold": {"default": "1h"},
        }

    def start(self, **auth):
        extra = auth.pop("extra", None)
        cfg = self.config(**auth)
        if extra:
            for k, v in extra.items():
                cfg.setdefault(k, {}).update(v)
        m = self.mailhold(config=cfg)
        m.p_starttls, m.p_tls, m.p_plain = m.ports
        return m

    def s_client(self, port, *args, starttls=True, timeout=15, data="QUIT\n"):
        cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
               "-CAfile", self.pki.ca, "-verify_return_error", "-brief"]
        if starttls:
            cmd += ["-starttls", "smtp"]
        r = subprocess.run(cmd + list(args), input=data, capture_output=True, text=True,
                           timeout=timeout)
        return r


class TLSTest(TLSBase):

    def test_handshakes_tls12_tls13_certificate(self):
        m = self.start()
        for port, starttls in ((m.p_starttls, True), (m.p_tls, False)):
            for ver, want in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
                r = self.s_client(port, ver, starttls=starttls)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 0, out)
                self.assertIn("Protocol version: %s" % want, out)
                self.assertIn("Verification: OK", out)
                self.assertRegex(out, r"Peer certificate: .*CN\s*=\s*mailhold.test")
        self.assertRegex(m.log_text(), r"event=tls TLSv1\.3 with cipher TLS_")
        self.assertRegex(m.log_text(), r"event=tls TLSv1\.2 with cipher ECDHE")

    def test_min_version_13(self):
        m = self.start(extra={"tls": {"min_version": "1.3"}})
        r = self.s_client(m.p_tls, "-tls1_2", starttls=False)
        self.assertNotEqual(r.returncode, 0)
        r = self.s_client(m.p_tls, "-tls1_3", starttls=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(m.log_text(), r"event=tls_error .*reason=\".*(version|protocol)")

    def test_starttls_offered_once_and_greeting_state(self):
        m = self.start()
        with raw_session(m.p_starttls) as s:
            self.assertEqual(s.read_reply().code, 220)
            r = s.cmd("EHLO c.example")
            self.assertIn("STARTTLS", r.lines)
            self.assertFalse(any(l.startswith("AUTH") for l in r.lines), r.lines)
            self.assertEqual(s.cmd("STARTTLS").code, 220)
            t = client_ctx(self.pki).wrap_socket(s.sock)
            t.settimeout(5)
            # Back in the greeting state: MAIL needs EHLO first.
            t.sendall(b"MAIL FROM:<alice@example.com>\r\n")
            self.assertTrue(t.recv(4096).startswith(b"503 5.5.1 Send EHLO/HELO first"))
            t.sendall(b"EHLO c.example\r\n")
            ehlo = t.recv(4096).decode()
            self.assertNotIn("STARTTLS", ehlo)
            self.assertIn("250-AUTH PLAIN LOGIN", ehlo)
            t.sendall(b"STARTTLS\r\n")
            self.assertTrue(t.recv(4096).startswith(b"503 5.5.1 TLS already active"))
            t.sendall(b"QUIT\r\n")
            self.assertTrue(t.recv(4096).startswith(b"221"))
            t.close()

    def test_starttls_injection_discarded(self):
        """CVE-2011-0411: STARTTLS\\r\\nRSET\\r\\n in one write; the RSET must
        never be answered inside TLS."""
        m = self.start()
        with raw_session(m.p_starttls) as s:
            self.assertEqual(s.read_reply().code, 220)
            s.cmd("EHLO c.example")
            s.send(b"STARTTLS\r\nRSET\r\n")
            r = s.read_reply()
            self.assertEqual(r.code, 220)
            self.assertEqual(s.buf, b"", "a second reply came in clear text")
            t = client_ctx(self.pki).wrap_socket(s.sock)
            t.settimeout(1.0)
            with self.assertRaises(socket.timeout):
                got = t.recv(4096)
                raise AssertionError("answered inside TLS: %r" % got)
            t.settimeout(5)
            t.sendall(b"EHLO c.example\r\n")
            first = t.recv(4096)
            self.assertTrue(first.startswith(b"250-mailhold.test"), first)
            t.close()
        m.wait_log(r"event=starttls_discard octets=6\b")

    def test_no_direct_write_and_pipelining_in_tls(self):
        """Pipelined commands inside TLS get every reply, in order, through
        SSL (smtp_flush must not write to the socket directly)."""
        m = self.start()
        s = Session(m.p_tls, self.pki, implicit=True)
        s.s.sock.sendall(b"NOOP\r\nNOOP\r\nHELP\r\nNOOP\r\n")
        f = s.s.sock.makefile("rb")
        got = [f.readline() for _ in range(4)]
        self.assertEqual([g[:3] for g in got], [b"250", b"250", b"214", b"250"])
        s.close()

    def test_trace_header_esmtpsa_and_auth_user_stored(self):
        m = self.start()
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("alice@example.com", "alice-pw-1")[0], 235)
        s.s.sendmail("alice@example.com", ["bob@example.org"], MSG)
        s.close()
        db = sqlite3.connect(m.queue_path)
        try:
            (mid, auth_user), = db.execute("SELECT id, auth_user FROM messages").fetchall()
            (data,), = db.execute("SELECT data FROM bodies WHERE msg_id = ?", (mid,))
        finally:
            db.close()
        self.assertEqual(auth_user, "alice@example.com")
        head = bytes(data).split(b"\r\n\r\n", 1)[0].decode()
        self.assertRegex(head, r"\(using TLSv1\.3 with cipher TLS_\S+ \(\d+/\d+ bits\)\)")
        self.assertRegex(head, r"by mailhold\.test \(mailhold\) with ESMTPSA id ")

    def test_sighup_reload_bad_key_keeps_old_then_new_cert(self):
        d = tempfile.mkdtemp(prefix="mhtest-tlsre-", dir=self.tmp)
        crt, key = (os.path.join(d, "s.crt"), os.path.join(d, "s.key"))
        shutil.copy(self.cert, crt)
        shutil.copy(self.key, key)
        os.chmod(key, 0o600)
        m = self.start(extra={"tls": {"cert_file": crt, "key_file": key}})
        inflight = Session(m.p_starttls, self.pki)
        # A key that does not match: reload fails, the old one stays.
        _c2, k2 = self.pki.server("other", "other.test")
        shutil.copy(k2, key)
        mark = m.log_mark()
        m.proc.send_signal(signal.SIGHUP)
        m.wait_log(r"event=reload result=failed error=\"tls.key_file .*(mismatch|match)",
                   since=mark)
        r = self.s_client(m.p_tls, starttls=False)
        self.assertRegex(r.stdout + r.stderr, r"CN\s*=\s*mailhold.test")
        # A good new pair: new handshakes get it; the session in flight
        # (with the old context) goes on.
        c2, k2 = self.pki.server("renewed", "renewed.test")
        shutil.copy(c2, crt)
        shutil.copy(k2, key)
        mark = m.log_mark()
        m.proc.send_signal(signal.SIGHUP)
        m.wait_log(r"event=reload result=ok", since=mark)
        r = self.s_client(m.p_tls, starttls=False)
        self.assertRegex(r.stdout + r.stderr, r"CN\s*=\s*renewed.test")
        self.assertEqual(inflight.auth_plain("alice@example.com", "alice-pw-1")[0], 235)
        inflight.s.sendmail("alice@example.com", ["bob@example.org"], MSG)
        inflight.close()


class AuthFileTest(TLSBase):

    def test_passwd_keeps_owner_group_and_mode(self):
        """mailhold passwd rewrites the file atomically but keeps what the
        admin gave it (group readable by the daemon), never o+r."""
        import grp
        f = os.path.join(self.tmp, "pw-keep")
        with open(f, "w") as fh:
            fh.write("")
        gid = grp.getgrnam("mail").gr_gid
        os.chown(f, 0, gid)
        os.chmod(f, 0o644)          # o+r: must not survive the rewrite
        r = subprocess.run([mailhold_bin(), "passwd", "-f", f, "dave"],
                           input="pw-dave-123\n", capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = os.stat(f)
        self.assertEqual(st.st_gid, gid)
        self.assertEqual(st.st_mode & 0o777, 0o640)
        with open(f) as fh:
            self.assertTrue(fh.read().startswith("dave:$"))

    def test_swaks_plain_and_login(self):
        m = self.start()
        r = swaks(m.p_starttls, "--tls", "--tls-ca-path", self.pki.ca, "--auth", "PLAIN",
                  "--auth-user", "alice@example.com", "--auth-password", "alice-pw-1",
                  "--from", "alice@example.com", "--to", "bob@example.org", timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("235 2.7.0 Authentication successful", r.stdout)
        self.assertRegex(r.stdout, r"250 2\.0\.0 Ok: queued as")
        r = swaks(m.p_tls, "--tlsc", "--auth", "LOGIN", "--auth-user", "carol",
                  "--auth-password", "carol pw:2", "--from", "x@sales.example.com",
                  "--to", "bob@example.org", timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("334 VXNlcm5hbWU6", r.stdout)
        self.assertIn("334 UGFzc3dvcmQ6", r.stdout)
        self.assertRegex(r.stdout, r"250 2\.0\.0 Ok: queued as")
        # Passwords never reach the log, nor their base64 forms.
        log = m.log_text()
        for secret in ("alice-pw-1", "carol pw:2", b64("carol pw:2"),
                       b64("\0alice@example.com\0alice-pw-1")):
            self.assertNotIn(secret, log)

    def test_plaintext_auth_refused(self):
        m = self.start()
        with raw_session(m.p_starttls) as s:
            s.read_reply()
            r = s.cmd("EHLO c.example")
            self.assertFalse(any(l.startswith("AUTH") for l in r.lines))
            r = s.cmd("AUTH PLAIN " + b64("\0alice@example.com\0alice-pw-1"))
            self.assertEqual((r.code, r.lines[0]),
                             (530, "5.7.0 Must issue a STARTTLS command first"))
            r = s.cmd("MAIL FROM:<alice@example.com>")
            self.assertEqual((r.code, r.lines[0]),
                             (530, "5.7.0 Must issue a STARTTLS command first"))
        self.assertNotIn("alice-pw-1", m.log_text())
        # swaks refuses to send AUTH in clear to us as well.
        r = swaks(m.p_starttls, "--auth", "PLAIN", "--auth-user", "alice@example.com",
                  "--auth-password", "alice-pw-1", "--to", "bob@example.org", timeout=15)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Host did not advertise authentication", r.stdout + r.stderr)
        # The plain listener: 127.0.0.1 is not trusted and may not AUTH in
        # clear, so it is not served at all.
        with raw_session(m.p_plain) as s:
            r = s.read_reply()
            self.assertEqual(r.code, 554)

    def test_plaintext_auth_on_loopback_when_allowed(self):
        m = self.start(allow_plaintext=True)
        with raw_session(m.p_plain) as s:
            self.assertEqual(s.read_reply().code, 220)
            self.assertIn("AUTH PLAIN LOGIN", s.cmd("EHLO c.example").lines)
            r = s.cmd("AUTH PLAIN " + b64("\0alice@example.com\0alice-pw-1"))
            self.assertEqual(r.code, 235)
        # require_tls still wins on the starttls listener.
        with raw_session(m.p_starttls) as s:
            s.read_reply()
            s.cmd("EHLO c.example")
            self.assertEqual(s.cmd("AUTH LOGIN").code, 530)

    def test_wrong_password_and_unknown_user_same_reply(self):
        m = self.start()
        replies, times = [], []
        for user, pw in (("alice@example.com", "wrong"), ("nobody@example.com", "wrong"),
                         ("alice@example.com", "wrong"), ("nobody@example.com", "wrong")):
            s = Session(m.p_starttls, self.pki)
            t0 = time.monotonic()
            replies.append(s.auth_plain(user, pw))
            times.append(time.monotonic() - t0)
            s.close()
        self.assertEqual(replies[0], (535, "5.7.8 Authentication credentials invalid"))
        self.assertEqual(len(set(replies)), 1, replies)
        # Same work for both (crypt on a dummy hash): within 150 ms.
        known = min(times[0], times[2])
        unknown = min(times[1], times[3])
        self.assertLess(abs(known - unknown), 0.25, times)
        log = m.log_text()
        self.assertRegex(log, r"event=auth_failed addr=127\.0\.0\.1 "
                              r"user=\"nobody@example.com\" failures_addr=2")
        self.assertNotIn("wrong", log.replace("event=auth_failed", ""))

    def test_sender_binding(self):
        m = self.start()
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("alice@example.com", "alice-pw-1")[0], 235)
        self.assertEqual(s.cmd("MAIL FROM:<bob@example.com>"),
                         (553, "5.7.1 Sender address not owned by user"))
        self.assertEqual(s.cmd("MAIL FROM:<>"),
                         (553, "5.7.1 Sender address not owned by user"))
        self.assertEqual(s.cmd("MAIL FROM:<Alice@Example.com>")[0], 250)
        s.close()
        s = Session(m.p_tls, self.pki, implicit=True)
        self.assertEqual(s.auth_plain("carol", "carol pw:2")[0], 235)
        self.assertEqual(s.cmd("MAIL FROM:<carol@example.org>")[0], 553)
        self.assertEqual(s.cmd("MAIL FROM:<anyone@sales.example.com>")[0], 250)
        s.close()
        m.wait_log(r"event=reject cmd=MAIL reason=sender_not_owned from=<bob@example.com>")

    def test_from_header_check(self):
        m = self.start(check_from_header=True)
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("carol", "carol pw:2")[0], 235)
        ok = b"From: Carol <carol@example.com>\r\nSubject: x\r\n\r\nbody\r\n"
        bad = b"From: \"carol@example.com\" <ceo@example.com>\r\nSubject: x\r\n\r\nbody\r\n"
        s.s.sendmail("carol@example.com", ["bob@example.org"], ok)
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            s.s.sendmail("carol@example.com", ["bob@example.org"], bad)
        self.assertEqual(cm.exception.smtp_code, 550)
        self.assertIn(b"5.7.1 From: header address not owned by user",
                      cm.exception.smtp_error)
        s.close()

    def test_no_relay_without_auth(self):
        """127.0.0.1 is not in trusted_networks: TLS alone is not enough."""
        m = self.start()
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.cmd("MAIL FROM:<alice@example.com>"),
                         (530, "5.7.0 Authentication required"))
        self.assertEqual(s.cmd("RCPT TO:<victim@example.net>")[0], 503)
        self.assertEqual(s.cmd("DATA")[0], 503)
        s.close()
        r = swaks(m.p_tls, "--tlsc", "--from", "alice@example.com",
                  "--to", "victim@example.net", timeout=15)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("530 5.7.0 Authentication required", r.stdout)

    def test_auth_exchange_errors(self):
        m = self.start()
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.cmd("AUTH PLAIN"), (334, ""))
        self.assertEqual(s.cmd("*"), (501, "5.0.0 Authentication cancelled"))
        self.assertEqual(s.cmd("AUTH PLAIN !!!!"), (501, "5.5.2 Invalid base64 data"))
        self.assertEqual(s.cmd("AUTH LOGIN"), (334, "VXNlcm5hbWU6"))
        self.assertEqual(s.cmd("YWxpY2U"), (501, "5.5.2 Invalid base64 data"))
        self.assertEqual(s.cmd("AUTH CRAM-MD5")[0], 504)
        self.assertEqual(s.cmd("AUTH PLAIN " + b64("root\0alice@example.com\0x"))[0], 501)
        self.assertEqual(s.cmd("AUTH PLAIN " + "QUFB" * 600)[0], 500)
        # A very long AUTH line is refused and the session stays in sync.
        s.s.sock.sendall(b"AUTH PLAIN " + b"A" * 5000 + b"\r\n")
        self.assertEqual(s.s.getreply()[0], 500)
        self.assertEqual(s.cmd("NOOP")[0], 250)
        self.assertEqual(s.auth_plain("alice@example.com", "alice-pw-1")[0], 235)
        self.assertEqual(s.auth_plain("alice@example.com", "alice-pw-1"),
                         (503, "5.5.1 Already authenticated"))
        s.cmd("MAIL FROM:<alice@example.com>")
        s.close()
        # A stray base64 line after AUTH is never logged as such.
        self.assertNotIn("YWxpY2U", m.log_text())

    def test_brute_force_limits(self):
        m = self.start(max_failures=3, max_user_failures=4, failure_delay="1s")
        s = Session(m.p_starttls, self.pki)
        t = []
        for _ in range(2):
            t0 = time.monotonic()
            self.assertEqual(s.auth_plain("alice@example.com", "bad")[0], 535)
            t.append(time.monotonic() - t0)
        self.assertGreaterEqual(t[0], 0.9)
        self.assertGreaterEqual(t[1], 1.9)          # doubled
        # The third failure from this address closes the session.
        s.s.sock.sendall(b"AUTH PLAIN " + b64("\0carol\0bad").encode() + b"\r\n")
        f = s.s.sock.makefile("rb")
        self.assertTrue(f.readline().startswith(b"535 5.7.8"))
        self.assertTrue(f.readline().startswith(b"421 4.7.0 Too many failed logins"))
        self.assertEqual(f.readline(), b"")
        s.s.close()
        # Now AUTH from this address is refused before any check, even
        # with the right password.
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("alice@example.com", "alice-pw-1"),
                         (454, "4.7.0 Too many failed logins, try again later"))
        s.close()
        self.assertEqual(len(re.findall(r"event=auth_failed", m.log_text())), 3)


class AuthUpstreamTest(TLSBase):
    """auth.backend upstream against Postfix + Cyrus SASL (sasldb)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not shutil.which("saslpasswd2", path=os.environ.get("PATH", "") + ":/usr/sbin"):
            raise unittest.SkipTest("saslpasswd2 missing (sasl2-bin)")
        cls.up_cert, cls.up_key = cls.pki.server("upstream", "upstream.test")
        cls.up = PostfixUpstream(tls_cert=cls.up_cert, tls_key=cls.up_key,
                                 sasl_users={"dave": "dave-pw", "erin": "erin-pw"},
                                 sasl_tls_only=True)

    @classmethod
    def tearDownClass(cls):
        cls.up.close()
        super().tearDownClass()

    def start_up(self, **auth):
        cfg = self.config(**auth)
        cfg["auth"] = dict(backend="upstream", failure_delay="0",
                           senders={"dave": ["dave@example.com"]}, **auth)
        cfg["upstream"] = {"host": "127.0.0.1", "port": self.up.port, "tls": "starttls",
                           "verify": True, "ca_file": self.pki.ca}
        m = self.mailhold(config=cfg)
        m.p_starttls, m.p_tls, m.p_plain = m.ports
        return m

    def test_upstream_login_cache_and_failure(self):
        m = self.start_up(cache_ttl="5m")
        mark = self.up.log_mark()
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("dave", "dave-pw"),
                         (235, "2.7.0 Authentication successful"))
        self.assertEqual(s.cmd("MAIL FROM:<dave@example.com>")[0], 250)
        s.close()
        self.assertEqual(self.up.connect_count(mark), 1)
        m.wait_log(r"event=auth_cache_store entries=1 ttl=300s")
        # Wrong password and unknown user: the upstream says no, we say 535.
        for user, pw in (("dave", "nope"), ("zed", "nope")):
            s = Session(m.p_tls, self.pki, implicit=True)
            self.assertEqual(s.auth_plain(user, pw),
                             (535, "5.7.8 Authentication credentials invalid"))
            s.close()
        self.assertEqual(self.up.connect_count(mark), 3)
        # The cached success (scrypt in memory) answers without the upstream.
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("dave", "dave-pw")[0], 235)
        s.close()
        m.wait_log(r"event=auth_cache_hit")
        self.assertEqual(self.up.connect_count(mark), 3, "cache not used")
        # A wrong password for a cached user still goes to the upstream.
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("dave", "dave-pw-old")[0], 535)
        s.close()
        self.assertEqual(self.up.connect_count(mark), 4)
        log = m.log_text()
        self.assertNotIn("dave-pw", log)
        self.assertNotIn(b64("\0dave\0dave-pw"), log)

    def test_upstream_down_is_temporary(self):
        m = self.start_up(cache_ttl="0")
        m.update_config({"upstream": {"port": free_port()}})
        m.restart()
        m.p_starttls, m.p_tls, m.p_plain = m.ports
        s = Session(m.p_starttls, self.pki)
        self.assertEqual(s.auth_plain("dave", "dave-pw"),
                         (454, "4.7.0 Temporary authentication failure"))
        s.close()
        self.assertRegex(m.log_text(), r"event=auth_upstream result=tempfail")
        self.assertNotIn("event=auth_failed", m.log_text())


if __name__ == "__main__":
    unittest.main()
