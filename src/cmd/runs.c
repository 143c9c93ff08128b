/* The commands that act on a recorded run: rollback, resume, abort, pause,
 * continue, status and history. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/journal.h"
#include "core/request.h"
#include "core/rollout.h"
#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/misc.h"

/* Open the journal and the run 'id', with the cluster reached through
 * --cluster when given (it brings the password), else the recorded URI. */
static int open_run(struct hf_ctx *ctx, const char *id, const char *cluster,
		    struct hf_journal **j, struct hf_rollout **r, struct hf_err *err)
{
	struct hf_uri uri = {0};
	int rc;

	rc = hf_cmd_journal(ctx, j, err);
	if (rc)
		return rc;
	if (cluster && (rc = hf_uri_parse(cluster, &uri, err)))
		return rc;
	rc = hf_rollout_open(*j, id, cluster ? &uri : NULL, ctx->timeout_ms, ctx->converge_ms, r,
			     err);
	hf_uri_release(&uri);
	if (!rc) {
		(*r)->event = hf_cmd_print_event;
		(*r)->ud = ctx;
	}
	return rc;
}

/* Governance (issue 13): the lease and the audit record of 'g->action'
 * on run 'r', before anything changes. */
static int governed(struct hf_ctx *ctx, struct hf_journal *j, struct hf_rollout *r,
		    struct hf_cmd_gov *g, const char *why, struct hf_err *err)
{
	g->j = j;
	return hf_cmd_gov_start(ctx, g, r, why, err);
}

static void finish(struct hf_ctx *ctx, struct hf_rollout *r, int rc, struct hf_err *err)
{
	if (ctx->json)
		hf_cmd_print_run_json(r, rc, err);
}

int cmd_rollback(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *otlp = NULL, *pos[1];
	int force = 0;
	const struct hf_opt opts[] = {
		{ "cluster", &cluster, NULL }, { "force", NULL, &force },
		{ "force-conflicts", NULL, &force }, { "otlp", &otlp, NULL }, { 0 }
	};
	struct hf_journal *j = NULL;
	struct hf_rollout *r = NULL;
	struct hf_cmd_notify cn = {0};
	struct hf_cmd_govern g = {0};
	struct hf_cmd_gov gov = { .action = "rollback" };
	const char *why;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		fputs("usage: hotfix rollback RUN [--cluster URI] [--force | --force-conflicts] [--otlp URL]\n"
		      "                       [--json]\n"
		      "Reverts every applied step of RUN ('last' = the newest run), newest wave\n"
		      "first, and verifies the before-state on every node. Nodes are found by id,\n"
		      "so a failover since apply changes nothing. A value (or a key) someone else\n"
		      "changed since the hotfix is a conflict: left as it is (exit 4) unless\n"
		      "--force (--force-conflicts, the same) restores it anyway.\n"
		      "Running it again is a no-op that checks every node. --otlp URL exports\n"
		      "the run's spans to an OTLP/HTTP collector, as apply does.\n", help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "rollback: no run given");
	}
	if ((rc = hf_cmd_otlp_check(otlp, err)))
		return rc;
	why = force ? "rollback --force by operator" : "rollback by operator";
	rc = open_run(ctx, pos[0], cluster, &j, &r, err);
	if (!rc)   /* policy: any role on the cluster; no window, no approval */
		rc = hf_cmd_govern_open(ctx, r, HF_ACT_ROLLBACK, "rollback", &g, err);
	gov.who = &g;
	if (!rc)
		rc = governed(ctx, j, r, &gov, why, err);
	if (!rc)
		rc = hf_cmd_notify_start(&cn, r, NULL, otlp, NULL, NULL, err);
	if (!rc) {
		hf_cmd_catch_signals(&r->interrupted);
		rc = hf_rollout_rollback(r, force ? HF_ROLLBACK_FORCE : 0, why, err);
		finish(ctx, r, rc, err);
	}
	if (gov.j)
		hf_cmd_gov_end(&gov, r, rc, err);
	hf_cmd_notify_finish(&cn, ctx);
	hf_cmd_govern_release(&g);
	hf_rollout_free(r);
	hf_journal_close(j);
	return rc;
}

