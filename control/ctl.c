/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread: created by mb_ctl_start() as a DPDK control thread, it
 * owns the epoll loop and everything on it (control socket, image store,
 * master server, sync from ops, telemetry mailbox, dataplane events,
 * signals).  SIGINT and
 * SIGTERM (blocked in every thread before rte_eal_init, read here through a
 * signalfd) ask the dataplane to stop; the main thread then shuts down in
 * order and calls mb_ctl_stop().  SIGHUP and the `reload` action re-read the
 * configuration file and the manifest, with the checks of `minibossd -n`
 * (every file the configuration names is opened again): an error refuses
 * the reload and the reply lists every one with its file:line; warnings
 * come back in the reply; keys that are not reloadable must not change (the
 * reload is refused and says which key).
 *
 * This thread also talks to systemd: READY=1 once the dataplane runs and
 * the store has verified the images it found at start (so a unit ordered
 * after minibossd sees a server that can serve), STATUS= with the one-line
 * health summary every few seconds, RELOADING=1 ... READY=1 around a
 * reload, STOPPING=1 on SIGTERM, and WATCHDOG=1 when WatchdogSec= is set --
 * only while every dataplane lcore still passes RCU quiescent states (a
 * probe call_rcu callback must have run since the last ping), so a stuck
 * lcore gets the daemon restarted, not just a stuck control thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_log.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_cfgcheck.h"
#include "ctl_dpstats.h"
#include "ctl_notify.h"
#include "ctl_priv.h"
#include "dp.h"
#include "mb_log.h"
#include "mb_status.h"
#include "mb_time.h"

/* How often STATUS= is refreshed, and how often readiness is looked at. */
#define STATUS_MS 5000
#define READY_POLL_MS 50

#define MAX_EVENT_HANDLERS 8

struct ev_handler {
	mb_ctl_event_fn fn;
	void *arg;
};

