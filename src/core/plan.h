/* Planning: from a manifest and a live cluster, which nodes change, how,
 * and in which waves. Reads the cluster, never writes. */
#ifndef HF_CORE_PLAN_H
#define HF_CORE_PLAN_H

#include <stddef.h>

#include "core/kind.h"
#include "core/manifest.h"
#include "engine/redis/redis.h"

/* One (node, change) pair that differs: a future journal step. */
struct hf_plan_step {
	struct hf_node *node;
	int change;
	int wave;          /* 1-based */
	char **diff;       /* "timeout: \"0\" -> \"300\"" */
	size_t ndiff;
};

struct hf_plan_wave {
	size_t nodes;      /* nodes in this wave */
	long long bake_ms;
	int implicit;      /* added to reach every target */
	int skipped;       /* the spec asked for no new node here */
};

struct hf_plan {
	struct hf_plan_step *steps;   /* ordered: wave, then rollout order */
	size_t nsteps;
	size_t ntargets;              /* distinct nodes */
	struct hf_plan_wave *waves;
	size_t nwaves;
	int rollback_possible;
	char rollback_note[256];
	char guard_note[1024];
	/* Snapshot readiness of each node of the cluster (indexed like its
	 * nodes), read when the plan was built: the plan printer does no I/O. */
	struct hf_persistence *persistence;
};

/* Build the plan. HF_EINVAL (with "FILE:LINE:COL: ..." in 'err') when the
 * manifest asks for what the cluster cannot do; HF_ERR when a node does
 * not answer. Caller frees with hf_plan_free(). */
int hf_plan_build(const struct hf_manifest *m, struct hf_cluster *c,
		  struct hf_plan **out, struct hf_err *err);
void hf_plan_free(struct hf_plan *p);

/* Cut 'ntargets' ordered targets into waves: each spec is a cumulative goal
 * (a count or a percentage, rounded up); a spec that adds no target is
 * marked skipped, and targets beyond the last goal get an implicit wave.
 * Fills 'wave_of' (1-based wave of each target) and '*waves' (caller frees
 * with free()). */
void hf_plan_waves(const struct hf_wave_spec *spec, size_t nspec, size_t ntargets,
		   size_t *wave_of, struct hf_plan_wave **waves, size_t *nwaves);

/* The shards of 'c' in the order a rollout of 'm' over all its nodes
 * reaches them (replicas or primaries first, then spread over the shards,
 * as the node waves are cut): the canary shard first. Fills 'order' (room
 * for c->nshards) and returns how many shards it holds. */
size_t hf_plan_shard_order(const struct hf_manifest *m, const struct hf_cluster *c, int *order);

/* The checks that refuse a manifest before any cluster is asked: kinds'
 * static checks and guard checks this build cannot run yet. */
int hf_plan_precheck(const struct hf_manifest *m, struct hf_err *err);

/* ---- what an approval is signed over (src/core/plan_digest.c) ------- */

/* The plan as lines, one per changed node and change, in plan order:
 * "ADDR (ID) change N wave W: DIFF; DIFF" with the values read when the
 * plan was built. Caller frees each line, then the array. */
char **hf_plan_lines(const struct hf_plan *p, size_t *n);
/* SHA-256 (hex) over the canonical plan: those lines, then each wave's
 * node count and bake. Equal digests: the same nodes change from the
 * same values to the same values in the same waves. */
void hf_plan_digest(const struct hf_plan *p, char out[65]);
/* SHA-256 (hex) over the sorted nodes of 'c': id, address, role, primary,
 * slots. */
void hf_topology_hash(const struct hf_cluster *c, char out[65]);

#endif
