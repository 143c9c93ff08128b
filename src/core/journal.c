/* The SQLite journal. Every write is its own transaction (or one with the
 * writes that belong together) and is durable when the call returns:
 * WAL mode with synchronous=FULL. Other processes (pause, abort, status)
 * read and write the same file; a busy timeout covers their overlap. */
#include "core/journal.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/audit.h"
#include "util/buf.h"
#include "util/keyset.h"
#include "util/misc.h"

struct hf_journal {
	sqlite3 *db;
	char *dir;
	int drive_fd;        /* flock held on the run this process drives, or -1 */
};

#define RUN_NAME(id, name, active) [id] = name,
#define RUN_ACTIVE(id, name, active) [id] = active,
#define STEP_NAME(id, name) [id] = name,

static const char *const run_names[] = { HF_RUN_STATES(RUN_NAME) };
static const int run_active[] = { HF_RUN_STATES(RUN_ACTIVE) };
static const char *const step_names[] = { HF_STEP_STATES(STEP_NAME) };

#define NRUN_STATES (sizeof(run_names) / sizeof(run_names[0]))
#define NSTEP_STATES (sizeof(step_names) / sizeof(step_names[0]))

/* The index of 's' in 'names', or -1. */
static int find_name(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return (int)i;
	return -1;
}

const char *hf_run_state_name(enum hf_run_state s)
{
	return (size_t)s < NRUN_STATES ? run_names[s] : "unknown";
}

const char *hf_step_state_name(enum hf_step_state s)
{
	return (size_t)s < NSTEP_STATES ? step_names[s] : "unknown";
}

int hf_run_state_parse(const char *name, enum hf_run_state *out)
{
	int i = find_name(run_names, NRUN_STATES, name);

	if (i < 0)
		return -1;
	*out = (enum hf_run_state)i;
	return 0;
}

int hf_step_state_parse(const char *name, enum hf_step_state *out)
{
	int i = find_name(step_names, NSTEP_STATES, name);

	if (i < 0)
		return -1;
	*out = (enum hf_step_state)i;
	return 0;
}

int hf_run_state_active(enum hf_run_state s)
{
	/* Outside the enum: treated as unfinished, the side that keeps a
	 * cluster locked rather than letting a second run onto it. */
	return (size_t)s < NRUN_STATES ? run_active[s] : 1;
}

/* The SQL function run_active(state): whether a run in the state named
 * 'state' is unfinished, so that queries ask hf_run_state_active() rather
 * than list the finished states a second time. */
static void sql_run_active(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	enum hf_run_state s = HF_RUN_PLANNED;   /* an unknown name, as on load */

	(void)argc;
	hf_run_state_parse((const char *)sqlite3_value_text(argv[0]), &s);
	sqlite3_result_int(ctx, hf_run_state_active(s));
}

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS runs ("
	"  id TEXT PRIMARY KEY, hotfix TEXT NOT NULL, version INTEGER NOT NULL,"
	"  owner TEXT, cluster TEXT NOT NULL, manifest_path TEXT, manifest_sha256 TEXT NOT NULL,"
	"  manifest_text TEXT NOT NULL, state TEXT NOT NULL, created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL, pid INTEGER, request TEXT, note TEXT, operator TEXT,"
	"  snapshot_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS steps ("
	"  run TEXT NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL, wave INTEGER NOT NULL,"
	"  change INTEGER NOT NULL, node_id TEXT NOT NULL, addr TEXT NOT NULL, role TEXT,"
	"  shard INTEGER, state TEXT NOT NULL, before TEXT, after TEXT,"
	"  persisted INTEGER NOT NULL DEFAULT 0, error TEXT, updated_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (run, seq));"
	"CREATE TABLE IF NOT EXISTS run_nodes ("
	"  run TEXT NOT NULL REFERENCES runs(id), node_id TEXT NOT NULL, PRIMARY KEY (run, node_id));"
	"CREATE INDEX IF NOT EXISTS run_nodes_node ON run_nodes(node_id);"
	"CREATE TABLE IF NOT EXISTS events ("
	"  run TEXT NOT NULL, n INTEGER NOT NULL, ts_ms INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  message TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run, n));"
	"CREATE TABLE IF NOT EXISTS data_keys ("
	"  run TEXT NOT NULL, step INTEGER NOT NULL, n INTEGER NOT NULL, key BLOB NOT NULL,"
	"  dump BLOB, expire_at INTEGER NOT NULL, before_digest TEXT NOT NULL,"
	"  after_digest TEXT NOT NULL, state INTEGER NOT NULL, note TEXT,"
	"  PRIMARY KEY (run, step, n));"
	"CREATE TABLE IF NOT EXISTS data_scan ("
	"  run TEXT NOT NULL, step INTEGER NOT NULL, cursor TEXT NOT NULL, done INTEGER NOT NULL,"
	"  records INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run, step));"
	"CREATE TABLE IF NOT EXISTS guard_samples ("
	"  run TEXT NOT NULL, n INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
	"  verdict INTEGER NOT NULL, wave INTEGER NOT NULL, metric TEXT NOT NULL,"
	"  scope TEXT NOT NULL, value REAL, baseline REAL, threshold REAL, rule TEXT,"
	"  outcome TEXT NOT NULL, u REAL, p REAL, detail TEXT, PRIMARY KEY (run, n));"
	"CREATE TABLE IF NOT EXISTS audit ("
	"  seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, actor TEXT, os_user TEXT, role TEXT,"
	"  action TEXT, why TEXT, cluster TEXT, run_id TEXT, manifest_sha256 TEXT,"
	"  plan_digest TEXT, approvals TEXT, outcome TEXT, prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS audit_run ON audit(run_id);"
	"CREATE TABLE IF NOT EXISTS audit_checkpoints ("
	"  n INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
	"  key_id TEXT NOT NULL, public_key TEXT NOT NULL, sig TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS drills ("
	"  manifest_sha256 TEXT NOT NULL, ts_ms INTEGER NOT NULL, passed INTEGER NOT NULL,"
	"  json TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS drills_manifest ON drills(manifest_sha256, ts_ms);";

static int db_err(struct hf_journal *j, struct hf_err *err, const char *what)
{
	return hf_err_set(err, HF_ERR, "journal: %s: %s", what, sqlite3_errmsg(j->db));
}

static int exec(struct hf_journal *j, const char *sql, struct hf_err *err);

/* Journals written before key records were numbered kept them in key
 * order (PRIMARY KEY (run, step, key)), which made every commit rewrite
 * pages all over the index. Their records are carried over as they are. */
static int migrate_data_keys(struct hf_journal *j, struct hf_err *err)
{
	sqlite3_stmt *st;
	int old = 0;

	if (sqlite3_prepare_v2(j->db, "SELECT sql FROM sqlite_master WHERE type = 'table'"
			       " AND name = 'data_keys'", -1, &st, NULL) != SQLITE_OK)
		return db_err(j, err, "read the schema");
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		old = strstr((const char *)sqlite3_column_text(st, 0), "PRIMARY KEY (run, step, key)") != NULL;
	sqlite3_finalize(st);
	if (!old)
		return 0;
	return exec(j, "BEGIN IMMEDIATE;"
		    "ALTER TABLE data_keys RENAME TO data_keys_by_key;"
		    "CREATE TABLE data_keys ("
		    "  run TEXT NOT NULL, step INTEGER NOT NULL, n INTEGER NOT NULL, key BLOB NOT NULL,"
		    "  dump BLOB, expire_at INTEGER NOT NULL, before_digest TEXT NOT NULL,"
		    "  after_digest TEXT NOT NULL, state INTEGER NOT NULL, note TEXT,"
		    "  PRIMARY KEY (run, step, n));"
		    "INSERT INTO data_keys SELECT * FROM data_keys_by_key;"
		    "DROP TABLE data_keys_by_key;"
		    "COMMIT;", err);
}

/* Journals written before the snapshot was a journaled phase of the run
 * lack its column. */
static int migrate_runs(struct hf_journal *j, struct hf_err *err)
{
	sqlite3_stmt *st;
	int has = 0;

	if (sqlite3_prepare_v2(j->db, "SELECT 1 FROM pragma_table_info('runs')"
			       " WHERE name = 'snapshot_ms'", -1, &st, NULL) != SQLITE_OK)
		return db_err(j, err, "read the schema");
	has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return has ? 0 : exec(j, "ALTER TABLE runs ADD COLUMN snapshot_ms INTEGER NOT NULL DEFAULT 0",
			      err);
}

static int exec(struct hf_journal *j, const char *sql, struct hf_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		hf_err_set(err, HF_ERR, "journal: %s: %s", sql, msg ? msg : "error");
		sqlite3_free(msg);
		return HF_ERR;
	}
	return 0;
}

