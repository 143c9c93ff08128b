/* A cluster's topology, whichever engine drives it: a Redis cluster
 * (engine/redis) or the nodes of an inventory (engine/exec, --cluster
 * exec:FILE). The core calls these; each hands over to its engine. */
#include <stdio.h>
#include <string.h>

#include "engine/exec/exec.h"
#include "engine/exec/inventory.h"
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

/* The inventory entry of node 'n', or NULL (a Redis cluster). */
static const struct hf_inv_node *inv_of(const struct hf_cluster *c, const struct hf_node *n)
{
	size_t i;

	for (i = 0; c->inventory && i < c->inventory->n; i++)
		if (!strcmp(c->inventory->nodes[i].id, n->id))
			return &c->inventory->nodes[i];
	return NULL;
}

static const char *label_of(const void *ctx, const char *key)
{
	return hf_inv_label(ctx, key);
}

char *hf_cluster_render(const struct hf_cluster *c, const struct hf_node *n, const char *tpl,
			const char *side, const char *key, enum hf_tpl_quote q)
{
	const struct hf_inv_node *inv = inv_of(c, n);
	char port[16], group[16], node[300];
	struct hf_tpl_vars v = { .id = n->id, .host = n->host, .port = port,
				 .role = hf_role_name(n->role), .group = group, .node = node,
				 .side = side, .key = key, .label = inv ? label_of : NULL, .ctx = inv };

	snprintf(port, sizeof(port), "%d", n->port);
	snprintf(group, sizeof(group), "%d", n->shard + 1);
	snprintf(node, sizeof(node), strchr(n->host, ':') ? "[%s]:%d" : "%s:%d", n->host, n->port);
	if (inv)
		v.group = inv->group;
	return hf_tpl_render(tpl, &v, q);
}
