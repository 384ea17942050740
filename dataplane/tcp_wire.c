/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP wire format without DPDK: the segment parser that validates every
 * header field and option before the state machine sees a segment, the
 * header builder for what the core emits, the Internet checksum with the IPv4
 * pseudo header, and SipHash-2-4 for the connection table and SYN cookies.
 * Nothing here keeps state or logs.
 */
#include <stdint.h>
#include <string.h>

#include "mb_bytes.h"
#include "tcp.h"

#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_MSS 2
#define OPT_WS 3
#define OPT_SACKOK 4
#define OPT_SACK 5
#define OPT_TS 8

/* Options: each kind at most once, exact lengths, MSS/WS/SACK-permitted only
 * on SYN (RFC 7323 §2.2, RFC 2018), WS shift clamped to 14 as RFC 7323 says
 * (a larger value is not an error). */
static enum mb_tcp_parse_err
parse_opts(const uint8_t *p, unsigned n, bool syn, struct mb_tcp_seg *seg)
{
	unsigned i = 0;
	uint32_t seen = 0;

	while (i < n) {
		uint8_t kind = p[i];
		uint8_t olen;

		if (kind == OPT_EOL)
			break;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return MB_TCP_PARSE_OPT;
		olen = p[i + 1];
		if (olen < 2 || i + olen > n)
			return MB_TCP_PARSE_OPT;
		if (kind < 32) {
			if (seen & (1u << kind))
				return MB_TCP_PARSE_OPT;
			seen |= 1u << kind;
		}
		switch (kind) {
		case OPT_MSS:
			if (olen != 4 || !syn)
				return MB_TCP_PARSE_OPT;
			seg->has_mss = true;
			seg->mss = mb_bytes_get_be16(p + i + 2);
			if (seg->mss == 0)
				return MB_TCP_PARSE_OPT;
			break;
		case OPT_WS:
			if (olen != 3 || !syn)
				return MB_TCP_PARSE_OPT;
			seg->has_ws = true;
			seg->wscale = p[i + 2] > 14 ? 14 : p[i + 2];
			break;
		case OPT_SACKOK:
			if (olen != 2 || !syn)
				return MB_TCP_PARSE_OPT;
			seg->sack_ok = true;
			break;
		case OPT_SACK: {
			unsigned nb = (olen - 2u) / 8u;

			if (olen < 10 || (olen - 2u) % 8u != 0 || nb > MB_TCP_SACK_MAX)
				return MB_TCP_PARSE_OPT;
			for (unsigned b = 0; b < nb; b++) {
				seg->sack[b].left = mb_bytes_get_be32(p + i + 2 + 8 * b);
				seg->sack[b].right = mb_bytes_get_be32(p + i + 6 + 8 * b);
				if ((int32_t)(seg->sack[b].right - seg->sack[b].left) <= 0)
					return MB_TCP_PARSE_OPT;
			}
			seg->nsack = (uint8_t)nb;
			break;
		}
		case OPT_TS:
			if (olen != 10)
				return MB_TCP_PARSE_OPT;
			seg->has_ts = true;
			seg->tsval = mb_bytes_get_be32(p + i + 2);
			seg->tsecr = mb_bytes_get_be32(p + i + 6);
			break;
		default:
			break; /* unknown options are skipped, as RFC 9293 requires */
		}
		i += olen;
	}
	return MB_TCP_PARSE_OK;
}

enum mb_tcp_parse_err
mb_tcp_parse(const uint8_t *buf, size_t len, struct mb_tcp_seg *seg)
{
	unsigned hl;
	uint8_t fl;
	enum mb_tcp_parse_err e;

	memset(seg, 0, sizeof(*seg));
	if (buf == NULL || len < MB_TCP_HDR_MIN)
		return MB_TCP_PARSE_SHORT;
	hl = (buf[12] >> 4) * 4u;
	if (hl < MB_TCP_HDR_MIN || hl > len)
		return MB_TCP_PARSE_HDRLEN;
	if (len - hl > UINT16_MAX)
		return MB_TCP_PARSE_SHORT;
	seg->sport = mb_bytes_get_be16(buf);
	seg->dport = mb_bytes_get_be16(buf + 2);
	seg->seq = mb_bytes_get_be32(buf + 4);
	seg->ack = mb_bytes_get_be32(buf + 8);
	fl = buf[13] & 0x3f;
	seg->flags = fl;
	seg->win = mb_bytes_get_be16(buf + 14);
	seg->hdrlen = (uint8_t)hl;
	if (seg->sport == 0 || seg->dport == 0)
		return MB_TCP_PARSE_FLAGS;
	/* SYN+FIN and SYN+RST are never legitimate; a segment with none of
	 * SYN/RST/ACK carries nothing we could act on. */
	if ((fl & MB_TCP_SYN) && (fl & (MB_TCP_FIN | MB_TCP_RST)))
		return MB_TCP_PARSE_FLAGS;
	if (!(fl & (MB_TCP_SYN | MB_TCP_RST | MB_TCP_ACK)))
		return MB_TCP_PARSE_FLAGS;
	e = parse_opts(buf + MB_TCP_HDR_MIN, hl - MB_TCP_HDR_MIN, fl & MB_TCP_SYN, seg);
	if (e != MB_TCP_PARSE_OK)
		return e;
	seg->payload = buf + hl;
	seg->plen = (uint32_t)(len - hl);
	return MB_TCP_PARSE_OK;
}

