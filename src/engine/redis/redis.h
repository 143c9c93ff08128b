/* The Redis engine: URIs, connections, the fan-out primitive and the
 * topology of a Redis Cluster or of a primary with replicas.
 *
 * This directory is the only place that includes hiredis. Everything above
 * it sees replies as 'struct hf_reply' and nodes as 'struct hf_node'. */
#ifndef HF_ENGINE_REDIS_H
#define HF_ENGINE_REDIS_H

#include <stddef.h>

#include "util/err.h"

/* ---- URIs ---------------------------------------------------------- */

struct hf_uri {
	char *user;      /* NULL when absent */
	char *password;  /* NULL when absent; never printed, never journaled */
	char *host;
	int port;
};

/* Parse "redis://[user:pass@|:pass@]host[:port]". 'host:port' alone is
 * accepted too. A password may also come from the HOTFIX_PASSWORD
 * environment variable when the URI has none. */
int hf_uri_parse(const char *s, struct hf_uri *out, struct hf_err *err);
/* "redis://user@host:port": the URI without its password. Caller frees. */
char *hf_uri_redacted(const struct hf_uri *u);
void hf_uri_release(struct hf_uri *u);
void hf_uri_copy(struct hf_uri *dst, const struct hf_uri *src);

/* ---- Replies ------------------------------------------------------- */

enum hf_reply_type {
	HF_REPLY_NIL,
	HF_REPLY_STRING,   /* bulk and simple strings */
	HF_REPLY_STATUS,
	HF_REPLY_ERROR,
	HF_REPLY_INTEGER,
	HF_REPLY_ARRAY,
};

struct hf_reply {
	enum hf_reply_type type;
	long long integer;
	char *str;               /* NUL-terminated; STRING, STATUS, ERROR */
	size_t len;
	struct hf_reply **elem;  /* ARRAY */
	size_t nelem;
};

void hf_reply_free(struct hf_reply *r);
/* The value of "field:" in an INFO reply, copied into 'out'. Returns 0 when
 * found, -1 otherwise. */
int hf_info_field(const char *info, const char *field, char *out, size_t outlen);

/* ---- Commands ------------------------------------------------------ */

struct hf_argv {
	int argc;
	char **argv;
	size_t *len;
};

