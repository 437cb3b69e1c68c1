#!/usr/bin/env bash
# smtp.sh: SMTP acceptance, Moat against Postfix, side by side in one run.
#
# Both servers run on loopback with private data, accept mail for
# demo@example.test and store it durably (Moat: queue + mailstore; Postfix:
# queue + virtual(8) Maildir). Postfix's smtp-source sends BENCH_MESSAGES
# messages of 4 KB over 10 and over 50 concurrent sessions to each. Printed
# per run: messages/s accepted, seconds until everything is delivered, CPU
# milliseconds per message (every process of the server, children included)
# and the ratio Moat/Postfix; then moatd's peak RSS.
#
#   tests/bench/smtp.sh                 # 20000 messages per run
#   BENCH_MESSAGES=2000 tests/bench/smtp.sh
#
# Not part of the test suite: it reports ratios, it asserts nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
messages=${BENCH_MESSAGES:-20000}
sessions_list=${BENCH_SESSIONS:-"10 50"}
size=4096
build="$repo/build-bench"
work=$(mktemp -d /tmp/moat-bench-XXXXXX)
chmod 755 "$work"
moat_port=$((20000 + RANDOM % 10000))
postfix_port=$((moat_port + 1))

[ "$(id -u)" -eq 0 ] || { echo "smtp.sh: run as root (Postfix needs it)" >&2; exit 2; }
if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
getent passwd moat >/dev/null || useradd --system --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin moat

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOAT_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

cleanup() {
	[ -n "${moat_pid:-}" ] && kill "$moat_pid" 2>/dev/null || true
	postfix -c "$work/postfix" stop >/dev/null 2>&1 || true
	sleep 1
	rm -rf "$work"
}
trap cleanup EXIT

# --- Moat ------------------------------------------------------------------
start_moat() {
	rm -rf "$work/moat"
	mkdir -p "$work/moat"
	cat >"$work/moat/moat.conf" <<CONF
data_dir = $work/moat/data
hostname = bench.moat.test
user = moat
log_level = warn
smtp.listen = 127.0.0.1:$moat_port
submission.listen =
smtps.listen =
imap.listen =
imaps.listen =
pop3.listen =
pop3s.listen =
web.listen =
smtp.max_connections_per_ip = 1000
CONF
	local ctl=("$build/gateway/moatctl" -c "$work/moat/moat.conf")
	MOAT_TEST_FAST_HASH=1 "${ctl[@]}" domain add example.test
	MOAT_TEST_FAST_HASH=1 "${ctl[@]}" user add demo@example.test benchpassword
	"$build/gateway/moatd" -c "$work/moat/moat.conf" -f 2>"$work/moat/log" &
	moat_pid=$!
	wait_port "$moat_port"
}

moat_delivered() {
	sqlite3 "file:$work/moat/data/mail/index.db?mode=ro" \
		"SELECT count(*) FROM messages" 2>/dev/null || echo 0
}

# --- Postfix ---------------------------------------------------------------
start_postfix() {
	local dir="$work/postfix"
	rm -rf "$dir" "$work/pfspool" "$work/pfdata" "$work/vmail"
	mkdir -p "$dir" "$work/pfspool" "$work/pfdata" "$work/vmail"
	chown postfix "$work/pfdata"
	chown moat:moat "$work/vmail"
	cp /etc/postfix/master.cf "$dir/master.cf"
	cat >"$dir/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $work/pfspool
data_directory = $work/pfdata
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
smtpd_banner = \$myhostname ESMTP
biff = no
virtual_mailbox_domains = example.test
virtual_mailbox_base = $work/vmail
virtual_mailbox_maps = static:demo/
virtual_uid_maps = static:$(id -u moat)
virtual_gid_maps = static:$(id -g moat)
virtual_minimum_uid = 100
default_process_limit = 200
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
mynetworks = 127.0.0.0/8
CONF
	# Listen on our port, no chroot (the spool is private anyway).
	postconf -c "$dir" -M# smtp/inet >/dev/null
	postconf -c "$dir" -M "127.0.0.1:$postfix_port/inet=127.0.0.1:$postfix_port inet n - n - - smtpd"
	postconf -c "$dir" -F '*/*/chroot = n'
	postfix -c "$dir" check
	postfix -c "$dir" start >/dev/null 2>&1
	wait_port "$postfix_port"
}

