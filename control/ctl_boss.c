/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What boss needs from a miniboss: the drain switch and the "boss" section
 * of the health reply.
 *
 * drain / undrain: while draining, the master server refuses GETs that
 * would start a Frisbee session, the FTP control port refuses logins and
 * the dataplane refuses new HTTP connections; sessions, FTP logins and
 * HTTP connections already running go on until they end.  Health then
 * says "draining" (with the reason), so boss's poller stops naming this
 * miniboss.  Drain state is not kept across a restart.
 *
 * The "boss" health section gathers in one object what boss's selection
 * needs: link, the published images (name, version, size, SHA-256, mtime,
 * warm = in hugepages), Frisbee sessions and FTP transfers in flight with
 * what is known per node, the port's transmit rate against its cap, and
 * one load figure (doc/boss-protocol.md defines it):
 *
 *   load = max(tx rate / tx cap, sessions / frisbee.max-sessions,
 *              TCP connections / tcp.max-connections,
 *              FTP clients / FTP client limit)
 *
 * a fraction of the busiest resource: 0 idle, 1 saturated, comparable
 * across minibosses whatever their NIC.  It also lowers the state to
 * "down" when nothing can be served (link down, no image published).
 *
 * Control thread only; nothing here blocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_time.h"

#define RATE_MIN_WINDOW_NS (200ULL * MB_NS_PER_MS)

static struct {
	bool draining;
	uint64_t drain_since_ns;
	/* port tx rate from the tx_bytes counter between two health calls */
	uint64_t last_bytes, last_ns, rate_bps;
	uint64_t max_sessions, max_connections, port_rate, fris_rate;
} B;

bool
mb_ctl_draining(void)
{
	return B.draining;
}

static void
set_draining(bool on)
{
	if (on == B.draining)
		return;
	B.draining = on;
	B.drain_since_ns = on ? mb_time_mono_ns() : 0;
	mb_ctl_dp()->tcp_refuse_new(on);
	if (mb_ctl_quit_requested())
		return; /* the floor stays "down" */
	if (on)
		mb_ctl_health_set_floor_why(MB_HEALTH_DRAINING,
					    "draining: new sessions and connections refused");
	else
		mb_ctl_health_set_floor(MB_HEALTH_OK);
	MB_LOG(NOTICE, CTL, "%s", on ? "draining: refusing new sessions and connections"
				     : "undrained: accepting new sessions and connections");
}

static json_t *
action_drain(json_t *args, char **ret_err)
{
	(void)args;
	(void)ret_err;
	set_draining(true);
	return json_pack("{s:b}", "draining", 1);
}

static json_t *
action_undrain(json_t *args, char **ret_err)
{
	(void)args;
	if (mb_ctl_quit_requested()) {
		*ret_err = strdup("shutting down");
		return NULL;
	}
	set_draining(false);
	return json_pack("{s:b}", "draining", 0);
}

/* The published images, sorted by name (the table's order).  Inside a read
 * side: the control thread is an RCU reader between loop passes. */
static json_t *
images_json(unsigned *ret_n)
{
	struct mb_image_table *tbl;
	json_t *arr = json_array();
	char hex[2 * MB_SHA256_LEN + 1];

	*ret_n = 0;
	if (arr == NULL)
		return NULL;
	rcu_read_lock();
	tbl = rcu_dereference(mb_image_table_current);
	for (uint32_t i = 0; tbl != NULL && i < tbl->count; i++) {
		const struct mb_image *im = tbl->img[i];

		mb_sha256_to_hex(im->sha256, hex);
		json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:s,s:I,s:b,s:i}", "name",
						     im->name, "version", (json_int_t)im->version,
						     "size", (json_int_t)im->size, "sha256", hex,
						     "mtime", (json_int_t)im->mtime, "warm",
						     im->mem == MB_IMAGE_MEM_HUGEPAGE, "users",
						     (int)atomic_load(&im->active_users)));
		(*ret_n)++;
	}
	rcu_read_unlock();
	return arr;
}

/* Frisbee sessions from the dataplane, with the client that asked the
 * master server for each (unicast), how much of the image the session has
 * sent ("sent-fraction": blocks sent / blocks in the image, re-sends
 * included, capped at 1) and its nodes ("nodes": each one's progress, from
 * its PROGRESS reports or inferred from its requests; see ctl_dpstats.h). */
static json_t *
sessions_json(unsigned *ret_n)
{
	char *err = NULL;
	json_t *all = mb_ctl_action_run("sessions", NULL, &err);
	json_t *dps = json_object_get(all, "dataplane");
	json_t *ms = json_object_get(json_object_get(all, "master"), "sessions");
	json_t *out = json_array(), *s;
	size_t i;

	free(err);
	*ret_n = 0;
	json_array_foreach(dps, i, s)
	{
		json_int_t id = json_integer_value(json_object_get(s, "id"));
		json_int_t size = json_integer_value(json_object_get(s, "size"));
		json_int_t blocks = json_integer_value(json_object_get(s, "blocks"));
		double frac = size > 0 ? (double)blocks * 1024.0 / (double)size : 0.0;
		json_t *clients = json_array(), *m;
		size_t k;

		if (frac > 1.0)
			frac = 1.0;
		json_array_foreach(ms, k, m)
		{
			if (json_integer_value(json_object_get(m, "id")) == id &&
			    strcmp(json_string_value(json_object_get(m, "method")) ?: "", "ucast") ==
				    0)
				json_array_append(clients, json_object_get(m, "client"));
		}
		json_array_append_new(
		    out, json_pack("{s:I,s:O,s:O,s:O,s:O,s:O,s:O,s:I,s:I,s:f,s:o}", "id", id,
				   "image", json_object_get(s, "image"), "version",
				   json_object_get(s, "version"), "method", json_object_get(s, "method"),
				   "addr", json_object_get(s, "addr"), "state",
				   json_object_get(s, "state"), "rate-bps",
				   json_object_get(s, "rate-bps"), "joins",
				   json_integer_value(json_object_get(s, "joins")) +
				       json_integer_value(json_object_get(s, "joins2")),
				   "leaves", json_integer_value(json_object_get(s, "leaves")),
				   "sent-fraction", frac, "clients", clients));
		json_object_set(json_array_get(out, json_array_size(out) - 1), "nodes",
				json_object_get(s, "nodes"));
		if (strcmp(json_string_value(json_object_get(s, "state")) ?: "", "ended") != 0)
			(*ret_n)++;
	}
	json_decref(all);
	return out;
}

