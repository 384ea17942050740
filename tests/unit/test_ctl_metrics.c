/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Prometheus exposition (control/ctl_metrics.c) and its HTTP endpoint
 * (control/ctl_metrics_http.c) with the real control loop, a fake dataplane
 * whose counters are all non-zero, and fake "sessions", "store" and "sync"
 * sections:
 *  - every counter of the X-macro lists is one family, HELP and TYPE once,
 *    counters end in _total, "pkts" reads "packets", values and labels
 *    (port, session, image with a quote and a backslash, reason, code) as
 *    given; `promtool check metrics` accepts the text when promtool exists;
 *  - the endpoint on loopback: a request split over several sends, bare-LF
 *    line ends, HTTP/1.0, a query string and HEAD are served; a bad request
 *    line and a NUL are 400, another method 405, another path 404, a head
 *    over the bound 431, a silent client is closed at the idle timeout, and
 *    the connection limit closes the extra ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_master.h"
#include "ctl_metrics.h"
#include "ctl_priv.h"
#include "dp_counters.h"
#include "mb_cleanup.h"
#include "mb_config.h"
#include "mb_time.h"

#define IMG "pid/we\"ird\\name"

/* ---- fakes: every counter non-zero, its index + 1 ------------------------------ */

static json_t *
fake_stats(void)
{
	json_t *c = json_object(), *t = json_object(), *w = json_array();
	unsigned k = 0;

#define X(n, h) json_object_set_new(c, #n, json_integer(++k));
	MB_DP_COUNTERS(X)
#undef X
	k = 0;
#define X(n, h) json_object_set_new(t, "tcp_" #n, json_integer(1000 + ++k));
	MB_TCP_COUNTERS(X)
	MB_DP_TCP_COUNTERS(X)
#undef X
	k = 0;
#define X(n, h) json_object_set_new(t, "http_" #n, json_integer(2000 + ++k));
	MB_TCP_HTTP_COUNTERS(X)
#undef X
	json_object_set_new(t, "tcp_conns", json_integer(4));
	/* two workers (dpdk.workers): worker i's counters 10000 * (i + 1) + index + 1 */
	for (int i = 0; i < 2; i++) {
		json_t *wc = json_object();

		k = 0;
#define X(n, h) json_object_set_new(wc, #n, json_integer(10000 * (i + 1) + ++k));
		MB_DP_COUNTERS(X)
#undef X
		json_array_append_new(w, json_pack("{s:i,s:i,s:b,s:i,s:o}", "worker", i, "lcore",
						   i + 5, "rx-queue", 1, "sessions", i + 1,
						   "counters", wc));
	}
	return json_pack("{s:i,s:b,s:I,s:I,s:i,s:o,s:o,s:i,s:o}", "port", 3, "link", 1,
			 "speed-bps", (json_int_t)10000000000, "rate-bps", (json_int_t)800,
			 "sessions", 1, "counters", c, "tcp", t, "workers", 2, "lcores", w);
}

static json_t *
fake_sessions_dp(void)
{
	json_t *s = json_pack("{s:i,s:s,s:i,s:I,s:{s:i,s:i}}", "id", 7, "image", IMG, "size", 4096,
			      "rate-bps", (json_int_t)8000, "drops-by-reason", "short", 2,
			      "bad-type", 3);
	unsigned k = 0;

#define X(n, h) json_object_set_new(s, #n, json_integer(3000 + ++k));
	MB_DP_SESS_COUNTERS(X)
#undef X
	return json_pack("[o]", s);
}

static json_t *
act_sessions(json_t *args, char **ret_err)
{
	json_t *cnt = json_object();
	unsigned k = 0;

	(void)args;
	(void)ret_err;
#define X(n, h) json_object_set_new(cnt, #n, json_integer(4000 + ++k));
	MB_MASTER_COUNTERS(X)
#undef X
	return json_pack("{s:{s:o,s:{s:i},s:[]},s:o}", "master", "counters", cnt, "errors",
			 "NOIMAGE", 5, "sessions", "dataplane", fake_sessions_dp());
}

static json_t *
health_store(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
	return json_pack("{s:i,s:i,s:i,s:i,s:I,s:I,s:i,s:{s:i,s:i},s:{s:{s:i,s:b}}}", "ok", 2,
			 "failed", 1, "loading", 0, "downloading", 0, "hugepage-bytes",
			 (json_int_t)1 << 20, "hugepage-budget", (json_int_t)1 << 30,
			 "mapping-faults", 0, "cache", "evictions", 6, "promotions", 7, "images",
			 IMG, "size", 4096, "warm", 1);
}

