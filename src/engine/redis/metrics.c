/* Node health samples for the guard, read from INFO and LATENCY HISTOGRAM. */
#include "engine/redis/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/load.h"
#include "util/buf.h"
#include "util/misc.h"

int hf_metrics_admin_command(const char *cmd)
{
	static const char *admin[] = {
		"info", "latency", "config", "cluster", "ping", "client", "auth", "hello",
		"command", "slowlog", "memory", "debug", "acl", "module", "readonly",
		"readwrite", "asking", "select", "echo", "time", "role", "monitor",
		"replconf", "psync", "sync", "lastsave", "function", "script", "save",
		"bgsave", "bgrewriteaof", "shutdown", "failover", "replicaof", "slaveof",
		"wait", "quit", "reset",
	};
	size_t i, n = strcspn(cmd, "|");

	for (i = 0; i < sizeof(admin) / sizeof(admin[0]); i++)
		if (strlen(admin[i]) == n && !strncmp(cmd, admin[i], n))
			return 1;
	return 0;
}

/* Sum calls, failed and rejected calls of the data commands in an
 * "INFO commandstats" reply. */
static void parse_commandstats(const char *info, struct hf_node_sample *s)
{
	const char *p = info;

	while ((p = strstr(p, "cmdstat_"))) {
		char cmd[64];
		const char *colon = strchr(p, ':');
		const char *eol = strpbrk(p, "\r\n");
		const char *f;
		size_t n;

		if (!colon || (eol && colon > eol))
			break;
		n = (size_t)(colon - p - 8);
		if (n >= sizeof(cmd))
			n = sizeof(cmd) - 1;
		memcpy(cmd, p + 8, n);
		cmd[n] = '\0';
		if (!hf_metrics_admin_command(cmd)) {
			if ((f = strstr(colon, "calls=")) && (!eol || f < eol))
				s->calls += strtoull(f + 6, NULL, 10);
			if ((f = strstr(colon, "failed_calls=")) && (!eol || f < eol))
				s->errors += strtoull(f + 13, NULL, 10);
			if ((f = strstr(colon, "rejected_calls=")) && (!eol || f < eol)) {
				unsigned long long rej = strtoull(f + 15, NULL, 10);

				/* Rejected calls are not in 'calls': count them in
				 * both, so the rate is errors over attempts. */
				s->errors += rej;
				s->calls += rej;
			}
		}
		p = colon;
	}
}

static unsigned long long info_ull(const char *info, const char *field)
{
	char buf[64];

	return hf_info_field(info, field, buf, sizeof(buf)) ? 0 : strtoull(buf, NULL, 10);
}

/* LATENCY HISTOGRAM: [cmd, [calls, N, histogram_usec, [b, cum, ...]], ...] */
static void parse_latency(const struct hf_reply *r, struct hf_node_sample *s)
{
	size_t i, k;

	if (!r || r->type != HF_REPLY_ARRAY)
		return;
	for (i = 0; i + 1 < r->nelem; i += 2) {
		const struct hf_reply *name = r->elem[i], *body = r->elem[i + 1], *h = NULL;
		unsigned long long cmd_cum[HF_LAT_BUCKETS] = {0}, last = 0;
		int seen[HF_LAT_BUCKETS] = {0};

		if (!name->str || hf_metrics_admin_command(name->str) || body->type != HF_REPLY_ARRAY)
			continue;
		for (k = 0; k + 1 < body->nelem; k += 2)
			if (body->elem[k]->str && !strcmp(body->elem[k]->str, "histogram_usec"))
				h = body->elem[k + 1];
		if (!h || h->type != HF_REPLY_ARRAY)
			continue;
		for (k = 0; k + 1 < h->nelem; k += 2) {
			long long bound = h->elem[k]->integer;
			int b = bound > 0 ? (int)lround(log2((double)bound)) : 0;

			if (b < 0)
				b = 0;
			if (b >= HF_LAT_BUCKETS)
				b = HF_LAT_BUCKETS - 1;
			cmd_cum[b] = (unsigned long long)h->elem[k + 1]->integer;
			seen[b] = 1;
			if (!s->lat_bound[b] || (unsigned long long)bound > s->lat_bound[b])
				s->lat_bound[b] = (unsigned long long)bound;
		}
		/* Redis lists only the buckets where the count grew: carry the
		 * cumulative count forward over the ones it left out. */
		for (k = 0; k < HF_LAT_BUCKETS; k++) {
			if (seen[k])
				last = cmd_cum[k];
			s->lat_cum[k] += last;
		}
	}
}

