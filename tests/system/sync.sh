#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sync from ops end to end: a real nginx on loopback (own config and prefix in
# a temp dir, HTTPS with ssl_verify_client on, certificates made here with
# openssl) serves 3 images + a manifest signed by mb-manifest; sync-probe (the
# control library's sync and image store on the real control loop, heap
# memory standing in for hugepages) fetches them.  One case per run:
#   initial           3 images fetched, the site filter honoured, bytes identical
#   change            conditional GET (304), a changed image re-synced, a removed one retired
#   resume            a slow download killed -9 resumes with a Range request
#   tamper-image      bytes not matching the manifest hash refused, old version kept
#   tamper-manifest   a manifest not matching its signature refused, nothing changes
#   wrong-server-cert a server cert from another CA refused, nothing changes
#   no-client-cert    no client certificate: nginx refuses, nothing changes
#   ops-down          nginx gone: health "stale", images kept
#   crash-no-partial  kill -9 mid-download: nothing under images/, .part swept later
#   redirect          a 302 for the manifest is refused (no redirects followed)
#   oversize          a manifest over max-manifest-size and an image body longer
#                     than its manifest size are both refused
#   stale-part        a leftover .part of another version restarts from byte 0; a
#                     complete leftover .part is installed without a request
#   ctl-wait          minibossctl sync --wait over the control socket: progress
#                     bar to the end with rate and the image name, then the
#                     "sync" health entry; a second --wait (nothing to fetch)
#                     draws no bar and never the previous round's 100%
#   ctl-wait-fail     --wait on a round whose image fails verification: never
#                     100%, exit 1, the image and its reason named
#   unsolicited-304   after a restart (no verified manifest held), ops answers
#                     304 to the unconditional GET: no reconcile against an
#                     empty set (nothing retired), one unconditional retry,
#                     the round refused
#   long-names        names at the limits (255 and 251 bytes, and 255 bytes with
#                     127 '/') sync, also after a killed download resumes
#   rollback          a replayed older signed manifest (lower "generated"), and
#                     a newer one with a lower image version, are refused, also
#                     by a restarted process (the floor is persisted)
#   refetch-bad-local a local image whose manifest entry matches ops but whose
#                     file no longer verifies is fetched again
#   fsync-dir         every rename into images/ is followed by an fsync of the
#                     directories it changed before manifest.json names the
#                     image (strace), so a crash loses nothing the manifest lists
#   reload            every [origin] key applies on reload (minibossctl reload
#                     to sync-probe --serve): url, site, manifest-pubkey,
#                     ca-file, client-cert/client-key, max-manifest-size,
#                     interval, max-rate, concurrency, timeout; and an url
#                     emptied by a reload stops sync
#   ranges            a 24 MiB image fetched as 3 Range requests at once; the
#                     connection of the middle one is killed (ss -K) mid-way:
#                     that range alone is asked again from the byte where it
#                     stopped, the image verifies and is identical
#   ranges-rate       origin.max-rate is shared by the ranges: 24 MiB in 3 ranges
#                     at max-rate 6M with concurrency 1 takes about 4 s (each
#                     range capped at the whole rate would take about 1.4 s)
#   backoff           an image that keeps failing is retried after a doubling
#                     backoff, not every interval, each retry resuming its .part;
#                     "sync" now retries it at once
# With MB_SYNC_CHUNKS=1 every manifest is built with per-chunk digests
# (mb-manifest build --chunks), so the same cases run through the chunk
# checks: resumed prefixes, ranges, complete leftovers, tampered bytes.
# Exit 0 pass, 1 fail, 77 skip (no nginx/openssl).
set -u
CASE=${1:?case}
B=${MB_BUILD:?}
MANI=$B/tools/mb-manifest
PROBE=$B/tests/system/sync-probe
command -v nginx >/dev/null || { echo "no nginx"; exit 77; }
command -v openssl >/dev/null || { echo "no openssl"; exit 77; }
[ -x "$MANI" ] && [ -x "$PROBE" ] || { echo "build mb-manifest and sync-probe first"; exit 77; }

case $CASE in
initial) PORT=18443 ;; change) PORT=18444 ;; resume) PORT=18445 ;; tamper-image) PORT=18446 ;;
tamper-manifest) PORT=18447 ;; wrong-server-cert) PORT=18448 ;; no-client-cert) PORT=18449 ;;
ops-down) PORT=18450 ;; crash-no-partial) PORT=18451 ;; redirect) PORT=18452 ;;
oversize) PORT=18453 ;; ctl-wait) PORT=18454 ;; stale-part) PORT=18455 ;;
unsolicited-304) PORT=18456 ;; rollback) PORT=18457 ;; long-names) PORT=18458 ;;
ctl-wait-fail) PORT=18459 ;; refetch-bad-local) PORT=18460 ;; fsync-dir) PORT=18461 ;;
backoff) PORT=18462 ;; reload) PORT=18463 ;; ranges) PORT=18464 ;;
ranges-rate) PORT=18465 ;; *) echo "unknown case $CASE"; exit 2 ;;
esac

T=$(mktemp -d /tmp/mbs-sync.XXXXXX)
chmod 755 "$T"
if [ "${MB_SYNC_CHUNKS:-0}" = 1 ]; then
	printf '#!/bin/sh\nif [ "$1" = build ]; then shift; exec "%s" build --chunks "$@"; fi\nexec "%s" "$@"\n' \
		"$B/tools/mb-manifest" "$B/tools/mb-manifest" > "$T"/mani
	chmod +x "$T"/mani
	MANI=$T/mani
