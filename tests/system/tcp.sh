#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# HTTP and FTP end to end: minibossd in a namespace serves images over its
# userspace TCP (HTTP entirely on the dataplane, FTP control on a kernel
# socket through the exception path with the data on the dataplane) to real
# curl, wget and lftp in other namespaces behind a bridge; every download
# must be byte-identical (SHA-256) to the served file.
#
# One case per run:
#   tcp.sh http      curl GET, HEAD, Range, interrupted download resumed by
#                    curl -C - and wget -c, wget, keep-alive, If-None-Match
#   tcp.sh ftp       curl EPSV and PASV, REST resume, LIST, lftp get/cls
#   tcp.sh parallel  32 downloads at once (HTTP and FTP mixed) from 4 hosts
#   tcp.sh loss      2% TCP loss both ways in the bridge: still identical
#   tcp.sh loss-reorder  the same with 10% of the daemon's frames reordered
#                    by its test fault hook (skips if built without hooks)
#   tcp.sh refuse    traversal, malformed requests and commands refused
#                    while a download runs on
#   tcp.sh cubic     tcp.congestion-control = cubic: curl over HTTP and FTP
#                    under 2% loss, identical, the connections counted as
#                    CUBIC ones that recovered from losses
# With MB_WORKERS=N and MB_QPAIRS=N the daemon runs dpdk.workers = N on a
# port of N queue pairs (meson: tcp-parallel-workers), and parallel also
# checks that every worker carried TCP segments.
# Needs root and a built minibossd (MB_BUILD).
set -u
MB_PREFIX=mbt
. "$(dirname "$0")/lib.sh"

CASE=${1:-http}
SRV=10.78.0.1
MIB=${MB_TEST_MIB:-8}
IMG=emulab-ops/UBUNTU22-STD.ndz

[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl wget cmp sha256sum nft ethtool

setup() {
	local n=$1 i
	mb_bridge_up
	mb_host srv "$SRV/24" noaddr
	mb_port_deaf srv
	for i in $(seq "$n"); do
		mb_client "c$i" "10.78.0.$((10 + i))/24"
	done
	mb_make_file "$MB_TMP/img" "$MIB" 3
	mb_make_file "$MB_TMP/small" 1 4
	mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/img" 1 1700000000
	mb_state_add_image "$MB_TMP/state" "small.img" "$MB_TMP/small" 1 1700000100
	{
		mb_conf_write "$SRV/24"
		[ -z "${MB_WORKERS:-}" ] || echo "workers = $MB_WORKERS"
		printf '\n[tcp]\nhttp-port = 80\nftp-port = 21\nidle-timeout = 30s\n'
		[ -z "${TCP_CC:-}" ] || printf 'congestion-control = %s\n' "$TCP_CC"
	} >"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	mb_wait_tcp c1 "$SRV" 80 15 || mb_fail "HTTP port not reachable"
	mb_wait_tcp c1 "$SRV" 21 15 || mb_fail "FTP control port not reachable"
	WANT=$(mb_sha "$MB_TMP/img")
}

# same FILE: the download must equal the image.
same() {
	[ -f "$1" ] || mb_fail "'$1' missing"
	[ "$(mb_sha "$1")" = "$WANT" ] || mb_fail "'$1' differs from the image"
}

url_http="http://$SRV/images/$IMG"
url_ftp="ftp://$SRV/$IMG"

# lossy_both TAG: the bridge drops 2% of the TCP frames it forwards
# (counted, table mbtloss), then c1 downloads the image by HTTP into
# $MB_TMP/TAG.1 and by FTP into $MB_TMP/TAG.2: both must be the image.
lossy_both() {
	mb_nft "table bridge mbtloss {
	chain l {
		type filter hook forward priority 0; policy accept;
		ip protocol tcp numgen random mod 100 < 2 counter drop
	}
}"
	mb_in c1 curl -sSf --max-time 120 -o "$MB_TMP/$1.1" "$url_http" || mb_fail "HTTP under loss"
	same "$MB_TMP/$1.1"
	mb_in c1 curl -sSf --max-time 120 -o "$MB_TMP/$1.2" "$url_ftp" || mb_fail "FTP under loss"
	same "$MB_TMP/$1.2"
}

