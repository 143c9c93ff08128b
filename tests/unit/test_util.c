/* Unit tests of src/util and of URI parsing in the engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/keyset.h"
#include "util/misc.h"
#include "util/proc.h"

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
	/* strtod reads these; NaN cast to an integer was undefined. */
	assert_int_equal(hf_duration_parse("nans", &ms), -1);
	assert_int_equal(hf_duration_parse("NaNms", &ms), -1);
	assert_int_equal(hf_duration_parse("infs", &ms), -1);
	assert_int_equal(hf_duration_parse("infinityh", &ms), -1);
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
	unsetenv("REDISCLI_AUTH");
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

	/* The exec engine's inventory: kept absolute when the file exists. */
	assert_int_equal(hf_uri_parse("exec:/nonexistent/inv.yaml", &u, &err), 0);
	assert_string_equal(u.inventory, "/nonexistent/inv.yaml");
	assert_null(u.password);
	red = hf_uri_redacted(&u);
	assert_string_equal(red, "exec:/nonexistent/inv.yaml");
	free(red);
	hf_uri_release(&u);
	assert_int_equal(hf_uri_parse("exec:.", &u, &err), 0);
	assert_true(u.inventory[0] == '/');
	hf_uri_release(&u);
	assert_int_equal(hf_uri_parse("exec:", &u, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "names no inventory file"));

	setenv("HOTFIX_PASSWORD", "from-env", 1);
	assert_int_equal(hf_uri_parse("redis://h:1", &u, &err), 0);
	assert_string_equal(u.password, "from-env");
	hf_uri_release(&u);
	unsetenv("HOTFIX_PASSWORD");
	unsetenv("REDISCLI_AUTH");

	assert_int_equal(hf_uri_parse("redis://h:0", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://h:70000", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://h:12x", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("http://h:1", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://:pw@:1", &u, &err), HF_EINVAL);
	/* Brackets hold an IPv6 address, nothing else (found by fuzz_uri:
	 * "[[]" parsed as host "[", which its redacted form could not say). */
	assert_int_equal(hf_uri_parse("[[]", &u, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "is no IPv6 address"));
	assert_int_equal(hf_uri_parse("redis://[host]:1", &u, &err), HF_EINVAL);
	/* An escaped NUL would cut a user or password short, silently. */
	assert_int_equal(hf_uri_parse("redis://u:p%00w@h:1", &u, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "escaped NUL"));
	assert_int_equal(hf_uri_parse("redis://%00u@h:1", &u, &err), HF_EINVAL);
	/* The error about a scheme does not repeat the URI (its password). */
	assert_int_equal(hf_uri_parse("http://u:secret@h:1", &u, &err), HF_EINVAL);
	assert_null(strstr(err.msg, "secret"));
	assert_int_equal(hf_uri_parse("", &u, &err), HF_EINVAL);
}

/* Where a URI's password comes from: the URI, else the command line's
 * (--password-file), else HOTFIX_PASSWORD, else REDISCLI_AUTH. */
static void test_uri_credentials(void **state)
{
	struct hf_uri u = {0}, c = {0};
	struct hf_err err = {0};

	(void)state;
	setenv("HOTFIX_PASSWORD", "hp", 1);
	setenv("REDISCLI_AUTH", "ra", 1);
	hf_uri_password_default("file-pw", "--password-file");
	assert_int_equal(hf_uri_parse("redis://:uri-pw@h:1", &u, &err), 0);
	assert_string_equal(u.password, "uri-pw");
	assert_string_equal(u.password_from, "the URI");
	hf_uri_release(&u);
	assert_int_equal(hf_uri_parse("redis://app@h:1", &u, &err), 0);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "file-pw");
	assert_string_equal(u.password_from, "--password-file");
	hf_uri_copy(&c, &u);
	assert_string_equal(c.password_from, "--password-file");
	hf_uri_release(&c);
	hf_uri_release(&u);
	hf_uri_password_default(NULL, NULL);
	assert_int_equal(hf_uri_parse("h:1", &u, &err), 0);
	assert_string_equal(u.password, "hp");
	assert_string_equal(u.password_from, "HOTFIX_PASSWORD");
	hf_uri_release(&u);
	setenv("HOTFIX_PASSWORD", "", 1);   /* empty is none */
	assert_int_equal(hf_uri_parse("h:1", &u, &err), 0);
	assert_string_equal(u.password, "ra");
	assert_string_equal(u.password_from, "REDISCLI_AUTH");
	hf_uri_release(&u);
	unsetenv("HOTFIX_PASSWORD");
	unsetenv("REDISCLI_AUTH");
	assert_int_equal(hf_uri_parse("h:1", &u, &err), 0);
	assert_null(u.password);
	assert_null(u.password_from);
	hf_uri_release(&u);

	assert_true(hf_uri_has_password("redis://:pw@h:1"));
	assert_true(hf_uri_has_password("rediss://u:pw@h:1"));
	assert_true(hf_uri_has_password(":pw@h:1"));
	assert_false(hf_uri_has_password("redis://u@h:1"));
	assert_false(hf_uri_has_password("redis://h:1"));
	assert_false(hf_uri_has_password("redis://[::1]:1"));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* A password file: its first line, without "\n" or "\r\n"; a file its
 * group or others may read is flagged; nothing on the first line is an
 * error that does not echo the file's contents. */
static void test_password_file(void **state)
{
	char dir[] = "/tmp/hf-pwfile.XXXXXX", path[64];
	struct hf_err err = {0};
	char *pw = NULL;
	int loose = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	write_file(path, "s3cr3t pw:@\nsecond line\n", 0600);
	assert_int_equal(hf_password_file_read(path, &pw, &loose, &err), 0);
	assert_string_equal(pw, "s3cr3t pw:@");
	assert_int_equal(loose, 0);
	free(pw);
	write_file(path, "crlf\r\n", 0640);
	assert_int_equal(hf_password_file_read(path, &pw, &loose, &err), 0);
	assert_string_equal(pw, "crlf");
	assert_int_equal(loose, 1);
	free(pw);
	write_file(path, "no-newline", 0604);
	assert_int_equal(hf_password_file_read(path, &pw, &loose, &err), 0);
	assert_string_equal(pw, "no-newline");
	assert_int_equal(loose, 1);
	free(pw);
	write_file(path, "\nsecret-on-line-2\n", 0600);
	assert_int_equal(hf_password_file_read(path, &pw, &loose, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "no password"));
	assert_null(strstr(err.msg, "secret-on-line-2"));
	write_file(path, "", 0600);
	assert_int_equal(hf_password_file_read(path, &pw, &loose, &err), HF_EINVAL);
	unlink(path);
	assert_int_equal(hf_password_file_read(path, &pw, &loose, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "cannot read"));
	rmdir(dir);
}

/* NOAUTH and WRONGPASS answers say how to give credentials. */
static void test_auth_error(void **state)
{
	struct hf_uri u = { .user = "app", .password = "pw", .password_from = "HOTFIX_PASSWORD" };
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_auth_error("h:1", "NOAUTH Authentication required.", NULL, &err), 1);
	assert_int_equal(err.code, HF_ERR);
	assert_non_null(strstr(err.msg, "h:1 needs a password (NOAUTH)"));
	assert_non_null(strstr(err.msg, "--password-file FILE, HOTFIX_PASSWORD or REDISCLI_AUTH"));
	assert_int_equal(hf_auth_error("h:1", "WRONGPASS invalid username-password pair or user "
				       "is disabled.", &u, &err), 1);
	assert_non_null(strstr(err.msg, "wrong password for h:1 (WRONGPASS, the password of "
			       "HOTFIX_PASSWORD)"));
	assert_non_null(strstr(err.msg, "the user in the URI"));
	assert_null(strstr(err.msg, "pw)"));
	assert_int_equal(hf_auth_error("h:1", "ERR invalid password", NULL, &err), 1);
	assert_non_null(strstr(err.msg, "wrong password for h:1 (refused)"));
	assert_int_equal(hf_auth_error("h:1", "ERR unknown command", &u, &err), 0);
	assert_int_equal(hf_auth_error("h:1", NULL, &u, &err), 0);
}

