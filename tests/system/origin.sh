#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A parent master server as origin (origin.url = mfrisbee://): a miniboss
# ("sub") whose parent is another miniboss ("par", answering as a master
# server does) fills its store on the first GET of the stock frisbee client
# (-S sub, -B: TRYAGAIN retried) on a node.  Three namespaces with their own
# daemons or client behind the snooping bridge; the parent's Frisbee ports
# are apart from sub's (the dataplane owns its own session ports).
#
#   origin.sh fill     first GET fills the cache: the node's copy and the
#                      cache file equal the parent's image, the cache file
#                      has the parent's mtime; GETSTATUS while fetching says
#                      method 0, not running; the second load is a cache hit;
#                      the parent's NOIMAGE reaches the node
#   origin.sh mcast    the same fill with the parent asked for multicast
#                      (parent-methods = mcast): the group reaches sub's
#                      kernel through its dataplane
#   origin.sh mapped   the same fill with a hugepage budget smaller than the
#                      image: received into the mapped .part instead
#   origin.sh mappedfull  the mapped fill with sub's state directory on a
#                      4 MiB tmpfs (its own mount namespace) for an 8 MiB
#                      image: the fetch fails with a reason naming the full
#                      disk (health), sub keeps running (no SIGBUS from a
#                      mapping of a file the disk has no room for), the
#                      node keeps getting TRYAGAIN; space added (the tmpfs
#                      grown), the next try fills the cache and the load ends
#   origin.sh noaccess sub asks by the node's address (parent-proxy) and the
#                      parent refuses proxied requests: NOACCESS reaches the
#                      node, for GETSTATUS and for GET
#   origin.sh backoff  the parent's datagrams to sub dropped: the fetch fails
#                      (origin.timeout), health says so, the node keeps
#                      getting TRYAGAIN; datagrams back: after the backoff the
#                      node's next retry fills the cache and its load ends
#   origin.sh cut      cut-through: two nodes asking while the image is
#                      fetched (the parent paced) get a session at once, no
#                      TRYAGAIN, and share it; their copies are whole
#   origin.sh change   a new version on the parent (new MTIME) is noticed on
#                      the next GET and fetched; the node gets the new bytes
#   origin.sh down     parent stopped: the cached image still serves, an
#                      uncached one is NOIMAGE, health degraded with the
#                      reason; parent back: health ok again (the probe)
#   origin.sh rate     the fill at a parent rate of 1 Gbit/s (MB_TEST_RATE,
#                      MB_TEST_MIB; MB_VDEV=af_xdp: both daemons on af_xdp;
#                      MB_SUB_WORKERS=N: sub on dpdk.workers = N):
#                      its datagrams come through the dataplane's fill queue,
#                      not the kernel socket, few blocks twice; the receive
#                      rate is printed (not asserted: bench/ owns targets)
#   origin.sh redirect origin.redirect = yes (a stock subboss's -R), the
#                      parent asked for multicast and paced: the node's GET
#                      while sub fetches is answered with the parent's
#                      group, port and server address; the node loads from
#                      the parent's session (sub starts none) into a
#                      byte-identical copy, and sub's cache fills too
#   origin.sh stock-parent  the parent is the stock Emulab master server
#                      (mfrisbeed -C null over an image directory, spawning
#                      the stock frisbeed; MB_STOCK_MFRISBEED, default the
#                      stock tools' bin/mfrisbeed, skip 77 when absent): its
#                      NOIMAGE reaches the node; the first GET fills the
#                      cache (byte-identical, the parent's mtime); the second
#                      is a cache hit; the image touched and rewritten on
#                      the parent (a new MTIME in GETSTATUS) is fetched again
#   origin.sh stock-mcast     the same with parent-methods = mcast: the
#                      stock frisbeed's group reaches sub's dataplane
#   origin.sh stock-proxy     parent-proxy = yes: sub asks for the node
#                      (hostip); the stock parent (null configuration, which
#                      accepts proxied requests) unicasts to sub, the fill
#                      is whole
#   origin.sh stock-version   a versioned id (pid/name:N, a file of that
#                      name on the stock parent): filled, stored as pid/name
#                      version N, byte-identical; the second load a hit
#   origin.sh stock-down      the "down" case with the stock parent
#   origin.sh stock-redirect  the "redirect" case with the stock parent: the
#                      node loads from the stock frisbeed's group
#   origin.sh ephemeral  sub's kernel picks its ephemeral ports inside the
#                      dataplane's FTP passive range (tcp.ftp-pasv-min..max,
#                      whose TCP the userspace stack takes): the exchanges
#                      with the parent still work, the fill is whole
#   origin.sh measure  fill time of a MB_TEST_MIB (default 37) MiB image at
#                      the parent's frisbee.rate (MB_TEST_RATE, default
#                      200M), the node's first load (behind TRYAGAIN, -B
#                      MB_TEST_B, default 1; or cut-through with
#                      MB_TEST_CUT=yes, with its session's not_yet, parked and
#                      unparked) and a cache hit; prints the numbers
#                      (not asserted: bench/ owns targets)
# Needs root, the stock frisbee client (skip 77 without it), minibossd.
set -u
MB_PREFIX=mbo
CASE=${1:-fill}
# mappedfull mounts a small filesystem: in a private mount namespace of its
# own, so the mount is nobody else's and goes away with the test
if [ "$CASE" = mappedfull ] && [ -z "${MB_ORIGIN_MNTNS:-}" ] && [ "$(id -u)" = 0 ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare not installed" >&2; exit 77; }
	MB_ORIGIN_MNTNS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

PAR=10.81.0.1
SUB=10.81.0.2
NODE=10.81.0.11
FRIS="$MB_FRISBEE_BIN/frisbee"
MIB=${MB_TEST_MIB:-8}
RATE=${MB_TEST_RATE:-500M}
BSECS=${MB_TEST_B:-1}
IMG=emulab-ops/BIG
[ "$CASE" = stock-version ] && IMG=emulab-ops/BIG:3
PMETHODS=ucast
case "$CASE" in mcast | redirect | stock-mcast | stock-redirect) PMETHODS=mcast ;; esac
# cut-through is on by default; the stock subboss's TRYAGAIN is tested with it off
CUT=yes
case "$CASE" in fill | backoff | rate) CUT=no ;; measure) CUT=${MB_TEST_CUT:-no} ;; esac
SUBEXTRA="\ncut-through = $CUT"
case "$CASE" in noaccess | stock-proxy) SUBEXTRA="$SUBEXTRA\nparent-proxy = yes" ;; esac
case "$CASE" in redirect | stock-redirect) SUBEXTRA="$SUBEXTRA\nredirect = yes" ;; esac
case "$CASE" in mapped | mappedfull) SUBEXTRA="$SUBEXTRA\n[images]\nhugepage-budget = 1M" ;; esac
STIMEOUT=20s
[ "$CASE" = backoff ] && STIMEOUT=3s
MT1=1700000000
MT2=1700000500

