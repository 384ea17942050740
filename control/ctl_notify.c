/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Talking to systemd (Type=notify): READY=1 once the store verified its
 * images, STATUS= with the one-line health summary, RELOADING=1 with
 * MONOTONIC_USEC around a reload, STOPPING=1 on SIGTERM, WATCHDOG=1 while
 * the control thread and every dataplane lcore make progress.  Through
 * libsystemd's sd_notify (meson option `systemd`); without it, or without
 * NOTIFY_SOCKET in the environment, every call is a no-op.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef MB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "ctl_notify.h"

void
mb_notify(const char *fmt, ...)
{
#ifdef MB_HAVE_SYSTEMD
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	(void)sd_notify(0, buf);
#else
	(void)fmt;
#endif
}

void
mb_notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	mb_notify("RELOADING=1\nMONOTONIC_USEC=%llu",
		  (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

uint64_t
mb_notify_watchdog_usec(void)
{
#ifdef MB_HAVE_SYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}
