#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Multicast that looks after itself, end to end with the stock Emulab client
# (and mb-frisbee) behind a Linux bridge: the IGMP querier, the per-node
# unicast fallback, the adaptive rate with mixed receivers, per-node progress
# in `minibossctl sessions` and health.  One case per run:
#
#   mcast.sh querier   a snooping bridge whose hosts hear no querier and
#                      which forgets a membership after 3 s: with
#                      igmp-querier = off the client's membership lapses
#                      mid-load (the control); with auto the daemon
#                      queries, the membership never lapses and a load
#                      lasting well past 3 s completes
#   mcast.sh yield     the bridge queries from a lower address: the daemon
#                      (auto) yields, stats and health say so, loads work
#   mcast.sh leave     the daemon the querier (the bridge's own queries
#                      dropped): when the stock client is done its kernel
#                      leaves the group (an IGMPv2 Leave, having heard our
#                      v2 queries) and the daemon sends two group-specific
#                      queries to the group a second apart (captured on
#                      the daemon's bridge port), after which the bridge no
#                      longer sends the group to the client's port; then
#                      the bridge queries from a lower address, the daemon
#                      yields, and the next client's Leave gets no query
#                      from it
#   mcast.sh leave-v3  the same for an IGMPv3 host (force_igmp_version = 3,
#                      kept from our v2 general queries, so it leaves with
#                      a v3 report), with the last member query count and
#                      interval reloaded to 3 and 500 ms: three queries
#                      half a second apart, c1's port pruned; the control
#                      (our group-specific queries dropped): the port keeps
#                      the group
#   mcast.sh fallback  c2's port drops all multicast: c2 completes by
#                      unicast (sessions and health show it unicast-served)
#                      while c1, served by the group, keeps about its time
#   mcast.sh mixed     three clients 1 s apart, one throttled to a quarter of
#                      the rate a client alone gets, one with 5% loss both
#                      ways: the clean one's time against its time alone,
#                      and what went out while it loaded, after the
#                      control (the same three all clean: what three
#                      receivers cost the host); MB_TEST_MIXED=control or
#                      =mixed runs one of the two
#   mcast.sh mixed-1g  the same with 1 GbE nodes: every client's bridge port
#                      shaped to 1 Gbit/s (tbf), the throttled one to a
#                      quarter of what the clean one alone got
#   mcast.sh progress  per-node progress mid-load in minibossctl sessions
#                      and health: inferred for the stock client, reported
#                      (PROGRESS, mb-frisbee -H) for mb-frisbee
#   mcast.sh lost-group  c1 alone; when it has written 44 of the 48 chunks
#                      the bridge stops giving it the group (as a snooping
#                      switch does once it stops flooding a group whose
#                      report from that port it lost).  Alone, lacking a
#                      few chunks and hearing nothing, it must be served
#                      alone and complete (before: it stayed in the group
#                      at the floor rate until "No messages from server
#                      after 20 seconds", mcast-progress's CI failure)
# MB_TEST_FRISBEE_CONF adds [frisbee] lines to the daemon's configuration
# in the mixed cases (e.g. 'max-fallback-nodes = 0': what the unicast
# fallback costs the clean client); MB_TEST_SERVER=frisbeed runs them
# against the stock frisbeed for comparison (-W 1 Gbit/s on 1g links,
# 10 Gbit/s otherwise; clients on its group directly).
# Needs root, the stock tools (skip 77 without them) and a built minibossd.
set -u
MB_PREFIX=mbq
. "$(dirname "$0")/lib.sh"

CASE=${1:-querier}
SRV_ADDR=10.78.0.10
FRIS="$MB_FRISBEE_BIN/frisbee"
MIB=${MB_TEST_MIB:-32}

mb_require_frisbee
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd tc bridge

# conf EXTRA: the configuration, [frisbee] lines EXTRA.
conf() {
	{
		mb_conf_write "$SRV_ADDR/24"
		printf '\n[frisbee]\nidle-timeout = 20s\n%b\n' "$1"
	} >"$MB_TMP/mb.conf"
}

# What the daemon's sessions were when a client failed (for CI, where the
# failure cannot be looked at again): from the daemon's start a sampler
# appends `minibossctl --json sessions` (one line, with the time) to
# $MB_TMP/diag-sessions.log every 0.5 s; on any failure (MB_FAIL_HOOK) the
# sessions' and nodes' counters are printed every 2 s of the run and for
# its last 3 s, then the sessions and the port's non-zero counters now.
diag_sampler() {
	while :; do
		printf '%s ' "$(date +%s.%N)"
		mb_ctl --json sessions 2>&1 | tr -d '\n'
		echo
		sleep 0.5
	done >>"$MB_TMP/diag-sessions.log" 2>/dev/null
}

diag_start() {
	diag_sampler &
	MB_PIDS+=("$!")
	MB_FAIL_HOOK=mcast_diag
}

mcast_diag() {
	local f=$MB_TMP/diag-sessions.log
	echo "--- sessions and nodes during the run (every 2 s, then the last 3 s) ---"
	[ -f "$f" ] && python3 - "$f" <<-'EOF'
		import json, sys
		S = ("state", "blocks", "rounds", "requests", "prequests", "merged", "wq_drops",
		     "queue-depth", "pacing-bps", "group-loss", "not_yet", "no_neigh", "overruns",
		     "drops", "fallbacks", "fb_refused", "fb_blocks", "fb_requests", "fb_group",
		     "fb_no_neigh", "fb_budget_refused", "fb_returned", "leaves")
		N = ("method", "fallback", "progress", "progress-from", "joins", "requests",
		     "rerequests", "lost-blocks", "loss", "ucast-bytes", "ucast-rate-bps",
		     "last-seen-ms")
		rows = []
		for line in open(sys.argv[1]):
		    t, _, js = line.partition(" ")
		    try:
		        rows.append((float(t), json.loads(js)))
		    except ValueError:
		        rows.append((float(t) if t.replace(".", "").isdigit() else 0, None))
		if not rows:
		    sys.exit(0)
		t0, tl = rows[0][0], rows[-1][0]
		keep, last = [], None
		for t, j in rows:
		    if last is None or t - last >= 2 or t >= tl - 3:
		        keep.append((t, j))
		        last = t
		for t, j in keep:
		    if j is None:
		        print("%6.1f (no answer)" % (t - t0))
		        continue
		    for s in j.get("dataplane", []):
		        print("%6.1f S%s %s" % (t - t0, s.get("id"),
		              " ".join("%s=%s" % (k, s.get(k)) for k in S)))
		        for n in s.get("nodes") or []:
		            print("         %s %s" % (n.get("addr"),
		                  " ".join("%s=%s" % (k, n.get(k)) for k in N)))
	EOF
	echo "--- sessions now ---"
	mb_ctl --json sessions 2>&1 | python3 -c 'import json, sys
try:
    j = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for k, v in j.items():
    for x in v if isinstance(v, list) else [v]:
        print(k, json.dumps(x, separators=(",", ":")))'
	echo "--- port counters now (non-zero) ---"
	mb_ctl --json stats 2>&1 | python3 -c 'import json, sys
def flat(v, p=""):
    if isinstance(v, dict):
        for k, x in v.items():
            flat(x, p + k + ".")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            flat(x, p + str(i) + ".")
    elif v not in (0, None, False, ""):
        print(p[:-1] + "=" + str(v), end=" ")
try:
    flat(json.load(sys.stdin))
except ValueError:
    pass
print()'
	echo "--- clients ---"
	tail -n 3 "$MB_TMP"/c*.err 2>/dev/null
}

