/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The master server's socket layer (control/ctl_master.c) on loopback, without
 * EAL, on the real control loop and the real subsystem table of the control
 * library: the fake dataplane of tests/fakes (records session starts, posts
 * the session end as an event) and a real published image table
 * (liburcu-qsbr), then talks to the listener -- on a port the kernel picked
 * -- with raw sockets (a request in pieces, a health probe, garbage, GET,
 * GETSTATUS, NOIMAGE) and, when the stock Emulab tools are present, with
 * the stock `frisbee -Q`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "dp.h"
#include "mb_file.h"
#include "mb_image.h"
#include "mb_time.h"
#include "ms_wire.h"

/* The stock client; MB_FRISBEE_BIN (a directory) overrides. */
#define STOCK_FRISBEE_DIR "/work/shared/peers/emulab-frisbee/bin"

static uint64_t
now_ms(void)
{
	return mb_time_mono_ns() / MB_NS_PER_MS;
}

static bool
fake_pending(const char *name, uint64_t *ret_size, int64_t *ret_mtime, void *arg)
{
	(void)ret_mtime;
	if (strcmp(name, (const char *)arg) != 0)
		return false;
	*ret_size = 77;
	return true;
}

/* ---- the client side (a thread, while main runs the loop) ------------- */

static uint16_t port;
static volatile int client_done;
static int client_failures;

