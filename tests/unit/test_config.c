/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration table: every default parses and validates (apart from
 * the required dpdk.address), bad values, unknown keys and bounds are
 * refused with a message naming the place, and the reload check names the
 * first non-reloadable key that changed.  The parser reports every problem
 * with its line (unknown sections once, as sections; duplicate keys; "did
 * you mean"), strips inline '#' comments, takes long lines whole, and the
 * documented size, rate and duration spellings parse.  The file checks of
 * -n name missing and unreadable files and a missing state directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdbool.h>
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

		if (k->def[0] == '\0' || (k->flags & MB_CFG_F_UNBUILT) != 0)
			continue; /* the second: test_unbuilt_refused */
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

/* text loads, but validation refuses it (-EINVAL) with an error that
 * names needle, and needle2 unless NULL: a check across keys or of a value
 * the parser takes, where expect_refused would also pass a parse error. */
static void
expect_invalid(const char *text, const char *needle, const char *needle2)
{
	struct mb_config c;
	char err[MB_CFG_ERRLEN] = "";

	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_equal(mb_config_load_string(&c, text, err, sizeof(err)), 0);
	assert_int_equal(mb_config_validate(&c, err, sizeof(err)), -EINVAL);
	if (strstr(err, needle) == NULL || (needle2 != NULL && strstr(err, needle2) == NULL))
		fail_msg("error '%s' does not mention '%s'", err,
			 strstr(err, needle) == NULL ? needle : needle2);
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
	expect_refused(MINIMAL "[origin]\nlocal-images = delete\n", "neither keep nor withdraw");
	expect_refused(MINIMAL "[control]\nmetrics-listen = 9464\n", "not address:port");
	expect_refused(MINIMAL "[control]\nmetrics-listen = 127.0.0.1:0\n", "not address:port");
	expect_refused(MINIMAL "[control]\nmetrics-listen = 10.1.0.1:9464\n",
		       "is the serving address");
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


/* Parse `text` as file "t.conf"; the diagnostics stay in *d. */
static int
parse(struct mb_config *c, const char *text, struct mb_diags *d)
{
	mb_diags_init(d);
	assert_int_equal(mb_config_defaults(c), 0);
	return mb_config_parse_string(c, text, "t.conf", d);
}

/* Is there a diagnostic of `level` at `line` whose text contains every
 * needle (NULL-terminated)? */
static bool
has_diag(const struct mb_diags *d, enum mb_diag_level level, uint32_t line, ...)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct mb_diag *g = &d->v[i];
		bool all = true;
		va_list ap;
		const char *needle;

		if (g->level != level || g->line != line)
			continue;
		va_start(ap, line);
		while ((needle = va_arg(ap, const char *)) != NULL)
			if (strstr(g->msg, needle) == NULL)
				all = false;
		va_end(ap);
		if (all)
			return true;
	}
	return false;
}

static void
dump(const struct mb_diags *d)
{
	mb_diags_print(d, stderr, "  diag: ");
}

/* The trap: "exception-tap = mb0 # tap" used to keep the comment in the
 * value, and "rate = 1G # per session" failed as a number. */
static void
test_inline_comments(void **state)
{
	struct mb_config c;
	struct mb_diags d;

	(void)state;
	assert_int_equal(parse(&c,
			       "# leading comment\n"
			       "[dpdk]   # the port\n"
			       "address = 10.1.0.1/24 # nodes reach us here\n"
			       "exception-tap = mb0 # tap\n"
			       "  mtu = 1500\t; indented, ';' comment\n"
			       "[frisbee]\n"
			       "rate = 1G # per session\n"
			       "methods = mcast,ucast;not-a-comment\n"
			       "[origin]\n"
			       "url = \"https://ops.example.net/x/#frag\"  # quoted keeps '#'\n"
			       "site = a#b\n",
			       &d),
			 0);
	assert_string_equal(c.exception_tap, "mb0");
	assert_int_equal(c.fris_rate, 1000000000);
	assert_int_equal(c.mtu, 1500);
	assert_string_equal(c.fris_methods, "mcast,ucast;not-a-comment");
	assert_string_equal(c.origin_url, "https://ops.example.net/x/#frag");
	assert_string_equal(c.origin_site, "a#b");
	assert_int_equal(d.errors, 0);
	mb_diags_done(&d);
	mb_config_done(&c);
}

