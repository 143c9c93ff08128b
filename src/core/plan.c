/* Planning: ask each kind for the per-node diff, keep the nodes that
 * differ, order them by topology and cut the order into waves. */
#include "core/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guard.h"
#include "util/buf.h"

int hf_plan_precheck(const struct hf_manifest *m, struct hf_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < m->nchanges; i++) {
		const struct hf_change_kind *k = m->changes[i].kind;

		if (k->check && (rc = k->check(&m->changes[i], err))) {
			/* The kind names LINE:COL; put the file in front. */
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			return hf_err_set(err, rc, "%s:%s", m->path, msg);
		}
	}
	for (i = 0; i < m->guard.nchecks; i++) {
		const struct hf_check *ck = &m->guard.checks[i];

		if (ck->reader && !hf_manifest_over_keys(m))
			return hf_err_set(err, HF_EINVAL, "%s:%d:%d: guard check %zu is a reader: it "
					  "reads the keys a data change wrote, and this hotfix has "
					  "no data change", m->path, ck->pos.line, ck->pos.col, i + 1);

		/* A safety check is never silently ignored. */
		if (!hf_guard_supports(ck))
			return hf_err_set(err, HF_EINVAL,
					  "%s:%d:%d: guard check '%s' cannot run: this build has no "
					  "synthetic probes yet; remove the check or use another metric",
					  m->path, ck->pos.line, ck->pos.col, ck->metric);
	}
	return 0;
}

/* Rollout order key: replicas (or primaries) first, then spread over the
 * shards, so a wave of N nodes touches N different shards when it can. */
struct ordered {
	struct hf_node *node;
	int group;       /* 0 goes first */
	int rank;        /* index of the node within its shard and role */
	size_t pos;
};

static int cmp_ordered(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;

	if (x->group != y->group)
		return x->group - y->group;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->node->shard != y->node->shard)
		return x->node->shard - y->node->shard;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Node 'i' of 'c' as the rollout orders it. */
static void order_node(const struct hf_manifest *m, const struct hf_cluster *c, size_t i,
		       struct ordered *o)
{
	struct hf_node *n = &c->nodes[i];
	size_t j;

	memset(o, 0, sizeof(*o));
	o->node = n;
	o->pos = i;
	o->group = (n->role == HF_ROLE_REPLICA) == (m->order == HF_ORDER_REPLICAS_FIRST) ? 0 : 1;
	for (j = 0; j < i; j++)
		if (c->nodes[j].shard == n->shard && c->nodes[j].role == n->role)
			o->rank++;
}

size_t hf_plan_shard_order(const struct hf_manifest *m, const struct hf_cluster *c, int *order)
{
	struct ordered *ord = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*ord));
	size_t i, k, n = 0;

	for (i = 0; i < c->nnodes; i++)
		order_node(m, c, i, &ord[i]);
	if (c->nnodes)
		qsort(ord, c->nnodes, sizeof(*ord), cmp_ordered);
	for (i = 0; i < c->nnodes; i++) {
		for (k = 0; k < n && order[k] != ord[i].node->shard; k++)
			;
		if (k == n)
			order[n++] = ord[i].node->shard;
	}
	free(ord);
	return n;
}

static size_t wave_goal(const struct hf_wave_spec *w, size_t total)
{
	size_t goal;

	if (w->is_percent)
		goal = (size_t)ceil(w->percent * (double)total / 100.0 - 1e-9);
	else
		goal = (size_t)w->count;
	if (goal > total)
		goal = total;
	return goal;
}

void hf_plan_waves(const struct hf_wave_spec *spec, size_t nspec, size_t ntargets,
		   size_t *wave_of, struct hf_plan_wave **waves, size_t *nwaves)
{
	struct hf_plan_wave *w = hf_xcalloc(nspec + 1, sizeof(*w));
	size_t k, i, n = 0, done = 0;

	for (k = 0; k < nspec; k++, n++) {
		size_t goal = wave_goal(&spec[k], ntargets);

		w[n].bake_ms = spec[k].bake_ms;
		if (goal <= done)
			w[n].skipped = 1;
		for (; done < goal; done++)
			wave_of[done] = n + 1;
	}
	if (done < ntargets) {
		w[n].implicit = 1;
		for (; done < ntargets; done++)
			wave_of[done] = n + 1;
		n++;
	}
	for (i = 0; i < ntargets; i++)
		w[wave_of[i] - 1].nodes++;
	*waves = w;
	*nwaves = n;
}

