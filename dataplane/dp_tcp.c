/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK glue of the userspace TCP (see dp_tcp.h): frame validation and
 * parsing on RX, frame building on TX, the HTTP server and FTP passive data
 * transfers dispatched by local port, and the expectations and withdrawals
 * the channel (dp_chan.c) brings from the control thread.  With several
 * dataplane lcores, data connections would have to be steered to the lcore
 * holding their expectation (the dataplane runs one today).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_tcp.h>

#include "dp.h"
#include "dp_tcp.h"

#define TX_BURST 64
#define TX_PASS_MAX 256 /* frames per loop pass (see emit) */
#define XFER_REPORTED (1ULL << 63) /* in an FTP data connection's cookie */
#define EXPECT_TIMEOUT_NS (60ULL * 1000000000ULL)

/* One passive port: open (waiting for the client), maybe bound to the
 * client's connection, maybe holding the data to send. */
struct expect {
	bool active;
	uint32_t peer;
	struct mb_sbuf *sb; /* a reference; NULL until RETR/LIST supplied it */
	uint64_t off, len, cookie;
	uint64_t deadline;
	struct mb_tcp_conn *conn; /* the accepted data connection, waiting */
};

struct mb_dp_tcp {
	struct mb_dp_tcp_conf conf;
	struct mb_tcp_stack *stack;
	struct mb_tcp_http http;
	uint16_t mtu;	/* IP MTU: no frame's IP total length exceeds it */
	uint16_t mss;	/* our MSS: the MTU's, or less if the pool's mbufs are smaller */
	uint16_t http_port;
	uint16_t pasv_min, pasv_max;
	struct expect *expects; /* pasv_max - pasv_min + 1 */
	unsigned nexpect;	/* of them active */
	uint64_t expect_due;	/* no active one expires before this (a lower bound) */
	const uint8_t *cur_src; /* source MAC of the frame being processed */
	struct rte_mbuf *tx[TX_BURST];
	uint16_t ntx;
	uint32_t pass_tx; /* frames with payload emitted in this loop pass */
	uint64_t now;
	uint64_t g[MB_DP_T_MAX]; /* the glue's counters (dp_counters.h) */
};

static _Atomic bool refuse_http; /* drain: no new HTTP connections */

static bool
is_ftp(const struct mb_dp_tcp *t, uint16_t port)
{
	return port >= t->pasv_min && port <= t->pasv_max && port != t->http_port;
}

/* The source MAC's value for the TCP core's per-neighbour share of the
 * SYN cookie budget (mb_tcp_seg.link): FNV-1a over its 6 bytes. */
static uint32_t
link_hash(const uint8_t *mac)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < RTE_ETHER_ADDR_LEN; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h;
}

/* ---- TX ------------------------------------------------------------------- */

/* Hand the queued frames to the port.  What it does not take stays queued
 * (in order) for the next pass, unless drop is set; emit() refuses new
 * segments while the queue is full, so the core backs off instead of losing
 * frames it believes sent. */
static void
tx_flush(struct mb_dp_tcp *t, bool drop)
{
	uint16_t sent;

	if (t->ntx == 0)
		return;
	sent = t->conf.tx(t->conf.tx_arg, t->tx, t->ntx);
	if (sent < t->ntx && drop) {
		t->g[MB_DP_T_tx_drop] += t->ntx - sent;
		rte_pktmbuf_free_bulk(t->tx + sent, t->ntx - sent);
		sent = t->ntx;
	}
	if (sent < t->ntx)
		memmove(t->tx, t->tx + sent, (t->ntx - sent) * sizeof(t->tx[0]));
	t->ntx -= sent;
}

/* One frame for o (a TSO frame when o carries more than the MSS); 0 or
 * -errno.  -E2BIG: o's payload needs more pieces than a frame may chain
 * (tso_segs), nothing sent, for emit to split. */
