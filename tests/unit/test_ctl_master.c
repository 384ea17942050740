/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the master server's request logic (control/ctl_master_core.c)
 * with the fake image table and dataplane of tests/fakes: every request goes through
 * the wire codec both ways, exactly as the socket layer does it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_fakes.h"
#include "ctl_master.h"
#include "mb_time.h"

#define SERVADDR 0x0a4d0001u /* 10.77.0.1 */
#define PEER_A 0x0a4d000bu
#define PEER_B 0x0a4d000cu

static struct mb_master *
new_master(uint8_t methods, uint32_t ports)
{
	struct mb_master_settings set = {
		.methods = methods,
		.mcast_base = 0xea050601u, /* 234.5.6.1 */
		.mcast_count = 4,
		.port_base = 3564,
		.port_count = ports,
		.bcast_addr = 0x0a4d00ffu,
		.max_sessions = 8,
	};
	struct mb_master *m = mb_master_new(&set, &mbt_master_ops);

	assert_non_null(m);
	return m;
}

static int
setup(void **state)
{
	static const char bytes[] = "0123456789";

	(void)state;
	mbt_images[0] = mb_image_new_heap("emulab-ops/FBSD73-STD", bytes, 10);
	mbt_images[1] = mb_image_new_heap("test64.ndz", bytes, 5);
	mbt_images[2] = mb_image_new_heap("emulab-ops/UBUNTU22", bytes, 7);
	mbt_images[3] = mb_image_new_heap("proj/disk.sig", bytes, 4);
	if (mbt_images[0] == NULL || mbt_images[1] == NULL || mbt_images[2] == NULL ||
	    mbt_images[3] == NULL)
		return -1;
	mbt_images[2]->version = 7;
	mbt_images[0]->mtime = 0x6b0631af;
	mbt_images[0]->version = 3;
	mbt_images[1]->mtime = 1700000000;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < MBT_IMAGES; i++)
		mb_image_unref(mbt_images[i]);
	return 0;
}

static int
reset(void **state)
{
	(void)state;
	mbt_pending_name = NULL;
	mbt_sess_reset(100);
	return 0;
}

/* Send a GET(STATUS) through the codec and decode the reply. */
static int
ask(struct mb_master *m, const char *id, uint8_t methods, bool status, uint32_t hostip,
    uint32_t peer, struct mb_ms_get_reply *rep)
{
	struct mb_ms_get_request req;
	uint8_t in[MB_MS_GETREQ_LEN], out[MB_MS_MSG_MAX];
	size_t olen = 0;
	int err;

	memset(&req, 0, sizeof(req));
	req.hostip = hostip;
	req.methods = methods;
	req.status = status;
	req.idlen = (uint16_t)strlen(id);
	strcpy(req.imageid, id);
	assert_int_equal(mb_ms_get_request_encode(&req, in, sizeof(in)), 0);
	err = mb_master_handle(m, in, sizeof(in), peer, SERVADDR, out, sizeof(out), &olen);
	assert_int_equal(olen, MB_MS_GETREPLY_LEN);
	assert_int_equal(mb_ms_get_reply_decode(out, olen, rep, NULL), 0);
	assert_int_equal(rep->error, err);
	return err;
}

static void
test_getstatus(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;

	(void)state;
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, true, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, 3); /* the allowed mask, as mfrisbeed */
	assert_int_equal(rep.isrunning, 0);
	assert_int_equal(rep.size, 10);
	assert_int_equal(rep.sigtype, MB_MS_SIG_MTIME);
	assert_int_equal(mb_ms_reply_mtime(&rep), 0x6b0631af);
	assert_int_equal(rep.signature[4] | rep.signature[5] | rep.signature[6] | rep.signature[7],
			 0);
	assert_int_equal(mbt_sess.starts, 0); /* status starts nothing */
	mb_master_free(m);
}

