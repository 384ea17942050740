/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A host for the real HTTP server (dataplane/tcp_http.c) over the real TCP
 * core, for the unit tests and the fuzz harnesses: the mb_tcp_ops a stack
 * needs, with the stack's context an http_host that listens on one port,
 * knows one image (looked up by its name) and hands every segment the core
 * emits to the test's own emit function.  Shared by tests/unit/test_tcp_http.c
 * and tests/fuzz/fuzz_tcp_input.c (also built by tests/unit/test_garbage.c).
 */
#ifndef _MBT_HTTP_HOST_H_
#define _MBT_HTTP_HOST_H_

#include <stdint.h>

#include "tcp.h"
#include "tcp_http.h"

typedef int (*http_host_emit_fn)(void *arg, const struct mb_tcp_out *o);

struct http_host {
	struct mb_tcp_http http;
	struct mb_image *img; /* the one image (the test's reference) */
	uint16_t port;	      /* where the server listens */
	http_host_emit_fn emit;
	void *arg;
};

/* Pass h as the context of mb_tcp_stack_new with http_host_ops. */
void http_host_init(struct http_host *h, struct mb_image *img, uint16_t port,
		    http_host_emit_fn emit, void *arg);

extern const struct mb_tcp_ops http_host_ops;

#endif /* _MBT_HTTP_HOST_H_ */
