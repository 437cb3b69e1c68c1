#!/usr/bin/env bash
# imap.sh: IMAP, Moat against Dovecot, side by side in one run.
#
# Both servers run on loopback with private data, the same users
# (bench1..benchN@example.test, cheap password hashing on both sides:
# Dovecot {PLAIN}, Moat argon2id at libsodium's minimum cost) and the same
# messages (BENCH_MESSAGES of 4 KB per user, APPENDed through IMAP). Plain
# IMAP (no TLS) on both. The load (tests/bench/imap_load.py, Python
# imaplib threads) runs BENCH_CLIENTS concurrent clients doing
# BENCH_ITERATIONS rounds of LOGIN, SELECT, FETCH 1:* FLAGS, FETCH one
# BODY[], STORE, APPEND, STORE \Deleted, EXPUNGE, LOGOUT. Printed per
# server: commands/s, p50 and p99 command latency, then the memory of
# BENCH_IDLE connections held in IDLE (after SELECT INBOX): the growth of
# RSS and PSS summed over the server's whole process tree, per connection;
# then the ratios Moat/Dovecot.
#
#   tests/bench/imap.sh
#   BENCH_USERS=20 BENCH_ITERATIONS=10 BENCH_IDLE=200 tests/bench/imap.sh
#
# Not part of the test suite: it reports ratios, it asserts nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
users=${BENCH_USERS:-100}
messages=${BENCH_MESSAGES:-20}
clients=${BENCH_CLIENTS:-20}
iterations=${BENCH_ITERATIONS:-25}
idle_conns=${BENCH_IDLE:-1000}
build="$repo/build-bench"
load="/usr/bin/python3 $repo/tests/bench/imap_load.py"
work=$(mktemp -d /tmp/moat-bench-imap-XXXXXX)
chmod 755 "$work"
moat_port=$((20000 + RANDOM % 10000))
moat_smtp=$((moat_port + 1))
dovecot_port=$((moat_port + 2))

[ "$(id -u)" -eq 0 ] || { echo "imap.sh: run as root (Dovecot needs it)" >&2; exit 2; }
# The peer: Debian's Dovecot (this script's own dependency, not the suite's).
if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/imap ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi
getent passwd moat >/dev/null || useradd --system --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin moat
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

cleanup() {
	[ -n "${idle_pid:-}" ] && kill "$idle_pid" 2>/dev/null || true
	[ -n "${moat_pid:-}" ] && kill "$moat_pid" 2>/dev/null || true
	[ -f "$work/dovecot/dovecot.conf" ] &&
		dovecot -c "$work/dovecot/dovecot.conf" stop 2>/dev/null || true
	sleep 1
	rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "imap.sh: nothing listens on port $1" >&2
	exit 1
}

