/* The flag evaluator's promise to the client library of issue 12: an
 * evaluation never allocates. Allocations are counted
 * (tests/common/alloc_count.h) while every kind of rule is evaluated;
 * under ASan, whose runtime owns malloc, the count is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flags/flags.h"

#include "../common/alloc_count.h"

static const char doc_text[] =
	"{\"$evaluators\": {\"internal\": {\"ends_with\": [{\"var\": \"email\"}, \"@example.com\"]}},"
	" \"flags\": {"
	"  \"static\": {\"state\": \"ENABLED\", \"variants\": {\"on\": true, \"off\": false},"
	"   \"defaultVariant\": \"on\"},"
	"  \"rule\": {\"state\": \"ENABLED\", \"variants\": {\"on\": true, \"off\": false},"
	"   \"defaultVariant\": \"off\", \"targeting\": {\"if\": [{\"and\": [{\"$ref\": \"internal\"},"
	"   {\"in\": [{\"var\": \"plan\"}, [\"pro\", \"x\"]]}]}, \"on\", {\">=\": [18, {\"var\": \"age\"}, 99]},"
	"   \"on\", {\"sem_ver\": [{\"var\": \"version\"}, \"^\", \"1.0.0\"]}, \"on\", \"off\"]}},"
	"  \"strings\": {\"state\": \"ENABLED\", \"variants\": {\"pro-u\": 1, \"x\": 2},"
	"   \"defaultVariant\": \"x\", \"targeting\": {\"cat\": [{\"var\": \"plan\"}, \"-\","
	"   {\"substr\": [{\"var\": \"email\"}, 0, 1]}]}},"
	"  \"frac\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1, \"b\": 2}, \"defaultVariant\": \"a\","
	"   \"targeting\": {\"fractional\": [[\"a\", 1], [\"b\", 999]]}},"
	"  \"frac-dyn\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1, \"b\": 2}, \"defaultVariant\": \"a\","
	"   \"targeting\": {\"fractional\": [{\"var\": \"email\"}, [\"a\", {\"var\": \"age\"}], [\"b\", 50]]}}"
	" }}";

static void test_eval_allocates_nothing(void **state)
{
	static const char *keys[] = { "static", "rule", "strings", "frac", "frac-dyn", "none" };
	struct hf_flagdoc *doc = NULL;
	struct hf_err err = {0};
	struct hf_fkv attrs[5] = {
		{ "targetingKey", 12, { .type = HF_FV_STR, .len = 6, .u.s = "user-1" } },
		{ "email", 5, { .type = HF_FV_STR, .len = 13, .u.s = "u@example.com" } },
		{ "plan", 4, { .type = HF_FV_STR, .len = 3, .u.s = "pro" } },
		{ "age", 3, { .type = HF_FV_NUM, .u.n = 30 } },
		{ "version", 7, { .type = HF_FV_STR, .len = 5, .u.s = "1.4.2" } },
	};
	struct hf_flagctx ctx = { attrs, 5, 1800000000 };
	struct hf_flagresult res;
	long before, matched = 0;
	size_t i;
	int round;

	(void)state;
	if (!ALLOC_COUNTING)
		skip();
	assert_int_equal(hf_flagdoc_parse("n.json", doc_text, strlen(doc_text), 0, &doc, &err), 0);
	before = alloc_count;
	for (round = 0; round < 100; round++) {
		attrs[3].v.u.n = round;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			hf_flagdoc_eval(doc, keys[i], strlen(keys[i]), &ctx, HF_FLAG_ANY, NULL, &res);
			matched += res.reason == HF_REASON_TARGETING_MATCH;
		}
	}
	assert_int_equal(alloc_count - before, 0);
	/* The rules did run: rule, strings, frac and frac-dyn matched. */
	assert_int_equal(matched, 400);
	hf_flagdoc_unref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_allocates_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
