/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `minibossctl setup`: what a host needs before minibossd can use a NIC
 * through DPDK, checked and, when asked, done.
 *
 *   --check            hugepages (reserved, free, mounted), IOMMU and vfio,
 *                      the network PCI devices and their drivers; the
 *                      default when nothing else is asked
 *   --hugepages SIZE   set the reservation of one page size to SIZE (0
 *                      releases it) and mount hugetlbfs on /dev/hugepages
 *                      when no hugetlbfs is mounted
 *   --bind PCI         bind a NIC to vfio-pci (or --driver) with DPDK's
 *                      dpdk-devbind.py, after refusing what would hurt:
 *                      an interface that is up (the host's own link, SSH),
 *                      vfio-pci without an IOMMU
 *   --dry-run          print what would change and change nothing
 *
 * Every change is printed as "old -> new", followed by how to make it
 * survive a reboot (sysctl.d, the kernel command line, driverctl): setup
 * never edits boot configuration itself.
 *
 * The paths of sysfs and procfs may be moved with MB_SETUP_SYSFS and
 * MB_SETUP_PROCFS (the tests point them at constructed trees to see the
 * messages for hardware this machine does not have).  DPDK-free.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mb_config.h"
#include "mb_hostfacts.h"
#include "mb_setup.h"
#include "mb_status.h"

#define MAX_BIND 16

static const char *sysfs = "/sys";
static const char *procfs = "/proc";

static int
write_num(const char *path, unsigned long long v)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (f == NULL)
		return -errno;
	if (fprintf(f, "%llu\n", v) < 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* ---- hugepages -------------------------------------------------------------------------- */

static void
kb_name(unsigned long kb, char *buf, size_t len) /* len >= 24 */
{
	if (kb >= 1048576 && kb % 1048576 == 0)
		snprintf(buf, len, "%luG", kb / 1048576);
	else if (kb >= 1024 && kb % 1024 == 0)
		snprintf(buf, len, "%luM", kb / 1024);
	else
		snprintf(buf, len, "%luK", kb);
}

/* Report; returns the number of problems. */
static unsigned
check_hugepages(void)
{
	struct mb_hp_size v[8];
	size_t n = mb_host_hugepage_sizes(v, 8);
	char mnt[512], opts[512], a[32], b[32], pg[24];
	long long free_bytes = 0;
	unsigned problems = 0;

	if (n == 0) {
		printf("%-10s this kernel has no hugepages (%s/kernel/mm/hugepages is missing): "
		       "minibossd can run only with --no-huge, which is for tests\n",
		       "Hugepages:", sysfs);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		kb_name(v[i].kb, pg, sizeof(pg));
		mb_human_bytes((uint64_t)(v[i].nr > 0 ? v[i].nr : 0) * v[i].kb * 1024, a, sizeof(a));
		mb_human_bytes((uint64_t)(v[i].free_ > 0 ? v[i].free_ : 0) * v[i].kb * 1024, b,
			       sizeof(b));
		printf("%-10s %s pages: %lld reserved (%s), %lld free (%s)\n",
		       i == 0 ? "Hugepages:" : "", pg, v[i].nr, a, v[i].free_, b);
		if (v[i].free_ > 0)
			free_bytes += v[i].free_ * (long long)v[i].kb * 1024;
	}
	if (free_bytes == 0) {
		printf("%-10s no free hugepages: reserve some, e.g. minibossctl setup "
		       "--hugepages 2G\n", "");
		problems++;
	}
	if (mb_host_hugetlbfs(NULL, mnt, sizeof(mnt), opts, sizeof(opts)) == 1) {
		printf("%-10s hugetlbfs mounted on %s\n", "", mnt);
	} else {
		printf("%-10s no hugetlbfs mounted: mount -t hugetlbfs nodev /dev/hugepages "
		       "(minibossctl setup --hugepages does it)\n", "");
		problems++;
	}
	return problems;
}

static int
parse_page_size(const char *s, unsigned long *ret_kb)
{
	uint64_t v;

	if (mb_parse_size(s, &v) < 0 || v < 4096 || v % 1024 != 0)
		return -EINVAL;
	*ret_kb = (unsigned long)(v / 1024);
	return 0;
}

static int
do_hugepages(const char *size, unsigned long kb, bool dry)
{
	char path[PATH_MAX], pg[24], want_s[32], got_s[32], mnt[512], opts[512];
	unsigned long long pages;
	long long old, now;
	uint64_t bytes;
	int rc;

	if (mb_parse_size(size, &bytes) < 0) {
		fprintf(stderr, "minibossctl: setup: --hugepages '%s' is not a size (e.g. 2G, "
				"512M)\n", size);
		return 2;
	}
	kb_name(kb, pg, sizeof(pg));
	snprintf(path, sizeof(path), "%s/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages", sysfs,
		 kb);
	old = mb_host_read_num(path);
	if (old < 0) {
		fprintf(stderr, "minibossctl: setup: this machine has no %s hugepages ('%s' is "
				"missing)\n", pg, path);
		return 1;
	}
	pages = (bytes + kb * 1024ULL - 1) / (kb * 1024ULL);
	mb_human_bytes(pages * kb * 1024ULL, want_s, sizeof(want_s));
	if (dry) {
		printf("would set %s hugepages: %lld -> %llu (%s)\n", pg, old, pages, want_s);
	} else if ((unsigned long long)old != pages) {
		rc = write_num(path, pages);
		if (rc < 0) {
			fprintf(stderr, "minibossctl: setup: cannot write '%s': %s%s\n", path,
				strerror(-rc), rc == -EACCES || rc == -EPERM ? " (run as root)" : "");
			return 1;
		}
		now = mb_host_read_num(path);
		mb_human_bytes((uint64_t)(now > 0 ? now : 0) * kb * 1024ULL, got_s, sizeof(got_s));
		printf("%s hugepages: %lld -> %lld (%s)\n", pg, old, now, got_s);
		if (now >= 0 && (unsigned long long)now < pages)
			printf("warning: asked for %llu, the kernel found only %lld free contiguous "
			       "pages; reserve them at boot instead (below)\n", pages, now);
	} else {
		printf("%s hugepages: already %lld (%s), unchanged\n", pg, old, want_s);
	}
	if (pages > 0 && mb_host_hugetlbfs(NULL, mnt, sizeof(mnt), opts, sizeof(opts)) != 1) {
		char o[40];

		snprintf(o, sizeof(o), "pagesize=%s", pg);
		if (dry) {
			printf("would mount hugetlbfs (%s) on /dev/hugepages\n", o);
		} else if ((mkdir("/dev/hugepages", 0755) == -1 && errno != EEXIST) ||
			   mount("nodev", "/dev/hugepages", "hugetlbfs", 0, o) == -1) {
			fprintf(stderr, "minibossctl: setup: cannot mount hugetlbfs on "
					"/dev/hugepages: %s\n", strerror(errno));
			return 1;
		} else {
			printf("mounted hugetlbfs (%s) on /dev/hugepages\n", o);
		}
	}
	printf("\nTo keep this across reboots:\n");
	if (kb == 2048)
		printf("  echo 'vm.nr_hugepages = %llu' > /etc/sysctl.d/60-miniboss-hugepages.conf\n"
		       "  (or, to be sure to get them when memory is fragmented, add "
		       "'hugepages=%llu' to the kernel command line)\n", pages, pages);
	else
		printf("  add 'hugepagesz=%s hugepages=%llu' to GRUB_CMDLINE_LINUX in "
		       "/etc/default/grub, then update-grub\n", pg, pages);
	printf("  systemd mounts /dev/hugepages at boot (dev-hugepages.mount); "
	       "minibossd.service waits for it\n");
	return 0;
}

/* ---- IOMMU, vfio, NICs ---------------------------------------------------------------------- */

/* The kernel interface of a PCI NIC (first one) and whether it is up.  Found
 * from /sys/class/net/<if>/device, which for some drivers (virtio) is a
 * child of the PCI device rather than the device itself. */
static bool
pci_netdev(const char *addr, char *ifn, size_t len, bool *ret_up)
{
	char path[PATH_MAX + 300], dev[PATH_MAX], pci[PATH_MAX], flags[32];
	struct dirent *de;
	bool found = false;
	size_t pl;
	DIR *d;

	*ret_up = false;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", sysfs, addr);
	if (realpath(path, pci) == NULL)
		return false;
	pl = strlen(pci);
	snprintf(path, sizeof(path), "%s/class/net", sysfs);
	d = opendir(path);
	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= len)
			continue;
		snprintf(path, sizeof(path), "%s/class/net/%s/device", sysfs, de->d_name);
		if (realpath(path, dev) == NULL)
			continue;
		if (strncmp(dev, pci, pl) != 0 || (dev[pl] != '\0' && dev[pl] != '/'))
			continue;
		memcpy(ifn, de->d_name, strlen(de->d_name) + 1);
		found = true;
	}
	closedir(d);
	if (found) {
		snprintf(path, sizeof(path), "%s/class/net/%s/flags", sysfs, ifn);
		if (mb_host_read_line(path, flags, sizeof(flags)) == 0)
			*ret_up = (strtoul(flags, NULL, 16) & 0x1) != 0; /* IFF_UP */
	}
	return found;
}

