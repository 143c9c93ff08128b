/* Unit tests for core/manifest.c: the examples parse field by field, the
 * defaults apply, and each invalid manifest fails with HF_EINVAL at the
 * exact PATH:LINE:COL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/manifest.h"
#include "util/buf.h"
#include "core/kind.h"
#include "kinds/acl.h"
#include "kinds/binary.h"
#include "kinds/config.h"
#include "kinds/data.h"
#include "kinds/function.h"
#include "util/err.h"
#include "util/misc.h"

/* Lines 1-2, 3-7 and 8-11 of most manifests below, so that positions in
 * the expected messages can be counted by hand. */
#define TOP "apiVersion: hotfix/v1\nkind: Hotfix\n"
#define META "metadata:\n  name: t\n  version: 1\n  owner: me\n  problem: p\n"
#define SPEC "spec:\n  changes:\n    - config:\n        timeout: \"300\"\n"
#define HEAD TOP META

/* A change's spec, as its kind parsed it. */
#define CONFIG(m, i) ((const struct hf_config_spec *)(m)->changes[i].spec)
#define ACL(m, i) ((const struct hf_acl_spec *)(m)->changes[i].spec)
#define BINARY(m, i) ((const struct hf_binary_spec *)(m)->changes[i].spec)
#define FUNCTION(m, i) ((const struct hf_function_spec *)(m)->changes[i].spec)
#define DATA(ch) ((const struct hf_data_spec *)(ch)->spec)
/* A whole manifest whose line 4 is "  name: N" and line 5 "  version: V". */
#define WITH_META(N, V) TOP "metadata:\n  name: " N "\n  version: " V \
	"\n  owner: me\n  problem: p\n" SPEC

static char *source_path(const char *rel)
{
	const char *dir = getenv("HF_SOURCE_DIR");

	return hf_xasprintf("%s/%s", dir && *dir ? dir : ".", rel);
}

static struct hf_manifest *parse_ok(const char *text)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	int rc;

	rc = hf_manifest_parse("t.yaml", text, strlen(text), &m, &err);
	if (rc)
		print_error("unexpected failure: %s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_non_null(m);
	return m;
}

static const struct hf_param *param(const struct hf_manifest *m, size_t change,
				    const char *name)
{
	size_t i;

	assert_true(change < m->nchanges);
	for (i = 0; i < CONFIG(m, change)->nparams; i++)
		if (!strcmp(CONFIG(m, change)->params[i].name, name))
			return &CONFIG(m, change)->params[i];
	fail_msg("no parameter '%s' in change %zu", name, change);
	return NULL;
}

static void test_design_example(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	char *path = source_path("examples/design-example.yaml");
	char sha[65];
	const struct hf_check *ck;

	(void)state;
	assert_int_equal(hf_manifest_load(path, &m, &err), 0);
	assert_non_null(m);

	assert_string_equal(m->path, path);
	assert_non_null(m->text);
	assert_int_equal(strlen(m->text), m->textlen);
	hf_sha256_hex(m->text, m->textlen, sha);
	assert_string_equal(m->sha256, sha);
	assert_int_equal(strlen(m->sha256), 64);

	assert_string_equal(m->name, "raise-client-timeout");
	assert_int_equal(m->version, 1);
	assert_string_equal(m->owner, "oncall@example.com");
	assert_string_equal(m->problem,
			    "Idle clients are dropped after 30 s during batch jobs.");

	assert_int_equal(m->nchanges, 1);
	assert_string_equal(m->changes[0].kind->name, "config");
	assert_int_equal(m->changes[0].pos.line, 10);
	assert_int_equal(m->changes[0].pos.col, 7);
	assert_int_equal(CONFIG(m, 0)->nparams, 2);
	assert_string_equal(CONFIG(m, 0)->params[0].name, "timeout");
	assert_string_equal(CONFIG(m, 0)->params[0].value, "300");
	assert_int_equal(CONFIG(m, 0)->params[0].pos.line, 11);
	assert_int_equal(CONFIG(m, 0)->params[0].pos.col, 9);
	assert_string_equal(CONFIG(m, 0)->params[1].name, "maxmemory-policy");
	assert_string_equal(CONFIG(m, 0)->params[1].value, "allkeys-lru");

	assert_int_equal(m->order, HF_ORDER_REPLICAS_FIRST);
	assert_int_equal(m->nwaves, 3);
	assert_false(m->waves[0].is_percent);
	assert_int_equal(m->waves[0].count, 1);
	assert_int_equal(m->waves[0].bake_ms, 10000);
	assert_int_equal(m->waves[0].pos.line, 16);
	assert_true(m->waves[1].is_percent);
	assert_true(m->waves[1].percent == 50.0);
	assert_int_equal(m->waves[1].bake_ms, 10000);
	assert_true(m->waves[2].is_percent);
	assert_true(m->waves[2].percent == 100.0);
	assert_int_equal(m->waves[2].bake_ms, 0);

	assert_true(m->guard.present);
	assert_false(m->guard.none);
	assert_int_equal(m->guard.interval_ms, 1000);
	assert_int_equal(m->guard.baseline_ms, 10000);
	assert_int_equal(m->guard.failure_limit, 2);
	assert_int_equal(m->guard.on_unobservable, HF_UNOBS_HOLD);
	assert_int_equal(m->guard.nchecks, 3);

	ck = &m->guard.checks[0];
	assert_string_equal(ck->metric, "error_rate");
	assert_true(ck->has_max);
	assert_false(ck->has_min);
	assert_false(ck->has_ratio);
	assert_true(ck->max == 0.01);
	assert_int_equal(ck->pos.line, 27);
	assert_int_equal(ck->pos.col, 9);

	ck = &m->guard.checks[1];
	assert_string_equal(ck->metric, "latency_p99_ms");
	assert_false(ck->has_max);
	assert_false(ck->has_min);
	assert_true(ck->has_ratio);
	assert_true(ck->ratio == 2.0);

	ck = &m->guard.checks[2];
	assert_string_equal(ck->metric, "replication_lag_ms");
	assert_true(ck->has_max);
	assert_false(ck->has_ratio);
	assert_true(ck->max == 1000.0);

	hf_manifest_free(m);
	free(path);
}

static void test_raise_timeout_example(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	char *path = source_path("examples/raise-timeout.yaml");

	(void)state;
	assert_int_equal(hf_manifest_load(path, &m, &err), 0);
	assert_string_equal(m->name, "raise-client-timeout");
	assert_int_equal(m->version, 1);
	assert_int_equal(m->nchanges, 1);
	assert_string_equal(param(m, 0, "timeout")->value, "300");
	assert_string_equal(param(m, 0, "maxmemory-policy")->value, "allkeys-lru");
	assert_int_equal(m->order, HF_ORDER_REPLICAS_FIRST);
	assert_int_equal(m->nwaves, 3);
	assert_int_equal(m->waves[0].count, 1);
	assert_int_equal(m->waves[0].bake_ms, 2000);
	assert_true(m->waves[1].is_percent && m->waves[1].percent == 50.0);
	assert_int_equal(m->waves[1].bake_ms, 2000);
	assert_true(m->waves[2].is_percent && m->waves[2].percent == 100.0);
	assert_int_equal(m->waves[2].bake_ms, 0);
	assert_true(m->guard.present);
	assert_true(m->guard.none);
	assert_int_equal(m->guard.nchecks, 0);
	hf_manifest_free(m);
	free(path);
}

