/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frisbee UDP codec: explicit-offset little-endian decode with one drop
 * reason per rejected datagram, and encoders into caller buffers.  See
 * fris_wire.h for the contract; the layouts are in doc/frisbee-protocol.md.
 * Nothing here allocates, logs or blocks.
 */
#include <errno.h>
#include <string.h>

#include "fris_wire.h"

static const char *const result_str[] = {
#define MB_FRIS_X_STR(n, s) [MB_FRIS_##n] = s,
	MB_FRIS_RESULTS(MB_FRIS_X_STR)
#undef MB_FRIS_X_STR
};

static const char *const result_name[] = {
#define MB_FRIS_X_NAME(n, s) [MB_FRIS_##n] = #n,
	MB_FRIS_RESULTS(MB_FRIS_X_NAME)
#undef MB_FRIS_X_NAME
};

const char *
mb_fris_result_str(enum mb_fris_result r)
{
	if ((unsigned int)r >= MB_FRIS_RESULT_MAX)
		return "?";
	return result_str[r];
}

const char *
mb_fris_result_name(enum mb_fris_result r)
{
	if ((unsigned int)r >= MB_FRIS_RESULT_MAX)
		return "?";
	return result_name[r];
}

/* Chunk numbers are int32 on the wire: negative ones are out of range too. */
static bool
chunk_ok(uint32_t chunk, uint32_t nchunks)
{
	if (chunk > INT32_MAX)
		return false;
	return nchunks == MB_FRIS_NCHUNKS_ANY || chunk < nchunks;
}

/* Minimum datalen per subtype (index = subtype). */
static const uint32_t min_dlen[] = {
	[MB_FRIS_SUB_JOIN] = MB_FRIS_JOIN_DLEN,
	[MB_FRIS_SUB_LEAVE] = MB_FRIS_LEAVE_DLEN,
	[MB_FRIS_SUB_BLOCK] = MB_FRIS_BLOCK_DLEN,
	[MB_FRIS_SUB_REQUEST] = MB_FRIS_REQUEST_DLEN,
	[MB_FRIS_SUB_LEAVE2] = MB_FRIS_LEAVE2_DLEN,
	[MB_FRIS_SUB_PREQUEST] = MB_FRIS_PREQUEST_DLEN,
	[MB_FRIS_SUB_JOIN2] = MB_FRIS_JOIN2_DLEN,
	[MB_FRIS_SUB_PROGRESS] = MB_FRIS_PROGRESS_DLEN,
};

