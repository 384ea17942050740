/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The byte reader of the stateful fuzz harnesses (fuzz_tcp_state.c,
 * fuzz_fris_session.c, fuzz_ctl_loop.c), which decode their input as a
 * script of steps: fields are taken from the front, big-endian, and an
 * input that runs out reads as zeros, so every input is a valid script and
 * the fuzzer never wastes runs on "too short".
 */
#ifndef _MB_FUZZ_RD_H_
#define _MB_FUZZ_RD_H_

#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *d;
	size_t n; /* bytes left */
};

/* The next byte, or 0 once the input is used up. */
static inline uint8_t
rd8(struct rd *r)
{
	uint8_t v = 0;

	if (r->n > 0) {
		v = r->d[0];
		r->d++;
		r->n--;
	}
	return v;
}

/* The next two bytes, big-endian (missing ones read as 0). */
static inline uint16_t
rd16(struct rd *r)
{
	uint16_t hi = rd8(r);

	return (uint16_t)(hi << 8 | rd8(r));
}

/* Up to `want` raw bytes: *ret_len gets how many are left for them
 * (at most want); returns where they start, and consumes them. */
static inline const uint8_t *
rd_bytes(struct rd *r, size_t want, size_t *ret_len)
{
	const uint8_t *p = r->d;
	size_t n = want < r->n ? want : r->n;

	r->d += n;
	r->n -= n;
	*ret_len = n;
	return p;
}

#endif /* _MB_FUZZ_RD_H_ */