static int
emit_frame(struct mb_dp_tcp *t, const struct mb_tcp_out *o)
{
	struct rte_mbuf *m;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	uint8_t tcph[MB_TCP_HDR_MAX], *p;
	unsigned thl = mb_tcp_hdr_build(o, tcph);
	uint32_t l3 = (uint32_t)sizeof(*ip) + thl + o->len; /* IP total length */
	uint32_t hdrs = (uint32_t)(sizeof(*eth) + sizeof(*ip)) + thl;
	const uint8_t *dmac = t->cur_src;
	static const uint8_t zero[6];
	int how = MB_DP_ZC_COPIED;
	/* a TSO frame: more than one segment's payload, the port cuts it */
	bool tso = o->conn != NULL && o->len > o->conn->mss;
	uint32_t nseg = 1, segsz = 0;

	if (o->conn != NULL) {
		if (memcmp(o->conn->l2, zero, 6) == 0 && t->cur_src != NULL)
			memcpy(o->conn->l2, t->cur_src, 6);
		dmac = o->conn->l2;
	}
	if (dmac == NULL)
		return -EHOSTUNREACH;
	/* Bound every length derived from the segment before it is cut to 16
	 * bits or copied: the IP total length by the MTU (the core's MSS keeps
	 * it there; this is the last line); a TSO frame by tso_max, and each
	 * segment the port cuts from it by the MTU. */
	if (tso) {
		segsz = o->conn->mss;
		if (t->conf.tso_l2_in_mtu && hdrs + segsz > t->mtu)
			segsz = hdrs < t->mtu ? t->mtu - hdrs : 0;
		if (o->len > t->conf.tso_max || l3 > UINT16_MAX || segsz == 0 ||
		    (uint32_t)sizeof(*ip) + thl + o->conn->mss > t->mtu) {
			t->g[MB_DP_T_tx_oversize]++;
			return -EMSGSIZE;
		}
		nseg = (o->len + segsz - 1) / segsz;
	} else if (l3 > t->mtu) {
		t->g[MB_DP_T_tx_oversize]++;
		return -EMSGSIZE;
	}
	/* at most TX_PASS_MAX frames of payload per loop pass: on a veth the
	 * peer's ACKs to one send come back within it, and more than the RX
	 * ring holds (af_packet: 512) are lost.  Segments without payload
	 * (SYN-ACKs, ACKs, RSTs) bring at most one frame back each and do not
	 * count: a SYN flood answered with cookies must not use up the pass
	 * of the connections carrying data. */
	if (o->len > 0 && t->pass_tx >= TX_PASS_MAX) {
		t->g[MB_DP_T_tx_busy]++;
		return -ENOBUFS;
	}
	if (t->ntx == TX_BURST) {
		tx_flush(t, false);
		if (t->ntx == TX_BURST) {
			t->g[MB_DP_T_tx_busy]++;
			return -ENOBUFS;
		}
	}
	m = rte_pktmbuf_alloc(t->conf.pool);
	if (m == NULL) {
		t->g[MB_DP_T_tx_nombuf]++;
		return -ENOMEM;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)hdrs);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		return -ENOSPC;
	}
	eth = (struct rte_ether_hdr *)p;
	memcpy(&eth->dst_addr, dmac, RTE_ETHER_ADDR_LEN);
	rte_ether_addr_copy(&t->conf.local_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)l3);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = o->t.laddr;
	ip->dst_addr = o->t.raddr;
	p = (uint8_t *)(ip + 1);
	memcpy(p, tcph, thl);
	if (tso) {
		/* the payload: a chain of pieces, attached or copied */
		int att = mb_dp_zc_append_chain(&t->conf.zc, t->conf.pool, m, o->buf, o->off,
						o->len, t->conf.tso_segs);

		if (att < 0) {
			rte_pktmbuf_free(m);
			if (att == -EMSGSIZE)
				return -E2BIG;
			t->g[att == -ENOMEM ? MB_DP_T_tx_nombuf : MB_DP_T_tx_oversize]++;
			return att;
		}
		if ((uint32_t)att == o->len) {
			t->g[MB_DP_T_tx_zerocopy]++;
		} else {
			t->g[MB_DP_T_tx_copied]++;
			if (t->conf.zc.pool != NULL)
				t->g[MB_DP_T_tx_copy_nodma]++;
		}
		m->l2_len = sizeof(*eth);
		m->l3_len = sizeof(*ip);
		m->l4_len = thl;
		m->tso_segsz = (uint16_t)segsz;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG |
			       RTE_MBUF_F_TX_TCP_CKSUM;
		/* the pseudo-header sum without the length: the port adds each
		 * segment's */
		((struct rte_tcp_hdr *)p)->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else if (o->len > 0) {
		/* the payload: attached, or copied after the headers */
		how = mb_dp_zc_append(&t->conf.zc, m, o->buf, o->off, o->len);
		if (how < 0) {
			/* a copy the mbuf cannot hold (mb_dp_tcp_create sizes the
			 * MSS to the pool, so this is a last line too) */
			t->g[MB_DP_T_tx_oversize]++;
			rte_pktmbuf_free(m);
			return -EMSGSIZE;
		}
		if (how == MB_DP_ZC_ATTACHED) {
			t->g[MB_DP_T_tx_zerocopy]++;
		} else {
			t->g[MB_DP_T_tx_copied]++;
			if (how == MB_DP_ZC_COPIED_NODMA)
				t->g[MB_DP_T_tx_copy_nodma]++;
		}
	}
	if (tso) {
		/* done above */
	} else if (t->conf.tx_cksum_offload) {
		m->l2_len = sizeof(*eth);
		m->l3_len = sizeof(*ip);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
			       RTE_MBUF_F_TX_TCP_CKSUM;
		((struct rte_tcp_hdr *)p)->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		uint16_t ck;

		if (how == MB_DP_ZC_ATTACHED)
			ck = mb_tcp_cksum2(ip->src_addr, ip->dst_addr, p, thl,
					   o->buf->data + o->off, o->len);
		else
			ck = mb_tcp_cksum(ip->src_addr, ip->dst_addr, p, thl + o->len);

		ip->hdr_checksum = rte_ipv4_cksum(ip);
		p[16] = (uint8_t)(ck >> 8);
		p[17] = (uint8_t)(ck & 0xff);
	}
	t->tx[t->ntx++] = m;
	if (o->len > 0)
		t->pass_tx += nseg;
	if (t->ntx == TX_BURST)
		tx_flush(t, false);
	return 0;
}

