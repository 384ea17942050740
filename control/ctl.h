/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's public surface.  Everything here runs on the one
 * control thread (an epoll loop) unless a comment says otherwise; nothing on
 * it may block: sockets are non-blocking, file hashing and big reads are
 * chunked through the loop, libcurl runs through its multi interface.
 *
 * Subsystems (image store, master server, sync, FTP control, TLS control
 * socket) plug in through three hooks: file descriptors and timers on the
 * loop, rows in the action table (one C function per action, shared by the
 * JSON socket, minibossctl and DPDK telemetry), and health contributors.
 */
#ifndef _MB_CTL_H_
#define _MB_CTL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "mb_config.h"

/* ---- event loop ------------------------------------------------------- */

typedef void (*mb_ctl_fd_fn)(int fd, uint32_t events, void *arg);
typedef void (*mb_ctl_timer_fn)(void *arg);
struct mb_ctl_timer;

/* Watch fd for EPOLL* `events`; fn runs on the control thread. 0 or -errno. */
int mb_ctl_loop_add(int fd, uint32_t events, mb_ctl_fd_fn fn, void *arg);
int mb_ctl_loop_mod(int fd, uint32_t events);
int mb_ctl_loop_del(int fd);

/*
 * Timers.  A timer fires after `first_ms` and then every `period_ms`
 * (0 = one-shot).  It uses no descriptor.  Ownership: the creator owns the
 * timer from mb_ctl_timer_new until it calls mb_ctl_timer_free, one-shot or
 * not; firing never frees it (a fired one-shot is only disarmed, and may be
 * rearmed).  So an object with a timer frees it where the object is freed,
 * and never forgets the pointer.  mb_ctl_timer_free may be called from the
 * timer's own callback, and on NULL.  new returns NULL with errno (ENOMEM);
 * rearm re-arms (or arms a fired one-shot) and never fails on a live timer;
 * disarm stops it without freeing.  A timer armed from a timer callback with
 * 0 ms fires on the next loop pass, after the descriptors had their turn.
 */
struct mb_ctl_timer *mb_ctl_timer_new(uint64_t first_ms, uint64_t period_ms,
				      mb_ctl_timer_fn fn, void *arg);
int mb_ctl_timer_rearm(struct mb_ctl_timer *t, uint64_t first_ms, uint64_t period_ms);
void mb_ctl_timer_disarm(struct mb_ctl_timer *t);
void mb_ctl_timer_free(struct mb_ctl_timer *t);
/* Live timers (created and not freed): tests use it to see leaks. */
unsigned mb_ctl_timer_count(void);

/*
 * Deferred call: fn(arg) runs once, on the control thread, after the handler
 * or timer callback that is running has returned (at the end of the current
 * loop pass).  For "free this object once nobody up the stack uses it".  The
 * node lives in the caller's object (zero it at creation) and must stay
 * valid until fn runs, which may free it; deferring a node that is already
 * queued does nothing.  Cannot fail.  Pending calls run at mb_ctl_loop_fini
 * at the latest.
 */
struct mb_ctl_defer {
	struct mb_ctl_defer *next;
	mb_ctl_timer_fn fn;
	void *arg;
	bool queued;
};
void mb_ctl_defer(struct mb_ctl_defer *d, mb_ctl_timer_fn fn, void *arg);

/*
 * accept4(lfd, ..., SOCK_NONBLOCK | SOCK_CLOEXEC) for a listener on the loop.
 * Returns the new fd, or -1 with errno: EAGAIN when nothing is pending, or
 * when the process or the system is out of descriptors or memory (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM): then the listener gets no events for a short
 * while instead of waking the loop forever, the pause is counted ("loop"
 * health entry) and logged (rate-limited), and the clients waiting in the
 * backlog are accepted once descriptors are back.  Other errors as accept4.
 */
int mb_ctl_accept(int lfd, struct sockaddr *sa, socklen_t *salen);

/* Ask the loop to return (any thread; async-signal-safe). */
void mb_ctl_loop_stop(void);

/* ---- actions ------------------------------------------------------------ */

/*
 * One control action.  `args` is the request object (borrowed; may be NULL).
 * On success return a new reference to the reply's "result" value and leave
 * *ret_err NULL; on failure return NULL and set *ret_err to a malloc'd
 * message (the socket turns it into {"ok":false,"error":...}).
 *
 * Actions that finish later (sync --wait) are out of scope for v1: they
 * return at once and the client polls.
 */
typedef json_t *(*mb_ctl_action_fn)(json_t *args, char **ret_err);

struct mb_ctl_action {
	const char *name;
	mb_ctl_action_fn fn;
	const char *help;
};

