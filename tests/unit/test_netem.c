/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of mb-netem's parts that need no sockets (tools/netem/):
 *
 * - nm_pkt: the checksum against a byte-pair reference on random buffers;
 *   parse offsets of IPv4/IPv6, TCP/UDP, VLAN-tagged and fragmented frames;
 *   partial-checksum completion as the kernel leaves it; fix-up after a
 *   flipped byte; every truncation of valid frames and random garbage parsed
 *   without reading past the frame (run under valgrind/ASan to prove it);
 * - nm_path on a simulated clock: order, delay, jitter that keeps order,
 *   loss and Gilbert-Elliott rates, duplication, reordering, the rate
 *   limiter's exact spacing, burst and tail drop, the frame limit, flaps,
 *   corruption (where, match, keep/fix, skip/max), and the accounting
 *   identity rx + duplicated = tx + drops + held after a mixed run;
 * - nm_opt: every value parser, direction scoping, and derived defaults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nm_opt.h"
#include "nm_path.h"
#include "nm_pkt.h"

#define US 1000ULL
#define MS 1000000ULL
#define SLOT 2048

static uint64_t rs = 88172645463325252ULL;

static uint32_t
rnd32(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)rs;
}

/* ---- frames ------------------------------------------------------------------ */

/* Reference checksum: big-endian byte pairs, as RFC 1071 writes it. */
static uint16_t
ref_sum(const uint8_t *p, size_t len, uint32_t s)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A frame: Ethernet [+ VLAN] + IPv4 or IPv6 + TCP or UDP + `pay` bytes,
 * with correct checksums computed by the reference.  Returns its length. */
static uint32_t
build(uint8_t *f, int ipv, uint8_t proto, bool vlan, uint32_t pay, uint16_t sport,
      uint16_t dport)
{
	uint32_t off = 12, l3, l4, hl = proto == IPPROTO_TCP ? 20 : 8, end, i;
	uint8_t ph[40];
	uint32_t s;

	memset(f, 0, SLOT);
	memset(f, 0x02, 12);
	if (vlan) {
		put16(f + off, 0x8100);
		put16(f + off + 2, 42);
		off += 4;
	}
	put16(f + off, ipv == 4 ? 0x0800 : 0x86dd);
	l3 = off + 2;
	l4 = l3 + (ipv == 4 ? 20 : 40);
	end = l4 + hl + pay;
	if (ipv == 4) {
		f[l3] = 0x45;
		put16(f + l3 + 2, (uint16_t)(end - l3));
		f[l3 + 8] = 64;
		f[l3 + 9] = proto;
		memcpy(f + l3 + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		put16(f + l3 + 10, (uint16_t)~ref_sum(f + l3, 20, 0));
	} else {
		f[l3] = 0x60;
		put16(f + l3 + 4, (uint16_t)(end - l4));
		f[l3 + 6] = proto;
		f[l3 + 7] = 64;
		for (i = 0; i < 32; i++)
			f[l3 + 8 + i] = (uint8_t)(0x20 + i);
	}
	put16(f + l4, sport);
	put16(f + l4 + 2, dport);
	if (proto == IPPROTO_TCP)
		f[l4 + 12] = 5 << 4;
	else
		put16(f + l4 + 4, (uint16_t)(end - l4));
	for (i = l4 + hl; i < end; i++)
		f[i] = (uint8_t)rnd32();
	if (ipv == 4) {
		memcpy(ph, f + l3 + 12, 8);
		ph[8] = 0;
		ph[9] = proto;
		put16(ph + 10, (uint16_t)(end - l4));
		s = ref_sum(ph, 12, 0);
	} else {
		memcpy(ph, f + l3 + 8, 32);
		ph[32] = ph[33] = 0;
		put16(ph + 34, (uint16_t)(end - l4));
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = proto;
		s = ref_sum(ph, 40, 0);
	}
	put16(f + l4 + (proto == IPPROTO_TCP ? 16 : 6), (uint16_t)~ref_sum(f + l4, end - l4, s));
	return end < 60 ? 60 : end;
}

/* The reference pseudo-header sum of a parsed TCP/UDP frame. */
static uint16_t
pseudo_ref(const uint8_t *f, const struct nm_pkt *pi)
{
	uint8_t ph[40];
	uint32_t l4len = pi->end - pi->l4;

	if (pi->ipv == 4) {
		memcpy(ph, f + pi->l3 + 12, 8);
		ph[8] = 0;
		ph[9] = pi->proto;
		put16(ph + 10, (uint16_t)l4len);
		return ref_sum(ph, 12, 0);
	}
	memcpy(ph, f + pi->l3 + 8, 32);
	ph[32] = ph[33] = 0;
	put16(ph + 34, (uint16_t)l4len);
	ph[36] = ph[37] = ph[38] = 0;
	ph[39] = pi->proto;
	return ref_sum(ph, 40, 0);
}

static void
test_csum_reference(void **state)
{
	uint8_t buf[3000];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		uint32_t off = rnd32() % 8, len = rnd32() % 2000, k;
		uint16_t want, got, be;
		uint8_t b[2];

		for (k = 0; k < off + len; k++)
			buf[k] = (uint8_t)rnd32();
		want = ref_sum(buf + off, len, 0);
		got = nm_csum(buf + off, len, 0);
		b[0] = (uint8_t)(want >> 8);
		b[1] = (uint8_t)want;
		memcpy(&be, b, 2);
		assert_int_equal(got, be);
	}
}

