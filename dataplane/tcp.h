/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The userspace TCP core: a server-side TCP that serves immutable cached
 * images, without DPDK.
 *
 * A connection holds no send buffer of its own.  What it sends is a short
 * queue of spans, each (send buffer reference, offset, length): an image's
 * memory or a generated buffer such as an HTTP response header
 * (common/mb_sbuf.h); a segment, first sent or retransmitted, is described
 * to the caller as (header fields, buffer, offset, length) through the emit
 * callback and the dataplane glue builds the frame around those bytes.  The receive side takes in-order bytes only and
 * hands them to the application callback at once (requests are small); what
 * the application cannot take is not acknowledged.
 *
 * Implemented: segment parsing with full option validation, passive open with
 * a bounded SYN queue and SYN cookies past it, MSS, window scaling,
 * timestamps with PAWS, a small SACK scoreboard, RTO per RFC 6298 with
 * backoff, a tail loss probe ahead of it with its loss detection (RFC 8985
 * section 7), NewReno fast retransmit/recovery (RFC 5681/6582) steered by
 * SACK, with RACK's rule for a lost retransmission of the first hole (not
 * the rest of RACK), NewReno or CUBIC (RFC 9438) congestion avoidance,
 * chosen per connection, persist timer for zero windows, FIN/RST in every
 * state (RFC 5961 challenge ACKs), a short bounded TIME_WAIT, idle timeout, a connection limit and a
 * per-source one (so one address cannot hold most of the table), and
 * segmentation offload: data segments of up to tso_max bytes that the port
 * cuts into segments of the MSS (mb_tcp_params.tso_max).  No active open,
 * no urgent data, no out-of-order receive queue.
 *
 * Threads: one struct mb_tcp_stack belongs to one lcore; nothing here locks.
 * Time is passed in by the caller (nanoseconds, monotonic) so tests script it.
 * This header and tcp_*.c never include DPDK headers and never log: every drop
 * is a counter.  The parts: tcp_wire.c (parse, build, checksums),
 * tcp_conn.c (table, lifecycle), tcp_input.c (state machine), tcp_output.c
 * (segments, retransmission, application calls), tcp_timer.c (timer wheel),
 * tcp_cc.c (RTT, SACK, NewReno, CUBIC), tcp_http.c (the HTTP server).
 */
#ifndef _MB_TCP_H_
#define _MB_TCP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_image.h"
#include "mb_sbuf.h"

#define MB_TCP_FIN 0x01
#define MB_TCP_SYN 0x02
#define MB_TCP_RST 0x04
#define MB_TCP_PSH 0x08
#define MB_TCP_ACK 0x10
#define MB_TCP_URG 0x20

#define MB_TCP_HDR_MIN 20
#define MB_TCP_HDR_MAX 60
#define MB_TCP_SACK_MAX 4   /* blocks parsed from one segment (40 option bytes hold 4) */
#define MB_TCP_SPANS 4	    /* queued (image, range) spans per connection */
#define MB_TCP_SCOREBOARD 4 /* SACKed ranges remembered per connection */
/* Congestion window ceiling: the largest window a peer can advertise
 * (65535 << 14, RFC 7323 §2.3); a larger cwnd could never be used, and
 * without a ceiling long transfers or dup-ACK inflation wrap the 32 bits. */
#define MB_TCP_CWND_MAX (65535u << 14)
/* Send MSS bounds.  A peer's smaller MSS is raised to MB_TCP_MSS_MIN (as
 * Linux does with tcp_min_snd_mss), so a tiny MSS cannot multiply our
 * per-segment cost; our own MSS (MTU - 40) must leave room for it plus the
 * timestamp option, and stay within a 9000-byte jumbo MTU. */
#define MB_TCP_MSS_MIN 64
#define MB_TCP_MSS_MAX 8960
/* The largest TSO segment: its IP packet (20-byte IP header, up to 60 bytes
 * of TCP header) keeps a 16-bit total length. */
