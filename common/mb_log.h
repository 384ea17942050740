/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One logging macro layer for the daemon: MB_LOG(level, module, fmt, ...).
 *
 * Before EAL is up (argument and config parsing) messages go to stderr.  The
 * daemon installs a sink built on rte_log() once EAL runs (server/main.c), so
 * this header stays DPDK-free.  Library-like code (proto/, common/) never logs:
 * it returns errors and the caller logs once.
 */
#ifndef _MB_LOG_H_
#define _MB_LOG_H_

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "mb_ratelimit.h"
#include "mb_time.h"

/* Levels match syslog/rte_log numbering so a sink can pass them through. */
enum mb_log_level {
	MB_LOG_EMERG = 1,
	MB_LOG_ALERT,
	MB_LOG_CRIT,
	MB_LOG_ERR,
	MB_LOG_WARNING,
	MB_LOG_NOTICE,
	MB_LOG_INFO,
	MB_LOG_DEBUG,
};

enum mb_log_module {
	MB_MOD_MAIN,
	MB_MOD_CFG,
	MB_MOD_CTL,
	MB_MOD_DP,
	MB_MOD_FRIS,
	MB_MOD_TCP,
	MB_MOD_SYNC,
	MB_MOD_STORE,
	MB_MOD__COUNT,
};

typedef void (*mb_log_sink_fn)(enum mb_log_level level, enum mb_log_module mod, const char *fmt,
			       va_list ap);

/* Look at the environment once, at start: under systemd (JOURNAL_STREAM
 * names our stderr) lines carry a "<N>" priority instead of a timestamp. */
void mb_log_init(void);
bool mb_log_to_journal(void);
/* The start of a log line at `level`: "<N>" for journald, else the local
 * time ("2026-01-31 12:00:00.123 ").  Returns its length (snprintf's). */
int mb_log_prefix(enum mb_log_level level, char *buf, size_t len);
/* Install a sink (NULL restores stderr).  Call from the main thread before
 * other threads start. */
void mb_log_set_sink(mb_log_sink_fn fn);
/* Maximum level printed by the stderr sink (default MB_LOG_INFO). */
void mb_log_set_level(enum mb_log_level level);
enum mb_log_level mb_log_get_level(void);
const char *mb_log_module_name(enum mb_log_module mod);
int mb_log_level_parse(const char *s);

void mb_log(enum mb_log_level level, enum mb_log_module mod, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define MB_LOG(level, module, ...) mb_log(MB_LOG_##level, MB_MOD_##module, __VA_ARGS__)

/*
 * MB_LOG through a rate limiter (struct mb_ratelimit *rl, see
 * mb_ratelimit.h): for lines a peer can trigger at will.  Lines over the
 * limit are dropped and counted; the next line that passes ends with
 * "(N similar lines suppressed)".  `fmt` must be a string literal.
 */
#define MB_LOG_RL(rl, level, module, fmt, ...)                                              \
	do {                                                                                 \
		uint64_t mb_rl_pending_;                                                     \
		if (mb_ratelimit_ok((rl), mb_time_mono_ns(), &mb_rl_pending_)) {             \
			if (mb_rl_pending_ != 0)                                             \
				MB_LOG(level, module, fmt " (%" PRIu64                      \
				       " similar lines suppressed)", ##__VA_ARGS__,          \
				       mb_rl_pending_);                                      \
			else                                                                 \
				MB_LOG(level, module, fmt, ##__VA_ARGS__);                   \
		}                                                                            \
	} while (0)

#endif /* _MB_LOG_H_ */
