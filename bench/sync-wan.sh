#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sync over an emulated WAN against one curl stream on the same path.
#
#   sudo MB_BUILD=build bench/sync-wan.sh [SIZE_MIB] [RUNS] [RANGES...]
#
# ops is nginx with mutual TLS (tests/system/sync_lib.sh) in namespace "ops";
# the fetcher is in namespace "cli"; between them mb-netem (tools/netem,
# tests/system/wan.sh) forwards with 20 ms one-way delay each way (40 ms
# RTT) and 1% random loss each way.  Per run: one `curl` of the file (TLS,
# client certificate, written to disk), then sync-probe (the control
# library's sync and store on the real control loop) on a fresh store with
# origin.ranges = each of RANGES (default "1 4 8"): time from its start to
# the image verified and installed (as sync-probe reports it, before it
# compares memory with the file).  Then the same on the plain path (nginx
# and the fetcher in one namespace, loopback).  Prints min/median/max in
# Mbit/s of each and the ratios to curl; raw numbers in one JSON line per
# measurement on stdout (lines starting with '{').  SYNC_WAN_CC names the
# TCP congestion control of both namespaces (default reno: a namespace may
# only pick one of net.ipv4.tcp_allowed_congestion_control, here "reno bbr";
# reno, like cubic, is bounded by loss, which bbr, this kernel's default,
# barely is).  SYNC_WAN_PATHS picks the paths measured (default "wan plain";
# "plain" alone measures the loopback path only).  SYNC_WAN_PERF=FILE
# records a `perf record -g` profile of the last plain-path sync-probe run
# of the last RANGES into FILE, and of the last plain-path curl into
# FILE.curl (needs perf).  SYNC_WAN_PROBES="LABEL=PATH ..." runs each of
# several sync-probe builds in turn (A/B of a change, same runs, same
# curl), reported as sync-LABEL-ranges-N.
# Needs root, nginx, curl, openssl, ethtool, a build with mb-netem,
# mb-manifest and sync-probe.  Size default 64 MiB (a single stream at 1%
# loss and 40 ms moves a few MB/s: larger files take minutes per run).
set -u
SIZE_MIB=${1:-64}
RUNS=${2:-3}
shift 2 2>/dev/null
RANGES=${*:-1 4 8}
CC=${SYNC_WAN_CC:-reno}
PATHS=${SYNC_WAN_PATHS:-wan plain}
PERF_OUT=${SYNC_WAN_PERF:-}
MB_PREFIX=mbsw
MB_SRC=$(cd "$(dirname "$0")/.." && pwd)
MB_BUILD=$(cd "${MB_BUILD:-$MB_SRC/build}" && pwd)
. "$MB_SRC/tests/system/lib.sh"
. "$MB_SRC/tests/system/wan.sh"
MANI=$MB_BUILD/tools/mb-manifest
PROBE=$MB_BUILD/tests/system/sync-probe
PROBES=${SYNC_WAN_PROBES:-=$PROBE}
mb_init
mb_require_cmd nginx curl openssl ethtool
T=$MB_TMP
chmod 755 "$T"
PORT=18643
NGINX_PID=
fail() { mb_fail "$*"; }
. "$MB_SRC/tests/system/sync_lib.sh"
ngx_stop_bench() { ngx_stop; }

size=$((SIZE_MIB * 1048576))
mkdir -p "$T"/www
head -c "$size" /dev/urandom > "$T"/www/big
"$MANI" keygen "$T"/ops.key "$T"/ops.pub >/dev/null || fail "keygen"
"$MANI" build "$T"/www --site utah=big -o "$T"/www/manifest.json >/dev/null || fail "build"
"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
chmod -R a+rX "$T"/www