/* Take the cluster's redirections out of the calls and errors of 's',
 * from its "INFO errorstats". */
static void drop_redirects(const char *errorstats, struct hf_node_sample *s)
{
	/* Redirections are counted as rejected calls by Redis 7, but they
	 * are the cluster working as designed, not failures. */
	unsigned long long redirects = 0;
	const char *e;

	if ((e = strstr(errorstats, "errorstat_MOVED:count=")))
		redirects += strtoull(e + 22, NULL, 10);
	if ((e = strstr(errorstats, "errorstat_ASK:count=")))
		redirects += strtoull(e + 20, NULL, 10);
	s->errors -= redirects < s->errors ? redirects : s->errors;
	s->calls -= redirects < s->calls ? redirects : s->calls;
}

/* The node's role, offset, and its primary or its replicas, from its
 * "INFO replication". */
static void read_replication(const char *info, struct hf_node_sample *s)
{
	char buf[64];
	size_t k;

	hf_info_field(info, "role", buf, sizeof(buf));
	s->is_primary = !strcmp(buf, "master");
	s->repl_offset = (long long)info_ull(info, s->is_primary ? "master_repl_offset" :
					     "slave_repl_offset");
	if (!s->is_primary) {
		hf_info_field(info, "master_host", s->master_host, sizeof(s->master_host));
		s->master_port = (int)info_ull(info, "master_port");
	}
	if (s->is_primary) {
		struct hf_info_replica reps[8];
		size_t nr = hf_info_replicas(info, reps, 8);

		for (k = 0; k < nr && k < 8; k++) {
			struct hf_replica_seen *rs = &s->replicas[s->nreplicas++];

			snprintf(rs->ip, sizeof(rs->ip), "%.63s", reps[k].ip);
			rs->port = reps[k].port;
			rs->offset = reps[k].offset;
			rs->lag_s = reps[k].lag_s;
		}
	}
}

/* Read the answers to hf_metrics_sample()'s commands ('call', sent at
 * 't0' monotonic µs) into 's'. */
static void read_sample(const struct hf_call *call, long long t0, struct hf_node_sample *s)
{
	const struct hf_reply *const *r = (const struct hf_reply *const *)call->replies;
	size_t k;

	memset(s, 0, sizeof(*s));
	s->ok = !call->status;
	s->rtt_us = call->done_us ? call->done_us - t0 : 0;
	if (!s->ok)
		return;
	for (k = 0; k < 5; k++)
		if (!r[k] || r[k]->type != HF_REPLY_STRING)
			s->ok = 0;
	if (!s->ok)
		return;
	parse_commandstats(r[0]->str, s);
	drop_redirects(r[4]->str, s);
	s->rejected_conns = info_ull(r[1]->str, "rejected_connections");
	s->evicted_keys = info_ull(r[1]->str, "evicted_keys");
	read_replication(r[2]->str, s);
	s->used_memory = info_ull(r[3]->str, "used_memory");
	s->maxmemory = info_ull(r[3]->str, "maxmemory");
	parse_latency(r[5], s);
}

/* Cluster state, from the nodes that answered: 'calls' (room for 'n',
 * released) carries one CLUSTER INFO to each. */
static void sample_cluster_state(struct hf_cluster *c, struct hf_node **nodes, size_t n,
				 struct hf_node_sample *out, struct hf_call *calls,
				 long timeout_ms)
{
	size_t i, k, m = 0;

	for (i = 0; c->cluster_mode && i < n; i++) {
		if (!out[i].ok)
			continue;   /* a node that did not answer costs no second wait */
		calls[m].node = nodes[i];
		hf_call_push(&calls[m], "CLUSTER", "INFO", NULL);
		m++;
	}
	hf_fanout(c, calls, m, timeout_ms);
	for (i = 0, k = 0; c->cluster_mode && i < n; i++) {
		if (!out[i].ok)
			continue;
		if (!calls[k].status && calls[k].replies[0] &&
		    calls[k].replies[0]->type == HF_REPLY_STRING)
		{
			hf_info_field(calls[k].replies[0]->str, "cluster_state", out[i].cluster_state,
				      sizeof(out[i].cluster_state));
			out[i].slots_fail = (int)info_ull(calls[k].replies[0]->str, "cluster_slots_fail");
		}
		k++;
	}
	hf_calls_release(calls, m);
}

