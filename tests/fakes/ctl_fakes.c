/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control library's fakes (ctl_fakes.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_fakes.h"

/* ---- sessions ------------------------------------------------------------------ */

struct mbt_sessions mbt_sess = { .next_id = 1 };

void
mbt_sess_reset(uint32_t first_id)
{
	memset(&mbt_sess, 0, sizeof(mbt_sess));
	mbt_sess.next_id = first_id;
}

int
mbt_sess_start(const struct mb_fris_session_params *p, uint32_t *ret_id)
{
	if (p->img == NULL)
		abort(); /* a session without its image: the caller's bug */
	if (mbt_sess.start_rc != 0)
		return mbt_sess.start_rc; /* the caller keeps its reference */
	mbt_sess.last = *p;
	mbt_sess.last.img = NULL;
	mbt_sess.starts++;
	*ret_id = mbt_sess.next_id++;
	if (mbt_sess.nlive < sizeof(mbt_sess.live) / sizeof(mbt_sess.live[0]))
		mbt_sess.live[mbt_sess.nlive++] = *ret_id;
	mb_image_unref(p->img); /* a fake dataplane drops its reference at once */
	return 0;
}

int
mbt_sess_stop(uint32_t id)
{
	mbt_sess.stopped_id = id;
	mbt_sess.stops++;
	return 0;
}

/* ---- the master server's ops ------------------------------------------------------ */

struct mb_image *mbt_images[MBT_IMAGES];
const char *mbt_pending_name;

static struct mb_image *
master_lookup(const char *name, size_t len, void *arg)
{
	(void)arg;
	for (int i = 0; i < MBT_IMAGES; i++)
		if (mbt_images[i] != NULL && strlen(mbt_images[i]->name) == len &&
		    memcmp(mbt_images[i]->name, name, len) == 0)
			return mbt_images[i];
	return NULL;
}

static bool
master_pending(const char *name, uint64_t *ret_size, int64_t *ret_mtime, void *arg)
{
	(void)arg;
	if (mbt_pending_name == NULL || strcmp(name, mbt_pending_name) != 0)
		return false;
	*ret_size = 4096;
	*ret_mtime = 1234;
	return true;
}

static int
master_start(const struct mb_fris_session_params *p, uint32_t *ret_id, void *arg)
{
	(void)arg;
	return mbt_sess_start(p, ret_id);
}

const struct mb_master_ops mbt_master_ops = {
	.lookup = master_lookup,
	.pending = master_pending,
	.session_start = master_start,
};

/* ---- the dataplane ------------------------------------------------------------------ */

struct mbt_dp mbt_dp = { .local_addr = 0, .link_up = true };

static struct {
	int efd;
	struct mb_dp_event q[64];
	unsigned head, n;
} evq = { .efd = -1 };

static int
dp_event_fd(void)
{
	if (evq.efd < 0)
		evq.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return evq.efd;
}

int
mbt_dp_post(const struct mb_dp_event *ev)
{
	uint64_t one = 1;

	if (evq.n == sizeof(evq.q) / sizeof(evq.q[0]))
		return -ENOSPC;
	evq.q[(evq.head + evq.n++) % 64] = *ev;
	(void)!write(dp_event_fd(), &one, sizeof(one));
	return 0;
}

static unsigned
dp_events_poll(struct mb_dp_event *ev, unsigned n)
{
	unsigned k = 0;

	while (k < n && evq.n > 0) {
		ev[k++] = evq.q[evq.head];
		evq.head = (evq.head + 1) % 64;
		evq.n--;
	}
	return k;
}

static void
dp_reconfig(const struct mb_config *cfg)
{
	mbt_dp.reconfigs++;
	mbt_dp.idle_sleep_us = cfg->idle_sleep_us;
}

static void
dp_stop(void)
{
}

static bool
dp_link_up(void)
{
	return mbt_dp.link_up;
}

static uint64_t
dp_speed(void)
{
	return mbt_dp.link_up ? 10000000000ull : 0;
}

static uint32_t
dp_local_addr(void)
{
	return mbt_dp.local_addr;
}

static json_t *
dp_stats_json(void)
{
	return json_pack("{s:i,s:i,s:i,s:{s:i},s:{s:i}}", "port", 0, "sessions", 0, "rate-bps", 0,
			 "counters", "tx_bytes", 0, "tcp", "tcp_conns", 0);
}

static json_t *
dp_sessions_json(void)
{
	return json_array();
}

static int
dp_expect(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off, uint64_t len,
	  uint64_t cookie)
{
	if (mbt_dp.expect != NULL)
		return mbt_dp.expect(port, peer, sb, off, len, cookie);
	mb_sbuf_unref(sb);
	return 0;
}

static int
dp_abort_image(struct mb_image *img)
{
	mbt_dp.aborts++;
	memcpy(mbt_dp.aborted, img->name, sizeof(mbt_dp.aborted));
	return 0;
}

static void
dp_refuse_new(bool on)
{
	mbt_dp.refuse_new = on;
}

const struct mb_ctl_dp_ops mbt_dp_ops = {
	.event_fd = dp_event_fd,
	.events_poll = dp_events_poll,
	.reconfig = dp_reconfig,
	.stop = dp_stop,
	.link_up = dp_link_up,
	.link_speed_bps = dp_speed,
	.local_addr = dp_local_addr,
	.stats_json = dp_stats_json,
	.sessions_json = dp_sessions_json,
	.fris_session_start = mbt_sess_start,
	.fris_session_stop = mbt_sess_stop,
	.tcp_expect = dp_expect,
	.tcp_abort_image = dp_abort_image,
	.tcp_refuse_new = dp_refuse_new,
};
