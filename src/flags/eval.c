/* Evaluating a compiled JSONLogic tree as flagd-core's engine
 * (json-logic-engine 5, compiled mode) does, with flagd's operators:
 * every operator's result, and the cases where JavaScript would throw
 * (returned as -1: the flag then answers ERROR/GENERAL). Nothing here
 * allocates: new strings and arrays go to the caller's arena. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "flags/internal.h"
#include "util/keyslot.h"

#define NUL ((struct hf_fv){ .type = HF_FV_NULL })
/* The operators stay out of hf_logic_eval(), so that the dispatch every
 * node goes through (literals and paths most of all) stays a small
 * function with a short prologue. */
#define NOINLINE __attribute__((noinline))
/* The tests of the specialised nodes, each a few instructions, inline
 * where the node's and the program's tests run them. */
#define INLINE inline __attribute__((always_inline))

static struct hf_fv boolean(int b)
{
	return (struct hf_fv){ .type = HF_FV_BOOL, .u.b = !!b };
}

/* JavaScript's falsy values (unlike hf_js_truthy, arrays are truthy). */
static int js_falsy(const struct hf_fv *v)
{
	return v->type == HF_FV_NULL || (v->type == HF_FV_BOOL && !v->u.b) ||
	       (v->type == HF_FV_NUM && (v->u.n == 0 || isnan(v->u.n))) ||
	       (v->type == HF_FV_STR && !v->len);
}

static NOINLINE const struct hf_fv *obj_get_long(const struct hf_fkv *o, uint32_t n,
						  const char *k, uint32_t klen)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (o[i].klen == klen && o[i].key[0] == k[0] && !memcmp(o[i].key, k, klen))
			return &o[i].v;
	return NULL;
}

static const struct hf_fv *obj_get(const struct hf_fkv *o, uint32_t n, const char *k, uint32_t klen)
{
	uint32_t i;

	/* A key over 16 bytes is compared by memcmp, in a function of its
	 * own: this loop over the usual short ones calls nothing. */
	if (klen > 16)
		return obj_get_long(o, n, k, klen);
	/* Length and first byte first: most keys differ there. */
	for (i = 0; i < n; i++)
		if (o[i].klen == klen && (!klen || o[i].key[0] == k[0]) &&
		    hf_bytes_eq16(o[i].key, k, klen))
			return &o[i].v;
	return NULL;
}

/* An array index as JavaScript reads a property name: canonical digits. */
static int index_of(const struct hf_seg *s, uint32_t *out)
{
	uint32_t i, v = 0;

	if (!s->len || s->len > 9 || (s->len > 1 && s->s[0] == '0'))
		return 0;
	for (i = 0; i < s->len; i++) {
		if (s->s[i] < '0' || s->s[i] > '9')
			return 0;
		v = v * 10 + (uint32_t)(s->s[i] - '0');
	}
	*out = v;
	return 1;
}

/* One step of a path: an object's key, an array's item or length, a
 * string's length. NULL where JavaScript finds undefined. */
static void step(const struct hf_fv *cur, const struct hf_seg *s, struct hf_fv *tmp,
		 const struct hf_fv **next)
{
	uint32_t i;

	*next = NULL;
	if (cur->type == HF_FV_OBJ) {
		*next = obj_get(cur->u.o, cur->len, s->s, s->len);
	} else if (cur->type == HF_FV_ARR && index_of(s, &i)) {
		*next = i < cur->len ? &cur->u.a[i] : NULL;
	} else if ((cur->type == HF_FV_ARR || cur->type == HF_FV_STR) && s->len == 6 &&
		   hf_bytes_eq(s->s, "length", 6)) {
		tmp->type = HF_FV_NUM;
		tmp->u.n = cur->type == HF_FV_ARR ? cur->len : hf_js_u16len(cur->u.s, cur->len);
		*next = tmp;
	}
}

/* "$flagd.flagKey" and "$flagd.timestamp", as flagd-core puts them in
 * the context of every evaluation (which one was decided at compile). */