static void
test_parse(void **state)
{
	uint8_t f[SLOT];
	struct nm_pkt pi;
	uint32_t len;

	(void)state;
	len = build(f, 4, IPPROTO_TCP, false, 100, 80, 40000);
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.ipv, 4);
	assert_int_equal(pi.l3, 14);
	assert_int_equal(pi.l4, 34);
	assert_int_equal(pi.pay, 54);
	assert_int_equal(pi.end, 154);
	assert_int_equal(pi.proto, IPPROTO_TCP);
	assert_int_equal(pi.sport, 80);
	assert_int_equal(pi.dport, 40000);
	assert_true(nm_pkt_csum_ok(f, len));

	/* Short frame: Ethernet padding is not part of the datagram. */
	len = build(f, 4, IPPROTO_UDP, false, 2, 53, 53);
	assert_int_equal(len, 60);
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.end, 14 + 20 + 8 + 2);
	assert_int_equal(pi.pay, 42);
	assert_true(nm_pkt_csum_ok(f, len));

	len = build(f, 6, IPPROTO_UDP, true, 300, 1, 2);
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.ipv, 6);
	assert_int_equal(pi.l3, 18);
	assert_int_equal(pi.l4, 58);
	assert_int_equal(pi.pay, 66);
	assert_int_equal(pi.end, 366);
	assert_true(nm_pkt_csum_ok(f, len));

	len = build(f, 6, IPPROTO_TCP, false, 1400, 443, 5);
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.pay, 14 + 40 + 20);
	assert_true(nm_pkt_csum_ok(f, len));

	/* A fragment: IP, but no L4. */
	len = build(f, 4, IPPROTO_UDP, false, 100, 1, 2);
	put16(f + 14 + 6, 0x2000);
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.l4, 0);
	/* Total length beyond the frame: not IP. */
	len = build(f, 4, IPPROTO_TCP, false, 100, 1, 2);
	put16(f + 14 + 2, 2000);
	assert_false(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.ipv, 0);
	/* IHL below 5 */
	len = build(f, 4, IPPROTO_TCP, false, 100, 1, 2);
	f[14] = 0x44;
	assert_false(nm_pkt_parse(f, len, &pi));
	/* TCP data offset beyond the datagram */
	len = build(f, 4, IPPROTO_TCP, false, 10, 1, 2);
	f[34 + 12] = 0xf0;
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.l4, 0);
	/* UDP length that disagrees with IP */
	len = build(f, 4, IPPROTO_UDP, false, 10, 1, 2);
	put16(f + 34 + 4, 9);
	assert_true(nm_pkt_parse(f, len, &pi));
	assert_int_equal(pi.l4, 0);
	/* ARP */
	memset(f, 0, 60);
	put16(f + 12, 0x0806);
	assert_false(nm_pkt_parse(f, 60, &pi));
	assert_false(nm_pkt_parse(f, 10, &pi));
}

/* Offsets never beyond the frame, for every cut of valid frames and for
 * garbage; the buffer is exactly the frame so ASan/valgrind see overreads. */
static void
test_parse_hostile(void **state)
{
	uint8_t f[SLOT];
	struct nm_pkt pi;
	uint32_t len, cut, i, k;
	int v, p, vl;

	(void)state;
	for (v = 4; v <= 6; v += 2)
		for (p = 0; p < 2; p++)
			for (vl = 0; vl < 2; vl++) {
				len = build(f, v, p ? IPPROTO_TCP : IPPROTO_UDP, vl, 40, 1, 2);
				for (cut = 0; cut <= len; cut++) {
					uint8_t *c = malloc(cut ? cut : 1);

					memcpy(c, f, cut);
					nm_pkt_parse(c, cut, &pi);
					assert_true(pi.end <= cut && pi.l4 <= cut && pi.pay <= cut);
					nm_pkt_csum_ok(c, cut);
					nm_pkt_csum_fix(c, cut);
					free(c);
				}
			}
	for (i = 0; i < 100000; i++) {
		uint8_t *c;

		len = rnd32() % 200;
		c = malloc(len ? len : 1);
		for (k = 0; k < len; k++)
			c[k] = (uint8_t)rnd32();
		if (len > 14 && (i & 1)) {
			put16(c + 12, (i & 2) ? 0x0800 : 0x86dd);
			c[14] = (i & 2) ? (uint8_t)(0x40 | (c[14] & 0x0f)) : 0x60;
		}
		nm_pkt_parse(c, len, &pi);
		assert_true(pi.end <= len && pi.l4 <= len && pi.pay <= len);
		assert_true(pi.l4 == 0 || pi.pay >= pi.l4);
		nm_pkt_csum_fix(c, len);
		free(c);
	}
}

