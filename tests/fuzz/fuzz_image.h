/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The image the HTTP and FTP fuzz harnesses (fuzz_http.c, fuzz_ftp.c) serve:
 * "proj/img.ndz", the 10 bytes "0123456789", mtime 1700000000.  It is made
 * on first use and kept for the life of the process, since a harness runs
 * many inputs against it.
 */
#ifndef _MB_FUZZ_IMAGE_H_
#define _MB_FUZZ_IMAGE_H_

#include <stdlib.h>

#include "mb_image.h"

/* The image; aborts when it cannot be made (no input can be run then). */
static inline struct mb_image *
fuzz_image(void)
{
	static struct mb_image *img;

	if (img == NULL) {
		img = mb_image_new_heap("proj/img.ndz", "0123456789", 10);
		if (img == NULL)
			abort();
		img->mtime = 1700000000;
	}
	return img;
}

#endif /* _MB_FUZZ_IMAGE_H_ */
