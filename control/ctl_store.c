/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image store: <state-dir>/manifest.json lists the images, their bytes
 * live in <state-dir>/images/<name>.  At start and on every reload each
 * listed image is verified (exact size, SHA-256) while it is copied into
 * pinned ("hugepage") memory within images.hugepage-budget or, when that is
 * short, mapped from its file (ctl_imgmem.h owns both kinds of memory).
 * Only a verified image is published in the RCU table; a missing, truncated
 * or corrupt one is reported as failed with its reason and never served.
 *
 * The bytes are read and hashed on the shared worker (ctl_worker.h), so a
 * 10 GB image never stalls the control socket: the control thread
 * allocates the memory and submits a job, the worker reads and hashes in
 * slices, and the job's completion publishes the object or fails the item.
 * A reload that changes nothing (same manifest entry, same file identity
 * and mtime) keeps the image object; anything else is re-verified into a
 * new object, and the old one stays published until the new one is
 * verified (or is withdrawn when it fails).
 *
 * The hugepage budget is an LRU cache (policy in ctl_cache.c, mechanics in
 * ctl_store_cache.c).  Every mapping is guarded against SIGBUS: a read
 * error or a truncation under it turns the lost pages into zeroes instead
 * of killing the thread that reads them (a dataplane lcore), and fault_io
 * withdraws the image, ends its Frisbee sessions and resets the HTTP and
 * FTP transfers sending from it.
 *
 * Installs and withdrawals (mb_ctl_store_retire) are all or nothing, in
 * memory and on disk: the rewrite of manifest.json is the commit.  Before
 * it, the file an install replaces or a withdrawal removes is parked under
 * tmp/ (and an install journaled), so a failed rewrite puts everything
 * back, and the start undoes or finishes what a crash interrupted
 * (install_recover, retired_recover).
 *
 * Not here: downloading (sync uses mb_ctl_store_install, or fills an
 * mb_ctl_store_image_alloc object as it downloads and hands it to
 * mb_ctl_store_install_filled, which publishes it without a second pass).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <jansson.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_dp.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "ctl_store_priv.h"
#include "mb_cleanup.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_readahead.h"
#include "mb_time.h"

struct store st = { .fault_fd = -1 };

static void reconcile(void);
static int fsync_dir(const char *path);
static int make_durable(const char *path, size_t first);
static int mkdir_parents_of(const char *path, size_t *ret_first);
static int retired_path(const char *name, char *buf, size_t len);
static int journal_path(char *buf, size_t len);

#ifdef MB_FAULT_HOOKS
/* Test builds (-Dfault_hooks=true): MB_FAULT_KILL_AT=<step> kills the
 * daemon with SIGKILL when it reaches that step of an install or a
 * withdrawal, so system tests can check what a crash there leaves. */
static void
fault_point(const char *step)
{
	const char *at = getenv("MB_FAULT_KILL_AT");

	if (at != NULL && strcmp(at, step) == 0) {
		MB_LOG(NOTICE, STORE, "fault hook: SIGKILL at '%s'", step);
		(void)raise(SIGKILL);
	}
}
#else
static inline void
fault_point(const char *step)
{
	(void)step;
}
#endif

/* ---- items ------------------------------------------------------------------ */

struct item *
store_item_find(const char *name)
{
	for (struct item *it = st.items; it != NULL; it = it->next)
		if (strcmp(it->e.name, name) == 0)
			return it;
	return NULL;
}

void
store_image_path(const struct item *it, char *buf, size_t len)
{
	snprintf(buf, len, "%s/images/%s", st.state_dir, it->e.name);
}

bool
store_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

void
store_item_set_failed(struct item *it, const char *reason)
{
	it->state = ITEM_FAILED;
	snprintf(it->reason, sizeof(it->reason), "%s", reason);
	if (it->img != NULL) {
		mb_image_unref(it->img);
		it->img = NULL;
	}
}

/* Detach a job in flight from its item: the worker is asked to stop it and
 * its completion discards it. */
