/* Unit tests of the sandbox's sizes (src/sandbox/sandbox.c): how long
 * 'up' waits, the cluster-node-timeout and the file descriptors, as a
 * sandbox grows. Starting real servers is tests/integration/test_sandbox.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

/* Small sandboxes keep the waits they always had; bigger ones get more,
 * never less than a smaller one. */
static void test_up_timeout_grows(void **state)
{
	size_t n;

	(void)state;
	assert_int_equal(hf_sandbox_up_timeout_ms(6), 60000);
	assert_int_equal(hf_sandbox_up_timeout_ms(100), 60000);
	assert_true(hf_sandbox_up_timeout_ms(200) > 60000);
	/* 300 nodes took 20 s on 2 busy cores: room to spare. */
	assert_true(hf_sandbox_up_timeout_ms(300) >= 120000);
	for (n = 1; n < 600; n++)
		assert_true(hf_sandbox_up_timeout_ms(n + 1) >= hf_sandbox_up_timeout_ms(n));
}

static void test_node_timeout_grows(void **state)
{
	size_t n;

	(void)state;
	/* Tests and drills count on quick failovers in small sandboxes. */
	assert_int_equal(hf_sandbox_node_timeout_ms(6), 2000);
	assert_int_equal(hf_sandbox_node_timeout_ms(80), 2000);
	assert_true(hf_sandbox_node_timeout_ms(300) > 2000);
	for (n = 1; n < 600; n++)
		assert_true(hf_sandbox_node_timeout_ms(n + 1) >= hf_sandbox_node_timeout_ms(n));
}

/* Two bus links per other node, plus room for clients and Redis' own. */
static void test_fds_needed(void **state)
{
	(void)state;
	assert_true(hf_sandbox_fds_needed(300) >= 2 * 299 + 32);
	assert_true(hf_sandbox_fds_needed(6) < 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_timeout_grows),
		cmocka_unit_test(test_node_timeout_grows),
		cmocka_unit_test(test_fds_needed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
