#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The miniboss demo, README's first command.  As root on Debian 12 it
# installs the packages (tools/install-deps.sh), builds into build/ with
# meson, and then shows a miniboss at work: minibossd on a veth pair in a
# network namespace of its own serves a freshly generated random image over
# Frisbee multicast to N simulated nodes, each in its own namespace, all
# plugged into a Linux bridge with IGMP snooping and a querier (a snooping
# switch, in a namespace too).  The nodes load the image with mb-frisbee (or,
# with --stock, the stock Emulab client) through the master-server protocol,
# exactly as a disk loader would; tools/demo/nodes.py draws their progress
# live and checks every node's copy against the image's SHA-256.  The exit
# status is 0 only if every copy matches.
#
# Everything it creates (processes, namespaces and the veths/bridge in them,
# the temp dir, a hugepage reservation and mount) is removed by an EXIT trap,
# also on Ctrl-C; processes are stopped by PID.  With --keep the daemon and
# the namespaces stay up for poking with minibossctl, and a stop script is
# printed instead.
#
#   tools/demo.sh [--nodes N] [--size MiB] [--stock] [--keep] [--rate BITS|auto]
#                 [--dynamic-rate] [--hugepages|--no-hugepages]
#
# Environment (used by tests/system/demo.sh): MB_DEMO_NODES, MB_DEMO_SIZE
# (defaults for --nodes/--size), MB_DEMO_BUILD (build dir, default build/),
# MB_DEMO_SKIP_DEPS=1, MB_DEMO_SKIP_BUILD=1, MB_FRISBEE_BIN (stock tools dir),
# MB_DEMO_CLIENT (another mb-frisbee binary), MB_DEMO_KEEP_TMP=1 (keep logs).
set -u -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$SRC/tools/netbed.sh"
BUILD=${MB_DEMO_BUILD:-$SRC/build}
FRISBEE_BIN=${MB_FRISBEE_BIN:-$(cd "$SRC/.." && pwd)/shared/peers/emulab-frisbee/bin}
NODES=${MB_DEMO_NODES:-4}
SIZE=${MB_DEMO_SIZE:-256}
STOCK=0
KEEP=0
RATE=auto
DYNAMIC=no
HUGE=auto
SRV_IP=10.78.0.1
NET_LEN=24

usage() {
	cat <<-EOF
		usage: $0 [--nodes N] [--size MiB] [--stock] [--keep] [--rate BITS|auto]
		          [--dynamic-rate] [--hugepages|--no-hugepages]
		  --nodes N       simulated nodes, 1..16 (default $NODES)
		  --size MiB      size of the generated image (default $SIZE)
		  --stock         load with the stock Emulab frisbee client
		                  ($FRISBEE_BIN/frisbee) instead of mb-frisbee
		  --keep          leave minibossd and the namespaces running afterwards
		  --rate BITS     Frisbee bandwidth cap per session in bits/s, e.g. 500M; 0 = none;
		                  default auto: none up to 4 nodes, 1600M/N beyond
		  --dynamic-rate  let the server back off when clients re-request (frisbeed -D)
		  --hugepages     reserve 2 MiB hugepages for the daemon (restored afterwards);
		                  default: use them only if enough are already free
		  --no-hugepages  always run EAL with --no-huge
	EOF
	exit "${1:-2}"
}

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--nodes) [ $# -ge 2 ] || usage; NODES=$2; shift ;;
	--nodes=*) NODES=${1#*=} ;;
	--size) [ $# -ge 2 ] || usage; SIZE=$2; shift ;;
	--size=*) SIZE=${1#*=} ;;
	--rate) [ $# -ge 2 ] || usage; RATE=$2; shift ;;
	--rate=*) RATE=${1#*=} ;;
	--dynamic-rate) DYNAMIC=yes ;;
	--stock) STOCK=1 ;;
	--keep) KEEP=1 ;;
	--hugepages) HUGE=yes ;;
	--no-hugepages) HUGE=no ;;
	-h|--help) usage 0 ;;
	*) echo "demo: unknown option '$1'" >&2; usage ;;
	esac
	shift
