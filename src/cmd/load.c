/* hotfix load: drive GET/SET traffic (or a workload profile's command mix)
 * at a cluster and report what the client saw. The generator is src/engine/redis/load.c; this file parses
 * options and prints the report. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "engine/redis/load.h"
#include "engine/redis/profile.h"
#include "engine/redis/redis.h"

static const char usage[] =
	"usage: hotfix load [--cluster URI] [--rate N] [--seconds S] [--requests N]\n"
	"                   [--clients C] [--pipeline P] [--keys K] [--value-size B]\n"
	"                   [--read-ratio R] [--check-writes [--check-pause-ms MS]]\n"
	"                   [--profile FILE] [--json]\n"
	"Sends GET and SET to keys " HF_LOAD_KEY_PREFIX "{N} at the primaries that own\n"
	"them (MOVED, ASK and failovers are followed) and reports requests, errors by\n"
	"type, throughput and latency percentiles as the client saw them, and per\n"
	"shard (a primary of the slot map at the start) its unavailable window: the\n"
	"longest time without a successful reply for the shard's keys while a request\n"
	"for them was outstanding or had failed (a failure counts until the next\n"
	"success, or the end of the traffic). A few ms when healthy; through a\n"
	"failover, how long its clients waited.\n"
	"  --rate N        requests per second over all clients; 0 or absent: flat out\n"
	"  --seconds S     stop generating after S seconds (default 10)\n"
	"  --requests N    stop after N requests, if that comes first\n"
	"  --clients C     connections, spread over the primaries (default 50)\n"
	"  --pipeline P    requests in flight per connection (default 1)\n"
	"  --keys K        key space size (default 10000)\n"
	"  --value-size B  SET value size in bytes (default 64)\n"
	"  --read-ratio R  share of GETs, 0 to 1 (default 0.5)\n"
	"  --check-writes  every SET writes a new key " HF_LOAD_CHECK_PREFIX "RUN:{SEQ} (--keys\n"
	"                  is not used), GETs read acknowledged ones back (a missing or\n"
	"                  changed value fails as 'lost'); after the traffic every\n"
	"                  acknowledged key is read back (transient errors are retried\n"
	"                  for up to 5 timeouts) and reported verified, lost or\n"
	"                  unverifiable, then every key the run wrote is deleted.\n"
	"                  Ctrl-C ends the traffic, not the read-back\n"
	"  --check-pause-ms MS  wait MS (or until Ctrl-C) before the read-back: a\n"
	"                  testing aid to change the data in between\n"
	"  --profile FILE  a workload profile of 'hotfix stage' (D/profile.json): its\n"
	"                  rate, key count and, from a hotfix-profile/2 file, its\n"
	"                  command mix (GET/SET/SETEX/INCR/DEL/EXISTS/EXPIRE/TTL, HGET/\n"
	"                  HSET/HGETALL/HINCRBY/HDEL/HLEN, LPUSH/RPUSH/LPOP/RPOP/LRANGE/\n"
	"                  LLEN, SADD/SREM/SMEMBERS/SISMEMBER/SCARD, ZADD/ZREM/ZRANGE/\n"
	"                  ZSCORE/ZINCRBY/ZCARD; any other command is folded into its\n"
	"                  type's nearest, and the replay says so before it starts)\n"
	"                  with its key and value sizes; --read-ratio is then not\n"
	"                  used, and --check-writes checks the mix's GETs and SETs\n"
	"                  (SET raised to 10% when below). A hotfix-profile/1 file:\n"
	"                  GET/SET at its read share and median value size. The\n"
	"                  options given here win\n"
	"Requests unanswered after --timeout MS (default 2000) count as 'timeout'.\n"
	"Exit 0 when it ran, even with errors; 1 when the cluster cannot be reached.\n";

static int opt_double(const char *name, const char *s, double *out, struct hf_err *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0))
		return hf_err_set(err, HF_EINVAL, "option '--%s': '%s' is not a non-negative number",
				  name, s);
	*out = v;
	return 0;
}

/* ---- the replay of a profile's mix ----------------------------------- */

/* The ops of the mix by decreasing share into 'order'; returns how many
 * have a share. */
static int ops_by_share(const double *share, int *order)
{
	int n = 0, i, j;

	for (i = 0; i < HF_LOAD_NOPS; i++)
		if (share[i] > 0)
			order[n++] = i;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && share[order[j]] > share[order[j - 1]]; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	return n;
}

/* Once, before the run: what the profile's mix is replayed as, what was
 * folded into what, and the checked SETs' share when it was raised. */
