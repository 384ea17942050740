#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sync from ops through the whole daemon: minibossd (net_af_packet in its own
# namespace; origin sync uses kernel sockets, so nginx listens on that
# namespace's loopback) syncs 3 images from a real nginx with mutual TLS and
# publishes them (minibossctl images --json), re-syncs and swaps a changed
# image, shows the rate, time left and image of a running round, and after
# kill -9 in the middle of a slow download shows no partial
# image, then resumes it with a Range request once restarted.
# Case "swap": a stock Frisbee client loads an image (rate-limited so it is in
# flight) while ops publishes a new version and the miniboss syncs and swaps
# it; the client's result is byte-identical to the old version, and the next
# client gets the new one.
# Case "local": origin.local-images = keep serves local images ops does not
# list (warning naming them), withdraw retires them (a warning each); a file
# no manifest names is reported (log, status, --plan) and never deleted;
# `sync --plan` shows what the round then does.
# Case "metrics": after traffic (sync, HTTP, a stock Frisbee client when
# present), `minibossctl metrics` and GET /metrics on control.metrics-listen
# pass `promtool check metrics` and show the counters moved; the endpoint
# answers 404/405/431, drops a silent client, is not on the serving address.
# Case "cut-through": an image published with per-chunk digests
# (mb-manifest --chunks) syncs over a rate-limited origin (origin.max-rate,
# several ranges); a stock Frisbee client asking for it mid-sync gets a
# session at once (no TRYAGAIN), while the sync still runs, ends within
# 5 s of the sync, and its result is byte-identical; the times are logged.
# Case "chunk-fault": the file nginx serves has one 1 MiB chunk that does
# not match the manifest's chunk digest (the whole-file digest is the good
# file's); a stock client loading the image cut-through meanwhile ends
# byte-identical to the good file (the bad chunk was never sent), the
# failure is counted, the chunk is asked for again with its own Range
# request and, once ops serves the right bytes, the image installs.
# Case "no-cut-through": the same as cut-through without chunk digests: the
# node gets TRYAGAIN and loads once the sync completed (the times to compare).
# Case "diskfull": the state directory on a 12 MiB tmpfs (mounted in the
# test's own mount namespace, gone with it) fills while an 8 MB image
# downloads from nginx: the round fails with an error that names the full
# directory and the fix (log, health, `minibossctl health`), nothing partial
# is published, the images already published keep serving over HTTP, the
# daemon keeps running without retrying in a loop; with the space freed the
# next round resumes the download and publishes the verified image.  Then
# full at the last step (no inode for the local manifest's rewrite): the
# image is not published, manifest.json unchanged, the verified .part kept
# and installed by the next round without fetching it again.
# Case "withdraw-full": ops stops listing C and adds F while the state
# filesystem (a tmpfs, as for diskfull) has no inode left for the rewrite
# of manifest.json: C stays published, in manifest.json and under images/
# (log and health name the full directory and the fix), F fails; the same
# after a restart with the disk still full; with room again, SIGKILL (test
# fault hook) after C's file was parked and before manifest.json changed
# leaves C recorded, and the start puts its file back and serves it;
# SIGKILL after the rewrite leaves C unrecorded, and the start deletes the
# parked file; SIGKILL during the install of F or of B version 2 (after
# the download took the place of the file under images/, and before) is
# undone by the next start (B v1 served, manifest.json as before, the
# download back in its .part, installed later without a request); then C
# is gone everywhere and F and B v2 are installed.  Last, the
# replay floor's write fails: health says so and the next round writes it.
# Skips (77) while minibossd is not built.
set -u
CASE=${1:-basic}
# diskfull mounts a small filesystem: in a private mount namespace of its
# own, so the mount is nobody else's and goes away with the test
if { [ "$CASE" = diskfull ] || [ "$CASE" = withdraw-full ]; } && [ -z "${MB_SYNC_MNTNS:-}" ] &&
	[ "$(id -u)" = 0 ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare not installed" >&2; exit 77; }
	MB_SYNC_MNTNS=1 exec unshare -m --propagation private "$0" "$@"
fi
MB_PREFIX=mbs
. "$(dirname "$0")/lib.sh"
MANI=$MB_BUILD/tools/mb-manifest
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built"
mb_require_cmd nginx openssl curl
fail() { mb_fail "$*"; }
mb_init
mb_bridge_up
mb_host srv 10.88.0.1/24 noaddr
T=$MB_TMP/sync
mkdir -p "$T"
chmod 755 "$MB_TMP" "$T"
PORT=18460
NGX_EXEC="ip netns exec $(mb_ns srv)"
. "$(dirname "$0")/sync_lib.sh"
# nginx is stopped by lib.sh's cleanup like every other process it started
ngx_up() { ngx_start "$@"; MB_PIDS+=("$NGINX_PID"); }

mkcerts
mkimages
ngx_up srv
mb_conf_write 10.88.0.1/24 > "$MB_TMP"/mb.conf
{ printf '\n[origin]\n'; origin_conf; } >> "$MB_TMP"/mb.conf

# images_ok NAME... : every NAME published with the bytes under www/

# sync_status: the sync status (health's "sync" section), as JSON in $T/status.json
sync_status() {
	mb_ctl --json health | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["sync"]))' \
		> "$T"/status.json || fail "sync status"
}

if [ "$CASE" = local ]; then
	# Two local images ops does not list, and a file no manifest names.
	head -c 3000 /dev/urandom > "$T"/loc1
	head -c 4000 /dev/urandom > "$T"/loc2
	mb_state_add_image "$MB_TMP"/state local/LOC1 "$T"/loc1
	mb_state_add_image "$MB_TMP"/state LOC2 "$T"/loc2
	mkdir -p "$MB_TMP"/state/images/stray
	echo junk > "$MB_TMP"/state/images/stray/junk.bin
	cp "$MB_TMP"/mb.conf "$MB_TMP"/mb.conf.withdraw
	echo "local-images = keep" >> "$MB_TMP"/mb.conf
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready
	mb_ctl sync --wait >/dev/null || fail "first round"
	wait_images emulab-ops/A emulab-ops/B C
	mb_ctl --json images | grep -q '"local/LOC1"' || fail "kept local image not served"
	mb_ctl --json images | grep -q '"LOC2"' || fail "kept local image not served"
	# the names in the store's order, which is not the manifest's
	grep -i "warning: .*2 image(s) not in the ops manifest.*kept" "$MB_DAEMON_LOG" |
		grep "'local/LOC1'" | grep -q "'LOC2'" || fail "no warning naming the kept images"
	grep -qi "warning: .*no manifest names.*stray/junk.bin" "$MB_DAEMON_LOG" ||
		fail "no warning naming the orphan file"
	sync_status
	python3 - "$T"/status.json <<'EOP' || fail "status: $(cat "$T"/status.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["orphans"] == ["stray/junk.bin"], s.get("orphans")
