/* The guard's judgement: one interval's measurements, the baseline and the
 * checks in, a verdict with its explanation out. Pure: no I/O, no clock,
 * no state between calls. Sampling the nodes lives in core/guard.c; this
 * file also holds the one list of the metrics the guard knows. */
#ifndef HF_CORE_JUDGE_H
#define HF_CORE_JUDGE_H

#include <stddef.h>

#include "core/manifest.h"

enum hf_metric_flags {
	/* A share in [0, 1]: a manifest may give its thresholds as a
	 * percentage ("1%"). */
	HF_METRIC_FRACTION = 1 << 0,
	/* Measured on the calls of an interval: without a call there is no
	 * value, whatever 0/0 would print as. */
	HF_METRIC_TRAFFIC = 1 << 1,
	/* Measured by the synthetic probes: the guard probes only when a
	 * check needs one of these. */
	HF_METRIC_PROBE = 1 << 2,
	/* The value belongs to a shard or a replication link, not to one
	 * node: a changed node and an unchanged one can report the same
	 * value, so canary versus control would compare a thing with itself. */
	HF_METRIC_SHARED = 1 << 3,
	/* Read from outside (Prometheus): a changed node without a value
	 * makes the interval unobservable, unless a check fails. */
	HF_METRIC_REQUIRED = 1 << 4,
};

/* Every metric the guard computes, each written once:
 *
 *   X(ID, "name", flags, floor, "unit", "why an interval can have none")
 *
 * 'name' is the manifest's spelling. 'floor' keeps small values from
 * passing for large changes: max_ratio_to_baseline compares max(value,
 * floor) / max(baseline, floor), and canary versus control ignores a
 * difference of medians up to the floor. 'unit' follows a value in
 * explanations. The order is the one manifests list them in. */
#define HF_METRICS(X)                                                                     \
	X(ERROR_RATE, "error_rate", HF_METRIC_FRACTION | HF_METRIC_TRAFFIC, 0.001, "",    \
	  "no traffic")                                                                   \
	X(LATENCY_P50, "latency_p50_ms", HF_METRIC_TRAFFIC, 1.0, " ms", "no traffic")     \
	X(LATENCY_P90, "latency_p90_ms", HF_METRIC_TRAFFIC, 1.0, " ms", "no traffic")     \
	X(LATENCY_P99, "latency_p99_ms", HF_METRIC_TRAFFIC, 1.0, " ms", "no traffic")     \
	X(LATENCY_P999, "latency_p999_ms", HF_METRIC_TRAFFIC, 1.0, " ms", "no traffic")   \
	X(REPLICATION_LAG_MS, "replication_lag_ms", HF_METRIC_SHARED, 1000.0, " ms",      \
	  "no replica")                                                                   \
	X(REPLICATION_LAG_BYTES, "replication_lag_bytes", HF_METRIC_SHARED, 1048576.0,    \
	  " bytes", "no replica")                                                         \
	X(HEARTBEAT, "heartbeat_ms", 0, 10.0, " ms", "no answer")                         \
	X(PROBE_LATENCY, "probe_latency_ms", HF_METRIC_PROBE | HF_METRIC_SHARED, 1.0,     \
	  " ms", "no probe")                                                              \
	X(PROBE_LATENCY_P50, "probe_latency_p50_ms", HF_METRIC_PROBE | HF_METRIC_SHARED,  \
	  0.05, " ms", "no probe write landed")                                           \
	X(PROBE_CONVERGENCE, "probe_convergence_ms", HF_METRIC_PROBE | HF_METRIC_SHARED,  \
	  10.0, " ms", "no replica of a written probe")                                   \
	X(MEMORY_USED_RATIO, "memory_used_ratio", HF_METRIC_FRACTION, 0.01, "",           \
	  "no maxmemory")                                                                 \
	X(REJECTED_CONNECTIONS, "rejected_connections", 0, 1.0, "", "no answer")          \
	X(EVICTIONS, "evictions", 0, 1.0, "", "no answer")

enum hf_metric {
#define HF_METRIC_ENUM(id, name, flags, floor, unit, none) HF_METRIC_##id,
	HF_METRICS(HF_METRIC_ENUM)
#undef HF_METRIC_ENUM
	HF_METRIC_COUNT
};

