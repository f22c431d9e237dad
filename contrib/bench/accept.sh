#!/usr/bin/env bash
# contrib/bench/accept.sh - acceptance benchmark: mailhold vs Debian Postfix
# (accepting into its hold queue), both loaded by Postfix's smtp-source, side
# by side, alternating, 3 rounds; 5 KB and 100 KB messages at 1, 10 and 50
# concurrent sessions.  Prints msg/s per run, medians and mailhold/Postfix.
#
#   contrib/bench/accept.sh                 # the full run (a few minutes)
#   contrib/bench/accept.sh --rounds 1 --sizes 5120:200 --sessions 1,10
#
# Needs root (private Postfix instance) and build/mailhold (built here if
# missing; MAILHOLD_BIN overrides).  Loopback only.  Not part of CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MAILHOLD_BIN:-$ROOT/build/mailhold}
if [ ! -x "$BIN" ]; then
	cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$ROOT/build" -j2 --target mailhold
fi
exec python3 "$ROOT/contrib/bench/accept.py" --bin "$BIN" "$@"
