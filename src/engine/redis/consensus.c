/* Topology consensus: whether the nodes agree on who is a primary, who
 * replicates whom and who owns which slots, asked of every node at once.
 * How a topology is read from the seed lives in topology.c. */
#include "engine/redis/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"

/* The poll interval while the nodes converge: gossip spreads a change in
 * about a second, and each look costs one fan-out. */
#define POLL_MS 100
/* At most this many nodes, and observers per claim, are named in an error. */
#define MAX_SUBJECTS 8
#define MAX_NAMES 4

/* ---- what the nodes say (pure) ------------------------------------- */

/* Someone who says something about the nodes: a node's CLUSTER NODES or
 * ROLE, or the topology read from the seed. */
struct observer {
	char *label;     /* "127.0.0.1:30001 (seed)", for messages */
	char *self;      /* the id of the node speaking, or NULL */
	int full;        /* lists every node it knows: not listing one is a claim */
	int primary;     /* a primary's ROLE: lists the nodes that replicate it */
};

/* What one observer says about one node. */
struct claim {
	size_t by;       /* index of the observer */
	char *about;     /* the node's id (cluster mode) or normalized "host:port" */
	char *addr;      /* its "host:port" as the observer gives it, or NULL */
	int listed;      /* 0: the observer does not list the node */
	enum hf_role role;
	char *primary;   /* replicas: their primary's id; NULL when not said */
	char *slots;     /* primaries in cluster mode: "0-5460,6000"; NULL without */
};

struct claims {
	struct observer *obs;
	size_t nobs;
	struct claim *c;
	size_t n;
};

static size_t add_observer(struct claims *cl, char *label, const char *self, int full)
{
	struct observer *o;

	cl->obs = hf_xrealloc(cl->obs, sizeof(*cl->obs) * (cl->nobs + 1));
	o = &cl->obs[cl->nobs];
	o->label = label;
	o->self = self ? hf_xstrdup(self) : NULL;
	o->full = full;
	o->primary = 0;
	return cl->nobs++;
}

static void add_claim(struct claims *cl, size_t by, const char *about, const char *addr,
		      enum hf_role role, const char *primary, const char *slots)
{
	struct claim *c;

	cl->c = hf_xrealloc(cl->c, sizeof(*cl->c) * (cl->n + 1));
	c = &cl->c[cl->n++];
	c->by = by;
	c->about = hf_xstrdup(about);
	c->addr = addr ? hf_xstrdup(addr) : NULL;
	c->listed = 1;
	c->role = role;
	c->primary = primary ? hf_xstrdup(primary) : NULL;
	c->slots = slots ? hf_xstrdup(slots) : NULL;
}

static void claims_release(struct claims *cl)
{
	size_t i;

	for (i = 0; i < cl->nobs; i++) {
		free(cl->obs[i].label);
		free(cl->obs[i].self);
	}
	for (i = 0; i < cl->n; i++) {
		free(cl->c[i].about);
		free(cl->c[i].addr);
		free(cl->c[i].primary);
		free(cl->c[i].slots);
	}
	free(cl->obs);
	free(cl->c);
	memset(cl, 0, sizeof(*cl));
}

/* "host:port" with every loopback spelling as 127.0.0.1: without cluster
 * mode a node is known by its address, and a primary reached as localhost
 * is the one its replicas name as 127.0.0.1. Other names are compared as
 * written (no DNS). Caller frees. */
static char *norm_addr(const char *addr)
{
	const char *colon = strrchr(addr, ':');

	if (colon && hf_host_is_loopback(addr, (size_t)(colon - addr)))
		return hf_xasprintf("127.0.0.1%s", colon);
	return hf_xstrdup(addr);
}

static int has_flag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);
	const char *p = flags;

	while (p && *p) {
		if (!strncmp(p, flag, n) && (p[n] == ',' || !p[n]))
			return 1;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}

/* One line of CLUSTER NODES, cut in place. */
struct nodes_line {
	char *id, *addr, *flags, *primary;
	struct hf_buf slots;   /* the slot ranges it serves, comma-separated */
};

/* Cut 'line' into its fields; 0 when it is a node with a role (handshakes
 * and lines without one are no claim about anything). */
