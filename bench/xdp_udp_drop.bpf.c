// SPDX-License-Identifier: BSD-3-Clause
/*
 * Benchmark sink: an XDP program for the receiving end of a benchmark veth pair. It drops every
 * IPv4 UDP frame of at least MB_SINK_MIN_LEN bytes (a Frisbee BLOCK is 1090) as early as the
 * kernel allows, so a sender's rate is measured without the cost of a socket or a stack on the
 * receiving side, and passes everything else: ARP, TCP, ICMP, and the small UDP messages of the
 * Frisbee protocol (JOIN replies), so receivers behind the sink keep asking for blocks they
 * never get and keep a Frisbee server sending at its full rate. The veth driver counts every
 * frame it hands to XDP in the interface's rx_packets/rx_bytes statistics, which is what
 * bench/run reads.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MB_SINK_MIN_LEN 512

SEC("xdp")
int
mb_bench_xdp_udp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (end - data < MB_SINK_MIN_LEN)
		return XDP_PASS;
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
