/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Frisbee UDP wire messages (client <-> frisbeed): decode and encode.
 *
 * Every datagram is a 16-byte header (type, subtype, datalen, srcip) and
 * `datalen` bytes of message.  Integer fields are little-endian on the wire
 * (the stock tools write host structs on x86), except srcip, which is an IPv4
 * address in network order; this module reads and writes each field at its
 * offset with explicit byte-order helpers, never through a host struct.
 * Layouts and validity rules: doc/frisbee-protocol.md.
 *
 * Decoding checks what needs only the datagram and the session's chunk count
 * (lengths, type/subtype pairs, chunk/block/count ranges) and reports one
 * reason per rejected datagram so that callers can count drops.  The checks
 * on the IP source address and UDP source port (doc/frisbee-protocol.md, step 5) need
 * the packet's addressing, which the caller has: mb_fris_check_source().
 * Decoded messages point into the caller's buffer for bulk payloads (block
 * data, request bitmaps, client statistics); nothing is allocated, nothing is
 * logged, no socket is touched, and no DPDK header is included.
 */
#ifndef _MB_FRIS_WIRE_H_
#define _MB_FRIS_WIRE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sizes, with the arithmetic behind them ------------------------------ */

#define MB_FRIS_HDR_LEN 16			/* type, subtype, datalen, srcip: 4 x 4 */
#define MB_FRIS_BLOCK_SIZE 1024			/* MAXBLOCKSIZE: bytes per BLOCK */
#define MB_FRIS_CHUNK_BLOCKS 1024		/* MAXCHUNKSIZE: blocks per chunk */
#define MB_FRIS_CHUNK_SIZE (MB_FRIS_BLOCK_SIZE * MB_FRIS_CHUNK_BLOCKS) /* 1 MiB */
#define MB_FRIS_MAP_BYTES (MB_FRIS_CHUNK_BLOCKS / 8) /* BlockMap_t: 1024 bits = 128 B */

/* Message body sizes (the header's datalen as the stock tools send it). */
#define MB_FRIS_JOIN_DLEN 4			/* clientid | blockcount union */
/* clientid, blockcount, chunksize, blocksize (4 each), bytecount (8) = 24 */
#define MB_FRIS_JOIN2_DLEN (4 + 4 + 4 + 4 + 8)
#define MB_FRIS_REQUEST_DLEN (4 + 4 + 4)	/* chunk, block, count = 12 */
#define MB_FRIS_PREQUEST_DLEN (4 + 4 + MB_FRIS_MAP_BYTES) /* chunk, retries, map = 136 */
#define MB_FRIS_BLOCK_DLEN (4 + 4 + MB_FRIS_BLOCK_SIZE) /* chunk, block, data = 1032 */
#define MB_FRIS_LEAVE_DLEN (4 + 4)		/* clientid, elapsed = 8 */
#define MB_FRIS_STATS_LEN (4 + 1024)		/* ClientStats_t: version + union limit[256] */
#define MB_FRIS_LEAVE2_DLEN (MB_FRIS_LEAVE_DLEN + MB_FRIS_STATS_LEN) /* 1036 */
#define MB_FRIS_PROGRESS_DLEN (4 + 4 + 4 + 2 + 2) /* clientid, who, when, what, seq = 16 */
#define MB_FRIS_SUMMARY_LEN (4 + 4 + 8)		/* chunks_in, chunks_out, bytes_out = 16 */
/* A report with what != 0 carries the summary and the full statistics. */
#define MB_FRIS_PROGRESS_FULL_DLEN (MB_FRIS_PROGRESS_DLEN + MB_FRIS_SUMMARY_LEN + \
				    MB_FRIS_STATS_LEN) /* 1060 */

