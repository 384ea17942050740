/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's public surface: lifecycle (main thread), commands from the
 * control thread (rte_ring, one direction each; each message belongs to the
 * receiver), events back to the control thread, and lock-free reads of
 * counters for the control socket and telemetry.
 *
 * Threads: mb_dp_init/mb_dp_fini on the main thread; mb_dp_lcore_main on
 * each dataplane lcore; the command and query functions on the control
 * thread only.  Lcores are liburcu-qsbr readers of the image table
 * (registered by mb_dp_lcore_main, one quiescent state per loop pass, offline
 * while sleeping).
 */
#ifndef _MB_DP_H_
#define _MB_DP_H_

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "mb_config.h"
#include "mb_image.h"

/* ---- lifecycle ----------------------------------------------------------- */

/* After rte_eal_init: configure and start the port, mempools, exception TAP,
 * rings.  0 or -errno (logged here, once). */
int mb_dp_init(const struct mb_config *cfg);
/* Poll loop of one lcore; returns when mb_dp_stop() was called.  `arg` unused. */
int mb_dp_lcore_main(void *arg);
/* Ask every lcore loop to return.  Any thread. */
void mb_dp_stop(void);
/* After all lcores returned: drop sessions (unref images), stop and close
 * ports, free pools.  Main thread. */
void mb_dp_fini(void);
/* Apply the reloadable keys of a new config (rates, idle timeouts).
 * Control thread. */
void mb_dp_reconfig(const struct mb_config *cfg);

/* ---- Frisbee sessions ---------------------------------------------------- */

enum mb_fris_method {
	MB_FRIS_UNICAST = 1,   /* same bits as the master server's method mask */
	MB_FRIS_MULTICAST = 2,
	MB_FRIS_BROADCAST = 4,
};

struct mb_fris_session_params {
	uint32_t addr;	       /* group, broadcast or client IPv4, network order */
	uint16_t port;	       /* UDP port, host order */
	enum mb_fris_method method;
	struct mb_image *img;  /* a reference that moves to the dataplane */
	uint64_t rate_bps;     /* 0 = config default */
	uint64_t idle_timeout_s; /* 0 = config default */
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

/* ---- events to the control thread ---------------------------------------- */

enum mb_dp_event_type {
	MB_DP_EV_SESSION_END = 1, /* a.id = session id; the image ref was dropped */
	MB_DP_EV_LINK,		  /* a.up = new link state */
	MB_DP_EV_FTP_XFER_END,	  /* id = mb_dp_tcp_expect cookie, up = every byte acked */
};

struct mb_dp_event {
	enum mb_dp_event_type type;
	uint32_t id;
	bool up;
};

/* An eventfd that becomes readable when events are queued (control loop
 * watches it), and the dequeue.  Returns events dequeued (0..n). */
int mb_dp_event_fd(void);
unsigned mb_dp_events_poll(struct mb_dp_event *ev, unsigned n);

/* ---- queries (control thread; counters are read without locks) ---------- */

bool mb_dp_link_up(void);
uint64_t mb_dp_link_speed_bps(void);
uint32_t mb_dp_local_addr(void); /* network order */
json_t *mb_dp_sessions_json(void);  /* [ {id, image, addr, port, method, counters...} ] */
json_t *mb_dp_stats_json(void);	    /* port and engine counters, drops by reason */

/* ---- TCP (dataplane/tcp*) hooks for FTP data connections ------------------ */

/* Expect a passive data connection on `port` for an FTP transfer: the first
 * connection from `peer` (network order) to `port` sends bytes [off, off+len)
 * of `img` (reference moves in) then closes.  Control thread.  0 or -errno.
 * Clients connect right after PASV/EPSV, before RETR: call it first with
 * img == NULL at PASV time (opens the port; the connection waits), then
 * again with the image at RETR/LIST time (same port and cookie).  The
 * dataplane reports the end through its transfer-done callback (dp_tcp.h). */
/* Refuse (RST) new HTTP connections while on (drain); connections already
 * open and FTP data connections are not affected.  Any thread. */
void mb_dp_tcp_refuse_new(bool on);

int mb_dp_tcp_expect(uint16_t port, uint32_t peer, struct mb_image *img, uint64_t off,
		     uint64_t len, uint64_t cookie);

#endif /* _MB_DP_H_ */
