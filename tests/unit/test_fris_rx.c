/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the receiver state machine shared by mb-frisbee and
 * mb-fris-loadgen (tools/fris_rx.c), on a simulated clock: the first
 * requests and the readahead window, completion opening the next chunk,
 * PREQUEST re-requests of exactly the missing blocks after 3 idle ticks with
 * back-off, snooping that suppresses a request, and the short last chunk.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fris_rx.h"
#include "fris_wire.h"

#define MS 1000000ULL

static struct mb_fris_msg sent[64];
static uint8_t sentbuf[64][MB_FRIS_PKT_MAX];
static unsigned int nsent;

static void
capture(void *arg, const void *buf, int len)
{
	(void)arg;
	assert_true(len > 0);
	assert_true(nsent < 64);
	memcpy(sentbuf[nsent], buf, (size_t)len);
	assert_int_equal(mb_fris_decode(sentbuf[nsent], (size_t)len, MB_FRIS_NCHUNKS_ANY,
					&sent[nsent]), MB_FRIS_OK);
	nsent++;
}

static void
fill_chunk(struct mb_frx *rx, uint32_t c, uint32_t from, uint32_t to, uint64_t now)
{
	uint64_t off;
	uint32_t b;

	for (b = from; b < to; b++)
		(void)mb_frx_block(rx, c, b, now, &off);
}

static void
test_rx_flow(void **state)
{
	struct mb_frx rx;
	uint64_t t = 1000 * MS, off;
	uint32_t c0, c1, first;

	(void)state;
	nsent = 0;
	/* 4 chunks, in order, JOIN v1 sizes. */
	assert_int_equal(mb_frx_init(&rx, 4 * MB_FRIS_CHUNK_SIZE, true, 0x0100000a, true, 1,
				     capture, NULL), 0);
	mb_frx_start(&rx, t);
	/* MAXREADAHEAD = 2 full-chunk REQUESTs. */
	assert_int_equal(nsent, 2);
	assert_int_equal(sent[0].kind, MB_FRIS_K_REQUEST);
	c0 = sent[0].u.request.chunk;
	c1 = sent[1].u.request.chunk;
	assert_int_equal(c0, 0);
	assert_int_equal(c1, 1);
	assert_int_equal(sent[0].u.request.count, 1024);
	assert_int_equal(sent[0].hdr.srcip, 0x0100000a);

	/* Chunk 0 arrives except blocks 14..1023 (as in the capture). */
	fill_chunk(&rx, 0, 0, 14, t);
	/* Duplicates and blocks outside the image are not counted as data. */
	assert_int_equal(mb_frx_block(&rx, 0, 3, t, &off), 0);
	assert_int_equal(rx.dupblocks, 1);
	assert_int_equal(mb_frx_block(&rx, 9, 0, t, &off), 0);

	/* Idle: nothing before 3 ticks (90 ms)... */
	nsent = 0;
	mb_frx_tick(&rx, t + 89 * MS);
	assert_int_equal(nsent, 0);
	/* ...then PREQUEST for the missing blocks of chunk 0 (ours: retries=1)
	 * and of chunk 1 (asked, nothing received), and a REQUEST for chunk 2
	 * since the readahead window has room again. */
	mb_frx_tick(&rx, t + 90 * MS);
	assert_int_equal(nsent, 3);
	assert_int_equal(sent[0].kind, MB_FRIS_K_PREQUEST);
	assert_int_equal(sent[0].u.prequest.chunk, 0);
	assert_int_equal(sent[0].u.prequest.retries, 1);
	assert_int_equal(sent[0].u.prequest.map[0], 0x00);
	assert_int_equal(sent[0].u.prequest.map[1], 0xc0);
	assert_int_equal(mb_fris_map_first_run(sent[0].u.prequest.map, 0, 1024, &first), 1010);
	assert_int_equal(first, 14);
	assert_int_equal(sent[1].u.prequest.chunk, 1);
	assert_int_equal(sent[1].u.prequest.retries, 1);
	assert_int_equal(mb_fris_map_count(sent[1].u.prequest.map, 1024), 1024);
	assert_int_equal(sent[2].kind, MB_FRIS_K_REQUEST);
	assert_int_equal(sent[2].u.request.chunk, 2);
	/* Back-off: the next re-request waits one tick longer (4 ticks), and
	 * the window (2 asked, not started) is full. */
	nsent = 0;
	mb_frx_tick(&rx, t + 90 * MS + 119 * MS);
	assert_int_equal(nsent, 0);
	mb_frx_tick(&rx, t + 90 * MS + 120 * MS);
	assert_int_equal(nsent, 3);
	assert_int_equal(sent[2].kind, MB_FRIS_K_PREQUEST);

	/* Chunk 0 completes: nothing new while chunks 1 and 2 are asked for
	 * and were asked less than the redo delay ago. */
	t += 300 * MS;
	nsent = 0;
	fill_chunk(&rx, 0, 14, 1024, t);
	assert_int_equal(rx.done, 1);
	assert_int_equal(rx.backoff, 0);
	assert_int_equal(nsent, 0);

	/* Someone else asks for chunk 3 just before chunk 1 completes: it is
	 * skipped (counted as readahead), and asked for once the redo delay
	 * has passed. */
	mb_frx_snoop(&rx, 3, t);
	nsent = 0;
	fill_chunk(&rx, 1, 0, 1024, t + 1 * MS);
	assert_int_equal(rx.done, 2);
	for (unsigned int i = 0; i < nsent; i++)
		assert_false(sent[i].kind == MB_FRIS_K_REQUEST && sent[i].u.request.chunk == 3);
	fill_chunk(&rx, 2, 0, 1024, t + 1100 * MS);
	assert_int_equal(rx.done, 3);
	assert_int_equal(sent[nsent - 1].kind, MB_FRIS_K_REQUEST);
	assert_int_equal(sent[nsent - 1].u.request.chunk, 3);
	fill_chunk(&rx, 3, 0, 1024, t + 1200 * MS);
	assert_true(mb_frx_complete(&rx));
	assert_true(rx.rbytes == 4 * MB_FRIS_CHUNK_SIZE);
	mb_frx_done(&rx);
}

