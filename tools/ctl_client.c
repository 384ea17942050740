/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client end of minibossd's control socket: a Unix stream socket that
 * takes one JSON request per line, {"cmd":...,"args":{...}}, and answers one
 * line, {"ok":true,"result":...} or {"ok":false,"error":"..."}.  Replies are
 * bounded (REPLY_MAX) and every wait is bounded by a poll timeout, so a
 * stuck or hostile peer on the socket cannot hang or exhaust minibossctl.
 * Printing for people is the callers' business; this file only says what
 * went wrong with the socket.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_client.h"
#include "mb_cleanup.h"

#define REPLY_MAX (64u << 20)

int
mb_ctl_connect(const char *sock, bool quiet)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, e;

	if (strlen(sock) >= sizeof(sun.sun_path)) {
		if (!quiet)
			fprintf(stderr, "minibossctl: socket path too long\n");
		return -ENAMETOOLONG;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd != -1 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	if (!quiet && (e == ENOENT || e == ECONNREFUSED))
		fprintf(stderr, "minibossctl: minibossd is not running (no daemon on '%s')\n", sock);
	else if (!quiet)
		fprintf(stderr, "minibossctl: cannot connect to '%s': %s\n", sock, strerror(e));
	if (fd != -1)
		close(fd);
	return -e;
}

/* Read one line within timeout_ms; returns malloc'd text without the
 * newline, or NULL with *why set. */
static char *
read_line(int fd, int timeout_ms, const char **why)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0) {
			*why = "timed out waiting for the daemon";
			break;
		}
		if (len == cap) {
			char *nb;

			if (cap >= REPLY_MAX) {
				*why = "reply too long";
				break;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				*why = "out of memory";
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = "the daemon closed the connection";
			break;
		}
		len += (size_t)n;
		nl = memchr(buf, '\n', len);
		if (nl != NULL) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

json_t *
mb_ctl_request(int fd, const char *cmd, json_t *args, int timeout_ms, bool quiet, int *ret_rc)
{
	/* "O" takes a reference of the caller's arguments, "o" the new empty
	 * object's only one (with "O" it would never be freed). */
	json_auto_t *req = args != NULL ? json_pack("{s:s,s:O}", "cmd", cmd, "args", args) :
		json_pack("{s:s,s:o}", "cmd", cmd, "args", json_object());
	_cleanup_free_ char *text = NULL, *line = NULL;
	const char *why = "";
	json_t *reply;

	*ret_rc = 2;
	if (req == NULL || (text = json_dumps(req, JSON_COMPACT)) == NULL) {
		if (!quiet)
			fprintf(stderr, "minibossctl: command is not valid UTF-8\n");
		return NULL;
	}
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) != (ssize_t)strlen(text) ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		int e = errno;

		/* A daemon refusing us (its client limit) replies and closes at
		 * once, maybe before we wrote: that reply is already here. */
		line = read_line(fd, 0, &why);
		if (line == NULL) {
			if (!quiet)
				fprintf(stderr, "minibossctl: cannot send: %s\n", strerror(e));
			return NULL;
		}
	} else {
		line = read_line(fd, timeout_ms, &why);
	}
	if (line == NULL) {
		if (!quiet)
			fprintf(stderr, "minibossctl: %s\n", why);
		return NULL;
	}
	reply = json_loads(line, 0, NULL);
	if (!json_is_boolean(json_object_get(reply, "ok"))) {
		if (!quiet)
			fprintf(stderr, "minibossctl: malformed reply from the daemon\n");
		json_decref(reply);
		return NULL;
	}
	*ret_rc = 0;
	return reply;
}

json_t *
mb_ctl_call(int fd, const char *cmd, json_t *args, int *ret_rc)
{
	json_auto_t *reply = mb_ctl_request(fd, cmd, args, 30000, false, ret_rc);
	json_t *e;

	if (reply == NULL)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		e = json_object_get(reply, "error");
		fprintf(stderr, "minibossctl: %s: %s\n", cmd,
		        json_is_string(e) ? json_string_value(e) : "error");
		*ret_rc = 1;
		return NULL;
	}
	return json_incref(json_object_get(reply, "result"));
}