/* Every error is reported, each with its line; an unknown section is
 * reported once as a section and its keys are not; duplicates are errors;
 * misspellings get a suggestion. */
static void
test_every_error_with_line(void **state)
{
	struct mb_config c;
	struct mb_diags d;

	(void)state;
	assert_int_equal(parse(&c,
			       "[dpdk]\n"				/* 1 */
			       "adress = 10.1.0.1/24\n"			/* 2 */
			       "address = 10.1.0.1/24\n"		/* 3 */
			       "mtu = 100\n"				/* 4 */
			       "[orgin]\n"				/* 5 */
			       "url = https://x/\n"			/* 6 */
			       "[server]\n"				/* 7 */
			       "log-level = debug\n"			/* 8 */
			       "log-level = info\n"			/* 9 */
			       "ca-file = /x\n"				/* 10 */
			       "garbage\n"				/* 11 */
			       "[frisbee]\n"				/* 12 */
			       "rate = 100MB/s\n"			/* 13 */
			       "idle-timeout = 5 minutes and more\n"	/* 14 */
			       "[logging]\n"				/* 15 */
			       "x = 1\n",				/* 16 */
			       &d),
			 -EINVAL);
	dump(&d);
	assert_true(has_diag(&d, MB_DIAG_ERROR, 2, "unknown key 'adress'", "[dpdk]",
			     "did you mean 'address'", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 4, "mtu", "below the minimum 576", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 5, "unknown section '[orgin]'",
			     "did you mean [origin]", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 9, "log-level", "twice", "line 8", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 10, "'ca-file' belongs in [origin]", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 11, "key = value", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 13, "rate", "bits per second", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 14, "idle-timeout", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 15, "unknown section '[logging]'", NULL));
	/* Keys of unknown sections are not reported one by one. */
	assert_false(has_diag(&d, MB_DIAG_ERROR, 6, "", NULL));
	assert_false(has_diag(&d, MB_DIAG_ERROR, 16, "", NULL));
	assert_int_equal(d.errors, 9);
	/* The good keys were still set, with their lines. */
	assert_int_equal(c.line[mb_config_key_index(mb_config_find("dpdk", "address"))], 3);
	{
		char buf[256];

		mb_diag_format(&d.v[0], buf, sizeof(buf));
		assert_string_equal(buf, "t.conf:2: error: unknown key 'adress' in [dpdk]; did you "
					 "mean 'address'?");
	}
	mb_diags_done(&d);
	mb_config_done(&c);
}

/* A key before any section, an empty empty section header, quoting errors. */
static void
test_syntax_errors(void **state)
{
	struct mb_config c;
	struct mb_diags d;

	(void)state;
	assert_int_equal(parse(&c,
			       "state-dir = /x\n"
			       "[server\n"
			       "[server] junk\n"
			       "[server]\n"
			       "state-dir = \"/x\n"
			       "control-socket = \"/s\" junk\n"
			       "= 5\n",
			       &d),
			 -EINVAL);
	dump(&d);
	assert_true(has_diag(&d, MB_DIAG_ERROR, 1, "outside any section", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 2, "without ']'", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 3, "text after", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 5, "closing", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 6, "closing", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 7, "missing key name", NULL));
	mb_diags_done(&d);
	mb_config_done(&c);
}

/* inih cut lines at 200 bytes without a word: a long value is taken whole,
 * an over-long line is an error with its number. */
static void
test_long_lines(void **state)
{
	struct mb_config c;
	struct mb_diags d;
	char *text, *big;
	size_t n;

	(void)state;
	text = malloc(MB_CFG_MAX_LINE * 2 + 256);
	assert_non_null(text);
	n = (size_t)sprintf(text, "[server]\neal-args = ");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(text + n, "--vdev=net_null%d ", i);
	strcpy(text + n, "\n");
	assert_int_equal(parse(&c, text, &d), 0);
	assert_true(strlen(c.eal_args) > 1000);
	assert_non_null(strstr(c.eal_args, "net_null99"));
	mb_diags_done(&d);
	mb_config_done(&c);

	big = malloc(MB_CFG_MAX_LINE + 2);
	assert_non_null(big);
	memset(big, 'x', MB_CFG_MAX_LINE + 1);
	big[MB_CFG_MAX_LINE + 1] = '\0';
	sprintf(text, "[server]\n# %s\nlog-level = debug\n", big);
	assert_int_equal(parse(&c, text, &d), -EINVAL);
	assert_true(has_diag(&d, MB_DIAG_ERROR, 2, "longer than", NULL));
	assert_string_equal(c.log_level, "debug");
	mb_diags_done(&d);
	mb_config_done(&c);
	free(big);
	free(text);
}

