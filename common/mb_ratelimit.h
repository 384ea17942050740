/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small rate limiter for log lines a peer can trigger (a refused request,
 * a bad path, a connection over a limit): at most `burst` lines per
 * `interval`, the rest counted, and the count handed to the next line that
 * is allowed so the log says how much it left out ("(37 similar lines
 * suppressed)").  The kernel's ratelimit and systemd's log_ratelimit work
 * the same way.
 *
 * One struct per call site (usually a static in the function that logs);
 * not thread-safe: each limiter belongs to one thread (the control thread for
 * every user today).  The clock is passed in, so tests drive it.  DPDK-free;
 * never logs (MB_LOG_RL in mb_log.h is the logging wrapper).
 */
#ifndef _MB_RATELIMIT_H_
#define _MB_RATELIMIT_H_

#include <stdbool.h>
#include <stdint.h>

struct mb_ratelimit {
	uint64_t interval_ns;
	uint32_t burst;
	uint32_t passed;	  /* lines allowed in the current interval */
	uint64_t begin_ns;	  /* start of the current interval, 0 = none yet */
	uint64_t pending;	  /* suppressed and not yet reported */
	uint64_t suppressed;	  /* suppressed since the start, for counters */
};

/* A limiter allowing `burst` lines per `ms` milliseconds. */
#define MB_RATELIMIT_INIT(ms, n) { .interval_ns = (uint64_t)(ms) * 1000000ull, .burst = (n) }

/*
 * May a line be logged at now_ns (CLOCK_MONOTONIC)?  True: log it, and when
 * *ret_pending (may be NULL) is not 0, say that many similar lines were
 * suppressed before it (the count is then cleared).  False: the line is
 * counted as suppressed.  A limiter with burst 0 suppresses everything.
 */
bool mb_ratelimit_ok(struct mb_ratelimit *rl, uint64_t now_ns, uint64_t *ret_pending);

#endif /* _MB_RATELIMIT_H_ */