static void describe_guard(const struct hf_manifest *m, struct hf_plan *p)
{
	if (m->guard.none) {
		snprintf(p->guard_note, sizeof(p->guard_note),
			 "none (the manifest says guard: none); bakes are plain waits");
	} else {
		char checks[768];

		hf_guard_describe(&m->guard, checks, sizeof(checks));
		snprintf(p->guard_note, sizeof(p->guard_note), "%s%s; baseline %llds, then a verdict "
			 "every %lldms, rollback after %ld failing interval(s), unobservable -> %s",
			 m->guard.present ? "" : "no guard section, so the default guard: ", checks,
			 (m->guard.present ? m->guard.baseline_ms : 10000) / 1000,
			 m->guard.present ? m->guard.interval_ms : 1000,
			 m->guard.present ? m->guard.failure_limit : 2,
			 m->guard.on_unobservable == HF_UNOBS_ROLLBACK ? "rollback" : "hold");
	}
}

/* Data changes: every wave covers a share of the keys on every primary
 * that has selected keys, so each wave has one step per (primary, change);
 * a last wave below 100% gets a wave added for the rest. */
static int data_steps(const struct hf_manifest *m, struct hf_cluster *c, struct hf_target **per,
		      struct hf_plan *p)
{
	size_t w, i, k, nw = m->nwaves;

	if (!nw || !m->waves[nw - 1].keys || m->waves[nw - 1].percent < 100)
		nw++;
	p->waves = hf_xcalloc(nw, sizeof(*p->waves));
	p->nwaves = nw;
	for (i = 0; i < c->nnodes; i++) {
		int differs = 0;

		for (k = 0; k < m->nchanges; k++)
			differs |= per[k][i].ndiff > 0;
		p->ntargets += differs;
	}
	for (w = 0; w < nw; w++) {
		if (w < m->nwaves)
			p->waves[w].bake_ms = m->waves[w].bake_ms;
		else
			p->waves[w].implicit = 1;
		p->waves[w].nodes = p->ntargets;
		for (i = 0; i < c->nnodes; i++) {
			for (k = 0; k < m->nchanges; k++) {
				struct hf_plan_step *s;

				if (!per[k][i].ndiff)
					continue;
				p->steps = hf_xrealloc(p->steps, sizeof(*p->steps) * (p->nsteps + 1));
				s = &p->steps[p->nsteps++];
				memset(s, 0, sizeof(*s));
				s->node = &c->nodes[i];
				s->change = (int)k;
				s->wave = (int)w + 1;
				if (w == 0) {
					/* The diff (counts, examples) is shown once. */
					s->diff = per[k][i].diff;
					s->ndiff = per[k][i].ndiff;
				}
			}
		}
	}
	for (i = 0; i < c->nnodes; i++)
		for (k = 0; k < m->nchanges; k++)
			if (per[k][i].ndiff) {
				/* Ownership moved to the first wave's steps. */
				per[k][i].diff = NULL;
				per[k][i].ndiff = 0;
			}
	p->rollback_possible = 1;
	snprintf(p->rollback_note, sizeof(p->rollback_note),
		 "yes: what the change overwrites in a key is kept by the server in the call that changes "
		 "it, journaled before the next batch; a client's later write to that part is a conflict, "
		 "never overwritten; its writes elsewhere are kept");
	return 0;
}

static void add_step(struct hf_plan *p, struct hf_target *t, struct hf_node *node, int change,
		     int wave)
{
	struct hf_plan_step *s;

	p->steps = hf_xrealloc(p->steps, sizeof(*p->steps) * (p->nsteps + 1));
	s = &p->steps[p->nsteps++];
	memset(s, 0, sizeof(*s));
	s->node = node;
	s->change = change;
	s->wave = wave;
	if (t) {
		/* The diff is shown once, with the first step. */
		s->diff = t->diff;
		s->ndiff = t->ndiff;
		t->diff = NULL;
		t->ndiff = 0;
	}
}

/* A ramp (hf_manifest_ramps): the node changes first, in full, in a wave
 * of their own ("dark"; there whenever the manifest has node changes, so
 * that a wave's number alone says its share, hf_manifest_ramp_share);
 * then a wave per ramp, each with a step per ramped change on the node
 * its kind names (the flag store's primary), and a last wave at 100% when
 * the ramps stop below it. */
