#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Faults during loads (issue 18): minibossd in a namespace on the bridge of
# lib.sh, clients on links of their own through tools/mb-netem (wan.sh), the
# stock Frisbee client, curl over HTTP and FTP at once; every result must be
# byte-identical (SHA-256) to the served image.
#
# One case per run:
#   faults.sh impair   each client's link loses 2%, duplicates 2%, reorders
#                      5% by 2 ms and corrupts 2% of the frames (one byte,
#                      checksums kept: what a switch recomputing the CRC
#                      would pass) in both directions during a Frisbee, an
#                      HTTP and an FTP load.  The daemon counts every
#                      corrupted frame it received as a checksum drop
#                      (drop_udp_cksum for Frisbee, tcp rx_bad_cksum for
#                      HTTP), as many as the links corrupted; and
#                      the Frisbee client, which checks UDP checksums, gets
#                      no corrupted BLOCK (so BLOCKs must carry one).
#   faults.sh kill9    SIGKILL of minibossd during the three loads, then a
#                      restart on the same state: curl resumes (HTTP and FTP,
#                      -C - with retries, a stall of 5 s counts as a
#                      failure) and the Frisbee loader runs the
#                      stock client again (as rc.frisbee would), all
#                      complete identical; the restarted store verifies the
#                      same images and nothing else was published
#   faults.sh flap     the serving port's link loses carrier (mb-netem
#                      --flap-mode carrier, 1.5 s) twice during the loads:
#                      the daemon sees the link go down and up, and all
#                      loads complete identical
#   faults.sh hugepages  288 MiB of images in 256 MiB of EAL memory: the ones
#                      that do not fit are served from an mmap of their file,
#                      health says so (store.mem), all load identical
#   faults.sh stall    four stock Frisbee clients load one 32 MiB image at
#                      once, clean, then again with one SIGSTOPped (a stall)
#                      and one SIGKILLed (it vanishes) once each has 8 MiB:
#                      the other two finish identical within 2x their clean
#                      time + 5 s, and the stalled one, resumed after them,
#                      completes identical too
#   faults.sh tcpstall an HTTP client that stops reading (zero window) while
#                      two curls download 32 MiB: each finishes within 2x
#                      its clean time + 5 s, the stalled connection holds no
#                      more mbufs than an idle daemon plus a few (no send
#                      buffer: segments come from the image), and it is
#                      closed by tcp.idle-timeout (10 s here) within 10-20 s
# Needs root, the stock Frisbee tools (skips 77 without them), curl, and a
# built minibossd and mb-netem (MB_BUILD).
set -u
MB_PREFIX=mbg
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wan.sh"

CASE=${1:-impair}
SRV=10.84.0.1
FRIS="$MB_FRISBEE_BIN/frisbee"
MIB=${MB_TEST_MIB:-8}
IMG=emulab-ops/FAULT.img

mb_require_frisbee
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl python3 ethtool nft

# setup "NETEM OPTIONS" [srv-link]: the bridge, srv (the daemon) and three
# clients c1 (Frisbee), c2 (HTTP), c3 (FTP), each through its own mb-netem
# (srv-link: srv's port through mb-netem as well, clients direct).
setup() {
	local opts=$1 where=${2:-clients} i
	mb_bridge_up
	if [ "$where" = srv-link ]; then
		# shellcheck disable=SC2086
		mb_wan_up w srv:eth0 "noaddr=$SRV" "br:${MB_PREFIX}${MB_RID}s" bridge $opts
	else
		mb_host srv "$SRV/24" noaddr
	fi
	mb_port_deaf srv
	for i in 1 2 3; do
		if [ "$where" = srv-link ]; then
			mb_host "c$i" "10.84.0.$((10 + i))/24"
		else
			# shellcheck disable=SC2086
			mb_wan_up "n$i" "c$i:eth0" "10.84.0.$((10 + i))/24" \
				"br:${MB_PREFIX}${MB_RID}n$i" bridge $opts \
				$(eval "echo \${EXTRA_$i:-}")
		fi
	done
	mb_make_file "$MB_TMP/img" "$MIB" 9
	WANT=$(mb_sha "$MB_TMP/img")
	mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/img" 1 1700000000
	{
		mb_conf_write "$SRV/24"
		printf '\n[tcp]\nhttp-port = 80\nftp-port = 21\nidle-timeout = 60s\n'
		printf '\n[frisbee]\nidle-timeout = 30s\nrate = %s\n' "${FRIS_RATE:-1G}"
	} >"$MB_TMP/mb.conf"
	start
}

