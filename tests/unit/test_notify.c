/* Unit tests for spec.notify (core/notify_spec.c) and the notifier's pure
 * parts (notify/message.c): the schema and its FILE:LINE:COL errors, which
 * events are phase changes, and the Slack JSON of a message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"
#include "notify/notify.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/misc.h"

/* Lines 1-7 and 8-11: "notify:" is then on line 12. */
#define HEAD "apiVersion: hotfix/v1\nkind: Hotfix\n" \
	"metadata:\n  name: t\n  version: 1\n  owner: me\n  problem: p\n" \
	"spec:\n  changes:\n    - config:\n        timeout: \"300\"\n"

static struct hf_manifest *parse_ok(const char *text)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	int rc = hf_manifest_parse("t.yaml", text, strlen(text), &m, &err);

	if (rc)
		print_error("unexpected failure: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return m;
}

static void parse_fails(const char *text, const char *msg)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = { 0 };
	int rc = hf_manifest_parse("t.yaml", text, strlen(text), &m, &err);

	assert_int_equal(rc, HF_EINVAL);
	assert_null(m);
	assert_string_equal(err.msg, msg);
}

static void test_spec_absent(void **state)
{
	struct hf_manifest *m = parse_ok(HEAD);

	(void)state;
	assert_int_equal(m->nnotify, 0);
	assert_null(m->notify);
	hf_manifest_free(m);
}

static void test_spec_mapping(void **state)
{
	struct hf_manifest *m = parse_ok(HEAD "  notify: {webhook: \"https://hooks.example.com/T1/B2\"}\n");

	(void)state;
	assert_int_equal(m->nnotify, 1);
	assert_string_equal(m->notify[0].webhook, "https://hooks.example.com/T1/B2");
	assert_int_equal(m->notify[0].every_ms, 0);
	assert_int_equal(m->notify[0].pos.line, 12);
	hf_manifest_free(m);
}

static void test_spec_list(void **state)
{
	struct hf_manifest *m = parse_ok(HEAD "  notify:\n"
					 "    - webhook: http://127.0.0.1:8080/hook\n"
					 "      every: 5m\n"
					 "    - {webhook: \"https://chat.example.com/x\", every: 30s}\n");

	(void)state;
	assert_int_equal(m->nnotify, 2);
	assert_string_equal(m->notify[0].webhook, "http://127.0.0.1:8080/hook");
	assert_int_equal(m->notify[0].every_ms, 300000);
	assert_int_equal(m->notify[0].pos.line, 13);
	assert_string_equal(m->notify[1].webhook, "https://chat.example.com/x");
	assert_int_equal(m->notify[1].every_ms, 30000);
	assert_int_equal(m->notify[1].pos.line, 15);
	hf_manifest_free(m);
}

static void test_spec_errors(void **state)
{
	(void)state;
	parse_fails(HEAD "  notify: {webhook: \"http://x/\", evry: 1m}\n",
		    "t.yaml:12:34: unknown field 'evry' in 'notify'");
	parse_fails(HEAD "  notify: {every: 1m}\n",
		    "t.yaml:12:12: missing required field 'webhook' in 'notify'");
	parse_fails(HEAD "  notify: {webhook: \"ftp://x/\"}\n",
		    "t.yaml:12:21: invalid webhook 'ftp://x/' (expected an http:// or https:// URL)");
	parse_fails(HEAD "  notify:\n    - webhook: http://ok/\n    - webhook: https://\n",
		    "t.yaml:14:16: invalid webhook 'https://' (expected an http:// or https:// URL)");
	parse_fails(HEAD "  notify: {webhook: \"http://x/\", every: 10ms}\n",
		    "t.yaml:12:41: 'every' must be at least 1s");
	parse_fails(HEAD "  notify: {webhook: \"http://x/\", every: soon}\n",
		    "t.yaml:12:41: invalid duration 'soon' for 'every' (expected e.g. 0, 500ms, "
		    "10s, 2m or 1h)");
	parse_fails(HEAD "  notify: http://x/\n",
		    "t.yaml:12:11: 'notify' must be a mapping {webhook: URL, every: DURATION} or a "
		    "list of them");
	parse_fails(HEAD "  notify:\n    - http://x/\n",
		    "t.yaml:13:7: a 'notify' entry must be a mapping {webhook: URL, every: DURATION}");
	parse_fails(HEAD "  notify: []\n", "t.yaml:12:3: 'notify' must not be empty");
}

