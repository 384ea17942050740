/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP server's host for tests (see http_host.h): every callback is the
 * real server's, with the image lookup and the emit hook the test gives.
 */
#include <string.h>

#include "http_host.h"

static struct mb_image *
host_lookup(void *arg, const char *name, size_t len)
{
	struct http_host *h = arg;

	return h->img != NULL && len == strlen(h->img->name) && memcmp(name, h->img->name, len) == 0 ?
		       h->img :
		       NULL;
}

void
http_host_init(struct http_host *h, struct mb_image *img, uint16_t port,
	       http_host_emit_fn emit, void *arg)
{
	struct mb_tcp_http_ops ops = { .lookup = host_lookup, .arg = h };

	mb_tcp_http_init(&h->http, &ops);
	h->img = img;
	h->port = port;
	h->emit = emit;
	h->arg = arg;
}

static int
host_emit(void *ctx, const struct mb_tcp_out *o)
{
	struct http_host *h = ctx;

	return h->emit(h->arg, o);
}

static bool
host_listening(void *ctx, const struct mb_tcp_tuple *t)
{
	struct http_host *h = ctx;

	return t->lport == h->port;
}

static int
host_accept(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	return mb_tcp_http_accept(&((struct http_host *)ctx)->http, s, c);
}

static uint32_t
host_recv(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c, const uint8_t *d,
	  uint32_t n)
{
	return mb_tcp_http_recv(&((struct http_host *)ctx)->http, s, c, d, n);
}

static void
host_sent(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	mb_tcp_http_sent(&((struct http_host *)ctx)->http, s, c);
}

static void
host_peer_fin(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	mb_tcp_http_peer_fin(&((struct http_host *)ctx)->http, s, c);
}

static void
host_closed(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	mb_tcp_http_closed(&((struct http_host *)ctx)->http, s, c);
}

const struct mb_tcp_ops http_host_ops = {
	.emit = host_emit,
	.listening = host_listening,
	.accept = host_accept,
	.recv = host_recv,
	.sent = host_sent,
	.peer_fin = host_peer_fin,
	.closed = host_closed,
};
