/* Statistics for the guard: a latency histogram, percentiles from Redis
 * LATENCY HISTOGRAM buckets, the Mann-Whitney U test and rate helpers.
 * Pure arithmetic: no I/O, no clock, no allocation while recording. */
#ifndef HF_CORE_STATS_H
#define HF_CORE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ------------------------------------------------------------------------
 * Latency histogram
 *
 * Log-linear buckets over microseconds. Values below 2^HF_HIST_SUB_BITS (128)
 * have a bucket each and are exact. Above that, every power of two [2^e,
 * 2^(e+1)) is cut into 128 equal sub-buckets of width 2^(e-7), so a bucket is
 * never wider than 1/128 of its lower edge.
 *
 * Error bound: hf_hist_percentile() returns the middle of the bucket holding
 * the requested rank (clamped to the exact min and max), so the result differs
 * from the true order statistic by less than 1/256 of it: relative error
 * < 0.3907 %, and none at all below 256 us.
 *
 * The range is 0 .. HF_HIST_MAX_US (2^32 - 1 us, about 71 minutes). Larger
 * values are clamped to HF_HIST_MAX_US everywhere (bucket, min, max, mean)
 * and counted in 'clamped', so a saturated histogram can be told apart.
 * ------------------------------------------------------------------------ */

#define HF_HIST_SUB_BITS 7
#define HF_HIST_SUB (1u << HF_HIST_SUB_BITS)
#define HF_HIST_MAX_BITS 32
#define HF_HIST_MAX_US ((UINT64_C(1) << HF_HIST_MAX_BITS) - 1)
#define HF_HIST_NBUCKETS (HF_HIST_SUB + (HF_HIST_MAX_BITS - HF_HIST_SUB_BITS) * HF_HIST_SUB)

struct hf_hist {
	uint64_t total;                       /* recorded values */
	uint64_t clamped;                     /* of which were above HF_HIST_MAX_US */
	uint64_t min, max;                    /* exact, after clamping; 0 when empty */
	uint64_t sum;                         /* saturates at UINT64_MAX */
	uint64_t buckets[HF_HIST_NBUCKETS];   /* about 26 KiB */
};

/* Make 'h' an empty histogram. No allocation: there is nothing to release. */
void hf_hist_init(struct hf_hist *h);

/* Empty 'h' again; the same as hf_hist_init(). */
void hf_hist_reset(struct hf_hist *h);

/* Record 'count' occurrences of the latency 'value_us'. A 'count' of 0 is a
 * no-op. Never allocates, never fails. */
void hf_hist_record(struct hf_hist *h, uint64_t value_us, uint64_t count);

/* Add every value recorded in 'src' to 'dst'. 'src' is not changed. */
void hf_hist_merge(struct hf_hist *dst, const struct hf_hist *src);

uint64_t hf_hist_count(const struct hf_hist *h);
uint64_t hf_hist_min(const struct hf_hist *h);   /* 0 when empty */
uint64_t hf_hist_max(const struct hf_hist *h);   /* 0 when empty */

/* Arithmetic mean, exact while the sum of all values fits in 64 bits.
 * NAN when the histogram is empty. */
double hf_hist_mean(const struct hf_hist *h);

/* The value at percentile 'p' (0 < p <= 100): the order statistic of rank
 * ceil(p/100 * count), within the error bound above; p = 100 gives the
 * exact max. NAN when 'h' is empty or 'p' is outside (0, 100]: the guard
 * must see "nothing to measure" as unobservable, never as a pass. */
double hf_hist_percentile(const struct hf_hist *h, double p);

/* ------------------------------------------------------------------------
 * Redis LATENCY HISTOGRAM buckets
 *
 * Redis 7 reports per command a list of (bound_us, cumulative) pairs: the
 * number of calls since the last reset whose latency was <= bound_us. Bounds
 * are (roughly) powers of two, and Redis leaves out every bucket whose
 * cumulative count equals the previous one, so a list is sparse.
 *
 * Interpolation rule, used by hf_rh_percentile(): the bucket of pair i spans
 * (lower_i, bound_i], where lower_i is the previous bound in the list, or 0
 * for the first pair. With HF_RH_POW2 in 'flags', lower_i is raised to
 * bound_i / 2 when the previous bound is lower than that: a bucket Redis left
 * out was empty, so the calls of bucket i cannot lie below half its bound.
 * Inside a bucket, calls are taken as spread evenly: the rank r = p/100 *
 * count falls in the first bucket whose cumulative count is >= r, and the
 * result is lower_i + (bound_i - lower_i) * (r - cum_{i-1}) / (cum_i -
 * cum_{i-1}). The error is therefore bounded by the width of that bucket.
 * ------------------------------------------------------------------------ */

#define HF_RH_MAX 64

enum hf_rh_flags {
	HF_RH_POW2 = 1 << 0,   /* buckets are powers of two wide (Redis output) */
};

struct hf_rh_bucket {
	uint64_t bound_us;     /* upper bound, inclusive */
	uint64_t cumulative;   /* calls with latency <= bound_us */
};

struct hf_rh {
	unsigned flags;                         /* enum hf_rh_flags */
	size_t n;
	struct hf_rh_bucket b[HF_RH_MAX];       /* bounds strictly increasing */
};

/* Make 'h' an empty histogram with 'flags' (enum hf_rh_flags). */
void hf_rh_init(struct hf_rh *h, unsigned flags);

