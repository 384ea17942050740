/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IGMP querier logic, the message decoder (v1/v2, and v3 reports' group
 * records) and the query encoder; see mb_igmp.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "mb_igmp.h"

#define ROBUSTNESS 2 /* RFC 2236 default: also the startup query count */

static bool
lower(uint32_t a, uint32_t b)
{
	return ntohl(a) < ntohl(b);
}

void
mb_igmp_querier_config(struct mb_igmp_querier *q, enum mb_igmp_querier_mode mode, uint32_t addr,
		       uint64_t qi_s, uint64_t hz, uint64_t now)
{
	uint64_t qri;
	bool was = q->hz != 0 && q->active;

	if (qi_s == 0)
		qi_s = 1;
	q->mode = mode;
	q->addr = addr;
	q->hz = hz;
	q->qi = qi_s * hz;
	/* answers due within min(10 s, qi / 2) */
	qri = qi_s * 10 / 2;
	q->qri_tenths = (uint32_t)(qri > 100 ? 100 : qri < 1 ? 1 : qri);
	q->oqpi = ROBUSTNESS * q->qi + (uint64_t)q->qri_tenths * hz / 20;
	if (q->lmqc == 0) {
		q->lmqc = MB_IGMP_LMQC;
		q->lmqi_tenths = MB_IGMP_LMQI_TENTHS;
	}
	q->lmqi = hz * q->lmqi_tenths / 10;
	q->active = false;
	mb_igmp_querier_activate(q, was, now);
}

void
mb_igmp_querier_last_member(struct mb_igmp_querier *q, uint32_t count, uint32_t lmqi_tenths)
{
	if (count < 1)
		count = 1;
	if (count > MB_IGMP_LMQC_MAX)
		count = MB_IGMP_LMQC_MAX;
	if (lmqi_tenths < 1)
		lmqi_tenths = 1;
	if (lmqi_tenths > MB_IGMP_LMQI_TENTHS_MAX)
		lmqi_tenths = MB_IGMP_LMQI_TENTHS_MAX;
	q->lmqc = count;
	q->lmqi_tenths = lmqi_tenths;
	q->lmqi = q->hz * lmqi_tenths / 10;
}

void
mb_igmp_querier_activate(struct mb_igmp_querier *q, bool active, uint64_t now)
{
	if (q->mode == MB_IGMP_QUERIER_OFF || !active) {
		q->active = active;
		q->state = MB_IGMP_Q_IDLE;
		return;
	}
	if (q->active && q->state != MB_IGMP_Q_IDLE)
		return;
	q->active = true;
	if (q->mode == MB_IGMP_QUERIER_AUTO && now < q->other_until) {
		/* stand aside from the start: the startup query is not sent */
		q->state = MB_IGMP_Q_YIELDING;
		q->yields++;
		q->suppressed++;
		q->next = now + q->qi;
		return;
	}
	q->state = MB_IGMP_Q_QUERIER;
	q->next = now; /* the first startup query at once */
	q->startup_left = ROBUSTNESS;
}

void
mb_igmp_querier_heard(struct mb_igmp_querier *q, uint32_t src, uint64_t now)
{
	if (src == q->addr)
		return;
	q->heard++;
	/* 0.0.0.0 (a snooping switch's proxy querier, RFC 4541 2.1.1) takes
	 * no part in routers' elections, but it keeps the memberships alive,
	 * which is all we query for: it counts as the lowest address */
	if (!lower(src, q->addr))
		return; /* we win the election against it */
	if (now >= q->other_until || !lower(q->other, src))
		q->other = src;
	if (q->other == src)
		q->other_until = now + q->oqpi;
	if (q->mode == MB_IGMP_QUERIER_AUTO && q->state == MB_IGMP_Q_QUERIER) {
		q->state = MB_IGMP_Q_YIELDING;
		q->yields++;
	}
}

