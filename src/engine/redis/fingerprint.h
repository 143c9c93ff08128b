/* The fingerprint of a cluster for 'hotfix drill': what a rollback must
 * give back exactly. Per node (by cluster node id): its configuration
 * (CONFIG GET * without the fields in HF_FP_CONFIG_SKIPPED), a digest of
 * FUNCTION DUMP and its ACL LIST; per shard (its slot ranges): the node
 * ids it is made of; over all primaries: every key with a digest of its
 * DUMP and its expiry as an absolute time. Keys named "hotfix:..." are
 * hotfix's own (the load's check keys, the guard's probes, the lease, the
 * audit witness) and are left out. Which node of a shard is its primary
 * is kept too, but a change of it is a role change, not a difference. */
#ifndef HF_ENGINE_REDIS_FINGERPRINT_H
#define HF_ENGINE_REDIS_FINGERPRINT_H

#include <stddef.h>

#include "engine/redis/redis.h"
#include "util/err.h"

struct hf_buf;

/* Configuration parameters that say who replicates whom: a failover
 * changes them, and they are reported as role changes instead. */
#define HF_FP_CONFIG_SKIPPED "replicaof slaveof"
/* Keys with this prefix are not in the fingerprint. */
#define HF_FP_KEY_SKIPPED "hotfix:"
/* Expiries closer than this are equal (the two readings of PTTL). */
#define HF_FP_EXPIRY_TOLERANCE_MS 2000

struct hf_fp_node {
	char *id;
	char addr[280];      /* "host:port" */
	int primary;         /* a primary when taken */
	char **config;       /* name, value, name, value..., sorted by name */
	size_t nconfig;      /* pairs */
	char functions[65];  /* sha256 of FUNCTION DUMP, "" when it failed */
	char *acl;           /* ACL LIST, one user a line */
};

struct hf_fp_key {
	char *key;
	size_t len;
	char digest[41];     /* sha1 of DUMP, from the server */
	long long expire_at; /* unix ms, 0 without expiry */
};

struct hf_fp_shard {
	char *ranges;        /* "0-5460 ..." */
	char *members;       /* the node ids, sorted, space-separated */
};

struct hf_fingerprint {
	struct hf_fp_node *nodes;
	size_t nnodes;
	struct hf_fp_key *keys;   /* sorted by name */
	size_t nkeys;
	struct hf_fp_shard *shards;
	size_t nshards;
};

/* Take the fingerprint of the cluster whose seed is 'uri'. Every node
 * must answer: HF_EUNREACH (or HF_ERR) naming the one that did not.
 * Caller frees with hf_fingerprint_free(). */
int hf_fingerprint_take(const struct hf_uri *uri, long timeout_ms, struct hf_fingerprint **out,
			struct hf_err *err);
void hf_fingerprint_free(struct hf_fingerprint *f);
/* The differences from 'a' to 'b', one line each in 'out' (at most
 * 'max_keys' keys named, then a count); the role changes, which are no
 * difference, one line each in 'roles'. Returns the number of differences. */
size_t hf_fingerprint_diff(const struct hf_fingerprint *a, const struct hf_fingerprint *b,
			   size_t max_keys, struct hf_buf *out, struct hf_buf *roles);
/* Wait up to 'wait_ms' until every replica of the cluster at 'uri' has its
 * link up and the offset of its primary. 0, or HF_EREFUSED naming a
 * replica that did not converge. */
int hf_replicas_converged(const struct hf_uri *uri, long timeout_ms, long wait_ms,
			  struct hf_err *err);

#endif
