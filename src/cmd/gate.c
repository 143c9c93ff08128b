/* The drill gate (issue 14): an apply needs the newest drill of its
 * manifest to have passed within a bound (the policy's require_drill,
 * apply --require-drill, the shorter when both); 'hotfix plan' shows that
 * drill and what the gate would say now. The verdict is core/policy.c's,
 * the drill the journal's; this file gathers them and words them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd/cmd.h"
#include "core/journal.h"
#include "core/policy.h"
#include "core/rollout.h"
#include "util/misc.h"

int hf_cmd_drill_newest(struct hf_ctx *ctx, const char *sha256, struct hf_cmd_drill *d,
			struct hf_err *err)
{
	char *path = hf_xasprintf("%s/journal.db", ctx->state_dir ? ctx->state_dir : ".");
	struct hf_journal *j = NULL;
	struct stat st;
	char *json = NULL;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	/* No journal: never drilled; 'plan' creates no state directory. */
	if (!stat(path, &st))
		rc = hf_cmd_journal(ctx, &j, err);
	if (!rc && j)
		rc = hf_journal_drill_newest(j, sha256, &d->ts_ms, &d->passed, &json, err);
	hf_journal_close(j);
	free(path);
	if (rc < 0)
		return rc;
	d->found = rc == 1;
	d->age_ms = d->found ? hf_wall_ms() - d->ts_ms : 0;
	d->doc = json ? json_loads(json, 0, NULL) : NULL;
	free(json);
	return 0;
}

void hf_cmd_drill_release(struct hf_cmd_drill *d)
{
	json_decref(d->doc);
	d->doc = NULL;
}

void hf_cmd_gate_bound(const struct hf_ctx *ctx, const struct hf_policy_cluster *pc,
		       const char *cli, long long cli_ms, const char *skip_by, struct hf_cmd_gate *g)
{
	memset(g, 0, sizeof(*g));
	if (cli && cli_ms > 0) {
		g->bound_ms = cli_ms;
		snprintf(g->source, sizeof(g->source), "--require-drill %s", cli);
	}
	if (!ctx->policy || !pc || pc->require_drill_ms <= 0)
		return;
	if (skip_by) {
		snprintf(g->skipped, sizeof(g->skipped), "require_drill %s of policy %s (cluster "
			 "'%s') skipped by %s", pc->require_drill, ctx->policy->path, pc->match, skip_by);
		return;
	}
	if (g->bound_ms && g->bound_ms <= pc->require_drill_ms)
		return;   /* the command line's is the stricter */
	g->bound_ms = pc->require_drill_ms;
	snprintf(g->source, sizeof(g->source), "policy %s (cluster '%s'): require_drill %s",
		 ctx->policy->path, pc->match, pc->require_drill);
}

static void fmt_age(long long ms, char *out, size_t len);

int hf_cmd_gate_check(const struct hf_cmd_gate *g, const struct hf_cmd_drill *d,
		      const char *sha256, struct hf_err *err)
{
	char ago[32];

	fmt_age(d->age_ms, ago, sizeof(ago));
	switch (hf_policy_drill_verdict(g->bound_ms, d->found, d->passed, d->age_ms)) {
	case HF_DRILL_OK:
		return 0;
	case HF_DRILL_NEVER:
		return hf_err_set(err, HF_EREFUSED, "apply: %s: this manifest (sha256 %.12s) was "
				  "never drilled ('hotfix drill')", g->source, sha256);
	case HF_DRILL_FAILED:
		return hf_err_set(err, HF_EREFUSED, "apply: %s: the last drill of this manifest, "
				  "%s ago, failed", g->source, ago);
	case HF_DRILL_TOO_OLD:
		return hf_err_set(err, HF_EREFUSED, "apply: %s: the last passed drill of this "
				  "manifest is %s old", g->source, ago);
	}
	return 0;
}

int hf_cmd_gate_apply(struct hf_ctx *ctx, const struct hf_cmd_govern *g,
		      const struct hf_manifest *m, const struct hf_apply_opts *o,
		      struct hf_cmd_gate *gate, struct hf_err *err)
{
	struct hf_cmd_drill d;
	int rc;