static unsigned
check_nics(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], cls[32], drv[64], ifn[64];
	struct dirent *de;
	unsigned problems = 0, nics = 0, vfio = 0;
	bool groups = mb_host_iommu_groups(), noio = mb_host_noiommu();
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/bus/pci/devices", sysfs);
	d = opendir(dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		bool up;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/class", dir, de->d_name);
		if (mb_host_read_line(path, cls, sizeof(cls)) < 0 || strncmp(cls, "0x02", 4) != 0)
			continue;
		mb_host_pci_driver(de->d_name, drv, sizeof(drv));
		printf("%-10s %s  %-16s ", nics == 0 ? "NICs:" : "", de->d_name,
		       drv[0] ? drv : "(no driver)");
		if (mb_host_driver_dpdk(drv)) {
			printf("ready for DPDK (-a %s)\n", de->d_name);
			vfio += strcmp(drv, "vfio-pci") == 0;
		} else if (mb_host_driver_bifurcated(drv)) {
			printf("usable by DPDK while the kernel keeps it (-a %s)\n", de->d_name);
		} else if (pci_netdev(de->d_name, ifn, sizeof(ifn), &up)) {
			printf("kernel interface %s%s\n", ifn,
			       up ? ", up: in use by this host, leave it" :
				    ", down: minibossctl setup --bind to give it to DPDK");
		} else {
			printf("minibossctl setup --bind %s to give it to DPDK\n", de->d_name);
		}
		nics++;
	}
	if (d != NULL)
		closedir(d);
	if (nics == 0)
		printf("%-10s no network PCI devices (virtual ports -- af_xdp, af_packet -- need "
		       "none)\n", "NICs:");
	if (groups)
		printf("%-10s present (IOMMU groups in %s/kernel/iommu_groups)\n", "IOMMU:", sysfs);
	else if (noio)
		printf("%-10s none, vfio's unsafe no-IOMMU mode is on (no DMA isolation)\n",
		       "IOMMU:");
	else
		printf("%-10s none: vfio-pci needs one -- intel_iommu=on or amd_iommu=on on the "
		       "kernel command line and VT-d/AMD-Vi in the firmware (or, without "
		       "isolation, echo 1 > %s/module/vfio/parameters/enable_unsafe_noiommu_mode)\n",
		       "IOMMU:", sysfs);
	if (vfio > 0 && !groups && !noio)
		problems++;
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/vfio-pci", sysfs);
	printf("%-10s vfio-pci driver %s\n", "vfio:",
	       access(path, F_OK) == 0 ? "loaded" : "not loaded (modprobe vfio-pci)");
	return problems;
}

