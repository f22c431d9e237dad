#!/usr/bin/env python3
"""HTTP GET throughput driver (run it through contrib/bench/web.sh).

Loads one URL (mailhold's page, http or https) with GET requests over
keep-alive connections and prints requests/s per run, latency (p50/p99),
errors, and the medians over the rounds.  With --peer-url (or PEER_URL) it
loads a second URL side by side in the same run, alternating the two
(mailhold first in odd rounds, the peer first in even rounds), and prints
the ratio mailhold/peer of the medians.

Load tool: wrk (Debian package wrk; HTTP/1.1 keep-alive, --latency) if it
is installed, else ab (apache2-utils; -k for keep-alive).  LOAD_TOOL=wrk|ab
chooses.  wrk runs with WRK_THREADS threads (default 1, never more than the
connections): this machine has 2 cores, and the load tool shares them with
the server under test, so a second wrk thread takes a core from the server.
Read the medians and the ratio, not one absolute number: a single run on a
shared 2-core machine can be off by +-40 %.

Only loopback targets (127.0.0.0/8, ::1) are accepted.  Every run is
bounded (SECONDS + 30 s).
"""

import argparse
import ipaddress
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def loopback_only(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        sys.exit("web: not an http(s) URL: %s" % url)
    try:
        infos = socket.getaddrinfo(u.hostname, u.port or (443 if u.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except OSError as e:
        sys.exit("web: cannot resolve %s: %s" % (u.hostname, e))
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if not addr.is_loopback:
            sys.exit("web: %s resolves to %s: only loopback targets are allowed" % (url, addr))


def probe(url):
    """One GET: (status, bytes, content-type); https certificates are not
    verified (a test certificate)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url, headers={"User-Agent": "mailhold-bench-web"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            body = r.read()
            return r.status, len(body), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, len(e.read() or b""), e.headers.get("Content-Type", "")
    except (OSError, ValueError) as e:
        sys.exit("web: GET %s failed: %s" % (url, e))


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url, conns, seconds, threads):
    t = max(1, min(threads, conns))
    cmd = ["wrk", "-t", str(t), "-c", str(conns), "-d", "%ds" % seconds,
           "--latency", "--timeout", "5s", url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30,
                       stdin=subprocess.DEVNULL)
    out = p.stdout
    r = {"rps": None, "p50": None, "p99": None, "errors": "", "cmd": " ".join(cmd)}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, out, re.M)
        if m:
            r[key] = _ms(m.group(1), m.group(2))
    errs = []
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        errs.append("socket errors: " + m.group(1).strip())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs.append("non-2xx/3xx: " + m.group(1))
    if p.returncode != 0 or r["rps"] is None:
        errs.append("wrk exit %d: %s" % (p.returncode, (p.stderr or out).strip()[:200]))
    r["errors"] = "; ".join(errs)
    return r


def run_ab(url, conns, seconds, _threads):
    # -t first: it implies -n 50000, which the -n after it lifts.
    cmd = ["ab", "-k", "-q", "-r", "-s", "5", "-c", str(conns), "-t", str(seconds),
           "-n", "100000000", url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30,
                       stdin=subprocess.DEVNULL)
    out = p.stdout
    r = {"rps": None, "p50": None, "p99": None, "errors": "", "cmd": " ".join(cmd)}
    m = re.search(r"Requests per second:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+(\d+)\s*$" % pct, out, re.M)
        if m:
            r[key] = float(m.group(1))       # ab: whole milliseconds
    errs = []
    m = re.search(r"Failed requests:\s+(\d+)", out)
    if m and m.group(1) != "0":
        errs.append("failed: " + m.group(1))
    m = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if m:
        errs.append("non-2xx: " + m.group(1))
    if p.returncode != 0 or r["rps"] is None:
        errs.append("ab exit %d: %s" % (p.returncode, (p.stderr or out).strip()[:200]))
    r["errors"] = "; ".join(errs)
    return r


def fmt_ms(v):
    return "%7.2f ms" % v if v is not None else "      - ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("seconds", nargs="?", type=int, default=10, help="per run (default 10)")
    ap.add_argument("connections", nargs="?", default="1,10,50",
                    help="comma-separated list (default 1,10,50)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")))
    ap.add_argument("--peer-url", default=os.environ.get("PEER_URL") or None)
    ap.add_argument("--tool", default=os.environ.get("LOAD_TOOL") or None,
                    choices=("wrk", "ab"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("WRK_THREADS", "1")),
                    help="wrk threads (default 1; WRK_THREADS)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per URL")
    a = ap.parse_args()

    conns = [int(x) for x in str(a.connections).split(",") if x.strip()]
    if not conns or min(conns) < 1 or max(conns) > 1000:
        sys.exit("web: connections must be 1..1000")
    if not 1 <= a.seconds <= 600 or not 1 <= a.rounds <= 20:
        sys.exit("web: seconds must be 1..600 and rounds 1..20")
    tool = a.tool or ("wrk" if shutil.which("wrk") else "ab" if shutil.which("ab") else None)
    if not tool or not shutil.which(tool):
        sys.exit("web: no load tool: apt-get install wrk (or apache2-utils for ab)"
                 " - contrib/setup-deps.sh installs wrk")
    runner = run_wrk if tool == "wrk" else run_ab

    targets = [("mailhold", a.url)]
    if a.peer_url:
        targets.append(("peer", a.peer_url))
    for _name, url in targets:
        loopback_only(url)
    for name, url in targets:
        status, size, ctype = probe(url)
        print("web: %-8s %s -> HTTP %d, %d bytes, %s" % (name, url, status, size, ctype or "-"))
        if status != 200:
            sys.exit("web: %s answers HTTP %d, not 200: nothing meaningful to measure"
                     % (url, status))

    total = a.rounds * len(conns) * len(targets) * a.seconds + a.warmup * len(targets)
    print("web: %s%s, %d rounds x %s connections x %d s (about %d s), keep-alive, %d cores"
          % (tool, " -t %d" % a.threads if tool == "wrk" else "", a.rounds,
             ",".join(map(str, conns)), a.seconds, total, os.cpu_count()))
    print("web: the load tool shares the cores with the server(s) under test; "
          "read medians and ratios")
    sys.stdout.flush()

    if a.warmup > 0:
        for _name, url in targets:
            runner(url, min(10, max(conns)), a.warmup, a.threads)

    res = {}            # (conns, name) -> [run dicts]
    t_start = time.monotonic()
    for rnd in range(1, a.rounds + 1):
        order = targets if rnd % 2 else list(reversed(targets))
        for c in conns:
            for name, url in order:
                r = runner(url, c, a.seconds, a.threads)
                res.setdefault((c, name), []).append(r)
                rps = "%10.1f" % r["rps"] if r["rps"] is not None else "%10s" % "-"
                print("round %d  -c %-4d %-8s %s req/s  p50 %s  p99 %s%s"
                      % (rnd, c, name, rps, fmt_ms(r["p50"]), fmt_ms(r["p99"]),
                         "  (" + r["errors"] + ")" if r["errors"] else ""), flush=True)

    def med(c, name, key):
        vals = [r[key] for r in res[(c, name)] if r[key] is not None]
        return statistics.median(vals) if vals else None

    print()
    head = "%-6s %14s %11s %11s" % ("conns", "mailhold req/s", "p50", "p99")
    if a.peer_url:
        head += " %12s %11s %11s %14s" % ("peer req/s", "p50", "p99", "ratio mh/peer")
    print(head)
    bad = False
    for c in conns:
        m = med(c, "mailhold", "rps")
        line = "%-6d %14s %s %s" % (c, "%.1f" % m if m is not None else "-",
                                     fmt_ms(med(c, "mailhold", "p50")),
                                     fmt_ms(med(c, "mailhold", "p99")))
        bad |= m is None
        if a.peer_url:
            pm = med(c, "peer", "rps")
            bad |= pm is None
            ratio = "%.2f" % (m / pm) if m and pm else "-"
            line += " %12s %s %s %14s" % ("%.1f" % pm if pm is not None else "-",
                                          fmt_ms(med(c, "peer", "p50")),
                                          fmt_ms(med(c, "peer", "p99")), ratio)
        print(line)
    errors = sum(1 for runs in res.values() for r in runs if r["errors"])
    print("(medians of %d rounds; %s; %d run(s) with errors; whole run %.0f s)"
          % (a.rounds, tool, errors, time.monotonic() - t_start))
    if a.peer_url:
        print("(peer: %s)" % a.peer_url)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
