"""The mail clients people use, against the real daemon (issue 17).

    ClientTest   msmtp and gnutls-cli (GnuTLS) on the STARTTLS port with TLS
                 1.3 and 1.2 and on the implicit-TLS port, their first
                 command arriving in the same TCP segment as their TLS
                 Finished; openssl s_client (OpenSSL) talking before the
                 greeting; NSS (tstclnt, Thunderbird's library) on both
                 ports; curl --upload-file of an LF-only file; the
                 close_notify at QUIT; HELP listing only what is offered;
                 no CBC suites by default; the page over HTTPS with GnuTLS.

Each client runs as a subprocess with a timeout: a hang is a failure, not a
stuck suite.  127.0.0.1 only.  The TLS set-up (CA, certificate, password
file, listeners) is test_tls_auth.TLSBase's.
"""

import os
import re
import select
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import raw_session  # noqa: E402
from test_tls_auth import TLSBase, client_ctx  # noqa: E402
from upstream import free_port  # noqa: E402

USER, PASSWORD = "alice@example.com", "alice-pw-1"
CLIENT_TIMEOUT = 20     # s; the hang this guards against lasted 5 minutes

# An LF-only message, as a script writes it.
LF_MESSAGE = (b"From: <alice@example.com>\nTo: <bob@example.org>\n"
              b"Subject: unix line endings\n\nline one\n..two leading dots\nline three\n")

TLS13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3"
TLS12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2"


