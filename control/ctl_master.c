/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The master server's sockets: a non-blocking kernel TCP listener on
 * frisbee.master-listen:master-port in the control thread's epoll loop.
 * Each connection carries one request and one reply, exactly as the stock
 * Frisbee client and a stock child mfrisbeed use it: the request may arrive
 * in pieces, so it is buffered (never more than MB_MS_MSG_MAX bytes) until
 * its header says it is whole; a connection that closes before sending
 * anything is a health probe and is fine; each connection has a deadline and
 * the number of connections is bounded, in all (MASTER_MAX_CONNS) and per
 * source address (frisbee.master-max-per-source: the next one is closed at
 * once and counted).  A request of an unknown type is closed without a
 * reply, as the stock server does.  The reply comes from
 * mb_master_handle() (ctl_master_core.c), which holds all the protocol
 * logic; this file only moves bytes, keeps the requests that the parent
 * origin (ctl_origin.c) asked to wait for until it calls
 * mb_ctl_master_origin_ready(), registers the "sessions" action and
 * the "master" health contributor, and frees session resources when the
 * dataplane reports MB_DP_EV_SESSION_END (mb_ctl_master_session_end).
 *
 * New sessions take groups and ports next-fit from where the previous one
 * left off, and that place survives a restart: after every request that
 * moved it, it is written to <state-dir>/master-cursors.json (temporary
 * file, fsync, rename, fsync of the directory) and read back at start.  A
 * stock client started without -T (Emulab's default) keeps listening to its
 * group and port after the daemon restarts; starting over at the base would
 * give a new session that same pair, and the client would take the new
 * image's blocks for its own.
 *
 * Control thread only.  The control thread is a liburcu-qsbr reader
 * registered by ctl.c; the image lookup below runs between its quiescent
 * states, so the image pointer stays valid while the request is handled.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_master.h"
#include "dp.h"
#include "mb_image.h"
#include "mb_cleanup.h"
#include "mb_file.h"
#include "mb_log.h"
#include "ms_wire.h"

#define MASTER_MAX_CONNS 256	    /* concurrent request connections */
#define MASTER_REQ_DEADLINE_MS 5000 /* whole request within this */
#define MASTER_MAX_PENDING 4	    /* "known but not published" providers */
#define MASTER_WAIT_DEADLINE_MS 15000 /* a request waiting for the parent origin */
#define MASTER_REVIVE_MS 1000       /* a session ending this soon after a GET got it starts again
				     * (below linger = leave's 2 s: a load, its LEAVE, the end) */

struct master_conn {
	int fd;
	uint32_t peer; /* host order */
	uint32_t local; /* host order, from getsockname */
	size_t len;
	bool waiting; /* the origin answers later (MB_MASTER_WAIT) */
	struct mb_ctl_timer *timer;
	uint8_t buf[MB_MS_MSG_MAX];
};

static struct {
	int lfd;
	uint16_t port; /* the one listened on */
	unsigned int nconns;
	unsigned int max_per_source; /* frisbee.master-max-per-source */
	struct mb_master *m;
	struct master_conn *conns[MASTER_MAX_CONNS];
	struct {
		mb_ctl_pending_fn fn;
		void *arg;
	} pending[MASTER_MAX_PENDING]; /* store (loading), sync (downloading) */
	unsigned int npending;
	char *state_dir;	 /* for master-cursors.json; NULL = not kept */
	uint32_t saved_group;	 /* cursors as last written */
	uint16_t saved_port;
	char cursor_err[PATH_MAX + 200]; /* why the last write failed, "" if it did not */
	mb_master_origin_fn origin;
	void *origin_arg;
} ms = { .lfd = -1 };

#define CURSOR_FILE "master-cursors.json"
#define CURSOR_FILE_MAX 4096

/* Read the cursors cursors_save() wrote; none yet is a first start. */
static void
cursors_load(void)
{
	char path[PATH_MAX], *buf = NULL;
	const char *g;
	json_error_t je;
	struct in_addr ia;
	json_int_t port;
	size_t len;
	json_t *j;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/" CURSOR_FILE, ms.state_dir) >= sizeof(path))
		return;
	rc = mb_file_read_all(path, CURSOR_FILE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return;
	if (rc != 0) {
		MB_LOG(WARNING, CTL, "master: cannot read '%s': %s, groups and ports start at "
		       "the base", path, strerror(-rc));
		return;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	g = json_string_value(json_object_get(j, "group"));
	port = json_integer_value(json_object_get(j, "port"));
	if (j == NULL || g == NULL || inet_pton(AF_INET, g, &ia) != 1 || port < 0 ||
	    port > 65535) {
		MB_LOG(WARNING, CTL, "master: '%s' is not what this daemon writes, groups and ports "
		       "start at the base", path);
		json_decref(j);
		return;
	}
	mb_master_set_cursors(ms.m, ntohl(ia.s_addr), (uint16_t)port);
	mb_master_cursors(ms.m, &ms.saved_group, &ms.saved_port);
	MB_LOG(INFO, CTL, "master: new sessions continue at group %u.%u.%u.%u, port %u",
	       ms.saved_group >> 24, (ms.saved_group >> 16) & 0xff, (ms.saved_group >> 8) & 0xff,
	       ms.saved_group & 0xff, (unsigned int)ms.saved_port);
	json_decref(j);
}

/* Write the cursors if they moved: temporary file, fsync, rename, fsync of
 * the directory.  Blocks on the file system (once per new session).  On
 * failure the old file stays, saved_* still say what it holds, health
 * shows why (cursors_unsaved) and the next request tries again. */
static void
cursors_save(void)
{
	static struct mb_ratelimit rl = MB_RATELIMIT_INIT(60000, 3);
	char path[PATH_MAX], tmp[PATH_MAX], text[96];
	uint32_t g;
	uint16_t p;
	int fd, dfd, n, err;
	ssize_t w;

	if (ms.state_dir == NULL)
		return;
	mb_master_cursors(ms.m, &g, &p);
	if (g == ms.saved_group && p == ms.saved_port)
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/" CURSOR_FILE, ms.state_dir) >=
		    sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/" CURSOR_FILE ".tmp", ms.state_dir) >=
		    sizeof(tmp))
		return;
	n = snprintf(text, sizeof(text), "{\"group\": \"%u.%u.%u.%u\", \"port\": %u}\n", g >> 24,
		     (g >> 16) & 0xff, (g >> 8) & 0xff, g & 0xff, (unsigned int)p);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		err = errno;
		goto err;
	}
	w = write(fd, text, (size_t)n);
	err = w == -1 ? errno : w != n ? ENOSPC : 0; /* a short write: out of room */
	if (err == 0 && fsync(fd) == -1)
		err = errno;
	if (close(fd) == -1 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) == -1)
		err = errno;
	if (err != 0) {
		(void)unlink(tmp);
		goto err;
	}
	/* renamed: the file holds the new cursors whatever the fsync says */
	dfd = open(ms.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd != -1) {
		(void)fsync(dfd);
		(void)close(dfd);
	}
	ms.saved_group = g;
	ms.saved_port = p;
	ms.cursor_err[0] = '\0';
	return;
err:
	snprintf(ms.cursor_err, sizeof(ms.cursor_err), "cannot write '%s': %s%s; after a restart "
		 "new sessions may reuse a group and port", path, strerror(err),
		 err == ENOSPC || err == EDQUOT ? " (free space there or move server.state-dir "
						  "to a larger filesystem)" : "");
	MB_LOG_RL(&rl, WARNING, CTL, "master: %s", ms.cursor_err);
}


static int
ops_origin(const char *name, const struct mb_ms_get_request *req, uint32_t client,
	   struct mb_ms_get_reply *rep, struct mb_image **ret_img, void *arg)
{
	(void)arg;
	if (ms.origin == NULL)
		return MB_MASTER_LOCAL;
	return ms.origin(name, req, client, rep, ret_img, ms.origin_arg);
}

static struct mb_image *
ops_lookup(const char *name, size_t len, void *arg)
{
	(void)arg;
	return mb_image_lookup(name, len);
}

static bool
ops_pending(const char *name, uint64_t *ret_size, int64_t *ret_mtime, void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < ms.npending; i++) {
		*ret_size = 0;
		*ret_mtime = 0;
		if (ms.pending[i].fn(name, ret_size, ret_mtime, ms.pending[i].arg))
			return true;
	}
	return false;
}

