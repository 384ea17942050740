/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Token bucket in bits, and frisbeed's dynamic rate controller (-D).
 *
 * The bucket fills at `rate` bits per second up to `burst` bits, driven by a
 * clock the caller reads and passes in: nanoseconds, or TSC cycles with
 * `hz` = rte_get_tsc_hz().  Refill keeps the sub-bit remainder, so the
 * long-run rate is exact (no drift from rounding) from kbit/s to beyond
 * 100 Gbit/s; no syscall, no lock, no float in the refill path.
 *
 * The controller reproduces frisbeed's calcburst() in bits/s instead of
 * blocks per burst: every interval (500 ms), if any send overrun or chunk
 * retry was noted, the rate drops to 90% (by at least one step, never below
 * `min`), otherwise it rises by one step, never above `max`.
 *
 * The adaptive rate (struct mb_rate_adapt, frisbee.dynamic-rate, the
 * default) follows the receivers faster than frisbeed's rule: every
 * interval (100 ms) the caller reports the bits it sent and the bits its
 * receivers asked for again (loss evidence); a loss above 4% cuts the rate
 * in proportion to it (to what got through of what was really sent -- the
 * most sent in one of the last four intervals, when the sender had work
 * queued all interval and still did not reach its rate --, times 15/16, at
 * most to 1/8),
 * then no increase for three intervals (the evidence lags the sends by up to
 * a client's re-request timer); below 1%, and only while the sender used
 * most of its allowance, the rate creeps back by 1/32 of itself per
 * interval, rising to 4/32 after four clean intervals in a row -- but not
 * within `lag` intervals (1 s) of a cut: until the receivers' evidence of
 * the rate since the cut has come, clean intervals say nothing of it, and
 * accelerating then overshot a lone member's link threefold before its
 * first re-ask arrived.  Loss that
 * does not go down when the rate does (a lossy link, not a full one) is
 * taken as noise: when a verdict after a cut's hold, within its lag and
 * before the rate crept up again, still sees 3/4 of the loss that caused
 * it, that loss becomes the noise floor, and both
 * thresholds move up by 5/4 of the floor, which decays by 1/32 an
 * interval; the floor is at most 20% (more is not a lossy link to live
 * with: the cuts go on).  So a receiver losing 5% at any rate does not
 * drive the rate to the floor.
 *
 * mb_rate_adapt_judge() takes a loss the caller measured itself (a node
 * served alone: of what was sent to it of the chunks it asks for again);
 * `hold`, `creep_max`, `cut_max_ppm` and `noise_max_ppm` tune the hold
 * after a cut, the fastest step up, the deepest cut and the noise floor's
 * ceiling for such a receiver.
 *
 * One owner per object (not thread-safe), never logs, no DPDK.
 */
#ifndef _MB_TBUCKET_H_
#define _MB_TBUCKET_H_

#include <stdbool.h>
#include <stdint.h>

struct mb_tbucket {
	uint64_t rate;		/* bits per second; 0 = unlimited */
	uint64_t burst;		/* bits */
	uint64_t hz;		/* clock ticks per second */
	uint64_t tokens;	/* bits available, <= burst */
	uint64_t frac;		/* remainder of rate * ticks, in 1/hz bits */
	uint64_t last;		/* clock at the last refill */
};

/* Initialise full.  `hz` = clock frequency (1e9 for nanoseconds).  `burst` of
 * 0 picks 1 ms worth of rate (at least one 1500-byte frame).  0 or -EINVAL
 * (hz == 0). */
int mb_tbucket_init(struct mb_tbucket *tb, uint64_t rate, uint64_t burst, uint64_t hz,
		    uint64_t now);
/* Change rate/burst keeping the tokens (clipped to the new burst). */
void mb_tbucket_set_rate(struct mb_tbucket *tb, uint64_t rate, uint64_t burst, uint64_t now);
/* Add tokens earned since the last call. */
void mb_tbucket_refill(struct mb_tbucket *tb, uint64_t now);
/* Refill, then take `bits` if available: true if taken.  `bits` above the
 * burst can never be taken: keep the burst at least one packet. */
bool mb_tbucket_take(struct mb_tbucket *tb, uint64_t bits, uint64_t now);
/* Refill, then take up to `max` packets of `bits` each; returns how many. */
uint32_t mb_tbucket_take_n(struct mb_tbucket *tb, uint64_t bits, uint32_t max, uint64_t now);
/* Ticks from `now` until `bits` are available (0 if they are now). */
uint64_t mb_tbucket_wait(struct mb_tbucket *tb, uint64_t bits, uint64_t now);

/* ---- dynamic rate (frisbeed -D) ------------------------------------------ */

#define MB_TBUCKET_DYN_INTERVAL_US 500000	/* calcburst() period */
/* One step = one more block per 1 ms burst: 8976 bits x 1000 bursts/s. */
#define MB_TBUCKET_DYN_STEP 8976000ULL

struct mb_tbucket_dyn {
	uint64_t rate;		/* current bits/s */
	uint64_t min;
	uint64_t max;
	uint64_t step;
	uint64_t interval;	/* ticks */
	uint64_t next;		/* clock of the next decision */
	uint32_t overruns;	/* noted since the last decision */
	uint32_t retries;
	uint64_t decreases;
	uint64_t increases;
};

/* Start at `max` (frisbeed starts at the -W/-B burst).  `step` 0 =
 * MB_TBUCKET_DYN_STEP, `min` 0 = one step.  0 or -EINVAL. */
int mb_tbucket_dyn_init(struct mb_tbucket_dyn *d, uint64_t max, uint64_t min, uint64_t step,
			uint64_t hz, uint64_t now);
void mb_tbucket_dyn_note_overrun(struct mb_tbucket_dyn *d);
void mb_tbucket_dyn_note_retry(struct mb_tbucket_dyn *d);
/* If an interval has passed, decide and return true when d->rate changed
 * (apply it with mb_tbucket_set_rate()). */
bool mb_tbucket_dyn_tick(struct mb_tbucket_dyn *d, uint64_t now);

/* ---- adaptive rate (frisbee.dynamic-rate) -------------------------------- */

#define MB_RATE_ADAPT_INTERVAL_US 100000 /* decision period */
#define MB_RATE_ADAPT_HOLD 3		 /* intervals without increase after a cut */
#define MB_RATE_ADAPT_HI_PPM 40000	 /* loss above this (4%) cuts */
#define MB_RATE_ADAPT_LO_PPM 10000	 /* loss below this (1%) lets it creep back */
#define MB_RATE_ADAPT_NOISE_MAX_PPM 200000 /* loss beyond 20% is never noise */
#define MB_RATE_ADAPT_LAG 10		 /* intervals: the receivers' evidence lags the
					  * sends by a re-request delay (1 s) */

struct mb_rate_adapt {
	uint64_t rate;		/* current bits/s */
	uint64_t min;
	uint64_t max;
	uint64_t step;		/* smallest increase */
	uint64_t interval;	/* ticks */
	uint64_t next;		/* clock of the next decision */
	uint64_t last;		/* clock of the last decision */
	uint64_t hold_until;	/* no increase before this clock */
	uint32_t clean;		/* clean intervals in a row */
	uint32_t creep_max;	/* the step up is at most creep_max/32 (init: 4) */
	uint32_t hold;		/* intervals without increase after a cut (init:
				 * MB_RATE_ADAPT_HOLD) */
	uint32_t cut_max_ppm;	/* a cut takes at most this loss into account
				 * (init 875000: never below 1/8, x 15/16) */
	uint32_t noise_max_ppm;	/* the noise floor's ceiling (init
				 * MB_RATE_ADAPT_NOISE_MAX_PPM) */
	uint32_t lag;		/* intervals after a cut before the creep may
				 * accelerate (init: MB_RATE_ADAPT_LAG) */
	uint64_t cut_t;		/* clock of the last cut, 0 = none */
	uint32_t last_loss_ppm;	/* loss of the last decided interval */
	uint32_t noise_ppm;	/* loss that does not follow the rate */
	uint32_t cut_loss_ppm;	/* the loss that made the last cut */
	bool judge;		/* the last cut awaits its verdict */
	/* bits/s really sent in the last intervals (ring): a cut goes from
	 * what left, which a sender short of CPU keeps below `rate` */
	uint64_t sent_bps[MB_RATE_ADAPT_HOLD + 1];
	uint32_t sent_i;
	/* set by the caller before a tick: it had work queued all interval
	 * long, so what it sent is what it could send (false: it sent what
	 * was asked, and cuts go from the rate) */
	bool backlogged;
	uint64_t decreases;
	uint64_t increases;
};

/* Start at `start` (clipped to [min, max]; 0 = max).  `min` 0 = one
 * MB_TBUCKET_DYN_STEP.  0 or -EINVAL (hz or max 0). */
int mb_rate_adapt_init(struct mb_rate_adapt *ra, uint64_t max, uint64_t min, uint64_t start,
		       uint64_t hz, uint64_t now);
/* A new ceiling (a reloaded cap, the port's rate); the rate is clipped. */
void mb_rate_adapt_set_max(struct mb_rate_adapt *ra, uint64_t max);
/* Start again at the ceiling, as a new session does, forgetting the cuts,
 * the noise floor and the sends: the receivers whose loss made the cuts
 * are gone (moved out of the group). */
void mb_rate_adapt_restart(struct mb_rate_adapt *ra, uint64_t now);
/* If an interval has passed, decide from what the caller saw in it: `sent`
 * bits sent, `lost` bits the receivers asked for again, `overrun` local TX
 * pushback (counts as a 10% loss).  Returns true when ra->rate changed. */
bool mb_rate_adapt_tick(struct mb_rate_adapt *ra, uint64_t now, uint64_t sent, uint64_t lost,
			bool overrun);
/* The same decision from a loss the caller measured itself, in parts per
 * million of what its evidence is of (a node served alone: of the BLOCKs
 * sent to it of the chunks it asked for again).  Returns true when
 * ra->rate changed. */
bool mb_rate_adapt_judge(struct mb_rate_adapt *ra, uint64_t now, uint64_t sent, uint32_t loss_ppm);

/* `part` of `whole` in parts per million, at most 1000000; 0 of nothing.
 * The loss measures of the rate controllers (here and fris_nodes). */
static inline uint32_t
mb_ppm(uint64_t part, uint64_t whole)
{
	return whole == 0 ? 0 : part >= whole ? 1000000 :
		(uint32_t)((unsigned __int128)part * 1000000 / whole);
}

/* ---- counted window ------------------------------------------------------
 *
 * At most so many events per window of `len` ticks: a fixed window, begun
 * by the first event after the last one ended.  16 bytes where a bucket
 * takes 48, for limits kept per node (JOIN replies, JOINs that signal lost
 * replies); a burst of up to twice the limit across a window's edge is
 * accepted, which these limits allow. */
struct mb_cwin {
	uint64_t start;		/* clock of the window's first event */
	uint32_t n;		/* events in it, this one included; 0 = none yet */
};

/* Count one event at `now` and return the window's count, this event
 * included (saturating).  A clock behind `start` (read before the caller's
 * tick) is taken as inside the window. */
static inline uint32_t
mb_cwin_hit(struct mb_cwin *w, uint64_t len, uint64_t now)
{
	if (w->n == 0 || (now > w->start && now - w->start >= len)) {
		w->start = now;
		w->n = 0;
	}
	if (w->n != UINT32_MAX)
		w->n++;
	return w->n;
}

#endif /* _MB_TBUCKET_H_ */
