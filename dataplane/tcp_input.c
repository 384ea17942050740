/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP core's input: a parsed segment is matched to its connection or
 * handled as a passive open (bounded SYN queue, SYN cookies past it), then
 * runs the state machine of RFC 9293 with RFC 5961's RST/SYN rules, PAWS
 * (RFC 7323), in-order receive into the application callback, FIN in every
 * state and a short TIME_WAIT.  Acknowledgements go to tcp_cc.c; replies
 * are sent by tcp_output.c once the segment is processed.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

/* Cookie MSS table: what common paths carry. */
static const uint16_t cookie_mss[8] = { 536, 1200, 1360, 1400, 1440, 1452, 1460, 8960 };

/* Initial sequence number (RFC 6528): a keyed hash of the four-tuple plus
 * a clock of 4 us ticks, so that a later incarnation of the same tuple
 * starts ahead of an earlier one rather than anywhere (a hash of the tuple
 * and the time gave an unordered value, and the same value twice at one
 * instant).  A reopening from TIME_WAIT also passes the old incarnation's
 * end as a floor (input_listen). */
static uint32_t
make_iss(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t)
{
	uint8_t k[12];

	memcpy(k, t, 12);
	return (uint32_t)mb_tcp_siphash(s->p.secret, k, sizeof(k)) + (uint32_t)(s->now / 4000);
}

static uint32_t
cookie_hash(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, uint32_t irs, uint32_t count,
	    unsigned mi)
{
	uint8_t k[21];

	memcpy(k, &t->laddr, 4);
	memcpy(k + 4, &t->raddr, 4);
	memcpy(k + 8, &t->lport, 2);
	memcpy(k + 10, &t->rport, 2);
	memcpy(k + 12, &irs, 4);
	memcpy(k + 16, &count, 4);
	k[20] = (uint8_t)(0xc0 | mi); /* the MSS index is authenticated too */
	return (uint32_t)mb_tcp_siphash(s->p.secret, k, sizeof(k)) & 0xffffff;
}

/* SYN-ACK without state: ISS = hash24 | count5 | mss3; window scale and
 * SACK-permitted ride in the low 5 bits of our timestamp when the peer uses
 * timestamps (otherwise the connection gets neither).  That timestamp is
 * never ahead of the clock the connection's segments will carry: the peer
 * keeps it as TS.Recent and drops (PAWS) every later segment stamped below
 * it, so a value above the clock costs the first flight of the reply and an
 * RTO.  With the bits in place it is one period of 32 ms back instead. */
static void
send_cookie(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g)
{
	struct mb_tcp_out o;
	uint32_t count = (uint32_t)(s->now / COOKIE_PERIOD_NS);
	uint16_t pmss = g->has_mss ? g->mss : 536;
	unsigned mi = 0;

	for (unsigned i = 0; i < 8; i++)
		if (cookie_mss[i] <= pmss)
			mi = i;
	memset(&o, 0, sizeof(o));
	o.t = *t;
	o.flags = MB_TCP_SYN | MB_TCP_ACK;
	o.seq = cookie_hash(s, t, g->seq, count, mi) << 8 | (count & 0x1f) << 3 | mi;
	o.ack = g->seq + 1;
	o.win = (uint16_t)min32(s->p.rcv_wnd, 65535);
	o.opt_mss = true;
	o.mss = s->p.mss;
	if (g->has_ts) {
		uint32_t ms = now_ms(s);

		o.opt_ts = true;
		o.tsval = (ms & ~0x1fu) | (g->has_ws ? g->wscale : 0xf) | (g->sack_ok ? 0x10 : 0);
		if ((int32_t)(o.tsval - ms) > 0)
			o.tsval -= 0x20;
		o.tsecr = g->tsval;
		o.opt_ws = g->has_ws;
		o.wscale = 0;
		o.opt_sackok = g->sack_ok;
	}
	if (tcp_emit(s, &o) == 0)
		s->cnt.syn_cookies_sent++;
}

