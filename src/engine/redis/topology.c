/* Topology: which nodes make up the cluster, their roles and shards.
 * Read from CLUSTER NODES in cluster mode, from INFO replication for a
 * plain primary with replicas. Whether the nodes agree with what the seed
 * says is consensus.c's question. */
#include "engine/redis/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"

const char *hf_role_name(enum hf_role r)
{
	return r == HF_ROLE_PRIMARY ? "primary" : "replica";
}

static struct hf_node *add_node(struct hf_cluster *c)
{
	struct hf_node *n;

	c->nodes = hf_xrealloc(c->nodes, sizeof(*c->nodes) * (c->nnodes + 1));
	n = &c->nodes[c->nnodes++];
	memset(n, 0, sizeof(*n));
	n->flags = hf_xstrdup("");
	n->slot_lo = n->slot_hi = -1;
	return n;
}

void hf_node_disconnect(struct hf_node *n)
{
	hf_conn_close(n->conn);
	n->conn = NULL;
}

static void node_release(struct hf_node *n)
{
	hf_node_disconnect(n);
	free(n->id);
	free(n->host);
	free(n->primary_id);
	free(n->flags);
	free(n->ranges);
}

void hf_redis_cluster_free(struct hf_cluster *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nnodes; i++)
		node_release(&c->nodes[i]);
	free(c->nodes);
	hf_uri_release(&c->uri);
	free(c);
}

struct hf_node *hf_cluster_find(struct hf_cluster *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++)
		if (!strcmp(c->nodes[i].id, id))
			return &c->nodes[i];
	return NULL;
}

/* A primary's lowest slot, to order shards as operators see them. */
struct parsed {
	struct hf_node node;
	int first_slot;
};

/* A primary's lowest slot range, to order shards as operators see them
 * and to address a key to the shard. Returns the first slot, or a large
 * number when the primary serves no slot. */
static int first_slot_of(char **fields, int nf, int *hi)
{
	int i, best = 1 << 30;

	*hi = -1;
	for (i = 8; i < nf; i++) {
		char *dash;
		int s;

		if (fields[i][0] == '[')
			continue;   /* a slot being imported or migrated */
		s = atoi(fields[i]);
		if (s >= best)
			continue;
		best = s;
		dash = strchr(fields[i], '-');
		*hi = dash ? atoi(dash + 1) : s;
	}
	return best;
}

/* Every slot range of a primary's line, as pairs lo, hi into 'n'. */
static void ranges_of(char **fields, int nf, struct hf_node *n)
{
	int i;

	for (i = 8; i < nf; i++) {
		char *dash = strchr(fields[i], '-');

		if (fields[i][0] == '[')
			continue;
		n->ranges = hf_xrealloc(n->ranges, sizeof(*n->ranges) * 2 * (n->nranges + 1));
		n->ranges[2 * n->nranges] = atoi(fields[i]);
		n->ranges[2 * n->nranges + 1] = dash ? atoi(dash + 1) : atoi(fields[i]);
		n->nranges++;
	}
}

static int cmp_primary(const void *a, const void *b)
{
	const struct parsed *x = a, *y = b;

	if (x->first_slot != y->first_slot)
		return x->first_slot < y->first_slot ? -1 : 1;
	return strcmp(x->node.id, y->node.id);
}

static int cmp_replica(const void *a, const void *b)
{
	const struct parsed *x = a, *y = b;
	int r = strcmp(x->node.primary_id, y->node.primary_id);

	if (r)
		return r;
	if (x->node.port != y->node.port)
		return x->node.port < y->node.port ? -1 : 1;
	return strcmp(x->node.host, y->node.host);
}

/* Read one line of CLUSTER NODES into 'p' (its strings allocated; 'line'
 * is cut up). Returns 0, or -1 for a line that names no node to work on:
 * too short, without an address, or a node still in its handshake. */