static struct {
	pthread_t thread;
	bool running;
	struct mb_config cfg; /* live copy, owned */
	char *config_path;
	int sigfd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	int start_rc;
	bool keep_debug;
	bool ready;			   /* READY=1 sent */
	struct mb_ctl_timer *ready_timer;  /* until ready */
	struct mb_ctl_timer *status_timer; /* STATUS= refresh */
	struct mb_ctl_timer *wd_timer;	   /* WATCHDOG=1 */
} ctl = {.sigfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static _Atomic bool dataplane_running;

/* The watchdog's probe: queued with call_rcu, run by liburcu's call_rcu
 * thread after a grace period, i.e. after every registered reader (each
 * dataplane lcore) passed a quiescent state or went offline. */
static struct {
	struct rcu_head head;
	_Atomic bool done;
	uint64_t queued_ns;
} wd_probe = {.done = true};

static struct ev_handler ev_handlers[MB_DP_EV_FTP_XFER_END + 1][MAX_EVENT_HANDLERS];
static _Atomic bool quit_requested;

bool
mb_ctl_quit_requested(void)
{
	return atomic_load(&quit_requested);
}

void
mb_ctl_keep_debug(bool on)
{
	ctl.keep_debug = on;
}

int
mb_ctl_event_register(int type, mb_ctl_event_fn fn, void *arg)
{
	if (type < 1 || type > MB_DP_EV_FTP_XFER_END || fn == NULL)
		return -EINVAL;
	for (int i = 0; i < MAX_EVENT_HANDLERS; i++) {
		if (ev_handlers[type][i].fn == NULL) {
			ev_handlers[type][i] = (struct ev_handler){fn, arg};
			return 0;
		}
	}
	return -ENOSPC;
}

static void
dp_event_io(int fd, uint32_t events, void *arg)
{
	struct mb_dp_event ev[32];
	unsigned n;
	uint64_t v;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	while ((n = mb_dp_events_poll(ev, 32)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			const struct ev_handler *hs;

			if (ev[i].type < 1 || ev[i].type > MB_DP_EV_FTP_XFER_END)
				continue;
			hs = ev_handlers[ev[i].type];
			for (int h = 0; h < MAX_EVENT_HANDLERS && hs[h].fn != NULL; h++)
				hs[h].fn(&ev[i], hs[h].arg);
		}
		if (n < 32)
			break;
	}
}

static void
apply_log_level(const struct mb_config *cfg)
{
	int lvl;

	if (ctl.keep_debug)
		return;
	lvl = mb_log_level_parse(cfg->log_level);
	if (lvl < 0)
		return;
	mb_log_set_level((enum mb_log_level)lvl);
	(void)rte_log_set_level_pattern("user.miniboss.*", (uint32_t)lvl);
}

/* STATUS= with the one-line health summary. */
static void
status_notify(const char *extra)
{
	json_t *h = mb_ctl_health_json(NULL);
	char line[512];

	if (h == NULL)
		return;
	mb_status_line(h, (int64_t)(mb_time_real_ns() / MB_NS_PER_SEC), line, sizeof(line));
	json_decref(h);
	mb_notify("%sSTATUS=%s", extra != NULL ? extra : "", line);
}

static void
status_fire(void *arg)
{
	(void)arg;
	status_notify(NULL);
}

/* Join every error of d into one malloc'd message (NULL on ENOMEM). */
static char *
diags_text(const struct mb_diags *d, const char *head)
{
	char *out = NULL, buf[2048];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "%s (%u error%s)", head, d->errors, d->errors == 1 ? "" : "s");
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].level != MB_DIAG_ERROR)
			continue;
		mb_diag_format(&d->v[i], buf, sizeof(buf));
		fprintf(f, "\n%s", buf);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * Re-read the config file (with every check of -n) and the manifest.  0 or
 * -errno with *ret_err (malloc'd, every error with its file:line).  The
 * warnings of the check go to *ret_warnings (a new array, also on error;
 * may be NULL on ENOMEM).  Logs each problem once.
 */
static int
do_reload(char **ret_err, json_t **ret_warnings)
{
	struct mb_config nc;
	const struct mb_cfg_key *k;
	struct mb_diags d;
	char err[MB_CFG_ERRLEN] = "", buf[2048];
	int rc;

	mb_notify_reloading();
	mb_diags_init(&d);
	rc = mb_config_defaults(&nc);
	if (rc == 0) {
		rc = mb_config_parse_file(&nc, ctl.config_path, &d);
		if (rc == 0 || rc == -EINVAL)
			(void)mb_ctl_config_check_files(&nc, &d); /* values, then files */
	}
	mb_diags_sort(&d);
	for (size_t i = 0; i < d.n; i++) {
		mb_diag_format(&d.v[i], buf, sizeof(buf));
		if (d.v[i].level == MB_DIAG_ERROR)
			MB_LOG(ERR, CTL, "reload: %s", buf);
		else
			MB_LOG(WARNING, CTL, "reload: %s", buf);
	}
	*ret_warnings = mb_diags_json(&d, MB_DIAG_WARNING);
	if (rc == -ENOMEM || d.errors > 0) {
		MB_LOG(ERR, CTL, "reload refused: %u error%s in '%s', the running configuration "
		       "stays", d.errors, d.errors == 1 ? "" : "s", ctl.config_path);
		*ret_err = diags_text(&d, "reload refused, the running configuration stays");
		mb_diags_done(&d);
		mb_config_done(&nc);
		status_notify("READY=1\n");
		return rc != 0 ? rc : -EINVAL;
	}
	mb_diags_done(&d);
	k = mb_config_nonreloadable_change(&ctl.cfg, &nc);
	if (k != NULL) {
		mb_config_done(&nc);
		MB_LOG(ERR, CTL, "reload refused: [%s] %s changed and needs a restart", k->section,
		       k->name);
		if (asprintf(ret_err, "[%s] %s is not reloadable (restart needed)", k->section,
		             k->name) == -1)
			*ret_err = NULL;
		status_notify("READY=1\n");
		return -EINVAL;
	}
	mb_config_done(&ctl.cfg);
	ctl.cfg = nc;
	mb_ctl_set_config(&ctl.cfg);
	apply_log_level(&ctl.cfg);
	mb_ctl_sock_reconfig(&ctl.cfg);
	mb_dp_reconfig(&ctl.cfg);
	mb_ctl_master_reconfig(&ctl.cfg);
	mb_ctl_ftp_reconfig(&ctl.cfg);
	mb_ctl_sync_reconfig(&ctl.cfg);
	mb_ctl_boss_reconfig(&ctl.cfg);
	mb_ctl_tls_reconfig(&ctl.cfg);
	rc = mb_ctl_store_reload(&ctl.cfg, err, sizeof(err));
	status_notify("READY=1\n");
	if (rc != 0) {
		if (asprintf(ret_err, "manifest: %s", err) == -1)
			*ret_err = NULL;
		return rc;
	}
	MB_LOG(NOTICE, CTL, "configuration and manifest reloaded");
	return 0;
}

static json_t *
action_reload(json_t *args, char **ret_err)
{
	json_t *warnings = NULL, *r;

	(void)args;
	if (do_reload(ret_err, &warnings) != 0) {
		json_decref(warnings);
		return NULL;
	}
	r = json_pack("{s:b,s:i,s:o}", "reloaded", 1, "verifying", (int)mb_ctl_store_busy(),
		      "warnings", warnings != NULL ? warnings : json_array());
	return r;
}

static json_t *
action_stats(json_t *args, char **ret_err)
{
	json_t *r;

	(void)args;
	r = mb_ctl_dp_stats_json();
	if (r == NULL)
		*ret_err = strdup("dataplane statistics unavailable");
	return r;
}

static json_t *
health_dataplane(enum mb_health_state *worst, void *arg)
{
	bool up = mb_dp_link_up();
	json_t *st = mb_ctl_dp_stats_json(), *r;
	char addr[INET_ADDRSTRLEN + 4] = "";
	uint32_t a = mb_dp_local_addr();

	(void)arg;
	if (!up && *worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	if (a != 0 && inet_ntop(AF_INET, &a, addr, INET_ADDRSTRLEN) != NULL)
		snprintf(addr + strlen(addr), sizeof(addr) - strlen(addr), "/%u",
			 (unsigned)ctl.cfg.prefixlen);
	/* Where we serve, and the active Frisbee sessions and their aggregate
	 * measured send rate; TCP connections of HTTP and FTP. */
	r = json_pack("{s:b,s:I,s:I,s:I,s:s,s:I,s:s,s:I}", "link", up, "speed-bps",
		      (json_int_t)mb_dp_link_speed_bps(), "sessions",
		      json_integer_value(json_object_get(st, "sessions")), "rate-bps",
		      json_integer_value(json_object_get(st, "rate-bps")), "address", addr, "port",
		      json_integer_value(json_object_get(st, "port")), "exception-tap",
		      ctl.cfg.exception_tap,
		      "tcp-connections",
		      json_integer_value(json_object_get(json_object_get(st, "tcp"), "tcp_conns")));
	json_decref(st);
	return r;
}

/* What this binary was built with, so tests can tell a missing feature from
 * a broken one. */
static json_t *
health_build(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
#ifdef MB_FAULT_HOOKS
	return json_pack("{s:b}", "fault_hooks", 1);
#else
	return json_pack("{s:b}", "fault_hooks", 0);
#endif
}

static const struct mb_ctl_action ctl_actions[] = {
    {"reload", action_reload, "re-read the configuration file and the manifest"},
    {"stats", action_stats, "dataplane port and engine counters"},
};

static void
signal_io(int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			if (!atomic_exchange(&quit_requested, true)) {
				MB_LOG(NOTICE, MAIN, "signal %u, shutting down", si.ssi_signo);
				mb_notify("STOPPING=1\nSTATUS=stopping");
				mb_ctl_health_set_floor(MB_HEALTH_DOWN);
				mb_dp_stop();
			}
			break;
		case SIGHUP: {
			char *err = NULL;
			json_t *warnings = NULL;

			MB_LOG(NOTICE, MAIN, "SIGHUP, reloading");
			(void)do_reload(&err, &warnings);
			json_decref(warnings);
			free(err);
			break;
		}
		default:
			break;
		}
	}
}

