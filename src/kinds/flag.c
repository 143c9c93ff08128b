/* The 'flag' kind (issue 12): one flag of the flag store's document set to
 * a definition, published as a new version with compare-and-set, verified
 * when the live clients acknowledged it, and reverted to the exact
 * document it replaced. The target is the store's primary, one node. What
 * a document means is src/flags/'s business; the store's keys are
 * engine/redis/flagstore.h's. In a ramp ("percent: P" waves) each wave is
 * a step that publishes the flag with fractional targeting between its new
 * default variant and its old one; every ramp step's before-state is the
 * document before the first ramp, so any of them reverts straight to it.
 * With 'bucket_by: slot' a wave turns the flag on for whole Redis Cluster
 * hash slots of a key in the context, the canary shard's first, with the
 * 'slot' operator of src/flags/ (hotfix's extension of JSONLogic). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "core/plan.h"
#include "engine/redis/flagstore.h"
#include "flags/flags.h"
#include "util/buf.h"
#include "util/keyslot.h"
#include "util/misc.h"

/* A client seen this recently is live: ten heartbeats of the library's
 * default poll (1 s), so that a client stopped just before a step is still
 * waited for, and named, rather than silently left out. */
#define LIVE_MS 10000LL
#define ACK_POLL_MS 100L
/* The total weight of a ramp's fractional targeting: 0.001 % steps. */
#define RAMP_WEIGHT 100000LL

struct flag_spec {
	char *key;
	char *def;               /* canonical JSON of the flag's definition */
	char *evaluators;        /* JSON object of $evaluators brought along, or NULL */
	double require_ack;      /* percent of the live clients, default 100 */
	long long ack_timeout_ms;   /* default 30 s */
	int by_slot;             /* bucket_by: slot */
	char *slot_key;          /* by_slot: the context attribute holding the key */
	struct hf_pos by_pos;    /* where bucket_by is */
};

static void spec_free(void *spec)
{
	struct flag_spec *fs = spec;

	if (!fs)
		return;
	free(fs->key);
	free(fs->def);
	free(fs->evaluators);
	free(fs->slot_key);
	free(fs);
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ---- documents ------------------------------------------------------------ */

/* The canonical JSON of flag 'key' in document 'doc' (NULL: none), or NULL
 * when the document has no such flag. Caller frees. */
static char *flag_def(const char *doc, const char *key)
{
	json_t *j, *f;
	char *s = NULL;

	if (!doc || !(j = json_loads(doc, 0, NULL)))
		return NULL;
	f = json_object_get(json_object_get(j, "flags"), key);
	if (f)
		s = dump(f);
	json_decref(j);
	return s;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* 'doc' (NULL: an empty document) with flag 'key' set to 'def' (NULL:
 * removed) and the $evaluators of 'evaluators' added, checked strictly by
 * the evaluator and made canonical. Returns the new document (caller
 * frees), or NULL with 'why' filled. */
static char *doc_with(const char *doc, const char *key, const char *def, const char *evaluators,
		      char *why, size_t len)
{
	json_t *j = doc ? json_loads(doc, 0, NULL) : json_object(), *flags, *ev;
	struct hf_flagdoc *fd = NULL;
	struct hf_err err = {0};
	char *text = NULL, *out = NULL;

	if (!j || !json_is_object(j)) {
		snprintf(why, len, "the store's document is not a JSON object");
		goto out;
	}
	if (!(flags = json_object_get(j, "flags")))
		json_object_set_new(j, "flags", flags = json_object());
	if (def)
		json_object_set_new(flags, key, json_loads(def, 0, NULL));
	else
		json_object_del(flags, key);
	if (evaluators && (ev = json_loads(evaluators, 0, NULL))) {
		if (!json_object_get(j, "$evaluators"))
			json_object_set_new(j, "$evaluators", json_object());
		json_object_update(json_object_get(j, "$evaluators"), ev);
		json_decref(ev);
	}
	text = dump(j);
	if (hf_flagdoc_parse("flag document", text, strlen(text), 0, &fd, &err)) {
		snprintf(why, len, "%.900s", err.msg);
		goto out;
	}
	out = hf_flagdoc_json(fd);
out:
	hf_flagdoc_unref(fd);
	free(text);
	json_decref(j);
	return out;
}

/* A step's blob: {"version": N, "doc": "<the document's text>" or null},
 * and for the first ramp bucketed by slot "slots", the order in which the
 * ramps turn slots on (slot_order; a reference is taken). */
static char *blob(const struct hf_flagstate *st, json_t *slots)
{
	json_t *j = json_pack("{s:I, s:o}", "version", (json_int_t)st->version, "doc",
			      st->doc ? json_string(st->doc) : json_null());
	char *s;

	if (slots)
		json_object_set(j, "slots", slots);
	s = dump(j);

	json_decref(j);
	return s;
}

/* The document a blob holds (NULL: none); '*version' its version. */
static char *blob_doc(const char *b, long long *version)
{
	json_t *j = b ? json_loads(b, 0, NULL) : NULL;
	const char *d = json_string_value(json_object_get(j, "doc"));
	char *s = d ? hf_xstrdup(d) : NULL;

	if (version)
		*version = j ? json_integer_value(json_object_get(j, "version")) : 0;
	json_decref(j);
	return s;
}

/* ---- ramps ------------------------------------------------------------------- */

/* The slots in the order a ramp bucketed by slot turns them on: those of
 * the canary shard (the one a node rollout would take first,
 * hf_plan_shard_order), then of each next shard, as
 * [{"primary": ID, "addr": "HOST:PORT", "ranges": [[LO, HI], ...]}, ...].
 * NULL with 'why' when no primary serves a slot (no cluster mode). */
static json_t *slot_order(const struct hf_kind_ctx *x, char *why, size_t len)
{
	int *order = hf_xcalloc((size_t)x->c->nshards + 1, sizeof(*order));
	size_t n = hf_plan_shard_order(x->m, x->c, order), i, k, r;
	json_t *out = json_array();

	for (i = 0; i < n; i++)
		for (k = 0; k < x->c->nnodes; k++) {
			const struct hf_node *nd = &x->c->nodes[k];
			json_t *ranges = json_array();
			char addr[300];

			if (nd->shard != order[i] || nd->role != HF_ROLE_PRIMARY || !nd->nranges) {
				json_decref(ranges);
				continue;
			}
			for (r = 0; r < nd->nranges; r++)
				json_array_append_new(ranges, json_pack("[i,i]", nd->ranges[2 * r],
									nd->ranges[2 * r + 1]));
			snprintf(addr, sizeof(addr), "%s:%d", nd->host, nd->port);
			json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "primary", nd->id,
							     "addr", addr, "ranges", ranges));
		}
	free(order);
	if (!json_array_size(out)) {
		snprintf(why, len, "'bucket_by: slot' needs a Redis Cluster whose primaries serve "
			 "slots; %s has none", x->c->cluster_mode ? "this cluster" : "a server "
			 "without cluster mode");
		json_decref(out);
		return NULL;
	}
	return out;
}

