#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# mb-frisbee (tools/) against the stock Emulab frisbeed: the server in one
# network namespace, the receivers in others, joined by a bridge in a third.
# Cases: multicast JOIN v1 (a 1 MiB multiple, and 1,000,000 bytes: a short
# last chunk, as the stock client reads it), multicast JOIN2 (-N, a file
# that is not a 1 MiB multiple), two mb-frisbee receivers at once with the
# stock frisbee client side by side as the reference, 5% UDP loss on the
# bridge (nftables), unicast, 16 receivers of mb-fris-loadgen, the multicast
# keepalive behind a snooping bridge that lost the receiver's IGMP report, a
# wrong --sha256 (exit 1) and no server (exit 3).  Every output must have
# the SHA-256 of the served file.  Usage: $0 [case...] (default: all).
# Needs root (namespaces) and ../shared/peers/emulab-frisbee; exits 77
# without them.
set -u

BUILD=${MB_BUILD:-$(dirname "$0")/../../build}
SRC=${MB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PEERS=${MB_PEERS:-$SRC/../shared/peers/emulab-frisbee/bin}
MBF=$BUILD/tools/mb-frisbee
P=mbp$$			# namespace / link prefix (frisproto: mbp)
T=$(mktemp -d /tmp/mbp-test.XXXXXX)
SPID=
PIDS=()

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
[ -x "$PEERS/frisbeed" ] || skip "no stock frisbeed in $PEERS"
[ -x "$MBF" ] || skip "mb-frisbee not built at $MBF"
command -v ip >/dev/null || skip "no iproute2"

cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for n in s c1 c2 c3 br; do ip netns del "${P}$n" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

ns() { ip netns exec "${P}$1" "${@:2}"; }

# Bridge namespace "br" with one veth per host namespace.
ip netns add "${P}br" || skip "cannot create namespaces"
ns br ip link add br0 type bridge
ns br ip link set br0 up
ns br ip link set lo up
i=1
for h in s c1 c2 c3; do
	ip netns add "${P}$h"
	ip link add "${P}$h" type veth peer name "${P}${h}b"
	ip link set "${P}$h" netns "${P}$h"
	ip link set "${P}${h}b" netns "${P}br"
	ns br ip link set "${P}${h}b" master br0 up
	ns "$h" ip link set lo up
	ns "$h" ip link set "${P}$h" name eth0
	ns "$h" ip addr add "10.77.0.$i/24" brd + dev eth0
	ns "$h" ip link set eth0 up
	ns "$h" ip route add 224.0.0.0/4 dev eth0
	i=$((i + 1))
done
SIP=10.77.0.1

fail=0
check() {	# name file want
	local got
	got=$(sha256sum "$2" | cut -d' ' -f1)
	if [ "$got" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1: sha256 $got, want $3"
		fail=1
	fi
}

serve() {	# file port [extra frisbeed args]
	ns s "$PEERS/frisbeed" -i $SIP -m 239.77.0.1 -p "$2" -W 400000000 -T 30 "${@:3}" "$1" \
		>"$T/frisbeed-$2.log" 2>&1 &
	SPID=$!
	sleep 0.5
}

stop_server() {
	kill "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	SPID=
}

case_join1() {
	head -c $((8 * 1048576)) /dev/urandom >"$T/img1"
	local want
	want=$(sha256sum "$T/img1" | cut -d' ' -f1)
	serve "$T/img1" 6101
	timeout 60 ip netns exec "${P}c1" "$MBF" -i 10.77.0.2 -m 239.77.0.1 -p 6101 -T 20 \
		--sha256 "$want" --json "$T/out1" >"$T/j1.json"
	local rc=$?
	stop_server
	if [ $rc != 0 ]; then
		echo "FAIL: join1: mb-frisbee exit $rc"; cat "$T/j1.json"; fail=1; return
	fi
	check "join1 multicast 8 MiB" "$T/out1" "$want"
	grep -q '"mode":"join1"' "$T/j1.json" || { echo "FAIL: join1 json"; fail=1; }
}

case_join1odd() {
	# JOIN v1 for 1,000,000 bytes (not a 1 MiB multiple): frisbeed answers
	# 977 blocks and serves a short last chunk.  mb-frisbee writes the
	# image padded to a whole block (it stalled at 95% waiting for 1024).
	# The stock client counts the same: "1 chunks (1000448 bytes)", and with
	# the short chunk whole it passes it to its decompressor.
	head -c 1000000 /dev/urandom >"$T/img1o"
	serve "$T/img1o" 6111
	timeout 60 ip netns exec "${P}c1" "$MBF" -i 10.77.0.2 -m 239.77.0.1 -p 6111 -T 10 \
		--json "$T/out1o" >"$T/j1o.json"
	local rc=$?
	# (it aborts in its decompressor on these random bytes: a subshell keeps
	# the shell's "Aborted" out of the output)
	(timeout 30 ip netns exec "${P}c2" "$PEERS/frisbee" -d -i 10.77.0.3 -m 239.77.0.1 \
		-p 6111 -T 5 "$T/out1s" || true) >"$T/stock1o.log" 2>&1
	stop_server
	if [ $rc != 0 ]; then
		echo "FAIL: join1odd: mb-frisbee exit $rc"; cat "$T/j1o.json"; fail=1; return
	fi
	[ "$(stat -c %s "$T/out1o")" = 1000448 ] || { echo "FAIL: join1odd size"; fail=1; }
	head -c 1000000 "$T/out1o" >"$T/out1o.head"
	check "join1 multicast 1000000 bytes" "$T/out1o.head" "$(sha256sum "$T/img1o" | cut -d' ' -f1)"
	grep -q "File is 1 chunks (1000448 bytes)" "$T/stock1o.log" &&
		grep -q "ImageUnzipChunk" "$T/stock1o.log" ||
		{ echo "FAIL: join1odd: stock client: $(tail -3 "$T/stock1o.log")"; fail=1; }
}

case_join2() {
	head -c 3000001 /dev/urandom >"$T/img2"
	local want
	want=$(sha256sum "$T/img2" | cut -d' ' -f1)
	serve "$T/img2" 6102
	timeout 60 ip netns exec "${P}c1" "$MBF" -N -i 10.77.0.2 -m 239.77.0.1 -p 6102 -T 20 \
		--sha256 "$want" "$T/out2" >"$T/j2.txt"
	local rc=$?
	stop_server
	[ $rc = 0 ] || { echo "FAIL: join2: mb-frisbee exit $rc"; cat "$T/j2.txt"; fail=1; return; }
	[ "$(stat -c %s "$T/out2")" = 3000001 ] || { echo "FAIL: join2 size"; fail=1; }
	check "join2 multicast 3000001 bytes" "$T/out2" "$want"
}

case_multi() {
	head -c $((6 * 1048576 + 4097)) /dev/urandom >"$T/img3"
	local want rc1 rc2 rc3
	want=$(sha256sum "$T/img3" | cut -d' ' -f1)
	serve "$T/img3" 6103
	timeout 60 ip netns exec "${P}c1" "$MBF" -N -i 10.77.0.2 -m 239.77.0.1 -p 6103 -T 20 \
		-q "$T/out3a" & PIDS+=($!)
	timeout 60 ip netns exec "${P}c2" "$MBF" -N -i 10.77.0.3 -m 239.77.0.1 -p 6103 -T 20 \
		-q "$T/out3b" & PIDS+=($!)
	# The stock client side by side, as the reference.
	timeout 60 ip netns exec "${P}c3" "$PEERS/frisbee" -N -i 10.77.0.4 -m 239.77.0.1 \
		-p 6103 -T 20 "$T/out3c" >"$T/stock.log" 2>&1 & PIDS+=($!)
	wait "${PIDS[0]}"; rc1=$?
	wait "${PIDS[1]}"; rc2=$?
	wait "${PIDS[2]}"; rc3=$?
	PIDS=()
	stop_server
	if [ $rc1 != 0 ] || [ $rc2 != 0 ] || [ $rc3 != 0 ]; then
		echo "FAIL: multi: exit codes $rc1 $rc2 $rc3"; tail -5 "$T/stock.log"
		fail=1; return
	fi
	check "multi mb-frisbee #1" "$T/out3a" "$want"
	check "multi mb-frisbee #2" "$T/out3b" "$want"
	check "multi stock frisbee" "$T/out3c" "$want"
}

case_badsum() {
	head -c 1048576 /dev/urandom >"$T/img4"
	serve "$T/img4" 6104
	timeout 60 ip netns exec "${P}c1" "$MBF" -q -i 10.77.0.2 -m 239.77.0.1 -p 6104 -T 20 \
		--sha256 "$(printf '0%.0s' $(seq 64))" "$T/out4" 2>/dev/null
	local rc=$?
	stop_server
	if [ $rc = 1 ]; then echo "ok: checksum mismatch exits 1"; else
		echo "FAIL: checksum mismatch exit $rc"; fail=1; fi
}

case_timeout() {
	timeout 30 ip netns exec "${P}c1" "$MBF" -q -i 10.77.0.2 -m 239.77.0.1 -p 6105 -T 2 \
		"$T/out5" 2>/dev/null
	local rc=$?
	if [ $rc = 3 ]; then echo "ok: no server exits 3"; else
		echo "FAIL: timeout exit $rc"; fail=1; fi
}

case_loss() {
	# 5% of all UDP dropped on the bridge: PREQUEST re-requests must fill
	# the holes (both directions lose packets, requests included).
	command -v nft >/dev/null || { echo "skip: loss (no nft)"; return; }
	ns br nft add table bridge mbploss
	ns br nft add chain bridge mbploss mbpfwd '{ type filter hook forward priority 0; }'
	ns br nft add rule bridge mbploss mbpfwd meta l4proto udp numgen random mod 100 '<' 5 drop
	head -c $((4 * 1048576 + 100)) /dev/urandom >"$T/img6"
	local want
	want=$(sha256sum "$T/img6" | cut -d' ' -f1)
	serve "$T/img6" 6106
	timeout 60 ip netns exec "${P}c1" "$MBF" -N -i 10.77.0.2 -m 239.77.0.1 -p 6106 -T 20 \
		--json "$T/out6" >"$T/j6.json"
	local rc=$?
	stop_server
	ns br nft delete table bridge mbploss
	[ $rc = 0 ] || { echo "FAIL: loss: mb-frisbee exit $rc"; fail=1; return; }
	check "5% loss, JOIN2" "$T/out6" "$want"
	grep -q '"prequests":0,' "$T/j6.json" && { echo "FAIL: loss without PREQUEST"; fail=1; }
	return 0
}

case_ucast() {
	# Unicast: frisbeed -m <client>, mb-frisbee -m <server>, no -i (the
	# receiver finds its own address).
	head -c $((2 * 1048576)) /dev/urandom >"$T/img7"
	local want
	want=$(sha256sum "$T/img7" | cut -d' ' -f1)
	ns s "$PEERS/frisbeed" -i $SIP -m 10.77.0.2 -p 6107 -W 400000000 -T 30 "$T/img7" \
		>"$T/frisbeed-6107.log" 2>&1 &
	SPID=$!
	sleep 0.5
	timeout 60 ip netns exec "${P}c1" "$MBF" -q -m $SIP -p 6107 -T 20 "$T/out7"
	local rc=$?
	stop_server
	[ $rc = 0 ] || { echo "FAIL: ucast: mb-frisbee exit $rc"; fail=1; return; }
	check "unicast JOIN v1" "$T/out7" "$want"
}

case_loadgen() {
	# 16 emulated receivers with staggered starts in one process.
	local lg=$BUILD/tools/mb-fris-loadgen
	[ -x "$lg" ] || { echo "skip: loadgen (not built)"; return; }
	head -c $((4 * 1048576)) /dev/urandom >"$T/img8"
	serve "$T/img8" 6108
	timeout 60 ip netns exec "${P}c2" "$lg" -N -i 10.77.0.3 -m 239.77.0.1 -p 6108 -n 16 \
		-r 1 -T 20 >"$T/lg.json"
	local rc=$?
	stop_server
	if [ $rc = 0 ] && python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] and j["completed"] == 16 and j["image_bytes"] == 4 * 1048576
assert all(r["done"] and r["seconds"] > 0 for r in j["per_receiver"])
' "$T/lg.json"; then
		echo "ok: loadgen 16 receivers"
	else
		echo "FAIL: loadgen exit $rc"; head -c 600 "$T/lg.json"; fail=1
	fi
}

case_igmp() {
	# A snooping bridge that never saw c1's IGMP report (dropped before the
	# bridge looks at it) forwards the group to the server's port only: c1
	# hears nothing, so after 1 s it drops and re-adds its membership
	# (keepalive); once reports pass again the bridge learns it and the
	# transfer completes long before the querier's next general query.
	# Default query interval (125 s); the bridge floods until its querier
	# has waited one response interval (taken when the querier is enabled),
	# so make that short first and wait it out.
	ns br ip link set br0 type bridge mcast_query_response_interval 100
	ns br ip link set br0 type bridge mcast_snooping 1 mcast_querier 1
	printf 'table bridge mbpigmp {\n chain pre {\n  type filter hook prerouting priority -200; policy accept;\n  iifname "%s" ip protocol igmp counter drop\n }\n}\n' \
		"${P}c1b" | ns br nft -f - || { echo "FAIL: igmp: nft"; fail=1; return; }
	head -c $((2 * 1048576)) /dev/urandom >"$T/img9"
	local want rc
	want=$(sha256sum "$T/img9" | cut -d' ' -f1)
	serve "$T/img9" 6109
	sleep 1.5
	timeout 60 ip netns exec "${P}c1" "$MBF" -i 10.77.0.2 -m 239.77.0.1 -p 6109 -T 30 -K 1 \
		--sha256 "$want" --json "$T/out9" >"$T/j9.json" &
	local cpid=$!
	# Reports are dropped until c1 has been silent well past its first
	# keepalive (1 s); the rejoins after that get through.
	sleep 2.5
	ns br nft list table bridge mbpigmp | grep -q 'counter packets [1-9]' ||
		echo "note: igmp: no report dropped"
	ns br nft delete table bridge mbpigmp
	wait $cpid
	rc=$?
	stop_server
	ns br ip link set br0 type bridge mcast_snooping 0
	[ $rc = 0 ] || { echo "FAIL: igmp: mb-frisbee exit $rc"; fail=1; return; }
	check "igmp keepalive" "$T/out9" "$want"
	python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["igmp_rejoins"] >= 1' \
		"$T/j9.json" || { echo "FAIL: igmp: no rejoin counted: $(cat "$T/j9.json")"; fail=1; }
}

cases=${*:-join1 join1odd join2 multi loss ucast loadgen igmp badsum timeout}
for c in $cases; do "case_$c"; done
exit $fail
