/* Unit tests of src/core/stats.c. Every expected value is worked out by hand
 * (the arithmetic is in the comments) or taken from a published example,
 * never read back from the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "core/stats.h"

/* cmocka's assert_float_equal() compares floats; these are doubles. */
#define assert_near(a, b, tol)                                                   \
	do {                                                                     \
		double a_ = (a), b_ = (b), t_ = (tol);                           \
		if (!(fabs(a_ - b_) <= t_))                                      \
			fail_msg("%s = %.17g, expected %.17g within %g", #a, a_, \
				 b_, t_);                                        \
	} while (0)

/* The documented bound of hf_hist_percentile(): below 1/256 of the value. */
#define HIST_REL (1.0 / 256.0)

/* ------------------------------------------------------------------------
 * Latency histogram
 * ------------------------------------------------------------------------ */

static void test_hist_uniform(void **state)
{
	struct hf_hist *h = malloc(sizeof(*h));
	uint64_t v;
	int k;

	(void)state;
	assert_non_null(h);
	hf_hist_init(h);
	for (v = 1; v <= 10000; v++)
		hf_hist_record(h, v, 1);

	assert_int_equal(hf_hist_count(h), 10000);
	assert_int_equal(hf_hist_min(h), 1);
	assert_int_equal(hf_hist_max(h), 10000);
	/* (1 + 10000) / 2 */
	assert_near(hf_hist_mean(h), 5000.5, 1e-9);

	/* Rank ceil(p/100 * 10000) of the values 1..10000 is the value itself. */
	assert_near(hf_hist_percentile(h, 50.0), 5000.0, 5000.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 90.0), 9000.0, 9000.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 99.0), 9900.0, 9900.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 99.9), 9990.0, 9990.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 100.0), 10000.0, 0.0);
	/* Exact below 256 us: rank 1 is 1, rank 200 is 200. */
	assert_near(hf_hist_percentile(h, 0.01), 1.0, 0.0);
	assert_near(hf_hist_percentile(h, 2.0), 200.0, 0.0);

	/* The bound holds at every 0.1 percentile: p = k/10 has rank 10 k. */
	for (k = 1; k <= 1000; k++) {
		double truth = 10.0 * k;

		assert_near(hf_hist_percentile(h, k / 10.0), truth, truth * HIST_REL);
	}
	free(h);
}

static void test_hist_merge(void **state)
{
	struct hf_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *whole = malloc(sizeof(*whole));
	uint64_t v;

	(void)state;
	assert_true(a && b && whole);
	hf_hist_init(a);
	hf_hist_init(b);
	hf_hist_init(whole);
	for (v = 1; v <= 10000; v++) {
		hf_hist_record(v <= 5000 ? a : b, v, 1);
		hf_hist_record(whole, v, 1);
	}
	assert_int_equal(hf_hist_count(a), 5000);
	assert_int_equal(hf_hist_max(a), 5000);
	assert_int_equal(hf_hist_min(b), 5001);

	hf_hist_merge(a, b);
	assert_memory_equal(a, whole, sizeof(*a));
	assert_int_equal(hf_hist_count(a), 10000);
	assert_int_equal(hf_hist_min(a), 1);
	assert_int_equal(hf_hist_max(a), 10000);
	assert_near(hf_hist_mean(a), 5000.5, 1e-9);
	assert_near(hf_hist_percentile(a, 99.0), 9900.0, 9900.0 * HIST_REL);

	/* Merging an empty histogram changes nothing, in either direction. */
	hf_hist_reset(b);
	hf_hist_merge(a, b);
	assert_memory_equal(a, whole, sizeof(*a));
	hf_hist_merge(b, whole);
	assert_memory_equal(b, whole, sizeof(*b));
	free(a);
	free(b);
	free(whole);
}

static void test_hist_counts(void **state)
{
	struct hf_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	hf_hist_init(h);
	/* 99 calls at 1 ms and one at 100 ms: p99 is rank 99 (1000 us), p99.5
	 * is rank ceil(99.5) = 100 (100000 us); mean (99*1000 + 100000) / 100. */
	hf_hist_record(h, 1000, 99);
	hf_hist_record(h, 100000, 1);
	hf_hist_record(h, 777, 0);   /* a count of 0 records nothing */
	assert_int_equal(hf_hist_count(h), 100);
	assert_int_equal(hf_hist_min(h), 1000);
	assert_near(hf_hist_mean(h), 1990.0, 1e-9);
	assert_near(hf_hist_percentile(h, 50.0), 1000.0, 1000.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 99.0), 1000.0, 1000.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 99.5), 100000.0, 100000.0 * HIST_REL);
	assert_near(hf_hist_percentile(h, 100.0), 100000.0, 0.0);
	free(h);
}