static void print_replay(const struct hf_load_opts *o)
{
	double share[HF_LOAD_NOPS], orig[HF_LOAD_NOPS];
	int order[HF_LOAD_NOPS], n, i;
	size_t k;

	hf_load_mix_effective(o->mix, o->check_writes, share);
	hf_load_mix_effective(o->mix, 0, orig);
	n = ops_by_share(share, order);
	printf("replay     ");
	for (i = 0; i < n; i++)
		printf("%s %s %.1f%%", i ? "," : "", hf_load_op_name(order[i]), 100 * share[order[i]]);
	printf("\n");
	for (k = 0; k < o->mix->nfolded; k++)
		printf("%-11s %s (%.1f%%) replayed as %s\n", k ? "" : "folded",
		       o->mix->folded[k].from, 100 * o->mix->folded[k].share, o->mix->folded[k].to);
	if (!o->mix->nfolded)
		printf("folded      nothing: every command of the profile is replayed as itself\n");
	if (o->check_writes && share[HF_OP_SET] > orig[HF_OP_SET])
		printf("checked     set raised from %.1f%% to %.1f%% for --check-writes (the rest scaled down)\n",
		       100 * orig[HF_OP_SET], 100 * share[HF_OP_SET]);
	fflush(stdout);
}

/* The replay in the JSON document: the shares drawn from and the folds. */
static json_t *replay_json(const struct hf_load_opts *o)
{
	json_t *cmds = json_object(), *folded = json_array();
	double share[HF_LOAD_NOPS];
	int i;
	size_t k;

	hf_load_mix_effective(o->mix, o->check_writes, share);
	for (i = 0; i < HF_LOAD_NOPS; i++)
		if (share[i] > 0)
			json_object_set_new(cmds, hf_load_op_name(i), json_real(share[i]));
	for (k = 0; k < o->mix->nfolded; k++)
		json_array_append_new(folded, json_pack("{s:s,s:s,s:f}", "command",
			o->mix->folded[k].from, "as", o->mix->folded[k].to, "share", o->mix->folded[k].share));
	return json_pack("{s:o,s:o}", "commands", cmds, "folded", folded);
}

/* Ok requests per op, those that had any. */
static json_t *ops_json(const struct hf_load_report *r)
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < HF_LOAD_NOPS; i++)
		if (r->ops[i])
			json_object_set_new(o, hf_load_op_name(i), json_integer((json_int_t)r->ops[i]));
	return o;
}

static void print_ops_text(const struct hf_load_report *r)
{
	double count[HF_LOAD_NOPS];
	int order[HF_LOAD_NOPS], n, i;

	for (i = 0; i < HF_LOAD_NOPS; i++)
		count[i] = (double)r->ops[i];
	n = ops_by_share(count, order);
	printf("commands   ");
	for (i = 0; i < n; i++)
		printf("%s %s %llu", i ? "," : "", hf_load_op_name(order[i]), r->ops[order[i]]);
	printf(" (%llu reads, %llu writes)\n", r->reads, r->writes);
}

static void print_shards_text(const struct hf_load_report *r)
{
	size_t i;
	int w = 0;

	for (i = 0; i < r->nshards; i++) {
		int len = (int)strlen(r->shards[i].primary);

		if (len > w)
			w = len;
	}
	printf("unavailable %.3f ms at most over %zu shard%s\n", r->unavailable_ms, r->nshards,
	       r->nshards == 1 ? "" : "s");
	for (i = 0; i < r->nshards; i++)
		printf("  shard %-3zu %-*s  %10.3f ms  %llu error%s\n", i + 1, w, r->shards[i].primary,
		       r->shards[i].window_ms, r->shards[i].errors, r->shards[i].errors == 1 ? "" : "s");
}