postfix_master_pid() {
	head -1 "$work/pfspool/pid/master.pid" | tr -d ' '
}

postfix_delivered() {
	{ find "$work/vmail/demo/new" -type f 2>/dev/null || true; } | wc -l
}

# --- measuring -------------------------------------------------------------
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "smtp.sh: nothing listens on port $1" >&2
	exit 1
}

# CPU clock ticks of a process tree: own time of the living plus what
# reaped children left in their parents' cutime/cstime.
tree_ticks() {
	local root=$1 total=0 pid
	for pid in $root $(pgrep -P "$root" 2>/dev/null; for c in $(pgrep -P "$root"); do pgrep -P "$c"; done); do
		[ -r "/proc/$pid/stat" ] || continue
		total=$((total + $(awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$pid/stat")))
	done
	echo "$total"
}

now() { date +%s.%N; }

# run NAME PORT ROOT_PID DELIVERED_FN SESSIONS -> "rate drain_s cpu_ms"
run() {
	local name=$1 port=$2 root=$3 delivered=$4 sessions=$5
	local before after t0 t1 t2 start_count
	start_count=$($delivered)
	before=$(tree_ticks "$root")
	t0=$(now)
	smtp-source -s "$sessions" -m "$messages" -l "$size" \
		-f sender@bench.example -t demo@example.test "127.0.0.1:$port"
	t1=$(now)
	while [ "$(( $($delivered) - start_count ))" -lt "$messages" ]; do
		sleep 0.1
		if [ "$(echo "$(now) - $t1 > 600" | bc)" = 1 ]; then
			echo "smtp.sh: $name did not deliver everything" >&2
			break
		fi
	done
	t2=$(now)
	after=$(tree_ticks "$root")
	local hz; hz=$(getconf CLK_TCK)
	awk -v m="$messages" -v a="$t0" -v b="$t1" -v c="$t2" \
		-v ticks="$((after - before))" -v hz="$hz" \
		'BEGIN { printf "%.0f %.2f %.3f\n", m / (b - a), c - a, ticks * 1000 / hz / m }'
}

command -v sqlite3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null

echo "messages per run: $messages of $size bytes; $(nproc) cores"
printf "%-8s %-8s %12s %14s %14s\n" server sessions "accepted/s" "all stored s" "CPU ms/msg"
for sessions in $sessions_list; do
	start_moat
	read -r m_rate m_drain m_cpu < <(run moat "$moat_port" "$moat_pid" moat_delivered "$sessions")
	m_rss=$(for p in $moat_pid $(pgrep -P "$moat_pid"); do awk '/VmHWM/ {print $2}' "/proc/$p/status"; done | paste -sd+ | bc)
	kill "$moat_pid"; wait "$moat_pid" 2>/dev/null || true; moat_pid=
	start_postfix
	read -r p_rate p_drain p_cpu < <(run postfix "$postfix_port" "$(postfix_master_pid)" postfix_delivered "$sessions")
	postfix -c "$work/postfix" stop >/dev/null 2>&1 || true
	sleep 1
	printf "%-8s %-8s %12s %14s %14s\n" moat "$sessions" "$m_rate" "$m_drain" "$m_cpu"
	printf "%-8s %-8s %12s %14s %14s\n" postfix "$sessions" "$p_rate" "$p_drain" "$p_cpu"
	awk -v a="$m_rate" -v b="$p_rate" -v c="$m_cpu" -v d="$p_cpu" -v e="$m_drain" -v f="$p_drain" -v s="$sessions" \
		'BEGIN { printf "ratio    %-8s %11.2fx %13.2fx %13.2fx   (Moat/Postfix; time and CPU: lower is better)\n", s, a / b, e / f, c / d }'
	echo "moatd peak RSS (all processes, VmHWM): ${m_rss} kB"
done
