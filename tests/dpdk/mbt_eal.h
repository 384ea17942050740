/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EAL file prefix for the dpdk suite: "mbt-<name>-<pid>", so two runs of the
 * suite (two checkouts, two engineers) never share a runtime directory, and
 * the directory is removed after rte_eal_cleanup().  Header-only; each test
 * binary initialises EAL once.
 */
#ifndef _MBT_EAL_H_
#define _MBT_EAL_H_

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char mbt_eal_prefix[64];

/* "--file-prefix=mbt-<name>-<pid>" (static storage, valid until exit). */
static inline char *
mbt_eal_prefix_arg(const char *name)
{
	static char arg[96];

	snprintf(mbt_eal_prefix, sizeof(mbt_eal_prefix), "mbt-%s-%d", name, (int)getpid());
	snprintf(arg, sizeof(arg), "--file-prefix=%s", mbt_eal_prefix);
	return arg;
}

/* After rte_eal_cleanup(): remove /var/run/dpdk/<prefix> (root) or the
 * XDG runtime one; best effort. */
static inline void
mbt_eal_rm_runtime(void)
{
	char cmd[160];

	if (mbt_eal_prefix[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s", mbt_eal_prefix);
	(void)!system(cmd);
}

#endif /* _MBT_EAL_H_ */
