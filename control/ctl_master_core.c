/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Master-server request logic (GET, GETSTATUS; PUT is refused), modelled on
 * mfrisbeed's handle_get: mask the requested methods with the allowed ones
 * (NOMETHOD before anything else), check proxying, canonicalise the image id
 * as the Emulab backend does and look it up, then either describe it
 * (GETSTATUS) or hand out a session: reuse a running one for the same image
 * version (broadcast before multicast before unicast) or start one on a free
 * group/port (multicast, then unicast, broadcast last).  Unlike mfrisbeed,
 * unicast sessions are per client: a second unicast client gets its own
 * session.  TRYAGAIN when the pools or the dataplane are full or refuse,
 * when the requesting address started its share of sessions already
 * (frisbee.max-sessions-per-source), or when unicast sessions hold their
 * share of the slots (frisbee.max-unicast-sessions).
 *
 * No sockets and no logging here (see ctl_master.h); the socket layer logs
 * what it needs from the return value and counters.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_master.h"
#include "mb_bytes.h"
#include "mb_time.h"

int
mb_master_methods_parse(const char *s, uint8_t *ret_mask)
{
	uint8_t mask = 0;
	const char *p = s;

	while (p != NULL && *p != '\0') {
		size_t n;

		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", ");
		if (n == 5 && strncmp(p, "mcast", 5) == 0)
			mask |= MB_MS_METHOD_MULTICAST;
		else if (n == 5 && strncmp(p, "ucast", 5) == 0)
			mask |= MB_MS_METHOD_UNICAST;
		else if (n == 5 && strncmp(p, "bcast", 5) == 0)
			mask |= MB_MS_METHOD_BROADCAST;
		else
			return -EINVAL;
		p += n;
	}
	if (mask == 0)
		return -EINVAL;
	*ret_mask = mask;
	return 0;
}

int
mb_master_canon_id(const char *id, size_t len, struct mb_master_id *ret)
{
	const char *end = id + len, *slash, *rest, *name_end, *meta = NULL, *pid;
	size_t plen, nlen, mlen = 0;
	int n;

	memset(ret, 0, sizeof(*ret));
	if (len == 0 || len > MB_MS_ID_LEN)
		return -EINVAL;
	if (id[0] == '/') {
		/* A path on boss's file system: canonical as it is. */
		memcpy(ret->canon, id, len);
		ret->path = true;
		return 0;
	}
	slash = memchr(id, '/', len);
	if (slash != NULL) {
		pid = id;
		plen = (size_t)(slash - id);
		rest = slash + 1;
	} else {
		pid = MB_MASTER_DEFAULT_PID;
		plen = strlen(pid);
		rest = id;
	}
	name_end = end;
	{
		const char *colon = memchr(rest, ':', (size_t)(end - rest));

		if (colon != NULL && colon + 1 < end && isdigit((unsigned char)colon[1])) {
			const char *v = colon + 1, *vend;

			/* The version is the rest up to a ',': digits only here
			 * (mfrisbeed would keep "3x" as a version no image has). */
			vend = memchr(v, ',', (size_t)(end - v));
			if (vend == NULL)
				vend = end;
			if (vend - v > 10)
				return -EINVAL;
			for (const char *c = v; c < vend; c++) {
				if (!isdigit((unsigned char)*c))
					return -EINVAL;
				ret->version = ret->version * 10 + (uint64_t)(*c - '0');
			}
			ret->has_version = true;
			name_end = colon;
			if (vend < end)
				meta = vend + 1;
		}
	}
	if (!ret->has_version) {
		const char *comma = memchr(rest, ',', (size_t)(end - rest));

		if (comma != NULL) {
			name_end = comma;
			meta = comma + 1;
		}
	}
	nlen = (size_t)(name_end - rest);
	if (meta != NULL) {
		mlen = (size_t)(end - meta);
		if (mlen == 0)
			return -EINVAL;
	}
	/* canonical: pid/name[:version][,meta] */
	n = snprintf(ret->canon, sizeof(ret->canon), "%.*s/%.*s", (int)plen, pid, (int)nlen, rest);
	if (ret->has_version)
		n += snprintf(ret->canon + n, sizeof(ret->canon) - (size_t)n, ":%" PRIu64,
			      ret->version);
	if (meta != NULL)
		snprintf(ret->canon + n, sizeof(ret->canon) - (size_t)n, ",%.*s", (int)mlen, meta);
	/* store names: pid/name[.meta], and for a bare id name[.meta] too */
	if (plen + 1 + nlen + (meta != NULL ? 1 + mlen : 0) > MB_IMAGE_NAME_MAX)
		return -EINVAL;
	n = snprintf(ret->name, sizeof(ret->name), "%.*s/%.*s%s%.*s", (int)plen, pid, (int)nlen,
		     rest, meta != NULL ? "." : "", (int)mlen, meta != NULL ? meta : "");
	if (!mb_image_name_valid(ret->name, (size_t)n))
		return -EINVAL;
	if (slash == NULL) {
		n = snprintf(ret->alt, sizeof(ret->alt), "%.*s%s%.*s", (int)nlen, rest,
			     meta != NULL ? "." : "", (int)mlen, meta != NULL ? meta : "");
		if (!mb_image_name_valid(ret->alt, (size_t)n))
			ret->alt[0] = '\0';
	}
	return 0;
}

