/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the receiver state machine shared by mb-frisbee and
 * mb-fris-loadgen (proto/fris_rx.c), on a simulated clock: the first
 * requests and the readahead window, completion opening the next chunk,
 * PREQUEST re-requests of exactly the missing blocks after 3 silent ticks
 * with back-off, no requests at all while blocks keep coming (useful or
 * not), snooping that suppresses a request only when it asks for blocks we
 * lack, the redo delay and the in-progress limit, and the short last chunk.
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

/* Silent ticks 30 ms apart from `from` on; returns the time of the last. */
static uint64_t
silent_ticks(struct mb_frx *rx, uint64_t from, unsigned int n)
{
	unsigned int i;

	for (i = 1; i <= n; i++)
		mb_frx_tick(rx, from + i * 30 * MS);
	return from + n * 30 * MS;
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

	/* Idle: nothing before 3 silent ticks (90 ms)... */
	nsent = 0;
	mb_frx_tick(&rx, t + 29 * MS);
	silent_ticks(&rx, t, 2);
	assert_int_equal(nsent, 0);
	/* ...then PREQUEST for the missing blocks of chunk 0 (ours: retries=1),
	 * a PREQUEST for all of chunk 1 (asked before, nothing received) and a
	 * REQUEST for chunk 2: the readahead window is the first two chunks not
	 * seen yet, and a timeout asks for all of them. */
	t = silent_ticks(&rx, t + 60 * MS, 1);
	assert_int_equal(nsent, 3);
	assert_int_equal(rx.timeouts, 1);
	assert_int_equal(sent[0].kind, MB_FRIS_K_PREQUEST);
	assert_int_equal(sent[0].u.prequest.chunk, 0);
	assert_int_equal(sent[0].u.prequest.retries, 1);
	assert_int_equal(sent[0].u.prequest.map[0], 0x00);
	assert_int_equal(sent[0].u.prequest.map[1], 0xc0);
	assert_int_equal(mb_fris_map_first_run(sent[0].u.prequest.map, 0, 1024, &first), 1010);
	assert_int_equal(first, 14);
	assert_int_equal(sent[1].kind, MB_FRIS_K_PREQUEST);
	assert_int_equal(sent[1].u.prequest.chunk, 1);
	assert_int_equal(sent[1].u.prequest.retries, 1);
	assert_int_equal(mb_fris_map_count(sent[1].u.prequest.map, 1024), 1024);
	assert_int_equal(sent[2].kind, MB_FRIS_K_REQUEST);
	assert_int_equal(sent[2].u.request.chunk, 2);

	/* While the server keeps sending, even blocks of no use to us, the
	 * receiver asks for nothing: its idle counter only runs in silence. */
	nsent = 0;
	for (unsigned int i = 1; i <= 100; i++) {
		(void)mb_frx_block(&rx, 0, 3, t + i * 10 * MS, &off);
		mb_frx_tick(&rx, t + i * 10 * MS + 5 * MS);
	}
	assert_int_equal(nsent, 0);
	t += 1000 * MS;

	/* Back-off (reset by those blocks): in silence a timeout comes after 3
	 * ticks, the next one 3 ticks later, then 3 + 2, 3 + 3... */
	silent_ticks(&rx, t, 2);
	assert_int_equal(nsent, 0);
	t = silent_ticks(&rx, t + 60 * MS, 1);
	assert_int_equal(nsent, 3);
	assert_int_equal(sent[2].kind, MB_FRIS_K_PREQUEST);	/* chunk 2 is ours now */
	silent_ticks(&rx, t, 2);
	assert_int_equal(nsent, 3);
	t = silent_ticks(&rx, t + 60 * MS, 1);
	assert_int_equal(nsent, 6);
	silent_ticks(&rx, t, 4);
	assert_int_equal(nsent, 6);
	t = silent_ticks(&rx, t + 120 * MS, 1);
	assert_int_equal(nsent, 9);
	assert_int_equal(rx.backoff, 3);

	/* Chunk 0 completes: nothing new, chunks 1 and 2 (the readahead
	 * window) were asked for less than the redo delay ago. */
	t += 300 * MS;
	nsent = 0;
	fill_chunk(&rx, 0, 14, 1024, t);
	assert_int_equal(rx.done, 1);
	assert_int_equal(rx.backoff, 0);
	assert_int_equal(nsent, 0);

	/* Someone else asks for chunk 3 just before chunk 1 completes: it is
	 * skipped (counted as readahead), and asked for once the redo delay
	 * has passed. */
	mb_frx_snoop_request(&rx, 3, 0, 1024, t);
	assert_int_equal(rx.snooped, 1);
	nsent = 0;
	fill_chunk(&rx, 1, 0, 1024, t + 1 * MS);
	assert_int_equal(rx.done, 2);
	for (unsigned int i = 0; i < nsent; i++)
		assert_false(sent[i].kind == MB_FRIS_K_REQUEST && sent[i].u.request.chunk == 3);
	/* Chunk 2 arrives in part: a PREQUEST for blocks we have does not
	 * stamp it, one for blocks we lack does. */
	fill_chunk(&rx, 2, 0, 512, t + 2 * MS);
	{
		uint8_t map[MB_FRIS_MAP_BYTES] = {0};

		mb_fris_map_set_range(map, 0, 100);
		mb_frx_snoop_prequest(&rx, 2, map, t + 3 * MS);
		assert_int_equal(rx.snooped, 1);
		mb_fris_map_set_range(map, 600, 10);
		mb_frx_snoop_prequest(&rx, 2, map, t + 3 * MS);
		assert_int_equal(rx.snooped, 2);
	}
	fill_chunk(&rx, 2, 512, 1024, t + 1100 * MS);
	assert_int_equal(rx.done, 3);
	assert_int_equal(sent[nsent - 1].kind, MB_FRIS_K_REQUEST);
	assert_int_equal(sent[nsent - 1].u.request.chunk, 3);
	fill_chunk(&rx, 3, 0, 1024, t + 1200 * MS);
	assert_true(mb_frx_complete(&rx));
	assert_true(rx.rbytes == 4 * MB_FRIS_CHUNK_SIZE);
	mb_frx_done(&rx);
}

