/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What minibossd takes from the host and gives back: the open-descriptor
 * limit it raises at start; the control-socket lock that keeps a second
 * daemon with the same configuration away from the port, the TAP and this
 * daemon's files; the promiscuous and allmulticast flags of the interfaces
 * its virtual ports take over, restored at exit; and EAL's runtime
 * directory (/var/run/dpdk/<prefix>), removed at exit when it is ours.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_config.h"
#include "mb_file.h"
#include "mb_log.h"
#include "srv.h"

#define MAX_IFACES 8

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
void
mb_srv_raise_nofile(const struct mb_config *cfg)
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

int
mb_srv_lock_take(const struct mb_config *cfg)
{
	char pid[32];
	int rc;

	snprintf(lock_path, sizeof(lock_path), "%s.lock", cfg->control_socket);
	rc = mb_file_mkdir_parents(lock_path);
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

void
mb_srv_lock_release(void)
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

void
mb_srv_ifaces_record(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return;
	for (int i = 0; nifaces < MAX_IFACES; i++) {
		const char *v = mb_srv_eal_opt(argc, argv, "--vdev", NULL, i);
		struct ifreq ifr = { 0 };

		if (v == NULL)
			break;
		if (strncmp(v, "net_tap", 7) == 0 || !mb_srv_vdev_iface(v, ifr.ifr_name, IFNAMSIZ))
			continue;
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
			continue;
		snprintf(ifaces[nifaces].name, IFNAMSIZ, "%s", ifr.ifr_name);
		ifaces[nifaces].flags = ifr.ifr_flags;
		nifaces++;
	}
	close(fd);
}

void
mb_srv_ifaces_restore(void)
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
void
mb_srv_eal_runtime_dir(int argc, char **argv, char *buf, size_t len)
{
	const char *prefix = mb_srv_eal_opt(argc, argv, "--file-prefix", NULL, 0);
	const char *base = getuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");

	if (base == NULL)
		base = "/tmp";
	snprintf(buf, len, "%s/dpdk/%s", base, prefix != NULL ? prefix : "rte");
}

/* Remove the runtime directory's files (config, memory segment lists, the
 * multi-process and telemetry sockets) and the directory.  Only once EAL
 * is done with it, and only when it is ours: we were its primary, or it
 * did not exist before we started. */
void
mb_srv_eal_runtime_dir_remove(const char *dir)
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
