/* The guard's sampling: deltas between two samples of every node, metrics
 * over the nodes the hotfix changed, the probes, and the per-node history
 * that canary versus control needs. The judgement itself is core/judge.c,
 * which this file feeds plain numbers. */
#include "core/guard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prom.h"
#include "core/stats.h"
#include "util/buf.h"

int hf_guard_supports(const struct hf_check *k)
{
	return k->reader || hf_judge_check_metric(k) >= 0;
}

#define PROM_WHY 160        /* bytes kept of why a node has no PromQL value */

#define PROBE_KEEP 32       /* probe writes kept per node between verdicts */

/* Without a guard section these watch the rollout (hf_guard_describe()
 * says so in words). */
static const struct hf_check default_checks[] = {
	{ .metric = (char *)"error_rate", .has_max = 1, .max = 0.01 },
	{ .metric = (char *)"latency_p99_ms", .has_ratio = 1, .ratio = 2.0 },
};

/* Per-node history for canary versus control: the values of the last
 * HF_JUDGE_WINDOW intervals the node was seen in, in no order (the judge
 * goes by their interval numbers); entries 0 .. len - 1 are filled. */
struct series {
	struct hf_judge_sample s[HF_JUDGE_WINDOW];
	int len, next;
};

struct hf_guard_run {
	struct hf_cluster *c;
	long timeout_ms;
	struct hf_node **nodes;
	char **names;                       /* "host:port" per node */
	size_t n;
	struct hf_node_sample *prev, *cur, *first;
	int primed, baseline_taken;
	struct hf_check *checks;            /* metric names our own */
	size_t nchecks;
	double baseline[HF_METRIC_SLOTS];
	unsigned long long baseline_calls;
	unsigned long long *base_calls;     /* per node over the baseline window */
	int *base_primary;                  /* each node's role then */
	long base_intervals;                /* intervals in that window */
	int probing;                        /* a check needs the synthetic probes */
	unsigned long long probe_seq;
	struct hf_probe_result *probe;      /* worst since the last verdict, per node */
	struct hf_probe_result *tick;       /* scratch for one probe */
	int probed;                         /* probes since the last verdict */
	double (*probe_w)[PROBE_KEEP];      /* per node: write latencies since then, */
	int *probe_wn;                      /* a uniform sample of at most PROBE_KEEP */
	long *probe_wseen;                  /* writes landed since then */
	unsigned long long rnd;             /* for that sample */
	double probe_sum[3];                /* baseline: sums of per-interval values */
	int probe_n[3];                     /* and how many intervals had one */
	struct series *hist;                /* per node */
	long intervals;                     /* verdicts so far */
	long long interval_ms;
	char topology[256];                 /* a role change seen by the last sample */
	int native;                         /* the nodes are Redis: sampled with INFO */
	struct hf_prom *prom;               /* where 'promql' checks are read, or NULL */
	const struct hf_check *promql[HF_PROMQL_MAX];  /* the check of each slot */
	int nslots;
	double (*pv)[HF_PROMQL_MAX];        /* per node: each slot's value at the last
					     * sample, NAN for none */
	char (*pwhy)[HF_PROMQL_MAX][PROM_WHY];  /* and why there was none */
	char prom_error[512];               /* a query Prometheus failed at the last
					     * sample, "" when none */
	double prom_sum[HF_PROMQL_MAX];     /* baseline: sums of per-sample values */
	int prom_n[HF_PROMQL_MAX];
	size_t reads;                       /* keys reader checks read since the last
					     * verdict, and how the first failed read */
	char reader_fail[600];              /* failed ("" when none did) */
};

void hf_guard_readers(struct hf_guard_run *g, size_t reads, const char *fail)
{
	g->reads += reads;
	if (fail && fail[0] && !g->reader_fail[0])
		snprintf(g->reader_fail, sizeof(g->reader_fail), "%s", fail);
}

const char *hf_guard_error(const struct hf_guard_run *g)
{
	return g && g->prom_error[0] ? g->prom_error : NULL;
}

int hf_guard_node_seen(const struct hf_guard_run *g, size_t i)
{
	if (!g || i >= g->n || !g->primed)
		return -1;
	return g->cur[i].ok;
}

