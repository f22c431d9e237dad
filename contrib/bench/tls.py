#!/usr/bin/env python3
"""TLS benchmark driver (run it through contrib/bench/tls.sh).

Handshakes per second (openssl s_time -new against the implicit-TLS port)
and memory per idle TLS session, for mailhold and for Postfix's smtpd with
the same certificate and key, side by side.
"""

import argparse
import os
import re
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import Mailhold  # noqa: E402
from upstream import PostfixUpstream  # noqa: E402
from test_tls_auth import PKI  # noqa: E402


def s_time(port, seconds, ca):
    """Full handshakes per second, one s_time client."""
    r = subprocess.run(["openssl", "s_time", "-connect", "127.0.0.1:%d" % port,
                        "-new", "-time", str(seconds), "-CAfile", ca],
                       capture_output=True, text=True, timeout=seconds + 60,
                       stdin=subprocess.DEVNULL)
    m = re.search(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec",
                  r.stdout)
    if not m:
        raise SystemExit("s_time failed:\n%s%s" % (r.stdout, r.stderr))
    return int(m.group(1)) / float(seconds)


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def postfix_pids(config_dir):
    want = b"MAIL_CONFIG=" + config_dir.encode()
    pids = []
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % ent, "rb") as f:
                if want in f.read().split(b"\0"):
                    pids.append(int(ent))
        except OSError:
            continue
    return pids


def postfix_mem(up):
    pids = postfix_pids(up.config_dir)
    return (sum(pss_kb(p) for p in pids), sum(status_kb(p, "VmRSS") for p in pids),
            len(pids))


def open_idle(port, n, ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    socks = []
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        s = ctx.wrap_socket(raw)
        socks.append(s)
    for s in socks:
        buf = b""
        while not buf.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                raise SystemExit("tls: closed before the greeting: %r" % buf)
            buf += chunk
        if not buf.startswith(b"220"):
            raise SystemExit("tls: not a 220 greeting: %r" % buf)
    return socks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "mailhold"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=1000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("tls: needs root (a private Postfix instance)")
    need = a.sessions * 2 + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (need if hard == resource.RLIM_INFINITY else min(need, hard), hard))

    tmp = tempfile.mkdtemp(prefix="mhbench-tls-")
    pki = PKI(tmp)
    cert, key = pki.server("server", "bench.test")
    m = Mailhold(binary=a.bin, nofile=max(4096, need * 2), config={
        "server": {"listeners": [{"address": "127.0.0.1", "port": 0, "mode": "tls"}]},
        "tls": {"cert_file": cert, "key_file": key},
        "limits": {"max_sessions": a.sessions + 100,
                   "max_sessions_per_ip": a.sessions + 100},
        "hold": {"default": "1h"},
        # info, like Postfix's maillog: one connect/close line each.
        "log": {"level": "info"},
    })
    up = PostfixUpstream(tls_cert=cert, tls_key=key, tls_wrapper=True, extra_main={
        "default_process_limit": str(a.sessions + 100),
        "smtpd_client_connection_count_limit": "0",
        "smtpd_client_connection_rate_limit": "0",
        "smtpd_tls_loglevel": "0",
    })
    try:
        print("tls: mailhold %s (pid %d), implicit TLS on port %d" % (a.bin, m.pid, m.port))
        print("tls: postfix %s, wrappermode on port %d" % (up.dir, up.wrapper_port))
        print("tls: openssl %s" % ssl.OPENSSL_VERSION)
        hs = {"mailhold": [], "postfix": []}
        for r in range(a.rounds):
            for name, port in (("mailhold", m.port), ("postfix", up.wrapper_port)):
                v = s_time(port, a.seconds, pki.ca)
                hs[name].append(v)
                print("tls: round %d %-8s %7.1f handshakes/s" % (r + 1, name, v))
        mh, pf = statistics.median(hs["mailhold"]), statistics.median(hs["postfix"])
        print("tls: handshakes/s median  mailhold %.1f  postfix %.1f  ratio %.2f"
              % (mh, pf, mh / pf if pf else 0))

        # Memory per idle TLS session.
        time.sleep(1)
        base = status_kb(m.pid, "VmRSS")
        socks = open_idle(m.port, a.sessions, pki.ca)
        time.sleep(1)
        after = status_kb(m.pid, "VmRSS")
        for s in socks:
            s.close()
        socks = []
        print("tls: mailhold RSS %d kB -> %d kB with %d idle TLS sessions: "
              "%.1f kB/session" % (base, after, a.sessions,
                                   (after - base) / float(a.sessions)))
        time.sleep(2)
        p0, r0, n0 = postfix_mem(up)
        socks = open_idle(up.wrapper_port, a.sessions, pki.ca)
        time.sleep(1)
        p1, r1, n1 = postfix_mem(up)
        for s in socks:
            s.close()
        print("tls: postfix PSS %d kB -> %d kB (%d -> %d processes) with %d idle TLS "
              "sessions: %.1f kB/session PSS, %.1f kB/session RSS"
              % (p0, p1, n0, n1, a.sessions, (p1 - p0) / float(a.sessions),
                 (r1 - r0) / float(a.sessions)))
    finally:
        m.close()
        up.close()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        m.remove_tmp()


if __name__ == "__main__":
    main()
