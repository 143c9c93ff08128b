/* 'hotfix flag validate|eval|preview': feature flags in flagd's format
 * (issue 12). The evaluator is src/flags/; this file reads contexts,
 * runs it and prints. */
#include "cmd/cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/flags.h"
#include "util/buf.h"

static const char usage[] =
	"usage: hotfix flag validate FILE\n"
	"       hotfix flag eval FILE --contexts CONTEXTS.jsonl\n"
	"       hotfix flag preview FILE --contexts CONTEXTS.jsonl [--against OLD]\n"
	"\n"
	"Feature flags in flagd's format (JSON or YAML): flags with variants, a\n"
	"default variant and JSONLogic targeting (fractional, sem_ver, starts_with,\n"
	"ends_with and the json-logic operators), evaluated as flagd does.\n"
	"\n"
	"  validate  check FILE strictly: exit 0, or 2 with FILE:LINE:COL on stderr\n"
	"            (syntax, fields, unknown variants, operators, arguments, $ref)\n"
	"  eval      evaluate every flag of FILE (in file order) for each context of\n"
	"            CONTEXTS (one JSON object per line, with targetingKey and any\n"
	"            attributes); one JSON line per context and flag:\n"
	"            {\"context\": N, \"key\": K, \"value\": V, \"variant\": NAME,\n"
	"             \"reason\": R} (and \"error_code\" when R is ERROR); a rule that\n"
	"            does not compile is loaded as flagd loads it (PARSE_ERROR)\n"
	"  preview   which contexts get another value from FILE than from OLD\n"
	"            (--against; default: each flag's defaultVariant in FILE): one\n"
	"            line per flip and a summary per flag; --json: JSON lines\n";

/* A value's JSON text, kept per value (the values of a document never
 * move), so that a line costs no JSON encoding. */
struct vcache {
	const void *ptr;
	char *json;
};

struct printer {
	struct vcache *v;
	size_t n, cap;
};

static const char *cached_json(struct printer *p, const void *ptr, int is_str)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ptr == ptr)
			return p->v[i].json;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = hf_xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].ptr = ptr;
	if (is_str) {
		json_t *s = json_string(ptr);

		p->v[p->n].json = json_dumps(s, JSON_ENCODE_ANY);
		json_decref(s);
	} else {
		p->v[p->n].json = hf_fv_json(ptr);
	}
	return p->v[p->n++].json;
}

static void printer_free(struct printer *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].json);
	free(p->v);
}

/* One context line: a JSON object, or CONTEXTS:LINE:COL. */
static int read_context(const char *path, long lineno, const char *line, size_t len,
			struct hf_flagctx_owned *c, struct hf_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(line, len, 0, &je);
	int rc;

	if (!j)
		return hf_err_set(err, HF_EINVAL, "%s:%ld:%d: invalid context: %s", path, lineno,
				  je.column > 0 ? je.column : 1, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return hf_err_set(err, HF_EINVAL, "%s:%ld:1: a context must be a JSON object", path,
				  lineno);
	}
	rc = hf_flagctx_from_json(j, c, err);
	json_decref(j);
	return rc;
}

static int blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

typedef int (*ctx_fn)(void *ud, long n, const struct hf_flagctx *ctx, struct hf_err *err);

/* Call 'fn' for each context of file 'path' with its line number;
 * blank lines are skipped (and counted). */
static int each_context(const char *path, ctx_fn fn, void *ud, struct hf_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n = 0;
	int rc = 0;

	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path, strerror(errno));
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		struct hf_flagctx_owned c;

		n++;
		if (blank(line, (size_t)len))
			continue;
		rc = read_context(path, n, line, (size_t)len, &c, err);
		if (!rc) {
			rc = fn(ud, n, &c.ctx, err);
			hf_flagctx_release(&c);
		}
	}
	free(line);
	fclose(f);
	return rc;
}

struct eval_run {
	const struct hf_flagdoc *doc;
	struct printer p;
	char **keys;              /* each flag's key as JSON */
	char scratch[HF_FLAGS_SCRATCH];
};