case_http() {
	local out=$MB_TMP/h hdr
	setup 1
	mb_in c1 curl -sSf --max-time 60 -o "$out.1" "$url_http" || mb_fail "curl GET"
	same "$out.1"
	hdr=$(mb_in c1 curl -sSfI --max-time 10 "$url_http") || mb_fail "curl HEAD"
	echo "$hdr" | grep -qi "^content-length: $((MIB * 1048576))" || mb_fail "HEAD length: $hdr"
	echo "$hdr" | grep -qi "^etag: \"$WANT\"" || mb_fail "ETag: $hdr"
	# Range
	mb_in c1 curl -sSf --max-time 20 -r 1000-1999 -o "$out.r" "$url_http" || mb_fail "range"
	cmp -s "$out.r" <(dd if="$MB_TMP/img" bs=1000 skip=1 count=1 2>/dev/null) ||
		mb_fail "range bytes"
	# resume an interrupted download
	head -c 3000000 "$MB_TMP/img" >"$out.2"
	mb_in c1 curl -sSf --max-time 60 -C - -o "$out.2" "$url_http" || mb_fail "curl resume"
	same "$out.2"
	# a download killed half way, resumed by curl -C - and by wget -c
	mb_bg c1 curl -sS --limit-rate 1M -o "$out.6" "$url_http"
	sleep 1.5
	kill "$MB_LAST_PID" 2>/dev/null
	wait "$MB_LAST_PID" 2>/dev/null
	# curl 7.88's --limit-rate lets bursts through, so a fast server may have
	# filled the file before the kill: then cut it back to a partial download,
	# so the resumes below always have bytes left to fetch.
	[ -f "$out.6" ] || : >"$out.6"
	[ "$(stat -c %s "$out.6")" -lt $((MIB * 1048576)) ] ||
		truncate -s $((MIB * 1048576 / 2 + 12345)) "$out.6"
	cp "$out.6" "$out.7"
	mb_in c1 curl -sSf --max-time 60 -C - -o "$out.6" "$url_http" || mb_fail "curl resume"
	same "$out.6"
	mb_in c1 wget -q -T 60 -c -O "$out.7" "$url_http" || mb_fail "wget -c"
	same "$out.7"
	# wget, and two URLs on one keep-alive connection
	mb_in c1 wget -q -T 60 -O "$out.3" "$url_http" || mb_fail "wget"
	same "$out.3"
	mb_in c1 curl -sSf --max-time 60 -o "$out.4" "$url_http" -o "$out.5" "$url_http" ||
		mb_fail "keep-alive pair"
	same "$out.4"
	same "$out.5"
	# conditional GET
	code=$(mb_in c1 curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"$WANT\"" \
		"$url_http")
	[ "$code" = 304 ] || mb_fail "If-None-Match gave $code"
	mb_pass "http"
}

case_ftp() {
	local out=$MB_TMP/f
	setup 1
	mb_in c1 curl -sSf --max-time 60 -o "$out.1" "$url_ftp" || mb_fail "curl EPSV"
	same "$out.1"
	mb_in c1 curl -sSf --max-time 60 --disable-epsv -o "$out.2" "$url_ftp" || mb_fail "curl PASV"
	same "$out.2"
	head -c 5000000 "$MB_TMP/img" >"$out.3"
	mb_in c1 curl -sSf --max-time 60 -C - -o "$out.3" "$url_ftp" || mb_fail "curl REST"
	same "$out.3"
	mb_in c1 curl -sSf --max-time 20 "ftp://$SRV/emulab-ops/" | grep -q UBUNTU22-STD.ndz ||
		mb_fail "LIST"
	if command -v lftp >/dev/null; then
		mb_in c1 lftp -c "set cmd:fail-exit yes; set net:max-retries 2; set net:timeout 20; \
			open $SRV; cd emulab-ops; get UBUNTU22-STD.ndz -o $out.4; cls -1" \
			>"$MB_TMP/cls" || mb_fail "lftp"
		same "$out.4"
		grep -q UBUNTU22-STD.ndz "$MB_TMP/cls" || mb_fail "lftp cls"
	fi
	mb_pass "ftp"
}

case_parallel() {
	local pids=() i h
	setup 4
	for i in $(seq 32); do
		h=c$(((i - 1) % 4 + 1))
		if [ $((i % 2)) = 0 ]; then
			mb_bg "$h" curl -sSf --max-time 120 -o "$MB_TMP/p.$i" "$url_http"
		else
			mb_bg "$h" curl -sSf --max-time 120 -o "$MB_TMP/p.$i" "$url_ftp"
		fi
		pids+=("$MB_LAST_PID")
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || mb_fail "download $((i + 1)) failed"
	done
	for i in $(seq 32); do
		same "$MB_TMP/p.$i"
	done
	if [ -n "${MB_WORKERS:-}" ]; then
		mb_ctl --json stats >"$MB_TMP/st.json" 2>&1 || mb_fail "stats: $(cat "$MB_TMP/st.json")"
		python3 - "$MB_TMP/st.json" "$MB_WORKERS" <<-'EOF' ||
			import json, sys
			st = json.load(open(sys.argv[1]))
			w = st["lcores"]
			assert len(w) == int(sys.argv[2]), "workers"
			for x in w:
			    assert x["counters"]["tcp_rx"] > 0, x
			# what was handed over was taken (a full inbox drops and
			# counts instead: on a machine that starves a worker)
			c = st["counters"]
			assert c["dispatch_in"] == c["dispatch_out"], c
			print("handed over %d frames, %d dropped (inbox full)" %
			      (c["dispatch_out"], c["dispatch_drop"]))
		EOF
			mb_fail "workers: $(cat "$MB_TMP/st.json")"
	fi
	mb_pass "32 parallel downloads identical${MB_WORKERS:+ on $MB_WORKERS workers}"
}