/* UDP payload sizes. */
#define MB_FRIS_JOIN_LEN (MB_FRIS_HDR_LEN + MB_FRIS_JOIN_DLEN)		/* 20 */
#define MB_FRIS_JOIN2_LEN (MB_FRIS_HDR_LEN + MB_FRIS_JOIN2_DLEN)	/* 40 */
#define MB_FRIS_REQUEST_LEN (MB_FRIS_HDR_LEN + MB_FRIS_REQUEST_DLEN)	/* 28 */
#define MB_FRIS_PREQUEST_LEN (MB_FRIS_HDR_LEN + MB_FRIS_PREQUEST_DLEN)	/* 152 */
#define MB_FRIS_BLOCK_LEN (MB_FRIS_HDR_LEN + MB_FRIS_BLOCK_DLEN)	/* 1048 */
#define MB_FRIS_LEAVE_LEN (MB_FRIS_HDR_LEN + MB_FRIS_LEAVE_DLEN)	/* 24 */
#define MB_FRIS_LEAVE2_LEN (MB_FRIS_HDR_LEN + MB_FRIS_LEAVE2_DLEN)	/* 1052 */
#define MB_FRIS_PROGRESS_LEN (MB_FRIS_HDR_LEN + MB_FRIS_PROGRESS_DLEN)	/* 32 */
#define MB_FRIS_PROGRESS_FULL_LEN (MB_FRIS_HDR_LEN + MB_FRIS_PROGRESS_FULL_DLEN) /* 1076 */
/* sizeof(Packet_t) of 2020+ tools (header + largest union member, padded);
 * receivers read at most this much, so nobody sends more. */
#define MB_FRIS_PKT_MAX 1080
/* Offset of BLOCK data in the UDP payload. */
#define MB_FRIS_BLOCK_DATA_OFF (MB_FRIS_HDR_LEN + 8)			/* 24 */

/* Wire framing overhead per BLOCK, as frisbeed's -W arithmetic counts it:
 * sizeof(Packet_t) (1056 in 2016) + IP/UDP 28 + Ethernet with preamble,
 * FCS and gap 38, in bits. */
#define MB_FRIS_WIRE_BLOCK_BITS ((1056 + 28 + 38) * 8)			/* 8976 */
/* Real bytes on an Ethernet wire per BLOCK: payload 1048 + UDP 8 + IP 20 +
 * Ethernet 14 + FCS 4 + preamble 8 + gap 12. */
#define MB_FRIS_ETH_BLOCK_BYTES (MB_FRIS_BLOCK_LEN + 8 + 20 + 14 + 4 + 8 + 12) /* 1114 */

#define MB_FRIS_PKTRCV_TIMEOUT_US 30000		/* client & server tick */
#define MB_FRIS_IDLETIMER_COUNT 3		/* idle ticks before a re-request */
#define MB_FRIS_REDO_DELAY_US 1000000		/* CLIENT_REQUEST_REDO_DELAY */
#define MB_FRIS_MAXREADAHEAD 2
#define MB_FRIS_MAXINPROGRESS 8
#define MB_FRIS_MCAST_TTL 5
#define MB_FRIS_DEFAULT_PORT 3564		/* configure FRISEBEEMCASTPORT */
#define MB_FRIS_STATS_VERSION 1			/* CLIENT_STATS_VERSION */

_Static_assert(MB_FRIS_CHUNK_SIZE == 1048576, "a chunk is 1 MiB");
_Static_assert(MB_FRIS_MAP_BYTES == 128, "BlockMap_t is 128 bytes");
_Static_assert(MB_FRIS_JOIN_LEN == 20, "JOIN is 20 bytes");
_Static_assert(MB_FRIS_JOIN2_LEN == 40, "JOIN2 is 40 bytes");
_Static_assert(MB_FRIS_REQUEST_LEN == 28, "REQUEST is 28 bytes");
_Static_assert(MB_FRIS_PREQUEST_LEN == 152, "PREQUEST is 152 bytes");
_Static_assert(MB_FRIS_BLOCK_LEN == 1048, "BLOCK is 1048 bytes");
_Static_assert(MB_FRIS_LEAVE_LEN == 24, "LEAVE is 24 bytes");
_Static_assert(MB_FRIS_LEAVE2_LEN == 1052, "LEAVE2 is 1052 bytes");
_Static_assert(MB_FRIS_PROGRESS_LEN == 32, "PROGRESS is 32 bytes");
_Static_assert(MB_FRIS_PROGRESS_FULL_LEN == 1076, "full PROGRESS report is 1076 bytes");
_Static_assert(MB_FRIS_PROGRESS_FULL_LEN <= MB_FRIS_PKT_MAX, "largest message fits Packet_t");
_Static_assert(MB_FRIS_WIRE_BLOCK_BITS == 8976, "frisbeed -W counts 8976 bits per block");

