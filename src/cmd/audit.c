/* hotfix audit verify|export, and the governance every command that
 * changes a cluster goes through: the cluster's lease, the audit record
 * of the action before its first change, its outcome, a signed
 * checkpoint and the checkpoint's witness in the cluster at its end. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/audit.h"
#include "core/journal.h"
#include "core/rollout.h"
#include "engine/redis/lease.h"
#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/misc.h"

/* ---- governance of the commands that change a cluster ---------------- */

/* "cluster is being changed by H (run R, since T, lease expires in Ns)". */
static int held_by(const struct hf_lease_info *o, struct hf_err *err)
{
	char since[32];

	hf_fmt_time(o->since_ms, since, sizeof(since));
	return hf_err_set(err, HF_EREFUSED, "cluster is being changed by %s (run %s, since %s, "
			  "lease expires in %llds unless renewed)", o->holder,
			  o->run[0] ? o->run : "not created yet", since, (o->ttl_ms + 999) / 1000);
}

/* Commit an audit record of 'g->action' for run 'run' (may be NULL), with
 * the policy's actor, role and approvals when there is a policy. */
static int record(struct hf_cmd_gov *g, const struct hf_run *run, const char *cluster,
		  const char *why, const char *outcome, long long *seq, struct hf_err *err)
{
	const struct hf_policy_actor *a = g->who ? &g->who->actor : NULL;
	struct hf_audit_rec rec = {
		.actor = a && a->name[0] ? a->name : NULL,
		.role = a && a->roles[0] ? a->roles : NULL,
		.action = g->action,
		.why = why,
		.cluster = run ? run->cluster : cluster,
		.run_id = run ? run->id : NULL,
		.manifest_sha256 = run ? run->manifest_sha256 : g->manifest_sha256,
		.plan_digest = g->plan_digest,
		.approvals = g->who && g->who->approvers[0] ? g->who->approvers : NULL,
		.outcome = outcome,
	};

	return hf_audit_record(g->j, &rec, seq, err);
}

int hf_cmd_gov_lease(struct hf_ctx *ctx, struct hf_cmd_gov *g, const struct hf_uri *uri,
		     const char *run_id, struct hf_err *err)
{
	/* A cluster that is down or failing over (CLUSTERDOWN, TRYAGAIN, a
	 * node that does not answer) is given the time the nodes are given
	 * to agree on a topology: it is what a cluster that just lost a node
	 * needs to serve the lease's slot again. */
	long long until = hf_mono_ms() + ctx->converge_ms;
	struct hf_lease_info other;
	char *cluster;
	int rc;

	if (uri->inventory)
		return 0;   /* nowhere to keep one: the exec engine has no store */

	for (;;) {
		rc = hf_lease_open(uri, ctx->timeout_ms, &g->lease, err);
		if (!rc)
			rc = hf_lease_acquire(g->lease, run_id, &other, err);
		if (!rc)
			return 0;
		if (rc == HF_EREFUSED || rc == HF_EINVAL || hf_mono_ms() >= until)
			break;
		hf_lease_close(g->lease);
		g->lease = NULL;
		hf_sleep_ms(200);
	}
	if (rc == HF_EREFUSED)
		held_by(&other, err);
	/* The refusal is an action too; nothing was changed. */
	cluster = hf_uri_redacted(uri);
	record(g, NULL, cluster, err->msg, "refused", NULL, NULL);
	hf_audit_checkpoint(g->j, NULL, NULL, NULL);
	free(cluster);
	hf_lease_close(g->lease);
	g->lease = NULL;
	return rc;
}

int hf_cmd_gov_start(struct hf_ctx *ctx, struct hf_cmd_gov *g, struct hf_rollout *r,
		     const char *why, struct hf_err *err)
{
	int rc;

	if (!g->lease)
		rc = hf_cmd_gov_lease(ctx, g, &r->c->uri, r->run->id, err);
	else
		rc = hf_lease_renew(g->lease, r->run->id, NULL, err);
	if (rc)
		return rc;
	/* Fail closed: without this record the rollout changes nothing. */
	rc = record(g, r->run, NULL, why, "started", &g->seq, err);
	if (rc)
		return rc;
	r->lease = g->lease;
	r->audit_seq = g->seq;
	return 0;
}