static void
item_cancel_job(struct item *it)
{
	if (it->job != NULL) {
		it->job->item = NULL;
		mb_worker_cancel(&it->job->w);
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

static struct item *
item_add(const struct mb_manifest_entry *e, enum item_state state)
{
	struct item *it = calloc(1, sizeof(*it));

	if (it == NULL || mb_manifest_entry_copy(&it->e, e) != 0) {
		free(it);
		return NULL;
	}
	it->state = state;
	it->next = st.items;
	st.items = it;
	return it;
}

static void
item_unlink(struct item *it)
{
	struct item **pp;

	for (pp = &st.items; *pp != it; pp = &(*pp)->next)
		;
	*pp = it->next;
}

/* ---- publishing ------------------------------------------------------------- */

static void
publish(void *arg)
{
	struct mb_image_table *t;
	uint32_t n = 0;

	(void)arg;
	if (st.state_dir == NULL)
		return; /* stopped meanwhile: the table is gone for good */
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

static struct mb_ctl_defer publish_defer;

/* Completions of one loop pass publish once, after the pass. */
void
store_publish_soon(void)
{
	mb_ctl_defer(&publish_defer, publish, NULL);
}

/* ---- jobs on the worker ---------------------------------------------------------- */

static void job_done(struct mb_work *w);

struct job *
store_job_new(enum job_kind kind, struct item *it)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	mb_work_init(&j->w);
	j->kind = kind;
	j->item = it;
	j->fd = -1;
	store_image_path(it, j->path, sizeof(j->path));
	return j;
}

void
store_job_free(struct job *j)
{
	if (j->src != NULL) {
		mb_image_unref(j->src);
		st.promoting = false;
	}
	if (j->prev != NULL)
		mb_image_unref(j->prev);
	mb_image_unref(j->img);
	if (j->fd >= 0)
		(void)close(j->fd);
	mb_hash_done(&j->hash);
	free(j);
}

void
store_job_queue(struct job *j)
{
	struct mb_image *from = j->kind == JOB_PROMOTE ? j->src : j->img;

	/* A pinned load reads the file into the object; everything else hashes
	 * memory that is already there (a mapping; or the mapping promoted,
	 * copied into the new pinned object first). */
	if (j->fd >= 0) {
		j->w.src_fd = j->fd;
		j->w.dst = j->img->sb.data;
		j->w.flags |= MB_WORK_EXACT;
	} else {
		j->w.src = from->sb.data;
		if (j->kind == JOB_PROMOTE)
			j->w.dst = j->img->sb.data;
	}
	j->w.len = j->img->size;
	j->w.hash = &j->hash;
	j->w.flags |= MB_WORK_FINAL;
	memcpy(j->w.want, j->img->sha256, MB_SHA256_LEN);
	j->w.done = job_done;
	j->w.arg = j;
	if (j->item != NULL)
		j->item->job = j;
	st.busy++;
	mb_worker_submit(&j->w);
}

void
store_job_fault_reason(struct job *j)
{
	uint64_t off;

	if (mb_imgmem_faulted(j->img, &off) || mb_imgmem_faulted(j->src, &off))
		snprintf(j->w.err, sizeof(j->w.err), "read error or file truncated under the "
			 "mapping (at byte %" PRIu64 ")", off);
}

/* A load completed: publish the verified object, or fail the item. */
static bool
load_done(struct item *it, struct job *j)
{
	if (j->w.rc == -ECANCELED) {
		store_job_free(j);
		return false;
	}
	if (j->w.rc != 0) {
		store_job_fault_reason(j);
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name, it->e.version,
		       j->w.err);
		store_item_set_failed(it, j->w.err);
	} else {
		MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " verified, %" PRIu64 " bytes in %s",
		       it->e.name, it->e.version, it->e.size,
		       j->img->mem == MB_IMAGE_MEM_HUGEPAGE ? "hugepages" : "an mmap");
		if (it->img != NULL)
			mb_image_unref(it->img);
		it->img = j->img;
		j->img = NULL;
		it->st = j->st;
		it->state = ITEM_OK;
		it->reason[0] = '\0';
	}
	store_job_free(j);
	return true;
}

/* The worker finished (or cancelled) a job: control thread. */
static void
job_done(struct mb_work *w)
{
	struct job *j = w->arg;
	struct item *it = j->item;
	bool changed;

	if (it == NULL) { /* the item moved on or went away */
		store_job_free(j);
		return;
	}
	it->job = NULL;
	st.busy--;
	switch (j->kind) {
	case JOB_PROMOTE:
		changed = store_promote_done(it, j);
		break;
	case JOB_DEMOTE:
		changed = store_demote_done(it, j);
		break;
	default:
		changed = load_done(it, j);
		break;
	}
	if (changed)
		store_publish_soon();
}

/* ---- loading ------------------------------------------------------------------- */

static void
load_fail(struct item *it, struct job *j, const char *why)
{
	MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " refused: %s", it->e.name, it->e.version, why);
	store_item_set_failed(it, why);
	if (j != NULL)
		store_job_free(j);
}

