/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the control socket's request handler
 * (control/ctl_action.c, mb_ctl_request_handle): every input is one request
 * line (the socket layer cuts lines at '\n' and MB_CTL_MAX_LINE).  With the
 * built-in actions and an echo action registered, the reply must always be
 * one JSON object line with a boolean "ok".  Also built by
 * tests/unit/test_garbage.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_priv.h"
#include "mb_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *
act_echo(json_t *args, char **ret_err)
{
	(void)ret_err;
	return args != NULL ? json_incref(args) : json_object();
}

static const struct mb_ctl_action echo_action = {"echo", act_echo, "echo args"};

static void
setup_once(void)
{
	static struct mb_config cfg;
	static bool done;

	if (done)
		return;
	done = true;
	if (mb_config_defaults(&cfg) != 0)
		abort();
	mb_ctl_set_config(&cfg);
	if (mb_ctl_action_builtin_register() != 0 || mb_ctl_action_register(&echo_action) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	char *reply;
	size_t n;
	json_t *j;

	setup_once();
	if (size > MB_CTL_MAX_LINE)
		return 0;
	reply = mb_ctl_request_handle((const char *)data, size);
	if (reply == NULL)
		abort(); /* only on ENOMEM, which a fuzzer run does not hit */
	n = strlen(reply);
	if (n == 0 || reply[n - 1] != '\n' || memchr(reply, '\n', n - 1) != NULL)
		abort();
	j = json_loadb(reply, n, 0, &jerr);
	if (j == NULL || !json_is_boolean(json_object_get(j, "ok")))
		abort();
	json_decref(j);
	free(reply);
	return 0;
}
