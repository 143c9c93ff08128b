/* The audit trail: one record per action (who, what, why, on which
 * cluster and run, with which manifest, plan and approvals, and how it
 * ended), chained by SHA-256 and sealed by signed checkpoints. The records
 * live in the journal (core/journal.c writes them); this module says what
 * a record hashes to, signs checkpoints and verifies the whole. */
#ifndef HF_CORE_AUDIT_H
#define HF_CORE_AUDIT_H

#include <stddef.h>

#include "util/err.h"

struct hf_journal;
struct hf_key;

/* One record. Strings may be NULL (absent, which hashes apart from "").
 * 'seq', 'ts_ms', 'prev_hash' and 'hash' are set by the journal on append;
 * a reader gets every field, valid for the time of its callback. */
struct hf_audit_rec {
	long long seq;              /* from 1, no gaps */
	long long ts_ms;            /* wall clock, unix ms */
	const char *actor;          /* identity (policy), or NULL without one */
	const char *os_user;        /* hf_operator() of the process */
	const char *role;           /* the actor's role (policy), or NULL */
	const char *action;         /* "apply", "rollback", "resume", "abort", ... */
	const char *why;            /* the reason given, or what drove it */
	const char *cluster;        /* seed URI without password */
	const char *run_id;
	const char *manifest_sha256;
	const char *plan_digest;    /* SHA-256 of the plan as JSON */
	const char *approvals;      /* approvals given (policy), or NULL */
	const char *outcome;        /* "started", "requested", "promoted",
				     * "rolled_back", "failed", "refused", ... */
	char prev_hash[65];
	char hash[65];
};

/* A signed checkpoint: record 'seq' hashed 'hash' at 'ts_ms', signed by
 * the key whose public half ('public_pem') has the id 'key_id'. */
struct hf_audit_checkpoint {
	long long n;                /* its number, from 1 */
	long long seq;
	char hash[65];
	long long ts_ms;
	char key_id[17];
	const char *public_pem;
	char sig[129];
};

/* Records between two automatic checkpoints. */
#define HF_AUDIT_CHECKPOINT_EVERY 16

/* The hash of 'rec' chained to 'prev' (64 hex, "" for the first): SHA-256
 * over a canonical serialisation of every field, 'seq' and 'ts_ms'
 * included, each string length-prefixed and NULL told apart from "". */
void hf_audit_rec_hash(const char *prev, const struct hf_audit_rec *rec, char out[65]);
/* What a checkpoint signs: its seq, hash and time, as text. Caller frees. */
char *hf_audit_checkpoint_text(const struct hf_audit_checkpoint *cp);

/* Commit 'rec' (its os_user filled with hf_operator() when NULL) to the
 * journal's audit chain. Every HF_AUDIT_CHECKPOINT_EVERY records a signed
 * checkpoint follows (with the state directory's key). Fail closed: the
 * caller must not act when this fails. '*seq' (may be NULL) gets the
 * record's number. */
int hf_audit_record(struct hf_journal *j, const struct hf_audit_rec *rec, long long *seq,
		    struct hf_err *err);
/* Sign a checkpoint of the chain's head with 'key' (NULL: the state
 * directory's, <state>/audit.key, made on first use, mode 0600) and commit
 * it; 'out' (may be NULL) gets it ('public_pem' not kept). Nothing is done
 * when the head is already checkpointed, or when there is no record. */
int hf_audit_checkpoint(struct hf_journal *j, const struct hf_key *key,
			struct hf_audit_checkpoint *out, struct hf_err *err);

/* What hf_audit_verify() found. */
struct hf_audit_report {
	long long records;          /* records read */
	long long checkpoints;      /* checkpoints read */
	long long sealed;           /* the highest seq a valid checkpoint covers */
	long long head;             /* the last record's seq */
	char head_hash[65];
	long long bad_seq;          /* the first bad record (0: none) */
	long long bad_checkpoint;   /* the first bad checkpoint (0: none) */
	char why[512];              /* what is wrong, "" when intact */
};

/* Walk the chain from its first record, check every hash and that seq
 * counts up by one, check every checkpoint's signature (against the state
 * directory's key when it exists: a checkpoint signed by another key is
 * bad) and that its (seq, hash) is in the chain. Returns 0 with 'rep'
 * filled (rep->why empty when intact) or a journal error. */
int hf_audit_verify(struct hf_journal *j, struct hf_audit_report *rep, struct hf_err *err);

/* Compare a witness kept outside the state directory (the cluster's copy
 * of a checkpoint: 'seq' and 'hash') with the chain: the record 'seq'
 * must exist and hash 'hash'. Fills rep->why/bad_seq when not. */
int hf_audit_verify_witness(struct hf_journal *j, long long seq, const char *hash,
			    struct hf_audit_report *rep, struct hf_err *err);

/* The newest checkpoint into 'out' (0 when there is none; 1 when found). */
int hf_audit_last_checkpoint(struct hf_journal *j, struct hf_audit_checkpoint *out,
			     struct hf_err *err);

/* The id of the state directory's key into 'id': 1, or 0 when it has
 * none yet. */
int hf_audit_key_id(struct hf_journal *j, char id[17]);

#endif
