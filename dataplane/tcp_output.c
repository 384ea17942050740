/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP core's output: segments built from the connection's spans
 * (buffer, offset, length) and handed to the glue's emit callback, the
 * sender's window and silly-window rules, the FIN, owed ACKs, resets,
 * retransmission of SACK holes, and the application calls that queue data
 * or end a connection (mb_tcp_send, mb_tcp_close, mb_tcp_abort).  Output is
 * deferred while the core is inside mb_tcp_input or mb_tcp_timers (see
 * tcp_priv.h).
 *
 * Segmentation offload (mb_tcp_params.tso_max): new data goes out in
 * segments of up to tso_max bytes, whole multiples of the connection's MSS
 * unless they end a span or the stream, that the port cuts into segments of
 * the MSS; the windows bound them like any other.  Retransmissions (holes,
 * probes) stay one MSS each.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

int
tcp_emit(struct mb_tcp_stack *s, struct mb_tcp_out *o)
{
	int rc = s->ops.emit(s->ctx, o);

	if (rc < 0) {
		s->cnt.tx_fail++;
		return rc;
	}
	s->cnt.tx_segs++;
	s->cnt.tx_bytes += o->len;
	return 0;
}

void
tcp_out_init(const struct mb_tcp_stack *s, const struct mb_tcp_conn *c, struct mb_tcp_out *o,
	 uint8_t flags, uint64_t off)
{
	memset(o, 0, sizeof(*o));
	o->conn = (struct mb_tcp_conn *)(uintptr_t)c;
	o->t = c->t;
	o->flags = flags;
	o->seq = seq_of(c, off);
	o->ack = c->rcv_nxt;
	o->win = (uint16_t)min32(c->rcv_wnd >> c->rcv_wscale, 65535);
	if (c->ts_ok) {
		o->opt_ts = true;
		o->tsval = now_ms(s);
		o->tsecr = c->ts_recent;
	}
}

void
tcp_send_synack(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	tcp_out_init(s, c, &o, MB_TCP_SYN | MB_TCP_ACK, 0);
	o.seq = c->iss;
	o.opt_mss = true;
	o.mss = s->p.mss;
	o.opt_ws = c->ws_ok;
	o.wscale = c->rcv_wscale;
	o.opt_sackok = c->sack_ok;
	(void)tcp_emit(s, &o);
}

void
tcp_send_ack(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	tcp_out_init(s, c, &o, MB_TCP_ACK, c->nxt);
	(void)tcp_emit(s, &o);
	c->ack_now = 0;
}

/* RST for a segment that has no connection (RFC 9293 §3.10.7.1). */
void
tcp_send_rst_for(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t, const struct mb_tcp_seg *g)
{
	struct mb_tcp_out o;

	if (g->flags & MB_TCP_RST)
		return;
	memset(&o, 0, sizeof(o));
	o.t = *t;
	if (g->flags & MB_TCP_ACK) {
		o.flags = MB_TCP_RST;
		o.seq = g->ack;
	} else {
		o.flags = MB_TCP_RST | MB_TCP_ACK;
		o.ack = g->seq + g->plen + !!(g->flags & MB_TCP_SYN) + !!(g->flags & MB_TCP_FIN);
	}
	if (tcp_emit(s, &o) == 0)
		s->cnt.conn_reset_tx++;
}

static int
span_find(const struct mb_tcp_conn *c, uint64_t off)
{
	for (unsigned k = 0; k < c->nspans; k++) {
		unsigned i = (c->span_head + k) % MB_TCP_SPANS;

		if (off >= c->span[i].start && off < c->span[i].start + c->span[i].len)
			return (int)i;
	}
	return -1;
}

/* Send up to maxlen bytes at stream offset off, cut at the span end and at
 * the next SACKed range.  Returns the payload length sent (0 on failure). */
uint32_t
tcp_send_data(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t off, uint32_t maxlen)
{
	struct mb_tcp_out o;
	struct mb_image *img;
	int i = span_find(c, off);
	uint64_t rem;
	uint32_t len;

	if (i < 0)
		return 0;
	rem = c->span[i].start + c->span[i].len - off;
	len = (uint32_t)(rem < maxlen ? rem : maxlen);
	for (unsigned k = 0; k < c->nsb; k++)
		if (c->sb[k].l > off && c->sb[k].l - off < len)
			len = (uint32_t)(c->sb[k].l - off);
	tcp_out_init(s, c, &o, MB_TCP_ACK, off);
	o.buf = c->span[i].buf;
	o.off = c->span[i].off + (off - c->span[i].start);
	o.len = len;
	if (off + len >= c->end || off + len == c->span[i].start + c->span[i].len)
		o.flags |= MB_TCP_PSH;
	if (tcp_emit(s, &o) < 0)
		return 0;
	if (len > c->mss)
		s->cnt.tx_tso++;
	/* Hugepage cache LRU (owner: cache): one relaxed store per segment. */
	img = mb_image_of_buf(o.buf);
	if (img != NULL) {
		atomic_store_explicit(&img->last_served_ns, s->now, memory_order_relaxed);
		/* where the read-ahead follows this image (mb_image.h) */
		atomic_store_explicit(&img->ra_hint, o.off + 1, memory_order_relaxed);
	}
	c->ack_now = 0;
	if (off < c->max) {
		s->cnt.rexmt_bytes += len;
		c->rtt_start_ns = 0; /* Karn: no sample across a retransmission */
	} else if (c->rtt_start_ns == 0 && !c->ts_ok) {
		c->rtt_start_ns = s->now;
		c->rtt_off = off;
	}
	return len;
}

