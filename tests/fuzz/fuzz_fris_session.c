/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateful libFuzzer harness for the pure half of a Frisbee session: the
 * wire decoder and source check (proto/fris_wire.c) and the session's work
 * queue (proto/fris_wq.c), driven the way the dataplane drives them
 * (dataplane/dp_fris.c: decode against the session's chunk count, check the
 * source, JOINs to the reply list, REQUEST/PREQUEST to the queue, the rest
 * counted), by eight clients and a sender that drains the queue.
 *
 * Input: bytes 0-1 the image size in 1 KiB blocks (1..5120, up to five
 * chunks, the last one short), byte 2 the queue's element bound (0 = the
 * natural nchunks + 1), byte 3 bit 0 multicast; then steps, each an op byte
 * (bits 0-2 op, bits 3-5 client, bits 6-7 mangling: none, flip a byte,
 * truncate, spoofed source address or port) and the op's bytes:
 *   0 JOIN  1 JOIN2  4 LEAVE or LEAVE2 (low bit of the next byte)
 *   2 REQUEST chunk (1; 0xff = a huge one), block (2), count (2)
 *   3 PREQUEST chunk (1), retries (1), 16 map bytes each set bit asking
 *     for 64 blocks
 *   5 PROGRESS report
 *   6 SEND: dequeue up to n (1) items, as a sender pass would
 *   7 the sender goes idle (even n) or the session restarts (odd)
 * Invariants (abort on violation):
 *   - a decoded REQUEST/PREQUEST names a chunk inside the image and a block
 *     range inside a chunk;
 *   - every run sent lies inside the image (chunk < nchunks, block + count
 *     <= the chunk's real length), holds only blocks some accepted request
 *     asked for since the last restart, and comes after every pending JOIN
 *     reply; every JOIN reply sent was pending;
 *   - once the queue runs empty, every block of every accepted request was
 *     sent after that request, and every accepted JOIN was answered;
 *   - the queue's counters equal what the harness saw (joins + duplicates +
 *     drops = JOINs queued; appended + merged + dropped = requests queued;
 *     runs and blocks = what was dequeued); depth within its bound.
 * Also built by tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fris_wire.h"
#include "fuzz_rd.h"
#include "fris_wq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCLIENTS 8
#define MAXCHUNKS 5
#define PORT 6000
#define GROUP 0x010101e0u /* 224.1.1.1, network order on little endian */

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_fris_session: invariant broken: %s (line %d)\n", #c, \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct model {
	uint64_t nblocks;
	uint32_t nchunks;
	uint32_t bound; /* queue element bound */
	/* since the last restart: asked for at all / asked for and not sent since */
	uint8_t asked[MAXCHUNKS][MB_FRIS_MAP_BYTES];
	uint8_t pending[MAXCHUNKS][MB_FRIS_MAP_BYTES];
	struct {
		uint32_t version, clientid;
	} joins[MB_FRIS_WQ_MAX_JOINS];
	unsigned int njoins;
	/* what the harness asked of the queue and got back */
	uint64_t join_calls, req_calls, runs, blocks;
};

static void
check_stats(const struct mb_fris_wq *wq, const struct model *m)
{
	const struct mb_fris_wq_stats *st = mb_fris_wq_stats(wq);

	CHECK(st->joins + st->join_dups + st->join_drops == m->join_calls);
	CHECK(st->appended + st->merged + st->dropped_inflight + st->dropped_full +
	          st->dropped_empty ==
	      m->req_calls);
	CHECK(st->absorbed <= st->merged);
	CHECK(st->runs == m->runs);
	CHECK(st->blocks == m->blocks);
	CHECK(mb_fris_wq_depth(wq) <= m->bound);
	CHECK(mb_fris_wq_nchunks(wq) == m->nchunks);
}

/* One accepted request's blocks (map already clipped by the harness). */
static void
note_request(struct model *m, uint32_t chunk, const uint8_t *map)
{
	uint32_t cb = mb_fris_chunk_blocks(m->nblocks, chunk);

	for (uint32_t b = 0; b < cb; b++) {
		if (mb_fris_map_test(map, b)) {
			mb_fris_map_set(m->asked[chunk], b);
			mb_fris_map_set(m->pending[chunk], b);
		}
	}
}

static void
queue_request(struct mb_fris_wq *wq, struct model *m, uint32_t chunk, const uint8_t *map,
              bool range, uint32_t block, uint32_t count)
{
	enum mb_fris_wq_verdict v;
	uint8_t mm[MB_FRIS_MAP_BYTES] = {0};

	m->req_calls++;
	if (range) {
		v = mb_fris_wq_enqueue_range(wq, chunk, block, count);
		for (uint32_t b = block; b < block + count && b < MB_FRIS_CHUNK_BLOCKS; b++)
			mb_fris_map_set(mm, b);
	} else {
		v = mb_fris_wq_enqueue_map(wq, chunk, map);
		memcpy(mm, map, sizeof(mm));
	}
	if (v != MB_FRIS_WQ_DROPPED) {
		CHECK(chunk < m->nchunks);
		note_request(m, chunk, mm);
	}
}

