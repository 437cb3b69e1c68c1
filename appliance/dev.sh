#!/usr/bin/env bash
# dev.sh: the developer set-up behind the README's two commands.
#
#   ./appliance/dev.sh run    install what is missing (apt-get), build, write a
#                             default config under $MOAT_DATA_DIR and start
#                             moatd in the foreground on loopback ports
#   ./appliance/dev.sh test   install, build, run the unit and integration tests
#   ./appliance/dev.sh fuzz   build the libFuzzer targets with clang and run
#                             each for $MOAT_FUZZ_SECONDS (default 20)
#   ./appliance/dev.sh build  install and build only
#   ./appliance/dev.sh install   build, then install as an appliance service
#                             (appliance/install.sh: binaries, /etc/moat,
#                             systemd unit, user moat, clamav-freshclam on)
#
# Environment: MOAT_DATA_DIR (default ./var), MOAT_BUILD_DIR (default ./build),
# MOAT_SANITIZE=1 builds with ASan+UBSan, MOAT_SANITIZE=thread with
# ThreadSanitizer (by hand, e.g. MOAT_BUILD_DIR=build-tsan; not in CI),
# MOAT_SKIP_INSTALL=1 skips apt-get.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
mode=${1:-}
build_dir=${MOAT_BUILD_DIR:-$repo/build}
case "$build_dir" in /*) ;; *) build_dir="$repo/$build_dir" ;; esac
data_dir=${MOAT_DATA_DIR:-$repo/var}
case "$data_dir" in /*) ;; *) data_dir="$repo/$data_dir" ;; esac

build_packages=(build-essential cmake pkg-config libevent-dev libssl-dev
	libunbound-dev libsqlite3-dev libsodium-dev libcmocka-dev openssl
	ca-certificates libspf2-dev libopendkim-dev libopendmarc-dev libidn2-dev publicsuffix
	libclamav-dev libgmime-3.0-dev libmagic-dev libpcre2-dev libarchive-dev zlib1g-dev
	libmilter-dev libgsf-1-dev)
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] &&
	build_packages+=(libhyperscan-dev)
# Real peers and clients the integration tests drive (no mocks).
test_packages=(python3 python3-pytest python3-dnslib python3-yaml swaks libnet-ssleay-perl
	python3-dkim python3-spf python3-nacl python3-aiosmtpd postfix isync
	fetchmail mutt clamav clamav-testfiles opendkim-tools)
# Content filters: clamd for the clamd mode test, zip for encrypted archives,
# gsf to build Outlook items (.msg).
test_packages+=(clamav-daemon zip libgsf-bin)
fuzz_packages=(clang libclang-rt-14-dev)
# An appliance install (dev.sh install): Debian's ClamAV updater.
appliance_packages=(clamav-freshclam)

say() { printf '\033[1mdev.sh:\033[0m %s\n' "$*" >&2; }

install_packages() {
	[ "${MOAT_SKIP_INSTALL:-}" = 1 ] && return 0
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	# postfix is installed for its smtp-sink/smtp-source test tools only.
	echo "postfix postfix/main_mailer_type select No configuration" |
		"${sudo[@]}" debconf-set-selections
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

ensure_run_user() {
	# As root, moatd drops its services to the 'moat' system user.
	if [ "$(id -u)" -eq 0 ] && ! getent passwd moat >/dev/null; then
		say "creating system user moat"
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin moat
	fi
}

build() {
	local sanitize=OFF tsan=OFF type=RelWithDebInfo
	if [ "${MOAT_SANITIZE:-}" = 1 ]; then sanitize=ON; type=Debug; fi
	if [ "${MOAT_SANITIZE:-}" = thread ]; then tsan=ON; type=Debug; fi
	say "building in $build_dir (ASan+UBSan: $sanitize, TSan: $tsan)"
	cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=$type \
		-DMOAT_SANITIZE=$sanitize -DMOAT_TSAN=$tsan >/dev/null
	cmake --build "$build_dir" -j"$(nproc)"
}

# Filters in a developer run: virus scanning works on the first try.
# Without an official ClamAV database (freshclam has not run), install a
# test database holding only the EICAR signature, and say so loudly.
dev_content_config() {
	local conf=$1 db=/var/lib/clamav
	if ! ls /var/lib/clamav/main.c[vl]d /var/lib/clamav/daily.c[vl]d \
		>/dev/null 2>&1; then
		db="$data_dir/clamav-test"
		mkdir -p "$db"
		# The EICAR test string, as hex, in a ClamAV .ndb rule.
		printf 'Moat-Test.EICAR:0:*:%s\n' \
			"58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a" \
			>"$db/moat-test-eicar.ndb"
		chmod 755 "$db"; chmod 644 "$db/moat-test-eicar.ndb"
		say "*** ClamAV: no official database in /var/lib/clamav: installed a TEST database (EICAR only) in $db. Real viruses are NOT detected; run freshclam and set filter.clamav.database_dir = /var/lib/clamav ***"
	fi
	grep -q '^filter\.clamav\.database_dir' "$conf" ||
		printf '\n# Content filters (dev.sh).\nfilter.clamav.database_dir = %s\n' \
			"$db" >>"$conf"
	# The whole chain that works offline: sender authentication (SPF and
	# the sender domain check skip loopback clients), content, and spam
	# scoring with X-Spam-* headers. dnsbl and greylist need the internet
	# or would answer a first test message with 451, so they stay off.
	grep -q '^filters *=' "$conf" ||
		printf 'filters = spf sender_domain dkim dmarc arc mime clamav attachments spam\n' \
			>>"$conf"
}

run() {
	local conf="$data_dir/moat.conf"
	mkdir -p "$data_dir"
	if [ ! -f "$conf" ]; then
		"$build_dir/gateway/moatd" -c "$conf" --write-dev-config "$data_dir"
		say "wrote $conf"
	fi
	dev_content_config "$conf"
	if [ "$(id -u)" -eq 0 ]; then
		# The run user must reach the data dir from /.
		chmod o+x "$repo" 2>/dev/null || true
	fi
	local ctl=("$build_dir/gateway/moatctl" -c "$conf")
	if [ -z "$("${ctl[@]}" user list)" ]; then
		"${ctl[@]}" domain add example.test >/dev/null 2>&1 || true
		"${ctl[@]}" user add demo@example.test demo --force
		say "empty store: created domain example.test and user demo@example.test (password: demo)"
	fi
	say "starting moatd: SMTP 127.0.0.1:2525, submission :2587 (STARTTLS), SMTPS :2465, IMAP :2143 (STARTTLS), IMAPS :2993"
	say "try: swaks --server 127.0.0.1:2525 --to demo@example.test"
	say "POP3: 127.0.0.1:2110 (STLS), POP3S: 127.0.0.1:2995 (user demo@example.test, password demo)"
	exec "$build_dir/gateway/moatd" -c "$conf" -f
}

run_tests() {
	local status=0
	say "unit tests"
	(cd "$build_dir" && ctest --output-on-failure -j"$(nproc)") || status=1
	say "integration tests"
	MOAT_BUILD_DIR="$build_dir" /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider "$repo/tests/integration" || status=1
	return $status
}

fuzz() {
	local dir="$repo/build-fuzz" seconds=${MOAT_FUZZ_SECONDS:-20} f
	CC=clang cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=Debug \
		-DMOAT_FUZZ=ON -DMOAT_TESTS=OFF >/dev/null
	cmake --build "$dir" -j"$(nproc)"
	for f in "$dir"/tests/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		say "fuzzing $(basename "$f") for ${seconds}s"
		"$f" -max_total_time="$seconds" -print_final_stats=0 \
			-rss_limit_mb=2048 >/dev/null 2>"$dir/$(basename "$f").log" || {
			tail -n 40 "$dir/$(basename "$f").log"; return 1; }
	done
}

case "$mode" in
run)
	install_packages "${build_packages[@]}" "${test_packages[@]}"
	ensure_run_user
	build
	run
	;;
test)
	install_packages "${build_packages[@]}" "${test_packages[@]}"
	ensure_run_user
	build
	run_tests
	;;
build)
	install_packages "${build_packages[@]}"
	build
	;;
fuzz)
	install_packages "${build_packages[@]}" "${fuzz_packages[@]}"
	fuzz
	;;
install)
	install_packages "${build_packages[@]}" "${appliance_packages[@]}"
	build
	MOAT_BUILD_DIR="$build_dir" exec "$repo/appliance/install.sh"
	;;
*)
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