struct hf_guard_run *hf_guard_new(const struct hf_guard *spec, struct hf_cluster *c,
				  long timeout_ms)
{
	struct hf_guard_run *g = hf_xcalloc(1, sizeof(*g));
	const struct hf_check *checks = spec->nchecks ? spec->checks : default_checks;
	size_t i, n = spec->nchecks ? spec->nchecks : sizeof(default_checks) / sizeof(*default_checks);

	g->c = c;
	g->timeout_ms = timeout_ms;
	g->interval_ms = spec->present && spec->interval_ms ? spec->interval_ms : 1000;
	g->n = c->nnodes;
	g->nodes = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->nodes));
	g->names = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->names));
	for (i = 0; i < g->n; i++) {
		g->nodes[i] = &c->nodes[i];
		g->names[i] = hf_xasprintf("%s:%d", c->nodes[i].host, c->nodes[i].port);
	}
	g->prev = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->prev));
	g->cur = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->cur));
	g->first = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->first));
	g->base_calls = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->base_calls));
	g->base_primary = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->base_primary));
	g->probe = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe));
	g->tick = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->tick));
	g->probe_w = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe_w));
	g->probe_wn = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe_wn));
	g->probe_wseen = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe_wseen));
	g->rnd = 0x9e3779b97f4a7c15ULL;
	g->hist = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->hist));
	g->native = !c->inventory;
	/* A check on a metric this build cannot compute judges nothing (plan
	 * says so); it is not kept. */
	g->checks = hf_xcalloc(n, sizeof(*g->checks));
	for (i = 0; i < n; i++) {
		int m = hf_judge_check_metric(&checks[i]);
		struct hf_check *k = &g->checks[g->nchecks];

		if (m < 0 || (checks[i].promql && !spec->prometheus))
			continue;
		*k = checks[i];
		k->metric = hf_xstrdup(checks[i].metric);
		k->promql = checks[i].promql ? hf_xstrdup(checks[i].promql) : NULL;
		g->nchecks++;
		if (hf_judge_metric_flags(m) & HF_METRIC_PROBE)
			g->probing = 1;
	}
	for (i = 0; i < g->nchecks; i++)
		if (g->checks[i].promql) {
			g->promql[g->checks[i].slot] = &g->checks[i];
			if (g->checks[i].slot >= g->nslots)
				g->nslots = g->checks[i].slot + 1;
		}
	if (g->nslots) {
		g->prom = hf_prom_new(spec->prometheus, timeout_ms);
		g->pv = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->pv));
		g->pwhy = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->pwhy));
	}
	return g;
}

