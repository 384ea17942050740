/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Blocking socket clients for tests whose control loop runs on another
 * thread: TCP from a chosen loopback source address, the Unix control
 * socket, and reads that wait for a marker or for the peer to close.  Every
 * socket gets send and receive timeouts, so a test fails instead of hanging.
 */
#ifndef _MBT_NET_H_
#define _MBT_NET_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SO_RCVTIMEO and SO_SNDTIMEO of fd, in milliseconds. */
void mbt_set_timeouts(int fd, int ms);
/* A TCP connection to 127.0.0.1:port from `src` (NULL: the kernel's
 * choice), 5 s timeouts.  The descriptor, or -1. */
int mbt_dial_tcp_from(const char *src, uint16_t port);
/* A connection to the Unix socket at path, 5 s timeouts.  fd or -1. */
int mbt_dial_unix(const char *path);
/* Read until `want` appears in what was received (NUL-terminated in buf),
 * or EOF/timeout.  True when found. */
bool mbt_read_until(int fd, char *buf, size_t cap, const char *want);
/* True when the peer closes within the socket's timeout (data before the
 * close is skipped). */
bool mbt_read_eof(int fd);

#endif /* _MBT_NET_H_ */