/* IPv6 literals in brackets, with or without a scheme, a port or
 * credentials; printed back with their brackets. */
static void test_uri_ipv6(void **state)
{
	struct hf_uri u = {0};
	struct hf_err err = {0};
	char *red;

	(void)state;
	unsetenv("HOTFIX_PASSWORD");
	unsetenv("REDISCLI_AUTH");
	assert_int_equal(hf_uri_parse("redis://[::1]:7000", &u, &err), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	assert_int_equal(u.tls, 0);
	red = hf_uri_redacted(&u);
	assert_string_equal(red, "redis://[::1]:7000");
	free(red);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("[::1]:7000", &u, &err), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("redis://app:pw@[fe80::1%25lo]", &u, &err), 0);
	assert_string_equal(u.host, "fe80::1%25lo");
	assert_int_equal(u.port, 6379);
	assert_string_equal(u.password, "pw");
	red = hf_uri_redacted(&u);
	assert_string_equal(red, "redis://app@[fe80::1%25lo]:6379");
	free(red);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("rediss://[2001:db8::7]:6380", &u, &err), 0);
	assert_string_equal(u.host, "2001:db8::7");
	assert_int_equal(u.tls, 1);
	red = hf_uri_redacted(&u);
	assert_string_equal(red, "rediss://[2001:db8::7]:6380");
	free(red);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("redis://::1:7000", &u, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "brackets"));
	assert_int_equal(hf_uri_parse("redis://[::1:7000", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://[::1]x7000", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://[::1]:", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://[::1]:70000", &u, &err), HF_EINVAL);
	assert_int_equal(hf_uri_parse("redis://[]:7000", &u, &err), HF_EINVAL);
}

/* rediss:// takes its TLS settings from the command line's defaults,
 * then from the environment; redis:// has none. */
static void test_uri_tls(void **state)
{
	struct hf_tls given = { .cacert = "/opt/ca.pem", .sni = "redis.example" };
	struct hf_uri u = {0}, copy = {0};
	struct hf_err err = {0};
	char *red;

	(void)state;
	setenv("HOTFIX_TLS_CACERT", "/env/ca.pem", 1);
	setenv("HOTFIX_TLS_CERT", "/env/client.pem", 1);
	unsetenv("HOTFIX_TLS_KEY");
	unsetenv("HOTFIX_TLS_SNI");
	unsetenv("HOTFIX_TLS_INSECURE");
	assert_int_equal(hf_uri_parse("rediss://u:pw@h.example:6380", &u, &err), 0);
	assert_int_equal(u.tls, 1);
	assert_string_equal(u.tlsopt.cacert, "/env/ca.pem");
	assert_string_equal(u.tlsopt.cert, "/env/client.pem");
	assert_null(u.tlsopt.key);
	assert_int_equal(u.tlsopt.insecure, 0);
	red = hf_uri_redacted(&u);
	assert_string_equal(red, "rediss://u@h.example:6380");
	free(red);
	hf_uri_release(&u);

	hf_uri_tls_defaults(&given);
	setenv("HOTFIX_TLS_INSECURE", "1", 1);
	assert_int_equal(hf_uri_parse("rediss://h:1", &u, &err), 0);
	assert_string_equal(u.tlsopt.cacert, "/opt/ca.pem");
	assert_string_equal(u.tlsopt.cert, "/env/client.pem");
	assert_string_equal(u.tlsopt.sni, "redis.example");
	assert_int_equal(u.tlsopt.insecure, 1);
	hf_uri_copy(&copy, &u);
	assert_int_equal(copy.tls, 1);
	assert_string_equal(copy.tlsopt.sni, "redis.example");
	hf_uri_release(&copy);
	hf_uri_release(&u);

	assert_int_equal(hf_uri_parse("redis://h:1", &u, &err), 0);
	assert_int_equal(u.tls, 0);
	assert_null(u.tlsopt.cacert);
	hf_uri_release(&u);
	hf_uri_tls_defaults(NULL);
	unsetenv("HOTFIX_TLS_CACERT");
	unsetenv("HOTFIX_TLS_CERT");
	unsetenv("HOTFIX_TLS_INSECURE");
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

/* Poll until child 'pid' has ended (at most 5 s); its 'why'. */
static void wait_ended(int pid, char *why, size_t len)
{
	long long deadline = hf_mono_ms() + 5000;

	while (!hf_proc_ended(pid, why, len)) {
		assert_true(hf_mono_ms() < deadline);
		hf_sleep_ms(5);
	}
}

static char *read_all(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_proc_start(void **state)
{
	char *fails[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	char *quiet[] = { "/bin/sh", "-c", "exit 0", NULL };
	char *killed[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	char *sleeper[] = { "/bin/sleep", "30", NULL };
	char *missing[] = { "/nonexistent/prog", NULL };
	char dir[64], log[96], why[256], cmd[256];
	long long deadline;
	int pid;

	(void)state;
	scratch(dir, sizeof(dir));
	snprintf(log, sizeof(log), "%s/start.log", dir);

	/* stdout and stderr both go to the log; the exit status is told. */
	pid = hf_proc_start(fails, log, why, sizeof(why));
	assert_true(pid > 0);
	wait_ended(pid, why, sizeof(why));
	assert_string_equal(why, "exit status 3");
	assert_string_equal(read_all(log), "out\nerr\n");
	/* The log starts afresh; exit status 0 says nothing. */
	pid = hf_proc_start(quiet, log, why, sizeof(why));
	assert_true(pid > 0);
	wait_ended(pid, why, sizeof(why));
	assert_string_equal(why, "");
	assert_string_equal(read_all(log), "");
	pid = hf_proc_start(killed, NULL, why, sizeof(why));
	assert_true(pid > 0);
	wait_ended(pid, why, sizeof(why));
	assert_string_equal(why, "signal 9");

	/* A running child: alive, its command line readable, then killed and
	 * reaped at once (gone, not a zombie). */
	pid = hf_proc_start(sleeper, NULL, why, sizeof(why));
	assert_true(pid > 0);
	assert_int_equal(hf_proc_ended(pid, why, sizeof(why)), 0);
	assert_true(hf_proc_alive(pid));
	assert_int_equal(hf_proc_cmdline(pid, cmd, sizeof(cmd)), (int)strlen("/bin/sleep 30 "));
	assert_string_equal(cmd, "/bin/sleep 30 ");
	assert_true(hf_proc_cmdline_has(pid, "sleep 30"));
	assert_false(hf_proc_cmdline_has(pid, "sleep 31"));
	hf_proc_kill(pid);
	assert_false(hf_proc_alive(pid));
	assert_int_equal(hf_proc_cmdline(pid, cmd, sizeof(cmd)), -1);
	/* Nothing left to wait for counts as ended. */
	assert_int_equal(hf_proc_ended(pid, why, sizeof(why)), 1);
	assert_string_equal(why, "");

	/* A zombie (ended, not reaped yet) is not alive. */
	pid = hf_proc_start(quiet, NULL, why, sizeof(why));
	assert_true(pid > 0);
	deadline = hf_mono_ms() + 5000;
	while (hf_proc_alive(pid)) {
		assert_true(hf_mono_ms() < deadline);
		hf_sleep_ms(5);
	}
	wait_ended(pid, why, sizeof(why));
	assert_string_equal(why, "");

	/* What could not be started is said, and nothing is left to reap. */
	assert_int_equal(hf_proc_start(missing, log, why, sizeof(why)), -1);
	assert_string_equal(why, "cannot run /nonexistent/prog: No such file or directory");
	snprintf(cmd, sizeof(cmd), "%s/no/such.log", dir);
	assert_int_equal(hf_proc_start(quiet, cmd, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "cannot write '"));
	assert_non_null(strstr(why, "no/such.log': No such file or directory"));
	rm_tree(dir);
}

static void test_proc_run_spawn(void **state)
{
	char *talk[] = { "/bin/sh", "-c", "echo hi; echo there >&2; exit 2", NULL };
	char *slow[] = { "/bin/sleep", "5", NULL };
	char *missing[] = { "/nonexistent/prog", NULL };
	char *mark[] = { "/bin/sh", "-c", "echo $$ > mark", NULL };
	char *stay[] = { "/bin/true", NULL };
	char dir[64], out[256], path[96];
	long long deadline;

	(void)state;
	assert_int_equal(hf_proc_run(talk, 5000, out, sizeof(out)), 2);
	assert_string_equal(out, "hi\nthere\n");
	assert_int_equal(hf_proc_run(slow, 100, out, sizeof(out)), -1);
	assert_string_equal(out, "/bin/sleep did not finish within 100 ms");
	assert_int_equal(hf_proc_run(missing, 5000, out, sizeof(out)), 127);
	assert_string_equal(out, "cannot run /nonexistent/prog: No such file or directory");

	/* Detached, in 'cwd': the program runs there. */
	scratch(dir, sizeof(dir));
	assert_int_equal(hf_proc_spawn(mark, dir, NULL, out, sizeof(out)), 0);
	snprintf(path, sizeof(path), "%s/mark", dir);
	deadline = hf_mono_ms() + 5000;
	while (access(path, F_OK)) {
		assert_true(hf_mono_ms() < deadline);
		hf_sleep_ms(5);
	}
	assert_int_equal(hf_proc_spawn(missing, NULL, NULL, out, sizeof(out)), -1);
	assert_string_equal(out, "cannot run /nonexistent/prog: No such file or directory");
	assert_int_equal(hf_proc_spawn(stay, "/nonexistent", NULL, out, sizeof(out)), -1);
	assert_string_equal(out, "cannot run /bin/true in /nonexistent: No such file or directory");
	rm_tree(dir);
}

/* hf_proc_exec: stdin in, stdout and stderr apart, the exit status, a
 * working directory, output cut at its bound, a timeout that kills the
 * whole process group (a grandchild too), a program that cannot run. */
static void test_proc_exec(void **state)
{
	char *cat[] = { "/bin/cat", NULL };
	char *sh_split[] = { "/bin/sh", "-c", "echo out; echo err >&2; pwd; exit 3", NULL };
	char *sh_big[] = { "/bin/sh", "-c", "head -c 100000 /dev/zero", NULL };
	/* Two commands that never end by themselves, a grandchild and its
	 * parent: only the kill at the deadline ends them. */
	char *sh_slow[] = { "/bin/sh", "-c", "tail -f /dev/null & echo $! ; tail -f /dev/null", NULL };
	char *missing[] = { "/nonexistent/hotfix-test", NULL };
	struct hf_proc_io io = { .in = "line one\nline two\n", .inlen = 18 };
	char big[200000];
	int gpid;

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(hf_proc_exec(cat, 5000, &io), 0);
	assert_string_equal(io.out, "line one\nline two\n");
	assert_int_equal(io.errlen, 0);
	hf_proc_io_release(&io);

	/* More input than a pipe holds, written as the child reads it. */
	io = (struct hf_proc_io){ .in = big, .inlen = sizeof(big) };
	assert_int_equal(hf_proc_exec(cat, 5000, &io), 0);
	assert_int_equal(io.outlen, sizeof(big));
	assert_false(io.cut);
	hf_proc_io_release(&io);

	io = (struct hf_proc_io){ .cwd = "/tmp" };
	assert_int_equal(hf_proc_exec(sh_split, 5000, &io), 3);
	assert_string_equal(io.out, "out\n/tmp\n");
	assert_string_equal(io.err, "err\n");
	hf_proc_io_release(&io);

	io = (struct hf_proc_io){ .max = 1000 };
	assert_int_equal(hf_proc_exec(sh_big, 5000, &io), 0);
	assert_int_equal(io.outlen, 1000);
	assert_true(io.cut);
	hf_proc_io_release(&io);

	io = (struct hf_proc_io){ 0 };
	assert_int_equal(hf_proc_exec(sh_slow, 300, &io), -1);
	assert_non_null(strstr(io.why, "did not finish in time"));
	gpid = atoi(io.out);
	assert_true(gpid > 0);
	/* The grandchild went with its group (it may linger as a zombie of
	 * init for a moment). */
	for (int i = 0; i < 200 && hf_proc_alive(gpid); i++)
		hf_sleep_ms(10);
	assert_false(hf_proc_alive(gpid));
	hf_proc_io_release(&io);

	io = (struct hf_proc_io){ 0 };
	assert_int_equal(hf_proc_exec(missing, 1000, &io), -1);
	assert_non_null(strstr(io.why, "cannot run /nonexistent/hotfix-test"));
	hf_proc_io_release(&io);
}

static void test_call_cmds(void **state)
{
	struct hf_node node = { .host = "127.0.0.1", .port = 7001 };
	struct hf_call call = { .node = &node };
	struct hf_argv *a;
	char msg[256] = "", want[128];
	int fds[2], status, k;
	ssize_t got;
	pid_t pid;

	(void)state;
	hf_call_push(&call, "CLUSTER", "INFO", NULL);
	a = hf_call_cmd(&call);
	assert_ptr_equal(a, &call.cmds[1]);
	hf_argv_push(a, "GET");
	hf_argv_pushb(a, "k\0ey", 4);
	assert_int_equal(call.ncmds, 2);
	assert_int_equal(call.cmds[0].argc, 2);
	assert_string_equal(call.cmds[0].argv[1], "INFO");
	assert_int_equal(call.cmds[1].len[1], 4);
	for (k = 2; k < HF_CALL_MAX; k++)
		hf_call_push(&call, "PING", NULL);
	assert_int_equal(call.ncmds, HF_CALL_MAX);
	hf_calls_release(&call, 1);
	assert_int_equal(call.ncmds, 0);
	assert_ptr_equal(hf_call_cmd(&call), &call.cmds[0]);
	hf_calls_release(&call, 1);

	/* One command too many aborts, saying where, instead of writing past
	 * the array. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(fds[1], 2);
		for (k = 0; k <= HF_CALL_MAX; k++)
			hf_call_push(&call, "PING", NULL);
		_exit(0);
	}
	close(fds[1]);
	got = read(fds[0], msg, sizeof(msg) - 1);
	close(fds[0]);
	assert_true(got > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	snprintf(want, sizeof(want), "a call to 127.0.0.1:7001 has more than %d commands", HF_CALL_MAX);
	assert_non_null(strstr(msg, want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_uri_ipv6),
		cmocka_unit_test(test_uri_tls),
		cmocka_unit_test(test_uri_credentials),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_auth_error),
		cmocka_unit_test(test_info_field),
		cmocka_unit_test(test_keyset),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_proc_start),
		cmocka_unit_test(test_proc_run_spawn),
		cmocka_unit_test(test_proc_exec),
		cmocka_unit_test(test_call_cmds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
