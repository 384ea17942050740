/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane as the control thread sees it (ctl_dp.h): the installed
 * ops (the real dataplane in the daemon, a fake in tests, the null one
 * otherwise), and the "dataplane" subsystem: the event descriptor on the
 * loop with the dispatch of each event to the handlers subsystems
 * registered (mb_ctl_event_register), the dataplane's reloadable keys
 * (mb_dp_reconfig through the ops), the "stats" action and the "dataplane"
 * health section.
 *
 * Control thread only; DPDK-free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_priv.h"
#include "mb_cleanup.h"
#include "mb_log.h"

#define MAX_EVENT_HANDLERS 8
#define EVENT_BURST 32

/* ---- the null dataplane ------------------------------------------------- */

static int
null_event_fd(void)
{
	return -1;
}

static unsigned
null_events_poll(struct mb_dp_event *ev, unsigned n)
{
	(void)ev;
	(void)n;
	return 0;
}

static void
null_reconfig(const struct mb_config *cfg)
{
	(void)cfg;
}

static void
null_void(void)
{
}

static bool
null_link_up(void)
{
	return false;
}

static uint64_t
null_speed(void)
{
	return 0;
}

static uint32_t
null_addr(void)
{
	return 0;
}

static json_t *
null_json(void)
{
	return NULL;
}

static int
null_session_start(const struct mb_fris_session_params *p, uint32_t *ret_id)
{
	(void)p; /* on error the caller keeps its reference (dp.h) */
	(void)ret_id;
	return -ENODEV;
}

static int
null_session_stop(uint32_t id)
{
	(void)id;
	return -ENOENT;
}

static int
null_expect(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off, uint64_t len,
	    uint64_t cookie)
{
	(void)port;
	(void)peer;
	(void)off;
	(void)len;
	(void)cookie;
	(void)sb; /* on error the caller keeps its reference (dp.h) */
	return -ENODEV;
}

static int
null_abort_image(struct mb_image *img)
{
	(void)img;
	return 0;
}

static void
null_refuse_new(bool on)
{
	(void)on;
}

static const struct mb_ctl_dp_ops null_dp = {
	.event_fd = null_event_fd,
	.events_poll = null_events_poll,
	.reconfig = null_reconfig,
	.stop = null_void,
	.link_up = null_link_up,
	.link_speed_bps = null_speed,
	.local_addr = null_addr,
	.stats_json = null_json,
	.sessions_json = null_json,
	.fris_session_start = null_session_start,
	.fris_session_stop = null_session_stop,
	.tcp_expect = null_expect,
	.tcp_abort_image = null_abort_image,
	.tcp_refuse_new = null_refuse_new,
};

static const struct mb_ctl_dp_ops *dp_ops = &null_dp;

void
mb_ctl_dp_set(const struct mb_ctl_dp_ops *ops)
{
	dp_ops = ops != NULL ? ops : &null_dp;
}

const struct mb_ctl_dp_ops *
mb_ctl_dp(void)
{
	return dp_ops;
}

/* ---- events ------------------------------------------------------------------ */

struct ev_handler {
	mb_ctl_event_fn fn;
	void *arg;
};

static struct ev_handler ev_handlers[MB_DP_EV_FTP_XFER_END + 1][MAX_EVENT_HANDLERS];
static int ev_fd = -1; /* the dataplane's, on our loop while started */

int
mb_ctl_event_register(int type, mb_ctl_event_fn fn, void *arg)
{
	if (type < 1 || type > MB_DP_EV_FTP_XFER_END || fn == NULL)
		return -EINVAL;
	for (int i = 0; i < MAX_EVENT_HANDLERS; i++) {
		if (ev_handlers[type][i].fn == fn && ev_handlers[type][i].arg == arg)
			return 0;
		if (ev_handlers[type][i].fn == NULL) {
			ev_handlers[type][i] = (struct ev_handler){ fn, arg };
			return 0;
		}
	}
	return -ENOSPC;
}

