/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The channel between the control thread and the dataplane: one typed,
 * bounded rte_ring in each direction, messages copied into the ring by
 * value (no allocation), each message and the references it carries owned
 * by the receiver.
 *
 *   control -> lcore   one ring per worker; struct dp_cmd: START and STOP
 *                      of a Frisbee session (the slot index: the control
 *                      thread filled the slot before posting), an FTP expectation (passive port,
 *                      peer, buffer reference, range, 64-bit cookie), the
 *                      withdrawal of an image (a reference, so its address
 *                      cannot be reused before the lcore saw it).  A
 *                      session's commands go to the worker that owns it
 *                      (the one with the fewest sessions when it starts),
 *                      an FTP expectation to worker 0 (which owns the
 *                      passive ports), a withdrawal to every worker (each
 *                      message with its own reference).  A full
 *                      ring is -EAGAIN for the caller, who keeps what it
 *                      would have sent.
 *   lcore -> control   struct mb_dp_event: SESSION_END, FTP_XFER_END, LINK;
 *                      one ring every worker posts to.
 *                      An eventfd wakes the control loop.
 *
 * Events that free resources are never lost.  When the event ring is full
 * the lcore keeps the event as state and posts it on a later pass: an ended
 * session's slot stays ENDED with end_posted unset; a passive port keeps the
 * end of its newest transfer (an older one it overwrites was of no interest
 * any more: the control side only hands a port on after letting go of the
 * transfer before); a link change keeps a flag (the state is read anyway).
 * The control thread reaps an ended slot (work queue, image reference) when
 * it reads its SESSION_END, so no slot is lost either.
 *
 * Settings the control thread changes at reload travel as atomics (struct
 * mb_dp_tunables), not messages: a reload cannot fail for a full ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dp_priv.h"
#include "mb_log.h"
#include "mb_time.h"

#define DP_CMD_RING 256
#define DP_EV_RING 256
#define DP_CMD_BURST 16

enum dp_cmd_type {
	DP_CMD_SESS_START = 1,
	DP_CMD_SESS_STOP,
	DP_CMD_TCP_EXPECT,
	DP_CMD_TCP_WITHDRAW,
};

struct dp_cmd {
	uint32_t type; /* enum dp_cmd_type */
	uint32_t pad;
	union {
		struct {
			uint32_t slot;
		} sess;
		struct {
			struct mb_sbuf *sb; /* a reference, or NULL (PASV) */
			uint64_t off, len, cookie;
			uint32_t peer;
			uint16_t port;
		} expect;
		struct {
			struct mb_image *img; /* a reference */
		} withdraw;
	} u;
};

_Static_assert(sizeof(struct dp_cmd) % 4 == 0, "rte_ring elements are 4-byte multiples");
_Static_assert(sizeof(struct mb_dp_event) % 4 == 0, "rte_ring elements are 4-byte multiples");

int
dp_chan_init(struct mb_dp_chan *ch, const struct mb_config *cfg)
{
	unsigned nw = cfg->workers == 0 ? 1 : cfg->workers > DP_LCORES_MAX ? DP_LCORES_MAX :
								    (unsigned)cfg->workers;

	for (unsigned w = 0; w < nw; w++) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "mb_dp_cmd%u", w);
		ch->cmd[w] = rte_ring_create_elem(name, sizeof(struct dp_cmd), DP_CMD_RING,
						  SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (ch->cmd[w] == NULL)
			return -ENOMEM;
	}
	ch->ev = rte_ring_create_elem("mb_dp_ev", sizeof(struct mb_dp_event), DP_EV_RING,
				      SOCKET_ID_ANY, nw > 1 ? RING_F_SC_DEQ :
							      RING_F_SP_ENQ | RING_F_SC_DEQ);
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ch->npasv = 0;
	ch->xfer = NULL;
	if (cfg->tcp_enable) {
		ch->pasv_min = (uint16_t)cfg->ftp_pasv_min;
		ch->npasv = (uint16_t)(cfg->ftp_pasv_max - cfg->ftp_pasv_min + 1);
		ch->xfer = rte_zmalloc("mb_dp_xfer", sizeof(*ch->xfer) * ch->npasv, 0);
	}
	if (ch->ev == NULL || ch->efd < 0 ||
	    (cfg->tcp_enable && ch->xfer == NULL))
		return -ENOMEM;
	return 0;
}

