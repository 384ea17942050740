/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Master-server (mfrisbeed) wire messages: encode and decode.
 *
 * The stock Frisbee client asks a master server on TCP 64494 where an image
 * is served: one request and one reply per connection, then close.  Every
 * message is an 8-byte header ("V01\0" + a big-endian int32 type) and a
 * fixed-size body; unlike Frisbee's UDP protocol every multi-byte field is
 * big-endian.  Layouts are in doc/master-server.md.
 *
 * This module only converts between wire bytes and the host-order structs
 * below, at explicit offsets (no packed host structs touch the wire).  It
 * never allocates, never logs and never touches a socket: the listener
 * (control/ctl_master.c) and the test client (tools/) do that.  PUT is
 * decoded only so a server can reject it with a clear reason.
 */
#ifndef _MB_MS_WIRE_H_
#define _MB_MS_WIRE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_MS_PORT 64494
#define MB_MS_VERSION "V01"	/* 4 bytes on the wire including the NUL */
#define MB_MS_VERSION_LEN 4
#define MB_MS_HDR_LEN 8		/* version[4] + type (int32 BE) */
#define MB_MS_ID_LEN 256	/* imageid field, not necessarily NUL-terminated */
#define MB_MS_SIG_LEN 256	/* signature field */

/* Body sizes: hostip 4 + methods 1 + status 1 + idlen 2 + imageid 256. */
#define MB_MS_GETREQ_BODY (4 + 1 + 1 + 2 + MB_MS_ID_LEN)		 /* 264 */
/* method 1 + isrunning 1 + error 2 + servaddr 4 + addr 4 + port 2 + sigtype 2
 * + signature 256 + hisize 4 + losize 4. */
#define MB_MS_GETREPLY_BODY (1 + 1 + 2 + 4 + 4 + 2 + 2 + MB_MS_SIG_LEN + 4 + 4) /* 280 */
/* hostip 4 + status 1 + idlen 2 + imageid 256 + hisize 4 + losize 4 + mtime 4
 * + timeout 4. */
#define MB_MS_PUTREQ_BODY (4 + 1 + 2 + MB_MS_ID_LEN + 4 + 4 + 4 + 4)	 /* 279 */
/* error 2 + addr 4 + port 2 + exists 1 + sigtype 2 + signature 256 + hisize 4
 * + losize 4 + himaxsize 4 + lomaxsize 4. */
#define MB_MS_PUTREPLY_BODY (2 + 4 + 2 + 1 + 2 + MB_MS_SIG_LEN + 4 + 4 + 4 + 4) /* 283 */

#define MB_MS_GETREQ_LEN (MB_MS_HDR_LEN + MB_MS_GETREQ_BODY)	 /* 272 */
#define MB_MS_GETREPLY_LEN (MB_MS_HDR_LEN + MB_MS_GETREPLY_BODY) /* 288 */
#define MB_MS_PUTREQ_LEN (MB_MS_HDR_LEN + MB_MS_PUTREQ_BODY)	 /* 287 */
#define MB_MS_PUTREPLY_LEN (MB_MS_HDR_LEN + MB_MS_PUTREPLY_BODY) /* 291 */
/* sizeof(MasterMsg_t) in mserver.h: header + the largest body (PutReply),
 * padded to 4.  mfrisbeed reads at most this much. */
#define MB_MS_MSG_MAX 292

_Static_assert(MB_MS_GETREQ_LEN == 272, "GetRequest is 272 bytes on the wire");
_Static_assert(MB_MS_GETREPLY_LEN == 288, "GetReply is 288 bytes on the wire");
_Static_assert(MB_MS_PUTREQ_LEN == 287, "PutRequest is 287 bytes on the wire");
_Static_assert(MB_MS_PUTREPLY_LEN == 291, "PutReply is 291 bytes on the wire");
_Static_assert(MB_MS_PUTREPLY_LEN <= MB_MS_MSG_MAX, "largest message fits MasterMsg_t");

enum mb_ms_type {
	MB_MS_GETREQUEST = 1,
	MB_MS_GETREPLY = 2,
	MB_MS_PUTREQUEST = 3,
	MB_MS_PUTREPLY = 4,
};

/* Method bits (request: mask; GET reply: exactly one; GETSTATUS reply: mask). */
enum mb_ms_method {
	MB_MS_METHOD_UNICAST = 1,
	MB_MS_METHOD_MULTICAST = 2,
	MB_MS_METHOD_BROADCAST = 4,
	MB_MS_METHOD_ANY = 7,
};

/* MS_ERROR_* of mserver.h, same numbers. */
enum mb_ms_error {
	MB_MS_ERROR_NONE = 0,
	MB_MS_ERROR_FAILED = 1,
	MB_MS_ERROR_NOHOST = 2,
	MB_MS_ERROR_NOIMAGE = 3,
	MB_MS_ERROR_NOACCESS = 4,
	MB_MS_ERROR_NOMETHOD = 5,
	MB_MS_ERROR_INVALID = 6,
	MB_MS_ERROR_TRYAGAIN = 7,
	MB_MS_ERROR_TOOBIG = 8,
	MB_MS_ERROR_BADMTIME = 9,
	MB_MS_ERROR_NOTIMPL = 10,
	MB_MS_ERROR__COUNT,
};

