"""Queue faults (issue 16): a full file system under the queue, and a queue
file that is foreign, truncated, garbage or damaged.

The full-disk test puts the queue on a private 20 MB tmpfs (needs root, as
the Postfix upstream does; skipped otherwise) and always unmounts it, even
when the test fails.  Every wait is bounded.
"""

import hashlib
import os
import re
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdError, MailholdTestCase, crlf, raw_session, smtp_send  # noqa: E402
from upstream import PostfixUpstream  # noqa: E402

SENDER = "sender@example.com"
RCPT = "rcpt@example.org"


def message(tag, size=0):
    """A message carrying "Subject: t TAG", padded to about size octets."""
    pad = b"".join(b"%s\r\n" % (b"y" * 76) for _ in range(size // 78))
    return crlf(b"From: <%s>\r\nTo: <%s>\r\nSubject: t %s\r\n\r\n"
                b"message %s\r\n" % (SENDER.encode(), RCPT.encode(),
                                       tag.encode(), tag.encode()) + pad)


def step(s, line, want=None):
    """One command on a raw session; checks the reply code when want."""
    r = s.cmd(line)
    if want is not None:
        assert r.code == want, (line, r)
    return r


def opened(port):
    s = raw_session(port)
    r = s.read_reply()
    assert r.code == 220, r
    step(s, b"EHLO c.example.com", 250)
    return s


def scrape(port):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def gauge(text, name):
    m = re.search(r"^%s (-?\d+)$" % re.escape(name), text, re.M)
    assert m, "no %s in metrics" % name
    return int(m.group(1))


def fill(path, leave):
    """Writes path until the file system has about `leave` octets free
    (0: until ENOSPC)."""
    st = os.statvfs(os.path.dirname(path))
    with open(path, "ab") as f:
        want = st.f_bavail * st.f_frsize - leave
        chunk = b"\0" * 65536
        try:
            while want > 0:
                n = min(len(chunk), want)
                f.write(chunk[:n])
                f.flush()
                want -= n
            if leave == 0:
                while True:
                    f.write(chunk)
                    f.flush()
        except OSError:
            pass


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class DiskFullTest(MailholdTestCase):

    @classmethod
    def setUpClass(cls):
        cls.up = PostfixUpstream()
        cls.addClassCleanup(cls.up.close)

    def setUp(self):
        self.up.clear()

    def small_fs(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="mhtest-qfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m,mode=0700",
                        "tmpfs", d], check=True, timeout=10)

        def unmount():
            subprocess.run(["umount", d], timeout=10)
            if os.path.ismount(d):
                subprocess.run(["umount", "-l", d], timeout=10)
            os.rmdir(d)
        self.addCleanup(unmount)      # runs after the daemon is stopped
        return d

    def test_full_disk(self):
        fs = self.small_fs()
        m = self.mailhold(upstream_port=self.up.port, config={
            "queue": {"path": os.path.join(fs, "queue.db"), "min_free": "4M"},
            "hold": {"default": "2s"},
            "limits": {"memory_per_message": "64k"}})
        mport = m.config["metrics"]["port"]
        accepted = []           # tags that got a 250
        lock = threading.Lock()
        stop = threading.Event()
        counts = {"250": 0, "451": 0, "452": 0, "other": 0}

        def load():
            i = 0
            while not stop.is_set():
                tag = "load%d-%s" % (i, uuid.uuid4().hex[:8])
                i += 1
                try:
                    smtp_send(m.port, SENDER, [RCPT], message(tag, 20000), timeout=10)
                    with lock:
                        accepted.append(tag)
                        counts["250"] += 1
                except smtplib.SMTPResponseException as e:
                    with lock:
                        counts[str(e.smtp_code) if str(e.smtp_code) in counts else "other"] += 1
                except (smtplib.SMTPException, OSError):
                    with lock:
                        counts["other"] += 1
                time.sleep(0.02)

        t = threading.Thread(target=load, daemon=True)
        t.start()
        try:
            time.sleep(1.0)
            self.assertEqual(gauge(scrape(mport), "mailhold_queue_space_low"), 0)

            # SIZE= that does not fit (twice) in what is left: 452 4.3.1.
            with opened(m.port) as s:
                r = step(s, b"MAIL FROM:<%s> SIZE=12000000" % SENDER.encode())
                self.assertEqual(r.code, 452, r)
                self.assertIn("4.3.1", r.lines[0])

            # An open transaction, to end after the disk is full.
            late = opened(m.port)
            step(late, b"MAIL FROM:<%s>" % SENDER.encode(), 250)
            step(late, b"RCPT TO:<%s>" % RCPT.encode(), 250)
            step(late, b"DATA", 354)

            # Below queue.min_free: new mail gets 452 4.3.1.
            filler = os.path.join(fs, "filler")
            fill(filler, 2 * 1024 * 1024)
            time.sleep(1.5)              # the statvfs cache is 1 s
            with opened(m.port) as s:
                r = step(s, b"MAIL FROM:<%s>" % SENDER.encode())
                self.assertEqual(r.code, 452, r)
                self.assertIn("4.3.1", r.lines[0])
            self.assertEqual(gauge(scrape(mport), "mailhold_queue_space_low"), 1)
            self.assertLess(gauge(scrape(mport), "mailhold_queue_free_bytes"),
                            4 * 1024 * 1024)

            # Completely full: the open transaction ends in 451 4.3.0.
            fill(filler + "2", 0)
            late.send(message("late", 1024 * 1024) + b".\r\n")
            r = late.read_reply(timeout=20)
            self.assertEqual(r.code, 451, r)
            self.assertIn("4.3.0", r.lines[0])
            late.close()
            time.sleep(1.0)
            with lock:
                self.assertGreater(counts["452"], 0, counts)

            # Space back: accepting again by itself.
            os.unlink(filler + "2")
            os.unlink(filler)
            deadline = time.monotonic() + 10
            while True:
                try:
                    r = smtp_send(m.port, SENDER, [RCPT], message("after"), timeout=10)
                    accepted.append("after")
                    break
                except smtplib.SMTPResponseException as e:
                    if time.monotonic() > deadline:
                        raise AssertionError("still refused: %s" % e)
                    time.sleep(0.3)
            self.assertEqual(gauge(scrape(mport), "mailhold_queue_space_low"), 0)
        finally:
            stop.set()
            t.join(20)

        # Every message that got a 250 goes out (none lost to the full disk).
        with lock:
            want = list(accepted)
        self.assertGreater(len(want), 3)
        msgs = self.up.wait_for(len(want), timeout=60, settle=1.0)
        got = b"\n".join(x.raw for x in msgs)
        missing = [tag for tag in want if ("t " + tag).encode() not in got]
        self.assertEqual(missing, [], counts)
        # The reason is logged, at most once a minute.
        lows = re.findall(r"event=queue_space state=low", m.log_text())
        self.assertEqual(len(lows), 1, counts)
        self.assertRegex(m.log_text(), r"event=queue_space state=ok")


class QueueFileTest(MailholdTestCase):
    """A queue.path that is not a healthy mailhold queue stops the start,
    names the file and leaves it as it is."""

    def refused(self, path, want):
        st0 = os.stat(path)
        with open(path, "rb") as f:
            h0 = hashlib.sha256(f.read()).hexdigest()
        m = self.mailhold(start=False, config={"queue": {"path": path}})
        with self.assertRaises(MailholdError):
            m.start()
        m.proc.wait(10)
        m.proc = None
        text = m.log_text()
        self.assertRegex(text, r"event=start error=.*" + re.escape(path))
        self.assertRegex(text, want)
        st1 = os.stat(path)
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), h0)
        self.assertEqual(st1.st_mode, st0.st_mode)

    def real_queue(self, n=5):
        """A queue with n messages, daemon stopped: returns (Mailhold, path)."""
        m = self.mailhold(config={"hold": {"default": "1h"}})
        for i in range(n):
            smtp_send(m.port, SENDER, [RCPT], message("q%d" % i, 8000))
        m.stop()
        return m, m.queue_path

    def test_garbage_file(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="mhtest-qf-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        p = os.path.join(d, "queue.db")
        with open(p, "wb") as f:
            f.write(b"garbage " * 2048)
        os.chmod(p, 0o644)
        self.refused(p, r"not a readable SQLite database")

    def test_foreign_sqlite(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="mhtest-qf-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        p = os.path.join(d, "queue.db")
        db = sqlite3.connect(p)
        db.execute("CREATE TABLE accounts (name TEXT, balance INTEGER)")
        db.execute("INSERT INTO accounts VALUES ('alice', 10)")
        db.commit()
        db.close()
        os.chmod(p, 0o644)
        self.refused(p, r"not a mailhold queue database")
        with open(p, "rb") as f:
            hdr = f.read(20)
        self.assertEqual(hdr[18:20], b"\x01\x01")     # not switched to WAL
        self.assertFalse(os.path.exists(p + "-wal"))

    def test_truncated_queue(self):
        m, p = self.real_queue()
        size = os.path.getsize(p)
        with open(p, "r+b") as f:
            f.truncate(size // 2)
        self.refused(p, r"damaged|not a readable SQLite database")

    def test_damaged_page(self):
        m, p = self.real_queue()
        db = sqlite3.connect("file:%s?mode=ro" % p, uri=True)
        root = db.execute("SELECT rootpage FROM sqlite_master "
                          "WHERE name = 'recipients'").fetchone()[0]
        pgsz = db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
        # A clean stop checkpoints the WAL into the file.
        self.assertFalse(os.path.exists(p + "-wal") and os.path.getsize(p + "-wal") > 0)
        with open(p, "r+b") as f:
            f.seek((root - 1) * pgsz)
            f.write(b"\xa5" * pgsz)
        self.refused(p, r"damaged")


if __name__ == "__main__":
    unittest.main()
