/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the image store's files share: the items (one per image the store
 * knows), the jobs it runs on the shared worker, and its state.
 * ctl_store.c owns items, loading, publishing and the API for sync;
 * ctl_store_cache.c the hugepage cache's mechanics (demotion, promotion);
 * ctl_store_info.c the "images" action and the "store" health section.
 * Control thread only.
 */
#ifndef _MB_CTL_STORE_PRIV_H_
#define _MB_CTL_STORE_PRIV_H_

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_worker.h"
#include "mb_image.h"
#include "mb_manifest.h"

enum item_state {
	ITEM_LOADING,
	ITEM_OK,
	ITEM_FAILED,
	ITEM_DOWNLOADING,
};

struct job;

struct item {
	struct mb_manifest_entry e; /* owned */
	bool in_manifest;           /* false: only a download in progress */
	enum item_state state;
	char reason[MB_MANIFEST_ERRLEN];
	struct mb_image *img; /* the store's reference to the published object */
	struct job *job;      /* a job in flight for it, owned by the worker until done */
	struct stat st;       /* file identity when img was verified */
	uint64_t last_use_ns; /* cache: last seen served or in use (monotonic) */
	bool want_hot;        /* cache: displaced warm images when loaded */
	struct item *next;
};

enum job_kind {
	JOB_LOAD,    /* verify the file into a new object (pinned: read; mapped: hash) */
	JOB_DEMOTE,  /* verify a new mapping that replaces a pinned object */
	JOB_PROMOTE, /* copy a mapped object into pinned memory, hashing the copy */
};

struct job {
	struct mb_work w;      /* on the worker; its completion is store_job_done */
	enum job_kind kind;
	struct item *item;     /* NULL once the item went away (the job is discarded) */
	char path[4096 + 300];
	int fd;                /* JOB_LOAD into pinned memory: the file */
	struct mb_hash hash;
	struct mb_image *img;  /* the new object, refcnt 1, the job's until done */
	struct mb_image *src;  /* JOB_PROMOTE: the mapped object copied (a reference) */
	struct mb_image *prev; /* JOB_DEMOTE: the pinned object replaced (a reference) */
	struct stat st;        /* the file's identity when the job started */
};

struct store {
	char *state_dir;
	uint64_t max_images, max_image_size;
	struct mb_manifest man; /* the local manifest as last read/written */
	struct item *items;
	int fault_fd; /* the mapping guard's eventfd: a SIGBUS hit an image mapping */
	unsigned busy;
	struct mb_ctl_timer *cache_timer;
	bool promoting; /* one promotion at a time keeps copies off the loads' way */
	uint64_t evictions, promotions, promote_failed;
};

extern struct store st;

/* ctl_store.c */
struct item *store_item_find(const char *name);
void store_image_path(const struct item *it, char *buf, size_t len);
bool store_same_file(const struct stat *a, const struct stat *b);
void store_item_set_failed(struct item *it, const char *reason);
/* Hand j (kind, item, img... filled) to the worker; the item is busy. */
void store_job_queue(struct job *j);
/* A new job (fd -1, no hash yet) or NULL. */
struct job *store_job_new(enum job_kind kind, struct item *it);
void store_job_free(struct job *j);
/* A job hashing a mapping that faulted under it: say so rather than
 * "checksum mismatch" (the zero pages do not match). */
void store_job_fault_reason(struct job *j);
/* Publish the table of every item's object after the running handler
 * (several changes in one pass publish once). */
void store_publish_soon(void);

/* ctl_store_cache.c */
/* Hugepage bytes the store keeps (warm objects but skip's, jobs' memory). */
uint64_t store_cache_committed(const struct item *skip);
/* Fold what the dataplane recorded into each item's last use. */
void store_cache_observe(uint64_t now);
/* Make room for len pinned bytes by demoting idle images used before
 * before_ns; true when len fits once draining memory is freed. */
bool store_cache_make_room(struct item *self, uint64_t len, uint64_t before_ns, uint64_t now);
/* A demotion or promotion completed: true when the table changes. */
bool store_demote_done(struct item *it, struct job *j);
bool store_promote_done(struct item *it, struct job *j);
int store_cache_start(void);
void store_cache_stop(void);

/* ctl_store_info.c */
json_t *store_action_images(json_t *args, char **ret_err);
json_t *store_health(enum mb_health_state *worst, void *arg);

#endif /* _MB_CTL_STORE_PRIV_H_ */
