#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Cold mmap images (owner: store, issue 19): minibossd with a hugepage budget
# no image fits serves a 32 MiB image from its file mapping; the file's pages
# are taken out of the page cache (evict_pages.py: the daemon's mapping paged
# out with process_madvise, then POSIX_FADV_DONTNEED on that file only) and
# the image is fetched cold, by real curl over the dataplane's HTTP (rate
# limited, so the transfer lasts seconds) and, where the stock Emulab tools
# are, by the stock frisbee client through the master server.  Each copy must
# equal the file, and the read-ahead thread (common/mb_readahead.c) must have
# read pages of it in (store.readahead.pages-read grows, no errors).  The
# lcores' major faults (stats counters.major_faults) are logged, not
# asserted: how many the lcore still takes depends on how the machine
# schedules the two threads.  Needs root; everything carries the prefix mbk.
set -u
MB_PREFIX=mbk
. "$(dirname "$0")/lib.sh"

SRV=10.81.0.1
EVICT=$(dirname "$0")/evict_pages.py
IMG=cold/big
MIB=32

mb_init
mb_require_cmd curl sha256sum python3

health_json() { mb_ctl --json health; } # exit 1 when degraded: the JSON is there
ra_stat() { health_json | mb_json_eval "j['store']['readahead']['$1']"; }
majflt() { mb_ctl --json stats | mb_json_eval "j['counters']['major_faults']"; }

mb_bridge_up
mb_host srv "$SRV/24" noaddr
mb_port_deaf srv
mb_client c1 "10.81.0.11/24"
mb_make_file "$MB_TMP/big" $MIB big
mb_state_add_image "$MB_TMP/state" "$IMG" "$MB_TMP/big" 1 1700000000
FILE=$MB_TMP/state/images/$IMG
{
	mb_conf_write "$SRV/24"
	# 1 MiB: no image fits, every one is served from its file
	printf '\n[images]\nhugepage-budget = 1M\nreadahead = 8M\n'
	printf '\n[tcp]\nhttp-port = 80\nidle-timeout = 30s\n'
} >"$MB_TMP/mb.conf"
mb_daemon_start srv "$MB_TMP/mb.conf"
mb_daemon_wait_ready 60
mb_wait_tcp c1 "$SRV" 80 15 || mb_fail "HTTP port not reachable"
mem=$(mb_ctl --json images | mb_json_eval "[i['mem'] for i in j if i['name']=='$IMG'][0]")
[ "$mem" = mmap ] || mb_fail "$IMG should be mapped (budget): $(mb_ctl --json images)"
[ "$(ra_stat window)" = $((8 << 20)) ] || mb_fail "readahead window: $(health_json)"

# evict: take the image's pages out of the page cache, the daemon's mapping too
evict() {
	local res
	res=$(python3 "$EVICT" "$MB_DAEMON_PID" "$FILE")
	case $? in
	0) ;;
	2) mb_skip "cannot page out another process's mapping here (process_madvise)" ;;
	*) mb_fail "evict_pages.py failed" ;;
	esac
	# a file system that keeps its pages (tmpfs) cannot give a cold image
	python3 -c "import sys; sys.exit(0 if float('$res') <= 0.1 else 1)" ||
		mb_skip "the file's pages stay resident ($res of them) on this file system"
	mb_log "evicted: $res of $FILE resident"
}

# 1. HTTP, cold.  16 MiB/s: two seconds for the read-ahead to run ahead of
# the lcore (it reads at the disk's rate; nothing is timed).
evict
r0=$(ra_stat pages-read)
m0=$(majflt)
mb_in c1 curl -sSf --max-time 120 --limit-rate 16M -o "$MB_TMP/http.out" \
	"http://$SRV/images/$IMG" || mb_fail "curl $IMG"
[ "$(mb_sha "$MB_TMP/http.out")" = "$(mb_sha "$MB_TMP/big")" ] || mb_fail "HTTP copy differs"
r1=$(ra_stat pages-read)
m1=$(majflt)
mb_log "HTTP cold: read-ahead read $((r1 - r0)) pages, lcore major faults $((m1 - m0))"
[ "$r1" -gt "$r0" ] || mb_fail "the read-ahead read nothing for HTTP: $(health_json)"
[ "$(ra_stat errors)" = 0 ] || mb_fail "read-ahead errors: $(health_json)"
[ "$(ra_stat streams-started)" -ge 1 ] || mb_fail "no read-ahead stream: $(health_json)"

# 2. The stock Frisbee client through the master server, cold again.
if [ -d "$MB_FRISBEE_BIN" ]; then
	mb_require_frisbee
	# the image left the read-ahead's hands once idle (2 s), so the next
	# reader is seen anew
	for _ in $(seq 100); do
		[ "$(ra_stat images)" = 0 ] && break
		sleep 0.1
	done
	evict
	r0=$(ra_stat pages-read)
	m0=$(majflt)
	mb_wait_tcp c1 "$SRV" 64494 15 || mb_fail "master server port not reachable"
	mb_in c1 timeout 120 "$MB_FRISBEE_BIN/frisbee" -i 10.81.0.11 -S "$SRV" -T 60 -N \
		-F "$IMG" "$MB_TMP/fris.out" >"$MB_TMP/fris.err" 2>&1 ||
		mb_fail "frisbee $IMG: $(tail -5 "$MB_TMP/fris.err")"
	[ "$(mb_sha "$MB_TMP/fris.out")" = "$(mb_sha "$MB_TMP/big")" ] ||
		mb_fail "Frisbee copy differs"
	r1=$(ra_stat pages-read)
	m1=$(majflt)
	mb_log "Frisbee cold: read-ahead read $((r1 - r0)) pages, lcore major faults $((m1 - m0))"
	[ "$r1" -gt "$r0" ] || mb_fail "the read-ahead read nothing for Frisbee: $(health_json)"
	[ "$(ra_stat errors)" = 0 ] || mb_fail "read-ahead errors: $(health_json)"
else
	mb_log "stock Frisbee tools not at '$MB_FRISBEE_BIN': HTTP only"
fi

mb_daemon_stop || mb_fail "minibossd exit status $?"
rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}"
mb_pass "cold mmap image served byte for byte, read ahead off the lcore"
