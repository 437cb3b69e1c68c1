#!/usr/bin/env bash
# imap.sh: IMAP serving, Moat's imapd against Dovecot, side by side in one run.
#
# Both servers run on loopback with private data and the same users
# (BENCH_USERS, default 100: user0@example.test ...) holding the same
# messages (BENCH_MESSAGES each, default 50, 2-6 KB, appended over IMAP by
# tests/bench/imap_load.py with the same seed). Dovecot is Debian's
# dovecot-imapd, started as a private unprivileged instance (user
# moatbench, its own config, base_dir and Maildir under a temp dir,
# passwd-file users, no system service, no TLS, plaintext LOGIN allowed on
# loopback as Moat's imap.allow_plaintext_loopback does). Its service
# settings are Debian's defaults (a process per IMAP session, a login
# process per connection) except the limits that 1,000 connections need.
#
# Passwords: both sides verify the very same argon2id strings. Moat hashes
# them (moatctl user add) and Dovecot's passwd-file gets the hashes
# unchanged ({ARGON2ID}, verified by libsodium like Moat). By default they
# are hashed at libsodium's minimum cost (MOAT_TEST_FAST_HASH=1), because
# every load round logs in again: at the interactive cost (64 MiB, ~0.1 s of
# CPU per LOGIN) both servers would spend most of the run in argon2, and the
# figures would measure libsodium, not IMAP. BENCH_HASH=interactive uses the
# real cost on both sides.
#
# Printed: for the scripted load (BENCH_CLIENTS concurrent clients, default
# 20, BENCH_ROUNDS rounds in all, default 2000, each LOGIN, SELECT, three
# FETCHes, two STOREs, EXPUNGE, APPEND, LOGOUT) commands per second, p99
# latency and server CPU per command, with the ratio Moat/Dovecot; then the
# memory per idle connection with BENCH_IDLE (1000) connections in IDLE:
# the sum of VmRSS (and of PSS, which counts shared pages once) of every
# server process (Dovecot: master, auth, log, anvil, ... and each imap
# process) before and after, divided by the number of connections.
#
#   tests/bench/imap.sh
#   BENCH_ROUNDS=500 BENCH_IDLE=200 tests/bench/imap.sh
#
# Not part of the test suite: it reports ratios, it asserts nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
users=${BENCH_USERS:-100}
messages=${BENCH_MESSAGES:-50}
clients=${BENCH_CLIENTS:-20}
rounds=${BENCH_ROUNDS:-2000}
idle_conns=${BENCH_IDLE:-1000}
hash=${BENCH_HASH:-fast}
build="$repo/build-bench"
driver=(/usr/bin/python3 "$repo/tests/bench/imap_load.py")
work=$(mktemp -d /tmp/moat-imapbench-XXXXXX)
chmod 755 "$work"
moat_port=$((20000 + RANDOM % 10000))
dovecot_port=$((moat_port + 1))

[ "$(id -u)" -eq 0 ] || { echo "imap.sh: run as root (it installs Dovecot)" >&2; exit 2; }
if [ ! -x /usr/sbin/dovecot ] || [ ! -e /usr/lib/dovecot/imap ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd dovecot-pop3d >/dev/null
fi
command -v sqlite3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
getent passwd moat >/dev/null || useradd --system --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin moat
getent passwd moatbench >/dev/null || useradd --system --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin moatbench
# 1,000 connections: a descriptor each on both ends, and Dovecot's master
# holds pipes to each of its imap processes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((idle_conns * 3 + 1000)) ]; then
	echo "imap.sh: open files limit $(ulimit -n) too low for $idle_conns connections" >&2
	exit 2
fi

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

cleanup() {
	[ -n "${moat_pid:-}" ] && kill "$moat_pid" 2>/dev/null || true
	[ -n "${dovecot_pid:-}" ] && kill "$dovecot_pid" 2>/dev/null || true
	sleep 1
	[ -n "${BENCH_KEEP:-}" ] && echo "imap.sh: kept $work" >&2 || rm -rf "$work"
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

# A process and all its descendants.
tree_pids() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END { list = root; i = 1; n = split(list, q, " ")
			while (i <= n) { m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) q[++n] = k[j]; i++ }
			for (i = 1; i <= n; i++) print q[i] }'
}