static int parse_node_line(const struct hf_cluster *c, char *line, struct parsed *p)
{
	char *fields[16400];
	char *fs = NULL, *f;
	int nf = 0;
	char *at, *colon;

	for (f = strtok_r(line, " ", &fs); f && nf < 16400; f = strtok_r(NULL, " ", &fs))
		fields[nf++] = f;
	if (nf < 8)
		return -1;
	if (strstr(fields[2], "noaddr") || strstr(fields[2], "handshake"))
		return -1;
	memset(p, 0, sizeof(*p));
	p->node.slot_lo = p->node.slot_hi = -1;
	at = strchr(fields[1], '@');
	if (at)
		*at = '\0';
	colon = strrchr(fields[1], ':');
	if (!colon || (colon == fields[1] && !strstr(fields[2], "myself")))
		return -1;
	*colon = '\0';
	p->node.id = hf_xstrdup(fields[0]);
	/* A node that never met another knows no address of its own:
	 * it is the seed. */
	p->node.host = hf_xstrdup(colon == fields[1] ? c->uri.host : fields[1]);
	p->node.port = atoi(colon + 1);
	p->node.flags = hf_xstrdup(fields[2]);
	p->node.pong_ms = strtoll(fields[5], NULL, 10);
	p->node.failed = strstr(fields[2], "fail") != NULL;
	if (strstr(fields[2], "master")) {
		p->node.role = HF_ROLE_PRIMARY;
		p->first_slot = first_slot_of(fields, nf, &p->node.slot_hi);
		p->node.slot_lo = p->node.slot_hi >= 0 ? p->first_slot : -1;
		ranges_of(fields, nf, &p->node);
	} else {
		p->node.role = HF_ROLE_REPLICA;
		p->node.primary_id = hf_xstrdup(fields[3]);
	}
	return 0;
}

/* Move 'node' into 'c' as a node of shard 'shard'. */
static void place_node(struct hf_cluster *c, const struct hf_node *node, int shard)
{
	struct hf_node *n = add_node(c);

	free(n->flags);
	*n = *node;
	n->shard = shard;
}

/* Move the sorted 'prim' and 'repl' into 'c': a shard per primary, in
 * their order, each primary followed by its replicas. The replicas moved
 * are left without an id. */
static void place_shards(struct hf_cluster *c, const struct parsed *prim, size_t np,
			 struct parsed *repl, size_t nr)
{
	size_t i, k;

	for (i = 0; i < np; i++) {
		place_node(c, &prim[i].node, (int)i);
		for (k = 0; k < nr; k++) {
			if (!repl[k].node.id || strcmp(repl[k].node.primary_id, prim[i].node.id))
				continue;
			place_node(c, &repl[k].node, (int)i);
			repl[k].node.id = NULL;   /* moved */
		}
	}
	c->nshards = (int)np;
	/* Replicas of a primary we could not see are kept, in a shard of their own. */
	for (k = 0; k < nr; k++) {
		if (!repl[k].node.id)
			continue;
		place_node(c, &repl[k].node, c->nshards++);
		repl[k].node.id = NULL;
	}
}

/* Parse CLUSTER NODES into 'c', primaries ordered by their first slot, each
 * followed by its replicas. */
static int parse_cluster_nodes(struct hf_cluster *c, const char *text, struct hf_err *err)
{
	struct parsed *prim = NULL, *repl = NULL;
	size_t np = 0, nr = 0, i, k;
	char *copy = hf_xstrdup(text), *save = NULL, *line;
	int rc = 0;

	for (line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		struct parsed p;

		if (parse_node_line(c, line, &p))
			continue;
		if (p.node.role == HF_ROLE_PRIMARY) {
			prim = hf_xrealloc(prim, sizeof(*prim) * (np + 1));
			prim[np++] = p;
		} else {
			repl = hf_xrealloc(repl, sizeof(*repl) * (nr + 1));
			repl[nr++] = p;
		}
	}
	if (!np) {
		rc = hf_err_set(err, HF_ERR, "CLUSTER NODES lists no primary");
		goto out;
	}
	qsort(prim, np, sizeof(*prim), cmp_primary);
	if (nr)
		qsort(repl, nr, sizeof(*repl), cmp_replica);
	place_shards(c, prim, np, repl, nr);
	np = 0;   /* every node is in 'c' now */
out:
	for (i = 0; i < np; i++)
		node_release(&prim[i].node);
	for (k = 0; k < nr; k++)
		if (repl[k].node.id)
			node_release(&repl[k].node);
	free(prim);
	free(repl);
	free(copy);
	return rc;
}

/* One command ('a1', 'a2' may be NULL) to 'host':'port' with the
 * credentials and TLS settings of 'u'. With 'keep' the connection is kept
 * there for the next command to the same node (a TLS handshake each time
 * would cost more than the commands), else it is closed. An error reply
 * is an error. */
static int command(const char *host, int port, const struct hf_uri *u, long timeout_ms,
		   struct hf_conn **keep, const char *a1, const char *a2, struct hf_reply **out,
		   struct hf_err *err)
{
	struct hf_conn *conn = keep ? *keep : NULL;
	struct hf_argv argv = {0};
	redisReply *r = NULL;
	int rc = 0;

