/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HTTP/1.1 for image downloads, without DPDK: a request parser for GET and
 * HEAD of /images/<name> (Range with a single range, If-None-Match,
 * If-Modified-Since, keep-alive and pipelining by consuming one request at a
 * time from a buffer), and the response-header builder that decides
 * 200/206/304/416 for a published image.  Anything else is refused with a
 * status: 400 malformed, 404 outside /images/ or an invalid image name (path
 * traversal included), 405 other methods, 414 long target, 431 header block
 * too large, 501 Transfer-Encoding, 505 other versions.  No request bodies.
 *
 * The parser keeps no state between calls and never logs; strings in the
 * result point into the caller's buffer.
 */
#ifndef _MB_HTTP_H_
#define _MB_HTTP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_image.h"

#define MB_HTTP_HDR_MAX 8192	/* whole request head */
#define MB_HTTP_TARGET_MAX 1024 /* request-target */

enum mb_http_method {
	MB_HTTP_GET = 1,
	MB_HTTP_HEAD,
};

struct mb_http_req {
	enum mb_http_method method;
	unsigned minor;	    /* HTTP/1.<minor> */
	const char *name;   /* image name (after /images/), not NUL-terminated */
	size_t name_len;
	bool keep_alive;
	bool has_range;	    /* one valid byte range; otherwise Range is ignored */
	bool range_suffix;  /* "-N": the last range_last bytes */
	uint64_t range_first;
	uint64_t range_last; /* inclusive; UINT64_MAX for "N-" */
	const char *inm;     /* If-None-Match value, or NULL */
	size_t inm_len;
	bool has_ims;
	int64_t ims;	     /* If-Modified-Since, seconds since the epoch */
	int status;	     /* on -EINVAL: the error status to answer */
};

/* Parse one request head from buf[0..len).  0: complete, *ret_consumed =
 * bytes of the head (the next pipelined request starts there).  -EAGAIN: need
 * more bytes (len is below MB_HTTP_HDR_MAX).  -EINVAL: refuse with
 * req->status (and close the connection afterwards). */
int mb_http_parse(const char *buf, size_t len, struct mb_http_req *req, size_t *ret_consumed);

/* The response to a parsed request for img (NULL if no such image): writes
 * the header block into buf (cap bytes) and the body range to send,
 * [*ret_off, *ret_off + *ret_len) of img (length 0 for HEAD/304/416).
 * Returns the header length, or -ENOSPC.  *ret_status gets the status. */
int mb_http_respond(const struct mb_http_req *req, const struct mb_image *img, char *buf,
		    size_t cap, uint64_t *ret_off, uint64_t *ret_len, int *ret_status);

/* A complete error response (status line, headers, short text body). */
int mb_http_error(int status, bool keep_alive, char *buf, size_t cap);

/* "Sun, 06 Nov 1994 08:49:37 GMT" <-> seconds.  Format returns the length
 * (29) or -ENOSPC; parse returns 0 or -EINVAL. */
int mb_http_date_fmt(int64_t t, char *buf, size_t cap);
int mb_http_date_parse(const char *s, size_t len, int64_t *ret_t);

#endif /* _MB_HTTP_H_ */