/* Refill b at rate tokens a second (a tenth of a second's worth at most,
 * at least 16) and take one; false if it is empty. */
static bool
bucket_take(struct mb_tcp_stack *s, struct ck_bucket *b, uint64_t rate)
{
	uint64_t burst = rate / 10 > 16 ? rate / 10 : 16;
	uint64_t dt = s->now - b->refill_ns;

	if (b->refill_ns == 0 || s->now < b->refill_ns || dt >= 1000000000ULL) {
		/* first use, or a second without cookies: a full bucket */
		b->tokens = (uint32_t)burst;
		b->refill_ns = s->now;
	} else if (dt * rate >= 1000000000ULL) {
		uint64_t add = dt * rate / 1000000000ULL;

		b->tokens = (uint32_t)(b->tokens + add < burst ? b->tokens + add : burst);
		b->refill_ns += add * 1000000000ULL / rate;
	}
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}

/* May a cookie SYN-ACK go out now (params: syn_cookie_rate)?  Takes a
 * token when it may, counts the refusal when not: a flood is answered at a
 * bounded rate, whatever it costs to send a SYN-ACK.  The SYN's link
 * neighbour's bucket first (a quarter of the rate): forged addresses sent
 * from one neighbour empty only that, so the SYNs of the others still find
 * tokens in the shared one.  Neighbours whose link values share a bucket
 * share its tokens. */
static bool
cookie_budget(struct mb_tcp_stack *s, const struct mb_tcp_seg *g)
{
	uint64_t rate = s->p.syn_cookie_rate;

	if (rate == 0)
		return true;
	if (!bucket_take(s, &s->ck_link[g->link % MB_TCP_CK_LINKS], rate / 4 > 0 ? rate / 4 : 1)) {
		s->cnt.drop_syn_link++;
		return false;
	}
	if (!bucket_take(s, &s->ck_all, rate)) {
		s->cnt.drop_syn_rate++;
		return false;
	}
	return true;
}

static void
conn_setup(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint32_t irs, uint32_t iss,
	   uint16_t pmss, int ws, bool sack_ok, bool ts, uint32_t tsval)
{
	c->irs = irs;
	c->rcv_nxt = irs + 1;
	c->iss = iss;
	c->snd_wscale = ws >= 0 ? (uint8_t)ws : 0;
	c->rcv_wscale = 0;
	c->sack_ok = sack_ok;
	c->ts_ok = ts;
	c->ts_recent = tsval;
	/* The timestamp option takes 12 bytes of every segment.  Subtract it
	 * without wrapping (a peer may announce an MSS of 1), then floor at
	 * MB_TCP_MSS_MIN; mb_tcp_stack_new keeps our own MSS above floor +
	 * options, so the result never exceeds what our MTU carries. */
	{
		uint32_t opt = ts ? 12 : 0, m = min32(pmss, s->p.mss);

		m = m > opt ? m - opt : 0;
		c->mss = (uint16_t)max32(m, MB_TCP_MSS_MIN);
	}
	c->rcv_wnd = min32(s->p.rcv_wnd, 65535);
	c->cc_cubic = s->p.cc == MB_TCP_CC_CUBIC;
	cwnd_set(c, (uint64_t)s->p.initial_window * c->mss);
	c->ssthresh = UINT32_MAX;
	c->rto_us = s->p.rto_init_us;
	c->t_idle = s->now + s->p.idle_timeout_ns;
	c->snd_wl1 = irs;
	c->snd_wl2 = iss;
}

static bool
establish(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->state == MB_TCP_SYN_RCVD)
		s->nsynq--;
	c->state = MB_TCP_ESTABLISHED;
	c->t_rexmt = 0;
	c->nrexmt = 0;
	c->accepted = 1;
	s->cnt.conn_open++;
	if (c->cc_cubic)
		s->cnt.conn_cubic++;
	if (s->ops.accept != NULL && s->ops.accept(s->ctx, s, c) < 0) {
		c->accepted = 0;
		mb_tcp_abort(s, c);
		return false;
	}
	return c->state != MB_TCP_CLOSED;
}

