/* Inside src/flags/: the compiled document, the JSONLogic tree and the
 * JavaScript semantics the operators follow. Not for other modules. */
#ifndef HF_FLAGS_INTERNAL_H
#define HF_FLAGS_INTERNAL_H

#include <jansson.h>
#include <string.h>

#include "flags/flags.h"
#include "flags/flagdhash.h"
#include "flags/murmur3.h"

/* ---- memory: a document's allocations are freed together ------------ */

struct hf_pool;
struct hf_pool *hf_pool_new(void);
void *hf_pool_alloc(struct hf_pool *p, size_t n);       /* zeroed, 8-aligned */
char *hf_pool_strndup(struct hf_pool *p, const char *s, size_t n);
void hf_pool_free(struct hf_pool *p);

/* Scratch allocation during evaluation; NULL when the arena is full.
 * Bytes are not aligned (consecutive calls are contiguous); items are. */
void *hf_arena_alloc(struct hf_flagarena *a, size_t n);
struct hf_fv *hf_arena_items(struct hf_flagarena *a, size_t n);

/* Equal bytes, at most 16 of them: no call, so that a loop over short
 * keys needs no registers saved. */
static inline int hf_bytes_eq16(const char *a, const char *b, size_t n)
{
	uint64_t x, y, x2, y2;
	uint32_t u, v, u2, v2;

	/* Two overlapping loads cover 4 to 8 and 8 to 16 bytes. */
	if (n >= 8) {
		memcpy(&x, a, 8), memcpy(&y, b, 8);
		memcpy(&x2, a + n - 8, 8), memcpy(&y2, b + n - 8, 8);
		return x == y && x2 == y2;
	}
	if (n >= 4) {
		memcpy(&u, a, 4), memcpy(&v, b, 4);
		memcpy(&u2, a + n - 4, 4), memcpy(&v2, b + n - 4, 4);
		return u == v && u2 == v2;
	}
	return (n < 1 || a[0] == b[0]) && (n < 2 || a[1] == b[1]) && (n < 3 || a[2] == b[2]);
}

/* Equal bytes: the strings compared on the hot path (attribute keys,
 * variant names, flag keys) are short, where a call to memcmp costs more
 * than the comparison. */
static inline int hf_bytes_eq(const char *a, const char *b, size_t n)
{
	return n > 16 ? !memcmp(a, b, n) : hf_bytes_eq16(a, b, n);
}

/* ---- JSONLogic ------------------------------------------------------ */

enum hf_lop {
	LOP_LIT, LOP_ARRAY, LOP_VAR, LOP_IF, LOP_EQ, LOP_NE, LOP_SEQ, LOP_SNE,
	LOP_LT, LOP_LE, LOP_GT, LOP_GE, LOP_AND, LOP_OR, LOP_NOT, LOP_NOTNOT, LOP_IN,
	LOP_CAT, LOP_SUBSTR, LOP_STARTS, LOP_ENDS, LOP_SEMVER, LOP_FRACTIONAL,
	LOP_SLOT,   /* hotfix's own: the Redis Cluster hash slot of a string */
	/* Specialised at compile (compile.c, specialise()): the same
	 * operators where an argument is a literal of the usual type. */
	LOP_STARTS_LIT, LOP_ENDS_LIT,   /* the affix a literal string */
	LOP_IN_STRS,                    /* 'in' a literal array of strings only */
	LOP_CMP_LIT,                    /* a two-argument comparison with a literal
					 * number or string on the right */
};

/* One of the specialised operators (by name, not by a range of the
 * enum, which may grow). */
static inline int hf_lop_special(enum hf_lop op)
{
	return op == LOP_STARTS_LIT || op == LOP_ENDS_LIT || op == LOP_IN_STRS || op == LOP_CMP_LIT;
}

/* LOP_IN_STRS: the strings of the literal array, as a filter on their
 * lengths and, for a long list, a hash table. */
struct hf_strset {
	uint64_t lens;                  /* bit min(length, 63) of each string */
	uint32_t *slots;                /* NULL (few strings), or index + 1 per slot, 0: empty */
	uint32_t mask;                  /* slots - 1 */
};

