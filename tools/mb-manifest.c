/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mb-manifest: the ops-side tool that publishes images to minibosses.
 *
 *   mb-manifest build DIR [--site NAME=img1,img2...]... [--version-from mtime|N]
 *                   [--version IMAGE=N]... [--versions-from OLD.json]
 *                   [--generated EPOCH] [--chunks] -o manifest.json
 *   mb-manifest sign --key ops.key manifest.json        (writes manifest.json.sig)
 *   mb-manifest verify --pubkey ops.pub manifest.json   (checks manifest.json.sig)
 *   mb-manifest keygen ops.key ops.pub                  (Ed25519, PEM)
 *
 * `build` walks DIR (symlinks are not followed, dot files, manifest.json*,
 * *.part and *.tmp are skipped), hashes every regular file with SHA-256 and
 * writes the manifest the miniboss store and sync read (see doc/ops-nginx.md):
 * names are paths relative to DIR and must be valid image names.  Without
 * --site an entry carries no "sites" and goes to every miniboss; with
 * --site, an image goes to the sites that list it (and images no site lists
 * get no "sites" key, so they go everywhere).  An image's version is, first
 * match wins: its --version, its version in the manifest --versions-from
 * names (republishing a directory keeps the versions boss already knows),
 * --version-from N, or its mtime.  --generated sets the manifest's
 * "generated" time (default now; a rollback check compares it).  --chunks
 * adds each image's "chunk_sha256", the SHA-256 of every 1 MiB chunk, with
 * which a syncing miniboss checks each chunk as it arrives and serves it
 * before the whole image is there (about 66 manifest bytes per MiB of
 * image; minibosses that predate it ignore the key).  The output
 * is written atomically (tmp + fsync + rename) so nginx never serves half a
 * manifest; sign it afterwards, and publish the .sig right after the
 * manifest.  The same command builds a miniboss's own state directory
 * (<state>/images and <state>/manifest.json), which is how the tests, the
 * demo and the benchmarks make one.
 *
 * It does not upload anything.  `verify` checks the signature over the
 * exact bytes, which is what the miniboss does before it parses anything;
 * the only manifest `build` reads is the one --versions-from names, for its
 * names and versions.  Exit 0 ok, 1 failure, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mb_file.h"
#include "mb_image.h"
#include "mb_sig.h"

#define MANIFEST_READ_MAX (256u << 20)
#define MAX_FILES 100000

struct entry {
	char *name;
	uint64_t size;
	int64_t mtime;
	char hex[65];
	json_t *chunks; /* --chunks: the 1 MiB chunks' digests, else NULL */
};

struct site {
	char *name;
	char **imgs;
	size_t n;
};

static bool want_chunks; /* --chunks */
static struct entry *entries;
static size_t n_entries, cap_entries;

static void
usage_to(FILE *f, int status)
{
	fprintf(f,
		"usage: mb-manifest build DIR [--site NAME=img1,img2...]... "
		"[--version-from mtime|N]\n"
		"                         [--version IMAGE=N]... [--versions-from OLD.json] "
		"[--generated EPOCH] [--chunks]\n"
		"                         -o manifest.json\n"
		"       mb-manifest sign --key ops.key manifest.json\n"
		"       mb-manifest verify --pubkey ops.pub manifest.json\n"
		"       mb-manifest keygen ops.key ops.pub\n");
	if (f == stdout)
		fprintf(f, "\nPublish images to minibosses: build the manifest of an image "
			   "directory, sign it\nwith the ops key, verify a signature, make a key "
			   "pair.  See mb-manifest(1).\n");
	exit(status);
}

static void
usage(void)
{
	usage_to(stderr, 2);
}

#define CHUNK (1u << 20) /* "chunk_sha256": a Frisbee chunk */

