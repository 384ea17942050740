/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image store's hugepage cache, the mechanics (ctl_cache.c decides,
 * this file acts, once a second and whenever an image needs room):
 *
 *  - the budget is images.hugepage-budget; what the store keeps in it is
 *    its warm published objects and the pinned memory of jobs in flight
 *    (committed); demoted or replaced objects that sessions still hold are
 *    draining: allocated, but going;
 *  - to make room, idle warm images are demoted least recently served
 *    first: each gets a new object for the same version mapped from its
 *    file, published only once the worker has hashed the mapping (the file
 *    may have rotted since it was verified; then the image is withdrawn);
 *  - a busy or displaced mmap image is promoted back when room allows: the
 *    worker copies it from the mapping into new pinned memory, hashing the
 *    copy, one promotion at a time;
 *  - a budget lowered by a reload is enforced on the next tick.
 *
 * Images are immutable: sessions in flight keep the object they started
 * with, and its memory goes back to the budget when the last one ends.
 * Control thread; never blocks (copies and hashes run on the worker).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "ctl_cache.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "ctl_store_priv.h"
#include "mb_log.h"
#include "mb_time.h"

static bool
item_warm(const struct item *it)
{
	return it->img != NULL && it->img->mem == MB_IMAGE_MEM_HUGEPAGE;
}

uint64_t
store_cache_committed(const struct item *skip)
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

void
store_cache_observe(uint64_t now)
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
	e->len = img != NULL ? img->sb.len : mb_imgmem_len(it->e.size);
	e->last_use_ns = it->last_use_ns;
	e->warm = item_warm(it);
	if (img != NULL)
		e->busy = mb_cache_busy(atomic_load(&img->active_users), it->last_use_ns, now);
	e->fixed = it->job != NULL;
	e->want = it->want_hot;
}

/* The live figures the new object of a demotion or promotion carries on. */
static void
carry_figures(struct mb_image *to, const struct mb_image *from)
{
	atomic_store(&to->last_served_ns, atomic_load(&from->last_served_ns));
	atomic_store(&to->bytes_served, atomic_load(&from->bytes_served));
}

/*
 * Start replacing a warm item's published object by a new one mapped from
 * its file (same version, same bytes: the file must still be the one
 * verified).  The identity check (inode, size, mtime) cannot see bytes that
 * rotted or were rewritten in place, so the mapping is hashed on the worker
 * before it is published (store_demote_done); until then the hugepage
 * object keeps serving, and its memory counts as draining.  0 or -errno.
 */
static int
item_demote(struct item *it)
{
	struct mb_image_ident id = mb_image_ident_of(it->img);
	struct stat sb;
	struct job *j;
	int rc;

	j = store_job_new(JOB_DEMOTE, it);
	if (j == NULL || mb_hash_init(&j->hash) != 0) {
		if (j != NULL)
			store_job_free(j);
		return -ENOMEM;
	}
	if (stat(j->path, &sb) == -1 || !store_same_file(&sb, &it->st)) {
		MB_LOG(WARNING, STORE, "image '%s' changed on disk, not demoting it, ignoring",
		       it->e.name);
		store_job_free(j);
		return -ESTALE; /* the next reload re-verifies it */
	}
	j->img = mb_imgmem_mapped(&id, j->path);
	if (j->img == NULL) {
		rc = -errno;
		MB_LOG(WARNING, STORE, "cannot map image '%s': %s, ignoring", it->e.name,
		       strerror(errno));
		store_job_free(j);
		return rc;
	}
	carry_figures(j->img, it->img);
	j->prev = mb_image_ref(it->img);
	j->st = it->st;
	it->want_hot = false;
	store_job_queue(j);
	return 0;
}

/* A demotion's hash finished: publish the verified mapping, or withdraw the
 * image when the file no longer holds its bytes (the hugepage copy was
 * verified, but the file is what a restart, a reload or the next demotion
 * would serve).  Frees j.  Returns true when the table changes. */
