/* Compiling a flag's targeting (JSONLogic, read by libfyaml with its
 * positions) into a tree of hf_lnode, once per flag: operators looked
 * up, arguments counted, $ref replaced by its evaluator, 'var' paths
 * split, constant arrays folded, the flag key's hash state kept for
 * 'fractional', operators with a literal of the usual type specialised,
 * each 'if' made a flat program. Every refusal names FILE:LINE:COL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/yaml.h"
#include "flags/internal.h"

#define MAX_REF_DEPTH 16
#define MAX_NESTING 64

static const struct {
	const char *name;
	enum hf_lop op;
	int min, max;       /* arguments; -1: any number */
} ops[] = {
	{ "var", LOP_VAR, 0, 2 },
	{ "if", LOP_IF, 1, -1 },
	{ "?:", LOP_IF, 1, -1 },
	{ "==", LOP_EQ, 2, 2 },
	{ "!=", LOP_NE, 2, 2 },
	{ "===", LOP_SEQ, 2, 2 },
	{ "!==", LOP_SNE, 2, 2 },
	{ "<", LOP_LT, 2, 3 },
	{ "<=", LOP_LE, 2, 3 },
	{ ">", LOP_GT, 2, 3 },
	{ ">=", LOP_GE, 2, 3 },
	{ "and", LOP_AND, 1, -1 },
	{ "or", LOP_OR, 1, -1 },
	{ "!", LOP_NOT, 1, 1 },
	{ "!!", LOP_NOTNOT, 1, 1 },
	{ "in", LOP_IN, 2, 2 },
	{ "cat", LOP_CAT, 0, -1 },
	{ "substr", LOP_SUBSTR, 2, 3 },
	{ "starts_with", LOP_STARTS, 2, 2 },
	{ "ends_with", LOP_ENDS, 2, 2 },
	{ "sem_ver", LOP_SEMVER, 3, 3 },
	{ "fractional", LOP_FRACTIONAL, 1, -1 },
	/* hotfix's extension, unknown to flagd: a key's Redis Cluster slot. */
	{ "slot", LOP_SLOT, 1, 1 },
};

static struct hf_pos no_pos(void)
{
	return (struct hf_pos){ 0, 0 };
}

/* A JSON number as JSON writes it (YAML's other spellings are strings). */
static int json_number(const char *s, size_t n, double *out)
{
	char buf[64], *end;
	size_t i = 0;

	if (!n || n >= sizeof(buf))
		return 0;
	if (s[i] == '-')
		i++;
	if (i == n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < n && s[i + 1] >= '0' &&
						    s[i + 1] <= '9'))
		return 0;
	for (; i < n; i++)
		if (!strchr("0123456789.eE+-", s[i]))
			return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	*out = strtod(buf, &end);
	/* 1e999 is out of range: a string rather than an infinity JSON
	 * cannot write back. */
	return !*end && isfinite(*out);
}

static int scalar_value(struct hf_yaml *y, struct hf_pool *pool, struct fy_node *n,
			struct hf_fv *out)
{
	size_t len = 0;
	const char *s = fy_node_get_scalar(n, &len);

	if (!s)
		s = "";
	if (hf_yaml_is_plain(n)) {
		if (hf_yaml_is_null(n)) {
			out->type = HF_FV_NULL;
			return 0;
		}
		if ((len == 4 && !memcmp(s, "true", 4)) || (len == 5 && !memcmp(s, "false", 5))) {
			out->type = HF_FV_BOOL;
			out->u.b = len == 4;
			return 0;
		}
		if (json_number(s, len, &out->u.n)) {
			out->type = HF_FV_NUM;
			return 0;
		}
	}
	if (len > UINT32_MAX / 2)
		return hf_yaml_fail(y, hf_yaml_pos(y, n, no_pos()), "string too long");
	out->type = HF_FV_STR;
	out->len = (uint32_t)len;
	out->u.s = hf_pool_strndup(pool, s, len);
	return 0;
}

