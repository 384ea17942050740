/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the Frisbee UDP decoder (proto/fris_wire.c).
 *
 * Every input is one datagram.  It is decoded with a chunk count taken from
 * its first byte (so range checks are exercised with small and unknown
 * counts); an accepted message must re-encode, decode again to the same
 * kind, and pass the source check without crashing.  Build with
 * -Dfuzz=true and clang; run e.g. `fuzz_fris_wire -max_total_time=60`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fris_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[MB_FRIS_PKT_MAX];
	struct mb_fris_msg m, m2;
	uint32_t nchunks;
	int n;

	nchunks = size > 0 && data[0] < 200 ? data[0] : MB_FRIS_NCHUNKS_ANY;
	if (mb_fris_decode(data, size, nchunks, &m) != MB_FRIS_OK)
		return 0;
	(void)mb_fris_check_source(&m, m.hdr.srcip, 6000, 6000, 0, true);
	n = mb_fris_encode(&m, again, sizeof(again));
	if (n <= 0)
		abort();
	if (mb_fris_decode(again, (size_t)n, nchunks, &m2) != MB_FRIS_OK || m2.kind != m.kind)
		abort();
	return 0;
}