/* acc plus the big-endian 16-bit ones' complement sum of p[0..n).  Sums
 * native 32-bit words into 64 bits and swaps once at the end: the ones'
 * complement sum does not depend on byte order but for that swap (RFC 1071
 * §2(B)).  This runs over every payload byte sent without checksum offload. */
static uint32_t
sum16(uint32_t acc, const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	uint32_t w0, w1, w2, w3;
	uint16_t h;

	while (n >= 16) {
		memcpy(&w0, p, 4);
		memcpy(&w1, p + 4, 4);
		memcpy(&w2, p + 8, 4);
		memcpy(&w3, p + 12, 4);
		s += (uint64_t)w0 + w1 + w2 + w3;
		p += 16;
		n -= 16;
	}
	while (n >= 4) {
		memcpy(&w0, p, 4);
		s += w0;
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		memcpy(&h, p, 2);
		s += h;
		p += 2;
		n -= 2;
	}
	if (n) {
		const uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		s += h;
	}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	h = (uint16_t)s;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	h = (uint16_t)((h >> 8) | (h << 8));
#endif
	return acc + h;
}

/* The sum of the IPv4 pseudo header of a TCP segment of `len` bytes. */
static uint32_t
pseudo_sum(uint32_t saddr, uint32_t daddr, size_t len)
{
	uint8_t ph[12];

	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	ph[8] = 0;
	ph[9] = 6;
	mb_bytes_put_be16(ph + 10, (uint16_t)len);
	return sum16(0, ph, sizeof(ph));
}

/* Fold the carries and complement: the checksum field's value. */
static uint16_t
fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

uint16_t
mb_tcp_cksum(uint32_t saddr, uint32_t daddr, const void *seg, size_t len)
{
	return fold(sum16(pseudo_sum(saddr, daddr, len), seg, len));
}

uint16_t
mb_tcp_cksum2(uint32_t saddr, uint32_t daddr, const void *hdr, size_t hlen, const void *payload,
	      size_t plen)
{
	uint32_t acc;

	acc = sum16(pseudo_sum(saddr, daddr, hlen + plen), hdr, hlen);
	/* hlen is even: the payload's bytes keep their parity */
	acc = sum16(acc, payload, plen);
	return fold(acc);
}

unsigned
mb_tcp_hdr_build(const struct mb_tcp_out *o, uint8_t *b)
{
	unsigned n = MB_TCP_HDR_MIN;

	mb_bytes_put_be16(b, o->t.lport);
	mb_bytes_put_be16(b + 2, o->t.rport);
	mb_bytes_put_be32(b + 4, o->seq);
	mb_bytes_put_be32(b + 8, o->ack);
	b[13] = o->flags;
	mb_bytes_put_be16(b + 14, o->win);
	mb_bytes_put_be16(b + 16, 0);
	mb_bytes_put_be16(b + 18, 0);
	if (o->opt_mss) {
		b[n] = OPT_MSS;
		b[n + 1] = 4;
		mb_bytes_put_be16(b + n + 2, o->mss);
		n += 4;
	}
	if (o->opt_ws) {
		b[n] = OPT_NOP;
		b[n + 1] = OPT_WS;
		b[n + 2] = 3;
		b[n + 3] = o->wscale;
		n += 4;
	}
	if (o->opt_sackok) {
		b[n] = OPT_NOP;
		b[n + 1] = OPT_NOP;
		b[n + 2] = OPT_SACKOK;
		b[n + 3] = 2;
		n += 4;
	}
	if (o->opt_ts) {
		b[n] = OPT_NOP;
		b[n + 1] = OPT_NOP;
		b[n + 2] = OPT_TS;
		b[n + 3] = 10;
		mb_bytes_put_be32(b + n + 4, o->tsval);
		mb_bytes_put_be32(b + n + 8, o->tsecr);
		n += 12;
	}
	b[12] = (uint8_t)((n / 4) << 4);
	return n;
}

/* SipHash-2-4 (Aumasson and Bernstein), written from the paper's description. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                  \
	do {                                                                                      \
		v0 += v1;                                                                         \
		v1 = ROTL(v1, 13);                                                                \
		v1 ^= v0;                                                                         \
		v0 = ROTL(v0, 32);                                                                \
		v2 += v3;                                                                         \
		v3 = ROTL(v3, 16);                                                                \
		v3 ^= v2;                                                                         \
		v0 += v3;                                                                         \
		v3 = ROTL(v3, 21);                                                                \
		v3 ^= v0;                                                                         \
		v2 += v1;                                                                         \
		v1 = ROTL(v1, 17);                                                                \
		v1 ^= v2;                                                                         \
		v2 = ROTL(v2, 32);                                                                \
	} while (0)

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t
mb_tcp_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t m = le64(in + i);

		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
