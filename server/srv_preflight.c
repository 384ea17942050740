/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossd's start-up checks, before EAL: what the EAL arguments ask for
 * (an option's value, a virtual port's interface) and whether this host
 * can give it -- the capabilities the configuration needs, a free exception
 * TAP name and existing port interfaces, hugepages mounted and free, a PCI
 * NIC bound to a DPDK driver with an IOMMU, the state directory.  Every
 * refusal is logged once with the fix and counted; main.c decides what to
 * do with the count.  Nothing here changes the host, except creating the
 * state directory when create-state-dir asks for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_config.h"
#include "mb_hostfacts.h"
#include "mb_log.h"
#include "mb_priv.h"
#include "srv.h"

/* ---- what the EAL arguments ask for ----------------------------------------------- */

/* The value of an EAL option ("--x=v", "--x v", or a short "-x v"/"-xv"),
 * the i-th occurrence (0 = first); NULL when absent. */
const char *
mb_srv_eal_opt(int argc, char **argv, const char *lng, const char *shrt, int nth)
{
	size_t ll = lng != NULL ? strlen(lng) : 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (lng != NULL && strncmp(a, lng, ll) == 0 && a[ll] == '=')
			v = a + ll + 1;
		else if (lng != NULL && strcmp(a, lng) == 0 && i + 1 < argc)
			v = argv[i + 1];
		else if (shrt != NULL && strcmp(a, shrt) == 0 && i + 1 < argc)
			v = argv[i + 1];
		else if (shrt != NULL && strncmp(a, shrt, 2) == 0 && a[2] != '\0' && a[1] != '-')
			v = a + 2;
		if (v != NULL && nth-- == 0)
			return v;
	}
	return NULL;
}

bool
mb_srv_eal_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

/* "iface=X" of a vdev argument into buf; false when it has none. */
bool
mb_srv_vdev_iface(const char *vdev, char *buf, size_t len)
{
	const char *p = strstr(vdev, "iface=");
	size_t n;

	if (p == NULL || (p != vdev && p[-1] != ','))
		return false;
	p += 6;
	n = strcspn(p, ",");
	if (n == 0 || n >= len || n >= IFNAMSIZ)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

/* ---- start-up checks (before EAL; each message names the fix) ---------------------- */

static void preflight_err(struct mb_srv_preflight *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
preflight_err(struct mb_srv_preflight *p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	MB_LOG(ERR, MAIN, "%s", buf);
	p->errors++;
}

static uint64_t
cap_effective(void)
{
	char line[256];
	uint64_t caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return UINT64_MAX; /* cannot tell: let EAL find out */
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "CapEff: %" SCNx64, &caps) == 1)
			break;
	fclose(f);
	return caps;
}

#define CAP_NET_BIND_SERVICE 10
#define CAP_NET_ADMIN 12
#define CAP_NET_RAW 13
#define CAP_IPC_LOCK 14
#define CAP_SYS_ADMIN 21

static void
check_privileges(struct mb_srv_preflight *p)
{
	static const char *const names[64] = {
		[CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE", [CAP_NET_ADMIN] = "CAP_NET_ADMIN",
		[CAP_NET_RAW] = "CAP_NET_RAW",	[CAP_IPC_LOCK] = "CAP_IPC_LOCK",
		[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
	};
	const struct mb_config *cfg = p->cfg;
	uint64_t have = cap_effective(), need = 0, miss;
	const char *why[64] = { 0 };
	char list[512] = "";
	size_t off = 0;

	if (cfg->exception_tap[0] != '\0') {
		need |= 1ULL << CAP_NET_ADMIN;
		why[CAP_NET_ADMIN] = "the exception TAP";
	}
	for (int i = 0;; i++) {
		const char *v = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, i);

		if (v == NULL)
			break;
		if (strncmp(v, "net_af_packet", 13) == 0 || strncmp(v, "net_af_xdp", 10) == 0) {
			need |= 1ULL << CAP_NET_RAW;
			why[CAP_NET_RAW] = "the raw socket of the port";
		}
		if (strncmp(v, "net_af_xdp", 10) == 0 || strncmp(v, "net_tap", 7) == 0) {
			need |= 1ULL << CAP_NET_ADMIN;
			why[CAP_NET_ADMIN] = "the port's interface";
		}
	}
	if (!mb_srv_eal_flag(p->eal_argc, p->eal_argv, "--no-huge")) {
		need |= 1ULL << CAP_IPC_LOCK;
		why[CAP_IPC_LOCK] = "hugepage memory";
	}
	if ((cfg->tcp_enable && cfg->ftp_port != 0 && cfg->ftp_port < 1024) ||
	    (cfg->fris_enable && cfg->master_port != 0 && cfg->master_port < 1024)) {
		need |= 1ULL << CAP_NET_BIND_SERVICE;
		why[CAP_NET_BIND_SERVICE] = "a port below 1024";
	}
	miss = need & ~have;
	if (miss == 0)
		return;
	for (int c = 0; c < 64; c++) {
		if (!(miss & (1ULL << c)))
			continue;
		off += (size_t)snprintf(list + off, off < sizeof(list) ? sizeof(list) - off : 0,
					"%s%s (%s)", off ? ", " : "", names[c] ? names[c] : "?",
					why[c] ? why[c] : "");
	}
	preflight_err(p, "running as uid %u without %s: run minibossd as root (the packaged "
		      "systemd unit does), or grant these capabilities "
		      "(AmbientCapabilities= in the unit)", (unsigned)geteuid(), list);
}

static void
check_interfaces(struct mb_srv_preflight *p)
{
	const char *tap = p->cfg->exception_tap;

	if (tap[0] != '\0' && if_nametoindex(tap) != 0)
		preflight_err(p, "[dpdk] exception-tap: interface '%s' already exists (another "
			      "minibossd, or another program's): choose another name, or remove "
			      "it if it is a leftover (ip link del %s)", tap, tap);
	for (int i = 0;; i++) {
		const char *v = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, i);
		char ifn[IFNAMSIZ];

		if (v == NULL)
			break;
		if (strncmp(v, "net_tap", 7) != 0 && mb_srv_vdev_iface(v, ifn, sizeof(ifn)) &&
		    if_nametoindex(ifn) == 0)
			preflight_err(p, "--vdev %s: interface '%s' does not exist in this network "
				      "namespace (ip link show)", v, ifn);
	}
}