/* The core's emit callback.  A TSO segment whose payload lies in more
 * pieces than a frame may chain (memory whose IOVA breaks often, small
 * mbufs) goes out as two frames cut at a multiple of the MSS, and so on
 * down to frames that fit: the bytes on the wire are the same, PSH and FIN
 * ride on the last.  A frame already sent when a later one fails is sent
 * again with the retransmission, which the peer takes as a duplicate. */
static int
emit_split(struct mb_dp_tcp *t, const struct mb_tcp_out *o, unsigned depth)
{
	struct mb_tcp_out a, b;
	uint32_t mss = o->conn != NULL ? o->conn->mss : 0;
	int rc = emit_frame(t, o);

	if (rc != -E2BIG)
		return rc;
	if (depth >= 16 || mss == 0 || o->len <= mss) {
		t->g[MB_DP_T_tx_oversize]++;
		return -EMSGSIZE;
	}
	t->g[MB_DP_T_tx_tso_split]++;
	a = *o;
	a.len = (o->len / 2 + mss - 1) / mss * mss; /* whole segments, less than o->len */
	if (a.len >= o->len)
		a.len = o->len - mss;
	a.flags &= (uint8_t)~(MB_TCP_PSH | MB_TCP_FIN);
	b = *o;
	b.seq = o->seq + a.len;
	b.off = o->off + a.len;
	b.len = o->len - a.len;
	rc = emit_split(t, &a, depth + 1);
	return rc < 0 ? rc : emit_split(t, &b, depth + 1);
}

