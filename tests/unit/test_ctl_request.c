/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane without DPDK: request line -> reply line (malformed
 * JSON, wrong types, unknown commands, long lines, health aggregation), the
 * epoll loop's timers, and the Unix control socket driven through the loop
 * one pass at a time (client limit, over-long line, a client that never
 * reads, idle timeout).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_config.h"

static json_t *
act_echo(json_t *args, char **ret_err)
{
	(void)ret_err;
	return args != NULL ? json_incref(args) : json_object();
}

static json_t *
act_fail(json_t *args, char **ret_err)
{
	(void)args;
	*ret_err = strdup("it failed");
	return NULL;
}

static json_t *
act_big(json_t *args, char **ret_err)
{
	char *s = malloc(200000);
	json_t *r;

	(void)args;
	(void)ret_err;
	memset(s, 'x', 199999);
	s[199999] = '\0';
	r = json_string(s);
	free(s);
	return r;
}

static json_t *
health_degraded(enum mb_health_state *worst, void *arg)
{
	(void)arg;
	if (*worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	return json_pack("{s:s}", "why", "test");
}

static const struct mb_ctl_action test_actions[] = {
    {"echo", act_echo, "echo args"},
    {"fail", act_fail, "always fails"},
    {"big", act_big, "a 200 kB reply"},
};

static struct mb_config cfg;
static char sockpath[108];
static char tmpdir[32];

static int
setup(void **state)
{
	char err[MB_CFG_ERRLEN];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mbf-ctl-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(sockpath, sizeof(sockpath), "%s/sub/control.sock", tmpdir);
	if (mb_config_defaults(&cfg) != 0 ||
	    mb_config_load_string(&cfg, "[server]\nmax-control-clients = 3\ncontrol-timeout = 1s\n",
	                          err, sizeof(err)) != 0)
		return -1;
	free(cfg.control_socket);
	cfg.control_socket = strdup(sockpath);
	if (mb_ctl_loop_init() != 0)
		return -1;
	mb_ctl_set_config(&cfg);
	if (mb_ctl_action_builtin_register() != 0)
		return -1;
	for (size_t i = 0; i < sizeof(test_actions) / sizeof(test_actions[0]); i++)
		if (mb_ctl_action_register(&test_actions[i]) != 0)
			return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mb_ctl_core_stop();
	mb_ctl_loop_fini();
	mb_ctl_registry_clear();
	mb_config_done(&cfg);
	snprintf(sockpath, sizeof(sockpath), "%s/sub", tmpdir);
	(void)rmdir(sockpath);
	(void)rmdir(tmpdir);
	return 0;
}

static json_t *
handle(const char *line)
{
	char *r = mb_ctl_request_handle(line, strlen(line));
	json_t *j;
	size_t n;

	assert_non_null(r);
	n = strlen(r);
	assert_true(n > 0 && r[n - 1] == '\n');
	assert_null(memchr(r, '\n', n - 1));
	j = json_loads(r, 0, NULL);
	assert_non_null(j);
	free(r);
	return j;
}

static void
expect_error(const char *line, const char *needle)
{
	json_t *j = handle(line);
	json_t *e = json_object_get(j, "error");

	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_true(json_is_string(e));
	if (needle != NULL && strstr(json_string_value(e), needle) == NULL)
		fail_msg("'%s' lacks '%s'", json_string_value(e), needle);
	json_decref(j);
}

static void
test_requests(void **state)
{
	json_t *j;
	char *huge;

	(void)state;
	j = handle("{\"cmd\":\"echo\",\"args\":{\"a\":1}}");
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "result"), "a")), 1);
	json_decref(j);
	j = handle("{\"cmd\":\"echo\",\"args\":null}");
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);

	expect_error("{\"cmd\":\"fail\"}", "it failed");
	expect_error("{\"cmd\":\"nosuch\"}", "unknown command");
	expect_error("{\"cmd\":", "malformed JSON");
	expect_error("not json", "malformed JSON");
	expect_error("[1,2]", "not a JSON object");
	expect_error("\"health\"", "not a JSON object");
	expect_error("{}", "cmd");
	expect_error("{\"cmd\":5}", "cmd");
	expect_error("{\"cmd\":\"\"}", "cmd");
	expect_error("{\"cmd\":\"he\\u0000alth\"}", "NUL");
	expect_error("{\"cmd\":\"echo\",\"args\":[1]}", "args");
	expect_error("{\"cmd\":\"echo\",\"cmd\":\"echo\"}", "malformed");
	expect_error("\xff\xfe{}", "malformed");
	huge = malloc(MB_CTL_MAX_LINE + 2);
	memset(huge, ' ', MB_CTL_MAX_LINE + 1);
	huge[MB_CTL_MAX_LINE + 1] = '\0';
	expect_error(huge, "too long");
	free(huge);
}