mb_require_frisbee
STOCKMS=
case "$CASE" in stock-*)
	STOCKMS=${MB_STOCK_MFRISBEED:-$MB_FRISBEE_BIN/mfrisbeed}
	[ -x "$STOCKMS" ] || mb_skip "stock mfrisbeed not at '$STOCKMS' (MB_STOCK_MFRISBEED)"
	;;
esac
[ "${MB_VDEV:-af_packet}" = af_xdp ] && mb_require_af_xdp
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
[ "$CASE" = measure ] && MIB=${MB_TEST_MIB:-37} && RATE=${MB_TEST_RATE:-200M}
[ "$CASE" = rate ] && MIB=${MB_TEST_MIB:-64} && RATE=${MB_TEST_RATE:-1G}
mb_init
# the stock master server's frisbeed children outlive it: end every process
# left in the parent's namespace (all started by this run) by PID
# the stock master server's frisbeed children outlive it (sstop)
trap 'rc=$?; [ -n "$STOCKMS" ] && sstop
rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}par" "/var/run/dpdk/${MB_PREFIX}${MB_RID}sub"
(exit $rc); mb_cleanup' EXIT
mb_require_cmd stat

declare -A DPID

# conf NAME ADDR [extra lines]: a daemon's configuration on stdout.
conf() {
	cat <<-EOF
		[server]
		state-dir = $MB_TMP/$1/state
		control-socket = $MB_TMP/$1/control.sock
		log-level = debug

		[dpdk]
		address = $2/24
		exception-tap = ${MB_PREFIX}${MB_RID}t
		mbufs = 8191
		idle-sleep-us = 200
	EOF
	[ "$1" = sub ] && [ -n "${MB_SUB_WORKERS:-}" ] && echo "workers = $MB_SUB_WORKERS"
	printf '%b\n' "${3:-}"
}

# sstart: the stock mfrisbeed in namespace par, as a boss or subboss runs it
# with the null configuration (image ids are paths under -I, signatures the
# files' mtimes); it spawns the stock frisbeed (built in next to it).
sstart() {
	mb_bg par "$STOCKMS" -d -C null -I "$MB_TMP/par/images" -i "$PAR" \
		-O "bandwidth=$(numfmt --from=si "$RATE"),maxlinger=20" >>"$MB_TMP/par.log" 2>&1
	DPID[par]=$MB_LAST_PID
	mb_wait_tcp node "$PAR" 64494 15 || { cat "$MB_TMP/par.log" >&2;
		mb_fail "the stock mfrisbeed is not listening"; }
}

