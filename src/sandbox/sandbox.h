/* Local sandbox clusters: real redis-server processes on loopback ports,
 * started, inspected and stopped by hotfix. Each sandbox lives in one
 * directory (one subdirectory per node plus 'sandbox.json'). The load
 * generator does not live here. */
#ifndef HF_SANDBOX_H
#define HF_SANDBOX_H

#include <stddef.h>

#include "util/err.h"

#define HF_SANDBOX_DEFAULT_SHARDS 3
#define HF_SANDBOX_DEFAULT_REPLICAS 1
#define HF_SANDBOX_DEFAULT_BASE_PORT 21001

/* Where 'up' is while it waits, for a progress line: 'done' of 'total'
 * nodes have reached the phase's goal. */
enum hf_sandbox_phase {
	HF_SANDBOX_PHASE_START,    /* nodes that answer PING */
	HF_SANDBOX_PHASE_ATTACH,   /* replicas that know their primary (cluster mode) */
	HF_SANDBOX_PHASE_AGREE,    /* nodes that agree on the topology; replicas in sync */
};

struct hf_sandbox_progress {
	enum hf_sandbox_phase phase;
	size_t done, total;
	size_t synced, replicas;   /* AGREE: replicas linked and at their primary's offset */
	long long elapsed_ms;      /* since 'up' started the processes */
	long long timeout_ms;      /* when it gives up, from the same start */
};

struct hf_sandbox_opts {
	int shards;                /* primaries; 0 = default (3, or 1 standalone) */
	int replicas;              /* replicas per primary; -1 = default (1)      */
	int base_port;             /* first node's port; 0 = default (21001)      */
	const char *dir;           /* where the sandbox lives; required           */
	const char *password;      /* requirepass/masterauth, or NULL             */
	int standalone;            /* one primary with replicas, no cluster mode  */
	const char *redis_server;  /* NULL: $HOTFIX_REDIS_SERVER, else PATH       */
	int tls;                   /* TLS only, with a CA and certificates of its own */
	int ipv6;                  /* listen on ::1 as well as on 127.0.0.1        */
	int netns;                 /* each node in a network namespace of its own
				    * (sandbox/netns.h), for partitions: needs
				    * CAP_NET_ADMIN */
	/* Cluster mode: the slots of each shard, as pairs lo, hi ('ranges[i]'
	 * has 'nranges[i]' pairs for shard i), instead of an even split; both
	 * NULL for the even split. Borrowed for the call. */
	const int *const *ranges;
	const size_t *nranges;
	/* Called after every look at the nodes while 'up' waits (a few times
	 * a second; the caller decides what to show), or NULL. */
	void (*progress)(const struct hf_sandbox_progress *p, void *ud);
	void *progress_ud;
};

/* How long 'up' waits, in all, for a sandbox of 'nodes' nodes to be
 * ready, in ms. It grows with the size: every node learns every other
 * through gossip, and a node of a big sandbox shares the machine with
 * many others (docs/NOTES.md, "Sandboxes of 300 nodes"). */
long long hf_sandbox_up_timeout_ms(size_t nodes);

/* The cluster-node-timeout the nodes of a sandbox of 'nodes' nodes get, in
 * ms: short in small sandboxes (failovers in tests and drills are quick),
 * longer in big ones, where a node pings every other node at least once
 * per half of it. */
long hf_sandbox_node_timeout_ms(size_t nodes);

/* File descriptors 'up' needs, its own and each node's, for a sandbox of
 * 'nodes' nodes: a connection per node for this process; each node's
 * cluster bus (a link to and from every other node) and its clients. */
long hf_sandbox_fds_needed(size_t nodes);

enum hf_sandbox_state {
	HF_SANDBOX_NODE_DOWN,      /* no process (or the pid is not ours any more) */
	HF_SANDBOX_NODE_HUNG,      /* the process exists but does not answer       */
	HF_SANDBOX_NODE_UP,        /* the process answers                          */
};

struct hf_sandbox_node {
	char host[48];             /* 127.0.0.1, or its namespace's address */
	int port;
	int pid;                   /* 0 when unknown */
	int shard;                 /* 0-based */
	int planned_replica;       /* started as a replica */
	enum hf_sandbox_state state;
	char role[16];             /* "primary", "replica", or "" unless UP */
};