static const struct hf_fv *flagd_prop(const struct hf_lnode *n, struct hf_evst *st,
				      struct hf_fv *tmp)
{
	if (n->flagd == FLAGD_KEY) {
		*tmp = (struct hf_fv){ .type = HF_FV_STR, .len = st->flag_klen, .u.s = st->flag_key };
		return tmp;
	}
	if (n->flagd == FLAGD_TIMESTAMP) {
		/* Read once per evaluation, and only by rules that ask. */
		if (!st->timestamp)
			st->timestamp = (long long)time(NULL);
		*tmp = (struct hf_fv){ .type = HF_FV_NUM, .u.n = (double)st->timestamp };
		return tmp;
	}
	return NULL;   /* the object itself or another key: no rule of flagd's reads them */
}

/* var: the path's value, or the default when it is undefined or null
 * (the compiled engine reads 'a?.[b] ?? default'). */
static NOINLINE int ev_var(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv root = { .type = HF_FV_OBJ, .len = (uint32_t)st->ctx->nattrs,
			      .u.o = st->ctx->attrs }, tmp;
	const struct hf_fv *cur = &root;
	uint32_t i;

	if (n->flagd) {
		cur = flagd_prop(n, st, &tmp);
	} else {
		for (i = 0; i < n->nsegs && cur; i++)
			step(cur, &n->segs[i], &tmp, &cur);
	}
	if (cur && cur->type != HF_FV_NULL) {
		*out = *cur;
		return 0;
	}
	if (n->nargs)
		return hf_logic_eval(&n->args[0], st, out);
	*out = NUL;
	return 0;
}

/* Evaluate a node: literals inline, the rest through the dispatcher. Most
 * arguments are literals. */
static inline int ev(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	if (n->op == LOP_LIT) {
		*out = n->lit;
		return 0;
	}
	if (n->op == LOP_VAR && n->nsegs == 1 && !n->flagd) {
		/* An attribute by name, the commonest path of all. */
		const struct hf_fv *v = obj_get(st->ctx->attrs, (uint32_t)st->ctx->nattrs,
						n->segs[0].s, n->segs[0].len);

		if (v && v->type != HF_FV_NULL) {
			*out = *v;
			return 0;
		}
	}
	if (n->op == LOP_VAR)
		return ev_var(n, st, out);
	return hf_logic_eval(n, st, out);
}

static int test(const struct hf_lnode *n, struct hf_evst *st);

static NOINLINE int ev_if(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	uint32_t i;

	if (!n->nargs) {
		*out = NUL;
		return 0;
	}
	for (i = 0; i + 1 < n->nargs; i += 2) {
		int r = test(&n->args[i], st);

		if (r < 0)
			return -1;
		if (r)
			return ev(&n->args[i + 1], st, out);
	}
	if (i < n->nargs)
		return ev(&n->args[i], st, out);
	*out = NUL;
	return 0;
}

/* and / or: the operand that decides, as JavaScript's && and || do. */
static NOINLINE int ev_andor(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out,
			     int is_or)
{
	uint32_t i;

	*out = NUL;
	for (i = 0; i < n->nargs; i++) {
		if (ev(&n->args[i], st, out))
			return -1;
		if (hf_js_truthy(out) == is_or)
			return 0;
	}
	return 0;
}

/* precoerceNumber() of json-logic-engine: throws for NaN and for any
 * truthy array or object. */
static int precoerce_ok(const struct hf_fv *v)
{
	if (v->type == HF_FV_NUM && isnan(v->u.n))
		return 0;
	return v->type != HF_FV_ARR && v->type != HF_FV_OBJ;
}

static int str_or_null(const struct hf_fv *v)
{
	return v->type == HF_FV_STR || v->type == HF_FV_NULL;
}

/* compareCheck(item, prev): the right operand as the compiled comparison
 * sees it, or -1 where it throws. */
