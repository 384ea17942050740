# SPDX-License-Identifier: BSD-3-Clause
#
# The network testbed that the system tests (tests/system/lib.sh) and the
# demo (tools/demo.sh) build out of network namespaces: one namespace
# holding a Linux bridge with IGMP snooping and a querier (a snooping
# switch), and hosts whose eth0 is plugged into it by a veth pair.  Source
# it (bash).  The functions return 0, or 1 when a step failed (ip said why
# on stderr): the caller reports.  Every namespace they create is appended
# to the array MB_NETNS, which the caller's cleanup deletes (a namespace
# that existed before is not ours and is never added).

# mb_netbed_ns NS: create namespace NS with its loopback up, recorded.
mb_netbed_ns() {
	ip netns add "$1" || return 1
	MB_NETNS+=("$1")
	ip -n "$1" link set lo up
}

# mb_netbed_bridge NS: namespace NS with bridge br0, IGMP snooping and a
# querier.  Queries every 5 s, answered within 1 s (times in 1/100 s): a
# host whose IGMP report was lost (under a multicast flood the kernel drops
# frames when the veth backlog overflows) is learned again within seconds,
# not at the default 125 s query interval, long after its client gave up.
mb_netbed_bridge() {
	local ns=$1
	mb_netbed_ns "$ns" &&
		ip -n "$ns" link add br0 type bridge mcast_snooping 1 mcast_querier 1 \
			mcast_query_interval 500 mcast_query_response_interval 100 \
			mcast_startup_query_interval 100 &&
		ip -n "$ns" link set br0 up
}

# mb_netbed_host BRNS NS PORT [ADDR/LEN]: namespace NS whose eth0 is plugged
# into BRNS's br0 by a veth pair (PORT is the bridge side's name), with
# ADDR/LEN on eth0 unless it is empty (a DPDK port uses the veth).
mb_netbed_host() {
	local br=$1 ns=$2 port=$3 addr=${4:-}
	mb_netbed_ns "$ns" &&
		ip -n "$br" link add "$port" type veth peer name "${port}h" &&
		ip -n "$br" link set "${port}h" netns "$ns" &&
		ip -n "$ns" link set "${port}h" name eth0 &&
		ip -n "$br" link set "$port" master br0 up &&
		ip -n "$ns" link set eth0 up || return 1
	[ -z "$addr" ] || ip -n "$ns" addr add "$addr" brd + dev eth0
}
