/* Unit tests of the journal: runs and steps survive a reopen, the
 * one-run-per-node lock, requests, and the audit hash chain. */
#include <math.h>
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

#include "core/journal.h"
#include "util/keyset.h"

#define TMPDIR_PREFIX "hf-journal"
#include "../common/tmpdir.h"

static struct hf_run run_named(const char *id)
{
	struct hf_run r = {
		.id = (char *)id, .hotfix = "fix", .version = 3, .owner = "o",
		.cluster = "redis://127.0.0.1:1", .manifest_path = "f.yaml",
		.manifest_sha256 = "abc", .manifest_text = "text", .state = HF_RUN_RUNNING,
		.pid = 1234, .operator = "tester",
	};

	return r;
}

static void steps_on(struct hf_step *s, const char *a, const char *b)
{
	memset(s, 0, 2 * sizeof(*s));
	s[0] = (struct hf_step){ .seq = 1, .wave = 1, .node_id = (char *)a, .addr = "h:1",
				 .role = "replica", .state = HF_STEP_PLANNED };
	s[1] = (struct hf_step){ .seq = 2, .wave = 2, .node_id = (char *)b, .addr = "h:2",
				 .role = "primary", .shard = 1, .state = HF_STEP_PLANNED };
}

static const char *cluster1[] = { "node-a", "node-b", "node-z" };
static const char *cluster2[] = { "node-b", "node-c" };
static const char *cluster3[] = { "node-x", "node-y" };

static void test_runs_and_lock(void **state)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	struct hf_run r1 = run_named("run-1"), r2 = run_named("run-2"), *back = NULL;
	struct hf_step s[2], *loaded = NULL, *p;
	char holder[128];
	size_t n = 0;

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	steps_on(s, "node-a", "node-b");
	assert_int_equal(hf_journal_run_create(j, &r1, s, 2, cluster1, 3, &err), 0);

	/* A cluster sharing any node with an unfinished run's is held, even
	 * when the new run's own targets are other nodes. */
	steps_on(s, "node-c", "node-c");
	assert_int_equal(hf_journal_run_create(j, &r2, s, 1, cluster2, 2, &err), HF_EREFUSED);
	assert_non_null(strstr(err.msg, "run-1"));

	/* Steps keep their state, blobs and flags across a reopen. */
	assert_int_equal(hf_journal_run_load(j, "run-1", &back, &loaded, &n, &err), 0);
	assert_int_equal(n, 2);
	loaded[0].state = HF_STEP_VERIFIED;
	loaded[0].before = strdup("{\"params\":{\"timeout\":\"0\"}}");
	loaded[0].persisted = 1;
	p = &loaded[0];
	assert_int_equal(hf_journal_steps_update(j, "run-1", &p, 1, &err), 0);
	back->state = HF_RUN_PROMOTED;
	assert_int_equal(hf_journal_run_update(j, back, &err), 0);
	hf_steps_free(loaded, n);
	hf_run_free(back);
	hf_journal_close(j);

	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_journal_run_load(j, "last", &back, &loaded, &n, &err), 0);
	assert_string_equal(back->id, "run-1");
	assert_int_equal(back->state, HF_RUN_PROMOTED);
	assert_int_equal(back->version, 3);
	assert_int_equal(loaded[0].state, HF_STEP_VERIFIED);
	assert_string_equal(loaded[0].before, "{\"params\":{\"timeout\":\"0\"}}");
	assert_int_equal(loaded[0].persisted, 1);
	assert_int_equal(loaded[1].state, HF_STEP_PLANNED);
	assert_int_equal(loaded[1].shard, 1);
	hf_steps_free(loaded, n);
	hf_run_free(back);

	/* A promoted run holds nothing any more. */
	assert_int_equal(hf_journal_run_create(j, &r2, s, 1, cluster2, 2, &err), 0);
	/* Run 1's cluster shares node-b with run 2, unfinished until it is
	 * rolled back or failed. */
	assert_int_equal(hf_journal_holder(j, "run-1", holder, sizeof(holder), &err), 1);
	assert_string_equal(holder, "run-2 (running)");
	assert_int_equal(hf_journal_run_load(j, "run-2", &back, NULL, NULL, &err), 0);
	back->state = HF_RUN_ROLLED_BACK;
	assert_int_equal(hf_journal_run_update(j, back, &err), 0);
	assert_int_equal(hf_journal_holder(j, "run-1", holder, sizeof(holder), &err), 0);
	back->state = HF_RUN_PAUSED;
	assert_int_equal(hf_journal_run_update(j, back, &err), 0);
	assert_int_equal(hf_journal_holder(j, "run-1", holder, sizeof(holder), &err), 1);
	assert_string_equal(holder, "run-2 (paused)");
	back->state = HF_RUN_FAILED;
	assert_int_equal(hf_journal_run_update(j, back, &err), 0);
	assert_int_equal(hf_journal_holder(j, "run-1", holder, sizeof(holder), &err), 0);
	hf_run_free(back);
	assert_int_equal(hf_journal_run_load(j, "no-such-run", &back, NULL, NULL, &err), HF_EINVAL);
	hf_journal_close(j);
}