/* After the metrics the guard computes come those a manifest defines by a
 * PromQL template ('promql' checks): slot k of them is metric
 * HF_METRIC_COUNT + k, of flags HF_METRIC_REQUIRED, floor 0, named by its
 * check. Arrays of values by metric have HF_METRIC_SLOTS entries. */
#define HF_PROMQL_MAX 8
#define HF_METRIC_SLOTS (HF_METRIC_COUNT + HF_PROMQL_MAX)

/* The metric called 'name' (enum hf_metric), or -1 when there is none. */
int hf_judge_metric_of(const char *name);

/* The metric check 'k' judges: its named metric, or its PromQL slot's;
 * -1 when it has neither. */
int hf_judge_check_metric(const struct hf_check *k);

/* The manifest's name of 'm'; "" when 'm' is not a metric. */
const char *hf_judge_metric_name(int m);

/* enum hf_metric_flags of 'm'; 0 when 'm' is not a metric. */
unsigned hf_judge_metric_flags(int m);

/* Does 'm' take a fraction (or a percentage) as its threshold? What the
 * manifest calls a ratio metric: error_rate and memory_used_ratio. */
int hf_judge_metric_is_fraction(int m);

/* The floor of 'm' (see HF_METRICS); 0 when 'm' is not a metric. */
double hf_judge_metric_floor(int m);

/* Format the value 'v' of metric 'm' for an explanation: "0.0123",
 * "2.500 ms", or "n/a (no traffic)" for NAN, with the metric's reason. */
void hf_judge_format(int m, double v, char *out, size_t len);

/* ------------------------------------------------------------------------
 * Verdicts
 * ------------------------------------------------------------------------ */

enum hf_verdict_kind { HF_VERDICT_PASS, HF_VERDICT_FAIL, HF_VERDICT_UNOBSERVABLE };

/* What one check of a verdict saw, as numbers for the journal's guard
 * samples (a report draws them). NAN where there is no such number. */
enum hf_check_outcome {
	HF_CHECK_PASS,
	HF_CHECK_FAIL,
	HF_CHECK_NA,          /* no value in the interval: no evidence */
};

#define HF_VERDICT_CHECKS 32   /* checks kept per verdict; more are judged
				* but not itemised */

struct hf_verdict_check {
	const char *metric;   /* the manifest's name, or "cluster_state"
			       * (static strings), or a promql check's
			       * expression (the check's: it lives as long) */
	enum hf_check_outcome outcome;
	double value;         /* the changed nodes' value */
	double baseline;      /* the baseline's value of the metric */
	double threshold;     /* the limit the value was held to: max, min, or
			       * ratio x the baseline (raised to the floor) */
	char rule[48];        /* "max 0.01", "min 5", "max 2x baseline" */
	double u, p;          /* canary versus control, when it was computed */
	char why[384];        /* why it failed, "" when it did not */
};

struct hf_verdict {
	enum hf_verdict_kind kind;
	char explain[1536];   /* metric, nodes, value, threshold, baseline */
	char nodes[512];      /* the changed nodes judged, "h:p, h:p" ("..."
			       * when cut short) */
	size_t nchecks;       /* each check's numbers (none when UNOBSERVABLE
			       * for a blind interval) */
	struct hf_verdict_check checks[HF_VERDICT_CHECKS];
};

/* Canary versus control looks at the last HF_JUDGE_WINDOW intervals, and
 * speaks only with HF_JUDGE_MW_MIN values in each group. */
#define HF_JUDGE_WINDOW 20
#define HF_JUDGE_MW_MIN 5
#define HF_JUDGE_MW_ALPHA 0.01
#define HF_JUDGE_MW_EFFECT 0.8   /* P(a canary value > a control one) at least */

/* The changed nodes had no call in an interval, while the other nodes had
 * some and the baseline gave the changed ones at least this many calls per
 * interval: their traffic went away, which a Poisson count this large
 * does by chance less than once in 20000 intervals (e^-10). */
#define HF_JUDGE_EXPECT_CALLS 10.0

/* One node as the interval's two samples found it. */
struct hf_judge_node {
	const char *name;            /* "host:port", for explanations */
	int changed;                 /* holds the hotfix in this interval */
	int answered;                /* answered both samples of the interval */
	const char *cluster_state;   /* "ok", "fail", or NULL / "" when unknown
				      * or not in cluster mode */
	int slots_fail;              /* slots it sees on failed nodes */
};

