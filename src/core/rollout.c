/* The rollout engine. Reads as sequential code: for each wave, for each
 * round of at most one node per shard, capture -> apply -> verify, each
 * state journaled first; bake; promote. Reverting walks the waves back. */
#include "core/rollout.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/guard.h"
#include "core/reader.h"
#include "engine/redis/lease.h"
#include "core/kind.h"
#include "util/buf.h"
#include "util/misc.h"

/* Journal an event and tell the caller. */
static void emit(struct hf_rollout *r, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void emit(struct hf_rollout *r, const char *kind, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	hf_journal_event(r->j, r->run->id, kind, "%s", msg);
	if (r->event)
		r->event(r->ud, kind, msg);
	free(msg);
}

static int set_run_state(struct hf_rollout *r, enum hf_run_state s, const char *note,
			 struct hf_err *err)
{
	r->run->state = s;
	free(r->run->note);
	r->run->note = note ? hf_xstrdup(note) : NULL;
	return hf_journal_run_update(r->j, r->run, err);
}

/* Commit the steps in 'idx' as they are in memory. */
static int save_steps(struct hf_rollout *r, const size_t *idx, size_t n, struct hf_err *err)
{
	struct hf_step **v = hf_xcalloc(n ? n : 1, sizeof(*v));
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		v[i] = &r->steps[idx[i]];
	rc = hf_journal_steps_update(r->j, r->run->id, v, n, err);
	free(v);
	return rc;
}

/* Commit 'state' for the steps in 'idx' before acting on them. */
static int commit_steps(struct hf_rollout *r, const size_t *idx, size_t n,
			enum hf_step_state state, struct hf_err *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		r->steps[idx[i]].state = state;
	return save_steps(r, idx, n, err);
}

static void set_step_error(struct hf_step *s, const char *msg)
{
	free(s->error);
	s->error = msg && *msg ? hf_xstrdup(msg) : NULL;
}

static const char *node_label(struct hf_rollout *r, size_t i, char *buf, size_t len)
{
	struct hf_node *n = r->node_of[i];

	snprintf(buf, len, "%s %s:%d (%.8s, shard %d)", r->steps[i].role, n->host, n->port,
		 r->steps[i].node_id, r->steps[i].shard + 1);
	return buf;
}

/* ---- create / open -------------------------------------------------- */

static void new_run_id(char *out, size_t len)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	unsigned int rnd;
	FILE *f = fopen("/dev/urandom", "rb");

	if (!f || fread(&rnd, sizeof(rnd), 1, f) != 1)
		rnd = (unsigned int)getpid() ^ (unsigned int)hf_mono_ms();
	if (f)
		fclose(f);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
	snprintf(out, len, "%s-%04x", ts, rnd & 0xffff);
}

int hf_rollout_create(struct hf_journal *j, struct hf_manifest *m, struct hf_cluster *c,
		      const struct hf_plan *plan, struct hf_rollout **out, struct hf_err *err)
{
	struct hf_rollout *r = hf_xcalloc(1, sizeof(*r));
	struct hf_run *run = hf_xcalloc(1, sizeof(*run));
	char id[64];
	size_t i;
	int rc;

	new_run_id(id, sizeof(id));
	rc = hf_journal_drive(j, id, err);
	if (rc) {
		free(run);
		free(r);
		return rc;
	}
	run->id = hf_xstrdup(id);
	run->hotfix = hf_xstrdup(m->name);
	run->version = m->version;
	run->owner = hf_xstrdup(m->owner);
	run->cluster = hf_uri_redacted(&c->uri);
	run->manifest_path = hf_xstrdup(m->path);
	run->manifest_sha256 = hf_xstrdup(m->sha256);
	/* Never a secret in clear: ACL passwords are kept as their hashes. */
	run->manifest_text = hf_xstrdup(m->journal_text ? m->journal_text : m->text);
	run->state = HF_RUN_RUNNING;
	run->pid = getpid();
	run->operator = hf_xstrdup(hf_operator());
	r->run = run;
	r->j = j;
	r->nsteps = plan->nsteps;
	r->steps = hf_xcalloc(plan->nsteps, sizeof(*r->steps));
	r->node_of = hf_xcalloc(plan->nsteps, sizeof(*r->node_of));
	for (i = 0; i < plan->nsteps; i++) {
		struct hf_step *s = &r->steps[i];
		struct hf_node *n = plan->steps[i].node;

		s->seq = (long long)i + 1;
		s->wave = plan->steps[i].wave;
		s->change = plan->steps[i].change;
		s->node_id = hf_xstrdup(n->id);
		s->addr = hf_xasprintf("%s:%d", n->host, n->port);
		s->role = hf_xstrdup(hf_role_name(n->role));
		s->shard = n->shard;
		s->state = HF_STEP_PLANNED;
		r->node_of[i] = n;
	}
	{
		const char **ids = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*ids));

		for (i = 0; i < c->nnodes; i++)
			ids[i] = c->nodes[i].id;
		rc = hf_journal_run_create(j, run, r->steps, r->nsteps, ids, c->nnodes, err);
		free(ids);
	}
	if (rc) {
		hf_rollout_free(r);
		return rc;
	}
	r->m = m;
	r->c = c;
	emit(r, "run", "run %s started by %s: hotfix %s v%ld (sha256 %.12s) on %s, %zu nodes in %zu waves",
	     run->id, run->operator, m->name, m->version, m->sha256, run->cluster, plan->ntargets,
	     plan->nwaves);
	*out = r;
	return 0;
}

/* Find each step's node by id in the live topology, so a failover that
 * swapped roles changes nothing; a node the topology lost is reached at
 * the address recorded at plan time. */
static void map_nodes(struct hf_rollout *r)
{
	size_t i;

	r->extra = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*r->extra));
	for (i = 0; i < r->nsteps; i++) {
		struct hf_node *n = hf_cluster_find(r->c, r->steps[i].node_id);
		const struct hf_change_kind *kind = r->m->changes[r->steps[i].change].kind;
		size_t k;

		if (n && n->role == HF_ROLE_REPLICA && n->primary_id &&
		    (kind->flags & HF_KIND_ON_PRIMARY) && hf_cluster_find(r->c, n->primary_id))
			n = hf_cluster_find(r->c, n->primary_id);   /* a failover since */
		if (n) {
			r->node_of[i] = n;
			continue;
		}
		for (k = 0; k < r->nextra; k++)
			if (!strcmp(r->extra[k].id, r->steps[i].node_id))
				n = &r->extra[k];
		if (!n) {
			const char *colon = strrchr(r->steps[i].addr, ':');

			n = &r->extra[r->nextra++];
			n->id = hf_xstrdup(r->steps[i].node_id);
			n->host = colon ? hf_xstrndup(r->steps[i].addr, (size_t)(colon - r->steps[i].addr))
					: hf_xstrdup(r->steps[i].addr);
			n->port = colon ? atoi(colon + 1) : 6379;
			n->flags = hf_xstrdup("");
			n->shard = r->steps[i].shard;
		}
		r->node_of[i] = n;
	}
}

/* What differs between the run's steps (their nodes' ids and recorded
 * addresses) and the live topology, into r->drift: a node at another
 * address (reached there: map_nodes() found it by id), a node the cluster
 * no longer lists, and, for an inventory, a node the run has no step on.
 * Only when the topology was read (a cluster of no node says nothing). */
