/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private state of the dataplane, shared by dp.c (port, L2/L3, exception
 * path, lifecycle), dp_fris.c (the Frisbee engine) and the TCP glue.
 *
 * One lcore owns the port (the first to enter mb_dp_lcore_main, normally the
 * main lcore); it is the only writer of every counter below, so "per-lcore
 * counters summed on read" reduces to plain single-writer words read
 * relaxed by the control thread.  Session slots are preallocated
 * (frisbee.max-sessions) and never freed while the dataplane runs, so the
 * control thread can read their counters at any time without a lock.
 *
 * Ownership of a session slot: the control thread reserves it and fills the
 * metadata and the prebuilt objects (work queue, zero-copy handle), then
 * posts a START command; the lcore runs it until it ends, marks it ended and
 * flags the control thread (eventfd); mb_dp_events_poll() (control thread)
 * finds every ENDED slot, frees the work queue, drops the session's image
 * reference, releases the slot and reports MB_DP_EV_SESSION_END.  The slot's
 * state is the event, so no END can be lost however late it is read.
 */
#ifndef _MB_DP_PRIV_H_
#define _MB_DP_PRIV_H_

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "dp.h"
#include "fris_wire.h"
#include "fris_wq.h"
#include "mb_tbucket.h"

/* Port and engine counters: name, help. */
#define MB_DP_COUNTERS(X)                                                      \
	X(rx_pkts, "frames received on the port")                              \
	X(rx_bytes, "bytes received on the port")                              \
	X(tx_pkts, "frames sent on the port")                                  \
	X(tx_bytes, "bytes sent on the port")                                  \
	X(tx_full, "frames the TX ring did not take at once (retried)")        \
	X(tx_drop, "frames dropped because the TX backlog was full")           \
	X(no_mbuf, "mbuf allocation failures")                                 \
	X(arp_rx, "ARP frames received")                                       \
	X(arp_reply_tx, "ARP replies sent for our address")                    \
	X(arp_req_tx, "ARP requests sent to resolve peers")                    \
	X(arp_learn, "neighbour MACs learned from replies to our requests")    \
	X(arp_unsolicited, "ARP replies/announcements we did not ask for (not learned)") \
	X(arp_conflict, "ARP frames giving a known neighbour another MAC (ignored)") \
	X(arp_pending_drop, "frames dropped waiting for ARP (queue full/timeout)") \
	X(icmp_echo, "ICMP echo requests answered")                            \
	X(igmp_query, "IGMP queries received")                                 \
	X(igmp_report_tx, "IGMP v2 membership reports sent")                   \
	X(igmp_leave_tx, "IGMP v2 leave messages sent")                        \
	X(exc_to_kernel, "frames passed to the exception TAP")                 \
	X(exc_from_kernel, "frames from the exception TAP sent on the port")   \
	X(exc_drop, "exception frames dropped (no TAP or TAP full)")           \
	X(drop_l2, "frames too short or unknown ethertype without TAP")        \
	X(drop_ip_hdr, "IPv4 header invalid (version, ihl, length)")           \
	X(drop_ip_cksum, "IPv4 header checksum wrong")                         \
	X(drop_ip_frag, "IPv4 fragments")                                      \
	X(drop_not_ours, "IPv4 to an address we do not serve")                 \
	X(drop_udp, "UDP header or length invalid")                            \
	X(drop_arp, "malformed ARP")                                           \
	X(drop_multiseg, "multi-segment frames received")                      \
	X(drop_fault, "frames dropped by the test fault hook")                 \
	X(fault_reordered, "frames swapped with their neighbour by the test hook") \
	X(ev_lost, "link events the ring could not take (the state is read anyway)") \
	X(fris_rx, "Frisbee datagrams received")                               \
	X(fris_no_session, "UDP to a Frisbee-looking port with no session")    \
	X(tcp_rx, "TCP segments handed to the userspace TCP")                  \
	X(link_changes, "link state changes seen")                             \
	X(sessions_started, "Frisbee sessions started")                        \
	X(sessions_ended, "Frisbee sessions ended")                            \
	X(rx_csum_partial, "TCP/UDP checksums left partial by a virtual link, completed") \
	X(tx_copy_nodma, "BLOCK payloads copied: image memory not DMA-safe (heap, mmap)")

enum mb_dp_ctr {
#define MB_DP_X_ENUM(n, h) MB_DP_C_##n,
	MB_DP_COUNTERS(MB_DP_X_ENUM)
#undef MB_DP_X_ENUM
	MB_DP_C_MAX
};

