#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Soak (issue 18): minibossd in a namespace of lib.sh's bed serves mixed
# traffic for MB_SOAK_SECONDS (default 90; MB_SOAK_LONG=1, which
# tools/run-tests.sh --long sets: 7200, 2 h)
# while its resources are sampled, and they must stay flat.
#
# Traffic, each a loop of short-lived clients (churn):
#   c1  the stock Frisbee client loads S2 (4 MiB, at 50 Mbit/s); every third
#       one is SIGKILLed 0.3 s in (a node that vanishes)
#   c2  curl over HTTP: S1 (8 MiB) whole, then a Range request of it, then a
#       download cut off after 0.3 s
#   c3  FTP: lftp get of S1 and curl of S2 in turn, and an aborted one
#   ops nginx (mutual TLS, on the daemon namespace's loopback) publishes a
#       new version of R every 20 s and the daemon syncs it (minibossctl
#       sync), so images are fetched, verified and swapped under load
#   a SIGHUP reload every 15 s
# Every completed download is compared with the image (SHA-256); a result
# that differs fails the test.
#
# Every 5 s (MB_SOAK_SAMPLE) the sampler writes one CSV row: seconds, the
# daemon's RSS (KiB), open descriptors, mbufs in use (packet and zero-copy
# pools, `minibossctl stats`), Frisbee session slots in use (`sessions`),
# TCP connections, FTP control connections.  The CSV goes to
# MB_SOAK_CSV (default <build>/meson-logs/soak.csv) and to stdout.
#
# Flat, after a warm-up of a third of the run (at least 20 s): the median
# of the last five samples is not above the median of the first five after
# the warm-up by more than: RSS 16 MiB + 5%, descriptors 8, mbufs 512,
# session slots 2, TCP connections 16, FTP connections 4.  (The traffic is
# the same all along, so a leak shows as a rising level; the median and the
# margins absorb a burst that happens to be in flight at a sample.)
# Needs root, the stock Frisbee tools (skips 77 without them), nginx, curl,
# lftp, openssl and a built minibossd.
set -u
MB_PREFIX=mbk
. "$(dirname "$0")/lib.sh"

SECS=${MB_SOAK_SECONDS:-90}
[ "${MB_SOAK_LONG:-0}" = 1 ] && SECS=${MB_SOAK_SECONDS:-7200}
EVERY=${MB_SOAK_SAMPLE:-5}
SRV=10.87.0.1
FRIS="$MB_FRISBEE_BIN/frisbee"
MANI=$MB_BUILD/tools/mb-manifest

