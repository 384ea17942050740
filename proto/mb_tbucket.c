/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Token bucket and dynamic-rate controller; see mb_tbucket.h.  Refill uses
 * 128-bit integer products and carries the remainder, so no rate is lost to
 * rounding however often it is called.
 */
#include <errno.h>
#include <string.h>

#include "mb_tbucket.h"

/* Ticks needed to fill an empty bucket, plus one: longer gaps add nothing. */
static uint64_t
fill_ticks(const struct mb_tbucket *tb)
{
	unsigned __int128 t;

	if (tb->rate == 0)
		return 1;
	t = (unsigned __int128)tb->burst * tb->hz / tb->rate + 1;
	return t > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)t;
}

int
mb_tbucket_init(struct mb_tbucket *tb, uint64_t rate, uint64_t burst, uint64_t hz, uint64_t now)
{
	if (hz == 0)
		return -EINVAL;
	tb->hz = hz;
	tb->tokens = 0;
	tb->frac = 0;
	tb->last = now;
	mb_tbucket_set_rate(tb, rate, burst, now);
	tb->tokens = tb->burst;
	return 0;
}

void
mb_tbucket_set_rate(struct mb_tbucket *tb, uint64_t rate, uint64_t burst, uint64_t now)
{
	mb_tbucket_refill(tb, now);
	if (burst == 0) {
		burst = rate / 1000;
		if (burst < 1500 * 8)
			burst = 1500 * 8;
	}
	tb->rate = rate;
	tb->burst = burst;
	if (tb->tokens > burst) {
		tb->tokens = burst;
		tb->frac = 0;
	}
}

void
mb_tbucket_refill(struct mb_tbucket *tb, uint64_t now)
{
	unsigned __int128 add;
	uint64_t dt, max;

	if (now <= tb->last)
		return;
	dt = now - tb->last;
	tb->last = now;
	if (tb->rate == 0) {
		tb->tokens = tb->burst;
		return;
	}
	max = fill_ticks(tb);
	if (dt > max)
		dt = max;
	add = (unsigned __int128)tb->rate * dt + tb->frac;
	tb->frac = (uint64_t)(add % tb->hz);
	add /= tb->hz;
	if (add >= tb->burst - tb->tokens) {
		tb->tokens = tb->burst;
		tb->frac = 0;
	} else {
		tb->tokens += (uint64_t)add;
	}
}

bool
mb_tbucket_take(struct mb_tbucket *tb, uint64_t bits, uint64_t now)
{
	mb_tbucket_refill(tb, now);
	if (tb->rate == 0)
		return true;
	if (tb->tokens < bits)
		return false;
	tb->tokens -= bits;
	return true;
}

uint32_t
mb_tbucket_take_n(struct mb_tbucket *tb, uint64_t bits, uint32_t max, uint64_t now)
{
	uint64_t n;

	mb_tbucket_refill(tb, now);
	if (tb->rate == 0 || bits == 0)
		return max;
	n = tb->tokens / bits;
	if (n > max)
		n = max;
	tb->tokens -= n * bits;
	return (uint32_t)n;
}

uint64_t
mb_tbucket_wait(struct mb_tbucket *tb, uint64_t bits, uint64_t now)
{
	unsigned __int128 need;

	mb_tbucket_refill(tb, now);
	if (tb->rate == 0 || tb->tokens >= bits)
		return 0;
	/* Bits still missing, in 1/hz units, minus the carried remainder. */
	need = (unsigned __int128)(bits - tb->tokens) * tb->hz - tb->frac;
	need = (need + tb->rate - 1) / tb->rate;
	return need > UINT64_MAX ? UINT64_MAX : (uint64_t)need;
}

/* ---- dynamic rate -------------------------------------------------------- */

int
mb_tbucket_dyn_init(struct mb_tbucket_dyn *d, uint64_t max, uint64_t min, uint64_t step,
		    uint64_t hz, uint64_t now)
{
	if (hz == 0 || max == 0)
		return -EINVAL;
	d->step = step != 0 ? step : MB_TBUCKET_DYN_STEP;
	d->min = min != 0 ? min : d->step;
	if (d->min > max)
		d->min = max;
	d->max = max;
	d->rate = max;
	d->interval = (uint64_t)((unsigned __int128)hz * MB_TBUCKET_DYN_INTERVAL_US / 1000000);
	if (d->interval == 0)
		d->interval = 1;
	d->next = now + d->interval;
	d->overruns = 0;
	d->retries = 0;
	d->decreases = 0;
	d->increases = 0;
	return 0;
}

void
mb_tbucket_dyn_note_overrun(struct mb_tbucket_dyn *d)
{
	d->overruns++;
}

