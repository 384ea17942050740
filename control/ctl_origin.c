/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A parent master server as origin (origin.url = mfrisbee://HOST[:PORT]):
 * the miniboss fills its store on demand from an upstream master server, as
 * a stock subboss (mfrisbeed -S parent -M) does, and keeps serving what it
 * holds when the parent is down, which a stock subboss in mirror mode
 * cannot.
 *
 * The master server (ctl_master.c) asks origin_decide() about every GET and
 * GETSTATUS before its local lookup.  What the answer is comes from the pure
 * rules of ctl_origin_plan.c, fed with what the store holds and what the
 * parent last said about the image:
 *  - the parent's answer (a GETSTATUS, by the node's address with
 *    origin.parent-proxy) is asked for when it is older than
 *    origin.revalidate (at least 1 s, so a burst of nodes costs one
 *    request); the node's request then waits for it (MB_MASTER_WAIT) and is
 *    handled again when it came or failed (mb_ctl_master_origin_ready);
 *  - a local copy with the parent's size and MTIME serves; a GET for a
 *    missing or different one starts a fetch and answers TRYAGAIN until the
 *    new copy is published (GETSTATUS: the parent's size and mtime, method
 *    0, not running), exactly as a stock subboss answers;
 *  - the parent's errors (NOIMAGE, NOACCESS, ...) reach the node as they are;
 *  - the parent not answering (refused, timed out) marks it down for a
 *    backoff (2 s doubling to 60 s, with a connect probe that notices its
 *    return): meanwhile held images serve and health says degraded.
 *
 * A fetch: GET to the parent for the image (origin.parent-methods), then a
 * Frisbee receiver (proto/fris_rx.c, the stock client's request rules;
 * JOIN2, so the parent's exact byte count) in this thread's loop, fed by
 * the dataplane's fill queue (common/mb_fillq.c: the session's datagrams
 * copied by the lcores, no TAP or kernel socket on the way) where the
 * session comes through the port, else by kernel UDP sockets (a multicast
 * group is handed to the kernel by the dataplane, mb_dp_kernel_group),
 * straight into the image's final memory (pinned, from
 * mb_ctl_store_image_alloc); a parent that answers TRYAGAIN (fetching
 * itself) is asked again every 5 s.  When every chunk is there the shared
 * worker writes the bytes to <state-dir>/tmp/parent-N.part and hashes them
 * (SHA-256 of what was received: the store verifies the file against it
 * after a restart; the stock protocol carries no content hash, so what was
 * received is checked only for its size and MTIME), the file gets the
 * parent's mtime and the store publishes the memory as the image's next
 * version.  A failed fetch backs off (5 s doubling to 5 min); meanwhile a
 * stale copy serves or the node gets TRYAGAIN (or the parent's error).
 *
 * Cut-through (origin.cut-through): the image memory carries a per-chunk
 * presence bitmap (mb_image.present) set as chunks complete; a GET while
 * the receiver runs is answered MB_MASTER_SERVE with that image, so the node's
 * session starts at once and the dataplane sends only chunks in place (it
 * drops requests for the others; the client asks again).  A GET that starts
 * the fetch waits for the receiver's JOIN (at most ORIGIN_CUT_WAIT_MS).
 *
 * Redirect (origin.redirect, a stock subboss's -R): while the receiver is in
 * a multicast or broadcast session of the parent, a GET is answered with
 * that session (the parent's group, port and server address), ahead of
 * cut-through.
 *
 * Bounds: the parent's size against images.max-image-size before anything
 * is allocated (the receiver's chunk table and the image memory follow from
 * it), the JOIN2 byte count must equal it, at most origin.concurrency
 * fetches and ORIGIN_MAX_IMAGES images tracked, every exchange with the
 * parent within 5 s, a receive that hears nothing valid for origin.timeout
 * fails.  The receiver handles at most ORIGIN_FILL_BATCHES x 64 queued
 * datagrams (the kernel path: ORIGIN_RX_BATCHES x 32) per loop pass, so it
 * shares the control thread with the rest; what it cannot take in time the
 * fill queue (8192 slots) or the kernel socket buffer (4 MiB) holds, and
 * the receiver's re-requests recover what overflows.
 *
 * The fetch itself is in ctl_origin_fetch.c, what the files share in
 * ctl_origin_priv.h.  Control thread only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_master.h"
#include "ctl_origin_plan.h"
#include "ctl_origin_priv.h"
#include "mb_cleanup.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_time.h"
#include "ms_wire.h"

struct origin_state mb_origin;

uint64_t
origin_now_ms(void)
{
	return mb_time_mono_ns() / MB_NS_PER_MS;
}

void
origin_set_reason(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, ORIGIN_REASON_MAX, fmt, ap);
	va_end(ap);
}

/* ---- the parent's reachability ------------------------------------------------------ */

static void probe_start(void *arg);

void
origin_parent_down(const char *why)
{
	uint64_t wait;

	mb_origin.down_failures++;
	wait =
	    mb_origin_backoff_ms(mb_origin.down_failures, ORIGIN_DOWN_BASE_MS, ORIGIN_DOWN_MAX_MS);
	mb_origin.down_until_ms = origin_now_ms() + wait;
	origin_set_reason(mb_origin.down_reason, "%s", why);
	if (!mb_origin.down)
		MB_LOG(WARNING, CTL, "parent %s:%u: %s; serving what is cached", mb_origin.host,
		       mb_origin.port, why);
	mb_origin.down = true;
	if (mb_origin.probe_timer != NULL)
		(void)mb_ctl_timer_rearm(mb_origin.probe_timer, wait, 0);
}

void
origin_parent_up(void)
{
	if (mb_origin.down)
		MB_LOG(NOTICE, CTL, "parent %s:%u answers again", mb_origin.host, mb_origin.port);
	mb_origin.down = false;
	mb_origin.down_failures = 0;
	mb_origin.down_reason[0] = '\0';
	if (mb_origin.probe_timer != NULL)
		mb_ctl_timer_disarm(mb_origin.probe_timer);
}

/* Backing off: not asked before down_until_ms. */
static bool
parent_backing_off(void)
{
	return mb_origin.down && origin_now_ms() < mb_origin.down_until_ms;
}

/* ---- exchanges with the parent --------------------------------------------------------- */

static void check_done(struct oimg *im, int rc, const struct mb_ms_get_reply *rep);
static void probe_done(int rc);

void
origin_pexch_free(struct pexch *x)
{
	if (x == NULL)
		return;
	if (x->fd >= 0) {
		(void)mb_ctl_loop_del(x->fd);
		(void)close(x->fd);
	}
	mb_ctl_timer_free(x->timer);
	free(x);
}

/* The exchange is over: detach it from its owner and tell it. */
static void
pexch_end(struct pexch *x, int rc, const struct mb_ms_get_reply *rep)
{
	struct oimg *im = x->im;

	if (im == NULL) {
		mb_origin.probe = NULL;
		origin_pexch_free(x);
		probe_done(rc);
		return;
	}
	if (im->check == x) {
		im->check = NULL;
		origin_pexch_free(x);
		check_done(im, rc, rep);
		return;
	}
	if (im->fetch != NULL && im->fetch->x == x) {
		struct fetch *f = im->fetch;

		f->x = NULL;
		if (x->local != 0)
			f->myip = x->local; /* as the stock subboss's -i */
		origin_pexch_free(x);
		origin_get_done(f, rc, rep);
		return;
	}
	origin_pexch_free(x);
}

static void
pexch_timeout(void *arg)
{
	struct pexch *x = arg;

	pexch_end(x, x->connected ? -ETIMEDOUT : -EHOSTUNREACH, NULL);
}

static void
pexch_io(int fd, uint32_t events, void *arg)
{
	struct pexch *x = arg;
	struct mb_ms_get_reply rep;
	const char *why = NULL;
	struct sockaddr_in la;
	socklen_t ll = sizeof(la);
	int err = 0;
	socklen_t el = sizeof(err);
	ssize_t n;

	if (!x->connected) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			err = errno;
		if (err != 0) {
			pexch_end(x, -err, NULL);
			return;
		}
		x->connected = true;
		if (getsockname(fd, (struct sockaddr *)&la, &ll) == 0)
			x->local = la.sin_addr.s_addr;
		if (x->im == NULL) { /* probe: connecting was the question */
			pexch_end(x, 0, NULL);
			return;
		}
	}
	if (x->sent < MB_MS_GETREQ_LEN) {
		n = send(fd, x->buf + x->sent, MB_MS_GETREQ_LEN - x->sent,
		         MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			pexch_end(x, -errno, NULL);
			return;
		}
		if (n > 0)
			x->sent += (size_t)n;
		if (x->sent < MB_MS_GETREQ_LEN)
			return;
		x->len = 0;
		(void)mb_ctl_loop_mod(fd, EPOLLIN | EPOLLRDHUP);
		return;
	}
	for (;;) {
		n = read(fd, x->buf + x->len, MB_MS_GETREPLY_LEN - x->len);
		if (n > 0) {
			x->len += (size_t)n;
			if (x->len < MB_MS_GETREPLY_LEN)
				continue;
			if (mb_ms_get_reply_decode(x->buf, x->len, &rep, &why) != 0) {
				MB_LOG(WARNING, CTL, "parent %s:%u: bad reply: %s", mb_origin.host,
				       mb_origin.port, why != NULL ? why : "?");
				pexch_end(x, -EPROTO, NULL);
				return;
			}
			pexch_end(x, 0, &rep);
			return;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR) &&
		    !(events & (EPOLLHUP | EPOLLERR)))
			return;
		/* closed before a whole reply (a stock server closes on a
		 * request it cannot parse) */
		pexch_end(x, n == 0 ? -ECONNRESET : -errno, NULL);
		return;
	}
}