bool
store_demote_done(struct item *it, struct job *j)
{
	if (it->img != j->prev || j->w.rc == -ECANCELED) { /* the item moved on meanwhile */
		store_job_free(j);
		return false;
	}
	if (j->w.rc == 0) {
		carry_figures(j->img, j->prev);
		it->img = j->img;
		j->img = NULL;
		mb_image_unref(j->prev); /* the item's reference to the hugepage object */
		st.evictions++;
		MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " demoted from hugepages to an mmap",
		       it->e.name, it->e.version);
		store_job_free(j);
		return true;
	}
	store_job_fault_reason(j);
	MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused when demoted to its file: %s",
	       it->e.name, it->e.version, j->w.err);
	store_item_set_failed(it, j->w.err);
	store_job_free(j);
	return true;
}

bool
store_cache_make_room(struct item *self, uint64_t len, uint64_t before_ns, uint64_t now)
{
	uint64_t committed, need, freed = 0, budget = mb_imgmem_budget();
	struct mb_cache_ent *e;
	struct item **v;
	size_t n = 0, i = 0, k, *pick;

	if (budget == 0 || len > budget)
		return budget == 0;
	committed = store_cache_committed(self);
	if (committed + len <= budget)
		return true;
	need = committed + len - budget;
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
 * worker (store_promote_done publishes it).  0 or -errno. */
static int
item_promote(struct item *it)
{
	struct mb_image_ident id = mb_image_ident_of(it->img);
	struct job *j = store_job_new(JOB_PROMOTE, it);

	if (j == NULL || mb_hash_init(&j->hash) != 0 || (j->img = mb_imgmem_pinned(&id)) == NULL) {
		if (j != NULL)
			store_job_free(j);
		return -ENOMEM;
	}
	j->src = mb_image_ref(it->img);
	j->st = it->st;
	st.promoting = true;
	MB_LOG(INFO, STORE, "promoting image '%s' v%" PRIu64 " into hugepages", it->e.name,
	       it->e.version);
	store_job_queue(j);
	return 0;
}

/* A promotion finished: publish the hugepage copy, or keep the mmap one; a
 * checksum mismatch means the file changed under the mapping, so the image
 * is withdrawn.  Frees j.  Returns true when the table changes. */
bool
store_promote_done(struct item *it, struct job *j)
{
	struct mb_image *old = it->img;

	if (old != j->src) { /* the item moved on meanwhile */
		store_job_free(j);
		return false;
	}
	if (j->w.rc == 0) {
		carry_figures(j->img, old);
		it->img = j->img;
		j->img = NULL;
		mb_image_unref(old);
		it->want_hot = false;
		st.promotions++;
		MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " promoted into hugepages", it->e.name,
		       it->e.version);
		store_job_free(j);
		return true;
	}
	st.promote_failed++;
	if (j->w.rc == -EBADMSG)
		snprintf(j->w.err, sizeof(j->w.err), "checksum mismatch in the mapped file");
	store_job_fault_reason(j);
	if (j->w.rc == -EBADMSG) {
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name, it->e.version,
		       j->w.err);
		store_item_set_failed(it, j->w.err);
		store_job_free(j);
		return true;
	}
	if (j->w.rc != -ECANCELED)
		MB_LOG(WARNING, STORE, "promoting image '%s' failed: %s, keeping the mmap copy",
		       it->e.name, j->w.err);
	store_job_free(j);
	return false;
}

void
mb_ctl_store_cache_tick(uint64_t now)
{
	uint64_t budget = mb_imgmem_budget();
	struct mb_cache_ent *e;
	struct item **v, *it;
	size_t n = 0, i = 0;
	long c;

	store_cache_observe(now);
	/* A budget lowered by a reload: shrink to it (idle images only). */
	if (budget != 0 && store_cache_committed(NULL) > budget)
		(void)store_cache_make_room(NULL, 0, now, now);
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
	c = mb_cache_pick_candidate(e, n, budget);
	it = c >= 0 ? v[c] : NULL;
	free(e);
	free(v);
	if (it == NULL)
		return;
	if (budget != 0) {
		/* Only images colder than the candidate make room for it. */
		if (!store_cache_make_room(it, it->img->sb.len, it->last_use_ns, now))
			return;
		if (!mb_imgmem_fits(it->img->sb.len))
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

int
store_cache_start(void)
{
	st.cache_timer = mb_ctl_timer_new(MB_CACHE_TICK_MS, MB_CACHE_TICK_MS, cache_timer, NULL);
	return st.cache_timer != NULL ? 0 : -errno;
}

void
store_cache_stop(void)
{
	mb_ctl_timer_free(st.cache_timer);
	st.cache_timer = NULL;
}
