/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_serve: run the dataplane alone and serve one file in one Frisbee
 * session, for manual checks and benchmarks against the stock client.
 *
 *   dp_serve <EAL args> -- ADDR/LEN FILE DEST PORT [RATE_BPS [ZC [SECONDS]]]
 *
 * DEST picks the mode: a class-D group (multicast), 255.255.255.255 or the
 * subnet broadcast (broadcast), else a client address (unicast).  The
 * session ends on the idle timeout (5 s) or after SECONDS; the program then
 * prints the session and port counters (name value, one a line) and exits 0.  With
 * DP_SERVE_TAP=<ifname> the exception path to the kernel is on; with
 * DP_SERVE_DYNAMIC=1 the session uses the dynamic rate; with DP_SERVE_PUSH=N
 * it sends every chunk N times without waiting for requests (benchmarks, with
 * receivers that only drop).  It also prints the lcore's CPU time per BLOCK
 * while BLOCKs were flowing (`lcore.ns_per_block`: the engine's per-frame
 * cost; on net_null, whose TX frees frames at once, that is the whole cost
 * of building and handing over a BLOCK).
 *
 * Several workers (dpdk.workers): DP_SERVE_WORKERS=N runs the dataplane on
 * N lcores (EAL needs that many: --lcores), and DP_SERVE_SESSIONS=M (default
 * N) starts M sessions on ports PORT..PORT+M-1, which the dataplane spreads
 * over the workers, each from its own copy of FILE (with DP_SERVE_SHARED=1
 * all from one: every attached BLOCK then takes and drops a reference on
 * the same image from every worker).  The session.* lines are then the sums over the
 * sessions; `lcore.ns_per_block` is the CPU time of every worker over every
 * BLOCK, `rate.blocks_per_sec` the BLOCKs of all sessions per second of
 * wall time while they were flowing, and worker.<i>.* each worker's
 * sessions and BLOCKs.
 *
 * Benchmarks of the engine's cost (bench's cost, sessions, imagesize): the
 * sessions start once the port's link is up (30 s at most: net_memif's link
 * is up when its peer has connected); `lcore.cpu_share` is the workers' CPU
 * time over the wall time BLOCKs flowed in; DP_SERVE_GROUPS=1 sends session
 * j to the group DEST + j (multicast DEST) instead of port PORT + j; the
 * images lie in the heap (copied into frames, as the daemon's mmap images),
 * with DP_SERVE_MEM=dpdk in DPDK memory (rte_malloc, as the daemon's
 * hugepage images: attached where the port chains mbufs), with
 * DP_SERVE_MEM=mmap in a shared mapping of FILE (page cache, copied;
 * DP_SERVE_COLD=1 drops the file's pages from the page cache first,
 * DP_SERVE_MADV=sequential|willneed|random advises the mapping (random: no
 * read-around on a fault, as a disk without read-ahead);
 * DP_SERVE_READAHEAD=BYTES publishes the images in the image table and
 * runs the daemon's read-ahead thread, common/mb_readahead.c, with that
 * window, and prints its figures, `ra.*`).  After the
 * counters it prints the memory per session (`mem.*`): the preallocated
 * slot, what starting a session allocated (DPDK heap and malloc), and the
 * growth of the process's RSS from before the starts to its peak while the
 * sessions ran (images excluded: loaded before).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp.h"
#include "dp_priv.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_readahead.h"
#include "mb_time.h"
#include "rte_image.h"

#define SESS_MAX 64

static uint32_t sess_id[SESS_MAX];
static unsigned nsess = 1, nworkers = 1;
static uint64_t max_secs = 600;
static bool ra_on; /* DP_SERVE_READAHEAD */
static struct mb_dp_sess_info last_session[SESS_MAX]; /* the latest snapshots */
static uint64_t sess_ctr_sum[MB_DP_S_MAX];	      /* summed over them */
/* CPU clocks of the threads running lcores, by EAL lcore id */
static clockid_t lcore_clock[RTE_MAX_LCORE];
static _Atomic bool lcore_clock_ok[RTE_MAX_LCORE];
/* (workers' CPU ns, blocks, wall ns) when BLOCKs were first seen, and at
 * the last sample that saw more of them */
static uint64_t cost_cpu0, cost_blk0, cost_t0, cost_cpu1, cost_blk1, cost_t1;

static uint64_t
lcores_cpu_ns(void)
{
	uint64_t sum = 0;

	for (unsigned l = 0; l < RTE_MAX_LCORE; l++) {
		struct timespec ts;

		if (atomic_load(&lcore_clock_ok[l]) && clock_gettime(lcore_clock[l], &ts) == 0)
			sum += (uint64_t)ts.tv_sec * MB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
	}
	return sum;
}

/* Sample the lcores' CPU time against the blocks sent. */
static void
cost_sample(void)
{
	uint64_t b = sess_ctr_sum[MB_DP_S_blocks], c = lcores_cpu_ns(), t = mb_time_mono_ns();

	if (b == 0)
		return;
	if (cost_blk0 == 0) {
		cost_cpu0 = c;
		cost_blk0 = b;
		cost_t0 = t;
	} else if (b > cost_blk1) {
		cost_cpu1 = c;
		cost_blk1 = b;
		cost_t1 = t;
	}
}

/* Snapshot every session (a session that ended keeps its last snapshot). */
static void
sessions_sample(void)
{
	static struct mb_dp_sess_info buf[SESS_MAX];
	unsigned n = mb_dp_sessions_read(buf, SESS_MAX);

	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < nsess; j++)
			if (buf[i].id == sess_id[j])
				last_session[j] = buf[i];
	memset(sess_ctr_sum, 0, sizeof(sess_ctr_sum));
	for (unsigned j = 0; j < nsess; j++)
		for (unsigned k = 0; k < MB_DP_S_MAX; k++)
			sess_ctr_sum[k] += last_session[j].ctr[k];
}