fi
NGINX_PID=
PROBE_PID=
cleanup() {
	[ -n "$PROBE_PID" ] && kill -9 "$PROBE_PID" 2>/dev/null
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL ($CASE): $*"; echo "--- probe output"; cat "$T"/probe.out 2>/dev/null;
	echo "--- nginx access"; cat "$T"/ngx/access.log 2>/dev/null; exit 1; }

. "$(dirname "$0")/sync_lib.sh"

# ---- the miniboss side
conf() {	# $1 = extra [origin] lines
	cat > "$T"/mb.conf <<EOF
[server]
state-dir = $T/state
[dpdk]
address = 10.99.0.1/24
[origin]
$(origin_conf)
${1:-}
EOF
}
probe() {	# runs one round; output in probe.out, log in probe.log
	${MB_PROBE_WRAPPER:-} "$PROBE" "$T"/mb.conf "$@" >"$T"/probe.out 2>"$T"/probe.log
}
same() { cmp -s "$T/www/$1" "$T/state/images/$1"; }
snapshot() { (cd "$T"/state && find images -type f | sort | xargs sha256sum;
	cat manifest.json) > "$T/$1"; }
check_kept() {	# state unchanged since snapshot $1
	snapshot after
	cmp -s "$T/$1" "$T"/after || fail "published state changed"
	[ -z "$(ls "$T"/state/tmp 2>/dev/null)" ] || fail "leftover in tmp: $(ls "$T"/state/tmp)"
}
result() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' \
	"$T"/probe.out; }
img_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(d["images"].get(sys.argv[2],{}).get(sys.argv[3],""))' "$T"/probe.out "$1" "$2"; }
initial_ok() {
	probe || fail "initial sync failed: $(result)"
	for i in emulab-ops/A emulab-ops/B C; do same $i || fail "$i differs"; done
	# one pass: the memory filled while downloading is what the store
	# published, and it holds exactly the file
	grep -q "image 'C' v[0-9]* verified while downloaded" "$T"/probe.log &&
		grep -q "image 'C': memory matches the file" "$T"/probe.log ||
		fail "one-pass memory not installed"
	[ ! -e "$T"/state/images/OTHER ] || fail "image for another site fetched"
	snapshot before
}
# Start a slow (limit_rate) download of a 4 MB image D and kill the probe once
# part of it is on disk.
slow_kill() {
	publish_slow_d 1 ngx_start
	"$PROBE" "$T"/mb.conf >"$T"/probe.out 2>"$T"/probe.log &
	PROBE_PID=$!
	part_past "$T"/state/tmp/D.part 200000
	kill -9 $PROBE_PID; wait $PROBE_PID 2>/dev/null; PROBE_PID=
	[ "$PART_BYTES" -gt 200000 ] || fail "download did not start"
	[ "$PART_BYTES" -lt 4000000 ] || fail "download finished too early"
	[ ! -e "$T"/state/images/D ] || fail "partial image visible in images/"
}
# serve_prep RATE: for minibossctl against a serving probe (CTL; skipped
# without it): the probe's control socket in $T, an hourly round, and nginx
# restarted to serve emulab-ops/A at RATE.  serve_start then starts the
# probe (PROBE_PID) and waits up to 10 s for its socket.
serve_prep() {
	CTL=$B/tools/minibossctl
	[ -x "$CTL" ] || { echo "minibossctl not built"; exit 77; }
	conf "interval = 3600s"
	printf '[server]\ncontrol-socket = %s\n' "$T/ctl.sock" >> "$T"/mb.conf
	ngx_stop
	ngx_start srv "location = /emulab-ops/A { limit_rate $1; }"
}
serve_start() {
	"$PROBE" "$T"/mb.conf --serve >"$T"/probe.out 2>"$T"/probe.log &
	PROBE_PID=$!
	for _ in $(seq 100); do [ -S "$T"/ctl.sock ] && break; sleep 0.1; done
}

mkcerts
mkimages
conf
ngx_start srv

case $CASE in
initial)
	initial_ok
	[ "$(img_field emulab-ops/A state)" = ok ] || fail "A not ok in status"
	grep -q '"emulab-ops/A"' "$T"/state/manifest.json || fail "local manifest lacks A"
	;;
change)
	# the file-only path (image too big for the hugepage budget)
	SYNC_PROBE_FILE_ONLY=1 probe --rounds 2 || fail "sync failed"
	grep -q 'GET /manifest.json HTTP/1.1 304' "$T"/ngx/access.log || fail "no conditional GET"
	head -c 80000 /dev/urandom > "$T"/www/emulab-ops/B
	rm "$T"/www/C
	publish 2
	: > "$T"/ngx/access.log
	probe || fail "re-sync failed: $(result)"
	same emulab-ops/B || fail "B not swapped"
	same emulab-ops/A || fail "A changed"
	[ ! -e "$T"/state/images/C ] || fail "C not retired"
	grep -q '"version": *2' "$T"/state/manifest.json || fail "version 2 not recorded"
	grep -q 'GET /emulab-ops/B ' "$T"/ngx/access.log || fail "B not fetched"
	;;
