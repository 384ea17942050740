#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Image files going bad under the daemon (issue 13, defect 7), end to end:
# minibossd (net_af_packet in a namespace, real curl over the dataplane's
# HTTP) holds two images in hugepages, x (4 MiB) and y (2 MiB).  y's file is
# corrupted in place after it was verified (same size, mtime put back: it
# looks unchanged); a reload then lowers the hugepage budget so both are
# demoted to mmaps of their files.  y must not be served from its corrupt
# file (404, "failed: checksum mismatch" in health); x is.  Then x's file is
# truncated while curl downloads x slowly: the daemon survives the SIGBUS in
# its lcore, withdraws x with the reason in health, resets the download
# (it must not go on sending zeroes as x), keeps answering, and shuts down
# cleanly.  Polls with generous bounds.  Needs root; prefix mbz.
set -u
MB_PREFIX=mbz
. "$(dirname "$0")/lib.sh"

SRV=10.81.0.1

[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl sha256sum nft ethtool python3 truncate

images_json() { mb_ctl --json images || mb_fail "minibossctl images"; }
health_json() { mb_ctl --json health; }
row() { images_json | mb_json_eval "[i['$2'] for i in j if i['name']=='$1'][0]"; }

mb_bridge_up
mb_host srv "$SRV/24" noaddr
mb_port_deaf srv
mb_client c1 "10.81.0.11/24"
mb_make_file "$MB_TMP/x" 4 x
mb_make_file "$MB_TMP/y" 2 y
mb_state_add_image "$MB_TMP/state" cache/x "$MB_TMP/x" 1 1700000000
mb_state_add_image "$MB_TMP/state" cache/y "$MB_TMP/y" 1 1700000000
conf() {
	mb_conf_write "$SRV/24"
	printf '\n[images]\nhugepage-budget = %s\n' "$1"
	printf '\n[tcp]\nhttp-port = 80\nidle-timeout = 30s\n'
}
conf 8M >"$MB_TMP/mb.conf"
mb_daemon_start srv "$MB_TMP/mb.conf"
mb_daemon_wait_ready 30
mb_wait_tcp c1 "$SRV" 80 15 || mb_fail "HTTP port not reachable"
for _ in $(seq 100); do
	[ "$(images_json | mb_json_eval "sum(1 for i in j if i['mem']=='hugepage')")" = 2 ] && break
	sleep 0.2
done
[ "$(row cache/x mem)" = hugepage ] && [ "$(row cache/y mem)" = hugepage ] ||
	mb_fail "images not in hugepages: $(images_json)"

mb_log "both images in hugepages"
# y rots on disk after its check; the file looks unchanged.
python3 - "$MB_TMP/state/images/cache/y" <<'PY' || mb_fail "corrupt y"
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(1234567)
    b = f.read(1)
    f.seek(1234567)
    f.write(bytes([b[0] ^ 0xff]))
    f.flush()
    os.fsync(f.fileno())
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
# A budget of 1 MiB: both are demoted to their files by the cache timer.
conf 1M >"$MB_TMP/mb.conf"
mb_ctl reload >/dev/null || mb_fail "reload"
for _ in $(seq 150); do
	[ "$(row cache/x mem)" = mmap ] && [ "$(row cache/y published)" = False ] && break
	sleep 0.2
done
[ "$(row cache/x mem)" = mmap ] || mb_fail "x not demoted: $(images_json)"
[ "$(row cache/y published)" = False ] || mb_fail "y served from its corrupt file: $(images_json)"
row cache/y state | grep -q '^failed:checksum mismatch' || mb_fail "y state: $(row cache/y state)"
code=$(mb_in c1 curl -s -o /dev/null -w '%{http_code}' --max-time 30 "http://$SRV/images/cache/y")
[ "$code" = 404 ] || mb_fail "y answered HTTP $code"
mb_in c1 curl -sSf --max-time 60 -o "$MB_TMP/x.1" "http://$SRV/images/cache/x" || mb_fail "curl x"
[ "$(mb_sha "$MB_TMP/x.1")" = "$(mb_sha "$MB_TMP/x")" ] || mb_fail "x differs from its mapping"

mb_log "y refused, x demoted and served"
# x's file is truncated while a slow client reads x from the mapping; a
# small receive buffer keeps the rest of x in the mapping, not in flight.
mb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 16384 32768" || mb_fail "tcp_rmem in c1"
mb_bg c1 curl -s --limit-rate 100k --max-time 120 -o "$MB_TMP/x.2" "http://$SRV/images/cache/x"
CURL_PID=$MB_LAST_PID
for _ in $(seq 100); do
	[ "$(stat -c %s "$MB_TMP/x.2" 2>/dev/null || echo 0)" -gt 200000 ] && break
	sleep 0.1
done
[ "$(stat -c %s "$MB_TMP/x.2" 2>/dev/null || echo 0)" -gt 200000 ] || mb_fail "slow download did not start"
mb_log "truncating x under the download"
truncate -s 0 "$MB_TMP/state/images/cache/x"
for _ in $(seq 150); do
	[ "$(row cache/x published)" = False ] && break
	kill -0 "$MB_DAEMON_PID" 2>/dev/null || mb_fail "minibossd died"
	sleep 0.2
done
kill -0 "$MB_DAEMON_PID" 2>/dev/null || mb_fail "minibossd died"
row cache/x state | grep -q 'truncated under the mapping' || mb_fail "x state: $(images_json)"
# Both images are withdrawn now: health is down ("no image published"), and
# the store says why.
[ "$(health_json | mb_json_eval "j['state']")" != ok ] || mb_fail "health: $(health_json)"
[ "$(health_json | mb_json_eval "j['store']['failed']")" = 2 ] || mb_fail "store: $(health_json)"
[ "$(health_json | mb_json_eval "j['store']['mapping-faults']")" -ge 1 ] || mb_fail "faults not counted"
grep -q "withdrawn: read error or file truncated" "$MB_DAEMON_LOG" || mb_fail "no log line"
mb_log "x withdrawn"
# The download in flight is reset by the dataplane, not left running on
# zero pages: curl ends (with an error) long before its 120 s limit and
# without the whole of x.  At 100 KB/s the rest of x would take ~40 s.
for _ in $(seq 150); do
	kill -0 "$CURL_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$CURL_PID" 2>/dev/null; then
	kill "$CURL_PID" 2>/dev/null
	wait "$CURL_PID" 2>/dev/null
	mb_fail "the download of the withdrawn image was not reset"
fi
wait "$CURL_PID"
crc=$?
[ "$crc" != 0 ] || mb_fail "the download of the withdrawn image completed"
[ "$(stat -c %s "$MB_TMP/x.2")" -lt $((4 * 1024 * 1024)) ] || mb_fail "all of x was sent"
mb_log "the download was reset (curl exit $crc)"
code=$(mb_in c1 curl -s -o /dev/null -w '%{http_code}' --max-time 30 "http://$SRV/images/cache/x")
[ "$code" = 404 ] || mb_fail "x answered HTTP $code after it was withdrawn"
mb_log "stopping"
mb_daemon_stop || mb_fail "minibossd exit status $?"
rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}"
mb_pass "demotion verifies the mapping; a truncated mapping withdraws the image, the daemon lives"