/* Start a sandbox in 'o->dir' and wait until it is ready: every node
 * answers, in cluster mode every node reports cluster_state:ok and sees all
 * nodes in their roles, every replica's link is up and its offset equals its
 * primary's. Nothing is started when a port (or, in cluster mode, a bus
 * port, port+10000) is in use or when a sandbox is already up in 'o->dir'
 * (HF_EINVAL). When anything fails later, every started process is stopped
 * again; the node logs are kept for diagnosis.
 *
 * On success '*seed_uri' is "redis://[:password@]127.0.0.1:<base port>"
 * ("rediss://" with TLS), with the password since the caller chose it;
 * caller frees with free().
 *
 * With o->tls the sandbox makes a CA, a server certificate and a client
 * certificate in 'o->dir'/tls (hf_sandbox_tls_files()), and every node
 * serves TLS only, on the cluster bus and for replication too. */
int hf_sandbox_up(const struct hf_sandbox_opts *o,
		  char **seed_uri, /* OUT: seed URI */
		  struct hf_err *err);

struct hf_sandbox_down_result {
	int found;                 /* there was a sandbox in the directory */
	int stopped;               /* processes that went down on SIGTERM */
	int killed;                /* processes that needed SIGKILL */
	int gone;                  /* nodes whose process was already gone */
};

/* Stop the sandbox in 'dir': only processes whose pid is recorded (pidfile
 * or sandbox.json) and whose /proc/PID/cmdline shows our redis-server and
 * port get SIGCONT then SIGTERM, and SIGKILL after a deadline. Then the
 * node directories and sandbox.json are removed ('dir' too when that
 * leaves it empty). A directory without a sandbox is not an error:
 * 'res->found' is 0, and node directories a failed 'up' left there are
 * removed. */
int hf_sandbox_down(const char *dir,
		    struct hf_sandbox_down_result *res, /* OUT */
		    struct hf_err *err);

/* Describe the sandbox in 'dir': every node with its pid, state and live
 * role, plus the seed URI (with the password if the sandbox has one).
 * Returns 0 whatever the nodes' states (check them), HF_ERR when there
 * is no sandbox in 'dir'. Caller frees '*nodes' and '*seed_uri' with
 * free(); 'seed_uri' and 'mode' may be NULL. '*mode' is a static string,
 * "cluster" or "standalone". */
int hf_sandbox_status(const char *dir,
		      struct hf_sandbox_node **nodes, /* OUT */
		      size_t *n,                      /* OUT */
		      char **seed_uri,                /* OUT, may be NULL */
		      const char **mode,              /* OUT, may be NULL */
		      struct hf_err *err);

/* The seed URI of the sandbox in 'dir' if it is up, for commands given no
 * --cluster: the first node that answers (the primary, standalone), with
 * the password if the sandbox has one. HF_EINVAL when there is no sandbox
 * in 'dir', HF_EUNREACH when none of its nodes answers. Caller frees. */
int hf_sandbox_seed(const char *dir, char **seed_uri, struct hf_err *err);

/* The CA certificate, client certificate and client key of the TLS
 * sandbox recorded in 'dir'; -1 when there is none, or it has no TLS.
 * Caller frees the three. */
int hf_sandbox_tls_files(const char *dir, char **cacert, char **cert, char **key);

/* The version 'redis-server --version' of 'server' (NULL: as
 * hf_sandbox_up() picks it) prints, "7.0.15", into 'out'; -1 when it
 * cannot be run or says no version. */
int hf_sandbox_server_version(const char *server, char *out, size_t outlen);

/* "<state_dir>/sandbox"; NULL when 'state_dir' is NULL. Caller frees. */
char *hf_sandbox_default_dir(const char *state_dir);

const char *hf_sandbox_state_name(enum hf_sandbox_state s);

/* Start node 'port' of the sandbox in 'dir' again, with its own
 * configuration and directory, after its process died (a drill's kill -9),
 * and wait up to 'wait_ms' for it to have a live pid. HF_EINVAL when there
 * is no such node, HF_EREFUSED when its process still runs. */
int hf_sandbox_node_restart(const char *dir, int port, long wait_ms, struct hf_err *err);

/* Cut node 'port' of the sandbox in 'dir' off from every other node and
 * from this host ('cut' 1), or join it again ('cut' 0). Only a sandbox
 * made with 'netns' (HF_EINVAL otherwise). */
int hf_sandbox_node_partition(const char *dir, int port, int cut, struct hf_err *err);

/* Join every node of the sandbox in 'dir' to the rest again (a cut a
 * drill left); nothing to do without 'netns'. */
int hf_sandbox_heal(const char *dir, struct hf_err *err);

/* Whether the sandbox in 'dir' was made with 'netns'. */
int hf_sandbox_netns(const char *dir);

#endif
