/* The Redis engine: URIs, connections, the fan-out primitive and the
 * topology of a Redis Cluster or of a primary with replicas.
 *
 * This directory is the only place that includes hiredis. Everything above
 * it sees replies as 'struct hf_reply' and nodes as 'struct hf_node'. */
#ifndef HF_ENGINE_REDIS_H
#define HF_ENGINE_REDIS_H

#include <stddef.h>

#include "util/err.h"
#include "util/tpl.h"
#include "util/keyslot.h"

struct hf_inventory;

struct hf_buf;

/* ---- URIs ---------------------------------------------------------- */

/* How the nodes of a rediss:// cluster are reached: every node with the
 * same settings. */
struct hf_tls {
	char *cacert;    /* CA certificates (PEM); NULL: the system's store */
	char *cert;      /* client certificate for mutual TLS, or NULL */
	char *key;       /* its private key; NULL: in 'cert' */
	char *sni;       /* name sent and checked; NULL: the host of each node */
	int insecure;    /* no verification of the server at all */
	char *sessions;  /* directory of the TLS session cache (tlscache.c), or
			  * NULL: none; its files are secrets */
};

struct hf_uri {
	char *user;      /* NULL when absent */
	char *password;  /* NULL when absent; never printed, never journaled */
	char *host;      /* an IPv6 literal without its brackets */
	int port;
	int tls;         /* rediss:// */
	struct hf_tls tlsopt;  /* with 'tls' */
	const char *password_from;  /* where 'password' came from (static): "the URI",
				     * "--password-file", "HOTFIX_PASSWORD", ...; NULL */
	char *inventory; /* "exec:FILE": the exec engine's inventory FILE (then no
			  * host, port or credentials); NULL for Redis */
};

/* Parse "redis[s]://[user:pass@|:pass@]host[:port]", the host a name, an
 * IPv4 literal or an IPv6 literal in brackets ("[::1]:7000");
 * 'host:port' alone is accepted too; "exec:FILE" names an inventory of the
 * exec engine (engine/exec/inventory.h) instead. When the URI has no password it is
 * hf_uri_password_default()'s (--password-file), else $HOTFIX_PASSWORD's,
 * else $REDISCLI_AUTH's (redis-cli's); empty variables are none. A
 * rediss:// URI takes its TLS settings from hf_uri_tls_defaults(), then
 * from HOTFIX_TLS_CACERT, HOTFIX_TLS_CERT, HOTFIX_TLS_KEY, HOTFIX_TLS_SNI
 * and HOTFIX_TLS_INSECURE=1. */
int hf_uri_parse(const char *s, struct hf_uri *out, struct hf_err *err);
/* The TLS settings of rediss:// URIs parsed from now on (the command
 * line's), field by field before the environment's; copied. NULL forgets
 * them. */
void hf_uri_tls_defaults(const struct hf_tls *t);
/* The password of URIs parsed from now on that have none, before the
 * environment's; 'from' names where it came from ("--password-file",
 * static). Copied; NULL forgets it. */
void hf_uri_password_default(const char *password, const char *from);
/* Does the URI text 's' itself hold a password ("redis://:pw@host")? */
int hf_uri_has_password(const char *s);
/* Read a password file: its first line, without the line end. '*loose' is
 * set when it is a regular file that its group or others may read. 0, or
 * HF_EINVAL (cannot read it, empty first line, an escaped NUL...). Caller
 * frees '*out'. */
int hf_password_file_read(const char *path, char **out, int *loose, struct hf_err *err);
/* 'reply', an error a node at 'addr' gave, asks for credentials (NOAUTH)
 * or refused them (WRONGPASS, "invalid username-password pair"): fill
 * 'err' (HF_ERR) with how to give them, naming 'u''s password's source,
 * and return 1; else 0. */
int hf_auth_error(const char *addr, const char *reply, const struct hf_uri *u, struct hf_err *err);
/* "redis[s]://user@host:port": the URI without its password. Caller
 * frees. */
char *hf_uri_redacted(const struct hf_uri *u);
void hf_uri_release(struct hf_uri *u);
void hf_uri_copy(struct hf_uri *dst, const struct hf_uri *src);
void hf_tls_release(struct hf_tls *t);
void hf_tls_copy(struct hf_tls *dst, const struct hf_tls *src);
/* How many TLS handshakes this process made in full, and how many
 * resumed a session of the cache (struct hf_tls' 'sessions'). */
void hf_tls_handshakes(unsigned long *full, unsigned long *resumed);

/* ---- Keys --------------------------------------------------------- */