void hf_argv_push(struct hf_argv *a, const char *s);
/* Binary-safe: 'len' bytes of 'data'. */
void hf_argv_pushb(struct hf_argv *a, const void *data, size_t len);
void hf_argv_pushf(struct hf_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hf_argv_release(struct hf_argv *a);

/* ---- Nodes and clusters -------------------------------------------- */

enum hf_role { HF_ROLE_PRIMARY, HF_ROLE_REPLICA };

struct hf_node {
	char *id;            /* cluster node id, or "host:port" without cluster mode */
	char *host;
	int port;
	enum hf_role role;
	char *primary_id;    /* replicas: id of their primary */
	int shard;           /* index into the cluster's shards, 0-based */
	int failed;          /* flagged fail/fail? by the cluster, or not answering */
	char *flags;         /* cluster flags as reported, or "" */
	int slot_lo, slot_hi;  /* primaries in cluster mode: lowest slot range; -1 otherwise */
	/* Filled by hf_cluster_probe(): */
	int probed;
	int reachable;
	char version[32];
	long long repl_offset;
	char link_status[16];  /* replicas: master_link_status */
	int has_config_file;
	void *conn;          /* engine-private connection, kept for the run */
};

struct hf_cluster {
	struct hf_uri uri;
	int cluster_mode;
	struct hf_node *nodes;
	size_t nnodes;
	int nshards;
	char cluster_state[16];  /* "ok", "fail", or "" without cluster mode */
	long timeout_ms;         /* per fan-out deadline */
};

/* Read the topology from the seed in 'uri': CLUSTER NODES in cluster mode,
 * INFO replication otherwise. Nodes are ordered by shard, primary first.
 * Caller frees with hf_cluster_free(). */
int hf_cluster_discover(const struct hf_uri *uri, long timeout_ms,
			struct hf_cluster **out, struct hf_err *err);
/* Ask every node for INFO (server, replication) and fill the probe fields. */
void hf_cluster_probe(struct hf_cluster *c);
struct hf_node *hf_cluster_find(struct hf_cluster *c, const char *id);
void hf_cluster_free(struct hf_cluster *c);
/* Close the node's connection, if it has one. */
void hf_node_disconnect(struct hf_node *n);
const char *hf_role_name(enum hf_role r);

/* ---- Persistence (snapshot readiness) ------------------------------ */

struct hf_persistence {
	int ok;                       /* the node answered */
	int rdb_ok;                   /* rdb_last_bgsave_status:ok */
	long long rdb_age_s;          /* seconds since the last successful save */
	int aof_enabled;
	int aof_ok;                   /* aof_last_write_status:ok */
	int bgsave_running;
	long long rdb_saves;          /* snapshots since the node started */
};

/* Read INFO persistence of every primary; 'out' has one entry per cluster
 * node (replicas are left zeroed). */
void hf_persistence_read(struct hf_cluster *c, struct hf_persistence *out);

/* BGSAVE on every primary and wait until each has a new successful save,
 * or 'timeout_ms'. HF_EREFUSED with the reason (per node) when one fails. */
int hf_snapshot(struct hf_cluster *c, long timeout_ms, struct hf_err *err);

/* ---- Fan-out ------------------------------------------------------- */

#define HF_CALL_MAX 6

/* One node's share of a fan-out: up to HF_CALL_MAX commands, pipelined. */
struct hf_call {
	struct hf_node *node;
	struct hf_argv cmds[HF_CALL_MAX];
	size_t ncmds;
	int once;                               /* never sent twice: a lost connection
						 * fails the call instead of retrying */
	long long not_before;                   /* hf_mono_ms() before which it is not
						 * sent (0: at once); one without
						 * commands is then handed back: a timer */
	struct hf_reply *replies[HF_CALL_MAX];  /* OUT: NULL when unanswered */
	int status;                             /* OUT: 0, or HF_EUNREACH */
	long long done_us;                      /* OUT: monotonic µs of the last reply */
	char error[256];                        /* OUT: why, when status != 0 */
};

/* Send every call's commands to its node at once and wait until every node
 * answered or 'timeout_ms' passed. A node that did not answer in time has
 * its connection closed (a late reply must not be read as the answer to a
 * later command) and its call gets status HF_EUNREACH. Returns the number
 * of calls that failed. */
size_t hf_fanout(struct hf_cluster *c, struct hf_call *calls, size_t n, long timeout_ms);
/* The same, handing each call back as soon as it is complete (answered,
 * or failed): 'next(ud, i)' reads calls[i], and may release it and fill it
 * with the node's next commands, returning 1 to send them (at once, or at
 * the call's 'not_before', with a deadline of their own from then), or 0
 * when the node is done. A node that must wait is given a 'not_before',
 * never a sleep in 'next': the other nodes go on meanwhile. Returns when
 * every call is done. */
size_t hf_fanout_each(struct hf_cluster *c, struct hf_call *calls, size_t n, long timeout_ms,
		      int (*next)(void *ud, size_t i), void *ud);
/* Free the replies and commands of 'n' calls, keeping the node pointers. */
void hf_calls_release(struct hf_call *calls, size_t n);

/* One command to one address, on a connection of its own; for the sandbox
 * and for tools. 'password' may be NULL. Caller frees '*out' with
 * hf_reply_free(). Returns 0, or HF_EUNREACH / HF_ERR with 'err' filled.
 * A Redis error reply is returned as a reply of type HF_REPLY_ERROR. */
int hf_redis_command(const char *host, int port, const char *user,
		     const char *password, long timeout_ms,
		     const struct hf_argv *cmd, struct hf_reply **out,
		     struct hf_err *err);

#endif
