/* Ed25519 keys and signatures (src/util/sign.c), with keys made by the
 * openssl command line as users make them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/sign.h"

static char dir[] = "/tmp/hf-test-sign-XXXXXX";

static void path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void sh(const char *fmt, const char *a, const char *b)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	assert_int_equal(system(cmd), 0);
}

/* A key made by 'openssl genpkey' signs; its public half, written by
 * 'openssl pkey -pubout', verifies; anything changed does not. */
static void test_openssl_keys(void **state)
{
	char priv[512], pub[512], sig[HF_SIG_HEX], id1[HF_KEYID_HEX], id2[HF_KEYID_HEX];
	struct hf_key *k, *p;
	struct hf_err err = {0};
	const char msg[] = "plan 1234";

	(void)state;
	path(priv, sizeof(priv), "alice.key");
	path(pub, sizeof(pub), "alice.pub");
	sh("openssl genpkey -algorithm ed25519 -out %s 2>/dev/null%s", priv, "");
	sh("openssl pkey -in %s -pubout -out %s", priv, pub);
	assert_int_equal(hf_key_load(priv, HF_KEY_PRIVATE, &k, &err), 0);
	assert_int_equal(hf_key_load(pub, HF_KEY_PUBLIC, &p, &err), 0);
	assert_true(hf_key_same(k, p));
	hf_key_id(k, id1);
	hf_key_id(p, id2);
	assert_int_equal(strlen(id1), HF_KEYID_HEX - 1);
	assert_string_equal(id1, id2);

	assert_int_equal(hf_sign(k, msg, strlen(msg), sig, &err), 0);
	assert_int_equal(strlen(sig), HF_SIG_HEX - 1);
	assert_true(hf_sign_verify(p, msg, strlen(msg), sig));
	assert_false(hf_sign_verify(p, msg, strlen(msg) - 1, sig));
	sig[5] = sig[5] == '0' ? '1' : '0';
	assert_false(hf_sign_verify(p, msg, strlen(msg), sig));
	assert_false(hf_sign_verify(p, msg, strlen(msg), "zz"));
	assert_false(hf_sign_verify(p, msg, strlen(msg), NULL));
	/* A public key cannot sign. */
	assert_int_equal(hf_sign(p, msg, strlen(msg), sig, &err), HF_EINVAL);
	hf_key_free(k);
	hf_key_free(p);
}

static void test_generate_and_pem(void **state)
{
	char priv[512], sig[HF_SIG_HEX], *pem;
	struct hf_key *k, *k2, *p;
	struct hf_err err = {0};
	struct stat st;

	(void)state;
	path(priv, sizeof(priv), "gen.key");
	assert_int_equal(hf_key_generate(priv, &k, &err), 0);
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Never overwritten. */
	assert_int_equal(hf_key_generate(priv, &k2, &err), HF_EINVAL);
	assert_int_equal(hf_key_load(priv, HF_KEY_PRIVATE, &k2, &err), 0);
	assert_true(hf_key_same(k, k2));
	pem = hf_key_public_pem(k);
	assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
	assert_int_equal(hf_key_from_pem(pem, strlen(pem), "pem", &p, &err), 0);
	assert_int_equal(hf_sign(k2, "x", 1, sig, &err), 0);
	assert_true(hf_sign_verify(p, "x", 1, sig));
	free(pem);
	hf_key_free(k);
	hf_key_free(k2);
	hf_key_free(p);
}

static void test_bad_keys(void **state)
{
	char file[512];
	struct hf_key *k;
	struct hf_err err = {0};

	(void)state;
	path(file, sizeof(file), "rsa.key");
	sh("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out %s 2>/dev/null%s",
	   file, "");
	assert_int_equal(hf_key_load(file, HF_KEY_PRIVATE, &k, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "not an Ed25519 key"));
	path(file, sizeof(file), "junk.pub");
	sh("echo junk > %s%s", file, "");
	assert_int_equal(hf_key_load(file, HF_KEY_PUBLIC, &k, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "not a PEM public key"));
	path(file, sizeof(file), "missing.pub");
	assert_int_equal(hf_key_load(file, HF_KEY_PUBLIC, &k, &err), HF_EINVAL);
	assert_null(k);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf %s%s", dir, "");
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_keys),
		cmocka_unit_test(test_generate_and_pem),
		cmocka_unit_test(test_bad_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
