/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host facts for DPDK (see mb_hostfacts.h): plain reads of sysfs and
 * procfs files, each bounded and each failure an answer ("none", -1,
 * -errno) rather than an error the caller must log.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mb_hostfacts.h"

static const char *sysfs = "/sys";
static const char *procfs = "/proc";

void
mb_hostfacts_roots(const char *sys, const char *proc)
{
	if (sys != NULL)
		sysfs = sys;
	if (proc != NULL)
		procfs = proc;
}

int
mb_host_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

long long
mb_host_read_num(const char *path)
{
	char buf[64];

	if (mb_host_read_line(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

size_t
mb_host_hugepage_sizes(struct mb_hp_size *v, size_t max)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/kernel/mm/hugepages", sysfs);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		unsigned long kb;

		if (sscanf(de->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		v[n].kb = kb;
		snprintf(path, sizeof(path), "%s/%s/nr_hugepages", dir, de->d_name);
		v[n].nr = mb_host_read_num(path);
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", dir, de->d_name);
		v[n].free_ = mb_host_read_num(path);
		n++;
	}
	closedir(d);
	return n;
}

int
mb_host_hugetlbfs(const char *dir, char *ret_mnt, size_t mlen, char *ret_opts, size_t olen)
{
	char path[PATH_MAX], line[1024], dev[256], m[512], type[64], o[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mounts", procfs);
	f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %511s %63s %511s", dev, m, type, o) != 4 ||
		    strcmp(type, "hugetlbfs") != 0 || (dir != NULL && strcmp(dir, m) != 0))
			continue;
		if (ret_mnt != NULL)
			snprintf(ret_mnt, mlen, "%s", m);
		if (ret_opts != NULL)
			snprintf(ret_opts, olen, "%s", o);
		found = 1;
	}
	fclose(f);
	return found;
}

bool
mb_host_iommu_groups(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool any = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/kernel/iommu_groups", sysfs);
	d = opendir(path);
	if (d == NULL)
		return false;
	while (!any && (de = readdir(d)) != NULL)
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

bool
mb_host_noiommu(void)
{
	char path[PATH_MAX], buf[8] = "";

	snprintf(path, sizeof(path), "%s/module/vfio/parameters/enable_unsafe_noiommu_mode",
		 sysfs);
	return mb_host_read_line(path, buf, sizeof(buf)) == 0 &&
	       (buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1');
}

int
mb_host_pci_driver(const char *addr, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *s;
	ssize_t n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", sysfs, addr);
	if (access(path, F_OK) != 0)
		return -ENODEV;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", sysfs, addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	s = strrchr(link, '/');
	s = s != NULL ? s + 1 : link;
	if (strlen(s) < len)
		memcpy(buf, s, strlen(s) + 1);
	return 0;
}

bool
mb_host_driver_dpdk(const char *drv)
{
	return strcmp(drv, "vfio-pci") == 0 || strcmp(drv, "uio_pci_generic") == 0 ||
	       strcmp(drv, "igb_uio") == 0;
}

bool
mb_host_driver_bifurcated(const char *drv)
{
	return strcmp(drv, "mlx4_core") == 0 || strcmp(drv, "mlx5_core") == 0;
}