static void test_hist_extremes(void **state)
{
	struct hf_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(h);
	hf_hist_init(h);

	/* Empty: nothing to measure is NAN, not 0. */
	assert_int_equal(hf_hist_count(h), 0);
	assert_true(isnan(hf_hist_percentile(h, 50.0)));
	assert_true(isnan(hf_hist_mean(h)));

	/* 0 us (a sub-microsecond call) is a value like any other. */
	hf_hist_record(h, 0, 3);
	assert_int_equal(hf_hist_min(h), 0);
	assert_int_equal(hf_hist_max(h), 0);
	assert_near(hf_hist_percentile(h, 50.0), 0.0, 0.0);
	assert_near(hf_hist_mean(h), 0.0, 0.0);

	/* p outside (0, 100] is refused. */
	assert_true(isnan(hf_hist_percentile(h, 0.0)));
	assert_true(isnan(hf_hist_percentile(h, -1.0)));
	assert_true(isnan(hf_hist_percentile(h, 100.5)));
	assert_true(isnan(hf_hist_percentile(h, NAN)));

	/* 1 us is exact. */
	hf_hist_reset(h);
	hf_hist_record(h, 1, 1);
	assert_near(hf_hist_percentile(h, 50.0), 1.0, 0.0);

	/* 60 s is in range: not clamped, within the bound. */
	hf_hist_reset(h);
	hf_hist_record(h, 59000000, 1);
	hf_hist_record(h, 60000000, 1);
	assert_int_equal(h->clamped, 0);
	assert_int_equal(hf_hist_max(h), 60000000);
	assert_near(hf_hist_percentile(h, 50.0), 59e6, 59e6 * HIST_REL);
	assert_near(hf_hist_percentile(h, 100.0), 60e6, 0.0);
	assert_near(hf_hist_mean(h), 59.5e6, 1e-6);

	/* 10^12 us (11.6 days) clamps to HF_HIST_MAX_US = 2^32 - 1. */
	hf_hist_record(h, UINT64_C(1000000000000), 1);
	assert_int_equal(h->clamped, 1);
	assert_int_equal(hf_hist_count(h), 3);
	assert_int_equal(hf_hist_max(h), UINT64_C(4294967295));
	assert_near(hf_hist_percentile(h, 100.0), 4294967295.0, 0.0);
	/* (59e6 + 60e6 + 4294967295) / 3 */
	assert_near(hf_hist_mean(h), (119e6 + 4294967295.0) / 3.0, 1e-3);
	hf_hist_record(h, UINT64_MAX, 2);
	assert_int_equal(h->clamped, 3);
	assert_int_equal(hf_hist_max(h), UINT64_C(4294967295));
	free(h);
}

/* ------------------------------------------------------------------------
 * Redis LATENCY HISTOGRAM buckets
 * ------------------------------------------------------------------------ */

static void rh_fill(struct hf_rh *h, unsigned flags, const uint64_t (*pairs)[2], size_t n)
{
	struct hf_err err = {0};
	size_t i;

	hf_rh_init(h, flags);
	for (i = 0; i < n; i++)
		assert_int_equal(hf_rh_add(h, pairs[i][0], pairs[i][1], &err), 0);
}

static void test_rh_single_bucket(void **state)
{
	static const uint64_t full[][2] = { { 512, 0 }, { 1024, 100 } };
	static const uint64_t sparse[][2] = { { 1024, 100 } };
	struct hf_rh h;

	(void)state;
	/* 100 calls in (512, 1024]: rank 50 is halfway, 512 + 512 * 50/100. */
	rh_fill(&h, 0, full, 2);
	assert_int_equal(hf_rh_count(&h), 100);
	assert_near(hf_rh_percentile(&h, 50.0), 768.0, 1e-9);
	/* rank 99: 512 + 512 * 0.99 = 1018.88; rank 100 is the bound. */
	assert_near(hf_rh_percentile(&h, 99.0), 1018.88, 1e-9);
	assert_near(hf_rh_percentile(&h, 100.0), 1024.0, 1e-9);

	/* As Redis sends it, without the empty 512 bucket: by the plain rule
	 * the bucket is (0, 1024], so p50 = 512; with HF_RH_POW2 its lower
	 * edge is 1024 / 2 and p50 is 768 again. */
	rh_fill(&h, 0, sparse, 1);
	assert_near(hf_rh_percentile(&h, 50.0), 512.0, 1e-9);
	rh_fill(&h, HF_RH_POW2, sparse, 1);
	assert_near(hf_rh_percentile(&h, 50.0), 768.0, 1e-9);
}