static int
ops_session_start(const struct mb_fris_session_params *p, uint32_t *ret_id, void *arg)
{
	(void)arg;
	return mb_ctl_dp()->fris_session_start(p, ret_id);
}

static void
conn_close(struct master_conn *c)
{
	unsigned int i;

	(void)mb_ctl_loop_del(c->fd);
	(void)close(c->fd);
	mb_ctl_timer_free(c->timer);
	for (i = 0; i < MASTER_MAX_CONNS; i++) {
		if (ms.conns[i] == c) {
			ms.conns[i] = NULL;
			break;
		}
	}
	ms.nconns--;
	free(c);
}

static void
conn_timeout(void *arg)
{
	struct master_conn *c = arg;

	ms.m->cnt.timeouts++;
	conn_close(c);
}

static void
conn_reply(struct master_conn *c)
{
	uint8_t out[MB_MS_MSG_MAX];
	uint32_t servaddr;
	size_t olen = 0;
	ssize_t n;
	int err;

	servaddr = ntohl(mb_ctl_dp()->local_addr());
	if (servaddr == 0)
		servaddr = c->local;
	ms.m->refuse_new = mb_ctl_draining();
	rcu_read_lock();
	err = mb_master_handle(ms.m, c->buf, c->len, c->peer, servaddr, out, sizeof(out), &olen);
	rcu_read_unlock();
	cursors_save();
	if (err == MB_MASTER_WAIT) {
		/* The parent origin answers within its own deadline; until
		 * then only a hang-up from the peer matters. */
		c->waiting = true;
		(void)mb_ctl_timer_rearm(c->timer, MASTER_WAIT_DEADLINE_MS, 0);
		(void)mb_ctl_loop_mod(c->fd, EPOLLRDHUP);
		return;
	}
	if (olen == 0) {
		/* An unknown message type: as mfrisbeed, no reply (counted). */
		conn_close(c);
		return;
	}
	if (err != MB_MS_ERROR_NONE && err != MB_MS_ERROR_TRYAGAIN) {
		/* Any node can ask for nothing at will: the log is rate-limited,
		 * the counters (errors by code) count every one. */
		static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 10);

		MB_LOG_RL(&rl, INFO, CTL, "master: request from %u.%u.%u.%u answered %s",
			  c->peer >> 24, (c->peer >> 16) & 0xff, (c->peer >> 8) & 0xff,
			  c->peer & 0xff, mb_ms_error_name((unsigned int)err));
	}
	/* A fresh socket's send buffer always takes 291 bytes at once. */
	n = send(c->fd, out, olen, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == -1 || (size_t)n != olen)
		ms.m->cnt.reply_failed++;
	conn_close(c);
}

