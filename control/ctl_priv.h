/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private glue between the files of the control thread (loop, actions,
 * subsystem table, thread entry).  Not a contract for other engineers;
 * ctl.h is.  All of it runs on the control thread unless a comment says
 * otherwise.
 */
#ifndef _MB_CTL_PRIV_H_
#define _MB_CTL_PRIV_H_

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ctl.h"
#include "mb_config.h"

/* ctl_loop.c */
int mb_ctl_loop_init(void);
void mb_ctl_loop_fini(void);
/* One epoll_wait pass (timeout_ms -1 = block).  Events handled or -errno. */
int mb_ctl_loop_run_once(int timeout_ms);
/* Until mb_ctl_loop_stop().  0 or -errno. */
int mb_ctl_loop_run(void);
bool mb_ctl_loop_stopping(void);
/* The "loop" health entry: accept pauses, paused listeners, live timers and
 * the descriptor limit.  New reference. */
json_t *mb_ctl_loop_health_json(void);
/* The calling (control) thread is registered with liburcu-qsbr: go offline
 * around each wait. */
void mb_ctl_loop_set_rcu(bool registered);

/* ctl_subsys.c: keep the debug level of `minibossd -d` across reloads. */
void mb_ctl_keep_debug(bool on);
/* ctl_subsys.c: also call fn with every log level the log subsystem sets
 * (ctl.c: the rte_log types). */
void mb_ctl_log_hook(void (*fn)(int level));
/* ctl.c: the main thread launched the lcores; READY=1 may follow once the
 * store verified its images.  Any thread. */
void mb_ctl_dataplane_running(void);

/* ctl_action.c */
#define MB_CTL_MAX_LINE (64 * 1024)
/* Turn one request line (without its newline, need not be NUL-terminated)
 * into one reply line: a malloc'd string ending in "\n" (caller frees), or
 * NULL on ENOMEM.  Never fails otherwise: bad requests get an error reply. */
char *mb_ctl_request_handle(const char *line, size_t len);
/* An error reply line {"ok":false,"error":msg}\n, malloc'd. */
char *mb_ctl_reply_error(const char *msg);

/* A control client's reply bytes not written yet: buf[off..len).  Shared by
 * the Unix and the TLS control socket. */
struct mb_ctl_outq {
	char *buf;
	size_t len, off;
};
/* Queue `line` (malloc'd, NUL-terminated; taken in every case).  false when
 * more than `max` bytes would wait, or on ENOMEM: drop the client. */
bool mb_ctl_outq_push(struct mb_ctl_outq *q, char *line, size_t max);
/* Answer every whole request line at the front of in[0..*inlen) (a '\r'
 * before the '\n' is dropped, empty lines are skipped) through
 * mb_ctl_request_handle, queue the replies on q (bound `max`), and move what
 * is left of the input to the front.  The number of requests answered, or
 * -1 when a reply could not be queued: drop the client. */
int mb_ctl_answer_lines(char *in, size_t *inlen, struct mb_ctl_outq *q, size_t max);
/* Set the live config and the start time used by health.  `cfg` is borrowed
 * and must stay valid until the next call. */
void mb_ctl_set_config(const struct mb_config *cfg);
/* Drop every registered action and health contributor. */
void mb_ctl_registry_clear(void);
/* Built-in actions (health, config, help) and the "loop" and "build" health
 * entries. */
int mb_ctl_action_builtin_register(void);
/* The aggregated health state (runs every contributor). */
json_t *mb_ctl_health_json(enum mb_health_state *ret_state);
/* Set by ctl.c while draining/stopping: raises the health state. */
void mb_ctl_health_set_floor(enum mb_health_state s);
/* The same with the reason shown in health's "reasons". */
void mb_ctl_health_set_floor_why(enum mb_health_state s, const char *why);

/* ctl_subsys.c: shut down (SIGINT/SIGTERM): tell systemd, health "down",
 * the dataplane's lcores return; the main thread does the rest.  Once. */
void mb_ctl_quit(void);
/* ctl_subsys.c: STATUS= with the one-line health summary, after `extra`
 * (e.g. "READY=1\n"; may be NULL). */
void mb_ctl_status_notify(const char *extra);

/* ctl_dataplane.c: forget every event handler (core stop). */
void mb_ctl_events_clear(void);

/* ctl_store.c: one pass of the hugepage cache at now_ns (CLOCK_MONOTONIC):
 * demote idle images over a lowered budget, promote a busy or displaced mmap
 * image when room allows.  The store's timer calls it every
 * MB_CACHE_TICK_MS; tests call it directly.  Never blocks (copies run on the
 * worker). */
void mb_ctl_store_cache_tick(uint64_t now_ns);

/* ctl_telemetry.c (library mb_ctl_eal) */
extern const struct mb_ctl_subsys mb_ctl_subsys_telemetry;

#endif /* _MB_CTL_PRIV_H_ */