void
mb_tbucket_dyn_note_retry(struct mb_tbucket_dyn *d)
{
	d->retries++;
}

bool
mb_tbucket_dyn_tick(struct mb_tbucket_dyn *d, uint64_t now)
{
	uint64_t old = d->rate, r;

	if (now < d->next)
		return false;
	/* Absolute schedule; after a long stall start again from now. */
	d->next += d->interval;
	if (d->next <= now)
		d->next = now + d->interval;
	if (d->overruns != 0 || d->retries != 0) {
		r = d->rate / 10 * 9 + d->rate % 10 * 9 / 10;
		if (d->rate - r < d->step)
			r = d->rate > d->step ? d->rate - d->step : 0;
		if (r < d->min)
			r = d->min;
		d->rate = r;
		if (r != old)
			d->decreases++;
	} else {
		r = d->rate + d->step;
		if (r > d->max || r < d->rate)
			r = d->max;
		d->rate = r;
		if (r != old)
			d->increases++;
	}
	d->overruns = 0;
	d->retries = 0;
	return d->rate != old;
}

/* ---- adaptive rate ------------------------------------------------------- */

int
mb_rate_adapt_init(struct mb_rate_adapt *ra, uint64_t max, uint64_t min, uint64_t start,
		   uint64_t hz, uint64_t now)
{
	if (hz == 0 || max == 0)
		return -EINVAL;
	ra->step = MB_TBUCKET_DYN_STEP;
	ra->min = min != 0 ? min : ra->step;
	if (ra->min > max)
		ra->min = max;
	ra->max = max;
	ra->rate = start == 0 || start > max ? max : start < ra->min ? ra->min : start;
	ra->interval = (uint64_t)((unsigned __int128)hz * MB_RATE_ADAPT_INTERVAL_US / 1000000);
	if (ra->interval == 0)
		ra->interval = 1;
	ra->next = now + ra->interval;
	ra->last = now;
	ra->hold_until = now;
	ra->clean = 0;
	ra->creep_max = 4;
	ra->hold = MB_RATE_ADAPT_HOLD;
	ra->lag = MB_RATE_ADAPT_LAG;
	ra->cut_t = 0;
	ra->cut_max_ppm = 875000;
	ra->noise_max_ppm = MB_RATE_ADAPT_NOISE_MAX_PPM;
	ra->last_loss_ppm = 0;
	ra->noise_ppm = 0;
	ra->cut_loss_ppm = 0;
	ra->judge = false;
	memset(ra->sent_bps, 0, sizeof(ra->sent_bps));
	ra->sent_i = 0;
	ra->backlogged = false;
	ra->decreases = 0;
	ra->increases = 0;
	return 0;
}

void
mb_rate_adapt_set_max(struct mb_rate_adapt *ra, uint64_t max)
{
	if (max == 0)
		return;
	ra->max = max;
	if (ra->min > max)
		ra->min = max;
	if (ra->rate > max)
		ra->rate = max;
}

void
mb_rate_adapt_restart(struct mb_rate_adapt *ra, uint64_t now)
{
	ra->rate = ra->max;
	ra->hold_until = now;
	ra->cut_t = 0;
	ra->clean = 0;
	ra->noise_ppm = 0;
	ra->cut_loss_ppm = 0;
	ra->judge = false;
	memset(ra->sent_bps, 0, sizeof(ra->sent_bps));
	ra->sent_i = 0;
}

bool
mb_rate_adapt_tick(struct mb_rate_adapt *ra, uint64_t now, uint64_t sent, uint64_t lost,
		   bool overrun)
{
	uint64_t loss;

	if (now < ra->next)
		return false;
	loss = mb_ppm(lost, sent);
	if (overrun && loss < 100000)
		loss = 100000;
	return mb_rate_adapt_judge(ra, now, sent, (uint32_t)loss);
}

