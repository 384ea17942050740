#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Keeps tools/demo.sh (the README's first command) green: runs the demo
# small (2 nodes, 32 MiB, through MB_DEMO_NODES/MB_DEMO_SIZE) against the
# already built tree, without installing or building, and checks what a user
# would see: exit 0, a summary row with checksum OK for every node, the PASS
# line, and that nothing of the run is left behind (its namespaces, its temp
# dir, its DPDK runtime dir).  Its stdout is a file here, so this also covers
# the plain (non-terminal) progress output.
#
#   demo.sh [mb|stock|interrupt]
#     mb         mb-frisbee clients (default)
#     stock      the stock Emulab client (--stock); skips if its dir is absent
#     interrupt  a Ctrl-C (SIGINT to the demo's process group) while the
#                nodes load: exit 130 and everything removed
# Needs root and a built minibossd (MB_BUILD), else skips (77).
set -u

CASE=${1:-mb}
MB_BUILD=${MB_BUILD:-$(pwd)/build}
MB_SRC=${MB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
MB_FRISBEE_BIN=${MB_FRISBEE_BIN:-/work/shared/peers/emulab-frisbee/bin}
NODES=${MB_DEMO_NODES:-2}
SIZE=${MB_DEMO_SIZE:-32}

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	[ -f "$OUT" ] && { echo "--- demo output ---" >&2; cat "$OUT" >&2; }
	exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -x "$MB_BUILD/server/minibossd" ] || skip "minibossd not built at '$MB_BUILD/server/minibossd'"
command -v python3 >/dev/null || skip "python3 missing"
args=()
if [ "$CASE" = stock ]; then
	[ -d "$MB_FRISBEE_BIN" ] || skip "stock Frisbee tools not at '$MB_FRISBEE_BIN'"
	args=(--stock)
fi

OUT=$(mktemp /tmp/mbdemo-test.XXXXXX)
trap 'rm -f "$OUT"' EXIT
export MB_DEMO_NODES=$NODES MB_DEMO_SIZE=$SIZE MB_DEMO_BUILD=$MB_BUILD MB_DEMO_SKIP_DEPS=1 \
	MB_DEMO_SKIP_BUILD=1 MB_FRISBEE_BIN

if [ "$CASE" = interrupt ]; then
	# A terminal's Ctrl-C signals the whole foreground process group; a
	# background job of this script would ignore SIGINT, so start the demo
	# as its own group from python and signal that group.
	# A rate cap keeps the transfer going for several seconds.
	python3 - "$MB_SRC/tools/demo.sh" "$OUT" <<-'EOF'
		import os, signal, subprocess, sys, time
		demo, out = sys.argv[1], sys.argv[2]
		with open(out, "wb") as f:
		    p = subprocess.Popen(["bash", demo, "--rate", "40M"], stdout=f, stderr=subprocess.STDOUT,
		                         start_new_session=True,
		                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
		    deadline = time.monotonic() + 120
		    while time.monotonic() < deadline and p.poll() is None:
		        if b"nodes loading" in open(out, "rb").read():
		            time.sleep(1)  # let the transfer start
		            break
		        time.sleep(0.05)
		    if p.poll() is None:
		        os.killpg(p.pid, signal.SIGINT)
		    try:
		        rc = p.wait(60)
		    except subprocess.TimeoutExpired:
		        os.killpg(p.pid, signal.SIGKILL)
		        rc = p.wait()
		print("demo exit status", rc, file=sys.stderr)
		sys.exit(0 if rc == 130 else 1)
	EOF
	rc=$?
else
	timeout 300 bash "$MB_SRC/tools/demo.sh" "${args[@]}" >"$OUT" 2>&1
	rc=$?
fi

# The run's prefix, from "==> network: bridge mbdemoXXXX-br ...".
P=$(sed -n 's/^==> network: bridge \(mbdemo[0-9a-f]*\)-br.*/\1/p' "$OUT")
[ -n "$P" ] || fail "no network line in the demo output"
left=$(ip netns list | grep "^$P-")
[ -n "$left" ] && fail "namespaces of $P left behind: $left"
ls -d "/tmp/$P".* >/dev/null 2>&1 && fail "temp dir /tmp/$P.* left behind"
[ -e "/var/run/dpdk/$P" ] && fail "DPDK runtime dir /var/run/dpdk/$P left behind"

if [ "$CASE" = interrupt ]; then
	[ "$rc" = 0 ] || fail "interrupted demo did not exit 130"
	grep -q "interrupted" "$OUT" || fail "no 'interrupted' message"
	grep -q "^==> PASS" "$OUT" && fail "the transfer ended before the interrupt"
	echo "PASS: Ctrl-C cleans up" >&2
	exit 0
fi

[ "$rc" = 0 ] || fail "demo exited $rc"
grep -q "^==> PASS" "$OUT" || fail "no PASS line"
for i in $(seq "$NODES"); do
	grep -Eq "^  n$i +10\.78\.0\.$((10 + i)) +$((SIZE * 1048576)) .* OK$" "$OUT" ||
		fail "no OK summary row for n$i"
done
grep -q "minibossctl health" "$OUT" || fail "health not shown"
# the summary only: no counter dumps
grep -Eq "State: ok" "$OUT" || fail "no health summary"
grep -Eq "minibossctl (stats|sessions)|rx_pkts|tcp_rx_segs" "$OUT" && fail "the demo dumps counters"
grep -q "%.*MB/s" "$OUT" || fail "no progress lines"
echo "PASS: demo $CASE, $NODES nodes, $SIZE MiB" >&2
exit 0
