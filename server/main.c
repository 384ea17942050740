/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * minibossd: options, configuration, start-up checks, EAL, threads,
 * signals, shutdown.
 *
 *   minibossd [EAL options] -- [-c FILE] [-d] [-n] [-E] [-V] [-h]
 *
 * -n reads the configuration and every file and directory it names, prints
 * every problem as "file:line: error: ..." and exits (0 when there was no
 * error) without starting EAL; -d logs at debug level.  With no EAL options
 * on the command line the `eal-args` key supplies them.  The process never
 * daemonizes (systemd or the shell does that).
 *
 * Start-up fails fast and touches nothing it does not own: the configuration
 * and its files are checked first, then the capabilities the configuration
 * needs; then the control-socket lock is taken (a second minibossd with the
 * same configuration stops here, before EAL, the port or any interface);
 * then the exception TAP name must be free, the interfaces of virtual ports
 * must exist, hugepages must be mounted and free (unless --no-huge), and a
 * PCI NIC must be bound to a DPDK driver with an IOMMU (or no-IOMMU mode).
 * Each refusal says how to fix it.  On every exit after that, the EAL
 * runtime directory (/var/run/dpdk/<prefix>) is removed and the flags of
 * the interfaces the virtual ports took over (promiscuous, allmulticast) are
 * restored.
 *
 * Threads: the main lcore runs the dataplane loop, worker lcores too; one
 * DPDK control thread runs the control plane (control/ctl.c), which also
 * reads the signals, blocked here before rte_eal_init so every EAL thread
 * inherits the mask, and talks to systemd (READY, STATUS, RELOADING,
 * STOPPING, WATCHDOG).  Fatal exits happen only before "ready".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "ctl.h"
#include "ctl_cfgcheck.h"
#include "ctl_priv.h"
#include "dp.h"
#include "mb_config.h"
#include "mb_log.h"

#define DEFAULT_CONFIG "/etc/miniboss/miniboss.conf"
#define MAX_EAL_ARGS 64
#define MAX_IFACES 8

RTE_LOG_REGISTER(mb_logtype_main, user.miniboss.main, INFO);
RTE_LOG_REGISTER(mb_logtype_cfg, user.miniboss.cfg, INFO);
RTE_LOG_REGISTER(mb_logtype_ctl, user.miniboss.ctl, INFO);
RTE_LOG_REGISTER(mb_logtype_dp, user.miniboss.dp, INFO);
RTE_LOG_REGISTER(mb_logtype_fris, user.miniboss.fris, INFO);
RTE_LOG_REGISTER(mb_logtype_tcp, user.miniboss.tcp, INFO);
RTE_LOG_REGISTER(mb_logtype_sync, user.miniboss.sync, INFO);
RTE_LOG_REGISTER(mb_logtype_store, user.miniboss.store, INFO);

static int
logtype_of(enum mb_log_module mod)
{
	switch (mod) {
	case MB_MOD_CFG:
		return mb_logtype_cfg;
	case MB_MOD_CTL:
		return mb_logtype_ctl;
	case MB_MOD_DP:
		return mb_logtype_dp;
	case MB_MOD_FRIS:
		return mb_logtype_fris;
	case MB_MOD_TCP:
		return mb_logtype_tcp;
	case MB_MOD_SYNC:
		return mb_logtype_sync;
	case MB_MOD_STORE:
		return mb_logtype_store;
	default:
		return mb_logtype_main;
	}
}

/* MB_LOG after EAL init: one rte_log line "minibossd: <module>: msg". */
static void
rte_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	char buf[1024];
	int type = logtype_of(mod);

	if (!rte_log_can_log((uint32_t)type, (uint32_t)level))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	rte_log((uint32_t)level, (uint32_t)type, "minibossd: %s: %s%s\n", mb_log_module_name(mod),
	        level <= MB_LOG_ERR ? "error: " : (level == MB_LOG_WARNING ? "warning: " : ""),
	        buf);
}

/* ---- the log stream: every rte_log line (ours and EAL's) gets the prefix
 * mb_log_prefix() chooses: a timestamp on a terminal or in a file, the
 * syslog priority under journald.  A cookie stream collects each line and
 * writes it whole to stderr. */

struct log_cookie {
	char line[2048];
	size_t len;
};

