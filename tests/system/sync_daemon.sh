#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sync from ops through the whole daemon: minibossd (net_af_packet in its own
# namespace; origin sync uses kernel sockets, so nginx listens on that
# namespace's loopback) syncs 3 images from a real nginx with mutual TLS and
# publishes them (minibossctl images --json), re-syncs and swaps a changed
# image, and after kill -9 in the middle of a slow download shows no partial
# image, then resumes it with a Range request once restarted.
# Case "swap": a stock Frisbee client loads an image (rate-limited so it is in
# flight) while ops publishes a new version and the miniboss syncs and swaps
# it; the client's result is byte-identical to the old version, and the next
# client gets the new one.
# Skips (77) while minibossd is not built.
set -u
CASE=${1:-basic}
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
images_ok() {
	mb_ctl --json images > "$T"/images.json || return 1
	python3 - "$T" "$@" <<'EOP'
import hashlib, json, sys
t, names = sys.argv[1], sys.argv[2:]
imgs = {i["name"]: i for i in json.load(open(t + "/images.json"))}
for n in names:
    i = imgs.get(n)
    want = hashlib.sha256(open(t + "/www/" + n, "rb").read()).hexdigest()
    if i is None or i.get("state") != "ok" or i.get("sha256") != want:
        sys.exit(1)
EOP
}
wait_images() {
	for _ in $(seq 150); do images_ok "$@" && return 0; sleep 0.2; done
	cat "$T"/images.json; fail "images $* not published"
}

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
for _ in $(seq 300); do
	s=$(stat -c %s "$MB_TMP"/state/tmp/D.part 2>/dev/null || echo 0)
	[ "$s" -gt 200000 ] && break
	sleep 0.1
done
[ "$s" -gt 200000 ] || fail "slow download did not start"
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