static void
conn_io(int fd, uint32_t events, void *arg)
{
	struct master_conn *c = arg;
	size_t want = MB_MS_HDR_LEN;
	ssize_t n;
	int need;

	(void)fd;
	if (c->waiting) {
		if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
			ms.m->cnt.short_requests++;
			conn_close(c);
		}
		return;
	}
	for (;;) {
		if (c->len >= MB_MS_HDR_LEN) {
			need = mb_master_request_len(c->buf, c->len);
			if (need < 0) {
				/* Unknown type: closed without a reply (conn_reply). */
				conn_reply(c);
				return;
			}
			want = (size_t)need;
		}
		if (c->len >= want) {
			conn_reply(c);
			return;
		}
		n = read(c->fd, c->buf + c->len, want - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (events & (EPOLLHUP | EPOLLERR))
				break;
			return;
		}
		break; /* EOF or error */
	}
	if (c->len == 0)
		ms.m->cnt.probes++;
	else
		ms.m->cnt.short_requests++;
	conn_close(c);
}

/* Open request connections from `peer` (host order). */
static unsigned int
conns_from(uint32_t peer)
{
	unsigned int i, n = 0;

	for (i = 0; i < MASTER_MAX_CONNS; i++)
		n += ms.conns[i] != NULL && ms.conns[i]->peer == peer;
	return n;
}

static void
listen_io(int fd, uint32_t events, void *arg)
{
	struct sockaddr_in peer, local;
	socklen_t plen, llen;
	struct master_conn *c;
	unsigned int i;
	int cfd;

	(void)events;
	(void)arg;
	for (;;) {
		plen = sizeof(peer);
		cfd = mb_ctl_accept(fd, (struct sockaddr *)&peer, &plen);
		if (cfd == -1) {
			static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 3);

			if (errno != EAGAIN)
				MB_LOG_RL(&rl, WARNING, CTL, "master: accept: %s, ignoring",
					  strerror(errno));
			return;
		}
		ms.m->cnt.connections++;
		if (ms.nconns >= MASTER_MAX_CONNS || peer.sin_family != AF_INET) {
			ms.m->cnt.conn_refused++;
			(void)close(cfd);
			continue;
		}
		if (conns_from(ntohl(peer.sin_addr.s_addr)) >= ms.max_per_source) {
			static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 10);
			uint32_t a = ntohl(peer.sin_addr.s_addr);

			ms.m->cnt.conn_refused_source++;
			MB_LOG_RL(&rl, NOTICE, CTL, "master: %u.%u.%u.%u has %u connections open "
				  "already, closing its next one", a >> 24, (a >> 16) & 0xff,
				  (a >> 8) & 0xff, a & 0xff, ms.max_per_source);
			(void)close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			(void)close(cfd);
			continue;
		}
		c->fd = cfd;
		c->peer = ntohl(peer.sin_addr.s_addr);
		llen = sizeof(local);
		if (getsockname(cfd, (struct sockaddr *)&local, &llen) == 0)
			c->local = ntohl(local.sin_addr.s_addr);
		c->timer = mb_ctl_timer_new(MASTER_REQ_DEADLINE_MS, 0, conn_timeout, c);
		if (c->timer == NULL ||
		    mb_ctl_loop_add(cfd, EPOLLIN | EPOLLRDHUP, conn_io, c) != 0) {
			mb_ctl_timer_free(c->timer);
			(void)close(cfd);
			free(c);
			continue;
		}
		for (i = 0; i < MASTER_MAX_CONNS; i++) {
			if (ms.conns[i] == NULL) {
				ms.conns[i] = c;
				break;
			}
		}
		ms.nconns++;
	}
}

