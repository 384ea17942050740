/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * HTTP/1.1 request parsing and response headers for image downloads (see
 * mb_http.h).  Lines may end in CRLF or a bare LF (RFC 9112 §2.2 lets a
 * recipient accept LF); obsolete line folding, NUL and other control bytes
 * are refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mb_http.h"

static bool
is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Find the end of the line starting at p: returns its length (without the
 * terminator) and sets *next past the terminator, or -1 if no LF yet. */
static long
line_end(const char *p, const char *end, const char **next)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));

	if (lf == NULL)
		return -1;
	*next = lf + 1;
	if (lf > p && lf[-1] == '\r')
		lf--;
	return lf - p;
}

static bool
eq_ci(const char *a, size_t alen, const char *lit)
{
	return alen == strlen(lit) && strncasecmp(a, lit, alen) == 0;
}

static bool
parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

/* "bytes=a-b" | "bytes=a-" | "bytes=-n"; anything else (several ranges,
 * other units, bad syntax) leaves has_range false: the full image is sent,
 * which RFC 9110 §14.2 allows. */
static void
parse_range(const char *v, size_t n, struct mb_http_req *r)
{
	const char *dash;
	uint64_t a, b;

	if (n < 7 || strncasecmp(v, "bytes=", 6) != 0)
		return;
	v += 6;
	n -= 6;
	if (memchr(v, ',', n) != NULL)
		return;
	dash = memchr(v, '-', n);
	if (dash == NULL)
		return;
	if (dash == v) {
		if (!parse_u64(v + 1, n - 1, &b))
			return;
		r->range_suffix = true;
		r->range_last = b;
		r->has_range = true;
		return;
	}
	if (!parse_u64(v, (size_t)(dash - v), &a))
		return;
	if ((size_t)(dash - v) == n - 1) {
		b = UINT64_MAX;
	} else if (!parse_u64(dash + 1, n - (size_t)(dash - v) - 1, &b) || b < a) {
		return;
	}
	r->range_first = a;
	r->range_last = b;
	r->has_range = true;
}

static int
fail(struct mb_http_req *r, int status)
{
	r->status = status;
	return -EINVAL;
}

