#!/bin/sh
# tests/man/lint.sh PAGE... - each manual page must render without a single
# warning, both through groff with every warning on (-ww: groff's "-w all"
# leaves out the mac, di and reg warnings, so an undefined macro would
# pass) and the way lintian
# looks at it (man-db with --warnings, 80 columns, UTF-8).  Any output on
# stderr, or a failing formatter, fails the test.  ctest runs it on
# docs/man/*.[1-8] (CMakeLists.txt, test "man_lint").
set -u
[ $# -gt 0 ] || { echo "usage: $0 PAGE..." >&2; exit 2; }
for tool in groff man; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "man_lint: $tool not found (apt-get install groff man-db)" >&2; exit 1; }
done
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
rc=0
for page in "$@"; do
	if [ ! -s "$page" ]; then
		echo "man_lint: $page: missing or empty" >&2
		rc=1
		continue
	fi
	# groff: every warning (-ww), output discarded (-z).
	if ! groff -man -ww -z -Tutf8 "$page" >"$tmp" 2>&1 || [ -s "$tmp" ]; then
		echo "man_lint: $page: groff -ww:" >&2
		cat "$tmp" >&2
		rc=1
	fi
	# lintian's check (checks/documentation/manual.pm): man-db's warnings,
	# which also catch lines that cannot be broken or adjusted at 80
	# columns.
	if ! LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>"$tmp" >/dev/null ||
		[ -s "$tmp" ]; then
		echo "man_lint: $page: man --warnings:" >&2
		cat "$tmp" >&2
		rc=1
	fi
	# The NAME line as lexgrog (mandb, apropos, lintian's whatis check)
	# reads it: "name \- description".
	if command -v lexgrog >/dev/null 2>&1 && ! lexgrog "$page" >/dev/null 2>&1; then
		echo "man_lint: $page: lexgrog cannot parse the NAME section" >&2
		rc=1
	fi
	[ $rc -ne 0 ] || echo "man_lint: $page: ok"
done
exit $rc
