/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the dataplane, passed explicitly between its parts:
 *
 *   struct mb_dp        one dataplane: its port, the Frisbee session slots,
 *                       the settings reload may change, the channel to the
 *                       control thread, and its lcore contexts;
 *   struct mb_dp_port   one DPDK port: what probing found, its pools, link
 *                       state, pacing bucket, exception TAP (dp_port.c,
 *                       dp_exc.c);
 *   struct mb_dp_lcore  what one lcore owns while it serves one queue of
 *                       the port: its TX backlog, its counters (single
 *                       writer; snapshots sum the lcores), neighbour table
 *                       and ARP pending queue (dp_l3.c), its TCP stack
 *                       (dp_tcp.c), the events the ring could not take yet
 *                       (dp_chan.c).
 *
 * Workers (dpdk.workers, dp_lcore.c): the first N lcores to enter
 * mb_dp_lcore_main take worker contexts 0..N-1, the others sleep until
 * stop.  Worker i sends on TX queue i and receives on RX queue i when the
 * port has one per worker (with RSS where offered), else worker 0 receives
 * everything.  A
 * frame a worker does not own goes to its owner's inbox (an rte_ring of
 * mbufs): a Frisbee datagram to the worker of its session, everything that
 * is not a Frisbee datagram (ARP, ICMP, IGMP, TCP, the exception path) to
 * worker 0, which alone talks to the TAP, the port's control functions and
 * the IGMP querier, and runs the TCP stack.  ARP replies to us are copied
 * to every other worker: each keeps its own neighbour table.  Nothing below
 * reaches a file-scope singleton: dp_main.c holds the one struct mb_dp and
 * hands pointers down.
 *
 * Session slots: preallocated (frisbee.max-sessions) and never freed while
 * the dataplane runs, so the control thread can read their counters at any
 * time.  FREE -> RESERVED (control filled it and posted START) -> ACTIVE
 * (the lcore runs it) -> ENDED (the lcore posted SESSION_END, or keeps it
 * pending while the event ring is full) -> FREE (the control thread reaped
 * it on the event).
 */
#ifndef _MB_DP_PRIV_H_
#define _MB_DP_PRIV_H_

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "dp.h"
#include "dp_counters.h"
#include "dp_tcp.h"
#include "dp_zc.h"
#include "fris_nodes.h"
#include "fris_wire.h"
#include "fris_wq.h"
#include "mb_igmp.h"
#include "mb_tbucket.h"

#define DP_TXQ_MAX 1024 /* TX backlog of an lcore (frames) */
#define DP_NEIGH_MAX 64
#define DP_PEND_MAX 64
#define DP_LCORES_MAX MB_DP_WORKERS_MAX /* worker contexts (queues): dpdk.workers */
#define DP_INBOX 4096	 /* frames another worker may hand to one worker */

struct mb_dp;

/* ---- the port ------------------------------------------------------------- */

struct mb_dp_exc {
	bool on;
	uint16_t port; /* the net_tap port */
};

struct mb_dp_port {
	uint16_t id;
	const char *driver;
	uint32_t addr;	  /* network order */
	uint32_t mask;	  /* network order */
	uint32_t gateway; /* network order, 0 = none */
	uint16_t mtu;
	uint16_t burst;
	struct rte_ether_addr mac;
	bool tx_ip_cksum, tx_tcp_cksum, rx_ip_cksum, tx_multiseg;
	bool tx_tso;	   /* TCP_TSO enabled (with both checksums and chains) */
	uint16_t tso_segs; /* mbufs a TSO frame may have (the port's limits) */
	bool tso_l2_in_mtu; /* the PMD counts the Ethernet header in a segment's MTU */
	bool mc_list_ok; /* exact multicast filter, else allmulticast */
	bool is_virtual; /* software port: its link speed is a made-up constant */
	bool is_af_xdp;	 /* net_af_xdp: completions are reaped only inside tx_burst */
	bool started;
	uint16_t nrxq, ntxq; /* queues configured: ntxq = workers, nrxq = 1 or workers */
	bool rss;	     /* RSS configured over the nrxq queues (rss_hf) */
	uint64_t rss_hf;
	/* af_packet, af_xdp: their PMDs report a fixed link, so the carrier of
	 * the kernel interface under them is read too (dp_port_link_poll) */
	bool kif;
	int kif_fd;
	char kif_name[16];
	struct rte_mempool *pool;
	struct mb_dp_zc zc; /* payload attachment (dp_zc.h); pool NULL = copy */
	struct mb_dp_exc exc;
	/* written by the lcore of queue 0, read by anyone */
	_Atomic bool link_up;
	_Atomic uint64_t link_speed_bps;
	_Atomic uint64_t rate; /* nominal rate (stats, dynamic rate ceiling) */
	/* the lcore of queue 0 sets the rate; every worker takes from it, under
	 * tb_lock when there are several */
	struct mb_tbucket tb;
	rte_spinlock_t tb_lock;
	bool tb_shared;
};

