/* Engine-private declarations shared by the files of src/engine/redis/. */
#ifndef HF_ENGINE_REDIS_INTERNAL_H
#define HF_ENGINE_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>

#include "engine/redis/redis.h"

struct hf_reply *hf_reply_from_hiredis(const redisReply *rr);
/* Bound what one reply read on 'c' may allocate (reply.c): every context
 * the engine opens gets it, right after it is created. 'c' may be NULL. */
void hf_reply_bound(redisContext *c);
/* Connect and authenticate; NULL with 'err' filled on failure. */
redisContext *hf_redis_connect(const char *host, int port, const char *user,
			       const char *password, long timeout_ms, struct hf_err *err);

/* The topology as the seed in 'uri' alone gives it (topology.c). */
int hf_topology_read_seed(const struct hf_uri *uri, long timeout_ms, struct hf_cluster **out,
			  struct hf_err *err);
/* Confirm '*c' with its nodes for up to 'converge_ms', reading it again
 * while they disagree; '*c' may be replaced by a newer reading, and is
 * always a valid topology on return (consensus.c). */
int hf_topology_confirm(struct hf_cluster **c, long converge_ms, struct hf_err *err);

/* A connection to the primary owning the flag keys (flagstore.c); the
 * subscriber of flags_io.c connects to the same node. */
struct hf_flagstore {
	struct hf_uri uri;       /* the seed, with the credentials */
	long timeout_ms;
	char *host;              /* the node talked to */
	int port;
	char addr[300];          /* "host:port" */
	redisContext *c;         /* NULL after an I/O error: reopened on the next call */
	char **alts;             /* "host:port" of every node CLUSTER SLOTS named, tried
				  * in turn when the seed does not answer */
	size_t nalts;
};

#endif