start() {
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 40
	mb_wait_tcp c2 "$SRV" 80 20 || mb_fail "HTTP port not reachable"
	mb_wait_tcp c1 "$SRV" 64494 20 || mb_fail "master server port not reachable"
}

# loads [retry]: the three loads in the background (PIDs in L1 L2 L3).
# With retry, each client retries as a loader would across a restart.
loads() {
	local r=${1:-}
	if [ -n "$r" ]; then
		mb_bg c1 timeout 150 sh -c 'for i in 1 2 3 4 5 6 7 8; do
			timeout 40 "$0" -i 10.84.0.11 -S "$1" -T 6 -N -F "$2" "$3" && exit 0
			sleep 2; done; exit 1' "$FRIS" "$SRV" "$IMG" "$MB_TMP/out.fris" 2>"$MB_TMP/c1.err"
	else
		mb_bg c1 timeout 100 "$FRIS" -i 10.84.0.11 -S "$SRV" -T 60 -N -F "$IMG" \
			"$MB_TMP/out.fris" 2>"$MB_TMP/c1.err"
	fi
	L1=$MB_LAST_PID
	mb_bg c2 curl -sS --max-time 150 --limit-rate "${RATE:-4M}" ${r:+--retry 30 --retry-delay 1 --speed-limit 1000 --speed-time 5 \
		--retry-all-errors -C -} -o "$MB_TMP/out.http" "http://$SRV/images/$IMG" \
		2>"$MB_TMP/c2.err"
	L2=$MB_LAST_PID
	mb_bg c3 curl -sS --max-time 150 --limit-rate "${RATE:-4M}" ${r:+--retry 30 --retry-delay 1 --speed-limit 1000 --speed-time 5 \
		--retry-all-errors -C -} -o "$MB_TMP/out.ftp" "ftp://$SRV/$IMG" 2>"$MB_TMP/c3.err"
	L3=$MB_LAST_PID
}

# loads_check: every load exited 0 with the image.
loads_check() {
	local rc
	wait "$L1"; rc=$?
	[ "$rc" = 0 ] || mb_fail "frisbee exited $rc: $(tail -3 "$MB_TMP/c1.err")"
	wait "$L2"; rc=$?
	[ "$rc" = 0 ] || mb_fail "HTTP curl exited $rc: $(tail -3 "$MB_TMP/c2.err")"
	wait "$L3"; rc=$?
	[ "$rc" = 0 ] || mb_fail "FTP curl exited $rc: $(tail -3 "$MB_TMP/c3.err")"
	for f in fris http ftp; do
		[ "$(mb_sha "$MB_TMP/out.$f")" = "$WANT" ] ||
			mb_fail "$f result differs from the image in" \
				"$(cmp -l "$MB_TMP/img" "$MB_TMP/out.$f" | wc -l) bytes, first at" \
				"$(cmp "$MB_TMP/img" "$MB_TMP/out.$f" | sed 's/.*differ: //');" \
				"client: $(tail -n 12 "$MB_TMP/c1.err" | tr '\n' ' ')"
	done
}