static int compare_check(const struct hf_fv *item, const struct hf_fv *prev, int strict,
			 struct hf_fv *out)
{
	*out = *item;
	if (strict || (str_or_null(item) && str_or_null(prev)))
		return 0;
	/* Two numbers, the usual case: nothing to check but NaN. */
	if (item->type == HF_FV_NUM && prev->type == HF_FV_NUM)
		return isnan(item->u.n) || isnan(prev->u.n) ? -1 : 0;
	if (!precoerce_ok(item) || (isnan(hf_js_tonumber(item)) && prev->type != HF_FV_NULL))
		return -1;
	if (!precoerce_ok(prev) || isnan(hf_js_tonumber(prev)))
		return -1;
	if (prev->type == HF_FV_NULL && js_falsy(item))
		*out = NUL;
	else if (item->type == HF_FV_NULL && js_falsy(prev))
		*out = (struct hf_fv){ .type = HF_FV_NUM, .u.n = 0 };
	return 0;
}

static int apply_cmp(enum hf_lop op, const struct hf_fv *a, const struct hf_fv *b)
{
	if (a->type == HF_FV_NUM && b->type == HF_FV_NUM && op >= LOP_LT && op <= LOP_GE) {
		double x = a->u.n, y = b->u.n;

		return op == LOP_LT ? x < y : op == LOP_LE ? x <= y : op == LOP_GT ? x > y : x >= y;
	}
	switch (op) {
	case LOP_EQ:
		return hf_js_loose_eq(a, b);
	case LOP_NE:
		return !hf_js_loose_eq(a, b);
	case LOP_SEQ:
		return hf_js_strict_eq(a, b);
	case LOP_SNE:
		return !hf_js_strict_eq(a, b);
	case LOP_LT:
		return hf_js_less(a, b, 0);
	case LOP_LE:
		return hf_js_less(a, b, 1);
	case LOP_GT:
		return hf_js_less(b, a, 0);
	case LOP_GE:
		return hf_js_less(b, a, 1);
	default:
		return 0;
	}
}

/* prev OP (prev = compareCheck(cur, prev)): 1, 0, or -1 where it throws. */
static int cmp_step(enum hf_lop op, const struct hf_fv *prev, const struct hf_fv *cur,
		    struct hf_fv *chk)
{
	if (compare_check(cur, prev, op == LOP_SEQ || op == LOP_SNE, chk))
		return -1;
	return apply_cmp(op, prev, chk);
}

/* ((prev = a) OP (prev = compareCheck(b, prev))) && prev OP compareCheck(c, prev) */
static NOINLINE int ev_cmp(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv prev, cur, chk;
	uint32_t i;
	int r;

	if (ev(&n->args[0], st, &prev))
		return -1;
	for (i = 1; i < n->nargs; i++) {
		if (ev(&n->args[i], st, &cur) || (r = cmp_step(n->op, &prev, &cur, &chk)) < 0)
			return -1;
		if (!r) {
			*out = boolean(0);
			return 0;
		}
		prev = chk;
	}
	*out = boolean(1);
	return 0;
}

/* in: (b || []).includes(a): an array's item (SameValueZero) or a
 * substring; anything else truthy has no 'includes' and throws. */
static NOINLINE int ev_in(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv a, b;
	const char *s;
	uint32_t i, len;

	if (ev(&n->args[0], st, &a) || ev(&n->args[1], st, &b))
		return -1;
	*out = boolean(0);
	if (js_falsy(&b))
		return 0;
	if (b.type == HF_FV_ARR) {
		for (i = 0; i < b.len && a.type == HF_FV_STR; i++)
			if (b.u.a[i].type == HF_FV_STR && b.u.a[i].len == a.len &&
			    hf_bytes_eq(b.u.a[i].u.s, a.u.s, a.len)) {
				*out = boolean(1);
				return 0;
			}
		for (i = 0; i < b.len && a.type != HF_FV_STR; i++)
			if (hf_js_strict_eq(&b.u.a[i], &a) ||
			    (a.type == HF_FV_NUM && b.u.a[i].type == HF_FV_NUM && isnan(a.u.n) &&
			     isnan(b.u.a[i].u.n)))
				*out = boolean(1);
		return 0;
	}
	if (b.type != HF_FV_STR || hf_js_tostring(&a, st->arena, &s, &len))
		return -1;
	*out = boolean(len == 0 || (len <= b.len && memmem(b.u.s, b.len, s, len)));
	return 0;
}

