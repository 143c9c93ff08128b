/* The guard: samples every node each interval, works out what the
 * hotfix's nodes did, and asks the judge (core/judge.h) for a verdict:
 * pass, fail, or unobservable (a node did not answer: "cannot see" is
 * kept apart from "bad"). No I/O of its own beyond the engine's sampler;
 * the rollout decides what a verdict means for the run. */
#ifndef HF_CORE_GUARD_H
#define HF_CORE_GUARD_H

#include <stddef.h>

#include "core/judge.h"
#include "core/manifest.h"
#include "engine/redis/metrics.h"
#include "engine/redis/redis.h"

struct hf_guard_run;

/* A guard over every node of 'c' with the checks of 'spec'. When 'spec'
 * has no checks (no guard section), the default checks apply: error_rate
 * max 1%, latency_p99_ms at most 2x the baseline. Caller frees with
 * hf_guard_free(). */
struct hf_guard_run *hf_guard_new(const struct hf_guard *spec, struct hf_cluster *c,
				  long timeout_ms);
void hf_guard_free(struct hf_guard_run *g);

/* Take one sample of every node: the first primes the counters; during the
 * baseline window each later one adds to the baseline. */
void hf_guard_baseline_tick(struct hf_guard_run *g);
/* Describe the baseline ("error_rate 0.0000 over 1234 calls, ..."). */
void hf_guard_baseline_describe(struct hf_guard_run *g, char *out, size_t len);

/* The baseline of each check's metric, as hf_verdict_check entries
 * ('value' and 'baseline' the baseline's value, outcome PASS, 'rule' and
 * 'threshold' what the check will hold the changed nodes to) into 'out',
 * at most 'cap' of them. Returns how many. */
size_t hf_guard_baseline_checks(const struct hf_guard_run *g, struct hf_verdict_check *out,
				size_t cap);

/* Take a sample and judge the interval since the previous one over the
 * nodes flagged in 'changed' (indexed like the cluster's nodes): the
 * interval's numbers go to hf_judge_verdict(), which says what they mean. */
void hf_guard_evaluate(struct hf_guard_run *g, const int *changed, struct hf_verdict *v);

/* What the reader checks found since the last verdict: 'reads' keys
 * read, 'fail' how the first failed read failed (NULL: none did). The
 * next hf_guard_evaluate() judges it. */
void hf_guard_readers(struct hf_guard_run *g, size_t reads, const char *fail);

/* Probe every shard once now (a no-op unless a check needs the probes);
 * the worst result until the next verdict is what the verdict judges. The
 * rollout calls it on every tick of a wait. */
void hf_guard_probe(struct hf_guard_run *g);

/* Did node 'i' (the cluster's index) answer the last sample? 1 yes, 0 no,
 * -1 not sampled yet. */
int hf_guard_node_seen(const struct hf_guard_run *g, size_t i);

/* What Prometheus answered with an error at the last sample ("EXPR:
 * why", for the first such query), or NULL when every query it was asked
 * had an answer (an empty one too). */
const char *hf_guard_error(const struct hf_guard_run *g);

/* Can this build's guard judge check 'k'? */
int hf_guard_supports(const struct hf_check *k);

/* The checks 'spec' puts in force (the defaults when it has none), for
 * plan: "error_rate max 0.01; latency_p99_ms max 2x baseline". */
void hf_guard_describe(const struct hf_guard *spec, char *out, size_t len);

#endif
