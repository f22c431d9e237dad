#!/usr/bin/env python3
"""Memory over time (issue 16; run it through contrib/bench/memory.sh).

mailhold (hold 0) relays everything to Postfix's smtp-sink, which accepts
and discards; smtp-source is the load generator.  Messages go in steps
(--step, default 20,000); after each step the driver waits until the relay
has sent them all (mailhold_messages_sent_total) and prints the daemon's
VmRSS and VmHWM from /proc.  With --retention 1s the sent rows are purged
as they go, as on a long-running server.  A resident size that keeps
climbing from step to step is a leak; the issue's bar is the size after
200,000 messages within a few MB of that after 20,000.

    smtp-source -s SESSIONS -m STEP -l BYTES -f FROM -t TO 127.0.0.1:PORT

Loopback only.  Not part of CI.
"""

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import Mailhold  # noqa: E402
from upstream import free_port  # noqa: E402


def proc_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        for line in c.getresponse().read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    finally:
        c.close()
    return 0.0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("MAILHOLD_BIN")
                    or os.path.join(REPO, "build", "mailhold"))
    ap.add_argument("-n", "--messages", type=int, default=200000)
    ap.add_argument("--step", type=int, default=20000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=2048, help="message bytes")
    ap.add_argument("--retention", default="1s", help="queue.retention")
    a = ap.parse_args(argv)
    for tool in ("smtp-sink", "smtp-source"):
        if not shutil.which(tool):
            sys.exit("memory: %s not found (Debian package postfix)" % tool)
    sink_port = free_port()
    # As root, smtp-sink wants a user to run as (-u).
    sink = subprocess.Popen(["smtp-sink"] + (["-u", "nobody"] if os.geteuid() == 0 else [])
                            + ["-c", "127.0.0.1:%d" % sink_port, "256"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = Mailhold(upstream_port=sink_port, binary=os.path.abspath(a.bin), config={
        "hold": {"default": "0"},
        "queue": {"retention": a.retention},
        "upstream": {"max_connections": 4},
        "policy": {"rules": {"burst": {"enabled": False},
                             "first_time_recipient": {"enabled": False}}},
    })
    if sink.poll() is not None:
        sys.exit("memory: smtp-sink exited at once")
    mport = int(m.config["metrics"]["port"])
    def wal_kb():
        try:
            return os.path.getsize(m.queue_path + "-wal") // 1024
        except OSError:
            return 0
    print("%10s %10s %10s %8s %6s %8s" % ("messages", "rss_kB", "hwm_kB", "seconds", "msg/s",
                                          "wal_kB"), flush=True)
    print("%10d %10d %10d %8.0f %6s %8d" % (0, proc_kb(m.pid, "VmRSS"), proc_kb(m.pid, "VmHWM"),
                                            0, "", wal_kb()), flush=True)
    t0 = time.monotonic()
    sent = 0
    try:
        while sent < a.messages:
            n = min(a.step, a.messages - sent)
            ts = time.monotonic()
            subprocess.run(["smtp-source", "-s", str(a.sessions), "-m", str(n),
                            "-l", str(a.size), "-f", "sender@example.com",
                            "-t", "rcpt@example.org", "127.0.0.1:%d" % m.port],
                           check=True, stdout=subprocess.DEVNULL)
            sent += n
            while metric(mport, "mailhold_messages_sent_total") < sent:
                if not m.running:
                    sys.exit("memory: mailhold died:\n" + m.log_tail())
                time.sleep(0.5)
            dt = time.monotonic() - ts
            print("%10d %10d %10d %8.0f %6.0f %8d" % (sent, proc_kb(m.pid, "VmRSS"),
                                                      proc_kb(m.pid, "VmHWM"),
                                                      time.monotonic() - t0, n / dt,
                                                      wal_kb()), flush=True)
        m.stop()
    finally:
        m.close()
        sink.terminate()
        sink.wait(10)
        if not os.environ.get("MH_KEEP_TMP"):
            m.remove_tmp()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
