/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Prometheus endpoint: plain HTTP/1.x on control.metrics-listen, a
 * kernel socket on a management address (the configuration refuses the
 * serving address), served on the control loop.
 *
 * One request per connection: the request line and headers must arrive
 * within MB_METRICS_MAX_REQUEST bytes (else 431) and the whole exchange
 * within MB_METRICS_IDLE_MS of no progress (else the connection is closed);
 * at most MB_METRICS_MAX_CONNS connections at once (more are closed at
 * accept).  GET or HEAD of /metrics (a query string is ignored) answers 200
 * with the exposition text; another path 404, another method 405, anything
 * unparsable 400; then the connection closes.  A request body is never
 * read.  The reply is written without blocking: what the socket does not
 * take waits for EPOLLOUT.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_metrics.h"
#include "mb_log.h"

struct mconn {
	int fd;
	struct mb_ctl_timer *idle;
	char req[MB_METRICS_MAX_REQUEST];
	size_t rlen;
	char *out; /* the reply, while it is written */
	size_t olen, ooff;
};

static struct {
	int lfd;
	char listen[64];
	struct mconn *c[MB_METRICS_MAX_CONNS];
	uint64_t requests, bad, refused, timeouts;
} H = { .lfd = -1 };

static void
conn_close(struct mconn *c)
{
	for (size_t i = 0; i < MB_METRICS_MAX_CONNS; i++)
		if (H.c[i] == c)
			H.c[i] = NULL;
	(void)mb_ctl_loop_del(c->fd);
	(void)close(c->fd);
	mb_ctl_timer_free(c->idle);
	free(c->out);
	free(c);
}

static void
conn_idle(void *arg)
{
	H.timeouts++;
	conn_close(arg);
}

/* Write what the socket takes; close when all is out.  Returns false when
 * the connection was closed. */
static bool
conn_flush(struct mconn *c)
{
	while (c->ooff < c->olen) {
		ssize_t n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			(void)mb_ctl_loop_mod(c->fd, EPOLLOUT);
			return true;
		}
		if (n <= 0) {
			conn_close(c);
			return false;
		}
		c->ooff += (size_t)n;
		(void)mb_ctl_timer_rearm(c->idle, MB_METRICS_IDLE_MS, 0);
	}
	(void)shutdown(c->fd, SHUT_WR);
	/* Unread input makes close() send a reset, which can destroy the reply
	 * before the client reads it: discard what has arrived (bounded). */
	for (int i = 0; i < 16; i++) {
		char sink[4096];

		if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
	}
	conn_close(c);
	return false;
}

static void
reply(struct mconn *c, int code, const char *reason, const char *extra, const char *body,
      size_t blen, bool head)
{
	char hdr[512];
	int hl = snprintf(hdr, sizeof(hdr),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			  "Connection: close\r\n\r\n",
			  code, reason,
			  code == 200 ? "text/plain; version=0.0.4; charset=utf-8" :
					"text/plain; charset=utf-8",
			  blen, extra != NULL ? extra : "");

	if (code != 200)
		H.bad++;
	(void)mb_ctl_loop_mod(c->fd, 0);
	c->olen = (size_t)hl + (head ? 0 : blen);
	c->out = malloc(c->olen);
	if (c->out == NULL) {
		conn_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)hl);
	if (!head)
		memcpy(c->out + hl, body, blen);
	c->ooff = 0;
	(void)conn_flush(c);
}

static void
error_reply(struct mconn *c, int code, const char *reason, const char *extra)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);

	reply(c, code, reason, extra, body, (size_t)n, false);
}