static void
test_health(void **state)
{
	json_t *j, *r;

	(void)state;
	j = handle("{\"cmd\":\"health\"}");
	r = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(r, "state")), "ok");
	assert_string_equal(json_string_value(json_object_get(r, "version")), MB_VERSION);
	assert_true(json_is_integer(json_object_get(r, "uptime")));
	assert_int_equal(json_integer_value(json_object_get(r, "pid")), getpid());
	json_decref(j);

	assert_int_equal(mb_ctl_health_register("test", health_degraded, NULL), 0);
	assert_int_equal(mb_ctl_health_register("test", health_degraded, NULL), -EEXIST);
	j = handle("{\"cmd\":\"health\"}");
	r = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(r, "state")), "degraded");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "test"), "why")),
	                    "test");
	json_decref(j);
	mb_ctl_health_set_floor(MB_HEALTH_DRAINING);
	j = handle("{\"cmd\":\"health\"}");
	r = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(r, "state")), "draining");
	json_decref(j);
	mb_ctl_health_set_floor(MB_HEALTH_OK);

	j = handle("{\"cmd\":\"config\"}");
	assert_non_null(json_object_get(json_object_get(j, "result"), "server"));
	json_decref(j);
	assert_int_equal(mb_ctl_action_register(&test_actions[0]), -EEXIST);
}

static int fired;

static void
on_timer(void *arg)
{
	(void)arg;
	fired++;
}

static struct mb_ctl_timer *self_timer;

static void
on_timer_free(void *arg)
{
	(void)arg;
	fired += 10;
	mb_ctl_timer_free(self_timer); /* freeing itself from its callback is allowed */
	self_timer = NULL;
}

static void
test_timers(void **state)
{
	struct mb_ctl_timer *t;

	(void)state;
	fired = 0;
	t = mb_ctl_timer_new(1, 1, on_timer, NULL);
	assert_non_null(t);
	while (fired < 3)
		assert_true(mb_ctl_loop_run_once(1000) >= 0);
	mb_ctl_timer_free(t);
	fired = 0;
	self_timer = mb_ctl_timer_new(0, 0, on_timer_free, NULL);
	assert_non_null(self_timer);
	while (fired < 10)
		assert_true(mb_ctl_loop_run_once(1000) >= 0);
	assert_null(self_timer);
	assert_int_equal(mb_ctl_timer_rearm(t = mb_ctl_timer_new(60000, 0, on_timer, NULL), 1, 0),
	                 0);
	while (fired < 11)
		assert_true(mb_ctl_loop_run_once(1000) >= 0);
	mb_ctl_timer_free(t);
	mb_ctl_timer_free(NULL);
}

static int rearms;
static struct mb_ctl_timer *rearm_timer;

static void
on_rearm_zero(void *arg)
{
	(void)arg;
	rearms++;
	(void)mb_ctl_timer_rearm(rearm_timer, 0, 0);
}

static int deferred;

static void
on_defer(void *arg)
{
	deferred += *(int *)arg;
}

static int
count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/* The ownership contract of ctl.h: a fired one-shot stays its creator's
 * (disarmed, rearmable) until freed; timers cost no descriptor; a timer
 * rearming itself at 0 ms fires once per pass instead of looping; a
 * deferred call runs once, at the end of the pass, and a pending one makes
 * the next pass not block. */
static void
test_timer_ownership(void **state)
{
	struct mb_ctl_timer *t, *many[1000];
	unsigned base = mb_ctl_timer_count();
	struct mb_ctl_defer d = {0};
	int fds = count_fds(), one = 1;

	(void)state;
	fired = 0;
	t = mb_ctl_timer_new(0, 0, on_timer, NULL);
	assert_non_null(t);
	assert_int_equal(mb_ctl_timer_count(), base + 1);
	while (fired < 1)
		assert_true(mb_ctl_loop_run_once(1000) >= 0);
	for (int i = 0; i < 3; i++)
		(void)mb_ctl_loop_run_once(5);
	assert_int_equal(fired, 1); /* one-shot */
	assert_int_equal(mb_ctl_timer_count(), base + 1); /* still the creator's */
	assert_int_equal(mb_ctl_timer_rearm(t, 0, 0), 0);
	while (fired < 2)
		assert_true(mb_ctl_loop_run_once(1000) >= 0);
	mb_ctl_timer_free(t);
	assert_int_equal(mb_ctl_timer_count(), base);

	for (int i = 0; i < 1000; i++)
		assert_non_null(many[i] = mb_ctl_timer_new(60000 + (uint64_t)i, 0, on_timer, NULL));
	assert_int_equal(count_fds(), fds);
	for (int i = 0; i < 1000; i += 2)
		mb_ctl_timer_free(many[i]);
	for (int i = 1; i < 1000; i += 2)
		mb_ctl_timer_free(many[i]);
	assert_int_equal(mb_ctl_timer_count(), base);

	rearm_timer = mb_ctl_timer_new(0, 0, on_rearm_zero, NULL);
	rearms = 0;
	for (int i = 0; i < 5; i++)
		(void)mb_ctl_loop_run_once(1000);
	assert_true(rearms >= 4 && rearms <= 5);
	mb_ctl_timer_free(rearm_timer);

	deferred = 0;
	mb_ctl_defer(&d, on_defer, &one);
	mb_ctl_defer(&d, on_defer, &one); /* queued already: once */
	assert_int_equal(deferred, 0);
	(void)mb_ctl_loop_run_once(-1); /* must not block */
	assert_int_equal(deferred, 1);
	(void)mb_ctl_loop_run_once(0);
	assert_int_equal(deferred, 1);
	assert_int_equal(mb_ctl_timer_count(), base);
}