#define MB_TCP_TSO_MAX (65535u - 20u - 60u)

/* Counters, one X-macro list: the glue sums them across lcores. */
#define MB_TCP_COUNTERS(X)                                                                        \
	X(rx_segs, "segments received")                                                           \
	X(drop_short, "segment shorter than its header")                                          \
	X(drop_hdrlen, "bad data offset")                                                         \
	X(drop_opt, "malformed TCP option")                                                       \
	X(drop_flags, "impossible flag combination")                                              \
	X(drop_cksum, "bad checksum (counted by the glue)")                                       \
	X(drop_noconn, "segment for no connection")                                               \
	X(drop_seq, "sequence number outside the window")                                         \
	X(drop_paws, "timestamp older than ts_recent (PAWS)")                                     \
	X(drop_ack, "ACK for data never sent")                                                    \
	X(drop_ooo, "out-of-order data not queued")                                               \
	X(drop_full, "connection table full")                                                     \
	X(drop_src_limit, "SYNs refused (RST): the source holds max_conns_per_src connections")   \
	X(app_src_limit, "per-source application units refused (mb_tcp_src_take)")                \
	X(drop_cookie, "ACK with an invalid SYN cookie")                                          \
	X(drop_syn_rate, "SYNs unanswered: the cookie SYN-ACK budget (syn_cookie_rate) is spent") \
	X(drop_syn_link, "SYNs unanswered: their link neighbour's share of the cookie budget is spent") \
	X(syn_rcvd, "SYNs accepted into the SYN queue")                                           \
	X(syn_cookies_sent, "SYN-ACKs carrying a SYN cookie")                                     \
	X(syn_cookies_ok, "connections opened from a SYN cookie")                                 \
	X(conn_open, "connections established")                                                  \
	X(conn_closed, "connections closed normally")                                             \
	X(conn_reset_rx, "connections reset by the peer")                                         \
	X(conn_reset_tx, "resets sent")                                                           \
	X(conn_idle, "connections closed by the idle timeout")                                    \
	X(conn_timeout, "connections dropped after too many retransmissions")                     \
	X(challenge_acks, "RFC 5961 challenge ACKs")                                              \
	X(tx_segs, "segments emitted")                                                            \
	X(tx_bytes, "payload bytes emitted (first and retransmitted)")                            \
	X(rexmt_rto, "retransmission timeouts")                                                   \
	X(rexmt_fast, "fast retransmits")                                                         \
	X(rexmt_bytes, "payload bytes retransmitted")                                             \
	X(rexmt_lost, "retransmissions found lost (sent after them arrived, RTT later) and resent") \
	X(persist_probes, "zero-window probes")                                                   \
	X(tlp_probes, "tail loss probes: the last segment resent 2 SRTT after the last ACK")      \
	X(tlp_recoveries, "tail loss probes that repaired a loss: the window cut (RFC 8985 7.4)") \
	X(tx_fail, "segments the emit callback could not send")                                   \
	X(conn_withdrawn, "connections reset because their buffer was withdrawn")                 \
	X(conn_cubic, "connections opened with CUBIC congestion control")                         \
	X(tx_tso, "data segments longer than the MSS, for the port to cut (TSO)")

struct mb_tcp_counters {
#define MB_TCP_CNT_FIELD(n, h) uint64_t n;
	MB_TCP_COUNTERS(MB_TCP_CNT_FIELD)
#undef MB_TCP_CNT_FIELD
};

/* Addresses network order, ports host order; "l" is our side. */
struct mb_tcp_tuple {
	uint32_t laddr;
	uint32_t raddr;
	uint16_t lport;
	uint16_t rport;
};

struct mb_tcp_sack_block {
	uint32_t left;
	uint32_t right;
};

