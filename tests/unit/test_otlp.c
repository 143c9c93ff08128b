/* Unit tests for the spans of a run as OTLP JSON (notify/otlp.c): the ids,
 * the collector's URL, the shape of an ExportTraceServiceRequest, the
 * tree of spans, their times, attributes and statuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "notify/otlp.h"
#include "util/misc.h"

/* A run of two waves: one step in wave 1 (verified, with a passing
 * verdict), two in wave 2 (one verified, one in conflict, and a failing
 * verdict), and a third wave never started. */
static struct hf_run run = {
	.id = "20260101-000000-abcd", .hotfix = "fix", .version = 7, .cluster = "redis://h:1",
	.state = HF_RUN_ROLLED_BACK, .created_ms = 1000, .updated_ms = 9000,
	.note = "rolled back by the guard", .operator = "me",
};
static struct hf_step steps[] = {
	{ .seq = 1, .wave = 1, .node_id = "n1", .addr = "127.0.0.1:7001", .role = "primary",
	  .shard = 0, .state = HF_STEP_VERIFIED, .updated_ms = 2500 },
	{ .seq = 2, .wave = 2, .node_id = "n2", .addr = "127.0.0.1:7002", .role = "primary",
	  .shard = 1, .state = HF_STEP_VERIFIED, .updated_ms = 5000 },
	{ .seq = 3, .wave = 2, .node_id = "n3", .addr = "127.0.0.1:7003", .role = "replica",
	  .shard = 2, .state = HF_STEP_CONFLICT, .updated_ms = 5200, .error = "changed since" },
	{ .seq = 4, .wave = 3, .node_id = "n4", .addr = "127.0.0.1:7004", .role = "replica",
	  .shard = 0, .state = HF_STEP_PLANNED, .updated_ms = 1000 },
};
static const char *const kinds[] = { "config", "config", "acl", "config" };
static struct hf_event events[] = {
	{ .ts_ms = 1000, .kind = "run", .message = "run started", .seq = 10 },
	{ .ts_ms = 2000, .kind = "wave", .message = "wave 1/3: 1 node(s)", .seq = 11 },
	{ .ts_ms = 3000, .kind = "verdict", .message = "pass on 1 changed node(s)", .seq = 12 },
	{ .ts_ms = 4000, .kind = "wave", .message = "wave 2/3: 2 node(s)", .seq = 13 },
	{ .ts_ms = 6000, .kind = "verdict", .message = "fail on 2 changed node(s)", .seq = 14 },
	{ .ts_ms = 7000, .kind = "rollback", .message = "rolling back", .seq = 15 },
};

static json_t *export(int from, int to, int root)
{
	struct hf_otlp_input in = { .run = &run, .steps = steps, .nsteps = 4, .kinds = kinds,
				    .events = events, .nevents = 6 };
	char *s = hf_otlp_export(&in, from, to, root);
	json_t *doc;

	assert_non_null(s);
	doc = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(doc);
	return doc;
}

static json_t *spans_of(json_t *doc)
{
	json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);

	return json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
}

/* The value of attribute 'key' of span 'sp' ('type' its value's field). */
static json_t *attr(json_t *sp, const char *key, const char *type)
{
	size_t i;
	json_t *a;

	json_array_foreach(json_object_get(sp, "attributes"), i, a)
		if (!strcmp(json_string_value(json_object_get(a, "key")), key))
			return json_object_get(json_object_get(a, "value"), type);
	return NULL;
}

static json_t *span_named(json_t *spans, const char *name, size_t nth)
{
	size_t i;
	json_t *sp;

	json_array_foreach(spans, i, sp)
		if (!strcmp(json_string_value(json_object_get(sp, "name")), name) && !nth--)
			return sp;
	return NULL;
}

static void test_ids(void **state)
{
	char t1[33], t2[33], s1[17], s2[17], hex[65];

	(void)state;
	hf_otlp_trace_id("run-a", t1);
	hf_otlp_trace_id("run-a", t2);
	assert_string_equal(t1, t2);
	assert_int_equal(strlen(t1), 32);
	hf_sha256_hex("run-a", 5, hex);
	assert_memory_equal(t1, hex, 32);
	hf_otlp_trace_id("run-b", t2);
	assert_string_not_equal(t1, t2);
	hf_otlp_span_id("run-a", "wave/1", s1);
	hf_otlp_span_id("run-a", "wave/2", s2);
	assert_int_equal(strlen(s1), 16);
	assert_string_not_equal(s1, s2);
	hf_otlp_span_id("run-a", "wave/1", s2);
	assert_string_equal(s1, s2);
}

static void test_url(void **state)
{
	char *u;

	(void)state;
	u = hf_otlp_url("http://c:4318");
	assert_string_equal(u, "http://c:4318/v1/traces");
	free(u);
	u = hf_otlp_url("http://c:4318/");
	assert_string_equal(u, "http://c:4318/v1/traces");
	free(u);
	u = hf_otlp_url("https://c/otel/v1/traces");
	assert_string_equal(u, "https://c/otel/v1/traces");
	free(u);
}

