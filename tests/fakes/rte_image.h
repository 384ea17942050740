/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An image in DPDK's memory (rte_malloc), as the store makes a hugepage
 * one: its bytes may be attached to mbufs (MB_SBUF_IOVA_DERIVE).  For the
 * dpdk suite's tests of the zero-copy path (test_dp.c, test_dp_tcp.c).
 */
#ifndef _MBT_RTE_IMAGE_H_
#define _MBT_RTE_IMAGE_H_

#include <stddef.h>
#include <stdint.h>

#include "mb_image.h"

/* `len` bytes copied in, padded with zeroes to a whole chunk; one
 * reference, the caller's; NULL without memory.  After rte_eal_init. */
struct mb_image *mbt_rte_image(const char *name, const uint8_t *bytes, size_t len);

#endif /* _MBT_RTE_IMAGE_H_ */
