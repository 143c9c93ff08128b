/* Unit tests of src/flags/: flagd-core's fractional hash and MurmurHash3
 * on known vectors, each operator's
 * edge cases as flagd-core answers them, fractional's shares, the
 * positions of errors in invalid documents, contexts and canonical JSON.
 * tests/flags/ checks the same evaluator against flagd-core itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "flags/flags.h"
#include "flags/flagdhash.h"
#include "flags/murmur3.h"

static void test_murmur_vectors(void **state)
{
	static const struct { const char *s; uint32_t seed, want; } v[] = {
		{ "", 0, 0 },
		{ "", 1, 0x514e28b7 },
		{ "a", 0, 0x3c2569b2 },
		{ "ab", 0, 0x9bbfd75f },
		{ "abc", 0, 0xb3dd93fa },
		{ "abcd", 0, 0x43ed676a },
		{ "hello", 0, 0x248bfa47 },
		{ "Hello, world!", 0, 0xc0363e43 },
		{ "The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723 },
		{ "aaaa", 0x9747b28c, 0x5a97808a },
		{ "Hello, world!", 0x9747b28c, 0x24884cba },
		/* UTF-8 bytes: "josé", "用户", "👍" */
		{ "jos\xc3\xa9", 0, 0x51d029e5 },
		{ "\xe7\x94\xa8\xe6\x88\xb7", 0, 0xdb73a310 },
		{ "\xf0\x9f\x91\x8d", 0, 0x20f4e7c8 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(hf_murmur3_32(v[i].s, strlen(v[i].s), v[i].seed), v[i].want);
}

/* Streamed in any split, the hash is the one-shot hash. */
static void test_murmur_streamed(void **state)
{
	const char *s = "flag-keyuser-1 and some more bytes";
	size_t n = strlen(s), a, b;

	(void)state;
	for (a = 0; a <= n; a++) {
		for (b = a; b <= n; b += 3) {
			struct hf_murmur3 m;

			hf_murmur3_init(&m, 0);
			hf_murmur3_update(&m, s, a);
			hf_murmur3_update(&m, s + a, b - a);
			hf_murmur3_update(&m, s + b, n - b);
			assert_int_equal(hf_murmur3_final(&m), hf_murmur3_32(s, n, 0));
		}
	}
	assert_int_equal(hf_murmur3_32("flag-keyuser-1", 14, 0), 0xd73f90f6);
}

/* flagd-core's hash (flagdhash.h) over UTF-8 input. The expected values
 * were computed in Node 20 with imurmurhash 0.1.4 (npm pack
 * imurmurhash@0.1.4), as flagd-core 4.0.1 calls it:
 *   new MurmurHash3(Buffer.from(bytes).toString('utf8')).result() >>> 0
 * i.e. over the JavaScript string's UTF-16 code units: ASCII, lengths 0-9
 * (every tail), Latin-1, CJK, emoji (surrogate pairs), mixed, and tails
 * whose third unit is 0x8000 or above (imurmurhash does not mix them in:
 * those strings of 3 units all hash as their length). */
static void test_flagdhash_vectors(void **state)
{
	static const struct { const char *s; size_t n; uint32_t want; } v[] = {
		{ "", 0, 0x00000000 },  /* "" */
		{ "a", 1, 0x3c2569b2 },  /* "a" */
		{ "ab", 2, 0x9bbfd75f },  /* "ab" */
		{ "abc", 3, 0xb3dd93fa },  /* "abc" */
		{ "abcd", 4, 0x43ed676a },  /* "abcd" */
		{ "abcde", 5, 0xe89b9af6 },  /* "abcde" */
		{ "abcdef", 6, 0x6181c085 },  /* "abcdef" */
		{ "abcdefg", 7, 0x883c9b06 },  /* "abcdefg" */
		{ "abcdefgh", 8, 0x49ddccc4 },  /* "abcdefgh" */
		{ "abcdefghi", 9, 0x421406f0 },  /* "abcdefghi" */
		{ "hello", 5, 0x248bfa47 },  /* "hello" */
		{ "Hello, world!", 13, 0xc0363e43 },  /* "Hello, world!" */
		{ "The quick brown fox jumps over the lazy dog", 43, 0x2e4ff723 },  /* "The quick brown fox jumps over the lazy dog" */
		{ "\x6a\x6f\x73\xc3\xa9", 5, 0x5bc11eef },  /* "josé" */
		{ "\x7a\x6f\xc3\xab\x2d\x33", 6, 0x789d46c3 },  /* "zoë-3" */
		{ "\xc3\xbf\xc3\xbf\xc3\xbf\xc3\xbf", 8, 0x76293b50 },  /* "ÿÿÿÿ" */
		{ "\xc3\xa9", 2, 0x44c6d4b2 },  /* "é" */
		{ "\xc3\xa9\xc3\xa9", 4, 0x25ef9fbd },  /* "éé" */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 6, 0x3d23df51 },  /* "ééé" */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, 0x035aa158 },  /* "éééé" */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10, 0xa619eb22 },  /* "ééééé" */
		{ "\xe7\x94\xa8\xe6\x88\xb7", 6, 0x799d1261 },  /* "用户" */
		{ "\xe7\x94\xa8\xe6\x88\xb7\xe5\x90\x8d", 9, 0x362d8700 },  /* "用户名" */
		{ "\xe7\x94\xa8\xe6\x88\xb7\x2d\x31", 8, 0xef0a582e },  /* "用户-1" */
		{ "\xe7\x94\xa8\xe6\x88\xb7\xe5\x90\x8d\xe7\x94\xa8\xe6\x88\xb7\xe5\x90\x8d\xe7\x94\xa8", 21, 0x7e18279e },  /* "用户名用户名用" */
		{ "\xe6\x95\xb0\xe6\x8d\xae\xe5\xba\x93", 9, 0x4dfacd5f },  /* "数据库" */
		{ "\xe8\x80\x80\xe8\x80\x80\xe8\x80\x80", 9, 0x85f0b427 },  /* U+8000 x3 */
		{ "\x61\xef\xbf\xbf\xe8\x80\x80", 7, 0x85f0b427 },  /* "a" U+FFFF U+8000 */
		{ "\x61\x62\xe8\x80\x80", 5, 0x85f0b427 },  /* "ab" U+8000 */
		{ "\xf0\x9f\x91\x8d", 4, 0xfd7552b1 },  /* "👍" */
		{ "\x78\xf0\x9f\x91\x8d", 5, 0x85f0b427 },  /* "x👍" */
		{ "\x78\x79\xf0\x9f\x91\x8d", 6, 0x439a60b6 },  /* "xy👍" */
		{ "\xf0\x9f\x91\x8d\xf0\x9f\x91\x8d", 8, 0xe474b783 },  /* "👍👍" */
		{ "\x61\xf0\x9f\x98\x80\x62", 6, 0x6486206f },  /* "a😀b" */
		{ "\xf0\x9d\x84\x9e", 4, 0x06d73f85 },  /* "𝄞" */
		{ "\x66\x6c\x61\x67\x2d\x6b\x65\x79\xe7\x94\xa8\xe6\x88\xb7\x2d\x31", 16, 0xee77eb49 },  /* "flag-key用户-1" */
		{ "\x66\x72\x61\x63\x2d\x35\x30\x2d\x35\x30\x6a\x6f\x73\xc3\xa9\x2d\x31", 17, 0xfcf78a00 },  /* "frac-50-50josé-1" */
		{ "fuser-1", 7, 0x5554ebe0 },  /* "fuser-1" */
		{ "flag-keyuser-1", 14, 0xd73f90f6 },  /* "flag-keyuser-1" */
		{ "\x6d\x69\x78\x65\x64\x3a\x20\xc3\xa9\x2c\x20\xe7\x94\xa8\x2c\x20\xf0\x9f\x98\x80\x2c\x20\x61\x6e\x64\x20\x41\x53\x43\x49\x49", 31, 0xd6133e65 },  /* "mixed: é, 用, 😀, and ASCII" */
		{ "\x00\x00\x00", 3, 0x85f0b427 },  /* three NULs */
		/* Invalid UTF-8, as Node decodes it (a U+FFFD per maximal
		 * invalid subsequence, WHATWG): */
		{ "\xff", 1, 0xf1656074 },  /* U+FFFD */
		{ "\x80", 1, 0xf1656074 },  /* U+FFFD */
		{ "\xc0\xaf", 2, 0xb3638d9e },  /* U+FFFD U+FFFD */
		{ "\xc3", 1, 0xf1656074 },  /* U+FFFD */
		{ "\xe0\xa0", 2, 0xf1656074 },  /* U+FFFD */
		{ "\xed\xa0\x80", 3, 0x85f0b427 },  /* U+FFFD U+FFFD U+FFFD */
		{ "\xf4\x90\x80\x80", 4, 0xd9484105 },  /* U+FFFD U+FFFD U+FFFD U+FFFD */
		{ "\xf0\x9f\x91", 3, 0xf1656074 },  /* U+FFFD */
		{ "\xf0\x9f\x91\x41", 4, 0x1cd10e0b },  /* U+FFFD U+0041 */
		{ "\xe7\x94\x41\x42", 4, 0x16a8bc2c },  /* U+FFFD U+0041 U+0042 */
		{ "\x61\x80\x62\x63\x64\x65", 6, 0x75de191b },  /* U+0061 U+FFFD U+0062 U+0063 U+0064 U+0065 */
		{ "\xf8\x88\x80\x80\x80", 5, 0xe944d801 },  /* U+FFFD U+FFFD U+FFFD U+FFFD U+FFFD */
		{ "\xc2\x41\xc3\xa9", 4, 0x22b63bb5 },  /* U+FFFD U+0041 U+00E9 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (hf_flagdhash(v[i].s, v[i].n) != v[i].want)
			print_error("vector %zu: %08x, want %08x\n", i, hf_flagdhash(v[i].s, v[i].n), v[i].want);
		assert_int_equal(hf_flagdhash(v[i].s, v[i].n), v[i].want);
	}
	/* Up to 0xFF a code unit is one byte of MurmurHash3: the same hash
	 * as MurmurHash3 for ASCII. */
	assert_int_equal(hf_flagdhash("Hello, world!", 13), hf_murmur3_32("Hello, world!", 13, 0));
}