static void find_drift(struct hf_rollout *r)
{
	struct hf_buf b = {0};
	size_t i, k;

	for (i = 0; r->c->nnodes && i < r->nsteps; i++) {
		const struct hf_step *s = &r->steps[i];
		const struct hf_node *n = hf_cluster_find(r->c, s->node_id);
		char addr[300];

		for (k = 0; k < i && strcmp(r->steps[k].node_id, s->node_id); k++)
			;
		if (k < i)
			continue;   /* said already */
		if (n)
			snprintf(addr, sizeof(addr), "%s:%d", n->host, n->port);
		if (n && strcmp(addr, s->addr))
			hf_buf_printf(&b, "%snode %s moved from %s to %s", b.len ? "; " : "",
				      s->node_id, s->addr, addr);
		/* An inventory says which nodes there are; a Redis node missing
		 * from the seed's view may only be down (a plain primary lists
		 * the replicas connected to it): it is reached at its address. */
		if (!n && r->c->inventory)
			r->drift_blocks = 1;
		if (!n)
			hf_buf_printf(&b, "%snode %s (%s) is not in the cluster any more",
				      b.len ? "; " : "", s->node_id, s->addr);
	}
	for (k = 0; r->c->inventory && k < r->c->nnodes; k++) {
		for (i = 0; i < r->nsteps && strcmp(r->steps[i].node_id, r->c->nodes[k].id); i++)
			;
		if (i < r->nsteps)
			continue;
		r->drift_blocks = 1;
		hf_buf_printf(&b, "%snode %s (%s:%d) is new, not in this run", b.len ? "; " : "",
			      r->c->nodes[k].id, r->c->nodes[k].host, r->c->nodes[k].port);
	}
	r->drift = b.s ? hf_buf_detach(&b) : hf_xstrdup("");
}

int hf_rollout_open(struct hf_journal *j, const char *id, const struct hf_uri *uri,
		    long timeout_ms, long converge_ms, struct hf_rollout **out, struct hf_err *err)
{
	struct hf_rollout *r = hf_xcalloc(1, sizeof(*r));
	struct hf_uri own = {0};
	int rc;

	r->j = j;
	rc = hf_journal_run_load(j, id, &r->run, &r->steps, &r->nsteps, err);
	if (rc)
		goto fail;
	/* One driver per run: a second rollback or resume is refused while
	 * the first runs, and a dead driver's lock died with it. */
	rc = hf_journal_drive(j, r->run->id, err);
	if (rc)
		goto fail;
	/* Undoing an old run under a newer unfinished one would pull the
	 * cluster from under it. */
	{
		char holder[128];

		if (hf_journal_holder(j, r->run->id, holder, sizeof(holder), NULL) > 0) {
			rc = hf_err_set(err, HF_EREFUSED, "refused: run %s is unfinished on the same "
					"cluster; finish it first", holder);
			goto fail;
		}
	}
	/* A request left for a driver that died is stale. */
	hf_journal_request_set(j, r->run->id, NULL, NULL);
	r->node_of = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*r->node_of));
	rc = hf_manifest_parse(r->run->manifest_path, r->run->manifest_text,
			       strlen(r->run->manifest_text), &r->m, err);
	if (rc)
		goto fail;
	if (!uri) {
		rc = hf_uri_parse(r->run->cluster, &own, err);
		if (rc)
			goto fail;
		uri = &own;
	}
	rc = hf_cluster_discover(uri, timeout_ms, converge_ms, &r->c, err);
	if (rc == HF_EREFUSED)   /* the nodes disagree: the seed's view; waves and restarts ask again */
		rc = hf_cluster_discover(uri, timeout_ms, HF_CONVERGE_SEED_ONLY, &r->c, err);
	if (rc && rc != HF_EUNREACH)
		goto fail;   /* refused credentials are not an unreachable node */
	if (rc) {
		/* Without the seed, reach the nodes at their recorded addresses. */
		size_t i;

		for (i = 0; rc && i < r->nsteps; i++) {
			struct hf_uri u = {0};

			hf_uri_copy(&u, uri);
			free(u.host);
			u.host = hf_xstrndup(r->steps[i].addr, strcspn(r->steps[i].addr, ":"));
			u.port = atoi(r->steps[i].addr + strcspn(r->steps[i].addr, ":") + 1);
			rc = hf_cluster_discover(&u, timeout_ms, HF_CONVERGE_SEED_ONLY, &r->c, NULL);
			hf_uri_release(&u);
		}
		if (rc) {
			/* No node answers: keep an empty cluster; every step is
			 * then unreachable, which the caller reports. */
			r->c = hf_xcalloc(1, sizeof(*r->c));
			hf_uri_copy(&r->c->uri, uri);
			r->c->timeout_ms = timeout_ms;
			rc = 0;
		}
	}
	r->c->converge_ms = converge_ms;
	hf_cluster_probe(r->c);
	map_nodes(r);
	find_drift(r);
	hf_uri_release(&own);
	*out = r;
	return 0;
fail:
	hf_uri_release(&own);
	hf_rollout_free(r);
	return rc;
}

void hf_rollout_free(struct hf_rollout *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nextra; i++) {
		free(r->extra[i].id);
		free(r->extra[i].host);
		free(r->extra[i].flags);
		free(r->extra[i].primary_id);
		hf_node_disconnect(&r->extra[i]);
	}
	free(r->extra);
	free(r->node_of);
	free(r->drift);
	hf_guard_free(r->guard);
	free(r->guard_reason);
	free(r->reader_from);
	hf_steps_free(r->steps, r->nsteps);
	hf_run_free(r->run);
	hf_manifest_free(r->m);
	hf_cluster_free(r->c);
	free(r);
}

/* ---- running kind operations over steps ---------------------------- */

enum op { OP_CAPTURE, OP_APPLY, OP_VERIFY_AFTER, OP_VERIFY_BEFORE, OP_REVERT, OP_PERSIST };

/* Run 'op' for the steps 'idx', one batch per change, and return targets
 * aligned with 'idx'. Caller frees the array. */
static struct hf_target *run_op(struct hf_rollout *r, const size_t *idx, size_t n, enum op op,
				int force)
{
	struct hf_target *out = hf_xcalloc(n ? n : 1, sizeof(*out));
	struct hf_target *t = hf_xcalloc(n ? n : 1, sizeof(*t));
	size_t *pos = hf_xcalloc(n ? n : 1, sizeof(*pos));
	size_t j, i;

	for (j = 0; j < r->m->nchanges; j++) {
		/* Reverts go newest change first, like waves. */
		size_t k = op == OP_REVERT ? r->m->nchanges - 1 - j : j;
		const struct hf_change *ch = &r->m->changes[k];
		const struct hf_change_kind *kind = ch->kind;
		struct hf_kind_ctx x = {
			.c = r->c, .m = r->m, .journal = r->j, .run_id = r->run->id,
			.progress = r->progress, .progress_ud = r->ud, .fence = hf_lease_token(r->lease),
		};
		size_t m = 0;

		for (i = 0; i < n; i++) {
			if (r->steps[idx[i]].change != (int)k)
				continue;
			if ((op == OP_REVERT || op == OP_VERIFY_BEFORE) && !r->steps[idx[i]].before) {
				/* Never captured, so never applied: the node holds
				 * its before-state by definition. */
				out[i].node = r->node_of[idx[i]];
				out[i].step = &r->steps[idx[i]];
				out[i].match = 1;
				continue;
			}
			memset(&t[m], 0, sizeof(t[m]));
			t[m].node = r->node_of[idx[i]];
			t[m].step = &r->steps[idx[i]];
			pos[m++] = i;
		}
		if (!m)
			continue;
		switch (op) {
		case OP_CAPTURE:
			kind->capture(ch, &x, t, m);
			break;
		case OP_APPLY:
			kind->apply(ch, &x, t, m);
			break;
		case OP_VERIFY_AFTER:
			kind->verify(ch, &x, t, m, HF_SIDE_AFTER);
			break;
		case OP_VERIFY_BEFORE:
			kind->verify(ch, &x, t, m, HF_SIDE_BEFORE);
			break;
		case OP_REVERT:
			kind->revert(ch, &x, t, m, force ? HF_REVERT_FORCE : 0);
			break;
		case OP_PERSIST:
			if (kind->persist)
				kind->persist(ch, &x, t, m);
			break;
		}
		for (i = 0; i < m; i++)
			out[pos[i]] = t[i];
	}
	free(t);
	free(pos);
	return out;
}

/* Describe the failed targets as "replica 127.0.0.1:30004 (...): why; ...". */
static char *failures(struct hf_rollout *r, const size_t *idx, const struct hf_target *t,
		      size_t n, const char *mismatch)
{
	struct hf_buf b = {0};
	char label[160];
	size_t i;

	for (i = 0; i < n; i++) {
		if (!t[i].status && (t[i].match || !mismatch))
			continue;
		hf_buf_printf(&b, "%s%s: %s", b.len ? "; " : "",
			      node_label(r, idx[i], label, sizeof(label)),
			      t[i].status ? t[i].error : mismatch);
	}
	return b.len ? hf_buf_detach(&b) : NULL;
}

