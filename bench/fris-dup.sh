#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Duplicate ratio of Frisbee receivers against minibossd: how many BLOCKs the
# server sent per block of the image while N receivers loaded it at once,
# uncapped, behind an IGMP-snooping bridge (tests/system/lib.sh testbed).
# The receivers are the project's mb-frisbee (one namespace each), the load
# generator mb-fris-loadgen (N logical receivers in one namespace) or the
# stock Emulab client (one namespace each).  Prints one JSON line: client,
# receivers, MiB, blocks sent, image blocks, the ratio, wall seconds, the
# receivers' REQUEST/PREQUEST totals and the server's request counters.
#
#   bench/fris-dup.sh mb|loadgen|stock [N=16] [MIB=64] [RATE=0]
# MB_BENCH_CLIENT: another mb-frisbee/mb-fris-loadgen directory than $MB_BUILD/tools.
# Needs root; MB_BUILD = a meson build dir with minibossd, mb-frisbee,
# mb-fris-loadgen and minibossctl.
set -u
MB_PREFIX=${MB_PREFIX:-mbr}
. "$(dirname "$0")/../tests/system/lib.sh"

CLIENT=${1:-mb}
N=${2:-16}
MIB=${3:-64}
RATE=${4:-0}
SRV=10.79.0.1
IMG=emulab-ops/RAW
FRIS=$MB_FRISBEE_BIN/frisbee
TOOLS=${MB_BENCH_CLIENT:-$MB_BUILD/tools}

mb_require_frisbee
mb_init
mb_bridge_up
mb_host srv "$SRV/24" noaddr
if [ "$CLIENT" = loadgen ]; then
	mb_host c1 10.79.0.11/24
else
	for i in $(seq "$N"); do
		mb_host "c$i" "10.79.0.$((10 + i))/24"
	done
fi
mb_make_file "$MB_TMP/raw.img" "$MIB" 1
mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/raw.img" 1 1700000000
{
	mb_conf_write "$SRV/24"
	printf '\n[frisbee]\nrate = %s\nidle-timeout = 60s\n' "$RATE"
} >"$MB_TMP/mb.conf"
mb_daemon_start srv "$MB_TMP/mb.conf"
mb_daemon_wait_ready 30
mb_wait_tcp c1 "$SRV" 64494 15 || mb_fail "master server port not reachable"
for i in $(seq 60); do
	mb_in c1 timeout 5 "$FRIS" -i 10.79.0.11 -S "$SRV" -Q "$IMG" 2>&1 | grep -q '^error=0' &&
		break
	sleep 0.5
done
SHA=$(mb_sha "$MB_TMP/raw.img")

t0=$(date +%s.%N)
pids=()
case "$CLIENT" in
mb)
	for i in $(seq "$N"); do
		mb_bg "c$i" timeout 170 "$TOOLS/mb-frisbee" -i "10.79.0.$((10 + i))" \
			-S "$SRV" -F "$IMG" -N -T 60 -q --json --sha256 "$SHA" "$MB_TMP/out$i" \
			>"$MB_TMP/c$i.json" 2>"$MB_TMP/c$i.err"
		pids+=("$MB_LAST_PID")
	done
	;;
stock)
	for i in $(seq "$N"); do
		mb_bg "c$i" timeout 170 "$FRIS" -i "10.79.0.$((10 + i))" -S "$SRV" -F "$IMG" -N \
			-T 60 "$MB_TMP/out$i" >"$MB_TMP/c$i.err" 2>&1
		pids+=("$MB_LAST_PID")
	done
	;;
loadgen)
	# A master-server GET starts the session and tells its group and port.
	ga=$(mb_in c1 python3 - "$SRV" "$IMG" <<-'EOF'
		import socket, struct, sys
		srv, img = sys.argv[1], sys.argv[2].encode()
		req = b"V01\0" + struct.pack(">IIBBH", 1, 0, 2, 0, len(img)) + img.ljust(256, b"\0")
		s = socket.create_connection((srv, 64494), 10)
		s.sendall(req)
		r = b""
		while len(r) < 288:
		    d = s.recv(288 - len(r))
		    if not d:
		        break
		    r += d
		method, running, err, servaddr, addr, port = struct.unpack(">BBHIIH", r[8:22])
		assert err == 0, err
		print(socket.inet_ntoa(struct.pack(">I", addr)), port)
	EOF
	) || mb_fail "master-server GET"
	set -- $ga
	mb_bg c1 timeout 170 "$TOOLS/mb-fris-loadgen" -N -i 10.79.0.11 -m "$1" -p "$2" \
		-n "$N" -T 60 >"$MB_TMP/lg.json" 2>"$MB_TMP/lg.err"
	pids+=("$MB_LAST_PID")
	;;
*)
	mb_fail "client: mb, loadgen or stock"
	;;
esac
bad=0
k=0
for p in "${pids[@]}"; do
	k=$((k + 1))
	wait "$p" && continue
	rc=$?
	bad=$((bad + 1))
	echo "# receiver $k exited $rc: $(tail -c 300 "$MB_TMP/c$k.err" 2>/dev/null)" >&2
done
t1=$(date +%s.%N)
if [ "$CLIENT" != loadgen ]; then
	for i in $(seq "$N"); do
		[ "$(mb_sha "$MB_TMP/out$i")" = "$SHA" ] || bad=$((bad + 1))
	done
fi
mb_ctl --json sessions >"$MB_TMP/sessions.json" 2>&1
python3 - "$MB_TMP" "$CLIENT" "$N" "$MIB" "$t0" "$t1" "$bad" <<-'EOF'
	import glob, json, os, sys
	tmp, client, n, mib, t0, t1, bad = sys.argv[1:8]
	j = json.load(open(os.path.join(tmp, "sessions.json")))
	sess = j.get("dataplane", j) if isinstance(j, dict) else j
	s = [x for x in sess if x.get("image") == "emulab-ops/RAW"][0]
	nblocks = int(mib) * 1024
	out = {"client": client, "receivers": int(n), "mib": int(mib),
	       "blocks_sent": s["blocks"], "image_blocks": nblocks,
	       "ratio": round(s["blocks"] / nblocks, 3), "seconds": round(float(t1) - float(t0), 2),
	       "failed": int(bad), "srv_requests": s["requests"], "srv_prequests": s["prequests"],
	       "srv_merged": s["merged"], "srv_rerequests": s["rerequests"]}
	rq = prq = rej = 0
	if client == "mb":
	    for f in glob.glob(os.path.join(tmp, "c*.json")):
	        try:
	            c = json.load(open(f))
	        except ValueError:
	            continue
	        rq += c.get("requests", 0)
	        prq += c.get("prequests", 0)
	        rej += c.get("igmp_rejoins", 0)
	    out.update(rx_requests=rq, rx_prequests=prq, rx_igmp_rejoins=rej)
	elif client == "loadgen":
	    c = json.load(open(os.path.join(tmp, "lg.json")))
	    out.update(rx_requests=sum(r["requests"] for r in c["per_receiver"]),
	               rx_prequests=sum(r["prequests"] for r in c["per_receiver"]),
	               rx_igmp_rejoins=c.get("igmp_rejoins", 0), completed=c["completed"])
	print(json.dumps(out))
EOF
