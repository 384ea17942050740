/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossctl's control-socket client (tools/ctl_client.c) against a peer
 * on a socketpair: the request line it sends, the reply it returns, the
 * refusals (no reply, a malformed one), and that every JSON value it
 * makes is freed again: the heap in use is the same before and after each
 * case, so a leaked reference fails here in any build, not only under
 * LeakSanitizer (a request without arguments used to leak its empty
 * "args" object on every call: every `minibossctl wait` poll).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl_client.h"

/* Bytes in use on the heap (one thread: every block is in the main arena).
 * The test runs with glibc's per-thread cache off (GLIBC_TUNABLES in
 * tests/unit/meson.build): mallinfo2() counts blocks in that cache as in
 * use.  jansson's own allocator cannot be swapped for a counting one: the client
 * frees json_dumps()'s text with free(), as jansson's default wants.  Under
 * ASan mallinfo2() is not the real heap's (0), and LeakSanitizer at exit
 * does this check instead. */
static size_t
inuse(void)
{
	return mallinfo2().uordblks;
}

/* A socketpair: fds[0] the client's end, fds[1] the peer's. */
static void
pair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

/* The request line the client wrote, parsed (new reference). */
static json_t *
sent(int peer)
{
	char buf[4096];
	ssize_t n = read(peer, buf, sizeof(buf) - 1);
	json_t *j;

	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strchr(buf, '\n'));
	j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(j);
	return j;
}

static void
reply(int peer, const char *line)
{
	assert_int_equal(write(peer, line, strlen(line)), (ssize_t)strlen(line));
}

static void
test_request_no_args(void **state)
{
	int fds[2], rc = -1;
	size_t before = inuse();
	json_t *r, *req;

	(void)state;
	pair(fds);
	reply(fds[1], "{\"ok\":true,\"result\":{\"state\":\"ok\"}}\n");
	r = mb_ctl_request(fds[0], "health", NULL, 1000, true, &rc);
	assert_non_null(r);
	assert_int_equal(rc, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
							      "state")), "ok");
	req = sent(fds[1]);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")), "health");
	assert_true(json_is_object(json_object_get(req, "args")));
	assert_int_equal(json_object_size(json_object_get(req, "args")), 0);
	json_decref(req);
	json_decref(r);
	assert_int_equal(inuse(), before);
	close(fds[0]);
	close(fds[1]);
}

static void
test_request_args(void **state)
{
	int fds[2], rc = -1;
	size_t before = inuse();
	json_t *args = json_pack("{s:s}", "name", "img");
	json_t *r, *req;

	(void)state;
	pair(fds);
	reply(fds[1], "{\"ok\":false,\"error\":\"no such image\"}\n");
	r = mb_ctl_request(fds[0], "image", args, 1000, true, &rc);
	assert_non_null(r);
	assert_int_equal(rc, 0);
	/* the caller's arguments are still the caller's */
	assert_int_equal(args->refcount, 1);
	req = sent(fds[1]);
	assert_string_equal(json_string_value(json_object_get(json_object_get(req, "args"),
							      "name")), "img");
	json_decref(req);
	json_decref(r);
	json_decref(args);
	assert_int_equal(inuse(), before);
	close(fds[0]);
	close(fds[1]);
}

static void
test_call_result_and_error(void **state)
{
	int fds[2], rc = -1;
	size_t before = inuse();
	json_t *r;

	(void)state;
	pair(fds);
	reply(fds[1], "{\"ok\":true,\"result\":[1,2,3]}\n");
	r = mb_ctl_call(fds[0], "images", NULL, &rc);
	assert_non_null(r);
	assert_int_equal(rc, 0);
	assert_int_equal(json_array_size(r), 3);
	json_decref(r);
	json_decref(sent(fds[1]));
	reply(fds[1], "{\"ok\":false,\"error\":\"nope\"}\n");
	assert_null(mb_ctl_call(fds[0], "images", NULL, &rc));
	assert_int_equal(rc, 1);
	json_decref(sent(fds[1]));
	assert_int_equal(inuse(), before);
	close(fds[0]);
	close(fds[1]);
}

static void
test_bad_replies(void **state)
{
	int fds[2], rc = -1;
	size_t before = inuse();

	(void)state;
	pair(fds);
	/* not JSON, then JSON without "ok": refused, nothing kept */
	reply(fds[1], "garbage\n");
	assert_null(mb_ctl_request(fds[0], "health", NULL, 1000, true, &rc));
	assert_int_equal(rc, 2);
	reply(fds[1], "{\"result\":1}\n");
	assert_null(mb_ctl_request(fds[0], "health", NULL, 1000, true, &rc));
	assert_int_equal(rc, 2);
	/* no reply within the timeout */
	assert_null(mb_ctl_request(fds[0], "health", NULL, 100, true, &rc));
	assert_int_equal(rc, 2);
	/* the peer gone */
	close(fds[1]);
	assert_null(mb_ctl_request(fds[0], "health", NULL, 1000, true, &rc));
	assert_int_equal(rc, 2);
	assert_int_equal(inuse(), before);
	close(fds[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_no_args),
		cmocka_unit_test(test_request_args),
		cmocka_unit_test(test_call_result_and_error),
		cmocka_unit_test(test_bad_replies),
	};

	int fds[2], rc;

	/* a first request, so whatever is set up once is not counted */
	pair(fds);
	reply(fds[1], "{\"ok\":true,\"result\":{}}\n");
	json_decref(mb_ctl_request(fds[0], "health", NULL, 1000, true, &rc));
	json_decref(sent(fds[1]));
	close(fds[0]);
	close(fds[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
