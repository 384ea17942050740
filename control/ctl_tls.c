/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket for boss: the JSON control protocol of the Unix socket
 * (newline-delimited requests, one reply line each, mb_ctl_request_handle)
 * over TCP with TLS 1.2 or newer and a mandatory client certificate that
 * control.tls-ca signed.  A client without one, or with one the CA did not
 * sign, fails the handshake and is closed; nothing is read from it.
 *
 * A self-contained control subsystem behind three calls: start (open the
 * listener on control.tls-listen, load the credentials), reconfigure
 * (SIGHUP: load the certificate, key and CA again into a new SSL_CTX used
 * for new connections; on a load error the old one stays; limits follow the
 * new configuration) and stop.
 *
 * Bounds, the same as the Unix socket's: at most server.max-control-clients
 * TLS clients at once (the next one is closed at once), request lines up to
 * MB_CTL_MAX_LINE bytes (longer: an error line, then close), replies queued
 * up to OUT_MAX bytes (a client that does not read is dropped), idle clients
 * closed after server.control-timeout, and a handshake must finish within
 * HANDSHAKE_MS (or the idle timeout if shorter).  Every socket is
 * non-blocking and every TLS call is driven by the control loop, so a slow
 * or hostile client never blocks the control thread.  Failed and timed-out
 * handshakes are counted each (health) and logged at most 5 per 10 s.
 */
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_log.h"

#define OUT_MAX (4u << 20)
#define HANDSHAKE_MS 10000u

enum tls_state {
	TLS_HANDSHAKE,
	TLS_OPEN,
};

struct tls_client {
	int fd;
	SSL *ssl;
	enum tls_state state;
	bool closing;	   /* flush what is queued, then close */
	bool want_write;   /* the last TLS call needs the socket writable */
	struct mb_ctl_timer *timer; /* handshake deadline, then idle */
	char peer[64];
	char *in;
	size_t inlen;
	struct mb_ctl_outq out;
	struct tls_client *next;
};

static struct {
	int lfd;
	uint16_t port; /* the one listened on */
	SSL_CTX *ctx;
	struct tls_client *clients;
	unsigned nclients, max_clients;
	uint64_t timeout_ms;
	char listen[64];
	char cert_subject[256];
	char cert_not_after[64];
	uint64_t accepted, rejected, handshake_failed, handshake_timeout, requests, dropped;
	uint64_t reloads, reload_failed;
} T = { .lfd = -1, .max_clients = 32, .timeout_ms = 30000 };

static void client_io(int fd, uint32_t events, void *arg);

/* ---- credentials ----------------------------------------------------------- */

static void
ssl_errors(char *buf, size_t len)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (n < len - 1) {
			if (n > 0)
				buf[n++] = ';';
			ERR_error_string_n(e, buf + n, len - n);
			n += strlen(buf + n);
		}
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "unknown error");
}

/* A new server context from the configured files, or NULL with the reason
 * in err.  Owner: the caller. */
static SSL_CTX *
ctx_load(const struct mb_config *cfg, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *cas;
	SSL_CTX *ctx;
	X509 *x;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		snprintf(err, errlen, "certificate '%s': ", cfg->tls_cert);
		goto fail_more;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key '%s': ", cfg->tls_key);
		goto fail_more;
	}
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
		snprintf(err, errlen, "CA '%s': ", cfg->tls_ca);
		goto fail_more;
	}
	cas = SSL_load_client_CA_file(cfg->tls_ca);
	if (cas != NULL)
		SSL_CTX_set_client_CA_list(ctx, cas);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	/* No resumption, so no TLS 1.3 tickets either (NO_TICKET alone still
	 * sends two): written after the handshake, ahead of the first reply,
	 * they held that reply back a delayed ACK (~40 ms) under Nagle. */
	(void)SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	x = SSL_CTX_get0_certificate(ctx);
	if (x != NULL) {
		BIO *b = BIO_new(BIO_s_mem());

		X509_NAME_oneline(X509_get_subject_name(x), T.cert_subject,
				  (int)sizeof(T.cert_subject));
		if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
			int n = BIO_read(b, T.cert_not_after, (int)sizeof(T.cert_not_after) - 1);

			T.cert_not_after[n > 0 ? n : 0] = '\0';
		}
		BIO_free(b);
	}
	return ctx;

