/* 'hotfix flag set|kill': publishing flags outside a manifest (issue 12,
 * the kill switch). Each writes a manifest of inline 'flag' changes (so a
 * journaled run never depends on a file that may be gone at resume) and
 * runs it as 'hotfix apply' does: journaled, verified by the clients'
 * acknowledgements, undone by 'hotfix rollback RUN'. */
#include "cmd/cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"
#include "engine/redis/flagstore.h"
#include "engine/redis/redis.h"
#include "flags/flags.h"
#include "util/buf.h"
#include "util/misc.h"

static const char usage[] =
	"usage: hotfix flag set FILE --cluster URI [--yes] [--json] [-q]\n"
	"       hotfix flag kill KEY --cluster URI [--reason TEXT] [--yes] [--json] [-q]\n"
	"\n"
	"  set   publish every flag of FILE (checked strictly first: FILE:LINE:COL,\n"
	"        exit 2, nothing published) as a run: journaled, verified when the\n"
	"        live clients acknowledged it, undone by 'hotfix rollback RUN'\n"
	"  kill  publish a version in which every context gets flag KEY's off variant\n"
	"        (metadata.killVariant, else 'off', else its defaultVariant), its\n"
	"        targeting removed; verified when every live client acknowledged it\n"
	"Both refuse without --yes when there is no terminal to ask on.\n";

void hf_cmd_flag_publish_usage(FILE *f)
{
	fputs(usage, f);
}

