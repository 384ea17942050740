/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging front end.  The default sink writes "minibossd: <module>: msg" to
 * stderr; the daemon replaces it with an rte_log() sink after EAL init.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mb_log.h"

static const char *const module_names[MB_MOD__COUNT] = {
	[MB_MOD_MAIN] = "main", [MB_MOD_CFG] = "cfg",	[MB_MOD_CTL] = "ctl",
	[MB_MOD_DP] = "dp",	[MB_MOD_FRIS] = "fris", [MB_MOD_TCP] = "tcp",
	[MB_MOD_SYNC] = "sync", [MB_MOD_STORE] = "store",
};

static const char *const level_names[] = {
	[MB_LOG_EMERG] = "emerg", [MB_LOG_ALERT] = "alert",	[MB_LOG_CRIT] = "crit",
	[MB_LOG_ERR] = "error",	  [MB_LOG_WARNING] = "warning", [MB_LOG_NOTICE] = "notice",
	[MB_LOG_INFO] = "info",	  [MB_LOG_DEBUG] = "debug",
};

static mb_log_sink_fn log_sink;
static _Atomic int log_level = MB_LOG_INFO;

void
mb_log_set_sink(mb_log_sink_fn fn)
{
	log_sink = fn;
}

void
mb_log_set_level(enum mb_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum mb_log_level
mb_log_get_level(void)
{
	return (enum mb_log_level)atomic_load(&log_level);
}

const char *
mb_log_module_name(enum mb_log_module mod)
{
	if ((unsigned)mod >= MB_MOD__COUNT)
		return "?";
	return module_names[mod];
}

int
mb_log_level_parse(const char *s)
{
	for (int i = MB_LOG_EMERG; i <= MB_LOG_DEBUG; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "err") == 0)
		return MB_LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return MB_LOG_WARNING;
	return -1;
}

void
mb_log(enum mb_log_level level, enum mb_log_module mod, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_sink != NULL) {
		log_sink(level, mod, fmt, ap);
	} else if ((int)level <= atomic_load(&log_level)) {
		char buf[1024];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		fprintf(stderr, "minibossd: %s: %s%s\n", mb_log_module_name(mod),
			level <= MB_LOG_ERR ? "error: " : (level == MB_LOG_WARNING ? "warning: " : ""),
			buf);
	}
	va_end(ap);
}
