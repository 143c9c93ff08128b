/* Reading a workload profile (D/profile.json of 'hotfix stage') into the
 * load generator's options and mix. Every number is checked before use: a
 * profile is a file anyone may have edited. No Redis, no printing. */
#include "engine/redis/profile.h"

#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/loadmix.h"
#include "util/buf.h"

#define MAX_VALUE_SIZE (16 * 1024 * 1024)

/* The number at 'key' of 'obj' into '*out' when it is one in [lo, hi];
 * 0 when absent (untouched), -1 when not such a number. */
static int number_in(const json_t *obj, const char *key, double lo, double hi, double *out)
{
	json_t *v = json_object_get(obj, key);
	double d;

	if (!v)
		return 0;
	d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d) || d < lo || d > hi)
		return -1;
	*out = d;
	return 1;
}

/* A distribution ("min", "p10"... "max") at 'key' of 'obj' into 'd';
 * fields absent are skipped. 'where' names it in errors. */
static int read_dist(const json_t *obj, const char *key, const char *where,
		     struct hf_load_dist *d, const char *path, struct hf_err *err)
{
	static const struct { const char *name; double q; } pts[HF_LOAD_DIST_POINTS] = {
		{ "min", 0 }, { "p10", 0.10 }, { "p25", 0.25 }, { "p50", 0.50 }, { "p75", 0.75 },
		{ "p90", 0.90 }, { "p99", 0.99 }, { "max", 1 },
	};
	const json_t *o = json_object_get(obj, key);
	int i;

	memset(d, 0, sizeof(*d));
	if (!o)
		return 0;
	if (!json_is_object(o))
		return hf_err_set(err, HF_EINVAL, "%s: '%s.%s' is not an object", path, where, key);
	for (i = 0; i < HF_LOAD_DIST_POINTS; i++) {
		double v;
		int rc = number_in(o, pts[i].name, 0, 1e12, &v);

		if (rc < 0 || (rc > 0 && d->n && v < d->v[d->n - 1])) {
			memset(d, 0, sizeof(*d));
			return hf_err_set(err, HF_EINVAL, "%s: '%s.%s.%s' is not a size at least the one "
					  "before", path, where, key, pts[i].name);
		}
		if (rc > 0) {
			d->q[d->n] = pts[i].q;
			d->v[d->n++] = v;
		}
	}
	return 0;
}

/* The key types of the replay, by the names the profile uses. */
static const char *const fam_names[HF_LOAD_NFAMS] = { "string", "hash", "list", "set", "zset" };

/* keys.by_type of a /2 profile: each type's share, lengths and element
 * sizes. */
static int read_types(const json_t *keys, struct hf_load_mix *m, const char *path,
		      struct hf_err *err)
{
	const json_t *bt = json_object_get(keys, "by_type");
	int f, rc = 0;

	if (bt && !json_is_object(bt))
		return hf_err_set(err, HF_EINVAL, "%s: 'keys.by_type' is not an object", path);
	for (f = 0; f < HF_LOAD_NFAMS && !rc; f++) {
		const json_t *t = json_object_get(bt, fam_names[f]);
		char where[48];

		if (!t)
			continue;
		snprintf(where, sizeof(where), "keys.by_type.%s", fam_names[f]);
		if (!json_is_object(t) || number_in(t, "share", 0, 1, &m->type_share[f]) < 0)
			return hf_err_set(err, HF_EINVAL, "%s: '%s' has no share between 0 and 1",
					  path, where);
		if (!(rc = read_dist(t, "length", where, &m->length[f], path, err)))
			rc = read_dist(t, "element_size", where, &m->element_size[f], path, err);
	}
	return rc;
}

/* The "mix" of a /2 profile: each command's share, folded by its kind in
 * "commands". */
static int read_mix(const json_t *doc, double read_share, struct hf_load_mix *m,
		    const char *path, struct hf_err *err)
{
	const json_t *mix = json_object_get(doc, "mix"), *cmds = json_object_get(doc, "commands");
	const char *name;
	json_t *v;

	if (!mix)
		return 0;
	if (!json_is_object(mix))
		return hf_err_set(err, HF_EINVAL, "%s: 'mix' is not an object", path);
	json_object_foreach((json_t *)mix, name, v) {
		const char *kind = json_string_value(json_object_get(json_object_get(cmds, name), "kind"));
		double share = json_number_value(v);

		if (!json_is_number(v) || !isfinite(share) || share < 0 || share > 1)
			return hf_err_set(err, HF_EINVAL, "%s: 'mix.%s' is not a share between 0 and 1",
					  path, name);
		hf_load_mix_add(m, name, kind, share, read_share);
	}
	return 0;
}