/* Transmit rate of the port from its byte counter, over at least
 * RATE_MIN_WINDOW_NS (faster callers see the previous figure). */
static uint64_t
tx_rate(json_t *stats)
{
	uint64_t bytes = (uint64_t)json_integer_value(
	    json_object_get(json_object_get(stats, "counters"), "tx_bytes"));
	uint64_t now = mb_time_mono_ns();

	if (B.last_ns == 0 || bytes < B.last_bytes) {
		B.last_ns = now;
		B.last_bytes = bytes;
		return B.rate_bps;
	}
	if (now - B.last_ns >= RATE_MIN_WINDOW_NS) {
		B.rate_bps = (uint64_t)((double)(bytes - B.last_bytes) * 8.0 * 1e9 /
					(double)(now - B.last_ns));
		B.last_ns = now;
		B.last_bytes = bytes;
	}
	return B.rate_bps;
}

static double
frac(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

static json_t *
health_boss(enum mb_health_state *worst, void *arg)
{
	const struct mb_ctl_dp_ops *dp = mb_ctl_dp();
	json_t *stats = dp->stats_json(), *ftp = mb_ctl_ftp_json();
	json_t *images, *sessions, *r;
	unsigned nimg, nsess;
	bool up = dp->link_up();
	uint64_t speed = dp->link_speed_bps(), cap, rate;
	json_int_t conns = json_integer_value(
	    json_object_get(json_object_get(stats, "tcp"), "tcp_conns"));
	json_int_t ftpc = json_integer_value(json_object_get(ftp, "clients"));
	json_int_t ftpmax = json_integer_value(json_object_get(ftp, "max-clients"));
	double load, l;

	(void)arg;
	images = images_json(&nimg);
	sessions = sessions_json(&nsess);
	rate = tx_rate(stats);
	cap = B.port_rate != 0 ? B.port_rate : speed;
	if (speed != 0 && cap > speed)
		cap = speed;
	load = frac((double)rate, (double)cap);
	l = frac(nsess, (double)B.max_sessions);
	load = l > load ? l : load;
	l = frac((double)conns, (double)B.max_connections);
	load = l > load ? l : load;
	l = frac((double)ftpc, (double)ftpmax);
	load = l > load ? l : load;

	if (!up) {
		mb_ctl_health_reason(MB_HEALTH_DOWN, "link down");
		*worst = MB_HEALTH_DOWN;
	}
	if (nimg == 0) {
		mb_ctl_health_reason(MB_HEALTH_DOWN, "no image published");
		*worst = MB_HEALTH_DOWN;
	}
	r = json_pack("{s:b,s:I,s:{s:b,s:I},s:o,s:o,s:{s:I,s:o},s:{s:I,s:I,s:I},s:f}",
		      "draining", B.draining, "draining-for-s",
		      (json_int_t)(B.draining ? (mb_time_mono_ns() - B.drain_since_ns) /
						    MB_NS_PER_SEC : 0),
		      "link", "up", up, "speed-bps", (json_int_t)speed, "images", images,
		      "sessions", sessions, "connections", "tcp", conns, "ftp", ftp, "tx",
		      "rate-bps", (json_int_t)rate, "cap-bps", (json_int_t)cap,
		      "session-cap-bps", (json_int_t)B.fris_rate, "load", load);
	/* who keeps the snooping switches' memberships alive (our querier or
	 * another one); each session's nodes are in "sessions" */
	if (r != NULL)
		json_object_set(r, "igmp-querier", json_object_get(stats, "igmp-querier"));
	json_decref(stats);
	return r;
}

static const struct mb_ctl_action boss_actions[] = {
    {"drain", action_drain,
     "refuse new Frisbee sessions, FTP logins and HTTP connections; finish those running"},
    {"undrain", action_undrain, "accept new sessions and connections again"},
};

/* The limits the load figure divides by (frisbee.port-rate and rate are
 * reloadable; the others need a restart but are read the same way). */
static int
boss_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	B.max_sessions = cfg->max_sessions;
	B.max_connections = cfg->max_connections;
	B.port_rate = cfg->port_rate;
	B.fris_rate = cfg->fris_rate;
	return 0;
}

static int
boss_start(const struct mb_config *cfg)
{
	return boss_reconfig(cfg, NULL, 0);
}

static void
boss_stop(void)
{
	if (B.draining)
		mb_ctl_dp()->tcp_refuse_new(false);
	memset(&B, 0, sizeof(B));
}

const struct mb_ctl_subsys mb_ctl_subsys_boss = {
	.name = "boss",
	.title = "drain and the boss health section",
	.start = boss_start,
	.reconfig = boss_reconfig,
	.stop = boss_stop,
	.actions = boss_actions,
	.n_actions = MB_ARRAY_SIZE(boss_actions),
	.health_key = "boss",
	.health = health_boss,
	.required = true,
};
