/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One direction of mb-netem's emulated link: the frame pool and every
 * impairment, without sockets or clocks of its own.
 *
 * A frame enters with nm_path_input() at a time the caller reads from
 * CLOCK_MONOTONIC, and goes through, in this order:
 *
 *   link down (a flap) -> loss (Gilbert-Elliott; plain random loss is its
 *   good state) -> duplication (an exact copy, which then goes its own way)
 *   -> corruption (one byte flipped; checksums left or fixed) -> the rate
 *   limiter's queue (tail drop when full) -> the pool limit -> delay plus
 *   jitter -> reordering (a fraction held back by an extra delay)
 *
 * and leaves through nm_path_pop() once its due time has come.  The rate
 * limiter is a token bucket kept in virtual time (a GCRA shaper): each
 * frame's departure is computed when it arrives, from the link's busy time
 * and the bucket depth, so the emulated link runs at exactly the configured
 * rate however late the caller wakes up, and "the queue" is simply the set
 * of frames whose departure is still in the future.  Delay and jitter keep
 * frames in order (a frame never leaves before the one ahead of it, as on
 * a real path, where jitter comes from queues), so the delay line is a FIFO
 * with non-decreasing due times; only the frames picked for reordering go
 * into a small binary heap and come out when their own, later, due time
 * comes.
 *
 * Memory: nm_path_init() allocates everything once (frame slots by mmap,
 * touched only as they are used); nothing is allocated per frame.  At most
 * `limit` frames are held; the pool has `limit + 2 * batch` slots so that
 * a caller that takes up to `batch` slots at a time to receive into always
 * finds them, and a duplicate always finds a slot unless the limit is
 * reached.
 *
 * Accounting: every frame that enters (nm_path_input or nm_path_reject)
 * ends in exactly one of tx_frames, a drop_* counter, or `held`, and each
 * duplicate adds one entry; so rx_frames + duplicated == tx_frames + drops
 * + held at any moment.  One owner, one thread; never blocks, never logs.
 */
#ifndef _NM_PATH_H_
#define _NM_PATH_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NM_NONE UINT32_MAX
#define NM_PORT_ANY UINT32_MAX
/* Room in front of each frame so a VLAN tag taken out by the kernel can be
 * put back in place (see mb-netem.c). */
#define NM_HEADROOM 4

/* Probabilities are fractions of 2^32: NM_P_ONE is "always". */
#define NM_P_ONE (1ULL << 32)

enum nm_where {
	NM_IN_PAYLOAD = 0,	/* TCP/UDP payload only (frames without one are not eligible) */
	NM_IN_L4,		/* TCP/UDP header and payload */
	NM_IN_IP,		/* from the IP header to the end of the datagram */
	NM_IN_FRAME,		/* any byte of the frame, Ethernet header included */
	NM_IN_RANGE,		/* bytes lo..hi of the frame (clipped to its length) */
};

/* The impairments of one direction; see mb-netem --help for their meaning. */
struct nm_dir_conf {
	uint64_t delay_ns;
	uint64_t jitter_ns;	/* uniform in [-jitter, +jitter], order kept */
	uint64_t loss;		/* loss in the good state (plain random loss) */
	uint64_t ge_enter;	/* per frame, good -> bad; 0 = no bursts */
	uint64_t ge_exit;	/* per frame, bad -> good */
	uint64_t ge_loss;	/* loss in the bad state */
	uint64_t dup;
	uint64_t reorder;
	uint64_t reorder_ns;	/* extra delay of a reordered frame */
	uint64_t corrupt;
	enum nm_where corrupt_in;
	uint32_t corrupt_lo;	/* NM_IN_RANGE: first and last byte offset */
	uint32_t corrupt_hi;
	uint8_t corrupt_proto;	/* 0 = any frame, else IPPROTO_TCP / IPPROTO_UDP */
	uint32_t corrupt_port;	/* source or destination port, or NM_PORT_ANY */
	bool corrupt_fix;	/* recompute the checksums after the flip */
	uint64_t corrupt_skip;	/* spare the first N frames picked for corruption */
	uint64_t corrupt_max;	/* corrupt at most N frames; 0 = no limit */
	uint64_t rate;		/* bits per second; 0 = no rate limit */
	uint64_t burst;		/* bytes that pass at once instead of taking their time at the rate */
	uint64_t queue_ns;	/* longest wait in the rate limiter's queue */
	uint32_t limit;		/* frames held at most (queue, delay line, reorder heap) */
};

/* Counters of one direction, in the order the JSON report prints them. */
#define NM_PATH_COUNTERS(X) \
	X(rx_frames)		/* frames received from the interface */ \
	X(rx_bytes)		\
	X(tx_frames)		/* frames sent out of the other interface */ \
	X(tx_bytes)		\
	X(drop_loss)		/* random or burst loss */ \
	X(drop_flap)		/* arrived or came due while the link was down */ \
	X(drop_queue)		/* rate limiter's queue full (tail drop) */ \
	X(drop_limit)		/* `limit` frames already held */ \
	X(drop_gso)		/* GSO/TSO super-frames (offloads left on at the sender) */ \
	X(drop_bad)		/* runts, frames above --max-frame, bad offload data */ \
	X(drop_tx)		/* the kernel refused to send it */ \
	X(drop_exit)		/* still held when mb-netem stopped */ \
	X(duplicated)		/* copies made */ \
	X(reordered)		/* frames held back by the reorder delay */ \
	X(corrupted)		/* frames with a byte flipped */ \
	X(ge_bursts)		/* entries into the Gilbert-Elliott bad state */ \
	X(csum_completed)	/* partial checksums finished before sending */ \
	X(vlan_restored)	/* VLAN tags put back into the frame */ \
	X(kernel_drops)		/* dropped by the kernel before mb-netem read them */ \
	X(held_max)		/* most frames held at once */

