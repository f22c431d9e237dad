#!/bin/sh
# Crash torture, the long variant of test_core.CrashTortureTest (issue 16):
# clients submit without pause while mailhold is killed with SIGKILL at
# random moments and restarted on the same queue; prints the lost and
# duplicated counts and exits 1 if a message that got a 250 was lost.
#
#   contrib/torture.sh [--kills N] [--duration SECONDS] [--clients N]
#                      [--connections N] [--pause S] [--hold DURATION]
#                      [--seed N]
#
# MAILHOLD_BIN picks the binary (default build/mailhold).  Loopback only:
# the upstream is tests/integration/fakesmtp.py, which records every
# delivery, duplicates included.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
: "${MAILHOLD_BIN:=$here/build/mailhold}"
export MAILHOLD_BIN
exec python3 "$here/tests/integration/torture.py" "$@"