static void test_url_ok(void **state)
{
	(void)state;
	assert_true(hf_notify_url_ok("http://127.0.0.1:9/x"));
	assert_true(hf_notify_url_ok("https://hooks.slack.com/services/T/B/X"));
	assert_false(hf_notify_url_ok("HTTP://x/"));
	assert_false(hf_notify_url_ok("http://"));
	assert_false(hf_notify_url_ok("http:///path"));
	assert_false(hf_notify_url_ok("file:///etc/passwd"));
	assert_false(hf_notify_url_ok("http://a b/"));
	assert_false(hf_notify_url_ok(""));
}

static void test_phase(void **state)
{
	(void)state;
	assert_string_equal(hf_notify_phase("run", "run R started by me: hotfix x v1"), "started");
	assert_string_equal(hf_notify_phase("run", "promoted: every target verified"), "promoted");
	assert_string_equal(hf_notify_phase("run", "interrupted: run R is paused"), "paused");
	assert_string_equal(hf_notify_phase("run", "snapshot refused; no node was changed"), "failed");
	assert_null(hf_notify_phase("run", "settled 2 in-flight step(s) by asking their nodes"));
	assert_string_equal(hf_notify_phase("wave", "wave 1/2: 1 node(s) in 1 round(s)"), "wave");
	assert_string_equal(hf_notify_phase("request", "paused by request; 'hotfix continue R'"),
			    "paused");
	assert_string_equal(hf_notify_phase("request", "continued by request"), "continued");
	assert_string_equal(hf_notify_phase("request", "abort requested: rolling back"), "aborted");
	assert_string_equal(hf_notify_phase("rollback", "rolling back 1 step(s) (why)"),
			    "rolling back");
	assert_string_equal(hf_notify_phase("rollback", "rolled back in 4ms: 1 step(s) restored"),
			    "rolled back");
	assert_string_equal(hf_notify_phase("rollback", "nothing to do: 1 step(s) already reverted"),
			    "rolled back");
	assert_string_equal(hf_notify_phase("rollback", "rollback incomplete after 1s"),
			    "rollback incomplete");
	assert_null(hf_notify_phase("rollback", "wave 2: 10 key(s) restored"));
	assert_string_equal(hf_notify_phase("error", "timeout on 127.0.0.1:7000"), "error");
	assert_null(hf_notify_phase("step", "applied and verified on 127.0.0.1:7000"));
	assert_null(hf_notify_phase("verdict", "pass on 1 changed node(s)"));
	assert_null(hf_notify_phase("bake", "wave 1/2 baking for 3s"));
	assert_null(hf_notify_phase(NULL, "x"));
}

/* Parse 'text' as a message: an object with a string "text" and a list of
 * mrkdwn sections. Returns the blocks' texts joined by "|" (caller frees). */
static char *check_slack(const char *text, json_t **doc_out)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr), *blocks, *b;
	struct hf_buf all = {0};
	size_t i;

	assert_non_null(doc);
	assert_true(json_is_string(json_object_get(doc, "text")));
	blocks = json_object_get(doc, "blocks");
	assert_true(json_is_array(blocks));
	assert_true(json_array_size(blocks) > 0);
	json_array_foreach(blocks, i, b) {
		json_t *t = json_object_get(b, "text");

		assert_string_equal(json_string_value(json_object_get(b, "type")), "section");
		assert_string_equal(json_string_value(json_object_get(t, "type")), "mrkdwn");
		hf_buf_printf(&all, "%s|", json_string_value(json_object_get(t, "text")));
	}
	*doc_out = doc;
	return hf_buf_detach(&all);
}

static void test_message_phase(void **state)
{
	struct hf_notify_msg m = {
		.phase = "wave", .hotfix = "fix-it", .version = 3, .run_id = "20260101-000000-abcd",
		.text = "wave 2/3: 4 node(s)", .wave = "wave 2/3: 4 node(s)",
		.verdict = "pass on 1 changed node(s), 10 calls: error_rate 0",
	};
	char *s = hf_notify_message(&m), *blocks;
	json_t *doc;

	(void)state;
	assert_non_null(s);
	blocks = check_slack(s, &doc);
	assert_string_equal(json_string_value(json_object_get(doc, "text")),
			    "hotfix fix-it v3, run 20260101-000000-abcd: wave: wave 2/3: 4 node(s)");
	assert_string_equal(blocks, "*wave*: hotfix `fix-it` v3, run `20260101-000000-abcd`\n"
			    "wave 2/3: 4 node(s)|*latest verdict*\n"
			    "pass on 1 changed node(s), 10 calls: error_rate 0|");
	free(blocks);
	json_decref(doc);
	free(s);
}

