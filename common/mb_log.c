/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging front end.  The default sink writes "minibossd: <module>: msg" to
 * stderr; the daemon replaces it with an rte_log() sink after EAL init.
 * Either way each line starts with mb_log_prefix(): under systemd (stderr is
 * the journal stream JOURNAL_STREAM names) the syslog priority "<N>", which
 * journald strips and records, and otherwise the local time with
 * milliseconds, as journald would have added it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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
static bool to_journal;
static _Atomic int log_level = MB_LOG_INFO;

void
mb_log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	to_journal = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
		     fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		     (unsigned long long)st.st_ino == ino;
}

bool
mb_log_to_journal(void)
{
	return to_journal;
}

int
mb_log_prefix(enum mb_log_level level, char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	if (to_journal) {
		int prio = (int)level - 1; /* syslog numbers from 0 */

		return snprintf(buf, len, "<%d>", prio < 0 ? 0 : prio > 7 ? 7 : prio);
	}
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (n == 0)
		return 0;
	return (int)n + snprintf(buf + n, len - n, ".%03ld ", (long)(tv.tv_usec / 1000));
}

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
		char buf[1024], pre[64];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		if (mb_log_prefix(level, pre, sizeof(pre)) <= 0)
			pre[0] = '\0';
		fprintf(stderr, "%sminibossd: %s: %s%s\n", pre, mb_log_module_name(mod),
			level <= MB_LOG_ERR ? "error: " : (level == MB_LOG_WARNING ? "warning: " : ""),
			buf);
	}
	va_end(ap);
}
