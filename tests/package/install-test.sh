#!/usr/bin/env bash
# tests/package/install-test.sh - the Debian package, as an admin gets it.
#
#   1. build it as Debian does (contrib/debian/build.sh: hardening flags,
#      the unit tests run by dh_auto_test) and run lintian (no errors
#      allowed);
#   2. install it with apt-get, and check what the package promises: the
#      mailhold system user and group, /var/lib/mailhold 0750, the conffile
#      /etc/mailhold/mailhold.yaml root:mailhold 0640, the unit enabled, the
#      manual pages found by man;
#   3. start the daemon from the installed files, as the mailhold user, with
#      the installed /etc/mailhold/mailhold.yaml unchanged, in a network
#      namespace of its own (unshare --net: only a loopback interface, so
#      the default relay target localhost:25 is a private Postfix smtp-sink
#      here, and nothing collides with ports of the host or of other tests);
#      check that it listens on loopback addresses only, submit with swaks,
#      see the message held (at least hold.default, 5 minutes) and not
#      relayed, release it with mailholdctl and see it arrive at the sink;
#      stop it with SIGTERM (exit 0);
#   4. purge it and check that nothing is left but what Debian policy keeps
#      (the mailhold user and group), then remove those too if this test
#      created them.
#
# Whatever happens, the trap purges the package (if this test installed it)
# and stops what it started: the machine is left as it was.  It refuses to
# run when mailhold is installed already, or /etc/mailhold or
# /var/lib/mailhold exist (a purge would delete them).  Service starts
# during the install are denied with policy-rc.d (on a host running
# systemd the package would otherwise start mailhold on the host's
# 127.0.0.1).
#
# Needs root, dpkg-dev, debhelper, lintian, the build dependencies, swaks,
# postfix (smtp-sink), util-linux (unshare, setpriv), iproute2 (ip, ss).
# Usage: tests/package/install-test.sh [--deb FILE]   (FILE: skip the build)
# Output: a transcript of each step on stdout; last line "package: ok" or
# "package: FAILED: why".  Exit status 0 only when all of it passed.
# Runs in about 30 s (the build is most of it).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONF=/etc/mailhold/mailhold.yaml
SOCK=/run/mailhold/control.sock

