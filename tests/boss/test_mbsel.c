/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libmbsel without a database: the protocol-41 keys (never for protocol
 * 40 and below, never an '=' in a value, nothing cut), the input checks
 * that keep every string out of SQL quoting trouble, and the refusal of bad
 * imageserverfail arguments before any query runs.  The selection itself
 * runs against a real MariaDB in tests/boss/boss.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mbsel.h"

static int queries;

static MYSQL_RES *
no_query(void *arg, const char *sql)
{
	(void)arg;
	(void)sql;
	queries++;
	return NULL;
}

static int
no_exec(void *arg, const char *sql)
{
	(void)arg;
	(void)sql;
	queries++;
	return -1;
}

static const struct mbsel_db nodb = { no_query, no_exec, NULL };

static void
test_keys(void **state)
{
	struct mbsel_answer a = { .kind = MBSEL_MINIBOSS };
	char buf[1024];

	(void)state;
	strcpy(a.url, "ftp://10.1.0.1/emulab-ops/UBUNTU22-STD");
	strcpy(a.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_int_equal(mbsel_format_keys(&a, 40, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(mbsel_format_keys(&a, 2, buf, sizeof(buf)), 0);
	assert_true(mbsel_format_keys(&a, 41, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, " IMAGEURL=ftp://10.1.0.1/emulab-ops/UBUNTU22-STD IMAGESHA256="
				 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	/* too small a buffer: nothing rather than a cut key */
	assert_int_equal(mbsel_format_keys(&a, 41, buf, 20), 0);
	assert_string_equal(buf, "");
	/* a URL with '=' is never emitted */
	strcpy(a.url, "http://x/spewimage.php?imageid=1");
	assert_int_equal(mbsel_format_keys(&a, 41, buf, sizeof(buf)), 0);
	/* no URL, no SHA: nothing; MBSEL_NONE: nothing */
	a.url[0] = a.sha256[0] = '\0';
	assert_int_equal(mbsel_format_keys(&a, 41, buf, sizeof(buf)), 0);
	a.kind = MBSEL_NONE;
	strcpy(a.url, "ftp://10.1.0.1/a/b");
	assert_int_equal(mbsel_format_keys(&a, 41, buf, sizeof(buf)), 0);
}

static void
test_checks(void **state)
{
	(void)state;
	assert_true(mbsel_valid_word("pc101", 32));
	assert_true(mbsel_valid_word("UBUNTU22-STD.v2+x_y", 64));
	assert_false(mbsel_valid_word("", 32));
	assert_false(mbsel_valid_word("a'b", 32));
	assert_false(mbsel_valid_word("a b", 32));
	assert_false(mbsel_valid_word("a\\b", 32));
	assert_false(mbsel_valid_word("abcd", 3));
	assert_false(mbsel_valid_word(NULL, 3));
	assert_true(mbsel_valid_ipv4("10.1.0.1"));
	assert_false(mbsel_valid_ipv4("10.1.0.01"));
	assert_false(mbsel_valid_ipv4("10.1.0"));
	assert_false(mbsel_valid_ipv4("10.1.0.1'"));
	assert_false(mbsel_valid_ipv4("::1"));
}

static void
test_bad_input_no_query(void **state)
{
	struct mbsel_answer a;
	char err[160];
	static const char *bad[] = {
		"", "10.1.0.1", "10.1.0.1 img", "10.1.0.1 img bad'reason", "10.1.0.1 im'g r",
		"10.1.0.01 img r", "10.1.0.1 img r extra", "10.1.0.1 img reason-that-is-far-too-long-"
		"for-the-sixty-four-character-limit-of-a-reason-word",
	};

	(void)state;
	queries = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mbsel_report_failure(&nodb, "pc1", bad[i], err, sizeof(err)),
				 -EINVAL);
	assert_int_equal(mbsel_report_failure(&nodb, "pc'1", "10.1.0.1 a r", err, sizeof(err)),
			 -EINVAL);
	/* bad node, image or boss address: tmcd's own answer, no query */
	assert_int_equal(mbsel_choose(&nodb, "pc'1", "p", "i", "1", "10.0.0.1", &a), 0);
	assert_int_equal(a.kind, MBSEL_NONE);
	assert_int_equal(mbsel_choose(&nodb, "pc1", "p", "i;drop", "1", "10.0.0.1", &a), 0);
	assert_int_equal(a.kind, MBSEL_NONE);
	assert_int_equal(mbsel_choose(&nodb, "pc1", "p", "i", "1", "boss", &a), 0);
	assert_int_equal(a.kind, MBSEL_NONE);
	assert_int_equal(queries, 0);
	/* a database error is reported, and the answer says keep tmcd's */
	assert_int_equal(mbsel_choose(&nodb, "pc1", "p", "i", "1", "10.0.0.1", &a), -EIO);
	assert_int_equal(a.kind, MBSEL_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_bad_input_no_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