static int eval_one(void *ud, long n, const struct hf_flagctx *ctx, struct hf_err *err)
{
	struct eval_run *r = ud;
	struct hf_flagarena arena = { r->scratch, sizeof(r->scratch), 0 };
	size_t i;

	(void)err;
	for (i = 0; i < hf_flagdoc_count(r->doc); i++) {
		const struct hf_flag *f = hf_flagdoc_at(r->doc, i);
		struct hf_flagresult res;

		hf_flag_eval(f, ctx, hf_flag_type(f), &arena, &res);
		printf("{\"context\":%ld,\"key\":%s,\"value\":%s,\"variant\":%s,\"reason\":\"%s\"", n,
		       r->keys[i], res.value ? cached_json(&r->p, res.value, 0) : "null",
		       res.variant ? cached_json(&r->p, res.variant, 1) : "null",
		       hf_flag_reason_name(res.reason));
		if (res.reason == HF_REASON_ERROR)
			printf(",\"error_code\":\"%s\"", hf_flag_errcode_name(res.error));
		fputs("}\n", stdout);
	}
	return 0;
}

static int flag_eval(const char *file, const char *contexts, struct hf_err *err)
{
	struct eval_run r = {0};
	struct hf_flagdoc *doc;
	size_t i, n;
	int rc;

	if (!contexts)
		return hf_err_set(err, HF_EINVAL, "flag eval needs --contexts FILE");
	if ((rc = hf_flagdoc_load(file, HF_FLAGDOC_LENIENT, &doc, err)))
		return rc;
	r.doc = doc;
	n = hf_flagdoc_count(doc);
	r.keys = hf_xcalloc(n ? n : 1, sizeof(*r.keys));
	for (i = 0; i < n; i++)
		r.keys[i] = hf_xstrdup(cached_json(&r.p, hf_flag_key(hf_flagdoc_at(doc, i)), 1));
	/* Millions of lines: one write per buffer, not per line. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	rc = each_context(contexts, eval_one, &r, err);
	fflush(stdout);
	for (i = 0; i < n; i++)
		free(r.keys[i]);
	free(r.keys);
	printer_free(&r.p);
	hf_flagdoc_unref(doc);
	return rc;
}

struct preview_run {
	const struct hf_flagdoc *doc, *old;
	struct printer p;
	struct hf_ctx *hctx;
	long *flips;              /* per flag of 'doc' */
	long contexts;
	char scratch[HF_FLAGS_SCRATCH];
};

/* The JSON text of 'f's value for 'ctx', "null" when it has none. */
static const char *value_text(struct preview_run *r, const struct hf_flag *f,
			      const struct hf_flagctx *ctx)
{
	struct hf_flagarena arena = { r->scratch, sizeof(r->scratch), 0 };
	struct hf_flagresult res;

	if (!f)
		return "null";
	hf_flag_eval(f, ctx, hf_flag_type(f), &arena, &res);
	return res.value ? cached_json(&r->p, res.value, 0) : "null";
}

/* The baseline without --against: the flag's default variant, what it
 * serves without its targeting; a disabled flag serves none either way. */
static const char *default_text(struct preview_run *r, const struct hf_flag *f)
{
	const char *d = hf_flag_enabled(f) ? hf_flag_default_variant(f) : NULL;
	const struct hf_fv *v = d ? hf_flag_variant(f, d, strlen(d)) : NULL;

	return v ? cached_json(&r->p, v, 0) : "null";
}

static int preview_one(void *ud, long n, const struct hf_flagctx *ctx, struct hf_err *err)
{
	struct preview_run *r = ud;
	size_t i;

	(void)err;
	r->contexts++;
	for (i = 0; i < hf_flagdoc_count(r->doc); i++) {
		const struct hf_flag *f = hf_flagdoc_at(r->doc, i);
		const char *key = hf_flag_key(f), *now = value_text(r, f, ctx), *before;

		before = r->old ? value_text(r, hf_flagdoc_find(r->old, key, strlen(key)), ctx)
				: default_text(r, f);
		if (!strcmp(before, now))
			continue;
		r->flips[i]++;
		if (r->hctx->json)
			printf("{\"context\":%ld,\"key\":%s,\"before\":%s,\"after\":%s}\n", n,
			       cached_json(&r->p, key, 1), before, now);
		else if (!r->hctx->quiet)
			printf("context %-6ld %-24s %s -> %s\n", n, key, before, now);
	}
	return 0;
}