# --- inner part: runs in the private network namespace ----------------------
if [ "${1:-}" = --inner ]; then
	work=$2
	sink_pid= daemon_pid=
	inner_cleanup() {
		[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null
		[ -n "$sink_pid" ] && kill -TERM "$sink_pid" 2>/dev/null
		wait 2>/dev/null
	}
	trap inner_cleanup EXIT
	trap 'exit 1' INT TERM HUP PIPE
	ifail() { echo "package: FAILED: $*"; exit 1; }
	ok() { echo "  ok  $*"; }
	# wait_for SECONDS COMMAND...: polls every 0.2 s.
	wait_for() {
		local n=$(($1 * 5))
		shift
		while ((n-- > 0)); do
			"$@" >/dev/null 2>&1 && return 0
			sleep 0.2
		done
		return 1
	}

	ip link set lo up || ifail "ip link set lo up"
	ok "network namespace with only lo: $(ip -brief addr show lo | tr -s ' ')"

	# The upstream: the default config relays to localhost:25.
	mkdir -p "$work/sink"
	chown nobody:nogroup "$work/sink"
	smtp-sink -u nobody -h sink.test -d "$work/sink/%H%M%S." 127.0.0.1:25 10 \
		>"$work/sink.log" 2>&1 &
	sink_pid=$!
	wait_for 5 sh -c 'ss -ltnH "sport = :25" | grep -q .' || ifail "smtp-sink did not listen"
	ok "smtp-sink on 127.0.0.1:25 (the default upstream, localhost:25)"

	# As the unit does: user mailhold, cwd /var/lib/mailhold,
	# /run/mailhold (RuntimeDirectory, 0755), the installed config.
	install -d -o mailhold -g mailhold -m 0755 /run/mailhold
	(cd /var/lib/mailhold &&
		exec setpriv --reuid=mailhold --regid=mailhold --init-groups \
			--inh-caps=-all /usr/sbin/mailhold -c "$CONF") \
		>"$work/daemon.log" 2>&1 &
	daemon_pid=$!
	wait_for 10 grep -q 'event=start ' "$work/daemon.log" ||
		{ cat "$work/daemon.log"; ifail "the installed mailhold did not start"; }
	ok "mailhold started as $(ps -o user= -p "$daemon_pid") (pid $daemon_pid):" \
		"$(grep -o 'event=start .*' "$work/daemon.log")"

	# Nothing listens on anything but loopback.
	ss -ltnH >"$work/listen"
	sed 's/^/      /' "$work/listen"
	awk '{print $4}' "$work/listen" | grep -Ev '^(127\.[0-9.]+|\[::1\]):[0-9]+$' &&
		ifail "a listener on a non-loopback address"
	grep -q '127.0.0.1:2525 ' "$work/listen" || ifail "no SMTP listener on 127.0.0.1:2525"
	ok "every listener is on loopback"

	token=pkgtest-$$-$RANDOM
	swaks --server 127.0.0.1:2525 --timeout 20 --from alice@example.org \
		--to bob@example.net --add-header "X-Mailhold-Package-Test: $token" \
		--header "Subject: package test" --body "installed from the .deb" \
		>"$work/swaks.log" 2>&1 || { cat "$work/swaks.log"; ifail "swaks"; }
	id=$(sed -n 's/.*<- *250 .*queued as \([0-9a-f]\{16\}\).*/\1/p' "$work/swaks.log")
	[ -n "$id" ] || { cat "$work/swaks.log"; ifail "no 250 ... queued as ID"; }
	ok "swaks: $(grep -o '250 .*queued as [0-9a-f]*' "$work/swaks.log")"

	mailholdctl -c "$CONF" --json queue >"$work/queue.json" ||
		ifail "mailholdctl -c $CONF queue"
	python3 - "$work/queue.json" "$id" <<-'PY' || ifail "the message is not held for hold.default"
	import json, sys
	ans = json.load(open(sys.argv[1]))
	m = [x for x in ans["result"] if x["id"] == sys.argv[2]]
	assert len(m) == 1, ans
	m = m[0]
	hold = m["next_attempt"] - m["received_at"]
	print("  ok  mailholdctl queue: %s %s, due in %d s" % (m["id"], m["state"], hold))
	assert m["state"] == "held" and hold >= 300, m
	PY
	sleep 1
	grep -rlq "$token" "$work/sink" && ifail "relayed before its hold ended"
	ok "not relayed during the hold"

	mailholdctl -s "$SOCK" release "$id" >"$work/release.log" 2>&1 ||
		{ cat "$work/release.log"; ifail "mailholdctl release"; }
	ok "mailholdctl release: $(cat "$work/release.log")"
	wait_for 20 grep -rlq "$token" "$work/sink" ||
		{ tail -20 "$work/daemon.log"; ifail "the released message did not reach localhost:25"; }
	f=$(grep -rl "$token" "$work/sink")
	# mailhold's Received: ("by HOST (mailhold) with ESMTP id ID"), the
	# first one under smtp-sink's own.
	grep -Eq "^[[:space:]]+by [^ ]+ \(mailhold\) with E?SMTP id $id;" "$f" ||
		{ head -20 "$f"; ifail "no Received: header of mailhold"; }
	ok "relayed to localhost:25, with mailhold's Received: header ($(grep -c . "$f") lines)"
	wait_for 10 sh -c "mailholdctl -s $SOCK show $id | grep -q '^state: *sent'" ||
		ifail "mailholdctl show: not sent"
	ok "mailholdctl show $id: state sent"
	n=$(ls "$work/sink" | wc -l)
	ok "the sink got $n message(s) (the alert to the sender about a first-time recipient too)"

	kill -TERM "$daemon_pid"
	rc=0
	wait "$daemon_pid" || rc=$?
	daemon_pid=
	[ "$rc" = 0 ] || { tail -5 "$work/daemon.log"; ifail "mailhold exited $rc after SIGTERM"; }
	ok "SIGTERM: exit 0 ($(grep -o 'event=exit.*' "$work/daemon.log"))"
	exit 0
fi

# --- outer part ---------------------------------------------------------------
deb=
if [ "${1:-}" = --deb ]; then
	deb=$(readlink -f "${2:?--deb FILE}")
fi
OUT=$ROOT/tests/out/package
fail() { echo "package: FAILED: $*"; exit 1; }
ok() { echo "  ok  $*"; }
step() { printf '\n--- package: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg, apt-get, unshare)"
for tool in dpkg-buildpackage lintian apt-get unshare setpriv ip ss swaks smtp-sink python3; do
	command -v "$tool" >/dev/null 2>&1 || fail "missing $tool (contrib/setup-deps.sh)"
done
if dpkg-query -W -f='${db:Status-Status}' mailhold 2>/dev/null | grep -qv '^not-installed$'; then
	fail "a mailhold package is installed already: not touching it" \
		"(left by a test run that was killed? then: dpkg --purge mailhold)"
fi
for d in /etc/mailhold /var/lib/mailhold; do
	[ -e "$d" ] && fail "$d exists (a mailhold from source?): a purge would remove it"
done

work=$(mktemp -d /tmp/mailhold-pkgtest.XXXXXX)
chmod 0755 "$work"
installed=0 policy_created=0 run_created=0 user_existed=0 inner_pid=
getent passwd mailhold >/dev/null && user_existed=1
cleanup() {
	# Nothing may interrupt the clean-up, and a closed stdout (| head)
	# must not kill it half-way.
	trap '' INT TERM HUP PIPE
	[ -n "$inner_pid" ] && kill -TERM "$inner_pid" 2>/dev/null && wait "$inner_pid" 2>/dev/null
	if ((installed)); then
		echo "package: cleanup: dpkg --purge mailhold" 2>/dev/null
		dpkg --purge mailhold >/dev/null 2>&1 || true
	fi
	((policy_created)) && rm -f /usr/sbin/policy-rc.d
	((run_created)) && rm -rf /run/mailhold
	if ((!user_existed)) && getent passwd mailhold >/dev/null; then
		userdel mailhold 2>/dev/null || true
	fi
	if ((!user_existed)) && getent group mailhold >/dev/null; then
		groupdel mailhold 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# 1. Build.
if [ -z "$deb" ]; then
	step "build (contrib/debian/build.sh, with its unit tests)"
	rm -rf "$OUT"
	mkdir -p "$OUT"
	DEB_BUILD_OPTIONS="parallel=${JOBS:-2}" "$ROOT/contrib/debian/build.sh" "$OUT" \
		>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; fail "build or lintian (tests/out/package/build.log)"; }
	deb=$(ls "$OUT"/mailhold_*.deb)
	ok "built $(basename "$deb"); dh_auto_test: $(grep -E '^[0-9]+% tests passed' "$OUT/build.log")"
	sed -n '/^build.sh: lintian$/,$p' "$OUT/build.log" | grep -v '^running with root' |
		sed 's/^/      /'
	ok "lintian: no errors"
fi
[ -f "$deb" ] || fail "no package file $deb"

# 2. Install.
step "install ($(basename "$deb"))"
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	policy_created=1
fi
[ -e /run/mailhold ] || run_created=1
installed=1
DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -q \
	-o DPkg::Lock::Timeout=60 --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
	{ tail -20 "$work/apt.log"; fail "apt-get install"; }
ok "apt-get install: $(dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}' mailhold)"
dpkg -L mailhold >"$work/files"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd mailhold) || fail "no user mailhold"
[ "$uid" -lt 1000 ] || fail "mailhold is not a system user (uid $uid)"
[ "$(getent group mailhold | cut -d: -f3)" = "$gid" ] || fail "the primary group of mailhold is not mailhold"
[ "$home" = /var/lib/mailhold ] && [ "$shell" = /usr/sbin/nologin ] ||
	fail "mailhold: home $home shell $shell"
ok "system user mailhold (uid $uid, group mailhold $gid, home $home, shell $shell)"
[ "$(stat -c '%U:%G %a' /var/lib/mailhold)" = "mailhold:mailhold 750" ] ||
	fail "/var/lib/mailhold is $(stat -c '%U:%G %a' /var/lib/mailhold)"
ok "/var/lib/mailhold mailhold:mailhold 0750"
[ "$(stat -c '%U:%G %a' $CONF)" = "root:mailhold 640" ] ||
	fail "$CONF is $(stat -c '%U:%G %a' $CONF)"
dpkg-query -W -f='${Conffiles}\n' mailhold | grep -q " $CONF " ||
	fail "$CONF is not a conffile"
ok "$CONF: conffile, root:mailhold 0640"
[ -L /etc/systemd/system/multi-user.target.wants/mailhold.service ] ||
	fail "mailhold.service is not enabled"
ok "mailhold.service enabled ($(grep '^ExecStart=' /lib/systemd/system/mailhold.service))"
for page in mailhold.8 mailholdctl.8 mailhold.yaml.5; do
	p=$(man -w "${page##*.}" "${page%.*}" 2>/dev/null) || fail "man does not find $page"
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$p" 2>"$work/man.err" >/dev/null
	[ -s "$work/man.err" ] && { cat "$work/man.err"; fail "$p renders with warnings"; }
done
ok "man finds mailhold(8), mailholdctl(8), mailhold.yaml(5); no warnings"
setpriv --reuid=mailhold --regid=mailhold --init-groups \
	/usr/sbin/mailhold --check-config -c $CONF >/dev/null ||
	fail "mailhold --check-config as user mailhold"
ok "the mailhold user reads and accepts $CONF"

# 3. Run it from the installed files, in a network namespace of its own.
step "run (unshare --net; as user mailhold; installed $CONF unchanged)"
unshare --net -- "$ROOT/tests/package/install-test.sh" --inner "$work" &
inner_pid=$!
wait "$inner_pid" || fail "run (see above)"
inner_pid=

# 4. Purge: nothing left but what policy keeps.
step "purge"
DEBIAN_FRONTEND=noninteractive timeout 120 apt-get purge -y -q \
	-o DPkg::Lock::Timeout=60 mailhold >"$work/apt.log" 2>&1 ||
	{ tail -20 "$work/apt.log"; fail "apt-get purge"; }
installed=0
st=$(dpkg-query -W -f='${db:Status-Status}' mailhold 2>/dev/null || true)
[ -z "$st" ] || [ "$st" = not-installed ] || fail "dpkg still knows mailhold: $st"
ok "apt-get purge: dpkg no longer knows mailhold"
left=$(while read -r f; do
	case $f in
	/etc/mailhold* | /usr/sbin/mailhold* | */mailhold.service | *mailhold.[58]* | \
		*mailholdctl.8* | /usr/share/doc/mailhold*) [ -e "$f" ] && echo "$f" ;;
	esac
done <"$work/files")
[ -z "$left" ] || fail "left after purge: $left"
for d in /var/lib/mailhold /run/mailhold; do
	[ -e "$d" ] && fail "left after purge: $d"
done
run_created=0
found=$(find /etc /var/lib /var/cache/apt /run /lib/systemd /usr/sbin /usr/share/doc \
	/usr/share/man -name '*mailhold*' 2>/dev/null)
[ -z "$found" ] || fail "left after purge: $found"
dpkg-statoverride --list | grep -q mailhold && fail "a statoverride is left"
ok "no file, directory, unit link or statoverride of mailhold is left"
if getent passwd mailhold >/dev/null && getent group mailhold >/dev/null; then
	ok "kept by policy: user and group mailhold$( ((user_existed)) || echo ' (removed now: this test created them)')"
else
	fail "purge removed the mailhold user or group (Debian keeps system users)"
fi
echo "package: ok"