/* What became of the action, in a word. */
static const char *outcome_of(const struct hf_rollout *r, int rc)
{
	switch (rc) {
	case 0:
		return r ? hf_run_state_name(r->run->state) : "done";
	case HF_EREFUSED:
		return "refused";
	case HF_EGUARD:
		return "rolled_back_by_guard";
	case HF_EHUMAN:
	case HF_EUNREACH:
	case HF_ECONFLICT:
		return "needs_human";
	default:
		return "failed";
	}
}

void hf_cmd_gov_end(struct hf_cmd_gov *g, struct hf_rollout *r, int rc, const struct hf_err *err)
{
	struct hf_audit_checkpoint cp = {0};
	struct hf_err e = {0};

	if (g->j && g->seq) {
		if (record(g, r ? r->run : NULL, NULL, rc ? err->msg : NULL, outcome_of(r, rc), NULL,
			   &e))
			fprintf(stderr, "hotfix: warning: %s\n", e.msg);
	}
	if (g->j && !hf_audit_checkpoint(g->j, NULL, &cp, &e) && cp.seq && g->lease)
		hf_witness_put(g->lease, cp.key_id, cp.seq, cp.hash, cp.ts_ms, NULL);
	if (r)
		r->lease = NULL;
	hf_lease_release(g->lease, NULL);
	hf_lease_close(g->lease);
	g->lease = NULL;
	free(g->plan_digest);
	g->plan_digest = NULL;
}

/* ---- who holds the lease (plan) --------------------------------------- */

json_t *hf_cmd_lease_json(struct hf_ctx *ctx, const struct hf_uri *uri)
{
	struct hf_lease *l = NULL;
	struct hf_lease_info o;
	struct hf_err e = {0};
	json_t *j;

	if (uri->inventory)
		return json_pack("{s:s,s:s}", "state", "none", "why", "the exec engine has no "
				 "store in the cluster for a lease: only this state directory's "
				 "journal keeps a second run off these nodes");
	if (hf_lease_open(uri, ctx->timeout_ms, &l, &e) || hf_lease_show(l, &o, &e)) {
		hf_lease_close(l);
		return json_pack("{s:s,s:s}", "state", "unknown", "error", e.msg);
	}
	hf_lease_close(l);
	if (!o.held)
		return json_pack("{s:s}", "state", "free");
	j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "state", "held", "holder", o.holder, "run",
		      o.run, "token", (json_int_t)o.token, "since_ms", (json_int_t)o.since_ms,
		      "expires_in_ms", (json_int_t)o.ttl_ms);
	return j;
}

void hf_cmd_print_lease(FILE *f, struct hf_ctx *ctx, const struct hf_uri *uri)
{
	json_t *j = hf_cmd_lease_json(ctx, uri);
	const char *state = json_string_value(json_object_get(j, "state"));
	char since[32];

	if (!strcmp(state, "free")) {
		fprintf(f, "\nlease: free\n");
	} else if (!strcmp(state, "none")) {
		fprintf(f, "\nlease: none (%s)\n", json_string_value(json_object_get(j, "why")));
	} else if (!strcmp(state, "held")) {
		hf_fmt_time(json_integer_value(json_object_get(j, "since_ms")), since, sizeof(since));
		fprintf(f, "\nlease: held by %s (run %s, since %s, expires in %llds unless renewed)\n",
			json_string_value(json_object_get(j, "holder")),
			*json_string_value(json_object_get(j, "run")) ?
			json_string_value(json_object_get(j, "run")) : "not created yet", since,
			(long long)(json_integer_value(json_object_get(j, "expires_in_ms")) + 999) / 1000);
	} else {
		fprintf(f, "\nlease: unknown (%s)\n", json_string_value(json_object_get(j, "error")));
	}
	json_decref(j);
}

/* ---- hotfix audit verify ---------------------------------------------- */

/* Compare the cluster's witness with the chain. */
static int verify_witness(struct hf_ctx *ctx, struct hf_journal *j, const char *cluster,
			  struct hf_audit_report *rep, int *seen, struct hf_err *err)
{
	struct hf_uri uri = {0};
	struct hf_lease *l = NULL;
	char id[17], hash[65];
	long long seq;
	int rc;

	*seen = 0;
	if (!hf_audit_key_id(j, id))
		return 0;
	rc = hf_cmd_cluster_uri(ctx, cluster, &uri, err);
	if (!rc)
		rc = hf_lease_open(&uri, ctx->timeout_ms, &l, err);
	if (!rc)
		rc = hf_witness_get(l, id, &seq, hash, seen, err);
	if (!rc && *seen)
		rc = hf_audit_verify_witness(j, seq, hash, rep, err);
	hf_lease_close(l);
	hf_uri_release(&uri);
	return rc;
}