static int nodes_line_parse(char *line, struct nodes_line *out)
{
	char *save = NULL, *f;
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0, f = strtok_r(line, " ", &save); f; i++, f = strtok_r(NULL, " ", &save)) {
		if (i == 0)
			out->id = f;
		else if (i == 1)
			out->addr = f;
		else if (i == 2)
			out->flags = f;
		else if (i == 3)
			out->primary = f;
		else if (i >= 8 && f[0] != '[')   /* '[slot->-id]': a migration, not an owner */
			hf_buf_printf(&out->slots, "%s%s", out->slots.len ? "," : "", f);
	}
	if (i < 8 || has_flag(out->flags, "handshake") ||
	    (!has_flag(out->flags, "master") && !has_flag(out->flags, "slave"))) {
		hf_buf_release(&out->slots);
		return -1;
	}
	/* "ip:port@cport[,hostname]": the address clients use. */
	out->addr[strcspn(out->addr, "@")] = '\0';
	return 0;
}

/* The id of the node at 'addr' in CLUSTER NODES 'text', or NULL. Caller frees. */
static char *id_at(const char *text, const char *addr)
{
	char *copy = hf_xstrdup(text), *save = NULL, *line, *found = NULL;
	char *want = norm_addr(addr);

	for (line = strtok_r(copy, "\r\n", &save); line && !found; line = strtok_r(NULL, "\r\n", &save)) {
		struct nodes_line nl;
		char *a;

		if (nodes_line_parse(line, &nl))
			continue;
		a = norm_addr(nl.addr);
		if (!strcmp(a, want))
			found = hf_xstrdup(nl.id);
		free(a);
		hf_buf_release(&nl.slots);
	}
	free(want);
	free(copy);
	return found;
}

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static char *view_label(const struct hf_view *v, int seed, const char *what)
{
	return hf_xasprintf("%s%s%s", v->addr, seed ? " (seed)" : "", what ? what : "");
}

/* Cluster mode: what a node's CLUSTER NODES says about every node, and
 * its ROLE when that says otherwise about the node itself. */
static void cluster_claims(struct claims *cl, const struct hf_view *v, int seed)
{
	char *copy = hf_xstrdup(v->nodes), *save = NULL, *line;
	size_t by = add_observer(cl, view_label(v, seed, NULL), NULL, 1), mine = 0;
	int found = 0;

	for (line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		struct nodes_line nl;
		int replica;

		if (nodes_line_parse(line, &nl))
			continue;
		replica = has_flag(nl.flags, "slave");
		add_claim(cl, by, nl.id, nl.addr, replica ? HF_ROLE_REPLICA : HF_ROLE_PRIMARY,
			  replica ? nl.primary : NULL, replica ? NULL : (nl.slots.s ? nl.slots.s : ""));
		/* Its own line: CLUSTER MYID names it, 'myself' marks it. */
		if (!found && (v->myid ? !strcmp(nl.id, v->myid) : has_flag(nl.flags, "myself"))) {
			found = 1;
			mine = cl->n - 1;
			cl->obs[by].self = hf_xstrdup(nl.id);
		}
		hf_buf_release(&nl.slots);
	}
	free(copy);
	/* ROLE is the replication the node runs, CLUSTER NODES the role the
	 * cluster gave it: they differ for a moment in a failover. */
	if (found && v->role) {
		const struct claim own = cl->c[mine];
		enum hf_role role = strcmp(v->role, "master") ? HF_ROLE_REPLICA : HF_ROLE_PRIMARY;
		char *primary = NULL;

		if (role == HF_ROLE_REPLICA && v->role_primary) {
			primary = id_at(v->nodes, v->role_primary);
			if (!primary)
				primary = hf_xstrdup(v->role_primary);   /* a node it does not know */
		}
		if (role != own.role || (role == HF_ROLE_REPLICA && !str_eq(primary, own.primary))) {
			/* Its label says whose: no "(itself)" for it. */
			size_t rb = add_observer(cl, view_label(v, seed, " (ROLE)"), NULL, 0);

			add_claim(cl, rb, own.about, v->addr, role, primary,
				  role == HF_ROLE_PRIMARY ? (own.slots ? own.slots : "") : NULL);
		}
		free(primary);
	}
}

/* The primary that replica view 'r' names, as the others know it: a
 * replica names its primary as its 'replicaof' spells it (a host name, say),
 * while a primary lists its replicas by the address they connect from.
 * When a primary among 'v' lists 'r', that primary is the one 'r' means,
 * whatever its name (its link is up: the primary sees the connection).
 * Otherwise the name as written. Caller frees. */
