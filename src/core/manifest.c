/* The hotfix manifest: YAML text in, a validated struct hf_manifest out.
 * This file knows the manifest's own fields (metadata, rollout, guard;
 * notify is read by core/notify_spec.c); each change's body is parsed by
 * its kind (src/kinds/), through the walker of core/yaml.c. Nothing here
 * talks to a cluster. */
#include "core/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/judge.h"
#include "core/kind.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/misc.h"
#include "util/tpl.h"

/* A manifest is a few hundred bytes; this only stops "hotfix apply /dev/zero". */
#define MANIFEST_MAX_BYTES	(4 * 1024 * 1024)
#define NAME_MAX_LEN		63


static int valid_name(const char *s)
{
	size_t len = strlen(s);
	size_t i;

	if (len < 1 || len > NAME_MAX_LEN || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int parse_metadata(struct hf_yaml *y, struct hf_field *parent, struct hf_manifest *m)
{
	enum { F_NAME, F_VERSION, F_OWNER, F_PROBLEM, F_N };
	struct hf_field f[F_N] = {
		[F_NAME] = { .name = "name", .required = 1 },
		[F_VERSION] = { .name = "version", .required = 1 },
		[F_OWNER] = { .name = "owner", .required = 1 },
		[F_PROBLEM] = { .name = "problem", .required = 1 },
	};
	const char *s;
	int rc;

	rc = hf_yaml_walk(y, parent->val, parent->pos, "'metadata'", f, F_N);
	if (rc)
		return rc;

	s = hf_yaml_scalar(y, f[F_NAME].val, f[F_NAME].pos, "name", "a name");
	if (!s)
		return HF_EINVAL;
	if (!valid_name(s))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_NAME].val, f[F_NAME].pos),
				    "invalid name '%s' (expected 1 to 63 of a-z, 0-9 and '-', "
				    "not starting or ending with '-')", s);
	m->name = hf_xstrdup(s);

	s = hf_yaml_scalar(y, f[F_VERSION].val, f[F_VERSION].pos, "version", "a positive integer");
	if (!s)
		return HF_EINVAL;
	if (hf_parse_positive(s, &m->version))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_VERSION].val, f[F_VERSION].pos),
				    "invalid version '%s' (expected a positive integer)", s);

	rc = hf_yaml_text(y, &f[F_OWNER], &m->owner);
	if (!rc)
		rc = hf_yaml_text(y, &f[F_PROBLEM], &m->problem);
	return rc;
}

/* One item of spec.changes: a mapping with exactly one key, the kind of
 * the change, whose value the kind parses. 'i' counts from 1. */
static int parse_change(struct hf_yaml *y, struct fy_node *item, struct hf_pos ipos, size_t i,
			struct hf_manifest *m)
{
	struct hf_change *ch = &m->changes[i - 1];
	struct hf_field body = {0};
	struct fy_node_pair *pair;
	struct fy_node *key;
	void *it = NULL;
	struct hf_buf names = {0};
	int rc;

	if (hf_yaml_is_alias(item) || hf_yaml_is_null(item) || !fy_node_is_mapping(item) ||
	    fy_node_mapping_is_empty(item))
		return hf_yaml_fail(y, ipos, "change %zu must be a mapping with one key, "
				    "the change kind (e.g. 'config')", i);
	if (fy_node_mapping_item_count(item) > 1) {
		fy_node_mapping_iterate(item, &it);
		pair = fy_node_mapping_iterate(item, &it);
		return hf_yaml_fail(y, hf_yaml_pos(y, fy_node_pair_key(pair), ipos),
				    "change %zu has more than one key; write each change "
				    "kind as its own list item", i);
	}
	pair = fy_node_mapping_iterate(item, &it);
	key = fy_node_pair_key(pair);
	ch->pos = hf_yaml_pos(y, key, ipos);
	if (!key || hf_yaml_is_alias(key) || !fy_node_is_scalar(key) ||
	    !(body.name = fy_node_get_scalar0(key)))
		return hf_yaml_fail(y, ch->pos, "invalid change kind in change %zu", i);
	ch->kind = hf_kind_find(body.name);
	if (!ch->kind) {
		hf_kind_names(&names);
		rc = hf_yaml_fail(y, ch->pos, "unknown change kind '%s' (expected %s)", body.name,
				  names.s);
		hf_buf_release(&names);
		return rc;
	}
	/* A change over keys and a change over nodes cannot share waves. */
	if (i > 1 && (ch->kind->flags & HF_KIND_KEYS) != (m->changes[0].kind->flags & HF_KIND_KEYS))
		return hf_yaml_fail(y, ch->pos, "a %s change cannot share its manifest with other "
				    "kinds of change", ch->kind->flags & HF_KIND_KEYS ?
				    ch->kind->name : m->changes[0].kind->name);
	body.seen = 1;
	body.val = fy_node_pair_value(pair);
	body.pos = ch->pos;
	return ch->kind->parse(y, &body, ch, m);
}