static void
test_csum_complete_fix(void **state)
{
	uint8_t f[SLOT], g[SLOT];
	struct nm_pkt pi;
	uint32_t len;

	(void)state;
	/* What a sender with tx checksum offload leaves: the folded pseudo-header
	 * sum, not inverted, in the checksum field. */
	len = build(f, 4, IPPROTO_TCP, false, 999, 1, 2);
	memcpy(g, f, len);
	nm_pkt_parse(f, len, &pi);
	put16(f + pi.l4 + 16, pseudo_ref(f, &pi));
	assert_false(nm_pkt_csum_ok(f, len));
	assert_int_equal(nm_pkt_csum_complete(f, len, pi.l4, 16), 0);
	assert_true(nm_pkt_csum_ok(f, len));
	assert_memory_equal(f, g, len);
	assert_int_equal(nm_pkt_csum_complete(f, len, len - 1, 0), -EINVAL);
	assert_int_equal(nm_pkt_csum_complete(f, len, 20, len), -EINVAL);
	assert_int_equal(nm_pkt_csum_complete(f, len, len, 0), -EINVAL);

	/* A flipped payload byte: caught, then fixed. */
	len = build(f, 6, IPPROTO_TCP, true, 500, 1, 2);
	nm_pkt_parse(f, len, &pi);
	f[pi.pay + 17] ^= 0x40;
	assert_false(nm_pkt_csum_ok(f, len));
	nm_pkt_csum_fix(f, len);
	assert_true(nm_pkt_csum_ok(f, len));
	/* ... and in the IPv4 header */
	len = build(f, 4, IPPROTO_UDP, false, 500, 1, 2);
	f[14 + 8] ^= 1;
	assert_false(nm_pkt_csum_ok(f, len));
	nm_pkt_csum_fix(f, len);
	assert_true(nm_pkt_csum_ok(f, len));
	/* IPv4 UDP without a checksum stays without */
	len = build(f, 4, IPPROTO_UDP, false, 50, 1, 2);
	f[34 + 6] = f[34 + 7] = 0;
	f[50] ^= 1;
	nm_pkt_csum_fix(f, len);
	assert_int_equal(f[34 + 6] | f[34 + 7], 0);
}

/* ---- the path ----------------------------------------------------------------- */

static struct nm_dir_conf
conf0(void)
{
	struct nm_dir_conf c;

	memset(&c, 0, sizeof(c));
	c.limit = 100000;
	c.corrupt_port = NM_PORT_ANY;
	return c;
}

/* Put a frame of `len` bytes (content: its number) in at `now`. */
static uint32_t
put(struct nm_path *p, uint32_t len, uint64_t now, bool down, uint32_t tag)
{
	uint32_t idx = nm_path_get(p);
	struct nm_frame *fr;

	assert_int_not_equal(idx, NM_NONE);
	fr = nm_path_frame(p, idx);
	fr->off = NM_HEADROOM;
	fr->len = (uint16_t)len;
	memset(nm_path_buf(p, idx) + NM_HEADROOM, 0, len);
	memcpy(nm_path_buf(p, idx) + NM_HEADROOM, &tag, sizeof(tag));
	nm_path_input(p, idx, now, down);
	return idx;
}

static uint32_t
tag_of(struct nm_path *p, uint32_t idx)
{
	uint32_t t;

	memcpy(&t, nm_path_buf(p, idx) + nm_path_frame(p, idx)->off, sizeof(t));
	return t;
}

static void
check_identity(const struct nm_path *p)
{
	uint64_t drops = 0;
	int i;

	for (i = 0; i < NM_CTR_COUNT; i++)
		if (strncmp(nm_ctr_names[i], "drop_", 5) == 0)
			drops += p->ctr[i];
	assert_int_equal(p->ctr[NM_CTR_rx_frames] + p->ctr[NM_CTR_duplicated],
			 p->ctr[NM_CTR_tx_frames] + drops + p->held);
}

