/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of proto/fris_wire: round trips of every message, the values
 * doc/frisbee-protocol.md documents for the real captures in
 * testdata/frisbee-captures (read with a tiny classic-pcap reader below:
 * Ethernet/IPv4/UDP/TCP only), one test per drop reason, and 1e5 random or
 * mutated datagrams through the decoder (deterministic seed).  The capture
 * directory comes from $MB_FRIS_CAPTURES; capture tests skip without it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "fris_wire.h"
#include "ms_wire.h"

/* ---- tiny pcap reader ---------------------------------------------------- */

struct cap_pkt {
	uint32_t orig_len;	/* L4 payload length from the IP header */
	uint32_t cap_len;	/* L4 payload bytes present in the file */
	uint32_t src, dst;	/* network order */
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t data[2048];
};

struct cap {
	FILE *f;
	int swap;
};

static uint32_t
cap32(const struct cap *c, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return c->swap ? __builtin_bswap32(v) : v;
}

static int
cap_open(struct cap *c, const char *name)
{
	const char *dir = getenv("MB_FRIS_CAPTURES");
	char path[1024];
	uint8_t gh[24];

	if (dir == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	c->f = fopen(path, "rb");
	if (c->f == NULL)
		return -1;
	assert_int_equal(fread(gh, 1, 24, c->f), 24);
	c->swap = 0;
	if (cap32(c, gh) != 0xa1b2c3d4) {
		c->swap = 1;
		assert_int_equal(cap32(c, gh), 0xa1b2c3d4);
	}
	assert_int_equal(cap32(c, gh + 20), 1); /* LINKTYPE_ETHERNET */
	return 0;
}

/* Next IPv4 UDP/TCP packet with a payload; 0 at end of file. */
static int
cap_next(struct cap *c, struct cap_pkt *p)
{
	uint8_t rh[16], frame[65536];
	uint32_t incl, ihl, iplen, l4, l4hdr;

	for (;;) {
		if (fread(rh, 1, 16, c->f) != 16)
			return 0;
		incl = cap32(c, rh + 8);
		assert_true(incl <= sizeof(frame));
		assert_int_equal(fread(frame, 1, incl, c->f), incl);
		if (incl < 14 + 20 || frame[12] != 0x08 || frame[13] != 0x00)
			continue;
		ihl = (frame[14] & 0x0f) * 4u;
		iplen = (uint32_t)frame[16] << 8 | frame[17];
		p->proto = frame[23];
		memcpy(&p->src, frame + 26, 4);
		memcpy(&p->dst, frame + 30, 4);
		l4 = 14 + ihl;
		if (p->proto == 17) {
			l4hdr = 8;
		} else if (p->proto == 6) {
			l4hdr = (frame[l4 + 12] >> 4) * 4u;
		} else {
			continue;
		}
		p->sport = (uint16_t)(frame[l4] << 8 | frame[l4 + 1]);
		p->dport = (uint16_t)(frame[l4 + 2] << 8 | frame[l4 + 3]);
		p->orig_len = iplen - ihl - l4hdr;
		if (p->orig_len == 0)
			continue;
		p->cap_len = incl > l4 + l4hdr ? incl - l4 - l4hdr : 0;
		if (p->cap_len > p->orig_len)
			p->cap_len = p->orig_len;	/* Ethernet padding */
		memset(p->data, 0, sizeof(p->data));
		memcpy(p->data, frame + l4 + l4hdr, p->cap_len);
		return 1;
	}
}

static uint32_t
ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* ---- round trips ---------------------------------------------------------- */

static void
roundtrip(const uint8_t *buf, int n, enum mb_fris_kind kind, struct mb_fris_msg *m)
{
	uint8_t again[MB_FRIS_PKT_MAX];

	assert_true(n > 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 100, m), MB_FRIS_OK);
	assert_int_equal(m->kind, kind);
	assert_int_equal(m->hdr.datalen, (uint32_t)n - MB_FRIS_HDR_LEN);
	assert_int_equal(mb_fris_encode(m, again, sizeof(again)), n);
	assert_memory_equal(buf, again, (size_t)n);
}

