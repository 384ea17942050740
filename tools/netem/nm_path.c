/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One direction of mb-netem's emulated link (see nm_path.h for the model).
 *
 * The random choices come from xoshiro256** seeded through splitmix64: fast,
 * good enough for test statistics, and repeatable for a given seed.  A
 * probability is a fraction of 2^32 compared with 32 random bits, so 0
 * never fires and NM_P_ONE always does, with no floating point on the
 * frame path.  Frames are identified by their slot index everywhere; the
 * FIFO, the heap and the free stack are arrays of indexes sized for every
 * slot, so no operation can run out of room.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "nm_path.h"
#include "nm_pkt.h"

#define NS_PER_SEC 1000000000ULL
#define NM_MAX_SLOTS (1U << 24)

const char *const nm_ctr_names[NM_CTR_COUNT] = {
#define NM_X(n) #n,
	NM_PATH_COUNTERS(NM_X)
#undef NM_X
};

/* ---- random numbers ----------------------------------------------------- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rnd(struct nm_path *p)
{
	uint64_t *s = p->rng;
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* True with probability `prob` / 2^32. */
static inline bool
chance(struct nm_path *p, uint64_t prob)
{
	if (prob == 0)
		return false;
	if (prob >= NM_P_ONE)
		return true;
	return (rnd(p) >> 32) < prob;
}

/* ---- pool, FIFO and heap ------------------------------------------------ */

uint32_t
nm_path_get(struct nm_path *p)
{
	return p->nfree ? p->free[--p->nfree] : NM_NONE;
}

void
nm_path_put(struct nm_path *p, uint32_t idx)
{
	p->free[p->nfree++] = idx;
}

/* (due, seq) of a before that of b. */
static inline bool
earlier(const struct nm_path *p, uint32_t a, uint32_t b)
{
	const struct nm_frame *fa = &p->meta[a], *fb = &p->meta[b];

	return fa->due < fb->due || (fa->due == fb->due && fa->seq < fb->seq);
}

static void
heap_push(struct nm_path *p, uint32_t idx)
{
	uint32_t i = p->heap_count++, parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!earlier(p, idx, p->heap[parent]))
			break;
		p->heap[i] = p->heap[parent];
		i = parent;
	}
	p->heap[i] = idx;
}

static void
heap_pop(struct nm_path *p)
{
	uint32_t last = p->heap[--p->heap_count], i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= p->heap_count)
			break;
		if (c + 1 < p->heap_count && earlier(p, p->heap[c + 1], p->heap[c]))
			c++;
		if (!earlier(p, p->heap[c], last))
			break;
		p->heap[i] = p->heap[c];
		i = c;
	}
	if (p->heap_count)
		p->heap[i] = last;
}

static void
fifo_push(struct nm_path *p, uint32_t idx)
{
	uint32_t tail = p->fifo_head + p->fifo_count;

	if (tail >= p->nslots)
		tail -= p->nslots;
	p->fifo[tail] = idx;
	p->fifo_count++;
}

/* ---- life cycle ----------------------------------------------------------- */

int
nm_path_init(struct nm_path *p, const struct nm_dir_conf *c, uint32_t slot_size,
	     uint32_t batch, uint64_t seed)
{
	uint32_t i;
	uint64_t x = seed;

	memset(p, 0, sizeof(*p));
	if (c->limit == 0 || c->limit > NM_MAX_SLOTS || batch == 0 || batch > 4096 ||
	    slot_size < NM_HEADROOM + NM_ETH_HLEN || slot_size > 65536)
		return -EINVAL;
	p->c = *c;
	p->slot_size = slot_size;
	p->nslots = c->limit + 2 * batch;
	p->data_len = (size_t)p->nslots * slot_size;
	/* Untouched pages cost nothing: a large limit is cheap until used. */
	p->data = mmap(NULL, p->data_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->data == MAP_FAILED) {
		p->data = NULL;
		return -ENOMEM;
	}
	p->meta = calloc(p->nslots, sizeof(*p->meta));
	p->free = calloc(p->nslots, sizeof(*p->free));
	p->fifo = calloc(p->nslots, sizeof(*p->fifo));
	p->heap = calloc(p->nslots, sizeof(*p->heap));
	if (!p->meta || !p->free || !p->fifo || !p->heap) {
		nm_path_done(p);
		return -ENOMEM;
	}
	/* Lowest indexes on top: a light load keeps touching the same pages. */
	for (i = 0; i < p->nslots; i++)
		p->free[i] = p->nslots - 1 - i;
	p->nfree = p->nslots;
	if (c->rate)
		p->tau_ns = (uint64_t)((double)c->burst * 8 * NS_PER_SEC / (double)c->rate);
	for (i = 0; i < 4; i++)
		p->rng[i] = splitmix64(&x);
	return 0;
}