case_impair() {
	# l4: the TCP header is eligible too, so bare ACKs toward the server
	# are corrupted as well
	local o="--loss 2% --dup 2% --reorder 5%:2ms --corrupt 2% --corrupt-in l4"
	# The Frisbee client sends few datagrams: corrupt a third of them
	# (payload only: a damaged UDP header would be dropped for its length)
	EXTRA_1="--dir ab --corrupt 30% --corrupt-match udp --corrupt-in payload"
	setup "$o"
	RATE=2M loads
	loads_check
	for i in 1 2 3; do mb_wan_stats "n$i" >"$MB_TMP/n$i.json"; done
	mb_ctl --json stats >"$MB_TMP/stats.json" || mb_fail "stats"
	python3 - "$MB_TMP"/n1.json "$MB_TMP"/n2.json "$MB_TMP"/n3.json "$MB_TMP/stats.json" <<-'EOF' ||
		import json, sys
		n = [json.loads(open(f).read().splitlines()[-1]) for f in sys.argv[1:4]]
		st = json.load(open(sys.argv[4]))
		def find(o, key):
		    if isinstance(o, dict):
		        if key in o and not isinstance(o[key], (dict, list)):
		            return o[key]
		        for v in o.values():
		            r = find(v, key)
		            if r is not None:
		                return r
		    return None
		tot = {"drop_loss": 0, "duplicated": 0, "reordered": 0, "corrupted": 0}
		for i, d in enumerate(n, 1):
		    for k in ("ab", "ba"):
		        c = d[k]
		        drops = sum(v for name, v in c.items() if name.startswith("drop_"))
		        if c["rx_frames"] + c["duplicated"] != c["tx_frames"] + drops + c["held"]:
		            sys.exit(f"n{i} {k}: counters do not add up: {c}")
		        print(f"n{i} {k}: frames {c['rx_frames']} lost {c['drop_loss']} duplicated "
		              f"{c['duplicated']} reordered {c['reordered']} corrupted {c['corrupted']}")
		        for t in tot:
		            tot[t] += c[t]
		if not all(tot.values()):
		    sys.exit(f"an impairment never happened: {tot}")
		if not (n[0]["ab"]["corrupted"] and n[0]["ba"]["corrupted"] and n[1]["ab"]["corrupted"]):
		    sys.exit("no corruption on the Frisbee link or toward the HTTP server")
		udp = find(st, "drop_udp_cksum")
		tcp = find(st, "tcp_rx_bad_cksum")
		# ab is client -> server: every corrupted frame reached the daemon
		print(f"daemon: drop_udp_cksum {udp} (n1 corrupted {n[0]['ab']['corrupted']}), "
		      f"tcp_rx_bad_cksum {tcp} (n2 corrupted {n[1]['ab']['corrupted']}, "
		      f"n3 {n[2]['ab']['corrupted']})")
		if udp != n[0]["ab"]["corrupted"]:
		    sys.exit("the daemon did not drop exactly the corrupted Frisbee datagrams")
		# HTTP segments all go to the userspace TCP (but one with a damaged
		# port number, which goes to the kernel); of FTP, the data does and
		# the control connection does not
		c = n[1]["ab"]["corrupted"]
		if tcp is None or not 0.8 * c <= tcp <= c + n[2]["ab"]["corrupted"]:
		    sys.exit("the daemon's TCP checksum drops do not match the corrupted segments")
	EOF
		mb_fail "counters"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "Frisbee, HTTP, FTP identical through loss, duplication, reordering, corruption"
}

case_kill9() {
	local before after
	# long enough to be cut: 32 MiB at 2 MB/s (HTTP, FTP), 40 Mbit/s (Frisbee)
	MIB=32
	FRIS_RATE=40M
	setup ""
	mb_ctl --json images >"$MB_TMP/img0.json" || mb_fail "images"
	RATE=2M loads retry
	sleep 3
	kill -KILL "$MB_DAEMON_PID"
	wait "$MB_DAEMON_PID" 2>/dev/null
	mb_log "minibossd killed with SIGKILL during the loads"
	for f in http ftp fris; do
		[ -s "$MB_TMP/out.$f" ] || mb_fail "$f load had not started before the kill"
	done
	for f in http ftp; do
		[ "$(stat -c %s "$MB_TMP/out.$f")" -lt $((MIB << 20)) ] || mb_fail "$f done before the kill"
	done
	kill -0 "$L1" 2>/dev/null || mb_fail "the Frisbee load ended before the kill"
	# the TAP of the dead daemon goes with its descriptor
	for _ in $(seq 50); do
		mb_in srv ip link show "${MB_PREFIX}${MB_RID}t" >/dev/null 2>&1 || break
		sleep 0.1
	done
	sleep 2
	start
	loads_check
	mb_ctl --json images >"$MB_TMP/img1.json" || mb_fail "images"
	# the same images, versions and digests, each verified and published
	imgs() {
		python3 -c 'import json, sys
l = json.load(open(sys.argv[1]))
assert l and all(i["state"] == "ok" and i["published"] for i in l), l
print(sorted((i["name"], i["version"], i["sha256"]) for i in l))' "$1" || mb_fail "images: $(cat "$1")"
	}
	before=$(imgs "$MB_TMP/img0.json")
	after=$(imgs "$MB_TMP/img1.json")
	[ "$before" = "$after" ] || mb_fail "images before $before, after $after"
	[ "$(find "$MB_TMP/state" -type f ! -name '*.json' -newer "$MB_TMP/img0.json" | wc -l)" = 0 ] ||
		mb_fail "files appeared in the state: $(find "$MB_TMP/state" -newer "$MB_TMP/img0.json")"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "SIGKILL during Frisbee, HTTP and FTP loads: restarted, all complete identical"
}