/* ---- specialised nodes (compile.c, specialise()) --------------------- */

/* A comparison of 'a' with the literal number or string 'b': two numbers
 * (no NaN) or two strings for equality compared at once, any other pair
 * as ev_cmp does. 1, 0, or -1 where it throws. */
static INLINE int cmp_with(enum hf_lop cmp, const struct hf_fv *a, const struct hf_fv *b)
{
	struct hf_fv chk;
	int eq;

	if (a->type == HF_FV_NUM && b->type == HF_FV_NUM && a->u.n == a->u.n) {
		double x = a->u.n, y = b->u.n;

		switch (cmp) {
		case LOP_EQ: case LOP_SEQ:
			return x == y;
		case LOP_NE: case LOP_SNE:
			return x != y;
		case LOP_LT:
			return x < y;
		case LOP_LE:
			return x <= y;
		case LOP_GT:
			return x > y;
		default:
			return x >= y;
		}
	}
	if (a->type == HF_FV_STR && b->type == HF_FV_STR && cmp <= LOP_SNE) {
		eq = a->len == b->len && hf_bytes_eq(a->u.s, b->u.s, a->len);
		return cmp == LOP_EQ || cmp == LOP_SEQ ? eq : !eq;
	}
	return cmp_step(cmp, a, b, &chk);
}

/* 'a' in the literal array of strings 'b': nothing but a string is
 * among them (SameValueZero), and a string only where one has its length
 * and bytes. */
static INLINE int in_set(const struct hf_fv *a, const struct hf_fv *b, const struct hf_strset *set)
{
	const struct hf_fv *item = b->u.a;
	uint32_t i, h;

	if (a->type != HF_FV_STR || !((set->lens >> (a->len < 63 ? a->len : 63)) & 1))
		return 0;
	if (set->slots) {
		h = hf_flags_keyhash(a->u.s, a->len) & set->mask;
		for (; (i = set->slots[h]); h = (h + 1) & set->mask)
			if (item[i - 1].len == a->len && hf_bytes_eq(item[i - 1].u.s, a->u.s, a->len))
				return 1;
		return 0;
	}
	for (i = 0; i < b->len; i++)
		if (item[i].len == a->len && hf_bytes_eq(item[i].u.s, a->u.s, a->len))
			return 1;
	return 0;
}

/* 's' starts or ends with the literal string 'x': 1, 0, or 2 for null
 * (no string). */
static INLINE int affix_with(int starts, const struct hf_fv *s, const struct hf_fv *x)
{
	if (s->type != HF_FV_STR)
		return 2;
	if (x->len > s->len)
		return 0;
	return hf_bytes_eq(starts ? s->u.s : s->u.s + s->len - x->len, x->u.s, x->len);
}

/* A specialised node: its first operand evaluated, then the test with its
 * literal. 1, 0, 2 for null, or -1 where JavaScript throws. */
static int special(const struct hf_lnode *n, struct hf_evst *st)
{
	struct hf_fv a;

	if (ev(&n->args[0], st, &a))
		return -1;
	switch (n->op) {
	case LOP_STARTS_LIT:
	case LOP_ENDS_LIT:
		return affix_with(n->op == LOP_STARTS_LIT, &a, &n->args[1].lit);
	case LOP_IN_STRS:
		return in_set(&a, &n->args[1].lit, n->set);
	default:
		return cmp_with(n->cmp, &a, &n->args[1].lit);
	}
}

static NOINLINE int ev_special(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	int r = special(n, st);

	if (r < 0)
		return -1;
	*out = r == 2 ? NUL : boolean(r);
	return 0;
}

/* The truthiness of a node's value, all that 'if' and '!' ask: the
 * boolean operators answer without making a value. 1, 0, or -1 where
 * JavaScript throws. */
