/* 'hotfix stage --from URI': a local mirror of a cluster (a sandbox with
 * the source's shards, replicas, slot layout, configuration, function
 * libraries, ACL users and a sample of its keys) plus the source's
 * workload profile in D/profile.json. Reading the source and copying is
 * src/engine/redis/stage.c; the processes are src/sandbox's. This file
 * parses options, writes the profile and prints. */
#include "cmd/cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/redis/profile.h"
#include "engine/redis/redis.h"
#include "engine/redis/stage.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/misc.h"

static const char usage[] =
	"usage: hotfix stage --from URI [--sample P%|N] [--dir D] [--base-port P]\n"
	"                    [--redis-server PATH] [--netns]\n"
	"A local mirror of the cluster at URI: real redis-server processes (a sandbox)\n"
	"with its number of shards and replicas, its slot ranges per shard, its\n"
	"configuration (CONFIG GET *, less host-specific parameters, which are listed),\n"
	"its function libraries, its ACL users (password hashes copied as hashes) and\n"
	"a sample of its keys (DUMP/RESTORE with their expiry, into the same slots).\n"
	"The source is only read. Writes the workload profile to D/profile.json for\n"
	"'hotfix load --profile'. Prints the mirror's seed URI on its last line;\n"
	"'hotfix sandbox down --dir D' stops it.\n"
	"  --from URI          the source (credentials as for --cluster)\n"
	"  --sample P%|N       P percent of each primary's keys, picked by a hash of\n"
	"                      the key name (the same keys every run), or the first N\n"
	"                      keys SCAN gives on each primary (default 1%)\n"
	"  --dir D             the mirror's directory (default <state>/sandbox, where\n"
	"                      the other commands find it without --cluster)\n"
	"  --base-port P       its first port (default 21001)\n"
	"  --redis-server PATH the server binary (default $HOTFIX_REDIS_SERVER, else\n"
	"                      redis-server from PATH); its version is compared with\n"
	"                      the source's\n"
	"  --netns             each node of the mirror in a network namespace of its\n"
	"                      own (see 'hotfix sandbox --help'), for drills that cut\n"
	"                      a node off ('partition')\n";

struct args {
	const char *from, *sample, *dir, *base_port, *redis_server;
	int netns;
};

static int parse_sample(const char *s, struct hf_stage_sample *out, struct hf_err *err)
{
	char *end;
	double v;

	memset(out, 0, sizeof(*out));
	if (!s) {
		out->share = 0.01;
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v > 0) || (*end && strcmp(end, "%")))
		return hf_err_set(err, HF_EINVAL, "option '--sample': '%s' is neither P%% nor a count", s);
	if (*end) {
		if (v > 100)
			return hf_err_set(err, HF_EINVAL, "option '--sample': %s is over 100%%", s);
		out->share = v / 100.0;
	} else if (v != (double)(long long)v) {
		return hf_err_set(err, HF_EINVAL, "option '--sample': a count of keys is whole: '%s'", s);
	} else {
		out->per_primary = (long long)v;
	}
	return 0;
}

/* ---- the profile --------------------------------------------------- */

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* min, percentiles, max and mean of 'n' sizes (sorted in place). */
static json_t *distribution(long long *v, size_t n)
{
	static const struct { const char *name; double q; } qs[] = {
		{ "p10", 0.10 }, { "p25", 0.25 }, { "p50", 0.50 }, { "p75", 0.75 },
		{ "p90", 0.90 }, { "p99", 0.99 },
	};
	json_t *o = json_object();
	long double sum = 0;
	size_t i;

	if (!n)
		return o;
	qsort(v, n, sizeof(*v), cmp_ll);
	for (i = 0; i < n; i++)
		sum += v[i];
	json_object_set_new(o, "min", json_integer(v[0]));
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		json_object_set_new(o, qs[i].name, json_integer(v[(size_t)(qs[i].q * (double)(n - 1))]));
	json_object_set_new(o, "max", json_integer(v[n - 1]));
	json_object_set_new(o, "mean", json_real((double)(sum / n)));
	return o;
}