static void test_requests(void **state)
{
	struct hf_journal *j = NULL, *other = NULL;
	struct hf_err err = {0};
	struct hf_run r = run_named("run-r");
	struct hf_step s[2];
	char *req = NULL;

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_journal_open(dir, &other, &err), 0);
	steps_on(s, "node-x", "node-y");
	assert_int_equal(hf_journal_run_create(j, &r, s, 2, cluster3, 2, &err), 0);
	assert_int_equal(hf_journal_request_take(j, "run-r", &req, &err), 0);
	assert_null(req);
	/* Another process (another connection) leaves a request... */
	assert_int_equal(hf_journal_request_set(other, "run-r", "pause", &err), 0);
	/* ...the driver takes it once. */
	assert_int_equal(hf_journal_request_take(j, "run-r", &req, &err), 0);
	assert_string_equal(req, "pause");
	free(req);
	assert_int_equal(hf_journal_request_take(j, "run-r", &req, &err), 0);
	assert_null(req);
	/* An abort is not replaced by a later pause or continue. */
	assert_int_equal(hf_journal_request_set(other, "run-r", "abort", &err), 0);
	assert_int_equal(hf_journal_request_set(other, "run-r", "pause", &err), 0);
	assert_int_equal(hf_journal_request_set(other, "run-r", "continue", &err), 0);
	assert_int_equal(hf_journal_request_take(j, "run-r", &req, &err), 0);
	assert_string_equal(req, "abort");
	free(req);
	hf_journal_close(other);
	hf_journal_close(j);
}

static void test_drive_lock(void **state)
{
	struct hf_journal *a = NULL, *b = NULL;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_journal_open(dir, &a, &err), 0);
	assert_int_equal(hf_journal_open(dir, &b, &err), 0);
	assert_false(hf_journal_driven(b, "run-d"));
	assert_int_equal(hf_journal_drive(a, "run-d", &err), 0);
	/* Another opener (another process, as far as flock goes) sees it held. */
	assert_true(hf_journal_driven(b, "run-d"));
	assert_int_equal(hf_journal_drive(b, "run-d", &err), HF_EREFUSED);
	assert_non_null(strstr(err.msg, "driven by another hotfix process"));
	/* Closing (or dying) releases it. */
	hf_journal_close(a);
	assert_false(hf_journal_driven(b, "run-d"));
	assert_int_equal(hf_journal_drive(b, "run-d", &err), 0);
	assert_int_equal(hf_journal_drive(b, "../x", &err), HF_EINVAL);
	hf_journal_close(b);
}

