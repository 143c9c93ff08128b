/* Unit tests of src/core/judge.c: the guard's verdicts from canned
 * intervals, without a server. Every expected explanation and number is
 * worked out by hand (the arithmetic is in the comments), never read back
 * from the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "core/judge.h"

/* ------------------------------------------------------------------------
 * A canned cluster: three primaries and a replica; the first primary
 * holds the hotfix. The interval passes every default-like check until a
 * test changes something.
 * ------------------------------------------------------------------------ */

#define NNODES 4
#define MAXHIST (NNODES * HF_JUDGE_WINDOW)

struct fx {
	struct hf_judge_node nodes[NNODES];
	struct hf_check checks[8];
	double baseline[HF_METRIC_SLOTS];
	struct hf_judge_sample hist[MAXHIST];
	struct hf_judge_input in;
	struct hf_verdict v;
};

static void fx_init(struct fx *f)
{
	static const char *const names[NNODES] = {
		"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003",
	};
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < NNODES; i++)
		f->nodes[i] = (struct hf_judge_node){ .name = names[i], .changed = i == 0,
			.answered = 1, .cluster_state = "ok" };
	for (i = 0; i < HF_METRIC_SLOTS; i++) {
		f->in.value[i] = 0;
		f->baseline[i] = 0;
	}
	f->in.value[HF_METRIC_ERROR_RATE] = 0.002;
	f->in.value[HF_METRIC_LATENCY_P99] = 1.5;
	f->baseline[HF_METRIC_ERROR_RATE] = 0.001;
	f->baseline[HF_METRIC_LATENCY_P99] = 1.2;
	f->in.nodes = f->nodes;
	f->in.nnodes = NNODES;
	f->in.topology = "";
	f->in.timeout_ms = 500;
	f->in.calls = 1000;
	f->in.other_calls = 2000;
	f->in.expected_calls = 500;
	f->in.baseline = f->baseline;
	f->in.history = f->hist;
	f->in.interval = 1;
	f->in.checks = f->checks;
}

static void add_max(struct fx *f, const char *metric, double max)
{
	f->checks[f->in.nchecks++] = (struct hf_check){ .metric = (char *)metric, .has_max = 1,
							.max = max };
}

static void add_min(struct fx *f, const char *metric, double min)
{
	f->checks[f->in.nchecks++] = (struct hf_check){ .metric = (char *)metric, .has_min = 1,
							.min = min };
}

static void add_ratio(struct fx *f, const char *metric, double ratio)
{
	f->checks[f->in.nchecks++] = (struct hf_check){ .metric = (char *)metric,
							.has_ratio = 1, .ratio = ratio };
}

/* One node's value of metric 'm' in interval 'iv'; its other metrics have
 * none. */
static void add_sample(struct fx *f, long iv, int changed, int primary, unsigned long long calls,
		       int m, double x)
{
	struct hf_judge_sample *s;
	int k;

	assert_true(f->in.nhistory < MAXHIST);
	s = &f->hist[f->in.nhistory++];
	s->interval = iv;
	s->changed = changed;
	s->primary = primary;
	s->calls = calls;
	for (k = 0; k < HF_METRIC_SLOTS; k++)
		s->v[k] = NAN;
	s->v[m] = x;
}

static const struct hf_verdict *judge(struct fx *f)
{
	memset(&f->v, 0x5a, sizeof(f->v));   /* no leftovers pass for an answer */
	hf_judge_verdict(&f->in, &f->v);
	return &f->v;
}

#define assert_verdict(f, k, text)                                              \
	do {                                                                    \
		const struct hf_verdict *v_ = judge(f);                         \
		if (v_->kind != (k) || strcmp(v_->explain, (text)))             \
			fail_msg("verdict %d '%s', expected %d '%s'", v_->kind, \
				 v_->explain, (k), (text));                     \
	} while (0)

#define assert_contains(s, part)                                               \
	do {                                                                   \
		if (!strstr((s), (part)))                                      \
			fail_msg("'%s' does not contain '%s'", (s), (part));   \
	} while (0)

/* ------------------------------------------------------------------------
 * The metric table
 * ------------------------------------------------------------------------ */