assert s["local-images"] == "keep"
EOP
	# the plan now: everything kept, nothing to fetch or withdraw
	mb_ctl --json sync --plan > "$T"/plan.json || fail "sync --plan"
	python3 - "$T"/plan.json <<'EOP' || fail "plan: $(cat "$T"/plan.json)"
import json, sys
p = json.load(open(sys.argv[1]))
names = lambda k: sorted(e["name"] for e in p[k])
assert names("keep") == ["C", "emulab-ops/A", "emulab-ops/B"], p["keep"]
assert names("keep-local") == ["LOC2", "local/LOC1"], p["keep-local"]
assert p["fetch"] == [] and p["withdraw"] == [], p
assert p["orphans"] == ["stray/junk.bin"]
EOP
	# the text for people
	mb_ctl sync --plan > "$T"/plan.txt || fail "sync --plan (text)"
	grep -Eq '^  keep-local +local/LOC1' "$T"/plan.txt || fail "plan text: $(cat "$T"/plan.txt)"
	grep -Eq '^  orphan +stray/junk.bin' "$T"/plan.txt || fail "plan text: $(cat "$T"/plan.txt)"
	# ops publishes version 2 of everything: --plan (which checks the
	# manifest first, acting on nothing) says fetch A, B, C and keep the
	# local ones, and the round then does exactly that
	publish 2
	mb_ctl --json sync --plan > "$T"/plan.json || fail "sync --plan"
	python3 - "$T"/plan.json <<'EOP' || fail "plan after publish 2: $(cat "$T"/plan.json)"
import json, sys
p = json.load(open(sys.argv[1]))
names = lambda k: sorted(e["name"] for e in p[k])
assert names("fetch") == ["C", "emulab-ops/A", "emulab-ops/B"], p["fetch"]
assert all(e["why"] == "newer version" and e["version"] == 2 for e in p["fetch"]), p["fetch"]
assert names("keep-local") == ["LOC2", "local/LOC1"] and p["withdraw"] == [], p
EOP
	mb_ctl --json images | grep -q '"version": 2' && fail "--plan fetched something"
	mb_ctl sync --wait >/dev/null || fail "second round"
	wait_images emulab-ops/A emulab-ops/B C
	mb_ctl --json images | python3 -c '
import json, sys
v = {i["name"]: i["version"] for i in json.load(sys.stdin)}
assert v["emulab-ops/A"] == 2 and v["C"] == 2 and v["local/LOC1"] == 1 and v["LOC2"] == 1, v
' || fail "after the second round: $(mb_ctl --json images)"
	# withdraw: the next round retires the local images, with a warning
	# each; the orphan file stays
	cp "$MB_TMP"/mb.conf.withdraw "$MB_TMP"/mb.conf
	echo "local-images = withdraw" >> "$MB_TMP"/mb.conf
	mb_ctl reload >/dev/null || fail "reload"
	mb_ctl --json sync --plan > "$T"/plan.json || fail "sync --plan"
	python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
assert sorted(e["name"] for e in p["withdraw"]) == ["LOC2", "local/LOC1"], p
assert p["keep-local"] == [] and p["fetch"] == [], p
' "$T"/plan.json || fail "plan with withdraw: $(cat "$T"/plan.json)"
	mb_ctl --json images | grep -q 'LOC1' || fail "--plan withdrew something"
	mb_ctl sync --wait >/dev/null || fail "withdraw round"
	mb_ctl --json images | grep -q 'LOC' && fail "local images not withdrawn"
	for n in local/LOC1 LOC2; do
		grep -qi "warning: .*image '$n' is not in the ops manifest.*withdrawn" "$MB_DAEMON_LOG" ||
			fail "no warning for withdrawn $n"
	done
	[ -f "$MB_TMP"/state/images/stray/junk.bin ] || fail "orphan file deleted"
	mb_ctl --json sync --plan > "$T"/plan.json || fail "sync --plan"
	python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
assert p["keep-local"] == [] and p["withdraw"] == [] and p["fetch"] == [], p
assert p["local-images"] == "withdraw" and p["orphans"] == ["stray/junk.bin"], p
' "$T"/plan.json || fail "plan after withdraw: $(cat "$T"/plan.json)"
	# ops down after a reload (which drops the verified manifest): --plan
	# says it could not check and has nothing to plan against
	ngx_stop
	mb_ctl reload >/dev/null || fail "reload"
	out=$(mb_ctl sync --plan 2>&1) && fail "--plan without any manifest succeeded: $out"
	echo "$out" | grep -q "checking the ops manifest" || fail "--plan, ops down: $out"
	echo "$out" | grep -q "no verified ops manifest" || fail "--plan, ops down: $out"
	mb_pass "local images kept or withdrawn by origin.local-images, warned, planned; orphans reported"
fi

if [ "$CASE" = metrics ]; then
	mb_require_cmd promtool ethtool nft
	mb_host c1 10.88.0.11/24
	# veth's tx checksum offload leaves partial checksums a DPDK port sees
	mb_in c1 ethtool -K eth0 tx off >/dev/null 2>&1 || fail "ethtool -K eth0 tx off"
	# the server namespace's kernel must not answer what arrives on eth0
	# (af_packet only taps it): it would reset the dataplane's connections
	printf 'table netdev mbmx {\n chain in {\n  type filter hook ingress device eth0 priority 0; policy drop;\n }\n}\n' |
		mb_in srv nft -f - || fail "nft in srv"
	MPORT=19464
	# the endpoint may not be the serving address
	cp "$MB_TMP"/mb.conf "$MB_TMP"/bad.conf
	printf '\n[control]\nmetrics-listen = 10.88.0.1:%s\n' $MPORT >> "$MB_TMP"/bad.conf
	out=$("$MB_BUILD"/server/minibossd -n -c "$MB_TMP"/bad.conf 2>&1) &&
		fail "-n accepted metrics-listen on the serving address"
	echo "$out" | grep -q "metrics-listen: 10.88.0.1 is the serving address" ||
		fail "-n: $out"
	printf '\n[control]\nmetrics-listen = 127.0.0.1:%s\n' $MPORT >> "$MB_TMP"/mb.conf
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready
	mb_ctl sync --wait >/dev/null || fail "sync"
	wait_images emulab-ops/A emulab-ops/B C
	# traffic: HTTP from the dataplane TCP, and a 404
	mb_wait_tcp c1 10.88.0.1 80 15 || fail "HTTP port not reachable"
	for _ in 1 2 3; do
		mb_in c1 curl -sS -m 20 -o "$T"/gotA http://10.88.0.1/images/emulab-ops/A ||
			fail "HTTP download"
	done
	cmp -s "$T"/gotA "$T"/www/emulab-ops/A || fail "HTTP bytes differ"
	mb_in c1 curl -s -m 10 -o /dev/null http://10.88.0.1/images/NOPE
	# a Frisbee session in flight (stock client), so per-session series exist
	if [ -x "${MB_FRISBEE_BIN:-/nonexistent}/frisbee" ]; then
		mb_wait_tcp c1 10.88.0.1 64494 15 || fail "master server not reachable"
		mb_bg c1 timeout 60 "$MB_FRISBEE_BIN"/frisbee -i 10.88.0.11 -S 10.88.0.1 -T 50 -N \
			-F emulab-ops/A "$MB_TMP"/fris.out 2>"$MB_TMP"/fris.err
		for _ in $(seq 100); do
			mb_ctl metrics > "$T"/m.txt || fail "minibossctl metrics"
			grep -q '^miniboss_session_tx_bytes_total{session="[0-9]*",image="emulab-ops/A"}' \
				"$T"/m.txt && break
			sleep 0.1
		done
		grep -q '^miniboss_session_blocks_total{session=' "$T"/m.txt ||
			mb_log "no Frisbee session seen in the metrics (it may have ended first)"
	fi
	mb_ctl metrics > "$T"/m.txt || fail "minibossctl metrics"
	promtool check metrics < "$T"/m.txt > "$T"/promtool.out 2>&1 ||
		fail "promtool check metrics: $(cat "$T"/promtool.out)"
	python3 - "$T"/m.txt <<'EOP' || fail "metrics values: $(head -c 3000 "$T"/m.txt)"