static int parse_changes(struct hf_yaml *y, struct hf_field *parent, struct hf_manifest *m)
{
	struct hf_pos spos = hf_yaml_pos(y, parent->val, parent->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n, i = 0;
	int rc;

	rc = hf_yaml_seq(y, parent, "a list of changes", 0, &n);
	if (rc)
		return rc;
	m->changes = hf_xcalloc(n, sizeof(*m->changes));
	/* Counted before the parse, so that a kind sees how many there are. */
	m->nchanges = n;
	while ((item = fy_node_sequence_iterate(parent->val, &it)) && i < n) {
		rc = parse_change(y, item, hf_yaml_pos(y, item, spos), ++i, m);
		if (rc) {
			m->nchanges = i;   /* free what was parsed, and no more */
			return rc;
		}
	}
	return 0;
}

/* One node, then all of them; for a data change 1% of the keys, then all. */
static void default_waves(struct hf_manifest *m)
{
	m->nwaves = 2;
	m->waves = hf_xcalloc(m->nwaves, sizeof(*m->waves));
	if (hf_manifest_over_keys(m)) {
		m->waves[0].keys = 1;
		m->waves[0].is_percent = 1;
		m->waves[0].percent = 1;
		m->waves[1].keys = 1;
	} else {
		m->waves[0].count = 1;
	}
	m->waves[0].bake_ms = 10000;
	m->waves[1].is_percent = 1;
	m->waves[1].percent = 100;
	m->waves[1].bake_ms = 0;
}

/* A ramp's wave: "percent: P" (a share of a flag's traffic, 0 < P <= 100,
 * with or without '%'), growing from wave to wave; 'f' is the wave's
 * fields, the last one 'percent'. */
static int parse_ramp(struct hf_yaml *y, struct hf_field *f, size_t nf, struct hf_wave_spec *w,
		      size_t idx, struct hf_manifest *m, size_t prev[4])
{
	struct hf_field *fp = &f[nf - 1];
	const struct hf_wave_spec *last = prev[3] ? &m->waves[prev[3] - 1] : NULL;
	struct hf_pos pos;
	const char *s;
	size_t i;

	for (i = 0; i + 1 < nf; i++)
		if (f[i].seen && strcmp(f[i].name, "bake"))
			return hf_yaml_fail(y, hf_yaml_later(&f[i], fp)->pos, "wave %zu has both "
					    "'%s' and 'percent' (percent ramps a flag's traffic)",
					    idx, f[i].name);
	s = hf_yaml_scalar(y, fp->val, fp->pos, "percent", "a share of the traffic like 10");
	if (!s)
		return HF_EINVAL;
	pos = hf_yaml_pos(y, fp->val, fp->pos);
	if ((hf_parse_number(s, &w->percent) && hf_parse_percent(s, &w->percent)) ||
	    w->percent <= 0 || w->percent > 100)
		return hf_yaml_fail(y, pos, "invalid percent '%s' in wave %zu (a share of the "
				    "traffic above 0 and at most 100)", s, idx);
	if (last && w->percent <= last->percent)
		return hf_yaml_fail(y, pos, "wave %zu (%s) must be larger than wave %zu (%g)", idx,
				    s, prev[3], last->percent);
	w->traffic = 1;
	w->is_percent = 1;
	prev[3] = idx;
	for (i = 0; i + 1 < nf; i++)
		if (!strcmp(f[i].name, "bake") && f[i].seen)
			return hf_yaml_duration(y, &f[i], 0, &w->bake_ms);
	return 0;
}

/* One item of rollout.waves, wave 'idx' (from 1). Waves only grow, but
 * counts and percentages are not comparable before a topology is known,
 * so a wave is compared with the last one of its own measure: 'prev'
 * holds the wave numbers (0 for none) of the last count, percentage of
 * nodes and percentage of keys. Whether keys or nodes fit the changes is
 * checked by check_rollout_unit(). */
static int parse_wave(struct hf_yaml *y, struct fy_node *item, struct hf_pos at, size_t idx,
		      struct hf_manifest *m, size_t prev[4])
{
	enum { F_NODES, F_KEYS, F_BAKE, F_PERCENT, F_N };
	struct hf_field f[F_N] = {
		[F_NODES] = { .name = "nodes" },
		[F_KEYS] = { .name = "keys" },
		[F_BAKE] = { .name = "bake" },
		[F_PERCENT] = { .name = "percent" },
	};
	struct hf_wave_spec *w = &m->waves[idx - 1];
	const struct hf_wave_spec *last;
	const struct hf_field *fv;
	struct hf_pos pos;
	char where[32];
	int rc, measure;
	const char *s;

	snprintf(where, sizeof(where), "wave %zu", idx);
	w->pos = hf_yaml_pos(y, item, at);
	rc = hf_yaml_walk(y, item, at, where, f, F_N);
	if (rc)
		return rc;
	if (f[F_PERCENT].seen)
		return parse_ramp(y, f, F_N, w, idx, m, prev);
	if (f[F_NODES].seen && f[F_KEYS].seen)
		return hf_yaml_fail(y, hf_yaml_later(&f[F_NODES], &f[F_KEYS])->pos, "wave %zu has "
				    "both 'nodes' and 'keys' (nodes for a change to servers, keys for "
				    "a data change)", idx);
	/* The message names the field the changes need; they are parsed first. */
	if (!f[F_NODES].seen && !f[F_KEYS].seen)
		return hf_yaml_fail(y, w->pos, "missing required field '%s' in wave %zu",
				    hf_manifest_over_keys(m) ? "keys" : "nodes", idx);
	w->keys = f[F_KEYS].seen;
	fv = &f[w->keys ? F_KEYS : F_NODES];
	s = hf_yaml_scalar(y, fv->val, fv->pos, fv->name,
			   w->keys ? "a percentage like 10%" : "a count or a percentage");
	if (!s)
		return HF_EINVAL;
	pos = hf_yaml_pos(y, fv->val, fv->pos);
	w->is_percent = !hf_parse_percent(s, &w->percent);
	if (w->keys && (!w->is_percent || w->percent <= 0 || w->percent > 100))
		return hf_yaml_fail(y, pos, "invalid keys '%s' in wave %zu (expected a percentage "
				    "of the keys, above 0%% and at most 100%%)", s, idx);
	if (w->is_percent && (w->percent <= 0 || w->percent > 100))
		return hf_yaml_fail(y, pos, "invalid nodes '%s' in wave %zu (a percentage must be "
				    "above 0%% and at most 100%%)", s, idx);
	if (!w->is_percent && hf_parse_positive(s, &w->count))
		return hf_yaml_fail(y, pos, "invalid nodes '%s' in wave %zu (expected a count of "
				    "at least 1 or a percentage like 50%%)", s, idx);
	measure = w->keys ? 2 : w->is_percent;
	last = prev[measure] ? &m->waves[prev[measure] - 1] : NULL;
	if (last && (w->is_percent ? w->percent <= last->percent : w->count <= last->count))
		return hf_yaml_fail(y, pos, "wave %zu (%s) must be larger than wave %zu (%g%s)", idx,
				    s, prev[measure], w->is_percent ? last->percent :
				    (double)last->count, w->is_percent ? "%" : "");
	prev[measure] = idx;
	if (f[F_BAKE].seen)
		return hf_yaml_duration(y, &f[F_BAKE], 0, &w->bake_ms);
	return 0;
}

static int parse_waves(struct hf_yaml *y, struct hf_field *parent, struct hf_manifest *m)
{
	struct hf_pos spos = hf_yaml_pos(y, parent->val, parent->pos);
	size_t prev[4] = { 0, 0, 0, 0 }, n, i = 0;
	struct fy_node *item;
	void *it = NULL;
	int rc;

	rc = hf_yaml_seq(y, parent, "a list of waves", 0, &n);
	if (rc)
		return rc;
	m->nwaves = n;
	m->waves = hf_xcalloc(n, sizeof(*m->waves));
	while (!rc && (item = fy_node_sequence_iterate(parent->val, &it)) && i < n)
		rc = parse_wave(y, item, spos, ++i, m, prev);
	return rc;
}

/* spec.rollout. '*order_pos' gets the position of 'order' when it is
 * given, and stays { 0, 0 } otherwise. */
static int parse_rollout(struct hf_yaml *y, struct hf_field *parent, struct hf_manifest *m,
			 struct hf_pos *order_pos)
{
	static const char *const orders[] = { "replicas-first", "primaries-first", NULL };
	enum { F_ORDER, F_WAVES, F_N };
	struct hf_field f[F_N] = {
		[F_ORDER] = { .name = "order" },
		[F_WAVES] = { .name = "waves" },
	};
	int rc, order;

	rc = hf_yaml_walk(y, parent->val, parent->pos, "'rollout'", f, F_N);
	if (!rc && f[F_ORDER].seen) {
		*order_pos = f[F_ORDER].pos;
		rc = hf_yaml_enum(y, &f[F_ORDER], orders, &order);
		if (!rc)
			m->order = order ? HF_ORDER_PRIMARIES_FIRST : HF_ORDER_REPLICAS_FIRST;
	}
	if (!rc && f[F_WAVES].seen)
		rc = parse_waves(y, &f[F_WAVES], m);
	return rc;
}

/* Fractions (error_rate, memory_used_ratio) also take a percentage. */
static int is_fraction(const char *metric)
{
	return hf_judge_metric_is_fraction(hf_judge_metric_of(metric));
}

/* One threshold of a check: 'max', 'min' or 'max_ratio_to_baseline'.
 *
 * Ratio metrics (error_rate, memory_used_ratio) take a fraction in [0, 1]
 * or a percentage, "1%" meaning 0.01; other metrics take a plain
 * non-negative number in their own unit. */
static int parse_threshold(struct hf_yaml *y, struct hf_field *f, const char *metric,
			   double *out)
{
	int is_ratio = !strcmp(f->name, "max_ratio_to_baseline");
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a non-negative number");
	struct hf_pos pos = hf_yaml_pos(y, f->val, f->pos);
	double v;

	if (!s)
		return HF_EINVAL;
	if (!hf_parse_percent(s, &v)) {
		if (is_ratio || !is_fraction(metric))
			return hf_yaml_fail(y, pos, "'%s' of metric '%s' cannot be a percentage",
				    f->name, metric);
		if (v > 100)
			return hf_yaml_fail(y, pos, "%s '%s' for metric '%s' is out of range "
				    "(expected 0%% to 100%%)", f->name, s, metric);
		*out = v / 100;
		return 0;
	}
	if (hf_parse_number(s, &v))
		return hf_yaml_fail(y, pos, "invalid %s '%s' for metric '%s' "
			    "(expected a non-negative number)", f->name, s, metric);
	if (is_ratio && v <= 0)
		return hf_yaml_fail(y, pos, "'%s' must be greater than 0", f->name);
	if (!is_ratio && is_fraction(metric) && v > 1)
		return hf_yaml_fail(y, pos, "%s '%s' for metric '%s' is out of range "
			    "(expected 0 to 1, or a percentage like 1%%)", f->name, s,
			    metric);
	*out = v;
	return 0;
}

/* A check's 'promql': a PromQL expression with per-node placeholders
 * (util/tpl.h, no {side}). */
static int parse_promql(struct hf_yaml *y, struct hf_field *f, struct hf_check *ck)
{
	size_t at, n;

	if (hf_yaml_text(y, f, &ck->promql))
		return HF_EINVAL;
	if (hf_tpl_bad_word(ck->promql, 0, &at, &n))
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "'promql': {%.*s} is no "
				    "placeholder (id, host, port, role, group, node, labels.KEY)",
				    (int)n, ck->promql + at);
	ck->metric = hf_xstrdup(ck->promql);
	return 0;
}