static void test_rh_mixed(void **state)
{
	/* Buckets (0,8]: 10 calls, (8,16]: 30, (16,32]: 50, (32,64]: 10. */
	static const uint64_t pairs[][2] = { { 8, 10 }, { 16, 40 }, { 32, 90 }, { 64, 100 } };
	struct hf_rh h;

	(void)state;
	rh_fill(&h, 0, pairs, 4);
	assert_int_equal(hf_rh_count(&h), 100);
	/* p5:  rank 5  in (0,8]:   0 + 8 * (5 - 0) / 10      = 4
	 * p10: rank 10 in (0,8]:   0 + 8 * 10 / 10           = 8
	 * p25: rank 25 in (8,16]:  8 + 8 * (25 - 10) / 30   = 12
	 * p50: rank 50 in (16,32]: 16 + 16 * (50 - 40) / 50 = 19.2
	 * p95: rank 95 in (32,64]: 32 + 32 * (95 - 90) / 10 = 48
	 * p99: rank 99 in (32,64]: 32 + 32 * 9 / 10         = 60.8 */
	assert_near(hf_rh_percentile(&h, 5.0), 4.0, 1e-9);
	assert_near(hf_rh_percentile(&h, 10.0), 8.0, 1e-9);
	assert_near(hf_rh_percentile(&h, 25.0), 12.0, 1e-9);
	assert_near(hf_rh_percentile(&h, 50.0), 19.2, 1e-9);
	assert_near(hf_rh_percentile(&h, 95.0), 48.0, 1e-9);
	assert_near(hf_rh_percentile(&h, 99.0), 60.8, 1e-9);
	assert_near(hf_rh_percentile(&h, 100.0), 64.0, 1e-9);
	/* With HF_RH_POW2 the first bucket is (4,8]: p5 = 4 + 4 * 5/10 = 6.
	 * The other buckets already start at half their bound. */
	h.flags = HF_RH_POW2;
	assert_near(hf_rh_percentile(&h, 5.0), 6.0, 1e-9);
	assert_near(hf_rh_percentile(&h, 50.0), 19.2, 1e-9);

	/* Shaped like Redis output: {1: 99583, 2: 99852, 4: 99914, 8: 99940,
	 * 16: 99968, 33: 100000}.
	 * p50:   rank 50000 in (0,1]: 50000 / 99583           = 0.502094...
	 * p99.9: rank 99900 in (2,4]: 2 + 2 * (99900 - 99852) / 62 = 3.548387...
	 * p99.99: rank 99990 in (16,33]: 16 + 17 * 22 / 32    = 27.6875 */
	{
		static const uint64_t redis[][2] = {
			{ 1, 99583 }, { 2, 99852 }, { 4, 99914 }, { 8, 99940 }, { 16, 99968 }, { 33, 100000 },
		};

		rh_fill(&h, 0, redis, 6);
		assert_near(hf_rh_percentile(&h, 50.0), 50000.0 / 99583.0, 1e-9);
		assert_near(hf_rh_percentile(&h, 99.9), 2.0 + 2.0 * 48.0 / 62.0, 1e-9);
		assert_near(hf_rh_percentile(&h, 99.99), 27.6875, 1e-9);
	}
}