bool
mb_rate_adapt_judge(struct mb_rate_adapt *ra, uint64_t now, uint64_t sent, uint32_t loss_ppm)
{
	uint64_t old = ra->rate, allowance, loss = loss_ppm, r, hi, lo, base;
	bool in_lag;
	unsigned __int128 t;
	uint32_t i;

	if (now < ra->next)
		return false;
	if (loss > 1000000)
		loss = 1000000;
	/* what the rate allowed since the last decision (intervals are
	 * MB_RATE_ADAPT_INTERVAL_US long) */
	t = (unsigned __int128)ra->rate * (now - ra->last) * MB_RATE_ADAPT_INTERVAL_US /
	    ((unsigned __int128)ra->interval * 1000000);
	allowance = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
	/* and what really left, in bits/s */
	t = (unsigned __int128)sent * ra->interval * 1000000 /
	    ((unsigned __int128)(now - ra->last) * MB_RATE_ADAPT_INTERVAL_US);
	ra->sent_bps[ra->sent_i] = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
	ra->sent_i = (ra->sent_i + 1) % (MB_RATE_ADAPT_HOLD + 1);
	ra->last = now;
	ra->next += ra->interval;
	if (ra->next <= now)
		ra->next = now + ra->interval;
	/* the verdict on the last cut: loss that stayed is noise */
	ra->noise_ppm -= ra->noise_ppm / 32;
	ra->last_loss_ppm = (uint32_t)loss;
	/* ... when an interval after its hold and within a lag of the cut,
	 * before the rate crept up again, sees 3/4 of it: the evidence of
	 * what was sent since the cut comes over that lag, in bursts (a
	 * re-ask round at a time), and the first interval after the hold may
	 * have none of it; else it went */
	if (ra->judge && now >= ra->hold_until) {
		if (loss * 4 >= (uint64_t)ra->cut_loss_ppm * 3) {
			ra->judge = false;
			if (loss > ra->noise_ppm)
				ra->noise_ppm = (uint32_t)(loss < ra->noise_max_ppm ? loss :
									 ra->noise_max_ppm);
		} else if (now - ra->cut_t >= (uint64_t)ra->lag * ra->interval) {
			ra->judge = false;
		}
	}
	hi = MB_RATE_ADAPT_HI_PPM + (uint64_t)ra->noise_ppm * 5 / 4;
	lo = MB_RATE_ADAPT_LO_PPM + (uint64_t)ra->noise_ppm * 5 / 4;
	if (loss > hi) {
		ra->clean = 0;
		if (now < ra->hold_until)
			return false; /* the cut for this loss is made: its evidence lags */
		ra->cut_loss_ppm = (uint32_t)loss;
		ra->judge = true;
		/* to what got through of what left (the evidence lags by up
		 * to a re-request delay: the most of the last intervals) when
		 * the sender was backlogged: short of CPU, it sent less than
		 * its rate, and a cut from the rate would not slow it (the
		 * loss would stay and pass for noise); a sender that ran out
		 * of work sent what was asked, and a cut from that would
		 * starve the next load; a little under, never below 1/8 */
		base = 0;
		for (i = 0; i <= MB_RATE_ADAPT_HOLD; i++)
			if (ra->sent_bps[i] > base)
				base = ra->sent_bps[i];
		if (!ra->backlogged || base == 0 || base > ra->rate)
			base = ra->rate;
		if (loss > ra->cut_max_ppm)
			loss = ra->cut_max_ppm;
		t = (unsigned __int128)base * (1000000 - loss) / 1000000 * 15 / 16;
		r = (uint64_t)t;
		if (ra->rate - r < ra->step)
			r = ra->rate > ra->step ? ra->rate - ra->step : 0;
		ra->rate = r < ra->min ? ra->min : r;
		ra->hold_until = now + ra->hold * ra->interval;
		ra->cut_t = now;
	} else if (loss < lo && now >= ra->hold_until) {
		/* creep back only while the sender used most of what it had: a
		 * rate nobody uses says nothing about the receivers */
		if (sent < allowance / 4 * 3) {
			ra->clean = 0;
			return false;
		}
		ra->judge = false; /* the loss went */
		if (ra->clean < ra->creep_max)
			ra->clean++;
		/* within an evidence lag of a cut, clean intervals say nothing
		 * yet of the rate since: creep, do not accelerate (at 4/32 an
		 * interval the rate tripled before the first re-ask of what it
		 * sent arrived, and swung between its floor and the sender's
		 * reach around a lone member's 100 Mbit/s link) */
		in_lag = ra->cut_t != 0 && now - ra->cut_t < (uint64_t)ra->lag * ra->interval;
		r = ra->rate / 32 * (in_lag ? 1 : ra->clean);
		/* the smallest step: within the lag an eighth of it (a whole
		 * step, 9 Mbit/s, is more than 1/32 below ~290 Mbit/s: after a
		 * cut to 19 Mbit/s the rate was back at 50 within 0.6 s) */
		if (r < (in_lag ? ra->step / 8 : ra->step))
			r = in_lag ? ra->step / 8 : ra->step;
		r += ra->rate;
		ra->rate = r > ra->max || r < old ? ra->max : r;
	} else {
		ra->clean = 0;
	}
	if (ra->rate < old)
		ra->decreases++;
	else if (ra->rate > old)
		ra->increases++;
	return ra->rate != old;
}
