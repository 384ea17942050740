/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parent origin's decisions (see ctl_origin_plan.h): pure functions,
 * unit-tested in tests/unit/test_origin_plan.c.
 */
#include <errno.h>

#include "ctl_origin_plan.h"
#include "fris_wire.h"

enum mb_origin_verdict
mb_origin_decide(const struct mb_origin_view *v, unsigned int *ret_err)
{
	bool same;

	*ret_err = MB_MS_ERROR_NONE;
	if (v->fetching) {
		if (v->status)
			return MB_OV_STATUS;
		*ret_err = MB_MS_ERROR_TRYAGAIN;
		return MB_OV_ERROR;
	}
	if (v->parent_down) {
		if (v->held)
			return MB_OV_LOCAL;
		*ret_err = MB_MS_ERROR_NOIMAGE;
		return MB_OV_ERROR;
	}
	if (!v->known || v->known_age_ms > v->fresh_ms)
		return v->checking ? MB_OV_WAIT : MB_OV_ASK;
	if (v->known_err != MB_MS_ERROR_NONE) {
		*ret_err = v->known_err;
		return MB_OV_ERROR;
	}
	same = v->held && v->held_size == v->p_size && v->held_mtime == v->p_mtime;
	if (same)
		return MB_OV_LOCAL;
	if (v->status)
		return MB_OV_STATUS;
	if (v->failed) {
		if (v->held)
			return MB_OV_LOCAL; /* a stale copy serves while the fetch backs off */
		*ret_err =
		    v->failed_err != MB_MS_ERROR_NONE && v->failed_err != MB_MS_ERROR_TRYAGAIN
		        ? v->failed_err
		        : MB_MS_ERROR_TRYAGAIN;
		return MB_OV_ERROR;
	}
	return MB_OV_FETCH;
}

int
mb_origin_check_get(const struct mb_ms_get_reply *rep, uint8_t asked, uint64_t max_size,
                    const char **ret_why)
{
	uint64_t limit = MB_ORIGIN_MAX_CHUNKS * MB_FRIS_CHUNK_SIZE;

	if (max_size != 0 && max_size < limit)
		limit = max_size;
	if (rep->error != MB_MS_ERROR_NONE) {
		*ret_why = "the parent answered an error";
		return -EINVAL;
	}
	if (!mb_ms_method_single(rep->method) || (rep->method & asked) == 0) {
		*ret_why = "the parent answered a method we did not ask for";
		return -EINVAL;
	}
	if (rep->port == 0 || rep->servaddr == 0 ||
	    (rep->method != MB_MS_METHOD_UNICAST && rep->addr == 0)) {
		*ret_why = "the parent's reply has no server address or port";
		return -EINVAL;
	}
	if (rep->sigtype != MB_MS_SIG_MTIME) {
		*ret_why = "the parent's reply has no MTIME signature";
		return -EINVAL;
	}
	if (rep->size == 0) {
		*ret_why = "the parent says the image is empty";
		return -EINVAL;
	}
	if (rep->size > limit) {
		*ret_why = "the image is larger than images.max-image-size";
		return -EFBIG;
	}
	return 0;
}

uint64_t
mb_origin_backoff_ms(unsigned int failures, uint64_t base_ms, uint64_t max_ms)
{
	uint64_t w = base_ms;

	for (unsigned int i = 1; i < failures && w < max_ms; i++)
		w *= 2;
	return w < max_ms ? w : max_ms;
}
