/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parent origin's decisions, as pure functions (ctl_origin_plan.c):
 * what a GET or GETSTATUS for one image gets, given what the miniboss holds
 * and what the parent last said; whether a parent's GET reply may be used;
 * how long a failure waits.  No state, no clock, no I/O: ctl_origin.c feeds
 * them and the unit tests drive them with every case.
 */
#ifndef _MB_CTL_ORIGIN_PLAN_H_
#define _MB_CTL_ORIGIN_PLAN_H_

#include <stdbool.h>
#include <stdint.h>

#include "ms_wire.h"

/* Frisbee chunk numbers are int32 on the wire. */
#define MB_ORIGIN_MAX_CHUNKS 0x7fffffffull

/* Everything one decision looks at. */
struct mb_origin_view {
	bool status; /* the request is a GETSTATUS */
	bool held;   /* a published local copy exists */
	uint64_t held_size;
	int64_t held_mtime;
	bool fetching;          /* a fetch from the parent runs for this image */
	bool checking;          /* a GETSTATUS to the parent runs for this image */
	bool known;             /* the parent answered a GETSTATUS for it */
	uint64_t known_age_ms;  /* ... this long ago */
	unsigned int known_err; /* that answer's MB_MS_ERROR_* (0: size and mtime) */
	uint64_t p_size;
	int64_t p_mtime;
	uint64_t fresh_ms;       /* how long an answer of the parent counts */
	bool parent_down;        /* the parent did not answer lately (backing off) */
	bool failed;             /* the last fetch failed and its backoff runs */
	unsigned int failed_err; /* the parent's error for it, 0 = transfer or local */
};

enum mb_origin_verdict {
	MB_OV_LOCAL,  /* serve the local copy as if there were no parent */
	MB_OV_ASK,    /* send the parent a GETSTATUS, answer when it replied */
	MB_OV_WAIT,   /* a GETSTATUS runs already: answer when it replied */
	MB_OV_FETCH,  /* start fetching from the parent, answer TRYAGAIN */
	MB_OV_STATUS, /* GETSTATUS: the parent's size and mtime, method 0, not running */
	MB_OV_ERROR,  /* answer the error code */
};

/*
 * The rules (doc/parent-origin.md):
 *  - while a fetch runs: GET TRYAGAIN, GETSTATUS the parent's size/mtime;
 *  - parent down: the local copy serves; without one, NOIMAGE (as a stock
 *    subboss maps an unreachable parent);
 *  - otherwise the parent's answer must be fresher than fresh_ms, else ASK
 *    (or WAIT behind the GETSTATUS in flight);
 *  - the parent's error (NOIMAGE, NOACCESS, ...) reaches the node as is;
 *  - a local copy with the parent's size and MTIME serves; a GETSTATUS for
 *    a missing or different copy gets the parent's size and mtime;
 *  - a GET for a missing or different copy starts a fetch, unless the last
 *    one failed and is backing off: then the stale copy serves, or the node
 *    gets the parent's error, or TRYAGAIN.
 * Returns the verdict; *ret_err is the code for MB_OV_ERROR.
 */
enum mb_origin_verdict mb_origin_decide(const struct mb_origin_view *v, unsigned int *ret_err);

/*
 * May a parent's GET reply be used for a fetch?  It must carry no error,
 * exactly one method out of `asked`, a port and a server address, an MTIME
 * signature, and a size of 1..max_size bytes (max_size 0: only the
 * protocol's limit, MB_ORIGIN_MAX_CHUNKS chunks of 1 MiB); the size bounds
 * what the receiver allocates (its chunk table).  0, or -EINVAL/-EFBIG with
 * a reason for people in *ret_why.
 */
int mb_origin_check_get(const struct mb_ms_get_reply *rep, uint8_t asked, uint64_t max_size,
                        const char **ret_why);

/* The wait before retrying after `failures` consecutive failures (>= 1):
 * base_ms doubling, at most max_ms. */
uint64_t mb_origin_backoff_ms(unsigned int failures, uint64_t base_ms, uint64_t max_ms);

#endif /* _MB_CTL_ORIGIN_PLAN_H_ */
