/* The guard's judgement: deltas between two samples of every node, metrics
 * over the nodes the hotfix changed, checks against thresholds and the
 * baseline, and a verdict that explains itself. */
#include "core/guard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"
#include "util/buf.h"

enum metric {
	M_ERROR_RATE, M_P50, M_P90, M_P99, M_P999, M_LAG_MS, M_LAG_BYTES, M_HEARTBEAT,
	M_MEMORY, M_REJECTED, M_EVICTIONS, M_PROBE_LAT, M_PROBE_P50, M_PROBE_CONV, M_COUNT
};

static const struct {
	const char *name;
	double floor;    /* ratios compare max(value, floor) / max(baseline, floor) */
	const char *unit;
} metrics[M_COUNT] = {
	[M_ERROR_RATE] = { "error_rate", 0.001, "" },
	[M_P50] = { "latency_p50_ms", 1.0, " ms" },
	[M_P90] = { "latency_p90_ms", 1.0, " ms" },
	[M_P99] = { "latency_p99_ms", 1.0, " ms" },
	[M_P999] = { "latency_p999_ms", 1.0, " ms" },
	[M_LAG_MS] = { "replication_lag_ms", 1000.0, " ms" },
	[M_LAG_BYTES] = { "replication_lag_bytes", 1048576.0, " bytes" },
	[M_HEARTBEAT] = { "heartbeat_ms", 10.0, " ms" },
	[M_MEMORY] = { "memory_used_ratio", 0.01, "" },
	[M_REJECTED] = { "rejected_connections", 1.0, "" },
	[M_EVICTIONS] = { "evictions", 1.0, "" },
	[M_PROBE_LAT] = { "probe_latency_ms", 1.0, " ms" },
	/* The median is steady enough to judge below a millisecond: a write
	 * path that became slower (an fsync per write) shows at loopback
	 * speeds, where the worst probe of an interval is mostly noise. */
	[M_PROBE_P50] = { "probe_latency_p50_ms", 0.05, " ms" },
	[M_PROBE_CONV] = { "probe_convergence_ms", 10.0, " ms" },
};

static int is_probe_metric(int m)
{
	return m == M_PROBE_LAT || m == M_PROBE_P50 || m == M_PROBE_CONV;
}

static int metric_of(const char *name)
{
	int m;

	for (m = 0; m < M_COUNT; m++)
		if (!strcmp(metrics[m].name, name))
			return m;
	return -1;
}

int hf_guard_supports(const char *metric)
{
	return metric_of(metric) >= 0;
}

struct check {
	int metric;
	int has_max, has_min, has_ratio;
	double max, min, ratio;
};

/* Per-node history for canary versus control: the last HIST intervals'
 * values of each metric, and whether the node held the hotfix then. */
#define HIST 20
#define MW_MIN 5            /* samples per group before the test speaks */
#define MW_ALPHA 0.01
#define PROBE_KEEP 32       /* probe writes kept per node between verdicts */
#define MW_EFFECT 0.8       /* probability that a canary value exceeds a control one */

struct series {
	double v[HIST][M_COUNT];
	int changed[HIST];
	int primary[HIST];          /* the node's role in that interval */
	long interval[HIST];        /* which verdict interval */
	int len, next;
};

struct hf_guard_run {
	struct hf_cluster *c;
	long timeout_ms;
	struct hf_node **nodes;
	size_t n;
	struct hf_node_sample *prev, *cur, *first;
	int primed, baseline_taken;
	struct check *checks;
	size_t nchecks;
	double baseline[M_COUNT];
	unsigned long long baseline_calls;
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
	int probe_ticks, probe_p50_ticks;
	struct series *hist;                /* per node */
	long intervals;                     /* verdicts so far */
	long long interval_ms;
	char topology[256];                 /* a role change seen by the last sample */
};

int hf_guard_node_seen(const struct hf_guard_run *g, size_t i)
{
	if (!g || i >= g->n || !g->primed)
		return -1;
	return g->cur[i].ok;
}