/* One sender step: 0 if something was dequeued, -ENOENT when empty. */
static int
send_one(struct mb_fris_wq *wq, struct model *m)
{
	struct mb_fris_wq_item it;
	int rc = mb_fris_wq_dequeue(wq, &it);
	unsigned int i;

	if (rc != 0) {
		CHECK(rc == -ENOENT);
		CHECK(mb_fris_wq_empty(wq));
		/* drained: nothing asked for is still owed */
		CHECK(m->njoins == 0);
		for (uint32_t c = 0; c < MAXCHUNKS; c++)
			for (uint32_t k = 0; k < MB_FRIS_MAP_BYTES; k++)
				CHECK(m->pending[c][k] == 0);
		return rc;
	}
	if (it.kind == MB_FRIS_WQ_JOIN) {
		for (i = 0; i < m->njoins; i++)
			if (m->joins[i].version == it.version &&
			    m->joins[i].clientid == it.clientid)
				break;
		CHECK(i < m->njoins);
		m->joins[i] = m->joins[--m->njoins];
		return 0;
	}
	CHECK(it.kind == MB_FRIS_WQ_BLOCKS);
	CHECK(m->njoins == 0); /* JOIN replies go ahead of everything */
	CHECK(it.chunk < m->nchunks);
	CHECK(it.count >= 1);
	CHECK(it.block < MB_FRIS_CHUNK_BLOCKS);
	CHECK(it.block + it.count <= mb_fris_chunk_blocks(m->nblocks, it.chunk));
	for (uint32_t b = it.block; b < it.block + it.count; b++) {
		CHECK(mb_fris_map_test(m->asked[it.chunk], b));
		m->pending[it.chunk][b >> 3] &= (uint8_t) ~(1u << (b & 7));
	}
	m->runs++;
	m->blocks += it.count;
	return 0;
}

static void
restart(struct mb_fris_wq *wq, struct model *m)
{
	mb_fris_wq_reset(wq);
	memset(m->asked, 0, sizeof(m->asked));
	memset(m->pending, 0, sizeof(m->pending));
	m->njoins = 0;
}