	hf_cmd_gate_bound(ctx, o->gated ? g->pc : NULL, o->require_drill, o->require_drill_ms,
			  g->emergency ? "the emergency override" : NULL, gate);
	if (!gate->bound_ms)
		return 0;
	rc = hf_cmd_drill_newest(ctx, m->sha256, &d, err);
	if (!rc)
		rc = hf_cmd_gate_check(gate, &d, m->sha256, err);
	if (!rc)
		fmt_age(d.age_ms, gate->age, sizeof(gate->age));
	hf_cmd_drill_release(&d);
	return rc;
}

void hf_cmd_gate_record(const struct hf_cmd_gate *gate, struct hf_rollout *r)
{
	char *msg;

	if (!gate->skipped[0] && !gate->bound_ms)
		return;
	msg = hf_xasprintf("drill gate: %s%s%s%s%s%s", gate->skipped,
			   gate->skipped[0] && gate->bound_ms ? "; " : "",
			   gate->bound_ms ? gate->source : "",
			   gate->bound_ms ? ": the last drill of this manifest passed " : "",
			   gate->bound_ms ? gate->age : "", gate->bound_ms ? " ago" : "");
	hf_journal_event(r->j, r->run->id, "drill", "%s", msg);
	if (r->event)
		r->event(r->ud, "drill", msg);
	free(msg);
}

/* ---- what 'hotfix plan' shows --------------------------------------- */