/* ---- requests: pause, continue, abort ------------------------------ */

/* What stops a run going forward, besides a failure: a request, the
 * guard, or nodes that disagree about the topology before a wave. */
enum { GO = 0, ABORT = 1, INTERRUPT = 2, GUARD = 3, DISAGREE = 4, LEASE = 5, PREFLIGHT = 6 };

/* ---- governance: the lease and the audit record (issue 13) ---------- */

/* Right before a round that changes nodes: is the lease still ours? Any
 * doubt (lost, or its node not answering) stops the run here, at a safe
 * point, with 'err' saying why. */
static int fence(struct hf_rollout *r, struct hf_err *err)
{
	struct hf_lease_info other;

	if (!r->lease || !hf_lease_renew(r->lease, NULL, &other, err))
		return 0;
	emit(r, "error", "%s: stopping before the next change", err->msg);
	return LEASE;
}

/* On the ticks of a bake: renew the lease when due. A lease lost stops
 * the run; a node that does not answer is left to fence(), which the next
 * round meets. */
static int lease_tick(struct hf_rollout *r, struct hf_err *err)
{
	struct hf_lease_info other;
	struct hf_err e = {0};

	if (!r->lease || hf_lease_tick(r->lease, &other, &e) != HF_EREFUSED)
		return GO;
	hf_err_set(err, HF_EREFUSED, "%s", e.msg);
	emit(r, "error", "%s: stopping before the next change", e.msg);
	return LEASE;
}

/* Fail closed: no change without the audit record of the action. */
static int audited(struct hf_rollout *r, struct hf_err *err)
{
	if (r->audit_seq > 0)
		return 0;
	return hf_err_set(err, HF_EREFUSED, "run %s: no audit record committed for this action; "
			  "nothing done", r->run->id);
}

/* Between steps and on every tick of a bake: obey a pending request. */
static int check_requests(struct hf_rollout *r, struct hf_err *err)
{
	char *req = NULL;
	int paused = 0;

	for (;;) {
		if (r->interrupted && *r->interrupted)
			return INTERRUPT;
		if (lease_tick(r, err))
			return LEASE;
		if (hf_journal_request_take(r->j, r->run->id, &req, err))
			return GO;   /* a busy journal must not stop a rollout */
		if (req && !strcmp(req, "abort")) {
			free(req);
			emit(r, "request", "abort requested: rolling back");
			return ABORT;
		}
		if (req && !strcmp(req, "pause") && !paused) {
			paused = 1;
			set_run_state(r, HF_RUN_PAUSED, "paused by request", NULL);
			emit(r, "request", "paused by request; 'hotfix continue %s' goes on, "
			     "'hotfix abort %s' rolls back", r->run->id, r->run->id);
		} else if (req && !strcmp(req, "continue") && paused) {
			paused = 0;
			set_run_state(r, HF_RUN_RUNNING, NULL, NULL);
			emit(r, "request", "continued by request");
		}
		free(req);
		req = NULL;
		if (!paused)
			return GO;
		hf_sleep_ms(100);
	}
}

/* ---- maintenance windows (policy) --------------------------------- */

/* Before the baseline and each wave: while r->window says the window is
 * closed, the run is paused with its note, asked again every second, and
 * goes on by itself when it opens. An abort or Ctrl-C is obeyed meanwhile;
 * pause and continue requests are dropped (the window decides). */
static int window_wait(struct hf_rollout *r)
{
	char why[512], *req = NULL;
	int waiting = 0, rq = GO;

	while (r->window && !r->window(r->window_ud, why, sizeof(why))) {
		if (!waiting) {
			waiting = 1;
			set_run_state(r, HF_RUN_PAUSED, why, NULL);
			emit(r, "window", "paused: %s; the run goes on by itself then ('hotfix abort %s' "
			     "rolls back)", why, r->run->id);
		}
		if (r->interrupted && *r->interrupted)
			return INTERRUPT;
		if (!hf_journal_request_take(r->j, r->run->id, &req, NULL) && req &&
		    !strcmp(req, "abort"))
			rq = ABORT;
		free(req);
		req = NULL;
		if (rq) {
			emit(r, "request", "abort requested: rolling back");
			return rq;
		}
		hf_sleep_ms(1000);
	}
	if (waiting) {
		set_run_state(r, HF_RUN_RUNNING, NULL, NULL);
		emit(r, "window", "the maintenance window is open: going on");
	}
	return GO;
}

/* Wait 'ms' while obeying requests; returns GO when it passed. */
static int wait_ms(struct hf_rollout *r, long long ms, struct hf_err *err)
{
	long long end = hf_mono_ms() + ms;
	int rq;

	while (hf_mono_ms() < end) {
		long long left = end - hf_mono_ms();

		rq = check_requests(r, err);
		if (rq)
			return rq;
		if (r->guard)
			hf_guard_probe(r->guard);
		hf_sleep_ms(left < 100 ? (long)left : 100);
	}
	return check_requests(r, err);
}

/* Which cluster nodes hold the hotfix now (applied or verified steps):
 * a step's node, or the nodes its kind says it reaches (a flag ramped by
 * slot: the shards turned on). */
static void changed_nodes(struct hf_rollout *r, int *changed)
{
	size_t i;

	memset(changed, 0, sizeof(*changed) * (r->c->nnodes ? r->c->nnodes : 1));
	for (i = 0; i < r->nsteps; i++) {
		const struct hf_change *ch = &r->m->changes[r->steps[i].change];
		struct hf_kind_ctx x = { .c = r->c, .m = r->m, .journal = r->j,
					 .run_id = r->run->id };
		struct hf_node *n = r->node_of[i];

		if (r->steps[i].state < HF_STEP_APPLYING || r->steps[i].state > HF_STEP_VERIFIED)
			continue;
		if (ch->kind->reach && ch->kind->reach(ch, &x, &r->steps[i], changed))
			continue;
		if (n >= r->c->nodes && n < r->c->nodes + r->c->nnodes)
			changed[n - r->c->nodes] = 1;
	}
}

/* Journal the numbers behind a verdict ('v'), or behind the baseline
 * when 'v' is NULL, as guard samples: one per check, one for a verdict
 * that judged none. A failure to journal them costs the report its
 * charts, never the run: it is an event, not an error. */
static void record_samples(struct hf_rollout *r, const struct hf_verdict *v)
{
	struct hf_verdict_check base[HF_VERDICT_CHECKS];
	const struct hf_verdict_check *vc = v ? v->checks : base;
	size_t i, n = v ? v->nchecks : hf_guard_baseline_checks(r->guard, base, HF_VERDICT_CHECKS);
	struct hf_guard_sample *s = hf_xcalloc(n ? n : 1, sizeof(*s));
	static const char *const outcome[] = { "pass", "fail", "n/a" };
	long long now = hf_wall_ms();
	struct hf_err err = {0};
	int wave = 0;

	for (i = 0; v && i < r->nsteps; i++)
		if (r->steps[i].state >= HF_STEP_APPLYING && r->steps[i].state <= HF_STEP_VERIFIED &&
		    r->steps[i].wave > wave)
			wave = r->steps[i].wave;
	for (i = 0; i < n || (!n && i < 1); i++) {
		s[i] = (struct hf_guard_sample){ .ts_ms = now, .verdict = v ? 1 : 0, .wave = wave,
			.metric = (char *)"", .scope = (char *)(v ? v->nodes : "baseline"),
			.value = NAN, .baseline = NAN, .threshold = NAN, .u = NAN, .p = NAN,
			.outcome = (char *)(v ? "unobservable" : "baseline"),
			.detail = (char *)(v ? v->explain : "") };
		if (!n)
			break;
		s[i].metric = (char *)vc[i].metric;
		s[i].value = vc[i].value;
		s[i].baseline = vc[i].baseline;
		s[i].threshold = vc[i].threshold;
		s[i].rule = (char *)vc[i].rule;
		s[i].u = vc[i].u;
		s[i].p = vc[i].p;
		s[i].outcome = (char *)(v ? outcome[vc[i].outcome] : "baseline");
		s[i].detail = (char *)vc[i].why;
	}
	if (hf_journal_samples_add(r->j, r->run->id, s, n ? n : 1, &err))
		emit(r, "error", "guard samples not journaled: %s", err.msg);
	free(s);
}