#define CHECK(c)                                                                               \
	do {                                                                                   \
		if (!(c)) {                                                                    \
			fprintf(stderr, "client check failed: %s (line %d)\n", #c, __LINE__);  \
			client_failures++;                                                     \
		}                                                                              \
	} while (0)

static int
dial(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send `len` bytes in `pieces` writes, read the whole reply. */
static ssize_t
exchange(const uint8_t *req, size_t len, int pieces, uint8_t *rep, size_t replen)
{
	size_t off = 0, step = (len + pieces - 1) / pieces;
	ssize_t n, got = 0;
	int fd = dial();

	if (fd < 0)
		return -1;
	while (off < len) {
		size_t k = len - off < step ? len - off : step;

		if (write(fd, req + off, k) != (ssize_t)k)
			break;
		off += k;
		if (pieces > 1)
			usleep(20000);
	}
	while ((n = read(fd, rep + got, replen - got)) > 0)
		got += n;
	close(fd);
	return got;
}

static size_t
make_get(uint8_t *buf, const char *id, uint8_t methods, uint8_t status)
{
	struct mb_ms_get_request r = { .methods = methods, .status = status };

	r.idlen = (uint16_t)strlen(id);
	strcpy(r.imageid, id);
	mb_ms_get_request_encode(&r, buf, MB_MS_GETREQ_LEN);
	return MB_MS_GETREQ_LEN;
}

static void *
client_main(void *arg)
{
	uint8_t req[MB_MS_MSG_MAX], rep[1024];
	struct mb_ms_get_reply r;
	ssize_t n;
	int fd;

	(void)arg;
	/* 1. a health probe: connect, close */
	fd = dial();
	CHECK(fd >= 0);
	close(fd);

	/* 2. GETSTATUS in three pieces */
	n = exchange(req, make_get(req, "emulab-ops/RAW", 7, 1), 3, rep, sizeof(rep));
	CHECK(n == MB_MS_GETREPLY_LEN);
	CHECK(mb_ms_get_reply_decode(rep, (size_t)n, &r, NULL) == 0);
	CHECK(r.error == 0 && r.method == 3 && r.size == 4096);
	CHECK(mb_ms_reply_mtime(&r) == 1700000000);

	/* 3. garbage header: closed without a reply, as mfrisbeed */
	memset(req, 'X', 16);
	n = exchange(req, 16, 1, rep, sizeof(rep));
	CHECK(n == 0);
	/* 3b. the version bytes are not looked at; the id is canonicalised */
	make_get(req, "RAW:0", 7, 1);
	memcpy(req, "V99", 4);
	n = exchange(req, MB_MS_GETREQ_LEN, 1, rep, sizeof(rep));
	CHECK(n == MB_MS_GETREPLY_LEN);
	CHECK(mb_ms_get_reply_decode(rep, (size_t)n, &r, NULL) == 0);
	CHECK(r.error == 0 && r.size == 4096);

	/* 4. GET: a multicast session from the pool, servaddr = dataplane address */
	n = exchange(req, make_get(req, "emulab-ops/RAW", 7, 0), 1, rep, sizeof(rep));
	CHECK(n == MB_MS_GETREPLY_LEN);
	CHECK(mb_ms_get_reply_decode(rep, (size_t)n, &r, NULL) == 0);
	CHECK(r.error == 0 && r.method == MB_MS_METHOD_MULTICAST && r.isrunning == 1);
	CHECK(r.addr == 0xea050601u && r.port == 3564 && r.servaddr == INADDR_LOOPBACK);

	/* 5. unknown image */
	n = exchange(req, make_get(req, "nosuch", 7, 0), 1, rep, sizeof(rep));
	CHECK(mb_ms_get_reply_decode(rep, (size_t)n, &r, NULL) == 0);
	CHECK(r.error == MB_MS_ERROR_NOIMAGE);

	/* 5b. known but not published (two providers: store, sync): TRYAGAIN */
	n = exchange(req, make_get(req, "proj/syncing", 7, 0), 1, rep, sizeof(rep));
	CHECK(mb_ms_get_reply_decode(rep, (size_t)n, &r, NULL) == 0 &&
	      r.error == MB_MS_ERROR_TRYAGAIN);
	n = exchange(req, make_get(req, "proj/syncing", 7, 1), 1, rep, sizeof(rep));
	CHECK(mb_ms_get_reply_decode(rep, (size_t)n, &r, NULL) == 0 && r.error == 0 &&
	      r.size == 77 && r.isrunning == 0);

	/* 6. half a request, then close */
	fd = dial();
	CHECK(fd >= 0);
	CHECK(write(fd, req, 100) == 100);
	close(fd);

	/* 7. the stock client's GETSTATUS, for a versioned id without pid */
	const char *dir = getenv("MB_FRISBEE_BIN") ? getenv("MB_FRISBEE_BIN") : STOCK_FRISBEE_DIR;
	char stock[400];

	snprintf(stock, sizeof(stock), "%s/frisbee", dir);
	if (access(stock, X_OK) == 0) {
		char cmd[512], line[256];
		bool ok = false;
		FILE *p;

		snprintf(cmd, sizeof(cmd),
			 "timeout 20 %s -i 127.0.0.1 -S 127.0.0.1 -p %u -Q RAW:0 2>&1",
			 stock, port);
		p = popen(cmd, "r");
		CHECK(p != NULL);
		while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
			fputs(line, stderr);
			if (strstr(line, "error=0") != NULL || strstr(line, "access OK") != NULL)
				ok = true;
		}
		CHECK(p != NULL && pclose(p) == 0);
		CHECK(ok);
	} else {
		fprintf(stderr, "stock frisbee absent: skipping its GETSTATUS\n");
	}
	client_done = 1;
	return NULL;
}

/*
 * This thread registered with RCU, the control loop, the fake dataplane
 * (session ids from first_id), and in cfg the master server on loopback on
 * a port the kernel picks (never one another test holds): [frisbee] takes
 * the lines in frisbee (each ending in "\n"), its cursors are kept in
 * state_dir ("": none).  cfg is the caller's (mb_config_done); env_done()
 * undoes the rest.
 */
static void
env_init(struct mb_config *cfg, uint32_t first_id, const char *frisbee, const char *state_dir)
{
	char conf[512];

	rcu_register_thread();
	assert_int_equal(mb_ctl_loop_init(), 0);
	mbt_sess_reset(first_id);
	mbt_dp.local_addr = htonl(INADDR_LOOPBACK);
	mb_ctl_dp_set(&mbt_dp_ops);
	assert_true((size_t)snprintf(conf, sizeof(conf), "[dpdk]\naddress = 127.0.0.1/8\n"
				     "[frisbee]\nmaster-listen = 127.0.0.1\n%s", frisbee) <
		    sizeof(conf));
	assert_int_equal(mb_config_defaults(cfg), 0);
	assert_int_equal(mb_config_load_string(cfg, conf, NULL, 0), 0);
	cfg->master_port = MB_CTL_PORT_ANY;
	free(cfg->state_dir);
	cfg->state_dir = strdup(state_dir);
	assert_non_null(cfg->state_dir);
}

/* Undoes env_init once the core is stopped: an empty image table
 * published, the old one freed after a grace period, the loop closed. */
static void
env_done(void)
{
	mb_image_table_publish(mb_image_table_alloc(0));
	rcu_thread_offline();
	synchronize_rcu();
	rcu_barrier();
	rcu_thread_online();
	rcu_unregister_thread();
	mb_ctl_loop_fini();
}

static json_t *
master_health(void)
{
	json_t *h = mb_ctl_health_json(NULL), *m = json_incref(json_object_get(h, "master"));

	json_decref(h);
	return m;
}

static void
test_master_sockets(void **state)
{
	static const char bytes[4096];
	static const struct mb_ctl_subsys *const tab[] = { &mb_ctl_subsys_dataplane,
							   &mb_ctl_subsys_master };
	struct mb_config cfg;
	struct mb_image_table *tbl;
	char *err = NULL;
	pthread_t th;
	uint64_t t0;
	json_t *h, *c;

	(void)state;
	/* no cursors kept (test_cursors_restart) */
	env_init(&cfg, 1000, "methods = mcast,ucast\nmcast-count = 16\nport-count = 16\n"
			     "max-sessions = 8\n", "");
	tbl = mb_image_table_alloc(1);
	assert_non_null(tbl);
	tbl->img[0] = mb_image_new_heap("emulab-ops/RAW", bytes, sizeof(bytes));
	assert_non_null(tbl->img[0]);
	tbl->img[0]->mtime = 1700000000;
	tbl->count = 1;
	mb_image_table_publish(tbl);
	assert_int_equal(mb_ctl_core_start(&cfg, NULL, tab, 2), 0);
	port = mb_ctl_master_port();
	assert_int_not_equal(port, 0);
	mb_ctl_master_set_pending(fake_pending, "proj/loading");
	mb_ctl_master_set_pending(fake_pending, "proj/syncing");
	mb_ctl_master_set_pending(fake_pending, "proj/syncing"); /* counted once */
	h = mb_ctl_action_run("sessions", NULL, &err);
	assert_non_null(h);
	assert_non_null(json_object_get(h, "master"));
	json_decref(h);

	assert_int_equal(pthread_create(&th, NULL, client_main, NULL), 0);
	t0 = now_ms();
	while (!client_done && now_ms() - t0 < 40000) {
		rcu_thread_offline();
		(void)mb_ctl_loop_run_once(50);
		rcu_thread_online();
		rcu_quiescent_state();
	}
	for (int i = 0; i < 4; i++)
		(void)mb_ctl_loop_run_once(10); /* let the last connections close */
	pthread_join(th, NULL);
	assert_true(client_done);
	assert_int_equal(client_failures, 0);
	assert_int_equal(mbt_sess.starts, 1);
	assert_int_equal(mbt_sess.last.port, 3564);
	assert_int_equal(mbt_sess.last.method, MB_FRIS_MULTICAST);

	h = master_health();
	c = json_object_get(h, "counters");
	assert_int_equal(json_integer_value(json_object_get(c, "probes")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "short_requests")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "req_invalid")), 0);
	assert_int_equal(json_integer_value(json_object_get(c, "bad_header")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "req_get")), 3);
	assert_int_equal(json_array_size(json_object_get(h, "sessions")), 1);
	assert_true(json_is_true(json_object_get(h, "listening")));
	json_decref(h);
	{
		/* The dataplane ends the session (idle) just after the GETs
		 * above were answered with it: the nodes may be joining it, so
		 * it starts again on the same group and port (before, it was
		 * gone and a node's JOINs went unanswered). */
		struct mb_dp_event ev = { .type = MB_DP_EV_SESSION_END, .u.session.id = 1000 };

		assert_int_equal(mbt_dp_post(&ev), 0);
		(void)mb_ctl_loop_run_once(100);
		h = master_health();
		assert_int_equal(json_array_size(json_object_get(h, "sessions")), 1);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "counters"),
								   "sessions_revived")), 1);
		json_decref(h);
		assert_int_equal(mbt_sess.starts, 2);
		assert_int_equal(mbt_sess.last.port, 3564);
		assert_int_equal(mbt_sess.last.method, MB_FRIS_MULTICAST);
	}
	/* The store withdrew the image (its file went bad): its session is
	 * asked to end; other images and versions are left alone. */
	mb_ctl_master_stop_image("emulab-ops/RAW", 1);
	mb_ctl_master_stop_image("other", 0);
	assert_int_equal(mbt_sess.stops, 0);
	mb_ctl_master_stop_image("emulab-ops/RAW", 0);
	assert_int_equal(mbt_sess.stops, 1);
	assert_int_equal(mbt_sess.stopped_id, 1001);
	{
		/* The dataplane reports the end as an event: the subsystem table
		 * routed it to the master server; a withdrawn image's session
		 * is not started again. */
		struct mb_dp_event ev = { .type = MB_DP_EV_SESSION_END, .u.session.id = 1001 };

		assert_int_equal(mbt_dp_post(&ev), 0);
		(void)mb_ctl_loop_run_once(100);
		h = master_health();
		assert_int_equal(json_array_size(json_object_get(h, "sessions")), 0);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "counters"),
								   "sessions_ended")), 1);
		json_decref(h);
	}
	mb_ctl_core_stop();
	mb_config_done(&cfg);
	env_done();
}