enum mb_ms_sigtype {
	MB_MS_SIG_NONE = 0,
	MB_MS_SIG_MTIME = 1, /* u32 BE seconds in bytes 0-3; bytes 4-7 must be 0 */
	MB_MS_SIG_MD5 = 2,
	MB_MS_SIG_SHA1 = 3,
};

/* All fields in host byte order, addresses included (0x0a000001 = 10.0.0.1). */
struct mb_ms_get_request {
	uint32_t hostip;  /* node to act for; 0 = the TCP peer itself */
	uint8_t methods;  /* enum mb_ms_method mask */
	uint8_t status;	  /* 1 = GETSTATUS, 0 = GET */
	uint16_t idlen;	  /* bytes of imageid, 1..256 after decode */
	char imageid[MB_MS_ID_LEN + 1]; /* NUL-terminated copy after decode */
};

struct mb_ms_get_reply {
	uint8_t method;	   /* one method (GET) or the allowed mask (GETSTATUS) */
	uint8_t isrunning; /* 1 if a session is running for the image */
	uint16_t error;	   /* enum mb_ms_error */
	uint32_t servaddr; /* IPv4 the BLOCKs come from */
	uint32_t addr;	   /* group, broadcast, or servaddr for unicast */
	uint16_t port;	   /* UDP port, never 0 in a successful GET reply */
	uint16_t sigtype;  /* enum mb_ms_sigtype */
	uint8_t signature[MB_MS_SIG_LEN];
	uint64_t size; /* image size in bytes (hisize:losize) */
};

struct mb_ms_put_request {
	uint32_t hostip;
	uint8_t status; /* 1 = PUTSTATUS */
	uint16_t idlen;
	char imageid[MB_MS_ID_LEN + 1];
	uint64_t size;
	uint32_t mtime;
	uint32_t timeout;
};

struct mb_ms_put_reply {
	uint16_t error;
	uint32_t addr;
	uint16_t port;
	uint8_t exists;
	uint16_t sigtype;
	uint8_t signature[MB_MS_SIG_LEN];
	uint64_t size;
	uint64_t maxsize;
};

/*
 * How long the message starting at buf must be.  Needs the 8-byte header
 * (returns -EAGAIN while len < 8).  Returns the wire length for the header's
 * type (272, 288, 287 or 291), or -EBADMSG if the version is not "V01\0" or
 * the type is unknown.  *ret_reason (may be NULL) gets a static string on
 * -EBADMSG.  Pure function, any thread.
 */
int mb_ms_msg_len(const uint8_t *buf, size_t len, const char **ret_reason);

/* Type of a message whose header checked out with mb_ms_msg_len (no checks). */
uint32_t mb_ms_msg_type(const uint8_t *buf);

/*
 * Decoders.  Each accepts exactly one whole message of its type (len equal to
 * the wire length: shorter or longer input is rejected), checks the header
 * and fields, and fills *ret.  Returns 0, or -EBADMSG with *ret_reason (may
 * be NULL) set to a static string naming the first problem.  The request
 * decoders reject idlen 0 or > 256 and ids with non-printable bytes (an id
 * shorter than idlen, i.e. with an embedded NUL, is also rejected).  Pure
 * functions, any thread.
 */
int mb_ms_get_request_decode(const uint8_t *buf, size_t len, struct mb_ms_get_request *ret,
			     const char **ret_reason);
int mb_ms_get_reply_decode(const uint8_t *buf, size_t len, struct mb_ms_get_reply *ret,
			   const char **ret_reason);
int mb_ms_put_request_decode(const uint8_t *buf, size_t len, struct mb_ms_put_request *ret,
			     const char **ret_reason);
int mb_ms_put_reply_decode(const uint8_t *buf, size_t len, struct mb_ms_put_reply *ret,
			   const char **ret_reason);

/*
 * Encoders: write exactly the wire length of the message into buf (zeroing
 * unused bytes) and return 0, or -ENOSPC if len is smaller than that length,
 * or -EINVAL if a field cannot be represented (idlen > 256 or longer than the
 * string in imageid).  Pure functions, any thread.
 */
int mb_ms_get_request_encode(const struct mb_ms_get_request *req, uint8_t *buf, size_t len);
int mb_ms_get_reply_encode(const struct mb_ms_get_reply *rep, uint8_t *buf, size_t len);
int mb_ms_put_reply_encode(const struct mb_ms_put_reply *rep, uint8_t *buf, size_t len);

/* Set sigtype MTIME and the signature to mtime as u32 BE in bytes 0-3, the
 * rest zero (a stock child mfrisbeed reads bytes 0-7 as its time_t). */
void mb_ms_reply_set_mtime(struct mb_ms_get_reply *rep, int64_t mtime);

/* The mtime of an MTIME signature, or -1 if sigtype is not MTIME. */
int64_t mb_ms_reply_mtime(const struct mb_ms_get_reply *rep);

/* "TRYAGAIN", "NOIMAGE", ...; "UNKNOWN" outside the table. */
const char *mb_ms_error_name(unsigned int err);

/* True if methods holds exactly one method bit. */
static inline bool
mb_ms_method_single(uint8_t m)
{
	return m == MB_MS_METHOD_UNICAST || m == MB_MS_METHOD_MULTICAST ||
	       m == MB_MS_METHOD_BROADCAST;
}

#endif /* _MB_MS_WIRE_H_ */