static void test_rh_delta(void **state)
{
	static const uint64_t old_pairs[][2] = { { 4, 10 }, { 8, 30 }, { 16, 40 } };
	static const uint64_t new_pairs[][2] = { { 4, 10 }, { 8, 50 }, { 16, 60 }, { 32, 100 } };
	struct hf_rh older, newer, d;
	struct hf_err err = {0};

	(void)state;
	rh_fill(&older, HF_RH_POW2, old_pairs, 3);
	rh_fill(&newer, HF_RH_POW2, new_pairs, 4);
	/* Per bucket, new - old: (0,4] 10-10 = 0, (4,8] 40-20 = 20,
	 * (8,16] 10-10 = 0, (16,32] 40-0 = 40; cumulative 0, 20, 20, 60. */
	assert_int_equal(hf_rh_delta(&newer, &older, &d, &err), 0);
	assert_int_equal(d.flags, HF_RH_POW2);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.b[0].bound_us, 4);
	assert_int_equal(d.b[0].cumulative, 0);
	assert_int_equal(d.b[1].bound_us, 8);
	assert_int_equal(d.b[1].cumulative, 20);
	assert_int_equal(d.b[2].bound_us, 16);
	assert_int_equal(d.b[2].cumulative, 20);
	assert_int_equal(d.b[3].bound_us, 32);
	assert_int_equal(d.b[3].cumulative, 60);
	assert_int_equal(hf_rh_count(&d), 60);
	/* p50: rank 30 in (16,32] (cumulative 20 -> 60): 16 + 16 * 10/40 = 20. */
	assert_near(hf_rh_percentile(&d, 50.0), 20.0, 1e-9);
	/* p25: rank 15 in (4,8]: 4 + 4 * 15/20 = 7. */
	assert_near(hf_rh_percentile(&d, 25.0), 7.0, 1e-9);

	/* 'out' may alias 'newer'. */
	assert_int_equal(hf_rh_delta(&newer, &older, &newer, &err), 0);
	assert_memory_equal(&newer, &d, sizeof(d));
}

static void test_rh_delta_sparse(void **state)
{
	/* Redis left out unchanged buckets: 'older' has no 4, and its count
	 * there is that of 2. Union {2, 4, 8}: new 5, 8, 20; old 5, 5, 10;
	 * delta 0, 3, 10 (3 calls in (2,4], 7 in (4,8]). */
	static const uint64_t old_pairs[][2] = { { 2, 5 }, { 8, 10 } };
	static const uint64_t new_pairs[][2] = { { 2, 5 }, { 4, 8 }, { 8, 20 } };
	/* Here 'newer' lacks the 8 that 'older' has. Union {4, 8, 16}:
	 * new 10, 10, 15 (its count at 8 is that of 4); old 10, 12, 12. */
	static const uint64_t old2[][2] = { { 4, 10 }, { 8, 12 } };
	static const uint64_t new2[][2] = { { 4, 10 }, { 16, 15 } };
	struct hf_rh older, newer, d;
	struct hf_err err = {0};

	(void)state;
	rh_fill(&older, 0, old_pairs, 2);
	rh_fill(&newer, 0, new_pairs, 3);
	assert_int_equal(hf_rh_delta(&newer, &older, &d, &err), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.b[0].cumulative, 0);
	assert_int_equal(d.b[1].bound_us, 4);
	assert_int_equal(d.b[1].cumulative, 3);
	assert_int_equal(d.b[2].bound_us, 8);
	assert_int_equal(d.b[2].cumulative, 10);
	/* p50: rank 5 in (4,8] (3 -> 10): 4 + 4 * 2/7. */
	assert_near(hf_rh_percentile(&d, 50.0), 4.0 + 8.0 / 7.0, 1e-9);

	rh_fill(&older, 0, old2, 2);
	rh_fill(&newer, 0, new2, 2);
	/* (4,8] holds 0 calls in 'newer' but 2 in 'older': a bucket lost
	 * calls, which only a reset does. */
	assert_int_equal(hf_rh_delta(&newer, &older, &d, &err), 1);
	assert_memory_equal(&d, &newer, sizeof(d));
}

static void test_rh_reset(void **state)
{
	static const uint64_t old_pairs[][2] = { { 4, 100 }, { 8, 200 } };
	static const uint64_t restarted[][2] = { { 4, 3 }, { 8, 5 } };
	/* More calls in total than before, but (0,4] went from 100 to 10. */
	static const uint64_t regrown[][2] = { { 4, 10 }, { 8, 300 } };
	struct hf_rh older, newer, d;
	struct hf_err err = {0};

	(void)state;
	rh_fill(&older, 0, old_pairs, 2);
	rh_fill(&newer, 0, restarted, 2);
	assert_int_equal(hf_rh_delta(&newer, &older, &d, &err), 1);
	assert_int_equal(hf_rh_count(&d), 5);
	assert_memory_equal(&d, &newer, sizeof(d));

	rh_fill(&newer, 0, regrown, 2);
	assert_int_equal(hf_rh_delta(&newer, &older, &d, &err), 1);
	assert_int_equal(hf_rh_count(&d), 300);

	/* Identical samples: no calls in between, no percentile. */
	assert_int_equal(hf_rh_delta(&older, &older, &d, &err), 0);
	assert_int_equal(hf_rh_count(&d), 0);
	assert_true(isnan(hf_rh_percentile(&d, 50.0)));
}