# setup NCLIENTS EXTRA: testbed (bridge as lib.sh makes it), image, daemon.
setup() {
	local n=$1 i
	mb_bridge_up
	mb_host srv "$SRV_ADDR/24" noaddr
	for i in $(seq "$n"); do
		mb_host "c$i" "10.78.0.$((20 + i))/24"
	done
	[ -n "${BRIDGE_HOOK:-}" ] && $BRIDGE_HOOK
	mb_make_file "$MB_TMP/raw.img" "$MIB" 3
	mb_state_add_image "$MB_TMP/state" "emulab-ops/RAW" "$MB_TMP/raw.img" 1 1700000000
	conf "$2"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	diag_start
	mb_wait_tcp c1 "$SRV_ADDR" 64494 15 || mb_fail "master server port not reachable"
	for i in $(seq 60); do
		mb_in c1 timeout 5 "$FRIS" -i 10.78.0.21 -S "$SRV_ADDR" -Q emulab-ops/RAW 2>&1 |
			grep -q '^error=0' && break
		sleep 0.5
	done
	[ "$i" -lt 60 ] || mb_fail "image not published"
}

# setup_frisbeed NCLIENTS BPS: the same testbed with the stock frisbeed
# serving the image at -W BPS on a group of its own (the server's kernel
# owns its port), clients pointed at that group (FETCH_FROM).
setup_frisbeed() {
	local n=$1 i
	[ -x "$MB_FRISBEE_BIN/frisbeed" ] || mb_skip "no stock frisbeed in $MB_FRISBEE_BIN"
	mb_bridge_up
	mb_host srv "$SRV_ADDR/24"
	for i in $(seq "$n"); do
		mb_host "c$i" "10.78.0.$((20 + i))/24"
	done
	mb_make_file "$MB_TMP/raw.img" "$MIB" 3
	mb_bg srv "$MB_FRISBEE_BIN/frisbeed" -i "$SRV_ADDR" -m 239.78.0.1 -p 6200 -W "$2" \
		"$MB_TMP/raw.img" >"$MB_TMP/frisbeed.log" 2>&1
	sleep 0.5
	alive "$MB_LAST_PID" || mb_fail "frisbeed exited: $(tail -n 3 "$MB_TMP/frisbeed.log")"
	FETCH_FROM=(-m 239.78.0.1 -p 6200)
}

# fetch CLIENT [TIMEOUT] [frisbee options]: a background stock client loading
# the image raw (-N) from FETCH_FROM (the master server, or a group and
# port); its PID in PID_<client>, its time (ms) lands in
# $MB_TMP/<client>.ms, stderr in $MB_TMP/<client>.err.
fetch() {
	local c=$1 t=${2:-50}
	shift 2 || shift
	mb_bg "$c" bash -c 's=$(date +%s%N); timeout "$1" "${@:2}"; rc=$?
		echo $((($(date +%s%N) - s) / 1000000)) >"'"$MB_TMP/$c.ms"'"; exit $rc' \
		fetch "$t" "$FRIS" -i "$(mb_addr "$c")" "${FETCH_FROM[@]}" -T 20 -N "$@" \
		"$MB_TMP/out.$c" 2>"$MB_TMP/$c.err"
	eval "PID_$c=$MB_LAST_PID"
}

# check CLIENT: exited 0, output identical to the image.
check() {
	local c=$1 pid rc
	pid=$(eval "echo \$PID_$c")
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || mb_fail "$c: frisbee exited $rc: $(tail -n 3 "$MB_TMP/$c.err")"
	[ "$(mb_sha "$MB_TMP/out.$c")" = "$(mb_sha "$MB_TMP/raw.img")" ] ||
		mb_fail "$c: output differs from the image"
}

FETCH_FROM=(-S "$SRV_ADDR" -F emulab-ops/RAW)

ms() { cat "$MB_TMP/$1.ms"; }

# alive PID: still running.
alive() { kill -0 "$1" 2>/dev/null; }
# bridge_rule TABLE HOOK RULE: one nft rule in a table of its own on the
# bridge (priority 0, accept by default), deleted by its table's name.
bridge_rule() {
	mb_nft "table bridge $1 {
	chain c {
		type filter hook $2 priority 0; policy accept;
		$3
	}
}"
}

# json_py FILE EXPR: evaluate a python expression over the JSON in FILE (j).
json_py() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# node_py: python defining node(j, addr) -> the node of that address in a
# sessions reply's dataplane sessions, or None.
NODE_PY='
def node(j, addr):
    for s in j.get("dataplane", []):
        for n in s.get("nodes") or []:
            if n["addr"] == addr:
                return n
    return None
'

# watch_nodes OUTFILE PID...: while one of PIDs runs, append every 0.3 s one
# line per node of `minibossctl --json sessions`: addr method fallback
# progress progress-from loss requests lost-blocks ucast-bytes; and one per
# session: "#S" time blocks fb_blocks pacing-bps group-loss.
watch_nodes() {
	local out=$1
	shift
	: >"$out"
	while mb_any_alive "$@"; do
		mb_ctl --json sessions 2>/dev/null | python3 -c 'import json, sys, time
try:
    j = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for s in j.get("dataplane", []):
    for n in s.get("nodes") or []:
        print(n["addr"], n["method"], n["fallback"], n["progress"], n["progress-from"],
              n["loss"], n["requests"], n["lost-blocks"], n["ucast-bytes"], n["ucast-rate-bps"])
    print("#S", "%.1f" % time.time(), s["blocks"], s["fb_blocks"], s["pacing-bps"], s["group-loss"])' \
			>>"$out"
		sleep 0.3
	done
}

# sess_blocks: the first session's BLOCKs sent (all), BLOCKs to nodes
# served alone and chunks both (fb_group), or nothing.
sess_blocks() {
	mb_ctl --json sessions 2>/dev/null | python3 -c 'import json, sys
try:
    s = json.load(sys.stdin)["dataplane"][0]
    print(s["blocks"], s["fb_blocks"], s["fb_group"])
except (ValueError, LookupError):
    pass'
}

# link_ctr NODE: what the bridge sent to NODE's port: "frames bytes
# qdisc-dropped" (the port's TX counters, and what its qdisc dropped: a
# shaped port's tbf), from the bridge's namespace.
link_ctr() {
	local port
	port=$(mb_bridge_port "$1")
	{
		ip netns exec "$(mb_ns br)" ip -s -j link show dev "$port"
		echo
		ip netns exec "$(mb_ns br)" tc -s -j qdisc show dev "$port"
	} 2>/dev/null | python3 -c 'import json, sys
parts = sys.stdin.read().split("\n", 1)
try:
    tx = json.loads(parts[0])[0]["stats64"]["tx"]
    drops = sum(q.get("drops", 0) for q in json.loads(parts[1]))
    print(tx["packets"], tx["bytes"], drops)
except (ValueError, LookupError, IndexError):
    print("0 0 0")'
}