/* An 'if' as a flat program (compile.c, prog_build()): its conditions,
 * through 'and', 'or', '!' and '!!', become jumps between the tests of
 * their operands, and its branches (nested 'if' included) results, so
 * that evaluation is a loop rather than a call per operator. */
struct hf_insn {
	enum hf_lop op;                 /* n->op (LOP_LIT for a null result) */
	int result;                     /* 'n' is the result: evaluate it and stop */
	uint32_t t, f;                  /* the next instruction when 'n' is truthy, falsy */
	const struct hf_lnode *n;       /* the operand to test, or the result (NULL: null) */
	/* A specialised 'n' (LOP_STARTS_LIT...) copied here, where the test
	 * reads it without going through the node: */
	const char *key;                /* its operand's attribute (a one-segment 'var', a
					 * name of up to 16 bytes), or NULL */
	uint32_t klen;
	enum hf_lop cmp;                /* n->cmp */
	struct hf_fv lit;               /* its literal */
	const struct hf_strset *set;    /* n->set */
	const struct hf_variant *variant; /* the flag's variant a literal result names
					   * (doc.c, for the rule's own program), or NULL */
};

struct hf_prog {
	struct hf_insn *insn;
	uint32_t n, entry;
};

/* One segment of a 'var' path. */
struct hf_seg {
	const char *s;
	uint32_t len;
};

struct hf_lnode {
	enum hf_lop op;
	uint32_t nargs;
	struct hf_lnode *args;          /* 'nargs' nodes */
	struct hf_fv lit;               /* LOP_LIT: the value */
	struct hf_seg *segs;            /* LOP_VAR: the path; 'args' holds the default */
	uint32_t nsegs;
	int flagd;                      /* LOP_VAR: a FLAGD_* for a path that starts with "$flagd" */
	int unary;                      /* LOP_NOT/NOTNOT: the argument was no array */
	struct hf_flagdhash prefix;     /* LOP_FRACTIONAL: the flag key hashed */
	struct hf_buckets *all, *rest;  /* LOP_FRACTIONAL: the buckets of literal arguments
					 * (all of them, or after the first), or NULL */
	enum hf_lop cmp;                /* LOP_CMP_LIT: the comparison (LOP_EQ...LOP_GE) */
	struct hf_strset *set;          /* LOP_IN_STRS */
	struct hf_prog *prog;           /* LOP_IF: its program (not for a constant one) */
	int line, col;                  /* where the node starts in the file */
};

enum { FLAGD_NONE, FLAGD_KEY, FLAGD_TIMESTAMP, FLAGD_OTHER };

/* The buckets of a 'fractional' whose entries are literals, checked and
 * summed once: 'null' when flagd-core would answer null for them. */
struct hf_buckets {
	int null;
	uint64_t total;
	uint32_t n;
	uint64_t *upto;                 /* running sums of the weights */
	const struct hf_fv *variant;    /* each entry's variant value */
};
/* Check and sum 'ne' entries at 'e' into 'out' (pool memory). */
void hf_buckets_build(struct hf_pool *pool, const struct hf_fv *e, uint32_t ne,
		      struct hf_buckets *out);

/* What one evaluation reads. */
struct hf_evst {
	const struct hf_flagctx *ctx;
	const char *flag_key;
	uint32_t flag_klen;
	long long timestamp;            /* 0: now, read when a rule asks */
	struct hf_flagarena *arena;
	const struct hf_variant *variant; /* set by a program's result: its variant */
};

/* Evaluate 'n'. Returns 0 with '*out' set, or -1 where JavaScript would
 * throw (flagd-core then answers ERROR/GENERAL). */
int hf_logic_eval(const struct hf_lnode *n, struct hf_evst *st, struct hf_fv *out);

/* ---- JavaScript semantics (jsval.c) --------------------------------- */

/* json-logic-engine's truthiness: JavaScript's, except that empty arrays
 * and objects are false. Inline: every 'if', 'and' and 'or' asks it. */