static void test_rh_invalid(void **state)
{
	struct hf_rh h;
	struct hf_err err = {0};
	int i;

	(void)state;
	hf_rh_init(&h, 0);
	assert_int_equal(hf_rh_count(&h), 0);
	assert_true(isnan(hf_rh_percentile(&h, 50.0)));
	assert_int_equal(hf_rh_add(&h, 8, 10, &err), 0);
	assert_true(isnan(hf_rh_percentile(&h, 0.0)));
	assert_true(isnan(hf_rh_percentile(&h, 101.0)));

	assert_int_equal(hf_rh_add(&h, 8, 12, &err), HF_EINVAL);
	assert_int_equal(err.code, HF_EINVAL);
	assert_non_null(strstr(err.msg, "'8'"));
	assert_int_equal(hf_rh_add(&h, 4, 12, &err), HF_EINVAL);
	assert_int_equal(hf_rh_add(&h, 16, 9, &err), HF_EINVAL);
	assert_int_equal(h.n, 1);
	assert_int_equal(hf_rh_count(&h), 10);

	for (i = 1; i < HF_RH_MAX; i++)
		assert_int_equal(hf_rh_add(&h, 8 + (uint64_t)i, 10, &err), 0);
	assert_int_equal(hf_rh_add(&h, 1000, 10, &err), HF_EINVAL);
	assert_int_equal(h.n, HF_RH_MAX);
}

/* ------------------------------------------------------------------------
 * Mann-Whitney U test
 * ------------------------------------------------------------------------ */

static void test_mw_tortoise_hare(void **state)
{
	/* Wikipedia, "Mann-Whitney U test", illustration of calculation
	 * methods: 6 tortoises and 6 hares finish in the order
	 * T H H H H H T T T T T H. As finishing positions, the tortoises hold
	 * ranks 1, 7, 8, 9, 10, 11 (sum 46) and the hares 2, 3, 4, 5, 6, 12
	 * (sum 32): U_T = 46 - 6*7/2 = 25 and U_H = 32 - 21 = 11, 25 + 11 = 36.
	 *
	 * Exact p: of the C(12, 6) = 924 equally likely orderings, 143 give
	 * U_T >= 25 (counted by enumerating all 924), so one-sided p =
	 * 143/924 = 0.154762 and two-sided 286/924 = 0.309524; Wikipedia
	 * notes U = 11 is above the two-sided 5 % critical value 5. */
	static const double t[] = { 1, 7, 8, 9, 10, 11 };
	static const double hr[] = { 2, 3, 4, 5, 6, 12 };
	struct hf_mw r;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_mw_test(t, 6, hr, 6, HF_MW_TWO_SIDED, &r, &err), 0);
	assert_near(r.u1, 25.0, 1e-12);
	assert_near(r.u2, 11.0, 1e-12);
	assert_near(r.u1 + r.u2, 36.0, 1e-12);
	assert_int_equal(r.method, HF_MW_EXACT);
	assert_near(r.p, 286.0 / 924.0, 1e-12);
	assert_near(r.effect, 25.0 / 36.0, 1e-12);
	assert_near(r.rank_biserial, 2.0 * 25.0 / 36.0 - 1.0, 1e-12);

	assert_int_equal(hf_mw_test(t, 6, hr, 6, HF_MW_GREATER, &r, &err), 0);
	assert_near(r.p, 143.0 / 924.0, 1e-12);
	/* Swapping the samples: U = U_H = 11 and, the null distribution being
	 * symmetric about 18, P(U <= 11) = P(U >= 25) = 143/924. */
	assert_int_equal(hf_mw_test(hr, 6, t, 6, HF_MW_LESS, &r, &err), 0);
	assert_near(r.u1, 11.0, 1e-12);
	assert_near(r.p, 143.0 / 924.0, 1e-12);
}