/* Drop what is left in the command ring (its references) and free. */
void
dp_chan_fini(struct mb_dp *dp)
{
	struct mb_dp_chan *ch = &dp->chan;
	struct dp_cmd c;

	for (unsigned w = 0; w < DP_LCORES_MAX; w++) {
		while (ch->cmd[w] != NULL &&
		       rte_ring_dequeue_elem(ch->cmd[w], &c, sizeof(c)) == 0) {
			if (c.type == DP_CMD_TCP_EXPECT)
				mb_sbuf_unref(c.u.expect.sb);
			else if (c.type == DP_CMD_TCP_WITHDRAW)
				mb_image_unref(c.u.withdraw.img);
		}
		rte_ring_free(ch->cmd[w]);
		ch->cmd[w] = NULL;
	}
	rte_ring_free(ch->ev);
	ch->ev = NULL;
	rte_free(ch->xfer);
	ch->xfer = NULL;
	ch->npasv = 0;
	if (ch->efd >= 0)
		close(ch->efd);
	ch->efd = -1;
}

/* ---- lcore side ----------------------------------------------------------------- */

static void
wake_control(struct mb_dp_chan *ch)
{
	uint64_t one = 1;

	if (ch->efd >= 0)
		(void)!write(ch->efd, &one, sizeof(one));
}

static bool
post(struct mb_dp_lcore *lc, struct mb_dp_event *ev)
{
	struct mb_dp_chan *ch = &lc->dp->chan;

	if (rte_ring_enqueue_elem(ch->ev, ev, sizeof(*ev)) != 0) {
		dp_count(lc, MB_DP_C_ev_deferred, 1);
		return false;
	}
	wake_control(ch);
	return true;
}

void
dp_chan_post_session_end(struct mb_dp_lcore *lc, struct mb_dp_sess *s)
{
	struct mb_dp_fris *f = &lc->dp->fris;
	struct mb_dp_event ev = { .type = MB_DP_EV_SESSION_END };

	ev.u.session.id = s->id;
	ev.u.session.slot = (uint32_t)(s - f->sess);
	s->end_posted = post(lc, &ev);
	if (!s->end_posted)
		lc->ends_pending = true;
}

void
dp_chan_post_link(struct mb_dp_lcore *lc)
{
	struct mb_dp_event ev = { .type = MB_DP_EV_LINK };

	ev.u.link.up = atomic_load(&lc->port->link_up);
	lc->dp->chan.link_pending = !post(lc, &ev);
}

/* The TCP glue reports the end of an FTP transfer only while its cookie is
 * the port's newest expectation (dp_tcp.h), so the pending slot of the port
 * keeps what the control thread waits for. */
void
dp_chan_xfer_done(void *arg, uint16_t port, uint64_t cookie, bool ok)
{
	struct mb_dp_lcore *lc = arg;
	struct mb_dp_chan *ch = &lc->dp->chan;
	struct mb_dp_event ev = { .type = MB_DP_EV_FTP_XFER_END };

	MB_LOG(DEBUG, DP, "FTP data transfer %" PRIu64 " %s", cookie, ok ? "done" : "failed");
	if (ch->xfer == NULL || port < ch->pasv_min || port - ch->pasv_min >= ch->npasv)
		return;
	ev.u.xfer.cookie = cookie;
	ev.u.xfer.ok = ok;
	if (post(lc, &ev)) {
		ch->xfer[port - ch->pasv_min].valid = false; /* an older pending end is moot */
		return;
	}
	ch->xfer[port - ch->pasv_min] = (struct dp_xfer_pend){ cookie, true, ok };
	ch->xfer_pending = true;
}

void
dp_chan_flush(struct mb_dp_lcore *lc)
{
	struct mb_dp *dp = lc->dp;
	struct mb_dp_chan *ch = &dp->chan;

	if (lc->ends_pending) {
		lc->ends_pending = false;
		for (uint32_t i = 0; i < dp->fris.max; i++) {
			struct mb_dp_sess *s = &dp->fris.sess[i];

			if (atomic_load_explicit(&s->state, memory_order_acquire) ==
				    MB_DP_SESS_ENDED &&
			    s->owner == lc->queue && !s->end_posted)
				dp_chan_post_session_end(lc, s);
			if (lc->ends_pending)
				break; /* the ring is full again: next pass */
		}
	}
	if (lc->queue != 0)
		return; /* transfer ends and link changes are worker 0's */
	if (ch->xfer_pending) {
		ch->xfer_pending = false;
		for (uint16_t p = 0; p < ch->npasv; p++) {
			struct dp_xfer_pend *x = &ch->xfer[p];
			struct mb_dp_event ev = { .type = MB_DP_EV_FTP_XFER_END };

			if (!x->valid)
				continue;
			ev.u.xfer.cookie = x->cookie;
			ev.u.xfer.ok = x->ok;
			if (!post(lc, &ev)) {
				ch->xfer_pending = true;
				break;
			}
			x->valid = false;
		}
	}
	if (ch->link_pending)
		dp_chan_post_link(lc);
}

