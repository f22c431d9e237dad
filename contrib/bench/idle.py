#!/usr/bin/env python3
"""Memory benchmark driver (run it through contrib/bench/idle.sh).

1. Starts build/mailhold (hold 1h, upstream on an unused port), reads its
   VmRSS from /proc/PID/status, opens N (default 1000) idle plaintext
   sessions that each read the 220 banner, reads VmRSS again and reports
   the growth per session.
2. Closes them, then submits one M MB (default 50) message with smtplib while
   sampling VmRSS every 10 ms, and reports the peak growth over the RSS
   before the message (limits.memory_per_message is 256k: the body should
   spill to a file, not stay in memory).
"""

import argparse
import os
import resource
import smtplib
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import Mailhold  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settle_rss(pid, secs=1.0):
    time.sleep(secs)
    return rss_kb(pid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("MAILHOLD_BIN",
                                                    os.path.join(REPO, "build", "mailhold")))
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--message-mb", type=int, default=50)
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit("idle: %s is not built" % a.bin)

    need = a.sessions + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (need if hard == resource.RLIM_INFINITY else min(need, hard), hard))

    size_limit = "%dM" % (max(64, a.message_mb * 2))
    m = Mailhold(binary=a.bin, nofile=max(4096, need * 2), config={
        "limits": {"max_sessions": a.sessions + 100, "max_sessions_per_ip": a.sessions + 100,
                   "message_size": size_limit},
        "hold": {"default": "1h"},
    })
    socks = []
    try:
        pid = m.pid
        base = settle_rss(pid)
        print("idle: mailhold %s pid %d" % (a.bin, pid))
        print("idle: RSS at start               %8d kB" % base)
        t0 = time.monotonic()
        for i in range(a.sessions):
            s = socket.create_connection(("127.0.0.1", m.port), timeout=10)
            socks.append(s)
        for s in socks:
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = s.recv(512)
                if not chunk:
                    raise SystemExit("idle: session closed before the banner: %r" % buf)
                buf += chunk
            if not buf.startswith(b"220"):
                raise SystemExit("idle: not a 220 banner: %r" % buf)
        opened = time.monotonic() - t0
        after = settle_rss(pid)
        per = (after - base) * 1024.0 / a.sessions
        print("idle: RSS with %d idle sessions %8d kB   (+%d kB, %.0f bytes/session; "
              "opened in %.2f s)" % (a.sessions, after, after - base, per, opened))
        for s in socks:
            s.close()
        socks = []
        before = settle_rss(pid)

        # One big message, RSS sampled while it is received and committed.
        line = b"X" * 76 + b"\r\n"
        body = line * (a.message_mb * 1024 * 1024 // len(line))
        data = (b"From: <bench@example.com>\r\nTo: <rcpt@example.org>\r\n"
                b"Subject: big\r\n\r\n" + body)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_kb(pid))
                except OSError:
                    break
                time.sleep(0.01)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t0 = time.monotonic()
        with smtplib.SMTP("127.0.0.1", m.port, timeout=300) as c:
            c.sendmail("bench@example.com", ["rcpt@example.org"], data)
        took = time.monotonic() - t0
        done.set()
        th.join()
        end = settle_rss(pid)
        print("idle: RSS before the %d MB message %7d kB" % (len(data) >> 20, before))
        print("idle: RSS peak while receiving    %8d kB   (+%d kB; accepted in %.2f s)"
              % (peak[0], peak[0] - before, took))
        print("idle: RSS after                   %8d kB   (+%d kB)" % (end, end - before))
    finally:
        for s in socks:
            s.close()
        m.stop(expect_rc=None)
        m.close()
        m.remove_tmp()


if __name__ == "__main__":
    main()
