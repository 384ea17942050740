#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tools/mb-netem end to end: two hosts (network namespaces) joined through
# the forwarder by tests/system/wan.sh, real nginx, curl and UDP/TCP probes
# (tests/system/netem_probe.py) on either side.  Each impairment must show
# both at the receiver and in mb-netem's counters, and the counters must add
# up (rx + duplicated = tx + drops + held) in every case.
#
#   netem.sh pass         no impairment: 64 MiB over HTTP byte-identical, no
#                         drop, partial checksums completed; the rate is
#                         reported (and must beat a very low floor); VLAN
#                         tags the kernel passes beside the frame are restored
#   netem.sh rate         100 Mbit/s with a 64 KiB queue: a download never beats
#                         the rate, comes near it, and overflows the queue
#   netem.sh delay        30 ms one way, 10 ms +-1 ms back: UDP round trips
#                         and TCP connects never under 39 ms; jitter never
#                         reorders
#   netem.sh loss         10% random loss: received count within tolerance and
#                         equal to the counter; Gilbert-Elliott bursts: losses
#                         come in runs, one per burst counted
#   netem.sh dup-reorder  a node's link into the bridge through mb-netem, with
#                         5% duplication and 10% held back 4 ms: duplicates and
#                         late arrivals at the receiver match the counters; a
#                         TCP download through it is byte-identical
#   netem.sh corrupt      1% of the HTTP payload frames corrupted, checksums
#                         kept: TCP drops them (InCsumErrors), the download is
#                         identical; then one frame corrupted with checksums
#                         fixed: the download differs in exactly one byte, and
#                         under TLS the transfer fails in TLS
#   netem.sh flap         400 ms down every second: gaps at the receiver; then
#                         a carrier flap on SIGUSR1 that the host sees as
#                         NO-CARRIER, under a TCP download that completes
#   netem.sh daemon       minibossd's DPDK port (net_af_packet) behind mb-netem
#                         with loss, duplication and reordering: an HTTP
#                         download through it is identical
#   netem.sh wan          HTTPS download from nginx over 40 ms RTT with 1% loss
#                         each way (MB_WAN_MIB MiB, default 4; the benchmark
#                         size is 256; MB_WAN_CC=cubic|bbr|reno sets the
#                         sender's congestion control): completes, identical,
#                         rate reported
#   netem.sh capacity     (by hand, not in the suite) the forwarder's rate at
#                         20 ms each way: UDP frames per second, one TCP stream
# Needs root, nginx, curl, openssl, ethtool and a built mb-netem (MB_BUILD).
set -u
MB_PREFIX=mbw
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wan.sh"

CASE=${1:-pass}
A=10.79.0.1
B=10.79.0.2
PROBE=(python3 "$MB_SRC/tests/system/netem_probe.py")

[ -x "$MB_NETEM" ] || mb_skip "mb-netem not built at '$MB_NETEM'"
mb_init
mb_require_cmd curl nginx openssl ethtool cmp

# ngx_up HOST ADDR: nginx serving $MB_TMP/www on ADDR over HTTP (80) and
# HTTPS (443, a self-signed certificate for ADDR in $MB_TMP/ngx/cert.pem).
ngx_up() {
	local host=$1 addr=$2 d=$MB_TMP/ngx
	mkdir -p "$d/tmp" "$MB_TMP/www"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$addr" -addext "subjectAltName=IP:$addr" \
		-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null || mb_fail "openssl"
	cat >"$d/nginx.conf" <<-EOF
		daemon off;
		master_process off;
		worker_processes 1;
		error_log $d/error.log;
		pid $d/nginx.pid;
		events { worker_connections 64; }
		http {
			client_body_temp_path $d/tmp/body;
			proxy_temp_path $d/tmp/proxy;
			fastcgi_temp_path $d/tmp/fcgi;
			uwsgi_temp_path $d/tmp/uwsgi;
			scgi_temp_path $d/tmp/scgi;
			access_log off;
			sendfile on;
			default_type application/octet-stream;
			server {
				listen $addr:80;
				listen $addr:443 ssl;
				ssl_certificate $d/cert.pem;
				ssl_certificate_key $d/key.pem;
				root $MB_TMP/www;
			}
		}
	EOF
	mb_bg "$host" nginx -c "$d/nginx.conf" -p "$d"
	mb_wait_tcp "$host" "$addr" 80 10 || { cat "$d/error.log" >&2; mb_fail "nginx did not start"; }
}