measure() {	# $1 = path label; runs curl and sync-probe RUNS times each
	local path=$1 i r t0 t1 st
	for i in $(seq "$RUNS"); do
		pre=()
		if [ -n "$PERF_OUT" ] && [ "$path" = plain ] && [ "$i" = "$RUNS" ]; then
			pre=(perf record -q -g -o "$PERF_OUT.curl" --)
		fi
		t0=$(date +%s.%N)
		$CLI_EXEC "${pre[@]}" curl -s -o "$T"/curl.out --cacert "$T"/pki/ca.crt --cert "$T"/pki/cli.crt \
			--key "$T"/pki/cli.key "https://$NGX_ADDR:$PORT/big" || fail "curl"
		t1=$(date +%s.%N)
		[ "$(stat -c %s "$T"/curl.out)" = "$size" ] || fail "curl: short file"
		rm -f "$T"/curl.out
		echo "{\"path\": \"$path\", \"who\": \"curl\", \"run\": $i, \"s\": $(awk "BEGIN{print $t1 - $t0}")}"
		for r in $RANGES; do
		for pr in $PROBES; do
			label=${pr%%=*}
			bin=${pr#*=}
			rm -rf "$T"/state
			cat > "$T"/mb.conf <<EOF
[server]
state-dir = $T/state
[dpdk]
address = 10.99.0.1/24
[origin]
$(origin_conf | grep -v "^timeout")
timeout = 30s
ranges = $r
EOF
			pre=()
			if [ -n "$PERF_OUT" ] && [ "$path" = plain ] && [ "$i" = "$RUNS" ] &&
				[ "$r" = "${RANGES##* }" ] && [ "$pr" = "${PROBES%% *}" ]; then
				pre=(perf record -q -g -o "$PERF_OUT" --)
			fi
			t0=$(date +%s.%N)
			$CLI_EXEC "${pre[@]}" "$bin" "$T"/mb.conf >"$T"/probe.out 2>"$T"/probe.log ||
				{ cat "$T"/probe.out; fail "sync-probe (ranges $r)"; }
			t1=$(date +%s.%N)
			cmp -s "$T"/www/big "$T"/state/images/big || fail "sync-probe: image differs"
			# the probe's own time to the image installed (without its
			# check of memory against the file afterwards)
			st=$(sed -n 's/^sync-probe: rounds took \([0-9.]*\) s$/\1/p' "$T"/probe.log)
			[ -n "$st" ] || st=$(awk "BEGIN{print $t1 - $t0}")
			echo "{\"path\": \"$path\", \"who\": \"sync${label:+-$label}-ranges-$r\", \"run\": $i, \"s\": $st}"
		done
		done
	done
}

# ---- the WAN
if [[ " $PATHS " == *" wan "* ]]; then
mb_wan_up W cli 10.97.0.1/24 ops 10.97.0.2/24 --delay 20ms --loss 1%
for ns in cli ops; do
	mb_in $ns sysctl -qw net.ipv4.tcp_congestion_control="$CC" || fail "no congestion control $CC"
done
mb_log "congestion control $CC, $SIZE_MIB MiB, $RUNS runs, ranges $RANGES"
NGX_ADDR=10.97.0.2
NGX_EXEC="ip netns exec $(mb_ns ops)"
CLI_EXEC="ip netns exec $(mb_ns cli)"
mkcerts
ngx_start srv
MB_PIDS+=("$NGINX_PID")
measure wan | tee "$T"/wan.json
mb_wan_stats W >&2
ngx_stop
fi

# ---- the plain path: loopback in one namespace
if [[ " $PATHS " == *" plain "* ]]; then
if [ ! -e "/run/netns/$(mb_ns cli)" ]; then
	ip netns add "$(mb_ns cli)" || fail "netns"
	MB_NETNS+=("$(mb_ns cli)")
	mb_in cli ip link set lo up
fi
NGX_ADDR=127.0.0.1
NGX_EXEC="ip netns exec $(mb_ns cli)"
CLI_EXEC="ip netns exec $(mb_ns cli)"
rm -rf "$T"/pki
mkcerts
ngx_start srv
MB_PIDS+=("$NGINX_PID")
measure plain | tee "$T"/plain.json
ngx_stop
fi

files=()
for p in wan plain; do [ -f "$T/$p.json" ] && files+=("$T/$p.json"); done
python3 - "$size" "${files[@]}" <<'PY'
import json, statistics, sys
size = int(sys.argv[1])
for f in sys.argv[2:]:
    rows = [json.loads(l) for l in open(f) if l.startswith('{')]
    by = {}
    for r in rows:
        by.setdefault(r['who'], []).append(size * 8 / r['s'] / 1e6)
    path = rows[0]['path']
    curl = statistics.median(by['curl'])
    for who, v in by.items():
        v.sort()
        print('%-6s %-16s Mbit/s min/median/max %8.1f %8.1f %8.1f   x curl (median) %.2f' %
              (path, who, v[0], statistics.median(v), v[-1], statistics.median(v) / curl))
PY
mb_pass "sync-wan"
