/* Unit tests of src/core/report.c: escaping for Markdown tables and HTML,
 * and a whole report from canned journal rows with hostile text in them,
 * without a journal or a server. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/report.h"

static char *md_cell(const char *s)
{
	struct hf_buf b = {0};

	hf_report_md_cell(&b, s);
	return hf_buf_detach(&b);
}

static char *html(const char *s)
{
	struct hf_buf b = {0};

	hf_report_html_escape(&b, s);
	return hf_buf_detach(&b);
}

static void test_md_cell(void **state)
{
	char *s;

	(void)state;
	s = md_cell("a|b\nc\r\nd");
	assert_string_equal(s, "a\\|b c  d");
	free(s);
	s = md_cell("");
	assert_string_equal(s, "");
	free(s);
	s = md_cell(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_html_escape(void **state)
{
	char *s;

	(void)state;
	s = html("<script>alert(\"x\" & 'y')</script>");
	assert_string_equal(s, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
	free(s);
	s = html("plain");
	assert_string_equal(s, "plain");
	free(s);
}

static void test_format_parse(void **state)
{
	enum hf_report_format f = HF_REPORT_HTML;

	(void)state;
	assert_int_equal(hf_report_format_parse("md", &f), 0);
	assert_int_equal(f, HF_REPORT_MD);
	assert_int_equal(hf_report_format_parse("html", &f), 0);
	assert_int_equal(f, HF_REPORT_HTML);
	assert_int_equal(hf_report_format_parse("pdf", &f), -1);
	assert_int_equal(f, HF_REPORT_HTML);
	assert_int_equal(hf_report_format_parse(NULL, &f), -1);
}

/* A run rolled back by the guard, its texts full of table and tag
 * characters. */
static char manifest[] =
	"apiVersion: hotfix/v1\n"
	"kind: Hotfix\n"
	"metadata: {name: evil, version: 2, owner: \"a|b <o@x>\", problem: \"x < y & z | w\"}\n"
	"spec:\n"
	"  changes:\n"
	"    - config: {timeout: \"300\"}\n"
	"  guard:\n"
	"    checks:\n"
	"      - metric: error_rate\n"
	"        max: 0.01\n";

static void fill(struct hf_run *run, struct hf_step *steps, struct hf_event *ev,
		 struct hf_guard_sample *s, struct hf_report_input *in)
{
	*run = (struct hf_run){ .id = "run-1", .hotfix = "evil", .version = 2,
		.owner = "a|b <o@x>", .cluster = "redis://127.0.0.1:7000", .manifest_path = "f.yaml",
		.manifest_sha256 = "abc", .manifest_text = manifest, .state = HF_RUN_ROLLED_BACK,
		.created_ms = 1000, .updated_ms = 5000, .operator = "me",
		.note = "rolled back by the guard: error_rate 0.5 above max 0.01" };
	steps[0] = (struct hf_step){ .seq = 1, .wave = 1, .node_id = "n1", .addr = "127.0.0.1:7000",
		.role = "primary", .state = HF_STEP_REVERTED, .error = "line one\nline | two <b>" };
	ev[0] = (struct hf_event){ .ts_ms = 2000, .kind = "verdict",
		.message = "fail on 1 changed node(s): error_rate 0.5 | <above> max 0.01" };
	ev[1] = (struct hf_event){ .ts_ms = 3000, .kind = "guard",
		.message = "rolled back by the guard: error_rate" };
	s[0] = (struct hf_guard_sample){ .n = 1, .verdict = 0, .wave = 0, .metric = "error_rate",
		.scope = "baseline", .value = 0.001, .baseline = 0.001, .threshold = 0.01,
		.rule = "max 0.01", .outcome = "baseline", .u = NAN, .p = NAN, .detail = "" };
	s[1] = (struct hf_guard_sample){ .n = 2, .verdict = 1, .wave = 1, .metric = "error_rate",
		.scope = "127.0.0.1:7000", .value = 0.5, .baseline = 0.001, .threshold = 0.01,
		.rule = "max 0.01", .outcome = "fail", .u = NAN, .p = NAN,
		.detail = "above max 0.01 | <b>" };
	*in = (struct hf_report_input){ .run = run, .steps = steps, .nsteps = 1, .events = ev,
		.nevents = 2, .chain_ok = 1, .samples = s, .nsamples = 2 };
}