static void test_request_shape(void **state)
{
	json_t *doc = export(1, 3, 1), *rs, *res, *scope;

	(void)state;
	rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
	res = json_array_get(json_object_get(json_object_get(rs, "resource"), "attributes"), 0);
	assert_string_equal(json_string_value(json_object_get(res, "key")), "service.name");
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "value"),
							     "stringValue")), "hotfix");
	scope = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "scope");
	assert_string_equal(json_string_value(json_object_get(scope, "name")), "hotfix");
	/* The run, two waves (the third never started), three steps, two
	 * verdicts. */
	assert_int_equal(json_array_size(spans_of(doc)), 1 + 2 + 3 + 2);
	assert_null(span_named(spans_of(doc), "wave", 2));
	json_decref(doc);
}

static void test_tree_and_times(void **state)
{
	json_t *doc = export(1, 3, 1), *spans = spans_of(doc), *root, *w1, *w2, *sp;
	const char *rid;
	size_t i;

	(void)state;
	root = span_named(spans, "run", 0);
	w1 = span_named(spans, "wave", 0);
	w2 = span_named(spans, "wave", 1);
	rid = json_string_value(json_object_get(root, "spanId"));
	assert_string_equal(json_string_value(json_object_get(root, "parentSpanId")), "");
	assert_string_equal(json_string_value(json_object_get(w1, "parentSpanId")), rid);
	assert_string_equal(json_string_value(json_object_get(w2, "parentSpanId")), rid);
	assert_string_equal(json_string_value(json_object_get(span_named(spans, "step", 0), "parentSpanId")),
			    json_string_value(json_object_get(w1, "spanId")));
	assert_string_equal(json_string_value(json_object_get(span_named(spans, "verdict", 1), "parentSpanId")),
			    json_string_value(json_object_get(w2, "spanId")));
	json_array_foreach(spans, i, sp) {
		const char *st = json_string_value(json_object_get(sp, "startTimeUnixNano"));
		const char *en = json_string_value(json_object_get(sp, "endTimeUnixNano"));

		assert_non_null(st);
		assert_non_null(en);
		assert_true(strtoll(en, NULL, 10) >= strtoll(st, NULL, 10));
		assert_int_equal(strlen(json_string_value(json_object_get(sp, "traceId"))), 32);
	}
	assert_string_equal(json_string_value(json_object_get(root, "startTimeUnixNano")), "1000000000");
	assert_string_equal(json_string_value(json_object_get(root, "endTimeUnixNano")), "9000000000");
	/* Wave 2: from its event to the latest event before another wave
	 * (here the rollback). */
	assert_string_equal(json_string_value(json_object_get(w2, "startTimeUnixNano")), "4000000000");
	assert_string_equal(json_string_value(json_object_get(w2, "endTimeUnixNano")), "7000000000");
	/* A step lasts from its wave's start to its latest state. */
	sp = span_named(spans, "step", 1);
	assert_string_equal(json_string_value(json_object_get(sp, "startTimeUnixNano")), "4000000000");
	assert_string_equal(json_string_value(json_object_get(sp, "endTimeUnixNano")), "5000000000");
	json_decref(doc);
}

static void test_attributes_and_status(void **state)
{
	json_t *doc = export(1, 3, 1), *spans = spans_of(doc), *root, *st, *v;

	(void)state;
	root = span_named(spans, "run", 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "status"), "code")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(root, "status"), "message")),
			    "rolled back by the guard");
	assert_string_equal(json_string_value(attr(root, "hotfix.outcome", "stringValue")), "rolled_back");
	assert_string_equal(json_string_value(attr(root, "hotfix.name", "stringValue")), "fix");
	assert_string_equal(json_string_value(attr(root, "hotfix.version", "intValue")), "7");
	st = span_named(spans, "step", 2);
	assert_string_equal(json_string_value(attr(st, "hotfix.node.address", "stringValue")),
			    "127.0.0.1:7003");
	assert_string_equal(json_string_value(attr(st, "hotfix.shard", "intValue")), "2");
	assert_string_equal(json_string_value(attr(st, "hotfix.kind", "stringValue")), "acl");
	assert_string_equal(json_string_value(attr(st, "hotfix.outcome", "stringValue")), "conflict");
	assert_true(json_is_false(attr(st, "hotfix.persisted", "boolValue")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "status"), "code")), 2);
	v = span_named(spans, "verdict", 0);
	assert_string_equal(json_string_value(attr(v, "hotfix.outcome", "stringValue")), "pass");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "status"), "code")), 1);
	v = span_named(spans, "verdict", 1);
	assert_string_equal(json_string_value(attr(v, "hotfix.outcome", "stringValue")), "fail");
	json_decref(doc);
}

static void test_batches(void **state)
{
	struct hf_otlp_input in = { .run = &run, .steps = steps, .nsteps = 4, .kinds = kinds,
				    .events = events, .nevents = 6 };
	json_t *doc;

	(void)state;
	/* Wave 1's batch: its span, its step, its verdict; no run span. */
	doc = export(1, 1, 0);
	assert_int_equal(json_array_size(spans_of(doc)), 3);
	assert_null(span_named(spans_of(doc), "run", 0));
	json_decref(doc);
	/* Nothing to send: an unstarted wave and no root. */
	assert_null(hf_otlp_export(&in, 3, 3, 0));
	assert_null(hf_otlp_export(&in, 2, 1, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_tree_and_times),
		cmocka_unit_test(test_attributes_and_status),
		cmocka_unit_test(test_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