static void test_defaults(void **state)
{
	const char *text = HEAD SPEC;
	struct hf_manifest *m = parse_ok(text);
	char sha[65];

	(void)state;
	assert_string_equal(m->path, "t.yaml");
	assert_string_equal(m->text, text);
	assert_int_equal(m->textlen, strlen(text));
	hf_sha256_hex(text, strlen(text), sha);
	assert_string_equal(m->sha256, sha);

	assert_int_equal(m->order, HF_ORDER_REPLICAS_FIRST);
	assert_int_equal(m->nwaves, 2);
	assert_false(m->waves[0].is_percent);
	assert_int_equal(m->waves[0].count, 1);
	assert_int_equal(m->waves[0].bake_ms, 10000);
	assert_true(m->waves[1].is_percent);
	assert_true(m->waves[1].percent == 100.0);
	assert_int_equal(m->waves[1].bake_ms, 0);

	assert_false(m->guard.present);
	assert_false(m->guard.none);
	assert_int_equal(m->guard.nchecks, 0);
	assert_null(m->guard.checks);
	hf_manifest_free(m);

	/* A rollout without waves keeps the default waves too. */
	m = parse_ok(HEAD SPEC "  rollout:\n    order: primaries-first\n");
	assert_int_equal(m->order, HF_ORDER_PRIMARIES_FIRST);
	assert_int_equal(m->nwaves, 2);
	assert_int_equal(m->waves[0].count, 1);
	assert_int_equal(m->waves[0].bake_ms, 10000);
	assert_true(m->waves[1].is_percent && m->waves[1].percent == 100.0);
	hf_manifest_free(m);

	/* An empty guard mapping is a guard with every default. */
	m = parse_ok(HEAD SPEC "  guard: {}\n");
	assert_true(m->guard.present);
	assert_false(m->guard.none);
	assert_int_equal(m->guard.interval_ms, 1000);
	assert_int_equal(m->guard.baseline_ms, 10000);
	assert_int_equal(m->guard.failure_limit, 2);
	assert_int_equal(m->guard.on_unobservable, HF_UNOBS_HOLD);
	assert_int_equal(m->guard.nchecks, 0);
	hf_manifest_free(m);
}

static void test_guard_none(void **state)
{
	struct hf_manifest *m = parse_ok(HEAD SPEC "  guard: none\n");

	(void)state;
	assert_true(m->guard.present);
	assert_true(m->guard.none);
	assert_int_equal(m->guard.nchecks, 0);
	assert_int_equal(m->guard.pos.line, 12);
	assert_int_equal(m->guard.pos.col, 10);
	hf_manifest_free(m);
}

static void test_values(void **state)
{
	struct hf_manifest *m;

	(void)state;
	m = parse_ok(TOP
		     "metadata:\n"
		     "  name: fix-2\n"
		     "  version: \"7\"\n"
		     "  owner: 42\n"
		     "  problem: |\n"
		     "    Two lines\n"
		     "    of problem.\n"
		     "spec:\n"
		     "  changes:\n"
		     "    - config:\n"
		     "        appendonly: true\n"
		     "        lazyfree-lazy-eviction: False\n"
		     "        protected-mode: 'true'\n"
		     "        save: ''\n"
		     "        maxclients: 10000\n"
		     "    - config: {hz: 20}\n"
		     "  rollout:\n"
		     "    order: primaries-first\n"
		     "    waves:\n"
		     "      - {nodes: 2, bake: 1.5s}\n"
		     "      - nodes: 12.5%\n"
		     "        bake: 500ms\n"
		     "      - nodes: 5\n"
		     "        bake: 1m\n"
		     "      - nodes: \"100%\"\n"
		     "  guard:\n"
		     "    interval: 250ms\n"
		     "    baseline: 0\n"
		     "    failure_limit: 5\n"
		     "    on_unobservable: rollback\n"
		     "    checks:\n"
		     "      - metric: error_rate\n"
		     "        max: 1%\n"
		     "      - metric: memory_used_ratio\n"
		     "        min: 0.25\n"
		     "        max: 95%\n"
		     "      - metric: evictions\n"
		     "        max: 0\n");
	assert_string_equal(m->name, "fix-2");
	assert_int_equal(m->version, 7);
	assert_string_equal(m->owner, "42");
	assert_string_equal(m->problem, "Two lines\nof problem.\n");

	assert_int_equal(m->nchanges, 2);
	assert_int_equal(CONFIG(m, 0)->nparams, 5);
	assert_string_equal(param(m, 0, "appendonly")->value, "yes");
	assert_string_equal(param(m, 0, "lazyfree-lazy-eviction")->value, "no");
	/* Only plain booleans are translated; a quoted one is a string. */
	assert_string_equal(param(m, 0, "protected-mode")->value, "true");
	/* An explicitly empty string is a value ("save ''" disables RDB). */
	assert_string_equal(param(m, 0, "save")->value, "");
	assert_string_equal(param(m, 0, "maxclients")->value, "10000");
	assert_string_equal(param(m, 1, "hz")->value, "20");
	assert_int_equal(m->changes[1].pos.line, 18);
	assert_int_equal(m->changes[1].pos.col, 7);

	assert_int_equal(m->order, HF_ORDER_PRIMARIES_FIRST);
	assert_int_equal(m->nwaves, 4);
	assert_int_equal(m->waves[0].count, 2);
	assert_int_equal(m->waves[0].bake_ms, 1500);
	assert_true(m->waves[1].is_percent && m->waves[1].percent == 12.5);
	assert_int_equal(m->waves[1].bake_ms, 500);
	/* A count after a percentage is not compared with it. */
	assert_false(m->waves[2].is_percent);
	assert_int_equal(m->waves[2].count, 5);
	assert_int_equal(m->waves[2].bake_ms, 60000);
	assert_true(m->waves[3].is_percent && m->waves[3].percent == 100.0);
	assert_int_equal(m->waves[3].bake_ms, 0);

	assert_true(m->guard.present);
	assert_false(m->guard.none);
	assert_int_equal(m->guard.interval_ms, 250);
	assert_int_equal(m->guard.baseline_ms, 0);
	assert_int_equal(m->guard.failure_limit, 5);
	assert_int_equal(m->guard.on_unobservable, HF_UNOBS_ROLLBACK);
	assert_int_equal(m->guard.nchecks, 3);
	assert_true(m->guard.checks[0].has_max);
	assert_true(m->guard.checks[0].max == 0.01);
	assert_true(m->guard.checks[1].has_min && m->guard.checks[1].has_max);
	assert_true(m->guard.checks[1].min == 0.25);
	assert_true(m->guard.checks[1].max == 0.95);
	assert_string_equal(m->guard.checks[2].metric, "evictions");
	assert_true(m->guard.checks[2].has_max);
	assert_true(m->guard.checks[2].max == 0.0);
	hf_manifest_free(m);

	/* Comments before the first key move positions, not meaning; an
	 * explicit document start and "checks:" left empty are fine too. */
	m = parse_ok("# a comment\n---\n" HEAD SPEC "  guard:\n    checks:\n");
	assert_int_equal(CONFIG(m, 0)->params[0].pos.line, 13);
	assert_true(m->guard.present);
	assert_int_equal(m->guard.nchecks, 0);
	hf_manifest_free(m);
}

static void test_order_name(void **state)
{
	(void)state;
	assert_string_equal(hf_order_name(HF_ORDER_REPLICAS_FIRST), "replicas-first");
	assert_string_equal(hf_order_name(HF_ORDER_PRIMARIES_FIRST), "primaries-first");
}

struct bad_case {
	const char *what;
	const char *text;
	const char *where;      /* expected "t.yaml:LINE:COL: " prefix */
	const char *word;       /* a word the message must contain */
};