/* Open a write transaction. IMMEDIATE takes the write lock at once, so
 * nothing it reads (a free cluster, the last event) can change under it
 * before it writes. */
static int begin(struct hf_journal *j, struct hf_err *err)
{
	return exec(j, "BEGIN IMMEDIATE", err);
}

/* Close the transaction begin() opened: commit it when 'rc' is 0, else roll
 * it back and return 'rc' (the failure that 'err' already describes). */
static int end(struct hf_journal *j, int rc, struct hf_err *err)
{
	if (rc) {
		exec(j, "ROLLBACK", NULL);
		return rc;
	}
	return exec(j, "COMMIT", err);
}

int hf_journal_open(const char *state_dir, struct hf_journal **out, struct hf_err *err)
{
	struct hf_journal *j = hf_xcalloc(1, sizeof(*j));
	char *path = hf_xasprintf("%s/journal.db", state_dir);
	struct hf_err why;
	int rc = 0;

	j->dir = hf_xstrdup(state_dir);
	j->drive_fd = -1;

	if (hf_mkdir_p(state_dir, 0700, &why)) {
		rc = hf_err_set(err, HF_ERR, "state directory: %s", why.msg);
		goto out;
	}
	if (sqlite3_open(path, &j->db) != SQLITE_OK) {
		rc = hf_err_set(err, HF_ERR, "cannot open journal '%s': %s", path,
				j->db ? sqlite3_errmsg(j->db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(j->db, 10000);
	if (sqlite3_create_function(j->db, "run_active", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
				    NULL, sql_run_active, NULL, NULL) != SQLITE_OK) {
		rc = db_err(j, err, "register run_active");
		goto out;
	}
	rc = exec(j, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
	if (!rc)
		rc = exec(j, schema, err);
	if (!rc)
		rc = migrate_data_keys(j, err);
	if (!rc)
		rc = migrate_runs(j, err);
out:
	free(path);
	if (rc) {
		hf_journal_close(j);
		return rc;
	}
	*out = j;
	return 0;
}

void hf_journal_close(struct hf_journal *j)
{
	if (!j)
		return;
	if (j->drive_fd >= 0)
		close(j->drive_fd);   /* releases the flock */
	sqlite3_close(j->db);
	free(j->dir);
	free(j);
}

static sqlite3_stmt *prepare(struct hf_journal *j, const char *sql, struct hf_err *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(j, err, "prepare");
		return NULL;
	}
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? hf_xstrdup((const char *)s) : NULL;
}

/* Is any of 'nodes' in the cluster of an unfinished run? Fills 'holder'. */
static int find_holder(struct hf_journal *j, const char *const *nodes, size_t n,
		       char *holder, size_t holderlen, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j,
		"SELECT r.id, r.state FROM run_nodes n JOIN runs r ON r.id = n.run "
		"WHERE n.node_id = ? AND run_active(r.state) LIMIT 1",
		err);
	size_t i;
	int found = 0;

	if (!st)
		return -1;
	for (i = 0; i < n && !found; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, nodes[i]);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(holder, holderlen, "%s (%s)", sqlite3_column_text(st, 0),
				 sqlite3_column_text(st, 1));
			found = 1;
		}
	}
	sqlite3_finalize(st);
	return found;
}

/* The lock file of a run: "<state>/locks/<run>.lock". */
static int open_lock(struct hf_journal *j, const char *run_id)
{
	char *dir = hf_xasprintf("%s/locks", j->dir);
	char *path = hf_xasprintf("%s/%s.lock", dir, run_id);
	int fd;

	hf_mkdir_p(dir, 0700, NULL);   /* if it failed, so does open() */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(dir);
	free(path);
	return fd;
}

int hf_journal_drive(struct hf_journal *j, const char *run_id, struct hf_err *err)
{
	int fd, tries;

	if (strchr(run_id, '/') || !*run_id)
		return hf_err_set(err, HF_EINVAL, "bad run id '%s'", run_id);
	fd = open_lock(j, run_id);
	if (fd < 0)
		return hf_err_set(err, HF_ERR, "cannot open the lock of run %s: %s", run_id,
				  strerror(errno));
	/* hf_journal_driven() (asked by 'hotfix serve' on every poll) holds
	 * the lock for an instant: a driver starting then tries again for a
	 * moment before it calls the run driven by someone else. */
	for (tries = 0; flock(fd, LOCK_EX | LOCK_NB); tries++) {
		if (errno != EWOULDBLOCK || tries == 10) {
			close(fd);
			return hf_err_set(err, HF_EREFUSED, "run %s is driven by another hotfix "
					  "process; 'hotfix abort %s' asks it to roll back", run_id,
					  run_id);
		}
		hf_sleep_ms(20);
	}
	if (j->drive_fd >= 0)
		close(j->drive_fd);
	j->drive_fd = fd;
	return 0;
}

int hf_journal_driven(struct hf_journal *j, const char *run_id)
{
	int fd, held;

	if (j->drive_fd >= 0)
		return 0;   /* this process drives it, or may take it */
	fd = open_lock(j, run_id);
	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_EX | LOCK_NB) != 0;
	close(fd);   /* a lock taken here is released with the descriptor */
	return held;
}