int cmd_resume(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *otlp = NULL, *pos[1];
	int back = 0;
	const struct hf_opt opts[] = {
		{ "cluster", &cluster, NULL }, { "rollback", NULL, &back }, { "otlp", &otlp, NULL },
		{ 0 }
	};
	struct hf_journal *j = NULL;
	struct hf_rollout *r = NULL;
	struct hf_cmd_notify cn = {0};
	struct hf_cmd_govern g = {0};
	struct hf_cmd_gov gov = { .action = "resume" };
	char *text = NULL;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		fputs("usage: hotfix resume RUN [--rollback] [--cluster URI] [--otlp URL] [--json]\n"
		      "Takes over a run whose process died or was interrupted: settles every\n"
		      "in-flight step by asking its node, then goes on (or, with --rollback,\n"
		      "reverts instead). --otlp URL goes on exporting the run's trace to an\n"
		      "OTLP/HTTP collector, as apply does.\n", help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "resume: no run given");
	}
	if ((rc = hf_cmd_otlp_check(otlp, err)))
		return rc;
	rc = open_run(ctx, pos[0], cluster, &j, &r, err);
	if (rc)
		goto out;
	if (!hf_run_state_active(r->run->state) && !back) {
		if (!ctx->quiet && !ctx->json)
			printf("run %s is %s: nothing to resume\n", r->run->id,
			       hf_run_state_name(r->run->state));
		finish(ctx, r, 0, err);
		goto out;
	}
	/* Policy: the role, and the windows for a run that goes on. */
	rc = hf_cmd_govern_open(ctx, r, back ? HF_ACT_ROLLBACK : HF_ACT_APPLY,
				back ? "resume --rollback" : "resume", &g, err);
	if (rc)
		goto out;
	text = hf_xasprintf("run %s resumed by %s%s", r->run->id, hf_operator(),
			    back ? " to roll it back" : "");
	gov.who = &g;
	rc = governed(ctx, j, r, &gov, back ? "resume --rollback by operator" : "resume by operator",
		      err);
	if (rc)
		goto out;
	rc = hf_cmd_notify_start(&cn, r, NULL, otlp, "resumed", text, err);
	if (rc)
		goto out;
	hf_cmd_catch_signals(&r->interrupted);
	if (back)
		rc = hf_rollout_rollback(r, 0, "resume --rollback by operator", err);
	else
		rc = hf_rollout_run(r, err);
	finish(ctx, r, rc, err);
out:
	if (gov.j)
		hf_cmd_gov_end(&gov, r, rc, err);
	hf_cmd_notify_finish(&cn, ctx);
	hf_cmd_govern_release(&g);
	free(text);
	hf_rollout_free(r);
	hf_journal_close(j);
	return rc;
}

/* After an abort request: wait for the process driving run 'name' to
 * finish the rollback (or to end), for 10 minutes at most. '*run' is read
 * again from the journal each time; it is the last one read. */
static int wait_abort(struct hf_journal *j, const char *name, struct hf_run **run,
		      struct hf_err *err)
{
	long long deadline = hf_mono_ms() + 600000;
	int rc;

	for (;;) {
		hf_run_free(*run);
		*run = NULL;
		rc = hf_journal_run_load(j, name, run, NULL, NULL, err);
		if (rc)
			return rc;
		if (!hf_run_state_active((*run)->state) || !hf_journal_driven(j, (*run)->id) ||
		    hf_mono_ms() > deadline)
			return 0;
		hf_sleep_ms(100);
	}
}

