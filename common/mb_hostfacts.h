/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What this host offers DPDK, read from sysfs and procfs: hugepages per
 * page size, hugetlbfs mounts, IOMMU groups and vfio's no-IOMMU mode, the
 * driver a PCI device is bound to.  minibossd's start-up checks
 * (server/srv_preflight.c) and `minibossctl setup` (tools/mb_setup.c) ask
 * the same questions here.  The roots may be moved (mb_hostfacts_roots) so
 * tests can point them at constructed trees.  DPDK-free; never logs.
 */
#ifndef _MB_HOSTFACTS_H_
#define _MB_HOSTFACTS_H_

#include <stdbool.h>
#include <stddef.h>

/* One hugepage size: its pages reserved and free (-1 when unreadable). */
struct mb_hp_size {
	unsigned long kb;
	long long nr, free_;
};

/* The first line of a small file (a sysfs attribute), without its newline,
 * at most len - 1 bytes.  0 or -errno. */
int mb_host_read_line(const char *path, char *buf, size_t len);
/* A number file's value, or -1 when it cannot be read. */
long long mb_host_read_num(const char *path);
/* Where sysfs and procfs are ("/sys" and "/proc" unless set; NULL keeps
 * one).  The strings must outlive the calls. */
void mb_hostfacts_roots(const char *sysfs, const char *procfs);
/* The hugepage sizes the kernel offers, at most max, into v; how many. */
size_t mb_host_hugepage_sizes(struct mb_hp_size *v, size_t max);
/* A hugetlbfs mount: the one at dir, or the first one with dir NULL; its
 * mount point and options into the buffers (either may be NULL).  1 found,
 * 0 none, -errno when the mount table cannot be read. */
int mb_host_hugetlbfs(const char *dir, char *ret_mnt, size_t mlen, char *ret_opts, size_t olen);
/* Are there IOMMU groups (an IOMMU the kernel uses)? */
bool mb_host_iommu_groups(void);
/* Is vfio's unsafe no-IOMMU mode on? */
bool mb_host_noiommu(void);
/* The driver PCI device addr (0000:03:00.0) is bound to into buf ("" when
 * none, or when its name does not fit).  0, or -ENODEV: no such device. */
int mb_host_pci_driver(const char *addr, char *buf, size_t len);
/* A driver through which DPDK takes a NIC over (vfio-pci, uio_pci_generic,
 * igb_uio)? */
bool mb_host_driver_dpdk(const char *drv);
/* A driver whose NICs DPDK uses while the kernel keeps them (mlx4/mlx5)? */
bool mb_host_driver_bifurcated(const char *drv);

#endif /* _MB_HOSTFACTS_H_ */