static int value_at(struct hf_yaml *y, struct hf_pool *pool, struct fy_node *n, struct hf_fv *out,
		    int depth)
{
	struct fy_node_pair *pair;
	struct fy_node *item;
	void *it = NULL;
	uint32_t i = 0;

	memset(out, 0, sizeof(*out));
	if (depth > MAX_NESTING)
		return hf_yaml_fail(y, hf_yaml_pos(y, n, no_pos()), "nested too deep (over %d levels)",
				    MAX_NESTING);
	if (!n || hf_yaml_is_alias(n)) {
		if (n)
			return hf_yaml_fail(y, hf_yaml_pos(y, n, no_pos()), "aliases are not allowed");
		return 0;
	}
	if (fy_node_is_scalar(n))
		return scalar_value(y, pool, n, out);
	if (fy_node_is_sequence(n)) {
		struct hf_fv *a = hf_pool_alloc(pool, sizeof(*a) * (size_t)fy_node_sequence_item_count(n));

		out->type = HF_FV_ARR;
		out->u.a = a;
		while ((item = fy_node_sequence_iterate(n, &it)))
			if (value_at(y, pool, item, &a[i++], depth + 1))
				return HF_EINVAL;
		out->len = i;
		return 0;
	}
	struct hf_fkv *o = hf_pool_alloc(pool, sizeof(*o) * (size_t)fy_node_mapping_item_count(n));

	out->type = HF_FV_OBJ;
	out->u.o = o;
	while ((pair = fy_node_mapping_iterate(n, &it))) {
		struct hf_fv k;

		if (value_at(y, pool, fy_node_pair_key(pair), &k, depth + 1))
			return HF_EINVAL;
		if (k.type != HF_FV_STR)
			return hf_yaml_fail(y, hf_yaml_pos(y, fy_node_pair_key(pair), no_pos()),
					    "object keys must be strings");
		o[i].key = k.u.s;
		o[i].klen = k.len;
		if (value_at(y, pool, fy_node_pair_value(pair), &o[i++].v, depth + 1))
			return HF_EINVAL;
	}
	out->len = i;
	return 0;
}

int hf_flags_value(struct hf_yaml *y, struct hf_pool *pool, struct fy_node *n, struct hf_fv *out)
{
	return value_at(y, pool, n, out, 0);
}

/* Split a 'var' path at dots; a backslash keeps a dot (or itself) as it
 * is, as json-logic-engine's splitPath does. */
static void split_path(struct hf_pool *pool, const char *s, size_t len, struct hf_lnode *out)
{
	char *cur = hf_pool_alloc(pool, len + 1);
	size_t i, n = 0, count = 1;
	uint32_t k = 0;

	for (i = 0; i < len; i++)
		count += s[i] == '.';
	out->segs = hf_pool_alloc(pool, sizeof(*out->segs) * count);
	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '.' || s[i + 1] == '/' ||
						    s[i + 1] == '\\')) {
			cur[n++] = s[++i];
		} else if (s[i] == '.') {
			out->segs[k++] = (struct hf_seg){ cur, (uint32_t)n };
			cur += n + 1;
			n = 0;
		} else {
			cur[n++] = s[i];
		}
	}
	/* "." is one empty segment, not two: splitPath never makes more
	 * segments than the path has characters. */
	if (k != len)
		out->segs[k++] = (struct hf_seg){ cur, (uint32_t)n };
	out->nsegs = k;
}

static int compile_at(struct hf_compile *c, struct fy_node *n, struct hf_lnode *out, int depth);

/* var: "path", ["path"], ["path", default]; an empty path or null is
 * the whole context. */
static int compile_var(struct hf_compile *c, struct fy_node *v, struct hf_pos at,
		       struct hf_lnode *out, int depth)
{
	struct fy_node *path = v, *def = NULL;
	size_t len = 0;
	const char *s;

	if (v && fy_node_is_sequence(v)) {
		int count = fy_node_sequence_item_count(v);

		if (count > 2)
			return hf_yaml_fail(c->y, at, "'var' takes a path and a default, found %d "
					    "arguments", count);
		path = count ? fy_node_sequence_get_by_index(v, 0) : NULL;
		def = count > 1 ? fy_node_sequence_get_by_index(v, 1) : NULL;
	}
	if (path && !fy_node_is_scalar(path))
		return hf_yaml_fail(c->y, hf_yaml_pos(c->y, path, at),
				    "the path of 'var' must be a string");
	if (def) {
		out->args = hf_pool_alloc(c->pool, sizeof(*out->args));
		out->nargs = 1;
		if (compile_at(c, def, out->args, depth + 1))
			return HF_EINVAL;
	}
	s = path && !hf_yaml_is_null(path) ? fy_node_get_scalar(path, &len) : NULL;
	if (s && len)
		split_path(c->pool, s, len, out);
	if (out->nsegs && out->segs[0].len == 6 && !memcmp(out->segs[0].s, "$flagd", 6)) {
		out->flagd = FLAGD_OTHER;
		if (out->nsegs == 2 && out->segs[1].len == 7 && !memcmp(out->segs[1].s, "flagKey", 7))
			out->flagd = FLAGD_KEY;
		if (out->nsegs == 2 && out->segs[1].len == 9 && !memcmp(out->segs[1].s, "timestamp", 9))
			out->flagd = FLAGD_TIMESTAMP;
	}
	return 0;
}