/* Commands that read or write keys but are no application's traffic:
 * tooling (a copy, a migration, a scan), administration and whole-database
 * commands; a "container|sub" is judged by its container. */
static int admin_command(const char *name)
{
	static const char *const names[] = {
		"scan", "keys", "dump", "restore", "restore-asking", "migrate", "move", "select",
		"swapdb", "flushdb", "flushall", "dbsize", "randomkey", "object", "memory", "debug",
		"config", "acl", "client", "cluster", "function", "script", "command", "info",
		"slowlog", "latency", "module", "pfdebug", "pfselftest", "lastsave", "role",
		NULL,
	};
	size_t len = strcspn(name, "|"), i;

	for (i = 0; names[i]; i++)
		if (strlen(names[i]) == len && !strncasecmp(names[i], name, len))
			return 1;
	return 0;
}

/* Is 'c' application traffic, part of the profile's mix? Reads and writes
 * of keys (COMMAND INFO's flags) less admin_command(), and scripts, whose
 * flags say nothing of what they do. */
static int data_command(const struct hf_stage_cmdstat *c)
{
	static const char *const scripts[] = {
		"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", NULL,
	};
	size_t i;

	for (i = 0; scripts[i]; i++)
		if (!strcasecmp(c->name, scripts[i]))
			return 1;
	return (c->kind == 'r' || c->kind == 'w') && !admin_command(c->name);
}

/* The calls of 'c' the profile counts: the primaries', and the replicas'
 * reads (a replica's writes are its primary's, replicated). */
static long long counted_calls(const struct hf_stage_cmdstat *c)
{
	return c->calls + (c->kind == 'r' ? c->replica_calls : 0);
}

/* Totals over the commands: every call counted, the data commands' calls,
 * their reads and writes, the replicas' calls and their data reads. */
struct call_totals {
	long long all, data, reads, writes, primary_all, primary_data, replica_all, replica_reads;
};

static void call_totals(const struct hf_stage_source *s, struct call_totals *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < s->ncmds; i++) {
		const struct hf_stage_cmdstat *c = &s->cmds[i];
		long long n = counted_calls(c);

		t->all += n;
		t->primary_all += c->calls;
		t->replica_all += c->replica_calls;
		if (!data_command(c))
			continue;
		t->data += n;
		t->primary_data += c->calls;
		t->reads += c->kind == 'r' ? n : 0;
		t->writes += c->kind == 'w' ? n : 0;
		t->replica_reads += c->kind == 'r' ? c->replica_calls : 0;
	}
}

static json_t *commands_json(const struct hf_stage_source *s, const struct call_totals *t)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < s->ncmds; i++) {
		const struct hf_stage_cmdstat *c = &s->cmds[i];

		json_object_set_new(o, c->name, json_pack("{s:I,s:I,s:f,s:s,s:b}",
			"calls", (json_int_t)counted_calls(c), "replica_calls", (json_int_t)c->replica_calls,
			"share", t->all ? (double)counted_calls(c) / (double)t->all : 0.0,
			"kind", c->kind == 'r' ? "read" : c->kind == 'w' ? "write" : "other",
			"data", data_command(c)));
	}
	return o;
}

/* The share of each data command among the data commands' calls. */
static json_t *mix_json(const struct hf_stage_source *s, const struct call_totals *t)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < s->ncmds && t->data; i++)
		if (data_command(&s->cmds[i]) && counted_calls(&s->cmds[i]))
			json_object_set_new(o, s->cmds[i].name,
					    json_real((double)counted_calls(&s->cmds[i]) / (double)t->data));
	return o;
}

/* The rate of data commands: the primaries' ops/s times the data share of
 * their calls, plus the replicas' ops/s times the share of data reads in
 * theirs (the rest of a replica's calls are the writes it replicates). */