/* Start verifying it->e from disk. */
static void
item_load(struct item *it)
{
	struct mb_image_ident id = mb_image_ident_entry(&it->e);
	char why[MB_MANIFEST_ERRLEN];
	struct job *j;
	uint64_t len = mb_imgmem_len(it->e.size);
	struct stat sb;

	item_cancel_job(it);
	j = store_job_new(JOB_LOAD, it);
	if (j == NULL || mb_hash_init(&j->hash) != 0) {
		load_fail(it, j, "out of memory");
		return;
	}
	errno = 0;
	if (stat(j->path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		int e = errno;

		snprintf(why, sizeof(why), "%s", e == ENOENT ? "missing" :
			 e != 0 ? strerror(e) : "not a regular file");
		load_fail(it, j, why);
		return;
	}
	if ((uint64_t)sb.st_size != it->e.size) {
		snprintf(why, sizeof(why), "%s (%jd bytes, manifest says %" PRIu64 ")",
			 (uint64_t)sb.st_size < it->e.size ? "truncated" : "size mismatch",
			 (intmax_t)sb.st_size, it->e.size);
		load_fail(it, j, why);
		return;
	}
	j->st = sb;
	if (!mb_imgmem_fits(len)) {
		uint64_t now = mb_time_mono_ns();

		/* It will be served from an mmap now; if idle images make way (or
		 * memory is draining), the cache timer promotes it once it fits. */
		store_cache_observe(now);
		if (store_cache_make_room(it, len, now, now)) {
			it->want_hot = true;
			it->last_use_ns = now;
		}
	}
	j->img = mb_imgmem_new(&id, j->path);
	if (j->img == NULL) {
		MB_LOG(ERR, STORE, "image '%s': no memory for %" PRIu64 " bytes: %s", it->e.name,
		       it->e.size, strerror(errno));
		store_item_set_failed(it, "no memory");
		store_job_free(j);
		return;
	}
	if (j->img->mem == MB_IMAGE_MEM_HUGEPAGE) {
		struct stat fs;

		/* read through a descriptor of the very file whose identity is kept */
		j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
		if (j->fd == -1 || fstat(j->fd, &fs) == -1 || !store_same_file(&fs, &sb)) {
			load_fail(it, j, j->fd == -1 && errno == ENOENT ? "missing" :
				  "file changed while loading");
			return;
		}
	}
	if (it->state != ITEM_OK)
		it->state = ITEM_LOADING;
	store_job_queue(j);
}

/*
 * A SIGBUS hit an image mapping (the guard woke us): the pages from the
 * fault on now read as zeroes.  Withdraw every image whose published object
 * faulted, with the reason in health, and ask the master server to end its
 * Frisbee sessions on it and the dataplane to reset the HTTP and FTP
 * transfers sending from it, so nothing goes on sending zeroes as the
 * image.  A mapping that is no longer published (a replaced version still
 * held by sessions) cannot be truncated through its path, only lose pages
 * to a read error.
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

		if (it->img == NULL || !mb_imgmem_faulted(it->img, &off))
			continue;
		snprintf(why, sizeof(why), "read error or file truncated under the mapping "
			 "(at byte %" PRIu64 ")", off);
		MB_LOG(ERR, STORE, "image '%s' v%" PRIu64 " withdrawn: %s", it->e.name,
		       it->e.version, why);
		mb_ctl_master_stop_image(it->e.name, it->e.version);
		(void)mb_ctl_dp()->tcp_abort_image(it->img); /* HTTP and FTP transfers on it */
		store_item_set_failed(it, why);
		changed = true;
	}
	if (changed)
		publish(NULL);
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
		struct item *it = store_item_find(e->name);
		char path[4096 + 300];
		struct stat sb;

		if (it != NULL && it->in_manifest && mb_manifest_entry_same(&it->e, e)) {
			if (it->state == ITEM_LOADING)
				continue;
			if (it->state == ITEM_OK) {
				store_image_path(it, path, sizeof(path));
				if (stat(path, &sb) == 0 && store_same_file(&sb, &it->st))
					continue; /* unchanged: keep the object */
			}
		}
		if (it == NULL) {
			it = item_add(e, ITEM_LOADING);
			if (it == NULL) {
				MB_LOG(ERR, STORE, "out of memory for image '%s', ignoring",
				       e->name);
				continue;
			}
		} else {
			mb_manifest_entry_done(&it->e);
			if (mb_manifest_entry_copy(&it->e, e) != 0) {
				store_item_set_failed(it, "out of memory");
				continue;
			}
		}
		it->in_manifest = true;
		/* The old version (if any) keeps serving until the new one is verified. */
		item_load(it);
		if (it->state == ITEM_FAILED)
			changed = true;
	}
	if (changed)
		publish(NULL);
}

/* ---- withdrawals: the parked files ------------------------------------------ */

/* Where a withdrawal parks the file of image `name` until manifest.json no
 * longer names it: <state-dir>/tmp/<SHA-256 of the name, hex>.retired (the
 * name may be longer than NAME_MAX; sync's .part files never end so).
 * 0 or -errno. */
