/* Reading a flag document (flagd's format, JSON or YAML) into a compiled,
 * immutable struct hf_flagdoc: the fields checked with their positions,
 * variants typed, targeting compiled (compile.c), a hash table of keys.
 * Evaluation is in flag.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/yaml.h"
#include "flags/internal.h"
#include "util/buf.h"

#define DOC_MAX_BYTES (16 * 1024 * 1024)

struct parse {
	struct hf_flagdoc *doc;
	unsigned flags;
	struct fy_node *evaluators;
};

static struct hf_pos no_pos(void)
{
	return (struct hf_pos){ 0, 0 };
}

static const char *type_name(enum hf_flag_type t)
{
	static const char *names[] = { "any", "boolean", "string", "number", "object" };

	return names[t];
}

static enum hf_flag_type value_type(const struct hf_fv *v)
{
	switch (v->type) {
	case HF_FV_BOOL:
		return HF_FLAG_BOOL;
	case HF_FV_STR:
		return HF_FLAG_STRING;
	case HF_FV_NUM:
		return HF_FLAG_NUMBER;
	case HF_FV_ARR:
	case HF_FV_OBJ:
		return HF_FLAG_OBJECT;
	default:
		return HF_FLAG_ANY;
	}
}

/* 'variants': a non-empty mapping of names to values of one type. */
static int read_variants(struct hf_yaml *y, struct hf_flagdoc *doc, const struct hf_field *f,
			 struct hf_flag *flag)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;
	uint32_t i = 0;

	if (hf_yaml_map(y, f, "a mapping of variant names to values", 0, &n))
		return HF_EINVAL;
	flag->variants = hf_pool_alloc(doc->pool, sizeof(*flag->variants) * n);
	while ((pair = fy_node_mapping_iterate(f->val, &it))) {
		struct fy_node *k = fy_node_pair_key(pair);
		struct hf_pos at = hf_yaml_pos(y, k, f->pos);
		struct hf_variant *v = &flag->variants[i];
		size_t len = 0;
		const char *name = fy_node_is_scalar(k) ? fy_node_get_scalar(k, &len) : NULL;
		enum hf_flag_type t;

		if (!name || !len)
			return hf_yaml_fail(y, at, "a variant name must be a non-empty string");
		v->name = hf_pool_strndup(doc->pool, name, len);
		v->nlen = (uint32_t)len;
		if (hf_flags_value(y, doc->pool, fy_node_pair_value(pair), &v->value))
			return HF_EINVAL;
		t = value_type(&v->value);
		if (t == HF_FLAG_ANY)
			return hf_yaml_fail(y, hf_yaml_pos(y, fy_node_pair_value(pair), at),
					    "variant '%s' must be a boolean, string, number or object",
					    v->name);
		if (i && t != flag->type)
			return hf_yaml_fail(y, hf_yaml_pos(y, fy_node_pair_value(pair), at),
					    "variant '%s' is a %s but variant '%s' is a %s: the variants "
					    "of a flag have one type", v->name, type_name(t),
					    flag->variants[0].name, type_name(flag->type));
		flag->type = t;
		i++;
	}
	flag->nvariants = i;
	return 0;
}

static const struct hf_variant *find_variant(const struct hf_flag *f, const char *s, size_t n)
{
	uint32_t i;

	for (i = 0; i < f->nvariants; i++)
		if (f->variants[i].nlen == n && hf_bytes_eq(f->variants[i].name, s, n))
			return &f->variants[i];
	return NULL;
}

static int read_state(struct hf_yaml *y, const struct hf_field *f, struct hf_flag *flag)
{
	static const char *const states[] = { "ENABLED", "DISABLED", NULL };
	int st;

	if (hf_yaml_enum(y, f, states, &st))
		return HF_EINVAL;
	flag->enabled = st == 0;
	return 0;
}

static int read_default(struct hf_yaml *y, const struct hf_field *f, struct hf_flag *flag)
{
	size_t len = 0;
	const char *s;

	if (!f->seen || hf_yaml_is_null(f->val))
		return 0;
	s = hf_yaml_scalar(y, f->val, f->pos, "defaultVariant", "a variant name");
	if (!s)
		return HF_EINVAL;
	len = strlen(s);
	/* flagd-core reads '' as no default variant. */
	if (!len)
		return 0;
	flag->defvar = find_variant(flag, s, len);
	if (!flag->defvar)
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "unknown variant '%s': "
				    "'defaultVariant' must name one of the flag's variants", s);
	return 0;
}

