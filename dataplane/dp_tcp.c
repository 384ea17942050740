/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK glue of the userspace TCP (see dp_tcp.h): frame validation and
 * parsing on RX, frame building on TX, the HTTP server and FTP passive data
 * transfers dispatched by local port, and mb_dp_tcp_expect() for the control
 * thread.
 *
 * FTP expectations travel over one multi-producer ring (control thread ->
 * the first instance's lcore); each message is malloc'd by the sender and
 * belongs to the receiver.  With several dataplane lcores, data connections
 * must be steered to that lcore (the current dataplane runs one).
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
#include <rte_ring.h>

#include "dp.h"
#include "dp_dma.h"
#include "dp_tcp.h"
#include "tcp_http.h"

#define TX_BURST 64
#define TX_PASS_MAX 256 /* frames per loop pass (see emit) */
#define XFER_REPORTED (1ULL << 63) /* in an FTP data connection's cookie */
#define EXPECT_TIMEOUT_NS (60ULL * 1000000000ULL)

struct expect_msg {
	uint16_t port;
	uint32_t peer;
	struct mb_image *img; /* reference, moves with the message */
	uint64_t off, len, cookie;
};

/* One passive port: open (waiting for the client), maybe bound to the
 * client's connection, maybe holding the data to send. */
struct expect {
	bool active;
	uint32_t peer;
	struct mb_image *img; /* NULL until RETR/LIST supplied it */
	uint64_t off, len, cookie;
	uint64_t deadline;
	struct mb_tcp_conn *conn; /* the accepted data connection, waiting */
};

/* External-buffer descriptor of one zero-copy payload mbuf. */
struct ext_desc {
	struct rte_mbuf_ext_shared_info sh;
	struct mb_image *img; /* reference, dropped when the driver frees the mbuf */
	struct rte_mempool *pool;
};

struct mb_dp_tcp {
	struct mb_dp_tcp_conf conf;
	struct rte_mempool *ext_pool; /* ext_desc, NULL without tx_multiseg */
	uint64_t tx_copied, tx_zerocopy;
	struct mb_tcp_stack *stack;
	uint16_t mtu;	/* IP MTU: no frame's IP total length exceeds it */
	uint16_t mss;	/* our MSS: the MTU's, or less if the pool's mbufs are smaller */
	uint16_t http_port;
	uint16_t pasv_min, pasv_max;
	struct expect *expects; /* pasv_max - pasv_min + 1 */
	bool owns_ring;
	const uint8_t *cur_src; /* source MAC of the frame being processed */
	struct rte_mbuf *tx[TX_BURST];
	uint16_t ntx;
	uint32_t pass_tx; /* frames emitted in this loop pass */
	uint64_t now;
	/* glue-level drops */
	uint64_t rx_bad_l3, rx_bad_cksum, rx_multiseg, rx_bad_tcp, tx_nombuf, tx_drop, tx_busy;
	uint64_t tx_oversize;	/* segments refused: longer than the MTU or the mbuf */
	uint64_t tx_copy_nodma; /* payloads copied: memory not DMA-safe (dp_dma.h) */
};

static struct rte_ring *expect_ring;
static _Atomic bool refuse_http; /* drain: no new HTTP connections */
static uint16_t ring_pasv_min, ring_pasv_max;

static bool
is_ftp(const struct mb_dp_tcp *t, uint16_t port)
{
	return port >= t->pasv_min && port <= t->pasv_max && port != t->http_port;
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
		t->tx_drop += t->ntx - sent;
		rte_pktmbuf_free_bulk(t->tx + sent, t->ntx - sent);
		sent = t->ntx;
	}
	if (sent < t->ntx)
		memmove(t->tx, t->tx + sent, (t->ntx - sent) * sizeof(t->tx[0]));
	t->ntx -= sent;
}

/* Called by the mbuf library when the last reference to a payload mbuf
 * goes (after TX completion): any thread. */