int
mb_master_request_len(const uint8_t *buf, size_t len)
{
	if (len < MB_MS_HDR_LEN)
		return -EAGAIN;
	switch (mb_bytes_get_be32(buf + 4)) {
	case MB_MS_GETREQUEST:
		return MB_MS_GETREQ_LEN;
	case MB_MS_PUTREQUEST:
		return MB_MS_PUTREQ_LEN;
	default:
		return -EBADMSG;
	}
}

int
mb_master_settings_from_config(const struct mb_config *cfg, struct mb_master_settings *ret)
{
	uint32_t addr = ntohl(cfg->address);
	uint32_t mask;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = mb_master_methods_parse(cfg->fris_methods, &ret->methods);
	if (rc != 0)
		return rc;
	ret->mcast_base = ntohl(cfg->mcast_base);
	ret->mcast_count = (uint32_t)cfg->mcast_count;
	ret->port_base = (uint16_t)cfg->fris_port_base;
	ret->port_count = (uint32_t)cfg->fris_port_count;
	if (ret->port_base + (uint64_t)ret->port_count > 65536)
		ret->port_count = 65536 - ret->port_base;
	ret->max_sessions = (uint32_t)cfg->max_sessions;
	ret->allow_proxy = cfg->master_proxy;
	{
		uint32_t a[MB_CFG_IPV4_LIST_MAX], mk[MB_CFG_IPV4_LIST_MAX];
		int n = mb_config_ipv4_list_parse(cfg->master_proxies, a, mk,
						  MB_CFG_IPV4_LIST_MAX, NULL);

		if (n < 0)
			return -EINVAL;
		for (int i = 0; i < n; i++) {
			ret->proxies[i].addr = a[i];
			ret->proxies[i].mask = mk[i];
		}
		ret->nproxies = (uint32_t)n;
	}
	ret->max_per_source = (uint32_t)cfg->sessions_per_source;
	ret->max_unicast = (uint32_t)cfg->max_unicast_sessions;
	if (ret->max_unicast == 0)
		ret->max_unicast = ret->methods == MB_MS_METHOD_UNICAST ? ret->max_sessions :
									  (ret->max_sessions + 1) / 2;
	if (cfg->prefixlen > 0 && cfg->prefixlen < 31 && addr != 0) {
		mask = 0xffffffffu << (32 - cfg->prefixlen);
		ret->bcast_addr = addr | ~mask;
	}
	return 0;
}