static int test(const struct hf_lnode *n, struct hf_evst *st)
{
	struct hf_fv v;
	uint32_t i;
	int r;

	switch (n->op) {
	case LOP_AND:
	case LOP_OR:
		/* The operand that decides has the truthiness of the whole. */
		for (i = 0; i < n->nargs; i++)
			if ((r = test(&n->args[i], st)) < 0 || r == (n->op == LOP_OR))
				return r;
		return n->nargs && n->op == LOP_AND;
	case LOP_STARTS_LIT:
	case LOP_ENDS_LIT:
	case LOP_IN_STRS:
	case LOP_CMP_LIT:
		r = special(n, st);
		return r == 2 ? 0 : r;
	default:
		if (ev(n, st, &v))
			return -1;
		return hf_js_truthy(&v);
	}
}

/* The attribute named by 'k' (1 to 16 bytes), or NULL: obj_get's loop,
 * inline in the program's tests. */
static INLINE const struct hf_fv *attr16(const struct hf_flagctx *ctx, const char *k,
					 uint32_t klen)
{
	const struct hf_fkv *o = ctx->attrs;
	size_t i;

	for (i = 0; i < ctx->nattrs; i++)
		if (o[i].klen == klen && o[i].key[0] == k[0] && hf_bytes_eq16(o[i].key, k, klen))
			return &o[i].v;
	return NULL;
}

/* One test of a program. A specialised one has its operator, literal and
 * attribute in the instruction, not behind the node's pointers: the
 * attribute read in place, the node's operand evaluated only when the
 * attribute is missing or null (a default, a path, anything else). */
static INLINE int test_insn(const struct hf_insn *i, struct hf_evst *st)
{
	const struct hf_fv *a = NULL;
	struct hf_fv tmp;
	int r;

	if (!hf_lop_special(i->op))
		return test(i->n, st);
	if (i->key)
		a = attr16(st->ctx, i->key, i->klen);
	if (!a || a->type == HF_FV_NULL) {
		if (ev(&i->n->args[0], st, &tmp))
			return -1;
		a = &tmp;
	}
	switch (i->op) {
	case LOP_STARTS_LIT:
	case LOP_ENDS_LIT:
		r = affix_with(i->op == LOP_STARTS_LIT, a, &i->lit);
		return r == 2 ? 0 : r;
	case LOP_IN_STRS:
		return in_set(a, &i->lit, i->set);
	default:
		return cmp_with(i->cmp, a, &i->lit);
	}
}

/* An 'if' by its program: the tests, then the result. */
static NOINLINE int ev_prog(const struct hf_prog *p, struct hf_evst *st, struct hf_fv *out)
{
	const struct hf_insn *i = &p->insn[p->entry];
	int r;

	while (!i->result) {
		r = test_insn(i, st);
		if (r < 0)
			return -1;
		i = &p->insn[r ? i->t : i->f];
	}
	st->variant = i->variant;
	if (!i->n) {
		*out = NUL;
		return 0;
	}
	return ev(i->n, st, out);
}

static NOINLINE int ev_cat(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv *parts, v;
	const char *s;
	uint32_t i, len, total = 0;
	char *dst;

	/* Evaluate first: a part's own text may need the arena too. */
	parts = hf_arena_items(st->arena, n->nargs);
	if (n->nargs && !parts)
		return -1;
	for (i = 0; i < n->nargs; i++) {
		if (ev(&n->args[i], st, &v) || hf_js_tostring(&v, st->arena, &s, &len))
			return -1;
		parts[i] = (struct hf_fv){ .type = HF_FV_STR, .len = len, .u.s = s };
		total += len;
	}
	dst = hf_arena_alloc(st->arena, total);
	if (total && !dst)
		return -1;
	*out = (struct hf_fv){ .type = HF_FV_STR, .len = total, .u.s = dst ? dst : "" };
	for (i = 0; i < n->nargs; i++) {
		memcpy(dst, parts[i].u.s, parts[i].len);
		dst += parts[i].len;
	}
	return 0;
}

static int ev_strfn(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out);
static int ev_fractional(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out);
int hf_logic_substr(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out);