/* ---- settings the control thread changes (mb_dp_reconfig) ----------------- */

struct mb_dp_tunables {
	_Atomic uint64_t idle_sleep_us;
	_Atomic uint64_t fris_rate;
	_Atomic uint64_t port_rate;
	_Atomic uint64_t fris_idle_timeout_s;
	_Atomic int fris_linger; /* enum mb_fris_linger */
	_Atomic uint64_t unicast_resend; /* percent */
	_Atomic bool dynamic_rate;
	_Atomic uint32_t mcast_ttl;
	_Atomic uint32_t igmp_querier;	   /* enum mb_igmp_querier_mode */
	_Atomic uint32_t max_nodes;	   /* per session (not reloadable) */
	_Atomic uint32_t max_fallback;	   /* per session (not reloadable) */
	_Atomic uint64_t igmp_query_interval_s;
	_Atomic uint32_t igmp_lmqc;	   /* last member query count */
	_Atomic uint32_t igmp_lmqi_tenths; /* last member query interval, 1/10 s */
	_Atomic uint32_t tcp_initial_window;
	_Atomic uint64_t tcp_idle_timeout_ns;
	_Atomic int tcp_cc; /* enum mb_tcp_cc */
	_Atomic uint32_t gen; /* bumped last: the lcore re-applies TCP settings */
};

/* ---- Frisbee sessions ------------------------------------------------------- */

/* Clients a session tracks for linger LEAVE; with more, it ends by idle
 * timeout only. */
#define MB_DP_SESS_CLIENTS 128
/* Seconds from the last client's LEAVE to the end (frisbeed's -T -1). */
#define MB_DP_LEAVE_LINGER_S 2

struct mb_dp_sess {
	_Atomic int state; /* enum mb_dp_sess_state */

	/* Written by the control thread before START, read-only afterwards. */
	uint32_t id;
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	uint16_t owner; /* the worker that runs it (dp_chan.c picks it) */
	enum mb_fris_method method;
	char name[MB_IMAGE_NAME_MAX + 1];
	uint64_t version;
	uint64_t size;
	uint64_t nblocks;
	uint32_t nchunks;
	uint64_t rate_bps;	 /* frisbee.rate: cap; 0 = none (the port's rate) */
	uint64_t idle_timeout_s; /* without progress; 0 = never */
	enum mb_fris_linger linger; /* IDLE, NEVER or LEAVE */
	uint64_t budget;	 /* blocks it may send in all (unicast), UINT64_MAX = no bound */
	bool dynamic;		 /* adaptive rate (frisbee.dynamic-rate) */
	/* Blocks sent this round (dp_fris.c, lifetime rule): one allocation,
	 * a 1024-bit map (16 words) per chunk, then per chunk the round its
	 * map is of (a stale map reads as empty, so a new round costs
	 * nothing), then per chunk the round it was last re-sent in, plus 1
	 * (0: never). */
	uint64_t *sent_map;
	uint32_t *map_round;
	uint32_t *resend_round;
	/* Cut-through (dp_fris.c, fris_park): the chunks asked for while
	 * absent, pk_words words of a bit per chunk for the group, then as
	 * many for the nodes served alone; in the same allocation as
	 * sent_map, NULL when the image is whole.  The lcore writes them. */
	uint64_t *parked;
	uint32_t pk_words;
	struct mb_image *img; /* the session's reference */
	struct mb_fris_wq *wq;
	/* Its nodes (fris_nodes.h): progress, unicast fallback.  The lcore
	 * writes it, the control thread reads the node array (snapshots). */
	struct mb_fris_nodes *nodes;

