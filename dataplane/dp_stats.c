/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counter snapshots for the control thread (see dp_counters.h): the name
 * tables made from the X-macro lists, the port's figures with every
 * counter summed over the lcores, and the session table.  Reads are
 * relaxed loads of single-writer words; nothing here allocates or locks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "dp_priv.h"

#define DESC(n, h) { #n, h },
const struct mb_dp_ctr_desc mb_dp_ctr_desc[MB_DP_C_MAX] = { MB_DP_COUNTERS(DESC) };
const struct mb_dp_ctr_desc mb_dp_sctr_desc[MB_DP_S_MAX] = { MB_DP_SESS_COUNTERS(DESC) };
const struct mb_dp_ctr_desc mb_dp_tctr_desc[MB_DP_T_MAX] = { MB_DP_TCP_COUNTERS(DESC) };
#undef DESC

/* Measured send rate (UDP payload bits/s) of a session between two reads at
 * least 100 ms apart; control thread only. */
static uint64_t
sess_rate(struct mb_dp_sess *s, uint64_t hz, uint64_t now)
{
	uint64_t bytes = dp_rd(&s->ctr[MB_DP_S_tx_bytes]);

	if (now - s->rd_tsc >= hz / 10 || (s->rd_bytes == 0 && bytes > 0)) {
		if (now > s->rd_tsc)
			s->rd_bps = (uint64_t)((double)(bytes - s->rd_bytes) * 8 * (double)hz /
					       (double)(now - s->rd_tsc));
		s->rd_bytes = bytes;
		s->rd_tsc = now;
	}
	return s->rd_bps;
}

int
mb_dp_stats_read(struct mb_dp_stats *st)
{
	struct mb_dp *dp = dp_instance();
	const struct mb_dp_port *port = &dp->port;

	memset(st, 0, sizeof(*st));
	if (!dp->initialised)
		return -ENODEV;
	st->port = port->id;
	rte_ether_format_addr(st->mac, sizeof(st->mac), &port->mac);
	st->link = atomic_load(&port->link_up);
	st->speed_bps = atomic_load(&port->link_speed_bps);
	st->port_rate_bps = atomic_load_explicit(&port->rate, memory_order_relaxed);
	st->tx_zero_copy = port->zc.pool != NULL;
	st->mbuf_data_room = rte_pktmbuf_data_room_size(port->pool);
	st->mbufs_total = port->pool->size;
	st->mbufs_in_use = rte_mempool_in_use_count(port->pool);
	if (port->zc.pool != NULL) {
		st->zc_total = port->zc.pool->size;
		st->zc_in_use = rte_mempool_in_use_count(port->zc.pool);
	}
	st->mtu = port->mtu;
	st->tx_ip_cksum_offload = port->tx_ip_cksum;
	st->tx_tso = port->tx_tso;
	st->mc_filter_exact = port->mc_list_ok;
	st->exception_tap = port->exc.on;
	st->rss = port->rss;
	st->workers = dp->nlc;
	for (uint32_t k = 0; k < dp->fris.max; k++) {
		if (atomic_load(&dp->fris.sess[k].state) == MB_DP_SESS_ACTIVE) {
			st->sessions++;
			st->rate_bps += sess_rate(&dp->fris.sess[k], dp->hz, rte_rdtsc());
			if (dp->fris.sess[k].owner < dp->nlc)
				st->worker[dp->fris.sess[k].owner].sessions++;
		}
	}
	{
		const struct mb_igmp_querier *q = &dp->igmp.q;

		st->igmp.mode = mb_igmp_querier_mode_str(
			(enum mb_igmp_querier_mode)atomic_load(&dp->tun.igmp_querier));
		st->igmp.state = mb_igmp_querier_state_str(dp_rd32(&q->state));
		st->igmp.other = q->other_until > rte_rdtsc() ? dp_rd32(&q->other) : 0;
		st->igmp.interval_s = atomic_load(&dp->tun.igmp_query_interval_s);
		st->igmp.last_member_count = dp_rd32(&q->lmqc);
		st->igmp.last_member_interval_ms = dp_rd32(&q->lmqi_tenths) * 100;
		st->igmp.sent = dp_rd(&q->sent);
		st->igmp.suppressed = dp_rd(&q->suppressed);
		st->igmp.heard = dp_rd(&q->heard);
		st->igmp.yields = dp_rd(&q->yields);
		st->igmp.resumes = dp_rd(&q->resumes);
		st->igmp.leaves = dp_rd(&q->leaves);
		st->igmp.leaves_not_querier = dp_rd(&q->leaves_not_querier);
		st->igmp.leaves_limited = dp_rd(&q->leaves_limited);
		st->igmp.gsq_sent = dp_rd(&q->gsq_sent);
		st->igmp.checks_members = dp_rd(&q->checks_members);
		st->igmp.checks_empty = dp_rd(&q->checks_empty);
		for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++)
			st->igmp.checking += dp_rd32(&q->gsq[i].group) != 0;
	}
	for (unsigned l = 0; l < dp->nlc; l++) {
		const struct mb_dp_lcore *lc = &dp->lc[l];
		struct mb_dp_worker_info *w = &st->worker[l];

		w->lcore = atomic_load(&lc->lcore);
		w->rx = lc->rx;
		for (unsigned k = 0; k < MB_DP_C_MAX; k++) {
			w->ctr[k] = dp_rd(&lc->ctr[k]);
			st->ctr[k] += w->ctr[k];
		}
		if (lc->tcp != NULL) {
			st->tcp_enabled = true;
			mb_dp_tcp_stats_add(lc->tcp, &st->tcp);
		}
	}
	return 0;
}