static void
test_get_mcast_and_reuse(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep, rep2;

	(void)state;
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_MULTICAST);
	assert_int_equal(rep.isrunning, 1);
	assert_int_equal(rep.servaddr, SERVADDR);
	assert_int_equal(rep.addr, 0xea050601u);
	assert_int_equal(rep.port, 3564);
	assert_int_equal(mbt_sess.starts, 1);
	assert_int_equal(mbt_sess.last.addr, htonl(0xea050601u));
	assert_int_equal(mbt_sess.last.port, 3564);
	assert_int_equal(mbt_sess.last.method, MB_FRIS_MULTICAST);

	/* Another client, same image: the running session. */
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 2, false, 0, PEER_B, &rep2), 0);
	assert_int_equal(mbt_sess.starts, 1);
	assert_int_equal(rep2.addr, rep.addr);
	assert_int_equal(rep2.port, rep.port);
	assert_int_equal(m->cnt.sessions_reused, 1);

	/* Another image: another group and port. */
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_B, &rep2), 0);
	assert_int_equal(mbt_sess.starts, 2);
	assert_int_not_equal(rep2.addr, rep.addr);
	assert_int_not_equal(rep2.port, rep.port);
	assert_int_equal(rep2.size, 5);

	/* Status now says running and where. */
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, true, 0, PEER_A, &rep2), 0);
	assert_int_equal(rep2.isrunning, 1);
	assert_int_equal(rep2.port, rep.port);

	/* The session ends: its group and port come free; a new GET starts anew. */
	assert_true(mb_master_session_end(m, 100));
	assert_false(mb_master_session_end(m, 100));
	assert_false(mb_master_session_end(m, 9999));
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, false, 0, PEER_A, &rep2), 0);
	assert_int_equal(mbt_sess.starts, 3);
	mb_master_free(m);
}

/* A session the dataplane ends moments after a GET got it starts again in
 * place (the node asking may be joining it); otherwise it ends as before. */
static void
test_revive(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	const uint64_t grace = 3000000000ull;
	struct mb_ms_get_reply rep;
	uint64_t now;
	uint32_t id;

	(void)state;
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(mbt_sess.starts, 1);
	id = m->sess[0].id;
	now = mb_time_mono_ns();

	/* ended just after the GET: started again, same group and port */
	assert_true(mb_master_session_revive(m, id, now, grace));
	assert_int_equal(mbt_sess.starts, 2);
	assert_int_equal(mbt_sess.last.addr, htonl(rep.addr));
	assert_int_equal(mbt_sess.last.port, rep.port);
	assert_int_equal(mbt_sess.last.method, MB_FRIS_MULTICAST);
	assert_int_not_equal(m->sess[0].id, id);
	assert_int_equal(m->cnt.sessions_revived, 1);
	assert_false(mb_master_session_end(m, id)); /* the old id is gone */

	/* idle again with no GET since: not again */
	id = m->sess[0].id;
	assert_false(mb_master_session_revive(m, id, now, grace));
	assert_true(mb_master_session_end(m, id));

	/* a GET longer ago than the grace: ends */
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, false, 0, PEER_A, &rep), 0);
	id = m->sess[0].used ? m->sess[0].id : m->sess[1].id;
	assert_false(mb_master_session_revive(m, id, mb_time_mono_ns() + grace, grace));

	/* the image changed version meanwhile, or a drain is under way: ends */
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 7, false, 0, PEER_B, &rep), 0);
	mbt_images[0]->version++;
	assert_false(mb_master_session_revive(m, id, mb_time_mono_ns(), grace));
	mbt_images[0]->version--;
	m->refuse_new = true;
	assert_false(mb_master_session_revive(m, id, mb_time_mono_ns(), grace));
	m->refuse_new = false;
	m->sess[id == m->sess[0].id ? 0 : 1].stopping = true; /* withdrawn: never */
	assert_false(mb_master_session_revive(m, id, mb_time_mono_ns(), grace));
	m->sess[id == m->sess[0].id ? 0 : 1].stopping = false;

	/* the dataplane refuses the restart: ends, counted */
	mbt_sess.start_rc = -ENOSPC;
	assert_false(mb_master_session_revive(m, id, mb_time_mono_ns(), grace));
	assert_int_equal(m->cnt.session_start_failed, 1);
	mbt_sess.start_rc = 0;
	assert_true(mb_master_session_end(m, id));
	assert_int_equal(m->cnt.sessions_revived, 1);
	mb_master_free(m);
}

static void
test_unicast(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 2);
	struct mb_ms_get_reply rep;

	(void)state;
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_UNICAST);
	assert_int_equal(rep.addr, SERVADDR); /* unicast: addr = servaddr */
	assert_int_equal(mbt_sess.last.addr, htonl(PEER_A)); /* the dataplane sends to the client */
	assert_int_equal(mbt_sess.last.method, MB_FRIS_UNICAST);
	/* The same client again: its own session. */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, PEER_A, &rep), 0);
	assert_int_equal(mbt_sess.starts, 1);
	/* A second client: one client per unicast session, so a new one. */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, PEER_B, &rep), 0);
	assert_int_equal(mbt_sess.starts, 2);
	assert_int_equal(mbt_sess.last.addr, htonl(PEER_B));
	/* Ports exhausted: TRYAGAIN. */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, 0x0a4d000d, &rep),
			 MB_MS_ERROR_TRYAGAIN);
	assert_int_equal(rep.port, 0);
	mb_master_free(m);
}

