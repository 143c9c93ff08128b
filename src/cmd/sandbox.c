/* 'hotfix sandbox up|down|status': local clusters of real redis-server
 * processes for trying hotfixes. The work is in src/sandbox/; this file
 * parses options and prints. */
#include "cmd/cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/redis/redis.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/misc.h"

static const char usage[] =
	"usage: hotfix sandbox up [--shards N] [--replicas R] [--base-port P] [--dir D]\n"
	"                         [--password PASS] [--standalone] [--redis-server PATH]\n"
	"                         [--tls] [--ipv6] [--netns]\n"
	"       hotfix sandbox down [--dir D]\n"
	"       hotfix sandbox status [--dir D]\n"
	"\n"
	"  up      start N primaries with R replicas each (default 3 x 1) on ports\n"
	"          P, P+1, ... (default 21001; bus ports P+10000, ...) and wait until\n"
	"          the cluster is ready (how far it got on stderr; 60 s at most up to\n"
	"          100 nodes, 0.5 s more per node); prints the seed URI on its last line\n"
	"  down    stop the sandbox's processes and remove its directory\n"
	"  status  list the nodes; exit 1 unless every node is up\n"
	"\n"
	"  --dir D             where the sandbox lives (default <state>/sandbox)\n"
	"  --standalone        one primary with R replicas, no cluster mode\n"
	"  --password PASS     requirepass/masterauth for every node\n"
	"  --redis-server PATH the server binary (default $HOTFIX_REDIS_SERVER,\n"
	"                      else redis-server from PATH)\n"
	"  --tls               TLS only (rediss://), with a CA and certificates of the\n"
	"                      sandbox's own in D/tls; commands that find the sandbox\n"
	"                      in the state directory use them\n"
	"  --ipv6              listen on ::1 as well as on 127.0.0.1\n"
	"  --netns             each node in a network namespace of its own, on\n"
	"                      10.251.N.1 and up behind a bridge of this host's, so\n"
	"                      that a drill can cut one off ('partition'); needs\n"
	"                      root (CAP_NET_ADMIN) and iproute2\n";

struct args {
	const char *shards, *replicas, *base_port, *dir, *password, *redis_server;
	int standalone, tls, ipv6, netns;
};

/* The seed URI without its password, for printing. Caller frees. */
static char *redact(const char *seed)
{
	struct hf_uri u;
	char *s;

	if (hf_uri_parse(seed, &u, NULL))
		return hf_xstrdup("?");
	s = hf_uri_redacted(&u);
	hf_uri_release(&u);
	return s;
}

static json_t *nodes_json(const struct hf_sandbox_node *nodes, size_t n, int with_state)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "host", json_string(nodes[i].host));
		json_object_set_new(o, "port", json_integer(nodes[i].port));
		json_object_set_new(o, "pid", json_integer(nodes[i].pid));
		json_object_set_new(o, "shard", json_integer(nodes[i].shard));
		json_object_set_new(o, "role", nodes[i].role[0] ? json_string(nodes[i].role) : json_null());
		if (with_state)
			json_object_set_new(o, "state", json_string(hf_sandbox_state_name(nodes[i].state)));
		json_array_append_new(a, o);
	}
	return a;
}

static void print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2));

	puts(s);
	free(s);
	json_decref(doc);
}

static void print_table(const struct hf_sandbox_node *nodes, size_t n)
{
	size_t i;

	printf("  %-15s %-6s %-8s %-6s %-14s %s\n", "HOST", "PORT", "PID", "SHARD", "STATE", "ROLE");
	for (i = 0; i < n; i++)
		printf("  %-15s %-6d %-8d %-6d %-14s %s\n", nodes[i].host, nodes[i].port, nodes[i].pid,
		       nodes[i].shard,
		       hf_sandbox_state_name(nodes[i].state), nodes[i].role[0] ? nodes[i].role : "-");
}

/* The progress line of 'up' on stderr. Nothing during its first second,
 * which is all a small sandbox takes; then on a terminal one line redrawn
 * in place, off a terminal a plain line when the phase changes or is
 * complete, and at most every PROGRESS_EVERY_MS while it stays. -v prints
 * every phase from the start. */
#define PROGRESS_QUIET_MS 1000
#define PROGRESS_REDRAW_MS 100
#define PROGRESS_EVERY_MS 5000

struct progress {
	int tty, verbose;
	int drawn;                    /* a line is on the terminal, to clear */
	int phase;                    /* of the last line shown, -1 for none */
	size_t done, synced;          /* its counts */
	long long shown_ms;           /* when (elapsed) it was shown */
	char line[192];
};