int hf_journal_holder(struct hf_journal *j, const char *run_id, char *holder, size_t len,
		      struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j,
		"SELECT r.id, r.state FROM run_nodes a JOIN run_nodes b ON b.node_id = a.node_id "
		"JOIN runs r ON r.id = b.run WHERE a.run = ?1 AND b.run != ?1 "
		"AND run_active(r.state) LIMIT 1", err);
	int found = 0;

	if (!st)
		return -1;
	bind_text(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(holder, len, "%s (%s)", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
		found = 1;
	}
	sqlite3_finalize(st);
	return found;
}

/* The row of 'run' in 'runs', created and updated at 'now'. */
static int insert_run(struct hf_journal *j, const struct hf_run *run, long long now,
		      struct hf_err *err)
{
	sqlite3_stmt *st;
	int rc = 0;

	st = prepare(j, "INSERT INTO runs (id, hotfix, version, owner, cluster, manifest_path,"
		     " manifest_sha256, manifest_text, state, created_ms, updated_ms, pid, operator)"
		     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", err);
	if (!st)
		return HF_ERR;
	bind_text(st, 1, run->id);
	bind_text(st, 2, run->hotfix);
	sqlite3_bind_int64(st, 3, run->version);
	bind_text(st, 4, run->owner);
	bind_text(st, 5, run->cluster);
	bind_text(st, 6, run->manifest_path);
	bind_text(st, 7, run->manifest_sha256);
	bind_text(st, 8, run->manifest_text);
	bind_text(st, 9, hf_run_state_name(run->state));
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_int64(st, 11, now);
	sqlite3_bind_int(st, 12, run->pid);
	bind_text(st, 13, run->operator);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_err(j, err, "insert run");
	sqlite3_finalize(st);
	return rc;
}

/* The rows of run 'run_id's planned 'steps[0..n-1]' in 'steps', updated
 * at 'now'. */
static int insert_steps(struct hf_journal *j, const char *run_id, const struct hf_step *steps,
			size_t n, long long now, struct hf_err *err)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	st = prepare(j, "INSERT INTO steps (run, seq, wave, change, node_id, addr, role, shard,"
		     " state, before, after, persisted, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
		     err);
	if (!st)
		return HF_ERR;
	for (i = 0; i < n && !rc; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, run_id);
		sqlite3_bind_int64(st, 2, steps[i].seq);
		sqlite3_bind_int(st, 3, steps[i].wave);
		sqlite3_bind_int(st, 4, steps[i].change);
		bind_text(st, 5, steps[i].node_id);
		bind_text(st, 6, steps[i].addr);
		bind_text(st, 7, steps[i].role);
		sqlite3_bind_int(st, 8, steps[i].shard);
		bind_text(st, 9, hf_step_state_name(steps[i].state));
		bind_text(st, 10, steps[i].before);
		bind_text(st, 11, steps[i].after);
		sqlite3_bind_int(st, 12, steps[i].persisted);
		sqlite3_bind_int64(st, 13, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_err(j, err, "insert step");
	}
	sqlite3_finalize(st);
	return rc;
}

/* The nodes run 'run_id' holds until it is finished: every node of its
 * cluster, 'nodes[0..n-1]', by id. */