static void
ext_free(void *addr, void *opaque)
{
	struct ext_desc *x = opaque;

	(void)addr;
	mb_image_unref(x->img);
	rte_mempool_put(x->pool, x);
}

/* A payload mbuf pointing into the image, or NULL (caller copies): when
 * the bytes may not be DMA'd (mb_dp_dma_iova) or no descriptor is left.
 * o->len is bounded by the MTU (emit). */
static struct rte_mbuf *
payload_attach(struct mb_dp_tcp *t, const struct mb_tcp_out *o)
{
	struct ext_desc *x;
	struct rte_mbuf *pm;
	uint8_t *ptr = o->img->data + o->off;
	rte_iova_t iova;

	if (t->ext_pool == NULL)
		return NULL;
	if (!mb_dp_dma_iova(o->img, o->off, o->len, &iova)) {
		t->tx_copy_nodma++;
		return NULL;
	}
	if (rte_mempool_get(t->ext_pool, (void **)&x) != 0)
		return NULL;
	pm = rte_pktmbuf_alloc(t->conf.pool);
	if (pm == NULL) {
		rte_mempool_put(t->ext_pool, x);
		return NULL;
	}
	x->img = mb_image_ref(o->img);
	x->pool = t->ext_pool;
	x->sh.free_cb = ext_free;
	x->sh.fcb_opaque = x;
	rte_mbuf_ext_refcnt_set(&x->sh, 1);
	rte_pktmbuf_attach_extbuf(pm, ptr, iova, (uint16_t)o->len, &x->sh);
	pm->data_len = (uint16_t)o->len;
	pm->pkt_len = o->len;
	return pm;
}

static int
emit(void *ctx, const struct mb_tcp_out *o)
{
	struct mb_dp_tcp *t = ctx;
	struct rte_mbuf *m;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	uint8_t tcph[MB_TCP_HDR_MAX], *p;
	unsigned thl = mb_tcp_hdr_build(o, tcph);
	uint32_t l3 = (uint32_t)sizeof(*ip) + thl + o->len; /* IP total length */
	uint32_t total = (uint32_t)sizeof(*eth) + l3;	       /* bytes in the first mbuf */
	const uint8_t *dmac = t->cur_src;
	static const uint8_t zero[6];
	struct rte_mbuf *pm = NULL;

	if (o->conn != NULL) {
		if (memcmp(o->conn->l2, zero, 6) == 0 && t->cur_src != NULL)
			memcpy(o->conn->l2, t->cur_src, 6);
		dmac = o->conn->l2;
	}
	if (dmac == NULL)
		return -EHOSTUNREACH;
	/* Bound every length derived from the segment before it is cut to 16
	 * bits or copied: the IP total length by the MTU (the core's MSS keeps
	 * it there; this is the last line). */
	if (l3 > t->mtu) {
		t->tx_oversize++;
		return -EMSGSIZE;
	}
	/* at most TX_PASS_MAX frames per loop pass: on a veth the peer's ACKs
	 * to one send come back within it, and more than the RX ring holds
	 * (af_packet: 512) are lost */
	if (o->len > 0 && t->pass_tx >= TX_PASS_MAX) {
		t->tx_busy++;
		return -ENOBUFS;
	}
	if (t->ntx == TX_BURST) {
		tx_flush(t, false);
		if (t->ntx == TX_BURST) {
			t->tx_busy++;
			return -ENOBUFS;
		}
	}
	m = rte_pktmbuf_alloc(t->conf.pool);
	if (m == NULL) {
		t->tx_nombuf++;
		return -ENOMEM;
	}
	if (o->len > 0 && t->conf.tx_multiseg) {
		pm = payload_attach(t, o);
		if (pm != NULL)
			total -= o->len;
	}
	if (total > rte_pktmbuf_tailroom(m)) {
		/* a copied payload the mbuf cannot hold (mb_dp_tcp_create sizes
		 * the MSS to the pool, so this is a last line too) */
		t->tx_oversize++;
		rte_pktmbuf_free(m);
		rte_pktmbuf_free(pm);
		return -EMSGSIZE;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)total);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		rte_pktmbuf_free(pm);
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
	if (o->len > 0 && pm == NULL) {
		memcpy(p + thl, o->img->data + o->off, o->len);
		t->tx_copied++;
	}
	if (pm != NULL) {
		/* frees pm too if the chain would be too long (it never is) */
		if (rte_pktmbuf_chain(m, pm) != 0) {
			rte_pktmbuf_free(m);
			rte_pktmbuf_free(pm);
			return -ENOSPC;
		}
		t->tx_zerocopy++;
	}
	if (t->conf.tx_cksum_offload) {
		m->l2_len = sizeof(*eth);
		m->l3_len = sizeof(*ip);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
			       RTE_MBUF_F_TX_TCP_CKSUM;
		((struct rte_tcp_hdr *)p)->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		uint16_t ck;

		if (pm != NULL)
			ck = mb_tcp_cksum2(ip->src_addr, ip->dst_addr, p, thl,
					   o->img->data + o->off, o->len);
		else
			ck = mb_tcp_cksum(ip->src_addr, ip->dst_addr, p, thl + o->len);

		ip->hdr_checksum = rte_ipv4_cksum(ip);
		p[16] = (uint8_t)(ck >> 8);
		p[17] = (uint8_t)(ck & 0xff);
	}
	t->tx[t->ntx++] = m;
	t->pass_tx++;
	if (t->ntx == TX_BURST)
		tx_flush(t, false);
	return 0;
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