/* The variant a literal result names, as flagd-core reads it
 * (String(value)); NULL for null and for values no variant is named by. */
static const char *literal_name(const struct hf_fv *v, char *buf, uint32_t *len)
{
	switch (v->type) {
	case HF_FV_STR:
		*len = v->len;
		return v->u.s;
	case HF_FV_BOOL:
		*len = v->u.b ? 4 : 5;
		return v->u.b ? "true" : "false";
	case HF_FV_NUM:
		*len = (uint32_t)hf_js_numstr(v->u.n, buf);
		return buf;
	default:
		return NULL;
	}
}

static int check_literal(struct hf_yaml *y, const struct hf_flag *flag, const struct hf_fv *v,
			 int line, int col)
{
	char buf[40];
	uint32_t len;
	const char *name = literal_name(v, buf, &len);

	if (!name || find_variant(flag, name, len))
		return 0;
	return hf_yaml_fail(y, (struct hf_pos){ line, col }, "unknown variant '%.*s': flag '%s' "
			    "has no such variant, the rule would fail there", (int)len, name, flag->key);
}

/* A strict load checks the literals a rule can return (the branches of
 * 'if', the operands of 'and'/'or', the variants of 'fractional'): each
 * must name a variant of the flag. Computed results are not known. */
static int check_results(struct hf_yaml *y, const struct hf_flag *flag, const struct hf_lnode *n)
{
	uint32_t i;

	switch (n->op) {
	case LOP_LIT:
		return check_literal(y, flag, &n->lit, n->line, n->col);
	case LOP_IF:
		for (i = 1; i < n->nargs; i += 2)
			if (check_results(y, flag, &n->args[i]))
				return HF_EINVAL;
		return n->nargs % 2 && n->nargs > 1 ? check_results(y, flag, &n->args[n->nargs - 1]) : 0;
	case LOP_AND:
	case LOP_OR:
		for (i = 0; i < n->nargs; i++)
			if (check_results(y, flag, &n->args[i]))
				return HF_EINVAL;
		return 0;
	case LOP_FRACTIONAL:
		for (i = 0; i < n->nargs; i++) {
			const struct hf_lnode *e = &n->args[i];

			if (e->op == LOP_LIT && e->lit.type == HF_FV_ARR && e->lit.len &&
			    check_literal(y, flag, &e->lit.u.a[0], e->line, e->col))
				return HF_EINVAL;
		}
		return 0;
	default:
		return 0;
	}
}

/* The literal results of the rule's program that name a variant: found
 * here once, not by name at each evaluation. */
static void bind_results(struct hf_flag *flag)
{
	const struct hf_prog *prog = flag->targeting->prog;
	const struct hf_lnode *n;
	uint32_t i;

	for (i = 0; prog && i < prog->n; i++) {
		n = prog->insn[i].n;
		if (prog->insn[i].result && n && n->op == LOP_LIT && n->lit.type == HF_FV_STR)
			prog->insn[i].variant = find_variant(flag, n->lit.u.s, n->lit.len);
	}
}

/* 'targeting': absent or {} is none (STATIC); anything else compiles. A
 * lenient load keeps a flag whose rule does not compile, marked as
 * flagd-core marks it (PARSE_ERROR on every evaluation). */
static int read_targeting(struct hf_yaml *y, struct parse *p, const struct hf_field *f,
			  struct hf_flag *flag)
{
	struct hf_compile c = { .y = y, .pool = p->doc->pool, .flag_key = flag->key,
				.evaluators = p->evaluators };
	struct hf_err saved = {0};
	int rc;