static int insert_run_nodes(struct hf_journal *j, const char *run_id, const char *const *nodes,
			    size_t n, struct hf_err *err)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	st = prepare(j, "INSERT OR IGNORE INTO run_nodes (run, node_id) VALUES (?, ?)", err);
	if (!st)
		return HF_ERR;
	for (i = 0; i < n && !rc; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, run_id);
		bind_text(st, 2, nodes[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_err(j, err, "insert run node");
	}
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_run_create(struct hf_journal *j, const struct hf_run *run,
			  const struct hf_step *steps, size_t n,
			  const char *const *nodes, size_t nnodes, struct hf_err *err)
{
	char holder[128];
	long long now = hf_wall_ms();
	int rc, held;

	/* The write lock comes first, so two applies cannot both see the
	 * cluster free. */
	rc = begin(j, err);
	if (rc)
		return rc;
	held = find_holder(j, nodes, nnodes, holder, sizeof(holder), err);
	if (held < 0) {
		rc = HF_ERR;
		goto out;
	}
	if (held) {
		rc = hf_err_set(err, HF_EREFUSED,
				"refused: run %s is unfinished on this cluster; finish it first "
				"(hotfix resume, rollback or abort)", holder);
		goto out;
	}
	rc = insert_run(j, run, now, err);
	if (!rc)
		rc = insert_steps(j, run->id, steps, n, now, err);
	if (!rc)
		rc = insert_run_nodes(j, run->id, nodes, nnodes, err);
out:
	return end(j, rc, err);
}

static struct hf_run *run_from_row(sqlite3_stmt *st)
{
	struct hf_run *r = hf_xcalloc(1, sizeof(*r));

	r->id = col_text(st, 0);
	r->hotfix = col_text(st, 1);
	r->version = sqlite3_column_int64(st, 2);
	r->owner = col_text(st, 3);
	r->cluster = col_text(st, 4);
	r->manifest_path = col_text(st, 5);
	r->manifest_sha256 = col_text(st, 6);
	r->manifest_text = col_text(st, 7);
	/* A name this build does not know reads as planned, as it always
	 * has: the run is then unfinished and keeps its nodes locked. */
	r->state = HF_RUN_PLANNED;
	hf_run_state_parse((const char *)sqlite3_column_text(st, 8), &r->state);
	r->created_ms = sqlite3_column_int64(st, 9);
	r->updated_ms = sqlite3_column_int64(st, 10);
	r->pid = sqlite3_column_int(st, 11);
	r->request = col_text(st, 12);
	r->note = col_text(st, 13);
	r->operator = col_text(st, 14);
	r->snapshot_ms = sqlite3_column_int64(st, 15);
	return r;
}

#define RUN_COLUMNS "id, hotfix, version, owner, cluster, manifest_path, manifest_sha256," \
	" manifest_text, state, created_ms, updated_ms, pid, request, note, operator, snapshot_ms"

int hf_journal_run_load(struct hf_journal *j, const char *id, struct hf_run **run,
			struct hf_step **steps, size_t *nsteps, struct hf_err *err)
{
	sqlite3_stmt *st;
	struct hf_run *r = NULL;
	struct hf_step *s = NULL;
	size_t n = 0;

	if (!strcmp(id, "last"))
		st = prepare(j, "SELECT " RUN_COLUMNS " FROM runs ORDER BY created_ms DESC, rowid DESC LIMIT 1", err);
	else
		st = prepare(j, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?", err);
	if (!st)
		return HF_ERR;
	if (strcmp(id, "last"))
		bind_text(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = run_from_row(st);
	sqlite3_finalize(st);
	if (!r)
		return hf_err_set(err, HF_EINVAL, "no run '%s' in the journal (see 'hotfix history')", id);

	st = prepare(j, "SELECT seq, wave, change, node_id, addr, role, shard, state, before, after,"
		     " persisted, error, updated_ms FROM steps WHERE run = ? ORDER BY seq", err);
	if (!st) {
		hf_run_free(r);
		return HF_ERR;
	}
	bind_text(st, 1, r->id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 7);
		enum hf_step_state known;
		struct hf_step *x;

		/* A step in a state this build does not know (a journal of a
		 * newer hotfix) could be one that changed its node: never read
		 * it as planned, which a rollback would skip. */
		if (hf_step_state_parse(state, &known)) {
			hf_err_set(err, HF_EINVAL, "run %s: step %lld is in state '%s', which this "
				   "hotfix does not know; use the hotfix that wrote the journal", r->id,
				   (long long)sqlite3_column_int64(st, 0), state ? state : "");
			sqlite3_finalize(st);
			hf_steps_free(s, n);
			hf_run_free(r);
			return HF_EINVAL;
		}
		s = hf_xrealloc(s, sizeof(*s) * (n + 1));
		x = &s[n++];
		x->seq = sqlite3_column_int64(st, 0);
		x->wave = sqlite3_column_int(st, 1);
		x->change = sqlite3_column_int(st, 2);
		x->node_id = col_text(st, 3);
		x->addr = col_text(st, 4);
		x->role = col_text(st, 5);
		x->shard = sqlite3_column_int(st, 6);
		x->state = known;
		x->before = col_text(st, 8);
		x->after = col_text(st, 9);
		x->persisted = sqlite3_column_int(st, 10);
		x->error = col_text(st, 11);
		x->updated_ms = sqlite3_column_int64(st, 12);
	}
	sqlite3_finalize(st);
	*run = r;
	if (steps) {
		*steps = s;
		*nsteps = n;
	} else {
		hf_steps_free(s, n);
	}
	return 0;
}

int hf_journal_run_update(struct hf_journal *j, const struct hf_run *run, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "UPDATE runs SET state = ?, note = ?, pid = ?, updated_ms = ?,"
				   " snapshot_ms = ? WHERE id = ?", err);
	int rc = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, hf_run_state_name(run->state));
	bind_text(st, 2, run->note);
	sqlite3_bind_int(st, 3, run->pid);
	sqlite3_bind_int64(st, 4, hf_wall_ms());
	sqlite3_bind_int64(st, 5, run->snapshot_ms);
	bind_text(st, 6, run->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_err(j, err, "update run");
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_steps_update(struct hf_journal *j, const char *run_id,
			    struct hf_step *const *steps, size_t n, struct hf_err *err)
{
	sqlite3_stmt *st;
	long long now = hf_wall_ms();
	size_t i;
	int rc;

	if (!n)
		return 0;
	rc = begin(j, err);
	if (rc)
		return rc;
	st = prepare(j, "UPDATE steps SET state = ?, before = ?, after = ?, persisted = ?,"
		     " error = ?, updated_ms = ? WHERE run = ? AND seq = ?", err);
	if (!st)
		rc = HF_ERR;
	for (i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, hf_step_state_name(steps[i]->state));
		bind_text(st, 2, steps[i]->before);
		bind_text(st, 3, steps[i]->after);
		sqlite3_bind_int(st, 4, steps[i]->persisted);
		bind_text(st, 5, steps[i]->error);
		sqlite3_bind_int64(st, 6, now);
		bind_text(st, 7, run_id);
		sqlite3_bind_int64(st, 8, steps[i]->seq);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_err(j, err, "update step");
		else
			steps[i]->updated_ms = now;
	}
	sqlite3_finalize(st);
	return end(j, rc, err);
}

static void event_hash(const char *prev, long long n, long long ts, const char *kind,
		       const char *msg, char out[65])
{
	char *s = hf_xasprintf("%s|%lld|%lld|%s|%s", prev, n, ts, kind, msg);

	hf_sha256_hex(s, strlen(s), out);
	free(s);
}

int hf_journal_event(struct hf_journal *j, const char *run_id, const char *kind,
		     const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	char prev[65] = "", hash[65];
	long long n = 0, ts = hf_wall_ms();
	char *msg;
	va_list ap;
	int rc = HF_ERR;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || begin(j, NULL))
		goto out;
	st = prepare(j, "SELECT n, hash FROM events WHERE run = ? ORDER BY n DESC LIMIT 1", NULL);
	if (!st)
		goto done;
	bind_text(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		snprintf(prev, sizeof(prev), "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	n++;
	event_hash(prev, n, ts, kind, msg, hash);
	st = prepare(j, "INSERT INTO events (run, n, ts_ms, kind, message, hash) VALUES (?,?,?,?,?,?)", NULL);
	if (!st)
		goto done;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_int64(st, 3, ts);
	bind_text(st, 4, kind);
	bind_text(st, 5, msg);
	bind_text(st, 6, hash);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
	sqlite3_finalize(st);
done:
	rc = end(j, rc, NULL);
out:
	free(msg);
	return rc;
}

int hf_journal_events(struct hf_journal *j, const char *run_id, struct hf_event **ev,
		      size_t *n, int *chain_ok, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT n, ts_ms, kind, message, hash, rowid FROM events"
				   " WHERE run = ? ORDER BY n", err);
	struct hf_event *e = NULL;
	char prev[65] = "", want[65];
	size_t k = 0;

	if (!st)
		return HF_ERR;
	*chain_ok = 1;
	bind_text(st, 1, run_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		e = hf_xrealloc(e, sizeof(*e) * (k + 1));
		e[k].ts_ms = sqlite3_column_int64(st, 1);
		e[k].kind = col_text(st, 2);
		e[k].message = col_text(st, 3);
		e[k].seq = sqlite3_column_int64(st, 5);
		e[k].run = NULL;
		event_hash(prev, sqlite3_column_int64(st, 0), e[k].ts_ms, e[k].kind, e[k].message, want);
		if (strcmp(want, (const char *)sqlite3_column_text(st, 4)) ||
		    sqlite3_column_int64(st, 0) != (long long)k + 1)
			*chain_ok = 0;
		snprintf(prev, sizeof(prev), "%s", sqlite3_column_text(st, 4));
		k++;
	}
	sqlite3_finalize(st);
	*ev = e;
	*n = k;
	return 0;
}

void hf_events_free(struct hf_event *ev, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(ev[i].kind);
		free(ev[i].message);
		free(ev[i].run);
	}
	free(ev);
}

