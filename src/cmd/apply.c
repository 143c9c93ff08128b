/* hotfix apply: show the plan, ask, then roll the hotfix out. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/journal.h"
#include "core/manifest.h"
#include "core/plan.h"
#include "core/rollout.h"
#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/misc.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Stop at the next safe point on Ctrl-C or SIGTERM, leaving a paused run. */
void hf_cmd_catch_signals(volatile sig_atomic_t **flag)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	*flag = &interrupted;
}

static int confirm(const struct hf_plan *p, const struct hf_manifest *m, struct hf_err *err)
{
	char line[32];

	if (!isatty(STDIN_FILENO))
		return hf_err_set(err, HF_EREFUSED, "refusing to apply without confirmation: there is "
				  "no terminal to ask on; pass --yes");
	printf("\napply hotfix %s v%ld to %zu node(s) in %zu wave(s)? [y/N] ", m->name, m->version,
	       p->ntargets, p->nwaves);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || (strcmp(line, "y\n") && strcmp(line, "yes\n")))
		return hf_err_set(err, HF_EREFUSED, "not applied: not confirmed");
	return 0;
}

/* The plan digest an approval signs, for the audit record. */
static char *plan_digest(const struct hf_plan *p)
{
	char hex[65];

	hf_plan_digest(p, hex);
	return hf_xstrdup(hex);
}

/* The policy's say on an apply of plan 'p' to 'c' (the actor into 'g'),
 * then the drill gate's (into 'gate'), then the manifest's preflight
 * checks (exit 5 when a dependency is not healthy). */
static int policy_check(struct hf_ctx *ctx, const struct hf_manifest *m,
			const struct hf_cluster *c, const struct hf_plan *p,
			const struct hf_apply_opts *o, struct hf_cmd_govern *g,
			struct hf_cmd_gate *gate, struct hf_err *err)
{
	char *uri = hf_uri_redacted(&c->uri);
	int rc = hf_cmd_govern(ctx, HF_ACT_APPLY, uri, g, err);

	if (!rc)
		rc = hf_cmd_govern_apply(g, m, c, p, o, err);
	if (!rc)
		rc = hf_cmd_gate_apply(ctx, g, m, o, gate, err);
	if (!rc)
		rc = hf_preflight_run(m, err);
	free(uri);
	return rc;
}

/* The actor, the emergency, the approvals and the drill gate, as events
 * of run 'r'. */
static void govern_run(struct hf_cmd_govern *g, const struct hf_cmd_gate *gate,
		       struct hf_rollout *r, const struct hf_apply_opts *o)
{
	hf_cmd_govern_run(g, r, "apply", o->reason);
	hf_cmd_gate_record(gate, r);
}

/* The cluster's lease for the apply of plan 'p', before its run exists. */
static int gov_lease(struct hf_ctx *ctx, struct hf_cmd_gov *gov, const struct hf_cmd_govern *g,
		     struct hf_journal *j, const struct hf_manifest *m, const struct hf_cluster *c,
		     const struct hf_plan *p, struct hf_err *err)
{
	gov->j = j;
	gov->manifest_sha256 = m->sha256;
	gov->plan_digest = plan_digest(p);
	gov->who = g;
	return hf_cmd_gov_lease(ctx, gov, &c->uri, "", err);
}

/* The audit record "started" of run 'r' (its why: the manifest's problem,
 * or the override); the run is failed, "not started", when it cannot be. */
static int gov_start(struct hf_ctx *ctx, struct hf_cmd_gov *gov, const struct hf_cmd_govern *g,
		     const struct hf_apply_opts *o, struct hf_rollout *r, struct hf_err *err)
{
	char *why = NULL;
	int rc;

	if (g->emergency)
		why = hf_xasprintf("emergency override: %s", o->reason);
	else if (g->kill_switch)
		why = hf_xasprintf("kill switch (no approvals, no windows): %s", r->m->problem);
	rc = hf_cmd_gov_start(ctx, gov, r, why ? why : r->m->problem, err);
	free(why);
	if (!rc)
		return 0;
	r->run->state = HF_RUN_FAILED;
	free(r->run->note);
	r->run->note = hf_xasprintf("not started: %s", err->msg);
	hf_journal_run_update(r->j, r->run, NULL);
	return rc;
}

static const char usage[] =
	"usage: hotfix apply FILE [--cluster URI] [--yes] [--notify URL] [--otlp URL] [--json] [-q]\n"
	"                         [--approval FILE]... [--emergency --reason TEXT]\n"
	"                         [--require-drill DURATION]\n"
	"Shows the plan, asks for confirmation (or takes --yes), then rolls the hotfix\n"
	"out wave by wave: capture, apply and verify on each node, bake between waves.\n"
	"A failure rolls back what was applied. Ctrl-C stops at the next safe point\n"
	"and leaves the run paused ('hotfix resume RUN' or 'hotfix rollback RUN').\n"
	"--notify URL posts each phase change to a Slack-compatible webhook, as\n"
	"the manifest's notify: does (both when both are given).\n"
	"--otlp URL exports the run, its waves, steps and verdicts as OpenTelemetry\n"
	"spans to the OTLP/HTTP collector at URL (POST URL/v1/traces).\n"
	"Under a policy (--policy, $HOTFIX_POLICY): --sign-key KEY says who applies;\n"
	"--approval FILE (repeatable) brings approvals made by 'hotfix approve';\n"
	"--emergency --reason TEXT overrides windows and approvals (allowed roles only).\n"
	"Outside a maintenance window the run pauses and goes on when it opens.\n"
	"--require-drill DURATION refuses (exit 5) unless the same manifest (its\n"
	"SHA-256) passed a 'hotfix drill' within DURATION (\"24h\"); a policy's\n"
	"require_drill does the same (the shorter bound holds; --emergency skips\n"
	"the policy's, not the command line's).\n";

