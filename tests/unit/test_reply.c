/* Unit tests of replies read from bytes (src/engine/redis/reply.c): what
 * hiredis' reader builds with the engine's bounded objects, converted to
 * 'struct hf_reply'. Under ASan, an allocation of the size a header
 * declares (gigabytes) fails the run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/redis/redis.h"

static void release(struct hf_reply **r, size_t n)
{
	while (n)
		hf_reply_free(r[--n]);
	free(r);
}

static void test_every_type(void **state)
{
	static const char in[] = "+OK\r\n:42\r\n$3\r\nabc\r\n-ERR no\r\n$-1\r\n"
				 "*3\r\n$1\r\na\r\n*1\r\n:-7\r\n*-1\r\n*0\r\n";
	struct hf_reply **r = NULL;
	struct hf_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(hf_reply_parse(in, sizeof(in) - 1, &r, &n, &err), 0);
	assert_int_equal(n, 7);
	assert_int_equal(r[0]->type, HF_REPLY_STATUS);
	assert_string_equal(r[0]->str, "OK");
	assert_int_equal(r[1]->integer, 42);
	assert_int_equal(r[2]->type, HF_REPLY_STRING);
	assert_int_equal(r[2]->len, 3);
	assert_int_equal(r[3]->type, HF_REPLY_ERROR);
	assert_int_equal(r[4]->type, HF_REPLY_NIL);
	assert_int_equal(r[5]->type, HF_REPLY_ARRAY);
	assert_int_equal(r[5]->nelem, 3);
	assert_string_equal(r[5]->elem[0]->str, "a");
	assert_int_equal(r[5]->elem[1]->nelem, 1);
	assert_int_equal(r[5]->elem[1]->elem[0]->integer, -7);
	assert_int_equal(r[5]->elem[2]->type, HF_REPLY_NIL);
	assert_int_equal(r[6]->nelem, 0);
	release(r, n);
}

/* An array longer than the first allocation grows as its elements come. */
static void test_long_array(void **state)
{
	struct hf_reply **r = NULL;
	struct hf_err err = {0};
	char *in = malloc(16 + 1000 * 8), *p = in;
	size_t n = 0, i;

	(void)state;
	p += sprintf(p, "*1000\r\n");
	for (i = 0; i < 1000; i++)
		p += sprintf(p, ":%zu\r\n", i);
	assert_int_equal(hf_reply_parse(in, (size_t)(p - in), &r, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0]->nelem, 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(r[0]->elem[i]->integer, (long long)i);
	release(r, n);
	free(in);
}

/* A header from a broken or hostile server declares 427387904 elements
 * (3.4 GB of pointers with hiredis' own objects): nothing of that size is
 * allocated before the elements arrive, nested or not. */
static void test_declared_is_not_allocated(void **state)
{
	static const char in[] = "*427387904\r\n*427387904\r\n*2147483647\r\n:1\r\n";
	struct hf_reply **r = NULL;
	struct hf_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(hf_reply_parse(in, sizeof(in) - 1, &r, &n, &err), 0);
	assert_int_equal(n, 0);   /* incomplete: nothing read */
	release(r, n);
}

static void test_not_resp(void **state)
{
	struct hf_reply **r = NULL;
	struct hf_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(hf_reply_parse("?x\r\n", 4, &r, &n, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "invalid reply: "));
	assert_null(r);
	assert_int_equal(hf_reply_parse("*-5\r\n", 5, &r, &n, &err), HF_EINVAL);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_long_array),
		cmocka_unit_test(test_declared_is_not_allocated),
		cmocka_unit_test(test_not_resp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