/* A check's 'metric': one the guard computes (core/judge.h). */
static int parse_metric(struct hf_yaml *y, struct hf_field *f, struct hf_check *ck)
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, "metric", "a metric name");
	struct hf_buf list = { 0 };
	int rc, i;

	if (!s)
		return HF_EINVAL;
	if (hf_judge_metric_of(s) >= 0) {
		ck->metric = hf_xstrdup(s);
		return 0;
	}
	for (i = 0; i < HF_METRIC_COUNT; i++)
		hf_buf_printf(&list, "%s%s", i ? ", " : "", hf_judge_metric_name(i));
	rc = hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "unknown metric '%s' (expected one "
			  "of %s, or a 'promql' check)", s, list.s);
	hf_buf_release(&list);
	return rc;
}

static int parse_check(struct hf_yaml *y, struct fy_node *item, struct hf_pos at,
		       size_t idx, struct hf_check *ck)
{
	enum { F_METRIC, F_PROMQL, F_MAX, F_MIN, F_RATIO, F_N };
	struct hf_field f[F_N] = {
		[F_METRIC] = { .name = "metric" },
		[F_PROMQL] = { .name = "promql" },
		[F_MAX] = { .name = "max" },
		[F_MIN] = { .name = "min" },
		[F_RATIO] = { .name = "max_ratio_to_baseline" },
	};
	char where[32];
	int rc;

	if (fy_node_is_mapping(item) && fy_node_mapping_lookup_by_string(item, "reader", -1))
		return hf_reader_parse(y, item, at, idx, ck);
	snprintf(where, sizeof(where), "check %zu", idx);
	rc = hf_yaml_walk(y, item, at, where, f, F_N);
	if (rc)
		return rc;
	if (f[F_METRIC].seen && f[F_PROMQL].seen)
		return hf_yaml_fail(y, hf_yaml_later(&f[F_METRIC], &f[F_PROMQL])->pos, "check %zu "
				    "has both 'metric' and 'promql': give one", idx);
	if (!f[F_METRIC].seen && !f[F_PROMQL].seen)
		return hf_yaml_fail(y, at, "check %zu has no 'metric' (one the guard computes) nor "
				    "'promql' (an expression Prometheus evaluates per node)", idx);
	ck->pos = f[F_PROMQL].seen ? f[F_PROMQL].pos : f[F_METRIC].pos;
	rc = f[F_PROMQL].seen ? parse_promql(y, &f[F_PROMQL], ck) : parse_metric(y, &f[F_METRIC], ck);
	if (rc)
		return rc;
	if (!f[F_MAX].seen && !f[F_MIN].seen && !f[F_RATIO].seen)
		return hf_yaml_fail(y, ck->pos, "check %zu ('%s') has no threshold "
			    "(set max, min or max_ratio_to_baseline)", idx, ck->metric);
	ck->has_max = f[F_MAX].seen;
	ck->has_min = f[F_MIN].seen;
	ck->has_ratio = f[F_RATIO].seen;
	if (ck->has_max)
		rc = parse_threshold(y, &f[F_MAX], ck->metric, &ck->max);
	if (!rc && ck->has_min)
		rc = parse_threshold(y, &f[F_MIN], ck->metric, &ck->min);
	if (!rc && ck->has_ratio)
		rc = parse_threshold(y, &f[F_RATIO], ck->metric, &ck->ratio);
	if (rc)
		return rc;
	if (ck->has_max && ck->has_min && ck->min > ck->max)
		return hf_yaml_fail(y, f[F_MIN].pos, "'min' is greater than 'max' in check %zu "
			    "('%s')", idx, ck->metric);
	return 0;
}

