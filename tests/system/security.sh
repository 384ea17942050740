#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Privileges of a running minibossd (doc/security.md): what it keeps after
# start, who may use its control socket.  The daemon runs as root in a
# namespace on net_af_packet (or net_af_xdp) with an exception TAP, as the
# other system tests start it.
#
# One case per run:
#   security.sh caps        every thread of the running daemon (read from
#                           /proc/<pid>/task/*/status) has CapEff = CapPrm =
#                           CapBnd = CAP_NET_ADMIN only, no inheritable or
#                           ambient capability, NoNewPrivs 1; it still serves
#                           HTTP (identical), reloads, answers minibossctl, and
#                           at SIGTERM exits 0, removes its TAP and restores
#                           the interface's flags.  With drop-privileges = no
#                           the same check sees the full set (the check can
#                           fail).
#   security.sh caps-afxdp  the same on net_af_xdp: CAP_NET_ADMIN, CAP_SYS_ADMIN
#                           and CAP_BPF kept, and no XDP program left on the
#                           interface after SIGTERM
#   security.sh sock        the control socket is 0600 root:root by default and
#                           an unprivileged user cannot connect; with
#                           control-socket-mode = 0660 and a group, a member
#                           can and another user cannot; bad modes refused
#   security.sh unit        systemd-analyze verify accepts the packaged unit with
#                           its hardening (ProtectSystem=strict, ReadWritePaths,
#                           CAP_SETPCAP for the drop...), and the daemon runs as
#                           the unit confines it on disk: in a mount namespace
#                           where / is read-only but for the state dir, the
#                           socket's dir and /run/dpdk, it starts, serves,
#                           reloads, writes its state and exits 0
# Needs root and a built minibossd (MB_BUILD).
set -u
MB_PREFIX=mbh
. "$(dirname "$0")/lib.sh"

CASE=${1:-caps}
SRV=10.83.0.1
IMG=emulab-ops/SEC.img

[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl python3 ethtool setpriv

setup() {
	mb_bridge_up
	mb_host srv "$SRV/24" noaddr
	printf 'table netdev mbhk {\n chain in {\n  type filter hook ingress device eth0 priority 0; policy drop;\n }\n}\n' |
		mb_in srv nft -f - || mb_fail "nft in srv"
	mb_host c1 "10.83.0.11/24"
	mb_in c1 ethtool -K eth0 tx off >/dev/null 2>&1 || mb_fail "tx offload off on c1"
	mb_make_file "$MB_TMP/img" 4 7
	mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/img" 1 1700000000
}

conf() { # extra [server] lines
	{
		mb_conf_write "$SRV/24"
		printf '\n[tcp]\nhttp-port = 80\nidle-timeout = 30s\n'
		if [ -n "${1:-}" ]; then printf '\n[server]\n%b\n' "$1"; fi
	} >"$MB_TMP/mb.conf"
}

# caps_check PID WANT_HEX: every thread's sets; prints one line per thread.
caps_check() {
	python3 - "$1" "$2" <<-'EOF'
		import glob, sys
		pid, want = sys.argv[1], int(sys.argv[2], 16)
		last = int(open("/proc/sys/kernel/cap_last_cap").read())
		allcaps = (1 << (last + 1)) - 1
		bad = 0
		tasks = glob.glob(f"/proc/{pid}/task/*/status")
		for path in sorted(tasks):
		    f = dict(l.split(":", 1) for l in open(path).read().splitlines() if ":" in l)
		    eff, prm, bnd = (int(f[k], 16) for k in ("CapEff", "CapPrm", "CapBnd"))
		    inh, amb, nnp = int(f["CapInh"], 16), int(f["CapAmb"], 16), int(f["NoNewPrivs"])
		    ok = eff == want and prm == want and bnd & allcaps == want and inh == 0 and amb == 0 and nnp == 1
		    bad += not ok
		    print(f"{'ok ' if ok else 'BAD'} {path.split('/')[4]:>7} {f['Name'].strip():16} "
		          f"eff {eff:#x} prm {prm:#x} bnd {bnd & allcaps:#x} inh {inh:#x} amb {amb:#x} nnp {nnp}")
		print(f"{len(tasks)} threads, {bad} not reduced to {want:#x}")
		sys.exit(1 if bad or not tasks else 0)
	EOF
}

serve_check() { # one HTTP download, identical
	mb_wait_tcp c1 "$SRV" 80 15 || mb_fail "HTTP port not reachable"
	mb_in c1 curl -sf -o "$MB_TMP/got" "http://$SRV/images/$IMG" || mb_fail "download failed"
	[ "$(mb_sha "$MB_TMP/got")" = "$(mb_sha "$MB_TMP/img")" ] || mb_fail "download differs"
	rm -f "$MB_TMP/got"
}

caps_case() { # WANT_HEX
	local want=$1 flags0 flags1 rc
	setup
	flags0=$(mb_in srv cat /sys/class/net/eth0/flags)
	conf
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 40
	grep -q "capabilities dropped in every thread" "$MB_DAEMON_LOG" || mb_fail "no drop logged"
	serve_check
	caps_check "$MB_DAEMON_PID" "$want" >"$MB_TMP/caps.txt" ||
		mb_fail "capabilities: $(cat "$MB_TMP/caps.txt")"
	cat "$MB_TMP/caps.txt" >&2
	mb_ctl health >/dev/null || mb_fail "health after the drop"
	mb_ctl reload >"$MB_TMP/reload.txt" 2>&1 || mb_fail "reload: $(cat "$MB_TMP/reload.txt")"
	serve_check
	# Threads made after the drop (telemetry clients, resolver) inherit it.
	caps_check "$MB_DAEMON_PID" "$want" >"$MB_TMP/caps2.txt" ||
		mb_fail "after reload: $(cat "$MB_TMP/caps2.txt")"
	mb_daemon_stop
	rc=$?
	[ "$rc" = 0 ] || mb_fail "exit status $rc: $(tail -5 "$MB_DAEMON_LOG")"
	mb_in srv ip link show "${MB_PREFIX}${MB_RID}t" >/dev/null 2>&1 && mb_fail "TAP left behind"
	flags1=$(mb_in srv cat /sys/class/net/eth0/flags)
	[ "$flags0" = "$flags1" ] || mb_fail "eth0 flags $flags0 before, $flags1 after"
	grep -Eq "ERR|CRIT" "$MB_DAEMON_LOG" && grep -E "ERR|CRIT" "$MB_DAEMON_LOG" >&2
	MB_AFTER_FLAGS=$flags1
}

case "$CASE" in
caps)
	caps_case 0x1000 # CAP_NET_ADMIN
	# The control: without dropping, the same check sees the full set.
	conf "drop-privileges = no"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 40
	caps_check "$MB_DAEMON_PID" 0x1000 >"$MB_TMP/caps3.txt" &&
		mb_fail "drop-privileges = no, yet: $(cat "$MB_TMP/caps3.txt")"
	grep -q "capabilities dropped" "$MB_DAEMON_LOG" && mb_fail "dropped with drop-privileges = no"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "every thread keeps CAP_NET_ADMIN only; serves, reloads and exits clean"
	;;
