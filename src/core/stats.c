/* Statistics for the guard: latency histogram, Redis bucket percentiles,
 * Mann-Whitney U test, rates. Pure arithmetic; the samplers that feed it and
 * the checks that read it live elsewhere. */
#include "core/stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* ------------------------------------------------------------------------
 * Latency histogram
 * ------------------------------------------------------------------------ */

static unsigned floor_log2(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return 63u - (unsigned)__builtin_clzll(v);
#else
	unsigned e = 0;

	while (v >>= 1)
		e++;
	return e;
#endif
}

/* Index of the bucket holding 'v' (already clamped to HF_HIST_MAX_US). */
static size_t bucket_of(uint64_t v)
{
	unsigned shift;

	if (v < HF_HIST_SUB)
		return (size_t)v;
	shift = floor_log2(v) - HF_HIST_SUB_BITS;
	return HF_HIST_SUB + (size_t)shift * HF_HIST_SUB + (size_t)((v >> shift) - HF_HIST_SUB);
}

/* Lowest value of bucket 'i', and its width in 'width'. */
static uint64_t bucket_low(size_t i, uint64_t *width)
{
	size_t k, shift;

	if (i < HF_HIST_SUB) {
		*width = 1;
		return (uint64_t)i;
	}
	k = i - HF_HIST_SUB;
	shift = k / HF_HIST_SUB;
	*width = UINT64_C(1) << shift;
	return ((uint64_t)HF_HIST_SUB + k % HF_HIST_SUB) << shift;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void hf_hist_init(struct hf_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hf_hist_reset(struct hf_hist *h)
{
	hf_hist_init(h);
}

void hf_hist_record(struct hf_hist *h, uint64_t value_us, uint64_t count)
{
	uint64_t v = value_us;

	if (count == 0)
		return;
	if (v > HF_HIST_MAX_US) {
		v = HF_HIST_MAX_US;
		h->clamped = add_sat(h->clamped, count);
	}
	if (h->total == 0 || v < h->min)
		h->min = v;
	if (h->total == 0 || v > h->max)
		h->max = v;
	h->total = add_sat(h->total, count);
	h->buckets[bucket_of(v)] = add_sat(h->buckets[bucket_of(v)], count);
	if (v != 0 && count > UINT64_MAX / v)
		h->sum = UINT64_MAX;
	else
		h->sum = add_sat(h->sum, v * count);
}

void hf_hist_merge(struct hf_hist *dst, const struct hf_hist *src)
{
	size_t i;

	if (src->total == 0)
		return;
	if (dst->total == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->total == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->total = add_sat(dst->total, src->total);
	dst->clamped = add_sat(dst->clamped, src->clamped);
	dst->sum = add_sat(dst->sum, src->sum);
	for (i = 0; i < HF_HIST_NBUCKETS; i++)
		dst->buckets[i] = add_sat(dst->buckets[i], src->buckets[i]);
}

uint64_t hf_hist_count(const struct hf_hist *h)
{
	return h->total;
}

uint64_t hf_hist_min(const struct hf_hist *h)
{
	return h->min;
}

uint64_t hf_hist_max(const struct hf_hist *h)
{
	return h->max;
}

double hf_hist_mean(const struct hf_hist *h)
{
	if (h->total == 0)
		return NAN;
	return (double)h->sum / (double)h->total;
}

double hf_hist_percentile(const struct hf_hist *h, double p)
{
	uint64_t rank, seen = 0, width, low;
	double r, mid;
	size_t i;

	if (h->total == 0 || !(p > 0.0 && p <= 100.0))
		return NAN;
	/* p/100 * total is rarely an exact binary number (99.9 is not); the
	 * relative slack keeps an integral rank like 9990 from becoming 9991. */
	r = p / 100.0 * (double)h->total;
	r -= r * 1e-12;
	rank = r <= 1.0 ? 1 : (uint64_t)ceil(r);
	if (rank >= h->total)
		return (double)h->max;
	for (i = 0; i < HF_HIST_NBUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	if (i == HF_HIST_NBUCKETS)   /* only if counts saturated */
		return (double)h->max;
	low = bucket_low(i, &width);
	mid = (double)low + (double)(width - 1) / 2.0;
	/* The bucket holding min or max is only partly used; the exact
	 * extremes tighten the estimate there. */
	if (mid < (double)h->min)
		mid = (double)h->min;
	if (mid > (double)h->max)
		mid = (double)h->max;
	return mid;
}

/* ------------------------------------------------------------------------
 * Redis LATENCY HISTOGRAM buckets
 * ------------------------------------------------------------------------ */

void hf_rh_init(struct hf_rh *h, unsigned flags)
{
	memset(h, 0, sizeof(*h));
	h->flags = flags;
}

int hf_rh_add(struct hf_rh *h, uint64_t bound_us, uint64_t cumulative, struct hf_err *err)
{
	if (h->n == HF_RH_MAX)
		return hf_err_set(err, HF_EINVAL, "latency histogram: more than %d buckets", HF_RH_MAX);
	if (h->n > 0 && bound_us <= h->b[h->n - 1].bound_us)
		return hf_err_set(err, HF_EINVAL,
				  "latency histogram: bucket '%" PRIu64 "' does not follow '%" PRIu64 "'",
				  bound_us, h->b[h->n - 1].bound_us);
	if (h->n > 0 && cumulative < h->b[h->n - 1].cumulative)
		return hf_err_set(err, HF_EINVAL,
				  "latency histogram: bucket '%" PRIu64 "': cumulative count %" PRIu64
				  " below the previous %" PRIu64,
				  bound_us, cumulative, h->b[h->n - 1].cumulative);
	h->b[h->n].bound_us = bound_us;
	h->b[h->n].cumulative = cumulative;
	h->n++;
	return 0;
}

uint64_t hf_rh_count(const struct hf_rh *h)
{
	return h->n ? h->b[h->n - 1].cumulative : 0;
}

int hf_rh_delta(const struct hf_rh *newer, const struct hf_rh *older,
		struct hf_rh *out, struct hf_err *err)
{
	struct hf_rh d;
	uint64_t cn = 0, co = 0, prev_cn = 0, prev_co = 0;
	size_t i = 0, j = 0;

	hf_rh_init(&d, newer->flags);
	/* Walk the union of the bounds; a list without a bound keeps the count
	 * of its previous bound there, as Redis omits unchanged buckets. */
	while (i < newer->n || j < older->n) {
		uint64_t bound;

		if (j == older->n || (i < newer->n && newer->b[i].bound_us < older->b[j].bound_us)) {
			bound = newer->b[i].bound_us;
		} else {
			bound = older->b[j].bound_us;
		}
		if (i < newer->n && newer->b[i].bound_us == bound)
			cn = newer->b[i++].cumulative;
		if (j < older->n && older->b[j].bound_us == bound)
			co = older->b[j++].cumulative;
		if (d.n == HF_RH_MAX)
			return hf_err_set(err, HF_EINVAL,
					  "latency histogram delta: more than %d distinct buckets", HF_RH_MAX);
		/* A bucket cannot lose calls unless the counters restarted;
		 * the cumulative counts may still grow after a reset. */
		if (cn < prev_cn || co < prev_co || cn - prev_cn < co - prev_co) {
			*out = *newer;
			return 1;
		}
		d.b[d.n].bound_us = bound;
		d.b[d.n].cumulative = cn - co;
		d.n++;
		prev_cn = cn;
		prev_co = co;
	}
	*out = d;
	return 0;
}

double hf_rh_percentile(const struct hf_rh *h, double p)
{
	uint64_t total = hf_rh_count(h);
	double r, lower, upper, below, in;
	size_t i;

	if (total == 0 || !(p > 0.0 && p <= 100.0))
		return NAN;
	r = p / 100.0 * (double)total;
	for (i = 0; i < h->n; i++)
		if ((double)h->b[i].cumulative >= r)
			break;
	if (i == h->n)   /* rounding at p = 100 */
		i = h->n - 1;
	/* Skip empty buckets: r > 0, so the first bucket reaching it is never
	 * empty, but rounding above could land on one. */
	while (i > 0 && h->b[i].cumulative == h->b[i - 1].cumulative)
		i--;
	upper = (double)h->b[i].bound_us;
	lower = i ? (double)h->b[i - 1].bound_us : 0.0;
	if ((h->flags & HF_RH_POW2) && lower < upper / 2.0)
		lower = upper / 2.0;
	below = i ? (double)h->b[i - 1].cumulative : 0.0;
	in = (double)h->b[i].cumulative - below;
	if (r < below)
		r = below;
	return lower + (upper - lower) * (r - below) / in;
}

/* ------------------------------------------------------------------------
 * Mann-Whitney U test
 * ------------------------------------------------------------------------ */

struct obs {
	double v;
	int in_x;
};

static int obs_cmp(const void *a, const void *b)
{
	double va = ((const struct obs *)a)->v, vb = ((const struct obs *)b)->v;

	return (va > vb) - (va < vb);
}

/* The sum of the ranks of 'x' in 'x' and 'y' pooled, tied values sharing
 * their average rank; '*ties' = the sum of t^3 - t over the groups of t
 * tied values, for the variance's tie correction. */
static double rank_sum(const double *x, size_t n1, const double *y, size_t n2, double *ties)
{
	struct obs *o;
	size_t n = n1 + n2, i, j;
	double r1 = 0.0;

	*ties = 0.0;
	o = hf_xmalloc(n * sizeof(*o));
	for (i = 0; i < n1; i++)
		o[i] = (struct obs){ x[i], 1 };
	for (i = 0; i < n2; i++)
		o[n1 + i] = (struct obs){ y[i], 0 };
	qsort(o, n, sizeof(*o), obs_cmp);
	for (i = 0; i < n; i = j) {
		double t, avg;
		size_t k;

		for (j = i + 1; j < n && o[j].v == o[i].v; j++)
			;
		t = (double)(j - i);
		avg = ((double)(i + 1) + (double)j) / 2.0;   /* ranks i+1 .. j */
		for (k = i; k < j; k++)
			if (o[k].in_x)
				r1 += avg;
		*ties += t * t * t - t;
	}
	free(o);
	return r1;
}

/* Probability under the null hypothesis that U <= 'u' (lower tail) and that
 * U >= 'u' (upper tail), for samples of 'n1' and 'n2' values without ties.
 *
 * f(i, j, u), the number of orderings of i x's and j y's in which u pairs
 * have x > y, obeys f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u): the largest
 * value is either an x, above all j y's, or a y, above no x. Counts stay
 * below C(40, 20) < 2^53, so doubles hold them exactly. */
static void exact_tails(size_t n1, size_t n2, size_t u, double *lower, double *upper)
{
	size_t umax = n1 * n2, stride = umax + 1, i, j, k;
	double *prev = hf_xcalloc((n2 + 1) * stride, sizeof(double));
	double *cur = hf_xcalloc((n2 + 1) * stride, sizeof(double));
	double *t, all = 0.0, lo = 0.0, hi = 0.0;

	for (j = 0; j <= n2; j++)
		prev[j * stride] = 1.0;   /* i = 0: U is always 0 */
	for (i = 1; i <= n1; i++) {
		memset(cur, 0, (n2 + 1) * stride * sizeof(double));
		cur[0] = 1.0;             /* j = 0: U is always 0 */
		for (j = 1; j <= n2; j++)
			for (k = 0; k <= i * j; k++)
				cur[j * stride + k] = (k >= j ? prev[j * stride + k - j] : 0.0) +
						      cur[(j - 1) * stride + k];
		t = prev;
		prev = cur;
		cur = t;
	}
	for (k = 0; k <= umax; k++) {
		double f = prev[n2 * stride + k];

		all += f;
		if (k <= u)
			lo += f;
		if (k >= u)
			hi += f;
	}
	*lower = lo / all;
	*upper = hi / all;
	free(prev);
	free(cur);
}

static double norm_upper(double z)   /* P(Z >= z) */
{
	return 0.5 * erfc(z / sqrt(2.0));
}

int hf_mw_test(const double *x, size_t n1, const double *y, size_t n2,
	       enum hf_mw_alt alt, struct hf_mw *out, struct hf_err *err)
{
	struct hf_mw r = {0};
	size_t n = n1 + n2, i;
	double ties, nn = (double)n1 * (double)n2, mean, var, diff, corr;

	if (n1 == 0 || n2 == 0)
		return hf_err_set(err, HF_EINVAL, "mann-whitney: empty sample (%zu and %zu values)", n1, n2);
	for (i = 0; i < n1; i++)
		if (isnan(x[i]))
			return hf_err_set(err, HF_EINVAL, "mann-whitney: value %zu of 'x' is not a number", i);
	for (i = 0; i < n2; i++)
		if (isnan(y[i]))
			return hf_err_set(err, HF_EINVAL, "mann-whitney: value %zu of 'y' is not a number", i);

	r.u1 = rank_sum(x, n1, y, n2, &ties) - (double)n1 * ((double)n1 + 1.0) / 2.0;
	r.u2 = nn - r.u1;
	r.effect = r.u1 / nn;
	r.rank_biserial = 2.0 * r.effect - 1.0;

	mean = nn / 2.0;
	var = nn / 12.0 * (((double)n + 1.0) - ties / ((double)n * ((double)n - 1.0)));
	diff = r.u1 - mean;
	switch (alt) {
	case HF_MW_GREATER:
		corr = 0.5;
		break;
	case HF_MW_LESS:
		corr = -0.5;
		break;
	default:
		corr = diff > 0 ? 0.5 : diff < 0 ? -0.5 : 0.0;
		break;
	}
	r.z = var > 0.0 ? (diff - corr) / sqrt(var) : 0.0;

	if (ties == 0.0 && n1 <= HF_MW_EXACT_MAX && n2 <= HF_MW_EXACT_MAX) {
		double lo, hi;

		exact_tails(n1, n2, (size_t)llround(r.u1), &lo, &hi);
		r.method = HF_MW_EXACT;
		r.p = alt == HF_MW_GREATER ? hi : alt == HF_MW_LESS ? lo : 2.0 * fmin(lo, hi);
	} else {
		r.method = HF_MW_NORMAL;
		if (var <= 0.0)
			r.p = 1.0;   /* every value tied: no evidence either way */
		else if (alt == HF_MW_GREATER)
			r.p = norm_upper(r.z);
		else if (alt == HF_MW_LESS)
			r.p = norm_upper(-r.z);
		else
			r.p = 2.0 * norm_upper(fabs(r.z));
	}
	if (r.p > 1.0)
		r.p = 1.0;
	*out = r;
	return 0;
}

/* ------------------------------------------------------------------------
 * Rates
 * ------------------------------------------------------------------------ */

double hf_rate_error(uint64_t failed, uint64_t calls)
{
	return calls ? (double)failed / (double)calls : 0.0;
}

double hf_rate_ratio(double value, double baseline)
{
	if (isnan(value) || isnan(baseline))
		return NAN;
	if (baseline == 0.0) {
		if (value > 0.0)
			return INFINITY;
		if (value < 0.0)
			return -INFINITY;
		return 1.0;
	}
	return value / baseline;
}

double hf_estimate_total(uint64_t found, double share, double *lo, double *hi)
{
	double est, half;

	if (!(share > 0 && share <= 1)) {
		*lo = *hi = NAN;
		return NAN;
	}
	est = (double)found / share;
	half = 1.959964 * sqrt((double)found * (1 - share)) / share;
	*lo = est - half < (double)found ? (double)found : est - half;
	*hi = est + half;
	if (!found && share < 1)
		*hi = 2.995732 / share;   /* none seen: -ln(0.05) / share ("rule of three") */
	return est;
}
