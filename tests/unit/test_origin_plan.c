/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parent origin's decisions (control/ctl_origin_plan.c): what a GET and
 * a GETSTATUS get for every combination that matters (held or not, same or
 * different size/MTIME, parent answer fresh, stale, in flight, an error;
 * parent down; a fetch running; a failed fetch backing off), which parent
 * GET replies a fetch may use (bounds on the size, one method out of those
 * asked, a port and a server address, an MTIME signature), and the backoff.
 * No I/O, no clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_origin_plan.h"

#define MT 1700000000
#define SZ (37u << 20)

/* A held copy that matches a fresh, error-free parent answer. */
static struct mb_origin_view
base(void)
{
	struct mb_origin_view v;

	memset(&v, 0, sizeof(v));
	v.held = true;
	v.held_size = SZ;
	v.held_mtime = MT;
	v.known = true;
	v.known_age_ms = 10;
	v.p_size = SZ;
	v.p_mtime = MT;
	v.fresh_ms = 1000;
	return v;
}

static enum mb_origin_verdict
decide(const struct mb_origin_view *v, unsigned int *err)
{
	*err = 999;
	return mb_origin_decide(v, err);
}

static void
test_same_copy_serves(void **state)
{
	struct mb_origin_view v = base();
	unsigned int err;

	(void)state;
	assert_int_equal(decide(&v, &err), MB_OV_LOCAL);
	v.status = true;
	assert_int_equal(decide(&v, &err), MB_OV_LOCAL);
}

static void
test_stale_answer_asks(void **state)
{
	struct mb_origin_view v = base();
	unsigned int err;

	(void)state;
	v.known_age_ms = 1001;
	assert_int_equal(decide(&v, &err), MB_OV_ASK);
	v.checking = true;
	assert_int_equal(decide(&v, &err), MB_OV_WAIT);
	v.known = false;
	v.checking = false;
	v.held = false;
	assert_int_equal(decide(&v, &err), MB_OV_ASK);
	v.status = true;
	assert_int_equal(decide(&v, &err), MB_OV_ASK);
}

static void
test_missing_or_different_fetches(void **state)
{
	struct mb_origin_view v = base();
	unsigned int err;

	(void)state;
	v.held = false;
	assert_int_equal(decide(&v, &err), MB_OV_FETCH);
	v = base();
	v.held_mtime = MT + 1; /* any difference: rollbacks happen */
	assert_int_equal(decide(&v, &err), MB_OV_FETCH);
	v.held_mtime = MT - 1;
	assert_int_equal(decide(&v, &err), MB_OV_FETCH);
	v = base();
	v.held_size = SZ - 1;
	assert_int_equal(decide(&v, &err), MB_OV_FETCH);
	/* GETSTATUS starts nothing: it gets the parent's size and mtime */
	v.status = true;
	assert_int_equal(decide(&v, &err), MB_OV_STATUS);
	v.held = false;
	assert_int_equal(decide(&v, &err), MB_OV_STATUS);
}

static void
test_fetching(void **state)
{
	struct mb_origin_view v = base();
	unsigned int err;

	(void)state;
	v.held = false;
	v.fetching = true;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_TRYAGAIN);
	v.status = true; /* method 0, not running, the parent's size and mtime */
	assert_int_equal(decide(&v, &err), MB_OV_STATUS);
	/* a stale copy is replaced: TRYAGAIN like a stock subboss, even when
	 * the parent's answer has aged meanwhile */
	v = base();
	v.held_mtime = 1;
	v.fetching = true;
	v.known_age_ms = 100000;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_TRYAGAIN);
}

static void
test_parent_errors_pass_through(void **state)
{
	static const unsigned int errs[] = {MB_MS_ERROR_NOIMAGE, MB_MS_ERROR_NOACCESS,
	                                    MB_MS_ERROR_TRYAGAIN, MB_MS_ERROR_NOHOST,
	                                    MB_MS_ERROR_FAILED};
	unsigned int err;

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		for (int held = 0; held < 2; held++) {
			for (int status = 0; status < 2; status++) {
				struct mb_origin_view v = base();

				v.held = held;
				v.status = status;
				v.known_err = errs[i];
				assert_int_equal(decide(&v, &err), MB_OV_ERROR);
				assert_int_equal(err, errs[i]);
			}
		}
	}
}