/* Streamed in any split between code points, the hash is the one-shot
 * hash (the ASCII fast path and the per-unit path agree at any
 * alignment). */
static void test_flagdhash_streamed(void **state)
{
	static const char *const strs[] = {
		"flag-keyuser-1 and some more bytes",
		"mixed: \xc3\xa9, \xe7\x94\xa8, \xf0\x9f\x98\x80, and ASCII, abcdefgh \xe7\x94\xa8\xe6\x88\xb7-1",
	};
	size_t k, n, a, b;

	(void)state;
	for (k = 0; k < 2; k++) {
		const char *s = strs[k];

		n = strlen(s);
		for (a = 0; a <= n; a++) {
			for (b = a; b <= n; b++) {
				struct hf_flagdhash m;

				/* Splits at code point boundaries only. */
				if ((s[a] & 0xc0) == 0x80 || (s[b] & 0xc0) == 0x80)
					continue;
				hf_flagdhash_init(&m);
				hf_flagdhash_update(&m, s, a);
				hf_flagdhash_update(&m, s + a, b - a);
				hf_flagdhash_update(&m, s + b, n - b);
				assert_int_equal(hf_flagdhash_final(&m), hf_flagdhash(s, n));
			}
		}
	}
}

/* ---- one rule, one context ------------------------------------------- */

/* Variants every rule below may name; anything else is a GENERAL error. */
#define VARIANTS "{\"true\": \"T\", \"false\": \"F\", \"a\": \"A\", \"b\": \"B\", \"c\": \"C\", " \
		 "\"1\": \"one\", \"x-y\": \"XY\", \"dflt\": \"D\"}"

static struct hf_flagdoc *rule_doc(const char *rule, unsigned flags)
{
	char text[4096];
	struct hf_flagdoc *doc = NULL;
	struct hf_err err = {0};

	snprintf(text, sizeof(text), "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": "
		 VARIANTS ", \"defaultVariant\": \"dflt\", \"targeting\": %s}}}", rule);
	if (hf_flagdoc_parse("rule.json", text, strlen(text), flags, &doc, &err))
		fail_msg("rule %s: %s", rule, err.msg);
	return doc;
}

/* The variant 'rule' gives for 'ctx' (JSON), or the reason (and error
 * code) when there is none; static storage. */
static const char *eval_rule(const char *rule, const char *ctx)
{
	static char out[256];
	struct hf_flagdoc *doc = rule_doc(rule, HF_FLAGDOC_LENIENT);
	struct hf_flagctx_owned c;
	struct hf_flagresult res;
	json_t *j = json_loads(ctx, 0, NULL);

	assert_non_null(j);
	assert_int_equal(hf_flagctx_from_json(j, &c, NULL), 0);
	c.ctx.timestamp = 1800000000;
	hf_flagdoc_eval(doc, "f", 1, &c.ctx, HF_FLAG_STRING, NULL, &res);
	if (res.reason == HF_REASON_ERROR)
		snprintf(out, sizeof(out), "ERROR:%s", hf_flag_errcode_name(res.error));
	else if (res.reason == HF_REASON_DEFAULT)
		snprintf(out, sizeof(out), "DEFAULT:%s", res.variant);
	else
		snprintf(out, sizeof(out), "%s", res.variant);
	hf_flagctx_release(&c);
	json_decref(j);
	hf_flagdoc_unref(doc);
	return out;
}

