#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Start-up, configuration checks and the operator's view (owner: ops).  One
# case per run, each the trap an operator met on a first day, shown fixed:
#   second      a second minibossd with the same config and another EAL
#               prefix stops before EAL: the running daemon's TAP (MAC,
#               up, address), port and master server are untouched
#   tap-exists  an exception-tap naming an existing interface is refused
#               before EAL, and that interface is left alone
#   state-dir   a missing (mistyped) state-dir is an error of -n and of the
#               start, with file:line and the fix; create-state-dir = yes
#               creates it and health notes the empty store
#   privileges  without root (or without CAP_NET_ADMIN) the message names
#               the capabilities, not "hotplug failed"
#   hugepages   no hugetlbfs at --huge-dir, or more memory than is free:
#               a message that says how to reserve hugepages, before EAL
#   pci         a PCI address that does not exist, a NIC bound to a kernel
#               driver, --no-pci without a vdev: refused before EAL
#   cleanup     EAL's runtime directory is removed and the port interface's
#               promiscuous flag restored after SIGTERM, after a dataplane
#               failure and after an EAL failure; a second primary with the
#               same prefix leaves the first one's directory alone
#   check       -n reports every error with file:line (typos with "did you
#               mean", unknown sections, duplicates, bad units, unreadable
#               and mismatched certificates, expired ones), accepts inline
#               comments (the ops doc's example), exits 0 on warnings only;
#               FTP passive ports in the kernel's ephemeral range are a warning
#   reload      a reload that cannot read the manifest key is refused with
#               the file:line (no "reloaded": true), the daemon keeps its
#               configuration; warnings come back in the reply
#   log         log lines carry a timestamp, and a syslog priority instead
#               under journald (JOURNAL_STREAM names stderr)
#   help        --help on every program: usage on stdout, exit 0
#   notify      under a NOTIFY_SOCKET listener (systemd's side, in Python):
#               READY=1 only once the images are verified, STATUS= the
#               one-line summary, RELOADING=1 + MONOTONIC_USEC then READY=1
#               on SIGHUP, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1
#   wait        minibossctl wait (through tools/mb-launch): ready only once
#               the store verified a large store, never before (the ready
#               line comes from the same reply and counts every image); a
#               short timeout during verification exits 1 with what is
#               pending; --state ok waits past a failed image and prints the
#               reason; a daemon killed during the wait ends it at once
#               (exit 2); no daemon, usage errors exit 2; a start refused
#               after launch is exit 3 with the daemon's status.  The TAP
#               carries the address with its prefix (/26) without help.
#   wait-fail   minibossctl wait on a daemon that never gets there: stopped
#               before it answered, the wait ends at its timeout (exit 2,
#               "no daemon answered"); continued, it returns 0; a socket at
#               its client limit is asked again (a slot freed: 0; none: exit
#               2 with the refusal); --state ok on a degraded daemon exits 1
#               at the timeout with the reason, also when the daemon stops
#               answering meanwhile; SIGKILL or SIGTERM under waiters with
#               and without --pid ends them at once (exit 2)
#   unit        systemd-analyze verify accepts dist/minibossd.service, and it
#               has what the daemon's notifications and DPDK need
#   status      health is a summary (state, serving address, images, a
#               failed image's file and expected hash), stats non-zero only
#               (-a all), config non-default keys as written; --json as before
# Exit 0 pass, 1 fail, 77 skip.
set -u
MB_PREFIX=mbu
CASE=${1:?case}
. "$(dirname "$0")/lib.sh"

D=$MB_BUILD/server/minibossd
C=$MB_BUILD/tools/minibossctl

# The "help" case needs neither root nor namespaces.
if [ "$CASE" = help ]; then
	for p in "$D" "$C" "$MB_BUILD/tools/mb-manifest" "$MB_BUILD/tools/mb-frisbee" \
		"$MB_BUILD/tools/mb-fris-loadgen" "$MB_BUILD/tmcd-patch/mb-healthd" \
		"$MB_BUILD/tmcd-patch/mb-tmcd"; do
		[ -x "$p" ] || mb_fail "'$p' not built"
		out=$("$p" --help 2>/dev/null) || mb_fail "$p --help exits $?"
		echo "$out" | grep -q "usage:" || mb_fail "$p --help: no usage on stdout"
	done
	out=$("$C" setup --help) || mb_fail "minibossctl setup --help"
	echo "$out" | grep -q "usage: minibossctl setup" || mb_fail "setup --help: $out"
	out=$("$D" -- --help) || mb_fail "minibossd -- --help"
	echo "$out" | grep -q -- "--check" || mb_fail "minibossd -- --help: $out"
	"$D" --bogus >/dev/null 2>&1; [ $? = 2 ] || mb_fail "an unknown option should exit 2"
	mb_pass "--help on every program"
fi

mb_init
[ -x "$D" ] && [ -x "$C" ] || mb_skip "minibossd/minibossctl not built"
chmod 755 "$MB_TMP"
TAP=${MB_PREFIX}${MB_RID}t
PFX=${MB_PREFIX}${MB_RID}

# eal [extra EAL args...]: the EAL arguments of a daemon in host srv.
eal() { echo "-l 0,1 --no-huge -m 512 --no-pci --file-prefix=${1:-$PFX} --vdev=$(mb_vdev)"; }

# fg OUT ARGS...: run minibossd in srv in the foreground (max 30 s); status in $RC.
fg() {
	local out=$1
	shift
	timeout 30 ip netns exec "$(mb_ns srv)" "$D" "$@" >"$out" 2>&1
	RC=$?
}

# no_eal LOG: the daemon stopped before EAL said anything.
no_eal() { ! grep -q "EAL:" "$1" || mb_fail "EAL started: $(head -n 5 "$1")"; }

net() {
	mb_bridge_up
	mb_host srv 10.81.0.1/24 noaddr
	mb_host c1 10.81.0.11/24
	mkdir -p "$MB_TMP/state"
}

conf_default() { mb_conf_write 10.81.0.1/24 > "$MB_TMP/mb.conf"; }

case $CASE in
second)
	net
	mb_make_file "$MB_TMP/img" 2
	mb_state_add_image "$MB_TMP/state" proj/img "$MB_TMP/img"
	conf_default
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready
	mb_wait_tcp c1 10.81.0.1 64494 || mb_fail "master server not reachable"
	before=$(mb_in srv ip -o link show "$TAP" | sed 's/^[0-9]*: //')
	addr_before=$(mb_in srv ip -o -4 addr show dev "$TAP")
	port_before=$(mb_in srv ip -o link show eth0 | sed 's/^[0-9]*: //')
	# same config, another EAL prefix: must stop before EAL
	fg "$MB_TMP/second.log" $(eal "${PFX}b") -- -c "$MB_TMP/mb.conf" -d
	[ "$RC" = 1 ] || mb_fail "second daemon exited $RC: $(cat "$MB_TMP/second.log")"
	grep -q "another minibossd (pid $MB_DAEMON_PID) serves control socket" \
		"$MB_TMP/second.log" || mb_fail "no clear refusal: $(cat "$MB_TMP/second.log")"
	no_eal "$MB_TMP/second.log"
	[ ! -e "/var/run/dpdk/${PFX}b" ] || mb_fail "second daemon left /var/run/dpdk/${PFX}b"
	after=$(mb_in srv ip -o link show "$TAP" | sed 's/^[0-9]*: //')
	[ "$before" = "$after" ] || mb_fail "TAP changed: '$before' -> '$after'"
	[ "$addr_before" = "$(mb_in srv ip -o -4 addr show dev "$TAP")" ] || mb_fail "TAP address"
	[ "$port_before" = "$(mb_in srv ip -o link show eth0 | sed 's/^[0-9]*: //')" ] ||
		mb_fail "port interface changed"
	mb_wait_tcp c1 10.81.0.1 64494 2 || mb_fail "master server dead after the second start"
	mb_ctl health >/dev/null || mb_fail "running daemon not healthy: $(mb_ctl health)"
	mb_daemon_stop || mb_fail "first daemon's exit status"
	mb_pass "a second daemon stops before EAL and leaves the first one's TAP and port alone"
	;;
