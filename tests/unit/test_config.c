/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration table: every default parses and validates (apart from
 * the required dpdk.address), bad values, unknown keys and bounds are
 * refused with a message naming the place, and the reload check names the
 * first non-reloadable key that changed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mb_config.h"

#define MINIMAL "[dpdk]\naddress = 10.1.0.1/24\n"

static void
test_defaults_validate(void **state)
{
	struct mb_config c;
	char err[MB_CFG_ERRLEN];

	(void)state;
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_not_equal(mb_config_validate(&c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "address"));
	assert_int_equal(mb_config_load_string(&c, MINIMAL, err, sizeof(err)), 0);
	assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
	mb_config_done(&c);
}

/* Each key's own default text parses as that key. */
static void
test_every_default_parses(void **state)
{
	(void)state;
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		struct mb_config c;
		char text[8192], err[MB_CFG_ERRLEN];
		int rc;

		if (k->def[0] == '\0')
			continue;
		snprintf(text, sizeof(text), MINIMAL "[%s]\n%s = %s\n", k->section, k->name,
		         k->def);
		assert_int_equal(mb_config_defaults(&c), 0);
		rc = mb_config_load_string(&c, text, err, sizeof(err));
		if (rc != 0)
			fail_msg("[%s] %s = %s: %s", k->section, k->name, k->def, err);
		assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
		mb_config_done(&c);
	}
}

static void
expect_refused(const char *text, const char *needle)
{
	struct mb_config c;
	char err[MB_CFG_ERRLEN] = "";
	int rc;

	assert_int_equal(mb_config_defaults(&c), 0);
	rc = mb_config_load_string(&c, text, err, sizeof(err));
	if (rc == 0)
		rc = mb_config_validate(&c, err, sizeof(err));
	if (rc == 0)
		fail_msg("accepted: %s", text);
	if (needle != NULL && strstr(err, needle) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, needle);
	mb_config_done(&c);
}

static void
test_bad_values(void **state)
{
	(void)state;
	expect_refused(MINIMAL "[nosuch]\nkey = 1\n", "nosuch");
	expect_refused(MINIMAL "[server]\nno-such-key = 1\n", "no-such-key");
	expect_refused(MINIMAL "[server]\nmax-control-clients = 0\n", "max-control-clients");
	expect_refused(MINIMAL "[server]\nmax-control-clients = 1025\n", "max-control-clients");
	expect_refused(MINIMAL "[server]\nmax-control-clients = -1\n", "max-control-clients");
	expect_refused(MINIMAL "[server]\nmax-control-clients = 12abc\n", "max-control-clients");
	expect_refused(MINIMAL "[server]\ncontrol-timeout = 5x\n", "control-timeout");
	expect_refused(MINIMAL "[server]\nlog-level = loud\n", "log-level");
	expect_refused(MINIMAL "[dpdk]\nmtu = 100\n", "mtu");
	expect_refused(MINIMAL "[dpdk]\ntx-zero-copy = maybe\n", "tx-zero-copy");
	expect_refused(MINIMAL "[images]\nmax-image-size = 99999999999999999999999\n",
	               "max-image-size");
	expect_refused(MINIMAL "[images]\nhugepage-budget = 1Q\n", "hugepage-budget");
	expect_refused("[dpdk]\naddress = 300.1.0.1/24\n", "address");
	expect_refused("[dpdk]\naddress = 10.1.0.1/33\n", "address");
	expect_refused("[dpdk]\naddress = 224.1.0.1/24\n", "address");
	expect_refused(MINIMAL "[frisbee]\nmcast-base = 10.0.0.1\n", "mcast");
	expect_refused(MINIMAL "[tcp]\nftp-pasv-min = 60000\nftp-pasv-max = 50000\n", "pasv");
	expect_refused(MINIMAL "garbage line without equals\n", NULL);
}

static void
test_parsers(void **state)
{
	uint64_t v;
	bool b;

	(void)state;
	assert_int_equal(mb_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(mb_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(mb_parse_size("20000000T", &v), -ERANGE);
	assert_int_equal(mb_parse_rate("10M", &v), 0);
	assert_int_equal(v, 10000000);
	assert_int_equal(mb_parse_duration("2m", &v), 0);
	assert_int_equal(v, 120);
	assert_int_not_equal(mb_parse_duration("", &v), 0);
	assert_int_equal(mb_parse_bool("on", &b), 0);
	assert_true(b);
	assert_int_not_equal(mb_parse_bool("2", &b), 0);
	assert_int_not_equal(mb_parse_uint("+1", &v), 0);
}

static void
test_reload_check(void **state)
{
	struct mb_config a, b;
	char err[MB_CFG_ERRLEN];
	const struct mb_cfg_key *k;

	(void)state;
	assert_int_equal(mb_config_defaults(&a), 0);
	assert_int_equal(mb_config_load_string(&a, MINIMAL, err, sizeof(err)), 0);
	assert_int_equal(mb_config_copy(&b, &a), 0);
	assert_null(mb_config_nonreloadable_change(&a, &b));
	assert_int_equal(mb_config_load_string(&b, "[frisbee]\nrate = 100M\n", err, sizeof(err)),
	                 0);
	assert_null(mb_config_nonreloadable_change(&a, &b));
	assert_int_equal(mb_config_load_string(&b, "[server]\nstate-dir = /x\n", err, sizeof(err)),
	                 0);
	k = mb_config_nonreloadable_change(&a, &b);
	assert_non_null(k);
	assert_string_equal(k->name, "state-dir");
	mb_config_done(&a);
	mb_config_done(&b);
}

static void
test_json(void **state)
{
	struct mb_config c;
	json_t *j;

	(void)state;
	assert_int_equal(mb_config_defaults(&c), 0);
	j = mb_config_to_json(&c);
	assert_non_null(j);
	assert_non_null(json_object_get(json_object_get(j, "server"), "state-dir"));
	json_decref(j);
	mb_config_done(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_validate), cmocka_unit_test(test_every_default_parses),
	    cmocka_unit_test(test_bad_values),        cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_reload_check),      cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