static void
test_roundtrip_all(void **state)
{
	uint8_t buf[MB_FRIS_PKT_MAX], map[MB_FRIS_MAP_BYTES], data[MB_FRIS_BLOCK_SIZE];
	uint8_t stats[1024];
	struct mb_fris_msg m;
	uint32_t src = ip("10.77.0.11");
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(stats); i++)
		stats[i] = (uint8_t)(i * 3);
	memset(map, 0, sizeof(map));
	mb_fris_map_set_range(map, 14, 1010);

	roundtrip(buf, mb_fris_encode_join(buf, sizeof(buf), src, 0x63320cac),
		  MB_FRIS_K_JOIN_REQ, &m);
	assert_int_equal(m.u.join.clientid, 0x63320cac);
	assert_int_equal(m.hdr.srcip, src);

	roundtrip(buf, mb_fris_encode_join_reply(buf, sizeof(buf), src, 25600),
		  MB_FRIS_K_JOIN_REPLY, &m);
	assert_int_equal(m.u.join_reply.blockcount, 25600);

	roundtrip(buf, mb_fris_encode_join2(buf, sizeof(buf), src, 7), MB_FRIS_K_JOIN2_REQ, &m);
	assert_int_equal(m.u.join2.clientid, 7);
	assert_int_equal(m.u.join2.chunksize, 1024);

	roundtrip(buf, mb_fris_encode_join2_reply(buf, sizeof(buf), src, 7, 3000001ULL << 12),
		  MB_FRIS_K_JOIN2_REPLY, &m);
	assert_true(m.u.join2.bytecount == 3000001ULL << 12);

	roundtrip(buf, mb_fris_encode_request(buf, sizeof(buf), src, 99, 1000, 24),
		  MB_FRIS_K_REQUEST, &m);
	assert_int_equal(m.u.request.chunk, 99);
	assert_int_equal(m.u.request.block, 1000);
	assert_int_equal(m.u.request.count, 24);

	roundtrip(buf, mb_fris_encode_prequest(buf, sizeof(buf), src, 2, 1, map),
		  MB_FRIS_K_PREQUEST, &m);
	assert_int_equal(m.u.prequest.retries, 1);
	assert_memory_equal(m.u.prequest.map, map, sizeof(map));
	assert_int_equal(buf[24], 0x00);
	assert_int_equal(buf[25], 0xc0);

	roundtrip(buf, mb_fris_encode_block(buf, sizeof(buf), src, 5, 1023, data),
		  MB_FRIS_K_BLOCK, &m);
	assert_int_equal(m.u.block.block, 1023);
	assert_memory_equal(m.u.block.data, data, sizeof(data));
	assert_int_equal(buf[0], 1); /* BLOCKs carry type REQUEST */

	roundtrip(buf, mb_fris_encode_leave(buf, sizeof(buf), src, 9, 17), MB_FRIS_K_LEAVE, &m);
	assert_int_equal(m.u.leave.elapsed, 17);

	roundtrip(buf, mb_fris_encode_leave2(buf, sizeof(buf), src, 9, 17, stats),
		  MB_FRIS_K_LEAVE2, &m);
	assert_int_equal(m.u.leave.stats_version, 1);
	assert_memory_equal(m.u.leave.stats, stats, sizeof(stats));

	roundtrip(buf, mb_fris_encode_progress_req(buf, sizeof(buf), src, 0, 5, 1, 1),
		  MB_FRIS_K_PROGRESS_REQ, &m);
	assert_int_equal(m.u.progress.when, 5);

	roundtrip(buf, mb_fris_encode_progress_report(buf, sizeof(buf), src, 9, src, 123, 0, 2,
						      false, 0, 0, 0),
		  MB_FRIS_K_PROGRESS_REPORT, &m);
	assert_false(m.u.progress.full);

	roundtrip(buf, mb_fris_encode_progress_report(buf, sizeof(buf), src, 9, src, 123, 1, 2,
						      true, 10, 11, 1ULL << 40),
		  MB_FRIS_K_PROGRESS_REPORT, &m);
	assert_true(m.u.progress.full);
	assert_int_equal(m.u.progress.chunks_out, 11);
	assert_true(m.u.progress.bytes_out == 1ULL << 40);
	assert_int_equal(m.u.progress.who, src);

	/* Too small buffers. */
	assert_int_equal(mb_fris_encode_block(buf, MB_FRIS_BLOCK_LEN - 1, src, 0, 0, NULL),
			 -ENOSPC);
	assert_int_equal(mb_fris_encode_join(buf, 19, src, 0), -ENOSPC);
}

/* ---- captures ------------------------------------------------------------- */