static double data_rate(const struct hf_stage_source *s, const struct call_totals *t)
{
	double rate = 0, replica_ops = s->ops_per_sec - s->ops_primaries;

	if (t->primary_all > 0)
		rate += s->ops_primaries * (double)t->primary_data / (double)t->primary_all;
	if (t->replica_all > 0 && replica_ops > 0)
		rate += replica_ops * (double)t->replica_reads / (double)t->replica_all;
	return rate;
}


/* The sizes of the copied keys of type 'type': name lengths, DUMP lengths,
 * lengths (bytes of a string, elements of the others) and, for the
 * others, the size of one element of each (a hash's value), or where
 * none could be read, the DUMP length per element. */
static json_t *type_json(const struct hf_stage_copy *cp, int type, long long *buf)
{
	long long *key = buf, *val = buf + cp->nsizes, *len = buf + 2 * cp->nsizes,
		  *elem = buf + 3 * cp->nsizes;
	size_t i, n = 0, nl = 0;
	json_t *o;

	for (i = 0; i < cp->nsizes; i++) {
		if (cp->type_of[i] != type)
			continue;
		key[n] = cp->key_sizes[i];
		val[n++] = cp->value_sizes[i];
		if (cp->lengths[i] < 0)
			continue;
		len[nl] = cp->lengths[i];
		elem[nl++] = cp->elem_sizes[i] >= 0 ? cp->elem_sizes[i] : cp->lengths[i] > 0 ?
			     (cp->value_sizes[i] - HF_DUMP_FRAMING) / cp->lengths[i] : 0;
	}
	o = json_pack("{s:f,s:I,s:o,s:o}", "share", (double)n / (double)cp->nsizes,
		      "keys", (json_int_t)n, "key_size", distribution(key, n),
		      "value_size", distribution(val, n));
	if (nl)
		json_object_set_new(o, "length", distribution(len, nl));
	if (nl && type != HF_STAGE_STRING)
		json_object_set_new(o, "element_size", distribution(elem, nl));
	return o;
}

static json_t *by_type_json(const struct hf_stage_copy *cp)
{
	long long *buf = hf_xcalloc(4 * cp->nsizes + 1, sizeof(*buf));
	json_t *o = json_object();
	int i;

	for (i = 0; i < HF_STAGE_NTYPES; i++)
		if (cp->types[i])
			json_object_set_new(o, hf_stage_type_names[i], type_json(cp, i, buf));
	free(buf);
	return o;
}

static json_t *profile_json(const struct hf_stage_source *s, struct hf_stage_copy *cp,
			    const char *source)
{
	json_t *doc = json_object(), *types = json_object(), *keys;
	struct call_totals t;
	int i;

	call_totals(s, &t);
	json_object_set_new(doc, "format", json_string("hotfix-profile/2"));
	json_object_set_new(doc, "source", json_string(source));
	json_object_set_new(doc, "source_version", json_string(s->version));
	json_object_set_new(doc, "taken_at_ms", json_integer(hf_wall_ms()));
	json_object_set_new(doc, "shards", json_integer(s->shards));
	json_object_set_new(doc, "replicas", json_integer(s->replicas));
	json_object_set_new(doc, "request_rate", json_real(s->ops_per_sec));
	json_object_set_new(doc, "data_rate", json_real(data_rate(s, &t)));
	json_object_set_new(doc, "commands", commands_json(s, &t));
	json_object_set_new(doc, "mix", mix_json(s, &t));
	json_object_set_new(doc, "read_share", json_real(t.reads + t.writes ?
		(double)t.reads / (double)(t.reads + t.writes) : 0.5));
	for (i = 0; i < HF_STAGE_NTYPES; i++)
		json_object_set_new(types, hf_stage_type_names[i],
				    json_real(cp->copied ? (double)cp->types[i] / (double)cp->nsizes : 0.0));
	keys = json_pack("{s:I,s:I,s:o,s:o}", "source_total", (json_int_t)s->keys,
			 "sampled", (json_int_t)cp->nsizes, "types", types, "by_type", by_type_json(cp));
	/* Last: distribution() sorts the arrays in place. */
	json_object_set_new(keys, "key_size", distribution(cp->key_sizes, cp->nsizes));
	json_object_set_new(keys, "value_size", distribution(cp->value_sizes, cp->nsizes));
	json_object_set_new(doc, "keys", keys);
	return doc;
}

