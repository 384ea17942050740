/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The master server's request logic, without sockets (ctl_master_core.c).
 *
 * struct mb_master holds what the logic needs between requests: the allowed
 * methods and the address/port pools from the configuration, the table of
 * Frisbee sessions it started (for reuse and to free their address/port on
 * MB_DP_EV_SESSION_END) and counters.  Everything that touches the rest of
 * the daemon (image lookup, the store's "known but not yet published" state,
 * starting a dataplane session) goes through struct mb_master_ops, so the
 * unit tests drive the very same code with a fake image table.  The socket
 * layer (ctl_master.c) only accepts, buffers one request and writes the
 * reply that mb_master_handle() produced.
 *
 * Control thread only; nothing here blocks or logs.
 */
#ifndef _MB_CTL_MASTER_H_
#define _MB_CTL_MASTER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dp.h"
#include "mb_config.h"
#include "mb_image.h"
#include "ms_wire.h"

struct mb_master_ops {
	/* Published image by exact name; called inside the caller's RCU read
	 * side, result valid until the handler returns. */
	struct mb_image *(*lookup)(const char *name, size_t len, void *arg);
	/* True if `name` is known (local manifest, sync in progress) but not
	 * published yet; may fill size/mtime (0 if unknown).  May be NULL. */
	bool (*pending)(const char *name, uint64_t *ret_size, int64_t *ret_mtime, void *arg);
	/* mb_dp_fris_session_start() or a fake. */
	int (*session_start)(const struct mb_fris_session_params *p, uint32_t *ret_id, void *arg);
	/* A parent master server as origin (ctl_origin.c), asked about every
	 * GET and GETSTATUS before the local lookup; NULL: none.  `name` is the
	 * store name, `client` the node (host order).  Returns MB_MASTER_LOCAL
	 * (go on with the local copy), MB_MASTER_WAIT (the answer comes later:
	 * the socket layer keeps the connection and asks again), MB_MASTER_SERVE
	 * with *ret_img (borrowed: an image still being received, see
	 * mb_image.present) to serve in place of the lookup, or an
	 * MB_MS_ERROR_* code; MB_MS_ERROR_NONE with *rep filled answers a
	 * GETSTATUS. */
	int (*origin)(const char *name, const struct mb_ms_get_request *req, uint32_t client,
		      struct mb_ms_get_reply *rep, struct mb_image **ret_img, void *arg);
	void *arg;
};

#define MB_MASTER_LOCAL (-1)
#define MB_MASTER_SERVE (-2)
#define MB_MASTER_WAIT 0x100 /* beyond every MB_MS_ERROR_*: no reply yet */

struct mb_master_settings {
	uint8_t methods;      /* allowed enum mb_ms_method mask */
	uint32_t mcast_base;  /* host order */
	uint32_t mcast_count;
	uint16_t port_base;
	uint32_t port_count;
	uint32_t bcast_addr;  /* host order; 0 = broadcast impossible */
	uint32_t max_sessions;
	bool allow_proxy;     /* hostip != peer allowed from any peer */
	/* Peers that may make proxied requests (frisbee.master-proxies), host
	 * order; loopback always may. */
	struct mb_master_prefix {
		uint32_t addr, mask;
	} proxies[MB_CFG_IPV4_LIST_MAX];
	uint32_t nproxies;
	uint32_t max_per_source; /* sessions one requester may have started, 0 = no limit */
	uint32_t max_unicast;	 /* slots unicast sessions may hold, 0 = no limit */
};

