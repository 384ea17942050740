/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dropping capabilities once minibossd runs (server.drop-privileges).
 *
 * EAL, the ports, the exception TAP and the listeners need root's
 * capabilities to start; the running daemon needs only a few: the set is
 * computed by the caller (main.c knows the EAL arguments) and passed here as
 * a mask of CAP_* bits.  Linux keeps capabilities, the bounding set and
 * no_new_privs per thread, and a process's threads are created by EAL,
 * liburcu and us before the drop, so the drop is made by every thread
 * itself: see mb_priv.c.
 */
#ifndef MB_PRIV_H
#define MB_PRIV_H

#include <stdint.h>

/* Capability numbers (linux/capability.h) used by the callers. */
#define MB_CAP_NET_BIND_SERVICE 10
#define MB_CAP_NET_ADMIN 12
#define MB_CAP_NET_RAW 13
#define MB_CAP_IPC_LOCK 14
#define MB_CAP_SYS_ADMIN 21
#define MB_CAP_BPF 39

/*
 * Before any thread exists (before rte_eal_init): make liburcu's default
 * call_rcu thread now, from a helper thread that already holds only @keep.
 * liburcu blocks every signal in that thread, so mb_priv_drop() could not
 * reach it later; born from the helper, it never has more than @keep.
 * Returns 0 or -errno.
 */
int mb_priv_prepare(uint64_t keep);

/*
 * Reduce every thread of the process (those that exist now; threads made
 * later inherit from their creator) to effective = permitted = @keep, no
 * inheritable or ambient capabilities, a bounding set of @keep, and
 * no_new_privs.  The calling thread does it directly, every other thread in
 * a signal handler (a real-time signal sent with tgkill), and each thread's
 * /proc status is read back to confirm.  Without CAP_SETPCAP (a daemon
 * started as a user with ambient capabilities) the bounding set is left as
 * it is, with a warning.
 * Returns 0, or -errno when a thread could not be reduced (it is named in
 * the log).
 */
int mb_priv_drop(uint64_t keep);

/* Format the names of the capabilities in @caps into @buf ("CAP_X, CAP_Y"). */
void mb_priv_names(uint64_t caps, char *buf, size_t len);

#endif