/* The first round(share % of 16384) slots of 'order' (slot_order) as
 * ranges, sorted and merged: [[LO, HI], ...]. '*count' gets the number of
 * slots, '*shards' that of the shards of 'order' that got any (its first
 * ones). */
static json_t *slots_on(const json_t *order, double share, long long *count, size_t *shards)
{
	long long want = llround(share * (double)HF_NSLOTS / 100.0), lo, hi, sl;
	static _Thread_local char on[HF_NSLOTS];
	json_t *out = json_array(), *shard, *range;
	size_t i, r;

	memset(on, 0, sizeof(on));
	*count = 0;
	*shards = 0;
	json_array_foreach(order, i, shard) {
		if (*count >= want)
			break;
		++*shards;
		json_array_foreach(json_object_get(shard, "ranges"), r, range) {
			lo = json_integer_value(json_array_get(range, 0));
			hi = json_integer_value(json_array_get(range, 1));
			for (sl = lo; sl <= hi && sl < HF_NSLOTS && *count < want; sl++, ++*count)
				on[sl] = 1;
		}
	}
	for (sl = 0; sl < HF_NSLOTS; sl++) {
		if (!on[sl])
			continue;
		for (lo = sl; sl + 1 < HF_NSLOTS && on[sl + 1]; sl++)
			;
		json_array_append_new(out, json_pack("[I,I]", (json_int_t)lo, (json_int_t)sl));
	}
	return out;
}

/* The "slots" a step's before-state journaled (slot_order), or NULL. */
static json_t *blob_slots(const char *b)
{
	json_t *j = b ? json_loads(b, 0, NULL) : NULL, *s = json_object_get(j, "slots");

	if (s)
		json_incref(s);
	json_decref(j);
	return s;
}

/* {"if": [{"===": [SLOT, null]}, null, {"or": [{"<=": [LO, SLOT, HI]}, ...]},
 *  ON, OFF]} with SLOT = {"slot": {"var": ATTR}}: a context without the key
 * gets the default variant (OFF), as 'fractional' gives it without a
 * targeting key; null goes first, since '<=' reads null as 0. */
static json_t *slot_targeting(const char *attr, json_t *ranges, const char *on, const char *off)
{
	json_t *any = json_array(), *range, *cond;
	size_t i;

	json_array_foreach(ranges, i, range)
		json_array_append_new(any, json_pack("{s:[O,{s:{s:s}},O]}", "<=",
						     json_array_get(range, 0), "slot", "var", attr,
						     json_array_get(range, 1)));
	if (json_array_size(any)) {
		cond = json_pack("{s:o}", "or", any);
	} else {
		json_decref(any);
		cond = json_false();
	}
	return json_pack("{s:[{s:[{s:{s:s}},n]},n,o,s,s]}", "if", "===", "slot", "var", attr, cond,
			 on, off);
}

