/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image store: <state-dir>/manifest.json lists the images, their bytes
 * live in <state-dir>/images/<name>.  At start and on every reload each
 * listed image is verified (exact size, SHA-256) while it is copied into
 * hugepage memory (rte_malloc, within images.hugepage-budget) or, when
 * hugepages are short, mapped from the file over a zero-filled anonymous
 * region padded to a whole chunk.  Only a verified image is published in the
 * RCU table; a missing, truncated or corrupt one is reported as failed with
 * its reason and never served.
 *
 * Hashing runs in one worker pthread so a 10 GB image never stalls the
 * control socket: the control thread allocates the memory and queues a job,
 * the worker reads and hashes in slices, and reports back through an
 * eventfd.  A reload that changes nothing (same manifest entry, same file
 * identity and mtime) keeps the image object; anything else is re-verified
 * into a new object, and the old one stays published until the new one is
 * verified (or is withdrawn when it fails).
 *
 * The hugepage budget is an LRU cache (policy in ctl_cache.c): when an
 * image does not fit, idle images least recently served are demoted, each
 * to a new object for the same version mapped from its file, published
 * only once the worker has hashed the mapping (the file may have rotted
 * since it was verified; then the image is withdrawn).  Images are
 * immutable; sessions in flight keep the hugepage object by their reference
 * and its memory goes back to the budget when the last one ends.
 *
 * Every mapping is guarded against SIGBUS (common/mb_mapguard.h): a read
 * error or a truncation under it turns the lost pages into zeroes instead
 * of killing the thread that reads them (a dataplane lcore), and fault_io
 * withdraws the image and ends its Frisbee sessions.  A timer
 * on the control thread promotes a busy or displaced mmap image back into
 * hugepages once the budget has room, copying and re-hashing it on the
 * worker, so the loop never waits for a copy.
 *
 * Not here: downloading (ctl_sync.c uses mb_ctl_store_install, or fills an
 * mb_ctl_store_image_alloc object as it downloads and hands it to
 * mb_ctl_store_install_filled, which publishes it without a second pass).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_malloc.h>

#include <openssl/evp.h>

#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_cache.h"
#include "ctl_priv.h"
#include "dp.h"
#include "mb_cleanup.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_mapguard.h"
#include "mb_time.h"

#define SLICE (4u << 20)

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
	struct job *job;      /* verification in flight, owned by the queue */
	struct stat st;       /* file identity when img was verified */
	uint64_t last_use_ns; /* cache: last seen served or in use (monotonic) */
	bool want_hot;        /* cache: displaced warm images when loaded */
	struct item *next;
};

struct job {
	struct item *item; /* NULL once the item went away (job is then discarded) */
	char path[4096 + 300];
	struct mb_image *img; /* new object, refcnt 1, owned by the job until done */
	struct mb_image *src; /* promotion: the mmap object copied from (a reference) */
	struct mb_image *prev; /* demotion: the hugepage object img replaces (a reference) */
	struct stat st;
	int rc;
	char err[MB_MANIFEST_ERRLEN];
	struct job *next;
};

static struct {
	char *state_dir;
	uint64_t budget;
	uint64_t max_images, max_image_size;
	struct mb_manifest man; /* the local manifest as last read/written */
	struct item *items;
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t lock; /* protects todo, done, stop */
	pthread_cond_t cond;
	struct job *todo, *done;
	bool stop;
	int efd;
	int fault_fd; /* mb_mapguard's eventfd: a SIGBUS hit an image mapping */
	unsigned busy;
	struct mb_ctl_timer *cache_timer;
	bool promoting; /* one promotion at a time keeps copies off the loads' way */
	uint64_t evictions, promotions, promote_failed;
} st = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .efd = -1,
      .fault_fd = -1};

static _Atomic uint64_t hugepage_used;

/* ---- image memory --------------------------------------------------------- */

static void
release_hugepage(struct mb_image *img)
{
	atomic_fetch_sub(&hugepage_used, img->sb.len);
	rte_free(img->sb.data);
	free(img);
}

/* The guard slot of an mmap object (release_arg holds slot + 1), or -1. */
static int
image_guard(const struct mb_image *img)
{
	if (img == NULL || img->mem != MB_IMAGE_MEM_MMAP || img->release_arg == NULL)
		return -1;
	return (int)(intptr_t)img->release_arg - 1;
}

static void
release_mmap(struct mb_image *img)
{
	mb_mapguard_remove(image_guard(img));
	(void)munmap(img->sb.data, img->sb.len);
	free(img);
}

static uint64_t
align_up(uint64_t n)
{
	uint64_t a = (n + MB_IMAGE_ALIGN - 1) / MB_IMAGE_ALIGN * MB_IMAGE_ALIGN;

	return a != 0 ? a : MB_IMAGE_ALIGN;
}

/* Hugepage memory if the budget allows and rte_malloc has it, else NULL. */
static uint8_t *
alloc_hugepage(uint64_t len)
{
	uint64_t used = atomic_load(&hugepage_used);
	uint8_t *p;

	if (st.budget != 0 && used + len > st.budget)
		return NULL;
	p = rte_malloc("mb_image", len, 4096);
	if (p != NULL)
		atomic_fetch_add(&hugepage_used, len);
	return p;
}

/* Map the file read-only over a zeroed anonymous region of alloc_len bytes,
 * so the padding after the last byte reads as zeroes, and guard the file's
 * pages against SIGBUS (mb_mapguard.h): a read error or a truncation under
 * the mapping then reads zeroes and flags the region instead of killing the
 * thread that touched it.  *ret_guard gets the guard slot + 1 for
 * release_arg.  NULL with errno. */
