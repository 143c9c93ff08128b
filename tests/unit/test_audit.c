/* Unit tests of the audit trail: the chain verifies, and any single
 * change, removal, insertion or reordering of a record is named by its
 * seq; checkpoints are signed with the state directory's key, and a
 * forged one is caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/audit.h"
#include "core/journal.h"

#define TMPDIR_PREFIX "hf-audit"
#include "../common/tmpdir.h"

/* A journal with 'n' records (and the checkpoints they bring). */
static struct hf_journal *with_records(int n)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	char why[32];
	int i;

	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	for (i = 1; i <= n; i++) {
		struct hf_audit_rec rec = { .action = i % 2 ? "apply" : "rollback", .why = why,
					    .cluster = "redis://h:1", .run_id = "r1",
					    .outcome = "started" };

		snprintf(why, sizeof(why), "reason %d", i);
		assert_int_equal(hf_audit_record(j, &rec, NULL, &err), 0);
	}
	assert_int_equal(hf_audit_checkpoint(j, NULL, NULL, &err), 0);
	return j;
}

/* Run 'sql' on the journal as an outsider (the sqlite3 shell) would. */
static void tamper(const char *sql)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/journal.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static long long bad_seq(struct hf_journal *j, char *why, size_t len)
{
	struct hf_audit_report rep;
	struct hf_err err = {0};

	assert_int_equal(hf_audit_verify(j, &rep, &err), 0);
	snprintf(why, len, "%s", rep.why);
	return rep.why[0] ? rep.bad_seq : 0;
}

static void test_intact(void **state)
{
	struct hf_journal *j = with_records(40);
	struct hf_audit_report rep;
	struct hf_err err = {0};
	struct stat st;
	char path[128];

	(void)state;
	assert_int_equal(hf_audit_verify(j, &rep, &err), 0);
	assert_string_equal(rep.why, "");
	assert_int_equal(rep.records, 40);
	/* Every 16 records, and the one asked for at the end. */
	assert_int_equal(rep.checkpoints, 3);
	assert_int_equal(rep.sealed, 40);
	snprintf(path, sizeof(path), "%s/audit.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	hf_journal_close(j);
}

static void test_empty(void **state)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	char why[512];

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_audit_checkpoint(j, NULL, NULL, &err), 0);
	assert_int_equal(bad_seq(j, why, sizeof(why)), 0);
	hf_journal_close(j);
}

static void test_changed_byte(void **state)
{
	static const char *const edits[] = {
		"UPDATE audit SET why = 'reason 6 ' WHERE seq = 7",
		"UPDATE audit SET outcome = 'promoted' WHERE seq = 7",
		"UPDATE audit SET os_user = NULL WHERE seq = 7",
		"UPDATE audit SET ts_ms = ts_ms + 1 WHERE seq = 7",
		"UPDATE audit SET actor = '' WHERE seq = 7",
	};
	char why[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		struct hf_journal *j;

		tmpdir_teardown(NULL);
		tmpdir_setup(NULL);
		j = with_records(20);
		tamper(edits[i]);
		assert_int_equal(bad_seq(j, why, sizeof(why)), 7);
		assert_non_null(strstr(why, "changed"));
		hf_journal_close(j);
	}
}

static void test_removed_inserted_reordered(void **state)
{
	struct hf_journal *j = with_records(20);
	char why[512];

	(void)state;
	/* Removed in the middle. */
	tamper("DELETE FROM audit WHERE seq = 5");
	assert_int_equal(bad_seq(j, why, sizeof(why)), 5);
	hf_journal_close(j);

	tmpdir_teardown(NULL);
	tmpdir_setup(NULL);
	j = with_records(20);
	/* Removed and the rest renumbered: the chain breaks at the gap. */
	tamper("DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = -(seq - 1) WHERE seq > 5;"
	       " UPDATE audit SET seq = -seq WHERE seq < 0");
	assert_int_equal(bad_seq(j, why, sizeof(why)), 5);
	hf_journal_close(j);

	tmpdir_teardown(NULL);
	tmpdir_setup(NULL);
	j = with_records(20);
	/* Two swapped (their contents, seq kept). */
	tamper("UPDATE audit SET seq = 100 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4;"
	       " UPDATE audit SET seq = 4 WHERE seq = 100");
	assert_int_equal(bad_seq(j, why, sizeof(why)), 3);
	hf_journal_close(j);

	tmpdir_teardown(NULL);
	tmpdir_setup(NULL);
	j = with_records(20);
	/* Inserted at the end, chained but not sealed, is undetectable from
	 * the chain alone; inserted in the middle is not. */
	tamper("UPDATE audit SET seq = -(seq + 1) WHERE seq >= 10;"
	       " UPDATE audit SET seq = -seq WHERE seq < 0;"
	       " INSERT INTO audit (seq, ts_ms, action, prev_hash, hash)"
	       " SELECT 10, ts_ms, 'apply', prev_hash, hash FROM audit WHERE seq = 11");
	assert_true(bad_seq(j, why, sizeof(why)) > 0);
	hf_journal_close(j);
}

static void test_tail_removed_after_checkpoint(void **state)
{
	struct hf_journal *j = with_records(20);
	char why[512];

	(void)state;
	tamper("DELETE FROM audit WHERE seq = 20");
	/* The last checkpoint sealed record 20. */
	assert_int_equal(bad_seq(j, why, sizeof(why)), 20);
	hf_journal_close(j);
}

static void test_forged_checkpoint(void **state)
{
	struct hf_journal *j = with_records(20);
	char why[512];

	(void)state;
	tamper("UPDATE audit_checkpoints SET seq = 19 WHERE n = 2");
	assert_true(bad_seq(j, why, sizeof(why)) > 0);
	assert_non_null(strstr(why, "signature"));
	hf_journal_close(j);
}

static void test_witness(void **state)
{
	struct hf_journal *j = with_records(5);
	struct hf_audit_checkpoint cp;
	struct hf_audit_report rep = {0};
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_audit_last_checkpoint(j, &cp, &err), 1);
	assert_int_equal(hf_audit_verify_witness(j, cp.seq, cp.hash, &rep, &err), 0);
	assert_string_equal(rep.why, "");
	/* Records removed with their checkpoints: the witness still knows. */
	tamper("DELETE FROM audit WHERE seq = 5; DELETE FROM audit_checkpoints");
	assert_int_equal(hf_audit_verify_witness(j, cp.seq, cp.hash, &rep, &err), 0);
	assert_int_equal(rep.bad_seq, 5);
	hf_journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_empty, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_changed_byte, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_removed_inserted_reordered, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_tail_removed_after_checkpoint, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_forged_checkpoint, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_witness, tmpdir_setup, tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