static void
test_path_delay_order(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint32_t i, idx, last = 0;
	uint64_t t;

	(void)state;
	c.delay_ns = 20 * MS;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 1), 0);
	for (i = 0; i < 100; i++)
		put(&p, 100, 1000 + i * US, false, i);
	assert_int_equal(nm_path_next_due(&p), 1000 + 20 * MS);
	assert_int_equal(nm_path_pop(&p, 1000 + 20 * MS - 1), NM_NONE);
	for (i = 0; i < 100; i++) {
		idx = nm_path_pop(&p, 1000 + 20 * MS + i * US);
		assert_int_not_equal(idx, NM_NONE);
		assert_int_equal(tag_of(&p, idx), i);
		nm_path_sent(&p, idx);
	}
	assert_int_equal(nm_path_next_due(&p), UINT64_MAX);
	assert_int_equal(p.ctr[NM_CTR_tx_frames], 100);
	assert_int_equal(p.ctr[NM_CTR_held_max], 100);
	check_identity(&p);
	nm_path_done(&p);

	/* Jitter: every frame within [delay - j, delay + j] of its arrival,
	 * or later only to keep the order; order always kept. */
	c.delay_ns = 5 * MS;
	c.jitter_ns = 2 * MS;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 2), 0);
	for (i = 0; i < 20000; i++)
		put(&p, 64, i * 10 * US, false, i);
	for (t = 0, i = 0; i < 20000; i++) {
		idx = nm_path_pop(&p, UINT64_MAX);
		assert_int_not_equal(idx, NM_NONE);
		assert_int_equal(tag_of(&p, idx), i);
		assert_true(nm_path_frame(&p, idx)->due >= i * 10 * US + 3 * MS);
		assert_true(nm_path_frame(&p, idx)->due >= t);
		t = nm_path_frame(&p, idx)->due;
		if (nm_path_frame(&p, idx)->due > i * 10 * US + 7 * MS)
			last++;
		nm_path_sent(&p, idx);
	}
	/* Clamping for order is the exception, not the rule. */
	assert_true(last < 2000);
	check_identity(&p);
	nm_path_done(&p);
}

static void
test_path_loss(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint32_t i, idx, n = 200000, runs = 0, cur = 0, lostn = 0;
	bool prev_lost = false;

	(void)state;
	assert_int_equal(nm_parse_prob("10%", &c.loss), 0);
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 3), 0);
	for (i = 0; i < n; i++) {
		put(&p, 64, 0, false, i);
		while ((idx = nm_path_pop(&p, 0)) != NM_NONE)
			nm_path_sent(&p, idx);
	}
	/* 10% +- 5 sd */
	assert_in_range(p.ctr[NM_CTR_drop_loss], 19330, 20670);
	check_identity(&p);
	nm_path_done(&p);

	/* Gilbert-Elliott: P(enter) 1%, P(leave) 25%: 1/26 lost, runs of 4. */
	c = conf0();
	nm_parse_prob("1%", &c.ge_enter);
	nm_parse_prob("25%", &c.ge_exit);
	c.ge_loss = NM_P_ONE;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 4), 0);
	for (i = 0; i < n; i++) {
		uint64_t before = p.ctr[NM_CTR_drop_loss];
		bool l;

		put(&p, 64, 0, false, i);
		l = p.ctr[NM_CTR_drop_loss] != before;
		if (l && !prev_lost)
			runs++;
		lostn += l;
		cur = l ? cur + 1 : 0;
		prev_lost = l;
		while ((idx = nm_path_pop(&p, 0)) != NM_NONE)
			nm_path_sent(&p, idx);
	}
	assert_in_range(lostn, 200000 / 26 * 8 / 10, 200000 / 26 * 12 / 10);
	assert_int_equal(runs, p.ctr[NM_CTR_ge_bursts]);
	assert_true(lostn * 10 / runs >= 35 && lostn * 10 / runs <= 45);
	check_identity(&p);
	nm_path_done(&p);
}

static void
test_path_dup_reorder(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint32_t i, idx, n = 20000, count[20000] = { 0 }, late = 0, top = 0, t;
	uint64_t now;

	(void)state;
	nm_parse_prob("5%", &c.dup);
	nm_parse_prob("10%", &c.reorder);
	c.reorder_ns = 5 * MS;
	c.delay_ns = 1 * MS;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 5), 0);
	for (i = 0, now = 0; i < n; i++, now += 100 * US) {
		put(&p, 64, now, false, i);
		while ((idx = nm_path_pop(&p, now)) != NM_NONE) {
			t = tag_of(&p, idx);
			if (count[t]++ == 0 && t < top)
				late++;
			if (t > top)
				top = t;
			nm_path_sent(&p, idx);
		}
	}
	while ((idx = nm_path_pop(&p, UINT64_MAX)) != NM_NONE) {
		count[tag_of(&p, idx)]++;
		nm_path_sent(&p, idx);
	}
	for (i = 0, t = 0; i < n; i++) {
		assert_true(count[i] == 1 || count[i] == 2);
		t += count[i] - 1;
	}
	assert_int_equal(t, p.ctr[NM_CTR_duplicated]);
	assert_in_range(t, 800, 1200);
	assert_in_range(p.ctr[NM_CTR_reordered], 1700, 2500);
	/* Held 5 ms with frames every 0.1 ms: every held original is late,
	 * unless its duplicate arrived first. */
	assert_true(late >= p.ctr[NM_CTR_reordered] * 8 / 10);
	check_identity(&p);
	nm_path_done(&p);
}

