/* The exec engine: a cluster that hotfix drives through commands an
 * operator writes, one node at a time (--cluster exec:FILE, FILE an
 * inventory: inventory.h). Its topology is the inventory's: a group is a
 * shard, a node's role is the inventory's. src/engine/cluster.c calls
 * these for a cluster whose URI names an inventory. */
#ifndef HF_ENGINE_EXEC_H
#define HF_ENGINE_EXEC_H

#include "engine/redis/redis.h"
#include "util/err.h"

/* How long a discovery command may run. */
#define HF_EXEC_DISCOVER_TIMEOUT_MS 30000L

/* The nodes of inventory uri->inventory (its discovery run now), as a
 * cluster: a shard per group in the order they first appear, primaries
 * first in each. HF_EINVAL with FILE:LINE:COL for a bad inventory. */
int hf_exec_cluster_discover(const struct hf_uri *uri, long timeout_ms, long converge_ms,
			     struct hf_cluster **out, struct hf_err *err);
/* Whether each node accepts a TCP connection on its port (all at once,
 * within c->timeout_ms): 'reachable'. */
void hf_exec_cluster_probe(struct hf_cluster *c);
/* Whether node 'n' accepts a TCP connection on its port within
 * 'timeout_ms'. */
int hf_exec_node_reachable(const struct hf_node *n, long timeout_ms);

/* Run the discovery again: HF_EREFUSED naming what changed when the
 * nodes, their addresses or their groups are not those of 'c' (a role
 * that moved, a leader elected anew, is no change). 'c' is not changed. */
int hf_exec_cluster_converge(struct hf_cluster *c, struct hf_err *err);
/* Free what the exec engine keeps in 'c' (its inventory). */
void hf_exec_cluster_release(struct hf_cluster *c);

#endif