static void
expect_parsed(const char *key_line, const char *section, uint64_t want)
{
	struct mb_config c;
	struct mb_diags d;
	char text[256];
	const struct mb_cfg_key *k;
	const char *eq = strchr(key_line, '=');
	char name[64];

	snprintf(name, sizeof(name), "%.*s", (int)(eq - key_line - 1), key_line);
	k = mb_config_find(section, name);
	assert_non_null(k);
	snprintf(text, sizeof(text), "[%s]\n%s\n", section, key_line);
	if (parse(&c, text, &d) != 0) {
		dump(&d);
		fail_msg("refused: %s", key_line);
	}
	if (*(uint64_t *)((char *)&c + k->offset) != want)
		fail_msg("%s: got %" PRIu64 ", want %" PRIu64, key_line,
			 *(uint64_t *)((char *)&c + k->offset), want);
	mb_diags_done(&d);
	mb_config_done(&c);
}

/* The spellings -E and miniboss.conf(5) document. */
static void
test_unit_spellings(void **state)
{
	(void)state;
	expect_parsed("hugepage-budget = 64M", "images", 64ULL << 20);
	expect_parsed("hugepage-budget = 64 MiB", "images", 64ULL << 20);
	expect_parsed("hugepage-budget = 64mb", "images", 64ULL << 20);
	expect_parsed("hugepage-budget = 1.5G", "images", 3ULL << 29);
	expect_parsed("hugepage-budget = 512KiB", "images", 512ULL << 10);
	expect_parsed("hugepage-budget = 1048576", "images", 1048576);
	expect_parsed("hugepage-budget = 2T", "images", 2ULL << 40);
	expect_parsed("rate = 1G", "frisbee", 1000000000ULL);
	expect_parsed("rate = 10Gbit/s", "frisbee", 10000000000ULL);
	expect_parsed("rate = 500 Mbit/s", "frisbee", 500000000ULL);
	expect_parsed("rate = 100Mbps", "frisbee", 100000000ULL);
	expect_parsed("rate = 2.5G", "frisbee", 2500000000ULL);
	expect_parsed("rate = 64k", "frisbee", 64000ULL);
	expect_parsed("rate = 72000000", "frisbee", 72000000ULL);
	expect_parsed("max-rate = 10M", "origin", 10ULL << 20);
	expect_parsed("max-rate = 10MiB/s", "origin", 10ULL << 20);
	expect_parsed("idle-timeout = 30", "frisbee", 30);
	expect_parsed("idle-timeout = 90s", "frisbee", 90);
	expect_parsed("idle-timeout = 5m", "frisbee", 300);
	expect_parsed("idle-timeout = 1h30m", "frisbee", 5400);
	expect_parsed("idle-timeout = 1h 30min", "frisbee", 5400);
	expect_parsed("idle-timeout = 0.5m", "frisbee", 30);
	expect_parsed("idle-timeout = 1d", "frisbee", 86400);
	expect_parsed("idle-timeout = 2000ms", "frisbee", 2);
	expect_refused(MINIMAL "[frisbee]\nidle-timeout = 1500ms\n", "whole number of seconds");
	expect_refused(MINIMAL "[frisbee]\nidle-timeout = 5 10s\n", "unit");
	expect_refused(MINIMAL "[frisbee]\nrate = 1GB/s\n", "bits per second");
	expect_refused(MINIMAL "[frisbee]\nrate = 1Q\n", "unknown unit");
	expect_refused(MINIMAL "[images]\nhugepage-budget = 1Gbit\n", "bytes");
	expect_refused(MINIMAL "[images]\nhugepage-budget = 0.1K\n", "whole number of bytes");
	expect_refused(MINIMAL "[origin]\nmax-rate = 8Mbps\n", NULL);
	expect_refused(MINIMAL "[dpdk]\nmbufs = 16K\n", "plain number");
}

