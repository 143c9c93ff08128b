/* The fingerprint of a cluster for 'hotfix drill' (fingerprint.h): read
 * from the nodes in fan-outs, compared in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/fingerprint.h"
#include "util/buf.h"
#include "util/misc.h"

/* One batch of SCAN on a primary: the next cursor, then for each key not
 * of hotfix's own its name, a sha1 of its value and its PTTL. The value of
 * a string or a stream is its DUMP; of a collection, its content, each
 * element with its length in front: sets and hashes sorted, lists and
 * sorted sets in their order. A DUMP depends on the encoding and, for a
 * set or a hash, on the order of its table, which differ between a
 * primary and the replica that took over from it (a failover) for the
 * same content. */
static const char scan_script[] =
	"local function digest(k)\n"
	"  local t = redis.call('TYPE', k).ok\n"
	"  local v\n"
	"  if t == 'set' then v = redis.call('SMEMBERS', k); table.sort(v)\n"
	"  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)\n"
	"  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')\n"
	"  elseif t == 'hash' then\n"
	"    local h = redis.call('HGETALL', k)\n"
	"    local f = {}\n"
	"    for i = 1, #h, 2 do f[#f + 1] = #h[i] .. ':' .. h[i] .. #h[i + 1] .. ':' .. h[i + 1] end\n"
	"    table.sort(f)\n"
	"    v = f\n"
	"  else\n"
	"    local d = redis.call('DUMP', k)\n"
	"    return d and redis.sha1hex(d)\n"
	"  end\n"
	"  local parts = {t}\n"
	"  for i = 1, #v do parts[#parts + 1] = #v[i] .. ':' .. v[i] end\n"
	"  return redis.sha1hex(table.concat(parts, ','))\n"
	"end\n"
	"local r = redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])\n"
	"local out = {r[1]}\n"
	"for _, k in ipairs(r[2]) do\n"
	"  if string.sub(k, 1, #ARGV[3]) ~= ARGV[3] then\n"
	"    local d = digest(k)\n"
	"    if d then\n"
	"      out[#out + 1] = k\n"
	"      out[#out + 1] = d\n"
	"      out[#out + 1] = redis.call('PTTL', k)\n"
	"    end\n"
	"  end\n"
	"end\n"
	"return out\n";

