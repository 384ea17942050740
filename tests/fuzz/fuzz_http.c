/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the HTTP request parser (proto/mb_http.c).
 *
 * Every input is the byte stream a client sends on one connection: requests
 * are parsed one after another as pipelining does, each accepted one is
 * answered (mb_http_respond) against a 10-byte image or no image, and the
 * result is checked: the head consumed lies inside the input, the image
 * name and If-None-Match value point into it, the body range lies inside the
 * image, refusals carry a 4xx/5xx status.  Also built by
 * tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_image.h"
#include "mb_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && p + n <= buf + len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct mb_image *img = fuzz_image();
	struct mb_http_req req;
	char out[2048];
	uint64_t off, len;
	size_t used;
	int64_t t;
	int rc, n, status;

	(void)mb_http_date_parse(buf, size, &t);
	while (size > 0) {
		memset(&req, 0, sizeof(req));
		used = 0;
		rc = mb_http_parse(buf, size, &req, &used);
		if (rc == -EAGAIN) {
			if (size >= MB_HTTP_HDR_MAX)
				abort();
			break;
		}
		if (rc == -EINVAL) {
			if (req.status < 400 || req.status > 599)
				abort();
			n = mb_http_error(req.status, false, out, sizeof(out));
			if (n <= 0 || (size_t)n >= sizeof(out))
				abort();
			break;
		}
		if (rc != 0 || used == 0 || used > size ||
		    !inside(req.name, req.name_len, buf, size))
			abort();
		if (req.inm != NULL && !inside(req.inm, req.inm_len, buf, size))
			abort();
		for (int which = 0; which < 2; which++) {
			n = mb_http_respond(&req, which ? img : NULL, out, sizeof(out), &off, &len,
					    &status);
			if (n <= 0 || (size_t)n > sizeof(out) || status < 200 || status > 599)
				abort();
			if (which && (off > img->size || len > img->size - off))
				abort();
			if (!which && len != 0)
				abort();
		}
		buf += used;
		size -= used;
	}
	return 0;
}
