/* Governance for the commands: load the policy, identify the actor by the
 * signing key, check roles, verify the approvals an apply brings, hand the
 * maintenance windows to the driver of a run, and say in 'hotfix plan'
 * what an apply will require. The decisions are core/policy.c's and
 * core/approval.c's; this file only gathers their inputs and words. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "core/approval.h"
#include "core/journal.h"
#include "core/plan.h"
#include "core/rollout.h"
#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/misc.h"

#define APPROVAL_MAX_BYTES (1 << 20)
/* When a closed window opens, in a paused run's note: UTC, ISO 8601. */
#define UNTIL_FMT "%Y-%m-%dT%H:%M:%SZ"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int hf_cmd_policy_init(struct hf_ctx *ctx, struct hf_err *err)
{
	if (!ctx->policy_file)
		ctx->policy_file = env("HOTFIX_POLICY");
	if (!ctx->sign_key_file)
		ctx->sign_key_file = env("HOTFIX_SIGN_KEY");
	if (!ctx->policy_file)
		return 0;
	return hf_policy_load(ctx->policy_file, &ctx->policy, err);
}

static const char *action_name(enum hf_policy_action a)
{
	static const char *const names[] = { "plan", "apply", "roll back", "approve",
					     "use --emergency" };

	return names[a];
}

int hf_cmd_govern(struct hf_ctx *ctx, enum hf_policy_action a, const char *uri,
		  struct hf_cmd_govern *g, struct hf_err *err)
{
	const struct hf_policy *pol = ctx->policy;
	char roles[64], need[64];
	int rc;

	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	if (ctx->sign_key_file &&
	    (rc = hf_key_load(ctx->sign_key_file, HF_KEY_PRIVATE, &g->key, err)))
		return rc;
	g->id = hf_policy_identity_of(pol, g->key);
	hf_policy_actor_set(&g->actor, g->id);
	if (!pol)
		return 0;
	if (!g->key)
		return hf_err_set(err, HF_EREFUSED, "policy '%s' governs this: say who you are with "
				  "--sign-key KEY (or $HOTFIX_SIGN_KEY)", pol->path);
	if (!g->id) {
		char kid[HF_KEYID_HEX];

		hf_key_id(g->key, kid);
		return hf_err_set(err, HF_EREFUSED, "the key '%s' (id %s) is no identity of policy "
				  "'%s'", ctx->sign_key_file, kid, pol->path);
	}
	g->pc = hf_policy_cluster_for(pol, uri);
	if (!g->pc && a != HF_ACT_ROLLBACK)
		return hf_err_set(err, HF_EREFUSED, "policy '%s' has no entry for cluster %s: nobody "
				  "may %s there (add a 'clusters' entry whose match covers it)",
				  pol->path, uri, action_name(a));
	if (!hf_policy_allows(g->id->roles, a, g->pc))
		return hf_err_set(err, HF_EREFUSED, "%s (role %s) may not %s on %s: role %s needed",
				  g->id->name, hf_policy_roles_text(g->id->roles, roles, sizeof(roles)),
				  action_name(a), uri,
				  hf_policy_roles_text(hf_policy_roles_for(a, g->pc), need, sizeof(need)));
	return 0;
}

void hf_cmd_govern_release(struct hf_cmd_govern *g)
{
	hf_key_free(g->key);
	g->key = NULL;
}

static int read_small(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct hf_buf b = {0};
	char chunk[8192];
	size_t n;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len + n <= APPROVAL_MAX_BYTES)
		hf_buf_append(&b, chunk, n);
	if (n || ferror(f)) {
		fclose(f);
		hf_buf_release(&b);
		return -1;
	}
	fclose(f);
	*len = b.len;
	*out = b.s ? hf_buf_detach(&b) : hf_xstrdup("");
	return 0;
}

