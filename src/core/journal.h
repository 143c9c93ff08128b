/* The journal: runs, their steps and every event, in SQLite (WAL,
 * synchronous=FULL). A step's state is committed before the action it
 * names, so a crashed hotfix can be resumed or rolled back exactly.
 * This module is the only one that speaks SQL. */
#ifndef HF_CORE_JOURNAL_H
#define HF_CORE_JOURNAL_H

#include <stddef.h>

#include "util/err.h"

/* Every run state and step state, written once: each list gives the enum
 * constant and the name it has in the journal and in --json output, and the
 * enum, hf_*_state_name() and hf_*_state_parse() are all made from it.
 * Journals on disk hold these names: never change one, only add.
 *
 * A run state's third column says whether a run in it is unfinished, so
 * still holds the nodes of its cluster (hf_run_state_active()). */
#define HF_RUN_STATES(X)                              \
	X(HF_RUN_PLANNED,      "planned",      1)     \
	X(HF_RUN_BASELINE,     "baseline",     1)     \
	X(HF_RUN_RUNNING,      "running",      1)     \
	X(HF_RUN_PAUSED,       "paused",       1)     \
	X(HF_RUN_PROMOTED,     "promoted",     0)     \
	X(HF_RUN_ROLLING_BACK, "rolling_back", 1)     \
	X(HF_RUN_ROLLED_BACK,  "rolled_back",  0)     \
	X(HF_RUN_FAILED,       "failed",       0)

#define HF_STEP_STATES(X)                             \
	X(HF_STEP_PLANNED,   "planned")               \
	X(HF_STEP_CAPTURING, "capturing")             \
	X(HF_STEP_CAPTURED,  "captured")              \
	X(HF_STEP_APPLYING,  "applying")              \
	X(HF_STEP_APPLIED,   "applied")               \
	X(HF_STEP_VERIFIED,  "verified")              \
	X(HF_STEP_REVERTING, "reverting")             \
	X(HF_STEP_REVERTED,  "reverted")              \
	X(HF_STEP_CONFLICT,  "conflict")

#define HF_RUN_STATE_ENUM(id, name, active) id,
#define HF_STEP_STATE_ENUM(id, name) id,

enum hf_run_state {
	HF_RUN_STATES(HF_RUN_STATE_ENUM)
};

enum hf_step_state {
	HF_STEP_STATES(HF_STEP_STATE_ENUM)
};

#undef HF_RUN_STATE_ENUM
#undef HF_STEP_STATE_ENUM

struct hf_run {
	char *id;
	char *hotfix;            /* metadata.name */
	long version;
	char *owner;
	char *cluster;           /* seed URI without password */
	char *manifest_path;
	char *manifest_sha256;
	char *manifest_text;
	enum hf_run_state state;
	long long created_ms, updated_ms;
	int pid;                 /* process driving the run, 0 when none */
	char *request;           /* pending "pause", "continue" or "abort", or NULL */
	char *note;              /* why the run is in its state, or NULL */
	char *operator;          /* $USER of who started it */
	long long snapshot_ms;   /* when 'snapshot: required' had every primary
				  * saved (wall clock), 0 when not (yet) */
};

struct hf_step {
	long long seq;           /* order of application, from 1 */
	int wave;                /* from 1 */
	int change;              /* index into the manifest's changes */
	char *node_id;
	char *addr;              /* host:port at plan time */
	char *role;              /* role at plan time */
	int shard;
	enum hf_step_state state;
	char *before;            /* JSON blob from capture, or NULL */
	char *after;             /* JSON of what verify saw after apply, or NULL */
	int persisted;           /* the change was written to the node's config file */
	char *error;             /* last error or conflict detail, or NULL */
	long long updated_ms;
};

/* One key a data change touched: its before-image, taken by the server in
 * the same script call that changed the key, and digests of both sides.
 * A digest is SHA-1 of the key's type, PEXPIRETIME and contents (DUMP,
 * or a canonical form for types DUMP gives in table order), or "absent". */
enum hf_key_state {
	HF_KEY_APPLIED,       /* changed by the hotfix */
	HF_KEY_REVERTED,      /* restored (or found back at its before-state) */
	HF_KEY_CONFLICT,      /* written by someone else since: left as it is */
	HF_KEY_FORCED,        /* a conflict restored anyway (--force) */
	HF_KEY_EXPIRED,       /* its before-image would have expired by now */
	HF_KEY_MERGED,        /* restored, a client's writes to the rest of the key
			       * kept (a narrow record's three-way merge) */
	HF_KEY_STATES
};

