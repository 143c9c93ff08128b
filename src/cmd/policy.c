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
	for (i = 0; i < pol->nids; i++)
		printf("  identity %-12s key %s  roles %s\n", pol->ids[i].name, pol->ids[i].key_id,
		       hf_policy_roles_text(pol->ids[i].roles, roles, sizeof(roles)));
	for (i = 0; i < pol->nclusters; i++) {
		const struct hf_policy_cluster *pc = &pol->clusters[i];

		printf("  cluster %s: %d approval(s), emergency %s\n", pc->match, pc->approvals,
		       pc->emergency ? hf_policy_roles_text(pc->emergency, roles, sizeof(roles))
				     : "nobody");
		for (k = 0; k < pc->nwindows; k++)
			printf("    window %s\n", pc->windows[k].text);
	}
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
		printf("{\"valid\": true, \"policy\": \"%s\", \"sha256\": \"%s\", \"identities\": %zu, "
		       "\"clusters\": %zu}\n", pol->path, pol->sha256, pol->nids, pol->nclusters);
	else
		show(pol);
	hf_policy_free(pol);
	return 0;
}
