# SPDX-License-Identifier: BSD-3-Clause
#
# An emulated path (a WAN, or an impaired node link) in the test bed of
# lib.sh: source it after lib.sh and mb_init.
#
#   mb_wan_up NAME A[:IF] ADDR_A B[:IF] ADDR_B [mb-netem options...]
#
# builds namespace "$(mb_ns NAME)" holding two veth ends, wan_a and wan_b, with
# tools/mb-netem forwarding between them, started by PID and registered
# with lib.sh's cleanup.  The peer of wan_a goes into host A's namespace as
# interface IF (default: NAME) and the peer of wan_b into host B's.  A host
# namespace that does not exist yet is created (lo up), so two hosts and a
# WAN need no bridge.  ADDR is one of
#   10.1.0.1/24   an address for the kernel (GRO on, so the host's stack
#                 costs the forwarder's CPU less);
#   noaddr        no address: a DPDK port (net_af_packet) takes the link;
#                 noaddr=10.1.0.1 also records the port's address for mb_addr;
#   bridge        enslave it to br0 of that namespace (B = br puts host A's
#                 link to the bridge of mb_bridge_up through the forwarder).
# On every host end TSO, GSO and UDP segmentation are turned off (mb-netem
# forwards frames, not GSO super-frames); tx checksum offload stays on, as
# mb-netem completes partial checksums.  IPv6 is off in the WAN namespace
# so it adds no frames of its own.  Direction "ab" of the options is A to B.
#
#   mb_wan_stats NAME        SIGUSR2, then print the new counters line (JSON)
#   mb_wan_flap NAME         SIGUSR1: a down period (--flap's DOWN, or 1 s)
#   mb_wan_down NAME         SIGTERM, wait, remove the namespace; returns the
#                            forwarder's exit status; the last line of
#                            "$(mb_wan_json NAME)" is then its final counters
#   mb_wan_json NAME         the file of its JSON lines; its stderr is in
#                            "$MB_TMP/wan-NAME.log"
#   mb_wan_pid NAME
# Environment: MB_WAN_NICE=N runs the forwarder under nice -n N (a
# benchmark on a busy machine may want it ahead of other work); MB_NETEM
# names another mb-netem binary (a sanitizer build, say).

MB_NETEM=${MB_NETEM:-$MB_BUILD/tools/mb-netem}

# mb_wan_pid NAME
mb_wan_pid() { eval "echo \${MB_WAN_PID_$1:-}"; }

# mb_wan_json NAME
mb_wan_json() { echo "$MB_TMP/wan-$1.json"; }

# _mb_wan_end HOST[:IF] ADDR NAME WANNS END: one side of the path.
_mb_wan_end() {
	local spec=$1 addr=$2 name=$3 wns=$4 end=$5 host ifn hns
	host=${spec%%:*}
	ifn=$name
	[ "$host" != "$spec" ] && ifn=${spec#*:}
	hns=$(mb_ns "$host")
	if [ ! -e "/run/netns/$hns" ]; then
		ip netns add "$hns" || mb_fail "cannot create namespace $hns"
		MB_NETNS+=("$hns")
		ip -n "$hns" link set lo up
	fi
	ip -n "$wns" link add name "$end" type veth peer name "$ifn" netns "$hns" ||
		mb_fail "wan $name: cannot create veth $end <-> $host:$ifn"
	ip -n "$wns" link set dev "$end" up
	ip netns exec "$hns" ethtool -K "$ifn" tso off gso off tx-udp-segmentation off \
		>/dev/null 2>&1 || mb_fail "wan $name: cannot turn off segmentation offloads on $ifn"
	case $addr in
	noaddr) ;;
	noaddr=*) eval "MB_ADDR_$host=${addr#noaddr=}" ;;
	bridge)
		ip -n "$hns" link set dev "$ifn" master br0 || mb_fail "wan $name: no br0 in $hns"
		;;
	*)
		ip netns exec "$hns" ethtool -K "$ifn" gro on >/dev/null 2>&1
		ip -n "$hns" addr add "$addr" brd + dev "$ifn" ||
			mb_fail "wan $name: cannot address $host:$ifn"
		eval "MB_ADDR_$host=${addr%/*}"
		;;
	esac
	ip -n "$hns" link set dev "$ifn" up
}

# mb_wan_up NAME A[:IF] ADDR_A B[:IF] ADDR_B [mb-netem options...]
mb_wan_up() {
	local name=$1 wns pid log out i
	[ $# -ge 5 ] || mb_fail "usage: mb_wan_up NAME A[:IF] ADDR_A B[:IF] ADDR_B [options]"
	case $name in *[!A-Za-z0-9_]* | '') mb_fail "wan name '$name': letters, digits, _" ;; esac
	[ -x "$MB_NETEM" ] || mb_fail "mb-netem not built at '$MB_NETEM'"
	mb_require_cmd ethtool
	wns=$(mb_ns "$name")
	ip netns add "$wns" || mb_fail "cannot create namespace $wns"
	MB_NETNS+=("$wns")
	ip -n "$wns" link set lo up
	ip netns exec "$wns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	_mb_wan_end "$2" "$3" "$name" "$wns" wan_a
	_mb_wan_end "$4" "$5" "$name" "$wns" wan_b
	shift 5
	log="$MB_TMP/wan-$name.log"
	out=$(mb_wan_json "$name")
	ip netns exec "$wns" ${MB_WAN_NICE:+nice -n "$MB_WAN_NICE"} \
		"$MB_NETEM" -a wan_a -b wan_b "$@" >"$out" 2>"$log" &
	pid=$!
	MB_PIDS+=("$pid")
	eval "MB_WAN_PID_$name=$pid"
	for i in $(seq 100); do
		grep -q 'ready' "$log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; mb_fail "wan $name: mb-netem exited"; }
		sleep 0.05
	done
	grep -q 'ready' "$log" || mb_fail "wan $name: mb-netem not ready"
	mb_log "wan $name: mb-netem pid $pid in $wns: $*"
}

# mb_wan_stats NAME: the counters now, one JSON line.
mb_wan_stats() {
	local pid out n
	pid=$(mb_wan_pid "$1")
	out=$(mb_wan_json "$1")
	[ -n "$pid" ] || mb_fail "wan $1: not running"
	n=$(wc -l <"$out")
	kill -USR2 "$pid" || mb_fail "wan $1: mb-netem gone"
	for _ in $(seq 100); do
		[ "$(wc -l <"$out")" -gt "$n" ] && break
		sleep 0.02
	done
	[ "$(wc -l <"$out")" -gt "$n" ] || mb_fail "wan $1: no counters after SIGUSR2"
	tail -n 1 "$out"
}

# mb_wan_flap NAME
mb_wan_flap() { kill -USR1 "$(mb_wan_pid "$1")" || mb_fail "wan $1: mb-netem gone"; }

# mb_wan_down NAME: stop the forwarder, remove its namespace (the veths go
# with it); returns the forwarder's exit status.
mb_wan_down() {
	local name=$1 pid rc=0 st i keep=()
	pid=$(mb_wan_pid "$name")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		rc=124
	fi
	wait "$pid" 2>/dev/null
	st=$?
	[ "$rc" = 0 ] && rc=$st
	# Forget the PID so the cleanup never signals a reused one.
	for i in "${MB_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
	MB_PIDS=("${keep[@]}")
	eval "MB_WAN_PID_$name="
	ip netns del "$(mb_ns "$name")" 2>/dev/null
	return $rc
}
