/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Master-server message codec (see ms_wire.h).  Every field is read and
 * written at its explicit offset with the big-endian helpers below, so the
 * host's struct layout and alignment never matter.  Decoders check lengths
 * before touching a byte and return the first problem as a static string;
 * they never log.
 */
#include <errno.h>
#include <string.h>

#include "mb_bytes.h"
#include "ms_wire.h"

/* Body offsets (relative to MB_MS_HDR_LEN), see doc/master-server.md. */
enum {
	GQ_HOSTIP = 0,
	GQ_METHODS = 4,
	GQ_STATUS = 5,
	GQ_IDLEN = 6,
	GQ_IMAGEID = 8,

	GR_METHOD = 0,
	GR_ISRUNNING = 1,
	GR_ERROR = 2,
	GR_SERVADDR = 4,
	GR_ADDR = 8,
	GR_PORT = 12,
	GR_SIGTYPE = 14,
	GR_SIGNATURE = 16,
	GR_HISIZE = 272,
	GR_LOSIZE = 276,

	PQ_HOSTIP = 0,
	PQ_STATUS = 4,
	PQ_IDLEN = 5,
	PQ_IMAGEID = 7,
	PQ_HISIZE = 263,
	PQ_LOSIZE = 267,
	PQ_MTIME = 271,
	PQ_TIMEOUT = 275,

	PR_ERROR = 0,
	PR_ADDR = 2,
	PR_PORT = 6,
	PR_EXISTS = 8,
	PR_SIGTYPE = 9,
	PR_SIGNATURE = 11,
	PR_HISIZE = 267,
	PR_LOSIZE = 271,
	PR_HIMAXSIZE = 275,
	PR_LOMAXSIZE = 279,
};

/* Each 64-bit size is a high word followed by its low word: one be64. */
_Static_assert(GR_HISIZE + 4 == GR_LOSIZE && PQ_HISIZE + 4 == PQ_LOSIZE, "hi/lo adjacent");
_Static_assert(PR_HISIZE + 4 == PR_LOSIZE && PR_HIMAXSIZE + 4 == PR_LOMAXSIZE, "hi/lo adjacent");
_Static_assert(GR_LOSIZE + 4 == MB_MS_GETREPLY_BODY, "GetReply offsets add up");
_Static_assert(PQ_TIMEOUT + 4 == MB_MS_PUTREQ_BODY, "PutRequest offsets add up");
_Static_assert(PR_LOMAXSIZE + 4 == MB_MS_PUTREPLY_BODY, "PutReply offsets add up");

static inline int
fail(const char **ret_reason, const char *why)
{
	if (ret_reason != NULL)
		*ret_reason = why;
	return -EBADMSG;
}

int
mb_ms_msg_len(const uint8_t *buf, size_t len, const char **ret_reason)
{
	if (len < MB_MS_HDR_LEN)
		return -EAGAIN;
	if (memcmp(buf, MB_MS_VERSION, MB_MS_VERSION_LEN) != 0)
		return fail(ret_reason, "bad version (not V01)");
	switch (mb_bytes_get_be32(buf + 4)) {
	case MB_MS_GETREQUEST:
		return MB_MS_GETREQ_LEN;
	case MB_MS_GETREPLY:
		return MB_MS_GETREPLY_LEN;
	case MB_MS_PUTREQUEST:
		return MB_MS_PUTREQ_LEN;
	case MB_MS_PUTREPLY:
		return MB_MS_PUTREPLY_LEN;
	default:
		return fail(ret_reason, "unknown message type");
	}
}

uint32_t
mb_ms_msg_type(const uint8_t *buf)
{
	return mb_bytes_get_be32(buf + 4);
}

/* Common header and length check for a decoder of `type`; on success
 * *ret_body points at the body. */
static int
check_msg(const uint8_t *buf, size_t len, uint32_t type, size_t wire_len,
	  const char **ret_reason, const uint8_t **ret_body)
{
	if (buf == NULL || len < MB_MS_HDR_LEN)
		return fail(ret_reason, "short message (no header)");
	if (memcmp(buf, MB_MS_VERSION, MB_MS_VERSION_LEN) != 0)
		return fail(ret_reason, "bad version (not V01)");
	if (mb_bytes_get_be32(buf + 4) != type)
		return fail(ret_reason, "unexpected message type");
	if (len < wire_len)
		return fail(ret_reason, "short message");
	if (len > wire_len)
		return fail(ret_reason, "trailing bytes after message");
	*ret_body = buf + MB_MS_HDR_LEN;
	return 0;
}