static char *json_text(const json_t *j)
{
	return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The head of a generated manifest: one wave, no guard (a flag change is
 * verified by its clients; a kill switch must not wait for a baseline). */
static void manifest_head(struct hf_buf *b, const char *name, const char *problem)
{
	json_t *p = json_string(problem);
	char *q = json_text(p);

	hf_buf_printf(b, "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata:\n  name: %s\n"
		      "  version: 1\n  owner: %s\n  problem: %s\nspec:\n  changes:\n", name,
		      hf_operator(), q);
	free(q);
	json_decref(p);
}

static void manifest_tail(struct hf_buf *b)
{
	hf_buf_printf(b, "  rollout:\n    waves:\n      - nodes: 100%%\n  guard: none\n");
}

/* One change: flag 'key' set to 'def' (JSON, which YAML reads as flow). */
static void manifest_change(struct hf_buf *b, const char *key, const json_t *def,
			    const json_t *evaluators)
{
	json_t *k = json_string(key);
	char *ks = json_text(k), *ds = json_text(def), *es = NULL;

	if (evaluators && json_object_size(evaluators))
		es = json_text(evaluators);
	hf_buf_printf(b, "    - flag: {key: %s, definition: %s%s%s}\n", ks, ds,
		      es ? ", evaluators: " : "", es ? es : "");
	free(ks);
	free(ds);
	free(es);
	json_decref(k);
}

/* Parse the generated text as a manifest named 'label'. */
static int generated(const char *label, const struct hf_buf *b, struct hf_manifest **m,
		     struct hf_err *err)
{
	return hf_manifest_parse(label, b->s, b->len, m, err);
}

static int flag_set(struct hf_ctx *ctx, const char *file, const struct hf_apply_opts *o,
		    struct hf_err *err)
{
	struct hf_flagdoc *fd = NULL;
	struct hf_manifest *m = NULL;
	struct hf_buf b = {0};
	json_t *doc = NULL, *flags, *def;
	const char *key;
	char *canon = NULL, *problem;
	int rc;

	/* Strict, as 'flag validate': FILE:LINE:COL, exit 2, nothing published. */
	if ((rc = hf_flagdoc_load(file, 0, &fd, err)))
		return rc;
	canon = hf_flagdoc_json(fd);
	doc = json_loads(canon, 0, NULL);
	flags = json_object_get(doc, "flags");
	if (!json_object_size(flags)) {
		rc = hf_err_set(err, HF_EINVAL, "%s: no flag to set", file);
		goto out;
	}
	problem = hf_xasprintf("hotfix flag set %s", file);
	manifest_head(&b, "flag-set", problem);
	free(problem);
	json_object_foreach(flags, key, def)
		manifest_change(&b, key, def, json_object_get(doc, "$evaluators"));
	manifest_tail(&b);
	if (!(rc = generated(file, &b, &m, err)))
		rc = hf_cmd_apply_manifest(ctx, m, o, err);
out:
	hf_buf_release(&b);
	json_decref(doc);
	free(canon);
	hf_flagdoc_unref(fd);
	return rc;
}

/* The variant a kill gives every context: metadata.killVariant, else one
 * named 'off', else the default variant; NULL when the flag has none. */
static const char *off_variant(const json_t *def)
{
	const json_t *variants = json_object_get(def, "variants");
	const char *kv = json_string_value(json_object_get(json_object_get(def, "metadata"),
							   "killVariant"));

	if (kv && json_object_get(variants, kv))
		return kv;
	if (json_object_get(variants, "off"))
		return "off";
	return json_string_value(json_object_get(def, "defaultVariant"));
}

/* Flag 'key' as the store holds it now, killed: into '*out' (caller
 * decrefs). */
static int killed_def(struct hf_ctx *ctx, const char *cluster, const char *key, json_t **out,
		      struct hf_err *err)
{
	struct hf_uri uri = {0};
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	json_t *doc = NULL, *def;
	const char *off;
	int rc;

	if ((rc = hf_cmd_cluster_uri(ctx, cluster, &uri, err)) ||
	    (rc = hf_flagstore_open(&uri, ctx->timeout_ms, &s, err)) ||
	    (rc = hf_flagstore_read(s, &st, err)))
		goto out;
	doc = st.doc ? json_loads(st.doc, 0, NULL) : NULL;
	def = json_object_get(json_object_get(doc, "flags"), key);
	if (!def) {
		rc = hf_err_set(err, HF_EINVAL, "no flag '%s' in the flag store (version %lld)", key,
				st.version);
		goto out;
	}
	if (!(off = off_variant(def))) {
		rc = hf_err_set(err, HF_EINVAL, "flag '%s' has no off variant: no "
				"metadata.killVariant, no variant 'off' and no defaultVariant", key);
		goto out;
	}
	def = json_deep_copy(def);
	json_object_set_new(def, "defaultVariant", json_string(off));
	json_object_set_new(def, "state", json_string("ENABLED"));
	json_object_del(def, "targeting");
	*out = def;
out:
	json_decref(doc);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
	hf_uri_release(&uri);
	return rc;
}

static int flag_kill(struct hf_ctx *ctx, const char *key, const char *reason,
		     const struct hf_apply_opts *o, struct hf_err *err)
{
	struct hf_manifest *m = NULL;
	struct hf_buf b = {0};
	json_t *def = NULL;
	char *problem;
	int rc;

	if ((rc = killed_def(ctx, o->cluster, key, &def, err)))
		return rc;
	problem = hf_xasprintf("hotfix flag kill %s%s%s", key, reason ? ": " : "",
			       reason ? reason : "");
	manifest_head(&b, "flag-kill", problem);
	free(problem);
	manifest_change(&b, key, def, NULL);
	manifest_tail(&b);
	if (!(rc = generated("flag-kill", &b, &m, err)))
		rc = hf_cmd_apply_manifest(ctx, m, o, err);
	hf_buf_release(&b);
	json_decref(def);
	return rc;
}

int hf_cmd_flag_publish(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_apply_opts o = {0};
	const char *reason = NULL, *pos[2];
	const struct hf_opt opts[] = { { "cluster", &o.cluster, NULL }, { "yes", NULL, &o.yes },
				       { "reason", &reason, NULL }, { 0 } };
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 2, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	if (npos < 2) {
		fputs(usage, stderr);
		return hf_err_set(err, HF_EINVAL, "flag %s needs a %s", pos[0],
				  !strcmp(pos[0], "set") ? "FILE" : "KEY");
	}
	if (!strcmp(pos[0], "set")) {
		if (reason)
			return hf_err_set(err, HF_EINVAL, "flag set: --reason goes with kill");
		return flag_set(ctx, pos[1], &o, err);
	}
	return flag_kill(ctx, pos[1], reason, &o, err);
}
