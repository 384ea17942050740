/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the files of server/ share: minibossd's start-up checks
 * (srv_preflight.c), what it takes from the host and gives back
 * (srv_host.c) and its log after EAL (srv_log.c), in the order main.c
 * calls them.  Main thread only, before the control thread starts or after
 * it stopped.
 */
#ifndef _MB_SRV_H_
#define _MB_SRV_H_

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mb_config.h"
#include "mb_log.h"

/* ---- the EAL arguments (srv_preflight.c) ---- */

/* The value of an EAL option ("--x=v", "--x v", or a short "-x v"/"-xv"),
 * its nth occurrence (0 = first); NULL when absent.  Points into argv. */
const char *mb_srv_eal_opt(int argc, char **argv, const char *lng, const char *shrt, int nth);
/* Is the flag (exactly) among the arguments? */
bool mb_srv_eal_flag(int argc, char **argv, const char *flag);
/* The "iface=X" of a --vdev argument into buf; false when it has none. */
bool mb_srv_vdev_iface(const char *vdev, char *buf, size_t len);

/* ---- start-up checks (srv_preflight.c): each problem is logged once, with
 * its fix, and counted in errors ---- */

struct mb_srv_preflight {
	int eal_argc;
	char **eal_argv;
	const struct mb_config *cfg;
	unsigned errors;
};

/* The capabilities the configuration and the EAL arguments need (before
 * the lock: no side effect). */
void mb_srv_preflight_privileges(struct mb_srv_preflight *p);
/* The capabilities the running daemon still needs (server.drop-privileges),
 * with a reason per kept capability in @why[64]. */
uint64_t mb_srv_runtime_caps(const struct mb_srv_preflight *p, const char **why);
/* With the lock held: the exception TAP name is free, the port interfaces
 * exist, hugepages are mounted and free, PCI NICs are bound to a DPDK
 * driver with an IOMMU, the state directory exists (or is created with
 * create-state-dir). */
void mb_srv_preflight_host(struct mb_srv_preflight *p);

/* ---- taken from the host, given back (srv_host.c) ---- */

/* Raise RLIMIT_NOFILE to server.open-files, and at least to what the
 * client limits need; never lowers it.  Logs what it did. */
void mb_srv_raise_nofile(const struct mb_config *cfg);
/* "<control-socket>.lock" (flock, holding our pid) for the daemon's life.
 * 0, or -errno after logging (-EADDRINUSE: another minibossd holds it). */
int mb_srv_lock_take(const struct mb_config *cfg);
void mb_srv_lock_release(void);
/* Remember the promiscuous/allmulticast flags of the interfaces the
 * virtual ports in the EAL arguments take over; put them back at exit. */
void mb_srv_ifaces_record(int argc, char **argv);
void mb_srv_ifaces_restore(void);
/* Where rte_eal_init puts its runtime directory for these arguments. */
void mb_srv_eal_runtime_dir(int argc, char **argv, char *buf, size_t len);
/* Remove that directory and its files (only once EAL is done with it). */
void mb_srv_eal_runtime_dir_remove(const char *dir);

/* ---- the log after EAL (srv_log.c) ---- */

/* MB_LOG's sink once EAL is up: one rte_log line per message. */
void mb_srv_log_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt,
		     va_list ap);
/* The stream for rte_openlog_stream(): each line with mb_log_prefix()'s
 * prefix, written whole to stderr.  NULL on failure. */
FILE *mb_srv_log_stream_open(void);

#endif /* _MB_SRV_H_ */