static void
cmd_apply(struct mb_dp_lcore *lc, struct dp_cmd *c, uint64_t now)
{
	struct mb_dp *dp = lc->dp;
	struct mb_dp_sess *s;

	switch (c->type) {
	case DP_CMD_SESS_START:
		s = &dp->fris.sess[c->u.sess.slot];
		dp_fris_activate(lc, s, now);
		dp_count(lc, MB_DP_C_sessions_started, 1);
		break;
	case DP_CMD_SESS_STOP:
		s = &dp->fris.sess[c->u.sess.slot];
		if (atomic_load_explicit(&s->state, memory_order_acquire) == MB_DP_SESS_ACTIVE)
			s->stop_req = true;
		break;
	case DP_CMD_TCP_EXPECT:
		if (lc->tcp == NULL) {
			mb_sbuf_unref(c->u.expect.sb);
			break;
		}
		mb_dp_tcp_expect_apply(lc->tcp, c->u.expect.port, c->u.expect.peer,
				       c->u.expect.sb, c->u.expect.off, c->u.expect.len,
				       c->u.expect.cookie, mb_time_mono_ns());
		break;
	case DP_CMD_TCP_WITHDRAW:
		if (lc->tcp != NULL)
			(void)mb_dp_tcp_abort_buf(lc->tcp, &c->u.withdraw.img->sb);
		mb_image_unref(c->u.withdraw.img);
		break;
	}
}

unsigned
dp_chan_commands(struct mb_dp_lcore *lc, uint64_t now)
{
	struct dp_cmd cmds[DP_CMD_BURST];
	unsigned n, i;

	n = rte_ring_dequeue_burst_elem(lc->dp->chan.cmd[lc->queue], cmds, sizeof(cmds[0]),
					DP_CMD_BURST, NULL);
	for (i = 0; i < n; i++)
		cmd_apply(lc, &cmds[i], now);
	return n;
}

/* ---- control side ---------------------------------------------------------------- */

/* To worker w's ring. */
static int
cmd_post(struct mb_dp *dp, unsigned w, struct dp_cmd *c)
{
	return rte_ring_enqueue_elem(dp->chan.cmd[w], c, sizeof(*c)) == 0 ? 0 : -EAGAIN;
}

/* The worker for a new session: the one that runs the fewest (slots not
 * free), the lowest index on a tie. */
static uint16_t
sess_owner_pick(const struct mb_dp *dp)
{
	unsigned cnt[DP_LCORES_MAX] = { 0 }, best = 0;

	for (uint32_t i = 0; i < dp->fris.max; i++) {
		const struct mb_dp_sess *t = &dp->fris.sess[i];

		if (atomic_load_explicit(&t->state, memory_order_acquire) != MB_DP_SESS_FREE &&
		    t->owner < dp->nlc)
			cnt[t->owner]++;
	}
	for (unsigned w = 1; w < dp->nlc; w++)
		if (cnt[w] < cnt[best])
			best = w;
	return (uint16_t)best;
}

int
mb_dp_fris_session_start(const struct mb_fris_session_params *p, uint32_t *ret_id)
{
	struct mb_dp *dp = dp_instance();
	struct mb_dp_sess *s = NULL;
	struct dp_cmd c = { .type = DP_CMD_SESS_START };
	uint32_t i;
	int rc;

	if (!dp->initialised)
		return -ENODEV;
	if (p->img == NULL || p->img->sb.data == NULL || p->img->size == 0 || p->port == 0)
		return -EINVAL;
	for (i = 0; i < dp->fris.max; i++) {
		struct mb_dp_sess *t = &dp->fris.sess[i];
		int st = atomic_load_explicit(&t->state, memory_order_acquire);

		if (st == MB_DP_SESS_FREE) {
			if (s == NULL)
				s = t;
		} else if (st != MB_DP_SESS_ENDED && t->addr == p->addr && t->port == p->port) {
			return -EBUSY;
		}
	}
	if (s == NULL)
		return -ENOSPC;
	rc = dp_fris_slot_prepare(dp, s, p); /* s->img = p->img, not yet ours */
	if (rc != 0)
		return rc;
	s->owner = sess_owner_pick(dp);
	s->id = dp->fris.next_id++;
	if (dp->fris.next_id == 0)
		dp->fris.next_id = 1;
	atomic_store_explicit(&s->state, MB_DP_SESS_RESERVED, memory_order_release);
	c.u.sess.slot = (uint32_t)(s - dp->fris.sess);
	if (cmd_post(dp, s->owner, &c) != 0) {
		dp_fris_slot_unprepare(s); /* the caller keeps its reference */
		return -EAGAIN;
	}
	/* the reference is the dataplane's from here */
	atomic_fetch_add(&p->img->active_users, 1);
	/* Hugepage cache LRU (owner: cache): a session start counts as a use. */
	atomic_store_explicit(&p->img->last_served_ns, mb_time_mono_ns(), memory_order_relaxed);
	*ret_id = s->id;
	return 0;
}