/* The targeting of a ramp wave of 'share' % between 'on' and 'off' (see
 * step_def); NULL with 'why' when a ramp by slot journaled no slot order. */
static json_t *ramp_targeting(const struct flag_spec *fs, const char *before, double share,
			      const char *on, const char *off, char *why, size_t len)
{
	long long w = llround(share * (double)RAMP_WEIGHT / 100.0), count;
	json_t *order, *ranges, *out;
	size_t shards;

	if (!fs->by_slot)
		return json_pack("{s:[[s,I],[s,I]]}", "fractional", on, (json_int_t)w, off,
				 (json_int_t)(RAMP_WEIGHT - w));
	if (!(order = blob_slots(before))) {
		snprintf(why, len, "flag '%s': the ramp's before-state holds no slot order",
			 fs->key);
		return NULL;
	}
	ranges = slots_on(order, share, &count, &shards);
	out = slot_targeting(fs->slot_key, ranges, on, off);
	json_decref(ranges);
	json_decref(order);
	return out;
}

/* The definition step 's' publishes: the change's own, or in a ramp wave
 * below 100 % the same flag with its targeting replaced by
 * {"fractional": [[ON, w], [OFF, W - w]]} (bucketed by slot: ON for the
 * wave's slots, ramp_targeting): ON its new default variant,
 * OFF the default variant of the flag before the first ramp (one named
 * 'off' when that is no variant of the new definition, or there was no
 * flag). Returns NULL with 'why' when there is no OFF. Caller frees. */
static char *step_def(const struct flag_spec *fs, const struct hf_kind_ctx *x,
		      const struct hf_step *s, char *why, size_t len)
{
	double share = x->m && hf_manifest_ramps(x->m) ? hf_manifest_ramp_share(x->m, s->wave)
						     : 100;
	char *origin, *was, *out = NULL;
	json_t *def, *old, *variants, *targeting = NULL;
	const char *on, *off;

	if (share >= 100 || share < 0)
		return hf_xstrdup(fs->def);
	origin = blob_doc(s->before, NULL);
	was = flag_def(origin, fs->key);
	def = json_loads(fs->def, 0, NULL);
	old = was ? json_loads(was, 0, NULL) : NULL;
	variants = json_object_get(def, "variants");
	on = json_string_value(json_object_get(def, "defaultVariant"));
	off = json_string_value(json_object_get(old, "defaultVariant"));
	if (!off || !json_object_get(variants, off))
		off = json_object_get(variants, "off") ? "off" : NULL;
	if (!on || !off) {
		snprintf(why, len, "flag '%s' cannot ramp: %s", fs->key, !on ? "its definition "
			 "has no defaultVariant" : "the old default variant is not one of its "
			 "variants and it has none named 'off'");
		goto out;
	}
	if (!(targeting = ramp_targeting(fs, s->before, share, on, off, why, len)))
		goto out;
	json_object_set_new(def, "targeting", targeting);
	json_object_set_new(def, "defaultVariant", json_string(off));
	json_object_set_new(def, "state", json_string("ENABLED"));
	out = dump(def);
out:
	json_decref(def);
	json_decref(old);
	free(origin);
	free(was);
	return out;
}

/* ---- parse ------------------------------------------------------------------ */

/* Is 's' a number as JSON writes one (what YAML 1.2's JSON schema reads
 * as a number)? '*real': with a fraction or an exponent. */