/* Whether a local TCP port is one the dataplane takes for its own TCP. */
static bool
dp_tcp_port(const struct mb_config *cfg, uint16_t port)
{
	return port == cfg->http_port || (port >= cfg->ftp_pasv_min && port <= cfg->ftp_pasv_max);
}

/*
 * A non-blocking TCP socket bound to a local port the dataplane does not take
 * (tcp.http-port, tcp.ftp-pasv-min..max): TCP to our address on those ports
 * goes to the userspace stack, which answers the SYN-ACK of a kernel
 * connection from such a port with a reset, and the default passive range
 * lies inside the kernel's ephemeral one.  The kernel's ephemeral choice is
 * taken when it is clear, else random ports of 32768..60999 (Linux's
 * default ephemeral range) that are.  Returns the socket or -errno.
 */
static int
origin_socket(const struct mb_config *cfg)
{
	struct sockaddr_in sa;
	socklen_t sl;
	uint16_t r[ORIGIN_BIND_TRIES], port;
	int fd, i, rc;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		uint64_t t = mb_time_mono_ns();

		for (i = 0; i < ORIGIN_BIND_TRIES; i++)
			r[i] = (uint16_t)((t >> (i % 32)) ^ (t * (uint64_t)(i + 1)));
	}
	for (i = 0; i < ORIGIN_BIND_TRIES; i++) {
		port = i == 0 ? 0 : (uint16_t)(32768 + r[i] % (60999 - 32768 + 1));
		if (port != 0 && dp_tcp_port(cfg, port))
			continue;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -errno;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
		sa.sin_port = htons(port);
		sl = sizeof(sa);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			rc = -errno;
			close(fd);
			if (rc != -EADDRINUSE)
				return rc;
			continue;
		}
		if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (!dp_tcp_port(cfg, ntohs(sa.sin_port)))
			return fd;
		close(fd);
	}
	return -EADDRINUSE;
}