static void print_text(const struct hf_load_report *r, const struct hf_load_opts *o,
		       const char *cluster)
{
	size_t i;

	printf("cluster     %s (%s, %d primar%s)\n", cluster,
	       r->cluster_mode ? "cluster mode" : "no cluster mode", r->primaries,
	       r->primaries == 1 ? "y" : "ies");
	if (o->mix)
		printf("workload    %d clients, pipeline %d, the profile's command mix (above), %ld keys%s, %s\n",
		       o->clients, o->pipeline, o->keys, o->check_writes ? " plus checked writes" : "",
		       o->rate ? "rate-limited" : "flat out");
	else if (o->check_writes)
		printf("workload    %d clients, pipeline %d, checked writes (a new key each), %ld-byte values, "
		       "read ratio %.2f, %s\n", o->clients, o->pipeline, o->value_size, o->read_ratio,
		       o->rate ? "rate-limited" : "flat out");
	else
		printf("workload    %d clients, pipeline %d, %ld keys, %ld-byte values, read ratio %.2f, %s\n",
		       o->clients, o->pipeline, o->keys, o->value_size, o->read_ratio,
		       o->rate ? "rate-limited" : "flat out");
	printf("requests    %llu: %llu ok (%llu GET, %llu SET), %llu error%s in %.2f s%s\n",
	       r->requests, r->ok, r->gets, r->sets, r->errors, r->errors == 1 ? "" : "s",
	       r->seconds, r->stopped ? " (stopped early)" : "");
	if (o->mix)
		print_ops_text(r);
	printf("throughput  %.0f ok requests/s\n", r->throughput);
	printf("latency     p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
	       r->p50_ms, r->p90_ms, r->p99_ms, r->p999_ms, r->max_ms);
	if (r->nerror_types) {
		printf("errors     ");
		for (i = 0; i < r->nerror_types; i++)
			printf(" %s %llu", r->error_types[i].type, r->error_types[i].n);
		printf("\n");
	}
	if (r->moved || r->ask || r->reconnects)
		printf("redirects   MOVED %llu, ASK %llu; reconnects %llu; slot map read %llu time%s\n",
		       r->moved, r->ask, r->reconnects, r->map_refreshes,
		       r->map_refreshes == 1 ? "" : "s");
	print_shards_text(r);
	if (r->check_writes)
		printf("writes      %llu acknowledged: %llu verified, %llu lost, %llu unverifiable\n",
		       r->acked_writes, r->verified, r->lost, r->unverifiable);
}

static void print_json(const struct hf_load_report *r, const struct hf_load_opts *o,
		       const char *cluster)
{
	json_t *doc = json_object(), *types = json_object(), *shards = json_array();
	char *s;
	size_t i;

	for (i = 0; i < r->nerror_types; i++)
		json_object_set_new(types, r->error_types[i].type, json_integer((json_int_t)r->error_types[i].n));
	json_object_set_new(doc, "cluster", json_string(cluster));
	json_object_set_new(doc, "mode", json_string(r->cluster_mode ? "cluster" : "standalone"));
	json_object_set_new(doc, "primaries", json_integer(r->primaries));
	json_object_set_new(doc, "options", json_pack("{s:I,s:f,s:I,s:i,s:i,s:I,s:I,s:f,s:b}",
		"rate", (json_int_t)o->rate, "seconds", o->seconds, "requests", (json_int_t)o->requests,
		"clients", o->clients, "pipeline", o->pipeline, "keys", (json_int_t)o->keys,
		"value_size", (json_int_t)o->value_size, "read_ratio", o->read_ratio,
		"check_writes", o->check_writes));
	json_object_set_new(doc, "requests", json_integer((json_int_t)r->requests));
	json_object_set_new(doc, "ok", json_integer((json_int_t)r->ok));
	json_object_set_new(doc, "gets", json_integer((json_int_t)r->gets));
	json_object_set_new(doc, "sets", json_integer((json_int_t)r->sets));
	json_object_set_new(doc, "reads", json_integer((json_int_t)r->reads));
	json_object_set_new(doc, "writes", json_integer((json_int_t)r->writes));
	json_object_set_new(doc, "commands", ops_json(r));
	if (o->mix)
		json_object_set_new(doc, "replay", replay_json(o));
	json_object_set_new(doc, "errors", json_integer((json_int_t)r->errors));
	json_object_set_new(doc, "errors_by_type", types);
	json_object_set_new(doc, "redirects", json_pack("{s:I,s:I}", "MOVED", (json_int_t)r->moved,
							"ASK", (json_int_t)r->ask));
	json_object_set_new(doc, "reconnects", json_integer((json_int_t)r->reconnects));
	json_object_set_new(doc, "map_refreshes", json_integer((json_int_t)r->map_refreshes));
	json_object_set_new(doc, "seconds", json_real(r->seconds));
	json_object_set_new(doc, "throughput", json_real(r->throughput));
	json_object_set_new(doc, "latency_ms", json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}",
		"p50", r->p50_ms, "p90", r->p90_ms, "p99", r->p99_ms, "p99.9", r->p999_ms,
		"max", r->max_ms, "mean", r->mean_ms));
	json_object_set_new(doc, "stopped", json_boolean(r->stopped));
	for (i = 0; i < r->nshards; i++)
		json_array_append_new(shards, json_pack("{s:i,s:s,s:f,s:I}", "shard", (int)i + 1,
			"primary", r->shards[i].primary, "window_ms", r->shards[i].window_ms,
			"errors", (json_int_t)r->shards[i].errors));
	json_object_set_new(doc, "unavailable_ms", json_real(r->unavailable_ms));
	json_object_set_new(doc, "shards", shards);
	if (r->check_writes) {
		json_object_set_new(doc, "acked_writes", json_integer((json_int_t)r->acked_writes));
		json_object_set_new(doc, "verified", json_integer((json_int_t)r->verified));
		json_object_set_new(doc, "lost", json_integer((json_int_t)r->lost));
		json_object_set_new(doc, "unverifiable", json_integer((json_int_t)r->unverifiable));
	}
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
}