/* Judge each --approval file against the plan recomputed now. */
static size_t judge(struct hf_cmd_govern *g, const struct hf_approval_subject *now,
		    const struct hf_apply_opts *o, struct hf_approval_check *v)
{
	long long t = hf_policy_now();
	size_t i, count;

	for (i = 0; i < (size_t)o->approvals.n; i++) {
		char *text = NULL;
		size_t len = 0;

		if (read_small(o->approvals.v[i], &text, &len)) {
			memset(&v[i], 0, sizeof(v[i]));
			snprintf(v[i].why, sizeof(v[i].why), "cannot read it");
			continue;
		}
		hf_approval_check(text, len, g->ctx->policy, now, g->id->name, t, &v[i]);
		free(text);
	}
	count = hf_approval_count(v, (size_t)o->approvals.n);
	for (i = 0; i < (size_t)o->approvals.n; i++)
		if (v[i].counts)
			snprintf(g->approvers + strlen(g->approvers),
				 sizeof(g->approvers) - strlen(g->approvers), "%s%s",
				 g->approvers[0] ? ", " : "", v[i].approver);
	return count;
}

int hf_cmd_govern_apply(struct hf_cmd_govern *g, const struct hf_manifest *m,
			const struct hf_cluster *c, const struct hf_plan *p,
			const struct hf_apply_opts *o, struct hf_err *err)
{
	struct hf_approval_check v[HF_OPTLIST_MAX];
	struct hf_approval_subject now;
	struct hf_buf b = {0};
	size_t count, i;
	char roles[64], allowed[64];

	if (o->emergency && (!o->reason || !*o->reason))
		return hf_err_set(err, HF_EINVAL, "apply: --emergency needs --reason TEXT");
	if (!g->ctx->policy)
		return 0;
	if (o->emergency && !hf_policy_allows(g->id->roles, HF_ACT_EMERGENCY, g->pc))
		return hf_err_set(err, HF_EREFUSED, "%s (role %s) may not use --emergency on cluster "
				  "'%s' (allowed: %s)", g->id->name,
				  hf_policy_roles_text(g->id->roles, roles, sizeof(roles)), g->pc->match,
				  g->pc->emergency ? hf_policy_roles_text(g->pc->emergency, allowed,
									  sizeof(allowed)) : "nobody");
	if (o->emergency) {
		g->emergency = 1;
		return 0;
	}
	/* The kill switch: the role of an operator (hf_cmd_govern()) and a
	 * reason; it waits for no approval and no window. */
	if (o->kill_switch) {
		if (!o->reason || !*o->reason)
			return hf_err_set(err, HF_EINVAL, "flag kill: policy '%s' governs this: say "
					  "why with --reason TEXT (the audit trail keeps it)",
					  g->ctx->policy->path);
		g->kill_switch = 1;
		return 0;
	}
	if (!g->pc->approvals && !o->approvals.n)
		return 0;
	hf_approval_subject_init(&now, m, c, p);
	count = judge(g, &now, o, v);
	hf_approval_subject_release(&now);
	if (count >= (size_t)g->pc->approvals)
		return 0;
	hf_buf_printf(&b, "apply refused: cluster '%s' needs %d approval(s) by approvers other "
		      "than %s, %zu count; nothing was changed", g->pc->match, g->pc->approvals,
		      g->id->name, count);
	for (i = 0; i < (size_t)o->approvals.n; i++)
		hf_buf_printf(&b, "\n  %s: %s%s%s", o->approvals.v[i],
			      v[i].approver[0] ? v[i].approver : "approval",
			      v[i].counts ? "'s approval counts" : "'s approval does not count: ",
			      v[i].counts ? "" : v[i].why);
	if (!o->approvals.n)
		hf_buf_printf(&b, "\n  no approval given: 'hotfix approve FILE --out A.json' by an "
			      "approver, then 'hotfix apply FILE --approval A.json'");
	hf_err_set(err, HF_EREFUSED, "%s", b.s);
	hf_buf_release(&b);
	return HF_EREFUSED;
}