	/* Lcore only. */
	bool stop_req;
	bool end_posted; /* SESSION_END is in the event ring */
	struct mb_fris_run run;	/* the group's run in flight */
	uint32_t push_left; /* passes over every chunk still to send unrequested */
	uint32_t round;	      /* current round */
	uint64_t round_left;  /* blocks not yet sent this round */
	uint64_t last_progress; /* TSC: start, or last block new to its round */
	/* Linger LEAVE: the clients that JOINed and have not left (by id),
	 * whether more came than fit, and when the session ends (TSC, 0 =
	 * not scheduled). */
	uint32_t clients[MB_DP_SESS_CLIENTS];
	uint32_t nclients;
	bool clients_lost;
	uint64_t leave_end;
	/* JOIN replies (dp_fris.c, fris_join_allowed) to the nodes the table
	 * does not track: their shared window */
	struct mb_cwin join_untracked;
	uint64_t next_igmp; /* TSC: unsolicited report repeat */
	int igmp_repeats;
	struct mb_tbucket tb;
	struct mb_rate_adapt ra;   /* the adaptive rate, when dynamic */
	uint64_t cap;		   /* rate ceiling: rate_bps, else the port's rate */
	uint64_t t_bits;	   /* bits sent to the group since the last rate tick */
	bool t_overrun;		   /* TX backlog full since the last rate tick */
	bool t_idle;		   /* ran out of work since the last rate tick */
	uint32_t fb_rr;		   /* next node served alone to visit */
	uint64_t fb_seen;	   /* nodes moved out of the group, at the last rate tick */
	/* Cut-through (dp_fris.c, fris_park): how many chunks are parked
	 * (bits set in both maps); the image's fill generation at the last
	 * walk of the maps. */
	uint32_t nparked;
	uint64_t parked_gen;

	/* Lcore writes, control reads relaxed. */
	_Atomic uint64_t cur_rate;
	_Atomic uint32_t wq_depth;
	_Atomic uint32_t loss_ppm; /* the group's loss signal, last tick */
	uint64_t ctr[MB_DP_S_MAX];
	uint64_t drop[MB_FRIS_RESULT_MAX];

	/* Control thread only: last tx_bytes sample for the measured rate. */
	uint64_t rd_bytes, rd_tsc, rd_bps;
} __rte_cache_aligned; /* slots of different workers share no line */

struct mb_dp_fris {
	struct mb_dp_sess *sess;
	uint32_t max;	  /* frisbee.max-sessions */
	uint32_t next_id; /* control thread */
};

/* ---- the channel (dp_chan.c) ----------------------------------------------- */

/* Newest unposted transfer end of a passive port (lcore only). */
struct dp_xfer_pend {
	uint64_t cookie;
	bool valid, ok;
};

struct mb_dp_chan {
	struct rte_ring *cmd[DP_LCORES_MAX]; /* struct dp_cmd, control -> each worker */
	struct rte_ring *ev;  /* struct mb_dp_event, workers -> control (MP) */
	int efd;	      /* wakes the control loop */
	/* worker 0 only (FTP data and the link are its): what the event ring
	 * could not take yet */
	struct dp_xfer_pend *xfer; /* one per passive port */
	uint16_t pasv_min, npasv;
	bool xfer_pending;
	bool link_pending;
};

/* ---- an lcore's context ------------------------------------------------------ */

struct dp_neigh {
	uint32_t ip;
	struct rte_ether_addr mac;
	bool valid;
	uint64_t seen;	   /* TSC: last confirmed (valid), or slot taken */
	uint64_t next_req; /* TSC: rate limit for our ARP requests */
	uint64_t asked;	   /* TSC: our request awaiting its reply since, 0 = none */
};

struct dp_pend {
	struct rte_mbuf *m;
	uint32_t nexthop;
	uint64_t since;
};

struct mb_dp_lcore {
	struct mb_dp *dp;
	struct mb_dp_port *port;
	uint16_t queue;	 /* the worker's index: its TX queue, its RX queue if rx */
	bool rx;	 /* polls RX queue `queue` of the port */
	_Atomic int lcore; /* EAL lcore running it, -1 before it starts */
	uint64_t hz;
	struct rte_ring *inbox; /* frames other workers hand over (MP/SC), NULL alone */
	uint32_t rr;	   /* round-robin start among its sessions */
	bool ends_pending; /* an ENDED slot of its own has its event not posted yet */

