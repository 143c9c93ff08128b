/* Unit tests of the parts of planning that need no cluster: cutting the
 * ordered targets into waves, and the refusals made before any node is
 * asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/manifest.h"
#include "core/plan.h"

static struct hf_wave_spec count(long n, long long bake)
{
	struct hf_wave_spec w = { .count = n, .bake_ms = bake };

	return w;
}

static struct hf_wave_spec pct(double p)
{
	struct hf_wave_spec w = { .is_percent = 1, .percent = p };

	return w;
}

static void test_waves_design_example(void **state)
{
	struct hf_wave_spec spec[] = { count(1, 10000), pct(50), pct(100) };
	size_t wave_of[6], nwaves;
	struct hf_plan_wave *w;
	const size_t want[] = { 1, 2, 2, 3, 3, 3 };
	size_t i;

	(void)state;
	hf_plan_waves(spec, 3, 6, wave_of, &w, &nwaves);
	assert_int_equal(nwaves, 3);
	for (i = 0; i < 6; i++)
		assert_int_equal(wave_of[i], want[i]);
	assert_int_equal(w[0].nodes, 1);
	assert_int_equal(w[0].bake_ms, 10000);
	assert_int_equal(w[1].nodes, 2);
	assert_int_equal(w[2].nodes, 3);
	assert_false(w[2].implicit);
	free(w);
}

static void test_waves_round_up_and_skip(void **state)
{
	/* 10% of 7 rounds up to 1; 12% of 7 is still 1: skipped. */
	struct hf_wave_spec spec[] = { pct(10), pct(12), pct(100) };
	size_t wave_of[7], nwaves;
	struct hf_plan_wave *w;

	(void)state;
	hf_plan_waves(spec, 3, 7, wave_of, &w, &nwaves);
	assert_int_equal(nwaves, 3);
	assert_int_equal(w[0].nodes, 1);
	assert_true(w[1].skipped);
	assert_int_equal(w[1].nodes, 0);
	assert_int_equal(w[2].nodes, 6);
	assert_int_equal(wave_of[0], 1);
	assert_int_equal(wave_of[1], 3);
	free(w);
}

static void test_waves_implicit_rest(void **state)
{
	/* The waves stop at 2 of 5 targets: the rest gets a wave of its own. */
	struct hf_wave_spec spec[] = { count(1, 0), count(2, 0) };
	size_t wave_of[5], nwaves;
	struct hf_plan_wave *w;

	(void)state;
	hf_plan_waves(spec, 2, 5, wave_of, &w, &nwaves);
	assert_int_equal(nwaves, 3);
	assert_true(w[2].implicit);
	assert_int_equal(w[2].nodes, 3);
	assert_int_equal(wave_of[4], 3);
	free(w);
}

static void test_waves_more_than_targets(void **state)
{
	/* A count above the number of targets takes them all. */
	struct hf_wave_spec spec[] = { count(10, 0), pct(100) };
	size_t wave_of[2], nwaves;
	struct hf_plan_wave *w;

	(void)state;
	hf_plan_waves(spec, 2, 2, wave_of, &w, &nwaves);
	assert_int_equal(nwaves, 2);
	assert_int_equal(w[0].nodes, 2);
	assert_true(w[1].skipped);
	free(w);
}

static int parse(const char *yaml, struct hf_manifest **m)
{
	struct hf_err err = {0};

	return hf_manifest_parse("t.yaml", yaml, strlen(yaml), m, &err);
}

#define HEAD "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: t, version: 1, owner: o, problem: p}\n"

static void test_precheck_refuses(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(parse(HEAD "spec:\n  changes:\n    - config:\n        daemonize: 'yes'\n", &m), 0);
	assert_int_equal(hf_plan_precheck(m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml:7:9: parameter 'daemonize' cannot be changed"));
	hf_manifest_free(m);

	assert_int_equal(parse(HEAD "spec:\n  changes:\n    - config: {requirepass: x}\n", &m), 0);
	assert_int_equal(hf_plan_precheck(m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "cut hotfix off"));
	hf_manifest_free(m);

}

static void test_precheck_accepts(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(parse(HEAD "spec:\n  changes:\n    - config: {timeout: '1'}\n  guard: none\n", &m), 0);
	assert_int_equal(hf_plan_precheck(m, &err), 0);
	hf_manifest_free(m);
	/* Every metric the manifest knows, the guard computes. */
	assert_int_equal(parse(HEAD "spec:\n  changes:\n    - config: {timeout: '1'}\n"
			       "  guard:\n    checks:\n      - metric: error_rate\n        max: 0.01\n"
			       "      - metric: latency_p99_ms\n        max_ratio_to_baseline: 2\n"
			       "      - metric: probe_convergence_ms\n        max: 500\n"
			       "      - metric: replication_lag_bytes\n        max: 1000000\n", &m), 0);
	assert_int_equal(hf_plan_precheck(m, &err), 0);
	hf_manifest_free(m);
	/* A guard without checks gets the default checks: accepted. */
	assert_int_equal(parse(HEAD "spec:\n  changes:\n    - config: {timeout: '1'}\n"
			       "  guard: {interval: 2s}\n", &m), 0);
	assert_int_equal(hf_plan_precheck(m, &err), 0);
	hf_manifest_free(m);
}

/* The canary shard is the one the node waves take first: replicas first
 * (a shard without a replica comes after those with one), then by shard. */
static void test_shard_order(void **state)
{
	struct hf_node nodes[5] = {
		{ .id = "p0", .role = HF_ROLE_PRIMARY, .shard = 0 },
		{ .id = "p1", .role = HF_ROLE_PRIMARY, .shard = 1 },
		{ .id = "r1", .role = HF_ROLE_REPLICA, .shard = 1 },
		{ .id = "p2", .role = HF_ROLE_PRIMARY, .shard = 2 },
		{ .id = "r2", .role = HF_ROLE_REPLICA, .shard = 2 },
	};
	struct hf_cluster c = { .nodes = nodes, .nnodes = 5, .nshards = 3 };
	struct hf_manifest m = { .order = HF_ORDER_REPLICAS_FIRST };
	int order[3];

	(void)state;
	assert_int_equal(hf_plan_shard_order(&m, &c, order), 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 0);
	m.order = HF_ORDER_PRIMARIES_FIRST;
	assert_int_equal(hf_plan_shard_order(&m, &c, order), 3);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waves_design_example),
		cmocka_unit_test(test_waves_round_up_and_skip),
		cmocka_unit_test(test_waves_implicit_rest),
		cmocka_unit_test(test_waves_more_than_targets),
		cmocka_unit_test(test_precheck_refuses),
		cmocka_unit_test(test_precheck_accepts),
		cmocka_unit_test(test_shard_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