case_flap() {
	setup "--flap-mode carrier --flap 1500ms" srv-link
	RATE=1M loads
	sleep 2
	mb_wan_flap w
	# health says so while it lasts (af_packet's PMD reports a fixed link:
	# the daemon reads the interface's carrier)
	for _ in $(seq 10); do
		mb_ctl health >"$MB_TMP/h.txt" 2>&1
		grep -q "link down" "$MB_TMP/h.txt" && break
		sleep 0.1
	done
	grep -q "link down" "$MB_TMP/h.txt" || mb_fail "health during the flap: $(cat "$MB_TMP/h.txt")"
	sleep 3
	mb_wan_flap w
	loads_check
	grep -q "link down" "$MB_DAEMON_LOG" || mb_fail "the daemon did not see the link go down"
	# the second flap may outlast the loads: wait for the link to come back
	for _ in $(seq 50); do
		mb_ctl health 2>&1 | grep -q "link down" || break
		sleep 0.1
	done
	mb_ctl --json stats >"$MB_TMP/stats.json" || mb_fail "stats"
	python3 -c 'import json, sys
n = json.load(open(sys.argv[1]))["counters"]["link_changes"]
sys.exit(0 if n >= 4 else f"link_changes {n}, want 4")' "$MB_TMP/stats.json" || mb_fail "link changes"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "two carrier flaps of the serving port during the loads: all identical"
}

# EAL memory (hugepages, or --no-huge's stand-in) too small for the
# images: the store serves the ones that do not fit from an mmap of their
# file, health says so, and every image loads identical over Frisbee and
# HTTP (and FTP) from either kind of memory.
case_hugepages() {
	local i
	mb_bed_clients 10.84.0
	for i in 1 2 3; do
		mb_make_file "$MB_TMP/img$i" 96 $((20 + i))
		mb_state_add_image "$MB_TMP/state" "emulab-ops/HP$i.img" "$MB_TMP/img$i" 1 \
			$((1700000000 + i))
	done
	{
		mb_conf_write "$SRV/24"
		printf '\n[tcp]\nhttp-port = 80\nftp-port = 21\nidle-timeout = 60s\n'
		printf '\n[frisbee]\nidle-timeout = 30s\n'
	} >"$MB_TMP/mb.conf"
	# 288 MiB of images in 256 MiB of EAL memory that also holds the pools
	mb_daemon_start srv "$MB_TMP/mb.conf" -m 256
	mb_daemon_wait_ready 60
	mb_wait_tcp c2 "$SRV" 80 20 || mb_fail "HTTP port not reachable"
	mb_ctl --json health >"$MB_TMP/h.json" || mb_fail "health"
	python3 - "$MB_TMP/h.json" <<-'EOF' || mb_fail "health: $(cat "$MB_TMP/h.json")"
		import json, sys
		st = json.load(open(sys.argv[1]))["store"]
		print(f"store: mem {st['mem']}, {st['hugepage-bytes'] >> 20} MiB in hugepages, ok {st['ok']}")
		sys.exit(0 if st["mem"] in ("mmap", "mixed") and st["ok"] == 3 else 1)
	EOF
	mb_ctl --json images >"$MB_TMP/imgs.json" || mb_fail "images"
	python3 - "$MB_TMP/imgs.json" <<-'EOF' >&2 || mb_fail "no image served from an mmap"
		import json, sys
		l = json.load(open(sys.argv[1]))
		print("images: " + " ".join(i["name"] + "=" + i["mem"] for i in l))
		sys.exit(0 if any(i["mem"] == "mmap" for i in l) and all(i["state"] == "ok" for i in l) else 1)
	EOF
	for i in 1 2 3; do
		mb_bg c1 timeout 100 "$FRIS" -i 10.84.0.11 -S "$SRV" -T 60 -N -F "emulab-ops/HP$i.img" \
			"$MB_TMP/f$i" 2>"$MB_TMP/c1.$i.err"
		local pf=$MB_LAST_PID
		mb_in c2 curl -sS --max-time 100 -o "$MB_TMP/h$i" "http://$SRV/images/emulab-ops/HP$i.img" ||
			mb_fail "HTTP HP$i"
		mb_in c3 curl -sS --max-time 100 -o "$MB_TMP/t$i" "ftp://$SRV/emulab-ops/HP$i.img" ||
			mb_fail "FTP HP$i"
		wait "$pf" || mb_fail "frisbee HP$i: $(tail -3 "$MB_TMP/c1.$i.err")"
		for f in f h t; do
			[ "$(mb_sha "$MB_TMP/$f$i")" = "$(mb_sha "$MB_TMP/img$i")" ] ||
				mb_fail "HP$i ($f) differs"
			rm -f "$MB_TMP/$f$i"
		done
	done
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "images past the EAL memory served from mmap, health says so, all identical"
}