# sstop: the stock parent and the frisbeeds it left (it does not end them).
sstop() {
	local s p
	for s in TERM KILL; do
		for p in $(ip netns pids "$(mb_ns par)" 2>/dev/null); do kill -$s "$p"; done
		sleep 0.2
	done
	wait "${DPID[par]}" 2>/dev/null
	# its pid files (written as root): its own and one per server, named by
	# the session's address (sub's for unicast, the null configuration's
	# group 239.192.1.x for multicast)
	rm -f /var/run/mfrisbeed.pid "/var/run/frisbeed-$SUB-"*.pid /var/run/frisbeed-239.192.1.*-*.pid
	true
}

# dstart NAME: minibossd in namespace NAME with $MB_TMP/NAME/mb.conf.
dstart() {
	local n=$1 addr tap i vdev
	[ "$n" = par ] && [ -n "$STOCKMS" ] && { sstart; return; }
	addr=$(mb_addr "$n")
	mkdir -p "$MB_TMP/$n/state"
	vdev=$(mb_vdev)
	# MB_SUB_WORKERS=N (af_packet): sub on dpdk.workers = N, a queue pair each
	[ "$n" = sub ] && [ -n "${MB_SUB_WORKERS:-}" ] && vdev="$vdev,qpairs=$MB_SUB_WORKERS"
	mb_bg "$n" "$MB_BUILD/server/minibossd" -l 0,1 --no-huge -m 512 --no-pci \
		--file-prefix="${MB_PREFIX}${MB_RID}$n" --vdev="$vdev" \
		-- -c "$MB_TMP/$n/mb.conf" -d >>"$MB_TMP/$n.log" 2>&1
	DPID[$n]=$MB_LAST_PID
	for i in $(seq 300); do
		kill -0 "${DPID[$n]}" 2>/dev/null || { tail -20 "$MB_TMP/$n.log" >&2;
			mb_fail "$n: minibossd exited during startup"; }
		[ "$(grep -c -i 'ready' "$MB_TMP/$n.log")" -gt "${2:-0}" ] && break
		sleep 0.1
	done
	tap="${MB_PREFIX}${MB_RID}t"
	mb_in "$n" ip link set "$tap" up
	mb_in "$n" ip -4 addr show dev "$tap" | grep -q "inet $addr/" ||
		mb_in "$n" ip addr add "$addr/24" brd + dev "$tap"
	mb_wait_tcp node "$addr" 64494 15 || mb_fail "$n: master server port not reachable"
}

# dstop NAME: SIGTERM, wait.
dstop() {
	[ "$1" = par ] && [ -n "$STOCKMS" ] && { sstop; return; }
	local p=${DPID[$1]}
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && mb_fail "$1: minibossd did not stop"
	wait "$p" 2>/dev/null
}

# ctl NAME ARGS...: minibossctl against NAME's daemon.
ctl() {
	local n=$1
	shift
	mb_in "$n" "$MB_BUILD/tools/minibossctl" -s "$MB_TMP/$n/control.sock" "$@"
}

# field EXPR: a python expression over the JSON on stdin (j; "result" unwrapped).
field() {
	python3 -c "import json,sys; j=json.load(sys.stdin)
if isinstance(j, dict) and 'result' in j: j = j['result']
print($1)"
}

# query IMAGE: the stock client's GETSTATUS against sub, into $MB_TMP/q.out.
query() {
	mb_in node timeout 20 "$FRIS" -i "$NODE" -S "$SUB" -Q "$1" >"$MB_TMP/q.out" 2>&1
}

# load OUT [frisbee options]: the stock client loads $IMG from sub (raw,
# JOIN2); sets LOAD_MS.
load() {
	local out=$1 t0 t1 rc
	shift
	t0=$(date +%s%N)
	mb_in node timeout 170 "$FRIS" -i "$NODE" -S "$SUB" -B "$BSECS" -T 30 -N "$@" \
		-F "$IMG" "$out" >"$MB_TMP/load.err" 2>&1
	rc=$?
	t1=$(date +%s%N)
	LOAD_MS=$(((t1 - t0) / 1000000))
	[ "$rc" = 0 ] || { cat "$MB_TMP/load.err" >&2; mb_fail "frisbee exited $rc"; }
}

# published NAME IMAGE VERSION: wait until NAME's store publishes VERSION.
published() {
	local i
	for i in $(seq 100); do
		[ "$(ctl "$1" --json images 2>/dev/null |
			field "[i.get('version') for i in j if i['name']=='$2' and i.get('state')=='ok'] or [0]" |
			tr -d '[]')" = "$3" ] && return 0
		sleep 0.2
	done
	mb_fail "$1: '$2' version $3 not published"
}

