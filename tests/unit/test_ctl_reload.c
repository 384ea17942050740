/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reload of the control library's own keys: each reloadable key the key
 * table gives to a control subsystem changes what a client sees once a new
 * configuration is applied, on the real control loop (a thread of its own)
 * and the real subsystem table, with only the dataplane faked (tests/fakes).
 * The test thread plays every client over real sockets: the Unix control
 * socket, the master server, FTP control, the TLS control socket.
 *
 * A new configuration is the live one with some keys set again from text
 * and goes through mb_ctl_core_apply, the second half of the daemon's reload
 * (the file half is the same parser and checks as `minibossd -n`, tested in
 * test_config and the system tests): the loop's own "test-apply" action does
 * it on the control thread, so listeners can stay on ports the kernel picked.
 *
 *   server.log-level            the level the log takes
 *   server.max-control-clients  the client limit of both control sockets
 *   server.control-timeout      when an idle control client is closed
 *   frisbee.methods             the methods GETSTATUS offers and GET uses
 *   frisbee.master-proxy        GET on behalf of another node
 *   frisbee.master-max-per-source, max-sessions-per-source,
 *   max-unicast-sessions        the master server's limits
 *   frisbee.rate, port-rate     boss's load figure (its caps)
 *   dpdk.idle-sleep-us          reaches the dataplane's reconfig
 *   tcp.ftp-max-per-source      FTP control connections of one address
 *   control.tls-cert, tls-key, tls-ca
 *                               the TLS socket's credentials (a key that
 *                               does not match refuses the reload and the old
 *                               credentials stay)
 * and a key that needs a restart is refused by name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_time.h"
#include "mbt_net.h"
#include "ms_wire.h"

static struct mb_config cfg;
static char dir[64], sock_path[128];
static uint16_t ftp_port, master_port, tls_port; /* the kernel picked them */

/* ---- the control thread: the table, and "test-apply" ---------------------------- */

/* args.set: configuration text applied over a copy of the live
 * configuration, then mb_ctl_core_apply. */
static json_t *
action_apply(json_t *args, char **ret_err)
{
	const char *text = json_string_value(json_object_get(args, "set"));
	char err[MB_CFG_ERRLEN] = "";
	struct mb_config c;
	int rc;

	if (text == NULL || mb_config_copy(&c, mb_ctl_config()) != 0) {
		*ret_err = strdup("set: missing, or out of memory");
		return NULL;
	}
	rc = mb_config_load_string(&c, text, err, sizeof(err));
	if (rc == 0)
		rc = mb_ctl_core_apply(&c, err, sizeof(err));
	mb_config_done(&c);
	if (rc != 0) {
		*ret_err = strdup(err);
		return NULL;
	}
	return json_pack("{s:b}", "applied", 1);
}

static const struct mb_ctl_action apply_action = { "test-apply", action_apply,
						   "apply configuration text (test)" };

static int
nop_start(const struct mb_config *c)
{
	(void)c;
	return 0;
}

static void
nop_stop(void)
{
}

static const struct mb_ctl_subsys subsys_apply = {
	.name = "test-apply",
	.title = "the test's apply action",
	.start = nop_start,
	.stop = nop_stop,
	.actions = &apply_action,
	.n_actions = 1,
};

/* ---- clients ---------------------------------------------------------------------- */

/* One request on connection fd; the reply object (NULL: no reply line). */
static json_t *
ctl_on(int fd, const char *cmd, json_t *args)
{
	json_t *req =
	    json_pack("{s:s,s:o}", "cmd", cmd, "args", args != NULL ? args : json_object());
	char *line = json_dumps(req, JSON_COMPACT), buf[1 << 16];
	json_t *rep = NULL;

	json_decref(req);
	assert_non_null(line);
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) == (ssize_t)strlen(line) &&
	    send(fd, "\n", 1, MSG_NOSIGNAL) == 1 && mbt_read_until(fd, buf, sizeof(buf), "\n"))
		rep = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	free(line);
	return rep;
}

/* One request on a connection of its own. */
static json_t *
ctl(const char *cmd, json_t *args)
{
	int fd = mbt_dial_unix(sock_path);
	json_t *rep;

	assert_true(fd >= 0);
	rep = ctl_on(fd, cmd, args);
	close(fd);
	return rep;
}