static void test_event_chain(void **state)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	struct hf_event *ev = NULL;
	size_t n = 0;
	int ok = 0;
	sqlite3 *db;
	char path[128];

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_journal_event(j, "run-e", "run", "started %d", 1), 0);
	assert_int_equal(hf_journal_event(j, "run-e", "wave", "wave %d/%d", 1, 2), 0);
	assert_int_equal(hf_journal_event(j, "run-e", "run", "promoted"), 0);
	assert_int_equal(hf_journal_events(j, "run-e", &ev, &n, &ok, &err), 0);
	assert_int_equal(n, 3);
	assert_true(ok);
	assert_string_equal(ev[1].kind, "wave");
	assert_string_equal(ev[1].message, "wave 1/2");
	hf_events_free(ev, n);

	/* Edit an event behind the journal's back: the chain no longer verifies. */
	snprintf(path, sizeof(path), "%s/journal.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE events SET message = 'nothing happened' "
				      "WHERE run = 'run-e' AND n = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(hf_journal_events(j, "run-e", &ev, &n, &ok, &err), 0);
	assert_false(ok);
	hf_events_free(ev, n);

	/* Deleting one is caught too. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE events SET message = 'wave 1/2' WHERE run = 'run-e' AND n = 2;"
				      "DELETE FROM events WHERE run = 'run-e' AND n = 2", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(hf_journal_events(j, "run-e", &ev, &n, &ok, &err), 0);
	assert_int_equal(n, 2);
	assert_false(ok);
	hf_events_free(ev, n);
	hf_journal_close(j);
}

static struct hf_key_record rec(const char *key, const char *dump)
{
	struct hf_key_record r = { .key = (char *)key, .keylen = strlen(key), .dump = (char *)dump,
				   .dumplen = strlen(dump), .expire_at = -1,
				   .state = HF_KEY_APPLIED };

	snprintf(r.before, sizeof(r.before), "b-%s", key);
	snprintf(r.after, sizeof(r.after), "a-%s", key);
	return r;
}

/* Key records come back in the order they were added, numbered; an update
 * by number touches only its record; the step's keys fill a key set. */
static void test_key_records(void **state)
{
	struct hf_journal *j;
	struct hf_err err = {0};
	struct hf_key_record in[3] = { rec("k:9", "d9"), rec("k:1", "d1"), rec("k:5", "d5") };
	struct hf_key_record *out;
	struct hf_keyset set = {0};
	size_t n, idx[1] = { 1 };
	char *cursor;
	int done;

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_journal_keys_add(j, "run-k", 1, in, 2, "17", 0, &err), 0);
	assert_int_equal(hf_journal_keys_add(j, "run-k", 1, in + 2, 1, "0", 1, &err), 0);
	assert_int_equal(hf_journal_keys_add(j, "run-k", 2, in, 1, "3", 0, &err), 0);
	assert_int_equal(hf_journal_scan_get(j, "run-k", 1, &cursor, &done, &err), 0);
	assert_string_equal(cursor, "0");
	assert_int_equal(done, 1);
	free(cursor);
	assert_int_equal(hf_journal_keys_load(j, "run-k", 1, &out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].key, "k:9");
	assert_string_equal(out[1].key, "k:1");
	assert_string_equal(out[2].key, "k:5");
	assert_string_equal(out[2].dump, "d5");
	assert_string_equal(out[1].after, "a-k:1");
	assert_int_equal(out[0].n, 0);
	assert_int_equal(out[2].n, 2);
	out[1].state = HF_KEY_CONFLICT;
	out[1].note = strdup("now");
	assert_int_equal(hf_journal_keys_update(j, "run-k", 1, out, idx, 1, &err), 0);
	hf_key_records_free(out, n);
	assert_int_equal(hf_journal_keys_load(j, "run-k", 1, &out, &n, &err), 0);
	assert_int_equal(out[0].state, HF_KEY_APPLIED);
	assert_int_equal(out[1].state, HF_KEY_CONFLICT);
	assert_string_equal(out[1].note, "now");
	assert_int_equal(out[2].state, HF_KEY_APPLIED);
	hf_key_records_free(out, n);
	assert_int_equal(hf_journal_keys_into(j, "run-k", 1, &set, &err), 0);
	assert_int_equal(set.n, 3);
	assert_true(hf_keyset_has(&set, "k:5", 3));
	assert_false(hf_keyset_has(&set, "k:2", 3));
	hf_keyset_free(&set);
	hf_journal_close(j);
}