static char *named_primary(const struct hf_view *v, size_t n, const struct hf_view *r)
{
	char *self = norm_addr(r->addr), *found = NULL;
	size_t i, k;

	for (i = 0; i < n && !found; i++) {
		if (!v[i].addr || !v[i].role || strcmp(v[i].role, "master"))
			continue;
		for (k = 0; k < v[i].nrole_replicas && !found; k++) {
			char *listed = norm_addr(v[i].role_replicas[k]);

			if (!strcmp(listed, self))
				found = norm_addr(v[i].addr);
			free(listed);
		}
	}
	free(self);
	return found ? found : norm_addr(r->role_primary);
}

/* Without cluster mode: a node's ROLE says what it is, and what its
 * primary or its replicas are. 'all' (n views) name the primaries. */
static void plain_claims(struct claims *cl, const struct hf_view *all, size_t n,
			 const struct hf_view *v, int seed)
{
	char *self = norm_addr(v->addr);
	int primary = !strcmp(v->role, "master");
	size_t by = add_observer(cl, view_label(v, seed, NULL), self, 0), i;

	cl->obs[by].primary = primary;
	if (primary) {
		add_claim(cl, by, self, v->addr, HF_ROLE_PRIMARY, NULL, NULL);
		for (i = 0; i < v->nrole_replicas; i++) {
			char *r = norm_addr(v->role_replicas[i]);

			add_claim(cl, by, r, v->role_replicas[i], HF_ROLE_REPLICA, self, NULL);
			free(r);
		}
	} else if (v->role_primary) {
		char *p = named_primary(all, n, v);

		add_claim(cl, by, self, v->addr, HF_ROLE_REPLICA, p, NULL);
		/* Replicating a node says that node is a primary. */
		add_claim(cl, by, p, v->role_primary, HF_ROLE_PRIMARY, NULL, NULL);
		free(p);
	}
	free(self);
}

/* Without cluster mode a primary speaks only of its replicas: one that
 * does not list a node replicating it disagrees with that node. */
static void unlisted_replicas(struct claims *cl)
{
	size_t i, k, m, n = cl->n;

	for (i = 0; i < n; i++) {
		/* Strings outlive the array, which add_claim() moves. */
		const char *about = cl->c[i].about, *primary = cl->c[i].primary;

		if (cl->c[i].role != HF_ROLE_REPLICA || !primary)
			continue;
		for (m = 0; m < cl->nobs; m++) {
			if (!cl->obs[m].primary || strcmp(cl->obs[m].self, primary))
				continue;
			for (k = 0; k < cl->n && (cl->c[k].by != m || strcmp(cl->c[k].about, about)); k++)
				;
			if (k == cl->n) {
				add_claim(cl, m, about, NULL, HF_ROLE_PRIMARY, NULL, NULL);
				cl->c[cl->n - 1].listed = 0;
			}
		}
	}
}

/* The topology read from the seed, as one more observer. */
static void expect_claims(struct claims *cl, const struct hf_cluster *c)
{
	size_t by = add_observer(cl, hf_xstrdup("the seed's INFO replication"), NULL, 1), i;

	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *n = &c->nodes[i];
		const struct hf_node *p = n->primary_id ? hf_cluster_find((struct hf_cluster *)c,
									  n->primary_id) : NULL;
		char *addr = hf_xasprintf("%s:%d", n->host, n->port);
		char *about = norm_addr(addr);
		char *paddr = p ? hf_xasprintf("%s:%d", p->host, p->port) : NULL;
		char *pnorm = paddr ? norm_addr(paddr) : NULL;

		add_claim(cl, by, about, addr, n->role, n->role == HF_ROLE_REPLICA ? pnorm : NULL, NULL);
		free(addr);
		free(about);
		free(paddr);
		free(pnorm);
	}
}

static int cmp_claim(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int r = strcmp(x->about, y->about);

	if (r)
		return r;
	return x->by < y->by ? -1 : x->by > y->by;
}

static int same_claim(const struct claim *x, const struct claim *y)
{
	if (x->listed != y->listed)
		return 0;
	if (!x->listed)
		return 1;
	return x->role == y->role && str_eq(x->primary, y->primary) && str_eq(x->slots, y->slots);
}

/* The address of node 'id' as anyone gave it, or NULL. */
static const char *addr_of(const struct claims *cl, const char *id)
{
	size_t i;

	for (i = 0; id && i < cl->n; i++)
		if (cl->c[i].addr && !strcmp(cl->c[i].about, id))
			return cl->c[i].addr;
	return NULL;
}

/* " say it is a replica of 127.0.0.1:30001", after the names of those
 * who say it ('plural' of them). */