/* One node's values in one interval, for canary versus control. */
struct hf_judge_sample {
	long interval;               /* numbered like hf_judge_input.interval */
	int changed;                 /* it held the hotfix then */
	int primary;                 /* its role then: compared within a role */
	unsigned long long calls;    /* its calls then */
	double v[HF_METRIC_SLOTS];   /* NAN where it had no value */
};

struct hf_judge_input {
	const struct hf_judge_node *nodes;   /* every node of the cluster */
	size_t nnodes;
	const char *topology;        /* the roles that changed in the interval
				      * ("a:1 is now a primary"), NULL or "" */
	long timeout_ms;             /* how long a node had to answer */

	/* The changed nodes together over the interval, as the sampler adds
	 * them up: counters summed, histograms merged, gauges at their worst.
	 * Percentiles of a group cannot be had from per-node values, which
	 * is why the group comes whole. */
	double value[HF_METRIC_SLOTS];       /* NAN: no value */
	/* For a HF_METRIC_REQUIRED metric: the changed nodes that had no
	 * value, and why ("a:1 (no sample)"); NULL or "" when all had one. */
	const char *unseen[HF_METRIC_SLOTS];
	/* For a metric whose value is one node's (the worst node's, PromQL):
	 * that node ("a:1"), NULL otherwise. */
	const char *where[HF_METRIC_SLOTS];
	unsigned long long calls;            /* the changed nodes' calls */
	unsigned long long other_calls;      /* the unchanged nodes' calls */
	double expected_calls;               /* the changed nodes' calls per
					      * interval in the baseline, of
					      * those in the same role now */
	const char *probe_error;             /* why a probe write on their
					      * shards failed, NULL or "" */

	const double *baseline;              /* [HF_METRIC_SLOTS], NAN where the
					      * baseline had no value; NULL
					      * before one is taken */

	/* Per-node values of the recent intervals, this one included. */
	const struct hf_judge_sample *history;
	size_t nhistory;
	long interval;                       /* this interval's number */

	size_t reads;                        /* keys the reader checks read in
					      * the interval */
	const char *reader_fail;             /* how the first read that failed
					      * failed, NULL or "" */

	const struct hf_check *checks;       /* a check on an unknown metric is
					      * skipped */
	size_t nchecks;
};

/* The rule of check 'k' on metric 'm' and the limit it puts on the value
 * into 'vc' ('rule', 'threshold' and 'baseline', from 'baseline' indexed
 * by metric, NULL when none): its max, else its min, else its ratio times
 * the baseline raised to the metric's floor, as the check compares them. */
void hf_judge_limit(const struct hf_check *k, int m, const double *baseline,
		    struct hf_verdict_check *vc /* OUT: rule, threshold, baseline */);

/* Judge one interval of the changed nodes.
 *
 * UNOBSERVABLE when a changed node did not answer, or the topology changed
 * (nothing else is judged then: "cannot see" is not "bad"). Otherwise every
 * check is taken against the group's value: above 'max', below 'min', or
 * more than 'ratio' times the baseline (both raised to the metric's floor);
 * and a relative check also fails when the changed nodes are worse than
 * the unchanged ones of the same role in the same intervals (Mann-Whitney
 * U, one sided, with HF_JUDGE_MW_* and the floor). A changed node that
 * sees the cluster down or slots on failed nodes fails whatever the checks,
 * and so does a reader check's failed read.
 *
 * A metric without a value in the interval gives no evidence: its check
 * neither passes nor fails. In particular a traffic metric has no value
 * when the changed nodes had no call, even if 'value' says 0 (0/0 errors).
 * Then the verdict is FAIL if another check fails; UNOBSERVABLE if their
 * traffic went away (see HF_JUDGE_EXPECT_CALLS); and PASS otherwise, the
 * explanation showing each such metric as "n/a": nodes that had no
 * traffic in the baseline either (replicas nobody reads from, an idle
 * cluster) have nothing a traffic check could see.
 *
 * Fills 'v' in every case; never fails. */
void hf_judge_verdict(const struct hf_judge_input *in,
		      struct hf_verdict *v /* OUT: kind and explanation */);

#endif