/* A parsed, validated segment.  payload points into the caller's buffer. */
struct mb_tcp_seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win; /* raw, unscaled */
	uint8_t hdrlen;
	bool has_mss, has_ws, sack_ok, has_ts;
	uint16_t mss;
	uint8_t wscale;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct mb_tcp_sack_block sack[MB_TCP_SACK_MAX];
	const uint8_t *payload;
	uint32_t plen;
	/* Set by the caller, not the parser: a hash of the frame's source
	 * link-layer address (the neighbour it came from), 0 when unknown.
	 * Only the SYN cookie budget's per-link share reads it. */
	uint32_t link;
};

enum mb_tcp_parse_err {
	MB_TCP_PARSE_OK = 0,
	MB_TCP_PARSE_SHORT,
	MB_TCP_PARSE_HDRLEN,
	MB_TCP_PARSE_OPT,
	MB_TCP_PARSE_FLAGS,
};

/* Parse and validate the TCP header at buf (len bytes: header + payload, no
 * IP header).  Checks data offset, every option's length and placement
 * (MSS/WS/SACK-permitted only on SYN), flag combinations.  Returns
 * MB_TCP_PARSE_OK or the reason; never reads past buf+len.  Checksums are the
 * caller's (see mb_tcp_cksum). */
enum mb_tcp_parse_err mb_tcp_parse(const uint8_t *buf, size_t len, struct mb_tcp_seg *ret_seg);

/* Internet checksum of a TCP segment with the IPv4 pseudo header (addresses in
 * network order).  Over a segment whose checksum field is filled, a valid one
 * gives 0. */
uint16_t mb_tcp_cksum(uint32_t saddr, uint32_t daddr, const void *seg, size_t len);
/* The same over a header (even length) and a payload held apart. */
uint16_t mb_tcp_cksum2(uint32_t saddr, uint32_t daddr, const void *hdr, size_t hlen,
		       const void *payload, size_t plen);

/* What the core asks the glue to send. */
struct mb_tcp_conn;

struct mb_tcp_out {
	struct mb_tcp_conn *conn; /* NULL for stateless replies (RST, SYN cookie) */
	struct mb_tcp_tuple t;
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t win;	 /* already scaled down */
	bool opt_mss;	 /* SYN-ACK: mss, and ws / sackok when set */
	uint16_t mss;
	bool opt_ws;
	uint8_t wscale;
	bool opt_sackok;
	bool opt_ts;
	uint32_t tsval, tsecr;
	struct mb_sbuf *buf; /* payload source (no reference passed), or NULL */
	uint64_t off;	     /* payload = buf->data[off, off+len) */
	uint32_t len;
};

/* Write the TCP header (with options, checksum field 0) for out into buf
 * (at least MB_TCP_HDR_MAX bytes).  Returns the header length. */
unsigned mb_tcp_hdr_build(const struct mb_tcp_out *out, uint8_t *buf);

enum mb_tcp_state {
	MB_TCP_CLOSED = 0,
	MB_TCP_SYN_RCVD,
	MB_TCP_ESTABLISHED,
	MB_TCP_CLOSE_WAIT,
	MB_TCP_FIN_WAIT_1,
	MB_TCP_FIN_WAIT_2,
	MB_TCP_CLOSING,
	MB_TCP_LAST_ACK,
	MB_TCP_TIME_WAIT,
};

/* Congestion control of a connection (tcp.congestion-control). */
enum mb_tcp_cc {
	MB_TCP_CC_NEWRENO = 0,
	MB_TCP_CC_CUBIC,
};

/* CUBIC's state (RFC 9438), in bytes and milliseconds. */
struct mb_tcp_cubic {
	uint32_t w_max;	     /* cwnd before the last reduction (after fast convergence) */
	uint32_t cwnd_prior; /* cwnd when ssthresh was last set: alpha_cubic turns 1 above it */
	uint32_t epoch_ms;   /* start of the congestion avoidance stage (with cc_epoch) */
	int32_t k_us;	     /* K: time from the epoch to W_max (negative past it) */
	uint64_t w_est;	     /* Reno-friendly estimate, 1/65536 byte */
	uint32_t cwnd_frac;  /* fractions of a byte the window grew by, 1/65536 byte */
};