/* Hugepage bytes free, and reserved into *ret_total, over every page size. */
static uint64_t
hugepages_free_bytes(uint64_t *ret_total)
{
	struct mb_hp_size v[8];
	size_t n = mb_host_hugepage_sizes(v, 8);
	uint64_t free_b = 0, total_b = 0;

	for (size_t i = 0; i < n; i++) {
		free_b += v[i].free_ > 0 ? (uint64_t)v[i].free_ * v[i].kb * 1024 : 0;
		total_b += v[i].nr > 0 ? (uint64_t)v[i].nr * v[i].kb * 1024 : 0;
	}
	*ret_total = total_b;
	return free_b;
}

static void
check_hugepages(struct mb_srv_preflight *p)
{
	const char *dir = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--huge-dir", NULL, 0);
	const char *mem = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--socket-mem", "-m", 0);
	uint64_t total, freeb, want = 0;
	char mnt[512];

	if (mb_srv_eal_flag(p->eal_argc, p->eal_argv, "--no-huge"))
		return;
	/* an unreadable mount table: cannot tell, let EAL find out */
	if (mb_host_hugetlbfs(dir, mnt, sizeof(mnt), NULL, 0) == 0) {
		if (dir != NULL)
			preflight_err(p, "--huge-dir %s is not a hugetlbfs mount: mount -t hugetlbfs "
				      "nodev %s (or run with --no-huge for a test)", dir, dir);
		else
			preflight_err(p, "no hugetlbfs is mounted: mount -t hugetlbfs nodev "
				      "/dev/hugepages, or run 'minibossctl setup --hugepages SIZE' "
				      "(or run with --no-huge for a test)");
		return;
	}
	freeb = hugepages_free_bytes(&total);
	if (mem != NULL) {
		/* -m MB, or --socket-mem MB,MB,... (summed) */
		for (const char *s = mem; *s != '\0';) {
			char *end;
			unsigned long long v = strtoull(s, &end, 10);

			if (end == s)
				break;
			want += v << 20;
			s = *end == ',' ? end + 1 : end;
			if (*end != ',')
				break;
		}
	}
	if (freeb == 0)
		preflight_err(p, "no free hugepages (%" PRIu64 " MiB reserved, all in use): reserve "
			      "some with 'minibossctl setup --hugepages SIZE' or echo N > "
			      "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages (or run with "
			      "--no-huge for a test)", total >> 20);
	else if (want > freeb)
		preflight_err(p, "EAL memory (-m/--socket-mem) asks for %" PRIu64 " MiB of hugepages "
			      "but %" PRIu64 " MiB are free: reserve more ('minibossctl setup "
			      "--hugepages SIZE') or lower it", want >> 20, freeb >> 20);
}