import re, sys
v = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    name, val = line.rsplit(" ", 1)
    v[name] = int(val)
assert [x for k, x in v.items() if k.startswith('miniboss_build_info{version="')] == [1]
assert v['miniboss_http_resp_200_total{port="0"}'] >= 3, "200s"
assert v['miniboss_http_resp_4xx_total{port="0"}'] >= 1, "404"
assert v['miniboss_http_body_bytes_total{port="0"}'] >= 3 * 300000, "body bytes"
assert v['miniboss_dp_tx_bytes_total{port="0"}'] > 900000, "tx bytes"
assert v['miniboss_sync_fetched_bytes_total'] >= 375000, "sync bytes"
assert v['miniboss_sync_rounds_total'] >= 1
assert v['miniboss_images{state="ok"}'] == 3
assert v['miniboss_image_size_bytes{image="emulab-ops/A"}'] == 300000
assert v['miniboss_health{state="ok"}'] + v['miniboss_health{state="degraded"}'] == 1
assert v['miniboss_control_clients'] >= 1   # minibossctl itself
assert 'miniboss_ftp_control_connections' in v and 'miniboss_metrics_requests_total' in v
EOP
	# the same over HTTP on the management address, never the serving one
	mb_in srv curl -sS -m 10 -D "$T"/h.txt -o "$T"/m2.txt http://127.0.0.1:$MPORT/metrics ||
		fail "GET /metrics"
	grep -q "^HTTP/1.1 200" "$T"/h.txt || fail "GET /metrics: $(cat "$T"/h.txt)"
	grep -qi "^Content-Type: text/plain; version=0.0.4" "$T"/h.txt || fail "content type"
	promtool check metrics < "$T"/m2.txt > "$T"/promtool.out 2>&1 ||
		fail "promtool check metrics (HTTP): $(cat "$T"/promtool.out)"
	[ "$(mb_in srv curl -s -m 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/x)" = 404 ] ||
		fail "no 404 for another path"
	[ "$(mb_in srv curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:$MPORT/metrics)" = 405 ] ||
		fail "no 405 for POST"
	big=$(head -c 6000 /dev/zero | tr '\0' a)
	[ "$(mb_in srv curl -s -m 10 -o /dev/null -w '%{http_code}' -H "X-Big: $big" http://127.0.0.1:$MPORT/metrics)" = 431 ] ||
		fail "no 431 for an oversized request"
	mb_in c1 curl -s -m 3 -o /dev/null http://10.88.0.1:$MPORT/metrics &&
		fail "metrics reachable on the serving address"
	# a silent client is dropped after the idle timeout (10 s), not held
	t0=$(date +%s)
	mb_in srv timeout 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$MPORT; cat <&3 >/dev/null" ||
		fail "silent connection not closed by the daemon"
	dt=$(( $(date +%s) - t0 ))
	[ "$dt" -ge 8 ] || fail "silent connection closed after ${dt}s (expected ~10)"
	mb_ctl --json health | python3 -c '
import json, sys
m = json.load(sys.stdin)["metrics"]
assert m["listening"] and m["requests"] >= 1 and m["timeouts"] >= 1 and m["bad-requests"] >= 3, m
' || fail "health metrics section: $(mb_ctl --json health)"
	mb_pass "metrics: promtool-clean from minibossctl and HTTP, counters moved, endpoint bounded"
fi

# sync_field KEY: one field of health's "sync" entry.
sync_field() {
	mb_ctl --json health | python3 -c 'import json, sys; print(json.load(sys.stdin)["sync"][sys.argv[1]])' "$1"
}

# Case "backoff": ops unreachable for 40 s with origin.interval = 5s: the
# miniboss backs off (5, 10, 20, 40 s: at most 4 attempts, not 8), keeps
# serving its images, health says how many attempts failed in a row; ops
# back, it recovers within the longest wait (40 s) without being asked.
if [ "$CASE" = backoff ]; then
	printf 'interval = 5s\n' >> "$MB_TMP"/mb.conf
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	mb_ctl sync --wait >/dev/null
	wait_images emulab-ops/A emulab-ops/B C
	ngx_stop
	r0=$(sync_field rounds)
	sleep 41
	r1=$(sync_field rounds)
	[ "$(sync_field ops_reachable)" = False ] || fail "ops reachable while down"
	images_ok emulab-ops/A emulab-ops/B C || fail "images lost while ops was down"
	mb_log "ops down 41 s: $((r1 - r0)) rounds, $(sync_field failures) failures in a row"
	[ $((r1 - r0)) -ge 2 ] || fail "no retry while ops was down ($((r1 - r0)) rounds)"
	[ $((r1 - r0)) -le 4 ] || fail "no backoff: $((r1 - r0)) rounds in 41 s at a 5 s interval"
	[ "$(sync_field failures)" -ge 2 ] || fail "health: failures $(sync_field failures)"
	ngx_up srv
	for i in $(seq 100); do
		[ "$(sync_field ops_reachable)" = True ] && [ "$(sync_field result)" = ok ] && break
		sleep 0.5
	done
	[ "$i" -lt 100 ] || fail "not recovered 50 s after ops came back"
	mb_log "recovered $((i / 2)) s after ops came back"
	[ "$(sync_field failures)" = 0 ] || fail "failures not reset"
	mb_pass "ops down: backoff, images kept, recovery"