/* Up to 'want' keys step 'i' changed, going round them: from where the
 * last read stopped, starting over at its end. */
static int reader_keys(struct hf_rollout *r, size_t i, size_t want, struct hf_key_record **recs,
		       size_t *n, struct hf_err *err)
{
	int rc = hf_journal_keys_sample(r->j, r->run->id, r->steps[i].seq, r->reader_from[i], want,
					recs, n, err);

	if (!rc && !*n && r->reader_from[i]) {
		hf_key_records_free(*recs, 0);
		r->reader_from[i] = 0;
		rc = hf_journal_keys_sample(r->j, r->run->id, r->steps[i].seq, 0, want, recs, n, err);
	}
	if (!rc && *n)
		r->reader_from[i] = (*recs)[*n - 1].n + 1;
	return rc;
}

/* Is step 'i' one of wave 'wave' that changed keys, and holds them? */
static int read_step(const struct hf_rollout *r, size_t i, int wave)
{
	return r->steps[i].wave == wave && r->steps[i].state == HF_STEP_VERIFIED &&
	       (r->m->changes[r->steps[i].change].kind->flags & HF_KIND_KEYS);
}

/* The reader checks (S35) on keys the data steps of wave 'wave' changed:
 * each reads its 'keys' of them per interval, spread over the wave's
 * steps; what they find goes to the guard's next verdict. */
static void run_readers(struct hf_rollout *r, int wave)
{
	size_t c, i;

	if (!r->reader_from)
		r->reader_from = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*r->reader_from));
	for (c = 0; c < r->m->guard.nchecks; c++) {
		const struct hf_check *k = &r->m->guard.checks[c];
		size_t want = k->reader ? (size_t)k->keys : 0, per, nsteps = 0;

		for (i = 0; i < r->nsteps; i++)
			nsteps += read_step(r, i, wave);
		per = nsteps ? (want + nsteps - 1) / nsteps : 0;
		for (i = 0; per && want && i < r->nsteps; i++) {
			struct hf_key_record *recs = NULL;
			struct hf_err err = {0};
			char why[600];
			size_t n = 0, done;

			if (!read_step(r, i, wave))
				continue;
			if (reader_keys(r, i, per < want ? per : want, &recs, &n, &err)) {
				emit(r, "error", "reader check: %s", err.msg);
				continue;
			}
			done = hf_reader_run(k, r->c, r->node_of[i], recs, n, why, sizeof(why));
			hf_key_records_free(recs, n);
			hf_guard_readers(r->guard, done, why);
			want -= n < want ? n : want;
			if (why[0])
				break;
		}
	}
}

/* Bake with the guard watching: one verdict per interval, journaled with
 * its explanation. 'failure_limit' consecutive fails (and, under
 * on_unobservable: rollback, unobservable intervals) end the bake with
 * GUARD; under hold, an unobservable interval does not count toward the
 * bake, which waits until the nodes can be seen again. */
static int guarded_bake(struct hf_rollout *r, int wave, long long ms, struct hf_err *err)
{
	const struct hf_guard *spec = &r->m->guard;
	long long interval = spec->present && spec->interval_ms ? spec->interval_ms : 1000;
	long limit = spec->present && spec->failure_limit ? spec->failure_limit : 2;
	int *changed = hf_xcalloc(r->c->nnodes ? r->c->nnodes : 1, sizeof(*changed));
	long long watched = 0, next = hf_mono_ms() + interval;
	long bad = 0;
	int rq = GO, held = 0;

	while (watched < ms) {
		struct hf_verdict v;
		long long now = hf_mono_ms();

		/* Verdicts on a fixed clock: sampling every node and journaling
		 * the verdict take time (a few hundred ms at 300 nodes) that
		 * must not be added to every interval. One that overran starts
		 * the next at once. */
		rq = wait_ms(r, next > now ? next - now : 0, err);
		next = (next > now ? next : now) + interval;
		if (rq)
			break;
		changed_nodes(r, changed);
		run_readers(r, wave);
		hf_guard_evaluate(r->guard, changed, &v);
		emit(r, "verdict", "%s", v.explain);
		record_samples(r, &v);
		if (v.kind == HF_VERDICT_PASS) {
			bad = 0;
			held = 0;
			watched += interval;
			continue;
		}
		if (v.kind == HF_VERDICT_UNOBSERVABLE && spec->on_unobservable == HF_UNOBS_HOLD) {
			if (!held)
				emit(r, "guard", "holding: the bake waits until every changed node can "
				     "be seen again (on_unobservable: hold)");
			held = 1;
			continue;
		}
		if (++bad >= limit) {
			free(r->guard_reason);
			r->guard_reason = hf_xasprintf("%ld consecutive failing interval(s): %s", bad,
						       v.explain);
			rq = GUARD;
			break;
		}
	}
	free(changed);
	return rq;
}

static int bake(struct hf_rollout *r, int wave, int nwaves, long long ms, struct hf_err *err)
{
	char d[32];

	hf_crashpoint("bake");
	if (ms <= 0)
		return check_requests(r, err);
	hf_fmt_duration(ms, d, sizeof(d));
	if (r->guard) {
		emit(r, "bake", "wave %d/%d baking for %s, the guard watching", wave, nwaves, d);
		return guarded_bake(r, wave, ms, err);
	}
	emit(r, "bake", "wave %d/%d baking for %s (plain wait: guard: none)", wave, nwaves, d);
	return wait_ms(r, ms, err);
}

/* Before the first wave: sample the whole cluster for guard.baseline. */
static int take_baseline(struct hf_rollout *r, struct hf_err *err)
{
	const struct hf_guard *spec = &r->m->guard;
	long long interval = spec->present && spec->interval_ms ? spec->interval_ms : 1000;
	long long window = spec->present ? spec->baseline_ms : 10000;
	long long end;
	char d[32], desc[1024];
	int rq;

	set_run_state(r, HF_RUN_BASELINE, NULL, NULL);
	hf_fmt_duration(window, d, sizeof(d));
	emit(r, "guard", "taking a baseline over %s of every node, one sample every %lldms", d, interval);
	hf_guard_baseline_tick(r->guard);
	end = hf_mono_ms() + window;
	do {
		rq = wait_ms(r, interval, err);
		if (rq)
			return rq;
		hf_guard_baseline_tick(r->guard);
	} while (hf_mono_ms() < end);
	hf_guard_baseline_describe(r->guard, desc, sizeof(desc));
	emit(r, "guard", "baseline: %s", desc);
	record_samples(r, NULL);
	set_run_state(r, HF_RUN_RUNNING, NULL, NULL);
	return GO;
}

/* ---- forward -------------------------------------------------------- */

static int max_wave(struct hf_rollout *r)
{
	size_t i;
	int w = 0;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].wave > w)
			w = r->steps[i].wave;
	return w;
}