static void
log_cookie_flush(struct log_cookie *c)
{
	char pre[64];
	int lvl = rte_log_cur_msg_loglevel();
	int n = mb_log_prefix(lvl > 0 ? (enum mb_log_level)lvl : MB_LOG_INFO, pre, sizeof(pre));

	if (n > 0)
		(void)!write(STDERR_FILENO, pre, (size_t)n);
	(void)!write(STDERR_FILENO, c->line, c->len);
	c->len = 0;
}

static ssize_t
log_cookie_write(void *arg, const char *buf, size_t size)
{
	struct log_cookie *c = arg;

	for (size_t i = 0; i < size; i++) {
		c->line[c->len++] = buf[i];
		if (buf[i] == '\n' || c->len == sizeof(c->line) - 1) {
			if (buf[i] != '\n')
				c->line[c->len++] = '\n';
			log_cookie_flush(c);
		}
	}
	return (ssize_t)size;
}

static FILE *
log_stream_open(void)
{
	static struct log_cookie cookie;
	cookie_io_functions_t io = { .write = log_cookie_write };
	FILE *f = fopencookie(&cookie, "w", io);

	if (f != NULL)
		setvbuf(f, NULL, _IONBF, 0);
	return f;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: minibossd [EAL options] -- [-c FILE] [-d] [-n] [-E] [-V] [-h]\n"
	        "\n"
	        "Serve testbed disk images over Frisbee multicast, HTTP and FTP from a DPDK port.\n"
	        "\n"
	        "  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	        "  -d, --debug        log at debug level (the daemon always stays in the foreground)\n"
	        "  -n, --check        check the configuration and every file it names, print\n"
	        "                     each problem as file:line, exit 0 when there is no error\n"
	        "  -E, --example      print every configuration key with its default, the file\n"
	        "                     syntax and the spellings of sizes, rates and durations\n"
	        "  -V, --version      print the version\n"
	        "  -h, --help         this text\n"
	        "\n"
	        "EAL options come before \"--\", or from [server] eal-args when none are given,\n"
	        "e.g. minibossd -l 0-1 -a 0000:03:00.0 -- -c " DEFAULT_CONFIG "\n"
	        "Control it with minibossctl(8); see minibossd(8) and miniboss.conf(5).\n");
}

/*
 * Raise the open-descriptor limit (RLIMIT_NOFILE) before anything opens
 * descriptors: a distribution's default soft limit of 1024 is less than the
 * client limits add up to.  The target is server.open-files, but never less
 * than what the limits need: master-server and FTP control connections,
 * control clients, sync transfers, and a reserve for EAL (hugepage
 * segments, telemetry), the event loop, the store and the exception TAP.
 * The soft limit goes up to the target, the hard one too when we may
 * (root); otherwise as high as the hard limit allows, with a warning when
 * that is below the need.  Never lowers a limit.
 */
static void
raise_nofile(const struct mb_config *cfg)
{
	uint64_t need = 256 + 256 + cfg->max_control_clients + 4 * cfg->sync_concurrency + 512;
	uint64_t want = cfg->open_files > need ? cfg->open_files : need;
	struct rlimit rl, nrl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	old = rl.rlim_cur;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want)
		return;
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	nrl = rl;
	nrl.rlim_cur = (rlim_t)want;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		nrl.rlim_max = (rlim_t)want;
	if (setrlimit(RLIMIT_NOFILE, &nrl) == -1) {
		/* Not allowed to raise the hard limit: as far as it goes. */
		nrl.rlim_cur = rl.rlim_max;
		nrl.rlim_max = rl.rlim_max;
		if (nrl.rlim_cur <= old || setrlimit(RLIMIT_NOFILE, &nrl) == -1)
			nrl.rlim_cur = old;
	}
	if (nrl.rlim_cur < need)
		MB_LOG(WARNING, MAIN, "open-descriptor limit %llu is below the %llu the client "
		       "limits need (hard limit %llu), continuing", (unsigned long long)nrl.rlim_cur,
		       (unsigned long long)need, (unsigned long long)rl.rlim_max);
	else if (nrl.rlim_cur != old)
		MB_LOG(INFO, MAIN, "open-descriptor limit raised from %llu to %llu",
		       (unsigned long long)old, (unsigned long long)nrl.rlim_cur);
}