static uint8_t *
map_file(const char *path, uint64_t size, uint64_t alloc_len, void **ret_guard)
{
	_cleanup_close_ int fd = -1;
	uint8_t *base, *m;
	int g, e;

	*ret_guard = NULL;
	base = mmap(NULL, alloc_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (size == 0)
		return base;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		goto fail;
	m = mmap(base, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	g = mb_mapguard_add(base, (size_t)size);
	if (g < 0) {
		errno = -g;
		goto fail;
	}
	*ret_guard = (void *)(intptr_t)(g + 1);
	return base;
fail:
	e = errno;
	(void)munmap(base, alloc_len);
	errno = e;
	return NULL;
}

/* A new image object for entry e (refcnt 1), its memory allocated but not yet
 * filled: hugepages, else (path not NULL) an mmap of path.  NULL with errno. */
static struct mb_image *
image_new(const struct mb_manifest_entry *e, const char *path)
{
	struct mb_image *img = calloc(1, sizeof(*img));

	if (img == NULL)
		return NULL;
	memcpy(img->name, e->name, sizeof(img->name));
	img->version = e->version;
	img->size = e->size;
	memcpy(img->sha256, e->sha256, MB_SHA256_LEN);
	img->mtime = e->mtime;
	mb_image_init_buf(img, NULL, align_up(e->size), MB_SBUF_IOVA_DERIVE);
	img->sb.data = alloc_hugepage(img->sb.len);
	if (img->sb.data != NULL) {
		memset(img->sb.data + img->size, 0, img->sb.len - img->size);
		img->mem = MB_IMAGE_MEM_HUGEPAGE;
		img->release = release_hugepage;
	} else {
		img->sb.data = path != NULL ?
			    map_file(path, e->size, img->sb.len, &img->release_arg) : NULL;
		if (img->sb.data == NULL) {
			int rc = errno;

			free(img);
			errno = rc;
			return NULL;
		}
		img->sb.iova = MB_SBUF_IOVA_NONE; /* page cache: never attached */
		img->mem = MB_IMAGE_MEM_MMAP;
		img->release = release_mmap;
	}
	return img;
}

/* ---- the worker ------------------------------------------------------------ */

static bool
worker_stopping(void)
{
	bool stop;

	pthread_mutex_lock(&st.lock);
	stop = st.stop;
	pthread_mutex_unlock(&st.lock);
	return stop;
}

/*
 * Hash an image's memory on the worker thread, in slices so a stop request
 * is seen promptly.  Without `src` the bytes are hashed where they are: an
 * mmap'd image is hashed from the mapping itself, so the bytes verified are
 * the bytes served even if the path was replaced after it was mapped.  With
 * `src` (promotion) each slice of the published mmap object is first copied
 * into the new hugepage memory and the copy is hashed, so the bytes served
 * from hugepages are the bytes verified; a mismatch then means the file
 * changed under the mapping.
 */
static int
hash_image(struct job *j, const struct mb_image *src)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t got[EVP_MAX_MD_SIZE];
	unsigned int glen = 0;
	uint64_t off = 0;
	int rc = 0;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		snprintf(j->err, sizeof(j->err), "cannot set up SHA-256");
		rc = -ENOMEM;
		goto out;
	}
	while (off < j->img->size) {
		uint64_t n = j->img->size - off < SLICE ? j->img->size - off : SLICE;

		if (worker_stopping()) {
			snprintf(j->err, sizeof(j->err), "cancelled");
			rc = -ECANCELED;
			goto out;
		}
		if (src != NULL)
			memcpy(j->img->sb.data + off, src->sb.data + off, n);
		if (EVP_DigestUpdate(md, j->img->sb.data + off, n) != 1) {
			snprintf(j->err, sizeof(j->err), "SHA-256 failed");
			rc = -EIO;
			goto out;
		}
		off += n;
	}
	if (EVP_DigestFinal_ex(md, got, &glen) != 1 || glen != MB_SHA256_LEN) {
		snprintf(j->err, sizeof(j->err), "SHA-256 failed");
		rc = -EIO;
	} else if (memcmp(got, j->img->sha256, MB_SHA256_LEN) != 0) {
		if (src != NULL) {
			snprintf(j->err, sizeof(j->err), "checksum mismatch in the mapped file");
		} else {
			char hex[2 * MB_SHA256_LEN + 1];

			mb_sha256_to_hex(got, hex);
			snprintf(j->err, sizeof(j->err), "checksum mismatch (sha256 %s)", hex);
		}
		rc = -EBADMSG;
	}
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static void
job_run(struct job *j)
{
	struct mb_verify v;

	if (j->src != NULL) {
		j->rc = hash_image(j, j->src);
		return;
	}
	if (j->img->mem == MB_IMAGE_MEM_MMAP) {
		j->rc = hash_image(j, NULL);
		return;
	}
	j->rc = mb_verify_open(&v, j->path, j->img->size, j->img->sha256);
	while (j->rc == 0) {
		if (worker_stopping()) {
			j->rc = -ECANCELED;
			snprintf(v.err, sizeof(v.err), "cancelled");
			break;
		}
		j->rc = mb_verify_step(&v, j->img->sb.data, SLICE);
	}
	if (j->rc < 0)
		snprintf(j->err, sizeof(j->err), "%s", v.err);
	else
		j->rc = 0;
	mb_verify_done(&v);
}

static void *
worker_main(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	pthread_mutex_lock(&st.lock);
	for (;;) {
		struct job *j;

		while (st.todo == NULL && !st.stop)
			pthread_cond_wait(&st.cond, &st.lock);
		if (st.stop)
			break;
		j = st.todo;
		st.todo = j->next;
		pthread_mutex_unlock(&st.lock);
		job_run(j);
		pthread_mutex_lock(&st.lock);
		j->next = st.done;
		st.done = j;
		(void)!write(st.efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&st.lock);
	return NULL;
}

/* ---- items and publishing ----------------------------------------------- */

/* Free a job and the image references it holds (control thread, or the
 * stopping thread after the worker was joined). */
static void
job_free(struct job *j)
{
	if (j->src != NULL) {
		mb_image_unref(j->src);
		st.promoting = false;
	}
	if (j->prev != NULL)
		mb_image_unref(j->prev);
	mb_image_unref(j->img);
	free(j);
}

/* Hand a job to the worker (control thread). */
static void
job_queue(struct job *j)
{
	pthread_mutex_lock(&st.lock);
	j->next = st.todo;
	st.todo = j;
	pthread_cond_signal(&st.cond);
	pthread_mutex_unlock(&st.lock);
}

/* A job hashing an mmap object that faulted under it: say so rather than
 * "checksum mismatch" (the zero pages do not match). */
static void
job_fault_reason(struct job *j)
{
	uint64_t off;

	if (mb_mapguard_faulted(image_guard(j->img), &off) ||
	    mb_mapguard_faulted(image_guard(j->src), &off))
		snprintf(j->err, sizeof(j->err), "read error or file truncated under the mapping "
			 "(at byte %" PRIu64 ")", off);
}

static struct item *
item_find(const char *name)
{
	for (struct item *it = st.items; it != NULL; it = it->next)
		if (strcmp(it->e.name, name) == 0)
			return it;
	return NULL;
}

static void
publish(void)
{
	struct mb_image_table *t;
	uint32_t n = 0;

	for (struct item *it = st.items; it != NULL; it = it->next)
		if (it->img != NULL)
			n++;
	t = mb_image_table_alloc(n);
	if (t == NULL) {
		MB_LOG(ERR, STORE, "cannot allocate the image table, keeping the old one");
		return;
	}
	for (struct item *it = st.items; it != NULL; it = it->next)
		if (it->img != NULL)
			t->img[t->count++] = mb_image_ref(it->img);
	mb_image_table_sort(t);
	mb_image_table_publish(t);
}

static void
item_set_failed(struct item *it, const char *reason)
{
	it->state = ITEM_FAILED;
	snprintf(it->reason, sizeof(it->reason), "%s", reason);
	if (it->img != NULL) {
		mb_image_unref(it->img);
		it->img = NULL;
	}
}

static void
image_path(const struct item *it, char *buf, size_t len)
{
	snprintf(buf, len, "%s/images/%s", st.state_dir, it->e.name);
}

/* Detach a job in flight from its item (the completion discards it). */
static void
item_cancel_job(struct item *it)
{
	if (it->job != NULL) {
		it->job->item = NULL;
		it->job = NULL;
		st.busy--;
	}
}

static void
item_free(struct item *it)
{
	item_cancel_job(it);
	if (it->img != NULL)
		mb_image_unref(it->img);
	mb_manifest_entry_done(&it->e);
	free(it);
}

/* ---- the hugepage cache (policy in ctl_cache.c) ----------------------------- */

static bool same_file(const struct stat *a, const struct stat *b);

static bool
item_warm(const struct item *it)
{
	return it->img != NULL && it->img->mem == MB_IMAGE_MEM_HUGEPAGE;
}

/* Hugepage bytes the store means to keep: warm published objects (but
 * skip's) and the hugepage memory of jobs in flight.  Demoted objects that
 * sessions still hold are draining: hugepage_used counts them, this does not. */
static uint64_t
cache_committed(const struct item *skip)
{
	uint64_t n = 0;

	for (struct item *it = st.items; it != NULL; it = it->next) {
		/* A demotion in flight gives its hugepages back when it ends. */
		if (it != skip && item_warm(it) && (it->job == NULL || it->job->prev == NULL))
			n += it->img->sb.len;
		if (it->job != NULL && it->job->img->mem == MB_IMAGE_MEM_HUGEPAGE)
			n += it->job->img->sb.len;
	}
	return n;
}

/* Fold what the dataplane recorded into each item's last use: the last
 * served time it stamps, and "now" while a session or connection is on it. */
static void
cache_observe(uint64_t now)
{
	for (struct item *it = st.items; it != NULL; it = it->next) {
		uint64_t ls;

		if (it->img == NULL)
			continue;
		ls = atomic_load_explicit(&it->img->last_served_ns, memory_order_relaxed);
		if (ls > it->last_use_ns)
			it->last_use_ns = ls;
		if (atomic_load_explicit(&it->img->active_users, memory_order_relaxed) > 0)
			it->last_use_ns = now;
	}
}

/* The policy's view of one item at `now` (see struct mb_cache_ent). */
static void
cache_ent(const struct item *it, uint64_t now, struct mb_cache_ent *e)
{
	const struct mb_image *img = it->img;

	memset(e, 0, sizeof(*e));
	e->len = img != NULL ? img->sb.len : align_up(it->e.size);
	e->last_use_ns = it->last_use_ns;
	e->warm = item_warm(it);
	if (img != NULL)
		e->busy = mb_cache_busy(atomic_load(&img->active_users), it->last_use_ns, now);
	e->fixed = it->job != NULL;
	e->want = it->want_hot;
}

/* A new object with img's identity (name, version, size, hash), no memory. */
static struct mb_image *
image_clone_meta(const struct mb_image *img)
{
	struct mb_image *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	memcpy(n->name, img->name, sizeof(n->name));
	n->version = img->version;
	n->size = img->size;
	memcpy(n->sha256, img->sha256, MB_SHA256_LEN);
	n->mtime = img->mtime;
	mb_image_init_buf(n, NULL, img->sb.len, MB_SBUF_IOVA_NONE);
	atomic_init(&n->last_served_ns, atomic_load(&img->last_served_ns));
	atomic_init(&n->bytes_served, atomic_load(&img->bytes_served));
	return n;
}

/*
 * Start replacing a warm item's published object by a new one mapped from
 * its file (same version, same bytes: the file must still be the one
 * verified).  The identity check (inode, size, mtime) cannot see bytes that
 * rotted or were rewritten in place, so the mapping is hashed on the worker
 * before it is published (demote_done); until then the hugepage object
 * keeps serving, and its memory counts as draining (cache_committed).  The
 * old object is freed, and its hugepages return to the budget, when the
 * last session on it ends.  0 or -errno.
 */
static int
item_demote(struct item *it)
{
	struct mb_image *old = it->img, *img;
	struct stat sb;
	struct job *j;
	int rc;

	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	image_path(it, j->path, sizeof(j->path));
	if (stat(j->path, &sb) == -1 || !same_file(&sb, &it->st)) {
		MB_LOG(WARNING, STORE, "image '%s' changed on disk, not demoting it, ignoring",
		       it->e.name);
		free(j);
		return -ESTALE; /* the next reload re-verifies it */
	}
	img = image_clone_meta(old);
	if (img == NULL) {
		free(j);
		return -ENOMEM;
	}
	img->sb.data = map_file(j->path, img->size, img->sb.len, &img->release_arg);
	if (img->sb.data == NULL) {
		rc = -errno;
		MB_LOG(WARNING, STORE, "cannot map image '%s': %s, ignoring", it->e.name,
		       strerror(errno));
		free(img);
		free(j);
		return rc;
	}
	img->sb.iova = MB_SBUF_IOVA_NONE; /* page cache: never attached */
	img->mem = MB_IMAGE_MEM_MMAP;
	img->release = release_mmap;
	j->img = img;
	j->prev = mb_image_ref(old);
	j->item = it;
	j->st = it->st;
	it->job = j;
	it->want_hot = false;
	st.busy++;
	job_queue(j);
	return 0;
}

/* A demotion's hash finished (control thread): publish the verified mapping,
 * or withdraw the image when the file no longer holds its bytes (the
 * hugepage copy was verified, but the file is what a restart, a reload or
 * the next demotion would serve).  Frees j.  Returns true when the table
 * changes. */
static bool
demote_done(struct item *it, struct job *j)
{
	if (it->img != j->prev) { /* the item moved on meanwhile */
		job_free(j);
		return false;
	}
	if (j->rc == 0) {
		atomic_store(&j->img->last_served_ns, atomic_load(&j->prev->last_served_ns));
		atomic_store(&j->img->bytes_served, atomic_load(&j->prev->bytes_served));
		it->img = j->img;
		j->img = NULL;
		mb_image_unref(j->prev); /* the item's reference to the hugepage object */
		st.evictions++;
		MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " demoted from hugepages to an mmap",
		       it->e.name, it->e.version);
		job_free(j);
		return true;
	}
	if (j->rc == -ECANCELED) {
		job_free(j);
		return false;
	}
	job_fault_reason(j);
	MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused when demoted to its file: %s",
	       it->e.name, it->e.version, j->err);
	item_set_failed(it, j->err);
	job_free(j);
	return true;
}