#define RULE(want, rule, ctx) assert_string_equal(eval_rule(rule, ctx), want)

static void test_var_and_if(void **state)
{
	(void)state;
	RULE("a", "{\"var\": \"k\"}", "{\"k\": \"a\"}");
	RULE("b", "{\"var\": \"o.p\"}", "{\"o\": {\"p\": \"b\"}}");
	RULE("c", "{\"var\": \"l.1\"}", "{\"l\": [\"a\", \"c\"]}");
	RULE("b", "{\"var\": [\"missing\", \"b\"]}", "{}");
	/* The compiled engine reads 'a ?? default': null takes the default too. */
	RULE("b", "{\"var\": [\"k\", \"b\"]}", "{\"k\": null}");
	RULE("DEFAULT:dflt", "{\"var\": \"missing\"}", "{}");
	RULE("a", "{\"if\": [{\"var\": \"x\"}, \"a\", \"b\"]}", "{\"x\": 1}");
	RULE("b", "{\"if\": [{\"var\": \"x\"}, \"a\", \"b\"]}", "{\"x\": []}");
	RULE("c", "{\"if\": [false, \"a\", 0, \"b\", \"c\"]}", "{}");
	RULE("DEFAULT:dflt", "{\"if\": [false, \"a\"]}", "{}");
	RULE("a", "{\"if\": [{\"var\": \"$flagd.flagKey\"}, \"a\", \"b\"]}", "{}");
	RULE("true", "{\"==\": [{\"var\": \"$flagd.timestamp\"}, 1800000000]}", "{}");
}

static void test_equality(void **state)
{
	(void)state;
	RULE("true", "{\"==\": [{\"var\": \"n\"}, \"42\"]}", "{\"n\": 42}");
	RULE("false", "{\"===\": [{\"var\": \"n\"}, \"42\"]}", "{\"n\": 42}");
	RULE("true", "{\"==\": [{\"var\": \"b\"}, 1]}", "{\"b\": true}");
	RULE("true", "{\"!==\": [{\"var\": \"b\"}, 1]}", "{\"b\": true}");
	/* json-logic-engine's compareCheck: null == 0 holds, "" == null not. */
	RULE("true", "{\"==\": [{\"var\": \"n\"}, 0]}", "{}");
	RULE("false", "{\"==\": [\"\", {\"var\": \"n\"}]}", "{}");
	/* A string that is no number against a number throws: GENERAL. */
	RULE("ERROR:GENERAL", "{\"==\": [{\"var\": \"s\"}, 1]}", "{\"s\": \"abc\"}");
	RULE("ERROR:GENERAL", "{\"!=\": [{\"var\": \"l\"}, 1]}", "{\"l\": [1]}");
}

static void test_relational(void **state)
{
	(void)state;
	RULE("true", "{\"<\": [1, {\"var\": \"n\"}, 3]}", "{\"n\": 2}");
	RULE("false", "{\"<\": [1, {\"var\": \"n\"}, 3]}", "{\"n\": 3}");
	RULE("true", "{\"<=\": [1, {\"var\": \"n\"}, 3]}", "{\"n\": 3}");
	RULE("true", "{\">\": [{\"var\": \"n\"}, 2]}", "{\"n\": \"10\"}");
	/* Two strings compare as text: "10" < "9". */
	RULE("true", "{\"<\": [{\"var\": \"n\"}, \"9\"]}", "{\"n\": \"10\"}");
	RULE("true", "{\">=\": [{\"var\": \"n\"}, 0]}", "{}");
	RULE("ERROR:GENERAL", "{\"<\": [{\"var\": \"s\"}, 5]}", "{\"s\": \"FR\"}");
	/* UTF-16 order: U+FF5E sorts after an emoji's surrogates. */
	RULE("true", "{\"<\": [{\"var\": \"e\"}, \"\\uff5e\"]}", "{\"e\": \"\\ud83d\\udc4d\"}");
}

static void test_logic(void **state)
{
	(void)state;
	/* and/or return the operand that decides. */
	RULE("a", "{\"or\": [{\"var\": \"x\"}, \"a\"]}", "{\"x\": \"\"}");
	RULE("b", "{\"or\": [{\"var\": \"x\"}, \"a\"]}", "{\"x\": \"b\"}");
	RULE("false", "{\"and\": [{\"var\": \"x\"}, \"a\"]}", "{\"x\": false}");
	RULE("1", "{\"and\": [true, {\"var\": \"x\"}]}", "{\"x\": 1}");
	RULE("true", "{\"!\": {\"var\": \"x\"}}", "{\"x\": {}}");
	RULE("false", "{\"!!\": [{\"var\": \"x\"}]}", "{\"x\": []}");
	RULE("true", "{\"!!\": [{\"var\": \"x\"}]}", "{\"x\": [0]}");
}

static void test_strings(void **state)
{
	(void)state;
	RULE("true", "{\"in\": [{\"var\": \"c\"}, [\"FR\", \"DE\"]]}", "{\"c\": \"DE\"}");
	RULE("false", "{\"in\": [1, [\"1\"]]}", "{}");
	RULE("true", "{\"in\": [1, \"a1b\"]}", "{}");
	RULE("false", "{\"in\": [\"x\", {\"var\": \"none\"}]}", "{}");
	RULE("ERROR:GENERAL", "{\"in\": [\"x\", {\"var\": \"n\"}]}", "{\"n\": 5}");
	RULE("x-y", "{\"cat\": [{\"var\": \"a\"}, \"-\", {\"var\": \"b\"}]}",
	     "{\"a\": \"x\", \"b\": \"y\"}");
	RULE("1", "{\"cat\": [{\"var\": \"n\"}]}", "{\"n\": 1.0}");
	RULE("ERROR:GENERAL", "{\"cat\": [{\"var\": \"a\"}, {\"var\": \"b\"}]}", "{\"a\": \"x\"}");
	RULE("b", "{\"substr\": [{\"var\": \"s\"}, -1]}", "{\"s\": \"ab\"}");
	RULE("b", "{\"substr\": [{\"var\": \"s\"}, 1, -1]}", "{\"s\": \"abc\"}");
	RULE("a", "{\"substr\": [{\"var\": \"s\"}, 0, 1]}", "{\"s\": \"abc\"}");
	/* Indices count UTF-16 units: the emoji is two. */
	RULE("a", "{\"substr\": [{\"var\": \"s\"}, 2, 1]}", "{\"s\": \"\\ud83d\\udc4da\"}");
	RULE("ERROR:GENERAL", "{\"substr\": [{\"var\": \"n\"}, 0]}", "{\"n\": 5}");
	RULE("true", "{\"starts_with\": [{\"var\": \"e\"}, \"ops\"]}", "{\"e\": \"ops@x\"}");
	RULE("false", "{\"ends_with\": [{\"var\": \"e\"}, \".org\"]}", "{\"e\": \"a@b.com\"}");
	/* flagd's own operators answer null for what they cannot use. */
	RULE("DEFAULT:dflt", "{\"ends_with\": [{\"var\": \"n\"}, \"1\"]}", "{\"n\": 1}");
}