caps-afxdp)
	MB_VDEV=af_xdp
	mb_require_af_xdp
	caps_case "$(printf '%#x' $(((1 << 12) | (1 << 21) | (1 << 39))))"
	mb_in srv ip link show eth0 | grep -q " xdp" && mb_fail "XDP program left on eth0"
	mb_pass "af_xdp: NET_ADMIN, SYS_ADMIN, BPF kept; no XDP program left"
	;;
sock)
	setup
	conf
	chmod 755 "$MB_TMP"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 40
	[ "$(stat -c '%a %U %G' "$MB_TMP/control.sock")" = "600 root root" ] ||
		mb_fail "control socket $(stat -c '%a %U %G' "$MB_TMP/control.sock")"
	mb_ctl health >/dev/null || mb_fail "root refused"
	mb_in srv setpriv --reuid=65534 --regid=65534 --clear-groups "$MB_BUILD/tools/minibossctl" \
		-s "$MB_TMP/control.sock" health >"$MB_TMP/nobody.txt" 2>&1 &&
		mb_fail "nobody could use the control socket: $(cat "$MB_TMP/nobody.txt")"
	grep -qi "permission denied" "$MB_TMP/nobody.txt" || mb_fail "nobody: $(cat "$MB_TMP/nobody.txt")"
	mb_daemon_stop || mb_fail "exit status"
	# A group of operators.
	grp=$(getent group 1 | cut -d: -f1)
	[ -n "$grp" ] || mb_skip "no group with gid 1"
	conf "control-socket-mode = 0660\ncontrol-socket-group = $grp"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 40
	[ "$(stat -c '%a %U %G' "$MB_TMP/control.sock")" = "660 root $grp" ] ||
		mb_fail "control socket $(stat -c '%a %U %G' "$MB_TMP/control.sock")"
	mb_in srv setpriv --reuid=65534 --regid=65534 --groups=1 "$MB_BUILD/tools/minibossctl" \
		-s "$MB_TMP/control.sock" health >"$MB_TMP/member.txt" 2>&1 ||
		mb_fail "a member of $grp was refused: $(cat "$MB_TMP/member.txt")"
	mb_in srv setpriv --reuid=65534 --regid=65534 --clear-groups "$MB_BUILD/tools/minibossctl" \
		-s "$MB_TMP/control.sock" health >/dev/null 2>&1 && mb_fail "a non-member got in"
	mb_daemon_stop || mb_fail "exit status"
	for bad in 0777 0644x 0400 0700 999 ""; do
		conf "control-socket-mode = $bad"
		"$MB_BUILD/server/minibossd" -n -c "$MB_TMP/mb.conf" >"$MB_TMP/n.txt" 2>&1 &&
			mb_fail "mode '$bad' accepted"
		grep -q "control-socket-mode" "$MB_TMP/n.txt" || mb_fail "mode '$bad': $(cat "$MB_TMP/n.txt")"
	done
	conf "control-socket-group = no-such-group-mb"
	"$MB_BUILD/server/minibossd" -n -c "$MB_TMP/mb.conf" >"$MB_TMP/n.txt" 2>&1 &&
		mb_fail "unknown group accepted"
	mb_pass "control socket 0600 root-only by default; a configured group works"
	;;
