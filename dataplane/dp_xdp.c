/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The XDP leftovers check of net_af_xdp ports (see dp_xdp.h).  The record
 * is one line, "<program id> <pid>", in <EAL runtime dir>/xdp-<ifname>.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <rte_eal.h>
#include <rte_ethdev.h>

#include <bpf/libbpf.h>

#include "dp_xdp.h"
#include "mb_log.h"

static int
port_ifname(uint16_t port_id, char *ret_name, unsigned *ret_index)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port_id, &info);

	if (rc != 0)
		return rc;
	if (info.if_index == 0 || if_indextoname(info.if_index, ret_name) == NULL)
		return -ENODEV;
	*ret_index = info.if_index;
	return 0;
}

static void
record_path(const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/xdp-%s", rte_eal_get_runtime_dir(), ifname);
}

/* The attached program and the mode flags it was attached with; 0 = none. */
static int
attached(unsigned ifindex, uint32_t *ret_id, uint32_t *ret_flags)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int rc = bpf_xdp_query((int)ifindex, 0, &q);

	if (rc != 0)
		return rc;
	*ret_flags = 0;
	*ret_id = q.prog_id;
	if (q.skb_prog_id != 0) {
		*ret_id = q.skb_prog_id;
		*ret_flags = XDP_FLAGS_SKB_MODE;
	} else if (q.drv_prog_id != 0) {
		*ret_id = q.drv_prog_id;
		*ret_flags = XDP_FLAGS_DRV_MODE;
	} else if (q.hw_prog_id != 0) {
		*ret_id = q.hw_prog_id;
		*ret_flags = XDP_FLAGS_HW_MODE;
	}
	return 0;
}

int
dp_xdp_check(uint16_t port_id)
{
	char ifname[IF_NAMESIZE], path[PATH_MAX];
	unsigned ifindex, rec_id = 0;
	uint32_t id, flags;
	long rec_pid = 0;
	FILE *f;
	int rc;

	if (port_ifname(port_id, ifname, &ifindex) != 0)
		return 0; /* nothing to look at: the PMD reports the trouble */
	rc = attached(ifindex, &id, &flags);
	if (rc != 0) {
		MB_LOG(WARNING, DP, "port %u: cannot query XDP on '%s': %s, ignoring", port_id,
		       ifname, strerror(-rc));
		return 0;
	}
	if (id == 0)
		return 0;
	record_path(ifname, path, sizeof(path));
	f = fopen(path, "re");
	if (f != NULL) {
		if (fscanf(f, "%u %ld", &rec_id, &rec_pid) != 2)
			rec_id = 0;
		fclose(f);
	}
	if (rec_id == id && rec_pid > 0 && rec_pid != (long)getpid() &&
	    kill((pid_t)rec_pid, 0) == -1 && errno == ESRCH) {
		rc = bpf_xdp_detach((int)ifindex, flags, NULL);
		if (rc == 0) {
			MB_LOG(NOTICE, DP, "port %u: removed XDP program %u that a previous run "
			       "(pid %ld) left on '%s'", port_id, id, rec_pid, ifname);
			(void)unlink(path);
			return 0;
		}
		MB_LOG(ERR, DP, "port %u: cannot remove the XDP program %u left on '%s': %s",
		       port_id, id, ifname, strerror(-rc));
	} else {
		MB_LOG(ERR, DP, "port %u: interface '%s' already has an XDP program (id %u) that "
		       "this daemon did not leave; if no other AF_XDP user runs there, remove it "
		       "with 'ip link set dev %s %s off' and start again", port_id, ifname, id,
		       ifname, flags == XDP_FLAGS_SKB_MODE ? "xdpgeneric" :
			       flags == XDP_FLAGS_DRV_MODE ? "xdpdrv" : "xdp");
	}
	return -EBUSY;
}

void
dp_xdp_record(uint16_t port_id)
{
	char ifname[IF_NAMESIZE], path[PATH_MAX];
	uint32_t id, flags;
	unsigned ifindex;
	FILE *f;

	if (port_ifname(port_id, ifname, &ifindex) != 0 || attached(ifindex, &id, &flags) != 0 ||
	    id == 0)
		return;
	record_path(ifname, path, sizeof(path));
	f = fopen(path, "we");
	if (f == NULL)
		return;
	fprintf(f, "%" PRIu32 " %ld\n", id, (long)getpid());
	fclose(f);
}
