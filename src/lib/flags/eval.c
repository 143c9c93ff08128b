/* libhotfix-flags' evaluation: contexts, and the hf_flags_<type>() calls
 * that pin the current snapshot (client.c explains the scheme), evaluate
 * with src/flags/ and copy the value out before unpinning. Nothing here
 * takes a lock or allocates on the evaluation path. */
#include "lib/flags/internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- contexts ----------------------------------------------------------- */

struct hf_flags_ctx {
	json_t *obj;                    /* the attributes as set */
	struct hf_flagctx_owned built;  /* what evaluation reads, made from 'obj' */
};

/* Make the evaluator's context again from the JSON object. */
static int rebuild(struct hf_flags_ctx *x)
{
	struct hf_flagctx_owned n;

	if (hf_flagctx_from_json(x->obj, &n, NULL))
		return -1;
	hf_flagctx_release(&x->built);
	x->built = n;
	return 0;
}

struct hf_flags_ctx *hf_flags_ctx_new(void)
{
	struct hf_flags_ctx *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->obj = json_object();
	if (!x->obj || rebuild(x)) {
		hf_flags_ctx_free(x);
		return NULL;
	}
	return x;
}

struct hf_flags_ctx *hf_flags_ctx_from_json(const char *json, char *errbuf, size_t errlen)
{
	struct hf_flags_ctx *x;
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);

	if (!json_is_object(o)) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "the context is not a JSON object%s%s",
				 o ? "" : ": ", o ? "" : je.text);
		json_decref(o);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		json_decref(o);
		return NULL;
	}
	x->obj = o;
	if (rebuild(x)) {
		hf_flags_ctx_free(x);
		return NULL;
	}
	return x;
}

static int set(struct hf_flags_ctx *x, const char *name, json_t *v)
{
	if (!v || json_object_set_new(x->obj, name, v))
		return -1;
	return rebuild(x);
}

int hf_flags_ctx_set_string(struct hf_flags_ctx *x, const char *name, const char *value)
{
	return set(x, name, json_string(value));
}

int hf_flags_ctx_set_number(struct hf_flags_ctx *x, const char *name, double value)
{
	return set(x, name, json_real(value));
}

int hf_flags_ctx_set_bool(struct hf_flags_ctx *x, const char *name, int value)
{
	return set(x, name, json_boolean(value));
}

void hf_flags_ctx_free(struct hf_flags_ctx *x)
{
	if (!x)
		return;
	hf_flagctx_release(&x->built);
	json_decref(x->obj);
	free(x);
}

/* ---- pinning ---------------------------------------------------------------- */

/* This thread's stripe of the reader counters, given on its first
 * evaluation, round robin. initial-exec: no __tls_get_addr() call on the
 * hot path, for one int of the static TLS. */
static atomic_uint next_stripe;
static __attribute__((tls_model("initial-exec"))) _Thread_local int my_stripe = -1;

static atomic_long *counter(struct hf_flags_client *c, unsigned e)
{
	if (my_stripe < 0)
		my_stripe = (int)(atomic_fetch_add(&next_stripe, 1) % HF_FLAGSLIB_STRIPES);
	return &c->readers[e & 1][my_stripe].n;
}

static struct snap *pin(struct hf_flags_client *c, atomic_long **held)
{
	for (;;) {
		unsigned e = atomic_load(&c->epoch);
		atomic_long *n = counter(c, e);

		atomic_fetch_add(n, 1);
		if (atomic_load(&c->epoch) == e) {
			*held = n;
			return atomic_load(&c->cur);
		}
		/* The writer moved on meanwhile: this count may be one it
		 * waits on, give it back and count on the new parity. */
		atomic_fetch_sub(n, 1);
	}
}

static void unpin(struct hf_flags_client *c, atomic_long *held)
{
	(void)c;
	atomic_fetch_sub(held, 1);
}

/* ---- evaluation ----------------------------------------------------------------- */

static const struct hf_flagctx no_attributes;

static enum hf_flags_reason reason_of(enum hf_flag_reason r)
{
	switch (r) {
	case HF_REASON_STATIC: return HF_FLAGS_STATIC;
	case HF_REASON_TARGETING_MATCH: return HF_FLAGS_TARGETING_MATCH;
	case HF_REASON_DEFAULT: return HF_FLAGS_DEFAULT;
	case HF_REASON_DISABLED: return HF_FLAGS_DISABLED;
	default: return HF_FLAGS_ERROR;
	}
}

static enum hf_flags_error error_of(enum hf_flag_errcode e)
{
	switch (e) {
	case HF_FLAGERR_NONE: return HF_FLAGS_ERR_NONE;
	case HF_FLAGERR_FLAG_NOT_FOUND: return HF_FLAGS_ERR_FLAG_NOT_FOUND;
	case HF_FLAGERR_PARSE_ERROR: return HF_FLAGS_ERR_PARSE_ERROR;
	case HF_FLAGERR_TYPE_MISMATCH: return HF_FLAGS_ERR_TYPE_MISMATCH;
	default: return HF_FLAGS_ERR_GENERAL;
	}
}

