/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP server on top of the TCP core, without DPDK: it buffers each
 * connection's request bytes (at most MB_HTTP_HDR_MAX, allocated on the first
 * byte and freed when idle), parses pipelined requests with mb_http_parse,
 * and answers each with two spans: a small heap send buffer holding the
 * response header and the requested range of the cached image (a reference
 * taken inside the caller's RCU read side).  At most MB_TCP_SPANS / 2 responses are
 * queued per connection; more pipelined requests wait in the buffer until
 * spans are acknowledged.  Errors are answered and the connection closed.
 *
 * One struct mb_tcp_http per TCP stack (per lcore): its counters have one
 * writer.  The functions have the mb_tcp_ops callback shapes with the server
 * in place of the stack's context; the dataplane glue calls them for
 * connections to tcp.http-port.  Runs on the connection's lcore.
 */
#ifndef _MB_TCP_HTTP_H_
#define _MB_TCP_HTTP_H_

#include <stddef.h>
#include <stdint.h>

#include "tcp.h"

#define MB_TCP_HTTP_COUNTERS(X)                                                                   \
	X(requests, "requests parsed")                                                            \
	X(resp_200, "200 responses")                                                              \
	X(resp_206, "206 responses")                                                              \
	X(resp_304, "304 responses")                                                              \
	X(resp_4xx, "4xx responses (bad request, not found, range...)")                           \
	X(resp_5xx, "5xx responses")                                                              \
	X(body_bytes, "body bytes queued")                                                        \
	X(nomem, "allocation failures (connection reset)")                                        \
	X(src_limit, "connections reset: their source holds its share of request buffers")

struct mb_tcp_http_counters {
#define MB_TCP_HTTP_CNT_FIELD(n, h) uint64_t n;
	MB_TCP_HTTP_COUNTERS(MB_TCP_HTTP_CNT_FIELD)
#undef MB_TCP_HTTP_CNT_FIELD
};

/* What the server asks of its user: the image named name[0..len) (need not
 * be NUL-terminated) or NULL, used only inside the current RCU read side. */
struct mb_tcp_http_ops {
	struct mb_image *(*lookup)(void *arg, const char *name, size_t len);
	void *arg;
};

struct mb_tcp_http {
	struct mb_tcp_http_ops ops;
	struct mb_tcp_http_counters cnt; /* one writer: the owning lcore */
};

/* Set up a server; ops NULL (or its lookup NULL) looks images up in the
 * published table (mb_image_lookup).  Counters start at 0. */
void mb_tcp_http_init(struct mb_tcp_http *h, const struct mb_tcp_http_ops *ops);

int mb_tcp_http_accept(struct mb_tcp_http *h, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
uint32_t mb_tcp_http_recv(struct mb_tcp_http *h, struct mb_tcp_stack *s, struct mb_tcp_conn *c,
			  const uint8_t *data, uint32_t len);
void mb_tcp_http_sent(struct mb_tcp_http *h, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
void mb_tcp_http_peer_fin(struct mb_tcp_http *h, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
void mb_tcp_http_closed(struct mb_tcp_http *h, struct mb_tcp_stack *s, struct mb_tcp_conn *c);

#endif /* _MB_TCP_HTTP_H_ */