unsigned
mb_dp_sessions_read(struct mb_dp_sess_info *ret, unsigned max)
{
	struct mb_dp *dp = dp_instance();
	unsigned n = 0;

	if (!dp->initialised)
		return 0;
	for (uint32_t i = 0; i < dp->fris.max && n < max; i++) {
		struct mb_dp_sess *s = &dp->fris.sess[i];
		int st = atomic_load_explicit(&s->state, memory_order_acquire);
		struct mb_dp_sess_info *o = &ret[n];

		if (st == MB_DP_SESS_FREE)
			continue;
		o->id = s->id;
		snprintf(o->image, sizeof(o->image), "%s", s->name);
		o->version = s->version;
		o->size = s->size;
		o->addr = s->addr;
		o->port = s->port;
		o->method = s->method;
		o->state = (enum mb_dp_sess_state)st;
		o->rate_bps = sess_rate(s, dp->hz, rte_rdtsc());
		o->queue_depth = atomic_load(&s->wq_depth);
		o->chunks = s->nchunks;
		for (unsigned k = 0; k < MB_DP_S_MAX; k++)
			o->ctr[k] = dp_rd(&s->ctr[k]);
		for (unsigned k = 0; k < MB_FRIS_RESULT_MAX; k++)
			o->drop[k] = dp_rd(&s->drop[k]);
		o->pacing_bps = atomic_load(&s->cur_rate);
		o->adaptive = s->dynamic;
		o->cap_bps = s->rate_bps;
		o->loss_ppm = atomic_load_explicit(&s->loss_ppm, memory_order_relaxed);
		if (s->nodes != NULL) {
			o->nodes = atomic_load_explicit(&s->nodes->n, memory_order_acquire);
			o->nodes_max = s->nodes->max;
			o->fb_nodes = dp_rd32(&s->nodes->fb_n);
		}
		n++;
	}
	return n;
}

unsigned
mb_dp_sessions_max(void)
{
	return dp_instance()->fris.max;
}

unsigned
mb_dp_session_nodes_read(uint32_t id, struct mb_dp_node_info *ret, unsigned max)
{
	struct mb_dp *dp = dp_instance();
	uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();

	if (!dp->initialised)
		return 0;
	for (uint32_t i = 0; i < dp->fris.max; i++) {
		struct mb_dp_sess *s = &dp->fris.sess[i];
		int st = atomic_load_explicit(&s->state, memory_order_acquire);
		struct mb_fris_nodes *t = s->nodes;
		uint32_t n, k;

		if (st == MB_DP_SESS_FREE || s->id != id || t == NULL)
			continue;
		/* the slot (and its table) stays until this thread reaps it */
		n = atomic_load_explicit(&t->n, memory_order_acquire);
		if (n > max)
			n = max;
		for (k = 0; k < n; k++) {
			const struct mb_fris_node *nd = &t->node[k];
			struct mb_dp_node_info *o = &ret[k];
			int16_t fb = dp_rd16(&nd->fb);
			uint64_t seen = dp_rd(&nd->last_seen), first = dp_rd(&nd->first_seen);

			memset(o, 0, sizeof(*o));
			o->addr = atomic_load_explicit(&nd->addr, memory_order_acquire);
			o->ucast = dp_rd8(&nd->method) == MB_FRIS_NODE_UCAST;
			o->reason = mb_fris_node_reason_str(dp_rd8(&nd->reason));
			o->left = dp_rd8((const uint8_t *)&nd->left) != 0;
			o->reported = dp_rd8((const uint8_t *)&nd->reported) != 0;
			o->progress_ppm = mb_fris_node_progress_ppm(t, nd);
			o->bytes = (uint64_t)((unsigned __int128)s->size * o->progress_ppm / 1000000);
			o->ucast_bytes = dp_rd(&nd->ucast_blocks) * MB_FRIS_BLOCK_SIZE;
			if (fb >= 0 && (uint32_t)fb < t->fb_max)
				o->ucast_rate_bps = dp_rd(&t->fb[fb].ra.rate);
			o->idle_ms = now > seen ? (now - seen) * 1000 / hz : 0;
			o->age_ms = now > first ? (now - first) * 1000 / hz : 0;
			o->joins = dp_rd32(&nd->joins);
			o->requests = dp_rd32(&nd->requests);
			o->rerequests = dp_rd32(&nd->rerequests);
			o->blocks_lost = dp_rd(&nd->blocks_lost);
			o->loss_ppm = dp_rd32(&nd->loss_ppm);
		}
		return n;
	}
	return 0;
}