fi

# Case "diskfull" (see the top): the state directory on a small tmpfs that
# fills mid-download.
if [ "$CASE" = diskfull ]; then
	mb_require_cmd ethtool nft
	mkdir -p "$MB_TMP"/state
	mount -t tmpfs -o size=12m,mode=0755 mbsfull "$MB_TMP"/state || fail "mount tmpfs"
	# unmounted before lib.sh's cleanup removes the temp dir
	trap 'rc=$?; umount -l "$MB_TMP"/state 2>/dev/null; (exit $rc); mb_cleanup' EXIT
	mb_client c1 10.88.0.11/24
	mb_port_deaf srv
	printf '\n[tcp]\nhttp-port = 80\n' >> "$MB_TMP"/mb.conf
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	mb_ctl sync --wait >/dev/null
	wait_images emulab-ops/A emulab-ops/B C
	mb_wait_tcp c1 10.88.0.1 80 15 || fail "HTTP port not reachable"
	# ops adds an 8 MB image E, served at 2 MB/s so the disk fills mid-way
	head -c 8000000 /dev/urandom > "$T"/www/E
	publish_more ,E 1
	ngx_stop
	ngx_up srv "location = /E { limit_rate 2m; }"
	: > "$T"/ngx/access.log
	cp "$MB_TMP"/state/manifest.json "$T"/local-manifest.before
	mb_ctl sync >/dev/null || fail "sync"
	part_past "$MB_TMP"/state/tmp/E.part 1000000 || fail "the download of E did not start"
	# something else fills the filesystem meanwhile
	dd if=/dev/zero of="$MB_TMP"/state/filler bs=64k 2>/dev/null
	[ "$(df --output=avail -B1 "$MB_TMP"/state | tail -1)" -lt 65536 ] || fail "not full"
	mb_log "state filesystem full with E.part at $(stat -c %s "$MB_TMP"/state/tmp/E.part) bytes"
	for i in $(seq 150); do
		[ "$(sync_field running)" = False ] && break
		sleep 0.2
	done
	[ "$i" -lt 150 ] || fail "the round did not end with the disk full"
	kill -0 "$MB_DAEMON_PID" 2>/dev/null || fail "minibossd died with the disk full"
	# the error: in health (JSON and text) and the log, naming the
	# directory and what to do
	# (exit status 1: not healthy)
	mb_ctl --json health > "$T"/health.json
	[ $? -le 1 ] || fail "health"
	python3 - "$T"/health.json "$MB_TMP"/state <<'EOP' || fail "health with the disk full: $(cat "$T"/health.json)"
import json, sys
h = json.load(open(sys.argv[1]))
s = h["sync"]
e = s["images"]["E"]
print("E:", e)
assert e["state"] == "failed", e
r = e["reason"]
assert "No space left" in r and sys.argv[2] in r and "free space" in r, r
assert s["images"]["emulab-ops/A"]["state"] == "ok", s
assert h["state"] != "ok", h["state"]
EOP
	mb_ctl health > "$T"/health.txt 2>&1
	grep -q "No space left" "$T"/health.txt || fail "minibossctl health: $(cat "$T"/health.txt)"
	grep -q "image 'E'.*No space left.*free space" "$MB_DAEMON_LOG" ||
		fail "no log line naming the full disk: $(grep "'E'" "$MB_DAEMON_LOG" | tail -3)"
	# nothing partial published; the local manifest is the one before
	[ ! -e "$MB_TMP"/state/images/E ] || fail "partial E in images/"
	mb_ctl --json images | grep -q '"E"' && fail "E published with the disk full"
	cmp -s "$MB_TMP"/state/manifest.json "$T"/local-manifest.before ||
		fail "local manifest changed: $(cat "$MB_TMP"/state/manifest.json)"
	images_ok emulab-ops/A emulab-ops/B C || fail "published images lost with the disk full"
	# they keep serving
	mb_in c1 curl -sS -m 20 -o "$T"/gotA http://10.88.0.1/images/emulab-ops/A || fail "HTTP A"
	cmp -s "$T"/gotA "$T"/www/emulab-ops/A || fail "HTTP A differs with the disk full"
	# no retry loop: within 6 s at most one more attempt, and little CPU
	# time on the control thread
	n0=$(grep -c "image 'E'" "$MB_DAEMON_LOG")
	c0=$(awk '{print $14 + $15}' /proc/"$MB_DAEMON_PID"/task/"$MB_DAEMON_PID"/stat)
	sleep 6
	n1=$(grep -c "image 'E'" "$MB_DAEMON_LOG")
	c1=$(awk '{print $14 + $15}' /proc/"$MB_DAEMON_PID"/task/"$MB_DAEMON_PID"/stat)
	mb_log "disk full, 6 s: $((n1 - n0)) log lines about E, $((c1 - c0)) ticks of control-thread CPU"
	[ $((n1 - n0)) -le 3 ] || fail "retrying in a loop: $((n1 - n0)) lines about E in 6 s"
	[ $((c1 - c0)) -le 200 ] || fail "control thread spins: $((c1 - c0)) ticks in 6 s"
	# space freed: the next round resumes and publishes E verified
	rm -f "$MB_TMP"/state/filler
	mb_ctl sync --wait >/dev/null || mb_log "sync --wait after freeing: $?"
	wait_images emulab-ops/A emulab-ops/B C E
	grep -Eq 'GET /E HTTP/1.1 206 range=bytes=[1-9][0-9]*-' "$T"/ngx/access.log ||
		fail "E not resumed with a Range request: $(cat "$T"/ngx/access.log)"
	[ "$(sync_field result)" = ok ] || fail "result $(sync_field result) after freeing space"
	mb_in c1 curl -sS -m 30 -o "$T"/gotE http://10.88.0.1/images/E || fail "HTTP E"
	cmp -s "$T"/gotE "$T"/www/E || fail "HTTP E differs"
	# Full at the last step: F downloads whole, but the local manifest's
	# rewrite finds no room (tmpfs inodes: one left, which F.part takes).
	# Nothing may be published that manifest.json does not name, and the
	# verified .part is installed by the next round without a request.
	head -c 1000000 /dev/urandom > "$T"/www/F
	publish_more ,E,F 1
	cp "$MB_TMP"/state/manifest.json "$T"/local-manifest.before
	read -r used < <(df --output=iused "$MB_TMP"/state | tail -1)
	mount -o remount,nr_inodes=$((used + 1)) "$MB_TMP"/state || fail "remount nr_inodes"
	mb_ctl sync --wait >/dev/null
	mb_ctl --json health > "$T"/health.json
	python3 - "$T"/health.json "$MB_TMP"/state <<'EOP' || fail "F with no room for the manifest: $(cat "$T"/health.json)"