/* Every line of a Markdown table has as many unescaped '|' as its header. */
static void assert_tables_whole(const char *md)
{
	const char *line = md;
	int want = -1;

	while (*line) {
		const char *end = strchr(line, '\n'), *p;
		int bars = 0;

		if (!end)
			end = line + strlen(line);
		if (*line != '|') {
			want = -1;
		} else {
			for (p = line; p < end; p++)
				if (*p == '|' && (p == line || p[-1] != '\\'))
					bars++;
			if (want < 0)
				want = bars;
			else if (bars != want)
				fail_msg("a table row has %d cells' bars, its header %d: '%.*s'", bars,
					 want, (int)(end - line), line);
		}
		line = *end ? end + 1 : end;
	}
}

static void test_markdown(void **state)
{
	struct hf_run run;
	struct hf_step steps[1];
	struct hf_event ev[2];
	struct hf_guard_sample s[2];
	struct hf_report_input in;
	struct hf_buf b = {0};

	(void)state;
	fill(&run, steps, ev, s, &in);
	hf_report_build(&in, HF_REPORT_MD, &b);
	assert_non_null(strstr(b.s, "# Hotfix report: evil v2 (run run-1)"));
	assert_non_null(strstr(b.s, "**rolled back by the guard: error_rate 0.5 above max 0.01**"));
	assert_non_null(strstr(b.s, "- error_rate on 127.0.0.1:7000 in wave 1: 0.5000 above max 0.01 \\| <b>"));
	assert_non_null(strstr(b.s, "- **Problem:** x < y & z \\| w"));
	assert_non_null(strstr(b.s, "- **Owner:** a\\|b <o@x>"));
	assert_non_null(strstr(b.s, "```yaml\napiVersion: hotfix/v1\n"));
	assert_non_null(strstr(b.s, "| line one line \\| two <b> |"));
	assert_non_null(strstr(b.s, "| fail: above max 0.01 \\| <b> |"));
	assert_tables_whole(b.s);
	hf_buf_release(&b);
}

static void test_html(void **state)
{
	struct hf_run run;
	struct hf_step steps[1];
	struct hf_event ev[2];
	struct hf_guard_sample s[2];
	struct hf_report_input in;
	struct hf_buf b = {0};

	(void)state;
	fill(&run, steps, ev, s, &in);
	hf_report_build(&in, HF_REPORT_HTML, &b);
	assert_non_null(strstr(b.s, "<!DOCTYPE html>"));
	assert_non_null(strstr(b.s, "<svg "));
	assert_non_null(strstr(b.s, "class=\"threshold\""));
	assert_non_null(strstr(b.s, "class=\"baseline\""));
	assert_non_null(strstr(b.s, "r=\"3\" class=\"fail\"><title>wave 1, verdict 1: fail 0.5000"));
	assert_non_null(strstr(b.s, "x &lt; y &amp; z | w"));
	assert_non_null(strstr(b.s, "a|b &lt;o@x&gt;"));
	assert_non_null(strstr(b.s, "line one\nline | two &lt;b&gt;"));
	/* No raw tag from the data, and nothing fetched from outside. */
	assert_null(strstr(b.s, "<b>"));
	assert_null(strstr(b.s, "<above>"));
	assert_null(strstr(b.s, "<o@x>"));
	assert_null(strstr(b.s, "http://"));
	assert_null(strstr(b.s, "https://"));
	assert_null(strstr(b.s, "<script"));
	hf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md_cell),
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_html),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