/* The process's memory: DPDK heap in use, malloc in use, resident set. */
struct serve_mem {
	uint64_t rte, heap, rss;
};

static uint64_t rss_max; /* the largest resident set the watcher saw */

static uint64_t
rss_sample(void)
{
	unsigned long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	uint64_t rss = 0;

	if (f != NULL) {
		if (fscanf(f, "%lu %lu", &pages, &res) == 2)
			rss = (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	rss_max = RTE_MAX(rss_max, rss);
	return rss;
}

static void
mem_sample(struct serve_mem *m)
{
	struct rte_malloc_socket_stats st;
	struct mallinfo2 mi = mallinfo2();

	memset(m, 0, sizeof(*m));
	for (int sock = 0; sock < RTE_MAX_NUMA_NODES; sock++)
		if (rte_malloc_get_socket_stats(sock, &st) == 0)
			m->rte += st.heap_allocsz_bytes;
	m->heap = mi.uordblks + mi.hblkhd;
	m->rss = rss_sample();
}

/* An lcore's loop, its thread's CPU clock noted first. */
static int
lcore_run(void *arg)
{
	unsigned l = rte_lcore_id();

	(void)arg;
	if (l < RTE_MAX_LCORE && pthread_getcpuclockid(pthread_self(), &lcore_clock[l]) == 0)
		atomic_store(&lcore_clock_ok[l], true);
	return mb_dp_lcore_main(NULL);
}

static void *
watch(void *arg)
{
	uint64_t end = mb_time_mono_ns() + max_secs * MB_NS_PER_SEC;
	struct pollfd pfd = { .fd = mb_dp_event_fd(), .events = POLLIN };
	struct mb_dp_event ev[8];
	bool stopping = false;
	unsigned ended = 0;

	(void)arg;
	for (;;) {
		unsigned i, n;

		(void)poll(&pfd, 1, 20); /* samples 20 ms apart: a short push is timed too */
		if (!stopping && mb_time_mono_ns() > end) {
			for (unsigned j = 0; j < nsess; j++)
				(void)mb_dp_fris_session_stop(sess_id[j]);
			stopping = true;
		}
		sessions_sample();
		cost_sample();
		if (ended == 0)
			(void)rss_sample();
		n = mb_dp_events_poll(ev, 8);
		for (i = 0; i < n; i++)
			if (ev[i].type == MB_DP_EV_SESSION_END)
				ended++;
		if (ended >= nsess) {
			mb_dp_stop();
			return NULL;
		}
	}
}

static void *
read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;
	size_t len;

	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 ||
	    (buf = malloc((size_t)st.st_size)) == NULL) {
		fclose(f);
		return NULL;
	}
	len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	*ret_len = len;
	return buf;
}