tap-exists)
	net
	conf_default
	mb_in srv ip link add "$TAP" type veth peer name "${TAP}p" || mb_fail "veth"
	mac=$(mb_in srv cat "/sys/class/net/$TAP/address")
	fg "$MB_TMP/d.log" $(eal) -- -c "$MB_TMP/mb.conf"
	[ "$RC" = 1 ] || mb_fail "exit $RC: $(cat "$MB_TMP/d.log")"
	grep -q "exception-tap: interface '$TAP' already exists" "$MB_TMP/d.log" ||
		mb_fail "message: $(cat "$MB_TMP/d.log")"
	no_eal "$MB_TMP/d.log"
	[ "$(mb_in srv cat "/sys/class/net/$TAP/address")" = "$mac" ] || mb_fail "MAC changed"
	[ ! -e "/var/run/dpdk/$PFX" ] || mb_fail "runtime directory left"
	mb_pass "an existing TAP name is refused before EAL"
	;;
state-dir)
	net
	conf_default
	sed -i "s|^state-dir = .*|state-dir = $MB_TMP/stat|" "$MB_TMP/mb.conf"
	"$D" -n -c "$MB_TMP/mb.conf" >"$MB_TMP/n.out" 2>&1 && mb_fail "-n accepted a missing state-dir"
	grep -q "^minibossd: $MB_TMP/mb.conf:2: error: \[server\] state-dir: directory '$MB_TMP/stat' does not exist.*create-state-dir = yes" \
		"$MB_TMP/n.out" || mb_fail "-n: $(cat "$MB_TMP/n.out")"
	fg "$MB_TMP/d.log" $(eal) -- -c "$MB_TMP/mb.conf"
	[ "$RC" = 1 ] || mb_fail "started with a missing state-dir"
	grep -q "mb.conf:2: error: \[server\] state-dir" "$MB_TMP/d.log" || mb_fail "$(cat "$MB_TMP/d.log")"
	no_eal "$MB_TMP/d.log"
	[ ! -e "$MB_TMP/stat" ] || mb_fail "state-dir created anyway"
	printf '[server]\ncreate-state-dir = yes\n' >>"$MB_TMP/mb.conf"
	"$D" -n -c "$MB_TMP/mb.conf" >/dev/null 2>&1 || mb_fail "-n refuses with create-state-dir"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready
	[ -d "$MB_TMP/stat/images" ] || mb_fail "state-dir not created"
	mb_ctl health >"$MB_TMP/h.txt" && mb_fail "health ok with an empty store: $(cat "$MB_TMP/h.txt")"
	grep -Eq "State: (down|degraded)" "$MB_TMP/h.txt" &&
		grep -q "no images: the store is empty" "$MB_TMP/h.txt" ||
		mb_fail "health does not say the store is empty: $(cat "$MB_TMP/h.txt")"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "a missing state-dir is an error unless create-state-dir"
	;;
privileges)
	net
	conf_default
	chmod 1777 "$MB_TMP/state"
	chmod 644 "$MB_TMP/mb.conf"
	command -v setpriv >/dev/null || mb_skip "no setpriv"
	timeout 30 ip netns exec "$(mb_ns srv)" setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=-all "$D" $(eal) -- -c "$MB_TMP/mb.conf" >"$MB_TMP/nobody.log" 2>&1
	[ $? = 1 ] || mb_fail "ran as nobody: $(cat "$MB_TMP/nobody.log")"
	for cap in "CAP_NET_ADMIN (the exception TAP)" "CAP_NET_RAW (the raw socket of the port)" \
		"CAP_NET_BIND_SERVICE (a port below 1024)"; do
		grep -q "running as uid 65534 without .*$cap.*: run minibossd as root" \
			"$MB_TMP/nobody.log" || mb_fail "no '$cap': $(cat "$MB_TMP/nobody.log")"
	done
	grep -q "hotplug failed" "$MB_TMP/nobody.log" && mb_fail "the old message"
	no_eal "$MB_TMP/nobody.log"
	timeout 30 ip netns exec "$(mb_ns srv)" setpriv --bounding-set=-net_admin \
		"$D" $(eal) -- -c "$MB_TMP/mb.conf" >"$MB_TMP/noadmin.log" 2>&1
	[ $? = 1 ] || mb_fail "ran without CAP_NET_ADMIN"
	grep -q "running as uid 0 without CAP_NET_ADMIN (the exception TAP):" "$MB_TMP/noadmin.log" ||
		mb_fail "message: $(cat "$MB_TMP/noadmin.log")"
	no_eal "$MB_TMP/noadmin.log"
	mb_pass "missing capabilities are named before EAL"
	;;
hugepages)
	net
	conf_default
	mkdir -p "$MB_TMP/nothuge"
	fg "$MB_TMP/d.log" -l 0,1 -m 64 --huge-dir="$MB_TMP/nothuge" --no-pci \
		--file-prefix="$PFX" --vdev="$(mb_vdev)" -- -c "$MB_TMP/mb.conf"
	[ "$RC" = 1 ] || mb_fail "exit $RC"
	grep -q -- "--huge-dir $MB_TMP/nothuge is not a hugetlbfs mount: mount -t hugetlbfs" \
		"$MB_TMP/d.log" || mb_fail "message: $(cat "$MB_TMP/d.log")"
	no_eal "$MB_TMP/d.log"
	mkdir -p "$MB_TMP/hp"
	mount -t hugetlbfs nodev "$MB_TMP/hp" || mb_skip "cannot mount hugetlbfs"
	fg "$MB_TMP/d2.log" -l 0,1 -m 100000000 --huge-dir="$MB_TMP/hp" --no-pci \
		--file-prefix="$PFX" --vdev="$(mb_vdev)" -- -c "$MB_TMP/mb.conf"
	umount "$MB_TMP/hp"
	[ "$RC" = 1 ] || mb_fail "exit $RC"
	grep -Eq "no free hugepages .*minibossctl setup --hugepages|asks for 97656[0-9]+ MiB of hugepages but [0-9]+ MiB are free" \
		"$MB_TMP/d2.log" || mb_fail "message: $(cat "$MB_TMP/d2.log")"
	no_eal "$MB_TMP/d2.log"
	mb_pass "hugepage problems are named before EAL, with the fix"
	;;