int
mb_dp_fris_session_stop(uint32_t id)
{
	struct mb_dp *dp = dp_instance();
	struct dp_cmd c = { .type = DP_CMD_SESS_STOP };

	if (!dp->initialised)
		return -ENODEV;
	for (uint32_t i = 0; i < dp->fris.max; i++) {
		struct mb_dp_sess *s = &dp->fris.sess[i];
		int st = atomic_load_explicit(&s->state, memory_order_acquire);

		if (st == MB_DP_SESS_FREE || s->id != id)
			continue;
		if (st == MB_DP_SESS_ENDED)
			return -ENOENT;
		c.u.sess.slot = i;
		return cmd_post(dp, s->owner, &c);
	}
	return -ENOENT;
}

int
mb_dp_tcp_expect(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off, uint64_t len,
		 uint64_t cookie)
{
	struct mb_dp *dp = dp_instance();
	struct dp_cmd c = { .type = DP_CMD_TCP_EXPECT };

	if (!dp->initialised || dp->chan.npasv == 0)
		return -ENODEV;
	if (port < dp->chan.pasv_min || port - dp->chan.pasv_min >= dp->chan.npasv ||
	    (sb != NULL && (off > sb->len || len > sb->len - off)))
		return -EINVAL;
	c.u.expect.port = port;
	c.u.expect.peer = peer;
	c.u.expect.sb = sb;
	c.u.expect.off = off;
	c.u.expect.len = len;
	c.u.expect.cookie = cookie;
	return cmd_post(dp, 0, &c); /* -EAGAIN: the caller keeps its reference */
}

int
mb_dp_tcp_abort_image(struct mb_image *img)
{
	struct mb_dp *dp = dp_instance();
	struct dp_cmd c = { .type = DP_CMD_TCP_WITHDRAW };
	int rc;

	if (!dp->initialised)
		return -ENODEV;
	/* every worker's connections; a retry after -EAGAIN repeats it for
	 * the workers that had it already, which finds nothing more to abort */
	for (unsigned w = 0; w < dp->nlc; w++) {
		c.u.withdraw.img = mb_image_ref(img);
		rc = cmd_post(dp, w, &c);
		if (rc != 0) {
			mb_image_unref(img);
			return rc;
		}
	}
	return 0;
}

int
mb_dp_event_fd(void)
{
	return dp_instance()->chan.efd;
}

/* An ended slot: account its use for the cache, release it.  Control thread. */
static void
reap_slot(struct mb_dp_sess *s)
{
	if (s->img != NULL) {
		/* LRU and bytes for the cache, once per session. */
		atomic_fetch_add_explicit(&s->img->bytes_served,
					  s->ctr[MB_DP_S_blocks] * MB_FRIS_BLOCK_SIZE,
					  memory_order_relaxed);
		atomic_store_explicit(&s->img->last_served_ns, mb_time_mono_ns(),
				      memory_order_relaxed);
		atomic_fetch_sub(&s->img->active_users, 1);
	}
	dp_fris_slot_release(s);
}

unsigned
mb_dp_events_poll(struct mb_dp_event *ev, unsigned n)
{
	struct mb_dp *dp = dp_instance();
	unsigned k;
	uint64_t cnt;

	if (!dp->initialised)
		return 0;
	(void)!read(dp->chan.efd, &cnt, sizeof(cnt));
	k = rte_ring_dequeue_burst_elem(dp->chan.ev, ev, sizeof(*ev), n, NULL);
	for (unsigned i = 0; i < k; i++) {
		if (ev[i].type == MB_DP_EV_SESSION_END && ev[i].u.session.slot < dp->fris.max) {
			struct mb_dp_sess *s = &dp->fris.sess[ev[i].u.session.slot];

			if (atomic_load_explicit(&s->state, memory_order_acquire) ==
			    MB_DP_SESS_ENDED)
				reap_slot(s);
		}
	}
	if (rte_ring_count(dp->chan.ev) > 0) {
		cnt = 1;
		(void)!write(dp->chan.efd, &cnt, sizeof(cnt));
	}
	return k;
}
