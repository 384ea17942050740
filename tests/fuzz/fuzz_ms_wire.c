/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the master-server codec (proto/ms_wire.c).
 *
 * Every input is one byte stream as a master server or client would read it
 * from TCP: the header decides the length, and each decoder is tried on the
 * input whatever the header says (they must reject wrong lengths and types).
 * A GetRequest or GetReply that decodes must encode again to bytes that
 * decode to the same fields.  Also built by tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_ms_get_request gq, gq2;
	struct mb_ms_get_reply gr, gr2;
	struct mb_ms_put_request pq;
	struct mb_ms_put_reply pr, pr2;
	uint8_t out[MB_MS_MSG_MAX];
	const char *why = NULL;
	int n;

	n = mb_ms_msg_len(data, size, &why);
	if (n == -EBADMSG && why == NULL)
		abort();
	if (n > 0 && (n > MB_MS_MSG_MAX || n < MB_MS_HDR_LEN))
		abort();
	if (n > 0 && (size_t)n <= size)
		(void)mb_ms_msg_type(data);
	(void)mb_ms_error_name(size > 0 ? data[0] : 0);

	if (mb_ms_get_request_decode(data, size, &gq, &why) == 0) {
		if (gq.idlen == 0 || gq.idlen > MB_MS_ID_LEN || strlen(gq.imageid) != gq.idlen)
			abort();
		if (mb_ms_get_request_encode(&gq, out, sizeof(out)) != 0 ||
		    mb_ms_get_request_decode(out, MB_MS_GETREQ_LEN, &gq2, &why) != 0 ||
		    gq2.idlen != gq.idlen || gq2.hostip != gq.hostip ||
		    strcmp(gq2.imageid, gq.imageid) != 0)
			abort();
	}
	if (mb_ms_get_reply_decode(data, size, &gr, &why) == 0) {
		if (mb_ms_get_reply_encode(&gr, out, sizeof(out)) != 0 ||
		    mb_ms_get_reply_decode(out, MB_MS_GETREPLY_LEN, &gr2, &why) != 0 ||
		    gr2.error != gr.error || gr2.servaddr != gr.servaddr)
			abort();
		(void)mb_ms_reply_mtime(&gr);
	}
	(void)mb_ms_put_request_decode(data, size, &pq, &why);
	if (mb_ms_put_reply_decode(data, size, &pr, &why) == 0) {
		if (mb_ms_put_reply_encode(&pr, out, sizeof(out)) != 0 ||
		    mb_ms_put_reply_decode(out, MB_MS_PUTREPLY_LEN, &pr2, &why) != 0 ||
		    pr2.error != pr.error)
			abort();
	}
	return 0;
}