void hf_metrics_sample(struct hf_cluster *c, struct hf_node **nodes, size_t n,
		       struct hf_node_sample *out, long timeout_ms)
{
	struct hf_call *calls = hf_xcalloc(n ? n : 1, sizeof(*calls));
	static const char *sections[] = { "commandstats", "stats", "replication", "memory",
					  "errorstats" };
	long long t0 = hf_mono_us();
	size_t i, k;

	for (i = 0; i < n; i++) {
		calls[i].node = nodes[i];
		for (k = 0; k < 5; k++)
			hf_call_push(&calls[i], "INFO", sections[k], NULL);
		hf_call_push(&calls[i], "LATENCY", "HISTOGRAM", NULL);
	}
	hf_fanout(c, calls, n, timeout_ms);
	for (i = 0; i < n; i++)
		read_sample(&calls[i], t0, &out[i]);
	hf_calls_release(calls, n);
	sample_cluster_state(c, nodes, n, out, calls, timeout_ms);
	hf_calls_release(calls, n);
	free(calls);
}

/* The probe key of primary 'n': hash-tagged so that it lands in one of the
 * primary's own slots. */
static void probe_key(const struct hf_node *n, char *out, size_t len)
{
	int t;

	for (t = 0; t < 1000000; t++) {
		unsigned slot;

		snprintf(out, len, "hotfix:probe:{p%d}", t);
		if (n->slot_lo < 0)
			return;   /* no cluster mode: any key will do */
		slot = hf_key_slot(out, strlen(out));
		if ((int)slot >= n->slot_lo && (int)slot <= n->slot_hi)
			return;
	}
}

static int primary_of(struct hf_cluster *c, const struct hf_node *r)
{
	size_t k;

	for (k = 0; r->primary_id && k < c->nnodes; k++)
		if (!strcmp(c->nodes[k].id, r->primary_id))
			return (int)k;
	return -1;
}

/* What hf_probe_run()'s write and read-back share. */
struct probe {
	struct hf_cluster *c;
	struct hf_probe_result *out;   /* per node */
	struct hf_call *calls;         /* room for a call per node */
	size_t *who;                   /* per call: its node */
	long long *sent;               /* per node: monotonic µs its probe was written */
	char (*key)[64];               /* per primary: its probe key */
	int *primary;                  /* per replica: its primary's index, or -1 */
	char val[32];                  /* the value written */
	long timeout_ms;
};

/* Write the probe value to every primary that has slots ('ttl' ms to
 * live), each write's round trip into its result. */
static void probe_write(struct probe *pr, const char *ttl)
{
	struct hf_cluster *c = pr->c;
	struct hf_probe_result *out = pr->out;
	struct hf_call *calls = pr->calls;
	long long t0;
	size_t i, n = 0;

	for (i = 0; i < c->nnodes; i++) {
		pr->primary[i] = c->nodes[i].role == HF_ROLE_REPLICA ? primary_of(c, &c->nodes[i]) : -1;
		out[i].write_ms = -2;   /* not probed */
		out[i].converge_ms = -1;
		out[i].error[0] = '\0';
		if (c->nodes[i].role != HF_ROLE_PRIMARY ||
		    (c->cluster_mode && c->nodes[i].slot_lo < 0))
			continue;   /* a primary without slots has no key of its own */
		out[i].write_ms = -1;
		/* Found once per probe, for the read-backs too: a key of a
		 * shard's own slots takes about 16384 / its slots tries. */
		probe_key(&c->nodes[i], pr->key[i], sizeof(pr->key[i]));
		calls[n].node = &c->nodes[i];
		hf_call_push(&calls[n], "SET", pr->key[i], pr->val, "PX", ttl, NULL);
		pr->who[n++] = i;
	}
	t0 = hf_mono_us();
	hf_fanout(c, calls, n, pr->timeout_ms);
	for (i = 0; i < n; i++) {
		const struct hf_reply *r = calls[i].replies[0];
		struct hf_probe_result *o = &out[pr->who[i]];

		pr->sent[pr->who[i]] = t0;
		if (!calls[i].status && r && r->type == HF_REPLY_STATUS)
			o->write_ms = (double)(calls[i].done_us - t0) / 1000.0;
		else if (r && r->type == HF_REPLY_ERROR && (!strncmp(r->str, "MOVED", 5) ||
							   !strncmp(r->str, "ASK", 3)))
			o->write_ms = -2;   /* the key moved: a failover, not a slow write */
		if (o->write_ms == -1)
			snprintf(o->error, sizeof(o->error), "%.60s",
				 r && r->str ? r->str : calls[i].error);
	}
	hf_calls_release(calls, n);
}

