/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Deterministic garbage for one parser, in the normal (gcc) unit run.
 *
 * This driver is linked with one libFuzzer harness from tests/fuzz/ (the
 * same LLVMFuzzerTestOneInput the clang fuzz build runs) and feeds it inputs
 * from a fixed-seed generator: the seed corpus itself, then mutations of it
 * (bit flips, byte and 16/32-bit field extremes, truncation, insertion,
 * deletion, splices of two seeds) and pure random bytes.  The harness
 * aborts on any broken invariant and the sanitizers or valgrind catch
 * memory errors, so the test passes when every input comes back.
 * The whole corpus is loaded in name order (up to 4096 inputs), so every run
 * feeds the same inputs.  MB_GARBAGE_ITERS overrides the count (the
 * valgrind setup lowers it).  MB_GARBAGE_SAVE=<file>: each input is written
 * there before it runs, so after a failure the file holds the input that
 * broke the harness (run it again with the libFuzzer build).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef MB_GARBAGE_ITERS
#define MB_GARBAGE_ITERS 100000
#endif
#ifndef MB_GARBAGE_MAXLEN
#define MB_GARBAGE_MAXLEN 4096
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seed {
	uint8_t *data;
	size_t len;
};

#define MAX_SEEDS 4096

static struct seed seeds[MAX_SEEDS];
static unsigned int nseeds;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	/* xorshift64*: fixed seed, so every run feeds the same inputs */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* Every file of the corpus (up to MAX_SEEDS), in name order, so that each
 * run on any file system feeds the same inputs. */
static void
load_corpus(const char *dir)
{
	struct dirent **names;
	char path[4096];
	int n = scandir(dir, &names, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		struct seed *s = &seeds[nseeds];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		f = names[i]->d_name[0] == '.' || nseeds == MAX_SEEDS ? NULL : fopen(path, "rb");
		free(names[i]);
		if (f == NULL)
			continue;
		s->data = malloc(MB_GARBAGE_MAXLEN);
		assert_non_null(s->data);
		s->len = fread(s->data, 1, MB_GARBAGE_MAXLEN, f);
		fclose(f);
		nseeds++;
	}
	if (n > 0)
		free(names);
}

/* Overwrite a 1/2/4-byte field at a random place with an extreme value. */
static void
extreme(uint8_t *b, size_t len)
{
	static const uint32_t vals[] = {0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
					0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe};
	uint32_t v = vals[rnd() % (sizeof(vals) / sizeof(vals[0]))];
	size_t w = (size_t)1 << (rnd() % 3), at;

	if (len < w)
		return;
	at = rnd() % (len - w + 1);
	for (size_t i = 0; i < w; i++)
		b[at + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
}

static size_t
mutate(uint8_t *b, size_t len)
{
	unsigned int n = 1 + (unsigned int)(rnd() % 4);

	while (n-- > 0) {
		switch (rnd() % 7) {
		case 0: /* bit flip */
			if (len > 0)
				b[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1: /* random byte */
			if (len > 0)
				b[rnd() % len] = (uint8_t)rnd();
			break;
		case 2:
			extreme(b, len);
			break;
		case 3: /* truncate */
			len = len > 0 ? (size_t)(rnd() % len) : 0;
			break;
		case 4: { /* insert random bytes */
			size_t k = 1 + rnd() % 16, at = len > 0 ? rnd() % (len + 1) : 0;

			if (len + k > MB_GARBAGE_MAXLEN)
				break;
			memmove(b + at + k, b + at, len - at);
			for (size_t i = 0; i < k; i++)
				b[at + i] = (uint8_t)rnd();
			len += k;
			break;
		}
		case 5: { /* delete bytes */
			size_t at, k;

			if (len == 0)
				break;
			at = rnd() % len;
			k = 1 + rnd() % (len - at);
			memmove(b + at, b + at + k, len - at - k);
			len -= k;
			break;
		}
		default: { /* splice: overwrite a tail with another seed's */
			const struct seed *o = &seeds[rnd() % nseeds];
			size_t at = len > 0 ? rnd() % len : 0, from, k;

			if (o->len == 0)
				break;
			from = rnd() % o->len;
			k = o->len - from;
			if (at + k > MB_GARBAGE_MAXLEN)
				k = MB_GARBAGE_MAXLEN - at;
			memcpy(b + at, o->data + from, k);
			len = at + k > len ? at + k : len;
			break;
		}
		}
	}
	return len;
}

/* The input about to run, to $MB_GARBAGE_SAVE when set. */
static void
save(const uint8_t *in, size_t len)
{
	const char *path = getenv("MB_GARBAGE_SAVE");
	FILE *f;

	if (path == NULL || (f = fopen(path, "wb")) == NULL)
		return;
	if (len > 0 && fwrite(in, 1, len, f) != len)
		fprintf(stderr, "test_garbage: cannot write %s\n", path);
	fclose(f);
}

static void
test_garbage(void **state)
{
	const char *env = getenv("MB_GARBAGE_ITERS");
	unsigned long iters = env != NULL ? strtoul(env, NULL, 10) : MB_GARBAGE_ITERS;
	uint8_t *b = malloc(MB_GARBAGE_MAXLEN);
	size_t len;

	(void)state;
	assert_non_null(b);
	load_corpus(MB_FUZZ_CORPUS);
	/* The harness must accept its own corpus and the empty input. */
	(void)LLVMFuzzerTestOneInput(b, 0);
	for (unsigned int i = 0; i < nseeds; i++)
		(void)LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
	for (unsigned long i = 0; i < iters; i++) {
		if (nseeds > 0 && rnd() % 8 != 0) {
			const struct seed *s = &seeds[rnd() % nseeds];

			memcpy(b, s->data, s->len);
			len = mutate(b, s->len);
		} else {
			len = rnd() % 512;
			for (size_t k = 0; k < len; k++)
				b[k] = (uint8_t)rnd();
		}
		/* An exact-size heap copy lets ASan/valgrind see any over-read. */
		uint8_t *in = malloc(len > 0 ? len : 1);

		assert_non_null(in);
		memcpy(in, b, len);
		save(in, len);
		(void)LLVMFuzzerTestOneInput(in, len);
		free(in);
	}
	free(b);
	for (unsigned int i = 0; i < nseeds; i++)
		free(seeds[i].data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