static void test_mw_exact_small(void **state)
{
	/* n1 = n2 = 3: the 20 orderings give U = 0..9 with frequencies
	 * 1 1 2 3 3 3 3 2 1 1 (the partitions of U into at most 3 parts of at
	 * most 3, listed by hand). */
	static const double hi[] = { 10, 11, 12 };
	static const double lo[] = { 1, 2, 3 };
	static const double a[] = { 1, 3, 6 };
	static const double b[] = { 2, 4, 5 };
	struct hf_mw r;
	struct hf_err err = {0};

	(void)state;
	/* Completely separated, x above y: U1 = 9, P(U >= 9) = 1/20. */
	assert_int_equal(hf_mw_test(hi, 3, lo, 3, HF_MW_GREATER, &r, &err), 0);
	assert_int_equal(r.method, HF_MW_EXACT);
	assert_near(r.u1, 9.0, 1e-12);
	assert_near(r.u2, 0.0, 1e-12);
	assert_near(r.p, 0.05, 1e-12);
	assert_near(r.effect, 1.0, 1e-12);
	assert_near(r.rank_biserial, 1.0, 1e-12);
	assert_int_equal(hf_mw_test(hi, 3, lo, 3, HF_MW_TWO_SIDED, &r, &err), 0);
	assert_near(r.p, 0.1, 1e-12);
	/* The wrong direction: P(U <= 9) = 1. */
	assert_int_equal(hf_mw_test(hi, 3, lo, 3, HF_MW_LESS, &r, &err), 0);
	assert_near(r.p, 1.0, 1e-12);
	/* Swapped: x below y, U1 = 0, effect 0, rank-biserial -1. */
	assert_int_equal(hf_mw_test(lo, 3, hi, 3, HF_MW_LESS, &r, &err), 0);
	assert_near(r.u1, 0.0, 1e-12);
	assert_near(r.p, 0.05, 1e-12);
	assert_near(r.effect, 0.0, 1e-12);
	assert_near(r.rank_biserial, -1.0, 1e-12);

	/* Interleaved x = {1, 3, 6}, y = {2, 4, 5}: pairs x > y are 0 + 1 + 3
	 * = 4. P(U >= 4) = (3+3+3+2+1+1)/20 = 13/20, P(U <= 4) = (1+1+2+3+3)/20
	 * = 10/20, two-sided min(1, 2 * 0.5) = 1. */
	assert_int_equal(hf_mw_test(a, 3, b, 3, HF_MW_GREATER, &r, &err), 0);
	assert_near(r.u1, 4.0, 1e-12);
	assert_near(r.u2, 5.0, 1e-12);
	assert_near(r.p, 0.65, 1e-12);
	assert_int_equal(hf_mw_test(a, 3, b, 3, HF_MW_LESS, &r, &err), 0);
	assert_near(r.p, 0.5, 1e-12);
	assert_int_equal(hf_mw_test(a, 3, b, 3, HF_MW_TWO_SIDED, &r, &err), 0);
	assert_near(r.p, 1.0, 1e-12);
}

static void test_mw_exact_unequal(void **state)
{
	/* n1 = 4, n2 = 5, x = {1, 2, 3.5, 3.6}, y = {3, 4, 5, 7, 8}: only 3.5
	 * and 3.6 beat one y (3), so U1 = 2, U2 = 20 - 2 = 18. Orderings with
	 * U <= 2: U = 0 (1 way), 1 (1), 2 (2: {2} or {1,1}) = 4 of C(9,4) =
	 * 126, so P(U <= 2) = 4/126 = 0.031746. */
	static const double x[] = { 1, 2, 3.5, 3.6 };
	static const double y[] = { 3, 4, 5, 7, 8 };
	struct hf_mw r;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_mw_test(x, 4, y, 5, HF_MW_LESS, &r, &err), 0);
	assert_int_equal(r.method, HF_MW_EXACT);
	assert_near(r.u1, 2.0, 1e-12);
	assert_near(r.u2, 18.0, 1e-12);
	assert_near(r.p, 4.0 / 126.0, 1e-12);
	assert_near(r.effect, 0.1, 1e-12);
	assert_int_equal(hf_mw_test(x, 4, y, 5, HF_MW_TWO_SIDED, &r, &err), 0);
	assert_near(r.p, 8.0 / 126.0, 1e-12);
	/* Same with the samples' order scrambled: ranks do not depend on it. */
	{
		static const double xs[] = { 3.6, 1, 3.5, 2 };
		static const double ys[] = { 8, 3, 7, 5, 4 };

		assert_int_equal(hf_mw_test(xs, 4, ys, 5, HF_MW_LESS, &r, &err), 0);
		assert_near(r.u1, 2.0, 1e-12);
		assert_near(r.p, 4.0 / 126.0, 1e-12);
	}
}

