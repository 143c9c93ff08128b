/* Unit tests of hf_fingerprint_diff() (src/engine/redis/fingerprint.c):
 * fingerprints built by hand, their differences named, role changes kept
 * apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/redis/fingerprint.h"
#include "util/buf.h"

/* Two nodes a (primary) and b (replica) of one shard, configured with hz
 * 'hz', a password, ACL 'acl' and keys "k1" (digest 'd1', expiring at
 * 'exp') and "k2". */
static struct hf_fingerprint *fp(const char *hz, const char *acl, const char *d1,
				 long long exp, int b_primary)
{
	struct hf_fingerprint *f = calloc(1, sizeof(*f));
	size_t i;

	f->nnodes = 2;
	f->nodes = calloc(2, sizeof(*f->nodes));
	for (i = 0; i < 2; i++) {
		struct hf_fp_node *n = &f->nodes[i];

		n->id = strdup(i ? "bbbb" : "aaaa");
		snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%zu", 21001 + i);
		n->primary = i ? b_primary : !b_primary;
		n->nconfig = 2;
		n->config = calloc(4, sizeof(char *));
		n->config[0] = strdup("hz");
		n->config[1] = strdup(hz);
		n->config[2] = strdup("requirepass");
		n->config[3] = strdup(i ? "secret" : "s3cret");
		strcpy(n->functions, "f");
		n->acl = strdup(acl);
	}
	f->nkeys = 2;
	f->keys = calloc(2, sizeof(*f->keys));
	f->keys[0] = (struct hf_fp_key){ strdup("k1"), 2, "", exp };
	snprintf(f->keys[0].digest, sizeof(f->keys[0].digest), "%s", d1);
	f->keys[1] = (struct hf_fp_key){ strdup("k2"), 2, "x", 0 };
	f->nshards = 1;
	f->shards = calloc(1, sizeof(*f->shards));
	f->shards[0].ranges = strdup("0-16383");
	f->shards[0].members = strdup("aaaa bbbb");
	return f;
}

static void equal_after_failover(void **state)
{
	struct hf_fingerprint *a = fp("10", "user default on\n", "d", 1000000, 0);
	struct hf_fingerprint *b = fp("10", "user default on\n", "d", 1001500, 1);
	struct hf_buf out = {0}, roles = {0};

	(void)state;
	assert_int_equal(hf_fingerprint_diff(a, b, 20, &out, &roles), 0);
	assert_null(out.s);
	assert_non_null(strstr(roles.s, "127.0.0.1:21001: primary -> replica"));
	assert_non_null(strstr(roles.s, "127.0.0.1:21002: replica -> primary"));
	hf_buf_release(&out);
	hf_buf_release(&roles);
	hf_fingerprint_free(a);
	hf_fingerprint_free(b);
}

static void differences_named(void **state)
{
	struct hf_fingerprint *a = fp("10", "user default on\n", "d", 1000000, 0);
	struct hf_fingerprint *b = fp("11", "user default on\nuser alice on\n", "e", 0, 0);
	struct hf_buf out = {0}, roles = {0};

	(void)state;
	/* hz on both nodes, alice on both, k1's value. */
	assert_int_equal(hf_fingerprint_diff(a, b, 20, &out, &roles), 5);
	assert_non_null(strstr(out.s, "config of 127.0.0.1:21001: hz \"10\" -> \"11\"\n"));
	assert_non_null(strstr(out.s, "ACL of 127.0.0.1:21002: user alice changed or added\n"));
	assert_non_null(strstr(out.s, "key k1 differs (value)\n"));
	assert_null(strstr(out.s, "secret"));
	assert_null(roles.s);
	hf_buf_release(&out);
	hf_fingerprint_free(b);
	/* Only the expiry, beyond the tolerance. */
	b = fp("10", "user default on\n", "d", 1000000 + HF_FP_EXPIRY_TOLERANCE_MS + 1, 0);
	assert_int_equal(hf_fingerprint_diff(a, b, 20, &out, &roles), 1);
	assert_string_equal(out.s, "key k1 differs (expiry)\n");
	hf_buf_release(&out);
	hf_fingerprint_free(b);
	hf_fingerprint_free(a);
}

static void keys_gone_and_new(void **state)
{
	struct hf_fingerprint *a = fp("10", "", "d", 0, 0);
	struct hf_fingerprint *b = fp("10", "", "d", 0, 0);
	struct hf_buf out = {0}, roles = {0};

	(void)state;
	free(b->keys[0].key);
	b->keys[0].key = strdup("k0");
	assert_int_equal(hf_fingerprint_diff(a, b, 1, &out, &roles), 2);
	assert_string_equal(out.s, "key k0 is new\nand 1 more keys differ\n");
	hf_buf_release(&out);
	free(b->shards[0].ranges);
	b->shards[0].ranges = strdup("0-100");
	free(b->keys[0].key);
	b->keys[0].key = strdup("k1");
	assert_int_equal(hf_fingerprint_diff(a, b, 20, &out, &roles), 1);
	assert_string_equal(out.s, "slots of the shard of nodes aaaa bbbb: 0-16383 -> 0-100\n");
	hf_buf_release(&out);
	hf_fingerprint_free(a);
	hf_fingerprint_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equal_after_failover),
		cmocka_unit_test(differences_named),
		cmocka_unit_test(keys_gone_and_new),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
