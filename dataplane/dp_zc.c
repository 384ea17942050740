/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero copy with one fallback (see dp_zc.h).  A descriptor is an mbuf
 * without data room whose private area carries the rte_mbuf_ext_shared_info
 * of the bytes it points to and the buffer it holds a reference on; the
 * mbuf library calls desc_free when the segment is freed (after TX
 * completion, on whatever thread frees it), before the mbuf goes back to
 * its pool.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mbuf.h>

#include "dp_dma.h"
#include "dp_zc.h"

struct desc {
	struct rte_mbuf_ext_shared_info sh;
	struct mb_sbuf *sb; /* one reference while attached */
};

static inline struct desc *
desc_of(struct rte_mbuf *m)
{
	return rte_mbuf_to_priv(m);
}

static void
desc_free(void *addr, void *opaque)
{
	struct desc *d = opaque;

	(void)addr;
	mb_sbuf_unref(d->sb);
	d->sb = NULL;
}

struct rte_mempool *
mb_dp_zc_pool_create(const char *name, unsigned n, int socket)
{
	/* rte_pktmbuf_pool_create wants the private size aligned */
	uint16_t priv = (uint16_t)RTE_ALIGN_CEIL(sizeof(struct desc), RTE_MBUF_PRIV_ALIGN);

	return rte_pktmbuf_pool_create(name, n, 256, priv, 0, socket);
}

static int
copy_in(struct rte_mbuf *m, const struct mb_sbuf *sb, uint64_t off, uint32_t len)
{
	uint64_t have = off < sb->len ? sb->len - off : 0;
	uint8_t *d;

	if (len > rte_pktmbuf_tailroom(m))
		return -ENOSPC;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (have > len)
		have = len;
	memcpy(d, sb->data + off, have);
	memset(d + have, 0, len - have);
	return 0;
}

/* A descriptor mbuf of zc's pool over bytes [off, off + len) of sb at
 * iova (len <= UINT16_MAX), holding a reference on sb; NULL if the pool is
 * empty. */
static struct rte_mbuf *
desc_attach(const struct mb_dp_zc *zc, struct mb_sbuf *sb, uint64_t off, uint32_t len,
	    rte_iova_t iova)
{
	struct rte_mbuf *pm = rte_pktmbuf_alloc(zc->pool);
	struct desc *d;

	if (pm == NULL)
		return NULL;
	d = desc_of(pm);
	d->sb = mb_sbuf_ref(sb);
	d->sh.free_cb = desc_free;
	d->sh.fcb_opaque = d;
	rte_mbuf_ext_refcnt_set(&d->sh, 1);
	rte_pktmbuf_attach_extbuf(pm, sb->data + off, iova, (uint16_t)len, &d->sh);
	pm->data_len = (uint16_t)len;
	pm->pkt_len = len;
	return pm;
}

int
mb_dp_zc_append(const struct mb_dp_zc *zc, struct rte_mbuf *m, struct mb_sbuf *sb,
		uint64_t off, uint32_t len)
{
	struct rte_mbuf *pm;
	rte_iova_t iova;
	int how = MB_DP_ZC_COPIED;

	if (zc->pool != NULL) {
		if (!mb_dp_dma_iova(sb, off, len, &iova)) {
			how = MB_DP_ZC_COPIED_NODMA;
		} else if ((pm = desc_attach(zc, sb, off, len, iova)) != NULL) {
			m->next = pm;
			m->nb_segs = 2;
			m->pkt_len = m->data_len + len;
			return MB_DP_ZC_ATTACHED;
		}
	}
	if (copy_in(m, sb, off, len) != 0)
		return -ENOSPC;
	return how;
}

unsigned
mb_dp_zc_attach_burst(const struct mb_dp_zc *zc, struct rte_mbuf **m, unsigned n,
		      struct mb_sbuf *sb, uint64_t off, uint32_t len, uint16_t hdr_len)
{
	struct rte_mbuf *pm[MB_DP_ZC_BURST_MAX];
	unsigned k;

	n = RTE_MIN(n, (unsigned)MB_DP_ZC_BURST_MAX);
	if (zc->pool == NULL || n == 0 || rte_pktmbuf_alloc_bulk(zc->pool, pm, n) != 0)
		return 0;
	/* the references of all n at once; those not used are given back */
	atomic_fetch_add_explicit(&sb->refcnt, n, memory_order_relaxed);
	for (k = 0; k < n; k++, off += len) {
		struct desc *d = desc_of(pm[k]);
		rte_iova_t iova;

		if (!mb_dp_dma_iova(sb, off, len, &iova))
			break;
		d->sb = sb;
		d->sh.free_cb = desc_free;
		d->sh.fcb_opaque = d;
		rte_mbuf_ext_refcnt_set(&d->sh, 1);
		rte_pktmbuf_attach_extbuf(pm[k], sb->data + off, iova, (uint16_t)len, &d->sh);
		pm[k]->data_len = (uint16_t)len;
		pm[k]->pkt_len = len;
		m[k]->next = pm[k];
		m[k]->nb_segs = 2;
		m[k]->pkt_len = (uint32_t)hdr_len + len;
	}
	if (k < n) {
		/* plain descriptors (nothing attached): back to their pool */
		rte_pktmbuf_free_bulk(pm + k, n - k);
		atomic_fetch_sub_explicit(&sb->refcnt, n - k, memory_order_relaxed);
	}
	return k;
}

int
mb_dp_zc_append_chain(const struct mb_dp_zc *zc, struct rte_mempool *pool,
		      struct rte_mbuf *m, struct mb_sbuf *sb, uint64_t off, uint32_t len,
		      unsigned max_segs)
{
	struct rte_mbuf *head = NULL, *tail = NULL, *pm;
	unsigned nsegs = m->nb_segs;
	uint32_t done = 0, attached = 0;
	int rc = 0;

	if (m->next != NULL)
		return -EINVAL; /* m is the headers' mbuf alone */
	while (done < len) {
		uint32_t want = len - done, n = 0;
		rte_iova_t iova;

		if (nsegs >= max_segs) {
			rc = -EMSGSIZE;
			break;
		}
		if (zc->pool != NULL) {
			n = mb_dp_dma_iova_run(sb, off + done, RTE_MIN(want, (uint32_t)UINT16_MAX), &iova);
			pm = n > 0 ? desc_attach(zc, sb, off + done, n, iova) : NULL;
			if (pm != NULL)
				attached += n;
			else
				n = 0;
		}
		if (n == 0) {
			/* copy as much as one packet mbuf holds */
			pm = rte_pktmbuf_alloc(pool);
			if (pm == NULL) {
				rc = -ENOMEM;
				break;
			}
			n = RTE_MIN(want, (uint32_t)rte_pktmbuf_tailroom(pm));
			if (n == 0 || copy_in(pm, sb, off + done, n) != 0) {
				rte_pktmbuf_free(pm);
				rc = -ENOSPC;
				break;
			}
		}
		if (tail == NULL)
			head = pm;
		else
			tail->next = pm;
		tail = pm;
		nsegs++;
		done += n;
	}
	if (rc != 0) {
		rte_pktmbuf_free(head); /* the pieces made so far (NULL: none) */
		return rc;
	}
	m->next = head;
	m->nb_segs = (uint16_t)nsegs;
	m->pkt_len = m->data_len + len;
	return (int)attached;
}