/* A journal written when key records were keyed by key is carried over. */
static void test_key_records_old_schema(void **state)
{
	char path[128], sub[96];
	sqlite3 *db;
	struct hf_journal *j;
	struct hf_err err = {0};
	struct hf_key_record *out, more = rec("k:new", "dn");
	size_t n;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/old", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/journal.db", sub);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE data_keys ("
		"  run TEXT NOT NULL, step INTEGER NOT NULL, n INTEGER NOT NULL, key BLOB NOT NULL,"
		"  dump BLOB, expire_at INTEGER NOT NULL, before_digest TEXT NOT NULL,"
		"  after_digest TEXT NOT NULL, state INTEGER NOT NULL, note TEXT,"
		"  PRIMARY KEY (run, step, key));"
		"INSERT INTO data_keys VALUES ('run-o', 1, 0, 'k:b', 'db', -1, 'b', 'a', 1, NULL);"
		"INSERT INTO data_keys VALUES ('run-o', 1, 1, 'k:a', 'da', -1, 'b', 'a', 1, NULL);",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(hf_journal_open(sub, &j, &err), 0);
	assert_int_equal(hf_journal_keys_load(j, "run-o", 1, &out, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].key, "k:b");
	assert_string_equal(out[1].dump, "da");
	hf_key_records_free(out, n);
	/* The migrated table takes records numbered after its own. */
	assert_int_equal(hf_journal_keys_add(j, "run-o", 1, &more, 1, "0", 1, &err), 0);
	assert_int_equal(hf_journal_keys_load(j, "run-o", 1, &out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out[2].key, "k:new");
	hf_key_records_free(out, n);
	hf_journal_close(j);
}

/* A step in a state this build does not know is refused, not read as
 * planned (which a rollback would skip). */
static void test_unknown_step_state(void **state)
{
	char path[128];
	sqlite3 *db;
	struct hf_journal *j;
	struct hf_err err = {0};
	struct hf_run r = run_named("run-u"), *got = NULL;
	struct hf_step s[2], *st = NULL;
	size_t n = 0;

	(void)state;
	steps_on(s, "node-u1", "node-u2");
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_journal_run_create(j, &r, s, 2, cluster3, 0, &err), 0);
	assert_int_equal(hf_journal_run_load(j, "run-u", &got, &st, &n, &err), 0);
	assert_int_equal(got->snapshot_ms, 0);
	hf_run_free(got);
	hf_steps_free(st, n);
	snprintf(path, sizeof(path), "%s/journal.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE steps SET state = 'frozen' WHERE run = 'run-u'"
				      " AND seq = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	got = NULL;
	assert_int_equal(hf_journal_run_load(j, "run-u", &got, &st, &n, &err), HF_EINVAL);
	assert_null(got);
	assert_non_null(strstr(err.msg, "step 2 is in state 'frozen', which this hotfix does not know"));
	hf_journal_close(j);
}

static void test_state_names(void **state)
{
	/* The names journals on disk and --json output hold, in enum order. */
	static const char *runs[] = { "planned", "baseline", "running", "paused", "promoted",
				      "rolling_back", "rolled_back", "failed" };
	static const char *steps[] = { "planned", "capturing", "captured", "applying", "applied",
				       "verified", "reverting", "reverted", "conflict" };
	enum hf_run_state r = HF_RUN_RUNNING;
	enum hf_step_state s = HF_STEP_APPLIED;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		assert_string_equal(hf_run_state_name((enum hf_run_state)i), runs[i]);
		assert_int_equal(hf_run_state_parse(runs[i], &r), 0);
		assert_int_equal(r, i);
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_string_equal(hf_step_state_name((enum hf_step_state)i), steps[i]);
		assert_int_equal(hf_step_state_parse(steps[i], &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(HF_RUN_ROLLING_BACK, 5);
	assert_int_equal(HF_STEP_CONFLICT, 8);
	assert_string_equal(hf_run_state_name((enum hf_run_state)8), "unknown");
	assert_string_equal(hf_step_state_name((enum hf_step_state)9), "unknown");

	/* A name that is not a state leaves the output alone. */
	r = HF_RUN_PAUSED;
	assert_int_equal(hf_run_state_parse("rolling-back", &r), -1);
	assert_int_equal(hf_run_state_parse(NULL, &r), -1);
	assert_int_equal(r, HF_RUN_PAUSED);
	s = HF_STEP_REVERTED;
	assert_int_equal(hf_step_state_parse("Applied", &s), -1);
	assert_int_equal(hf_step_state_parse("", &s), -1);
	assert_int_equal(s, HF_STEP_REVERTED);

	assert_true(hf_run_state_active(HF_RUN_PLANNED));
	assert_true(hf_run_state_active(HF_RUN_BASELINE));
	assert_true(hf_run_state_active(HF_RUN_RUNNING));
	assert_true(hf_run_state_active(HF_RUN_PAUSED));
	assert_true(hf_run_state_active(HF_RUN_ROLLING_BACK));
	assert_false(hf_run_state_active(HF_RUN_PROMOTED));
	assert_false(hf_run_state_active(HF_RUN_ROLLED_BACK));
	assert_false(hf_run_state_active(HF_RUN_FAILED));
}

/* A reader that follows the journal: events of every run in commit order
 * after a seq, or of one run; runs filtered by state. */
static void test_events_after(void **state)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	struct hf_event *ev = NULL;
	struct hf_run **runs = NULL;
	size_t n = 0, i;
	long long last = -1;

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	assert_int_equal(hf_journal_events_last(j, &last, &err), 0);
	assert_int_equal(hf_journal_event(j, "run-f", "run", "f1"), 0);
	assert_int_equal(hf_journal_event(j, "run-g", "run", "g1"), 0);
	assert_int_equal(hf_journal_event(j, "run-f", "wave", "f2"), 0);
	assert_int_equal(hf_journal_events_after(j, NULL, last, 10, &ev, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ev[0].run, "run-f");
	assert_string_equal(ev[1].message, "g1");
	assert_string_equal(ev[2].kind, "wave");
	assert_true(ev[0].seq > last && ev[1].seq > ev[0].seq && ev[2].seq > ev[1].seq);
	hf_events_free(ev, n);
	assert_int_equal(hf_journal_events_after(j, "run-f", last, 10, &ev, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ev[1].message, "f2");
	hf_events_free(ev, n);
	assert_int_equal(hf_journal_events_after(j, NULL, last, 1, &ev, &n, &err), 0);
	assert_int_equal(n, 1);
	hf_events_free(ev, n);
	assert_int_equal(hf_journal_events_last(j, &last, &err), 0);
	assert_int_equal(hf_journal_events_after(j, NULL, last, 10, &ev, &n, &err), 0);
	assert_int_equal(n, 0);
	hf_events_free(ev, n);

	assert_int_equal(hf_journal_runs_in(j, "running", &runs, &n, &err), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(runs[i]->state, HF_RUN_RUNNING);
		hf_run_free(runs[i]);
	}
	free(runs);
	assert_int_equal(hf_journal_runs_in(j, "rolled_back", &runs, &n, &err), 0);
	assert_int_equal(n, 0);
	free(runs);
	hf_journal_close(j);
}

/* Guard samples come back as they went in, NAN as NAN, numbered in order,
 * one verdict number per call and 0 for the baseline; the filters select
 * by number, metric and wave. */
static void test_guard_samples(void **state)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	struct hf_guard_sample in[2], base, *out = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(hf_journal_open(dir, &j, &err), 0);
	base = (struct hf_guard_sample){ .ts_ms = 5, .verdict = 0, .wave = 0,
		.metric = "error_rate", .scope = "baseline", .value = 0.001, .baseline = 0.001,
		.threshold = 0.01, .rule = "max 0.01", .outcome = "baseline", .u = NAN, .p = NAN,
		.detail = "" };
	in[0] = (struct hf_guard_sample){ .ts_ms = 10, .verdict = 1, .wave = 1,
		.metric = "error_rate", .scope = "127.0.0.1:7001, 127.0.0.1:7002", .value = 0.5,
		.baseline = 0.001, .threshold = 0.01, .rule = "max 0.01", .outcome = "fail",
		.u = NAN, .p = NAN, .detail = "above max 0.01" };
	in[1] = (struct hf_guard_sample){ .ts_ms = 10, .verdict = 1, .wave = 1,
		.metric = "latency_p99_ms", .scope = "127.0.0.1:7001", .value = NAN,
		.baseline = 1.5, .threshold = 3.0, .rule = "max 2x baseline", .outcome = "n/a",
		.u = 42, .p = 0.003, .detail = NULL };
	assert_int_equal(hf_journal_samples_add(j, "run-s", &base, 1, &err), 0);
	assert_int_equal(hf_journal_samples_add(j, "run-s", in, 2, &err), 0);
	assert_int_equal(hf_journal_samples_add(j, "run-s", in, 2, &err), 0);
	assert_int_equal(hf_journal_samples_add(j, "run-other", in, 1, &err), 0);

	assert_int_equal(hf_journal_samples(j, "run-s", 0, NULL, -1, &out, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_int_equal(out[0].n, 1);
	assert_int_equal(out[0].verdict, 0);
	assert_string_equal(out[0].outcome, "baseline");
	assert_int_equal(out[1].n, 2);
	assert_int_equal(out[1].verdict, 1);
	assert_int_equal(out[1].wave, 1);
	assert_string_equal(out[1].metric, "error_rate");
	assert_string_equal(out[1].scope, "127.0.0.1:7001, 127.0.0.1:7002");
	assert_true(out[1].value == 0.5 && out[1].baseline == 0.001 && out[1].threshold == 0.01);
	assert_string_equal(out[1].rule, "max 0.01");
	assert_string_equal(out[1].outcome, "fail");
	assert_string_equal(out[1].detail, "above max 0.01");
	assert_true(isnan(out[1].u) && isnan(out[1].p));
	assert_true(isnan(out[2].value));
	assert_true(out[2].u == 42 && out[2].p == 0.003);
	assert_null(out[2].detail);
	assert_int_equal(out[2].verdict, 1);
	assert_int_equal(out[3].verdict, 2);
	assert_int_equal(out[4].n, 5);
	hf_guard_samples_free(out, n);

	/* The filters: after a number, one metric, one wave. */
	assert_int_equal(hf_journal_samples(j, "run-s", 3, NULL, -1, &out, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].n, 4);
	hf_guard_samples_free(out, n);
	assert_int_equal(hf_journal_samples(j, "run-s", 0, "latency_p99_ms", -1, &out, &n, &err), 0);
	assert_int_equal(n, 2);
	hf_guard_samples_free(out, n);
	assert_int_equal(hf_journal_samples(j, "run-s", 0, NULL, 0, &out, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].scope, "baseline");
	hf_guard_samples_free(out, n);
	assert_int_equal(hf_journal_samples(j, "nope", 0, NULL, -1, &out, &n, &err), 0);
	assert_int_equal(n, 0);
	hf_guard_samples_free(out, n);
	hf_journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_and_lock),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_drive_lock),
		cmocka_unit_test(test_event_chain),
		cmocka_unit_test(test_events_after),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_key_records_old_schema),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_unknown_step_state),
		cmocka_unit_test(test_guard_samples),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
