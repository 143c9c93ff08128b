/* The data kind's codec (kinds/data_codec.c): records and stash fields
 * round-trip with binary keys and dumps, the previous release's untagged
 * forms still read, and truncated or garbage input is refused without a
 * read past its end (every input here is copied into a buffer of its exact
 * size, so ASan sees one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/journal.h"
#include "kinds/data_codec.h"
#include "util/buf.h"
#include "util/err.h"

/* A copy of 'len' bytes in a buffer of exactly that size. */
static char *exact(const void *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static int decode(const void *s, size_t len, struct hf_key_record *r)
{
	char *p = exact(s, len);
	int rc = hf_data_record_decode(p, len, r);

	free(p);
	return rc;
}

#define DECODE(lit, r) decode(lit, sizeof(lit) - 1, r)

static void test_record_round_trip(void **state)
{
	/* A dump is binary: NULs, colons, the tag itself inside. */
	static const char dump[] = "\0\x05:@2:R\0\xff\n:";
	struct hf_key_record in = { .dump = (char *)dump, .dumplen = sizeof(dump) - 1,
				    .expire_at = 1790000000123LL };
	struct hf_key_record out = {0};
	struct hf_buf b = {0};

	(void)state;
	strcpy(in.before, "0123456789abcdef.hash.1790000000123");
	strcpy(in.after, "fedcba9876543210.hash.1790000000123");
	hf_data_record_encode(&in, &b);
	assert_int_equal(memcmp(b.s, HF_DATA_CODEC_TAG "1790000000123:", 17), 0);
	assert_int_equal(decode(b.s, b.len, &out), 0);
	assert_int_equal(out.expire_at, in.expire_at);
	assert_string_equal(out.before, in.before);
	assert_string_equal(out.after, in.after);
	assert_int_equal(out.dumplen, in.dumplen);
	assert_memory_equal(out.dump, dump, in.dumplen);
	free(out.dump);
	hf_buf_release(&b);

	/* No expiry, an empty dump (nothing is lost at the end). */
	memset(&in, 0, sizeof(in));
	in.expire_at = -1;
	strcpy(in.before, "absent");
	strcpy(in.after, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	hf_data_record_encode(&in, &b);
	assert_string_equal(b.s, "@2:-1:absent:da39a3ee5e6b4b0d3255bfef95601890afd80709:");
	memset(&out, 0, sizeof(out));
	assert_int_equal(decode(b.s, b.len, &out), 0);
	assert_int_equal(out.expire_at, -1);
	assert_string_equal(out.after, in.after);
	assert_int_equal(out.dumplen, 0);
	free(out.dump);
	hf_buf_release(&b);
}

/* What the previous release wrote, "R<expire>:<before>:<after>:<dump>",
 * with SHA-1 digests. */
/* Narrow records (version 3): the kind in place of the before-digest, the
 * after-state "<expiry>,<fields>", the touched part to the end. */
static void test_record_narrow(void **state)
{
	static const char touched[] = "4:plan6:legacy5:email-";
	struct hf_key_record in = { .dump = (char *)touched, .dumplen = sizeof(touched) - 1,
				    .expire_at = -1 };
	struct hf_key_record out = {0};
	struct hf_buf b = {0};

	(void)state;
	strcpy(in.before, "=h");
	strcpy(in.after, "-,3");
	assert_true(hf_data_record_narrow(&in));
	hf_data_record_encode(&in, &b);
	assert_int_equal(b.len, 13 + in.dumplen);
	assert_memory_equal(b.s, HF_DATA_NARROW_TAG "-1:=h:-,3:4:plan6:legacy5:email-", b.len);
	assert_int_equal(decode(b.s, b.len, &out), 0);
	assert_string_equal(out.before, "=h");
	assert_string_equal(out.after, "-,3");
	assert_int_equal(out.dumplen, in.dumplen);
	assert_memory_equal(out.dump, touched, in.dumplen);
	free(out.dump);
	hf_buf_release(&b);

	/* A string's old value, an expiry the change set. */
	memset(&out, 0, sizeof(out));
	assert_int_equal(DECODE("@3:1790000000123:=s:1790000007323,-:v1", &out), 0);
	assert_int_equal(out.expire_at, 1790000000123LL);
	assert_string_equal(out.after, "1790000007323,-");
	assert_int_equal(out.dumplen, 2);
	free(out.dump);

	/* Version and kind must agree; the kind is one letter of h, s, e. */
	memset(&out, 0, sizeof(out));
	assert_int_equal(DECODE("@2:-1:=h:-,3:4:plan-", &out), HF_EINVAL);
	assert_int_equal(DECODE("@3:-1:0123.hash.-1:-,3:x", &out), HF_EINVAL);
	assert_int_equal(DECODE("@3:-1:=x:-,3:x", &out), HF_EINVAL);
	assert_int_equal(DECODE("@3:-1:=hh:-,3:x", &out), HF_EINVAL);
	assert_int_equal(DECODE("@3:-1:=:-,3:x", &out), HF_EINVAL);
	assert_null(out.dump);
}

static void test_record_untagged(void **state)
{
	struct hf_key_record r = {0};

	(void)state;
	assert_int_equal(DECODE("R-1:356a192b7913b04c54574d18c28d46e6395428ab:"
				"da4b9237bacccdf19c0760cab7aec4a8359010b0:\0\x09:x", &r), 0);
	assert_int_equal(r.expire_at, -1);
	assert_string_equal(r.before, "356a192b7913b04c54574d18c28d46e6395428ab");
	assert_string_equal(r.after, "da4b9237bacccdf19c0760cab7aec4a8359010b0");
	assert_int_equal(r.dumplen, 4);
	assert_memory_equal(r.dump, "\0\x09:x", 4);
	free(r.dump);
}

static void test_record_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"@2:",
		"@2:12",
		"@2:12:",
		"@2:12:a",
		"@2:12:a:b",                 /* no ':' before the dump */
		"@2::a:b:d",                 /* no expiry */
		"@2:x1:a:b:d",               /* not a number */
		"@2:1x:a:b:d",
		"@2:--1:a:b:d",
		"@2:1::b:d",                 /* an empty digest */
		"@2:1:a::d",
		"@2:1234567890123456789:a:b:d",   /* more digits than an expiry has */
		"@3:1:a:b:d",                /* a newer format */
		"@:1:a:b:d",
		"@2;1:a:b:d",
		"-1:a:b:d",                  /* untagged without the R: never stored */
		"E1:a:b:d",
		"R",
		"R-1:a:b",
		/* a digest longer than a record holds */
		"@2:1:0123456789012345678901234567890123456789x:b:d",
	};
	struct hf_key_record r = {0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.dump = NULL;
		if (decode(bad[i], strlen(bad[i]), &r) != HF_EINVAL)
			fail_msg("record '%s' was read", bad[i]);
		assert_null(r.dump);   /* untouched */
	}
	/* A digest with a NUL or another control character (the fuzzer's: it
	 * read back as a shorter digest than the one in the record). */
	assert_int_equal(DECODE("@2:-1:ab\0cd:b:d", &r), HF_EINVAL);
	assert_int_equal(DECODE("@2:-1:ab\tc:b:d", &r), HF_EINVAL);
	assert_null(r.dump);
	/* Forty characters is the longest digest there is (a SHA-1). */
	assert_int_equal(DECODE("@2:1:0123456789012345678901234567890123456789:b:", &r), 0);
	free(r.dump);
}

