/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's core: the live configuration and the table of
 * subsystems (struct mb_ctl_subsys, ctl.h), walked in order at start, on
 * every reload and, in reverse, at stop.  What a subsystem needs from the
 * core is uniform, so it is done here once: its actions and its health
 * section registered, its dataplane events routed to it, a failed start
 * either aborting (required) or logged with what the daemon does without
 * it, and on reload every subsystem's reconfig called with the new live
 * configuration.  The shared worker (ctl_worker.h) is started before the
 * first subsystem and drained before the last one stops.
 *
 * The reload itself lives here too: parse and check the file exactly as
 * `minibossd -n` does, refuse a change to a key that needs a restart, then
 * apply.  The daemon's table is in ctl.c; tests build their own.
 *
 * Control thread only; DPDK-free.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_cfgcheck.h"
#include "ctl_dp.h"
#include "ctl_notify.h"
#include "ctl_priv.h"
#include "ctl_worker.h"
#include "mb_cleanup.h"
#include "mb_log.h"
#include "mb_status.h"
#include "mb_time.h"

static _Atomic bool quit_requested;

bool
mb_ctl_quit_requested(void)
{
	return atomic_load(&quit_requested);
}

void
mb_ctl_quit(void)
{
	if (atomic_exchange(&quit_requested, true))
		return;
	mb_notify("STOPPING=1\nSTATUS=stopping");
	mb_ctl_health_set_floor(MB_HEALTH_DOWN);
	mb_ctl_dp()->stop();
}

/* ---- the log level: a subsystem of its own ----------------------------------- */

static bool keep_debug;
static void (*log_hook)(int level);

void
mb_ctl_keep_debug(bool on)
{
	keep_debug = on;
}

void
mb_ctl_log_hook(void (*fn)(int level))
{
	log_hook = fn;
}

/* server.log-level; `minibossd -d` keeps debug across reloads. */
static int
log_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	int lvl;

	(void)err;
	(void)errlen;
	if (keep_debug)
		return 0;
	lvl = mb_log_level_parse(cfg->log_level);
	if (lvl < 0)
		return 0; /* the configuration check refused it already */
	mb_log_set_level((enum mb_log_level)lvl);
	if (log_hook != NULL)
		log_hook(lvl);
	return 0;
}

static int
log_start(const struct mb_config *cfg)
{
	return log_reconfig(cfg, NULL, 0);
}

static void
log_stop(void)
{
}

const struct mb_ctl_subsys mb_ctl_subsys_log = {
	.name = "log",
	.title = "the log level",
	.start = log_start,
	.reconfig = log_reconfig,
	.stop = log_stop,
	.required = true,
};

/* ---- the core ------------------------------------------------------------------- */

static struct {
	bool running;
	struct mb_config cfg; /* the live configuration, owned; one address for life */
	char *config_path;    /* re-read on reload; NULL: no reload action */
	const struct mb_ctl_subsys *const *tab;
	size_t n;
} core;