#define MB_MASTER_COUNTERS(X)                                                                  \
	X(connections, "TCP connections accepted")                                             \
	X(conn_refused, "connections closed at once: too many concurrent")                     \
	X(probes, "connections closed without sending anything")                               \
	X(short_requests, "connections closed after a partial request")                        \
	X(timeouts, "connections timed out before a whole request")                            \
	X(req_get, "GET requests")                                                             \
	X(req_getstatus, "GETSTATUS requests")                                                 \
	X(req_put, "PUT requests (not implemented)")                                           \
	X(req_invalid, "undecodable requests")                                                 \
	X(bad_header, "requests of an unknown type, closed without a reply (as mfrisbeed)")    \
	X(refused_proxy, "proxied requests (hostip) from a peer not allowed to proxy")         \
	X(sessions_started, "sessions started on demand")                                      \
	X(sessions_reused, "GETs answered with a running session")                             \
	X(sessions_ended, "sessions ended (dataplane event)")                                  \
	X(sessions_revived, "sessions started again in place: ended moments after a GET got them") \
	X(session_start_failed, "dataplane refused to start a session")                        \
	X(refused_draining, "GETs refused because they would start a session while draining")  \
	X(refused_source, "GETs refused (TRYAGAIN): the requester started its share already")  \
	X(refused_unicast, "GETs refused (TRYAGAIN): unicast sessions hold their share")       \
	X(conn_refused_source, "connections closed at once: too many from that address")       \
	X(reply_failed, "replies that could not be written whole")

struct mb_master_counters {
#define X(n, h) uint64_t n;
	MB_MASTER_COUNTERS(X)
#undef X
	uint64_t errors[MB_MS_ERROR__COUNT]; /* replies by error code */
};

struct mb_master_session {
	bool used;
	uint8_t method;	  /* one enum mb_ms_method bit */
	uint32_t id;	  /* dataplane session id */
	uint32_t addr;	  /* host order: group, broadcast or the client */
	uint16_t port;
	uint32_t client;  /* unicast: the one client; host order */
	uint32_t requester; /* host order: the TCP peer that asked for it */
	uint32_t mcast_idx; /* UINT32_MAX if no group */
	uint32_t port_idx;
	uint64_t version;
	uint64_t size;
	uint64_t handed_ns; /* monotonic: the last GET answered with it, 0 = none since (re)start */
	bool stopping;	    /* asked to stop (image withdrawn): never started again */
	char name[MB_IMAGE_NAME_MAX + 1];
};

struct mb_master {
	struct mb_master_settings set;
	struct mb_master_ops ops;
	struct mb_master_session *sess; /* set.max_sessions entries, owned */
	uint8_t *mcast_used;		/* set.mcast_count flags, owned */
	uint8_t *port_used;		/* set.port_count flags, owned */
	uint32_t mcast_next, port_next; /* next-fit cursors: freed values rest a while */
	bool refuse_new;		/* draining: GETs that need a new session fail */
	struct mb_master_counters cnt;
};

/*
 * An image id read as the stock Emulab master server reads it:
 * `[pid/]name[:version][,meta]`, no pid meaning emulab-ops; a `:` not
 * followed by a digit is part of the name.  The store names it maps to
 * (doc/master-server.md, "Image ids"): `pid/name`, or `pid/name.meta` when
 * there is a meta part; a bare id (no `/`) also as given, tried second.
 * An absolute path is canonical as it is and names nothing here.
 */
struct mb_master_id {
	char canon[MB_MS_ID_LEN + sizeof("emulab-ops/")]; /* canonical form */
	char name[MB_IMAGE_NAME_MAX + 1];	/* store name, tried first */
	char alt[MB_IMAGE_NAME_MAX + 1];	/* tried second, "" = none */
	bool has_version;
	uint64_t version;
	bool path;				/* absolute path */
};

#define MB_MASTER_DEFAULT_PID "emulab-ops"

/* Parse and canonicalise the `len` bytes of `id` (as decoded: printable, no
 * space).  0, or -EINVAL if the id cannot name a store image (a bad version,
 * an empty meta, a name the store does not allow).  Pure. */
int mb_master_canon_id(const char *id, size_t len, struct mb_master_id *ret);

/* How long the request starting at buf is, from its type alone (the stock
 * server does not check the version bytes): 272 GET, 287 PUT; -EAGAIN while
 * len < 8; -EBADMSG for any other type (closed without a reply). */
int mb_master_request_len(const uint8_t *buf, size_t len);

/* Settings from a configuration: methods string, pools, broadcast address of
 * [dpdk] address/prefixlen.  0 or -EINVAL (unknown method word). */
int mb_master_settings_from_config(const struct mb_config *cfg, struct mb_master_settings *ret);