static void
test_broadcast(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_ANY, 16);
	struct mb_master *m2 = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;

	(void)state;
	/* broadcast only when asked for alone (test_method_order) */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_BROADCAST, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_BROADCAST);
	assert_int_equal(rep.addr, 0x0a4d00ffu);
	/* bcast not allowed: NOMETHOD for a bcast-only client. */
	assert_int_equal(ask(m2, "test64.ndz", MB_MS_METHOD_BROADCAST, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_NOMETHOD);
	assert_int_equal(ask(m2, "test64.ndz", 0, false, 0, PEER_A, &rep), MB_MS_ERROR_NOMETHOD);
	mb_master_free(m);
	mb_master_free(m2);
}

static void
test_errors(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;
	uint8_t in[MB_MS_MSG_MAX], out[MB_MS_MSG_MAX];
	size_t olen;

	(void)state;
	assert_int_equal(ask(m, "nosuch", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);
	assert_int_equal(ask(m, "nosuch", 7, true, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);
	assert_int_equal(ask(m, "../etc/passwd", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_INVALID);
	/* Known to the store but not published: TRYAGAIN, status answers. */
	assert_int_equal(ask(m, "proj/coming", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);
	mbt_pending_name = "proj/coming";
	assert_int_equal(ask(m, "proj/coming", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_TRYAGAIN);
	assert_int_equal(ask(m, "proj/coming", 7, true, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.size, 4096);
	assert_int_equal(rep.isrunning, 0);
	/* Proxy requests are refused unless allowed; hostip == peer is not a proxy. */
	assert_int_equal(ask(m, "test64.ndz", 7, false, PEER_B, PEER_A, &rep),
			 MB_MS_ERROR_NOACCESS);
	assert_int_equal(ask(m, "test64.ndz", 7, true, PEER_A, PEER_A, &rep), 0);
	m->set.allow_proxy = true; /* frisbee.master-proxy = yes */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, PEER_B, PEER_A, &rep),
			 0);
	assert_int_equal(mbt_sess.last.addr, htonl(PEER_A)); /* to the peer that asked */
	m->set.allow_proxy = false;
	/* The dataplane is full or broken. */
	mbt_sess.start_rc = -ENOSPC;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, 0x0a4d000eu, &rep), MB_MS_ERROR_TRYAGAIN);
	mbt_sess.start_rc = -EIO;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, 0x0a4d000eu, &rep), MB_MS_ERROR_TRYAGAIN);
	assert_int_equal(m->cnt.session_start_failed, 4); /* mcast+ucast, twice */

	/* Garbage: closed without a reply (test_error_fidelity). */
	memset(in, 'x', sizeof(in));
	olen = 1;
	assert_int_equal(mb_master_handle(m, in, 100, PEER_A, SERVADDR, out, sizeof(out), &olen),
			 MB_MS_ERROR_INVALID);
	assert_int_equal(olen, 0);
	assert_int_equal(mb_master_handle(m, in, 0, PEER_A, SERVADDR, out, sizeof(out), &olen),
			 MB_MS_ERROR_INVALID);
	assert_int_equal(m->cnt.bad_header, 2);
	/* A bad body (idlen 0) still gets INVALID. */
	memset(in, 0, sizeof(in));
	memcpy(in, "V01", 4);
	in[7] = MB_MS_GETREQUEST;
	assert_int_equal(mb_master_handle(m, in, MB_MS_GETREQ_LEN, PEER_A, SERVADDR, out,
					  sizeof(out), &olen), MB_MS_ERROR_INVALID);
	assert_int_equal(olen, MB_MS_GETREPLY_LEN);
	/* A PUT: NOTIMPL in a PutReply. */
	memset(in, 0, sizeof(in));
	memcpy(in, "V01", 4);
	in[7] = MB_MS_PUTREQUEST;
	in[8 + 6] = 1;
	in[8 + 7] = 'a';
	assert_int_equal(mb_master_handle(m, in, MB_MS_PUTREQ_LEN, PEER_A, SERVADDR, out,
					  sizeof(out), &olen),
			 MB_MS_ERROR_NOTIMPL);
	assert_int_equal(olen, MB_MS_PUTREPLY_LEN);
	assert_int_equal(mb_ms_msg_len(out, olen, NULL), MB_MS_PUTREPLY_LEN);
	assert_int_equal(m->cnt.req_put, 1);
	assert_int_equal(m->cnt.req_invalid, 1);
	assert_int_equal(m->cnt.errors[MB_MS_ERROR_NOIMAGE], 3);
	mb_master_free(m);
}

