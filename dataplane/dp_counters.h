/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's counters as data: the X-macro lists (name, help) of the
 * port/engine counters, the per-session Frisbee counters and the TCP glue's
 * drops (the TCP core's and the HTTP server's lists are in tcp.h and
 * tcp_http.h), the name tables made from them, and the snapshot structs
 * mb_dp_stats_read and mb_dp_sessions_read fill.  Each counter has one
 * writer (its lcore); a snapshot sums the lcores.  Rendering (JSON for the
 * control socket and telemetry, text for minibossctl) is control/'s
 * business.  DPDK-free: control/ and the tools include it.
 */
#ifndef _MB_DP_COUNTERS_H_
#define _MB_DP_COUNTERS_H_

#include <stdbool.h>
#include <stdint.h>

#include "fris_wire.h"
#include "mb_image.h"
#include "tcp.h"
#include "tcp_http.h"

/* Port and engine counters: name, help. */
#define MB_DP_COUNTERS(X)                                                      \
	X(rx_pkts, "frames received on the port")                              \
	X(rx_bytes, "bytes received on the port")                              \
	X(tx_pkts, "frames sent on the port")                                  \
	X(tx_bytes, "bytes sent on the port")                                  \
	X(tx_full, "frames the TX ring did not take at once (retried)")        \
	X(tx_drop, "frames dropped because the TX backlog was full")           \
	X(tx_prepare_drop, "TCP frames tx_prepare refused (dropped)")          \
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
	X(igmp_query_tx, "IGMP general queries sent (our querier)")            \
	X(igmp_leave, "IGMP v2 Leaves received")                               \
	X(igmp_v3_report, "IGMPv3 membership reports received (valid)")       \
	X(igmp_v3_leave, "IGMPv3 group records that may leave a group (TO_IN{}, IS_IN{}, BLOCK)") \
	X(igmp_leave_limited, "IGMP Leaves left unanswered: every group check busy") \
	X(igmp_gsq_tx, "IGMP group-specific queries sent (our querier, on Leaves)") \
	X(exc_to_kernel, "frames passed to the exception TAP")                 \
	X(exc_from_kernel, "frames from the exception TAP sent on the port")   \
	X(exc_drop, "exception frames dropped (no TAP or TAP full)")           \
	X(drop_l2, "frames too short or unknown ethertype without TAP")        \
	X(drop_bad_src, "frames with a zero, multicast or our own source MAC (no traffic)") \
	X(drop_ip_hdr, "IPv4 header invalid (version, ihl, length)")           \
	X(drop_ip_cksum, "IPv4 header checksum wrong")                         \
	X(drop_ip_frag, "IPv4 fragments")                                      \
	X(drop_not_ours, "IPv4 to an address we do not serve")                 \
	X(drop_udp, "UDP header or length invalid")                            \
	X(drop_udp_cksum, "UDP checksum wrong (damaged on the way)")           \
	X(drop_arp, "malformed ARP")                                           \
	X(drop_igmp, "IGMP reports/Leaves malformed or from off-link sources") \
	X(drop_igmp_v3_len, "IGMPv3 reports dropped: a group record runs past the message") \
	X(drop_igmp_v3_group, "IGMPv3 reports dropped: a group record's group is not multicast") \
	X(drop_multiseg, "multi-segment frames received")                      \
	X(drop_fault, "frames dropped by the test fault hook")                 \
	X(fault_reordered, "frames swapped with their neighbour by the test hook") \
	X(ev_deferred, "events the ring could not take at once (kept, posted later)") \
	X(fris_rx, "Frisbee datagrams received")                               \
	X(fris_no_session, "UDP to a Frisbee-looking port with no session")    \
	X(fill_rx, "datagrams of a parent fill queued for the control thread") \
	X(fill_drop, "datagrams of a parent fill dropped (its queue full)")     \
	X(tcp_rx, "TCP segments handed to the userspace TCP")                  \
	X(link_changes, "link state changes seen")                             \
	X(sessions_started, "Frisbee sessions started")                        \
	X(sessions_ended, "Frisbee sessions ended")                            \
	X(rx_csum_partial, "TCP/UDP checksums left partial by a virtual link, completed") \
	X(tx_copy_nodma, "BLOCK payloads copied: image memory not DMA-safe (heap, mmap)") \
	X(idle_sleeps, "loop passes that found no useful work and slept")      \
	X(major_faults, "major page faults of the lcores' threads (mmap image pages read from disk on an lcore), every 100 ms") \
	X(dispatch_out, "frames handed to the worker that owns them")         \
	X(dispatch_in, "frames taken from other workers")                      \
	X(dispatch_drop, "frames dropped: the owning worker's inbox was full")

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
	X(budget_refused, "requests refused: unicast output budget spent")    \
	X(not_yet, "requests for a chunk still being received (cut-through)") \
	X(parked, "chunks asked for while absent, held to be queued on arrival (cut-through)") \
	X(unparked, "parked chunks queued when they arrived, without a new request") \
	X(rate_cuts, "adaptive rate cut on the receivers' re-requests")        \
	X(rate_raises, "adaptive rate raised (creeping back)")                 \
	X(fallbacks, "nodes moved to unicast (multicast does not reach them, or they cannot keep up)") \
	X(fb_refused, "fallback candidates left in the group: no slot free (max-fallback-nodes)") \
	X(fb_blocks, "BLOCKs sent to nodes served alone")                      \
	X(fb_joins, "JOIN replies sent to a node alone")                       \
	X(join_limited, "JOINs not answered: a node's second within 100 ms, or past the share of nodes beyond max-nodes") \
	X(fb_requests, "requests queued for nodes served alone")               \
	X(fb_group, "chunks a node alone asked for, also sent to the group (a member lacked them)") \
	X(fb_no_neigh, "send passes to a node alone skipped waiting for its ARP") \
	X(fb_budget_refused, "requests of a node alone refused: its output budget spent") \
	X(fb_returned, "nodes alone whose output budget ran out, served by the group again") \
	X(probes, "slices of a chunk a member waited for, sent ahead of the queue") \
	X(nodes_untracked, "datagrams from nodes beyond max-nodes (served, not tracked)")