	struct rte_mbuf *txq[DP_TXQ_MAX];
	unsigned ntx;
	uint64_t ctr[MB_DP_C_MAX]; /* single writer, read relaxed */

	struct dp_neigh neigh[DP_NEIGH_MAX];
	struct dp_pend pend[DP_PEND_MAX];
	unsigned npend;
	uint16_t ip_id;

	struct mb_dp_tcp *tcp; /* NULL if tcp.enable is off */
	uint32_t tcp_gen;      /* tunables generation applied to it */
	uint64_t next_slow;    /* TSC */
	uint64_t next_reap;    /* TSC: net_af_xdp's completions reaped on an idle pass */

#ifdef MB_FAULT_HOOKS
	_Atomic unsigned fault_rx, fault_tx, fault_reorder;
	uint64_t fault_seed;
#endif
} __rte_cache_aligned; /* workers' contexts share no line */

/* The IGMP querier of the port (dp_l3.c): lcore of queue 0; the control
 * thread reads its counters relaxed. */
struct dp_igmp {
	struct mb_igmp_querier q;
	uint32_t mode;	       /* applied tunables */
	uint64_t interval_s;
};

struct mb_dp {
	bool initialised;
	_Atomic bool stop;
	_Atomic unsigned joined; /* lcores that entered mb_dp_lcore_main */
	uint64_t hz;
	struct mb_dp_port port;
	struct mb_dp_tunables tun;
	struct mb_dp_fris fris;
	struct dp_igmp igmp;
	struct mb_dp_chan chan;
	struct mb_dp_lcore lc[DP_LCORES_MAX];
	unsigned nlc;
	/* groups the kernel joined (mb_dp_kernel_group; 0 = free): written by
	 * the control thread, read by the lcores; dirty asks queue 0's lcore
	 * to refresh the port's multicast filter */
	_Atomic uint32_t kgroup[MB_DP_KGROUPS_MAX];
	_Atomic bool kgroup_dirty;
	/* fill queues (mb_dp_fill_add; NULL = free) and how many: written by
	 * the control thread, read by the lcores between quiescent states */
	struct mb_fillq *_Atomic fill[MB_DP_FILLS_MAX];
	_Atomic unsigned int nfill;
};

/* Did the kernel join `group` (network order)?  Any lcore. */
static inline bool
dp_group_kernel(const struct mb_dp *dp, uint32_t group)
{
	for (unsigned i = 0; i < MB_DP_KGROUPS_MAX; i++)
		if (atomic_load_explicit(&dp->kgroup[i], memory_order_relaxed) == group)
			return true;
	return false;
}

/* The one dataplane of the process (dp_main.c), for the public entry points
 * only; everything else receives its pointers. */
struct mb_dp *dp_instance(void);

/* ---- counters ----------------------------------------------------------------- */

static inline void
dp_count(struct mb_dp_lcore *lc, enum mb_dp_ctr c, uint64_t n)
{
	/* Single writer: a relaxed load/store pair is enough for readers. */
	__atomic_store_n(&lc->ctr[c], lc->ctr[c] + n, __ATOMIC_RELAXED);
}

static inline uint64_t
dp_rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Narrower single-writer words of the lcore's state, read by the control
 * thread (snapshots). */