/* What both formats give: rate, read share, key count; 'rate_key' names
 * the rate to use. */
static int read_common(const json_t *doc, const char *rate_key, struct hf_load_opts *o,
		       const char *path, struct hf_err *err)
{
	const json_t *total = json_object_get(json_object_get(doc, "keys"), "source_total");
	double rate = 0, share = o->read_ratio;

	if (number_in(doc, rate_key, 0, 1e9, &rate) < 0)
		return hf_err_set(err, HF_EINVAL, "%s: '%s' is not a rate of requests/s", path, rate_key);
	if (number_in(doc, "read_share", 0, 1, &share) < 0)
		return hf_err_set(err, HF_EINVAL, "%s: 'read_share' is not a share between 0 and 1", path);
	if (total && (!json_is_integer(total) || json_integer_value(total) < 0))
		return hf_err_set(err, HF_EINVAL, "%s: 'keys.source_total' is not a count", path);
	if (rate >= 1)
		o->rate = (long)(rate + 0.5);
	o->read_ratio = share;
	if (total && json_integer_value(total) > 0)
		o->keys = json_integer_value(total) > HF_PROFILE_MAX_KEYS ? HF_PROFILE_MAX_KEYS
									: (long)json_integer_value(total);
	return 0;
}

/* The value size: a /2 profile's median string length; else (or without
 * strings) the median DUMP length less its framing, as /1 did. */
static void read_value_size(const json_t *doc, const struct hf_load_mix *m, struct hf_load_opts *o)
{
	const struct hf_load_dist *s = &m->length[HF_FAM_STRING];
	json_t *v = json_object_get(json_object_get(json_object_get(doc, "keys"), "value_size"), "p50");
	double p50 = -1;

	if (s->n)
		p50 = hf_load_dist_at(s, 0.5, -1);
	else if (json_is_integer(v))
		p50 = json_integer_value(v) > HF_DUMP_FRAMING ? (double)json_integer_value(v) - HF_DUMP_FRAMING : 1;
	if (p50 >= 0)
		o->value_size = p50 > MAX_VALUE_SIZE ? MAX_VALUE_SIZE : (long)(p50 + 0.5);
}

static int read_v2(const json_t *doc, struct hf_load_opts *o, struct hf_load_mix *m,
		   const char *path, struct hf_err *err)
{
	const json_t *keys = json_object_get(doc, "keys");
	int rc;

	if (keys && !json_is_object(keys))
		return hf_err_set(err, HF_EINVAL, "%s: 'keys' is not an object", path);
	if ((rc = read_common(doc, json_object_get(doc, "data_rate") ? "data_rate" : "request_rate",
			      o, path, err)) ||
	    (rc = read_mix(doc, o->read_ratio, m, path, err)) ||
	    (rc = read_dist(keys, "key_size", "keys", &m->key_size, path, err)) ||
	    (rc = read_types(keys, m, path, err)))
		return rc;
	read_value_size(doc, m, o);
	return 0;
}

int hf_profile_parse(const char *text, size_t len, const char *path, struct hf_load_opts *o,
		     struct hf_load_mix *mix, struct hf_err *err)
{
	json_error_t je;
	json_t *doc = json_loadb(text, len, 0, &je);
	const char *format = json_string_value(json_object_get(doc, "format"));
	int rc = 0;

	memset(mix, 0, sizeof(*mix));
	if (!doc)
		return hf_err_set(err, HF_EINVAL, "%s: not JSON: %s (line %d)", path, je.text, je.line);
	if (format && !strcmp(format, "hotfix-profile/1")) {
		if (!(rc = read_common(doc, "request_rate", o, path, err)))
			read_value_size(doc, mix, o);
	} else if (format && !strcmp(format, "hotfix-profile/2")) {
		rc = read_v2(doc, o, mix, path, err);
	} else {
		rc = hf_err_set(err, HF_EINVAL, "%s: not a workload profile: its format is not "
				"hotfix-profile/1 or /2 (written by 'hotfix stage')", path);
	}
	json_decref(doc);
	if (rc)
		hf_load_mix_release(mix);
	return rc;
}

int hf_profile_read(const char *path, struct hf_load_opts *o, struct hf_load_mix *mix,
		    struct hf_err *err)
{
	struct hf_buf b = {0};
	int rc;

	memset(mix, 0, sizeof(*mix));
	rc = hf_file_read(path, (size_t)64 << 20, &b);
	if (rc)
		rc = hf_err_set(err, HF_EINVAL, "%s: cannot read: %s", path,
				rc == EFBIG ? "larger than 64 MiB" : strerror(rc));
	else
		rc = hf_profile_parse(b.s ? b.s : "", b.len, path, o, mix, err);
	hf_buf_release(&b);
	return rc;
}
