/* The guard's judgement over plain data: the metric table, checks against
 * thresholds and the baseline, canary versus control, and the verdict's
 * explanation. Nothing here samples a node or reads a clock. */
#include "core/judge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"
#include "util/buf.h"

struct row {
	const char *name;
	unsigned flags;
	double floor;
	const char *unit;
	const char *none;
};

static const struct row metrics[HF_METRIC_COUNT] = {
#define HF_METRIC_ROW(id, name, flags, floor, unit, none) \
	[HF_METRIC_##id] = { name, flags, floor, unit, none },
	HF_METRICS(HF_METRIC_ROW)
#undef HF_METRIC_ROW
};

/* What every PromQL slot is; its name is its check's. */
static const struct row promql = { "promql", HF_METRIC_REQUIRED, 0, "", "no sample" };

static int is_metric(int m)
{
	return m >= 0 && m < HF_METRIC_SLOTS;
}

/* The row of metric 'm' (a valid one). */
static const struct row *row(int m)
{
	return m < HF_METRIC_COUNT ? &metrics[m] : &promql;
}

int hf_judge_metric_of(const char *name)
{
	int m;

	for (m = 0; name && m < HF_METRIC_COUNT; m++)
		if (!strcmp(metrics[m].name, name))
			return m;
	return -1;
}

int hf_judge_check_metric(const struct hf_check *k)
{
	if (k->promql)
		return k->slot >= 0 && k->slot < HF_PROMQL_MAX ? HF_METRIC_COUNT + k->slot : -1;
	return hf_judge_metric_of(k->metric);
}

const char *hf_judge_metric_name(int m)
{
	return is_metric(m) ? row(m)->name : "";
}

unsigned hf_judge_metric_flags(int m)
{
	return is_metric(m) ? row(m)->flags : 0;
}

int hf_judge_metric_is_fraction(int m)
{
	return !!(hf_judge_metric_flags(m) & HF_METRIC_FRACTION);
}

double hf_judge_metric_floor(int m)
{
	return is_metric(m) ? row(m)->floor : 0;
}

void hf_judge_format(int m, double v, char *out, size_t len)
{
	if (!is_metric(m))
		snprintf(out, len, "%g", v);
	else if (isnan(v))
		snprintf(out, len, "n/a (%s)", row(m)->none);
	else if (row(m)->flags & HF_METRIC_FRACTION)
		snprintf(out, len, "%.4f", v);
	else if (m >= HF_METRIC_COUNT)
		snprintf(out, len, "%g", v);
	else
		snprintf(out, len, "%.3f%s", v, row(m)->unit);
}

/* A traffic metric means nothing over no call: what 0/0 printed as is not
 * a measurement, and must neither pass nor fail a check. */
static double value_of(int m, double v, unsigned long long calls)
{
	return (row(m)->flags & HF_METRIC_TRAFFIC) && !calls ? NAN : v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Canary versus control for metric 'm', per role: are the changed nodes'
 * values stochastically greater than those of the nodes not yet changed,
 * in the same intervals? Only intervals where both groups have a value
 * count, so that load drifting between waves cannot pass for an effect.
 * Mann-Whitney U, one sided, with an effect size; and the medians must
 * differ by more than the metric's floor, so that a significant but tiny
 * shift does not roll back. Fills 'why' and returns 1 when the canary is
 * worse, 0 when it is not or the test has too few values to speak. The
 * test's U and p go to 'vc' (the role with the smallest p) when it spoke. */
static int canary_worse(const struct hf_judge_input *in, int m, char *why, size_t len,
			struct hf_verdict_check *vc)
{
	size_t cap = in->nhistory ? in->nhistory : 1;
	double *can = hf_xcalloc(cap, sizeof(*can)), *ctl = hf_xcalloc(cap, sizeof(*ctl));
	int role, worse = 0;

	for (role = 0; role < 2 && !worse; role++) {
		size_t nc = 0, nt = 0, i;
		long iv;
		struct hf_mw mw;
		double mc, mt;

		for (iv = in->interval - HF_JUDGE_WINDOW + 1; iv <= in->interval; iv++) {
			size_t c0 = nc, t0 = nt;

			for (i = 0; i < in->nhistory; i++) {
				const struct hf_judge_sample *s = &in->history[i];
				double x;

				if (s->interval != iv || !s->primary != !role)
					continue;
				x = value_of(m, s->v[m], s->calls);
				if (isnan(x))
					continue;
				if (s->changed)
					can[nc++] = x;
				else
					ctl[nt++] = x;
			}
			if (nc == c0 || nt == t0) {
				nc = c0;   /* one group is missing: drop the interval */
				nt = t0;
			}
		}
		if (nc < HF_JUDGE_MW_MIN || nt < HF_JUDGE_MW_MIN)
			continue;
		if (hf_mw_test(can, nc, ctl, nt, HF_MW_GREATER, &mw, NULL))
			continue;
		if (isnan(vc->p) || mw.p < vc->p) {
			vc->u = mw.u1;
			vc->p = mw.p;
		}
		if (mw.p >= HF_JUDGE_MW_ALPHA || mw.effect < HF_JUDGE_MW_EFFECT)
			continue;
		qsort(can, nc, sizeof(double), cmp_double);
		qsort(ctl, nt, sizeof(double), cmp_double);
		mc = can[nc / 2];
		mt = ctl[nt / 2];
		if (mc - mt <= row(m)->floor)
			continue;
		snprintf(why, len, "canary %s worse than control in the same intervals: median "
			 "%.3f vs %.3f over %zu/%zu samples, Mann-Whitney U %.0f, p %.4f, "
			 "P(canary > control) %.2f", role ? "primaries" : "replicas", mc, mt, nc, nt,
			 mw.u1, mw.p, mw.effect);
		worse = 1;
	}
	free(can);
	free(ctl);
	return worse;
}

void hf_judge_limit(const struct hf_check *k, int m, const double *baseline,
		    struct hf_verdict_check *vc)
{
	double base = baseline && is_metric(m) ? baseline[m] : NAN;
	double fl = hf_judge_metric_floor(m);

	vc->baseline = base;
	vc->threshold = NAN;
	vc->rule[0] = '\0';
	if (k->has_max) {
		vc->threshold = k->max;
		snprintf(vc->rule, sizeof(vc->rule), "max %g", k->max);
	} else if (k->has_min) {
		vc->threshold = k->min;
		snprintf(vc->rule, sizeof(vc->rule), "min %g", k->min);
	} else if (k->has_ratio) {
		if (!isnan(base))
			vc->threshold = k->ratio * (base > fl ? base : fl);
		snprintf(vc->rule, sizeof(vc->rule), "max %gx baseline", k->ratio);
	}
}

/* Judge check 'k' on the interval: returns 1 and fills 'why' when it
 * fails. 'x' is the group's value, never NAN here; canary versus control
 * leaves its U and p in 'vc'. */
static int check_fails(const struct hf_judge_input *in, const struct hf_check *k, int m,
		       double x, char *why, size_t len, struct hf_verdict_check *vc)
{
	double base = in->baseline ? in->baseline[m] : NAN;
	int bad = 0;

	if (k->has_max && x > k->max) {
		bad = 1;
		snprintf(why, len, "above max %g", k->max);
	} else if (k->has_min && x < k->min) {
		bad = 1;
		snprintf(why, len, "below min %g", k->min);
	} else if (k->has_ratio && !isnan(base)) {
		double fl = row(m)->floor, num = x > fl ? x : fl, den = base > fl ? base : fl;
		/* A floor of 0 (PromQL metrics): from 0 to anything is worse. */
		double r = den > 0 ? num / den : num > 0 ? INFINITY : 1;

		if (r > k->ratio) {
			char b[64];

			bad = 1;
			hf_judge_format(m, base, b, sizeof(b));
			snprintf(why, len, "%.2fx the baseline %s, limit %gx", r, b, k->ratio);
		}
	}
	/* Relative checks also compare the canary with its control, which a
	 * drifting baseline cannot fool. */
	if (!bad && k->has_ratio && !(row(m)->flags & HF_METRIC_SHARED) &&
	    canary_worse(in, m, why, len, vc))
		bad = 1;
	if (bad && m == HF_METRIC_PROBE_LATENCY && in->probe_error && in->probe_error[0]) {
		size_t used = strlen(why);

		snprintf(why + used, len - used, " (a probe write failed: %s)", in->probe_error);
	}
	return bad;
}

/* An interval that cannot be judged at all: a changed node did not answer
 * both samples, or the topology changed. Fills 'v' and returns 1 then, 0
 * otherwise. */
static int unobservable(const struct hf_judge_input *in, struct hf_verdict *v)
{
	struct hf_buf blind = {0};
	int found = 1;
	size_t i;

	for (i = 0; i < in->nnodes; i++) {
		const struct hf_judge_node *nd = &in->nodes[i];

		if (nd->changed && !nd->answered)
			hf_buf_printf(&blind, "%s%s", blind.len ? ", " : "", nd->name);
	}
	if (blind.len) {
		v->kind = HF_VERDICT_UNOBSERVABLE;
		snprintf(v->explain, sizeof(v->explain), "unobservable: %s did not answer within %ldms",
			 blind.s, in->timeout_ms);
	} else if (in->topology && in->topology[0]) {
		v->kind = HF_VERDICT_UNOBSERVABLE;
		snprintf(v->explain, sizeof(v->explain), "unobservable: the topology changed (%s); "
			 "this interval is not judged", in->topology);
	} else {
		found = 0;
	}
	hf_buf_release(&blind);
	return found;
}

/* What the checks of an interval found, for its verdict. */
struct findings {
	struct hf_buf fails;   /* "; " between failures */
	struct hf_buf seen;    /* ", " between the checked metrics' values */
	int unjudged;          /* a traffic check had no value where calls were due */
	struct hf_buf blind;   /* "; " between metrics read from outside that had
				* no value for a changed node */
	int native;            /* a check is on a metric the guard computes */
};

/* The next itemised check of 'v' for 'metric', or NULL when the verdict
 * holds HF_VERDICT_CHECKS already. */
static struct hf_verdict_check *next_check(struct hf_verdict *v, const char *metric)
{
	struct hf_verdict_check *vc;

	if (v->nchecks >= HF_VERDICT_CHECKS)
		return NULL;
	vc = &v->checks[v->nchecks++];
	memset(vc, 0, sizeof(*vc));
	vc->metric = metric;
	vc->value = vc->baseline = vc->threshold = vc->u = vc->p = NAN;
	return vc;
}

/* Always checked, whatever the manifest says: a changed node that sees
 * the cluster down or slots unserved fails the interval. */
static void check_cluster_state(const struct hf_judge_input *in, struct findings *f,
				struct hf_verdict *v)
{
	size_t i;

	for (i = 0; i < in->nnodes; i++) {
		const struct hf_judge_node *nd = &in->nodes[i];
		struct hf_verdict_check *vc;

		if (!nd->changed || !nd->cluster_state || !nd->cluster_state[0] ||
		    (!strcmp(nd->cluster_state, "ok") && !nd->slots_fail))
			continue;
		hf_buf_printf(&f->fails, "%scluster_state %s with %d slot(s) on failed nodes, "
			      "seen by %s", f->fails.len ? "; " : "", nd->cluster_state,
			      nd->slots_fail, nd->name);
		vc = next_check(v, "cluster_state");
		if (vc) {
			vc->outcome = HF_CHECK_FAIL;
			vc->value = nd->slots_fail;
			snprintf(vc->rule, sizeof(vc->rule), "ok, no slot on failed nodes");
			snprintf(vc->why, sizeof(vc->why), "%s with %d slot(s) on failed nodes, "
				 "seen by %s", nd->cluster_state, nd->slots_fail, nd->name);
		}
	}
}

/* The reader checks' reads of the interval: one failed read fails it. */
static void check_readers(const struct hf_judge_input *in, struct findings *f,
			  struct hf_verdict *v)
{
	int failed = in->reader_fail && in->reader_fail[0];
	struct hf_verdict_check *vc;

	if (!in->reads && !failed)
		return;
	vc = next_check(v, "reader");
	if (vc) {
		vc->outcome = failed ? HF_CHECK_FAIL : HF_CHECK_PASS;
		vc->value = (double)in->reads;
		snprintf(vc->rule, sizeof(vc->rule), "every read succeeds");
		if (failed)
			snprintf(vc->why, sizeof(vc->why), "%s", in->reader_fail);
	}
	if (failed)
		hf_buf_printf(&f->fails, "%s%s", f->fails.len ? "; " : "", in->reader_fail);
	else
		hf_buf_printf(&f->seen, "%s%zu key(s) read", f->seen.len ? ", " : "", in->reads);
}

/* The manifest's checks over the interval's values: each value into
 * 'f->seen', each failure into 'f->fails'; a traffic check without a
 * value where the traffic went away sets 'f->unjudged'. */
static void check_metrics(const struct hf_judge_input *in, struct findings *f,
			  struct hf_verdict *v)
{
	size_t i;
	int starved;

	/* No call where the baseline had plenty, while the rest of the cluster
	 * is still served: the traffic left the changed nodes, and what it
	 * would have shown cannot be seen. A workload that stopped everywhere,
	 * or nodes nobody calls, are not that. */
	starved = !in->calls && in->other_calls && in->expected_calls >= HF_JUDGE_EXPECT_CALLS;
	for (i = 0; i < in->nchecks; i++) {
		const struct hf_check *k = &in->checks[i];
		int m = hf_judge_check_metric(k);
		const char *name = k->promql ? k->metric : hf_judge_metric_name(m);
		const char *unseen = is_metric(m) ? in->unseen[m] : NULL;
		char a[160], why[384] = "";
		struct hf_verdict_check spare, *vc;
		double x;

		if (m < 0)
			continue;
		if (m < HF_METRIC_COUNT)
			f->native = 1;
		vc = next_check(v, name);
		if (!vc)
			vc = &spare;
		x = value_of(m, in->value[m], in->calls);
		vc->value = x;
		vc->u = vc->p = NAN;
		hf_judge_limit(k, m, in->baseline, vc);
		hf_judge_format(m, x, a, sizeof(a));
		if (!isnan(x) && in->where[m] && in->where[m][0])
			snprintf(a + strlen(a), sizeof(a) - strlen(a), " on %s", in->where[m]);
		hf_buf_printf(&f->seen, "%s%s %s", f->seen.len ? ", " : "", name, a);
		/* A ratio without a baseline is not judged: say so, lest a pass
		 * read as if it had been. */
		if (k->has_ratio && !isnan(x) && (!in->baseline || isnan(in->baseline[m])))
			hf_buf_puts(&f->seen, " (no baseline)");
		/* A node the metric is read from outside for, without a value:
		 * what the check would have seen there is unknown. */
		if ((row(m)->flags & HF_METRIC_REQUIRED) && unseen && unseen[0])
			hf_buf_printf(&f->blind, "%s%s: nothing for %s", f->blind.len ? "; " : "",
				      name, unseen);
		if (isnan(x)) {
			/* No evidence: this check neither passes nor fails. */
			if (starved && (row(m)->flags & HF_METRIC_TRAFFIC))
				f->unjudged = 1;
			vc->outcome = HF_CHECK_NA;
			continue;
		}
		vc->outcome = HF_CHECK_PASS;
		if (check_fails(in, k, m, x, why, sizeof(why), vc)) {
			vc->outcome = HF_CHECK_FAIL;
			snprintf(vc->why, sizeof(vc->why), "%s", why);
			hf_buf_printf(&f->fails, "%s%s %s %s", f->fails.len ? "; " : "",
				      name, a, why);
		}
	}
}

void hf_judge_verdict(const struct hf_judge_input *in, struct hf_verdict *v)
{
	struct findings f = {0};
	struct hf_buf names = {0};
	size_t i, nchanged = 0;
	char calls[48] = "";

	v->nchecks = 0;
	for (i = 0; i < in->nnodes; i++)
		if (in->nodes[i].changed)
			hf_buf_printf(&names, "%s%s", names.len ? ", " : "", in->nodes[i].name);
	snprintf(v->nodes, sizeof(v->nodes), "%s", names.s ? names.s : "");
	if (names.len >= sizeof(v->nodes))
		memcpy(v->nodes + sizeof(v->nodes) - 4, "...", 4);
	hf_buf_release(&names);
	if (unobservable(in, v))
		return;
	for (i = 0; i < in->nnodes; i++)
		if (in->nodes[i].changed)
			nchanged++;
	check_cluster_state(in, &f, v);
	check_metrics(in, &f, v);
	check_readers(in, &f, v);
	/* Calls are what the guard's own metrics count; with PromQL checks
	 * alone (an engine that is not Redis) there are none. */
	if (f.native || !in->nchecks)
		snprintf(calls, sizeof(calls), ", %llu calls", in->calls);
	if (f.fails.len) {
		v->kind = HF_VERDICT_FAIL;
		snprintf(v->explain, sizeof(v->explain), "fail on %zu changed node(s)%s: %s",
			 nchanged, calls, f.fails.s);
	} else if (f.blind.len) {
		v->kind = HF_VERDICT_UNOBSERVABLE;
		snprintf(v->explain, sizeof(v->explain), "unobservable: %s", f.blind.s);
	} else if (f.unjudged) {
		v->kind = HF_VERDICT_UNOBSERVABLE;
		snprintf(v->explain, sizeof(v->explain), "unobservable: no calls on %zu changed "
			 "node(s), where the baseline had %.1f per interval and the other nodes had "
			 "%llu: %s", nchanged, in->expected_calls, in->other_calls, f.seen.s);
	} else {
		v->kind = HF_VERDICT_PASS;
		snprintf(v->explain, sizeof(v->explain), "pass on %zu changed node(s)%s: %s",
			 nchanged, calls, f.seen.s ? f.seen.s : "");
	}
	hf_buf_release(&f.blind);
	hf_buf_release(&f.fails);
	hf_buf_release(&f.seen);
}