/* Per-session counters; drops by decode reason are kept beside them. */
#define MB_DP_SESS_COUNTERS(X)                                                 \
	X(rx_pkts, "datagrams received for the session")                       \
	X(tx_pkts, "frames sent (BLOCKs and JOIN replies)")                    \
	X(tx_bytes, "UDP payload bytes sent")                                  \
	X(blocks, "BLOCK packets sent")                                        \
	X(joins, "JOIN v1 received")                                           \
	X(joins2, "JOIN2 received")                                            \
	X(requests, "REQUEST received")                                        \
	X(prequests, "PREQUEST received")                                      \
	X(merged, "requests merged into queued work")                          \
	X(rerequests, "PREQUEST retries that added work")                      \
	X(wq_drops, "requests the work queue dropped")                         \
	X(leaves, "LEAVE and LEAVE2 received")                                 \
	X(progress, "PROGRESS reports received")                               \
	X(ignored, "own packets, replies and BLOCKs from others")              \
	X(drops, "datagrams dropped (sum of the reasons)")                     \
	X(no_neigh, "send passes skipped waiting for the client's ARP")        \
	X(overruns, "TX ring full while sending")                              \
	X(rounds, "rounds completed (every block of the image sent once)")     \
	X(budget_refused, "requests refused: unicast output budget spent")

enum mb_dp_sctr {
#define MB_DP_X_ENUM(n, h) MB_DP_S_##n,
	MB_DP_SESS_COUNTERS(MB_DP_X_ENUM)
#undef MB_DP_X_ENUM
	MB_DP_S_MAX
};

/* Zero-copy handle: an image reference shared by the mbufs that point into
 * it.  The shinfo refcount counts the owner plus every in-flight mbuf; the
 * last one drops the image reference and frees the handle (any thread). */
struct mb_dp_zc {
	struct rte_mbuf_ext_shared_info shinfo;
	struct mb_image *img;
};

enum mb_dp_sess_state {
	MB_DP_SESS_FREE = 0,
	MB_DP_SESS_RESERVED, /* control filled it, START posted */
	MB_DP_SESS_ACTIVE,   /* lcore runs it */
	MB_DP_SESS_ENDED,    /* lcore done; the control thread reaps it */
};

struct mb_dp_sess {
	_Atomic int state;

	/* Written by the control thread before START, read-only afterwards. */
	uint32_t id;
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	enum mb_fris_method method;
	char name[MB_IMAGE_NAME_MAX + 1];
	uint64_t version;
	uint64_t size;
	uint64_t nblocks;
	uint32_t nchunks;
	uint64_t rate_bps;	 /* 0 = unlimited (port bucket only) */
	uint64_t idle_timeout_s; /* without progress; 0 = never */
	uint64_t budget;	 /* blocks it may send in all (unicast), UINT64_MAX = no bound */
	/* Blocks sent this round (dp_fris.c, lifetime rule): one allocation,
	 * a 1024-bit map per chunk, then per chunk the round its map is of
	 * (a stale map reads as empty, so a new round costs nothing). */
	uint8_t *sent_map;
	uint32_t *map_round;
	struct mb_image *img;	 /* the session's reference (kept in zc too) */
	struct mb_dp_zc *zc;
	struct mb_fris_wq *wq;

	/* Lcore only. */
	bool stop_req;
	bool in_run;
	uint32_t run_chunk, run_block, run_left;
	uint32_t push_left; /* passes over every chunk still to send unrequested */
	uint32_t round;	      /* current round */
	uint64_t round_left;  /* blocks not yet sent this round */
	uint64_t last_progress; /* TSC: start, or last block new to its round */
	uint64_t next_arp;  /* TSC: unicast, next ARP request for the client */
	uint64_t next_igmp; /* TSC: unsolicited report repeat */
	int igmp_repeats;
	struct mb_tbucket tb;
	struct mb_tbucket_dyn dyn;
	bool dynamic;

	/* Lcore writes, control reads relaxed. */
	_Atomic uint64_t cur_rate;
	_Atomic uint32_t wq_depth;
	uint64_t ctr[MB_DP_S_MAX];
	uint64_t drop[MB_FRIS_RESULT_MAX];

	/* Control thread only: last tx_bytes sample for the measured rate. */
	uint64_t rd_bytes, rd_tsc, rd_bps;
};

/* ---- shared between dp.c and dp_fris.c --------------------------------------- */

struct mb_dp_sess *mb_dp_sess_slot(uint32_t i);
uint32_t mb_dp_sess_count(void);

/* Engine entry points (dp_fris.c), lcore only. */
/* A UDP datagram to (dst, dport); true if a session took it (m is not freed). */
bool mb_dp_fris_input(struct rte_mbuf *m, const struct rte_ether_hdr *eth, uint32_t src,
		      uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *payload,
		      uint32_t len, uint64_t now);