static int parse_checks(struct hf_yaml *y, struct hf_field *parent, struct hf_guard *g)
{
	struct hf_pos spos = hf_yaml_pos(y, parent->val, parent->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n, i = 0;
	int rc;

	/* "checks:" with nothing after it is an empty list, which is allowed. */
	rc = hf_yaml_seq(y, parent, "a list of checks", HF_YAML_EMPTY_OK, &n);
	if (rc || !n)
		return rc;
	g->nchecks = n;
	g->checks = hf_xcalloc(n, sizeof(*g->checks));
	while (!rc && (item = fy_node_sequence_iterate(parent->val, &it)) && i < n) {
		rc = parse_check(y, item, spos, i + 1, &g->checks[i]);
		i++;
	}
	return rc;
}

/* Number the 'promql' checks (their metrics' slots), which need a
 * Prometheus to read them from. */
static int promql_slots(struct hf_yaml *y, struct hf_guard *g)
{
	size_t i;
	int slot = 0;

	for (i = 0; i < g->nchecks; i++) {
		struct hf_check *k = &g->checks[i];

		if (!k->promql)
			continue;
		if (!g->prometheus)
			return hf_yaml_fail(y, k->pos, "check %zu is a 'promql' check, but the guard "
					    "names no 'prometheus' to read it from", i + 1);
		if (slot == HF_PROMQL_MAX)
			return hf_yaml_fail(y, k->pos, "check %zu: at most %d 'promql' checks",
					    i + 1, HF_PROMQL_MAX);
		k->slot = slot++;
	}
	return 0;
}

/* spec.guard: the word "none" (a deliberate choice, recorded as such) or a
 * mapping. Defaults are already in 'm->guard'. */
static int parse_guard(struct hf_yaml *y, struct hf_field *parent,
		       struct hf_manifest *m)
{
	enum { F_INTERVAL, F_BASELINE, F_LIMIT, F_UNOBS, F_CHECKS, F_PROM, F_N };
	struct hf_field f[F_N] = {
		[F_PROM] = { .name = "prometheus" },
		[F_INTERVAL] = { .name = "interval" },
		[F_BASELINE] = { .name = "baseline" },
		[F_LIMIT] = { .name = "failure_limit" },
		[F_UNOBS] = { .name = "on_unobservable" },
		[F_CHECKS] = { .name = "checks" },
	};
	struct hf_guard *g = &m->guard;
	struct fy_node *n = parent->val;
	const char *s;
	size_t i;
	int rc;

	g->pos = hf_yaml_pos(y, n, parent->pos);
	if (hf_yaml_is_plain(n) && !hf_yaml_is_null(n) && !strcmp(fy_node_get_scalar0(n), "none")) {
		g->present = 1;
		g->none = 1;
		return 0;
	}
	if (hf_yaml_is_null(n) || (!hf_yaml_is_alias(n) && !fy_node_is_mapping(n)))
		return hf_yaml_fail(y, g->pos, "'guard' must be a mapping or 'none'");
	rc = hf_yaml_walk(y, n, parent->pos, "'guard'", f, F_N);
	if (rc)
		return rc;
	g->present = 1;

	if (f[F_INTERVAL].seen)
		rc = hf_yaml_duration(y, &f[F_INTERVAL], 1, &g->interval_ms);
	if (!rc && f[F_BASELINE].seen)
		rc = hf_yaml_duration(y, &f[F_BASELINE], 0, &g->baseline_ms);
	if (rc)
		return rc;
	if (f[F_LIMIT].seen) {
		s = hf_yaml_scalar(y, f[F_LIMIT].val, f[F_LIMIT].pos, "failure_limit",
				   "an integer of at least 1");
		if (!s)
			return HF_EINVAL;
		if (hf_parse_positive(s, &g->failure_limit))
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_LIMIT].val, f[F_LIMIT].pos),
					    "invalid failure_limit '%s' (expected an integer of at "
					    "least 1)", s);
	}
	if (f[F_UNOBS].seen) {
		static const char *const modes[] = { "hold", "rollback", NULL };
		int mode;

		rc = hf_yaml_enum(y, &f[F_UNOBS], modes, &mode);
		if (rc)
			return rc;
		g->on_unobservable = mode ? HF_UNOBS_ROLLBACK : HF_UNOBS_HOLD;
	}
	if (f[F_CHECKS].seen && (rc = parse_checks(y, &f[F_CHECKS], g)))
		return rc;
	if (f[F_PROM].seen) {
		if (hf_yaml_text(y, &f[F_PROM], &g->prometheus))
			return HF_EINVAL;
		if (!hf_notify_url_ok(g->prometheus))
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_PROM].val, f[F_PROM].pos),
					    "invalid prometheus '%s' (expected an http:// or https:// "
					    "URL, Prometheus' root)", g->prometheus);
	}
	if ((rc = promql_slots(y, g)))
		return rc;

	/* A ratio to a baseline of zero length would compare against nothing. */
	for (i = 0; i < g->nchecks; i++)
		if (g->checks[i].has_ratio && g->baseline_ms == 0)
			return hf_yaml_fail(y, g->checks[i].pos, "check %zu ('%s') uses "
				    "max_ratio_to_baseline but 'baseline' is 0", i + 1,
				    g->checks[i].metric);
	return 0;
}