static NOINLINE int ev_array(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv *items = hf_arena_items(st->arena, n->nargs);
	uint32_t i;

	if (n->nargs && !items)
		return -1;
	for (i = 0; i < n->nargs; i++)
		if (ev(&n->args[i], st, &items[i]))
			return -1;
	*out = (struct hf_fv){ .type = HF_FV_ARR, .len = n->nargs, .u.a = items };
	return 0;
}

/* slot (hotfix's extension): the Redis Cluster hash slot of a string,
 * {hash tags} as Redis reads them; null for anything else. */
static NOINLINE int ev_slot(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv v;

	if (ev(&n->args[0], st, &v))
		return -1;
	*out = NUL;
	if (v.type == HF_FV_STR)
		*out = (struct hf_fv){ .type = HF_FV_NUM, .u.n = (double)hf_key_slot(v.u.s, v.len) };
	return 0;
}

static NOINLINE int ev_not(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	int r = n->nargs ? test(&n->args[0], st) : 0;

	if (r < 0)
		return -1;
	*out = boolean(r == (n->op == LOP_NOTNOT));
	return 0;
}

/* Every case is a tail call: the dispatcher keeps no frame of its own. */
int hf_logic_eval(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	switch (n->op) {
	case LOP_LIT:
		*out = n->lit;
		return 0;
	case LOP_ARRAY:
		return ev_array(n, st, out);
	case LOP_VAR:
		return ev_var(n, st, out);
	case LOP_IF:
		return n->prog ? ev_prog(n->prog, st, out) : ev_if(n, st, out);
	case LOP_EQ: case LOP_NE: case LOP_SEQ: case LOP_SNE:
	case LOP_LT: case LOP_LE: case LOP_GT: case LOP_GE:
		return ev_cmp(n, st, out);
	case LOP_AND:
	case LOP_OR:
		return ev_andor(n, st, out, n->op == LOP_OR);
	case LOP_NOT:
	case LOP_NOTNOT:
		return ev_not(n, st, out);
	case LOP_IN:
		return ev_in(n, st, out);
	case LOP_CAT:
		return ev_cat(n, st, out);
	case LOP_SUBSTR:
		return hf_logic_substr(n, st, out);
	case LOP_STARTS:
	case LOP_ENDS:
	case LOP_SEMVER:
		return ev_strfn(n, st, out);
	case LOP_FRACTIONAL:
		return ev_fractional(n, st, out);
	case LOP_SLOT:
		return ev_slot(n, st, out);
	case LOP_STARTS_LIT:
	case LOP_ENDS_LIT:
	case LOP_IN_STRS:
	case LOP_CMP_LIT:
		return ev_special(n, st, out);
	}
	return -1;
}

/* starts_with, ends_with, sem_ver: flagd's own operators, which answer
 * null (never throw) for arguments they cannot use. */
/* starts_with and ends_with: two strings, else null. */
static int ev_affix(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv s, x;

	*out = NUL;
	if (ev(&n->args[0], st, &s) || ev(&n->args[1], st, &x))
		return -1;
	if (s.type != HF_FV_STR || x.type != HF_FV_STR)
		return 0;
	if (x.len > s.len)
		*out = boolean(0);
	else if (n->op == LOP_STARTS)
		*out = boolean(hf_bytes_eq(s.u.s, x.u.s, x.len));
	else
		*out = boolean(hf_bytes_eq(s.u.s + s.len - x.len, x.u.s, x.len));
	return 0;
}

static NOINLINE int ev_strfn(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv a[3];
	const char *s[3];
	uint32_t len[3], i;
	int r;

	if (n->nargs == 2 && n->op != LOP_SEMVER)
		return ev_affix(n, st, out);
	*out = NUL;
	for (i = 0; i < n->nargs; i++)
		if (ev(&n->args[i], st, i < 3 ? &a[i] : &a[2]))
			return -1;
	if (n->op == LOP_SEMVER) {
		if (n->nargs != 3)
			return 0;
		for (i = 0; i < 3; i++)
			if (hf_js_tostring(&a[i], st->arena, &s[i], &len[i]))
				return -1;
		r = hf_semver_op(s[0], len[0], s[1], len[1], s[2], len[2]);
		if (r >= 0)
			*out = boolean(r);
		return 0;
	}
	if (n->nargs != 2 || a[0].type != HF_FV_STR || a[1].type != HF_FV_STR)
		return 0;
	if (a[1].len > a[0].len)
		r = 0;
	else if (n->op == LOP_STARTS)
		r = hf_bytes_eq(a[0].u.s, a[1].u.s, a[1].len);
	else
		r = hf_bytes_eq(a[0].u.s + a[0].len - a[1].len, a[1].u.s, a[1].len);
	*out = boolean(r);
	return 0;
}

