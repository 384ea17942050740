/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the TCP segment parser (dataplane/tcp_wire.c).
 *
 * Every input is one TCP segment (header, options, payload; no IP header).
 * An accepted segment must describe a header inside the input, a payload
 * that ends at the input's end, sane option values, and at most
 * MB_TCP_SACK_MAX SACK blocks.  Checksums of the input are computed too
 * (whole and split).  Also built by tests/unit/test_garbage.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_tcp_seg seg;
	size_t h;

	h = size & ~(size_t)1;
	h = h > 40 ? 40 : h;
	(void)mb_tcp_cksum(0x0100000a, 0x0200000a, data, size);
	(void)mb_tcp_cksum2(0x0100000a, 0x0200000a, data, h, data + h, size - h);
	memset(&seg, 0xa5, sizeof(seg));
	if (mb_tcp_parse(data, size, &seg) != MB_TCP_PARSE_OK)
		return 0;
	if (seg.hdrlen < 20 || seg.hdrlen > 60 || seg.hdrlen > size || (seg.hdrlen & 3) != 0)
		abort();
	if (seg.plen != size - seg.hdrlen || (seg.plen > 0 && seg.payload != data + seg.hdrlen))
		abort();
	if (seg.nsack > MB_TCP_SACK_MAX || (seg.has_ws && seg.wscale > 14) ||
	    (seg.has_mss && seg.mss == 0))
		abort();
	if ((seg.has_mss || seg.has_ws || seg.sack_ok) && !(seg.flags & MB_TCP_SYN))
		abort();
	return 0;
}