int hf_journal_events_after(struct hf_journal *j, const char *run_id, long long after,
			    size_t max, struct hf_event **ev, size_t *n, struct hf_err *err)
{
	/* Events are only ever appended, so their rowid orders them as they
	 * were committed, across runs. */
	sqlite3_stmt *st = prepare(j, "SELECT rowid, run, ts_ms, kind, message FROM events"
				   " WHERE rowid > ?1 AND (?2 IS NULL OR run = ?2)"
				   " ORDER BY rowid LIMIT ?3", err);
	struct hf_event *e = NULL;
	size_t k = 0;
	int rc = 0, s;

	if (!st)
		return HF_ERR;
	sqlite3_bind_int64(st, 1, after);
	bind_text(st, 2, run_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		e = hf_xrealloc(e, sizeof(*e) * (k + 1));
		e[k].seq = sqlite3_column_int64(st, 0);
		e[k].run = col_text(st, 1);
		e[k].ts_ms = sqlite3_column_int64(st, 2);
		e[k].kind = col_text(st, 3);
		e[k].message = col_text(st, 4);
		k++;
	}
	if (s != SQLITE_DONE)
		rc = db_err(j, err, "read events");
	sqlite3_finalize(st);
	if (rc) {
		hf_events_free(e, k);
		return rc;
	}
	*ev = e;
	*n = k;
	return 0;
}

int hf_journal_events_page(struct hf_journal *j, const char *run_id, const char *kind,
			   long long before, size_t max, struct hf_event **ev, size_t *n,
			   int *more, struct hf_err *err)
{
	/* Newest first, one more than asked to learn whether older ones
	 * remain; the page is then turned back into the order of commit. */
	sqlite3_stmt *st = prepare(j, "SELECT rowid, ts_ms, kind, message FROM events"
				   " WHERE run = ?1 AND (?2 IS NULL OR kind = ?2)"
				   " AND (?3 = 0 OR rowid < ?3) ORDER BY n DESC LIMIT ?4", err);
	struct hf_event *e = NULL, t;
	size_t k = 0, i;
	int rc = 0, s;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	bind_text(st, 2, kind);
	sqlite3_bind_int64(st, 3, before);
	sqlite3_bind_int64(st, 4, max ? (sqlite3_int64)max + 1 : -1);
	*more = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (max && k == max) {
			*more = 1;
			continue;
		}
		e = hf_xrealloc(e, sizeof(*e) * (k + 1));
		e[k].seq = sqlite3_column_int64(st, 0);
		e[k].ts_ms = sqlite3_column_int64(st, 1);
		e[k].kind = col_text(st, 2);
		e[k].message = col_text(st, 3);
		e[k].run = NULL;
		k++;
	}
	if (s != SQLITE_DONE)
		rc = db_err(j, err, "read events");
	sqlite3_finalize(st);
	if (rc) {
		hf_events_free(e, k);
		return rc;
	}
	for (i = 0; i < k / 2; i++) {
		t = e[i];
		e[i] = e[k - 1 - i];
		e[k - 1 - i] = t;
	}
	*ev = e;
	*n = k;
	return 0;
}

int hf_journal_chain_walk(struct hf_journal *j, const char *run_id, struct hf_chain *ch,
			  struct hf_err *err)
{
	sqlite3_stmt *st;
	char want[65];
	int rc = 0, s;

	/* The event the walk stopped at must still be there as it was: a
	 * removed or rewritten tail breaks the chain too. */
	if (ch->n > 0) {
		st = prepare(j, "SELECT hash FROM events WHERE run = ? AND n = ?", err);
		if (!st)
			return HF_ERR;
		bind_text(st, 1, run_id);
		sqlite3_bind_int64(st, 2, ch->n);
		s = sqlite3_step(st);
		if (s == SQLITE_ROW)
			ch->ok &= sqlite3_column_text(st, 0) &&
				  !strcmp((const char *)sqlite3_column_text(st, 0), ch->hash);
		else if (s == SQLITE_DONE)
			ch->ok = 0;
		else
			rc = db_err(j, err, "read events");
		sqlite3_finalize(st);
		if (rc)
			return rc;
	} else {
		memset(ch, 0, sizeof(*ch));
		ch->ok = 1;
	}
	st = prepare(j, "SELECT n, ts_ms, kind, message, hash FROM events"
		     " WHERE run = ? AND n > ? ORDER BY n", err);
	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, ch->n);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 2);
		const char *msg = (const char *)sqlite3_column_text(st, 3);
		const char *hash = (const char *)sqlite3_column_text(st, 4);

		event_hash(ch->hash, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			   kind ? kind : "", msg ? msg : "", want);
		if (!hash || strcmp(want, hash) || sqlite3_column_int64(st, 0) != ch->n + 1)
			ch->ok = 0;
		snprintf(ch->hash, sizeof(ch->hash), "%s", hash ? hash : "");
		ch->n++;
	}
	if (s != SQLITE_DONE)
		rc = db_err(j, err, "read events");
	sqlite3_finalize(st);
	return rc;
}

/* A query that answers one integer into '*out'. */
static int one_int(struct hf_journal *j, const char *sql, const char *what, long long *out,
		   struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, sql, err);
	int rc = 0;

	if (!st)
		return HF_ERR;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		rc = db_err(j, err, what);
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_data_version(struct hf_journal *j, long long *version, struct hf_err *err)
{
	return one_int(j, "PRAGMA data_version", "read the data version", version, err);
}

int hf_journal_events_last(struct hf_journal *j, long long *seq, struct hf_err *err)
{
	return one_int(j, "SELECT COALESCE(MAX(rowid), 0) FROM events", "read events", seq, err);
}

int hf_journal_request_set(struct hf_journal *j, const char *run_id, const char *request,
			   struct hf_err *err)
{
	/* An abort, once asked, is never replaced by a later pause or continue. */
	sqlite3_stmt *st = prepare(j, "UPDATE runs SET request = ? WHERE id = ?"
				   " AND (request IS NULL OR request != 'abort' OR ?1 IS NULL)", err);
	int rc = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, request);
	bind_text(st, 2, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_err(j, err, "set request");
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_request_take(struct hf_journal *j, const char *run_id, char **request,
			    struct hf_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*request = NULL;
	rc = begin(j, err);
	if (rc)
		return rc;
	st = prepare(j, "SELECT request FROM runs WHERE id = ?", err);
	if (!st)
		return end(j, HF_ERR, err);
	bind_text(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*request = col_text(st, 0);
	sqlite3_finalize(st);
	if (*request) {
		st = prepare(j, "UPDATE runs SET request = NULL WHERE id = ?", err);
		if (st) {
			bind_text(st, 1, run_id);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = db_err(j, err, "clear request");
			sqlite3_finalize(st);
		} else {
			rc = HF_ERR;
		}
	}
	rc = end(j, rc, err);
	if (rc) {
		free(*request);
		*request = NULL;
	}
	return rc;
}

int hf_journal_runs(struct hf_journal *j, struct hf_run ***runs, size_t *n, struct hf_err *err)
{
	return hf_journal_runs_in(j, NULL, runs, n, err);
}

int hf_journal_runs_in(struct hf_journal *j, const char *state, struct hf_run ***runs,
		       size_t *n, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT " RUN_COLUMNS " FROM runs WHERE ?1 IS NULL OR state = ?1"
				   " ORDER BY created_ms DESC, rowid DESC", err);
	struct hf_run **r = NULL;
	size_t k = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, state);
	while (sqlite3_step(st) == SQLITE_ROW) {
		r = hf_xrealloc(r, sizeof(*r) * (k + 1));
		r[k++] = run_from_row(st);
	}
	sqlite3_finalize(st);
	*runs = r;
	*n = k;
	return 0;
}

