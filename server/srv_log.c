/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossd's log once EAL is up: the DPDK log types of the modules
 * (user.miniboss.<module>, so --log-level='user.miniboss.*:debug' works),
 * the sink that turns MB_LOG into one rte_log line "minibossd: <module>:
 * msg", and the stream every rte_log line (ours and EAL's) goes through to
 * get the prefix mb_log_prefix() chooses: a timestamp on a terminal or in a
 * file, the syslog priority under journald.  Before EAL, MB_LOG writes to
 * stderr by itself (common/mb_log.c); nothing here is needed then.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_log.h>

#include "mb_log.h"
#include "srv.h"

RTE_LOG_REGISTER(mb_logtype_main, user.miniboss.main, INFO);
RTE_LOG_REGISTER(mb_logtype_cfg, user.miniboss.cfg, INFO);
RTE_LOG_REGISTER(mb_logtype_ctl, user.miniboss.ctl, INFO);
RTE_LOG_REGISTER(mb_logtype_dp, user.miniboss.dp, INFO);
RTE_LOG_REGISTER(mb_logtype_fris, user.miniboss.fris, INFO);
RTE_LOG_REGISTER(mb_logtype_tcp, user.miniboss.tcp, INFO);
RTE_LOG_REGISTER(mb_logtype_sync, user.miniboss.sync, INFO);
RTE_LOG_REGISTER(mb_logtype_store, user.miniboss.store, INFO);

static int
logtype_of(enum mb_log_module mod)
{
	switch (mod) {
	case MB_MOD_CFG:
		return mb_logtype_cfg;
	case MB_MOD_CTL:
		return mb_logtype_ctl;
	case MB_MOD_DP:
		return mb_logtype_dp;
	case MB_MOD_FRIS:
		return mb_logtype_fris;
	case MB_MOD_TCP:
		return mb_logtype_tcp;
	case MB_MOD_SYNC:
		return mb_logtype_sync;
	case MB_MOD_STORE:
		return mb_logtype_store;
	default:
		return mb_logtype_main;
	}
}

/* MB_LOG after EAL init: one rte_log line "minibossd: <module>: msg". */
void
mb_srv_log_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	char buf[1024];
	int type = logtype_of(mod);

	if (!rte_log_can_log((uint32_t)type, (uint32_t)level))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	rte_log((uint32_t)level, (uint32_t)type, "minibossd: %s: %s%s\n", mb_log_module_name(mod),
	        level <= MB_LOG_ERR ? "error: " : (level == MB_LOG_WARNING ? "warning: " : ""),
	        buf);
}

/* ---- the log stream: every rte_log line (ours and EAL's) gets the prefix
 * mb_log_prefix() chooses: a timestamp on a terminal or in a file, the
 * syslog priority under journald.  A cookie stream collects each line and
 * writes it whole to stderr. */

struct log_cookie {
	char line[2048];
	size_t len;
};

static void
log_cookie_flush(struct log_cookie *c)
{
	char pre[64];
	int lvl = rte_log_cur_msg_loglevel();
	int n = mb_log_prefix(lvl > 0 ? (enum mb_log_level)lvl : MB_LOG_INFO, pre, sizeof(pre));

	if (n > 0)
		(void)!write(STDERR_FILENO, pre, (size_t)n);
	(void)!write(STDERR_FILENO, c->line, c->len);
	c->len = 0;
}

static ssize_t
log_cookie_write(void *arg, const char *buf, size_t size)
{
	struct log_cookie *c = arg;

	for (size_t i = 0; i < size; i++) {
		c->line[c->len++] = buf[i];
		if (buf[i] == '\n' || c->len == sizeof(c->line) - 1) {
			if (buf[i] != '\n')
				c->line[c->len++] = '\n';
			log_cookie_flush(c);
		}
	}
	return (ssize_t)size;
}

FILE *
mb_srv_log_stream_open(void)
{
	static struct log_cookie cookie;
	cookie_io_functions_t io = { .write = log_cookie_write };
	FILE *f = fopencookie(&cookie, "w", io);

	if (f != NULL)
		setvbuf(f, NULL, _IONBF, 0);
	return f;
}