void hf_guard_free(struct hf_guard_run *g)
{
	size_t i;

	if (!g)
		return;
	if (g->probing)
		hf_probe_cleanup(g->c, g->timeout_ms);   /* leave no probe key behind */
	for (i = 0; i < g->nchecks; i++) {
		free(g->checks[i].metric);
		free(g->checks[i].promql);
	}
	hf_prom_free(g->prom);
	free(g->pv);
	free(g->pwhy);
	for (i = 0; i < g->n; i++)
		free(g->names[i]);
	free(g->names);
	free(g->probe);
	free(g->tick);
	free(g->probe_w);
	free(g->probe_wn);
	free(g->probe_wseen);
	free(g->hist);
	free(g->nodes);
	free(g->prev);
	free(g->cur);
	free(g->first);
	free(g->base_calls);
	free(g->base_primary);
	free(g->checks);
	free(g);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A failover swaps roles inside a shard: follow it, so that probes go to
 * the live primary and replicas are judged against it. Records what changed
 * in g->topology (empty when nothing did). */
static void follow_roles(struct hf_guard_run *g)
{
	size_t i, k;

	int pass;

	g->topology[0] = '\0';
	/* Promotions first, while the former primary still holds the slots. */
	for (pass = 1; pass >= 0; pass--)
	for (i = 0; i < g->n; i++) {
		struct hf_node *nd = g->nodes[i];
		int primary = g->cur[i].is_primary;

		if (!g->cur[i].ok || primary == (nd->role == HF_ROLE_PRIMARY) || primary != pass)
			continue;
		snprintf(g->topology + strlen(g->topology), sizeof(g->topology) - strlen(g->topology),
			 "%s%s:%d is now a %s", g->topology[0] ? ", " : "", nd->host, nd->port,
			 primary ? "primary" : "replica");
		if (primary) {
			/* Take over the slots of the shard's former primary. */
			for (k = 0; k < g->n; k++) {
				struct hf_node *o = g->nodes[k];

				if (o != nd && o->shard == nd->shard && o->role == HF_ROLE_PRIMARY &&
				    o->slot_lo >= 0) {
					nd->slot_lo = o->slot_lo;
					nd->slot_hi = o->slot_hi;
				}
			}
			nd->role = HF_ROLE_PRIMARY;
			free(nd->primary_id);
			nd->primary_id = NULL;
			continue;
		}
		nd->role = HF_ROLE_REPLICA;
		nd->slot_lo = nd->slot_hi = -1;
		for (k = 0; k < g->n; k++) {
			struct hf_node *o = g->nodes[k];

			if (o->port == g->cur[i].master_port && !strcmp(o->host, g->cur[i].master_host)) {
				free(nd->primary_id);
				nd->primary_id = hf_xstrdup(o->id);
			}
		}
	}
}

/* Does check 'k' look for values too low (it has only a 'min')? Then a
 * node's worst value is its lowest, else its highest. */
static int lowest_is_worst(const struct hf_check *k)
{
	return k->has_min && !k->has_max && !k->has_ratio;
}

/* The worse of 'have' (NAN: none yet) and 'v' for check 'k'. */
static double worst(const struct hf_check *k, double have, double v)
{
	if (isnan(have))
		return v;
	return lowest_is_worst(k) ? (v < have ? v : have) : (v > have ? v : have);
}

/* Every 'promql' check for every node, all at once: each node's value of
 * each into g->pv (the worst of what the expression returned), NAN with
 * the reason in g->pwhy when Prometheus had nothing or failed. */
static void prom_sample(struct hf_guard_run *g)
{
	size_t nq = g->n * (size_t)g->nslots, i, q;
	char **exprs = hf_xcalloc(nq ? nq : 1, sizeof(*exprs));
	struct hf_prom_result *res = hf_xcalloc(nq ? nq : 1, sizeof(*res));
	int k;

	for (i = 0; i < g->n; i++)
		for (k = 0; k < g->nslots; k++)
			exprs[i * (size_t)g->nslots + (size_t)k] = g->promql[k] ?
				hf_cluster_render(g->c, g->nodes[i], g->promql[k]->promql, NULL,
						  NULL, HF_TPL_PROMQL) : hf_xstrdup("vector(0)");
	hf_prom_query(g->prom, exprs, nq, res);
	g->prom_error[0] = '\0';
	for (q = 0; q < nq && !g->prom_error[0]; q++)
		if (!res[q].ok)
			snprintf(g->prom_error, sizeof(g->prom_error), "%.200s: %s", exprs[q],
				 res[q].why);
	for (i = 0; i < g->n; i++) {
		for (k = 0; k < g->nslots; k++) {
			struct hf_prom_result *r = &res[i * (size_t)g->nslots + (size_t)k];
			double v = NAN;

			for (q = 0; r->ok && q < r->n && g->promql[k]; q++)
				v = worst(g->promql[k], v, r->v[q]);
			g->pv[i][k] = v;
			snprintf(g->pwhy[i][k], PROM_WHY, "%.*s", PROM_WHY - 1, !r->ok ? r->why :
				 "Prometheus has no sample");
			hf_prom_result_release(r);
		}
	}
	for (q = 0; q < nq; q++)
		free(exprs[q]);
	free(exprs);
	free(res);
}

/* The name of the node in 'in' whose value of PromQL slot 'k' is the
 * group's (its worst), or NULL when none has a value. */
static const char *worst_node(const struct hf_guard_run *g, const int *in, int k)
{
	const char *name = NULL;
	double w = NAN;
	size_t i;

	for (i = 0; g->promql[k] && i < g->n; i++) {
		if (!in[i] || isnan(g->pv[i][k]) || (!isnan(w) && worst(g->promql[k], w,
									 g->pv[i][k]) == w))
			continue;
		w = g->pv[i][k];
		name = g->names[i];
	}
	return name;
}

/* Nodes that are not Redis have no INFO to read: a node answers when it
 * accepts a connection on its port; its role is the inventory's. */
static void sample_reach(struct hf_guard_run *g)
{
	size_t i;

	hf_cluster_probe(g->c);
	for (i = 0; i < g->n; i++) {
		memset(&g->cur[i], 0, sizeof(g->cur[i]));
		g->cur[i].ok = g->nodes[i]->reachable;
		g->cur[i].is_primary = g->nodes[i]->role == HF_ROLE_PRIMARY;
	}
}

static void sample(struct hf_guard_run *g)
{
	struct hf_node_sample *t = g->prev;

	g->prev = g->cur;
	g->cur = t;
	if (g->native)
		hf_metrics_sample(g->c, g->nodes, g->n, g->cur, g->timeout_ms);
	else
		sample_reach(g);
	if (g->prom)
		prom_sample(g);
	follow_roles(g);
	if (g->probing && !g->probed)
		hf_guard_probe(g);   /* at least one probe per interval */
}

/* The worse of two probe results, -1 (failed, or not converged in time)
 * being the worst. */
static double worse(double have, double got, int first)
{
	if (first || have == -2)
		return got;
	if (got == -2)
		return have;
	if (have < 0 || got < 0)
		return -1;
	return got > have ? got : have;
}

/* One probe of every shard, kept if it is the worst since the last
 * verdict: a latency spike between two samples is not averaged away. */
void hf_guard_probe(struct hf_guard_run *g)
{
	size_t i;

	if (!g->probing)
		return;
	hf_probe_run(g->c, ++g->probe_seq, g->tick,
		     g->timeout_ms < g->interval_ms / 2 ? g->timeout_ms : g->interval_ms / 2,
		     g->interval_ms * 10);
	for (i = 0; i < g->n; i++) {
		if (!g->probed) {
			g->probe_wn[i] = 0;
			g->probe_wseen[i] = 0;
		}
		if (g->tick[i].write_ms >= 0) {
			/* Reservoir sampling: a long interval keeps a sample
			 * of all its writes, not its first ones. */
			long seen = ++g->probe_wseen[i];

			if (g->probe_wn[i] < PROBE_KEEP) {
				g->probe_w[i][g->probe_wn[i]++] = g->tick[i].write_ms;
			} else {
				unsigned long long j;

				g->rnd ^= g->rnd << 13;
				g->rnd ^= g->rnd >> 7;
				g->rnd ^= g->rnd << 17;
				j = g->rnd % (unsigned long long)seen;
				if (j < PROBE_KEEP)
					g->probe_w[i][j] = g->tick[i].write_ms;
			}
		}
		g->probe[i].write_ms = worse(g->probe[i].write_ms, g->tick[i].write_ms, !g->probed);
		if (g->tick[i].write_ms == -1)
			memcpy(g->probe[i].error, g->tick[i].error, sizeof(g->probe[i].error));
		g->probe[i].converge_ms = worse(g->probe[i].converge_ms, g->tick[i].converge_ms,
						!g->probed);
	}
	g->probed++;
}

/* Why the worst probe write since the last verdict failed, or "". */
static const char *probe_error(struct hf_guard_run *g, const int *in)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (in[i] && g->probe[i].write_ms == -1 && g->probe[i].error[0])
			return g->probe[i].error;
	return "";
}