static void
check_pci(struct mb_srv_preflight *p)
{
	bool vdev = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, 0) != NULL;

	if (mb_srv_eal_flag(p->eal_argc, p->eal_argv, "--no-pci")) {
		if (!vdev)
			preflight_err(p, "--no-pci and no --vdev: minibossd has no port to serve "
				      "from (add -a <pci address> or a --vdev)");
		return;
	}
	for (int i = 0;; i++) {
		const char *a = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--allow", "-a", i);
		char addr[32], drv[64];

		if (a == NULL)
			break;
		snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(a, ","), a);
		if (strlen(addr) == 7) /* bus:dev.fn without the domain */
			snprintf(addr, sizeof(addr), "0000:%.*s", (int)strcspn(a, ","), a);
		if (mb_host_pci_driver(addr, drv, sizeof(drv)) != 0) {
			preflight_err(p, "-a %s: there is no PCI device %s (lspci -D lists them)", a,
				      addr);
			continue;
		}
		if (mb_host_driver_bifurcated(drv))
			continue; /* DPDK uses it while the kernel keeps it */
		if (!mb_host_driver_dpdk(drv)) {
			preflight_err(p, "-a %s: the NIC is bound to %s%s%s; bind it to vfio-pci "
				      "first: minibossctl setup --bind %s", a, drv[0] ? "'" : "",
				      drv[0] ? drv : "no driver", drv[0] ? "'" : "", addr);
			continue;
		}
		if (strcmp(drv, "vfio-pci") == 0 && !mb_host_iommu_groups() && !mb_host_noiommu())
			preflight_err(p, "-a %s: vfio-pci without an IOMMU: enable it (intel_iommu=on "
				      "or amd_iommu=on on the kernel command line, and VT-d/AMD-Vi "
				      "in the firmware), or allow vfio's unsafe no-IOMMU mode "
				      "(minibossctl setup --check explains)", a);
	}
}

static void
check_state_dir(struct mb_srv_preflight *p)
{
	const struct mb_config *cfg = p->cfg;
	char *path, *s;
	struct stat st;

	if (stat(cfg->state_dir, &st) == 0 || !cfg->create_state_dir)
		return; /* the configuration check reported a missing one */
	path = strdup(cfg->state_dir);
	if (path == NULL)
		return;
	for (s = path + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(path, 0755) == -1 && errno != EEXIST) {
				preflight_err(p, "[server] state-dir: cannot create '%s': %s", path,
					      strerror(errno));
				break;
			}
			*s = c;
			if (c == '\0') {
				MB_LOG(NOTICE, MAIN, "created state directory '%s' "
				       "(create-state-dir = yes)", cfg->state_dir);
				break;
			}
		}
	}
	free(path);
}

void
mb_srv_preflight_privileges(struct mb_srv_preflight *p)
{
	check_privileges(p);
}

void
mb_srv_preflight_host(struct mb_srv_preflight *p)
{
	check_interfaces(p);
	check_hugepages(p);
	check_pci(p);
	check_state_dir(p);
}

/*
 * The capabilities the daemon still uses once it runs (server.drop-privileges);
 * everything else is dropped after start.  Sockets, the ports, the TAP,
 * the listeners and the hugepage mappings of start-up are open by then; what
 * remains is:
 *  - CAP_NET_ADMIN with an exception TAP or a port on a kernel interface
 *    (af_packet, af_xdp, tap): a port whose multicast filter fails falls
 *    back to allmulticast while running, and at exit the TAP is removed and
 *    the interface flags the port changed are restored;
 *  - CAP_SYS_ADMIN with hugepages unless --iova-mode=va: the store maps
 *    hugepage segments while running, and EAL finds their physical
 *    addresses in /proc/self/pagemap, which shows them only with it;
 *  - CAP_SYS_ADMIN and CAP_BPF with af_xdp: the PMD removes its XDP program
 *    at exit, looking it up by id (bpf(BPF_PROG_GET_FD_BY_ID)).
 * Not kept: CAP_NET_RAW (the raw and XDP sockets are open), CAP_IPC_LOCK
 * (nothing is locked after start: the af_xdp UMEM is charged when it is
 * made), CAP_NET_BIND_SERVICE (listening ports cannot change on reload),
 * CAP_DAC_OVERRIDE (state, runtime and TLS files are root's own), and every
 * other capability.  @why gets a reason per kept capability.
 */
uint64_t
mb_srv_runtime_caps(const struct mb_srv_preflight *p, const char **why)
{
	const char *iova = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--iova-mode", NULL, 0);
	uint64_t keep = 0;

	if (p->cfg->exception_tap[0] != '\0') {
		keep |= 1ULL << MB_CAP_NET_ADMIN;
		why[MB_CAP_NET_ADMIN] = "the exception TAP at exit";
	}
	for (int i = 0;; i++) {
		const char *v = mb_srv_eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, i);

		if (v == NULL)
			break;
		if (strncmp(v, "net_af_packet", 13) == 0 || strncmp(v, "net_af_xdp", 10) == 0 ||
		    strncmp(v, "net_tap", 7) == 0) {
			keep |= 1ULL << MB_CAP_NET_ADMIN;
			why[MB_CAP_NET_ADMIN] = "the port's interface flags";
		}
		if (strncmp(v, "net_af_xdp", 10) == 0) {
			keep |= 1ULL << MB_CAP_SYS_ADMIN | 1ULL << MB_CAP_BPF;
			why[MB_CAP_SYS_ADMIN] = why[MB_CAP_BPF] = "the XDP program at exit";
		}
	}
	if (!mb_srv_eal_flag(p->eal_argc, p->eal_argv, "--no-huge") &&
	    (iova == NULL || strcmp(iova, "va") != 0)) {
		keep |= 1ULL << MB_CAP_SYS_ADMIN;
		why[MB_CAP_SYS_ADMIN] = "physical addresses of hugepages";
	}
	return keep;
}