/* A change over keys rolls out over shares of its keys, every other change
 * over nodes: the waves must say which, and 'order' (of replicas and
 * primaries) means nothing for keys. 'order_pos' is where 'order' was
 * given, line 0 when it was not. */
static int check_rollout_unit(struct hf_yaml *y, const struct hf_manifest *m,
			      struct hf_pos order_pos)
{
	int keys = hf_manifest_over_keys(m), ramps = hf_manifest_ramps(m);
	const char *kind = m->changes[0].kind->name;
	size_t i;

	for (i = 0; ramps && i < m->nchanges; i++)
		if (m->changes[i].kind->flags & HF_KIND_RAMPS)
			break;
	if (ramps && i == m->nchanges)
		return hf_yaml_fail(y, m->waves[0].pos, "'percent' waves ramp a flag change's "
				    "traffic, and this manifest has no flag change");
	for (i = 0; ramps && i < m->nwaves; i++)
		if (!m->waves[i].traffic)
			return hf_yaml_fail(y, m->waves[i].pos, "wave %zu counts %s, but the waves "
					    "of a ramp are all 'percent: P' (its node changes are "
					    "applied in full before the first ramp)", i + 1,
					    m->waves[i].keys ? "keys" : "nodes");

	if (keys && order_pos.line)
		return hf_yaml_fail(y, order_pos, "'order' does not apply to a %s change (its "
				    "waves are shares of the keys, not nodes); remove it", kind);
	for (i = 0; i < m->nwaves; i++) {
		if (keys && !m->waves[i].keys)
			return hf_yaml_fail(y, m->waves[i].pos, "wave %zu counts nodes, but a %s "
					    "change rolls out over its keys: write 'keys: N%%'", i + 1,
					    kind);
		if (!keys && m->waves[i].keys)
			return hf_yaml_fail(y, m->waves[i].pos, "'keys' waves are for data changes "
					    "(wave %zu): write 'nodes: N' or 'nodes: N%%'", i + 1);
	}
	return 0;
}

