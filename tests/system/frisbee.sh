#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Frisbee end-to-end tests: minibossd in a namespace serves images to the
# stock Emulab client (frisbee -S <miniboss> -F <image>) running in other
# namespaces behind an IGMP-snooping bridge; every receiver's output must be
# byte-identical (SHA-256) to the served file (raw mode, -N, JOIN2) or to
# imageunzip's output of the served .ndz (image mode, JOIN v1).
#
# One case per run, so meson reports each on its own and each stays well
# under a minute:
#   frisbee.sh mcast N raw|ndz   N receivers at once, multicast
#   frisbee.sh late              receivers joining a running session
#   frisbee.sh loss              5% UDP loss in the bridge, 4 receivers
#   frisbee.sh ucast             unicast (-X ucast), one session per client
#   frisbee.sh bcast             broadcast (-X bcast) with methods allowing it
#   frisbee.sh status            GETSTATUS (-Q), NOIMAGE, NOACCESS (-P), TRYAGAIN (-B)
#   frisbee.sh two               two images served at once on two groups
# Needs root, the stock tools (skip 77 if their directory is absent) and a
# built minibossd (MB_BUILD).
set -u
MB_PREFIX=mbm
. "$(dirname "$0")/lib.sh"

CASE=${1:-mcast}
SRV_ADDR=10.77.0.1
FRIS="$MB_FRISBEE_BIN/frisbee"
MIB=${MB_TEST_MIB:-8}

mb_require_frisbee
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd cmp

# setup NCLIENTS [frisbee-section-lines]: testbed, image(s), daemon.
setup() {
	local n=$1 extra=${2:-} i
	mb_bridge_up
	mb_host srv "$SRV_ADDR/24" noaddr
	for i in $(seq "$n"); do
		mb_host "c$i" "10.77.0.$((10 + i))/24"
	done
	mb_make_file "$MB_TMP/raw.img" "$MIB" 1
	mb_make_fs_file "$MB_TMP/fs.img" "$MIB"
	"$MB_FRISBEE_BIN/imagezip" -f "$MB_TMP/fs.img" "$MB_TMP/fs.ndz" >/dev/null 2>&1 ||
		mb_fail "imagezip"
	"$MB_FRISBEE_BIN/imageunzip" "$MB_TMP/fs.ndz" "$MB_TMP/fs.unz" >/dev/null 2>&1 ||
		mb_fail "imageunzip"
	mb_state_add_image "$MB_TMP/state" "emulab-ops/RAW" "$MB_TMP/raw.img" 1 1700000000
	mb_state_add_image "$MB_TMP/state" "emulab-ops/FS.ndz" "$MB_TMP/fs.ndz" 1 1700000100
	{
		mb_conf_write "$SRV_ADDR/24"
		printf '\n[frisbee]\n%b\n' "$extra"
		case "$extra" in *idle-timeout*) ;; *) echo "idle-timeout = 20s" ;; esac
	} >"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	mb_wait_tcp c1 "$SRV_ADDR" 64494 15 || mb_fail "master server port not reachable"
	# "ready" may come before the store verified the images: wait for them.
	for img in emulab-ops/RAW emulab-ops/FS.ndz; do
		for i in $(seq 60); do
			mb_in c1 timeout 5 "$FRIS" -i 10.77.0.11 -S "$SRV_ADDR" -Q "$img" 2>&1 |
				grep -q '^error=0' && break
			sleep 0.5
		done
		[ "$i" -lt 60 ] || mb_fail "image '$img' not published"
	done
}

# fetch CLIENT IMAGE OUT [frisbee options...]: background load, PID recorded.
fetch() {
	local c=$1 img=$2 out=$3
	shift 3
	mb_bg "$c" timeout 55 "$FRIS" -i "$(mb_addr "$c")" -S "$SRV_ADDR" -T 30 "$@" \
		-F "$img" "$out"
	eval "PID_$c=$MB_LAST_PID"
}

# check CLIENT OUT REF: the client exited 0 and OUT matches REF.
check() {
	local c=$1 out=$2 ref=$3 pid rc
	pid=$(eval "echo \$PID_$c")
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || mb_fail "$c: frisbee exited $rc"
	[ "$(mb_sha "$out")" = "$(mb_sha "$ref")" ] || mb_fail "$c: output differs from $ref"
}

# expect_addr CLIENT REGEX: the session address the client was given
# ("<image>: address: A:P" on its stderr) matches REGEX.
expect_addr() {
	grep -q -E "address: $2:[0-9]+" "$MB_TMP/$1.err" ||
		mb_fail "$1: expected session address $2: $(grep -m1 address: "$MB_TMP/$1.err")"
}

