/* Unit tests of src/util and of URI parsing in the engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/keyset.h"
#include "util/misc.h"

static void test_duration(void **state)
{
	long long ms = -1;

	(void)state;
	assert_int_equal(hf_duration_parse("0", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(hf_duration_parse("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(hf_duration_parse("10s", &ms), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(hf_duration_parse("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(hf_duration_parse("2m", &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(hf_duration_parse("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(hf_duration_parse("10", &ms), -1);
	assert_int_equal(hf_duration_parse("-1s", &ms), -1);
	assert_int_equal(hf_duration_parse("10 s", &ms), -1);
	assert_int_equal(hf_duration_parse("s", &ms), -1);
	assert_int_equal(hf_duration_parse("", &ms), -1);
	assert_int_equal(hf_duration_parse("8d", &ms), -1);
	assert_int_equal(hf_duration_parse("200h", &ms), -1);   /* over a week */
}

static void test_sha256(void **state)
{
	char hex[65];

	(void)state;
	/* FIPS 180-2 test vector. */
	hf_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hf_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_buf(void **state)
{
	struct hf_buf b = {0};
	char *s;

	(void)state;
	hf_buf_puts(&b, "wave ");
	hf_buf_printf(&b, "%d/%d", 2, 3);
	hf_buf_append(&b, "!!", 1);
	assert_string_equal(b.s, "wave 2/3!");
	assert_int_equal(b.len, 9);
	s = hf_buf_detach(&b);
	assert_null(b.s);
	assert_string_equal(s, "wave 2/3!");
	free(s);
	s = hf_buf_detach(&b);   /* an empty buffer detaches as "" */
	assert_string_equal(s, "");
	free(s);
}

static void test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(hf_exit_code(HF_OK), 0);
	assert_int_equal(hf_exit_code(HF_ERR), 1);
	assert_int_equal(hf_exit_code(HF_EINVAL), 2);
	assert_int_equal(hf_exit_code(HF_EGUARD), 3);
	assert_int_equal(hf_exit_code(HF_EHUMAN), 4);
	assert_int_equal(hf_exit_code(HF_EUNREACH), 4);
	assert_int_equal(hf_exit_code(HF_ECONFLICT), 4);
	assert_int_equal(hf_exit_code(HF_EREFUSED), 5);
}

static void test_uri(void **state)
{
	struct hf_uri u = {0};
	struct hf_err err = {0};
	char *red;

	(void)state;
	unsetenv("HOTFIX_PASSWORD");
	assert_int_equal(hf_uri_parse("redis://app:p%40ss:w@10.0.0.1:7001", &u, &err), 0);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "p@ss:w");
	assert_string_equal(u.host, "10.0.0.1");
	assert_int_equal(u.port, 7001);
	red = hf_uri_redacted(&u);
	assert_string_equal(red, "redis://app@10.0.0.1:7001");
	assert_null(strstr(red, "p@ss"));
	free(red);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("redis://:secret@localhost", &u, &err), 0);
	assert_null(u.user);
	assert_string_equal(u.password, "secret");
	assert_int_equal(u.port, 6379);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("127.0.0.1:30001", &u, &err), 0);
	assert_null(u.password);
	assert_int_equal(u.port, 30001);
	hf_uri_release(&u);

	setenv("HOTFIX_PASSWORD", "from-env", 1);
	assert_int_equal(hf_uri_parse("redis://h:1", &u, &err), 0);
	assert_string_equal(u.password, "from-env");
	hf_uri_release(&u);
	unsetenv("HOTFIX_PASSWORD");

	assert_int_equal(hf_uri_parse("redis://h:0", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://h:70000", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://h:12x", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("http://h:1", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("rediss://h:1", &u, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "TLS"));
	assert_int_equal(hf_uri_parse("redis://:pw@:1", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("", &u, &err), HF_EINVAL);
}

static void test_info_field(void **state)
{
	const char *info = "# Server\r\nredis_version:7.0.15\r\nconfig_file:\r\n"
			   "# Replication\r\nrole:slave\r\nmaster_port:30001\r\n";
	char out[32];

	(void)state;
	assert_int_equal(hf_info_field(info, "redis_version", out, sizeof(out)), 0);
	assert_string_equal(out, "7.0.15");
	assert_int_equal(hf_info_field(info, "config_file", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(hf_info_field(info, "master_port", out, sizeof(out)), 0);
	assert_string_equal(out, "30001");
	assert_int_equal(hf_info_field(info, "master", out, sizeof(out)), -1);
	assert_int_equal(hf_info_field(info, "role:", out, sizeof(out)), -1);
}

static void test_keyset(void **state)
{
	struct hf_keyset s = {0};
	char key[32];
	int i;

	(void)state;
	assert_false(hf_keyset_has(&s, "a", 1));
	/* Binary-safe: "a\0b" and "a\0c" differ after the NUL. */
	assert_int_equal(hf_keyset_add(&s, "a\0b", 3), 1);
	assert_true(hf_keyset_has(&s, "a\0b", 3));
	assert_false(hf_keyset_has(&s, "a\0c", 3));
	assert_false(hf_keyset_has(&s, "a", 1));
	assert_int_equal(hf_keyset_add(&s, "a\0b", 3), 0);
	assert_int_equal(hf_keyset_add(&s, "", 0), 1);
	assert_true(hf_keyset_has(&s, "", 0));
	/* Through many growths, every key stays found once. */
	for (i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "user:%d", i);

		assert_int_equal(hf_keyset_add(&s, key, (size_t)n), 1);
	}
	for (i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "user:%d", i);

		assert_true(hf_keyset_has(&s, key, (size_t)n));
		assert_int_equal(hf_keyset_add(&s, key, (size_t)n), 0);
	}
	assert_false(hf_keyset_has(&s, "user:100000", 11));
	assert_int_equal(s.n, 100002);
	hf_keyset_free(&s);
	assert_false(hf_keyset_has(&s, "user:1", 6));
}

/* A scratch directory for one test; 'rm_tree' removes it. */
static void scratch(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/hf-util-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static void rm_tree(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_mkdir_p(void **state)
{
	struct hf_err err = {0};
	char dir[64], path[160], want[256];
	struct stat st;
	FILE *f;

	(void)state;
	scratch(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(hf_mkdir_p(path, 0700, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0077, 0);
	/* Again, and spelled with doubled and trailing slashes: all there. */
	assert_int_equal(hf_mkdir_p(path, 0700, &err), 0);
	snprintf(path, sizeof(path), "%s//a///b/c/d/", dir);
	assert_int_equal(hf_mkdir_p(path, 0700, &err), 0);
	snprintf(path, sizeof(path), "%s/a/b/c/d", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	/* A file in the way is named, whether it is the end or a parent. */
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(want, sizeof(want), "cannot create '%s/file': Not a directory", dir);
	assert_int_equal(hf_mkdir_p(path, 0700, &err), HF_ERR);
	assert_string_equal(err.msg, want);
	snprintf(path, sizeof(path), "%s/file/x/y", dir);
	assert_int_equal(hf_mkdir_p(path, 0700, &err), HF_ERR);
	assert_string_equal(err.msg, want);
	assert_int_equal(hf_mkdir_p(path, 0700, NULL), HF_ERR);
	assert_int_equal(hf_mkdir_p("", 0700, &err), HF_ERR);
	rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_info_field),
		cmocka_unit_test(test_keyset),
		cmocka_unit_test(test_mkdir_p),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