# now: seconds since the epoch, with fractions
now() { date +%s.%N; }

# conf_simple RATE: the config of the stall cases (no netem), daemon started.
conf_simple() {
	{
		mb_conf_write "$SRV/24"
		printf '\n[tcp]\nhttp-port = 80\nftp-port = 21\nidle-timeout = 10s\n'
		printf '\n[frisbee]\nidle-timeout = 60s\nrate = %s\n' "$1"
	} >"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 40
	mb_wait_tcp c1 "$SRV" 80 20 || mb_fail "HTTP port not reachable"
	mb_wait_tcp c1 "$SRV" 64494 20 || mb_fail "master server port not reachable"
}

# fris_start I TAG: the stock client on cI in the background (its PID, the
# frisbee process itself, in FP[I]; its start time in FT0[I]).
fris_start() {
	local i=$1 tag=$2
	mb_bg "c$i" "$FRIS" -i "10.84.0.$((10 + i))" -S "$SRV" -T 60 -N -F "$IMG" \
		"$MB_TMP/f$i.$tag" 2>"$MB_TMP/c$i.$tag.err"
	FP[$i]=$MB_LAST_PID
	FT0[$i]=$(now)
}

# fris_wait I TAG SECONDS: client I exits 0 with the image within SECONDS
# of its start; its seconds in FT[I].
fris_wait() {
	local i=$1 tag=$2 lim=$3 rc
	while kill -0 "${FP[$i]}" 2>/dev/null; do
		python3 -c "import sys; sys.exit($(now) - ${FT0[$i]} > $lim + 30)" ||
			mb_fail "$tag: client $i still running after $lim + 30 s"
		sleep 0.1
	done
	FT[$i]=$(python3 -c "print(round($(now) - ${FT0[$i]}, 2))")
	wait "${FP[$i]}"; rc=$?
	[ "$rc" = 0 ] || mb_fail "$tag: frisbee $i exited $rc: $(tail -3 "$MB_TMP/c$i.$tag.err")"
	[ "$(mb_sha "$MB_TMP/f$i.$tag")" = "$WANT" ] || mb_fail "$tag: client $i result differs"
	rm -f "$MB_TMP/f$i.$tag"
}

# wait_size FILE BYTES: until FILE has BYTES (30 s at most).
wait_size() {
	for _ in $(seq 300); do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	mb_fail "$1 never reached $2 bytes"
}

# within T CLEAN: T <= 2 * CLEAN + 5 (the stated fraction of the stall cases)
within() { python3 -c "import sys; sys.exit(0 if $1 <= 2 * $2 + 5 else 1)"; }