/*
 * Make `len` more hugepage bytes fit the budget, counting what is committed
 * (not what is still draining): demote idle warm images last used before
 * before_ns, least recently used first, and publish.  `self` (the image
 * being placed, or NULL) is neither counted nor demoted.  Returns true when
 * len fits once draining memory is freed.  Control thread.
 */
static bool
cache_make_room(struct item *self, uint64_t len, uint64_t before_ns, uint64_t now)
{
	uint64_t committed, need, freed = 0;
	struct mb_cache_ent *e;
	struct item **v;
	size_t n = 0, i = 0, k, *pick;

	if (st.budget == 0 || len > st.budget)
		return st.budget == 0;
	committed = cache_committed(self);
	if (committed + len <= st.budget)
		return true;
	need = committed + len - st.budget;
	for (struct item *it = st.items; it != NULL; it = it->next)
		n++;
	e = calloc(n, sizeof(*e));
	v = calloc(n, sizeof(*v));
	pick = calloc(n, sizeof(*pick));
	if (e == NULL || v == NULL || pick == NULL) {
		free(e);
		free(v);
		free(pick);
		return false;
	}
	for (struct item *it = st.items; it != NULL; it = it->next, i++) {
		v[i] = it;
		cache_ent(it, now, &e[i]);
		if (it == self)
			e[i].fixed = true;
	}
	k = mb_cache_pick_victims(e, n, need, before_ns, pick);
	/* Each demotion publishes itself once its mapping is verified. */
	for (i = 0; i < k; i++)
		if (item_demote(v[pick[i]]) == 0)
			freed += e[pick[i]].len;
	free(e);
	free(v);
	free(pick);
	return k > 0 && freed >= need;
}

