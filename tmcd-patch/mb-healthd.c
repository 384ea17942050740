/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-healthd: boss's poller of minibosses.  Every --interval it reads the
 * minibosses table, asks every miniboss at once for `health` over its TLS
 * control socket (boss's client certificate; the miniboss's certificate
 * must chain to --ca and name control_name, or control_host), and writes
 * one miniboss_health row and the miniboss_images rows per miniboss.
 *
 * Hard timeouts: the whole round (connect, handshake, request, reply) has
 * --timeout; whatever has not answered by then is "timeout".  An answer
 * that is late, not TLS, from a certificate the CA did not sign or for
 * another name ("tls"), unparsable or missing a field ("malformed"), or
 * that says draining or down, is written as unhealthy, and libmbsel never
 * names an unhealthy miniboss.  If mb-healthd stops, its rows age past
 * health_max_age and count as unhealthy too.
 *
 * Control host addresses must be numeric (no DNS lookup can stall a round).
 * Single-threaded: non-blocking sockets and one poll() loop per round.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mysql.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_MB 256
#define REPLY_MAX (1u << 20)
#define REQUEST "{\"cmd\":\"health\"}\n"

enum st { ST_CONNECT, ST_HANDSHAKE, ST_WRITE, ST_READ, ST_DONE };

struct mb {
	char id[33];
	char host[64];
	char name[256];
	unsigned port;
	int fd;
	SSL *ssl;
	enum st st;
	size_t wrote;
	char *buf;
	size_t len;
	bool want_write;
	/* result */
	const char *fail; /* NULL = answered */
	char why[256];
	double rtt_ms;
};

static struct {
	const char *db_socket, *db_name, *db_user, *db_pass_file, *db_host;
	const char *ca, *cert, *key;
	double interval, timeout;
	bool once, verbose;
} opt = { .db_name = "tbdb", .db_user = "root", .interval = 2.0, .timeout = 1.5 };

static volatile sig_atomic_t stop;