static int write_profile(const char *dir, json_t *doc, char **path, struct hf_err *err)
{
	*path = hf_xasprintf("%s/profile.json", dir);
	if (json_dump_file(doc, *path, JSON_INDENT(2)))
		return hf_err_set(err, HF_ERR, "cannot write '%s'", *path);
	return 0;
}

/* ---- the report ---------------------------------------------------- */

static void print_skips(const char *title, const struct hf_stage_skips *k)
{
	size_t i;

	if (!k->n)
		return;
	printf("%s (%zu):\n", title, k->n);
	for (i = 0; i < k->n; i++)
		printf("  %-28s %s\n", k->v[i].what, k->v[i].why);
}

static void print_report(const struct hf_stage_source *s, const struct hf_stage_setup *su,
			 const struct hf_stage_copy *cp, const char *local_version)
{
	char rate[64];

	printf("shards      %d primar%s, %d replica%s each%s, the source's slot ranges\n", s->shards,
	       s->shards == 1 ? "y" : "ies", s->replicas, s->replicas == 1 ? "" : "s",
	       s->uneven ? " (the source's shards differ: the most any has)" : "");
	if (!local_version[0])
		printf("version     source %s; the local redis-server's is unknown\n", s->version);
	else if (strcmp(local_version, s->version))
		printf("version     source %s, mirror %s: NOT the same server version\n", s->version,
		       local_version);
	else
		printf("version     %s, as the source\n", s->version);
	printf("config      %zu parameter%s set, %zu already the source's, %zu refused, %zu left out\n",
	       su->cfg_set, su->cfg_set == 1 ? "" : "s", su->cfg_same, su->refused.n, s->excluded.n);
	printf("functions   %zu librar%s\n", su->libraries, su->libraries == 1 ? "y" : "ies");
	printf("users       %zu ACL user%s (password hashes as hashes)\n", su->users, su->users == 1 ? "" : "s");
	snprintf(rate, sizeof(rate), "%.0f", cp->seconds > 0 ? (double)cp->copied / cp->seconds : 0.0);
	printf("keys        %lld copied of %lld scanned (source: %lld) in %.3f s, %s keys/s",
	       cp->copied, cp->scanned, s->keys, cp->seconds, rate);
	if (cp->gone)
		printf("; %lld gone before their DUMP", cp->gone);
	printf("\n");
	if (cp->failed)
		printf("not copied  %lld key%s the mirror refused; the first: %s\n", cp->failed,
		       cp->failed == 1 ? "" : "s", cp->first_error);
	print_skips("left out (host-specific or the sandbox's own)", &s->excluded);
	print_skips("refused by the mirror (not copied)", &su->refused);
}

/* ---- the command --------------------------------------------------- */

static int mirror_up(const struct args *a, const char *dir, const struct hf_stage_source *s,
		     const struct hf_uri *src, char **seed, struct hf_err *err)
{
	struct hf_sandbox_opts o = { .dir = dir, .redis_server = a->redis_server,
				     .netns = a->netns };
	long port = 0;
	int rc;

	if (a->base_port && (rc = hf_opt_int("base-port", a->base_port, &port, err)))
		return rc;
	o.base_port = (int)port;
	o.shards = s->shards;
	o.replicas = s->replicas;
	o.standalone = !s->c->cluster_mode;
	/* The source's password serves the mirror's default user: the
	 * default user's hash is copied from the source anyway. */
	o.password = src->user ? NULL : src->password;
	if (s->c->cluster_mode) {
		o.ranges = (const int *const *)s->ranges;
		o.nranges = s->nranges;
	}
	return hf_sandbox_up(&o, seed, err);
}