/* Per-source limits from the configuration: one address may have started
 * at most frisbee.max-sessions-per-source sessions (reusing a running one
 * costs nothing), and unicast sessions, one per client, may hold at most
 * frisbee.max-unicast-sessions slots, so a node with many aliases cannot
 * take the slots multicast needs.  Refusals answer TRYAGAIN and count. */
static void
test_source_limits(void **state)
{
	static const char conf[] = "[dpdk]\naddress = 10.77.0.1/24\n"
				   "[frisbee]\nmax-sessions = 8\nmax-sessions-per-source = 2\n"
				   "max-unicast-sessions = 3\n";
	struct mb_master_settings set;
	struct mb_ms_get_reply rep;
	char err[MB_CFG_ERRLEN];
	struct mb_config cfg;
	struct mb_master *m;
	uint32_t first_a;

	(void)state;
	assert_int_equal(mb_config_defaults(&cfg), 0);
	assert_int_equal(mb_config_load_string(&cfg, conf, err, sizeof(err)), 0);
	assert_int_equal(mb_master_settings_from_config(&cfg, &set), 0);
	m = mb_master_new(&set, &mbt_master_ops);
	assert_non_null(m);

	/* A: two unicast sessions, then a third (multicast) is over its limit. */
	first_a = mbt_sess.next_id;
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, PEER_A, &rep), 0);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", MB_MS_METHOD_UNICAST, false, 0, PEER_A,
			     &rep), 0);
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_MULTICAST, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_TRYAGAIN);
	assert_int_equal(m->cnt.refused_source, 1);
	/* B starts that multicast session; A may then join it. */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_MULTICAST, false, 0, PEER_B, &rep), 0);
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_MULTICAST, false, 0, PEER_A, &rep), 0);
	assert_int_equal(m->cnt.sessions_reused, 1);
	/* Unicast: the third client's session is the last the share allows... */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, PEER_B, &rep), 0);
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0, 0x0a4d000du, &rep),
			 MB_MS_ERROR_TRYAGAIN);
	assert_int_equal(m->cnt.refused_unicast, 1);
	/* ...while multicast still has room. */
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", MB_MS_METHOD_MULTICAST, false, 0,
			     0x0a4d000du, &rep), 0);
	/* One of A's sessions ends: A may start another. */
	assert_true(mb_master_session_end(m, first_a));
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", MB_MS_METHOD_UNICAST, false, 0, PEER_A,
			     &rep), 0);
	mb_master_free(m);

	/* 0 = half of max-sessions; all of them when only ucast is offered. */
	assert_int_equal(mb_config_load_string(&cfg, "[frisbee]\nmax-unicast-sessions = 0\n", err,
					       sizeof(err)), 0);
	assert_int_equal(mb_master_settings_from_config(&cfg, &set), 0);
	assert_int_equal(set.max_unicast, 4);
	assert_int_equal(mb_config_load_string(&cfg, "[frisbee]\nmethods = ucast\n", err,
					       sizeof(err)), 0);
	assert_int_equal(mb_master_settings_from_config(&cfg, &set), 0);
	assert_int_equal(set.max_unicast, 8);
	mb_config_done(&cfg);
}

static void
test_json_and_parse(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;
	uint8_t mask = 0;
	json_t *j;

	(void)state;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(ask(m, "nosuch", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);
	j = mb_master_json(m);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counters"),
							   "req_get")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "errors"),
							   "NOIMAGE")), 1);
	assert_int_equal(json_array_size(json_object_get(j, "sessions")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "sessions"), 0), "addr")),
			    "234.5.6.1");
	json_decref(j);
	mb_master_free(m);

	assert_int_equal(mb_master_methods_parse("mcast,ucast", &mask), 0);
	assert_int_equal(mask, 3);
	assert_int_equal(mb_master_methods_parse("bcast mcast", &mask), 0);
	assert_int_equal(mask, 6);
	assert_int_equal(mb_master_methods_parse("mcast,foo", &mask), -EINVAL);
	assert_int_equal(mb_master_methods_parse("", &mask), -EINVAL);
}

/* Draining: a GET that would start a session fails (FAILED, counted), a GET
 * for a running session and GETSTATUS still work, undrained works again. */