static void test_metric_table(void **state)
{
	/* The manifest's order, as its "expected one of" message lists them. */
	static const char *const names[] = {
		"error_rate", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
		"latency_p999_ms", "replication_lag_ms", "replication_lag_bytes",
		"heartbeat_ms", "probe_latency_ms", "probe_latency_p50_ms",
		"probe_convergence_ms", "memory_used_ratio", "rejected_connections",
		"evictions",
	};
	/* The floors NOTES.md gives (probe_latency_ms 1 ms, its median 0.05
	 * ms) and those the guard had before they were written down once. */
	static const double floors[] = {
		0.001, 1, 1, 1, 1, 1000, 1048576, 10, 1, 0.05, 10, 0.01, 1, 1,
	};
	size_t i;

	(void)state;
	assert_int_equal(HF_METRIC_COUNT, sizeof(names) / sizeof(names[0]));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int m = hf_judge_metric_of(names[i]);

		assert_int_equal(m, (int)i);
		assert_string_equal(hf_judge_metric_name(m), names[i]);
		assert_true(hf_judge_metric_floor(m) == floors[i]);
	}
	assert_int_equal(hf_judge_metric_of("cpu"), -1);
	assert_int_equal(hf_judge_metric_of("Error_rate"), -1);
	assert_int_equal(hf_judge_metric_of(""), -1);
	assert_int_equal(hf_judge_metric_of(NULL), -1);
	assert_string_equal(hf_judge_metric_name(-1), "");
	assert_string_equal(hf_judge_metric_name(HF_METRIC_SLOTS), "");
	/* After the metrics the guard computes: the PromQL slots. */
	assert_string_equal(hf_judge_metric_name(HF_METRIC_COUNT), "promql");
	assert_int_equal(hf_judge_metric_flags(HF_METRIC_SLOTS - 1), HF_METRIC_REQUIRED);
	assert_int_equal(hf_judge_metric_flags(-1), 0);

	/* Fractions: what manifest.c calls ratio metrics. */
	for (i = 0; i < HF_METRIC_COUNT; i++)
		assert_int_equal(hf_judge_metric_is_fraction((int)i),
				 i == HF_METRIC_ERROR_RATE || i == HF_METRIC_MEMORY_USED_RATIO);
	assert_int_equal(hf_judge_metric_is_fraction(-1), 0);
	/* Traffic: error_rate and the four percentiles. */
	for (i = 0; i < HF_METRIC_COUNT; i++)
		assert_int_equal(!!(hf_judge_metric_flags((int)i) & HF_METRIC_TRAFFIC), i <= 4);
	/* Probes: the three probe metrics, which are also shared with the
	 * rest of their shard, like replication lag. */
	for (i = 0; i < HF_METRIC_COUNT; i++) {
		unsigned fl = hf_judge_metric_flags((int)i);

		assert_int_equal(!!(fl & HF_METRIC_PROBE), i >= 8 && i <= 10);
		assert_int_equal(!!(fl & HF_METRIC_SHARED), (i >= 8 && i <= 10) || i == 5 || i == 6);
	}
}

static void test_format(void **state)
{
	char s[64];

	(void)state;
	hf_judge_format(HF_METRIC_ERROR_RATE, 0.0123, s, sizeof(s));
	assert_string_equal(s, "0.0123");
	hf_judge_format(HF_METRIC_MEMORY_USED_RATIO, 0.5, s, sizeof(s));
	assert_string_equal(s, "0.5000");
	hf_judge_format(HF_METRIC_LATENCY_P99, 2.5, s, sizeof(s));
	assert_string_equal(s, "2.500 ms");
	hf_judge_format(HF_METRIC_REPLICATION_LAG_BYTES, 10, s, sizeof(s));
	assert_string_equal(s, "10.000 bytes");
	hf_judge_format(HF_METRIC_EVICTIONS, 3, s, sizeof(s));
	assert_string_equal(s, "3.000");
	hf_judge_format(HF_METRIC_ERROR_RATE, NAN, s, sizeof(s));
	assert_string_equal(s, "n/a (no traffic)");
	hf_judge_format(HF_METRIC_LATENCY_P50, NAN, s, sizeof(s));
	assert_string_equal(s, "n/a (no traffic)");
	hf_judge_format(HF_METRIC_MEMORY_USED_RATIO, NAN, s, sizeof(s));
	assert_string_equal(s, "n/a (no maxmemory)");
	hf_judge_format(HF_METRIC_PROBE_LATENCY_P50, NAN, s, sizeof(s));
	assert_string_equal(s, "n/a (no probe write landed)");
}

/* ------------------------------------------------------------------------
 * Thresholds
 * ------------------------------------------------------------------------ */

static void test_pass(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	add_ratio(&f, "latency_p99_ms", 2);
	/* 0.002 <= 0.01; 1.5 / 1.2 = 1.25x <= 2x */
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0020, latency_p99_ms 1.500 ms");

	/* A check on a metric this build does not know judges nothing. */
	f.checks[f.in.nchecks++] = (struct hf_check){ .metric = (char *)"cpu", .has_max = 1 };
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0020, latency_p99_ms 1.500 ms");

	/* No check at all: a pass with nothing listed. */
	f.in.nchecks = 0;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: ");
}

static void test_fail_max(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	add_ratio(&f, "latency_p99_ms", 2);
	f.in.value[HF_METRIC_ERROR_RATE] = 0.05;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0500 above max 0.01");

	/* At the threshold is not above it. */
	f.in.value[HF_METRIC_ERROR_RATE] = 0.01;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0100, latency_p99_ms 1.500 ms");

	/* Two failing checks on two changed nodes: both named. 3.1 / 1.2 =
	 * 2.583x, printed 2.58x. */
	f.nodes[1].changed = 1;
	f.in.value[HF_METRIC_ERROR_RATE] = 0.2;
	f.in.value[HF_METRIC_LATENCY_P99] = 3.1;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 2 changed node(s), 1000 calls: "
		       "error_rate 0.2000 above max 0.01; latency_p99_ms 3.100 ms 2.58x the "
		       "baseline 1.200 ms, limit 2x");
}

static void test_fail_min(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_min(&f, "latency_p50_ms", 0.05);
	f.in.value[HF_METRIC_LATENCY_P50] = 0.02;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "latency_p50_ms 0.020 ms below min 0.05");
	f.in.value[HF_METRIC_LATENCY_P50] = 0.05;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "latency_p50_ms 0.050 ms");

	/* Both bounds on one check: the one crossed is named. */
	f.checks[0].has_max = 1;
	f.checks[0].max = 10;
	f.in.value[HF_METRIC_LATENCY_P50] = 12;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "latency_p50_ms 12.000 ms above max 10");
}

