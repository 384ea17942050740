/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateful fuzzing of the control loop through its sockets.  The real event
 * loop (control/ctl_loop.c), its timers and descriptors run in this process
 * on this thread with the control library's subsystem table: the control
 * socket (a Unix socket under /tmp), the master server and FTP control
 * (TCP on 127.0.0.1, ports the kernel picks), and the dataplane's event
 * queue; only the dataplane itself is the fake of tests/fakes.  They are
 * started once, on the first input.
 *
 * Each input is a script of up to 512 steps over eight client slots:
 * connect a slot to one of the three servers (from 127.0.0.1..4, so the
 * per-source limits are reached), write raw bytes, a long run of one byte,
 * or a well-formed request (control command, master-server GET/GETSTATUS,
 * FTP command), half-close, reset (SO_LINGER 0), close, read what is
 * waiting (or leave it unread, so replies back up), pump the loop, move the
 * clock on (1 ms .. 301 s, past every deadline and idle timeout; 301 s can
 * come with 250 ms of real time first, the harness descheduled), and post
 * dataplane events (the end of an FTP transfer the server expected, of a
 * Frisbee session the master server started, a link change).  The loop runs
 * one pass after every step.
 *
 * The clock: CLOCK_MONOTONIC as this program sees it is the real one plus
 * an offset that the "time" step adds to (clock_gettime of fuzz_ctl_common.h overrides the
 * C library's for the code linked into this program: the loop's timer heap
 * and the servers' deadlines), so a 300 s idle timeout fires without
 * waiting.  Timers and epoll are otherwise untouched.
 *
 * Checked after every step: live timers and open descriptors within what
 * eight clients can hold.  After a move of 301 s: every client is closed by
 * its server, judged on the loop's clock (check_idle_closed: one whose
 * bytes were still reaching its server gets another move).  After every
 * input (all slots closed, then the
 * clock moved past every deadline and the loop pumped): open descriptors
 * (/proc/self/fd) and live timers back to where they were after start, no
 * FTP client left, every started session ended leaves none in the master
 * server's table, and each server still answers a well-formed request
 * (control "health", a master-server GETSTATUS, the FTP greeting).  A broken
 * invariant aborts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "dp.h"
#define FUZZ_NAME "fuzz_ctl_loop"
#include "fuzz_ctl_common.h"
#include "fuzz_rd.h"
#include "mb_config.h"
#include "mb_log.h"
#include "mb_sbuf.h"
#include "mb_time.h"
#include "ms_wire.h"

#define NSLOT 8
#define MAX_STEPS 512
/* settle(): the clock moves on by this when passes alone do not get there */
#define SETTLE_STEP_NS (301 * MB_NS_PER_SEC)
#define MAX_COOKIES 16
#define PER_CONN_TIMERS 2 /* a client's idle or deadline timer, with margin */
/* check_idle_closed(): the most moves of 301 s a client whose bytes are
 * still reaching its server is given, and the real-time pause of the
 * "harness descheduled" step (past the kernel's longest delayed ACK, 200 ms) */
#define IDLE_ROUNDS 8
#define PAUSE_US 250000
#define TCPI_ESTABLISHED 1 /* tcp_info's tcpi_state, the kernel's TCP_ESTABLISHED */
#define IMG_NAME "test/img"
#define IMG_SIZE 4096

/* ---- the control plane, started once ------------------------------------------ */

enum target { T_SOCK, T_MASTER, T_FTP, T__COUNT };

static struct {
	bool up;
	struct mb_config cfg;
	char sock_path[108];
	uint16_t port[T__COUNT];
	uint64_t cookies[MAX_COOKIES]; /* transfers FTP asked the dataplane for */
	unsigned ncookies;
} S;

/* The fake dataplane takes every FTP transfer and keeps its cookie, so a
 * step can end it as the dataplane would. */
static int
record_expect(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off, uint64_t len,
	      uint64_t cookie)
{
	(void)port;
	(void)peer;
	(void)off;
	(void)len;
	mb_sbuf_unref(sb);
	S.cookies[S.ncookies++ % MAX_COOKIES] = cookie;
	return 0;
}

static void
remove_socket(void)
{
	(void)unlink(S.sock_path);
}

