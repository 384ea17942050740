/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the image manifest parser (proto/mb_manifest.c).
 *
 * Every input is one manifest text, parsed under small limits (so the size
 * and count checks are reached).  An accepted manifest must serialize back
 * to JSON that parses again to the same entries (chunk digests included),
 * every chunk list must have exactly ceil(size / 1 MiB) digests, and its
 * copy, lookups and removals must work.  Also built by tests/unit/test_garbage.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mb_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_manifest_limits lim = {.max_bytes = 1 << 16, .max_images = 64};
	struct mb_manifest m, m2, cp;
	char err[MB_MANIFEST_ERRLEN];
	json_t *j;
	char *text;

	memset(&m, 0, sizeof(m));
	err[0] = '\0';
	if (mb_manifest_parse((const char *)data, size, &lim, &m, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || m.count != 0)
			abort();
		mb_manifest_done(&m);
		return 0;
	}
	if (m.count > lim.max_images)
		abort();
	j = mb_manifest_to_json(&m);
	if (j == NULL)
		abort();
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		abort();
	memset(&m2, 0, sizeof(m2));
	lim.max_bytes = 0;
	if (mb_manifest_parse(text, strlen(text), &lim, &m2, err, sizeof(err)) != 0 ||
	    m2.count != m.count)
		abort();
	for (uint32_t i = 0; i < m.count; i++) {
		const char *nm = m.entries[i].name;

		if (!mb_image_name_valid(nm, strlen(nm)) ||
		    !mb_manifest_entry_same(&m.entries[i], &m2.entries[i]) ||
		    mb_manifest_find(&m2, m.entries[i].name) == NULL)
			abort();
		if (m.entries[i].nchunks != m2.entries[i].nchunks ||
		    (m.entries[i].chunks == NULL) != (m.entries[i].nchunks == 0) ||
		    (m.entries[i].chunks != NULL &&
		     (m.entries[i].nchunks != mb_manifest_chunks_for(m.entries[i].size) ||
		      memcmp(m.entries[i].chunks, m2.entries[i].chunks,
			     (size_t)m.entries[i].nchunks * MB_SHA256_LEN) != 0)))
			abort();
		(void)mb_manifest_entry_for_site(&m.entries[i], "utah");
	}
	free(text);
	memset(&cp, 0, sizeof(cp));
	if (mb_manifest_copy(&cp, &m) != 0 || cp.count != m.count)
		abort();
	while (cp.count > 0)
		if (mb_manifest_remove(&cp, cp.entries[0].name) != 0)
			abort();
	mb_manifest_done(&cp);
	mb_manifest_done(&m2);
	mb_manifest_done(&m);
	return 0;
}
