/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The exception path: a net_tap port (dpdk.exception-tap) that carries the
 * port's MAC and, in the kernel, dpdk.address with its prefix.  Frames the
 * dataplane does not handle itself go to the kernel through it (the master
 * server's and FTP control's TCP, ARP for the kernel's own neighbour cache,
 * IPv6, SSH...), and what the kernel sends on it leaves through the port
 * unchanged.  Without a TAP those frames are dropped (exc_drop).
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_ethdev.h>

#include "dp_priv.h"
#include "mb_log.h"

#define DP_TAP_NAME "net_tap_mb"
#define DP_TAP_BURST 32

/* Give the kernel the TAP's address: same IPv4 and prefix as the dataplane,
 * link up.  The kernel then runs the TCP sockets of the control thread. */
static int
tap_configure(const struct mb_dp_port *port, const char *ifname)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd, rc = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = port->addr;
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		rc = -errno;
	sin->sin_addr.s_addr = port->mask;
	if (rc == 0 && ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		rc = -errno;
	if (rc == 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
dp_exc_init(struct mb_dp_port *port, const char *ifname)
{
	struct rte_eth_conf conf;
	char args[128], mac[RTE_ETHER_ADDR_FMT_SIZE];
	uint16_t pid;
	int rc;

	rte_ether_format_addr(mac, sizeof(mac), &port->mac);
	snprintf(args, sizeof(args), "iface=%s,mac=%s", ifname, mac);
	rc = rte_eal_hotplug_add("vdev", DP_TAP_NAME, args);
	if (rc < 0 && rc != -EEXIST) {
		MB_LOG(ERR, DP, "exception TAP %s: hotplug failed: %s", ifname, strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(DP_TAP_NAME, &pid);
	if (rc != 0) {
		MB_LOG(ERR, DP, "exception TAP %s: no port", ifname);
		return rc;
	}
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(pid, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(pid, 0, 256, rte_eth_dev_socket_id(pid), NULL,
					    port->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(pid, 0, 256, rte_eth_dev_socket_id(pid), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(pid);
	if (rc != 0) {
		MB_LOG(ERR, DP, "exception TAP %s: setup failed: %s", ifname, strerror(-rc));
		return rc;
	}
	port->exc.port = pid;
	port->exc.on = true;
	rc = tap_configure(port, ifname);
	if (rc != 0)
		MB_LOG(WARNING, DP, "exception TAP %s: cannot set address: %s", ifname,
		       strerror(-rc));
	MB_LOG(INFO, DP, "exception TAP %s is port %u", ifname, pid);
	return 0;
}

void
dp_exc_fini(struct mb_dp_port *port)
{
	if (!port->exc.on)
		return;
	(void)rte_eth_dev_stop(port->exc.port);
	(void)rte_eth_dev_close(port->exc.port);
	(void)rte_eal_hotplug_remove("vdev", DP_TAP_NAME);
	port->exc.on = false;
}

void
dp_to_kernel(struct mb_dp_lcore *lc, struct rte_mbuf *m)
{
	if (lc->queue != 0) {
		/* the TAP is worker 0's: this is a copy of a frame worker 0 gave
		 * the kernel itself (an ARP reply, dp_lcore.c) */
		rte_pktmbuf_free(m);
		return;
	}
	/* the TAP owns m only if tx_burst took it */
	if (!lc->port->exc.on || rte_eth_tx_burst(lc->port->exc.port, 0, &m, 1) != 1) {
		dp_count(lc, MB_DP_C_exc_drop, 1);
		rte_pktmbuf_free(m);
		return;
	}
	dp_count(lc, MB_DP_C_exc_to_kernel, 1);
}

unsigned
dp_from_kernel(struct mb_dp_lcore *lc)
{
	struct rte_mbuf *pkts[DP_TAP_BURST];
	uint16_t n, i;

	if (!lc->port->exc.on || lc->queue != 0)
		return 0;
	n = rte_eth_rx_burst(lc->port->exc.port, 0, pkts, DP_TAP_BURST);
	for (i = 0; i < n; i++) {
		if (dp_tx_frame(lc, pkts[i]) == 0)
			dp_count(lc, MB_DP_C_exc_from_kernel, 1);
	}
	return n;
}