# same_as REF: the node's copy and sub's cache file equal REF; the cache file
# has mtime MT.
same_as() {
	local ref=$1 mt=$2 cache="$MB_TMP/sub/state/images/${IMG%:*}" i
	[ "$(mb_sha "$MB_TMP/out")" = "$(mb_sha "$ref")" ] || mb_fail "the node's copy differs"
	# cut-through: a node can finish before sub has written, hashed and
	# published its copy (about as long again as the fill): up to 30 s
	for i in $(seq 300); do
		[ -f "$cache" ] && [ "$(stat -c %Y "$cache")" = "$mt" ] && break
		sleep 0.1
	done
	[ -f "$cache" ] || mb_fail "no cache file '$cache'"
	[ "$(mb_sha "$cache")" = "$(mb_sha "$ref")" ] || mb_fail "the cache file differs"
	[ "$(stat -c %Y "$cache")" = "$mt" ] ||
		mb_fail "cache file mtime $(stat -c %Y "$cache"), the parent's is $mt"
}

# parent_counter NAME OP VALUE MESSAGE: sub's counter NAME of minibossctl
# parent (kept in $MB_TMP/parent.json) compares with VALUE by test's OP
# (= or -ge); else MESSAGE fails the test, with the counters shown.
parent_counter() {
	ctl sub --json parent >"$MB_TMP/parent.json" || mb_fail "minibossctl parent"
	[ "$(field "j['counters']['$1']" <"$MB_TMP/parent.json")" "$2" "$3" ] ||
		{ cat "$MB_TMP/parent.json" >&2; mb_fail "$4"; }
}

# filled_then_hit: after the node's first load of $IMG (v1) through sub: the
# node's copy and sub's cache are v1 and sub filled once; then a second load
# is a cache hit that fetches nothing.  Sets FIRST to the first load's ms.
filled_then_hit() {
	same_as "$MB_TMP/v1.img" "$MT1"
	FIRST=$LOAD_MS
	parent_counter fills = 1 "fills != 1"
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	parent_counter fetches = 1 "the cache hit fetched again"
}

health() { ctl sub --json health; } # exit 1 when degraded: the JSON is there

mb_bridge_up
if [ -n "$STOCKMS" ]; then
	# a kernel host; full checksums for sub's DPDK port
	mb_client par "$PAR/24"
else
	mb_host par "$PAR/24" noaddr
fi
mb_host sub "$SUB/24" noaddr
# the ephemeral range put over the passive one (61000-61999 by default, clear
# of Linux's default ephemeral range 32768-60999, so forced here)
[ "$CASE" = ephemeral ] && { mb_in sub sysctl -qw net.ipv4.ip_local_port_range="61000 61999" ||
	mb_fail "cannot set sub's ephemeral port range"; }
mb_host node "$NODE/24"
[ "$CASE" = cut ] && mb_host node2 "10.81.0.12/24"
[ "$CASE" = cut ] && MIB=${MB_TEST_MIB:-16} && RATE=${MB_TEST_RATE:-100M}
case "$CASE" in redirect | stock-redirect) MIB=${MB_TEST_MIB:-16} RATE=${MB_TEST_RATE:-50M} ;; esac
mkdir -p "$MB_TMP/par/state" "$MB_TMP/sub/state"
mb_make_file "$MB_TMP/v1.img" "$MIB" 1
# real images (.ndz) end mid-chunk and mid-block: the stock parent's are so
[ -n "$STOCKMS" ] && head -c 70001 "$MB_TMP/v1.img" >>"$MB_TMP/v1.img"
if [ -n "$STOCKMS" ]; then
	# as a boss or subboss runs it, with the null configuration: image ids
	# are paths under -I, signatures are the files' mtimes
	mkdir -p "$MB_TMP/par/images/${IMG%/*}"
	cp "$MB_TMP/v1.img" "$MB_TMP/par/images/$IMG"
	touch -d "@$MT1" "$MB_TMP/par/images/$IMG"
	conf sub "$SUB" "[frisbee]\nidle-timeout = 20s\n[origin]\nurl = mfrisbee://$PAR\ntimeout = $STIMEOUT\nparent-methods = $PMETHODS$SUBEXTRA" \
		>"$MB_TMP/sub/mb.conf"
	dstart par
	dstart sub
fi
[ -n "$STOCKMS" ] || {
mb_state_add_image "$MB_TMP/par/state" "$IMG" "$MB_TMP/v1.img" 1 "$MT1"
conf par "$PAR" "[frisbee]\nport-base = 4564\nrate = $RATE\nidle-timeout = 20s" \
	>"$MB_TMP/par/mb.conf"
conf sub "$SUB" "[frisbee]\nidle-timeout = 20s\n[origin]\nurl = mfrisbee://$PAR\ntimeout = $STIMEOUT\nparent-methods = $PMETHODS$SUBEXTRA" \
	>"$MB_TMP/sub/mb.conf"
dstart par
published par "$IMG" 1
if [ "$CASE" = mappedfull ]; then
	mount -t tmpfs -o size=4m,mode=0755 mbofull "$MB_TMP/sub/state" || mb_fail "mount tmpfs"
	trap 'rc=$?; rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}par" "/var/run/dpdk/${MB_PREFIX}${MB_RID}sub"
umount -l "$MB_TMP/sub/state" 2>/dev/null; (exit $rc); mb_cleanup' EXIT
fi
dstart sub
}