static inline int hf_js_truthy(const struct hf_fv *v)
{
	switch (v->type) {
	case HF_FV_BOOL:
		return v->u.b;
	case HF_FV_NUM:
		return v->u.n != 0 && v->u.n == v->u.n;   /* NaN is false */
	case HF_FV_STR:
	case HF_FV_ARR:
	case HF_FV_OBJ:
		return v->len > 0;
	default:
		return 0;
	}
}
double hf_js_tonumber(const struct hf_fv *v);
/* Number::toString into 'buf' (at least 32 bytes); returns the length. */
size_t hf_js_numstr(double d, char *buf);
/* ToString of 'v': a borrowed pointer for strings, else text written to
 * the arena. -1 when the arena is full. */
int hf_js_tostring(const struct hf_fv *v, struct hf_flagarena *a, const char **s, uint32_t *len);
int hf_js_loose_eq(const struct hf_fv *a, const struct hf_fv *b);
int hf_js_strict_eq(const struct hf_fv *a, const struct hf_fv *b);
/* a < b as JavaScript's abstract relational comparison: 1, 0, or 0 for
 * an unordered pair (NaN). 'le' asks for a <= b. */
int hf_js_less(const struct hf_fv *a, const struct hf_fv *b, int le);
/* Compare strings by UTF-16 code units, as JavaScript does. */
int hf_js_strcmp(const char *a, uint32_t alen, const char *b, uint32_t blen);
/* Count of UTF-16 code units of a UTF-8 string. */
uint32_t hf_js_u16len(const char *s, uint32_t len);

/* sem_ver (semver.c): the result of comparing versions 'a' and 'b' with
 * operator 'op'; -1 when flagd-core answers null (a version that does not
 * parse, an unknown operator). */
int hf_semver_op(const char *a, uint32_t alen, const char *op, uint32_t oplen, const char *b,
		 uint32_t blen);

/* ---- the document --------------------------------------------------- */

struct hf_variant {
	const char *name;
	uint32_t nlen;
	struct hf_fv value;
};

struct hf_flag {
	const char *key;
	uint32_t klen;
	int enabled;
	enum hf_flag_type type;
	struct hf_variant *variants;
	uint32_t nvariants;
	const struct hf_variant *defvar;  /* NULL: none */
	struct hf_lnode *targeting;       /* NULL: none (STATIC) */
	int parse_error;                  /* lenient load: targeting did not compile */
};

struct hf_flagdoc {
	int refs;                         /* atomic */
	struct hf_pool *pool;
	struct hf_flag *flags;
	size_t nflags;
	const struct hf_flag **table;     /* open addressing by key, 'tmask' + 1 slots */
	size_t tmask;
	json_t *json;                     /* the document as read, for hf_flagdoc_json */
};

/* The key table's hash. Flag keys are short: up to 16 bytes they are
 * read as two overlapping words and mixed once (no per-byte chain of
 * multiplications); longer ones go through MurmurHash3. Inline: every
 * evaluation by key starts with it. */
static inline uint32_t hf_flags_keyhash(const char *s, size_t n)
{
	uint64_t a = 0, b = 0, h;
	uint32_t x, y;

	if (n > 16)
		return hf_murmur3_32(s, n, 0);
	if (n >= 8) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(&x, s, 4);
		memcpy(&y, s + n - 4, 4);
		a = x;
		b = y;
	} else if (n) {
		a = (uint64_t)(unsigned char)s[0] << 16 | (uint64_t)(unsigned char)s[n / 2] << 8 |
		    (unsigned char)s[n - 1];
	}
	h = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ n) * 0xff51afd7ed558ccdull;
	return (uint32_t)(h ^ (h >> 32));
}

/* Compile JSONLogic from the document (parse.c calls it). */
struct hf_yaml;
struct fy_node;
struct hf_compile {
	struct hf_yaml *y;
	struct hf_pool *pool;
	const char *flag_key;
	struct fy_node *evaluators;       /* the "$evaluators" mapping, or NULL */
	int depth;                        /* of $ref expansion */
};
int hf_logic_compile(struct hf_compile *c, struct fy_node *n, struct hf_lnode *out);
/* A plain JSON value from the document into the pool. */
int hf_flags_value(struct hf_yaml *y, struct hf_pool *pool, struct fy_node *n, struct hf_fv *out);

#endif