static void describe_claim(struct hf_buf *b, const struct claims *cl, const struct claim *c,
			   int plural)
{
	const char *pa;

	if (!c->listed) {
		hf_buf_puts(b, plural ? " do not list it" : " does not list it");
		return;
	}
	hf_buf_puts(b, plural ? " say it is " : " says it is ");
	if (c->role == HF_ROLE_REPLICA) {
		if (c->primary && !strcmp(c->primary, "-"))   /* CLUSTER NODES' "no primary" */
			hf_buf_puts(b, "a replica of a node it does not list");
		else if ((pa = addr_of(cl, c->primary)))
			hf_buf_printf(b, "a replica of %s", pa);
		else if (c->primary)   /* an address, or an id no one gave an address for */
			hf_buf_printf(b, "a replica of %.*s", strchr(c->primary, ':') ? 300 : 8,
				      c->primary);
		else
			hf_buf_puts(b, "a replica");
	} else if (!c->slots) {
		hf_buf_puts(b, "a primary");
	} else if (!*c->slots) {
		hf_buf_puts(b, "a primary without slots");
	} else {
		hf_buf_printf(b, "a primary of slots %.60s%s", c->slots,
			      strlen(c->slots) > 60 ? "..." : "");
	}
}

/* One node the observers disagree about: its claims in 'g' (sorted by
 * observer), plus the full observers that do not list it. */
static void describe_subject(struct hf_buf *b, const struct claims *cl, const struct claim *g,
			     size_t ng)
{
	struct claim *all = hf_xcalloc(ng + cl->nobs, sizeof(*all));
	int *group = hf_xcalloc(ng + cl->nobs, sizeof(*group));
	size_t n = 0, i, k, ngroups = 0;
	const char *addr = NULL;

	for (i = 0; i < ng; i++) {
		all[n++] = g[i];
		if (!addr && g[i].addr)
			addr = g[i].addr;
	}
	for (k = 0; k < cl->nobs; k++) {
		if (!cl->obs[k].full)
			continue;
		for (i = 0; i < ng && g[i].by != k; i++)
			;
		if (i == ng) {
			memset(&all[n], 0, sizeof(all[n]));
			all[n].by = k;
			all[n].about = g[0].about;
			n++;
		}
	}
	/* Group equal claims; group numbers follow first appearance. */
	for (i = 0; i < n; i++) {
		for (k = 0; k < i && !same_claim(&all[k], &all[i]); k++)
			;
		group[i] = k < i ? group[k] : (int)ngroups++;
	}
	if (addr && !strchr(g[0].about, ':'))   /* an id, not an address: both */
		hf_buf_printf(b, "\n  node '%s' (%.8s):", addr, g[0].about);
	else
		hf_buf_printf(b, "\n  node '%s':", g[0].about);
	/* The group most observers are in first. */
	for (k = 0;; k++) {
		size_t best = 0, best_size = 0, named = 0, size;
		int gi;

		for (gi = 0; gi < (int)ngroups; gi++) {
			for (size = 0, i = 0; i < n; i++)
				size += group[i] == gi;
			if (size > best_size) {
				best_size = size;
				best = (size_t)gi;
			}
		}
		if (!best_size)
			break;
		hf_buf_puts(b, k ? "; " : " ");
		for (i = 0; i < n; i++) {
			const struct observer *o = &cl->obs[all[i].by];

			if (group[i] != (int)best)
				continue;
			if (named < MAX_NAMES)
				hf_buf_printf(b, "%s%s%s", named ? ", " : "", o->label,
					      o->self && !strcmp(o->self, all[i].about) ? " (itself)" : "");
			named++;
		}
		if (named > MAX_NAMES)
			hf_buf_printf(b, " and %zu more", named - MAX_NAMES);
		for (i = 0; group[i] != (int)best; i++)
			;
		describe_claim(b, cl, &all[i], named > 1);
		if (2 * best_size > n && best_size < n)
			hf_buf_puts(b, " (majority)");
		for (i = 0; i < n; i++)
			if (group[i] == (int)best)
				group[i] = -1;
	}
	free(group);
	free(all);
}