static void
test_capture_join1(void **state)
{
	struct cap c;
	struct cap_pkt p;
	struct mb_fris_msg m;
	unsigned int n = 0, joins = 0, replies = 0, reqs = 0, preqs = 0, leaves = 0;
	uint32_t client = ip("10.77.0.11"), server = ip("10.77.0.1");
	uint32_t group = ip("239.192.1.9");
	bool seen_map = false;

	(void)state;
	if (cap_open(&c, "join1-session-control.pcap") != 0)
		skip();
	while (cap_next(&c, &p)) {
		n++;
		assert_int_equal(p.proto, 17);
		assert_int_equal(p.sport, 6003);
		/* 25 MiB image: 25 chunks.  Only the LEAVE2 is cut by the
		 * snaplen; it decodes at its real length (rest zeros). */
		if (p.orig_len != MB_FRIS_LEAVE2_LEN)
			assert_int_equal(p.cap_len, p.orig_len);
		assert_int_equal(mb_fris_decode(p.data, p.orig_len, 25, &m), MB_FRIS_OK);
		assert_int_equal(mb_fris_check_source(&m, p.src, p.sport, 6003, group, true),
				 MB_FRIS_OK);
		switch (m.kind) {
		case MB_FRIS_K_JOIN_REQ:
			joins++;
			assert_int_equal(p.src, client);
			assert_int_equal(m.u.join.clientid, 0x63320cac);
			assert_int_equal(p.cap_len, 20);
			break;
		case MB_FRIS_K_JOIN_REPLY:
			replies++;
			assert_int_equal(p.src, server);
			assert_int_equal(m.hdr.srcip, server);
			assert_int_equal(m.u.join_reply.blockcount, 25600);
			break;
		case MB_FRIS_K_REQUEST:
			reqs++;
			assert_int_equal(m.u.request.block, 0);
			assert_int_equal(m.u.request.count, 1024);
			assert_true(m.u.request.chunk < 25);
			break;
		case MB_FRIS_K_PREQUEST:
			preqs++;
			if (m.u.prequest.map[0] == 0x00 && m.u.prequest.map[1] == 0xc0 &&
			    m.u.prequest.map[2] == 0xff && m.u.prequest.map[3] == 0xff) {
				/* 00 c0 ff ff ... = blocks 14..1023 (doc/frisbee-protocol.md) */
				uint32_t first;

				assert_true(mb_fris_map_first_run(m.u.prequest.map, 0, 1024,
								  &first) >= 18);
				assert_int_equal(first, 14);
				seen_map = true;
			}
			break;
		case MB_FRIS_K_LEAVE2:
			leaves++;
			assert_int_equal(m.u.leave.clientid, 0x63320cac);
			assert_int_equal(m.u.leave.stats_version, 1);
			break;
		default:
			fail_msg("unexpected kind %d", m.kind);
		}
	}
	fclose(c.f);
	assert_int_equal(n, 118);
	assert_int_equal(joins, 1);
	assert_int_equal(replies, 1);
	assert_int_equal(reqs, 25);
	assert_int_equal(preqs, 90);
	assert_int_equal(leaves, 1);
	assert_true(seen_map);
}

static void
test_capture_join2(void **state)
{
	struct cap c;
	struct cap_pkt p;
	struct mb_fris_msg m;
	unsigned int n = 0;
	bool reply = false;

	(void)state;
	if (cap_open(&c, "join2-session-control.pcap") != 0)
		skip();
	while (cap_next(&c, &p)) {
		n++;
		/* The LEAVE2 is cut at the 200-byte snaplen: decode it at its
		 * real length (the rest reads as zeros). */
		assert_int_equal(mb_fris_decode(p.data, p.orig_len, 25, &m), MB_FRIS_OK);
		if (m.kind == MB_FRIS_K_JOIN2_REQ) {
			assert_int_equal(m.u.join2.clientid, 0x1b198905);
			assert_int_equal(m.u.join2.chunksize, 1024);
			assert_int_equal(m.u.join2.blocksize, 1024);
		} else if (m.kind == MB_FRIS_K_JOIN2_REPLY) {
			assert_int_equal(m.u.join2.clientid, 0x1b198905);
			assert_int_equal(m.u.join2.blockcount, 0);
			assert_true(m.u.join2.bytecount == 26214400);
			assert_int_equal(mb_fris_chunks_for_bytes(m.u.join2.bytecount), 25);
			reply = true;
		}
	}
	fclose(c.f);
	assert_int_equal(n, 28);
	assert_true(reply);
}

