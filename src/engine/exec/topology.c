/* The exec engine's topology: see exec.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/exec/exec.h"
#include "engine/exec/inventory.h"
#include "util/buf.h"
#include "util/misc.h"

/* Index of group 'name' among the first 'n' of 'groups', or -1. */
static long group_of(char *const *groups, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(groups[i], name))
			return (long)i;
	return -1;
}

static void add_node(struct hf_cluster *c, const struct hf_inv_node *in, int shard,
		     const char *primary)
{
	struct hf_node *n = &c->nodes[c->nnodes++];

	n->id = hf_xstrdup(in->id);
	n->host = hf_xstrdup(in->host);
	n->port = in->port;
	n->role = in->primary ? HF_ROLE_PRIMARY : HF_ROLE_REPLICA;
	n->primary_id = !in->primary && primary ? hf_xstrdup(primary) : NULL;
	n->shard = shard;
	n->flags = hf_xstrdup("");
	n->slot_lo = n->slot_hi = -1;
}

/* The inventory's nodes into 'c': groups in order of appearance, each
 * with its primaries, then its replicas. */
static void fill(struct hf_cluster *c, const struct hf_inventory *inv)
{
	char **groups = hf_xcalloc(inv->n, sizeof(*groups));
	size_t ngroups = 0, g, i;
	int pass;

	for (i = 0; i < inv->n; i++)
		if (group_of(groups, ngroups, inv->nodes[i].group) < 0)
			groups[ngroups++] = inv->nodes[i].group;
	c->nodes = hf_xcalloc(inv->n, sizeof(*c->nodes));
	for (g = 0; g < ngroups; g++) {
		const char *primary = NULL;

		for (pass = 1; pass >= 0; pass--)
			for (i = 0; i < inv->n; i++) {
				const struct hf_inv_node *in = &inv->nodes[i];

				if (in->primary != pass || strcmp(in->group, groups[g]))
					continue;
				if (pass && !primary)
					primary = in->id;
				add_node(c, in, (int)g, primary);
			}
	}
	c->nshards = (int)ngroups;
	free(groups);
}

int hf_exec_cluster_discover(const struct hf_uri *uri, long timeout_ms, long converge_ms,
			     struct hf_cluster **out, struct hf_err *err)
{
	struct hf_inventory *inv = NULL;
	struct hf_cluster *c;
	int rc = hf_inventory_load(uri->inventory, &inv, err);

	if (!rc)
		rc = hf_inventory_refresh(inv, HF_EXEC_DISCOVER_TIMEOUT_MS, err);
	if (rc) {
		hf_inventory_free(inv);
		return rc;
	}
	c = hf_xcalloc(1, sizeof(*c));
	hf_uri_copy(&c->uri, uri);
	c->timeout_ms = timeout_ms;
	c->converge_ms = converge_ms;
	c->inventory = inv;
	fill(c, inv);
	*out = c;
	return 0;
}

/* ---- probe: a TCP connection to each node ---------------------------- */

/* A non-blocking connect to 'n' started: the socket, or -1 when it could
 * not even start (no such host, or every address refused at once). */