static void progress_text(const struct hf_sandbox_progress *p, char *out, size_t len)
{
	long long s = p->elapsed_ms / 1000, limit = p->timeout_ms / 1000;

	switch (p->phase) {
	case HF_SANDBOX_PHASE_START:
		snprintf(out, len, "sandbox: %zu/%zu nodes answer (%lld s of at most %lld s)", p->done,
			 p->total, s, limit);
		break;
	case HF_SANDBOX_PHASE_ATTACH:
		snprintf(out, len, "sandbox: %zu/%zu replicas know their primary (%lld s of at most %lld s)",
			 p->done, p->total, s, limit);
		break;
	default:
		if (p->replicas)
			snprintf(out, len, "sandbox: %zu/%zu nodes agree on the topology, %zu/%zu replicas "
				 "in sync (%lld s of at most %lld s)", p->done, p->total, p->synced,
				 p->replicas, s, limit);
		else
			snprintf(out, len, "sandbox: %zu/%zu nodes agree on the topology (%lld s of at most "
				 "%lld s)", p->done, p->total, s, limit);
	}
}

static void show_progress(const struct hf_sandbox_progress *p, void *ud)
{
	struct progress *pr = ud;
	char line[sizeof(pr->line)];
	int complete = p->done == p->total &&
		       (p->phase != HF_SANDBOX_PHASE_AGREE || p->synced == p->replicas);
	/* A phase that just completed is worth a line of its own, once. */
	int changed = (int)p->phase != pr->phase ||
		      (complete && (p->done != pr->done || p->synced != pr->synced));

	if (!pr->verbose && p->elapsed_ms < PROGRESS_QUIET_MS)
		return;
	progress_text(p, line, sizeof(line));
	if (pr->tty) {
		if (!strcmp(line, pr->line) ||
		    (!changed && p->elapsed_ms - pr->shown_ms < PROGRESS_REDRAW_MS))
			return;
		fprintf(stderr, "\r\033[K%s", line);
		pr->drawn = 1;
	} else {
		if (!changed && p->elapsed_ms - pr->shown_ms < PROGRESS_EVERY_MS)
			return;
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
	snprintf(pr->line, sizeof(pr->line), "%s", line);
	pr->phase = (int)p->phase;
	pr->done = p->done;
	pr->synced = p->synced;
	pr->shown_ms = p->elapsed_ms;
}

/* The terminal's progress line goes away before the result is printed. */
static void progress_done(struct progress *pr)
{
	if (pr->drawn)
		fputs("\r\033[K", stderr);
	pr->drawn = 0;
}

static int parse_count(const char *name, const char *s, long min, long max, int *out,
		       struct hf_err *err)
{
	long v;
	int rc;

	if (!s)
		return 0;
	if ((rc = hf_opt_int(name, s, &v, err)))
		return rc;
	if (v < min || v > max)
		return hf_err_set(err, HF_EINVAL, "option '--%s': %ld is out of range (%ld-%ld)",
				  name, v, min, max);
	*out = (int)v;
	return 0;
}

static int sandbox_up(const char *dir, const struct args *a, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_sandbox_opts o = { .replicas = -1, .dir = dir };
	struct progress pr = { .tty = isatty(STDERR_FILENO), .verbose = ctx->verbose, .phase = -1 };
	struct hf_sandbox_node *nodes = NULL;
	size_t n = 0;
	char *seed = NULL, took[32];
	const char *mode = NULL;
	long long t0 = hf_mono_ms();
	int rc;

	if ((rc = parse_count("shards", a->shards, 1, 16384, &o.shards, err)) ||
	    (rc = parse_count("replicas", a->replicas, 0, 100, &o.replicas, err)) ||
	    (rc = parse_count("base-port", a->base_port, 1024, 65535, &o.base_port, err)))
		return rc;
	o.password = a->password;
	o.standalone = a->standalone;
	o.tls = a->tls;
	o.ipv6 = a->ipv6;
	o.netns = a->netns;
	o.redis_server = a->redis_server;
	if (!ctx->quiet) {
		o.progress = show_progress;
		o.progress_ud = &pr;
	}
	rc = hf_sandbox_up(&o, &seed, err);
	progress_done(&pr);
	if (rc)
		return rc;
	hf_fmt_duration(hf_mono_ms() - t0, took, sizeof(took));
	/* The sandbox is up; a failure to describe it only costs the table. */
	if (hf_sandbox_status(dir, &nodes, &n, NULL, &mode, NULL))
		n = 0;
	if (ctx->json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "seed", json_string(seed));
		json_object_set_new(doc, "dir", json_string(dir));
		json_object_set_new(doc, "mode", json_string(mode ? mode : (o.standalone ? "standalone" : "cluster")));
		json_object_set_new(doc, "nodes", nodes_json(nodes, n, 0));
		print_json(doc);
	} else {
		if (!ctx->quiet) {
			size_t primaries = 0, i;

			for (i = 0; i < n; i++)
				primaries += !nodes[i].planned_replica;
			printf("sandbox up in %s: %zu primar%s, %zu replica%s, %s mode (%s)\n", dir,
			       primaries, primaries == 1 ? "y" : "ies", n - primaries,
			       n - primaries == 1 ? "" : "s", o.standalone ? "standalone" : "cluster", took);
			print_table(nodes, n);
		}
		puts(seed);
	}
	free(nodes);
	free(seed);
	return 0;
}

