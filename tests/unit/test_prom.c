/* Unit tests of src/core/prom.c's reading of Prometheus' answers, and of
 * util/tpl.c's PromQL quoting: bodies as /api/v1/query writes them. The
 * queries themselves are tested against a real Prometheus
 * (tests/integration/test_guard_prometheus.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/prom.h"
#include "util/tpl.h"

static void parse(const char *body, struct hf_prom_result *r)
{
	memset(r, 0x5a, sizeof(*r));
	hf_prom_parse(body, strlen(body), r);
}

static void test_vector(void **state)
{
	struct hf_prom_result r;

	(void)state;
	parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
	      "{\"metric\":{\"instance\":\"127.0.0.1:2379\"},\"value\":[1764460000.5,\"1\"]},"
	      "{\"metric\":{\"instance\":\"127.0.0.1:2380\"},\"value\":[1764460000.5,\"0.25\"]},"
	      "{\"metric\":{},\"value\":[1764460000.5,\"NaN\"]},"
	      "{\"metric\":{},\"value\":[1764460000.5,\"+Inf\"]}]}}", &r);
	assert_true(r.ok);
	/* NaN is no value; +Inf is one. */
	assert_int_equal(r.n, 3);
	assert_true(r.v[0] == 1 && r.v[1] == 0.25 && r.v[2] > 1e308);
	hf_prom_result_release(&r);

	parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", &r);
	assert_true(r.ok);
	assert_int_equal(r.n, 0);
	hf_prom_result_release(&r);
}

static void test_scalar(void **state)
{
	struct hf_prom_result r;

	(void)state;
	parse("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
	      "\"result\":[1764460000,\"42\"]}}", &r);
	assert_true(r.ok);
	assert_int_equal(r.n, 1);
	assert_true(r.v[0] == 42);
	hf_prom_result_release(&r);
}

static void test_errors(void **state)
{
	static const struct { const char *body, *why; } cases[] = {
		{ "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:5: parse error: "
		  "unexpected <EOF>\"}", "Prometheus: 1:5: parse error: unexpected <EOF>" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}",
		  "the result is a matrix, not a number per node" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"a\"]}}",
		  "the result is a string" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
		  "[{\"value\":[1,\"x1\"]}]}}", "a vector sample that is no" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
		  "[{\"value\":[1,2]}]}}", "a vector sample that is no" },
		{ "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1]}}",
		  "a scalar that is no" },
		{ "{\"status\":\"success\",\"data\":{}}", "no data.resultType" },
		{ "<html>502 Bad Gateway</html>", "not Prometheus' JSON" },
		{ "", "not Prometheus' JSON" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct hf_prom_result r;

		parse(cases[i].body, &r);
		if (r.ok || !strstr(r.why, cases[i].why))
			fail_msg("case %zu: ok %d, why '%s', expected '%s'", i, r.ok, r.why,
				 cases[i].why);
		assert_null(r.v);
	}
}

static const char *label(const void *ctx, const char *key)
{
	(void)ctx;
	return !strcmp(key, "dc") ? "eu\"west\\1" : NULL;
}

static void test_render(void **state)
{
	struct hf_tpl_vars v = { .id = "m1", .host = "127.0.0.1", .port = "2379", .role = "primary",
				 .group = "main", .node = "127.0.0.1:2379", .label = label };
	char *s;
	size_t at = 0, n = 0;

	(void)state;
	s = hf_tpl_render("up{instance=\"{host}:{port}\",dc=\"{labels.dc}\",x=\"{labels.no}\"}",
			  &v, HF_TPL_PROMQL);
	assert_string_equal(s, "up{instance=\"127.0.0.1:2379\",dc=\"eu\\\"west\\\\1\",x=\"\"}");
	free(s);
	s = hf_tpl_render("echo {id} {node} ${HOME} {labels.dc} '{print $2}'", &v, HF_TPL_SHELL);
	assert_string_equal(s, "echo 'm1' '127.0.0.1:2379' ${HOME} 'eu\"west\\1' '{print $2}'");
	free(s);
	/* PromQL's own braces are not placeholders; a lower-case word is. */
	assert_false(hf_tpl_bad_word("rate(x{job=\"a\"}[5m]) > {node}", 0, &at, &n));
	assert_true(hf_tpl_bad_word("x{instance=\"{nod}\"}", 0, &at, &n));
	assert_int_equal(at, 13);
	assert_int_equal(n, 3);
	assert_true(hf_tpl_bad_word("{side}", 0, &at, &n));
	assert_false(hf_tpl_bad_word("{side}", HF_TPL_SIDE, &at, &n));
	assert_true(hf_tpl_bad_word("{key}", HF_TPL_SIDE, &at, &n));
	assert_false(hf_tpl_bad_word("get {key}", HF_TPL_KEY, &at, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_scalar),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