/*
 * Start an exchange: a GETSTATUS (status) or GET for im's id, by `hostip`
 * (host order, 0 = for ourselves), or a bare connect when im is NULL.
 * Returns the exchange or NULL with errno.
 */
struct pexch *
origin_pexch_start(struct oimg *im, bool status, uint32_t hostip)
{
	struct mb_ms_get_request req;
	struct pexch *x;
	int rc;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->fd = -1;
	x->im = im;
	x->status = status;
	if (im != NULL) {
		memset(&req, 0, sizeof(req));
		req.hostip = hostip;
		req.methods = status ? MB_MS_METHOD_ANY : mb_origin.methods;
		req.status = status ? 1 : 0;
		req.idlen = im->idlen;
		memcpy(req.imageid, im->id, im->idlen);
		rc = mb_ms_get_request_encode(&req, x->buf, sizeof(x->buf));
		if (rc < 0) {
			free(x);
			errno = -rc;
			return NULL;
		}
	}
	x->fd = origin_socket(mb_origin.cfg);
	if (x->fd < 0) {
		errno = -x->fd;
		x->fd = -1;
		goto err;
	}
	if (connect(x->fd, (struct sockaddr *)&mb_origin.sa, sizeof(mb_origin.sa)) == -1 &&
	    errno != EINPROGRESS)
		goto err;
	x->timer = mb_ctl_timer_new(ORIGIN_REQ_TIMEOUT_MS, 0, pexch_timeout, x);
	if (x->timer == NULL)
		goto err;
	if (mb_ctl_loop_add(x->fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, pexch_io, x) != 0) {
		errno = ENOMEM;
		goto err;
	}
	return x;
err:
	rc = errno;
	origin_pexch_free(x);
	errno = rc;
	return NULL;
}