fail:
	err[0] = '\0';
fail_more: {
	size_t n = strlen(err);

	ssl_errors(err + n, errlen - n);
}
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- clients ----------------------------------------------------------------- */

static void
client_free(struct tls_client *c)
{
	struct tls_client **pp;

	for (pp = &T.clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	(void)mb_ctl_loop_del(c->fd);
	if (c->ssl != NULL && c->state == TLS_OPEN)
		(void)SSL_shutdown(c->ssl); /* best effort close_notify */
	SSL_free(c->ssl);
	(void)close(c->fd);
	mb_ctl_timer_free(c->timer);
	free(c->in);
	free(c->out.buf);
	free(c);
	T.nclients--;
}

static void
client_timer(void *arg)
{
	struct tls_client *c = arg;

	if (c->state == TLS_HANDSHAKE) {
		static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 5);

		T.handshake_timeout++;
		MB_LOG_RL(&rl, INFO, CTL, "tls control: %s: handshake timed out, closing", c->peer);
	} else {
		MB_LOG(DEBUG, CTL, "tls control: %s: idle, closing", c->peer);
	}
	client_free(c);
}

/* Events to wait for next. */
static void
client_arm(struct tls_client *c)
{
	uint32_t ev = 0;

	if (c->want_write || c->out.len > c->out.off)
		ev |= EPOLLOUT;
	if (!c->closing || c->state == TLS_HANDSHAKE)
		ev |= EPOLLIN;
	(void)mb_ctl_loop_mod(c->fd, ev);
}

/* Write what TLS takes.  -1: gone (or done closing). */
static int
client_flush(struct tls_client *c)
{
	c->want_write = false;
	while (c->out.off < c->out.len) {
		size_t len = c->out.len - c->out.off;
		int n, e;

		ERR_clear_error();
		n = SSL_write(c->ssl, c->out.buf + c->out.off, len > INT32_MAX ? INT32_MAX : (int)len);
		if (n > 0) {
			c->out.off += (size_t)n;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			c->want_write = e == SSL_ERROR_WANT_WRITE;
			return 0;
		}
		return -1;
	}
	c->out.off = c->out.len = 0;
	return c->closing ? -1 : 0;
}

/* Whole lines in c->in become replies.  false: drop the client. */
static bool
client_lines(struct tls_client *c)
{
	int n = mb_ctl_answer_lines(c->in, &c->inlen, &c->out, OUT_MAX);

	if (n < 0) {
		T.dropped++;
		return false;
	}
	T.requests += (uint64_t)n;
	return true;
}

/* Read everything TLS has.  false: drop the client. */
static bool
client_read(struct tls_client *c)
{
	for (;;) {
		int n, e;

		if (c->inlen == MB_CTL_MAX_LINE + 1) {
			c->closing = true;
			return mb_ctl_outq_push(&c->out, mb_ctl_reply_error("request line too long"),
						OUT_MAX);
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, c->in + c->inlen, (int)(MB_CTL_MAX_LINE + 1 - c->inlen));
		if (n > 0) {
			c->inlen += (size_t)n;
			if (!client_lines(c))
				return false;
			if (c->closing)
				return true;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			return true;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->want_write = true;
			return true;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			c->closing = true; /* answer what is queued, then close */
			return true;
		}
		return false; /* reset, EOF without close_notify, protocol error */
	}
}