# mdb_sampler FILE CLIENT: until FILE.stop exists, every 0.25 s append a
# sample to FILE: "@ <epoch seconds>", the bridge's memberships (`bridge -s
# mdb show`), and "member 1" when CLIENT's own kernel is in a 234.* group
# (/proc/net/igmp holds the group as the bytes of the address, "...EA" on
# this little-endian host: the client joined and has not left), else
# "member 0".  Started before a load, so that the join is in it.
mdb_sampler() {
	local f=$1 c=$2
	while [ ! -e "$f.stop" ]; do
		{
			echo "@ $(date +%s.%N)"
			bridge -n "$(mb_ns br)" -s mdb show
			echo "member $(mb_in "$c" awk '$1 ~ /^[0-9A-F]{8}$/ &&
				substr($1, 7, 2) == "EA" { m = 1 } END { print m + 0 }' /proc/net/igmp)"
		} >>"$f" 2>&1
		sleep 0.25
	done
}

# mdb_watch FILE CLIENT: start mdb_sampler and wait for its first sample
# (the load must not begin before the observation does).
mdb_watch() {
	rm -f "$1" "$1.stop"
	mdb_sampler "$1" "$2" &
	MB_PIDS+=("$!")
	MDB_SAMPLER=$!
	for _ in $(seq 100); do
		grep -q '^member ' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	mb_fail "the membership sampler made no sample in 10 s"
}

# mdb_unwatch FILE: stop the sampler (after its sample in progress).
mdb_unwatch() {
	touch "$1.stop"
	wait "$MDB_SAMPLER" 2>/dev/null
}

# lapses FILE PORT T0: judge the samples of mdb_sampler (the bridge's
# membership of PORT in a 234.* group; the client's own) from T0 (epoch
# seconds, the load's start), on what they saw only.  Prints "<lapses>
# <seen> <gap> <detail>": lapses, how often a membership seen on the bridge
# was gone in a later sample while the client's kernel still held the
# group (it had not left: a LEAVE at the end is not a lapse); seen, 1 when
# the bridge showed the membership at least once; gap, the largest time
# between two samples while the client was in the group (a lapse shorter
# than that may fall between them), in ms; detail, what was observed
# (samples, the first, the client's time in the group, the membership's
# first and last sight, all from T0) for the messages.
lapses() {
	python3 - "$1" "$2" "$3" <<-'EOF'
		import sys
		path, port, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
		samples, cur = [], None
		for line in open(path):
		    if line.startswith("@ "):
		        cur = {"t": float(line[2:]) - t0, "br": False, "member": None}
		        samples.append(cur)
		    elif cur is None:
		        continue
		    elif line.startswith("member "):
		        cur["member"] = line.split()[1] == "1"
		    elif ("port %s " % port) in line and "grp 234." in line:
		        cur["br"] = True
		samples = [s for s in samples if s["member"] is not None]  # complete ones
		lapses, was, gap, prev = 0, False, 0.0, None
		for s in samples:
		    if s["member"] and prev is not None and prev["member"]:
		        gap = max(gap, s["t"] - prev["t"])
		    if s["br"]:
		        was = True
		    elif was and s["member"]:
		        lapses += 1
		        was = False
		    prev = s
		seen = [s["t"] for s in samples if s["br"]]
		joined = [s["t"] for s in samples if s["member"]]
		f = lambda v: "%+.2f s" % v
		detail = ("%d samples from %s, client in the group %s, bridge membership "
		          "seen %s, largest gap %.2f s" %
		          (len(samples), f(samples[0]["t"]) if samples else "-",
		           "from %s to %s" % (f(joined[0]), f(joined[-1])) if joined else "never",
		           "from %s to %s (%d samples)" % (f(seen[0]), f(seen[-1]), len(seen))
		           if seen else "never", gap))
		print(lapses, 1 if seen else 0, int(gap * 1000), detail)
	EOF
}

# capture FILE: the IGMP frames on the daemon's bridge port into FILE (pcap),
# tcpdump's PID in CAP_PID; igmp_frames FILE lists them as "time src dst
# type max-resp group", one a line (an IGMPv3 report: "time src dst 22
# record-type group", one line per group record).
capture() {
	mb_bg br tcpdump -i "$(mb_bridge_port srv)" -n -U -w "$1" igmp 2>/dev/null
	CAP_PID=$MB_LAST_PID
	sleep 1
}
igmp_frames() {
	python3 - "$1" <<-'EOF'
		import socket, struct, sys
		d = open(sys.argv[1], "rb").read()
		o = 24
		while o + 16 <= len(d):
		    s, us, cl, _ = struct.unpack_from("<IIII", d, o)
		    f = d[o + 16:o + 16 + cl]
		    o += 16 + cl
		    if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 2:
		        continue
		    ihl = (f[14] & 15) * 4
		    g = f[14 + ihl:]
		    if len(g) < 8:
		        continue
		    head = "%.3f %s %s %02x" % (s + us / 1e6, socket.inet_ntoa(f[26:30]),
		                                 socket.inet_ntoa(f[30:34]), g[0])
		    if g[0] != 0x22:
		        print("%s %d %s" % (head, g[1], socket.inet_ntoa(g[4:8])))
		        continue
		    r, n = 8, struct.unpack_from("!H", g, 6)[0]
		    while n > 0 and r + 8 <= len(g):
		        ns = struct.unpack_from("!H", g, r + 2)[0]
		        print("%s %d %s" % (head, g[r], socket.inet_ntoa(g[r + 4:r + 8])))
		        r += 8 + 4 * ns + 4 * g[r + 1]
		        n -= 1
	EOF
}

# capture_end NAME: stop the capture capture() started into
# $MB_TMP/NAME.pcap and list its frames (igmp_frames) in $MB_TMP/NAME.txt.
capture_end() {
	kill -INT "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
	igmp_frames "$MB_TMP/$1.pcap" >"$MB_TMP/$1.txt"
}
# load_again NODE: a fresh load of the image by NODE's stock client, checked.
load_again() {
	rm -f "$MB_TMP/out.$1"
	fetch "$1" 40
	check "$1"
}

# gsq_control NODE GROUP_RE: the control phase of leave and leave-v3, after
# NODE's Leave with our group-specific queries dropped (nft table mbqg on
# the bridge): some were sent (and dropped), and the bridge still sends the
# group to NODE's port (it does not prune by itself); then the drop goes.
gsq_control() {
	local node=$1 grp=$2 dropped
	dropped=$(ip netns exec "$(mb_ns br)" nft list table bridge mbqg | grep -o 'packets [0-9]*' |
		awk '{print $2}')
	bridge -n "$(mb_ns br)" mdb show >"$MB_TMP/mdb0.txt" 2>&1
	[ "${dropped:-0}" -ge 2 ] ||
		mb_fail "control: the daemon sent no group-specific query on $node's Leave (dropped: ${dropped:-0})"
	grep -q "port $(mb_bridge_port "$node") grp $grp" "$MB_TMP/mdb0.txt" ||
		mb_fail "control: $node's port left the group without our queries (the bridge prunes by itself): $(cat "$MB_TMP/mdb0.txt")"
	mb_log "control: our $dropped group-specific queries dropped, $node's port keeps the group after its Leave"
	ip netns exec "$(mb_ns br)" nft delete table bridge mbqg || mb_fail "nft delete"
}

