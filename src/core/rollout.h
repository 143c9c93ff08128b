/* The rollout engine: drive a run wave by wave through capture, apply and
 * verify, bake between waves, promote at the end; revert newest first.
 * Every step state is in the journal before its action. */
#ifndef HF_CORE_ROLLOUT_H
#define HF_CORE_ROLLOUT_H

#include <signal.h>
#include <stddef.h>

#include "core/journal.h"
#include "core/manifest.h"
#include "core/plan.h"
#include "engine/redis/redis.h"

/* Called for every event, after it is journaled: 'kind' is one of run,
 * wave, step, bake, promote, rollback, error, request; 'msg' reads as a
 * sentence for people. */
typedef void (*hf_event_fn)(void *ud, const char *kind, const char *msg);

struct hf_guard_run;

struct hf_rollout {
	struct hf_journal *j;
	struct hf_run *run;
	struct hf_step *steps;
	size_t nsteps;
	struct hf_manifest *m;
	struct hf_cluster *c;
	struct hf_node **node_of;   /* per step: live node, or one of 'extra' */
	struct hf_node *extra;      /* nodes the topology no longer lists */
	size_t nextra;
	/* What changed in the topology since the run was planned (a reopened
	 * run: resume, rollback), "" when nothing; 'drift_blocks' when a node
	 * is gone from an inventory or new in it, which a run going forward
	 * cannot take in. */
	char *drift;
	int drift_blocks;
	hf_event_fn event;
	void *ud;
	volatile sig_atomic_t *interrupted;  /* set by a signal handler, or NULL */
	struct hf_guard_run *guard;          /* NULL with guard: none */
	/* Progress of long kind operations (data), for a live view; may be NULL. */
	void (*progress)(void *ud, long long scanned, long long changed, double done);
	char *guard_reason;                  /* why the guard failed the run */
	/* Maintenance windows (policy): asked before the baseline and before
	 * each wave. Returns 1 when the run may go on; 0 when it must wait,
	 * with 'why' saying until when. NULL: always. While it says no the
	 * run is paused and asked again every second (abort and Ctrl-C are
	 * obeyed meanwhile); it goes on by itself once it says yes. */
	int (*window)(void *window_ud, char *why, size_t len);
	void *window_ud;
	/* Governance (issue 13): the cluster's lease this driver holds, checked
	 * right before every round that changes nodes and renewed on the ticks
	 * of a bake (NULL: no lease, nothing fenced); and the audit record of
	 * the action that drives the run: run and rollback refuse to change
	 * anything while it is 0 (fail closed). */
	struct hf_lease *lease;
	long long audit_seq;
	long long *reader_from;              /* per step: the next key record a
					      * reader check reads (core/reader.h) */
};

/* Record a new run for 'plan' and become its driver (refused with
 * HF_EREFUSED when another unfinished run holds one of its nodes). Takes ownership of 'm' and 'c'
 * on success. Caller frees with hf_rollout_free(). */
int hf_rollout_create(struct hf_journal *j, struct hf_manifest *m, struct hf_cluster *c,
		      const struct hf_plan *plan, struct hf_rollout **out, struct hf_err *err);

/* Load run 'id' from the journal and become its driver (HF_EREFUSED when
 * another process drives it), re-read its manifest from the journal and the
 * cluster's topology through 'uri' (which brings the credentials), waiting
 * up to 'converge_ms' for the nodes to agree on it; if they do not, from
 * the seed's view, so that a rollback can start (each wave and restart
 * asks the nodes again). */
int hf_rollout_open(struct hf_journal *j, const char *id, const struct hf_uri *uri,
		    long timeout_ms, long converge_ms, struct hf_rollout **out, struct hf_err *err);

/* Drive the run forward to promotion, first settling in-flight steps by
 * asking the nodes. On a failure, reverts what was applied and returns the
 * failure (HF_EHUMAN when the revert could not finish). */
int hf_rollout_run(struct hf_rollout *r, struct hf_err *err);

enum hf_rollback_flags {
	/* Restore over conflicts too: values someone changed since the hotfix. */
	HF_ROLLBACK_FORCE = 1 << 0,
};

/* Revert every applied step, newest wave first, and verify the
 * before-state; 'flags' are enum hf_rollback_flags, 'why' goes into the
 * run's note. 0 when every node is restored (or nothing was left to do),
 * HF_EHUMAN when conflicts or unreachable nodes remain ('err' names them). */
int hf_rollout_rollback(struct hf_rollout *r, unsigned flags, const char *why, struct hf_err *err);

void hf_rollout_free(struct hf_rollout *r);

#endif
