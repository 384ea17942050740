/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's public surface: lifecycle (main thread), the typed
 * command channel from the control thread and the typed events back
 * (dp_chan.c: one bounded rte_ring in each direction, each message copied
 * into the ring and owned by the receiver), and lock-free snapshots of the
 * counters for the control socket and telemetry, which control/ renders
 * (control/ctl_dpstats.c).  No JSON here: the counter lists and snapshot
 * structs are in dp_counters.h.
 *
 * Threads: mb_dp_init/mb_dp_fini on the main thread; mb_dp_lcore_main on
 * each dataplane lcore; the command, event and snapshot functions on the
 * control thread only (one producer of commands, one reader of events).
 * Lcores are liburcu-qsbr readers of the image table (registered by
 * mb_dp_lcore_main, one quiescent state per loop pass, offline while
 * sleeping).
 */
#ifndef _MB_DP_H_
#define _MB_DP_H_

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dp_counters.h"
#include "mb_config.h"
#include "mb_fillq.h"
#include "mb_image.h"
#include "mb_sbuf.h"

/* ---- lifecycle ----------------------------------------------------------- */

/* After rte_eal_init: configure and start the port, mempools, exception TAP,
 * the channel.  0 or -errno (logged here, once). */
int mb_dp_init(const struct mb_config *cfg);
/* Poll loop of one lcore; returns when mb_dp_stop() was called.  `arg` unused. */
int mb_dp_lcore_main(void *arg);
/* Ask every lcore loop to return.  Any thread. */
void mb_dp_stop(void);
/* After all lcores returned: drop sessions (unref images), stop and close
 * ports, free pools.  Main thread. */
void mb_dp_fini(void);
/* Apply the reloadable dataplane keys of a new config: the idle sleep,
 * rates, Frisbee idle timeout, dynamic rate, unicast resend share and
 * multicast TTL, IGMP querier mode and interval, TCP idle timeout and
 * initial window.  The lcore picks them
 * up within 100 ms; what a session fixes at its start (rate, idle timeout,
 * dynamic rate, output budget) applies to sessions started afterwards.
 * Control thread. */
void mb_dp_reconfig(const struct mb_config *cfg);

/* ---- commands: Frisbee sessions ------------------------------------------ */

enum mb_fris_method {
	MB_FRIS_UNICAST = 1,   /* same bits as the master server's method mask */
	MB_FRIS_MULTICAST = 2,
	MB_FRIS_BROADCAST = 4,
};

/* How a session ends besides a stop (frisbee.linger). */
enum mb_fris_linger {
	MB_FRIS_LINGER_DEFAULT = 0, /* params: the configuration's */
	MB_FRIS_LINGER_IDLE,	    /* idle timeout without progress */
	MB_FRIS_LINGER_NEVER,	    /* only when stopped */
	MB_FRIS_LINGER_LEAVE,	    /* 2 s after the last client's LEAVE, or idle */
};

/* frisbee.linger's word ("idle", "never", "leave"); IDLE for anything
 * else (the configuration check refuses other words). */
static inline enum mb_fris_linger
mb_dp_linger_parse(const char *s)
{
	if (strcmp(s, "never") == 0)
		return MB_FRIS_LINGER_NEVER;
	if (strcmp(s, "leave") == 0)
		return MB_FRIS_LINGER_LEAVE;
	return MB_FRIS_LINGER_IDLE;
}

struct mb_fris_session_params {
	uint32_t addr;	       /* group, broadcast or client IPv4, network order */
	uint16_t port;	       /* UDP port, host order */
	enum mb_fris_method method;
	struct mb_image *img;  /* a reference that moves to the dataplane */
	uint64_t rate_bps;     /* 0 = config default */
	uint64_t idle_timeout_s; /* 0 = config default */
	enum mb_fris_linger linger; /* DEFAULT = frisbee.linger */
	uint32_t push_passes;  /* benchmarks: send every chunk this many times, unrequested */
};

/* Start a session (control thread).  On success the image reference belongs
 * to the dataplane, *ret_id names the session, and an MB_DP_EV_SESSION_END
 * event follows when it ends.  -EBUSY if (addr, port) is taken, -ENOSPC past
 * frisbee.max-sessions, -EAGAIN if the command ring is full.  On error the
 * caller keeps its reference. */
int mb_dp_fris_session_start(const struct mb_fris_session_params *p, uint32_t *ret_id);
/* Ask a session to end now (control thread). 0 or -ENOENT/-EAGAIN. */
int mb_dp_fris_session_stop(uint32_t id);

/* ---- commands: TCP (HTTP, FTP data) --------------------------------------- */

