/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateful fuzzing of the parent origin (origin.url = mfrisbee://): the
 * replies of a parent master server, through the real control loop.  As in
 * fuzz_ctl_loop.c, the loop (control/ctl_loop.c), its timers and
 * descriptors run in this process on this thread with the control
 * library's subsystem table: the image store (an empty state directory
 * under /tmp, heap memory), the dataplane's event queue (the fake dataplane
 * of tests/fakes), the master server (TCP on 127.0.0.1, a port the kernel
 * picks) and the origin, whose parent is this harness: a listening socket
 * on 127.0.0.1.  Started once, on the first input.
 *
 * Each input is a script of up to 512 steps: a node asks the master server
 * (GET or GETSTATUS for one of four names, for itself or by another
 * address; four node slots); the parent accepts the origin's connections
 * (eight parent slots; every request the origin sends must decode and name
 * an image a node asked for), and answers one: a reply built from fuzzed
 * fields (error, size around images.max-image-size, mtime, method, running,
 * port), the same with one byte changed or cut short, raw bytes, nothing
 * (the 5 s deadline), a close or a reset; the parent stops or starts
 * listening (refused connections: backoff and the reachability probe);
 * nodes read their replies or close; the loop runs; the clock moves on
 * (1 ms .. 601 s, past every backoff).  A successful GET reply starts a
 * fetch: its Frisbee receiver asks a UDP socket of the harness that never
 * answers, so the fetch ends by origin.timeout.  Every address a reply
 * carries is 127.0.0.1: the harness sends nothing off this host.
 *
 * The clock: CLOCK_MONOTONIC is the real one plus an offset the "time" step
 * adds to (clock_gettime of fuzz_ctl_common.h).
 *
 * Checked after every step: live timers and open descriptors within what
 * the slots and the origin's bounds allow (ORIGIN_MAX_IMAGES images, two
 * fetches).  After every input (all slots closed, the parent listening, the
 * clock past every deadline and backoff): descriptors and live timers back
 * to where they were after start, no fetch running, no image published
 * (the parent never sent a byte of one), no master-server session, and a
 * node's GETSTATUS gets the parent's answer (the harness answers NOIMAGE;
 * the node must get NOIMAGE).  A broken invariant aborts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "dp.h"
#define FUZZ_NAME "fuzz_ctl_origin"
#include "fuzz_ctl_common.h"
#include "fuzz_rd.h"
#include "mb_config.h"
#include "mb_log.h"
#include "mb_time.h"
#include "ms_wire.h"

#define NNODE 4
#define NPAR 8
#define MAX_STEPS 512
#define MAX_SIZE (16u << 20) /* images.max-image-size */

static const char *const names[] = { "p/one", "p/two", "p/three", "p/four" };

/* ---- the control plane, started once ------------------------------------------ */

static struct {
	bool up;
	char dir[64];
	struct mb_config cfg;
	uint16_t master_port;
	uint16_t parent_port;
	int lfd;       /* the parent's listener, -1 while it is "down" */
	uint16_t fris_port; /* the UDP port every GET reply names */
	bool asked[4]; /* names a node asked for in this input */
} S = { .lfd = -1 };

/* The parent's listener on S.parent_port (the same port each time; a new
 * one when it is 0: 20000..31999, below the kernel's ephemeral range,
 * where the origin's own sockets never bind).  While it is closed another program may take the
 * port: then it stays closed (check_end moves the parent).  True when
 * listening. */