static void print_report(struct hf_ctx *ctx, const struct hf_audit_report *rep, int witness)
{
	if (ctx->json) {
		json_t *o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:s,s:I,s:s*}", "intact", !rep->why[0],
				      "records", (json_int_t)rep->records, "checkpoints",
				      (json_int_t)rep->checkpoints, "sealed", (json_int_t)rep->sealed,
				      "head", (json_int_t)rep->head, "head_hash", rep->head_hash,
				      "bad_seq", (json_int_t)rep->bad_seq, "why",
				      rep->why[0] ? rep->why : NULL);

		char *s;

		json_object_set_new(o, "witness", witness < 0 ? json_null() : json_boolean(witness));
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
		json_decref(o);
		return;
	}
	if (rep->why[0] || ctx->quiet)
		return;
	printf("audit trail intact: %lld record(s), %lld signed checkpoint(s), sealed up to "
	       "record %lld%s\n", rep->records, rep->checkpoints, rep->sealed,
	       witness > 0 ? ", the cluster's witness agrees" : "");
	if (rep->head > rep->sealed)
		printf("records %lld to %lld are after the last checkpoint: chained, not yet sealed\n",
		       rep->sealed + 1, rep->head);
}

static int audit_verify(struct hf_ctx *ctx, const char *cluster, struct hf_err *err)
{
	struct hf_journal *j = NULL;
	struct hf_audit_report rep;
	int rc, seen = -1;

	rc = hf_cmd_journal(ctx, &j, err);
	if (!rc)
		rc = hf_audit_verify(j, &rep, err);
	if (!rc && cluster)
		rc = verify_witness(ctx, j, cluster, &rep, &seen, err);
	if (!rc) {
		print_report(ctx, &rep, seen);
		if (rep.why[0])
			rc = hf_err_set(err, HF_ERR, "audit trail broken at record %lld: %s",
					rep.bad_seq, rep.why);
	}
	hf_journal_close(j);
	return rc;
}

/* ---- hotfix audit export --jsonl --------------------------------------- */

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static int export_rec(void *ud, const struct hf_audit_rec *r)
{
	json_t *o = json_object();
	char *s;

	(void)ud;
	json_object_set_new(o, "seq", json_integer(r->seq));
	json_object_set_new(o, "ts_ms", json_integer(r->ts_ms));
	set_str(o, "actor", r->actor);
	set_str(o, "os_user", r->os_user);
	set_str(o, "role", r->role);
	set_str(o, "action", r->action);
	set_str(o, "why", r->why);
	set_str(o, "cluster", r->cluster);
	set_str(o, "run_id", r->run_id);
	set_str(o, "manifest_sha256", r->manifest_sha256);
	set_str(o, "plan_digest", r->plan_digest);
	set_str(o, "approvals", r->approvals);
	set_str(o, "outcome", r->outcome);
	set_str(o, "prev_hash", r->prev_hash);
	set_str(o, "hash", r->hash);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (s)
		puts(s);
	free(s);
	json_decref(o);
	return 0;
}

static int audit_export(struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_journal *j = NULL;
	int rc = hf_cmd_journal(ctx, &j, err);

	if (!rc)
		rc = hf_journal_audit_each(j, 0, export_rec, NULL, err);
	hf_journal_close(j);
	return rc;
}

static const char usage[] =
	"usage: hotfix audit verify [--cluster URI] [--json]\n"
	"       hotfix audit export [--jsonl]\n"
	"verify walks the audit trail of the state directory from its first record:\n"
	"every record's hash, the chain, every signed checkpoint. Exit 0 when intact,\n"
	"1 naming the first bad record. --cluster URI also compares the newest\n"
	"checkpoint kept in the cluster (it shows records removed from the end).\n"
	"export prints one JSON object per record (JSON Lines).\n";

int cmd_audit(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *pos[1];
	int jsonl = 0, npos, help, rc;
	const struct hf_opt opts[] = { { "cluster", &cluster, NULL }, { "jsonl", NULL, &jsonl },
				       { 0 } };

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		fputs(usage, help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "audit: verify or export?");
	}
	if (!strcmp(pos[0], "verify"))
		return audit_verify(ctx, cluster, err);
	if (!strcmp(pos[0], "export"))
		return audit_export(ctx, err);
	return hf_err_set(err, HF_EINVAL, "audit: '%s' is not verify or export", pos[0]);
}