static int compile_ref(struct hf_compile *c, struct fy_node *v, struct hf_pos at,
		       struct hf_lnode *out, int depth)
{
	struct fy_node *target = NULL;
	size_t len = 0;
	const char *name = v && fy_node_is_scalar(v) ? fy_node_get_scalar(v, &len) : NULL;

	if (!name)
		return hf_yaml_fail(c->y, at, "'$ref' must name an evaluator");
	if (c->evaluators)
		target = fy_node_mapping_lookup_by_string(c->evaluators, name, len);
	if (!target)
		return hf_yaml_fail(c->y, hf_yaml_pos(c->y, v, at), "unknown $ref '%.*s' (no such "
				    "key in '$evaluators')", (int)len, name);
	if (++c->depth > MAX_REF_DEPTH)
		return hf_yaml_fail(c->y, at, "$ref '%.*s' refers to itself (or nests over %d "
				    "levels)", (int)len, name, MAX_REF_DEPTH);
	int rc = compile_at(c, target, out, depth + 1);
	c->depth--;
	return rc;
}

/* Fold an array of literals into one literal: the common case of
 * 'fractional' buckets and 'in' lists costs nothing at evaluation. */
static void fold(struct hf_compile *c, struct hf_lnode *n)
{
	struct hf_fv *a;
	uint32_t i;

	for (i = 0; i < n->nargs; i++)
		if (n->args[i].op != LOP_LIT)
			return;
	a = hf_pool_alloc(c->pool, sizeof(*a) * (n->nargs ? n->nargs : 1));
	for (i = 0; i < n->nargs; i++)
		a[i] = n->args[i].lit;
	n->op = LOP_LIT;
	n->lit = (struct hf_fv){ .type = HF_FV_ARR, .len = n->nargs, .u.a = a };
}

static struct hf_fv copy_value(struct hf_pool *pool, const struct hf_fv *v)
{
	struct hf_fv out = *v;
	uint32_t i;

	if (v->type == HF_FV_STR) {
		out.u.s = hf_pool_strndup(pool, v->u.s, v->len);
	} else if (v->type == HF_FV_ARR) {
		struct hf_fv *a = hf_pool_alloc(pool, sizeof(*a) * (v->len + 1));

		for (i = 0; i < v->len; i++)
			a[i] = copy_value(pool, &v->u.a[i]);
		out.u.a = a;
	} else if (v->type == HF_FV_OBJ) {
		struct hf_fkv *o = hf_pool_alloc(pool, sizeof(*o) * (v->len + 1));

		for (i = 0; i < v->len; i++) {
			o[i] = v->u.o[i];
			o[i].key = hf_pool_strndup(pool, v->u.o[i].key, v->u.o[i].klen);
			o[i].v = copy_value(pool, &v->u.o[i].v);
		}
		out.u.o = o;
	}
	return out;
}

/* json-logic-engine runs a json-logic operator whose arguments are all
 * constants when it builds the rule, with its interpreter: such a node is
 * a constant here too, and one that throws makes the rule fail to compile
 * (flagd-core: PARSE_ERROR). The interpreter's 'cat' skips nulls, where
 * the compiled one writes "null". flagd's own operators are not folded. */