static void
mmap_release(struct mb_image *img)
{
	munmap(img->sb.data, img->sb.len);
	free(img->blk_sum);
	free(img);
}

/* An image over a shared read-only mapping of the file, as the daemon's
 * mmap images: the bytes come from the page cache, read in by page faults
 * on the lcore when they are not there; padded with zeroes (anonymous
 * pages) to a whole chunk.  DP_SERVE_COLD=1: the file's pages are dropped
 * from the page cache first (POSIX_FADV_DONTNEED: this file's only, and
 * only its clean pages). */
static struct mb_image *
mmap_image(const char *name, const char *path)
{
	struct mb_image *img = calloc(1, sizeof(*img));
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint64_t alloc;
	uint8_t *data;

	if (img == NULL || fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0)
		goto fail;
	if (getenv("DP_SERVE_COLD") != NULL && atoi(getenv("DP_SERVE_COLD")) != 0)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	alloc = RTE_ALIGN_CEIL((uint64_t)st.st_size, MB_IMAGE_ALIGN);
	data = mmap(NULL, alloc, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (data == MAP_FAILED)
		goto fail;
	if (mmap(data, RTE_ALIGN_CEIL((uint64_t)st.st_size, (uint64_t)sysconf(_SC_PAGESIZE)),
		 PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		munmap(data, alloc);
		goto fail;
	}
	close(fd);
	/* DP_SERVE_MADV: the kernel's read-ahead hint for the mapping */
	if (getenv("DP_SERVE_MADV") != NULL)
		(void)madvise(data, (size_t)st.st_size,
			      strcmp(getenv("DP_SERVE_MADV"), "willneed") == 0 ? MADV_WILLNEED :
			      strcmp(getenv("DP_SERVE_MADV"), "random") == 0	 ? MADV_RANDOM :
										   MADV_SEQUENTIAL);
	snprintf(img->name, sizeof(img->name), "%s", name);
	img->size = (uint64_t)st.st_size;
	img->blk_sum = mb_image_sum_table(img->size);
	img->mem = MB_IMAGE_MEM_MMAP;
	img->release = mmap_release;
	mb_image_init_buf(img, data, alloc, MB_SBUF_IOVA_NONE);
	return img;
fail:
	if (fd >= 0)
		close(fd);
	free(img);
	return NULL;
}

/* The read-ahead thread where the daemon runs it: on the CPUs EAL leaves to
 * control threads (minibossd starts it from its control thread), not on the
 * lcore's, which the main thread's affinity is (it would inherit that): a
 * control thread starts it. */
static uint64_t ra_window;
static int ra_rc;

static void *
ra_starter(void *arg)
{
	(void)arg;
	ra_rc = mb_ra_start(ra_window);
	return NULL;
}

static int
ra_start(uint64_t window)
{
	pthread_t t;

	ra_window = window;
	if (rte_ctrl_thread_create(&t, "dp-serve-ra", NULL, ra_starter, NULL) != 0)
		return mb_ra_start(window);
	pthread_join(t, NULL);
	return ra_rc;
}

/* A session's image, held as DP_SERVE_MEM says (file comment). */
static struct mb_image *
image_new(const char *mem, const char *path, const void *bytes, size_t len)
{
	if (strcmp(mem, "dpdk") == 0)
		return mbt_rte_image("dp_serve", bytes, len);
	if (strcmp(mem, "mmap") == 0)
		return mmap_image("dp_serve", path);
	return mb_image_new_heap("dp_serve", bytes, len);
}

int
main(int argc, char **argv)
{
	struct mb_fris_session_params p = { 0 };
	struct mb_config cfg;
	struct mb_image *img;
	static struct mb_image *imgs[SESS_MAX];
	struct serve_mem m0, m1;
	const char *mem;
	pthread_t th;
	uint32_t dest, h;
	size_t len = 0;
	void *bytes;
	int n, rc;

	n = rte_eal_init(argc, argv);
	if (n < 0)
		return 1;
	argc -= n;
	argv += n;
	if (argc < 5) {
		fprintf(stderr,
			"usage: dp_serve EAL -- ADDR/LEN FILE DEST PORT [RATE [ZC [SECS]]]\n");
		return 2;
	}
	if (mb_config_defaults(&cfg) != 0 ||
	    mb_parse_ipv4_prefix(argv[1], &cfg.address, &cfg.prefixlen) != 0 ||
	    mb_parse_ipv4(argv[3], &dest) != 0) {
		fprintf(stderr, "dp_serve: bad address\n");
		return 2;
	}
	cfg.fris_idle_timeout = 5;
	if (getenv("DP_SERVE_WORKERS") != NULL)
		nworkers = (unsigned)strtoul(getenv("DP_SERVE_WORKERS"), NULL, 0);
	nsess = nworkers;
	if (getenv("DP_SERVE_SESSIONS") != NULL)
		nsess = (unsigned)strtoul(getenv("DP_SERVE_SESSIONS"), NULL, 0);
	if (nworkers == 0 || nsess == 0 || nsess > SESS_MAX) {
		fprintf(stderr, "dp_serve: DP_SERVE_WORKERS >= 1, 1 <= DP_SERVE_SESSIONS <= %u\n",
			SESS_MAX);
		return 2;
	}
	cfg.workers = nworkers;
	cfg.max_sessions = RTE_MAX(cfg.max_sessions, (uint64_t)nsess);
	cfg.tcp_enable = false;
	free(cfg.exception_tap);
	/* DP_SERVE_TAP=ifname: exception path to a kernel TAP with our address. */
	cfg.exception_tap = strdup(getenv("DP_SERVE_TAP") ? getenv("DP_SERVE_TAP") : "");
	cfg.dynamic_rate = getenv("DP_SERVE_DYNAMIC") != NULL; /* frisbee.dynamic-rate */
	if (argc > 5)
		cfg.fris_rate = strtoull(argv[5], NULL, 0);
	if (argc > 6)
		cfg.tx_zero_copy = atoi(argv[6]) != 0;
	if (argc > 7)
		max_secs = strtoull(argv[7], NULL, 0);
	mem = getenv("DP_SERVE_MEM") != NULL ? getenv("DP_SERVE_MEM") : "heap";
	if (strcmp(mem, "mmap") == 0) {
		bytes = NULL; /* mapped per image */
	} else if ((bytes = read_file(argv[2], &len)) == NULL || len == 0) {
		fprintf(stderr, "dp_serve: cannot read %s\n", argv[2]);
		return 1;
	}
	rc = mb_dp_init(&cfg);
	if (rc != 0)
		return 1;
	img = image_new(mem, argv[2], bytes, len);
	if (img == NULL) {
		fprintf(stderr, "dp_serve: no memory for the image\n");
		return 1;
	}
	h = ntohl(dest);
	p.addr = dest;
	p.port = (uint16_t)atoi(argv[4]);
	p.method = (h >> 28) == 14 ? MB_FRIS_MULTICAST :
		   (h == 0xffffffff || (dest | htonl(~(~0u << (32 - cfg.prefixlen)))) == dest) ?
		   MB_FRIS_BROADCAST : MB_FRIS_UNICAST;
	p.img = img;
	if (getenv("DP_SERVE_PUSH") != NULL) /* send the file N times, unrequested */
		p.push_passes = (uint32_t)strtoul(getenv("DP_SERVE_PUSH"), NULL, 0);
	if (getenv("DP_SERVE_GROUPS") != NULL && p.method != MB_FRIS_MULTICAST) {
		fprintf(stderr, "dp_serve: DP_SERVE_GROUPS needs a multicast DEST\n");
		return 2;
	}
	/* a peer that is not there yet (memif: the client has not connected)
	 * would only see the frames sent once it is: wait for the link */
	for (unsigned k = 0; k < 300; k++) {
		struct rte_eth_link link;

		if (rte_eth_link_get_nowait((uint16_t)cfg.port_id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP)
			break;
		usleep(100 * 1000);
	}
	/* the images first, so the memory a session's start allocates is
	 * measured without them */
	for (unsigned j = 0; j < nsess; j++) {
		imgs[j] = j == 0 || getenv("DP_SERVE_SHARED") != NULL ?
				  mb_image_ref(img) : image_new(mem, argv[2], bytes, len);
		if (imgs[j] == NULL)
			return 1;
	}
	mem_sample(&m0);
	for (unsigned j = 0; j < nsess; j++) {
		p.img = imgs[j];
		if (getenv("DP_SERVE_GROUPS") != NULL)
			p.addr = htonl(h + j); /* a group each */
		else
			p.port = (uint16_t)(atoi(argv[4]) + (int)j);
		rc = mb_dp_fris_session_start(&p, &sess_id[j]);
		if (rc != 0) {
			fprintf(stderr, "dp_serve: session: %s\n", strerror(-rc));
			return 1;
		}
	}
	mem_sample(&m1);
	if (getenv("DP_SERVE_READAHEAD") != NULL) {
		/* as the daemon's store: the images in the table, the thread on */
		struct mb_image_table *tbl = mb_image_table_alloc(nsess);

		if (tbl == NULL)
			return 1;
		for (unsigned j = 0; j < nsess; j++)
			if (j == 0 || imgs[j] != imgs[0])
				tbl->img[tbl->count++] = mb_image_ref(imgs[j]);
		mb_image_table_publish(tbl);
		ra_on = true;
		if (ra_start(strtoull(getenv("DP_SERVE_READAHEAD"), NULL, 0)) != 0)
			return 1;
	}
	mb_image_unref(img); /* each session holds its own */
	free(bytes);
	pthread_create(&th, NULL, watch, NULL);
	rc = rte_eal_mp_remote_launch(lcore_run, NULL, SKIP_MAIN);
	if (rc == 0)
		rc = lcore_run(NULL);
	rte_eal_mp_wait_lcore();
	pthread_join(th, NULL);
	for (unsigned k = 0; k < MB_DP_S_MAX; k++)
		printf("session.%s %llu\n", mb_dp_sctr_desc[k].name,
		       (unsigned long long)sess_ctr_sum[k]);
	printf("workers %u\nsessions %u\n", nworkers, nsess);
	if (cost_blk1 > cost_blk0) {
		printf("lcore.ns_per_block %.1f\n",
		       (double)(cost_cpu1 - cost_cpu0) / (double)(cost_blk1 - cost_blk0));
		printf("rate.blocks_per_sec %.0f\n",
		       (double)(cost_blk1 - cost_blk0) * 1e9 / (double)(cost_t1 - cost_t0));
		printf("lcore.cpu_share %.3f\n",
		       (double)(cost_cpu1 - cost_cpu0) / (double)(cost_t1 - cost_t0));
	}
	if (ra_on) {
		struct mb_ra_stats ra;

		mb_ra_stats_read(&ra);
		mb_ra_stop();
		printf("ra.window %llu\nra.pages_read %llu\nra.pages_cached %llu\nra.bytes %llu\n"
		       "ra.streams_started %llu\nra.errors %llu\n",
		       (unsigned long long)ra.window, (unsigned long long)ra.pages_read,
		       (unsigned long long)ra.pages_cached, (unsigned long long)ra.bytes,
		       (unsigned long long)ra.streams_started, (unsigned long long)ra.errors);
	}
	printf("mem.slot_bytes %zu\n", sizeof(struct mb_dp_sess));
	printf("mem.start_alloc_per_session %.0f\n",
	       (double)((m1.rte - m0.rte) + (m1.heap - m0.heap)) / nsess);
	printf("mem.rss_growth_per_session %.0f\n", ((double)rss_max - (double)m0.rss) / nsess);
	{
		static struct mb_dp_stats st;

		if (mb_dp_stats_read(&st) == 0) {
			for (unsigned k = 0; k < MB_DP_C_MAX; k++)
				printf("port.%s %llu\n", mb_dp_ctr_desc[k].name,
				       (unsigned long long)st.ctr[k]);
			for (unsigned w = 0; w < st.workers; w++)
				printf("worker.%u.lcore %d\nworker.%u.tx_pkts %llu\n", w,
				       st.worker[w].lcore, w,
				       (unsigned long long)st.worker[w].ctr[MB_DP_C_tx_pkts]);
		}
	}
	mb_dp_fini();
	rte_eal_cleanup();
	return rc == 0 ? 0 : 1;
}
