/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stateful fuzzing of the sync from ops (control/ctl_sync*.c) against a fake
 * ops that answers what the input says.  The real control loop
 * (control/ctl_loop.c) with its timers, the shared worker thread, libcurl's
 * multi interface on the loop, the image store (a state directory under
 * /tmp, heap memory) and the sync subsystem run in this process, as in
 * fuzz_ctl_origin.c; ops is this harness: a listening socket on 127.0.0.1
 * that parses each HTTP request (path, Range, If-None-Match) and answers it
 * between loop passes.
 *
 * TLS is left out (the TLS stack has its own harnesses and tests): sync
 * accepts only https URLs and tells libcurl to speak https only, so this
 * program's curl_easy_setopt (which the statically linked control library
 * calls) passes every option through to libcurl's but turns the URL's
 * "https://" into "http://" and the allowed protocols into "http".
 *
 * Each input is a configuration byte (origin.ranges, origin.concurrency,
 * images.hugepage-budget: file-only or memory downloads), the length of the
 * reply tape (below) over 4, a script of up to 256 steps, and the tape.
 * The steps:
 *  - ops publishes a manifest: built from fuzzed fields (maybe padded past
 *    origin.max-manifest-size with white space; generated going up,
 *    staying or going back; up to four entries, each one of three names, a
 *    version, one of seven sizes from 0 to 16 MiB + 5 (ranged downloads need
 *    more than 8 MiB), the bytes it serves for the name (two variants), the
 *    sha256 of those bytes, of the other variant or garbage, chunk digests
 *    right, wrong or absent, the site this miniboss is or another), or raw
 *    fuzzed bytes; signed right, or with a byte flipped, cut short, empty,
 *    or garbage;
 *  - the "sync" action (a round, a check, or only the status);
 *  - the loop and ops run; the clock moves on (1 ms .. 3601 s);
 *  - ops drops a connection (close or reset);
 *  - a leftover .part appears for an image sync is not downloading (a
 *    prefix of the right bytes, of the other variant, garbage, the whole
 *    file, or more than the file), as after a crash;
 *  - a reload changes origin.ranges and origin.concurrency.
 * Every request ops reads takes the next byte of the reply tape (the last
 * bytes of the input, so that which answer a request gets does not depend
 * on when it arrives) for how to answer it:
 * as HTTP would (keep-alive, 200 / 206 with its Content-Range / 304 to a
 * matching If-None-Match / 404 / 416), or another status (3xx with a
 * Location, 4xx, 5xx, 206 for another start, 200 to a Range), a wrong
 * Content-Length, a body cut short or longer than announced, one byte of it
 * flipped, chunked encoding, raw bytes, a close, a reset, or nothing at all
 * (a stalled connection, ended by origin.timeout once the clock moves).
 * When the tape runs out, every answer is the plain HTTP one.
 *
 * Checked after every step: live timers and open descriptors within what
 * the connections and downloads can hold; every log line the code writes
 * is one printable line (no byte of a peer's reaches the log raw).  After
 * every input, once no round runs (the clock moved past every deadline and
 * backoff, ops answering plainly): every image the store publishes was
 * signed by ops with that name, version, size and sha256, and its file and
 * its memory hash to that sha256; the state directory holds only what
 * doc/image-store.md lists (manifest.json, sync-accepted.json,
 * master-cursors.json, images/<published names>, tmp/<name>.part of images
 * sync has not installed or the harness left there); every failed image
 * has a reason, and each refusal counted was logged as a warning; then the
 * control plane stops, and the descriptors and live timers are back where
 * they were before it started (the next input starts it again on an empty
 * state directory).  A broken invariant aborts.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <urcu-qsbr.h>

#include "ctl.h"
#include "ctl_fakes.h"
#include "ctl_imgmem.h"
#include "ctl_priv.h"
#include "ctl_worker.h"
#include "dp.h"
#define FUZZ_NAME "fuzz_ctl_sync"
#include "fuzz_ctl_common.h"
#include "fuzz_rd.h"
#include "mb_config.h"
#include "mb_image.h"
#include "mb_log.h"
#include "mb_manifest.h"
#include "mb_sig.h"
#include "mb_time.h"

#define MAX_STEPS 256
#define NCONN 16		/* ops's connections at once; more wait in the backlog */
#define NNAME 3
#define NSIZE 7
#define NSIGNED 256		/* (name, version, size, sha256) ops signed, per input */
#define MAN_MAX 4096		/* origin.max-manifest-size */
#define REQ_MAX 8192
#define TIMEOUT_S 5		/* origin.timeout */

/* ---- what ops serves ---------------------------------------------------------- */

static char long_name[MB_IMAGE_NAME_MAX + 1];
static const char *names[NNAME] = { "fz/a", "fz/b/c", long_name };

/* 0 .. 16 MiB + 5: empty, a byte, one chunk and a bit, one chunk, two,
 * three, and two 8 MiB ranges (MB_SYNC_RANGE_MIN) */
static const uint64_t sizes[NSIZE] = {
	0, 1, 4097, 1u << 20, (1u << 20) + 1, (3u << 20) - 7, (16u << 20) + 5,
};

/* The bytes of each size in two variants, made on first use. */
static struct content {
	uint8_t *data;
	uint8_t sha[MB_SHA256_LEN];
	uint8_t (*chunks)[MB_SHA256_LEN];
} content[NSIZE][2];

static const struct content *
content_of(unsigned size_i, unsigned var)
{
	struct content *c = &content[size_i][var];
	uint64_t n = sizes[size_i], x = 0x9e3779b97f4a7c15ull * (size_i * 2 + var + 1);
	uint64_t nch = mb_manifest_chunks_for(n);

	if (c->data != NULL || (n == 0 && c->chunks != NULL))
		return c;
	c->data = malloc(n > 0 ? n : 1);
	c->chunks = calloc(nch > 0 ? nch : 1, sizeof(*c->chunks));
	if (c->data == NULL || c->chunks == NULL)
		fail("out of memory");
	for (uint64_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		c->data[i] = (uint8_t)((x * 0x2545f4914f6cdd1dull) >> 56);
	}
	if (mb_sha256(c->data, n, c->sha) != 0)
		fail("sha256");
	for (uint64_t k = 0; k < nch; k++) {
		uint64_t lo = k * MB_MANIFEST_CHUNK, len = n - lo < MB_MANIFEST_CHUNK ?
								n - lo : MB_MANIFEST_CHUNK;

		if (mb_sha256(c->data + lo, len, c->chunks[k]) != 0)
			fail("sha256");
	}
	return c;
}

struct signed_entry {
	char name[MB_IMAGE_NAME_MAX + 1];
	uint64_t version, size;
	uint8_t sha[MB_SHA256_LEN];
};

static struct {
	bool up;		 /* the process-wide part: key, directory, listener */
	bool warm;		 /* the baseline taken */
	bool log_stderr;	 /* FUZZ_SYNC_LOG set: every log line to stderr */
	char dir[64];		 /* the state directory */
	char pubkey[96];
	struct mb_sig_key *key;	 /* ops's private key */
	int lfd;
	uint16_t port;
	struct mb_config cfg;
	/* this input */
	char *man;		 /* manifest.json */
	size_t man_len;
	uint8_t *sig;		 /* manifest.json.sig */
	size_t sig_len;
	unsigned man_seq;	 /* the ETag */
	int64_t generated;
	int served[NNAME];	 /* size_i * 2 + variant of each name's bytes, -1: 404 */
	struct signed_entry sgn[NSIGNED];
	unsigned nsgn;
	bool planted[NNAME];	 /* the harness left a .part for it */
	bool ending;		 /* plain answers only, stalls closed */
	unsigned warnings;	 /* log lines at WARNING or worse, this input */
	json_int_t refusals;	 /* sync's refusal counter (process-wide) at the start */
} S = { .lfd = -1 };

static struct rd *R; /* the reply tape, for ops's answers */

/* ---- libcurl without TLS ------------------------------------------------------ */

#undef curl_easy_setopt
CURLcode curl_easy_setopt(CURL *e, CURLoption opt, ...);

/* The control library's calls land here: every option goes to libcurl's
 * curl_easy_setopt unchanged, except that https becomes http (see the
 * top).  The option's number says the type of its argument. */
CURLcode
curl_easy_setopt(CURL *e, CURLoption opt, ...)
{
	static CURLcode (*real)(CURL *, CURLoption, ...);
	char url[2600];
	va_list ap;
	CURLcode rc;

	if (real == NULL)
		real = (CURLcode(*)(CURL *, CURLoption, ...))dlsym(RTLD_NEXT, "curl_easy_setopt");
	if (real == NULL)
		abort();
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		rc = real(e, opt, va_arg(ap, long));
	} else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB) {
		rc = real(e, opt, va_arg(ap, curl_off_t));
	} else {
		void *p = va_arg(ap, void *);

		if ((opt == CURLOPT_PROTOCOLS_STR || opt == CURLOPT_REDIR_PROTOCOLS_STR) &&
		    p != NULL && strcmp(p, "https") == 0)
			p = (void *)"http";
		if (opt == CURLOPT_URL && p != NULL && strncmp(p, "https://", 8) == 0) {
			snprintf(url, sizeof(url), "http://%s", (const char *)p + 8);
			p = url;
		}
		rc = real(e, opt, p);
	}
	va_end(ap);
	return rc;
}