static int
retired_path(const char *name, char *buf, size_t len)
{
	uint8_t d[MB_SHA256_LEN];
	char hex[2 * MB_SHA256_LEN + 1];
	unsigned int dl;

	if (EVP_Digest(name, strlen(name), d, &dl, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	mb_sha256_to_hex(d, hex);
	if ((size_t)snprintf(buf, len, "%s/tmp/%s.retired", st.state_dir, hex) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* A file name under tmp/ that retired_path makes. */
static bool
is_retired_name(const char *n)
{
	size_t l = strlen(n);

	return l > 8 && strcmp(n + l - 8, ".retired") == 0;
}

/*
 * Undo an install a crash interrupted (tmp/install.json, journal_write),
 * against `m`, the manifest about to be applied: when m names the image
 * with the journaled digest the install was recorded and only the journal
 * goes; otherwise a file under images/ that is the journaled download (same
 * device and inode) goes back to where it came from (its .part, which sync
 * then installs without a request), and retired_recover puts back the
 * previous version's parked file.  The journal is the daemon's own file,
 * but is checked like any input: bounded, the name valid, `from` a plain
 * file name under tmp/.
 */
static void
install_recover(const struct mb_manifest *m)
{
	char path[4096 + 32], img[4096 + 300], tmpdir[4096 + 8], hex[2 * MB_SHA256_LEN + 1];
	const struct mb_manifest_entry *e;
	const char *name, *sha, *from;
	json_error_t je;
	struct stat sb;
	json_t *j;

	if (journal_path(path, sizeof(path)) != 0 || stat(path, &sb) != 0)
		return;
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp/", st.state_dir);
	j = sb.st_size <= 16384 ? json_load_file(path, JSON_REJECT_DUPLICATES, &je) : NULL;
	name = json_string_value(json_object_get(j, "name"));
	sha = json_string_value(json_object_get(j, "sha256"));
	from = json_string_value(json_object_get(j, "from"));
	if (name == NULL || sha == NULL || from == NULL ||
	    !mb_image_name_valid(name, strlen(name)) ||
	    strncmp(from, tmpdir, strlen(tmpdir)) != 0 || strchr(from + strlen(tmpdir), '/') ||
	    !json_is_integer(json_object_get(j, "ino"))) {
		/* torn before any rename (it is fsync'd first), or not ours */
		MB_LOG(WARNING, STORE, "'%s' unreadable, removed (an install interrupted before "
		       "it changed anything)", path);
		goto done;
	}
	e = mb_manifest_find(m, name);
	if (e != NULL) {
		mb_sha256_to_hex(e->sha256, hex);
		if (strcmp(hex, sha) == 0)
			goto done; /* recorded: the install happened */
	}
	snprintf(img, sizeof(img), "%s/images/%s", st.state_dir, name);
	if (lstat(img, &sb) == 0 &&
	    (json_int_t)sb.st_dev == json_integer_value(json_object_get(j, "dev")) &&
	    (json_int_t)sb.st_ino == json_integer_value(json_object_get(j, "ino"))) {
		if (rename(img, from) == 0)
			MB_LOG(NOTICE, STORE, "image '%s': its install was interrupted before "
			       "manifest.json named it: the download is back in '%s'", name, from);
		else
			MB_LOG(ERR, STORE, "image '%s': cannot move '%s' back to '%s' after an "
			       "interrupted install: %s", name, img, from, strerror(errno));
	}
done:
	json_decref(j);
	(void)unlink(path);
}

/*
 * Finish or undo the withdrawals a crash interrupted, against `m`, the
 * manifest about to be applied: a parked file of an image m still names was
 * parked before the commit, and goes back to images/ (unless a file is
 * there); any other parked file belongs to an image whose withdrawal was
 * recorded, and is deleted.  Best effort: what fails is logged, and the
 * image then fails as missing rather than being served from nowhere.
 */
static void
retired_recover(const struct mb_manifest *m)
{
	char dir[4096 + 8], parked[4096 + 100], path[4096 + 300];
	struct dirent *de;
	unsigned found = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", st.state_dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		found += is_retired_name(de->d_name);
	if (found == 0) {
		closedir(d);
		return;
	}
	for (uint32_t i = 0; i < m->count; i++) {
		const char *name = m->entries[i].name;
		struct stat sb;
		size_t first;

		if (retired_path(name, parked, sizeof(parked)) != 0 || lstat(parked, &sb) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/images/%s", st.state_dir, name);
		if (lstat(path, &sb) == 0) {
			(void)unlink(parked);
			continue;
		}
		if (mkdir_parents_of(path, &first) != 0 || rename(parked, path) != 0) {
			MB_LOG(ERR, STORE, "image '%s': cannot put its file back from '%s' after an "
			       "interrupted withdrawal: %s", name, parked, strerror(errno));
			continue;
		}
		(void)make_durable(path, first);
		MB_LOG(NOTICE, STORE, "image '%s': its withdrawal was interrupted before "
		       "manifest.json changed: file put back, still served", name);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!is_retired_name(de->d_name))
			continue;
		snprintf(parked, sizeof(parked), "%s/%s", dir, de->d_name);
		if (unlink(parked) == 0)
			MB_LOG(NOTICE, STORE, "removed '%s', the file of an image whose withdrawal "
			       "was recorded before a crash", parked);
	}
	closedir(d);
	(void)fsync_dir(dir);
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
	mb_imgmem_set_budget(cfg->hugepage_budget);
	mb_ra_set_window(cfg->readahead);
	st.max_images = cfg->max_images;
	st.max_image_size = cfg->max_image_size;
}

/* Apply the limits and re-read manifest.json.  0 or -errno with why. */
static int
manifest_reload(const struct mb_config *cfg, char *why, size_t whylen)
{
	struct mb_manifest_limits lim = { 0 };
	char path[4096 + 32];
	struct mb_manifest m;
	int rc;

	apply_limits(cfg);
	lim.max_images = st.max_images;
	lim.max_image_size = st.max_image_size;
	rc = manifest_path(path, sizeof(path));
	if (rc != 0)
		return rc;
	rc = mb_manifest_load_file(path, &lim, &m, why, whylen);
	if (rc == -ENOENT) {
		MB_LOG(NOTICE, STORE, "no '%s' yet, starting with an empty store", path);
		memset(&m, 0, sizeof(m));
	} else if (rc != 0) {
		MB_LOG(ERR, STORE, "manifest '%s' refused: %s", path, why);
		return rc;
	}
	install_recover(&m);
	retired_recover(&m);
	mb_manifest_done(&st.man);
	st.man = m;
	reconcile();
	return 0;
}

/* The store's reconfig: images.* are reloadable, and a reload re-reads the
 * manifest.  0 or -errno with err. */
static int
store_reconfig(const struct mb_config *cfg, char *err, size_t errlen)
{
	char why[MB_MANIFEST_ERRLEN] = "";
	int rc = manifest_reload(cfg, why, sizeof(why));

	if (rc != 0)
		snprintf(err, errlen, "manifest: %s", why);
	return rc;
}

/* Master server: a name being loaded or downloaded answers TRYAGAIN. */
static bool
store_pending(const char *name, uint64_t *ret_size, int64_t *ret_mtime, void *arg)
{
	struct item *it = store_item_find(name);

	(void)arg;
	if (it == NULL || (it->state != ITEM_LOADING && it->state != ITEM_DOWNLOADING) ||
	    it->img != NULL)
		return false;
	*ret_size = it->e.size;
	*ret_mtime = it->e.mtime;
	return true;
}

/* ---- the subsystem ---------------------------------------------------------------- */

static const struct mb_ctl_action store_actions[] = {
	{ "images", store_action_images, "images in the store: version, state, memory, use" },
};

static int
store_start(const struct mb_config *cfg)
{
	char path[4096 + 32], err[MB_MANIFEST_ERRLEN] = "";
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
	/* Without the SIGBUS guard no file is mapped, so an image that does
	 * not fit in pinned memory is refused rather than risked. */
	st.fault_fd = mb_imgmem_guard_init();
	if (st.fault_fd < 0)
		MB_LOG(ERR, STORE, "no SIGBUS guard for image mappings (%s): images that do not "
		       "fit in hugepages will not be served, continuing", strerror(-st.fault_fd));
	else if ((rc = mb_ctl_loop_add(st.fault_fd, EPOLLIN, fault_io, NULL)) != 0)
		return rc;
	/* Read-ahead for mapped images, off the lcores (doc/image-store.md). */
	if (st.fault_fd >= 0 && (rc = mb_ra_start(cfg->readahead)) != 0)
		MB_LOG(WARNING, STORE, "no read-ahead thread: %s, mmap images are read by "
		       "the lcores' page faults, continuing", strerror(-rc));
	rc = store_cache_start();
	if (rc != 0)
		MB_LOG(WARNING, STORE, "no cache timer: %s, images stay where they load, ignoring",
		       strerror(-rc));
	mb_ctl_master_set_pending(store_pending, NULL);
	rc = manifest_reload(cfg, err, sizeof(err));
	if (rc != 0 && rc != -ENOENT) {
		/* Start serving nothing rather than not at all; health says why. */
		MB_LOG(WARNING, STORE, "starting with an empty store: %s", err);
	}
	return 0;
}

/* A completed job publishes after its loop pass (store_publish_soon): until
 * then the store is still busy, or a timer in that pass (readiness) would
 * see the work done and the image not yet served. */
unsigned
mb_ctl_store_busy(void)
{
	return st.busy + (publish_defer.queued ? 1u : 0u);
}

static void
store_stop(void)
{
	mb_ra_stop(); /* drops its references to mapped images */
	store_cache_stop();
	while (st.items != NULL) {
		struct item *it = st.items;

		st.items = it->next;
		item_free(it);
	}
	st.promoting = false;
	mb_image_table_publish(NULL);
	/* Release the images now, while the allocator's free still works. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	if (st.fault_fd >= 0)
		(void)mb_ctl_loop_del(st.fault_fd); /* the guard's: stays open */
	st.fault_fd = -1;
	st.busy = 0;
	mb_manifest_done(&st.man);
	free(st.state_dir);
	st.state_dir = NULL;
}

const struct mb_ctl_subsys mb_ctl_subsys_store = {
	.name = "store",
	.title = "the image store",
	.start = store_start,
	.reconfig = store_reconfig,
	.stop = store_stop,
	.actions = store_actions,
	.n_actions = MB_ARRAY_SIZE(store_actions),
	.health_key = "store",
	.health = store_health,
	.required = true,
};

/* ---- the API for sync ---------------------------------------------------------------- */

/* Make the missing directories above `path` (below the state directory).
 * *ret_first gets the length of the prefix naming the first one made (0:
 * none).  0 or -errno. */
static int
mkdir_parents_of(const char *path, size_t *ret_first)
{
	_cleanup_free_ char *p = strdup(path);
	size_t base = strlen(st.state_dir);

	*ret_first = 0;
	if (p == NULL)
		return -ENOMEM;
	for (char *q = p + base + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) == 0) {
			if (*ret_first == 0)
				*ret_first = (size_t)(q - p);
		} else if (errno != EEXIST) {
			return -errno;
		}
		*q = '/';
	}
	return 0;
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd == -1 || fsync(fd) == -1)
		rc = -errno;
	if (fd != -1)
		(void)close(fd);
	return rc;
}

/* The rename of a file to `path` (and the directories made for it from
 * prefix length `first` on) durable: fsync every directory that got a new
 * entry, from the file's own up to the parent of the first one made, so a
 * crash cannot leave manifest.json naming a file the directory lost. */
static int
make_durable(const char *path, size_t first)
{
	_cleanup_free_ char *p = strdup(path);
	char *slash;
	int rc;

	if (p == NULL)
		return -ENOMEM;
	while ((slash = strrchr(p, '/')) != NULL) {
		*slash = '\0';
		rc = fsync_dir(p);
		if (rc != 0)
			return rc;
		if (first == 0 || (size_t)(slash - p) < first)
			break; /* this directory existed before: its parent did not change */
	}
	return 0;
}

/* Rewrite manifest.json with m.  0 (written: the caller makes st.man
 * agree), or -errno with the file as it was. */
static int
write_manifest_of(const struct mb_manifest *m)
{
	char path[4096 + 32];
	int rc = manifest_path(path, sizeof(path));

	if (rc == 0)
		rc = mb_manifest_write_file(m, path);
	if (rc < 0) {
		MB_LOG(ERR, STORE, "cannot write '%s': %s", path, strerror(-rc));
	} else if (rc > 0) {
		/* replaced: memory follows the file, whatever its durability */
		MB_LOG(WARNING, STORE, "'%s' written, but the fsync of its directory failed: a "
		       "power loss may bring back the previous version", path);
		rc = 0;
	}
	return rc;
}

/* <state-dir>/tmp/install.json: the install in progress (one at a time, on
 * the control thread), so a start after a crash can undo it. */
static int
journal_path(char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/tmp/install.json", st.state_dir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Record, durably, that e is about to be installed from `from` (whose
 * identity is *sb): {"name", "sha256", "dev", "ino", "from"}.  A crash
 * before the manifest names e then finds it (install_recover).  0 or
 * -errno (nothing left behind).
 */
static int
journal_write(const struct mb_manifest_entry *e, const struct stat *sb, const char *from)
{
	char path[4096 + 32], hex[2 * MB_SHA256_LEN + 1];
	json_t *j;
	char *text = NULL;
	size_t len, off = 0;
	int fd, rc = 0;

	rc = journal_path(path, sizeof(path));
	if (rc != 0)
		return rc;
	mb_sha256_to_hex(e->sha256, hex);
	j = json_pack("{s:s, s:s, s:I, s:I, s:s}", "name", e->name, "sha256", hex, "dev",
		      (json_int_t)sb->st_dev, "ino", (json_int_t)sb->st_ino, "from", from);
	if (j != NULL)
		text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		rc = -errno;
		free(text);
		return rc;
	}
	while (rc == 0 && off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n == -1 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) == -1)
		rc = -errno;
	if (close(fd) == -1 && rc == 0)
		rc = -errno;
	free(text);
	if (rc == 0) {
		char *slash = strrchr(path, '/');

		*slash = '\0';
		rc = fsync_dir(path);
		*slash = '/';
	}
	if (rc != 0)
		(void)unlink(path);
	return rc;
}

