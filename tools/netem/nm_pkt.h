/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frame inspection and Internet checksums for mb-netem.
 *
 * mb-netem forwards Ethernet frames without caring what they carry, except
 * in two places: a frame that arrives with a partial checksum (the sender's
 * stack left the TCP/UDP checksum for "hardware" to finish, and a veth never
 * does) must be completed before it goes out on a packet socket, and the
 * corruption stage wants to know where the IP header, the TCP/UDP header
 * and the payload are, and may recompute the checksums afterwards so a
 * corrupted payload passes as good data.
 *
 * The parser understands Ethernet with up to two VLAN tags, IPv4 (options
 * allowed, fragments recognised and not looked into) and IPv6 with TCP or
 * UDP directly after the fixed header (no extension headers).  Anything
 * else is "not IP" or "no L4" and is left alone.  Every offset it reports
 * has been checked against the frame length, so callers may index the frame
 * with it directly.  Checksums are ones-complement sums over native 16-bit
 * words (RFC 1071 is byte-order independent), so they are fast and stored
 * back with memcpy.  Nothing here allocates, logs or keeps state.
 */
#ifndef _NM_PKT_H_
#define _NM_PKT_H_

#include <stdbool.h>
#include <stdint.h>

#define NM_ETH_HLEN 14

/* What nm_pkt_parse() found.  Offsets are from the start of the frame. */
struct nm_pkt {
	uint32_t l3;		/* IP header; 0 when ipv == 0 */
	uint32_t l4;		/* TCP/UDP header; 0 = none (other protocol, fragment, bad) */
	uint32_t pay;		/* L4 payload; == end when empty */
	uint32_t end;		/* end of the IP datagram (Ethernet padding excluded) */
	uint8_t ipv;		/* 4, 6, or 0 = not IP (or a malformed IP header) */
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP when l4 != 0 */
	uint16_t sport;		/* host order, when l4 != 0 */
	uint16_t dport;
};

/*
 * Parse the headers of a frame of `len` bytes.  Always fills *ret (zeroed
 * fields for what is absent); never reads past `len`.  Returns true when the
 * frame is IPv4 or IPv6 with a well-formed header.
 */
bool nm_pkt_parse(const uint8_t *f, uint32_t len, struct nm_pkt *ret);

/*
 * Ones-complement sum of `len` bytes at `p` added to `sum`, folded to 16 bits
 * in native byte order.  `p` may have any alignment; an odd last byte is
 * padded with zero as RFC 1071 says.  Sums of separate regions combine with
 * nm_csum_add() only if every region but the last has an even length.
 */
uint16_t nm_csum(const void *p, uint32_t len, uint16_t sum);

/* Ones-complement addition of two folded sums. */
static inline uint16_t
nm_csum_add(uint16_t a, uint16_t b)
{
	uint32_t s = (uint32_t)a + b;

	return (uint16_t)((s & 0xffff) + (s >> 16));
}

/*
 * Finish a partial checksum as the hardware would: the 16-bit field at
 * `start + off` holds the folded pseudo-header sum; replace it with the
 * complement of the sum over bytes [start, len).  A result of 0 is stored
 * as 0xffff (the kernel does the same; for UDP 0 would mean "no checksum").
 * Returns 0, or -EINVAL when the field or the start lies outside the frame
 * (the frame is then left untouched).
 */
int nm_pkt_csum_complete(uint8_t *f, uint32_t len, uint32_t start, uint32_t off);

/*
 * Recompute the IPv4 header checksum and the TCP or UDP checksum of a frame
 * so that they match its bytes as they are now (after a corruption).  An
 * IPv4 UDP checksum of 0 ("none") stays 0.  Frames the parser does not
 * understand, and IPv4 fragments, keep their checksums.
 */
void nm_pkt_csum_fix(uint8_t *f, uint32_t len);

/*
 * True when the IPv4 header checksum (if IPv4) and the TCP/UDP checksum (if
 * there is a parsed L4 header) of the frame are correct.  For tests and
 * diagnostics; an IPv4 UDP checksum of 0 counts as correct.
 */
bool nm_pkt_csum_ok(const uint8_t *f, uint32_t len);

#endif /* _NM_PKT_H_ */