static void preview_summary(struct preview_run *r, const char *against)
{
	size_t i, n = hf_flagdoc_count(r->doc);
	long total = 0;

	for (i = 0; i < n; i++)
		total += r->flips[i];
	if (r->hctx->json) {
		printf("{\"summary\":{\"contexts\":%ld,\"flags\":%zu,\"flips\":%ld}}\n", r->contexts, n,
		       total);
		return;
	}
	printf("%ld flip(s) over %ld context(s) and %zu flag(s), against %s\n", total, r->contexts, n,
	       against ? against : "each flag's defaultVariant");
	for (i = 0; i < n; i++)
		if (r->flips[i])
			printf("  %-24s %ld of %ld contexts (%.2f%%)\n",
			       hf_flag_key(hf_flagdoc_at(r->doc, i)), r->flips[i], r->contexts,
			       100.0 * (double)r->flips[i] / (double)r->contexts);
}

static int flag_preview(struct hf_ctx *hctx, const char *file, const char *contexts,
			const char *against, struct hf_err *err)
{
	struct preview_run r = { .hctx = hctx };
	struct hf_flagdoc *doc = NULL, *old = NULL;
	int rc;

	if (!contexts)
		return hf_err_set(err, HF_EINVAL, "flag preview needs --contexts FILE");
	if ((rc = hf_flagdoc_load(file, HF_FLAGDOC_LENIENT, &doc, err)) ||
	    (against && (rc = hf_flagdoc_load(against, HF_FLAGDOC_LENIENT, &old, err))))
		goto out;
	r.doc = doc;
	r.old = old;
	r.flips = hf_xcalloc(hf_flagdoc_count(doc) + 1, sizeof(*r.flips));
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	rc = each_context(contexts, preview_one, &r, err);
	if (!rc)
		preview_summary(&r, against);
	fflush(stdout);
out:
	free(r.flips);
	printer_free(&r.p);
	hf_flagdoc_unref(old);
	hf_flagdoc_unref(doc);
	return rc;
}

static int flag_validate(struct hf_ctx *hctx, const char *file, struct hf_err *err)
{
	struct hf_flagdoc *doc;
	size_t i, n, disabled = 0;
	int rc = hf_flagdoc_load(file, 0, &doc, err);

	if (rc)
		return rc;
	n = hf_flagdoc_count(doc);
	for (i = 0; i < n; i++)
		disabled += !hf_flag_enabled(hf_flagdoc_at(doc, i));
	if (hctx->json)
		printf("{\"valid\":true,\"flags\":%zu,\"disabled\":%zu}\n", n, disabled);
	else if (!hctx->quiet)
		printf("%s: valid: %zu flag(s), %zu disabled\n", file, n, disabled);
	hf_flagdoc_unref(doc);
	return 0;
}

int cmd_flag(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *contexts = NULL, *against = NULL, *pos[2];
	const struct hf_opt opts[] = { { "contexts", &contexts, NULL }, { "against", &against, NULL },
				       { 0 } };
	int npos, help, rc;

	/* The cluster's clients have options of their own (flag_client.c). */
	if (argc > 1 && (!strcmp(argv[1], "watch") || !strcmp(argv[1], "status")))
		return hf_cmd_flag_client(argc, argv, ctx, err);
	if (argc > 1 && (!strcmp(argv[1], "set") || !strcmp(argv[1], "kill")))
		return hf_cmd_flag_publish(argc, argv, ctx, err);
	rc = hf_opts_parse(argc, argv, opts, pos, 2, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		hf_cmd_flag_client_usage(stdout);
		hf_cmd_flag_publish_usage(stdout);
		return 0;
	}
	if (npos < 2) {
		fputs(usage, stderr);
		return hf_err_set(err, HF_EINVAL, "flag needs a subcommand and a FILE");
	}
	if (!strcmp(pos[0], "validate"))
		return flag_validate(ctx, pos[1], err);
	if (!strcmp(pos[0], "eval"))
		return flag_eval(pos[1], contexts, err);
	if (!strcmp(pos[0], "preview"))
		return flag_preview(ctx, pos[1], contexts, against, err);
	return hf_err_set(err, HF_EINVAL, "'%s' is not a flag subcommand (validate, eval, preview)",
			  pos[0]);
}