static void
client_handshake(struct tls_client *c)
{
	/* Whoever reaches the port can fail handshakes: a bounded log. */
	static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 5);
	char why[256];
	int r, e;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->state = TLS_OPEN;
		(void)mb_ctl_timer_rearm(c->timer, T.timeout_ms, 0);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->want_write = e == SSL_ERROR_WANT_WRITE;
		return;
	}
	T.handshake_failed++;
	if (SSL_get_verify_result(c->ssl) != X509_V_OK)
		snprintf(why, sizeof(why), "client certificate: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	else
		ssl_errors(why, sizeof(why));
	MB_LOG_RL(&rl, INFO, CTL, "tls control: %s: handshake failed (%s), closing", c->peer, why);
	c->closing = true;
}

static void
client_io(int fd, uint32_t events, void *arg)
{
	struct tls_client *c = arg;

	(void)fd;
	if (c->state == TLS_HANDSHAKE) {
		client_handshake(c);
		if (c->closing)
			goto drop;
		if (c->state == TLS_HANDSHAKE) {
			client_arm(c);
			return;
		}
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || SSL_pending(c->ssl) > 0 ||
	    c->want_write) {
		if (!c->closing && !client_read(c))
			goto drop;
		(void)mb_ctl_timer_rearm(c->timer, T.timeout_ms, 0);
	}
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		goto drop;
	if (client_flush(c) < 0)
		goto drop;
	client_arm(c);
	return;
drop:
	client_free(c);
}

static void
fmt_peer(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char h[48], s[8];

	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), h, sizeof(h), s, sizeof(s),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s:%s", h, s);
}

static void
listen_io(int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		/* Out of descriptors, mb_ctl_accept pauses the listener. */
		int cfd = mb_ctl_accept(fd, (struct sockaddr *)&ss, &sl);
		struct tls_client *c;
		uint64_t hs;

		if (cfd == -1) {
			static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 3);

			if (errno != EAGAIN && errno != EWOULDBLOCK)
				MB_LOG_RL(&rl, WARNING, CTL, "tls control accept: %s, ignoring",
					  strerror(errno));
			return;
		}
		if (T.nclients >= T.max_clients || T.ctx == NULL) {
			/* No TLS yet, so no error line: just close. */
			T.rejected++;
			(void)close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c != NULL)
			c->in = malloc(MB_CTL_MAX_LINE + 1);
		if (c == NULL || c->in == NULL || (c->ssl = SSL_new(T.ctx)) == NULL ||
		    SSL_set_fd(c->ssl, cfd) != 1) {
			if (c != NULL) {
				SSL_free(c->ssl);
				free(c->in);
			}
			free(c);
			(void)close(cfd);
			continue;
		}
		c->fd = cfd;
		fmt_peer(&ss, c->peer, sizeof(c->peer));
		hs = T.timeout_ms < HANDSHAKE_MS ? T.timeout_ms : HANDSHAKE_MS;
		c->timer = mb_ctl_timer_new(hs, 0, client_timer, c);
		if (c->timer == NULL || mb_ctl_loop_add(cfd, EPOLLIN, client_io, c) != 0) {
			mb_ctl_timer_free(c->timer);
			SSL_free(c->ssl);
			free(c->in);
			free(c);
			(void)close(cfd);
			continue;
		}
		SSL_set_accept_state(c->ssl);
		c->next = T.clients;
		T.clients = c;
		T.nclients++;
		T.accepted++;
	}
}

/* ---- listener ----------------------------------------------------------------- */

static json_t *
health_tls(enum mb_health_state *worst, void *arg)
{
	(void)arg;
	if (T.listen[0] == '\0')
		return NULL; /* not configured: no section */
	if (T.lfd < 0 && *worst < MB_HEALTH_DEGRADED) {
		mb_ctl_health_reason(MB_HEALTH_DEGRADED, "TLS control socket for boss not listening");
		*worst = MB_HEALTH_DEGRADED;
	}
	return json_pack("{s:s,s:b,s:i,s:i,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "listen",
			 T.listen, "listening", T.lfd >= 0, "clients", (int)T.nclients,
			 "max-clients", (int)T.max_clients, "cert-subject", T.cert_subject,
			 "cert-not-after", T.cert_not_after, "accepted", (json_int_t)T.accepted,
			 "rejected", (json_int_t)T.rejected, "handshake-failed",
			 (json_int_t)T.handshake_failed, "handshake-timeout",
			 (json_int_t)T.handshake_timeout, "requests", (json_int_t)T.requests,
			 "reloads", (json_int_t)T.reloads, "reload-failed",
			 (json_int_t)T.reload_failed);
}