static void test_ratio_floors(void **state)
{
	struct fx f;

	(void)state;
	/* probe_latency_ms, floor 1 ms: 0.95 ms against 0.3 ms is 3.2x
	 * raw, but max(0.95, 1) / max(0.3, 1) = 1x. */
	fx_init(&f);
	add_ratio(&f, "probe_latency_ms", 2);
	f.baseline[HF_METRIC_PROBE_LATENCY] = 0.3;
	f.in.value[HF_METRIC_PROBE_LATENCY] = 0.95;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "probe_latency_ms 0.950 ms");
	/* 2.4 / max(0.3, 1) = 2.4x */
	f.in.value[HF_METRIC_PROBE_LATENCY] = 2.4;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "probe_latency_ms 2.400 ms 2.40x the baseline 0.300 ms, limit 2x");

	/* probe_latency_p50_ms, floor 0.05 ms: 0.07 / max(0.02, 0.05) =
	 * 1.4x passes a 1.5x limit; 0.08 / 0.05 = 1.6x does not. */
	fx_init(&f);
	add_ratio(&f, "probe_latency_p50_ms", 1.5);
	f.baseline[HF_METRIC_PROBE_LATENCY_P50] = 0.02;
	f.in.value[HF_METRIC_PROBE_LATENCY_P50] = 0.07;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "probe_latency_p50_ms 0.070 ms");
	f.in.value[HF_METRIC_PROBE_LATENCY_P50] = 0.08;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "probe_latency_p50_ms 0.080 ms 1.60x the baseline 0.020 ms, limit 1.5x");
	/* Above the floor the ratio is the plain one: an fsync per write,
	 * 0.15 ms -> 0.3 ms, is 2x. */
	f.baseline[HF_METRIC_PROBE_LATENCY_P50] = 0.15;
	f.in.value[HF_METRIC_PROBE_LATENCY_P50] = 0.3;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "probe_latency_p50_ms 0.300 ms 2.00x the baseline 0.150 ms, limit 1.5x");

	/* error_rate, floor 0.001: a baseline without errors is not a zero
	 * to divide by. 0.0019 / 0.001 = 1.9x; 0.0021 / 0.001 = 2.1x. */
	fx_init(&f);
	add_ratio(&f, "error_rate", 2);
	f.baseline[HF_METRIC_ERROR_RATE] = 0;
	f.in.value[HF_METRIC_ERROR_RATE] = 0.0019;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0019");
	f.in.value[HF_METRIC_ERROR_RATE] = 0.0021;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0021 2.10x the baseline 0.0000, limit 2x");

	/* latency_p99_ms, floor 1 ms: 1.9 / max(0.2, 1) passes, 2.1 fails. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 0.2;
	f.in.value[HF_METRIC_LATENCY_P99] = 1.9;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 1.900 ms");
	f.in.value[HF_METRIC_LATENCY_P99] = 2.1;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 2.100 ms 2.10x the baseline 0.200 ms, limit 2x");
}

/* Every metric's floor at work on a zero baseline: 1.9 floors pass a 2x
 * limit, 2.5 floors fail it at 2.50x. The floors themselves are checked
 * by hand in test_metric_table. */
static void test_every_floor(void **state)
{
	int m;

	(void)state;
	for (m = 0; m < HF_METRIC_COUNT; m++) {
		double fl = hf_judge_metric_floor(m);
		struct fx f;

		fx_init(&f);
		add_ratio(&f, hf_judge_metric_name(m), 2);
		f.baseline[m] = 0;
		f.in.value[m] = 1.9 * fl;
		if (judge(&f)->kind != HF_VERDICT_PASS)
			fail_msg("%s at 1.9 floors: %s", hf_judge_metric_name(m), f.v.explain);
		f.in.value[m] = 2.5 * fl;
		if (judge(&f)->kind != HF_VERDICT_FAIL)
			fail_msg("%s at 2.5 floors: %s", hf_judge_metric_name(m), f.v.explain);
		assert_contains(f.v.explain, " 2.50x the baseline ");
	}
}

static void test_no_baseline(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	add_max(&f, "error_rate", 0.01);
	/* Before a baseline, or where it had no value, the ratio is not
	 * judged, and the explanation does not pretend it was. */
	f.in.value[HF_METRIC_LATENCY_P99] = 50;
	f.in.baseline = NULL;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 50.000 ms (no baseline), error_rate 0.0020");
	f.in.baseline = f.baseline;
	f.baseline[HF_METRIC_LATENCY_P99] = NAN;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 50.000 ms (no baseline), error_rate 0.0020");
	/* A max still applies without one. */
	f.checks[0].has_max = 1;
	f.checks[0].max = 20;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 50.000 ms above max 20");
}

static void test_probe_error(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_max(&f, "probe_latency_ms", 100);
	/* A failed probe write counts as the deadline. */
	f.in.value[HF_METRIC_PROBE_LATENCY] = 500;
	f.in.probe_error = "OOM command not allowed";
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "probe_latency_ms 500.000 ms above max 100 (a probe write failed: OOM "
		       "command not allowed)");
	/* The error is told only with the probe latency that fails. */
	f.in.value[HF_METRIC_PROBE_LATENCY] = 5;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "probe_latency_ms 5.000 ms");
}

/* ------------------------------------------------------------------------
 * Unobservable is not fail
 * ------------------------------------------------------------------------ */

