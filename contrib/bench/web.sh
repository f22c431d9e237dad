#!/usr/bin/env bash
# contrib/bench/web.sh - GET requests/s that a URL (mailhold's web page)
# serves: keep-alive connections, 3 rounds x SECONDS (default 10) at each of
# CONNECTIONS (default 1,10,50), with wrk (Debian package wrk, from
# contrib/setup-deps.sh; ab from apache2-utils if wrk is missing).  Prints
# req/s, p50 and p99 latency per run and the medians.
#
#   contrib/bench/web.sh URL [SECONDS] [CONNECTIONS]
#   contrib/bench/web.sh http://127.0.0.1:8025/m/TOKEN 10 1,10,50
#   PEER_URL=http://127.0.0.1:8080/page.html contrib/bench/web.sh URL
#
# Environment: PEER_URL  a second URL measured side by side in the same run,
#                        alternating rounds, with the ratio mailhold/peer
#                        (e.g. a copy of the page served by a private nginx or
#                        lighttpd on loopback: Debian has both, neither is
#                        installed by setup-deps; python3 -m http.server is
#                        no fair peer: HTTP/1.0, one connection per request);
#              ROUNDS (3), LOAD_TOOL=wrk|ab, WRK_THREADS (1).
#
# The load tool shares this machine's 2 cores with the server under test
# (and the peer): a run can be off by +-40 %; compare medians and ratios,
# not one absolute figure.  Loopback targets only.  Not part of CI.
# Try it on the stand-in page: python3 tests/browser/standin_server.py
# prints its URL (a Python server: its figures say nothing about mailhold).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	[ $# -ge 1 ] && exit 0
	exit 2
fi
exec python3 "$ROOT/contrib/bench/web.py" "$@"
