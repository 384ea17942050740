/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's lifecycle: the one struct mb_dp of the process, built by
 * mb_dp_init from the configuration (port, session slots, channel, lcore
 * contexts), run by mb_dp_lcore_main on the lcores, changed by
 * mb_dp_reconfig (the reloadable keys, as atomics the lcore reads) and torn
 * down by mb_dp_fini.  The public functions here and in dp_chan.c and
 * dp_stats.c are the only ones that reach the instance by name; every other
 * function of the dataplane is handed its port or lcore context.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include <urcu-qsbr.h>

#include "dp_priv.h"
#include "mb_log.h"

static struct mb_dp dp_one = { .chan = { .efd = -1 } };

struct mb_dp *
dp_instance(void)
{
	return &dp_one;
}

static void
tunables_set(struct mb_dp_tunables *t, const struct mb_config *cfg)
{
	atomic_store(&t->idle_sleep_us, cfg->idle_sleep_us);
	atomic_store(&t->fris_rate, cfg->fris_rate);
	atomic_store(&t->port_rate, cfg->port_rate);
	atomic_store(&t->fris_idle_timeout_s, cfg->fris_idle_timeout);
	atomic_store(&t->fris_linger, (int)mb_dp_linger_parse(cfg->fris_linger));
	atomic_store(&t->unicast_resend, cfg->unicast_resend);
	atomic_store(&t->dynamic_rate, cfg->dynamic_rate);
	atomic_store(&t->mcast_ttl, (uint32_t)cfg->mcast_ttl);
	{
		enum mb_igmp_querier_mode m = MB_IGMP_QUERIER_AUTO;

		(void)mb_igmp_querier_mode_parse(cfg->igmp_querier, &m); /* checked at load */
		atomic_store(&t->igmp_querier, (uint32_t)m);
	}
	atomic_store(&t->igmp_query_interval_s, cfg->igmp_query_interval);
	atomic_store(&t->igmp_lmqc, (uint32_t)cfg->igmp_lmqc);
	atomic_store(&t->igmp_lmqi_tenths, (uint32_t)(cfg->igmp_lmqi_ms / 100));
	atomic_store(&t->max_nodes, (uint32_t)cfg->max_nodes);
	atomic_store(&t->max_fallback, (uint32_t)cfg->max_fallback_nodes);
	atomic_store(&t->tcp_initial_window, (uint32_t)cfg->initial_window);
	atomic_store(&t->tcp_idle_timeout_ns, cfg->tcp_idle_timeout * 1000000000ULL);
	atomic_store(&t->tcp_cc, cfg->tcp_cc != NULL ? mb_tcp_cc_parse(cfg->tcp_cc) : -1);
	atomic_fetch_add(&t->gen, 1);
}