case "$CASE" in
cut)
	# -B 30 as rc.frisbee: a TRYAGAIN would cost 30 s
	t0=$(date +%s%N)
	mb_bg node timeout 120 "$FRIS" -i "$NODE" -S "$SUB" -B 30 -T 30 -N -F "$IMG" \
		"$MB_TMP/out" 2>"$MB_TMP/n1.err"
	P1=$MB_LAST_PID
	sleep 0.5
	mb_bg node2 timeout 120 "$FRIS" -i 10.81.0.12 -S "$SUB" -B 30 -T 30 -N -F "$IMG" \
		"$MB_TMP/out2" 2>"$MB_TMP/n2.err"
	P2=$MB_LAST_PID
	wait "$P1" || { cat "$MB_TMP/n1.err" >&2; mb_fail "node 1 failed"; }
	T1=$((($(date +%s%N) - t0) / 1000000))
	wait "$P2" || { cat "$MB_TMP/n2.err" >&2; mb_fail "node 2 failed"; }
	T2=$((($(date +%s%N) - t0) / 1000000))
	grep -q 'image busy' "$MB_TMP/n1.err" "$MB_TMP/n2.err" &&
		mb_fail "a node was told TRYAGAIN with cut-through on"
	[ "$(mb_sha "$MB_TMP/out2")" = "$(mb_sha "$MB_TMP/v1.img")" ] ||
		mb_fail "node 2's copy differs"
	same_as "$MB_TMP/v1.img" "$MT1"
	FILL=$(grep -o 'filled: [0-9]* bytes in [0-9]* ms' "$MB_TMP/sub.log" | awk '{print $5}')
	[ -n "$FILL" ] || mb_fail "no fill"
	parent_counter cut_through -ge 1 "no GET served cut-through"
	ctl sub --json sessions >"$MB_TMP/sessions.json"
	[ "$(field "j['master']['counters']['sessions_started']" <"$MB_TMP/sessions.json")" = 1 ] ||
		{ cat "$MB_TMP/sessions.json" >&2; mb_fail "the two nodes did not share a session"; }
	# well under the 30 s one TRYAGAIN would have cost
	[ "$T1" -lt 25000 ] || mb_fail "node 1 took $T1 ms"
	mb_pass "cut-through: fill ${FILL} ms, node 1 done after ${T1} ms, node 2 after ${T2} ms"
	;;
noaccess)
	query "$IMG"
	grep -q 'error=4' "$MB_TMP/q.out" || { cat "$MB_TMP/q.out" >&2;
		mb_fail "GETSTATUS: the parent's NOACCESS did not reach the node"; }
	if mb_in node timeout 60 "$FRIS" -i "$NODE" -S "$SUB" -B 1 -T 10 -N -F "$IMG" \
		"$MB_TMP/out" >"$MB_TMP/load.err" 2>&1; then
		mb_fail "GET: the load succeeded though the parent refuses"
	fi
	grep -q -i 'access' "$MB_TMP/load.err" || { cat "$MB_TMP/load.err" >&2;
		mb_fail "GET: not NOACCESS"; }
	[ -f "$MB_TMP/sub/state/images/$IMG" ] && mb_fail "fetched though the parent refuses"
	mb_pass "the parent's NOACCESS reached the node (GETSTATUS and GET)"
	;;