static int json_number(const char *s, int *real)
{
	*real = 0;
	if (*s == '-')
		s++;
	if (!(*s >= '0' && *s <= '9') || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
		return 0;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s == '.') {
		*real = 1;
		if (!(*++s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		*real = 1;
		if (*++s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return !*s;
}

/* A YAML node as JSON: plain scalars are null, booleans and numbers as
 * JSON writes them, every other scalar a string. */
static json_t *to_json(struct fy_node *n)
{
	void *it = NULL;
	size_t len;
	json_t *j;

	if (!n || hf_yaml_is_null(n))
		return json_null();
	if (fy_node_is_mapping(n)) {
		struct fy_node_pair *p;

		j = json_object();
		while ((p = fy_node_mapping_iterate(n, &it))) {
			const char *k = fy_node_get_scalar0(fy_node_pair_key(p));

			json_object_set_new(j, k ? k : "", to_json(fy_node_pair_value(p)));
		}
		return j;
	}
	if (fy_node_is_sequence(n)) {
		struct fy_node *item;

		j = json_array();
		while ((item = fy_node_sequence_iterate(n, &it)))
			json_array_append_new(j, to_json(item));
		return j;
	}
	{
		const char *s = fy_node_get_scalar(n, &len);
		char *copy = hf_xstrndup(s ? s : "", s ? len : 0);
		int real;

		if (hf_yaml_is_plain(n) && (!strcmp(copy, "true") || !strcmp(copy, "false")))
			j = json_boolean(copy[0] == 't');
		else if (hf_yaml_is_plain(n) && json_number(copy, &real))
			j = real ? json_real(strtod(copy, NULL)) : json_integer(strtoll(copy, NULL, 10));
		else
			j = json_stringn(copy, strlen(copy));
		if (!j)   /* a number beyond a double, or text that is no UTF-8 */
			j = json_null();
		free(copy);
		return j;
	}
}

/* Fill fs->def and fs->evaluators from the document 'text' (what a flag
 * file or an inline definition became), checked strictly; 'label' names
 * it in the evaluator's messages. Errors are reported at 'pos' unless
 * 'own' (a flag file's own FILE:LINE:COL). */
static int take_flag(struct hf_yaml *y, struct flag_spec *fs, const char *label, const char *text,
		     struct hf_pos pos, int own)
{
	struct hf_flagdoc *fd = NULL;
	struct hf_err e = {0};
	json_t *j = NULL, *ev;
	char *canon = NULL;
	int rc = 0;

	if (hf_flagdoc_parse(label, text, strlen(text), 0, &fd, &e)) {
		if (own)
			return hf_err_set(y->err, HF_EINVAL, "%s", e.msg);
		/* The position in the JSON made of the YAML means nothing to
		 * the reader: the manifest's is given instead. */
		const char *msg = e.msg, *p = strstr(e.msg, ": ");

		if (!strncmp(e.msg, label, strlen(label)) && p)
			msg = p + 2;
		return hf_yaml_fail(y, pos, "invalid flag definition: %s", msg);
	}
	canon = hf_flagdoc_json(fd);
	j = json_loads(canon, 0, NULL);
	fs->def = flag_def(canon, fs->key);
	if (!fs->def)
		rc = hf_yaml_fail(y, pos, "flag '%s' is not in %s", fs->key, label);
	ev = json_object_get(j, "$evaluators");
	if (!rc && ev && json_object_size(ev))
		fs->evaluators = dump(ev);
	json_decref(j);
	free(canon);
	hf_flagdoc_unref(fd);
	return rc;
}

static int parse_source(struct hf_yaml *y, struct hf_field *f, struct flag_spec *fs)
{
	int rc = 0;

	if (f[1].seen) {
		char *file = NULL, *path, *text = NULL;
		size_t len;

		if ((rc = hf_yaml_text(y, &f[1], &file)))
			return rc;
		path = hf_yaml_relative(y, file);
		rc = hf_yaml_read_file(y, file, f[1].pos, "flag file", &text, &len);
		if (!rc)
			rc = take_flag(y, fs, path, text, hf_yaml_pos(y, f[0].val, f[0].pos), 1);
		free(file);
		free(path);
		free(text);
		return rc;
	}
	{
		json_t *doc = json_pack("{s:{s:o}}", "flags", fs->key, to_json(f[2].val));
		char *text;

		if (f[3].seen)
			json_object_set_new(doc, "$evaluators", to_json(f[3].val));
		text = dump(doc);
		rc = take_flag(y, fs, "'definition'", text, hf_yaml_pos(y, f[2].val, f[2].pos), 0);
		free(text);
		json_decref(doc);
	}
	return rc;
}

/* bucket_by: fractional (the default: flagd's hash of the targeting key)
 * or slot (the Redis Cluster hash slot of the key in attribute slot_key,
 * targetingKey unless said). */
static int parse_bucket(struct hf_yaml *y, const struct hf_field *by, const struct hf_field *key,
			struct flag_spec *fs)
{
	static const char *const names[] = { "fractional", "slot", NULL };
	int which = 0, rc;

	if (by->seen && (rc = hf_yaml_enum(y, by, names, &which)))
		return rc;
	fs->by_slot = which == 1;
	fs->by_pos = hf_yaml_pos(y, by->val, by->pos);
	if (key->seen && !fs->by_slot)
		return hf_yaml_fail(y, key->pos, "'slot_key' goes with 'bucket_by: slot' only");
	if (key->seen)
		return hf_yaml_text(y, key, &fs->slot_key);
	if (fs->by_slot)
		fs->slot_key = hf_xstrdup("targetingKey");
	return 0;
}

/* flag: {key: K, file: F} or {key: K, definition: {...}, evaluators: {...}},
 * with require_ack (a percentage), ack_timeout (a duration), bucket_by and
 * slot_key (parse_bucket). */
static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	struct hf_field f[] = { { .name = "key", .required = 1 }, { .name = "file" },
				{ .name = "definition" }, { .name = "evaluators" },
				{ .name = "require_ack" }, { .name = "ack_timeout" },
				{ .name = "bucket_by" }, { .name = "slot_key" } };
	struct flag_spec *fs = hf_xcalloc(1, sizeof(*fs));
	const char *s;
	int rc;

	(void)m;
	ch->spec = fs;
	fs->require_ack = 100;
	fs->ack_timeout_ms = 30000;
	rc = hf_yaml_walk(y, body->val, body->pos, "'flag'", f, 8);
	if (!rc)
		rc = hf_yaml_text(y, &f[0], &fs->key);
	if (!rc && f[1].seen == f[2].seen)
		rc = hf_yaml_fail(y, body->pos, "'flag' needs either 'file' or 'definition'");
	if (!rc && f[3].seen && !f[2].seen)
		rc = hf_yaml_fail(y, f[3].pos, "'evaluators' goes with 'definition' only");
	if (!rc && f[4].seen) {
		s = hf_yaml_scalar(y, f[4].val, f[4].pos, "require_ack", "a percentage");
		if (!s)
			rc = HF_EINVAL;
		else if (hf_parse_percent(s, &fs->require_ack) || fs->require_ack <= 0 ||
			 fs->require_ack > 100)
			rc = hf_yaml_fail(y, hf_yaml_pos(y, f[4].val, f[4].pos),
					  "'require_ack' must be a percentage in (0%%, 100%%]");
	}
	if (!rc && f[5].seen)
		rc = hf_yaml_duration(y, &f[5], 0, &fs->ack_timeout_ms);
	if (!rc)
		rc = parse_bucket(y, &f[6], &f[7], fs);
	if (!rc)
		rc = parse_source(y, f, fs);
	return rc;
}

/* 'bucket_by: slot' buckets a ramp's waves: without 'percent: P' waves
 * the flag goes to 100 % at once and the bucketing would mean nothing. */
static int validate(struct hf_yaml *y, const struct hf_change *ch, const struct hf_manifest *m)
{
	const struct flag_spec *fs = ch->spec;

	if (fs->by_slot && !hf_manifest_ramps(m))
		return hf_yaml_fail(y, fs->by_pos, "'bucket_by: slot' buckets the waves of a ramp, "
				    "but the rollout has no 'percent: P' wave");
	return 0;
}

static void summary(const struct hf_change *ch, struct hf_buf *out)
{
	const struct flag_spec *fs = ch->spec;

	hf_buf_printf(out, "flag '%s', acknowledged by %g%% of the live clients within %llds",
		      fs->key, fs->require_ack, fs->ack_timeout_ms / 1000);
	if (fs->by_slot)
		hf_buf_printf(out, ", ramped by the Redis Cluster slot of context attribute '%s'",
			      fs->slot_key);
}

/* ---- the store -------------------------------------------------------------- */

static int open_store(struct hf_kind_ctx *x, struct hf_flagstore **s, struct hf_flagstate *st,
		      struct hf_err *err)
{
	int rc = hf_flagstore_open(&x->c->uri, x->c->timeout_ms > 0 ? x->c->timeout_ms : 2000, s,
				   err);

	if (!rc && st && (rc = hf_flagstore_read(*s, st, err))) {
		hf_flagstore_close(*s);
		*s = NULL;
	}
	return rc;
}

static int is_store_node(struct hf_flagstore *s, const struct hf_node *n)
{
	char addr[300];

	snprintf(addr, sizeof(addr), "%s:%d", n->host, n->port);
	return !strcmp(addr, hf_flagstore_addr(s));
}

/* Set every target that is not the store's primary to match (nothing to
 * do there) and return the index of the one that is, or n. */
static size_t store_target(struct hf_flagstore *s, struct hf_target *t, size_t n)
{
	size_t i, at = n;

	for (i = 0; i < n; i++) {
		if (is_store_node(s, t[i].node))
			at = i;
		else
			t[i].match = 1;
	}
	return at;
}

static void fail_all(struct hf_target *t, size_t n, int status, const char *why)
{
	size_t i;

	for (i = 0; i < n; i++)
		hf_target_set(&t[i], status, "%s", why);
}

/* The slots and shards each ramp wave turns the flag on for, as diff
 * lines of 't'. */
static int describe_slots(const struct flag_spec *fs, struct hf_kind_ctx *x, struct hf_target *t,
			  struct hf_err *err)
{
	json_t *order, *ranges, *range;
	long long count;
	size_t shards, i, k;
	double share;
	char why[512];
	int w;

	if (!(order = slot_order(x, why, sizeof(why))))
		return hf_err_set(err, HF_EINVAL, "%d:%d: %s", fs->by_pos.line, fs->by_pos.col, why);
	for (w = 1; (share = hf_manifest_ramp_share(x->m, w)) < 100; w++) {
		struct hf_buf b = {0};

		if (share < 0)
			continue;
		ranges = slots_on(order, share, &count, &shards);
		json_array_foreach(ranges, i, range)
			hf_buf_printf(&b, "%s%lld-%lld", i ? "," : "",
				      (long long)json_integer_value(json_array_get(range, 0)),
				      (long long)json_integer_value(json_array_get(range, 1)));
		hf_buf_printf(&b, " (%lld slot(s)) of shard(s)", count);
		for (k = 0; k < shards; k++)
			hf_buf_printf(&b, " %s", json_string_value(json_object_get(
				json_array_get(order, k), "addr")));
		hf_target_add_diff(t, "wave %d (%g%%): flag '%s' on for '%s' in slots %s%s", w,
				   share, fs->key, fs->slot_key, b.s, k ? "" : " none");
		json_decref(ranges);
		hf_buf_release(&b);
	}
	hf_target_add_diff(t, "wave %d (100%%): flag '%s' on for every slot", w, fs->key);
	json_decref(order);
	return 0;
}

static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n,
		struct hf_err *err)
{
	const struct flag_spec *fs = ch->spec;
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	char *cur = NULL;
	size_t i;
	int rc, found = 0;

	if ((rc = open_store(x, &s, &st, err)))
		return rc;
	cur = flag_def(st.doc, fs->key);
	for (i = 0; i < n; i++) {
		if (!is_store_node(s, t[i].node))
			continue;
		found = 1;
		if (same(cur, fs->def))
			continue;
		hf_target_add_diff(&t[i], "flag '%s' (store version %lld): %s -> %s", fs->key,
				   st.version, cur ? cur : "absent", fs->def);
		if (fs->by_slot && x->m && hf_manifest_ramps(x->m) &&
		    (rc = describe_slots(fs, x, &t[i], err)))
			break;
	}
	if (!found && !rc)
		rc = hf_err_set(err, HF_ERR, "the flag store's primary %s is not among the "
				"cluster's nodes", hf_flagstore_addr(s));
	free(cur);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
	return rc;
}

/* In a ramp, the before-state of the change's earliest captured step of
 * run 'x' other than 's' (the document before the first ramp), or NULL.
 * Caller frees. */
static char *ramp_origin(const struct hf_kind_ctx *x, const struct hf_step *s)
{
	struct hf_run *run = NULL;
	struct hf_step *steps = NULL;
	struct hf_err err = {0};
	size_t i, n = 0;
	char *out = NULL;
	int best = 0;

	if (!x->journal || !x->run_id || !x->m || !hf_manifest_ramps(x->m) ||
	    hf_journal_run_load(x->journal, x->run_id, &run, &steps, &n, &err))
		return NULL;
	for (i = 0; i < n; i++)
		if (steps[i].change == s->change && steps[i].before && steps[i].wave < s->wave &&
		    (!best || steps[i].wave < best)) {
			best = steps[i].wave;
			free(out);
			out = hf_xstrdup(steps[i].before);
		}
	hf_steps_free(steps, n);
	hf_run_free(run);
	return out;
}

/* The before-state: the store's document and version; in a ramp, that of
 * the first ramp for every ramp step, so that any of them reverts straight
 * to it. */
static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n)
{
	const struct flag_spec *fs = ch->spec;
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	struct hf_err err = {0};
	json_t *slots = NULL;
	char why[512];
	size_t i;

	if (open_store(x, &s, &st, &err)) {
		fail_all(t, n, HF_EUNREACH, err.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		char *origin = ramp_origin(x, t[i].step);

		/* The first ramp by slot journals the order of the slots, so
		 * that every ramp, a resume's too, turns on the same ones. */
		if (!origin && fs->by_slot && !slots && !(slots = slot_order(x, why, sizeof(why)))) {
			hf_target_set(&t[i], HF_ERR, "%s", why);
			continue;
		}
		free(t[i].step->before);
		t[i].step->before = origin ? origin : blob(&st, slots);
	}
	json_decref(slots);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
}

/* Set flag K to the definition over the current document, checked by the
 * evaluator, published with compare-and-set on the version read; nothing
 * is published when the store already holds the definition. */
static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	const struct flag_spec *fs = ch->spec;
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	struct hf_err err = {0};
	char *cur = NULL, *doc = NULL, *def = NULL, why[512];
	long long v, ms;
	size_t at;

	if (open_store(x, &s, &st, &err)) {
		fail_all(t, n, HF_EUNREACH, err.msg);
		return;
	}
	if ((at = store_target(s, t, n)) == n)
		goto out;
	if (!(def = step_def(fs, x, t[at].step, why, sizeof(why)))) {
		hf_target_set(&t[at], HF_ERR, "%s", why);
		goto out;
	}
	cur = flag_def(st.doc, fs->key);
	if (same(cur, def))
		goto out;
	if (!(doc = doc_with(st.doc, fs->key, def, fs->evaluators, why, sizeof(why)))) {
		hf_target_set(&t[at], HF_ERR, "flag '%s': %s", fs->key, why);
		goto out;
	}
	hf_crashpoint("flag-publish");
	if (hf_flagstore_publish(s, st.version, doc, x->run_id, &v, &ms, &err))
		hf_target_set(&t[at], err.code == HF_EREFUSED ? HF_ERR : HF_EUNREACH,
			      "flag '%s': %s", fs->key, err.msg);
	hf_crashpoint("flag-published");
out:
	free(def);
	free(cur);
	free(doc);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
}

/* ---- acknowledgements -------------------------------------------------------- */

struct acks {
	size_t live, acked;
	struct hf_buf stragglers;   /* "ID (last seen TIME)", ... */
};

/* Count the live clients and those that acknowledged 'version'. */
static int count_acks(struct hf_flagstore *s, long long version, struct acks *a,
		      struct hf_err *err)
{
	struct hf_flagclient *c = NULL;
	long long now = hf_wall_ms();
	size_t i, nc = 0;
	int rc;

	if ((rc = hf_flagstore_clients(s, &c, &nc, err)))
		return rc;
	a->live = a->acked = 0;
	a->stragglers.len = 0;
	if (a->stragglers.s)
		a->stragglers.s[0] = '\0';
	for (i = 0; i < nc; i++) {
		char seen[64];

		if (now - c[i].seen_ms > LIVE_MS)
			continue;
		a->live++;
		if (c[i].applied_version >= version) {
			a->acked++;
			continue;
		}
		hf_fmt_time(c[i].seen_ms, seen, sizeof(seen));
		hf_buf_printf(&a->stragglers, "%s%s (on version %lld, last seen %s)",
			      a->stragglers.len ? ", " : "", c[i].id, c[i].applied_version, seen);
	}
	hf_flagclients_free(c, nc);
	return 0;
}

static int enough(const struct acks *a, double percent)
{
	return (double)a->acked * 100.0 >= percent * (double)a->live - 1e-9;
}

/* Wait up to the change's ack_timeout for 'version' to be acknowledged by
 * require_ack of the live clients. Returns 0, or HF_ERR with 'why' naming
 * the stragglers with their last-seen time. */
static int wait_acks(const struct flag_spec *fs, struct hf_flagstore *s, long long version,
		     char *why, size_t len)
{
	long long deadline = hf_mono_ms() + fs->ack_timeout_ms;
	struct acks a = {0};
	struct hf_err err = {0};
	int rc;

	for (;;) {
		if ((rc = count_acks(s, version, &a, &err))) {
			snprintf(why, len, "cannot read the flag clients: %.900s", err.msg);
			break;
		}
		if (enough(&a, fs->require_ack))
			break;
		if (hf_mono_ms() >= deadline) {
			snprintf(why, len, "flag '%s' version %lld acknowledged by %zu of %zu live "
				 "client(s) (%g%% required) within %lldms; not by: %s", fs->key,
				 version, a.acked, a.live, fs->require_ack, fs->ack_timeout_ms,
				 a.stragglers.s ? a.stragglers.s : "");
			rc = HF_ERR;
			break;
		}
		hf_sleep_ms(ACK_POLL_MS);
	}
	hf_buf_release(&a.stragglers);
	return rc;
}

/* AFTER: the store holds the definition of K and the live clients
 * acknowledged a version at least as recent (waiting for them); BEFORE:
 * the store holds K as the step's before-state did. */
static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	const struct flag_spec *fs = ch->spec;
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	struct hf_err err = {0};
	char *cur = NULL, *want = NULL, *bdoc = NULL, why[1024];
	size_t at;

	if (open_store(x, &s, &st, &err)) {
		fail_all(t, n, HF_EUNREACH, err.msg);
		return;
	}
	if ((at = store_target(s, t, n)) == n)
		goto out;
	cur = flag_def(st.doc, fs->key);
	if (side == HF_SIDE_BEFORE) {
		bdoc = blob_doc(t[at].step->before, NULL);
		want = flag_def(bdoc, fs->key);
		t[at].match = same(cur, want);
		goto out;
	}
	want = step_def(fs, x, t[at].step, why, sizeof(why));
	if (!same(cur, want))
		goto out;
	if (wait_acks(fs, s, st.version, why, sizeof(why))) {
		hf_target_set(&t[at], HF_ERR, "%s", why);
		goto out;
	}
	t[at].match = 1;
	free(t[at].step->after);
	t[at].step->after = blob(&st, NULL);
out:
	free(cur);
	free(want);
	free(bdoc);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
}