# gsq_judge NODE TXT T_LEAVE GROUP COUNT MAX_RESP INTERVAL: the daemon's
# group-specific queries for GROUP in TXT (igmp_frames' listing) after NODE
# left at T_LEAVE: COUNT of them, to the group, max response MAX_RESP (in
# tenths of a second), the first at once and the next INTERVAL seconds apart
# (timers every 100 ms, a loaded machine); then the bridge no longer sends
# the group to NODE's port (nobody there answered).
gsq_judge() {
	local node=$1 txt=$2 t_leave=$3 group=$4 count=$5 maxresp=$6 gap=$7
	awk -v g="$group" '$2 == "'$SRV_ADDR'" && $4 == "11" && $6 == g' "$txt" \
		>"$MB_TMP/gsq.$node.txt"
	mb_log "$node left $group at $t_leave; the daemon's group-specific queries: $(tr '\n' ';' <"$MB_TMP/gsq.$node.txt")"
	[ "$(wc -l <"$MB_TMP/gsq.$node.txt")" = "$count" ] ||
		mb_fail "not $count group-specific queries for $group after $node's Leave: $(cat "$txt")"
	python3 - "$t_leave" "$group" "$MB_TMP/gsq.$node.txt" "$maxresp" "$gap" <<-'EOF' ||
		import sys
		t0, g, mr, gap = float(sys.argv[1]), sys.argv[2], sys.argv[4], float(sys.argv[5])
		q = [l.split() for l in open(sys.argv[3])]
		t = [float(x[0]) for x in q]
		assert all(x[2] == g and x[4] == mr for x in q), q
		assert 0 <= t[0] - t0 < 1.0, (t0, t)
		assert all(0.7 * gap <= b - a < gap + 1.5 for a, b in zip(t, t[1:])), t
	EOF
		mb_fail "group-specific queries wrong: $(cat "$MB_TMP/gsq.$node.txt")"
	bridge -n "$(mb_ns br)" mdb show >"$MB_TMP/mdb.$node.txt" 2>&1
	grep -q "port $(mb_bridge_port "$node") grp $group" "$MB_TMP/mdb.$node.txt" &&
		mb_fail "the bridge still sends $group to $node's port: $(cat "$MB_TMP/mdb.$node.txt")"
	return 0
}

case "$CASE" in
querier)
	# The switch: snooping, memberships kept 3 s, and no querier the hosts
	# hear: the bridge's own querier runs (so it forwards a group only to
	# the ports that reported it, and to querier ports) but its queries are
	# dropped on the way out, as on a switch whose querier is elsewhere and
	# gone.  A host reports a group only when it joins, so its membership
	# lapses 3 s later unless someone queries.
	bridge_snoop_no_querier() {
		ip -n "$(mb_ns br)" link set br0 type bridge mcast_membership_interval 300 ||
			mb_fail "bridge timers"
		# A host that heard a v2 query (the bridge's first ones) repeats its
		# unsolicited report at a random time up to 10 s later, which may
		# keep the membership past the load: repeat within 1 s, as v3 does.
		mb_in c1 sysctl -qw net.ipv4.conf.eth0.igmpv2_unsolicited_report_interval=1000 \
			net.ipv4.conf.eth0.igmpv3_unsolicited_report_interval=1000 ||
			mb_fail "c1 report interval"
		bridge_rule mbqq output 'ip protocol igmp counter drop'
	}
	BRIDGE_HOOK=bridge_snoop_no_querier
	MIB=48
	setup 1 "igmp-querier = off\nigmp-query-interval = 1s\nmax-fallback-nodes = 0\nrate = 60M"
	# Control: nobody queries, the switch forgets c1's membership.  The
	# sampler runs from before the load (c1 joins within its first second
	# and the membership lapses 3 to 4 s later: a sampler started with the
	# load came 5 s into it on a loaded CI machine and saw nothing); the
	# verdict is on what it saw, and no sight of the membership at all is
	# a failure of the observation, said as such.
	mdb_watch "$MB_TMP/mdb0.txt" c1
	t0=$(date +%s.%N)
	fetch c1 12
	while alive "$PID_c1"; do sleep 0.2; done
	wait "$PID_c1"
	mdb_unwatch "$MB_TMP/mdb0.txt"
	# The switch forgot c1 mid-load (the client may still finish: the stock
	# client rejoins its group after a silence, which reports it again).
	read -r gaps seen gap detail < <(lapses "$MB_TMP/mdb0.txt" "$(mb_bridge_port c1)" "$t0")
	[ "$seen" = 1 ] || mb_fail "control: no observation: the bridge never showed c1's membership ($detail), so whether it lapsed cannot be told: $(tail -n 12 "$MB_TMP/mdb0.txt")"
	[ "$gaps" -gt 0 ] || mb_fail "control: c1's membership never lapsed without a querier (the testbed does not emulate the switch; $detail): $(tail -n 12 "$MB_TMP/mdb0.txt")"
	mb_log "control (igmp-querier = off): c1's membership lapsed $gaps time(s) ($detail)"
	# Our querier, auto (no other querier here): a reload turns it on.
	conf "igmp-querier = auto\nigmp-query-interval = 1s\nmax-fallback-nodes = 0\nrate = 60M"
	mb_ctl reload >/dev/null || mb_fail "reload"
	rm -f "$MB_TMP/out.c1"
	mdb_watch "$MB_TMP/mdb.txt" c1
	t0=$(date +%s.%N)
	fetch c1 50
	# what the querier does, for the failure message
	while alive "$PID_c1"; do
		{
			date +%T.%N
			mb_ctl --json stats 2>/dev/null | python3 -c 'import json, sys
print(json.load(sys.stdin)["igmp-querier"])'
		} >>"$MB_TMP/diag.txt" 2>&1
		sleep 1
	done
	wait "$PID_c1" || mb_fail "c1 failed with our querier: $(tail -n 2 "$MB_TMP/c1.err"); switch: $(tail -n 12 "$MB_TMP/mdb.txt"); querier: $(tail -n 6 "$MB_TMP/diag.txt")"
	mdb_unwatch "$MB_TMP/mdb.txt"
	check c1
	read -r gaps seen gap detail < <(lapses "$MB_TMP/mdb.txt" "$(mb_bridge_port c1)" "$t0")
	# "never lapsed" needs the membership seen, and samples close enough
	# that a lapse (until c1 reports again: its stock client rejoins after
	# a silence of seconds) falls in one
	[ "$seen" = 1 ] || mb_fail "no observation: the bridge never showed c1's membership with our querier ($detail): $(tail -n 12 "$MB_TMP/mdb.txt")"
	[ "$gap" -lt 2500 ] || mb_fail "no observation: samples ${gap} ms apart could miss a lapse ($detail)"
	[ "$gaps" = 0 ] || mb_fail "c1's membership lapsed $gaps time(s) with our querier ($detail): $(cat "$MB_TMP/mdb.txt")"
	mb_log "with our querier: $detail"
	t=$(ms c1)
	mb_log "c1 loaded ${MIB} MiB in ${t} ms with the daemon as querier"
	[ "$t" -gt 6000 ] || mb_fail "load took ${t} ms: not past 2 membership intervals (6 s)"
	mb_ctl --json stats >"$MB_TMP/stats.json" || mb_fail "stats"
	q=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]')
	mb_log "querier: $q"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["mode"]')" = auto ] ||
		mb_fail "querier mode: $q"
	sent=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["queries-sent"]')
	[ "$sent" -ge 4 ] || mb_fail "only $sent queries sent during a ${t} ms load: $q"
	mb_ctl --json health >"$MB_TMP/health.json" || mb_fail "health"
	json_py "$MB_TMP/health.json" 'j' | grep -q "queries-sent" ||
		mb_fail "health shows no IGMP querier"
	mb_pass "querier: control failed, with our queries a ${t} ms load completed ($sent queries)"
	;;