/* A completion re-requests a partial chunk only when nobody asked for it
 * (and none of its blocks came) within the redo delay, and never more than
 * MAXINPROGRESS chunks are partial before new ones are asked for. */
static void
test_rx_redo_and_inprogress(void **state)
{
	struct mb_frx rx;
	uint64_t t = 5000 * MS;
	uint32_t c;

	(void)state;
	nsent = 0;
	assert_int_equal(mb_frx_init(&rx, 20 * MB_FRIS_CHUNK_SIZE, true, 1, true, 1, capture,
				     NULL), 0);
	mb_frx_start(&rx, t);
	assert_int_equal(nsent, 2);
	/* Blocks of 8 chunks other receivers asked for: 8 partial chunks. */
	for (c = 10; c < 18; c++)
		fill_chunk(&rx, c, 0, 10, t);
	assert_int_equal(rx.nfill, 8);
	/* Chunk 0 completes 2 s later: each partial chunk is asked for (its
	 * stamp is old), but no new chunk while 8 are partial. */
	nsent = 0;
	fill_chunk(&rx, 0, 0, 1024, t + 2000 * MS);
	assert_int_equal(nsent, 8);
	for (unsigned int i = 0; i < nsent; i++) {
		assert_int_equal(sent[i].kind, MB_FRIS_K_PREQUEST);
		assert_int_equal(sent[i].u.prequest.retries, 0);
		assert_int_equal(mb_fris_map_count(sent[i].u.prequest.map, 1024), 1014);
	}
	/* Chunk 1 completes right after: they were just asked for. */
	nsent = 0;
	fill_chunk(&rx, 1, 0, 1024, t + 2001 * MS);
	assert_int_equal(nsent, 0);
	/* One partial chunk completes: room for readahead again (2, 3). */
	fill_chunk(&rx, 10, 10, 1024, t + 2002 * MS);
	assert_int_equal(nsent, 2);
	assert_int_equal(sent[0].kind, MB_FRIS_K_REQUEST);
	assert_int_equal(sent[0].u.request.chunk, 2);
	assert_int_equal(sent[1].u.request.chunk, 3);
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
	silent_ticks(&rx, 1, 3);
	assert_true(nsent > 0);
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

/* JOIN v1 for an image that is not a multiple of 1 MiB: the reply's block
 * count (977 for 1,000,000 bytes) ends the last chunk early, as the stock
 * client and both servers (frisbeed, minibossd) count it; waiting for 1024
 * blocks there stalled at 95 %. */
static void
test_rx_join1_short_chunk(void **state)
{
	struct mb_frx rx;
	uint64_t off;

	(void)state;
	nsent = 0;
	assert_int_equal(mb_frx_init(&rx, 977 * 1024, true, 1, true, 1, capture, NULL), 0);
	assert_int_equal(rx.nchunks, 1);
	assert_int_equal(rx.nblocks, 977);
	assert_true(rx.bytes == 977 * 1024);
	mb_frx_start(&rx, 0);
	assert_int_equal(nsent, 1);
	assert_int_equal(sent[0].u.request.count, 977);
	fill_chunk(&rx, 0, 0, 977, 1);
	assert_int_equal(mb_frx_block(&rx, 0, 977, 1, &off), 0); /* past the end */
	assert_true(mb_frx_complete(&rx));
	mb_frx_done(&rx);
}

/* mb_frx_snoop, as both receivers (mb-frisbee, the parent fill) dispatch a
 * decoded non-BLOCK message: another receiver's REQUEST and PREQUEST off
 * the wire stamp the chunk when they ask for blocks we lack (so we do not
 * ask ourselves), anything else only breaks the silence. */
static void
test_rx_snoop_dispatch(void **state)
{
	struct mb_frx rx;
	struct mb_fris_msg m;
	uint8_t buf[MB_FRIS_PKT_MAX], map[MB_FRIS_MAP_BYTES];
	uint64_t t = 1000 * MS;
	int len;

	(void)state;
	nsent = 0;
	assert_int_equal(mb_frx_init(&rx, 4 * MB_FRIS_CHUNK_SIZE, false, 0x0100000a, true, 1,
				     capture, NULL), 0);
	mb_frx_start(&rx, t);
	assert_int_equal(nsent, 2); /* chunks 0 and 1 asked for */

	/* a REQUEST for chunk 3 (not ours yet): snooped, stamps it */
	len = mb_fris_encode_request(buf, sizeof(buf), 0x0200000a, 3, 0, 1024);
	assert_true(len > 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)len, rx.nchunks, &m), MB_FRIS_OK);
	assert_true(mb_frx_snoop(&rx, &m, t + 1 * MS));
	assert_int_equal(rx.snooped, 1);
	assert_true(rx.chunks[3].stamp == t + 1 * MS);

	/* a PREQUEST for blocks of chunk 2 we lack: snooped */
	memset(map, 0, sizeof(map));
	mb_fris_map_set_range(map, 10, 5);
	len = mb_fris_encode_prequest(buf, sizeof(buf), 0x0200000a, 2, 0, map);
	assert_true(len > 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)len, rx.nchunks, &m), MB_FRIS_OK);
	assert_true(mb_frx_snoop(&rx, &m, t + 2 * MS));
	assert_int_equal(rx.snooped, 2);

	/* chunk 2 done: a PREQUEST for it brings nothing, not counted */
	fill_chunk(&rx, 2, 0, 1024, t + 3 * MS);
	assert_true(mb_frx_snoop(&rx, &m, t + 4 * MS));
	assert_int_equal(rx.snooped, 2);

	/* a LEAVE2: not a request, only heard (no request of ours goes out) */
	nsent = 0;
	len = mb_fris_encode_leave2(buf, sizeof(buf), 0x0200000a, 7, 1, NULL);
	assert_true(len > 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)len, rx.nchunks, &m), MB_FRIS_OK);
	assert_false(mb_frx_snoop(&rx, &m, t + 500 * MS));
	assert_true(rx.last_heard == t + 500 * MS);
	assert_int_equal(rx.snooped, 2);
	assert_int_equal(nsent, 0);

	/* the snooped chunk 3 is not asked for by us before the redo delay */
	fill_chunk(&rx, 0, 0, 1024, t + 600 * MS);
	for (unsigned int i = 0; i < nsent; i++)
		assert_false(sent[i].kind == MB_FRIS_K_REQUEST && sent[i].u.request.chunk == 3);
	mb_frx_done(&rx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_flow),
		cmocka_unit_test(test_rx_snoop_dispatch),
		cmocka_unit_test(test_rx_redo_and_inprogress),
		cmocka_unit_test(test_rx_short_image),
		cmocka_unit_test(test_rx_join1_short_chunk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