/* ---- the reachability probe ------------------------------------------------------------ */

static void
probe_start(void *arg)
{
	(void)arg;
	if (!mb_origin.on || !mb_origin.down || mb_origin.probe != NULL)
		return;
	mb_origin.probe = origin_pexch_start(NULL, false, 0);
	if (mb_origin.probe == NULL)
		origin_parent_down("cannot open a socket to the parent");
}

static void
probe_done(int rc)
{
	char why[ORIGIN_REASON_MAX];

	if (rc == 0) {
		origin_parent_up();
		mb_ctl_master_origin_ready();
		return;
	}
	origin_set_reason(why, "not reachable: %s", strerror(-rc));
	origin_parent_down(why);
}

/* ---- images ------------------------------------------------------------------------------- */

static struct oimg *
img_find(const char *name)
{
	for (unsigned int i = 0; i < mb_origin.n; i++)
		if (strcmp(mb_origin.imgs[i]->name, name) == 0)
			return mb_origin.imgs[i];
	return NULL;
}

static void
img_free(struct oimg *im)
{
	if (im->check != NULL) {
		origin_pexch_free(im->check);
		im->check = NULL;
	}
	if (im->fetch != NULL)
		origin_fetch_detach(im->fetch);
	free(im);
}

/* The entry for name, a new one, or NULL when the table is full of images
 * in use (checking or fetching). */
static struct oimg *
img_get(const char *name)
{
	struct oimg *im = img_find(name), *lru = NULL;
	unsigned int i, lru_i = 0;

	if (im != NULL)
		return im;
	if (mb_origin.n == ORIGIN_MAX_IMAGES) {
		for (i = 0; i < mb_origin.n; i++) {
			struct oimg *c = mb_origin.imgs[i];

			if (c->check == NULL && c->fetch == NULL &&
			    (lru == NULL || c->used_ms < lru->used_ms)) {
				lru = c;
				lru_i = i;
			}
		}
		if (lru == NULL)
			return NULL;
		img_free(lru);
		mb_origin.imgs[lru_i] = mb_origin.imgs[--mb_origin.n];
	}
	im = calloc(1, sizeof(*im));
	if (im == NULL)
		return NULL;
	snprintf(im->name, sizeof(im->name), "%s", name);
	mb_origin.imgs[mb_origin.n++] = im;
	return im;
}