/* pause, continue and abort leave a request for the driving process. */
static int request(int argc, char **argv, struct hf_ctx *ctx, const char *what,
		   struct hf_err *err)
{
	const char *cluster = NULL, *pos[1];
	const struct hf_opt opts[] = { { "cluster", &cluster, NULL }, { 0 } };
	struct hf_cmd_govern g = {0};
	struct hf_journal *j = NULL;
	struct hf_run *run = NULL;
	char who[256];
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		printf("usage: hotfix %s RUN\n", what);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "%s: no run given", what);
	}
	rc = hf_cmd_journal(ctx, &j, err);
	if (!rc)
		rc = hf_cmd_govern_request(ctx, j, pos[0], &g, err);
	if (!rc) {
		/* The policy's actor and role in the audit record (issue 13). */
		struct hf_requester by = {
			.who = g.actor.name[0] ? hf_policy_actor_text(&g.actor, who, sizeof(who)) :
				hf_operator(),
			.actor = g.actor.name[0] ? g.actor.name : NULL,
			.role = g.actor.roles[0] ? g.actor.roles : NULL,
		};

		rc = hf_request_run(j, pos[0], what, &by, &run, err);
	}
	hf_cmd_govern_release(&g);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		if (!strcmp(what, "abort")) {
			struct hf_rollout *r = NULL;

			/* Nobody drives it: roll it back here and now. */
			hf_journal_close(j);
			j = NULL;
			struct hf_cmd_gov gov = { .action = "abort" };

			rc = open_run(ctx, run->id, cluster, &j, &r, err);
			if (!rc)
				rc = governed(ctx, j, r, &gov, "aborted by operator", err);
			if (!rc) {
				rc = hf_rollout_rollback(r, 0, "aborted by operator", err);
				finish(ctx, r, rc, err);
			}
			if (gov.j)
				hf_cmd_gov_end(&gov, r, rc, err);
			hf_rollout_free(r);
			goto out;
		}
		rc = hf_err_set(err, HF_EREFUSED, "no process drives run %s (state %s); 'hotfix resume %s' "
				"takes it over, 'hotfix rollback %s' undoes it", run->id,
				hf_run_state_name(run->state), run->id, run->id);
		goto out;
	}
	if (!strcmp(what, "abort")) {
		rc = wait_abort(j, pos[0], &run, err);
		if (rc)
			goto out;
		if (!ctx->quiet)
			printf("run %s: %s%s%s\n", run->id, hf_run_state_name(run->state),
			       run->note ? " (" : "", run->note ? run->note : "");
		if (run->state != HF_RUN_ROLLED_BACK)
			rc = hf_err_set(err, HF_EHUMAN, "run %s is %s after abort; see 'hotfix status %s'",
					run->id, hf_run_state_name(run->state), run->id);
		goto out;
	}
	if (!ctx->quiet)
		printf("run %s: %s requested; process %d acts on it at its next step\n", run->id, what,
		       run->pid);
out:
	hf_run_free(run);
	hf_journal_close(j);
	return rc;
}

int cmd_abort(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	return request(argc, argv, ctx, "abort", err);
}

int cmd_pause(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	return request(argc, argv, ctx, "pause", err);
}

int cmd_continue(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	return request(argc, argv, ctx, "continue", err);
}

static void print_time(FILE *f, long long ms)
{
	char buf[32];

	hf_fmt_time(ms, buf, sizeof(buf));
	fputs(buf, f);
}

/* What 'hotfix status' shows of a run, read from the journal at once. */
struct status {
	struct hf_journal *j;
	struct hf_run *run;
	struct hf_step *steps;
	size_t nsteps;
	struct hf_event *ev;
	size_t nev;
	long long nkeys, key_bytes, by_state[HF_KEY_STATES];   /* by enum hf_key_state */
	int chain_ok;                              /* the audit hash chain verifies */
};

/* Open the journal and read run 'name' ('last' = the newest) into 'st':
 * its steps, its events and its key records' totals. 'st' is released
 * with status_release() whether or not this succeeds. */
static int status_load(struct hf_ctx *ctx, const char *name, struct status *st,
		       struct hf_err *err)
{
	int rc;

	st->chain_ok = 1;
	rc = hf_cmd_journal(ctx, &st->j, err);
	if (!rc)
		rc = hf_journal_run_load(st->j, name, &st->run, &st->steps, &st->nsteps, err);
	if (!rc)
		rc = hf_journal_events(st->j, st->run->id, &st->ev, &st->nev, &st->chain_ok, err);
	if (!rc)
		rc = hf_journal_keys_stats(st->j, st->run->id, &st->nkeys, &st->key_bytes,
					   st->by_state, err);
	return rc;
}

static void status_release(struct status *st)
{
	hf_events_free(st->ev, st->nev);
	hf_steps_free(st->steps, st->nsteps);
	hf_run_free(st->run);
	hf_journal_close(st->j);
}