static const struct bad_case bad_cases[] = {
	{ "yaml syntax: bad indentation",
	  TOP "metadata:\n  name: t\n version: 1\n",
	  "t.yaml:5:2: ", "invalid yaml" },
	{ "yaml syntax: unclosed flow sequence",
	  HEAD "spec:\n  changes: [\n",
	  "t.yaml:", "invalid yaml" },
	{ "duplicate top-level key",
	  TOP "kind: Hotfix\n" META SPEC,
	  "t.yaml:3:1: ", "duplicate key 'kind'" },
	{ "duplicate parameter in one change",
	  HEAD SPEC "        timeout: \"400\"\n",
	  "t.yaml:12:9: ", "duplicate key 'timeout'" },
	{ "duplicate key, quoted the second time (hotfix finds duplicates, not libfyaml)",
	  HEAD SPEC "        \"timeout\": \"400\"\n",
	  "t.yaml:12:9: ", "duplicate key 'timeout'" },
	{ "of two duplicates, the first in the file is named",
	  HEAD SPEC "        timeout: \"400\"\nkind: Hotfix\n",
	  "t.yaml:12:9: ", "duplicate key 'timeout'" },
	{ "duplicate parameter across changes",
	  HEAD SPEC "    - config:\n        timeout: \"400\"\n",
	  "t.yaml:13:9: ", "duplicate parameter 'timeout' (first set at 11:9)" },
	{ "empty manifest", "", "t.yaml:1:1: ", "empty" },
	{ "a directive with a byte that is not UTF-8 (libfyaml 0.7 loops for ever on it)",
	  "%\xfd", "t.yaml:1:2: ", "invalid yaml: the text is not UTF-8 (byte 0xfd)" },
	{ "an explicit key (libfyaml 0.7.12 crashes on some errors after one)",
	  "? -:\t-", "t.yaml:1:1: ", "invalid yaml: explicit keys ('? ') are not supported" },
	{ "an explicit key in a flow mapping",
	  HEAD "spec: {? changes: []}\n", "t.yaml:8:8: ", "explicit keys" },
	{ "a control character (libfyaml 0.7 crashes on some NULs)",
	  "apiVersion: hotfix/v1\nkind: Hot\x01" "fix\n", "t.yaml:2:10: ",
	  "invalid yaml: character U+0001 is not allowed in yaml" },
	{ "an overlong UTF-8 form in a value",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: \"3\xc0\xaf\"\n",
	  "t.yaml:11:20: ", "not UTF-8 (byte 0xc0)" },
	{ "only a comment", "# nothing here\n", "t.yaml:1:1: ", "empty" },
	{ "top level is a list", "- apiVersion: hotfix/v1\n",
	  "t.yaml:1:1: ", "must be a mapping" },
	{ "two yaml documents", HEAD SPEC "---\nfoo: 1\n",
	  "t.yaml:13:1: ", "one yaml document" },
	{ "unknown top-level field", HEAD SPEC "extra: 1\n",
	  "t.yaml:12:1: ", "unknown field 'extra' in the manifest" },
	{ "unknown field in metadata", HEAD "  team: x\n" SPEC,
	  "t.yaml:8:3: ", "unknown field 'team' in 'metadata'" },
	{ "unknown field in spec", HEAD SPEC "  rollback: auto\n",
	  "t.yaml:12:3: ", "unknown field 'rollback' in 'spec'" },
	{ "unknown field in guard", HEAD SPEC "  guard:\n    intervall: 1s\n",
	  "t.yaml:13:5: ", "unknown field 'intervall' in 'guard'" },
	{ "unknown field in a wave",
	  HEAD SPEC "  rollout:\n    waves:\n      - nodes: 1\n        bak: 1s\n",
	  "t.yaml:15:9: ", "unknown field 'bak' in wave 1" },
	{ "unknown field in a check",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: error_rate\n"
	  "        maxx: 1\n",
	  "t.yaml:15:9: ", "unknown field 'maxx' in check 1" },
	{ "wrong apiVersion", "apiVersion: hotfix/v2\nkind: Hotfix\n" META SPEC,
	  "t.yaml:1:13: ", "unsupported apiVersion 'hotfix/v2'" },
	{ "wrong kind", "apiVersion: hotfix/v1\nkind: Fix\n" META SPEC,
	  "t.yaml:2:7: ", "unsupported kind 'Fix'" },
	{ "missing owner",
	  TOP "metadata:\n  name: t\n  version: 1\n  problem: p\n" SPEC,
	  "t.yaml:4:3: ", "missing required field 'owner' in 'metadata'" },
	{ "missing spec", HEAD,
	  "t.yaml:1:1: ", "missing required field 'spec' in the manifest" },
	{ "missing changes", HEAD "spec:\n  guard: none\n",
	  "t.yaml:9:3: ", "missing required field 'changes' in 'spec'" },
	{ "metadata is not a mapping", TOP "metadata: x\n" SPEC,
	  "t.yaml:3:11: ", "'metadata' must be a mapping" },
	{ "version: abc", WITH_META("t", "abc"),
	  "t.yaml:5:12: ", "invalid version 'abc'" },
	{ "version: 1.5", WITH_META("t", "1.5"),
	  "t.yaml:5:12: ", "invalid version '1.5'" },
	{ "version: -1", WITH_META("t", "-1"),
	  "t.yaml:5:12: ", "invalid version '-1'" },
	{ "version: 0", WITH_META("t", "0"),
	  "t.yaml:5:12: ", "positive integer" },
	{ "empty version",
	  TOP "metadata:\n  name: t\n  version:\n  owner: me\n  problem: p\n" SPEC,
	  "t.yaml:5:3: ", "'version' must be a positive integer" },
	{ "empty owner",
	  TOP "metadata:\n  name: t\n  version: 1\n  owner: \"\"\n  problem: p\n" SPEC,
	  "t.yaml:6:10: ", "'owner' must be a non-empty string" },
	{ "name with uppercase", WITH_META("Raise-Timeout", "1"),
	  "t.yaml:4:9: ", "invalid name 'Raise-Timeout'" },
	{ "name starting with '-'", WITH_META("-x", "1"),
	  "t.yaml:4:9: ", "invalid name '-x'" },
	{ "name of 64 characters",
	  WITH_META("a123456789012345678901234567890123456789012345678901234567890123",
		    "1"),
	  "t.yaml:4:9: ", "invalid name" },
	{ "changes: []", HEAD "spec:\n  changes: []\n",
	  "t.yaml:9:3: ", "'changes' must not be empty" },
	{ "changes is a mapping",
	  HEAD "spec:\n  changes:\n    config:\n      timeout: 1\n",
	  "t.yaml:10:5: ", "'changes' must be a list" },
	{ "change is a bare word", HEAD "spec:\n  changes:\n    - config\n",
	  "t.yaml:10:7: ", "change 1 must be a mapping" },
	{ "unknown change kind",
	  HEAD "spec:\n  changes:\n    - xyz:\n        a: 1\n",
	  "t.yaml:10:7: ", "unknown change kind 'xyz' (expected config, function, "
	  "acl, binary, data, flag or exec)" },
	{ "a kind no build has",
	  HEAD "spec:\n  changes:\n    - mongo:\n        key: v\n",
	  "t.yaml:10:7: ", "unknown change kind 'mongo'" },
	{ "an exec change with a field it does not have",
	  HEAD "spec:\n  changes:\n    - exec:\n        key: v\n",
	  "t.yaml:11:9: ", "unknown field 'key' in 'exec'" },
	{ "an exec template with a word that is no placeholder",
	  HEAD "spec:\n  changes:\n    - exec:\n        capture: cat {file}\n        apply: a\n"
	  "        verify: v {side}\n        revert: r\n",
	  "t.yaml:11:18: ", "'capture': {file} is no placeholder" },
	{ "a ramp without a flag change",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: 1\n  rollout:\n    waves:\n"
	  "      - percent: 10\n",
	  "t.yaml:14:9: ", "'percent' waves ramp a flag change's traffic" },
	{ "a ramp of 0 %",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: 1\n  rollout:\n    waves:\n"
	  "      - percent: 0\n",
	  "t.yaml:14:18: ", "invalid percent '0' in wave 1" },
	{ "a wave of nodes and percent",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: 1\n  rollout:\n    waves:\n"
	  "      - nodes: 1\n        percent: 10\n",
	  "t.yaml:15:9: ", "wave 1 has both 'nodes' and 'percent'" },
	{ "change with two kinds", HEAD SPEC "      acl:\n        x: y\n",
	  "t.yaml:12:7: ", "more than one key" },
	{ "empty config", HEAD "spec:\n  changes:\n    - config: {}\n",
	  "t.yaml:10:7: ", "'config' must not be empty" },
	{ "parameter without value",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout:\n",
	  "t.yaml:11:9: ", "parameter 'timeout' has no value" },
	{ "parameter set to null",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: ~\n",
	  "t.yaml:11:18: ", "parameter 'timeout' has no value" },
	{ "parameter set to a list",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: [1, 2]\n",
	  "t.yaml:11:19: ", "single value" },
	{ "parameter name with uppercase",
	  HEAD "spec:\n  changes:\n    - config:\n        Timeout: 1\n",
	  "t.yaml:11:9: ", "invalid parameter name 'Timeout'" },
	{ "parameter name with a glob",
	  HEAD "spec:\n  changes:\n    - config:\n        maxmemory*: 1\n",
	  "t.yaml:11:9: ", "invalid parameter name 'maxmemory*'" },
	{ "yaml alias",
	  HEAD "spec:\n  changes:\n    - config:\n        timeout: &t \"300\"\n"
	  "        maxclients: *t\n",
	  "t.yaml:12:21: ", "aliases are not supported" },
	{ "unknown order", HEAD SPEC "  rollout:\n    order: random\n",
	  "t.yaml:13:12: ", "invalid order 'random'" },
	{ "waves: []", HEAD SPEC "  rollout:\n    waves: []\n",
	  "t.yaml:13:5: ", "'waves' must not be empty" },
	{ "wave without nodes", HEAD SPEC "  rollout:\n    waves:\n      - bake: 1s\n",
	  "t.yaml:14:9: ", "missing required field 'nodes' in wave 1" },
	{ "bad duration 10x",
	  HEAD SPEC "  rollout:\n    waves:\n      - nodes: 1\n        bake: 10x\n",
	  "t.yaml:15:15: ", "invalid duration '10x' for 'bake'" },
	{ "duration without unit",
	  HEAD SPEC "  rollout:\n    waves:\n      - nodes: 1\n        bake: 10\n",
	  "t.yaml:15:15: ", "invalid duration '10'" },
	{ "nodes: 0%", HEAD SPEC "  rollout:\n    waves:\n      - nodes: 0%\n",
	  "t.yaml:14:16: ", "invalid nodes '0%'" },
	{ "nodes: 150%", HEAD SPEC "  rollout:\n    waves:\n      - nodes: 150%\n",
	  "t.yaml:14:16: ", "invalid nodes '150%'" },
	{ "nodes: abc%", HEAD SPEC "  rollout:\n    waves:\n      - nodes: abc%\n",
	  "t.yaml:14:16: ", "invalid nodes 'abc%'" },
	{ "nodes: 0", HEAD SPEC "  rollout:\n    waves:\n      - nodes: 0\n",
	  "t.yaml:14:16: ", "invalid nodes '0'" },
	{ "nodes: 1.5", HEAD SPEC "  rollout:\n    waves:\n      - nodes: 1.5\n",
	  "t.yaml:14:16: ", "invalid nodes '1.5'" },
	{ "percentage waves that do not grow",
	  HEAD SPEC "  rollout:\n    waves:\n      - nodes: 50%\n      - nodes: 50%\n",
	  "t.yaml:15:16: ", "wave 2 (50%) must be larger than wave 1 (50%)" },
	{ "count waves that do not grow",
	  HEAD SPEC "  rollout:\n    waves:\n      - nodes: 3\n      - nodes: 10%\n"
	  "      - nodes: 2\n",
	  "t.yaml:16:16: ", "wave 3 (2) must be larger than wave 1 (3)" },
	{ "guard is a word other than none", HEAD SPEC "  guard: maybe\n",
	  "t.yaml:12:10: ", "'guard' must be a mapping or 'none'" },
	{ "interval: 0", HEAD SPEC "  guard:\n    interval: 0\n",
	  "t.yaml:13:15: ", "'interval' must be greater than 0" },
	{ "bad baseline", HEAD SPEC "  guard:\n    baseline: soon\n",
	  "t.yaml:13:15: ", "invalid duration 'soon' for 'baseline'" },
	{ "failure_limit: 0", HEAD SPEC "  guard:\n    failure_limit: 0\n",
	  "t.yaml:13:20: ", "invalid failure_limit '0'" },
	{ "bad on_unobservable", HEAD SPEC "  guard:\n    on_unobservable: panic\n",
	  "t.yaml:13:22: ", "invalid on_unobservable 'panic' (expected hold or rollback)" },
	{ "checks is a mapping", HEAD SPEC "  guard:\n    checks:\n      metric: x\n",
	  "t.yaml:14:7: ", "'checks' must be a list" },
	{ "check without metric", HEAD SPEC "  guard:\n    checks:\n      - max: 1\n",
	  "t.yaml:14:9: ", "check 1 has no 'metric' (one the guard computes) nor 'promql'" },
	{ "check with metric and promql",
	  HEAD SPEC "  guard:\n    prometheus: http://p:9090\n    checks:\n"
	  "      - {metric: error_rate, promql: up, max: 1}\n",
	  "t.yaml:15:30: ", "check 1 has both 'metric' and 'promql': give one" },
	{ "promql without prometheus",
	  HEAD SPEC "  guard:\n    checks:\n      - {promql: up, min: 1}\n",
	  "t.yaml:14:10: ", "check 1 is a 'promql' check, but the guard names no 'prometheus'" },
	{ "promql with an unknown placeholder",
	  HEAD SPEC "  guard:\n    prometheus: http://p:9090\n    checks:\n"
	  "      - promql: 'up{instance=\"{host}:{prot}\"}'\n        min: 1\n",
	  "t.yaml:15:17: ", "'promql': {prot} is no placeholder" },
	{ "promql with {side}",
	  HEAD SPEC "  guard:\n    prometheus: http://p:9090\n    checks:\n"
	  "      - {promql: 'up{x=\"{side}\"}', min: 1}\n",
	  "t.yaml:15:18: ", "'promql': {side} is no placeholder" },
	{ "prometheus is no URL",
	  HEAD SPEC "  guard:\n    prometheus: localhost:9090\n",
	  "t.yaml:13:17: ", "invalid prometheus 'localhost:9090' (expected an http:// or https://" },
	{ "nine promql checks",
	  HEAD SPEC "  guard:\n    prometheus: http://p:9090\n    checks:\n"
	  "      - {promql: a, max: 1}\n      - {promql: b, max: 1}\n      - {promql: c, max: 1}\n"
	  "      - {promql: d, max: 1}\n      - {promql: e, max: 1}\n      - {promql: f, max: 1}\n"
	  "      - {promql: g, max: 1}\n      - {promql: h, max: 1}\n      - {promql: i, max: 1}\n",
	  "t.yaml:23:10: ", "check 9: at most 8 'promql' checks" },
	{ "check without threshold",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: error_rate\n",
	  "t.yaml:14:9: ", "no threshold" },
	{ "unknown metric",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: cpu\n        max: 1\n",
	  "t.yaml:14:17: ", "unknown metric 'cpu'" },
	{ "error_rate max: 2",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: error_rate\n        max: 2\n",
	  "t.yaml:15:14: ", "max '2' for metric 'error_rate' is out of range" },
	{ "error_rate max: 101%",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: error_rate\n        max: 101%\n",
	  "t.yaml:15:14: ", "out of range" },
	{ "negative threshold",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: latency_p99_ms\n"
	  "        max: -1\n",
	  "t.yaml:15:14: ", "non-negative number" },
	{ "percentage for a metric that is not a ratio",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: latency_p99_ms\n"
	  "        max: 5%\n",
	  "t.yaml:15:14: ", "cannot be a percentage" },
	{ "max_ratio_to_baseline: 0",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: latency_p99_ms\n"
	  "        max_ratio_to_baseline: 0\n",
	  "t.yaml:15:32: ", "'max_ratio_to_baseline' must be greater than 0" },
	{ "min above max",
	  HEAD SPEC "  guard:\n    checks:\n      - metric: probe_latency_ms\n"
	  "        max: 10\n        min: 20\n",
	  "t.yaml:16:9: ", "'min' is greater than 'max'" },
	{ "ratio to a baseline of 0",
	  HEAD SPEC "  guard:\n    baseline: 0\n    checks:\n"
	  "      - metric: latency_p99_ms\n        max_ratio_to_baseline: 2\n",
	  "t.yaml:15:9: ", "'baseline' is 0" },
};