struct hf_key_record {
	long long n;          /* its number in the step, from hf_journal_keys_load() */
	char *key;            /* binary-safe, 'keylen' bytes */
	size_t keylen;
	char *dump;           /* DUMP payload of the before-image */
	size_t dumplen;
	long long expire_at;  /* PEXPIRETIME before: unix ms, or -1 */
	char before[41];      /* digests */
	char after[41];
	enum hf_key_state state;
	char *note;           /* a conflict's current digest, or NULL */
};

struct hf_event {
	long long ts_ms;
	char *kind;
	char *message;
	long long seq;           /* its place among the events of every run (rowid) */
	char *run;               /* its run; set by hf_journal_events_after() only */
};

struct hf_journal;

/* Open (creating if needed) the journal in 'state_dir'/journal.db. */
int hf_journal_open(const char *state_dir, struct hf_journal **out, struct hf_err *err);
void hf_journal_close(struct hf_journal *j);

/* Record a new run and its planned steps in one transaction, with the ids
 * of every node of its cluster ('nodes'). Refused with HF_EREFUSED, naming
 * the run, when an unfinished run's cluster has any of the same nodes: one
 * active run per cluster. 'run->id' must be set. */
int hf_journal_run_create(struct hf_journal *j, const struct hf_run *run,
			  const struct hf_step *steps, size_t n,
			  const char *const *nodes, size_t nnodes, struct hf_err *err);

/* Become the one process that drives run 'run_id' (an flock on
 * <state>/locks/<run>.lock, held until hf_journal_close() or the process
 * dies, kill -9 included). HF_EREFUSED when another process drives it. */
int hf_journal_drive(struct hf_journal *j, const char *run_id, struct hf_err *err);
/* Does another live process drive 'run_id'? */
int hf_journal_driven(struct hf_journal *j, const char *run_id);

/* Another unfinished run on any node of run 'run_id''s cluster? Returns
 * 1 and fills 'holder' ("ID (state)"), 0 when none, -1 on error. */
int hf_journal_holder(struct hf_journal *j, const char *run_id, char *holder, size_t len,
		      struct hf_err *err);

/* Load a run by id ("last" is the newest run) and its steps ordered by seq.
 * Caller frees with hf_run_free() and hf_steps_free(). */
int hf_journal_run_load(struct hf_journal *j, const char *id, struct hf_run **run,
			struct hf_step **steps, size_t *nsteps, struct hf_err *err);

/* Commit the run's state, note and pid. */
int hf_journal_run_update(struct hf_journal *j, const struct hf_run *run, struct hf_err *err);

/* Commit the state, blobs, flags and error of 'n' steps in one transaction. */
int hf_journal_steps_update(struct hf_journal *j, const char *run_id,
			    struct hf_step *const *steps, size_t n, struct hf_err *err);

/* Append an audit event. Each event carries a hash chained to the previous
 * one of its run, so an edited or deleted event shows. */