/* Split `s` on blanks into argv (pointers into a strdup kept by the caller). */
static int
split_args(char *s, char **argv, int max)
{
	int n = 0;

	for (char *tok = strtok(s, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
		if (n == max)
			return -E2BIG;
		argv[n++] = tok;
	}
	return n;
}

/* ---- what the EAL arguments ask for ----------------------------------------------- */

/* The value of an EAL option ("--x=v", "--x v", or a short "-x v"/"-xv"),
 * the i-th occurrence (0 = first); NULL when absent. */
static const char *
eal_opt(int argc, char **argv, const char *lng, const char *shrt, int nth)
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

static bool
eal_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

/* "iface=X" of a vdev argument into buf; false when it has none. */
static bool
vdev_iface(const char *vdev, char *buf, size_t len)
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

struct preflight {
	int eal_argc;
	char **eal_argv;
	const struct mb_config *cfg;
	unsigned errors;
};

static void preflight_err(struct preflight *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
preflight_err(struct preflight *p, const char *fmt, ...)
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
check_privileges(struct preflight *p)
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
		const char *v = eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, i);

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
	if (!eal_flag(p->eal_argc, p->eal_argv, "--no-huge")) {
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
check_interfaces(struct preflight *p)
{
	const char *tap = p->cfg->exception_tap;

	if (tap[0] != '\0' && if_nametoindex(tap) != 0)
		preflight_err(p, "[dpdk] exception-tap: interface '%s' already exists (another "
			      "minibossd, or another program's): choose another name, or remove "
			      "it if it is a leftover (ip link del %s)", tap, tap);
	for (int i = 0;; i++) {
		const char *v = eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, i);
		char ifn[IFNAMSIZ];

		if (v == NULL)
			break;
		if (strncmp(v, "net_tap", 7) != 0 && vdev_iface(v, ifn, sizeof(ifn)) &&
		    if_nametoindex(ifn) == 0)
			preflight_err(p, "--vdev %s: interface '%s' does not exist in this network "
				      "namespace (ip link show)", v, ifn);
	}
}

/* Is `dir` (NULL: any directory) a hugetlbfs mount?  Its path into ret_mnt. */
static bool
hugetlbfs_mounted(const char *dir, char *ret_mnt, size_t mlen)
{
	char line[1024], dev[256], mnt[512], type[64];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "re");

	if (f == NULL)
		return true; /* cannot tell */
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) != 3)
			continue;
		if (strcmp(type, "hugetlbfs") != 0)
			continue;
		if (dir == NULL || strcmp(dir, mnt) == 0) {
			found = true;
			snprintf(ret_mnt, mlen, "%s", mnt);
		}
	}
	fclose(f);
	return found;
}