static void
check_done(struct oimg *im, int rc, const struct mb_ms_get_reply *rep)
{
	char why[ORIGIN_REASON_MAX];

	if (rc != 0) {
		mb_origin.cnt.ask_failures++;
		origin_set_reason(why, "no answer to GETSTATUS: %s", strerror(-rc));
		origin_parent_down(why);
	} else {
		origin_parent_up();
		im->known = true;
		im->known_ms = origin_now_ms();
		im->known_client = im->client;
		im->known_err = rep->error;
		im->p_size = rep->error == MB_MS_ERROR_NONE ? rep->size : 0;
		im->p_mtime = rep->error == MB_MS_ERROR_NONE ? mb_ms_reply_mtime(rep) : 0;
	}
	mb_ctl_master_origin_ready();
}

/* ---- the master server's question ---------------------------------------------------------- */

static int
origin_decide(const char *name, const struct mb_ms_get_request *req, uint32_t client,
              struct mb_ms_get_reply *rep, struct mb_image **ret_img, void *arg)
{
	struct mb_origin_view v;
	struct mb_image *img;
	struct oimg *im;
	unsigned int err;
	uint64_t now = origin_now_ms();

	(void)arg;
	if (!mb_origin.on)
		return MB_MASTER_LOCAL;
	im = img_get(name);
	if (im == NULL)
		return MB_MS_ERROR_TRYAGAIN; /* every tracked image is busy */
	im->used_ms = now;
	if (im->check == NULL && im->fetch == NULL) {
		/* what the next exchange forwards: the id and node of this request */
		im->idlen = req->idlen;
		memcpy(im->id, req->imageid, req->idlen);
		im->id[req->idlen] = '\0';
		im->client = client;
	}
	memset(&v, 0, sizeof(v));
	v.status = req->status != 0;
	img = mb_image_lookup(name, strlen(name)); /* the caller is in an RCU read side */
	if (img != NULL) {
		v.held = true;
		v.held_size = img->size;
		v.held_mtime = img->mtime;
	}
	/* a copy the store is still verifying (a fill through the mapped
	 * .part, or the store's start) is on its way as much as a fetch */
	v.fetching = im->fetch != NULL || mb_ctl_store_state(name) == MB_CTL_STORE_LOADING;
	v.checking = im->check != NULL;
	v.known = im->known;
	v.known_age_ms = now - im->known_ms;
	if (mb_origin.cfg->parent_proxy && im->known_client != client)
		v.known = false; /* the parent authorises each node: ask for this one */
	v.known_err = im->known_err;
	v.p_size = im->p_size;
	v.p_mtime = im->p_mtime;
	v.fresh_ms = mb_origin.cfg->parent_revalidate * 1000;
	if (v.fresh_ms < ORIGIN_FRESH_MIN_MS)
		v.fresh_ms = ORIGIN_FRESH_MIN_MS;
	v.parent_down = parent_backing_off();
	v.failed = im->failures > 0 && now < im->retry_at_ms;
	v.failed_err = im->failed_err;

