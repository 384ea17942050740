/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fakes for the control library, shared by the unit tests, the fuzz
 * harnesses and sync-probe (compiled once, in tests/fakes/):
 *
 *  - mbt_sess: Frisbee session starts and stops as a dataplane would see
 *    them (recorded; the image reference is dropped at once);
 *  - mbt_master_ops: the master server's logic (ctl_master.h) over a small
 *    image table and one "known but not published" name;
 *  - mbt_dp_ops: a whole fake dataplane behind the control library
 *    (ctl_dp.h), with an eventfd and an event queue the test posts to, so
 *    events reach the subsystems through the real dispatch;
 *  - mbt_ms_request: a master-server client for a test that runs the
 *    control loop itself;
 *  - mbt_ctl_thread_start: the control plane on a thread of its own, for a
 *    test whose main thread plays the clients.
 *
 * Nothing here redefines a symbol of the code under test: tests install
 * these through mb_ctl_dp_set() and mb_master_new().
 */
#ifndef _MBT_CTL_FAKES_H_
#define _MBT_CTL_FAKES_H_

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_dp.h"
#include "ctl_master.h"

struct mbt_sessions {
	int start_rc;	 /* what the next start returns (0: it starts) */
	unsigned starts; /* sessions started */
	unsigned stops;	 /* stop requests */
	uint32_t stopped_id;
	struct mb_fris_session_params last; /* of the last start (img dropped) */
	uint32_t next_id;
	uint32_t live[64]; /* ids started, for the caller to end */
	unsigned nlive;
};
extern struct mbt_sessions mbt_sess;
/* Forget every session; ids count from first_id. */
void mbt_sess_reset(uint32_t first_id);
int mbt_sess_start(const struct mb_fris_session_params *p, uint32_t *ret_id);
int mbt_sess_stop(uint32_t id);

#define MBT_IMAGES 4
/* The images mbt_master_ops looks up (NULL entries are skipped; the caller
 * owns the references). */
extern struct mb_image *mbt_images[MBT_IMAGES];
/* A name that is known but not published (GET: TRYAGAIN; size 4096, mtime
 * 1234), or NULL. */
extern const char *mbt_pending_name;
extern const struct mb_master_ops mbt_master_ops;

struct mbt_dp {
	uint32_t local_addr; /* network order */
	bool link_up;
	bool refuse_new;     /* the last drain switch */
	unsigned reconfigs;  /* mb_dp_reconfig calls */
	uint64_t idle_sleep_us; /* the last reconfig's dpdk.idle-sleep-us */
	/* FTP data: NULL accepts every expectation (and drops sb) */
	int (*expect)(uint16_t port, uint32_t peer, struct mb_sbuf *sb, uint64_t off,
		      uint64_t len, uint64_t cookie);
	unsigned aborts;     /* tcp_abort_image calls */
	char aborted[MB_IMAGE_NAME_MAX + 1];
};
extern struct mbt_dp mbt_dp;
extern const struct mb_ctl_dp_ops mbt_dp_ops;
/* Post an event as the dataplane would: queued, the eventfd written.
 * 0 or -ENOSPC. */
int mbt_dp_post(const struct mb_dp_event *ev);

/* A client of the master server for tests that are the control thread:
 * one request to 127.0.0.1:port from `src` (NULL: 127.0.0.1), the control
 * loop pumped while it waits (at most 5 s).  0 with *rep decoded, or
 * -errno (-EPIPE: closed without a reply). */
int mbt_ms_request(uint16_t port, const char *src, const struct mb_ms_get_request *req,
		   struct mb_ms_get_reply *rep);

/*
 * The control plane on a thread of its own, as the daemon's control thread
 * (ctl_thread.c): an RCU reader, the loop, mbt_dp_ops as the dataplane (local
 * address 127.0.0.1), mb_ctl_core_start(cfg, NULL, tab, n).  Returns 0 once
 * it runs (what the subsystems report, such as the ports they picked, may be
 * read then), or -1 when it failed or did not start within 10 s.
 * *ret_thread (may be NULL): the thread, for tests that measure it.
 * mbt_ctl_thread_stop stops the loop; the thread stops the core and ends.
 */
struct mb_config;
struct mb_ctl_subsys;
int mbt_ctl_thread_start(const struct mb_config *cfg, const struct mb_ctl_subsys *const *tab,
			 size_t n, pthread_t *ret_thread);
void mbt_ctl_thread_stop(void);
/* Publish a table of heap images named `names`, `size` zero bytes
 * each, from a thread that becomes an RCU reader, left offline (ctl_thread.c).
 * 0 or -1.  mbt_heap_images_unpublish: the table goes, its images with
 * their last user; the thread is no RCU reader any more. */
int mbt_heap_images_publish(const char *const *names, size_t n, size_t size);
void mbt_heap_images_unpublish(void);

#endif /* _MBT_CTL_FAKES_H_ */
