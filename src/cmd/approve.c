/* hotfix approve: sign an approval of a plan, for the two-person rule. The
 * approver plans on the live cluster as the author will, and signs the
 * manifest's SHA-256, the plan digest and the topology hash; the statement
 * is a file the author passes to 'hotfix apply --approval FILE'. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/approval.h"
#include "core/manifest.h"
#include "core/plan.h"
#include "engine/redis/redis.h"
#include "util/misc.h"

static const char usage[] =
	"usage: hotfix approve FILE [--cluster URI] --sign-key KEY [--reason TEXT]\n"
	"                           [--expires DURATION] [--out APPROVAL]\n"
	"       hotfix approve --flag-set FLAGS [--cluster URI] --sign-key KEY ...\n"
	"Plans FILE on the live cluster and signs (Ed25519) a statement over the\n"
	"manifest's SHA-256, the plan digest (each node's change, from which value to\n"
	"which, and the waves) and the topology hash, valid for --expires (24h).\n"
	"Needs a policy (--policy, $HOTFIX_POLICY) in which KEY is an approver or\n"
	"admin. The statement goes to --out, or stdout; the author applies with\n"
	"'hotfix apply FILE --approval APPROVAL'. Any change to the plan or the\n"
	"topology before then voids it.\n"
	"--flag-set FLAGS signs what 'hotfix flag set FLAGS --approval APPROVAL'\n"
	"applies (the same flag file, under the same file name).\n";

static int write_out(const char *path, const char *text, struct hf_err *err)
{
	size_t len = strlen(text);
	int fd, ok;

	if (!path) {
		printf("%s\n", text);
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return hf_err_set(err, HF_ERR, "cannot write '%s': %s", path, strerror(errno));
	ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
	ok = !close(fd) && ok;
	return ok ? 0 : hf_err_set(err, HF_ERR, "cannot write '%s'", path);
}

/* Sign the plan 'p' as 'g''s identity and write it out. */
static int sign_plan(struct hf_ctx *ctx, struct hf_cmd_govern *g, const struct hf_manifest *m,
		     const struct hf_cluster *c, const struct hf_plan *p, const char *reason,
		     long long expires_ms, const char *out, struct hf_err *err)
{
	struct hf_approval_subject s;
	long long now = hf_policy_now();
	char *text, until[96];
	int rc;

	hf_approval_subject_init(&s, m, c, p);
	text = hf_approval_sign(&s, g->id->name, g->key, reason, now, now + expires_ms / 1000, err);
	rc = text ? write_out(out, text, err) : HF_ERR;
	if (!rc && !ctx->quiet) {
		hf_policy_fmt_local(now + expires_ms / 1000, "UTC", until, sizeof(until));
		fprintf(out ? stdout : stderr, "approved by %s: hotfix %s v%ld on %s, plan %.12s, "
			"topology %.12s, %zu change(s); valid until %s%s%s\n", g->id->name, m->name,
			m->version, s.cluster, s.plan_digest, s.topology_hash, s.nlines, until,
			out ? "; written to " : "", out ? out : "");
	}
	free(text);
	hf_approval_subject_release(&s);
	return rc;
}

int cmd_approve(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *reason = NULL, *expires = "24h", *out = NULL, *pos[1];
	const char *flags = NULL;
	const struct hf_opt opts[] = { { "cluster", &cluster, NULL }, { "reason", &reason, NULL },
				       { "expires", &expires, NULL }, { "out", &out, NULL },
				       { "flag-set", &flags, NULL }, { 0 } };
	struct hf_cmd_govern g = {0};
	struct hf_manifest *m = NULL;
	struct hf_cluster *c = NULL;
	struct hf_plan *p = NULL;
	char *uri = NULL;
	long long ms;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help || !npos == !flags) {
		fputs(usage, help ? stdout : stderr);
		return help ? 0 : hf_err_set(err, HF_EINVAL, "approve: %s", flags ? "a manifest or "
					     "--flag-set, not both" : "no manifest given");
	}
	if (hf_duration_parse(expires, &ms) || ms < 1000)
		return hf_err_set(err, HF_EINVAL, "approve: invalid --expires '%s' (a duration of at "
				  "least 1s, e.g. 30m, 24h)", expires);
	if (!ctx->policy)
		return hf_err_set(err, HF_EINVAL, "approve: there is no policy (--policy FILE or "
				  "$HOTFIX_POLICY) to approve under");
	if (flags) {
		rc = hf_cmd_flag_set_manifest(flags, &m, err);
		if (!rc)
			rc = hf_cmd_plan_for(ctx, m, cluster, &c, &p, err);
	} else {
		rc = hf_cmd_plan_load(ctx, pos[0], cluster, &m, &c, &p, err);
	}
	if (!rc) {
		uri = hf_uri_redacted(&c->uri);
		rc = hf_cmd_govern(ctx, HF_ACT_APPROVE, uri, &g, err);
	}
	if (!rc && !p->nsteps)
		rc = hf_err_set(err, HF_EINVAL, "approve: nothing to approve: every node already "
				"holds the target values");
	if (!rc)
		rc = sign_plan(ctx, &g, m, c, p, reason, ms, out, err);
	hf_cmd_govern_release(&g);
	free(uri);
	hf_plan_free(p);
	hf_cluster_free(c);
	hf_manifest_free(m);
	return rc;
}
