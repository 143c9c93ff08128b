/* Evaluating a flag as flagd-core 4.x resolves it (FeatureFlag.evaluate
 * and FlagdCore.resolve): the variant targeting names, the reason, the
 * error codes; the accessors of a compiled document; contexts from JSON.
 * No allocation on the evaluation path. */
#include <string.h>

#include "flags/internal.h"
#include "util/buf.h"

size_t hf_flagdoc_count(const struct hf_flagdoc *doc)
{
	return doc->nflags;
}

const struct hf_flag *hf_flagdoc_at(const struct hf_flagdoc *doc, size_t i)
{
	return i < doc->nflags ? &doc->flags[i] : NULL;
}

static __attribute__((noinline)) const struct hf_flag *find_long(const struct hf_flagdoc *doc,
								 const char *key, size_t klen)
{
	size_t h = hf_flags_keyhash(key, klen) & doc->tmask;
	const struct hf_flag *f;

	while ((f = doc->table[h])) {
		if (f->klen == klen && !memcmp(f->key, key, klen))
			return f;
		h = (h + 1) & doc->tmask;
	}
	return NULL;
}

const struct hf_flag *hf_flagdoc_find(const struct hf_flagdoc *doc, const char *key, size_t klen)
{
	size_t h;
	const struct hf_flag *f;

	/* Keys over 16 bytes (MurmurHash3, memcmp) apart: the usual short
	 * key's lookup calls nothing and saves no registers. */
	if (klen > 16)
		return find_long(doc, key, klen);
	h = hf_flags_keyhash(key, klen) & doc->tmask;
	while ((f = doc->table[h])) {
		if (f->klen == klen && hf_bytes_eq16(f->key, key, klen))
			return f;
		h = (h + 1) & doc->tmask;
	}
	return NULL;
}

const char *hf_flag_key(const struct hf_flag *f)
{
	return f->key;
}

int hf_flag_enabled(const struct hf_flag *f)
{
	return f->enabled;
}

enum hf_flag_type hf_flag_type(const struct hf_flag *f)
{
	return f->type;
}

const char *hf_flag_default_variant(const struct hf_flag *f)
{
	return f->defvar ? f->defvar->name : NULL;
}

const struct hf_fv *hf_flag_variant(const struct hf_flag *f, const char *name, size_t nlen)
{
	uint32_t i;

	for (i = 0; i < f->nvariants; i++)
		if (f->variants[i].nlen == nlen && hf_bytes_eq(f->variants[i].name, name, nlen))
			return &f->variants[i].value;
	return NULL;
}

static int fail(struct hf_flagresult *res, enum hf_flag_errcode e)
{
	res->value = NULL;
	res->variant = NULL;
	res->reason = HF_REASON_ERROR;
	res->error = e;
	return -1;
}

static int type_ok(const struct hf_fv *v, enum hf_flag_type t)
{
	switch (t) {
	case HF_FLAG_BOOL:
		return v->type == HF_FV_BOOL;
	case HF_FLAG_STRING:
		return v->type == HF_FV_STR;
	case HF_FLAG_NUMBER:
		return v->type == HF_FV_NUM;
	case HF_FLAG_OBJECT:
		return v->type == HF_FV_OBJ || v->type == HF_FV_ARR;
	default:
		return 1;
	}
}

/* Run the rule: the variant's name it gives ('*name' NULL for a null
 * result) and '*var' when the rule's program knew the variant, or -1
 * where flagd-core's engine throws. */
static int run_targeting(const struct hf_flag *f, const struct hf_flagctx *ctx,
			 struct hf_flagarena *arena, const char **name, uint32_t *nlen,
			 const struct hf_variant **var)
{
	struct hf_evst st = { .ctx = ctx, .flag_key = f->key, .flag_klen = f->klen,
			      .timestamp = ctx->timestamp,
			      .arena = arena };
	struct hf_fv v;

	*name = NULL;
	if (hf_logic_eval(f->targeting, &st, &v))
		return -1;
	*var = st.variant;
	if (v.type == HF_FV_NULL)
		return 0;
	/* flagd-core takes String(result): true is variant "true", 3 is "3". */
	if (v.type == HF_FV_STR) {
		*name = v.u.s;
		*nlen = v.len;
		return 0;
	}
	return hf_js_tostring(&v, arena, name, nlen);
}

static int eval_flag(const struct hf_flag *f, const struct hf_flagctx *ctx, enum hf_flag_type type,
		     struct hf_flagarena *arena, struct hf_flagresult *res)
{
	const struct hf_variant *var = f->defvar, *bound = NULL;
	const char *name = NULL;
	uint32_t nlen = 0, i;