static void test_unobservable_vs_fail(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	f.in.value[HF_METRIC_ERROR_RATE] = 0.5;   /* would fail, if seen */

	/* A changed node that did not answer: its numbers are not judged. */
	f.nodes[0].answered = 0;
	assert_verdict(&f, HF_VERDICT_UNOBSERVABLE,
		       "unobservable: 127.0.0.1:7000 did not answer within 500ms");
	f.nodes[2].changed = 1;
	f.nodes[2].answered = 0;
	assert_verdict(&f, HF_VERDICT_UNOBSERVABLE,
		       "unobservable: 127.0.0.1:7000, 127.0.0.1:7002 did not answer within 500ms");

	/* An unchanged node that did not answer blinds nothing that is
	 * judged: the changed node's errors fail. */
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	f.in.value[HF_METRIC_ERROR_RATE] = 0.5;
	f.nodes[1].answered = 0;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "error_rate 0.5000 above max 0.01");

	/* A role change: the interval is not judged. */
	f.in.topology = "127.0.0.1:7003 is now a primary";
	assert_verdict(&f, HF_VERDICT_UNOBSERVABLE, "unobservable: the topology changed "
		       "(127.0.0.1:7003 is now a primary); this interval is not judged");
	f.in.topology = NULL;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_FAIL);
}

/* A 'promql' check on slot 'slot', its expression 'expr'. */
static struct hf_check *add_promql(struct fx *f, const char *expr, int slot)
{
	struct hf_check *k = &f->checks[f->in.nchecks++];

	*k = (struct hf_check){ .metric = (char *)expr, .promql = (char *)expr, .slot = slot };
	return k;
}

/* PromQL metrics: judged like the guard's own under the check's
 * expression; a changed node Prometheus had nothing for makes the
 * interval unobservable, unless a check fails; no calls are counted when
 * every check is read from Prometheus. */
static void test_promql(void **state)
{
	struct fx f;
	struct hf_check *k;
	int m = HF_METRIC_COUNT + 1;

	(void)state;
	fx_init(&f);
	k = add_promql(&f, "etcd_server_has_leader", 1);
	k->has_min = 1;
	k->min = 1;
	assert_int_equal(hf_judge_check_metric(k), m);
	f.in.value[m] = 1;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s): etcd_server_has_leader 1");
	f.in.value[m] = 0;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s): etcd_server_has_leader 0 "
		       "below min 1");
	assert_string_equal(f.v.checks[0].metric, "etcd_server_has_leader");
	/* The guard names the node whose value the group's is. */
	f.in.where[m] = "127.0.0.1:7000";
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s): etcd_server_has_leader 0 "
		       "on 127.0.0.1:7000 below min 1");
	f.in.where[m] = NULL;
	assert_int_equal(f.v.checks[0].outcome, HF_CHECK_FAIL);

	/* One changed node without a sample: not judged... */
	f.in.value[m] = 1;
	f.in.unseen[m] = "127.0.0.1:7000 (Prometheus has no sample)";
	assert_verdict(&f, HF_VERDICT_UNOBSERVABLE, "unobservable: etcd_server_has_leader: "
		       "nothing for 127.0.0.1:7000 (Prometheus has no sample)");
	f.in.value[m] = NAN;
	assert_verdict(&f, HF_VERDICT_UNOBSERVABLE, "unobservable: etcd_server_has_leader: "
		       "nothing for 127.0.0.1:7000 (Prometheus has no sample)");
	/* ...unless what the others showed fails. */
	f.in.value[m] = 0;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s): etcd_server_has_leader 0 "
		       "below min 1");

	/* With a metric of the guard's own, calls are counted again. */
	f.in.unseen[m] = NULL;
	f.in.value[m] = 1;
	add_max(&f, "error_rate", 0.01);
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "etcd_server_has_leader 1, error_rate 0.0020");
}

/* A ratio to a baseline of 0 with a floor of 0: 0 stays a pass, anything
 * above it fails. */
static void test_promql_ratio_from_zero(void **state)
{
	struct fx f;
	struct hf_check *k;
	int m = HF_METRIC_COUNT;

	(void)state;
	fx_init(&f);
	k = add_promql(&f, "rate(x[10s])", 0);
	k->has_ratio = 1;
	k->ratio = 2;
	f.baseline[m] = 0;
	f.in.value[m] = 0;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s): rate(x[10s]) 0");
	f.in.value[m] = 0.5;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s): rate(x[10s]) 0.5 "
		       "infx the baseline 0, limit 2x");
	f.baseline[m] = 0.5;
	f.in.value[m] = 1;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s): rate(x[10s]) 1");
	f.in.value[m] = 1.5;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s): rate(x[10s]) 1.5 "
		       "3.00x the baseline 0.5, limit 2x");
}

static void test_cluster_state(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	/* Whatever the checks say, a changed node that sees slots on failed
	 * nodes fails the interval. */
	f.nodes[0].slots_fail = 5461;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "cluster_state ok with 5461 slot(s) on failed nodes, seen by 127.0.0.1:7000");
	f.nodes[0].slots_fail = 0;
	f.nodes[0].cluster_state = "fail";
	f.in.value[HF_METRIC_ERROR_RATE] = 0.5;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "cluster_state fail with 0 slot(s) on failed nodes, seen by 127.0.0.1:7000; "
		       "error_rate 0.5000 above max 0.01");
	/* Only the changed nodes' view counts; none without cluster mode. */
	f.in.value[HF_METRIC_ERROR_RATE] = 0;
	f.nodes[0].cluster_state = "";
	f.nodes[1].cluster_state = "fail";
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
	f.nodes[0].cluster_state = NULL;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
}