int hf_journal_event(struct hf_journal *j, const char *run_id, const char *kind,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int hf_journal_events(struct hf_journal *j, const char *run_id, struct hf_event **ev,
		      size_t *n, int *chain_ok, struct hf_err *err);
void hf_events_free(struct hf_event *ev, size_t n);
/* At most 'max' events of every run ('run_id' NULL) or of one run, whose
 * 'seq' is above 'after', in the order they were committed, each with its
 * run and seq: what a reader that follows the journal has not seen yet.
 * Caller frees with hf_events_free(). */
int hf_journal_events_after(struct hf_journal *j, const char *run_id, long long after,
			    size_t max, struct hf_event **ev, size_t *n, struct hf_err *err);
/* A page of run 'run_id''s events in the order they were committed: only
 * those of 'kind' unless it is NULL, only those whose 'seq' is below
 * 'before' unless it is 0, and of them the newest 'max' (0: all); '*more'
 * says whether older ones were left out. Caller frees with
 * hf_events_free(). */
int hf_journal_events_page(struct hf_journal *j, const char *run_id, const char *kind,
			   long long before, size_t max, struct hf_event **ev, size_t *n,
			   int *more, struct hf_err *err);
/* How far a walk of a run's hash chain has come: the events numbered up
 * to 'n' are checked, the last of them hashed 'hash'; 'ok' is 0 once an
 * event was found edited, removed or out of place. */
struct hf_chain {
	long long n;
	char hash[65];
	int ok;
};
/* Walk run 'run_id''s hash chain without keeping its events: from its
 * first event when 'ch->n' is 0, else on from where 'ch' stopped (after
 * checking that event is still as it was), up to its last event. */
int hf_journal_chain_walk(struct hf_journal *j, const char *run_id, struct hf_chain *ch,
			  struct hf_err *err);
/* SQLite's data version of this connection: it changes whenever another
 * connection (another process, the sqlite3 shell) has committed since it
 * was last read, so a reader can tell that what it derived is stale. */
int hf_journal_data_version(struct hf_journal *j, long long *version, struct hf_err *err);
/* The 'seq' of the newest event of every run, 0 when there is none. */
int hf_journal_events_last(struct hf_journal *j, long long *seq, struct hf_err *err);

/* Leave a request ("pause", "continue", "abort") for the driving process;
 * a pending abort is not replaced by anything but NULL (cleared). */
int hf_journal_request_set(struct hf_journal *j, const char *run_id, const char *request,
			   struct hf_err *err);
/* Take the pending request, clearing it; '*request' is NULL when none.
 * Caller frees '*request'. */
int hf_journal_request_take(struct hf_journal *j, const char *run_id, char **request,
			    struct hf_err *err);

/* All runs, newest first. Caller frees each with hf_run_free(), then the array. */
int hf_journal_runs(struct hf_journal *j, struct hf_run ***runs, size_t *n, struct hf_err *err);
/* The runs in state 'state' (NULL: every run), newest first; freed as with
 * hf_journal_runs(). */
int hf_journal_runs_in(struct hf_journal *j, const char *state, struct hf_run ***runs,
		       size_t *n, struct hf_err *err);

/* ---- data changes: key records and scan positions ---------------- */

/* Add the keys that have a record in step 'seq' of the run to 'set'. */
struct hf_keyset;
int hf_journal_keys_into(struct hf_journal *j, const char *run_id, long long seq,
			 struct hf_keyset *set, struct hf_err *err);
/* Add 'n' records to step 'seq' and move its scan to 'cursor' ('done' when
 * the scan is over), in one transaction. */
int hf_journal_keys_add(struct hf_journal *j, const char *run_id, long long seq,
			const struct hf_key_record *recs, size_t n, const char *cursor, int done,
			struct hf_err *err);
/* The scan position of step 'seq': "0" and 0 before it started. Caller
 * frees '*cursor'. */
int hf_journal_scan_get(struct hf_journal *j, const char *run_id, long long seq, char **cursor,
			int *done, struct hf_err *err);
/* The records of step 'seq' (every state), in the order they were added.
 * Caller frees with hf_key_records_free(). */
int hf_journal_keys_load(struct hf_journal *j, const char *run_id, long long seq,
			 struct hf_key_record **recs, size_t *n, struct hf_err *err);
/* Commit the state and note of the records 'recs[idx[0..n-1]]' of step
 * 'seq'. */
int hf_journal_keys_update(struct hf_journal *j, const char *run_id, long long seq,
			   const struct hf_key_record *recs, const size_t *idx, size_t n,
			   struct hf_err *err);
/* For status: the run's key records, their bytes in the journal, and how
 * many are in each state (indexed by enum hf_key_state). */
int hf_journal_keys_stats(struct hf_journal *j, const char *run_id, long long *keys,
			  long long *bytes, long long by_state[HF_KEY_STATES], struct hf_err *err);
/* Up to 'max' keys that step 'seq' changed and still holds (records in
 * state applied), numbered 'from' on, in order: 'n' and 'key' of each
 * record filled, fewer at the end of the step's records. For the guard's
 * readers, which go round them. Caller frees with hf_key_records_free(). */
int hf_journal_keys_sample(struct hf_journal *j, const char *run_id, long long seq,
			   long long from, size_t max, struct hf_key_record **recs, size_t *n,
			   struct hf_err *err);
void hf_key_records_free(struct hf_key_record *recs, size_t n);

/* ---- the guard's samples ------------------------------------------ */

/* What the guard measured for one check at one verdict (or the baseline):
 * the numbers behind the verdict event's text, for reports and the API.
 * Numbers are NAN where there is none. */
struct hf_guard_sample {
	long long n;          /* its number in the run, from 1 (set by the journal) */
	long long ts_ms;      /* wall clock */
	long verdict;         /* the verdict it belongs to, from 1; 0: the baseline */
	int wave;             /* the highest wave holding the hotfix then; 0: baseline */
	char *metric;         /* "error_rate", "cluster_state"; "" for a verdict
			       * that judged no check (unobservable) */
	char *scope;          /* "baseline", or the changed nodes "h:p, h:p" */
	double value;         /* the changed nodes' value (the baseline's for one) */
	double baseline;
	double threshold;     /* the limit the value was held to */
	char *rule;           /* "max 0.01", "max 2x baseline", or "" */
	char *outcome;        /* "pass", "fail", "n/a", "unobservable", "baseline" */
	double u, p;          /* canary versus control (Mann-Whitney), when computed */
	char *detail;         /* why it failed, or the verdict's explanation */
};

/* Append the 'n' samples of one verdict to run 'run_id' in one
 * transaction, numbered after the run's last one ('s[i].n' is ignored).
 * A 'verdict' of 0 marks the baseline; any other is replaced by the run's
 * next verdict number, the same for all 'n'. */
int hf_journal_samples_add(struct hf_journal *j, const char *run_id,
			   const struct hf_guard_sample *s, size_t n, struct hf_err *err);
/* The samples of run 'run_id' with a number above 'after' (0: all), on
 * 'metric' only unless it is NULL, in wave 'wave' only unless it is -1,
 * in order. Caller frees with hf_guard_samples_free(). */
int hf_journal_samples(struct hf_journal *j, const char *run_id, long long after,
		       const char *metric, int wave, struct hf_guard_sample **out, size_t *n,
		       struct hf_err *err);
void hf_guard_samples_free(struct hf_guard_sample *s, size_t n);

/* ---- the audit trail (core/audit.h says what a record is) ----------- */

struct hf_audit_rec;
struct hf_audit_checkpoint;

/* The state directory the journal is in. */
const char *hf_journal_dir(const struct hf_journal *j);
/* Append 'rec' to the audit chain in one transaction: its seq, time (when
 * 0), prev_hash and hash are set here, under the write lock, so two
 * processes never chain to the same head. */
int hf_journal_audit_append(struct hf_journal *j, struct hf_audit_rec *rec, struct hf_err *err);
/* The newest record's seq and hash (0 and "" when there is none). */
int hf_journal_audit_head(struct hf_journal *j, long long *seq, char hash[65], struct hf_err *err);
/* Call 'fn' on each record with a seq above 'after', in seq order; a
 * non-zero return of 'fn' stops the walk and is returned. */
typedef int (*hf_audit_rec_fn)(void *ud, const struct hf_audit_rec *rec);
int hf_journal_audit_each(struct hf_journal *j, long long after, hf_audit_rec_fn fn, void *ud,
			  struct hf_err *err);
/* How many records name run 'run_id'. */
int hf_journal_audit_run_records(struct hf_journal *j, const char *run_id, long long *n,
				 struct hf_err *err);
/* Commit a checkpoint (its 'n' is set). */
int hf_journal_audit_checkpoint_add(struct hf_journal *j, struct hf_audit_checkpoint *cp,
				    struct hf_err *err);
/* Call 'fn' on each checkpoint in order, or on the newest only; a
 * non-zero return of 'fn' stops and is returned. */
typedef int (*hf_audit_cp_fn)(void *ud, const struct hf_audit_checkpoint *cp);
int hf_journal_audit_checkpoints(struct hf_journal *j, int newest_only, hf_audit_cp_fn fn,
				 void *ud, struct hf_err *err);

/* Drills ('hotfix drill'): the outcome of one, as its JSON document,
 * against the SHA-256 of the manifest drilled. */
int hf_journal_drill_add(struct hf_journal *j, const char *manifest_sha256, long long ts_ms,
			 int passed, const char *json, struct hf_err *err);
/* The newest drill of the manifest: 1 with '*ts_ms' (unix ms) and
 * '*passed', 0 when it was never drilled, or HF_ERR. */
int hf_journal_drill_last(struct hf_journal *j, const char *manifest_sha256, long long *ts_ms,
			  int *passed, struct hf_err *err);
/* The same, with the drill's JSON document into '*json' (may be NULL;
 * caller frees) when there is one. */
int hf_journal_drill_newest(struct hf_journal *j, const char *manifest_sha256, long long *ts_ms,
			    int *passed, char **json, struct hf_err *err);

void hf_run_free(struct hf_run *run);
void hf_steps_free(struct hf_step *steps, size_t n);

/* The name of a state, as the journal and --json spell it ("rolling_back");
 * "unknown" for a value outside the enum. */
const char *hf_run_state_name(enum hf_run_state s);
const char *hf_step_state_name(enum hf_step_state s);
/* The state named 'name' into '*out'. Returns 0, or -1 (and '*out'
 * untouched) when 'name' is NULL or names no state. */
int hf_run_state_parse(const char *name, enum hf_run_state *out);
int hf_step_state_parse(const char *name, enum hf_step_state *out);
/* Is the run unfinished (holding its nodes)? */
int hf_run_state_active(enum hf_run_state s);

#endif