# RSS and PSS (kB) summed over a process and all its descendants (one ps
# call: a Dovecot with a thousand connections has a thousand processes).
tree_mem() {
	local root=$1 rss=0 pss=0 p
	for p in $(ps -e -o pid=,ppid= | awk -v root="$root" '
		{ parent[$1] = $2 }
		END {
			for (p in parent) {
				q = p
				for (depth = 0; q != "" && q != 0 && depth < 64; depth++) {
					if (q == root) { print p; break }
					q = parent[q]
				}
			}
		}'); do
		[ -r "/proc/$p/smaps_rollup" ] || continue
		rss=$((rss + $(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup")))
		pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
	done
	echo "$rss $pss"
}

# idle PORT ROOT_PID -> "rss_kB_per_conn pss_kB_per_conn"
idle_memory() {
	local port=$1 root=$2 before after
	rm -f "$work/idle.ready"
	read -r b_rss b_pss < <(tree_mem "$root")
	$load idle "$port" "$users" "$idle_conns" "$work/idle.ready" &
	idle_pid=$!
	while [ ! -f "$work/idle.ready" ]; do
		kill -0 "$idle_pid" 2>/dev/null || { echo "imap.sh: idle client failed" >&2; exit 1; }
		sleep 0.2
	done
	sleep 1
	read -r a_rss a_pss < <(tree_mem "$root")
	kill "$idle_pid"; wait "$idle_pid" 2>/dev/null || true; idle_pid=
	awk -v a="$a_rss" -v b="$b_rss" -v c="$a_pss" -v d="$b_pss" -v n="$idle_conns" \
		'BEGIN { printf "%.1f %.1f\n", (a - b) / n, (c - d) / n }'
}

# --- Moat ------------------------------------------------------------------
start_moat() {
	mkdir -p "$work/moat"
	cat >"$work/moat/moat.conf" <<CONF
data_dir = $work/moat/data
hostname = bench.moat.test
user = moat
log_level = warn
smtp.listen = 127.0.0.1:$moat_smtp
submission.listen =
smtps.listen =
imap.listen = 127.0.0.1:$moat_port
imaps.listen =
pop3.listen =
pop3s.listen =
web.listen =
imap.allow_plaintext_loopback = yes
imap.max_connections_per_ip = 100000
imap.max_connections = 100000
CONF
	local ctl=("$build/gateway/moatctl" -c "$work/moat/moat.conf")
	export MOAT_TEST_FAST_HASH=1
	"${ctl[@]}" domain add example.test
	for i in $(seq "$users"); do
		"${ctl[@]}" user add "bench$i@example.test" benchpassword >/dev/null
	done
	"$build/gateway/moatd" -c "$work/moat/moat.conf" -f 2>"$work/moat/log" &
	moat_pid=$!
	wait_port "$moat_port"
}

# --- Dovecot ---------------------------------------------------------------
start_dovecot() {
	local dir="$work/dovecot"
	mkdir -p "$dir/run" "$dir/mail"
	chown moat:moat "$dir/mail"
	for i in $(seq "$users"); do
		echo "bench$i@example.test:{PLAIN}benchpassword"
	done >"$dir/passwd"
	cat >"$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/run
log_path = $dir/log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_process_limit = 5000
default_client_limit = 20000
default_vsz_limit = 0
mail_max_userip_connections = 100000
passdb {
  driver = passwd-file
  args = $dir/passwd
}
userdb {
  driver = static
  args = uid=moat gid=moat home=$dir/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $dovecot_port
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  process_limit = 5000
}
service auth {
  client_limit = 20000
}
service anvil {
  client_limit = 20000
}
CONF
	dovecot -c "$dir/dovecot.conf"
	wait_port "$dovecot_port"
}

dovecot_pid() { cat "$work/dovecot/run/master.pid"; }

echo "users: $users with $messages messages of 4 KB; $clients clients x" \
	"$iterations rounds; $idle_conns idle connections; $(nproc) cores"
start_moat
$load fill "$moat_port" "$users" "$messages"
read -r m_ops m_s m_rate m_p50 m_p99 < <($load load "$moat_port" "$users" "$clients" "$iterations")
read -r m_rss m_pss < <(idle_memory "$moat_port" "$moat_pid")
kill "$moat_pid"; wait "$moat_pid" 2>/dev/null || true; moat_pid=
echo "moat: $m_rate commands/s, p50 $m_p50 ms, p99 $m_p99 ms, idle: $m_rss kB RSS, $m_pss kB PSS per connection"

start_dovecot
$load fill "$dovecot_port" "$users" "$messages"
read -r d_ops d_s d_rate d_p50 d_p99 < <($load load "$dovecot_port" "$users" "$clients" "$iterations")
read -r d_rss d_pss < <(idle_memory "$dovecot_port" "$(dovecot_pid)")

printf "%-8s %10s %10s %10s %16s %16s\n" server "cmds/s" "p50 ms" "p99 ms" "RSS kB/idle conn" "PSS kB/idle conn"
printf "%-8s %10s %10s %10s %16s %16s\n" moat "$m_rate" "$m_p50" "$m_p99" "$m_rss" "$m_pss"
printf "%-8s %10s %10s %10s %16s %16s\n" dovecot "$d_rate" "$d_p50" "$d_p99" "$d_rss" "$d_pss"
awk -v a="$m_rate" -v b="$d_rate" -v c="$m_p99" -v d="$d_p99" -v e="$m_rss" -v f="$d_rss" -v g="$m_pss" -v h="$d_pss" \
	'BEGIN { printf "ratio    %9.2fx %10s %9.2fx %15.3fx %15.3fx   (Moat/Dovecot; latency and memory: lower is better)\n", a / b, "", c / d, e / f, g / h }'