/* Register an action (control thread, before the loop runs or from it).
 * Names are unique; 0 or -EEXIST/-ENOMEM. */
int mb_ctl_action_register(const struct mb_ctl_action *a);
/* Run an action by name (what the socket, the CLI and telemetry call). */
json_t *mb_ctl_action_run(const char *name, json_t *args, char **ret_err);

/* ---- health ------------------------------------------------------------- */

enum mb_health_state {
	MB_HEALTH_OK = 0,
	MB_HEALTH_DEGRADED,
	MB_HEALTH_DRAINING,
	MB_HEALTH_DOWN,
};

const char *mb_health_state_name(enum mb_health_state s);

/*
 * A health contributor returns a new JSON object placed under `key` in the
 * health reply and may raise *worst (never lower it).  Runs on the control
 * thread; must not block.
 */
typedef json_t *(*mb_ctl_health_fn)(enum mb_health_state *worst, void *arg);
int mb_ctl_health_register(const char *key, mb_ctl_health_fn fn, void *arg);
/* From inside a health contributor: add {"state":s,"why":...} to the
 * reply's "reasons" (a contributor that raises *worst without calling it
 * gets a generic reason).  Ignored outside a health run. */
void mb_ctl_health_reason(enum mb_health_state s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The live configuration (control thread; replaced on reload). */
const struct mb_config *mb_ctl_config(void);

/* ---- thread lifecycle (control/ctl.c; main thread) ----------------------- */

/* Start the control thread (rte_ctrl_thread_create): it registers with
 * liburcu-qsbr, opens the control socket, loads the image store, starts the
 * master server, sync from ops and telemetry commands, and handles SIGINT/SIGTERM (quit:
 * mb_dp_stop()) and SIGHUP (reload) through a signalfd.  `cfg` is copied;
 * `config_path` is re-read on reload.  Blocks until the thread reports that
 * startup finished; 0 or -errno (already logged). */
int mb_ctl_start(const struct mb_config *cfg, const char *config_path);
/* Stop the loop, close everything, unpublish the images and join the thread.
 * After the lcores returned.  Main thread. */
void mb_ctl_stop(void);
/* True once SIGINT/SIGTERM arrived (the main thread then shuts down). */
bool mb_ctl_quit_requested(void);

/* ---- dataplane events ------------------------------------------------------ */

/* Called on the control thread for each event of `type` (enum
 * mb_dp_event_type) read from mb_dp_event_fd().  Up to 8 handlers per type.
 * 0 or -ENOSPC/-EINVAL. */
struct mb_dp_event;
typedef void (*mb_ctl_event_fn)(const struct mb_dp_event *ev, void *arg);
int mb_ctl_event_register(int type, mb_ctl_event_fn fn, void *arg);

/* ---- image store (control/ctl_store.c) ------------------------------------ */

struct mb_image;
struct mb_manifest;
struct mb_manifest_entry;

/* For sync: move `verified_path` (same file system as the state dir) to
 * <state-dir>/images/<e->name>, record e in the local manifest.json (atomic
 * rewrite), then verify, load and publish it (asynchronously; the old version
 * stays published until the new one is verified).  0 or -errno. */
int mb_ctl_store_install(const struct mb_manifest_entry *e, const char *verified_path);
/* For sync's one-pass download: a new, unpublished image object for e (refcnt
 * 1, owned by the caller) whose hugepage memory (e->size rounded up to
 * MB_IMAGE_ALIGN, the padding zeroed) the caller fills as bytes arrive.  NULL
 * when it does not fit the hugepage budget or memory (then use
 * mb_ctl_store_install).  Release an unused one with mb_image_unref. */
struct mb_image *mb_ctl_store_image_alloc(const struct mb_manifest_entry *e);
/* Like mb_ctl_store_install, but publish `img` (from mb_ctl_store_image_alloc,
 * holding exactly the bytes of `verified_path`, whose size and SHA-256 the
 * caller checked against e) at once, without reading or hashing the file
 * again.  Always consumes the caller's reference to img.  0 or -errno. */
int mb_ctl_store_install_filled(const struct mb_manifest_entry *e, const char *verified_path,
				struct mb_image *img);
/* Remove an image from the local manifest and withdraw it.  0 or -ENOENT. */
int mb_ctl_store_retire(const char *name);
/* Mark an image as being downloaded (on) or not any more (off): shown as
 * "downloading" in images/health and answered TRYAGAIN by the master server
 * while no version of it is published.  0 or -errno. */
int mb_ctl_store_set_downloading(const struct mb_manifest_entry *e, bool on);
/* Deep copy of the local manifest (free with mb_manifest_done).  0/-ENOMEM. */
int mb_ctl_store_get_manifest(struct mb_manifest *ret);

/* ---- master server (control/ctl_master.c) -------------------------------- */

/* Open the TCP listener (frisbee.master-listen:master-port, nothing if the
 * port is 0 or frisbee.enable is off), register the "sessions" action and
 * the "master" health contributor.  Control thread, after the loop exists
 * and after the thread called rcu_register_thread().  0 or -errno (logged). */
int mb_ctl_master_start(const struct mb_config *cfg);
/* Reloadable keys (frisbee.methods).  Control thread. */
void mb_ctl_master_reconfig(const struct mb_config *cfg);
/* Frees a session's group and port; mb_ctl_master_start registers it for
 * MB_DP_EV_SESSION_END through mb_ctl_event_register, so callers need not. */
void mb_ctl_master_session_end(uint32_t id);
/* Close the listener and connections, free the table.  Control thread. */
void mb_ctl_master_stop(void);
/* The store withdrew (name, version) because its bytes went bad: end the
 * Frisbee sessions the master server started on it (mb_dp_fris_session_stop).
 * Control thread; nothing when the master server is off. */
void mb_ctl_master_stop_image(const char *name, uint64_t version);
/* The store/sync say whether `name` is known (manifest, download running)
 * but not published yet: GET then answers TRYAGAIN, GETSTATUS the size and
 * mtime if known (0 otherwise).  Control thread; fn must not block.
 * Each call adds a provider (up to 4; the same fn/arg twice counts once):
 * the store adds its "loading" state, sync its "downloading" one. */
typedef bool (*mb_ctl_pending_fn)(const char *name, uint64_t *ret_size, int64_t *ret_mtime,
				  void *arg);
void mb_ctl_master_set_pending(mb_ctl_pending_fn fn, void *arg);

/* ---- FTP control (control/ctl_ftp.c, tcp) -------------------------------- */

/* Listen on tcp.ftp-port (kernel socket, reached through the exception path)
 * and hand data transfers to the dataplane with mb_dp_tcp_expect().  Listens
 * for MB_DP_EV_FTP_XFER_END events; registers the "ftp" health entry.
 * 0 or -errno (logged). */
int mb_ctl_ftp_start(const struct mb_config *cfg);
/* Reloadable keys (tcp.ftp-max-per-source).  Control thread. */
void mb_ctl_ftp_reconfig(const struct mb_config *cfg);
/* A data transfer ended (the MB_DP_EV_FTP_XFER_END handler calls it). */
void mb_ctl_ftp_xfer_done(uint64_t cookie, bool ok);
void mb_ctl_ftp_stop(void);
/* {"listening","clients","max-clients","refused-draining","transfers":[{peer,
 * what, bytes}]}: new reference (for the boss health section). */
json_t *mb_ctl_ftp_json(void);

/* ---- boss: drain and the "boss" health section (control/ctl_boss.c) ------- */

/* Register the drain/undrain actions and the "boss" health contributor.
 * Control thread.  0 or -errno (logged). */
int mb_ctl_boss_start(const struct mb_config *cfg);
/* Reloadable limits the load figure divides by.  Control thread. */
void mb_ctl_boss_reconfig(const struct mb_config *cfg);
void mb_ctl_boss_stop(void);
/* True while drained: refuse new sessions, logins and connections. */
bool mb_ctl_draining(void);

/* ---- TLS control socket for boss (control/ctl_tls.c) ---------------------- */

/* Listen on control.tls-listen (nothing when empty) with TLS 1.2+ and
 * mandatory client certificates signed by control.tls-ca; each line is
 * handled like one on the Unix socket.  Control thread.  0 or -errno
 * (logged). */
int mb_ctl_tls_start(const struct mb_config *cfg);
/* Re-read the certificate, key and CA (SIGHUP/reload) and the limits; on a
 * load error the old credentials stay.  Control thread. */
void mb_ctl_tls_reconfig(const struct mb_config *cfg);
/* Close the listener and every client.  Control thread. */
void mb_ctl_tls_stop(void);

/* ---- sync from ops (control/ctl_sync.c, sync) ----------------------------- */

/* Start polling origin.url (nothing when it is empty or not https), register
 * the "sync" action ({"wait":false}: start a sync now; returns the status)
 * and the "sync" health contributor; resume or remove leftover .part files.
 * Control thread, after the loop and the store started.  0 or -errno (logged). */
int mb_ctl_sync_start(const struct mb_config *cfg);
/* Apply reloadable [origin] keys (url, TLS files, key, site, interval,
 * rates...): the next sync uses them.  Control thread. */
void mb_ctl_sync_reconfig(const struct mb_config *cfg);
/* Abort transfers (their .part files stay for a later resume) and free. */
void mb_ctl_sync_stop(void);

#endif /* _MB_CTL_H_ */
