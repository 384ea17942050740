#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# minibossd under valgrind memcheck through a whole serving round: the
# daemon (net_af_packet over its namespace's veth, EAL on --no-huge memory,
# as every system test) syncs three images from a real nginx with mutual
# TLS, serves one to the stock Frisbee client, over HTTP to curl and over
# FTP to curl and lftp; ops publishes a new version and a second sync round
# swaps it in; a SIGHUP reloads the configuration (a reloadable key
# changed); the new version is served again over Frisbee and HTTP; then
# SIGTERM.  Every download must be byte-identical to what ops published,
# the daemon must exit 0, and memcheck must report 0 errors with 0 bytes
# definitely and 0 bytes indirectly lost (--leak-check=full,
# --errors-for-leak-kinds=definite,indirect: a leak of either kind is an
# error, and --error-exitcode turns any error into exit 99).
#
# Everything runs 20 to 50 times slower under memcheck, so the images are
# small (a 3 MB image, three Frisbee chunks) and every wait is long.
# Needs root, valgrind, nginx, openssl, curl, lftp, the stock Frisbee tools
# and a built minibossd that is not a sanitizer build (valgrind and ASan do
# not mix: this test skips in a build with -Db_sanitize).
set -u
MB_PREFIX=mbv
. "$(dirname "$0")/lib.sh"
MANI=$MB_BUILD/tools/mb-manifest
FRIS="$MB_FRISBEE_BIN/frisbee"
SRV=10.89.0.1

mb_require_frisbee
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
readelf -d "$MB_BUILD/server/minibossd" 2>/dev/null | grep -q 'lib[at]san\|libubsan' &&
	mb_skip "'$MB_BUILD' is a sanitizer build (valgrind needs a plain one)"
mb_require_cmd valgrind nginx openssl curl lftp readelf
fail() { mb_fail "$*"; }
mb_init
mb_bridge_up
mb_host srv "$SRV/24" noaddr
mb_port_deaf srv
mb_client c1 10.89.0.11/24
mb_client c2 10.89.0.12/24
T=$MB_TMP/sync
mkdir -p "$T"
chmod 755 "$MB_TMP" "$T"
PORT=18461
NGX_EXEC="ip netns exec $(mb_ns srv)"
. "$(dirname "$0")/sync_lib.sh"
ngx_up() { ngx_start "$@"; MB_PIDS+=("$NGINX_PID"); }

mkcerts
mkimages
# A of three Frisbee chunks (and a partial one), so the client requests,
# the session's block queue and the HTTP and FTP data paths all run for a while.
head -c 3500000 /dev/urandom >"$T"/www/emulab-ops/A
publish 1
ngx_up srv
{
	mb_conf_write "$SRV/24"
	printf '\n[tcp]\nhttp-port = 80\nftp-port = 21\nidle-timeout = 60s\n'
	printf '\n[frisbee]\nidle-timeout = 60s\n'
	printf '\n[origin]\n'
	origin_conf | sed 's/^timeout = .*/timeout = 60s/'
} >"$MB_TMP"/mb.conf

# images_ok NAME...: every NAME published with the bytes under www/.
WAIT_IMAGES_POLL=0.4 # memcheck is slow: poll less often

VG_LOG=$MB_TMP/valgrind.log
MB_DAEMON_WRAPPER="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
	--track-origins=no --fair-sched=yes --num-callers=30 --log-file=$VG_LOG
	--suppressions=$MB_SRC/tests/system/valgrind-dpdk.supp"
mb_daemon_start srv "$MB_TMP"/mb.conf
mb_daemon_wait_ready 300