void mb_dp_fris_activate(struct mb_dp_sess *s, uint64_t now);
/* Send what the pacers allow; returns frames queued. ret_wait: TSC ticks until
 * a session could send again (UINT64_MAX if none waits). */
unsigned mb_dp_fris_tx(uint64_t now, uint64_t *ret_wait);
/* Slow timers: idle timeouts, dynamic rate, IGMP repeats. */
void mb_dp_fris_timers(uint64_t now);
/* The group list changed: reprogram the multicast filter. */
void mb_dp_mcast_update(void);
/* Send IGMP v2 reports (type 0x16) or leaves (0x17) for a group. */
void mb_dp_igmp_send(uint32_t group, bool leave);
/* End a session on the lcore: leave, mark ended, post the event. */
void mb_dp_fris_end(struct mb_dp_sess *s);

/* ---- services for the engines (lcore only) ----------------------------------- */

/* Count a port/engine counter. */
void mb_dp_count(enum mb_dp_ctr c, uint64_t n);
uint64_t mb_dp_tsc_hz(void);
uint32_t mb_dp_addr(void); /* network order */
const struct rte_ether_addr *mb_dp_mac(void);
uint64_t mb_dp_port_rate(void);
/* The port token bucket: take up to n frames of `bits`, how many allowed;
 * ticks until `bits` are available. */
uint32_t mb_dp_port_take(uint64_t bits, uint32_t n, uint64_t now);
uint64_t mb_dp_port_wait(uint64_t bits, uint64_t now);
uint64_t mb_dp_cfg_idle_timeout(void);
uint8_t mb_dp_mcast_ttl(void);
bool mb_dp_tx_zc_enabled(void);

/* A packet mbuf from the dataplane pool (NULL counted). */
struct rte_mbuf *mb_dp_alloc(void);
/* n packet mbufs at once: 0, or -ENOMEM (none taken, counted). */
int mb_dp_alloc_bulk(struct rte_mbuf **m, unsigned n);
/* Queue a complete frame for the port (takes m; 0, or -ENOBUFS: freed and
 * counted).  Frames leave at the end of the loop pass. */
int mb_dp_tx_frame(struct rte_mbuf *m);
/* Room left in the TX backlog (frames). */
unsigned mb_dp_tx_room(void);
/* Fill the IPv4 header checksum of a frame (offload if the port has it, else
 * software); l2 is 14 bytes, ip points into m. */
void mb_dp_ip_cksum(struct rte_mbuf *m, struct rte_ipv4_hdr *ip);
/* Route and send an IPv4 frame whose Ethernet header is still to be filled
 * (the first 14 bytes of m are reserved): resolves the next hop (our subnet
 * or the gateway) with ARP, holding the frame in a bounded pending queue.
 * Takes m.  0 (sent or pending) or -errno (freed, counted). */
int mb_dp_ip_output(struct rte_mbuf *m, uint32_t dst);
/* Next hop for a destination: itself on our subnet, else dpdk.gateway. */
uint32_t mb_dp_nexthop(uint32_t dst);
/* Neighbour MAC for an on-link address, or false (and an ARP request goes
 * out, rate limited).  MACs come only from replies to our own requests
 * (dp.c). */
bool mb_dp_neigh_resolve(uint32_t ip, struct rte_ether_addr *ret_mac);

/* Zero copy: a handle holding one image reference (moved in). */
struct mb_dp_zc *mb_dp_zc_new(struct mb_image *img);
/* Drop the owner's reference (the image goes when the last mbuf is freed). */
void mb_dp_zc_put(struct mb_dp_zc *zc);
/* An mbuf whose data is [off, off + len) of the image, zero copy, at `iova`
 * from mb_dp_dma_iova() (dp_dma.h: only a range it accepted may be attached).
 * NULL on allocation failure (counted). */
struct rte_mbuf *mb_dp_zc_mbuf(struct mb_dp_zc *zc, uint64_t off, uint16_t len, rte_iova_t iova);

/* The userspace TCP (dp_tcp.h) is called directly from the classifier:
 * segments to tcp.http-port and the FTP passive range go to mb_dp_tcp_rx(),
 * its frames come back through a TX callback into the port's backlog. */

/* ---- test fault hook -------------------------------------------------------- */

#ifdef MB_FAULT_HOOKS
/* Drop `rx_pct`/`tx_pct` percent of frames (test builds only, meson
 * -Dfault_hooks=true).  minibossd reads MB_FAULT_DROP_RX, MB_FAULT_DROP_TX
 * and MB_FAULT_REORDER (percent of TX frames swapped with the next one) from
 * its environment at mb_dp_init. */
void mb_dp_fault_set(unsigned rx_pct, unsigned tx_pct);
#endif

#endif /* _MB_DP_PRIV_H_ */