static void
test_drain(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;

	(void)state;
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 2, false, 0, PEER_A, &rep), 0);
	assert_int_equal(mbt_sess.starts, 1);
	m->refuse_new = true;
	assert_int_equal(ask(m, "test64.ndz", 2, false, 0, PEER_B, &rep), MB_MS_ERROR_FAILED);
	assert_int_equal(mbt_sess.starts, 1);
	assert_int_equal(m->cnt.refused_draining, 1);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD", 2, false, 0, PEER_B, &rep), 0);
	assert_int_equal(ask(m, "test64.ndz", 2, true, 0, PEER_B, &rep), 0);
	assert_int_equal(mbt_sess.starts, 1);
	m->refuse_new = false;
	assert_int_equal(ask(m, "test64.ndz", 2, false, 0, PEER_B, &rep), 0);
	assert_int_equal(mbt_sess.starts, 2);
	mb_master_free(m);
}

/* "pid/name:version": served when the version is the published one,
 * NOIMAGE for another version, INVALID for a malformed suffix. */
/* ---- the parent origin's hook (ops.origin) ---------------------------------------- */

static int origin_verdict;
static struct mb_image *origin_img;
static unsigned int origin_calls;

static int
fake_origin(const char *name, const struct mb_ms_get_request *req, uint32_t client,
	    struct mb_ms_get_reply *rep, struct mb_image **ret_img, void *arg)
{
	(void)name;
	(void)client;
	(void)arg;
	origin_calls++;
	if (origin_verdict == MB_MASTER_SERVE)
		*ret_img = origin_img;
	if (origin_verdict == MB_MS_ERROR_NONE && req->status) {
		memset(rep, 0, sizeof(*rep));
		rep->size = 77;
		mb_ms_reply_set_mtime(rep, 1234);
	}
	return origin_verdict;
}

/* WAIT: no reply at all; an error: that error; LOCAL: the lookup; SERVE: the
 * image the origin gives (not in the table), with a session on it;
 * NONE for a GETSTATUS: the origin's reply as is (method 0, not running). */
static void
test_origin_hook(void **state)
{
	struct mb_master_ops ops = mbt_master_ops;
	struct mb_master_settings set = {
		.methods = MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST,
		.mcast_base = 0xea050601u,
		.mcast_count = 4,
		.port_base = 3564,
		.port_count = 16,
		.max_sessions = 8,
	};
	struct mb_ms_get_request req;
	struct mb_ms_get_reply rep;
	uint8_t in[MB_MS_GETREQ_LEN], out[MB_MS_MSG_MAX];
	size_t olen = 99;
	struct mb_master *m;

	(void)state;
	ops.origin = fake_origin;
	m = mb_master_new(&set, &ops);
	assert_non_null(m);

	origin_verdict = MB_MASTER_WAIT;
	memset(&req, 0, sizeof(req));
	req.methods = 7;
	req.idlen = 10;
	memcpy(req.imageid, "test64.ndz", 10);
	assert_int_equal(mb_ms_get_request_encode(&req, in, sizeof(in)), 0);
	assert_int_equal(mb_master_handle(m, in, sizeof(in), PEER_A, SERVADDR, out, sizeof(out),
					  &olen),
			 MB_MASTER_WAIT);
	assert_int_equal(olen, 0);
	assert_int_equal(mbt_sess.starts, 0);

	origin_verdict = MB_MS_ERROR_NOACCESS;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_NOACCESS);
	origin_verdict = MB_MS_ERROR_TRYAGAIN;
	assert_int_equal(ask(m, "test64.ndz", 7, true, 0, PEER_A, &rep), MB_MS_ERROR_TRYAGAIN);

	origin_verdict = MB_MS_ERROR_NONE; /* a GETSTATUS answered from the parent's word */
	assert_int_equal(ask(m, "nosuch", 7, true, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, 0);
	assert_int_equal(rep.isrunning, 0);
	assert_int_equal(rep.size, 77);
	assert_int_equal(mb_ms_reply_mtime(&rep), 1234);

	origin_verdict = MB_MASTER_LOCAL;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.size, 5);
	assert_int_equal(ask(m, "nosuch", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);

	/* an image still arriving, in no table */
	origin_img = mb_image_new_heap("arriving/IMG", "abcdefgh", 8);
	assert_non_null(origin_img);
	origin_img->version = 2;
	origin_verdict = MB_MASTER_SERVE;
	assert_int_equal(ask(m, "arriving/IMG", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.size, 8);
	assert_int_equal(rep.isrunning, 1);
	assert_int_equal(mbt_sess.starts, 2);
	/* a second node joins its session */
	assert_int_equal(ask(m, "arriving/IMG", 7, false, 0, PEER_B, &rep), 0);
	assert_int_equal(mbt_sess.starts, 2);
	assert_true(origin_calls >= 8);
	mb_master_free(m);
	mbt_sess_reset(100);
	mb_image_unref(origin_img);
}

static void
test_version_suffix(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;

	(void)state;
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD:3", 2, false, 0, PEER_A, &rep), 0);
	assert_int_equal(mbt_sess.starts, 1);
	assert_int_equal(rep.size, 10);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD:3", 2, true, 0, PEER_A, &rep), 0);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD:2", 2, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_NOIMAGE);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD:", 2, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_INVALID);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD:3a", 2, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_INVALID);
	assert_int_equal(ask(m, "emulab-ops/FBSD73-STD:12345678901", 2, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_INVALID);
	assert_int_equal(mbt_sess.starts, 1);
	mb_master_free(m);
}