static void
test_parent_down(void **state)
{
	struct mb_origin_view v = base();
	unsigned int err;

	(void)state;
	v.parent_down = true;
	v.known_age_ms = 1000000; /* nothing fresh to go by */
	assert_int_equal(decide(&v, &err), MB_OV_LOCAL);
	v.held_mtime = 5; /* even a copy the parent said was old: it is all there is */
	assert_int_equal(decide(&v, &err), MB_OV_LOCAL);
	v.held = false;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_NOIMAGE);
	v.status = true;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_NOIMAGE);
}

static void
test_failed_backs_off(void **state)
{
	struct mb_origin_view v = base();
	unsigned int err;

	(void)state;
	v.held = false;
	v.failed = true;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_TRYAGAIN);
	v.failed_err = MB_MS_ERROR_NOACCESS;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_NOACCESS);
	v.failed_err = MB_MS_ERROR_TRYAGAIN;
	assert_int_equal(decide(&v, &err), MB_OV_ERROR);
	assert_int_equal(err, MB_MS_ERROR_TRYAGAIN);
	/* with a stale copy: it serves meanwhile */
	v.held = true;
	v.held_mtime = MT - 100;
	assert_int_equal(decide(&v, &err), MB_OV_LOCAL);
	/* backoff over: fetch again */
	v.failed = false;
	assert_int_equal(decide(&v, &err), MB_OV_FETCH);
}

static struct mb_ms_get_reply
good_reply(void)
{
	struct mb_ms_get_reply r;

	memset(&r, 0, sizeof(r));
	r.method = MB_MS_METHOD_UNICAST;
	r.isrunning = 1;
	r.servaddr = 0x0a4d0001;
	r.addr = 0x0a4d0001;
	r.port = 3564;
	r.size = SZ;
	mb_ms_reply_set_mtime(&r, MT);
	return r;
}

static void
test_check_get(void **state)
{
	struct mb_ms_get_reply r = good_reply();
	const char *why = NULL;

	(void)state;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), 0);
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_ANY, SZ, &why), 0);
	/* larger than images.max-image-size */
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, SZ - 1, &why), -EFBIG);
	assert_non_null(why);
	/* beyond the protocol's chunk numbers even without a configured limit */
	r.size = (MB_ORIGIN_MAX_CHUNKS + 1) << 20;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EFBIG);
	r = good_reply();
	r.size = 0;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EINVAL);
	r = good_reply();
	r.method = MB_MS_METHOD_MULTICAST; /* not asked for */
	r.addr = 0xea050601;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EINVAL);
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_MULTICAST, 0, &why), 0);
	r.addr = 0; /* multicast without a group */
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_MULTICAST, 0, &why), -EINVAL);
	r = good_reply();
	r.method = MB_MS_METHOD_UNICAST | MB_MS_METHOD_MULTICAST; /* a mask, not a method */
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_ANY, 0, &why), -EINVAL);
	r = good_reply();
	r.port = 0;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EINVAL);
	r = good_reply();
	r.servaddr = 0;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EINVAL);
	r = good_reply();
	r.sigtype = MB_MS_SIG_MD5;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EINVAL);
	r = good_reply();
	r.error = MB_MS_ERROR_TRYAGAIN;
	assert_int_equal(mb_origin_check_get(&r, MB_MS_METHOD_UNICAST, 0, &why), -EINVAL);
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(mb_origin_backoff_ms(1, 5000, 300000), 5000);
	assert_int_equal(mb_origin_backoff_ms(2, 5000, 300000), 10000);
	assert_int_equal(mb_origin_backoff_ms(3, 5000, 300000), 20000);
	assert_int_equal(mb_origin_backoff_ms(7, 5000, 300000), 300000);
	assert_int_equal(mb_origin_backoff_ms(1000000, 5000, 300000), 300000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_copy_serves),
	    cmocka_unit_test(test_stale_answer_asks),
	    cmocka_unit_test(test_missing_or_different_fetches),
	    cmocka_unit_test(test_fetching),
	    cmocka_unit_test(test_parent_errors_pass_through),
	    cmocka_unit_test(test_parent_down),
	    cmocka_unit_test(test_failed_backs_off),
	    cmocka_unit_test(test_check_get),
	    cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
