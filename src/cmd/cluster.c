/* hotfix cluster show: the topology as the nodes report it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "engine/exec/inventory.h"
#include "engine/redis/redis.h"

static const char usage[] =
	"usage: hotfix cluster show [--cluster URI] [--json]\n"
	"Shows shards, nodes (id, address, role), health, version and replication\n"
	"offsets, from any seed node. Credentials come from the URI\n"
	"(redis://user:pass@host:port) or $HOTFIX_PASSWORD; the password is never shown.\n"
	"With --cluster exec:FILE, the nodes of an exec engine's inventory by group\n"
	"(docs/ENGINES.md), each with whether it accepts a TCP connection.\n";

static const char *health(const struct hf_node *n)
{
	if (!n->reachable)
		return "unreachable";
	if (n->failed)
		return "failed";
	if (n->role == HF_ROLE_REPLICA && n->link_status[0] && strcmp(n->link_status, "up"))
		return "link down";
	return "ok";
}

/* The group of exec node 'n' (its inventory's), or "-". */
static const char *group_of(const struct hf_cluster *c, const struct hf_node *n)
{
	size_t i;

	for (i = 0; c->inventory && i < c->inventory->n; i++)
		if (!strcmp(c->inventory->nodes[i].id, n->id))
			return c->inventory->nodes[i].group;
	return "-";
}

/* An inventory's nodes: no versions or offsets, the group by its name. */
static void print_exec(const struct hf_cluster *c)
{
	size_t i;

	printf("%-16s  %-21s  %-7s  %-11s  %s\n", "GROUP", "ADDRESS", "ROLE", "HEALTH", "NODE ID");
	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *n = &c->nodes[i];
		char addr[300];

		snprintf(addr, sizeof(addr), "%s:%d", n->host, n->port);
		printf("%-16s  %-21s  %-7s  %-11s  %s\n", group_of(c, n), addr, hf_role_name(n->role),
		       health(n), n->id);
	}
}

/* 'cluster show --json'. */
static void print_json(const struct hf_cluster *c)
{
	json_t *doc = json_object(), *nodes = json_array();
	char *s = hf_uri_redacted(&c->uri);
	size_t i;

	json_object_set_new(doc, "cluster", json_string(s));
	free(s);
	json_object_set_new(doc, "mode", json_string(c->inventory ? "exec" :
						     c->cluster_mode ? "cluster" : "replication"));
	json_object_set_new(doc, "state", json_string(c->cluster_mode ? c->cluster_state : "n/a"));
	json_object_set_new(doc, "shards", json_integer(c->nshards));
	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *n = &c->nodes[i];

		json_array_append_new(nodes, json_pack(
			"{s:s,s:s,s:i,s:s,s:i,s:s,s:s,s:I,s:s}", "id", n->id, "host", n->host,
			"port", n->port, "role", hf_role_name(n->role), "shard", n->shard + 1,
			"health", health(n), "version", n->version, "repl_offset",
			(json_int_t)n->repl_offset, "flags", n->flags));
		if (c->inventory)
			json_object_set_new(json_array_get(nodes, i), "group",
					    json_string(group_of(c, n)));
	}
	json_object_set_new(doc, "nodes", nodes);
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
}

/* The table of 'cluster show'. */
static void print_text(const struct hf_cluster *c)
{
	char *s = hf_uri_redacted(&c->uri);
	size_t i;

	printf("cluster  %s\n", s);
	free(s);
	if (c->inventory)
		printf("mode     exec engine: inventory %s, %d group(s), %zu node(s); reachable: "
		       "a TCP connection to the node's port\n\n", c->uri.inventory, c->nshards,
		       c->nnodes);
	else if (c->cluster_mode)
		printf("mode     Redis Cluster, cluster_state:%s, %d shard(s), %zu node(s)\n\n",
		       c->cluster_state, c->nshards, c->nnodes);
	else
		printf("mode     primary with replicas (no cluster mode), %zu node(s)\n\n", c->nnodes);
	if (c->inventory) {
		print_exec(c);
		return;
	}
	printf("%-5s  %-21s  %-7s  %-11s  %-8s  %-12s  %s\n", "SHARD", "ADDRESS", "ROLE", "HEALTH",
	       "VERSION", "REPL-OFFSET", "NODE ID");
	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *n = &c->nodes[i];
		char addr[300];

		snprintf(addr, sizeof(addr), "%s:%d", n->host, n->port);
		printf("%-5d  %-21s  %-7s  %-11s  %-8s  %-12lld  %s\n", n->shard + 1, addr,
		       hf_role_name(n->role), health(n), n->version[0] ? n->version : "-",
		       n->repl_offset, n->id);
	}
}

int cmd_cluster(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *pos[1];
	const struct hf_opt opts[] = { { "cluster", &cluster, NULL }, { 0 } };
	struct hf_cluster *c = NULL;
	struct hf_uri uri = {0};
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos || strcmp(pos[0], "show")) {
		fputs(usage, help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "cluster: expected 'show'");
	}
	rc = hf_cmd_cluster_uri(ctx, cluster, &uri, err);
	if (rc)
		return rc;
	rc = hf_cluster_discover(&uri, ctx->timeout_ms, ctx->converge_ms, &c, err);
	if (rc)
		goto out;
	hf_cluster_probe(c);
	if (ctx->json)
		print_json(c);
	else
		print_text(c);
out:
	hf_cluster_free(c);
	hf_uri_release(&uri);
	return rc;
}
