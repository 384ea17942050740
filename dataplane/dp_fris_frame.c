/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Frisbee engine's frames (see dp_fris_frame.h): headers, the UDP
 * checksum, and BLOCKs built from a per-burst template.
 *
 * A BLOCK is a 66-byte header mbuf (Ethernet, IPv4, UDP, Frisbee header,
 * chunk, block) followed by the 1 KiB payload through the dataplane's one
 * payload path (dp_zc.h): attached from the image's memory when the port
 * chains mbufs and the memory may be DMA'd, else copied into the header
 * mbuf.  Its UDP checksum is the template's sum of the constant words, plus
 * the block number's words and the payload's cached sum; its IPv4 checksum
 * (when the port does not offload it) the template's sum plus the id.
 */
#include <string.h>

#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "dp_cksum.h"
#include "dp_fris_frame.h"

#define FRIS_PREFETCH_AHEAD 8 /* blocks of the image loaded ahead of the copy */

/* The headers into buf (a frame's first bytes), IPv4 id `id` (network
 * order), both checksums 0; returns the IPv4 header. */
static struct rte_ipv4_hdr *
fris_put_headers(uint8_t *buf, const struct mb_dp_lcore *lc, const struct mb_dp_sess *s,
		 const struct rte_ether_addr *dmac, uint16_t plen, uint16_t id)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	eth->dst_addr = *dmac;
	eth->src_addr = lc->port->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + plen));
	ip->packet_id = id;
	ip->fragment_offset = 0;
	/* frisbee.mcast-ttl, reloadable: read per frame or burst */
	ip->time_to_live = s->method == MB_FRIS_MULTICAST ?
				   (uint8_t)atomic_load_explicit(&lc->dp->tun.mcast_ttl,
								 memory_order_relaxed) :
				   64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = lc->port->addr;
	ip->dst_addr = s->addr;
	udp->src_port = rte_cpu_to_be_16(s->port);
	udp->dst_port = rte_cpu_to_be_16(s->port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + plen));
	udp->dgram_cksum = 0;
	return ip;
}

uint8_t *
dp_fris_headers(struct mb_dp_lcore *lc, const struct mb_dp_sess *s, struct rte_mbuf *m,
		const struct rte_ether_addr *dmac, uint16_t plen)
{
	struct rte_ipv4_hdr *ip = fris_put_headers(rte_pktmbuf_mtod(m, uint8_t *), lc, s, dmac, plen,
						   rte_cpu_to_be_16(lc->ip_id++));

	dp_ip_cksum(lc->port, m, ip);
	return (uint8_t *)ip + sizeof(*ip) + sizeof(struct rte_udp_hdr);
}

void
dp_fris_udp_cksum(struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *,
							   sizeof(struct rte_ether_hdr));
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint16_t raw = 0;

	udp->dgram_cksum = 0;
	if (rte_raw_cksum_mbuf(m, sizeof(struct rte_ether_hdr) + sizeof(*ip),
			       rte_be_to_cpu_16(udp->dgram_len), &raw) != 0)
		return; /* cannot happen: the lengths are ours; 0 = no checksum */
	udp->dgram_cksum = dp_udp_cksum_field((uint32_t)raw + rte_ipv4_phdr_cksum(ip, 0));
}

void
dp_fris_tmpl_init(struct dp_fris_tmpl *t, struct mb_dp_lcore *lc, const struct mb_dp_sess *s,
		  const struct rte_ether_addr *dmac, uint32_t chunk)
{
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	/* both parts of a BLOCK's UDP sum start at an even offset of the
	 * datagram, so the headers' sum and the payload's add */
	RTE_BUILD_BUG_ON(((sizeof(*udp) + MB_FRIS_BLOCK_DATA_OFF) & 1) != 0);
	RTE_BUILD_BUG_ON(MB_FRIS_BLOCK_SIZE != MB_IMAGE_SUM_BLOCK);
	memset(t, 0, sizeof(*t));
	ip = fris_put_headers(t->hdr, lc, s, dmac, MB_FRIS_BLOCK_LEN, 0);
	udp = (struct rte_udp_hdr *)(ip + 1);
	(void)mb_fris_encode_block(udp + 1, MB_FRIS_BLOCK_DATA_OFF + MB_FRIS_BLOCK_SIZE,
				   lc->port->addr, chunk, 0, NULL);
	t->ip_sum = rte_raw_cksum(ip, sizeof(*ip));
	t->udp_sum = (uint32_t)rte_raw_cksum(udp, sizeof(*udp) + MB_FRIS_BLOCK_DATA_OFF) +
		     rte_ipv4_phdr_cksum(ip, 0);
	if (lc->port->tx_ip_cksum) {
		t->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
		t->tx_offload = rte_mbuf_tx_offload(sizeof(struct rte_ether_hdr), sizeof(*ip), 0, 0,
						    0, 0, 0);
	}
	t->img = s->img;
	t->chunk = chunk;
}