/* ---- the guard --------------------------------------------------------------- */

/* Ramped by slot, a step reaches the nodes of the shards whose slots it
 * turned on (every node at 100 %), not the store's primary: the guard
 * then compares those shards with the others, like with like. */
static int reach(const struct hf_change *ch, struct hf_kind_ctx *x, const struct hf_step *s,
		 int *on)
{
	const struct flag_spec *fs = ch->spec;
	double share = x->m ? hf_manifest_ramp_share(x->m, s->wave) : 100;
	json_t *order, *ranges;
	long long count;
	size_t shards, i, k;

	if (!fs->by_slot || share < 0)
		return 0;
	if (share >= 100) {
		for (k = 0; k < x->c->nnodes; k++)
			on[k] = 1;
		return 1;
	}
	if (!(order = blob_slots(s->before)))
		return 0;
	ranges = slots_on(order, share, &count, &shards);
	for (i = 0; i < shards; i++) {
		const char *id = json_string_value(json_object_get(json_array_get(order, i),
								   "primary"));

		for (k = 0; id && k < x->c->nnodes; k++) {
			const struct hf_node *nd = &x->c->nodes[k];

			if (!strcmp(nd->id, id) || (nd->primary_id && !strcmp(nd->primary_id, id)))
				on[k] = 1;
		}
	}
	json_decref(ranges);
	json_decref(order);
	return 1;
}