void hf_run_free(struct hf_run *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->hotfix);
	free(r->owner);
	free(r->cluster);
	free(r->manifest_path);
	free(r->manifest_sha256);
	free(r->manifest_text);
	free(r->request);
	free(r->note);
	free(r->operator);
	free(r);
}

void hf_steps_free(struct hf_step *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(steps[i].node_id);
		free(steps[i].addr);
		free(steps[i].role);
		free(steps[i].before);
		free(steps[i].after);
		free(steps[i].error);
	}
	free(steps);
}

/* ---- data changes ---------------------------------------------------- */

int hf_journal_keys_into(struct hf_journal *j, const char *run_id, long long seq,
			 struct hf_keyset *set, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT key FROM data_keys WHERE run = ? AND step = ?", err);
	int rc;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		hf_keyset_add(set, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	if (rc != SQLITE_DONE)
		rc = db_err(j, err, "read the step's keys");
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_keys_add(struct hf_journal *j, const char *run_id, long long seq,
			const struct hf_key_record *recs, size_t n, const char *cursor, int done,
			struct hf_err *err)
{
	sqlite3_stmt *st = NULL, *cnt = NULL;
	long long base = 0;
	size_t i;
	int rc = begin(j, err);

	if (rc)
		return rc;
	/* The next number: the primary key's last entry, one index lookup. */
	cnt = prepare(j, "SELECT IFNULL(MAX(n) + 1, 0) FROM data_keys WHERE run = ? AND step = ?", err);
	if (!cnt)
		goto fail;
	bind_text(cnt, 1, run_id);
	sqlite3_bind_int64(cnt, 2, seq);
	if (sqlite3_step(cnt) == SQLITE_ROW)
		base = sqlite3_column_int64(cnt, 0);
	sqlite3_finalize(cnt);
	/* Records are numbered in the order they come, so a commit only
	 * appends; that a key has one record is the caller's business. */
	st = prepare(j, "INSERT INTO data_keys (run, step, n, key, dump, expire_at,"
		     " before_digest, after_digest, state, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		     err);
	if (!st)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, run_id);
		sqlite3_bind_int64(st, 2, seq);
		sqlite3_bind_int64(st, 3, base + (long long)i);
		sqlite3_bind_blob(st, 4, recs[i].key, (int)recs[i].keylen, SQLITE_STATIC);
		if (recs[i].dump)
			sqlite3_bind_blob(st, 5, recs[i].dump, (int)recs[i].dumplen, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 5);
		sqlite3_bind_int64(st, 6, recs[i].expire_at);
		bind_text(st, 7, recs[i].before);
		bind_text(st, 8, recs[i].after);
		sqlite3_bind_int(st, 9, (int)recs[i].state);
		bind_text(st, 10, recs[i].note);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = db_err(j, err, "add key record");
			goto fail;
		}
	}
	sqlite3_finalize(st);
	st = prepare(j, "INSERT OR REPLACE INTO data_scan (run, step, cursor, done, records)"
		     " VALUES (?, ?, ?, ?, ?)", err);
	if (!st)
		goto fail;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	bind_text(st, 3, cursor);
	sqlite3_bind_int(st, 4, done);
	sqlite3_bind_int64(st, 5, base + (long long)n);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_err(j, err, "save scan position");
		goto fail;
	}
	sqlite3_finalize(st);
	return end(j, 0, err);
fail:
	sqlite3_finalize(st);
	return end(j, rc ? rc : HF_ERR, err);
}

int hf_journal_scan_get(struct hf_journal *j, const char *run_id, long long seq, char **cursor,
			int *done, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT cursor, done FROM data_scan WHERE run = ? AND step = ?",
				   err);

	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*cursor = hf_xstrdup((const char *)sqlite3_column_text(st, 0));
		*done = sqlite3_column_int(st, 1);
	} else {
		*cursor = hf_xstrdup("0");
		*done = 0;
	}
	sqlite3_finalize(st);
	return 0;
}

static char *blob_dup(sqlite3_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	char *s;

	*len = 0;
	if (!p && sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	s = hf_xmalloc((size_t)n + 1);
	if (n)
		memcpy(s, p, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	return s;
}

int hf_journal_keys_load(struct hf_journal *j, const char *run_id, long long seq,
			 struct hf_key_record **recs, size_t *n, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT key, dump, expire_at, before_digest, after_digest,"
				   " state, note, n FROM data_keys WHERE run = ? AND step = ? ORDER BY n", err);
	struct hf_key_record *r = NULL;
	size_t cnt = 0, cap = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct hf_key_record *k;
		const char *t;

		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			r = hf_xrealloc(r, cap * sizeof(*r));
		}
		k = &r[cnt++];
		memset(k, 0, sizeof(*k));
		k->n = sqlite3_column_int64(st, 7);
		k->key = blob_dup(st, 0, &k->keylen);
		k->dump = blob_dup(st, 1, &k->dumplen);
		k->expire_at = sqlite3_column_int64(st, 2);
		snprintf(k->before, sizeof(k->before), "%s", (const char *)sqlite3_column_text(st, 3));
		snprintf(k->after, sizeof(k->after), "%s", (const char *)sqlite3_column_text(st, 4));
		k->state = (enum hf_key_state)sqlite3_column_int(st, 5);
		t = (const char *)sqlite3_column_text(st, 6);
		k->note = t ? hf_xstrdup(t) : NULL;
	}
	sqlite3_finalize(st);
	*recs = r;
	*n = cnt;
	return 0;
}

int hf_journal_keys_update(struct hf_journal *j, const char *run_id, long long seq,
			   const struct hf_key_record *recs, const size_t *idx, size_t n,
			   struct hf_err *err)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = begin(j, err);

	if (rc)
		return rc;
	st = prepare(j, "UPDATE data_keys SET state = ?, note = ? WHERE run = ? AND step = ? AND n = ?",
		     err);
	if (!st)
		rc = HF_ERR;
	for (i = 0; !rc && i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, (int)recs[idx[i]].state);
		bind_text(st, 2, recs[idx[i]].note);
		bind_text(st, 3, run_id);
		sqlite3_bind_int64(st, 4, seq);
		sqlite3_bind_int64(st, 5, recs[idx[i]].n);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_err(j, err, "update key record");
	}
	sqlite3_finalize(st);
	return end(j, rc, err);
}

int hf_journal_keys_stats(struct hf_journal *j, const char *run_id, long long *keys,
			  long long *bytes, long long by_state[HF_KEY_STATES], struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT state, COUNT(*), SUM(LENGTH(key) + IFNULL(LENGTH(dump), 0)"
				   " + LENGTH(before_digest) + LENGTH(after_digest) + 8) FROM data_keys WHERE run = ? GROUP BY state", err);

	*keys = *bytes = 0;
	memset(by_state, 0, HF_KEY_STATES * sizeof(*by_state));
	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 0);

		if (s >= 0 && s < HF_KEY_STATES)
			by_state[s] = sqlite3_column_int64(st, 1);
		*keys += sqlite3_column_int64(st, 1);
		*bytes += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return 0;
}

