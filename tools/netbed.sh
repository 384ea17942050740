# SPDX-License-Identifier: BSD-3-Clause
#
# The network testbed that the system tests (tests/system/lib.sh) and the
# demo (tools/demo.sh) build out of network namespaces: one namespace
# holding a Linux bridge with IGMP snooping and a querier (a snooping
# switch), and hosts whose eth0 is plugged into it by a veth pair.  Source
# it (bash).  The functions return 0, 2 when the namespace itself could not
# be created (it is not ours: do not remove it), or 1 for a later step; the
# caller reports, records the namespaces for its cleanup and removes them.

# mb_netbed_bridge NS: namespace NS with bridge br0, IGMP snooping and a
# querier.  Queries every 5 s, answered within 1 s (times in 1/100 s): a
# host whose IGMP report was lost (under a multicast flood the kernel drops
# frames when the veth backlog overflows) is learned again within seconds,
# not at the default 125 s query interval, long after its client gave up.
mb_netbed_bridge() {
	local ns=$1
	ip netns add "$ns" || return 2
	ip -n "$ns" link set lo up &&
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
	ip netns add "$ns" || return 2
	ip -n "$br" link add "$port" type veth peer name "${port}h" &&
		ip -n "$br" link set "${port}h" netns "$ns" &&
		ip -n "$ns" link set "${port}h" name eth0 &&
		ip -n "$br" link set "$port" master br0 up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" link set eth0 up || return 1
	[ -z "$addr" ] || ip -n "$ns" addr add "$addr" brd + dev eth0
}
