#!/usr/bin/env bash
# tests/run-all.sh - the one command that builds and runs every test.
#
#   1. configure + build  build/       (RelWithDebInfo)
#   2. configure + build  build-asan/  (-DMH_SANITIZE=ON: ASan + UBSan, Debug)
#   3. ctest in both: Check unit tests and fuzz-corpus replays
#   4. the Python integration tests (tests/integration) against
#      build-asan/mailhold and a private Postfix upstream per test class
#   5. the Debian package (tests/package/install-test.sh): build it, lintian,
#      install it, run the installed daemon as user mailhold in a network
#      namespace of its own, relay one message, purge, check what is left;
#      it counts as one test, and its trap purges the package whatever
#      happens
#
# The last line is always "N passed, N failed" (ctest tests + integration
# tests + the package test, plus one failure for each build step that
# failed).  Exit status is
# non-zero if anything failed or nothing ran.  Logs: tests/out/.
#
# Needs root (the integration tests run their own Postfix instances) and the
# packages from contrib/setup-deps.sh, which it runs first (it installs only
# what is missing).  Budget: well under 10 min on 2 cores.
#
# Environment: JOBS (default 2), MH_SKIP_DEPS=1 (do not run setup-deps.sh),
#              MH_SKIP_INTEGRATION=1 (unit tests only),
#              MH_SKIP_PACKAGE=1 (no package test),
#              MH_KEEP_TMP=1 (keep the integration tests' temp dirs).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
OUT=$ROOT/tests/out
mkdir -p "$OUT"
JOBS=${JOBS:-2}
START=$(date +%s)

passed=0
failed=0
problems=()

say()  { printf '\n=== run-all: %s\n' "$*"; }
fail() { printf '\n*** run-all: FAILED: %s\n' "$*" >&2; problems+=("$*"); }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# --- dependencies: the packages of contrib/setup-deps.sh --------------------
# Idempotent: it only checks when everything is there, and installs (apt,
# npm ci for the browser tests) what is missing, so this script works on
# its own on a fresh Debian 12.  MH_SKIP_DEPS=1 leaves the machine alone.
if [ "${MH_SKIP_DEPS:-0}" != 1 ]; then
	say "dependencies (contrib/setup-deps.sh)"
	if ! "$ROOT/contrib/setup-deps.sh" 2>&1 | tee "$OUT/setup-deps.log"; then
		fail "contrib/setup-deps.sh (see tests/out/setup-deps.log)"
		failed=$((failed + 1))
	fi
fi

# --- preflight: fail loudly on a machine that lacks the tools -------------
missing=()
for tool in cmake cc pkg-config python3 postfix postconf swaks; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	fail "missing tools: ${missing[*]} (run contrib/setup-deps.sh)"
	failed=$((failed + 1))
fi

# build NAME DIR CMAKE-ARGS...: configure and build, counting one failure if
# either step fails.  Builds with --keep-going so every target that can be
# built is built and ctest can still run what exists.
build() {
	local name=$1 dir=$2
	shift 2
	say "configure $name ($dir)"
	if ! cmake -S "$ROOT" -B "$ROOT/$dir" "$@" 2>&1 | tee "$OUT/$dir-configure.log"; then
		fail "cmake configure of $dir (see tests/out/$dir-configure.log)"
		failed=$((failed + 1))
		return 1
	fi
	say "build $name ($dir, -j$JOBS)"
	if ! cmake --build "$ROOT/$dir" -j"$JOBS" -- -k 2>&1 | tee "$OUT/$dir-build.log"; then
		fail "build of $dir (see tests/out/$dir-build.log)"
		failed=$((failed + 1))
	fi
	return 0
}

