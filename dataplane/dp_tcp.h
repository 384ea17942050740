/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dataplane glue of the userspace TCP (DPDK side): turns received IPv4/TCP
 * frames into mb_tcp_input calls and what the core emits into frames, runs
 * the HTTP server on tcp.http-port and the FTP passive data ports announced
 * by mb_dp_tcp_expect() (dp.h).
 *
 * Integration (for the dataplane lcore loop): create one instance per lcore
 * with mb_dp_tcp_create(); in the RX classify step, hand every IPv4 TCP frame
 * addressed to the local address whose destination port satisfies
 * mb_dp_tcp_wants() to mb_dp_tcp_rx() (it takes the mbuf); call
 * mb_dp_tcp_poll() once per loop pass (timers, new FTP expectations, TX
 * flush).  Frames go out through the tx callback given at creation; the
 * reply's destination MAC is the source MAC of the peer's frames (the peer or
 * its router), so no ARP lookup is needed.
 *
 * Payload: with tx_multiseg, each segment is a header mbuf chained to an mbuf
 * whose external buffer is the slice of the cached image (zero-copy; the
 * mbuf holds an image reference until the driver frees it), provided the
 * slice may be DMA'd (mb_dp_dma_iova, dp_dma.h: DPDK memory only);
 * otherwise, or when the small pool of external-buffer descriptors runs dry,
 * the payload is copied into the header mbuf.  The MSS is the MTU's unless
 * the pool's mbufs are too small for a copied segment of it, and no frame
 * leaves longer than the MTU or its mbuf (refused and counted if the core
 * ever asked for one).
 * Checksums are offloaded when the port offers IPv4 + TCP checksum offload,
 * computed in software otherwise.
 */
#ifndef _MB_DP_TCP_H_
#define _MB_DP_TCP_H_

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <jansson.h>

#include "mb_config.h"
#include "tcp.h"

/* Send n frames; returns how many the driver took (the rest stay the
 * caller's: mb_dp_tcp frees them and counts them as drops). */
typedef uint16_t (*mb_dp_tcp_tx_fn)(void *arg, struct rte_mbuf **pkts, uint16_t n);

/* FTP data transfer on passive `port` finished (cookie from
 * mb_dp_tcp_expect; ok = every byte acknowledged).  Reported only while the
 * cookie is the newest expectation of that port: once the control thread
 * has handed the port on, an older transfer's end concerns nobody (so one
 * slot per port can hold the end that matters).  Called on the lcore; the
 * dataplane forwards it to the control thread. */
typedef void (*mb_dp_tcp_xfer_fn)(void *arg, uint16_t port, uint64_t cookie, bool ok);

struct mb_dp_tcp_conf {
	uint32_t local_addr; /* network order */
	struct rte_ether_addr local_mac;
	struct rte_mempool *pool; /* TX mbufs; their data room bounds the MSS */
	mb_dp_tcp_tx_fn tx;
	void *tx_arg;
	bool tx_cksum_offload; /* port has IPV4_CKSUM and TCP_CKSUM TX offload */
	bool tx_multiseg;      /* port has MULTI_SEGS: payload attached zero-copy */
	mb_dp_tcp_xfer_fn xfer_done;
	void *xfer_arg;
	uint16_t mtu; /* 0 = 1500 */
};

struct mb_dp_tcp;

/* One instance per lcore (on that lcore's socket).  cfg supplies the [tcp]
 * keys.  The first instance also creates the FTP expectation ring.  NULL with
 * rte_errno/errno. */
struct mb_dp_tcp *mb_dp_tcp_create(const struct mb_dp_tcp_conf *conf, const struct mb_config *cfg);
void mb_dp_tcp_free(struct mb_dp_tcp *t);

/* Is a TCP segment to this destination port ours? */
bool mb_dp_tcp_wants(const struct mb_dp_tcp *t, uint16_t dport);

/* A received Ethernet/IPv4/TCP frame; always consumes m. */
void mb_dp_tcp_rx(struct mb_dp_tcp *t, struct rte_mbuf *m, uint64_t now_ns);

/* Once per loop pass: timers, expectations, TX flush.  Returns the number of
 * live connections (the loop may sleep when it is 0 and nothing arrives). */
uint32_t mb_dp_tcp_poll(struct mb_dp_tcp *t, uint64_t now_ns);

const struct mb_tcp_counters *mb_dp_tcp_counters(const struct mb_dp_tcp *t);
/* Every TCP, HTTP and glue counter of this instance as a new JSON object
 * (for mb_dp_stats_json).  Read without locks from the control thread. */
json_t *mb_dp_tcp_stats_json(const struct mb_dp_tcp *t);

#endif /* _MB_DP_TCP_H_ */