static void
logf_(const char *fmt, ...)
{
	va_list ap;
	char ts[32];
	time_t t = time(NULL);

	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
	fprintf(stderr, "mb-healthd %s ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- database --------------------------------------------------------------- */

static MYSQL *
db_open(void)
{
	MYSQL *m = mysql_init(NULL);
	unsigned int to = 5;
	char pass[256] = "";

	if (m == NULL)
		return NULL;
	if (opt.db_pass_file != NULL) {
		FILE *f = fopen(opt.db_pass_file, "r");

		if (f == NULL || fgets(pass, sizeof(pass), f) == NULL)
			logf_("cannot read the password file '%s'", opt.db_pass_file);
		if (f != NULL)
			fclose(f);
		pass[strcspn(pass, "\r\n")] = '\0';
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &to);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &to);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &to);
	if (mysql_real_connect(m, opt.db_host, opt.db_user, pass[0] ? pass : NULL, opt.db_name,
			       0, opt.db_socket, 0) == NULL) {
		logf_("database: %s", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

static int
db_exec(MYSQL *m, const char *sql)
{
	if (mysql_query(m, sql) != 0) {
		logf_("database: %s (in: %.120s)", mysql_error(m), sql);
		return -1;
	}
	return 0;
}

/* Characters that may appear inside '...' in our SQL without escaping. */
static bool
safe(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-' || c == '/' || c == ':'))
			return false;
	}
	return n > 0;
}

/* The minibosses to poll.  Returns the count (0..MAX_MB) or -1. */
static int
load_minibosses(MYSQL *m, struct mb *v)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	int n = 0;

	if (db_exec(m, "select subboss_id,control_host,control_port,control_name"
		       " from minibosses order by subboss_id") != 0)
		return -1;
	res = mysql_store_result(m);
	if (res == NULL)
		return -1;
	while ((row = mysql_fetch_row(res)) != NULL && n < MAX_MB) {
		struct mb *b = &v[n];

		memset(b, 0, sizeof(*b));
		b->fd = -1;
		if (row[0] == NULL || row[1] == NULL || row[2] == NULL || !safe(row[0], 32) ||
		    strlen(row[1]) >= sizeof(b->host)) {
			logf_("skipping a malformed minibosses row");
			continue;
		}
		snprintf(b->id, sizeof(b->id), "%s", row[0]);
		snprintf(b->host, sizeof(b->host), "%s", row[1]);
		snprintf(b->name, sizeof(b->name), "%s",
			 row[3] != NULL && row[3][0] != '\0' ? row[3] : row[1]);
		b->port = (unsigned)atoi(row[2]);
		n++;
	}
	mysql_free_result(res);
	return n;
}

/* ---- polling ------------------------------------------------------------------ */

static void
fail(struct mb *b, const char *kind, const char *fmt, ...)
{
	va_list ap;

	if (b->st == ST_DONE)
		return;
	b->fail = kind;
	va_start(ap, fmt);
	vsnprintf(b->why, sizeof(b->why), fmt, ap);
	va_end(ap);
	b->st = ST_DONE;
}

static void
start(struct mb *b, SSL_CTX *ctx)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST |
									 AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8];
	X509_VERIFY_PARAM *vp;
	struct in6_addr a6;
	struct in_addr a4;

	b->st = ST_CONNECT;
	snprintf(port, sizeof(port), "%u", b->port);
	if (getaddrinfo(b->host, port, &hints, &ai) != 0) {
		fail(b, "unreachable", "control_host '%s' is not a numeric address", b->host);
		return;
	}
	b->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->fd == -1) {
		freeaddrinfo(ai);
		fail(b, "unreachable", "socket: %s", strerror(errno));
		return;
	}
	if (connect(b->fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno != EINPROGRESS) {
		freeaddrinfo(ai);
		fail(b, "unreachable", "connect: %s", strerror(errno));
		return;
	}
	freeaddrinfo(ai);
	b->ssl = SSL_new(ctx);
	if (b->ssl == NULL || SSL_set_fd(b->ssl, b->fd) != 1) {
		fail(b, "tls", "SSL_new failed");
		return;
	}
	/* The certificate must name the miniboss: an IP SAN or a DNS name. */
	vp = SSL_get0_param(b->ssl);
	if (inet_pton(AF_INET, b->name, &a4) == 1 || inet_pton(AF_INET6, b->name, &a6) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(vp, b->name);
	else {
		X509_VERIFY_PARAM_set1_host(vp, b->name, 0);
		SSL_set_tlsext_host_name(b->ssl, b->name);
	}
	SSL_set_connect_state(b->ssl);
}

static void
ssl_why(struct mb *b, int r, const char *what)
{
	int e = SSL_get_error(b->ssl, r);
	long v = SSL_get_verify_result(b->ssl);
	unsigned long ec = ERR_peek_error();
	char es[200];

	if (v != X509_V_OK) {
		fail(b, "tls", "%s: server certificate: %s", what, X509_verify_cert_error_string(v));
		return;
	}
	ERR_error_string_n(ec, es, sizeof(es));
	if (e == SSL_ERROR_SYSCALL && ec == 0)
		fail(b, b->st == ST_HANDSHAKE ? "unreachable" : "tls", "%s: %s", what,
		     errno ? strerror(errno) : "connection closed");
	else
		fail(b, "tls", "%s: %s", what, ec ? es : "protocol error");
	ERR_clear_error();
}

/* One step of b's state machine after poll said its socket is ready. */
static void
step(struct mb *b, short revents)
{
	int r, e;

	if (b->st == ST_CONNECT) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			err = errno;
		if (err != 0) {
			fail(b, "unreachable", "connect: %s", strerror(err));
			return;
		}
		if (!(revents & POLLOUT))
			return;
		b->st = ST_HANDSHAKE;
	}
	if (b->st == ST_HANDSHAKE) {
		ERR_clear_error();
		errno = 0;
		r = SSL_connect(b->ssl);
		if (r != 1) {
			e = SSL_get_error(b->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				b->want_write = e == SSL_ERROR_WANT_WRITE;
				return;
			}
			ssl_why(b, r, "handshake");
			return;
		}
		b->st = ST_WRITE;
	}
	if (b->st == ST_WRITE) {
		while (b->wrote < sizeof(REQUEST) - 1) {
			ERR_clear_error();
			r = SSL_write(b->ssl, REQUEST + b->wrote, (int)(sizeof(REQUEST) - 1 - b->wrote));
			if (r <= 0) {
				e = SSL_get_error(b->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					b->want_write = e == SSL_ERROR_WANT_WRITE;
					return;
				}
				ssl_why(b, r, "write");
				return;
			}
			b->wrote += (size_t)r;
		}
		b->st = ST_READ;
		b->buf = malloc(REPLY_MAX + 1);
		if (b->buf == NULL) {
			fail(b, "malformed", "out of memory");
			return;
		}
	}
	if (b->st == ST_READ) {
		for (;;) {
			if (b->len == REPLY_MAX) {
				fail(b, "malformed", "reply longer than %u bytes", REPLY_MAX);
				return;
			}
			ERR_clear_error();
			r = SSL_read(b->ssl, b->buf + b->len, (int)(REPLY_MAX - b->len));
			if (r <= 0) {
				e = SSL_get_error(b->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					b->want_write = e == SSL_ERROR_WANT_WRITE;
					return;
				}
				if (e == SSL_ERROR_ZERO_RETURN) {
					fail(b, "malformed", "closed before a whole reply line");
					return;
				}
				ssl_why(b, r, "read");
				return;
			}
			b->len += (size_t)r;
			if (memchr(b->buf, '\n', b->len) != NULL) {
				b->st = ST_DONE; /* answered; parsed later */
				return;
			}
		}
	}
}