/* ---- header values ------------------------------------------------------- */

enum mb_fris_pkt_type {
	MB_FRIS_PKT_REQUEST = 1,	/* also used for BLOCK (sic) */
	MB_FRIS_PKT_REPLY = 2,
};

enum mb_fris_subtype {
	MB_FRIS_SUB_JOIN = 1,
	MB_FRIS_SUB_LEAVE = 2,
	MB_FRIS_SUB_BLOCK = 3,
	MB_FRIS_SUB_REQUEST = 4,
	MB_FRIS_SUB_LEAVE2 = 5,
	MB_FRIS_SUB_PREQUEST = 6,
	MB_FRIS_SUB_JOIN2 = 7,
	MB_FRIS_SUB_PROGRESS = 8,
};

/* PROGRESS `what` bits. */
#define MB_FRIS_PROGRESS_SUMMARY 1
#define MB_FRIS_PROGRESS_STATS 2

/* The decoded message, from subtype and type together. */
enum mb_fris_kind {
	MB_FRIS_K_JOIN_REQ = 1,		/* v1, client -> server */
	MB_FRIS_K_JOIN_REPLY,		/* v1, server -> client */
	MB_FRIS_K_JOIN2_REQ,
	MB_FRIS_K_JOIN2_REPLY,
	MB_FRIS_K_REQUEST,
	MB_FRIS_K_PREQUEST,
	MB_FRIS_K_BLOCK,
	MB_FRIS_K_LEAVE,
	MB_FRIS_K_LEAVE2,
	MB_FRIS_K_PROGRESS_REQ,		/* server -> client, type REQUEST */
	MB_FRIS_K_PROGRESS_REPORT,	/* client -> server, type REPLY */
};

/*
 * Decode results: MB_FRIS_OK or the one reason a datagram was dropped.
 * X-macro so that callers can keep one counter per reason with names.
 */
#define MB_FRIS_RESULTS(X)						\
	X(OK, "ok")							\
	X(E_SHORT, "shorter than the 16-byte header")			\
	X(E_DATALEN, "datalen larger than the datagram")		\
	X(E_TYPE, "bad type for this subtype")				\
	X(E_SUBTYPE, "unknown subtype")					\
	X(E_MSGLEN, "datalen smaller than the message")			\
	X(E_CHUNK, "chunk out of range")				\
	X(E_BLOCK, "block out of range")				\
	X(E_COUNT, "bad block count")					\
	X(E_SIZES, "JOIN2 reply with chunk/block size other than 1024")	\
	X(E_SRCIP, "srcip does not match the IP source")		\
	X(E_PORT, "UDP source port is not the session port")

enum mb_fris_result {
#define MB_FRIS_X_ENUM(n, s) MB_FRIS_##n,
	MB_FRIS_RESULTS(MB_FRIS_X_ENUM)
#undef MB_FRIS_X_ENUM
	MB_FRIS_RESULT_MAX
};

/* Static string for a result; "?" for out-of-range values. */
const char *mb_fris_result_str(enum mb_fris_result r);
/* Short identifier ("E_SHORT") for counters and JSON keys. */
const char *mb_fris_result_name(enum mb_fris_result r);

/* ---- decoded message ----------------------------------------------------- */

struct mb_fris_hdr {
	uint32_t type;
	uint32_t subtype;
	uint32_t datalen;
	uint32_t srcip;		/* network order, as on the wire */
};