/* Did every probe of the shard's primary since the last verdict land? A
 * replica can only converge to a value that was written. */
static int shard_written(struct hf_guard_run *g, int shard)
{
	size_t k;

	for (k = 0; k < g->n; k++)
		if (g->nodes[k]->shard == shard && g->nodes[k]->role == HF_ROLE_PRIMARY)
			return g->probe[k].write_ms >= 0;
	return 0;
}

/* The median of the probe writes that landed since the last verdict on
 * the shards of the nodes in 'in' (each shard's primary counted once), or
 * NAN when none did: failures are the worst value's business. */
static double probe_median(struct hf_guard_run *g, const int *in)
{
	double *w = hf_xcalloc(g->n * PROBE_KEEP + 1, sizeof(*w)), m = NAN;
	size_t i, k, n = 0;

	for (k = 0; k < g->n; k++) {
		if (g->nodes[k]->role != HF_ROLE_PRIMARY)
			continue;
		for (i = 0; i < g->n; i++)
			if (in[i] && g->nodes[i]->shard == g->nodes[k]->shard)
				break;
		if (i == g->n)
			continue;
		memcpy(w + n, g->probe_w[k], sizeof(double) * (size_t)g->probe_wn[k]);
		n += (size_t)g->probe_wn[k];
	}
	if (n) {
		qsort(w, n, sizeof(*w), cmp_double);
		m = n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2;
	}
	free(w);
	return m;
}

