/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Surviving I/O errors under file mappings.  An image served from an mmap of
 * its file reads the page cache, and when the file is truncated, or the disk
 * fails to read a page, the thread touching the page gets SIGBUS; for a
 * dataplane lcore (or a NIC driver copying a frame) that would kill the
 * daemon.  Regions registered here are guarded: a process-wide SIGBUS
 * handler recognises a fault inside one, replaces the pages from the
 * faulting one to the end of the region with zero pages (an anonymous
 * MAP_FIXED mapping), marks the region faulted, wakes an eventfd, and
 * returns, so the faulting read resumes and reads zeroes.  The owner (the
 * image store, on the control thread) then withdraws the image; nothing
 * serves the zeroes as good data for longer than that takes.
 *
 * A SIGBUS outside every guarded region is not ours: the handler puts the
 * previous disposition back (or calls the previous handler) and the fault
 * repeats there, as before.  The handler only reads atomics, calls mmap and
 * write (system calls, safe in a signal handler on Linux) and never
 * allocates.
 *
 * Known gap: DPDK's memory allocator installs its own SIGBUS handler for
 * the instant it maps a new hugepage segment at run time (and restores
 * ours after); a fault in a guarded region in exactly that instant is not
 * seen here.
 *
 * DPDK-free; never logs.
 */
#ifndef _MB_MAPGUARD_H_
#define _MB_MAPGUARD_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Regions guarded at once (images in mmaps, twice for replacements). */
#define MB_MAPGUARD_MAX (2u * 65536u + 64u)

/* Install the handler and return the eventfd it writes to on a fault (the
 * same one on every call; owned by this module).  A later call installs the
 * handler again if something replaced it.  -errno on failure.  Any thread;
 * not concurrently with itself. */
int mb_mapguard_init(void);

/* Guard [base, base + len) (page-aligned base; len is rounded up to whole
 * pages).  Returns a slot (>= 0) for the calls below, or -ENOSPC / -EINVAL
 * (no mb_mapguard_init yet).  Any thread. */
int mb_mapguard_add(void *base, size_t len);
/* Stop guarding (before the region is unmapped).  slot < 0 is ignored. */
void mb_mapguard_remove(int slot);
/* Has a fault hit this region?  *ret_off (may be NULL) gets the offset of
 * the first page replaced. */
bool mb_mapguard_faulted(int slot, uint64_t *ret_off);
/* Faults handled since start (all regions). */
uint64_t mb_mapguard_faults(void);

#endif /* _MB_MAPGUARD_H_ */