static void
test_path_rate(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint32_t i, idx;

	(void)state;
	/* 1 Gbit/s, 1500 bytes: 12 us each; the queue holds 240 us. */
	c.rate = 1000000000;
	c.queue_ns = 240 * US;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 6), 0);
	for (i = 0; i < 30; i++)
		put(&p, 1500, 1 * MS, false, i);
	assert_int_equal(p.ctr[NM_CTR_drop_queue], 10);
	for (i = 0; i < 20; i++) {
		idx = nm_path_pop(&p, UINT64_MAX);
		assert_int_equal(nm_path_frame(&p, idx)->due, 1 * MS + (i + 1) * 12 * US);
		nm_path_sent(&p, idx);
	}
	/* Idle link: the next frame goes at once (plus its own bits). */
	put(&p, 1500, 10 * MS, false, 99);
	idx = nm_path_pop(&p, UINT64_MAX);
	assert_int_equal(nm_path_frame(&p, idx)->due, 10 * MS + 12 * US);
	nm_path_sent(&p, idx);
	check_identity(&p);
	nm_path_done(&p);

	/* 3 Gbit/s, 1000-byte frames: 2666.67 ns each, no drift over 3000. */
	c.rate = 3000000000ULL;
	c.queue_ns = 1000 * MS;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 7), 0);
	for (i = 0; i < 3000; i++)
		put(&p, 1000, 0, false, i);
	for (i = 0; i < 3000; i++) {
		idx = nm_path_pop(&p, UINT64_MAX);
		if (i == 2999)
			assert_int_equal(nm_path_frame(&p, idx)->due, 8000000);
		nm_path_sent(&p, idx);
	}
	nm_path_done(&p);

	/* A 3000-byte bucket: the first two frames pass at once, the rest
	 * 12 us apart as before, 24 us earlier. */
	c.rate = 1000000000;
	c.burst = 3000;
	c.queue_ns = 1 * MS;
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 8), 0);
	for (i = 0; i < 5; i++)
		put(&p, 1500, 5 * MS, false, i);
	for (i = 0; i < 5; i++) {
		uint64_t want = i < 2 ? 5 * MS : 5 * MS + (i + 1) * 12 * US - 24 * US;

		idx = nm_path_pop(&p, UINT64_MAX);
		assert_int_equal(nm_path_frame(&p, idx)->due, want);
		nm_path_sent(&p, idx);
	}
	nm_path_done(&p);
}

static void
test_path_limit_flap(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint32_t i, idx;

	(void)state;
	c.limit = 10;
	c.delay_ns = MS;
	nm_parse_prob("100%", &c.dup);
	assert_int_equal(nm_path_init(&p, &c, SLOT, 4, 9), 0);
	assert_int_equal(p.nslots, 18);
	for (i = 0; i < 20; i++)
		put(&p, 100, 0, false, i);
	assert_int_equal(p.held, 10);
	assert_int_equal(p.ctr[NM_CTR_duplicated], 20);
	assert_int_equal(p.ctr[NM_CTR_drop_limit], 30);
	check_identity(&p);
	/* Down: dropped on arrival. */
	i = nm_path_get(&p);
	nm_path_frame(&p, i)->len = 64;
	nm_path_input(&p, i, 0, true);
	assert_int_equal(p.ctr[NM_CTR_drop_flap], 1);
	idx = nm_path_pop(&p, MS);
	nm_path_drop(&p, idx, NM_CTR_drop_tx);
	nm_path_flush(&p);
	assert_int_equal(p.ctr[NM_CTR_drop_exit], 9);
	assert_int_equal(p.held, 0);
	assert_int_equal(p.nfree, p.nslots);
	check_identity(&p);
	nm_path_done(&p);
}

/* Corrupt one frame with configuration c; returns how many bytes changed
 * and where the first one is. */
static int
corrupt_once(struct nm_dir_conf *c, uint8_t *f, uint32_t len, uint32_t *ret_at,
	     bool *ret_ok)
{
	struct nm_path p;
	uint32_t idx, i;
	int diff = 0;
	uint8_t *g;

	assert_int_equal(nm_path_init(&p, c, SLOT, 64, rnd32()), 0);
	idx = nm_path_get(&p);
	g = nm_path_buf(&p, idx) + NM_HEADROOM;
	memcpy(g, f, len);
	nm_path_frame(&p, idx)->off = NM_HEADROOM;
	nm_path_frame(&p, idx)->len = (uint16_t)len;
	nm_path_input(&p, idx, 0, false);
	idx = nm_path_pop(&p, 0);
	for (i = 0; i < len; i++)
		if (g[i] != f[i] && diff++ == 0)
			*ret_at = i;
	*ret_ok = nm_pkt_csum_ok(g, len);
	nm_path_sent(&p, idx);
	nm_path_done(&p);
	return diff;
}

