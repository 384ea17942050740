/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The health reply for people: the summary `minibossctl health` prints (in
 * the manner of `systemctl status` or `chronyc tracking`: state and why,
 * where it serves, images, sessions, sync, in human units) and the one line
 * minibossd hands systemd as STATUS=.  Both read the same JSON the control
 * socket returns, so a summary never knows more than `--json health` says.
 * Human units for bytes, bit rates and durations live here too.
 * DPDK-free; never logs.
 */
#ifndef _MB_STATUS_H_
#define _MB_STATUS_H_

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* "1.5 GiB", "512 B" (powers of 1024). */
int mb_human_bytes(uint64_t v, char *buf, size_t len);
/* "940 Mbit/s", "1.9 Gbit/s" (powers of 1000). */
int mb_human_rate(uint64_t bits_per_s, char *buf, size_t len);
/* "35s", "4m 10s", "2h 5m", "3d 4h". */
int mb_human_duration(uint64_t seconds, char *buf, size_t len);

/* The reasons the state is not "ok", one line each, most important first:
 * the reply's own "reasons" when it has them, and what the sections show
 * (failed images, link down, sync trouble, an empty store).  A new array
 * of strings (empty when all is well) or NULL on ENOMEM. */
json_t *mb_status_reasons(json_t *health);

/* One line for STATUS=: "ok: 3 images (2 warm), 2 sessions at 1.9 Gbit/s,
 * sync ok 4m ago".  `now` is the wall clock in seconds (ages).  Returns
 * snprintf's count. */
int mb_status_line(json_t *health, int64_t now, char *buf, size_t len);

/* The summary of `minibossctl health`, a dozen lines at most 100 columns
 * wide (plus one block per image that is not ok). */
void mb_status_print(json_t *health, int64_t now, FILE *f);

#endif /* _MB_STATUS_H_ */
