#!/usr/bin/env bash
# contrib/fuzz.sh - long fuzzing: runs each libFuzzer target for a while on
# its corpus, keeps what adds coverage, and keeps every crash as a
# regression input.  Not part of CI (the corpora are replayed there).
#
#   contrib/fuzz.sh                      # every target, 30 minutes each
#   contrib/fuzz.sh --minutes 5 dot web  # some targets, 5 minutes each
#   contrib/fuzz.sh --jobs 2             # two targets at a time
#
# Builds build-fuzz/ with clang (-DMH_FUZZ=ON: libFuzzer, ASan, UBSan,
# the libraries instrumented too).  For each target NAME:
#   - runs tests/fuzz/fuzz_NAME on a scratch copy of tests/fuzz/corpus/NAME
#     with -max_total_time, 64 KiB inputs at most, no network (the targets
#     do no I/O);
#   - merges the new inputs into tests/fuzz/corpus/NAME (-merge=1: only
#     those that add coverage), so `git status` shows what to commit;
#   - copies each crash, leak or timeout to tests/fuzz/corpus/NAME/ as
#     crash-<sha1>, where the normal test run replays it from then on
#     (it fails there until the bug is fixed: fix it, keep the input);
#   - prints a line: target, seconds, executions, coverage, features,
#     corpus size before and after, crashes.
# Logs: build-fuzz/logs/NAME.log.  Exit status 1 when anything crashed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MINUTES=30
JOBS=1
targets=()
while (($#)); do
	case $1 in
	--minutes) MINUTES=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
case $MINUTES in ''|*[!0-9]*) echo "fuzz.sh: --minutes N" >&2; exit 2 ;; esac
case $JOBS in ''|*[!0-9]*|0) echo "fuzz.sh: --jobs N (N >= 1)" >&2; exit 2 ;; esac
if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz.sh: needs clang (contrib/setup-deps.sh installs it)" >&2
	exit 2
fi

BUILD=$ROOT/build-fuzz
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DMH_FUZZ=ON -DMH_TESTS=OFF >/dev/null
if ((${#targets[@]} == 0)); then
	for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
		n=$(basename "$src" .c)
		targets+=("${n#fuzz_}")
	done
fi
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
mkdir -p "$BUILD/logs"

# fuzz_one NAME: one target; prints its summary line; returns 1 on a crash.
fuzz_one() {
	local name=$1 corpus=$ROOT/tests/fuzz/corpus/$1 bin=$BUILD/fuzz_$1
	local work log=$BUILD/logs/$1.log before after crashes=0 f sum
	work=$(mktemp -d "${TMPDIR:-/tmp}/mh-fuzz-$name.XXXXXX")
	mkdir -p "$corpus" "$work/corpus" "$work/art"
	find "$corpus" -maxdepth 1 -type f -exec cp -p {} "$work/corpus/" \;
	before=$(find "$corpus" -type f | wc -l)
	# -fork keeps going after a crash; each crash lands in art/.
	"$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
		-max_total_time=$((MINUTES * 60)) -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix="$work/art/" \
		-print_final_stats=1 "$work/corpus" >"$log" 2>&1 || true
	"$bin" -merge=1 "$corpus" "$work/corpus" >>"$log" 2>&1 || true
	for f in "$work"/art/*; do
		[ -f "$f" ] || continue
		sum=$(sha1sum "$f" | cut -c1-16)
		cp "$f" "$corpus/crash-$sum"
		crashes=$((crashes + 1))
	done
	after=$(find "$corpus" -type f | wc -l)
	awk -v n="$name" -v m="$MINUTES" -v b="$before" -v a="$after" -v c="$crashes" '
		# The fork-mode status lines ("#N: cov: C ft: F ..."), the
		# last one; the merge that follows prints its own, not these.
		/^#[0-9]+: cov: / { ex = substr($1, 2, length($1) - 2)
			for (i = 2; i <= NF; i++) {
				if ($i == "cov:") cov = $(i + 1)
				if ($i == "ft:") ft = $(i + 1) } }
		END { printf "fuzz: %-12s %4d min  execs %-10s cov %-6s ft %-7s corpus %d -> %d  crashes %d\n",
			n, m, ex, cov, ft, b, a, c }' "$log"
	rm -rf "$work"
	((crashes == 0))
}

status=0
running=0
for t in "${targets[@]}"; do
	if [ ! -x "$BUILD/fuzz_$t" ]; then
		echo "fuzz.sh: no target fuzz_$t" >&2
		status=1
		continue
	fi
	fuzz_one "$t" &
	running=$((running + 1))
	if ((running >= JOBS)); then
		wait -n || status=1
		running=$((running - 1))
	fi
done
while ((running > 0)); do
	wait -n || status=1
	running=$((running - 1))
done
if ((status != 0)); then
	echo "fuzz.sh: crashes kept as tests/fuzz/corpus/*/crash-*: fix them," \
		"then commit the inputs" >&2
fi
exit "$status"