static void
journal_remove(void)
{
	char path[4096 + 32];

	if (journal_path(path, sizeof(path)) == 0)
		(void)unlink(path);
}

/*
 * Move a verified download to images/<name>, make the rename durable, and
 * only then record e in the manifest.  *ret_st (may be NULL) gets the
 * installed file's identity.  0 or -errno.  Blocks on the fsyncs, as the
 * manifest's rewrite does.
 *
 * All or nothing, on disk too: the install is journaled (tmp/install.json)
 * and the previous version's file parked (tmp/<hex>.retired) before the
 * download takes its place; when a step after that fails (a full disk
 * refusing the manifest's rewrite, say), the in-memory manifest keeps its
 * previous entry, the file goes back to verified_path and the previous
 * file to images/, so the caller publishes nothing, still has its verified
 * file, and the manifest on disk never lacks an image that is served.  A
 * crash in between is undone at the next start (install_recover).
 */
static int
install_file(const struct mb_manifest_entry *e, const char *verified_path, struct stat *ret_st)
{
	char dest[4096 + 300], parked[4096 + 100], tmpdir[4096 + 8];
	struct mb_manifest_entry prev;
	const struct mb_manifest_entry *old;
	bool had = false, parked_old = false;
	struct stat vsb, dsb;
	size_t first;
	int rc;

	if (st.state_dir == NULL)
		return -ENODEV;
	if (!mb_image_name_valid(e->name, strlen(e->name)))
		return -EINVAL;
	old = mb_manifest_find(&st.man, e->name);
	if (old == NULL && st.man.count >= st.max_images)
		return -ENOSPC;
	if (old != NULL) {
		if (mb_manifest_entry_copy(&prev, old) != 0)
			return -ENOMEM;
		had = true;
	}
	snprintf(dest, sizeof(dest), "%s/images/%s", st.state_dir, e->name);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", st.state_dir);
	rc = retired_path(e->name, parked, sizeof(parked));
	if (rc != 0)
		goto out;
	if (stat(verified_path, &vsb) == -1) {
		rc = -errno;
		goto out;
	}
	if (lstat(dest, &dsb) == 0 && S_ISDIR(dsb.st_mode)) {
		rc = -EISDIR; /* the name is a directory of other images' */
		goto out;
	}
	rc = mkdir_parents_of(dest, &first);
	if (rc != 0)
		goto out;
	if (mkdir(tmpdir, 0750) == -1 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	rc = journal_write(e, &vsb, verified_path);
	if (rc != 0) {
		MB_LOG(ERR, STORE, "image '%s': cannot journal the install in '%s': %s", e->name,
		       tmpdir, strerror(-rc));
		goto out;
	}
	if (rename(dest, parked) == 0) {
		parked_old = true;
		rc = fsync_dir(tmpdir);
		if (rc != 0)
			goto unpark;
	} else if (errno != ENOENT) {
		rc = -errno;
		goto unjournal;
	}
	fault_point("install-parked");
	if (rename(verified_path, dest) == -1) {
		rc = -errno;
		goto unpark;
	}
	rc = make_durable(dest, first);
	if (rc != 0) {
		MB_LOG(ERR, STORE, "cannot fsync the directory of '%s': %s", dest, strerror(-rc));
		goto undo;
	}
	fault_point("install-renamed");
	if (ret_st != NULL && stat(dest, ret_st) == -1) {
		rc = -errno;
		goto undo;
	}
	rc = mb_manifest_set(&st.man, e);
	if (rc != 0)
		goto undo;
	rc = write_manifest_of(&st.man);
	if (rc == 0) {
		if (parked_old)
			(void)unlink(parked);
		journal_remove();
		goto out;
	}
	/* the manifest on disk still says what it said: so does st.man */
	if (had)
		(void)mb_manifest_set(&st.man, &prev);
	else
		(void)mb_manifest_remove(&st.man, e->name);
undo:
	if (rename(dest, verified_path) == -1)
		MB_LOG(ERR, STORE, "cannot move '%s' back to '%s': %s", dest, verified_path,
		       strerror(errno));
unpark:
	if (parked_old && rename(parked, dest) == -1)
		MB_LOG(ERR, STORE, "cannot move '%s' back to '%s': %s; the next start puts it back",
		       parked, dest, strerror(errno));
unjournal:
	journal_remove();
out:
	if (had)
		mb_manifest_entry_done(&prev);
	return rc;
}

int
mb_ctl_store_install(const struct mb_manifest_entry *e, const char *verified_path)
{
	struct item *it;
	int rc = install_file(e, verified_path, NULL);

	if (rc != 0) /* nothing changed */
		return rc;
	it = store_item_find(e->name);
	if (it != NULL && it->state == ITEM_DOWNLOADING && !it->in_manifest)
		it->state = ITEM_LOADING;
	reconcile();
	return rc;
}

struct mb_image *
mb_ctl_store_image_alloc(const struct mb_manifest_entry *e)
{
	struct mb_image_ident id = mb_image_ident_entry(e);
	uint64_t len = mb_imgmem_len(e->size);
	struct mb_image *img;

	if (st.state_dir == NULL || (st.max_image_size != 0 && e->size > st.max_image_size))
		return NULL;
	if (!mb_imgmem_fits(len)) {
		uint64_t now = mb_time_mono_ns();

		/* idle images may make way; if memory is still draining, the
		 * download takes the file path and the cache promotes it later */
		store_cache_observe(now);
		(void)store_cache_make_room(NULL, len, now, now);
	}
	img = mb_imgmem_pinned(&id);
	if (img != NULL)
		MB_LOG(DEBUG, STORE, "image '%s' v%" PRIu64 ": %" PRIu64 " hugepage bytes for the "
		       "download", e->name, e->version, len);
	return img;
}

int
mb_ctl_store_install_filled(const struct mb_manifest_entry *e, const char *verified_path,
			    struct mb_image *img)
{
	struct item *it;
	struct stat sb;
	int rc;

	if (img == NULL || img->size != e->size || img->version != e->version ||
	    memcmp(img->sha256, e->sha256, MB_SHA256_LEN) != 0) {
		mb_image_unref(img);
		return -EINVAL;
	}
	rc = install_file(e, verified_path, &sb);
	if (rc != 0) { /* nothing changed */
		mb_image_unref(img);
		return rc;
	}
	it = store_item_find(e->name);
	if (it == NULL) {
		it = item_add(e, ITEM_LOADING);
		if (it == NULL) {
			mb_image_unref(img);
			reconcile(); /* loads it from the file instead */
			return -ENOMEM;
		}
	} else {
		item_cancel_job(it);
		mb_manifest_entry_done(&it->e);
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
	}
	/* The caller hashed exactly these bytes as they went to memory and to
	 * the file: publish them now.  reconcile() then sees the same entry and
	 * file and keeps this object. */
	it->in_manifest = true;
	if (it->img != NULL)
		mb_image_unref(it->img);
	it->img = img;
	it->st = sb;
	it->state = ITEM_OK;
	it->reason[0] = '\0';
	MB_LOG(INFO, STORE, "image '%s' v%" PRIu64 " verified while downloaded, %" PRIu64
	       " bytes in hugepages", e->name, e->version, e->size);
	publish(NULL);
	reconcile();
	return rc;
}

/*
 * Withdraw `name`: park its file (tmp/<hash>.retired, both directories
 * fsync'd), rewrite manifest.json without it (the commit), then withdraw it
 * from memory and delete the parked file (sessions in flight keep their
 * memory: a mapping outlives the unlink).  On any failure before the commit
 * the file goes back and nothing changed: still published, in st.man, in
 * manifest.json and under images/.  A crash between the steps is finished
 * or undone by retired_recover at the next start.
 */
int
mb_ctl_store_retire(const char *name)
{
	char path[4096 + 300], parked[4096 + 100], tmpdir[4096 + 8], *slash;
	const struct mb_manifest_entry *e = mb_manifest_find(&st.man, name);
	struct mb_manifest next;
	bool moved = false;
	struct stat sb;
	int rc;

	if (e == NULL)
		return -ENOENT;
	if (st.state_dir == NULL)
		return -ENODEV;
	snprintf(path, sizeof(path), "%s/images/%s", st.state_dir, name);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", st.state_dir);
	rc = retired_path(name, parked, sizeof(parked));
	if (rc != 0)
		return rc;
	if (mkdir(tmpdir, 0750) == -1 && errno != EEXIST) {
		rc = -errno;
		MB_LOG(ERR, STORE, "cannot create '%s': %s", tmpdir, strerror(errno));
		return rc;
	}
	rc = mb_manifest_copy(&next, &st.man);
	if (rc != 0)
		return rc;
	(void)mb_manifest_remove(&next, name);
	if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		/* a directory of other images' (this one failed as missing):
		 * not its file, only the record goes */
	} else if (rename(path, parked) == 0) {
		moved = true;
		rc = fsync_dir(tmpdir);
		slash = strrchr(path, '/');
		*slash = '\0';
		if (rc == 0)
			rc = fsync_dir(path);
		*slash = '/';
		if (rc != 0) {
			MB_LOG(ERR, STORE, "cannot fsync the directories of '%s': %s", path,
			       strerror(-rc));
			goto put_back;
		}
	} else if (errno != ENOENT) { /* no file (failed as missing): only the record goes */
		rc = -errno;
		MB_LOG(ERR, STORE, "cannot move '%s' to '%s': %s", path, parked, strerror(errno));
		goto out;
	}
	fault_point("retire-parked");
	rc = write_manifest_of(&next);
	if (rc != 0)
		goto put_back;
	fault_point("retire-recorded");
	mb_manifest_done(&st.man);
	st.man = next;
	memset(&next, 0, sizeof(next));
	reconcile();
	if (moved && unlink(parked) == -1)
		MB_LOG(WARNING, STORE, "cannot remove '%s', the file of retired image '%s': %s; "
		       "the next start removes it", parked, name, strerror(errno));
	goto out;
put_back:
	if (moved && rename(parked, path) == -1)
		MB_LOG(ERR, STORE, "cannot move '%s' back to '%s': %s; the next start puts it back",
		       parked, path, strerror(errno));
out:
	mb_manifest_done(&next);
	return rc;
}