/* Every prefix of a record is refused or read within its bytes. */
static void test_record_truncated(void **state)
{
	static const char rec[] = "@2:1790000000123:0123456789abcdef.string.-1:absent:\0\x0b:dump";
	size_t n;

	(void)state;
	for (n = 0; n < sizeof(rec) - 1; n++) {
		struct hf_key_record r = {0};
		int rc = decode(rec, n, &r);

		/* Up to the last ':' it cannot be a record; after, it is one
		 * with a shorter dump. */
		if (n < 51)
			assert_int_equal(rc, HF_EINVAL);
		else
			assert_int_equal(r.dumplen, n - 51);
		free(r.dump);
	}
}

/* Read a stash field into 'keys' and 'recs' (at most 'max' entries).
 * Returns the number read, or the error. */
static int read_stash(const char *name, size_t namelen, const void *val, size_t len,
		      char keys[][64], size_t *keylens, char recs[][64], size_t *reclens,
		      size_t max)
{
	struct hf_data_stash_iter it;
	char *nm = exact(name, namelen), *v = exact(val, len);
	const char *key, *rec;
	size_t keylen, reclen;
	int rc, n = 0;

	rc = hf_data_stash_iter_init(&it, nm, namelen, v, len);
	while (!rc && (rc = hf_data_stash_iter_next(&it, &key, &keylen, &rec, &reclen)) > 0) {
		assert_true((size_t)n < max);
		assert_true(keylen < 64 && reclen < 64);
		memcpy(keys[n], key, keylen);
		keylens[n] = keylen;
		memcpy(recs[n], rec, reclen);
		reclens[n] = reclen;
		n++;
		rc = 0;
	}
	free(nm);
	free(v);
	return rc < 0 ? rc : n;
}