pci)
	net
	conf_default
	fg "$MB_TMP/d.log" -l 0,1 --no-huge -m 256 -a 0000:ff:1f.7 --file-prefix="$PFX" \
		-- -c "$MB_TMP/mb.conf"
	[ "$RC" = 1 ] || mb_fail "exit $RC"
	grep -q "there is no PCI device 0000:ff:1f.7" "$MB_TMP/d.log" || mb_fail "$(cat "$MB_TMP/d.log")"
	no_eal "$MB_TMP/d.log"
	fg "$MB_TMP/d2.log" -l 0,1 --no-huge -m 256 --no-pci --file-prefix="$PFX" -- -c "$MB_TMP/mb.conf"
	[ "$RC" = 1 ] || mb_fail "exit $RC"
	grep -q "no port to serve from" "$MB_TMP/d2.log" || mb_fail "$(cat "$MB_TMP/d2.log")"
	no_eal "$MB_TMP/d2.log"
	# A NIC the kernel drives (this machine's own, never touched: the check
	# runs before EAL).
	nic=
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/class" 2>/dev/null | cut -c1-4)" = 0x02 ] || continue
		drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
		case "$drv" in vfio-pci|uio_pci_generic|igb_uio|mlx4_core|mlx5_core|"") continue ;; esac
		nic=$(basename "$d")
		break
	done
	if [ -n "$nic" ]; then
		fg "$MB_TMP/d3.log" -l 0,1 --no-huge -m 256 -a "$nic" --file-prefix="$PFX" \
			-- -c "$MB_TMP/mb.conf"
		[ "$RC" = 1 ] || mb_fail "exit $RC"
		grep -q "the NIC is bound to '$drv'; bind it to vfio-pci first: minibossctl setup --bind $nic" \
			"$MB_TMP/d3.log" || mb_fail "$(cat "$MB_TMP/d3.log")"
		no_eal "$MB_TMP/d3.log"
	else
		mb_log "no kernel-driven network PCI device here, that part skipped"
	fi
	mb_pass "PCI problems are named before EAL"
	;;
cleanup)
	net
	mb_make_file "$MB_TMP/img" 1
	mb_state_add_image "$MB_TMP/state" img "$MB_TMP/img"
	conf_default
	flags() { mb_in srv ip -o link show eth0 | grep -o '<[^>]*>'; }
	f0=$(flags)
	echo "$f0" | grep -q PROMISC && mb_fail "eth0 promiscuous before the test"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready
	[ -d "/var/run/dpdk/$PFX" ] || mb_fail "no runtime directory while running"
	flags | grep -q PROMISC || mb_log "note: the PMD did not set PROMISC"
	# a second primary on the same prefix (its own socket and TAP) fails in
	# EAL and must leave the first one's directory alone
	sed -e "s|control.sock|other.sock|" -e "s|^exception-tap = .*|exception-tap =|" \
		"$MB_TMP/mb.conf" >"$MB_TMP/other.conf"
	fg "$MB_TMP/other.log" $(eal) -- -c "$MB_TMP/other.conf"
	[ "$RC" = 1 ] || mb_fail "a second primary on the same prefix ran"
	[ -e "/var/run/dpdk/$PFX/config" ] || mb_fail "the running daemon's runtime directory was removed"
	mb_ctl health >/dev/null || mb_fail "first daemon unhealthy after the second's failure"
	mb_daemon_stop || mb_fail "exit status after SIGTERM"
	[ ! -e "/var/run/dpdk/$PFX" ] || mb_fail "runtime directory left after SIGTERM: $(ls "/var/run/dpdk/$PFX")"
	[ "$(flags)" = "$f0" ] || mb_fail "eth0 flags not restored: $f0 -> $(flags)"
	[ ! -e "$MB_TMP/control.sock.lock" ] || mb_fail "lock file left"
	# a dataplane failure after EAL (no port 5)
	sed 's|^\[dpdk\]$|[dpdk]\nport = 5|' "$MB_TMP/mb.conf" >"$MB_TMP/p5.conf"
	fg "$MB_TMP/p5.log" $(eal) -- -c "$MB_TMP/p5.conf"
	[ "$RC" = 1 ] || mb_fail "ran without port 5"
	grep -q "EAL:" "$MB_TMP/p5.log" || mb_fail "did not get to EAL: $(cat "$MB_TMP/p5.log")"
	[ ! -e "/var/run/dpdk/$PFX" ] || mb_fail "runtime directory left after a dataplane failure"
	[ "$(flags)" = "$f0" ] || mb_fail "eth0 flags after a dataplane failure: $(flags)"
	# an EAL failure (no memory for its segment lists)
	fg "$MB_TMP/m.log" -l 0,1 --no-huge -m 100000000 --no-pci --file-prefix="$PFX" \
		--vdev="$(mb_vdev)" -- -c "$MB_TMP/mb.conf"
	[ "$RC" = 1 ] || mb_fail "ran with 100 TB"
	grep -q "EAL initialisation failed" "$MB_TMP/m.log" || mb_fail "$(cat "$MB_TMP/m.log")"
	[ ! -e "/var/run/dpdk/$PFX" ] || mb_fail "runtime directory left after an EAL failure"
	mb_pass "runtime directory removed and interface flags restored on every exit"
	;;