static int parse_spec(struct hf_yaml *y, struct hf_field *parent, struct hf_manifest *m)
{
	static const char *const snapshot[] = { "check", "required", NULL };
	enum { F_CHANGES, F_ROLLOUT, F_GUARD, F_SNAPSHOT, F_NOTIFY, F_PREFLIGHT, F_N };
	struct hf_field f[F_N] = {
		[F_CHANGES] = { .name = "changes", .required = 1 },
		[F_ROLLOUT] = { .name = "rollout" },
		[F_GUARD] = { .name = "guard" },
		[F_SNAPSHOT] = { .name = "snapshot" }, [F_NOTIFY] = { .name = "notify" },
		[F_PREFLIGHT] = { .name = "preflight" },
	};
	struct hf_pos order_pos = { 0, 0 };
	size_t i;
	int rc;

	rc = hf_yaml_walk(y, parent->val, parent->pos, "'spec'", f, F_N);
	if (!rc && f[F_SNAPSHOT].seen)
		rc = hf_yaml_enum(y, &f[F_SNAPSHOT], snapshot, &m->snapshot_required);
	if (!rc)
		rc = parse_changes(y, &f[F_CHANGES], m);
	if (!rc && f[F_ROLLOUT].seen)
		rc = parse_rollout(y, &f[F_ROLLOUT], m, &order_pos);
	if (!rc && f[F_GUARD].seen)
		rc = parse_guard(y, &f[F_GUARD], m);
	if (!rc && f[F_NOTIFY].seen)
		rc = hf_notify_spec_parse(y, &f[F_NOTIFY], m);
	if (!rc && f[F_PREFLIGHT].seen)
		rc = hf_preflight_parse(y, &f[F_PREFLIGHT], m);
	for (i = 0; !rc && i < m->nchanges; i++)
		if (m->changes[i].kind->validate)
			rc = m->changes[i].kind->validate(y, &m->changes[i], m);
	if (!rc)
		rc = check_rollout_unit(y, m, order_pos);
	if (!rc && !m->nwaves)
		default_waves(m);
	return rc;
}