static int connect_start(const struct hf_node *n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *all = NULL, *ai;
	char port[16];
	int fd = -1;

	snprintf(port, sizeof(port), "%d", n->port);
	if (getaddrinfo(n->host, port, &hints, &all))
		return -1;
	for (ai = all; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(all);
	return fd;
}

#define PROBE_BATCH 256   /* sockets open at once, well under the fd limit */

/* Probe nodes [from, from + n) of 'c' at once, until 'deadline'. */
static void probe_batch(struct hf_cluster *c, size_t from, size_t n, long long deadline)
{
	struct pollfd p[PROBE_BATCH];
	size_t i, open = 0;

	for (i = 0; i < n; i++) {
		p[i].fd = connect_start(&c->nodes[from + i]);
		p[i].events = POLLOUT;
		p[i].revents = 0;
		open += p[i].fd >= 0;
	}
	while (open) {
		long long left = deadline - hf_mono_ms();

		if (left <= 0 || poll(p, n, (int)left) < 0)
			break;
		for (i = 0; i < n; i++) {
			int e = 0;
			socklen_t len = sizeof(e);

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &e, &len);
			c->nodes[from + i].reachable = !e;
			close(p[i].fd);
			p[i].fd = -1;
			open--;
		}
	}
	for (i = 0; i < n; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
}

int hf_exec_node_reachable(const struct hf_node *n, long timeout_ms)
{
	struct hf_cluster one = { .nnodes = 1 };
	struct hf_node copy = *n;

	one.nodes = &copy;
	probe_batch(&one, 0, 1, hf_mono_ms() + (timeout_ms > 0 ? timeout_ms : 2000));
	return copy.reachable;
}

void hf_exec_cluster_probe(struct hf_cluster *c)
{
	long long deadline = hf_mono_ms() + (c->timeout_ms > 0 ? c->timeout_ms : 2000);
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		c->nodes[i].probed = 1;
		c->nodes[i].reachable = 0;
	}
	for (i = 0; i < c->nnodes; i += PROBE_BATCH)
		probe_batch(c, i, c->nnodes - i < PROBE_BATCH ? c->nnodes - i : PROBE_BATCH,
			    deadline);
}

/* ---- converge: the inventory again ----------------------------------- */

static const struct hf_inv_node *find(const struct hf_inventory *inv, const char *id)
{
	size_t i;

	for (i = 0; i < inv->n; i++)
		if (!strcmp(inv->nodes[i].id, id))
			return &inv->nodes[i];
	return NULL;
}

/* What differs between 'c' and inventory 'now', one clause each, into 'b'. */
static void drift(const struct hf_cluster *c, const struct hf_inventory *now, struct hf_buf *b)
{
	const struct hf_inventory *then = c->inventory;
	size_t i;

	for (i = 0; i < now->n; i++) {
		const struct hf_inv_node *x = &now->nodes[i], *was = find(then, x->id);

		if (!was)
			hf_buf_printf(b, "%snode %s (%s:%d) is new", b->len ? "; " : "", x->id, x->host,
				      x->port);
		else if (strcmp(was->host, x->host) || was->port != x->port)
			hf_buf_printf(b, "%snode %s moved from %s:%d to %s:%d", b->len ? "; " : "",
				      x->id, was->host, was->port, x->host, x->port);
		else if (strcmp(was->group, x->group))
			hf_buf_printf(b, "%snode %s moved from group %s to %s", b->len ? "; " : "",
				      x->id, was->group, x->group);
	}
	for (i = 0; i < then->n; i++)
		if (!find(now, then->nodes[i].id))
			hf_buf_printf(b, "%snode %s (%s:%d) is gone", b->len ? "; " : "",
				      then->nodes[i].id, then->nodes[i].host, then->nodes[i].port);
}

int hf_exec_cluster_converge(struct hf_cluster *c, struct hf_err *err)
{
	struct hf_inventory *now = NULL;
	struct hf_buf b = {0};
	int rc;

	if (!c->inventory->discover)
		return 0;   /* static: it cannot have changed under us */
	rc = hf_inventory_load(c->inventory->path, &now, err);
	if (!rc)
		rc = hf_inventory_refresh(now, HF_EXEC_DISCOVER_TIMEOUT_MS, err);
	if (!rc) {
		drift(c, now, &b);
		if (b.len)
			rc = hf_err_set(err, HF_EREFUSED, "the inventory's nodes changed: %s", b.s);
	}
	hf_buf_release(&b);
	hf_inventory_free(now);
	return rc;
}

void hf_exec_cluster_release(struct hf_cluster *c)
{
	hf_inventory_free(c->inventory);
	c->inventory = NULL;
}