/* ---- socket ---- */

static int
connect_client(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Pump the loop until fd has a line (or EOF); returns the line or NULL. */
static char *
read_reply(int fd)
{
	static char buf[1 << 20];
	size_t len = 0;

	for (int i = 0; i < 2000; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		(void)mb_ctl_loop_run_once(5);
		if (poll(&p, 1, 0) <= 0)
			continue;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			return NULL;
		if (n < 0)
			continue;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) != NULL)
			return strdup(buf);
	}
	return NULL;
}

/* The next line on fd (within read_reply's wait) contains needle. */
static void
expect_reply(int fd, const char *needle)
{
	char *r = read_reply(fd);

	assert_non_null(r);
	if (strstr(r, needle) == NULL)
		fail_msg("reply '%s' does not contain '%s'", r, needle);
	free(r);
}

static void
send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

static bool
closed_by_peer(int fd)
{
	char c;

	for (int i = 0; i < 2000; i++) {
		ssize_t n;

		(void)mb_ctl_loop_run_once(5);
		n = recv(fd, &c, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

static const struct mb_ctl_subsys *const sock_only[] = { &mb_ctl_subsys_sock };

static void
test_socket(void **state)
{
	int a, b, c, d, slow;
	char *chunk;

	(void)state;
	assert_int_equal(mb_ctl_core_start(&cfg, NULL, sock_only, 1), 0);
	/* Root only by default (server.control-socket-mode = 0600). */
	{
		struct stat st;

		assert_int_equal(stat(sockpath, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	a = connect_client();
	send_str(a, "{\"cmd\":\"echo\",\"args\":{\"x\":\"y\"}}\n{\"cmd\":\"nosuch\"}\n");
	expect_reply(a, "\"ok\":true");

	/* Limit of 3 clients: the 4th gets an error line and EOF. */
	b = connect_client();
	c = connect_client();
	(void)mb_ctl_loop_run_once(10);
	d = connect_client();
	expect_reply(d, "too many");
	close(d);

	/* Over-long line: error and close; the others still work. */
	chunk = malloc(MB_CTL_MAX_LINE + 100);
	memset(chunk, 'a', MB_CTL_MAX_LINE + 99);
	chunk[MB_CTL_MAX_LINE + 99] = '\0';
	for (size_t off = 0; off < strlen(chunk);) {
		ssize_t n = send(b, chunk + off, strlen(chunk) - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			off += (size_t)n;
		(void)mb_ctl_loop_run_once(1);
		if (n < 0 && errno != EAGAIN)
			break;
	}
	free(chunk);
	expect_reply(b, "too long");
	assert_true(closed_by_peer(b));
	close(b);

	/* A client that asks for a lot and never reads is dropped. */
	slow = c;
	{
		int sz = 4096;

		setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	for (int i = 0; i < 100; i++) {
		(void)send(slow, "{\"cmd\":\"big\"}\n", 14, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)mb_ctl_loop_run_once(1);
	}
	{
		/* Drain: far less than the 20 MB asked for arrives, then EOF. */
		static char sink[65536];
		size_t total = 0;
		bool eof = false;

		for (int i = 0; i < 20000 && !eof; i++) {
			ssize_t n;

			(void)mb_ctl_loop_run_once(1);
			n = recv(slow, sink, sizeof(sink), MSG_DONTWAIT);
			if (n > 0)
				total += (size_t)n;
			else if (n == 0 || errno == ECONNRESET)
				eof = true;
		}
		assert_true(eof);
		assert_true(total < 100 * 200000);
	}
	close(slow);

	/* The server still answers.  A new client: `a` may have idled out (1 s)
	 * while the slow client was drained, on a slow machine or under
	 * valgrind. */
	close(a);
	a = connect_client();
	send_str(a, "{\"cmd\":\"health\"}\n");
	expect_reply(a, "\"control\"");

	/* Idle timeout (1 s): a notice, then EOF. */
	expect_reply(a, "idle");
	assert_true(closed_by_peer(a));
	close(a);
	mb_ctl_core_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_health),
	    cmocka_unit_test(test_timers),
	    cmocka_unit_test(test_timer_ownership),
	    cmocka_unit_test(test_socket),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