enum mb_dp_sctr {
#define MB_DP_X_ENUM(n, h) MB_DP_S_##n,
	MB_DP_SESS_COUNTERS(MB_DP_X_ENUM)
#undef MB_DP_X_ENUM
	MB_DP_S_MAX
};

/* The TCP glue's own counters (dp_tcp.c), shown as tcp_<name>. */
#define MB_DP_TCP_COUNTERS(X)                                                  \
	X(rx_bad_l3, "frames with a bad Ethernet/IPv4 header for TCP")         \
	X(rx_bad_cksum, "IPv4 or TCP checksum wrong")                          \
	X(tx_busy, "segments refused: TX queue full or the pass's frame budget spent") \
	X(rx_bad_tcp, "TCP header or options invalid")                         \
	X(rx_multiseg, "multi-segment frames received")                        \
	X(tx_nombuf, "no mbuf for a segment")                                  \
	X(tx_drop, "frames the port did not take at shutdown")                 \
	X(tx_copied, "payloads copied into the header mbuf")                   \
	X(tx_zerocopy, "payloads attached by reference")                       \
	X(tx_copy_nodma, "payloads copied: memory not DMA-safe (heap, mmap)")  \
	X(tx_oversize, "segments refused: longer than the MTU or the mbuf")   \
	X(tx_tso_split, "TSO segments cut in two: more pieces than a frame chains")

enum mb_dp_tctr {
#define MB_DP_X_ENUM(n, h) MB_DP_T_##n,
	MB_DP_TCP_COUNTERS(MB_DP_X_ENUM)
#undef MB_DP_X_ENUM
	MB_DP_T_MAX
};

struct mb_dp_ctr_desc {
	const char *name;
	const char *help;
};

/* Name tables, indexed by the enums above (dp_stats.c). */
extern const struct mb_dp_ctr_desc mb_dp_ctr_desc[MB_DP_C_MAX];
extern const struct mb_dp_ctr_desc mb_dp_sctr_desc[MB_DP_S_MAX];
extern const struct mb_dp_ctr_desc mb_dp_tctr_desc[MB_DP_T_MAX];

/* What the userspace TCP of every lcore counts, summed. */
struct mb_dp_tcp_stats {
	struct mb_tcp_counters core;
	struct mb_tcp_http_counters http;
	uint64_t glue[MB_DP_T_MAX];
	uint32_t conns;
	uint16_t mss;
};

