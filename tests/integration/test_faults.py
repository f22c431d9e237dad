"""Faults of the machine itself (issue 16, part B): out of file
descriptors, clock steps, privilege drop.

Each test starts its own daemon; every wait is bounded.
Run: MAILHOLD_BIN=$PWD/build/mailhold python3 tests/integration/harness.py -k Fault
"""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import MailholdTestCase, raw_session, smtp_send  # noqa: E402
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


if __name__ == "__main__":
    unittest.main()
