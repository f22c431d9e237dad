#!/usr/bin/env bash
# contrib/setup-deps.sh - install what mailhold needs to build and test on a
# fresh Debian 12.  Idempotent and non-interactive: packages that are already
# installed are left alone, and apt-get runs only if something is missing.
#
# Postfix is installed with debconf "No configuration": the tests run private
# instances (postfix -c DIR) and never the system one.  If this script
# installs Postfix, it keeps the package from starting a system instance
# (policy-rc.d during the install) and then stops and disables one if it runs
# anyway, so nothing listens on port 25 because of it.  A Postfix that was
# installed and configured before is left as it is.
#
# The relay tests (tests/integration/test_relay.py) also need the openssl CLI
# (a throwaway CA), and for a Postfix upstream with SMTP AUTH: Cyrus SASL's
# saslpasswd2 (sasl2-bin) and its PLAIN/LOGIN/sasldb plugins
# (libsasl2-modules, libsasl2-modules-db).  sasl2-bin ships saslauthd, which
# the tests do not use: a fresh install of it is kept from starting and
# disabled, like Postfix.
#
# libcrypt-dev: crypt(3) (yescrypt, sha512-crypt) for auth.password_file.
# libnet-ssleay-perl: swaks --tls/--tlsc in tests/integration/test_tls_auth.py.
# libidn2-dev: IDNA 2008 A-labels for the policy (policy/policy.c).
#
# Browser tests of the web page (tests/browser, tests/integration/browser.py):
# Debian's chromium (/usr/bin/chromium), fonts-ipafont-gothic (Japanese
# glyphs in screenshots), Node.js >= 20 with npm, and playwright-core from
# the npm registry, pinned in tests/browser/package-lock.json and installed
# into tests/browser/node_modules with `npm ci` when it is missing or the
# lock changed (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, --ignore-scripts: no
# browser download; playwright-core downloads none anyway).  nodejs and npm
# are looked for as commands, not as packages: a Node.js that is installed
# already (say NodeSource's, which ships npm and conflicts with Debian's npm
# package) is used as it is, and apt installs Debian's only when `node` or
# `npm` is missing.  Debian 12's own nodejs is 18, too old for the pinned
# playwright-core: then the browser step is left out with a note, and the
# browser tests skip.
# wrk: the HTTP load generator of contrib/bench/web.sh.
# msmtp, gnutls-bin (gnutls-cli), curl, libnss3-tools (tstclnt, NSS: the
# TLS library of Thunderbird): the mail clients and TLS stacks of
# tests/integration/test_clients.py.
# The Debian package (contrib/debian/build.sh, tests/package/install-test.sh,
# the man_lint test): dpkg-dev, debhelper, lintian, groff-base and man-db
# (groff and man render the pages), iproute2 (ip, ss in the package test's
# network namespace).
# faketime (libfaketime): wall clock steps in tests/integration/test_faults.py.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PKGS=(build-essential cmake pkg-config libevent-dev libssl-dev libsqlite3-dev
	libyaml-dev check postfix swaks python3 sqlite3 clang openssl
	sasl2-bin libsasl2-modules libsasl2-modules-db
	libcrypt-dev libnet-ssleay-perl libidn2-dev
	chromium fonts-ipafont-gothic wrk
	msmtp gnutls-bin curl libnss3-tools faketime
	dpkg-dev debhelper lintian groff-base man-db iproute2)
NODE_MIN_MAJOR=20		# playwright-core's engines.node

SUDO=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "setup-deps: run as root (or install sudo)" >&2
		exit 1
	fi
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
# Node.js and npm: by command (see above).
if ! command -v node >/dev/null 2>&1; then
	missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1 &&
	! dpkg-query -W -f='${Provides}' nodejs 2>/dev/null | grep -Eq '(^|[ ,])npm([ ,(]|$)'; then
	missing+=(npm)
fi