import json, sys
s = json.load(open(sys.argv[1]))["sync"]
f = s["images"]["F"]
print("F:", f)
assert f["state"] == "failed", f
assert "No space left" in f["reason"] and sys.argv[2] in f["reason"], f["reason"]
assert "free space" in f["reason"], f["reason"]
EOP
	mb_ctl --json images | grep -q '"F"' && fail "F published though manifest.json does not name it"
	cmp -s "$MB_TMP"/state/manifest.json "$T"/local-manifest.before || fail "local manifest changed"
	[ ! -e "$MB_TMP"/state/images/F ] || fail "F in images/ but not in manifest.json"
	[ "$(stat -c %s "$MB_TMP"/state/tmp/F.part 2>/dev/null)" = 1000000 ] ||
		fail "the verified F.part was not kept: $(ls -l "$MB_TMP"/state/tmp)"
	kill -0 "$MB_DAEMON_PID" 2>/dev/null || fail "minibossd died"
	mount -o remount,nr_inodes=10000 "$MB_TMP"/state || fail "remount nr_inodes"
	: > "$T"/ngx/access.log
	mb_ctl sync --wait >/dev/null || mb_log "sync --wait with room again: $?"
	wait_images emulab-ops/A emulab-ops/B C E F
	grep -q '"F"' "$MB_TMP"/state/manifest.json || fail "F not in manifest.json"
	grep -q 'GET /F ' "$T"/ngx/access.log && fail "F fetched again: $(cat "$T"/ngx/access.log)"
	mb_in c1 curl -sS -m 30 -o "$T"/gotF http://10.88.0.1/images/F || fail "HTTP F"
	cmp -s "$T"/gotF "$T"/www/F || fail "HTTP F differs"
	mb_daemon_stop || fail "exit status"
	mb_pass "disk full during a sync: clear error, nothing published, serving on, resumed after"
fi

