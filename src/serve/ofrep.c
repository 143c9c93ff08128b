/* OFREP, the OpenFeature Remote Evaluation Protocol, over the flag
 * document that flagfeed.c keeps: a request's JSON in, the evaluation
 * (hf_flagdoc_eval), the protocol's answers out (value, variant, reason,
 * metadata; error codes and their HTTP statuses; the bulk answer's entity
 * tag). Routing, headers and authentication are http.c's. */
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/flags.h"
#include "serve/serve.h"
#include "util/buf.h"
#include "util/misc.h"

/* The largest request body read (a context is small). */
#define BODY_MAX (1024 * 1024)

/* An error answer: {key, errorCode, errorDetails} ('key' NULL for the
 * bulk answer, which has none). */
static json_t *failure(const char *key, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *failure(const char *key, const char *code, const char *fmt, ...)
{
	json_t *o = json_object();
	char msg[2400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		json_object_set_new(o, "key", json_string(key));
	json_object_set_new(o, "errorCode", json_string(code));
	json_object_set_new(o, "errorDetails", json_string(msg));
	return o;
}

/* The context of request body 'body' ('len' bytes): '*ctx' a copy of its
 * "context" object (an empty one when the body or the member is absent).
 * Returns 0, or an HTTP status with '*bad' the error answer for 'key'. */
static int read_context(const char *key, const char *body, size_t len, json_t **ctx,
			json_t **bad)
{
	json_error_t je;
	json_t *root, *c;

	if (len > BODY_MAX) {
		*bad = failure(key, "PARSE_ERROR", "the request body is over %d bytes", BODY_MAX);
		return 400;
	}
	if (!len) {
		*ctx = json_object();
		return 0;
	}
	root = json_loadb(body, len, 0, &je);
	if (!root || !json_is_object(root)) {
		*bad = failure(key, "PARSE_ERROR", "the request body is not a JSON object%s%s",
			       root ? "" : ": ", root ? "" : je.text);
		json_decref(root);
		return 400;
	}
	c = json_object_get(root, "context");
	if (c && !json_is_object(c) && !json_is_null(c)) {
		*bad = failure(key, "INVALID_CONTEXT", "'context' must be an object");
		json_decref(root);
		return 400;
	}
	*ctx = json_is_object(c) ? json_incref(c) : json_object();
	json_decref(root);
	return 0;
}

static int has_targeting_key(const json_t *ctx)
{
	const json_t *k = json_object_get(ctx, "targetingKey");

	return json_is_string(k) && json_string_length(k) > 0;
}

/* Evaluate flag 'f' of 'snap' for 'ctx' (JSON, and 'fc' compiled): the
 * success answer or a failure, with its HTTP status in '*status'. */
static json_t *eval_one(const struct hf_ofrep_snap *snap, const struct hf_flag *f,
			const json_t *ctx, const struct hf_flagctx *fc, int *status)
{
	const char *key = hf_flag_key(f);
	struct hf_flagresult res;
	json_t *o;
	char *text;
	size_t i;

	for (i = 0; i < snap->nneeds; i++)
		if (snap->needs_key[i] == f && !has_targeting_key(ctx)) {
			*status = 400;
			return failure(key, "TARGETING_KEY_MISSING", "flag '%s' splits by the "
				       "targeting key: the context has no 'targetingKey'", key);
		}
	hf_flag_eval(f, fc, HF_FLAG_ANY, NULL, &res);
	if (res.reason == HF_REASON_DISABLED) {
		/* A disabled flag serves no value, the caller's default: to a
		 * client it is a flag that is not there. */
		*status = 404;
		return failure(key, "FLAG_NOT_FOUND", "flag '%s' is disabled", key);
	}
	if (res.reason == HF_REASON_ERROR || !res.value) {
		*status = 400;
		if (res.error == HF_FLAGERR_PARSE_ERROR)
			return failure(key, "PARSE_ERROR", "the targeting of flag '%s' does not "
				       "compile", key);
		return failure(key, "GENERAL", "the targeting of flag '%s' failed or named no "
			       "variant of it", key);
	}
	text = hf_fv_json(res.value);
	o = json_object();
	json_object_set_new(o, "key", json_string(key));
	json_object_set_new(o, "value", json_loads(text, JSON_DECODE_ANY, NULL));
	json_object_set_new(o, "reason", json_string(hf_flag_reason_name(res.reason)));
	if (res.variant)
		json_object_set_new(o, "variant", json_string(res.variant));
	json_object_set_new(o, "metadata", json_deep_copy(json_object_get(snap->meta, key)));
	free(text);
	*status = 200;
	return o;
}

int hf_ofrep_eval(const struct hf_ofrep_snap *snap, int none, const char *why, const char *key,
		  const char *body, size_t len, json_t **out)
{
	struct hf_flagctx_owned fc;
	struct hf_err err = {0};
	const struct hf_flag *f;
	json_t *ctx = NULL;
	int status;

	if ((status = read_context(key, body, len, &ctx, out)))
		return status;
	if (!snap || !snap->doc) {
		json_decref(ctx);
		if (!snap && !none) {
			*out = failure(key, "GENERAL", "%s", why);
			return 500;
		}
		*out = failure(key, "FLAG_NOT_FOUND", "no flag '%s': %s", key,
			       snap ? "no flag document was published" : why);
		return 404;
	}
	f = hf_flagdoc_find(snap->doc, key, strlen(key));
	if (!f) {
		json_decref(ctx);
		*out = failure(key, "FLAG_NOT_FOUND", "no flag '%s' in flag document version %lld",
			       key, snap->version);
		return 404;
	}
	if (hf_flagctx_from_json(ctx, &fc, &err)) {
		json_decref(ctx);
		*out = failure(key, "INVALID_CONTEXT", "%s", err.msg);
		return 400;
	}
	*out = eval_one(snap, f, ctx, &fc.ctx, &status);
	hf_flagctx_release(&fc);
	json_decref(ctx);
	return status;
}

/* The bulk answer's entity tag for 'ctx' over version 'version': a strong
 * tag, "VERSION-DIGEST" with the first 16 bytes of the SHA-256 of the
 * context as canonical JSON (keys sorted), quoted. */
static void bulk_etag(long long version, const json_t *ctx, char *etag)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *text = json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	int n, i;

	SHA256((const unsigned char *)(text ? text : ""), text ? strlen(text) : 0, md);
	free(text);
	n = snprintf(etag, 64, "\"%lld-", version);
	for (i = 0; i < 16 && n < 60; i++)
		n += snprintf(etag + n, (size_t)(64 - n), "%02x", md[i]);
	snprintf(etag + n, (size_t)(64 - n), "\"");
}

/* Does the If-None-Match header 'inm' name 'etag' (or '*')? */
static int etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag);
	const char *p = inm;

	if (!inm)
		return 0;
	while (*p) {
		p += strspn(p, " \t,");
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p == '*' || (!strncmp(p, etag, el) && strchr(" \t,", p[el])))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

