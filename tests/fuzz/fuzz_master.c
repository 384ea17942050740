/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the master server's request logic
 * (control/ctl_master_core.c): the input is a stream of requests, cut at
 * the length the header announces (or the rest when the header is bad), fed
 * to one long-lived mb_master with the fake image table and dataplane of
 * tests/fakes,
 * exactly as ctl_master.c's socket layer does.  Every call must produce a
 * reply that decodes as a GetReply or PutReply of the right length, or no
 * reply at all (INVALID) for a request of an unknown type or length.  The
 * first input byte picks the allowed methods, the proxy flag and whether the
 * fake dataplane refuses sessions.  Also built by tests/unit/test_garbage.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_fakes.h"
#include "ctl_master.h"

#define SERVADDR 0x0a4d0001u
#define PEER 0x0a4d000bu

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mb_master *
master_get(void)
{
	static struct mb_master *m;
	static const char bytes[] = "0123456789";
	struct mb_master_settings set = {
		.methods = 7,
		.mcast_base = 0xea050601u,
		.mcast_count = 4,
		.port_base = 3564,
		.port_count = 4,
		.bcast_addr = 0x0a4d00ffu,
		.max_sessions = 8,
	};

	if (m != NULL)
		return m;
	mbt_images[0] = mb_image_new_heap("emulab-ops/FBSD73-STD", bytes, 10);
	mbt_images[1] = mb_image_new_heap("test64.ndz", bytes, 5);
	mbt_pending_name = "proj/coming";
	m = mb_master_new(&set, &mbt_master_ops);
	if (mbt_images[0] == NULL || mbt_images[1] == NULL || m == NULL)
		abort();
	mbt_images[0]->mtime = 0x6b0631af;
	mbt_images[0]->version = 3;
	return m;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_master *m = master_get();
	struct mb_master_settings set = m->set;
	struct mb_ms_get_reply gr;
	struct mb_ms_put_reply pr;
	uint8_t out[MB_MS_MSG_MAX];
	size_t olen, len;
	int n, err;

	if (size < 1)
		return 0;
	set.methods = data[0] & 7;
	set.allow_proxy = (data[0] & 8) != 0;
	mbt_sess.start_rc = (data[0] & 16) ? -ENOSPC : 0;
	mb_master_reconfig(m, &set);
	data++;
	size--;
	while (size > 0) {
		n = mb_master_request_len(data, size);
		len = n > 0 && (size_t)n <= size ? (size_t)n : size;
		olen = 0;
		err = mb_master_handle(m, data, len, PEER, SERVADDR, out, sizeof(out), &olen);
		if (err < 0 || err >= MB_MS_ERROR__COUNT)
			abort();
		if (olen == MB_MS_GETREPLY_LEN) {
			if (mb_ms_get_reply_decode(out, olen, &gr, NULL) != 0 || gr.error != err)
				abort();
		} else if (olen == MB_MS_PUTREPLY_LEN) {
			if (mb_ms_put_reply_decode(out, olen, &pr, NULL) != 0 || pr.error != err)
				abort();
		} else if (olen != 0 || err != MB_MS_ERROR_INVALID ||
			   (mb_master_request_len(data, len) > 0 &&
			    (size_t)mb_master_request_len(data, len) == len)) {
			abort();
		}
		data += len;
		size -= len;
	}
	/* The dataplane ends every session: the pools must be whole again. */
	for (unsigned int i = 0; i < mbt_sess.nlive; i++)
		(void)mb_master_session_end(m, mbt_sess.live[i]);
	mbt_sess.nlive = 0;
	for (uint32_t i = 0; i < m->set.max_sessions; i++)
		if (m->sess[i].used)
			abort();
	return 0;
}
