/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dataplane glue of the userspace TCP (DPDK side): turns received IPv4/TCP
 * frames into mb_tcp_input calls and what the core emits into frames, runs
 * the HTTP server on tcp.http-port and the FTP passive data ports announced
 * through the channel (mb_dp_tcp_expect, dp.h).
 *
 * Integration (for the dataplane lcore loop): one instance per lcore, made
 * with mb_dp_tcp_create(); in the RX classify step, hand every IPv4 TCP
 * frame addressed to the local address whose destination port satisfies
 * mb_dp_tcp_wants() to mb_dp_tcp_rx() (it takes the mbuf); call
 * mb_dp_tcp_poll() once per loop pass (timers, expectation deadlines, TX
 * flush); hand the channel's commands to mb_dp_tcp_expect_apply() and
 * mb_dp_tcp_abort_buf().  Frames go out through the tx callback given at
 * creation; the reply's destination MAC is the source MAC of the peer's
 * frames (the peer or its router), so no ARP lookup is needed.
 *
 * Payload: the dataplane's one payload path (dp_zc.h) attaches a segment's
 * bytes from its send buffer when the port chains mbufs and the memory may
 * be DMA'd, else copies them into the header mbuf.  The MSS is the MTU's
 * unless the pool's mbufs are too small for a copied segment of it, and no
 * frame leaves longer than the MTU or its mbuf (refused and counted if the
 * core ever asked for one).  Checksums are offloaded when the port offers
 * IPv4 + TCP checksum offload, computed in software otherwise.
 *
 * TCP segmentation offload (conf.tso_max > 0: the port has TCP_TSO with
 * the checksum offloads and chains mbufs): a data segment of the core may
 * then carry up to tso_max bytes; its frame is the headers' mbuf (IPv4 and
 * TCP checksums left to the port, the TCP one holding the pseudo-header sum
 * without the length, l2/l3/l4 lengths, tso_segsz = the connection's MSS,
 * RTE_MBUF_F_TX_TCP_SEG) chained to the payload's pieces: attached where
 * the memory allows, copied otherwise (mb_dp_zc_append_chain), never more
 * than tso_segs mbufs (a segment that needs more goes out as several
 * frames, cut at multiples of the MSS).  The port cuts it into segments of the MSS, each
 * within the MTU (of the MSS less 14 bytes with tso_l2_in_mtu, for a port
 * that counts the Ethernet header in the MTU: net_tap); a frame of the MSS
 * or less is sent as without TSO.
 */
#ifndef _MB_DP_TCP_H_
#define _MB_DP_TCP_H_

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dp_counters.h"
#include "dp_zc.h"
#include "mb_config.h"
#include "tcp.h"
#include "tcp_http.h"

/* Send n frames; returns how many the driver took (the rest stay the
 * caller's: mb_dp_tcp keeps them queued, or frees and counts them at the
 * end). */
typedef uint16_t (*mb_dp_tcp_tx_fn)(void *arg, struct rte_mbuf **pkts, uint16_t n);

/* FTP data transfer on passive `port` finished (cookie from the
 * expectation; ok = every byte acknowledged).  Reported only while the
 * cookie is the newest expectation of that port: once the control thread
 * has handed the port on, an older transfer's end concerns nobody (so one
 * slot per port can hold the end that matters).  Called on the lcore. */
typedef void (*mb_dp_tcp_xfer_fn)(void *arg, uint16_t port, uint64_t cookie, bool ok);

struct mb_dp_tcp_conf {
	uint32_t local_addr; /* network order */
	struct rte_ether_addr local_mac;
	struct rte_mempool *pool; /* TX mbufs; their data room bounds the MSS */
	struct mb_dp_zc zc;	  /* payload attachment; zc.pool NULL = copy */
	mb_dp_tcp_tx_fn tx;
	void *tx_arg;
	bool tx_cksum_offload; /* port has IPV4_CKSUM and TCP_CKSUM TX offload */
	mb_dp_tcp_xfer_fn xfer_done;
	void *xfer_arg;
	uint16_t mtu;			 /* 0 = 1500 */
	uint32_t tso_max;	 /* largest TSO payload (MB_TCP_TSO_MAX at most), 0 = no TSO */
	uint16_t tso_segs;	 /* mbufs a TSO frame may have, headers' included (>= 3) */
	bool tso_l2_in_mtu;	 /* the port wants tso_segsz + l2 + l3 + l4 <= MTU */
	const struct mb_tcp_http_ops *http; /* NULL: the published image table */
};

struct mb_dp_tcp;

/* One instance per lcore (on that lcore's socket).  cfg supplies the [tcp]
 * keys.  NULL with errno. */
struct mb_dp_tcp *mb_dp_tcp_create(const struct mb_dp_tcp_conf *conf, const struct mb_config *cfg);
void mb_dp_tcp_free(struct mb_dp_tcp *t);

/* Is a TCP segment to this destination port ours? */
bool mb_dp_tcp_wants(const struct mb_dp_tcp *t, uint16_t dport);

/* A received Ethernet/IPv4/TCP frame; always consumes m. */
void mb_dp_tcp_rx(struct mb_dp_tcp *t, struct rte_mbuf *m, uint64_t now_ns);

/* Once per loop pass: timers, expectation deadlines, TX flush.  Returns the
 * number of live connections (the loop may sleep longer when it is 0). */
uint32_t mb_dp_tcp_poll(struct mb_dp_tcp *t, uint64_t now_ns);

/* An FTP expectation (see mb_dp_tcp_expect in dp.h) arrived: port in the
 * passive range, sb a reference that moves in (or NULL: PASV). */
void mb_dp_tcp_expect_apply(struct mb_dp_tcp *t, uint16_t port, uint32_t peer,
			    struct mb_sbuf *sb, uint64_t off, uint64_t len, uint64_t cookie,
			    uint64_t now_ns);
/* Reset every connection sending from sb and drop expectations holding it
 * (their transfers end failed).  How many connections. */
unsigned mb_dp_tcp_abort_buf(struct mb_dp_tcp *t, const struct mb_sbuf *sb);
/* The reloadable [tcp] keys (mb_tcp_stack_set_params). */
void mb_dp_tcp_set_params(struct mb_dp_tcp *t, uint32_t initial_window, uint64_t idle_timeout_ns,
			  int cc);

/* Add this instance's counters to *sum (control thread, relaxed reads). */
void mb_dp_tcp_stats_add(const struct mb_dp_tcp *t, struct mb_dp_tcp_stats *sum);

#endif /* _MB_DP_TCP_H_ */