static void
test_format_human(void **state)
{
	struct mb_config c;
	struct mb_diags d;
	char buf[64];

	(void)state;
	mb_format_size(64ULL << 20, buf, sizeof(buf));
	assert_string_equal(buf, "64M");
	mb_format_size(1536ULL << 10, buf, sizeof(buf));
	assert_string_equal(buf, "1536K");
	mb_format_size(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1000");
	mb_format_rate(1000000000ULL, buf, sizeof(buf));
	assert_string_equal(buf, "1G");
	mb_format_duration(5400, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m");
	mb_format_duration(600, buf, sizeof(buf));
	assert_string_equal(buf, "10m");
	/* As written when set in the file; the shortest exact spelling else. */
	assert_int_equal(parse(&c, MINIMAL "[images]\nhugepage-budget = 64 MiB  # cache\n", &d), 0);
	mb_config_format_human(&c, mb_config_find("images", "hugepage-budget"), buf, sizeof(buf));
	assert_string_equal(buf, "64 MiB");
	mb_config_format_human(&c, mb_config_find("images", "max-image-size"), buf, sizeof(buf));
	assert_string_equal(buf, "64G");
	mb_config_format_human(&c, mb_config_find("frisbee", "rate"), buf, sizeof(buf));
	assert_string_equal(buf, "0");
	mb_config_format_human(&c, mb_config_find("frisbee", "idle-timeout"), buf, sizeof(buf));
	assert_string_equal(buf, "10m");
	assert_false(mb_config_is_default(&c, mb_config_find("images", "hugepage-budget")));
	assert_true(mb_config_is_default(&c, mb_config_find("frisbee", "rate")));
	{
		json_t *j = mb_config_to_json(&c), *e;

		e = json_object_get(json_object_get(j, "images"), "hugepage-budget");
		assert_string_equal(json_string_value(json_object_get(e, "value")), "67108864");
		assert_string_equal(json_string_value(json_object_get(e, "text")), "64 MiB");
		assert_int_equal(json_integer_value(json_object_get(e, "line")), 4);
		json_decref(j);
	}
	mb_diags_done(&d);
	mb_config_done(&c);
}

/* -n's file checks: every path the configuration names. */
static void
test_file_checks(void **state)
{
	char dir[] = "/tmp/mbt-cfg.XXXXXX", text[2048], path[256];
	struct mb_config c;
	struct mb_diags d;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	snprintf(text, sizeof(text),
		 "[server]\n"
		 "state-dir = %s/no-such-state\n"	/* 2 */
		 "control-socket = %s/key.pem/sock\n"	/* 3 */
		 "[dpdk]\naddress = 10.1.0.1/24\n"
		 "[origin]\n"
		 "url = https://ops/\n"			/* 7 */
		 "ca-file = %s/missing-ca.pem\n"	/* 8 */
		 "client-cert = %s\n"			/* 9: a directory */
		 "client-key = %s\n"			/* 10: world-readable */
		 "manifest-pubkey = %s/empty\n",	/* 11 */
		 dir, dir, dir, dir, path, dir);
	snprintf(path, sizeof(path), "%s/empty", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	assert_int_equal(parse(&c, text, &d), 0);
	assert_int_equal(mb_config_check(&c, 0, &d), 0); /* values alone are fine */
	assert_int_equal(mb_config_check(&c, MB_CFG_CHECK_FILES, &d), -EINVAL);
	dump(&d);
	assert_true(has_diag(&d, MB_DIAG_ERROR, 2, "does not exist", "create-state-dir", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 3, "not a directory", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 8, "cannot read", "No such file", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 9, "not a regular file", NULL));
	assert_true(has_diag(&d, MB_DIAG_WARNING, 10, "readable by every user", NULL));
	assert_true(has_diag(&d, MB_DIAG_ERROR, 11, "empty", NULL));
	mb_diags_done(&d);
	/* create-state-dir = yes accepts a missing state directory. */
	assert_int_equal(mb_config_parse_string(&c, "[server]\ncreate-state-dir = yes\n", "u", &d),
			 0);
	mb_diags_done(&d);
	mb_config_check(&c, MB_CFG_CHECK_FILES, &d);
	assert_false(has_diag(&d, MB_DIAG_ERROR, 2, "does not exist", NULL));
	mb_diags_done(&d);
	mb_config_done(&c);
	snprintf(text, sizeof(text), "rm -rf '%s'", dir);
	assert_int_equal(system(text), 0);
}

/* The man page and -E come from the table: every key appears in both. */
static void
test_docs_cover_every_key(void **state)
{
	char *man = NULL, *ex = NULL;
	size_t mlen = 0, elen = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&man, &mlen);
	mb_config_print_man(f);
	fclose(f);
	f = open_memstream(&ex, &elen);
	mb_config_print_example(f);
	fclose(f);
	for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
		char roffname[128], line[160];
		size_t o = 0;

		for (const char *p = k->name; *p != '\0' && o < sizeof(roffname) - 3; p++) {
			if (*p == '-')
				roffname[o++] = '\\';
			roffname[o++] = *p;
		}
		roffname[o] = '\0';
		snprintf(line, sizeof(line), ".B %s\n", roffname);
		if (strstr(man, line) == NULL)
			fail_msg("man page lacks %s", k->name);
		snprintf(line, sizeof(line), "%s = ", k->name);
		if (strstr(ex, line) == NULL)
			fail_msg("-E lacks %s", k->name);
	}
	assert_non_null(strstr(man, ".TH MINIBOSS.CONF 5"));
	assert_non_null(strstr(ex, "1h30m"));
	free(man);
	free(ex);
}

/* Dataplane keys: tcp.congestion-control takes newreno and cubic and
 * refuses anything else by name; frisbee.max-sessions needs a restart (its
 * slots are made at start), so a reload that changes it is refused naming
 * it. */
static void
test_dataplane_keys(void **state)
{
	struct mb_config c, d;
	char err[MB_CFG_ERRLEN];

	(void)state;
	expect_invalid(MINIMAL "[tcp]\ncongestion-control = bbr\n", "congestion-control",
		       "'bbr' is not newreno or cubic");
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_equal(mb_config_load_string(&c, MINIMAL "[tcp]\ncongestion-control = cubic\n",
					       err, sizeof(err)), 0);
	assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
	assert_string_equal(c.tcp_cc, "cubic");
	assert_int_equal(mb_config_copy(&d, &c), 0);
	assert_int_equal(mb_config_load_string(&d, "[frisbee]\nmax-sessions = 8\n", err,
					       sizeof(err)), 0);
	assert_string_equal(mb_config_nonreloadable_change(&c, &d)->name, "max-sessions");
	mb_config_done(&c);
	mb_config_done(&d);
}

/* What nothing reads yet is refused with the fix in the message:
 * frisbee.tryagain-wait (any value, even its default; -E comments it out). */
static void
test_unbuilt_refused(void **state)
{
	struct mb_config c;
	char err[MB_CFG_ERRLEN], *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	expect_invalid(MINIMAL "[frisbee]\ntryagain-wait = 30s\n",
		       "[frisbee] tryagain-wait is not implemented", "remove the key");
	expect_invalid(MINIMAL "[origin]\nurl = ftp://ops/\n", "url must start with https://", NULL);

	/* the running configuration (`minibossctl config -a`) leaves it out */
	assert_int_equal(mb_config_defaults(&c), 0);
	{
		json_t *j = mb_config_to_json(&c);

		assert_non_null(j);
		assert_non_null(json_object_get(json_object_get(j, "frisbee"), "rate"));
		assert_null(json_object_get(json_object_get(j, "frisbee"), "tryagain-wait"));
		json_decref(j);
	}
	mb_config_done(&c);

	/* the example -E prints still validates with an address */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	mb_config_print_example(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(text, "\n#tryagain-wait = 30s\n"));
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_equal(mb_config_load_string(&c, text, err, sizeof(err)), 0);
	assert_int_equal(mb_config_load_string(&c, MINIMAL, err, sizeof(err)), 0);
	assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
	mb_config_done(&c);
	free(text);
}

/* frisbee.linger takes idle, never or leave; anything else is refused. */
static void
test_linger_key(void **state)
{
	static const char *const ok[] = { "idle", "never", "leave" };
	struct mb_config c;
	char err[MB_CFG_ERRLEN], text[128];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(mb_config_defaults(&c), 0);
		snprintf(text, sizeof(text), MINIMAL "[frisbee]\nlinger = %s\n", ok[i]);
		assert_int_equal(mb_config_load_string(&c, text, err, sizeof(err)), 0);
		assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
		mb_config_done(&c);
	}
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_string_equal(c.fris_linger, "idle");
	mb_config_done(&c);
	expect_invalid(MINIMAL "[frisbee]\nlinger = -1\n", "not idle, never or leave", NULL);
}

