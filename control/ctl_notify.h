/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd notifications (control/ctl_notify.c).  Any thread; never blocks
 * for long (one datagram); no-ops outside systemd.
 */
#ifndef _MB_CTL_NOTIFY_H_
#define _MB_CTL_NOTIFY_H_

#include <stdint.h>

/* One notification, e.g. mb_notify("READY=1\nSTATUS=%s", line). */
void mb_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with MONOTONIC_USEC=now (systemd 253+ wants both). */
void mb_notify_reloading(void);
/* The watchdog interval systemd asks for (WatchdogSec=), 0 = none. */
uint64_t mb_notify_watchdog_usec(void);

#endif /* _MB_CTL_NOTIFY_H_ */