/* Apply configuration text; NULL when applied, else the error (malloc'd). */
static char *
apply_text(const char *text)
{
	json_t *rep = ctl("test-apply", json_pack("{s:s}", "set", text));
	char *err = NULL;

	assert_non_null(rep);
	if (!json_is_true(json_object_get(rep, "ok")))
		err = strdup(json_string_value(json_object_get(rep, "error")) ?: "?");
	json_decref(rep);
	return err;
}

static void
apply(const char *text)
{
	char *err = apply_text(text);

	if (err != NULL)
		fail_msg("applying '%s': %s", text, err);
}

/* The health reply's result. */
static json_t *
health(void)
{
	json_t *rep = ctl("health", NULL), *r;

	assert_non_null(rep);
	r = json_incref(json_object_get(rep, "result"));
	json_decref(rep);
	assert_non_null(r);
	return r;
}

/* TLS clients closed at once for the client limit. */
static json_int_t
tls_rejected(void)
{
	json_t *h = health();
	json_int_t n = json_integer_value(
	    json_object_get(json_object_get(h, "control-tls"), "rejected"));

	json_decref(h);
	return n;
}

/* Wait until the Unix socket holds no client but the asking one. */
static void
control_clients_settle(void)
{
	for (int i = 0; i < 200; i++) {
		json_t *h = health();
		json_int_t n = json_integer_value(
		    json_object_get(json_object_get(h, "control"), "clients"));

		json_decref(h);
		if (n == 1)
			return;
		usleep(20000);
	}
	fail_msg("control clients never settled");
}

/* A master-server GET or GETSTATUS from `src`; the reply's error, or -1. */
static int
master_ask(const char *src, const char *image, uint8_t methods, bool status, uint32_t hostip,
	   struct mb_ms_get_reply *r)
{
	struct mb_ms_get_request q = { .hostip = hostip, .methods = methods, .status = status };
	uint8_t req[MB_MS_GETREQ_LEN], rep[MB_MS_MSG_MAX];
	size_t got = 0;
	ssize_t n;
	int fd = mbt_dial_tcp_from(src, master_port);