static void test_message_evidence(void **state)
{
	struct hf_notify_msg m = {
		.phase = "rolled back", .hotfix = "oom", .version = 1, .run_id = "R",
		.text = "rolled back in 4ms", .wave = "wave 1/2: 1 node(s)",
		.evidence = "fail on 1 changed node(s): latency_p99_ms 9.1 is 4.00x the baseline "
			    "2.2, limit 2x; canary > control (U=3, p=0.01) & worse",
		.verdict = "ignored when there is evidence",
		.nodes = "127.0.0.1:7001", .baseline = "120 calls, error_rate 0",
	};
	char *s = hf_notify_message(&m), *blocks;
	json_t *doc;

	(void)state;
	blocks = check_slack(s, &doc);
	assert_non_null(strstr(json_string_value(json_object_get(doc, "text")),
				"rolled back in 4ms; evidence: fail on 1 changed node(s): "
				"latency_p99_ms 9.1 is 4.00x the baseline 2.2, limit 2x; canary &gt; control"));
	/* '&', '<' and '>' are escaped, in the fallback text as in mrkdwn. */
	assert_non_null(strstr(blocks, "*evidence*\nfail on 1 changed node(s): latency_p99_ms 9.1 "
			       "is 4.00x the baseline 2.2, limit 2x; canary &gt; control (U=3, "
			       "p=0.01) &amp; worse|"));
	assert_non_null(strstr(blocks, "*wave*\nwave 1/2: 1 node(s)|"));
	assert_non_null(strstr(blocks, "*changed nodes*\n127.0.0.1:7001|"));
	assert_non_null(strstr(blocks, "*baseline*\n120 calls, error_rate 0|"));
	assert_null(strstr(blocks, "ignored"));
	free(blocks);
	json_decref(doc);
	free(s);
}

static void test_message_bad_bytes(void **state)
{
	struct hf_buf big = {0};
	struct hf_notify_msg m = { .phase = "error", .hotfix = "x", .version = 1, .run_id = "R" };
	char *s, *blocks;
	json_t *doc;
	size_t i;

	(void)state;
	/* Invalid UTF-8 (a node's error text) and a text longer than a section. */
	hf_buf_puts(&big, "bad \xff\xfe bytes, cut \xe2\x82 here: ");
	for (i = 0; i < 1000; i++)
		hf_buf_puts(&big, "\xc3\xa9tat ");
	m.text = big.s;
	s = hf_notify_message(&m);
	assert_non_null(s);
	blocks = check_slack(s, &doc);
	assert_non_null(strstr(blocks, "bad ?? bytes, cut ?? here: \xc3\xa9tat"));
	assert_true(strlen(blocks) < 3000);
	assert_non_null(strstr(blocks, "...|"));
	free(blocks);
	json_decref(doc);
	free(s);
	hf_buf_release(&big);
}

/* A notifier whose webhook refuses connections: events queue, nothing
 * blocks, and the bounded finish counts what was not delivered. */
static void test_notifier_dead(void **state)
{
	struct hf_notifier *n = hf_notify_new("R", "x", 1);
	struct hf_err err = {0};
	long long t0;
	long lost;
	int i;

	(void)state;
	hf_notify_add(n, "http://127.0.0.1:1/hook", 1000);
	assert_int_equal(hf_notify_start(n, &err), 0);
	t0 = hf_mono_ms();
	for (i = 0; i < 1000; i++)
		hf_notify_event(n, "wave", "wave 1/2: 1 node(s)");
	hf_notify_event(n, "verdict", "pass");
	hf_notify_phase_msg(n, "resumed", "run R resumed");
	/* 1000 events with a dead webhook: no network wait on this thread. */
	assert_true(hf_mono_ms() - t0 < 1000);
	lost = hf_notify_finish(n, 200);
	assert_true(lost >= 1000);
	assert_true(hf_mono_ms() - t0 < 2000);
	assert_int_equal(hf_notify_finish(NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_absent),
		cmocka_unit_test(test_spec_mapping),
		cmocka_unit_test(test_spec_list),
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_url_ok),
		cmocka_unit_test(test_phase),
		cmocka_unit_test(test_message_phase),
		cmocka_unit_test(test_message_evidence),
		cmocka_unit_test(test_message_bad_bytes),
		cmocka_unit_test(test_notifier_dead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