struct mb_tcp_span {
	struct mb_sbuf *buf; /* one reference, owned by the connection */
	uint64_t off;
	uint64_t len;
	uint64_t start; /* stream offset of its first byte */
};

/*
 * One connection, at most 512 bytes.  Send-side positions are 64-bit stream
 * offsets (byte 0 = ISS+1), converted to sequence numbers on the wire, so an
 * image of any size needs no wrap arithmetic inside the core.
 */
struct mb_tcp_conn {
	struct mb_tcp_tuple t;
	uint8_t state;
	uint8_t snd_wscale, rcv_wscale;
	uint16_t ts_ok : 1, sack_ok : 1, fin_queued : 1, in_recovery : 1, persist : 1,
		ack_now : 1, accepted : 1, peer_fin : 1, ws_ok : 1,
		cc_cubic : 1, /* CUBIC, else NewReno (fixed at the SYN) */
		cc_epoch : 1, /* cubic.epoch_ms holds the running stage's start */
		cc_rto : 1,   /* the stage follows an RTO: W_max = cwnd_epoch, K = 0 */
		tlp_armed : 1, /* t_rexmt is a tail loss probe's deadline (PTO) */
		tlp_out : 1,   /* a probe's episode is open (tlp_lo, tlp_end): no other probe */
		rack_on : 1;   /* recovery: rack_* describe the first hole's last retransmission */
	uint8_t dupacks;
	uint8_t nrexmt;		/* consecutive RTO expiries */
	uint8_t nspans, span_head; /* ring of spans */
	uint16_t mss;		/* effective send MSS (payload per segment) */
	uint32_t iss, irs;
	uint32_t rcv_nxt;
	uint32_t rcv_wnd;	/* what we last advertised (bytes) */
	uint32_t snd_wnd;	/* peer's window, scaled (bytes) */
	uint32_t snd_wl1, snd_wl2;
	uint32_t ts_recent;
	uint32_t cwnd, ssthresh;
	uint32_t srtt_us, rttvar_us, rto_us;
	uint64_t una, nxt, max; /* stream offsets */
	uint64_t end;		/* stream offset after the last queued byte */
	uint64_t recover;	/* NewReno: max when recovery began */
	uint64_t rexmt_nxt;	/* SACK recovery: holes below this were resent */
	uint64_t rtt_off;	/* Karn timing without timestamps */
	uint64_t rtt_start_ns;
	uint64_t t_rexmt;	/* RTO, probe (tlp_armed) or persist deadline, 0 = off */
	uint64_t t_idle;	/* last segment received + idle timeout */
	uint64_t t_wait;	/* TIME_WAIT / FIN_WAIT_2 end, 0 = off */
	uint64_t timer_at;	/* deadline the wheel holds it for, 0 = not queued */
	uint32_t tw_next, tw_prev; /* timer wheel links (index + 1, 0 = none) */
	uint32_t hash;		   /* of the tuple, for the table's backward-shift delete */
	uint8_t nsb;		   /* SACK scoreboard entries */
	struct {
		uint64_t l, r; /* stream offsets, l < r */
	} sb[MB_TCP_SCOREBOARD];
	struct mb_tcp_span span[MB_TCP_SPANS];
	void *app;		/* application state, owned by the application */
	uint64_t cookie;	/* application's value (FTP transfer id, flags) */
	uint8_t l2[8];		/* the glue's: peer MAC to answer to */
	struct mb_tcp_cubic cubic;
	/* the open tail loss probe episode (tlp_out, RFC 8985 section 7.4):
	 * the probe's first sequence number and what was the highest sent
	 * (SND.NXT, the RFC's TLP.end_seq) when it went out */
	uint32_t tlp_lo, tlp_end;
	/* the first hole's last retransmission in recovery (rack_on): when it
	 * went out, and where what went out after it starts (holes resent
	 * from rack_mark up to rexmt_nxt, new data from rack_max) */
	uint64_t rack_ns;
	uint64_t rack_mark, rack_max;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct mb_tcp_conn) <= 512, "a connection must fit in 512 bytes");