enum nm_ctr {
#define NM_X(n) NM_CTR_##n,
	NM_PATH_COUNTERS(NM_X)
#undef NM_X
	NM_CTR_COUNT
};

extern const char *const nm_ctr_names[NM_CTR_COUNT];

/* Per-slot metadata. */
struct nm_frame {
	uint64_t due;		/* CLOCK_MONOTONIC ns when it may leave */
	uint64_t seq;		/* order of entry, breaks ties between equal due times */
	uint16_t off;		/* first byte of the frame within the slot */
	uint16_t len;
};

struct nm_path {
	struct nm_dir_conf c;
	uint32_t slot_size;	/* bytes per slot, NM_HEADROOM included */
	uint32_t nslots;
	uint8_t *data;		/* nslots * slot_size, mmap'd */
	size_t data_len;
	struct nm_frame *meta;
	uint32_t *free;		/* stack of free slot indexes */
	uint32_t nfree;
	uint32_t *fifo;		/* ring of in-order frames, due times non-decreasing */
	uint32_t fifo_head;
	uint32_t fifo_count;
	uint32_t *heap;		/* reordered frames, min-heap on (due, seq) */
	uint32_t heap_count;
	uint32_t held;		/* frames in the queue, the delay line, or popped and unsent */
	uint64_t seq;
	uint64_t last_due;	/* due time of the last frame put in the FIFO */
	uint64_t tat;		/* rate limiter: when the link is free again (ns) */
	uint64_t tat_frac;	/* remainder of tat, in 1/rate ns */
	uint64_t tau_ns;	/* bucket depth as time at the rate */
	bool ge_bad;
	uint64_t corrupt_picked;
	uint64_t rng[4];
	uint64_t ctr[NM_CTR_COUNT];
};

/*
 * Set up `p` for configuration `c` with slots of `slot_size` bytes
 * (NM_HEADROOM plus the largest frame) and room for receive batches of
 * `batch` frames; `seed` makes the random choices repeatable.  c->limit must
 * be at least 1.  Returns 0, -EINVAL, or -ENOMEM; on error nothing is left
 * allocated.  The path owns its memory until nm_path_done().
 */
int nm_path_init(struct nm_path *p, const struct nm_dir_conf *c, uint32_t slot_size,
		 uint32_t batch, uint64_t seed);

/* Release everything nm_path_init() allocated (frames held are discarded). */
void nm_path_done(struct nm_path *p);

/* Slot `idx`'s buffer (slot_size bytes) and metadata. */
static inline uint8_t *
nm_path_buf(const struct nm_path *p, uint32_t idx)
{
	return p->data + (size_t)idx * p->slot_size;
}

static inline struct nm_frame *
nm_path_frame(const struct nm_path *p, uint32_t idx)
{
	return &p->meta[idx];
}

/* A free slot to receive into, or NM_NONE.  The caller owns it until it
 * passes it to nm_path_input/nm_path_reject or gives it back with
 * nm_path_put. */
uint32_t nm_path_get(struct nm_path *p);
void nm_path_put(struct nm_path *p, uint32_t idx);

/*
 * A frame received at `now` into slot `idx` (its off and len set in the
 * slot's nm_frame) enters the path; `down` says the link is down (a flap).
 * The path owns the slot from here: it holds the frame (and maybe a copy)
 * or drops it and counts why.
 */
void nm_path_input(struct nm_path *p, uint32_t idx, uint64_t now, bool down);

/* A received frame the caller cannot forward: counted as received and as
 * dropped for `why` (a drop_* counter), and the slot returns to the pool. */
void nm_path_reject(struct nm_path *p, uint32_t idx, uint32_t len, enum nm_ctr why);

/* The earliest due time among held frames, or UINT64_MAX if none. */
uint64_t nm_path_next_due(const struct nm_path *p);

/*
 * The frame that is next to leave, if its due time is <= now; NM_NONE
 * otherwise.  The frame stays held (and its slot owned by the path) until
 * the caller reports it with nm_path_sent() or nm_path_drop().
 */
uint32_t nm_path_pop(struct nm_path *p, uint64_t now);

/* A popped frame was sent: counted, slot freed. */
void nm_path_sent(struct nm_path *p, uint32_t idx);

/* A popped frame was not sent, for reason `why` (a drop_* counter). */
void nm_path_drop(struct nm_path *p, uint32_t idx, enum nm_ctr why);

/* Drop everything still held (counted as drop_exit). */
void nm_path_flush(struct nm_path *p);

#endif /* _NM_PATH_H_ */