/* ---- the log: one printable line each ----------------------------------------- */

static void
check_sink(enum mb_log_level level, enum mb_log_module mod, const char *fmt, va_list ap)
{
	char line[4096];
	int n;

	(void)mod;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		fail("a log line does not format");
	for (const unsigned char *p = (const unsigned char *)line; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			fail("a log line holds byte 0x%02x: %s", *p, line);
	if (S.log_stderr)
		fprintf(stderr, "log %d: %s\n", (int)level, line);
	if (level <= MB_LOG_WARNING) /* the worker thread logs too */
		__atomic_add_fetch(&S.warnings, 1, __ATOMIC_RELAXED);
}

/* ---- the state directory ------------------------------------------------------ */

static int
rm_fn(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	if (ftw->level > 0)
		(void)remove(path);
	return 0;
}

static void
dir_empty(void)
{
	(void)nftw(S.dir, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

static void
dir_remove(void)
{
	dir_empty();
	(void)rmdir(S.dir);
	(void)unlink(S.pubkey);
}

/* The .part name of `name` (ctl_sync.c, sync_part_path; doc/image-store.md):
 * '/' as %2F, or %H<sha256 of the name> when that exceeds NAME_MAX. */
static void
part_name(const char *name, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = name; *p != '\0' && o + 4 < outlen; p++) {
		if (*p == '/') {
			memcpy(out + o, "%2F", 3);
			o += 3;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	if (o + 5 > NAME_MAX) {
		uint8_t md[MB_SHA256_LEN];
		char hex[2 * MB_SHA256_LEN + 1];

		if (mb_sha256(name, strlen(name), md) != 0)
			fail("sha256");
		mb_sha256_to_hex(md, hex);
		snprintf(out, outlen, "%%H%s", hex);
	}
	strncat(out, ".part", outlen - strlen(out) - 1);
}

/* ---- ops ---------------------------------------------------------------------- */

static void
make_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b = BIO_new(BIO_s_mem());
	FILE *f;
	char *pem;
	long len;

	if (k == NULL || b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
		fail("an Ed25519 key");
	len = BIO_get_mem_data(b, &pem);
	S.key = mb_sig_key_from_pem(pem, (size_t)len, 1);
	if (S.key == NULL)
		fail("loading the private key: %s", strerror(errno));
	f = fopen(S.pubkey, "w");
	if (f == NULL || PEM_write_PUBKEY(f, k) != 1 || fclose(f) != 0)
		fail("writing %s", S.pubkey);
	BIO_free(b);
	EVP_PKEY_free(k);
}

/* Remember what a validly signed manifest names (the only images the store
 * may ever publish). */
static void
record_signed(const char *body, size_t len)
{
	struct mb_manifest_limits lim = { .max_bytes = 4 * MAN_MAX, .max_images = 1024,
					  .max_image_size = UINT64_MAX };
	struct mb_manifest m = { 0 };
	char err[MB_MANIFEST_ERRLEN];

	if (mb_manifest_parse(body, len, &lim, &m, err, sizeof(err)) != 0)
		return;
	for (uint32_t i = 0; i < m.count && S.nsgn < NSIGNED; i++) {
		struct signed_entry *s = &S.sgn[S.nsgn++];

		snprintf(s->name, sizeof(s->name), "%s", m.entries[i].name);
		s->version = m.entries[i].version;
		s->size = m.entries[i].size;
		memcpy(s->sha, m.entries[i].sha256, MB_SHA256_LEN);
	}
	mb_manifest_done(&m);
}

static void
hexcat(char **p, char *end, const uint8_t *md)
{
	char hex[2 * MB_SHA256_LEN + 1];

	mb_sha256_to_hex(md, hex);
	*p += snprintf(*p, (size_t)(end - *p), "\"%s\"", hex);
	if (*p > end)
		*p = end;
}

/* A new manifest from the input, and its signature. */
static void
publish(struct rd *r)
{
	static char body[4 * MAN_MAX];
	char *p = body, *end = body + sizeof(body) - 1;
	uint8_t f = rd8(r);
	uint8_t *sig = NULL;
	size_t siglen = 0;

	if ((f & 7) == 7) { /* raw bytes */
		size_t n;
		const uint8_t *raw = rd_bytes(r, rd16(r) % 2048, &n);

		memcpy(body, raw, n);
		p = body + n;
	} else {
		unsigned n = (f >> 3) & 3;

		S.generated += (int64_t)(int8_t)rd8(r) % 4;
		p += snprintf(p, (size_t)(end - p), "{\"format\": 1, \"generated\": %lld, \"images\": [",
			      (long long)(1700000000 + S.generated));
		for (unsigned i = 0; i <= n && i < 4 && p < end - 1024; i++) {
			uint8_t a = rd8(r), b = rd8(r), c = rd8(r);
			unsigned ni = (a & 3) % NNAME, si = ((a >> 2) & 7) % NSIZE, var = (a >> 5) & 1;
			const struct content *ct = content_of(si, var);
			uint8_t bad[MB_SHA256_LEN];
			uint64_t nch = mb_manifest_chunks_for(sizes[si]);

			if ((n == 0 && i == 0 && (f & 0x20)) )
				break; /* no images at all */
			S.served[ni] = (int)(si * 2 + var);
			p += snprintf(p, (size_t)(end - p), "%s{\"name\": \"%s\", \"version\": %u, "
				      "\"size\": %llu, \"mtime\": 1700000000, \"sha256\": ",
				      i > 0 ? ", " : "", names[ni], (unsigned)(b & 7),
				      (unsigned long long)sizes[si]);
			memset(bad, c, sizeof(bad));
			switch ((c >> 4) & 3) {
			case 0:
			case 1:
				hexcat(&p, end, ct->sha);
				break;
			case 2: /* the other variant's */
				hexcat(&p, end, content_of(si, var ^ 1)->sha);
				break;
			default:
				hexcat(&p, end, bad);
				break;
			}
			if ((b & 0x18) != 0 && nch > 0 && nch <= 17) {
				p += snprintf(p, (size_t)(end - p), ", \"chunk_sha256\": [");
				for (uint64_t k = 0; k < nch; k++) {
					if (k > 0)
						p += snprintf(p, (size_t)(end - p), ", ");
					/* b & 0x18 == 0x18: one chunk wrong */
					hexcat(&p, end, (b & 0x18) == 0x18 && k == (uint64_t)(c & 15) % nch ?
						   bad : ct->chunks[k]);
				}
				p += snprintf(p, (size_t)(end - p), "]");
			}
			if (b & 0x20)
				p += snprintf(p, (size_t)(end - p), ", \"sites\": [\"%s\"]",
					      (b & 0x40) ? "elsewhere" : "fz");
			p += snprintf(p, (size_t)(end - p), "}");
		}
		p += snprintf(p, (size_t)(end - p), "]}");
		if (p > end)
			p = end;
		if ((f & 7) == 6) { /* white space after it: maybe over max-manifest-size */
			size_t pad = (size_t)rd8(r) * 32;

			if (pad > (size_t)(end - p))
				pad = (size_t)(end - p);
			memset(p, ' ', pad);
			p += pad;
		}
	}
	free(S.man);
	S.man_len = (size_t)(p - body);
	S.man = malloc(S.man_len + 1);
	if (S.man == NULL)
		fail("out of memory");
	memcpy(S.man, body, S.man_len);
	S.man_seq++;
	if (mb_sig_sign(S.key, S.man, S.man_len, &sig, &siglen) != 0)
		fail("signing");
	switch ((f >> 6) & 3) {
	case 0:
	case 1: /* right */
		record_signed(S.man, S.man_len);
		break;
	case 2: /* a byte flipped, or cut short */
		if (rd8(r) & 1)
			sig[rd8(r) % siglen] ^= (uint8_t)(1u << (rd8(r) % 8));
		else
			siglen = rd8(r) % siglen;
		break;
	default: { /* raw */
		size_t n;
		const uint8_t *raw = rd_bytes(r, rd16(r) % 1100, &n);

		free(sig);
		sig = malloc(n > 0 ? n : 1);
		if (sig == NULL)
			fail("out of memory");
		memcpy(sig, raw, n);
		siglen = n;
		break;
	}
	}
	free(S.sig);
	S.sig = sig;
	S.sig_len = siglen;
}

/* One connection of ops: a request read, then its answer written. */
static struct conn {
	int fd;
	char in[REQ_MAX];
	size_t inlen;
	bool answering, stalled, close_after;
	char hdr[1024];
	size_t hlen, hoff;
	const uint8_t *body;
	uint64_t blen, boff;
	int64_t flip_at; /* a byte of body flipped on the way (-1: none) */
	uint8_t tail[512];
	size_t tlen, toff;
} conns[NCONN];

static void
conn_close(struct conn *c, bool reset)
{
	close_fd(&c->fd, reset);
	c->inlen = 0;
	c->answering = c->stalled = false;
}

static bool
hdr_get(const char *req, const char *name, char *out, size_t outlen)
{
	const char *p = req;
	size_t nl = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			if (e == NULL || (size_t)(e - v) >= outlen)
				return false;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return true;
		}
	}
	return false;
}

static const int odd_codes[] = { 200, 206, 301, 302, 304, 307, 400, 403, 404, 408, 416, 500, 503 };

/* The answer to the request in c->in, as the next input byte says. */
static void
answer(struct conn *c)
{
	char path[512] = "", range[128], inm[64], etag[32], cr[128] = "";
	const uint8_t *data = NULL, *res;
	uint64_t len = 0, a = 0, b = 0, res_len;
	bool ranged = false, known = true;
	uint8_t m = S.ending ? 0 : rd8(R);
	int code = 200;
	const char *extra_hdr = "";
	size_t n;

	c->answering = true;
	c->close_after = false;
	c->body = NULL;
	c->blen = c->boff = c->hoff = c->tlen = c->toff = 0;
	c->flip_at = -1;
	if (sscanf(c->in, "GET %511s HTTP/1.1", path) != 1)
		fail("a request ops cannot read: %.80s", c->in);
	snprintf(etag, sizeof(etag), "\"m%u\"", S.man_seq);
	if (strcmp(path, "/manifest.json") == 0) {
		data = (const uint8_t *)S.man;
		len = S.man != NULL ? S.man_len : 0;
		known = S.man != NULL;
	} else if (strcmp(path, "/manifest.json.sig") == 0) {
		data = S.sig;
		len = S.sig_len;
		known = S.sig != NULL;
	} else {
		unsigned i;

		for (i = 0; i < NNAME; i++)
			if (path[0] == '/' && strcmp(path + 1, names[i]) == 0)
				break;
		/* (a raw manifest may name anything: 404) */
		known = i < NNAME && S.served[i] >= 0;
		if (known) {
			unsigned si = (unsigned)S.served[i] / 2, var = (unsigned)S.served[i] % 2;

			data = content_of(si, var)->data;
			len = sizes[si];
		}
	}
	res = data;
	res_len = len;
	if (hdr_get(c->in, "Range", range, sizeof(range))) {
		unsigned long long ra, rb;
		int k = sscanf(range, "bytes=%llu-%llu", &ra, &rb);

		if (k < 1)
			fail("a Range header ops cannot read: %s", range);
		a = ra;
		b = k == 2 ? rb : (len > 0 ? len - 1 : 0);
		if (k == 2 && rb < ra)
			fail("a Range request %s ends before it starts", range);
		ranged = true;
	}
	if (!known) {
		code = 404;
		data = (const uint8_t *)"no such file\n";
		len = 13;
		ranged = false;
	} else if (ranged && a >= len) {
		code = 416;
		snprintf(cr, sizeof(cr), "Content-Range: bytes */%llu\r\n", (unsigned long long)len);
		data = NULL;
		len = 0;
		ranged = false;
	} else if (hdr_get(c->in, "If-None-Match", inm, sizeof(inm)) && strcmp(inm, etag) == 0 &&
		   strcmp(path, "/manifest.json") == 0) {
		code = 304;
		len = 0;
	}
	if (ranged) {
		if (b >= len)
			b = len - 1;
		code = 206;
		snprintf(cr, sizeof(cr), "Content-Range: bytes %llu-%llu/%llu\r\n",
			 (unsigned long long)a, (unsigned long long)b, (unsigned long long)len);
		data += a;
		len = b - a + 1;
	}
	c->body = data;
	c->blen = code == 304 ? 0 : len;
	if (m >= 128) {
		switch ((m - 128) % 12) {
		case 0: { /* another status */
			int o = odd_codes[rd8(R) % (sizeof(odd_codes) / sizeof(odd_codes[0]))];

			if (o >= 300 && o < 400 && o != 304)
				extra_hdr = "Location: http://127.0.0.1:1/elsewhere\r\n";
			if (o == 206 && !ranged) {
				snprintf(cr, sizeof(cr), "Content-Range: bytes 0-%llu/%llu\r\n",
					 (unsigned long long)(c->blen > 0 ? c->blen - 1 : 0),
					 (unsigned long long)c->blen);
			} else if (o != 206) {
				cr[0] = '\0';
			}
			code = o;
			if (o == 304)
				c->blen = 0;
			break;
		}
		case 1: /* Content-Length says more than comes, then a close */
			c->close_after = true;
			n = snprintf(c->hdr, sizeof(c->hdr), "HTTP/1.1 %d X\r\nContent-Length: %llu\r\n"
				     "%sETag: %s\r\n\r\n", code,
				     (unsigned long long)(c->blen + 1 + rd8(R)), cr, etag);
			c->hlen = n;
			return;
		case 2: /* cut short, then a close */
			c->blen = c->blen > 0 ? rd16(R) % c->blen : 0;
			c->close_after = true;
			n = snprintf(c->hdr, sizeof(c->hdr), "HTTP/1.1 %d X\r\nContent-Length: %llu\r\n"
				     "%sETag: %s\r\n\r\n", code,
				     (unsigned long long)len, cr, etag);
			c->hlen = n;
			return;
		case 3: { /* more than announced, or announced and more than asked */
			size_t k = 1 + rd8(R);

			memset(c->tail, 'x', k);
			c->tlen = k;
			if (rd8(R) & 1) {
				c->close_after = true;
				n = snprintf(c->hdr, sizeof(c->hdr), "HTTP/1.1 %d X\r\nContent-Length: "
					     "%llu\r\n%sETag: %s\r\n\r\n", code, (unsigned long long)len,
					     cr, etag);
			} else {
				n = snprintf(c->hdr, sizeof(c->hdr), "HTTP/1.1 %d X\r\nContent-Length: "
					     "%llu\r\n%sETag: %s\r\n\r\n", code,
					     (unsigned long long)(len + k), cr, etag);
			}
			c->hlen = n;
			return;
		}
		case 4: /* a byte flipped */
			if (c->blen > 0)
				c->flip_at = (int64_t)(((uint64_t)rd16(R) << 16 | rd16(R)) % c->blen);
			break;
		case 5: /* chunked: one chunk (none when empty), then the last */
			n = snprintf(c->hdr, sizeof(c->hdr), "HTTP/1.1 %d X\r\nTransfer-Encoding: "
				     "chunked\r\n%sETag: %s\r\n\r\n%llx\r\n", code, cr, etag,
				     (unsigned long long)c->blen);
			c->hlen = n;
			c->tlen = (size_t)snprintf((char *)c->tail, sizeof(c->tail), "%s",
						   c->blen > 0 ? "\r\n0\r\n\r\n" : "\r\n");
			return;
		case 6: { /* raw bytes, then a close */
			const uint8_t *raw = rd_bytes(R, rd16(R) % sizeof(c->tail), &n);

			memcpy(c->tail, raw, n);
			c->tlen = n;
			c->hlen = 0;
			c->blen = 0;
			c->close_after = true;
			return;
		}
		case 7: /* a close */
			conn_close(c, false);
			return;
		case 8: /* a reset */
			conn_close(c, true);
			return;
		case 9: /* nothing: stalled until origin.timeout */
			c->stalled = true;
			c->answering = false;
			return;
		case 10: { /* 206 for another start than asked, its Content-Range true */
			uint64_t start = a + (rd8(R) & 1 ? 4096 : 1) * (1 + rd8(R) % 4);

			if (!known || res == NULL || res_len == 0)
				break;
			if (rd8(R) & 1)
				start = a >= start - a ? a - (start - a) : 0;
			if (start >= res_len)
				start = res_len - 1;
			c->body = res + start;
			c->blen = res_len - start;
			code = 206;
			snprintf(cr, sizeof(cr), "Content-Range: bytes %llu-%llu/%llu\r\n",
				 (unsigned long long)start, (unsigned long long)(res_len - 1),
				 (unsigned long long)res_len);
			break;
		}
		default: /* 206 without a Content-Range */
			code = 206;
			cr[0] = '\0';
			break;
		}
	}
	if (code != 200 && code != 206 && code >= 300 && c->blen > 64)
		c->blen = 64; /* an error page: any bytes */
	n = snprintf(c->hdr, sizeof(c->hdr), "HTTP/1.1 %d X\r\nContent-Length: %llu\r\n%s%s"
		     "ETag: %s\r\n\r\n", code, (unsigned long long)c->blen, cr, extra_hdr, etag);
	c->hlen = n;
	if (c->body == NULL)
		c->blen = 0;
}

/* Write what the answer still has; true when it is all out. */
static bool
conn_write(struct conn *c)
{
	static uint8_t buf[1 << 16];
	ssize_t w;

	while (c->hoff < c->hlen) {
		w = send(c->fd, c->hdr + c->hoff, c->hlen - c->hoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0)
			return false;
		c->hoff += (size_t)w;
	}
	while (c->boff < c->blen) {
		size_t k = c->blen - c->boff < sizeof(buf) ? (size_t)(c->blen - c->boff) : sizeof(buf);

		memcpy(buf, c->body + c->boff, k);
		if (c->flip_at >= (int64_t)c->boff && c->flip_at < (int64_t)(c->boff + k))
			buf[c->flip_at - (int64_t)c->boff] ^= 0x40;
		w = send(c->fd, buf, k, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0)
			return false;
		c->boff += (uint64_t)w;
	}
	while (c->toff < c->tlen) {
		w = send(c->fd, c->tail + c->toff, c->tlen - c->toff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0)
			return false;
		c->toff += (size_t)w;
	}
	return true;
}

/* Accept, read requests, answer them, write what is pending. */
static void
serve(void)
{
	bool backlog = true; /* until accept finds none waiting */

	for (unsigned i = 0; i < NCONN; i++) {
		struct conn *c = &conns[i];

		if (c->fd < 0 && backlog) {
			c->fd = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			c->inlen = 0;
			c->answering = c->stalled = false;
			backlog = c->fd >= 0;
		}
		if (c->fd < 0)
			continue;
		if (c->stalled && S.ending)
			conn_close(c, false);
		if (c->fd < 0)
			continue;
		if (!c->answering) {
			ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen,
					 MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c, false);
				continue;
			}
			if (n > 0)
				c->inlen += (size_t)n;
			c->in[c->inlen] = '\0';
			if (c->stalled)
				c->inlen = 0;
			else if (strstr(c->in, "\r\n\r\n") != NULL)
				answer(c);
			else if (c->inlen >= sizeof(c->in) - 1)
				fail("a request of more than %d bytes without its end", REQ_MAX);
		}
		if (c->fd >= 0 && c->answering && conn_write(c)) {
			if (c->close_after) {
				conn_close(c, false);
			} else {
				c->answering = false;
				c->inlen = 0;
			}
		}
	}
}