static uint64_t
hugepages_free_bytes(uint64_t *ret_total)
{
	const char *base = "/sys/kernel/mm/hugepages";
	uint64_t free_b = 0, total_b = 0;
	struct dirent *de;
	DIR *d = opendir(base);

	if (d == NULL) {
		*ret_total = 0;
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long kb;
		unsigned long long nfree = 0, ntotal = 0;
		char path[512];
		FILE *f;

		if (sscanf(de->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", base, de->d_name);
		f = fopen(path, "re");
		if (f != NULL) {
			if (fscanf(f, "%llu", &nfree) != 1)
				nfree = 0;
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s/%s/nr_hugepages", base, de->d_name);
		f = fopen(path, "re");
		if (f != NULL) {
			if (fscanf(f, "%llu", &ntotal) != 1)
				ntotal = 0;
			fclose(f);
		}
		free_b += nfree * kb * 1024;
		total_b += ntotal * kb * 1024;
	}
	closedir(d);
	*ret_total = total_b;
	return free_b;
}

static void
check_hugepages(struct preflight *p)
{
	const char *dir = eal_opt(p->eal_argc, p->eal_argv, "--huge-dir", NULL, 0);
	const char *mem = eal_opt(p->eal_argc, p->eal_argv, "--socket-mem", "-m", 0);
	uint64_t total, freeb, want = 0;
	char mnt[512];

	if (eal_flag(p->eal_argc, p->eal_argv, "--no-huge"))
		return;
	if (!hugetlbfs_mounted(dir, mnt, sizeof(mnt))) {
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

/* The driver a PCI device is bound to ("" when none); false when there is
 * no such device. */
static bool
pci_driver(const char *addr, char *buf, size_t len)
{
	char path[256], link[PATH_MAX];
	ssize_t n;
	const char *slash;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", addr);
	if (access(path, F_OK) != 0)
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		buf[0] = '\0';
		return true;
	}
	link[n] = '\0';
	slash = strrchr(link, '/');
	slash = slash != NULL ? slash + 1 : link;
	if (strlen(slash) >= len)
		return false;
	memcpy(buf, slash, strlen(slash) + 1);
	return true;
}

static bool
iommu_present(void)
{
	DIR *d = opendir("/sys/kernel/iommu_groups");
	struct dirent *de;
	bool any = false;

	if (d == NULL)
		return false;
	while (!any && (de = readdir(d)) != NULL)
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

static bool
noiommu_mode(void)
{
	char c = 'N';
	FILE *f = fopen("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "re");

	if (f != NULL) {
		if (fscanf(f, " %c", &c) != 1)
			c = 'N';
		fclose(f);
	}
	return c == 'Y' || c == 'y' || c == '1';
}

static void
check_pci(struct preflight *p)
{
	static const char *const dpdk_drivers[] = { "vfio-pci", "uio_pci_generic", "igb_uio",
						    NULL };
	/* Drivers whose devices DPDK uses while the kernel keeps them. */
	static const char *const bifurcated[] = { "mlx4_core", "mlx5_core", NULL };
	bool vdev = eal_opt(p->eal_argc, p->eal_argv, "--vdev", NULL, 0) != NULL;

	if (eal_flag(p->eal_argc, p->eal_argv, "--no-pci")) {
		if (!vdev)
			preflight_err(p, "--no-pci and no --vdev: minibossd has no port to serve "
				      "from (add -a <pci address> or a --vdev)");
		return;
	}
	for (int i = 0;; i++) {
		const char *a = eal_opt(p->eal_argc, p->eal_argv, "--allow", "-a", i);
		char addr[32], drv[64];
		bool ok = false;

		if (a == NULL)
			break;
		snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(a, ","), a);
		if (strlen(addr) == 7) /* bus:dev.fn without the domain */
			snprintf(addr, sizeof(addr), "0000:%.*s", (int)strcspn(a, ","), a);
		if (!pci_driver(addr, drv, sizeof(drv))) {
			preflight_err(p, "-a %s: there is no PCI device %s (lspci -D lists them)", a,
				      addr);
			continue;
		}
		for (int j = 0; bifurcated[j] != NULL; j++)
			ok |= strcmp(drv, bifurcated[j]) == 0;
		if (ok)
			continue;
		for (int j = 0; dpdk_drivers[j] != NULL; j++)
			ok |= strcmp(drv, dpdk_drivers[j]) == 0;
		if (!ok) {
			preflight_err(p, "-a %s: the NIC is bound to %s%s%s; bind it to vfio-pci "
				      "first: minibossctl setup --bind %s", a, drv[0] ? "'" : "",
				      drv[0] ? drv : "no driver", drv[0] ? "'" : "", addr);
			continue;
		}
		if (strcmp(drv, "vfio-pci") == 0 && !iommu_present() && !noiommu_mode())
			preflight_err(p, "-a %s: vfio-pci without an IOMMU: enable it (intel_iommu=on "
				      "or amd_iommu=on on the kernel command line, and VT-d/AMD-Vi "
				      "in the firmware), or allow vfio's unsafe no-IOMMU mode "
				      "(minibossctl setup --check explains)", a);
	}
}

static void
check_state_dir(struct preflight *p)
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

/* ---- the control-socket lock ---------------------------------------------------------- */

/*
 * "<control-socket>.lock", held (flock) for the daemon's life and holding
 * its pid.  Taken before EAL: a second daemon with the same configuration
 * stops before it touches the port, the TAP or the running daemon's files.
 * The file is removed at exit; a taker checks after flock that the path
 * still names the file it locked (a daemon exiting at that moment may have
 * removed it), and retries otherwise.
 */
static int lock_fd = -1;
static char lock_path[4096 + 8];

static int
mkdir_parents(const char *path)
{
	char buf[4096 + 8];
	char *s;

	snprintf(buf, sizeof(buf), "%s", path);
	s = strrchr(buf, '/');
	if (s == NULL || s == buf)
		return 0;
	*s = '\0';
	for (char *q = buf + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	if (mkdir(buf, 0755) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
lock_take(const struct mb_config *cfg)
{
	char pid[32];
	int rc;

	snprintf(lock_path, sizeof(lock_path), "%s.lock", cfg->control_socket);
	rc = mkdir_parents(lock_path);
	if (rc != 0) {
		MB_LOG(ERR, MAIN, "[server] control-socket: cannot create the directory of '%s': %s",
		       cfg->control_socket, strerror(-rc));
		return rc;
	}
	for (int tries = 0; tries < 10; tries++) {
		struct stat a, b;
		int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

		if (fd == -1) {
			rc = -errno;
			MB_LOG(ERR, MAIN, "cannot open the lock file '%s': %s", lock_path,
			       strerror(errno));
			return rc;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			ssize_t n = errno == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) : -1;

			rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			if (rc == -EADDRINUSE)
				MB_LOG(ERR, MAIN, "another minibossd%s%s%s serves control socket '%s' "
				       "(lock '%s'): stop it first, or give this one its own "
				       "[server] control-socket, exception-tap and port; nothing was "
				       "touched", pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "",
				       cfg->control_socket, lock_path);
			else
				MB_LOG(ERR, MAIN, "cannot lock '%s': %s", lock_path, strerror(-rc));
			close(fd);
			return rc;
		}
		if (fstat(fd, &a) == 0 && stat(lock_path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

			if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)len, 0) != len)
				MB_LOG(WARNING, MAIN, "cannot write the pid into '%s', ignoring",
				       lock_path);
			lock_fd = fd;
			return 0;
		}
		close(fd); /* removed under us: take the new one */
	}
	MB_LOG(ERR, MAIN, "cannot take the lock '%s'", lock_path);
	return -EAGAIN;
}

static void
lock_release(void)
{
	if (lock_fd < 0)
		return;
	(void)unlink(lock_path);
	(void)close(lock_fd);
	lock_fd = -1;
}

/* ---- what we restore at exit ------------------------------------------------------------ */

/* The flags (IFF_PROMISC, IFF_ALLMULTI) of the interfaces virtual ports
 * take over, as they were before EAL: PMDs such as net_af_packet turn them
 * on and do not turn them off. */
static struct {
	char name[IFNAMSIZ];
	short flags;
} ifaces[MAX_IFACES];
static unsigned nifaces;

static void
ifaces_record(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return;
	for (int i = 0; nifaces < MAX_IFACES; i++) {
		const char *v = eal_opt(argc, argv, "--vdev", NULL, i);
		struct ifreq ifr = { 0 };

		if (v == NULL)
			break;
		if (strncmp(v, "net_tap", 7) == 0 || !vdev_iface(v, ifr.ifr_name, IFNAMSIZ))
			continue;
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
			continue;
		snprintf(ifaces[nifaces].name, IFNAMSIZ, "%s", ifr.ifr_name);
		ifaces[nifaces].flags = ifr.ifr_flags;
		nifaces++;
	}
	close(fd);
}

static void
ifaces_restore(void)
{
	const short mask = IFF_PROMISC | IFF_ALLMULTI;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return;
	for (unsigned i = 0; i < nifaces; i++) {
		struct ifreq ifr = { 0 };

		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifaces[i].name);
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1 ||
		    (ifr.ifr_flags & mask) == (ifaces[i].flags & mask))
			continue;
		ifr.ifr_flags = (short)((ifr.ifr_flags & ~mask) | (ifaces[i].flags & mask));
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
			MB_LOG(WARNING, MAIN, "cannot restore the flags of '%s': %s, ignoring",
			       ifaces[i].name, strerror(errno));
		else
			MB_LOG(INFO, MAIN, "restored promiscuous/allmulticast of '%s'",
			       ifaces[i].name);
	}
	close(fd);
}

/* EAL's runtime directory: where rte_eal_init puts it (22.11: /var/run
 * for root, else $XDG_RUNTIME_DIR or /tmp; then dpdk/<file-prefix>). */
static void
eal_runtime_dir(int argc, char **argv, char *buf, size_t len)
{
	const char *prefix = eal_opt(argc, argv, "--file-prefix", NULL, 0);
	const char *base = getuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");

	if (base == NULL)
		base = "/tmp";
	snprintf(buf, len, "%s/dpdk/%s", base, prefix != NULL ? prefix : "rte");
}

/* Remove the runtime directory's files (config, memory segment lists, the
 * multi-process and telemetry sockets) and the directory.  Only once EAL
 * is done with it, and only when it is ours: we were its primary, or it
 * did not exist before we started. */
static void
eal_runtime_dir_remove(const char *dir)
{
	struct dirent *de;
	DIR *d;

	if (dir[0] == '\0')
		return;
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	if (rmdir(dir) == -1 && errno != ENOENT)
		MB_LOG(WARNING, MAIN, "cannot remove EAL's runtime directory '%s': %s, ignoring",
		       dir, strerror(errno));
}

/* ---- main ------------------------------------------------------------------------------------ */

/* Read, check and report the configuration.  0, or 1 after printing the
 * errors. */
static int
config_load(struct mb_config *cfg, const char *path, bool check_only)
{
	struct mb_diags d;
	int rc;

	mb_diags_init(&d);
	rc = mb_config_defaults(cfg);
	if (rc != 0) {
		fprintf(stderr, "minibossd: out of memory\n");
		return 1;
	}
	rc = mb_config_parse_file(cfg, path, &d);
	if (rc == 0 || rc == -EINVAL)
		(void)mb_ctl_config_check_files(cfg, &d); /* values, then files */
	mb_diags_sort(&d);
	mb_diags_print(&d, stderr, "minibossd: ");
	if (check_only)
		fprintf(d.errors ? stderr : stdout,
		        "minibossd: configuration file %s test %s (%u error%s, %u warning%s)\n", path,
		        d.errors ? "failed" : "is successful", d.errors, d.errors == 1 ? "" : "s",
		        d.warnings, d.warnings == 1 ? "" : "s");
	rc = d.errors ? 1 : 0;
	mb_diags_done(&d);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"debug", no_argument, NULL, 'd'},
	    {"check", no_argument, NULL, 'n'},
	    {"example", no_argument, NULL, 'E'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = DEFAULT_CONFIG;
	char *eal_argv[MAX_EAL_ARGS + 2];
	char rundir[PATH_MAX] = "";
	struct mb_config cfg;
	struct preflight pf;
	struct stat st;
	char *eal_copy = NULL;
	bool check_only = false, debug = false, rundir_ours;
	int eal_argc = 0, app_start = 1, opt, rc, status = 0;
	FILE *logf;
	sigset_t set;

	mb_log_init();
	/* Everything before "--" is EAL's; without "--" all options are ours. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			app_start = i + 1;
			break;
		}
	}
	eal_argv[eal_argc++] = argv[0];
	for (int i = 1; i < app_start - 1; i++) {
		if (eal_argc > MAX_EAL_ARGS) {
			fprintf(stderr, "minibossd: more than %d EAL arguments\n", MAX_EAL_ARGS);
			return 2;
		}
		eal_argv[eal_argc++] = argv[i];
	}

	argv[app_start - 1] = argv[0];
	optind = 1;
	while ((opt = getopt_long(argc - app_start + 1, argv + app_start - 1, "c:dnhEVt",
	                          longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'n':
		case 't': /* nginx -t */
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'E':
			mb_config_print_example(stdout);
			return 0;
		case 'V':
#ifdef MB_FAULT_HOOKS
			printf("minibossd %s (test build: fault hooks)\n", MB_VERSION);
#else
			printf("minibossd %s\n", MB_VERSION);
#endif
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - app_start + 1) {
		fprintf(stderr, "minibossd: unexpected argument '%s' (EAL options go before "
		                "\"--\")\n", argv[app_start - 1 + optind]);
		usage(stderr);
		return 2;
	}

	if (debug)
		mb_log_set_level(MB_LOG_DEBUG);
	rc = config_load(&cfg, config_path, check_only);
	if (rc != 0 || check_only) {
		mb_config_done(&cfg);
		return rc;
	}
	if (!debug) {
		int lvl = mb_log_level_parse(cfg.log_level);

		if (lvl > 0)
			mb_log_set_level((enum mb_log_level)lvl);
	}

	if (eal_argc == 1 && cfg.eal_args[0] != '\0') {
		eal_copy = strdup(cfg.eal_args);
		if (eal_copy == NULL)
			return 1;
		rc = split_args(eal_copy, eal_argv + 1, MAX_EAL_ARGS);
		if (rc < 0) {
			MB_LOG(ERR, MAIN, "[server] eal-args: more than %d arguments", MAX_EAL_ARGS);
			return 1;
		}
		eal_argc += rc;
	}
	eal_argv[eal_argc] = NULL;
	raise_nofile(&cfg);

	/* Checks with no side effect first, then the lock, then the rest. */
	pf = (struct preflight){ .eal_argc = eal_argc, .eal_argv = eal_argv, .cfg = &cfg };
	check_privileges(&pf);
	if (pf.errors > 0) {
		status = 1;
		goto out_cfg;
	}
	if (lock_take(&cfg) != 0) {
		status = 1;
		goto out_cfg;
	}
	check_interfaces(&pf);
	check_hugepages(&pf);
	check_pci(&pf);
	check_state_dir(&pf);
	if (pf.errors > 0) {
		MB_LOG(ERR, MAIN, "not started: %u problem%s above", pf.errors,
		       pf.errors == 1 ? "" : "s");
		status = 1;
		goto out_lock;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		MB_LOG(ERR, MAIN, "cannot block signals");
		status = 1;
		goto out_lock;
	}

	eal_runtime_dir(eal_argc, eal_argv, rundir, sizeof(rundir));
	rundir_ours = stat(rundir, &st) == -1;
	ifaces_record(eal_argc, eal_argv);
	logf = log_stream_open();
	if (logf != NULL)
		(void)rte_openlog_stream(logf);
	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0) {
		int e = rte_errno;

		MB_LOG(ERR, MAIN, "EAL initialisation failed: %s%s", rte_strerror(e),
		       e == EALREADY ? "" : " (the EAL lines above say more)");
		if (rundir_ours)
			eal_runtime_dir_remove(rundir);
		ifaces_restore();
		status = 1;
		goto out_lock;
	}
	if (rte_eal_get_runtime_dir() != NULL)
		snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	mb_log_set_sink(rte_sink);
	(void)rte_log_set_level_pattern("user.miniboss.*", (uint32_t)mb_log_get_level());
	mb_ctl_keep_debug(debug);

	rc = mb_dp_init(&cfg);
	if (rc != 0) {
		MB_LOG(CRIT, MAIN, "dataplane initialisation failed: %s", strerror(-rc));
		status = 1;
		goto out_eal;
	}
	rc = mb_ctl_start(&cfg, config_path);
	if (rc != 0) {
		MB_LOG(CRIT, MAIN, "control thread failed to start: %s", strerror(-rc));
		status = 1;
		goto out_dp;
	}
	rc = rte_eal_mp_remote_launch(mb_dp_lcore_main, NULL, SKIP_MAIN);
	if (rc != 0) {
		MB_LOG(CRIT, MAIN, "cannot launch the dataplane lcores: %s", strerror(-rc));
		mb_dp_stop();
		status = 1;
		goto out_ctl;
	}
	MB_LOG(INFO, MAIN, "dataplane running, verifying the store");
	mb_ctl_dataplane_running();
	rc = mb_dp_lcore_main(NULL);
	if (rc != 0 || !mb_ctl_quit_requested()) {
		MB_LOG(ERR, MAIN, "dataplane loop ended unexpectedly (%d), shutting down", rc);
		mb_dp_stop();
		status = 1;
	}
out_ctl:
	rte_eal_mp_wait_lcore();
	mb_ctl_stop();
out_dp:
	mb_dp_fini();
out_eal:
	MB_LOG(NOTICE, MAIN, "stopped");
	mb_log_set_sink(NULL);
	(void)rte_eal_cleanup();
	eal_runtime_dir_remove(rundir);
	ifaces_restore();
out_lock:
	lock_release();
out_cfg:
	mb_config_done(&cfg);
	free(eal_copy);
	return status;
}