/* A whole request head is in c->req[0..end). */
static void
handle(struct mconn *c, size_t end)
{
	char *line = c->req, *sp1, *sp2, *eol;
	bool head;
	size_t plen;
	char *text;
	size_t tlen;

	c->req[end] = '\0';
	eol = strpbrk(line, "\r\n"); /* the request line ends at CRLF or a bare LF */
	if (eol != NULL)
		*eol = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    sp2[8] == '\0' || sp2[9] != '\0' || sp1[1] != '/') {
		error_reply(c, 400, "Bad Request", NULL);
		return;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	head = strcmp(line, "HEAD") == 0;
	if (!head && strcmp(line, "GET") != 0) {
		error_reply(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
		return;
	}
	plen = strcspn(sp1 + 1, "?");
	if (plen != strlen("/metrics") || strncmp(sp1 + 1, "/metrics", plen) != 0) {
		error_reply(c, 404, "Not Found", NULL);
		return;
	}
	text = mb_ctl_metrics_text(&tlen);
	if (text == NULL) {
		error_reply(c, 503, "Service Unavailable", NULL);
		return;
	}
	H.requests++;
	reply(c, 200, "OK", NULL, text, tlen, head);
	free(text);
}

static void
conn_io(int fd, uint32_t events, void *arg)
{
	struct mconn *c = arg;
	char *end;
	ssize_t n;

	(void)fd;
	if (c->out != NULL) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			(void)conn_flush(c);
		return;
	}
	n = recv(c->fd, c->req + c->rlen, sizeof(c->req) - 1 - c->rlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = '\0';
	(void)mb_ctl_timer_rearm(c->idle, MB_METRICS_IDLE_MS, 0);
	if (memchr(c->req, '\0', c->rlen) != NULL) {
		error_reply(c, 400, "Bad Request", NULL);
		return;
	}
	end = strstr(c->req, "\r\n\r\n");
	if (end == NULL)
		end = strstr(c->req, "\n\n");
	if (end != NULL) {
		handle(c, (size_t)(end - c->req));
		return;
	}
	if (c->rlen >= sizeof(c->req) - 1)
		error_reply(c, 431, "Request Header Fields Too Large", NULL);
}

static void
listen_io(int lfd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	for (;;) {
		struct mconn *c;
		size_t slot = MB_METRICS_MAX_CONNS;
		int fd = mb_ctl_accept(lfd, NULL, NULL);

		if (fd < 0)
			return;
		for (size_t i = 0; i < MB_METRICS_MAX_CONNS && slot == MB_METRICS_MAX_CONNS; i++)
			if (H.c[i] == NULL)
				slot = i;
		c = slot < MB_METRICS_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			H.refused++;
			(void)close(fd);
			continue;
		}
		c->fd = fd;
		c->idle = mb_ctl_timer_new(MB_METRICS_IDLE_MS, 0, conn_idle, c);
		if (c->idle == NULL || mb_ctl_loop_add(fd, EPOLLIN, conn_io, c) != 0) {
			mb_ctl_timer_free(c->idle);
			free(c);
			H.refused++;
			(void)close(fd);
			continue;
		}
		H.c[slot] = c;
	}
}

static int
metrics_start(const struct mb_config *cfg)
{
	int fd, rc;

	snprintf(H.listen, sizeof(H.listen), "%s", cfg->metrics_listen);
	if (cfg->metrics_listen[0] == '\0')
		return 0;
	fd = mb_ctl_listen_tcp(cfg->metrics_listen, 16);
	if (fd < 0) {
		MB_LOG(ERR, CTL, "metrics: cannot listen on '%s': %s", cfg->metrics_listen,
		       strerror(-fd));
		return fd; /* health says it is not listening */
	}
	rc = mb_ctl_loop_add(fd, EPOLLIN, listen_io, NULL);
	if (rc != 0) {
		(void)close(fd);
		return rc;
	}
	H.lfd = fd;
	MB_LOG(INFO, CTL, "metrics: serving http://%s/metrics", cfg->metrics_listen);
	return 0;
}

static void
metrics_stop(void)
{
	for (size_t i = 0; i < MB_METRICS_MAX_CONNS; i++)
		if (H.c[i] != NULL)
			conn_close(H.c[i]);
	if (H.lfd >= 0) {
		(void)mb_ctl_loop_del(H.lfd);
		(void)close(H.lfd);
	}
	H.lfd = -1;
}

static json_t *
health_metrics(enum mb_health_state *worst, void *arg)
{
	(void)arg;
	if (H.listen[0] == '\0')
		return NULL; /* off: no section */
	if (H.lfd < 0) {
		if (*worst < MB_HEALTH_DEGRADED)
			*worst = MB_HEALTH_DEGRADED;
		mb_ctl_health_reason(MB_HEALTH_DEGRADED, "metrics: not listening on %s",
				     H.listen);
	}
	return json_pack("{s:s,s:b,s:I,s:I,s:I,s:I}", "listen", H.listen, "listening", H.lfd >= 0,
			 "requests", (json_int_t)H.requests, "bad-requests", (json_int_t)H.bad,
			 "refused", (json_int_t)H.refused, "timeouts", (json_int_t)H.timeouts);
}

const struct mb_ctl_subsys mb_ctl_subsys_metrics = {
	.name = "metrics",
	.title = "the Prometheus endpoint",
	.start = metrics_start,
	.stop = metrics_stop,
	.actions = &mb_ctl_metrics_action,
	.n_actions = 1,
	.health_key = "metrics",
	.health = health_metrics,
	.without = "metrics only through minibossctl metrics",
};