struct mb_master *
mb_master_new(const struct mb_master_settings *set, const struct mb_master_ops *ops)
{
	struct mb_master *m;

	if (set->max_sessions == 0 || set->port_count == 0) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->set = *set;
	m->ops = *ops;
	m->sess = calloc(set->max_sessions, sizeof(*m->sess));
	m->mcast_used = calloc(set->mcast_count ? set->mcast_count : 1, 1);
	m->port_used = calloc(set->port_count, 1);
	if (m->sess == NULL || m->mcast_used == NULL || m->port_used == NULL) {
		mb_master_free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void
mb_master_free(struct mb_master *m)
{
	if (m == NULL)
		return;
	free(m->sess);
	free(m->mcast_used);
	free(m->port_used);
	free(m);
}

void
mb_master_reconfig(struct mb_master *m, const struct mb_master_settings *set)
{
	m->set.methods = set->methods;
	m->set.allow_proxy = set->allow_proxy;
	memcpy(m->set.proxies, set->proxies, sizeof(m->set.proxies));
	m->set.nproxies = set->nproxies;
	m->set.max_per_source = set->max_per_source;
	m->set.max_unicast = set->max_unicast;
}

/* Next-fit allocation in a flag array; UINT32_MAX when full. */
static uint32_t
pool_take(uint8_t *used, uint32_t count, uint32_t *cursor)
{
	uint32_t i, k;

	for (k = 0; k < count; k++) {
		i = (*cursor + k) % count;
		if (!used[i]) {
			used[i] = 1;
			*cursor = (i + 1) % count;
			return i;
		}
	}
	return UINT32_MAX;
}

static void
reply_error(struct mb_master *m, struct mb_ms_get_reply *rep, unsigned int err)
{
	memset(rep, 0, sizeof(*rep));
	rep->error = (uint16_t)err;
	(void)m;
}

static struct mb_master_session *
find_session(struct mb_master *m, const struct mb_image *img, uint8_t method, uint32_t client)
{
	uint32_t i;

	for (i = 0; i < m->set.max_sessions; i++) {
		struct mb_master_session *s = &m->sess[i];

		if (!s->used || s->method != method || s->version != img->version ||
		    strcmp(s->name, img->name) != 0)
			continue;
		if (method == MB_MS_METHOD_UNICAST && s->client != client)
			continue;
		return s;
	}
	return NULL;
}

/* The running session GETSTATUS reports, as mfrisbeed's findchild: one whose
 * method is in `mask`, broadcast before multicast before unicast (any
 * client). */
static struct mb_master_session *
status_session(struct mb_master *m, const struct mb_image *img, uint8_t mask)
{
	static const uint8_t pref[] = { MB_MS_METHOD_BROADCAST, MB_MS_METHOD_MULTICAST,
					MB_MS_METHOD_UNICAST };
	uint32_t i;
	size_t k;

	for (k = 0; k < sizeof(pref); k++) {
		if ((mask & pref[k]) == 0)
			continue;
		for (i = 0; i < m->set.max_sessions; i++) {
			struct mb_master_session *s = &m->sess[i];

			if (s->used && s->method == pref[k] && s->version == img->version &&
			    strcmp(s->name, img->name) == 0)
				return s;
		}
	}
	return NULL;
}

static void
fill_image(struct mb_ms_get_reply *rep, uint64_t size, int64_t mtime)
{
	rep->size = size;
	mb_ms_reply_set_mtime(rep, mtime);
}

static void
fill_session(struct mb_ms_get_reply *rep, const struct mb_master_session *s, uint32_t servaddr)
{
	rep->isrunning = 1;
	rep->servaddr = servaddr;
	rep->addr = s->method == MB_MS_METHOD_UNICAST ? servaddr : s->addr;
	rep->port = s->port;
}

/* Start the dataplane session of table entry `s` (its address, port and
 * method) on `img`, the new id in *ret_id.  0, or the dataplane's -errno,
 * counted; the image reference taken for the dataplane is dropped on error. */
static int
session_dp_start(struct mb_master *m, const struct mb_master_session *s, struct mb_image *img,
		 uint32_t *ret_id)
{
	struct mb_fris_session_params p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.addr = htonl(s->addr);
	p.port = s->port;
	p.method = (enum mb_fris_method)s->method;
	p.img = mb_image_ref(img);
	rc = m->ops.session_start(&p, ret_id, m->ops.arg);
	if (rc != 0) {
		mb_image_unref(img); /* on error the reference stays ours */
		m->cnt.session_start_failed++;
	}
	return rc;
}

/*
 * Start a session of `method` for img and client, asked for by `requester`
 * (the TCP peer).  Returns the new table entry, or NULL with *ret_err =
 * TRYAGAIN (pools full, the dataplane refused, or a per-source or unicast
 * limit reached: counted) or FAILED (draining).
 *
 * Why both limits: each unicast session serves one client, so a node that
 * asks with many addresses (IP aliases) starts a session per address; the
 * per-source limit alone would not stop that, the unicast share does, and
 * keeps the other slots for multicast and broadcast sessions, which any
 * number of clients share.
 */
static struct mb_master_session *
start_session(struct mb_master *m, struct mb_image *img, uint8_t method, uint32_t client,
	      uint32_t requester, unsigned int *ret_err)
{
	struct mb_master_session *s = NULL;
	uint32_t i, midx = UINT32_MAX, pidx, mine = 0, unicast = 0;
	int rc;

	*ret_err = MB_MS_ERROR_TRYAGAIN;
	if (m->refuse_new) {
		/* Draining: FAILED (not TRYAGAIN), so the client gives up at once
		 * and its loader falls back through boss. */
		m->cnt.refused_draining++;
		*ret_err = MB_MS_ERROR_FAILED;
		return NULL;
	}
	for (i = 0; i < m->set.max_sessions; i++) {
		if (!m->sess[i].used) {
			if (s == NULL)
				s = &m->sess[i];
			continue;
		}
		mine += m->sess[i].requester == requester;
		unicast += m->sess[i].method == MB_MS_METHOD_UNICAST;
	}
	if (s == NULL)
		return NULL;
	if (m->set.max_per_source != 0 && mine >= m->set.max_per_source) {
		m->cnt.refused_source++;
		return NULL;
	}
	if (method == MB_MS_METHOD_UNICAST && m->set.max_unicast != 0 &&
	    unicast >= m->set.max_unicast) {
		m->cnt.refused_unicast++;
		return NULL;
	}
	if (method == MB_MS_METHOD_BROADCAST && m->set.bcast_addr == 0)
		return NULL;
	if (method == MB_MS_METHOD_MULTICAST) {
		midx = pool_take(m->mcast_used, m->set.mcast_count, &m->mcast_next);
		if (midx == UINT32_MAX)
			return NULL;
	}
	pidx = pool_take(m->port_used, m->set.port_count, &m->port_next);
	if (pidx == UINT32_MAX)
		goto err_port;

	memset(s, 0, sizeof(*s));
	s->method = method;
	s->client = client;
	s->requester = requester;
	s->mcast_idx = midx;
	s->port_idx = pidx;
	s->port = (uint16_t)(m->set.port_base + pidx);
	switch (method) {
	case MB_MS_METHOD_MULTICAST:
		s->addr = m->set.mcast_base + midx;
		break;
	case MB_MS_METHOD_BROADCAST:
		s->addr = m->set.bcast_addr;
		break;
	default:
		s->addr = client;
		break;
	}
	s->version = img->version;
	s->size = img->size;
	memcpy(s->name, img->name, sizeof(s->name));

	rc = session_dp_start(m, s, img, &s->id);
	if (rc != 0) {
		/* Whatever the reason, the answer is TRYAGAIN, as mfrisbeed's
		 * when its frisbeed dies at once: a client with -B asks again. */
		m->port_used[pidx] = 0;
		goto err_port;
	}
	s->used = true;
	m->cnt.sessions_started++;
	return s;

err_port:
	if (midx != UINT32_MAX)
		m->mcast_used[midx] = 0;
	return NULL;
}

/* The methods a request may get: frisbee.methods, without broadcast when
 * there is no broadcast address (a /31 or /32 dpdk.address). */
static uint8_t
allowed_methods(const struct mb_master *m)
{
	uint8_t allowed = m->set.methods;

	if (m->set.bcast_addr == 0)
		allowed &= (uint8_t)~MB_MS_METHOD_BROADCAST;
	return allowed;
}

/* May `peer` ask on behalf of another host?  Loopback (as mfrisbeed), the
 * frisbee.master-proxies prefixes, or anyone with frisbee.master-proxy. */
static bool
proxy_allowed(const struct mb_master *m, uint32_t peer)
{
	uint32_t i;

	if (m->set.allow_proxy || peer == 0x7f000001u) /* localhost, as mfrisbeed */
		return true;
	for (i = 0; i < m->set.nproxies; i++)
		if ((peer & m->set.proxies[i].mask) == m->set.proxies[i].addr)
			return true;
	return false;
}

/* The published image an id names: its store name, then (bare ids) the
 * name as given; with a version, only if that version is the one
 * published. */
static struct mb_image *
lookup_id(struct mb_master *m, const struct mb_master_id *id)
{
	struct mb_image *img = m->ops.lookup(id->name, strlen(id->name), m->ops.arg);

	if (img == NULL && id->alt[0] != '\0')
		img = m->ops.lookup(id->alt, strlen(id->alt), m->ops.arg);
	if (img != NULL && id->has_version && img->version != id->version)
		img = NULL; /* another version: as if we did not have it */
	return img;
}

static unsigned int
handle_get(struct mb_master *m, const struct mb_ms_get_request *req, uint32_t peer,
	   uint32_t servaddr, struct mb_ms_get_reply *rep)
{
	/* New sessions as mfrisbeed's config backends choose them. */
	static const uint8_t pref[] = { MB_MS_METHOD_MULTICAST, MB_MS_METHOD_UNICAST,
					MB_MS_METHOD_BROADCAST };
	/* Running sessions as its findchild prefers them. */
	static const uint8_t reuse[] = { MB_MS_METHOD_BROADCAST, MB_MS_METHOD_MULTICAST,
					 MB_MS_METHOD_UNICAST };
	struct mb_master_session *s;
	struct mb_master_id id;
	struct mb_image *img;
	uint8_t mask;
	unsigned int err = MB_MS_ERROR_NOMETHOD;
	size_t k;

	if (req->status)
		m->cnt.req_getstatus++;
	else
		m->cnt.req_get++;

	/* Methods first, before any lookup (mfrisbeed: NOMETHOD before NOIMAGE). */
	mask = req->methods & allowed_methods(m);
	if (mask == 0)
		return MB_MS_ERROR_NOMETHOD;
	/* A proxied request: only from an allowed proxy.  Whoever it is for,
	 * a unicast session goes to the peer that asked (a subboss fetching
	 * for a node receives the blocks itself). */
	if (req->hostip != 0 && req->hostip != peer && !proxy_allowed(m, peer)) {
		m->cnt.refused_proxy++;
		return MB_MS_ERROR_NOACCESS;
	}
	if (mb_master_canon_id(req->imageid, req->idlen, &id) != 0)
		return MB_MS_ERROR_INVALID;
	if (id.path)
		return MB_MS_ERROR_NOIMAGE; /* boss's file system is not here */

	img = NULL;
	if (m->ops.origin != NULL) {
		/* A parent origin decides first (ask, fetch, wait, pass an error
		 * on); it works on the store name the image is or will be held
		 * under: the canonical one unless only the bare one is held. */
		uint32_t client = req->hostip != 0 ? req->hostip : peer;
		const char *oname = id.name;
		int o;

		if (id.alt[0] != '\0' && m->ops.lookup(id.name, strlen(id.name), m->ops.arg) == NULL &&
		    m->ops.lookup(id.alt, strlen(id.alt), m->ops.arg) != NULL)
			oname = id.alt;
		o = m->ops.origin(oname, req, client, rep, &img, m->ops.arg);
		if (o != MB_MASTER_LOCAL && o != MB_MASTER_SERVE)
			return (unsigned int)o;
	}
	if (img == NULL)
		img = lookup_id(m, &id);
	if (img == NULL) {
		uint64_t size = 0;
		int64_t mtime = 0;

		if (m->ops.pending == NULL || id.has_version ||
		    (!m->ops.pending(id.name, &size, &mtime, m->ops.arg) &&
		     (id.alt[0] == '\0' || !m->ops.pending(id.alt, &size, &mtime, m->ops.arg))))
			return MB_MS_ERROR_NOIMAGE;
		if (!req->status)
			return MB_MS_ERROR_TRYAGAIN;
		/* Status calls never answer TRYAGAIN (a stock child would fail);
		 * as mfrisbeed while it fetches: method 0, not running. */
		rep->method = 0;
		fill_image(rep, size, mtime);
		return MB_MS_ERROR_NONE;
	}

	if (req->status) {
		s = status_session(m, img, mask);
		/* mfrisbeed: the running session's one method, else the mask */
		rep->method = s != NULL ? s->method : mask;
		fill_image(rep, img->size, img->mtime);
		if (s != NULL)
			fill_session(rep, s, servaddr);
		return MB_MS_ERROR_NONE;
	}

	for (k = 0; k < sizeof(reuse); k++) {
		if ((mask & reuse[k]) == 0)
			continue;
		s = find_session(m, img, reuse[k], peer);
		if (s != NULL) {
			m->cnt.sessions_reused++;
			goto reply;
		}
	}
	for (k = 0; k < sizeof(pref); k++) {
		if ((mask & pref[k]) == 0)
			continue;
		s = start_session(m, img, pref[k], peer, peer, &err);
		if (s != NULL)
			goto reply;
		if (err == MB_MS_ERROR_FAILED)
			break;
	}
	return err;

reply:
	s->handed_ns = mb_time_mono_ns();
	rep->method = s->method;
	fill_image(rep, img->size, img->mtime);
	fill_session(rep, s, servaddr);
	return MB_MS_ERROR_NONE;
}

int
mb_master_handle(struct mb_master *m, const uint8_t *req, size_t len, uint32_t peer,
		 uint32_t servaddr, uint8_t *out, size_t outlen, size_t *ret_len)
{
	uint8_t fixed[MB_MS_MSG_MAX];
	struct mb_ms_get_request gq;
	struct mb_ms_get_reply rep;
	const char *why = NULL;
	unsigned int err;
	int need;

	memset(&rep, 0, sizeof(rep));
	*ret_len = 0;
	need = mb_master_request_len(req, len);
	if (need < 0 || (size_t)need != len) {
		/* mfrisbeed closes without a word on an unknown type (or a
		 * short request). */
		m->cnt.bad_header++;
		return MB_MS_ERROR_INVALID;
	}
	if (memcmp(req, MB_MS_VERSION, MB_MS_VERSION_LEN) != 0) {
		/* Nor does it look at the version bytes: decode as V01. */
		memcpy(fixed, req, len);
		memcpy(fixed, MB_MS_VERSION, MB_MS_VERSION_LEN);
		req = fixed;
	}
	if (mb_ms_msg_type(req) == MB_MS_PUTREQUEST) {
		struct mb_ms_put_request pq;
		struct mb_ms_put_reply pr;

		memset(&pr, 0, sizeof(pr));
		if (mb_ms_put_request_decode(req, len, &pq, &why) != 0) {
			m->cnt.req_invalid++;
			pr.error = MB_MS_ERROR_INVALID;
		} else {
			m->cnt.req_put++;
			pr.error = MB_MS_ERROR_NOTIMPL;
		}
		m->cnt.errors[pr.error]++;
		*ret_len = MB_MS_PUTREPLY_LEN;
		if (mb_ms_put_reply_encode(&pr, out, outlen) != 0)
			*ret_len = 0;
		return pr.error;
	}
	if (mb_ms_get_request_decode(req, len, &gq, &why) != 0) {
		m->cnt.req_invalid++;
		err = MB_MS_ERROR_INVALID;
	} else {
		err = handle_get(m, &gq, peer, servaddr, &rep);
		if (err == MB_MASTER_WAIT) {
			*ret_len = 0;
			return MB_MASTER_WAIT;
		}
	}
	if (err != MB_MS_ERROR_NONE)
		reply_error(m, &rep, err);
	m->cnt.errors[err]++;
	*ret_len = MB_MS_GETREPLY_LEN;
	if (mb_ms_get_reply_encode(&rep, out, outlen) != 0)
		*ret_len = 0;
	return (int)err;
}

void
mb_master_cursors(const struct mb_master *m, uint32_t *ret_group, uint16_t *ret_port)
{
	*ret_group = m->set.mcast_count != 0 ? m->set.mcast_base + m->mcast_next : 0;
	*ret_port = (uint16_t)(m->set.port_base + m->port_next);
}

void
mb_master_set_cursors(struct mb_master *m, uint32_t group, uint16_t port)
{
	if (m->set.mcast_count != 0 && group >= m->set.mcast_base &&
	    group - m->set.mcast_base < m->set.mcast_count)
		m->mcast_next = group - m->set.mcast_base;
	if (port >= m->set.port_base && (uint32_t)(port - m->set.port_base) < m->set.port_count)
		m->port_next = port - m->set.port_base;
}

bool
mb_master_session_end(struct mb_master *m, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < m->set.max_sessions; i++) {
		struct mb_master_session *s = &m->sess[i];

		if (!s->used || s->id != id)
			continue;
		if (s->mcast_idx != UINT32_MAX)
			m->mcast_used[s->mcast_idx] = 0;
		m->port_used[s->port_idx] = 0;
		s->used = false;
		m->cnt.sessions_ended++;
		return true;
	}
	return false;
}

bool
mb_master_session_revive(struct mb_master *m, uint32_t id, uint64_t now_ns, uint64_t grace_ns)
{
	struct mb_master_session *s = NULL;
	struct mb_image *img;
	uint32_t i, nid;

	for (i = 0; i < m->set.max_sessions; i++)
		if (m->sess[i].used && m->sess[i].id == id) {
			s = &m->sess[i];
			break;
		}
	if (s == NULL || m->refuse_new || s->stopping || s->handed_ns == 0 || now_ns < s->handed_ns ||
	    now_ns - s->handed_ns >= grace_ns)
		return false;
	img = m->ops.lookup(s->name, strlen(s->name), m->ops.arg);
	if (img == NULL || img->version != s->version || img->size != s->size)
		return false;
	if (session_dp_start(m, s, img, &nid) != 0)
		return false;
	s->id = nid;
	s->handed_ns = 0; /* idle again without a new GET: it ends */
	m->cnt.sessions_revived++;
	return true;
}

static const char *
method_name(uint8_t m)
{
	switch (m) {
	case MB_MS_METHOD_UNICAST:
		return "ucast";
	case MB_MS_METHOD_MULTICAST:
		return "mcast";
	case MB_MS_METHOD_BROADCAST:
		return "bcast";
	default:
		return "?";
	}
}

static json_t *
ipv4_json(uint32_t a)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
		 a & 0xff);
	return json_string(buf);
}