/* Run argv, wait; its exit status or -1. */
static int
run(char *const *argv)
{
	pid_t pid = fork();
	int st;

	if (pid == -1)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "minibossctl: setup: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *
devbind_path(void)
{
	static const char *const cands[] = { "/usr/bin/dpdk-devbind.py", "/usr/sbin/dpdk-devbind.py",
					     "/usr/local/bin/dpdk-devbind.py", NULL };
	const char *env = getenv("MB_SETUP_DEVBIND");

	if (env != NULL)
		return env;
	for (int i = 0; cands[i] != NULL; i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

static int
do_bind(const char *addr_in, const char *driver, bool dry)
{
	char addr[32], path[PATH_MAX], drv[64], after[64], ifn[64];
	const char *devbind = devbind_path();
	bool up;

	if (strlen(addr_in) == 7) /* bus:dev.fn */
		snprintf(addr, sizeof(addr), "0000:%s", addr_in);
	else
		snprintf(addr, sizeof(addr), "%s", addr_in);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", sysfs, addr);
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "minibossctl: setup: there is no PCI device %s (lspci -D lists "
				"them)\n", addr);
		return 1;
	}
	mb_host_pci_driver(addr, drv, sizeof(drv));
	if (strcmp(drv, driver) == 0) {
		printf("%s: already bound to %s, unchanged\n", addr, driver);
		return 0;
	}
	if (pci_netdev(addr, ifn, sizeof(ifn), &up) && up) {
		fprintf(stderr, "minibossctl: setup: %s is the kernel interface %s, which is up: "
				"binding it takes it from this host (and any SSH on it); if it is "
				"meant for the nodes, 'ip link set %s down' first\n", addr, ifn, ifn);
		return 1;
	}
	if (strcmp(driver, "vfio-pci") == 0 && !mb_host_iommu_groups() && !mb_host_noiommu()) {
		fprintf(stderr, "minibossctl: setup: no IOMMU, so vfio-pci cannot take %s: enable "
				"it (intel_iommu=on or amd_iommu=on on the kernel command line), see "
				"minibossctl setup --check\n", addr);
		return 1;
	}
	if (devbind == NULL) {
		fprintf(stderr, "minibossctl: setup: dpdk-devbind.py not found (apt install "
				"dpdk)\n");
		return 1;
	}
	if (dry) {
		printf("would run: %s --bind=%s %s  (now: %s)\n", devbind, driver, addr,
		       drv[0] ? drv : "no driver");
		return 0;
	}
	if (strcmp(driver, "vfio-pci") == 0) {
		char *const mp[] = { "modprobe", "vfio-pci", NULL };

		snprintf(path, sizeof(path), "%s/bus/pci/drivers/vfio-pci", sysfs);
		if (access(path, F_OK) != 0 && run(mp) != 0)
			fprintf(stderr, "minibossctl: setup: modprobe vfio-pci failed, trying "
					"anyway\n");
	}
	{
		char opt[96];
		char *const av[] = { (char *)devbind, opt, addr, NULL };

		snprintf(opt, sizeof(opt), "--bind=%s", driver);
		if (run(av) != 0) {
			fprintf(stderr, "minibossctl: setup: %s --bind=%s %s failed (its message is "
					"above)\n", devbind, driver, addr);
			return 1;
		}
	}
	mb_host_pci_driver(addr, after, sizeof(after));
	printf("%s: %s -> %s\n", addr, drv[0] ? drv : "no driver", after[0] ? after : "no driver");
	printf("\nTo keep this across reboots: driverctl set-override %s %s (apt install "
	       "driverctl)\n", addr, driver);
	return strcmp(after, driver) == 0 ? 0 : 1;
}

static void
setup_usage(FILE *f)
{
	fprintf(f, "usage: minibossctl setup [--check] [--hugepages SIZE] [--page-size 2M|1G]\n"
		   "                         [--bind PCI]... [--driver DRIVER] [--dry-run]\n"
		   "Without options: --check.  See minibossctl --help and minibossctl(8).\n");
}

int
mb_setup_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },	{ "hugepages", required_argument, NULL, 'H' },
		{ "page-size", required_argument, NULL, 'P' },
		{ "bind", required_argument, NULL, 'b' },
		{ "driver", required_argument, NULL, 'D' }, { "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },	{ NULL, 0, NULL, 0 },
	};
	const char *hp = NULL, *driver = "vfio-pci", *bind[MAX_BIND];
	unsigned long kb = 2048;
	unsigned nbind = 0, problems = 0;
	bool check = false, dry = false;
	int opt, rc = 0;

	if (getenv("MB_SETUP_SYSFS") != NULL)
		sysfs = getenv("MB_SETUP_SYSFS");
	if (getenv("MB_SETUP_PROCFS") != NULL)
		procfs = getenv("MB_SETUP_PROCFS");
	mb_hostfacts_roots(sysfs, procfs);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			check = true;
			break;
		case 'H':
			hp = optarg;
			break;
		case 'P':
			if (parse_page_size(optarg, &kb) < 0) {
				fprintf(stderr, "minibossctl: setup: --page-size '%s': use 2M or 1G\n",
					optarg);
				return 2;
			}
			break;
		case 'b':
			if (nbind == MAX_BIND) {
				fprintf(stderr, "minibossctl: setup: at most %d --bind\n", MAX_BIND);
				return 2;
			}
			bind[nbind++] = optarg;
			break;
		case 'D':
			driver = optarg;
			break;
		case 'n':
			dry = true;
			break;
		case 'h':
			setup_usage(stdout);
			return 0;
		default:
			setup_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		setup_usage(stderr);
		return 2;
	}
	if (hp == NULL && nbind == 0)
		check = true;
	if (hp != NULL) {
		rc = do_hugepages(hp, kb, dry);
		if (rc != 0)
			return rc;
	}
	for (unsigned i = 0; i < nbind; i++) {
		int r = do_bind(bind[i], driver, dry);

		if (r != 0)
			rc = r;
	}
	if (check) {
		if (hp != NULL || nbind > 0)
			putchar('\n');
		problems += check_hugepages();
		problems += check_nics();
		printf("\n%s\n", problems == 0 ? "ready for minibossd" :
			problems == 1 ? "not ready: 1 problem above" : "not ready: problems above");
		if (problems > 0 && rc == 0)
			rc = 1;
	}
	return rc;
}
