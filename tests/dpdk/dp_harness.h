/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The harness of the dpdk suite's dataplane tests (test_dp.c,
 * test_dp_reload.c): the real dataplane (mb_dp_init) on a ring port whose
 * RX ring the test fills with crafted frames and whose TX ring it reads,
 * the lcore loop on a worker lcore (with its thread CPU clock, for idle
 * tests), frame builders, and waits on counters and events through the
 * snapshots the control thread uses.  Every frame read back passes
 * rte_mbuf_check.  cmocka assertions fail the calling test.
 */
#ifndef _MBT_DP_HARNESS_H_
#define _MBT_DP_HARNESS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp.h"
#include "mb_config.h"

#define OUR_IP "10.9.0.1"
#define PEER_IP "10.9.0.2"

#define DPH_TX_MAX 4
extern struct rte_ring *rx_r, *tx_r; /* tx_r: TX queue 0's ring */
extern struct rte_ring *tx_rs[DPH_TX_MAX]; /* each TX queue's ring */
extern unsigned tx_n;
extern struct rte_mempool *tpool;
extern struct rte_ether_addr our_mac;
extern const struct rte_ether_addr peer_mac;

/* EAL (--no-huge, file prefix mbt-<name>-<pid>, lcores 0-1) and the ring
 * port; 0, or 77 to skip (no EAL here), or 1. */
int dph_setup(const char *name, const char *argv0);
/* The ring port with ntx TX queues (one ring each) and EAL's --lcores
 * `lcores` (e.g. "(0-2)@(0-1)": the test thread and two workers, on
 * whichever CPUs there are), for dpdk.workers. */
int dph_setup_rings(const char *name, const char *argv0, unsigned ntx, const char *lcores);
/* The same with the port a vdev (e.g. "net_null0") instead of the rings;
 * the frame helpers have no rings to use then. */
int dph_setup_vdev(const char *name, const char *argv0, const char *vdev);
/* The same with EAL's --lcores `lcores` (see dph_setup_rings). */
int dph_setup_vdev_lcores(const char *name, const char *argv0, const char *vdev,
			  const char *lcores);
/* cfg: defaults for the ring port (our address, a gateway, no TAP, a long
 * Frisbee idle timeout, 4096 mbufs). */
void dph_config(struct mb_config *cfg);
/* mb_dp_init(cfg) and the loop on every worker lcore of EAL; 0 or 1. */
int dph_start(const struct mb_config *cfg);
/* Publish a table with a copy of img's bytes under img's name (for HTTP);
 * the caller's references are not touched.  0 or -1. */
int dph_publish(const struct mb_image *img);
/* Publish a table holding a new reference of im itself (an image in DPDK
 * memory, whose bytes the dataplane may attach).  0 or -1. */
int dph_publish_ref(struct mb_image *im);
/* Stop the loop, mb_dp_fini, unpublish, EAL cleanup. */
void dph_finish(void);
/* Sleep ms milliseconds of monotonic time, whatever signals arrive (EAL's
 * threads and the test runner's may interrupt a plain sleep). */
void dph_sleep_ms(unsigned ms);
/* CPU time the lcore's thread used so far (ns). */
uint64_t dph_lcore_cpu_ns(void);

uint32_t ip4(const char *s);
void inject(const void *buf, size_t len);
/* Next mbuf the dataplane sent on any TX queue (the caller frees it); NULL
 * after `ms`. */
struct rte_mbuf *recv_mbuf_ms(unsigned ms);
/* The same from TX queue q only. */
struct rte_mbuf *recv_mbuf_q_ms(unsigned q, unsigned ms);
/* Next frame linearised into out; 0 if none within 2 s. */
size_t recv_frame(uint8_t *out, size_t cap);
/* Receive until a frame matching pred (others skipped); its length. */
size_t recv_match(uint8_t *out, size_t cap, bool (*pred)(const uint8_t *, size_t));
/* Drop what the dataplane sent so far (after 20 ms). */
void drain(void);
/* Linearise m into out (at most cap bytes); the length. */
size_t mbuf_copy(const struct rte_mbuf *m, uint8_t *out, size_t cap);
size_t build_ip(uint8_t *buf, uint8_t proto, uint32_t src, uint32_t dst,
		const struct rte_ether_addr *dmac, const void *l4, size_t l4len);
size_t build_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 const void *pl, size_t plen);
bool is_fris(const uint8_t *f, size_t n);

/* A Frisbee BLOCK from UDP port `port`. */
bool is_block_to(const uint8_t *f, size_t n, uint16_t port);
/* A Frisbee datagram from (src, smac) to dst:port. */
void send_fris_to(uint32_t src, const char *dst, uint16_t port, const struct rte_ether_addr *smac,
		  const void *pl, size_t plen);
/* A TCP segment from PEER_IP:sport to our port 80 (mss 0: no option). */
void tcp_send(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t mss,
	      const char *data);
/* An ARP frame (60 bytes) from sha/sip to Ethernet edst, built into f. */
size_t build_arp(uint8_t *f, uint16_t op, const struct rte_ether_addr *sha, const char *sip,
		 const char *tip, const struct rte_ether_addr *edst);
/* The same, injected. */
void send_arp(uint16_t op, const struct rte_ether_addr *sha, const char *sip, const char *tip,
	      const struct rte_ether_addr *edst);

/* Counters by name, as minibossctl shows them. */
uint64_t port_ctr(const char *key);
/* A session's counter (reason NULL) or drops of a decode reason. */
uint64_t sess_ctr_of(uint32_t id, const char *key, const char *reason);
/* The snapshot of a session, or NULL when it is free. */
const struct mb_dp_sess_info *sess_info(uint32_t id);
/* Wait (2 s at most) until get() reaches want; its last value. */
uint64_t wait_ctr(uint64_t (*get)(void), uint64_t want);

/* Start a session (a reference of im moves in) and wait until it runs. */
uint32_t start_session(const char *addr, uint16_t port, enum mb_fris_method method,
		       struct mb_image *im, uint64_t idle_s);
/* The same with the session's linger (enum mb_fris_linger; 0 = config). */
uint32_t start_session_linger(const char *addr, uint16_t port, enum mb_fris_method method,
			      struct mb_image *im, uint64_t idle_s, int linger);
/* Wait (at most ms) for the SESSION_END event of id. */
bool wait_end(uint32_t id, unsigned ms);
void stop_session(uint32_t id);

#endif /* _MBT_DP_HARNESS_H_ */