done
[[ "$NODES" =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 16 ] ||
	die "--nodes wants 1..16"
[[ "$SIZE" =~ ^[0-9]+$ ]] && [ "$SIZE" -ge 1 ] && [ "$SIZE" -le 65536 ] ||
	die "--size wants 1..65536 (MiB)"
[[ "$RATE" =~ ^([0-9]+[kKMG]?|auto)$ ]] || die "--rate wants bits/s, e.g. 800M, or auto"
# With many nodes on a small machine the kernel cannot copy an uncapped
# multicast stream into every node's socket: frames drop, every node asks
# again, and the repeats cost more than they bring.  Measured on a 2-core
# VM: 4 nodes uncapped take ~400 Mbit/s each; 16 uncapped get ~50 with 4x
# repeats, 16 capped at 100M get ~90 with 2% repeats.
if [ "$RATE" = auto ]; then
	RATE=0
	[ "$NODES" -gt 4 ] && RATE=$((1600 / NODES))M
fi
[ "$(id -u)" = 0 ] || die "run me as root: I create network namespaces (sudo $0)"

# ---- state for the cleanup trap ------------------------------------------------------------

RID=$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')
P="mbdemo$RID"			# namespace/interface prefix of this run
TMP=
DAEMON_PID=
MB_NETNS=()			# the namespaces this run created (tools/netbed.sh)
HUGE_SYSFS=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HUGE_ORIG=
HUGE_MOUNTED=0
KEPT=0

cleanup() {
	local rc=$? p n
	# A second Ctrl-C must not cut the cleanup short.
	trap '' INT TERM HUP
	trap - EXIT
	set +e
	if [ "$KEPT" = 1 ]; then
		exit "$rc"
	fi
	if [ -n "$TMP" ] && [ -s "$TMP/clients.pids" ]; then
		while read -r p; do kill -TERM "$p" 2>/dev/null; done <"$TMP/clients.pids"
		sleep 0.2
		while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$TMP/clients.pids"
	fi
	[ -n "$DAEMON_PID" ] && "$SRC/tools/mb-launch" stop -D "$TMP" -t 10
	wait 2>/dev/null
	for n in "${MB_NETNS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	[ -d "/var/run/dpdk/$P" ] && rm -rf "/var/run/dpdk/$P"
	[ "$HUGE_MOUNTED" = 1 ] && umount /dev/hugepages 2>/dev/null
	[ -n "$HUGE_ORIG" ] && echo "$HUGE_ORIG" >"$HUGE_SYSFS"
	if [ -n "$TMP" ]; then
		if [ "${MB_DEMO_KEEP_TMP:-0}" = 1 ]; then
			echo "demo: kept $TMP" >&2
		else
			rm -rf "$TMP"
		fi
	fi
	[ "$rc" = 130 ] && echo "demo: interrupted, everything removed" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- packages and build --------------------------------------------------------------------

if [ "${MB_DEMO_SKIP_DEPS:-0}" != 1 ]; then
	say "checking Debian packages (tools/install-deps.sh)"
	bash "$SRC/tools/install-deps.sh" || die "installing packages failed"
fi
TMP=$(mktemp -d "/tmp/$P.XXXXXX") || die "mktemp failed"
if [ "${MB_DEMO_SKIP_BUILD:-0}" != 1 ]; then
	say "building into ${BUILD#"$SRC"/} (meson + ninja)"
	if [ ! -f "$BUILD/build.ninja" ]; then
		(cd "$SRC" && meson setup "$BUILD") >"$TMP/build.log" 2>&1 ||
			{ tail -n 30 "$TMP/build.log" >&2; die "meson setup failed"; }
	fi
	ninja -C "$BUILD" -j "$(nproc)" >>"$TMP/build.log" 2>&1 ||
		{ tail -n 30 "$TMP/build.log" >&2; die "build failed (log above)"; }
fi
MINIBOSSD=$BUILD/server/minibossd
CTL=$BUILD/tools/minibossctl
for b in "$MINIBOSSD" "$CTL" "$BUILD/tools/mb-manifest" "$BUILD/tools/mb-frisbee"; do
	[ -x "$b" ] || die "'$b' was not built"
done
if [ "$STOCK" = 1 ]; then
	CLIENT=$FRISBEE_BIN/frisbee
	[ -x "$CLIENT" ] || die "--stock: no stock Emulab client at '$CLIENT'"
else
	CLIENT=${MB_DEMO_CLIENT:-$BUILD/tools/mb-frisbee}
fi
for c in ip python3 timeout setsid sha256sum; do
	command -v "$c" >/dev/null || die "'$c' is missing (tools/install-deps.sh installs it)"
done

# ---- image and state dir -------------------------------------------------------------------

avail=$(df -Pm "$TMP" | tail -n 1 | tr -s ' ' | cut -d' ' -f4)
need=$(( (NODES + 2) * SIZE + 64 ))
[ "$avail" -ge "$need" ] || die "need ${need} MiB free in $(dirname "$TMP"), have ${avail}"
IMG=demo/random-${SIZE}M
say "generating a ${SIZE} MiB random image '$IMG'"
mkdir -p "$TMP/state/images/demo" "$TMP/nodes"
head -c "${SIZE}M" /dev/urandom >"$TMP/state/images/$IMG" || die "cannot write the image"
SHA=$(sha256sum "$TMP/state/images/$IMG" | cut -d' ' -f1)
"$BUILD/tools/mb-manifest" build "$TMP/state/images" -o "$TMP/state/manifest.json" \
	>/dev/null || die "mb-manifest build failed"
echo "    sha256 $SHA"

# ---- network: a snooping bridge, the miniboss, the nodes -----------------------------------

# host NAME ADDR|-: namespace $P-NAME, its eth0 plugged into the bridge
# (tools/netbed.sh, as the system tests build theirs).
NHOST=0
host() {
	NHOST=$((NHOST + 1))
	mb_netbed_host "$P-br" "$P-$1" "${P}p$NHOST" "$([ "$2" = - ] || echo "$2/$NET_LEN")" ||
		die "cannot set up host $1 (namespace $P-$1)"
}

say "network: bridge $P-br (IGMP snooping + querier), miniboss $SRV_IP, $NODES node(s)"
mb_netbed_bridge "$P-br" || die "cannot create the bridge in namespace $P-br"
host srv -			# the DPDK port owns this veth: no kernel address on it
for i in $(seq "$NODES"); do
	host "n$i" "10.78.0.$((10 + i))"
done

# ---- minibossd ------------------------------------------------------------------------------

MEM=$(( SIZE + 768 > 1024 ? SIZE + 768 : 1024 ))
EAL_HUGE=()
if [ "$HUGE" != no ] && [ -e "$HUGE_SYSFS" ]; then
	pages=$(( (MEM + 1) / 2 ))
	free=$(cat "${HUGE_SYSFS%/*}/free_hugepages")
	if [ "$HUGE" = yes ] && [ "$free" -lt "$pages" ]; then
		HUGE_ORIG=$(cat "$HUGE_SYSFS")
		echo $((HUGE_ORIG + pages - free)) >"$HUGE_SYSFS"
		free=$(cat "${HUGE_SYSFS%/*}/free_hugepages")
	fi
	if [ "$free" -ge "$pages" ]; then
		if ! mountpoint -q /dev/hugepages; then
			mkdir -p /dev/hugepages
			mount -t hugetlbfs nodev /dev/hugepages && HUGE_MOUNTED=1
		fi
		mountpoint -q /dev/hugepages && EAL_HUGE=(-H)
	elif [ "$HUGE" = yes ]; then
		echo "demo: could only reserve $free of $pages hugepages, using --no-huge" >&2
	fi
fi

cat >"$TMP/miniboss.conf" <<-EOF
	# written by tools/demo.sh
	[server]
	state-dir = $TMP/state
	control-socket = $TMP/control.sock
	log-level = info

	[dpdk]
	address = $SRV_IP/$NET_LEN
	exception-tap = ${P}t
	idle-sleep-us = 100

	[frisbee]
	rate = $RATE
	dynamic-rate = $DYNAMIC
	idle-timeout = 30s
EOF
say "starting minibossd in $P-srv (tools/mb-launch), $MEM MiB of EAL memory$([ ${#EAL_HUGE[@]} -gt 0 ] && echo " on hugepages")"
echo "    frisbee rate cap per session: $([ "$RATE" = 0 ] && echo none || echo "${RATE}bit/s")"
# --setsid: a Ctrl-C reaches the script only, whose trap stops the daemon by
# PID.  mb-launch returns once minibossctl wait says the daemon is ready:
# the store verified the image.
out=$("$SRC/tools/mb-launch" start -c "$TMP/miniboss.conf" -D "$TMP" -N "$P-srv" -i eth0 \
	-l 0 -m "$MEM" "${EAL_HUGE[@]}" -P "$P" --setsid -B "$BUILD" -t 120s)
rc=$?
eval "$out"
DAEMON_PID=${MB_PID:-}
case $rc in
0) ;;
3) die "minibossd exited during startup with status ${MB_EXIT:-?} (log above)" ;;
*) die "minibossd not ready in 120 s (log $TMP/minibossd.log)" ;;
esac