# CPU clock ticks of a tree: own time of the living plus what reaped
# children left in their parents' cutime/cstime.
tree_ticks() {
	local total=0 pid
	for pid in $(tree_pids "$1"); do
		[ -r "/proc/$pid/stat" ] || continue
		total=$((total + $(awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

# "RSS_KB PSS_KB" of a tree; the idle mode of the driver runs it.
cat >"$work/rss.sh" <<'SH'
#!/usr/bin/env bash
rss=0 pss=0
for pid in $(ps -e -o pid=,ppid= | awk -v root="$1" '
	{ kids[$2] = kids[$2] " " $1 }
	END { list = root; i = 1; n = split(list, q, " ")
		while (i <= n) { m = split(kids[q[i]], k, " ")
			for (j = 1; j <= m; j++) q[++n] = k[j]; i++ }
		for (i = 1; i <= n; i++) print q[i] }'); do
	r=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	p=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
	rss=$((rss + ${r:-0})); pss=$((pss + ${p:-0}))
done
echo "$rss $pss"
SH
chmod 755 "$work/rss.sh"

# --- Moat ------------------------------------------------------------------
start_moat() {
	mkdir -p "$work/moat"
	cat >"$work/moat/moat.conf" <<CONF
data_dir = $work/moat/data
hostname = bench.moat.test
user = moat
log_level = warn
smtp.listen =
submission.listen =
smtps.listen =
imap.listen = 127.0.0.1:$moat_port
imaps.listen =
pop3.listen =
pop3s.listen =
web.listen =
imap.allow_plaintext_loopback = yes
imap.max_connections_per_ip = $((idle_conns + 100))
imap.max_connections = $((idle_conns + 200))
CONF
	local ctl=("$build/gateway/moatctl" -c "$work/moat/moat.conf") fast=1
	[ "$hash" = interactive ] && fast=0
	MOAT_TEST_FAST_HASH=$fast "${ctl[@]}" domain add example.test >/dev/null
	for i in $(seq 0 $((users - 1))); do
		MOAT_TEST_FAST_HASH=$fast "${ctl[@]}" user add "user$i@example.test" benchpassword >/dev/null
	done
	"$build/gateway/moatd" -c "$work/moat/moat.conf" -f 2>"$work/moat/log" &
	moat_pid=$!
	wait_port "$moat_port"
}

# --- Dovecot ---------------------------------------------------------------
start_dovecot() {
	local dir="$work/dovecot"
	mkdir -p "$dir/run" "$dir/state" "$dir/home"
	# The same argon2id strings Moat verifies.
	sqlite3 "file:$work/moat/data/moat.db?mode=ro" \
		"SELECT address || ':{ARGON2ID}' || password_hash || '::::::' FROM users" >"$dir/passwd"
	cat >"$dir/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/log
# Moat runs at log_level = warn: no line per login or logout here either.
info_log_path = /dev/null
instance_name = moatbench
default_internal_user = moatbench
default_internal_group = moatbench
default_login_user = moatbench
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = moatbench
mail_gid = moatbench
first_valid_uid = 1
mail_max_userip_connections = $((idle_conns + 100))
default_process_limit = $((idle_conns + 200))
default_client_limit = $((idle_conns * 4 + 1000))
passdb {
  driver = passwd-file
  args = scheme=ARGON2ID $dir/passwd
}
userdb {
  driver = static
  args = home=$dir/home/%d/%n
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $dovecot_port
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  process_limit = $((idle_conns + 200))
}
service anvil {
  chroot =
}
CONF
	chown -R moatbench:moatbench "$dir"
	setpriv --reuid=moatbench --regid=moatbench --init-groups \
		/usr/sbin/dovecot -F -c "$dir/dovecot.conf" 2>"$work/dovecot.stderr" &
	dovecot_pid=$!
	wait_port "$dovecot_port"
}

# --- measuring -------------------------------------------------------------
# measure NAME PORT ROOT_PID -> writes $work/NAME.load.json, NAME.idle.json
measure() {
	local name=$1 port=$2 root=$3 before after hz
	"${driver[@]}" setup "$port" --users "$users" --messages "$messages" \
		--clients "$clients" >"$work/$name.setup.json"
	before=$(tree_ticks "$root")
	"${driver[@]}" load "$port" --users "$users" --clients "$clients" \
		--rounds "$rounds" >"$work/$name.load.json"
	after=$(tree_ticks "$root")
	hz=$(getconf CLK_TCK)
	/usr/bin/python3 - "$work/$name.load.json" "$((after - before))" "$hz" <<'PY'
import json, sys
path, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = json.load(open(path))
d["cpu_ms_per_op"] = round(ticks * 1000 / hz / d["ops"], 3)
json.dump(d, open(path, "w"))
PY
	"${driver[@]}" idle "$port" --users "$users" --conns "$idle_conns" \
		--rss-cmd "$work/rss.sh $root" >"$work/$name.idle.json"
}

echo "IMAP: $users users x $messages messages; $clients clients, $rounds rounds;" \
	"$idle_conns idle connections; password hash: argon2id $hash (both); $(nproc) cores"
start_moat
measure moat "$moat_port" "$moat_pid"
start_dovecot
measure dovecot "$dovecot_port" "$dovecot_pid"
kill "$moat_pid" "$dovecot_pid" 2>/dev/null || true
wait "$moat_pid" "$dovecot_pid" 2>/dev/null || true
moat_pid= dovecot_pid=

/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
r = {n: {k: json.load(open("%s/%s.%s.json" % (w, n, k)))
         for k in ("setup", "load", "idle")} for n in ("moat", "dovecot")}
m, d = r["moat"], r["dovecot"]
print("%-8s %10s %9s %9s %11s %14s %14s" % ("server", "ops/s", "p50 ms", "p99 ms",
      "CPU ms/op", "idle RSS kB/c", "idle PSS kB/c"))
for n in ("moat", "dovecot"):
    L, I = r[n]["load"], r[n]["idle"]
    print("%-8s %10.0f %9.2f %9.2f %11.3f %14.1f %14.1f" % (n, L["ops_per_s"],
          L["p50_ms"], L["p99_ms"], L["cpu_ms_per_op"], I["rss_per_conn_kb"],
          I["pss_per_conn_kb"]))
def ratio(a, b):
    return a / b if b else float("nan")
print("ratio    %9.2fx %8.2fx %8.2fx %10.2fx %13.4fx %13.4fx   (Moat/Dovecot; "
      "ops/s: higher is better, the rest lower)" % (
      ratio(m["load"]["ops_per_s"], d["load"]["ops_per_s"]),
      ratio(m["load"]["p50_ms"], d["load"]["p50_ms"]),
      ratio(m["load"]["p99_ms"], d["load"]["p99_ms"]),
      ratio(m["load"]["cpu_ms_per_op"], d["load"]["cpu_ms_per_op"]),
      ratio(m["idle"]["rss_per_conn_kb"], d["idle"]["rss_per_conn_kb"]),
      ratio(m["idle"]["pss_per_conn_kb"], d["idle"]["pss_per_conn_kb"])))
print()
for n in ("moat", "dovecot"):
    L, I, S = r[n]["load"], r[n]["idle"], r[n]["setup"]
    print("%s: %d commands in %.1f s; p50/p99 by command (ms): %s" % (n,
          L["ops"], L["seconds"], ", ".join("%s %s/%s" % (k, L["p50_by_command_ms"][k], v)
                                            for k, v in sorted(L["p99_by_command_ms"].items()))))
    print("%s: setup appended %d messages in %.1f s; idle: %d connections "
          "(%d answered DONE), RSS %d -> %d kB, PSS %d -> %d kB" % (n,
          S["appended"], S["seconds"], I["conns"], I["idling_answered_done"],
          I["rss_before_kb"], I["rss_after_kb"], I["pss_before_kb"], I["pss_after_kb"]))
PY