static void
poll_all(struct mb *v, int n, SSL_CTX *ctx)
{
	struct pollfd pf[MAX_MB];
	double t0 = now_ms(), deadline = t0 + opt.timeout * 1e3;
	int i;

	for (i = 0; i < n; i++)
		start(&v[i], ctx);
	for (;;) {
		int np = 0, left = (int)(deadline - now_ms());
		int idx[MAX_MB];

		for (i = 0; i < n; i++) {
			if (v[i].st == ST_DONE)
				continue;
			pf[np].fd = v[i].fd;
			pf[np].events = v[i].st == ST_CONNECT || v[i].want_write ? POLLOUT : POLLIN;
			pf[np].revents = 0;
			idx[np++] = i;
		}
		if (np == 0)
			break;
		if (left <= 0) {
			for (i = 0; i < np; i++)
				fail(&v[idx[i]], "timeout", "no whole answer within %.1f s",
				     opt.timeout);
			break;
		}
		if (poll(pf, (nfds_t)np, left) == -1 && errno != EINTR)
			break;
		for (i = 0; i < np; i++) {
			struct mb *b = &v[idx[i]];

			if (pf[i].revents == 0)
				continue;
			b->want_write = false;
			step(b, pf[i].revents);
			if (b->st == ST_DONE)
				b->rtt_ms = now_ms() - t0;
		}
	}
}

/* ---- results -------------------------------------------------------------------- */

struct health {
	const char *state;
	char reason[256];
	bool draining;
	double load;
	json_int_t tx, cap, sessions, conns;
	const char *version;
	json_t *images;
};