/* ---- the control plane, once per input ----------------------------------------- */

static void
setup_once(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int one = 1;

	signal(SIGPIPE, SIG_IGN);
	mb_log_set_sink(check_sink);
	S.log_stderr = getenv("FUZZ_SYNC_LOG") != NULL;
	memset(long_name, 0, sizeof(long_name));
	/* 245 bytes, three '/': its .part name would be 256 bytes, hashed */
	snprintf(long_name, sizeof(long_name), "fz/%080d/%080d/%080d", 0, 1, 2);
	for (char *p = long_name + 3; *p != '\0'; p++)
		if (*p != '/')
			*p = 'x';
	snprintf(S.dir, sizeof(S.dir), "/tmp/mbt-fuzzsync.XXXXXX");
	if (mkdtemp(S.dir) == NULL)
		fail("mkdtemp: %s", strerror(errno));
	snprintf(S.pubkey, sizeof(S.pubkey), "%s.pub", S.dir);
	atexit(dir_remove);
	make_key();
	S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (S.lfd < 0 || setsockopt(S.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(S.lfd, 64) != 0 ||
	    getsockname(S.lfd, (struct sockaddr *)&sa, &sl) != 0)
		fail("ops's listener: %s", strerror(errno));
	S.port = ntohs(sa.sin_port);
	for (unsigned i = 0; i < NCONN; i++)
		conns[i].fd = -1;
	rcu_thread_online();
	fz_loop_start_heap();
	S.up = true;
}

static void
config(uint8_t f, unsigned ranges, unsigned conc)
{
	char err[MB_CFG_ERRLEN], text[2048];

	snprintf(text, sizeof(text),
		 "[dpdk]\naddress = 127.0.0.1/8\n"
		 "[server]\nstate-dir = %s\n"
		 "[images]\nhugepage-budget = %s\nmax-images = 8\n"
		 "[frisbee]\nmaster-max-per-source = 8\nmax-sessions = 16\n"
		 "[origin]\nurl = https://127.0.0.1:%u/\nmanifest-pubkey = %s\nsite = fz\n"
		 "interval = 3600s\ntimeout = %ds\nconcurrency = %u\nranges = %u\n"
		 "max-manifest-size = %u\n",
		 S.dir, (f & 0x10) ? "0" : "64M", (unsigned)S.port, S.pubkey, TIMEOUT_S, conc,
		 ranges, MAN_MAX);
	mb_config_done(&S.cfg);
	if (mb_config_defaults(&S.cfg) != 0 ||
	    mb_config_load_string(&S.cfg, text, err, sizeof(err)) != 0)
		fail("configuration: %s", err);
	free(S.cfg.master_listen);
	S.cfg.master_listen = strdup("127.0.0.1");
	S.cfg.master_port = MB_CTL_PORT_ANY;
}

static void
start(uint8_t f)
{
	static const struct mb_ctl_subsys *const tab[] = {
		&mb_ctl_subsys_store, &mb_ctl_subsys_dataplane, &mb_ctl_subsys_master,
		&mb_ctl_subsys_sync,
	};

	config(f, 1 + (f & 3) * (f & 3), 1 + ((f >> 2) & 3) % 3);
	mbt_sess_reset(1);
	if (mb_ctl_core_start(&S.cfg, NULL, tab, sizeof(tab) / sizeof(tab[0])) != 0)
		fail("control plane start");
}

/* ---- steps ------------------------------------------------------------------------ */

static json_t *
sync_status(void)
{
	char *err = NULL;
	json_t *args = json_pack("{s:b}", "status", 1);
	json_t *j = mb_ctl_action_run("sync", args, &err);

	json_decref(args);
	if (j == NULL)
		fail("sync status: %s", err != NULL ? err : "?");
	return j;
}

/* The state of `name` in sync's status ("ok", "failed", ...; NULL: not
 * followed). */
static const char *
img_state(json_t *st, const char *name)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(st, "images"), name), "state"));
}