/* The options of 'hotfix load' as given, before they are read. */
struct load_args {
	const char *cluster, *rate, *seconds, *requests, *clients, *pipeline, *keys,
		   *value_size, *read_ratio, *check_pause, *profile;
	int check_writes;
};

/* An option read into an int: past 10000 it reads as 10001, which
 * hf_load_opts_check() refuses with its range, rather than wrap. */
static int opt_count(const char *name, const char *s, int *out, struct hf_err *err)
{
	long v;
	int rc = hf_opt_int(name, s, &v, err);

	if (!rc)
		*out = v > 10000 ? 10001 : (int)v;
	return rc;
}

/* Read the options given, 'a', into 'o' over the defaults, and check
 * them together. */
static int read_opts(const struct load_args *a, const struct hf_ctx *ctx,
		     struct hf_load_opts *o, struct hf_load_mix *mix, struct hf_err *err)
{
	double share[HF_LOAD_NOPS];
	long v;
	int rc;

	hf_load_opts_init(o);
	o->timeout_ms = ctx->timeout_ms;
	if (a->profile && (rc = hf_profile_read(a->profile, o, mix, err)))
		return rc;
	if (a->profile && hf_load_mix_effective(mix, 0, share))
		o->mix = mix;
	if (a->rate && (rc = hf_opt_int("rate", a->rate, &o->rate, err)))
		return rc;
	if (a->seconds && (rc = opt_double("seconds", a->seconds, &o->seconds, err)))
		return rc;
	if (a->requests) {
		if ((rc = hf_opt_int("requests", a->requests, &v, err)))
			return rc;
		o->requests = v;
	}
	if (a->clients && (rc = opt_count("clients", a->clients, &o->clients, err)))
		return rc;
	if (a->pipeline && (rc = opt_count("pipeline", a->pipeline, &o->pipeline, err)))
		return rc;
	if (a->keys && (rc = hf_opt_int("keys", a->keys, &o->keys, err)))
		return rc;
	if (a->value_size && (rc = hf_opt_int("value-size", a->value_size, &o->value_size, err)))
		return rc;
	if (a->read_ratio && (rc = opt_double("read-ratio", a->read_ratio, &o->read_ratio, err)))
		return rc;
	o->check_writes = a->check_writes;
	if (a->check_pause &&
	    (rc = hf_opt_int("check-pause-ms", a->check_pause, &o->check_pause_ms, err)))
		return rc;
	return hf_load_opts_check(o, err);
}

int cmd_load(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct load_args a = {0};
	const char *pos[1];
	const struct hf_opt opts[] = {
		{ "cluster", &a.cluster, NULL },   { "rate", &a.rate, NULL },
		{ "seconds", &a.seconds, NULL },   { "requests", &a.requests, NULL },
		{ "clients", &a.clients, NULL },   { "pipeline", &a.pipeline, NULL },
		{ "keys", &a.keys, NULL },         { "value-size", &a.value_size, NULL },
		{ "read-ratio", &a.read_ratio, NULL }, { "check-writes", NULL, &a.check_writes },
		{ "check-pause-ms", &a.check_pause, NULL }, { "profile", &a.profile, NULL },
		{ 0 },
	};
	struct hf_load_opts o;
	struct hf_load_mix mix = {0};
	struct hf_load_report r;
	struct hf_uri uri = {0};
	volatile sig_atomic_t *interrupted = NULL;
	char *redacted = NULL;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 0, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	rc = read_opts(&a, ctx, &o, &mix, err);
	if (!rc)
		rc = hf_cmd_cluster_uri(ctx, a.cluster, &uri, err);
	if (rc)
		goto out;
	if (o.mix && !ctx->json && !ctx->quiet)
		print_replay(&o);

	hf_cmd_catch_signals(&interrupted);
	o.stop = interrupted;
	rc = hf_load_run(&uri, &o, &r, err);
	if (rc)
		goto out;
	redacted = hf_uri_redacted(&uri);
	if (ctx->json)
		print_json(&r, &o, redacted);
	else if (!ctx->quiet)
		print_text(&r, &o, redacted);
	hf_load_report_release(&r);
out:
	free(redacted);
	hf_uri_release(&uri);
	hf_load_mix_release(&mix);
	return rc;
}
