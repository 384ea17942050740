#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The dataplane of a running minibossd, end to end, in a server namespace
# with one client (lib.sh).  Cases:
#
#   sighup     the reloadable dataplane keys apply on SIGHUP: the daemon runs
#              with dpdk.idle-sleep-us = 0 (busy poll, most of a CPU), the
#              file then says 20000 and a SIGHUP makes the idle process use
#              almost none; changing frisbee.max-sessions (slots made at
#              start) or asking for a tcp.congestion-control that does not
#              exist (bbr) is refused naming the key, and the daemon keeps
#              its settings and serves on.
#   afxdp-kill net_af_xdp leaves its XDP program on the interface when the
#              process dies: a minibossd killed with SIGKILL is followed by
#              a new one (same instance) that removes what the dead one
#              left and serves; a program the daemon did not leave makes
#              the start fail with the command that removes it, and after
#              that command the daemon starts and serves.
#
# Serving is checked with curl over the dataplane's HTTP.  CPU use is read
# from /proc/PID/stat over a few seconds, with wide margins.  Needs root;
# prefix mbq.
set -u
MB_PREFIX=mbq
. "$(dirname "$0")/lib.sh"

CASE=${1:-sighup}
SRV=10.83.0.1

[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl nft ethtool sha256sum python3

# conf IDLE_US [extra lines]: the configuration file.
conf() {
	mb_conf_write "$SRV/24" | sed "s/^idle-sleep-us = .*/idle-sleep-us = $1/"
	printf '\n[tcp]\nhttp-port = 80\nftp-port = 0\nidle-timeout = 30s\n'
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@"
	true
}

setup() {
	mb_bridge_up
	mb_host srv "$SRV/24" noaddr
	mb_port_deaf srv
	mb_client c1 "10.83.0.11/24"
	mb_make_file "$MB_TMP/img" 2 7
	mb_state_add_image "$MB_TMP/state" test/img "$MB_TMP/img" 1 1700000000
	WANT=$(mb_sha "$MB_TMP/img")
}

# serves: the image comes over HTTP, whole.
serves() {
	rm -f "$MB_TMP/got"
	mb_wait_tcp c1 "$SRV" 80 20 || mb_fail "HTTP port not reachable ($1)"
	mb_in c1 curl -sSf --max-time 30 -o "$MB_TMP/got" "http://$SRV/images/test/img" ||
		mb_fail "curl failed ($1)"
	[ "$(mb_sha "$MB_TMP/got")" = "$WANT" ] || mb_fail "wrong bytes ($1)"
}

# cpu_pct SECONDS: the daemon's CPU use (percent of one CPU) over SECONDS.
# sleeps: the lcores' idle_sleeps counter.
sleeps() {
	mb_ctl --json stats | mb_json_eval "j['counters']['idle_sleeps']" || mb_fail "stats"
}

cpu_pct() {
	python3 - "$MB_DAEMON_PID" "$1" <<'PY'
import os, sys, time
pid, secs = sys.argv[1], float(sys.argv[2])
def ticks():
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])
hz = os.sysconf("SC_CLK_TCK")
t0, c0 = time.monotonic(), ticks()
time.sleep(secs)
t1, c1 = time.monotonic(), ticks()
print(int((c1 - c0) / hz / (t1 - t0) * 100))
PY
}

# hup WHAT: SIGHUP, then wait for the reload's outcome in the log (a new
# "reloaded" or "refused" line).
hup() {
	local n0 n
	n0=$(grep -c -E 'reloaded|reload refused' "$MB_DAEMON_LOG")
	kill -HUP "$MB_DAEMON_PID" || mb_fail "SIGHUP ($1)"
	for _ in $(seq 100); do
		n=$(grep -c -E 'reloaded|reload refused' "$MB_DAEMON_LOG")
		[ "$n" -gt "$n0" ] && return 0
		sleep 0.1
	done
	mb_fail "no reload outcome in the log after SIGHUP ($1)"
}