	assert_true(fd >= 0);
	q.idlen = (uint16_t)strlen(image);
	memcpy(q.imageid, image, q.idlen);
	assert_int_equal(mb_ms_get_request_encode(&q, req, sizeof(req)), 0);
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		close(fd);
		return -1;
	}
	while ((n = recv(fd, rep + got, sizeof(rep) - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	if (got != MB_MS_GETREPLY_LEN || mb_ms_get_reply_decode(rep, got, r, NULL) != 0)
		return -1;
	return r->error;
}

static SSL *tls_open(const char *who, char *cn, size_t cnlen);
static void tls_close(SSL *s);

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_log_level(void **state)
{
	(void)state;
	assert_int_equal(mb_log_get_level(), MB_LOG_INFO);
	apply("[server]\nlog-level = debug\n");
	assert_int_equal(mb_log_get_level(), MB_LOG_DEBUG);
	apply("[server]\nlog-level = warning\n");
	assert_int_equal(mb_log_get_level(), MB_LOG_WARNING);
	apply("[server]\nlog-level = info\n");
	assert_int_equal(mb_log_get_level(), MB_LOG_INFO);
}

static void
test_max_control_clients(void **state)
{
	int c[4];
	json_t *r;

	(void)state;
	apply("[server]\nmax-control-clients = 3\n");
	/* the TLS socket: three clients, the fourth is closed at once */
	{
		json_int_t rejected = tls_rejected();
		SSL *t[4];
		char cn[128];

		for (int i = 0; i < 3; i++)
			assert_non_null(t[i] = tls_open("c1", cn, sizeof(cn)));
		assert_null(t[3] = tls_open("c1", cn, sizeof(cn)));
		assert_int_equal(tls_rejected(), rejected + 1);
		for (int i = 0; i < 3; i++)
			tls_close(t[i]);
	}
	control_clients_settle();
	for (int i = 0; i < 3; i++) {
		c[i] = mbt_dial_unix(sock_path);
		assert_true(c[i] >= 0);
		r = ctl_on(c[i], "health", NULL);
		assert_non_null(r);
		assert_true(json_is_true(json_object_get(r, "ok")));
		json_decref(r);
	}
	/* the fourth: an error line, then closed */
	c[3] = mbt_dial_unix(sock_path);
	assert_true(c[3] >= 0);
	{
		char buf[512];

		assert_true(mbt_read_until(c[3], buf, sizeof(buf), "\n"));
		assert_non_null(strstr(buf, "too many control clients"));
		assert_true(mbt_read_eof(c[3]));
	}
	for (int i = 0; i < 4; i++)
		close(c[i]);
	/* back to 32: it accepts again (retries while the closes settle) */
	for (int i = 0; i < 100; i++) {
		char *e = apply_text("[server]\nmax-control-clients = 32\n");

		if (e == NULL)
			break;
		free(e);
		usleep(20000);
	}
	control_clients_settle();
}

static void
test_control_timeout(void **state)
{
	uint64_t t0, ms;
	int fd;

	(void)state;
	/* default 30 s: still open after 1.5 s */
	fd = mbt_dial_unix(sock_path);
	assert_true(fd >= 0);
	mbt_set_timeouts(fd, 1500);
	assert_false(mbt_read_eof(fd));
	close(fd);
	apply("[server]\ncontrol-timeout = 1s\n");
	fd = mbt_dial_unix(sock_path);
	assert_true(fd >= 0);
	mbt_set_timeouts(fd, 10000);
	t0 = mb_time_mono_ns();
	assert_true(mbt_read_eof(fd));
	ms = (mb_time_mono_ns() - t0) / MB_NS_PER_MS;
	print_message("idle client closed after %" PRIu64 " ms\n", ms);
	assert_true(ms >= 800 && ms < 8000);
	close(fd);
	apply("[server]\ncontrol-timeout = 30s\n");
}

static void
test_master(void **state)
{
	struct mb_ms_get_reply r;
	const uint32_t other = 0x0a000063u; /* 10.0.0.99, a node we act for */
	int held[3];

	(void)state;
	/* frisbee.methods */
	assert_int_equal(master_ask(NULL, "test/a", MB_MS_METHOD_ANY, true, 0, &r), 0);
	assert_int_equal(r.method, MB_MS_METHOD_MULTICAST | MB_MS_METHOD_UNICAST);
	apply("[frisbee]\nmethods = ucast\n");
	assert_int_equal(master_ask(NULL, "test/a", MB_MS_METHOD_ANY, true, 0, &r), 0);
	assert_int_equal(r.method, MB_MS_METHOD_UNICAST);
	apply("[frisbee]\nmethods = mcast,ucast\n");

	/* frisbee.master-proxy and master-proxies (a unicast session goes to
	 * the proxy that asked) */
	assert_int_equal(master_ask("127.0.0.11", "test/a", MB_MS_METHOD_UNICAST, false, other, &r),
			 MB_MS_ERROR_NOACCESS);
	apply("[frisbee]\nmaster-proxy = yes\n");
	assert_int_equal(master_ask("127.0.0.11", "test/a", MB_MS_METHOD_UNICAST, false, other, &r),
			 0);
	assert_int_equal(mbt_sess.last.addr, htonl(0x7f00000bu));
	apply("[frisbee]\nmaster-proxy = no\n");
	assert_int_equal(master_ask("127.0.0.12", "test/b", MB_MS_METHOD_UNICAST, false, other, &r),
			 MB_MS_ERROR_NOACCESS);
	apply("[frisbee]\nmaster-proxies = 127.0.0.12\n");
	assert_int_equal(master_ask("127.0.0.12", "test/b", MB_MS_METHOD_UNICAST, false, other, &r),
			 0);
	assert_int_equal(mbt_sess.last.addr, htonl(0x7f00000cu));
	apply("[frisbee]\nmaster-proxies =\n");

	/* frisbee.master-max-per-source: the third connection is closed at once */
	apply("[frisbee]\nmaster-max-per-source = 2\n");
	for (int i = 0; i < 3; i++)
		assert_true((held[i] = mbt_dial_tcp_from("127.0.0.7", master_port)) >= 0);
	mbt_set_timeouts(held[2], 2000); /* an accepted one waits 5 s for its request */
	assert_true(mbt_read_eof(held[2]));
	for (int i = 0; i < 3; i++)
		close(held[i]);
	apply("[frisbee]\nmaster-max-per-source = 16\n");

	/* frisbee.max-sessions-per-source */
	apply("[frisbee]\nmax-sessions-per-source = 1\n");
	assert_int_equal(master_ask("127.0.0.8", "test/a", MB_MS_METHOD_MULTICAST, false, 0, &r),
			 0);
	assert_int_equal(master_ask("127.0.0.8", "test/b", MB_MS_METHOD_MULTICAST, false, 0, &r),
			 MB_MS_ERROR_TRYAGAIN);
	apply("[frisbee]\nmax-sessions-per-source = 8\n");
	assert_int_equal(master_ask("127.0.0.8", "test/b", MB_MS_METHOD_MULTICAST, false, 0, &r),
			 0);

	/* frisbee.max-unicast-sessions (one unicast session per client; the
	 * two proxies above hold one each already) */
	apply("[frisbee]\nmethods = ucast\nmax-unicast-sessions = 3\n");
	assert_int_equal(master_ask("127.0.0.9", "test/a", MB_MS_METHOD_ANY, false, 0, &r), 0);
	assert_int_equal(r.method, MB_MS_METHOD_UNICAST);
	assert_int_equal(master_ask("127.0.0.10", "test/a", MB_MS_METHOD_ANY, false, 0, &r),
			 MB_MS_ERROR_TRYAGAIN);
	apply("[frisbee]\nmax-unicast-sessions = 4\n");
	assert_int_equal(master_ask("127.0.0.10", "test/a", MB_MS_METHOD_ANY, false, 0, &r), 0);
	apply("[frisbee]\nmethods = mcast,ucast\nmax-unicast-sessions = 0\n");
}

static void
test_ftp(void **state)
{
	char buf[512];
	int f[3];

	(void)state;
	apply("[tcp]\nftp-max-per-source = 1\n");
	assert_true((f[0] = mbt_dial_tcp_from("127.0.0.12", ftp_port)) >= 0);
	assert_true(mbt_read_until(f[0], buf, sizeof(buf), "220 "));
	assert_true((f[1] = mbt_dial_tcp_from("127.0.0.12", ftp_port)) >= 0);
	assert_true(mbt_read_until(f[1], buf, sizeof(buf), "421 "));
	apply("[tcp]\nftp-max-per-source = 8\n");
	assert_true((f[2] = mbt_dial_tcp_from("127.0.0.12", ftp_port)) >= 0);
	assert_true(mbt_read_until(f[2], buf, sizeof(buf), "220 "));
	for (int i = 0; i < 3; i++)
		close(f[i]);
}

static void
test_boss_and_dataplane(void **state)
{
	unsigned before = mbt_dp.reconfigs;
	json_t *h, *tx;
	char *err;

	(void)state;
	apply("[frisbee]\nrate = 300M\nport-rate = 500M\n[dpdk]\nidle-sleep-us = 7\n");
	h = health();
	tx = json_object_get(json_object_get(h, "boss"), "tx");
	assert_int_equal(json_integer_value(json_object_get(tx, "session-cap-bps")), 300000000);
	assert_int_equal(json_integer_value(json_object_get(tx, "cap-bps")), 500000000);
	json_decref(h);
	assert_true(mbt_dp.reconfigs > before);
	assert_int_equal(mbt_dp.idle_sleep_us, 7);
	/* a key that needs a restart: refused by name, nothing applied */
	err = apply_text("[frisbee]\nmax-sessions = 8\nrate = 1G\n");
	assert_non_null(err);
	assert_non_null(strstr(err, "[frisbee] max-sessions is not reloadable"));
	free(err);
	h = health();
	tx = json_object_get(json_object_get(h, "boss"), "tx");
	assert_int_equal(json_integer_value(json_object_get(tx, "session-cap-bps")), 300000000);
	json_decref(h);
}

/* ---- the TLS control socket -------------------------------------------------------- */

/* Session tickets the server sent (every client below counts them). */
static unsigned tickets;

static int
count_ticket(SSL *s, SSL_SESSION *sess)
{
	(void)s;
	(void)sess;
	tickets++;
	return 0; /* not kept: the caller still owns sess */
}

/* A TLS connection presenting certificate `who` (DIR/who.pem and .key) that
 * answered one health request, left open; NULL when refused.  The server
 * certificate's CN in cn. */
static SSL *
tls_open(const char *who, char *cn, size_t cnlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	static const char req[] = "{\"cmd\":\"health\"}\n";
	char path[128], buf[1 << 16];
	size_t got = 0;
	bool ok = false;
	X509 *pc;
	SSL *s;
	int fd;

	cn[0] = '\0';
	assert_non_null(ctx);
	snprintf(path, sizeof(path), "%s/%s.pem", dir, who);
	assert_int_equal(SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM), 1);
	snprintf(path, sizeof(path), "%s/%s.key", dir, who);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(ctx, count_ticket);
	fd = mbt_dial_tcp_from(NULL, tls_port);
	assert_true(fd >= 0);
	s = SSL_new(ctx);
	SSL_CTX_free(ctx); /* s holds its own reference */
	assert_non_null(s);
	SSL_set_fd(s, fd);
	if (SSL_connect(s) != 1)
		goto out;
	pc = SSL_get1_peer_certificate(s);
	if (pc != NULL) {
		(void)X509_NAME_get_text_by_NID(X509_get_subject_name(pc), NID_commonName, cn,
						(int)cnlen);
		X509_free(pc);
	}
	if (SSL_write(s, req, (int)sizeof(req) - 1) != (int)sizeof(req) - 1)
		goto out;
	while (got + 1 < sizeof(buf)) {
		int n = SSL_read(s, buf + got, (int)(sizeof(buf) - 1 - got));

		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (memchr(buf, '\n', got) != NULL) {
			ok = strstr(buf, "\"ok\":true") != NULL;
			break;
		}
	}
out:
	if (ok)
		return s;
	SSL_free(s);
	close(fd);
	return NULL;
}

static void
tls_close(SSL *s)
{
	int fd = SSL_get_fd(s);

	SSL_free(s);
	close(fd);
}

/* One health request over TLS: true when answered. */
static bool
tls_health(const char *who, char *cn, size_t cnlen)
{
	SSL *s = tls_open(who, cn, cnlen);

	if (s != NULL)
		tls_close(s);
	return s != NULL;
}

/* No session ticket: the server keeps no session cache, so a ticket is of
 * no use; and sent after a TLS 1.3 handshake, ahead of the first reply, it
 * held that reply back a delayed ACK (~40 ms, Nagle) on every new
 * connection. */
static void
test_tls_no_ticket(void **state)
{
	char cn[128];

	(void)state;
	assert_int_not_equal(tls_port, 0);
	tickets = 0;
	assert_true(tls_health("c1", cn, sizeof(cn)));
	assert_int_equal(tickets, 0);
}

/* Lines the TLS socket logged about one client's handshake (the sink
 * setup installs counts them, then writes every line as the default one). */
static atomic_uint handshake_lines;

static void
count_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	char line[1024];
	int n = mb_log_prefix(level, line, sizeof(line));

	(void)mod;
	if (strstr(fmt, "tls control: %s: handshake") != NULL)
		atomic_fetch_add(&handshake_lines, 1);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

/* Clients without a certificate cost the log a bounded number of lines,
 * however many come (each failed handshake had its INFO line: anyone who
 * reaches the port could fill the log). */
static void
test_tls_failures_log_bounded(void **state)
{
	json_int_t before;
	json_t *h;

	(void)state;
	assert_int_not_equal(tls_port, 0);
	h = health();
	before = json_integer_value(
	    json_object_get(json_object_get(h, "control-tls"), "handshake-failed"));
	json_decref(h);
	atomic_store(&handshake_lines, 0);
	for (int i = 0; i < 40; i++) {
		int fd = mbt_dial_tcp_from(NULL, tls_port);
		char buf[256];

		assert_true(fd >= 0);
		/* not a ClientHello: the server's handshake fails at once */
		assert_int_equal(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	h = health();
	assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "control-tls"),
							     "handshake-failed")),
			 before + 40);
	json_decref(h);
	assert_true(atomic_load(&handshake_lines) <= 10);
}

