/* The governance policy (src/core/policy.c) and signed approvals
 * (src/core/approval.c) without a cluster: parsing and its FILE:LINE:COL
 * errors, identities and roles, windows in their time zones (midnight,
 * DST), the next opening, and the verdict on each approval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/approval.h"
#include "core/policy.h"
#include "util/buf.h"

static char dir[] = "/tmp/hf-test-policy-XXXXXX";
static struct hf_key *keys[3];   /* alice, bob, carol (private) */

static void write_file(const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	static const char *const names[] = { "alice", "bob", "carol" };
	char path[512];
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < 3; i++) {
		struct hf_err err = {0};
		char *pem;

		snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]);
		assert_int_equal(hf_key_generate(path, &keys[i], &err), 0);
		pem = hf_key_public_pem(keys[i]);
		snprintf(path, sizeof(path), "%s.pub", names[i]);
		write_file(path, pem);
		free(pem);
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		hf_key_free(keys[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

#define HEAD "apiVersion: hotfix/v1\nkind: Policy\nidentities:\n" \
	"  - {name: alice, key: alice.pub, roles: [operator]}\n" \
	"  - {name: bob, key: bob.pub, roles: [approver]}\n" \
	"  - {name: carol, key: carol.pub, roles: [approver, admin]}\n"

static const char good[] = HEAD
	"clusters:\n"
	"  - match: \"redis://10.0.0.*\"\n"
	"    approvals: 2\n"
	"    windows:\n"
	"      - {days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\", tz: Europe/Berlin}\n"
	"      - {days: [sat], from: \"22:00\", to: \"02:00\"}\n"
	"    emergency: [admin]\n"
	"  - match: \"*\"\n";

static struct hf_policy *parse(const char *text, struct hf_err *err)
{
	char path[512];
	struct hf_policy *pol = NULL;

	snprintf(path, sizeof(path), "%s/policy.yaml", dir);
	if (hf_policy_parse(path, text, strlen(text), &pol, err))
		return NULL;
	return pol;
}

static long long utc(const char *s)
{
	struct tm tm = {0};

	assert_non_null(strptime(s, "%Y-%m-%d %H:%M", &tm));
	return (long long)timegm(&tm);
}

static void test_parse_and_roles(void **state)
{
	struct hf_err err = {0};
	struct hf_policy *pol = parse(good, &err);
	const struct hf_policy_cluster *pc;
	char buf[64];

	(void)state;
	assert_non_null(pol);
	assert_int_equal(pol->nids, 3);
	assert_ptr_equal(hf_policy_identity_of(pol, keys[1]), &pol->ids[1]);
	assert_ptr_equal(hf_policy_identity_named(pol, "carol"), &pol->ids[2]);
	assert_null(hf_policy_identity_named(pol, "mallory"));
	/* Credentials are left out before matching. */
	pc = hf_policy_cluster_for(pol, "redis://u:secret@10.0.0.7:6379");
	assert_ptr_equal(pc, &pol->clusters[0]);
	assert_int_equal(pc->approvals, 2);
	assert_ptr_equal(hf_policy_cluster_for(pol, "10.1.0.7:6379"), &pol->clusters[1]);
	assert_true(hf_policy_allows(HF_PROLE_OPERATOR, HF_ACT_APPLY, pc));
	assert_false(hf_policy_allows(HF_PROLE_APPROVER, HF_ACT_APPLY, pc));
	assert_true(hf_policy_allows(HF_PROLE_APPROVER, HF_ACT_APPROVE, pc));
	assert_false(hf_policy_allows(HF_PROLE_OPERATOR, HF_ACT_APPROVE, pc));
	assert_true(hf_policy_allows(HF_PROLE_VIEWER, HF_ACT_ROLLBACK, pc));
	assert_true(hf_policy_allows(HF_PROLE_VIEWER, HF_ACT_PLAN, pc));
	assert_true(hf_policy_allows(HF_PROLE_ADMIN, HF_ACT_EMERGENCY, pc));
	assert_false(hf_policy_allows(HF_PROLE_OPERATOR, HF_ACT_EMERGENCY, pc));
	assert_false(hf_policy_allows(HF_PROLE_ADMIN, HF_ACT_EMERGENCY, &pol->clusters[1]));
	assert_string_equal(hf_policy_roles_text(pol->ids[2].roles, buf, sizeof(buf)),
			    "approver,admin");
	hf_policy_free(pol);
}

/* Each bad policy, and where its error must point. */
static void test_errors(void **state)
{
	static const struct {
		const char *text, *where, *what;
	} bad[] = {
		{ HEAD "clusters:\n  - match: x\n    approval: 1\n", ":9:5:", "unknown field 'approval'" },
		{ HEAD "clusters:\n  - {match: x, emergency: [root]}\n", ":8:28:", "unknown role 'root'" },
		{ HEAD "clusters:\n  - {match: x, windows: [{days: [mon, funday], from: \"09:00\", "
		  "to: \"10:00\"}]}\n", ":8:39:", "unknown day 'funday'" },
		{ HEAD "clusters:\n  - {match: x, windows: [{days: [mon], from: \"9am\", "
		  "to: \"10:00\"}]}\n", ":8:", "invalid time '9am'" },
		{ HEAD "clusters:\n  - {match: x, windows: [{days: [mon], from: \"09:00\", "
		  "to: \"10:00\", tz: Mars/Olympus}]}\n", ":8:", "unknown time zone 'Mars/Olympus'" },
		{ HEAD "clusters:\n  - {match: x, approvals: 3}\n", ":8:", "only 2 identities may approve" },
		{ HEAD "  - {name: bob, key: carol.pub, roles: [viewer]}\nclusters: [{match: x}]\n",
		  ":7:", "identity 'bob' is named twice" },
		{ HEAD "  - {name: dan, key: carol.pub, roles: [viewer]}\nclusters: [{match: x}]\n",
		  ":7:", "identity 'dan' has the key of 'carol'" },
		{ HEAD "  - {name: dan, key: none.pub, roles: [viewer]}\nclusters: [{match: x}]\n",
		  ":7:", "cannot read key file" },
		{ HEAD "clusters:\n  - {match: x, require_drill: soon}\n", ":8:31:",
		  "invalid require_drill 'soon'" },
		{ HEAD "clusters:\n  - {match: x, require_drill: 8d}\n", ":8:", "invalid require_drill '8d'" },
		{ HEAD "clusters:\n  - {match: x, require_drill: 169h}\n", ":8:",
		  "invalid require_drill '169h'" },
		{ "require_drill: [24h]\n" HEAD "clusters: [{match: x}]\n", ":1:", "'require_drill' must be" },
		{ "require_drill: 0\n" HEAD "clusters: [{match: x}]\n", ":1:16:",
		  "invalid require_drill '0'" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hf_err err = {0};

		assert_null(parse(bad[i].text, &err));
		assert_int_equal(err.code, HF_EINVAL);
		if (!strstr(err.msg, bad[i].where) || !strstr(err.msg, bad[i].what))
			fail_msg("case %zu: '%s' lacks '%s' or '%s'", i, err.msg, bad[i].where,
				 bad[i].what);
	}
}

static void test_windows(void **state)
{
	struct hf_err err = {0};
	struct hf_policy *pol = parse(good, &err);
	const struct hf_policy_cluster *pc = &pol->clusters[0];
	const struct hf_policy_window *w;
	char when[96];

	(void)state;
	/* Monday 2026-11-30: 09:00-17:00 in Berlin is 08:00-16:00 UTC. */
	assert_true(hf_policy_window_open(pc, utc("2026-11-30 08:00"), &w));
	assert_ptr_equal(w, &pc->windows[0]);
	assert_false(hf_policy_window_open(pc, utc("2026-11-30 07:59"), NULL));
	assert_false(hf_policy_window_open(pc, utc("2026-11-30 16:00"), NULL));
	assert_int_equal(hf_policy_next_open(pc, utc("2026-11-30 16:30"), &w),
			 utc("2026-12-01 08:00"));
	hf_policy_fmt_local(utc("2026-12-01 08:00"), w->tz, when, sizeof(when));
	assert_string_equal(when, "Tue 2026-12-01 09:00 CET");
	/* Friday evening: the Saturday night window (UTC) opens first. */
	assert_int_equal(hf_policy_next_open(pc, utc("2026-12-04 18:00"), &w),
			 utc("2026-12-05 22:00"));
	/* It spans midnight into Sunday, a day it does not list. */
	assert_true(hf_policy_window_open(pc, utc("2026-12-06 01:59"), NULL));
	assert_false(hf_policy_window_open(pc, utc("2026-12-06 02:00"), NULL));
	assert_int_equal(hf_policy_next_open(pc, utc("2026-12-06 03:00"), NULL),
			 utc("2026-12-07 08:00"));
	/* Summer time: the window opens at 07:00 UTC from 2026-03-29 on. */
	assert_int_equal(hf_policy_next_open(pc, utc("2026-03-27 18:00"), NULL),
			 utc("2026-03-28 22:00"));
	assert_int_equal(hf_policy_next_open(pc, utc("2026-03-29 03:00"), NULL),
			 utc("2026-03-30 07:00"));
	/* Open now is now; a cluster without windows is always open. */
	assert_int_equal(hf_policy_next_open(pc, utc("2026-11-30 10:00"), NULL),
			 utc("2026-11-30 10:00"));
	assert_true(hf_policy_window_open(&pol->clusters[1], utc("2026-11-29 03:00"), NULL));
	/* The test hook of the policy clock. */
	setenv("HOTFIX_POLICY_NOW", "1700000000", 1);
	assert_int_equal(hf_policy_now(), 1700000000);
	unsetenv("HOTFIX_POLICY_NOW");
	hf_policy_free(pol);
}

/* require_drill: the policy's default, an entry's own, "none"; the
 * verdict on the newest drill. */
static void test_drill_gate(void **state)
{
	struct hf_err err = {0};
	struct hf_policy *pol = parse("require_drill: 24h\n" HEAD "clusters:\n"
				      "  - {match: \"redis://10.*\", require_drill: 30m}\n"
				      "  - {match: \"redis://192.*\", require_drill: none}\n"
				      "  - {match: \"*\"}\n", &err);

	(void)state;
	assert_non_null(pol);
	assert_int_equal(pol->require_drill_ms, 24LL * 3600 * 1000);
	assert_int_equal(hf_policy_cluster_for(pol, "10.0.0.1:6379")->require_drill_ms, 1800000);
	assert_string_equal(hf_policy_cluster_for(pol, "10.0.0.1:6379")->require_drill, "30m");
	assert_int_equal(hf_policy_cluster_for(pol, "192.168.0.1:6379")->require_drill_ms, 0);
	assert_string_equal(hf_policy_cluster_for(pol, "192.168.0.1:6379")->require_drill, "none");
	assert_int_equal(hf_policy_cluster_for(pol, "172.16.0.1:6379")->require_drill_ms,
			 24LL * 3600 * 1000);
	hf_policy_free(pol);
	/* Without the field: no gate anywhere. */
	pol = parse(good, &err);
	assert_non_null(pol);
	assert_int_equal(pol->clusters[0].require_drill_ms, 0);
	assert_string_equal(pol->clusters[0].require_drill, "none");
	hf_policy_free(pol);
	/* Only the newest drill counts; no bound, no gate. */
	assert_int_equal(hf_policy_drill_verdict(0, 0, 0, 0), HF_DRILL_OK);
	assert_int_equal(hf_policy_drill_verdict(1000, 0, 0, 0), HF_DRILL_NEVER);
	assert_int_equal(hf_policy_drill_verdict(1000, 1, 0, 10), HF_DRILL_FAILED);
	assert_int_equal(hf_policy_drill_verdict(1000, 1, 1, 1000), HF_DRILL_OK);
	assert_int_equal(hf_policy_drill_verdict(1000, 1, 1, 1001), HF_DRILL_TOO_OLD);
}

static char *lines_a[] = { "10.0.0.1:6379 (a) change 1 wave 1: timeout: \"0\" -> \"300\"" };
static char *lines_b[] = { "10.0.0.1:6379 (a) change 1 wave 1: timeout: \"17\" -> \"300\"" };

static void subject(struct hf_approval_subject *s, char **lines, const char *digest)
{
	memset(s, 0, sizeof(*s));
	s->hotfix = "fix";
	s->version = 1;
	memset(s->manifest_sha256, 'a', 64);
	snprintf(s->plan_digest, sizeof(s->plan_digest), "%s", digest);
	memset(s->topology_hash, 't', 64);
	s->cluster = "redis://10.0.0.1:6379";
	s->lines = lines;
	s->nlines = 1;
}

static void test_approvals(void **state)
{
	struct hf_err err = {0};
	struct hf_policy *pol = parse(good, &err);
	struct hf_approval_subject then, now;
	struct hf_approval_check v[4];
	char *bob, *carol, *alice, *forged;
	long long t = 1800000000;

	(void)state;
	subject(&then, lines_a, "d1");
	bob = hf_approval_sign(&then, "bob", keys[1], "looks right", t, t + 3600, &err);
	carol = hf_approval_sign(&then, "carol", keys[2], NULL, t, t + 3600, &err);
	alice = hf_approval_sign(&then, "alice", keys[0], NULL, t, t + 3600, &err);
	assert_non_null(bob);
	/* Two distinct approvers, the same plan: both count. */
	hf_approval_check(bob, strlen(bob), pol, &then, "alice", t + 10, &v[0]);
	hf_approval_check(carol, strlen(carol), pol, &then, "alice", t + 10, &v[1]);
	hf_approval_check(bob, strlen(bob), pol, &then, "alice", t + 10, &v[2]);
	assert_int_equal(v[0].counts, 1);
	assert_string_equal(v[0].reason, "looks right");
	assert_int_equal(hf_approval_count(v, 3), 2);
	assert_string_equal(v[2].why, "a second approval by bob counts once");
	/* The author's own approval, an operator's, an expired one. */
	hf_approval_check(carol, strlen(carol), pol, &then, "carol", t + 10, &v[0]);
	assert_non_null(strstr(v[0].why, "carol is the author"));
	hf_approval_check(alice, strlen(alice), pol, &then, "bob", t + 10, &v[0]);
	assert_non_null(strstr(v[0].why, "alice may not approve"));
	hf_approval_check(bob, strlen(bob), pol, &then, "alice", t + 3600, &v[0]);
	assert_non_null(strstr(v[0].why, "expired"));
	/* Drift: the node's value changed since; it is named. */
	subject(&now, lines_b, "d2");
	hf_approval_check(bob, strlen(bob), pol, &now, "alice", t + 10, &v[0]);
	assert_int_equal(v[0].counts, 0);
	assert_non_null(strstr(v[0].why, "approved '10.0.0.1:6379 (a) change 1 wave 1: timeout: "
				     "\"0\" -> \"300\"', now '10.0.0.1:6379 (a) change 1 wave 1: "
				     "timeout: \"17\""));
	/* A statement edited after signing. */
	forged = hf_xstrdup(bob);
	memcpy(strstr(forged, "looks right"), "looks wrong", 11);
	hf_approval_check(forged, strlen(forged), pol, &then, "alice", t + 10, &v[0]);
	assert_non_null(strstr(v[0].why, "the signature is not bob's"));
	hf_approval_check("{", 1, pol, &then, "alice", t, &v[0]);
	assert_non_null(strstr(v[0].why, "not an approval statement"));
	free(forged);
	free(bob);
	free(carol);
	free(alice);
	hf_policy_free(pol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_roles),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_drill_gate),
		cmocka_unit_test(test_approvals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
