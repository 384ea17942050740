/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread of the daemon: created by mb_ctl_start() as a DPDK
 * control thread, it builds the epoll loop, installs the real dataplane
 * (ctl_dpdk.c) and rte_malloc as the image memory, and starts the daemon's
 * subsystem table (below) through the core (ctl_subsys.c).  SIGINT and
 * SIGTERM (blocked in every thread before rte_eal_init, read here through a
 * signalfd) ask the dataplane to stop; the main thread then shuts down in
 * order and calls mb_ctl_stop().  SIGHUP runs the same reload as the
 * `reload` action (mb_ctl_reload: the checks of `minibossd -n`, keys that
 * are not reloadable refused by name, then every subsystem's reconfig).
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
#include "ctl_dp.h"
#include "ctl_imgmem.h"
#include "ctl_metrics.h"
#include "ctl_notify.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "mb_log.h"
#include "mb_time.h"

/* How often STATUS= is refreshed, and how often readiness is looked at. */
#define STATUS_MS 5000
#define READY_POLL_MS 50

static struct {
	pthread_t thread;
	bool running;
	struct mb_config *start_cfg; /* borrowed until the thread reported */
	char *config_path;
	int sigfd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	int start_rc;
	bool ready;			   /* READY=1 sent */
	struct mb_ctl_timer *ready_timer;  /* until ready */
	struct mb_ctl_timer *status_timer; /* STATUS= refresh */
	struct mb_ctl_timer *wd_timer;	   /* WATCHDOG=1 */
} ctl = { .sigfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static _Atomic bool dataplane_running;

/* The watchdog's probe: queued with call_rcu, run by liburcu's call_rcu
 * thread after a grace period, i.e. after every registered reader (each
 * dataplane lcore) passed a quiescent state or went offline. */
static struct {
	struct rcu_head head;
	_Atomic bool done;
	uint64_t queued_ns;
} wd_probe = { .done = true };

/* server.log-level for the user.miniboss.* rte_log types too (the core sets
 * our own level, ctl_subsys.c). */
static void
rte_level(int lvl)
{
	(void)rte_log_set_level_pattern("user.miniboss.*", (uint32_t)lvl);
}

/* ---- the daemon's subsystems ----------------------------------------------------- */

/* Started in this order, reconfigured in this order, stopped in reverse.
 * The control socket comes first (a second daemon is refused before any
 * work), the store before everything that serves or fills it. */
static const struct mb_ctl_subsys *const daemon_subsystems[] = {
	&mb_ctl_subsys_log,
	&mb_ctl_subsys_sock,
	&mb_ctl_subsys_store,
	&mb_ctl_subsys_dataplane,
	&mb_ctl_subsys_master,
	&mb_ctl_subsys_sync,
	&mb_ctl_subsys_origin,
	&mb_ctl_subsys_ftp,
	&mb_ctl_subsys_boss,
	&mb_ctl_subsys_tls,
	&mb_ctl_subsys_metrics,
	&mb_ctl_subsys_telemetry,
};

/* ---- signals, readiness, watchdog --------------------------------------------------- */

static void
status_fire(void *arg)
{
	(void)arg;
	mb_ctl_status_notify(NULL);
}

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
			if (!mb_ctl_quit_requested())
				MB_LOG(NOTICE, MAIN, "signal %u, shutting down", si.ssi_signo);
			mb_ctl_quit();
			break;
		case SIGHUP: {
			char *err = NULL;
			json_t *warnings = NULL;

			MB_LOG(NOTICE, MAIN, "SIGHUP, reloading");
			(void)mb_ctl_reload(&err, &warnings);
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
	mb_ctl_status_notify("READY=1\n");
	ctl.status_timer = mb_ctl_timer_new(STATUS_MS, STATUS_MS, status_fire, NULL);
	wd = mb_notify_watchdog_usec();
	if (wd > 0) {
		ctl.wd_timer = mb_ctl_timer_new(1, wd / 2000 > 0 ? wd / 2000 : 1, wd_fire, NULL);
		MB_LOG(INFO, MAIN, "systemd watchdog every %" PRIu64 " ms", wd / 1000);
	}
}

/* ---- the thread ----------------------------------------------------------------------- */

static int
thread_setup(void)
{
	sigset_t set;
	int rc;

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
	rc = mb_ctl_core_start(ctl.start_cfg, ctl.config_path, daemon_subsystems,
			       MB_ARRAY_SIZE(daemon_subsystems));
	if (rc != 0)
		return rc; /* logged */
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
	mb_ctl_timer_free(ctl.ready_timer);
	mb_ctl_timer_free(ctl.status_timer);
	mb_ctl_timer_free(ctl.wd_timer);
	ctl.ready_timer = ctl.status_timer = ctl.wd_timer = NULL;
	mb_ctl_core_stop();
	if (ctl.sigfd >= 0) {
		(void)mb_ctl_loop_del(ctl.sigfd);
		(void)close(ctl.sigfd);
	}
	ctl.sigfd = -1;
	mb_ctl_loop_fini();
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

	ctl.config_path = strdup(config_path);
	if (ctl.config_path == NULL)
		return -ENOMEM;
	ctl.start_cfg = (struct mb_config *)cfg;
	mb_ctl_dp_set(&mb_ctl_dp_dpdk);
	mb_imgmem_set_ops(&mb_imgmem_rte);
	mb_ctl_log_hook(rte_level);
	(void)mb_ctl_subsys_log.start(cfg);
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
	ctl.start_cfg = NULL; /* the core has its copy */
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
	free(ctl.config_path);
	ctl.config_path = NULL;
}