/* Group the claims by node and describe each node they disagree about. */
static size_t disagreements(struct claims *cl, struct hf_buf *why)
{
	size_t i = 0, k, found = 0, full = 0;

	for (k = 0; k < cl->nobs; k++)
		full += cl->obs[k].full;
	if (cl->n)
		qsort(cl->c, cl->n, sizeof(*cl->c), cmp_claim);
	while (i < cl->n) {
		size_t j = i + 1, listing = 0;
		int differ = 0;

		while (j < cl->n && !strcmp(cl->c[j].about, cl->c[i].about))
			j++;
		for (k = i + 1; k < j; k++)
			differ |= !same_claim(&cl->c[i], &cl->c[k]);
		/* A full observer that does not list the node disagrees too. */
		for (k = i; k < j; k++)
			listing += cl->obs[cl->c[k].by].full;
		differ |= listing < full;
		if (differ) {
			if (found < MAX_SUBJECTS && why)
				describe_subject(why, cl, &cl->c[i], j - i);
			found++;
		}
		i = j;
	}
	if (found > MAX_SUBJECTS && why)
		hf_buf_printf(why, "\n  and %zu more node(s)", found - MAX_SUBJECTS);
	return found;
}

/* ---- agreement at a glance (cluster mode) -------------------------- */

/* Every node's CLUSTER NODES is a line per node: comparing claims costs n
 * x n of them (90,000 lines, 20 MB of claims at 300 nodes), which is only
 * worth it when the views differ and the disagreements must be named. So
 * each view is first reduced to a digest of what it says about every
 * node: the claim of each line (its id, role, and primary or slots, as
 * same_claim() compares them; not the address, which observers may spell
 * differently, nor the 'myself' flag) hashed, and the hashes summed and
 * mixed so that the order of the lines does not matter. Views with equal
 * digests make the same claims, but for a collision of both 64-bit sums. */
struct digest {
	unsigned long long sum, mix;
	size_t n;
};

static unsigned long long fnv_more(unsigned long long h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return (h ^ 0xff) * 0x100000001b3ULL;   /* a field ends: "ab","c" != "a","bc" */
}