static void
send_fin(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	tcp_out_init(s, c, &o, MB_TCP_FIN | MB_TCP_ACK, c->end);
	if (tcp_emit(s, &o) == 0)
		c->ack_now = 0;
}

static inline bool
sacked(const struct mb_tcp_conn *c, uint64_t off, uint64_t *ret_r)
{
	for (unsigned k = 0; k < c->nsb; k++)
		if (off >= c->sb[k].l && off < c->sb[k].r) {
			*ret_r = c->sb[k].r;
			return true;
		}
	return false;
}

/* Retransmit the first hole at or after `from` (below max); returns bytes
 * sent, 0 if there was none. */
uint32_t
tcp_rexmt_hole(struct mb_tcp_stack *s, struct mb_tcp_conn *c, uint64_t from)
{
	uint64_t off = from < c->una ? c->una : from, r;
	uint32_t n;

	uint64_t lim = c->max;

	/* RFC 6675 IsLost: past the first hole, only bytes below the highest
	 * SACKed byte are presumed lost; the rest is still in flight */
	if (off > c->una && c->nsb > 0) {
		lim = c->una;
		for (unsigned k = 0; k < c->nsb; k++)
			if (c->sb[k].r > lim)
				lim = c->sb[k].r;
	} else if (off > c->una) {
		return 0; /* no SACK news: only the first segment is known lost */
	}
	while (off < lim && sacked(c, off, &r))
		off = r;
	if (off >= lim)
		return 0;
	if (off >= c->end) {
		send_fin(s, c);
		c->rexmt_nxt = c->end + 1;
		return 1;
	}
	n = tcp_send_data(s, c, off, tcp_rexmt_len(c, off));
	if (n > 0)
		c->rexmt_nxt = off + n;
	return n;
}

void
tcp_arm_rexmt(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t rto = (uint64_t)c->rto_us * 1000ULL;

	c->t_rexmt = s->now + rto;
	c->tlp_armed = 0;
}

/* Tail loss probe (RFC 8985 section 7): when the last ACKs of a flight are
 * lost (a receive ring that overflowed while the lcore had no CPU, a SYN
 * flood filling it) or the flight's last segments are, no duplicate ACK
 * comes back and only the RTO (200 ms at least, doubled each time) would
 * restart the connection, from a window of one segment.  Instead, PTO =
 * 2 SRTT (at least PTO_MIN_US, plus PTO_DELACK_US when a single segment is
 * out, never past the RTO) after the last ACK, the last segment sent goes
 * out once more: its ACK acknowledges everything that arrived, and SACK
 * recovery repairs what did not.  Only in the open state of a SACK
 * connection with an RTT sample (not in recovery, not after an RTO, not in
 * persist), and no probe while the last one's episode is open (tlp_out,
 * RFC 8985 section 7.4: tcp_ack_input ends it and cuts the window when the
 * probe repaired a loss); the RTO is armed behind it.  The probe is always
 * a retransmission: new data goes out as the windows allow, never held back
 * for a probe. */
void
tcp_arm_pto(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t pto, flight = c->max - c->una;

	if (!c->sack_ok || c->srtt_us == 0 || c->in_recovery || c->nrexmt > 0 || c->persist ||
	    c->tlp_out || c->una >= c->end || flight == 0) {
		tcp_arm_rexmt(s, c);
		return;
	}
	pto = 2ULL * c->srtt_us;
	if (pto < PTO_MIN_US)
		pto = PTO_MIN_US;
	if (flight <= c->mss)
		pto += PTO_DELACK_US;
	if (pto >= c->rto_us) {
		tcp_arm_rexmt(s, c);
		return;
	}
	c->t_rexmt = s->now + pto * 1000ULL;
	c->tlp_armed = 1;
}

bool
tcp_send_probe(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint64_t hi = c->max < c->end ? c->max : c->end, off;

	if (hi <= c->una)
		return false;
	off = hi - c->una > c->mss ? hi - c->mss : c->una;
	if (tcp_send_data(s, c, off, (uint32_t)(hi - off)) == 0)
		return false;
	/* the episode: what the probe covers, and SND.NXT (RFC 8985 7.4) */
	c->tlp_out = 1;
	c->tlp_lo = seq_of(c, off);
	c->tlp_end = seq_of(c, c->max);
	return true;
}