mb_require_frisbee
[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl lftp nginx openssl ethtool nft
fail() { mb_fail "$*"; }
CSV=${MB_SOAK_CSV:-$MB_BUILD/meson-logs/soak.csv}
mkdir -p "$(dirname "$CSV")"

mb_bed_clients 10.87.0 3
T=$MB_TMP/sync
mkdir -p "$T"/www/emulab-ops
chmod 755 "$MB_TMP" "$T"
PORT=18470
NGX_EXEC="ip netns exec $(mb_ns srv)"
. "$(dirname "$0")/sync_lib.sh"
mkcerts
"$MANI" keygen "$T"/ops.key "$T"/ops.pub >/dev/null || fail "keygen"
mb_make_file "$T"/www/emulab-ops/S1 8 31
mb_make_file "$T"/www/emulab-ops/S2 4 32
# ops_publish N: R at version N (new bytes), S1 and S2 unchanged
ops_publish() {
	head -c 262144 /dev/urandom >"$T"/www/emulab-ops/R
	"$MANI" build "$T"/www --version-from "$1" -o "$T"/www/manifest.json >/dev/null ||
		fail "mb-manifest build"
	"$MANI" sign --key "$T"/ops.key "$T"/www/manifest.json >/dev/null || fail "sign"
	touch -d "@$((1700000000 + $1))" "$T"/www/manifest.json
}
ops_publish 1
ngx_start srv
MB_PIDS+=("$NGINX_PID")

{
	mb_conf_write "$SRV/24" | sed 's/^log-level = debug/log-level = info/'
	printf '\n[tcp]\nhttp-port = 80\nftp-port = 21\nidle-timeout = 30s\n'
	printf '\n[frisbee]\nidle-timeout = 10s\nrate = 50M\n'
	printf '\n[origin]\n'
	origin_conf
} >"$MB_TMP/mb.conf"
mb_daemon_start srv "$MB_TMP/mb.conf"
mb_daemon_wait_ready 40
mb_ctl sync --wait >/dev/null || mb_log "first sync --wait: $?"
for _ in $(seq 100); do
	[ "$(mb_ctl --json images | mb_json_eval \
		"sum(1 for i in j if i['state'] == 'ok')")" = 3 ] && break
	sleep 0.2
done
mb_ctl --json images | mb_json_eval "sum(1 for i in j if i['state'] == 'ok')" | grep -qx 3 ||
	fail "images not published: $(mb_ctl --json images)"
mb_wait_tcp c2 "$SRV" 80 20 || fail "HTTP port not reachable"
mb_wait_tcp c1 "$SRV" 64494 20 || fail "master server port not reachable"

S1=$(mb_sha "$T"/www/emulab-ops/S1)
S2=$(mb_sha "$T"/www/emulab-ops/S2)
RESULTS=$MB_TMP/results
: >"$RESULTS"
END=$(($(date +%s) + SECS))
S1F=$T/www/emulab-ops/S1
export END RESULTS SRV FRIS S1 S2 S1F MB_TMP

# check WHO FILE WANT: one result line (ok or BAD) into RESULTS
cat >"$MB_TMP/check.sh" <<'EOF'
check() {
	local got
	got=$(sha256sum "$2" 2>/dev/null | cut -d' ' -f1)
	if [ "$got" = "$3" ]; then echo "ok $1" >>"$RESULTS"; else echo "BAD $1 $got" >>"$RESULTS"; fi
	rm -f "$2"
}
EOF

# c1: Frisbee, every third one killed mid-way
mb_bg c1 bash -c '. "$MB_TMP/check.sh"; n=0
	while [ "$(date +%s)" -lt "$END" ]; do
		n=$((n + 1)); out=$MB_TMP/c1.out
		"$FRIS" -i 10.87.0.11 -S "$SRV" -T 30 -N -F emulab-ops/S2 "$out" 2>"$MB_TMP/c1.err" &
		p=$!
		if [ $((n % 3)) = 0 ]; then
			sleep 0.3
			{ kill -KILL $p && wait $p; } 2>/dev/null && echo "cut fris" >>"$RESULTS"
			wait $p 2>/dev/null; rm -f "$out"
		elif wait $p; then check fris "$out" "$S2"
		else echo "BAD fris exit $(tail -2 "$MB_TMP/c1.err" | tr "\n" " ")" >>"$RESULTS"; fi
		sleep 0.5
	done'
# c2: HTTP whole, ranged, cut
mb_bg c2 bash -c '. "$MB_TMP/check.sh"; u=http://$SRV/images/emulab-ops/S1
	while [ "$(date +%s)" -lt "$END" ]; do
		if curl -sS --max-time 60 --limit-rate 8M -o "$MB_TMP/c2.out" "$u"; then
			check http "$MB_TMP/c2.out" "$S1"
		else echo "BAD http exit" >>"$RESULTS"; fi
		if curl -sS --max-time 30 -r 1000000-1999999 -o "$MB_TMP/c2.r" "$u" &&
			tail -c +1000001 "$S1F" | head -c 1000000 | cmp -s - "$MB_TMP/c2.r"
		then echo "ok range" >>"$RESULTS"; else echo "BAD range" >>"$RESULTS"; fi
		rm -f "$MB_TMP/c2.r"
		curl -s --max-time 0.3 --limit-rate 2M -o /dev/null "$u"
		echo "cut http" >>"$RESULTS"
		sleep 0.3
	done'
# c3: FTP, lftp and curl in turn, and one cut
mb_bg c3 bash -c '. "$MB_TMP/check.sh"
	while [ "$(date +%s)" -lt "$END" ]; do
		if lftp -c "set cmd:fail-exit yes; set net:max-retries 2; set net:timeout 20; \
			set net:limit-rate 8000000; open $SRV; get emulab-ops/S1 -o $MB_TMP/c3.out" \
			>/dev/null 2>"$MB_TMP/c3.err"; then check lftp "$MB_TMP/c3.out" "$S1"
		else echo "BAD lftp $(tail -1 "$MB_TMP/c3.err")" >>"$RESULTS"; fi
		if curl -sS --max-time 60 --limit-rate 8M -o "$MB_TMP/c3.out" "ftp://$SRV/emulab-ops/S2"
		then check ftp "$MB_TMP/c3.out" "$S2"; else echo "BAD ftp exit" >>"$RESULTS"; fi
		curl -s --max-time 0.3 --limit-rate 2M -o /dev/null "ftp://$SRV/emulab-ops/S1"
		echo "cut ftp" >>"$RESULTS"
		sleep 0.3
	done'
CLIENTS=("${MB_PIDS[@]: -3}")

# one sample: seconds,rss_kib,fds,mbufs,sessions,tcp_conns,ftp_conns
sample() {
	local rss fds rest
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$MB_DAEMON_PID/status")
	fds=$(find "/proc/$MB_DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
	rest=$({
		mb_ctl --json stats
		echo
		mb_ctl --json sessions
		echo
		mb_ctl --json health
		echo
	} 2>/dev/null | python3 -c '
import json, sys
dec = json.JSONDecoder()
text = sys.stdin.read()
objs, i = [], 0
while len(objs) < 3:
    while text[i].isspace():
        i += 1
    o, i = dec.raw_decode(text, i)
    objs.append(o.get("result", o) if isinstance(o, dict) else o)
st, se, he = objs
m = st["mbufs"]
ftp = he.get("ftp", {})
print("%d,%d,%d,%d" % (m["in-use"] + m["zc-in-use"], len(se), st["tcp"]["tcp_conns"],
                      he["ftp"]["clients"]))') || return 1
	echo "$(($(date +%s) - START)),$rss,$fds,$rest"
}

START=$(date +%s)
echo "seconds,rss_kib,fds,mbufs_in_use,session_slots,tcp_conns,ftp_conns" >"$CSV"
rv=1
next_sync=$((START + 20))
next_hup=$((START + 15))
while [ "$(date +%s)" -lt "$END" ]; do
	kill -0 "$MB_DAEMON_PID" 2>/dev/null || fail "the daemon died"
	row=$(sample) || fail "sampling failed"
	echo "$row" >>"$CSV"
	now=$(date +%s)
	if [ "$now" -ge "$next_hup" ]; then
		kill -HUP "$MB_DAEMON_PID" || fail "SIGHUP"
		next_hup=$((now + 15))
	fi
	if [ "$now" -ge "$next_sync" ]; then
		rv=$((rv + 1))
		ops_publish "$rv"
		mb_ctl sync >/dev/null || mb_log "sync request refused (a round running?)"
		next_sync=$((now + 20))
	fi
	sleep "$EVERY"
done
for p in "${CLIENTS[@]}"; do
	wait "$p" || fail "a client loop failed"
done
row=$(sample) || fail "sampling failed"
echo "$row" >>"$CSV"
cat "$CSV"

# the last version of R published, verified
mb_ctl sync --wait >/dev/null || mb_log "last sync --wait: $?"
want_r=$(mb_sha "$T"/www/emulab-ops/R)
for _ in $(seq 100); do
	mb_ctl --json images | mb_json_eval \
		"[i['sha256'] for i in j if i['name'] == 'emulab-ops/R' and i['state'] == 'ok']" |
		grep -q "$want_r" && break
	sleep 0.2
done
mb_ctl --json images | grep -q "$want_r" || fail "the last R (version $rv) not published"
grep -c "reloaded" "$MB_DAEMON_LOG" >"$MB_TMP/nreload"

python3 - "$CSV" "$RESULTS" "$SECS" "$(cat "$MB_TMP/nreload")" "$rv" <<'EOF' || fail "not flat or a bad result"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
res = [l.split() for l in open(sys.argv[2]) if l.strip()]
secs, nreload, nver = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
bad = [" ".join(r) for r in res if r[0] == "BAD"]
count = {}
for r in res:
    count[" ".join(r[:2])] = count.get(" ".join(r[:2]), 0) + 1
print("SOAK results:", " ".join(f"{k}={v}" for k, v in sorted(count.items())),
      f"reloads={nreload} R-versions={nver}")
if bad:
    sys.exit("results differ or failed: " + "; ".join(bad[:5]))
for k in ("ok fris", "ok http", "ok range", "ok lftp", "ok ftp"):
    if count.get(k, 0) == 0:
        sys.exit(f"no {k} in the run")
warm = max(20, secs // 3)
after = [r for r in rows if int(r["seconds"]) >= warm]
if len(after) < 8:
    sys.exit(f"only {len(after)} samples after the warm-up")
w = min(5, len(after) // 2)
first, last = after[:w], after[-w:]
# the median of a window: one sample taken during a burst does not count
mean = lambda rs, k: sorted(float(r[k]) for r in rs)[len(rs) // 2]
margins = {"rss_kib": lambda a: 16384 + a * 0.05, "fds": lambda a: 8,
           "mbufs_in_use": lambda a: 512, "session_slots": lambda a: 2,
           "tcp_conns": lambda a: 16, "ftp_conns": lambda a: 4}
out = []
for k, m in margins.items():
    a, b = mean(first, k), mean(last, k)
    peak = max(float(r[k]) for r in rows)
    print(f"SOAK {k}: after warm-up {a:.0f}, at the end {b:.0f} (medians of {w}), peak {peak:.0f}, "
          f"margin {m(a):.0f}")
    if b > a + m(a):
        out.append(f"{k} grew from {a:.0f} to {b:.0f}")
if out:
    sys.exit("; ".join(out))
EOF
mb_daemon_stop || fail "exit status"
mb_pass "soak ${SECS}s: results identical, RSS, descriptors, mbufs, slots, connections flat"
