#!/usr/bin/env bash
# contrib/bench/memory.sh - memory over time (issue 16): N messages (default
# 200,000) through mailhold to Postfix's smtp-sink, printing the daemon's
# resident size after every step (default 20,000).  See memory.py.
#
#   contrib/bench/memory.sh                       # 200,000 in steps of 20,000
#   contrib/bench/memory.sh -n 20000 --step 2000  # a shorter run
#
# Needs build/mailhold (built here if missing; MAILHOLD_BIN overrides) and
# smtp-sink/smtp-source (Debian postfix).  Loopback only.  Not part of CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MAILHOLD_BIN:-$ROOT/build/mailhold}
if [ ! -x "$BIN" ]; then
	cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$ROOT/build" -j2 --target mailhold
fi
exec python3 "$ROOT/contrib/bench/memory.py" --bin "$BIN" "$@"
