/* Unit tests of the flag store's pure parts (key slots, the channel's
 * messages, client entries) and of libhotfix-flags without a cluster:
 * what a client answers before any document, contexts, buffers. The
 * store and the client against real servers: tests/integration/
 * test_flags_client.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/redis/flagstore.h"
#include "hotfix/flags.h"

static void test_key_slot(void **state)
{
	const char *doc = HF_FLAGSTORE_DOC;

	(void)state;
	/* As CLUSTER KEYSLOT answers on redis-server 7. */
	assert_int_equal(hf_key_slot("foo", 3), 12182);
	assert_int_equal(hf_key_slot(doc, strlen(doc)), 285);
	/* Every key of the store hashes its tag alone: one slot. */
	assert_int_equal(hf_key_slot(HF_FLAGSTORE_CLIENTS, strlen(HF_FLAGSTORE_CLIENTS)), 285);
	assert_int_equal(hf_key_slot(HF_FLAGSTORE_ACKS, strlen(HF_FLAGSTORE_ACKS)), 285);
	assert_int_equal(hf_key_slot("hotfix", 6), 285);
	/* An empty tag does not count: the whole key is hashed. */
	assert_int_equal(hf_key_slot("a{}b", 4), hf_key_slot("a{}b", 4));
	assert_int_not_equal(hf_key_slot("{}foo", 5), hf_key_slot("foo", 3));
	assert_int_equal(hf_key_slot("x{foo}y", 7), 12182);
}

static void test_message(void **state)
{
	long long v = -1, ms = -1;

	(void)state;
	assert_int_equal(hf_flagstore_parse_message("3 1700000000123", 15, &v, &ms), 0);
	assert_int_equal(v, 3);
	assert_int_equal(ms, 1700000000123LL);
	v = ms = -1;
	assert_int_equal(hf_flagstore_parse_message("3", 1, &v, &ms), HF_EINVAL);
	assert_int_equal(hf_flagstore_parse_message("x 1", 3, &v, &ms), HF_EINVAL);
	assert_int_equal(hf_flagstore_parse_message("0 1", 3, &v, &ms), HF_EINVAL);
	assert_int_equal(hf_flagstore_parse_message("-2 1", 4, &v, &ms), HF_EINVAL);
	assert_int_equal(hf_flagstore_parse_message("2 1 3", 5, &v, &ms), HF_EINVAL);
	assert_int_equal(hf_flagstore_parse_message("", 0, &v, &ms), HF_EINVAL);
	/* A failed parse leaves the out-parameters alone. */
	assert_int_equal(v, -1);
	assert_int_equal(ms, -1);
}

static void test_client_entry(void **state)
{
	struct hf_flagclient c;

	(void)state;
	assert_int_equal(hf_flagclient_parse("h:1:ab",
					     "{\"host\":\"h\",\"pid\":1,\"lib\":\"0.1.0\","
					     "\"started_ms\":5,\"seen_ms\":9}",
					     "4 12", &c), 0);
	assert_string_equal(c.id, "h:1:ab");
	assert_string_equal(c.host, "h");
	assert_string_equal(c.lib, "0.1.0");
	assert_int_equal(c.pid, 1);
	assert_int_equal(c.started_ms, 5);
	assert_int_equal(c.seen_ms, 9);
	assert_int_equal(c.applied_version, 4);
	assert_int_equal(c.applied_ms, 12);
	free(c.id);
	free(c.host);
	free(c.lib);

	/* An acknowledgement whose entry was pruned still names its client. */
	assert_int_equal(hf_flagclient_parse("gone", NULL, "2 7", &c), 0);
	assert_string_equal(c.host, "");
	assert_int_equal(c.applied_version, 2);
	free(c.id);
	free(c.host);
	free(c.lib);

	assert_int_equal(hf_flagclient_parse("bad", "[1]", "x", &c), HF_EINVAL);
	assert_string_equal(c.id, "bad");
	assert_int_equal(c.applied_version, 0);
	free(c.id);
	free(c.host);
	free(c.lib);
}