static void test_invalid(void **state)
{
	struct hf_manifest *sentinel = (struct hf_manifest *)&bad_cases;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct hf_manifest *m = sentinel;
		struct hf_err err = { 0 };
		int rc;

		rc = hf_manifest_parse("t.yaml", bc->text, strlen(bc->text), &m, &err);
		if (rc != HF_EINVAL || strncmp(err.msg, bc->where, strlen(bc->where)) ||
		    !strstr(err.msg, bc->word))
			fail_msg("case '%s': rc %d, message \"%s\"; expected \"%s...%s\"",
				 bc->what, rc, err.msg, bc->where, bc->word);
		assert_int_equal(err.code, HF_EINVAL);
		/* A failed call leaves its out-parameter alone. */
		assert_ptr_equal(m, sentinel);
		/* Lowercase, no final full stop. */
		assert_int_not_equal(err.msg[strlen(err.msg) - 1], '.');
	}
}

/* The exact message of the example in the brief, start to end. */
static void test_message_format(void **state)
{
	const char *text = HEAD SPEC "  rollout:\n    wavez: []\n";
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };

	(void)state;
	assert_int_equal(hf_manifest_parse("fix.yaml", text, strlen(text), &m, &err),
			 HF_EINVAL);
	assert_string_equal(err.msg, "fix.yaml:13:5: unknown field 'wavez' in 'rollout'");
	assert_null(m);
}

