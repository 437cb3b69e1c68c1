#!/usr/bin/env bash
# relay.sh: delivery rate of Moat's SMTP client to Postfix's smtp-sink.
#
# moatd relays the domain bench.test to smtp-sink on loopback. Two figures:
#   drain     BENCH_MESSAGES messages wait in the queue (the next hop was
#             down), smtp-sink comes up, `moatctl queue flush`: messages/s
#             until the deferred queue is empty (pure delivery);
#   through   smtp-source injects BENCH_MESSAGES more over 10 sessions
#             while delivery runs: messages/s from the first injection
#             until the last one left the queue (accept + relay).
# Sizes: 4 KB messages. relay.max_connections_per_destination is
# BENCH_CONNS (default 5, Moat's default).
#
#   tests/bench/relay.sh                   # 5000 messages
#   BENCH_MESSAGES=20000 tests/bench/relay.sh
#
# Not part of the test suite: it reports, it asserts nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
messages=${BENCH_MESSAGES:-5000}
conns=${BENCH_CONNS:-5}
size=4096
build="${BENCH_BUILD:-$repo/build-bench}"
work=$(mktemp -d /tmp/moat-relay-bench-XXXXXX)
chmod 755 "$work"
moat_port=$((20000 + RANDOM % 10000))
sink_port=$((moat_port + 1))
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	user=moat
	getent passwd moat >/dev/null || useradd --system --no-create-home \
		--home-dir /nonexistent --shell /usr/sbin/nologin moat
fi
command -v smtp-source >/dev/null || {
	echo "relay.sh: needs smtp-source and smtp-sink (postfix)" >&2
	exit 2
}

if [ ! -x "$build/gateway/moatd" ]; then
	cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
		-DMOAT_TESTS=OFF >/dev/null
	cmake --build "$build" -j"$(nproc)" >/dev/null
fi

cleanup() {
	[ -n "${moat_pid:-}" ] && kill "$moat_pid" 2>/dev/null || true
	[ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null || true
	sleep 1
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "relay.sh: nothing listens on port $1" >&2
	exit 1
}

deferred() {
	ls "$work/data/queue/deferred" | grep -c -E '^[0-9A-Z]{20}$' || true
}
active() {
	ls "$work/data/queue" | grep -c -E '^[0-9A-Z]{20}$' || true
}
now() { date +%s.%N; }

cat >"$work/moat.conf" <<CONF
data_dir = $work/data
hostname = bench.moat.test
user = $user
log_level = ${BENCH_LOG_LEVEL:-warn}
smtp.listen = 127.0.0.1:$moat_port
submission.listen =
smtps.listen =
imap.listen =
imaps.listen =
pop3.listen =
pop3s.listen =
web.listen =
smtp.max_connections_per_ip = 1000
relay.routes = bench.test=[127.0.0.1]:$sink_port
relay.retry_min = 1h
relay.max_connections_per_destination = $conns
queue.scan_interval = 1s
CONF
"$build/gateway/moatd" -c "$work/moat.conf" -f 2>"$work/log" &
moat_pid=$!
wait_port "$moat_port"

echo "messages: $messages of $size bytes; $(nproc) cores; $conns connections"
# 1. Fill the queue while the next hop is down.
smtp-source -s 10 -m "$messages" -l "$size" -f sender@outside.example \
	-t user@bench.test "127.0.0.1:$moat_port"
until [ "$(deferred)" -ge "$messages" ] && [ "$(active)" -eq 0 ]; do
	sleep 0.2
done
echo "queued: $(deferred) deferred" >&2
# 2. The next hop comes up: drain.
smtp-sink -u "$user" -c "127.0.0.1:$sink_port" 1000 >/dev/null &
sink_pid=$!
wait_port "$sink_port"
t0=$(now)
"$build/gateway/moatctl" -c "$work/moat.conf" queue flush >/dev/null
while [ "$(deferred)" -gt 0 ]; do sleep 0.05; done
t1=$(now)
awk -v m="$messages" -v a="$t0" -v b="$t1" \
	'BEGIN { printf "drain:   %.0f messages/s (%.2f s)\n", m / (b - a), b - a }'
# 3. Accept and relay at once.
t0=$(now)
smtp-source -s 10 -m "$messages" -l "$size" -f sender@outside.example \
	-t user@bench.test "127.0.0.1:$moat_port"
while [ "$(active)" -gt 0 ] || [ "$(deferred)" -gt 0 ]; do sleep 0.05; done
t1=$(now)
awk -v m="$messages" -v a="$t0" -v b="$t1" \
	'BEGIN { printf "through: %.0f messages/s (%.2f s)\n", m / (b - a), b - a }'
sent=$(grep -c 'status=sent' "$work/log" || true)
echo "errors in moatd's log: $(grep -c -E ' (error|warn) ' "$work/log" || true)"