/* Settle steps a crash left in flight, by asking the nodes. */
static int settle(struct hf_rollout *r, struct hf_err *err)
{
	size_t *idx = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*idx));
	struct hf_target *t = NULL;
	size_t i, n = 0;
	char *why = NULL;
	int rc = 0;

	for (i = 0; i < r->nsteps; i++) {
		struct hf_step *s = &r->steps[i];

		if (s->state == HF_STEP_CAPTURING) {
			/* Capture only reads: nothing happened yet. */
			s->state = HF_STEP_PLANNED;
			rc = save_steps(r, &i, 1, err);
			if (rc)
				goto out;
		}
		if (s->state == HF_STEP_APPLYING &&
		    (r->m->changes[s->change].kind->flags & HF_KIND_RESUMABLE_APPLY)) {
			/* It keeps its own progress: apply again goes on. */
			s->state = HF_STEP_CAPTURED;
			rc = save_steps(r, &i, 1, err);
			if (rc)
				goto out;
			continue;
		}
		if (s->state == HF_STEP_APPLYING || s->state == HF_STEP_APPLIED)
			idx[n++] = i;
	}
	if (!n)
		goto out;
	t = run_op(r, idx, n, OP_VERIFY_BEFORE, 0);
	for (i = 0; i < n; i++) {
		struct hf_step *s = &r->steps[idx[i]];

		if (!t[i].status && t[i].match)
			s->state = HF_STEP_CAPTURED;   /* the apply never landed: do it again */
	}
	free(t);
	t = run_op(r, idx, n, OP_VERIFY_AFTER, 0);
	for (i = 0; i < n; i++) {
		struct hf_step *s = &r->steps[idx[i]];

		if (t[i].status == HF_EUNREACH && s->state == HF_STEP_APPLYING &&
		    (r->m->changes[s->change].kind->flags & HF_KIND_RESTARTS_NODES)) {
			/* Probably stopped by the crashed run: apply again,
			 * which starts it (or says why it cannot). */
			s->state = HF_STEP_CAPTURED;
			t[i].status = 0;
			t[i].match = 1;
			continue;
		}
		if (s->state == HF_STEP_CAPTURED || t[i].status) {
			t[i].match = !t[i].status;
			continue;
		}
		if (t[i].match) {
			s->state = HF_STEP_VERIFIED;
		} else if (!s->after) {
			/* The apply landed (the node left its before-state) but
			 * the crash came before the node's spelling of the new
			 * values was recorded: apply again, which is idempotent
			 * and records it. */
			s->state = HF_STEP_CAPTURED;
			t[i].match = 1;
		}
	}
	why = failures(r, idx, t, n, "holds neither the before- nor the after-state");
	save_steps(r, idx, n, NULL);
	emit(r, "run", "settled %zu in-flight step(s) by asking their nodes%s%s", n,
	     why ? ": " : "", why ? why : "");
	if (why)
		rc = hf_err_set(err, HF_ERR, "cannot settle in-flight steps: %s", why);
out:
	free(t);
	free(why);
	free(idx);
	return rc;
}

/* What the run's kind counts in its events ("key"). */
static const char *unit_of(const struct hf_rollout *r)
{
	const char *u = r->m->nchanges ? r->m->changes[0].kind->unit : NULL;

	return u ? u : "unit";
}

/* The event of a round applied and verified on the nodes of 'idx'. */
static void report_round(struct hf_rollout *r, const size_t *idx, size_t n, long long t0,
			 long long looked, long long changed)
{
	long long ms = hf_mono_ms() - t0 > 0 ? hf_mono_ms() - t0 : 1;
	struct hf_buf done = {0};
	char label[160];
	size_t i;

	for (i = 0; i < n; i++) {
		if (i && r->node_of[idx[i]] == r->node_of[idx[i - 1]])
			continue;
		hf_buf_printf(&done, "%s%s", done.len ? ", " : "",
			      node_label(r, idx[i], label, sizeof(label)));
	}
	if (looked)
		emit(r, "step", "applied and verified on %s; %lld %s(s) changed of %lld looked at, "
		     "%.0f %ss/s", done.len ? done.s : "no node", changed, unit_of(r), looked,
		     (double)changed * 1000.0 / (double)ms, unit_of(r));
	else
		emit(r, "step", "applied and verified on %s", done.len ? done.s : "no node");
	hf_buf_release(&done);
}

/* A round whose only failures are refusals: every refused step says the
 * same reason, so it is told once. */
static int refused_round(struct hf_rollout *r, const size_t *idx, size_t n, struct hf_err *err)
{
	const char *first = NULL;
	size_t i, refused = 0;

	for (i = 0; i < n; i++)
		if (r->steps[idx[i]].error) {
			refused++;
			if (!first)
				first = r->steps[idx[i]].error;
		}
	return hf_err_set(err, HF_EREFUSED, "%zu node(s) not changed: %s", refused,
			  first ? first : "refused");
}

/* Capture, apply and verify one round: at most one node per shard. */
static int do_round(struct hf_rollout *r, const size_t *idx, size_t n, struct hf_err *err)
{
	int refused_only = 1;
	long long looked = 0, changed = 0, t0;
	struct hf_target *t;
	char *why;
	size_t i;
	int rc;

	if ((rc = commit_steps(r, idx, n, HF_STEP_CAPTURING, err)))
		return rc;
	hf_crashpoint("capture");
	t = run_op(r, idx, n, OP_CAPTURE, 0);
	why = failures(r, idx, t, n, NULL);
	free(t);
	if (why) {
		save_steps(r, idx, n, NULL);
		rc = hf_err_set(err, HF_ERR, "capture failed: %s", why);
		free(why);
		return rc;
	}
	/* The before-images are durable with the APPLYING state, before any
	 * command that changes a node is sent. */
	if ((rc = commit_steps(r, idx, n, HF_STEP_APPLYING, err)))
		return rc;
	hf_crashpoint("apply");
	t0 = hf_mono_ms();
	t = run_op(r, idx, n, OP_APPLY, 0);
	hf_crashpoint("applied");
	for (i = 0; i < n; i++) {
		looked += t[i].looked;
		changed += t[i].changed;
	}
	why = failures(r, idx, t, n, NULL);
	for (i = 0; i < n; i++) {
		if (t[i].status)
			set_step_error(&r->steps[idx[i]], t[i].error);
		if (t[i].status && t[i].status != HF_EREFUSED)
			refused_only = 0;
	}
	free(t);
	if (why) {
		/* Steps that failed stay APPLYING: their outcome is unknown
		 * until a node answers, and the rollback asks it. */
		size_t *ok = hf_xcalloc(n, sizeof(*ok)), nok = 0;

		for (i = 0; i < n; i++)
			if (!r->steps[idx[i]].error)
				ok[nok++] = idx[i];
		commit_steps(r, ok, nok, HF_STEP_APPLIED, NULL);
		save_steps(r, idx, n, NULL);
		free(ok);
		/* A kind that refused to act (nodes that disagree about the
		 * topology) changed nothing there: the run pauses, as before
		 * a wave, rather than rolling back on that topology. */
		rc = refused_only ? refused_round(r, idx, n, err)
				  : hf_err_set(err, HF_ERR, "apply failed: %s", why);
		free(why);
		return rc;
	}
	if ((rc = commit_steps(r, idx, n, HF_STEP_APPLIED, err)))
		return rc;
	t = run_op(r, idx, n, OP_VERIFY_AFTER, 0);
	why = failures(r, idx, t, n, "does not report the new values after apply");
	free(t);
	if (why) {
		rc = hf_err_set(err, HF_ERR, "verify failed: %s", why);
		free(why);
		return rc;
	}
	if ((rc = commit_steps(r, idx, n, HF_STEP_VERIFIED, err)))
		return rc;
	report_round(r, idx, n, t0, looked, changed);
	return 0;
}

/* Cut the pending steps of 'wave' into rounds of at most one node per
 * shard; returns the round of each step in 'round' (1-based, 0 = none). */
static int plan_rounds(struct hf_rollout *r, int wave, int *round)
{
	int nrounds = 0;
	size_t i, k;

	for (i = 0; i < r->nsteps; i++) {
		struct hf_step *s = &r->steps[i];
		int rd;

		round[i] = 0;
		if (s->wave != wave || s->state >= HF_STEP_VERIFIED)
			continue;
		/* A node's steps share a round. */
		for (k = 0; k < i; k++)
			if (round[k] && r->node_of[k] == r->node_of[i])
				break;
		if (k < i) {
			round[i] = round[k];
			continue;
		}
		for (rd = 1;; rd++) {
			for (k = 0; k < i; k++)
				if (round[k] == rd && r->steps[k].shard == s->shard &&
				    r->node_of[k] != r->node_of[i])
					break;
			if (k == i)
				break;
		}
		round[i] = rd;
		if (rd > nrounds)
			nrounds = rd;
	}
	return nrounds;
}

static int wave_started(struct hf_rollout *r, int wave)
{
	size_t i;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].wave == wave && r->steps[i].state > HF_STEP_PLANNED)
			return 1;
	return 0;
}

/* Does the kind of step 's' keep a change that a restart would lose? */
static int needs_persist(struct hf_rollout *r, const struct hf_step *s)
{
	const struct hf_change *ch = &r->m->changes[s->change];

	return s->before && ch->kind->needs_persist && ch->kind->needs_persist(ch, s);
}

