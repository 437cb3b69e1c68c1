#!/usr/bin/env bash
# install.sh: installs a built Moat as an appliance service.
#
#   ./appliance/install.sh            as root: install, enable freshclam and
#                                     moatd, start both
#   DESTDIR=/tmp/stage ./appliance/install.sh
#                                     stage the files under DESTDIR only: no
#                                     user, no systemctl, no apt-get (packaging
#                                     and tests)
#
# What it installs (PREFIX defaults to /usr/local):
#   PREFIX/sbin/moatd, PREFIX/sbin/moatctl     from $MOAT_BUILD_DIR (./build)
#   /etc/moat/moat.conf                        appliance defaults, content
#                                              filters on (kept if present)
#   /etc/systemd/system/moatd.service          the unit
#   PREFIX/share/doc/moat/                     the admin guide and references
#   /var/lib/moat                              data_dir, owned by user moat
#   /var/lib/clamav/moat-test-eicar.ndb        only while no official ClamAV
#                                              database is there (see below)
# and, on a real install: the system user moat, the clamav-freshclam service
# enabled and started (it fetches the official database and keeps it fresh;
# without network it retries later, the install does not fail), moatd
# enabled and started.
#
# Environment: DESTDIR, PREFIX, MOAT_BUILD_DIR, MOAT_SKIP_INSTALL=1 (no
# apt-get), MOAT_NO_START=1 (enable but do not start the services),
# MOAT_INSTALL_SERVICES=1 (with DESTDIR: still run the user, package and
# service steps, through whatever useradd/apt-get/systemctl are first on
# PATH; the tests use it with stand-ins), MOAT_SYSTEMD=yes|no (whether
# systemd runs here; default: /run/systemd/system exists).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
destdir=${DESTDIR:-}
prefix=${PREFIX:-/usr/local}
build_dir=${MOAT_BUILD_DIR:-$repo/build}
case "$build_dir" in /*) ;; *) build_dir="$repo/$build_dir" ;; esac
sbindir="$prefix/sbin"
docdir="$prefix/share/doc/moat"
clamav_db=/var/lib/clamav
staged=0
[ -n "$destdir" ] && staged=1
services=1
[ $staged = 1 ] && [ "${MOAT_INSTALL_SERVICES:-}" != 1 ] && services=0

say() { printf '\033[1minstall.sh:\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1minstall.sh: warning:\033[0m %s\n' "$*" >&2; }

if [ $staged = 0 ] && [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: run as root, or set DESTDIR to stage the files" >&2
	exit 2
fi
for bin in moatd moatctl; do
	if [ ! -x "$build_dir/gateway/$bin" ]; then
		echo "install.sh: $build_dir/gateway/$bin is missing: build first" \
			"(./appliance/dev.sh build)" >&2
		exit 2
	fi
done

# The ClamAV updater (a real install only; offline, apt-get may fail: the
# rest of the install goes on and says what is missing).
if [ $services = 1 ] && [ "${MOAT_SKIP_INSTALL:-}" != 1 ] &&
	! dpkg-query -W -f='${Status}' clamav-freshclam 2>/dev/null |
	grep -q "install ok installed"; then
	say "installing clamav-freshclam"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends clamav-freshclam >/dev/null ||
		warn "could not install clamav-freshclam (offline?): install it later"
fi

say "installing moatd and moatctl into $destdir$sbindir"
install -d -m 755 "$destdir$sbindir" "$destdir$docdir"
install -m 755 "$build_dir/gateway/moatd" "$destdir$sbindir/moatd"
install -m 755 "$build_dir/gateway/moatctl" "$destdir$sbindir/moatctl"
for doc in admin-guide.md configuration.md filters.md smtp-policy.md spam.md; do
	[ -f "$repo/docs/$doc" ] && install -m 644 "$repo/docs/$doc" "$destdir$docdir/"
done

install -d -m 755 "$destdir/etc/moat"
if [ -e "$destdir/etc/moat/moat.conf" ]; then
	say "keeping the existing $destdir/etc/moat/moat.conf"
else
	install -m 640 "$repo/appliance/moat.conf" "$destdir/etc/moat/moat.conf"
	say "wrote $destdir/etc/moat/moat.conf (content filters on)"
fi

install -d -m 755 "$destdir/etc/systemd/system"
sed -e "s|@SBINDIR@|$sbindir|g" -e "s|@DOCDIR@|$docdir|g" \
	"$repo/appliance/moatd.service" >"$destdir/etc/systemd/system/moatd.service"
chmod 644 "$destdir/etc/systemd/system/moatd.service"

install -d -m 750 "$destdir/var/lib/moat"

if [ $services = 1 ]; then
	if ! getent passwd moat >/dev/null; then
		say "creating system user moat"
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin moat
	fi
	chown moat:moat "$destdir/var/lib/moat"
	chgrp moat "$destdir/etc/moat/moat.conf"
fi

# Until freshclam has fetched the official database, an EICAR-only test
# signature lets virus scanning work (and be tested) from the first mail;
# moatd logs "*** TEST DATABASE ***" while it is alone, and reloads when
# freshclam's files appear. It stays harmless next to them.
install -d -m 755 "$destdir$clamav_db"
if ! ls "$destdir$clamav_db"/main.c[vl]d "$destdir$clamav_db"/daily.c[vl]d \
	>/dev/null 2>&1; then
	printf 'Moat-Test.EICAR:0:*:%s\n' \
		"58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a" \
		>"$destdir$clamav_db/moat-test-eicar.ndb"
	chmod 644 "$destdir$clamav_db/moat-test-eicar.ndb"
	say "*** ClamAV: no official database in $clamav_db yet: installed an EICAR-only TEST signature (moat-test-eicar.ndb) until freshclam fetches the real one ***"
fi

if [ $services = 0 ]; then
	say "staged under $destdir (no user, no services touched)"
	exit 0
fi

systemd=${MOAT_SYSTEMD:-}
if [ -z "$systemd" ]; then
	systemd=no
	[ -d /run/systemd/system ] && systemd=yes
fi
if [ "$systemd" != yes ]; then
	warn "systemd is not running here: start freshclam and moatd yourself:"
	warn "  freshclam --daemon; $sbindir/moatd -c /etc/moat/moat.conf"
	exit 0
fi
systemctl daemon-reload
now=(--now)
[ "${MOAT_NO_START:-}" = 1 ] && now=()
# freshclam fetches the official database and checks for updates every
# hour; without network it logs the failure and retries: not an error here.
systemctl enable "${now[@]}" clamav-freshclam.service ||
	warn "could not enable clamav-freshclam; virus signatures will not update"
systemctl enable "${now[@]}" moatd.service
say "moatd enabled; its log: journalctl -u moatd (look for 'clamav:' to see which database is loaded)"