/* libfyaml must not print anything: errors are ours to report. */
static void test_nothing_on_stderr(void **state)
{
	const char *bad[] = {
		TOP "metadata:\n  name: t\n version: 1\n",
		TOP "kind: Hotfix\n",
		"a: \"unterminated\n",
		"%YAML 9.9\n---\na: 1\n",
		"a: [1, 2\n",
		"a: 1\n---\nb: 2\n",
	};
	char tmpl[] = "/tmp/test_manifest_stderr.XXXXXX";
	struct stat st;
	int fd, saved;
	size_t i;

	(void)state;
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hf_manifest *m = NULL;
		struct hf_err err = { 0 };
		int rc = hf_manifest_parse("t.yaml", bad[i], strlen(bad[i]), &m, &err);

		hf_manifest_free(m);
		if (rc != HF_EINVAL)
			break;
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(i, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
	unlink(tmpl);
}

static void test_load_invalid_file(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	char *path = source_path("tests/unit/manifests/shrinking-waves.yaml");
	char *want = hf_xasprintf("%s:15:16: wave 2 (25%%) must be larger than "
				  "wave 1 (50%%)", path);

	(void)state;
	assert_int_equal(hf_manifest_load(path, &m, &err), HF_EINVAL);
	assert_int_equal(err.code, HF_EINVAL);
	assert_string_equal(err.msg, want);
	assert_null(m);
	free(want);
	free(path);
}

static void test_load_empty_file(void **state)
{
	char tmpl[] = "/tmp/test_manifest_empty.XXXXXX";
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	char *want;
	int fd;

	(void)state;
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	close(fd);
	want = hf_xasprintf("%s:1:1: manifest is empty", tmpl);
	assert_int_equal(hf_manifest_load(tmpl, &m, &err), HF_EINVAL);
	assert_string_equal(err.msg, want);
	assert_null(m);
	unlink(tmpl);
	free(want);
}

/* A runaway input (a device, a log file given by mistake) is refused
 * instead of being read into memory without end. */
static void test_load_too_large(void **state)
{
	char tmpl[] = "/tmp/test_manifest_large.XXXXXX";
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	size_t size = 4 * 1024 * 1024 + 1;
	char *junk = hf_xmalloc(size);
	int fd;

	(void)state;
	memset(junk, '#', size);
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, size), (ssize_t)size);
	close(fd);
	assert_int_equal(hf_manifest_load(tmpl, &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "larger than"));
	assert_null(m);
	unlink(tmpl);
	free(junk);
}

static void test_load_missing_file(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };

	(void)state;
	assert_int_equal(hf_manifest_load("/nonexistent/fix.yaml", &m, &err), HF_EINVAL);
	assert_int_equal(err.code, HF_EINVAL);
	assert_string_equal(err.msg, "cannot read '/nonexistent/fix.yaml': "
			    "No such file or directory");
	assert_null(m);
}

static void test_load_directory(void **state)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };

	(void)state;
	assert_int_equal(hf_manifest_load("/tmp", &m, &err), HF_EINVAL);
	assert_string_equal(err.msg, "cannot read '/tmp': Is a directory");
	assert_null(m);
}

/* An acl change: secrets are hashed in the rules and in the text the
 * journal keeps; the original text (and its SHA-256) is untouched. */
static void test_acl_change(void **state)
{
	const char *yaml =
		"apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: a, version: 1, owner: o, problem: p}\n"
		"spec:\n  changes:\n    - acl:\n        user: app\n"
		"        rules: \"on >new-secret <gone ~app:* (~x* +get) +@read\"\n";
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };

	(void)state;
	assert_int_equal(hf_manifest_parse("t.yaml", yaml, strlen(yaml), &m, &err), 0);
	assert_string_equal(m->changes[0].kind->name, "acl");
	assert_string_equal(ACL(m, 0)->user, "app");
	/* sha256sum of "new-secret" and of "gone" */
	assert_string_equal(ACL(m, 0)->rules,
			    "on #fc97bb52861fcf328d0a7abe201f9632b8703e436656348f6d1b398f42e92c39 !283bb9deef02e6843abfb538efa1eca70801bd8a701c3f98191e123496339247 ~app:* (~x* +get) +@read");
	assert_null(strstr(m->journal_text, "new-secret"));
	assert_non_null(strstr(m->journal_text, "#fc97bb52861fcf328d0a7abe201f9632b8703e436656348f6d1b398f42e92c39"));
	assert_non_null(strstr(m->text, ">new-secret"));
	assert_int_equal(ACL(m, 0)->confirm, 0);
	hf_manifest_free(m);
	m = NULL;

	yaml = "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: a, version: 1, owner: o, problem: p}\n"
	       "spec:\n  changes:\n    - acl: {user: app, rules: \"on\", confirm: maybe}\n";
	assert_int_equal(hf_manifest_parse("t.yaml", yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "invalid confirm 'maybe'"));
	yaml = "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: a, version: 1, owner: o, problem: p}\n"
	       "spec:\n  changes:\n    - acl: {user: app}\n";
	assert_int_equal(hf_manifest_parse("t.yaml", yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "missing required field 'rules'"));
	yaml = "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: a, version: 1, owner: o, problem: p}\n"
	       "spec:\n  changes:\n    - acl: {user: 'a b', rules: on}\n";
	assert_int_equal(hf_manifest_parse("t.yaml", yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "invalid user name 'a b'"));
	assert_null(m);
}

/* A binary change: the path made absolute, the template's placeholders
 * checked, defaults, and what may not go with it. */
