#!/usr/bin/env bash
# contrib/bench/policy.sh - build contrib/bench/policy_bench.c against the
# mh_policy library (Release build) and run it: the time to evaluate one
# message with 1,000 recipients against 10,000 known domains, median of
# repeated runs.  Extra arguments go to policy_bench (-k KNOWN -r RCPTS
# -n RUNS).
#
#   contrib/bench/policy.sh
#   contrib/bench/policy.sh -k 50000 -r 5000 -n 21
#
# Builds in build-bench/ (BUILD overrides).  Not part of CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
CC=${CC:-cc}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMH_TESTS=OFF \
	>/dev/null
cmake --build "$BUILD" -j2 --target mh_policy >/dev/null
# shellcheck disable=SC2046  # pkg-config output is a list of flags
"$CC" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$ROOT/policy" \
	"$ROOT/contrib/bench/policy_bench.c" "$BUILD/libmh_policy.a" \
	$(pkg-config --libs libidn2) -o "$BUILD/policy_bench"
exec "$BUILD/policy_bench" "$@"