/* ------------------------------------------------------------------------
 * Zero traffic: no calls is no evidence
 * ------------------------------------------------------------------------ */

static void test_zero_traffic_idle(void **state)
{
	struct fx f;

	(void)state;
	/* A canary nobody calls, in the baseline either (a replica clients do
	 * not read from): the sampler's 0/0 error rate is 0 and no latency
	 * was measured. Neither metric is evidence; the interval passes on
	 * nothing, and says so. */
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	add_ratio(&f, "latency_p99_ms", 2);
	f.in.calls = 0;
	f.in.expected_calls = 0;
	f.in.value[HF_METRIC_ERROR_RATE] = 0;
	f.in.value[HF_METRIC_LATENCY_P99] = NAN;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 0 calls: "
		       "error_rate n/a (no traffic), latency_p99_ms n/a (no traffic)");

	/* Nor does 0/0 fail by accident: a min on error_rate, or on a latency
	 * the sampler left at 0, sees nothing below it. */
	fx_init(&f);
	add_min(&f, "error_rate", 0.0001);
	add_min(&f, "latency_p50_ms", 0.01);
	f.in.calls = 0;
	f.in.expected_calls = 0;
	f.in.value[HF_METRIC_ERROR_RATE] = 0;
	f.in.value[HF_METRIC_LATENCY_P50] = 0;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 0 calls: "
		       "error_rate n/a (no traffic), latency_p50_ms n/a (no traffic)");
	/* The same numbers over one call are evidence, and fail. */
	f.in.calls = 1;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1 calls: "
		       "error_rate 0.0000 below min 0.0001; latency_p50_ms 0.000 ms below min 0.01");
}

static void test_zero_traffic_starved(void **state)
{
	struct fx f;

	(void)state;
	/* The baseline gave the canary 40 calls per interval, the other nodes
	 * still have theirs, and the canary had none: its traffic went away,
	 * and what the traffic would have shown cannot be seen. */
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	add_ratio(&f, "latency_p99_ms", 2);
	f.in.calls = 0;
	f.in.expected_calls = 40;
	f.in.other_calls = 2000;
	f.in.value[HF_METRIC_ERROR_RATE] = 0;
	f.in.value[HF_METRIC_LATENCY_P99] = NAN;
	assert_verdict(&f, HF_VERDICT_UNOBSERVABLE, "unobservable: no calls on 1 changed "
		       "node(s), where the baseline had 40.0 per interval and the other nodes had "
		       "2000: error_rate n/a (no traffic), latency_p99_ms n/a (no traffic)");

	/* The workload stopped everywhere: an idle cluster, not a starved
	 * canary. */
	f.in.other_calls = 0;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 0 calls: "
		       "error_rate n/a (no traffic), latency_p99_ms n/a (no traffic)");

	/* Sparse traffic: below HF_JUDGE_EXPECT_CALLS (10) calls per interval
	 * an empty interval is left to chance, and passes on what there is. */
	f.in.other_calls = 2000;
	f.in.expected_calls = 9.9;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
	f.in.expected_calls = 10;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_UNOBSERVABLE);

	/* Evidence that fails still fails: replication lag needs no call. */
	add_max(&f, "replication_lag_ms", 1000);
	f.in.value[HF_METRIC_REPLICATION_LAG_MS] = 5000;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 0 calls: "
		       "replication_lag_ms 5000.000 ms above max 1000");

	/* Checks that need no traffic are judged as usual. */
	fx_init(&f);
	add_max(&f, "heartbeat_ms", 100);
	f.in.calls = 0;
	f.in.expected_calls = 40;
	f.in.value[HF_METRIC_HEARTBEAT] = 0.4;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 0 calls: "
		       "heartbeat_ms 0.400 ms");
}

/* ------------------------------------------------------------------------
 * Canary versus control
 * ------------------------------------------------------------------------ */

/* Ten intervals of latency_p99_ms: the canary primary (node 0) at
 * 'canary' + 'step' i, the two other primaries at 'control' + 'step' i and
 * 'control' + 'step' (i + 1/2), the replica without traffic. */
static void ten_intervals(struct fx *f, double canary, double control, double step)
{
	long i;

	for (i = 1; i <= 10; i++) {
		add_sample(f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, canary + step * i);
		add_sample(f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, control + step * i);
		add_sample(f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, control + step * (i + 0.5));
		add_sample(f, i, 0, 0, 0, HF_METRIC_LATENCY_P99, NAN);
	}
	f->in.interval = 10;
}

static void test_canary_worse(void **state)
{
	struct fx f;

	(void)state;
	/* The baseline drifted up to 10 ms, so 12.9 ms is only 1.29x of it;
	 * but in the same intervals the canary's 12.1 .. 13.0 ms are above
	 * every one of the controls' 5.1 .. 6.05 ms. U = 10 * 20 = 200, the
	 * exact one-sided p = 1 / C(30, 10) = 3.3e-8, P(canary > control) 1.
	 * Medians: the canary's 6th of 10 is 12.6, the controls' 11th of 20
	 * is 5.6 (5.1 5.15 5.2 ... 5.55 5.6). 12.6 - 5.6 > the 1 ms floor. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 10;
	f.in.value[HF_METRIC_LATENCY_P99] = 12.9;
	ten_intervals(&f, 12, 5, 0.1);
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 12.900 ms canary primaries worse than control in the same "
		       "intervals: median 12.600 vs 5.600 over 10/20 samples, Mann-Whitney U 200, "
		       "p 0.0000, P(canary > control) 1.00");

	/* Only a relative check asks for the comparison. */
	f.checks[0] = (struct hf_check){ .metric = (char *)"latency_p99_ms", .has_max = 1,
					 .max = 100 };
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);

	/* A metric shared with the rest of the shard is never compared. */
	fx_init(&f);
	add_ratio(&f, "probe_latency_ms", 2);
	f.baseline[HF_METRIC_PROBE_LATENCY] = 10;
	f.in.value[HF_METRIC_PROBE_LATENCY] = 12.9;
	for (long i = 1; i <= 10; i++) {
		add_sample(&f, i, 1, 1, 100, HF_METRIC_PROBE_LATENCY, 12 + 0.1 * i);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_PROBE_LATENCY, 5 + 0.1 * i);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_PROBE_LATENCY, 5.05 + 0.1 * i);
	}
	f.in.interval = 10;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
}