static void
test_capture_blocks(void **state)
{
	struct cap c;
	struct cap_pkt p;
	struct mb_fris_msg m;
	unsigned int n = 0;

	(void)state;
	if (cap_open(&c, "join1-session-blocks-truncated.pcap") != 0)
		skip();
	while (cap_next(&c, &p)) {
		assert_int_equal(p.orig_len, MB_FRIS_BLOCK_LEN);
		assert_true(p.cap_len < p.orig_len);
		/* As captured (truncated) the datagram is rejected... */
		assert_int_equal(mb_fris_decode(p.data, p.cap_len, 25, &m), MB_FRIS_E_DATALEN);
		/* ...and with its real length (data zero-filled) it is a BLOCK. */
		assert_int_equal(mb_fris_decode(p.data, p.orig_len, 25, &m), MB_FRIS_OK);
		assert_int_equal(m.kind, MB_FRIS_K_BLOCK);
		assert_int_equal(m.hdr.type, MB_FRIS_PKT_REQUEST);
		assert_int_equal(m.u.block.chunk, 2);
		assert_int_equal(m.u.block.block, n);
		if (n == 0) /* chunk header of an imagezip V3 image */
			assert_int_equal(mb_fris_get32(m.u.block.data), 0x6969696b);
		n++;
	}
	fclose(c.f);
	assert_int_equal(n, 8);
}

static void
test_capture_master(void **state)
{
	struct cap c;
	struct cap_pkt p;
	struct mb_ms_get_request rq;
	struct mb_ms_get_reply rp;
	const char *why = NULL;
	unsigned int n = 0;

	(void)state;
	if (cap_open(&c, "master-getstatus.pcap") != 0)
		skip();
	while (cap_next(&c, &p)) {
		n++;
		if (p.dport == MB_MS_PORT) {
			assert_int_equal(p.orig_len, MB_MS_GETREQ_LEN);
			assert_int_equal(mb_ms_get_request_decode(p.data, p.orig_len, &rq, &why),
					 0);
			assert_int_equal(rq.status, 1);
			assert_int_equal(rq.methods, MB_MS_METHOD_ANY);
			assert_int_equal(rq.idlen, 10);
			assert_string_equal(rq.imageid, "test64.ndz");
			assert_int_equal(rq.hostip, 0);
		} else {
			assert_int_equal(p.orig_len, MB_MS_GETREPLY_LEN);
			assert_int_equal(mb_ms_get_reply_decode(p.data, p.orig_len, &rp, &why), 0);
			assert_int_equal(rp.error, 0);
			assert_int_equal(rp.method, 3);
			assert_int_equal(rp.sigtype, MB_MS_SIG_MTIME);
			assert_int_equal(rp.signature[0], 0x6b);
			assert_int_equal(rp.signature[1], 0x06);
			assert_true(rp.size == 0x01900000);
		}
	}
	fclose(c.f);
	assert_int_equal(n, 2);
}

/* ---- rejects -------------------------------------------------------------- */

