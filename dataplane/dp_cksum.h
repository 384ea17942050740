/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Internet checksum's last steps, shared by every sender of the
 * dataplane and by the tests that check its frames: the 32-bit
 * accumulator of 16-bit one's complement sums (rte_raw_cksum,
 * rte_ipv4_phdr_cksum, a cached sum of a block, fields added one by one)
 * folded to 16 bits, and the UDP field made of it.
 *
 * A sum of 16-bit words read in host order from memory is the checksum in
 * memory order (RFC 1071, byte-order independence): a field is added as
 * the host-order words of its bytes as they lie in the frame, which is what
 * dp_cksum_word32() gives for a 32-bit value already converted to its wire
 * byte order.
 */
#ifndef _MB_DP_CKSUM_H_
#define _MB_DP_CKSUM_H_

#include <stdint.h>

/* Fold a 32-bit accumulator of 16-bit words to 16 bits (end-around carry). */
static inline uint16_t
dp_cksum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The two host-order 16-bit words of a 32-bit field whose in-memory bytes
 * are those of `v` (already in the byte order it has in the frame). */
static inline uint32_t
dp_cksum_word32(uint32_t v)
{
	return (v & 0xffff) + (v >> 16);
}

/* The UDP checksum field for the sum of pseudo header, UDP header (its
 * checksum 0) and payload: the complement, 0 sent as 0xffff (0 means "no
 * checksum" in UDP over IPv4). */
static inline uint16_t
dp_udp_cksum_field(uint32_t sum)
{
	uint16_t c = (uint16_t)~dp_cksum_fold(sum);

	return c == 0 ? 0xffff : c;
}

/* The IPv4 header checksum field for the sum of the header (its checksum
 * 0). */
static inline uint16_t
dp_ip_cksum_field(uint32_t sum)
{
	return (uint16_t)~dp_cksum_fold(sum);
}

#endif /* _MB_DP_CKSUM_H_ */