static inline uint32_t
dp_rd32(const void *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

static inline int16_t
dp_rd16(const int16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint8_t
dp_rd8(const uint8_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- the port (dp_port.c); lcore functions take the lcore ------------------- */

/* Probe, configure and start the port of cfg (pools, queues, offloads,
 * multicast filter, the XDP check on net_af_xdp).  0 or -errno (logged). */
int dp_port_init(struct mb_dp_port *port, const struct mb_config *cfg);
/* Stop and close the port, free its pools (after the lcores returned). */
void dp_port_fini(struct mb_dp_port *port);
/* Link state (posts MB_DP_EV_LINK on a change, or always when force). */
void dp_port_link_poll(struct mb_dp_lcore *lc, bool force);
/* Port pacing from frisbee.port-rate or the link speed. */
void dp_port_rate_apply(struct mb_dp_lcore *lc, uint64_t now);
/* The port bucket: take up to n frames of `bits` (how many allowed), and
 * the ticks until `bits` are available. */
uint32_t dp_port_take(struct mb_dp_port *port, uint64_t bits, uint32_t n, uint64_t now);
uint64_t dp_port_wait(struct mb_dp_port *port, uint64_t bits, uint64_t now);
/* The exact multicast filter from the active multicast sessions. */
void dp_port_mc_update(struct mb_dp *dp);
/* The packet pool of a port: n mbufs of data_room bytes (headroom
 * included).  umem: net_af_xdp will register the pool's memory as its UMEM
 * (see dp_port.c).  NULL with rte_errno. */
struct rte_mempool *dp_pool_create(const char *name, unsigned n, unsigned data_room, bool umem,
				   int socket);
/* Does every object of mp lie inside the span net_af_xdp (22.11)
 * registers as its UMEM (from the page of the first memory chunk,
 * populated_size objects back to back)?  A frame in an object outside it is
 * an invalid descriptor to the kernel: dropped on TX, lost from the fill
 * ring on RX. */
bool dp_pool_umem_ok(struct rte_mempool *mp);
/* A packet mbuf (NULL counted). */
struct rte_mbuf *dp_alloc(struct mb_dp_lcore *lc);
/* n packet mbufs at once: 0, or -ENOMEM (none taken, counted). */
int dp_alloc_bulk(struct mb_dp_lcore *lc, struct rte_mbuf **m, unsigned n);
/* Queue a complete frame for the port (takes m; 0, or -ENOBUFS: freed and
 * counted).  Frames leave at the end of the loop pass. */
int dp_tx_frame(struct mb_dp_lcore *lc, struct rte_mbuf *m);
/* Room left in the TX backlog (frames). */
unsigned dp_tx_room(const struct mb_dp_lcore *lc);
/* Send the backlog; what the ring does not take stays.  Frames sent. */
unsigned dp_tx_flush(struct mb_dp_lcore *lc);
/* Fill the IPv4 header checksum (offload if the port has it). */
void dp_ip_cksum(const struct mb_dp_port *port, struct rte_mbuf *m, struct rte_ipv4_hdr *ip);

/* ---- the exception path (dp_exc.c) --------------------------------------------- */

int dp_exc_init(struct mb_dp_port *port, const char *ifname);
void dp_exc_fini(struct mb_dp_port *port);
/* Give a frame to the kernel (takes m). */
void dp_to_kernel(struct mb_dp_lcore *lc, struct rte_mbuf *m);
/* Frames the kernel sent on the TAP, queued for the port: how many. */
unsigned dp_from_kernel(struct mb_dp_lcore *lc);

/* ---- L3: neighbours, ARP, ICMP, IGMP (dp_l3.c) ---------------------------------- */

void dp_arp_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth);
void dp_icmp_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth,
		   struct rte_ipv4_hdr *ip, uint16_t l4_len);
void dp_igmp_input(struct mb_dp_lcore *lc, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
		   uint16_t l4_len);
/* IGMP v2 report (or leave) for a group. */
void dp_igmp_send(struct mb_dp_lcore *lc, uint32_t group, bool leave);
/* The querier: settings, activity (multicast sessions), queries due.  Every
 * 100 ms, lcore of queue 0. */
void dp_igmp_timers(struct mb_dp_lcore *lc, uint64_t now);
/* Is a multicast group used by an active session? */
bool dp_group_served(const struct mb_dp *dp, uint32_t group);
/* Next hop for a destination: itself on our subnet, else dpdk.gateway. */
uint32_t dp_nexthop(const struct mb_dp_port *port, uint32_t dst);
/* Neighbour MAC for an on-link address, or false (an ARP request goes out,
 * rate limited).  MACs come only from replies to our own requests. */
bool dp_neigh_resolve(struct mb_dp_lcore *lc, uint32_t ip, struct rte_ether_addr *ret_mac);
/* Route an IPv4 frame (first 14 bytes reserved): resolve the next hop,
 * holding it in the bounded pending queue.  Takes m.  0 or -errno. */
int dp_ip_output(struct mb_dp_lcore *lc, struct rte_mbuf *m, uint32_t dst);
/* Pending frames waiting longer than 2 s are dropped (counted). */
void dp_pend_expire(struct mb_dp_lcore *lc, uint64_t now);
/* Free whatever the lcore still holds (pending frames). */
void dp_l3_fini(struct mb_dp_lcore *lc);

/* ---- Frisbee (dp_fris.c) ------------------------------------------------------ */

/* A UDP datagram to (dst, dport); true if a session took it (m not freed). */
bool dp_fris_input(struct mb_dp_lcore *lc, uint32_t src, uint32_t dst, uint16_t sport,
		   uint16_t dport, const uint8_t *payload, uint32_t len);
void dp_fris_activate(struct mb_dp_lcore *lc, struct mb_dp_sess *s, uint64_t now);
/* Send what the pacers allow; frames queued.  ret_wait: ticks until a
 * session could send again (UINT64_MAX if none waits). */
unsigned dp_fris_tx(struct mb_dp_lcore *lc, uint64_t now, uint64_t *ret_wait);
/* Slow timers: idle timeouts, nodes and the adaptive rates, IGMP repeats. */
void dp_fris_timers(struct mb_dp_lcore *lc, uint64_t now);
/* End a session on the lcore: leave, mark ended, post the event. */
void dp_fris_end(struct mb_dp_lcore *lc, struct mb_dp_sess *s);
/* Control thread: fill a FREE slot for p (work queue, sent map, s->img;
 * the caller's image reference becomes the slot's once START is posted).
 * 0 or -errno. */
int dp_fris_slot_prepare(struct mb_dp *dp, struct mb_dp_sess *s,
			 const struct mb_fris_session_params *p);
/* Undo dp_fris_slot_prepare (the caller keeps its reference); FREE. */
void dp_fris_slot_unprepare(struct mb_dp_sess *s);
/* Release a slot: work queue, map, image reference; FREE. */
void dp_fris_slot_release(struct mb_dp_sess *s);

/* ---- the channel (dp_chan.c) ------------------------------------------------- */

int dp_chan_init(struct mb_dp_chan *ch, const struct mb_config *cfg);
void dp_chan_fini(struct mb_dp *dp);
/* Lcore: apply the queued commands; how many. */
unsigned dp_chan_commands(struct mb_dp_lcore *lc, uint64_t now);
/* Lcore: post what could not be posted before. */
void dp_chan_flush(struct mb_dp_lcore *lc);
/* Lcore: events (kept as pending state when the ring is full). */
void dp_chan_post_session_end(struct mb_dp_lcore *lc, struct mb_dp_sess *s);
void dp_chan_post_link(struct mb_dp_lcore *lc);
/* The TCP glue's transfer-end callback (arg: the lcore). */
void dp_chan_xfer_done(void *arg, uint16_t port, uint64_t cookie, bool ok);

/* ---- the loop (dp_lcore.c) ------------------------------------------------------ */

/* Set up worker q's context (TCP stack on worker 0, inbox when several). */
int dp_lcore_init(struct mb_dp *dp, struct mb_dp_lcore *lc, uint16_t q,
		  const struct mb_config *cfg);
void dp_lcore_fini(struct mb_dp_lcore *lc);
/* Run the poll loop until dp->stop. */
void dp_lcore_run(struct mb_dp_lcore *lc);
/* Hand m to worker w's inbox (takes m; counted, dropped when full). */
void dp_dispatch(struct mb_dp_lcore *lc, unsigned w, struct rte_mbuf *m);
/* The worker of the active session a datagram to (dst, dport) from src
 * belongs to, or -1 (dp_fris.c). */
int dp_fris_owner(struct mb_dp_lcore *lc, uint32_t src, uint32_t dst, uint16_t dport);
/* The port's multicast filter must follow the sessions: at once on worker
 * 0, on worker 0's next pass from the others. */
void dp_mc_changed(struct mb_dp_lcore *lc);

#ifdef MB_FAULT_HOOKS
/* Drop `rx_pct`/`tx_pct` percent of frames (test builds only, meson
 * -Dfault_hooks=true).  minibossd reads MB_FAULT_DROP_RX, MB_FAULT_DROP_TX
 * and MB_FAULT_REORDER (percent of TX frames swapped with the next one) from
 * its environment at mb_dp_init. */
bool dp_fault_drop(struct mb_dp_lcore *lc, unsigned pct);
#endif

#endif /* _MB_DP_PRIV_H_ */