/* The probes' worst and median write latency and convergence over the
 * shards of the nodes in 'in'. A failed write, or a replica that did not
 * converge, counts as the deadline; a shard not probed since the last
 * verdict (or whose probe key moved away) tells nothing, and a metric no
 * shard told anything about is NAN rather than a reassuring 0. */
static void probe_metrics(struct hf_guard_run *g, const int *in, double *v)
{
	double *lat = &v[HF_METRIC_PROBE_LATENCY], *conv = &v[HF_METRIC_PROBE_CONVERGENCE];
	size_t i, k;

	v[HF_METRIC_PROBE_LATENCY_P50] = probe_median(g, in);
	*lat = *conv = NAN;
	for (i = 0; i < g->n; i++) {
		const struct hf_node *node = g->nodes[i];

		if (!in[i])
			continue;
		for (k = 0; k < g->n; k++) {
			const struct hf_node *o = g->nodes[k];

			if (o->shard != node->shard)
				continue;
			if (o->role == HF_ROLE_PRIMARY && g->probe[k].write_ms != -2) {
				double w = g->probe[k].write_ms < 0 ? (double)g->timeout_ms :
					   g->probe[k].write_ms;

				if (isnan(*lat) || w > *lat)
					*lat = w;
			}
			if (o->role == HF_ROLE_REPLICA && shard_written(g, o->shard)) {
				double c = g->probe[k].converge_ms < 0 ? (double)g->timeout_ms :
					   g->probe[k].converge_ms;

				if (isnan(*conv) || c > *conv)
					*conv = c;
			}
		}
	}
}

static unsigned long long delta(unsigned long long now, unsigned long long then)
{
	return now >= then ? now - then : now;   /* a restart resets counters */
}

/* The calls node 'i' served between samples 'a' and 'b'; 0 when either
 * went unanswered. */
static unsigned long long node_calls(const struct hf_node_sample *a,
				     const struct hf_node_sample *b, size_t i)
{
	if (!a[i].ok || !b[i].ok)
		return 0;
	/* A restart or CONFIG RESETSTAT resets every counter at once. */
	return b[i].calls < a[i].calls ? b[i].calls : b[i].calls - a[i].calls;
}

/* The replication lag of node 'i' into 'v' (the worst so far): of the
 * node itself if it is a replica, or of the replicas of a changed primary,
 * as their primary sees them in sample 'b'. An acknowledgement age counts
 * only while bytes are missing. */
static void replication_lag(struct hf_guard_run *g, const struct hf_node_sample *b, size_t i,
			    double *v)
{
	double *lag_ms = &v[HF_METRIC_REPLICATION_LAG_MS], *lag_b = &v[HF_METRIC_REPLICATION_LAG_BYTES];
	const struct hf_node *node = g->nodes[i];
	size_t k;

	for (k = 0; k < g->n; k++) {
		const struct hf_node *rep = g->nodes[k], *pri;
		size_t p, e;

		if (rep->role != HF_ROLE_REPLICA || !rep->primary_id)
			continue;
		if (k != i && !(node->role == HF_ROLE_PRIMARY && !strcmp(rep->primary_id, node->id)))
			continue;
		for (p = 0; p < g->n; p++) {
			pri = g->nodes[p];
			if (strcmp(pri->id, rep->primary_id) || !b[p].ok)
				continue;
			for (e = 0; e < (size_t)b[p].nreplicas; e++) {
				const struct hf_replica_seen *rs = &b[p].replicas[e];
				long long behind = b[p].repl_offset - rs->offset;

				if (rs->port != rep->port || strcmp(rs->ip, rep->host))
					continue;
				if (behind > *lag_b)
					*lag_b = (double)behind;
				if (behind > 0 && rs->lag_s * 1000.0 > *lag_ms)
					*lag_ms = rs->lag_s * 1000.0;
			}
		}
	}
}

/* The latency percentiles into 'v' from the interval's histogram:
 * 'lat[k]', already cumulative, is the calls at or below bound 'bound[k]'
 * summed over the nodes. NAN without a call. */