/* The dataplane's dispatch of one datagram from client `ci`. */
static void
input(struct mb_fris_wq *wq, struct model *m, const uint8_t *pkt, size_t len, uint32_t src,
      uint16_t sport, bool mcast)
{
	struct mb_fris_msg msg;
	enum mb_fris_result r = mb_fris_decode(pkt, len, m->nchunks, &msg);

	if (r == MB_FRIS_OK)
		r = mb_fris_check_source(&msg, src, sport, PORT, mcast ? GROUP : 0, false);
	if (r != MB_FRIS_OK)
		return;
	switch (msg.kind) {
	case MB_FRIS_K_JOIN_REQ:
	case MB_FRIS_K_JOIN2_REQ: {
		uint32_t ver = msg.kind == MB_FRIS_K_JOIN_REQ ? 1 : 2;
		uint32_t id = ver == 1 ? msg.u.join.clientid : msg.u.join2.clientid;
		bool dup = false;

		m->join_calls++;
		for (unsigned int i = 0; i < m->njoins; i++)
			dup |= m->joins[i].version == ver && m->joins[i].clientid == id;
		if (mb_fris_wq_enqueue_join(wq, ver, id) == 0) {
			if (!dup) {
				CHECK(m->njoins < MB_FRIS_WQ_MAX_JOINS);
				m->joins[m->njoins].version = ver;
				m->joins[m->njoins++].clientid = id;
			}
		} else {
			CHECK(!dup && m->njoins == MB_FRIS_WQ_MAX_JOINS);
		}
		break;
	}
	case MB_FRIS_K_REQUEST:
		CHECK(msg.u.request.chunk < m->nchunks);
		CHECK(msg.u.request.block < MB_FRIS_CHUNK_BLOCKS);
		CHECK(msg.u.request.count >= 1 &&
		      msg.u.request.count <= MB_FRIS_CHUNK_BLOCKS - msg.u.request.block);
		queue_request(wq, m, msg.u.request.chunk, NULL, true, msg.u.request.block,
		              msg.u.request.count);
		break;
	case MB_FRIS_K_PREQUEST:
		CHECK(msg.u.prequest.chunk < m->nchunks);
		queue_request(wq, m, msg.u.prequest.chunk, msg.u.prequest.map, false, 0, 0);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	struct rd r = {data, size};
	struct mb_fris_wq *wq;
	uint8_t pkt[2048];
	unsigned int steps = 0;
	bool mcast;

	if (size < 4)
		return 0;
	memset(&m, 0, sizeof(m));
	m.nblocks = 1 + rd16(&r) % (MAXCHUNKS * MB_FRIS_CHUNK_BLOCKS);
	m.nchunks = (uint32_t)((m.nblocks + MB_FRIS_CHUNK_BLOCKS - 1) / MB_FRIS_CHUNK_BLOCKS);
	m.bound = rd8(&r) & 7;
	wq = mb_fris_wq_create(m.nblocks, m.bound);
	CHECK(wq != NULL);
	if (m.bound == 0 || m.bound > m.nchunks + 1)
		m.bound = m.nchunks + 1;
	mcast = rd8(&r) & 1;
	while (r.n > 0 && steps++ < 2048) {
		uint8_t op = rd8(&r);
		unsigned int ci = (op >> 3) & 7, mangle = op >> 6;
		uint32_t src = 0x0a000000u + ci + 10, srcip = src; /* "network order" stand-in */
		uint16_t sport = PORT;
		int len = -1;

		switch (op & 7) {
		case 0:
			len = mb_fris_encode_join(pkt, sizeof(pkt), srcip, 100 + ci);
			break;
		case 1:
			len = mb_fris_encode_join2(pkt, sizeof(pkt), srcip, 100 + ci);
			break;
		case 2: {
			uint8_t c = rd8(&r);
			uint32_t chunk = c == 0xff ? 0x7fffffffu : c % (m.nchunks + 2);
			uint16_t block = rd16(&r), count = rd16(&r);

			len = mb_fris_encode_request(pkt, sizeof(pkt), srcip, chunk, block % 1100u,
			                             count % 1100u);
			break;
		}
		case 3: {
			uint8_t c = rd8(&r), retries = rd8(&r), map[MB_FRIS_MAP_BYTES] = {0};

			for (unsigned int i = 0; i < 16; i++) {
				uint8_t b = rd8(&r);

				for (unsigned int j = 0; j < 8; j++)
					if (b & (1u << j))
						memset(map + (i * 8 + j) % 16 * 8, 0xff, 8);
			}
			/* a sparse pattern within the first set group */
			map[c & 127] ^= (uint8_t)(c * 37u);
			len = mb_fris_encode_prequest(pkt, sizeof(pkt), srcip, c % (m.nchunks + 2),
			                              retries, map);
			break;
		}
		case 4:
			if (rd8(&r) & 1)
				len = mb_fris_encode_leave2(pkt, sizeof(pkt), srcip, 100 + ci, 5,
				                            NULL);
			else
				len = mb_fris_encode_leave(pkt, sizeof(pkt), srcip, 100 + ci, 5);
			break;
		case 5:
			len = mb_fris_encode_progress_report(pkt, sizeof(pkt), srcip, 100 + ci, 0,
			                                     1, 0, 1, (ci & 1) != 0, 1, 2, 3);
			break;
		case 6: {
			unsigned int n = 1 + rd8(&r);

			for (unsigned int i = 0; i < n; i++)
				if (send_one(wq, &m) != 0)
					break;
			break;
		}
		default:
			if (rd8(&r) & 1)
				restart(wq, &m);
			else
				mb_fris_wq_idle(wq);
			break;
		}
		if (len > 0) {
			CHECK((size_t)len <= sizeof(pkt));
			switch (mangle) {
			case 1: {
				uint8_t pos = rd8(&r);

				pkt[pos % len] ^= rd8(&r) | 1;
				break;
			}
			case 2:
				len = rd8(&r) % len;
				break;
			case 3:
				if (rd8(&r) & 1)
					src ^= 0x100;
				else
					sport ^= 1;
				break;
			default:
				break;
			}
			input(wq, &m, pkt, (size_t)len, src, sport, mcast);
		}
		check_stats(wq, &m);
	}
	/* The sender drains what is left: everything owed goes out. */
	while (send_one(wq, &m) == 0)
		CHECK(m.runs <= (uint64_t)m.nblocks * 4096);
	check_stats(wq, &m);
#ifdef MB_FUZZ_DEBUG
	fprintf(stderr,
	        "joins %llu requests %llu runs %llu blocks %llu appended %llu merged %llu\n",
	        (unsigned long long)m.join_calls, (unsigned long long)m.req_calls,
	        (unsigned long long)m.runs, (unsigned long long)m.blocks,
	        (unsigned long long)mb_fris_wq_stats(wq)->appended,
	        (unsigned long long)mb_fris_wq_stats(wq)->merged);
#endif
	mb_fris_wq_free(wq);
	return 0;
}