static void test_options(void **state)
{
	struct hf_flags_options o;
	struct hf_flags_client *c = NULL;
	char err[256];

	(void)state;
	hf_flags_options_init(&o);
	assert_int_equal(o.poll_ms, 1000);
	assert_int_equal(o.stale_ms, 5000);
	assert_int_equal(hf_flags_client_new(&o, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "no cluster URI given");
	o.uri = "mongodb://127.0.0.1";
	assert_int_equal(hf_flags_client_new(&o, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "only redis:// and rediss:// URIs"));
	o.uri = "redis://127.0.0.1:1";
	o.poll_ms = 0;
	assert_int_equal(hf_flags_client_new(&o, &c, err, sizeof(err)), -1);
	assert_null(c);
}

/* Before any document (nothing listens on port 1): the caller's default,
 * PROVIDER_NOT_READY, and the reason kept for hf_flags_last_error(). */
static void test_not_ready(void **state)
{
	struct hf_flags_options o;
	struct hf_flags_client *c;
	struct hf_flags_details d;
	char buf[4], err[256];
	int i;

	(void)state;
	hf_flags_options_init(&o);
	o.uri = "redis://127.0.0.1:1";
	o.id = "unit";
	assert_int_equal(hf_flags_client_new(&o, &c, err, sizeof(err)), 0);
	assert_string_equal(hf_flags_client_id(c), "unit");
	assert_int_equal(hf_flags_bool(c, "any", NULL, 1, &d), 1);
	assert_int_equal(d.reason, HF_FLAGS_ERROR);
	assert_int_equal(d.error, HF_FLAGS_ERR_PROVIDER_NOT_READY);
	assert_int_equal(d.source, HF_FLAGS_FROM_CALLER);
	assert_int_equal(d.version, 0);
	assert_int_equal(hf_flags_int(c, "any", NULL, 7, NULL), 7);
	assert_true(hf_flags_double(c, "any", NULL, 2.5, NULL) == 2.5);
	/* Truncated as snprintf does, the whole length returned. */
	assert_int_equal(hf_flags_string(c, "any", NULL, "abcdef", buf, sizeof(buf), &d), 6);
	assert_string_equal(buf, "abc");
	assert_int_equal(hf_flags_object(c, "any", NULL, "{}", buf, sizeof(buf), &d), 2);
	assert_string_equal(buf, "{}");
	assert_int_equal(hf_flags_json(c, "any", NULL, buf, sizeof(buf), &d), 4);
	assert_string_equal(buf, "nul");
	assert_int_equal(hf_flags_wait(c, 0, 10), 0);
	/* The thread's first attempt fails at once; bounded, not timed. */
	for (i = 0; i < 1000 && !hf_flags_last_error(c, err, sizeof(err)); i++)
		hf_flags_wait(c, 0, 10);
	assert_non_null(strstr(err, "127.0.0.1:1"));
	assert_string_equal(hf_flags_reason_name(HF_FLAGS_STALE), "STALE");
	assert_string_equal(hf_flags_error_name(HF_FLAGS_ERR_PROVIDER_NOT_READY),
			    "PROVIDER_NOT_READY");
	hf_flags_client_free(c);
}

static void test_context(void **state)
{
	struct hf_flags_ctx *x;
	char err[256];

	(void)state;
	assert_null(hf_flags_ctx_from_json("[1]", err, sizeof(err)));
	assert_non_null(strstr(err, "not a JSON object"));
	assert_null(hf_flags_ctx_from_json("{", err, sizeof(err)));
	x = hf_flags_ctx_from_json("{\"targetingKey\":\"u1\",\"n\":{\"a\":[1,2]}}", err, sizeof(err));
	assert_non_null(x);
	assert_int_equal(hf_flags_ctx_set_string(x, "plan", "pro"), 0);
	assert_int_equal(hf_flags_ctx_set_number(x, "age", 42), 0);
	assert_int_equal(hf_flags_ctx_set_bool(x, "beta", 1), 0);
	assert_int_equal(hf_flags_ctx_set_string(x, "plan", "free"), 0);
	hf_flags_ctx_free(x);
	x = hf_flags_ctx_new();
	assert_non_null(x);
	hf_flags_ctx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_slot),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_client_entry),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_not_ready),
		cmocka_unit_test(test_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
