/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Big-endian (network order) loads and stores of 16-, 32- and 64-bit fields
 * at any alignment (a 64-bit field is a high word then a low word), for the
 * codecs that read wire formats byte by byte: the master server protocol and
 * the TCP segment parser.  These do no bounds checking; the caller has
 * already checked that the bytes are there.  No DPDK, so proto/ and the
 * DPDK-free TCP core can share them; the dataplane proper keeps using
 * rte_be_to_cpu_*.
 */
#ifndef _MB_BYTES_H_
#define _MB_BYTES_H_

#include <stdint.h>

static inline uint16_t
mb_bytes_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
mb_bytes_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void
mb_bytes_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void
mb_bytes_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static inline uint64_t
mb_bytes_get_be64(const uint8_t *p)
{
	return ((uint64_t)mb_bytes_get_be32(p) << 32) | mb_bytes_get_be32(p + 4);
}

static inline void
mb_bytes_put_be64(uint8_t *p, uint64_t v)
{
	mb_bytes_put_be32(p, (uint32_t)(v >> 32));
	mb_bytes_put_be32(p + 4, (uint32_t)v);
}

#endif /* _MB_BYTES_H_ */
