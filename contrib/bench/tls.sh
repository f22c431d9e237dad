#!/usr/bin/env bash
# contrib/bench/tls.sh - TLS cost, mailhold beside Postfix's smtpd with the
# same certificate (a throwaway P-256 CA made with the openssl CLI):
#
#   1. full TLS handshakes per second on the implicit-TLS listener (465
#      style; Postfix: smtpd_tls_wrappermode=yes), driven by
#      `openssl s_time -new` (one client process, no resumption), 3 rounds
#      alternating, medians;
#   2. memory per idle TLS session: 1,000 sessions that finished the
#      handshake and read the 220 greeting; mailhold: VmRSS delta of the
#      daemon; Postfix: the delta of the summed PSS (and RSS) of all the
#      instance's processes (one smtpd per session).
#
#   contrib/bench/tls.sh [--seconds 5] [--rounds 3] [--sessions 1000]
#
# Uses build/mailhold (built here if missing; MAILHOLD_BIN overrides).
# Needs root (a private Postfix instance).  Loopback only.  Not in CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MAILHOLD_BIN:-$ROOT/build/mailhold}
if [ ! -x "$BIN" ]; then
	cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$ROOT/build" -j2 --target mailhold
fi
exec python3 "$ROOT/contrib/bench/tls.py" --bin "$BIN" "$@"
