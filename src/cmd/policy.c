/* hotfix policy check: validate a governance policy and show what it
 * says. Any command given --policy validates it first, too. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/policy.h"

static void show(const struct hf_policy *pol)
{
	char roles[64];
	size_t i, k;

	printf("%s: valid policy, sha256 %.12s\n", pol->path, pol->sha256);
	printf("  require_drill %s (the default of the cluster entries)\n", pol->require_drill);
	for (i = 0; i < pol->nids; i++)
		printf("  identity %-12s key %s  roles %s\n", pol->ids[i].name, pol->ids[i].key_id,
		       hf_policy_roles_text(pol->ids[i].roles, roles, sizeof(roles)));
	for (i = 0; i < pol->nclusters; i++) {
		const struct hf_policy_cluster *pc = &pol->clusters[i];

		printf("  cluster %s: %d approval(s), emergency %s, require_drill %s\n", pc->match,
		       pc->approvals, pc->emergency ? hf_policy_roles_text(pc->emergency, roles,
									 sizeof(roles)) : "nobody",
		       pc->require_drill);
		for (k = 0; k < pc->nwindows; k++)
			printf("    window %s\n", pc->windows[k].text);
	}
}

/* The --json document: what was always there, and each cluster entry's
 * require_drill in seconds (null: none). */
static void show_json(const struct hf_policy *pol)
{
	json_t *doc = json_pack("{s:b,s:s,s:s,s:I,s:I}", "valid", 1, "policy", pol->path, "sha256",
				pol->sha256, "identities", (json_int_t)pol->nids, "clusters",
				(json_int_t)pol->nclusters), *drills = json_array();
	char *s;
	size_t i;

	for (i = 0; i < pol->nclusters; i++) {
		const struct hf_policy_cluster *pc = &pol->clusters[i];

		json_array_append_new(drills, json_pack("{s:s,s:o}", "match", pc->match,
			"require_drill_s", pc->require_drill_ms > 0 ?
			json_integer(pc->require_drill_ms / 1000) : json_null()));
	}
	json_object_set_new(doc, "require_drill", drills);
	s = json_dumps(doc, JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
}

int cmd_policy(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const struct hf_opt opts[] = { { 0 } };
	struct hf_policy *pol = NULL;
	const char *pos[2];
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 2, &npos, &help, err);
	if (rc)
		return rc;
	if (help || npos != 2 || strcmp(pos[0], "check")) {
		fputs("usage: hotfix policy check FILE\nValidates a governance policy; exit 2 with "
		      "FILE:LINE:COL on error.\n", help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "policy: expected 'check FILE'");
	}
	rc = hf_policy_load(pos[1], &pol, err);
	if (rc)
		return rc;
	if (ctx->json)
		show_json(pol);
	else
		show(pol);
	hf_policy_free(pol);
	return 0;
}