/* Settings, data, users into the mirror at 'seed'; then the profile. */
static int fill_mirror(const char *dir, const struct hf_stage_source *s, const char *seed,
		       const struct hf_stage_sample *sample, struct hf_ctx *ctx,
		       struct hf_stage_setup *su, struct hf_stage_copy *cp, const char *source,
		       struct hf_err *err)
{
	struct hf_uri m = {0};
	char *path = NULL;
	json_t *doc;
	int rc;

	if ((rc = hf_uri_parse(seed, &m, err)))
		return rc;
	if (!(rc = hf_stage_setup(s, &m, ctx->timeout_ms, su, err)) &&
	    !(rc = hf_stage_data(s, &m, sample, ctx->timeout_ms, cp, err)))
		rc = hf_stage_acl(s, &m, ctx->timeout_ms, su, err);
	hf_uri_release(&m);
	if (rc)
		return rc;
	doc = profile_json(s, cp, source);
	rc = write_profile(dir, doc, &path, err);
	json_decref(doc);
	if (!rc && !ctx->quiet && !ctx->json)
		printf("profile     %s\n", path);
	free(path);
	return rc;
}

static int stage(const struct args *a, const char *dir, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_stage_sample sample;
	struct hf_stage_source s = {0};
	struct hf_stage_setup su = {0};
	struct hf_stage_copy cp = {0};
	struct hf_uri src = {0};
	char *seed = NULL, *source = NULL, local[32] = "";
	int rc;

	if ((rc = parse_sample(a->sample, &sample, err)) || (rc = hf_uri_parse(a->from, &src, err)))
		return rc;
	source = hf_uri_redacted(&src);
	if ((rc = hf_stage_read(&src, ctx->timeout_ms, ctx->converge_ms, &s, err)))
		goto out;
	if (hf_sandbox_server_version(a->redis_server, local, sizeof(local)))
		local[0] = 0;
	if ((rc = mirror_up(a, dir, &s, &src, &seed, err)))
		goto out;
	rc = fill_mirror(dir, &s, seed, &sample, ctx, &su, &cp, source, err);
	if (!ctx->quiet && !ctx->json)
		print_report(&s, &su, &cp, local);
	if (rc) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		hf_err_set(err, rc, "%s (the mirror in %s is up but incomplete: 'hotfix sandbox down --dir %s')",
			   why, dir, dir);
		goto out;
	}
	puts(seed);
out:
	hf_stage_source_release(&s);
	hf_stage_skips_release(&su.refused);
	hf_stage_copy_release(&cp);
	hf_uri_release(&src);
	free(source);
	free(seed);
	return rc;
}

int cmd_stage(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct args a = {0};
	const struct hf_opt opts[] = {
		{ "from", &a.from, NULL },
		{ "sample", &a.sample, NULL },
		{ "dir", &a.dir, NULL },
		{ "base-port", &a.base_port, NULL },
		{ "redis-server", &a.redis_server, NULL },
		{ "netns", NULL, &a.netns },
		{ NULL, NULL, NULL },
	};
	const char *pos[1];
	char *dir;
	int npos = 0, help = 0, rc;

	if ((rc = hf_opts_parse(argc, argv, opts, pos, 0, &npos, &help, err)))
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	if (!a.from)
		return hf_err_set(err, HF_EINVAL, "stage: '--from URI' is required (see 'hotfix stage --help')");
	dir = a.dir ? hf_xstrdup(a.dir) : hf_sandbox_default_dir(ctx->state_dir);
	if (!dir || !*dir) {
		free(dir);
		return hf_err_set(err, HF_EINVAL, "stage: no state directory (use --state or --dir)");
	}
	rc = stage(&a, dir, ctx, err);
	free(dir);
	return rc;
}