# Case "withdraw-full" (see the top): a withdrawal with no room to record it,
# and crashes in the middle of one.
if [ "$CASE" = withdraw-full ]; then
	mkdir -p "$MB_TMP"/state
	mount -t tmpfs -o size=12m,mode=0755 mbsfull "$MB_TMP"/state || fail "mount tmpfs"
	trap 'rc=$?; umount -l "$MB_TMP"/state 2>/dev/null; (exit $rc); mb_cleanup' EXIT
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	mb_ctl sync --wait >/dev/null
	wait_images emulab-ops/A emulab-ops/B C
	hooks=$(mb_ctl --json health | mb_json_eval "j['build']['fault_hooks']")
	# state_agrees IN|OUT: C published (or not), in manifest.json (or
	# not), its file under images/ (or not), and no parked file either way
	state_agrees() {
		local want=$1 pub=OUT rec=OUT file=OUT
		images_ok C && pub=IN
		grep -q '"name": "C"' "$MB_TMP"/state/manifest.json && rec=IN
		[ -e "$MB_TMP"/state/images/C ] && file=IN
		[ "$pub $rec $file" = "$want $want $want" ] ||
			fail "C: published $pub, recorded $rec, file $file; expected all $want"
		! ls "$MB_TMP"/state/tmp | grep -q '\.retired$' ||
			fail "a parked file left: $(ls "$MB_TMP"/state/tmp)"
	}
	# ops withdraws C (now only for site other) and adds F
	head -c 1000000 /dev/urandom > "$T"/www/F
	"$MANI" build "$T"/www --site utah=emulab-ops/A,emulab-ops/B,F --site other=OTHER,C \
		--version-from 1 -o "$T"/www/manifest.json >/dev/null || fail "mb-manifest build"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
	cp "$MB_TMP"/state/manifest.json "$T"/local-manifest.before
	# no inode left: manifest.json.tmp (and F.part) cannot be created
	read -r used < <(df --output=iused "$MB_TMP"/state | tail -1)
	mount -o remount,nr_inodes="$used" "$MB_TMP"/state || fail "remount nr_inodes"
	mb_ctl sync --wait >/dev/null
	kill -0 "$MB_DAEMON_PID" 2>/dev/null || fail "minibossd died with the disk full"
	state_agrees IN
	cmp -s "$MB_TMP"/state/manifest.json "$T"/local-manifest.before ||
		fail "local manifest changed: $(cat "$MB_TMP"/state/manifest.json)"
	images_ok emulab-ops/A emulab-ops/B || fail "A, B lost"
	mb_ctl --json images | grep -q '"F"' && fail "F published with the disk full"
	# health (exit status 1: not healthy) and the log say why, and the fix
	check_health() {
		mb_ctl --json health > "$T"/health.json
		[ $? -le 1 ] || fail "health"
		python3 - "$T"/health.json "$MB_TMP"/state <<'EOP' || fail "health: $(cat "$T"/health.json)"
import json, sys
h = json.load(open(sys.argv[1]))
s = h["sync"]
r = s["withdraw_failed"]["C"]
print("C:", r)
assert "No space left" in r and sys.argv[2] + "/manifest.json" in r and "free space" in r, r
assert "still served" in r, r
assert h["state"] != "ok", h["state"]
assert s["result"] != "ok", s["result"]
EOP
	}
	check_health
	mb_ctl health 2>&1 | grep -q "withdrawal failed.*No space left" ||
		fail "minibossctl health: $(mb_ctl health 2>&1)"
	grep -q "image 'C' .*withdrawal failed.*No space left.*free space" "$MB_DAEMON_LOG" ||
		fail "no log line naming the full disk: $(grep "'C'" "$MB_DAEMON_LOG" | tail -3)"
	# a restart with the disk still full: the same
	mb_daemon_stop || fail "exit status"
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	wait_images emulab-ops/A emulab-ops/B C
	mb_ctl sync --wait >/dev/null
	state_agrees IN
	check_health
	mb_daemon_stop || fail "exit status"
	mount -o remount,nr_inodes=10000 "$MB_TMP"/state || fail "remount nr_inodes"
	if [ "$hooks" = True ]; then
		# crash_at STEP: start with the fault hook set, wait for it to kill
		crash_at() {
			export MB_FAULT_KILL_AT=$1
			mb_daemon_start srv "$MB_TMP"/mb.conf
			unset MB_FAULT_KILL_AT
			for i in $(seq 300); do kill -0 "$MB_DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
			[ "$i" -lt 300 ] || fail "not killed at $1"
			grep -q "fault hook: SIGKILL at '$1'" "$MB_DAEMON_LOG" || fail "killed elsewhere than $1"
			mb_daemon_stop >/dev/null
		}
		# serve_offline: start with ops down (no round can act), check, stop
		serve_offline() {
			ngx_stop
			mb_daemon_start srv "$MB_TMP"/mb.conf
			mb_daemon_wait_ready 30
			wait_images emulab-ops/A
			"$@"
			mb_daemon_stop || fail "exit status"
			ngx_up srv
		}
		crash_at retire-parked
		grep -q '"name": "C"' "$MB_TMP"/state/manifest.json || fail "C unrecorded after retire-parked"
		[ -e "$MB_TMP"/state/images/C ] && fail "C's file not parked at retire-parked"
		ls "$MB_TMP"/state/tmp | grep -q '\.retired$' || fail "no parked file: $(ls "$MB_TMP"/state/tmp)"
		serve_offline eval 'wait_images C; state_agrees IN'
		grep -q "image 'C': its withdrawal was interrupted.*put back" "$MB_DAEMON_LOG" ||
			fail "no log line for the file put back"
		crash_at retire-recorded
		grep -q '"name": "C"' "$MB_TMP"/state/manifest.json && fail "C recorded after retire-recorded"
		serve_offline state_agrees OUT
		grep -q "removed '.*\.retired', the file of an image whose withdrawal" "$MB_DAEMON_LOG" ||
			fail "no log line for the parked file removed"
		# Installs: ops also publishes B version 2; SIGKILL at the first
		# install (F or B), after its download took the place of the
		# file under images/, then (next start) before it did.  Each
		# time the start undoes it: B v1 served from its file, F not,
		# manifest.json as before, the download back in its .part.
		cp "$T"/www/emulab-ops/B "$T"/B.v1
		bver=2
		head -c 70000 /dev/urandom > "$T"/www/emulab-ops/B
		"$MANI" build "$T"/www --site utah=emulab-ops/A,emulab-ops/B,F \
			--site other=OTHER,C --version-from 1 --version emulab-ops/B=2 \
			-o "$T"/www/manifest.json >/dev/null || fail "mb-manifest build"
		"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
		cp "$MB_TMP"/state/manifest.json "$T"/local-manifest.before
		installs_undone() {
			cmp -s "$MB_TMP"/state/manifest.json "$T"/local-manifest.before ||
				fail "manifest.json changed: $(cat "$MB_TMP"/state/manifest.json)"
			[ -e "$MB_TMP"/state/images/F ] && fail "F under images/, not in manifest.json"
			cmp -s "$MB_TMP"/state/images/emulab-ops/B "$T"/B.v1 || fail "B's file is not v1"
			[ -e "$MB_TMP"/state/tmp/install.json ] && fail "install journal left"
			! ls "$MB_TMP"/state/tmp | grep -q '\.retired$' ||
				fail "a parked file left: $(ls "$MB_TMP"/state/tmp)"
			mb_ctl --json images > "$T"/images.json || fail "images"
			python3 - "$T"/images.json "$T"/B.v1 <<'EOP' || fail "after an interrupted install: $(cat "$T"/images.json)"
import hashlib, json, sys
imgs = {i["name"]: i for i in json.load(open(sys.argv[1]))}
assert "F" not in imgs, imgs.get("F")
b = imgs["emulab-ops/B"]
assert b["state"] == "ok" and b["version"] == 1, b
assert b["sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest(), b
EOP
		}
		crash_at install-renamed
		serve_offline installs_undone
		interrupted=$(sed -n "s/.*image '\([^']*\)': its install was interrupted.*download is back in.*/\1/p" \
			"$MB_DAEMON_LOG")
		[ -n "$interrupted" ] || fail "no log line for the install undone"
		part=$MB_TMP/state/tmp/$(echo "$interrupted" | sed 's,/,%2F,g').part
		cmp -s "$part" "$T"/www/"$interrupted" || fail "the verified download of $interrupted is not back"
		crash_at install-parked
		serve_offline installs_undone
		: > "$T"/ngx/access.log
	else
		mb_log "not built with -Dfault_hooks=true: the crash steps are not tested"
	fi
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	mb_ctl sync --wait >/dev/null
	wait_images emulab-ops/A emulab-ops/B F
	state_agrees OUT
	if [ -n "${interrupted:-}" ]; then
		# the download an interrupted install left is installed as it is
		grep -q "GET /$interrupted " "$T"/ngx/access.log &&
			fail "$interrupted fetched again: $(cat "$T"/ngx/access.log)"
	fi
	[ "$(sync_field result)" = ok ] || fail "result $(sync_field result) with room again"
	mb_ctl --json health | grep -q withdraw_failed && fail "withdraw_failed still in health"
	# The replay floor (sync-accepted.json) cannot be written (a directory
	# where its temporary file goes): health says so; the next round, with
	# the same manifest (304), writes it.
	gen=$(( $(date +%s) + 1 ))
	"$MANI" build "$T"/www --site utah=emulab-ops/A,emulab-ops/B,F --site other=OTHER,C \
		--version-from 1 --version emulab-ops/B="${bver:-1}" --generated "$gen" \
		-o "$T"/www/manifest.json >/dev/null ||
		fail "mb-manifest build"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
	touch -d @1700000300 "$T"/www/manifest.json
	mkdir "$MB_TMP"/state/sync-accepted.json.tmp
	mb_ctl sync --wait >/dev/null
	floor_gen() {
		python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["generated"])' \
			"$MB_TMP"/state/sync-accepted.json
	}
	[ "$(floor_gen)" != "$gen" ] || fail "sync-accepted.json written through a directory"
	mb_ctl --json health | mb_json_eval "j['sync']['floor_unsaved']" > "$T"/floor.txt ||
		fail "no floor_unsaved in health: $(mb_ctl --json health)"
	grep -q "sync-accepted.json.*restart forgets" "$T"/floor.txt || fail "floor_unsaved: $(cat "$T"/floor.txt)"
	mb_ctl health 2>&1 | grep -q "sync-accepted.json" || fail "minibossctl health: $(mb_ctl health 2>&1)"
	rmdir "$MB_TMP"/state/sync-accepted.json.tmp
	mb_ctl sync --wait >/dev/null
	[ "$(floor_gen)" = "$gen" ] || fail "floor not written on the next round: $(floor_gen), want $gen"
	mb_ctl --json health | grep -q floor_unsaved && fail "floor_unsaved still in health"
	mb_daemon_stop || fail "exit status"
	mb_pass "withdrawal on a full disk: all or nothing, across restarts and crashes; floor retried"
fi