static void
sync_action(uint8_t a)
{
	char *err = NULL;
	json_t *args = (a & 3) == 0 ? NULL :
		       json_pack("{s:b}", (a & 3) == 1 ? "check" : "status", 1);
	json_t *j = mb_ctl_action_run("sync", args, &err);

	json_decref(args);
	if (j == NULL)
		fail("sync: %s", err != NULL ? err : "?");
	json_decref(j);
}

/* A leftover .part, as a crash would leave it, for an image sync is not
 * downloading. */
static void
plant(struct rd *r, uint8_t a)
{
	unsigned ni = (a & 3) % NNAME, si = ((a >> 2) & 7) % NSIZE, var = (a >> 5) & 1;
	char pn[300], path[512];
	json_t *st = sync_status();
	const char *state = img_state(st, names[ni]);
	uint64_t len = sizes[si], k = ((uint64_t)rd16(r) << 8) % (len + 1);
	const uint8_t *data = content_of(si, var)->data;
	int fd;

	if (json_is_true(json_object_get(st, "running")) ||
	    (state != NULL && strcmp(state, "downloading") == 0)) {
		json_decref(st);
		return;
	}
	json_decref(st);
	part_name(names[ni], pn, sizeof(pn));
	snprintf(path, sizeof(path), "%s/tmp", S.dir);
	(void)mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/tmp/%s", S.dir, pn);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fail("%s: %s", path, strerror(errno));
	switch (a >> 6) {
	case 0: /* a prefix */
		break;
	case 1: /* the whole file */
		k = len;
		break;
	case 2: /* garbage */
		data = content_of(si, var ^ 1)->data;
		break;
	default: /* more than the file */
		if (write(fd, data, len) != (ssize_t)len || write(fd, "extra", 5) != 5)
			fail("%s: %s", path, strerror(errno));
		k = 0;
		break;
	}
	if (k > 0 && write(fd, data, k) != (ssize_t)k)
		fail("%s: %s", path, strerror(errno));
	(void)close(fd);
	S.planted[ni] = true;
}

