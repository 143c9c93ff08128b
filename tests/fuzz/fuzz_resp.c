/* libFuzzer target: bytes a broken or hostile server sends, read as a
 * connection reads them (hiredis' reader with the engine's bound on what
 * a reply may allocate, hf_reply_parse), then every string the replies
 * hold given to what interprets them: INFO fields and replicas, CLUSTER
 * NODES as the topology and the consensus read it. Neither may crash,
 * leak or allocate what a header merely declares. Built by 'make fuzz'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/redis.h"
#include "util/buf.h"

static const char *const fields[] = {
	"role", "master_host", "master_port", "cluster_state", "redis_version",
	"rdb_last_bgsave_status", "aof_enabled", "used_memory", "errorstat_ERR",
};

static void info(const char *s)
{
	struct hf_info_replica reps[4];
	char out[64];
	size_t i, n;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!hf_info_field(s, fields[i], out, sizeof(out)) && strlen(out) >= sizeof(out))
			abort();
	n = hf_info_replicas(s, reps, 4);
	for (i = 0; i < n && i < 4; i++)
		if (reps[i].port <= 0 && !reps[i].ip[0])
			abort();
}

/* 'nodes' as one node's CLUSTER NODES: the topology read from it, and the
 * consensus of it with 'other' (another reply's text, or the same). */
static void cluster_nodes(const char *nodes, const char *other)
{
	struct hf_uri uri = { .host = "127.0.0.1", .port = 30001 };
	struct hf_cluster *c = NULL;
	struct hf_err err = {0};
	struct hf_buf why = {0};
	struct hf_view v[2] = {
		{ .addr = "127.0.0.1:30001", .nodes = nodes, .role = "master" },
		{ .addr = "127.0.0.1:30002", .nodes = other, .role = "slave",
		  .role_primary = "127.0.0.1:30001" },
	};

	if (!hf_topology_from_nodes(&uri, 100, nodes, nodes, &c, &err)) {
		hf_topology_compare(v, 2, 1, 0, c, &why);
		hf_cluster_free(c);
	} else {
		hf_topology_compare(v, 2, 1, -1, NULL, &why);
	}
	hf_buf_release(&why);
}

static void walk(const struct hf_reply *r, const char **last)
{
	size_t i;

	if (r->type == HF_REPLY_ARRAY) {
		if (r->nelem && !r->elem)
			abort();
		for (i = 0; i < r->nelem; i++)
			walk(r->elem[i], last);
		return;
	}
	if (!r->str)
		return;
	if (r->str[r->len] != '\0')
		abort();
	info(r->str);
	cluster_nodes(r->str, *last ? *last : r->str);
	*last = r->str;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_reply **r = NULL;
	struct hf_err err = {0};
	const char *last = NULL;
	size_t n = 0, i;

	if (hf_reply_parse(data, size, &r, &n, &err)) {
		if (r || strncmp(err.msg, "invalid reply: ", 15))
			abort();
		return 0;
	}
	for (i = 0; i < n; i++)
		walk(r[i], &last);
	for (i = 0; i < n; i++)
		hf_reply_free(r[i]);
	free(r);
	return 0;
}
