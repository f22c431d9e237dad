#!/bin/sh
# contrib/debian/build.sh [OUTDIR] - build the Debian binary package of this
# checkout: mailhold_VERSION_ARCH.deb (+ .buildinfo, .changes) in OUTDIR
# (default: build-deb/ at the top of the tree), then run lintian on it.
#
# dpkg-buildpackage wants the packaging in debian/ at the top of the
# source tree; the tree keeps it in contrib/debian/ so that it is one
# contrib/ folder like the others.  This script copies the tree (the files
# git knows, committed or not, and untracked ones that are not ignored) to
# a temporary directory, copies contrib/debian to debian/ there and runs
#
#   dpkg-buildpackage -b -us -uc
#
# The same by hand:
#   cp -a . /tmp/mailhold && cd /tmp/mailhold && rm -rf build* &&
#   cp -a contrib/debian debian && dpkg-buildpackage -b -us -uc
#
# Needs the Build-Depends of contrib/debian/control (contrib/setup-deps.sh
# installs them) and dpkg-dev; not root (Rules-Requires-Root: no).
# DEB_BUILD_OPTIONS is passed on: "nocheck" leaves out the unit tests
# (-DMH_TESTS=OFF), "parallel=N" builds with N jobs.  Exit status: that of
# the build, or 1 when lintian reports an error.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build-deb}

# The package's version (debian/changelog) must be the program's
# (project(... VERSION) in CMakeLists.txt, what mailhold -V prints).
deb_version=$(dpkg-parsechangelog -l "$ROOT/contrib/debian/changelog" -S Version)
cmake_version=$(sed -n 's/^project(mailhold VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
case $deb_version in
"$cmake_version" | "$cmake_version"[-+~]*) ;;
*)
	echo "build.sh: contrib/debian/changelog says $deb_version but" \
		"CMakeLists.txt says $cmake_version: add a changelog entry (dch -v)" >&2
	exit 1
	;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
src=$work/mailhold-$cmake_version
mkdir -p "$src"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$src" -xf -
else
	tar -C "$ROOT" --exclude='./build*' --exclude=./var \
		--exclude=./tests/out --exclude=node_modules -cf - . |
		tar -C "$src" -xf -
fi
rm -rf "$src/debian"
cp -a "$src/contrib/debian" "$src/debian"

# nocheck in DEB_BUILD_OPTIONS also selects the nocheck build profile (no
# need for check, groff-base, man-db), as Debian's build daemons do.
profiles=
case " ${DEB_BUILD_OPTIONS:-} " in
*" nocheck "*) profiles=-Pnocheck ;;
esac
echo "build.sh: dpkg-buildpackage -b -us -uc $profiles in $src" \
	"(DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
(cd "$src" && dpkg-buildpackage -b -us -uc $profiles)

mkdir -p "$OUT"
changes=$(ls "$work"/mailhold_"$deb_version"_*.changes)
# Everything the .changes lists (the package, its -dbgsym, .buildinfo).
cp "$changes" "$OUT/"
sed -n '/^Files:/,/^[^ ]/s/^ [0-9a-f]\{32\} [0-9]* [^ ]* [^ ]* //p' "$changes" |
	while read -r f; do cp "$work/$f" "$OUT/"; done
echo "build.sh: built $(ls "$OUT"/mailhold_"$deb_version"_*.deb)"

if command -v lintian >/dev/null 2>&1; then
	echo "build.sh: lintian"
	lintian --fail-on error --display-info "$OUT/$(basename "$changes")"
else
	echo "build.sh: lintian not installed: not checked" >&2
fi