enum mb_fris_result
mb_fris_decode(const void *buf, size_t len, uint32_t nchunks, struct mb_fris_msg *ret)
{
	const uint8_t *p = buf;
	const uint8_t *b = p + MB_FRIS_HDR_LEN;
	struct mb_fris_hdr *h = &ret->hdr;

	if (len < MB_FRIS_HDR_LEN)
		return MB_FRIS_E_SHORT;
	h->type = mb_fris_get32(p);
	h->subtype = mb_fris_get32(p + 4);
	h->datalen = mb_fris_get32(p + 8);
	memcpy(&h->srcip, p + 12, 4);
	/* Rule 1 of PacketReceive; datalen is an int32, so "negative" is huge. */
	if (h->datalen > len - MB_FRIS_HDR_LEN)
		return MB_FRIS_E_DATALEN;
	if (h->type != MB_FRIS_PKT_REQUEST && h->type != MB_FRIS_PKT_REPLY)
		return MB_FRIS_E_TYPE;
	if (h->subtype < MB_FRIS_SUB_JOIN || h->subtype > MB_FRIS_SUB_PROGRESS)
		return MB_FRIS_E_SUBTYPE;
	if (h->datalen < min_dlen[h->subtype])
		return MB_FRIS_E_MSGLEN;

	switch (h->subtype) {
	case MB_FRIS_SUB_JOIN:
		if (h->type == MB_FRIS_PKT_REQUEST) {
			ret->kind = MB_FRIS_K_JOIN_REQ;
			ret->u.join.clientid = mb_fris_get32(b);
		} else {
			ret->kind = MB_FRIS_K_JOIN_REPLY;
			ret->u.join_reply.blockcount = mb_fris_get32(b);
			if (ret->u.join_reply.blockcount > INT32_MAX)
				return MB_FRIS_E_COUNT;
		}
		return MB_FRIS_OK;
	case MB_FRIS_SUB_JOIN2:
		ret->kind = h->type == MB_FRIS_PKT_REQUEST ? MB_FRIS_K_JOIN2_REQ :
							     MB_FRIS_K_JOIN2_REPLY;
		ret->u.join2.clientid = mb_fris_get32(b);
		ret->u.join2.blockcount = mb_fris_get32(b + 4);
		ret->u.join2.chunksize = mb_fris_get32(b + 8);
		ret->u.join2.blocksize = mb_fris_get32(b + 12);
		ret->u.join2.bytecount = mb_fris_get64(b + 16);
		/* The stock client asserts on anything else (InitSizes). */
		if (ret->kind == MB_FRIS_K_JOIN2_REPLY &&
		    (ret->u.join2.chunksize != MB_FRIS_CHUNK_BLOCKS ||
		     ret->u.join2.blocksize != MB_FRIS_BLOCK_SIZE))
			return MB_FRIS_E_SIZES;
		return MB_FRIS_OK;
	case MB_FRIS_SUB_LEAVE:
	case MB_FRIS_SUB_LEAVE2:
		if (h->type != MB_FRIS_PKT_REQUEST)
			return MB_FRIS_E_TYPE;
		ret->u.leave.clientid = mb_fris_get32(b);
		ret->u.leave.elapsed = mb_fris_get32(b + 4);
		if (h->subtype == MB_FRIS_SUB_LEAVE) {
			ret->kind = MB_FRIS_K_LEAVE;
			ret->u.leave.stats_version = 0;
			ret->u.leave.stats = NULL;
		} else {
			ret->kind = MB_FRIS_K_LEAVE2;
			ret->u.leave.stats_version = mb_fris_get32(b + 8);
			ret->u.leave.stats = b + 12;
		}
		return MB_FRIS_OK;
	case MB_FRIS_SUB_BLOCK:
		/* Servers send BLOCKs with type REQUEST; a REPLY-typed one is
		 * nobody's (2020+ server rule). */
		if (h->type != MB_FRIS_PKT_REQUEST)
			return MB_FRIS_E_TYPE;
		ret->kind = MB_FRIS_K_BLOCK;
		ret->u.block.chunk = mb_fris_get32(b);
		ret->u.block.block = mb_fris_get32(b + 4);
		ret->u.block.data = b + 8;
		if (!chunk_ok(ret->u.block.chunk, nchunks))
			return MB_FRIS_E_CHUNK;
		if (ret->u.block.block >= MB_FRIS_CHUNK_BLOCKS)
			return MB_FRIS_E_BLOCK;
		return MB_FRIS_OK;
	case MB_FRIS_SUB_REQUEST:
		if (h->type != MB_FRIS_PKT_REQUEST)
			return MB_FRIS_E_TYPE;
		ret->kind = MB_FRIS_K_REQUEST;
		ret->u.request.chunk = mb_fris_get32(b);
		ret->u.request.block = mb_fris_get32(b + 4);
		ret->u.request.count = mb_fris_get32(b + 8);
		if (!chunk_ok(ret->u.request.chunk, nchunks))
			return MB_FRIS_E_CHUNK;
		if (ret->u.request.block >= MB_FRIS_CHUNK_BLOCKS)
			return MB_FRIS_E_BLOCK;
		if (ret->u.request.count == 0 || ret->u.request.count > MB_FRIS_CHUNK_BLOCKS ||
		    ret->u.request.block + ret->u.request.count > MB_FRIS_CHUNK_BLOCKS)
			return MB_FRIS_E_COUNT;
		return MB_FRIS_OK;
	case MB_FRIS_SUB_PREQUEST:
		if (h->type != MB_FRIS_PKT_REQUEST)
			return MB_FRIS_E_TYPE;
		ret->kind = MB_FRIS_K_PREQUEST;
		ret->u.prequest.chunk = mb_fris_get32(b);
		ret->u.prequest.retries = mb_fris_get32(b + 4);
		ret->u.prequest.map = b + 8;
		if (!chunk_ok(ret->u.prequest.chunk, nchunks))
			return MB_FRIS_E_CHUNK;
		return MB_FRIS_OK;
	case MB_FRIS_SUB_PROGRESS:
		ret->kind = h->type == MB_FRIS_PKT_REQUEST ? MB_FRIS_K_PROGRESS_REQ :
							     MB_FRIS_K_PROGRESS_REPORT;
		ret->u.progress.clientid = mb_fris_get32(b);
		memcpy(&ret->u.progress.who, b + 4, 4);
		ret->u.progress.when = mb_fris_get32(b + 8);
		ret->u.progress.what = mb_fris_get16(b + 12);
		ret->u.progress.seq = mb_fris_get16(b + 14);
		ret->u.progress.full = false;
		ret->u.progress.chunks_in = 0;
		ret->u.progress.chunks_out = 0;
		ret->u.progress.bytes_out = 0;
		ret->u.progress.stats = NULL;
		if (ret->kind == MB_FRIS_K_PROGRESS_REPORT && ret->u.progress.what != 0) {
			if (h->datalen < MB_FRIS_PROGRESS_FULL_DLEN)
				return MB_FRIS_E_MSGLEN;
			ret->u.progress.full = true;
			ret->u.progress.chunks_in = mb_fris_get32(b + 16);
			ret->u.progress.chunks_out = mb_fris_get32(b + 20);
			ret->u.progress.bytes_out = mb_fris_get64(b + 24);
			ret->u.progress.stats = b + 32;
		}
		return MB_FRIS_OK;
	}
	return MB_FRIS_E_SUBTYPE;
}