# fetched WHAT FILE WANT: FILE is byte-identical to WANT (what ops published).
fetched() {
	[ -f "$2" ] || fail "$1: nothing downloaded"
	cmp -s "$2" "$3" || fail "$1: differs from what ops published" \
		"($(stat -c %s "$2") of $(stat -c %s "$3") bytes)"
}
# loads TAG: the stock client and curl over HTTP at once, then FTP (curl,
# and lftp for the other image), each compared with the published files.
loads() {
	local tag=$1 pf ph
	mb_bg c1 timeout 300 "$FRIS" -i 10.89.0.11 -S "$SRV" -T 240 -N -F emulab-ops/A \
		"$MB_TMP/fris.$tag" 2>"$MB_TMP/fris.$tag.err"
	pf=$MB_LAST_PID
	mb_bg c2 curl -sS --max-time 300 -o "$MB_TMP/http.$tag" "http://$SRV/images/emulab-ops/A" \
		2>"$MB_TMP/http.$tag.err"
	ph=$MB_LAST_PID
	wait "$pf" || fail "frisbee ($tag): $(tail -n 5 "$MB_TMP/fris.$tag.err")"
	wait "$ph" || fail "HTTP ($tag): $(cat "$MB_TMP/http.$tag.err")"
	fetched "Frisbee ($tag)" "$MB_TMP/fris.$tag" "$T"/www/emulab-ops/A
	fetched "HTTP ($tag)" "$MB_TMP/http.$tag" "$T"/www/emulab-ops/A
	mb_in c2 curl -sS --max-time 300 -o "$MB_TMP/ftp.$tag" "ftp://$SRV/emulab-ops/A" ||
		fail "FTP curl ($tag)"
	fetched "FTP curl ($tag)" "$MB_TMP/ftp.$tag" "$T"/www/emulab-ops/A
	mb_in c2 timeout 300 lftp -c "set cmd:fail-exit yes; set net:timeout 60; \
		set net:max-retries 2; open ftp://$SRV; get emulab-ops/B -o $MB_TMP/lftp.$tag" \
		>"$MB_TMP/lftp.$tag.err" 2>&1 ||
		fail "lftp ($tag): $(cat "$MB_TMP/lftp.$tag.err")"
	fetched "lftp ($tag)" "$MB_TMP/lftp.$tag" "$T"/www/emulab-ops/B
	mb_log "$tag: Frisbee, HTTP, FTP (curl, lftp) identical"
}

# Round 1: the first sync, then the loads.
mb_ctl sync --wait >/dev/null || fail "first sync round"
wait_images emulab-ops/A emulab-ops/B C
loads v1

# Round 2: ops publishes version 2 (new bytes for A and C), a sync round
# swaps them in.
head -c 3500000 /dev/urandom >"$T"/www/emulab-ops/A
head -c 6000 /dev/urandom >"$T"/www/C
publish 2
mb_ctl sync --wait >/dev/null || fail "second sync round"
wait_images emulab-ops/A emulab-ops/B C

# A SIGHUP reload with a reloadable key changed.
n0=$(grep -c -E 'reloaded|reload refused' "$MB_DAEMON_LOG")
sed -i 's/^idle-sleep-us = .*/idle-sleep-us = 300/' "$MB_TMP"/mb.conf
kill -HUP "$MB_DAEMON_PID" || fail "SIGHUP"
for _ in $(seq 600); do
	[ "$(grep -c -E 'reloaded|reload refused' "$MB_DAEMON_LOG")" -gt "$n0" ] && break
	sleep 0.2
done
tail -n 20 "$MB_DAEMON_LOG" | grep -q 'reloaded' ||
	fail "SIGHUP: no reload in the log: $(tail -n 5 "$MB_DAEMON_LOG")"
loads v2

# SIGTERM: exit 0 (99 would be memcheck's errors), then the leak summary.
mb_daemon_stop TERM
rc=$?
[ -s "$VG_LOG" ] || fail "no valgrind log"
sed -n '/HEAP SUMMARY/,$p' "$VG_LOG" >&2
[ "$rc" = 0 ] || { cat "$VG_LOG" >&2; fail "minibossd under valgrind exited $rc"; }
grep -q "ERROR SUMMARY: 0 errors" "$VG_LOG" || { cat "$VG_LOG" >&2; fail "memcheck errors"; }
# "All heap blocks were freed" or the two lines at 0 bytes.
if ! grep -q "All heap blocks were freed" "$VG_LOG"; then
	grep -q "definitely lost: 0 bytes in 0 blocks" "$VG_LOG" || fail "definitely lost bytes"
	grep -q "indirectly lost: 0 bytes in 0 blocks" "$VG_LOG" || fail "indirectly lost bytes"
fi
mb_pass "memcheck: 0 errors, 0 bytes definitely or indirectly lost over sync, Frisbee," \
	"HTTP, FTP, a second sync round, SIGHUP and SIGTERM"