int
mb_dp_init(const struct mb_config *cfg)
{
	struct mb_dp *dp = &dp_one;
	int rc;

	if (dp->initialised)
		return -EALREADY;
	if (cfg->workers > DP_LCORES_MAX || rte_lcore_count() < RTE_MAX(cfg->workers, 1u)) {
		MB_LOG(ERR, DP, "dpdk.workers = %u needs as many EAL lcores (e.g. -l 0-%u), "
		       "EAL has %u", (unsigned)cfg->workers, (unsigned)cfg->workers - 1,
		       rte_lcore_count());
		return -EINVAL;
	}
	dp->hz = rte_get_tsc_hz();
	tunables_set(&dp->tun, cfg);
	dp->fris.max = (uint32_t)RTE_MAX(cfg->max_sessions, 1u);
	dp->fris.next_id = 1;
	dp->fris.sess = rte_zmalloc("mb_dp_sess", sizeof(*dp->fris.sess) * dp->fris.max,
				    RTE_CACHE_LINE_SIZE);
	if (dp->fris.sess == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = dp_chan_init(&dp->chan, cfg);
	if (rc != 0)
		goto fail;
	rc = dp_port_init(&dp->port, cfg);
	if (rc != 0)
		goto fail;
	if (cfg->exception_tap != NULL && cfg->exception_tap[0] != '\0') {
		rc = dp_exc_init(&dp->port, cfg->exception_tap);
		if (rc != 0)
			goto fail;
	}
	for (unsigned i = 0; i < dp->port.ntxq; i++) {
		dp->nlc = i + 1;
		rc = dp_lcore_init(dp, &dp->lc[i], (uint16_t)i, cfg);
		if (rc != 0)
			goto fail;
	}
	dp->initialised = true;
	dp_port_link_poll(&dp->lc[0], true);
	dp_port_rate_apply(&dp->lc[0], rte_rdtsc());
	return 0;
fail:
	MB_LOG(ERR, DP, "dataplane init on port %u failed: %s", (unsigned)cfg->port_id,
	       strerror(rc < 0 ? -rc : rc));
	mb_dp_fini();
	return rc < 0 ? rc : -EIO;
}

void
mb_dp_fini(void)
{
	struct mb_dp *dp = &dp_one;
	uint32_t i;

	if (dp->fris.sess != NULL) {
		for (i = 0; i < dp->fris.max; i++)
			if (atomic_load(&dp->fris.sess[i].state) != MB_DP_SESS_FREE)
				dp_fris_slot_release(&dp->fris.sess[i]);
	}
	for (i = 0; i < dp->nlc; i++)
		dp_lcore_fini(&dp->lc[i]);
	dp->nlc = 0;
	dp_chan_fini(dp);
	dp_exc_fini(&dp->port);
	dp_port_fini(&dp->port);
	rte_free(dp->fris.sess);
	dp->fris.sess = NULL;
	dp->initialised = false;
	atomic_store(&dp->joined, 0);
	atomic_store(&dp->stop, false);
}

void
mb_dp_reconfig(const struct mb_config *cfg)
{
	tunables_set(&dp_one.tun, cfg);
}

int
mb_dp_lcore_main(void *arg)
{
	struct mb_dp *dp = &dp_one;
	unsigned lcore = rte_lcore_id(), w;
	struct mb_dp_lcore *lc;

	(void)arg;
	if (!dp->initialised)
		return -EINVAL;
	w = atomic_fetch_add(&dp->joined, 1);
	if (w >= dp->nlc) {
		/* dpdk.workers lcores run the port; the others wait for the stop. */
		while (!atomic_load(&dp->stop))
			usleep(100000);
		return 0;
	}
	lc = &dp->lc[w];
	atomic_store(&lc->lcore, (int)lcore);
	rcu_register_thread();
	MB_LOG(INFO, DP, "lcore %u runs worker %u: port %u TX queue %u%s", lcore, w, dp->port.id,
	       w, lc->rx ? ", its RX queue" : "");
	dp_lcore_run(lc);
	rcu_unregister_thread();
	return 0;
}

void
mb_dp_stop(void)
{
	atomic_store(&dp_one.stop, true);
}

bool
mb_dp_link_up(void)
{
	return atomic_load(&dp_one.port.link_up);
}

uint64_t
mb_dp_link_speed_bps(void)
{
	return atomic_load(&dp_one.port.link_speed_bps);
}

uint32_t
mb_dp_local_addr(void)
{
	return dp_one.port.addr;
}

int
mb_dp_kernel_group(uint32_t group, bool on)
{
	unsigned i, free_i = MB_DP_KGROUPS_MAX;

	if (!IN_MULTICAST(rte_be_to_cpu_32(group)))
		return -EINVAL;
	for (i = 0; i < MB_DP_KGROUPS_MAX; i++) {
		uint32_t g = atomic_load(&dp_one.kgroup[i]);

		if (g == group) {
			if (!on) {
				atomic_store(&dp_one.kgroup[i], 0);
				atomic_store(&dp_one.kgroup_dirty, true);
			}
			return 0;
		}
		if (g == 0 && free_i == MB_DP_KGROUPS_MAX)
			free_i = i;
	}
	if (!on)
		return -ENOENT;
	if (free_i == MB_DP_KGROUPS_MAX)
		return -ENOSPC;
	atomic_store(&dp_one.kgroup[free_i], group);
	atomic_store(&dp_one.kgroup_dirty, true);
	return 0;
}

int
mb_dp_fill_add(struct mb_fillq *q)
{
	if (!dp_one.initialised)
		return -ENODEV;
	for (unsigned i = 0; i < MB_DP_FILLS_MAX; i++) {
		if (atomic_load(&dp_one.fill[i]) == NULL) {
			atomic_store(&dp_one.fill[i], q); /* seq_cst: the slot before the count */
			atomic_fetch_add(&dp_one.nfill, 1);
			return 0;
		}
	}
	return -ENOSPC;
}

void
mb_dp_fill_del(struct mb_fillq *q)
{
	if (q == NULL)
		return;
	for (unsigned i = 0; i < MB_DP_FILLS_MAX; i++) {
		if (atomic_load(&dp_one.fill[i]) == q) {
			atomic_store(&dp_one.fill[i], NULL);
			atomic_fetch_sub(&dp_one.nfill, 1);
			/* an lcore may be pushing into it until its next
			 * quiescent state */
			mb_fillq_free_deferred(q);
			return;
		}
	}
	mb_fillq_free(q); /* never added: no lcore has it */
}
