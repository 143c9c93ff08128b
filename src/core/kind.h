/* The change-kind interface: the only thing the rollout engine knows about
 * a kind of change. A kind is one file in src/kinds/ plus one row in the
 * table of src/kinds/kinds.c; it owns its spec (what its manifest entry
 * says), parses it, and works on a batch of targets at once (one fan-out
 * per operation), reporting per target.
 *
 * Rules every kind obeys:
 *  - capture reads, never writes; its blob is enough to restore exactly;
 *  - apply and revert are idempotent;
 *  - verify answers from the live node, never from memory;
 *  - revert never overwrites a value that someone else changed since
 *    apply, unless forced: it reports a conflict instead. */
#ifndef HF_CORE_KIND_H
#define HF_CORE_KIND_H

#include <stddef.h>

#include "core/journal.h"
#include "core/manifest.h"
#include "core/yaml.h"
#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/err.h"

enum hf_side { HF_SIDE_BEFORE, HF_SIDE_AFTER };

/* What the rollout lends a kind for one operation. */
struct hf_kind_ctx {
	struct hf_cluster *c;
	const struct hf_manifest *m;
	struct hf_journal *journal;   /* NULL during plan */
	const char *run_id;           /* NULL during plan */
	long long fence;              /* the cluster lease's fencing token of the
				       * driver, for kinds that can check it on
				       * the node atomically (data); 0: none */
	/* Called now and then during a long apply with the totals of the
	 * whole batch so far and the share of the work done (0..1, or -1
	 * when not known); may be NULL. */
	void (*progress)(void *ud, long long looked, long long changed, double done);
	void *progress_ud;
};

struct hf_target {
	struct hf_node *node;   /* the live node */
	struct hf_step *step;   /* its journal step (NULL during plan) */
	int status;             /* OUT: 0, HF_EUNREACH, HF_ERR, HF_ECONFLICT, or
				 * HF_EREFUSED (the kind would not act: the nodes
				 * disagree about the topology) */
	char error[512];        /* OUT: why, when status != 0 */
	int match;              /* OUT of verify: the asked side holds */
	char warning[256];      /* OUT: done, but something needs a human */
	/* OUT of plan: one line per difference, "timeout: 0 -> 300" */
	char **diff;
	size_t ndiff;
	/* OUT of apply and revert, for kinds that count units (the kind's
	 * 'unit'): units looked at, and units changed (or restored). */
	long long looked, changed;
};

enum hf_revert_flags {
	/* Restore over conflicts too: values someone changed since the hotfix. */
	HF_REVERT_FORCE = 1 << 0,
};

/* What a node holds of a step, as a kind's 'classify' reads it. */
enum hf_held {
	HF_HELD_BEFORE,   /* the before-state: nothing to restore */
	HF_HELD_AFTER,    /* what the hotfix left: restore */
	HF_HELD_OTHER,    /* someone changed it since: a conflict */
};

enum hf_kind_flags {
	/* Rolls out over shares of its keys ("keys: N%" waves, every primary
	 * at once), not over nodes; cannot share a manifest with node kinds. */
	HF_KIND_KEYS = 1 << 0,
	/* Stops and starts nodes: a node that does not answer after a crash
	 * may be one it stopped, and its apply and revert start it. */
	HF_KIND_RESTARTS_NODES = 1 << 1,
	/* Apply picks up where it stopped (it keeps its own progress): a step
	 * found in flight after a crash is applied again, not settled. */
	HF_KIND_RESUMABLE_APPLY = 1 << 2,
	/* Left out of the kinds messages name (the example kind of
	 * docs/ADDING-A-KIND.md, which changes nothing). */
	HF_KIND_HIDDEN = 1 << 3,
	/* Ramps over shares of traffic ("percent: P" waves, a step per wave
	 * on one node); the node changes of its manifest go first, in full. */
	HF_KIND_RAMPS = 1 << 4,
	/* Its change lives on a shard's primary and replicates from there (a
	 * function library): a reopened run's step follows its shard's primary
	 * across a failover instead of staying with its node, now a replica
	 * that refuses writes. */
	HF_KIND_ON_PRIMARY = 1 << 5,
	/* Speaks to its nodes through commands of its own, not Redis': the
	 * only kind an exec engine's inventory takes. */
	HF_KIND_COMMANDS = 1 << 6,
};

struct hf_change_kind {
	const char *name;       /* as manifests write it: "config" */
	unsigned flags;         /* enum hf_kind_flags */
	const char *unit;       /* what 'looked'/'changed' count ("key"), or NULL */

	/* Parse the body of a change of this kind into ch->spec. 'body' is
	 * the entry (its name, value and the key's position); 'm' holds the
	 * changes before this one, for duplicates across changes (and
	 * hf_manifest_redact() for secrets). Errors go
	 * through hf_yaml_fail(), so they name FILE:LINE:COL. */
	int (*parse)(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		     struct hf_manifest *m);
	void (*free)(void *spec);
	/* Checks that need the whole manifest (its other changes, its
	 * rollout), after it is parsed; may be NULL. */
	int (*validate)(struct hf_yaml *y, const struct hf_change *ch, const struct hf_manifest *m);
	/* One line for people on what the change selects, where the manifest
	 * alone does not show it at a glance (a key file's size); may be NULL. */
	void (*summary)(const struct hf_change *ch, struct hf_buf *out);
	/* Static checks that need no cluster: refuse what can never work
	 * ("LINE:COL: why" in 'err'); may be NULL. */
	int (*check)(const struct hf_change *ch, struct hf_err *err);