static void latency_metrics(const unsigned long long *lat, const unsigned long long *bound,
			    double *v)
{
	struct hf_rh h;
	size_t k;

	hf_rh_init(&h, HF_RH_POW2);
	for (k = 0; k < HF_LAT_BUCKETS; k++)
		if (lat[k] && bound[k] && hf_rh_add(&h, bound[k], lat[k], NULL))
			break;   /* cannot happen with consistent samples; never guess */
	v[HF_METRIC_LATENCY_P50] = hf_rh_count(&h) ? hf_rh_percentile(&h, 50) / 1000.0 : NAN;
	v[HF_METRIC_LATENCY_P90] = hf_rh_count(&h) ? hf_rh_percentile(&h, 90) / 1000.0 : NAN;
	v[HF_METRIC_LATENCY_P99] = hf_rh_count(&h) ? hf_rh_percentile(&h, 99) / 1000.0 : NAN;
	v[HF_METRIC_LATENCY_P999] = hf_rh_count(&h) ? hf_rh_percentile(&h, 99.9) / 1000.0 : NAN;
}

/* The metrics over the nodes in 'in' between samples 'a' and 'b'. Traffic
 * metrics are NAN without a call: 0 errors out of 0 is no error rate. */
static void compute(struct hf_guard_run *g, const struct hf_node_sample *a,
		    const struct hf_node_sample *b, const int *in, double *v,
		    unsigned long long *calls_out)
{
	unsigned long long calls = 0, errors = 0, lat[HF_LAT_BUCKETS] = {0}, bound[HF_LAT_BUCKETS] = {0};
	double *mem = &v[HF_METRIC_MEMORY_USED_RATIO], *hb = &v[HF_METRIC_HEARTBEAT];
	size_t i, k;

	memset(v, 0, sizeof(double) * HF_METRIC_SLOTS);
	*mem = NAN;
	for (k = 0; k < HF_PROMQL_MAX; k++)
		v[HF_METRIC_COUNT + k] = NAN;
	for (i = 0; i < g->n; i++) {
		static const struct hf_node_sample zero;
		const struct hf_node_sample *from = &a[i];

		if (!in[i] || !a[i].ok || !b[i].ok)
			continue;
		/* PromQL: the value at the later sample (the expression
		 * does its own rate()), the worst of the nodes. */
		for (k = 0; g->pv && k < (size_t)g->nslots; k++)
			if (g->promql[k] && !isnan(g->pv[i][k]))
				v[HF_METRIC_COUNT + k] = worst(g->promql[k], v[HF_METRIC_COUNT + k],
							       g->pv[i][k]);
		/* A restart or CONFIG RESETSTAT resets every counter at once:
		 * then the whole later sample is the interval's count. */
		if (b[i].calls < a[i].calls)
			from = &zero;
		calls += delta(b[i].calls, from->calls);
		errors += delta(b[i].errors, from->errors);
		for (k = 0; k < HF_LAT_BUCKETS; k++) {
			lat[k] += delta(b[i].lat_cum[k], from->lat_cum[k]);
			if (b[i].lat_bound[k] > bound[k])
				bound[k] = b[i].lat_bound[k];
		}
		v[HF_METRIC_REJECTED_CONNECTIONS] +=
			(double)delta(b[i].rejected_conns, from->rejected_conns);
		v[HF_METRIC_EVICTIONS] += (double)delta(b[i].evicted_keys, from->evicted_keys);
		/* Nodes without a memory limit have no ratio to judge. */
		if (b[i].maxmemory) {
			double r = (double)b[i].used_memory / (double)b[i].maxmemory;

			if (isnan(*mem) || r > *mem)
				*mem = r;
		}
		if ((double)b[i].rtt_us / 1000.0 > *hb)
			*hb = (double)b[i].rtt_us / 1000.0;
		replication_lag(g, b, i, v);
	}
	v[HF_METRIC_ERROR_RATE] = calls ? hf_rate_error(errors, calls) : NAN;
	latency_metrics(lat, bound, v);
	if (calls_out)
		*calls_out = calls;
}

