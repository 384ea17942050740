/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The health summary for people (common/mb_status.c): human units, the
 * reasons derived from the sections (a failed image with its digest split
 * off, link down, ops unreachable, an empty store) and merged with the
 * daemon's own (a generic "store is degraded" dropped when a specific one
 * exists), the one line of STATUS=, and the summary's lines: short, no raw
 * epoch or bit rates, the failed image's file and expected hash in full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mb_status.h"

#define SHA_WANT "4c47b3e816fbe7d40cef9f665ba8f0be1ae68b5e8e7ed70f5b6bab7f70528e8f"
#define SHA_GOT "14b991cd565ff9c49521501cb85d36ebf2179463fb408a611191e38d948272cb"

static json_t *
health(const char *extra_reasons)
{
	char text[4096];
	json_t *j;

	snprintf(text, sizeof(text),
		 "{\"state\":\"degraded\",%s\"version\":\"0.1.0\",\"uptime\":7384,\"pid\":42,"
		 "\"dataplane\":{\"link\":true,\"speed-bps\":10000000000,\"sessions\":2,"
		 "\"rate-bps\":1900000000,\"address\":\"10.1.0.1/24\",\"port\":0,"
		 "\"exception-tap\":\"mb0\",\"tcp-connections\":5},"
		 "\"control\":{\"clients\":1,\"max-clients\":32,\"rejected\":0},"
		 "\"store\":{\"ok\":3,\"failed\":1,\"loading\":0,\"downloading\":0,"
		 "\"hugepage-bytes\":4294967296,\"hugepage-budget\":17179869184,"
		 "\"cache\":{\"warm\":2,\"cold\":1},"
		 "\"images\":{\"small\":{\"name\":\"small\",\"version\":3,\"size\":6,"
		 "\"sha256\":\"" SHA_WANT "\",\"state\":\"failed:checksum mismatch (sha256 " SHA_GOT
		 ")\",\"path\":\"/var/lib/miniboss/images/small\"}}},"
		 "\"sync\":{\"origin\":\"https://ops/\",\"running\":false,\"last_sync\":1000000,"
		 "\"result\":\"cannot connect to ops\",\"ops_reachable\":false,\"bytes_fetched\":1073741824,"
		 "\"rounds\":12,\"images\":{}}}",
		 extra_reasons);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

static void
test_units(void **state)
{
	char b[32];

	(void)state;
	mb_human_bytes(512, b, sizeof(b));
	assert_string_equal(b, "512 B");
	mb_human_bytes(1536ULL << 20, b, sizeof(b));
	assert_string_equal(b, "1.5 GiB");
	mb_human_bytes(64ULL << 20, b, sizeof(b));
	assert_string_equal(b, "64 MiB");
	mb_human_rate(940000000, b, sizeof(b));
	assert_string_equal(b, "940 Mbit/s");
	mb_human_rate(1900000000, b, sizeof(b));
	assert_string_equal(b, "1.9 Gbit/s");
	mb_human_duration(35, b, sizeof(b));
	assert_string_equal(b, "35s");
	mb_human_duration(250, b, sizeof(b));
	assert_string_equal(b, "4m 10s");
	mb_human_duration(7384, b, sizeof(b));
	assert_string_equal(b, "2h 3m");
	mb_human_duration(3 * 86400 + 4 * 3600, b, sizeof(b));
	assert_string_equal(b, "3d 4h");
}

static void
test_reasons(void **state)
{
	json_t *h = health("\"reasons\":[{\"state\":\"degraded\",\"why\":\"store is degraded\"},"
			   "{\"state\":\"draining\",\"why\":\"drained by boss\"}],");
	json_t *r = mb_status_reasons(h);

	(void)state;
	assert_int_equal(json_array_size(r), 3);
	/* the daemon's own first, the generic one gone */
	assert_string_equal(json_string_value(json_array_get(r, 0)), "drained by boss");
	assert_string_equal(json_string_value(json_array_get(r, 1)),
			    "image 'small' v3 failed: checksum mismatch");
	assert_string_equal(json_string_value(json_array_get(r, 2)),
			    "ops unreachable: cannot connect to ops");
	json_decref(r);
	json_decref(h);
}

static void
test_line(void **state)
{
	json_t *h = health("");
	char line[512];

	(void)state;
	mb_status_line(h, 1000000 + 250, line, sizeof(line));
	assert_string_equal(line, "degraded: image 'small' v3 failed: checksum mismatch (and more); "
				  "3 images (2 warm), 1 failed; 2 sessions at 1.9 Gbit/s, 5 TCP; "
				  "sync failed 4m 10s ago");
	json_decref(h);
}

static void
test_summary(void **state)
{
	json_t *h = health("");
	char *text = NULL;
	size_t len = 0, lines = 0, longest = 0, cur = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	mb_status_print(h, 1000000 + 250, f);
	fclose(f);
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n') {
			lines++;
			if (cur > longest)
				longest = cur;
			cur = 0;
		} else {
			cur++;
		}
	}
	print_message("%s", text);
	assert_true(lines <= 20);
	assert_true(longest <= 100);
	assert_non_null(strstr(text, "minibossd 0.1.0 (pid 42), up 2h 3m\n"));
	assert_non_null(strstr(text, "     State: degraded\n"));
	assert_non_null(strstr(text, "   Serving: 10.1.0.1/24 on DPDK port 0, link up at 10 Gbit/s\n"));
	assert_non_null(strstr(text, "    Images: 3 ok (2 warm in hugepages, 1 cold), 1 failed\n"));
	assert_non_null(strstr(text, "4.0 GiB in hugepages of a 16 GiB budget"));
	assert_non_null(strstr(text, "FAILED small v3 (6 B): checksum mismatch\n"));
	assert_non_null(strstr(text, "file /var/lib/miniboss/images/small\n"));
	assert_non_null(strstr(text, "expected sha256 " SHA_WANT "\n"));
	assert_non_null(strstr(text, "but the file has " SHA_GOT "\n"));
	assert_non_null(strstr(text, "  Sessions: 2 Frisbee at 1.9 Gbit/s, 5 TCP connections\n"));
	assert_non_null(strstr(text, "      Sync: last round 4m 10s ago FAILED: cannot connect to ops, "
				     "ops UNREACHABLE\n"));
	assert_non_null(strstr(text, "from https://ops/; 12 rounds, 1.0 GiB fetched\n"));
	/* no raw epoch seconds, byte counts or bit rates */
	assert_null(strstr(text, "1000000"));
	assert_null(strstr(text, "4294967296"));
	assert_null(strstr(text, "1900000000"));
	free(text);
	json_decref(h);
}

/* A section a daemon does not have is left out, nothing crashes. */
static void
test_sparse(void **state)
{
	json_t *h = json_loads("{\"state\":\"ok\",\"store\":{\"ok\":0}}", 0, NULL);
	char *text = NULL, line[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	mb_status_print(h, 0, f);
	fclose(f);
	assert_non_null(strstr(text, "note: no images: the store is empty"));
	assert_non_null(strstr(text, "Sync: off"));
	assert_null(strstr(text, "Serving"));
	mb_status_line(h, 0, line, sizeof(line));
	assert_non_null(strstr(line, "ok: no images"));
	free(text);
	json_decref(h);
	h = json_loads("[1,2]", 0, NULL);
	f = open_memstream(&text, &len);
	mb_status_print(h, 0, f);
	fclose(f);
	free(text);
	json_decref(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),	cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_line),	cmocka_unit_test(test_summary),
		cmocka_unit_test(test_sparse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