static void
test_tls(void **state)
{
	char cn[128], text[512], *err;

	(void)state;
	assert_int_not_equal(tls_port, 0);
	assert_true(tls_health("c1", cn, sizeof(cn)));
	assert_string_equal(cn, "mbt-s1");
	assert_false(tls_health("c2", cn, sizeof(cn))); /* ca2 signed it */

	/* tls-cert and tls-key */
	snprintf(text, sizeof(text), "[control]\ntls-cert = %s/s2.pem\ntls-key = %s/s2.key\n", dir,
		 dir);
	apply(text);
	assert_true(tls_health("c1", cn, sizeof(cn)));
	assert_string_equal(cn, "mbt-s2");

	/* tls-ca */
	snprintf(text, sizeof(text), "[control]\ntls-ca = %s/ca2.pem\n", dir);
	apply(text);
	assert_false(tls_health("c1", cn, sizeof(cn)));
	assert_true(tls_health("c2", cn, sizeof(cn)));

	/* tls-key that does not match tls-cert: refused, the old credentials stay */
	snprintf(text, sizeof(text), "[control]\ntls-key = %s/s1.key\n", dir);
	err = apply_text(text);
	assert_non_null(err);
	assert_non_null(strstr(err, "the old credentials stay"));
	free(err);
	assert_true(tls_health("c2", cn, sizeof(cn)));
	assert_string_equal(cn, "mbt-s2");
	/* (the daemon's reload check refuses such a key before this point; the
	 * live configuration took it, so the next apply names the right one) */
	snprintf(text, sizeof(text), "[control]\ntls-key = %s/s2.key\n", dir);
	apply(text);
}