static void
wd_probe_done(struct rcu_head *head)
{
	(void)head;
	atomic_store(&wd_probe.done, true);
}

/* Ping only while lcores make progress: the last probe must have passed a
 * grace period (it gets half a watchdog interval). */
static void
wd_fire(void *arg)
{
	(void)arg;
	if (atomic_load(&wd_probe.done)) {
		mb_notify("WATCHDOG=1");
		atomic_store(&wd_probe.done, false);
		wd_probe.queued_ns = mb_time_mono_ns();
		call_rcu(&wd_probe.head, wd_probe_done);
	} else {
		MB_LOG(WARNING, MAIN, "dataplane lcores passed no quiescent state for %" PRIu64
		       " ms, holding the watchdog ping",
		       (uint64_t)((mb_time_mono_ns() - wd_probe.queued_ns) / MB_NS_PER_MS));
	}
}

void
mb_ctl_dataplane_running(void)
{
	atomic_store(&dataplane_running, true);
}

/* "ready": true once READY=1 went to systemd (ready_fire), so `minibossctl
 * wait` and systemd see one and the same condition. */
static json_t *
health_ready(enum mb_health_state *worst, void *arg)
{
	(void)worst;
	(void)arg;
	return json_boolean(ctl.ready);
}

/* READY=1 once the lcores run and the store verified what it found. */
static void
ready_fire(void *arg)
{
	json_t *h;
	uint64_t wd;

	(void)arg;
	if (ctl.ready || !atomic_load(&dataplane_running) || mb_ctl_store_busy() > 0)
		return;
	ctl.ready = true;
	mb_ctl_timer_free(ctl.ready_timer);
	ctl.ready_timer = NULL;
	h = mb_ctl_health_json(NULL);
	MB_LOG(NOTICE, MAIN, "ready: %s, %d image%s verified", json_string_value(json_object_get(h,
	       "state")) ?: "?", (int)json_integer_value(json_object_get(json_object_get(h,
	       "store"), "ok")), json_integer_value(json_object_get(json_object_get(h, "store"),
	       "ok")) == 1 ? "" : "s");
	json_decref(h);
	status_notify("READY=1\n");
	ctl.status_timer = mb_ctl_timer_new(STATUS_MS, STATUS_MS, status_fire, NULL);
	wd = mb_notify_watchdog_usec();
	if (wd > 0) {
		ctl.wd_timer = mb_ctl_timer_new(1, wd / 2000 > 0 ? wd / 2000 : 1, wd_fire, NULL);
		MB_LOG(INFO, MAIN, "systemd watchdog every %" PRIu64 " ms", wd / 1000);
	}
}