enum mb_fris_result
mb_fris_check_source(const struct mb_fris_msg *m, uint32_t ip_src, uint16_t sport,
		     uint16_t port, uint32_t group, bool strict_2020)
{
	uint32_t src = ip_src;

	if (group != 0 && ip_src == group) {
		bool exempt = strict_2020 && (m->kind == MB_FRIS_K_BLOCK ||
					      m->kind == MB_FRIS_K_PROGRESS_REQ);

		if (!exempt)
			src = m->hdr.srcip;
	}
	if (m->hdr.srcip != src)
		return MB_FRIS_E_SRCIP;
	if (sport != port)
		return MB_FRIS_E_PORT;
	return MB_FRIS_OK;
}

/* ---- encode -------------------------------------------------------------- */

static uint8_t *
put_hdr(void *buf, size_t cap, size_t need, uint32_t type, uint32_t subtype, uint32_t srcip)
{
	uint8_t *p = buf;

	if (cap < need)
		return NULL;
	mb_fris_put32(p, type);
	mb_fris_put32(p + 4, subtype);
	mb_fris_put32(p + 8, (uint32_t)(need - MB_FRIS_HDR_LEN));
	memcpy(p + 12, &srcip, 4);
	return p + MB_FRIS_HDR_LEN;
}

int
mb_fris_encode_join(void *buf, size_t cap, uint32_t srcip, uint32_t clientid)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_JOIN_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_JOIN, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, clientid);
	return MB_FRIS_JOIN_LEN;
}

int
mb_fris_encode_join_reply(void *buf, size_t cap, uint32_t srcip, uint32_t blockcount)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_JOIN_LEN, MB_FRIS_PKT_REPLY,
			     MB_FRIS_SUB_JOIN, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, blockcount);
	return MB_FRIS_JOIN_LEN;
}

static int
encode_join2(void *buf, size_t cap, uint32_t type, uint32_t srcip, uint32_t clientid,
	     uint32_t blockcount, uint64_t bytecount)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_JOIN2_LEN, type, MB_FRIS_SUB_JOIN2, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, clientid);
	mb_fris_put32(b + 4, blockcount);
	mb_fris_put32(b + 8, MB_FRIS_CHUNK_BLOCKS);
	mb_fris_put32(b + 12, MB_FRIS_BLOCK_SIZE);
	mb_fris_put64(b + 16, bytecount);
	return MB_FRIS_JOIN2_LEN;
}

int
mb_fris_encode_join2(void *buf, size_t cap, uint32_t srcip, uint32_t clientid)
{
	/* The stock client leaves blockcount/bytecount uninitialised; we send 0. */
	return encode_join2(buf, cap, MB_FRIS_PKT_REQUEST, srcip, clientid, 0, 0);
}

int
mb_fris_encode_join2_reply(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
			   uint64_t bytecount)
{
	return encode_join2(buf, cap, MB_FRIS_PKT_REPLY, srcip, clientid, 0, bytecount);
}

