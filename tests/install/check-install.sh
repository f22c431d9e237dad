#!/bin/sh
# tests/install/check-install.sh BUILD_DIR [UNITDIR] - "cmake --install" into a
# DESTDIR, twice (--prefix /usr and --prefix /opt/mailhold), and check the
# exact list of files, that the unit's ExecStart= names the installed
# program (filled in at install time, not at configure time), and that the
# installed programs run and accept the installed example configuration.
# UNITDIR is the build's MH_SYSTEMD_UNITDIR (default lib/systemd/system:
# relative to the prefix; the Debian package sets an absolute one).
# ctest runs it as "install_tree" (CMakeLists.txt).  Touches nothing
# outside its temporary directory.
set -eu
build=${1:?usage: $0 BUILD_DIR [UNITDIR]}
unitdir=${2:-lib/systemd/system}
# unit_dir PREFIX: where the unit lands for that prefix.
unit_dir() {
	case $unitdir in
	/*) echo "$unitdir" ;;
	*) echo "$1/$unitdir" ;;
	esac
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_tree: FAILED: $*" >&2; exit 1; }

check_prefix() {
	prefix=$1 udir=$2
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
	$udir/mailhold.service
	LIST
	diff -u "$tmp/want" "$tmp/have" || fail "files installed with --prefix $prefix"
	for p in mailhold mailholdctl; do
		[ -x "$dest$prefix/sbin/$p" ] || fail "$prefix/sbin/$p is not executable"
	done
	unit=$dest$udir/mailhold.service
	grep -Eq '@[A-Z_]+@' "$unit" && fail "$udir/mailhold.service: unreplaced @VAR@"
	n=$(grep -c "^Exec[A-Za-z]*=$prefix/sbin/mailhold " "$unit")
	[ "$n" = 3 ] || fail "$udir/mailhold.service: $n of 3 Exec lines name $prefix/sbin/mailhold"
	grep '^Exec' "$unit" | grep -v "=$prefix/sbin/mailhold \|=/bin/kill " &&
		fail "$udir/mailhold.service: Exec line with another program"
	"$dest$prefix/sbin/mailhold" -V | grep -q '^mailhold [0-9]' ||
		fail "installed mailhold -V"
	"$dest$prefix/sbin/mailhold" --check-config \
		-c "$dest$prefix/share/doc/mailhold/examples/config.example.yaml" >/dev/null ||
		fail "installed mailhold rejects the installed config.example.yaml"
	echo "install_tree: --prefix $prefix: $(wc -l <"$tmp/have") files, unit runs $prefix/sbin/mailhold"
}

check_prefix /usr "$(unit_dir /usr)"
check_prefix /opt/mailhold "$(unit_dir /opt/mailhold)"
