/* libFuzzer target: the flag document parser and the evaluator. The input
 * is a document, optionally followed by a NUL and a JSON context. A
 * document either loads (leniently, as 'hotfix flag eval' does) or fails
 * with FILE:LINE:COL; a loaded one evaluates every flag for a few contexts
 * without crashing, leaking or leaving the arena, and its canonical JSON
 * loads again into the same canonical JSON. Built by 'make fuzz'. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/flags.h"

static const char *fixed_ctx =
	"{\"targetingKey\": \"jos\\u00e9-\\ud83d\\udc4d\", \"email\": \"ops@example.com\", \"age\": 42,"
	" \"plan\": \"pro\", \"beta\": true, \"version\": \"1.2.3-beta.1\", \"tags\": [\"a\", 1, null],"
	" \"org\": {\"tier\": \"gold\"}, \"score\": 0.5, \"s\": \"42\", \"w\": 3, \"n\": -1,"
	" \"a\": \"a\", \"b\": \"b\", \"x\": 0, \"z\": \"\"}";

static void eval_all(const struct hf_flagdoc *doc, const struct hf_flagctx *ctx)
{
	char scratch[HF_FLAGS_SCRATCH];
	struct hf_flagarena arena = { scratch, sizeof(scratch), 0 };
	struct hf_flagresult res;
	size_t i;

	for (i = 0; i < hf_flagdoc_count(doc); i++) {
		const struct hf_flag *f = hf_flagdoc_at(doc, i);
		int rc = hf_flag_eval(f, ctx, HF_FLAG_ANY, &arena, &res);

		if (arena.used > arena.cap || (rc == 0) != (res.reason != HF_REASON_ERROR))
			abort();
		if (res.reason == HF_REASON_TARGETING_MATCH && !res.value)
			abort();
		if (res.value) {
			char *s = hf_fv_json(res.value);

			if (!s)
				abort();
			free(s);
		}
		if (hf_flagdoc_find(doc, hf_flag_key(f), strlen(hf_flag_key(f))) != f)
			abort();
	}
}

static void with_context(const struct hf_flagdoc *doc, const char *json, size_t len)
{
	struct hf_flagctx_owned c;
	json_t *j = json_loadb(json, len, 0, NULL);

	if (j && !hf_flagctx_from_json(j, &c, NULL)) {
		c.ctx.timestamp = 1800000000;
		eval_all(doc, &c.ctx);
		hf_flagctx_release(&c);
	}
	json_decref(j);
}

static void round_trip(const struct hf_flagdoc *doc)
{
	struct hf_flagdoc *again = NULL;
	struct hf_err err = {0};
	char *s = hf_flagdoc_json(doc), *s2;

	if (!s || hf_flagdoc_parse("canonical.json", s, strlen(s), HF_FLAGDOC_LENIENT, &again, &err))
		abort();
	s2 = hf_flagdoc_json(again);
	if (!s2 || strcmp(s, s2))
		abort();
	free(s);
	free(s2);
	hf_flagdoc_unref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nul = memchr(data, 0, size);
	size_t doclen = nul ? (size_t)(nul - text) : size;
	struct hf_flagdoc *doc = NULL;
	struct hf_flagctx empty = { .timestamp = 1 };
	struct hf_err err = {0};
	int rc;

	rc = hf_flagdoc_parse("/fuzz/flags.json", text, doclen, HF_FLAGDOC_LENIENT, &doc, &err);
	if (rc) {
		if (doc || rc != HF_EINVAL || strncmp(err.msg, "/fuzz/flags.json:", 17))
			abort();
		return 0;
	}
	eval_all(doc, &empty);
	with_context(doc, fixed_ctx, strlen(fixed_ctx));
	if (nul)
		with_context(doc, nul + 1, size - doclen - 1);
	round_trip(doc);
	hf_flagdoc_unref(doc);
	return 0;
}