static void default_checks(struct hf_guard_run *g)
{
	g->nchecks = 2;
	g->checks = hf_xcalloc(2, sizeof(*g->checks));
	g->checks[0] = (struct check){ .metric = M_ERROR_RATE, .has_max = 1, .max = 0.01 };
	g->checks[1] = (struct check){ .metric = M_P99, .has_ratio = 1, .ratio = 2.0 };
}

struct hf_guard_run *hf_guard_new(const struct hf_guard *spec, struct hf_cluster *c,
				  long timeout_ms)
{
	struct hf_guard_run *g = hf_xcalloc(1, sizeof(*g));
	size_t i;

	g->c = c;
	g->timeout_ms = timeout_ms;
	g->interval_ms = spec->present && spec->interval_ms ? spec->interval_ms : 1000;
	g->n = c->nnodes;
	g->nodes = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->nodes));
	for (i = 0; i < g->n; i++)
		g->nodes[i] = &c->nodes[i];
	g->prev = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->prev));
	g->cur = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->cur));
	g->first = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->first));
	g->probe = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe));
	g->tick = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->tick));
	g->probe_w = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe_w));
	g->probe_wn = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe_wn));
	g->probe_wseen = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->probe_wseen));
	g->rnd = 0x9e3779b97f4a7c15ULL;
	g->hist = hf_xcalloc(g->n ? g->n : 1, sizeof(*g->hist));
	if (!spec->nchecks) {
		default_checks(g);
		return g;
	}
	g->nchecks = spec->nchecks;
	g->checks = hf_xcalloc(spec->nchecks, sizeof(*g->checks));
	for (i = 0; i < spec->nchecks; i++) {
		const struct hf_check *k = &spec->checks[i];

		g->checks[i] = (struct check){ .metric = metric_of(k->metric), .has_max = k->has_max,
			.has_min = k->has_min, .has_ratio = k->has_ratio, .max = k->max,
			.min = k->min, .ratio = k->ratio };
		if (is_probe_metric(g->checks[i].metric))
			g->probing = 1;
	}
	return g;
}

void hf_guard_free(struct hf_guard_run *g)
{
	if (!g)
		return;
	if (g->probing)
		hf_probe_cleanup(g->c, g->timeout_ms);   /* leave no probe key behind */
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

static void sample(struct hf_guard_run *g)
{
	struct hf_node_sample *t = g->prev;

	g->prev = g->cur;
	g->cur = t;
	hf_metrics_sample(g->c, g->nodes, g->n, g->cur, g->timeout_ms);
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
 * converge, counts as the deadline. */
static void probe_metrics(struct hf_guard_run *g, const int *in, double *v)
{
	size_t i, k;

	v[M_PROBE_P50] = probe_median(g, in);

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

				if (w > v[M_PROBE_LAT])
					v[M_PROBE_LAT] = w;
			}
			if (o->role == HF_ROLE_REPLICA && shard_written(g, o->shard)) {
				double c = g->probe[k].converge_ms < 0 ? (double)g->timeout_ms :
					   g->probe[k].converge_ms;

				if (c > v[M_PROBE_CONV])
					v[M_PROBE_CONV] = c;
			}
		}
	}
}

static unsigned long long delta(unsigned long long now, unsigned long long then)
{
	return now >= then ? now - then : now;   /* a restart resets counters */
}