struct mb_tcp_stack;

/* Callbacks from the core to its user (the dataplane glue, or a test). */
struct mb_tcp_ops {
	/* Build and send one segment.  0 if sent, <0 if not (counted; the
	 * timers recover). */
	int (*emit)(void *ctx, const struct mb_tcp_out *out);
	/* Is someone serving (laddr, lport) for this peer?  false -> RST. */
	bool (*listening)(void *ctx, const struct mb_tcp_tuple *t);
	/* The connection is established: attach app state.  <0 refuses (RST). */
	int (*accept)(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
	/* In-order bytes from the peer; returns how many it took (the rest is
	 * not acknowledged).  May call mb_tcp_send/close/abort. */
	uint32_t (*recv)(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c,
			 const uint8_t *data, uint32_t len);
	/* A span was fully acknowledged; a slot is free.  May send. */
	void (*sent)(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
	/* The peer sent FIN (no more bytes come).  May send/close. */
	void (*peer_fin)(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
	/* The connection is gone (closed, reset, timed out): free c->app.  The
	 * core drops the span references itself. */
	void (*closed)(void *ctx, struct mb_tcp_stack *s, struct mb_tcp_conn *c);
};

struct mb_tcp_params {
	uint32_t max_conns;
	uint32_t syn_backlog;	/* SYN_RCVD entries before SYN cookies */
	uint16_t mss;		/* our MSS (MTU - 40), 76..MB_TCP_MSS_MAX */
	uint32_t initial_window; /* segments */
	uint32_t rcv_wnd;	/* receive window we advertise (<= 65535) */
	uint64_t idle_timeout_ns;
	uint64_t timewait_ns;
	uint32_t rto_min_us, rto_max_us, rto_init_us;
	uint32_t max_rexmt;	/* RTO expiries before giving up */
	uint32_t max_conns_per_src; /* connections one peer address may hold, 0 = no limit */
	uint32_t max_app_per_src;   /* mb_tcp_src_take units per peer address, 0 = no limit */
	bool syn_cookies_always;
	/* SYN cookies are answered at most syn_cookie_rate times a second (a
	 * tenth of a second's worth at once), 0 = no limit, and the SYNs from
	 * one link-layer neighbour (mb_tcp_seg.link, hashed into
	 * MB_TCP_CK_LINKS buckets) at most a quarter of that: a flood of forged
	 * addresses from one neighbour cannot spend the budget of the others.
	 * A SYN past either is counted and dropped: a real client sends it
	 * again after its RTO (1 s), a forged one costs no SYN-ACK. */
	uint32_t syn_cookie_rate;
	uint8_t cc;		/* enum mb_tcp_cc of new connections */
	/* Segmentation offload: the largest data segment handed to emit (the
	 * port cuts it into segments of the connection's MSS), 0 = none, so
	 * every segment carries at most the MSS.  At most MB_TCP_TSO_MAX. */
	uint32_t tso_max;
	uint8_t secret[16];	/* SYN cookie / hash key (random) */
};

/* Defaults (max_conns 1024, idle 300 s, TIME_WAIT 2 s, RTO 200 ms..60 s,
 * initial 1 s, mss 1460, iw 10, no per-source limits).  The secret stays
 * zero: set it. */
void mb_tcp_params_default(struct mb_tcp_params *p);

/* Allocate a stack and its preallocated table (malloc; owned by the caller,
 * freed by mb_tcp_stack_free).  NULL with errno. */
struct mb_tcp_stack *mb_tcp_stack_new(const struct mb_tcp_params *p, const struct mb_tcp_ops *ops,
				      void *ctx);
/* Close every connection (closed callbacks run, no segments sent), free. */
void mb_tcp_stack_free(struct mb_tcp_stack *s);

/* Feed one parsed segment for tuple t (t->l* = its destination).  Runs
 * callbacks and emits replies.  now in monotonic ns. */
void mb_tcp_input(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t,
		  const struct mb_tcp_seg *seg, uint64_t now);
/* Run expired timers.  Cheap when nothing is due; call every loop pass. */
void mb_tcp_timers(struct mb_tcp_stack *s, uint64_t now);

/* Application side (callbacks or the owning lcore).  Queue bytes
 * [off, off+len) of buf; on success the caller's reference moves to the
 * connection, on error the caller keeps it.  0, -ENOSPC (span queue full),
 * -EPIPE (connection closing), -EINVAL (range outside the buffer). */
int mb_tcp_send(struct mb_tcp_stack *s, struct mb_tcp_conn *c, struct mb_sbuf *buf, uint64_t off,
		uint64_t len);
/* FIN after everything queued.  0 or -EPIPE if already closing. */
int mb_tcp_close(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* Send RST and free the connection now (closed callback runs). */
void mb_tcp_abort(struct mb_tcp_stack *s, struct mb_tcp_conn *c);
/* Per-source accounting for the application: take one unit (a request
 * buffer, say) charged to c's peer address; false, counted in
 * app_src_limit, when the address already holds max_app_per_src.  Each
 * successful take is returned with mb_tcp_src_put on the same connection
 * before its closed callback returns. */
bool mb_tcp_src_take(struct mb_tcp_stack *s, const struct mb_tcp_conn *c);
void mb_tcp_src_put(struct mb_tcp_stack *s, const struct mb_tcp_conn *c);
/* Connections and application units a peer address holds now. */
uint32_t mb_tcp_src_conns(const struct mb_tcp_stack *s, uint32_t raddr);
uint32_t mb_tcp_src_units(const struct mb_tcp_stack *s, uint32_t raddr);

/* Reset (RST) every connection with a span of `sb` queued: its bytes were
 * withdrawn (an image whose mapping faulted).  Counted in conn_withdrawn;
 * returns how many.  Owning lcore. */
unsigned mb_tcp_abort_buf(struct mb_tcp_stack *s, const struct mb_sbuf *sb);
/* The reloadable parameters (0 keeps a value, cc < 0 too): the initial
 * window and the congestion control (enum mb_tcp_cc) of new connections,
 * and the idle timeout (a shorter one also shortens the live connections'
 * idle deadlines).  Owning lcore. */
void mb_tcp_stack_set_params(struct mb_tcp_stack *s, uint32_t initial_window,
			     uint64_t idle_timeout_ns, int cc);
/* "newreno" or "cubic" -> enum mb_tcp_cc, or -1. */
int mb_tcp_cc_parse(const char *name);

/* Free span slots (for the application deciding whether to queue more). */
static inline unsigned
mb_tcp_span_room(const struct mb_tcp_conn *c)
{
	return MB_TCP_SPANS - c->nspans;
}

/* Queries. */
const struct mb_tcp_counters *mb_tcp_stack_counters(const struct mb_tcp_stack *s);
uint32_t mb_tcp_stack_nconns(const struct mb_tcp_stack *s);
struct mb_tcp_conn *mb_tcp_lookup(struct mb_tcp_stack *s, const struct mb_tcp_tuple *t);
const char *mb_tcp_state_name(enum mb_tcp_state st);

/* SipHash-2-4 (keyed hash for the table and SYN cookies). */
uint64_t mb_tcp_siphash(const uint8_t key[16], const void *data, size_t len);

#endif /* _MB_TCP_H_ */