static json_t *
action_sessions(json_t *args, char **ret_err)
{
	json_t *r;

	(void)args;
	(void)ret_err;
	r = json_object();
	if (ms.m != NULL)
		json_object_set_new(r, "master", mb_master_json(ms.m));
	json_object_set_new(r, "dataplane", mb_ctl_dp()->sessions_json());
	return r;
}

static json_t *
health_master(enum mb_health_state *worst, void *arg)
{
	json_t *j;

	(void)arg;
	if (ms.m == NULL)
		return NULL; /* off (or not started): no section */
	j = mb_master_json(ms.m);
	json_object_set_new(j, "enabled", json_true());
	json_object_set_new(j, "listening", json_boolean(ms.lfd >= 0));
	if (ms.cursor_err[0] != '\0')
		json_object_set_new(j, "cursors_unsaved", json_string(ms.cursor_err));
	if (ms.lfd < 0 && *worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	return j;
}

static void
on_session_end(const struct mb_dp_event *ev, void *arg)
{
	(void)arg;
	mb_ctl_master_session_end(ev->u.session.id);
}

static const struct mb_ctl_action master_actions[] = {
	{ "sessions", action_sessions, "Frisbee sessions: master-server table and dataplane" },
};

static int
master_start(const struct mb_config *cfg)
{
	struct mb_master_settings set;
	struct mb_master_ops ops = {
		.lookup = ops_lookup,
		.pending = ops_pending,
		.session_start = ops_session_start,
		.origin = ops_origin,
	};
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	int one = 1, rc;

	if (cfg->master_port == 0 || !cfg->fris_enable)
		return 0;
	rc = mb_master_settings_from_config(cfg, &set);
	if (rc != 0) {
		MB_LOG(ERR, CTL, "master: bad frisbee.methods '%s'",
		       cfg->fris_methods);
		return rc;
	}
	ms.m = mb_master_new(&set, &ops);
	if (ms.m == NULL)
		return -errno;
	ms.max_per_source = cfg->master_per_source != 0 ? (unsigned int)cfg->master_per_source :
							  MASTER_MAX_CONNS;
	mb_master_cursors(ms.m, &ms.saved_group, &ms.saved_port);
	if (cfg->state_dir != NULL && cfg->state_dir[0] != '\0') {
		ms.state_dir = strdup(cfg->state_dir);
		if (ms.state_dir != NULL)
			cursors_load();
	}

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(cfg->master_port == MB_CTL_PORT_ANY ? 0 : (uint16_t)cfg->master_port);
	if (inet_pton(AF_INET, cfg->master_listen, &sa.sin_addr) != 1) {
		MB_LOG(ERR, CTL, "master: bad frisbee.master-listen '%s'",
		       cfg->master_listen);
		rc = -EINVAL;
		goto err_master;
	}
	ms.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ms.lfd == -1) {
		rc = -errno;
		goto err_master;
	}
	(void)setsockopt(ms.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ms.lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(ms.lfd, 128) == -1 ||
	    getsockname(ms.lfd, (struct sockaddr *)&sa, &salen) == -1) {
		rc = -errno;
		MB_LOG(ERR, CTL, "master: cannot listen on '%s':%u: %s",
		       cfg->master_listen, (unsigned int)cfg->master_port, strerror(errno));
		goto err_sock;
	}
	rc = mb_ctl_loop_add(ms.lfd, EPOLLIN, listen_io, NULL);
	if (rc != 0)
		goto err_sock;
	ms.port = ntohs(sa.sin_port);
	MB_LOG(INFO, CTL, "master server listening on %s:%u", cfg->master_listen,
	       (unsigned int)ms.port);
	return 0;

err_sock:
	(void)close(ms.lfd);
	ms.lfd = -1;
err_master:
	free(ms.state_dir);
	ms.state_dir = NULL;
	mb_master_free(ms.m);
	ms.m = NULL;
	return rc;
}