/* One step of 'hotfix status --json'. */
static json_t *step_json(const struct hf_step *s)
{
	json_t *o = json_pack("{s:I,s:i,s:s,s:s,s:s,s:i,s:s,s:b}", "seq", (json_int_t)s->seq,
			      "wave", s->wave, "node", s->node_id, "address", s->addr, "role",
			      s->role, "shard", s->shard + 1, "state",
			      hf_step_state_name(s->state), "persisted", s->persisted);

	json_object_set_new(o, "before", s->before ? json_loads(s->before, 0, NULL) : json_null());
	json_object_set_new(o, "after", s->after ? json_loads(s->after, 0, NULL) : json_null());
	if (s->error)
		json_object_set_new(o, "error", json_string(s->error));
	/* When its state was last committed: the order of a rollback. */
	json_object_set_new(o, "updated_ms", json_integer(s->updated_ms));
	return o;
}

/* 'hotfix status --json': the run, its steps and its events as one
 * document on stdout. */
static void status_json(const struct status *st)
{
	const struct hf_run *run = st->run;
	json_t *doc = json_object(), *js = json_array(), *je = json_array();
	char *s, until[32];
	long long until_ms;
	size_t i;

	json_object_set_new(doc, "run", json_string(run->id));
	json_object_set_new(doc, "hotfix", json_string(run->hotfix));
	json_object_set_new(doc, "version", json_integer(run->version));
	json_object_set_new(doc, "state", json_string(hf_run_state_name(run->state)));
	json_object_set_new(doc, "note", run->note ? json_string(run->note) : json_null());
	/* Paused outside a maintenance window: until when, for machines. */
	if (run->state == HF_RUN_PAUSED && hf_cmd_window_until(run->note, until, &until_ms)) {
		json_object_set_new(doc, "paused_until", json_string(until));
		json_object_set_new(doc, "paused_until_ms", json_integer(until_ms));
	} else {
		json_object_set_new(doc, "paused_until", json_null());
	}
	json_object_set_new(doc, "cluster", json_string(run->cluster));
	json_object_set_new(doc, "sha256", json_string(run->manifest_sha256));
	json_object_set_new(doc, "operator", json_string(run->operator ? run->operator : ""));
	json_object_set_new(doc, "driven_by", json_integer(hf_journal_driven(st->j, run->id) ? run->pid : 0));
	json_object_set_new(doc, "audit_chain_ok", json_boolean(st->chain_ok));
	if (st->nkeys)
		json_object_set_new(doc, "keys", hf_cmd_keys_json(st->j, run->id));
	for (i = 0; i < st->nsteps; i++)
		json_array_append_new(js, step_json(&st->steps[i]));
	for (i = 0; i < st->nev; i++)
		json_array_append_new(je, json_pack("{s:I,s:s,s:s}", "ts_ms", (json_int_t)st->ev[i].ts_ms,
						    "kind", st->ev[i].kind, "message", st->ev[i].message));
	json_object_set_new(doc, "steps", js);
	json_object_set_new(doc, "events", je);
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
}

/* The head of 'hotfix status': which run, of what, on which cluster, in
 * which state, who drives it, and the progress block of apply's live
 * view. */
static void print_status_head(const struct status *st)
{
	struct hf_run *run = st->run;
	/* The same progress block as apply's live view. */
	struct hf_rollout view = { .run = run, .steps = st->steps, .nsteps = st->nsteps };
	const char *verdict = NULL;
	size_t i;

	printf("run       %s\n", run->id);
	printf("hotfix    %s v%ld  (sha256 %.12s)  owner %s\n", run->hotfix, run->version,
	       run->manifest_sha256, run->owner ? run->owner : "-");
	printf("cluster   %s\n", run->cluster);
	printf("state     %s%s%s%s\n", hf_run_state_name(run->state), run->note ? " (" : "",
	       run->note ? run->note : "", run->note ? ")" : "");
	if (hf_journal_driven(st->j, run->id))
		printf("driver    process %d\n", run->pid);
	else if (hf_run_state_active(run->state))
		printf("driver    none: 'hotfix resume %s' takes over, 'hotfix rollback %s' undoes\n",
		       run->id, run->id);
	printf("started   ");
	print_time(stdout, run->created_ms);
	printf(" UTC by %s\n\n", run->operator ? run->operator : "unknown");
	for (i = 0; i < st->nev; i++)
		if (!strcmp(st->ev[i].kind, "verdict"))
			verdict = st->ev[i].message;
	hf_cmd_print_progress(stdout, &view, verdict, -1);
	printf("\n");
}