static json_t *
health_sync(enum mb_health_state *worst, void *arg)
{
	(void)arg;
	*worst = MB_HEALTH_DEGRADED;
	return json_pack("{s:I,s:i,s:i,s:I,s:b,s:b,s:[s],s:i,s:i,s:i,s:i,s:i}", "bytes_fetched",
			 (json_int_t)123456, "rounds", 9, "refusals", 1, "last_sync",
			 (json_int_t)1700000000, "ops_reachable", 1, "running", 0, "orphans",
			 "stray", "orphans-more", 2, "chunks_verified", 40, "chunk_failures", 2,
			 "chunk_refetches", 3, "cut_through", 5);
}

static struct mb_ctl_dp_ops ops;
static struct mb_config cfg;
static uint16_t mport;

static const struct mb_ctl_action sessions_action = { "sessions", act_sessions, "fake" };

static int
setup(void **state)
{
	char spec[32];
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	(void)state;
	/* a free loopback port for the endpoint */
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) != 0)
		return -1;
	mport = ntohs(a.sin_port);
	close(s);
	if (mb_config_defaults(&cfg) != 0)
		return -1;
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", mport);
	free(cfg.metrics_listen);
	cfg.metrics_listen = strdup(spec);
	ops = *mb_ctl_dp();
	ops.stats_json = fake_stats;
	ops.sessions_json = fake_sessions_dp;
	mb_ctl_dp_set(&ops);
	if (mb_ctl_loop_init() != 0)
		return -1;
	mb_ctl_set_config(&cfg);
	if (mb_ctl_action_builtin_register() != 0 || mb_ctl_action_register(&sessions_action) != 0 ||
	    mb_ctl_health_register("store", health_store, NULL) != 0 ||
	    mb_ctl_health_register("sync", health_sync, NULL) != 0 ||
	    mb_ctl_subsys_metrics.start(&cfg) != 0 ||
	    mb_ctl_action_register(&mb_ctl_metrics_action) != 0 ||
	    mb_ctl_health_register("metrics", mb_ctl_subsys_metrics.health, NULL) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mb_ctl_subsys_metrics.stop();
	mb_ctl_loop_fini();
	mb_ctl_registry_clear();
	mb_ctl_dp_set(NULL);
	mb_config_done(&cfg);
	return 0;
}

/* ---- the text ------------------------------------------------------------------ */

static char *text;

/* The number of lines of text equal to `line`. */
static unsigned
count_line(const char *line)
{
	unsigned n = 0;
	size_t l = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p += l)
		if ((p == text || p[-1] == '\n') && (p[l] == '\n' || p[l] == '\0'))
			n++;
	return n;
}

static void
has_line(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (count_line(line) != 1)
		fail_msg("expected once: '%s'\n%s", line, text);
}

/* HELP and TYPE once for each counter of a list, every TYPE a counter
 * ending in _total. */
static void
family_once(const char *prefix, const char *name, const char *help)
{
	char m[160];
	const char *p = strstr(name, "pkts");

	if (p != NULL)
		snprintf(m, sizeof(m), "%s_%.*spackets%s_total", prefix, (int)(p - name), name, p + 4);
	else
		snprintf(m, sizeof(m), "%s_%s_total", prefix, name);
	has_line("# TYPE %s counter", m);
	has_line("# HELP %s %s", m, help);
}