# load_all N raw|ndz [frisbee options]: N receivers of one image at once.
load_all() {
	local n=$1 mode=$2 i img ref opt=()
	shift 2
	if [ "$mode" = raw ]; then
		img=emulab-ops/RAW ref="$MB_TMP/raw.img" opt=(-N)
	else
		img=emulab-ops/FS.ndz ref="$MB_TMP/fs.unz"
	fi
	for i in $(seq "$n"); do
		fetch "c$i" "$img" "$MB_TMP/out.c$i" "${opt[@]}" "$@" 2>"$MB_TMP/c$i.err"
	done
	for i in $(seq "$n"); do
		check "c$i" "$MB_TMP/out.c$i" "$ref"
	done
}

case "$CASE" in
mcast)
	n=${2:-1}
	setup "$n"
	load_all "$n" "${3:-raw}"
	for i in $(seq "$n"); do
		expect_addr "c$i" '234\.5\.6\.[0-9]+'
	done
	mb_pass "$n receiver(s), ${3:-raw} mode, multicast"
	;;
late)
	setup 4
	fetch c1 emulab-ops/RAW "$MB_TMP/out.c1" -N
	fetch c2 emulab-ops/RAW "$MB_TMP/out.c2" -N
	# Late joiners: start once c1 has written something (no timing assertion).
	for _ in $(seq 100); do
		[ -s "$MB_TMP/out.c1" ] && break
		sleep 0.1
	done
	fetch c3 emulab-ops/RAW "$MB_TMP/out.c3" -N
	fetch c4 emulab-ops/FS.ndz "$MB_TMP/out.c4"
	check c1 "$MB_TMP/out.c1" "$MB_TMP/raw.img"
	check c2 "$MB_TMP/out.c2" "$MB_TMP/raw.img"
	check c3 "$MB_TMP/out.c3" "$MB_TMP/raw.img"
	check c4 "$MB_TMP/out.c4" "$MB_TMP/fs.unz"
	mb_pass "late joiners"
	;;
loss)
	setup 4
	mb_loss 5
	load_all 2 raw
	[ "$(mb_loss_dropped)" -gt 0 ] || mb_fail "the loss rule dropped nothing"
	mb_log "dropped $(mb_loss_dropped) frames"
	mb_loss_clear
	mb_loss 5
	# image mode under loss as well, clients 3 and 4
	fetch c3 emulab-ops/FS.ndz "$MB_TMP/out.c3"
	fetch c4 emulab-ops/FS.ndz "$MB_TMP/out.c4"
	check c3 "$MB_TMP/out.c3" "$MB_TMP/fs.unz"
	check c4 "$MB_TMP/out.c4" "$MB_TMP/fs.unz"
	mb_pass "5% loss"
	;;
ucast)
	setup 2 "methods = mcast,ucast"
	load_all 2 raw -X ucast
	expect_addr c1 '10\.77\.0\.1'
	expect_addr c2 '10\.77\.0\.1'
	# The "sessions" action: two unicast sessions, one per client, and counters.
	mb_ctl --json sessions >"$MB_TMP/sessions.json" 2>&1 ||
		mb_fail "minibossctl sessions: $(cat "$MB_TMP/sessions.json")"
	python3 - "$MB_TMP/sessions.json" <<-'EOF' || mb_fail "bad sessions reply"
		import json, sys
		j = json.load(open(sys.argv[1]))
		j = j.get("result", j)
		m = j["master"]
		clients = sorted(s["client"] for s in m["sessions"] if s["method"] == "ucast")
		assert clients == ["10.77.0.11", "10.77.0.12"], clients
		assert m["counters"]["req_get"] >= 2 and m["counters"]["sessions_started"] >= 2
	EOF
	mb_pass "unicast"
	;;
bcast)
	setup 1 "methods = bcast,mcast,ucast"
	load_all 1 raw -X bcast
	expect_addr c1 '10\.77\.0\.255'
	mb_pass "broadcast"
	;;