static int parse_root(struct hf_yaml *y, struct fy_node *root, void *ud)
{
	enum { F_API, F_KIND, F_META, F_SPEC, F_N };
	struct hf_field f[F_N] = {
		[F_API] = { .name = "apiVersion", .required = 1 },
		[F_KIND] = { .name = "kind", .required = 1 },
		[F_META] = { .name = "metadata", .required = 1 },
		[F_SPEC] = { .name = "spec", .required = 1 },
	};
	struct hf_pos start = { 1, 1 };
	struct hf_manifest *m = ud;
	const char *s;
	int rc;

	if (hf_yaml_is_null(root))
		return hf_yaml_fail(y, start, "manifest is empty");
	if (!fy_node_is_mapping(root))
		return hf_yaml_fail(y, start, "manifest must be a mapping (apiVersion, kind, "
			    "metadata, spec)");
	rc = hf_yaml_walk(y, root, start, "the manifest", f, F_N);
	if (rc)
		return rc;

	s = hf_yaml_scalar(y, f[F_API].val, f[F_API].pos, "apiVersion", "'hotfix/v1'");
	if (!s)
		return HF_EINVAL;
	if (strcmp(s, "hotfix/v1"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_API].val, f[F_API].pos),
			    "unsupported apiVersion '%s' (expected 'hotfix/v1')", s);
	s = hf_yaml_scalar(y, f[F_KIND].val, f[F_KIND].pos, "kind", "'Hotfix'");
	if (!s)
		return HF_EINVAL;
	if (strcmp(s, "Hotfix"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_KIND].val, f[F_KIND].pos),
			    "unsupported kind '%s' (expected 'Hotfix')", s);

	rc = parse_metadata(y, &f[F_META], m);
	if (!rc)
		rc = parse_spec(y, &f[F_SPEC], m);
	return rc;
}

/* Parse 'text' (NUL-terminated, 'len' bytes, owned by this call from now
 * on) into '*out'. */
static int parse_owned(const char *path, char *text, size_t len, struct hf_manifest **out,
		       struct hf_err *err)
{
	struct hf_yaml y = { .path = path, .err = err, .text = text, .len = len };
	struct hf_manifest *m = hf_xcalloc(1, sizeof(*m));
	int rc;