static void
start_once(void)
{
	static const struct mb_ctl_subsys *const tab[] = {
		&mb_ctl_subsys_sock, &mb_ctl_subsys_dataplane, &mb_ctl_subsys_master,
		&mb_ctl_subsys_ftp,
	};
	char err[MB_CFG_ERRLEN];

	signal(SIGPIPE, SIG_IGN);
	mb_log_set_sink(quiet_sink);
	/* The image the servers answer for; this thread is an RCU reader from
	 * here on, online except while the loop waits. */
	if (mbt_heap_images_publish((const char *const[]){ IMG_NAME }, 1, IMG_SIZE) != 0)
		fail("publishing the image");
	rcu_thread_online();
	snprintf(S.sock_path, sizeof(S.sock_path), "/tmp/mbt-fuzzctl-%d.sock", (int)getpid());
	(void)unlink(S.sock_path);
	atexit(remove_socket);
	if (mb_config_defaults(&S.cfg) != 0 ||
	    mb_config_load_string(&S.cfg,
				  "[dpdk]\naddress = 127.0.0.1/8\n"
				  "[server]\nmax-control-clients = 4\ncontrol-timeout = 30\n"
				  "[frisbee]\nmaster-max-per-source = 3\nmax-sessions = 16\n"
				  "[tcp]\nftp-max-per-source = 3\n",
				  err, sizeof(err)) != 0)
		fail("configuration: %s", err);
	free(S.cfg.control_socket);
	S.cfg.control_socket = strdup(S.sock_path);
	free(S.cfg.master_listen);
	S.cfg.master_listen = strdup("127.0.0.1");
	free(S.cfg.state_dir);
	S.cfg.state_dir = strdup(""); /* the master server keeps no cursors */
	S.cfg.master_port = MB_CTL_PORT_ANY;
	S.cfg.ftp_port = MB_CTL_PORT_ANY;
	S.cfg.ftp_pasv_min = 42000 + (uint64_t)(getpid() % 1000) * 10;
	S.cfg.ftp_pasv_max = S.cfg.ftp_pasv_min + 9;
	if (mb_ctl_loop_init() != 0)
		fail("loop init");
	mb_ctl_loop_set_rcu(true);
	mbt_dp.local_addr = htonl(INADDR_LOOPBACK);
	mbt_dp.expect = record_expect;
	mb_ctl_dp_set(&mbt_dp_ops);
	mbt_sess_reset(1);
	if (mb_ctl_core_start(&S.cfg, NULL, tab, sizeof(tab) / sizeof(tab[0])) != 0)
		fail("control plane start");
	S.port[T_MASTER] = mb_ctl_master_port();
	S.port[T_FTP] = mb_ctl_ftp_port();
	if (S.port[T_MASTER] == 0 || S.port[T_FTP] == 0)
		fail("master server or FTP not listening");
	pump(4);
	fz_baseline();
	S.up = true;
}

/* ---- clients -------------------------------------------------------------------- */

static int slot_fd[NSLOT];
static enum target slot_tgt[NSLOT];
static int nopen;

static int
dial(enum target t, unsigned src)
{
	return t == T_SOCK ? fz_dial_unix(S.sock_path) : fz_dial_tcp(S.port[t], (int)(src & 3));
}