static void
md_hex(const unsigned char *md, char hex[65])
{
	for (unsigned int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[64] = '\0';
}

/* The chunk hash ctx holds `inchunk` bytes: append its digest to chunks and
 * start the next one.  0 or -ENOMEM. */
static int
chunk_close(EVP_MD_CTX *cctx, json_t *chunks)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[65];

	if (EVP_DigestFinal_ex(cctx, md, &mdlen) != 1 || mdlen != 32 ||
	    EVP_DigestInit_ex(cctx, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	md_hex(md, hex);
	return json_array_append_new(chunks, json_string(hex)) == 0 ? 0 : -ENOMEM;
}

/* Size and SHA-256 of a file, and with --chunks (ret_chunks not NULL) the
 * digest of each 1 MiB chunk as a new JSON array.  0 or -errno. */
static int
hash_file(int dirfd, const char *name, uint64_t *ret_size, char hex[65], json_t **ret_chunks)
{
	static uint8_t buf[CHUNK];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx, *cctx = NULL;
	json_t *chunks = NULL;
	uint64_t total = 0, inchunk = 0;
	ssize_t n;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rc = -ENOMEM;
		goto out;
	}
	if (ret_chunks != NULL) {
		cctx = EVP_MD_CTX_new();
		chunks = json_array();
		if (cctx == NULL || chunks == NULL ||
		    EVP_DigestInit_ex(cctx, EVP_sha256(), NULL) != 1) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (;;) {
		/* never across a chunk boundary, so each read feeds one chunk */
		n = read(fd, buf, (size_t)(CHUNK - inchunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
		if (cctx == NULL)
			continue;
		EVP_DigestUpdate(cctx, buf, (size_t)n);
		inchunk += (uint64_t)n;
		if (inchunk == CHUNK) {
			inchunk = 0;
			if ((rc = chunk_close(cctx, chunks)) != 0)
				goto out;
		}
	}
	if (cctx != NULL && inchunk > 0 && (rc = chunk_close(cctx, chunks)) != 0)
		goto out;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	md_hex(md, hex);
	*ret_size = total;
	if (ret_chunks != NULL) {
		*ret_chunks = chunks;
		chunks = NULL;
	}
out:
	json_decref(chunks);
	EVP_MD_CTX_free(cctx);
	EVP_MD_CTX_free(ctx);
	(void)close(fd);
	return rc;
}

static bool
skip_name(const char *n)
{
	size_t l = strlen(n);

	if (n[0] == '.')
		return true;
	if (strncmp(n, "manifest.json", 13) == 0)
		return true;
	return (l > 5 && strcmp(n + l - 5, ".part") == 0) ||
	       (l > 4 && strcmp(n + l - 4, ".tmp") == 0);
}

/* Recursive walk; `rel` is the path of dirfd relative to the top ("" at top). */
static int
walk(int dirfd, const char *rel, int depth)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	/* A valid image name has at most 128 components ("a/b/.../z" in 255
	 * bytes): nothing deeper, or with a longer directory path, can hold
	 * one, and each level holds a descriptor. */
	if (depth > MB_IMAGE_NAME_MAX / 2 || strlen(rel) > MB_IMAGE_NAME_MAX) {
		fprintf(stderr, "mb-manifest: '%s': too deep, ignoring\n", rel);
		(void)close(dirfd);
		return 0;
	}
	d = fdopendir(dirfd);
	if (d == NULL) {
		rc = -errno;
		(void)close(dirfd);
		return rc;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;

		if (skip_name(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			rc = -errno;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			if (sub == -1) {
				rc = -errno;
				break;
			}
			rc = walk(sub, path, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (!mb_image_name_valid(path, strlen(path))) {
			fprintf(stderr, "mb-manifest: '%s': not a valid image name, ignoring\n",
				path);
			continue;
		}
		if (n_entries == cap_entries) {
			size_t nc = cap_entries ? cap_entries * 2 : 64;
			struct entry *ne;

			if (nc > MAX_FILES) {
				rc = -E2BIG;
				break;
			}
			ne = realloc(entries, nc * sizeof(*ne));
			if (ne == NULL) {
				rc = -ENOMEM;
				break;
			}
			entries = ne;
			cap_entries = nc;
		}
		struct entry *e = &entries[n_entries];

		e->name = strdup(path);
		e->mtime = st.st_mtim.tv_sec;
		e->chunks = NULL;
		rc = hash_file(dirfd, de->d_name, &e->size, e->hex,
			       want_chunks ? &e->chunks : NULL);
		if (rc < 0) {
			fprintf(stderr, "mb-manifest: '%s': %s\n", path, strerror(-rc));
			free(e->name);
			break;
		}
		n_entries++;
	}
	closedir(d);
	return rc;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Write `len` bytes to path atomically: path.tmp, fsync, rename. */
static int
write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char tmp[4096];
	size_t off = 0;
	ssize_t n;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1)
		return -errno;
	while (off < len) {
		n = write(fd, (const char *)buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = -errno;

			(void)close(fd);
			(void)unlink(tmp);
			return e;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
		int e = -errno;

		(void)unlink(tmp);
		return e;
	}
	return 0;
}

/* One image's version. */
struct pin {
	char *name;
	uint64_t version;
};

/*
 * The names and versions of the manifest at `path` into *ret (malloc'd,
 * names strdup'd), for --versions-from.  Entries without a name or a
 * positive integer version are skipped.  0, or 1 after saying why.
 */
static int
versions_load(const char *path, struct pin **ret, size_t *ret_n)
{
	char *text = NULL;
	size_t len, i, n = 0;
	json_error_t jerr;
	json_t *root, *arr, *e;
	struct pin *v;
	int rc;

	rc = mb_file_read_all(path, MANIFEST_READ_MAX, &text, &len);
	if (rc < 0) {
		fprintf(stderr, "mb-manifest: --versions-from '%s': %s\n", path, strerror(-rc));
		return 1;
	}
	root = json_loadb(text, len, 0, &jerr);
	free(text);
	arr = json_object_get(root, "images");
	if (!json_is_array(arr)) {
		fprintf(stderr, "mb-manifest: --versions-from '%s': not a manifest (%s)\n", path,
			root == NULL ? jerr.text : "no \"images\" list");
		json_decref(root);
		return 1;
	}
	v = calloc(json_array_size(arr) + 1, sizeof(*v));
	if (v == NULL) {
		json_decref(root);
		return 1;
	}
	json_array_foreach(arr, i, e) {
		json_t *name = json_object_get(e, "name"), *ver = json_object_get(e, "version");

		if (!json_is_string(name) || !json_is_integer(ver) || json_integer_value(ver) <= 0)
			continue;
		v[n].name = strdup(json_string_value(name));
		if (v[n].name == NULL)
			break;
		v[n++].version = (uint64_t)json_integer_value(ver);
	}
	json_decref(root);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int
cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "site", required_argument, NULL, 's' },
		{ "version-from", required_argument, NULL, 'v' },
		{ "version", required_argument, NULL, 'V' },
		{ "versions-from", required_argument, NULL, 'F' },
		{ "generated", required_argument, NULL, 'G' },
		{ "output", required_argument, NULL, 'o' },
		{ "chunks", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct site *sites = NULL;
	size_t n_sites = 0;
	const char *out = NULL, *vfrom = "mtime";
	uint64_t fixed_version = 0;
	/* --version IMAGE=N: one image's version (boss: the Emulab image
	 * version, which tmcd matches against what a miniboss serves). */
	struct {
		const char *name;
		uint64_t version;
	} *pv = NULL;
	size_t n_pv = 0, n_old = 0;
	struct pin *old = NULL;
	const char *old_path = NULL;
	json_int_t generated = (json_int_t)time(NULL);
	json_t *root, *arr;
	char *text;
	int c, rc, fd;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *eq = strchr(optarg, '='), *tok, *save = NULL;
			struct site *ns;

			if (eq == NULL || eq == optarg)
				usage();
			ns = realloc(sites, (n_sites + 1) * sizeof(*ns));
			if (ns == NULL)
				return 1;
			sites = ns;
			*eq = '\0';
			sites[n_sites] = (struct site){ .name = optarg };
			for (tok = strtok_r(eq + 1, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save)) {
				struct site *s = &sites[n_sites];
				char **ni = realloc(s->imgs, (s->n + 1) * sizeof(*ni));

				if (ni == NULL)
					return 1;
				s->imgs = ni;
				s->imgs[s->n++] = tok;
			}
			n_sites++;
			break;
		}
		case 'v':
			vfrom = optarg;
			break;
		case 'V': {
			char *eq = strrchr(optarg, '='), *end;
			void *np;

			if (eq == NULL || eq == optarg || eq[1] == '\0' || eq[1] == '-')
				usage();
			*eq = '\0';
			errno = 0;
			np = realloc(pv, (n_pv + 1) * sizeof(*pv));
			if (np == NULL)
				return 1;
			pv = np;
			pv[n_pv].name = optarg;
			pv[n_pv].version = strtoull(eq + 1, &end, 10);
			if (errno != 0 || *end != '\0' || pv[n_pv].version == 0)
				usage();
			n_pv++;
			break;
		}
		case 'F':
			old_path = optarg;
			break;
		case 'G': {
			char *end;
			long long g;

			errno = 0;
			g = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || g < 0)
				usage();
			generated = (json_int_t)g;
			break;
		}
		case 'o':
			out = optarg;
			break;
		case 'C':
			want_chunks = true;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || out == NULL)
		usage();
	if (strcmp(vfrom, "mtime") != 0) {
		char *end;

		errno = 0;
		fixed_version = strtoull(vfrom, &end, 10);
		if (errno != 0 || *end != '\0' || end == vfrom || vfrom[0] == '-')
			usage();
	}
	if (old_path != NULL && versions_load(old_path, &old, &n_old) != 0)
		return 1;
	fd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		fprintf(stderr, "mb-manifest: '%s': %s\n", argv[optind], strerror(errno));
		return 1;
	}
	rc = walk(fd, "", 0);
	if (rc < 0) {
		fprintf(stderr, "mb-manifest: walking '%s' failed: %s\n", argv[optind],
			strerror(-rc));
		return 1;
	}
	/* an empty directory leaves entries NULL, which qsort may not get */
	if (n_entries > 1)
		qsort(entries, n_entries, sizeof(*entries), entry_cmp);

	root = json_object();
	arr = json_array();
	json_object_set_new(root, "format", json_integer(1));
	json_object_set_new(root, "generated", json_integer(generated));
	json_object_set_new(root, "images", arr);
	for (size_t i = 0; i < n_entries; i++) {
		struct entry *e = &entries[i];
		json_t *o = json_object(), *sl = json_array();

		uint64_t ver = fixed_version ? fixed_version : (uint64_t)e->mtime;

		for (size_t k = 0; k < n_old; k++)
			if (strcmp(old[k].name, e->name) == 0)
				ver = old[k].version;
		for (size_t k = 0; k < n_pv; k++)
			if (strcmp(pv[k].name, e->name) == 0)
				ver = pv[k].version;
		json_object_set_new(o, "name", json_string(e->name));
		json_object_set_new(o, "version", json_integer((json_int_t)ver));
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		json_object_set_new(o, "sha256", json_string(e->hex));
		json_object_set_new(o, "mtime", json_integer((json_int_t)e->mtime));
		if (e->chunks != NULL) {
			json_object_set_new(o, "chunk_sha256", e->chunks);
			e->chunks = NULL;
		}
		for (size_t s = 0; s < n_sites; s++)
			for (size_t j = 0; j < sites[s].n; j++)
				if (strcmp(sites[s].imgs[j], e->name) == 0) {
					json_array_append_new(sl, json_string(sites[s].name));
					break;
				}
		if (json_array_size(sl) > 0)
			json_object_set_new(o, "sites", sl);
		else
			json_decref(sl);
		json_array_append_new(arr, o);
	}
	for (size_t s = 0; s < n_sites; s++)
		for (size_t j = 0; j < sites[s].n; j++) {
			size_t i;

			for (i = 0; i < n_entries; i++)
				if (strcmp(sites[s].imgs[j], entries[i].name) == 0)
					break;
			if (i == n_entries)
				fprintf(stderr,
					"mb-manifest: site '%s' lists '%s', not in '%s', "
					"ignoring\n",
					sites[s].name, sites[s].imgs[j], argv[optind]);
		}
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		return 1;
	size_t tl = strlen(text);

	text = realloc(text, tl + 2);
	text[tl++] = '\n';
	rc = write_atomic(out, text, tl, 0644);
	free(text);
	for (size_t i = 0; i < n_entries; i++)
		free(entries[i].name);
	free(entries);
	for (size_t i = 0; i < n_sites; i++)
		free(sites[i].imgs);
	free(sites);
	for (size_t i = 0; i < n_old; i++)
		free(old[i].name);
	free(old);
	free(pv);
	if (rc < 0) {
		fprintf(stderr, "mb-manifest: writing '%s': %s\n", out, strerror(-rc));
		return 1;
	}
	printf("%s: %zu images\n", out, n_entries);
	return 0;
}

static int
cmd_sign_verify(int argc, char **argv, bool sign)
{
	struct mb_sig_key *k;
	char sigpath[4096], *msg = NULL, *sig = NULL;
	size_t mlen, slen;
	const char *keyfile = NULL;
	int rc;

	if (argc != 4 || strcmp(argv[1], sign ? "--key" : "--pubkey") != 0)
		usage();
	keyfile = argv[2];
	if (snprintf(sigpath, sizeof(sigpath), "%s.sig", argv[3]) >= (int)sizeof(sigpath))
		usage();
	k = mb_sig_key_load(keyfile, sign);
	if (k == NULL) {
		fprintf(stderr, "mb-manifest: key '%s': %s\n", keyfile,
			errno == ENOENT ? strerror(errno) : mb_sig_strerror(-errno));
		return 1;
	}
	rc = mb_file_read_all(argv[3], MANIFEST_READ_MAX, &msg, &mlen);
	if (rc < 0) {
		fprintf(stderr, "mb-manifest: '%s': %s\n", argv[3], strerror(-rc));
		mb_sig_key_free(k);
		return 1;
	}
	if (sign) {
		uint8_t *s;

		rc = mb_sig_sign(k, msg, mlen, &s, &slen);
		if (rc == 0) {
			rc = write_atomic(sigpath, s, slen, 0644);
			free(s);
			if (rc < 0)
				fprintf(stderr, "mb-manifest: writing '%s': %s\n", sigpath,
					strerror(-rc));
		} else {
			fprintf(stderr, "mb-manifest: signing failed: %s\n", mb_sig_strerror(rc));
		}
		if (rc == 0)
			printf("%s: signed (%zu bytes)\n", sigpath, slen);
	} else {
		rc = mb_file_read_all(sigpath, MB_SIG_MAX_LEN + 1, &sig, &slen);
		if (rc < 0) {
			fprintf(stderr, "mb-manifest: '%s': %s\n", sigpath,
				rc == -EFBIG ? mb_sig_strerror(-EMSGSIZE) : strerror(-rc));
		} else {
			rc = mb_sig_verify(k, msg, mlen, sig, slen);
			if (rc == 0)
				printf("%s: signature ok\n", argv[3]);
			else
				fprintf(stderr, "mb-manifest: '%s': %s\n", argv[3],
					mb_sig_strerror(rc));
		}
	}
	free(msg);
	free(sig);
	mb_sig_key_free(k);
	return rc == 0 ? 0 : 1;
}

static int
write_pem(const char *path, EVP_PKEY *pk, bool priv)
{
	FILE *f;
	int fd, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, priv ? 0600 : 0644);
	if (fd == -1) {
		fprintf(stderr, "mb-manifest: '%s': %s\n", path, strerror(errno));
		return -1;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		(void)close(fd);
		return -1;
	}
	ok = priv ? PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) :
		    PEM_write_PUBKEY(f, pk);
	if (fflush(f) != 0 || fsync(fileno(f)) == -1)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static int
cmd_keygen(int argc, char **argv)
{
	EVP_PKEY *pk;

	if (argc != 3)
		usage();
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL) {
		fprintf(stderr, "mb-manifest: Ed25519 key generation failed\n");
		return 1;
	}
	if (write_pem(argv[1], pk, true) < 0 || write_pem(argv[2], pk, false) < 0) {
		EVP_PKEY_free(pk);
		return 1;
	}
	EVP_PKEY_free(pk);
	printf("private key '%s' (keep it on ops), public key '%s' (origin.manifest-pubkey)\n",
	       argv[1], argv[2]);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		usage_to(stdout, 0);
	if (strcmp(argv[1], "build") == 0)
		return cmd_build(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign_verify(argc - 1, argv + 1, true);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_sign_verify(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	usage();
}