unit)
	command -v systemd-analyze >/dev/null || mb_skip "no systemd-analyze"
	u=$MB_BUILD/dist/minibossd.service
	[ -f "$u" ] || mb_fail "no $u"
	sed -e "s|^ExecStart=[^ ]*minibossd|ExecStart=$MB_BUILD/server/minibossd|" \
		-e "s|^ExecReload=[^ ]*minibossctl|ExecReload=$MB_BUILD/tools/minibossctl|" \
		"$u" >"$MB_TMP/minibossd.service"
	out=$(systemd-analyze verify --man=no "$MB_TMP/minibossd.service" 2>&1) || mb_fail "verify: $out"
	[ -z "$out" ] || mb_fail "systemd-analyze verify says: $out"
	for want in "ProtectSystem=strict" "ReadWritePaths=/run/dpdk" "ExecStartPre=+/bin/mkdir -p /run/dpdk" \
		"NoNewPrivileges=yes" "StateDirectory=miniboss" "RuntimeDirectory=miniboss" \
		"CapabilityBoundingSet=.*CAP_SETPCAP" "ProtectHome=yes" "PrivateTmp=yes" \
		"ProtectProc=invisible" "RestrictAddressFamilies=.*AF_XDP"; do
		grep -q "^$want" "$u" || mb_fail "the unit lacks $want"
	done
	# What ProtectSystem=strict + ReadWritePaths leave writable, and nothing
	# else: the daemon must not need more.
	setup
	conf
	mkdir -p /run/dpdk
	MB_DAEMON_LOG=$MB_TMP/minibossd.log
	MB_DAEMON_NS=srv
	# mb-launch (lib.sh's launcher) inside a mount namespace of its own;
	# the daemon stays in it
	MB_LAUNCHED+=("$MB_TMP")
	out=$(NS="$(mb_ns srv)" PFX="${MB_PREFIX}${MB_RID}" MB_TMP=$MB_TMP MB_SRC=$MB_SRC \
		MB_BUILD=$MB_BUILD MB_DAEMON_LOG=$MB_DAEMON_LOG \
		unshare -m --propagation private sh -c '
		set -e
		for d in "$@"; do mount --bind "$d" "$d"; done
		mount -o remount,bind,ro /
		exec "$MB_SRC/tools/mb-launch" start -n -D "$MB_TMP" -N "$NS" -B "$MB_BUILD" \
			-c "$MB_TMP/mb.conf" -o "$MB_DAEMON_LOG" -i eth0 -P "$PFX" -m 512 -d' \
		sh "$MB_TMP" "$MB_TMP/state" /run/dpdk) || mb_fail "mb-launch in a read-only /"
	eval "$out"
	MB_DAEMON_PID=$MB_PID
	mb_daemon_wait_ready 40
	# the daemon's own view: / read-only, the state dir writable
	grep -q " / .* ro[,]" "/proc/$MB_DAEMON_PID/mounts" || mb_fail "/ not read-only for the daemon"
	serve_check
	mb_ctl reload >/dev/null || mb_fail "reload under a read-only /"
	# the state it writes (an image installed by the store) lands
	cp "$MB_TMP/img" "$MB_TMP/img2"
	echo x >>"$MB_TMP/img2"
	mb_state_add_image "$MB_TMP/state" "emulab-ops/SEC2.img" "$MB_TMP/img2" 1 1700000200
	mb_ctl reload >/dev/null || mb_fail "second reload"
	for _ in $(seq 50); do
		mb_ctl images 2>/dev/null | grep -q SEC2 && break
		sleep 0.2
	done
	mb_ctl images | grep -q SEC2 || mb_fail "new image not published"
	mb_daemon_stop || mb_fail "exit status under a read-only /: $(tail -5 "$MB_DAEMON_LOG")"
	[ -e "/run/dpdk/${MB_PREFIX}${MB_RID}" ] && mb_fail "EAL runtime dir left"
	grep -E "Read-only file system|EROFS" "$MB_DAEMON_LOG" && mb_fail "a write was refused"
	mb_pass "unit verified; the daemon runs with / read-only but its state and runtime dirs"
	;;
*)
	mb_fail "unknown case '$CASE'"
	;;
esac
