/* Feature flags in flagd's format: a flag document is read once (JSON or
 * YAML, every error as FILE:LINE:COL), its targeting rules (JSONLogic)
 * compiled into trees, and the result is an immutable document that any
 * number of threads evaluate at once, without locks and without
 * allocating. Nothing here talks to Redis or prints.
 *
 * The results are those of flagd-core 4.x (@openfeature/flagd-core): the
 * same values, variants, reasons and error codes, fractional's buckets
 * included for any key (flagd-core's hash over UTF-16 code units,
 * flagdhash.h; docs/flags.md). */
#ifndef HF_FLAGS_FLAGS_H
#define HF_FLAGS_FLAGS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ---- values --------------------------------------------------------- */

/* A JSON value as the evaluator sees it: variants, context attributes,
 * results of operators. Strings are UTF-8 and not always NUL-terminated
 * (a 'substr' result is a slice): use 'len'. */
enum hf_fv_type { HF_FV_NULL, HF_FV_BOOL, HF_FV_NUM, HF_FV_STR, HF_FV_ARR, HF_FV_OBJ };

struct hf_fkv;
struct hf_fv {
	enum hf_fv_type type;
	uint32_t len;                   /* bytes of a string, items of an array or object */
	union {
		int b;
		double n;
		const char *s;
		const struct hf_fv *a;
		const struct hf_fkv *o;
	} u;
};

/* One key of an object, or one attribute of a context. */
struct hf_fkv {
	const char *key;                /* NUL-terminated */
	uint32_t klen;
	struct hf_fv v;
};

/* ---- the evaluation context ----------------------------------------- */

/* What a flag is evaluated for: attributes (the targeting key is the
 * attribute "targetingKey", as in flagd) and the time in unix seconds
 * that "$flagd.timestamp" reads (0: now). The caller owns everything;
 * evaluation only reads it. */
struct hf_flagctx {
	const struct hf_fkv *attrs;
	size_t nattrs;
	long long timestamp;
};

struct json_t;
/* A context built from a JSON object (jansson), owning copies of it. */
struct hf_flagctx_owned {
	struct hf_flagctx ctx;
	void *mem;                      /* private */
};
/* Fill 'out' from the JSON object 'obj' (any JSON values, nested objects
 * and arrays included). Returns 0, or HF_EINVAL when 'obj' is no object.
 * Release with hf_flagctx_release(). */
int hf_flagctx_from_json(const struct json_t *obj, struct hf_flagctx_owned *out,
			 struct hf_err *err);
void hf_flagctx_release(struct hf_flagctx_owned *c);

/* ---- evaluation results --------------------------------------------- */

enum hf_flag_reason {
	HF_REASON_STATIC,               /* no targeting: the default variant */
	HF_REASON_TARGETING_MATCH,      /* targeting named a variant */
	HF_REASON_DEFAULT,              /* targeting returned null: the default variant */
	HF_REASON_DISABLED,             /* state DISABLED: the caller's default */
	HF_REASON_ERROR,                /* see the error code; the caller's default */
};

enum hf_flag_errcode {
	HF_FLAGERR_NONE,
	HF_FLAGERR_FLAG_NOT_FOUND,
	HF_FLAGERR_PARSE_ERROR,         /* the flag's targeting did not compile (lenient load) */
	HF_FLAGERR_TYPE_MISMATCH,       /* the value is not of the type asked for */
	HF_FLAGERR_GENERAL,             /* targeting failed, or named no variant of the flag */
};

/* The type a caller asks for; HF_FLAG_ANY takes the value as it is. */
enum hf_flag_type { HF_FLAG_ANY, HF_FLAG_BOOL, HF_FLAG_STRING, HF_FLAG_NUMBER, HF_FLAG_OBJECT };

struct hf_flagresult {
	const struct hf_fv *value;      /* NULL: no value (the caller's default applies) */
	const char *variant;            /* NULL: none */
	enum hf_flag_reason reason;
	enum hf_flag_errcode error;
};