	res->reason = HF_REASON_STATIC;
	if (f->parse_error)
		return fail(res, HF_FLAGERR_PARSE_ERROR);
	if (f->targeting) {
		if (run_targeting(f, ctx, arena, &name, &nlen, &bound))
			return fail(res, HF_FLAGERR_GENERAL);
		res->reason = name ? HF_REASON_TARGETING_MATCH : HF_REASON_DEFAULT;
	}
	if (bound) {
		var = bound;
	} else if (name) {
		for (i = 0, var = NULL; i < f->nvariants && !var; i++)
			if (f->variants[i].nlen == nlen && hf_bytes_eq(f->variants[i].name, name, nlen))
				var = &f->variants[i];
		if (!var)
			return fail(res, HF_FLAGERR_GENERAL);
	} else if (!var) {
		/* No variant and no default: flagd-core answers DEFAULT without
		 * a value, the caller's default. */
		res->value = NULL;
		res->variant = NULL;
		res->reason = HF_REASON_DEFAULT;
		return 0;
	}
	if (!type_ok(&var->value, type))
		return fail(res, HF_FLAGERR_TYPE_MISMATCH);
	res->value = &var->value;
	res->variant = var->name;
	return 0;
}

/* Without the caller's arena: one on the stack, in a frame of its own so
 * that the usual path does not pay for a large one. */
static __attribute__((noinline)) int eval_scratch(const struct hf_flag *f,
						  const struct hf_flagctx *ctx,
						  enum hf_flag_type type, struct hf_flagresult *res)
{
	char scratch[HF_FLAGS_SCRATCH];
	struct hf_flagarena local = { scratch, sizeof(scratch), 0 };

	return eval_flag(f, ctx, type, &local, res);
}

int hf_flag_eval(const struct hf_flag *f, const struct hf_flagctx *ctx, enum hf_flag_type type,
		 struct hf_flagarena *arena, struct hf_flagresult *res)
{
	res->error = HF_FLAGERR_NONE;
	if (!f->enabled) {
		res->value = NULL;
		res->variant = NULL;
		res->reason = HF_REASON_DISABLED;
		return 0;
	}
	if (!arena)
		return f->targeting ? eval_scratch(f, ctx, type, res) : eval_flag(f, ctx, type, NULL, res);
	arena->used = 0;
	return eval_flag(f, ctx, type, arena, res);
}

int hf_flagdoc_eval(const struct hf_flagdoc *doc, const char *key, size_t klen,
		    const struct hf_flagctx *ctx, enum hf_flag_type type,
		    struct hf_flagarena *arena, struct hf_flagresult *res)
{
	const struct hf_flag *f = hf_flagdoc_find(doc, key, klen);

	if (!f) {
		res->error = HF_FLAGERR_NONE;
		return fail(res, HF_FLAGERR_FLAG_NOT_FOUND);
	}
	return hf_flag_eval(f, ctx, type, arena, res);
}

const char *hf_flag_reason_name(enum hf_flag_reason r)
{
	static const char *names[] = { "STATIC", "TARGETING_MATCH", "DEFAULT", "DISABLED", "ERROR" };

	return (unsigned)r < 5 ? names[r] : "UNKNOWN";
}

const char *hf_flag_errcode_name(enum hf_flag_errcode e)
{
	static const char *names[] = { "", "FLAG_NOT_FOUND", "PARSE_ERROR", "TYPE_MISMATCH",
				       "GENERAL" };

	return (unsigned)e < 5 ? names[e] : "GENERAL";
}

/* ---- contexts from JSON --------------------------------------------- */

static void json_to_fv(struct hf_pool *p, const json_t *j, struct hf_fv *out)
{
	const char *k;
	json_t *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	switch (json_typeof(j)) {
	case JSON_TRUE:
	case JSON_FALSE:
		out->type = HF_FV_BOOL;
		out->u.b = json_is_true(j);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		out->type = HF_FV_NUM;
		out->u.n = json_number_value(j);
		break;
	case JSON_STRING:
		out->type = HF_FV_STR;
		out->len = (uint32_t)json_string_length(j);
		out->u.s = hf_pool_strndup(p, json_string_value(j), out->len);
		break;
	case JSON_ARRAY: {
		struct hf_fv *a = hf_pool_alloc(p, sizeof(*a) * (json_array_size(j) + 1));

		out->type = HF_FV_ARR;
		out->len = (uint32_t)json_array_size(j);
		out->u.a = a;
		json_array_foreach(j, i, v)
			json_to_fv(p, v, &a[i]);
		break;
	}
	case JSON_OBJECT: {
		struct hf_fkv *o = hf_pool_alloc(p, sizeof(*o) * (json_object_size(j) + 1));

		out->type = HF_FV_OBJ;
		out->u.o = o;
		i = 0;
		json_object_foreach((json_t *)j, k, v) {
			o[i].key = hf_pool_strndup(p, k, strlen(k));
			o[i].klen = (uint32_t)strlen(k);
			json_to_fv(p, v, &o[i++].v);
		}
		out->len = (uint32_t)i;
		break;
	}
	default:
		out->type = HF_FV_NULL;
	}
}

int hf_flagctx_from_json(const struct json_t *obj, struct hf_flagctx_owned *out,
			 struct hf_err *err)
{
	struct hf_pool *p;
	struct hf_fv v;

	if (!obj || !json_is_object(obj))
		return hf_err_set(err, HF_EINVAL, "a context must be a JSON object");
	p = hf_pool_new();
	json_to_fv(p, obj, &v);
	memset(out, 0, sizeof(*out));
	out->ctx.attrs = v.u.o;
	out->ctx.nattrs = v.len;
	out->mem = p;
	return 0;
}

void hf_flagctx_release(struct hf_flagctx_owned *c)
{
	hf_pool_free(c->mem);
	c->mem = NULL;
}
