/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus metrics (control/ctl_metrics.c renders them,
 * control/ctl_metrics_http.c serves them on control.metrics-listen).
 * Control thread only.
 */
#ifndef _MB_CTL_METRICS_H_
#define _MB_CTL_METRICS_H_

#include <stddef.h>

#include "ctl.h"

/* The exposition text (Prometheus text format 0.0.4), malloc'd, its length
 * in *ret_len (may be NULL); NULL only without memory. */
char *mb_ctl_metrics_text(size_t *ret_len);

/* The "metrics" action: the text as one JSON string. */
extern const struct mb_ctl_action mb_ctl_metrics_action;

/* The subsystem: the "metrics" action, and the HTTP listener when
 * control.metrics-listen is set (its "metrics" health entry then). */
extern const struct mb_ctl_subsys mb_ctl_subsys_metrics;

/* Bounds of the HTTP endpoint. */
#define MB_METRICS_MAX_REQUEST 4096 /* request line and headers */
#define MB_METRICS_MAX_CONNS 16
#define MB_METRICS_IDLE_MS 10000 /* a connection that neither sends nor takes for this long */

#endif /* _MB_CTL_METRICS_H_ */