/* Before the run is promoted: every applied node step must still hold
 * the hotfix. A node restarted since it was verified has its config
 * file's state back (the runtime change lost), which the promotion would
 * otherwise report as verified, and a CONFIG REWRITE or ACL SAVE write
 * down for good; it gets the change again (apply is idempotent), and a
 * node that still does not hold it fails the run. Key changes are left
 * out (their verification reads every key again), and ramps (a ramp's
 * step is what the next one changes). */
static int reassert(struct hf_rollout *r, struct hf_err *err)
{
	size_t *idx = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*idx));
	size_t *lost = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*lost));
	size_t i, n = 0, k = 0;
	struct hf_target *t;
	char *why;
	int rc = 0;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].state == HF_STEP_VERIFIED &&
		    !(r->m->changes[r->steps[i].change].kind->flags & (HF_KIND_KEYS | HF_KIND_RAMPS)))
			idx[n++] = i;
	t = run_op(r, idx, n, OP_VERIFY_AFTER, 0);
	why = failures(r, idx, t, n, NULL);
	for (i = 0; !why && i < n; i++)
		if (!t[i].match)
			lost[k++] = idx[i];
	free(t);
	if (!why && k) {
		emit(r, "promote", "%zu step(s) no longer hold the hotfix they were verified with "
		     "(a node restarted?): applying them again", k);
		free(run_op(r, lost, k, OP_APPLY, 0));
		t = run_op(r, lost, k, OP_VERIFY_AFTER, 0);
		why = failures(r, lost, t, k, "does not hold the hotfix after applying it again");
		free(t);
		/* What the nodes report now is what a rollback compares with. */
		if (!why)
			rc = save_steps(r, lost, k, err);
	}
	if (why)
		rc = hf_err_set(err, HF_ERR, "before the promotion: %s", why);
	free(why);
	free(lost);
	free(idx);
	return rc;
}

/* Persist the change on nodes with a config file. 'persisted' is 1 once
 * the intent is journaled and 2 once CONFIG REWRITE succeeded; a resumed
 * run rewrites again (it is idempotent) wherever it is not 2. */
static int promote(struct hf_rollout *r, struct hf_err *err)
{
	size_t *idx = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*idx));
	size_t i, n = 0;
	char *why = NULL;
	int rc = 0;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].state == HF_STEP_VERIFIED && r->steps[i].persisted < 2 &&
		    needs_persist(r, &r->steps[i]))
			idx[n++] = i;
	if ((rc = reassert(r, err)))
		goto out;
	if (n) {
		struct hf_target *t;

		for (i = 0; i < n; i++)
			r->steps[idx[i]].persisted = 1;
		rc = save_steps(r, idx, n, err);
		if (rc)
			goto out;
		hf_crashpoint("promote");
		t = run_op(r, idx, n, OP_PERSIST, 0);
		for (i = 0; i < n; i++)
			if (!t[i].status)
				r->steps[idx[i]].persisted = 2;
		why = failures(r, idx, t, n, NULL);
		free(t);
		save_steps(r, idx, n, NULL);
		if (why) {
			rc = hf_err_set(err, HF_ERR, "CONFIG REWRITE failed: %s", why);
			goto out;
		}
		emit(r, "promote", "CONFIG REWRITE on %zu node(s) with a config file", n);
	}
out:
	free(why);
	free(idx);
	return rc;
}

static int promotion_started(struct hf_rollout *r)
{
	size_t i;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].persisted)
			return 1;
	return 0;
}

/* 'snapshot: required': a fresh BGSAVE on every primary before the first
 * step, journaled, so a resumed run neither takes it twice nor goes on
 * without it. A run whose steps started before (a journal of an older
 * release, which took it before the run existed) has had it. */
static int take_snapshot(struct hf_rollout *r, struct hf_err *err)
{
	size_t i;
	int rc;

	if (!r->m->snapshot_required || r->run->snapshot_ms)
		return 0;
	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].state != HF_STEP_PLANNED)
			return 0;
	emit(r, "snapshot", "BGSAVE on every primary before the first wave");
	rc = hf_snapshot(r->c, 300000, err);
	if (rc)
		return rc;
	r->run->snapshot_ms = hf_wall_ms();
	rc = hf_journal_run_update(r->j, r->run, err);
	if (!rc)
		emit(r, "snapshot", "every primary has a fresh snapshot");
	hf_crashpoint("snapshot");
	return rc;
}

/* How long wave 'w' of 'nwaves' bakes: as the manifest says, and the last
 * one long enough for the guard to fail 'failure_limit' times before the
 * promotion. */
static long long wave_bake_ms(const struct hf_rollout *r, int w, int nwaves)
{
	const struct hf_guard *g = &r->m->guard;
	/* A ramp's node changes go in a wave of their own before the ramps,
	 * which does not bake (the first ramp's does). */
	int mw = hf_manifest_ramps(r->m) ? w - hf_manifest_ramp_dark(r->m) : w;
	long long ms = mw >= 1 && mw <= (int)r->m->nwaves ? r->m->waves[mw - 1].bake_ms : 0;
	long long fin = g->present ? g->interval_ms * g->failure_limit : 2000;

	if (w == nwaves && r->guard && ms < fin)
		ms = fin;
	return ms;
}

/* Put in front of 'err' how to go on from a run that pauses ('where':
 * "before", "in") wave 'w' because its nodes disagree about the topology:
 * the reason that follows can be long, and this must not be cut off. */
static void pause_note(const struct hf_rollout *r, const char *where, int w, const char *until,
		       struct hf_err *err)
{
	char why[sizeof(err->msg)];

	snprintf(why, sizeof(why), "%s", err->msg);
	hf_err_set(err, err->code, "run %s paused %s wave %d: 'hotfix resume %s' goes on once %s, "
		   "'hotfix rollback %s' undoes it\n%.1700s", r->run->id, where, w, r->run->id,
		   until, r->run->id, why);
}

/* Between waves: the manifest's preflight checks (the first wave's ran
 * before the run was created). A dependency that is not healthy pauses
 * the run before wave 'w', to be resumed or rolled back. */
static int preflight(struct hf_rollout *r, int w, struct hf_err *err)
{
	if (!r->m->npreflight)
		return GO;
	if (hf_preflight_run(r->m, err)) {
		emit(r, "preflight", "%s", err->msg);
		pause_note(r, "before", w, "its preflight checks pass", err);
		return PREFLIGHT;
	}
	emit(r, "preflight", "%zu check(s) healthy before wave %d", r->m->npreflight, w);
	return GO;
}

/* Wave 'w': its rounds of at most one node per shard, then its bake.
 * 'round' and 'idx' are scratch arrays of r->nsteps. Returns 0 or the
 * failure; '*rq' gets a request or the guard's verdict that stopped it. */
static int run_wave(struct hf_rollout *r, int w, int nwaves, int *round, size_t *idx, int *rq,
		    struct hf_err *err)
{
	int nrounds = plan_rounds(r, w, round), rd, rc = 0;
	size_t i, nodes = 0;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].wave == w && (!i || r->steps[i - 1].wave != w ||
					      r->node_of[i] != r->node_of[i - 1]))
			nodes++;
	/* Never a wave on a topology its nodes disagree about: the run pauses
	 * before it, to be resumed or rolled back. */
	if (nrounds && hf_cluster_converge(r->c, err)) {
		pause_note(r, "before", w, "the nodes agree", err);
		*rq = DISAGREE;
		return 0;
	}
	if (nrounds && (*rq = window_wait(r)))
		return 0;
	if (nrounds && w > 1 && (*rq = preflight(r, w, err)))
		return 0;
	if (nrounds)
		emit(r, "wave", "wave %d/%d: %zu node(s) in %d round(s) of at most one node per shard",
		     w, nwaves, nodes, nrounds);
	for (rd = 1; !rc && rd <= nrounds; rd++) {
		size_t n = 0;

		*rq = check_requests(r, err);
		if (!*rq)
			*rq = fence(r, err);
		if (*rq)
			return 0;
		for (i = 0; i < r->nsteps; i++)
			if (round[i] == rd)
				idx[n++] = i;
		rc = do_round(r, idx, n, err);
	}
	if (rc == HF_EREFUSED) {
		pause_note(r, "in", w, "the nodes agree", err);
		*rq = DISAGREE;
		return 0;
	}
	/* After a crash, a wave whose successor (or the promotion) started
	 * has baked. */
	if (rc || !nodes || (w < nwaves ? wave_started(r, w + 1) : promotion_started(r)))
		return rc;
	*rq = bake(r, w, nwaves, wave_bake_ms(r, w, nwaves), err);
	return 0;
}