# run_ctest DIR: runs ctest, adds its counts, prints the Check summaries.
run_ctest() {
	local dir=$1 log=$OUT/$1-ctest.log summary p f t
	say "ctest in $dir"
	ctest --test-dir "$ROOT/$dir" -j"$JOBS" --output-on-failure --timeout 300 \
		2>&1 | tee "$log"
	# Check's own per-suite summaries ("100%: Checks: 12, Failures: 0, ...").
	if [ -f "$ROOT/$dir/Testing/Temporary/LastTest.log" ]; then
		echo "--- Check summaries ($dir):"
		awk '/^[0-9]+\/[0-9]+ Test: /{name=$3}
			/^[0-9]+%: Checks: [0-9]+/{printf "  %-24s %s\n", name, $0}' \
			"$ROOT/$dir/Testing/Temporary/LastTest.log" | sort
	fi
	summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1)
	if [ -n "$summary" ]; then
		f=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
		t=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")
		p=$((t - f))
		passed=$((passed + p))
		failed=$((failed + f))
		((f == 0)) || fail "$f ctest test(s) in $dir"
	elif grep -q 'No tests were found' "$log"; then
		fail "ctest found no tests in $dir"
		failed=$((failed + 1))
	else
		fail "ctest in $dir gave no summary (see tests/out/$dir-ctest.log)"
		failed=$((failed + 1))
	fi
}

# --- 1+2: builds -----------------------------------------------------------
build "RelWithDebInfo" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMH_TESTS=ON \
	&& run_ctest build
build "ASan+UBSan" build-asan -DCMAKE_BUILD_TYPE=Debug -DMH_SANITIZE=ON -DMH_TESTS=ON \
	&& run_ctest build-asan

for bin in build/mailhold build-asan/mailhold; do
	[ -x "$ROOT/$bin" ] || fail "$bin was not built (proxy/main.c missing or build failed)"
done

# --- 4: integration tests against the ASan daemon --------------------------
if [ "${MH_SKIP_INTEGRATION:-0}" = 1 ]; then
	say "integration tests skipped (MH_SKIP_INTEGRATION=1)"
else
	say "integration tests (tests/integration) against build-asan/mailhold"
	if [ "$(id -u)" != 0 ]; then
		echo "run-all: WARNING: not root; the private Postfix upstreams need root" >&2
	fi
	res=$OUT/integration.result
	rm -f "$res"
	MAILHOLD_BIN=$ROOT/build-asan/mailhold timeout -k 10 420 \
		python3 "$ROOT/tests/integration/harness.py" --result "$res" \
		2>&1 | tee "$OUT/integration.log"
	if [ -s "$res" ]; then
		read -r i_pass i_fail i_skip <"$res"
		passed=$((passed + i_pass))
		failed=$((failed + i_fail))
		((i_fail == 0)) || fail "$i_fail integration test(s) (see tests/out/integration.log)"
		((i_skip == 0)) || echo "run-all: $i_skip integration test(s) skipped"
	else
		fail "integration run did not finish or crashed (see tests/out/integration.log)"
		failed=$((failed + 1))
	fi
fi

# --- 5: the Debian package, installed, run and purged -----------------------
if [ "${MH_SKIP_PACKAGE:-0}" = 1 ]; then
	say "package test skipped (MH_SKIP_PACKAGE=1)"
elif [ "$(id -u)" != 0 ]; then
	fail "package test needs root (dpkg, apt-get, unshare)"
	failed=$((failed + 1))
else
	say "package test (tests/package/install-test.sh)"
	if JOBS=$JOBS timeout -k 10 240 "$ROOT/tests/package/install-test.sh" \
		2>&1 | tee "$OUT/package.log"; then
		passed=$((passed + 1))
	else
		fail "package test (see tests/out/package.log)"
		failed=$((failed + 1))
	fi
fi

# --- summary -------------------------------------------------------------
say "done in $(($(date +%s) - START)) s"
if ((${#problems[@]})); then
	printf '  - %s\n' "${problems[@]}"
fi
if ((passed + failed == 0)); then
	echo "run-all: nothing ran" >&2
	failed=1
fi
echo "$passed passed, $failed failed"
((failed == 0))