	if (!conn && (rc = hf_conn_open(u, host, port, timeout_ms, &conn, err)))
		return rc;
	hf_argv_push(&argv, a1);
	if (a2)
		hf_argv_push(&argv, a2);
	if (hf_conn_command(conn, &argv, timeout_ms, &r)) {
		rc = hf_err_set(err, HF_EUNREACH, "%s did not answer '%s': %s", hf_conn_addr(conn),
				a1, hf_conn_error(conn));
		hf_conn_close(conn);
		conn = NULL;
	}
	hf_argv_release(&argv);
	if (keep)
		*keep = conn;
	else
		hf_conn_close(conn);
	if (rc)
		return rc;
	*out = hf_reply_from_hiredis(r);
	freeReplyObject(r);
	if ((*out)->type == HF_REPLY_ERROR) {
		char addr[300];

		snprintf(addr, sizeof(addr), "%s:%d", host, port);
		if (hf_auth_error(addr, (*out)->str, u, err))
			rc = HF_ERR;
		else
			rc = hf_err_set(err, HF_ERR, "%s:%d answered '%s %s' with: %s", host, port,
					a1, a2 ? a2 : "", (*out)->str);
		hf_reply_free(*out);
		*out = NULL;
	}
	return rc;
}

/* Without cluster mode: the seed's primary and the replicas it lists. */
static int discover_plain(struct hf_cluster *c, const char *info, long timeout_ms,
			  struct hf_err *err)
{
	char role[16] = "", host[256], buf[512];
	struct hf_reply *r = NULL;
	struct hf_info_replica *reps;
	struct hf_node *n;
	int port = c->uri.port, rc = 0;
	size_t nrep, i;

	snprintf(host, sizeof(host), "%s", c->uri.host);
	hf_info_field(info, "role", role, sizeof(role));
	if (!strcmp(role, "slave")) {
		if (hf_info_field(info, "master_host", host, sizeof(host)) ||
		    hf_info_field(info, "master_port", buf, sizeof(buf)))
			return hf_err_set(err, HF_ERR, "%s:%d is a replica that names no primary",
					  c->uri.host, c->uri.port);
		port = atoi(buf);
		rc = command(host, port, &c->uri, timeout_ms, NULL, "INFO", "replication", &r, err);
		if (rc)
			return rc;
		info = r->str;
	}
	n = add_node(c);
	n->host = hf_xstrdup(host);
	n->port = port;
	n->id = hf_xasprintf("%s:%d", host, port);
	n->role = HF_ROLE_PRIMARY;
	nrep = hf_info_replicas(info, NULL, 0);
	reps = hf_xcalloc(nrep ? nrep : 1, sizeof(*reps));
	nrep = hf_info_replicas(info, reps, nrep);
	for (i = 0; i < nrep; i++) {
		n = add_node(c);
		n->host = hf_xstrdup(reps[i].ip);
		n->port = reps[i].port;
		n->id = hf_xasprintf("%s:%d", n->host, n->port);
		n->role = HF_ROLE_REPLICA;
		n->primary_id = hf_xstrdup(c->nodes[0].id);
	}
	c->nshards = 1;
	free(reps);
	hf_reply_free(r);
	return 0;
}

int hf_topology_from_nodes(const struct hf_uri *uri, long timeout_ms, const char *nodes,
			   const char *info, struct hf_cluster **out, struct hf_err *err)
{
	struct hf_cluster *c = hf_xcalloc(1, sizeof(*c));
	int rc;

	hf_uri_copy(&c->uri, uri);
	c->timeout_ms = timeout_ms;
	c->cluster_mode = 1;
	rc = parse_cluster_nodes(c, nodes, err);
	if (rc) {
		hf_cluster_free(c);
		return rc;
	}
	if (info)
		hf_info_field(info, "cluster_state", c->cluster_state, sizeof(c->cluster_state));
	*out = c;
	return 0;
}

int hf_redis_cluster_discover(const struct hf_uri *uri, long timeout_ms, long converge_ms,
			      struct hf_cluster **out, struct hf_err *err)
{
	long long until = hf_mono_ms() + (converge_ms > 0 ? converge_ms : HF_CONVERGE_DEFAULT_MS);
	struct hf_cluster *c = NULL;
	int rc;