	if (!f->seen || hf_yaml_is_null(f->val) ||
	    (fy_node_is_mapping(f->val) && !fy_node_mapping_item_count(f->val)))
		return 0;
	if (!fy_node_is_mapping(f->val) && !(p->flags & HF_FLAGDOC_LENIENT))
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos),
				    "'targeting' must be a JSONLogic rule (an object)");
	flag->targeting = hf_pool_alloc(p->doc->pool, sizeof(*flag->targeting));
	if (y->err)
		saved = *y->err;
	rc = hf_logic_compile(&c, f->val, flag->targeting);
	if (rc && (p->flags & HF_FLAGDOC_LENIENT)) {
		if (y->err)
			*y->err = saved;
		flag->parse_error = 1;
		flag->targeting = NULL;
		return 0;
	}
	if (!rc && !(p->flags & HF_FLAGDOC_LENIENT))
		rc = check_results(y, flag, flag->targeting);
	if (!rc)
		bind_results(flag);
	return rc;
}

static int read_metadata(struct hf_yaml *y, const struct hf_field *f)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;

	if (!f->seen)
		return 0;
	if (hf_yaml_map(y, f, "a mapping", HF_YAML_EMPTY_OK, &n))
		return HF_EINVAL;
	while (n && (pair = fy_node_mapping_iterate(f->val, &it))) {
		struct fy_node *v = fy_node_pair_value(pair);

		if (!v || !fy_node_is_scalar(v) || hf_yaml_is_null(v))
			return hf_yaml_fail(y, hf_yaml_pos(y, v, hf_yaml_pos(y, fy_node_pair_key(pair),
								      f->pos)),
					    "metadata values must be strings, numbers or booleans");
	}
	return 0;
}

static int read_flag(struct hf_yaml *y, struct parse *p, struct fy_node_pair *pair,
		     struct hf_flag *flag)
{
	struct fy_node *k = fy_node_pair_key(pair);
	struct hf_pos at = hf_yaml_pos(y, k, no_pos());
	struct hf_field fields[] = {
		{ .name = "state", .required = 1 },
		{ .name = "variants", .required = 1 },
		{ .name = "defaultVariant" },
		{ .name = "targeting" },
		{ .name = "metadata" },
	};
	char where[300];
	size_t len = 0;
	const char *key = fy_node_is_scalar(k) ? fy_node_get_scalar(k, &len) : NULL;

	if (!key || !len || memchr(key, 0, len))
		return hf_yaml_fail(y, at, "a flag key must be a non-empty string");
	flag->key = hf_pool_strndup(p->doc->pool, key, len);
	flag->klen = (uint32_t)len;
	snprintf(where, sizeof(where), "flag '%.200s'", flag->key);
	if (hf_yaml_walk(y, fy_node_pair_value(pair), at, where, fields, 5) ||
	    read_state(y, &fields[0], flag) || read_variants(y, p->doc, &fields[1], flag) ||
	    read_default(y, &fields[2], flag) || read_targeting(y, p, &fields[3], flag) ||
	    read_metadata(y, &fields[4]))
		return HF_EINVAL;
	return 0;
}

static void build_table(struct hf_flagdoc *doc)
{
	size_t size = 8, i;

	while (size < doc->nflags * 2)
		size <<= 1;
	doc->tmask = size - 1;
	doc->table = hf_pool_alloc(doc->pool, sizeof(*doc->table) * size);
	for (i = 0; i < doc->nflags; i++) {
		size_t h = hf_flags_keyhash(doc->flags[i].key, doc->flags[i].klen) & doc->tmask;

		while (doc->table[h])
			h = (h + 1) & doc->tmask;
		doc->table[h] = &doc->flags[i];
	}
}

static json_t *fv_to_json(const struct hf_fv *v)
{
	json_t *j;
	uint32_t i;

	switch (v->type) {
	case HF_FV_BOOL:
		return json_boolean(v->u.b);
	case HF_FV_NUM:
		/* Integers JSON can hold exactly, written without a fraction;
		 * checked before the cast, which is undefined out of range. */
		if (fabs(v->u.n) < 9007199254740992.0 && v->u.n == trunc(v->u.n))
			return json_integer((json_int_t)v->u.n);
		return json_real(v->u.n);
	case HF_FV_STR:
		j = json_stringn(v->u.s, v->len);
		return j ? j : json_string("\xef\xbf\xbd");
	case HF_FV_ARR:
		j = json_array();
		for (i = 0; i < v->len; i++)
			json_array_append_new(j, fv_to_json(&v->u.a[i]));
		return j;
	case HF_FV_OBJ:
		j = json_object();
		for (i = 0; i < v->len; i++)
			json_object_setn_new(j, v->u.o[i].key, v->u.o[i].klen, fv_to_json(&v->u.o[i].v));
		return j;
	default:
		return json_null();
	}
}

