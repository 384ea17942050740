/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the configuration parser (common/mb_config.c).
 *
 * Every input is one configuration text loaded over the defaults with
 * mb_config_load_string.  A rejected text must come with an error message;
 * either way the configuration must be freeable (no leaks, no double free
 * of keys that were replaced).  Also built by tests/unit/test_garbage.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_config.h"

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
	free(text);
	return 0;
}