/* The one's complement sum of the image's 1 KiB at `off` (a whole block
 * inside the image's memory): from the image's cache, computed on the
 * block's first send. */
static inline uint32_t
fris_payload_sum(const struct mb_image *img, uint64_t off)
{
	uint32_t *slot = &img->blk_sum[off / MB_FRIS_BLOCK_SIZE];
	uint32_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (v == 0) {
		v = 0x10000u | rte_raw_cksum(img->sb.data + off, MB_FRIS_BLOCK_SIZE);
		/* every lcore writing it stores the same value */
		__atomic_store_n(slot, v, __ATOMIC_RELAXED);
	}
	return v & 0xffff;
}

/* Start loading a block of the image into the cache a few blocks ahead of
 * its copy: the image streams from DRAM and crosses a page every 4 blocks,
 * which the hardware prefetcher does not follow. */
static inline void
fris_prefetch(const struct mb_image *img, uint64_t off)
{
	const uint8_t *p = img->sb.data + off;
	unsigned k;

	if (off + MB_FRIS_BLOCK_SIZE > img->sb.len)
		return;
	for (k = 0; k < MB_FRIS_BLOCK_SIZE; k += RTE_CACHE_LINE_SIZE)
		rte_prefetch0(p + k);
}

unsigned
dp_fris_blocks(struct mb_dp_lcore *lc, struct mb_dp_sess *s, const struct dp_fris_tmpl *t,
	       struct rte_mbuf **mb, unsigned n, uint32_t block)
{
	const struct mb_image *img = t->img;
	const struct mb_dp_zc *zc = &lc->port->zc;
	uint64_t off = ((uint64_t)t->chunk * MB_FRIS_CHUNK_BLOCKS + block) * MB_FRIS_BLOCK_SIZE;
	bool cached = img->blk_sum != NULL;
	/* the payload is read here when it is copied (a heap or mmap image, a
	 * port that does not chain), or summed on the block's first send */
	bool reads = zc->pool == NULL || img->sb.iova == MB_SBUF_IOVA_NONE || !cached;
	unsigned i, attached = 0;

	/* the payloads attached for the whole burst at once where they may be */
	if (zc->pool != NULL && img->sb.iova != MB_SBUF_IOVA_NONE)
		attached = mb_dp_zc_attach_burst(zc, mb, n, &s->img->sb, off, MB_FRIS_BLOCK_SIZE,
						 DP_FRIS_BLOCK_HDRS_LEN);

	for (i = 0; i < n; i++, block++, off += MB_FRIS_BLOCK_SIZE) {
		struct rte_mbuf *m = mb[i];
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + sizeof(struct rte_ether_hdr));
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
		uint8_t *fh = (uint8_t *)(udp + 1);
		uint16_t id = rte_cpu_to_be_16(lc->ip_id++);
		uint32_t sum, wblock;
		int how;

		if (reads)
			fris_prefetch(img, off + FRIS_PREFETCH_AHEAD * MB_FRIS_BLOCK_SIZE);
		memcpy(d, t->hdr, DP_FRIS_BLOCK_HDRS_LEN);
		ip->packet_id = id;
		if (t->ol_flags != 0) {
			m->ol_flags |= t->ol_flags;
			m->tx_offload = t->tx_offload;
		} else {
			ip->hdr_checksum = dp_ip_cksum_field(t->ip_sum + id);
		}
		/* the block number: little-endian on the wire (mb_fris_put32), one store */
		wblock = rte_cpu_to_le_32(block);
		memcpy(fh + MB_FRIS_HDR_LEN + 4, &wblock, sizeof(wblock));
		m->data_len = DP_FRIS_BLOCK_HDRS_LEN;
		if (i >= attached) {
			m->pkt_len = DP_FRIS_BLOCK_HDRS_LEN;
			how = mb_dp_zc_append(zc, m, &s->img->sb, off, MB_FRIS_BLOCK_SIZE);
			if (how < 0) {
				rte_pktmbuf_free_bulk(mb + i, n - i);
				break;
			}
			if (how == MB_DP_ZC_COPIED_NODMA)
				dp_count(lc, MB_DP_C_tx_copy_nodma, 1);
		}
		if (likely(cached && off + MB_FRIS_BLOCK_SIZE <= img->sb.len)) {
			sum = t->udp_sum + dp_cksum_word32(wblock) + fris_payload_sum(img, off);
			udp->dgram_cksum = dp_udp_cksum_field(sum);
		} else {
			dp_fris_udp_cksum(m); /* no cache: the frame's bytes */
		}
		if (dp_tx_frame(lc, m) != 0) {
			rte_pktmbuf_free_bulk(mb + i + 1, n - i - 1);
			break;
		}
	}
	return i;
}