/* Roll back after what stopped the run ('why'); 'ok_code' and 'ok_fmt'
 * say how the run ends when the rollback restores every node. */
static int roll_back_after(struct hf_rollout *r, const char *why, int ok_code, const char *ok_fmt,
			   struct hf_err *err)
{
	struct hf_err rerr = {0};
	int rc = hf_rollout_rollback(r, 0, why, &rerr);

	if (rc)
		return hf_err_set(err, rc, "%s; then the rollback did not finish: %s", why, rerr.msg);
	return hf_err_set(err, ok_code, ok_fmt, why);
}

/* An abort asked while the run waited for its nodes to agree is obeyed
 * rather than left for a pause to swallow. Any other request is dropped:
 * the run pauses anyway. */
static int abort_pending(struct hf_rollout *r)
{
	char *req = NULL;
	int yes;

	if (hf_journal_request_take(r->j, r->run->id, &req, NULL))
		return 0;
	yes = req && !strcmp(req, "abort");
	if (yes)
		emit(r, "request", "abort requested: rolling back");
	free(req);
	return yes;
}

/* The end of a run that went forward as far as it could: promoted,
 * paused, or rolled back for the guard, an abort or a failure ('rc'). */
static int conclude_run(struct hf_rollout *r, int rc, int rq, struct hf_err *err)
{
	char why[sizeof(err->msg)];

	if (!rc && !rq)
		rq = fence(r, err);
	if (!rc && !rq)
		rc = promote(r, err);
	if (!rc && !rq) {
		r->run->pid = 0;
		set_run_state(r, HF_RUN_PROMOTED, NULL, NULL);
		emit(r, "run", "promoted: every target verified");
		return 0;
	}
	if ((rq == DISAGREE || rq == PREFLIGHT) && abort_pending(r))
		rq = ABORT;
	if (rq == PREFLIGHT) {
		r->run->pid = 0;
		set_run_state(r, HF_RUN_PAUSED, "a preflight check failed", NULL);
		err->code = HF_EREFUSED;   /* err holds pause_note()'s words */
		return HF_EREFUSED;
	}
	if (rq == DISAGREE) {
		r->run->pid = 0;
		set_run_state(r, HF_RUN_PAUSED, "the nodes disagree about the topology", NULL);
		emit(r, "error", "%s", err->msg);
		return err->code;
	}
	if (rq == LEASE) {
		snprintf(why, sizeof(why), "%s", err->msg);
		r->run->pid = 0;
		set_run_state(r, HF_RUN_PAUSED, why, NULL);
		return hf_err_set(err, HF_EREFUSED, "run %s stopped before its next change: %s; "
				  "'hotfix resume %s' or 'hotfix rollback %s' takes it over once the "
				  "lease is free", r->run->id, why, r->run->id, r->run->id);
	}
	if (rq == INTERRUPT) {
		r->run->pid = 0;
		set_run_state(r, HF_RUN_PAUSED, "interrupted", NULL);
		emit(r, "run", "interrupted: run %s is paused", r->run->id);
		return hf_err_set(err, HF_ERR, "interrupted: run %s is paused; 'hotfix resume %s' goes "
				  "on, 'hotfix rollback %s' undoes it", r->run->id, r->run->id, r->run->id);
	}
	if (rq == GUARD) {
		snprintf(why, sizeof(why), "rolled back by the guard: %s", r->guard_reason);
		emit(r, "guard", "%s", why);
		return roll_back_after(r, why, HF_EGUARD, "%s; every node restored and verified", err);
	}
	if (rq == ABORT) {
		rc = hf_rollout_rollback(r, 0, "aborted by request", err);
		return rc ? rc : hf_err_set(err, HF_ERR, "run %s aborted by request; rolled back, "
					    "every node restored and verified", r->run->id);
	}
	/* A failure: undo what was applied. */
	emit(r, "error", "%s", err->msg);
	snprintf(why, sizeof(why), "%s", err->msg);
	return roll_back_after(r, why, HF_ERR, "%s; rolled back, every node restored and verified",
			       err);
}

/* A reopened run whose topology changed: named as an event; a node gone
 * from an inventory, or new in it, refuses going forward (the run's waves
 * were planned without it); a node that moved, or a Redis node the seed no
 * longer lists, is reached at its address. */
static int drifted(struct hf_rollout *r, struct hf_err *err)
{
	if (!r->drift || !*r->drift)
		return 0;
	emit(r, "topology", "changed since the run was planned: %s", r->drift);
	if (!r->drift_blocks)
		return 0;
	return hf_err_set(err, HF_EREFUSED, "run %s: the topology changed since it was planned: "
			  "%.1500s; 'hotfix rollback %s' undoes what it did, then plan and apply "
			  "again", r->run->id, r->drift, r->run->id);
}

/* After the baseline: a guard whose Prometheus fails its queries (down,
 * a PromQL error) would hold every bake. Before any node changed the run
 * is refused (HF_EREFUSED, nothing to undo); a resumed run goes on, its
 * bakes holding until Prometheus answers. */
static int guard_sees(struct hf_rollout *r, struct hf_err *err)
{
	const char *why = hf_guard_error(r->guard);
	size_t i;

	if (!why)
		return 0;
	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].state >= HF_STEP_APPLYING) {
			emit(r, "guard", "Prometheus failed a query: %s; the bakes hold until it "
			     "answers", why);
			return 0;
		}
	hf_err_set(err, HF_EREFUSED, "the guard cannot read its metrics: %s", why);
	r->run->pid = 0;
	set_run_state(r, HF_RUN_FAILED, err->msg, NULL);
	emit(r, "run", "%s; no node was changed", err->msg);
	return HF_EREFUSED;
}

int hf_rollout_run(struct hf_rollout *r, struct hf_err *err)
{
	int *round = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*round));
	size_t *idx = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*idx));
	int nwaves = max_wave(r), w, rc = 0, rq = GO;

	if ((rc = audited(r, err)))
		goto out;
	if (r->run->state == HF_RUN_ROLLING_BACK) {
		rc = hf_rollout_rollback(r, 0, "resuming an unfinished rollback", err);
		goto out;
	}
	if ((rc = drifted(r, err)))
		goto out;
	r->run->pid = getpid();
	rc = set_run_state(r, HF_RUN_RUNNING, NULL, err);
	if (!rc && (rc = take_snapshot(r, err)) == HF_EREFUSED) {
		/* Nothing changed: the run ends here, refused. */
		r->run->pid = 0;
		set_run_state(r, HF_RUN_FAILED, err->msg, NULL);
		emit(r, "run", "%s; no node was changed", err->msg);
		goto out;
	}
	if (!rc)
		rq = fence(r, err);   /* settling may apply a step again */
	if (!rc && !rq)
		rc = settle(r, err);
	if (!rc && !rq)
		rq = window_wait(r);
	if (!rc && !rq && !r->m->guard.none) {
		r->guard = hf_guard_new(&r->m->guard, r->c, r->c->timeout_ms);
		/* After a resume the baseline is taken again, changed nodes
		 * included: the journal keeps the first one's description. */
		rq = take_baseline(r, err);
		if (!rq && (rc = guard_sees(r, err)))
			goto out;   /* refused: nothing changed */
	}
	for (w = 1; !rc && !rq && w <= nwaves; w++)
		rc = run_wave(r, w, nwaves, round, idx, &rq, err);
	rc = conclude_run(r, rc, rq, err);
out:
	free(round);
	free(idx);
	return rc;
}

/* ---- backward ------------------------------------------------------- */

static int revertible(const struct hf_step *s, int force)
{
	if (s->state >= HF_STEP_CAPTURING && s->state <= HF_STEP_REVERTING)
		return 1;
	return force && s->state == HF_STEP_CONFLICT;
}