static int
emit(void *ctx, const struct mb_tcp_out *o)
{
	return emit_split(ctx, o, 0);
}

/* ---- application dispatch -------------------------------------------------- */

void
mb_dp_tcp_refuse_new(bool on)
{
	atomic_store_explicit(&refuse_http, on, memory_order_relaxed);
}

static bool
listening(void *ctx, const struct mb_tcp_tuple *tu)
{
	struct mb_dp_tcp *t = ctx;
	const struct expect *x;

	if (tu->lport == t->http_port)
		return !atomic_load_explicit(&refuse_http, memory_order_relaxed);
	if (!is_ftp(t, tu->lport))
		return false;
	x = &t->expects[tu->lport - t->pasv_min];
	return x->active && x->conn == NULL && (x->peer == 0 || x->peer == tu->raddr);
}

/* x is no longer expected (its slot free for the next PASV). */
static void
expect_off(struct mb_dp_tcp *t, struct expect *x)
{
	if (x->active) {
		x->active = false;
		t->nexpect--;
	}
}

/* Both halves are there (connection and data): send, close, free the port. */
static void
expect_start(struct mb_dp_tcp *t, struct expect *x)
{
	struct mb_tcp_conn *c = x->conn;

	if (x->len > 0) {
		if (mb_tcp_send(t->stack, c, x->sb, x->off, x->len) < 0)
			mb_sbuf_unref(x->sb);
	} else {
		mb_sbuf_unref(x->sb);
	}
	x->sb = NULL;
	x->conn = NULL;
	expect_off(t, x);
	(void)mb_tcp_close(t->stack, c);
}

static int
accept_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_dp_tcp *t = ctx;
	struct expect *x;

	if (c->t.lport == t->http_port)
		return mb_tcp_http_accept(&t->http, s, c);
	if (!listening(ctx, &c->t))
		return -ECONNREFUSED; /* a cookie ACK after the expectation went */
	x = &t->expects[c->t.lport - t->pasv_min];
	c->app = t; /* marks an FTP data connection */
	c->cookie = x->cookie & ~XFER_REPORTED;
	x->conn = c;
	if (x->sb != NULL)
		expect_start(t, x);
	return 0;
}

static uint32_t
recv_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c, const uint8_t *d, uint32_t n)
{
	struct mb_dp_tcp *t = ctx;

	if (c->app == ctx)
		return n; /* FTP data: the client has nothing to say */
	return mb_tcp_http_recv(&t->http, s, c, d, n);
}

static void
xfer_report(struct mb_dp_tcp *t, struct mb_tcp_conn *c, bool ok)
{
	uint64_t cookie = c->cookie & ~XFER_REPORTED;

	if (c->cookie & XFER_REPORTED)
		return;
	c->cookie |= XFER_REPORTED;
	/* The port went to a newer expectation meanwhile: the control thread
	 * let go of this cookie, and the newer one's end must not be hidden
	 * behind it (see mb_dp_tcp_xfer_fn). */
	if (!is_ftp(t, c->t.lport) || t->expects[c->t.lport - t->pasv_min].cookie != cookie)
		return;
	if (t->conf.xfer_done != NULL)
		t->conf.xfer_done(t->conf.xfer_arg, c->t.lport, cookie, ok);
}

static void
sent_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	/* FTP: every byte acknowledged is what 226 needs; no need to wait for
	 * the close handshake */
	if (c->app == ctx) {
		if (c->nspans == 0)
			xfer_report(ctx, c, true);
		return;
	}
	mb_tcp_http_sent(&((struct mb_dp_tcp *)ctx)->http, s, c);
}

static void
peer_fin_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->app != ctx)
		mb_tcp_http_peer_fin(&((struct mb_dp_tcp *)ctx)->http, s, c);
}

