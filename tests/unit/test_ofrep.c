/* Unit tests of OFREP without HTTP or Redis (src/serve/ofrep.c and the
 * snapshots of flagfeed.c): answers and their statuses, the flags that
 * need a targeting key (through $ref too), metadata, the bulk answer's
 * entity tag and If-None-Match, and the answers without a document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serve/serve.h"

static const char doc[] =
	"{\"metadata\":{\"team\":\"t\"},\"$evaluators\":{\"split\":{\"fractional\":[[\"a\",50],[\"b\",50]]}},"
	"\"flags\":{"
	"\"b\":{\"state\":\"ENABLED\",\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"on\","
	"\"metadata\":{\"team\":\"u\",\"n\":1}},"
	"\"ref\":{\"state\":\"ENABLED\",\"variants\":{\"a\":\"a\",\"b\":\"b\"},\"defaultVariant\":\"a\","
	"\"targeting\":{\"if\":[true,{\"$ref\":\"split\"}]}},"
	"\"byattr\":{\"state\":\"ENABLED\",\"variants\":{\"a\":\"a\",\"b\":\"b\"},\"defaultVariant\":\"a\","
	"\"targeting\":{\"fractional\":[{\"var\":\"email\"},[\"a\",50],[\"b\",50]]}},"
	"\"broken\":{\"state\":\"ENABLED\",\"variants\":{\"a\":\"a\"},\"defaultVariant\":\"a\","
	"\"targeting\":{\"no_such_op\":[1]}},"
	"\"off\":{\"state\":\"DISABLED\",\"variants\":{\"a\":\"a\"},\"defaultVariant\":\"a\"}}}";

static struct hf_ofrep_snap *snap(void)
{
	struct hf_err err = {0};
	struct hf_ofrep_snap *s = hf_ofrep_snap_new(doc, 7, &err);

	if (!s)
		fail_msg("%s", err.msg);
	return s;
}

/* Evaluate 'key' for 'body'; the status, the answer in '*out'. */
static int eval(struct hf_ofrep_snap *s, const char *key, const char *body, json_t **out)
{
	return hf_ofrep_eval(s, 0, "why", key, body, strlen(body), out);
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void test_success_and_metadata(void **state)
{
	struct hf_ofrep_snap *s = snap();
	json_t *o = NULL;

	(void)state;
	assert_int_equal(eval(s, "b", "{\"context\":{}}", &o), 200);
	assert_true(json_is_true(json_object_get(o, "value")));
	assert_string_equal(str(o, "variant"), "on");
	assert_string_equal(str(o, "reason"), "STATIC");
	/* The flag's metadata over the document's. */
	assert_string_equal(str(json_object_get(o, "metadata"), "team"), "u");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "metadata"), "n")), 1);
	json_decref(o);
	hf_ofrep_snap_unref(s);
}

static void test_errors(void **state)
{
	struct hf_ofrep_snap *s = snap();
	json_t *o = NULL;

	(void)state;
	assert_int_equal(eval(s, "nope", "{}", &o), 404);
	assert_string_equal(str(o, "errorCode"), "FLAG_NOT_FOUND");
	assert_string_equal(str(o, "key"), "nope");
	json_decref(o);
	assert_int_equal(eval(s, "off", "{}", &o), 404);
	assert_string_equal(str(o, "errorCode"), "FLAG_NOT_FOUND");
	json_decref(o);
	assert_int_equal(eval(s, "broken", "{}", &o), 400);
	assert_string_equal(str(o, "errorCode"), "PARSE_ERROR");
	json_decref(o);
	assert_int_equal(eval(s, "b", "{\"context\":", &o), 400);
	assert_string_equal(str(o, "errorCode"), "PARSE_ERROR");
	json_decref(o);
	assert_int_equal(eval(s, "b", "{\"context\":[]}", &o), 400);
	assert_string_equal(str(o, "errorCode"), "INVALID_CONTEXT");
	json_decref(o);
	/* A split by the targeting key, through a $ref, needs one; a split
	 * by another attribute does not. */
	assert_int_equal(eval(s, "ref", "{\"context\":{\"x\":1}}", &o), 400);
	assert_string_equal(str(o, "errorCode"), "TARGETING_KEY_MISSING");
	json_decref(o);
	assert_int_equal(eval(s, "ref", "{\"context\":{\"targetingKey\":\"k\"}}", &o), 200);
	json_decref(o);
	assert_int_equal(eval(s, "byattr", "{\"context\":{\"email\":\"e\"}}", &o), 200);
	json_decref(o);
	hf_ofrep_snap_unref(s);
}