/* hf_key_slot(), Redis Cluster's hash slot of a key, is util/keyslot.h's. */

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
/* The complete replies in 'len' bytes of 'buf' as a connection reads
 * them, with the same bound on what one reply may allocate (reply.c);
 * bytes of an incomplete last reply are left unread. '*out' (caller frees
 * each with hf_reply_free(), then the array) gets '*n' replies. Returns 0,
 * or HF_EINVAL when the bytes are not RESP or a reply is too large. */
int hf_reply_parse(const void *buf, size_t len, struct hf_reply ***out, size_t *n,
		   struct hf_err *err);
/* The value of "field:" in an INFO reply, copied into 'out'. Returns 0 when
 * found, -1 otherwise. */
int hf_info_field(const char *info, const char *field, char *out, size_t outlen);

/* Is 'host' (its first 'len' bytes) a name of this machine's loopback:
 * localhost, 127.x.x.x or ::1? */
int hf_host_is_loopback(const char *host, size_t len);

/* One replica as its primary's INFO replication lists it:
 * "slave0:ip=127.0.0.1,port=30004,state=online,offset=1234,lag=0". */
struct hf_info_replica {
	char ip[64];
	int port;
	char state[16];      /* "online", "wait_bgsave", "send_bulk", ... */
	long long offset;    /* the offset it acknowledged */
	long long lag_s;     /* seconds since its last acknowledgement */
};

/* The replicas listed by the "slaveN:" lines of INFO replication 'info',
 * from slave0 up to the first number missing; a line without an ip or a
 * port is skipped. Stores at most 'max' in 'out' (which may be NULL when
 * 'max' is 0) and returns how many the reply lists, so a caller can size
 * its array from a first call. */
size_t hf_info_replicas(const char *info, struct hf_info_replica *out, size_t max);

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
	int *ranges;         /* primaries in cluster mode: every slot range it serves, as
			      * pairs lo, hi in the order CLUSTER NODES lists them; or NULL */
	size_t nranges;      /* pairs in 'ranges' */
	long long pong_ms;   /* cluster mode: when the seed last had a pong from it on the
			      * cluster bus (unix ms); 0 for the seed itself or without
			      * cluster mode */
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
	long converge_ms;        /* how long hf_cluster_converge() waits for the
				  * nodes to agree; < 0: it does not ask them */
	struct hf_inventory *inventory;  /* the exec engine's (uri.inventory), or NULL */
};

/* The default of --converge-timeout. Gossip spreads a change through a
 * small cluster in about a second. */
#define HF_CONVERGE_DEFAULT_MS 10000L
/* For hf_cluster_discover(): the seed's view, not confirmed by the nodes. */
#define HF_CONVERGE_SEED_ONLY (-1L)

/* Read the topology from the seed in 'uri' (CLUSTER NODES in cluster mode,
 * INFO replication otherwise), then confirm it with every node in one
 * fan-out: each says who it is and whom it replicates (CLUSTER MYID, ROLE,
 * its CLUSTER NODES). Right after a cluster is created, or in a failover,
 * the seed can list a replica as a primary of its own until gossip
 * reaches it. While the nodes disagree the topology is read again, every
 * 100 ms, for up to 'converge_ms'; then HF_EREFUSED, naming each node they
 * disagree about and who says what. 'converge_ms' is kept for
 * hf_cluster_converge(); HF_CONVERGE_SEED_ONLY skips the confirmation.
 * Nodes are ordered by shard, primary first. Caller frees with
 * hf_cluster_free(). */
int hf_cluster_discover(const struct hf_uri *uri, long timeout_ms, long converge_ms,
			struct hf_cluster **out, struct hf_err *err);
/* The engines' own, which hf_cluster_discover(), hf_cluster_probe(),
 * hf_cluster_converge() and hf_cluster_free() (src/engine/cluster.c) call
 * for a Redis cluster. */
int hf_redis_cluster_discover(const struct hf_uri *uri, long timeout_ms, long converge_ms,
			      struct hf_cluster **out, struct hf_err *err);
void hf_redis_cluster_probe(struct hf_cluster *c);
int hf_redis_cluster_converge(struct hf_cluster *c, struct hf_err *err);
void hf_redis_cluster_free(struct hf_cluster *c);
/* Before a wave or a restart: ask every node of 'c' how it sees the
 * cluster and wait, up to c->converge_ms, until they agree on primaries,
 * replicas and slot owners, and (cluster mode) on shards made of the same
 * nodes as in 'c'. A node that does not answer says nothing. Returns 0, or
 * HF_EREFUSED with 'err' naming the disagreement. 'c' is not changed. */