/* 'hotfix status' for people: the head, the key records' totals of a
 * data hotfix, a line a step and the journal's events. */
static void print_status(const struct status *st)
{
	const struct hf_step *steps = st->steps;
	const long long *by_state = st->by_state;
	size_t i;

	print_status_head(st);
	if (st->nkeys) {
		printf("keys      %lld recorded: %lld changed, %lld restored, %lld merged, %lld "
		       "conflict(s), %lld forced, %lld expired\n", st->nkeys, by_state[HF_KEY_APPLIED],
		       by_state[HF_KEY_REVERTED], by_state[HF_KEY_MERGED], by_state[HF_KEY_CONFLICT],
		       by_state[HF_KEY_FORCED], by_state[HF_KEY_EXPIRED]);
		printf("journal   %lld bytes of before-images and digests, %.0f bytes per key\n\n",
		       st->key_bytes, (double)st->key_bytes / (double)st->nkeys);
	}
	printf("%-4s  %-21s  %-7s  %-5s  %-10s  %s\n", "WAVE", "ADDRESS", "ROLE", "SHARD", "STATE", "NODE ID");
	for (i = 0; i < st->nsteps; i++) {
		printf("%-4d  %-21s  %-7s  %-5d  %-10s  %.16s\n", steps[i].wave, steps[i].addr,
		       steps[i].role, steps[i].shard + 1, hf_step_state_name(steps[i].state),
		       steps[i].node_id);
		if (steps[i].error)
			printf("      ! %s\n", steps[i].error);
	}
	printf("\nevents%s:\n", st->chain_ok ? "" : " (WARNING: the audit hash chain does not verify)");
	for (i = 0; i < st->nev; i++) {
		printf("  ");
		print_time(stdout, st->ev[i].ts_ms);
		printf("  %-8s %s\n", st->ev[i].kind, st->ev[i].message);
	}
}

int cmd_status(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const struct hf_opt opts[] = { { 0 } };
	const char *pos[1];
	struct status st = {0};
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		puts("usage: hotfix status [RUN] [--json]\nA run's state, steps and journal events "
		     "(default: the newest run).");
		return 0;
	}
	rc = status_load(ctx, npos ? pos[0] : "last", &st, err);
	if (rc)
		goto out;
	if (ctx->json)
		status_json(&st);
	else
		print_status(&st);
out:
	status_release(&st);
	return rc;
}

int cmd_history(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const struct hf_opt opts[] = { { 0 } };
	const char *pos[1];
	struct hf_journal *j = NULL;
	struct hf_run **runs = NULL;
	size_t n = 0, i;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 0, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		puts("usage: hotfix history [--json]\nEvery run in the journal, newest first.");
		return 0;
	}
	rc = hf_cmd_journal(ctx, &j, err);
	if (!rc)
		rc = hf_journal_runs(j, &runs, &n, err);
	if (rc)
		goto out;
	if (ctx->json) {
		json_t *arr = json_array();
		char *s;

		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:s}", "run",
				runs[i]->id, "hotfix", runs[i]->hotfix, "version",
				(json_int_t)runs[i]->version, "state", hf_run_state_name(runs[i]->state),
				"cluster", runs[i]->cluster, "created_ms", (json_int_t)runs[i]->created_ms,
				"operator", runs[i]->operator ? runs[i]->operator : ""));
		s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(arr);
		goto out;
	}
	if (!n) {
		puts("no runs yet");
		goto out;
	}
	printf("%-21s  %-19s  %-24s  %-7s  %-12s  %s\n", "RUN", "STARTED (UTC)", "HOTFIX", "VERSION",
	       "STATE", "CLUSTER");
	for (i = 0; i < n; i++) {
		char t[32];

		hf_fmt_time(runs[i]->created_ms, t, sizeof(t));
		printf("%-21s  %-19s  %-24s  %-7ld  %-12s  %s\n", runs[i]->id, t, runs[i]->hotfix,
		       runs[i]->version, hf_run_state_name(runs[i]->state), runs[i]->cluster);
	}
out:
	for (i = 0; i < n; i++)
		hf_run_free(runs[i]);
	free(runs);
	hf_journal_close(j);
	return rc;
}