/* frisbee.methods, master-proxy, master-max-per-source,
 * max-sessions-per-source, max-unicast-sessions: the next request. */
static int
master_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	struct mb_master_settings set;

	(void)err;
	(void)errlen;
	if (ms.m == NULL)
		return 0;
	ms.max_per_source = cfg->master_per_source != 0 ? (unsigned int)cfg->master_per_source :
							  MASTER_MAX_CONNS;
	if (mb_master_settings_from_config(cfg, &set) != 0) {
		MB_LOG(WARNING, CTL,
		       "master: bad frisbee.methods '%s' on reload, ignoring", cfg->fris_methods);
		return 0;
	}
	mb_master_reconfig(ms.m, &set);
	return 0;
}

void
mb_ctl_master_set_pending(mb_ctl_pending_fn fn, void *arg)
{
	unsigned int i;

	for (i = 0; i < ms.npending; i++)
		if (ms.pending[i].fn == fn && ms.pending[i].arg == arg)
			return;
	if (ms.npending < MASTER_MAX_PENDING) {
		ms.pending[ms.npending].fn = fn;
		ms.pending[ms.npending].arg = arg;
		ms.npending++;
	}
}

void
mb_ctl_master_set_origin(mb_master_origin_fn fn, void *arg)
{
	ms.origin = fn;
	ms.origin_arg = arg;
	if (fn == NULL)
		mb_ctl_master_origin_ready(); /* nobody will answer them otherwise */
}

void
mb_ctl_master_clear_origin(mb_master_origin_fn fn)
{
	if (ms.origin == fn)
		mb_ctl_master_set_origin(NULL, NULL);
}

void
mb_ctl_master_origin_ready(void)
{
	unsigned int i;

	for (i = 0; i < MASTER_MAX_CONNS; i++) {
		struct master_conn *c = ms.conns[i];

		if (c == NULL || !c->waiting)
			continue;
		c->waiting = false;
		conn_reply(c); /* may wait again, or close c */
	}
}

void
mb_ctl_master_session_end(uint32_t id)
{
	bool revived;

	if (ms.m == NULL)
		return;
	rcu_read_lock();
	revived = mb_master_session_revive(ms.m, id, mb_time_mono_ns(),
					   MASTER_REVIVE_MS * MB_NS_PER_MS);
	rcu_read_unlock();
	if (revived)
		MB_LOG(INFO, CTL, "master: session %u ended moments after a GET got it: "
		       "started again in place", id);
	else
		(void)mb_master_session_end(ms.m, id);
}

void
mb_ctl_master_stop_image(const char *name, uint64_t version)
{
	uint32_t i;

	if (ms.m == NULL)
		return;
	for (i = 0; i < ms.m->set.max_sessions; i++) {
		struct mb_master_session *s = &ms.m->sess[i];
		int rc;

		if (!s->used || s->version != version || strcmp(s->name, name) != 0)
			continue;
		s->stopping = true;
		rc = mb_ctl_dp()->fris_session_stop(s->id);
		if (rc != 0 && rc != -ENOENT)
			MB_LOG(WARNING, CTL, "master: cannot stop session %u on '%s': %s, ignoring",
			       s->id, name, strerror(-rc));
	}
}

uint16_t
mb_ctl_master_port(void)
{
	return ms.lfd >= 0 ? ms.port : 0;
}

static void
master_stop(void)
{
	unsigned int i;

	for (i = 0; i < MASTER_MAX_CONNS; i++)
		if (ms.conns[i] != NULL)
			conn_close(ms.conns[i]);
	if (ms.lfd >= 0) {
		(void)mb_ctl_loop_del(ms.lfd);
		(void)close(ms.lfd);
		ms.lfd = -1;
	}
	mb_master_free(ms.m);
	ms.m = NULL;
	ms.port = 0;
	free(ms.state_dir);
	ms.state_dir = NULL;
	ms.cursor_err[0] = '\0';
}

const struct mb_ctl_subsys mb_ctl_subsys_master = {
	.name = "master",
	.title = "the master server",
	.start = master_start,
	.reconfig = master_reconfig,
	.stop = master_stop,
	.actions = master_actions,
	.n_actions = MB_ARRAY_SIZE(master_actions),
	.health_key = "master",
	.health = health_master,
	.events = { { MB_DP_EV_SESSION_END, on_session_end } },
};