case_loss() {
	setup 1
	lossy_both l
	mb_pass "2% loss: identical"
}

case_loss_reorder() {
	local r
	export MB_FAULT_REORDER=10
	setup 1
	unset MB_FAULT_REORDER
	mb_require_fault_hooks
	lossy_both l
	mb_ctl --json stats >"$MB_TMP/stats.json" 2>&1 || mb_fail "stats"
	r=$(mb_json_get "$MB_TMP/stats.json" counters fault_reordered) || mb_fail "no fault_reordered counter"
	[ "$r" -gt 0 ] || mb_fail "the fault hook reordered nothing"
	ip netns exec "$(mb_ns br)" nft list table bridge mbtloss | grep -q 'counter packets [1-9]' ||
		mb_fail "the loss rule dropped nothing"
	mb_log "reordered $r frames"
	mb_pass "2% loss and reordering: identical"
}

case_cubic() {
	local n r
	TCP_CC=cubic setup 1
	lossy_both c
	mb_ctl --json stats >"$MB_TMP/stats.json" 2>&1 || mb_fail "stats"
	n=$(mb_json_get "$MB_TMP/stats.json" tcp tcp_conn_cubic) || mb_fail "no tcp_conn_cubic"
	r=$(mb_json_get "$MB_TMP/stats.json" tcp tcp_rexmt_bytes) || mb_fail "no tcp_rexmt_bytes"
	# the HTTP connection and the FTP data connection at least
	[ "$n" -ge 2 ] || mb_fail "$n connections opened with CUBIC"
	[ "$r" -gt 0 ] || mb_fail "nothing retransmitted: the losses did not reach the sender"
	mb_log "$n CUBIC connections, $r bytes retransmitted"
	mb_pass "cubic under 2% loss: identical"
}

case_refuse() {
	local code out pid
	setup 2
	mb_bg c2 curl -sSf --max-time 120 --limit-rate 4M -o "$MB_TMP/bg" "$url_http"
	pid=$MB_LAST_PID
	code=$(mb_in c1 curl -s --path-as-is -o /dev/null -w '%{http_code}' \
		"http://$SRV/images/../../etc/passwd")
	[ "$code" = 404 ] || mb_fail "traversal gave $code"
	code=$(mb_in c1 curl -s -o /dev/null -w '%{http_code}' -X POST "$url_http")
	[ "$code" = 405 ] || mb_fail "POST gave $code"
	out=$(mb_in c1 bash -c "exec 3<>/dev/tcp/$SRV/80; printf 'GARBAGE\r\n\r\n' >&3; \
		timeout 5 cat <&3") || true
	echo "$out" | grep -q "^HTTP/1.1 400" || mb_fail "garbage: '$out'"
	out=$(mb_in c1 bash -c "exec 3<>/dev/tcp/$SRV/21; \
		printf 'USER anonymous\r\nPASS x\r\nRETR ../../etc/passwd\r\nPORT 10,78,0,11,4,1\r\nQUIT\r\n' >&3; \
		timeout 5 cat <&3") || true
	echo "$out" | grep -q "^550 " || mb_fail "FTP traversal: '$out'"
	echo "$out" | grep -q "^502 " || mb_fail "FTP PORT: '$out'"
	mb_in c1 curl -s --path-as-is --max-time 10 -o /dev/null "ftp://$SRV/../../etc/passwd" &&
		mb_fail "FTP traversal downloaded something"
	wait "$pid" || mb_fail "the background download failed"
	same "$MB_TMP/bg"
	mb_pass "refused, download unaffected"
}

case "$CASE" in
http) case_http ;;
ftp) case_ftp ;;
parallel) case_parallel ;;
loss) case_loss ;;
loss-reorder) case_loss_reorder ;;
refuse) case_refuse ;;
cubic) case_cubic ;;
*) mb_fail "unknown case '$CASE'" ;;
esac