case_stall() {
	local i
	declare -A FP FT0 FT CLEAN
	mb_bed_clients 10.84.0 4
	MIB=32
	mb_make_file "$MB_TMP/img" "$MIB" 9
	WANT=$(mb_sha "$MB_TMP/img")
	mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/img" 1 1700000000
	# 32 MiB at 100 Mbit/s: about 3 s, long enough to stop a client mid-way
	conf_simple 100M
	for i in 1 2 3 4; do fris_start "$i" clean; done
	for i in 1 2 3 4; do fris_wait "$i" clean 120; CLEAN[$i]=${FT[$i]}; done
	mb_log "clean: ${CLEAN[1]} ${CLEAN[2]} ${CLEAN[3]} ${CLEAN[4]} s"
	sleep 2
	for i in 1 2 3 4; do fris_start "$i" fault; done
	wait_size "$MB_TMP/f3.fault" $((8 << 20))
	kill -STOP "${FP[3]}" || mb_fail "SIGSTOP"
	mb_log "client 3 stopped at $(stat -c %s "$MB_TMP/f3.fault") bytes"
	wait_size "$MB_TMP/f4.fault" $((8 << 20))
	kill -KILL "${FP[4]}" || mb_fail "SIGKILL"
	mb_log "client 4 killed at $(stat -c %s "$MB_TMP/f4.fault") bytes"
	for i in 1 2; do
		fris_wait "$i" fault "$(python3 -c "print(2 * ${CLEAN[$i]} + 5)")"
		within "${FT[$i]}" "${CLEAN[$i]}" ||
			mb_fail "client $i took ${FT[$i]} s, clean ${CLEAN[$i]} s (limit 2x + 5 s)"
		echo "STALL client $i: ${FT[$i]} s with a stalled and a vanished peer, clean ${CLEAN[$i]} s" >&2
	done
	wait "${FP[4]}" 2>/dev/null
	# the stalled client resumes after the others are done, and completes
	sleep 2
	kill -CONT "${FP[3]}" || mb_fail "SIGCONT"
	mb_log "client 3 resumed"
	fris_wait 3 fault 120
	kill -0 "$MB_DAEMON_PID" 2>/dev/null || mb_fail "the daemon died"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "Frisbee: a stalled and a vanished client cost the others at most 2x + 5 s; the stalled one completes"
}

# dpstat EXPR: a python expression over `minibossctl --json stats` (as j)
dpstat() { mb_ctl --json stats | mb_json_eval "$1"; }

