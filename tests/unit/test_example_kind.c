/* The example kind of docs/ADDING-A-KIND.md: found through the kinds
 * table, parsed from a manifest with FILE:LINE:COL errors, dispatched
 * through its operations, freed with the manifest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/journal.h"
#include "core/kind.h"
#include "core/manifest.h"
#include "util/buf.h"

#define HEAD "apiVersion: hotfix/v1\nkind: Hotfix\n" \
	"metadata: {name: ex, version: 1, owner: me, problem: p}\nspec:\n  changes:\n"

static int parse(const char *yaml, struct hf_manifest **m, struct hf_err *err)
{
	return hf_manifest_parse("ex.yaml", yaml, strlen(yaml), m, err);
}

static void test_in_the_table(void **state)
{
	const struct hf_change_kind *k = hf_kind_find("example");
	struct hf_buf names = {0};

	(void)state;
	assert_non_null(k);
	assert_string_equal(k->name, "example");
	assert_null(hf_kind_find("exampl"));
	hf_kind_names(&names);
	/* Hidden from what messages list: no user is pointed at it. */
	assert_null(strstr(names.s, "example"));
	assert_non_null(strstr(names.s, "config"));
	hf_buf_release(&names);
}

static void test_parse(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};
	struct hf_buf sum = {0};

	(void)state;
	assert_int_equal(parse(HEAD "    - example: {note: hello}\n", &m, &err), 0);
	assert_int_equal(m->nchanges, 1);
	assert_ptr_equal(m->changes[0].kind, hf_kind_find("example"));
	assert_int_equal(m->changes[0].pos.line, 6);
	assert_int_equal(m->changes[0].pos.col, 7);
	m->changes[0].kind->summary(&m->changes[0], &sum);
	assert_string_equal(sum.s, "note 'hello'");
	/* Nodes are its unit: node waves by default. */
	assert_false(hf_manifest_over_keys(m));
	assert_int_equal(m->waves[0].count, 1);
	hf_buf_release(&sum);
	hf_manifest_free(m);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *body;
		const char *want;
	} bad[] = {
		{ "    - example: {}\n", "ex.yaml:6:7: missing required field 'note' in 'example'" },
		{ "    - example: {note: hi, tone: x}\n", "ex.yaml:6:27: unknown field 'tone' in 'example'" },
		{ "    - example: {note: ' '}\n", "ex.yaml:6:23: 'note' must be a non-empty string" },
		{ "    - example: hi\n", "ex.yaml:6:16: 'example' must be a mapping" },
	};
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *yaml = hf_xasprintf(HEAD "%s", bad[i].body);

		assert_int_equal(parse(yaml, &m, &err), HF_EINVAL);
		if (strcmp(err.msg, bad[i].want))
			fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, bad[i].want);
		assert_null(m);
		free(yaml);
	}
}

/* The operations through the table: no diff anywhere, and both sides
 * verified, so a rollback finds every target restored. */
static void test_operations(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};
	struct hf_step steps[2] = {0};
	struct hf_target t[2] = {0};
	struct hf_kind_ctx x = {0};
	const struct hf_change_kind *k;
	size_t i;

	(void)state;
	assert_int_equal(parse(HEAD "    - example: {note: hello}\n", &m, &err), 0);
	k = m->changes[0].kind;
	x.m = m;
	for (i = 0; i < 2; i++)
		t[i].step = &steps[i];
	assert_int_equal(k->plan(&m->changes[0], &x, t, 2, &err), 0);
	assert_int_equal(t[0].ndiff + t[1].ndiff, 0);
	k->capture(&m->changes[0], &x, t, 2);
	assert_string_equal(steps[1].before, "{}");
	k->apply(&m->changes[0], &x, t, 2);
	k->verify(&m->changes[0], &x, t, 2, HF_SIDE_AFTER);
	assert_true(t[0].match && t[1].match);
	t[0].match = t[1].match = 0;
	k->revert(&m->changes[0], &x, t, 2, 0);
	assert_true(t[0].match && t[1].match);
	assert_int_equal(t[0].status, 0);
	for (i = 0; i < 2; i++)
		free(steps[i].before);
	hf_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_the_table),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_operations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
