/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-confdoc: the documents generated from the configuration key table, so
 * they never drift from what the parser accepts: miniboss.conf(5) (--man)
 * and the example file with every key and its default (--example, the same
 * text as `minibossd -E`).  Run by the build; not installed.
 */
#include <stdio.h>
#include <string.h>

#include "mb_config.h"

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--man") == 0) {
		mb_config_print_man(stdout);
	} else if (argc == 2 && strcmp(argv[1], "--example") == 0) {
		mb_config_print_example(stdout);
	} else {
		fprintf(stderr, "usage: mb-confdoc --man | --example\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