#define MAX_WEIGHT 2147483647.0

/* Check and sum the bucket entries of 'fractional' as flagd-core's
 * toBucketingList() does: null for entries it refuses or a total over
 * 2^31 - 1. Done once at compile for literal entries. */
void hf_buckets_build(struct hf_pool *pool, const struct hf_fv *e, uint32_t ne,
		      struct hf_buckets *out)
{
	uint64_t *upto = pool ? hf_pool_alloc(pool, sizeof(*upto) * (ne + 1)) : out->upto;
	double total = 0, w;
	uint32_t i;

	/* Without a pool the caller's 'upto' is kept (scratch memory). */
	memset(out, 0, sizeof(*out));
	out->null = 1;
	out->upto = upto;
	out->variant = e;
	for (i = 0; i < ne; i++) {
		if (e[i].type != HF_FV_ARR || !e[i].len || e[i].len > 2)
			return;
		if (e[i].u.a[0].type == HF_FV_ARR || e[i].u.a[0].type == HF_FV_OBJ)
			return;
		w = 1;
		if (e[i].len == 2) {
			w = e[i].u.a[1].u.n;
			if (e[i].u.a[1].type != HF_FV_NUM || !isfinite(w) || w != trunc(w))
				return;
		}
		total += w > 0 ? w : 0;
		if (total > MAX_WEIGHT)
			return;
		if (out->upto)
			out->upto[i] = (uint64_t)total;
	}
	out->null = 0;
	out->total = (uint64_t)total;
	out->n = ne;
}

/* The variant of the first entry whose running weight exceeds the hash's
 * bucket, (hash * total) >> 32. */
static void pick(const struct hf_buckets *b, uint32_t hash, struct hf_fv *out)
{
	uint64_t bucket = ((uint64_t)hash * b->total) >> 32;
	uint32_t i;

	*out = NUL;
	if (b->null)
		return;
	for (i = 0; i < b->n; i++) {
		if (b->upto[i] > bucket) {
			*out = b->variant[i].u.a[0];
			return;
		}
	}
}

/* Entries computed during evaluation: summed here, with the running sums
 * in the arena. */
static int pick_dynamic(const struct hf_fv *e, uint32_t ne, uint32_t hash, struct hf_evst *st,
			struct hf_fv *out)
{
	struct hf_buckets b;
	struct hf_fv *room = hf_arena_items(st->arena, ne + 1);

	if (!room)
		return -1;
	b.upto = (uint64_t *)room;   /* an hf_fv is at least as large as a uint64_t */
	hf_buckets_build(NULL, e, ne, &b);
	pick(&b, hash, out);
	return 0;
}

static NOINLINE int ev_fractional(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv first, args;
	struct hf_flagdhash m;
	const struct hf_fv *tk;
	const char *s;
	uint32_t len, hash;
	int by_string;

	*out = NUL;
	if (ev(&n->args[0], st, &first))
		return -1;
	by_string = first.type == HF_FV_STR;
	if (by_string) {
		hash = hf_flagdhash(first.u.s, first.len);
	} else {
		tk = obj_get(st->ctx->attrs, (uint32_t)st->ctx->nattrs, "targetingKey", 12);
		if (!tk || js_falsy(tk))
			return 0;
		if (hf_js_tostring(tk, st->arena, &s, &len))
			return -1;
		/* The flag key was hashed once, when the rule was compiled. */
		m = n->prefix;
		hf_flagdhash_update(&m, s, len);
		hash = hf_flagdhash_final(&m);
	}
	if (by_string ? n->rest != NULL : n->all != NULL) {
		pick(by_string ? n->rest : n->all, hash, out);
		return 0;
	}
	if (ev_array(n, st, &args))
		return -1;
	return pick_dynamic(args.u.a + by_string, args.len - by_string, hash, st, out);
}

