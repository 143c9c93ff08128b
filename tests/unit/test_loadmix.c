/* Unit tests of the load generator's command mix (engine/redis/loadmix.c)
 * and the profile reader (engine/redis/profile.c): commands replayed as
 * themselves or folded by type and kind, the checked SETs' least share,
 * size draws between percentiles, each op's RESP, and profiles refused
 * with their file's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "engine/redis/loadmix.h"
#include "engine/redis/profile.h"

static void test_fold(void **state)
{
	struct hf_load_mix m = {0};
	static const struct { const char *name, *kind, *to; } cases[] = {
		{ "hmget", "read", "hget" }, { "hsetnx", "write", "hset" },
		{ "hincrbyfloat", "write", "hincrby" }, { "rpoplpush", "write", "lpop" },
		{ "lindex", "read", "lrange" }, { "ltrim", "write", "lpop" },
		{ "setnx", "write", "set" }, { "strlen", "read", "get" },
		{ "spop", "write", "srem" }, { "smismember", "read", "sismember" },
		{ "zrangebyscore", "read", "zrange" }, { "geoadd", "write", "zadd" },
		{ "decrby", "write", "incr" }, { "xadd", "write", "set" }, { "mget", "read", "get" },
		{ "unlink", "write", "del" }, { "pexpire", "write", "expire" },
		{ "persist", "write", "expire" },
		{ "eval", "other", "get/set" }, { "unknown", NULL, "get/set" },
	};
	size_t i;

	(void)state;
	hf_load_mix_add(&m, "hget", "read", 0.5, 0.5);
	assert_int_equal(m.nfolded, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hf_load_mix_add(&m, cases[i].name, cases[i].kind, 0.01, 0.5);
		assert_int_equal(m.nfolded, i + 1);
		assert_string_equal(m.folded[i].from, cases[i].name);
		assert_string_equal(m.folded[i].to, cases[i].to);
	}
	hf_load_mix_release(&m);
}

static void test_effective(void **state)
{
	struct hf_load_mix m = {0};
	double share[HF_LOAD_NOPS], sum = 0;
	int i;

	(void)state;
	assert_int_equal(hf_load_mix_effective(&m, 0, share), 0);
	hf_load_mix_add(&m, "hget", "read", 3, 0.5);
	hf_load_mix_add(&m, "hset", "write", 1, 0.5);
	assert_int_equal(hf_load_mix_effective(&m, 0, share), 1);
	assert_float_equal(share[HF_OP_HGET], 0.75, 1e-9);
	assert_float_equal(share[HF_OP_SET], 0, 1e-9);
	assert_int_equal(hf_load_mix_effective(&m, 1, share), 1);
	assert_float_equal(share[HF_OP_SET], HF_LOAD_CHECK_SHARE, 1e-9);
	assert_float_equal(share[HF_OP_HGET], 0.75 * 0.9, 1e-9);
	for (i = 0; i < HF_LOAD_NOPS; i++)
		sum += share[i];
	assert_float_equal(sum, 1, 1e-9);
	hf_load_mix_release(&m);
}

static void test_dist(void **state)
{
	struct hf_load_dist d = { 3, { 0, 0.5, 1 }, { 10, 20, 100 } }, none = {0};

	(void)state;
	assert_float_equal(hf_load_dist_at(&d, 0, -1), 10, 1e-9);
	assert_float_equal(hf_load_dist_at(&d, 0.25, -1), 15, 1e-9);
	assert_float_equal(hf_load_dist_at(&d, 0.75, -1), 60, 1e-9);
	assert_float_equal(hf_load_dist_at(&d, 1, -1), 100, 1e-9);
	assert_float_equal(hf_load_dist_at(&none, 0.5, 7), 7, 1e-9);
}

static void test_format(void **state)
{
	char b[256];
	struct hf_load_oparg a = { .key = "k", .klen = 1, .idx = 3, .count = 5, .vlen = 4,
				   .filler = "abcdefgh" };
	size_t n;

	(void)state;
	n = hf_load_op_format(b, HF_OP_HSET, &a);
	assert_int_equal(n, strlen("*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$2\r\nf3\r\n$4\r\nabcd\r\n"));
	assert_memory_equal(b, "*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$2\r\nf3\r\n$4\r\nabcd\r\n", n);
	n = hf_load_op_format(b, HF_OP_ZADD, &a);
	assert_memory_equal(b, "*4\r\n$4\r\nZADD\r\n$1\r\nk\r\n$1\r\n3\r\n$4\r\nm3ab\r\n", n);
	n = hf_load_op_format(b, HF_OP_LRANGE, &a);
	assert_memory_equal(b, "*4\r\n$6\r\nLRANGE\r\n$1\r\nk\r\n$1\r\n0\r\n$1\r\n4\r\n", n);
	n = hf_load_op_format(b, HF_OP_SETEX, &a);
	assert_memory_equal(b, "*4\r\n$5\r\nSETEX\r\n$1\r\nk\r\n$4\r\n3600\r\n$4\r\nabcd\r\n", n);
}

static int parse(const char *text, struct hf_load_opts *o, struct hf_load_mix *m, struct hf_err *err)
{
	hf_load_opts_init(o);
	return hf_profile_parse(text, strlen(text), "p.json", o, m, err);
}

static void test_profile(void **state)
{
	struct hf_load_opts o;
	struct hf_load_mix m;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(parse("{\"format\":\"hotfix-profile/2\",\"data_rate\":250.4,\"read_share\":0.25,"
			       "\"mix\":{\"get\":0.5,\"lpush\":0.5},\"keys\":{\"source_total\":42,"
			       "\"by_type\":{\"string\":{\"share\":1,\"length\":{\"p50\":33}}}}}",
			       &o, &m, &err), 0);
	assert_int_equal(o.rate, 250);
	assert_int_equal(o.keys, 42);
	assert_int_equal(o.value_size, 33);
	assert_float_equal(m.share[HF_OP_LPUSH], 0.5, 1e-9);
	hf_load_mix_release(&m);
	assert_int_equal(parse("{\"format\":\"hotfix-profile/1\",\"request_rate\":0.5,"
			       "\"keys\":{\"value_size\":{\"p50\":75}}}", &o, &m, &err), 0);
	assert_int_equal(o.rate, 0);
	assert_int_equal(o.value_size, 64);
	assert_int_equal(parse("{\"format\":\"hotfix-profile/2\",\"mix\":{\"get\":2}}", &o, &m, &err),
			 HF_EINVAL);
	assert_string_equal(err.msg, "p.json: 'mix.get' is not a share between 0 and 1");
	assert_int_equal(parse("[1]", &o, &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "p.json: not a workload profile"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_effective),
		cmocka_unit_test(test_dist),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