static int fold_constant(struct hf_compile *c, struct hf_lnode *n, struct hf_pos at,
			 const char *name)
{
	char scratch[HF_FLAGS_SCRATCH];
	struct hf_flagarena arena = { scratch, sizeof(scratch), 0 };
	struct hf_flagctx none = { 0 };
	struct hf_evst st = { .ctx = &none, .flag_key = c->flag_key, .arena = &arena };
	struct hf_fv v;
	uint32_t i, k = 0;

	if (n->op == LOP_VAR || n->op >= LOP_STARTS)
		return 0;
	for (i = 0; i < n->nargs; i++)
		if (n->args[i].op != LOP_LIT)
			return 0;
	if (n->op == LOP_CAT) {
		for (i = 0; i < n->nargs; i++)
			if (n->args[i].lit.type != HF_FV_NULL)
				n->args[k++] = n->args[i];
		n->nargs = k;
	}
	if (hf_logic_eval(n, &st, &v))
		return hf_yaml_fail(c->y, at, "'%s' always fails on these constant arguments", name);
	n->op = LOP_LIT;
	n->lit = copy_value(c->pool, &v);
	n->nargs = 0;
	return 0;
}

/* What 'fractional' can know before any context: the flag key's hash
 * state, and the buckets when they are literals (the usual case). */
static void fractional_prepare(struct hf_compile *c, struct hf_lnode *n)
{
	struct hf_fv *e = hf_pool_alloc(c->pool, sizeof(*e) * n->nargs);
	uint32_t i, lit = 0;

	hf_flagdhash_init(&n->prefix);
	hf_flagdhash_update(&n->prefix, c->flag_key, strlen(c->flag_key));
	for (i = 0; i < n->nargs; i++) {
		e[i] = n->args[i].lit;
		lit += n->args[i].op == LOP_LIT;
	}
	if (lit == n->nargs) {
		n->all = hf_pool_alloc(c->pool, sizeof(*n->all));
		hf_buckets_build(c->pool, e, n->nargs, n->all);
	}
	if (lit - (n->args[0].op == LOP_LIT) == n->nargs - 1) {
		n->rest = hf_pool_alloc(c->pool, sizeof(*n->rest));
		hf_buckets_build(c->pool, e + 1, n->nargs - 1, n->rest);
	}
}

/* A list of strings long enough for a hash to beat a scan of it. */
#define STRSET_SCAN 8

/* The set of the strings of 'arr' for 'in' (all of them strings): their
 * lengths, and past a few, an open-addressing table of their hashes. */
static struct hf_strset *strset_build(struct hf_pool *pool, const struct hf_fv *arr)
{
	struct hf_strset *set = hf_pool_alloc(pool, sizeof(*set));
	uint32_t i, h, size = 16;

	for (i = 0; i < arr->len; i++)
		set->lens |= 1ull << (arr->u.a[i].len < 63 ? arr->u.a[i].len : 63);
	if (arr->len <= STRSET_SCAN)
		return set;
	while (size < arr->len * 2)
		size *= 2;
	set->slots = hf_pool_alloc(pool, sizeof(*set->slots) * size);
	set->mask = size - 1;
	for (i = 0; i < arr->len; i++) {
		h = hf_flags_keyhash(arr->u.a[i].u.s, arr->u.a[i].len) & set->mask;
		while (set->slots[h])
			h = (h + 1) & set->mask;
		set->slots[h] = i + 1;
	}
	return set;
}

static int all_strings(const struct hf_fv *v)
{
	uint32_t i;

	if (v->type != HF_FV_ARR)
		return 0;
	for (i = 0; i < v->len; i++)
		if (v->u.a[i].type != HF_FV_STR)
			return 0;
	return 1;
}

/* Operators whose last argument is a literal of the type they usually
 * meet get a node of their own (eval.c), with the same results: each
 * takes the general path when the other argument is of another type. */
static void specialise(struct hf_compile *c, struct hf_lnode *n)
{
	const struct hf_fv *lit = n->nargs == 2 && n->args[1].op == LOP_LIT ? &n->args[1].lit : NULL;

	if (!lit)
		return;
	if ((n->op == LOP_STARTS || n->op == LOP_ENDS) && lit->type == HF_FV_STR) {
		n->op = n->op == LOP_STARTS ? LOP_STARTS_LIT : LOP_ENDS_LIT;
	} else if (n->op == LOP_IN && all_strings(lit)) {
		n->set = strset_build(c->pool, lit);
		n->op = LOP_IN_STRS;
	} else if (n->op >= LOP_EQ && n->op <= LOP_GE &&
		   ((lit->type == HF_FV_NUM && lit->u.n == lit->u.n) || lit->type == HF_FV_STR)) {
		n->cmp = n->op;
		n->op = LOP_CMP_LIT;
	}
}

