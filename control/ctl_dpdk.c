/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the daemon's control plane uses of DPDK, behind the control
 * library's two seams: the real dataplane as struct mb_ctl_dp_ops (dp.h's
 * control-side API, and the JSON of its counters rendered by
 * ctl_dpstats.c), and rte_malloc as the pinned image memory (hugepages the
 * NIC may read, so MB_SBUF_IOVA_DERIVE).  ctl.c installs both.
 */
#include <rte_malloc.h>

#include "ctl_dp.h"
#include "ctl_dpstats.h"
#include "ctl_imgmem.h"
#include "dp.h"

const struct mb_ctl_dp_ops mb_ctl_dp_dpdk = {
	.event_fd = mb_dp_event_fd,
	.events_poll = mb_dp_events_poll,
	.reconfig = mb_dp_reconfig,
	.stop = mb_dp_stop,
	.link_up = mb_dp_link_up,
	.link_speed_bps = mb_dp_link_speed_bps,
	.local_addr = mb_dp_local_addr,
	.stats_json = mb_ctl_dp_stats_json,
	.sessions_json = mb_ctl_dp_sessions_json,
	.fris_session_start = mb_dp_fris_session_start,
	.fris_session_stop = mb_dp_fris_session_stop,
	.tcp_expect = mb_dp_tcp_expect,
	.tcp_abort_image = mb_dp_tcp_abort_image,
	.tcp_refuse_new = mb_dp_tcp_refuse_new,
	.kernel_group = mb_dp_kernel_group,
	.fill_add = mb_dp_fill_add,
	.fill_del = mb_dp_fill_del,
};

static void *
rte_alloc(uint64_t len)
{
	return rte_malloc("mb_image", (size_t)len, 4096);
}

const struct mb_imgmem_ops mb_imgmem_rte = {
	.alloc = rte_alloc,
	.free = rte_free,
	.iova = MB_SBUF_IOVA_DERIVE,
};