json_t *
mb_master_json(const struct mb_master *m)
{
	json_t *root = json_object(), *cnt = json_object(), *errs = json_object();
	json_t *sess = json_array();
	unsigned int e;
	uint32_t i;

	if (root == NULL || cnt == NULL || errs == NULL || sess == NULL)
		goto err;
#define X(n, h) json_object_set_new(cnt, #n, json_integer((json_int_t)m->cnt.n));
	MB_MASTER_COUNTERS(X)
#undef X
	for (e = 1; e < MB_MS_ERROR__COUNT; e++)
		json_object_set_new(errs, mb_ms_error_name(e),
				    json_integer((json_int_t)m->cnt.errors[e]));
	for (i = 0; i < m->set.max_sessions; i++) {
		const struct mb_master_session *s = &m->sess[i];

		if (!s->used)
			continue;
		json_array_append_new(sess,
			json_pack("{s:I, s:s, s:I, s:s, s:o, s:i, s:o, s:o}", "id",
				  (json_int_t)s->id, "image", s->name, "version",
				  (json_int_t)s->version, "method", method_name(s->method), "addr",
				  ipv4_json(s->addr), "port", (int)s->port, "client",
				  ipv4_json(s->client), "requester", ipv4_json(s->requester)));
	}
	json_object_set_new(root, "counters", cnt);
	json_object_set_new(root, "errors", errs);
	json_object_set_new(root, "sessions", sess);
	return root;

err:
	json_decref(root);
	json_decref(cnt);
	json_decref(errs);
	json_decref(sess);
	return NULL;
}