static void copy_variant(struct hf_flags_details *d, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n >= sizeof(d->variant))
		n = sizeof(d->variant) - 1;
	memcpy(d->variant, name ? name : "", n);
	d->variant[n] = '\0';
}

static int fails_to_default(const struct snap *s, const struct hf_flag *f)
{
	size_t i;

	for (i = 0; i < s->nfail_default; i++)
		if (s->fail_default[i] == f)
			return 1;
	return 0;
}

/* STALE: the document has not been confirmed for longer than stale_ms.
 * The flag's fail policy then picks the value: "last-known" keeps what
 * the last document says, "default" takes its default variant (when it
 * has one of the type asked for), as a safe value that does not depend
 * on a targeting rule that may since have changed. */
static const struct hf_fv *stale(struct hf_flags_client *c, const struct snap *s,
				 const struct hf_flag *f, enum hf_flag_type type,
				 const struct hf_fv *value, struct hf_flags_details *d)
{
	long long age = hf_flagslib_coarse_ms() - atomic_load(&c->last_ok_ms);
	const char *dv;
	const struct hf_fv *v;

	if (age <= c->stale_ms)
		return value;
	d->stale_reason = d->reason;
	d->reason = HF_FLAGS_STALE;
	d->stale_ms = age;
	if (!f || !fails_to_default(s, f) || !hf_flag_enabled(f) ||
	    !(dv = hf_flag_default_variant(f)) || (type != HF_FLAG_ANY && hf_flag_type(f) != type))
		return value;
	v = hf_flag_variant(f, dv, strlen(dv));
	if (v) {
		copy_variant(d, dv);
		d->error = HF_FLAGS_ERR_NONE;
	}
	return v ? v : value;
}

/* Evaluate 'key' on the pinned snapshot: the value (NULL: the caller's
 * default), with 'd' filled. The caller copies the value, then unpins. */
static const struct hf_fv *resolve(struct hf_flags_client *c, const struct snap *s,
				   const char *key, const struct hf_flags_ctx *x,
				   enum hf_flag_type type, struct hf_flags_details *d)
{
	struct hf_flagresult res;
	const struct hf_flag *f;
	const struct hf_fv *v;

	memset(d, 0, sizeof(*d));
	if (!s) {
		d->reason = HF_FLAGS_ERROR;
		d->error = HF_FLAGS_ERR_PROVIDER_NOT_READY;
		return NULL;
	}
	d->version = s->version;
	f = hf_flagdoc_find(s->doc, key, strlen(key));
	if (!f) {
		d->reason = HF_FLAGS_ERROR;
		d->error = HF_FLAGS_ERR_FLAG_NOT_FOUND;
		return stale(c, s, NULL, type, NULL, d);
	}
	hf_flag_eval(f, x ? &x->built.ctx : &no_attributes, type, NULL, &res);
	d->reason = reason_of(res.reason);
	d->error = error_of(res.error);
	copy_variant(d, res.variant);
	v = stale(c, s, f, type, res.value, d);
	d->source = v ? HF_FLAGS_FROM_VARIANT : HF_FLAGS_FROM_CALLER;
	return v;
}

/* A details record for callers that passed none. */
#define DETAILS(d, local) ((d) ? (d) : &(local))

int hf_flags_bool(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		  int def, struct hf_flags_details *details)
{
	struct hf_flags_details local, *d = DETAILS(details, local);
	atomic_long *held;
	const struct hf_fv *v = resolve(c, pin(c, &held), key, ctx, HF_FLAG_BOOL, d);
	int out = v && v->type == HF_FV_BOOL ? v->u.b : def;

	unpin(c, held);
	return out;
}

double hf_flags_double(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       double def, struct hf_flags_details *details)
{
	struct hf_flags_details local, *d = DETAILS(details, local);
	atomic_long *held;
	const struct hf_fv *v = resolve(c, pin(c, &held), key, ctx, HF_FLAG_NUMBER, d);
	double out = v && v->type == HF_FV_NUM ? v->u.n : def;

	unpin(c, held);
	return out;
}

long long hf_flags_int(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       long long def, struct hf_flags_details *details)
{
	struct hf_flags_details local, *d = DETAILS(details, local);
	atomic_long *held;
	const struct hf_fv *v = resolve(c, pin(c, &held), key, ctx, HF_FLAG_NUMBER, d);
	long long out = def;

	/* A number with a fraction, or beyond what a long long holds, is no
	 * integer: TYPE_MISMATCH, as flagd's resolveInt would say. */
	if (v && v->type == HF_FV_NUM) {
		if (v->u.n == floor(v->u.n) && fabs(v->u.n) < 9.2e18) {
			out = (long long)v->u.n;
		} else {
			d->source = HF_FLAGS_FROM_CALLER;
			d->reason = HF_FLAGS_ERROR;
			d->error = HF_FLAGS_ERR_TYPE_MISMATCH;
		}
	}
	unpin(c, held);
	return out;
}

