/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the FTP command parser and session logic
 * (proto/mb_ftp.c).  The input is what a client sends on the control
 * connection: it is cut into lines at '\n' (a trailing '\r' dropped), as the
 * control glue does, and each line goes through mb_ftp_parse and one
 * session's mb_ftp_session_input against a tiny image namespace
 * ("proj/img.ndz" in directory "proj").  Replies must fit and end in CRLF,
 * and every action's path must be a valid name inside the namespace.  Each
 * line is also resolved as a path against the session's cwd.  Also built by
 * tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_image.h"
#include "mb_ftp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mb_image *
lk_image(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "proj/img.ndz") == 0 ? fuzz_image() : NULL;
}

static bool
lk_is_dir(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == '\0' || strcmp(name, "proj") == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct mb_ftp_lookup lk = {.image = lk_image, .is_dir = lk_is_dir};
	struct mb_ftp_session s;
	struct mb_ftp_action act;
	struct mb_ftp_line line;
	char reply[MB_FTP_REPLY_MAX], path[MB_IMAGE_NAME_MAX + 1];
	const char *p = (const char *)data, *nl;
	size_t len, n;

	mb_ftp_session_init(&s);
	while (size > 0) {
		nl = memchr(p, '\n', size);
		len = nl != NULL ? (size_t)(nl - p) : size;
		n = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
		if (mb_ftp_parse(p, n, &line) == 0 &&
		    line.arg != NULL && !(line.arg >= p && line.arg + line.arg_len <= p + n))
			abort();
		if (mb_ftp_path_resolve(s.cwd, p, n, path, sizeof(path)) == 0 &&
		    (strlen(path) > MB_IMAGE_NAME_MAX || path[0] == '/'))
			abort();
		memset(&act, 0, sizeof(act));
		reply[0] = '\0';
		n = mb_ftp_session_input(&s, &lk, p, n, reply, sizeof(reply), &act);
		if (n >= sizeof(reply) || strlen(reply) != n)
			abort();
		if (n > 0 && (n < 2 || reply[n - 2] != '\r' || reply[n - 1] != '\n'))
			abort();
		if (act.type != MB_FTP_ACT_NONE &&
		    (memchr(act.path, '\0', sizeof(act.path)) == NULL || act.path[0] == '/'))
			abort();
		if (act.type == MB_FTP_ACT_QUIT)
			break;
		if (strlen(s.cwd) > MB_IMAGE_NAME_MAX)
			abort();
		len += nl != NULL;
		p += len;
		size -= len;
	}
	return 0;
}