int
mb_fris_encode_request(void *buf, size_t cap, uint32_t srcip, uint32_t chunk, uint32_t block,
		       uint32_t count)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_REQUEST_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_REQUEST, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, chunk);
	mb_fris_put32(b + 4, block);
	mb_fris_put32(b + 8, count);
	return MB_FRIS_REQUEST_LEN;
}

int
mb_fris_encode_prequest(void *buf, size_t cap, uint32_t srcip, uint32_t chunk, uint32_t retries,
			const uint8_t *map)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_PREQUEST_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_PREQUEST, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, chunk);
	mb_fris_put32(b + 4, retries);
	memcpy(b + 8, map, MB_FRIS_MAP_BYTES);
	return MB_FRIS_PREQUEST_LEN;
}

int
mb_fris_encode_block(void *buf, size_t cap, uint32_t srcip, uint32_t chunk, uint32_t block,
		     const void *data)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_BLOCK_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_BLOCK, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, chunk);
	mb_fris_put32(b + 4, block);
	if (data != NULL)
		memcpy(b + 8, data, MB_FRIS_BLOCK_SIZE);
	return MB_FRIS_BLOCK_LEN;
}

int
mb_fris_encode_leave(void *buf, size_t cap, uint32_t srcip, uint32_t clientid, uint32_t elapsed)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_LEAVE_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_LEAVE, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, clientid);
	mb_fris_put32(b + 4, elapsed);
	return MB_FRIS_LEAVE_LEN;
}

int
mb_fris_encode_leave2(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
		      uint32_t elapsed, const void *stats)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_LEAVE2_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_LEAVE2, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, clientid);
	mb_fris_put32(b + 4, elapsed);
	mb_fris_put32(b + 8, MB_FRIS_STATS_VERSION);
	if (stats != NULL)
		memcpy(b + 12, stats, MB_FRIS_STATS_LEN - 4);
	else
		memset(b + 12, 0, MB_FRIS_STATS_LEN - 4);
	return MB_FRIS_LEAVE2_LEN;
}

int
mb_fris_encode_progress_req(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
			    uint32_t when, uint16_t what, uint16_t seq)
{
	uint8_t *b = put_hdr(buf, cap, MB_FRIS_PROGRESS_LEN, MB_FRIS_PKT_REQUEST,
			     MB_FRIS_SUB_PROGRESS, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, clientid);
	memset(b + 4, 0, 4);
	mb_fris_put32(b + 8, when);
	mb_fris_put16(b + 12, what);
	mb_fris_put16(b + 14, seq);
	return MB_FRIS_PROGRESS_LEN;
}

int
mb_fris_encode_progress_report(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
			       uint32_t who, uint32_t when, uint16_t what, uint16_t seq,
			       bool full, uint32_t chunks_in, uint32_t chunks_out,
			       uint64_t bytes_out)
{
	size_t need = full ? MB_FRIS_PROGRESS_FULL_LEN : MB_FRIS_PROGRESS_LEN;
	uint8_t *b = put_hdr(buf, cap, need, MB_FRIS_PKT_REPLY, MB_FRIS_SUB_PROGRESS, srcip);

	if (b == NULL)
		return -ENOSPC;
	mb_fris_put32(b, clientid);
	memcpy(b + 4, &who, 4);
	mb_fris_put32(b + 8, when);
	mb_fris_put16(b + 12, what);
	mb_fris_put16(b + 14, seq);
	if (full) {
		mb_fris_put32(b + 16, chunks_in);
		mb_fris_put32(b + 20, chunks_out);
		mb_fris_put64(b + 24, bytes_out);
		memset(b + 32, 0, MB_FRIS_STATS_LEN);
		mb_fris_put32(b + 32, MB_FRIS_STATS_VERSION);
	}
	return (int)need;
}

