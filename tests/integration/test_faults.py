"""Faults of the machine itself (issue 16, part B): out of file
descriptors, clock steps, privilege drop.

Each test starts its own daemon; every wait is bounded.
Run: MAILHOLD_BIN=$PWD/build/mailhold python3 tests/integration/harness.py -k Fault
"""

import os
import re
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Mailhold, MailholdError, MailholdTestCase,  # noqa: E402
                     raw_session, smtp_send)
from upstream import PostfixUpstream  # noqa: E402

SENDER = "sender@example.com"


def message(tag, rcpt="rcpt@example.org"):
    return ("From: %s\r\nTo: %s\r\nSubject: fault %s\r\n"
            "Message-ID: <%s@example.com>\r\n\r\nbody %s\r\n"
            % (SENDER, rcpt, tag, tag, tag)).encode()


def tagged(tag):
    return lambda d: ("fault %s" % tag).encode() in d.raw


def cpu_seconds(pid):
    """utime + stime of the process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FaultFdTest(MailholdTestCase):
    """The open-file limit reached: the listener pauses, it does not spin."""

    NOFILE = 64
    FLOOD = 150

    def test_out_of_fds_backs_off_and_recovers(self):
        up = PostfixUpstream()
        self.addCleanup(up.close)
        m = self.mailhold(upstream_port=up.port, nofile=self.NOFILE)
        # A session opened before the table fills must go on.
        s = raw_session(m.port)
        self.addCleanup(s.close)
        self.assertEqual(s.read_reply().code, 220)
        self.assertEqual(s.cmd("EHLO before.example.com").code, 250)

        flood = []
        try:
            for _ in range(self.FLOOD):
                c = socket.create_connection(("127.0.0.1", m.port), timeout=5)
                flood.append(c)
            # Let the daemon take what it can and hit EMFILE.
            m.wait_log(r"event=accept_(?:paused|error)\b", timeout=5)
            cpu0 = cpu_seconds(m.pid)
            mark = m.log_mark()
            time.sleep(3.0)
            used = cpu_seconds(m.pid) - cpu0
            # Spinning on accept costs a whole core (3 s here); backing
            # off (at most 10 wake-ups a second) costs next to nothing.
            self.assertLess(used, 0.5, "daemon used %.2f s CPU in 3 s while "
                            "out of descriptors" % used)
            lines = m.log_text(since=mark).count("\n")
            self.assertLess(lines, 20, "log grew by %d lines in 3 s:\n%s"
                            % (lines, m.log_tail(2000)))
            total = len(re.findall(r"event=accept_(?:paused|error)\b",
                                   m.log_text(current_run=True)))
            self.assertLessEqual(total, 2, m.log_tail(2000))
            # The open session is still served.
            self.assertEqual(s.cmd("NOOP").code, 250)
        finally:
            for c in flood:
                c.close()
        # Descriptors free again: a new client is served by itself.
        tag = "fd%d" % os.getpid()
        deadline = time.monotonic() + 10
        while True:
            try:
                r = smtp_send(m.port, SENDER, ["after@example.org"], message(tag))
                break
            except (OSError, Exception):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertIsNotNone(r.queue_id)
        up.wait_for(1, 15, pred=tagged(tag))
        self.assertEqual(s.cmd("QUIT").code, 221)


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


@unittest.skipUnless(os.path.exists(FAKETIME_LIB), "libfaketime not installed")
class FaultClockTest(MailholdTestCase):
    """The wall clock steps while a message is held (libfaketime: the
    offset is read from a file at every call, so the test can step it;
    the monotonic clock is left alone, as an NTP step would)."""

    def start(self, hold):
        self.up = PostfixUpstream()
        self.addCleanup(self.up.close)
        fd, self.ftfile = tempfile.mkstemp(prefix="mhtest-ft-")
        os.close(fd)
        self.addCleanup(os.unlink, self.ftfile)
        self.step("+0")
        env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": self.ftfile,
               "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1",
               # An ASan build wants its runtime first; the preload is
               # harmless to it.
               "ASAN_OPTIONS": os.environ.get(
                   "ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
               + ":verify_asan_link_order=0"}
        return self.mailhold(upstream_port=self.up.port, env=env,
                             config={"hold": {"default": hold}})

    def step(self, offset):
        tmp = self.ftfile + ".new"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.rename(tmp, self.ftfile)

    def send_and_step(self, m, offset, tag):
        r = smtp_send(m.port, SENDER, ["clock@example.org"], message(tag))
        t0 = time.monotonic()
        m.wait_event("held", r.queue_id, timeout=5)
        time.sleep(1.0)
        self.step(offset)
        return r, t0

    def test_step_forward_a_day_keeps_the_hold(self):
        m = self.start("10s")
        tag = "fwd%d" % os.getpid()
        r, t0 = self.send_and_step(m, "+1d", tag)
        # Before: due at once (the stored due time is a day in the past).
        while time.monotonic() - t0 < 8.5:
            self.assertEqual(self.up.messages(), [], "relayed %.1f s into a 10 s "
                             "hold after the clock stepped forward a day"
                             % (time.monotonic() - t0))
            time.sleep(0.2)
        self.up.wait_for(1, 10, pred=tagged(tag))
        self.assertGreaterEqual(time.monotonic() - t0, 9.0)
        self.assertTrue(re.search(r"event=clock_step seconds=86\d\d\d ",
                                  m.log_text()), m.log_tail(3000))
        # A message accepted after the step is not moved again.
        tag2 = tag + "b"
        r2 = smtp_send(m.port, SENDER, ["clock2@example.org"], message(tag2))
        t1 = time.monotonic()
        self.up.wait_for(1, 20, pred=tagged(tag2))
        self.assertGreaterEqual(time.monotonic() - t1, 9.0)
        self.assertLess(time.monotonic() - t1, 16.0)
        m.wait_event("sent", r2.queue_id, timeout=5)

    def test_step_back_an_hour_not_stuck(self):
        m = self.start("6s")
        tag = "back%d" % os.getpid()
        r, t0 = self.send_and_step(m, "-1h", tag)
        # Before: it would wait an hour more.  After: its 6 s, no less.
        self.up.wait_for(1, 15, pred=tagged(tag))
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 5.0)
        self.assertLess(took, 12.0)
        m.wait_event("sent", r.queue_id, timeout=5)
        self.assertTrue(re.search(r"event=clock_step seconds=-3\d\d\d ",
                                  m.log_text()), m.log_tail(3000))


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class FaultPrivTest(MailholdTestCase):
    """Started as root with server.user: the daemon drops to that user
    before it serves anyone, and reloads still work."""

    def test_root_drops_to_server_user(self):
        import grp
        import pwd
        import shutil
        pw = pwd.getpwnam("nobody")
        gid = grp.getgrnam("nogroup").gr_gid
        up = PostfixUpstream()
        self.addCleanup(up.close)
        tmp = tempfile.mkdtemp(prefix="mhtest-priv-")
        self.addCleanup(shutil.rmtree, tmp, True)
        qdir = os.path.join(tmp, "q")
        os.mkdir(qdir, 0o700)
        os.chown(qdir, pw.pw_uid, gid)
        os.chmod(tmp, 0o755)
        m = self.mailhold(upstream_port=up.port, tmpdir=tmp, config={
            "server": {"user": "nobody", "group": "nogroup"},
            "queue": {"path": os.path.join(qdir, "queue.db")},
            "control": {"socket": os.path.join(qdir, "ctl.sock")}})
        m.wait_log(r"event=privileges_dropped user=nobody ", timeout=5)
        st = proc_status(m.pid)
        self.assertEqual(st["Uid"], [str(pw.pw_uid)] * 4, st["Uid"])
        self.assertEqual(st["Gid"], [str(gid)] * 4, st["Gid"])
        self.assertIn(st.get("Groups", []), ([], [str(gid)]), st.get("Groups"))
        self.assertEqual(st["CapEff"], ["0000000000000000"])
        # The queue's files are the user's.
        self.assertEqual(os.stat(m.queue_path).st_uid, pw.pw_uid)
        tag = "priv%d" % os.getpid()
        r = smtp_send(m.port, SENDER, ["priv@example.org"], message(tag))
        self.assertIsNotNone(r.queue_id)
        up.wait_for(1, 15, pred=tagged(tag))
        m.wait_event("sent", r.queue_id, timeout=5)
        mark = m.log_mark()
        os.kill(m.pid, signal.SIGHUP)
        m.wait_log(r"event=reload result=ok", timeout=5, since=mark)
        self.assertEqual(proc_status(m.pid)["Uid"], [str(pw.pw_uid)] * 4)
        tag2 = tag + "b"
        r = smtp_send(m.port, SENDER, ["priv2@example.org"], message(tag2))
        up.wait_for(1, 15, pred=tagged(tag2))

    def test_queue_not_writable_is_a_clear_error(self):
        import shutil
        tmp = tempfile.mkdtemp(prefix="mhtest-priv-")   # 0700, root's
        self.addCleanup(shutil.rmtree, tmp, True)
        m = Mailhold(tmpdir=tmp, config={"server": {"user": "nobody"}},
                     start=False)
        self.addCleanup(m.close)
        with self.assertRaises(MailholdError) as cm:
            m.start()
        self.assertIn("writable by server.user nobody", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