static int
thread_setup(void)
{
	sigset_t set;
	int rc, efd;

	rc = mb_ctl_loop_init();
	if (rc != 0) {
		MB_LOG(ERR, CTL, "event loop: %s", strerror(-rc));
		return rc;
	}
	mb_ctl_loop_set_rcu(true);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	ctl.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ctl.sigfd == -1 || mb_ctl_loop_add(ctl.sigfd, EPOLLIN, signal_io, NULL) != 0) {
		rc = -errno;
		MB_LOG(ERR, CTL, "signalfd: %s", strerror(errno));
		return rc;
	}
	mb_ctl_set_config(&ctl.cfg);
	rc = mb_ctl_action_builtin_register();
	for (size_t i = 0; rc == 0 && i < sizeof(ctl_actions) / sizeof(ctl_actions[0]); i++)
		rc = mb_ctl_action_register(&ctl_actions[i]);
	if (rc == 0)
		rc = mb_ctl_health_register("dataplane", health_dataplane, NULL);
	if (rc == 0)
		rc = mb_ctl_health_register("build", health_build, NULL);
	if (rc != 0)
		return rc;
	rc = mb_ctl_sock_open(&ctl.cfg);
	if (rc != 0)
		return rc; /* logged */
	rc = mb_ctl_store_start(&ctl.cfg);
	if (rc != 0)
		return rc;
	efd = mb_dp_event_fd();
	if (efd >= 0) {
		rc = mb_ctl_loop_add(efd, EPOLLIN, dp_event_io, NULL);
		if (rc != 0) {
			MB_LOG(ERR, CTL, "dataplane event fd: %s", strerror(-rc));
			return rc;
		}
	}
	rc = mb_ctl_master_start(&ctl.cfg);
	if (rc != 0)
		MB_LOG(WARNING, CTL, "master server not started, continuing without it");
	rc = mb_ctl_sync_start(&ctl.cfg);
	if (rc != 0)
		MB_LOG(WARNING, CTL, "sync from ops not started, serving the local store only");
	rc = mb_ctl_ftp_start(&ctl.cfg);
	if (rc != 0)
		MB_LOG(WARNING, CTL, "FTP control not started, continuing without FTP");
	rc = mb_ctl_boss_start(&ctl.cfg);
	if (rc != 0)
		return rc; /* logged */
	rc = mb_ctl_tls_start(&ctl.cfg);
	if (rc != 0)
		MB_LOG(WARNING, CTL, "TLS control socket for boss not started, continuing without it");
	rc = mb_ctl_telemetry_start();
	if (rc != 0)
		MB_LOG(WARNING, CTL, "telemetry commands: %s, ignoring", strerror(-rc));
	rc = mb_ctl_health_register("ready", health_ready, NULL);
	if (rc != 0)
		return rc;
	ctl.ready = false;
	ctl.ready_timer = mb_ctl_timer_new(READY_POLL_MS, READY_POLL_MS, ready_fire, NULL);
	if (ctl.ready_timer == NULL) {
		rc = -errno;
		MB_LOG(ERR, CTL, "cannot create the readiness timer: %s", strerror(errno));
		return rc;
	}
	return 0;
}