/* ---- specialised nodes: the fast case and each fallback -------------- */

/* A comparison with a literal number or string on the right. */
static void test_cmp_literal(void **state)
{
	(void)state;
	/* Two numbers. */
	RULE("true", "{\">=\": [{\"var\": \"n\"}, 18]}", "{\"n\": 18}");
	RULE("false", "{\">\": [{\"var\": \"n\"}, 18]}", "{\"n\": 18}");
	RULE("true", "{\"<\": [{\"var\": \"n\"}, 18]}", "{\"n\": -0.5}");
	RULE("true", "{\"<=\": [{\"var\": \"n\"}, 18]}", "{\"n\": 18}");
	RULE("true", "{\"==\": [{\"var\": \"n\"}, 0]}", "{\"n\": -0}");
	RULE("true", "{\"===\": [{\"var\": \"n\"}, 1.5]}", "{\"n\": 1.5}");
	RULE("true", "{\"!=\": [{\"var\": \"n\"}, 1]}", "{\"n\": 2}");
	RULE("false", "{\"!==\": [{\"var\": \"n\"}, 2]}", "{\"n\": 2}");
	/* Other types take the general path: "20" >= 18 as numbers, "1" == 1
	 * loosely but not strictly, a missing attribute as null. */
	RULE("true", "{\">=\": [{\"var\": \"n\"}, 18]}", "{\"n\": \"20\"}");
	RULE("true", "{\"==\": [{\"var\": \"n\"}, 1]}", "{\"n\": \"1\"}");
	RULE("false", "{\"===\": [{\"var\": \"n\"}, 1]}", "{\"n\": \"1\"}");
	RULE("true", "{\"!==\": [{\"var\": \"n\"}, 1]}", "{\"n\": \"1\"}");
	RULE("true", "{\"==\": [{\"var\": \"n\"}, 1]}", "{\"n\": true}");
	RULE("false", "{\">=\": [{\"var\": \"n\"}, 18]}", "{}");
	RULE("true", "{\"<\": [{\"var\": \"n\"}, 18]}", "{\"n\": null}");
	RULE("ERROR:GENERAL", "{\">=\": [{\"var\": \"n\"}, 18]}", "{\"n\": \"old\"}");
	RULE("ERROR:GENERAL", "{\"<\": [{\"var\": \"n\"}, 18]}", "{\"n\": [1, 2]}");
	RULE("ERROR:GENERAL", "{\"<\": [{\"var\": \"n\"}, 18]}", "{\"n\": [1]}");
	/* Two strings: equality by bytes, order by UTF-16 units. */
	RULE("true", "{\"==\": [{\"var\": \"s\"}, \"pro\"]}", "{\"s\": \"pro\"}");
	RULE("false", "{\"==\": [{\"var\": \"s\"}, \"pro\"]}", "{\"s\": \"pr\"}");
	RULE("true", "{\"!=\": [{\"var\": \"s\"}, \"pro\"]}", "{\"s\": \"free\"}");
	RULE("false", "{\"!==\": [{\"var\": \"s\"}, \"pro\"]}", "{\"s\": \"pro\"}");
	RULE("true", "{\"<\": [{\"var\": \"s\"}, \"b\"]}", "{\"s\": \"abc\"}");
	RULE("false", "{\">\": [{\"var\": \"s\"}, \"\\uff5e\"]}", "{\"s\": \"\\ud83d\\udc4d\"}");
	/* A string literal against a number, null, a boolean. */
	RULE("true", "{\"==\": [{\"var\": \"s\"}, \"1\"]}", "{\"s\": 1}");
	RULE("false", "{\"===\": [{\"var\": \"s\"}, \"1\"]}", "{\"s\": 1}");
	RULE("false", "{\"==\": [{\"var\": \"s\"}, \"x\"]}", "{}");
	RULE("true", "{\"!=\": [{\"var\": \"s\"}, \"x\"]}", "{\"s\": null}");
	RULE("true", "{\"==\": [{\"var\": \"s\"}, \"1\"]}", "{\"s\": true}");
	RULE("ERROR:GENERAL", "{\"<\": [{\"var\": \"s\"}, \"x\"]}", "{\"s\": 1}");
}

/* 'in' a literal array of strings, short (scanned) and long (hashed). */
static void test_in_literal(void **state)
{
	const char *many = "{\"in\": [{\"var\": \"c\"}, [\"FR\", \"DE\", \"IT\", \"ES\", \"PT\", \"NL\", "
			   "\"BE\", \"LU\", \"AT\", \"PL\", \"a-longer-one\", \"\"]]}";

	(void)state;
	RULE("true", "{\"in\": [{\"var\": \"p\"}, [\"pro\", \"enterprise\"]]}", "{\"p\": \"enterprise\"}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"pro\", \"enterprise\"]]}", "{\"p\": \"pr\"}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"pro\", \"enterprise\"]]}", "{\"p\": \"ent\"}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"pro\", \"enterprise\"]]}", "{}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"1\"]]}", "{\"p\": 1}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"true\"]]}", "{\"p\": true}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"null\"]]}", "{\"p\": null}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"a\"]]}", "{\"p\": [\"a\"]}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, []]}", "{\"p\": \"\"}");
	RULE("true", "{\"in\": [{\"var\": \"p\"}, [\"x\", \"\"]]}", "{\"p\": \"\"}");
	/* Strings of 63 bytes and more share one length bit. */
	RULE("true", "{\"in\": [{\"var\": \"p\"}, [\"" "0123456789012345678901234567890123456789"
	     "0123456789012345678901234\"]]}",
	     "{\"p\": \"01234567890123456789012345678901234567890123456789012345678901234\"}");
	RULE("false", "{\"in\": [{\"var\": \"p\"}, [\"" "0123456789012345678901234567890123456789"
	     "0123456789012345678901234\"]]}",
	     "{\"p\": \"0123456789012345678901234567890123456789012345678901234567890123\"}");
	RULE("true", many, "{\"c\": \"PL\"}");
	RULE("true", many, "{\"c\": \"FR\"}");
	RULE("true", many, "{\"c\": \"a-longer-one\"}");
	RULE("true", many, "{\"c\": \"\"}");
	RULE("false", many, "{\"c\": \"GB\"}");
	RULE("false", many, "{\"c\": \"a-longer-two\"}");
	RULE("false", many, "{\"c\": 5}");
	RULE("false", many, "{}");
	/* A list that holds another type is no string set: as before. */
	RULE("true", "{\"in\": [{\"var\": \"p\"}, [\"a\", 1]]}", "{\"p\": 1}");
	/* What throws still throws. */
	RULE("ERROR:GENERAL", "{\"in\": [{\"substr\": [{\"var\": \"n\"}, 0]}, [\"x\"]]}",
	     "{\"n\": 5}");
}