/* Both halves are there (connection and data): send, close, free the port. */
static void
expect_start(struct mb_dp_tcp *t, struct expect *x)
{
	struct mb_tcp_conn *c = x->conn;

	if (x->len > 0) {
		if (mb_tcp_send(t->stack, c, x->img, x->off, x->len) < 0)
			mb_image_unref(x->img);
	} else {
		mb_image_unref(x->img);
	}
	x->img = NULL;
	x->conn = NULL;
	x->active = false;
	(void)mb_tcp_close(t->stack, c);
}

static int
accept_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	struct mb_dp_tcp *t = ctx;
	struct expect *x;

	if (c->t.lport == t->http_port)
		return mb_tcp_http_accept(ctx, s, c);
	if (!listening(ctx, &c->t))
		return -ECONNREFUSED; /* a cookie ACK after the expectation went */
	x = &t->expects[c->t.lport - t->pasv_min];
	c->app = t; /* marks an FTP data connection */
	c->cookie = x->cookie & ~XFER_REPORTED;
	x->conn = c;
	if (x->img != NULL)
		expect_start(t, x);
	return 0;
}

static uint32_t
recv_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c, const uint8_t *d, uint32_t n)
{
	if (c->app == ctx)
		return n; /* FTP data: the client has nothing to say */
	return mb_tcp_http_recv(ctx, s, c, d, n);
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
	mb_tcp_http_sent(ctx, s, c);
}

static void
peer_fin_cb(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c)
{
	if (c->app != ctx)
		mb_tcp_http_peer_fin(ctx, s, c);
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
			x->active = false;
			if (x->img != NULL)
				mb_image_unref(x->img);
			x->img = NULL;
			xfer_report(t, c, false);
		} else {
			xfer_report(t, c, c->end > 0 ? c->una >= c->end : c->una > c->end);
		}
		c->app = NULL;
		return;
	}
	mb_tcp_http_closed(ctx, s, c);
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
		t->rx_multiseg++;
		goto out;
	}
	if (len < sizeof(*eth) + sizeof(*ip) + MB_TCP_HDR_MIN) {
		t->rx_bad_l3++;
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
		t->rx_bad_l3++;
		goto out;
	}
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	     rte_raw_cksum(ip, ihl) != 0xffff)) {
		t->rx_bad_cksum++;
		goto out;
	}
	tcp = (const uint8_t *)ip + ihl;
	l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
	    (l4f != RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
	     mb_tcp_cksum(ip->src_addr, ip->dst_addr, tcp, tot - ihl) != 0)) {
		t->rx_bad_cksum++;
		goto out;
	}
	if (mb_tcp_parse(tcp, tot - ihl, &seg) != MB_TCP_PARSE_OK) {
		t->rx_bad_tcp++;
		goto out;
	}
	tu.laddr = ip->dst_addr;
	tu.raddr = ip->src_addr;
	tu.lport = seg.dport;
	tu.rport = seg.sport;
	t->cur_src = eth->src_addr.addr_bytes;
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

