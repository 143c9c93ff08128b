/* hotfix validate and hotfix plan: check a manifest, and show what it would
 * change on the live cluster. Neither writes anything. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/kind.h"
#include "core/manifest.h"
#include "core/guard.h"
#include "core/plan.h"
#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/misc.h"

int cmd_validate(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const struct hf_opt opts[] = { { 0 } };
	struct hf_manifest *m = NULL;
	const char *pos[1];
	int npos, help, rc;
	size_t i;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		fputs("usage: hotfix validate FILE\nChecks a manifest; exit 2 with FILE:LINE:COL on error.\n",
		      help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "validate: no manifest given");
	}
	rc = hf_manifest_load(pos[0], &m, err);
	if (rc)
		return rc;
	if (ctx->json) {
		printf("{\"valid\": true, \"hotfix\": \"%s\", \"version\": %ld, \"sha256\": \"%s\", "
		       "\"changes\": %zu, \"waves\": %zu, \"guard_checks\": %zu}\n",
		       m->name, m->version, m->sha256, m->nchanges, m->nwaves, m->guard.nchecks);
	} else {
		printf("%s: valid: hotfix %s v%ld, %zu change(s), %zu wave(s), sha256 %s\n", m->path,
		       m->name, m->version, m->nchanges, m->nwaves, m->sha256);
		/* What the manifest alone does not show at a glance (how many
		 * keys a key file holds). */
		for (i = 0; i < m->nchanges; i++) {
			const struct hf_change *ch = &m->changes[i];
			struct hf_buf b = {0};

			if (!ch->kind->summary)
				continue;
			ch->kind->summary(ch, &b);
			printf("  %s change %zu: %s\n", ch->kind->name, i + 1, b.s);
			hf_buf_release(&b);
		}
		for (i = 0; i < m->guard.nchecks; i++)
			if (m->guard.checks[i].promql)
				printf("  guard check promql '%s' (from %s)\n",
				       m->guard.checks[i].promql, m->guard.prometheus);
			else
				printf("  guard check %s%s\n", m->guard.checks[i].metric,
				       hf_guard_supports(&m->guard.checks[i]) ? "" :
				       " (not computed by this build: plan and apply refuse it)");
		if (m->guard.none)
			printf("  guard: none (bakes are plain waits)\n");
		else if (!m->guard.nchecks)
			printf("  guard: the default checks (error_rate, latency_p99_ms against the baseline)\n");
	}
	hf_manifest_free(m);
	return 0;
}

int cmd_plan(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *pos[1];
	const struct hf_opt opts[] = { { "cluster", &cluster, NULL }, { 0 } };
	struct hf_manifest *m = NULL;
	struct hf_cluster *c = NULL;
	struct hf_plan *p = NULL;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos) {
		fputs("usage: hotfix plan FILE [--cluster URI] [--json]\n"
		      "Shows, from the live cluster, what would change on which node, the waves,\n"
		      "and whether the change can be rolled back, what the policy asks, who holds\n"
		      "the lease, and the newest 'hotfix drill' of this manifest with whether the\n"
		      "policy's require_drill would let an apply start now. Changes nothing.\n",
		      help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "plan: no manifest given");
	}
	rc = hf_cmd_plan_load(ctx, pos[0], cluster, &m, &c, &p, err);
	if (rc)
		goto out;
	if (ctx->json) {
		char *s = hf_cmd_plan_json(m, c, p);
		json_t *doc = json_loads(s, 0, NULL);

		free(s);
		/* What an approval signs, and what the policy asks; who holds
		 * the cluster's lease. */
		hf_cmd_policy_json(doc, ctx, c, p);
		json_object_set_new(doc, "lease", hf_cmd_lease_json(ctx, &c->uri));
		/* The newest drill of this manifest and the policy's gate;
		 * not in the plan digest: an approval is about the change. */
		hf_cmd_drill_json(doc, ctx, m, c);
		s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(doc);
		puts(s);
		free(s);
	} else {
		hf_cmd_print_plan(stdout, m, c, p);
		hf_cmd_print_policy(stdout, ctx, c, p, m);
		hf_cmd_print_lease(stdout, ctx, &c->uri);
		hf_cmd_print_drill(stdout, ctx, m, c);
	}
out:
	hf_plan_free(p);
	hf_cluster_free(c);
	hf_manifest_free(m);
	return rc;
}