	if (im->fetch != NULL && !v.status) {
		struct fetch *f = im->fetch;
		bool cut = mb_origin.cfg->parent_cut_through;
		bool redir = mb_origin.cfg->parent_redirect;

		/* redirect (a stock subboss's -R): while we receive from a
		 * multicast or broadcast session of the parent, the node joins
		 * that session itself */
		if (redir && (f->phase == F_JOIN || f->phase == F_RECV) &&
		    f->rep.method != MB_MS_METHOD_UNICAST && (f->rep.method & req->methods) != 0) {
			memset(rep, 0, sizeof(*rep));
			rep->method = f->rep.method;
			rep->isrunning = 1;
			rep->servaddr = f->rep.servaddr;
			rep->addr = f->rep.addr;
			rep->port = f->rep.port;
			rep->size = f->e.size;
			mb_ms_reply_set_mtime(rep, f->e.mtime);
			mb_origin.cnt.redirects++;
			return MB_MS_ERROR_NONE;
		}
		/* cut-through: a GET for an image arriving into image memory is
		 * served from it (the dataplane sends only the chunks in place) */
		if (cut && f->mem != NULL && f->mem->present != NULL &&
		    (f->phase == F_RECV || f->phase == F_FINISH)) {
			*ret_img = f->mem;
			mb_origin.cnt.cut_through++;
			return MB_MASTER_SERVE;
		}
		/* the session is moments away (the parent's GET reply, for
		 * cut-through its JOIN2 reply too): wait for it rather than
		 * send the node off for -B s */
		if ((f->phase == F_GET || (cut && f->phase == F_JOIN)) && (cut || redir) &&
		    f->tryagains == 0 &&
		    mb_time_mono_ns() - f->start_ns < ORIGIN_CUT_WAIT_MS * MB_NS_PER_MS)
			return MB_MASTER_WAIT;
	}
	switch (mb_origin_decide(&v, &err)) {
	case MB_OV_LOCAL:
		if (v.parent_down || v.failed)
			mb_origin.cnt.served_stale++;
		return MB_MASTER_LOCAL;
	case MB_OV_ASK:
		im->idlen = req->idlen;
		memcpy(im->id, req->imageid, req->idlen);
		im->id[req->idlen] = '\0';
		im->client = client;
		im->check = origin_pexch_start(im, true, mb_origin.cfg->parent_proxy ? client : 0);
		if (im->check == NULL) {
			origin_parent_down("cannot open a socket to the parent");
			return v.held ? MB_MASTER_LOCAL : MB_MS_ERROR_NOIMAGE;
		}
		mb_origin.cnt.asks++;
		return MB_MASTER_WAIT;
	case MB_OV_WAIT:
		return MB_MASTER_WAIT;
	case MB_OV_FETCH:
		if (mb_origin.active >= mb_origin.cfg->sync_concurrency)
			return MB_MS_ERROR_TRYAGAIN; /* the node asks again */
		if (origin_fetch_start(im) != 0) {
			origin_parent_down("cannot open a socket to the parent");
			return v.held ? MB_MASTER_LOCAL : MB_MS_ERROR_TRYAGAIN;
		}
		/* cut-through or redirect: this GET waits for the session
		 * (ORIGIN_CUT_WAIT_MS) */
		return origin_waits() ? MB_MASTER_WAIT : MB_MS_ERROR_TRYAGAIN;
	case MB_OV_STATUS:
		memset(rep, 0, sizeof(*rep));
		rep->method = 0;
		rep->isrunning = 0;
		rep->size = im->p_size;
		mb_ms_reply_set_mtime(rep, im->p_mtime);
		return MB_MS_ERROR_NONE;
	case MB_OV_ERROR:
	default:
		return (int)err;
	}
}

/* ---- status, health, the subsystem ------------------------------------------------------ */

static const char *
phase_name(const struct fetch *f)
{
	static const char *const names[] = {"asking", "parent-tryagain", "joining", "receiving",
	                                    "writing"};

	return names[f->phase];
}