/* Pointers point into the decoded buffer and live as long as it does. */
struct mb_fris_msg {
	struct mb_fris_hdr hdr;
	enum mb_fris_kind kind;
	union {
		struct {		/* JOIN_REQ */
			uint32_t clientid;
		} join;
		struct {		/* JOIN_REPLY */
			uint32_t blockcount; /* ceil(filesize / 1024) */
		} join_reply;
		struct {		/* JOIN2_REQ and JOIN2_REPLY */
			uint32_t clientid;
			uint32_t blockcount; /* garbage in requests, 0 in replies */
			uint32_t chunksize;  /* blocks per chunk: 1024 */
			uint32_t blocksize;  /* bytes per block: 1024 */
			uint64_t bytecount;  /* reply: exact file size */
		} join2;
		struct {		/* REQUEST */
			uint32_t chunk;
			uint32_t block;
			uint32_t count;
		} request;
		struct {		/* PREQUEST */
			uint32_t chunk;
			uint32_t retries;
			const uint8_t *map; /* MB_FRIS_MAP_BYTES, LSB first */
		} prequest;
		struct {		/* BLOCK */
			uint32_t chunk;
			uint32_t block;
			const uint8_t *data; /* MB_FRIS_BLOCK_SIZE bytes */
		} block;
		struct {		/* LEAVE and LEAVE2 */
			uint32_t clientid;
			uint32_t elapsed;	/* seconds */
			uint32_t stats_version; /* LEAVE2 only */
			const uint8_t *stats;	/* LEAVE2: the 1024-byte union, else NULL */
		} leave;
		struct {		/* PROGRESS_REQ and PROGRESS_REPORT */
			uint32_t clientid;
			uint32_t who;	/* network order */
			uint32_t when;
			uint16_t what;
			uint16_t seq;
			bool full;	/* summary and stats present */
			uint32_t chunks_in;
			uint32_t chunks_out;
			uint64_t bytes_out;
			const uint8_t *stats; /* ClientStats_t (1028 B) when full */
		} progress;
	} u;
};

/* ---- decode -------------------------------------------------------------- */

/* Chunk count not known yet (a client before its JOIN reply): chunk ranges
 * are then only checked against the int32 range. */
#define MB_FRIS_NCHUNKS_ANY UINT32_MAX

/*
 * Decode one UDP payload of `len` bytes.  `nchunks` is the session's chunk
 * count (MB_FRIS_NCHUNKS_ANY if unknown); chunk numbers of BLOCK, REQUEST
 * and PREQUEST must be below it.  Datagrams longer than 16 + datalen are
 * accepted (the stock receiver does), the extra bytes are ignored.  Returns
 * MB_FRIS_OK and fills *ret, or the drop reason (then *ret is unspecified).
 * Pure function, any thread, never blocks.
 */
enum mb_fris_result mb_fris_decode(const void *buf, size_t len, uint32_t nchunks,
				   struct mb_fris_msg *ret);

/*
 * Source checks (doc/frisbee-protocol.md, step 5), given the IP source address `ip_src` (network
 * order), the UDP source port `sport` and the session port `port` (host
 * order), and the session's multicast group `group` (network order, 0 if
 * none).  A datagram from the group address itself is checked as if it came
 * from hdr.srcip (2016 behaviour), except BLOCK and PROGRESS requests when
 * `strict_2020` is set.  Returns MB_FRIS_OK, MB_FRIS_E_SRCIP or MB_FRIS_E_PORT.
 */
enum mb_fris_result mb_fris_check_source(const struct mb_fris_msg *m, uint32_t ip_src,
					 uint16_t sport, uint16_t port, uint32_t group,
					 bool strict_2020);

/* ---- encode -------------------------------------------------------------- */

/*
 * Each encoder writes one complete UDP payload into `buf` (capacity `cap`)
 * and returns its length in bytes, or -ENOSPC if `cap` is too small.  srcip
 * arguments are network order.  Any thread, never blocks.
 */
int mb_fris_encode_join(void *buf, size_t cap, uint32_t srcip, uint32_t clientid);
int mb_fris_encode_join_reply(void *buf, size_t cap, uint32_t srcip, uint32_t blockcount);
int mb_fris_encode_join2(void *buf, size_t cap, uint32_t srcip, uint32_t clientid);
int mb_fris_encode_join2_reply(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
			       uint64_t bytecount);
int mb_fris_encode_request(void *buf, size_t cap, uint32_t srcip, uint32_t chunk,
			   uint32_t block, uint32_t count);
/* `map` is MB_FRIS_MAP_BYTES long, LSB first, set bit = please send. */
int mb_fris_encode_prequest(void *buf, size_t cap, uint32_t srcip, uint32_t chunk,
			    uint32_t retries, const uint8_t *map);