/* The verdict itemises each check for the journal's guard samples: the
 * value, the baseline, the limit (a ratio's is ratio x the baseline raised
 * to the floor), the outcome, and canary versus control's U and p. */
static void test_verdict_checks(void **state)
{
	const struct hf_verdict *v;
	struct fx f;

	(void)state;
	fx_init(&f);
	add_max(&f, "error_rate", 0.001);       /* 0.002 > 0.001: fail */
	add_ratio(&f, "latency_p99_ms", 2);     /* 1.5 vs 2 x max(1.2, 1) = 2.4: pass */
	v = judge(&f);
	assert_int_equal(v->kind, HF_VERDICT_FAIL);
	assert_string_equal(v->nodes, "127.0.0.1:7000");
	assert_int_equal(v->nchecks, 2);
	assert_string_equal(v->checks[0].metric, "error_rate");
	assert_int_equal(v->checks[0].outcome, HF_CHECK_FAIL);
	assert_true(v->checks[0].value == 0.002 && v->checks[0].baseline == 0.001);
	assert_true(v->checks[0].threshold == 0.001);
	assert_string_equal(v->checks[0].rule, "max 0.001");
	assert_string_equal(v->checks[0].why, "above max 0.001");
	assert_true(isnan(v->checks[0].u) && isnan(v->checks[0].p));
	assert_string_equal(v->checks[1].metric, "latency_p99_ms");
	assert_int_equal(v->checks[1].outcome, HF_CHECK_PASS);
	assert_true(fabs(v->checks[1].threshold - 2.4) < 1e-9);
	assert_string_equal(v->checks[1].rule, "max 2x baseline");
	assert_string_equal(v->checks[1].why, "");

	/* No call: a traffic metric has no value, its check is n/a. */
	f.in.calls = 0;
	f.in.other_calls = 0;
	v = judge(&f);
	assert_int_equal(v->checks[0].outcome, HF_CHECK_NA);
	assert_true(isnan(v->checks[0].value));

	/* Canary versus control: U 200 over 10 and 20 values (see
	 * test_canary_worse), p below 0.01. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 10;
	f.in.value[HF_METRIC_LATENCY_P99] = 12.9;
	ten_intervals(&f, 12, 5, 0.1);
	v = judge(&f);
	assert_int_equal(v->checks[0].outcome, HF_CHECK_FAIL);
	assert_true(v->checks[0].u == 200 && v->checks[0].p < 0.01);

	/* A blind interval itemises nothing, but still names the nodes. */
	fx_init(&f);
	add_max(&f, "error_rate", 0.01);
	f.nodes[0].answered = 0;
	v = judge(&f);
	assert_int_equal(v->kind, HF_VERDICT_UNOBSERVABLE);
	assert_int_equal(v->nchecks, 0);
	assert_string_equal(v->nodes, "127.0.0.1:7000");
}

