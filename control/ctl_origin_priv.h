/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the files of the parent origin (origin.url = mfrisbee://) share, all
 * on the control thread:
 *  - ctl_origin.c: the state, the parent's reachability, the exchanges with
 *    the parent (GETSTATUS, GET, the connect probe), the images it tracks,
 *    the master server's question (origin_decide), health, the subsystem;
 *  - ctl_origin_fetch.c: a fetch: the parent's GET, the Frisbee receiver,
 *    writing, hashing and publishing;
 *  - ctl_origin_plan.c: the decisions (pure).
 */
#ifndef _MB_CTL_ORIGIN_PRIV_H_
#define _MB_CTL_ORIGIN_PRIV_H_

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"
#include "ctl_worker.h"
#include "fris_rx.h"
#include "mb_fillq.h"
#include "mb_image.h"
#include "mb_manifest.h"
#include "ms_wire.h"

#define ORIGIN_MAX_IMAGES 256      /* images tracked at once */
#define ORIGIN_REQ_TIMEOUT_MS 5000 /* one exchange with the parent (stock: 5 s) */
#define ORIGIN_BIND_TRIES 64      /* local ports tried for one exchange (origin_socket) */
#define ORIGIN_FRESH_MIN_MS 1000   /* a parent's answer is shared this long at least */
#define ORIGIN_DOWN_BASE_MS 2000   /* parent down: first backoff, doubling */
#define ORIGIN_DOWN_MAX_MS 60000
#define ORIGIN_FAIL_BASE_MS 5000 /* failed fetch: first backoff, doubling */
#define ORIGIN_FAIL_MAX_MS 300000
#define ORIGIN_TRYAGAIN_MS 5000 /* the parent is fetching itself: ask again */
#define ORIGIN_TRYAGAIN_MAX 720 /* ... for an hour at most */
#define ORIGIN_JOIN_RESEND_MS 500
#define ORIGIN_TICK_MS 10 /* receiver ticks (the protocol's are 30 ms) */
#define ORIGIN_RX_BATCH 32
#define ORIGIN_RX_BATCHES 16 /* recvmmsg calls per readiness event */
#define ORIGIN_RCVBUF (4 << 20)
#define ORIGIN_FILLQ_SLOTS 8192 /* the dataplane fill queue: ~70 ms at 1 Gbit/s, 9 MB */
#define ORIGIN_FILL_BATCH 64
#define ORIGIN_FILL_BATCHES 64 /* fill queue batches per loop pass */
#define ORIGIN_REASON_MAX 320
#define ORIGIN_CUT_WAIT_MS 3000 /* cut-through: a GET waits this long for the session */

struct oimg;

/* One request and its reply with the parent (or a bare connect: probe). */
struct pexch {
	int fd;
	struct oimg *im; /* NULL: the reachability probe */
	bool status;
	bool connected;
	uint8_t buf[MB_MS_MSG_MAX];
	size_t len, sent;
	uint32_t local; /* our address on the connection, network order */
	struct mb_ctl_timer *timer;
};

enum fetch_phase { F_GET, F_GET_WAIT, F_JOIN, F_RECV, F_FINISH };

struct fetch {
	struct oimg *im; /* NULL once abandoned while the worker holds it */
	enum fetch_phase phase;
	struct pexch *x; /* the GET in flight */
	struct mb_ms_get_reply rep;
	uint32_t myip, server, group; /* network order; group 0 unless multicast */
	struct sockaddr_in dst;
	uint16_t port;
	int rsock, ssock;
	bool kgroup; /* the dataplane passes the group to the kernel */
	bool krx;    /* rsock is in the control loop */
	struct mb_fillq *fq; /* the dataplane's fill queue, or NULL */
	bool via_dp;         /* the session reached us through fq: rsock no longer read */
	uint64_t dp_pkts, k_pkts; /* datagrams through fq, through kernel sockets */
	struct mb_ctl_timer *timer;
	struct mb_ctl_timer *ready_timer; /* cut-through: waiting GETs give up, TRYAGAIN */
	struct mb_frx rx;
	bool rx_init;
	uint32_t clientid;
	struct mb_image *mem; /* the final memory, or NULL: ... */
	uint8_t *map;         /* ... the .part mapped (larger than the budget) */
	uint8_t *into;        /* where BLOCKs go: mem's bytes or map */
	bool synced;          /* mapped: hashed, the fsync done too */
	struct mb_manifest_entry e;
	uint64_t start_ns, join_ns, last_valid_ns, last_join_ns;
	unsigned int tryagains;
	uint64_t drops, foreign;
	uint64_t nreq, ntimeouts, ndup; /* the receiver's, kept past its end */
	char path[4096 + 64];
	int fd;
	struct mb_hash hash;
	bool hash_init;
	struct mb_work w;
};

struct oimg {
	char name[MB_IMAGE_NAME_MAX + 1];
	char id[MB_MS_ID_LEN + 1]; /* as the node asked: forwarded to the parent */
	uint16_t idlen;
	uint32_t client; /* the node of the last request, host order */
	bool known;
	uint64_t known_ms;
	uint32_t known_client;
	unsigned int known_err;
	uint64_t p_size;
	int64_t p_mtime;
	struct pexch *check;
	struct fetch *fetch;
	unsigned int failures;
	uint64_t retry_at_ms;
	unsigned int failed_err;
	char reason[ORIGIN_REASON_MAX];
	uint64_t used_ms;
	uint64_t fills, last_fill_ms, last_fill_bytes;
};

#define ORIGIN_COUNTERS(X)                                                                         \
	X(asks, "GETSTATUS requests sent to the parent")                                           \
	X(ask_failures, "GETSTATUS requests the parent did not answer")                            \
	X(fetches, "fetches started")                                                              \
	X(fills, "images filled and published")                                                    \
	X(fetch_failures, "fetches that failed")                                                   \
	X(parent_tryagain, "GETs the parent answered TRYAGAIN")                                    \
	X(bytes, "image bytes received from the parent")                                           \
	X(served_stale, "requests served from a copy the parent could not confirm")                \
	X(cut_through, "GETs served from an image still arriving (cut-through)")                   \
	X(redirects, "GETs sent to the parent's multicast/broadcast session (redirect)")          \
	X(rx_drops, "datagrams dropped by the receiver (decode or source checks)")                 \
	X(rx_dataplane, "datagrams received through the dataplane's fill queue")                   \
	X(rx_kernel, "datagrams received on kernel sockets")

/* The origin's state (ctl_origin.c owns it). */
struct origin_state {
	bool on;
	const struct mb_config *cfg;
	char url[2048];
	char host[256];
	uint16_t port;
	struct sockaddr_in sa;
	uint8_t methods;
	struct oimg *imgs[ORIGIN_MAX_IMAGES];
	unsigned int n;
	unsigned int active; /* fetches running */
	uint64_t seq;
	/* the parent's reachability */
	bool down;
	unsigned int down_failures;
	uint64_t down_until_ms;
	char down_reason[ORIGIN_REASON_MAX];
	struct mb_ctl_timer *probe_timer;
	struct pexch *probe;
	struct {
#define X(n, h) uint64_t n;
		ORIGIN_COUNTERS(X)
#undef X
	} cnt;
};

extern struct origin_state mb_origin;

/* ctl_origin.c */
uint64_t origin_now_ms(void);
void origin_set_reason(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The parent did not answer: down for a backoff, the probe armed. */
void origin_parent_down(const char *why);
void origin_parent_up(void);
/* A GETSTATUS (status) or GET for im's id by hostip (host order, 0 = for
 * ourselves), or a bare connect when im is NULL.  NULL with errno. */
struct pexch *origin_pexch_start(struct oimg *im, bool status, uint32_t hostip);
void origin_pexch_free(struct pexch *x);

/* ctl_origin_fetch.c */
/* Start fetching im (the GET to the parent).  0 or -errno. */
int origin_fetch_start(struct oimg *im);
/* The image lets go of its fetch: freed now or by the worker's completion. */
/* Do GETs for a fetching image wait for its session (cut-through or
 * redirect on)? */
static inline bool
origin_waits(void)
{
	return mb_origin.cfg->parent_cut_through || mb_origin.cfg->parent_redirect;
}

void origin_fetch_detach(struct fetch *f);
/* The parent answered the fetch's GET (rc 0, rep) or did not (rc -errno). */
void origin_get_done(struct fetch *f, int rc, const struct mb_ms_get_reply *rep);

#endif /* _MB_CTL_ORIGIN_PRIV_H_ */