/* Start copying a cold item's mmap object into a new hugepage object on the
 * worker (promote_done publishes it).  0 or -errno. */
static int
item_promote(struct item *it)
{
	struct mb_image *img;
	struct job *j;

	j = calloc(1, sizeof(*j));
	img = image_clone_meta(it->img);
	if (j == NULL || img == NULL) {
		free(j);
		free(img);
		return -ENOMEM;
	}
	img->sb.data = alloc_hugepage(img->sb.len);
	if (img->sb.data == NULL) {
		free(img);
		free(j);
		return -ENOMEM;
	}
	memset(img->sb.data + img->size, 0, img->sb.len - img->size);
	img->sb.iova = MB_SBUF_IOVA_DERIVE;
	img->mem = MB_IMAGE_MEM_HUGEPAGE;
	img->release = release_hugepage;
	j->img = img;
	j->src = mb_image_ref(it->img);
	j->item = it;
	j->st = it->st;
	image_path(it, j->path, sizeof(j->path));
	it->job = j;
	st.busy++;
	st.promoting = true;
	MB_LOG(INFO, STORE, "promoting image '%s' v%" PRIu64 " into hugepages", it->e.name,
	       it->e.version);
	job_queue(j);
	return 0;
}

/* A promotion finished (control thread): publish the hugepage copy, or keep
 * the mmap one; a checksum mismatch means the file changed under the mapping,
 * so the image is withdrawn.  Frees j.  Returns true when the table changes. */
static bool
promote_done(struct item *it, struct job *j)
{
	struct mb_image *old = it->img;

	if (old != j->src) { /* the item moved on meanwhile */
		job_free(j);
		return false;
	}
	if (j->rc == 0) {
		atomic_store(&j->img->last_served_ns, atomic_load(&old->last_served_ns));
		atomic_store(&j->img->bytes_served, atomic_load(&old->bytes_served));
		it->img = j->img;
		j->img = NULL;
		mb_image_unref(old);
		it->want_hot = false;
		st.promotions++;
		MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " promoted into hugepages", it->e.name,
		       it->e.version);
		job_free(j);
		return true;
	}
	st.promote_failed++;
	job_fault_reason(j);
	if (j->rc == -EBADMSG) {
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name, it->e.version,
		       j->err);
		item_set_failed(it, j->err);
		job_free(j);
		return true;
	}
	if (j->rc != -ECANCELED)
		MB_LOG(WARNING, STORE, "promoting image '%s' failed: %s, keeping the mmap copy",
		       it->e.name, j->err);
	job_free(j);
	return false;
}

void
mb_ctl_store_cache_tick(uint64_t now)
{
	struct mb_cache_ent *e;
	struct item **v, *it;
	size_t n = 0, i = 0;
	long c;

	cache_observe(now);
	/* A budget lowered by a reload: shrink to it (idle images only). */
	if (st.budget != 0 && cache_committed(NULL) > st.budget)
		(void)cache_make_room(NULL, 0, now, now);
	if (st.promoting)
		return;
	for (it = st.items; it != NULL; it = it->next)
		n++;
	if (n == 0)
		return;
	e = calloc(n, sizeof(*e));
	v = calloc(n, sizeof(*v));
	if (e == NULL || v == NULL) {
		free(e);
		free(v);
		return;
	}
	for (it = st.items; it != NULL; it = it->next, i++) {
		v[i] = it;
		cache_ent(it, now, &e[i]);
		/* Only a published mmap object with nothing in flight can move up. */
		if (it->img == NULL || it->img->mem != MB_IMAGE_MEM_MMAP)
			e[i].fixed = true;
	}
	c = mb_cache_pick_candidate(e, n, st.budget);
	it = c >= 0 ? v[c] : NULL;
	free(e);
	free(v);
	if (it == NULL)
		return;
	if (st.budget != 0) {
		/* Only images colder than the candidate make room for it. */
		if (!cache_make_room(it, it->img->sb.len, it->last_use_ns, now))
			return;
		if (atomic_load(&hugepage_used) + it->img->sb.len > st.budget)
			return; /* demoted memory is still draining: next tick */
	}
	(void)item_promote(it);
}