static void
closed_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_dp_tcp *t = ctx;

	if (c->app == ctx) {
		if (is_ftp(t, c->t.lport) && t->expects[c->t.lport - t->pasv_min].conn == c) {
			/* the client left before RETR: the port is done */
			struct expect *x = &t->expects[c->t.lport - t->pasv_min];

			x->conn = NULL;
			expect_off(t, x);
			mb_sbuf_unref(x->sb);
			x->sb = NULL;
			xfer_report(t, c, false);
		} else {
			xfer_report(t, c, c->end > 0 ? c->una >= c->end : c->una > c->end);
		}
		c->app = NULL;
		return;
	}
	mb_tcp_http_closed(&t->http, s, c);
}

static const struct mb_tcp_ops dp_ops = {
	.emit = emit,
	.listening = listening,
	.accept = accept_cb,
	.recv = recv_cb,
	.sent = sent_cb,
	.peer_fin = peer_fin_cb,
	.closed = closed_cb,
};

/* ---- RX --------------------------------------------------------------------- */

void
mb_dp_tcp_rx(struct mb_dp_tcp *t, struct rte_mbuf *m, uint64_t now_ns)
{
	const struct rte_ether_hdr *eth;
	const struct rte_ipv4_hdr *ip;
	const uint8_t *tcp;
	struct mb_tcp_seg seg;
	struct mb_tcp_tuple tu;
	uint32_t len = rte_pktmbuf_data_len(m), ihl, tot;
	uint64_t l4f;

	t->now = now_ns;
	if (m->nb_segs != 1) {
		t->g[MB_DP_T_rx_multiseg]++;
		goto out;
	}
	if (len < sizeof(*eth) + sizeof(*ip) + MB_TCP_HDR_MIN) {
		t->g[MB_DP_T_rx_bad_l3]++;
		goto out;
	}
	eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	ip = (const struct rte_ipv4_hdr *)(eth + 1);
	ihl = (ip->version_ihl & 0xf) * 4u;
	tot = rte_be_to_cpu_16(ip->total_length);
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    (ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl + MB_TCP_HDR_MIN ||
	    tot > len - sizeof(*eth) || ip->next_proto_id != IPPROTO_TCP ||
	    (rte_be_to_cpu_16(ip->fragment_offset) &
	     (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) ||
	    ip->dst_addr != t->conf.local_addr) {
		t->g[MB_DP_T_rx_bad_l3]++;
		goto out;
	}
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	     rte_raw_cksum(ip, ihl) != 0xffff)) {
		t->g[MB_DP_T_rx_bad_cksum]++;
		goto out;
	}
	tcp = (const uint8_t *)ip + ihl;
	l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
	    (l4f != RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
	     mb_tcp_cksum(ip->src_addr, ip->dst_addr, tcp, tot - ihl) != 0)) {
		t->g[MB_DP_T_rx_bad_cksum]++;
		goto out;
	}
	if (mb_tcp_parse(tcp, tot - ihl, &seg) != MB_TCP_PARSE_OK) {
		t->g[MB_DP_T_rx_bad_tcp]++;
		goto out;
	}
	tu.laddr = ip->dst_addr;
	tu.raddr = ip->src_addr;
	tu.lport = seg.dport;
	tu.rport = seg.sport;
	t->cur_src = eth->src_addr.addr_bytes;
	seg.link = link_hash(eth->src_addr.addr_bytes);
	mb_tcp_input(t->stack, &tu, &seg, now_ns);
	t->cur_src = NULL;
out:
	rte_pktmbuf_free(m);
}

bool
mb_dp_tcp_wants(const struct mb_dp_tcp *t, uint16_t dport)
{
	return dport == t->http_port || is_ftp(t, dport);
}

/* ---- expectations ------------------------------------------------------------ */

static void
expect_drop(struct mb_dp_tcp *t, struct expect *x)
{
	mb_sbuf_unref(x->sb);
	x->sb = NULL;
	expect_off(t, x);
	if (x->conn != NULL) {
		struct mb_tcp_conn *c = x->conn;

		x->conn = NULL;
		mb_tcp_abort(t->stack, c); /* reports through closed_cb */
		return;
	}
	if (t->conf.xfer_done != NULL)
		t->conf.xfer_done(t->conf.xfer_arg, (uint16_t)(t->pasv_min + (x - t->expects)),
				  x->cookie, false);
}