static void ramp_steps(const struct hf_manifest *m, struct hf_cluster *c, struct hf_target **per,
		       struct hf_plan *p)
{
	int dark = hf_manifest_ramp_dark(m), w;
	size_t nw = m->nwaves + (m->waves[m->nwaves - 1].percent < 100), i, k;
	char **ramped = hf_xcalloc(m->nchanges, sizeof(*ramped));

	/* Which nodes a ramped change differs on: its diff moves to a step. */
	for (k = 0; k < m->nchanges; k++) {
		ramped[k] = hf_xcalloc(c->nnodes + 1, 1);
		for (i = 0; i < c->nnodes; i++)
			ramped[k][i] = per[k][i].ndiff > 0;
	}

	p->nwaves = nw + dark;
	p->waves = hf_xcalloc(p->nwaves, sizeof(*p->waves));
	for (i = 0; i < c->nnodes; i++) {
		int differs = 0;

		for (k = 0; k < m->nchanges; k++) {
			if (!per[k][i].ndiff)
				continue;
			differs = 1;
			if (m->changes[k].kind->flags & HF_KIND_RAMPS)
				continue;
			add_step(p, &per[k][i], &c->nodes[i], (int)k, 1);
			p->waves[0].nodes++;
		}
		p->ntargets += differs;
	}
	if (dark && !p->waves[0].nodes)
		p->waves[0].skipped = 1;
	for (w = dark; w < (int)p->nwaves; w++) {
		size_t r = (size_t)(w - dark);

		p->waves[w].bake_ms = r < m->nwaves ? m->waves[r].bake_ms : 0;
		p->waves[w].implicit = r >= m->nwaves;
		for (i = 0; i < c->nnodes; i++)
			for (k = 0; k < m->nchanges; k++)
				if ((m->changes[k].kind->flags & HF_KIND_RAMPS) && ramped[k][i]) {
					add_step(p, w == dark ? &per[k][i] : NULL, &c->nodes[i],
						 (int)k, w + 1);
					p->waves[w].nodes++;
				}
	}
	for (k = 0; k < m->nchanges; k++)
		free(ramped[k]);
	free(ramped);
	p->rollback_possible = 1;
	snprintf(p->rollback_note, sizeof(p->rollback_note),
		 "yes: a ramped flag goes straight back to the document before its first ramp, "
		 "first; then each node's captured before-state");
}

/* Ask each change's kind which nodes differ: per[k][i] is change k's
 * target for node i. */
static int ask_kinds(const struct hf_manifest *m, struct hf_cluster *c, struct hf_target **per,
		     struct hf_err *err)
{
	size_t i, k;
	int rc;

	for (k = 0; k < m->nchanges; k++) {
		const struct hf_change_kind *kind = m->changes[k].kind;
		struct hf_kind_ctx x = { .c = c, .m = m };

		per[k] = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(**per));
		for (i = 0; i < c->nnodes; i++)
			per[k][i].node = &c->nodes[i];
		rc = kind->plan(&m->changes[k], &x, per[k], c->nnodes, err);
		if (rc) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			return rc == HF_EINVAL ? hf_err_set(err, rc, "%s:%s", m->path, msg) : rc;
		}
		for (i = 0; i < c->nnodes; i++)
			if (per[k][i].status)
				return hf_err_set(err, HF_ERR, "cannot plan: node %s (%s:%d): %s",
						  c->nodes[i].id, c->nodes[i].host, c->nodes[i].port,
						  per[k][i].error);
	}
	return 0;
}

/* Changes to nodes: the nodes that differ, in rollout order (replicas or
 * primaries first, spread over the shards), cut into waves; a step per
 * differing change, wave by wave. The diffs move from 'per' to the steps. */