/* A segment for no connection: SYN opens, an ACK may carry a cookie.
 * iss_floor, when not NULL, is the sequence number after everything an
 * earlier incarnation of t sent (a SYN that ended its TIME_WAIT): the new
 * ISS is not below it, so that none of the old segments still in the
 * network falls into the new connection's window (RFC 9293 3.6.1, RFC
 * 6191).  A cookie SYN-ACK (backlog full) cannot honour it; the new
 * incarnation then has only the timestamps' PAWS against old segments. */
static struct mb_tcp_conn *
input_listen(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g,
	     const uint32_t *iss_floor)
{
	struct mb_tcp_conn *c;
	uint32_t iss;

	if (g->flags & MB_TCP_RST) {
		s->cnt.drop_noconn++;
		return NULL;
	}
	if (s->ops.listening != NULL && !s->ops.listening(s->ctx, t)) {
		s->cnt.drop_noconn++;
		tcp_send_rst_for(s, t, g);
		return NULL;
	}
	if ((g->flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_SYN) {
		if (s->nfree == 0) {
			s->cnt.drop_full++;
			return NULL;
		}
		if (tcp_src_full(s, t->raddr)) {
			s->cnt.drop_src_limit++;
			tcp_send_rst_for(s, t, g);
			return NULL;
		}
		if (s->p.syn_cookies_always || s->nsynq >= s->p.syn_backlog) {
			if (cookie_budget(s, g))
				send_cookie(s, t, g);
			return NULL;
		}
		iss = make_iss(s, t);
		if (iss_floor != NULL && seq_lt(iss, *iss_floor))
			iss = *iss_floor;
		c = tcp_conn_alloc(s, t);
		if (c == NULL)
			return NULL;
		conn_setup(s, c, g->seq, iss, g->has_mss ? g->mss : 536,
			   g->has_ws ? g->wscale : -1, g->sack_ok, g->has_ts, g->tsval);
		c->state = MB_TCP_SYN_RCVD;
		c->snd_wnd = g->win; /* never scaled in a SYN */
		c->ws_ok = g->has_ws;
		s->nsynq++;
		s->cnt.syn_rcvd++;
		tcp_send_synack(s, c);
		tcp_arm_rexmt(s, c);
		tcp_timer_update(s, c);
		return NULL;
	}
	if ((g->flags & (MB_TCP_SYN | MB_TCP_ACK)) == MB_TCP_ACK) {
		uint32_t ck = g->ack - 1, irs = g->seq - 1;
		uint32_t count = (uint32_t)(s->now / COOKIE_PERIOD_NS);
		bool ok = false;
		int ws = -1;
		bool sack = false;

		for (uint32_t back = 0; back < 2 && !ok; back++) {
			uint32_t cn = count - back;

			ok = ((ck >> 3) & 0x1f) == (cn & 0x1f) &&
			     (ck >> 8) == cookie_hash(s, t, irs, cn, ck & 7);
		}
		if (!ok) {
			s->cnt.drop_cookie++;
			tcp_send_rst_for(s, t, g);
			return NULL;
		}
		if (g->has_ts) {
			unsigned w = g->tsecr & 0xf;

			ws = w == 0xf ? -1 : (int)w;
			sack = (g->tsecr & 0x10) != 0;
		}
		if (tcp_src_full(s, t->raddr)) {
			s->cnt.drop_src_limit++;
			tcp_send_rst_for(s, t, g);
			return NULL;
		}
		c = tcp_conn_alloc(s, t);
		if (c == NULL)
			return NULL;
		conn_setup(s, c, irs, ck, cookie_mss[ck & 7], ws, sack, g->has_ts, g->tsval);
		c->ws_ok = ws >= 0;
		c->snd_wnd = (uint32_t)g->win << c->snd_wscale;
		c->snd_wl1 = g->seq;
		c->snd_wl2 = g->ack;
		c->state = MB_TCP_SYN_RCVD; /* establish() moves it on */
		s->nsynq++;
		s->cnt.syn_cookies_ok++;
		if (!establish(s, c))
			return NULL;
		return c;
	}
	s->cnt.drop_noconn++;
	tcp_send_rst_for(s, t, g);
	return NULL;
}

static bool
seq_acceptable(const struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	uint32_t slen = g->plen + !!(g->flags & MB_TCP_SYN) + !!(g->flags & MB_TCP_FIN);
	uint32_t w = c->rcv_wnd;

	if (slen == 0) {
		if (w == 0)
			return g->seq == c->rcv_nxt;
		return seq_leq(c->rcv_nxt, g->seq) && seq_lt(g->seq, c->rcv_nxt + w);
	}
	if (w == 0)
		return false;
	return (seq_leq(c->rcv_nxt, g->seq) && seq_lt(g->seq, c->rcv_nxt + w)) ||
	       (seq_leq(c->rcv_nxt, g->seq + slen - 1) &&
		seq_lt(g->seq + slen - 1, c->rcv_nxt + w));
}

static void
to_time_wait(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	c->state = MB_TCP_TIME_WAIT;
	c->t_rexmt = 0;
	c->persist = 0;
	c->t_idle = 0;
	c->t_wait = s->now + s->p.timewait_ns;
	tcp_spans_release(c);
}

static void
input_conn(struct mb_tcp_stack *s, struct mb_tcp_conn *c, const struct mb_tcp_seg *g)
{
	uint32_t seq = g->seq, plen = g->plen;
	const uint8_t *data = g->payload;
	bool fin = g->flags & MB_TCP_FIN;

	if (c->state == MB_TCP_SYN_RCVD) {
		if (g->flags & MB_TCP_RST) {
			if (seq == c->rcv_nxt) {
				s->cnt.conn_reset_rx++;
				tcp_conn_free(s, c);
			} else {
				s->cnt.drop_seq++;
			}
			return;
		}
		if (g->flags & MB_TCP_SYN) {
			if (seq == c->irs)
				tcp_send_synack(s, c); /* our SYN-ACK was lost */
			else
				s->cnt.drop_seq++;
			return;
		}
		if (!(g->flags & MB_TCP_ACK) || g->ack != c->iss + 1) {
			s->cnt.drop_ack++;
			tcp_send_rst_for(s, &c->t, g);
			return;
		}
		c->snd_wnd = (uint32_t)g->win << c->snd_wscale;
		c->snd_wl1 = seq;
		c->snd_wl2 = g->ack;
		if (!establish(s, c))
			return;
	}

	/* RST (RFC 5961 §3): exact sequence resets, in-window challenges */
	if (g->flags & MB_TCP_RST) {
		if (c->state == MB_TCP_TIME_WAIT) {
			s->cnt.drop_seq++; /* RFC 1337 */
			return;
		}
		if (seq == c->rcv_nxt) {
			s->cnt.conn_reset_rx++;
			tcp_conn_free(s, c);
		} else if (seq_acceptable(c, g)) {
			s->cnt.challenge_acks++;
			tcp_send_ack(s, c);
		} else {
			s->cnt.drop_seq++;
		}
		return;
	}
	/* PAWS (RFC 7323 §5) */
	if (c->ts_ok && g->has_ts && (int32_t)(g->tsval - c->ts_recent) < 0) {
		s->cnt.drop_paws++;
		tcp_send_ack(s, c);
		return;
	}
	if (g->flags & MB_TCP_SYN) {
		if (c->state == MB_TCP_TIME_WAIT && seq_lt(c->rcv_nxt, seq)) {
			/* a new incarnation: the old one is done */
			struct mb_tcp_tuple t = c->t;
			uint32_t floor = c->iss + 2 + (uint32_t)c->max;

			s->cnt.conn_closed++;
			tcp_conn_free(s, c);
			(void)input_listen(s, &t, g, &floor);
			return;
		}
		s->cnt.challenge_acks++; /* RFC 5961 §4 */
		tcp_send_ack(s, c);
		return;
	}
	if (!seq_acceptable(c, g)) {
		s->cnt.drop_seq++;
		tcp_send_ack(s, c);
		return;
	}
	if (!(g->flags & MB_TCP_ACK)) {
		s->cnt.drop_flags++;
		return;
	}
	if (c->ts_ok && g->has_ts && seq_leq(seq, c->rcv_nxt))
		c->ts_recent = g->tsval;
	if (c->state == MB_TCP_TIME_WAIT) {
		/* retransmitted FIN or stray ACK: acknowledge, restart 2MSL */
		if (fin)
			c->t_wait = s->now + s->p.timewait_ns;
		tcp_send_ack(s, c);
		return;
	}
	if (!tcp_ack_input(s, c, g))
		goto out;

	/* our FIN acknowledged? */
	if (c->fin_queued && c->una > c->end) {
		switch (c->state) {
		case MB_TCP_FIN_WAIT_1:
			c->state = MB_TCP_FIN_WAIT_2;
			c->t_rexmt = 0;
			break;
		case MB_TCP_CLOSING:
			to_time_wait(s, c);
			break;
		case MB_TCP_LAST_ACK:
			s->cnt.conn_closed++;
			tcp_conn_free(s, c);
			return;
		default:
			break;
		}
	}

	/* trim to the window */
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip >= plen) {
			data += plen;
			plen = 0;
		} else {
			data += skip;
			plen -= skip;
		}
		seq = c->rcv_nxt;
	}
	if (plen > c->rcv_wnd) {
		plen = c->rcv_wnd;
		fin = false;
	}
	if (plen > 0 || fin) {
		if (seq != c->rcv_nxt) {
			s->cnt.drop_ooo++;
			c->ack_now = 1;
			goto out;
		}
	}
	if (plen > 0) {
		if (c->state == MB_TCP_ESTABLISHED || c->state == MB_TCP_FIN_WAIT_1 ||
		    c->state == MB_TCP_FIN_WAIT_2) {
			uint32_t took = plen;

			if (s->ops.recv != NULL)
				took = s->ops.recv(s->ctx, s, c, data, plen);
			if (c->state == MB_TCP_CLOSED)
				return;
			if (took > plen)
				took = plen;
			c->rcv_nxt += took;
			c->t_idle = s->now + s->p.idle_timeout_ns;
			c->ack_now = 1;
			if (took < plen)
				fin = false;
		} else {
			c->ack_now = 1; /* data after the peer's FIN: ignored */
			fin = false;
		}
	}
	if (fin) {
		c->rcv_nxt++;
		c->ack_now = 1;
		switch (c->state) {
		case MB_TCP_ESTABLISHED:
			c->state = MB_TCP_CLOSE_WAIT;
			c->peer_fin = 1;
			if (s->ops.peer_fin != NULL)
				s->ops.peer_fin(s->ctx, s, c);
			if (c->state == MB_TCP_CLOSED)
				return;
			break;
		case MB_TCP_FIN_WAIT_1:
			c->state = MB_TCP_CLOSING;
			break;
		case MB_TCP_FIN_WAIT_2:
			to_time_wait(s, c);
			break;
		default:
			break;
		}
	}
out:
	tcp_output(s, c);
}

void
mb_tcp_input(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g,
	     uint64_t now)
{
	struct mb_tcp_conn *c;

	s->now = now;
	s->cnt.rx_segs++;
	s->depth++;
	c = mb_tcp_lookup(s, t);
	if (c == NULL) {
		c = input_listen(s, t, g, NULL);
		if (c != NULL) {
			/* the cookie ACK may carry data (and a FIN) */
			struct mb_tcp_seg g2 = *g;

			input_conn(s, c, &g2);
		}
	} else {
		input_conn(s, c, g);
	}
	s->depth--;
}