static json_t *
status_json(enum mb_health_state *worst)
{
	json_t *o = json_object(), *imgs = json_object(), *cnt = json_object();
	enum mb_health_state w = MB_HEALTH_OK;
	uint64_t now = origin_now_ms();

	json_object_set_new(o, "parent", json_string(mb_origin.url));
	json_object_set_new(o, "reachable", json_boolean(!mb_origin.down));
	if (mb_origin.down) {
		json_object_set_new(o, "reason", json_string(mb_origin.down_reason));
		w = MB_HEALTH_DEGRADED;
		if (worst != NULL)
			mb_ctl_health_reason(MB_HEALTH_DEGRADED,
			                     "parent master server %s:%u: %s; "
			                     "cached images only",
			                     mb_origin.host, mb_origin.port, mb_origin.down_reason);
	}
	json_object_set_new(o, "fetching", json_integer(mb_origin.active));
	for (unsigned int i = 0; i < mb_origin.n; i++) {
		const struct oimg *im = mb_origin.imgs[i];
		json_t *e = json_object();

		if (im->fetch != NULL) {
			const struct fetch *f = im->fetch;

			json_object_set_new(e, "state", json_string(phase_name(f)));
			json_object_set_new(
			    e, "bytes", json_integer(f->rx_init ? (json_int_t)f->rx.rbytes : 0));
			json_object_set_new(e, "total", json_integer((json_int_t)f->e.size));
			json_object_set_new(e, "path",
			                    json_string(f->via_dp ? "dataplane" : "kernel"));
		} else if (im->failures > 0) {
			json_object_set_new(e, "state", json_string("failed"));
			json_object_set_new(e, "reason", json_string(im->reason));
			json_object_set_new(e, "failures", json_integer(im->failures));
			if (im->retry_at_ms > now)
				json_object_set_new(
				    e, "retry-in-s",
				    json_integer((json_int_t)((im->retry_at_ms - now) / 1000 + 1)));
			if (w < MB_HEALTH_DEGRADED && worst != NULL)
				mb_ctl_health_reason(MB_HEALTH_DEGRADED,
				                     "parent: fetching '%s' "
				                     "failed: %s",
				                     im->name, im->reason);
			w = MB_HEALTH_DEGRADED;
		} else {
			json_object_set_new(e, "state", json_string(im->known ? "known" : "new"));
		}
		if (im->known) {
			json_object_set_new(
			    e, "parent-error",
			    json_string(im->known_err ? mb_ms_error_name(im->known_err) : "none"));
			json_object_set_new(e, "parent-size", json_integer((json_int_t)im->p_size));
			json_object_set_new(e, "parent-mtime", json_integer(im->p_mtime));
			json_object_set_new(
			    e, "checked-s-ago",
			    json_integer((json_int_t)((now - im->known_ms) / 1000)));
		}
		json_object_set_new(e, "fills", json_integer((json_int_t)im->fills));
		if (im->fills > 0)
			json_object_set_new(e, "last-fill-ms",
			                    json_integer((json_int_t)im->last_fill_ms));
		json_object_set_new(imgs, im->name, e);
	}
	json_object_set_new(o, "images", imgs);
#define X(n, h) json_object_set_new(cnt, #n, json_integer((json_int_t)mb_origin.cnt.n));
	ORIGIN_COUNTERS(X)
#undef X
	json_object_set_new(o, "counters", cnt);
	if (worst != NULL && *worst < w)
		*worst = w;
	return o;
}

static json_t *
health_parent(enum mb_health_state *worst, void *arg)
{
	(void)arg;
	return mb_origin.on ? status_json(worst) : NULL;
}

static json_t *
action_parent(json_t *args, char **ret_err)
{
	(void)args;
	if (!mb_origin.on) {
		*ret_err = strdup("no parent master server (origin.url is not mfrisbee://)");
		return NULL;
	}
	return status_json(NULL);
}

static const struct mb_ctl_action origin_actions[] = {
    {"parent", action_parent, "the parent master server origin: reachability, fetches"},
};

