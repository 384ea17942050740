/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net_af_xdp ports and what a dead process leaves behind: the PMD attaches
 * an XDP program (and its XSK map) to the kernel interface when the queues
 * are set up, and a process that dies without closing the port leaves them
 * attached, so the next AF_XDP user of the interface receives nothing.
 *
 * Before the queues exist, dp_xdp_check looks at the interface: no program,
 * fine; the program a previous run of this daemon instance recorded (same
 * EAL file prefix) and that run's process is gone, it is detached, logged;
 * any other program belongs to someone else (a live process, an operator's
 * filter) and the start is refused with the command that removes it.
 * After the port started, dp_xdp_record writes the program the PMD attached
 * and our pid into the EAL runtime directory for the next run.
 *
 * Main thread, before READY; uses libbpf's netlink queries.
 */
#ifndef _MB_DP_XDP_H_
#define _MB_DP_XDP_H_

#include <stdint.h>

/* 0, or -EBUSY (logged, naming the fix) when a foreign XDP program holds
 * the port's interface; -errno when the interface cannot be queried. */
int dp_xdp_check(uint16_t port_id);
/* Remember the program now attached to the port's interface (best effort). */
void dp_xdp_record(uint16_t port_id);

#endif /* _MB_DP_XDP_H_ */