def converse(cmd, data, until, timeout=CLIENT_TIMEOUT):
    """Runs cmd with data on its stdin at once, keeps stdin open until the
    output matches the bytes regex `until` (or timeout), then closes it
    (gnutls-cli ends the session as soon as its stdin ends) and gives the
    program 2 s to exit before it is terminated.  Returns (stdout, stderr)
    as text."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out = b""
    try:
        p.stdin.write(data)
        p.stdin.flush()
        os.set_blocking(p.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not re.search(until, out):
            r, _, _ = select.select([p.stdout], [], [], 0.1)
            if r:
                chunk = p.stdout.read()
                if not chunk:
                    break
                out += chunk
        p.stdin.close()
        p.stdin = None
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            p.terminate()       # tstclnt does not end at stdin's end
        os.set_blocking(p.stdout.fileno(), True)
        rest, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return (out + (rest or b"")).decode(errors="replace"), err.decode(errors="replace")


def starttls_in_clear(sock):
    """The clear-text part of STARTTLS on sock: greeting, EHLO, STARTTLS,
    220.  Raises AssertionError when the server says otherwise."""
    f = sock.makefile("rb")
    try:
        assert f.readline().startswith(b"220")
        sock.sendall(b"EHLO c.example\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220")
    finally:
        f.close()


class StartTLSSplice:
    """For TLS clients that cannot do STARTTLS themselves (NSS's tstclnt):
    listens on a loopback port; for one client, it connects to mailhold's
    STARTTLS port, says EHLO and STARTTLS in clear text, then passes bytes
    both ways unchanged, so the client's TLS handshake is with mailhold
    itself.  Bounded: one connection, `timeout` seconds."""

    def __init__(self, port, timeout=CLIENT_TIMEOUT):
        self.target = port
        self.timeout = timeout
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + self.timeout
        try:
            self.lsock.settimeout(self.timeout)
            client, _ = self.lsock.accept()
            up = socket.create_connection(("127.0.0.1", self.target), timeout=self.timeout)
            starttls_in_clear(up)
            socks = [client, up]
            while time.monotonic() < deadline:
                r, _, _ = select.select(socks, [], [], 0.2)
                for a in r:
                    data = a.recv(65536)
                    if not data:
                        return
                    (up if a is client else client).sendall(data)
        except Exception as e:      # reported by the test
            self.error = e
        finally:
            self.lsock.close()

    def close(self):
        self.thread.join(self.timeout + 5)


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise unittest.SkipTest("missing %s (contrib/setup-deps.sh)" % " ".join(missing))


class ClientTest(TLSBase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="mhtest-clients-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def received(self, m, count):
        """Waits until `count` messages were queued; returns their log lines."""
        m.wait_log(r"event=received\b", timeout=10, count=count)
        return re.findall(r".*event=received\b.*", m.log_text())

    # ---------------------------------------------------------------- msmtp

    def msmtp(self, port, starttls, priorities=None):
        rc = os.path.join(self.work, "msmtprc")
        with open(rc, "w") as f:
            f.write("# empty: everything is on the command line\n")
        os.chmod(rc, 0o600)
        cmd = ["msmtp", "-C", rc, "--host=127.0.0.1", "--port=%d" % port,
               "--tls=on", "--tls-starttls=%s" % ("on" if starttls else "off"),
               "--tls-trust-file=%s" % self.pki.ca, "--auth=plain",
               "--user=%s" % USER, "--passwordeval=echo %s" % PASSWORD,
               "--from=%s" % USER, "--timeout=15", "bob@example.org"]
        if priorities:
            cmd.insert(-1, "--tls-priorities=%s" % priorities)
        return subprocess.run(cmd, input=LF_MESSAGE, capture_output=True,
                              timeout=CLIENT_TIMEOUT)

    def test_msmtp_starttls_tls13_tls12_and_implicit_tls(self):
        need("msmtp")
        m = self.start()
        runs = [("587 TLS 1.3", m.p_starttls, True, TLS13),
                ("587 TLS 1.2", m.p_starttls, True, TLS12),
                ("465", m.p_tls, False, None)]
        for n, (name, port, starttls, prio) in enumerate(runs, 1):
            with self.subTest(name):
                r = self.msmtp(port, starttls, prio)
                self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
                self.received(m, n)
        self.assertRegex(m.log_text(), r"event=tls TLSv1\.3 ")
        self.assertRegex(m.log_text(), r"event=tls TLSv1\.2 ")

    # ----------------------------------------------------------- gnutls-cli

    def gnutls_cli(self, port, starttls, priority, script):
        """gnutls-cli with the whole script on stdin at once: GnuTLS sends
        the first line with its Finished."""
        cmd = ["gnutls-cli", "--port=%d" % port, "--x509cafile=%s" % self.pki.ca,
               "--priority=%s" % priority]
        if starttls:
            cmd.append("--starttls-proto=smtp")
        cmd.append("localhost")
        return converse(cmd, script, rb"(?m)^221 ")

    def test_gnutls_cli_first_command_with_finished(self):
        need("gnutls-cli")
        m = self.start()
        script = b"EHLO gnutls.example\r\nHELP\r\nQUIT\r\n"
        for name, port, starttls, prio in (("587 TLS 1.3", m.p_starttls, True, TLS13),
                                           ("587 TLS 1.2", m.p_starttls, True, TLS12),
                                           ("465 TLS 1.3", m.p_tls, False, TLS13),
                                           ("465 TLS 1.2", m.p_tls, False, TLS12)):
            with self.subTest(name):
                out, err = self.gnutls_cli(port, starttls, prio, script)
                self.assertIn("250-mailhold.test", out, err)
                # Inside TLS: no STARTTLS any more, AUTH now offered.
                self.assertRegex(out, r"(?m)^214 2\.0\.0 Commands: .*HELP AUTH\s*$")
                self.assertNotRegex(out, r"(?m)^214 .*STARTTLS")
                self.assertIn("221 2.0.0 Bye", out)
                # The server ended TLS with a close_notify.
                self.assertIn("Peer has closed the GnuTLS connection", out + err)
                self.assertNotIn("non-properly terminated", out + err)

    def finished_and_ehlo_in_one_write(self, port, starttls, version):
        """What GnuTLS does, made deterministic: the client's TLS Finished
        and its EHLO leave in one sendall() (ssl.MemoryBIO).  Returns the
        text received inside TLS up to the end of the EHLO reply."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(sock.close)
        if starttls:
            starttls_in_clear(sock)
        ctx = client_ctx(self.pki)
        ctx.minimum_version = ctx.maximum_version = version
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if out.pending:
                    sock.sendall(out.read())
                data = sock.recv(65536)
                self.assertTrue(data, "closed during the handshake")
                inc.write(data)
        tls.write(b"EHLO one.write\r\n")
        sock.sendall(out.read())        # Finished (TLS 1.3) + EHLO together
        got = b""
        deadline = time.monotonic() + 5
        sock.settimeout(0.5)
        while not re.search(rb"(?m)^250 ", got) and time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            inc.write(data)
            try:
                while True:
                    got += tls.read(65536)
            except ssl.SSLWantReadError:
                pass
        return got.decode(errors="replace")

    def test_finished_and_first_command_in_one_segment(self):
        m = self.start()
        for name, port, starttls in (("587", m.p_starttls, True), ("465", m.p_tls, False)):
            for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
                with self.subTest(port=name, version=ver.name):
                    got = self.finished_and_ehlo_in_one_write(port, starttls, ver)
                    self.assertRegex(got, r"(?m)^250-mailhold\.test", "no EHLO reply")
                    if not starttls:
                        self.assertTrue(got.startswith("220 "), got)

    def test_openssl_client_talks_before_the_greeting(self):
        # Commands sent right after the handshake, before the 220: every
        # reply must still come, in order (a stale write callback used to
        # free the session before the last replies were written).
        m = self.start()
        for _ in range(5):
            r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % m.p_tls,
                                "-CAfile", self.pki.ca, "-quiet", "-tls1_3"],
                               input=b"EHLO early.example\r\nNOOP\r\nQUIT\r\n",
                               capture_output=True, timeout=CLIENT_TIMEOUT)
            codes = re.findall(rb"(?m)^(\d{3})[ -]", r.stdout)
            self.assertEqual(codes[0], b"220", r.stdout)
            self.assertEqual(codes[-2:], [b"250", b"221"], r.stdout)

    def test_nss_tstclnt_starttls_and_implicit_tls(self):
        # NSS is Thunderbird's TLS library; tstclnt is its test client.  It
        # cannot say STARTTLS, so a splice does the clear-text part.
        need("tstclnt")
        m = self.start()
        script = b"EHLO nss.example\r\nNOOP\r\nQUIT\r\n"
        for ver in ("tls1.3", "tls1.2"):
            for name in ("587", "465"):
                with self.subTest(port=name, version=ver):
                    splice = None
                    port = m.p_tls
                    if name == "587":
                        splice = StartTLSSplice(m.p_starttls)
                        port = splice.port
                    # -D: no certificate database, -o: accept the test
                    # CA's certificate (the other clients verify it).
                    out, err = converse(["tstclnt", "-h", "127.0.0.1", "-p", str(port),
                                         "-D", "-o", "-V", "%s:%s" % (ver, ver)],
                                        script, rb"(?m)^221 ")
                    if splice is not None:
                        splice.close()
                        self.assertIsNone(splice.error)
                    self.assertIn("250 2.0.0", out, err)
                    self.assertIn("221 2.0.0 Bye", out, err)
        self.assertGreaterEqual(len(re.findall(r"event=tls TLSv1\.3 ", m.log_text())), 2)
        self.assertGreaterEqual(len(re.findall(r"event=tls TLSv1\.2 ", m.log_text())), 2)

    # ---------------------------------------------------------------- curl

    def test_curl_upload_of_an_lf_file(self):
        need("curl")
        m = self.start()
        path = os.path.join(self.work, "message.txt")
        with open(path, "wb") as f:
            f.write(LF_MESSAGE)
        r = subprocess.run(["curl", "--silent", "--show-error", "--max-time", "15",
                            "--url", "smtp://127.0.0.1:%d" % m.p_starttls, "--ssl-reqd",
                            "--cacert", self.pki.ca, "--user", "%s:%s" % (USER, PASSWORD),
                            "--mail-from", USER, "--mail-rcpt", "bob@example.org",
                            "--upload-file", path],
                           capture_output=True, timeout=CLIENT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.received(m, 1)
        # Stored with CRLF line ends (after mailhold's Received:), curl's
        # dot-stuffing undone.
        db = sqlite3.connect(m.queue_path)
        try:
            (data,), = db.execute("SELECT data FROM bodies").fetchall()
        finally:
            db.close()
        data = bytes(data)
        # curl ends a file whose last line has no CRLF with CRLF "." CRLF,
        # so the message gains one empty last line (as with Postfix).
        self.assertTrue(data.endswith(LF_MESSAGE.replace(b"\n", b"\r\n")
                                      .replace(b"\r\n..two", b"\r\n.two") + b"\r\n"),
                        data)
        self.assertNotIn(b"\n", data.replace(b"\r\n", b""))

    # --------------------------------------------------------- TLS details

    def test_close_notify_at_quit(self):
        m = self.start()
        for port, implicit in ((m.p_starttls, False), (m.p_tls, True)):
            with self.subTest(implicit=implicit):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                if not implicit:
                    starttls_in_clear(sock)
                t = client_ctx(self.pki).wrap_socket(sock, suppress_ragged_eofs=False)
                if implicit:
                    self.assertTrue(t.recv(4096).startswith(b"220"))
                t.sendall(b"QUIT\r\n")
                self.assertTrue(t.recv(4096).startswith(b"221"))
                # A clean TLS end: b"" rather than SSLEOFError ("EOF
                # occurred in violation of protocol").
                try:
                    rest = t.recv(4096)
                except ssl.SSLEOFError as e:
                    self.fail("no close_notify from the server: %s" % e)
                self.assertEqual(rest, b"")
                t.close()

    def test_help_lists_only_what_is_offered(self):
        # 127.0.0.1 trusted, so that the plain listener serves it.
        m = self.start(extra={"server": {"trusted_networks": ["127.0.0.1/32"]}})
        s = raw_session(m.p_plain)
        self.addCleanup(s.close)
        s.read_reply()
        help_plain = s.cmd("HELP")
        self.assertEqual(help_plain.code, 214)
        self.assertNotIn("STARTTLS", help_plain.text)
        self.assertNotIn("AUTH", help_plain.text)      # no AUTH in clear text
        s2 = raw_session(m.p_starttls)
        self.addCleanup(s2.close)
        s2.read_reply()
        help_587 = s2.cmd("HELP")
        self.assertIn(" STARTTLS", help_587.text)
        self.assertNotIn("AUTH", help_587.text)

    def test_no_cbc_suites_by_default(self):
        m = self.start()

        def s_client(cipher):
            return subprocess.run(["openssl", "s_client", "-connect",
                                   "127.0.0.1:%d" % m.p_tls, "-CAfile", self.pki.ca,
                                   "-tls1_2", "-cipher", cipher, "-brief"],
                                  input=b"QUIT\r\n", capture_output=True, timeout=15)
        for cbc in ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA",
                    "ECDHE-ECDSA-AES128-SHA"):
            with self.subTest(cbc):
                self.assertNotEqual(s_client(cbc).returncode, 0,
                                    "%s was accepted" % cbc)
        ok = s_client("ECDHE-ECDSA-AES128-GCM-SHA256")
        self.assertEqual(ok.returncode, 0, ok.stderr)

    def test_page_over_https_with_gnutls(self):
        need("gnutls-cli")
        port = free_port()
        m = self.start(extra={"web": {"enabled": True, "address": "127.0.0.1",
                                      "port": port, "tls": True,
                                      "base_url": "https://localhost:%d" % port}})
        for prio in (TLS13, TLS12):
            with self.subTest(prio):
                out, err = converse(["gnutls-cli", "--port=%d" % port,
                                     "--x509cafile=%s" % self.pki.ca,
                                     "--priority=%s" % prio, "localhost"],
                                    b"GET /m/nosuchtoken HTTP/1.1\r\nHost: localhost\r\n"
                                    b"Connection: close\r\n\r\n", rb"</html>")
                self.assertRegex(out, r"HTTP/1\.1 404 ", err)
