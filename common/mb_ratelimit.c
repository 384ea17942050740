/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log rate limiter (see mb_ratelimit.h): a fixed window of `interval`
 * that restarts at the first line after it elapsed.
 */
#include <stddef.h>

#include "mb_ratelimit.h"

bool
mb_ratelimit_ok(struct mb_ratelimit *rl, uint64_t now_ns, uint64_t *ret_pending)
{
	if (ret_pending != NULL)
		*ret_pending = 0;
	if (rl->begin_ns == 0 || now_ns < rl->begin_ns || now_ns - rl->begin_ns >= rl->interval_ns) {
		rl->begin_ns = now_ns != 0 ? now_ns : 1;
		rl->passed = 0;
	}
	if (rl->passed >= rl->burst) {
		rl->pending++;
		rl->suppressed++;
		return false;
	}
	rl->passed++;
	if (ret_pending != NULL)
		*ret_pending = rl->pending;
	rl->pending = 0;
	return true;
}