static int skipped_param(const char *name)
{
	char list[] = HF_FP_CONFIG_SKIPPED;
	char *w, *save = NULL;

	for (w = strtok_r(list, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (!strcmp(w, name))
			return 1;
	return 0;
}

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void node_config(struct hf_fp_node *fn, const struct hf_reply *r)
{
	size_t i, n = 0;

	if (!r || r->type != HF_REPLY_ARRAY)
		return;
	fn->config = hf_xcalloc(r->nelem + 2, sizeof(char *));
	for (i = 0; i + 1 < r->nelem; i += 2) {
		if (!r->elem[i]->str || skipped_param(r->elem[i]->str))
			continue;
		fn->config[2 * n] = hf_xstrdup(r->elem[i]->str);
		fn->config[2 * n + 1] = hf_xstrdup(r->elem[i + 1]->str ? r->elem[i + 1]->str : "");
		n++;
	}
	fn->nconfig = n;
	/* Sort pairs by name: qsort over pairs of pointers. */
	qsort(fn->config, n, 2 * sizeof(char *), cmp_pair);
}

static void node_read(struct hf_fp_node *fn, const struct hf_node *nd, const struct hf_call *c)
{
	struct hf_buf acl = {0};
	const struct hf_reply *r;
	size_t i;

	fn->id = hf_xstrdup(nd->id);
	snprintf(fn->addr, sizeof(fn->addr), "%s:%d", nd->host, nd->port);
	fn->primary = nd->role == HF_ROLE_PRIMARY;
	node_config(fn, c->replies[0]);
	r = c->replies[1];
	if (r && r->type == HF_REPLY_STRING)
		hf_sha256_hex(r->str, r->len, fn->functions);
	r = c->replies[2];
	for (i = 0; r && r->type == HF_REPLY_ARRAY && i < r->nelem; i++)
		hf_buf_printf(&acl, "%s\n", r->elem[i]->str ? r->elem[i]->str : "");
	fn->acl = acl.s ? hf_buf_detach(&acl) : hf_xstrdup("");
}

static int read_nodes(struct hf_cluster *c, struct hf_fingerprint *f, long timeout_ms,
		      struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(c->nnodes + 1, sizeof(*calls));
	size_t i;
	int rc = 0;

	for (i = 0; i < c->nnodes; i++) {
		calls[i].node = &c->nodes[i];
		hf_call_push(&calls[i], "CONFIG", "GET", "*", NULL);
		hf_call_push(&calls[i], "FUNCTION", "DUMP", NULL);
		hf_call_push(&calls[i], "ACL", "LIST", NULL);
	}
	hf_fanout(c, calls, c->nnodes, timeout_ms);
	f->nodes = hf_xcalloc(c->nnodes + 1, sizeof(*f->nodes));
	for (i = 0; i < c->nnodes && !rc; i++) {
		if (calls[i].status || !calls[i].replies[0] ||
		    calls[i].replies[0]->type != HF_REPLY_ARRAY)
			rc = hf_err_set(err, HF_EUNREACH, "fingerprint: %s:%d did not answer: %s",
					c->nodes[i].host, c->nodes[i].port,
					*calls[i].error ? calls[i].error : "no configuration");
		else
			node_read(&f->nodes[f->nnodes++], &c->nodes[i], &calls[i]);
	}
	hf_calls_release(calls, c->nnodes);
	free(calls);
	return rc;
}

/* Take the keys of one SCAN batch reply 'r'; returns the next cursor
 * (caller frees), or NULL when the reply is not one. */
static char *take_keys(struct hf_fingerprint *f, size_t *cap, const struct hf_reply *r,
		       long long now)
{
	size_t i;

	if (!r || r->type != HF_REPLY_ARRAY || r->nelem < 1 || !r->elem[0]->str)
		return NULL;
	for (i = 1; i + 2 < r->nelem; i += 3) {
		struct hf_fp_key *k;

		if (f->nkeys == *cap) {
			*cap = *cap ? 2 * *cap : 1024;
			f->keys = hf_xrealloc(f->keys, *cap * sizeof(*f->keys));
		}
		k = &f->keys[f->nkeys++];
		k->key = hf_xstrndup(r->elem[i]->str ? r->elem[i]->str : "", r->elem[i]->len);
		k->len = r->elem[i]->len;
		snprintf(k->digest, sizeof(k->digest), "%s",
			 r->elem[i + 1]->str ? r->elem[i + 1]->str : "");
		k->expire_at = r->elem[i + 2]->integer > 0 ? now + r->elem[i + 2]->integer : 0;
	}
	return hf_xstrdup(r->elem[0]->str);
}

static int cmp_key(const void *a, const void *b)
{
	const struct hf_fp_key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Every key of every primary, SCAN batch by SCAN batch, all primaries at
 * once. */
static int read_keys(struct hf_cluster *c, struct hf_fingerprint *f, long timeout_ms,
		     struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(c->nnodes + 1, sizeof(*calls));
	char **cursor = hf_xcalloc(c->nnodes + 1, sizeof(char *));
	size_t i, n, cap = 0, *who = hf_xcalloc(c->nnodes + 1, sizeof(size_t));
	int rc = 0, started = 0;

	for (;;) {
		for (i = n = 0; i < c->nnodes; i++) {
			if (c->nodes[i].role != HF_ROLE_PRIMARY ||
			    (started && (!cursor[i] || !strcmp(cursor[i], "0"))))
				continue;
			calls[n].node = &c->nodes[i];
			hf_call_push(&calls[n], "EVAL", scan_script, "0", cursor[i] ? cursor[i] : "0",
				     "500", HF_FP_KEY_SKIPPED, NULL);
			who[n++] = i;
		}
		started = 1;
		if (!n)
			break;
		hf_fanout(c, calls, n, timeout_ms);
		for (i = 0; i < n && !rc; i++) {
			free(cursor[who[i]]);
			cursor[who[i]] = take_keys(f, &cap, calls[i].replies[0], hf_wall_ms());
			if (!cursor[who[i]])
				rc = hf_err_set(err, HF_EUNREACH, "fingerprint: keys of %s:%d: %s",
						calls[i].node->host, calls[i].node->port,
						calls[i].replies[0] && calls[i].replies[0]->str
							? calls[i].replies[0]->str : calls[i].error);
		}
		hf_calls_release(calls, n);
		if (rc)
			break;
	}
	for (i = 0; i < c->nnodes; i++)
		free(cursor[i]);
	free(cursor);
	free(who);
	free(calls);
	if (f->nkeys)
		qsort(f->keys, f->nkeys, sizeof(*f->keys), cmp_key);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Shards as slot ranges and the ids of their nodes. */
static void read_shards(const struct hf_cluster *c, struct hf_fingerprint *f)
{
	size_t i, k, m;

	f->shards = hf_xcalloc(c->nnodes + 1, sizeof(*f->shards));
	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *p = &c->nodes[i];
		struct hf_buf b = {0};
		const char **ids;

		if (p->role != HF_ROLE_PRIMARY)
			continue;
		ids = hf_xcalloc(c->nnodes + 1, sizeof(char *));
		for (k = 0; k < p->nranges; k++)
			hf_buf_printf(&b, "%s%d-%d", k ? " " : "", p->ranges[2 * k], p->ranges[2 * k + 1]);
		f->shards[f->nshards].ranges = b.s ? hf_buf_detach(&b) : hf_xstrdup("all");
		for (k = m = 0; k < c->nnodes; k++)
			if (k == i || (c->nodes[k].primary_id && !strcmp(c->nodes[k].primary_id, p->id)))
				ids[m++] = c->nodes[k].id;
		qsort(ids, m, sizeof(char *), cmp_str);
		for (k = 0; k < m; k++)
			hf_buf_printf(&b, "%s%s", k ? " " : "", ids[k]);
		f->shards[f->nshards++].members = hf_buf_detach(&b);
		free(ids);
	}
}

int hf_fingerprint_take(const struct hf_uri *uri, long timeout_ms, struct hf_fingerprint **out,
			struct hf_err *err)
{
	struct hf_cluster *c = NULL;
	struct hf_fingerprint *f = hf_xcalloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	rc = hf_cluster_discover(uri, timeout_ms, HF_CONVERGE_DEFAULT_MS, &c, err);
	if (!rc)
		rc = read_nodes(c, f, timeout_ms, err);
	if (!rc)
		rc = read_keys(c, f, timeout_ms, err);
	if (!rc)
		read_shards(c, f);
	hf_cluster_free(c);
	if (rc)
		hf_fingerprint_free(f);
	else
		*out = f;
	return rc;
}

void hf_fingerprint_free(struct hf_fingerprint *f)
{
	size_t i, k;

	if (!f)
		return;
	for (i = 0; i < f->nnodes; i++) {
		for (k = 0; k < 2 * f->nodes[i].nconfig; k++)
			free(f->nodes[i].config[k]);
		free(f->nodes[i].config);
		free(f->nodes[i].id);
		free(f->nodes[i].acl);
	}
	for (i = 0; i < f->nkeys; i++)
		free(f->keys[i].key);
	for (i = 0; i < f->nshards; i++) {
		free(f->shards[i].ranges);
		free(f->shards[i].members);
	}
	free(f->nodes);
	free(f->keys);
	free(f->shards);
	free(f);
}

/* ---- comparing ------------------------------------------------------ */

static const struct hf_fp_node *node_by_id(const struct hf_fingerprint *f, const char *id)
{
	size_t i;

	for (i = 0; i < f->nnodes; i++)
		if (!strcmp(f->nodes[i].id, id))
			return &f->nodes[i];
	return NULL;
}

static const char *config_of(const struct hf_fp_node *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->nconfig; i++)
		if (!strcmp(n->config[2 * i], name))
			return n->config[2 * i + 1];
	return NULL;
}

static int secret_param(const char *name)
{
	return !strcmp(name, "requirepass") || !strcmp(name, "masterauth") ||
	       strstr(name, "pass") != NULL;
}

/* Parameters of 'a' that 'b' lacks or holds another value of; 'both'
 * says whether to look at those of 'b' that 'a' lacks too. */
static size_t diff_config(const struct hf_fp_node *a, const struct hf_fp_node *b,
			  struct hf_buf *out)
{
	size_t i, n = 0;

	for (i = 0; i < a->nconfig; i++) {
		const char *name = a->config[2 * i], *va = a->config[2 * i + 1];
		const char *vb = config_of(b, name);

		if (vb && !strcmp(va, vb))
			continue;
		n++;
		if (secret_param(name))
			hf_buf_printf(out, "config of %s: %s differs\n", a->addr, name);
		else
			hf_buf_printf(out, "config of %s: %s \"%s\" -> %s%s%s\n", a->addr, name, va,
				      vb ? "\"" : "", vb ? vb : "(absent)", vb ? "\"" : "");
	}
	for (i = 0; i < b->nconfig; i++)
		if (!config_of(a, b->config[2 * i])) {
			n++;
			hf_buf_printf(out, "config of %s: %s (absent) -> present\n", a->addr,
				      b->config[2 * i]);
		}
	return n;
}

static size_t diff_acl(const struct hf_fp_node *a, const struct hf_fp_node *b, struct hf_buf *out)
{
	char *copy, *line, *save = NULL;
	size_t n = 0;

	if (!strcmp(a->acl, b->acl))
		return 0;
	/* Name the users whose line changed, never their hashes. */
	copy = hf_xasprintf("%s%s", a->acl, b->acl);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char user[128] = "";
		int in_a = strstr(a->acl, line) != NULL, in_b = strstr(b->acl, line) != NULL;

		if (in_a && in_b)
			continue;
		sscanf(line, "user %127s", user);
		hf_buf_printf(out, "ACL of %s: user %s %s\n", a->addr, user,
			      in_a ? "changed or removed" : "changed or added");
		n++;
	}
	free(copy);
	return n ? n : 1;
}

static size_t diff_nodes(const struct hf_fingerprint *a, const struct hf_fingerprint *b,
			 struct hf_buf *out, struct hf_buf *roles)
{
	size_t i, n = 0;

	for (i = 0; i < a->nnodes; i++) {
		const struct hf_fp_node *na = &a->nodes[i], *nb = node_by_id(b, na->id);

		if (!nb) {
			hf_buf_printf(out, "node %s (%s) is gone\n", na->addr, na->id);
			n++;
			continue;
		}
		if (na->primary != nb->primary)
			hf_buf_printf(roles, "%s: %s -> %s\n", na->addr,
				      na->primary ? "primary" : "replica",
				      nb->primary ? "primary" : "replica");
		n += diff_config(na, nb, out);
		if (strcmp(na->functions, nb->functions)) {
			hf_buf_printf(out, "functions of %s differ (FUNCTION DUMP)\n", na->addr);
			n++;
		}
		n += diff_acl(na, nb, out);
	}
	for (i = 0; i < b->nnodes; i++)
		if (!node_by_id(a, b->nodes[i].id)) {
			hf_buf_printf(out, "node %s (%s) is new\n", b->nodes[i].addr, b->nodes[i].id);
			n++;
		}
	return n;
}

static size_t diff_shards(const struct hf_fingerprint *a, const struct hf_fingerprint *b,
			  struct hf_buf *out)
{
	size_t i, k, n = 0;

	for (i = 0; i < a->nshards; i++) {
		const struct hf_fp_shard *sa = &a->shards[i], *sb = NULL;

		for (k = 0; k < b->nshards && !sb; k++)
			if (!strcmp(b->shards[k].members, sa->members))
				sb = &b->shards[k];
		if (!sb)
			hf_buf_printf(out, "slots %s: the shard of nodes %s is not one any more\n",
				      sa->ranges, sa->members);
		else if (strcmp(sa->ranges, sb->ranges))
			hf_buf_printf(out, "slots of the shard of nodes %s: %s -> %s\n", sa->members,
				      sa->ranges, sb->ranges);
		else
			continue;
		n++;
	}
	if (a->nshards != b->nshards) {
		hf_buf_printf(out, "shards: %zu -> %zu\n", a->nshards, b->nshards);
		n++;
	}
	return n;
}

static int key_differs(const struct hf_fp_key *a, const struct hf_fp_key *b, const char **what)
{
	long long d = a->expire_at - b->expire_at;

	if (strcmp(a->digest, b->digest))
		*what = "value";
	else if (!a->expire_at != !b->expire_at || d > HF_FP_EXPIRY_TOLERANCE_MS ||
		 d < -HF_FP_EXPIRY_TOLERANCE_MS)
		*what = "expiry";
	else
		return 0;
	return 1;
}

static void name_key(struct hf_buf *out, const struct hf_fp_key *k, const char *what,
		     size_t *named, size_t max)
{
	size_t i;

	if ((*named)++ >= max)
		return;
	hf_buf_puts(out, "key ");
	for (i = 0; i < k->len && i < 120; i++)
		hf_buf_printf(out, (unsigned char)k->key[i] >= 32 && k->key[i] != 127
				   ? "%c" : "\\x%02x", (unsigned char)k->key[i]);
	hf_buf_printf(out, " %s\n", what);
}

static size_t diff_keys(const struct hf_fingerprint *a, const struct hf_fingerprint *b,
			size_t max, struct hf_buf *out)
{
	size_t i = 0, k = 0, n = 0, named = 0;
	const char *what;

	while (i < a->nkeys || k < b->nkeys) {
		int c = i == a->nkeys ? 1 : k == b->nkeys ? -1 : cmp_key(&a->keys[i], &b->keys[k]);

		if (c < 0) {
			name_key(out, &a->keys[i++], "is gone", &named, max);
			n++;
		} else if (c > 0) {
			name_key(out, &b->keys[k++], "is new", &named, max);
			n++;
		} else {
			if (key_differs(&a->keys[i], &b->keys[k], &what)) {
				name_key(out, &a->keys[i], !strcmp(what, "value") ? "differs (value)"
						       : "differs (expiry)", &named, max);
				n++;
			}
			i++;
			k++;
		}
	}
	if (named > max)
		hf_buf_printf(out, "and %zu more keys differ\n", named - max);
	if (a->nkeys != b->nkeys)
		hf_buf_printf(out, "keys: %zu -> %zu\n", a->nkeys, b->nkeys);
	return n;
}

size_t hf_fingerprint_diff(const struct hf_fingerprint *a, const struct hf_fingerprint *b,
			   size_t max_keys, struct hf_buf *out, struct hf_buf *roles)
{
	return diff_nodes(a, b, out, roles) + diff_shards(a, b, out) +
	       diff_keys(a, b, max_keys, out);
}

/* ---- replicas converged --------------------------------------------- */

/* Whether every replica of 'c' (probed) has its link up and its primary's
 * offset; 'why' names the first that has not. */
static int all_converged(struct hf_cluster *c, char *why, size_t len)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *r = &c->nodes[i], *p;

		if (r->role != HF_ROLE_REPLICA)
			continue;
		p = r->primary_id ? hf_cluster_find(c, r->primary_id) : NULL;
		if (!r->reachable || strcmp(r->link_status, "up") || !p ||
		    p->repl_offset != r->repl_offset) {
			snprintf(why, len, "replica %s:%d: link %s, offset %lld, its primary's %lld",
				 r->host, r->port, *r->link_status ? r->link_status : "unknown",
				 r->repl_offset, p ? p->repl_offset : -1);
			return 0;
		}
	}
	return 1;
}

int hf_replicas_converged(const struct hf_uri *uri, long timeout_ms, long wait_ms,
			  struct hf_err *err)
{
	long long deadline = hf_mono_ms() + wait_ms;
	char why[2100] = "no answer";

	for (;;) {
		struct hf_cluster *c = NULL;
		struct hf_err e = {0};
		int ok = 0;

		if (!hf_cluster_discover(uri, timeout_ms, HF_CONVERGE_DEFAULT_MS, &c, &e)) {
			hf_cluster_probe(c);
			ok = all_converged(c, why, sizeof(why));
		} else {
			snprintf(why, sizeof(why), "%s", e.msg);
		}
		hf_cluster_free(c);
		if (ok)
			return 0;
		if (hf_mono_ms() >= deadline)
			return hf_err_set(err, HF_EREFUSED, "the replicas did not converge in %ld ms: %s",
					  wait_ms, why);
		hf_sleep_ms(200);
	}
}