int hf_ofrep_bulk(const struct hf_ofrep_snap *snap, int none, const char *why,
		  const char *body, size_t len, const char *if_none_match, char *etag,
		  json_t **out)
{
	struct hf_flagctx_owned fc;
	struct hf_err err = {0};
	json_t *ctx = NULL, *flags;
	size_t i, n;
	int status;

	etag[0] = '\0';
	if ((status = read_context(NULL, body, len, &ctx, out)))
		return status;
	if (!snap && !none) {
		json_decref(ctx);
		*out = failure(NULL, "GENERAL", "%s", why);
		return 500;
	}
	if (hf_flagctx_from_json(ctx, &fc, &err)) {
		json_decref(ctx);
		*out = failure(NULL, "INVALID_CONTEXT", "%s", err.msg);
		return 400;
	}
	bulk_etag(snap ? snap->version : 0, ctx, etag);
	*out = NULL;
	if (etag_matches(if_none_match, etag)) {
		status = 304;
		goto out;
	}
	flags = json_array();
	n = snap && snap->doc ? hf_flagdoc_count(snap->doc) : 0;
	for (i = 0; i < n; i++)
		json_array_append_new(flags, eval_one(snap, hf_flagdoc_at(snap->doc, i), ctx,
						      &fc.ctx, &status));
	*out = json_pack("{s:o}", "flags", flags);
	status = 200;
out:
	hf_flagctx_release(&fc);
	json_decref(ctx);
	return status;
}
