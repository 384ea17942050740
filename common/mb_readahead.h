/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Read-ahead for images served from a file mapping (the store's mmap
 * images, doc/image-store.md "Cold images").  Such an image's bytes come
 * from the page cache; a page that is not there is read from the disk by a
 * major fault in the thread that touches it, which is a dataplane lcore:
 * every session and connection of that lcore then waits for the disk, 4 KiB
 * (or the kernel's fault read-around) at a time.  This module's thread reads
 * ahead of the lcores instead, so the pages they touch are already in the
 * page cache and mapped.
 *
 * Where to read: the dataplane leaves a hint in the image (mb_image.ra_hint:
 * where an lcore last started reading, one relaxed store per Frisbee run or
 * TCP segment); the thread swaps it to 0 every pass (10 ms while idle), so
 * an image whose hint was set, or that has active users, is being read.  It
 * follows up to MB_RA_IMAGES such images (a reference each) and up to
 * MB_RA_STREAMS read positions in each (several sessions or connections at
 * different places: a hint near a followed position advances it, another
 * one starts a stream of its own, replacing the stalest; a reader that ran
 * past what was read is followed from a step ahead of it, leaving the pages
 * under it to its own faults; one whose next pages are out of the page
 * cache again, reclaimed, restarts its stream there).  Ahead of every
 * stream it keeps `window` bytes read (images.readahead); an image that
 * fits in half the memory the kernel reports available (less what other
 * whole images followed already take) is read whole, from the first
 * position on, wrapping at its end.
 *
 * How: MB_RA_STEP bytes at a time; up to MB_RA_DEPTH + 1 steps past the
 * stream's position are advised (MADV_WILLNEED: the kernel queues large
 * reads, asynchronously), each counted first with mincore() (pages out of
 * the page cache: pages_read; in it: pages_cached), and the current step is
 * populated (MADV_POPULATE_READ: waits for its reads and maps the pages
 * into the process's page tables, so the lcore takes neither a major nor a
 * minor fault on them).  At most MB_RA_DEPTH + 1 steps are in flight per
 * stream, one stream is worked at a time.  A page that
 * cannot be read (I/O error, file truncated) fails the populate with
 * EFAULT instead of a SIGBUS: the stream stops and `errors` counts it; the
 * lcore that reads the page meets the mapping guard (mb_mapguard.h).
 *
 * Pages read ahead are ordinary page cache: the kernel may reclaim them
 * under pressure (the lcore then faults them in again, as without this
 * module).  Memory: a window per stream, or the whole image; I/O: one
 * thread, MB_RA_DEPTH + 1 steps of one stream in flight.
 *
 * The thread is a liburcu-qsbr reader of the image table (offline while
 * it reads or sleeps).  DPDK-free; never logs (the owner reports errors
 * from the stats).
 */
#ifndef _MB_READAHEAD_H_
#define _MB_READAHEAD_H_

#include <stdint.h>

#define MB_RA_STEP (4u << 20)
#define MB_RA_DEPTH 4u
#define MB_RA_IMAGES 32u
#define MB_RA_STREAMS 4u

struct mb_ra_stats {
	uint64_t window;       /* bytes kept read ahead of each stream, 0 = off */
	uint64_t pages_read;   /* pages it found out of the page cache and advised */
	uint64_t pages_cached; /* pages it found in the page cache already */
	uint64_t bytes;	       /* bytes populated (read and mapped) */
	uint64_t streams_started;
	uint64_t errors;       /* populates that failed (unreadable page, truncated file) */
	uint32_t images;       /* images followed now */
	uint32_t streams;      /* read positions followed now */
	uint32_t whole;	       /* of the images, those read whole */
};

/* Start the thread with `window` bytes (0: it follows nothing until
 * mb_ra_set_window).  0, -EALREADY, or -errno from pthread_create. */
int mb_ra_start(uint64_t window);
/* Change the window (a reload); 0 stops following images (their
 * references are dropped on the next pass).  Any thread. */
void mb_ra_set_window(uint64_t window);
/* What the images read whole may take together (their sizes), for images
 * the thread starts following from now on; MB_RA_WHOLE_AUTO (the default):
 * half the memory the kernel reports available at that moment; 0: none
 * (only windows; tests).  An image no larger than the window is always read
 * whole.  Any thread. */
#define MB_RA_WHOLE_AUTO UINT64_MAX
void mb_ra_set_whole(uint64_t max);
/* Stop the thread and drop every reference it holds.  Waits for the step
 * in progress (one MB_RA_STEP read at most).  Safe when not started. */
void mb_ra_stop(void);
/* The figures so far (zeroes before the first start).  Any thread. */
void mb_ra_stats_read(struct mb_ra_stats *ret);

#endif /* _MB_READAHEAD_H_ */