	/* The nodes a step's change reaches while it holds, for the guard's
	 * canary versus control, when that is not the step's own node (a flag
	 * ramped by slot: the shards whose slots it turned on): mark them in
	 * 'reach' (indexed like x->c's nodes) and return 1; 0 leaves the
	 * step's node. May be NULL. */
	int (*reach)(const struct hf_change *ch, struct hf_kind_ctx *x, const struct hf_step *s,
		     int *reach);

	/* Read the live state and fill each target's 'diff'. A refusal that
	 * holds for the whole change (unknown parameter) returns HF_EINVAL. */
	int (*plan)(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n,
		    struct hf_err *err);
	/* Read the before-state into t->step->before. */
	void (*capture)(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
			size_t n);
	void (*apply)(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n);
	/* Set t->match; on AFTER, a match records what the node reports in
	 * t->step->after (the server's own spelling of the values). */
	void (*verify)(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		       size_t n, enum hf_side side);
	/* Restore the before-state where the node still holds the after-state;
	 * status HF_ECONFLICT where it holds neither (unless HF_REVERT_FORCE
	 * is among 'flags', enum hf_revert_flags). Kinds
	 * that restore a node in one round of commands set it to
	 * hf_kind_revert and give the three callbacks below. The core never
	 * calls it for a step that was never captured (nor verify(BEFORE)):
	 * such a step was never applied. */
	void (*revert)(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		       size_t n, unsigned flags);
	/* For hf_kind_revert: queue on 'call' the commands whose replies show
	 * the live state. */
	void (*read)(const struct hf_change *ch, struct hf_call *call);
	/* For hf_kind_revert: what the replies of 'read' ('live') show of
	 * step 's'; for HF_HELD_OTHER, 'why' says what changed. */
	enum hf_held (*classify)(const struct hf_change *ch, const struct hf_step *s,
				 const struct hf_call *live, char *why, size_t len);
	/* For hf_kind_revert: queue on 'call' the commands that bring back
	 * the before-state of what still holds the hotfix's state, for a
	 * node found 'held' (a conflict may leave parts to restore: the
	 * parameters no one else changed), and of everything with
	 * HF_REVERT_FORCE in 'flags'.
	 * Returns 0, or -1 with 'why' (a before-state that cannot be read). */
	int (*restore)(const struct hf_change *ch, const struct hf_step *s,
		       const struct hf_call *live, enum hf_held held, unsigned flags,
		       struct hf_call *call, char *why, size_t len);
	/* Does this applied step still need 'persist' to survive a restart
	 * (the node has a config file)? May be NULL: nothing to persist. */
	int (*needs_persist)(const struct hf_change *ch, const struct hf_step *s);
	/* Make the change survive a restart (CONFIG REWRITE). */
	void (*persist)(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
			size_t n);
};

/* The kind that manifests call 'name', or NULL. */
const struct hf_change_kind *hf_kind_find(const char *name);
/* The names of every kind, for messages: "config, function, ... or data". */
void hf_kind_names(struct hf_buf *out);

void hf_target_set(struct hf_target *t, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void hf_target_add_diff(struct hf_target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void hf_targets_release(struct hf_target *t, size_t n);

/* For kinds: one call per target, each target's outcome reset. Caller frees
 * with hf_kind_calls_free(). */
struct hf_call *hf_kind_calls_new(struct hf_target *t, size_t n);
/* Run the calls at once; a node that did not answer, or answered any
 * command with an error, gets its target's status and error set. */
void hf_kind_calls_run(struct hf_cluster *c, struct hf_target *t, size_t n, struct hf_call *calls);
void hf_kind_calls_free(struct hf_call *calls, size_t n);

/* Send "CMD SUB" (e.g. CONFIG REWRITE) to every target; failures set the
 * targets' status. */
void hf_kind_send_all(struct hf_cluster *c, struct hf_target *t, size_t n, const char *cmd,
		      const char *sub);

/* The revert of kinds with 'read', 'classify' and 'restore': read every
 * target's live state in one fan-out, classify it, restore in one fan-out
 * where the node holds what the hotfix left (or, forced, something else),
 * persist again where the change had been persisted (a failure there is a
 * warning: the runtime is restored), then verify(BEFORE). */
void hf_kind_revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n, unsigned flags);

typedef void (*hf_kind_verify_fn)(const struct hf_change *ch, struct hf_kind_ctx *x,
				  struct hf_target *t, size_t n, enum hf_side side);
/* After a revert: ask every target that has neither failed nor already
 * matched whether it holds the before-state; a target that does not gets
 * HF_ERR, one that does gets match = 1. */
void hf_kind_check_restored(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
			    size_t n, hf_kind_verify_fn verify);

#endif