/* The querier's last member query count and interval: defaults (2, 1 s),
 * values in range taken, out of range or not a multiple of 100 ms refused
 * with the key named. */
static void
test_igmp_last_member_keys(void **state)
{
	struct mb_config c;
	char err[MB_CFG_ERRLEN];

	(void)state;
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_equal(c.igmp_lmqc, 2);
	assert_int_equal(c.igmp_lmqi_ms, 1000);
	mb_config_done(&c);
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_equal(mb_config_load_string(&c,
					       MINIMAL "[frisbee]\nigmp-last-member-count = 10\n"
						       "igmp-last-member-interval-ms = 25500\n",
					       err, sizeof(err)),
			 0);
	assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(c.igmp_lmqc, 10);
	assert_int_equal(c.igmp_lmqi_ms, 25500);
	mb_config_done(&c);
	expect_refused(MINIMAL "[frisbee]\nigmp-last-member-count = 0\n",
		       "igmp-last-member-count");
	expect_refused(MINIMAL "[frisbee]\nigmp-last-member-count = 11\n",
		       "igmp-last-member-count");
	expect_refused(MINIMAL "[frisbee]\nigmp-last-member-count = 2s\n",
		       "igmp-last-member-count");
	expect_refused(MINIMAL "[frisbee]\nigmp-last-member-interval-ms = 99\n",
		       "igmp-last-member-interval-ms");
	expect_refused(MINIMAL "[frisbee]\nigmp-last-member-interval-ms = 25600\n",
		       "igmp-last-member-interval-ms");
	expect_invalid(MINIMAL "[frisbee]\nigmp-last-member-interval-ms = 250\n",
		       "igmp-last-member-interval-ms", "multiple of 100");
}