int
mb_fris_encode(const struct mb_fris_msg *m, void *buf, size_t cap)
{
	const uint32_t ip = m->hdr.srcip;
	int n;

	switch (m->kind) {
	case MB_FRIS_K_JOIN_REQ:
		return mb_fris_encode_join(buf, cap, ip, m->u.join.clientid);
	case MB_FRIS_K_JOIN_REPLY:
		return mb_fris_encode_join_reply(buf, cap, ip, m->u.join_reply.blockcount);
	case MB_FRIS_K_JOIN2_REQ:
	case MB_FRIS_K_JOIN2_REPLY:
		n = encode_join2(buf, cap,
				 m->kind == MB_FRIS_K_JOIN2_REQ ? MB_FRIS_PKT_REQUEST :
								  MB_FRIS_PKT_REPLY,
				 ip, m->u.join2.clientid, m->u.join2.blockcount,
				 m->u.join2.bytecount);
		if (n > 0) {
			/* Keep the proposal as decoded (requests may differ). */
			mb_fris_put32((uint8_t *)buf + 24, m->u.join2.chunksize);
			mb_fris_put32((uint8_t *)buf + 28, m->u.join2.blocksize);
		}
		return n;
	case MB_FRIS_K_REQUEST:
		return mb_fris_encode_request(buf, cap, ip, m->u.request.chunk, m->u.request.block,
					      m->u.request.count);
	case MB_FRIS_K_PREQUEST:
		return mb_fris_encode_prequest(buf, cap, ip, m->u.prequest.chunk,
					       m->u.prequest.retries, m->u.prequest.map);
	case MB_FRIS_K_BLOCK:
		return mb_fris_encode_block(buf, cap, ip, m->u.block.chunk, m->u.block.block,
					    m->u.block.data);
	case MB_FRIS_K_LEAVE:
		return mb_fris_encode_leave(buf, cap, ip, m->u.leave.clientid,
					    m->u.leave.elapsed);
	case MB_FRIS_K_LEAVE2:
		n = mb_fris_encode_leave2(buf, cap, ip, m->u.leave.clientid, m->u.leave.elapsed,
					  m->u.leave.stats);
		if (n > 0)
			mb_fris_put32((uint8_t *)buf + 24, m->u.leave.stats_version);
		return n;
	case MB_FRIS_K_PROGRESS_REQ:
		n = mb_fris_encode_progress_req(buf, cap, ip, m->u.progress.clientid,
						m->u.progress.when, m->u.progress.what,
						m->u.progress.seq);
		if (n > 0)
			memcpy((uint8_t *)buf + 20, &m->u.progress.who, 4);
		return n;
	case MB_FRIS_K_PROGRESS_REPORT:
		n = mb_fris_encode_progress_report(buf, cap, ip, m->u.progress.clientid,
						   m->u.progress.who, m->u.progress.when,
						   m->u.progress.what, m->u.progress.seq,
						   m->u.progress.full, m->u.progress.chunks_in,
						   m->u.progress.chunks_out,
						   m->u.progress.bytes_out);
		if (n > 0 && m->u.progress.full && m->u.progress.stats != NULL)
			memcpy((uint8_t *)buf + 48, m->u.progress.stats, MB_FRIS_STATS_LEN);
		return n;
	}
	return -EINVAL;
}

/* ---- block maps ---------------------------------------------------------- */

void
mb_fris_map_set_range(uint8_t *map, uint32_t first, uint32_t count)
{
	uint32_t b = first, end = first + count;

	while (b < end && (b & 7) != 0)
		mb_fris_map_set(map, b++);
	while (b + 8 <= end) {
		map[b >> 3] = 0xff;
		b += 8;
	}
	while (b < end)
		mb_fris_map_set(map, b++);
}

uint32_t
mb_fris_map_count(const uint8_t *map, uint32_t nbits)
{
	uint32_t n = 0, i;

	for (i = 0; i < nbits / 8; i++)
		n += (uint32_t)__builtin_popcount(map[i]);
	for (i = nbits & ~7u; i < nbits; i++)
		n += mb_fris_map_test(map, i);
	return n;
}

uint32_t
mb_fris_map_first_run(const uint8_t *map, uint32_t from, uint32_t nbits, uint32_t *ret_first)
{
	uint32_t b = from, start;

	/* Skip clear bits, a zero byte at a time where aligned. */
	while (b < nbits) {
		if ((b & 7) == 0 && map[b >> 3] == 0) {
			b += 8;
			continue;
		}
		if (mb_fris_map_test(map, b))
			break;
		b++;
	}
	if (b >= nbits) {
		*ret_first = nbits;
		return 0;
	}
	start = b;
	while (b < nbits) {
		if ((b & 7) == 0 && map[b >> 3] == 0xff && b + 8 <= nbits) {
			b += 8;
			continue;
		}
		if (!mb_fris_map_test(map, b))
			break;
		b++;
	}
	*ret_first = start;
	return b - start;
}