/* The instructions an operand of a condition, or a result, takes. */
static uint32_t prog_size(const struct hf_lnode *n, int cond)
{
	uint32_t i, size = 0;

	if (!cond && n->op == LOP_IF) {
		for (i = 0; i < n->nargs; i++)
			size += prog_size(&n->args[i], i % 2 == 0 && i + 1 < n->nargs);
		return size + 1;   /* the null of a missing 'else' */
	}
	if (cond && (n->op == LOP_AND || n->op == LOP_OR) && n->nargs) {
		for (i = 0; i < n->nargs; i++)
			size += prog_size(&n->args[i], 1);
		return size;
	}
	if (cond && (n->op == LOP_NOT || n->op == LOP_NOTNOT) && n->nargs == 1)
		return prog_size(&n->args[0], 1);
	return 1;
}

struct prog {
	struct hf_insn *insn;
	uint32_t n;
};

static uint32_t emit(struct prog *p, const struct hf_lnode *n, uint32_t t, uint32_t f, int result)
{
	struct hf_insn *i = &p->insn[p->n];
	const struct hf_lnode *a;

	*i = (struct hf_insn){ .op = n ? n->op : LOP_LIT, .n = n, .t = t, .f = f, .result = result };
	if (!result && hf_lop_special(n->op)) {
		a = &n->args[0];
		i->lit = n->args[1].lit;
		i->cmp = n->cmp;
		i->set = n->set;
		if (a->op == LOP_VAR && a->nsegs == 1 && !a->flagd && a->segs[0].len &&
		    a->segs[0].len <= 16) {
			i->key = a->segs[0].s;
			i->klen = a->segs[0].len;
		}
	}
	return p->n++;
}

/* Code that goes to 't' when 'n' is truthy, to 'f' when falsy: and/or
 * short-circuit as JavaScript's && and || (the operand that decides has
 * the truthiness of the whole), '!' swaps the targets. Built from the
 * end, so that each operand's code knows where it goes; returns where
 * the code starts. */
static uint32_t prog_cond(struct prog *p, const struct hf_lnode *n, uint32_t t, uint32_t f)
{
	uint32_t i, at;

	if ((n->op == LOP_AND || n->op == LOP_OR) && n->nargs) {
		at = prog_cond(p, &n->args[n->nargs - 1], t, f);
		for (i = n->nargs - 1; i-- > 0;)
			at = n->op == LOP_AND ? prog_cond(p, &n->args[i], at, f)
					      : prog_cond(p, &n->args[i], t, at);
		return at;
	}
	if ((n->op == LOP_NOT || n->op == LOP_NOTNOT) && n->nargs == 1)
		return n->op == LOP_NOT ? prog_cond(p, &n->args[0], f, t)
					: prog_cond(p, &n->args[0], t, f);
	return emit(p, n, t, f, 0);
}

/* A result: a nested 'if' joins the program, anything else is evaluated. */
static uint32_t prog_value(struct prog *p, const struct hf_lnode *n)
{
	uint32_t at, i = n->nargs;

	if (n->op != LOP_IF)
		return emit(p, n, 0, 0, 1);
	if (i % 2) {
		at = prog_value(p, &n->args[--i]);
	} else {
		at = emit(p, NULL, 0, 0, 1);
	}
	while (i >= 2) {
		i -= 2;
		at = prog_cond(p, &n->args[i], prog_value(p, &n->args[i + 1]), at);
	}
	return at;
}

static void prog_build(struct hf_compile *c, struct hf_lnode *n)
{
	struct prog p = { hf_pool_alloc(c->pool, sizeof(*p.insn) * prog_size(n, 0)), 0 };

	n->prog = hf_pool_alloc(c->pool, sizeof(*n->prog));
	n->prog->entry = prog_value(&p, n);
	n->prog->insn = p.insn;
	n->prog->n = p.n;
}

static int compile_args(struct hf_compile *c, struct fy_node *v, struct hf_lnode *out, int depth)
{
	struct fy_node *item;
	void *it = NULL;
	uint32_t i = 0;

	if (!v || !fy_node_is_sequence(v)) {
		/* One argument not in a list, as json-logic allows. */
		out->args = hf_pool_alloc(c->pool, sizeof(*out->args));
		out->nargs = 1;
		out->unary = 1;
		return compile_at(c, v, out->args, depth + 1);
	}
	out->nargs = (uint32_t)fy_node_sequence_item_count(v);
	out->args = hf_pool_alloc(c->pool, sizeof(*out->args) * (out->nargs ? out->nargs : 1));
	while ((item = fy_node_sequence_iterate(v, &it)))
		if (compile_at(c, item, &out->args[i++], depth + 1))
			return HF_EINVAL;
	return 0;
}

