/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image memory allocator (control/ctl_imgmem.c) without EAL: an image
 * in pinned memory and its release, the pinned allocator out of memory,
 * a mapping that cannot be made (no SIGBUS guard, no file), each leaving
 * the heap as it found it.  The heap in use is read with mallinfo2() (glibc's
 * per-thread cache off through GLIBC_TUNABLES in tests/unit/meson.build; under
 * ASan it reads 0 and LeakSanitizer checks at exit instead).  The failed
 * allocations used to keep the image's block-sum table (4 bytes per KiB of
 * image): 2.6 MB for five 128 MiB images falling back to mmap at start,
 * seen as a leak in startup-wait under the sanitizers.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_imgmem.h"
#include "mb_image.h"

static size_t
inuse(void)
{
	return mallinfo2().uordblks;
}

static void *
alloc_none(uint64_t len)
{
	(void)len;
	return NULL;
}

static const struct mb_imgmem_ops ops_none = {
	.alloc = alloc_none,
	.free = free,
	.iova = MB_SBUF_IOVA_NONE,
};

static const uint8_t sha[32];

static struct mb_image_ident
ident(uint64_t size)
{
	return (struct mb_image_ident){ "proj/img", 1, size, sha, 1700000000 };
}

static void
test_pinned_and_release(void **state)
{
	struct mb_image_ident id = ident(1 << 20);
	struct mb_image *img;
	size_t before;

	(void)state;
	mb_imgmem_set_ops(&mb_imgmem_heap);
	before = inuse();
	img = mb_imgmem_pinned(&id);
	assert_non_null(img);
	assert_int_equal(img->size, 1 << 20);
	assert_int_equal(mb_imgmem_used(), mb_imgmem_len(1 << 20));
	mb_image_unref(img);
	assert_int_equal(mb_imgmem_used(), 0);
	assert_int_equal(inuse(), before);
}

static void
test_pinned_out_of_memory(void **state)
{
	struct mb_image_ident id = ident(1 << 20);
	size_t before;

	(void)state;
	mb_imgmem_set_ops(&ops_none);
	before = inuse();
	assert_null(mb_imgmem_pinned(&id));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(mb_imgmem_used(), 0);
	assert_int_equal(inuse(), before);
}

static void
test_mapped_refused(void **state)
{
	struct mb_image_ident id = ident(1 << 20);
	size_t before;

	(void)state;
	mb_imgmem_set_ops(&ops_none);
	before = inuse();
	/* no SIGBUS guard installed in this process: never mapped */
	assert_null(mb_imgmem_mapped(&id, "/nonexistent/image"));
	/* nor through the fallback of mb_imgmem_new */
	assert_null(mb_imgmem_new(&id, "/nonexistent/image"));
	assert_int_equal(inuse(), before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pinned_and_release),
		cmocka_unit_test(test_pinned_out_of_memory),
		cmocka_unit_test(test_mapped_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