backoff)
	# every UDP datagram to sub dropped in the bridge (mb_loss_clear removes it)
	mb_nft "table bridge mbloss {
	chain mbl {
		type filter hook forward priority 0; policy accept;
		ip protocol udp oifname \"$(mb_bridge_port sub)\" counter drop
	}
}"
	mb_bg node timeout 170 "$FRIS" -i "$NODE" -S "$SUB" -B 1 -T 30 -N -F "$IMG" \
		"$MB_TMP/out"
	LPID=$MB_LAST_PID
	for i in $(seq 60); do
		[ "$(ctl sub --json parent | field "j['counters']['fetch_failures']")" -ge 1 ] && break
		sleep 0.5
	done
	[ "$i" -lt 60 ] || mb_fail "the fetch did not fail with the datagrams dropped"
	health >"$MB_TMP/h.json"
	# (an empty store is "down" of its own; the failed fetch is a reason)
	[ "$(field "j['state']" <"$MB_TMP/h.json")" != ok ] &&
		field "' '.join(r['why'] for r in j['reasons'])" <"$MB_TMP/h.json" |
		grep -q "fetching '$IMG' failed" &&
		[ "$(field "j['parent']['images']['$IMG']['state']" <"$MB_TMP/h.json")" = failed ] ||
		{ cat "$MB_TMP/h.json" >&2; mb_fail "health does not show the failed fetch"; }
	kill -0 "$LPID" 2>/dev/null || mb_fail "the node gave up instead of retrying TRYAGAIN"
	mb_loss_clear
	wait "$LPID" || mb_fail "the node's load failed after the datagrams came back"
	same_as "$MB_TMP/v1.img" "$MT1"
	parent_counter fills = 1 "fills != 1"
	[ "$(health | field "j['state']")" = ok ] || { health >&2; mb_fail "health not ok again"; }
	mb_pass "failed fetch backed off, the node kept retrying, filled after"
	;;
mapped)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	grep -q "filled: .*into the mapped .part" "$MB_TMP/sub.log" ||
		mb_fail "not received into the mapped .part"
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	mb_pass "filled through the mapped .part (over the hugepage budget)"
	;;
mappedfull)
	mb_bg node timeout 170 "$FRIS" -i "$NODE" -S "$SUB" -B 1 -T 30 -N -F "$IMG" \
		"$MB_TMP/out" 2>"$MB_TMP/load.err"
	LPID=$MB_LAST_PID
	for i in $(seq 60); do
		kill -0 "${DPID[sub]}" 2>/dev/null || { tail -20 "$MB_TMP/sub.log" >&2;
			mb_fail "sub died with its disk full"; }
		[ "$(ctl sub --json parent | field "j['counters']['fetch_failures']")" -ge 1 ] && break
		sleep 0.5
	done
	[ "$i" -lt 60 ] || mb_fail "the fetch did not fail with the disk full"
	health >"$MB_TMP/h.json"
	field "j['parent']['images']['$IMG']" <"$MB_TMP/h.json" >&2
	field "j['parent']['images']['$IMG']['reason']" <"$MB_TMP/h.json" |
		grep -q "No space left" || { cat "$MB_TMP/h.json" >&2;
		mb_fail "health does not name the full disk"; }
	[ -e "$MB_TMP/sub/state/images/$IMG" ] && mb_fail "partial image in images/"
	kill -0 "$LPID" 2>/dev/null || mb_fail "the node gave up instead of retrying TRYAGAIN"
	sleep 2
	kill -0 "${DPID[sub]}" 2>/dev/null || mb_fail "sub died with its disk full"
	mount -o remount,size=32m "$MB_TMP/sub/state" || mb_fail "remount"
	mb_log "space added"
	wait "$LPID" || { cat "$MB_TMP/load.err" >&2; mb_fail "the node's load failed after space came"; }
	same_as "$MB_TMP/v1.img" "$MT1"
	mb_pass "disk full under a mapped fill: a clear failure, sub alive, filled once space came"
	;;
mcast | stock-mcast)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	grep -q "fetching '$IMG' .* by multicast" "$MB_TMP/sub.log" ||
		mb_fail "the parent's session was not multicast"
	mb_pass "filled by multicast from the parent in ${LOAD_MS} ms"
	;;
fill)
	# an image the parent lacks: its NOIMAGE reaches the node
	query nosuch/IMAGE
	grep -q 'error=3' "$MB_TMP/q.out" || { cat "$MB_TMP/q.out" >&2;
		mb_fail "GETSTATUS for an image the parent lacks: not NOIMAGE"; }
	# GETSTATUS for the image sub lacks: the parent's size and mtime,
	# method 0, not running, and nothing fetched
	query "$IMG"
	grep -q 'error=0' "$MB_TMP/q.out" && grep -q 'running=0' "$MB_TMP/q.out" &&
		grep -q 'method=0x0' "$MB_TMP/q.out" ||
		{ cat "$MB_TMP/q.out" >&2; mb_fail "GETSTATUS before the fill"; }
	[ -f "$MB_TMP/sub/state/images/$IMG" ] && mb_fail "GETSTATUS fetched the image"
	load "$MB_TMP/out"
	grep -q 'image busy' "$MB_TMP/load.err" || { cat "$MB_TMP/load.err" >&2;
		mb_fail "the node was not told TRYAGAIN while the image was fetched"; }
	filled_then_hit
	health >"$MB_TMP/h.json"
	[ "$(field "j['parent']['reachable']" <"$MB_TMP/h.json")" = True ] ||
		{ cat "$MB_TMP/h.json" >&2; mb_fail "parent not reachable in health"; }
	mb_pass "filled on first GET (${FIRST} ms behind TRYAGAIN), hit in ${LOAD_MS} ms"
	;;
