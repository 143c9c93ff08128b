/* What an approval is signed over: the plan as canonical lines and its
 * digest, and the topology's hash. Pure functions of a built plan and a
 * discovered cluster; nothing here reads the cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plan.h"
#include "util/buf.h"
#include "util/misc.h"

char **hf_plan_lines(const struct hf_plan *p, size_t *n)
{
	char **lines = hf_xcalloc(p->nsteps ? p->nsteps : 1, sizeof(*lines));
	size_t i, k;

	for (i = 0; i < p->nsteps; i++) {
		const struct hf_plan_step *s = &p->steps[i];
		struct hf_buf b = {0};

		hf_buf_printf(&b, "%s:%d (%s) change %d wave %d:", s->node->host, s->node->port,
			      s->node->id, s->change, s->wave);
		for (k = 0; k < s->ndiff; k++)
			hf_buf_printf(&b, "%s %s", k ? ";" : "", s->diff[k]);
		lines[i] = hf_buf_detach(&b);
	}
	*n = p->nsteps;
	return lines;
}

void hf_plan_digest(const struct hf_plan *p, char out[65])
{
	struct hf_buf b = {0};
	size_t i, n;
	char **lines = hf_plan_lines(p, &n);

	hf_buf_printf(&b, "hotfix-plan/v1\n");
	for (i = 0; i < n; i++) {
		hf_buf_printf(&b, "step %s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	for (i = 0; i < p->nwaves; i++)
		hf_buf_printf(&b, "wave %zu nodes %zu bake_ms %lld\n", i + 1, p->waves[i].nodes,
			      p->waves[i].bake_ms);
	hf_sha256_hex(b.s ? b.s : "", b.len, out);
	hf_buf_release(&b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void hf_topology_hash(const struct hf_cluster *c, char out[65])
{
	char **rows = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*rows));
	struct hf_buf b = {0};
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *nd = &c->nodes[i];

		rows[i] = hf_xasprintf("%s %s:%d %s %s %d-%d", nd->id, nd->host, nd->port,
				       hf_role_name(nd->role), nd->primary_id ? nd->primary_id : "-",
				       nd->slot_lo, nd->slot_hi);
	}
	qsort(rows, c->nnodes, sizeof(*rows), cmp_str);
	hf_buf_printf(&b, "hotfix-topology/v1\n");
	for (i = 0; i < c->nnodes; i++) {
		hf_buf_printf(&b, "%s\n", rows[i]);
		free(rows[i]);
	}
	free(rows);
	hf_sha256_hex(b.s ? b.s : "", b.len, out);
	hf_buf_release(&b);
}