static void test_binary_change(void **state)
{
	static const struct {
		const char *body;   /* under "    - binary:" */
		const char *want;
	} bad[] = {
		{ " {path: /nonexistent/redis-server}", "t.yaml:6:22: cannot run server binary "
		  "'/nonexistent/redis-server': No such file or directory" },
		{ " {path: /etc}", "cannot run server binary '/etc': not a regular file" },
		{ " {path: /etc/passwd}", "cannot run server binary '/etc/passwd': Permission denied" },
		{ " {path: /bin/sh, restart: 'restart {host}'}", "'restart' must name the node" },
		{ " {path: /bin/sh, restart: 'r {port} {bin}'}", "unknown placeholder '{bin}'" },
		{ " {path: /bin/sh, build: 'xyz'}", "invalid build 'xyz'" },
		{ " {path: /bin/sh, timeout: 0}", "'timeout' must be greater than 0" },
		{ " {path: /bin/sh, confirm: yes}", "invalid confirm 'yes'" },
		{ " {path: /bin/sh, restrat: x}", "unknown field 'restrat' in 'binary'" },
		{ " {restart: 'r {port}'}", "missing required field 'path' in 'binary'" },
		{ " {path: /bin/sh}\n    - config: {timeout: 1}",
		  "t.yaml:6:7: a binary change must be the only change" },
		{ " {path: /bin/sh}\n  rollout: {order: primaries-first}",
		  "t.yaml:6:7: a binary change rolls out replicas first" },
	};
	const char *head = "apiVersion: hotfix/v1\nkind: Hotfix\n"
			   "metadata: {name: a, version: 1, owner: o, problem: p}\n"
			   "spec:\n  changes:\n    - binary:";
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "%s%s\n", head, bad[i].body);
		if (hf_manifest_parse("t.yaml", yaml, strlen(yaml), &m, &err) != HF_EINVAL)
			fail_msg("case %zu: accepted, wanted '%s'", i, bad[i].want);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, bad[i].want);
		assert_null(m);
	}

	/* A remote binary: the template and the build stand for the file. */
	snprintf(yaml, sizeof(yaml), "%s%s\n", head,
		 " {path: /opt/redis/redis-server, restart: \"ssh {host} restart {port} {binary} {id}\","
		 " build: ae4d7c971a948f0}");
	assert_int_equal(hf_manifest_parse("t.yaml", yaml, strlen(yaml), &m, &err), 0);
	assert_string_equal(m->changes[0].kind->name, "binary");
	assert_string_equal(BINARY(m, 0)->path, "/opt/redis/redis-server");
	assert_string_equal(BINARY(m, 0)->build, "ae4d7c971a948f0");
	assert_int_equal(BINARY(m, 0)->timeout_ms, 60000);
	assert_int_equal(BINARY(m, 0)->confirm, 0);
	hf_manifest_free(m);
	m = NULL;

	/* A relative path is relative to the manifest. */
	snprintf(yaml, sizeof(yaml), "%s%s\n", head, " {path: sh, timeout: 2m, confirm: true}");
	assert_int_equal(hf_manifest_parse("/bin/t.yaml", yaml, strlen(yaml), &m, &err), 0);
	assert_string_equal(BINARY(m, 0)->path, "/bin/sh");
	assert_null(BINARY(m, 0)->restart);
	assert_int_equal(BINARY(m, 0)->timeout_ms, 120000);
	assert_int_equal(BINARY(m, 0)->confirm, 1);
	hf_manifest_free(m);
}

