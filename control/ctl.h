/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's public surface.  Everything here runs on the one
 * control thread (an epoll loop) unless a comment says otherwise; nothing on
 * it may block: sockets are non-blocking, file hashing and big reads are
 * chunked through the loop, libcurl runs through its multi interface.
 *
 * Subsystems (the control socket, the image store, the dataplane's events,
 * the master server, sync, FTP control, drain, the TLS control socket,
 * telemetry) are rows of one table (struct mb_ctl_subsys): a name, start,
 * reconfigure and stop, the actions and the health section they add, the
 * dataplane events they handle.  The core (ctl_subsys.c) walks the table at
 * start, on every reload and at stop, so a new subsystem is one row.  Inside,
 * a subsystem uses the loop's descriptors and timers, the shared worker
 * thread (ctl_worker.h) and control's view of the dataplane (ctl_dp.h).
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

/* A bound, listening, non-blocking TCP socket for "a.b.c.d:port", "*:port"
 * or "[v6]:port" (numeric only) with the given backlog (SO_REUSEADDR).
 * Returns the descriptor, or -EINVAL for a bad spec, or -errno. */
int mb_ctl_listen_tcp(const char *spec, int backlog);

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
 * health reply and may raise *worst (never lower it); NULL leaves its section
 * out (the subsystem is off).  Runs on the control thread; must not block.
 */
typedef json_t *(*mb_ctl_health_fn)(enum mb_health_state *worst, void *arg);
int mb_ctl_health_register(const char *key, mb_ctl_health_fn fn, void *arg);
/* From inside a health contributor: add {"state":s,"why":...} to the
 * reply's "reasons" (a contributor that raises *worst without calling it
 * gets a generic reason).  Ignored outside a health run. */