/* starts_with / ends_with a literal string: null for a subject that is
 * no string (the flag's default), never an error. */
static void test_affix_literal(void **state)
{
	(void)state;
	RULE("true", "{\"ends_with\": [{\"var\": \"e\"}, \"@example.com\"]}", "{\"e\": \"u1@example.com\"}");
	RULE("false", "{\"ends_with\": [{\"var\": \"e\"}, \"@example.com\"]}", "{\"e\": \"u1@mail.org\"}");
	RULE("false", "{\"ends_with\": [{\"var\": \"e\"}, \"@example.com\"]}", "{\"e\": \"example.com\"}");
	RULE("true", "{\"ends_with\": [{\"var\": \"e\"}, \"@example.com\"]}", "{\"e\": \"@example.com\"}");
	RULE("true", "{\"starts_with\": [{\"var\": \"e\"}, \"\"]}", "{\"e\": \"\"}");
	RULE("true", "{\"starts_with\": [{\"var\": \"e\"}, \"a-prefix-of-over-16\"]}",
	     "{\"e\": \"a-prefix-of-over-16 bytes\"}");
	RULE("false", "{\"starts_with\": [{\"var\": \"e\"}, \"ab\"]}", "{\"e\": \"ba\"}");
	RULE("DEFAULT:dflt", "{\"starts_with\": [{\"var\": \"e\"}, \"1\"]}", "{\"e\": 1}");
	RULE("DEFAULT:dflt", "{\"ends_with\": [{\"var\": \"e\"}, \"x\"]}", "{}");
	RULE("DEFAULT:dflt", "{\"ends_with\": [{\"var\": \"e\"}, \"x\"]}", "{\"e\": null}");
	RULE("DEFAULT:dflt", "{\"ends_with\": [{\"var\": \"e\"}, \"x\"]}", "{\"e\": [\"x\"]}");
	/* In a condition, null is false. */
	RULE("b", "{\"if\": [{\"ends_with\": [{\"var\": \"e\"}, \"x\"]}, \"a\", \"b\"]}", "{\"e\": 5}");
	RULE("a", "{\"if\": [{\"!\": {\"ends_with\": [{\"var\": \"e\"}, \"x\"]}}, \"a\", \"b\"]}", "{}");
}

/* 'if' as a program: and/or/!/!! as jumps, nested 'if' as results, the
 * variants of literal results bound at load. */
static void test_if_program(void **state)
{
	const char *rule = "{\"if\": [{\"and\": [{\"ends_with\": [{\"var\": \"e\"}, \"@x.com\"]}, "
			   "{\"in\": [{\"var\": \"p\"}, [\"pro\", \"ent\"]]}]}, \"a\", "
			   "{\">=\": [{\"var\": \"n\"}, 18]}, \"b\", \"c\"]}";
	const char *nested = "{\"if\": [{\"var\": \"x\"}, {\"if\": [{\"var\": \"y\"}, \"a\", \"b\"]}, "
			     "{\"var\": \"z\"}]}";

	(void)state;
	RULE("a", rule, "{\"e\": \"u@x.com\", \"p\": \"pro\", \"n\": 1}");
	RULE("b", rule, "{\"e\": \"u@x.com\", \"p\": \"free\", \"n\": 20}");
	RULE("c", rule, "{\"e\": \"u@y.com\", \"p\": \"pro\", \"n\": 2}");
	RULE("c", rule, "{}");
	RULE("ERROR:GENERAL", rule, "{\"n\": \"old\"}");
	RULE("a", nested, "{\"x\": 1, \"y\": 1}");
	RULE("b", nested, "{\"x\": 1}");
	RULE("x-y", nested, "{\"z\": \"x-y\"}");
	RULE("DEFAULT:dflt", nested, "{\"z\": null}");
	RULE("DEFAULT:dflt", "{\"if\": [{\"var\": \"x\"}, \"a\"]}", "{}");
	RULE("a", "{\"if\": [{\"var\": \"x\"}]}", "{\"x\": \"a\"}");
	/* or/and stop at the operand that decides: what follows never throws. */
	RULE("a", "{\"if\": [{\"or\": [{\"var\": \"x\"}, {\"<\": [{\"var\": \"s\"}, 5]}]}, \"a\", \"b\"]}",
	     "{\"x\": 1, \"s\": \"FR\"}");
	RULE("ERROR:GENERAL",
	     "{\"if\": [{\"or\": [{\"var\": \"x\"}, {\"<\": [{\"var\": \"s\"}, 5]}]}, \"a\", \"b\"]}",
	     "{\"x\": 0, \"s\": \"FR\"}");
	RULE("b", "{\"if\": [{\"and\": [{\"var\": \"x\"}, {\"<\": [{\"var\": \"s\"}, 5]}]}, \"a\", \"b\"]}",
	     "{\"x\": [], \"s\": \"FR\"}");
	RULE("b", "{\"if\": [{\"!!\": [{\"var\": \"x\"}]}, \"a\", \"b\"]}", "{\"x\": {}}");
	RULE("a", "{\"if\": [{\"!\": [{\"or\": [{\"var\": \"x\"}, {\"var\": \"y\"}]}]}, \"a\", \"b\"]}",
	     "{\"x\": 0, \"y\": \"\"}");
	RULE("b", "{\"if\": [{\"!\": [{\"or\": [{\"var\": \"x\"}, {\"var\": \"y\"}]}]}, \"a\", \"b\"]}",
	     "{\"x\": 0, \"y\": \"y\"}");
	/* An 'if' inside a condition gives a value, not the flag's variant. */
	RULE("c", "{\"if\": [{\"if\": [{\"var\": \"x\"}, \"a\", \"\"]}, \"c\", \"b\"]}", "{\"x\": 1}");
	RULE("b", "{\"if\": [{\"if\": [{\"var\": \"x\"}, \"a\", \"\"]}, \"c\", \"b\"]}", "{}");
	/* The operand of a specialised test: a long name, a default, a path,
	 * the flag's key. */
	RULE("a", "{\"if\": [{\"==\": [{\"var\": \"a-rather-long-attribute\"}, \"x\"]}, \"a\", \"b\"]}",
	     "{\"a-rather-long-attribute\": \"x\", \"a-rather-long-attributf\": \"y\"}");
	RULE("a", "{\"if\": [{\">=\": [{\"var\": [\"n\", 20]}, 18]}, \"a\", \"b\"]}", "{}");
	RULE("a", "{\"if\": [{\">=\": [{\"var\": [\"n\", 20]}, 18]}, \"a\", \"b\"]}", "{\"n\": null}");
	RULE("b", "{\"if\": [{\">=\": [{\"var\": [\"n\", 20]}, 18]}, \"a\", \"b\"]}", "{\"n\": 1}");
	RULE("a", "{\"if\": [{\"in\": [{\"var\": \"o.p\"}, [\"x\"]]}, \"a\", \"b\"]}",
	     "{\"o\": {\"p\": \"x\"}}");
	RULE("a", "{\"if\": [{\"starts_with\": [{\"var\": \"$flagd.flagKey\"}, \"f\"]}, \"a\", \"b\"]}",
	     "{}");
	RULE("b", "{\"if\": [{\"ends_with\": [{\"var\": \"\"}, \"x\"]}, \"a\", \"b\"]}", "{\"\": \"x\"}");
	/* A literal result that names no variant; one that is no string. */
	RULE("ERROR:GENERAL", "{\"if\": [{\"var\": \"x\"}, \"ghost\", \"a\"]}", "{\"x\": 1}");
	RULE("a", "{\"if\": [{\"var\": \"x\"}, \"ghost\", \"a\"]}", "{}");
	RULE("1", "{\"if\": [{\"var\": \"x\"}, 1, \"a\"]}", "{\"x\": 1}");
	RULE("true", "{\"if\": [{\"var\": \"x\"}, true, \"a\"]}", "{\"x\": 1}");
}