static void
test_path_corrupt(void **state)
{
	struct nm_dir_conf c = conf0();
	uint8_t f[SLOT];
	uint32_t len, at = 0, i;
	bool ok;
	struct nm_pkt pi;

	(void)state;
	c.corrupt = NM_P_ONE;
	len = build(f, 4, IPPROTO_TCP, false, 200, 80, 5555);
	nm_pkt_parse(f, len, &pi);
	for (i = 0; i < 50; i++) {
		/* payload, checksums kept: exactly one payload byte, caught */
		assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 1);
		assert_true(at >= pi.pay && at < pi.end);
		assert_false(ok);
	}
	c.corrupt_fix = true;
	for (i = 0; i < 50; i++) {
		/* fixed: the payload byte plus the checksum field change */
		assert_true(corrupt_once(&c, f, len, &at, &ok) >= 2);
		assert_true(ok);
	}
	c.corrupt_fix = false;
	c.corrupt_in = NM_IN_RANGE;
	c.corrupt_lo = 20;
	c.corrupt_hi = 21;
	for (i = 0; i < 20; i++) {
		assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 1);
		assert_true(at == 20 || at == 21);
	}
	/* A range past the frame: nothing. */
	c.corrupt_lo = 5000;
	c.corrupt_hi = 6000;
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 0);
	/* Match: port 80 yes, other ports and UDP no. */
	c.corrupt_in = NM_IN_PAYLOAD;
	c.corrupt_proto = IPPROTO_TCP;
	c.corrupt_port = 80;
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 1);
	c.corrupt_port = 81;
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 0);
	c.corrupt_port = NM_PORT_ANY;
	c.corrupt_proto = IPPROTO_UDP;
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 0);
	/* No payload: a pure ACK is not eligible for "payload", is for "l4". */
	c.corrupt_proto = 0;
	len = build(f, 4, IPPROTO_TCP, false, 0, 80, 5555);
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 0);
	c.corrupt_in = NM_IN_L4;
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 1);
	assert_true(at >= 34 && at < 54);
	/* ip */
	c.corrupt_in = NM_IN_IP;
	assert_int_equal(corrupt_once(&c, f, len, &at, &ok), 1);
	assert_true(at >= 14 && at < 54);
}

static void
test_path_corrupt_skip_max(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint8_t f[SLOT];
	uint32_t len, i, idx, changed = 0, first = 0;

	(void)state;
	c.corrupt = NM_P_ONE;
	c.corrupt_skip = 5;
	c.corrupt_max = 2;
	len = build(f, 4, IPPROTO_UDP, false, 100, 1, 2);
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 10), 0);
	for (i = 0; i < 20; i++) {
		idx = nm_path_get(&p);
		memcpy(nm_path_buf(&p, idx) + NM_HEADROOM, f, len);
		nm_path_frame(&p, idx)->off = NM_HEADROOM;
		nm_path_frame(&p, idx)->len = (uint16_t)len;
		nm_path_input(&p, idx, 0, false);
		idx = nm_path_pop(&p, 0);
		if (memcmp(nm_path_buf(&p, idx) + NM_HEADROOM, f, len) != 0) {
			if (changed++ == 0)
				first = i;
		}
		nm_path_sent(&p, idx);
	}
	assert_int_equal(changed, 2);
	assert_int_equal(first, 5);
	assert_int_equal(p.ctr[NM_CTR_corrupted], 2);
	nm_path_done(&p);
}

/* A random mix of everything, with frames sent, dropped at send, and some
 * left held: the accounting always adds up and slots are never lost. */
static void
test_path_identity(void **state)
{
	struct nm_dir_conf c = conf0();
	struct nm_path p;
	uint8_t f[SLOT];
	uint32_t i, idx, len;
	uint64_t now = 0;

	(void)state;
	c.limit = 300;
	c.delay_ns = 2 * MS;
	c.jitter_ns = MS;
	nm_parse_prob("3%", &c.loss);
	nm_parse_prob("1%", &c.ge_enter);
	nm_parse_prob("30%", &c.ge_exit);
	c.ge_loss = NM_P_ONE / 2;
	nm_parse_prob("7%", &c.dup);
	nm_parse_prob("9%", &c.reorder);
	c.reorder_ns = 3 * MS;
	nm_parse_prob("5%", &c.corrupt);
	c.corrupt_fix = true;
	c.rate = 100000000;
	c.queue_ns = 3 * MS;
	len = build(f, 4, IPPROTO_TCP, false, 1000, 1, 2);
	assert_int_equal(nm_path_init(&p, &c, SLOT, 64, 11), 0);
	for (i = 0; i < 50000; i++) {
		now += rnd32() % (100 * US);
		idx = nm_path_get(&p);
		memcpy(nm_path_buf(&p, idx) + NM_HEADROOM, f, len);
		nm_path_frame(&p, idx)->off = NM_HEADROOM;
		nm_path_frame(&p, idx)->len = (uint16_t)len;
		nm_path_input(&p, idx, now, rnd32() % 1000 == 0);
		while ((idx = nm_path_pop(&p, now)) != NM_NONE) {
			assert_true(nm_pkt_csum_ok(nm_path_buf(&p, idx) + NM_HEADROOM, len));
			if (rnd32() % 100 == 0)
				nm_path_drop(&p, idx, NM_CTR_drop_tx);
			else
				nm_path_sent(&p, idx);
		}
		check_identity(&p);
		assert_true(p.held <= c.limit);
		assert_int_equal(p.nfree + p.held, p.nslots);
	}
	assert_true(p.ctr[NM_CTR_drop_queue] > 0);
	assert_true(p.ctr[NM_CTR_corrupted] > 0);
	nm_path_flush(&p);
	check_identity(&p);
	assert_int_equal(p.nfree, p.nslots);
	nm_path_done(&p);
}