/* The port's IGMP querier (frisbee.igmp-querier). */
struct mb_dp_igmp_info {
	const char *mode;     /* "off", "on", "auto" (static strings) */
	const char *state;    /* "idle", "querier", "yielding" */
	uint32_t other;       /* lowest other querier heard (network order), 0 = none */
	uint64_t interval_s;
	uint32_t last_member_count, last_member_interval_ms; /* applied */
	uint64_t sent, suppressed, heard, yields, resumes;
	/* group-specific queries on Leaves */
	uint32_t checking;    /* groups being checked now */
	uint64_t leaves, leaves_not_querier, leaves_limited, gsq_sent;
	uint64_t checks_members, checks_empty;
};

/* The most dataplane workers (dpdk.workers). */
#define MB_DP_WORKERS_MAX 16

/* One worker: where it runs and its own counters (the port's are their sum). */
struct mb_dp_worker_info {
	int lcore;	   /* EAL lcore running it, -1 before it started */
	bool rx;	   /* polls an RX queue of its own (else worker 0's is the one) */
	uint32_t sessions; /* active Frisbee sessions it runs */
	uint64_t ctr[MB_DP_C_MAX];
};

struct mb_dp_stats {
	uint16_t port;
	char mac[18];	   /* xx:xx:xx:xx:xx:xx */
	bool link;
	uint64_t speed_bps;
	uint64_t port_rate_bps;
	bool tx_zero_copy;
	uint32_t mbuf_data_room;
	/* mbufs taken from the packet pool and the zero-copy descriptor pool
	 * (rte_mempool_in_use_count: out of the pool, in caches excluded, so
	 * approximate while lcores run), and their sizes */
	uint32_t mbufs_in_use, mbufs_total;
	uint32_t zc_in_use, zc_total;
	uint16_t mtu;
	bool tx_ip_cksum_offload;
	bool tx_tso; /* TCP segmentation offload in use */
	bool mc_filter_exact; /* else allmulticast */
	bool exception_tap;
	uint32_t sessions;    /* active Frisbee sessions */
	uint64_t rate_bps;    /* their measured send rate, summed */
	uint64_t ctr[MB_DP_C_MAX];
	bool rss;	      /* the port spreads flows over the workers' RX queues */
	uint32_t workers;     /* dpdk.workers */
	struct mb_dp_worker_info worker[MB_DP_WORKERS_MAX];
	struct mb_dp_igmp_info igmp;
	bool tcp_enabled;
	struct mb_dp_tcp_stats tcp;
};

enum mb_dp_sess_state {
	MB_DP_SESS_FREE = 0,
	MB_DP_SESS_RESERVED, /* control filled it, START posted */
	MB_DP_SESS_ACTIVE,   /* lcore runs it */
	MB_DP_SESS_ENDED,    /* lcore done; the control thread reaps it */
};

struct mb_dp_sess_info {
	uint32_t id;
	char image[MB_IMAGE_NAME_MAX + 1];
	uint64_t version;
	uint64_t size;
	uint32_t addr; /* network order */
	uint16_t port;
	int method;    /* enum mb_fris_method */
	enum mb_dp_sess_state state;
	uint64_t rate_bps;    /* measured */
	uint32_t queue_depth;
	uint32_t chunks;
	uint64_t ctr[MB_DP_S_MAX];
	uint64_t drop[MB_FRIS_RESULT_MAX];
	uint64_t pacing_bps;
	bool adaptive;	       /* frisbee.dynamic-rate */
	uint64_t cap_bps;      /* its rate ceiling */
	uint32_t loss_ppm;     /* the group's loss signal, last tick */
	uint32_t nodes;	       /* tracked */
	uint32_t nodes_max;
	uint32_t fb_nodes;     /* served alone now */
};

/* One node of a session (mb_dp_session_nodes_read). */
struct mb_dp_node_info {
	uint32_t addr;	       /* network order */
	bool ucast;	       /* served alone (unicast fallback) */
	const char *reason;    /* why (static string), "-" in the group */
	bool left;	       /* LEAVE seen: done */
	bool reported;	       /* its progress comes from PROGRESS reports */
	uint32_t progress_ppm; /* of the image */
	uint64_t bytes;	       /* of the image it holds: progress x size */
	uint64_t ucast_bytes;  /* BLOCK payload sent to it alone */
	uint64_t ucast_rate_bps; /* its own rate, when alone */
	uint64_t idle_ms;      /* since it was last heard from */
	uint64_t age_ms;       /* since it was first heard from */
	uint32_t joins, requests, rerequests;
	uint64_t blocks_lost;  /* loss evidence, blocks */
	uint32_t loss_ppm;     /* against the group's sends, last tick */
};

#endif /* _MB_DP_COUNTERS_H_ */