if [ "$CASE" = swap ]; then
	mb_require_frisbee
	FRIS=$MB_FRISBEE_BIN/frisbee
	mb_host c1 10.88.0.11/24
	printf '\n[frisbee]\nrate = 2M\nidle-timeout = 20s\n' >> "$MB_TMP"/mb.conf
	head -c 4194304 /dev/urandom > "$T"/www/emulab-ops/RAW
	cp "$T"/www/emulab-ops/RAW "$T"/RAW.v1
	"$MANI" build "$T"/www --version-from 1 -o "$T"/www/manifest.json >/dev/null
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	mb_ctl sync --wait >/dev/null
	wait_images emulab-ops/RAW
	mb_wait_tcp c1 10.88.0.1 64494 15 || fail "master server not reachable"
	mb_bg c1 timeout 80 "$FRIS" -i 10.88.0.11 -S 10.88.0.1 -T 60 -N \
		-F emulab-ops/RAW "$MB_TMP"/out.v1 2>"$MB_TMP"/c1.err
	CPID=$MB_LAST_PID
	for _ in $(seq 200); do [ -s "$MB_TMP"/out.v1 ] && break; sleep 0.1; done
	head -c 4194304 /dev/urandom > "$T"/www/emulab-ops/RAW
	"$MANI" build "$T"/www --version-from 2 -o "$T"/www/manifest.json >/dev/null
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null
	mb_ctl sync --wait >/dev/null
	wait_images emulab-ops/RAW
	kill -0 "$CPID" 2>/dev/null || mb_skip "the session ended before the swap; nothing shown"
	wait "$CPID" || fail "frisbee (in flight during the swap) failed: $(tail -3 "$MB_TMP"/c1.err)"
	cmp -s "$MB_TMP"/out.v1 "$T"/RAW.v1 || fail "in-flight session not byte-identical to v1"
	mb_in c1 timeout 80 "$FRIS" -i 10.88.0.11 -S 10.88.0.1 -T 60 -N \
		-F emulab-ops/RAW "$MB_TMP"/out.v2 2>"$MB_TMP"/c1b.err || fail "second frisbee"
	cmp -s "$MB_TMP"/out.v2 "$T"/www/emulab-ops/RAW || fail "new session did not get v2"
	mb_pass "Frisbee session in flight during a swap finished with the old bytes"
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# img_state NAME: the store's state of NAME ("" when it has none)
img_state() {
	mb_ctl --json images | python3 -c '
import json, sys
print({i["name"]: i.get("state", "") for i in json.load(sys.stdin)}.get(sys.argv[1], ""))' "$1"
}
# node_chunks: the chunks the one node of the one session holds (its progress)
node_chunks() {
	mb_ctl --json sessions | python3 -c '
import json, sys
d = json.load(sys.stdin).get("dataplane") or [{}]
n = (d[0].get("nodes") or [{}])[0]
print(int(round(n.get("progress", 0) * d[0].get("chunks", 0))))'
}
# sync_num KEY: a number of the sync status
sync_num() { sync_status; python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], -1))' "$T"/status.json "$1"; }

if [ "$CASE" = cut-through ] || [ "$CASE" = chunk-fault ] || [ "$CASE" = no-cut-through ]; then
	mb_require_frisbee
	FRIS=$MB_FRISBEE_BIN/frisbee
	mb_host c1 10.88.0.11/24
	# cut-through: 24 MiB at 2 MB/s for every request together (~12 s, in
	# 3 ranges); chunk-fault: 12 MiB at 1 MB/s (one request), so the node
	# catches up with the sync and is asking for the bad chunk when it
	# arrives
	# no-cut-through: as cut-through, without chunk digests (what a node
	# waits without them: TRYAGAIN, the client's -B 5, then a cache hit)
	N=CT MIB=24 RATE=2M CHUNKS=--chunks
	if [ "$CASE" = chunk-fault ]; then N=FLT MIB=12 RATE=1M; fi
	if [ "$CASE" = no-cut-through ]; then CHUNKS=; fi
	head -c $((MIB * 1048576 - 4321)) /dev/urandom > "$T"/www/emulab-ops/$N
	cp "$T"/www/emulab-ops/$N "$T"/$N.good
	"$MANI" build "$T"/www $CHUNKS --version-from 1 -o "$T"/www/manifest.json >/dev/null ||
		fail "mb-manifest build $CHUNKS"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null
	[ -z "$CHUNKS" ] || python3 -c '
import json, sys
e = [i for i in json.load(open(sys.argv[1]))["images"] if i["name"] == sys.argv[2]][0]
assert len(e["chunk_sha256"]) == int(sys.argv[3]), len(e["chunk_sha256"])
' "$T"/www/manifest.json emulab-ops/$N $MIB || fail "manifest without chunk digests"
	# near the end: the node holds the chunks before it and keeps asking
	# for this one while it is bad
	BAD=$((MIB - 2))
	if [ "$CASE" = chunk-fault ]; then
		# ops serves a file whose chunk $BAD differs (same size)
		cp "$T"/$N.good "$T"/$N.bad
		head -c 1000 /dev/urandom |
			dd of="$T"/$N.bad bs=1 seek=$((BAD * 1048576 + 5000)) conv=notrunc status=none
		cp "$T"/$N.bad "$T"/www/emulab-ops/$N
	fi
	printf 'max-rate = %s\n' $RATE >> "$MB_TMP"/mb.conf
	mb_daemon_start srv "$MB_TMP"/mb.conf
	mb_daemon_wait_ready 30
	mb_wait_tcp c1 10.88.0.1 64494 15 || fail "master server not reachable"
	t0=$(now_ms)
	mb_ctl sync >/dev/null || fail "sync"
	# cut-through: the node comes once the first chunk is verified;
	# chunk-fault: once the bad chunk failed (the others are there by then,
	# so the node's first requests include it)
	KEY=chunks_verified MIN=1
	[ "$CASE" = chunk-fault ] && KEY=chunk_failures
	[ "$CASE" = no-cut-through ] && KEY=bytes_done MIN=1048576
	for _ in $(seq 300); do
		[ "$(sync_num $KEY)" -ge $MIN ] && break
		sleep 0.1
	done
	[ "$(sync_num $KEY)" -ge $MIN ] || fail "no $KEY: $(cat "$T"/status.json)"
	[ "$(img_state emulab-ops/$N)" = ok ] && fail "sync finished before the node started"
	tc=$(now_ms)
	mb_bg c1 timeout 120 "$FRIS" -i 10.88.0.11 -S 10.88.0.1 -T 100 -N -B 5 \
		-F emulab-ops/$N "$MB_TMP"/out 2>"$MB_TMP"/c1.err
	CPID=$MB_LAST_PID
	tfirst= tsync= fixed= tall= tsess=
	for _ in $(seq 1200); do
		if [ -z "$tsess" ] &&
		   mb_ctl --json sessions | grep -q "\"emulab-ops/$N\""; then
			# with digests the GET is answered at once with a session
			# on the image being synced (the sync is still running)
			tsess=$(now_ms)
			st=$(img_state emulab-ops/$N)
			[ "$st" = ok ] && [ -n "$CHUNKS" ] &&
				fail "the node's session started only after the sync completed"
			# without digests: the image's state, read after the
			# session was seen, must already be ok (a state read after
			# the session was listed cannot predate it; comparing the
			# two poll times instead raced with the polling itself)
			[ "$st" != ok ] && [ "$CASE" = no-cut-through ] &&
				fail "a session before the sync completed without digests (image state '$st')"
		fi
		if [ -z "$tfirst" ] && [ -s "$MB_TMP"/out ]; then
			tfirst=$(now_ms)
		fi
		if [ "$CASE" = chunk-fault ] && [ -z "$fixed" ]; then
			# the node holds every other chunk: from then on it asks
			# for the bad one only; after 3 s of that, ops fixes the
			# file and the next re-fetch gets the right bytes
			[ -z "$tall" ] && [ "$(node_chunks)" -ge $((MIB - 1)) ] && tall=$(now_ms)
			if [ -n "$tall" ] && [ $(($(now_ms) - tall)) -ge 3000 ]; then
				cp "$T"/$N.good "$T"/www/.fix && mv "$T"/www/.fix "$T"/www/emulab-ops/$N
				fixed=$(now_ms)
			fi
		fi
		if [ -z "$tsync" ] && [ "$(img_state emulab-ops/$N)" = ok ]; then tsync=$(now_ms); fi
		[ -n "$tsync" ] && [ -n "$tfirst" ] && break
		sleep 0.1
	done
	[ -n "$tfirst" ] || fail "the node got no byte: $(tail -3 "$MB_TMP"/c1.err)"
	[ -n "$tsync" ] || fail "the sync did not finish: $(mb_ctl --json health)"
	wait "$CPID" || fail "frisbee failed: $(tail -5 "$MB_TMP"/c1.err)"
	tdone=$(now_ms)
	cmp -s "$MB_TMP"/out "$T"/$N.good || fail "the node's copy differs from the image"
	sync_status
	[ -n "$tsess" ] || fail "no session for the node seen"
	mb_log "sync started at 0 ms; node started at $((tc - t0)) ms, its session at" \
		"$((tsess - t0)) ms, first bytes at" \
		"$((tfirst - t0)) ms; sync complete at $((tsync - t0)) ms; node done at" \
		"$((tdone - t0)) ms (${MIB} MiB, origin.max-rate $RATE)${tall:+; node held all but the bad chunk at $((tall - t0)) ms}"
	python3 - "$T"/status.json "$CASE" <<'EOP' || fail "status: $(cat "$T"/status.json)"
