/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Image names and the RCU image table: lookup by name (exact, not
 * NUL-terminated), publish and retire, and the last reference releasing an
 * image exactly once after the grace period of the table that held it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <urcu-qsbr.h>

#include "mb_image.h"

static int released;

static void
count_release(struct mb_image *img)
{
	released++;
	free(img->sb.data);
	free(img);
}

static struct mb_image *
mk(const char *name)
{
	struct mb_image *img = mb_image_new_heap(name, "abc", 3);

	assert_non_null(img);
	img->release = count_release;
	return img;
}

static void
test_names(void **state)
{
	static const char *const good[] = { "a", "emulab-ops/UBUNTU22-64-STD", "p/q/r.ndz",
					     "x+y_z-1.2", "..a", "a.." };
	static const char *const bad[] = { "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b",
					   "a b", "a\\b", "ä", "a\nb", "a%2f" };
	char longname[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(mb_image_name_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(mb_image_name_valid(bad[i], strlen(bad[i])));
	memset(longname, 'a', sizeof(longname));
	assert_true(mb_image_name_valid(longname, 255));
	assert_false(mb_image_name_valid(longname, 256));
	/* An embedded NUL is not a valid character. */
	assert_false(mb_image_name_valid("a\0b", 3));
}

static void
test_table(void **state)
{
	struct mb_image_table *t;
	struct mb_image *a = mk("proj/b"), *b = mk("proj/a"), *c = mk("z"), *held;

	(void)state;
	rcu_register_thread();
	released = 0;
	t = mb_image_table_alloc(3);
	assert_non_null(t);
	t->img[t->count++] = a;
	t->img[t->count++] = b;
	t->img[t->count++] = c;
	mb_image_table_sort(t);
	mb_image_table_publish(t);

	rcu_read_lock();
	assert_ptr_equal(mb_image_lookup("proj/a", 6), b);
	assert_ptr_equal(mb_image_lookup("proj/bXYZ", 6), a); /* only len bytes count */
	assert_ptr_equal(mb_image_lookup("z", 1), c);
	assert_null(mb_image_lookup("proj", 4));
	assert_null(mb_image_lookup("zz", 2));
	held = mb_image_ref(mb_image_lookup("z", 1));
	rcu_read_unlock();

	/* New table without "z": the old table's references go after a grace
	 * period; "z" lives on through our reference. */
	t = mb_image_table_alloc(2);
	t->img[t->count++] = mb_image_ref(a);
	t->img[t->count++] = mb_image_ref(b);
	mb_image_table_sort(t);
	mb_image_table_publish(t);
	assert_int_equal(mb_image_table_current->generation, 2);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	assert_int_equal(released, 0);
	rcu_read_lock();
	assert_null(mb_image_lookup("z", 1));
	rcu_read_unlock();
	mb_image_unref(held);
	assert_int_equal(released, 1);

	mb_image_table_publish(NULL);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	assert_int_equal(released, 3);
	rcu_unregister_thread();
}

static void
test_heap_padding(void **state)
{
	struct mb_image *img = mb_image_new_heap("p", "xyz", 3);

	(void)state;
	assert_non_null(img);
	assert_int_equal(img->sb.len, MB_IMAGE_ALIGN);
	assert_int_equal(img->sb.data[3], 0);
	assert_int_equal(img->sb.data[MB_IMAGE_ALIGN - 1], 0);
	assert_int_equal(img->sb.iova, MB_SBUF_IOVA_NONE); /* heap: never attached */
	mb_image_unref(img);
}

/* Send buffers: a copy is a plain buffer (not an image), NUL-terminated,
 * never attached, freed by its last reference; an image's buffer leads back
 * to the image, and the buffer's last reference runs the image's release. */
static void
test_sbuf(void **state)
{
	struct mb_sbuf *sb = mb_sbuf_new_copy("HTTP/1.1 200 OK\r\n", 17);
	struct mb_image *img = mk("i");

	(void)state;
	assert_non_null(sb);
	assert_int_equal(sb->len, 17);
	assert_int_equal(sb->data[17], '\0');
	assert_memory_equal(sb->data, "HTTP/1.1 200 OK\r\n", 17);
	assert_int_equal(sb->iova, MB_SBUF_IOVA_NONE);
	assert_null(mb_image_of_buf(sb));
	mb_sbuf_ref(sb);
	mb_sbuf_unref(sb);
	mb_sbuf_unref(sb); /* freed: the leak checkers of the valgrind/asan runs see it */
	assert_ptr_equal(mb_image_of_buf(&img->sb), img);
	released = 0;
	mb_sbuf_ref(&img->sb);
	mb_image_unref(img);
	assert_int_equal(released, 0);
	mb_sbuf_unref(&img->sb);
	assert_int_equal(released, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_heap_padding),
		cmocka_unit_test(test_sbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