/* Close the run from the state of all its steps, not only of this pass:
 * steps still to revert (nodes that did not answer) keep it rolling back,
 * conflicts and config files that could not be rewritten need a human,
 * anything else is rolled back. */
static int conclude(struct hf_rollout *r, const char *why, int force, long long t0,
		    size_t restored, struct hf_err *err)
{
	struct hf_buf unreach = {0}, conflicts = {0}, warnings = {0};
	char label[160], d[32];
	size_t i;
	int rc = 0;

	for (i = 0; i < r->nsteps; i++) {
		struct hf_step *s = &r->steps[i];

		node_label(r, i, label, sizeof(label));
		if (revertible(s, 0))
			hf_buf_printf(&unreach, "\n  %s: %s", label, s->error ? s->error : "not reverted");
		else if (s->state == HF_STEP_CONFLICT)
			hf_buf_printf(&conflicts, "\n  %s: %s", label, s->error);
		else if (s->state == HF_STEP_REVERTED && s->error)
			hf_buf_printf(&warnings, "\n  %s: %s", label, s->error);
	}
	hf_fmt_duration(hf_mono_ms() - t0, d, sizeof(d));
	r->run->pid = 0;
	if (unreach.len) {
		set_run_state(r, HF_RUN_ROLLING_BACK, "rollback incomplete: steps not reverted", NULL);
		emit(r, "rollback", "rollback incomplete after %s: %zu step(s) restored; not reached:%s",
		     d, restored, unreach.s);
		rc = hf_err_set(err, HF_EHUMAN, "rollback of run %s incomplete: these steps are not "
				"reverted (the node did not answer, or refused) and may still hold the "
				"hotfix:%s%s%s\nrun 'hotfix rollback %s' again once the cause is fixed",
				r->run->id, unreach.s, conflicts.len ? "\nconflicts:" : "",
				conflicts.len ? conflicts.s : "", r->run->id);
	} else if (conflicts.len || warnings.len) {
		set_run_state(r, HF_RUN_FAILED, conflicts.len ? "rollback left conflicts" :
			      "runtime restored, config file not rewritten", NULL);
		emit(r, "rollback", "rolled back in %s except:%s%s", d, conflicts.s ? conflicts.s : "",
		     warnings.s ? warnings.s : "");
		if (conflicts.len)
			rc = hf_err_set(err, HF_EHUMAN, "run %s rolled back except values changed by someone "
					"else since the hotfix, left as they are:%s%s\n'hotfix rollback %s "
					"--force' restores them anyway", r->run->id, conflicts.s,
					warnings.s ? warnings.s : "", r->run->id);
		else
			rc = hf_err_set(err, HF_EHUMAN, "run %s: runtime values restored, but:%s", r->run->id,
					warnings.s);
	} else {
		set_run_state(r, HF_RUN_ROLLED_BACK, why, NULL);
		emit(r, "rollback", "rolled back in %s: %zu step(s) restored, before-state verified on "
		     "every node%s", d, restored, force ? " (forced over conflicts)" : "");
	}
	hf_buf_release(&unreach);
	hf_buf_release(&conflicts);
	hf_buf_release(&warnings);
	return rc;
}

/* A second rollback: nothing to revert, but ask every node anyway, and
 * close a run whose process died between its last step and its end. */
static int verify_reverted(struct hf_rollout *r, struct hf_err *err)
{
	size_t *idx = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*idx));
	size_t i, n = 0;
	struct hf_target *t;
	char *why;
	int rc = 0;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].state == HF_STEP_REVERTED)
			idx[n++] = i;
	t = run_op(r, idx, n, OP_VERIFY_BEFORE, 0);
	why = failures(r, idx, t, n, "no longer holds the before-state (changed since the rollback; left as it is)");
	if (why) {
		rc = hf_err_set(err, HF_EHUMAN, "nothing to revert, but: %s", why);
	} else {
		if (hf_run_state_active(r->run->state) || r->run->state == HF_RUN_FAILED)
			rc = conclude(r, r->run->note, 0, hf_mono_ms(), 0, err);
		if (!rc)
			emit(r, "rollback", "nothing to do: %zu step(s) already reverted, before-state "
			     "verified on every node", n);
	}
	free(why);
	free(t);
	free(idx);
	return rc;
}

/* Revert the 'n' steps 'idx' of wave 'w' in one round and commit what
 * became of them; '*restored' counts the steps restored. */
static int revert_wave(struct hf_rollout *r, int w, const size_t *idx, size_t n, int force,
		       size_t *restored, struct hf_err *err)
{
	struct hf_target *t;
	long long units = 0;
	size_t i;
	int rc;

	rc = commit_steps(r, idx, n, HF_STEP_REVERTING, err);
	if (rc)
		return rc;
	hf_crashpoint("revert");
	t = run_op(r, idx, n, OP_REVERT, force);
	hf_crashpoint("reverted");
	for (i = 0; i < n; i++)
		units += t[i].changed;
	if (units)
		emit(r, "rollback", "wave %d: %lld %s(s) restored", w, units, unit_of(r));
	for (i = 0; i < n; i++) {
		struct hf_step *s = &r->steps[idx[i]];

		if (!t[i].status) {
			s->state = HF_STEP_REVERTED;
			set_step_error(s, t[i].warning[0] ? t[i].warning : NULL);
			if (s->persisted && !t[i].warning[0])
				s->persisted = 0;   /* the file holds the before-state again */
			(*restored)++;
		} else if (t[i].status == HF_ECONFLICT) {
			s->state = HF_STEP_CONFLICT;
			set_step_error(s, t[i].error);
		} else {
			set_step_error(s, t[i].error);
		}
	}
	free(t);
	return save_steps(r, idx, n, err);
}

/* A rollback that lost its lease: the run stays rolling back, for the
 * next holder to finish. */
static int lease_stop(struct hf_rollout *r, struct hf_err *err)
{
	char why[sizeof(err->msg)];

	snprintf(why, sizeof(why), "%s", err->msg);
	r->run->pid = 0;
	set_run_state(r, HF_RUN_ROLLING_BACK, why, NULL);
	return hf_err_set(err, HF_EREFUSED, "rollback of run %s stopped before its next change: %s; "
			  "'hotfix rollback %s' finishes it once the lease is free", r->run->id, why,
			  r->run->id);
}

int hf_rollout_rollback(struct hf_rollout *r, unsigned flags, const char *why, struct hf_err *err)
{
	int force = !!(flags & HF_ROLLBACK_FORCE);
	size_t *idx = hf_xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*idx));
	size_t i, any = 0, restored = 0, untouched = 0;
	long long t0 = hf_mono_ms();
	int w, rc = 0;

	if ((rc = audited(r, err))) {
		free(idx);
		return rc;
	}
	if (r->drift && *r->drift)
		emit(r, "topology", "changed since the run was planned: %s", r->drift);
	for (i = 0; i < r->nsteps; i++)
		any += revertible(&r->steps[i], force);
	if (!any) {
		free(idx);
		return verify_reverted(r, err);
	}
	r->run->pid = getpid();
	rc = set_run_state(r, HF_RUN_ROLLING_BACK, why, err);
	if (rc)
		goto out;
	emit(r, "rollback", "rolling back %zu step(s)%s%s%s", any, why ? " (" : "", why ? why : "",
	     why ? ")" : "");
	/* A step never captured was never applied: nothing to ask its node. */
	for (i = 0; i < r->nsteps; i++) {
		struct hf_step *s = &r->steps[i];

		if (revertible(s, 0) && !s->before) {
			s->state = HF_STEP_REVERTED;
			set_step_error(s, NULL);
			idx[untouched++] = i;
		}
	}
	if (untouched && (rc = save_steps(r, idx, untouched, err)))
		goto out;
	for (w = max_wave(r); w >= 1; w--) {
		size_t n = 0;

		for (i = 0; i < r->nsteps; i++)
			if (r->steps[i].wave == w && revertible(&r->steps[i], force))
				idx[n++] = i;
		if (!n)
			continue;
		if (fence(r, err)) {
			rc = lease_stop(r, err);
			goto out;
		}
		rc = revert_wave(r, w, idx, n, force, &restored, err);
		if (rc)
			goto out;
	}
	rc = conclude(r, why, force, t0, restored, err);
out:
	free(idx);
	return rc;
}