void
mb_dp_tcp_expect_apply(struct mb_dp_tcp *t, uint16_t port, uint32_t peer, struct mb_sbuf *sb,
		       uint64_t off, uint64_t len, uint64_t cookie, uint64_t now_ns)
{
	struct expect *x;

	if (!is_ftp(t, port)) {
		mb_sbuf_unref(sb);
		return;
	}
	x = &t->expects[port - t->pasv_min];
	if (x->active && (x->cookie != cookie || x->sb != NULL))
		expect_drop(t, x); /* the control thread reused the port */
	if (!x->active) {
		x->active = true;
		t->nexpect++;
		x->peer = peer;
		x->cookie = cookie;
		x->conn = NULL;
	}
	x->sb = sb;
	x->off = off;
	x->len = len;
	x->deadline = now_ns + EXPECT_TIMEOUT_NS;
	if (t->nexpect == 1 || x->deadline < t->expect_due)
		t->expect_due = x->deadline;
	if (x->sb != NULL && x->conn != NULL)
		expect_start(t, x);
}

unsigned
mb_dp_tcp_abort_buf(struct mb_dp_tcp *t, const struct mb_sbuf *sb)
{
	for (unsigned p = 0; p <= (unsigned)(t->pasv_max - t->pasv_min); p++)
		if (t->expects[p].active && t->expects[p].sb == sb)
			expect_drop(t, &t->expects[p]);
	return mb_tcp_abort_buf(t->stack, sb);
}

void
mb_dp_tcp_set_params(struct mb_dp_tcp *t, uint32_t initial_window, uint64_t idle_timeout_ns,
		     int cc)
{
	mb_tcp_stack_set_params(t->stack, initial_window, idle_timeout_ns, cc);
}