static int compile_op(struct hf_compile *c, struct fy_node *map, struct hf_lnode *out, int depth)
{
	void *it = NULL;
	struct fy_node_pair *pair = fy_node_mapping_iterate(map, &it);
	struct fy_node *key = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
	struct hf_pos at = hf_yaml_pos(c->y, key, no_pos());
	size_t len = 0, i;
	const char *name = fy_node_is_scalar(key) ? fy_node_get_scalar(key, &len) : NULL;

	if (name && len == 4 && !memcmp(name, "$ref", 4))
		return compile_ref(c, v, at, out, depth);
	for (i = 0; name && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == len && !memcmp(ops[i].name, name, len))
			break;
	if (!name || i == sizeof(ops) / sizeof(ops[0]))
		return hf_yaml_fail(c->y, at, "unknown operator '%.*s'", (int)len, name ? name : "?");
	out->op = ops[i].op;
	if (out->op == LOP_VAR)
		return compile_var(c, v, at, out, depth);
	if (compile_args(c, v, out, depth))
		return HF_EINVAL;
	if ((int)out->nargs < ops[i].min || (ops[i].max >= 0 && (int)out->nargs > ops[i].max)) {
		if (ops[i].min == ops[i].max)
			return hf_yaml_fail(c->y, at, "'%s' takes %d argument%s, found %u", ops[i].name,
					    ops[i].min, ops[i].min == 1 ? "" : "s", out->nargs);
		if (ops[i].max < 0)
			return hf_yaml_fail(c->y, at, "'%s' takes at least %d argument%s, found %u",
					    ops[i].name, ops[i].min, ops[i].min == 1 ? "" : "s",
					    out->nargs);
		return hf_yaml_fail(c->y, at, "'%s' takes %d to %d arguments, found %u", ops[i].name,
				    ops[i].min, ops[i].max, out->nargs);
	}
	if (out->op == LOP_FRACTIONAL)
		fractional_prepare(c, out);
	if (fold_constant(c, out, at, ops[i].name))
		return HF_EINVAL;
	specialise(c, out);
	if (out->op == LOP_IF)
		prog_build(c, out);
	return 0;
}

static int compile_at(struct hf_compile *c, struct fy_node *n, struct hf_lnode *out, int depth)
{
	struct hf_pos pos = hf_yaml_pos(c->y, n, no_pos());

	memset(out, 0, sizeof(*out));
	out->line = pos.line;
	out->col = pos.col;
	if (depth > MAX_NESTING)
		return hf_yaml_fail(c->y, hf_yaml_pos(c->y, n, no_pos()),
				    "rule nested too deep (over %d levels)", MAX_NESTING);
	if (n && fy_node_is_mapping(n) && fy_node_mapping_item_count(n) > 1)
		return hf_yaml_fail(c->y, hf_yaml_pos(c->y, n, no_pos()),
				    "a rule object holds one operator, this one has %d keys",
				    fy_node_mapping_item_count(n));
	if (n && fy_node_is_mapping(n) && fy_node_mapping_item_count(n) == 1)
		return compile_op(c, n, out, depth);
	if (n && fy_node_is_sequence(n)) {
		struct fy_node *item;
		void *it = NULL;
		uint32_t i = 0;

		out->op = LOP_ARRAY;
		out->nargs = (uint32_t)fy_node_sequence_item_count(n);
		out->args = hf_pool_alloc(c->pool, sizeof(*out->args) * (out->nargs ? out->nargs : 1));
		while ((item = fy_node_sequence_iterate(n, &it)))
			if (compile_at(c, item, &out->args[i++], depth + 1))
				return HF_EINVAL;
		fold(c, out);
		return 0;
	}
	out->op = LOP_LIT;
	return hf_flags_value(c->y, c->pool, n, &out->lit);
}

int hf_logic_compile(struct hf_compile *c, struct fy_node *n, struct hf_lnode *out)
{
	return compile_at(c, n, out, 0);
}
