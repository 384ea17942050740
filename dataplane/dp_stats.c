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
	st->mtu = port->mtu;
	st->tx_ip_cksum_offload = port->tx_ip_cksum;
	st->mc_filter_exact = port->mc_list_ok;
	st->exception_tap = port->exc.on;
	for (uint32_t k = 0; k < dp->fris.max; k++) {
		if (atomic_load(&dp->fris.sess[k].state) == MB_DP_SESS_ACTIVE) {
			st->sessions++;
			st->rate_bps += sess_rate(&dp->fris.sess[k], dp->hz, rte_rdtsc());
		}
	}
	for (unsigned l = 0; l < dp->nlc; l++) {
		const struct mb_dp_lcore *lc = &dp->lc[l];

		for (unsigned k = 0; k < MB_DP_C_MAX; k++)
			st->ctr[k] += dp_rd(&lc->ctr[k]);
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
		n++;
	}
	return n;
}

unsigned
mb_dp_sessions_max(void)
{
	return dp_instance()->fris.max;
}
