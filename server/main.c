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
 *
 * This file holds the options and the order of start and stop; the checks
 * are in srv_preflight.c, what is taken from the host and given back (the
 * descriptor limit, the lock, interface flags, EAL's runtime directory) in
 * srv_host.c, the log after EAL in srv_log.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "mb_priv.h"
#include "srv.h"

#define DEFAULT_CONFIG "/etc/miniboss/miniboss.conf"
#define MAX_EAL_ARGS 64

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
	struct mb_srv_preflight pf;
	struct stat st;
	const char *keep_why[64] = { 0 };
	uint64_t keep_caps = 0;
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
	mb_srv_raise_nofile(&cfg);

	/* Checks with no side effect first, then the lock, then the rest. */
	pf = (struct mb_srv_preflight){ .eal_argc = eal_argc, .eal_argv = eal_argv, .cfg = &cfg };
	mb_srv_preflight_privileges(&pf);
	if (pf.errors > 0) {
		status = 1;
		goto out_cfg;
	}
	if (mb_srv_lock_take(&cfg) != 0) {
		status = 1;
		goto out_cfg;
	}
	mb_srv_preflight_host(&pf);
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

	if (cfg.drop_privileges) {
		keep_caps = mb_srv_runtime_caps(&pf, keep_why);
		/* liburcu's call_rcu thread is born with the final set. */
		rc = mb_priv_prepare(keep_caps);
		if (rc != 0) {
			MB_LOG(ERR, MAIN, "cannot prepare dropping capabilities: %s (set "
			       "[server] drop-privileges = no to run with all of them)",
			       strerror(-rc));
			status = 1;
			goto out_lock;
		}
	}

	mb_srv_eal_runtime_dir(eal_argc, eal_argv, rundir, sizeof(rundir));
	rundir_ours = stat(rundir, &st) == -1;
	mb_srv_ifaces_record(eal_argc, eal_argv);
	logf = mb_srv_log_stream_open();
	if (logf != NULL)
		(void)rte_openlog_stream(logf);
	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0) {
		int e = rte_errno;

		MB_LOG(ERR, MAIN, "EAL initialisation failed: %s%s", rte_strerror(e),
		       e == EALREADY ? "" : " (the EAL lines above say more)");
		if (rundir_ours)
			mb_srv_eal_runtime_dir_remove(rundir);
		mb_srv_ifaces_restore();
		status = 1;
		goto out_lock;
	}
	if (rte_eal_get_runtime_dir() != NULL)
		snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	mb_log_set_sink(mb_srv_log_sink);
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
	if (cfg.drop_privileges) {
		char names[256];

		rc = mb_priv_drop(keep_caps);
		if (rc != 0) {
			MB_LOG(CRIT, MAIN, "cannot drop capabilities in every thread: %s (set "
			       "[server] drop-privileges = no to run with all of them)",
			       strerror(-rc));
			mb_dp_stop();
			status = 1;
			goto out_ctl;
		}
		mb_priv_names(keep_caps, names, sizeof(names));
		MB_LOG(NOTICE, MAIN, "capabilities dropped in every thread; kept: %s", names);
		for (int c = 0; c < 64; c++)
			if (keep_why[c] != NULL)
				MB_LOG(INFO, MAIN, "kept capability %d for %s", c, keep_why[c]);
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
	mb_srv_eal_runtime_dir_remove(rundir);
	mb_srv_ifaces_restore();
out_lock:
	mb_srv_lock_release();
out_cfg:
	mb_config_done(&cfg);
	free(eal_copy);
	return status;
}
