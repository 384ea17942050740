// SPDX-License-Identifier: BSD-3-Clause
/*
 * Benchmark sink: an XDP program for the receiving end of a benchmark veth pair. It drops every
 * IPv4 UDP frame as early as the kernel allows, so a sender's rate is measured without the cost
 * of a socket or a stack on the receiving side, and passes everything else (ARP, TCP, ICMP) so
 * that neighbour resolution keeps working. The veth driver counts every frame it hands to XDP
 * in the interface's rx_packets/rx_bytes statistics, which is what bench/run reads.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

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
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