/* A short age for people: "42s", "3m12s", "5h02m", "2d03h". */
static void fmt_age(long long ms, char *out, size_t len)
{
	long long s = ms / 1000;

	if (s < 60)
		snprintf(out, len, "%llds", s < 0 ? 0 : s);
	else if (s < 3600)
		snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static const char *const verdict_names[] = { "ok", "never_drilled", "failed", "too_old" };

/* The gate 'hotfix plan' shows: the policy's bound on cluster 'c'. */
static enum hf_policy_drill plan_gate(struct hf_ctx *ctx, const struct hf_cluster *c,
				      const struct hf_cmd_drill *d, struct hf_cmd_gate *g)
{
	char *uri = hf_uri_redacted(&c->uri);

	hf_cmd_gate_bound(ctx, hf_policy_cluster_for(ctx->policy, uri), NULL, 0, NULL, g);
	free(uri);
	return hf_policy_drill_verdict(g->bound_ms, d->found, d->passed, d->age_ms);
}

static void iso_utc(long long ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static json_int_t int_at(json_t *doc, const char *obj, const char *key)
{
	json_t *o = obj ? json_object_get(doc, obj) : doc;

	return json_integer_value(json_object_get(o, key));
}

static void print_drill_doc(FILE *f, json_t *doc)
{
	json_t *fault, *fp = json_object_get(doc, "fingerprint");
	size_t i;

	fprintf(f, "  faults:");
	json_array_foreach(json_object_get(doc, "faults"), i, fault)
		fprintf(f, "%s %s@%s (%s)", i ? "," : "", json_string_value(json_object_get(fault, "fault")),
			json_string_value(json_object_get(fault, "during")),
			json_is_true(json_object_get(fault, "ok")) ? "ok" : "NOT ok");
	fprintf(f, "\n  apply exit %d, rollback exit %d; fingerprint %s; writes %lld acknowledged, "
		"%lld lost; replicas %s\n", (int)int_at(doc, NULL, "apply_exit"),
		(int)int_at(doc, "rollback", "exit"),
		json_is_true(json_object_get(fp, "equal")) ? "equal" : "DIFFERS",
		(long long)int_at(doc, "writes", "acknowledged"), (long long)int_at(doc, "writes", "lost"),
		json_is_true(json_object_get(doc, "converged")) ? "converged" : "did NOT converge");
}

void hf_cmd_print_drill(FILE *f, struct hf_ctx *ctx, const struct hf_manifest *m,
			const struct hf_cluster *c)
{
	struct hf_cmd_drill d;
	struct hf_cmd_gate g;
	enum hf_policy_drill v;
	char age[32], at[32], left[32];

	if (hf_cmd_drill_newest(ctx, m->sha256, &d, &(struct hf_err){0})) {
		fprintf(f, "drill: unknown (the journal cannot be read)\n");
		return;
	}
	v = plan_gate(ctx, c, &d, &g);
	fmt_age(d.age_ms, age, sizeof(age));
	iso_utc(d.ts_ms, at);
	if (!d.found)
		fprintf(f, "drill: never drilled (manifest sha256 %.12s): 'hotfix drill FILE --mirror "
			"DIR'\n", m->sha256);
	else
		fprintf(f, "drill: %s %s ago (%s), manifest sha256 %.12s\n", d.passed ? "passed" :
			"FAILED", age, at, m->sha256);
	if (d.doc)
		print_drill_doc(f, d.doc);
	fmt_age(g.bound_ms - d.age_ms, left, sizeof(left));
	if (!g.bound_ms)
		fprintf(f, "  gate: none (the policy asks no drill here; apply --require-drill "
			"DURATION asks one)\n");
	else if (v == HF_DRILL_OK)
		fprintf(f, "  gate: %s: an apply is allowed now (for %s more)\n", g.source, left);
	else
		fprintf(f, "  gate: %s: an apply is refused now (%s)\n", g.source,
			v == HF_DRILL_NEVER ? "never drilled" : v == HF_DRILL_FAILED ?
			"the last drill failed" : "the last passed drill is too old");
	hf_cmd_drill_release(&d);
}

/* The newest drill as plan --json shows it, or null. */
static json_t *drill_json(const struct hf_cmd_drill *d)
{
	json_t *faults, *fault, *out;
	char at[32];
	size_t i;

	if (!d->found)
		return json_null();
	faults = json_array();
	iso_utc(d->ts_ms, at);
	json_array_foreach(json_object_get(d->doc, "faults"), i, fault)
		json_array_append_new(faults, json_pack("{s:O*,s:O*,s:O*,s:O*}", "fault",
			json_object_get(fault, "fault"), "during", json_object_get(fault, "during"),
			"ok", json_object_get(fault, "ok"), "outcome", json_object_get(fault, "outcome")));
	out = json_pack("{s:b,s:s,s:I,s:o}", "passed", d->passed, "at", at,
			"age_s", (json_int_t)(d->age_ms / 1000), "faults", faults);
	json_object_set_new(out, "apply_exit", json_integer(int_at(d->doc, NULL, "apply_exit")));
	json_object_set_new(out, "rollback_exit", json_integer(int_at(d->doc, "rollback", "exit")));
	json_object_set_new(out, "fingerprint_equal", json_boolean(json_is_true(json_object_get(
		json_object_get(d->doc, "fingerprint"), "equal"))));
	json_object_set_new(out, "writes_lost", json_integer(int_at(d->doc, "writes", "lost")));
	json_object_set_new(out, "converged", json_boolean(json_is_true(json_object_get(d->doc,
		"converged"))));
	return out;
}

void hf_cmd_drill_json(struct json_t *doc, struct hf_ctx *ctx, const struct hf_manifest *m,
		       const struct hf_cluster *c)
{
	struct hf_cmd_drill d;
	struct hf_cmd_gate g;
	enum hf_policy_drill v;

	if (hf_cmd_drill_newest(ctx, m->sha256, &d, &(struct hf_err){0})) {
		json_object_set_new(doc, "drill", json_null());
		json_object_set_new(doc, "drill_gate", json_null());
		return;
	}
	v = plan_gate(ctx, c, &d, &g);
	json_object_set_new(doc, "drill", drill_json(&d));
	json_object_set_new(doc, "drill_gate", !g.bound_ms ? json_null() :
		json_pack("{s:I,s:I,s:s,s:b,s:s}", "bound_s", (json_int_t)(g.bound_ms / 1000),
			  "bound_ms", (json_int_t)g.bound_ms, "source", g.source, "ok", v == HF_DRILL_OK, "verdict", verdict_names[v]));
	hf_cmd_drill_release(&d);
}