ranges)
	command -v ss >/dev/null || { echo "no ss"; exit 77; }
	initial_ok
	head -c 25165824 /dev/urandom > "$T"/www/R
	publish_more ,R 2
	ngx_stop
	# the middle range (from 8 MiB) crawls at 512 kB/s; asked again from
	# anywhere else, it runs at full speed
	ngx_start srv 'location = /R { if ($http_range ~ "^bytes=8388608-") { set $limit_rate 512k; } }'
	: > "$T"/ngx/access.log
	conf "ranges = 3"
	"$PROBE" "$T"/mb.conf >"$T"/probe.out 2>"$T"/probe.log &
	PROBE_PID=$!
	# ranges 0 and 2 end (nginx logs a request when it ends), range 1 runs
	for _ in $(seq 300); do
		[ "$(grep -c 'GET /R HTTP/1.1 206' "$T"/ngx/access.log)" -ge 2 ] && break
		kill -0 $PROBE_PID 2>/dev/null || break
		sleep 0.1
	done
	[ "$(grep -c 'GET /R HTTP/1.1 206' "$T"/ngx/access.log)" -ge 2 ] ||
		fail "two ranges did not finish first"
	grep -q 'GET /R HTTP/1.1 206 range=bytes=0-8388607 sent=8388608' "$T"/ngx/access.log &&
		grep -q 'GET /R HTTP/1.1 206 range=bytes=16777216-25165823 sent=8388608' \
			"$T"/ngx/access.log || fail "ranges 0 and 2 not as expected"
	sleep 1
	# kill the connection of the range still running, from the client's side
	ss -K -t state established dst 127.0.0.1 dport = :"$PORT" >/dev/null ||
		fail "ss -K failed"
	wait $PROBE_PID
	rc=$?
	PROBE_PID=
	[ $rc -eq 0 ] || fail "ranged sync failed: $(result)"
	same R || fail "R differs"
	grep -q "image 'R': bytes 0-25165823 in 3 ranges" "$T"/probe.log || fail "not in 3 ranges"
	grep -q "image 'R': range 8388608-16777215 stopped at byte [0-9]* .*asking again" \
		"$T"/probe.log || fail "the killed range was not asked again"
	grep -q "image 'R' v[0-9]* verified while downloaded" "$T"/probe.log ||
		fail "R not verified as downloaded"
	# the killed request sent part of its range; each next one asked from
	# where the one before stopped (ss -K may also catch a retry that
	# connects while it runs), never from the range's start, the last got
	# the rest
	sed -n 's/.*GET \/R HTTP\/1.1 206 range=bytes=\([0-9]*\)-16777215 sent=\([0-9]*\).*/\1 \2/p' \
		"$T"/ngx/access.log > "$T"/middle
	python3 - "$T"/middle <<'PY' || fail "the middle range's requests: $(tr '\n' ';' < "$T"/middle)"
import sys
reqs = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
assert len(reqs) >= 2 and reqs[0][0] == 8388608 and 0 < reqs[0][1] < 8388608, reqs
for (s0, n0), (s1, n1) in zip(reqs, reqs[1:]):
	assert 8388608 < s1 and s0 <= s1 <= s0 + n0, reqs
assert reqs[-1][0] + reqs[-1][1] == 16777216, reqs
PY
	[ "$(grep -c 'GET /R ' "$T"/ngx/access.log)" -eq $((2 + $(wc -l < "$T"/middle))) ] ||
		fail "requests for other ranges repeated"
	;;
ranges-rate)
	head -c 25165824 /dev/urandom > "$T"/www/R
	"$MANI" build "$T"/www --site utah=R -o "$T"/www/manifest.json >/dev/null ||
		fail "mb-manifest build"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
	conf "$(printf 'ranges = 3\nconcurrency = 1\nmax-rate = 6M')"
	t0=$(date +%s.%N)
	probe || fail "rate-limited ranged sync failed: $(result)"
	t=$(python3 -c "import time; print(time.time() - $t0)")
	same R || fail "R differs"
	grep -q "image 'R': bytes 0-25165823 in 3 ranges" "$T"/probe.log || fail "not in 3 ranges"
	# a lower bound only (a loaded machine is slower, never faster); libcurl
	# runs ahead of its limit by up to a socket buffer per transfer
	python3 -c "import sys; sys.exit(0 if $t >= 2.8 else 1)" ||
		fail "max-rate not shared: 24 MiB in 3 ranges took ${t}s at 6 MiB/s"
	;;
resume)
	initial_ok
	slow_kill
	ngx_stop
	ngx_start srv
	: > "$T"/ngx/access.log
	probe || fail "resumed sync failed: $(result)"
	same D || fail "D differs after resume"
	grep -q "image 'D' v[0-9]* verified while downloaded" "$T"/probe.log &&
		grep -q "image 'D': memory matches the file" "$T"/probe.log ||
		fail "resumed prefix not read into memory"
	grep -Eq 'GET /D HTTP/1.1 206 range=bytes=[1-9][0-9]*-' "$T"/ngx/access.log ||
		fail "no Range request for D"
	;;