import json, sys
s, case = json.load(open(sys.argv[1])), sys.argv[2]
if case == "no-cut-through":
    assert s["cut_through"] == 0 and s["chunks_verified"] == 0, s
    sys.exit(0)
assert s["cut_through"] >= 1, s
if case == "chunk-fault":
    assert s["chunk_failures"] >= 2 and s["chunk_refetches"] >= 2, s
else:
    assert s["chunk_failures"] == 0, s
EOP
	if [ "$CASE" = no-cut-through ]; then
		grep -q "image busy" "$MB_TMP"/c1.err || fail "the node got no TRYAGAIN: $(head -5 "$MB_TMP"/c1.err)"
		mb_pass "without chunk digests the node waits behind TRYAGAIN until the sync completed"
	fi
	if [ "$CASE" = chunk-fault ]; then
		[ -n "$fixed" ] || fail "the node never held every chunk but the bad one"
		grep -q "chunk $BAD (bytes $((BAD * 1048576))-$(((BAD + 1) * 1048576 - 1))) does not match" \
			"$MB_DAEMON_LOG" || fail "no warning naming the bad chunk"
		grep -Eq "GET /emulab-ops/$N HTTP/1.1 206 range=bytes=$((BAD * 1048576))-$(((BAD + 1) * 1048576 - 1)) " \
			"$T"/ngx/access.log || fail "no Range request for the bad chunk: $(grep /$N "$T"/ngx/access.log)"
		mb_log "chunk $BAD failed $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunk_failures"])' "$T"/status.json) time(s); ops fixed it at $((fixed - t0)) ms"
		mb_pass "a chunk not matching its digest was counted, re-fetched and never sent"
	fi
	grep -q "image busy" "$MB_TMP"/c1.err && fail "the node got TRYAGAIN"
	# the node ends with the sync (the chunks it asked for while they were
	# missing cost it a redo delay each), where without digests it waits
	# behind TRYAGAIN and then loads the whole image
	[ $((tdone - tsync)) -le 5000 ] || fail "the node ended $((tdone - tsync)) ms after the sync"
	# the image was published by the sync: a later node gets it as usual
	cmp -s "$MB_TMP"/state/images/emulab-ops/$N "$T"/$N.good || fail "installed file differs"
	# the replay floor keeps names and versions, not the chunk digests
	grep -q chunk_sha256 "$MB_TMP"/state/sync-accepted.json && fail "chunk digests in the floor"
	mb_pass "cut-through: the node's load started before the sync completed, byte-identical"
fi

mb_daemon_start srv "$MB_TMP"/mb.conf
mb_daemon_wait_ready
mb_ctl sync --wait || mb_log "first sync --wait: $?"
wait_images emulab-ops/A emulab-ops/B C
mb_ctl --json images | grep -q '"OTHER"' && fail "image of another site published"

# a changed image is re-synced and swapped
head -c 80000 /dev/urandom > "$T"/www/emulab-ops/B
publish 2
mb_ctl sync --wait >/dev/null
wait_images emulab-ops/A emulab-ops/B C

# kill -9 during a slow download: nothing partial visible; resume with Range
publish_slow_d 2 ngx_up
mb_ctl sync >/dev/null
part_past "$MB_TMP"/state/tmp/D.part 200000 || fail "slow download did not start"
# the status of a running round: its rate, the time left and the image
sync_status
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["running"] and s["current"] == "D", s
assert 10000 < s["rate-Bps"] < 10000000, s["rate-Bps"]
assert s["eta-s"] >= 1 and s["bytes_done"] < s["bytes_total"], s
' "$T"/status.json || fail "progress of the running round: $(cat "$T"/status.json)"
mb_daemon_stop KILL
[ ! -e "$MB_TMP"/state/images/D ] || fail "partial image visible in images/"
grep -q '"D"' "$MB_TMP"/state/manifest.json && fail "D in the local manifest after a crash"
ngx_stop
ngx_up srv
: > "$T"/ngx/access.log
mb_daemon_start srv "$MB_TMP"/mb.conf
mb_daemon_wait_ready
mb_ctl sync --wait >/dev/null
wait_images emulab-ops/A emulab-ops/B C D
grep -Eq 'GET /D HTTP/1.1 206 range=bytes=[1-9][0-9]*-' "$T"/ngx/access.log ||
	fail "no Range request after restart: $(cat "$T"/ngx/access.log)"
mb_pass "sync through minibossd"