/* Resolve origin.url into O (blocking DNS: start and reload only). */
static int
resolve(const struct mb_config *cfg)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	uint8_t mask;
	int rc;

	rc = mb_config_parent_url(cfg->origin_url, mb_origin.host, sizeof(mb_origin.host),
	                          &mb_origin.port);
	if (rc != 0)
		return rc;
	if (mb_master_methods_parse(cfg->parent_methods, &mask) != 0) {
		MB_LOG(ERR, CTL, "parent: bad origin.parent-methods '%s'", cfg->parent_methods);
		return -EINVAL;
	}
	rc = getaddrinfo(mb_origin.host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		MB_LOG(ERR, CTL, "parent: cannot resolve '%s': %s", mb_origin.host,
		       gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	memcpy(&mb_origin.sa, res->ai_addr, sizeof(mb_origin.sa));
	mb_origin.sa.sin_port = htons(mb_origin.port);
	freeaddrinfo(res);
	mb_origin.methods = mask;
	snprintf(mb_origin.url, sizeof(mb_origin.url), "%s", cfg->origin_url);
	return 0;
}

/* Remove what a run that stopped mid-fetch left: <state-dir>/tmp/parent-N.part. */
static void
sweep_tmp(const struct mb_config *cfg)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", cfg->state_dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (strncmp(de->d_name, "parent-", 7) == 0 && n > 12 &&
		    strcmp(de->d_name + n - 5, ".part") == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			MB_LOG(INFO, CTL, "parent: removed the leftover '%s/%s'", dir, de->d_name);
	}
	(void)closedir(d);
}

static int
origin_start(const struct mb_config *cfg)
{
	int rc;

	mb_origin.cfg = cfg;
	if (strncmp(cfg->origin_url, "mfrisbee://", 11) != 0)
		return 0;
	rc = resolve(cfg);
	if (rc != 0)
		return rc;
	mb_origin.probe_timer = mb_ctl_timer_new(ORIGIN_DOWN_BASE_MS, 0, probe_start, NULL);
	if (mb_origin.probe_timer == NULL)
		return -ENOMEM;
	mb_ctl_timer_disarm(mb_origin.probe_timer);
	sweep_tmp(cfg);
	mb_origin.on = true;
	mb_ctl_master_set_origin(origin_decide, NULL);
	MB_LOG(INFO, CTL,
	       "parent master server %s:%u (%s): images the store lacks are fetched "
	       "from it on demand",
	       mb_origin.host, mb_origin.port, cfg->parent_methods);
	return 0;
}

static void
origin_stop(void)
{
	mb_ctl_master_clear_origin(origin_decide);
	for (unsigned int i = 0; i < mb_origin.n; i++)
		img_free(mb_origin.imgs[i]);
	mb_origin.n = 0;
	origin_pexch_free(mb_origin.probe);
	mb_origin.probe = NULL;
	mb_ctl_timer_free(mb_origin.probe_timer);
	mb_origin.probe_timer = NULL;
	mb_origin.on = false;
	mb_origin.down = false;
	mb_origin.down_failures = 0;
	mb_origin.active = 0;
}

/* origin.url, parent-methods, parent-proxy, revalidate: the next request.
 * A url that stops or starts being mfrisbee:// stops or starts the origin
 * (fetches in flight are abandoned). */
static int
origin_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	bool want = strncmp(cfg->origin_url, "mfrisbee://", 11) == 0;
	int rc;

	if (!want) {
		if (mb_origin.on)
			origin_stop();
		mb_origin.cfg = cfg;
		return 0;
	}
	if (mb_origin.on && strcmp(mb_origin.url, cfg->origin_url) == 0) {
		uint8_t mask;

		if (mb_master_methods_parse(cfg->parent_methods, &mask) == 0)
			mb_origin.methods = mask;
		mb_origin.cfg = cfg;
		return 0;
	}
	if (mb_origin.on)
		origin_stop();
	rc = origin_start(cfg);
	if (rc != 0)
		snprintf(err, errlen, "origin.url '%s': %s", cfg->origin_url, strerror(-rc));
	return rc;
}

const struct mb_ctl_subsys mb_ctl_subsys_origin = {
    .name = "parent",
    .title = "the parent master server origin",
    .start = origin_start,
    .reconfig = origin_reconfig,
    .stop = origin_stop,
    .actions = origin_actions,
    .n_actions = MB_ARRAY_SIZE(origin_actions),
    .health_key = "parent",
    .health = health_parent,
    .without = "images the store lacks are not fetched",
};