void
nm_path_done(struct nm_path *p)
{
	if (p->data)
		munmap(p->data, p->data_len);
	free(p->meta);
	free(p->free);
	free(p->fifo);
	free(p->heap);
	memset(p, 0, sizeof(*p));
}

/* ---- the stages ------------------------------------------------------------ */

/* Gilbert-Elliott: move between the good and the bad state, then lose the
 * frame with that state's probability.  Without bursts configured the
 * path stays good, and this is plain random loss. */
static bool
lost(struct nm_path *p)
{
	if (p->c.ge_enter) {
		if (!p->ge_bad) {
			if (chance(p, p->c.ge_enter)) {
				p->ge_bad = true;
				p->ctr[NM_CTR_ge_bursts]++;
			}
		} else if (chance(p, p->c.ge_exit)) {
			p->ge_bad = false;
		}
	}
	return chance(p, p->ge_bad ? p->c.ge_loss : p->c.loss);
}

/* A copy of frame `idx` in a new slot, or NM_NONE when the limit is
 * reached (the copy is then counted as dropped for the limit). */
static uint32_t
duplicate(struct nm_path *p, uint32_t idx)
{
	const struct nm_frame *fr = &p->meta[idx];
	uint32_t d;

	if (p->held + 1 >= p->c.limit || (d = nm_path_get(p)) == NM_NONE) {
		p->ctr[NM_CTR_duplicated]++;
		p->ctr[NM_CTR_drop_limit]++;
		return NM_NONE;
	}
	p->meta[d].off = fr->off;
	p->meta[d].len = fr->len;
	memcpy(nm_path_buf(p, d) + fr->off, nm_path_buf(p, idx) + fr->off, fr->len);
	p->ctr[NM_CTR_duplicated]++;
	return d;
}

/* Flip one byte of frame `idx` if it is eligible and picked. */
static void
corrupt(struct nm_path *p, uint32_t idx)
{
	const struct nm_dir_conf *c = &p->c;
	const struct nm_frame *fr = &p->meta[idx];
	uint8_t *f = nm_path_buf(p, idx) + fr->off;
	uint32_t len = fr->len, lo = 0, hi = 0, at;
	struct nm_pkt pi;

	nm_pkt_parse(f, len, &pi);
	if (c->corrupt_proto != 0 || c->corrupt_port != NM_PORT_ANY) {
		if (pi.l4 == 0 || (c->corrupt_proto != 0 && pi.proto != c->corrupt_proto))
			return;
		if (c->corrupt_port != NM_PORT_ANY && pi.sport != c->corrupt_port &&
		    pi.dport != c->corrupt_port)
			return;
	}
	switch (c->corrupt_in) {
	case NM_IN_PAYLOAD:
		if (pi.l4 != 0) {
			lo = pi.pay;
			hi = pi.end;
		}
		break;
	case NM_IN_L4:
		if (pi.l4 != 0) {
			lo = pi.l4;
			hi = pi.end;
		}
		break;
	case NM_IN_IP:
		if (pi.ipv != 0) {
			lo = pi.l3;
			hi = pi.end;
		}
		break;
	case NM_IN_FRAME:
		hi = len;
		break;
	case NM_IN_RANGE:
		lo = c->corrupt_lo;
		hi = c->corrupt_hi + 1 < len ? c->corrupt_hi + 1 : len;
		break;
	}
	if (lo >= hi || !chance(p, c->corrupt))
		return;
	if (p->corrupt_picked++ < c->corrupt_skip)
		return;
	if (c->corrupt_max != 0 && p->ctr[NM_CTR_corrupted] >= c->corrupt_max)
		return;
	at = lo + (uint32_t)(rnd(p) % (hi - lo));
	f[at] ^= (uint8_t)(1 + rnd(p) % 255);
	if (c->corrupt_fix)
		nm_pkt_csum_fix(f, len);
	p->ctr[NM_CTR_corrupted]++;
}

static void
drop_free(struct nm_path *p, uint32_t idx, enum nm_ctr why)
{
	p->ctr[why]++;
	nm_path_put(p, idx);
}