/* The metrics over the nodes in 'in' between samples 'a' and 'b'. */
static void compute(struct hf_guard_run *g, const struct hf_node_sample *a,
		    const struct hf_node_sample *b, const int *in, double *v,
		    unsigned long long *calls_out)
{
	unsigned long long calls = 0, errors = 0, lat[HF_LAT_BUCKETS] = {0}, bound[HF_LAT_BUCKETS] = {0};
	struct hf_rh h;
	size_t i, k;

	memset(v, 0, sizeof(double) * M_COUNT);
	v[M_MEMORY] = NAN;
	for (i = 0; i < g->n; i++) {
		const struct hf_node *node = g->nodes[i];
		static const struct hf_node_sample zero;
		const struct hf_node_sample *from = &a[i];

		if (!in[i] || !a[i].ok || !b[i].ok)
			continue;
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
		v[M_REJECTED] += (double)delta(b[i].rejected_conns, from->rejected_conns);
		v[M_EVICTIONS] += (double)delta(b[i].evicted_keys, from->evicted_keys);
		/* Nodes without a memory limit have no ratio to judge. */
		if (b[i].maxmemory) {
			double r = (double)b[i].used_memory / (double)b[i].maxmemory;

			if (isnan(v[M_MEMORY]) || r > v[M_MEMORY])
				v[M_MEMORY] = r;
		}
		if ((double)b[i].rtt_us / 1000.0 > v[M_HEARTBEAT])
			v[M_HEARTBEAT] = (double)b[i].rtt_us / 1000.0;
		/* Lag of each replica concerned: the replica itself, or the
		 * replicas of a changed primary, as its primary sees them. An
		 * acknowledgement age counts only while bytes are missing. */
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
					if (behind > v[M_LAG_BYTES])
						v[M_LAG_BYTES] = (double)behind;
					if (behind > 0 && rs->lag_s * 1000.0 > v[M_LAG_MS])
						v[M_LAG_MS] = rs->lag_s * 1000.0;
				}
			}
		}
	}
	v[M_ERROR_RATE] = hf_rate_error(errors, calls);
	hf_rh_init(&h, HF_RH_POW2);
	/* lat[k] is already cumulative: the interval's calls at or below
	 * bound k, summed over the nodes. */
	for (k = 0; k < HF_LAT_BUCKETS; k++)
		if (lat[k] && bound[k] && hf_rh_add(&h, bound[k], lat[k], NULL))
			break;   /* cannot happen with consistent samples; never guess */
	v[M_P50] = hf_rh_count(&h) ? hf_rh_percentile(&h, 50) / 1000.0 : NAN;
	v[M_P90] = hf_rh_count(&h) ? hf_rh_percentile(&h, 90) / 1000.0 : NAN;
	v[M_P99] = hf_rh_count(&h) ? hf_rh_percentile(&h, 99) / 1000.0 : NAN;
	v[M_P999] = hf_rh_count(&h) ? hf_rh_percentile(&h, 99.9) / 1000.0 : NAN;
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
	for (i = 0; i < g->n; i++)
		all[i] = 1;
	/* The baseline is the whole window: from the first sample to now. */
	compute(g, g->first, g->cur, all, g->baseline, &g->baseline_calls);
	if (g->probing) {
		double pv[M_COUNT] = {0};

		probe_metrics(g, all, pv);
		g->probe_sum[0] += pv[M_PROBE_LAT];
		g->probe_sum[1] += pv[M_PROBE_CONV];
		g->probe_ticks++;
		if (!isnan(pv[M_PROBE_P50])) {
			/* an interval where no write landed has no median */
			g->probe_sum[2] += pv[M_PROBE_P50];
			g->probe_p50_ticks++;
		}
		g->baseline[M_PROBE_LAT] = g->probe_sum[0] / g->probe_ticks;
		g->baseline[M_PROBE_CONV] = g->probe_sum[1] / g->probe_ticks;
		g->baseline[M_PROBE_P50] = g->probe_p50_ticks ? g->probe_sum[2] / g->probe_p50_ticks :
					   NAN;
	}
	g->probed = 0;
	g->baseline_taken = 1;
	free(all);
}

static void fmt_value(int m, double v, char *out, size_t len)
{
	if (isnan(v))
		snprintf(out, len, "n/a (no traffic)");
	else if (m == M_ERROR_RATE || m == M_MEMORY)
		snprintf(out, len, "%.4f", v);
	else
		snprintf(out, len, "%.3f%s", v, metrics[m].unit);
}