case_tcpstall() {
	local i t0 t_idle n0 m0 m1 ph1 ph2
	declare -A CLEAN
	mb_bed_clients 10.84.0 3
	MIB=32
	mb_make_file "$MB_TMP/img" "$MIB" 9
	WANT=$(mb_sha "$MB_TMP/img")
	mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/img" 1 1700000000
	conf_simple 1G
	# curls CLIENTS TAG: HTTP downloads at once, their seconds in T_<i>
	curls() {
		local tag=$1 c pids=()
		shift
		for c in "$@"; do
			mb_bg "c$c" sh -c 't0=$(date +%s.%N); curl -sS --max-time 120 -o "$0" "$1" || exit 1
				awk -v a="$(date +%s.%N)" -v b="$t0" "BEGIN { print a - b }" >"$2"' \
				"$MB_TMP/h$c.$tag" "http://$SRV/images/$IMG" "$MB_TMP/t$c.$tag"
			pids+=("$MB_LAST_PID")
		done
		for c in "${pids[@]}"; do wait "$c" || mb_fail "$tag: curl failed"; done
		for c in "$@"; do
			[ "$(mb_sha "$MB_TMP/h$c.$tag")" = "$WANT" ] || mb_fail "$tag: HTTP $c differs"
			rm -f "$MB_TMP/h$c.$tag"
		done
	}
	curls clean 1 2
	for i in 1 2; do CLEAN[$i]=$(cat "$MB_TMP/t$i.clean"); done
	sleep 1
	m0=$(dpstat "j['mbufs']['in-use'] + j['mbufs']['zc-in-use']")
	n0=$(dpstat "j['tcp']['tcp_conn_idle']")
	# the stalled receiver: a 4 KiB receive buffer, reads 64 KiB, then
	# nothing; after 30 s it reads what is left and reports how it ended
	cat >"$MB_TMP/stall.py" <<-'EOF'
		import json, socket, sys, time
		srv, img, out = sys.argv[1:4]
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		s.connect((srv, 80))
		s.sendall(f"GET /images/{img} HTTP/1.1\r\nHost: {srv}\r\n\r\n".encode())
		got = 0
		while got < 65536:
		    b = s.recv(65536)
		    if not b:
		        break
		    got += len(b)
		t0 = time.time()
		time.sleep(30)
		end = "eof"
		s.settimeout(5)
		try:
		    while True:
		        b = s.recv(65536)
		        if not b:
		            break
		        got += len(b)
		except ConnectionResetError:
		    end = "reset"
		except socket.timeout:
		    end = "open"
		json.dump({"bytes": got, "end": end}, open(out, "w"))
	EOF
	mb_bg c3 python3 "$MB_TMP/stall.py" "$SRV" "$IMG" "$MB_TMP/stall.json"
	ph1=$MB_LAST_PID
	t0=$(now)
	for _ in $(seq 50); do
		[ "$(dpstat "j['tcp']['tcp_conns']")" -ge 1 ] && break
		sleep 0.1
	done
	sleep 2
	# what the stalled connection holds: its state, no send buffer
	[ "$(dpstat "j['tcp']['tcp_conns']")" = 1 ] || mb_fail "no stalled connection"
	m1=$(dpstat "j['mbufs']['in-use'] + j['mbufs']['zc-in-use']")
	echo "TCPSTALL mbufs in use: idle $m0, with the stalled connection $m1" >&2
	[ "$m1" -le $((m0 + 8)) ] || mb_fail "the stalled connection holds $((m1 - m0)) mbufs"
	# when the idle timeout closes it, seen from here while the others load
	(
		for _ in $(seq 600); do
			if [ "$(dpstat "j['tcp']['tcp_conn_idle']")" -gt "$n0" ]; then
				now >"$MB_TMP/idle.t"
				exit 0
			fi
			sleep 0.1
		done
	) &
	ph2=$!
	MB_PIDS+=("$ph2")
	# the others download while it stalls
	curls stall 1 2
	for i in 1 2; do
		within "$(cat "$MB_TMP/t$i.stall")" "${CLEAN[$i]}" ||
			mb_fail "HTTP $i took $(cat "$MB_TMP/t$i.stall") s with a stalled receiver, clean ${CLEAN[$i]} s"
		echo "TCPSTALL curl $i: $(cat "$MB_TMP/t$i.stall") s with a stalled receiver, clean ${CLEAN[$i]} s" >&2
	done
	# closed by the idle timeout (10 s without progress)
	wait "$ph2"
	[ -s "$MB_TMP/idle.t" ] || mb_fail "the stalled connection was never timed out"
	t_idle=$(python3 -c "print(round($(cat "$MB_TMP/idle.t") - $t0, 1))")
	echo "TCPSTALL stalled connection closed by the idle timeout after $t_idle s" >&2
	python3 -c "import sys; sys.exit(0 if 8 <= $t_idle <= 20 else 1)" ||
		mb_fail "closed after $t_idle s, tcp.idle-timeout is 10 s"
	[ "$(dpstat "j['tcp']['tcp_conns']")" = 0 ] || mb_fail "connection still counted"
	wait "$ph1" || mb_fail "the stalled client failed"
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r, file=sys.stderr)
sys.exit(0 if r["end"] != "open" and r["bytes"] < 32 << 20 else 1)' "$MB_TMP/stall.json" ||
		mb_fail "stalled client: $(cat "$MB_TMP/stall.json")"
	mb_daemon_stop || mb_fail "exit status"
	mb_pass "HTTP: a zero-window receiver costs the others at most 2x + 5 s, holds no buffer, is timed out"
}

case "$CASE" in
hugepages) case_hugepages ;;
stall) case_stall ;;
tcpstall) case_tcpstall ;;
impair) case_impair ;;
kill9) case_kill9 ;;
flap) case_flap ;;
*) mb_fail "unknown case '$CASE'" ;;
esac
