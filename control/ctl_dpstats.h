/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's counters as JSON (control/ctl_dpstats.c): the replies of
 * the `stats` and `sessions` actions, their telemetry twins and the health
 * sections, rendered from the snapshots and name tables the dataplane
 * exports (dataplane/dp_counters.h).  Control thread.
 */
#ifndef _MB_CTL_DPSTATS_H_
#define _MB_CTL_DPSTATS_H_

#include <jansson.h>

/* {"port","mac","link",...,"counters":{...},"igmp-querier":{...},"tcp":{...}},
 * or {} before the dataplane started: a new reference (NULL only without
 * memory). */
json_t *mb_ctl_dp_stats_json(void);
/* [ {id, image, version, size, addr, port, method, state, rate-bps,
 * queue-depth, chunks, <counters>..., drops-by-reason, pacing-bps,
 * rate-control, rate-cap-bps, group-loss, nodes-tracked, nodes-max,
 * fallback-nodes, nodes: [ {addr, method, fallback, progress, progress-from,
 * bytes, ucast-bytes, ucast-rate-bps, done, last-seen-ms, age-ms, joins,
 * requests, rerequests, lost-blocks, loss} ]} ]: a new reference (NULL only
 * without memory). */
json_t *mb_ctl_dp_sessions_json(void);

#endif /* _MB_CTL_DPSTATS_H_ */