static void test_mw_ties(void **state)
{
	/* Worked by hand. x = {1, 2, 2, 3, 5}, y = {2, 4, 4, 6}, N = 9.
	 * Pooled: 1x 2x 2x 2y 3x 4y 4y 5x 6y; the three 2s share ranks 2..4
	 * (average 3), the two 4s ranks 6..7 (6.5).
	 * R1 = 1 + 3 + 3 + 5 + 8 = 20, U1 = 20 - 5*6/2 = 5, U2 = 20 - 5 = 15.
	 * Pair count check: 1 -> 0, each 2 -> 1/2 (the tied y), 3 -> 1,
	 * 5 -> 3: 0 + 0.5 + 0.5 + 1 + 3 = 5.
	 * Ties force the normal approximation:
	 *   mean = 5*4/2 = 10
	 *   sum(t^3 - t) = (27 - 3) + (8 - 2) = 30
	 *   var = 20/12 * (10 - 30/(9*8)) = 1.6667 * 9.58333 = 15.972222
	 *   sd = 3.996526
	 *   LESS: z = (5 - 10 + 0.5) / 3.996526 = -1.125978
	 *   p = Phi(-1.125978) = 0.130087; two-sided 2 * 0.130087 = 0.260175
	 * (Phi from erfc: 0.5 * erfc(1.125978 / sqrt 2)). */
	static const double x[] = { 1, 2, 2, 3, 5 };
	static const double y[] = { 2, 4, 4, 6 };
	struct hf_mw r;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_mw_test(x, 5, y, 4, HF_MW_LESS, &r, &err), 0);
	assert_int_equal(r.method, HF_MW_NORMAL);
	assert_near(r.u1, 5.0, 1e-12);
	assert_near(r.u2, 15.0, 1e-12);
	assert_near(r.z, -1.125978, 1e-6);
	assert_near(r.p, 0.130087, 1e-6);
	assert_near(r.effect, 0.25, 1e-12);
	assert_near(r.rank_biserial, -0.5, 1e-12);
	assert_int_equal(hf_mw_test(x, 5, y, 4, HF_MW_TWO_SIDED, &r, &err), 0);
	assert_near(r.p, 0.260175, 1e-6);

	/* Every value tied: U1 = n1 n2 / 2 = 3, variance 0, no evidence. */
	{
		static const double s[] = { 5, 5 };
		static const double t[] = { 5, 5, 5 };

		assert_int_equal(hf_mw_test(s, 2, t, 3, HF_MW_GREATER, &r, &err), 0);
		assert_int_equal(r.method, HF_MW_NORMAL);
		assert_near(r.u1, 3.0, 1e-12);
		assert_near(r.effect, 0.5, 1e-12);
		assert_near(r.rank_biserial, 0.0, 1e-12);
		assert_near(r.p, 1.0, 1e-12);
	}
}

static void test_mw_normal_large(void **state)
{
	/* n1 = n2 = 25 (> HF_MW_EXACT_MAX): x = i + 0.5 for i = 3..27,
	 * y = 1..25, no ties. x = i + 0.5 beats min(i, 25) values of y:
	 *   U1 = (3 + 4 + ... + 25) + 25 + 25 = 322 + 50 = 372, U2 = 253.
	 *   mean = 25*25/2 = 312.5
	 *   sd = sqrt(625 * 51 / 12) = sqrt(2656.25) = 51.538820
	 *   GREATER: z = (372 - 312.5 - 0.5) / 51.538820 = 59 / 51.538820
	 *              = 1.144768
	 *   p = 1 - Phi(1.144768) = 0.126153; two-sided 0.252305. */
	double x[25], y[25];
	struct hf_mw r;
	struct hf_err err = {0};
	int i;

	(void)state;
	for (i = 0; i < 25; i++) {
		x[i] = (i + 3) + 0.5;
		y[i] = i + 1;
	}
	assert_int_equal(hf_mw_test(x, 25, y, 25, HF_MW_GREATER, &r, &err), 0);
	assert_int_equal(r.method, HF_MW_NORMAL);
	assert_near(r.u1, 372.0, 1e-9);
	assert_near(r.u2, 253.0, 1e-9);
	assert_near(r.u1 + r.u2, 625.0, 1e-9);
	assert_near(r.z, 1.144768, 1e-6);
	assert_near(r.p, 0.126153, 1e-6);
	assert_near(r.effect, 372.0 / 625.0, 1e-12);
	assert_int_equal(hf_mw_test(x, 25, y, 25, HF_MW_TWO_SIDED, &r, &err), 0);
	assert_near(r.p, 0.252305, 1e-6);
	/* LESS: z = (59.5 + 0.5) / 51.538820 = 1.164170, p = Phi(1.164170)
	 * = 0.877823 (1 - 0.122177). */
	assert_int_equal(hf_mw_test(x, 25, y, 25, HF_MW_LESS, &r, &err), 0);
	assert_near(r.p, 0.877823, 1e-6);
}