static void
cache_timer(void *arg)
{
	(void)arg;
	mb_ctl_store_cache_tick(mb_time_mono_ns());
}

/* Start verifying it->e from disk. */
static void
item_load(struct item *it)
{
	struct job *j;
	struct stat sb;

	item_cancel_job(it);
	errno = 0;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		item_set_failed(it, "out of memory");
		return;
	}
	image_path(it, j->path, sizeof(j->path));
	if (stat(j->path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		char why[MB_MANIFEST_ERRLEN];
		int e = errno;

		if (e == ENOENT)
			snprintf(why, sizeof(why), "missing");
		else
			snprintf(why, sizeof(why), "%s",
			         e != 0 ? strerror(e) : "not a regular file");
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name, it->e.version,
		       why);
		item_set_failed(it, why);
		free(j);
		return;
	}
	if ((uint64_t)sb.st_size != it->e.size) {
		char why[MB_MANIFEST_ERRLEN];

		snprintf(why, sizeof(why), "%s (%jd bytes, manifest says %" PRIu64 ")",
		         (uint64_t)sb.st_size < it->e.size ? "truncated" : "size mismatch",
		         (intmax_t)sb.st_size, it->e.size);
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name, it->e.version,
		       why);
		item_set_failed(it, why);
		free(j);
		return;
	}
	j->st = sb;
	if (st.budget != 0 && atomic_load(&hugepage_used) + align_up(it->e.size) > st.budget) {
		uint64_t now = mb_time_mono_ns();

		/* It will be served from an mmap now; if idle images make way (or
		 * memory is draining), the cache timer promotes it once it fits. */
		cache_observe(now);
		if (cache_make_room(it, align_up(it->e.size), now, now)) {
			it->want_hot = true;
			it->last_use_ns = now;
		}
	}
	j->img = image_new(&it->e, j->path);
	if (j->img == NULL) {
		MB_LOG(ERR, STORE, "image '%s': no memory for %" PRIu64 " bytes: %s", it->e.name,
		       it->e.size, strerror(errno));
		item_set_failed(it, "no memory");
		free(j);
		return;
	}
	j->item = it;
	it->job = j;
	if (it->state != ITEM_OK)
		it->state = ITEM_LOADING;
	st.busy++;
	job_queue(j);
}

static void
done_io(int fd, uint32_t events, void *arg)
{
	struct job *list, *j;
	uint64_t v;
	bool changed = false;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	pthread_mutex_lock(&st.lock);
	list = st.done;
	st.done = NULL;
	pthread_mutex_unlock(&st.lock);
	while ((j = list) != NULL) {
		struct item *it = j->item;

		list = j->next;
		if (it == NULL) {
			job_free(j);
			continue;
		}
		it->job = NULL;
		st.busy--;
		if (j->src != NULL) {
			changed |= promote_done(it, j);
			continue;
		}
		if (j->prev != NULL) {
			changed |= demote_done(it, j);
			continue;
		}
		if (j->rc != 0) {
			job_fault_reason(j);
			MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name,
			       it->e.version, j->err);
			mb_image_unref(j->img);
			item_set_failed(it, j->err);
		} else {
			MB_LOG(INFO, STORE,
			       "image '%s' v%" PRIu64 " verified, %" PRIu64 " bytes in %s",
			       it->e.name, it->e.version, it->e.size,
			       j->img->mem == MB_IMAGE_MEM_HUGEPAGE ? "hugepages" : "an mmap");
			if (it->img != NULL)
				mb_image_unref(it->img);
			it->img = j->img;
			it->st = j->st;
			it->state = ITEM_OK;
			it->reason[0] = '\0';
		}
		changed = true;
		free(j);
	}
	if (changed)
		publish();
}

/*
 * A SIGBUS hit an image mapping (mb_mapguard woke us): the pages from the
 * fault on now read as zeroes.  Withdraw every image whose published object
 * faulted, with the reason in health, and ask the master server to end its
 * Frisbee sessions on it and the dataplane to reset the HTTP and FTP
 * transfers sending from it, so nothing goes on sending zeroes as the
 * image.  A mapping that is no
 * longer published (a replaced version still held by sessions) cannot be
 * truncated through its path, only lose pages to a read error.
 */
static void
fault_io(int fd, uint32_t events, void *arg)
{
	bool changed = false;
	uint64_t v, off;

	(void)events;
	(void)arg;
	(void)!read(fd, &v, sizeof(v));
	for (struct item *it = st.items; it != NULL; it = it->next) {
		char why[MB_MANIFEST_ERRLEN];

		if (it->img == NULL || !mb_mapguard_faulted(image_guard(it->img), &off))
			continue;
		snprintf(why, sizeof(why), "read error or file truncated under the mapping "
			 "(at byte %" PRIu64 ")", off);
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " withdrawn: %s", it->e.name,
		       it->e.version, why);
		mb_ctl_master_stop_image(it->e.name, it->e.version);
		(void)mb_dp_tcp_abort_image(it->img); /* HTTP and FTP transfers on it */
		item_set_failed(it, why);
		changed = true;
	}
	if (changed)
		publish();
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Bring the items in line with st.man. */
static void
reconcile(void)
{
	struct item **pp = &st.items;
	bool changed = false;

	/* Items gone from the manifest go away (downloads in flight stay). */
	while (*pp != NULL) {
		struct item *it = *pp;

		if (it->in_manifest && mb_manifest_find(&st.man, it->e.name) == NULL) {
			*pp = it->next;
			if (it->img != NULL)
				changed = true;
			MB_LOG(INFO, STORE, "image '%s' no longer listed, withdrawn", it->e.name);
			item_free(it);
			continue;
		}
		pp = &it->next;
	}
	for (uint32_t i = 0; i < st.man.count; i++) {
		const struct mb_manifest_entry *e = &st.man.entries[i];
		struct item *it = item_find(e->name);
		char path[4096 + 300];
		struct stat sb;

		if (it != NULL && it->in_manifest && mb_manifest_entry_same(&it->e, e)) {
			if (it->state == ITEM_LOADING)
				continue;
			if (it->state == ITEM_OK) {
				image_path(it, path, sizeof(path));
				if (stat(path, &sb) == 0 && same_file(&sb, &it->st))
					continue; /* unchanged: keep the object */
			}
		}
		if (it == NULL) {
			it = calloc(1, sizeof(*it));
			if (it == NULL || mb_manifest_entry_copy(&it->e, e) != 0) {
				free(it);
				MB_LOG(ERR, STORE, "out of memory for image '%s', ignoring",
				       e->name);
				continue;
			}
			it->state = ITEM_LOADING;
			it->next = st.items;
			st.items = it;
		} else {
			mb_manifest_entry_done(&it->e);
			if (mb_manifest_entry_copy(&it->e, e) != 0) {
				item_set_failed(it, "out of memory");
				continue;
			}
		}
		it->in_manifest = true;
		if (it->img != NULL && it->img->version != e->version) {
			/* Keep serving the old version until the new one is verified. */
		}
		item_load(it);
		if (it->state == ITEM_FAILED)
			changed = true;
	}
	if (changed)
		publish();
}