bool
mb_igmp_querier_due(struct mb_igmp_querier *q, uint64_t now)
{
	if (q->state == MB_IGMP_Q_IDLE)
		return false;
	if (q->state == MB_IGMP_Q_YIELDING) {
		if (now >= q->other_until) {
			/* the other querier went quiet: take over at once */
			q->state = MB_IGMP_Q_QUERIER;
			q->other = 0;
			q->other_until = 0;
			q->resumes++;
			q->startup_left = 0;
			q->next = now + q->qi;
			q->sent++;
			return true;
		}
		if (now >= q->next) {
			q->suppressed++;
			q->next = now + q->qi;
		}
		return false;
	}
	if (now < q->next)
		return false;
	if (q->startup_left > 0)
		q->startup_left--;
	q->next = now + (q->startup_left > 0 ? q->qi / 4 : q->qi);
	q->sent++;
	return true;
}

/* Frees the slots whose check is over, counting the verdicts. */
static void
gsq_expire(struct mb_igmp_querier *q, uint64_t now)
{
	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++) {
		struct mb_igmp_gsq *g = &q->gsq[i];

		if (g->group == 0 || g->left > 0 || now < g->next)
			continue;
		/* the last query's response interval is over */
		if (g->listen) {
			if (g->reported)
				q->checks_members++;
			else
				q->checks_empty++;
		}
		g->group = 0;
	}
}

/* We are no longer the querier: the checks under way end, without another
 * query or a verdict.  Each slot stays taken until its next query would
 * have been due, so no slot sends twice within an interval whatever the
 * state does (the bound on queries a second). */
static void
gsq_stop(struct mb_igmp_querier *q)
{
	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++) {
		q->gsq[i].left = 0;
		q->gsq[i].listen = false;
	}
}

static struct mb_igmp_gsq *
gsq_find(struct mb_igmp_querier *q, uint32_t group)
{
	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++)
		if (q->gsq[i].group == group)
			return &q->gsq[i];
	return NULL;
}

int
mb_igmp_querier_leave(struct mb_igmp_querier *q, uint32_t group, bool listen, uint64_t now)
{
	struct mb_igmp_gsq *g;

	q->leaves++;
	if (q->state != MB_IGMP_Q_QUERIER) {
		q->leaves_not_querier++;
		return -EAGAIN;
	}
	gsq_expire(q, now);
	if (gsq_find(q, group) != NULL)
		return -EALREADY;
	g = gsq_find(q, 0);
	if (g == NULL) {
		q->leaves_limited++;
		return -ENOSPC;
	}
	g->group = group;
	g->left = q->lmqc;
	g->next = now;
	g->listen = listen;
	g->reported = false;
	return 0;
}

void
mb_igmp_querier_report(struct mb_igmp_querier *q, uint32_t group)
{
	struct mb_igmp_gsq *g = group != 0 ? gsq_find(q, group) : NULL;

	if (g != NULL)
		g->reported = true;
}

void
mb_igmp_querier_v3(struct mb_igmp_querier *q, const uint8_t *buf, size_t len,
		   bool (*listen)(void *arg, uint32_t group), void *arg, uint64_t now,
		   struct mb_igmp_v3_result *ret)
{
	struct mb_igmp_v3_walk w;
	struct mb_igmp_v3_rec r;
	struct mb_igmp_gsq *g;
	int rc;

	memset(ret, 0, sizeof(*ret));
	mb_igmp_v3_begin(&w, buf, len);
	while (mb_igmp_v3_next(&w, &r) > 0) {
		if (r.effect == MB_IGMP_V3_MEMBER) {
			ret->members++;
			mb_igmp_querier_report(q, r.group);
		} else if (r.effect == MB_IGMP_V3_LEAVE) {
			ret->leaves++;
			/* listen is asked only of a check that starts (at most
			 * MB_IGMP_GSQ_MAX of them): it may cost the caller a
			 * walk, and a report holds up to ~180 records */
			rc = mb_igmp_querier_leave(q, r.group, false, now);
			if (rc == 0 && (g = gsq_find(q, r.group)) != NULL)
				g->listen = listen == NULL || listen(arg, r.group);
			ret->started += rc == 0;
			ret->limited += rc == -ENOSPC;
		}
	}
}