static void node_steps(const struct hf_manifest *m, struct hf_cluster *c, struct hf_target **per,
		       struct hf_plan *p)
{
	struct ordered *ord = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*ord));
	size_t *wave_of = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*wave_of));
	size_t i, k, nord = 0;

	for (i = 0; i < c->nnodes; i++) {
		int differs = 0;

		for (k = 0; k < m->nchanges; k++)
			differs |= per[k][i].ndiff > 0;
		if (!differs)
			continue;
		order_node(m, c, i, &ord[nord++]);
	}
	if (nord)
		qsort(ord, nord, sizeof(*ord), cmp_ordered);
	p->ntargets = nord;
	hf_plan_waves(m->waves, m->nwaves, nord, wave_of, &p->waves, &p->nwaves);
	for (i = 0; i < nord; i++) {
		size_t ni = ord[i].pos;

		for (k = 0; k < m->nchanges; k++) {
			struct hf_plan_step *s;

			if (!per[k][ni].ndiff)
				continue;
			p->steps = hf_xrealloc(p->steps, sizeof(*p->steps) * (p->nsteps + 1));
			s = &p->steps[p->nsteps++];
			s->node = ord[i].node;
			s->change = (int)k;
			s->wave = (int)wave_of[i];
			s->diff = per[k][ni].diff;
			s->ndiff = per[k][ni].ndiff;
			per[k][ni].diff = NULL;
			per[k][ni].ndiff = 0;
		}
	}
	p->rollback_possible = 1;
	snprintf(p->rollback_note, sizeof(p->rollback_note),
		 "yes: each node's before-state is captured into the journal before it changes, and restored exactly");
	free(ord);
	free(wave_of);
}

/* What a manifest asks of an exec cluster's nodes that only Redis does:
 * its changes of other kinds, a snapshot (BGSAVE), a guard on INFO. */
static int exec_refusal(const struct hf_manifest *m, const struct hf_cluster *c,
			struct hf_err *err)
{
	size_t k;

	for (k = 0; k < m->nchanges; k++)
		if (!(m->changes[k].kind->flags & HF_KIND_COMMANDS))
			return hf_err_set(err, HF_EINVAL, "cannot plan: cluster exec:%s is an "
					  "inventory of the exec engine, whose nodes hotfix drives "
					  "through commands ('exec' changes); change %zu is '%s', which "
					  "speaks to Redis", c->uri.inventory, k + 1,
					  m->changes[k].kind->name);
	if (m->snapshot_required)
		return hf_err_set(err, HF_EINVAL, "cannot plan: 'snapshot: required' takes a "
				  "BGSAVE of Redis primaries; cluster exec:%s is not Redis",
				  c->uri.inventory);
	if (m->guard.none)
		return 0;
	if (!m->guard.nchecks)
		return hf_err_set(err, HF_EINVAL, "cannot plan: the default guard reads Redis' INFO; "
				  "the nodes of exec:%s are not Redis: give 'promql' checks (and "
				  "'prometheus') or say 'guard: none'", c->uri.inventory);
	for (k = 0; k < m->guard.nchecks; k++)
		if (!m->guard.checks[k].promql)
			return hf_err_set(err, HF_EINVAL, "cannot plan: guard check %zu ('%s') is "
					  "read from Redis' INFO; the nodes of exec:%s are not Redis: "
					  "read their metrics with 'promql' checks", k + 1,
					  m->guard.checks[k].metric, c->uri.inventory);
	return 0;
}

int hf_plan_build(const struct hf_manifest *m, struct hf_cluster *c,
		  struct hf_plan **out, struct hf_err *err)
{
	struct hf_plan *p = hf_xcalloc(1, sizeof(*p));
	struct hf_target **per = hf_xcalloc(m->nchanges ? m->nchanges : 1, sizeof(*per));
	size_t k;
	int rc;

	rc = hf_plan_precheck(m, err);
	if (!rc && c->inventory)
		rc = exec_refusal(m, c, err);
	if (rc)
		goto out;
	p->persistence = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*p->persistence));
	if (!c->inventory)
		hf_persistence_read(c, p->persistence);
	rc = ask_kinds(m, c, per, err);
	if (rc)
		goto out;
	if (hf_manifest_over_keys(m))
		rc = data_steps(m, c, per, p);
	else if (hf_manifest_ramps(m))
		ramp_steps(m, c, per, p);
	else
		node_steps(m, c, per, p);
	describe_guard(m, p);
out:
	for (k = 0; k < m->nchanges; k++) {
		if (per[k])
			hf_targets_release(per[k], c->nnodes);
		free(per[k]);
	}
	free(per);
	if (rc) {
		hf_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void hf_plan_free(struct hf_plan *p)
{
	size_t i, k;

	if (!p)
		return;
	for (i = 0; i < p->nsteps; i++) {
		for (k = 0; k < p->steps[i].ndiff; k++)
			free(p->steps[i].diff[k]);
		free(p->steps[i].diff);
	}
	free(p->steps);
	free(p->waves);
	free(p->persistence);
	free(p);
}