static void
reload(uint8_t a)
{
	struct mb_config c;
	char err[256] = "";

	if (mb_config_copy(&c, mb_ctl_config()) != 0)
		fail("out of memory");
	c.sync_ranges = 1 + (a & 7);
	c.sync_concurrency = 1 + ((a >> 3) & 1);
	if (mb_ctl_core_apply(&c, err, sizeof(err)) != 0)
		fail("reload: %s", err);
	mb_config_done(&c);
}

static void
check_step(unsigned step)
{
	unsigned timers = mb_ctl_timer_count();
	int fds;

	if (step % 8 != 0)
		return; /* /proc/self/fd costs more than a step */
	fds = count_fds();

	/* ops's connections and sync's (one per range, a chunk re-fetch, the
	 * manifest), each download's .part twice, with margin */
	if (fds > fz_base_fds + 2 * NCONN + 2 * 16 * 2 + 32)
		fail("%d descriptors (%d before start)", fds, fz_base_fds);
	if (timers > fz_base_timers + 64)
		fail("%u live timers (%u before start)", timers, fz_base_timers);
}

/* ---- after every input ------------------------------------------------------------- */

static const struct signed_entry *
signed_find(const struct mb_manifest_entry *e)
{
	for (unsigned i = 0; i < S.nsgn; i++)
		if (strcmp(S.sgn[i].name, e->name) == 0 && S.sgn[i].version == e->version &&
		    S.sgn[i].size == e->size && memcmp(S.sgn[i].sha, e->sha256, MB_SHA256_LEN) == 0)
			return &S.sgn[i];
	return NULL;
}

