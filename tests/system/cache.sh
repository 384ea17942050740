#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The hugepage cache end to end (owner: cache): minibossd with a budget for
# two of its three 2 MiB images starts with the third in an mmap; real curl
# downloads that one over the dataplane's HTTP, which marks it served; the
# cache timer then demotes an idle image and promotes the served one into
# hugepages.  Checks `minibossctl images` (mem, warm) and `health`
# (store.cache budget/used/evictions/promotions), and that the downloads
# before and after the promotion equal the file.  Polls with generous
# bounds, asserts no timing.  Needs root; everything carries the prefix mbc.
set -u
MB_PREFIX=mbc
. "$(dirname "$0")/lib.sh"

SRV=10.79.0.1

[ -x "$MB_BUILD/server/minibossd" ] || mb_skip "minibossd not built at '$MB_BUILD/server/minibossd'"
mb_init
mb_require_cmd curl sha256sum nft ethtool python3

images_json() { mb_ctl --json images || mb_fail "minibossctl images"; }
health_json() { mb_ctl --json health; } # exit 1 when degraded: the JSON is there

mem_of() { images_json | mb_json_eval "[i['mem'] for i in (j) if i['name']=='$1'][0]"; }
cache_stat() { health_json | mb_json_eval "j['store']['cache']['$1']"; }

mb_bridge_up
mb_host srv "$SRV/24" noaddr
mb_port_deaf srv
mb_client c1 "10.79.0.11/24"
for n in a b c; do
	mb_make_file "$MB_TMP/$n" 2 "$n"
	mb_state_add_image "$MB_TMP/state" "cache/$n" "$MB_TMP/$n" 1 1700000000
done
{
	mb_conf_write "$SRV/24"
	printf '\n[images]\nhugepage-budget = 4M\n'
	printf '\n[tcp]\nhttp-port = 80\nidle-timeout = 30s\n'
} >"$MB_TMP/mb.conf"
mb_daemon_start srv "$MB_TMP/mb.conf"
mb_daemon_wait_ready 30
mb_wait_tcp c1 "$SRV" 80 15 || mb_fail "HTTP port not reachable"

# Wait for the three images to be verified.
for _ in $(seq 100); do
	n=$(images_json | mb_json_eval "sum(1 for i in j if i['state']=='ok')")
	[ "$n" = 3 ] && break
	sleep 0.2
done
[ "$n" = 3 ] || mb_fail "images not verified: $(images_json)"
[ "$(mem_of cache/a)" = hugepage ] || mb_fail "a not in hugepages: $(images_json)"
[ "$(mem_of cache/b)" = hugepage ] || mb_fail "b not in hugepages"
[ "$(mem_of cache/c)" = mmap ] || mb_fail "c should be mapped (budget): $(images_json)"
[ "$(cache_stat budget)" = 4194304 ] || mb_fail "budget: $(health_json)"
[ "$(cache_stat used)" = 4194304 ] || mb_fail "used: $(health_json)"

# Serve c (from the mmap): it becomes busy and is promoted.
mb_in c1 curl -sSf --max-time 60 -o "$MB_TMP/c.1" "http://$SRV/images/cache/c" ||
	mb_fail "curl c"
[ "$(mb_sha "$MB_TMP/c.1")" = "$(mb_sha "$MB_TMP/c")" ] || mb_fail "c differs"
for _ in $(seq 150); do
	[ "$(mem_of cache/c)" = hugepage ] && break
	sleep 0.2
done
[ "$(mem_of cache/c)" = hugepage ] || mb_fail "c not promoted: $(health_json)"
[ "$(cache_stat evictions)" -ge 1 ] || mb_fail "no eviction counted"
[ "$(cache_stat promotions)" -ge 1 ] || mb_fail "no promotion counted"
warm=$(images_json | mb_json_eval "sorted(i['name'] for i in j if i.get('warm'))")
[ "$warm" = "['cache/a', 'cache/c']" ] || [ "$warm" = "['cache/b', 'cache/c']" ] ||
	mb_fail "warm set: $warm"
[ "$(cache_stat used)" = 4194304 ] || mb_fail "used after promotion: $(health_json)"

# The promoted copy serves the same bytes.
mb_in c1 curl -sSf --max-time 60 -o "$MB_TMP/c.2" "http://$SRV/images/cache/c" ||
	mb_fail "curl c again"
[ "$(mb_sha "$MB_TMP/c.2")" = "$(mb_sha "$MB_TMP/c")" ] || mb_fail "promoted c differs"
grep -q "demoted from hugepages" "$MB_DAEMON_LOG" || mb_fail "no demotion logged"

# A Frisbee session (stock client) on the image now in an mmap promotes it
# too, displacing the never served warm one rather than c (served before).
if [ -d "$MB_FRISBEE_BIN" ]; then
	mb_require_frisbee
	cold=$(images_json | mb_json_eval "[i['name'] for i in j if i['mem']=='mmap'][0]")
	idle=$(images_json |
		mb_json_eval "[i['name'] for i in j if i['warm'] and i['name'] != 'cache/c'][0]")
	mb_wait_tcp c1 "$SRV" 64494 15 || mb_fail "master server port not reachable"
	mb_in c1 timeout 60 "$MB_FRISBEE_BIN/frisbee" -i 10.79.0.11 -S "$SRV" -T 30 -N \
		-F "$cold" "$MB_TMP/f.out" >"$MB_TMP/f.err" 2>&1 ||
		mb_fail "frisbee $cold: $(tail -5 "$MB_TMP/f.err")"
	[ "$(mb_sha "$MB_TMP/f.out")" = "$(mb_sha "$MB_TMP/${cold#cache/}")" ] ||
		mb_fail "frisbee output differs from $cold"
	for _ in $(seq 150); do
		[ "$(mem_of "$cold")" = hugepage ] && break
		sleep 0.2
	done
	[ "$(mem_of "$cold")" = hugepage ] || mb_fail "$cold not promoted: $(health_json)"
	[ "$(mem_of "$idle")" = mmap ] || mb_fail "$idle should have made room: $(images_json)"
	[ "$(mem_of cache/c)" = hugepage ] || mb_fail "c (busy) was demoted"
fi
# Every image, warm or not, serves its bytes.
for n in a b c; do
	mb_in c1 curl -sSf --max-time 60 -o "$MB_TMP/$n.3" "http://$SRV/images/cache/$n" ||
		mb_fail "curl $n"
	[ "$(mb_sha "$MB_TMP/$n.3")" = "$(mb_sha "$MB_TMP/$n")" ] || mb_fail "$n differs"
done
[ "$(cache_stat used)" = 4194304 ] || mb_fail "used at the end: $(health_json)"
# HTTP counts served bytes as they are acknowledged (carried across promotion).
served=$(images_json | mb_json_eval "[i['bytes-served'] for i in j if i['name']=='cache/c'][0]")
[ "$served" -ge $((2 * 2097152)) ] || mb_fail "bytes-served of cache/c: $served"
mb_daemon_stop || mb_fail "minibossd exit status $?"
rm -rf "/var/run/dpdk/${MB_PREFIX}${MB_RID}"
mb_pass "LRU demotion and promotion on demand"