static void test_canary_equal(void **state)
{
	struct fx f;

	(void)state;
	/* The canary's values sit between the controls': 5.02 + 0.1 i
	 * against 5 + 0.1 i and 5.05 + 0.1 i. U counts the pairs with the
	 * canary above: for canary i, the first control of intervals 1 .. i
	 * and the second of 1 .. i - 1: sum(2 i - 1) = 100, half of 200: no
	 * effect. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 5.5;
	f.in.value[HF_METRIC_LATENCY_P99] = 6.1;
	ten_intervals(&f, 5.02, 5, 0.1);
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 6.100 ms");
}

static void test_canary_floor(void **state)
{
	struct fx f;

	(void)state;
	/* Every canary value (20.501 .. 20.510) above every control one
	 * (20.001 .. 20.0105), but the medians (20.506, 20.006) by 0.5 ms:
	 * below the 1 ms floor, a significant shift too small to roll back. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	ten_intervals(&f, 20.5, 20, 0.001);
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "latency_p99_ms 20.000 ms");
	/* By 1.5 ms it is not. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	ten_intervals(&f, 21.5, 20, 0.001);
	assert_int_equal(judge(&f)->kind, HF_VERDICT_FAIL);
	assert_contains(f.v.explain, "median 21.506 vs 20.006 over 10/20 samples, "
			"Mann-Whitney U 200");
}

static void test_canary_roles_and_sparse(void **state)
{
	struct fx f;
	long i;

	(void)state;
	/* A canary primary much slower than the replicas is not compared
	 * with them: roles differ in load. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	for (i = 1; i <= 10; i++) {
		add_sample(&f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, 12 + 0.1 * i);
		add_sample(&f, i, 0, 0, 100, HF_METRIC_LATENCY_P99, 1 + 0.1 * i);
		add_sample(&f, i, 0, 0, 100, HF_METRIC_LATENCY_P99, 1.05 + 0.1 * i);
	}
	f.in.interval = 10;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);

	/* Canary in intervals 1 .. 10, control in 11 .. 20: no interval has
	 * both, so load drifting between them proves nothing. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	for (i = 1; i <= 10; i++) {
		add_sample(&f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, 12 + 0.1 * i);
		add_sample(&f, i + 10, 0, 1, 100, HF_METRIC_LATENCY_P99, 1 + 0.1 * i);
		add_sample(&f, i + 10, 0, 1, 100, HF_METRIC_LATENCY_P99, 1.05 + 0.1 * i);
	}
	f.in.interval = 20;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);

	/* The canary alone and slow in intervals 1 .. 14, then both groups
	 * alike in 15 .. 20: only the latter compare, and they are alike
	 * (U = sum(2 i - 1) over six intervals = 36 of 72, as in
	 * test_canary_equal). */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	for (i = 1; i <= 14; i++)
		add_sample(&f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, 50 + 0.1 * i);
	for (i = 15; i <= 20; i++) {
		add_sample(&f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, 5.02 + 0.1 * i);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, 5 + 0.1 * i);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, 5.05 + 0.1 * i);
	}
	f.in.interval = 20;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
	/* Nor do the controls alone and fast in 1 .. 14. */
	for (i = 0; i < 14; i++) {
		f.hist[i].changed = 0;
		f.hist[i].v[HF_METRIC_LATENCY_P99] = 0.1;
	}
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);

	/* Sparse: the canary had traffic in 4 of the shared intervals only;
	 * 4 values are too few for the test to speak (HF_JUDGE_MW_MIN 5). */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	for (i = 1; i <= 10; i++) {
		int busy = i % 2 == 0 && i <= 8;   /* intervals 2, 4, 6, 8 */

		add_sample(&f, i, 1, 1, busy ? 100 : 0, HF_METRIC_LATENCY_P99,
			   busy ? 12 + 0.1 * i : NAN);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, 1 + 0.1 * i);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, 1.05 + 0.1 * i);
	}
	f.in.interval = 10;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
	/* A fifth (interval 10) and it speaks: U = 5 * 10 = 50, exact p =
	 * 1 / C(15, 5) = 3.3e-4 < 0.01. The samples counted are those of
	 * the five intervals with both: 5 and 10. */
	f.hist[27].calls = 100;
	f.hist[27].v[HF_METRIC_LATENCY_P99] = 13;
	assert_int_equal(f.hist[27].interval, 10);
	assert_int_equal(judge(&f)->kind, HF_VERDICT_FAIL);
	assert_contains(f.v.explain, "over 5/10 samples, Mann-Whitney U 50, p 0.0003");

	/* Intervals older than the window are forgotten: the same history,
	 * judged at interval 10 + HF_JUDGE_WINDOW, is empty. */
	f.in.interval = 10 + HF_JUDGE_WINDOW;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
}

/* Significance and size: the canary must be worse with p < 0.01 and with
 * P(canary > control) >= 0.8. */
static void test_canary_effect_and_p(void **state)
{
	/* Five intervals, one canary and one control value each. Canary
	 * {1.5, 12, 13, 14, 15} against {1, 2, 3, 4, 5}: U = 1 + 4 * 5 = 21,
	 * effect 0.84, but the exact one-sided p = P(U <= 4) = (1 + 1 + 2 + 3
	 * + 5) / C(10, 5) = 12 / 252 = 0.048: not significant. With 4.5 for
	 * 1.5, U = 24 and p = P(U <= 1) = 2 / 252 = 0.0079: it is. */
	static const double ctl[5] = { 1, 2, 3, 4, 5 };
	double can[5] = { 1.5, 12, 13, 14, 15 };
	struct fx f;
	long i;

	(void)state;
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	for (i = 1; i <= 5; i++) {
		add_sample(&f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, can[i - 1]);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, ctl[i - 1]);
	}
	f.in.interval = 5;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
	f.hist[0].v[HF_METRIC_LATENCY_P99] = 4.5;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_FAIL);
	assert_contains(f.v.explain, "median 13.000 vs 3.000 over 5/5 samples, Mann-Whitney U 24, "
			"p 0.0079, P(canary > control) 0.96");

	/* Twenty intervals: canary i + 5.5 against control i. U counts, for
	 * canary i, the controls j <= i + 5: i + 5 for i <= 15, 20 after:
	 * 195 + 100 = 295 of 400, effect 0.74: significant (z = 95 / 36.97
	 * = 2.57) but not large enough. With i + 10.5: 155 + 200 = 355,
	 * effect 0.89, and it fails. */
	fx_init(&f);
	add_ratio(&f, "latency_p99_ms", 2);
	f.baseline[HF_METRIC_LATENCY_P99] = 20;
	f.in.value[HF_METRIC_LATENCY_P99] = 20;
	for (i = 1; i <= 20; i++) {
		add_sample(&f, i, 1, 1, 100, HF_METRIC_LATENCY_P99, i + 5.5);
		add_sample(&f, i, 0, 1, 100, HF_METRIC_LATENCY_P99, i);
	}
	f.in.interval = 20;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);
	for (i = 0; i < 20; i++)
		f.hist[2 * i].v[HF_METRIC_LATENCY_P99] = i + 1 + 10.5;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_FAIL);
	assert_contains(f.v.explain, "over 20/20 samples, Mann-Whitney U 355, p 0.0000, "
			"P(canary > control) 0.89");
}