/* Send what the windows allow, the FIN when everything is queued, an ACK if
 * one is owed and nothing carried it; then set the retransmission or persist
 * timer. */
void
tcp_output(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	uint32_t wnd, seg_max;
	bool blocked = false;

	if (c->state == MB_TCP_CLOSED)
		return;
	if (c->state == MB_TCP_SYN_RCVD || c->state == MB_TCP_TIME_WAIT ||
	    c->state == MB_TCP_FIN_WAIT_2) {
		if (c->ack_now)
			tcp_send_ack(s, c);
		tcp_timer_update(s, c);
		return;
	}
	wnd = min32(c->cwnd, c->snd_wnd);
	seg_max = s->p.tso_max >= 2u * c->mss ? s->p.tso_max - s->p.tso_max % c->mss : c->mss;
	for (;;) {
		uint64_t inflight = c->nxt - c->una;
		uint32_t n, room;

		if (c->nxt < c->end) {
			if (inflight >= wnd)
				break;
			room = (uint32_t)(wnd - inflight);
			/* sender-side silly window avoidance: no runt while data is in
			 * flight unless it finishes a span */
			if (room < c->mss && inflight > 0 && c->end - c->nxt > room)
				break;
			/* a TSO segment carries whole segments of the MSS (but the
			 * span's or the stream's last bytes) */
			room = min32(room, seg_max);
			if (room > c->mss)
				room -= room % c->mss;
			n = tcp_send_data(s, c, c->nxt, room);
			if (n == 0) {
				blocked = true;
				break;
			}
			c->nxt += n;
			if (c->nxt > c->max)
				c->max = c->nxt;
			continue;
		}
		if (c->fin_queued && c->nxt == c->end) {
			send_fin(s, c);
			c->nxt = c->end + 1;
			if (c->nxt > c->max)
				c->max = c->nxt;
			if (c->state == MB_TCP_ESTABLISHED)
				c->state = MB_TCP_FIN_WAIT_1;
			else if (c->state == MB_TCP_CLOSE_WAIT)
				c->state = MB_TCP_LAST_ACK;
		}
		break;
	}
	if (c->ack_now)
		tcp_send_ack(s, c);

	/* timers: persist while the peer's window is shut and we have something
	 * to say; otherwise RTO while anything is unacknowledged */
	if (c->snd_wnd == 0 && (c->una < c->end || (c->fin_queued && c->max <= c->end))) {
		if (!c->persist) {
			c->persist = 1;
			tcp_arm_rexmt(s, c);
		}
	} else if (c->max > c->una) {
		if (c->persist || c->t_rexmt == 0) {
			c->persist = 0;
			tcp_arm_pto(s, c);
		}
	} else {
		/* the glue's TX queue was full with nothing of ours in flight:
		 * no ACK will come to restart us, so retry shortly */
		c->persist = 0;
		c->t_rexmt = blocked ? s->now + TX_RETRY_NS : 0;
		c->tlp_armed = 0;
	}
	tcp_timer_update(s, c);
}

static void
maybe_output(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (s->depth == 0)
		tcp_output(s, c);
}

int
mb_tcp_send(struct mb_tcp_stack *s, struct mb_tcp_conn *c, struct mb_sbuf *buf, uint64_t off,
	    uint64_t len)
{
	unsigned i;

	if (c->state != MB_TCP_ESTABLISHED && c->state != MB_TCP_CLOSE_WAIT)
		return -EPIPE;
	if (c->fin_queued)
		return -EPIPE;
	if (off > buf->len || len > buf->len - off)
		return -EINVAL;
	if (c->nspans >= MB_TCP_SPANS)
		return -ENOSPC;
	if (len == 0) {
		mb_sbuf_unref(buf);
		return 0;
	}
	i = (c->span_head + c->nspans) % MB_TCP_SPANS;
	c->span[i].buf = buf;
	c->span[i].off = off;
	c->span[i].len = len;
	c->span[i].start = c->end;
	c->end += len;
	c->nspans++;
	maybe_output(s, c);
	return 0;
}

int
mb_tcp_close(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->state != MB_TCP_ESTABLISHED && c->state != MB_TCP_CLOSE_WAIT)
		return -EPIPE;
	if (c->fin_queued)
		return -EPIPE;
	c->fin_queued = 1;
	maybe_output(s, c);
	return 0;
}

void
mb_tcp_abort(struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_tcp_out o;

	if (c->state == MB_TCP_CLOSED)
		return;
	tcp_out_init(s, c, &o, MB_TCP_RST | MB_TCP_ACK, c->nxt);
	if (c->state == MB_TCP_SYN_RCVD)
		o.seq = c->iss + 1;
	if (tcp_emit(s, &o) == 0)
		s->cnt.conn_reset_tx++;
	tcp_conn_free(s, c);
}
