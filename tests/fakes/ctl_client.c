/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A master-server client for tests that run the control loop on their own
 * thread (ctl_fakes.h): non-blocking socket, the loop pumped between tries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_fakes.h"
#include "ctl_priv.h"
#include "mb_time.h"
#include "ms_wire.h"

int
mbt_ms_request(uint16_t port, const char *src, const struct mb_ms_get_request *req,
	       struct mb_ms_get_reply *rep)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in me = { .sin_family = AF_INET };
	uint8_t out[MB_MS_MSG_MAX], in[MB_MS_MSG_MAX];
	uint64_t end = mb_time_mono_ns() + 5 * MB_NS_PER_SEC;
	size_t sent = 0, got = 0;
	int fd, rc = -ETIMEDOUT;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	(void)inet_pton(AF_INET, src != NULL ? src : "127.0.0.1", &me.sin_addr);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == -1 ||
	    (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS)) {
		rc = -errno;
		goto out;
	}
	if (mb_ms_get_request_encode(req, out, sizeof(out)) < 0) {
		rc = -EINVAL;
		goto out;
	}
	while (mb_time_mono_ns() < end) {
		ssize_t n;

		(void)mb_ctl_loop_run_once(5);
		if (sent < MB_MS_GETREQ_LEN) {
			n = send(fd, out + sent, MB_MS_GETREQ_LEN - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != ENOTCONN)
				break;
			continue;
		}
		n = recv(fd, in + got, sizeof(in) - got, 0);
		if (n > 0) {
			got += (size_t)n;
			if (got >= MB_MS_GETREPLY_LEN)
				break;
		} else if (n == 0 || errno != EAGAIN) {
			break;
		}
	}
	if (got >= MB_MS_GETREPLY_LEN)
		rc = mb_ms_get_reply_decode(in, got, rep, NULL) == 0 ? 0 : -EBADMSG;
	else if (sent == MB_MS_GETREQ_LEN && mb_time_mono_ns() < end)
		rc = -EPIPE;
out:
	(void)close(fd);
	return rc;
}