static void test_mw_refuse(void **state)
{
	static const double x[] = { 1, 2 };
	static const double bad[] = { 1, NAN };
	struct hf_mw r = { .u1 = -42 };
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_mw_test(x, 0, x, 2, HF_MW_GREATER, &r, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "empty sample"));
	assert_int_equal(hf_mw_test(x, 2, x, 0, HF_MW_GREATER, &r, &err), HF_EINVAL);
	assert_int_equal(hf_mw_test(x, 2, bad, 2, HF_MW_GREATER, &r, &err), HF_EINVAL);
	assert_near(r.u1, -42.0, 0.0);   /* untouched on failure */
}

/* ------------------------------------------------------------------------
 * Rates
 * ------------------------------------------------------------------------ */

static void test_rates(void **state)
{
	(void)state;
	assert_near(hf_rate_error(0, 0), 0.0, 0.0);
	assert_near(hf_rate_error(7, 0), 0.0, 0.0);
	assert_near(hf_rate_error(5, 100), 0.05, 1e-15);
	assert_near(hf_rate_error(3, 3), 1.0, 0.0);

	assert_near(hf_rate_ratio(3.0, 2.0), 1.5, 1e-15);
	assert_near(hf_rate_ratio(0.0, 0.0), 1.0, 0.0);
	assert_near(hf_rate_ratio(0.0, 4.0), 0.0, 0.0);
	assert_true(isinf(hf_rate_ratio(0.01, 0.0)) && hf_rate_ratio(0.01, 0.0) > 0);
	assert_true(isinf(hf_rate_ratio(-1.0, 0.0)) && hf_rate_ratio(-1.0, 0.0) < 0);
	assert_true(isnan(hf_rate_ratio(NAN, 1.0)));
	assert_true(isnan(hf_rate_ratio(1.0, NAN)));
}

/* Totals from a sample: a whole population is exact, and the interval
 * matches the normal approximation worked by hand. */
static void test_estimate(void **state)
{
	double lo, hi;

	(void)state;
	/* All of it seen: no uncertainty. */
	assert_float_equal(hf_estimate_total(500, 1.0, &lo, &hi), 500, 1e-9);
	assert_float_equal(lo, 500, 1e-9);
	assert_float_equal(hi, 500, 1e-9);
	/* 1000 found in 10 %: 10000, standard error sqrt(1000 * 0.9) / 0.1
	 * = 300, so 10000 +- 1.96 * 300 = 9412.0 .. 10588.0. */
	assert_float_equal(hf_estimate_total(1000, 0.1, &lo, &hi), 10000, 1e-6);
	assert_float_equal(lo, 9412.01, 0.01);
	assert_float_equal(hi, 10587.99, 0.01);
	/* Few found: the interval never goes below what was seen. */
	hf_estimate_total(2, 0.5, &lo, &hi);
	assert_float_equal(lo, 2, 1e-9);
	assert_true(hi > 4);
	/* Nothing found is an estimate of 0, but up to -ln(0.05) / 0.25 =
	 * 11.98 may be there unseen. */
	assert_float_equal(hf_estimate_total(0, 0.25, &lo, &hi), 0, 1e-9);
	assert_float_equal(lo, 0, 1e-9);
	assert_float_equal(hi, 11.983, 0.001);
	assert_true(isnan(hf_estimate_total(10, 0, &lo, &hi)));
	assert_true(isnan(hf_estimate_total(10, 1.5, &lo, &hi)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_estimate),
		cmocka_unit_test(test_hist_uniform),
		cmocka_unit_test(test_hist_merge),
		cmocka_unit_test(test_hist_counts),
		cmocka_unit_test(test_hist_extremes),
		cmocka_unit_test(test_rh_single_bucket),
		cmocka_unit_test(test_rh_mixed),
		cmocka_unit_test(test_rh_delta),
		cmocka_unit_test(test_rh_delta_sparse),
		cmocka_unit_test(test_rh_reset),
		cmocka_unit_test(test_rh_invalid),
		cmocka_unit_test(test_mw_tortoise_hare),
		cmocka_unit_test(test_mw_exact_small),
		cmocka_unit_test(test_mw_exact_unequal),
		cmocka_unit_test(test_mw_ties),
		cmocka_unit_test(test_mw_normal_large),
		cmocka_unit_test(test_mw_refuse),
		cmocka_unit_test(test_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