/* ---- strings and objects into the caller's buffer ---------------------------- */

struct w {
	char *buf;
	size_t cap, len;   /* 'len' counts everything, written or not */
};

static void put(struct w *w, const char *s, size_t n)
{
	if (w->len < w->cap) {
		size_t room = w->cap - w->len;

		memcpy(w->buf + w->len, s, n < room ? n : room);
	}
	w->len += n;
}

static void put_str(struct w *w, const char *s, size_t n)
{
	size_t i;

	put(w, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			put(w, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			put(w, esc, 6);
		} else {
			put(w, s + i, 1);
		}
	}
	put(w, "\"", 1);
}

/* 'v' as JSON, as far as it fits; no allocation, the depth of a variant
 * is bounded by the document's, which the parser bounds. */
static void put_json(struct w *w, const struct hf_fv *v)
{
	char num[32];
	uint32_t i;

	switch (v->type) {
	case HF_FV_NULL: put(w, "null", 4); break;
	case HF_FV_BOOL: v->u.b ? put(w, "true", 4) : put(w, "false", 5); break;
	case HF_FV_NUM:
		put(w, num, (size_t)snprintf(num, sizeof(num), "%.17g", v->u.n));
		break;
	case HF_FV_STR: put_str(w, v->u.s, v->len); break;
	case HF_FV_ARR:
		put(w, "[", 1);
		for (i = 0; i < v->len; i++) {
			if (i)
				put(w, ",", 1);
			put_json(w, &v->u.a[i]);
		}
		put(w, "]", 1);
		break;
	case HF_FV_OBJ:
		put(w, "{", 1);
		for (i = 0; i < v->len; i++) {
			if (i)
				put(w, ",", 1);
			put_str(w, v->u.o[i].key, v->u.o[i].klen);
			put(w, ":", 1);
			put_json(w, &v->u.o[i].v);
		}
		put(w, "}", 1);
		break;
	}
}

/* NUL-terminate what was written; returns the whole length. */
static size_t finish(struct w *w)
{
	if (w->cap)
		w->buf[w->len < w->cap ? w->len : w->cap - 1] = '\0';
	return w->len;
}

size_t hf_flags_string(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       const char *def, char *buf, size_t buflen, struct hf_flags_details *details)
{
	struct hf_flags_details local, *d = DETAILS(details, local);
	struct w w = { buf, buflen, 0 };
	atomic_long *held;
	const struct hf_fv *v = resolve(c, pin(c, &held), key, ctx, HF_FLAG_STRING, d);

	if (v && v->type == HF_FV_STR)
		put(&w, v->u.s, v->len);
	else if (def)
		put(&w, def, strlen(def));
	unpin(c, held);
	return finish(&w);
}

size_t hf_flags_object(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       const char *def_json, char *buf, size_t buflen,
		       struct hf_flags_details *details)
{
	struct hf_flags_details local, *d = DETAILS(details, local);
	struct w w = { buf, buflen, 0 };
	atomic_long *held;
	const struct hf_fv *v = resolve(c, pin(c, &held), key, ctx, HF_FLAG_OBJECT, d);

	if (v)
		put_json(&w, v);
	else if (def_json)
		put(&w, def_json, strlen(def_json));
	unpin(c, held);
	return finish(&w);
}

size_t hf_flags_json(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		     char *buf, size_t buflen, struct hf_flags_details *details)
{
	struct hf_flags_details local, *d = DETAILS(details, local);
	struct w w = { buf, buflen, 0 };
	atomic_long *held;
	const struct hf_fv *v = resolve(c, pin(c, &held), key, ctx, HF_FLAG_ANY, d);

	if (v)
		put_json(&w, v);
	else
		put(&w, "null", 4);
	unpin(c, held);
	return finish(&w);
}

const char *hf_flags_reason_name(enum hf_flags_reason r)
{
	static const char *const names[] = { "STATIC", "TARGETING_MATCH", "DEFAULT", "DISABLED",
					     "ERROR", "STALE" };

	return (unsigned)r < sizeof(names) / sizeof(*names) ? names[r] : "UNKNOWN";
}

const char *hf_flags_error_name(enum hf_flags_error e)
{
	static const char *const names[] = { "NONE", "PROVIDER_NOT_READY", "FLAG_NOT_FOUND",
					     "PARSE_ERROR", "TYPE_MISMATCH", "GENERAL" };

	return (unsigned)e < sizeof(names) / sizeof(*names) ? names[e] : "UNKNOWN";
}