# www_file NAME MIB: random content served by nginx; sets WANT to its SHA-256.
www_file() {
	mkdir -p "$MB_TMP/www"
	head -c $(($2 << 20)) /dev/urandom >"$MB_TMP/www/$1" || mb_fail "cannot write $1"
	WANT=$(mb_sha "$MB_TMP/www/$1")
}

# fetch HOST URL OUT [curl options]: download; sets SPEED (bytes/s) and SECS.
fetch() {
	local host=$1 url=$2 out=$3 w
	shift 3
	w=$(mb_in "$host" curl -sS --max-time "${FETCH_MAX:-120}" "$@" -o "$out" \
		-w '%{speed_download} %{time_total}' "$url") || mb_fail "curl '$url'"
	SPEED=${w%% *}
	SPEED=${SPEED%%.*}
	SECS=${w#* }
}

# stats NAME FILE: the forwarder's counters now, into FILE.
stats() { mb_wan_stats "$1" >"$2"; }

# expect FILE EXPR...: the counters in FILE add up in both directions, and
# each python EXPR (over ab, ba: the counters of each direction, and d, the
# whole line) holds.
expect() {
	local f=$1
	shift
	python3 - "$f" "$@" <<-'EOF' || mb_fail "counters: see above"
		import json, sys
		d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
		for k in ("ab", "ba"):
		    c = d[k]
		    drops = sum(v for n, v in c.items() if n.startswith("drop_"))
		    if c["rx_frames"] + c["duplicated"] != c["tx_frames"] + drops + c["held"]:
		        sys.exit(f"{k}: rx + duplicated != tx + drops + held: {c}")
		ab, ba = d["ab"], d["ba"]
		for e in sys.argv[2:]:
		    if not eval(e):
		        sys.exit(f"expected {e}\n  ab={ab}\n  ba={ba}")
	EOF
}

# jq_py FILE EXPR: a python expression over the JSON object j in FILE.
jq_py() {
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"
}

# check FILE EXPR WHAT: fail with WHAT unless the expression over j is true.
check() {
	[ "$(jq_py "$1" "$2")" = True ] || mb_fail "$3: $(cat "$1")"
}

# udp_run TXHOST RXHOST RXADDR COUNT PPS OUT [recv options]: a numbered UDP
# stream; the receiver's result in OUT.
udp_run() {
	local tx=$1 rx=$2 addr=$3 n=$4 pps=$5 out=$6 rpid
	shift 6
	mb_in "$rx" "${PROBE[@]}" recv --bind "$addr" --port 7001 --count "$n" "$@" \
		>"$out" 2>"$out.err" &
	rpid=$!
	MB_PIDS+=("$rpid")
	for _ in $(seq 50); do grep -q ready "$out.err" 2>/dev/null && break; sleep 0.05; done
	mb_in "$tx" "${PROBE[@]}" send --to "$addr" --port 7001 --count "$n" --pps "$pps" \
		>"$out.tx" || mb_fail "udp send"
	wait "$rpid" || mb_fail "udp recv: $(cat "$out.err")"
	mb_log "udp $tx -> $rx: $(cat "$out.tx") $(cut -c1-300 "$out")"
}

# static_neigh IF HOST1 ADDR1 HOST2 ADDR2: permanent ARP entries between two
# hosts on interface IF, so that neighbour resolution, whose retries are one
# second apart like the flaps below, never falls into the outages (a host
# whose ARP probes are all lost queues up to 256 datagrams and blocks the
# sender: true, but not what these tests are about).
static_neigh() {
	local ifn=$1 m1 m2
	m1=$(mb_in "$2" cat "/sys/class/net/$ifn/address")
	m2=$(mb_in "$4" cat "/sys/class/net/$ifn/address")
	mb_in "$2" ip neigh replace "$5" lladdr "$m2" nud permanent dev "$ifn" ||
		mb_fail "neighbour entry on $2"
	mb_in "$4" ip neigh replace "$3" lladdr "$m1" nud permanent dev "$ifn" ||
		mb_fail "neighbour entry on $4"
}

# tcp_csum_errors HOST: TCP segments the host dropped for a bad checksum.
tcp_csum_errors() {
	mb_in "$1" python3 -c '
rows = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
print(rows[1][rows[0].index("InCsumErrors")])'
}

case_pass() {
	local vpid
	mb_wan_up w h1 "$A/24" h2 "$B/24"
	www_file f 64
	ngx_up h2 "$B"
	fetch h1 "http://$B/f" "$MB_TMP/dl"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "download differs"
	mb_log "64 MiB through mb-netem: $((SPEED * 8 / 1000000)) Mbit/s in ${SECS}s"
	stats w "$MB_TMP/s.json"
	expect "$MB_TMP/s.json" \
		'all(v == 0 for n, v in list(ab.items()) + list(ba.items()) if n.startswith("drop_"))' \
		'ba["tx_bytes"] > 64 << 20' 'ba["csum_completed"] > 0' 'ab["tx_frames"] > 0' \
		'ab["duplicated"] + ab["reordered"] + ab["corrupted"] == 0'
	# A very low floor: it catches a forwarder that sleeps per frame, not
	# a slow machine (measured here: 0.4-2 Gbit/s under load).
	[ "$SPEED" -gt $((40000000 / 8)) ] || mb_fail "only $((SPEED * 8)) bit/s through mb-netem"
	# VLAN-tagged frames: the receiving kernel takes the tag out of the
	# frame and hands it over beside it; mb-netem must put it back.  (No
	# 8021q module here, so raw frames stand in for VLAN interfaces.)
	mb_in h2 "${PROBE[@]}" vlan-recv --ifname w --count 5 >"$MB_TMP/v.json" \
		2>"$MB_TMP/v.err" &
	vpid=$!
	MB_PIDS+=("$vpid")
	for _ in $(seq 50); do grep -q ready "$MB_TMP/v.err" 2>/dev/null && break; sleep 0.05; done
	mb_in h1 "${PROBE[@]}" vlan-send --ifname w --vid 42 --count 5 \
		--dst "$(mb_in h2 cat /sys/class/net/w/address)" >/dev/null || mb_fail "vlan-send"
	wait "$vpid" || mb_fail "vlan-recv"
	check "$MB_TMP/v.json" 'j["received"] == 5 and j["vids"] == [42] * 5' "VLAN tags lost"
	stats w "$MB_TMP/s2.json"
	expect "$MB_TMP/s2.json" 'ab["vlan_restored"] == 5'
	mb_wan_down w || mb_fail "mb-netem exit status $?"
	expect "$(mb_wan_json w)" 'd["event"] == "exit"' 'ab["held"] == ba["held"] == 0'
	"$MB_NETEM" -a x -b y --loss 200% 2>/dev/null
	[ $? = 2 ] || mb_fail "a bad option must exit 2"
	mb_pass "64 MiB identical, $((SPEED * 8 / 1000000)) Mbit/s"
}

case_rate() {
	local mbit
	# A 100 Mbit/s link toward h1 with a 64 KiB queue: a TCP download can
	# never beat the rate (the shaper is exact, and frames carry headers),
	# and its slow start overflows the queue (tail drops, counted).
	mb_wan_up w h1 "$A/24" h2 "$B/24" --dir ba --rate 100M --queue 64k
	www_file f 16
	ngx_up h2 "$B"
	fetch h1 "http://$B/f" "$MB_TMP/dl"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "download through the rate limit differs"
	mbit=$((SPEED * 8 / 1000000))
	mb_log "16 MiB through 100 Mbit/s: $mbit Mbit/s"
	[ "$SPEED" -le $((100000000 / 8)) ] || mb_fail "$mbit Mbit/s through a 100 Mbit/s link"
	[ "$SPEED" -ge $((30000000 / 8)) ] || mb_fail "only $mbit Mbit/s through a 100 Mbit/s link"
	stats w "$MB_TMP/s.json"
	expect "$MB_TMP/s.json" 'ba["drop_queue"] > 0' 'ab["drop_queue"] == 0' \
		'ba["drop_loss"] == ba["drop_limit"] == 0'
	mb_pass "$mbit Mbit/s through --rate 100M, $(jq_py "$MB_TMP/s.json" 'j["ba"]["drop_queue"]') tail drops"
}

case_delay() {
	mb_wan_up w h1 "$A/24" h2 "$B/24" --dir ab --delay 30ms --dir ba --delay 10ms --jitter 1ms
	mb_bg h2 "${PROBE[@]}" echo --bind "$B" --port 7000 2>/dev/null
	mb_wait_tcp h1 "$B" 7000 10 || mb_fail "echo server not reachable"
	mb_in h1 "${PROBE[@]}" rtt --to "$B" --port 7000 --count 30 --interval 0.01 \
		>"$MB_TMP/rtt.json" || mb_fail "rtt probe"
	mb_log "rtt: $(jq_py "$MB_TMP/rtt.json" '{k: j[k] for k in ("lost", "min_ms", "median_ms", "max_ms")}')"
	check "$MB_TMP/rtt.json" 'j["lost"] == 0 and j["min_ms"] >= 39.0' "round trip under 39 ms"
	check "$MB_TMP/rtt.json" 'j["median_ms"] < 90' "round trips far too long"
	mb_in h1 "${PROBE[@]}" connect --to "$B" --port 7000 --count 5 >"$MB_TMP/conn.json" ||
		mb_fail "connect probe"
	mb_log "tcp connect: $(cat "$MB_TMP/conn.json")"
	check "$MB_TMP/conn.json" 'j["min_ms"] >= 39.0' "TCP connect under 39 ms"
	# Jitter keeps the order: 1000 datagrams 0.5 ms apart, none late.
	udp_run h2 h1 "$A" 1000 2000 "$MB_TMP/j.json"
	check "$MB_TMP/j.json" 'j["unique"] == 1000 and j["late"] == 0 and j["dups"] == 0' \
		"jitter reordered or lost datagrams"
	stats w "$MB_TMP/s.json"
	expect "$MB_TMP/s.json" 'ab["drop_loss"] == ba["drop_loss"] == 0' 'ba["rx_frames"] >= 1030'
	mb_pass "rtt $(jq_py "$MB_TMP/rtt.json" 'j["median_ms"]') ms (30 + 10 configured)"
}

case_loss() {
	mb_wan_up w h1 "$A/24" h2 "$B/24" --dir ab --loss 10% --dir ba --loss-burst 1%:25%
	# Random loss: 4000 datagrams, 10% lost: 400 +- 19 (one sd), so +-100.
	udp_run h1 h2 "$B" 4000 4000 "$MB_TMP/l.json"
	check "$MB_TMP/l.json" '3500 <= j["unique"] <= 3700' "random loss off its 10%"
	stats w "$MB_TMP/s1.json"
	miss=$(jq_py "$MB_TMP/l.json" 'j["missing"]')
	# ARP, IPv6 and the stream's end markers may be lost too.
	expect "$MB_TMP/s1.json" "$miss <= ab['drop_loss'] <= $miss + 10" 'ab["ge_bursts"] == 0'
	# Bursts: enter the bad state with 1%, leave with 25% (mean burst 4
	# frames, 100% lost in it): 10000 datagrams lose about 1/26 of them,
	# in runs of about 4 -- random loss at that rate gives runs of 1.04.
	udp_run h2 h1 "$A" 10000 10000 "$MB_TMP/g.json"
	check "$MB_TMP/g.json" '150 <= j["missing"] <= 700' "burst loss off its 3.8%"
	check "$MB_TMP/g.json" 'j["missing"] / len(j["missing_runs"]) >= 2.5' "losses not in bursts"
	stats w "$MB_TMP/s2.json"
	runs=$(jq_py "$MB_TMP/g.json" 'len(j["missing_runs"])')
	expect "$MB_TMP/s2.json" "abs(ba['ge_bursts'] - $runs) <= 5" \
		"ba['drop_loss'] >= $(jq_py "$MB_TMP/g.json" 'j["missing"]')"
	mb_pass "random $miss/4000 lost; bursts: $(jq_py "$MB_TMP/g.json" 'j["missing"]') lost in $runs runs"
}

case_dup_reorder() {
	local port
	mb_bridge_up
	mb_host h1 "$A/24"
	port="${MB_PREFIX}${MB_RID}w"
	# h2's link into the bridge goes through mb-netem: "ba" is toward h2.
	mb_wan_up w h2:eth0 "$B/24" "br:$port" bridge --dir ba --dup 5% --reorder 10%:4ms
	udp_run h1 h2 "$B" 3000 2000 "$MB_TMP/r.json"
	stats w "$MB_TMP/s.json"
	dups=$(jq_py "$MB_TMP/r.json" 'j["dups"]')
	late=$(jq_py "$MB_TMP/r.json" 'j["late"]')
	check "$MB_TMP/r.json" 'j["unique"] == 3000' "datagrams lost"
	# 5% of 3000 duplicated: 150 +- 12; the counter also sees ARP frames.
	check "$MB_TMP/r.json" '80 <= j["dups"] <= 230' "duplication off its 5%"
	# Every frame held back arrives after later ones, except held-back
	# copies (counted as dups) and the last few of the stream.
	expect "$MB_TMP/s.json" "$dups <= ba['duplicated'] <= $dups + 5" \
		"0.8 * ba['reordered'] - 10 <= $late <= ba['reordered']" \
		'ab["duplicated"] == ab["reordered"] == 0' '200 <= ba["reordered"] <= 450'
	# TCP through the same: the download must still be identical.
	www_file f 16
	ngx_up h1 "$A"
	fetch h2 "http://$A/f" "$MB_TMP/dl"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "download through dup/reorder differs"
	stats w "$MB_TMP/s2.json"
	expect "$MB_TMP/s2.json" 'ba["reordered"] > 1000' 'ba["duplicated"] > 500'
	mb_pass "$dups duplicates and $late late of 3000; 16 MiB over TCP identical"
}

case_corrupt() {
	local e0 e1 n
	mb_wan_up w h1 "$A/24" h2 "$B/24" --dir ba --corrupt 1% --corrupt-match tcp:80
	www_file f 16
	ngx_up h2 "$B"
	e0=$(tcp_csum_errors h1)
	fetch h1 "http://$B/f" "$MB_TMP/dl"
	e1=$(tcp_csum_errors h1)
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "TCP let a corrupted segment through"
	stats w "$MB_TMP/s.json"
	# Every corrupted frame fails the receiver's TCP checksum.
	expect "$MB_TMP/s.json" 'ba["corrupted"] >= 40' 'ab["corrupted"] == 0' \
		"ba['corrupted'] <= $((e1 - e0)) <= ba['corrupted'] + 2"
	n=$(jq_py "$MB_TMP/s.json" 'j["ba"]["corrupted"]')
	mb_wan_down w || mb_fail "mb-netem exit status $?"
	# One payload byte of the 3001st data frame, checksums fixed: TCP
	# takes it, only the SHA-256 of the file can tell.
	mb_wan_up w2 h1 "$A/24" h2 "$B/24" --dir ba --corrupt 100% --corrupt-match tcp:80 \
		--corrupt-skip 3000 --corrupt-max 1 --corrupt-csum fix
	e0=$(tcp_csum_errors h1)
	fetch h1 "http://$B/f" "$MB_TMP/dl2"
	e1=$(tcp_csum_errors h1)
	stats w2 "$MB_TMP/s2.json"
	expect "$MB_TMP/s2.json" 'ba["corrupted"] == 1'
	[ "$(mb_sha "$MB_TMP/dl2")" != "$WANT" ] || mb_fail "payload corruption with fixed checksums not seen"
	[ "$(cmp -l "$MB_TMP/dl2" "$MB_TMP/www/f" | wc -l)" = 1 ] ||
		mb_fail "expected exactly one byte changed: $(cmp -l "$MB_TMP/dl2" "$MB_TMP/www/f" | head)"
	[ "$e1" = "$e0" ] || mb_fail "fixed checksums still failed at TCP ($e0 -> $e1)"
	mb_wan_down w2 || mb_fail "mb-netem exit status $?"
	# The same single flip under TLS (a chunk corrupted on the way from
	# ops): TCP takes it, the TLS record's authentication does not, and
	# the transfer fails instead of delivering a wrong byte.
	mb_wan_up w3 h1 "$A/24" h2 "$B/24" --dir ba --corrupt 100% --corrupt-match tcp:443 \
		--corrupt-skip 3000 --corrupt-max 1 --corrupt-csum fix
	if mb_in h1 curl -sS --max-time 60 --cacert "$MB_TMP/ngx/cert.pem" -o "$MB_TMP/dl3" \
		"https://$B/f" 2>"$MB_TMP/curl3.err"; then
		mb_fail "TLS delivered a corrupted record"
	fi
	mb_log "curl over TLS: $(cat "$MB_TMP/curl3.err")"
	grep -qi 'ssl\|tls' "$MB_TMP/curl3.err" || mb_fail "curl failed, but not in TLS"
	stats w3 "$MB_TMP/s3.json"
	expect "$MB_TMP/s3.json" 'ba["corrupted"] == 1'
	mb_pass "$n corrupted frames caught by TCP's checksum; one with fixed checksums seen by SHA-256 only, and one under TLS refused by TLS"
}

case_flap() {
	local seen_down=0 seen_up=0 c cpid
	mb_wan_up w h1 "$A/24" h2 "$B/24" --flap 400ms/1s
	static_neigh w h1 "$A" h2 "$B"
	# 4 s of datagrams 1 ms apart meet three or four down periods.  A run
	# of missing datagrams lies between one that passed before the link
	# went down and one that passed after it came up: the receiver's
	# kernel timestamps of those two are at least the 400 ms apart, however
	# the sender was paced (a starved sender catches up in bursts).
	udp_run h1 h2 "$B" 4000 1000 "$MB_TMP/f.json"
	stats w "$MB_TMP/s.json"
	check "$MB_TMP/f.json" 'len(j["run_gaps_ms"]) >= 1' "no outage seen"
	check "$MB_TMP/f.json" 'all(g >= 380 for g in j["run_gaps_ms"])' "outage shorter than 400 ms"
	miss=$(jq_py "$MB_TMP/f.json" 'j["missing"]')
	# Beside the stream: its ten end markers, IPv6 router solicitations.
	expect "$MB_TMP/s.json" 'd["flaps"] >= 3' "$miss <= ab['drop_flap'] <= $miss + 20" \
		'ab["drop_loss"] == 0'
	mb_wan_down w || mb_fail "mb-netem exit status $?"
	# Carrier mode on SIGUSR1, under a TCP download that must survive it.
	mb_wan_up w2 h1 "$A/24" h2 "$B/24" --flap 1s --flap-mode carrier
	www_file f 8
	ngx_up h2 "$B"
	mb_in h1 curl -sS --max-time 60 --limit-rate 4M -o "$MB_TMP/dl" "http://$B/f" &
	cpid=$!
	MB_PIDS+=("$cpid")
	sleep 0.5
	mb_wan_flap w2
	for _ in $(seq 40); do
		c=$(mb_in h1 cat /sys/class/net/w2/carrier 2>/dev/null || echo 0)
		[ "$c" = 0 ] && seen_down=1
		[ "$seen_down" = 1 ] && [ "$c" = 1 ] && { seen_up=1; break; }
		sleep 0.1
	done
	[ "$seen_down" = 1 ] || mb_fail "host never saw the carrier go"
	[ "$seen_up" = 1 ] || mb_fail "carrier did not come back"
	wait "$cpid" || mb_fail "download across the flap failed"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "download across the flap differs"
	stats w2 "$MB_TMP/s2.json"
	expect "$MB_TMP/s2.json" 'd["flaps"] == 1' 'not d["down"]'
	mb_pass "$miss datagrams lost in scheduled flaps; carrier flap survived by TCP"
}

case_wan() {
	local mib=${MB_WAN_MIB:-4} cc
	mb_wan_up w h1 "$A/24" h2 "$B/24" --delay 20ms --loss 1%
	# The sender's congestion control decides the rate at 1% loss (BBR
	# ignores it, CUBIC halves its window): MB_WAN_CC picks it, and the
	# report names it.
	if [ -n "${MB_WAN_CC:-}" ]; then
		mb_in h2 sysctl -qw net.ipv4.tcp_congestion_control="$MB_WAN_CC" ||
			mb_fail "congestion control '$MB_WAN_CC' not available"
	fi
	cc=$(mb_in h2 sysctl -n net.ipv4.tcp_congestion_control)
	www_file f "$mib"
	ngx_up h2 "$B"
	mb_bg h2 "${PROBE[@]}" echo --bind "$B" --port 7000 2>/dev/null
	mb_wait_tcp h1 "$B" 7000 10 || mb_fail "echo server not reachable"
	mb_in h1 "${PROBE[@]}" rtt --to "$B" --port 7000 --count 20 >"$MB_TMP/rtt.json"
	FETCH_MAX=$((120 + mib * 10)) fetch h1 "https://$B/f" "$MB_TMP/dl" \
		--cacert "$MB_TMP/ngx/cert.pem"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "HTTPS download over the WAN differs"
	stats w "$MB_TMP/s.json"
	expect "$MB_TMP/s.json" 'ab["drop_loss"] > 0 and ba["drop_loss"] > 0'
	mb_log "WAN: $mib MiB over HTTPS ($cc), rtt median $(jq_py "$MB_TMP/rtt.json" 'j.get("median_ms")') ms, 1% loss each way: $((SPEED * 8 / 1000)) kbit/s in ${SECS}s; lost $(jq_py "$MB_TMP/s.json" '(j["ab"]["drop_loss"], j["ba"]["drop_loss"])') (ab, ba)"
	mb_pass "$mib MiB over HTTPS at 40 ms / 1% with $cc: $((SPEED * 8 / 1000)) kbit/s"
}

case_daemon() {
	local srv=10.79.1.1 img=emulab-ops/NETEM.ndz
	[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
	mb_bridge_up
	mb_host c1 10.79.1.11/24
	# The daemon's DPDK port (net_af_packet on srv's eth0) reaches the
	# bridge through mb-netem; "ab" is from the daemon.  The client keeps
	# its tx checksum offload: mb-netem completes the checksums.
	mb_wan_up w srv:eth0 "noaddr=$srv" "br:${MB_PREFIX}${MB_RID}s" bridge \
		--loss 1% --dup 1% --reorder 5%:2ms
	mb_port_deaf srv
	mb_make_file "$MB_TMP/img" 8 5
	WANT=$(mb_sha "$MB_TMP/img")
	mb_state_add_image "$MB_TMP/state" "$img" "$MB_TMP/img" 1 1700000000
	{
		mb_conf_write "$srv/24"
		printf '\n[tcp]\nhttp-port = 80\nidle-timeout = 30s\n'
	} >"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	mb_wait_tcp c1 "$srv" 80 15 || mb_fail "HTTP port not reachable through mb-netem"
	fetch c1 "http://$srv/images/$img" "$MB_TMP/dl"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "download from minibossd through mb-netem differs"
	stats w "$MB_TMP/s.json"
	expect "$MB_TMP/s.json" 'ab["drop_loss"] > 0 and ab["duplicated"] > 0 and ab["reordered"] > 0' \
		'ab["csum_completed"] == 0 and ba["csum_completed"] > 0'
	mb_daemon_stop || mb_fail "minibossd exit status $?"
	mb_pass "8 MiB from minibossd through 1% loss, 1% duplication, 5% reordering: identical"
}

# Not in the suite (speed belongs to benchmarks): what the forwarder moves
# on this machine with 20 ms each way.  UDP from bench/udp-blast (1514-byte
# frames, as fast as the kernel sends them) into a sink that drops them at
# ingress, then one TCP download with buffers large enough for the path.
case_capacity() {
	local blast=$MB_BUILD/bench/udp-blast secs=3
	[ -x "$blast" ] || mb_skip "udp-blast not built at '$blast'"
	mb_wan_up w h1 "$A/24" h2 "$B/24" --delay 20ms
	static_neigh w h1 "$A" h2 "$B"
	printf 'table netdev sink {\n chain in {\n  type filter hook ingress device w priority 0;\n  udp dport 6000 drop\n }\n}\n' |
		mb_in h2 nft -f - || mb_fail "nft sink"
	stats w "$MB_TMP/c0.json"
	mb_in h1 "$blast" -d "$B" -l 1472 -m gso -t "$secs" >"$MB_TMP/blast.json" ||
		mb_fail "udp-blast"
	sleep 0.1
	stats w "$MB_TMP/c1.json"
	python3 - "$MB_TMP/c0.json" "$MB_TMP/c1.json" "$MB_TMP/blast.json" "$secs" \
		>"$MB_TMP/udp.txt" <<-'EOF'
		import json, sys
		a, b = (json.load(open(f))["ab"] for f in sys.argv[1:3])
		sent = json.load(open(sys.argv[3]))["datagrams"]
		secs = float(sys.argv[4])
		n = b["tx_frames"] - a["tx_frames"]
		print(f"UDP {n / secs:.0f} frames/s = {(b['tx_bytes'] - a['tx_bytes']) * 8 / secs / 1e9:.2f}"
		      f" Gbit/s of 1514-byte frames forwarded ({sent / secs:.0f}/s offered,"
		      f" {b['kernel_drops'] - a['kernel_drops']} not read in time)")
	EOF
	mb_log "$(cat "$MB_TMP/udp.txt")"
	mb_in h1 sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864"
	mb_in h2 sysctl -qw net.ipv4.tcp_wmem="4096 16384 67108864"
	www_file f 256
	ngx_up h2 "$B"
	fetch h1 "http://$B/f" "$MB_TMP/dl"
	[ "$(mb_sha "$MB_TMP/dl")" = "$WANT" ] || mb_fail "download differs"
	mb_pass "$(cat "$MB_TMP/udp.txt"); TCP at 40 ms RTT: $((SPEED * 8 / 1000000)) Mbit/s ($(mb_in h2 sysctl -n net.ipv4.tcp_congestion_control))"
}

case "$CASE" in
pass) case_pass ;;
rate) case_rate ;;
delay) case_delay ;;
loss) case_loss ;;
dup-reorder) case_dup_reorder ;;
corrupt) case_corrupt ;;
flap) case_flap ;;
wan) case_wan ;;
daemon) case_daemon ;;
capacity) case_capacity ;;
*) mb_fail "unknown case '$CASE'" ;;
esac