static void
limits(const struct mb_config *cfg)
{
	T.max_clients = (unsigned)cfg->max_control_clients;
	T.timeout_ms = cfg->control_timeout * 1000;
}

static int
tls_start(const struct mb_config *cfg)
{
	char err[512];
	int fd, rc;

	if (cfg->tls_listen[0] == '\0')
		return 0;
	limits(cfg);
	snprintf(T.listen, sizeof(T.listen), "%s", cfg->tls_listen);
	T.ctx = ctx_load(cfg, err, sizeof(err));
	if (T.ctx == NULL) {
		MB_LOG(ERR, CTL, "tls control: %s", err);
		rc = -EINVAL;
		goto out;
	}
	fd = mb_ctl_listen_tcp(cfg->tls_listen, 64);
	if (fd < 0) {
		MB_LOG(ERR, CTL, "tls control: cannot listen on '%s': %s", cfg->tls_listen,
		       strerror(-fd));
		rc = fd;
		goto out;
	}
	rc = mb_ctl_loop_add(fd, EPOLLIN, listen_io, NULL);
	if (rc != 0) {
		(void)close(fd);
		goto out;
	}
	T.lfd = fd;
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			T.port = ntohs(ss.ss_family == AF_INET6 ?
					       ((struct sockaddr_in6 *)&ss)->sin6_port :
					       ((struct sockaddr_in *)&ss)->sin_port);
	}
	MB_LOG(INFO, CTL, "tls control: listening on %s (%s)", cfg->tls_listen, T.cert_subject);
out:
	return rc; /* health says why it is not listening */
}

/* control.tls-cert, tls-key, tls-ca: a new SSL_CTX for new connections;
 * server.max-control-clients and control-timeout: the limits. */
static int
tls_reconfig(const struct mb_config *cfg, char *rerr, size_t rerrlen)
{
	char err[512];
	SSL_CTX *nc;

	limits(cfg);
	if (cfg->tls_listen[0] == '\0' || T.lfd < 0)
		return 0;
	nc = ctx_load(cfg, err, sizeof(err));
	if (nc == NULL) {
		T.reload_failed++;
		MB_LOG(ERR, CTL, "tls control: reload: %s; keeping the old credentials", err);
		snprintf(rerr, rerrlen, "tls control: %s; the old credentials stay", err);
		return -EINVAL;
	}
	/* Connections keep a reference to the context they started with. */
	SSL_CTX_free(T.ctx);
	T.ctx = nc;
	T.reloads++;
	MB_LOG(NOTICE, CTL, "tls control: credentials reloaded (%s)", T.cert_subject);
	return 0;
}

uint16_t
mb_ctl_tls_port(void)
{
	return T.lfd >= 0 ? T.port : 0;
}

static void
tls_stop(void)
{
	while (T.clients != NULL)
		client_free(T.clients);
	if (T.lfd >= 0) {
		(void)mb_ctl_loop_del(T.lfd);
		(void)close(T.lfd);
	}
	SSL_CTX_free(T.ctx);
	memset(&T, 0, sizeof(T));
	T.lfd = -1;
	T.max_clients = 32;
	T.timeout_ms = 30000;
}

const struct mb_ctl_subsys mb_ctl_subsys_tls = {
	.name = "control-tls",
	.title = "the TLS control socket for boss",
	.start = tls_start,
	.reconfig = tls_reconfig,
	.stop = tls_stop,
	.health_key = "control-tls",
	.health = health_tls,
};