static void
test_text(void **state)
{
	size_t len;
	unsigned k = 0;
	FILE *p;

	(void)state;
	text = mb_ctl_metrics_text(&len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
#define X(n, h) family_once("miniboss_dp", #n, h);
	MB_DP_COUNTERS(X)
#undef X
#define X(n, h) family_once("miniboss_dp_lcore", #n, h);
	MB_DP_COUNTERS(X)
#undef X
#define X(n, h) family_once("miniboss_tcp", #n, h);
	MB_TCP_COUNTERS(X)
	MB_DP_TCP_COUNTERS(X)
#undef X
#define X(n, h) family_once("miniboss_http", #n, h);
	MB_TCP_HTTP_COUNTERS(X)
#undef X
#define X(n, h) family_once("miniboss_session", #n, h);
	MB_DP_SESS_COUNTERS(X)
#undef X
#define X(n, h) family_once("miniboss_master", #n, h);
	MB_MASTER_COUNTERS(X)
#undef X
	/* values and labels */
	has_line("miniboss_dp_rx_packets_total{port=\"3\"} 1");
	has_line("miniboss_dp_rx_bytes_total{port=\"3\"} 2");
	has_line("# HELP miniboss_dp_rx_bytes_total bytes received on the port");
	has_line("miniboss_dp_link_speed_bytes_per_second{port=\"3\"} 1250000000");
	/* each worker's share, labelled */
	has_line("miniboss_dp_lcore_rx_packets_total{port=\"3\",lcore=\"0\"} 10001");
	has_line("miniboss_dp_lcore_rx_packets_total{port=\"3\",lcore=\"1\"} 20001");
	has_line("miniboss_dp_lcore_rx_bytes_total{port=\"3\",lcore=\"1\"} 20002");
	has_line("# TYPE miniboss_dp_lcore_sessions gauge");
	has_line("miniboss_dp_lcore_sessions{port=\"3\",lcore=\"0\"} 1");
	has_line("miniboss_dp_lcore_sessions{port=\"3\",lcore=\"1\"} 2");
	has_line("miniboss_tcp_rx_segs_total{port=\"3\"} 1001");
	has_line("miniboss_http_requests_total{port=\"3\"} 2001");
	has_line("miniboss_tcp_connections{port=\"3\"} 4");
	has_line("miniboss_session_rx_packets_total{session=\"7\",image=\"pid/we\\\"ird\\\\name\"} "
		 "3001");
	has_line("miniboss_session_dropped_by_reason_total{session=\"7\",image=\"pid/we\\\"ird\\\\"
		 "name\",reason=\"bad-type\"} 3");
	has_line("miniboss_session_send_rate_bytes_per_second{session=\"7\",image=\"pid/we\\\"ird"
		 "\\\\name\"} 1000");
	has_line("miniboss_master_connections_total 4001");
	has_line("miniboss_master_errors_total{code=\"NOIMAGE\"} 5");
	has_line("miniboss_images{state=\"failed\"} 1");
	has_line("miniboss_image_warm{image=\"pid/we\\\"ird\\\\name\"} 1");
	has_line("miniboss_cache_promotions_total 7");
	has_line("miniboss_sync_fetched_bytes_total 123456");
	has_line("miniboss_sync_chunks_verified_total 40");
	has_line("miniboss_sync_chunk_failures_total 2");
	has_line("miniboss_sync_chunk_refetches_total 3");
	has_line("miniboss_sync_cut_through_total 5");
	has_line("miniboss_sync_last_round_timestamp_seconds 1700000000");
	has_line("miniboss_sync_orphan_files 3");
	has_line("miniboss_health{state=\"degraded\"} 1");
	has_line("miniboss_health{state=\"ok\"} 0");
	has_line("miniboss_build_info{version=\"%s\"} 1", MB_VERSION);
	has_line("# TYPE miniboss_metrics_requests_total counter");
	/* no family twice */
	for (const char *q = text; (q = strstr(q, "# TYPE ")) != NULL; q++) {
		char line[200];
		size_t l = strcspn(q, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)l, q);
		if (count_line(line) != 1)
			fail_msg("twice: %s", line);
		k++;
	}
	assert_true(k > MB_DP_C_MAX + MB_DP_S_MAX);
	/* the real checker, where it is installed */
	p = popen("if command -v promtool >/dev/null; then promtool check metrics; "
		  "else cat >/dev/null; exit 77; fi", "w");
	assert_non_null(p);
	fwrite(text, 1, len, p);
	k = (unsigned)pclose(p);
	if (WEXITSTATUS(k) == 77)
		printf("# promtool not installed, not run\n");
	else
		assert_int_equal(WEXITSTATUS(k), 0);
	free(text);
	text = NULL;
}

/* ---- the endpoint ----------------------------------------------------------------- */

static int
connect_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(mport),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Pump the loop until fd is closed by the daemon or `ms` pass; the reply. */
static char *
collect(int fd, uint64_t ms)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap + 1);
	uint64_t end = mb_time_mono_ns() / MB_NS_PER_MS + ms;

	assert_non_null(buf);
	while (mb_time_mono_ns() / MB_NS_PER_MS < end) {
		ssize_t r;

		(void)mb_ctl_loop_run_once(10);
		r = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		if (r > 0)
			n += (size_t)r;
		assert_true(n < cap);
	}
	buf[n] = '\0';
	return buf;
}

