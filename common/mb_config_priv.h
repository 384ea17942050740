/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the files of the configuration module (mb_config*.c) share and
 * nobody else needs: the value parsers with their hints, field access by
 * key, setting one key from text, and the diagnostics helpers.
 */
#ifndef _MB_CONFIG_PRIV_H_
#define _MB_CONFIG_PRIV_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_config.h"

/* Diagnostics kept per check; the rest are only counted (a hostile file
 * cannot make us keep one message per line). */
#define MB_CFG_MAX_DIAGS 200

/* ---- mb_config.c ---- */

/* The value of key k inside cfg (its type is k->type's). */
const void *mb_cfg_cfield(const struct mb_config *cfg, const struct mb_cfg_key *k);
/* Is `section` one the table has keys in? */
bool mb_cfg_section_known(const char *section);
/* A bound of key k in the key's own units (64M, 30s), for messages. */
void mb_cfg_format_bound(const struct mb_cfg_key *k, uint64_t v, char *buf, size_t len);
/* Parse one value into its field, checking bounds; the message (without
 * the place) into err.  0, -EINVAL, -ERANGE or -ENOMEM. */
int mb_cfg_set_key(struct mb_config *cfg, const struct mb_cfg_key *k, const char *value,
		   char *err, size_t errlen);

/* ---- mb_config_value.c: the parsers behind mb_parse_size() and the others,
 * with a hint for the message when they refuse (hint may be NULL).
 * 0, -EINVAL, -ERANGE, or -EDOM (not a whole number of the base unit). ---- */

/* s past its blanks (spaces and tabs). */
const char *mb_cfg_skip_space(const char *s);
int mb_cfg_size_ex(const char *s, uint64_t *ret, bool per_second, char *hint, size_t hlen);
int mb_cfg_rate_ex(const char *s, uint64_t *ret, char *hint, size_t hlen);
int mb_cfg_duration_ex(const char *s, uint64_t *ret, char *hint, size_t hlen);

/* ---- mb_config_diag.c ---- */

/* The first error of d as "file:line: message" (the one-message API). */
void mb_cfg_first_error(const struct mb_diags *d, char *err, size_t errlen);

#endif /* _MB_CONFIG_PRIV_H_ */