void
mb_ctl_status_notify(const char *extra)
{
	json_t *h = mb_ctl_health_json(NULL);
	char line[512];

	if (h == NULL)
		return;
	mb_status_line(h, (int64_t)(mb_time_real_ns() / MB_NS_PER_SEC), line, sizeof(line));
	json_decref(h);
	mb_notify("%sSTATUS=%s", extra != NULL ? extra : "", line);
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
 * Make `nc` (moved in: the caller's copy is consumed) the live configuration
 * and walk the table's reconfig.  Refuses, and frees nc, when a key that is
 * not reloadable changed.  0 or -errno with err (the first subsystem's).
 */
static int
apply_owned(struct mb_config *nc, char *err, size_t errlen)
{
	const struct mb_cfg_key *k;
	int rc = 0;

	k = mb_config_nonreloadable_change(&core.cfg, nc);
	if (k != NULL) {
		mb_config_done(nc);
		MB_LOG(ERR, CTL, "reload refused: [%s] %s changed and needs a restart", k->section,
		       k->name);
		snprintf(err, errlen, "[%s] %s is not reloadable (restart needed)", k->section,
			 k->name);
		return -EINVAL;
	}
	mb_config_done(&core.cfg);
	core.cfg = *nc; /* same address: subsystems may hold the pointer */
	mb_ctl_set_config(&core.cfg);
	for (size_t i = 0; i < core.n; i++) {
		const struct mb_ctl_subsys *s = core.tab[i];
		char e[512] = "";
		int r;

		if (s->reconfig == NULL)
			continue;
		r = s->reconfig(&core.cfg, e, sizeof(e));
		if (r != 0 && rc == 0) {
			rc = r;
			snprintf(err, errlen, "%s", e[0] != '\0' ? e : strerror(-r));
		}
	}
	return rc;
}

int
mb_ctl_core_apply(const struct mb_config *nc, char *err, size_t errlen)
{
	struct mb_config c;
	int rc;

	if (!core.running)
		return -ENODEV;
	rc = mb_config_copy(&c, nc);
	if (rc != 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	return apply_owned(&c, err, errlen);
}

int
mb_ctl_reload(char **ret_err, json_t **ret_warnings)
{
	struct mb_config nc;
	struct mb_diags d;
	char buf[2048], err[1024] = "";
	int rc;

	*ret_err = NULL;
	*ret_warnings = NULL;
	if (!core.running || core.config_path == NULL) {
		*ret_err = strdup("no configuration file to reload");
		return -ENODEV;
	}
	mb_notify_reloading();
	mb_diags_init(&d);
	rc = mb_config_defaults(&nc);
	if (rc == 0) {
		rc = mb_config_parse_file(&nc, core.config_path, &d);
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
		       "stays", d.errors, d.errors == 1 ? "" : "s", core.config_path);
		*ret_err = diags_text(&d, "reload refused, the running configuration stays");
		mb_diags_done(&d);
		mb_config_done(&nc);
		mb_ctl_status_notify("READY=1\n");
		return rc != 0 ? rc : -EINVAL;
	}
	mb_diags_done(&d);
	rc = apply_owned(&nc, err, sizeof(err));
	mb_ctl_status_notify("READY=1\n");
	if (rc != 0) {
		*ret_err = strdup(err);
		return rc;
	}
	MB_LOG(NOTICE, CTL, "configuration and manifest reloaded");
	return 0;
}

static json_t *
action_reload(json_t *args, char **ret_err)
{
	json_t *warnings = NULL;

	(void)args;
	if (mb_ctl_reload(ret_err, &warnings) != 0) {
		json_decref(warnings);
		return NULL;
	}
	return json_pack("{s:b,s:i,s:o}", "reloaded", 1, "verifying", (int)mb_ctl_store_busy(),
			 "warnings", warnings != NULL ? warnings : json_array());
}

static const struct mb_ctl_action reload_action = {
	"reload", action_reload, "re-read the configuration file and the manifest"
};

/* What the core does for every subsystem once it ran its start. */
static void
attach(const struct mb_ctl_subsys *s)
{
	int rc;

	for (size_t a = 0; a < s->n_actions; a++) {
		rc = mb_ctl_action_register(&s->actions[a]);
		if (rc != 0)
			MB_LOG(WARNING, CTL, "%s: action '%s': %s, ignoring", s->name,
			       s->actions[a].name, strerror(-rc));
	}
	if (s->health != NULL) {
		rc = mb_ctl_health_register(s->health_key, s->health, NULL);
		if (rc != 0)
			MB_LOG(WARNING, CTL, "%s: health entry '%s': %s, ignoring", s->name,
			       s->health_key, strerror(-rc));
	}
	for (size_t e = 0; e < MB_ARRAY_SIZE(s->events); e++) {
		if (s->events[e].type == 0)
			continue;
		rc = mb_ctl_event_register(s->events[e].type, s->events[e].fn, NULL);
		if (rc != 0)
			MB_LOG(WARNING, CTL, "%s: cannot watch dataplane events: %s, ignoring",
			       s->name, strerror(-rc));
	}
}

static void
stop_from(size_t n)
{
	/* Every submitted work completes (cancelled) before anyone frees. */
	mb_worker_stop();
	while (n-- > 0)
		core.tab[n]->stop();
}

int
mb_ctl_core_start(const struct mb_config *cfg, const char *config_path,
		  const struct mb_ctl_subsys *const *tab, size_t n)
{
	int rc;

	if (core.running)
		return -EALREADY;
	rc = mb_config_copy(&core.cfg, cfg);
	if (rc != 0)
		return rc;
	if (config_path != NULL && (core.config_path = strdup(config_path)) == NULL) {
		mb_config_done(&core.cfg);
		return -ENOMEM;
	}
	core.tab = tab;
	core.n = n;
	mb_ctl_set_config(&core.cfg);
	rc = mb_ctl_action_builtin_register();
	if (rc == 0 && core.config_path != NULL)
		rc = mb_ctl_action_register(&reload_action);
	if (rc == 0)
		rc = mb_worker_start();
	if (rc != 0) {
		MB_LOG(ERR, CTL, "control core: %s", strerror(-rc));
		goto err;
	}
	core.running = true;
	for (size_t i = 0; i < n; i++) {
		const struct mb_ctl_subsys *s = tab[i];

		rc = s->start(&core.cfg);
		if (rc != 0 && s->required) {
			MB_LOG(ERR, CTL, "%s not started: %s", s->title, strerror(-rc));
			stop_from(i + 1);
			core.running = false;
			goto err;
		}
		if (rc != 0)
			MB_LOG(WARNING, CTL, "%s not started (%s), %s", s->title, strerror(-rc),
			       s->without != NULL ? s->without : "continuing without it");
		attach(s);
	}
	return 0;
err:
	mb_ctl_registry_clear();
	mb_ctl_events_clear();
	free(core.config_path);
	core.config_path = NULL;
	mb_config_done(&core.cfg);
	return rc;
}

void
mb_ctl_core_stop(void)
{
	if (!core.running)
		return;
	stop_from(core.n);
	mb_ctl_registry_clear();
	mb_ctl_events_clear();
	core.running = false;
	core.tab = NULL;
	core.n = 0;
	free(core.config_path);
	core.config_path = NULL;
	mb_config_done(&core.cfg);
	mb_ctl_set_config(NULL);
}