/* A context without a time: "$flagd.timestamp" reads the clock. */
static void test_timestamp_now(void **state)
{
	struct hf_flagdoc *doc = rule_doc("{\"if\": [{\">\": [{\"var\": \"$flagd.timestamp\"}, "
					  "1700000000]}, \"a\", \"b\"]}", 0);
	struct hf_flagctx ctx = { 0 };
	struct hf_flagresult res;

	(void)state;
	assert_int_equal(hf_flagdoc_eval(doc, "f", 1, &ctx, HF_FLAG_STRING, NULL, &res), 0);
	assert_string_equal(res.variant, "a");
	ctx.timestamp = 1600000000;
	assert_int_equal(hf_flagdoc_eval(doc, "f", 1, &ctx, HF_FLAG_STRING, NULL, &res), 0);
	assert_string_equal(res.variant, "b");
	hf_flagdoc_unref(doc);
}

static void test_sem_ver(void **state)
{
	static const struct { const char *v, *op, *w, *want; } c[] = {
		{ "1.2.3", ">=", "1.2.0", "true" },
		{ "v1.2.3", "=", "1.2.3", "true" },
		{ "1.2", "=", "1.2.0", "true" },
		{ "2", ">", "1.9.9", "true" },
		{ "1.2.3-beta.1", "<", "1.2.3", "true" },
		{ "1.2.3-alpha", "<", "1.2.3-beta", "true" },
		{ "1.2.3-2", "<", "1.2.3-10", "true" },
		{ "1.2.3+build.5", "=", "1.2.3", "true" },
		{ "1.5.0", "^", "1.0.0", "true" },
		{ "1.3.0", "~", "1.2.0", "false" },
		{ "1.2.9", "~", "1.2.0", "true" },
		{ "1.2.3", "!=", "1.2.4", "true" },
		{ "1.2.3", "<=", "1.2.3", "true" },
		{ "1.2.3.4", "=", "1.2.3", "DEFAULT:dflt" },
		{ "01.2.3", "=", "1.2.3", "DEFAULT:dflt" },
		{ "not-a-version", "<", "1.0.0", "DEFAULT:dflt" },
		{ "1.2.3", "===", "1.2.3", "DEFAULT:dflt" },
	};
	char rule[256], ctx[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(rule, sizeof(rule), "{\"sem_ver\": [{\"var\": \"v\"}, \"%s\", \"%s\"]}", c[i].op,
			 c[i].w);
		snprintf(ctx, sizeof(ctx), "{\"v\": \"%s\"}", c[i].v);
		RULE(c[i].want, rule, ctx);
	}
}

/* How many of 'n' keys land on the first bucket of 'rule'. */
static long first_share(const char *rule, long n)
{
	struct hf_flagdoc *doc = rule_doc(rule, 0);
	struct hf_fkv attr = { .key = "targetingKey", .klen = 12 };
	struct hf_flagctx ctx = { .attrs = &attr, .nattrs = 1, .timestamp = 1 };
	struct hf_flagresult res;
	char key[32];
	long i, hits = 0;

	for (i = 0; i < n; i++) {
		attr.v.type = HF_FV_STR;
		attr.v.len = (uint32_t)snprintf(key, sizeof(key), "user-%ld", i);
		attr.v.u.s = key;
		assert_int_equal(hf_flagdoc_eval(doc, "f", 1, &ctx, HF_FLAG_ANY, NULL, &res), 0);
		hits += res.variant && !strcmp(res.variant, "a");
	}
	hf_flagdoc_unref(doc);
	return hits;
}

