/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration diagnostics (struct mb_diags): "file:line: error: ..."
 * messages collected while parsing and checking, kept up to a bound (a
 * hostile file cannot make us keep one message per line) and counted
 * beyond it, sorted by file and line, printed, or turned into JSON for the
 * control socket's reload reply.  Never logs.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_config.h"
#include "mb_config_priv.h"

#define OFF(f) offsetof(struct mb_config, f)
#define U64MAX UINT64_MAX

/* ---- diagnostics ------------------------------------------------------------ */

void
mb_diags_init(struct mb_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void
mb_diags_done(struct mb_diags *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void
mb_diags_add(struct mb_diags *d, enum mb_diag_level level, const char *file, uint32_t line,
	     const char *fmt, ...)
{
	struct mb_diag g = { .level = level, .line = line };
	va_list ap;
	int r;

	if (level == MB_DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->n >= MB_CFG_MAX_DIAGS)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct mb_diag *v = realloc(d->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	r = vasprintf(&g.msg, fmt, ap);
	va_end(ap);
	if (r == -1)
		return;
	if (file != NULL) {
		g.file = strdup(file);
		if (g.file == NULL) {
			free(g.msg);
			return;
		}
	}
	d->v[d->n++] = g;
}

void
mb_diags_sort(struct mb_diags *d)
{
	/* Insertion sort: stable, and the lists are short (MB_CFG_MAX_DIAGS). */
	for (size_t i = 1; i < d->n; i++) {
		struct mb_diag g = d->v[i];
		size_t j = i;

		while (j > 0) {
			const struct mb_diag *p = &d->v[j - 1];
			int fc = strcmp(p->file ? p->file : "", g.file ? g.file : "");

			if (fc < 0 || (fc == 0 && p->line <= g.line))
				break;
			d->v[j] = *p;
			j--;
		}
		d->v[j] = g;
	}
}

static int
diag_format(const struct mb_diag *g, bool level, char *buf, size_t len)
{
	const char *lv = !level ? "" : g->level == MB_DIAG_ERROR ? "error: " : "warning: ";

	if (g->file != NULL && g->line > 0)
		return snprintf(buf, len, "%s:%" PRIu32 ": %s%s", g->file, g->line, lv, g->msg);
	if (g->file != NULL)
		return snprintf(buf, len, "%s: %s%s", g->file, lv, g->msg);
	return snprintf(buf, len, "%s%s", lv, g->msg);
}

int
mb_diag_format(const struct mb_diag *g, char *buf, size_t len)
{
	return diag_format(g, true, buf, len);
}

void
mb_diags_print(const struct mb_diags *d, FILE *f, const char *prefix)
{
	char buf[2048];
	unsigned kept = (unsigned)d->n, all = d->errors + d->warnings;

	for (size_t i = 0; i < d->n; i++) {
		mb_diag_format(&d->v[i], buf, sizeof(buf));
		fprintf(f, "%s%s\n", prefix, buf);
	}
	if (all > kept)
		fprintf(f, "%s... and %u more\n", prefix, all - kept);
}

json_t *
mb_diags_json(const struct mb_diags *d, int level)
{
	json_t *a = json_array();
	char buf[2048];

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		if (level >= 0 && (int)d->v[i].level != level)
			continue;
		mb_diag_format(&d->v[i], buf, sizeof(buf));
		if (json_array_append_new(a, json_string(buf)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The first error as "file:line: message" (the one-message API). */
void
mb_cfg_first_error(const struct mb_diags *d, char *err, size_t errlen)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].level == MB_DIAG_ERROR) {
			diag_format(&d->v[i], false, err, errlen);
			return;
		}
	}
	if (d->errors > 0)
		snprintf(err, errlen, "out of memory");
}