yield)
	bridge_lower_querier() {
		ip -n "$(mb_ns br)" addr add 10.78.0.2/24 dev br0 || mb_fail "bridge address"
		ip -n "$(mb_ns br)" link set br0 type bridge mcast_query_use_ifaddr 1 \
			mcast_query_interval 100 mcast_querier 0 || mb_fail "bridge querier"
		ip -n "$(mb_ns br)" link set br0 type bridge mcast_querier 1
	}
	BRIDGE_HOOK=bridge_lower_querier
	MIB=16
	setup 1 "igmp-querier = auto\nigmp-query-interval = 2s\nrate = 40M"
	fetch c1 40
	# mid-load (the querier works while multicast sessions run)
	state=
	while alive "$PID_c1"; do
		mb_ctl --json stats >"$MB_TMP/stats.json" 2>/dev/null &&
			state=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["state"]')
		[ "$state" = yielding ] && break
		sleep 0.3
	done
	check c1
	[ "$state" = yielding ] || mb_fail "never yielding mid-load: $(cat "$MB_TMP/stats.json")"
	q=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]')
	mb_log "querier: $q"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["queries-heard"] > 0')" = True ] ||
		mb_fail "the bridge's queries were not heard: $q"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["yields"] >= 1')" = True ] ||
		mb_fail "did not yield: $q"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"].get("other-querier")')" = 10.78.0.2 ] ||
		mb_fail "other querier not 10.78.0.2: $q"
	mb_ctl --json health >"$MB_TMP/health.json" || mb_fail "health"
	python3 - "$MB_TMP/health.json" <<-'EOF' ||
		import json, sys
		def walk(v):
		    if isinstance(v, dict):
		        q = v.get("igmp-querier")
		        if isinstance(q, dict) and q.get("yields", 0) >= 1:
		            return True
		        return any(walk(x) for x in v.values())
		    if isinstance(v, list):
		        return any(walk(x) for x in v)
		    return False
		sys.exit(0 if walk(json.load(open(sys.argv[1]))) else 1)
	EOF
		mb_fail "health does not show the yield: $(cat "$MB_TMP/health.json")"
	mb_pass "querier yields to a lower address ($q)"
	;;
fallback)
	setup 2 ""
	# c1 alone: its time.
	fetch c1 50
	check c1
	t_alone=$(ms c1)
	# c2's port gets no multicast frame at all, as behind a switch that never
	# learned its membership (by L2 destination: frames to its own MAC still
	# pass, whatever their IP destination).
	bridge_rule mbq forward "oifname \"$(mb_bridge_port c2)\" ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 ip protocol udp counter drop"
	rm -f "$MB_TMP/out.c1"
	fetch c1 50
	fetch c2 50
	watch_nodes "$MB_TMP/nodes.txt" "$PID_c1" "$PID_c2" &
	w=$!
	check c1
	check c2
	wait "$w"
	t_with=$(ms c1)
	t_c2=$(ms c2)
	dropped=$(ip netns exec "$(mb_ns br)" nft list table bridge mbq | grep -o 'packets [0-9]*' |
		awk '{print $2}')
	mb_log "c1 alone ${t_alone} ms, with c2 ${t_with} ms; c2 ${t_c2} ms; multicast dropped towards c2: $dropped"
	[ "${dropped:-0}" -gt 0 ] || mb_fail "the drop rule dropped nothing"
	grep -q "^10.78.0.22 ucast " "$MB_TMP/nodes.txt" ||
		mb_fail "sessions never showed c2 served by unicast: $(sort -u "$MB_TMP/nodes.txt" | head)"
	grep -q "^10.78.0.21 ucast " "$MB_TMP/nodes.txt" &&
		mb_fail "c1 was moved to unicast: $(grep '^10.78.0.21 ucast' "$MB_TMP/nodes.txt" | head -3)"
	mb_log "c2: $(grep -m1 '^10.78.0.22 ucast ' "$MB_TMP/nodes.txt")"
	# health lists the session's nodes too (the session may have ended:
	# ended sessions stay listed for a while)
	mb_ctl --json health >"$MB_TMP/health.json" || mb_fail "health"
	python3 - "$MB_TMP/health.json" <<-'EOF' || mb_fail "health does not show c2 unicast-served"
		import json, sys
		def walk(v):
		    if isinstance(v, dict):
		        if v.get("addr") == "10.78.0.22" and v.get("method") == "ucast":
		            return True
		        return any(walk(x) for x in v.values())
		    if isinstance(v, list):
		        return any(walk(x) for x in v)
		    return False
		sys.exit(0 if walk(json.load(open(sys.argv[1]))) else 1)
	EOF
	# generous: the machine is shared
	lim=$((t_alone * 3 / 2 + 3000))
	[ "$t_with" -le "$lim" ] || mb_fail "c1 took ${t_with} ms with c2, ${t_alone} ms alone (limit ${lim})"
	mb_pass "c2 (no multicast) by unicast in ${t_c2} ms; c1 ${t_with} ms vs ${t_alone} ms alone"
	;;