tamper-image)
	initial_ok
	cp "$T"/www/emulab-ops/B "$T"/B.v1
	head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B
	publish 2
	cp "$T"/www/emulab-ops/B "$T"/B.v2
	head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B	# served bytes != signed hash
	probe && fail "tampered image accepted"
	cmp -s "$T"/B.v1 "$T"/state/images/emulab-ops/B || fail "old B not kept"
	if [ "${MB_SYNC_CHUNKS:-0}" = 1 ]; then
		# its one chunk fails its digest, is fetched again 5 times
		# (1+2+4+8+16 s apart), then the attempt fails; the .part holds
		# verified chunks only (none here), kept for the next attempt
		[ "$(img_field emulab-ops/B reason)" = "chunk 0 did not match its SHA-256 6 times" ] ||
			fail "no reason: $(img_field emulab-ops/B reason)"
		[ "$(grep -c 'chunk 0 (bytes 0-69999) does not match its SHA-256' "$T"/probe.log)" = 6 ] ||
			fail "not 6 chunk failures logged"
		P="$T/state/tmp/emulab-ops%2FB.part"
		[ ! -e "$P" ] || cmp -s -n "$(stat -c %s "$P")" "$P" "$T"/B.v2 ||
			fail ".part holds unverified bytes"
	else
		[ "$(img_field emulab-ops/B reason)" = "sha256 mismatch" ] || fail "no reason"
		grep -q 'sha256 mismatch' "$T"/probe.log || fail "no log line"
		[ -z "$(ls "$T"/state/tmp)" ] || fail "bad .part kept"
	fi
	;;
tamper-manifest)
	initial_ok
	sed -i 's/"version": 1/"version": 9/' "$T"/www/manifest.json
	probe && fail "tampered manifest accepted"
	result | grep -q 'signature does not match' || fail "reason: $(result)"
	check_kept before
	# a truncated signature, too
	publish 1
	head -c 63 "$T"/www/manifest.json.sig > "$T"/sig && mv "$T"/sig "$T"/www/manifest.json.sig
	probe && fail "truncated signature accepted"
	result | grep -q 'wrong length' || fail "reason: $(result)"
	check_kept before
	;;
wrong-server-cert)
	initial_ok
	ngx_stop
	ngx_start rsrv
	probe && fail "rogue server accepted"
	result | grep -qi 'ssl\|certificate' || fail "reason: $(result)"
	check_kept before
	;;
no-client-cert)
	initial_ok
	# (a key may be set once: drop the lines rather than repeat them empty)
	conf
	sed -i '/^client-cert *=/d; /^client-key *=/d' "$T"/mb.conf
	head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B
	publish 2
	probe && fail "sync without a client certificate succeeded"
	result | grep -q 'HTTP 400' || fail "reason: $(result)"
	check_kept before
	;;
ops-down)
	initial_ok
	ngx_stop
	probe && fail "sync with ops down succeeded"
	[ "$(img_field emulab-ops/A state)" = stale ] || fail "A not stale"
	check_kept before
	;;
crash-no-partial)
	initial_ok
	slow_kill
	[ -e "$T"/state/tmp/D.part ] || fail "no .part"
	(cd "$T"/state/images && find . -type f | sort) > "$T"/imgs
	[ "$(cat "$T"/imgs)" = "$(printf './C\n./emulab-ops/A\n./emulab-ops/B')" ] ||
		fail "images/ has $(cat "$T"/imgs)"
	grep -q '"D"' "$T"/state/manifest.json && fail "D in the local manifest"
	# D withdrawn by ops: the leftover .part goes
	rm "$T"/www/D
	publish 1
	ngx_stop
	ngx_start srv
	probe || fail "sync after crash failed: $(result)"
	[ ! -e "$T"/state/tmp/D.part ] || fail ".part not swept"
	;;
redirect)
	initial_ok
	ngx_stop
	ngx_start srv "location = /manifest.json { return 302 https://localhost:$PORT/x.json; }"
	probe && fail "redirect followed"
	result | grep -q 'redirect' || fail "reason: $(result)"
	check_kept before
	;;
oversize)
	initial_ok
	conf "max-manifest-size = 1024"
	for i in $(seq 10); do head -c 10 /dev/urandom > "$T/www/pad$i"; done
	publish 1
	probe && fail "oversized manifest accepted"
	result | grep -q 'larger than' || fail "reason: $(result)"
	check_kept before
	rm -f "$T"/www/pad*
	conf
	cp "$T"/www/emulab-ops/B "$T"/B.v1
	head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B
	publish 2
	head -c 90000 /dev/urandom > "$T"/www/emulab-ops/B
	probe && fail "image longer than its manifest size accepted"
	img_field emulab-ops/B reason | grep -qi 'larger\|longer\|size' ||
		fail "reason: $(img_field emulab-ops/B reason)"
	cmp -s "$T"/B.v1 "$T"/state/images/emulab-ops/B || fail "old B not kept"
	[ -z "$(ls "$T"/state/tmp)" ] || fail "oversized .part kept"
	;;
stale-part)
	initial_ok
	head -c 90000 /dev/urandom > "$T"/www/emulab-ops/B
	head -c 6000 /dev/urandom > "$T"/www/C
	publish 2
	head -c 30000 /dev/urandom > "$T/state/tmp/emulab-ops%2FB.part"
	cp "$T"/www/C "$T"/state/tmp/C.part
	: > "$T"/ngx/access.log
	probe || fail "sync with leftover .part files failed: $(result)"
	same emulab-ops/B || fail "B differs"
	same C || fail "C differs"
	grep -q "restarting from byte 0" "$T"/probe.log || fail "no restart after a bad prefix"
	grep -q 'GET /C ' "$T"/ngx/access.log && fail "complete .part fetched again"
	[ -z "$(ls "$T"/state/tmp)" ] || fail "leftover in tmp: $(ls "$T"/state/tmp)"
	;;