void hf_guard_baseline_tick(struct hf_guard_run *g)
{
	int *all = hf_xcalloc(g->n ? g->n : 1, sizeof(*all));
	size_t i;

	sample(g);
	if (!g->primed) {
		memcpy(g->first, g->cur, sizeof(*g->cur) * g->n);
		g->primed = 1;
		free(all);
		return;
	}
	for (i = 0; i < g->n; i++) {
		all[i] = 1;
		g->base_calls[i] = node_calls(g->first, g->cur, i);
		g->base_primary[i] = g->cur[i].is_primary;
	}
	g->base_intervals++;
	/* The baseline is the whole window: from the first sample to now. */
	compute(g, g->first, g->cur, all, g->baseline, &g->baseline_calls);
	/* PromQL values are the worst node's at each sample: their baseline is
	 * the mean over the samples that had one. */
	for (i = 0; i < (size_t)g->nslots; i++) {
		double *b = &g->baseline[HF_METRIC_COUNT + i];

		if (!isnan(*b)) {
			g->prom_sum[i] += *b;
			g->prom_n[i]++;
		}
		*b = g->prom_n[i] ? g->prom_sum[i] / g->prom_n[i] : NAN;
	}
	if (g->probing) {
		static const int pm[3] = { HF_METRIC_PROBE_LATENCY, HF_METRIC_PROBE_CONVERGENCE,
					   HF_METRIC_PROBE_LATENCY_P50 };
		double pv[HF_METRIC_SLOTS] = {0};

		probe_metrics(g, all, pv);
		/* The mean over the intervals that had a value: one where no
		 * probe landed has no median, and one without a probe at all
		 * tells nothing. */
		for (i = 0; i < 3; i++) {
			if (!isnan(pv[pm[i]])) {
				g->probe_sum[i] += pv[pm[i]];
				g->probe_n[i]++;
			}
			g->baseline[pm[i]] = g->probe_n[i] ? g->probe_sum[i] / g->probe_n[i] : NAN;
		}
	}
	g->probed = 0;
	g->baseline_taken = 1;
	free(all);
}

void hf_guard_baseline_describe(struct hf_guard_run *g, char *out, size_t len)
{
	struct hf_buf b = {0};
	char val[64];
	size_t i;

	/* Calls are what the guard counts on Redis nodes; others have none. */
	if (g->native)
		hf_buf_printf(&b, "%llu calls", g->baseline_calls);
	for (i = 0; i < g->nchecks; i++) {
		int m = hf_judge_check_metric(&g->checks[i]);

		hf_judge_format(m, g->baseline[m], val, sizeof(val));
		hf_buf_printf(&b, "%s%s %s", b.len ? ", " : "", g->checks[i].metric, val);
	}
	snprintf(out, len, "%s", b.s ? b.s : "");
	hf_buf_release(&b);
}

size_t hf_guard_baseline_checks(const struct hf_guard_run *g, struct hf_verdict_check *out,
				size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < g->nchecks && n < cap; i++) {
		const struct hf_check *k = &g->checks[i];
		int m = hf_judge_check_metric(k);
		struct hf_verdict_check *vc = &out[n++];

		memset(vc, 0, sizeof(*vc));
		vc->metric = k->promql ? k->metric : hf_judge_metric_name(m);
		vc->u = vc->p = NAN;
		hf_judge_limit(k, m, g->baseline_taken ? g->baseline : NULL, vc);
		vc->value = vc->baseline;
		vc->outcome = HF_CHECK_PASS;
		if (isnan(vc->baseline))
			vc->outcome = HF_CHECK_NA;
	}
	return n;
}

void hf_guard_describe(const struct hf_guard *spec, char *out, size_t len)
{
	struct hf_buf b = {0};
	size_t i;

	if (!spec->nchecks) {
		snprintf(out, len, "error_rate max 0.01; latency_p99_ms max 2x baseline (defaults)");
		return;
	}
	for (i = 0; i < spec->nchecks; i++) {
		const struct hf_check *k = &spec->checks[i];

		if (k->reader) {
			hf_buf_printf(&b, "%sreader `%s`%s%s%s on %ld key(s) a wave changed, each "
				      "interval", i ? "; " : "", k->reader, k->match ? " matching '" : "",
				      k->match ? k->match : "", k->match ? "'" : "", k->keys);
			continue;
		}
		hf_buf_printf(&b, "%s%s%s%s", i ? "; " : "", k->promql ? "promql '" : "",
			      k->metric, k->promql ? "'" : "");
		if (k->has_max)
			hf_buf_printf(&b, " max %g", k->max);
		if (k->has_min)
			hf_buf_printf(&b, " min %g", k->min);
		if (k->has_ratio)
			hf_buf_printf(&b, " max %gx baseline", k->ratio);
	}
	if (spec->prometheus)
		hf_buf_printf(&b, " (PromQL from %s)", spec->prometheus);
	snprintf(out, len, "%s", b.s);
	hf_buf_release(&b);
}