void hf_guard_baseline_describe(struct hf_guard_run *g, char *out, size_t len)
{
	struct hf_buf b = {0};
	char val[64];
	size_t i;

	hf_buf_printf(&b, "%llu calls", g->baseline_calls);
	for (i = 0; i < g->nchecks; i++) {
		int m = g->checks[i].metric;

		fmt_value(m, g->baseline[m], val, sizeof(val));
		hf_buf_printf(&b, ", %s %s", metrics[m].name, val);
	}
	snprintf(out, len, "%s", b.s);
	hf_buf_release(&b);
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

		hf_buf_printf(&b, "%s%s", i ? "; " : "", k->metric);
		if (k->has_max)
			hf_buf_printf(&b, " max %g", k->max);
		if (k->has_min)
			hf_buf_printf(&b, " min %g", k->min);
		if (k->has_ratio)
			hf_buf_printf(&b, " max %gx baseline", k->ratio);
	}
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
		double val[M_COUNT];

		if (!g->prev[i].ok || !g->cur[i].ok)
			continue;
		one[i] = 1;
		compute(g, g->prev, g->cur, one, val, NULL);
		one[i] = 0;
		memcpy(h->v[h->next], val, sizeof(val));
		h->changed[h->next] = changed[i];
		h->primary[h->next] = g->cur[i].is_primary;
		h->interval[h->next] = g->intervals;
		h->next = (h->next + 1) % HIST;
		if (h->len < HIST)
			h->len++;
	}
	free(one);
}

/* Canary versus control for metric 'm', per role: are the changed nodes'
 * values stochastically greater than those of the nodes not yet changed,
 * in the same intervals? Only intervals where both groups have a value
 * count, so that load drifting between waves cannot pass for an effect.
 * Mann-Whitney U, one sided, with an effect size; and the medians must
 * differ by more than the metric's floor, so that a significant but tiny
 * shift does not roll back. Fills 'why' and returns 1 when the canary is
 * worse. */
static int canary_worse(struct hf_guard_run *g, int m, char *why, size_t len)
{
	int role;

	for (role = 0; role < 2; role++) {
		double can[HIST * 64], ctl[HIST * 64];
		size_t nc = 0, nt = 0, i;
		long iv;
		struct hf_mw mw;

		for (iv = g->intervals - HIST + 1; iv <= g->intervals; iv++) {
			size_t c0 = nc, t0 = nt;

			for (i = 0; i < g->n; i++) {
				const struct series *h = &g->hist[i];
				int k;

				for (k = 0; k < h->len; k++) {
					double x = h->v[k][m];

					if (h->interval[k] != iv || h->primary[k] != role || isnan(x))
						continue;
					if (h->changed[k] && nc < sizeof(can) / sizeof(can[0]))
						can[nc++] = x;
					else if (!h->changed[k] && nt < sizeof(ctl) / sizeof(ctl[0]))
						ctl[nt++] = x;
				}
			}
			if (nc == c0 || nt == t0) {
				nc = c0;   /* one group is missing: drop the interval */
				nt = t0;
			}
		}
		if (nc < MW_MIN || nt < MW_MIN)
			continue;
		if (hf_mw_test(can, nc, ctl, nt, HF_MW_GREATER, &mw, NULL))
			continue;
		if (mw.p < MW_ALPHA && mw.effect >= MW_EFFECT) {
			double mc, mt;

			qsort(can, nc, sizeof(double), cmp_double);
			qsort(ctl, nt, sizeof(double), cmp_double);
			mc = can[nc / 2];
			mt = ctl[nt / 2];
			if (mc - mt <= metrics[m].floor)
				continue;
			snprintf(why, len, "canary %s worse than control in the same "
					     "intervals: median %.3f vs %.3f over %zu/%zu samples, "
					     "Mann-Whitney U %.0f, p %.4f, P(canary > control) %.2f",
					     role ? "primaries" : "replicas", mc, mt, nc, nt, mw.u1, mw.p,
					     mw.effect);
			return 1;
		}
	}
	return 0;
}