/* ---- revert ------------------------------------------------------------------ */

/* The document that brings the before-state back over 'st': the before
 * document verbatim when the store still holds exactly what this step
 * published (or the flag alone was changed by it since the capture), else
 * the current document with K put back. NULL with 'why' when nothing is to
 * be published ('*done' set: the before-state holds) or on a conflict. */
static char *restoring_doc(const struct flag_spec *fs, const struct hf_kind_ctx *x,
			   const struct hf_step *step, const struct hf_flagstate *st,
			   unsigned flags, int *done, int *conflict, char *why, size_t len)
{
	char *bdoc = blob_doc(step->before, NULL), *adoc = blob_doc(step->after, NULL);
	char *cur = flag_def(st->doc, fs->key), *was = flag_def(bdoc, fs->key), *out = NULL;
	char *mine = step_def(fs, x, step, why, len);

	*done = *conflict = 0;
	if (st->doc && adoc && !strcmp(st->doc, adoc)) {
		/* The exact previous document, as a new version ("{}" for none:
		 * an empty document is what a store that had none meant). */
		out = hf_xstrdup(bdoc ? bdoc : "{\"flags\":{}}");
	} else if (same(cur, was)) {
		*done = 1;
	} else if (same(cur, fs->def) || (mine && same(cur, mine)) || (flags & HF_REVERT_FORCE)) {
		out = doc_with(st->doc, fs->key, was, NULL, why, len);
	} else {
		*conflict = 1;
		snprintf(why, len, "flag '%s' was changed by someone else since the hotfix (store "
			 "version %lld holds %s); not overwritten", fs->key, st->version,
			 cur ? cur : "no such flag");
	}
	free(bdoc);
	free(adoc);
	free(cur);
	free(was);
	free(mine);
	return out;
}