	m->path = hf_xstrdup(path);
	m->text = text;
	m->textlen = len;
	hf_sha256_hex(text, len, m->sha256);
	m->order = HF_ORDER_REPLICAS_FIRST;
	m->guard.interval_ms = 1000;
	m->guard.baseline_ms = 10000;
	m->guard.failure_limit = 2;
	m->guard.on_unobservable = HF_UNOBS_HOLD;
	rc = hf_yaml_parse(&y, parse_root, m);
	if (rc) {
		hf_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int hf_manifest_parse(const char *path, const char *text, size_t len,
		      struct hf_manifest **out, struct hf_err *err)
{
	char *copy = hf_xmalloc(len + 1);

	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';
	return parse_owned(path, copy, len, out, err);
}

/* A manifest that is not there, or cannot be read, is bad input: exit 2. */
int hf_manifest_load(const char *path, struct hf_manifest **out, struct hf_err *err)
{
	FILE *f = fopen(path, "rb");
	struct hf_buf buf = {0};
	char chunk[8192];
	size_t n, len;

	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf.len + n <= MANIFEST_MAX_BYTES)
		hf_buf_append(&buf, chunk, n);
	if (n || ferror(f)) {
		int e = errno;

		fclose(f);
		hf_buf_release(&buf);
		if (n)
			return hf_err_set(err, HF_EINVAL, "cannot read '%s': larger than %d bytes",
					  path, MANIFEST_MAX_BYTES);
		return hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path, strerror(e));
	}
	fclose(f);
	len = buf.len;
	return parse_owned(path, buf.s ? hf_buf_detach(&buf) : hf_xstrdup(""), len, out, err);
}

void hf_manifest_free(struct hf_manifest *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nchanges; i++)
		if (m->changes[i].kind && m->changes[i].spec)
			m->changes[i].kind->free(m->changes[i].spec);
	free(m->changes);
	for (i = 0; i < m->guard.nchecks; i++) {
		free(m->guard.checks[i].metric);
		free(m->guard.checks[i].promql);
		free(m->guard.checks[i].reader);
		free(m->guard.checks[i].match);
		free(m->guard.checks[i].dir);
	}
	free(m->guard.checks);
	free(m->guard.prometheus);
	hf_notify_spec_free(m);
	hf_preflight_free(m);
	free(m->waves);
	free(m->name);
	free(m->owner);
	free(m->problem);
	free(m->text);
	free(m->journal_text);
	free(m->path);
	free(m);
}

const char *hf_order_name(enum hf_order o)
{
	return o == HF_ORDER_PRIMARIES_FIRST ? "primaries-first" : "replicas-first";
}

int hf_manifest_ramps(const struct hf_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nwaves; i++)
		if (m->waves[i].traffic)
			return 1;
	return 0;
}

int hf_manifest_ramp_dark(const struct hf_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nchanges; i++)
		if (!(m->changes[i].kind->flags & HF_KIND_RAMPS))
			return 1;
	return 0;
}

double hf_manifest_ramp_share(const struct hf_manifest *m, int wave)
{
	int r = wave - hf_manifest_ramp_dark(m);

	if (r < 1)
		return -1;
	return (size_t)r <= m->nwaves ? m->waves[r - 1].percent : 100;
}

int hf_manifest_over_keys(const struct hf_manifest *m)
{
	return m->nchanges && m->changes[0].kind && (m->changes[0].kind->flags & HF_KIND_KEYS);
}

static int token_edge(char ch)
{
	return !ch || strchr(" \t\r\n\"'", ch) != NULL;
}

int hf_manifest_redact(struct hf_manifest *m, const char *secret, const char *hashed)
{
	struct hf_buf b = {0};
	const char *p, *hit, *scan;
	size_t n = strlen(secret);
	int count = 0;

	if (!m->journal_text)
		m->journal_text = hf_xstrdup(m->text);
	p = scan = m->journal_text;
	while ((hit = strstr(scan, secret))) {
		if ((hit == m->journal_text || token_edge(hit[-1])) && token_edge(hit[n])) {
			hf_buf_append(&b, p, (size_t)(hit - p));
			hf_buf_puts(&b, hashed);
			p = hit + n;
			count++;
		}
		scan = hit + 1;
		if (scan < p)
			scan = p;
	}
	hf_buf_puts(&b, p);
	free(m->journal_text);
	m->journal_text = hf_buf_detach(&b);
	return count || strstr(m->journal_text, hashed) ? 0 : -1;
}
