/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON of the dataplane's counters (see ctl_dpstats.h).  The dataplane
 * knows no JSON: it fills plain snapshot structs and exports the counter
 * name tables; the shape of the replies is decided here, once.  A session
 * carries its nodes ("nodes": address, how it is served, progress, bytes,
 * when last heard from), the port its IGMP querier.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_dpstats.h"
#include "dp.h"

static const char *
method_name(int m)
{
	switch (m) {
	case MB_FRIS_UNICAST:
		return "unicast";
	case MB_FRIS_MULTICAST:
		return "multicast";
	case MB_FRIS_BROADCAST:
		return "broadcast";
	}
	return "?";
}

static const char *
state_name(enum mb_dp_sess_state st)
{
	return st == MB_DP_SESS_ACTIVE ? "active" : st == MB_DP_SESS_ENDED ? "ended" : "starting";
}

static json_t *
tcp_json(const struct mb_dp_tcp_stats *t)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
#define CTL_TCP_JSON(n, help) json_object_set_new(o, "tcp_" #n, json_integer((json_int_t)t->core.n));
	MB_TCP_COUNTERS(CTL_TCP_JSON)
#undef CTL_TCP_JSON
#define CTL_HTTP_JSON(n, help) json_object_set_new(o, "http_" #n, json_integer((json_int_t)t->http.n));
	MB_TCP_HTTP_COUNTERS(CTL_HTTP_JSON)
#undef CTL_HTTP_JSON
	json_object_set_new(o, "tcp_conns", json_integer(t->conns));
	for (unsigned k = 0; k < MB_DP_T_MAX; k++) {
		char key[64];

		snprintf(key, sizeof(key), "tcp_%s", mb_dp_tctr_desc[k].name);
		json_object_set_new(o, key, json_integer((json_int_t)t->glue[k]));
	}
	json_object_set_new(o, "tcp_mss", json_integer(t->mss));
	return o;
}

static json_t *
igmp_json(const struct mb_dp_igmp_info *g)
{
	char a[INET_ADDRSTRLEN] = "";

	/* yielding to 0.0.0.0: a switch's proxy querier */
	bool other = g->other != 0 || strcmp(g->state, "yielding") == 0;

	if (other)
		inet_ntop(AF_INET, &g->other, a, sizeof(a));
	return json_pack("{s:s,s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
			 "s:I}",
			 "mode", g->mode, "state", g->state, "other-querier", other ? a : NULL,
			 "interval-s", (json_int_t)g->interval_s, "last-member-count",
			 (json_int_t)g->last_member_count, "last-member-interval-ms",
			 (json_int_t)g->last_member_interval_ms, "queries-sent",
			 (json_int_t)g->sent, "queries-suppressed", (json_int_t)g->suppressed,
			 "queries-heard", (json_int_t)g->heard, "yields", (json_int_t)g->yields,
			 "takeovers", (json_int_t)g->resumes, "leaves", (json_int_t)g->leaves,
			 "leaves-not-querier", (json_int_t)g->leaves_not_querier,
			 "leaves-limited", (json_int_t)g->leaves_limited, "group-queries-sent",
			 (json_int_t)g->gsq_sent, "groups-checking", (json_int_t)g->checking,
			 "checks-members-remain", (json_int_t)g->checks_members,
			 "checks-last-member-left", (json_int_t)g->checks_empty);
}

json_t *
mb_ctl_dp_stats_json(void)
{
	struct mb_dp_stats *st = malloc(sizeof(*st));
	json_t *o = json_object(), *c;

	if (o == NULL || st == NULL || mb_dp_stats_read(st) != 0) {
		free(st);
		return o;
	}
	json_object_set_new(o, "port", json_integer(st->port));
	json_object_set_new(o, "mac", json_string(st->mac));
	json_object_set_new(o, "link", json_boolean(st->link));
	json_object_set_new(o, "speed-bps", json_integer((json_int_t)st->speed_bps));
	json_object_set_new(o, "port-rate-bps", json_integer((json_int_t)st->port_rate_bps));
	json_object_set_new(o, "tx-zero-copy", json_boolean(st->tx_zero_copy));
	json_object_set_new(o, "mbuf-data-room", json_integer(st->mbuf_data_room));
	json_object_set_new(o, "mbufs", json_pack("{s:I,s:I,s:I,s:I}", "in-use",
						  (json_int_t)st->mbufs_in_use, "total",
						  (json_int_t)st->mbufs_total, "zc-in-use",
						  (json_int_t)st->zc_in_use, "zc-total",
						  (json_int_t)st->zc_total));
	json_object_set_new(o, "mtu", json_integer(st->mtu));
	json_object_set_new(o, "tx-ip-cksum-offload", json_boolean(st->tx_ip_cksum_offload));
	json_object_set_new(o, "tx-tso", json_boolean(st->tx_tso));
	json_object_set_new(o, "mc-filter",
			    json_string(st->mc_filter_exact ? "exact" : "allmulticast"));
	json_object_set_new(o, "exception-tap", json_boolean(st->exception_tap));
	json_object_set_new(o, "sessions", json_integer(st->sessions));
	json_object_set_new(o, "rate-bps", json_integer((json_int_t)st->rate_bps));
	c = json_object();
	for (unsigned k = 0; c != NULL && k < MB_DP_C_MAX; k++)
		json_object_set_new(c, mb_dp_ctr_desc[k].name, json_integer((json_int_t)st->ctr[k]));
	json_object_set_new(o, "counters", c);
	json_object_set_new(o, "workers", json_integer(st->workers));
	json_object_set_new(o, "rss", json_boolean(st->rss));
	/* each worker's own counters (the ones above are their sum) */
	{
		json_t *a = json_array();

		for (unsigned w = 0; a != NULL && w < st->workers && w < MB_DP_WORKERS_MAX; w++) {
			const struct mb_dp_worker_info *wi = &st->worker[w];
			json_t *wo = json_object(), *wc = json_object();

			for (unsigned k = 0; wc != NULL && k < MB_DP_C_MAX; k++)
				json_object_set_new(wc, mb_dp_ctr_desc[k].name,
						    json_integer((json_int_t)wi->ctr[k]));
			json_object_set_new(wo, "worker", json_integer(w));
			json_object_set_new(wo, "lcore", json_integer(wi->lcore));
			json_object_set_new(wo, "rx-queue", json_boolean(wi->rx));
			json_object_set_new(wo, "sessions", json_integer(wi->sessions));
			json_object_set_new(wo, "counters", wc);
			json_array_append_new(a, wo);
		}
		json_object_set_new(o, "lcores", a);
	}
	json_object_set_new(o, "igmp-querier", igmp_json(&st->igmp));
	/* The userspace TCP's counters (tcp_*, http_*) under their own key. */
	if (st->tcp_enabled)
		json_object_set_new(o, "tcp", tcp_json(&st->tcp));
	free(st);
	return o;
}

