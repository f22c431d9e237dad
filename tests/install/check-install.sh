#!/bin/sh
# tests/install/check-install.sh BUILD_DIR - "cmake --install" into a
# DESTDIR, twice (--prefix /usr and --prefix /opt/mailhold), and check the
# exact list of files, that the unit's ExecStart= names the installed
# program (filled in at install time, not at configure time), and that the
# installed programs run and accept the installed example configuration.
# ctest runs it as "install_tree" (CMakeLists.txt).  Touches nothing
# outside its temporary directory.
set -eu
build=${1:?usage: $0 BUILD_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_tree: FAILED: $*" >&2; exit 1; }

check_prefix() {
	prefix=$1 unitdir=$2
	dest=$tmp/dest$(echo "$prefix" | tr / _)
	DESTDIR=$dest cmake --install "$build" --prefix "$prefix" >"$tmp/log" 2>&1 ||
		{ cat "$tmp/log" >&2; fail "cmake --install --prefix $prefix"; }
	(cd "$dest" && find . ! -type d | sed 's|^\./|/|' | LC_ALL=C sort) >"$tmp/have"
	LC_ALL=C sort >"$tmp/want" <<-LIST
	$prefix/sbin/mailhold
	$prefix/sbin/mailholdctl
	$prefix/share/doc/mailhold/ADMIN.md
	$prefix/share/doc/mailhold/README.md
	$prefix/share/doc/mailhold/examples/config.example.yaml
	$prefix/share/man/man5/mailhold.yaml.5
	$prefix/share/man/man8/mailhold.8
	$prefix/share/man/man8/mailholdctl.8
	$unitdir/mailhold.service
	LIST
	diff -u "$tmp/want" "$tmp/have" || fail "files installed with --prefix $prefix"
	for p in mailhold mailholdctl; do
		[ -x "$dest$prefix/sbin/$p" ] || fail "$prefix/sbin/$p is not executable"
	done
	unit=$dest$unitdir/mailhold.service
	grep -Eq '@[A-Z_]+@' "$unit" && fail "$unitdir/mailhold.service: unreplaced @VAR@"
	n=$(grep -c "^Exec[A-Za-z]*=$prefix/sbin/mailhold " "$unit")
	[ "$n" = 3 ] || fail "$unitdir/mailhold.service: $n of 3 Exec lines name $prefix/sbin/mailhold"
	grep '^Exec' "$unit" | grep -v "=$prefix/sbin/mailhold \|=/bin/kill " &&
		fail "$unitdir/mailhold.service: Exec line with another program"
	"$dest$prefix/sbin/mailhold" -V | grep -q '^mailhold [0-9]' ||
		fail "installed mailhold -V"
	"$dest$prefix/sbin/mailhold" --check-config \
		-c "$dest$prefix/share/doc/mailhold/examples/config.example.yaml" >/dev/null ||
		fail "installed mailhold rejects the installed config.example.yaml"
	echo "install_tree: --prefix $prefix: $(wc -l <"$tmp/have") files, unit runs $prefix/sbin/mailhold"
}

check_prefix /usr /usr/lib/systemd/system
check_prefix /opt/mailhold /opt/mailhold/lib/systemd/system