static bool
parent_listen(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1;

	if (S.lfd >= 0)
		return true;
	for (int tries = 0; tries < (S.parent_port == 0 ? 1000 : 1); tries++) {
		uint16_t port = S.parent_port != 0 ? S.parent_port :
						     (uint16_t)(20000 + (unsigned)rand() % 12000);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons(port);
		S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (S.lfd < 0 ||
		    setsockopt(S.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
			fail("the parent's listener: %s", strerror(errno));
		if (bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(S.lfd, 64) == 0) {
			S.parent_port = port;
			return true;
		}
		if (errno != EADDRINUSE)
			fail("the parent's listener on %u: %s", (unsigned)port, strerror(errno));
		(void)close(S.lfd);
		S.lfd = -1;
	}
	return false;
}

/* The origin's configuration with the parent at S.parent_port. */
static void
set_url(void)
{
	char url[64];

	snprintf(url, sizeof(url), "mfrisbee://127.0.0.1:%u", (unsigned)S.parent_port);
	free(S.cfg.origin_url);
	S.cfg.origin_url = strdup(url);
	if (S.cfg.origin_url == NULL)
		fail("out of memory");
}

static void
parent_unlisten(void)
{
	if (S.lfd >= 0)
		(void)close(S.lfd);
	S.lfd = -1;
}

static void
remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	if (S.dir[0] != '\0' && system(cmd) != 0)
		fprintf(stderr, "fuzz_ctl_origin: could not remove %s\n", S.dir);
}

static void
start_once(void)
{
	static const struct mb_ctl_subsys *const tab[] = {
		&mb_ctl_subsys_store, &mb_ctl_subsys_dataplane, &mb_ctl_subsys_master,
		&mb_ctl_subsys_origin,
	};
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char err[MB_CFG_ERRLEN], text[1024];

	signal(SIGPIPE, SIG_IGN);
	mb_log_set_sink(quiet_sink);
	snprintf(S.dir, sizeof(S.dir), "/tmp/mbt-fuzzorigin.XXXXXX");
	if (mkdtemp(S.dir) == NULL)
		fail("mkdtemp: %s", strerror(errno));
	atexit(remove_dir);
	srand((unsigned)getpid());
	if (!parent_listen())
		fail("the parent's listener");
	/* The UDP port of every session a reply names: free at start.  The
	 * receiver binds it and sends its JOINs to 127.0.0.1 there, that is
	 * to itself; nobody answers, and the fetch ends by origin.timeout. */
	{
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
			fail("a free UDP port: %s", strerror(errno));
		S.fris_port = ntohs(sa.sin_port);
		(void)close(fd);
	}
	rcu_thread_online();
	snprintf(text, sizeof(text),
		 "[dpdk]\naddress = 127.0.0.1/8\n"
		 "[server]\nstate-dir = %s\n"
		 "[images]\nmax-image-size = %u\n"
		 "[frisbee]\nmaster-max-per-source = 8\nmax-sessions = 16\n"
		 "[origin]\ntimeout = 5s\nconcurrency = 2\n",
		 S.dir, MAX_SIZE);
	if (mb_config_defaults(&S.cfg) != 0 ||
	    mb_config_load_string(&S.cfg, text, err, sizeof(err)) != 0)
		fail("configuration: %s", err);
	set_url();
	free(S.cfg.master_listen);
	S.cfg.master_listen = strdup("127.0.0.1");
	S.cfg.master_port = MB_CTL_PORT_ANY;
	fz_loop_start_heap();
	mbt_sess_reset(1);
	if (mb_ctl_core_start(&S.cfg, NULL, tab, sizeof(tab) / sizeof(tab[0])) != 0)
		fail("control plane start");
	S.master_port = mb_ctl_master_port();
	if (S.master_port == 0)
		fail("the master server is not listening");
	pump(4);
	fz_baseline();
	S.up = true;
}

/* ---- nodes and the parent's connections ------------------------------------------ */

static int node_fd[NNODE];
static int par_fd[NPAR];

static int
dial_master(uint8_t src)
{
	return fz_dial_tcp(S.master_port, src & 3);
}

/* A node's request: GET or GETSTATUS for names[sel & 3], maybe by another
 * address. */
static void
node_ask(unsigned i, uint8_t sel)
{
	struct mb_ms_get_request r = { .methods = (uint8_t)(1 + (sel >> 3) % 7),
				       .status = (sel >> 2) & 1 };
	const char *name = names[sel & 3];
	uint8_t buf[MB_MS_MSG_MAX];

	close_fd(&node_fd[i], false);
	node_fd[i] = dial_master(sel >> 6);
	if (node_fd[i] < 0)
		return;
	if (sel & 0x20)
		r.hostip = htonl(0x7f000002u);
	r.idlen = (uint16_t)strlen(name);
	memcpy(r.imageid, name, r.idlen);
	if (mb_ms_get_request_encode(&r, buf, sizeof(buf)) < 0)
		fail("encoding a request");
	S.asked[sel & 3] = true;
	(void)send(node_fd[i], buf, MB_MS_GETREQ_LEN, MSG_NOSIGNAL);
}

static void
node_read(unsigned i)
{
	char buf[4096];

	while (node_fd[i] >= 0) {
		ssize_t n = recv(node_fd[i], buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			close_fd(&node_fd[i], false);
			break;
		}
		if (n < 0)
			break;
	}
}

/* Accept what the origin opened; a request that arrived must decode and
 * name an image a node asked for. */
static void
parent_accept(unsigned i)
{
	if (par_fd[i] >= 0 || S.lfd < 0)
		return;
	par_fd[i] = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static void
parent_check_request(unsigned i)
{
	uint8_t buf[MB_MS_GETREQ_LEN];
	struct mb_ms_get_request req;
	const char *why = NULL;
	ssize_t n;
	bool known = false;

	if (par_fd[i] < 0)
		return;
	n = recv(par_fd[i], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < (ssize_t)sizeof(buf))
		return; /* not all there yet (or a probe: nothing is sent) */
	if (mb_ms_get_request_decode(buf, sizeof(buf), &req, &why) != 0)
		fail("the origin sent the parent a request that does not decode: %s",
		     why != NULL ? why : "?");
	for (unsigned k = 0; k < 4; k++)
		known |= S.asked[k] && strcmp(req.imageid, names[k]) == 0;
	if (!known)
		fail("the origin asked the parent for '%s', which no node asked for", req.imageid);
}

static const uint16_t errors[] = {
	0, MB_MS_ERROR_TRYAGAIN, MB_MS_ERROR_NOIMAGE, MB_MS_ERROR_NOACCESS, 1, 7, 0xffff,
};

static const uint64_t sizes[] = {
	4096, 1, 0, MAX_SIZE, MAX_SIZE + 1, 1024 * 1024 + 1, UINT64_MAX, 0x100000000ull,
};

/* A reply from fuzzed fields; every address is 127.0.0.1, the port
 * S.fris_port (or 0). */
static void
build_reply(struct rd *r, uint8_t *buf)
{
	struct mb_ms_get_reply rep = { 0 };
	uint8_t f = rd8(r);
	uint32_t mtime = (uint32_t)rd16(r) << 8;

	rep.error = errors[f % (sizeof(errors) / sizeof(errors[0]))];
	rep.size = sizes[(f >> 3) % (sizeof(sizes) / sizeof(sizes[0]))];
	if ((f >> 6) == 3)
		rep.size = (uint64_t)rd16(r) << 4;
	rep.method = rd8(r);
	rep.isrunning = rd8(r) & 1;
	rep.servaddr = INADDR_LOOPBACK; /* host order, as the codec takes it */
	rep.addr = INADDR_LOOPBACK;
	rep.port = (rd8(r) & 1) ? 0 : S.fris_port;
	rep.sigtype = (rd8(r) & 1) ? MB_MS_SIG_MTIME : MB_MS_SIG_NONE;
	rep.signature[0] = (uint8_t)(mtime >> 24);
	rep.signature[1] = (uint8_t)(mtime >> 16);
	rep.signature[2] = (uint8_t)(mtime >> 8);
	rep.signature[3] = (uint8_t)mtime;
	if (mb_ms_get_reply_encode(&rep, buf, MB_MS_MSG_MAX) < 0)
		fail("encoding a reply");
	/* What the receiver will send to: this host only. */
	if (buf[MB_MS_HDR_LEN + 4] != 127 || buf[MB_MS_HDR_LEN + 8] != 127)
		fail("a reply names an address off this host");
}

static void
parent_reply(unsigned i, uint8_t how, struct rd *r)
{
	uint8_t buf[MB_MS_MSG_MAX];
	size_t len = MB_MS_GETREPLY_LEN;

	if (par_fd[i] < 0)
		return;
	parent_check_request(i);
	switch (how % 6) {
	case 0: /* whole */
		build_reply(r, buf);
		break;
	case 1: { /* one byte changed (not an address: 12..19 after the header) */
		size_t at = rd16(r) % MB_MS_GETREPLY_LEN;

		build_reply(r, buf);
		if (at >= MB_MS_HDR_LEN + 4 && at < MB_MS_HDR_LEN + 12)
			at = 0;
		buf[at] ^= (uint8_t)(rd8(r) | 1);
		break;
	}
	case 2: /* cut short, then closed */
		build_reply(r, buf);
		len = rd16(r) % MB_MS_GETREPLY_LEN;
		break;
	case 3: { /* raw bytes (the addresses stay zero: never sent to) */
		size_t n;
		const uint8_t *p = rd_bytes(r, rd16(r) % (MB_MS_GETREPLY_LEN + 32), &n);

		memcpy(buf, p, n < sizeof(buf) ? n : sizeof(buf));
		len = n < sizeof(buf) ? n : sizeof(buf);
		if (len > MB_MS_HDR_LEN + 4)
			memset(buf + MB_MS_HDR_LEN + 4,
			       0, (len < MB_MS_HDR_LEN + 12 ? len : MB_MS_HDR_LEN + 12) -
					  (MB_MS_HDR_LEN + 4));
		break;
	}
	case 4: /* close */
		close_fd(&par_fd[i], false);
		return;
	default: /* reset */
		close_fd(&par_fd[i], true);
		return;
	}
	(void)send(par_fd[i], buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (how % 6 == 2 || (how & 0x10))
		close_fd(&par_fd[i], false);
}

/* ---- invariants ---------------------------------------------------------------------- */

static void
check_step(void)
{
	unsigned timers = mb_ctl_timer_count();
	int fds = count_fds();

	/* Each node and parent slot, each fetch (receiver sockets and timers),
	 * each tracked image's exchange, with margin. */
	if (timers > fz_base_timers + 2 * NNODE + 2 * NPAR + 16)
		fail("%u live timers (%u at start)", timers, fz_base_timers);
	if (fds > fz_base_fds + 2 * NNODE + 2 * NPAR + 16)
		fail("%d descriptors (%d at start)", fds, fz_base_fds);
}

static bool
settled(void)
{
	json_t *p;
	bool ok;

	if (count_fds() > fz_base_fds || mb_ctl_timer_count() > fz_base_timers)
		return false;
	p = action("parent");
	ok = json_integer_value(json_object_get(p, "fetching")) == 0;
	json_decref(p);
	return ok;
}

/* Answer every request the origin makes with NOIMAGE, pump, until `done`
 * or 5 s of real time. */
static bool
serve_until(bool (*done)(void))
{
	uint64_t end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;

	while (mb_time_mono_ns() < end) {
		int fd = S.lfd >= 0 ? accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC) : -1;

		if (fd >= 0) {
			struct mb_ms_get_reply rep = { .error = MB_MS_ERROR_NOIMAGE };
			uint8_t buf[MB_MS_MSG_MAX];

			(void)mb_ms_get_reply_encode(&rep, buf, sizeof(buf));
			(void)send(fd, buf, MB_MS_GETREPLY_LEN, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)close(fd);
		}
		(void)mb_ctl_loop_run_once(1);
		if (done())
			return true;
	}
	return false;
}

/* The origin off, then on again, as a reload of origin.url does: each
 * input starts with no image tracked and the parent not marked down. */
static void
origin_restart(void)
{
	struct mb_config off;
	char err[256] = "";

	if (mb_config_copy(&off, &S.cfg) != 0)
		fail("out of memory");
	free(off.origin_url);
	off.origin_url = strdup("");
	if (off.origin_url == NULL || mb_ctl_core_apply(&off, err, sizeof(err)) != 0 ||
	    mb_ctl_core_apply(&S.cfg, err, sizeof(err)) != 0)
		fail("restarting the origin: %s", err);
	mb_config_done(&off);
}

static int end_fd = -1;
static struct mb_ms_get_reply end_rep;
static bool end_got;

static bool
end_reply(void)
{
	uint8_t buf[MB_MS_MSG_MAX];
	ssize_t n = recv(end_fd, buf, MB_MS_GETREPLY_LEN, MSG_PEEK | MSG_DONTWAIT);
	const char *why = NULL;

	if (n == 0)
		return true;
	if (n < MB_MS_GETREPLY_LEN)
		return false;
	end_got = mb_ms_get_reply_decode(buf, (size_t)n, &end_rep, &why) == 0;
	return true;
}

static void
check_end(void)
{
	struct mb_ms_get_request req = { .methods = 7, .status = 1 };
	uint8_t buf[MB_MS_MSG_MAX];
	json_t *j;

	for (unsigned i = 0; i < NNODE; i++)
		close_fd(&node_fd[i], false);
	for (unsigned i = 0; i < NPAR; i++)
		close_fd(&par_fd[i], false);
	/* Past every fetch timeout and backoff: everything ends. */
	for (int round = 0; round < 8 && (!parent_listen() || !settled()); round++) {
		if (round == 2 && !parent_listen()) {
			/* Another program holds the port: a new one, and the
			 * origin told (restarted, as by a reload). */
			S.parent_port = 0;
			if (!parent_listen())
				fail("no port for the parent");
			set_url();
			origin_restart();
		}
		for (int k = 0; k < 4; k++) {
			int fd;

			pump_quiet();
			while (S.lfd >= 0 && (fd = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
				(void)close(fd);
		}
		mono_offset_ns += 601 * MB_NS_PER_SEC;
		pump(2);
	}
	if (!parent_listen())
		fail("the parent cannot listen on %u again", (unsigned)S.parent_port);
	if (!settled()) {
		list_fds();
		j = action("parent");
		fprintf(stderr, "%s\n", json_dumps(j, JSON_COMPACT));
		fail("after every client left: %d descriptors (%d at start), %u timers (%u)",
		     count_fds(), fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
	j = action("images");
	if (json_array_size(json_object_get(j, "images")) != 0 ||
	    (json_is_array(j) && json_array_size(j) != 0))
		fail("an image was published the parent never sent: %s",
		     json_dumps(j, JSON_COMPACT));
	json_decref(j);
	/* A node's GETSTATUS reaches the parent and its answer the node. */
	mono_offset_ns += 601 * MB_NS_PER_SEC;
	req.idlen = (uint16_t)strlen(names[0]);
	memcpy(req.imageid, names[0], req.idlen);
	S.asked[0] = true;
	end_fd = dial_master(1);
	end_got = false;
	if (end_fd < 0 || mb_ms_get_request_encode(&req, buf, sizeof(buf)) < 0 ||
	    send(end_fd, buf, MB_MS_GETREQ_LEN, MSG_NOSIGNAL) != MB_MS_GETREQ_LEN)
		fail("asking the master server");
	if (!serve_until(end_reply) || !end_got || end_rep.error != MB_MS_ERROR_NOIMAGE)
		fail("a node's GETSTATUS did not get the parent's NOIMAGE (%s, error %u)",
		     end_got ? "a reply" : "no reply", (unsigned)end_rep.error);
	close_fd(&end_fd, false);
	/* Whatever the sessions (a GET the store served: none, it is empty). */
	if (mbt_sess.nlive != 0)
		fail("%u Frisbee sessions started for images the store does not have",
		     mbt_sess.nlive);
	if (!serve_until(settled)) {
		list_fds();
		fail("after the checks: %d descriptors (%d at start), %u timers (%u)", count_fds(),
		     fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
	origin_restart();
	if (!settled())
		fail("after the origin restarted: %d descriptors (%d at start), %u timers (%u)",
		     count_fds(), fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
}

/* ---- the script ------------------------------------------------------------------------- */

static const uint64_t time_steps_ms[8] = { 1, 100, 1001, 4999, 5001, 60001, 300001, 601000 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	unsigned steps = 0;

	if (!S.up)
		start_once();
	for (unsigned i = 0; i < NNODE; i++)
		node_fd[i] = -1;
	for (unsigned i = 0; i < NPAR; i++)
		par_fd[i] = -1;
	memset(S.asked, 0, sizeof(S.asked));
	while (r.n > 0 && steps++ < MAX_STEPS) {
		uint8_t op = rd8(&r), a = rd8(&r);

		switch (op % 9) {
		case 0: /* a node asks */
			node_ask(a & (NNODE - 1), rd8(&r));
			break;
		case 1: /* a node reads its reply (or closes) */
			if (a & 0x80)
				close_fd(&node_fd[a & (NNODE - 1)], a & 0x40);
			else
				node_read(a & (NNODE - 1));
			break;
		case 2: /* the parent accepts */
			parent_accept(a & (NPAR - 1));
			break;
		case 3: /* the parent answers */
			parent_reply(a & (NPAR - 1), a >> 3, &r);
			break;
		case 4: /* the parent stops or starts listening */
			if (a & 1)
				(void)parent_listen();
			else
				parent_unlisten();
			break;
		case 5: /* let the loop run */
			pump(1 + (a >> 3) % 8);
			break;
		case 6: /* move the clock on */
			mono_offset_ns += time_steps_ms[a % 8] * MB_NS_PER_MS;
			pump(1);
			break;
		case 7: /* the parent accepts and answers at once */
			parent_accept(a & (NPAR - 1));
			pump(2);
			parent_reply(a & (NPAR - 1), 0, &r);
			break;
		default: /* the parent lets go of a connection */
			close_fd(&par_fd[a & (NPAR - 1)], a & 0x80);
			break;
		}
		pump(1);
		check_step();
	}
	check_end();
	return 0;
}