static void test_fractional(void **state)
{
	long a;

	(void)state;
	/* 0.1 %: about 100 of 100,000 (a binomial's 4 sigma is 40). */
	a = first_share("{\"fractional\": [[\"a\", 1], [\"b\", 999]]}", 100000);
	assert_in_range(a, 60, 140);
	a = first_share("{\"fractional\": [[\"a\", 50], [\"b\", 50]]}", 100000);
	assert_in_range(a, 49200, 50800);
	assert_int_equal(first_share("{\"fractional\": [[\"a\", 0], [\"b\", 1]]}", 1000), 0);
	assert_int_equal(first_share("{\"fractional\": [[\"a\", -7], [\"b\", 1]]}", 1000), 0);
	assert_int_equal(first_share("{\"fractional\": [[\"a\"]]}", 1000), 1000);
	/* flagKey + targetingKey: "f" + "user-1". */
	RULE(hf_flagdhash("fuser-1", 7) >> 31 ? "b" : "a",
	     "{\"fractional\": [[\"a\", 1], [\"b\", 1]]}", "{\"targetingKey\": \"user-1\"}");
	/* A first string argument is the bucketing value. */
	RULE(hf_flagdhash("k", 1) >> 31 ? "b" : "a",
	     "{\"fractional\": [{\"var\": \"k\"}, [\"a\", 1], [\"b\", 1]]}", "{\"k\": \"k\"}");
	/* No targeting key, weights over 2^31 - 1, zero weights: null. */
	RULE("DEFAULT:dflt", "{\"fractional\": [[\"a\", 1]]}", "{}");
	RULE("DEFAULT:dflt", "{\"fractional\": [[\"a\", 2147483647], [\"b\", 1]]}",
	     "{\"targetingKey\": \"u\"}");
	RULE("DEFAULT:dflt", "{\"fractional\": [[\"a\", 0]]}", "{\"targetingKey\": \"u\"}");
	RULE("DEFAULT:dflt", "{\"fractional\": [[\"a\", 1.5]]}", "{\"targetingKey\": \"u\"}");
	/* Weights computed per context. */
	RULE("b", "{\"fractional\": [[\"a\", {\"var\": \"w\"}], [\"b\", 1]]}",
	     "{\"targetingKey\": \"u\", \"w\": 0}");
	RULE("a", "{\"fractional\": [[\"a\", {\"var\": \"w\"}], [\"b\", 0]]}",
	     "{\"targetingKey\": \"u\", \"w\": 5}");
	RULE("DEFAULT:dflt", "{\"fractional\": [[\"a\", {\"var\": \"w\"}], [\"b\", 1]]}",
	     "{\"targetingKey\": \"u\", \"w\": \"5\"}");
}

static void test_results(void **state)
{
	struct hf_flagdoc *doc = NULL;
	struct hf_flagctx ctx = { 0 };
	struct hf_flagresult res;
	struct hf_err err = {0};
	const char *text =
		"flags:\n"
		"  on:\n    state: ENABLED\n    variants: {yes: true, no: false}\n    defaultVariant: yes\n"
		"  off:\n    state: DISABLED\n    variants: {yes: true}\n    defaultVariant: yes\n"
		"  nodef:\n    state: ENABLED\n    variants: {a: 1}\n"
		"  bad:\n    state: ENABLED\n    variants: {a: 1}\n    targeting: {nope: []}\n";

	(void)state;
	assert_int_equal(hf_flagdoc_parse("f.yaml", text, strlen(text), HF_FLAGDOC_LENIENT, &doc,
					  &err), 0);
	assert_int_equal(hf_flagdoc_count(doc), 4);
	assert_string_equal(hf_flag_key(hf_flagdoc_at(doc, 3)), "bad");
	assert_int_equal(hf_flagdoc_eval(doc, "on", 2, &ctx, HF_FLAG_BOOL, NULL, &res), 0);
	assert_int_equal(res.reason, HF_REASON_STATIC);
	assert_true(res.value->u.b);
	assert_int_equal(hf_flagdoc_eval(doc, "on", 2, &ctx, HF_FLAG_STRING, NULL, &res), -1);
	assert_int_equal(res.error, HF_FLAGERR_TYPE_MISMATCH);
	hf_flagdoc_eval(doc, "off", 3, &ctx, HF_FLAG_BOOL, NULL, &res);
	assert_int_equal(res.reason, HF_REASON_DISABLED);
	assert_null(res.value);
	hf_flagdoc_eval(doc, "nodef", 5, &ctx, HF_FLAG_ANY, NULL, &res);
	assert_int_equal(res.reason, HF_REASON_DEFAULT);
	assert_null(res.value);
	hf_flagdoc_eval(doc, "bad", 3, &ctx, HF_FLAG_ANY, NULL, &res);
	assert_int_equal(res.error, HF_FLAGERR_PARSE_ERROR);
	hf_flagdoc_eval(doc, "none", 4, &ctx, HF_FLAG_ANY, NULL, &res);
	assert_int_equal(res.error, HF_FLAGERR_FLAG_NOT_FOUND);
	hf_flagdoc_unref(doc);
	/* Returned variants that do not exist, booleans and numbers. */
	RULE("ERROR:GENERAL", "{\"if\": [true, \"ghost\"]}", "{}");
	RULE("true", "{\"==\": [1, {\"var\": \"n\"}]}", "{\"n\": 1}");
	RULE("1", "{\"if\": [true, 1]}", "{}");
	/* Constant operators run when the rule is built, by json-logic-engine's
	 * interpreter: its 'cat' skips null, and one that throws is a rule
	 * that does not compile. */
	RULE("a", "{\"cat\": [\"a\", null]}", "{}");
	RULE("ERROR:PARSE_ERROR", "{\"==\": [\"abc\", 1]}", "{}");
	RULE("ERROR:PARSE_ERROR", "{\"if\": [{\"in\": [\"a\", 5]}, \"a\", \"b\"]}", "{}");
	RULE("ERROR:GENERAL", "{\"in\": [\"a\", {\"var\": \"n\"}]}", "{\"n\": 5}");
}

/* A rule that needs more scratch than the arena holds fails cleanly. */
static void test_arena_full(void **state)
{
	struct hf_flagdoc *doc = rule_doc("{\"cat\": [{\"var\": \"s\"}, {\"var\": \"s\"}]}", 0);
	struct hf_fkv attr = { .key = "s", .klen = 1 };
	struct hf_flagctx ctx = { .attrs = &attr, .nattrs = 1, .timestamp = 1 };
	char small[16];
	struct hf_flagarena arena = { small, sizeof(small), 0 };
	struct hf_flagresult res;

	(void)state;
	attr.v = (struct hf_fv){ .type = HF_FV_STR, .len = 10, .u.s = "0123456789" };
	assert_int_equal(hf_flagdoc_eval(doc, "f", 1, &ctx, HF_FLAG_ANY, &arena, &res), -1);
	assert_int_equal(res.error, HF_FLAGERR_GENERAL);
	attr.v.len = 1;
	assert_int_equal(hf_flagdoc_eval(doc, "f", 1, &ctx, HF_FLAG_ANY, &arena, &res), -1);
	assert_int_equal(res.error, HF_FLAGERR_GENERAL);   /* "00" is no variant */
	hf_flagdoc_unref(doc);
}

/* 'slot' (hotfix's extension): Redis's own CLUSTER KEYSLOT of each key,
 * read from a redis-server 7.0 (hash tags, an empty tag, an unclosed one,
 * non-ASCII, empty); null for anything that is not a string. */