static int
manifest_path(char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/manifest.json", st.state_dir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void
apply_limits(const struct mb_config *cfg)
{
	st.budget = cfg->hugepage_budget;
	st.max_images = cfg->max_images;
	st.max_image_size = cfg->max_image_size;
}

int
mb_ctl_store_reload(const struct mb_config *cfg, char *err, size_t errlen)
{
	struct mb_manifest_limits lim = {0};
	struct mb_manifest m;
	char path[4096 + 32];
	int rc;

	apply_limits(cfg);
	lim.max_images = st.max_images;
	lim.max_image_size = st.max_image_size;
	rc = manifest_path(path, sizeof(path));
	if (rc != 0)
		return rc;
	rc = mb_manifest_load_file(path, &lim, &m, err, errlen);
	if (rc == -ENOENT) {
		MB_LOG(NOTICE, STORE, "no '%s' yet, starting with an empty store", path);
		memset(&m, 0, sizeof(m));
	} else if (rc != 0) {
		MB_LOG(ERR, STORE, "manifest '%s' refused: %s", path, err);
		return rc;
	}
	mb_manifest_done(&st.man);
	st.man = m;
	reconcile();
	return 0;
}

/* ---- actions and health ---------------------------------------------------- */

static const char *
mem_name(const struct mb_image *img)
{
	if (img == NULL)
		return "none";
	switch (img->mem) {
	case MB_IMAGE_MEM_HUGEPAGE:
		return "hugepage";
	case MB_IMAGE_MEM_MMAP:
		return "mmap";
	case MB_IMAGE_MEM_HEAP:
		return "heap";
	default:
		return "none";
	}
}

static json_t *
item_json(const struct item *it)
{
	char hex[2 * MB_SHA256_LEN + 1];
	char state[MB_MANIFEST_ERRLEN + 16];
	json_t *o;

	mb_sha256_to_hex(it->e.sha256, hex);
	switch (it->state) {
	case ITEM_OK:
		snprintf(state, sizeof(state), "ok");
		break;
	case ITEM_LOADING:
		snprintf(state, sizeof(state), "loading");
		break;
	case ITEM_DOWNLOADING:
		snprintf(state, sizeof(state), "downloading");
		break;
	default:
		snprintf(state, sizeof(state), "failed:%s", it->reason);
		break;
	}
	o = json_pack("{s:s,s:I,s:I,s:s,s:I,s:s,s:s,s:b}", "name", it->e.name, "version",
	              (json_int_t)it->e.version, "size", (json_int_t)it->e.size, "sha256", hex,
	              "mtime", (json_int_t)it->e.mtime, "state", state, "mem", mem_name(it->img),
	              "published", it->img != NULL);
	if (o != NULL && st.state_dir != NULL) { /* where the file is, for people */
		char path[4096 + MB_IMAGE_NAME_MAX + 16];

		snprintf(path, sizeof(path), "%s/images/%s", st.state_dir, it->e.name);
		json_object_set_new(o, "path", json_string(path));
	}
	if (o != NULL && it->img != NULL) {
		json_object_set_new(o, "warm", json_boolean(it->img->mem == MB_IMAGE_MEM_HUGEPAGE));
		if (it->last_use_ns != 0) {
			uint64_t now = mb_time_mono_ns();

			json_object_set_new(o, "idle-ms",
			                    json_integer(now > it->last_use_ns ?
			                                 (json_int_t)((now - it->last_use_ns) /
			                                              MB_NS_PER_MS) : 0));
		}
		json_object_set_new(o, "served-version",
		                    json_integer((json_int_t)it->img->version));
		json_object_set_new(o, "bytes-served",
		                    json_integer((json_int_t)atomic_load(&it->img->bytes_served)));
		json_object_set_new(o, "active-users",
		                    json_integer(atomic_load(&it->img->active_users)));
	}
	return o;
}

static int
item_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct item *const *)a)->e.name, (*(struct item *const *)b)->e.name);
}