change)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	mb_make_file "$MB_TMP/v2.img" "$MIB" 2
	mb_state_add_image "$MB_TMP/par/state" "$IMG" "$MB_TMP/v2.img" 2 "$MT2"
	ctl par reload >/dev/null || mb_fail "parent reload"
	published par "$IMG" 2
	# the parent's answer is shared for 1 s (revalidate = 0): past that,
	# the next GET asks again (an idle machine loads in well under 1 s)
	sleep 1.2
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	same_as "$MB_TMP/v2.img" "$MT2"
	published sub "$IMG" 2
	parent_counter fills = 2 "fills != 2"
	mb_pass "the new MTIME was noticed and the image fetched again"
	;;
down | stock-down)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	dstop par
	sleep 1.2 # past the 1 s the parent's last answer is shared
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	health >"$MB_TMP/h.json"
	[ "$(field "j['state']" <"$MB_TMP/h.json")" = degraded ] ||
		{ cat "$MB_TMP/h.json" >&2; mb_fail "health not degraded with the parent down"; }
	[ "$(field "j['parent']['reachable']" <"$MB_TMP/h.json")" = False ] ||
		mb_fail "parent still reachable in health"
	field "' '.join(r['why'] for r in j['reasons'])" <"$MB_TMP/h.json" | grep -q -i parent ||
		{ cat "$MB_TMP/h.json" >&2; mb_fail "no reason naming the parent"; }
	query nosuch/IMAGE
	grep -q 'error=3' "$MB_TMP/q.out" || { cat "$MB_TMP/q.out" >&2;
		mb_fail "an uncached image with the parent down: not NOIMAGE"; }
	dstart par 1
	for i in $(seq 90); do
		[ "$(health | field "j['parent']['reachable']")" = True ] && break
		sleep 1
	done
	[ "$i" -lt 90 ] || mb_fail "the parent's return not noticed"
	[ "$(health | field "j['state']")" = ok ] || { health >&2; mb_fail "health not ok again"; }
	mb_pass "cached image served with the parent down; health degraded, then ok"
	;;
redirect | stock-redirect)
	# -B 30 as rc.frisbee: a TRYAGAIN would cost 30 s
	t0=$(date +%s%N)
	mb_in node timeout 120 "$FRIS" -i "$NODE" -S "$SUB" -B 30 -T 30 -N -F "$IMG" \
		"$MB_TMP/out" >"$MB_TMP/load.err" 2>&1 || { cat "$MB_TMP/load.err" >&2;
		mb_fail "the node's load failed"; }
	T1=$((($(date +%s%N) - t0) / 1000000))
	grep -q 'image busy' "$MB_TMP/load.err" && mb_fail "the node was told TRYAGAIN"
	[ "$(mb_sha "$MB_TMP/out")" = "$(mb_sha "$MB_TMP/v1.img")" ] ||
		mb_fail "the node's copy differs"
	parent_counter redirects -ge 1 "no GET redirected"
	ctl sub --json sessions >"$MB_TMP/sessions.json"
	[ "$(field "j['master']['counters']['sessions_started']" <"$MB_TMP/sessions.json")" = 0 ] ||
		{ cat "$MB_TMP/sessions.json" >&2; mb_fail "sub served the node itself"; }
	# the stock client names the server it was sent to
	grep -q "$PAR" "$MB_TMP/load.err" || { cat "$MB_TMP/load.err" >&2;
		mb_fail "the node's client does not name the parent's server"; }
	published sub "$IMG" 1
	same_as "$MB_TMP/v1.img" "$MT1"
	mb_pass "redirected to the parent's multicast session: the node done after ${T1} ms"
	;;
rate)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	L=$(grep -o "filled: .*through kernel sockets" "$MB_TMP/sub.log")
	[ -n "$L" ] || mb_fail "no fill line"
	RMS=$(echo "$L" | sed -n 's/.* \([0-9]*\) ms receiving.*/\1/p')
	DUP=$(echo "$L" | sed -n 's/.* \([0-9]*\) duplicate blocks.*/\1/p')
	NDP=$(echo "$L" | sed -n 's/.* \([0-9]*\) datagrams through the dataplane.*/\1/p')
	NK=$(echo "$L" | sed -n 's/.* \([0-9]*\) through kernel sockets.*/\1/p')
	# every block of the image came by the fill queue.  On this test
	# bed sub's kernel sees each frame on the veth too: its socket may
	# have read one pass (16 x 32) before the first datagram of the
	# queue stopped it.  Blocks received twice: those, and what the
	# re-requests of a loaded machine bring; through the kernel socket
	# nearly every block came twice (both copies read)
	[ "$NDP" -ge $((MIB * 1024)) ] || mb_fail "$NDP datagrams through the dataplane: $L"
	[ "$NK" -le 513 ] || mb_fail "$NK datagrams through the kernel socket: $L"
	[ "$DUP" -le $((MIB * 1024 / 4)) ] || mb_fail "$DUP blocks received twice: $L"
	parent_counter rx_dataplane -ge $((MIB * 1024)) "rx_dataplane counter"
	echo "rate: ${MIB} MiB at a parent rate of ${RATE}: received in ${RMS} ms," \
		"$((MIB * 8388608 / (RMS > 0 ? RMS : 1) / 1000)) Mbit/s; fill ${LOAD_MS} ms end to end for the node"
	mb_pass "filled through the dataplane at $((MIB * 8388608 / (RMS > 0 ? RMS : 1) / 1000)) Mbit/s"
	;;