char *hf_fv_json(const struct hf_fv *v)
{
	json_t *j = fv_to_json(v);
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(j);
	return s;
}

static int walk_root(struct hf_yaml *y, struct fy_node *root, void *ud)
{
	struct parse *p = ud;
	struct hf_flagdoc *doc = p->doc;
	struct hf_field fields[] = {
		{ .name = "$schema" }, { .name = "flags", .required = 1 },
		{ .name = "$evaluators" }, { .name = "metadata" },
	};
	struct fy_node_pair *pair;
	struct hf_fv whole;
	void *it = NULL;
	size_t n;

	if (hf_yaml_walk(y, root, no_pos(), "the flag document", fields, 4) ||
	    hf_yaml_map(y, &fields[1], "a mapping of flag keys to flags", HF_YAML_EMPTY_OK, &n) ||
	    read_metadata(y, &fields[3]))
		return HF_EINVAL;
	if (fields[2].seen && hf_yaml_map(y, &fields[2], "a mapping of names to rules",
					  HF_YAML_EMPTY_OK, &(size_t){ 0 }))
		return HF_EINVAL;
	p->evaluators = fields[2].seen && fy_node_is_mapping(fields[2].val) ? fields[2].val : NULL;
	doc->flags = hf_pool_alloc(doc->pool, sizeof(*doc->flags) * (n ? n : 1));
	while (n && (pair = fy_node_mapping_iterate(fields[1].val, &it)))
		if (read_flag(y, p, pair, &doc->flags[doc->nflags++]))
			return HF_EINVAL;
	build_table(doc);
	/* The document as written, for hf_flagdoc_json(). */
	if (hf_flags_value(y, doc->pool, root, &whole))
		return HF_EINVAL;
	doc->json = fv_to_json(&whole);
	return 0;
}

int hf_flagdoc_parse(const char *path, const char *text, size_t len, unsigned flags,
		     struct hf_flagdoc **out, struct hf_err *err)
{
	struct hf_flagdoc *doc = hf_xcalloc(1, sizeof(*doc));
	struct hf_yaml y = { .path = path, .err = err, .text = text, .len = len };
	struct parse p = { .doc = doc, .flags = flags };
	int rc;

	doc->refs = 1;
	doc->pool = hf_pool_new();
	rc = hf_yaml_parse(&y, walk_root, &p);
	if (rc) {
		hf_flagdoc_unref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

int hf_flagdoc_load(const char *path, unsigned flags, struct hf_flagdoc **out, struct hf_err *err)
{
	struct hf_buf b = {0};
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= DOC_MAX_BYTES)
		hf_buf_append(&b, chunk, n);
	rc = ferror(f) ? hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path, strerror(errno))
	     : b.len > DOC_MAX_BYTES ? hf_err_set(err, HF_EINVAL, "'%s' is over %d MiB", path,
						 DOC_MAX_BYTES >> 20) : 0;
	fclose(f);
	if (!rc)
		rc = hf_flagdoc_parse(path, b.s ? b.s : "", b.len, flags, out, err);
	hf_buf_release(&b);
	return rc;
}

struct hf_flagdoc *hf_flagdoc_ref(struct hf_flagdoc *doc)
{
	__atomic_add_fetch(&doc->refs, 1, __ATOMIC_RELAXED);
	return doc;
}

void hf_flagdoc_unref(struct hf_flagdoc *doc)
{
	if (!doc || __atomic_sub_fetch(&doc->refs, 1, __ATOMIC_ACQ_REL))
		return;
	json_decref(doc->json);
	hf_pool_free(doc->pool);
	free(doc);
}

char *hf_flagdoc_json(const struct hf_flagdoc *doc)
{
	return json_dumps(doc->json, JSON_COMPACT | JSON_SORT_KEYS);
}