unsolicited-304)
	initial_ok
	ngx_stop
	ngx_start srv "location = /manifest.json { return 304; }"
	: > "$T"/ngx/access.log
	probe && fail "a 304 without a verified manifest was accepted"
	result | grep -q '304' || fail "reason: $(result)"
	check_kept before
	[ "$(grep -c 'GET /manifest.json HTTP/1.1 304' "$T"/ngx/access.log)" = 2 ] ||
		fail "expected one unconditional retry: $(cat "$T"/ngx/access.log)"
	grep -q 'retired' "$T"/probe.log && fail "images retired on a 304"
	;;
long-names)
	# 255 bytes (NAME_MAX: no room for a ".part" suffix), 251 bytes, and 255
	# bytes of 128 components ('/' was escaped to three characters)
	L255=$(python3 -c 'print("L" * 255)')
	L251=$(python3 -c 'print("l" * 251)')
	DEEP=$(python3 -c 'print("/".join(["d"] * 127) + "/x")')
	[ ${#L255} = 255 ] && [ ${#DEEP} = 255 ] || fail "name lengths"
	mkdir -p "$T/www/$(dirname "$DEEP")"
	head -c 3000 /dev/urandom > "$T/www/$L255"
	head -c 2000 /dev/urandom > "$T/www/$L251"
	head -c 4000000 /dev/urandom > "$T/www/$DEEP"
	publish 1
	# a slow first attempt killed mid-download leaves a .part to resume (the
	# deep name's: its escaped form is too long, so it is hashed, "%H...";
	# A's .part, 300 KB, exists for a moment too)
	ngx_stop
	ngx_start srv "location /d/ { limit_rate 200k; }"
	"$PROBE" "$T"/mb.conf >"$T"/probe.out 2>"$T"/probe.log &
	PROBE_PID=$!
	for _ in $(seq 300); do
		s=$(find "$T"/state/tmp -name '%H*.part' -size +100k 2>/dev/null | wc -l)
		[ "$s" -gt 0 ] && break
		sleep 0.1
	done
	kill -9 $PROBE_PID; wait $PROBE_PID 2>/dev/null; PROBE_PID=
	[ "$s" -gt 0 ] || fail "no partial download of the deep name: $(tail -5 "$T"/probe.log)"
	for f in "$T"/state/tmp/*; do
		n=$(basename "$f"); [ ${#n} -le 255 ] || fail "tmp name over NAME_MAX: $n"
	done
	ngx_stop
	ngx_start srv
	: > "$T"/ngx/access.log
	probe || fail "long names did not sync: $(result)"
	for i in "$L255" "$L251" "$DEEP" emulab-ops/A C; do same "$i" || fail "${i:0:40}... differs"; done
	grep -Eq 'GET /d/.* 206 range=bytes=[1-9]' "$T"/ngx/access.log ||
		fail "the deep name was not resumed: $(cat "$T"/ngx/access.log)"
	[ -z "$(ls "$T"/state/tmp)" ] || fail "leftover in tmp: $(ls "$T"/state/tmp)"
	# a second round: nothing to fetch, nothing swept wrongly
	probe || fail "second round: $(result)"
	[ "$(img_field "$L255" state)" = ok ] || fail "255-byte name not ok"
	;;
rollback)
	publish 1 1700000500
	initial_ok
	cp -p "$T"/www/manifest.json "$T"/v1.json
	cp -p "$T"/www/manifest.json.sig "$T"/v1.json.sig
	head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B
	publish 2 1700000600
	probe || fail "sync of version 2 failed: $(result)"
	same emulab-ops/B || fail "B v2 not installed"
	snapshot v2
	# a replay of the older signed manifest, to a restarted process
	cp -p "$T"/v1.json "$T"/www/manifest.json
	cp -p "$T"/v1.json.sig "$T"/www/manifest.json.sig
	probe && fail "replayed older manifest accepted"
	result | grep -q 'older' || fail "reason: $(result)"
	check_kept v2
	# newer, but with lower image versions
	publish 1 1700000700
	probe && fail "manifest with lower image versions accepted"
	result | grep -q 'older' || fail "reason: $(result)"
	check_kept v2
	# the floor survives without the local store's help too: a local
	# manifest listing no image (its "generated" kept)
	g=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["generated"])' \
		"$T"/state/manifest.json)
	mkdir -p "$T"/empty
	"$MANI" build "$T"/empty --generated "$g" -o "$T"/state/manifest.json >/dev/null ||
		fail "mb-manifest build (empty)"
	cp -p "$T"/v1.json "$T"/www/manifest.json
	cp -p "$T"/v1.json.sig "$T"/www/manifest.json.sig
	probe && fail "replay accepted once the local manifest was emptied"
	result | grep -q 'older' || fail "reason: $(result)"
	;;
ctl-wait)
	serve_prep 200k
	serve_start
	# the startup round is running (slow A): --wait follows it to the end
	"$CTL" -s "$T"/ctl.sock sync --wait > "$T"/bar.out || fail "sync --wait: $(cat "$T"/bar.out)"
	grep -q '\[#\{20\}\] 100%' "$T"/bar.out || fail "no full bar: $(cat "$T"/bar.out)"
	# rate, and the name of the image being fetched (the slow one)
	grep -Eq '\] +[0-9]+% .* [0-9.]+ (B|KiB|MiB)/s .*emulab-ops/A' "$T"/bar.out ||
		fail "no rate or image name: $(cat "$T"/bar.out)"
	# 100% appears once, on the last bar line, after every smaller figure
	[ "$(grep -c ' 100%' "$T"/bar.out)" = 1 ] && tail -n 2 "$T"/bar.out | head -n 1 |
		grep -q ' 100%' || fail "100% before the end: $(cat "$T"/bar.out)"
	grep -q '^sync: ok' "$T"/bar.out || fail "no result line"
	# again: nothing changed at ops, so no bar at all (the old trap redrew the
	# previous round at 100% first)
	"$CTL" -s "$T"/ctl.sock sync --wait > "$T"/bar2.out ||
		fail "second sync --wait: $(cat "$T"/bar2.out)"
	grep -q '%' "$T"/bar2.out && fail "a bar for a round that fetched nothing: $(cat "$T"/bar2.out)"
	grep -q '^sync: ok, nothing to fetch' "$T"/bar2.out || fail "second round: $(cat "$T"/bar2.out)"
	for i in emulab-ops/A emulab-ops/B C; do same $i || fail "$i differs"; done
	"$CTL" -s "$T"/ctl.sock --json health > "$T"/health.json
	python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["sync"]
assert h["result"] == "ok" and h["images"]["C"]["state"] == "ok", h' "$T"/health.json ||
		fail "health: $(cat "$T"/health.json)"
	kill "$PROBE_PID"; wait "$PROBE_PID"; PROBE_PID=
	;;
ctl-wait-fail)
	serve_prep 300k
	# A's bytes (same size) do not match the signed manifest: the round fails
	head -c "$(stat -c %s "$T"/www/emulab-ops/A)" /dev/urandom > "$T"/A.bad
	mv "$T"/A.bad "$T"/www/emulab-ops/A
	serve_start
	"$CTL" -s "$T"/ctl.sock sync --wait > "$T"/bar.out && fail "a failed round exited 0"
	grep -q ' 100%' "$T"/bar.out && fail "100% for a failed round: $(cat "$T"/bar.out)"
	grep -q '^sync: .*1 failed' "$T"/bar.out || fail "no failure count: $(cat "$T"/bar.out)"
	grep -q '^  emulab-ops/A: sha256 mismatch' "$T"/bar.out ||
		fail "failed image not named: $(cat "$T"/bar.out)"
	kill "$PROBE_PID"; wait "$PROBE_PID"; PROBE_PID=
	;;
refetch-bad-local)
	initial_ok
	# C's file rots in place: same size, the manifest entry still matches ops
	printf 'X' | dd of="$T"/state/images/C bs=1 seek=100 conv=notrunc 2>/dev/null
	same C && fail "C not changed"
	: > "$T"/ngx/access.log
	probe || fail "sync after the rot failed: $(result)"
	grep -q "image 'C' v1 refused: checksum mismatch" "$T"/probe.log ||
		fail "the store did not find C bad"
	grep -q 'GET /C HTTP/1.1 200' "$T"/ngx/access.log || fail "C not fetched again"
	same C || fail "C still differs from ops"
	grep -q 'GET /emulab-ops/A ' "$T"/ngx/access.log && fail "a good image was fetched again"
	;;
fsync-dir)
	command -v strace >/dev/null || { echo "no strace"; exit 77; }
	# LeakSanitizer cannot run in a traced process (a sanitizer build): off there
	MB_PROBE_WRAPPER="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
		strace -f -qq -y -e trace=rename,fsync -o $T/trace" probe ||
		fail "sync failed: $(result)"
	for i in emulab-ops/A emulab-ops/B C; do same $i || fail "$i differs"; done
	python3 - "$T/trace" "$T/state" <<-'EOF' || fail "rename not made durable: $(cat "$T"/trace)"
		import os, re, sys
		lines = open(sys.argv[1]).read().splitlines()
		state = os.path.realpath(sys.argv[2])
		def fsync_at(i, d):
		    # whole, or cut by another thread's call (strace -f: "<unfinished ...>")
		    return re.search(r'fsync\(\d+<' + re.escape(d) + r'>(\)| <unfinished)', lines[i])
		def renames(name):
		    # renames into images/: the destination (the install first
		    # tries to park a previous version, images/<name> then the
		    # source: for a new image that rename fails ENOENT)
		    return [i for i, l in enumerate(lines) if 'rename(' in l and
		            ', "' + state + '/images/' + name + '")' in l]
		# A and B download at once: whichever is renamed first creates
		# images/emulab-ops, so its rename changed images/ too
		first = min(("emulab-ops/A", "emulab-ops/B"), key=lambda n: renames(n)[:1] or [0])
		names = {"emulab-ops/A": ["images/emulab-ops"],
		         "emulab-ops/B": ["images/emulab-ops"], "C": ["images"]}
		names[first].append("images")
		for name, dirs in names.items():
		    ren = renames(name)
		    assert len(ren) == 1, (name, ren)
		    # the manifest that lists it is renamed into place after
		    man = [i for i, l in enumerate(lines) if i > ren[0] and 'rename(' in l and
		           '/manifest.json"' in l]
		    assert man, name
		    for d in dirs:
		        full = state + "/" + d
		        assert any(fsync_at(i, full) for i in range(ren[0] + 1, man[0])), (name, d)
		print("renames into images/ made durable before manifest.json names them")
	EOF
	;;
backoff)
	CTL=$B/tools/minibossctl
	[ -x "$CTL" ] || { echo "minibossctl not built"; exit 77; }
	# E as ops lists it, but ops serves only its first half (a broken
	# mirror, a truncated upload): every attempt ends "truncated body"
	head -c 3000000 /dev/urandom > "$T"/www/E
	publish_more ,E 1
	cp "$T"/www/E "$T"/E.full
	head -c 1000000 "$T"/E.full > "$T"/www/E
	conf "interval = 5s"
	printf '[server]\ncontrol-socket = %s\n' "$T/ctl.sock" >> "$T"/mb.conf
	"$PROBE" "$T"/mb.conf --serve >"$T"/probe.out 2>"$T"/probe.log &
	PROBE_PID=$!
	# rounds at 0, 5, 10, 15, 20 s; E may try at 0, 5 (backoff 5 s), 15
	# (10 s), not 20 (next at 35): three attempts, not five
	sleep 23
	n=$(grep -c 'GET /E ' "$T"/ngx/access.log)
	[ "$n" -ge 2 ] && [ "$n" -le 3 ] || fail "E tried $n times in 23 s (want 2-3)"
	# every retry resumes the .part (a Range for the bytes it has)
	[ "$(grep 'GET /E ' "$T"/ngx/access.log | grep -c 'range=bytes=1000000-')" = $((n - 1)) ] ||
		fail "retries did not resume the .part"
	grep -q "image 'E' version 1 refused: .*, retrying in 10s" "$T"/probe.log ||
		fail "no doubled backoff in the log"
	"$CTL" -s "$T"/ctl.sock --json health > "$T"/st.json || true
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["sync"]["images"]["E"]
assert e["state"] == "failed" and e["retry-in-s"] > 0, e' "$T"/st.json ||
		fail "status: $(cat "$T"/st.json)"
	# ops is fixed; "sync" retries at once and resumes
	cp "$T"/E.full "$T"/www/E
	: > "$T"/ngx/access.log
	"$CTL" -s "$T"/ctl.sock sync --wait > "$T"/bar.out 2>&1 || fail "sync --wait: $(cat "$T"/bar.out)"
	grep -q 'GET /E HTTP/1.1 206 range=bytes=1000000-' "$T"/ngx/access.log ||
		fail "the fixed E was not resumed"
	kill "$PROBE_PID"; wait "$PROBE_PID"; PROBE_PID=
	same E || fail "E differs"
	;;
reload)
	CTL=$B/tools/minibossctl
	[ -x "$CTL" ] || { echo "minibossctl not built"; exit 77; }
	# rconf "key = value"...: the configuration with those [origin] keys
	# replaced (an empty value clears one)
	rconf() {
		origin_conf > "$T"/origin.keys
		for kv in "$@"; do
			sed -i "/^${kv%% =*} *=/d" "$T"/origin.keys
			echo "$kv" >> "$T"/origin.keys
		done
		{ printf '[server]\nstate-dir = %s\ncontrol-socket = %s\n' "$T/state" "$T/ctl.sock"
		  printf '[dpdk]\naddress = 10.99.0.1/24\n[origin]\n'; cat "$T"/origin.keys; } > "$T"/mb.conf
	}
	reload() { rconf "$@"; "$CTL" -s "$T"/ctl.sock reload > "$T"/reload.out 2>&1 ||
		fail "reload refused: $(cat "$T"/reload.out)"; }
	syncw() { "$CTL" -s "$T"/ctl.sock sync --wait > "$T"/bar.out 2>&1; }
	health() { "$CTL" -s "$T"/ctl.sock --json health > "$T"/h.json 2>/dev/null || true; }
	sync_field() { health; python3 -c 'import json,sys
print(json.load(open(sys.argv[1])).get("sync", {}).get(sys.argv[2], "(none)"))' "$T"/h.json "$1"; }
	base="interval = 3600s"
	# a manifest over 1 KiB (images for another site), served also under
	# /mirror/
	for x in X1 X2 X3 X4 X5 X6 X7 X8; do head -c 100 /dev/urandom > "$T"/www/$x; done
	pub() {	"$MANI" build "$T"/www --site utah=emulab-ops/A,emulab-ops/B,C${1:-} \
			--site other=OTHER,X1,X2,X3,X4,X5,X6,X7,X8 --version-from 1 \
			-o "$T"/www/manifest.json >/dev/null || fail "mb-manifest build"
		"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"; }
	pub
	[ "$(stat -c %s "$T"/www/manifest.json)" -gt 1024 ] || fail "manifest too small for the check"
	ngx_stop
	ngx_start srv "location /mirror/ { alias $T/www/; }"
	rconf "$base"
	"$PROBE" "$T"/mb.conf --serve >"$T"/probe.out 2>"$T"/probe.log &
	PROBE_PID=$!
	for _ in $(seq 100); do [ -S "$T"/ctl.sock ] && break; sleep 0.1; done
	syncw || fail "first sync: $(cat "$T"/bar.out)"
	for i in emulab-ops/A emulab-ops/B C; do same $i || fail "$i differs"; done

	# origin.url
	reload "$base" "url = https://127.0.0.1:$PORT/mirror"
	: > "$T"/ngx/access.log
	syncw || fail "sync from the mirror: $(cat "$T"/bar.out)"
	grep -q 'GET /mirror/manifest.json ' "$T"/ngx/access.log || fail "url: not from /mirror"
	# origin.site
	reload "$base" "site = other"
	syncw || fail "sync as other: $(cat "$T"/bar.out)"
	same OTHER || fail "site: OTHER not fetched"
	[ ! -e "$T"/state/images/C ] || fail "site: C not retired"
	reload "$base"
	syncw || fail "sync as utah again: $(cat "$T"/bar.out)"
	same C || fail "site: C not back"
	# origin.manifest-pubkey
	"$MANI" keygen "$T"/ops2.key "$T"/ops2.pub >/dev/null || fail "keygen"
	reload "$base" "manifest-pubkey = $T/ops2.pub"
	syncw && fail "manifest-pubkey: a manifest signed by another key accepted"
	sync_field result | grep -q 'signature' || fail "manifest-pubkey: $(sync_field result)"
	# origin.ca-file
	reload "$base" "ca-file = $T/pki/rogue.crt"
	syncw && fail "ca-file: ops accepted under another CA"
	sync_field result | grep -qi 'ssl\|certificate' || fail "ca-file: $(sync_field result)"
	# origin.client-cert, client-key
	reload "$base" "client-cert = " "client-key = "
	syncw && fail "client-cert: ops accepted us without a certificate"
	sync_field result | grep -q 'HTTP 400' || fail "client-cert: $(sync_field result)"
	# origin.max-manifest-size
	reload "$base" "max-manifest-size = 1K"
	syncw && fail "max-manifest-size: a manifest over 1 KiB accepted"
	sync_field result | grep -q 'larger' || fail "max-manifest-size: $(sync_field result)"
	reload "$base"
	syncw || fail "sync after the refusals: $(cat "$T"/bar.out)"
	check_kept_images() { for i in emulab-ops/A emulab-ops/B C; do same $i || fail "$1: $i"; done; }
	check_kept_images "refusals"
	# origin.interval: a round comes by itself
	reload "interval = 5s"
	: > "$T"/ngx/access.log
	sleep 8
	grep -q 'GET /manifest.json ' "$T"/ngx/access.log || fail "interval: no round within 8 s"
	# origin.max-rate and concurrency: two 12 MB images at 4 MiB/s, one at a
	# time, take about 6 s (libcurl reads what the socket holds before it
	# looks at its limit, so a transfer runs ahead of it by up to a socket
	# buffer; unlimited, this takes well under a second)
	reload "$base" "max-rate = 4M" "concurrency = 1"
	head -c 12000000 /dev/urandom > "$T"/www/G1
	head -c 12000000 /dev/urandom > "$T"/www/G2
	pub ,G1,G2
	t0=$(date +%s.%N)
	syncw &
	W=$!
	most=0
	while kill -0 $W 2>/dev/null; do
		health
		n=$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1])).get("sync", {})
print(sum(1 for i in s.get("images", {}).values() if i["state"] == "downloading"))' "$T"/h.json)
		[ "$n" -gt "$most" ] && most=$n
		sleep 0.2
	done
	wait $W || fail "rate-limited sync: $(cat "$T"/bar.out)"
	t=$(python3 -c "import time; print(int(time.time() - $t0))")
	same G1 && same G2 || fail "G1/G2 differ"
	[ "$t" -ge 3 ] || fail "max-rate: 24 MB took ${t}s at 4 MiB/s"
	[ "$most" = 1 ] || fail "concurrency: $most downloads at once"
	# origin.timeout: a server that never answers the handshake
	python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(120)' > "$T"/bh.port &
	BH=$!
	for _ in $(seq 50); do [ -s "$T"/bh.port ] && break; sleep 0.1; done
	reload "$base" "url = https://127.0.0.1:$(cat "$T"/bh.port)" "timeout = 2s"
	t0=$(date +%s)
	syncw && fail "timeout: a silent server answered"
	t=$(( $(date +%s) - t0 ))
	kill $BH; wait $BH 2>/dev/null
	[ "$t" -le 15 ] || fail "timeout: the round took ${t}s with timeout = 2s"
	sync_field result | grep -qi 'time' || fail "timeout: $(sync_field result)"
	# origin.url emptied: sync stops (no section in health, the action says so)
	reload "interval = 5s" "url = "
	[ "$(sync_field result)" = "(none)" ] || fail "url emptied: sync still runs: $(sync_field result)"
	"$CTL" -s "$T"/ctl.sock sync > "$T"/off.out 2>&1 && fail "url emptied: sync still accepted"
	grep -q 'not configured' "$T"/off.out || fail "url emptied: $(cat "$T"/off.out)"
	health
	python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))
assert not any("sync" in r["why"] for r in h["reasons"]), h["reasons"]' "$T"/h.json ||
		fail "url emptied: health still speaks of sync"
	kill "$PROBE_PID"; wait "$PROBE_PID"; PROBE_PID=
	check_kept_images "after"
	;;
esac
echo "PASS ($CASE)"
exit 0