/* Parse "mcast,ucast,bcast" (any subset, ',' or ' ' separated) to a mask.
 * 0 or -EINVAL. */
int mb_master_methods_parse(const char *s, uint8_t *ret_mask);

/* Allocate the tables.  Returns NULL with errno.  Owner: the caller, freed
 * by mb_master_free (NULL ok). */
struct mb_master *mb_master_new(const struct mb_master_settings *set,
				const struct mb_master_ops *ops);
void mb_master_free(struct mb_master *m);

/* Apply reloadable settings (methods, proxy, per-source and unicast
 * limits).  Pools and table sizes keep their values until restart. */
void mb_master_reconfig(struct mb_master *m, const struct mb_master_settings *set);

/*
 * Handle one whole request of `len` bytes (len = mb_master_request_len() of
 * its header, or the bytes received if the header is bad) from TCP peer
 * `peer` (host order) that arrived on `servaddr` (host order).  Writes the
 * reply (GetReply, or PutReply for a PUT) into out and its length to
 * *ret_len; *ret_len 0 means no reply: close the connection (an unknown
 * message type, as the stock server does).  Returns the error code
 * (MB_MS_ERROR_*; INVALID when there is no reply), except when ops->origin
 * asks to wait: then MB_MASTER_WAIT, no reply, *ret_len 0 (the caller hands
 * the same request in again later).
 * The caller is inside an RCU read side (ops->lookup).
 */
int mb_master_handle(struct mb_master *m, const uint8_t *req, size_t len, uint32_t peer,
		     uint32_t servaddr, uint8_t *out, size_t outlen, size_t *ret_len);

/* Where next-fit allocation continues: the group (host order; 0 without a
 * multicast pool) and the port the next new session tries first.  Pure. */
void mb_master_cursors(const struct mb_master *m, uint32_t *ret_group, uint16_t *ret_port);

/* Continue from `group` and `port` (saved before a restart, see
 * ctl_master.c); a value outside its pool leaves that cursor alone. */
void mb_master_set_cursors(struct mb_master *m, uint32_t group, uint16_t port);

/* A dataplane session ended: free its address and port.  Unknown ids (not
 * started by the master server) are ignored.  Returns true if it was ours. */
bool mb_master_session_end(struct mb_master *m, uint32_t id);

/*
 * A dataplane session ended (idle, or after the last LEAVE) moments after a
 * GET was answered with it: the node that asked may be joining it now, and a
 * stock client resends JOIN to a group and port nobody serves until its -T
 * timeout ("No messages from server").  If the last hand-out is less than
 * `grace_ns` before `now_ns`, and the same version of the image is still
 * published and no drain is under way, a dataplane session is started again
 * on the same method, address and port, and the table entry keeps them under
 * the new id: true.  Never for a session the control thread asked to stop
 * (`stopping`: its image was withdrawn).  Otherwise false, and the caller ends the entry
 * (mb_master_session_end).  Call inside an RCU read side (ops.lookup).
 */
bool mb_master_session_revive(struct mb_master *m, uint32_t id, uint64_t now_ns,
			      uint64_t grace_ns);

/* {"counters":{...},"errors":{"TRYAGAIN":n,...},"sessions":[...]}; new ref. */
json_t *mb_master_json(const struct mb_master *m);

/* ---- the parent origin's seam (socket layer, ctl_master.c) ---------------- */

typedef int (*mb_master_origin_fn)(const char *name, const struct mb_ms_get_request *req,
				   uint32_t client, struct mb_ms_get_reply *rep,
				   struct mb_image **ret_img, void *arg);
/* Install (fn != NULL) or remove the origin the master server asks before
 * its local lookup.  Control thread. */
void mb_ctl_master_set_origin(mb_master_origin_fn fn, void *arg);
/* Remove the origin if it is fn (the parent origin and sync's cut-through
 * each remove only their own, whatever order a reload stops them in). */
void mb_ctl_master_clear_origin(mb_master_origin_fn fn);
/* The origin learnt something: every request kept waiting (MB_MASTER_WAIT)
 * is handled again now.  Control thread; not from inside the origin fn. */
void mb_ctl_master_origin_ready(void);

#endif /* _MB_CTL_MASTER_H_ */
