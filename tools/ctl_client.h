/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossctl's side of the control socket (tools/ctl_client.c): connect,
 * send one request line, read one reply line.  Shared by the commands in
 * minibossctl.c and `minibossctl wait` (tools/ctl_wait.c).  DPDK-free.
 */
#ifndef _MB_CTL_CLIENT_H_
#define _MB_CTL_CLIENT_H_

#include <stdbool.h>

#include <jansson.h>

/* A connected stream socket to the daemon at `sock`, or -errno (ENOENT or
 * ECONNREFUSED: nothing listens there).  With `quiet` false, says why on
 * stderr ("minibossd is not running" for those two). */
int mb_ctl_connect(const char *sock, bool quiet);

/* One request on an open connection, waiting at most timeout_ms for the
 * reply line.  The reply object (new reference), or NULL after printing
 * why on stderr unless `quiet` (*ret_rc is then 2: socket trouble). */
json_t *mb_ctl_request(int fd, const char *cmd, json_t *args, int timeout_ms, bool quiet,
		       int *ret_rc);

/* The "result" of a request (new reference), or NULL with the error
 * printed: *ret_rc 1 when the daemon answered an error, 2 on socket
 * trouble. */
json_t *mb_ctl_call(int fd, const char *cmd, json_t *args, int *ret_rc);

/* `minibossctl wait`: argv[0] is "wait"; `sock` the control socket.
 * Returns the exit status (0 ready, 1 timed out, 2 usage or no daemon). */
int mb_ctl_wait_main(const char *sock, int argc, char **argv);

#endif /* _MB_CTL_CLIENT_H_ */
