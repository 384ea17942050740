/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checksum helpers of the dataplane (dataplane/dp_cksum.h) against a
 * byte-wise RFC 1071 reference: the fold with its end-around carries, a
 * datagram's sum assembled from parts at even offsets (as the Frisbee
 * engine assembles a BLOCK's from its template, the block number and the
 * payload's cached sum) equal to the sum of the whole, the 32-bit field's
 * words in either byte order, and UDP's 0 sent as 0xffff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dp_cksum.h"

/* RFC 1071 over bytes: big-endian 16-bit words, folded, not complemented;
 * returned in host order of the bytes' memory (as the helpers work). */
static uint16_t
ref_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	uint16_t be, host;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	be = (uint16_t)s;
	host = 0;
	memcpy(&host, (uint8_t[]){ (uint8_t)(be >> 8), (uint8_t)be }, 2);
	return host;
}

/* The helpers' way: 16-bit words loaded in host order. */
static uint32_t
host_words(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	uint16_t w;

	for (size_t i = 0; i + 1 < n; i += 2) {
		memcpy(&w, p + i, 2);
		s += w;
	}
	return s;
}

static void
test_fold(void **state)
{
	(void)state;
	assert_int_equal(dp_cksum_fold(0), 0);
	assert_int_equal(dp_cksum_fold(0xffff), 0xffff);
	assert_int_equal(dp_cksum_fold(0x10000), 1);
	assert_int_equal(dp_cksum_fold(0x1fffe), 0xffff);
	/* two carries: 0xffffffff -> 0xffff + 0xffff = 0x1fffe -> 0xffff */
	assert_int_equal(dp_cksum_fold(0xffffffffu), 0xffff);
	assert_int_equal(dp_cksum_fold(0x12345678u), (0x1234 + 0x5678) & 0xffff);
}

static void
test_parts_add(void **state)
{
	uint8_t buf[1024 + 64];

	(void)state;
	srand(19);
	for (int round = 0; round < 200; round++) {
		size_t n = 2 * (size_t)(rand() % 540), cut = 2 * (size_t)(rand() % (n / 2 + 1));
		uint32_t whole, parts;

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rand();
		whole = host_words(buf, n);
		parts = host_words(buf, cut) + host_words(buf + cut, n - cut);
		assert_int_equal(dp_cksum_fold(whole), ref_sum(buf, n));
		assert_int_equal(dp_cksum_fold(parts), ref_sum(buf, n));
	}
}

static void
test_word32(void **state)
{
	uint8_t le[4] = { 0x78, 0x56, 0x34, 0x12 }, be[4] = { 0x12, 0x34, 0x56, 0x78 };
	uint32_t v;

	(void)state;
	/* a field's words are those of its bytes, whatever order they are in */
	memcpy(&v, le, 4);
	assert_int_equal(dp_cksum_fold(dp_cksum_word32(v)), ref_sum(le, 4));
	memcpy(&v, be, 4);
	assert_int_equal(dp_cksum_fold(dp_cksum_word32(v)), ref_sum(be, 4));
}

static void
test_fields(void **state)
{
	/* an IPv4 header from RFC 1071's worked example style: check that the
	 * complement of the sum with the field set folds to 0xffff */
	uint8_t ip[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	uint16_t c;

	(void)state;
	c = dp_ip_cksum_field(host_words(ip, sizeof(ip)));
	memcpy(ip + 10, &c, 2);
	assert_int_equal(ip[10], 0xb8); /* the well-known 0xb861 */
	assert_int_equal(ip[11], 0x61);
	assert_int_equal(dp_cksum_fold(host_words(ip, sizeof(ip))), 0xffff);
	/* UDP: a sum whose complement is 0 is sent as 0xffff (0 = none) */
	assert_int_equal(dp_udp_cksum_field(0xffff), 0xffff);
	assert_int_equal(dp_udp_cksum_field(0x1fffe), 0xffff);
	assert_int_equal(dp_udp_cksum_field(0x1234), (uint16_t)~0x1234);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_parts_add),
		cmocka_unit_test(test_word32),
		cmocka_unit_test(test_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