static bool
file_hash(const char *path, uint64_t size, uint8_t md[MB_SHA256_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	bool ok;

	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && (uint64_t)st.st_size == size;
	buf = malloc(size > 0 ? size : 1);
	ok = ok && buf != NULL && read(fd, buf, size) == (ssize_t)size &&
	     mb_sha256(buf, size, md) == 0;
	free(buf);
	(void)close(fd);
	return ok;
}

static struct mb_manifest pub;	/* the store's manifest, for the walk */
static json_t *walk_status;

static int
walk_fn(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = path + strlen(S.dir) + 1;

	(void)sb;
	if (ftw->level == 0 || type == FTW_D || type == FTW_DP)
		return 0; /* directories: images/ and the names' components */
	if (ftw->level == 1 && (strcmp(rel, "manifest.json") == 0 ||
				strcmp(rel, "sync-accepted.json") == 0 ||
				strcmp(rel, "master-cursors.json") == 0))
		return 0;
	if (strncmp(rel, "images/", 7) == 0 && mb_manifest_find(&pub, rel + 7) != NULL)
		return 0;
	if (strncmp(rel, "tmp/", 4) == 0 && ftw->level == 2) {
		for (unsigned i = 0; i < NNAME; i++) {
			char pn[300];
			const char *st = img_state(walk_status, names[i]);

			part_name(names[i], pn, sizeof(pn));
			if (strcmp(rel + 4, pn) == 0 &&
			    (S.planted[i] || (st != NULL && strcmp(st, "ok") != 0)))
				return 0;
		}
	}
	fail("a stray file in the state directory: %s", rel);
}

static bool
idle(void)
{
	json_t *st = sync_status();
	bool busy = json_is_true(json_object_get(st, "running"));

	json_decref(st);
	return !busy;
}

static void
check_end(void)
{
	/* real time: the offset moves on below */
	uint64_t until = mb_time_mono_ns() - mono_offset_ns + 20 * MB_NS_PER_SEC;
	json_t *st, *imgs, *v;
	const char *k;
	unsigned quiet = 0, spins = 0;

	/* Ops answers plainly; everything that runs ends (stalled transfers
	 * by origin.timeout, backoffs by the clock, which moves on whenever
	 * nothing happened for a few passes, waits of 1 ms among them). */
	S.ending = true;
	while (spins++ % 16 != 0 || !idle()) {
		serve();
		if (mb_ctl_loop_run_once(quiet >= 4 ? 1 : 0) > 0) {
			quiet = 0;
		} else if (++quiet >= 32) {
			mono_offset_ns += (TIMEOUT_S + 1) * MB_NS_PER_SEC;
			quiet = 0;
		}
		if (mb_time_mono_ns() - mono_offset_ns > until) {
			st = sync_status();
			fprintf(stderr, "%s\n", json_dumps(st, JSON_COMPACT));
			fail("the sync round never ended (%u timers)", mb_ctl_timer_count());
		}
	}
	pump_quiet();
	/* What the store publishes: signed by ops, its file and memory that. */
	if (mb_ctl_store_get_manifest(&pub) != 0)
		memset(&pub, 0, sizeof(pub));
	for (uint32_t i = 0; i < pub.count; i++) {
		const struct mb_manifest_entry *e = &pub.entries[i];
		char path[600];
		uint8_t md[MB_SHA256_LEN];
		struct mb_image *im;

		if (signed_find(e) == NULL)
			fail("'%s' version %llu is published, but ops never signed it", e->name,
			     (unsigned long long)e->version);
		snprintf(path, sizeof(path), "%s/images/%s", S.dir, e->name);
		if (!file_hash(path, e->size, md) || memcmp(md, e->sha256, MB_SHA256_LEN) != 0)
			fail("the file of '%s' does not hash to its sha256", e->name);
		im = mb_image_lookup(e->name, strlen(e->name));
		if (im != NULL && (im->size != e->size || mb_sha256(im->sb.data, im->size, md) != 0 ||
				   memcmp(md, e->sha256, MB_SHA256_LEN) != 0))
			fail("the memory of '%s' does not hash to its sha256", e->name);
	}
	/* Refusals: a reason each, a warning each. */
	st = walk_status = sync_status();
	imgs = json_object_get(st, "images");
	json_object_foreach(imgs, k, v) {
		const char *state = json_string_value(json_object_get(v, "state"));
		const char *why = json_string_value(json_object_get(v, "reason"));

		if (state != NULL && strcmp(state, "failed") == 0 && (why == NULL || why[0] == '\0'))
			fail("image '%s' failed without a reason", k);
		/* libcurl's text for success is no reason for a refusal */
		if (why != NULL && strstr(why, curl_easy_strerror(CURLE_OK)) != NULL)
			fail("image '%s' failed for '%s'", k, why);
	}
	if (json_integer_value(json_object_get(st, "refusals")) - S.refusals > (json_int_t)S.warnings)
		fail("%lld refusals counted, %u warnings logged",
		     (long long)(json_integer_value(json_object_get(st, "refusals")) - S.refusals),
		     S.warnings);
	/* Nothing in the state directory but what doc/image-store.md lists. */
	(void)nftw(S.dir, walk_fn, 16, FTW_PHYS);
	json_decref(st);
	walk_status = NULL;
	mb_manifest_done(&pub);
	memset(&pub, 0, sizeof(pub));
	/* Stopped: every descriptor and timer is back. */
	for (unsigned i = 0; i < NCONN; i++)
		conn_close(&conns[i], false);
	mb_ctl_core_stop();
	pump_quiet();
	if (!fz_at_baseline()) {
		list_fds();
		fail("after the stop: %d descriptors (%d before start), %u timers (%u)", count_fds(),
		     fz_base_fds, mb_ctl_timer_count(), fz_base_timers);
	}
}

/* ---- the script ------------------------------------------------------------------------- */

static const uint64_t time_steps_ms[8] = { 1, 100, 1001, 4999, 5001, 60001, 601000, 3601000 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size }, tape = { NULL, 0 };
	unsigned steps = 0;

	if (!S.up)
		setup_once();
	R = &tape;
	dir_empty();
	free(S.man);
	free(S.sig);
	S.man = NULL;
	S.sig = NULL;
	S.man_len = S.sig_len = 0;
	S.generated = 0;
	S.nsgn = 0;
	S.ending = false;
	S.warnings = 0;
	for (unsigned i = 0; i < NNAME; i++) {
		S.served[i] = -1;
		S.planted[i] = false;
	}
	start(rd8(&r));
	/* The reply tape: the last 4 x (second byte) bytes of the input, apart
	 * from the steps, so which answer a request gets does not depend on
	 * when it arrives. */
	{
		size_t l = (size_t)rd8(&r) * 4;

		if (l > r.n)
			l = r.n;
		tape.d = r.d + r.n - l;
		tape.n = l;
		r.n -= l;
	}
	if (!S.warm) {
		/* The fake dataplane's event queue and the store's SIGBUS guard
		 * open their descriptors once per process: the baseline is
		 * what a start and a stop leave. */
		mb_ctl_core_stop();
		pump_quiet();
		fz_baseline();
		S.warm = true;
		start(size > 0 ? data[0] : 0);
	}
	{
		json_t *st = sync_status();

		S.refusals = json_integer_value(json_object_get(st, "refusals"));
		json_decref(st);
		S.warnings = 0;
	}
	while (r.n > 0 && steps++ < MAX_STEPS) {
		uint8_t op = rd8(&r), a = rd8(&r);

		switch (op % 8) {
		case 0:
			publish(&r);
			break;
		case 1:
			sync_action(a);
			break;
		case 2: /* the loop and ops run */
			for (int i = 0; i < 1 + (a & 15); i++) {
				serve();
				(void)mb_ctl_loop_run_once(0);
			}
			break;
		case 3: /* the clock moves on */
			mono_offset_ns += time_steps_ms[a % 8] * MB_NS_PER_MS;
			break;
		case 4: /* ops lets go of a connection */
			conn_close(&conns[a % NCONN], a & 0x80);
			break;
		case 5:
			plant(&r, a);
			break;
		case 6:
			reload(a);
			break;
		default: /* a real wait: the worker's hashing and writes come back */
			serve();
			(void)mb_ctl_loop_run_once(1 + (a & 3));
			break;
		}
		serve();
		(void)mb_ctl_loop_run_once(0);
		check_step(steps);
	}
	check_end();
	return 0;
}