/* Through the rate limiter and into the delay line, or dropped. */
static void
enqueue(struct nm_path *p, uint32_t idx, uint64_t now)
{
	const struct nm_dir_conf *c = &p->c;
	struct nm_frame *fr = &p->meta[idx];
	uint64_t t = now, d;

	if (p->held >= c->limit) {
		drop_free(p, idx, NM_CTR_drop_limit);
		return;
	}
	if (c->rate) {
		/* GCRA: the link is busy until tat; a frame may leave tau
		 * early (the bucket depth).  It has left the bottleneck at
		 * max(now, tat' - tau) where tat' includes its own bits. */
		uint64_t tat = p->tat, frac = p->tat_frac, num;

		if (tat <= now) {
			tat = now;
			frac = 0;
		}
		num = (uint64_t)fr->len * 8 * NS_PER_SEC + frac;
		tat += num / c->rate;
		frac = num % c->rate;
		if (tat > now + p->tau_ns)
			t = tat - p->tau_ns;
		if (t - now > c->queue_ns) {
			drop_free(p, idx, NM_CTR_drop_queue);
			return;
		}
		p->tat = tat;
		p->tat_frac = frac;
	}
	d = c->delay_ns;
	if (c->jitter_ns) {
		d += rnd(p) % (2 * c->jitter_ns + 1);
		d = d > c->jitter_ns ? d - c->jitter_ns : 0;
	}
	fr->due = t + d;
	fr->seq = p->seq++;
	if (chance(p, c->reorder)) {
		fr->due += c->reorder_ns;
		heap_push(p, idx);
		p->ctr[NM_CTR_reordered]++;
	} else {
		if (fr->due < p->last_due)
			fr->due = p->last_due;
		p->last_due = fr->due;
		fifo_push(p, idx);
	}
	p->held++;
	if (p->held > p->ctr[NM_CTR_held_max])
		p->ctr[NM_CTR_held_max] = p->held;
}

void
nm_path_input(struct nm_path *p, uint32_t idx, uint64_t now, bool down)
{
	uint32_t dup = NM_NONE;

	p->ctr[NM_CTR_rx_frames]++;
	p->ctr[NM_CTR_rx_bytes] += p->meta[idx].len;
	if (down) {
		drop_free(p, idx, NM_CTR_drop_flap);
		return;
	}
	if (lost(p)) {
		drop_free(p, idx, NM_CTR_drop_loss);
		return;
	}
	if (chance(p, p->c.dup))
		dup = duplicate(p, idx);
	if (p->c.corrupt)
		corrupt(p, idx);
	enqueue(p, idx, now);
	if (dup != NM_NONE)
		enqueue(p, dup, now);
}

void
nm_path_reject(struct nm_path *p, uint32_t idx, uint32_t len, enum nm_ctr why)
{
	p->ctr[NM_CTR_rx_frames]++;
	p->ctr[NM_CTR_rx_bytes] += len;
	drop_free(p, idx, why);
}

/* The next frame to leave: the FIFO's head or the heap's top. */
static uint32_t
next_frame(const struct nm_path *p, bool *ret_from_heap)
{
	uint32_t f = p->fifo_count ? p->fifo[p->fifo_head] : NM_NONE;
	uint32_t h = p->heap_count ? p->heap[0] : NM_NONE;

	*ret_from_heap = h != NM_NONE && (f == NM_NONE || earlier(p, h, f));
	return *ret_from_heap ? h : f;
}

uint64_t
nm_path_next_due(const struct nm_path *p)
{
	bool from_heap;
	uint32_t idx = next_frame(p, &from_heap);

	return idx == NM_NONE ? UINT64_MAX : p->meta[idx].due;
}

uint32_t
nm_path_pop(struct nm_path *p, uint64_t now)
{
	bool from_heap;
	uint32_t idx = next_frame(p, &from_heap);

	if (idx == NM_NONE || p->meta[idx].due > now)
		return NM_NONE;
	if (from_heap) {
		heap_pop(p);
	} else {
		if (++p->fifo_head == p->nslots)
			p->fifo_head = 0;
		p->fifo_count--;
	}
	return idx;
}

void
nm_path_sent(struct nm_path *p, uint32_t idx)
{
	p->ctr[NM_CTR_tx_frames]++;
	p->ctr[NM_CTR_tx_bytes] += p->meta[idx].len;
	p->held--;
	nm_path_put(p, idx);
}

void
nm_path_drop(struct nm_path *p, uint32_t idx, enum nm_ctr why)
{
	p->held--;
	drop_free(p, idx, why);
}

void
nm_path_flush(struct nm_path *p)
{
	uint32_t idx;

	while ((idx = nm_path_pop(p, UINT64_MAX)) != NM_NONE)
		nm_path_drop(p, idx, NM_CTR_drop_exit);
}