/* GET on the control loop itself: the group:port handed out. */
static uint64_t
get_pair(const char *id)
{
	struct mb_ms_get_request req = { .methods = MB_MS_METHOD_MULTICAST };
	struct mb_ms_get_reply rep;

	req.idlen = (uint16_t)strlen(id);
	strcpy(req.imageid, id);
	assert_int_equal(mbt_ms_request(mb_ctl_master_port(), NULL, &req, &rep), 0);
	assert_int_equal(rep.error, 0);
	return (uint64_t)rep.addr << 16 | rep.port;
}

/* The group and port cursors survive a restart (state-dir/master-cursors.json):
 * the first session after it does not get the (group, port) of one a stock
 * client may still be listening to.  A file that is not ours: from the base. */
static void
test_cursors_restart(void **state)
{
	static const char bytes[4096];
	static const struct mb_ctl_subsys *const tab[] = { &mb_ctl_subsys_dataplane,
							   &mb_ctl_subsys_master };
	char dir[] = "/tmp/mbt-cursors-XXXXXX", path[64], *buf = NULL;
	struct mb_image_table *tbl;
	struct mb_config cfg;
	uint64_t first, second, third;
	size_t len;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	env_init(&cfg, 2000, "mcast-count = 16\nport-count = 16\n", dir);
	tbl = mb_image_table_alloc(2);
	assert_non_null(tbl);
	tbl->img[0] = mb_image_new_heap("emulab-ops/A", bytes, sizeof(bytes));
	tbl->img[1] = mb_image_new_heap("emulab-ops/B", bytes, sizeof(bytes));
	assert_non_null(tbl->img[0]);
	assert_non_null(tbl->img[1]);
	tbl->count = 2;
	mb_image_table_publish(tbl);
	assert_int_equal(mb_ctl_core_start(&cfg, NULL, tab, 2), 0);
	first = get_pair("emulab-ops/A");
	assert_true(first == ((uint64_t)0xea050601u << 16 | 3564));
	mb_ctl_core_stop();

	/* Restarted: sessions are gone, the next pair is a fresh one. */
	mbt_sess_reset(3000);
	assert_int_equal(mb_ctl_core_start(&cfg, NULL, tab, 2), 0);
	second = get_pair("emulab-ops/B");
	assert_true(second != first);
	assert_true(second == ((uint64_t)0xea050602u << 16 | 3565));
	mb_ctl_core_stop();
	snprintf(path, sizeof(path), "%s/master-cursors.json", dir);
	assert_int_equal(mb_file_read_all(path, 4096, &buf, &len), 0);
	assert_non_null(strstr(buf, "\"234.5.6.3\""));
	assert_non_null(strstr(buf, "3566"));
	free(buf);

	/* Not ours: the base again, the daemon starts all the same. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"group\": 7}\n", f);
	fclose(f);
	mbt_sess_reset(4000);
	assert_int_equal(mb_ctl_core_start(&cfg, NULL, tab, 2), 0);
	third = get_pair("emulab-ops/A");
	assert_true(third == first);

	/* The file cannot be replaced (a directory where its temporary file
	 * goes): it keeps what it held, health says why, and the next
	 * session's write, once it can, brings it up to date. */
	{
		char tmp[80], *err = NULL, *before = NULL;
		json_t *h;
		size_t blen;

		assert_int_equal(mb_file_read_all(path, 4096, &before, &blen), 0);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		assert_int_equal(mkdir(tmp, 0755), 0);
		(void)get_pair("emulab-ops/B");
		assert_int_equal(mb_file_read_all(path, 4096, &buf, &len), 0);
		assert_string_equal(buf, before);
		free(buf);
		h = mb_ctl_action_run("health", NULL, &err);
		assert_non_null(h);
		assert_non_null(strstr(json_string_value(json_object_get(
			json_object_get(h, "master"), "cursors_unsaved")) ?: "", "cannot write"));
		json_decref(h);
		assert_int_equal(rmdir(tmp), 0);
		mbt_sess_reset(5000);
		(void)get_pair("emulab-ops/A");
		assert_int_equal(mb_file_read_all(path, 4096, &buf, &len), 0);
		assert_string_not_equal(buf, before);
		free(buf);
		h = mb_ctl_action_run("health", NULL, &err);
		assert_non_null(h);
		assert_null(json_object_get(json_object_get(h, "master"), "cursors_unsaved"));
		json_decref(h);
		free(before);
	}
	mb_ctl_core_stop();

	mb_config_done(&cfg);
	(void)unlink(path);
	(void)rmdir(dir);
	env_done();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_sockets),
		cmocka_unit_test(test_cursors_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