if ((${#missing[@]} == 0)); then
	echo "setup-deps: all packages present (${PKGS[*]})"
else
	echo "setup-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	new_postfix=0
	new_saslauthd=0
	policy_created=0
	if [[ " ${missing[*]} " == *" postfix "* ]]; then
		new_postfix=1
		echo "postfix postfix/main_mailer_type select No configuration" |
			$SUDO debconf-set-selections
	fi
	if [[ " ${missing[*]} " == *" sasl2-bin "* ]]; then
		new_saslauthd=1
	fi
	if ((new_postfix || new_saslauthd)); then
		# Keep maintainer scripts from starting services during the install.
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
			$SUDO chmod 755 /usr/sbin/policy-rc.d
			policy_created=1
		fi
	fi
	cleanup() {
		if [ "$policy_created" = 1 ]; then
			$SUDO rm -f /usr/sbin/policy-rc.d
		fi
	}
	trap cleanup EXIT
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q "${missing[@]}"
	cleanup
	trap - EXIT

	if [ "$new_postfix" = 1 ]; then
		# No system Postfix: the tests start their own on loopback ports.
		if [ -d /run/systemd/system ]; then
			$SUDO systemctl disable --now postfix.service >/dev/null 2>&1 || true
		elif command -v update-rc.d >/dev/null 2>&1; then
			$SUDO update-rc.d postfix disable >/dev/null 2>&1 || true
		fi
		if [ -f /etc/postfix/main.cf ] && $SUDO postfix status >/dev/null 2>&1; then
			$SUDO postfix stop >/dev/null 2>&1 || true
		fi
	fi
	if [ "$new_saslauthd" = 1 ]; then
		# The tests read a sasldb directly; no saslauthd.
		if [ -d /run/systemd/system ]; then
			$SUDO systemctl disable --now saslauthd.service >/dev/null 2>&1 || true
		elif command -v update-rc.d >/dev/null 2>&1; then
			$SUDO update-rc.d saslauthd disable >/dev/null 2>&1 || true
		fi
	fi
fi

# Report, and warn (only) about a system MTA on port 25: the tests do not use
# it, but a fresh install by this script must not have started one.
if command -v ss >/dev/null 2>&1 && ss -ltn 2>/dev/null | awk '{print $4}' | grep -Eq '[:.]25$'; then
	echo "setup-deps: note: something listens on port 25 (not started by this script;" \
		"the tests do not use it)"
fi
for pkg in postfix swaks cmake check sasl2-bin openssl chromium wrk; do
	printf 'setup-deps: %-10s %s\n' "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo missing)"
done

# --- playwright-core for the browser tests (tests/browser/node_modules) -----
# Installed with `npm ci` from package-lock.json when node_modules lacks it or
# package.json/package-lock.json changed since the last install (a stamp
# file in node_modules holds their checksum).  Runs as the calling user.
BROWSER_DIR=$ROOT/tests/browser
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
printf 'setup-deps: %-10s %s\n' node "$(node --version 2>/dev/null || echo missing)"
printf 'setup-deps: %-10s %s\n' npm "$(npm --version 2>/dev/null || echo missing)"
if ((node_major < NODE_MIN_MAJOR)); then
	echo "setup-deps: note: node ${node_major} < ${NODE_MIN_MAJOR}: playwright-core left out," \
		"the browser tests will skip" >&2
elif ! command -v npm >/dev/null 2>&1; then
	echo "setup-deps: note: npm not found: playwright-core left out, the browser tests will skip" >&2
else
	stamp=$BROWSER_DIR/node_modules/.mailhold-lock.sha256
	want=$(cat "$BROWSER_DIR/package.json" "$BROWSER_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
	have=$(cat "$stamp" 2>/dev/null || true)
	if [ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] && [ "$have" = "$want" ]; then
		echo "setup-deps: tests/browser/node_modules up to date"
	else
		echo "setup-deps: npm ci in tests/browser (playwright-core, no browser download)"
		(cd "$BROWSER_DIR" &&
			PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 600 \
				npm ci --ignore-scripts --no-audit --no-fund)
		echo "$want" >"$stamp"
	fi
	printf 'setup-deps: %-10s %s\n' playwright-core \
		"$(node -p 'require(process.argv[1]).version' \
			"$BROWSER_DIR/node_modules/playwright-core/package.json" 2>/dev/null || echo missing)"
fi