static json_t *
action_images(json_t *args, char **ret_err)
{
	struct item **v;
	size_t n = 0, i = 0;
	json_t *arr;

	(void)args;
	for (struct item *it = st.items; it != NULL; it = it->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	arr = json_array();
	if (v == NULL || arr == NULL) {
		free(v);
		json_decref(arr);
		*ret_err = strdup("out of memory");
		return NULL;
	}
	for (struct item *it = st.items; it != NULL; it = it->next)
		v[i++] = it;
	qsort(v, n, sizeof(*v), item_name_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, item_json(v[i]));
	free(v);
	return arr;
}

/* The cache's figures: budget, bytes in hugepages (used: allocated;
 * committed: what the store keeps; draining: demoted or replaced objects
 * that sessions still hold), warm/cold image counts and the
 * eviction/promotion counters. */
static json_t *
cache_json(unsigned warm, unsigned cold)
{
	uint64_t used = atomic_load(&hugepage_used), committed = cache_committed(NULL);

	return json_pack("{s:I,s:I,s:I,s:I,s:i,s:i,s:I,s:I,s:I,s:b}", "budget",
	                 (json_int_t)st.budget, "used", (json_int_t)used, "committed",
	                 (json_int_t)committed, "draining",
	                 (json_int_t)(used > committed ? used - committed : 0), "warm", warm,
	                 "cold", cold, "evictions", (json_int_t)st.evictions, "promotions",
	                 (json_int_t)st.promotions, "promotion-failures",
	                 (json_int_t)st.promote_failed, "promoting", st.promoting);
}

static json_t *
health_store(enum mb_health_state *worst, void *arg)
{
	unsigned ok = 0, failed = 0, loading = 0, downloading = 0, huge = 0, mapped = 0;
	json_t *imgs = json_object();
	const char *mem;

	(void)arg;
	for (struct item *it = st.items; it != NULL; it = it->next) {
		switch (it->state) {
		case ITEM_OK:
			ok++;
			break;
		case ITEM_FAILED:
			failed++;
			break;
		case ITEM_LOADING:
			loading++;
			break;
		case ITEM_DOWNLOADING:
			downloading++;
			break;
		}
		if (it->img != NULL && it->img->mem == MB_IMAGE_MEM_HUGEPAGE)
			huge++;
		else if (it->img != NULL)
			mapped++;
		json_object_set_new(imgs, it->e.name, item_json(it));
	}
	if (failed > 0 && *worst < MB_HEALTH_DEGRADED)
		*worst = MB_HEALTH_DEGRADED;
	mem = huge > 0 && mapped > 0 ? "mixed" : (mapped > 0 ? "mmap" : "hugepage");
	return json_pack("{s:i,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:o,s:o}", "ok", ok, "failed", failed,
	                 "loading", loading, "downloading", downloading, "mem", mem,
	                 "hugepage-bytes", (json_int_t)atomic_load(&hugepage_used),
	                 "hugepage-budget", (json_int_t)st.budget,
	                 "mapping-faults", (json_int_t)mb_mapguard_faults(),
	                 "cache", cache_json(huge, mapped), "images", imgs);
}

static const struct mb_ctl_action store_actions[] = {
    {"images", action_images, "images in the store: version, state, memory, use"},
};

/* Master server: a name being loaded or downloaded answers TRYAGAIN. */
static bool
store_pending(const char *name, uint64_t *ret_size, int64_t *ret_mtime, void *arg)
{
	struct item *it = item_find(name);

	(void)arg;
	if (it == NULL || (it->state != ITEM_LOADING && it->state != ITEM_DOWNLOADING) ||
	    it->img != NULL)
		return false;
	*ret_size = it->e.size;
	*ret_mtime = it->e.mtime;
	return true;
}

/* ---- public entry points ---------------------------------------------------- */

int
mb_ctl_store_start(const struct mb_config *cfg)
{
	char err[MB_MANIFEST_ERRLEN] = "";
	char path[4096 + 32];
	int rc;

	st.state_dir = strdup(cfg->state_dir);
	if (st.state_dir == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/images", st.state_dir);
	if (mkdir(st.state_dir, 0755) == -1 && errno != EEXIST) {
		rc = -errno;
		MB_LOG(ERR, STORE, "cannot create state directory '%s': %s", st.state_dir,
		       strerror(errno));
		return rc;
	}
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		rc = -errno;
		MB_LOG(ERR, STORE, "cannot create '%s': %s", path, strerror(errno));
		return rc;
	}
	st.stop = false;
	st.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st.efd == -1)
		return -errno;
	rc = mb_ctl_loop_add(st.efd, EPOLLIN, done_io, NULL);
	if (rc != 0)
		return rc;
	/* Without the SIGBUS guard no file is mapped (map_file fails), so an
	 * image that does not fit in hugepages is refused rather than risked. */
	st.fault_fd = mb_mapguard_init();
	if (st.fault_fd < 0)
		MB_LOG(ERR, STORE, "no SIGBUS guard for image mappings (%s): images that do not "
		       "fit in hugepages will not be served, continuing", strerror(-st.fault_fd));
	else if ((rc = mb_ctl_loop_add(st.fault_fd, EPOLLIN, fault_io, NULL)) != 0)
		return rc;
	rc = pthread_create(&st.worker, NULL, worker_main, NULL);
	if (rc != 0)
		return -rc;
	st.worker_started = true;
	(void)pthread_setname_np(st.worker, "mb-store");
	st.cache_timer = mb_ctl_timer_new(MB_CACHE_TICK_MS, MB_CACHE_TICK_MS, cache_timer, NULL);
	if (st.cache_timer == NULL)
		MB_LOG(WARNING, STORE, "no cache timer: %s, images stay where they load, ignoring",
		       strerror(errno));
	for (size_t i = 0; i < MB_ARRAY_SIZE(store_actions); i++)
		(void)mb_ctl_action_register(&store_actions[i]);
	(void)mb_ctl_health_register("store", health_store, NULL);
	mb_ctl_master_set_pending(store_pending, NULL);
	rc = mb_ctl_store_reload(cfg, err, sizeof(err));
	if (rc != 0 && rc != -ENOENT) {
		/* Start serving nothing rather than not at all; health says why. */
		MB_LOG(WARNING, STORE, "starting with an empty store: %s", err);
	}
	return 0;
}

unsigned
mb_ctl_store_busy(void)
{
	return st.busy;
}

void
mb_ctl_store_stop(void)
{
	struct job *j;

	mb_ctl_timer_free(st.cache_timer);
	st.cache_timer = NULL;
	pthread_mutex_lock(&st.lock);
	st.stop = true;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
	if (st.worker_started)
		(void)pthread_join(st.worker, NULL);
	st.worker_started = false;
	while (st.items != NULL) {
		struct item *it = st.items;

		st.items = it->next;
		item_free(it);
	}
	/* Jobs never picked up or finished after the last completion pass. */
	for (int pass = 0; pass < 2; pass++) {
		while ((j = pass == 0 ? st.todo : st.done) != NULL) {
			if (pass == 0)
				st.todo = j->next;
			else
				st.done = j->next;
			job_free(j);
		}
	}
	st.promoting = false;
	mb_image_table_publish(NULL);
	/* Release the images now, while rte_free still works. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	if (st.efd >= 0) {
		(void)mb_ctl_loop_del(st.efd);
		(void)close(st.efd);
	}
	st.efd = -1;
	if (st.fault_fd >= 0)
		(void)mb_ctl_loop_del(st.fault_fd); /* mb_mapguard's: stays open */
	st.fault_fd = -1;
	st.busy = 0;
	mb_manifest_done(&st.man);
	free(st.state_dir);
	st.state_dir = NULL;
}