static void test_slot(void **state)
{
	static const struct { const char *key; int slot; } c[] = {
		{ "foo", 12182 }, { "{user1}.a", 8106 }, { "{}x", 10595 }, { "a{b", 13340 },
		{ "a{b}c", 3300 }, { "{b}", 3300 }, { "x{}{y}", 14166 }, { "{{a}}", 10276 },
		{ "a}b{c}", 7365 }, { "", 0 }, { "h\\u00e9llo", 11061 },
		{ "\\u65e5\\u672c\\u8a9e", 12788 }, { "\\ud83d\\ude00key", 11611 },
		{ "user:1000", 1649 }, { "{user:1000}.following", 1649 }, { "key:{}:x", 1382 },
	};
	char rule[256], ctx[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(rule, sizeof(rule), "{\"===\": [{\"slot\": {\"var\": \"k\"}}, %d]}",
			 c[i].slot);
		snprintf(ctx, sizeof(ctx), "{\"k\": \"%s\"}", c[i].key);
		if (strcmp(eval_rule(rule, ctx), "true"))
			fail_msg("slot of '%s' is not %d", c[i].key, c[i].slot);
		/* The one-argument list form is the same operator. */
		snprintf(rule, sizeof(rule), "{\"===\": [{\"slot\": [{\"var\": \"k\"}]}, %d]}",
			 c[i].slot);
		assert_string_equal(eval_rule(rule, ctx), "true");
	}
	RULE("true", "{\"===\": [{\"slot\": {\"var\": \"n\"}}, null]}", "{\"n\": 5}");
	RULE("true", "{\"===\": [{\"slot\": {\"var\": \"none\"}}, null]}", "{}");
	RULE("true", "{\"===\": [{\"slot\": \"foo\"}, 12182]}", "{}");
	RULE("a", "{\"if\": [{\"<=\": [0, {\"slot\": {\"var\": \"k\"}}, 5460]}, \"a\", \"b\"]}",
	     "{\"k\": \"user:1000\"}");
	RULE("b", "{\"if\": [{\"<=\": [0, {\"slot\": {\"var\": \"k\"}}, 5460]}, \"a\", \"b\"]}",
	     "{\"k\": \"foo\"}");
	/* A missing key's slot is null, which json-logic's '<=' reads as 0:
	 * a ramp's targeting tests for null first (src/kinds/flag.c). */
	RULE("a", "{\"if\": [{\"<=\": [0, {\"slot\": {\"var\": \"k\"}}, 5460]}, \"a\", \"b\"]}",
	     "{}");
}

static void test_error_positions(void **state)
{
	static const struct { const char *text, *want; } c[] = {
		{ "{\"flags\": {\"f\": {\"state\": \"ON\", \"variants\": {\"a\": 1}}}}",
		  "bad.json:1:27: invalid state 'ON'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\",\n \"variants\": {\"a\": 1},\n"
		  " \"defaultVariant\": \"b\"}}}", "bad.json:3:20: unknown variant 'b'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"if\": [{\"nope\": 1}, \"a\"]}}}}",
		  "bad.json:2:25: unknown operator 'nope'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"==\": [1]}}}}", "bad.json:2:17: '==' takes 2 arguments, found 1" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"$ref\": \"r\"}}}}", "bad.json:2:25: unknown $ref 'r'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1, \"b\": \"s\"}}}}",
		  "bad.json:1:64: variant 'b' is a string but variant 'a' is a number" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\"}}}",
		  "bad.json:1:18: missing required field 'variants'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variant\": {}}}}",
		  "bad.json:1:38: unknown field 'variant'" },
		{ "{\"flags\": {\"f\": [1,}", "bad.json:1:" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"if\": [{\"var\": \"x\"}, \"ghost\", \"a\"]}}}}",
		  "bad.json:2:38: unknown variant 'ghost'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"fractional\": [[\"a\", 1], [\"zz\", 1]]}}}}",
		  "bad.json:2:43: unknown variant 'zz'" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"if\": [1, 2], \"or\": []}}}}", "bad.json:2:17: a rule object holds one" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"slot\": []}}}}", "bad.json:2:17: 'slot' takes 1 argument, found 0" },
		{ "{\"flags\": {\"f\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1},\n"
		  "  \"targeting\": {\"if\": [{\"slot\": [\"a\", \"b\"]}, \"a\"]}}}}",
		  "bad.json:2:25: 'slot' takes 1 argument, found 2" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct hf_flagdoc *doc = NULL;
		struct hf_err err = {0};

		assert_int_equal(hf_flagdoc_parse("bad.json", c[i].text, strlen(c[i].text), 0, &doc,
						  &err), HF_EINVAL);
		assert_null(doc);
		if (strncmp(err.msg, c[i].want, strlen(c[i].want)))
			fail_msg("case %zu: got '%s', wanted '%s...'", i, err.msg, c[i].want);
	}
}

static void test_canonical_json(void **state)
{
	const char *text = "{\"metadata\": {\"b\": 1}, \"flags\": {\"z\": {\"variants\": {\"a\": 0.5},"
			   " \"state\": \"ENABLED\", \"targeting\": {\"$ref\": \"r\"}}},"
			   " \"$evaluators\": {\"r\": {\"var\": \"x\"}}}";
	struct hf_flagdoc *doc = NULL, *again = NULL;
	char *s, *s2;

	(void)state;
	assert_int_equal(hf_flagdoc_parse("c.json", text, strlen(text), 0, &doc, NULL), 0);
	s = hf_flagdoc_json(doc);
	assert_string_equal(s, "{\"$evaluators\":{\"r\":{\"var\":\"x\"}},\"flags\":{\"z\":{\"state\":"
			       "\"ENABLED\",\"targeting\":{\"$ref\":\"r\"},\"variants\":{\"a\":0.5}}},"
			       "\"metadata\":{\"b\":1}}");
	assert_int_equal(hf_flagdoc_parse("c.json", s, strlen(s), 0, &again, NULL), 0);
	s2 = hf_flagdoc_json(again);
	assert_string_equal(s, s2);
	free(s);
	free(s2);
	hf_flagdoc_unref(again);
	assert_ptr_equal(hf_flagdoc_ref(doc), doc);
	hf_flagdoc_unref(doc);
	hf_flagdoc_unref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_murmur_vectors),
		cmocka_unit_test(test_murmur_streamed),
		cmocka_unit_test(test_flagdhash_vectors),
		cmocka_unit_test(test_flagdhash_streamed),
		cmocka_unit_test(test_var_and_if),
		cmocka_unit_test(test_equality),
		cmocka_unit_test(test_relational),
		cmocka_unit_test(test_logic),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_cmp_literal),
		cmocka_unit_test(test_in_literal),
		cmocka_unit_test(test_affix_literal),
		cmocka_unit_test(test_if_program),
		cmocka_unit_test(test_timestamp_now),
		cmocka_unit_test(test_sem_ver),
		cmocka_unit_test(test_fractional),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_arena_full),
		cmocka_unit_test(test_slot),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_canonical_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