/* Read back from every replica until the value arrives. */
static void probe_converge(struct probe *pr)
{
	struct hf_cluster *c = pr->c;
	struct hf_call *calls = pr->calls;
	long long deadline = hf_mono_ms() + pr->timeout_ms;
	size_t i, n;

	for (;;) {
		n = 0;
		for (i = 0; i < c->nnodes; i++) {
			int p;

			if (c->nodes[i].role != HF_ROLE_REPLICA || pr->out[i].converge_ms >= 0)
				continue;
			p = pr->primary[i];
			if (p < 0 || pr->out[p].write_ms < 0)
				continue;   /* nothing was written to converge to */
			calls[n].node = &c->nodes[i];
			if (c->cluster_mode)
				hf_call_push(&calls[n], "READONLY", NULL);
			hf_call_push(&calls[n], "GET", pr->key[p], NULL);
			pr->who[n++] = i;
		}
		if (!n || hf_mono_ms() >= deadline)
			break;
		hf_fanout(c, calls, n, deadline - hf_mono_ms() > 0 ? deadline - hf_mono_ms() : 1);
		for (i = 0; i < n; i++) {
			const struct hf_reply *r = calls[i].replies[calls[i].ncmds - 1];
			int p = pr->primary[pr->who[i]];

			if (!calls[i].status && r && r->str && !strcmp(r->str, pr->val))
				pr->out[pr->who[i]].converge_ms =
					(double)(calls[i].done_us - pr->sent[p]) / 1000.0;
		}
		hf_calls_release(calls, n);
		hf_sleep_ms(2);
	}
	hf_calls_release(calls, n);
}

void hf_probe_run(struct hf_cluster *c, unsigned long long seq, struct hf_probe_result *out,
		  long timeout_ms, long ttl_ms)
{
	size_t m = c->nnodes ? c->nnodes : 1;
	struct probe pr = { .c = c, .out = out, .timeout_ms = timeout_ms };
	char ttl[24];

	pr.calls = hf_xcalloc(m, sizeof(*pr.calls));
	pr.sent = hf_xcalloc(m, sizeof(*pr.sent));
	pr.who = hf_xcalloc(m, sizeof(*pr.who));
	pr.key = hf_xcalloc(m, sizeof(*pr.key));
	pr.primary = hf_xcalloc(m, sizeof(*pr.primary));
	snprintf(pr.val, sizeof(pr.val), "%llu", seq);
	snprintf(ttl, sizeof(ttl), "%ld", ttl_ms > 0 ? ttl_ms : 60000);
	probe_write(&pr, ttl);
	probe_converge(&pr);
	free(pr.calls);
	free(pr.sent);
	free(pr.who);
	free(pr.key);
	free(pr.primary);
}

void hf_probe_cleanup(struct hf_cluster *c, long timeout_ms)
{
	struct hf_call *calls = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*calls));
	size_t i, n = 0;
	char key[64];

	for (i = 0; i < c->nnodes; i++) {
		if (c->nodes[i].role != HF_ROLE_PRIMARY ||
		    (c->cluster_mode && c->nodes[i].slot_lo < 0))
			continue;
		probe_key(&c->nodes[i], key, sizeof(key));
		calls[n].node = &c->nodes[i];
		hf_call_push(&calls[n++], "DEL", key, NULL);
	}
	hf_fanout(c, calls, n, timeout_ms);
	hf_calls_release(calls, n);
	free(calls);
}
