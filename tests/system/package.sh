#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Installing miniboss (owner: ops).  Cases:
#   layout  (short, default suite) `meson install` into a temp root: every
#           file where the Debian package takes it from, the generated unit
#           and example, the manual pages lint-free (mandoc, man), and the
#           installed minibossd reads the installed example
#   debian  (long: about 5 minutes, so it runs only with MB_PACKAGE_TEST=1;
#           tools/run-tests.sh --package sets it) from a clean copy of the
#           source: dpkg-buildpackage -us -uc -b, lintian with no error, then
#           a clean Debian 12 root (debootstrap from deb.debian.org, the base
#           cached as $MB_BUILD/cache/bookworm-minbase.tar) where the packages
#           are installed with apt (without recommends: plus the one port
#           driver the test uses), systemd-analyze verifies the installed
#           unit, and minibossd runs from the installed paths, as configured
#           in /etc/miniboss, serving an image over HTTP to a client in
#           another network namespace
# Exit 0 pass, 1 fail, 77 skip.
set -u
MB_PREFIX=mbk
CASE=${1:?case}
. "$(dirname "$0")/lib.sh"

mb_init
chmod 755 "$MB_TMP"

mandoc_lint() {	# FILE...
	local f out
	for f in "$@"; do
		if command -v mandoc >/dev/null; then
			out=$(mandoc -Tlint -W warning "$f" 2>&1) || [ -n "$out" ] ||
				mb_fail "mandoc $f failed"
			[ -z "$out" ] || mb_fail "mandoc: $out"
		fi
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		[ -z "$out" ] || mb_fail "man --warnings $f: $out"
	done
}