/* origin.url = mfrisbee://HOST[:PORT]: what is a parent's URL, and the check
 * of parent-methods. */
static void
test_parent_origin(void **state)
{
	struct mb_config c;
	char host[256], err[MB_CFG_ERRLEN];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(mb_config_parent_url("mfrisbee://boss.example.net", host, sizeof(host),
					      &port), 0);
	assert_string_equal(host, "boss.example.net");
	assert_int_equal(port, 64494);
	assert_int_equal(mb_config_parent_url("mfrisbee://10.1.0.1:7000/", host, sizeof(host),
					      &port), 0);
	assert_string_equal(host, "10.1.0.1");
	assert_int_equal(port, 7000);
	assert_int_equal(mb_config_parent_url("mfrisbee://", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://h:0", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://h:65536", host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://h:", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://h:1x", host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://h/path", host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://a b", host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(mb_config_parent_url("https://h", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(mb_config_parent_url("mfrisbee://abcdefgh", host, 4, &port), -EINVAL);

	/* accepted by the check: no manifest-pubkey needed */
	assert_int_equal(mb_config_defaults(&c), 0);
	assert_int_equal(mb_config_load_string(&c, MINIMAL "[origin]\nurl = mfrisbee://10.1.0.254\n"
						   "parent-methods = mcast,ucast\n",
					       err, sizeof(err)), 0);
	assert_int_equal(mb_config_validate(&c, err, sizeof(err)), 0);
	mb_config_done(&c);
	expect_refused(MINIMAL "[origin]\nurl = mfrisbee://\n", "mfrisbee://HOST");
	expect_refused(MINIMAL "[origin]\nurl = mfrisbee://h:99999\n", "mfrisbee://HOST");
	expect_refused(MINIMAL "[origin]\nurl = mfrisbee://h\nparent-methods = tcp\n",
		       "parent-methods");
	expect_refused(MINIMAL "[origin]\nurl = ftp://h\n", "url");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_linger_key),
	    cmocka_unit_test(test_igmp_last_member_keys),
	    cmocka_unit_test(test_defaults_validate), cmocka_unit_test(test_every_default_parses),
	    cmocka_unit_test(test_unbuilt_refused),
	    cmocka_unit_test(test_bad_values),        cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_reload_check),      cmocka_unit_test(test_json),
	    cmocka_unit_test(test_inline_comments),   cmocka_unit_test(test_every_error_with_line),
	    cmocka_unit_test(test_syntax_errors),     cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_unit_spellings),    cmocka_unit_test(test_format_human),
	    cmocka_unit_test(test_file_checks),       cmocka_unit_test(test_docs_cover_every_key),
	    cmocka_unit_test(test_dataplane_keys),
	    cmocka_unit_test(test_parent_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