/* Send the pieces (the loop pumped between), then the reply's first line. */
static void
exchange(const char *const *pieces, const char *want_status, const char *want_body, bool head)
{
	int fd = connect_port();
	char *r;

	for (size_t i = 0; pieces[i] != NULL; i++) {
		assert_int_equal(send(fd, pieces[i], strlen(pieces[i]), MSG_NOSIGNAL),
				 (ssize_t)strlen(pieces[i]));
		for (int k = 0; k < 3; k++)
			(void)mb_ctl_loop_run_once(5);
	}
	r = collect(fd, 5000);
	close(fd);
	if (strncmp(r, want_status, strlen(want_status)) != 0)
		fail_msg("want '%s', got '%.200s'", want_status, r);
	if (want_body != NULL && strstr(r, want_body) == NULL)
		fail_msg("'%s' not in the reply '%.300s'", want_body, r);
	if (head) /* the length of the body, and none */
		assert_string_equal(strstr(r, "\r\n\r\n"), "\r\n\r\n");
	free(r);
}

static void
test_http(void **state)
{
	char big[MB_METRICS_MAX_REQUEST + 100];
	int fds[MB_METRICS_MAX_CONNS + 1];
	char *r;
	uint64_t t0;
	json_t *h;

	(void)state;
	exchange((const char *const[]){ "GET /met", "rics HTTP/1.1\r\nHost: x\r\n", "\r\n", NULL },
		 "HTTP/1.1 200 OK", "miniboss_dp_rx_bytes_total{port=\"3\"} 2\n", false);
	exchange((const char *const[]){ "GET /metrics?x=1 HTTP/1.0\nHost: y\n\n", NULL }, "HTTP/1.1 200",
		 "# TYPE miniboss_build_info gauge", false);
	exchange((const char *const[]){ "HEAD /metrics HTTP/1.1\r\n\r\n", NULL }, "HTTP/1.1 200",
		 "Content-Length: ", true);
	exchange((const char *const[]){ "GET /metricsx HTTP/1.1\r\n\r\n", NULL },
		 "HTTP/1.1 404", NULL, false);
	exchange((const char *const[]){ "POST /metrics HTTP/1.1\r\n\r\n", NULL },
		 "HTTP/1.1 405", "Allow: GET, HEAD", false);
	exchange((const char *const[]){ "GET /metrics\r\n\r\n", NULL }, "HTTP/1.1 400", NULL, false);
	exchange((const char *const[]){ "GET metrics HTTP/1.1\r\n\r\n", NULL }, "HTTP/1.1 400",
		 NULL, false);
	exchange((const char *const[]){ "GET /metrics HTTP/2.0x\r\n\r\n", NULL }, "HTTP/1.1 400",
		 NULL, false);
	{
		int fd = connect_port();

		assert_int_equal(send(fd, "GET /\0metrics HTTP/1.1\r\n\r\n", 27, MSG_NOSIGNAL), 27);
		r = collect(fd, 5000);
		close(fd);
		assert_int_equal(strncmp(r, "HTTP/1.1 400", 12), 0);
		free(r);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	exchange((const char *const[]){ big, NULL }, "HTTP/1.1 431", NULL, false);
	/* the connection limit: the extra one is closed at once, unanswered */
	for (int i = 0; i <= MB_METRICS_MAX_CONNS; i++) {
		fds[i] = connect_port();
		for (int k = 0; k < 3; k++)
			(void)mb_ctl_loop_run_once(5);
	}
	r = collect(fds[MB_METRICS_MAX_CONNS], 2000);
	assert_string_equal(r, "");
	free(r);
	/* a silent client: closed after MB_METRICS_IDLE_MS, not before */
	t0 = mb_time_mono_ns() / MB_NS_PER_MS;
	r = collect(fds[0], MB_METRICS_IDLE_MS + 5000);
	assert_string_equal(r, "");
	assert_true(mb_time_mono_ns() / MB_NS_PER_MS - t0 >= MB_METRICS_IDLE_MS - 2100);
	free(r);
	for (int k = 0; k < 100; k++) /* the others' timers, due at about the same time */
		(void)mb_ctl_loop_run_once(10);
	for (int i = 0; i <= MB_METRICS_MAX_CONNS; i++)
		close(fds[i]);
	h = mb_ctl_health_json(NULL);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "metrics"),
							   "refused")), 1);
	assert_true(json_integer_value(json_object_get(json_object_get(h, "metrics"),
						       "timeouts")) >= MB_METRICS_MAX_CONNS);
	json_decref(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_http),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