/* A function change reads its code file, relative to the manifest. */
static void test_function_change(void **state)
{
	char dir[] = "/tmp/hf-fn-XXXXXX", path[128], lua[160], yaml[1024];
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(lua, sizeof(lua), "%s/billing.lua", dir);
	f = fopen(lua, "w");
	assert_non_null(f);
	fputs("#!lua name=billing\nredis.register_function('p', function() return 1 end)\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/fix.yaml", dir);

#define FN_HEAD "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: f, version: 1, owner: o, problem: p}\nspec:\n  changes:\n"
	snprintf(yaml, sizeof(yaml), FN_HEAD "    - function:\n        library: billing\n        file: billing.lua\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), 0);
	assert_string_equal(m->changes[0].kind->name, "function");
	assert_string_equal(FUNCTION(m, 0)->library, "billing");
	assert_string_equal(FUNCTION(m, 0)->file, "billing.lua");
	assert_int_equal(FUNCTION(m, 0)->codelen, 73);
	/* sha256sum of the same 73 bytes */
	assert_string_equal(FUNCTION(m, 0)->code_sha256,
			    "58a9010c531ab0bdcf80617e559f2283a8198b1f55e24d01023319ab49eb51e9");
	hf_manifest_free(m);
	m = NULL;

	/* The file must exist... */
	snprintf(yaml, sizeof(yaml), FN_HEAD "    - function:\n        library: billing\n        file: nope.lua\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, ":8:15: cannot read function file"));
	assert_null(m);
	/* ...and declare the library the manifest names. */
	snprintf(yaml, sizeof(yaml), FN_HEAD "    - function:\n        library: payments\n        file: billing.lua\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "declares 'billing', not library 'payments'"));
	/* Both fields are required, and nothing else is allowed. */
	snprintf(yaml, sizeof(yaml), FN_HEAD "    - function:\n        library: billing\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "missing required field 'file'"));
	snprintf(yaml, sizeof(yaml), FN_HEAD "    - function:\n        library: billing\n        file: billing.lua\n        code: x\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, ":9:9: unknown field 'code'"));
	/* One library, one change. */
	snprintf(yaml, sizeof(yaml), FN_HEAD "    - function: {library: billing, file: billing.lua}\n"
		 "    - function: {library: billing, file: billing.lua}\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "duplicate function library 'billing'"));
#undef FN_HEAD
	unlink(lua);
	rmdir(dir);
}

/* Write 'len' bytes of 'text' to 'dir'/'name'. */
static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char *path = hf_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	free(path);
}

static void remove_file(const char *dir, const char *name)
{
	char *path = hf_xasprintf("%s/%s", dir, name);

	unlink(path);
	free(path);
}

/* A data change: the keys it selects, its operations, the type they imply,
 * the files it reads (relative to the manifest), its waves over keys, and
 * every combination that is refused, at its position. */
static void test_data_change(void **state)
{
#define DATA_HEAD "apiVersion: hotfix/v1\nkind: Hotfix\n" \
	"metadata: {name: d, version: 1, owner: o, problem: p}\nspec:\n  changes:\n"
#define D "    - data: "
	static const char keys_txt[] = "# sessions to drop\n\nuser:1\r\n  \nuser:2\n\n#user:9\nuser:3";
	static const char lua_txt[] = "redis.call('HDEL', key, 'legacy')\nreturn 1\n";
	static const char nul_txt[] = "a\nb\0c\n";
	static const struct {
		const char *changes;   /* after "  changes:", from line 6 */
		const char *want;      /* "LINE:COL: message", or a part of it */
	} bad[] = {
		{ D "{match: 'a:*', keys_file: keys.txt, delete: true}",
		  "6:28: 'match' and 'keys_file' exclude each other" },
		{ D "{delete: true}", "6:7: a data change needs 'match' (a SCAN pattern) or 'keys_file'" },
		{ D "{match: 'a:*'}", "6:7: a data change needs an operation" },
		{ D "{match: 'a:*', delete: false, persist: false}", "needs an operation" },
		{ D "{match: '', delete: true}", "6:21: 'match' must be a non-empty string" },
		{ D "{match: 'a:*', delete: true, ttl: 1s}",
		  "6:42: 'delete: true' excludes every other operation (found 'ttl')" },
		{ D "{match: 'a:*', set: {a: b}, delete: true}", "(found 'set')" },
		{ D "{match: 'a:*', lua: fix.lua, unset: [a]}",
		  "6:42: 'lua' excludes every other operation" },
		{ D "{match: 'a:*', ttl: 1s, persist: true}",
		  "6:37: 'ttl' and 'persist: true' exclude each other" },
		{ D "{match: 'a:*', set: {a: b}, value: x}",
		  "6:41: 'value' sets a string and 'set' edits a hash" },
		{ D "{match: 'a:*', type: string, rename: {from: a, to: b}}",
		  "6:34: type 'string' does not fit 'rename', which edits a hash" },
		{ D "{match: 'a:*', type: hash, value: x}",
		  "type 'hash' does not fit 'value', which sets a string" },
		{ D "{match: 'a:*', type: blob, delete: true}", "6:34: invalid type 'blob'" },
		{ D "{match: 'a:*', set: {a: b}, unset: [c, a]}",
		  "6:52: field 'a' is both in 'set' and in 'unset'" },
		{ D "{match: 'a:*', unset: [a, b, a]}", "6:42: duplicate field 'a' in 'unset'" },
		{ D "{match: 'a:*', unset: [b], rename: {from: a, to: b}}",
		  "6:62: renamed field 'b' is also in 'unset'" },
		{ D "{match: 'a:*', set: {a: b}, rename: {from: a, to: c}}",
		  "renamed field 'a' is also in 'set'" },
		{ D "{match: 'a:*', rename: {from: a, to: a}}", "6:50: 'rename' has the same field 'a'" },
		{ D "{match: 'a:*', rename: {from: a}}", "missing required field 'to' in 'rename'" },
		{ D "{match: 'a:*', where: {field: f, equals: v}, value: x}",
		  "6:36: 'where' tests hash field 'f', but the keys are of type string (implied by 'value')" },
		{ D "{match: 'a:*', where: {field: f, equals: v}, delete: true}",
		  "'where' tests hash field 'f': add 'type: hash'" },
		{ D "{match: 'a:*', type: set, where: {field: f, equals: v}, delete: true}",
		  "but the keys are of type set" },
		{ D "{match: 'a:*', where: {equals: v}, set: {a: b}}",
		  "6:28: 'where' without 'field' tests a string's value, but the keys are of type "
		  "hash (implied by 'set')" },
		{ D "{match: 'a:*', type: list, where: {equals: v}, delete: true}",
		  "keys are of type list (add 'field'" },
		{ D "{match: 'a:*', where: {field: f}, delete: true}",
		  "missing required field 'equals' in 'where'" },
		{ D "{match: 'a:*', where: {field: '', equals: v}, type: hash, delete: true}",
		  "'field' must not be empty" },
		{ D "{match: 'a:*', set: {}}", "6:28: 'set' must not be empty" },
		{ D "{match: 'a:*', set: [a]}", "'set' must be a mapping of hash fields to values" },
		{ D "{match: 'a:*', set: {a: }}", "field 'a' in 'set' has no value" },
		{ D "{match: 'a:*', set: {a: [1]}}", "field 'a' in 'set' must have a single value" },
		{ D "{match: 'a:*', unset: []}", "'unset' must not be empty" },
		{ D "{match: 'a:*', unset: a}", "'unset' must be a list of hash fields" },
		{ D "{match: 'a:*', value: ~}", "'value' must be a string" },
		{ D "{match: 'a:*', ttl: 0}", "6:33: 'ttl' must be greater than 0" },
		{ D "{match: 'a:*', persist: yes}", "invalid persist 'yes'" },
		{ D "{match: 'a:*', delete: true, batch: 0}", "6:49: invalid batch '0' (expected an "
		  "integer from 1 to 10000)" },
		{ D "{match: 'a:*', delete: true, batch: 10001}", "invalid batch '10001'" },
		{ D "{match: 'a:*', delete: true, filter: x}", "6:42: unknown field 'filter' in 'data'" },
		{ D "{keys_file: nope.txt, delete: true}", "6:25: cannot read keys file '" },
		{ D "{keys_file: comments.txt, delete: true}",
		  "6:25: keys file 'comments.txt' holds no key" },
		{ D "{keys_file: dup.txt, delete: true}",
		  "keys file 'dup.txt': key 'k' is listed twice (lines 1 and 3)" },
		{ D "{keys_file: nul.txt, delete: true}",
		  "keys file 'nul.txt': line 2 contains a nul character" },
		{ D "{keys_file: ., delete: true}", "not a regular file of at most 4 MiB" },
		{ D "{match: 'a:*', lua: nope.lua}", "6:33: cannot read lua file '" },
		{ D "{match: 'a:*', lua: empty.lua}", "lua file 'empty.lua' is empty" },
		/* One manifest, one way to roll out: keys or nodes. */
		{ D "{match: 'a:*', delete: true}\n    - config: {timeout: 1}",
		  "7:7: a data change cannot share its manifest with other kinds of change" },
		{ "    - acl: {user: u, rules: 'on'}\n" D "{match: 'a:*', delete: true}",
		  "7:7: a data change cannot share its manifest with other kinds of change" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {waves: [{keys: 10%}, {nodes: 2}]}",
		  "7:35: wave 2 counts nodes, but a data change rolls out over its keys" },
		{ "    - config: {timeout: 1}\n  rollout: {waves: [{keys: 10%}]}",
		  "7:22: 'keys' waves are for data changes (wave 1)" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {order: replicas-first}",
		  "7:13: 'order' does not apply to a data change" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {waves: [{keys: 0%}]}",
		  "7:28: invalid keys '0%' in wave 1" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {waves: [{keys: 5}]}",
		  "invalid keys '5' in wave 1 (expected a percentage of the keys" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {waves: [{keys: 50%}, {keys: 10%}]}",
		  "7:41: wave 2 (10%) must be larger than wave 1 (50%)" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {waves: [{keys: 5%, nodes: 1}]}",
		  "7:32: wave 1 has both 'nodes' and 'keys'" },
		{ D "{match: 'a:*', delete: true}\n  rollout: {waves: [{bake: 1s}]}",
		  "7:22: missing required field 'keys' in wave 1" },
	};
	char dir[] = "/tmp/hf-data-XXXXXX", sha[65];
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	const struct hf_change *ch;
	char *path, *yaml, *want;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = hf_xasprintf("%s/fix.yaml", dir);
	write_file(dir, "keys.txt", keys_txt, strlen(keys_txt));
	write_file(dir, "fix.lua", lua_txt, strlen(lua_txt));
	write_file(dir, "comments.txt", "# none\n\n#\n", 10);
	write_file(dir, "dup.txt", "k\nj\nk\n", 6);
	write_file(dir, "nul.txt", nul_txt, sizeof(nul_txt) - 1);
	write_file(dir, "empty.lua", " \n\n", 3);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		yaml = hf_xasprintf(DATA_HEAD "%s\n", bad[i].changes);
		want = hf_xasprintf("%s:%s", path, bad[i].want);
		if (hf_manifest_parse(path, yaml, strlen(yaml), &m, &err) != HF_EINVAL)
			fail_msg("case %zu: accepted, wanted '%s'", i, bad[i].want);
		/* "LINE:COL: ..." is the whole prefix; other wants are a part. */
		if (bad[i].want[0] >= '0' && bad[i].want[0] <= '9' ?
		    strncmp(err.msg, want, strlen(want)) : !strstr(err.msg, bad[i].want))
			fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, bad[i].want);
		assert_int_equal(err.code, HF_EINVAL);
		assert_null(m);
		free(want);
		free(yaml);
	}

	/* A hash repair: the type is implied, values keep their text. */
	yaml = hf_xasprintf(DATA_HEAD
			    "    - data:\n"
			    "        match: \"user:*\"\n"
			    "        where: { field: plan, equals: legacy }\n"
			    "        set: { plan: basic, active: true, note: \"\" }\n"
			    "        unset: [legacy_flag, old]\n"
			    "        rename: { from: nm, to: name }\n"
			    "        ttl: 30s\n"
			    "        persist: false\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), 0);
	free(yaml);
	assert_int_equal(m->nchanges, 1);
	ch = &m->changes[0];
	assert_string_equal(ch->kind->name, "data");
	assert_int_equal(ch->pos.line, 6);
	assert_int_equal(ch->pos.col, 7);
	assert_string_equal(DATA(ch)->match, "user:*");
	assert_null(DATA(ch)->keys_file);
	assert_null(DATA(ch)->keys);
	assert_int_equal(DATA(ch)->nkeys, 0);
	assert_string_equal(DATA(ch)->type, "hash");
	assert_string_equal(DATA(ch)->where_field, "plan");
	assert_string_equal(DATA(ch)->where_equals, "legacy");
	assert_int_equal(DATA(ch)->nset, 3);
	assert_string_equal(DATA(ch)->set[0].name, "plan");
	assert_string_equal(DATA(ch)->set[0].value, "basic");
	assert_int_equal(DATA(ch)->set[0].pos.line, 9);
	assert_int_equal(DATA(ch)->set[0].pos.col, 16);
	assert_string_equal(DATA(ch)->set[1].name, "active");
	assert_string_equal(DATA(ch)->set[1].value, "true");
	assert_string_equal(DATA(ch)->set[2].name, "note");
	assert_string_equal(DATA(ch)->set[2].value, "");
	assert_null(DATA(ch)->value);
	assert_int_equal(DATA(ch)->nunset, 2);
	assert_string_equal(DATA(ch)->unset[0], "legacy_flag");
	assert_string_equal(DATA(ch)->unset[1], "old");
	assert_string_equal(DATA(ch)->rename_from, "nm");
	assert_string_equal(DATA(ch)->rename_to, "name");
	assert_int_equal(DATA(ch)->ttl_ms, 30000);
	assert_int_equal(DATA(ch)->persist, 0);
	assert_int_equal(DATA(ch)->del, 0);
	assert_null(DATA(ch)->lua_file);
	assert_null(DATA(ch)->lua_code);
	assert_int_equal(DATA(ch)->batch, 200);
	/* Without waves: 1% of the keys, a bake, then all of them. */
	assert_int_equal(m->order, HF_ORDER_REPLICAS_FIRST);
	assert_int_equal(m->nwaves, 2);
	assert_true(m->waves[0].keys && m->waves[0].is_percent);
	assert_true(m->waves[0].percent == 1.0);
	assert_int_equal(m->waves[0].bake_ms, 10000);
	assert_true(m->waves[1].keys && m->waves[1].is_percent);
	assert_true(m->waves[1].percent == 100.0);
	assert_int_equal(m->waves[1].bake_ms, 0);
	hf_manifest_free(m);
	m = NULL;

	/* A string repair, 'where' on its value; waves over keys; another
	 * data change beside it, whose 'where' implies type string. */
	yaml = hf_xasprintf(DATA_HEAD
			    D "{match: 'sess:*', where: {equals: old}, value: \"new\", persist: true, "
			    "batch: 500}\n"
			    D "{match: 'tmp:*', where: {equals: ''}, delete: true}\n"
			    "  rollout:\n    waves:\n      - {keys: 0.5%%, bake: 1s}\n"
			    "      - keys: 10%%\n      - keys: \"100%%\"\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), 0);
	free(yaml);
	assert_int_equal(m->nchanges, 2);
	ch = &m->changes[0];
	assert_string_equal(DATA(ch)->type, "string");
	assert_null(DATA(ch)->where_field);
	assert_string_equal(DATA(ch)->where_equals, "old");
	assert_string_equal(DATA(ch)->value, "new");
	assert_int_equal(DATA(ch)->nset, 0);
	assert_int_equal(DATA(ch)->nunset, 0);
	assert_null(DATA(ch)->rename_from);
	assert_int_equal(DATA(ch)->ttl_ms, 0);
	assert_int_equal(DATA(ch)->persist, 1);
	assert_int_equal(DATA(ch)->batch, 500);
	ch = &m->changes[1];
	assert_string_equal(ch->kind->name, "data");
	assert_string_equal(DATA(ch)->type, "string");
	assert_string_equal(DATA(ch)->where_equals, "");
	assert_int_equal(DATA(ch)->del, 1);
	assert_int_equal(m->nwaves, 3);
	assert_true(m->waves[0].keys && m->waves[0].is_percent && m->waves[0].percent == 0.5);
	assert_int_equal(m->waves[0].bake_ms, 1000);
	assert_true(m->waves[1].keys && m->waves[1].percent == 10.0);
	assert_true(m->waves[2].keys && m->waves[2].percent == 100.0);
	assert_int_equal(m->waves[2].pos.line, 12);
	hf_manifest_free(m);
	m = NULL;

	/* Cache invalidation of the keys a file lists, relative to the
	 * manifest: empty, blank and '#' lines skipped, CRLF and no final
	 * newline fine. No type: any. */
	yaml = hf_xasprintf(DATA_HEAD D "{keys_file: keys.txt, delete: true}\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), 0);
	free(yaml);
	ch = &m->changes[0];
	assert_null(DATA(ch)->match);
	assert_string_equal(DATA(ch)->keys_file, "keys.txt");
	assert_int_equal(DATA(ch)->nkeys, 3);
	assert_string_equal(DATA(ch)->keys[0], "user:1");
	assert_string_equal(DATA(ch)->keys[1], "user:2");
	assert_string_equal(DATA(ch)->keys[2], "user:3");
	assert_null(DATA(ch)->type);
	assert_null(DATA(ch)->where_equals);
	assert_int_equal(DATA(ch)->del, 1);
	assert_int_equal(DATA(ch)->batch, 200);
	hf_manifest_free(m);
	m = NULL;

	/* A Lua repair, read now, its SHA-256 kept; any type may be named. */
	yaml = hf_xasprintf(DATA_HEAD D "{match: 'z:*', type: zset, lua: fix.lua, batch: 10000}\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), 0);
	free(yaml);
	ch = &m->changes[0];
	assert_string_equal(DATA(ch)->lua_file, "fix.lua");
	assert_string_equal(DATA(ch)->lua_code, lua_txt);
	hf_sha256_hex(lua_txt, strlen(lua_txt), sha);
	assert_string_equal(DATA(ch)->lua_sha256, sha);
	assert_string_equal(DATA(ch)->type, "zset");
	assert_int_equal(DATA(ch)->batch, 10000);
	assert_int_equal(m->nwaves, 2);
	assert_true(m->waves[0].keys);
	hf_manifest_free(m);
	m = NULL;

	/* Other manifests keep waves over nodes. */
	yaml = hf_xasprintf(DATA_HEAD "    - config: {timeout: 1}\n");
	assert_int_equal(hf_manifest_parse(path, yaml, strlen(yaml), &m, &err), 0);
	free(yaml);
	assert_false(m->waves[0].keys);
	assert_false(m->waves[0].is_percent);
	assert_int_equal(m->waves[0].count, 1);
	hf_manifest_free(m);

#undef D
#undef DATA_HEAD
	remove_file(dir, "keys.txt");
	remove_file(dir, "fix.lua");
	remove_file(dir, "comments.txt");
	remove_file(dir, "dup.txt");
	remove_file(dir, "nul.txt");
	remove_file(dir, "empty.lua");
	rmdir(dir);
	free(path);
}

/* The API and the report show the manifest to every viewer: a webhook's
 * path (its secret) is hidden, its host kept, every time it is written. */
static void test_notify_hide(void **state)
{
	const char *text = HEAD SPEC "  notify:\n"
			   "    - webhook: https://hooks.example.com/services/T0/B0/s3cret\n"
			   "    - webhook: http://127.0.0.1:9/\n"
			   "# again: https://hooks.example.com/services/T0/B0/s3cret\n";
	struct hf_manifest *m = parse_ok(text);
	char *shown = hf_notify_hide(m, text);

	(void)state;
	assert_int_equal(m->nnotify, 2);
	assert_null(strstr(shown, "s3cret"));
	assert_non_null(strstr(shown, "webhook: https://hooks.example.com/(hidden)\n"));
	assert_non_null(strstr(shown, "# again: https://hooks.example.com/(hidden)\n"));
	/* No path, no secret: left as it is. */
	assert_non_null(strstr(shown, "webhook: http://127.0.0.1:9/\n"));
	free(shown);
	/* Without a manifest, the text as it is. */
	shown = hf_notify_hide(NULL, "x");
	assert_string_equal(shown, "x");
	free(shown);
	hf_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_function_change),
		cmocka_unit_test(test_acl_change),
		cmocka_unit_test(test_binary_change),
		cmocka_unit_test(test_data_change),
		cmocka_unit_test(test_raise_timeout_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_guard_none),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_order_name),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_message_format),
		cmocka_unit_test(test_nothing_on_stderr),
		cmocka_unit_test(test_load_invalid_file),
		cmocka_unit_test(test_load_empty_file),
		cmocka_unit_test(test_load_too_large),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_notify_hide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
