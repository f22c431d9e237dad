#!/usr/bin/env bash
# tests/browser/selftest.sh - self-test of the browser tooling against the
# stand-in page (tests/browser/standin_server.py), not the daemon:
#
#   - page_check.mjs, en and ja, --click cancel, JavaScript on and off,
#     --click send, and over https with a throwaway self-signed certificate
#     (--ignore-https-errors): must pass (exit 0);
#   - a page that breaks its CSP, a wrong --expect-text, a 404 page and a
#     self-signed https page without --ignore-https-errors: must fail
#     (exit 1);
#   - tests/integration/browser.py's page_check() once, for the helper.
#
# Everything is on 127.0.0.1; the stand-in stops by itself after 180 s at
# the latest and is stopped (by its pid) when this script exits; each check
# is bounded by `timeout`.  Screenshots: tests/out/browser-selftest/.
# Last line: "browser-selftest: N passed, N failed".  Exit 0 only if all
# passed; exit 77 (skipped) if the browser tooling is not installed.
#
#   tests/browser/selftest.sh          (after contrib/setup-deps.sh)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/tests/out/browser-selftest
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

avail=$(cd "$ROOT/tests/integration" && python3 -c \
	'import browser; ok, why = browser.browser_available(); print("ok" if ok else why)')
if [ "$avail" != ok ]; then
	echo "browser-selftest: skipped: $avail"
	exit 77
fi

rm -rf "$OUT"
mkdir -p "$OUT"
TMP=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_standin NAME ARGS...: start a stand-in, set URL to its page.
start_standin() {
	local name=$1 i
	shift
	: >"$TMP/$name.out"
	python3 "$HERE/standin_server.py" --max-seconds 180 "$@" \
		>"$TMP/$name.out" 2>"$OUT/standin-$name.log" &
	pids+=($!)
	URL=
	for ((i = 0; i < 100; i++)); do
		URL=$(sed -n 's/^standin: listening //p' "$TMP/$name.out")
		[ -n "$URL" ] && return 0
		sleep 0.1
	done
	echo "browser-selftest: stand-in $name did not start" >&2
	cat "$OUT/standin-$name.log" >&2
	exit 1
}

passed=0
failed=0
# expect STATUS NAME WHY ARGS...: run page_check.mjs, want exit STATUS and,
# when WHY is not empty, its JSON "error" to match the extended regex WHY.
expect() {
	local want=$1 name=$2 why=$3 rc summary
	shift 3
	timeout -k 5 90 node "$HERE/page_check.mjs" --screenshot "$OUT/$name.png" "$@" \
		>"$OUT/$name.json" 2>"$OUT/$name.err"
	rc=$?
	summary=$(python3 -c 'import json, sys
try:
    r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
except Exception:
    r = {}
print(r.get("error") or "notice=%r status=%s/%s" % (r.get("notice"), r.get("status"),
                                                     r.get("after_status")))' "$OUT/$name.json")
	if [ "$rc" = "$want" ] && { [ -z "$why" ] || grep -Eq -- "$why" <<<"$summary"; }; then
		passed=$((passed + 1))
		printf 'ok    %-18s exit %d  %.150s\n' "$name" "$rc" "$summary"
	else
		failed=$((failed + 1))
		printf 'FAIL  %-18s exit %d, wanted %d%s\n' "$name" "$rc" "$want" \
			"${why:+ and an error matching /$why/}"
		sed 's/^/      /' "$OUT/$name.json" "$OUT/$name.err"
	fi
}

start_standin http
PAGE=$URL
BASE=${URL%/m/*}
echo "browser-selftest: stand-in at $PAGE"

expect 0 en-cancel '' --url "$PAGE" --lang en --click cancel \
	--expect-text "Cancelled. It will not be sent."
expect 0 ja-cancel '' --url "$PAGE" --lang ja --click cancel --expect-text "キャンセルしました"
expect 0 ja-cancel-nojs '' --url "$PAGE" --lang ja --click cancel --no-js \
	--expect-text "キャンセルしました"
expect 0 en-send '' --url "$PAGE" --lang en --click send --expect-text "Sent."
expect 0 ja-view '' --url "$PAGE" --lang ja --expect-text "キャンセル" --expect-text "今すぐ送信"
expect 1 csp-violation 'Content Security Policy' --url "$BASE/m/csp-violation" --lang en
expect 1 csp-violation-nojs 'Content Security Policy' --url "$BASE/m/csp-violation" \
	--lang en --no-js
expect 1 wrong-text 'lacks "no such text"' --url "$PAGE" --lang en --click cancel \
	--expect-text "no such text"
expect 1 not-found 'HTTP 404' --url "$BASE/m/no-such-token" --lang en

if command -v openssl >/dev/null 2>&1; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
	start_standin https --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
	expect 0 https-cancel '' --url "$URL" --lang en --click cancel --ignore-https-errors \
		--expect-text "Cancelled."
	expect 1 https-untrusted 'ERR_CERT' --url "$URL" --lang en
else
	echo "browser-selftest: no openssl: https checks left out"
fi

# The Python helper, once.
if (cd "$ROOT/tests/integration" && timeout -k 5 120 python3 - "$PAGE" "$OUT/py-ja.png" <<'EOF'
import sys
import browser
r = browser.page_check(sys.argv[1], "ja", sys.argv[2], click="cancel",
                       expect=("キャンセルしました",), no_js=True)
assert r["notice"] == "キャンセルしました", r
assert r["after_status"] == 200 and r["html_lang"] == "ja", r
try:
    browser.page_check(sys.argv[1], "en", sys.argv[2], click="cancel", expect=("nope",))
except AssertionError as e:
    assert "lacks" in str(e), e
else:
    raise SystemExit("page_check() did not raise on a wrong text")
EOF
) >"$OUT/py-helper.log" 2>&1; then
	passed=$((passed + 1))
	echo "ok    py-helper"
else
	failed=$((failed + 1))
	echo "FAIL  py-helper"
	sed 's/^/      /' "$OUT/py-helper.log"
fi

echo "browser-selftest: screenshots and logs in tests/out/browser-selftest/"
echo "browser-selftest: $passed passed, $failed failed"
[ "$failed" = 0 ]