check)
	command -v openssl >/dev/null || mb_skip "no openssl"
	K=$MB_TMP/keys
	mkdir -p "$K" "$MB_TMP/state"
	# a CA, a client certificate and key, another key, an expired certificate
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=ca -keyout "$K/ca.key" -out "$K/ca.crt" 2>/dev/null || mb_fail "openssl ca"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mb \
		-keyout "$K/client.key" -out "$K/client.csr" 2>/dev/null
	openssl x509 -req -in "$K/client.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial \
		-days 10 -out "$K/client.crt" 2>/dev/null || mb_fail "openssl client"
	openssl genpkey -algorithm ed25519 -out "$K/other.key" 2>/dev/null
	# expired in 2020 (openssl ca takes explicit dates)
	touch "$K/index.txt"; echo 01 >"$K/serial"
	printf '[ca]\ndefault_ca = c\n[c]\ndatabase = %s\nnew_certs_dir = %s\nserial = %s\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n' \
		"$K/index.txt" "$K" "$K/serial" >"$K/ca.cnf"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=old \
		-keyout "$K/old.key" -out "$K/old.csr" 2>/dev/null
	openssl ca -batch -config "$K/ca.cnf" -selfsign -keyfile "$K/old.key" -startdate 20200101000000Z \
		-enddate 20200102000000Z -in "$K/old.csr" -out "$K/old.crt" >/dev/null 2>&1 ||
		mb_fail "openssl ca"
	"$MB_BUILD/tools/mb-manifest" keygen "$K/ops.key" "$K/ops.pub" >/dev/null || mb_fail keygen
	chmod 600 "$K"/*.key
	# 1. every error, each with its line
	cat >"$MB_TMP/bad.conf" <<-EOF
		[server]
		state-dir = $MB_TMP/state   # inline comments are fine
		log-levl = debug
		[dpdk]
		address = 10.81.0.1/24
		mtu = 1500
		mtu = 9000
		[images]
		hugepage-budget = 64M
		max-image-size = 10 bananas
		[frisbe]
		rate = 1G
		[origin]
		url = https://ops.example.net/
		ca-file = $K/missing-ca.crt
		client-cert = $K/client.crt
		client-key = $K/other.key
		manifest-pubkey = $K/ca.crt
		[control]
		tls-listen = 10.81.0.1:8443
		tls-cert = $K/old.crt
		tls-key = $K/old.key
		tls-ca = $K/ca.crt
	EOF
	"$D" -n -c "$MB_TMP/bad.conf" >"$MB_TMP/n.out" 2>&1 && mb_fail "-n accepted: $(cat "$MB_TMP/n.out")"
	B=$MB_TMP/bad.conf
	for want in \
		"$B:3: error: unknown key 'log-levl' in \[server\]; did you mean 'log-level'?" \
		"$B:7: error: \[dpdk\] mtu is set twice (first on line 6)" \
		"$B:10: error: \[images\] max-image-size: '10 bananas' is not a valid size: unknown unit 'bananas'" \
		"$B:11: error: unknown section '\[frisbe\]'; did you mean \[frisbee\]?" \
		"$B:15: error: \[origin\] ca-file: cannot read '$K/missing-ca.crt': No such file or directory" \
		"$B:17: error: \[origin\] client-key: '$K/other.key' is not the key of the certificate in '$K/client.crt'" \
		"$B:18: error: \[origin\] manifest-pubkey: '$K/ca.crt'" \
		"$B:21: error: \[control\] tls-cert: the certificate in '$K/old.crt' expired on 2020-01-02" \
		"$B:16: warning: \[origin\] client-cert: the certificate in '$K/client.crt' expires on" \
		"test failed (8 errors, 1 warning)"; do
		grep -q "$want" "$MB_TMP/n.out" || mb_fail "-n lacks '$want': $(cat "$MB_TMP/n.out")"
	done
	grep -q "rate" "$MB_TMP/n.out" && mb_fail "a key of an unknown section reported: $(cat "$MB_TMP/n.out")"
	# in the order of the file
	grep -o "bad.conf:[0-9]*:" "$MB_TMP/n.out" | cut -d: -f2 | sort -n -c ||
		mb_fail "not in line order: $(cat "$MB_TMP/n.out")"
	# each problem once: a missing address is one error
	printf '[server]\nstate-dir = %s\n' "$MB_TMP/state" >"$MB_TMP/na.conf"
	"$D" -n -c "$MB_TMP/na.conf" >"$MB_TMP/na.out" 2>&1 && mb_fail "-n accepted no address"
	grep -q "test failed (1 error, 0 warnings)" "$MB_TMP/na.out" || mb_fail "$(cat "$MB_TMP/na.out")"
	# 2. the ops-side document's example, inline comments and all, parses:
	# the only errors are the files it names that this machine lacks
	python3 - "$MB_SRC/doc/ops-nginx.md" >"$MB_TMP/doc.conf" <<-'EOF' || mb_fail "no example in the doc"
		import re, sys
		text = open(sys.argv[1]).read()
		m = re.search(r"\n((?:    .*\n|\n)*?    \[origin\]\n(?:    .*\n)+)", text)
		print("\n".join(l[4:] for l in m.group(1).splitlines()))
	EOF
	grep -q "#" "$MB_TMP/doc.conf" || mb_fail "the doc's example has no inline comment any more"
	printf '[server]\nstate-dir = %s\n[dpdk]\naddress = 10.81.0.1/24\n' "$MB_TMP/state" >>"$MB_TMP/doc.conf"
	"$D" -n -c "$MB_TMP/doc.conf" >"$MB_TMP/doc.out" 2>&1
	grep "error:" "$MB_TMP/doc.out" | grep -v -E "cannot read '/etc/miniboss/|test failed" &&
		mb_fail "the doc's example: $(cat "$MB_TMP/doc.out")"
	grep -q "error: \[origin\] ca-file: cannot read '/etc/miniboss/" "$MB_TMP/doc.out" ||
		mb_fail "doc example: $(cat "$MB_TMP/doc.out")"
	# 3. all good but a world-readable key: exit 0 with a warning
	chmod 644 "$K/client.key"
	cat >"$MB_TMP/good.conf" <<-EOF
		[server]
		state-dir = $MB_TMP/state
		[dpdk]
		address = 10.81.0.1/24
		exception-tap = mb0 # the kernel's side
		[frisbee]
		rate = 10Gbit/s
		idle-timeout = 1h30m
		[origin]
		url = https://ops.example.net/
		ca-file = $K/ca.crt
		client-cert = $K/client.crt
		client-key = $K/client.key
		manifest-pubkey = $K/ops.pub
		max-rate = 100MiB/s
	EOF
	"$D" -n -c "$MB_TMP/good.conf" >"$MB_TMP/g.out" 2>&1 || mb_fail "good config refused: $(cat "$MB_TMP/g.out")"
	grep -q "readable by every user" "$MB_TMP/g.out" || mb_fail "no key warning: $(cat "$MB_TMP/g.out")"
	grep -q "test is successful (0 errors, 2 warnings)" "$MB_TMP/g.out" ||
		mb_fail "summary: $(cat "$MB_TMP/g.out")"
	# 4. the FTP passive ports against the kernel's ephemeral range, in a
	# network namespace of our own (the daemon reads its own namespace's)
	printf '[server]\nstate-dir = %s\n[dpdk]\naddress = 10.81.0.1/24\n' "$MB_TMP/state" \
		>"$MB_TMP/p.conf"
	cp "$MB_TMP/p.conf" "$MB_TMP/p50.conf"
	printf '[tcp]\nftp-pasv-min = 50000\nftp-pasv-max = 50999\n' >>"$MB_TMP/p50.conf"
	# eph CONF RANGE [RESERVED]: -n in a fresh namespace with that sysctl
	eph() {
		unshare -n sh -c 'sysctl -qw net.ipv4.ip_local_port_range="$1" &&
			{ [ -z "$2" ] || sysctl -qw net.ipv4.ip_local_reserved_ports="$2"; } &&
			exec "$3" -n -c "$4"' sh "$2" "${3:-}" "$D" "$1" >"$MB_TMP/e.out" 2>&1 ||
			mb_fail "-n refused: $(cat "$MB_TMP/e.out")"
	}
	eph "$MB_TMP/p.conf" "32768 60999"
	grep -q "ephemeral" "$MB_TMP/e.out" && mb_fail "the default passive range warned: $(cat "$MB_TMP/e.out")"
	eph "$MB_TMP/p50.conf" "32768 60999"
	grep -q "p50.conf:6: warning: \[tcp\] ftp-pasv-min..ftp-pasv-max: 1000 of the passive ports (50000-50999) are in the kernel's ephemeral range.*ip_local_reserved_ports=50000-50999" \
		"$MB_TMP/e.out" || mb_fail "no warning for 50000-50999: $(cat "$MB_TMP/e.out")"
	eph "$MB_TMP/p50.conf" "32768 60999" "50000-50999"
	grep -q "ephemeral" "$MB_TMP/e.out" && mb_fail "a reserved range warned: $(cat "$MB_TMP/e.out")"
	eph "$MB_TMP/p.conf" "40000 61499" "61100-61200"
	grep -q "warning: \[tcp\] ftp-pasv-min..ftp-pasv-max: 399 of the passive ports (61000-61499)" \
		"$MB_TMP/e.out" || mb_fail "no warning for a wide ephemeral range: $(cat "$MB_TMP/e.out")"
	mb_pass "-n reports every problem with file:line"
	;;
reload)
	net
	K=$MB_TMP/keys
	mkdir -p "$K"
	"$MB_BUILD/tools/mb-manifest" keygen "$K/ops.key" "$K/ops.pub" >/dev/null || mb_fail keygen
	mb_make_file "$MB_TMP/img" 1
	mb_state_add_image "$MB_TMP/state" img "$MB_TMP/img"
	conf_default
	printf '[origin]\nmanifest-pubkey = %s\n' "$K/ops.pub" >>"$MB_TMP/mb.conf"
	line=$(grep -n "^manifest-pubkey" "$MB_TMP/mb.conf" | cut -d: -f1)
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready
	mb_ctl reload >"$MB_TMP/r0.out" 2>&1 || mb_fail "plain reload: $(cat "$MB_TMP/r0.out")"
	# what the unit's ExecReload runs: the socket from the configuration
	mb_in srv "$C" -c "$MB_TMP/mb.conf" reload >"$MB_TMP/r0c.out" 2>&1 ||
		mb_fail "minibossctl -c reload: $(cat "$MB_TMP/r0c.out")"
	grep -q "^reloaded" "$MB_TMP/r0.out" || mb_fail "reload output: $(cat "$MB_TMP/r0.out")"
	# the key becomes unreadable garbage: the reload is refused, with the place
	echo "not a key" >"$K/ops.pub"
	mb_ctl --json reload >"$MB_TMP/r1.json" 2>"$MB_TMP/r1.err" && mb_fail "reload accepted a bad key"
	grep -q "reloaded" "$MB_TMP/r1.json" && mb_fail "replied reloaded: $(cat "$MB_TMP/r1.json")"
	grep -q "reload: reload refused, the running configuration stays (1 error)" "$MB_TMP/r1.err" &&
		grep -q "^$MB_TMP/mb.conf:$line: error: \[origin\] manifest-pubkey: '$K/ops.pub': not a PEM key" \
			"$MB_TMP/r1.err" || mb_fail "error: $(cat "$MB_TMP/r1.err")"
	python3 - "$MB_TMP/control.sock" <<-'EOF' || mb_fail "raw reload reply"
		import json, socket, sys
		s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
		s.sendall(b'{"cmd":"reload"}\n')
		r = json.loads(s.makefile().readline())
		assert r["ok"] is False and "manifest-pubkey" in r["error"], r
	EOF
	grep -q "reload: $MB_TMP/mb.conf:$line: error: \[origin\] manifest-pubkey" "$MB_DAEMON_LOG" ||
		mb_fail "not in the log"
	# a typo too, through SIGHUP: refused, logged with its line
	rm -f "$K/ops.key" "$K/ops.pub"
	"$MB_BUILD/tools/mb-manifest" keygen "$K/ops.key" "$K/ops.pub" >/dev/null || mb_fail keygen
	printf '[frisbee]\nrat = 1G\n' >>"$MB_TMP/mb.conf"
	kill -HUP "$MB_DAEMON_PID"
	for _ in $(seq 50); do grep -q "did you mean 'rate'" "$MB_DAEMON_LOG" && break; sleep 0.1; done
	grep -q "reload: $MB_TMP/mb.conf:$((line + 2)): error: unknown key 'rat' in \[frisbee\]; did you mean 'rate'?" \
		"$MB_DAEMON_LOG" || mb_fail "SIGHUP error not logged with its line"
	sed -i '$d' "$MB_TMP/mb.conf"
	sed -i '$d' "$MB_TMP/mb.conf"
	# warnings come back in the reply: a world-readable private key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj /CN=mb -keyout "$K/c.key" -out "$K/c.crt" 2>/dev/null || mb_fail openssl
	chmod 644 "$K/c.key"
	printf 'client-cert = %s\nclient-key = %s\n' "$K/c.crt" "$K/c.key" >>"$MB_TMP/mb.conf"
	mb_ctl reload >"$MB_TMP/r2.out" 2>&1 || mb_fail "reload with a warning: $(cat "$MB_TMP/r2.out")"
	grep -q "^warning: .*client-key: private key '$K/c.key' is readable by every user" \
		"$MB_TMP/r2.out" || mb_fail "warning not shown: $(cat "$MB_TMP/r2.out")"
	mb_ctl --json reload | python3 -c 'import json, sys
r = json.load(sys.stdin); assert r["reloaded"] is True and len(r["warnings"]) == 1, r' ||
		mb_fail "warnings not in the JSON reply"
	mb_ctl health >/dev/null || mb_fail "unhealthy after the refused reloads"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "reload refuses what -n refuses, and says where"
	;;
log)
	net
	conf_default
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready
	mb_daemon_stop || mb_fail "exit status"
	stamp='^20[0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3} '
	grep -Eq "${stamp}EAL: " "$MB_DAEMON_LOG" || mb_fail "EAL lines without time: $(head -3 "$MB_DAEMON_LOG")"
	grep -Eq "${stamp}minibossd: main: dataplane running" "$MB_DAEMON_LOG" ||
		mb_fail "no stamped line of the daemon's own"
	n=$(grep -c "minibossd: " "$MB_DAEMON_LOG")
	s=$(grep -Ec "${stamp}minibossd: " "$MB_DAEMON_LOG")
	[ "$n" = "$s" ] || mb_fail "$((n - s)) of $n lines without a timestamp"
	# under journald: the priority instead (stderr is the journal stream)
	mb_in srv ip link add "$TAP" type veth peer name "${TAP}p"
	: >"$MB_TMP/j.log"
	js=$(stat -c '%d:%i' "$MB_TMP/j.log")
	JOURNAL_STREAM=$js timeout 30 ip netns exec "$(mb_ns srv)" "$D" $(eal) -- -c "$MB_TMP/mb.conf" \
		>>"$MB_TMP/j.log" 2>&1
	grep -q "^<3>minibossd: main: error: \[dpdk\] exception-tap: interface '$TAP' already exists" \
		"$MB_TMP/j.log" || mb_fail "journal prefix: $(cat "$MB_TMP/j.log")"
	grep -Eq "$stamp" "$MB_TMP/j.log" && mb_fail "timestamp under journald"
	mb_pass "timestamps, and syslog priorities under journald"
	;;
status)
	net
	mb_make_file "$MB_TMP/img" 3
	mb_state_add_image "$MB_TMP/state" proj/big "$MB_TMP/img" 3
	printf 'small\n' >"$MB_TMP/small"
	mb_state_add_image "$MB_TMP/state" small "$MB_TMP/small" 2
	want=$(mb_sha "$MB_TMP/small")
	printf 'X' | dd of="$MB_TMP/state/images/small" bs=1 conv=notrunc 2>/dev/null
	conf_default
	printf '[images]\nhugepage-budget = 64M   # cache\n[frisbee]\nidle-timeout = 5m\n' >>"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready
	mb_ctl health >"$MB_TMP/h.txt"; [ $? = 1 ] || mb_fail "degraded health exits 0"
	[ "$(wc -l <"$MB_TMP/h.txt")" -le 20 ] || mb_fail "health is $(wc -l <"$MB_TMP/h.txt") lines"
	[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$MB_TMP/h.txt")" -le 100 ] ||
		mb_fail "health lines over 100 columns: $(cat "$MB_TMP/h.txt")"
	for want_line in "State: degraded" "image 'small' v2 failed: checksum mismatch" \
		"Serving: 10.81.0.1/24 on DPDK port 0, link up" "Images: 1 ok" "1 failed" \
		"file $MB_TMP/state/images/small" "expected sha256 $want" "in hugepages of a 64 MiB budget" \
		"Sync: off"; do
		grep -q "$want_line" "$MB_TMP/h.txt" || mb_fail "health lacks '$want_line': $(cat "$MB_TMP/h.txt")"
	done
	grep -v -e sha256 -e "file " "$MB_TMP/h.txt" | grep -q "[0-9]\{7\}" &&
		mb_fail "raw epoch or byte count in health: $(cat "$MB_TMP/h.txt")"
	mb_ctl --json health | python3 -c 'import json, sys
h = json.load(sys.stdin); assert h["state"] == "degraded" and h["store"]["failed"] == 1, h' ||
		mb_fail "--json health"
	mb_ctl stats >"$MB_TMP/s.txt" || mb_fail "stats"
	grep -Eq "^  [a-z_]+ +0$" "$MB_TMP/s.txt" && mb_fail "zero counters without -a: $(cat "$MB_TMP/s.txt")"
	mb_ctl -a stats >"$MB_TMP/sa.txt" || mb_fail "stats -a"
	grep -Eq "^  drop_ip_cksum +0$" "$MB_TMP/sa.txt" || mb_fail "stats -a lacks zero counters"
	mb_ctl config >"$MB_TMP/c.txt" || mb_fail "config"
	grep -q "^hugepage-budget = 64M	# default 0, line " "$MB_TMP/c.txt" ||
		mb_fail "config: $(cat "$MB_TMP/c.txt")"
	grep -q "^idle-timeout = 5m" "$MB_TMP/c.txt" || mb_fail "config idle-timeout"
	grep -q "^mtu = " "$MB_TMP/c.txt" && mb_fail "a default key without -a"
	[ "$(wc -l <"$MB_TMP/c.txt")" -le 30 ] || mb_fail "config is $(wc -l <"$MB_TMP/c.txt") lines"
	mb_ctl -a config | grep -q "^mtu = 1500" || mb_fail "config -a lacks defaults"
	# what config prints is a configuration -n accepts
	mb_ctl -a config >"$MB_TMP/again.conf"
	"$D" -n -c "$MB_TMP/again.conf" >"$MB_TMP/again.out" 2>&1 ||
		mb_fail "config -a output is not a valid configuration: $(cat "$MB_TMP/again.out")"
	# sessions: the tables, not the master server's counters again
	mb_ctl sessions >"$MB_TMP/ss.txt" || mb_fail "sessions"
	grep -Eq "counters|req_get|NOIMAGE" "$MB_TMP/ss.txt" && mb_fail "sessions repeats counters: $(cat "$MB_TMP/ss.txt")"
	grep -q "^Master server" "$MB_TMP/ss.txt" && grep -q "^Dataplane:" "$MB_TMP/ss.txt" ||
		mb_fail "sessions: $(cat "$MB_TMP/ss.txt")"
	mb_ctl images >"$MB_TMP/i.txt"
	grep -q "^  expected sha256  $want" "$MB_TMP/i.txt" || mb_fail "images: $(cat "$MB_TMP/i.txt")"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "readable health, stats, config and images"
	;;
notify)
	net
	mb_make_file "$MB_TMP/img" 96
	mb_state_add_image "$MB_TMP/state" proj/big "$MB_TMP/img"
	conf_default
	python3 "$MB_SRC/tests/system/notify_listen.py" "$MB_TMP/notify.sock" "$MB_TMP/notify.log" \
		"$C" -s "$MB_TMP/control.sock" --json health &
	LPID=$!
	MB_PIDS+=("$LPID")
	for _ in $(seq 50); do [ -S "$MB_TMP/notify.sock" ] && break; sleep 0.1; done
	# mb-launch sets WATCHDOG_PID to the daemon's PID, as systemd does
	NOTIFY_SOCKET=$MB_TMP/notify.sock WATCHDOG_USEC=2000000 mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 60
	# minibossctl wait returned: READY=1 went to systemd before that
	for _ in $(seq 20); do grep -q 'READY=1' "$MB_TMP/notify.log" && break; sleep 0.1; done
	grep -q 'READY=1' "$MB_TMP/notify.log" || mb_fail "ready without READY=1: $(cat "$MB_TMP/notify.log")"
	sleep 3.2 # watchdog pings
	kill -HUP "$MB_DAEMON_PID"
	for _ in $(seq 50); do grep -q "configuration and manifest reloaded" "$MB_DAEMON_LOG" && break; sleep 0.1; done
	sleep 0.5
	mb_daemon_stop || mb_fail "exit status"
	for _ in $(seq 50); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.1; done
	python3 - "$MB_TMP/notify.log" <<-'EOF' || mb_fail "notifications: $(cat "$MB_TMP/notify.log")"
		import json, sys
		ev = [json.loads(l) for l in open(sys.argv[1])]
		msgs = [(e["t"], e["msg"].split("\n")) for e in ev if "msg" in e]
		def first(field, after=-1.0):
		    for t, f in msgs:
		        if t > after and any(x == field or x.startswith(field) for x in f):
		            return t, f
		    raise AssertionError("no %s after %s" % (field, after))
		t_ready, f_ready = first("READY=1")
		assert msgs[0][0] == t_ready, "something before READY=1: %s" % msgs[0][1]
		status = [x for x in f_ready if x.startswith("STATUS=")]
		assert status and status[0].startswith("STATUS=ok") and "1 image" in status[0], f_ready
		check = [e["ready_check"] for e in ev if "ready_check" in e][0]
		h = json.loads(check)
		assert h["ready"] is True, "health not ready at READY=1: %s" % h
		imgs = h["store"]["images"]
		assert [i["state"] for i in imgs.values()] == ["ok"], "images at READY=1: %s" % imgs
		t_rel, f_rel = first("RELOADING=1")
		usec = [x for x in f_rel if x.startswith("MONOTONIC_USEC=")]
		assert usec and int(usec[0].split("=")[1]) > 0, f_rel
		t_ready2, _ = first("READY=1", t_rel)
		t_stop, _ = first("STOPPING=1", t_ready2)
		wd = [t for t, f in msgs if "WATCHDOG=1" in f and t_ready <= t < t_stop]
		assert len(wd) >= 3, "watchdog pings: %d" % len(wd)
		gaps = [b - a for a, b in zip(wd, wd[1:])]
		assert all(0.5 < g < 1.6 for g in gaps), "watchdog intervals %s" % gaps
		refresh = [x for t, f in msgs if t > t_ready for x in f if x.startswith("STATUS=")]
		assert refresh, "STATUS= only once"
		print("%d watchdog pings, reload took %.3fs" % (len(wd), t_ready2 - t_rel))
	EOF
	mb_pass "READY after verification, STATUS, RELOADING/READY, WATCHDOG, STOPPING"
	;;
wait)
	mb_bridge_up
	mb_host srv 10.81.0.1/26 noaddr
	mb_host c1 10.81.0.11/26
	# 8 x 128 MiB for the store to verify, and an image that fails
	mkdir -p "$MB_TMP/state/images/big"
	mb_make_file "$MB_TMP/img" 128
	for i in 1 2 3 4 5 6 7 8; do ln "$MB_TMP/img" "$MB_TMP/state/images/big/$i"; done
	printf 'small\n' >"$MB_TMP/state/images/small"
	"$MB_BUILD/tools/mb-manifest" build "$MB_TMP/state/images" --version-from 1 \
		-o "$MB_TMP/state/manifest.json" >/dev/null || mb_fail "mb-manifest build"
	printf 'X' | dd of="$MB_TMP/state/images/small" bs=1 conv=notrunc 2>/dev/null
	mb_conf_write 10.81.0.1/26 >"$MB_TMP/mb.conf"
	S=$MB_TMP/control.sock
	w() { "$C" -s "$S" wait "$@"; }
	# usage errors, no daemon, a process that is gone
	w --state bogus 2>/dev/null; [ $? = 2 ] || mb_fail "--state bogus"
	w --timeout soon 2>/dev/null; [ $? = 2 ] || mb_fail "--timeout soon"
	w --timeout 300ms 2>"$MB_TMP/w0.err"; [ $? = 2 ] || mb_fail "no daemon: not exit 2"
	grep -q "no daemon answered on '$S' within 300ms" "$MB_TMP/w0.err" ||
		mb_fail "no daemon: $(cat "$MB_TMP/w0.err")"
	sleep 0 & gone=$!
	wait "$gone"
	w --timeout 10s --pid "$gone" 2>"$MB_TMP/w0.err"; [ $? = 2 ] || mb_fail "a gone --pid"
	grep -q "minibossd (pid $gone) exited or never started" "$MB_TMP/w0.err" ||
		mb_fail "gone --pid: $(cat "$MB_TMP/w0.err")"
	# a waiter from before the daemon exists (no socket yet)
	w --timeout 120s --verbose >"$MB_TMP/w1.out" 2>"$MB_TMP/w1.err" &
	W1=$!
	MB_PIDS+=("$W1")
	mb_daemon_start srv "$MB_TMP/mb.conf"
	for _ in $(seq 500); do
		"$C" -s "$S" --json health >/dev/null 2>&1
		[ $? != 2 ] && break
		kill -0 "$MB_DAEMON_PID" 2>/dev/null || mb_fail "minibossd died"
		sleep 0.02
	done
	# answering, still verifying: not ready within 300 ms, and says why
	w --timeout 300ms --pid "$MB_DAEMON_PID" >"$MB_TMP/w2.out" 2>"$MB_TMP/w2.err"
	rc=$?
	[ $rc = 1 ] || mb_fail "wait during the verification exits $rc: $(cat "$MB_TMP"/w2.*)"
	grep -q "not ready after 300ms" "$MB_TMP/w2.err" &&
		grep -q "not ready: the store is verifying [0-9]* image" "$MB_TMP/w2.err" ||
		mb_fail "timeout message: $(cat "$MB_TMP/w2.err")"
	wait "$W1" || mb_fail "the early waiter exits $?: $(cat "$MB_TMP"/w1.*)"
	# its ready line comes from the reply that said ready: all verified
	grep -q "^ready: degraded: image 'small' v1 failed: checksum mismatch; 8 images.*, 1 failed;" \
		"$MB_TMP/w1.out" || mb_fail "ready line: $(cat "$MB_TMP/w1.out")"
	grep -q loading "$MB_TMP/w1.out" && mb_fail "ready while loading: $(cat "$MB_TMP/w1.out")"
	grep -q "not ready: the store is verifying" "$MB_TMP/w1.err" ||
		mb_fail "the waiter never saw the verification: $(cat "$MB_TMP/w1.err")"
	mb_ctl --json health | python3 -c 'import json, sys
h = json.load(sys.stdin); assert h["ready"] is True and h["store"]["loading"] == 0, h' ||
		mb_fail "health after wait"
	# ready and ok: not with a failed image; the reason is printed
	w --state ok --timeout 1s >/dev/null 2>"$MB_TMP/w3.err"; [ $? = 1 ] ||
		mb_fail "--state ok with a failed image"
	grep -q "ready, but the state is degraded" "$MB_TMP/w3.err" &&
		grep -q "image 'small' v1 failed: checksum mismatch" "$MB_TMP/w3.err" ||
		mb_fail "--state ok: $(cat "$MB_TMP/w3.err")"
	[ -z "$(w -q --timeout 1s)" ] || mb_fail "-q printed something"
	# the exception TAP: the daemon's address with its prefix, up
	TAP=${MB_PREFIX}${MB_RID}t
	mb_in srv ip -4 -o addr show dev "$TAP" | grep -q "inet 10.81.0.1/26 " ||
		mb_fail "TAP address: $(mb_in srv ip -4 -o addr show dev "$TAP")"
	mb_in srv ip -o link show dev "$TAP" | grep -q "[<,]UP[,>]" || mb_fail "TAP not up"
	mb_wait_tcp c1 10.81.0.1 64494 10 || mb_fail "master server not reachable over the TAP"
	mb_daemon_stop || mb_fail "exit status"
	# killed during the wait: SIGSTOP keeps it from getting ready first
	mb_daemon_start srv "$MB_TMP/mb.conf"
	kill -STOP "$MB_DAEMON_PID"
	w --timeout 60s --pid "$MB_DAEMON_PID" >"$MB_TMP/w4.out" 2>"$MB_TMP/w4.err" &
	W4=$!
	MB_PIDS+=("$W4")
	sleep 1
	kill -0 "$W4" 2>/dev/null || mb_fail "wait ended while the daemon was stopped: $(cat "$MB_TMP"/w4.*)"
	pid=$MB_DAEMON_PID
	t0=$(date +%s%N)
	mb_daemon_stop KILL
	wait "$W4"
	rc=$?
	t1=$(date +%s%N)
	[ $rc = 2 ] || mb_fail "wait on a killed daemon exits $rc: $(cat "$MB_TMP"/w4.*)"
	grep -q "minibossd (pid $pid) exited" "$MB_TMP/w4.err" || mb_fail "$(cat "$MB_TMP/w4.err")"
	[ $(( (t1 - t0) / 1000000 )) -lt 5000 ] || mb_fail "wait took $(( (t1 - t0) / 1000000 )) ms to notice"
	# a start refused after the launch: mb-launch says so, with the status
	mb_in srv ip link add "$TAP" type veth peer name "${TAP}p" || mb_fail "veth"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_exit 30
	[ "$MB_EXIT" = 1 ] || mb_fail "refused daemon's status '$MB_EXIT'"
	mb_pass "wait: ready after verification and not before; timeout, --state ok, a killed daemon"
	;;
wait-fail)
	# minibossctl wait when the daemon never gets ready, is blocked, or
	# dies: a bounded wait, a clear message, a nonzero status.  An image
	# that fails its checksum keeps the state "degraded" for good, so
	# "--state ok" waits on a daemon that answers and never gets there.
	mb_bridge_up
	mb_host srv 10.81.0.1/24 noaddr
	mkdir -p "$MB_TMP/state/images"
	mb_make_file "$MB_TMP/state/images/good" 1
	printf 'small\n' >"$MB_TMP/state/images/small"
	"$MB_BUILD/tools/mb-manifest" build "$MB_TMP/state/images" --version-from 1 \
		-o "$MB_TMP/state/manifest.json" >/dev/null || mb_fail "mb-manifest build"
	printf 'X' | dd of="$MB_TMP/state/images/small" bs=1 conv=notrunc 2>/dev/null
	# one control client at a time: a second one is refused
	mb_conf_write 10.81.0.1/24 | sed '/^\[server\]$/a max-control-clients = 1' >"$MB_TMP/mb.conf"
	S=$MB_TMP/control.sock
	w() { "$C" -s "$S" wait "$@"; }
	since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
	# bg_wait NAME ARGS...: a waiter in the background, output in $MB_TMP/NAME.*
	bg_wait() {
		local n=$1
		shift
		w "$@" >"$MB_TMP/$n.out" 2>"$MB_TMP/$n.err" &
		BGW=$!
		MB_PIDS+=("$BGW")
	}
	# saw NAME TEXT: within 30 s, TEXT shows up in the waiter's stderr
	saw() {
		for _ in $(seq 300); do
			grep -q "$2" "$MB_TMP/$1.err" && return 0
			sleep 0.1
		done
		mb_fail "$1 never said '$2': $(cat "$MB_TMP/$1.err")"
	}

	# 1. a blocked start (stopped before it answered): the waiter gives up
	# at its timeout, not later, and says nothing answered (exit 2)
	mb_daemon_start srv "$MB_TMP/mb.conf"
	kill -STOP "$MB_DAEMON_PID"
	t0=$(date +%s%N)
	w --timeout 3s --pid "$MB_DAEMON_PID" >/dev/null 2>"$MB_TMP/b.err"
	rc=$? ms=$(since "$t0")
	[ $rc = 2 ] || mb_fail "a stopped daemon: wait exits $rc: $(cat "$MB_TMP/b.err")"
	grep -q "no daemon answered on '$S' within 3s" "$MB_TMP/b.err" ||
		mb_fail "a stopped daemon: $(cat "$MB_TMP/b.err")"
	[ "$ms" -ge 2900 ] && [ "$ms" -lt 8000 ] || mb_fail "a 3s wait took $ms ms"
	# continued, it gets ready and the same wait returns 0 with the summary
	kill -CONT "$MB_DAEMON_PID"
	w --timeout 60s --pid "$MB_DAEMON_PID" >"$MB_TMP/r.out" 2>"$MB_TMP/r.err" ||
		mb_fail "wait after SIGCONT exits $?: $(cat "$MB_TMP"/r.*)"
	grep -q "^ready: degraded: image 'small' v1 failed: checksum mismatch" "$MB_TMP/r.out" ||
		mb_fail "ready line: $(cat "$MB_TMP/r.out")"

	# 2. the socket refuses the waiter (its client limit): it asks again
	# until a slot frees, and a timeout says why nothing answered
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print("held", flush=True)
time.sleep(25)' "$S" >"$MB_TMP/hold.out" &
	HOLD=$!
	MB_PIDS+=("$HOLD")
	for _ in $(seq 100); do [ -s "$MB_TMP/hold.out" ] && break; sleep 0.05; done
	[ -s "$MB_TMP/hold.out" ] || mb_fail "cannot hold the control socket"
	w --timeout 2s >/dev/null 2>"$MB_TMP/l.err"
	rc=$?
	[ $rc = 2 ] || mb_fail "a full control socket: wait exits $rc: $(cat "$MB_TMP/l.err")"
	grep -q "no daemon answered on '$S' within 2s: too many control clients" \
		"$MB_TMP/l.err" || mb_fail "a full control socket: $(cat "$MB_TMP/l.err")"
	bg_wait l2 --timeout 60s
	sleep 1
	kill -0 "$BGW" 2>/dev/null || mb_fail "the waiter ended on a full socket: $(cat "$MB_TMP"/l2.*)"
	kill "$HOLD"
	wait "$HOLD"
	wait "$BGW" || mb_fail "the waiter exits $? once a slot is free: $(cat "$MB_TMP"/l2.*)"
	grep -q "^ready: " "$MB_TMP/l2.out" || mb_fail "$(cat "$MB_TMP/l2.out")"

	# 3. answering and never ok: the timeout exits 1 with the state and
	# its reason, also when the daemon stops answering meanwhile
	t0=$(date +%s%N)
	w --state ok --timeout 2s >/dev/null 2>"$MB_TMP/o.err"
	rc=$? ms=$(since "$t0")
	[ $rc = 1 ] || mb_fail "--state ok on a degraded daemon exits $rc: $(cat "$MB_TMP/o.err")"
	grep -q "not ready and ok after 2s" "$MB_TMP/o.err" &&
		grep -q "ready, but the state is degraded" "$MB_TMP/o.err" &&
		grep -q "image 'small' v1 failed: checksum mismatch" "$MB_TMP/o.err" ||
		mb_fail "--state ok timeout: $(cat "$MB_TMP/o.err")"
	[ "$ms" -ge 1900 ] && [ "$ms" -lt 7000 ] || mb_fail "a 2s wait took $ms ms"
	bg_wait h --state ok --timeout 5s --verbose
	saw h "ready, but the state is degraded"
	kill -STOP "$MB_DAEMON_PID"
	t0=$(date +%s%N)
	wait "$BGW"
	rc=$? ms=$(since "$t0")
	[ $rc = 1 ] || mb_fail "a daemon stopped under the waiter: exit $rc: $(cat "$MB_TMP"/h.*)"
	grep -q "not ready and ok after 5s" "$MB_TMP/h.err" &&
		grep -q "image 'small' v1 failed: checksum mismatch" "$MB_TMP/h.err" ||
		mb_fail "a daemon stopped under the waiter: $(cat "$MB_TMP/h.err")"
	[ "$ms" -lt 8000 ] || mb_fail "the waiter outlived its 5s timeout by far: $ms ms"
	mb_daemon_stop KILL

	# 4. the daemon dies while waited for: every waiter ends at once with
	# exit 2, with or without --pid, whether the socket file stays
	# (SIGKILL) or goes (SIGTERM)
	mb_conf_write 10.81.0.1/24 >"$MB_TMP/mb.conf"
	for sig in KILL TERM; do
		mb_daemon_start srv "$MB_TMP/mb.conf"
		mb_daemon_wait_ready 60
		pid=$MB_DAEMON_PID
		bg_wait d1 --state ok --timeout 120s --verbose
		W1=$BGW
		bg_wait d2 --state ok --timeout 120s --verbose --pid "$pid"
		W2=$BGW
		saw d1 "ready, but the state is degraded"
		saw d2 "ready, but the state is degraded"
		t0=$(date +%s%N)
		mb_daemon_stop "$sig"
		wait "$W1"
		rc1=$?
		wait "$W2"
		rc2=$? ms=$(since "$t0")
		[ $rc1 = 2 ] && [ $rc2 = 2 ] ||
			mb_fail "SIG$sig under the waiters: exit $rc1 and $rc2: $(cat "$MB_TMP"/d[12].err)"
		grep -q "minibossd went away before it was ready and ok" "$MB_TMP/d1.err" ||
			mb_fail "SIG$sig, no --pid: $(cat "$MB_TMP/d1.err")"
		grep -q "minibossd (pid $pid) exited before it was ready and ok" "$MB_TMP/d2.err" &&
			grep -q "image 'small' v1 failed" "$MB_TMP/d2.err" ||
			mb_fail "SIG$sig, --pid: $(cat "$MB_TMP/d2.err")"
		[ "$ms" -lt 10000 ] || mb_fail "SIG$sig: the waiters took $ms ms to notice"
		mb_log "SIG$sig: both waiters ended $ms ms after the signal"
	done
	mb_pass "wait: a blocked start times out, a full socket is asked again, never ok exits 1, a death ends it at once"
	;;
unit)
	command -v systemd-analyze >/dev/null || mb_skip "no systemd-analyze"
	u=$MB_BUILD/dist/minibossd.service
	[ -f "$u" ] || mb_fail "no $u"
	sed -e "s|^ExecStart=[^ ]*minibossd|ExecStart=$D|" -e "s|^ExecReload=[^ ]*minibossctl|ExecReload=$C|" \
		"$u" >"$MB_TMP/minibossd.service"
	out=$(systemd-analyze verify --man=no "$MB_TMP/minibossd.service" 2>&1) || mb_fail "verify: $out"
	[ -z "$out" ] || mb_fail "systemd-analyze verify says: $out"
	for want in "Type=notify" "NotifyAccess=main" "ExecReload=.*/minibossctl -c .*/miniboss.conf reload" \
		"WatchdogSec=" "RuntimeDirectory=miniboss" "StateDirectory=miniboss" \
		"LimitMEMLOCK=infinity" "CAP_IPC_LOCK" "CAP_NET_ADMIN" "After=.*dev-hugepages.mount" \
		"ConditionPathExists=.*/miniboss/miniboss.conf" "ExecStart=.* -- -c "; do
		grep -q "^$want\|^[A-Za-z]*=.*$want" "$u" || mb_fail "the unit lacks $want"
	done
	# a unit systemd would flag is caught by this test
	printf 'BogusKey=1\n' >>"$MB_TMP/minibossd.service"
	out=$(systemd-analyze verify --man=no "$MB_TMP/minibossd.service" 2>&1)
	echo "$out" | grep -q "BogusKey" || mb_fail "systemd-analyze verify did not flag a bad key"
	mb_pass "systemd-analyze verify accepts the unit"
	;;
*)
	mb_fail "unknown case '$CASE'"
	;;
esac
