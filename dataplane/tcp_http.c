/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HTTP/1.1 image server over the TCP core (see tcp_http.h).  Each response
 * header is a heap send buffer (mb_sbuf_new_copy), one more span for the
 * TCP core; the last reference frees it when the peer has acknowledged it
 * (or the connection dies).
 *
 * A request buffer (MB_HTTP_HDR_MAX bytes) is charged to the peer's address
 * through the core's per-source accounting while it exists: a source that
 * already holds its share (tcp.partial-requests-per-source) of buffered,
 * incomplete or waiting requests has the next connection that needs one
 * reset, so a slow client cannot pin the buffers of many connections.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mb_http.h"
#include "tcp_http.h"

/* Request bytes of one connection; exists only while some are buffered, so
 * an idle keep-alive connection costs nothing beyond its TCP state. */
struct http_conn {
	uint32_t len;
	char buf[MB_HTTP_HDR_MAX];
};

/* Per-connection flags live in c->cookie. */
#define F_CLOSING 1u  /* an error or Connection: close was answered */
#define F_PEER_FIN 2u /* no more requests will come */

static struct mb_image *
table_lookup(void *arg, const char *name, size_t len)
{
	(void)arg;
	return mb_image_lookup(name, len);
}

void
mb_tcp_http_init(struct mb_tcp_http *h, const struct mb_tcp_http_ops *ops)
{
	memset(h, 0, sizeof(*h));
	if (ops != NULL && ops->lookup != NULL)
		h->ops = *ops;
	else
		h->ops.lookup = table_lookup;
}

static void
count_status(struct mb_tcp_http_counters *cnt, int st)
{
	if (st == 200)
		cnt->resp_200++;
	else if (st == 206)
		cnt->resp_206++;
	else if (st == 304)
		cnt->resp_304++;
	else if (st >= 500)
		cnt->resp_5xx++;
	else
		cnt->resp_4xx++;
}

/* Free c's request buffer (and its per-source charge) if it is empty, or
 * whatever it holds when `always`. */
static void
buf_release(struct mb_tcp_stack *s, struct mb_tcp_conn *c, bool always)
{
	struct http_conn *h = c->app;

	if (h != NULL && (always || h->len == 0)) {
		free(h);
		c->app = NULL;
		mb_tcp_src_put(s, c);
	}
}

/* Answer every complete buffered request that fits in the span queue. */
static void
serve(struct mb_tcp_http *srv, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct http_conn *h = c->app;
	char hdr[768];

	while (h != NULL && !(c->cookie & F_CLOSING) && h->len > 0 && mb_tcp_span_room(c) >= 2) {
		struct mb_http_req req;
		struct mb_image *img = NULL;
		struct mb_sbuf *hb;
		size_t used = 0;
		uint64_t off = 0, len = 0;
		int rc, n, st;

		rc = mb_http_parse(h->buf, h->len, &req, &used);
		if (rc == -EAGAIN)
			break;
		srv->cnt.requests++;
		if (rc < 0) {
			st = req.status;
			n = mb_http_error(st, false, hdr, sizeof(hdr));
			c->cookie |= F_CLOSING;
		} else {
			img = srv->ops.lookup(srv->ops.arg, req.name, req.name_len);
			if ((c->cookie & F_PEER_FIN) && h->len == used)
				req.keep_alive = false; /* last request: say so */
			n = mb_http_respond(&req, img, hdr, sizeof(hdr), &off, &len, &st);
			if (!req.keep_alive)
				c->cookie |= F_CLOSING;
		}
		count_status(&srv->cnt, st);
		if (n < 0) {
			mb_tcp_abort(s, c);
			return;
		}
		hb = mb_sbuf_new_copy(hdr, (size_t)n);
		if (hb == NULL) {
			srv->cnt.nomem++;
			mb_tcp_abort(s, c);
			return;
		}
		if (mb_tcp_send(s, c, hb, 0, (uint64_t)n) < 0) {
			mb_sbuf_unref(hb);
			mb_tcp_abort(s, c);
			return;
		}
		if (len > 0) {
			if (mb_tcp_send(s, c, &mb_image_ref(img)->sb, off, len) < 0) {
				mb_image_unref(img);
				mb_tcp_abort(s, c);
				return;
			}
			srv->cnt.body_bytes += len;
		}
		memmove(h->buf, h->buf + used, h->len - used);
		h->len -= (uint32_t)used;
	}
	if ((c->cookie & F_CLOSING) ||
	    ((c->cookie & F_PEER_FIN) && (h == NULL || h->len == 0 || mb_tcp_span_room(c) >= 2))) {
		/* nothing more will be answered: FIN after the queued spans */
		(void)mb_tcp_close(s, c);
	}
	buf_release(s, c, false);
}

int
mb_tcp_http_accept(struct mb_tcp_http *srv, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	(void)srv;
	(void)s;
	c->app = NULL; /* the buffer comes with the first byte */
	c->cookie = 0;
	return 0;
}

uint32_t
mb_tcp_http_recv(struct mb_tcp_http *srv, struct mb_tcp_stack *s, struct mb_tcp_conn *c,
		 const uint8_t *data, uint32_t len)
{
	struct http_conn *h = c->app;
	uint32_t take;

	if (c->cookie & F_CLOSING)
		return len; /* discarded: the connection is ending */
	if (h == NULL) {
		if (!mb_tcp_src_take(s, c)) {
			srv->cnt.src_limit++;
			mb_tcp_abort(s, c);
			return 0;
		}
		h = malloc(sizeof(*h));
		if (h == NULL) {
			mb_tcp_src_put(s, c);
			srv->cnt.nomem++;
			mb_tcp_abort(s, c);
			return 0;
		}
		h->len = 0;
		c->app = h;
	}
	take = MB_HTTP_HDR_MAX - h->len;
	if (take > len)
		take = len;
	memcpy(h->buf + h->len, data, take);
	h->len += take;
	serve(srv, s, c);
	if (c->state == MB_TCP_CLOSED)
		return 0;
	/* a full buffer with no complete request was answered 431 by serve();
	 * a full buffer of pipelined requests waits for span room (the rest is
	 * not acknowledged and the peer retransmits it) */
	return take;
}

void
mb_tcp_http_sent(struct mb_tcp_http *srv, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	serve(srv, s, c);
}

void
mb_tcp_http_peer_fin(struct mb_tcp_http *srv, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	c->cookie |= F_PEER_FIN;
	serve(srv, s, c);
}

void
mb_tcp_http_closed(struct mb_tcp_http *srv, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	(void)srv;
	buf_release(s, c, true);
}