stock-parent)
	query nosuch/IMAGE
	grep -q 'error=3' "$MB_TMP/q.out" || { cat "$MB_TMP/q.out" "$MB_TMP/par.log" >&2;
		mb_fail "GETSTATUS for an image the stock parent lacks: not NOIMAGE"; }
	query "$IMG"
	grep -q 'error=0' "$MB_TMP/q.out" || { cat "$MB_TMP/q.out" "$MB_TMP/par.log" >&2;
		mb_fail "GETSTATUS through the stock parent"; }
	load "$MB_TMP/out"
	filled_then_hit
	# a new version on the stock parent: its GETSTATUS reports the new mtime
	mb_make_file "$MB_TMP/v2.img" "$MIB" 2
	head -c 333 "$MB_TMP/v1.img" >>"$MB_TMP/v2.img"
	cp "$MB_TMP/v2.img" "$MB_TMP/par/images/$IMG"
	touch -d "@$MT2" "$MB_TMP/par/images/$IMG"
	sleep 1.2 # past the 1 s the parent's last answer is shared
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	same_as "$MB_TMP/v2.img" "$MT2"
	parent_counter fills = 2 "fills != 2"
	# the stock parent refuses a second unicast GET for an image while the
	# frisbeed of the first lingers (maxlinger, here 20 s): sub was told
	# TRYAGAIN and asked again until it was gone
	grep -q 'GET failed: unicast server already running' "$MB_TMP/par.log" ||
		mb_fail "the stock parent did not refuse the GET while its server lingered"
	[ "$(field "j['counters']['parent_tryagain']" <"$MB_TMP/parent.json")" -ge 1 ] ||
		{ cat "$MB_TMP/parent.json" >&2; mb_fail "the parent's TRYAGAIN not counted"; }
	mb_pass "stock mfrisbeed as parent: filled on first GET (${FIRST} ms), cache hit, new mtime refetched"
	;;
stock-version)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	published sub "${IMG%:*}" 3
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	parent_counter fetches = 1 "the cache hit fetched again"
	mb_pass "'$IMG' from the stock parent stored as '${IMG%:*}' version 3, then a hit"
	;;
stock-proxy)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	grep -q "GET from $SUB (for $NODE)" "$MB_TMP/par.log" ||
		{ cat "$MB_TMP/par.log" >&2; mb_fail "the GET to the stock parent was not proxied for the node"; }
	mb_pass "filled by a GET proxied for the node from the stock parent"
	;;
ephemeral)
	query "$IMG"
	grep -q 'error=0' "$MB_TMP/q.out" || { cat "$MB_TMP/q.out" >&2;
		mb_fail "GETSTATUS with sub's ephemeral ports in the passive range"; }
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	mb_pass "the parent reached from ports clear of the dataplane's"
	;;
measure)
	load "$MB_TMP/out"
	same_as "$MB_TMP/v1.img" "$MT1"
	MISS=$LOAD_MS
	FILL=$(grep -o 'filled: [0-9]* bytes in [0-9]* ms' "$MB_TMP/sub.log" | awk '{print $5}')
	# the cut-through session's asks for chunks not there yet (parked:
	# queued when they came, doc/parent-origin.md)
	ctl sub --json sessions | python3 -c 'import json, sys
for s in json.load(sys.stdin).get("dataplane", []):
    print("measure: session %s: requests %s, prequests %s, not_yet %s, parked %s, unparked %s,"
          " blocks %s" % tuple(s.get(k) for k in ("id", "requests", "prequests", "not_yet",
                                                  "parked", "unparked", "blocks")))' || true
	rm -f "$MB_TMP/out"
	load "$MB_TMP/out"
	HIT=$LOAD_MS
	echo "measure: ${MIB} MiB, parent rate ${RATE}, -B ${BSECS}, cut-through ${CUT}:" \
		"fill ${FILL} ms, the node's first load ${MISS} ms, cache hit ${HIT} ms"
	mb_pass "measured"
	;;
*) mb_fail "unknown case '$CASE'" ;;
esac