/* The rollout's window hook: open now, or why not and until when. */
static int window_cb(void *ud, char *why, size_t len)
{
	struct hf_cmd_govern *g = ud;
	const struct hf_policy_window *w = NULL;
	long long t = hf_policy_now(), next;
	char when[96], utc[32];
	struct tm tm;

	if (hf_policy_window_open(g->pc, t, NULL))
		return 1;
	next = hf_policy_next_open(g->pc, t, &w);
	if (next < 0) {
		snprintf(why, len, "outside the maintenance windows of '%s': none opens within eight "
			 "days", g->pc->match);
		return 0;
	}
	hf_policy_fmt_local(next, w->tz, when, sizeof(when));
	strftime(utc, sizeof(utc), UNTIL_FMT, gmtime_r(&(time_t){ (time_t)next }, &tm));
	snprintf(why, len, "outside the maintenance window (%s), opens %s (%s)", w->text, when, utc);
	return 0;
}

int hf_cmd_window_until(const char *note, char out[32], long long *ms)
{
	const char *p = note ? strrchr(note, '(') : NULL;
	struct tm tm = {0};
	const char *end;

	if (!note || strncmp(note, "outside the maintenance window", 30) || !p)
		return 0;
	end = strptime(p + 1, UNTIL_FMT, &tm);
	if (!end || strcmp(end, ")"))
		return 0;
	snprintf(out, 32, "%.*s", (int)(end - p - 1), p + 1);
	*ms = (long long)timegm(&tm) * 1000;
	return 1;
}

static void record(struct hf_rollout *r, const char *kind, const char *msg)
{
	hf_journal_event(r->j, r->run->id, kind, "%s", msg);
	if (r->event)
		r->event(r->ud, kind, msg);
}

void hf_cmd_govern_run(struct hf_cmd_govern *g, struct hf_rollout *r, const char *what,
		       const char *reason)
{
	const struct hf_policy *pol = g->ctx->policy;
	char who[256], *msg;

	hf_policy_actor_text(&g->actor, who, sizeof(who));
	if (!pol)
		msg = hf_xasprintf("%s by %s; no policy", what, who);
	else
		msg = hf_xasprintf("%s by %s under policy %s (sha256 %.12s)%s%s", what, who,
				   pol->path, pol->sha256, g->approvers[0] ? "; approved by " : "",
				   g->approvers);
	record(r, "policy", msg);
	free(msg);
	if (g->emergency) {
		msg = hf_xasprintf("emergency override by %s: %s; maintenance windows and approvals "
				   "are skipped", g->actor.name, reason);
		record(r, "emergency", msg);
		free(msg);
	} else if (g->kill_switch) {
		msg = hf_xasprintf("kill switch by %s: %s; maintenance windows and approvals are "
				   "skipped", g->actor.name, reason);
		record(r, "kill", msg);
		free(msg);
	} else if (pol && g->pc && g->pc->nwindows) {
		r->window = window_cb;
		r->window_ud = g;
	}
}

/* ---- what 'hotfix plan' says ---------------------------------------- */

static void print_windows(FILE *f, const struct hf_policy_cluster *pc)
{
	long long t = hf_policy_now(), next;
	const struct hf_policy_window *w;
	char when[96];
	size_t i;

	if (!pc->nwindows) {
		fprintf(f, "  windows: none (always open)\n");
		return;
	}
	for (i = 0; i < pc->nwindows; i++)
		fprintf(f, "  window: %s\n", pc->windows[i].text);
	if (hf_policy_window_open(pc, t, &w)) {
		fprintf(f, "  now: open (%s)\n", w->text);
		return;
	}
	next = hf_policy_next_open(pc, t, &w);
	if (next >= 0)
		hf_policy_fmt_local(next, w->tz, when, sizeof(when));
	fprintf(f, "  now: closed: an apply waits, paused, until %s\n",
		next >= 0 ? when : "(no window opens within eight days)");
}