/* The nodes of a session, in the order first heard from. */
static json_t *
nodes_json(const struct mb_dp_sess_info *s)
{
	struct mb_dp_node_info *ni;
	json_t *arr = json_array();
	unsigned n;

	if (arr == NULL || s->nodes == 0)
		return arr;
	ni = calloc(s->nodes, sizeof(*ni));
	if (ni == NULL)
		return arr;
	n = mb_dp_session_nodes_read(s->id, ni, s->nodes);
	for (unsigned i = 0; i < n; i++) {
		const struct mb_dp_node_info *d = &ni[i];
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &d->addr, a, sizeof(a));
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:s,s:f,s:s,s:I,s:I,s:I,s:b,s:I,s:I,s:i,s:i,s:i,s:I,s:f}",
				   "addr", a, "method", d->ucast ? "ucast" : "mcast", "fallback",
				   d->reason, "progress", d->progress_ppm / 1e6, "progress-from",
				   d->left ? "leave" : d->reported ? "report" : "inferred", "bytes",
				   (json_int_t)d->bytes, "ucast-bytes", (json_int_t)d->ucast_bytes,
				   "ucast-rate-bps", (json_int_t)d->ucast_rate_bps, "done", d->left,
				   "last-seen-ms", (json_int_t)d->idle_ms, "age-ms",
				   (json_int_t)d->age_ms, "joins", (int)d->joins, "requests",
				   (int)d->requests, "rerequests", (int)d->rerequests, "lost-blocks",
				   (json_int_t)d->blocks_lost, "loss", d->loss_ppm / 1e6));
	}
	free(ni);
	return arr;
}

static json_t *
session_json(const struct mb_dp_sess_info *s)
{
	char a[INET_ADDRSTRLEN];
	json_t *o, *drops;

	inet_ntop(AF_INET, &s->addr, a, sizeof(a));
	o = json_pack("{s:I,s:s,s:I,s:I,s:s,s:i,s:s,s:s,s:I,s:I,s:I}", "id", (json_int_t)s->id,
		      "image", s->image, "version", (json_int_t)s->version, "size",
		      (json_int_t)s->size, "addr", a, "port", s->port, "method",
		      method_name(s->method), "state", state_name(s->state), "rate-bps",
		      (json_int_t)s->rate_bps, "queue-depth", (json_int_t)s->queue_depth, "chunks",
		      (json_int_t)s->chunks);
	if (o == NULL)
		return NULL;
	for (unsigned k = 0; k < MB_DP_S_MAX; k++)
		json_object_set_new(o, mb_dp_sctr_desc[k].name, json_integer((json_int_t)s->ctr[k]));
	drops = json_object();
	for (unsigned k = 1; drops != NULL && k < MB_FRIS_RESULT_MAX; k++)
		json_object_set_new(drops, mb_fris_result_name((enum mb_fris_result)k),
				    json_integer((json_int_t)s->drop[k]));
	json_object_set_new(o, "drops-by-reason", drops);
	json_object_set_new(o, "pacing-bps", json_integer((json_int_t)s->pacing_bps));
	json_object_set_new(o, "rate-control", json_string(s->adaptive ? "adaptive" : "fixed"));
	json_object_set_new(o, "rate-cap-bps", json_integer((json_int_t)s->cap_bps));
	json_object_set_new(o, "group-loss", json_real(s->loss_ppm / 1e6));
	json_object_set_new(o, "nodes-tracked", json_integer(s->nodes));
	json_object_set_new(o, "nodes-max", json_integer(s->nodes_max));
	json_object_set_new(o, "fallback-nodes", json_integer(s->fb_nodes));
	json_object_set_new(o, "nodes", nodes_json(s));
	return o;
}

json_t *
mb_ctl_dp_sessions_json(void)
{
	unsigned max = mb_dp_sessions_max(), n;
	struct mb_dp_sess_info *info;
	json_t *arr = json_array();

	if (arr == NULL || max == 0)
		return arr;
	info = calloc(max, sizeof(*info));
	if (info == NULL)
		return arr;
	n = mb_dp_sessions_read(info, max);
	for (unsigned i = 0; i < n; i++) {
		json_t *o = session_json(&info[i]);

		if (o != NULL)
			json_array_append_new(arr, o);
	}
	free(info);
	return arr;
}