/* Record this interval's per-node values for the canary/control test. */
static void record_history(struct hf_guard_run *g, const int *changed)
{
	int *one = hf_xcalloc(g->n ? g->n : 1, sizeof(*one));
	size_t i;

	g->intervals++;
	for (i = 0; i < g->n; i++) {
		struct series *h = &g->hist[i];
		struct hf_judge_sample *s = &h->s[h->next];

		if (!g->prev[i].ok || !g->cur[i].ok)
			continue;
		one[i] = 1;
		compute(g, g->prev, g->cur, one, s->v, &s->calls);
		one[i] = 0;
		s->changed = changed[i];
		s->primary = g->cur[i].is_primary;
		s->interval = g->intervals;
		h->next = (h->next + 1) % HF_JUDGE_WINDOW;
		if (h->len < HF_JUDGE_WINDOW)
			h->len++;
	}
	free(one);
}

/* Is the interval one the judge will look into: did every changed node
 * answer both samples, and did the roles hold? Only such an interval
 * leaves history for canary versus control. */
static int judgeable(const struct hf_guard_run *g, const int *changed)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (changed[i] && (!g->cur[i].ok || !g->prev[i].ok))
			return 0;
	return !g->topology[0];
}

void hf_guard_evaluate(struct hf_guard_run *g, const int *changed, struct hf_verdict *v)
{
	struct hf_judge_input in = {0};
	struct hf_judge_node *nodes = hf_xcalloc(g->n ? g->n : 1, sizeof(*nodes));
	struct hf_judge_sample *hist = NULL;
	struct hf_buf unseen[HF_PROMQL_MAX] = {{0}};
	double expected = 0;
	size_t i;
	int k;

	sample(g);
	for (i = 0; i < g->n; i++) {
		nodes[i] = (struct hf_judge_node){ .name = g->names[i], .changed = !!changed[i],
			.answered = g->cur[i].ok && g->prev[i].ok,
			.cluster_state = g->c->cluster_mode ? g->cur[i].cluster_state : "",
			.slots_fail = g->cur[i].slots_fail };
		/* A node whose role changed since the baseline (a primary
		 * that handed its slots over, as a binary hotfix does) lost
		 * its clients for a reason: its old traffic is not expected. */
		if (changed[i] && g->cur[i].is_primary == g->base_primary[i])
			expected += (double)g->base_calls[i];
		else if (!changed[i])
			in.other_calls += node_calls(g->prev, g->cur, i);
	}
	in.nodes = nodes;
	in.nnodes = g->n;
	in.topology = g->topology;
	in.timeout_ms = g->timeout_ms;
	in.checks = g->checks;
	in.nchecks = g->nchecks;
	if (judgeable(g, changed)) {
		compute(g, g->prev, g->cur, changed, in.value, &in.calls);
		if (g->probing)
			probe_metrics(g, changed, in.value);
		in.probe_error = probe_error(g, changed);
		for (i = 0; i < g->n; i++)
			for (k = 0; g->pv && changed[i] && k < g->nslots; k++)
				if (isnan(g->pv[i][k]))
					hf_buf_printf(&unseen[k], "%s%s (%s)", unseen[k].len ? ", " : "",
						      g->names[i], g->pwhy[i][k]);
		for (k = 0; k < g->nslots; k++) {
			in.unseen[HF_METRIC_COUNT + k] = unseen[k].s;
			in.where[HF_METRIC_COUNT + k] = worst_node(g, changed, k);
		}
		in.expected_calls = g->base_intervals ? expected / (double)g->base_intervals : 0;
		in.baseline = g->baseline_taken ? g->baseline : NULL;
		record_history(g, changed);
		hist = hf_xcalloc(g->n * HF_JUDGE_WINDOW + 1, sizeof(*hist));
		for (i = 0; i < g->n; i++)
			for (k = 0; k < g->hist[i].len; k++)
				hist[in.nhistory++] = g->hist[i].s[k];
		in.history = hist;
		in.interval = g->intervals;
	}
	g->probed = 0;
	in.reads = g->reads;
	in.reader_fail = g->reader_fail;
	hf_judge_verdict(&in, v);
	g->reads = 0;
	g->reader_fail[0] = '\0';
	for (k = 0; k < HF_PROMQL_MAX; k++)
		hf_buf_release(&unseen[k]);
	free(hist);
	free(nodes);
}