void hf_cmd_print_policy(FILE *f, struct hf_ctx *ctx, const struct hf_cluster *c,
			 const struct hf_plan *p, const struct hf_manifest *m)
{
	char digest[65], topo[65], roles[64], *uri = hf_uri_redacted(&c->uri);
	const struct hf_policy_cluster *pc = hf_policy_cluster_for(ctx->policy, uri);

	(void)m;
	hf_plan_digest(p, digest);
	hf_topology_hash(c, topo);
	fprintf(f, "\nplan digest %.12s  topology %.12s\n", digest, topo);
	if (!ctx->policy) {
		fprintf(f, "policy: none: anyone who can reach the cluster may change it\n");
	} else if (!pc) {
		fprintf(f, "policy: %s has no entry for %s: apply refused; rollback allowed to any "
			"identity of the policy\n", ctx->policy->path, uri);
	} else {
		fprintf(f, "policy: %s, cluster entry '%s'\n", ctx->policy->path, pc->match);
		fprintf(f, "  apply: an identity with role operator or admin (--sign-key)\n");
		fprintf(f, "  approvals: %d, signed by approvers other than the author\n",
			pc->approvals);
		print_windows(f, pc);
		fprintf(f, "  emergency (--emergency --reason): %s\n", pc->emergency ?
			hf_policy_roles_text(pc->emergency, roles, sizeof(roles)) : "nobody");
	}
	free(uri);
}

void hf_cmd_policy_json(struct json_t *doc, struct hf_ctx *ctx, const struct hf_cluster *c,
			const struct hf_plan *p)
{
	char digest[65], topo[65], roles[64], *uri = hf_uri_redacted(&c->uri);
	const struct hf_policy_cluster *pc = hf_policy_cluster_for(ctx->policy, uri);
	json_t *pj = json_null(), *wins;
	size_t i;

	hf_plan_digest(p, digest);
	hf_topology_hash(c, topo);
	json_object_set_new(doc, "plan_digest", json_string(digest));
	json_object_set_new(doc, "topology_hash", json_string(topo));
	if (ctx->policy) {
		pj = json_pack("{s:s,s:s,s:b}", "file", ctx->policy->path, "sha256",
			       ctx->policy->sha256, "matched", pc != NULL);
		if (pc) {
			wins = json_array();
			for (i = 0; i < pc->nwindows; i++)
				json_array_append_new(wins, json_string(pc->windows[i].text));
			json_object_set_new(pj, "match", json_string(pc->match));
			json_object_set_new(pj, "approvals", json_integer(pc->approvals));
			json_object_set_new(pj, "windows", wins);
			json_object_set_new(pj, "window_open", json_boolean(
				hf_policy_window_open(pc, hf_policy_now(), NULL)));
			json_object_set_new(pj, "emergency", json_string(hf_policy_roles_text(
				pc->emergency, roles, sizeof(roles))));
		}
	}
	json_object_set_new(doc, "policy", pj);
	free(uri);
}

/* ---- commands on a recorded run -------------------------------------- */

int hf_cmd_govern_open(struct hf_ctx *ctx, struct hf_rollout *r, enum hf_policy_action a,
		       const char *what, struct hf_cmd_govern *g, struct hf_err *err)
{
	int rc = hf_cmd_govern(ctx, a, r->run->cluster, g, err);

	if (!rc)
		hf_cmd_govern_run(g, r, what, NULL);
	return rc;
}

int hf_cmd_govern_request(struct hf_ctx *ctx, struct hf_journal *j, const char *name,
			  struct hf_cmd_govern *g, struct hf_err *err)
{
	struct hf_run *run = NULL;
	int rc;

	memset(g, 0, sizeof(*g));
	hf_policy_actor_set(&g->actor, NULL);
	if (!ctx->policy)
		return 0;
	rc = hf_journal_run_load(j, name, &run, NULL, NULL, err);
	if (!rc)
		rc = hf_cmd_govern(ctx, HF_ACT_APPLY, run->cluster, g, err);
	if (!rc)
		hf_journal_event(j, run->id, "policy", "request by %s",
				 hf_policy_actor_text(&g->actor, (char[256]){0}, 256));
	hf_run_free(run);
	return rc;
}