/* Expect a passive data connection on `port` for an FTP transfer: the first
 * connection from `peer` (network order) to `port` sends bytes [off, off+len)
 * of `sb` (reference moves in) then closes.  Control thread.  0, -EINVAL,
 * -ENODEV, or -EAGAIN (command ring full; the caller keeps its reference).
 * Clients connect right after PASV/EPSV, before RETR: call it first with
 * sb == NULL at PASV time (opens the port; the connection waits), then
 * again with the bytes at RETR/LIST time (same port and cookie).  The end
 * comes back as MB_DP_EV_FTP_XFER_END with the same 64-bit cookie. */
int mb_dp_tcp_expect(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off,
		     uint64_t len, uint64_t cookie);
/* The image's bytes went bad (a mapping fault): reset every TCP connection
 * (HTTP, FTP data) sending from it and drop FTP expectations holding it
 * (their transfers end failed).  Takes its own reference for the message.
 * Control thread.  0, -ENODEV or -EAGAIN. */
int mb_dp_tcp_abort_image(struct mb_image *img);
/* Refuse (RST) new HTTP connections while on (drain); connections already
 * open and FTP data connections are not affected.  A flag, not a message:
 * any thread. */
void mb_dp_tcp_refuse_new(bool on);

/* ---- events to the control thread ---------------------------------------- */

enum mb_dp_event_type {
	MB_DP_EV_SESSION_END = 1, /* the slot is released and the image ref dropped */
	MB_DP_EV_LINK,		  /* the port's link changed */
	MB_DP_EV_FTP_XFER_END,	  /* an mb_dp_tcp_expect transfer ended */
};

struct mb_dp_event {
	enum mb_dp_event_type type;
	union {
		struct {
			uint32_t id;   /* mb_dp_fris_session_start's id */
			uint32_t slot; /* the dataplane's own */
		} session;
		struct {
			bool up;
		} link;
		struct {
			uint64_t cookie; /* as given to mb_dp_tcp_expect */
			bool ok;	 /* every byte acknowledged */
		} xfer;
	} u;
};

/* An eventfd that becomes readable when events are queued (the control loop
 * watches it), and the dequeue: returns events dequeued (0..n).  Session
 * and transfer ends are never lost: what the event ring cannot take stays
 * with the lcore (as state: an ended slot, a port's newest transfer end)
 * and is posted once there is room. */
int mb_dp_event_fd(void);
unsigned mb_dp_events_poll(struct mb_dp_event *ev, unsigned n);

/* ---- queries (control thread; counters are read without locks) ---------- */

bool mb_dp_link_up(void);
uint64_t mb_dp_link_speed_bps(void);
uint32_t mb_dp_local_addr(void); /* network order */

/* A multicast group the kernel behind the exception TAP joined (on) or left
 * (off): its datagrams go to the kernel, and the port's multicast filter
 * takes it in, from the next 100 ms tick of the lcores.  For a kernel
 * socket of the control thread that receives from another server's group
 * (the parent origin).  Up to MB_DP_KGROUPS_MAX groups; `group` network
 * order.  0, or -ENOSPC/-ENOENT/-EINVAL.  Control thread. */
#define MB_DP_KGROUPS_MAX 8
int mb_dp_kernel_group(uint32_t group, bool on);
/* A fill queue (mb_fillq.h): from the next received frame the lcores copy
 * the UDP datagrams matching its key into it, ahead of the Frisbee sessions
 * and the kernel, for a receiver on the control thread (the parent
 * origin's fill) without the exception TAP and a kernel socket on the way.
 * Up to MB_DP_FILLS_MAX at once.  0, -ENOSPC or -ENODEV (not running).
 * mb_dp_fill_del stops it and takes q: freed after the lcores' next
 * quiescent state (q must not be used after).  Control thread. */
#define MB_DP_FILLS_MAX 8
int mb_dp_fill_add(struct mb_fillq *q);
void mb_dp_fill_del(struct mb_fillq *q);
/* The port's figures and every counter, summed over the lcores.  0, or
 * -ENODEV before mb_dp_init. */
int mb_dp_stats_read(struct mb_dp_stats *ret);
/* Up to `max` sessions that are not free (starting, active, ended), with
 * their counters; returns how many were written.  Updates each session's
 * measured rate (reads at least 100 ms apart). */
unsigned mb_dp_sessions_read(struct mb_dp_sess_info *ret, unsigned max);
/* frisbee.max-sessions: the most mb_dp_sessions_read can return. */
unsigned mb_dp_sessions_max(void);
/* Up to `max` nodes of session `id` (as mb_dp_sessions_read names it), in
 * the order they were first heard from; returns how many were written, 0
 * for an unknown session.  Control thread. */
unsigned mb_dp_session_nodes_read(uint32_t id, struct mb_dp_node_info *ret, unsigned max);

#endif /* _MB_DP_H_ */
