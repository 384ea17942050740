/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The local control socket: a Unix stream socket (server.control-socket-mode,
 * 0600 by default: root only; -group gives it to a group) carrying
 * newline-delimited JSON, one reply line per request line, handled by
 * mb_ctl_request_handle().  Every client is bounded: at most
 * server.max-control-clients at once (the next one gets an error line and a
 * close), requests up to 64 KiB (longer: error line, close), replies queued
 * up to OUT_MAX bytes (a client that never reads is dropped), and a client
 * idle for server.control-timeout is closed.  Nothing a client sends can
 * block the control thread.  The TLS socket for boss is not here.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "mb_file.h"
#include "mb_log.h"

#define OUT_MAX (4u << 20)
#define IN_CHUNK 16384

struct client {
	int fd;
	struct mb_ctl_timer *idle;
	char *in;
	size_t inlen;
	struct mb_ctl_outq out;
	bool closing; /* flush out, then close */
	struct client *next;
};

static int sock_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct client *clients;
static unsigned nclients;
static unsigned max_clients = 32;
static uint64_t timeout_ms = 30000;
static uint64_t rejected_clients;

static void
client_free(struct client *c)
{
	struct client **pp;

	for (pp = &clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	(void)mb_ctl_loop_del(c->fd);
	(void)close(c->fd);
	mb_ctl_timer_free(c->idle);
	free(c->in);
	free(c->out.buf);
	free(c);
	nclients--;
}

static void
client_idle(void *arg)
{
	struct client *c = arg;
	char *line = mb_ctl_reply_error("idle timeout, closing");

	/* Best effort: the client may not be reading at all. */
	if (line != NULL)
		(void)!send(c->fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
	free(line);
	client_free(c);
}

/* Write what we can.  -1 when the client is gone. */
static int
client_flush(struct client *c)
{
	while (c->out.off < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + c->out.off, c->out.len - c->out.off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1)
			return -1;
		c->out.off += (size_t)n;
	}
	if (c->out.off == c->out.len) {
		c->out.off = c->out.len = 0;
		if (c->closing)
			return -1;
	}
	(void)mb_ctl_loop_mod(c->fd, (c->closing ? 0 : EPOLLIN) | (c->out.len > 0 ? EPOLLOUT : 0));
	return 0;
}

static void
client_io(int fd, uint32_t events, void *arg)
{
	struct client *c = arg;

	(void)fd;
	if (events & EPOLLIN) {
		for (;;) {
			ssize_t n;

			if (c->inlen == MB_CTL_MAX_LINE + 1) {
				/* Full buffer and no newline: the line is too long. */
				c->closing = true;
				if (!mb_ctl_outq_push(&c->out,
						      mb_ctl_reply_error("request line too long"),
						      OUT_MAX))
					goto drop;
				break;
			}
			n = recv(c->fd, c->in + c->inlen, MB_CTL_MAX_LINE + 1 - c->inlen,
			         MSG_DONTWAIT);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0) {
				/* EOF: answer what is queued, then close. */
				c->closing = true;
				break;
			}
			c->inlen += (size_t)n;
			if (mb_ctl_answer_lines(c->in, &c->inlen, &c->out, OUT_MAX) < 0) {
				MB_LOG(DEBUG, CTL, "control client output over %u bytes, dropping it",
				       OUT_MAX);
				goto drop;
			}
		}
		(void)mb_ctl_timer_rearm(c->idle, timeout_ms, 0);
	}
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN))
		goto drop;
	if (client_flush(c) < 0)
		goto drop;
	return;
drop:
	client_free(c);
}