struct bytes {
	const char *s;
	size_t len;
};

#define BYTES(lit) { lit, sizeof(lit) - 1 }

static void test_stash_round_trip(void **state)
{
	/* Keys with NULs, colons, digits first, a tag inside; an empty key. */
	static const struct bytes keys[] = {
		BYTES("t:bin:1\0:1"), BYTES("12:34"), BYTES("@2:"), BYTES(""),
	};
	static const struct bytes recs[] = {
		BYTES("@2:-1:a.string.-1:b.string.-1:\0\x0b"), BYTES("@2:5:x:y:"),
		BYTES("@2:-1:absent:c.hash.-1:d"), BYTES("@2:-1:e:f:"),
	};
	char k[4][64], r[4][64];
	size_t kl[4], rl[4], i;
	struct hf_buf b = {0};

	(void)state;
	for (i = 0; i < 4; i++)
		hf_data_stash_append(&b, keys[i].s, keys[i].len, recs[i].s, recs[i].len);
	assert_int_equal(memcmp(b.s, HF_DATA_CODEC_TAG "10:t:bin:1\0:1" "32:@2:", 22), 0);
	assert_int_equal(read_stash("1790000000000.1", 15, b.s, b.len, k, kl, r, rl, 4), 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(kl[i], keys[i].len);
		assert_memory_equal(k[i], keys[i].s, keys[i].len);
		assert_int_equal(rl[i], recs[i].len);
		assert_memory_equal(r[i], recs[i].s, recs[i].len);
	}
	/* An empty field holds no entry. */
	assert_int_equal(read_stash("f", 1, "", 0, k, kl, r, rl, 4), 0);
	assert_int_equal(read_stash("f", 1, "@2:", 3, k, kl, r, rl, 4), 0);
	hf_buf_release(&b);
}

/* The previous release's stash fields: entries without the tag, and one
 * key's record in a field named after the key. */
static void test_stash_untagged(void **state)
{
	static const char batch[] = "3:a\0b9:R-1:x:y:\0" "2:cd8:R5:x:y:d";
	static const char per_key[] = "R-1:absent:e.string.-1:";
	char k[4][64], r[4][64];
	size_t kl[4], rl[4];

	(void)state;
	assert_int_equal(read_stash("f", 1, batch, sizeof(batch) - 1, k, kl, r, rl, 4), 2);
	assert_int_equal(kl[0], 3);
	assert_memory_equal(k[0], "a\0b", 3);
	assert_int_equal(rl[0], 9);
	assert_memory_equal(r[0], "R-1:x:y:\0", 9);
	assert_memory_equal(k[1], "cd", 2);
	assert_memory_equal(r[1], "R5:x:y:d", 8);

	assert_int_equal(read_stash("t:k\0ey", 6, per_key, sizeof(per_key) - 1, k, kl, r, rl, 4), 1);
	assert_int_equal(kl[0], 6);
	assert_memory_equal(k[0], "t:k\0ey", 6);
	assert_int_equal(rl[0], sizeof(per_key) - 1);
	assert_memory_equal(r[0], per_key, sizeof(per_key) - 1);
}

