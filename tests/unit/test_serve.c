/* Unit tests of src/serve without HTTP: the tokens file (mode, roles,
 * constant-time check, the bare token of the dashboard's cookie), the
 * --listen address with its loopback rule, and the dashboard's embedded
 * files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/serve.h"

#define TMPDIR_PREFIX "hf-serve"
#include "../common/tmpdir.h"

/* Write 'text' to DIR/'name' with 'mode'; the path into 'path'. */
static void write_file(const char *name, const char *text, mode_t mode, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_tokens(void **state)
{
	struct hf_tokens *t = NULL;
	struct hf_err err = {0};
	char path[128];

	(void)state;
	write_file("ok", "# comment\n\nviewer v-secret\noperator  o-secret\n", 0600, path,
		   sizeof(path));
	assert_int_equal(hf_tokens_load(path, &t, &err), 0);
	assert_int_equal(hf_tokens_check(t, "Bearer v-secret"), HF_SERVE_VIEWER);
	assert_int_equal(hf_tokens_check(t, "bearer o-secret"), HF_SERVE_OPERATOR);
	assert_int_equal(hf_tokens_check(t, "Bearer o-secre"), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_check(t, "Bearer o-secretx"), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_check(t, "Basic o-secret"), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_check(t, "Bearer "), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_check(t, NULL), HF_SERVE_NONE);
	/* The cookie holds the token alone. */
	assert_int_equal(hf_tokens_role(t, "v-secret"), HF_SERVE_VIEWER);
	assert_int_equal(hf_tokens_role(t, "o-secret"), HF_SERVE_OPERATOR);
	assert_int_equal(hf_tokens_role(t, "Bearer o-secret"), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_role(t, "o-secre"), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_role(t, ""), HF_SERVE_NONE);
	assert_int_equal(hf_tokens_role(t, NULL), HF_SERVE_NONE);
	hf_tokens_free(t);
	t = NULL;

	write_file("open", "viewer v\n", 0644, path, sizeof(path));
	assert_int_equal(hf_tokens_load(path, &t, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "must be 0600"));
	write_file("ro", "viewer v\n", 0400, path, sizeof(path));
	assert_int_equal(hf_tokens_load(path, &t, &err), HF_EINVAL);
	write_file("role", "admin a\n", 0600, path, sizeof(path));
	assert_int_equal(hf_tokens_load(path, &t, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "line 1: unknown role 'admin'"));
	write_file("extra", "viewer a b\n", 0600, path, sizeof(path));
	assert_int_equal(hf_tokens_load(path, &t, &err), HF_EINVAL);
	write_file("empty", "# nothing\n", 0600, path, sizeof(path));
	assert_int_equal(hf_tokens_load(path, &t, &err), HF_EINVAL);
	assert_int_equal(hf_tokens_load("/nonexistent/tokens", &t, &err), HF_EINVAL);
	assert_null(t);
}

static void test_listen(void **state)
{
	struct sockaddr_storage a;
	socklen_t len;
	struct hf_err err = {0};
	int lo = -1;

	(void)state;
	assert_int_equal(hf_serve_listen_parse("127.0.0.1:7878", &a, &len, &lo, &err), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hf_serve_listen_parse("127.1.2.3:0", &a, &len, &lo, &err), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hf_serve_listen_parse("[::1]:80", &a, &len, &lo, &err), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hf_serve_listen_parse("0.0.0.0:7878", &a, &len, &lo, &err), 0);
	assert_int_equal(lo, 0);
	assert_int_equal(hf_serve_listen_parse("10.1.2.3:7878", &a, &len, &lo, &err), 0);
	assert_int_equal(lo, 0);
	assert_int_equal(hf_serve_listen_parse("localhost", &a, &len, &lo, &err), HF_EINVAL);
	assert_int_equal(hf_serve_listen_parse("127.0.0.1:", &a, &len, &lo, &err), HF_EINVAL);
	assert_int_equal(hf_serve_listen_parse(":80", &a, &len, &lo, &err), HF_EINVAL);
	assert_int_equal(hf_serve_listen_parse("127.0.0.1:8x", &a, &len, &lo, &err), HF_EINVAL);
}

/* Every file the pages name is embedded, whole, with its media type. */
static void test_web_files(void **state)
{
	static const char *const want[][2] = {
		{ "index.html", "text/html" }, { "login.html", "text/html" },
		{ "app.js", "text/javascript" }, { "login.js", "text/javascript" },
		{ "style.css", "text/css" }, { "favicon.svg", "image/svg+xml" },
	};
	const char *bytes = NULL, *ctype = NULL;
	size_t len = 0, i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(hf_web_file(want[i][0], &bytes, &len, &ctype), 0);
		assert_true(len > 0);
		assert_int_equal(strlen(bytes), len);
		assert_int_equal(strncmp(ctype, want[i][1], strlen(want[i][1])), 0);
	}
	assert_int_equal(hf_web_file("index.html", &bytes, &len, &ctype), 0);
	assert_non_null(strstr(bytes, "src=\"/static/app.js\""));
	assert_non_null(strstr(bytes, "id=\"btn-abort\""));
	/* Script only from files: the CSP refuses inline script. */
	assert_null(strstr(bytes, "<script>"));
	assert_int_equal(hf_web_file("login.html", &bytes, &len, &ctype), 0);
	assert_non_null(strstr(bytes, "id=\"login-submit\""));
	assert_int_equal(hf_web_file("../serve.h", &bytes, &len, &ctype), HF_EINVAL);
	assert_int_equal(hf_web_file("", &bytes, &len, &ctype), HF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_web_files),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
