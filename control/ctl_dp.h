/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's view of the dataplane: every call control makes into
 * it goes through one ops struct, so the control library (mb_ctl) stays
 * DPDK-free and tests drive the real control code against a fake dataplane
 * (tests/fakes/ctl_dp.h) instead of redefining symbols at link time.  The
 * daemon installs the real one (mb_ctl_dp_dpdk, control/ctl_dpdk.c) before
 * the control thread starts; until then, and in programs that never install
 * one, the null dataplane answers: no link, no address, no event descriptor,
 * sessions and transfers refused with -ENODEV.
 *
 * All calls are made on the control thread and never block.
 */
#ifndef _MB_CTL_DP_H_
#define _MB_CTL_DP_H_

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "dp.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_sbuf.h"

struct mb_ctl_dp_ops {
	/* The eventfd that wakes the control loop when events wait (-1:
	 * none), and the events themselves (dp.h: mb_dp_event_fd,
	 * mb_dp_events_poll). */
	int (*event_fd)(void);
	unsigned (*events_poll)(struct mb_dp_event *ev, unsigned n);
	/* The reloadable dataplane keys (mb_dp_reconfig). */
	void (*reconfig)(const struct mb_config *cfg);
	/* Make the lcores return (SIGTERM). */
	void (*stop)(void);
	bool (*link_up)(void);
	uint64_t (*link_speed_bps)(void);
	uint32_t (*local_addr)(void); /* network order, 0 = none */
	/* The JSON of the counters ("stats" action, health) and of the
	 * session slots ("sessions"): new references, NULL when unavailable. */
	json_t *(*stats_json)(void);
	json_t *(*sessions_json)(void);
	/* dp.h: the session API, FTP data expectations, withdrawal, drain.
	 * Ownership of the references passed is as documented there. */
	int (*fris_session_start)(const struct mb_fris_session_params *p, uint32_t *ret_id);
	int (*fris_session_stop)(uint32_t id);
	int (*tcp_expect)(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off,
			  uint64_t len, uint64_t cookie);
	int (*tcp_abort_image)(struct mb_image *img);
	void (*tcp_refuse_new)(bool on);
	/* mb_dp_kernel_group (NULL: not offered, as the null dataplane). */
	int (*kernel_group)(uint32_t group, bool on);
	/* mb_dp_fill_add/del (NULL: not offered; the caller frees its queue
	 * itself then). */
	int (*fill_add)(struct mb_fillq *q);
	void (*fill_del)(struct mb_fillq *q);
};

/* Install `ops` (borrowed for the life of the process; NULL: the null
 * dataplane).  Before the control plane starts. */
void mb_ctl_dp_set(const struct mb_ctl_dp_ops *ops);
/* The installed ops (never NULL). */
const struct mb_ctl_dp_ops *mb_ctl_dp(void);

/* The real dataplane (control/ctl_dpdk.c, library mb_ctl_eal). */
extern const struct mb_ctl_dp_ops mb_ctl_dp_dpdk;

#endif /* _MB_CTL_DP_H_ */