int
mb_dp_tcp_expect(uint16_t port, uint32_t peer, struct mb_image *img, uint64_t off, uint64_t len,
		 uint64_t cookie)
{
	struct expect_msg *msg;

	if (expect_ring == NULL)
		return -ENODEV;
	if (port < ring_pasv_min || port > ring_pasv_max ||
	    (img != NULL && (off > img->size || len > img->size - off)))
		return -EINVAL;
	msg = malloc(sizeof(*msg));
	if (msg == NULL)
		return -ENOMEM;
	msg->port = port;
	msg->peer = peer;
	msg->img = img;
	msg->off = off;
	msg->len = len;
	msg->cookie = cookie;
	if (rte_ring_mp_enqueue(expect_ring, msg) != 0) {
		free(msg);
		return -EAGAIN; /* the caller keeps its reference */
	}
	return 0;
}

static void
expect_drop(struct mb_dp_tcp *t, struct expect *x)
{
	if (x->img != NULL)
		mb_image_unref(x->img);
	x->img = NULL;
	x->active = false;
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

uint32_t
mb_dp_tcp_poll(struct mb_dp_tcp *t, uint64_t now_ns)
{
	void *msgs[16];
	unsigned n;

	t->now = now_ns;
	if (t->owns_ring) {
		n = rte_ring_sc_dequeue_burst(expect_ring, msgs, 16, NULL);
		for (unsigned i = 0; i < n; i++) {
			struct expect_msg *msg = msgs[i];
			struct expect *x = &t->expects[msg->port - t->pasv_min];

			if (x->active && (x->cookie != msg->cookie || x->img != NULL))
				expect_drop(t, x); /* the control thread reused the port */
			if (!x->active) {
				x->active = true;
				x->peer = msg->peer;
				x->cookie = msg->cookie;
				x->conn = NULL;
			}
			x->img = msg->img;
			x->off = msg->off;
			x->len = msg->len;
			x->deadline = now_ns + EXPECT_TIMEOUT_NS;
			free(msg);
			if (x->img != NULL && x->conn != NULL)
				expect_start(t, x);
		}
		/* expectations nobody connected to */
		for (unsigned p = 0; p <= (unsigned)(t->pasv_max - t->pasv_min); p++)
			if (t->expects[p].active && t->expects[p].deadline <= now_ns)
				expect_drop(t, &t->expects[p]);
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
	p.initial_window = (uint32_t)cfg->initial_window;
	p.idle_timeout_ns = cfg->tcp_idle_timeout * 1000000000ULL;
	p.max_conns_per_src = (uint32_t)cfg->max_conns_per_src;
	p.max_app_per_src = (uint32_t)cfg->partial_reqs_per_src;
	p.mss = t->mss;
	r = rte_rand();
	memcpy(p.secret, &r, 8);
	r = rte_rand();
	memcpy(p.secret + 8, &r, 8);
	t->stack = mb_tcp_stack_new(&p, &dp_ops, t);
	if (t->stack == NULL)
		goto err_stack;
	if (conf->tx_multiseg) {
		char name[RTE_MEMPOOL_NAMESIZE];

		snprintf(name, sizeof(name), "mbtx%p", (void *)t);
		/* a few more than the mbuf pool can have in flight at once */
		t->ext_pool = rte_mempool_create(name, conf->pool->size, sizeof(struct ext_desc),
						 32, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
		/* without it every payload is copied: slower, still correct */
	}
	if (expect_ring == NULL) {
		expect_ring = rte_ring_create("mb_tcp_expect", 256, SOCKET_ID_ANY, RING_F_SC_DEQ);
		if (expect_ring == NULL) {
			errno = rte_errno;
			goto err_ring;
		}
		ring_pasv_min = t->pasv_min;
		ring_pasv_max = t->pasv_max;
		t->owns_ring = true;
	}
	return t;

err_ring:
	rte_mempool_free(t->ext_pool);
	mb_tcp_stack_free(t->stack);
err_stack:
	free(t->expects);
err_expects:
	free(t);
	return NULL;
}

void
mb_dp_tcp_free(struct mb_dp_tcp *t)
{
	void *msg;

	if (t == NULL)
		return;
	mb_tcp_stack_free(t->stack);
	tx_flush(t, true);
	for (unsigned p = 0; p <= (unsigned)(t->pasv_max - t->pasv_min); p++)
		if (t->expects[p].active)
			expect_drop(t, &t->expects[p]);
	if (t->owns_ring) {
		while (rte_ring_sc_dequeue(expect_ring, &msg) == 0) {
			mb_image_unref(((struct expect_msg *)msg)->img);
			free(msg);
		}
		rte_ring_free(expect_ring);
		expect_ring = NULL;
	}
	/* payload mbufs still queued in a driver hold descriptors: the caller
	 * stops the port (draining TX) before freeing us */
	rte_mempool_free(t->ext_pool);
	free(t->expects);
	free(t);
}

const struct mb_tcp_counters *
mb_dp_tcp_counters(const struct mb_dp_tcp *t)
{
	return mb_tcp_stack_counters(t->stack);
}

json_t *
mb_dp_tcp_stats_json(const struct mb_dp_tcp *t)
{
	const struct mb_tcp_counters *k = mb_tcp_stack_counters(t->stack);
	const struct mb_tcp_http_counters *h = mb_tcp_http_counters();
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
#define MB_DP_TCP_JSON(n, help) json_object_set_new(o, "tcp_" #n, json_integer((json_int_t)k->n));
	MB_TCP_COUNTERS(MB_DP_TCP_JSON)
#undef MB_DP_TCP_JSON
#define MB_DP_HTTP_JSON(n, help) json_object_set_new(o, "http_" #n, json_integer((json_int_t)h->n));
	MB_TCP_HTTP_COUNTERS(MB_DP_HTTP_JSON)
#undef MB_DP_HTTP_JSON
	json_object_set_new(o, "tcp_conns", json_integer(mb_tcp_stack_nconns(t->stack)));
	json_object_set_new(o, "tcp_rx_bad_l3", json_integer((json_int_t)t->rx_bad_l3));
	json_object_set_new(o, "tcp_rx_bad_cksum", json_integer((json_int_t)t->rx_bad_cksum));
	json_object_set_new(o, "tcp_tx_busy", json_integer((json_int_t)t->tx_busy));
	json_object_set_new(o, "tcp_rx_bad_tcp", json_integer((json_int_t)t->rx_bad_tcp));
	json_object_set_new(o, "tcp_rx_multiseg", json_integer((json_int_t)t->rx_multiseg));
	json_object_set_new(o, "tcp_tx_nombuf", json_integer((json_int_t)t->tx_nombuf));
	json_object_set_new(o, "tcp_tx_drop", json_integer((json_int_t)t->tx_drop));
	json_object_set_new(o, "tcp_tx_copied", json_integer((json_int_t)t->tx_copied));
	json_object_set_new(o, "tcp_tx_zerocopy", json_integer((json_int_t)t->tx_zerocopy));
	json_object_set_new(o, "tcp_tx_copy_nodma", json_integer((json_int_t)t->tx_copy_nodma));
	json_object_set_new(o, "tcp_tx_oversize", json_integer((json_int_t)t->tx_oversize));
	json_object_set_new(o, "tcp_mss", json_integer(t->mss));
	return o;
}