void mb_ctl_health_reason(enum mb_health_state s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The live configuration (control thread).  A reload replaces its contents
 * at the same address, so a subsystem may keep the pointer it was started
 * with; what a key means is read again where it is used, or in reconfig. */
const struct mb_config *mb_ctl_config(void);

/* ---- dataplane events ------------------------------------------------------ */

/* Called on the control thread for each event of `type` (enum
 * mb_dp_event_type) that the dataplane posts (ctl_dataplane.c reads them).
 * Up to 8 handlers per type.  0 or -ENOSPC/-EINVAL. */
struct mb_dp_event;
typedef void (*mb_ctl_event_fn)(const struct mb_dp_event *ev, void *arg);
int mb_ctl_event_register(int type, mb_ctl_event_fn fn, void *arg);

/* ---- subsystems (control/ctl_subsys.c) ------------------------------------- */

/*
 * One row of the subsystem table.  Every function runs on the control
 * thread; `cfg` is the live configuration (see mb_ctl_config()).
 *
 *  - start: open what the configuration asks for; a subsystem the
 *    configuration turns off returns 0 and stays idle (its reconfig may start
 *    it later).  0 or -errno, logged by the subsystem.
 *  - reconfig: apply every key the key table marks reloadable that this
 *    subsystem owns (NULL: it owns none).  0, or -errno with a one-line
 *    reason in err (the reload's reply carries it).
 *  - stop: close and free everything; safe after a failed or no start, and
 *    called once per start.  The shared worker has already drained (every
 *    work the subsystem submitted has completed) when stop runs.
 *  - actions, health, events: registered by the core after start (also when
 *    an optional start failed, so health can say why); health is the
 *    section `health_key` of the health reply.
 *  - required: a failed start aborts the daemon's start; otherwise the core
 *    logs "<title> not started (...), <without>" and goes on.
 */
struct mb_ctl_subsys {
	const char *name;  /* short, for logs: "store", "master", ... */
	const char *title; /* for people: "the master server" */
	int (*start)(const struct mb_config *cfg);
	int (*reconfig)(const struct mb_config *cfg, char *err, size_t errlen);
	void (*stop)(void);
	const struct mb_ctl_action *actions; /* n_actions rows */
	size_t n_actions;
	const char *health_key;
	mb_ctl_health_fn health;
	struct {
		int type; /* enum mb_dp_event_type, 0 = unused */
		mb_ctl_event_fn fn;
	} events[2];
	bool required;
	const char *without; /* what the daemon does without it, for the warning */
};

/* The subsystems of this library, for the daemon's table and for tests that
 * run some of them. */
extern const struct mb_ctl_subsys mb_ctl_subsys_log;	   /* ctl_subsys.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_sock;	   /* ctl_sock.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_store;	   /* ctl_store.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_dataplane; /* ctl_dataplane.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_master;	   /* ctl_master.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_sync;	   /* ctl_sync.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_origin;	   /* ctl_origin.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_ftp;	   /* ctl_ftp.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_boss;	   /* ctl_boss.c */
extern const struct mb_ctl_subsys mb_ctl_subsys_tls;	   /* ctl_tls.c */

/*
 * Start the control plane on the calling thread, whose loop exists
 * (mb_ctl_loop_init): copy `cfg` into the live configuration, register the
 * built-in actions (health, config, help; reload when config_path is not
 * NULL), start the shared worker, then start each subsystem of `tab` in
 * order.  The table is borrowed until mb_ctl_core_stop.  0 or the first
 * required subsystem's -errno (everything started is stopped again).
 */
int mb_ctl_core_start(const struct mb_config *cfg, const char *config_path,
		      const struct mb_ctl_subsys *const *tab, size_t n);
/* Drain the worker, stop the subsystems in reverse order, clear the action,
 * health and event tables.  Safe when not started. */
void mb_ctl_core_stop(void);
/*
 * Reload: parse `config_path` with every check of `minibossd -n`, refuse a
 * change to a key that is not reloadable (naming it), else make it the live
 * configuration and walk the table's reconfig.  0, or -errno with *ret_err
 * (malloc'd; every error with its file:line).  Warnings of the check go to
 * *ret_warnings (a new array, also on error; may be NULL on ENOMEM).  Logs
 * each problem once, and tells systemd RELOADING=1 then READY=1.
 */
int mb_ctl_reload(char **ret_err, json_t **ret_warnings);
/* The second half of mb_ctl_reload for a configuration already parsed and
 * checked (tests build one in memory).  `nc` is copied.  0 or -errno with a
 * message in err. */
int mb_ctl_core_apply(const struct mb_config *nc, char *err, size_t errlen);

/* ---- thread lifecycle (control/ctl.c; main thread) ----------------------- */

/* Start the control thread (rte_ctrl_thread_create): it registers with
 * liburcu-qsbr, builds its loop, starts the daemon's subsystem table
 * (ctl.c: log level, control socket, store, dataplane events, master
 * server, sync, FTP control, drain, TLS control socket, telemetry) against
 * the real dataplane and hugepages, and handles SIGINT/SIGTERM (quit:
 * mb_dp_stop()) and SIGHUP (reload) through a signalfd.  `cfg` is copied;
 * `config_path` is re-read on reload.  Blocks until the thread reports that
 * startup finished; 0 or -errno (already logged). */
int mb_ctl_start(const struct mb_config *cfg, const char *config_path);
/* Stop the loop, close everything, unpublish the images and join the thread.
 * After the lcores returned.  Main thread. */
void mb_ctl_stop(void);
/* True once SIGINT/SIGTERM arrived (the main thread then shuts down).  Any
 * thread. */
bool mb_ctl_quit_requested(void);

/* ---- image store (control/ctl_store.c) ------------------------------------ */

struct mb_image;
struct mb_manifest;
struct mb_manifest_entry;

/* What the store knows of one image, for sync's plan. */
enum mb_ctl_store_state {
	MB_CTL_STORE_ABSENT = 0, /* not in the local manifest */
	MB_CTL_STORE_OK,	 /* verified and published */
	MB_CTL_STORE_LOADING,	 /* being verified */
	MB_CTL_STORE_FAILED,	 /* its file failed verification (missing, short, corrupt) */
	MB_CTL_STORE_DOWNLOADING, /* only a download in progress */
};

/* For sync: move `verified_path` (same file system as the state dir) to
 * <state-dir>/images/<e->name>, make the rename durable (fsync of the
 * directories it changed), record e in the local manifest.json (atomic
 * rewrite), then verify, load and publish it (asynchronously; the old version
 * stays published until the new one is verified).  0 or -errno; on an error
 * nothing changed (the manifest in memory and on disk, what is published)
 * and verified_path is still there, the caller's to keep or remove.
 * -ENOSPC: images.max-images reached, or no room to rewrite the manifest. */
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
/* Remove an image from the local manifest (manifest.json rewritten), then
 * withdraw it and delete its file (sessions in flight keep their memory).
 * All or nothing: 0, or -ENOENT (not listed), or -errno (-ENOSPC, -EDQUOT:
 * no room to rewrite manifest.json) with nothing changed: still published,
 * listed in memory and on disk, its file in place. */
int mb_ctl_store_retire(const char *name);
/* Mark an image as being downloaded (on) or not any more (off): shown as
 * "downloading" in images/health and answered TRYAGAIN by the master server
 * while no version of it is published.  0 or -errno. */
int mb_ctl_store_set_downloading(const struct mb_manifest_entry *e, bool on);
/* Deep copy of the local manifest (free with mb_manifest_done).  0/-ENOMEM. */
int mb_ctl_store_get_manifest(struct mb_manifest *ret);
/* The state of the local image `name`. */
enum mb_ctl_store_state mb_ctl_store_state(const char *name);
/* Images still being verified or loaded, or verified and not yet published
 * (readiness; tests wait on it). */
unsigned mb_ctl_store_busy(void);

/* ---- master server (control/ctl_master.c) -------------------------------- */

/* Frees a session's group and port; the subsystem handles
 * MB_DP_EV_SESSION_END with it, so callers need not. */
void mb_ctl_master_session_end(uint32_t id);
/* The store withdrew (name, version) because its bytes went bad: end the
 * Frisbee sessions the master server started on it.  Control thread;
 * nothing when the master server is off. */
void mb_ctl_master_stop_image(const char *name, uint64_t version);
/* The store/sync say whether `name` is known (manifest, download running)
 * but not published yet: GET then answers TRYAGAIN, GETSTATUS the size and
 * mtime if known (0 otherwise).  Control thread; fn must not block.
 * Each call adds a provider (up to 4; the same fn/arg twice counts once):
 * the store adds its "loading" state, sync its "downloading" one. */
typedef bool (*mb_ctl_pending_fn)(const char *name, uint64_t *ret_size, int64_t *ret_mtime,
				  void *arg);
void mb_ctl_master_set_pending(mb_ctl_pending_fn fn, void *arg);
/* The listening port (0 when not listening). */
uint16_t mb_ctl_master_port(void);

/* A frisbee.master-port or tcp.ftp-port that no configuration file can give
 * (the keys stop at 65535): listen on a port the kernel picks, which
 * mb_ctl_master_port()/mb_ctl_ftp_port() then tell.  For tests, so they
 * never collide on a port derived from their pid. */
#define MB_CTL_PORT_ANY 65536u

/* ---- FTP control (control/ctl_ftp.c) -------------------------------------- */

/* A data transfer ended (the MB_DP_EV_FTP_XFER_END handler calls it). */
void mb_ctl_ftp_xfer_done(uint64_t cookie, bool ok);
/* {"listening","clients","max-clients","refused-draining","transfers":[{peer,
 * what, bytes}]}: new reference (for the boss health section). */
json_t *mb_ctl_ftp_json(void);
/* The listening port (0 when not listening). */
uint16_t mb_ctl_ftp_port(void);

/* ---- TLS control socket (control/ctl_tls.c) -------------------------------- */

/* The listening port (0 when not listening; control.tls-listen with port 0,
 * which only a test's in-memory configuration can say, picks a free one). */
uint16_t mb_ctl_tls_port(void);

/* ---- boss: drain and the "boss" health section (control/ctl_boss.c) ------- */

/* True while drained: refuse new sessions, logins and connections. */
bool mb_ctl_draining(void);

#endif /* _MB_CTL_H_ */