case $CASE in
layout)
	R=$MB_TMP/root
	DESTDIR=$R meson install -C "$MB_BUILD" --no-rebuild >"$MB_TMP/install.log" 2>&1 ||
		mb_fail "meson install: $(tail -n 20 "$MB_TMP/install.log")"
	prefix=$(meson introspect "$MB_BUILD" --buildoptions | python3 -c '
import json, sys
print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
	unitdir=$(meson introspect "$MB_BUILD" --buildoptions | python3 -c '
import json, sys
v = [o["value"] for o in json.load(sys.stdin) if o["name"] == "systemdunitdir"][0]
print(v or "")')
	P=$R$prefix
	# what debian/miniboss.install lists, relative to the prefix
	for f in sbin/minibossd bin/minibossctl bin/mb-manifest bin/mb-frisbee \
		share/doc/miniboss/install.md share/doc/miniboss/examples/miniboss.conf \
		share/man/man1/mb-manifest.1 share/man/man1/mb-frisbee.1 share/man/man5/miniboss.conf.5 \
		share/man/man8/minibossd.8 share/man/man8/minibossctl.8 \
		sbin/mb-healthd sbin/mb-tmcd share/man/man8/mb-healthd.8 share/man/man8/mb-tmcd.8; do
		[ -f "$P/$f" ] || mb_fail "not installed: $prefix/$f"
	done
	unit=$(find "$R" -name minibossd.service | head -n 1)
	[ -n "$unit" ] || mb_fail "no unit installed (systemdunitdir '$unitdir')"
	grep -q "^ExecStart=$prefix/sbin/minibossd -- -c " "$unit" || mb_fail "unit: $(grep ExecStart "$unit")"
	# nothing test-only installed
	find "$R" -type f | grep -E "sync-probe|mb-fris-loadgen|mb-confdoc|test_" &&
		mb_fail "test programs installed"
	mandoc_lint "$P"/share/man/man*/*
	# the page of the configuration lists every key the daemon knows
	"$P/sbin/minibossd" -E | sed -n 's/^#\{0,1\}\([a-z-]*\) = .*/\1/p' | sort -u >"$MB_TMP/keys"
	[ "$(wc -l <"$MB_TMP/keys")" -gt 40 ] || mb_fail "few keys from -E"
	while read -r k; do
		grep -qxF ".B ${k//-/\\-}" "$P/share/man/man5/miniboss.conf.5" ||
			mb_fail "miniboss.conf(5) lacks $k"
	done <"$MB_TMP/keys"
	# the installed minibossd reads the installed example (every key at its
	# default) once the one required key and the paths are set
	mkdir -p "$MB_TMP/state"
	sed -e "s|^#address = .*|address = 10.1.0.1/24|" \
		-e "s|^state-dir = .*|state-dir = $MB_TMP/state|" \
		-e "s|^control-socket = .*|control-socket = $MB_TMP/c.sock|" \
		"$P/share/doc/miniboss/examples/miniboss.conf" >"$MB_TMP/ex.conf"
	"$P/sbin/minibossd" -n -c "$MB_TMP/ex.conf" >"$MB_TMP/n.out" 2>&1 ||
		mb_fail "the installed example does not pass -n: $(cat "$MB_TMP/n.out")"
	cmp -s <("$P/sbin/minibossd" -E) "$P/share/doc/miniboss/examples/miniboss.conf" ||
		mb_fail "the installed example differs from minibossd -E"
	"$P/bin/minibossctl" --help | grep -q "setup" || mb_fail "installed minibossctl --help"
	# the serving contract is written down where an operator looks
	for want in "http://10.1.0.1/images/emulab-ops/" "ftp://10.1.0.1/emulab-ops/" \
		"frisbee -S 10.1.0.1 -F emulab-ops/" "IMAGEID=pid,gid,imagename" "no\\s*empty, \`.\` or \`..\` component" \
		"minibossctl setup --hugepages" "driverctl set-override" "When a node fails over"; do
		tr '\n' ' ' <"$P/share/doc/miniboss/install.md" | grep -Eq "$want" ||
			mb_fail "install.md lacks '$want'"
	done
	grep -q "^\.SH IMAGE NAMES" "$P/share/man/man1/mb-manifest.1" || mb_fail "mb-manifest(1) lacks the names"
	# the boss-side pages name every option their program's --help lists
	for prog in mb-healthd mb-tmcd; do
		"$P/sbin/$prog" --help >"$MB_TMP/$prog.help" || mb_fail "$prog --help"
		for o in $(grep -o -- '--[a-z][a-z-]*' "$MB_TMP/$prog.help" | sort -u); do
			grep -qF -- "${o//-/\\-}" "$P/share/man/man8/$prog.8" ||
				mb_fail "$prog(8) lacks $o"
		done
	done
	mb_pass "install layout, manual pages, example"
	;;
debian)
	[ "${MB_PACKAGE_TEST:-0}" = 1 ] ||
		mb_skip "the package build and install take minutes: set MB_PACKAGE_TEST=1 (tools/run-tests.sh --package)"
	mb_require_cmd dpkg-buildpackage lintian debootstrap git curl
	SRC=$MB_TMP/src/miniboss-0.1.0
	mkdir -p "$SRC"
	# a clean copy: what git knows (committed or not), no build directories
	(cd "$MB_SRC" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 tar -cf - --) | tar -xf - -C "$SRC" || mb_fail "source copy"
	mb_log "dpkg-buildpackage -us -uc -b (build and unit suite)"
	(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$MB_TMP/build.log" 2>&1 ||
		mb_fail "dpkg-buildpackage: $(tail -n 40 "$MB_TMP/build.log")"
	ls "$MB_TMP/src"/miniboss_*.deb "$MB_TMP/src"/miniboss-boss_*.deb >/dev/null ||
		mb_fail "no packages"
	mb_log "lintian"
	lintian --fail-on error "$MB_TMP/src"/miniboss_*.changes >"$MB_TMP/lintian.log" 2>&1 ||
		mb_fail "lintian: $(cat "$MB_TMP/lintian.log")"
	grep -q "^E:" "$MB_TMP/lintian.log" && mb_fail "lintian errors: $(cat "$MB_TMP/lintian.log")"
	# the packages' contents
	dpkg-deb -c "$MB_TMP/src"/miniboss_*_*.deb >"$MB_TMP/contents"
	for f in ./usr/sbin/minibossd ./usr/bin/minibossctl ./lib/systemd/system/minibossd.service \
		./usr/share/man/man5/miniboss.conf.5.gz ./usr/share/doc/miniboss/install.md \
		./usr/share/doc/miniboss/examples/miniboss.conf ./var/lib/miniboss/; do
		grep -q " $f\$" "$MB_TMP/contents" || mb_fail "miniboss lacks $f"
	done
	dpkg-deb -c "$MB_TMP/src"/miniboss-boss_*_*.deb >"$MB_TMP/contents-boss"
	for f in ./usr/sbin/mb-healthd ./usr/sbin/mb-tmcd ./usr/share/miniboss/tmcd-patch/miniboss.sql \
		./usr/share/miniboss/tmcd-patch/apply-tmcd-patch ./usr/share/miniboss/tmcd-patch/mbsel.c \
		./usr/share/miniboss/tmcc-patch/mbload.sh ./usr/share/miniboss/tmcc-patch/apply-rcfrisbee-patch; do
		grep -q " $f\$" "$MB_TMP/contents-boss" || mb_fail "miniboss-boss lacks $f"
	done
	# a clean Debian 12, cached under the build directory
	base=$MB_BUILD/cache/bookworm-minbase.tar
	if [ ! -s "$base" ]; then
		mb_log "debootstrap bookworm (once; cached as $base)"
		mkdir -p "$MB_BUILD/cache"
		debootstrap --variant=minbase bookworm "$MB_TMP/boot" http://deb.debian.org/debian \
			>"$MB_TMP/debootstrap.log" 2>&1 || mb_fail "debootstrap: $(tail -n 20 "$MB_TMP/debootstrap.log")"
		tar -C "$MB_TMP/boot" -cf "$base.tmp" . && mv "$base.tmp" "$base" || mb_fail "cache"
		rm -rf "$MB_TMP/boot"
	fi
	R=$MB_TMP/root
	mkdir -p "$R"
	tar -C "$R" -xf "$base" || mb_fail "unpack the base"
	MOUNTS=()
	# Unmount what the root borrowed before anything removes it; if a mount
	# stays, keep the temp dir rather than let rm -rf reach the host's /dev.
	umount_all() {
		local m
		for ((m = ${#MOUNTS[@]} - 1; m >= 0; m--)); do umount -l "${MOUNTS[m]}"; done
		if grep -q " $R/" /proc/self/mounts; then
			MB_KEEP=1
			echo "# mounts remain under $R: temp dir kept" >&2
		fi
	}
	trap 'rc=$?; umount_all; (exit $rc); mb_cleanup' EXIT
	for m in proc sys dev; do
		mount --rbind "/$m" "$R/$m" && mount --make-rslave "$R/$m" && MOUNTS+=("$R/$m") ||
			mb_fail "mount $m"
	done
	mount -t tmpfs tmpfs "$R/run" && MOUNTS+=("$R/run")
	cp /etc/resolv.conf "$R/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
	chmod 755 "$R/usr/sbin/policy-rc.d"
	cp "$MB_TMP/src"/miniboss_*.deb "$MB_TMP/src"/miniboss-boss_*.deb "$R/tmp/"
	mb_log "apt install the packages in the clean root"
	chroot "$R" sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
		apt-get install -y -qq --no-install-recommends /tmp/miniboss_*.deb /tmp/miniboss-boss_*.deb \
			librte-net-af-packet23 systemd' \
		>"$MB_TMP/apt.log" 2>&1 || mb_fail "apt install: $(tail -n 30 "$MB_TMP/apt.log")"
	out=$(chroot "$R" systemd-analyze verify --man=no /lib/systemd/system/minibossd.service 2>&1) ||
		mb_fail "verify: $out"
	[ -z "$out" ] || mb_fail "systemd-analyze verify (installed): $out"
	[ -d "$R/var/lib/miniboss" ] || mb_fail "no state directory"
	chroot "$R" minibossd --help >/dev/null || mb_fail "installed minibossd --help"
	chroot "$R" mb-healthd --help >/dev/null 2>&1 || mb_fail "installed mb-healthd --help"
	# run it from the installed paths, configured in /etc/miniboss
	mb_bridge_up
	mb_host srv 10.82.0.1/24 noaddr
	mb_client c1 10.82.0.11/24
	mb_port_deaf srv
	mb_make_file "$MB_TMP/img" 4
	mkdir -p "$R/var/lib/miniboss"
	mb_state_add_image "$R/var/lib/miniboss" emulab-ops/TEST "$MB_TMP/img"
	cat >"$R/etc/miniboss/miniboss.conf" <<-EOF
		[server]
		eal-args = -l 0,1 --no-huge -m 512 --no-pci --file-prefix=${MB_PREFIX}${MB_RID} --vdev=net_af_packet0,iface=eth0
		[dpdk]
		address = 10.82.0.1/24
		exception-tap = ${MB_PREFIX}${MB_RID}t
		mbufs = 8191
		[frisbee]
		master-port = 0
		[tcp]
		ftp-port = 0
	EOF
	chroot "$R" minibossd -n >"$MB_TMP/n.out" 2>&1 || mb_fail "-n in the root: $(cat "$MB_TMP/n.out")"
	# the installed minibossd, and the installed minibossctl waits for it
	mb_launch "$MB_TMP" srv -C "$R" -o "$MB_TMP/minibossd.log"
	MB_DAEMON_PID=$MB_PID
	MB_DAEMON_LOG=$MB_LOG
	MB_DAEMON_NS=srv
	mb_daemon_wait_ready 30
	chroot "$R" minibossctl health >"$MB_TMP/h.txt" || mb_fail "health: $(cat "$MB_TMP/h.txt")"
	grep -q "State: ok" "$MB_TMP/h.txt" || mb_fail "health: $(cat "$MB_TMP/h.txt")"
	mb_wait_tcp c1 10.82.0.1 80 15 || mb_fail "HTTP port not reachable"
	mb_in c1 curl -sS -m 30 -o "$MB_TMP/got" "http://10.82.0.1/images/emulab-ops/TEST" ||
		mb_fail "curl from the client"
	[ "$(mb_sha "$MB_TMP/got")" = "$(mb_sha "$MB_TMP/img")" ] || mb_fail "the served image differs"
	mb_daemon_stop || mb_fail "exit status"
	[ ! -e "$R/run/dpdk/${MB_PREFIX}${MB_RID}" ] || mb_fail "runtime directory left in the root"
	mb_pass "packages build, pass lintian, install on a clean Debian 12 and serve"
	;;
*)
	mb_fail "unknown case"
	;;
esac