static void
test_rejects(void **state)
{
	uint8_t buf[MB_FRIS_PKT_MAX + 64], map[MB_FRIS_MAP_BYTES] = {0};
	struct mb_fris_msg m;
	uint32_t src = ip("10.0.0.2");
	int n;

	(void)state;
	assert_int_equal(mb_fris_decode(buf, 0, 10, &m), MB_FRIS_E_SHORT);
	assert_int_equal(mb_fris_decode(buf, 15, 10, &m), MB_FRIS_E_SHORT);

	n = mb_fris_encode_request(buf, sizeof(buf), src, 3, 0, 1024);
	assert_int_equal(mb_fris_decode(buf, (size_t)n - 1, 10, &m), MB_FRIS_E_DATALEN);
	assert_int_equal(mb_fris_decode(buf, (size_t)n + 40, 10, &m), MB_FRIS_OK);
	mb_fris_put32(buf + 8, 0xfffffff0u); /* negative datalen */
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_DATALEN);
	mb_fris_put32(buf + 8, 8);	   /* shorter than a REQUEST */
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_MSGLEN);
	mb_fris_put32(buf + 8, 12);

	assert_int_equal(mb_fris_decode(buf, (size_t)n, 3, &m), MB_FRIS_E_CHUNK);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, MB_FRIS_NCHUNKS_ANY, &m), MB_FRIS_OK);
	mb_fris_put32(buf + 16, 0x80000000u);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, MB_FRIS_NCHUNKS_ANY, &m),
			 MB_FRIS_E_CHUNK);
	mb_fris_put32(buf + 16, 3);
	mb_fris_put32(buf + 20, 1024);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_BLOCK);
	mb_fris_put32(buf + 20, 1);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_COUNT);
	mb_fris_put32(buf + 24, 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_COUNT);
	mb_fris_put32(buf + 24, 1023);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_OK);

	mb_fris_put32(buf, 3);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_TYPE);
	mb_fris_put32(buf, 2); /* a REPLY-typed REQUEST */
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_TYPE);
	mb_fris_put32(buf, 1);
	mb_fris_put32(buf + 4, 9);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_SUBTYPE);
	mb_fris_put32(buf + 4, 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_SUBTYPE);

	n = mb_fris_encode_block(buf, sizeof(buf), src, 9, 1, NULL);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 9, &m), MB_FRIS_E_CHUNK);
	mb_fris_put32(buf + 20, 5000);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_BLOCK);
	mb_fris_put32(buf, 2);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_TYPE);

	n = mb_fris_encode_prequest(buf, sizeof(buf), src, 10, 0, map);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_CHUNK);
	assert_int_equal(mb_fris_decode(buf, (size_t)n - 1, 11, &m), MB_FRIS_E_DATALEN);

	n = mb_fris_encode_join2_reply(buf, sizeof(buf), src, 1, 4096);
	mb_fris_put32(buf + 24, 2048);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_SIZES);

	n = mb_fris_encode_progress_report(buf, sizeof(buf), src, 1, 0, 0, 1, 1, false, 0, 0, 0);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_MSGLEN);

	n = mb_fris_encode_leave2(buf, sizeof(buf), src, 1, 1, NULL);
	mb_fris_put32(buf + 8, MB_FRIS_LEAVE_DLEN);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_E_MSGLEN);

	/* Source checks (doc/frisbee-protocol.md, acceptance step 5). */
	n = mb_fris_encode_block(buf, sizeof(buf), src, 1, 1, NULL);
	assert_int_equal(mb_fris_decode(buf, (size_t)n, 10, &m), MB_FRIS_OK);
	assert_int_equal(mb_fris_check_source(&m, src, 6000, 6000, 0, false), MB_FRIS_OK);
	assert_int_equal(mb_fris_check_source(&m, src, 6001, 6000, 0, false), MB_FRIS_E_PORT);
	assert_int_equal(mb_fris_check_source(&m, ip("10.0.0.3"), 6000, 6000, 0, false),
			 MB_FRIS_E_SRCIP);
	assert_int_equal(mb_fris_check_source(&m, ip("239.1.1.1"), 6000, 6000,
					      ip("239.1.1.1"), false), MB_FRIS_OK);
	assert_int_equal(mb_fris_check_source(&m, ip("239.1.1.1"), 6000, 6000,
					      ip("239.1.1.1"), true), MB_FRIS_E_SRCIP);

	assert_string_equal(mb_fris_result_name(MB_FRIS_E_CHUNK), "E_CHUNK");
	assert_string_equal(mb_fris_result_str(MB_FRIS_RESULT_MAX), "?");
}

static void
test_sizes(void **state)
{
	uint8_t map[MB_FRIS_MAP_BYTES] = {0};
	uint32_t first;

	(void)state;
	assert_int_equal(mb_fris_chunks_for_bytes(0), 0);
	assert_int_equal(mb_fris_chunks_for_bytes(1), 1);
	assert_int_equal(mb_fris_chunks_for_bytes(1 << 20), 1);
	assert_int_equal(mb_fris_chunks_for_bytes((1 << 20) + 1), 2);
	assert_int_equal(mb_fris_chunks_for_bytes(3000001), 3);
	assert_int_equal(mb_fris_chunk_blocks(2930, 2), 2930 - 2048);
	assert_int_equal(mb_fris_chunk_blocks(2930, 1), 1024);
	assert_int_equal(mb_fris_chunk_blocks(2930, 3), 0);

	mb_fris_map_set_range(map, 3, 20);
	assert_int_equal(mb_fris_map_count(map, 1024), 20);
	assert_int_equal(mb_fris_map_first_run(map, 0, 1024, &first), 20);
	assert_int_equal(first, 3);
	assert_int_equal(mb_fris_map_first_run(map, 0, 10, &first), 7);
	assert_int_equal(mb_fris_map_first_run(map, 23, 1024, &first), 0);
	mb_fris_map_set(map, 1023);
	assert_int_equal(mb_fris_map_first_run(map, 23, 1024, &first), 1);
	assert_int_equal(first, 1023);
}