bool
mb_igmp_querier_gsq_due(struct mb_igmp_querier *q, uint64_t now, uint32_t *ret_group)
{
	if (q->state != MB_IGMP_Q_QUERIER)
		gsq_stop(q);
	gsq_expire(q, now);
	if (q->state != MB_IGMP_Q_QUERIER)
		return false;
	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++) {
		struct mb_igmp_gsq *g = &q->gsq[i];

		if (g->group == 0 || g->left == 0 || now < g->next)
			continue;
		g->left--;
		g->next = now + q->lmqi;
		q->gsq_sent++;
		*ret_group = g->group;
		return true;
	}
	return false;
}

unsigned
mb_igmp_querier_checking(const struct mb_igmp_querier *q)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++)
		n += q->gsq[i].group != 0;
	return n;
}

uint64_t
mb_igmp_querier_wait(const struct mb_igmp_querier *q, uint64_t now)
{
	uint64_t t;

	if (q->state == MB_IGMP_Q_IDLE)
		return UINT64_MAX;
	t = q->next;
	if (q->state == MB_IGMP_Q_YIELDING && q->other_until < t)
		t = q->other_until;
	for (unsigned i = 0; i < MB_IGMP_GSQ_MAX; i++)
		if (q->gsq[i].group != 0 && q->gsq[i].next < t)
			t = q->gsq[i].next;
	return t > now ? t - now : 0;
}

/* A multicast group (network order)? */
static bool
multicast(uint32_t group)
{
	return (ntohl(group) >> 28) == 0xe;
}

/* In 224.0.0.0/24 (never reported, never checked)? */
static bool
link_local(uint32_t group)
{
	return (ntohl(group) & 0xffffff00) == 0xe0000000;
}

static enum mb_igmp_v3_effect
v3_effect(uint8_t type, uint16_t nsrc, uint32_t group)
{
	if (link_local(group))
		return MB_IGMP_V3_NONE;
	switch (type) {
	case MB_IGMP_V3_IS_IN:
	case MB_IGMP_V3_TO_IN:
		/* INCLUDE of nothing: no longer a member */
		return nsrc == 0 ? MB_IGMP_V3_LEAVE : MB_IGMP_V3_MEMBER;
	case MB_IGMP_V3_IS_EX:
	case MB_IGMP_V3_TO_EX:
		return MB_IGMP_V3_MEMBER;
	case MB_IGMP_V3_ALLOW:
		return nsrc == 0 ? MB_IGMP_V3_NONE : MB_IGMP_V3_MEMBER;
	case MB_IGMP_V3_BLOCK:
		/* we keep no source lists: whether any source remains is what
		 * the check's queries ask */
		return nsrc == 0 ? MB_IGMP_V3_NONE : MB_IGMP_V3_LEAVE;
	default:
		return MB_IGMP_V3_NONE; /* unknown: ignored */
	}
}

void
mb_igmp_v3_begin(struct mb_igmp_v3_walk *w, const uint8_t *buf, size_t len)
{
	w->buf = buf;
	w->len = len;
	w->off = 8;
	w->left = len >= 8 ? (uint16_t)(buf[6] << 8 | buf[7]) : 0;
}

