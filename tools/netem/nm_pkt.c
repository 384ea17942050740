/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frame inspection and Internet checksums for mb-netem (see nm_pkt.h).
 *
 * The parser walks Ethernet, up to two 802.1Q/802.1ad tags, then IPv4 or
 * IPv6, then TCP or UDP, checking every length against the frame before
 * using it: these frames come from test hosts that may send anything, and a
 * forwarder that reads past a frame would corrupt what it is meant to
 * measure.  The checksum routine sums 64-bit loads into a 64-bit
 * accumulator and folds at the end, a few times faster than a byte-pair loop,
 * which matters because every frame a sender leaves with a partial checksum
 * is summed here in full.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "mb_bytes.h"
#include "nm_pkt.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define IPV4_MIN_HLEN 20
#define IPV6_HLEN 40
#define TCP_MIN_HLEN 20
#define UDP_HLEN 8
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define IPV4_CSUM_OFF 10

uint16_t
nm_csum(const void *buf, uint32_t len, uint16_t sum)
{
	const uint8_t *p = buf;
	uint64_t s = sum;
	uint64_t w8;
	uint32_t w4;
	uint16_t w2;

	/* Each step adds at most 2^33; 2^30 steps would be needed to overflow. */
	while (len >= 8) {
		memcpy(&w8, p, 8);
		s += (w8 & 0xffffffffu) + (w8 >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w4, p, 4);
		s += w4;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w2, p, 2);
		s += w2;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&w2, last, 2);
		s += w2;
	}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The TCP/UDP header of a parsed IP datagram at `l4`, up to `end`. */
static void
parse_l4(const uint8_t *f, uint8_t proto, struct nm_pkt *pi)
{
	uint32_t l4 = pi->l4, end = pi->end, hl;

	if (proto == IPPROTO_TCP) {
		if (end - l4 < TCP_MIN_HLEN)
			goto none;
		hl = (uint32_t)(f[l4 + 12] >> 4) * 4;
		if (hl < TCP_MIN_HLEN || hl > end - l4)
			goto none;
	} else if (proto == IPPROTO_UDP) {
		if (end - l4 < UDP_HLEN || mb_bytes_get_be16(f + l4 + 4) != end - l4)
			goto none;
		hl = UDP_HLEN;
	} else {
		goto none;
	}
	pi->proto = proto;
	pi->pay = l4 + hl;
	pi->sport = mb_bytes_get_be16(f + l4);
	pi->dport = mb_bytes_get_be16(f + l4 + 2);
	return;
none:
	pi->l4 = 0;
	pi->pay = 0;
}

bool
nm_pkt_parse(const uint8_t *f, uint32_t len, struct nm_pkt *ret)
{
	uint32_t off = NM_ETH_HLEN, hl, tot;
	uint16_t type;
	int tags;

	memset(ret, 0, sizeof(*ret));
	if (len < NM_ETH_HLEN)
		return false;
	type = mb_bytes_get_be16(f + 12);
	for (tags = 0; tags < 2 && (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ); tags++) {
		if (len - off < 4)
			return false;
		type = mb_bytes_get_be16(f + off + 2);
		off += 4;
	}
	if (type == ETHERTYPE_IPV4) {
		if (len - off < IPV4_MIN_HLEN || (f[off] >> 4) != 4)
			return false;
		hl = (uint32_t)(f[off] & 0x0f) * 4;
		tot = mb_bytes_get_be16(f + off + 2);
		if (hl < IPV4_MIN_HLEN || tot < hl || tot > len - off)
			return false;
		ret->ipv = 4;
		ret->l3 = off;
		ret->end = off + tot;
		/* MF set or a fragment offset: the L4 header is absent or its
		 * checksum covers bytes this frame does not hold. */
		if (mb_bytes_get_be16(f + off + 6) & 0x3fff)
			return true;
		ret->l4 = off + hl;
		parse_l4(f, f[off + 9], ret);
		return true;
	}
	if (type == ETHERTYPE_IPV6) {
		if (len - off < IPV6_HLEN || (f[off] >> 4) != 6)
			return false;
		tot = mb_bytes_get_be16(f + off + 4);
		if (tot > len - off - IPV6_HLEN)
			return false;
		ret->ipv = 6;
		ret->l3 = off;
		ret->end = off + IPV6_HLEN + tot;
		ret->l4 = off + IPV6_HLEN;
		parse_l4(f, f[off + 6], ret);
		return true;
	}
	return false;
}