/* ---- options ------------------------------------------------------------------- */

static void
test_values(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(nm_parse_time("20ms", &v), 0);
	assert_int_equal(v, 20 * MS);
	assert_int_equal(nm_parse_time("1.5ms", &v), 0);
	assert_int_equal(v, 1500 * US);
	assert_int_equal(nm_parse_time("250us", &v), 0);
	assert_int_equal(v, 250 * US);
	assert_int_equal(nm_parse_time("2s", &v), 0);
	assert_int_equal(v, 2000 * MS);
	assert_int_equal(nm_parse_time("7ns", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(nm_parse_time("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(nm_parse_time("20", &v), -EINVAL);
	assert_int_equal(nm_parse_time("-1ms", &v), -EINVAL);
	assert_int_equal(nm_parse_time("1 ms", &v), -EINVAL);
	assert_int_equal(nm_parse_time("nanms", &v), -EINVAL);
	assert_int_equal(nm_parse_time("2h", &v), -EINVAL);
	assert_int_equal(nm_parse_time("3601s", &v), -EINVAL);
	assert_int_equal(nm_parse_time("", &v), -EINVAL);

	assert_int_equal(nm_parse_prob("1%", &v), 0);
	assert_int_equal(v, 42949673);
	assert_int_equal(nm_parse_prob("0.5", &v), 0);
	assert_int_equal(v, 21474836);
	assert_int_equal(nm_parse_prob("100%", &v), 0);
	assert_int_equal(v, NM_P_ONE);
	assert_int_equal(nm_parse_prob("0%", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(nm_parse_prob("100.1", &v), -EINVAL);
	assert_int_equal(nm_parse_prob("1%%", &v), -EINVAL);
	assert_int_equal(nm_parse_prob("inf", &v), -EINVAL);
	assert_int_equal(nm_parse_prob("x", &v), -EINVAL);

	assert_int_equal(nm_parse_rate("1G", &v), 0);
	assert_int_equal(v, 1000000000);
	assert_int_equal(nm_parse_rate("1.5Gbit", &v), 0);
	assert_int_equal(v, 1500000000);
	assert_int_equal(nm_parse_rate("512k", &v), 0);
	assert_int_equal(v, 512000);
	assert_int_equal(nm_parse_rate("100Mbps", &v), 0);
	assert_int_equal(v, 100000000);
	assert_int_equal(nm_parse_rate("9000", &v), 0);
	assert_int_equal(nm_parse_rate("1000", &v), -EINVAL);
	assert_int_equal(nm_parse_rate("2T", &v), -EINVAL);
	assert_int_equal(nm_parse_rate("1Gb", &v), -EINVAL);

	assert_int_equal(nm_parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(nm_parse_size("4MB", &v), 0);
	assert_int_equal(v, 4 << 20);
	assert_int_equal(nm_parse_size("1500", &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(nm_parse_size("1x", &v), -EINVAL);
}

/* Parse a command line given as one string of words. */
static int
parse(const char *line, struct nm_conf *c, char *err)
{
	static char buf[1024];
	char *argv[64], *p;
	int argc = 0;

	snprintf(buf, sizeof(buf), "mb-netem %s", line);
	for (p = strtok(buf, " "); p && argc < 63; p = strtok(NULL, " "))
		argv[argc++] = p;
	argv[argc] = NULL;
	return nm_opt_parse(argc, argv, c, err, 256);
}

static void
test_options(void **state)
{
	struct nm_conf c;
	char err[256];

	(void)state;
	assert_int_equal(parse("-a x -b y --delay 20ms --dir ab --loss 1% --dir ba --rate 1G "
			       "--dir both --jitter 1ms", &c, err), 0);
	assert_string_equal(c.if_a, "x");
	assert_int_equal(c.dir[NM_AB].delay_ns, 20 * MS);
	assert_int_equal(c.dir[NM_BA].delay_ns, 20 * MS);
	assert_int_equal(c.dir[NM_AB].jitter_ns, MS);
	assert_int_equal(c.dir[NM_BA].jitter_ns, MS);
	assert_int_equal(c.dir[NM_AB].loss, 42949673);
	assert_int_equal(c.dir[NM_BA].loss, 0);
	assert_int_equal(c.dir[NM_AB].rate, 0);
	assert_int_equal(c.dir[NM_BA].rate, 1000000000);
	/* queue: one round trip (40 ms) at the rate; limit from the rate. */
	assert_int_equal(c.dir[NM_BA].queue_ns, 40 * MS);
	assert_int_equal(c.dir[NM_BA].limit, (uint32_t)(1.5 * 1e9 * 0.062 / 12000));
	assert_int_equal(c.dir[NM_AB].limit, (uint32_t)(1.5 * 5e9 * 0.022 / 12000));
	assert_int_equal(c.dir[NM_AB].corrupt_port, NM_PORT_ANY);

	assert_int_equal(parse("-a x -b y --rate 100M --queue 30ms --burst 3000", &c, err), 0);
	assert_int_equal(c.dir[NM_AB].queue_ns, 30 * MS);
	assert_int_equal(c.dir[NM_AB].burst, 3000);
	assert_int_equal(c.dir[NM_AB].limit, 1024);
	assert_int_equal(parse("-a x -b y --rate 100M --queue 125000", &c, err), 0);
	assert_int_equal(c.dir[NM_AB].queue_ns, 10 * MS);
	assert_int_equal(parse("-a x -b y --rate 100M", &c, err), 0);
	assert_int_equal(c.dir[NM_AB].queue_ns, 10 * MS);
	/* Slow links: 16 frames of 1518 bytes at 1 Mbit/s are 194.304 ms. */
	assert_int_equal(parse("-a x -b y --rate 1M", &c, err), 0);
	assert_int_equal(c.dir[NM_AB].queue_ns, 194304000);

	assert_int_equal(parse("-a x -b y --loss-burst 1%:25% --reorder 2%:5ms --dup 0.5 "
			       "--corrupt 0.1% --corrupt-in 100-200 --corrupt-match tcp:443 "
			       "--corrupt-csum fix --corrupt-skip 7 --corrupt-max 3 --limit 5000 "
			       "--flap 200ms/10s --flap-mode carrier --seed 42 --max-frame 9018 "
			       "--stats-every 1s -q", &c, err), 0);
	assert_int_equal(c.dir[NM_BA].ge_enter, 42949673);
	assert_int_equal(c.dir[NM_BA].ge_exit, NM_P_ONE / 4);
	assert_int_equal(c.dir[NM_BA].ge_loss, NM_P_ONE);
	assert_int_equal(c.dir[NM_BA].reorder_ns, 5 * MS);
	assert_int_equal(c.dir[NM_AB].corrupt_in, NM_IN_RANGE);
	assert_int_equal(c.dir[NM_AB].corrupt_lo, 100);
	assert_int_equal(c.dir[NM_AB].corrupt_hi, 200);
	assert_int_equal(c.dir[NM_AB].corrupt_proto, IPPROTO_TCP);
	assert_int_equal(c.dir[NM_AB].corrupt_port, 443);
	assert_true(c.dir[NM_AB].corrupt_fix);
	assert_int_equal(c.dir[NM_AB].corrupt_skip, 7);
	assert_int_equal(c.dir[NM_AB].corrupt_max, 3);
	assert_int_equal(c.dir[NM_AB].limit, 5000);
	assert_int_equal(c.flap_down_ns, 200 * MS);
	assert_int_equal(c.flap_every_ns, 10000 * MS);
	assert_true(c.flap_carrier);
	assert_int_equal(c.seed, 42);
	assert_true(c.seed_set);
	assert_int_equal(c.max_frame, 9018);
	assert_true(c.quiet);
	assert_int_equal(parse("-a x -b y --loss-burst 1%:25%:50%", &c, err), 0);
	assert_int_equal(c.dir[NM_AB].ge_loss, NM_P_ONE / 2);

	assert_int_equal(parse("-a x -b y -h", &c, err), NM_OPT_HELP);
	assert_int_equal(parse("-V", &c, err), NM_OPT_VERSION);

	/* Each of these must be refused with a message. */
	static const char *const bad[] = {
		"", "-a x", "-a x -b x", "-a x -b y extra", "-a x -b y --dir up",
		"-a x -b y --delay 20", "-a x -b y --loss 101%", "-a x -b y --queue 30ms",
		"-a x -b y --burst 3k", "-a x -b y --rate 1G --queue 0",
		"-a x -b y --reorder 2%", "-a x -b y --reorder 2%:0", "-a x -b y --loss-burst 1%",
		"-a x -b y --loss-burst 0:5%", "-a x -b y --loss-burst 1:2:3:4",
		"-a x -b y --corrupt-in 5-3", "-a x -b y --corrupt-in head",
		"-a x -b y --corrupt-match sctp", "-a x -b y --corrupt-match tcp:70000",
		"-a x -b y --corrupt-csum maybe", "-a x -b y --limit 0", "-a x -b y --flap 1s/1s",
		"-a x -b y --flap 0/1s", "-a x -b y --flap-mode off", "-a x -b y --max-frame 20",
		"-a x -b y --stats-every 10us", "-a x -b y --seed -1", "-a x -b y --bogus",
		"-a x -b y --delay",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i], &c, err), -EINVAL);
		assert_true(strlen(err) > 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_reference),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_csum_complete_fix),
		cmocka_unit_test(test_path_delay_order),
		cmocka_unit_test(test_path_loss),
		cmocka_unit_test(test_path_dup_reorder),
		cmocka_unit_test(test_path_rate),
		cmocka_unit_test(test_path_limit_flap),
		cmocka_unit_test(test_path_corrupt),
		cmocka_unit_test(test_path_corrupt_skip_max),
		cmocka_unit_test(test_path_identity),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