status)
	# One port only, unicast only: a second client must hear TRYAGAIN.
	setup 2 "methods = ucast\nport-count = 1\nidle-timeout = 3s"
	mb_in c1 timeout 20 "$FRIS" -i "$(mb_addr c1)" -S "$SRV_ADDR" -Q emulab-ops/RAW \
		>"$MB_TMP/q.out" 2>&1 || mb_fail "GETSTATUS failed: $(cat "$MB_TMP/q.out")"
	grep -q "error=0" "$MB_TMP/q.out" || grep -q -i "access OK" "$MB_TMP/q.out" ||
		mb_fail "GETSTATUS reply: $(cat "$MB_TMP/q.out")"
	if mb_in c1 timeout 20 "$FRIS" -i "$(mb_addr c1)" -S "$SRV_ADDR" -Q nosuch/IMAGE \
		>"$MB_TMP/q2.out" 2>&1 &&
		! grep -q -i "unknown image\|error=3" "$MB_TMP/q2.out"; then
		mb_fail "GETSTATUS of an unknown image: $(cat "$MB_TMP/q2.out")"
	fi
	grep -q -i "unknown image\|error=3" "$MB_TMP/q2.out" ||
		mb_fail "NOIMAGE not reported: $(cat "$MB_TMP/q2.out")"
	# A proxy request (on behalf of another node) is refused by default.
	mb_in c1 timeout 20 "$FRIS" -i "$(mb_addr c1)" -S "$SRV_ADDR" -P "$(mb_addr c2)" \
		-Q emulab-ops/RAW >"$MB_TMP/proxy.out" 2>&1
	grep -q -i "access not allowed\|error=4" "$MB_TMP/proxy.out" ||
		mb_fail "proxy request not refused: $(cat "$MB_TMP/proxy.out")"
	# GET of an unknown image fails cleanly.
	mb_in c1 timeout 20 "$FRIS" -i "$(mb_addr c1)" -S "$SRV_ADDR" -T 5 -N -F nosuch/IMAGE \
		"$MB_TMP/none" >"$MB_TMP/get-noimage.out" 2>&1 &&
		mb_fail "GET of unknown image worked"
	grep -q -i "unknown image" "$MB_TMP/get-noimage.out" ||
		mb_fail "GET NOIMAGE: $(cat "$MB_TMP/get-noimage.out")"
	# c1 holds the only port; c2 without -B hears TRYAGAIN, with -B it waits.
	fetch c1 emulab-ops/RAW "$MB_TMP/out.c1" -N -X ucast
	for _ in $(seq 100); do
		[ -s "$MB_TMP/out.c1" ] && break
		sleep 0.1
	done
	mb_in c2 timeout 20 "$FRIS" -i "$(mb_addr c2)" -S "$SRV_ADDR" -T 5 -N -X ucast \
		-F emulab-ops/RAW "$MB_TMP/busy" >"$MB_TMP/busy.out" 2>&1 &&
		mb_fail "second unicast client was not told to try again"
	grep -q -i "try again" "$MB_TMP/busy.out" || mb_fail "TRYAGAIN: $(cat "$MB_TMP/busy.out")"
	fetch c2 emulab-ops/RAW "$MB_TMP/out.c2" -N -X ucast -B 1
	check c1 "$MB_TMP/out.c1" "$MB_TMP/raw.img"
	check c2 "$MB_TMP/out.c2" "$MB_TMP/raw.img"
	mb_pass "GETSTATUS, NOIMAGE, NOACCESS, TRYAGAIN"
	;;
two)
	setup 4
	fetch c1 emulab-ops/RAW "$MB_TMP/out.c1" -N 2>"$MB_TMP/c1.err"
	fetch c2 emulab-ops/FS.ndz "$MB_TMP/out.c2" 2>"$MB_TMP/c2.err"
	fetch c3 emulab-ops/RAW "$MB_TMP/out.c3" -N 2>"$MB_TMP/c3.err"
	fetch c4 emulab-ops/FS.ndz "$MB_TMP/out.c4" -N 2>"$MB_TMP/c4.err"
	check c1 "$MB_TMP/out.c1" "$MB_TMP/raw.img"
	check c2 "$MB_TMP/out.c2" "$MB_TMP/fs.unz"
	check c3 "$MB_TMP/out.c3" "$MB_TMP/raw.img"
	check c4 "$MB_TMP/out.c4" "$MB_TMP/fs.ndz"
	a1=$(grep -m1 -o 'address: [0-9.:]*' "$MB_TMP/c1.err")
	a2=$(grep -m1 -o 'address: [0-9.:]*' "$MB_TMP/c2.err")
	[ -n "$a1" ] && [ "$a1" != "$a2" ] || mb_fail "two images share a session: '$a1' '$a2'"
	[ "$a1" = "$(grep -m1 -o 'address: [0-9.:]*' "$MB_TMP/c3.err")" ] ||
		mb_fail "same image, different sessions"
	mb_pass "two images at once"
	;;
*)
	echo "usage: $0 mcast N raw|ndz | late | loss | ucast | bcast | status | two" >&2
	exit 99
	;;
esac
