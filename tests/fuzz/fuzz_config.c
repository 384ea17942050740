/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the configuration parser (common/mb_config.c).
 *
 * Every input is one configuration text loaded over the defaults with
 * mb_config_load_string.  A rejected text must come with an error message;
 * either way the configuration must be freeable (no leaks, no double free
 * of keys that were replaced).  The same text then goes through the
 * diagnostics path of -n and reload (every problem, with its line, sorted,
 * printed and turned into JSON), the cross-key checks, the JSON dump and the
 * human formatting of every key.  Also built by tests/unit/test_garbage.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_config.h"

/* Every diagnostic of a text points into it (line within the text) or at
 * no line at all, and formats. */
static void
diags_path(const char *text)
{
	struct mb_config cfg;
	struct mb_diags d;
	size_t lines = 1;
	json_t *j;
	FILE *null;

	for (const char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	mb_diags_init(&d);
	if (mb_config_defaults(&cfg) != 0)
		abort();
	if (mb_config_parse_string(&cfg, text, "fuzz.conf", &d) == 0 && d.errors != 0)
		abort();
	(void)mb_config_check(&cfg, 0, &d);
	mb_diags_sort(&d);
	for (size_t i = 0; i < d.n; i++) {
		char buf[2048];

		if (d.v[i].line > lines || d.v[i].msg == NULL)
			abort();
		if (mb_diag_format(&d.v[i], buf, sizeof(buf)) <= 0)
			abort();
		if (i > 0 && d.v[i - 1].line > d.v[i].line)
			abort();
	}
	null = fopen("/dev/null", "w");
	if (null != NULL) {
		mb_diags_print(&d, null, "x: ");
		fclose(null);
	}
	json_decref(mb_diags_json(&d, -1));
	/* The dump walks the whole table (and the defaults): every 8th input
	 * is plenty, and keeps the garbage test quick. */
	if (lines % 8 == 1) {
		j = mb_config_to_json(&cfg);
		json_decref(j);
		for (const struct mb_cfg_key *k = mb_cfg_keys; k->name != NULL; k++) {
			char buf[8192];

			(void)mb_config_format_human(&cfg, k, buf, sizeof(buf));
		}
	}
	mb_diags_done(&d);
	mb_config_done(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_config cfg;
	char err[MB_CFG_ERRLEN];
	char *text;

	/* The loader takes a C string; an embedded NUL just ends the text. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mb_config_defaults(&cfg) != 0)
		abort();
	err[0] = '\0';
	if (mb_config_load_string(&cfg, text, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
	} else {
		struct mb_config cp;

		err[0] = '\0';
		if (mb_config_validate(&cfg, err, sizeof(err)) != 0 && err[0] == '\0')
			abort();
		if (mb_config_copy(&cp, &cfg) != 0)
			abort();
		mb_config_done(&cp);
	}
	mb_config_done(&cfg);
	diags_path(text);
	free(text);
	return 0;
}