void hf_guard_evaluate(struct hf_guard_run *g, const int *changed, struct hf_verdict *v)
{
	struct hf_buf fails = {0}, seen = {0}, blind = {0};
	double val[M_COUNT];
	unsigned long long calls = 0;
	size_t i, nchanged = 0;
	char a[64], b[64];

	sample(g);
	for (i = 0; i < g->n; i++) {
		if (!changed[i])
			continue;
		nchanged++;
		if (!g->cur[i].ok || !g->prev[i].ok)
			hf_buf_printf(&blind, "%s%s:%d", blind.len ? ", " : "", g->nodes[i]->host,
				      g->nodes[i]->port);
	}
	if (blind.len || g->topology[0]) {
		v->kind = HF_VERDICT_UNOBSERVABLE;
		if (blind.len)
			snprintf(v->explain, sizeof(v->explain), "unobservable: %s did not answer "
				 "within %ldms", blind.s, g->timeout_ms);
		else
			snprintf(v->explain, sizeof(v->explain), "unobservable: the topology changed "
				 "(%s); this interval is not judged", g->topology);
		g->probed = 0;
		goto out;
	}
	compute(g, g->prev, g->cur, changed, val, &calls);
	if (g->probing)
		probe_metrics(g, changed, val);
	g->probed = 0;
	record_history(g, changed);
	/* Always checked, whatever the manifest says: a changed node that
	 * sees the cluster down or slots unserved. */
	for (i = 0; g->c->cluster_mode && i < g->n; i++)
		if (changed[i] && g->cur[i].cluster_state[0] &&
		    (strcmp(g->cur[i].cluster_state, "ok") || g->cur[i].slots_fail))
			hf_buf_printf(&fails, "%scluster_state %s with %d slot(s) on failed nodes, seen "
				      "by %s:%d", fails.len ? "; " : "", g->cur[i].cluster_state,
				      g->cur[i].slots_fail, g->nodes[i]->host, g->nodes[i]->port);
	for (i = 0; i < g->nchecks; i++) {
		const struct check *k = &g->checks[i];
		int m = k->metric, bad = 0;
		double x = val[m], base = g->baseline[m];
		char why[256] = "";

		if (m < 0)
			continue;
		fmt_value(m, x, a, sizeof(a));
		hf_buf_printf(&seen, "%s%s %s", seen.len ? ", " : "", metrics[m].name, a);
		if (isnan(x))
			continue;   /* no traffic on the changed nodes: nothing to judge */
		if (k->has_max && x > k->max) {
			bad = 1;
			snprintf(why, sizeof(why), "above max %g", k->max);
		} else if (k->has_min && x < k->min) {
			bad = 1;
			snprintf(why, sizeof(why), "below min %g", k->min);
		} else if (k->has_ratio && g->baseline_taken && !isnan(base)) {
			double fl = metrics[m].floor;
			double r = (x > fl ? x : fl) / (base > fl ? base : fl);

			if (r > k->ratio) {
				bad = 1;
				fmt_value(m, base, b, sizeof(b));
				snprintf(why, sizeof(why), "%.2fx the baseline %s, limit %gx", r, b, k->ratio);
			}
		}
		/* Relative checks also compare the canary with its control,
		 * which a drifting baseline cannot fool. */
		if (!bad && k->has_ratio && !is_probe_metric(m) && m != M_LAG_MS &&
		    m != M_LAG_BYTES && canary_worse(g, m, why, sizeof(why)))
			bad = 1;
		if (bad && m == M_PROBE_LAT && *probe_error(g, changed))
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (a probe write failed: %s)",
				 probe_error(g, changed));
		if (bad)
			hf_buf_printf(&fails, "%s%s %s %s", fails.len ? "; " : "", metrics[m].name, a, why);
	}
	v->kind = fails.len ? HF_VERDICT_FAIL : HF_VERDICT_PASS;
	snprintf(v->explain, sizeof(v->explain), "%s on %zu changed node(s), %llu calls: %s",
		 fails.len ? "fail" : "pass", nchanged, calls, fails.len ? fails.s : seen.s ? seen.s : "");
out:
	hf_buf_release(&fails);
	hf_buf_release(&seen);
	hf_buf_release(&blind);
}