/* Image ids as the stock Emulab master server reads them: a missing pid is
 * emulab-ops, ":N" a version (the published one), ",meta" the store image
 * "pid/name.meta"; a bare id is also looked up as given; all names of one
 * image share its session. */
static void
test_canonical_ids(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_ms_get_reply rep;
	struct mb_master_id id;

	(void)state;
	assert_int_equal(mb_master_canon_id("UBUNTU22:7,sig", 14, &id), 0);
	assert_string_equal(id.canon, "emulab-ops/UBUNTU22:7,sig");
	assert_string_equal(id.name, "emulab-ops/UBUNTU22.sig");
	assert_string_equal(id.alt, "UBUNTU22.sig");
	assert_true(id.has_version);
	assert_int_equal(id.version, 7);
	assert_int_equal(mb_master_canon_id("p/a:b", 5, &id), -EINVAL); /* ':' kept in name */
	assert_int_equal(mb_master_canon_id("p/a:3,", 6, &id), -EINVAL);
	assert_int_equal(mb_master_canon_id("p/a:3x", 6, &id), -EINVAL);
	assert_int_equal(mb_master_canon_id("/usr/testbed/images/a.ndz", 25, &id), 0);
	assert_true(id.path);

	/* No pid: emulab-ops. */
	assert_int_equal(ask(m, "UBUNTU22", 2, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.size, 7);
	assert_int_equal(mbt_sess.starts, 1);
	/* Versioned, with and without the pid: the same session. */
	assert_int_equal(ask(m, "UBUNTU22:7", 2, false, 0, PEER_B, &rep), 0);
	assert_int_equal(ask(m, "emulab-ops/UBUNTU22:7", 2, false, 0, PEER_B, &rep), 0);
	assert_int_equal(mbt_sess.starts, 1);
	assert_int_equal(ask(m, "UBUNTU22:6", 2, false, 0, PEER_B, &rep), MB_MS_ERROR_NOIMAGE);
	assert_int_equal(ask(m, "UBUNTU22:7", 2, true, 0, PEER_B, &rep), 0);
	assert_int_equal(rep.isrunning, 1);
	/* Meta: pid/name,meta is the store image pid/name.meta. */
	assert_int_equal(ask(m, "proj/disk,sig", 2, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.size, 4);
	assert_int_equal(mbt_sess.starts, 2);
	assert_int_equal(ask(m, "proj/disk:0,sig", 2, true, 0, PEER_A, &rep), 0);
	assert_int_equal(ask(m, "proj/disk,md5", 2, true, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);
	/* A bare name the store holds as it is. */
	assert_int_equal(ask(m, "test64.ndz", 2, true, 0, PEER_A, &rep), 0);
	/* Known but not published, under either name. */
	mbt_pending_name = "emulab-ops/NEW";
	assert_int_equal(ask(m, "NEW", 2, false, 0, PEER_A, &rep), MB_MS_ERROR_TRYAGAIN);
	mbt_pending_name = "bare.ndz";
	assert_int_equal(ask(m, "bare.ndz", 2, false, 0, PEER_A, &rep), MB_MS_ERROR_TRYAGAIN);
	assert_int_equal(ask(m, "bare.ndz:1", 2, false, 0, PEER_A, &rep), MB_MS_ERROR_NOIMAGE);
	mbt_pending_name = NULL;
	/* Paths on boss: nothing here; a ':' that is no version: not a name. */
	assert_int_equal(ask(m, "/usr/testbed/images/UBUNTU22.ndz", 2, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_NOIMAGE);
	assert_int_equal(ask(m, "emulab-ops/UBUNTU22:x", 2, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_INVALID);
	mb_master_free(m);
}

/* A new session: multicast, then unicast, broadcast last (mfrisbeed). */
static void
test_method_order(void **state)
{
	struct mb_master *m = new_master(MB_MS_METHOD_ANY, 16);
	struct mb_master *m2 = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_BROADCAST, 16);
	struct mb_ms_get_reply rep;

	(void)state;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_MULTICAST);
	assert_int_equal(ask(m2, "test64.ndz", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_UNICAST);
	assert_int_equal(ask(m2, "test64.ndz", MB_MS_METHOD_BROADCAST, false, 0, PEER_B, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_BROADCAST);
	/* A running broadcast session is reused before starting multicast. */
	assert_int_equal(ask(m2, "test64.ndz", 7, false, 0, 0x0a4d000du, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_BROADCAST);
	mb_master_free(m);
	mb_master_free(m2);
}

/* Errors as mfrisbeed gives them. */
static void
test_error_fidelity(void **state)
{
	struct mb_master_settings set = {
		.methods = MB_MS_METHOD_ANY, .mcast_base = 0xea050601u, .mcast_count = 4,
		.port_base = 3564, .port_count = 16, .bcast_addr = 0, .max_sessions = 8,
	};
	struct mb_master *m = new_master(MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST, 16);
	struct mb_master *nob = mb_master_new(&set, &mbt_master_ops);
	uint8_t in[MB_MS_MSG_MAX], out[MB_MS_MSG_MAX];
	struct mb_ms_get_request req;
	struct mb_ms_get_reply rep;
	size_t olen;

	(void)state;
	assert_non_null(nob);
	/* NOMETHOD before NOIMAGE and before NOACCESS. */
	assert_int_equal(ask(m, "nosuch", MB_MS_METHOD_BROADCAST, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_NOMETHOD);
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_BROADCAST, false, PEER_B, PEER_A, &rep),
			 MB_MS_ERROR_NOMETHOD);
	/* Broadcast allowed but no broadcast address: not offered at all. */
	assert_int_equal(ask(nob, "test64.ndz", MB_MS_METHOD_BROADCAST, false, 0, PEER_A, &rep),
			 MB_MS_ERROR_NOMETHOD);
	assert_int_equal(ask(nob, "test64.ndz", 7, true, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST);
	/* A session that cannot start: TRYAGAIN, whatever the dataplane says. */
	mbt_sess.start_rc = -EIO;
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_A, &rep), MB_MS_ERROR_TRYAGAIN);
	mbt_sess.start_rc = 0;
	/* GETSTATUS with a running session: that session's method. */
	assert_int_equal(ask(m, "test64.ndz", 7, false, 0, PEER_A, &rep), 0);
	assert_int_equal(ask(m, "test64.ndz", 7, true, 0, PEER_B, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_MULTICAST);
	assert_int_equal(rep.isrunning, 1);
	/* ...and the mask when the request's methods exclude it. */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, true, 0, PEER_B, &rep), 0);
	assert_int_equal(rep.method, MB_MS_METHOD_UNICAST);
	assert_int_equal(rep.isrunning, 0);
	/* GETSTATUS while the image is on its way: method 0, not running. */
	mbt_pending_name = "proj/coming";
	assert_int_equal(ask(m, "proj/coming", 7, true, 0, PEER_A, &rep), 0);
	assert_int_equal(rep.method, 0);
	assert_int_equal(rep.isrunning, 0);
	assert_int_equal(rep.size, 4096);

	/* An unknown message type: no reply at all. */
	memset(in, 'x', sizeof(in));
	olen = 99;
	mb_master_handle(m, in, MB_MS_GETREQ_LEN, PEER_A, SERVADDR, out, sizeof(out), &olen);
	assert_int_equal(olen, 0);
	assert_int_equal(m->cnt.bad_header, 1);
	/* The version bytes are not checked: "V02" is served like "V01". */
	memset(&req, 0, sizeof(req));
	req.methods = 2;
	req.idlen = 10;
	strcpy(req.imageid, "test64.ndz");
	assert_int_equal(mb_ms_get_request_encode(&req, in, sizeof(in)), 0);
	in[2] = '2';
	assert_int_equal(mb_master_handle(m, in, MB_MS_GETREQ_LEN, PEER_B, SERVADDR, out,
					  sizeof(out), &olen), 0);
	assert_int_equal(olen, MB_MS_GETREPLY_LEN);
	mb_master_free(m);
	mb_master_free(nob);
}

/* Proxied requests: refused (NOACCESS) unless the peer is an allowed proxy
 * (frisbee.master-proxies, 127.0.0.1, or master-proxy = yes for anyone);
 * when allowed, a unicast session goes to the peer that asked. */
static void
test_proxy(void **state)
{
	static const char conf[] = "[dpdk]\naddress = 10.77.0.1/24\n"
				   "[frisbee]\nmaster-proxies = 10.77.0.11, 10.99.0.0/16\n";
	struct mb_master_settings set;
	struct mb_ms_get_reply rep;
	char err[MB_CFG_ERRLEN];
	struct mb_config cfg;
	struct mb_master *m;
	uint32_t a[MB_CFG_IPV4_LIST_MAX], mk[MB_CFG_IPV4_LIST_MAX];
	const char *bad = NULL;

	(void)state;
	assert_int_equal(mb_config_ipv4_list_parse("", a, mk, 4, NULL), 0);
	assert_int_equal(mb_config_ipv4_list_parse("1.2.3.4 10.0.0.0/8,", a, mk, 4, NULL), 2);
	assert_int_equal(a[1], 0x0a000000u);
	assert_int_equal(mk[1], 0xff000000u);
	assert_int_equal(mb_config_ipv4_list_parse("1.2.3.4,host", a, mk, 4, &bad), -EINVAL);
	assert_string_equal(bad, "host");
	assert_int_equal(mb_config_ipv4_list_parse("1.2.3.4/33", a, mk, 4, NULL), -EINVAL);
	assert_int_equal(mb_config_ipv4_list_parse("1.1.1.1 2.2.2.2", a, mk, 1, NULL), -E2BIG);
	assert_int_equal(mb_config_defaults(&cfg), 0);
	assert_int_equal(mb_config_load_string(&cfg, "[dpdk]\naddress = 10.77.0.1/24\n"
					       "[frisbee]\nmaster-proxies = boss\n", err,
					       sizeof(err)), 0);
	assert_int_not_equal(mb_config_validate(&cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "master-proxies"));
	mb_config_done(&cfg);

	assert_int_equal(mb_config_defaults(&cfg), 0);
	assert_int_equal(mb_config_load_string(&cfg, conf, err, sizeof(err)), 0);
	assert_int_equal(mb_master_settings_from_config(&cfg, &set), 0);
	m = mb_master_new(&set, &mbt_master_ops);
	assert_non_null(m);
	/* PEER_A (10.77.0.11) is listed: its unicast goes to itself. */
	assert_int_equal(ask(m, "test64.ndz", MB_MS_METHOD_UNICAST, false, 0x0a4d0063u, PEER_A,
			     &rep), 0);
	assert_int_equal(mbt_sess.last.addr, htonl(PEER_A));
	assert_int_equal(rep.addr, SERVADDR);
	/* PEER_B is not: NOACCESS, for GET and GETSTATUS alike. */
	assert_int_equal(ask(m, "test64.ndz", 7, false, PEER_A, PEER_B, &rep),
			 MB_MS_ERROR_NOACCESS);
	assert_int_equal(ask(m, "test64.ndz", 7, true, PEER_A, PEER_B, &rep),
			 MB_MS_ERROR_NOACCESS);
	assert_int_equal(m->cnt.refused_proxy, 2);
	/* A prefix and loopback. */
	assert_int_equal(ask(m, "test64.ndz", 7, true, PEER_A, 0x0a630101u, &rep), 0);
	assert_int_equal(ask(m, "test64.ndz", 7, true, PEER_A, 0x7f000001u, &rep), 0);
	/* Asking for oneself is no proxy. */
	assert_int_equal(ask(m, "test64.ndz", 7, true, PEER_B, PEER_B, &rep), 0);
	mb_master_free(m);
	mb_config_done(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_getstatus, reset),
		cmocka_unit_test_setup(test_get_mcast_and_reuse, reset),
		cmocka_unit_test_setup(test_revive, reset),
		cmocka_unit_test_setup(test_unicast, reset),
		cmocka_unit_test_setup(test_broadcast, reset),
		cmocka_unit_test_setup(test_errors, reset),
		cmocka_unit_test_setup(test_drain, reset),
		cmocka_unit_test_setup(test_version_suffix, reset),
		cmocka_unit_test_setup(test_origin_hook, reset),
		cmocka_unit_test_setup(test_source_limits, reset),
		cmocka_unit_test_setup(test_json_and_parse, reset),
		cmocka_unit_test_setup(test_canonical_ids, reset),
		cmocka_unit_test_setup(test_method_order, reset),
		cmocka_unit_test_setup(test_error_fidelity, reset),
		cmocka_unit_test_setup(test_proxy, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