static void test_no_document(void **state)
{
	struct hf_err err = {0};
	struct hf_ofrep_snap *empty = hf_ofrep_snap_new(NULL, 0, &err);
	json_t *o = NULL;
	char etag[64];

	(void)state;
	/* Not read yet: 500 GENERAL with the reason. */
	assert_int_equal(hf_ofrep_eval(NULL, 0, "unreachable", "b", "", 0, &o), 500);
	assert_string_equal(str(o, "errorCode"), "GENERAL");
	assert_string_equal(str(o, "errorDetails"), "unreachable");
	json_decref(o);
	assert_int_equal(hf_ofrep_bulk(NULL, 0, "unreachable", "", 0, NULL, etag, &o), 500);
	assert_null(json_object_get(o, "key"));
	json_decref(o);
	/* No cluster, or nothing published: no flag. */
	assert_int_equal(hf_ofrep_eval(NULL, 1, "no --cluster", "b", "", 0, &o), 404);
	json_decref(o);
	assert_int_equal(hf_ofrep_eval(empty, 0, "", "b", "", 0, &o), 404);
	json_decref(o);
	assert_int_equal(hf_ofrep_bulk(empty, 0, "", "", 0, NULL, etag, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "flags")), 0);
	assert_true(!strncmp(etag, "\"0-", 3));
	json_decref(o);
	hf_ofrep_snap_unref(empty);
}

static void test_bulk_etag(void **state)
{
	struct hf_ofrep_snap *s = snap();
	const char *a = "{\"context\":{\"targetingKey\":\"k\",\"x\":1}}";
	const char *b = "{\"context\":{\"x\":1,\"targetingKey\":\"k\"}}";
	char e1[64], e2[64], inm[160];
	json_t *o = NULL;

	(void)state;
	assert_int_equal(hf_ofrep_bulk(s, 0, "", a, strlen(a), NULL, e1, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "flags")), 5);
	json_decref(o);
	assert_true(!strncmp(e1, "\"7-", 3));
	/* The same context in another order: the same tag, 304, no body. */
	assert_int_equal(hf_ofrep_bulk(s, 0, "", b, strlen(b), e1, e2, &o), 304);
	assert_null(o);
	assert_string_equal(e1, e2);
	/* In a list, weak, or '*'. */
	snprintf(inm, sizeof(inm), "\"x\", W/%s", e1);
	assert_int_equal(hf_ofrep_bulk(s, 0, "", a, strlen(a), inm, e2, &o), 304);
	assert_int_equal(hf_ofrep_bulk(s, 0, "", a, strlen(a), "*", e2, &o), 304);
	/* Another context: another tag. */
	assert_int_equal(hf_ofrep_bulk(s, 0, "", "{}", 2, e1, e2, &o), 200);
	assert_string_not_equal(e1, e2);
	json_decref(o);
	/* A tag that is a prefix of ours does not match. */
	snprintf(inm, sizeof(inm), "%.*s", (int)strlen(e1) - 2, e1);
	assert_int_equal(hf_ofrep_bulk(s, 0, "", a, strlen(a), inm, e2, &o), 200);
	json_decref(o);
	hf_ofrep_snap_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_and_metadata),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_no_document),
		cmocka_unit_test(test_bulk_etag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