static unsigned long long splitmix(unsigned long long x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The digest of view 'v' into 'd'. Returns 0 when its ROLE contradicts
 * its own line (cluster_claims() would count that as one more voice),
 * else 1. */
static int digest_view(const struct hf_view *v, struct digest *d)
{
	char *copy = hf_xstrdup(v->nodes), *save = NULL, *line, *own_primary = NULL;
	enum hf_role own_role = HF_ROLE_PRIMARY;
	int found = 0, agrees = 1;

	memset(d, 0, sizeof(*d));
	for (line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		struct nodes_line nl;
		unsigned long long h = 0xcbf29ce484222325ULL;
		int replica;

		if (nodes_line_parse(line, &nl))
			continue;
		replica = has_flag(nl.flags, "slave");
		h = fnv_more(h, nl.id);
		h = fnv_more(h, replica ? "r" : "p");
		h = fnv_more(h, replica ? nl.primary : (nl.slots.s ? nl.slots.s : ""));
		d->sum += h;
		d->mix += splitmix(h);
		d->n++;
		if (!found && (v->myid ? !strcmp(nl.id, v->myid) : has_flag(nl.flags, "myself"))) {
			found = 1;
			own_role = replica ? HF_ROLE_REPLICA : HF_ROLE_PRIMARY;
			own_primary = replica ? hf_xstrdup(nl.primary) : NULL;
		}
		hf_buf_release(&nl.slots);
	}
	free(copy);
	if (found && v->role) {
		enum hf_role role = strcmp(v->role, "master") ? HF_ROLE_REPLICA : HF_ROLE_PRIMARY;
		char *primary = NULL;

		if (role == HF_ROLE_REPLICA && v->role_primary) {
			primary = id_at(v->nodes, v->role_primary);
			if (!primary)
				primary = hf_xstrdup(v->role_primary);
		}
		agrees = role == own_role && (role != HF_ROLE_REPLICA || str_eq(primary, own_primary));
		free(primary);
	}
	free(own_primary);
	return agrees;
}

/* Whether the views that answered all make the same claims, and no node's
 * ROLE contradicts its own line: then there is no disagreement to name. */
static int agree_at_a_glance(const struct hf_view *v, size_t n)
{
	struct digest first = {0}, d;
	size_t i, seen = 0;

	for (i = 0; i < n; i++) {
		if (!v[i].addr || !v[i].role || !v[i].nodes)
			continue;
		if (!digest_view(&v[i], &d))
			return 0;
		if (seen++ && (d.sum != first.sum || d.mix != first.mix || d.n != first.n))
			return 0;
		if (seen == 1)
			first = d;
	}
	return 1;
}

size_t hf_topology_compare(const struct hf_view *v, size_t n, int cluster_mode, int seed,
			   const struct hf_cluster *expect, struct hf_buf *why)
{
	struct claims cl = {0};
	size_t i, found;

	if (cluster_mode && !expect && agree_at_a_glance(v, n))
		return 0;
	for (i = 0; i < n; i++) {
		if (!v[i].addr || !v[i].role || (cluster_mode && !v[i].nodes))
			continue;   /* no answer: it says nothing */
		if (cluster_mode)
			cluster_claims(&cl, &v[i], (int)i == seed);
		else
			plain_claims(&cl, v, n, &v[i], (int)i == seed);
	}
	if (expect)
		expect_claims(&cl, expect);
	if (!cluster_mode)
		unlisted_replicas(&cl);
	found = disagreements(&cl, why);
	claims_release(&cl);
	return found;
}

size_t hf_topology_compare_shards(const struct hf_cluster *was, const struct hf_cluster *now,
				  struct hf_buf *why)
{
	/* Each node's shard now, looked up once: the pairs are n x n. */
	int *shard = hf_xcalloc(was->nnodes ? was->nnodes : 1, sizeof(*shard));
	size_t i, k, found = 0;

	for (i = 0; i < was->nnodes; i++) {
		const struct hf_node *n = hf_cluster_find((struct hf_cluster *)now, was->nodes[i].id);

		shard[i] = n ? n->shard : -1;
	}
	for (i = 0; i < was->nnodes; i++) {
		const struct hf_node *a = &was->nodes[i];

		for (k = i + 1; shard[i] >= 0 && k < was->nnodes; k++) {
			const struct hf_node *b = &was->nodes[k];
			int before = a->shard == b->shard;

			if (shard[k] < 0 || before == (shard[i] == shard[k]))
				continue;
			if (found < MAX_SUBJECTS && why)
				hf_buf_printf(why, "\n  '%s:%d' and '%s:%d' were in %s, now in %s", a->host,
					      a->port, b->host, b->port, before ? "one shard" : "two shards",
					      before ? "two" : "one");
			found++;
		}
	}
	if (found > MAX_SUBJECTS && why)
		hf_buf_printf(why, "\n  and %zu more pair(s)", found - MAX_SUBJECTS);
	free(shard);
	return found;
}

/* ---- asking the nodes ---------------------------------------------- */

/* One fan-out's answers: the calls, whose replies the views point into;
 * the views own their address and what ROLE said. */
struct asked {
	struct hf_call *calls;
	struct hf_view *views;
	size_t n;
};

static void views_release(struct asked *a)
{
	size_t i, k;

	for (i = 0; i < a->n; i++) {
		free((char *)a->views[i].addr);
		free((char *)a->views[i].role_primary);
		for (k = 0; k < a->views[i].nrole_replicas; k++)
			free((char *)a->views[i].role_replicas[k]);
		free((char **)a->views[i].role_replicas);
	}
	hf_calls_release(a->calls, a->n);
	free(a->calls);
	free(a->views);
	memset(a, 0, sizeof(*a));
}

static const char *text(const struct hf_call *call, size_t k)
{
	const struct hf_reply *r = !call->status && k < call->ncmds ? call->replies[k] : NULL;

	return r && (r->type == HF_REPLY_STRING || r->type == HF_REPLY_STATUS) ? r->str : NULL;
}

/* ROLE: ["master", offset, [[ip, port, offset], ...]] or
 * ["slave", ip, port, state, offset]. */
static void read_role(const struct hf_reply *r, struct hf_view *v)
{
	size_t i;

	if (!r || r->type != HF_REPLY_ARRAY || !r->nelem || !r->elem[0]->str)
		return;
	if (!strcmp(r->elem[0]->str, "master")) {
		const struct hf_reply *reps = r->nelem > 2 ? r->elem[2] : NULL;
		const char **out;

		v->role = "master";
		if (!reps || reps->type != HF_REPLY_ARRAY)
			return;
		out = hf_xcalloc(reps->nelem ? reps->nelem : 1, sizeof(*out));
		for (i = 0; i < reps->nelem; i++) {
			const struct hf_reply *e = reps->elem[i];

			if (e->type == HF_REPLY_ARRAY && e->nelem >= 2 && e->elem[0]->str &&
			    e->elem[1]->str)
				out[v->nrole_replicas++] = hf_xasprintf("%s:%s", e->elem[0]->str,
									e->elem[1]->str);
		}
		v->role_replicas = out;
	} else if (!strcmp(r->elem[0]->str, "slave") && r->nelem >= 3 && r->elem[1]->str) {
		v->role = "slave";
		v->role_primary = hf_xasprintf("%s:%lld", r->elem[1]->str, r->elem[2]->integer);
	}
}

/* Ask every node of 'c', and 'extra' when not NULL, who it is and how it
 * sees the cluster, in one fan-out. */
static void ask(struct hf_cluster *c, struct hf_node *extra, struct asked *a)
{
	size_t i;

	a->n = c->nnodes + (extra != NULL);
	a->calls = hf_xcalloc(a->n ? a->n : 1, sizeof(*a->calls));
	a->views = hf_xcalloc(a->n ? a->n : 1, sizeof(*a->views));
	for (i = 0; i < a->n; i++) {
		struct hf_call *call = &a->calls[i];

		call->node = i < c->nnodes ? &c->nodes[i] : extra;
		if (c->cluster_mode)
			hf_call_push(call, "CLUSTER", "MYID", NULL);
		hf_call_push(call, "ROLE", NULL);
		if (c->cluster_mode) {
			hf_call_push(call, "CLUSTER", "NODES", NULL);
			hf_call_push(call, "CLUSTER", "INFO", NULL);
		}
	}
	hf_fanout(c, a->calls, a->n, c->timeout_ms);
	for (i = 0; i < a->n; i++) {
		struct hf_call *call = &a->calls[i];
		struct hf_view *v = &a->views[i];

		if (call->status)
			continue;
		v->addr = hf_xasprintf("%s:%d", call->node->host, call->node->port);
		if (c->cluster_mode) {
			v->myid = text(call, 0);
			v->nodes = text(call, 2);
			read_role(call->replies[1], v);
		} else {
			read_role(call->replies[0], v);
		}
	}
}

/* ---- waiting for agreement ----------------------------------------- */

/* Move the kept connections of 'from' to the nodes of 'to' at the same
 * address, so a new look at the topology does not reconnect. */
static void adopt_conns(struct hf_cluster *to, struct hf_cluster *from)
{
	size_t i, k;

	for (i = 0; i < to->nnodes; i++)
		for (k = 0; k < from->nnodes; k++)
			if (!to->nodes[i].conn && from->nodes[k].conn && to->nodes[i].port == from->nodes[k].port &&
			    !strcmp(to->nodes[i].host, from->nodes[k].host)) {
				to->nodes[i].conn = from->nodes[k].conn;
				from->nodes[k].conn = NULL;
			}
}

/* Whether 'a' and 'b' list the same nodes at the same addresses. */
static int same_nodes(const struct hf_cluster *a, const struct hf_cluster *b)
{
	size_t i;

	if (a->nnodes != b->nnodes)
		return 0;
	for (i = 0; i < a->nnodes; i++) {
		const struct hf_node *n = hf_cluster_find((struct hf_cluster *)b, a->nodes[i].id);

		if (!n || n->port != a->nodes[i].port || strcmp(n->host, a->nodes[i].host))
			return 0;
	}
	return 1;
}

/* Index of the seed among the nodes of 'c': the node its own CLUSTER
 * NODES calls 'myself', or the one at the seed's address; -1 if none. */
static int seed_of(const struct hf_cluster *c)
{
	char *want = hf_xasprintf("%s:%d", c->uri.host, c->uri.port), *wn = norm_addr(want);
	int i, found = -1;

	for (i = 0; i < (int)c->nnodes && found < 0; i++) {
		char *a = hf_xasprintf("%s:%d", c->nodes[i].host, c->nodes[i].port), *an = norm_addr(a);

		if ((c->cluster_mode && has_flag(c->nodes[i].flags, "myself")) ||
		    (!c->cluster_mode && !strcmp(an, wn)))
			found = i;
		free(a);
		free(an);
	}
	free(want);
	free(wn);
	return found;
}

static int refusal(struct hf_err *err, long converge_ms, const char *what, const struct hf_buf *why)
{
	char d[32];

	hf_fmt_duration(converge_ms, d, sizeof(d));
	return hf_err_set(err, HF_EREFUSED, "refused: %s after %s (--converge-timeout):%.1700s", what,
			  d, why->s ? why->s : "");
}

/* Sleep until the next look, never past 'deadline'. */
static void nap(long long deadline)
{
	long long left = deadline - hf_mono_ms();

	hf_sleep_ms(left < POLL_MS ? (long)(left > 0 ? left : 0) : POLL_MS);
}

/* One look: ask the nodes of 'c' (and, without cluster mode, the seed when
 * the topology does not list it) and compare what they say, into 'why'.
 * In cluster mode '*next' is the topology in the seed's answer (or in any
 * node's), NULL when none answered. Returns 1 when they agree on 'c'. */
static int look(struct hf_cluster *c, struct hf_cluster **next, struct hf_buf *why)
{
	struct hf_node extra = {0};
	struct asked a = {0};
	int seed = seed_of(c), agreed;
	size_t found;

	*next = NULL;
	if (seed < 0 && !c->cluster_mode) {
		/* The seed may be a replica its primary does not list: what
		 * it says counts too. */
		extra.host = hf_xstrdup(c->uri.host);
		extra.port = c->uri.port;
		extra.flags = hf_xstrdup("");
		seed = (int)c->nnodes;
	}
	ask(c, seed == (int)c->nnodes ? &extra : NULL, &a);
	found = hf_topology_compare(a.views, a.n, c->cluster_mode, seed, c->cluster_mode ? NULL : c,
				    why);
	agreed = !found;
	if (c->cluster_mode) {
		/* The topology is the one the nodes just agreed on, read from
		 * this same fan-out. */
		size_t pick = seed >= 0 ? (size_t)seed : 0;

		if (!a.views[pick].nodes)
			for (pick = 0; pick + 1 < a.n && !a.views[pick].nodes; pick++)
				;
		if (a.n && a.views[pick].nodes &&
		    hf_topology_from_nodes(&c->uri, c->timeout_ms, a.views[pick].nodes,
					   text(&a.calls[pick], 3), next, NULL))
			*next = NULL;
		agreed = !found && *next && same_nodes(c, *next);
		if (!found && !*next)
			hf_buf_puts(why, "\n  no node answered CLUSTER NODES");
		else if (!agreed && !found)
			hf_buf_puts(why, "\n  the nodes listed changed while they were asked");
	}
	hf_node_disconnect(&extra);
	free(extra.host);
	free(extra.flags);
	views_release(&a);
	return agreed;
}

int hf_topology_confirm(struct hf_cluster **cp, long converge_ms, struct hf_err *err)
{
	struct hf_cluster *c = *cp;
	long long deadline = hf_mono_ms() + converge_ms;
	int rc = 0, agreed = 0;

	while (!agreed && !rc) {
		struct hf_cluster *next = NULL;
		struct hf_buf why = {0};

		agreed = look(c, &next, &why);
		if (!agreed && hf_mono_ms() >= deadline)
			rc = refusal(err, converge_ms, "the nodes do not agree on the topology", &why);
		hf_buf_release(&why);
		if (!agreed && !rc) {
			nap(deadline);
			/* Look again at the topology as the seed now gives it. */
			if (!next && hf_topology_read_seed(&c->uri, c->timeout_ms, &next, NULL))
				next = NULL;
		}
		if (next && !rc) {
			/* The newer reading, on the connections already open. */
			adopt_conns(next, c);
			next->converge_ms = c->converge_ms;
			hf_cluster_free(c);
			c = next;
		} else {
			hf_cluster_free(next);
		}
	}
	*cp = c;
	return rc;
}

int hf_redis_cluster_converge(struct hf_cluster *c, struct hf_err *err)
{
	long long deadline = hf_mono_ms() + (c->converge_ms > 0 ? c->converge_ms : 0);
	int rc = 0, agreed = 0;

	if (!c->nnodes || c->converge_ms < 0)
		return 0;
	while (!agreed && !rc) {
		struct hf_buf why = {0};
		struct asked a = {0};
		size_t found, moved = 0, i;

		ask(c, NULL, &a);
		found = hf_topology_compare(a.views, a.n, c->cluster_mode, -1, NULL, &why);
		if (!found && c->cluster_mode) {
			/* They agree: on the shards the run was planned with? */
			struct hf_cluster *now = NULL;

			for (i = 0; i < a.n && !a.views[i].nodes; i++)
				;
			if (i < a.n && !hf_topology_from_nodes(&c->uri, c->timeout_ms, a.views[i].nodes,
							      NULL, &now, NULL))
				moved = hf_topology_compare_shards(c, now, &why);
			hf_cluster_free(now);
		}
		views_release(&a);
		agreed = !found && !moved;
		if (!agreed && hf_mono_ms() >= deadline)
			rc = refusal(err, c->converge_ms, found ? "the nodes do not agree on the topology" :
				     "the shards are not the ones the run was planned with", &why);
		else if (!agreed)
			nap(deadline);
		hf_buf_release(&why);
	}
	return rc;
}