/* ---- garbage -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void
test_garbage(void **state)
{
	uint8_t seeds[8][MB_FRIS_PKT_MAX], buf[MB_FRIS_PKT_MAX + 16], again[MB_FRIS_PKT_MAX];
	uint8_t map[MB_FRIS_MAP_BYTES];
	int seedlen[8];
	unsigned long counts[MB_FRIS_RESULT_MAX] = {0};
	struct mb_fris_msg m;
	unsigned int i, j, k;
	size_t len;

	(void)state;
	memset(map, 0xa5, sizeof(map));
	seedlen[0] = mb_fris_encode_join(seeds[0], MB_FRIS_PKT_MAX, 1, 2);
	seedlen[1] = mb_fris_encode_join2_reply(seeds[1], MB_FRIS_PKT_MAX, 1, 2, 5000000);
	seedlen[2] = mb_fris_encode_request(seeds[2], MB_FRIS_PKT_MAX, 1, 2, 3, 4);
	seedlen[3] = mb_fris_encode_prequest(seeds[3], MB_FRIS_PKT_MAX, 1, 2, 0, map);
	seedlen[4] = mb_fris_encode_block(seeds[4], MB_FRIS_PKT_MAX, 1, 2, 3, NULL);
	seedlen[5] = mb_fris_encode_leave2(seeds[5], MB_FRIS_PKT_MAX, 1, 2, 3, NULL);
	seedlen[6] = mb_fris_encode_progress_report(seeds[6], MB_FRIS_PKT_MAX, 1, 2, 3, 4, 1,
						    1, true, 1, 2, 3);
	seedlen[7] = mb_fris_encode_progress_req(seeds[7], MB_FRIS_PKT_MAX, 1, 2, 3, 4, 5);

	for (i = 0; i < 100000; i++) {
		if (i % 4 == 0) {
			/* Pure noise, mostly with a plausible header. */
			len = rng() % sizeof(buf);
			for (j = 0; j < len; j++)
				buf[j] = (uint8_t)rng();
			if (len >= 16 && (rng() & 1)) {
				mb_fris_put32(buf, 1 + rng() % 2);
				mb_fris_put32(buf + 4, rng() % 10);
				mb_fris_put32(buf + 8, (uint32_t)(len - 16 - rng() % 4));
			}
		} else {
			k = rng() % 8;
			len = (size_t)seedlen[k];
			memcpy(buf, seeds[k], len);
			for (j = rng() % 6; j > 0; j--) {
				switch (rng() % 4) {
				case 0:
					buf[rng() % len] = (uint8_t)rng();
					break;
				case 1:
					mb_fris_put32(buf + (rng() % (len - 3)), rng());
					break;
				case 2:
					len = rng() % (len + 1);
					if (len < 4)
						len = 4;
					break;
				case 3:
					mb_fris_put32(buf + 4 * (rng() % 7), rng() % 1100);
					break;
				}
			}
		}
		/* Decode only what is in bounds: copy into an exact-size heap
		 * buffer so that any overread shows under valgrind/ASan. */
		uint8_t *p = malloc(len ? len : 1);

		assert_non_null(p);
		memcpy(p, buf, len);
		enum mb_fris_result r = mb_fris_decode(p, len, 64, &m);

		assert_true((unsigned int)r < MB_FRIS_RESULT_MAX);
		counts[r]++;
		if (r == MB_FRIS_OK) {
			int n = mb_fris_encode(&m, again, sizeof(again));
			struct mb_fris_msg m2;

			assert_true(n > 0);
			assert_int_equal(mb_fris_decode(again, (size_t)n, 64, &m2), MB_FRIS_OK);
			assert_int_equal(m2.kind, m.kind);
		}
		free(p);
	}
	/* Every path was exercised. */
	assert_true(counts[MB_FRIS_OK] > 1000);
	assert_true(counts[MB_FRIS_E_SHORT] > 0);
	assert_true(counts[MB_FRIS_E_DATALEN] > 0);
	assert_true(counts[MB_FRIS_E_TYPE] > 0);
	assert_true(counts[MB_FRIS_E_SUBTYPE] > 0);
	assert_true(counts[MB_FRIS_E_MSGLEN] > 0);
	assert_true(counts[MB_FRIS_E_CHUNK] > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_capture_join1),
		cmocka_unit_test(test_capture_join2),
		cmocka_unit_test(test_capture_blocks),
		cmocka_unit_test(test_capture_master),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