case_sighup() {
	local busy idle s0 s1 s2 s3
	setup
	conf 0 >"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	serves "busy polling"
	# What the lcore does is read from its idle_sleeps counter (loop passes
	# that slept), not from the daemon's CPU share, which a loaded machine
	# moves; the CPU share is reported.
	s0=$(sleeps)
	busy=$(cpu_pct 3)
	s1=$(sleeps)
	conf 20000 >"$MB_TMP/mb.conf"
	hup "idle-sleep-us"
	tail -n 3 "$MB_DAEMON_LOG" | grep -q 'reloaded' || mb_fail "reload not applied: $(tail -n 3 "$MB_DAEMON_LOG")"
	sleep 0.5
	s2=$(sleeps)
	idle=$(cpu_pct 4)
	s3=$(sleeps)
	mb_log "idle daemon: ${busy}% of a CPU and $((s1 - s0)) sleeps in 3 s with idle-sleep-us 0;" \
		"${idle}% and $((s3 - s2)) sleeps in 4 s after SIGHUP to 20000"
	[ "$((s1 - s0))" = 0 ] || mb_fail "idle-sleep-us = 0 should busy-poll: $((s1 - s0)) sleeps"
	# 20 ms naps: up to 200 in 4 s; at least a few even on a loaded machine
	[ "$((s3 - s2))" -ge 10 ] || mb_fail "idle-sleep-us = 20000 did not apply on SIGHUP: $((s3 - s2)) sleeps in 4 s"
	serves "sleeping between passes"

	# keys that cannot apply are refused, naming the key
	conf 20000 "" "[frisbee]" "max-sessions = 8" >"$MB_TMP/mb.conf"
	hup "max-sessions"
	tail -n 3 "$MB_DAEMON_LOG" | grep -q 'reload refused' &&
		tail -n 3 "$MB_DAEMON_LOG" | grep -q 'max-sessions' ||
		mb_fail "changing frisbee.max-sessions was not refused by name: $(tail -n 3 "$MB_DAEMON_LOG")"
	conf 20000 "congestion-control = bbr" >"$MB_TMP/mb.conf"
	hup "bbr"
	# the reason may stand on a line of its own before the refusal
	tail -n 3 "$MB_DAEMON_LOG" | grep -q 'reload refused' &&
		tail -n 3 "$MB_DAEMON_LOG" | grep -q "congestion-control.*'bbr' is not newreno or cubic" ||
		mb_fail "bbr was not refused: $(tail -n 3 "$MB_DAEMON_LOG")"
	s0=$(sleeps)
	sleep 2
	s1=$(sleeps)
	[ "$((s1 - s0))" -ge 5 ] || mb_fail "a refused reload changed the settings: $((s1 - s0)) sleeps in 2 s"
	serves "after refused reloads"
	mb_daemon_stop || mb_fail "minibossd exit status $?"
	mb_pass "dpdk.idle-sleep-us applies on SIGHUP; max-sessions and bbr are refused by name"
}

# xdp_prog: the id of the XDP program on the server's eth0, or nothing.
xdp_prog() {
	mb_in srv ip -d link show dev eth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1
}

case_afxdp_kill() {
	local prog
	export MB_VDEV=af_xdp
	setup
	conf 50 >"$MB_TMP/mb.conf"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	serves "first daemon"
	prog=$(xdp_prog)
	[ -n "$prog" ] || mb_fail "no XDP program on eth0 while net_af_xdp runs"
	# the process dies without closing its port
	mb_daemon_stop KILL
	[ "$(xdp_prog)" = "$prog" ] || mb_fail "the killed daemon's XDP program went away by itself"
	mb_log "SIGKILLed; XDP program $prog left on eth0"
	# the next daemon of this instance removes it and serves
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	grep -q "removed XDP program $prog" "$MB_DAEMON_LOG" ||
		mb_fail "the leftover program was not removed: $(grep -i xdp "$MB_DAEMON_LOG" | tail -n 3)"
	serves "after the leftover was removed"
	mb_log "the second daemon removed program $prog and serves"

	# a program this instance did not leave (its record is gone) is
	# someone else's: refused, with the command that removes it
	mb_daemon_stop KILL
	rm -f "/var/run/dpdk/${MB_PREFIX}${MB_RID}"/xdp-eth0
	prog=$(xdp_prog)
	[ -n "$prog" ] || mb_fail "no XDP program left by the second daemon"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_exit 10
	grep -q "ip link set dev eth0 xdp.* off" "$MB_DAEMON_LOG" ||
		mb_fail "the refusal does not name the fix: $(grep -i xdp "$MB_DAEMON_LOG" | tail -n 3)"
	mb_log "refused: $(grep -o "ip link set dev eth0 [a-z]* off" "$MB_DAEMON_LOG" | head -n 1)"
	# the operator runs the command the log names
	eval "mb_in srv $(grep -o "ip link set dev eth0 [a-z]* off" "$MB_DAEMON_LOG" | head -n 1)" ||
		mb_fail "the named command failed"
	[ -z "$(xdp_prog)" ] || mb_fail "the named command left the program"
	mb_daemon_start srv "$MB_TMP/mb.conf"
	mb_daemon_wait_ready 30
	serves "after the operator removed the program"
	mb_daemon_stop || mb_fail "minibossd exit status $?"
	[ -z "$(xdp_prog)" ] || mb_fail "a clean stop left the XDP program"
	mb_pass "a killed net_af_xdp daemon's leftover is removed by the next one; a foreign one is refused with the fix"
}

case "$CASE" in
sighup) case_sighup ;;
afxdp-kill) case_afxdp_kill ;;
*) mb_fail "unknown case '$CASE'" ;;
esac