/* Scratch memory for the strings and arrays that operators make ('cat',
 * 'substr', arrays with expressions). Evaluation uses a stack buffer of
 * HF_FLAGS_SCRATCH bytes when given none; a rule that needs more fails
 * with GENERAL. One arena per thread: evaluation resets it. */
#define HF_FLAGS_SCRATCH 4096
struct hf_flagarena {
	char *buf;
	size_t cap;
	size_t used;
};

/* ---- documents ------------------------------------------------------ */

struct hf_flagdoc;
struct hf_flag;

enum hf_flagdoc_flags {
	/* Load a document whose targeting does not compile (an unknown
	 * operator, a wrong number of arguments, an unknown $ref, a constant
	 * that throws) as flagd does: that flag evaluates to
	 * ERROR/PARSE_ERROR; and one whose rule can return a literal that
	 * names no variant (ERROR/GENERAL when it does). Without it such a
	 * document is refused with FILE:LINE:COL. */
	HF_FLAGDOC_LENIENT = 1 << 0,
};

/* Read a flag document from 'len' bytes at 'text' ('path' names it in
 * messages). Returns 0 with '*out' set (caller drops it with
 * hf_flagdoc_unref()), or HF_EINVAL with "PATH:LINE:COL: message". */
int hf_flagdoc_parse(const char *path, const char *text, size_t len, unsigned flags,
		     struct hf_flagdoc **out, struct hf_err *err);
/* The same from a file (at most 16 MiB). */
int hf_flagdoc_load(const char *path, unsigned flags, struct hf_flagdoc **out,
		    struct hf_err *err);

/* References: a document is freed when its last reference is dropped;
 * both are safe from any thread. */
struct hf_flagdoc *hf_flagdoc_ref(struct hf_flagdoc *doc);
void hf_flagdoc_unref(struct hf_flagdoc *doc);

/* The flags in file order. */
size_t hf_flagdoc_count(const struct hf_flagdoc *doc);
const struct hf_flag *hf_flagdoc_at(const struct hf_flagdoc *doc, size_t i);
/* The flag named 'key' (a hash table built at load), or NULL. */
const struct hf_flag *hf_flagdoc_find(const struct hf_flagdoc *doc, const char *key, size_t klen);

const char *hf_flag_key(const struct hf_flag *f);
int hf_flag_enabled(const struct hf_flag *f);
/* The type of the flag's variants (they all have one). */
enum hf_flag_type hf_flag_type(const struct hf_flag *f);
/* The default variant's name, or NULL when the flag has none. */
const char *hf_flag_default_variant(const struct hf_flag *f);
/* The value of variant 'name', or NULL. */
const struct hf_fv *hf_flag_variant(const struct hf_flag *f, const char *name, size_t nlen);

/* Evaluate flag 'key' of 'doc' for 'ctx', as flagd-core's resolve<Type>
 * does for 'type'; 'arena' may be NULL. Fills 'res' (whose pointers stay
 * valid while 'doc' lives), and returns 0 unless the result is ERROR.
 * Never allocates, never blocks. */
int hf_flagdoc_eval(const struct hf_flagdoc *doc, const char *key, size_t klen,
		    const struct hf_flagctx *ctx, enum hf_flag_type type,
		    struct hf_flagarena *arena, struct hf_flagresult *res);
/* The same for a flag already found. */
int hf_flag_eval(const struct hf_flag *f, const struct hf_flagctx *ctx, enum hf_flag_type type,
		 struct hf_flagarena *arena, struct hf_flagresult *res);

/* The document as canonical JSON (keys sorted, no blanks; $ref kept as
 * written): what later parts publish. Caller frees with free(). */
char *hf_flagdoc_json(const struct hf_flagdoc *doc);

/* A value as JSON text, e.g. for printing a result. Caller frees. */
char *hf_fv_json(const struct hf_fv *v);

const char *hf_flag_reason_name(enum hf_flag_reason r);
const char *hf_flag_errcode_name(enum hf_flag_errcode e);

#endif