static void test_stash_refused(void **state)
{
	static const char *const bad[] = {
		"@3:1:a1:R",          /* a newer format */
		"@x:1:a1:R",
		"@",
		"@2:x:a1:R",          /* a length that is not a number */
		"@2:-1:a1:R",
		"@2:1:a",             /* no record length */
		"@2:1:a1",
		"@2:1:a2:R",          /* a record longer than what is left */
		"@2:2:a",             /* a key longer than what is left */
		"@2:99999999999999999999:a1:R",
		"@2:18446744073709551615:a1:R",
		"@2:1:a1:R:",         /* garbage after the last entry */
		"3:abc",              /* untagged, truncated */
		"x",
		":",
	};
	char k[4][64], r[4][64];
	size_t kl[4], rl[4], i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (read_stash("f", 1, bad[i], strlen(bad[i]), k, kl, r, rl, 4) >= 0)
			fail_msg("stash field '%s' was read", bad[i]);
}

/* A newer format says which, for the message. */
static void test_stash_newer(void **state)
{
	struct hf_data_stash_iter it;

	(void)state;
	assert_int_equal(hf_data_stash_iter_init(&it, "f", 1, "@17:1:a1:R", 10), HF_EINVAL);
	assert_int_equal(it.version, 17);
	assert_int_equal(hf_data_stash_iter_init(&it, "f", 1, "@2:1:a1:R", 9), 0);
	assert_int_equal(it.version, HF_DATA_CODEC_VERSION);
	assert_int_equal(hf_data_stash_iter_init(&it, "f", 1, "1:a1:R", 6), 0);
	assert_int_equal(it.version, 1);
}

/* Every prefix of a stash field: read to its end, or refused, never read
 * past it. */
static void test_stash_truncated(void **state)
{
	struct hf_buf b = {0};
	char k[4][64], r[4][64];
	size_t kl[4], rl[4], n, one;

	(void)state;
	hf_data_stash_append(&b, "k\0y", 3, "@2:-1:a:b:\0", 11);
	one = b.len;
	hf_data_stash_append(&b, "z", 1, "@2:-1:c:d:", 10);
	for (n = 0; n <= b.len; n++) {
		int got = read_stash("f", 1, b.s, n, k, kl, r, rl, 4);

		if (n == 0 || n == 3)   /* nothing, or the tag alone */
			assert_int_equal(got, 0);
		else if (n == one)
			assert_int_equal(got, 1);
		else if (n == b.len)
			assert_int_equal(got, 2);
		else
			assert_int_equal(got, HF_EINVAL);
	}
	hf_buf_release(&b);
}

/* Bytes from a fixed generator, read as records and stash fields: no
 * crash, no read past the end, nothing left allocated. */
static void test_garbage(void **state)
{
	static const char alphabet[] = "@2R:-0123456789.ab\0\xff";
	unsigned long long x = 88172645463325252ULL;
	char buf[48], k[64][64], r[64][64];
	size_t kl[64], rl[64];
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t len, i;
		struct hf_key_record rec = {0};

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = x % sizeof(buf);
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = alphabet[x % (sizeof(alphabet) - 1)];
		}
		if (!decode(buf, len, &rec))
			assert_true(rec.dumplen <= len);
		free(rec.dump);
		read_stash("f", 1, buf, len, k, kl, r, rl, 64);
	}
}

static void test_digests_legacy(void **state)
{
	(void)state;
	/* The current form has a '.'; SHA-1 none; "absent" is either. */
	assert_false(hf_data_digests_legacy("0123456789abcdef.string.-1", "absent"));
	assert_false(hf_data_digests_legacy("absent", "0123456789abcdef.string.-1"));
	assert_true(hf_data_digests_legacy("356a192b7913b04c54574d18c28d46e6395428ab",
					   "da4b9237bacccdf19c0760cab7aec4a8359010b0"));
	assert_true(hf_data_digests_legacy("356a192b7913b04c54574d18c28d46e6395428ab", "absent"));
	assert_true(hf_data_digests_legacy("absent", "absent"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_narrow),
		cmocka_unit_test(test_record_untagged),
		cmocka_unit_test(test_record_refused),
		cmocka_unit_test(test_record_truncated),
		cmocka_unit_test(test_stash_round_trip),
		cmocka_unit_test(test_stash_untagged),
		cmocka_unit_test(test_stash_refused),
		cmocka_unit_test(test_stash_newer),
		cmocka_unit_test(test_stash_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_digests_legacy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