/* Publish the before-state (restoring_doc), then wait for the live clients
 * to acknowledge it: a store restored but not acknowledged in time is a
 * warning naming the stragglers, not a failure (the store holds it). */
static void revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, unsigned flags)
{
	const struct flag_spec *fs = ch->spec;
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	struct hf_err err = {0};
	char *doc = NULL, why[1024] = "";
	int done, conflict;
	long long v, ms;
	size_t at;

	if (open_store(x, &s, &st, &err)) {
		fail_all(t, n, HF_EUNREACH, err.msg);
		return;
	}
	if ((at = store_target(s, t, n)) == n)
		goto out;
	doc = restoring_doc(fs, x, t[at].step, &st, flags, &done, &conflict, why, sizeof(why));
	if (done) {
		t[at].match = 1;
		goto out;
	}
	if (!doc) {
		hf_target_set(&t[at], conflict ? HF_ECONFLICT : HF_ERR, "%s", why);
		goto out;
	}
	if (hf_flagstore_publish(s, st.version, doc, x->run_id, &v, &ms, &err)) {
		hf_target_set(&t[at], err.code == HF_EREFUSED ? HF_ERR : HF_EUNREACH,
			      "flag '%s': %s", fs->key, err.msg);
		goto out;
	}
	t[at].match = 1;
	if (wait_acks(fs, s, v, why, sizeof(why)))
		snprintf(t[at].warning, sizeof(t[at].warning), "restored, but %.240s", why);
out:
	free(doc);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
}

const struct hf_change_kind hf_kind_flag = {
	.name = "flag",
	.flags = HF_KIND_RAMPS,
	.parse = parse,
	.free = spec_free,
	.summary = summary,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = revert,
	.validate = validate,
	.reach = reach,
};