int
mb_igmp_v3_next(struct mb_igmp_v3_walk *w, struct mb_igmp_v3_rec *ret)
{
	const uint8_t *r;
	size_t need;

	if (w->left == 0)
		return 0;
	/* every length below is bounded by the message before it is used */
	if (w->off > w->len || w->len - w->off < 8) {
		w->left = 0;
		return -EMSGSIZE;
	}
	r = w->buf + w->off;
	ret->type = r[0];
	ret->nsrc = (uint16_t)(r[2] << 8 | r[3]);
	/* at most 8 + 4 x 65535 + 4 x 255 bytes: no overflow */
	need = 8 + 4 * (size_t)ret->nsrc + 4 * (size_t)r[1];
	if (w->len - w->off < need) {
		w->left = 0;
		return -EMSGSIZE;
	}
	memcpy(&ret->group, r + 4, 4);
	if (!multicast(ret->group)) {
		w->left = 0;
		return -EINVAL;
	}
	ret->effect = v3_effect(ret->type, ret->nsrc, ret->group);
	w->off += need;
	w->left--;
	return 1;
}

int
mb_igmp_decode(const uint8_t *buf, size_t len, struct mb_igmp_msg *ret)
{
	uint32_t sum = 0;
	size_t i;

	if (len < 8)
		return -EBADMSG;
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(buf[i] << 8 | buf[i + 1]);
	if (i < len)
		sum += (uint32_t)buf[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	if (sum != 0xffff)
		return -EBADMSG;
	ret->type = buf[0];
	ret->max_resp_tenths = buf[0] == MB_IGMP_QUERY ? buf[1] : 0;
	ret->nrec = 0;
	memcpy(&ret->group, buf + 4, 4);
	switch (buf[0]) {
	case MB_IGMP_V1_REPORT:
	case MB_IGMP_V2_REPORT:
	case MB_IGMP_V2_LEAVE:
		if (!multicast(ret->group) || link_local(ret->group))
			return -EINVAL;
		break;
	case MB_IGMP_QUERY:
		/* RFC 3376 7.1: 8 bytes (v1/v2) or 12 and more (v3, with
		 * its sources); any other length is ignored */
		if (len != 8 && (len < 12 || (len - 12) / 4 < (size_t)(buf[10] << 8 | buf[11])))
			return -EBADMSG;
		break;
	case MB_IGMP_V3_REPORT: {
		struct mb_igmp_v3_walk w;
		struct mb_igmp_v3_rec r;
		int rc;

		ret->group = 0;
		ret->nrec = (uint16_t)(buf[6] << 8 | buf[7]);
		mb_igmp_v3_begin(&w, buf, len);
		while ((rc = mb_igmp_v3_next(&w, &r)) > 0)
			;
		if (rc < 0)
			return rc;
		break;
	}
	default:
		break;
	}
	return 0;
}

int
mb_igmp_encode_query(uint8_t *buf, size_t cap, uint32_t group, uint8_t max_resp_tenths)
{
	uint32_t sum = 0;
	uint16_t c;

	if (cap < 8)
		return -ENOSPC;
	buf[0] = 0x11;
	buf[1] = max_resp_tenths;
	buf[2] = buf[3] = 0;
	memcpy(buf + 4, &group, 4);
	for (unsigned i = 0; i < 8; i += 2)
		sum += (uint32_t)(buf[i] << 8 | buf[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	buf[2] = (uint8_t)(c >> 8);
	buf[3] = (uint8_t)c;
	return 8;
}

int
mb_igmp_querier_mode_parse(const char *s, enum mb_igmp_querier_mode *ret)
{
	if (strcmp(s, "off") == 0)
		*ret = MB_IGMP_QUERIER_OFF;
	else if (strcmp(s, "on") == 0)
		*ret = MB_IGMP_QUERIER_ON;
	else if (strcmp(s, "auto") == 0)
		*ret = MB_IGMP_QUERIER_AUTO;
	else
		return -EINVAL;
	return 0;
}

const char *
mb_igmp_querier_mode_str(enum mb_igmp_querier_mode m)
{
	return m == MB_IGMP_QUERIER_OFF ? "off" : m == MB_IGMP_QUERIER_ON ? "on" : "auto";
}

const char *
mb_igmp_querier_state_str(enum mb_igmp_querier_state s)
{
	return s == MB_IGMP_Q_QUERIER ? "querier" : s == MB_IGMP_Q_YIELDING ? "yielding" : "idle";
}