int
mb_http_parse(const char *buf, size_t len, struct mb_http_req *r, size_t *ret_consumed)
{
	const char *p = buf, *end, *next, *sp1, *sp2, *tgt;
	size_t tlen;
	long n;
	bool have_host = false, have_cl = false, conn_close = false, conn_ka = false;
	bool have_range = false;

	memset(r, 0, sizeof(*r));
	if (len > MB_HTTP_HDR_MAX)
		len = MB_HTTP_HDR_MAX;
	end = buf + len;
	/* RFC 9112 §2.2: ignore empty lines before the request line */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	n = line_end(p, end, &next);
	if (n < 0) {
		if (len >= MB_HTTP_HDR_MAX)
			return fail(r, (size_t)(end - p) > MB_HTTP_TARGET_MAX + 32 ? 414 : 431);
		return -EAGAIN;
	}
	/* request line: method SP target SP HTTP/1.x */
	for (long i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return fail(r, 400);
	sp1 = memchr(p, ' ', (size_t)n);
	if (sp1 == NULL || sp1 == p)
		return fail(r, 400);
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return fail(r, 400);
	tgt = sp1 + 1;
	sp2 = memchr(tgt, ' ', (size_t)(p + n - tgt));
	if (sp2 == NULL || sp2 == tgt)
		return fail(r, 400);
	tlen = (size_t)(sp2 - tgt);
	if (p + n - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/", 5) != 0 || sp2[7] != '.' ||
	    sp2[6] < '0' || sp2[6] > '9' || sp2[8] < '0' || sp2[8] > '9')
		return fail(r, 400);
	if (sp2[6] != '1' || sp2[8] > '1')
		return fail(r, 505);
	r->minor = (unsigned)(sp2[8] - '0');
	if (tlen > MB_HTTP_TARGET_MAX)
		return fail(r, 414);
	if (sp1 - p == 3 && memcmp(p, "GET", 3) == 0)
		r->method = MB_HTTP_GET;
	else if (sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0)
		r->method = MB_HTTP_HEAD;
	else
		return fail(r, 405);
	if (tgt[0] != '/')
		return fail(r, 400);
	{
		const char *q = memchr(tgt, '?', tlen);

		if (q != NULL)
			tlen = (size_t)(q - tgt);
	}
	if (tlen <= 8 || memcmp(tgt, "/images/", 8) != 0)
		return fail(r, 404);
	r->name = tgt + 8;
	r->name_len = tlen - 8;
	if (!mb_image_name_valid(r->name, r->name_len))
		return fail(r, 404);

	/* header fields */
	p = next;
	for (unsigned nf = 0;; nf++) {
		const char *colon, *v, *ve;

		n = line_end(p, end, &next);
		if (n < 0)
			return len >= MB_HTTP_HDR_MAX ? fail(r, 431) : -EAGAIN;
		if (n == 0)
			break;
		if (nf >= 100)
			return fail(r, 431);
		if (*p == ' ' || *p == '\t')
			return fail(r, 400); /* obs-fold */
		colon = memchr(p, ':', (size_t)n);
		if (colon == NULL || colon == p)
			return fail(r, 400);
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return fail(r, 400);
		for (const char *q = colon + 1; q < p + n; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
				return fail(r, 400);
		v = colon + 1;
		ve = p + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (eq_ci(p, (size_t)(colon - p), "host")) {
			if (have_host)
				return fail(r, 400);
			have_host = true;
		} else if (eq_ci(p, (size_t)(colon - p), "content-length")) {
			uint64_t cl;

			if (have_cl || !parse_u64(v, (size_t)(ve - v), &cl) || cl != 0)
				return fail(r, 400);
			have_cl = true;
		} else if (eq_ci(p, (size_t)(colon - p), "transfer-encoding")) {
			return fail(r, 501);
		} else if (eq_ci(p, (size_t)(colon - p), "connection")) {
			/* a comma list of tokens */
			const char *t = v;

			while (t < ve) {
				const char *te = memchr(t, ',', (size_t)(ve - t));
				const char *a = t, *b;

				if (te == NULL)
					te = ve;
				b = te;
				while (a < b && (*a == ' ' || *a == '\t'))
					a++;
				while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
					b--;
				if (eq_ci(a, (size_t)(b - a), "close"))
					conn_close = true;
				else if (eq_ci(a, (size_t)(b - a), "keep-alive"))
					conn_ka = true;
				t = te + 1;
			}
		} else if (eq_ci(p, (size_t)(colon - p), "range")) {
			if (have_range) {
				r->has_range = false; /* two Range fields: ignore all */
			} else {
				have_range = true;
				parse_range(v, (size_t)(ve - v), r);
			}
		} else if (eq_ci(p, (size_t)(colon - p), "if-none-match")) {
			r->inm = v;
			r->inm_len = (size_t)(ve - v);
		} else if (eq_ci(p, (size_t)(colon - p), "if-modified-since")) {
			r->has_ims = mb_http_date_parse(v, (size_t)(ve - v), &r->ims) == 0;
		}
		p = next;
	}
	if (r->minor == 1 && !have_host)
		return fail(r, 400);
	r->keep_alive = r->minor == 1 ? !conn_close : (conn_ka && !conn_close);
	*ret_consumed = (size_t)(next - buf);
	return 0;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

int
mb_http_date_fmt(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (cap < 30 || gmtime_r(&tt, &tm) == NULL)
		return -ENOSPC;
	return (int)strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int
mb_http_date_parse(const char *s, size_t len, int64_t *ret_t)
{
	char tmp[64];
	struct tm tm;
	const char *e;

	if (len != 29)
		return -EINVAL; /* IMF-fixdate only; obsolete forms are ignored */
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	e = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (e == NULL || *e != '\0')
		return -EINVAL;
	*ret_t = (int64_t)timegm(&tm);
	return 0;
}

/* Does an If-None-Match list name this ETag (weak comparison, or "*")? */
static bool
inm_matches(const char *v, size_t n, const char *etag, size_t elen)
{
	size_t i = 0;

	while (i < n) {
		size_t j;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i < n && v[i] == '*')
			return true;
		if (i + 2 < n && v[i] == 'W' && v[i + 1] == '/')
			i += 2;
		j = i;
		while (j < n && v[j] != ',')
			j++;
		{
			size_t k = j;

			while (k > i && (v[k - 1] == ' ' || v[k - 1] == '\t'))
				k--;
			if (k - i == elen && memcmp(v + i, etag, elen) == 0)
				return true;
		}
		i = j;
	}
	return false;
}

int
mb_http_respond(const struct mb_http_req *r, const struct mb_image *img, char *buf, size_t cap,
		uint64_t *ret_off, uint64_t *ret_len, int *ret_status)
{
	char etag[2 * MB_SHA256_LEN + 3], lm[40];
	uint64_t off = 0, len, first, last;
	int status = 200, n;
	char cr[96] = "";

	*ret_off = 0;
	*ret_len = 0;
	if (img == NULL) {
		*ret_status = 404;
		return mb_http_error(404, r->keep_alive, buf, cap);
	}
	etag[0] = '"';
	for (int i = 0; i < MB_SHA256_LEN; i++)
		snprintf(etag + 1 + 2 * i, 3, "%02x", img->sha256[i]);
	etag[1 + 2 * MB_SHA256_LEN] = '"';
	etag[2 + 2 * MB_SHA256_LEN] = '\0';
	if (mb_http_date_fmt(img->mtime, lm, sizeof(lm)) < 0)
		return -ENOSPC;
	len = img->size;

	/* RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since */
	if ((r->inm != NULL && inm_matches(r->inm, r->inm_len, etag, strlen(etag))) ||
	    (r->inm == NULL && r->has_ims && img->mtime <= r->ims)) {
		status = 304;
		len = 0;
	} else if (r->has_range) {
		if (r->range_suffix) {
			if (r->range_last == 0 || img->size == 0) {
				status = 416;
			} else {
				first = r->range_last >= img->size ? 0 : img->size - r->range_last;
				last = img->size - 1;
				status = 206;
			}
		} else if (r->range_first >= img->size) {
			status = 416;
		} else {
			first = r->range_first;
			last = r->range_last >= img->size ? img->size - 1 : r->range_last;
			status = 206;
		}
		if (status == 206) {
			off = first;
			len = last - first + 1;
			snprintf(cr, sizeof(cr),
				 "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
				 first, last, img->size);
		} else {
			len = 0;
			snprintf(cr, sizeof(cr), "Content-Range: bytes */%" PRIu64 "\r\n",
				 img->size);
		}
	}
	n = snprintf(buf, cap,
		     "HTTP/1.1 %d %s\r\n"
		     "Server: miniboss\r\n"
		     "Content-Type: application/octet-stream\r\n"
		     "Content-Length: %" PRIu64 "\r\n"
		     "%s"
		     "Accept-Ranges: bytes\r\n"
		     "ETag: %s\r\n"
		     "Last-Modified: %s\r\n"
		     "%s"
		     "\r\n",
		     status, reason(status), status == 304 ? img->size : len, cr, etag, lm,
		     r->keep_alive ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	if (status == 304)
		len = 0;
	*ret_off = off;
	*ret_len = r->method == MB_HTTP_HEAD ? 0 : len;
	*ret_status = status;
	return n;
}

int
mb_http_error(int status, bool keep_alive, char *buf, size_t cap)
{
	char body[64];
	int bl, n;

	bl = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	n = snprintf(buf, cap,
		     "HTTP/1.1 %d %s\r\n"
		     "Server: miniboss\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %d\r\n"
		     "%s%s"
		     "\r\n%s",
		     status, reason(status), bl, status == 405 ? "Allow: GET, HEAD\r\n" : "",
		     keep_alive ? "" : "Connection: close\r\n", body);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