mixed | mixed-1g)
	server=${MB_TEST_SERVER:-miniboss}
	link=unlimited
	MIB=${MB_TEST_MIB:-64}
	if [ "$CASE" = mixed-1g ]; then
		link=1g
		MIB=${MB_TEST_MIB:-128}
	fi
	case $server in
	miniboss) setup 3 "${MB_TEST_FRISBEE_CONF:-}" ;;
	frisbeed) setup_frisbeed 3 "$([ $link = 1g ] && echo 1000000000 || echo 10000000000)" ;;
	*) mb_fail "MB_TEST_SERVER='$server': expected miniboss or frisbeed" ;;
	esac
	# 1 GbE nodes: what the bridge sends each of them shaped as bench's
	# link-1g shapes its server port (256 KiB burst, 20 ms of queue: a
	# switch port's buffer)
	if [ $link = 1g ]; then
		for c in c1 c2 c3; do
			ip netns exec "$(mb_ns br)" tc qdisc add dev "$(mb_bridge_port $c)" root tbf \
				rate 1gbit burst 256kb latency 20ms || mb_fail "tbf on $c"
		done
	fi
	# a first load warms what a first load pays for (the image's pages,
	# the session's start) and is not the time alone
	fetch c1 80
	check c1
	rm -f "$MB_TMP/out.c1"
	fetch c1 80
	check c1
	t_alone=$(ms c1)
	# a quarter of what c1 alone got, on c2's port
	q=$(python3 -c "print(max(1, int($MIB * 8 * 1024 * 1024 / ($t_alone / 1000) / 4 / 1e6)))")
	# phase MODE: c2, c3 and c1 (clean, last) 1 s apart; T1_<MODE> is c1's
	# time.  MODE control: none throttled or lossy (what three receivers
	# of one stream cost this host by itself); mixed: c2 throttled to q,
	# c3 losing 5% of its UDP both ways.
	phase() {
		local mode=$1 s0 s1 w= t1 t2 t3 ratio fell=
		if [ "$mode" = mixed ]; then
			ip netns exec "$(mb_ns br)" tc qdisc replace dev "$(mb_bridge_port c2)" \
				root tbf rate "${q}mbit" burst 64kb latency 50ms || mb_fail "tbf"
			mb_loss 5 c3
			bridge_rule mbqloss forward "iifname \"$(mb_bridge_port c3)\" ip protocol udp numgen random mod 100 < 5 counter drop"
		fi
		rm -f "$MB_TMP"/out.c[123]
		local l0 l1
		l0=$(link_ctr c2)
		# the throttled and the lossy node may take 10-20 times c1's
		# time alone on a loaded host
		fetch c2 180
		sleep 1
		fetch c3 180
		sleep 1
		s0=$([ $server = miniboss ] && sess_blocks)
		fetch c1 120
		if [ $server = miniboss ]; then
			watch_nodes "$MB_TMP/nodes-$mode.txt" "$PID_c1" "$PID_c2" "$PID_c3" &
			w=$!
		fi
		check c1
		s1=$([ $server = miniboss ] && sess_blocks)
		check c2
		l1=$(link_ctr c2)
		check c3
		[ -n "$w" ] && wait "$w"
		t1=$(ms c1) t2=$(ms c2) t3=$(ms c3)
		eval "T1_$mode=$t1"
		ratio=$(python3 -c "print(round($t1 / $t_alone, 2))")
		[ $server = miniboss ] && fell=$(awk '$2 == "ucast" {print $1 "(" $3 ")"}' \
			"$MB_TMP/nodes-$mode.txt" | sort -u | tr '\n' ' ')
		# one line for scripts collecting many runs (bench/mcast-mixed.sh)
		mb_log "MIXED server=$server link=$link mode=$mode mib=$MIB" \
			"alone=$t_alone c1=$t1 c2=$t2 c3=$t3 ratio=$ratio"
		mb_log "c1 alone ${t_alone} ms; $mode: c1 (clean, last) ${t1} ms = ${ratio}x alone," \
			"c2 ($([ $mode = mixed ] && echo "${q} Mbit/s" || echo clean)) ${t2} ms," \
			"c3 ($([ $mode = mixed ] && echo "5% loss" || echo clean)) ${t3} ms;" \
			"served alone: ${fell:-none}"
		# what went out while c1 loaded (an image is $((MIB * 1024)) BLOCKs)
		set -- $s0 $s1
		[ $# = 6 ] && mb_log "during c1's load: $(($4 - $1 - $5 + $2)) BLOCKs to the group," \
			"$(($5 - $2)) to nodes alone, $(($6 - $3)) chunks alone-and-group"
		# what c2's link was sent during its whole load (an image is
		# $((MIB * 1024)) BLOCKs): frames through its bridge port, and
		# dropped by its shaping
		set -- $l0 $l1
		[ $# = 6 ] && mb_log "LINK2 mode=$mode c2=${t2}ms frames=$(($4 - $1))" \
			"bytes=$(($5 - $2)) shaper-dropped=$(($6 - $3)) image-blocks=$((MIB * 1024))"
		# c2 served alone: its own rate as sampled, and the bytes sent
		# to it alone
		[ $server = miniboss ] && awk -v a="$(mb_addr c2)" -v m="$mode" '
			$1 == a && $2 == "ucast" { r[n++] = $10; b = $9 }
			END { if (n == 0) { print "ALONE2 mode=" m " c2 not served alone"; exit }
				asort(r); print "ALONE2 mode=" m " samples=" n " ucast-bytes=" b \
					" rate-bps min=" r[1] " median=" r[int((n + 1) / 2)] " max=" r[n] }' \
			"$MB_TMP/nodes-$mode.txt" | while read -r line; do mb_log "$line"; done
		return 0
	}
	# MB_TEST_MIXED=control or =mixed: that phase alone (bench/mcast-mixed.sh
	# alternates them); by default the control, then the mixed scenario.
	case ${MB_TEST_MIXED:-both} in
	control) phase control ;;
	mixed) phase mixed ;;
	both) phase control; phase mixed ;;
	*) mb_fail "MB_TEST_MIXED='$MB_TEST_MIXED': expected control or mixed" ;;
	esac
	[ -n "${T1_mixed:-}" ] || mb_pass "control: clean client ${T1_control} ms, ${t_alone} ms alone"
	# The target is 1.2x alone.  On this shared 2-core machine the host
	# bounds it, not the slow nodes: three receivers of one stream (the
	# bridge's copies, three clients writing) share the core the dataplane
	# leaves, and the control alone took 1.3-3.2x (doc/multicast.md).  So
	# the assertion is looser and relative to what this host shows: the
	# mixed run within 2.5x alone, or 5/4 of the control, plus 2 s.  A
	# clean client held to the throttled one's pace (4x) still fails it
	# whenever the control is under about 3x.
	lim=$((t_alone * 5 / 2))
	[ -n "${T1_control:-}" ] && [ $((T1_control * 5 / 4)) -gt "$lim" ] &&
		lim=$((T1_control * 5 / 4))
	lim=$((lim + 2000))
	[ "$T1_mixed" -le "$lim" ] ||
		mb_fail "clean client ${T1_mixed} ms with the others, ${t_alone} ms alone, ${T1_control:-?} ms in the control (limit ${lim})"
	mb_pass "clean client $(python3 -c "print(round($T1_mixed / $t_alone, 2))")x its time alone (${T1_mixed} vs ${t_alone} ms; control: $([ -n "${T1_control:-}" ] && echo "${T1_control} ms" || echo "not run"))"
	;;