static void
test_rx_short_image(void **state)
{
	struct mb_frx rx;
	uint64_t off;
	uint32_t first;

	(void)state;
	nsent = 0;
	/* JOIN2: 1 MiB + 1500 bytes = chunk 0 full, chunk 1 with 2 blocks. */
	assert_int_equal(mb_frx_init(&rx, MB_FRIS_CHUNK_SIZE + 1500, false, 1, true, 1, capture,
				     NULL), 0);
	assert_int_equal(rx.nchunks, 2);
	mb_frx_start(&rx, 0);
	assert_int_equal(nsent, 2);
	assert_int_equal(sent[1].u.request.count, 2);
	assert_int_equal(mb_frx_block(&rx, 1, 2, 1, &off), 0);	/* past the end */
	assert_int_equal(mb_frx_block(&rx, 1, 1, 1, &off), 1500 - 1024);
	assert_true(off == MB_FRIS_CHUNK_SIZE + 1024);
	nsent = 0;
	mb_frx_tick(&rx, 100 * MS);
	/* PREQUEST for chunk 1 is clipped to its 2 blocks: only block 0. */
	for (unsigned int i = 0; i < nsent; i++) {
		if (sent[i].u.prequest.chunk != 1)
			continue;
		assert_int_equal(mb_fris_map_count(sent[i].u.prequest.map, 1024), 1);
		assert_int_equal(mb_fris_map_first_run(sent[i].u.prequest.map, 0, 1024, &first),
				 1);
		assert_int_equal(first, 0);
	}
	mb_frx_done(&rx);
	assert_int_equal(mb_frx_init(&rx, 0, false, 1, true, 1, capture, NULL), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_flow),
		cmocka_unit_test(test_rx_short_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
