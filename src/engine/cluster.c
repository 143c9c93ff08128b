/* A cluster's topology, whichever engine drives it: a Redis cluster
 * (engine/redis) or the nodes of an inventory (engine/exec, --cluster
 * exec:FILE). The core calls these; each hands over to its engine. */
#include "engine/exec/exec.h"
#include "engine/redis/redis.h"

int hf_cluster_discover(const struct hf_uri *uri, long timeout_ms, long converge_ms,
			struct hf_cluster **out, struct hf_err *err)
{
	if (uri->inventory)
		return hf_exec_cluster_discover(uri, timeout_ms, converge_ms, out, err);
	return hf_redis_cluster_discover(uri, timeout_ms, converge_ms, out, err);
}

void hf_cluster_probe(struct hf_cluster *c)
{
	if (c->inventory)
		hf_exec_cluster_probe(c);
	else
		hf_redis_cluster_probe(c);
}

int hf_cluster_converge(struct hf_cluster *c, struct hf_err *err)
{
	if (c->inventory)
		return hf_exec_cluster_converge(c, err);
	return hf_redis_cluster_converge(c, err);
}

void hf_cluster_free(struct hf_cluster *c)
{
	if (c && c->inventory)
		hf_exec_cluster_release(c);
	hf_redis_cluster_free(c);
}