progress)
	MIB=48
	setup 2 "rate = 40M"
	fetch c1 60
	mb_bg c2 timeout 60 "$MB_BUILD/tools/mb-frisbee" -i "$(mb_addr c2)" -S "$SRV_ADDR" -N -H 1 \
		-T 20 -F emulab-ops/RAW "$MB_TMP/out.c2"
	PID_c2=$MB_LAST_PID
	# mid-load: text and JSON of sessions, and health
	seen_text=0 seen_c1=0 seen_c2=0 seen_health=0
	for _ in $(seq 100); do
		alive "$PID_c1" || break
		mb_ctl sessions >"$MB_TMP/sessions.txt" 2>&1
		mb_ctl --json sessions >"$MB_TMP/sessions.json" 2>/dev/null || continue
		mb_ctl --json health >"$MB_TMP/health.json" 2>/dev/null
		r=$(python3 - "$MB_TMP/sessions.json" "$MB_TMP/health.json" <<-EOF
			import json, sys
			$NODE_PY
			j = json.load(open(sys.argv[1]))
			h = open(sys.argv[2]).read()
			a, b = node(j, "10.78.0.21"), node(j, "10.78.0.22")
			ok1 = a is not None and 0 < a["progress"] < 1 and a["progress-from"] == "inferred"
			ok2 = b is not None and 0 < b["progress"] < 1 and b["progress-from"] == "report"
			print(int(ok1), int(ok2), int('"10.78.0.21"' in h and '"progress"' in h),
			      a and a["progress"], b and b["progress"])
		EOF
		)
		set -- $r
		[ "$1" = 1 ] && seen_c1=1 && p1=$4
		[ "$2" = 1 ] && seen_c2=1 && p2=$5
		[ "$3" = 1 ] && seen_health=1
		grep -q "10.78.0.21 .*multicast .*% (inferred)" "$MB_TMP/sessions.txt" && seen_text=1
		[ $seen_c1$seen_c2$seen_text$seen_health = 1111 ] && break
		sleep 0.5
	done
	check c1
	wait "$PID_c2" || mb_fail "mb-frisbee failed"
	[ "$(mb_sha "$MB_TMP/out.c2")" = "$(mb_sha "$MB_TMP/raw.img")" ] || mb_fail "c2 output differs"
	[ $seen_c1 = 1 ] || mb_fail "no mid-load inferred progress for the stock client: $(cat "$MB_TMP/sessions.json")"
	[ $seen_c2 = 1 ] || mb_fail "no mid-load reported progress for mb-frisbee: $(cat "$MB_TMP/sessions.json")"
	[ $seen_text = 1 ] || mb_fail "minibossctl sessions shows no node progress: $(cat "$MB_TMP/sessions.txt")"
	[ $seen_health = 1 ] || mb_fail "health shows no node progress"
	mb_log "mid-load: stock client ${p1} (inferred), mb-frisbee ${p2} (reported)"
	mb_pass "per-node progress mid-load (sessions text and JSON, health)"
	;;
lost-group)
	MIB=48
	setup 1 "rate = 40M"
	fetch c1 60
	# 44 chunks written (the client prints a line of dots, one a chunk):
	# the group no longer reaches c1
	cut=0
	while alive "$PID_c1"; do
		if [ "$(grep -o '^\.*$' "$MB_TMP/c1.err" | tr -cd . | wc -c)" -ge 44 ]; then
			bridge_rule mbqg forward "oifname \"$(mb_bridge_port c1)\" ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 ip protocol udp counter drop"
			cut=1
			break
		fi
		sleep 0.05
	done
	watch_nodes "$MB_TMP/nodes.txt" "$PID_c1" &
	w=$!
	check c1
	wait "$w"
	[ $cut = 1 ] || mb_fail "c1 finished before it had 44 chunks written (no cut)"
	dropped=$(ip netns exec "$(mb_ns br)" nft list table bridge mbqg | grep -o 'packets [0-9]*' |
		awk '{print $2}')
	[ "${dropped:-0}" -gt 0 ] || mb_fail "the cut dropped nothing: c1 did not need the group after it"
	grep -q '^10.78.0.21 ucast ' "$MB_TMP/nodes.txt" ||
		mb_fail "c1 completed but was never served alone: $(tail -n 3 "$MB_TMP/nodes.txt")"
	how=$(grep -m1 '^10.78.0.21 ucast ' "$MB_TMP/nodes.txt" | awk '{print $3}')
	mb_pass "c1, cut off from the group at 44 of 48 chunks ($dropped frames dropped), served alone ($how), completed in $(ms c1) ms"
	;;
leave)
	# The switch: snooping, its own queries dropped on the way out, so the
	# daemon is the segment's querier (as in `querier`).
	mb_require_cmd tcpdump
	bridge_quiet() {
		bridge_rule mbql output 'ip protocol igmp counter drop'
	}
	BRIDGE_HOOK=bridge_quiet
	MIB=8
	setup 1 "igmp-querier = auto\nigmp-query-interval = 30s"
	querier_state() {
		mb_ctl --json stats 2>/dev/null | python3 -c 'import json, sys
print(json.load(sys.stdin)["igmp-querier"]["state"])'
	}
	other_querier() {
		mb_ctl --json stats 2>/dev/null | python3 -c 'import json, sys
print(json.load(sys.stdin)["igmp-querier"].get("other-querier"))'
	}
	# Control: our group-specific queries dropped at the bridge.  c1's
	# kernel leaves, and the bridge, which knows another querier (us),
	# leaves the membership to the querier's queries: without them c1's
	# port keeps the group (until the membership interval, 260 s).
	bridge_rule mbqg prerouting "iifname \"$(mb_bridge_port srv)\" ip protocol igmp @th,0,8 0x11 ip daddr != 224.0.0.1 counter drop"
	fetch c1 40
	check c1
	sleep 4
	gsq_control c1 "234\\."
	capture "$MB_TMP/leave1.pcap"
	load_again c1
	# the client's kernel leaves when frisbee exits; the queries follow at
	# once and a second later: give them 4 s (a loaded machine)
	sleep 4
	capture_end leave1
	leave=$(awk '$2 == "10.78.0.21" && $4 == "17" {print $1, $6; exit}' "$MB_TMP/leave1.txt")
	[ -n "$leave" ] || mb_fail "c1 sent no IGMPv2 Leave (frames on the daemon's port: $(cat "$MB_TMP/leave1.txt"))"
	set -- $leave
	t_leave=$1 group=$2
	gsq_judge c1 "$MB_TMP/leave1.txt" "$t_leave" "$group" 2 10 1
	mb_ctl --json stats >"$MB_TMP/stats.json" || mb_fail "stats"
	q=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]')
	mb_log "querier: $q"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["leaves"] >= 1 and j["igmp-querier"]["group-queries-sent"] >= 2 and j["counters"]["igmp_gsq_tx"] >= 2')" = True ] ||
		mb_fail "counters: $q"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["checks-last-member-left"]')" -ge 1 ] ||
		mb_fail "the check did not find c1 the last member: $q"
	mb_ctl stats >"$MB_TMP/stats.txt" || mb_fail "minibossctl stats"
	grep -A20 '^IGMP querier:' "$MB_TMP/stats.txt" | grep -q '^  group-queries-sent  *[1-9]' &&
		grep -q '^  igmp_gsq_tx  *[1-9]' "$MB_TMP/stats.txt" ||
		mb_fail "minibossctl stats shows no group-specific queries: $(cat "$MB_TMP/stats.txt")"
	# Another querier, lower: 10.78.0.2 on the bridge's own interface sends
	# IGMPv2 general queries every second (a router there; the bridge's own
	# querier stands aside for ours, which it heard).  The daemon yields;
	# c1's next Leave gets no query from it.
	ip -n "$(mb_ns br)" addr add 10.78.0.2/24 dev br0 || mb_fail "bridge address"
	ip netns exec "$(mb_ns br)" nft delete table bridge mbql || mb_fail "nft delete"
	mb_bg br python3 -c 'import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"br0")
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.78.0.2"))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x94\x04\x00\x00")
q = bytearray(b"\x11\x64\x00\x00\x00\x00\x00\x00")
c = sum(struct.unpack("!4H", q))
c = ~((c & 0xffff) + (c >> 16)) & 0xffff
q[2:4] = struct.pack("!H", c)
for _ in range(120):
    s.sendto(q, ("224.0.0.1", 0))
    time.sleep(1)' >"$MB_TMP/querier.log" 2>&1
	for _ in $(seq 40); do
		[ "$(other_querier)" = 10.78.0.2 ] && break
		sleep 0.5
	done
	[ "$(other_querier)" = 10.78.0.2 ] || mb_fail "the daemon did not hear the bridge query"
	capture "$MB_TMP/leave2.pcap"
	load_again c1
	[ "$(querier_state)" = yielding ] || mb_fail "the daemon did not yield to the bridge"
	sleep 4
	capture_end leave2
	awk '$2 == "10.78.0.21" && $4 == "17"' "$MB_TMP/leave2.txt" | grep -q . ||
		mb_fail "c1 sent no Leave the second time: $(cat "$MB_TMP/leave2.txt")"
	awk '$2 == "'$SRV_ADDR'" && $4 == "11"' "$MB_TMP/leave2.txt" | grep -q . &&
		mb_fail "the daemon queried while another querier was present: $(cat "$MB_TMP/leave2.txt")"
	mb_ctl --json stats >"$MB_TMP/stats.json" || mb_fail "stats"
	q=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]')
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["leaves-not-querier"]')" -ge 1 ] ||
		mb_fail "the Leave was not heard while yielding: $q"
	mb_pass "Leave: two group-specific queries for $group 1 s apart as the querier, c1's port pruned; none while yielding ($q)"
	;;