/* Append the pair ('bound_us', 'cumulative'), as read from Redis in order.
 *
 * Returns 0, or HF_EINVAL with 'err' filled (and 'h' unchanged) when the
 * bound does not increase, the cumulative count decreases or 'h' is full. */
int hf_rh_add(struct hf_rh *h, uint64_t bound_us, uint64_t cumulative, struct hf_err *err);

/* Total calls: the cumulative count of the last bucket, 0 when empty. */
uint64_t hf_rh_count(const struct hf_rh *h);

/* The histogram of the calls made between the samples 'older' and 'newer'.
 *
 * Cumulative counts are evaluated on the union of both lists of bounds (a
 * bound missing from a list holds the count of the previous bound there, as
 * Redis only omits unchanged buckets) and subtracted. When any bucket holds
 * fewer calls in 'newer' than in 'older' the counters were reset (CONFIG
 * RESETSTAT, a restart), and 'out' is 'newer' as is: everything it counts
 * happened after the reset. 'out' takes the flags of 'newer' and may be the
 * same object as 'newer' or 'older'.
 *
 * Returns 1 when a reset was detected, 0 otherwise, or HF_EINVAL with 'err'
 * filled and 'out' untouched when the union has more than HF_RH_MAX bounds. */
int hf_rh_delta(const struct hf_rh *newer, const struct hf_rh *older,
		struct hf_rh *out, /* OUT: calls between the two samples */
		struct hf_err *err);

/* The latency at percentile 'p' (0 < p <= 100) by the interpolation rule
 * above. NAN when 'h' holds no calls or 'p' is outside (0, 100]. */
double hf_rh_percentile(const struct hf_rh *h, double p);

/* ------------------------------------------------------------------------
 * Mann-Whitney U test
 * ------------------------------------------------------------------------ */

enum hf_mw_alt {
	HF_MW_TWO_SIDED,   /* x and y differ in either direction */
	HF_MW_GREATER,     /* x tends to be greater than y (canary worse) */
	HF_MW_LESS,        /* x tends to be less than y */
};

enum hf_mw_method {
	HF_MW_EXACT,       /* null distribution enumerated */
	HF_MW_NORMAL,      /* normal approximation, tie and continuity corrected */
};

/* Up to this many values per sample, without ties, the p-value is exact. */
#define HF_MW_EXACT_MAX 20

struct hf_mw {
	double u1;              /* pairs (xi, yj) with xi > yj, ties count 1/2 */
	double u2;              /* n1 * n2 - u1 */
	double z;               /* normal statistic, corrected, sign of u1 - mean */
	double p;               /* p-value for the alternative asked */
	double effect;          /* u1 / (n1 n2) = P(X > Y) + P(X = Y) / 2 */
	double rank_biserial;   /* 2 * effect - 1, in [-1, 1] */
	enum hf_mw_method method;
};

/* Compare the independent samples 'x' (n1 values) and 'y' (n2 values).
 *
 * U1 = R1 - n1 (n1 + 1) / 2 with R1 the sum of the ranks of 'x' in the pooled
 * sample, tied values taking the average of their ranks. The p-value is exact
 * when there are no ties and n1, n2 <= HF_MW_EXACT_MAX: the null distribution
 * of U is counted by dynamic programming; the two-sided p-value is twice the
 * smaller tail, at most 1. Otherwise it comes from the normal approximation
 * with mean n1 n2 / 2, variance n1 n2 / 12 * ((N + 1) - sum(t^3 - t) / (N (N -
 * 1))) over groups of t tied values, and a continuity correction of 1/2
 * towards the mean; when every value is tied the variance is 0 and p = 1.
 * 'z' is filled in both methods.
 *
 * Returns 0, or HF_EINVAL with 'err' filled and 'out' untouched when a sample
 * is empty or holds a NAN. */
int hf_mw_test(const double *x, size_t n1, const double *y, size_t n2,
	       enum hf_mw_alt alt,
	       struct hf_mw *out, /* OUT: statistics and p-value */
	       struct hf_err *err);

/* ------------------------------------------------------------------------
 * Rates
 * ------------------------------------------------------------------------ */

/* failed / calls, and 0 when there were no calls. */
double hf_rate_error(uint64_t failed, uint64_t calls);

/* value / baseline, for checks such as max_ratio_to_baseline. A zero
 * baseline is common (no errors before the rollout), so: +INFINITY when the
 * baseline is 0 and the value > 0 (any error is infinitely worse than none),
 * 1 when both are 0 (no change), -INFINITY when the baseline is 0 and the
 * value < 0. NAN in, NAN out. */
double hf_rate_ratio(double value, double baseline);

/* ------------------------------------------------------------------------
 * Estimates from a sample
 * ------------------------------------------------------------------------ */

/* 'found' items seen in a share 'share' (0 < share <= 1) of a population,
 * each item being in the sample independently with that probability (SCAN
 * visits hash buckets in an order unrelated to the keys): the estimated
 * total found / share, and a 95 % interval [*lo, *hi] from the normal
 * approximation (standard error sqrt(found * (1 - share)) / share; *lo
 * never below 'found'; with none found, *hi = -ln(0.05) / share, the
 * Poisson bound). Returns the estimate; NAN when share is not in (0, 1]. */
double hf_estimate_total(uint64_t found, double share, double *lo, double *hi);

#endif