uint32_t
mb_dp_tcp_poll(struct mb_dp_tcp *t, uint64_t now_ns)
{
	t->now = now_ns;
	/* Expectations nobody connected to.  The table has a slot per passive
	 * port (1000 by default, 56 KiB): walked only when one may be due,
	 * not on every loop pass, where it cost as much as the frames sent. */
	if (t->nexpect > 0 && now_ns >= t->expect_due) {
		uint64_t due = UINT64_MAX;

		for (unsigned p = 0; p <= (unsigned)(t->pasv_max - t->pasv_min); p++) {
			struct expect *x = &t->expects[p];

			if (x->active && x->deadline <= now_ns)
				expect_drop(t, x);
			else if (x->active && x->deadline < due)
				due = x->deadline;
		}
		t->expect_due = due;
	}
	mb_tcp_timers(t->stack, now_ns);
	tx_flush(t, false);
	t->pass_tx = 0;
	return mb_tcp_stack_nconns(t->stack);
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct mb_dp_tcp *
mb_dp_tcp_create(const struct mb_dp_tcp_conf *conf, const struct mb_config *cfg)
{
	struct mb_dp_tcp *t;
	struct mb_tcp_params p;
	uint32_t room, mtu = conf->mtu ? conf->mtu : 1500, mss;
	uint64_t r;

	if (conf->pool == NULL || conf->tx == NULL || cfg->ftp_pasv_min > cfg->ftp_pasv_max) {
		errno = EINVAL;
		return NULL;
	}
	/* Our MSS: what the MTU carries with a 20-byte TCP header, and no more
	 * than a copied segment fits in one of the pool's mbufs (a payload is
	 * copied whenever it cannot be attached).  mb_dp_init sizes the pool
	 * for the MTU; a smaller pool only lowers the MSS. */
	room = rte_pktmbuf_data_room_size(conf->pool);
	room = room > RTE_PKTMBUF_HEADROOM ? room - RTE_PKTMBUF_HEADROOM : 0;
	mss = mtu - 40;
	if (room < RTE_ETHER_HDR_LEN + 40)
		mss = 0;
	else if (mss > room - RTE_ETHER_HDR_LEN - 40)
		mss = room - RTE_ETHER_HDR_LEN - 40;
	if (mtu < 576 || mtu > MB_TCP_MSS_MAX + 40 || mss < MB_TCP_MSS_MIN + 12) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->conf = *conf;
	mb_tcp_http_init(&t->http, conf->http);
	t->mtu = (uint16_t)mtu;
	t->mss = (uint16_t)mss;
	t->http_port = (uint16_t)cfg->http_port;
	t->pasv_min = (uint16_t)cfg->ftp_pasv_min;
	t->pasv_max = (uint16_t)cfg->ftp_pasv_max;
	t->expects = calloc((size_t)(t->pasv_max - t->pasv_min + 1), sizeof(*t->expects));
	if (t->expects == NULL)
		goto err_expects;
	mb_tcp_params_default(&p);
	p.max_conns = (uint32_t)cfg->max_connections;
	p.syn_backlog = (uint32_t)cfg->syn_backlog;
	p.syn_cookie_rate = (uint32_t)cfg->syn_cookie_rate;
	p.initial_window = (uint32_t)cfg->initial_window;
	if (cfg->tcp_cc != NULL && mb_tcp_cc_parse(cfg->tcp_cc) >= 0)
		p.cc = (uint8_t)mb_tcp_cc_parse(cfg->tcp_cc);
	p.idle_timeout_ns = cfg->tcp_idle_timeout * 1000000000ULL;
	p.max_conns_per_src = (uint32_t)cfg->max_conns_per_src;
	p.max_app_per_src = (uint32_t)cfg->partial_reqs_per_src;
	p.mss = t->mss;
	if (conf->tso_max >= 2u * t->mss && conf->tso_segs >= 3 && conf->tx_cksum_offload &&
	    conf->pool != NULL)
		p.tso_max = RTE_MIN(conf->tso_max, MB_TCP_TSO_MAX);
	t->conf.tso_max = p.tso_max;
	r = rte_rand();
	memcpy(p.secret, &r, 8);
	r = rte_rand();
	memcpy(p.secret + 8, &r, 8);
	t->stack = mb_tcp_stack_new(&p, &dp_ops, t);
	if (t->stack == NULL)
		goto err_stack;
	return t;

err_stack:
	free(t->expects);
err_expects:
	free(t);
	return NULL;
}

void
mb_dp_tcp_free(struct mb_dp_tcp *t)
{
	if (t == NULL)
		return;
	/* expectations first: a dropped one's connection is aborted by the
	 * stack, which must still exist */
	for (unsigned p = 0; p <= (unsigned)(t->pasv_max - t->pasv_min); p++)
		if (t->expects[p].active)
			expect_drop(t, &t->expects[p]);
	mb_tcp_stack_free(t->stack);
	tx_flush(t, true);
	free(t->expects);
	free(t);
}

void
mb_dp_tcp_stats_add(const struct mb_dp_tcp *t, struct mb_dp_tcp_stats *sum)
{
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(t->stack);
	const struct mb_tcp_http_counters *h = &t->http.cnt;

#define MB_DP_TCP_ADD(n, help) sum->core.n += __atomic_load_n(&k->n, __ATOMIC_RELAXED);
	MB_TCP_COUNTERS(MB_DP_TCP_ADD)
#undef MB_DP_TCP_ADD
#define MB_DP_HTTP_ADD(n, help) sum->http.n += __atomic_load_n(&h->n, __ATOMIC_RELAXED);
	MB_TCP_HTTP_COUNTERS(MB_DP_HTTP_ADD)
#undef MB_DP_HTTP_ADD
	for (unsigned i = 0; i < MB_DP_T_MAX; i++)
		sum->glue[i] += __atomic_load_n(&t->g[i], __ATOMIC_RELAXED);
	sum->conns += mb_tcp_stack_nconns(t->stack);
	sum->mss = t->mss;
}
