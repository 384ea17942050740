/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread: created by mb_ctl_start() as a DPDK control thread, it
 * owns the epoll loop and everything on it (control socket, image store,
 * master server, sync from ops, telemetry mailbox, dataplane events,
 * signals).  SIGINT and
 * SIGTERM (blocked in every thread before rte_eal_init, read here through a
 * signalfd) ask the dataplane to stop; the main thread then shuts down in
 * order and calls mb_ctl_stop().  SIGHUP and the `reload` action re-read the
 * configuration file and the manifest; keys that are not reloadable must not
 * change (the reload is refused and says which key).
 */
#include <errno.h>
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
#include "ctl_priv.h"
#include "dp.h"
#include "mb_log.h"

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
} ctl = {.sigfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

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

/* Re-read the config file and the manifest.  0 or -errno with *ret_err. */
static int
do_reload(char **ret_err)
{
	struct mb_config nc;
	const struct mb_cfg_key *k;
	char err[MB_CFG_ERRLEN] = "";
	int rc;

	rc = mb_config_defaults(&nc);
	if (rc == 0)
		rc = mb_config_load_file(&nc, ctl.config_path, err, sizeof(err));
	if (rc == 0)
		rc = mb_config_validate(&nc, err, sizeof(err));
	if (rc != 0) {
		mb_config_done(&nc);
		MB_LOG(ERR, CTL, "reload refused: %s", err);
		if (asprintf(ret_err, "configuration: %s", err) == -1)
			*ret_err = NULL;
		return rc;
	}
	k = mb_config_nonreloadable_change(&ctl.cfg, &nc);
	if (k != NULL) {
		mb_config_done(&nc);
		MB_LOG(ERR, CTL, "reload refused: [%s] %s changed and needs a restart", k->section,
		       k->name);
		if (asprintf(ret_err, "[%s] %s is not reloadable (restart needed)", k->section,
		             k->name) == -1)
			*ret_err = NULL;
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
	(void)args;
	if (do_reload(ret_err) != 0)
		return NULL;
	return json_pack("{s:b,s:i}", "reloaded", 1, "verifying", (int)mb_ctl_store_busy());
}

static json_t *
action_stats(json_t *args, char **ret_err)
{
	json_t *r;

	(void)args;
	r = mb_dp_stats_json();
	if (r == NULL)
		*ret_err = strdup("dataplane statistics unavailable");
	return r;
}

static json_t *
health_dataplane(enum mb_health_state *worst, void *arg)
{
	bool up = mb_dp_link_up();
	json_t *st = mb_dp_stats_json(), *r;

	(void)arg;
	if (!up && *worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	/* Active Frisbee sessions and their aggregate measured send rate. */
	r = json_pack("{s:b,s:I,s:I,s:I}", "link", up, "speed-bps",
		      (json_int_t)mb_dp_link_speed_bps(), "sessions",
		      json_integer_value(json_object_get(st, "sessions")), "rate-bps",
		      json_integer_value(json_object_get(st, "rate-bps")));
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
				mb_ctl_health_set_floor(MB_HEALTH_DOWN);
				mb_dp_stop();
			}
			break;
		case SIGHUP: {
			char *err = NULL;

			MB_LOG(NOTICE, MAIN, "SIGHUP, reloading");
			(void)do_reload(&err);
			free(err);
			break;
		}
		default:
			break;
		}
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
	return 0;
}

static void
thread_teardown(void)
{
	int efd = mb_dp_event_fd();

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