int hf_cmd_apply_manifest(struct hf_ctx *ctx, struct hf_manifest *m,
			  const struct hf_apply_opts *o, struct hf_err *err)
{
	struct hf_cmd_notify cn = {0};
	struct hf_cmd_gov gov = { .action = "apply" };
	char *started = NULL;
	struct hf_cluster *c = NULL;
	struct hf_plan *p = NULL;
	struct hf_journal *j = NULL;
	struct hf_rollout *r = NULL;
	struct hf_live live = {0};
	struct hf_cmd_govern g = {0};
	struct hf_cmd_gate gate = {0};
	int rc;

	if ((rc = hf_cmd_plan_for(ctx, m, o->cluster, &c, &p, err)))
		goto out;
	if (!ctx->json && !ctx->quiet) {
		hf_cmd_print_plan(stdout, m, c, p);
		hf_cmd_print_policy(stdout, ctx, c, p, m);
	}
	if (!p->nsteps) {
		if (ctx->json)
			puts("{\"run\": null, \"state\": \"nothing_to_do\", \"exit_code\": 0}");
		goto out;
	}
	/* Policy: role, emergency, approvals, drill; preflight; refused before
	 * any journal. */
	rc = policy_check(ctx, m, c, p, o, &g, &gate, err);
	if (rc)
		goto out;
	if (!o->yes && (rc = confirm(p, m, err)))
		goto out;
	rc = hf_cmd_journal(ctx, &j, err);
	if (rc)
		goto out;
	/* Governance (issue 13): the cluster's lease before the run is
	 * journaled; the audit record before its first change. */
	rc = gov_lease(ctx, &gov, &g, j, m, c, p, err);
	if (rc)
		goto out;
	rc = hf_rollout_create(j, m, c, p, &r, err);
	if (rc)
		goto out;
	m = NULL;   /* owned by the rollout now */
	c = NULL;
	rc = gov_start(ctx, &gov, &g, o, r, err);
	if (rc)
		goto out;
	if (!ctx->json && !ctx->quiet)
		printf("\nrun %s\n", r->run->id);
	live.ctx = ctx;
	live.r = r;
	r->event = hf_cmd_live_event;
	r->progress = hf_cmd_live_progress;
	r->ud = &live;
	/* The run's own "started" event was emitted before any callback. */
	started = hf_xasprintf("run %s started by %s: %zu node(s) in %zu wave(s) on %s", r->run->id,
			       r->run->operator, p->ntargets, p->nwaves, r->run->cluster);
	govern_run(&g, &gate, r, o);
	rc = hf_cmd_notify_start(&cn, r, o->notify, o->otlp, "started", started, err);
	if (rc)
		goto out;
	hf_cmd_catch_signals(&r->interrupted);
	rc = hf_rollout_run(r, err);
	if (ctx->json)
		hf_cmd_print_run_json(r, rc, err);
	else if (!rc && !ctx->quiet)
		printf("\nrun %s promoted: %zu step(s) applied and verified\n", r->run->id, r->nsteps);
out:
	if (gov.j)
		hf_cmd_gov_end(&gov, r, rc, err);
	hf_cmd_notify_finish(&cn, ctx);
	hf_cmd_govern_release(&g);
	free(started);
	hf_rollout_free(r);
	hf_journal_close(j);
	hf_plan_free(p);
	hf_cluster_free(c);
	hf_manifest_free(m);
	return rc;
}

int cmd_apply(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_apply_opts o = {0};
	const char *pos[1];
	const struct hf_opt opts[] = { { "cluster", &o.cluster, NULL }, { "yes", NULL, &o.yes },
				       { "notify", &o.notify, NULL }, { "otlp", &o.otlp, NULL },
				       { "emergency", NULL, &o.emergency }, { "reason", &o.reason, NULL },
				       { "require-drill", &o.require_drill, NULL }, { 0 } };
	struct hf_manifest *m = NULL;
	int npos, help, rc;

	rc = hf_opts_take_list(&argc, argv, "approval", &o.approvals, err);
	if (!rc)
		rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		fputs(usage, help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "apply: no manifest given");
	}
	if (o.notify && !hf_notify_url_ok(o.notify))
		return hf_err_set(err, HF_EINVAL, "invalid --notify '%s' (expected an http:// or "
				  "https:// URL)", o.notify);
	if ((rc = hf_cmd_otlp_check(o.otlp, err)))
		return rc;
	if (o.emergency && (!o.reason || !*o.reason))
		return hf_err_set(err, HF_EINVAL, "apply: --emergency needs --reason TEXT");
	if (o.require_drill && (hf_duration_parse(o.require_drill, &o.require_drill_ms) ||
				o.require_drill_ms <= 0))
		return hf_err_set(err, HF_EINVAL, "option '--require-drill': '%s' is no duration "
				  "(\"24h\", \"30m\"; 168h at most)", o.require_drill);
	o.gated = 1;
	rc = hf_manifest_load(pos[0], &m, err);
	return rc ? rc : hf_cmd_apply_manifest(ctx, m, &o, err);
}
