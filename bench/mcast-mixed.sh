#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The clean client beside a slow and a lossy one, many runs (the figure of
# doc/multicast.md "Mixed receivers").
#
#   sudo MB_BUILD=build bench/mcast-mixed.sh [RUNS] [CASE] [SERVERS]
#
# Runs tests/system/mcast.sh CASE (default mixed-1g: three stock clients
# joining 1 s apart behind a bridge whose ports are shaped to 1 Gbit/s, one
# throttled to a quarter of the clean client's time alone, one losing 5% both
# ways, the clean one last) RUNS times (default 7) for each server of SERVERS
# (default "miniboss frisbeed"; miniboss@BUILDDIR measures the minibossd of
# another build, for an A/B of a change) and each of the control (all three
# clean) and the mixed scenario (MB_MIXED_MODES, default "control mixed"),
# alternating, so a slow spell of the shared machine falls on every series
# alike.  Each run measures the clean client alone
# first.  Prints one line per run and per series min/median/max of the time
# alone, the control's and the mixed scenario's time as multiples of it.
# The per-run lines are kept in $MB_MIXED_OUT (default
# /tmp/mcast-mixed.<pid>.txt).  MB_TEST_MIB sets the image size (mcast.sh's
# default for the case otherwise), MB_BUILD the build measured.  Needs what
# mcast.sh needs (root, the stock Frisbee tools, a built minibossd).
set -u
RUNS=${1:-7}
CASE=${2:-mixed-1g}
SERVERS=${3:-miniboss frisbeed}
MODES=${MB_MIXED_MODES:-control mixed}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export MB_BUILD=${MB_BUILD:-$SRC/build}
OUT=${MB_MIXED_OUT:-/tmp/mcast-mixed.$$.txt}
: >"$OUT"

for i in $(seq "$RUNS"); do
	for srv in $SERVERS; do
		name=${srv%%@*}
		build=$MB_BUILD
		[ "$srv" = "$name" ] || build=${srv#*@}
		for mode in $MODES; do
			line=$(MB_BUILD=$build MB_TEST_SERVER=$name MB_TEST_MIXED=$mode \
				bash "$SRC/tests/system/mcast.sh" "$CASE" 2>&1 | tee "$OUT.last" |
				grep -o 'MIXED .*' | sed "s|server=$name |server=$srv |")
			if [ -z "$line" ]; then
				echo "run $i $srv $mode: failed: $(grep -m1 -E 'FAIL|SKIP' "$OUT.last")" |
					tee -a "$OUT"
				continue
			fi
			echo "run $i $line" | tee -a "$OUT"
		done
	done
done
rm -f "$OUT.last"

python3 - "$OUT" <<-'EOF'
	import re, statistics, sys
	ser = {}
	for l in open(sys.argv[1]):
	    m = dict(re.findall(r'(\w+)=(\S+)', l))
	    if 'ratio' not in m:
	        continue
	    k = (m['server'], m['link'], m['mib'])
	    ser.setdefault(k, {}).setdefault('alone', []).append(int(m['alone']))
	    ser[k].setdefault(m['mode'], []).append(float(m['ratio']))
	def f(v, unit=''):
	    v = sorted(v)
	    return '%s/%s/%s%s (n=%d)' % (v[0], statistics.median(v), v[-1], unit, len(v))
	for (srv, link, mib), d in sorted(ser.items()):
	    print('%s, %s links, %s MiB: alone %s; control %s; mixed %s (min/median/max)' % (
	        srv, link, mib, f(d['alone'], ' ms'), f(d.get('control', [0]), 'x'),
	        f(d.get('mixed', [0]), 'x')))
EOF