static void
slot_close(unsigned i, bool reset)
{
	if (slot_fd[i] < 0)
		return;
	if (reset) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(slot_fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	(void)close(slot_fd[i]);
	slot_fd[i] = -1;
	nopen--;
}

static void
slot_send(unsigned i, const void *p, size_t n)
{
	if (slot_fd[i] >= 0 && n > 0)
		(void)send(slot_fd[i], p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Read what is waiting, up to 1 MiB. */
static void
slot_drain(unsigned i)
{
	static char buf[65536];

	for (int k = 0; k < 16 && slot_fd[i] >= 0; k++)
		if (recv(slot_fd[i], buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

static size_t
master_request(uint8_t sel, uint8_t *buf)
{
	struct mb_ms_get_request r = { .methods = (uint8_t)(1 + (sel >> 2) % 7),
				       .status = sel & 1 };
	const char *name = (sel & 2) ? IMG_NAME : "test/none";

	if (sel & 0x80)
		r.hostip = htonl(0x0a000001u + (sel & 0x0f));
	r.idlen = (uint16_t)strlen(name);
	memcpy(r.imageid, name, r.idlen);
	return mb_ms_get_request_encode(&r, buf, MB_MS_MSG_MAX) < 0 ? 0 : MB_MS_GETREQ_LEN;
}

static const char *const sock_cmds[] = {
	"{\"cmd\":\"health\"}\n",
	"{\"cmd\":\"help\"}\n",
	"{\"cmd\":\"config\"}\n",
	"{\"cmd\":\"stats\"}\n",
	"{\"cmd\":\"sessions\"}\n",
	"{\"cmd\":\"health\"}\n{\"cmd\":\"help\"}\n{\"cmd\":\"nope\"}\n",
	"{\"cmd\":\"health\",\"args\":{}}\n",
	"\n",
};

static const char *const ftp_cmds[] = {
	"USER anonymous\r\n", "PASS x@y\r\n", "TYPE I\r\n", "PASV\r\n",
	"EPSV\r\n", "RETR test/img\r\n", "SIZE test/img\r\n", "LIST\r\n",
	"NLST test\r\n", "CWD test\r\n", "REST 100\r\n", "ABOR\r\n",
	"QUIT\r\n", "FEAT\r\n", "MDTM test/img\r\n", "NOOP\r\n",
	"PWD\r\n", "CDUP\r\n", "RETR /test/img\r\n", "STAT\r\n",
};

static void
slot_canned(unsigned i, enum target t, uint8_t sel)
{
	uint8_t req[MB_MS_MSG_MAX];
	const char *s;

	switch (t) {
	case T_SOCK:
		s = sock_cmds[sel % (sizeof(sock_cmds) / sizeof(sock_cmds[0]))];
		slot_send(i, s, strlen(s));
		break;
	case T_MASTER:
		slot_send(i, req, master_request(sel, req));
		break;
	default:
		s = ftp_cmds[sel % (sizeof(ftp_cmds) / sizeof(ftp_cmds[0]))];
		slot_send(i, s, strlen(s));
		break;
	}
}

/* ---- invariants ---------------------------------------------------------------------- */

/* Where a client's connection stood just before the loop was last run
 * quiet: its TCP state and the bytes its server's kernel had acknowledged
 * and sent it (tcp_info).  A Unix socket has nothing in flight. */
struct conn_mark {
	bool tcp;
	uint8_t state;
	uint64_t acked, received;
};

static void
conn_mark(unsigned i, struct conn_mark *m)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(m, 0, sizeof(*m));
	memset(&ti, 0, sizeof(ti));
	if (slot_tgt[i] == T_SOCK ||
	    getsockopt(slot_fd[i], IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return;
	m->tcp = true;
	m->state = ti.tcpi_state;
	m->acked = ti.tcpi_bytes_acked;
	m->received = ti.tcpi_bytes_received;
}

/* True when the connection moved since `m`: it was not established then,
 * or its server's kernel has acknowledged or sent bytes since. */
static bool
conn_moved(unsigned i, const struct conn_mark *m)
{
	struct conn_mark now;

	conn_mark(i, &now);
	return m->tcp && (m->state != TCPI_ESTABLISHED || now.acked != m->acked ||
			  now.received != m->received);
}

/* Read what is queued for slot i until EOF or a reset, with the loop
 * pumped `passes` times (the first 64 without waiting, then up to 1 ms
 * each: 4096 are ~4 s of real time): true when its server closed it. */
static bool
slot_closed_by_server(unsigned i, int passes)
{
	static char buf[65536];

	for (int k = 0; k < passes; k++) {
		ssize_t n = recv(slot_fd[i], buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
		if (n < 0)
			(void)mb_ctl_loop_run_once(k < 64 ? 0 : 1);
	}
	return false;
}

/* The "301 s" step: the loop run until nothing is ready (the servers have
 * read every byte that reached them), the clock moved past every server's
 * idle timeout and deadline (control-timeout 30 s, the master server's 5
 * and 15 s, FTP's 300 s), and every client still open must then be closed
 * by its server.
 *
 * Bytes a client wrote can reach its server later than the loop's quiet
 * pass, on the kernel's own timers (held by Nagle until a delayed ACK, a
 * window update, a SYN retransmitted): a server that reads them after the
 * move rightly restarts its idle timeout, and a harness descheduled between
 * the quiet pass and the move (under nice 19 on a loaded machine) sees
 * exactly that.  So the judgement is on the loop's clock, not on real time:
 * a client that is still open fails the check when nothing of its
 * connection moved since before the quiet pass (its server has had all of
 * its bytes for 301 s of the loop's clock); one whose connection moved
 * gets another round (quiet pass, 301 s more), up to IDLE_ROUNDS.  `pause`
 * sleeps PAUSE_US of real time between the quiet pass and the first move,
 * as a descheduled harness would. */
static void
check_idle_closed(bool pause)
{
	struct conn_mark mark[NSLOT];
	bool done[NSLOT];

	for (unsigned i = 0; i < NSLOT; i++)
		done[i] = slot_fd[i] < 0;
	for (unsigned round = 0;; round++) {
		unsigned late = 0;

		for (unsigned i = 0; i < NSLOT; i++)
			if (!done[i])
				conn_mark(i, &mark[i]);
		pump_quiet();
		if (pause && round == 0)
			(void)usleep(PAUSE_US);
		mono_offset_ns += SETTLE_STEP_NS;
		pump(1);
		for (unsigned i = 0; i < NSLOT; i++) {
			const char *what;

			if (done[i])
				continue;
			if (slot_closed_by_server(i, 64)) {
				done[i] = true;
				continue;
			}
			if (conn_moved(i, &mark[i]) && round + 1 < IDLE_ROUNDS) {
				late++; /* the next round sees it closed */
				continue;
			}
			if (slot_closed_by_server(i, 4096)) {
				done[i] = true;
				continue;
			}
			what = slot_tgt[i] == T_SOCK ? "control" :
			       slot_tgt[i] == T_MASTER ? "master" : "FTP";
			if (round + 1 == IDLE_ROUNDS)
				fail("slot %u (%s) still open after %u moves of 301 s, its bytes "
				     "still reaching its server", i, what, IDLE_ROUNDS);
			fail("slot %u (%s) still open 301 s after its server had its last byte", i,
			     what);
		}
		if (late == 0)
			return;
	}
}

static void
check_step(void)
{
	unsigned timers = mb_ctl_timer_count();

	if (timers > fz_base_timers + NSLOT * PER_CONN_TIMERS)
		fail("%u live timers with %d clients (%u at start)", timers, nopen,
		     fz_base_timers);
}

static size_t
master_sessions(void)
{
	json_t *j = action("sessions");
	size_t n = json_array_size(json_object_get(json_object_get(j, "master"), "sessions"));

	json_decref(j);
	return n;
}

/* A non-blocking exchange with the loop pumped: send `req`, read until
 * `want` appears.  At most 5 s of real time. */
static bool
exchange(enum target t, const void *req, size_t len, const char *want)
{
	char buf[4096];
	size_t got = 0;
	int fd = dial(t, 1);
	uint64_t end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	bool ok = false, sent = len == 0;

	if (fd < 0)
		return false;
	while (mb_time_mono_ns() < end) {
		ssize_t n;

		(void)mb_ctl_loop_run_once(1);
		if (!sent) {
			sent = send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len;
			continue;
		}
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, want) != NULL) {
				ok = true;
				break;
			}
			if (got == sizeof(buf) - 1)
				break;
		}
	}
	(void)close(fd);
	return ok;
}

static void
check_answers(void)
{
	static const char health[] = "{\"cmd\":\"health\"}\n";
	struct mb_ms_get_request req = { .methods = 7, .status = 1 };
	struct mb_ms_get_reply rep;
	int rc;

	if (!exchange(T_SOCK, health, sizeof(health) - 1, "\"ok\":true"))
		fail("the control socket does not answer health");
	req.idlen = (uint16_t)strlen(IMG_NAME);
	memcpy(req.imageid, IMG_NAME, req.idlen);
	rc = mbt_ms_request(S.port[T_MASTER], "127.0.0.1", &req, &rep);
	if (rc != 0 || rep.error != 0 || rep.size != IMG_SIZE)
		fail("the master server does not answer GETSTATUS (%d, error %u)", rc,
		     (unsigned)rep.error);
	if (!exchange(T_FTP, NULL, 0, "220 "))
		fail("FTP does not greet");
}

static void
end_sessions(void)
{
	/* The dataplane ends every session the master server started.  One
	 * that a GET got just before is started again once (the master
	 * server's revival, ctl_master.h): its new id is ended in the next
	 * pass, and that one stays ended. */
	for (int pass = 0; pass < 3 && mbt_sess.nlive > 0; pass++) {
		uint32_t ids[sizeof(mbt_sess.live) / sizeof(mbt_sess.live[0])];
		unsigned n = mbt_sess.nlive;

		memcpy(ids, mbt_sess.live, n * sizeof(ids[0]));
		mbt_sess.nlive = 0;
		for (unsigned i = 0; i < n; i++) {
			struct mb_dp_event ev = { .type = MB_DP_EV_SESSION_END };

			ev.u.session.id = ids[i];
			while (mbt_dp_post(&ev) != 0)
				pump(1);
		}
		pump(2);
	}
	mbt_sess.nlive = 0;
}

static void
check_end(void)
{
	struct mb_dp_event up = { .type = MB_DP_EV_LINK, .u.link.up = true };
	json_t *ftp;

	for (unsigned i = 0; i < NSLOT; i++)
		slot_close(i, false);
	mbt_dp.link_up = true;
	while (mbt_dp_post(&up) != 0)
		pump(1);
	end_sessions();
	if (!settle(fz_at_baseline, SETTLE_STEP_NS)) {
		list_fds();
		fail("after every client left: %d descriptors (%d at start), %u timers (%u)",
		     count_fds(), fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
	ftp = mb_ctl_ftp_json();
	if (json_integer_value(json_object_get(ftp, "clients")) != 0)
		fail("FTP clients left: %lld",
		     (long long)json_integer_value(json_object_get(ftp, "clients")));
	json_decref(ftp);
	check_answers();
	end_sessions();
	if (master_sessions() != 0)
		fail("%zu master-server sessions left after every one ended",
		     master_sessions());
	if (!settle(fz_at_baseline, SETTLE_STEP_NS)) {
		list_fds();
		fail("after the checks: %d descriptors (%d at start), %u timers (%u)", count_fds(),
		     fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
	S.ncookies = 0;
}

/* ---- the script ------------------------------------------------------------------------- */

static const uint64_t time_steps_ms[8] = { 1, 10, 100, 1000, 4999, 5001, 15001, 301000 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	unsigned steps = 0;

	if (!S.up)
		start_once();
	for (unsigned i = 0; i < NSLOT; i++) {
		slot_fd[i] = -1;
		slot_tgt[i] = T_SOCK;
	}
	nopen = 0;
	while (r.n > 0 && steps++ < MAX_STEPS) {
		uint8_t op = rd8(&r), a = rd8(&r);
		unsigned s = a & (NSLOT - 1);

		switch (op % 12) {
		case 0: /* connect slot s to a server from 127.0.0.(1 + src) */
			slot_close(s, false);
			slot_tgt[s] = (enum target)((a >> 3) % T__COUNT);
			slot_fd[s] = dial(slot_tgt[s], a >> 5);
			if (slot_fd[s] >= 0)
				nopen++;
			break;
		case 1: { /* raw bytes */
			size_t n;
			const uint8_t *p = rd_bytes(&r, rd8(&r), &n);

			slot_send(s, p, n);
			break;
		}
		case 2: { /* a long run of one byte (a line with no end) */
			static uint8_t run[1 << 17];
			uint8_t c = rd8(&r);
			size_t n = 1 + ((size_t)rd16(&r) << 1);

			memset(run, c, n);
			slot_send(s, run, n);
			break;
		}
		case 3: /* a well-formed request of the slot's server */
			slot_canned(s, slot_tgt[s], rd8(&r));
			break;
		case 4: /* half-close */
			if (slot_fd[s] >= 0)
				(void)shutdown(slot_fd[s], SHUT_WR);
			break;
		case 5: /* reset */
			slot_close(s, true);
			break;
		case 6: /* close */
			slot_close(s, false);
			break;
		case 7: /* read what is waiting */
			slot_drain(s);
			break;
		case 8: /* let the loop run */
			pump(1 + (a >> 3) % 8);
			break;
		case 9: /* move the clock on (past every idle timeout: then check
			 * that every client is closed; written 09 5f, with the
			 * harness descheduled just before, a value field-extreme
			 * mutations seldom write) */
			if (time_steps_ms[a % 8] > 300000) {
				check_idle_closed(op == 9 && a == 0x5f);
				break;
			}
			mono_offset_ns += time_steps_ms[a % 8] * MB_NS_PER_MS;
			pump(1);
			break;
		case 10: /* an FTP transfer ends (a cookie it was given, or not) */
		{
			struct mb_dp_event ev = { .type = MB_DP_EV_FTP_XFER_END };

			ev.u.xfer.cookie = S.ncookies > 0 && (a & 0x80) == 0
						   ? S.cookies[(a >> 1) % S.ncookies % MAX_COOKIES]
						   : (uint64_t)rd8(&r);
			ev.u.xfer.ok = a & 1;
			(void)mbt_dp_post(&ev);
			break;
		}
		default: { /* a session ends or the link changes */
			struct mb_dp_event ev = { .type = MB_DP_EV_LINK };

			if ((a & 1) && mbt_sess.nlive > 0) {
				unsigned k = (a >> 1) % mbt_sess.nlive;

				ev.type = MB_DP_EV_SESSION_END;
				ev.u.session.id = mbt_sess.live[k];
				mbt_sess.live[k] = mbt_sess.live[--mbt_sess.nlive];
			} else {
				ev.u.link.up = (a >> 1) & 1;
				mbt_dp.link_up = ev.u.link.up;
			}
			(void)mbt_dp_post(&ev);
			break;
		}
		}
		pump(1);
		check_step();
	}
	check_end();
	return 0;
}