daemon_failed() {
	echo "--- minibossd log ($TMP/minibossd.log), tail ---" >&2
	tail -n 25 "$TMP/minibossd.log" >&2
	die "$*"
}

ctl() { "$CTL" -s "$TMP/control.sock" "$@"; }

state=$(ctl --json images 2>/dev/null | python3 -c '
import json, sys
for i in json.load(sys.stdin):
    if i.get("name") == sys.argv[1]:
        print(i.get("state", "?"))
' "$IMG")
[ "$state" = ok ] || daemon_failed "the store did not take the image: state '${state:-absent}'"

reachable=0
for _ in $(seq 100); do
	if ip netns exec "$P-n1" timeout 1 bash -c "exec 3<>/dev/tcp/$SRV_IP/64494" 2>/dev/null
	then
		reachable=1
		break
	fi
	sleep 0.2
done
[ "$reachable" = 1 ] ||
	daemon_failed "the master server ($SRV_IP:64494) is not reachable from the nodes"

say "minibossd is up (pid $DAEMON_PID); minibossctl health:"
ctl health | sed 's/^/    /'

# ---- the nodes -----------------------------------------------------------------------------

specs=()
for i in $(seq "$NODES"); do
	specs+=("n$i:$P-n$i:10.78.0.$((10 + i))")
done
stock_opt=()
[ "$STOCK" = 1 ] && stock_opt=(--stock)
echo
python3 "$SRC/tools/demo/nodes.py" --client "$CLIENT" "${stock_opt[@]}" --server "$SRV_IP" \
	--image "$IMG" --sha256 "$SHA" --total $((SIZE * 1048576)) --workdir "$TMP/nodes" \
	--pid-file "$TMP/clients.pids" --timeout $((120 + SIZE)) "${specs[@]}"
result=$?
[ "$result" = 130 ] && exit 130

echo
say "minibossctl health:"
ctl health 2>&1 | sed 's/^/    /'
echo
if [ "$result" = 0 ]; then
	say "PASS: all $NODES node(s) hold a verified copy of $IMG"
else
	say "FAIL: at least one node's copy is missing or differs (table above)"
fi

if [ "$KEEP" = 1 ]; then
	rm -f "$TMP"/nodes/*.img
	{
		echo "#!/bin/bash"
		echo "# stops the miniboss demo run $P (written by tools/demo.sh --keep)"
		echo "bash $SRC/tools/mb-launch stop -D $TMP -t 10"
		for n in "${MB_NETNS[@]}"; do echo "ip netns del $n"; done
		echo "rm -rf /var/run/dpdk/$P"
		[ "$HUGE_MOUNTED" = 1 ] && echo "umount /dev/hugepages"
		[ -n "$HUGE_ORIG" ] && echo "echo $HUGE_ORIG > $HUGE_SYSFS"
		echo "rm -rf $TMP"
	} >"$TMP/stop.sh"
	KEPT=1
	cat <<-EOF

		minibossd keeps running (pid $DAEMON_PID, namespace $P-srv, log $TMP/minibossd.log).
		Poke it:
		    $CTL -s $TMP/control.sock health
		    $CTL -s $TMP/control.sock images
		    ip netns exec $P-n1 $BUILD/tools/mb-frisbee -i 10.78.0.11 -S $SRV_IP \
		        -F $IMG -N --progress $TMP/copy.img
		Stop it and remove everything (namespaces, temp dir, hugepages):
		    bash $TMP/stop.sh
	EOF
fi
exit "$result"