/* ---- setup ------------------------------------------------------------------------------ */

/* CA ca1 signs s1, s2 (server) and c1 (client); ca2 signs c2. */
static int
make_pki(void)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
		 "for ca in ca1 ca2; do openssl req -x509 $k -keyout $ca.key -out $ca.pem "
		 "-days 2 -subj /CN=mbt-$ca 2>/dev/null; done; "
		 "for p in s1:ca1 s2:ca1 c1:ca1 c2:ca2; do n=${p%%:*}; ca=${p#*:}; "
		 "openssl req $k -keyout $n.key -out $n.csr -subj /CN=mbt-$n 2>/dev/null; "
		 "openssl x509 -req -in $n.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial "
		 "-out $n.pem -days 2 2>/dev/null; done",
		 dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
setup(void **state)
{
	char err[MB_CFG_ERRLEN], text[1024];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	mb_log_set_sink(count_sink);
	snprintf(dir, sizeof(dir), "/tmp/mbt-reload.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(make_pki(), 0);
	snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", dir);

	assert_int_equal(mbt_heap_images_publish((const char *const[]){ "test/a", "test/b" }, 2,
						 4096), 0);

	mbt_sess_reset(1);
	assert_int_equal(mb_config_defaults(&cfg), 0);
	snprintf(text, sizeof(text),
		 "[dpdk]\naddress = 127.0.0.1/8\n"
		 "[frisbee]\nmaster-listen = 127.0.0.1\n"
		 "[control]\ntls-listen = 127.0.0.1:0\ntls-cert = %s/s1.pem\n"
		 "tls-key = %s/s1.key\ntls-ca = %s/ca1.pem\n",
		 dir, dir, dir);
	assert_int_equal(mb_config_load_string(&cfg, text, err, sizeof(err)), 0);
	free(cfg.control_socket);
	cfg.control_socket = strdup(sock_path);
	cfg.master_port = MB_CTL_PORT_ANY;
	cfg.ftp_port = MB_CTL_PORT_ANY;
	{
		static const struct mb_ctl_subsys *const tab[] = {
			&mb_ctl_subsys_log,    &mb_ctl_subsys_sock, &mb_ctl_subsys_dataplane,
			&mb_ctl_subsys_master, &mb_ctl_subsys_ftp,  &mb_ctl_subsys_tls,
			&mb_ctl_subsys_boss,   &subsys_apply,
		};

		assert_int_equal(mbt_ctl_thread_start(&cfg, tab, MB_ARRAY_SIZE(tab), NULL), 0);
	}
	ftp_port = mb_ctl_ftp_port();
	master_port = mb_ctl_master_port();
	tls_port = mb_ctl_tls_port();
	assert_int_not_equal(master_port, 0);
	assert_int_not_equal(ftp_port, 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	mbt_ctl_thread_stop();
	mbt_heap_images_unpublish();
	mb_config_done(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_max_control_clients),
		cmocka_unit_test(test_master),
		cmocka_unit_test(test_ftp),
		cmocka_unit_test(test_boss_and_dataplane),
		cmocka_unit_test(test_tls_no_ticket),
		cmocka_unit_test(test_tls_failures_log_bounded),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_control_timeout),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