/* Copy and validate an image id of idlen bytes: printable ASCII, no NUL. */
static int
decode_id(const uint8_t *p, uint16_t idlen, char *out, const char **ret_reason)
{
	uint16_t i;

	if (idlen == 0)
		return fail(ret_reason, "empty image id");
	if (idlen > MB_MS_ID_LEN)
		return fail(ret_reason, "image id length exceeds 256");
	for (i = 0; i < idlen; i++) {
		if (p[i] < 0x21 || p[i] > 0x7e)
			return fail(ret_reason, "non-printable or space byte in image id");
		out[i] = (char)p[i];
	}
	out[idlen] = '\0';
	return 0;
}

int
mb_ms_get_request_decode(const uint8_t *buf, size_t len, struct mb_ms_get_request *ret,
			 const char **ret_reason)
{
	const uint8_t *b;
	int rc;

	rc = check_msg(buf, len, MB_MS_GETREQUEST, MB_MS_GETREQ_LEN, ret_reason, &b);
	if (rc != 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	ret->hostip = mb_bytes_get_be32(b + GQ_HOSTIP);
	ret->methods = b[GQ_METHODS];
	ret->status = b[GQ_STATUS];
	ret->idlen = mb_bytes_get_be16(b + GQ_IDLEN);
	if (ret->status > 1)
		return fail(ret_reason, "bad status flag");
	return decode_id(b + GQ_IMAGEID, ret->idlen, ret->imageid, ret_reason);
}

int
mb_ms_get_reply_decode(const uint8_t *buf, size_t len, struct mb_ms_get_reply *ret,
		       const char **ret_reason)
{
	const uint8_t *b;
	int rc;

	rc = check_msg(buf, len, MB_MS_GETREPLY, MB_MS_GETREPLY_LEN, ret_reason, &b);
	if (rc != 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	ret->method = b[GR_METHOD];
	ret->isrunning = b[GR_ISRUNNING];
	ret->error = mb_bytes_get_be16(b + GR_ERROR);
	ret->servaddr = mb_bytes_get_be32(b + GR_SERVADDR);
	ret->addr = mb_bytes_get_be32(b + GR_ADDR);
	ret->port = mb_bytes_get_be16(b + GR_PORT);
	ret->sigtype = mb_bytes_get_be16(b + GR_SIGTYPE);
	memcpy(ret->signature, b + GR_SIGNATURE, MB_MS_SIG_LEN);
	ret->size = mb_bytes_get_be64(b + GR_HISIZE);
	if (ret->error >= MB_MS_ERROR__COUNT)
		return fail(ret_reason, "unknown error code");
	return 0;
}

int
mb_ms_put_request_decode(const uint8_t *buf, size_t len, struct mb_ms_put_request *ret,
			 const char **ret_reason)
{
	const uint8_t *b;
	int rc;

	rc = check_msg(buf, len, MB_MS_PUTREQUEST, MB_MS_PUTREQ_LEN, ret_reason, &b);
	if (rc != 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	ret->hostip = mb_bytes_get_be32(b + PQ_HOSTIP);
	ret->status = b[PQ_STATUS];
	ret->idlen = mb_bytes_get_be16(b + PQ_IDLEN);
	ret->size = mb_bytes_get_be64(b + PQ_HISIZE);
	ret->mtime = mb_bytes_get_be32(b + PQ_MTIME);
	ret->timeout = mb_bytes_get_be32(b + PQ_TIMEOUT);
	if (ret->status > 1)
		return fail(ret_reason, "bad status flag");
	return decode_id(b + PQ_IMAGEID, ret->idlen, ret->imageid, ret_reason);
}

int
mb_ms_put_reply_decode(const uint8_t *buf, size_t len, struct mb_ms_put_reply *ret,
		       const char **ret_reason)
{
	const uint8_t *b;
	int rc;

	rc = check_msg(buf, len, MB_MS_PUTREPLY, MB_MS_PUTREPLY_LEN, ret_reason, &b);
	if (rc != 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	ret->error = mb_bytes_get_be16(b + PR_ERROR);
	ret->addr = mb_bytes_get_be32(b + PR_ADDR);
	ret->port = mb_bytes_get_be16(b + PR_PORT);
	ret->exists = b[PR_EXISTS];
	ret->sigtype = mb_bytes_get_be16(b + PR_SIGTYPE);
	memcpy(ret->signature, b + PR_SIGNATURE, MB_MS_SIG_LEN);
	ret->size = mb_bytes_get_be64(b + PR_HISIZE);
	ret->maxsize = mb_bytes_get_be64(b + PR_HIMAXSIZE);
	if (ret->error >= MB_MS_ERROR__COUNT)
		return fail(ret_reason, "unknown error code");
	return 0;
}

/* Zero a message of wire_len bytes, write its header, return its body. */
static uint8_t *
put_hdr(uint8_t *buf, uint32_t type, size_t wire_len)
{
	memset(buf, 0, wire_len);
	memcpy(buf, MB_MS_VERSION, MB_MS_VERSION_LEN);
	mb_bytes_put_be32(buf + 4, type);
	return buf + MB_MS_HDR_LEN;
}

int
mb_ms_get_request_encode(const struct mb_ms_get_request *req, uint8_t *buf, size_t len)
{
	uint8_t *b;

	if (len < MB_MS_GETREQ_LEN)
		return -ENOSPC;
	if (req->idlen > MB_MS_ID_LEN || strnlen(req->imageid, MB_MS_ID_LEN) < req->idlen)
		return -EINVAL;
	b = put_hdr(buf, MB_MS_GETREQUEST, MB_MS_GETREQ_LEN);
	mb_bytes_put_be32(b + GQ_HOSTIP, req->hostip);
	b[GQ_METHODS] = req->methods;
	b[GQ_STATUS] = req->status;
	mb_bytes_put_be16(b + GQ_IDLEN, req->idlen);
	memcpy(b + GQ_IMAGEID, req->imageid, req->idlen);
	return 0;
}

int
mb_ms_get_reply_encode(const struct mb_ms_get_reply *rep, uint8_t *buf, size_t len)
{
	uint8_t *b;

	if (len < MB_MS_GETREPLY_LEN)
		return -ENOSPC;
	b = put_hdr(buf, MB_MS_GETREPLY, MB_MS_GETREPLY_LEN);
	b[GR_METHOD] = rep->method;
	b[GR_ISRUNNING] = rep->isrunning;
	mb_bytes_put_be16(b + GR_ERROR, rep->error);
	mb_bytes_put_be32(b + GR_SERVADDR, rep->servaddr);
	mb_bytes_put_be32(b + GR_ADDR, rep->addr);
	mb_bytes_put_be16(b + GR_PORT, rep->port);
	mb_bytes_put_be16(b + GR_SIGTYPE, rep->sigtype);
	memcpy(b + GR_SIGNATURE, rep->signature, MB_MS_SIG_LEN);
	mb_bytes_put_be64(b + GR_HISIZE, rep->size);
	return 0;
}

int
mb_ms_put_reply_encode(const struct mb_ms_put_reply *rep, uint8_t *buf, size_t len)
{
	uint8_t *b;

	if (len < MB_MS_PUTREPLY_LEN)
		return -ENOSPC;
	b = put_hdr(buf, MB_MS_PUTREPLY, MB_MS_PUTREPLY_LEN);
	mb_bytes_put_be16(b + PR_ERROR, rep->error);
	mb_bytes_put_be32(b + PR_ADDR, rep->addr);
	mb_bytes_put_be16(b + PR_PORT, rep->port);
	b[PR_EXISTS] = rep->exists;
	mb_bytes_put_be16(b + PR_SIGTYPE, rep->sigtype);
	memcpy(b + PR_SIGNATURE, rep->signature, MB_MS_SIG_LEN);
	mb_bytes_put_be64(b + PR_HISIZE, rep->size);
	mb_bytes_put_be64(b + PR_HIMAXSIZE, rep->maxsize);
	return 0;
}

void
mb_ms_reply_set_mtime(struct mb_ms_get_reply *rep, int64_t mtime)
{
	rep->sigtype = MB_MS_SIG_MTIME;
	memset(rep->signature, 0, sizeof(rep->signature));
	mb_bytes_put_be32(rep->signature, (uint32_t)mtime);
}

int64_t
mb_ms_reply_mtime(const struct mb_ms_get_reply *rep)
{
	if (rep->sigtype != MB_MS_SIG_MTIME)
		return -1;
	return mb_bytes_get_be32(rep->signature);
}

const char *
mb_ms_error_name(unsigned int err)
{
	static const char *const names[MB_MS_ERROR__COUNT] = {
		[MB_MS_ERROR_NONE] = "NONE",	     [MB_MS_ERROR_FAILED] = "FAILED",
		[MB_MS_ERROR_NOHOST] = "NOHOST",     [MB_MS_ERROR_NOIMAGE] = "NOIMAGE",
		[MB_MS_ERROR_NOACCESS] = "NOACCESS", [MB_MS_ERROR_NOMETHOD] = "NOMETHOD",
		[MB_MS_ERROR_INVALID] = "INVALID",   [MB_MS_ERROR_TRYAGAIN] = "TRYAGAIN",
		[MB_MS_ERROR_TOOBIG] = "TOOBIG",     [MB_MS_ERROR_BADMTIME] = "BADMTIME",
		[MB_MS_ERROR_NOTIMPL] = "NOTIMPL",
	};

	if (err >= MB_MS_ERROR__COUNT)
		return "UNKNOWN";
	return names[err];
}