int
mb_ctl_store_set_downloading(const struct mb_manifest_entry *e, bool on)
{
	struct item *it = store_item_find(e->name);

	if (on) {
		if (it == NULL && (it = item_add(e, ITEM_DOWNLOADING)) == NULL)
			return -ENOMEM;
		if (it->state != ITEM_OK && it->state != ITEM_LOADING)
			it->state = ITEM_DOWNLOADING;
		return 0;
	}
	if (it == NULL)
		return -ENOENT;
	if (!it->in_manifest) {
		item_unlink(it);
		item_free(it);
	} else if (it->state == ITEM_DOWNLOADING) {
		if (it->img != NULL)
			it->state = ITEM_OK;
		else
			store_item_set_failed(it, "download failed");
	}
	return 0;
}

int
mb_ctl_store_get_manifest(struct mb_manifest *ret)
{
	return mb_manifest_copy(ret, &st.man);
}

enum mb_ctl_store_state
mb_ctl_store_state(const char *name)
{
	struct item *it = store_item_find(name);

	if (it == NULL)
		return MB_CTL_STORE_ABSENT;
	switch (it->state) {
	case ITEM_OK:
		return MB_CTL_STORE_OK;
	case ITEM_LOADING:
		return MB_CTL_STORE_LOADING;
	case ITEM_FAILED:
		return MB_CTL_STORE_FAILED;
	default:
		return MB_CTL_STORE_DOWNLOADING;
	}
}