static int sandbox_down(const char *dir, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_sandbox_down_result res;
	int rc = hf_sandbox_down(dir, &res, err);

	if (rc)
		return rc;
	if (ctx->json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "dir", json_string(dir));
		json_object_set_new(doc, "found", json_boolean(res.found));
		json_object_set_new(doc, "stopped", json_integer(res.stopped));
		json_object_set_new(doc, "killed", json_integer(res.killed));
		json_object_set_new(doc, "gone", json_integer(res.gone));
		print_json(doc);
	} else if (!res.found) {
		printf("no sandbox in %s; nothing to stop\n", dir);
	} else if (!ctx->quiet) {
		printf("sandbox in %s is down: %d node%s stopped", dir, res.stopped + res.killed,
		       res.stopped + res.killed == 1 ? "" : "s");
		if (res.killed)
			printf(", %d with SIGKILL", res.killed);
		if (res.gone)
			printf(", %d already gone", res.gone);
		printf("\n");
	}
	return 0;
}

static int sandbox_status(const char *dir, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_sandbox_node *nodes = NULL;
	struct hf_buf bad = {0};
	size_t n = 0, i, nbad = 0;
	char *seed = NULL, *shown;
	const char *mode = NULL;
	int rc = hf_sandbox_status(dir, &nodes, &n, &seed, &mode, err);

	if (rc)
		return rc;
	shown = redact(seed);
	for (i = 0; i < n; i++) {
		if (nodes[i].state == HF_SANDBOX_NODE_UP)
			continue;
		hf_buf_printf(&bad, "%s%d (%s)", nbad ? ", " : "", nodes[i].port,
			      hf_sandbox_state_name(nodes[i].state));
		nbad++;
	}
	if (ctx->json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "dir", json_string(dir));
		json_object_set_new(doc, "mode", json_string(mode));
		json_object_set_new(doc, "seed", json_string(shown));
		json_object_set_new(doc, "up", json_boolean(!nbad));
		json_object_set_new(doc, "nodes", nodes_json(nodes, n, 1));
		print_json(doc);
	} else if (!ctx->quiet) {
		printf("sandbox in %s: %s mode, %zu node%s, seed %s%s\n", dir, mode, n,
		       n == 1 ? "" : "s", shown, strcmp(shown, seed) ? " (with password)" : "");
		print_table(nodes, n);
	}
	if (nbad)
		rc = hf_err_set(err, HF_ERR, "%zu of %zu sandbox nodes are not up: %s", nbad, n, bad.s);
	hf_buf_release(&bad);
	free(shown);
	free(seed);
	free(nodes);
	return rc;
}

int cmd_sandbox(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct args a = {0};
	const struct hf_opt opts[] = {
		{ "shards", &a.shards, NULL },
		{ "replicas", &a.replicas, NULL },
		{ "base-port", &a.base_port, NULL },
		{ "dir", &a.dir, NULL },
		{ "password", &a.password, NULL },
		{ "redis-server", &a.redis_server, NULL },
		{ "standalone", NULL, &a.standalone },
		{ "tls", NULL, &a.tls },
		{ "ipv6", NULL, &a.ipv6 },
		{ "netns", NULL, &a.netns },
		{ NULL, NULL, NULL },
	};
	const char *pos[1];
	char *dir = NULL;
	int npos = 0, help = 0, rc;

	if ((rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err)))
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	if (!npos)
		return hf_err_set(err, HF_EINVAL, "sandbox: say up, down or status (see 'hotfix sandbox --help')");
	if (strcmp(pos[0], "up") && strcmp(pos[0], "down") && strcmp(pos[0], "status"))
		return hf_err_set(err, HF_EINVAL, "sandbox: unknown subcommand '%s' (up, down or status)", pos[0]);
	if (strcmp(pos[0], "up") && (a.shards || a.replicas || a.base_port || a.password ||
				     a.redis_server || a.standalone || a.tls || a.ipv6 || a.netns))
		return hf_err_set(err, HF_EINVAL, "sandbox %s: only '--dir' applies (the others are for 'up')",
				  pos[0]);
	dir = a.dir ? hf_xstrdup(a.dir) : hf_sandbox_default_dir(ctx->state_dir);
	if (!dir || !*dir) {
		free(dir);
		return hf_err_set(err, HF_EINVAL, "sandbox: no state directory (use --state or --dir)");
	}
	if (!strcmp(pos[0], "up"))
		rc = sandbox_up(dir, &a, ctx, err);
	else if (!strcmp(pos[0], "down"))
		rc = sandbox_down(dir, ctx, err);
	else
		rc = sandbox_status(dir, ctx, err);
	free(dir);
	return rc;
}
