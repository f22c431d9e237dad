#!/usr/bin/env bash
# contrib/demo.sh - try mailhold on this machine in one command.
#
#   installs the dependencies (contrib/setup-deps.sh), builds build/mailhold,
#   starts a demo upstream (Postfix's smtp-sink on 127.0.0.1:2526, which
#   stores every message it gets in var/demo-mail/), writes var/demo.yaml
#   (mailhold on 127.0.0.1:2525, hold 30 s, queue var/queue.db) and runs
#   mailhold (its log on this terminal).  Ctrl-C, or kill -TERM to this
#   script, stops both.
#
#   Then, in another terminal:
#     swaks --server 127.0.0.1:2525 --to someone@example.org
#   and 30 s later the message is in var/demo-mail/ (with the sender's
#   alert for a first-time recipient, which came at once).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LISTEN_PORT=2525
SINK_PORT=2526

"$ROOT/contrib/setup-deps.sh"

echo "demo: building build/mailhold"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build" -j2 --target mailhold
if [ ! -x "$ROOT/build/mailhold" ]; then
	echo "demo: build/mailhold was not built (see the output above)" >&2
	exit 1
fi

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for p in $LISTEN_PORT $SINK_PORT 8025 9425; do
	if port_busy "$p"; then
		echo "demo: 127.0.0.1:$p is already in use (another demo running?)" >&2
		exit 1
	fi
done

mkdir -p "$ROOT/var/demo-mail"
SINK_ARGS=(-h demo-upstream -d "$ROOT/var/demo-mail/%Y%m%d-%H%M%S.")
if [ "$(id -u)" = 0 ]; then
	# smtp-sink refuses to run as root without -u; the user writes the dumps.
	chown nobody:nogroup "$ROOT/var/demo-mail"
	SINK_ARGS+=(-u nobody)
fi

# Both children are stopped however the script ends: Ctrl-C, kill -TERM
# (or HUP) to the script's PID, or mailhold exiting by itself.  mailhold
# runs in the background and the script waits for it, because bash runs
# no trap while a foreground child is running.
SINK_PID=
MH_PID=
stop_pid() {
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}
cleanup() {
	stop_pid "$MH_PID"
	stop_pid "$SINK_PID"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

smtp-sink "${SINK_ARGS[@]}" "127.0.0.1:$SINK_PORT" 100 &
SINK_PID=$!
for _ in $(seq 50); do
	port_busy "$SINK_PORT" && break
	sleep 0.1
done
if ! port_busy "$SINK_PORT"; then
	echo "demo: smtp-sink did not start on 127.0.0.1:$SINK_PORT" >&2
	exit 1
fi

cat >"$ROOT/var/demo.yaml" <<EOF
# Written by contrib/demo.sh.  All keys: config.example.yaml.
server:
  listeners: [{address: 127.0.0.1, port: $LISTEN_PORT, mode: plain}]
  trusted_networks: [127.0.0.0/8, "::1/128"]
queue:
  path: $ROOT/var/queue.db
hold:
  default: 30s
upstream:
  host: 127.0.0.1
  port: $SINK_PORT
  tls: none
retry:
  initial: 10s
  max: 1m
log:
  level: info
  target: stderr
# The sender's page (alert links) and Prometheus metrics, loopback only.
web:
  address: 127.0.0.1
  port: 8025
metrics:
  address: 127.0.0.1
  port: 9425
EOF

cat <<EOF

  demo upstream: smtp-sink on 127.0.0.1:$SINK_PORT, messages go to var/demo-mail/
  mailhold:      127.0.0.1:$LISTEN_PORT, hold 30 s, config var/demo.yaml

  In another terminal, try:

    swaks --server 127.0.0.1:$LISTEN_PORT --to someone@example.org

  The message is relayed 30 s after it is accepted; then: ls var/demo-mail/
  The first message to an address its sender never wrote to also brings
  the sender an alert at once (a second look against a wrong pick from
  autocomplete); the same command again, once delivered, brings none.

  A likely mistake (gmial.com for gmail.com) is held for an hour, and its
  sender gets an alert mail at once, with a link to cancel or send now:

    swaks --server 127.0.0.1:$LISTEN_PORT --from you@example.org --to friend@gmial.com
    contrib/demo-alert.py        # the alert, and its http://127.0.0.1:8025/m/... link

  Metrics: curl -s http://127.0.0.1:9425/metrics
  Ctrl-C stops mailhold and the sink.

EOF

"$ROOT/build/mailhold" -c "$ROOT/var/demo.yaml" &
MH_PID=$!
rc=0
wait "$MH_PID" || rc=$?
MH_PID=
exit "$rc"