/* error_rate over intervals without a call is 0/0: what the sampler says
 * (hf_rate_error(0, 0) is 0) must not enter the comparison as a 0. */
static void test_canary_zero_heavy_error_rate(void **state)
{
	struct fx f;
	long i;

	(void)state;
	/* The canary runs at its usual 0.4% errors; the control primaries
	 * had no call at all. Taking their 0/0 as 0 made every canary value
	 * "worse" (U 200, medians 0.004 vs 0 > the 0.001 floor): a rollback
	 * for nothing. */
	fx_init(&f);
	add_ratio(&f, "error_rate", 2);
	f.baseline[HF_METRIC_ERROR_RATE] = 0.004;
	f.in.value[HF_METRIC_ERROR_RATE] = 0.004;
	for (i = 1; i <= 10; i++) {
		add_sample(&f, i, 1, 1, 1000, HF_METRIC_ERROR_RATE, 0.004 + 0.0001 * i);
		add_sample(&f, i, 0, 1, 0, HF_METRIC_ERROR_RATE, 0);
		add_sample(&f, i, 0, 1, 0, HF_METRIC_ERROR_RATE, 0);
	}
	f.in.interval = 10;
	assert_verdict(&f, HF_VERDICT_PASS, "pass on 1 changed node(s), 1000 calls: "
		       "error_rate 0.0040");
	/* Controls that did serve calls, without an error, are evidence:
	 * then the canary is worse. Medians: the 6th of 0.0041 .. 0.0050,
	 * 0.0046, printed 0.005, against 0. */
	for (i = 0; i < (long)f.in.nhistory; i++)
		f.hist[i].calls = 1000;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_FAIL);
	assert_contains(f.v.explain, "error_rate 0.0040 canary primaries worse than control in "
			"the same intervals: median 0.005 vs 0.000 over 10/20 samples");
}

/* Counters that are 0 most of the time are evidence all the same (no
 * eviction is a fact), and ties do not fool the test. */
static void test_canary_zero_heavy_counter(void **state)
{
	/* Two evictions in ten intervals on the canary, four in twenty on
	 * the controls: the same rate. */
	static const double canary[10] = { 0, 0, 1, 0, 0, 0, 0, 1, 0, 0 };
	static const double c1[10] = { 1, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	static const double c2[10] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 };
	struct fx f;
	long i;

	(void)state;
	fx_init(&f);
	add_ratio(&f, "evictions", 5);
	f.in.value[HF_METRIC_EVICTIONS] = 1;
	for (i = 1; i <= 10; i++) {
		add_sample(&f, i, 1, 1, 0, HF_METRIC_EVICTIONS, canary[i - 1]);
		add_sample(&f, i, 0, 1, 0, HF_METRIC_EVICTIONS, c1[i - 1]);
		add_sample(&f, i, 0, 1, 0, HF_METRIC_EVICTIONS, c2[i - 1]);
	}
	f.in.interval = 10;
	assert_int_equal(judge(&f)->kind, HF_VERDICT_PASS);

	/* Three evictions every interval against none: every value tied
	 * within its group, U = 200; normal approximation with the tie
	 * correction: var = 200 / 12 * (31 - (990 + 7980) / 870) = 344.8,
	 * z = (200 - 100 - 0.5) / 18.57 = 5.36, p ~ 4e-8. Medians 3 vs 0,
	 * more than the floor of 1; the ratio itself, max(3, 1) / max(0, 1)
	 * = 3x, is within 5x. */
	fx_init(&f);
	add_ratio(&f, "evictions", 5);
	f.in.value[HF_METRIC_EVICTIONS] = 3;
	for (i = 1; i <= 10; i++) {
		add_sample(&f, i, 1, 1, 0, HF_METRIC_EVICTIONS, 3);
		add_sample(&f, i, 0, 1, 0, HF_METRIC_EVICTIONS, 0);
		add_sample(&f, i, 0, 1, 0, HF_METRIC_EVICTIONS, 0);
	}
	f.in.interval = 10;
	assert_verdict(&f, HF_VERDICT_FAIL, "fail on 1 changed node(s), 1000 calls: "
		       "evictions 3.000 canary primaries worse than control in the same intervals: "
		       "median 3.000 vs 0.000 over 10/20 samples, Mann-Whitney U 200, p 0.0000, "
		       "P(canary > control) 1.00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metric_table),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_fail_max),
		cmocka_unit_test(test_fail_min),
		cmocka_unit_test(test_ratio_floors),
		cmocka_unit_test(test_every_floor),
		cmocka_unit_test(test_no_baseline),
		cmocka_unit_test(test_probe_error),
		cmocka_unit_test(test_unobservable_vs_fail),
		cmocka_unit_test(test_cluster_state),
		cmocka_unit_test(test_promql),
		cmocka_unit_test(test_promql_ratio_from_zero),
		cmocka_unit_test(test_zero_traffic_idle),
		cmocka_unit_test(test_zero_traffic_starved),
		cmocka_unit_test(test_canary_worse),
		cmocka_unit_test(test_verdict_checks),
		cmocka_unit_test(test_canary_equal),
		cmocka_unit_test(test_canary_floor),
		cmocka_unit_test(test_canary_roles_and_sparse),
		cmocka_unit_test(test_canary_effect_and_p),
		cmocka_unit_test(test_canary_zero_heavy_error_rate),
		cmocka_unit_test(test_canary_zero_heavy_counter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