int hf_journal_keys_sample(struct hf_journal *j, const char *run_id, long long seq,
			   long long from, size_t max, struct hf_key_record **recs, size_t *n,
			   struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT n, key FROM data_keys WHERE run = ? AND step = ? "
				   "AND state = ? AND n >= ? ORDER BY n LIMIT ?", err);
	struct hf_key_record *out = hf_xcalloc(max ? max : 1, sizeof(*out));
	size_t got = 0;
	int rc;

	*recs = NULL;
	*n = 0;
	if (!st) {
		free(out);
		return HF_ERR;
	}
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int(st, 3, HF_KEY_APPLIED);
	sqlite3_bind_int64(st, 4, from);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)max);
	while (got < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		out[got].n = sqlite3_column_int64(st, 0);
		out[got].keylen = (size_t)sqlite3_column_bytes(st, 1);
		out[got].key = hf_xcalloc(out[got].keylen + 1, 1);   /* binary-safe */
		if (out[got].keylen)
			memcpy(out[got].key, sqlite3_column_blob(st, 1), out[got].keylen);
		got++;
	}
	if (got < max && rc != SQLITE_DONE) {
		rc = db_err(j, err, "read the step's keys");
		hf_key_records_free(out, got);
	} else {
		rc = 0;
		*recs = out;
		*n = got;
	}
	sqlite3_finalize(st);
	return rc;
}

void hf_key_records_free(struct hf_key_record *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(recs[i].key);
		free(recs[i].dump);
		free(recs[i].note);
	}
	free(recs);
}

/* ---- the guard's samples ------------------------------------------- */

/* SQLite keeps no NaN: "no number" is NULL. */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

static double col_real(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int hf_journal_samples_add(struct hf_journal *j, const char *run_id,
			   const struct hf_guard_sample *s, size_t n, struct hf_err *err)
{
	sqlite3_stmt *st = NULL;
	long long base = 1, verdict = 1;
	size_t i;
	int rc = begin(j, err);

	if (rc)
		return rc;
	st = prepare(j, "SELECT IFNULL(MAX(n) + 1, 1), IFNULL(MAX(verdict) + 1, 1)"
		     " FROM guard_samples WHERE run = ?", err);
	if (!st) {
		rc = HF_ERR;
		goto out;
	}
	bind_text(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		base = sqlite3_column_int64(st, 0);
		verdict = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	st = prepare(j, "INSERT INTO guard_samples (run, n, ts_ms, verdict, wave, metric, scope,"
		     " value, baseline, threshold, rule, outcome, u, p, detail)"
		     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", err);
	if (!st) {
		rc = HF_ERR;
		goto out;
	}
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, run_id);
		sqlite3_bind_int64(st, 2, base + (long long)i);
		sqlite3_bind_int64(st, 3, s[i].ts_ms);
		sqlite3_bind_int64(st, 4, s[i].verdict ? verdict : 0);
		sqlite3_bind_int(st, 5, s[i].wave);
		bind_text(st, 6, s[i].metric ? s[i].metric : "");
		bind_text(st, 7, s[i].scope ? s[i].scope : "");
		bind_real(st, 8, s[i].value);
		bind_real(st, 9, s[i].baseline);
		bind_real(st, 10, s[i].threshold);
		bind_text(st, 11, s[i].rule);
		bind_text(st, 12, s[i].outcome ? s[i].outcome : "");
		bind_real(st, 13, s[i].u);
		bind_real(st, 14, s[i].p);
		bind_text(st, 15, s[i].detail);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = db_err(j, err, "add guard sample");
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return end(j, rc, err);
}

int hf_journal_samples(struct hf_journal *j, const char *run_id, long long after,
		       const char *metric, int wave, struct hf_guard_sample **out, size_t *n,
		       struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT n, ts_ms, verdict, wave, metric, scope, value,"
				   " baseline, threshold, rule, outcome, u, p, detail"
				   " FROM guard_samples WHERE run = ? AND n > ?"
				   " AND (?3 IS NULL OR metric = ?3) AND (?4 < 0 OR wave = ?4)"
				   " ORDER BY n", err);
	struct hf_guard_sample *s = NULL;
	size_t k = 0;
	int rc;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	sqlite3_bind_int64(st, 2, after);
	bind_text(st, 3, metric);
	sqlite3_bind_int(st, 4, wave);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct hf_guard_sample *x;

		s = hf_xrealloc(s, sizeof(*s) * (k + 1));
		x = &s[k++];
		x->n = sqlite3_column_int64(st, 0);
		x->ts_ms = sqlite3_column_int64(st, 1);
		x->verdict = (long)sqlite3_column_int64(st, 2);
		x->wave = sqlite3_column_int(st, 3);
		x->metric = col_text(st, 4);
		x->scope = col_text(st, 5);
		x->value = col_real(st, 6);
		x->baseline = col_real(st, 7);
		x->threshold = col_real(st, 8);
		x->rule = col_text(st, 9);
		x->outcome = col_text(st, 10);
		x->u = col_real(st, 11);
		x->p = col_real(st, 12);
		x->detail = col_text(st, 13);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hf_guard_samples_free(s, k);
		return db_err(j, err, "read guard samples");
	}
	*out = s;
	*n = k;
	return 0;
}

void hf_guard_samples_free(struct hf_guard_sample *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(s[i].metric);
		free(s[i].scope);
		free(s[i].rule);
		free(s[i].outcome);
		free(s[i].detail);
	}
	free(s);
}

/* ---- the audit trail ---------------------------------------------- */

const char *hf_journal_dir(const struct hf_journal *j)
{
	return j->dir;
}

static const char audit_cols[] =
	"seq, ts_ms, actor, os_user, role, action, why, cluster, run_id, manifest_sha256,"
	" plan_digest, approvals, outcome, prev_hash, hash";