static void
listen_io(int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	for (;;) {
		int cfd = mb_ctl_accept(fd, NULL, NULL);
		struct client *c;

		if (cfd == -1) {
			static struct mb_ratelimit rl = MB_RATELIMIT_INIT(10000, 3);

			if (errno != EAGAIN && errno != EWOULDBLOCK)
				MB_LOG_RL(&rl, WARNING, CTL, "control socket accept: %s, ignoring",
					  strerror(errno));
			return;
		}
		if (nclients >= max_clients) {
			char *line = mb_ctl_reply_error("too many control clients");

			rejected_clients++;
			if (line != NULL)
				(void)!send(cfd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
			free(line);
			(void)close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c != NULL)
			c->in = malloc(MB_CTL_MAX_LINE + 1);
		if (c == NULL || c->in == NULL) {
			if (c != NULL)
				free(c);
			(void)close(cfd);
			continue;
		}
		c->fd = cfd;
		c->idle = mb_ctl_timer_new(timeout_ms, 0, client_idle, c);
		if (c->idle == NULL || mb_ctl_loop_add(cfd, EPOLLIN, client_io, c) != 0) {
			mb_ctl_timer_free(c->idle);
			free(c->in);
			free(c);
			(void)close(cfd);
			continue;
		}
		c->next = clients;
		clients = c;
		nclients++;
	}
}

static json_t *
health_control(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
	return json_pack("{s:i,s:i,s:I}", "clients", (int)nclients, "max-clients", (int)max_clients,
	                 "rejected", (json_int_t)rejected_clients);
}

/* server.max-control-clients and control-timeout: the next client, and
 * every idle timer armed from now on. */
static int
sock_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	max_clients = (unsigned)cfg->max_control_clients;
	timeout_ms = cfg->control_timeout * 1000;
	return 0;
}

static int
sock_open(const struct mb_config *cfg)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	gid_t gid = (gid_t)-1;
	mode_t mode, old_mask;
	struct stat st;
	int fd, rc;

	(void)sock_reconfig(cfg, NULL, 0);
	if (strlen(cfg->control_socket) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cfg->control_socket);
	rc = mb_file_mkdir_parents(sun.sun_path);
	if (rc != 0) {
		MB_LOG(ERR, CTL, "cannot create the directory of '%s': %s", sun.sun_path,
		       strerror(-rc));
		return rc;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (lstat(sun.sun_path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			MB_LOG(ERR, CTL, "'%s' exists and is not a socket", sun.sun_path);
			(void)close(fd);
			return -EEXIST;
		}
		/* A live daemon answers; a stale socket file is replaced. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			(void)close(probe);
			(void)close(fd);
			MB_LOG(ERR, CTL, "another daemon is listening on '%s'", sun.sun_path);
			return -EADDRINUSE;
		}
		if (probe != -1)
			(void)close(probe);
		(void)unlink(sun.sun_path);
	}
	/* Born owner-only (no window in which others may connect), then given
	 * the configured group and mode before listen(). */
	mode = (mode_t)strtoul(cfg->control_socket_mode, NULL, 8) & 0777;
	if (cfg->control_socket_group[0] != '\0') {
		struct group *g = getgrnam(cfg->control_socket_group);

		if (g == NULL) {
			MB_LOG(ERR, CTL, "control socket: no group '%s'", cfg->control_socket_group);
			(void)close(fd);
			return -ENOENT;
		}
		gid = g->gr_gid;
	}
	old_mask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	(void)umask(old_mask);
	if (rc == -1 || (gid != (gid_t)-1 && chown(sun.sun_path, (uid_t)-1, gid) == -1) ||
	    chmod(sun.sun_path, mode) == -1 || listen(fd, 64) == -1) {
		rc = -errno;
		MB_LOG(ERR, CTL, "control socket '%s': %s", sun.sun_path, strerror(-rc));
		(void)close(fd);
		return rc;
	}
	rc = mb_ctl_loop_add(fd, EPOLLIN, listen_io, NULL);
	if (rc != 0) {
		(void)close(fd);
		(void)unlink(sun.sun_path);
		return rc;
	}
	sock_fd = fd;
	memcpy(sock_path, sun.sun_path, sizeof(sock_path));
	return 0;
}

static void
sock_close(void)
{
	while (clients != NULL)
		client_free(clients);
	if (sock_fd >= 0) {
		(void)mb_ctl_loop_del(sock_fd);
		(void)close(sock_fd);
		(void)unlink(sock_path);
	}
	sock_fd = -1;
}

const struct mb_ctl_subsys mb_ctl_subsys_sock = {
	.name = "control",
	.title = "the control socket",
	.start = sock_open,
	.reconfig = sock_reconfig,
	.stop = sock_close,
	.health_key = "control",
	.health = health_control,
	.required = true,
};