leave-v3)
	# An IGMPv3 host leaving: c2 (force_igmp_version = 3) never hears an
	# IGMPv2 query (the bridge's own are dropped as in `leave`, and so are
	# our general queries on their way to c2's port: a Linux host that
	# hears a v2 query reports and leaves in v2 for 2 x 125 s + 10 s,
	# force_igmp_version = 3 or not), so when the stock client is done its
	# kernel leaves with an IGMPv3 report (CHANGE_TO_INCLUDE_MODE of no
	# sources, to 224.0.0.22).  The daemon, the querier, with the last
	# member query count and interval reloaded to 3 and 500 ms, answers
	# it with three group-specific queries half a second apart (max
	# response 0.5 s), and the bridge no longer sends the group to c2's
	# port.  Control first (the defaults): the same with our group-specific
	# queries dropped at the bridge, c2's port keeps the group.
	mb_require_cmd tcpdump
	# c2 comes up only once the bridge's queries are dropped: c1, plugged
	# in before, heard the bridge's first ones.
	bridge_quiet_v3() {
		bridge_rule mbql output 'ip protocol igmp counter drop'
		mb_host c2 10.78.0.22/24
		bridge_rule mbqv forward "oifname \"$(mb_bridge_port c2)\" ip protocol igmp ip daddr 224.0.0.1 counter drop"
		mb_in c2 sysctl -qw net.ipv4.conf.eth0.force_igmp_version=3 ||
			mb_fail "c2 force_igmp_version"
	}
	BRIDGE_HOOK=bridge_quiet_v3
	MIB=8
	setup 1 "igmp-querier = auto\nigmp-query-interval = 30s"
	# v3_leave FILE: "time group" of c2's first IGMPv3 record leaving a
	# group (CHANGE_TO_INCLUDE_MODE, type 3) in igmp_frames' FILE
	v3_leave() {
		awk '$2 == "10.78.0.22" && $4 == "22" && $5 == "3" {print $1, $6; exit}' "$1"
	}
	# Control.
	bridge_rule mbqg prerouting "iifname \"$(mb_bridge_port srv)\" ip protocol igmp @th,0,8 0x11 ip daddr != 224.0.0.1 counter drop"
	capture "$MB_TMP/leave0.pcap"
	load_again c2
	sleep 4
	capture_end leave0
	leave=$(v3_leave "$MB_TMP/leave0.txt")
	[ -n "$leave" ] || mb_fail "control: c2 sent no IGMPv3 Leave (frames on the daemon's port: $(cat "$MB_TMP/leave0.txt"))"
	awk '$2 == "10.78.0.22" && ($4 == "16" || $4 == "17")' "$MB_TMP/leave0.txt" | grep -q . &&
		mb_fail "control: c2 sent IGMPv2 (it heard a v2 query): $(cat "$MB_TMP/leave0.txt")"
	set -- $leave
	group=$2
	gsq_control c2 "$group"
	# With our queries, the last member settings changed by a reload.
	conf "igmp-querier = auto\nigmp-query-interval = 30s\nigmp-last-member-count = 3\nigmp-last-member-interval-ms = 500"
	mb_ctl reload >/dev/null || mb_fail "reload"
	capture "$MB_TMP/leave1.pcap"
	load_again c2
	sleep 5
	capture_end leave1
	leave=$(v3_leave "$MB_TMP/leave1.txt")
	[ -n "$leave" ] || mb_fail "c2 sent no IGMPv3 Leave (frames on the daemon's port: $(cat "$MB_TMP/leave1.txt"))"
	set -- $leave
	t_leave=$1 group=$2
	gsq_judge c2 "$MB_TMP/leave1.txt" "$t_leave" "$group" 3 5 0.5
	mb_ctl --json stats >"$MB_TMP/stats.json" || mb_fail "stats"
	q=$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]')
	c=$(json_py "$MB_TMP/stats.json" '{k: v for k, v in j["counters"].items() if "igmp" in k}')
	mb_log "querier: $q; counters: $c"
	[ "$(json_py "$MB_TMP/stats.json" 'j["counters"]["igmp_v3_leave"] >= 2 and j["counters"]["igmp_v3_report"] >= 2 and j["counters"]["igmp_leave"] == 0')" = True ] ||
		mb_fail "counters: $c"
	[ "$(json_py "$MB_TMP/stats.json" 'j["igmp-querier"]["checks-last-member-left"]')" -ge 1 ] ||
		mb_fail "the check did not find c2 the last member: $q"
	[ "$(json_py "$MB_TMP/stats.json" '(j["igmp-querier"]["last-member-count"], j["igmp-querier"]["last-member-interval-ms"])')" = "(3, 500)" ] ||
		mb_fail "stats do not show the last member settings applied: $q"
	mb_pass "IGMPv3 Leave: three group-specific queries for $group 0.5 s apart, c2's port pruned; kept without them (control)"
	;;
*)
	echo "usage: $0 querier | yield | leave | leave-v3 | fallback | mixed | mixed-1g | progress | lost-group" >&2
	exit 2
	;;
esac
