#!/usr/bin/env python3
"""Acceptance benchmark driver (run it through contrib/bench/accept.sh).

Postfix's smtp-source is the load generator.  It runs against two servers
side by side in one run:

  mailhold  build/mailhold, hold 1h (nothing is relayed during the run; its
            upstream points at an unused port), fresh queue for every run;
  postfix   a private Debian Postfix (tests/integration/upstream.py) that
            puts every accepted message in its hold queue (check_client_access
            static:HOLD; nothing is delivered), emptied between runs.

For each message size (5 KB, 100 KB) and concurrency (1, 10, 50 sessions) it
alternates the two servers (mailhold first in odd rounds, Postfix first in
even rounds), repeats for 3 rounds, and prints messages/s per run, the
medians and the ratio mailhold/Postfix of the medians.

    smtp-source -s SESSIONS -m MESSAGES -l BYTES -f FROM -t TO 127.0.0.1:PORT

smtp-source opens one connection per message (no -d) and speaks HELO.
Both servers and the load generator share this machine's cores, and a single
run on a shared 2-core machine can be off by +-40 %: read the medians and the
ratio, not one absolute number.  Postfix restarts each smtpd after max_use
(100) connections, and in hold mode its in_flow_delay is 0 (see upstream.py).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import Mailhold  # noqa: E402
from upstream import PostfixUpstream, free_port  # noqa: E402

FROM = "bench@example.com"
TO = "rcpt@example.org"


def parse_sizes(s):
    """"5120:2000,102400:500" -> [(5120, 2000), (102400, 500)]"""
    out = []
    for part in s.split(","):
        size, count = part.split(":")
        out.append((int(size), int(count)))
    return out


class MailholdTarget:
    name = "mailhold"

    def __init__(self, binary):
        self.m = Mailhold(binary=binary, start=False, nofile=65536, config={
            "limits": {"max_sessions": 5000, "max_sessions_per_ip": 5000},
            "hold": {"default": "1h"},
            "upstream": {"port": free_port()},      # nothing listens there
            "log": {"level": "info"},
        })

    def reset(self):
        """Fresh daemon and an empty queue for every run."""
        if self.m.running:
            self.m.stop()
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(self.m.queue_path + suffix)
            except FileNotFoundError:
                pass
        self.m.start()
        self.mark = self.m.log_mark()

    @property
    def port(self):
        return self.m.port

    def accepted(self):
        return len(self.m.event_re("received").findall(self.m.log_text(since=self.mark)))

    def close(self):
        self.m.close()
        self.m.remove_tmp()


class PostfixTarget:
    name = "postfix"

    def __init__(self):
        self.pf = PostfixUpstream(hold_all=True)

    def reset(self):
        self.pf.flush_hold()
        self.pf.wait_idle(30)

    @property
    def port(self):
        return self.pf.port

    def accepted(self):
        self.pf.wait_idle(30)
        return self.pf.held_count()

    def close(self):
        self.pf.close()


def run_one(target, sessions, count, size, timeout):
    target.reset()
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size),
           "-f", FROM, "-t", TO, "127.0.0.1:%d" % target.port]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    got = target.accepted()
    note = ""
    if p.returncode != 0 or got != count:
        note = " (rc=%d, accepted %d of %d: %s)" % (p.returncode, got, count,
                                                   (p.stderr or p.stdout).strip()[:200])
    return count / elapsed, elapsed, note


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("MAILHOLD_BIN",
                                                    os.path.join(REPO, "build", "mailhold")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sessions", default="1,10,50")
    ap.add_argument("--sizes", default="5120:2000,102400:500",
                    help="BYTES:MESSAGES,... (default %(default)s)")
    ap.add_argument("--timeout", type=int, default=300, help="per smtp-source run")
    a = ap.parse_args()
    if not shutil.which("smtp-source"):
        sys.exit("accept: smtp-source not found (apt-get install postfix)")
    if not os.access(a.bin, os.X_OK):
        sys.exit("accept: %s is not built" % a.bin)
    sessions = [int(x) for x in a.sessions.split(",")]
    sizes = parse_sizes(a.sizes)

    print("accept: mailhold %s vs Debian Postfix (hold queue), %d rounds, %d cores"
          % (a.bin, a.rounds, os.cpu_count()))
    print("accept: load generator smtp-source shares the cores with both servers")
    mh = MailholdTarget(a.bin)
    pf = PostfixTarget()
    rates = {}          # (size, sessions, name) -> [msg/s per round]
    t_start = time.monotonic()
    try:
        for rnd in range(1, a.rounds + 1):
            order = [mh, pf] if rnd % 2 else [pf, mh]
            for size, count in sizes:
                for s in sessions:
                    for t in order:
                        rate, elapsed, note = run_one(t, s, count, size, a.timeout)
                        rates.setdefault((size, s, t.name), []).append(rate)
                        print("round %d  %6d B  -s %-3d -m %-5d %-8s %8.1f msg/s  (%.2f s)%s"
                              % (rnd, size, s, count, t.name, rate, elapsed, note),
                              flush=True)
    finally:
        mh.close()
        pf.close()

    print()
    print("%-9s %-8s %14s %14s %16s" % ("size", "sessions", "mailhold msg/s",
                                         "postfix msg/s", "ratio mh/postfix"))
    for size, _count in sizes:
        for s in sessions:
            a_m = statistics.median(rates[(size, s, "mailhold")])
            a_p = statistics.median(rates[(size, s, "postfix")])
            print("%-9s %-8d %14.1f %14.1f %16.2f"
                  % ("%d KB" % (size // 1024), s, a_m, a_p, a_m / a_p if a_p else 0))
    print("(medians of %d rounds; whole run %.0f s)" % (a.rounds, time.monotonic() - t_start))


if __name__ == "__main__":
    main()