/* `data` is MB_FRIS_BLOCK_SIZE bytes; NULL leaves the data area untouched
 * (the caller fills buf + MB_FRIS_BLOCK_DATA_OFF itself, e.g. by a pread). */
int mb_fris_encode_block(void *buf, size_t cap, uint32_t srcip, uint32_t chunk,
			 uint32_t block, const void *data);
int mb_fris_encode_leave(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
			 uint32_t elapsed);
/* `stats` is the 1024-byte ClientStats_t union (NULL = zeros); version 1. */
int mb_fris_encode_leave2(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
			  uint32_t elapsed, const void *stats);
int mb_fris_encode_progress_req(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
				uint32_t when, uint16_t what, uint16_t seq);
/* Report; with `full` the summary and (zeroed) statistics follow (1076 B). */
int mb_fris_encode_progress_report(void *buf, size_t cap, uint32_t srcip, uint32_t clientid,
				   uint32_t who, uint32_t when, uint16_t what, uint16_t seq,
				   bool full, uint32_t chunks_in, uint32_t chunks_out,
				   uint64_t bytes_out);
/* Re-encode a decoded message (round trips; bulk pointers must be valid). */
int mb_fris_encode(const struct mb_fris_msg *m, void *buf, size_t cap);

/* ---- sizes and block maps ------------------------------------------------ */

/* Chunks of an image of `bytes` bytes: ceil(ceil(bytes / 1024) / 1024). */
static inline uint64_t
mb_fris_chunks_for_bytes(uint64_t bytes)
{
	uint64_t blocks = (bytes + MB_FRIS_BLOCK_SIZE - 1) / MB_FRIS_BLOCK_SIZE;

	return (blocks + MB_FRIS_CHUNK_BLOCKS - 1) / MB_FRIS_CHUNK_BLOCKS;
}

/* Blocks in chunk `chunk` of an image of `blocks` 1 KiB blocks (the last
 * chunk may be short); 0 past the end. */
static inline uint32_t
mb_fris_chunk_blocks(uint64_t blocks, uint64_t chunk)
{
	uint64_t first = chunk * MB_FRIS_CHUNK_BLOCKS;

	if (first >= blocks)
		return 0;
	if (blocks - first >= MB_FRIS_CHUNK_BLOCKS)
		return MB_FRIS_CHUNK_BLOCKS;
	return (uint32_t)(blocks - first);
}

static inline bool
mb_fris_map_test(const uint8_t *map, uint32_t b)
{
	return (map[b >> 3] >> (b & 7)) & 1;
}

static inline void
mb_fris_map_set(uint8_t *map, uint32_t b)
{
	map[b >> 3] |= (uint8_t)(1u << (b & 7));
}

static inline void
mb_fris_map_clear(uint8_t *map, uint32_t b)
{
	map[b >> 3] &= (uint8_t)~(1u << (b & 7));
}

/* Set bits [first, first + count) (count may be 0). */
void mb_fris_map_set_range(uint8_t *map, uint32_t first, uint32_t count);
/* Number of set bits among the first `nbits`. */
uint32_t mb_fris_map_count(const uint8_t *map, uint32_t nbits);
/* First contiguous run of set bits at or after `from`, below `nbits`:
 * *ret_first and the run length (0 if none). */
uint32_t mb_fris_map_first_run(const uint8_t *map, uint32_t from, uint32_t nbits,
			       uint32_t *ret_first);

/* ---- little-endian field helpers (used by the codec and its tests) ------- */

static inline uint32_t
mb_fris_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint16_t
mb_fris_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint64_t
mb_fris_get64(const uint8_t *p)
{
	return (uint64_t)mb_fris_get32(p) | (uint64_t)mb_fris_get32(p + 4) << 32;
}

static inline void
mb_fris_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
mb_fris_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
mb_fris_put64(uint8_t *p, uint64_t v)
{
	mb_fris_put32(p, (uint32_t)v);
	mb_fris_put32(p + 4, (uint32_t)(v >> 32));
}

#endif /* _MB_FRIS_WIRE_H_ */