/* The newest record's seq and hash ("" and 0 when there is none). */
static int audit_head(struct hf_journal *j, long long *seq, char hash[65], struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", err);
	int s;

	if (!st)
		return HF_ERR;
	*seq = 0;
	hash[0] = '\0';
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		snprintf(hash, 65, "%s", sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : db_err(j, err, "read the audit trail");
}

int hf_journal_audit_head(struct hf_journal *j, long long *seq, char hash[65], struct hf_err *err)
{
	return audit_head(j, seq, hash, err);
}

int hf_journal_audit_append(struct hf_journal *j, struct hf_audit_rec *rec, struct hf_err *err)
{
	const char *v[] = { rec->actor, rec->os_user, rec->role, rec->action, rec->why,
			    rec->cluster, rec->run_id, rec->manifest_sha256, rec->plan_digest,
			    rec->approvals, rec->outcome };
	sqlite3_stmt *st = NULL;
	long long head;
	size_t i;
	int rc;

	if ((rc = begin(j, err)))
		return rc;
	rc = audit_head(j, &head, rec->prev_hash, err);
	if (rc)
		return end(j, rc, err);
	rec->seq = head + 1;
	if (!rec->ts_ms)
		rec->ts_ms = hf_wall_ms();
	hf_audit_rec_hash(rec->prev_hash, rec, rec->hash);
	st = prepare(j, "INSERT INTO audit (seq, ts_ms, actor, os_user, role, action, why, cluster,"
		     " run_id, manifest_sha256, plan_digest, approvals, outcome, prev_hash, hash)"
		     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", err);
	if (!st)
		return end(j, HF_ERR, err);
	sqlite3_bind_int64(st, 1, rec->seq);
	sqlite3_bind_int64(st, 2, rec->ts_ms);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		bind_text(st, (int)i + 3, v[i]);
	bind_text(st, 14, rec->prev_hash);
	bind_text(st, 15, rec->hash);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_err(j, err, "append an audit record");
	sqlite3_finalize(st);
	return end(j, rc, err);
}

/* The text of column 'i', NULL for SQL NULL. */
static const char *col_cstr(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int hf_journal_audit_each(struct hf_journal *j, long long after, hf_audit_rec_fn fn, void *ud,
			  struct hf_err *err)
{
	char *sql = hf_xasprintf("SELECT %s FROM audit WHERE seq > ? ORDER BY seq", audit_cols);
	sqlite3_stmt *st = prepare(j, sql, err);
	struct hf_audit_rec rec;
	int rc = 0, s;

	free(sql);
	if (!st)
		return HF_ERR;
	sqlite3_bind_int64(st, 1, after);
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&rec, 0, sizeof(rec));
		rec.seq = sqlite3_column_int64(st, 0);
		rec.ts_ms = sqlite3_column_int64(st, 1);
		rec.actor = col_cstr(st, 2);
		rec.os_user = col_cstr(st, 3);
		rec.role = col_cstr(st, 4);
		rec.action = col_cstr(st, 5);
		rec.why = col_cstr(st, 6);
		rec.cluster = col_cstr(st, 7);
		rec.run_id = col_cstr(st, 8);
		rec.manifest_sha256 = col_cstr(st, 9);
		rec.plan_digest = col_cstr(st, 10);
		rec.approvals = col_cstr(st, 11);
		rec.outcome = col_cstr(st, 12);
		snprintf(rec.prev_hash, sizeof(rec.prev_hash), "%s", col_cstr(st, 13) ? col_cstr(st, 13) : "");
		snprintf(rec.hash, sizeof(rec.hash), "%s", col_cstr(st, 14) ? col_cstr(st, 14) : "");
		rc = fn(ud, &rec);
	}
	if (!rc && s != SQLITE_DONE)
		rc = db_err(j, err, "read the audit trail");
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_audit_run_records(struct hf_journal *j, const char *run_id, long long *n,
				 struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT count(*) FROM audit WHERE run_id = ?", err);
	int rc = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = db_err(j, err, "read the audit trail");
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_audit_checkpoint_add(struct hf_journal *j, struct hf_audit_checkpoint *cp,
				    struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "INSERT INTO audit_checkpoints (seq, hash, ts_ms, key_id,"
				   " public_key, sig) VALUES (?,?,?,?,?,?)", err);
	int rc = 0;

	if (!st)
		return HF_ERR;
	sqlite3_bind_int64(st, 1, cp->seq);
	bind_text(st, 2, cp->hash);
	sqlite3_bind_int64(st, 3, cp->ts_ms);
	bind_text(st, 4, cp->key_id);
	bind_text(st, 5, cp->public_pem);
	bind_text(st, 6, cp->sig);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_err(j, err, "commit an audit checkpoint");
	else
		cp->n = sqlite3_last_insert_rowid(j->db);
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_audit_checkpoints(struct hf_journal *j, int newest_only, hf_audit_cp_fn fn,
				 void *ud, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, newest_only ?
		"SELECT n, seq, hash, ts_ms, key_id, public_key, sig FROM audit_checkpoints"
		" ORDER BY n DESC LIMIT 1" :
		"SELECT n, seq, hash, ts_ms, key_id, public_key, sig FROM audit_checkpoints"
		" ORDER BY n", err);
	struct hf_audit_checkpoint cp;
	int rc = 0, s;

	if (!st)
		return HF_ERR;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&cp, 0, sizeof(cp));
		cp.n = sqlite3_column_int64(st, 0);
		cp.seq = sqlite3_column_int64(st, 1);
		snprintf(cp.hash, sizeof(cp.hash), "%s", col_cstr(st, 2) ? col_cstr(st, 2) : "");
		cp.ts_ms = sqlite3_column_int64(st, 3);
		snprintf(cp.key_id, sizeof(cp.key_id), "%s", col_cstr(st, 4) ? col_cstr(st, 4) : "");
		cp.public_pem = col_cstr(st, 5);
		snprintf(cp.sig, sizeof(cp.sig), "%s", col_cstr(st, 6) ? col_cstr(st, 6) : "");
		rc = fn(ud, &cp);
	}
	if (!rc && s != SQLITE_DONE)
		rc = db_err(j, err, "read the audit checkpoints");
	sqlite3_finalize(st);
	return rc;
}

/* ---- drills ---------------------------------------------------------- */

int hf_journal_drill_add(struct hf_journal *j, const char *manifest_sha256, long long ts_ms,
			 int passed, const char *json, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "INSERT INTO drills (manifest_sha256, ts_ms, passed, json)"
				   " VALUES (?, ?, ?, ?)", err);
	int rc = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, manifest_sha256);
	sqlite3_bind_int64(st, 2, ts_ms);
	sqlite3_bind_int(st, 3, passed ? 1 : 0);
	bind_text(st, 4, json);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_err(j, err, "record the drill");
	sqlite3_finalize(st);
	return rc;
}

int hf_journal_drill_last(struct hf_journal *j, const char *manifest_sha256, long long *ts_ms,
			  int *passed, struct hf_err *err)
{
	return hf_journal_drill_newest(j, manifest_sha256, ts_ms, passed, NULL, err);
}

int hf_journal_drill_newest(struct hf_journal *j, const char *manifest_sha256, long long *ts_ms,
			    int *passed, char **json, struct hf_err *err)
{
	sqlite3_stmt *st = prepare(j, "SELECT ts_ms, passed, json FROM drills WHERE"
				   " manifest_sha256 = ? ORDER BY ts_ms DESC, rowid DESC LIMIT 1", err);
	int rc, found = 0;

	if (!st)
		return HF_ERR;
	bind_text(st, 1, manifest_sha256);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ts_ms = sqlite3_column_int64(st, 0);
		*passed = sqlite3_column_int(st, 1);
		if (json)
			*json = col_text(st, 2);
		found = 1;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? found : db_err(j, err, "read the drills");
	sqlite3_finalize(st);
	return rc;
}