/* ToIntegerOrInfinity, with undefined (a missing argument) as 0. */
static double to_int(const struct hf_fv *v)
{
	double d = hf_js_tonumber(v);

	return isnan(d) ? 0 : trunc(d);
}

/* The byte offset of UTF-16 unit 'u' of 's' ('*half' when it falls
 * between the two halves of a surrogate pair). */
static uint32_t unit_offset(const char *s, uint32_t len, double u, int *half)
{
	uint32_t i = 0;
	double at = 0;

	*half = 0;
	while (i < len && at < u) {
		unsigned char c = (unsigned char)s[i];
		uint32_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

		if (n == 4 && at + 1 == u) {
			*half = 1;
			return i;
		}
		at += n == 4 ? 2 : 1;
		i += n;
	}
	return i < len ? i : len;
}

/* String.prototype.substr(start, length) by UTF-16 units. A cut inside a
 * surrogate pair leaves half a character, which UTF-8 cannot hold: it
 * becomes U+FFFD (docs/flags.md). */
static int substr_units(const struct hf_fv *s, double start, double length, int has_len,
			struct hf_evst *st, struct hf_fv *out)
{
	double size = hf_js_u16len(s->u.s, s->len), end;
	uint32_t b0, b1;
	int h0, h1;
	char *dst;

	start = start < 0 ? fmax(size + start, 0) : fmin(start, size);
	end = has_len ? fmin(start + fmin(fmax(length, 0), size), size) : size;
	if (end <= start) {
		*out = (struct hf_fv){ .type = HF_FV_STR, .len = 0, .u.s = "" };
		return 0;
	}
	b0 = unit_offset(s->u.s, s->len, start, &h0);
	b1 = unit_offset(s->u.s, s->len, end, &h1);
	if (!h0 && !h1) {
		*out = (struct hf_fv){ .type = HF_FV_STR, .len = b1 - b0, .u.s = s->u.s + b0 };
		return 0;
	}
	/* Replace the cut halves: the pair at b0 (its low half kept) and the
	 * pair at b1 (its high half kept). */
	dst = hf_arena_alloc(st->arena, (b1 - b0) + 6);
	if (!dst)
		return -1;
	out->type = HF_FV_STR;
	out->u.s = dst;
	if (h0) {
		memcpy(dst, "\xef\xbf\xbd", 3);
		dst += 3;
		b0 += 4;
	}
	if (b1 > b0) {
		memcpy(dst, s->u.s + b0, b1 - b0);
		dst += b1 - b0;
	}
	if (h1) {
		memcpy(dst, "\xef\xbf\xbd", 3);
		dst += 3;
	}
	out->len = (uint32_t)(dst - out->u.s);
	return 0;
}

/* substr: a negative length counts from the end (json-logic's rule); a
 * subject that is no string has no substr method and throws. */
int hf_logic_substr(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out)
{
	struct hf_fv a[3] = { NUL, NUL, NUL }, tmp;
	double from, len;
	uint32_t i;

	for (i = 0; i < n->nargs && i < 3; i++)
		if (ev(&n->args[i], st, &a[i]))
			return -1;
	if (a[0].type != HF_FV_STR)
		return -1;
	from = to_int(&a[1]);
	if (n->nargs < 3)
		return substr_units(&a[0], from, 0, 0, st, out);
	len = hf_js_tonumber(&a[2]);
	if (len < 0) {
		if (substr_units(&a[0], from, 0, 0, st, &tmp))
			return -1;
		return substr_units(&tmp, 0, hf_js_u16len(tmp.u.s, tmp.len) + trunc(len), 1, st,
				    out);
	}
	return substr_units(&a[0], from, to_int(&a[2]), 1, st, out);
}