int hf_cluster_converge(struct hf_cluster *c, struct hf_err *err);
/* Ask every node for INFO (server, replication) and fill the probe fields. */
void hf_cluster_probe(struct hf_cluster *c);
struct hf_node *hf_cluster_find(struct hf_cluster *c, const char *id);
/* Template 'tpl' (util/tpl.h) filled in for node 'n' of 'c': its address,
 * role, group (an inventory's, or the shard's number from 1), the
 * inventory's labels; 'side' and 'key' where the template may have them
 * (NULL otherwise). Caller frees. */
char *hf_cluster_render(const struct hf_cluster *c, const struct hf_node *n, const char *tpl,
			const char *side, const char *key, enum hf_tpl_quote q);
void hf_cluster_free(struct hf_cluster *c);
/* Close the node's connection, if it has one. */
void hf_node_disconnect(struct hf_node *n);
const char *hf_role_name(enum hf_role r);

/* ---- Topology consensus (the pure part, for tests) ---------------- */

/* What one node answered about itself and the cluster. Strings are
 * borrowed. A view without 'role' (or, in cluster mode, without 'nodes')
 * is a node that did not answer: it says nothing. */
struct hf_view {
	const char *addr;                  /* "host:port" it was asked at */
	const char *myid;                  /* CLUSTER MYID, or NULL (then 'myself' marks its line) */
	const char *nodes;                 /* CLUSTER NODES; cluster mode only */
	const char *role;                  /* ROLE: "master" or "slave" */
	const char *role_primary;          /* a replica's ROLE: "host:port" of its primary */
	const char *const *role_replicas;  /* a primary's ROLE: "host:port" of each replica */
	size_t nrole_replicas;
};

/* Compare what 'n' views say about every node: its role, its primary and
 * (cluster mode) its slots. A node's own ROLE counts as one more voice
 * when it contradicts its own CLUSTER NODES line; in cluster mode a view
 * that does not list a node others list disagrees too; without cluster
 * mode a replica names its primary and a primary its replicas, and
 * 'expect' (may be NULL), the topology read from the seed, is one more
 * voice. For each node they disagree about, appends to 'why' a line
 * naming it and every group of views with what they say, the largest
 * first; 'seed' (an index into 'v', or -1) is marked. Returns the number
 * of nodes they disagree about: 0 when they agree. */
size_t hf_topology_compare(const struct hf_view *v, size_t n, int cluster_mode, int seed,
			   const struct hf_cluster *expect, struct hf_buf *why);
/* A cluster-mode topology from CLUSTER NODES 'nodes' and CLUSTER INFO
 * 'info' (may be NULL) of one node (topology.c); it connects to nothing.
 * Caller frees with hf_cluster_free(). */
int hf_topology_from_nodes(const struct hf_uri *uri, long timeout_ms, const char *nodes,
			   const char *info, struct hf_cluster **out, struct hf_err *err);
/* The pairs of nodes, found by id in both, that 'was' puts in one shard
 * and 'now' in two, or the other way round; described in 'why'. */
size_t hf_topology_compare_shards(const struct hf_cluster *was, const struct hf_cluster *now,
				  struct hf_buf *why);

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

/* The next free command of 'call' (its 'ncmds' counts it), for the caller
 * to fill with hf_argv_push() and the like. How many commands a call gets
 * is fixed by the code that builds it, never by data (a handful, within
 * HF_CALL_MAX), so a call with no command left is a programming error: it
 * aborts with a message, as hf_xmalloc() does on out-of-memory, instead of
 * writing past the array, and callers have no failure to handle that a
 * correct build never sees. */
struct hf_argv *hf_call_cmd(struct hf_call *call);
/* Add one command, given as its words up to a NULL, to 'call' (through
 * hf_call_cmd(), so with the same limit). */
void hf_call_push(struct hf_call *call, const char *word, ...) __attribute__((sentinel));

/* One command to one address, on a connection of its own, with the
 * credentials and TLS settings of 'via'; for tools. Caller frees '*out'
 * with hf_reply_free(). Returns 0, or HF_EUNREACH / HF_ERR / HF_EREFUSED
 * with 'err' filled. A Redis error reply is returned as a reply of type
 * HF_REPLY_ERROR. */
int hf_redis_command(const struct hf_uri *via, const char *host, int port, long timeout_ms,
		     const struct hf_argv *cmd, struct hf_reply **out, struct hf_err *err);

#endif