int
nm_pkt_csum_complete(uint8_t *f, uint32_t len, uint32_t start, uint32_t off)
{
	uint16_t c;

	if (start >= len || off > len - start || len - start - off < 2)
		return -EINVAL;
	c = (uint16_t)~nm_csum(f + start, len - start, 0);
	if (c == 0)
		c = 0xffff;
	memcpy(f + start + off, &c, 2);
	return 0;
}

/* Folded sum of the pseudo-header of a parsed TCP/UDP datagram. */
static uint16_t
pseudo_sum(const uint8_t *f, const struct nm_pkt *pi)
{
	uint8_t ph[40];
	uint32_t l4len = pi->end - pi->l4;

	if (pi->ipv == 4) {
		memcpy(ph, f + pi->l3 + 12, 8);		/* source, destination */
		ph[8] = 0;
		ph[9] = pi->proto;
		mb_bytes_put_be16(ph + 10, (uint16_t)l4len);
		return nm_csum(ph, 12, 0);
	}
	memcpy(ph, f + pi->l3 + 8, 32);
	mb_bytes_put_be32(ph + 32, l4len);
	ph[36] = ph[37] = ph[38] = 0;
	ph[39] = pi->proto;
	return nm_csum(ph, 40, 0);
}

/* Offset of the L4 checksum field of a parsed datagram. */
static uint32_t
l4_csum_at(const struct nm_pkt *pi)
{
	return pi->l4 + (pi->proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF);
}

void
nm_pkt_csum_fix(uint8_t *f, uint32_t len)
{
	struct nm_pkt pi;
	uint16_t c, zero = 0;
	uint32_t at;

	if (!nm_pkt_parse(f, len, &pi))
		return;
	if (pi.ipv == 4) {
		uint32_t hl = (uint32_t)(f[pi.l3] & 0x0f) * 4;

		memcpy(f + pi.l3 + IPV4_CSUM_OFF, &zero, 2);
		c = (uint16_t)~nm_csum(f + pi.l3, hl, 0);
		memcpy(f + pi.l3 + IPV4_CSUM_OFF, &c, 2);
	}
	if (pi.l4 == 0)
		return;
	at = l4_csum_at(&pi);
	if (pi.proto == IPPROTO_UDP && pi.ipv == 4 && f[at] == 0 && f[at + 1] == 0)
		return;
	memcpy(f + at, &zero, 2);
	c = (uint16_t)~nm_csum(f + pi.l4, pi.end - pi.l4, pseudo_sum(f, &pi));
	if (c == 0 && pi.proto == IPPROTO_UDP)
		c = 0xffff;
	memcpy(f + at, &c, 2);
}

bool
nm_pkt_csum_ok(const uint8_t *f, uint32_t len)
{
	struct nm_pkt pi;
	uint32_t at;

	if (!nm_pkt_parse(f, len, &pi))
		return true;
	if (pi.ipv == 4 && nm_csum(f + pi.l3, (uint32_t)(f[pi.l3] & 0x0f) * 4, 0) != 0xffff)
		return false;
	if (pi.l4 == 0)
		return true;
	at = l4_csum_at(&pi);
	if (pi.proto == IPPROTO_UDP && pi.ipv == 4 && f[at] == 0 && f[at + 1] == 0)
		return true;
	return nm_csum(f + pi.l4, pi.end - pi.l4, pseudo_sum(f, &pi)) == 0xffff;
}
