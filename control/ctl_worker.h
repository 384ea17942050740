/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's one worker thread: the only place image bytes are
 * read, copied, hashed and written off the control thread, so nothing the
 * store or sync does to a 10 GB image stalls the control loop.
 *
 * A work (struct mb_work) moves `len` bytes from a source (a file range or
 * a memory range) to any of: a memory destination (copied), a file (written
 * at an offset), a SHA-256 state (hashed, in order); optionally it then
 * finishes the hash and compares it with the digest expected, and fsyncs
 * the file.  The store loads an image (file -> hugepages, hashed, compared),
 * verifies a mapping (memory, hashed, compared) and promotes one (memory ->
 * hugepages, the copy hashed, compared); sync hashes the prefix of a .part
 * it resumes (file -> image memory, hashed), then each batch of received
 * bytes (memory -> .part, hashed), and finishes (compare, fsync).
 *
 * Works run in slices of MB_WORK_SLICE bytes, round robin, so a long one
 * neither starves the others nor holds up a cancel or a stop for long.  A
 * work's completion runs on the control thread (an eventfd on the loop),
 * exactly once: done, failed, cancelled (mb_worker_cancel) or drained at
 * stop (-ECANCELED).  Works on one hash state are applied in the order they
 * complete only if the submitter keeps at most one of them in flight at a
 * time; that is the submitter's rule (a pipelined transfer keeps a cursor
 * of what is hashed and submits the next contiguous range when the last
 * one completes), and the reason this interface admits more worker threads
 * later.
 *
 * Ownership: the submitter owns the struct and every buffer and descriptor
 * it names; they must stay valid until the completion ran.  Submit, cancel
 * and the completions: control thread.
 */
#ifndef _MB_CTL_WORKER_H_
#define _MB_CTL_WORKER_H_

#include <aio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "mb_image.h"

#define MB_WORK_SLICE (4u << 20)
#define MB_WORK_ERRLEN 160
#define MB_WORK_DIRECT_ALIGN 4096u /* O_DIRECT: buffer, offset and length multiples */

/* A SHA-256 state (OpenSSL's, kept opaque here). */
struct mb_hash {
	void *md;
};
/* 0 or -ENOMEM. */
int mb_hash_init(struct mb_hash *h);
/* Start over (a download restarted from byte 0).  0 or -EIO. */
int mb_hash_reset(struct mb_hash *h);
void mb_hash_done(struct mb_hash *h);
/* One-shot digest of a small buffer (names, not images).  0 or -EIO. */
int mb_sha256(const void *p, size_t n, uint8_t out[MB_SHA256_LEN]);

enum mb_work_flag {
	MB_WORK_FINAL = 1u << 0, /* finish the hash into got[], compare with want[] */
	MB_WORK_EXACT = 1u << 1, /* file source: it must end at src_off + len */
	MB_WORK_FSYNC = 1u << 2, /* fsync out_fd after the last byte is written */
};

struct mb_work;
typedef void (*mb_work_done_fn)(struct mb_work *w);

struct mb_work {
	/* Source: the file src_fd (>= 0) at src_off, else memory at src. */
	int src_fd;
	uint64_t src_off;
	const uint8_t *src;
	uint64_t len;
	/* Destinations, any or none: copied to dst (the hash then covers the
	 * copy, the bytes that will be served), written to out_fd at out_off
	 * (-1: none), hashed into hash (NULL: none). */
	uint8_t *dst;
	int out_fd;
	uint64_t out_off;
	/* The file of out_fd opened again with O_DIRECT (-1: none).  With a
	 * memory source, the whole MB_WORK_DIRECT_ALIGN blocks go through it,
	 * past the page cache (the memory already holds the bytes), while the
	 * slice is hashed; the edges, and all of it when the memory is not
	 * aligned like the file or the file system refuses, go through out_fd.
	 * A slice's blocks stay in flight while the worker hashes and serves
	 * other works, until the next slice of this one; the file stays a
	 * prefix (nothing is written past blocks in flight) and the work
	 * completes only when all of it is on file. */
	int out_dfd;
	struct mb_hash *hash;
	unsigned flags;			 /* enum mb_work_flag */
	uint8_t want[MB_SHA256_LEN];	 /* with MB_WORK_FINAL */
	mb_work_done_fn done;		 /* the completion (required) */
	void *arg;			 /* the submitter's */
	/* Results, valid in done: 0, -EBADMSG (digest differs), -ENODATA
	 * (file shorter), -EFBIG (file grew), -EIO (read), the write's or
	 * fsync's -errno (-ENOSPC, -EDQUOT, -EIO...), -ECANCELED;
	 * err says it for people. */
	int rc;
	uint64_t moved;			 /* bytes handled */
	uint8_t got[MB_SHA256_LEN];	 /* with MB_WORK_FINAL and rc 0 or -EBADMSG */
	char err[MB_WORK_ERRLEN];
	/* The worker's. */
	struct aiocb aio; /* the O_DIRECT write in flight (out_dfd) */
	bool aio_busy;
	struct mb_work *next;
	uint64_t pos;
	_Atomic bool cancel;
	bool busy; /* submitted, completion not run yet */
	struct mb_ctl_defer defer; /* completion of a work submitted while stopped */
};

/* A work with no source, no destination (descriptors -1) and no flags. */
void mb_work_init(struct mb_work *w);

/* Start the thread and put its eventfd on the loop (the core does it before
 * the first subsystem starts).  0 or -errno. */
int mb_worker_start(void);
/* Stop the thread; every work not completed completes now with -ECANCELED
 * (or its result, if it had finished), on the calling (control) thread.
 * Safe when not started. */
void mb_worker_stop(void);
/* Queue w (its results are reset).  Never blocks, never fails: without a
 * running worker it completes with -ECANCELED after the running handler. */
void mb_worker_submit(struct mb_work *w);
/* Ask a queued or running work to stop at its next slice; it completes with
 * -ECANCELED (or its result, if it finished first).  No effect on a work
 * that is not busy. */
void mb_worker_cancel(struct mb_work *w);
/* Works submitted and not completed. */
unsigned mb_worker_pending(void);

#endif /* _MB_CTL_WORKER_H_ */