void
mb_ctl_events_clear(void)
{
	memset(ev_handlers, 0, sizeof(ev_handlers));
}

static void
event_io(int fd, uint32_t events, void *arg)
{
	struct mb_dp_event ev[EVENT_BURST];
	unsigned n;
	uint64_t v;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	while ((n = dp_ops->events_poll(ev, EVENT_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			const struct ev_handler *hs;

			if (ev[i].type < 1 || ev[i].type > MB_DP_EV_FTP_XFER_END)
				continue;
			hs = ev_handlers[ev[i].type];
			for (int h = 0; h < MAX_EVENT_HANDLERS && hs[h].fn != NULL; h++)
				hs[h].fn(&ev[i], hs[h].arg);
		}
		if (n < EVENT_BURST)
			break;
	}
}

/* ---- the subsystem ---------------------------------------------------------- */

static int
dataplane_start(const struct mb_config *cfg)
{
	int fd = dp_ops->event_fd(), rc;

	(void)cfg;
	if (fd < 0)
		return 0;
	rc = mb_ctl_loop_add(fd, EPOLLIN, event_io, NULL);
	if (rc != 0) {
		MB_LOG(ERR, CTL, "dataplane event fd: %s", strerror(-rc));
		return rc;
	}
	ev_fd = fd;
	return 0;
}

static int
dataplane_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	dp_ops->reconfig(cfg);
	return 0;
}

static void
dataplane_stop(void)
{
	if (ev_fd >= 0)
		(void)mb_ctl_loop_del(ev_fd);
	ev_fd = -1;
}

static json_t *
action_stats(json_t *args, char **ret_err)
{
	json_t *r;

	(void)args;
	r = dp_ops->stats_json();
	if (r == NULL)
		*ret_err = strdup("dataplane statistics unavailable");
	return r;
}

static json_t *
health_dataplane(enum mb_health_state *worst, void *arg)
{
	const struct mb_config *cfg = mb_ctl_config();
	bool up = dp_ops->link_up();
	json_t *st = dp_ops->stats_json(), *r;
	char addr[INET_ADDRSTRLEN + 4] = "";
	uint32_t a = dp_ops->local_addr();

	(void)arg;
	if (!up && *worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	if (a != 0 && inet_ntop(AF_INET, &a, addr, INET_ADDRSTRLEN) != NULL)
		snprintf(addr + strlen(addr), sizeof(addr) - strlen(addr), "/%u",
			 (unsigned)cfg->prefixlen);
	/* Where we serve, and the active Frisbee sessions and their aggregate
	 * measured send rate; TCP connections of HTTP and FTP. */
	r = json_pack("{s:b,s:I,s:I,s:I,s:s,s:I,s:s,s:I}", "link", up, "speed-bps",
		      (json_int_t)dp_ops->link_speed_bps(), "sessions",
		      json_integer_value(json_object_get(st, "sessions")), "rate-bps",
		      json_integer_value(json_object_get(st, "rate-bps")), "address", addr, "port",
		      json_integer_value(json_object_get(st, "port")), "exception-tap",
		      cfg->exception_tap, "tcp-connections",
		      json_integer_value(json_object_get(json_object_get(st, "tcp"), "tcp_conns")));
	json_decref(st);
	return r;
}

static const struct mb_ctl_action dataplane_actions[] = {
	{ "stats", action_stats, "dataplane port and engine counters" },
};

const struct mb_ctl_subsys mb_ctl_subsys_dataplane = {
	.name = "dataplane",
	.title = "the dataplane's event channel",
	.start = dataplane_start,
	.reconfig = dataplane_reconfig,
	.stop = dataplane_stop,
	.actions = dataplane_actions,
	.n_actions = MB_ARRAY_SIZE(dataplane_actions),
	.health_key = "dataplane",
	.health = health_dataplane,
	.required = true,
};
