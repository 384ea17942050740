/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Blocking socket clients for tests (mbt_net.h): what the control-thread
 * tests dial, and reads bounded by the socket timeouts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mbt_net.h"

void
mbt_set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
mbt_dial_tcp_from(const char *src, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in la = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	mbt_set_timeouts(fd, 5000);
	if ((src != NULL && (inet_pton(AF_INET, src, &la.sin_addr) != 1 ||
			     bind(fd, (struct sockaddr *)&la, sizeof(la)) == -1)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
mbt_dial_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	mbt_set_timeouts(fd, 5000);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

bool
mbt_read_until(int fd, char *buf, size_t cap, const char *want)
{
	size_t got = 0;

	buf[0] = '\0';
	while (got + 1 < cap) {
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);

		if (n <= 0)
			return false;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, want) != NULL)
			return true;
	}
	return false;
}

bool
mbt_read_eof(int fd)
{
	char buf[256];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return true;
		if (n < 0)
			return false;
	}
}