static void
thread_teardown(void)
{
	int efd = mb_dp_event_fd();

	mb_ctl_timer_free(ctl.ready_timer);
	mb_ctl_timer_free(ctl.status_timer);
	mb_ctl_timer_free(ctl.wd_timer);
	ctl.ready_timer = ctl.status_timer = ctl.wd_timer = NULL;
	mb_ctl_telemetry_stop();
	mb_ctl_tls_stop();
	mb_ctl_boss_stop();
	mb_ctl_sync_stop();
	mb_ctl_ftp_stop();
	mb_ctl_master_stop();
	mb_ctl_sock_close();
	mb_ctl_store_stop();
	if (efd >= 0)
		(void)mb_ctl_loop_del(efd);
	if (ctl.sigfd >= 0)
		(void)close(ctl.sigfd);
	ctl.sigfd = -1;
	mb_ctl_loop_fini();
	mb_ctl_registry_clear();
	memset(ev_handlers, 0, sizeof(ev_handlers));
}

static void *
ctl_main(void *arg)
{
	int rc;

	(void)arg;
	rcu_register_thread();
	rc = thread_setup();
	pthread_mutex_lock(&ctl.lock);
	ctl.started = true;
	ctl.start_rc = rc;
	pthread_cond_broadcast(&ctl.cond);
	pthread_mutex_unlock(&ctl.lock);
	if (rc == 0) {
		rc = mb_ctl_loop_run();
		if (rc != 0)
			MB_LOG(ERR, CTL, "event loop failed: %s", strerror(-rc));
	}
	thread_teardown();
	/* A watchdog probe still queued must run before the thread goes. */
	if (!atomic_load(&wd_probe.done)) {
		rcu_thread_offline();
		rcu_barrier();
		rcu_thread_online();
	}
	rcu_unregister_thread();
	return NULL;
}

int
mb_ctl_start(const struct mb_config *cfg, const char *config_path)
{
	int rc;

	rc = mb_config_copy(&ctl.cfg, cfg);
	if (rc != 0)
		return rc;
	ctl.config_path = strdup(config_path);
	if (ctl.config_path == NULL)
		return -ENOMEM;
	apply_log_level(&ctl.cfg);
	ctl.started = false;
	rc = rte_ctrl_thread_create(&ctl.thread, "mb-ctl", NULL, ctl_main, NULL);
	if (rc != 0) {
		MB_LOG(ERR, CTL, "cannot create the control thread: %s", strerror(rc));
		return -rc;
	}
	ctl.running = true;
	pthread_mutex_lock(&ctl.lock);
	while (!ctl.started)
		pthread_cond_wait(&ctl.cond, &ctl.lock);
	rc = ctl.start_rc;
	pthread_mutex_unlock(&ctl.lock);
	if (rc != 0)
		mb_ctl_stop();
	return rc;
}

void
mb_ctl_stop(void)
{
	if (!ctl.running)
		return;
	mb_ctl_loop_stop();
	(void)pthread_join(ctl.thread, NULL);
	ctl.running = false;
	mb_config_done(&ctl.cfg);
	free(ctl.config_path);
	ctl.config_path = NULL;
}