static int
mkdir_parents_of(const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	size_t base = strlen(st.state_dir);

	if (p == NULL)
		return -ENOMEM;
	for (char *q = p + base + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	return 0;
}

static int
write_manifest(void)
{
	char path[4096 + 32];
	int rc = manifest_path(path, sizeof(path));

	if (rc == 0)
		rc = mb_manifest_write_file(&st.man, path);
	if (rc != 0)
		MB_LOG(ERR, STORE, "cannot write '%s': %s", path, strerror(-rc));
	return rc;
}

int
mb_ctl_store_install(const struct mb_manifest_entry *e, const char *verified_path)
{
	struct item tmp = {0};
	char dest[4096 + 300];
	int rc;

	if (st.state_dir == NULL)
		return -ENODEV;
	if (!mb_image_name_valid(e->name, strlen(e->name)))
		return -EINVAL;
	if (mb_manifest_find(&st.man, e->name) == NULL && st.man.count >= st.max_images)
		return -ENOSPC;
	memcpy(tmp.e.name, e->name, sizeof(tmp.e.name));
	image_path(&tmp, dest, sizeof(dest));
	rc = mkdir_parents_of(dest);
	if (rc != 0)
		return rc;
	if (rename(verified_path, dest) == -1)
		return -errno;
	rc = mb_manifest_set(&st.man, e);
	if (rc != 0)
		return rc;
	rc = write_manifest();
	{
		struct item *it = item_find(e->name);

		if (it != NULL && it->state == ITEM_DOWNLOADING && !it->in_manifest)
			it->state = ITEM_LOADING;
	}
	reconcile();
	return rc;
}

struct mb_image *
mb_ctl_store_image_alloc(const struct mb_manifest_entry *e)
{
	uint64_t len = align_up(e->size);
	struct mb_image *img;

	if (st.state_dir == NULL || (st.max_image_size != 0 && e->size > st.max_image_size))
		return NULL;
	if (st.budget != 0 && atomic_load(&hugepage_used) + len > st.budget) {
		uint64_t now = mb_time_mono_ns();

		/* idle images may make way; if memory is still draining, the
		 * download takes the file path and the cache promotes it later */
		cache_observe(now);
		(void)cache_make_room(NULL, len, now, now);
	}
	img = image_new(e, NULL);
	if (img != NULL)
		MB_LOG(DEBUG, STORE, "image '%s' v%" PRIu64 ": %" PRIu64 " hugepage bytes for the "
		       "download", e->name, e->version, len);
	return img;
}

int
mb_ctl_store_install_filled(const struct mb_manifest_entry *e, const char *verified_path,
			    struct mb_image *img)
{
	struct item tmp = {0}, *it;
	char dest[4096 + 300];
	struct stat sb;
	int rc;

	if (st.state_dir == NULL) {
		rc = -ENODEV;
		goto fail;
	}
	if (!mb_image_name_valid(e->name, strlen(e->name)) || img == NULL ||
	    img->size != e->size || img->version != e->version ||
	    memcmp(img->sha256, e->sha256, MB_SHA256_LEN) != 0) {
		rc = -EINVAL;
		goto fail;
	}
	if (mb_manifest_find(&st.man, e->name) == NULL && st.man.count >= st.max_images) {
		rc = -ENOSPC;
		goto fail;
	}
	memcpy(tmp.e.name, e->name, sizeof(tmp.e.name));
	image_path(&tmp, dest, sizeof(dest));
	rc = mkdir_parents_of(dest);
	if (rc != 0)
		goto fail;
	if (rename(verified_path, dest) == -1 || stat(dest, &sb) == -1) {
		rc = -errno;
		goto fail;
	}
	rc = mb_manifest_set(&st.man, e);
	if (rc != 0)
		goto fail;
	rc = write_manifest();
	it = item_find(e->name);
	if (it == NULL) {
		it = calloc(1, sizeof(*it));
		if (it == NULL) {
			mb_image_unref(img);
			reconcile(); /* loads it from the file instead */
			return -ENOMEM;
		}
		it->next = st.items;
		st.items = it;
	} else {
		item_cancel_job(it);
		mb_manifest_entry_done(&it->e);
	}
	if (mb_manifest_entry_copy(&it->e, e) != 0) {
		/* the entry is in st.man: reconcile retries the copy and loads it */
		memset(&it->e, 0, sizeof(it->e));
		memcpy(it->e.name, e->name, sizeof(it->e.name));
		mb_image_unref(img);
		it->in_manifest = true;
		it->state = ITEM_LOADING;
		reconcile();
		return -ENOMEM;
	}
	/* The caller hashed exactly these bytes as they went to memory and to the
	 * file: publish them now.  reconcile() then sees the same entry and file
	 * and keeps this object. */
	it->in_manifest = true;
	if (it->img != NULL)
		mb_image_unref(it->img);
	it->img = img;
	it->st = sb;
	it->state = ITEM_OK;
	it->reason[0] = '\0';
	MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " verified while downloaded, %" PRIu64
	       " bytes in hugepages", e->name, e->version, e->size);
	publish();
	reconcile();
	return rc;
fail:
	mb_image_unref(img);
	return rc;
}

int
mb_ctl_store_retire(const char *name)
{
	int rc = mb_manifest_remove(&st.man, name);

	if (rc != 0)
		return rc;
	rc = write_manifest();
	reconcile();
	return rc;
}

int
mb_ctl_store_set_downloading(const struct mb_manifest_entry *e, bool on)
{
	struct item *it = item_find(e->name);

	if (on) {
		if (it == NULL) {
			it = calloc(1, sizeof(*it));
			if (it == NULL || mb_manifest_entry_copy(&it->e, e) != 0) {
				free(it);
				return -ENOMEM;
			}
			it->state = ITEM_DOWNLOADING;
			it->next = st.items;
			st.items = it;
		}
		if (it->state != ITEM_OK && it->state != ITEM_LOADING)
			it->state = ITEM_DOWNLOADING;
		return 0;
	}
	if (it == NULL)
		return -ENOENT;
	if (!it->in_manifest) {
		struct item **pp;

		for (pp = &st.items; *pp != it; pp = &(*pp)->next)
			;
		*pp = it->next;
		item_free(it);
	} else if (it->state == ITEM_DOWNLOADING) {
		if (it->img != NULL)
			it->state = ITEM_OK;
		else
			item_set_failed(it, "download failed");
	}
	return 0;
}

int
mb_ctl_store_get_manifest(struct mb_manifest *ret)
{
	return mb_manifest_copy(ret, &st.man);
}