	/* A seed that is loading its data set (restarted) answers LOADING
	 * for a while: wait for it as for nodes that disagree (found by the
	 * soak: a resume --rollback right after a node's restart). */
	while ((rc = hf_topology_read_seed(uri, timeout_ms, &c, err)) && err &&
	       strstr(err->msg, "with: LOADING") && hf_mono_ms() < until)
		hf_sleep_ms(200);
	if (rc)
		return rc;
	c->converge_ms = converge_ms;
	if (converge_ms >= 0)
		rc = hf_topology_confirm(&c, converge_ms, err);
	if (rc) {
		hf_cluster_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Give the seed's connection to the seed's node of 'c', when one is
 * listed at the address it was reached at: one handshake less. */
static void keep_seed_conn(struct hf_cluster *c, struct hf_conn **seed)
{
	size_t i;

	for (i = 0; *seed && i < c->nnodes; i++) {
		struct hf_node *n = &c->nodes[i];

		if (!n->conn && n->port == c->uri.port && !strcmp(n->host, c->uri.host)) {
			n->conn = *seed;
			*seed = NULL;
		}
	}
}

int hf_topology_read_seed(const struct hf_uri *uri, long timeout_ms, struct hf_cluster **out,
			  struct hf_err *err)
{
	struct hf_cluster *c = hf_xcalloc(1, sizeof(*c));
	struct hf_reply *info = NULL, *nodes = NULL;
	struct hf_conn *seed = NULL;
	char enabled[8] = "";
	int rc;

	hf_uri_copy(&c->uri, uri);
	c->timeout_ms = timeout_ms;
	rc = command(uri->host, uri->port, uri, timeout_ms, &seed, "INFO", "all", &info, err);
	if (rc)
		goto out;
	hf_info_field(info->str, "cluster_enabled", enabled, sizeof(enabled));
	c->cluster_mode = !strcmp(enabled, "1");
	if (c->cluster_mode) {
		struct hf_reply *ci = NULL;

		rc = command(uri->host, uri->port, uri, timeout_ms, &seed, "CLUSTER", "NODES", &nodes,
			     err);
		if (rc)
			goto out;
		rc = parse_cluster_nodes(c, nodes->str, err);
		if (rc)
			goto out;
		if (!command(uri->host, uri->port, uri, timeout_ms, &seed, "CLUSTER", "INFO", &ci, NULL)) {
			hf_info_field(ci->str, "cluster_state", c->cluster_state, sizeof(c->cluster_state));
			hf_reply_free(ci);
		}
	} else {
		rc = discover_plain(c, info->str, timeout_ms, err);
	}
	if (!rc)
		keep_seed_conn(c, &seed);
out:
	hf_conn_close(seed);
	hf_reply_free(info);
	hf_reply_free(nodes);
	if (rc) {
		hf_cluster_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void hf_redis_cluster_probe(struct hf_cluster *c)
{
	struct hf_call *calls = hf_xcalloc(c->nnodes, sizeof(*calls));
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		calls[i].node = &c->nodes[i];
		hf_call_push(&calls[i], "INFO", "server", NULL);
		hf_call_push(&calls[i], "INFO", "replication", NULL);
	}
	hf_fanout(c, calls, c->nnodes, c->timeout_ms);
	for (i = 0; i < c->nnodes; i++) {
		struct hf_node *n = &c->nodes[i];
		char buf[512] = "";

		n->probed = 1;
		n->reachable = !calls[i].status && calls[i].replies[0] &&
			       calls[i].replies[0]->type == HF_REPLY_STRING;
		if (!n->reachable) {
			n->failed = 1;
			continue;
		}
		hf_info_field(calls[i].replies[0]->str, "redis_version", n->version, sizeof(n->version));
		n->has_config_file = !hf_info_field(calls[i].replies[0]->str, "config_file", buf,
						    sizeof(buf)) && buf[0];
		if (calls[i].replies[1] && calls[i].replies[1]->type == HF_REPLY_STRING) {
			const char *rep = calls[i].replies[1]->str;

			if (!hf_info_field(rep, "master_link_status", n->link_status, sizeof(n->link_status)) &&
			    !hf_info_field(rep, "slave_repl_offset", buf, sizeof(buf)))
				n->repl_offset = atoll(buf);
			else if (!hf_info_field(rep, "master_repl_offset", buf, sizeof(buf)))
				n->repl_offset = atoll(buf);
		}
	}
	hf_calls_release(calls, c->nnodes);
	free(calls);
}