static bool
valid_sha(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Parse the reply line; false with why filled when malformed. */
static bool
parse(json_t *root, struct health *h, char *why, size_t wl)
{
	json_t *res, *boss, *tx, *reasons, *r, *conn;
	size_t i, used = 0;

	memset(h, 0, sizeof(*h));
	if (!json_is_object(root) || !json_is_true(json_object_get(root, "ok")) ||
	    !json_is_object(res = json_object_get(root, "result"))) {
		snprintf(why, wl, "not an ok reply");
		return false;
	}
	h->state = json_string_value(json_object_get(res, "state"));
	if (h->state == NULL || (strcmp(h->state, "ok") != 0 && strcmp(h->state, "degraded") != 0 &&
				 strcmp(h->state, "draining") != 0 && strcmp(h->state, "down") != 0)) {
		snprintf(why, wl, "no valid state");
		return false;
	}
	h->version = json_string_value(json_object_get(res, "version"));
	reasons = json_object_get(res, "reasons");
	json_array_foreach(reasons, i, r)
	{
		const char *w = json_string_value(json_object_get(r, "why"));

		if (w != NULL && used < sizeof(h->reason) - 2)
			used += (size_t)snprintf(h->reason + used, sizeof(h->reason) - used, "%s%s",
						 used ? "; " : "", w);
		if (used >= sizeof(h->reason))
			used = sizeof(h->reason) - 1;
	}
	boss = json_object_get(res, "boss");
	tx = json_object_get(boss, "tx");
	conn = json_object_get(boss, "connections");
	if (!json_is_object(boss) || !json_is_boolean(json_object_get(boss, "draining")) ||
	    !json_is_number(json_object_get(boss, "load")) || !json_is_object(tx) ||
	    !json_is_integer(json_object_get(tx, "rate-bps")) ||
	    !json_is_integer(json_object_get(tx, "cap-bps")) ||
	    !json_is_array(json_object_get(boss, "sessions")) ||
	    !json_is_array(h->images = json_object_get(boss, "images"))) {
		snprintf(why, wl, "no valid \"boss\" section");
		return false;
	}
	h->draining = json_is_true(json_object_get(boss, "draining"));
	h->load = json_number_value(json_object_get(boss, "load"));
	if (!(h->load >= 0.0 && h->load < 1e6)) {
		snprintf(why, wl, "load out of range");
		return false;
	}
	h->tx = json_integer_value(json_object_get(tx, "rate-bps"));
	h->cap = json_integer_value(json_object_get(tx, "cap-bps"));
	h->sessions = (json_int_t)json_array_size(json_object_get(boss, "sessions"));
	h->conns = json_integer_value(json_object_get(conn, "tcp"));
	json_array_foreach(h->images, i, r)
	{
		const char *n = json_string_value(json_object_get(r, "name"));
		json_t *ver = json_object_get(r, "version");

		if (n == NULL || !safe(n, 255) || !json_is_integer(ver) ||
		    json_integer_value(ver) < 0 || json_integer_value(ver) > 4294967295LL ||
		    !json_is_integer(json_object_get(r, "size")) ||
		    !json_is_integer(json_object_get(r, "mtime")) ||
		    !valid_sha(json_string_value(json_object_get(r, "sha256"))) ||
		    !json_is_boolean(json_object_get(r, "warm"))) {
			snprintf(why, wl, "malformed image entry %zu", i);
			return false;
		}
	}
	return true;
}

/* Did this miniboss's state change since the last round?  (Log changes
 * only, so a miniboss that stays down does not fill the log.) */
static bool
changed(const char *id, const char *state)
{
	static struct {
		char id[33];
		char state[16];
	} last[MAX_MB];
	int i, free_slot = -1;

	for (i = 0; i < MAX_MB; i++) {
		if (last[i].id[0] == '\0') {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(last[i].id, id) != 0)
			continue;
		if (strncmp(last[i].state, state, sizeof(last[i].state) - 1) == 0)
			return false;
		snprintf(last[i].state, sizeof(last[i].state), "%s", state);
		return true;
	}
	if (free_slot >= 0) {
		snprintf(last[free_slot].id, sizeof(last[free_slot].id), "%s", id);
		snprintf(last[free_slot].state, sizeof(last[free_slot].state), "%s", state);
	}
	return true;
}

static bool
record(MYSQL *m, struct mb *b)
{
	char sql[4096], reason[256];
	struct health h;
	json_t *root = NULL;
	json_error_t je;
	const char *state;
	bool healthy = false, parsed = false;
	size_t i;
	json_t *img;

	if (b->fail == NULL) {
		char *nl = memchr(b->buf, '\n', b->len);

		root = json_loadb(b->buf, (size_t)(nl - b->buf), JSON_REJECT_DUPLICATES, &je);
		if (root == NULL)
			fail(b, "malformed", "JSON: %s", je.text);
		else if (!parse(root, &h, b->why, sizeof(b->why)))
			b->fail = "malformed";
		else
			parsed = true;
	}
	if (parsed) {
		state = h.draining ? "draining" : h.state;
		healthy = (strcmp(state, "ok") == 0 || strcmp(state, "degraded") == 0);
		snprintf(reason, sizeof(reason), "%s", h.reason);
	} else {
		state = b->fail;
		snprintf(reason, sizeof(reason), "%s", b->why);
	}
	/* reason goes into SQL: keep only harmless characters */
	for (i = 0; reason[i] != '\0'; i++)
		if (reason[i] == '\'' || reason[i] == '\\' || (unsigned char)reason[i] < 0x20)
			reason[i] = ' ';
	if (opt.verbose || changed(b->id, state))
		logf_("%s: %s%s%s", b->id, state, reason[0] ? ": " : "", reason);

	if (db_exec(m, "start transaction") != 0)
		goto out;
	snprintf(sql, sizeof(sql),
		 "replace into miniboss_health (subboss_id,polled_at,healthy,state,reason,"
		 "load_figure,tx_bps,cap_bps,sessions,connections,rtt_ms,daemon_version)"
		 " values ('%s',unix_timestamp(),%d,'%s','%s',%.6f,%lld,%lld,%lld,%lld,%u,'%s')",
		 b->id, healthy, state, reason, parsed ? h.load : 1.0,
		 parsed ? (long long)h.tx : 0LL, parsed ? (long long)h.cap : 0LL,
		 parsed ? (long long)h.sessions : 0LL, parsed ? (long long)h.conns : 0LL,
		 (unsigned)b->rtt_ms,
		 parsed && h.version != NULL && safe(h.version, 31) ? h.version : "");
	if (db_exec(m, sql) != 0)
		goto rollback;
	snprintf(sql, sizeof(sql), "delete from miniboss_images where subboss_id='%s'", b->id);
	if (db_exec(m, sql) != 0)
		goto rollback;
	if (parsed) {
		json_array_foreach(h.images, i, img)
		{
			snprintf(sql, sizeof(sql),
				 "insert into miniboss_images (subboss_id,name,version,size,sha256,"
				 "mtime,warm) values ('%s','%s',%lld,%lld,'%s',%lld,%d)",
				 b->id, json_string_value(json_object_get(img, "name")),
				 (long long)json_integer_value(json_object_get(img, "version")),
				 (long long)json_integer_value(json_object_get(img, "size")),
				 json_string_value(json_object_get(img, "sha256")),
				 (long long)json_integer_value(json_object_get(img, "mtime")),
				 json_is_true(json_object_get(img, "warm")));
			if (db_exec(m, sql) != 0)
				goto rollback;
		}
	}
	(void)db_exec(m, "commit");
	goto out;
rollback:
	(void)db_exec(m, "rollback");
out:
	json_decref(root);
	return healthy;
}

static void
cleanup(struct mb *v, int n)
{
	for (int i = 0; i < n; i++) {
		SSL_free(v[i].ssl);
		if (v[i].fd >= 0)
			close(v[i].fd);
		free(v[i].buf);
		v[i].ssl = NULL;
		v[i].fd = -1;
		v[i].buf = NULL;
	}
}

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, opt.ca, NULL) != 1) {
		char es[256];

		ERR_error_string_n(ERR_get_error(), es, sizeof(es));
		logf_("TLS credentials: %s", es);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mb-healthd --ca FILE --cert FILE --key FILE [--db-socket PATH]\n"
		"                  [--db-host H] [--db-name tbdb] [--db-user root]\n"
		"                  [--db-password-file F] [--interval 2] [--timeout 1.5]\n"
		"                  [--once] [-v]\n"
		"Polls every miniboss of the minibosses table for health over TLS and\n"
		"writes miniboss_health and miniboss_images.  --once: one round, then exit\n"
		"(status 0 when every miniboss is healthy, 1 otherwise).\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "db-socket", 1, NULL, 's' }, { "db-host", 1, NULL, 'H' },
		{ "db-name", 1, NULL, 'd' },   { "db-user", 1, NULL, 'u' },
		{ "db-password-file", 1, NULL, 'p' }, { "ca", 1, NULL, 'C' },
		{ "cert", 1, NULL, 'c' },      { "key", 1, NULL, 'k' },
		{ "interval", 1, NULL, 'i' },  { "timeout", 1, NULL, 't' },
		{ "once", 0, NULL, '1' },      { "verbose", 0, NULL, 'v' },
		{ "help", 0, NULL, 'h' },      { NULL, 0, NULL, 0 },
	};
	static struct mb v[MAX_MB];
	struct sigaction sa = { .sa_handler = on_signal };
	MYSQL *m = NULL;
	SSL_CTX *ctx;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "v1h", lo, NULL)) != -1) {
		switch (c) {
		case 's': opt.db_socket = optarg; break;
		case 'H': opt.db_host = optarg; break;
		case 'd': opt.db_name = optarg; break;
		case 'u': opt.db_user = optarg; break;
		case 'p': opt.db_pass_file = optarg; break;
		case 'C': opt.ca = optarg; break;
		case 'c': opt.cert = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'i': opt.interval = atof(optarg); break;
		case 't': opt.timeout = atof(optarg); break;
		case '1': opt.once = true; break;
		case 'v': opt.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (opt.ca == NULL || opt.cert == NULL || opt.key == NULL || !(opt.interval >= 0.1) ||
	    !(opt.timeout >= 0.05) || opt.timeout > 60 || opt.interval > 3600) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctx = client_ctx();
	if (ctx == NULL)
		return 1;
	logf_("polling every %.1f s, timeout %.1f s", opt.interval, opt.timeout);
	while (!stop) {
		double t0 = now_ms(), left;
		int n;

		if (m == NULL)
			m = db_open();
		if (m != NULL) {
			n = load_minibosses(m, v);
			if (n < 0) {
				mysql_close(m);
				m = NULL;
				rc = 1;
			} else {
				poll_all(v, n, ctx);
				rc = 0;
				for (int i = 0; i < n; i++) {
					if (!record(m, &v[i]))
						rc = 1;
				}
				cleanup(v, n);
			}
		} else {
			rc = 1;
		}
		if (opt.once)
			break;
		left = opt.interval * 1e3 - (now_ms() - t0);
		if (left > 0) {
			struct timespec ts = { (time_t)(left / 1e3),
					       (long)((left - (double)(long)(left / 1e3) * 1e3) * 1e6) };

			nanosleep(&ts, NULL);
		}
	}
	if (m != NULL)
		mysql_close(m);
	SSL_CTX_free(ctx);
	return rc;
}
