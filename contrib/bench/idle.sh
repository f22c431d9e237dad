#!/usr/bin/env bash
# contrib/bench/idle.sh - mailhold's resident memory: 1,000 idle plaintext
# sessions (each has read the 220 banner) and one 50 MB message, read from
# /proc/PID/status VmRSS before and after.
#
#   contrib/bench/idle.sh [--sessions 1000] [--message-mb 50]
#
# Uses build/mailhold (built here if missing; MAILHOLD_BIN overrides).
# Loopback only.  Not part of CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MAILHOLD_BIN:-$ROOT/build/mailhold}
if [ ! -x "$BIN" ]; then
	cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$ROOT/build" -j2 --target mailhold
fi
exec python3 "$ROOT/contrib/bench/idle.py" --bin "$BIN" "$@"
