/* 'hotfix flag watch|status': a client of the flags in a cluster, and who
 * applied which version (issue 12). watch is built on libhotfix-flags'
 * public API alone, as any application would be; status reads the flag
 * store. The evaluator's commands are in flag.c. */
#include "cmd/cmd.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/flagstore.h"
#include "hotfix/flags.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/misc.h"

#define STALE_DEFAULT_MS 5000L

static const char usage[] =
	"usage: hotfix flag watch KEY --cluster URI [--context JSON] [--stale MS] [--poll MS]\n"
	"       hotfix flag status [KEY] --cluster URI [--stale MS] [--prune MS] [--json]\n"
	"\n"
	"  watch   a client of the cluster's flags (libhotfix-flags): prints\n"
	"          'version N value V' (V as JSON) at start and whenever the\n"
	"          version or the value of KEY for the context changes, and\n"
	"          acknowledges every version like any client; ends on Ctrl-C\n"
	"          or SIGTERM. --stale: STALE after MS without news (5000)\n"
	"  status  the version published, and each client: the version it\n"
	"          applied, when, the delay from publish to apply (p50/p99 over\n"
	"          the clients on the current version); the clients not seen for\n"
	"          --stale MS (5000) and those that did not acknowledge it;\n"
	"          --prune: first forget the clients not seen for MS\n";

void hf_cmd_flag_client_usage(FILE *f)
{
	fputs("\n", f);
	fputs(usage, f);
}

/* The cluster as every command finds it: --cluster, else $HOTFIX_CLUSTER,
 * else the sandbox of the state directory when it is up. The library
 * parses the URI itself, so it is kept as text. Caller frees. */
static char *cluster_of(struct hf_ctx *ctx, const char *given, struct hf_err *err)
{
	const char *env = getenv("HOTFIX_CLUSTER");
	char *dir, *seed = NULL;

	if (given)
		return hf_xstrdup(given);
	if (env && *env)
		return hf_xstrdup(env);
	dir = hf_sandbox_default_dir(ctx->state_dir);
	if (!dir || hf_sandbox_seed(dir, &seed, NULL))
		hf_err_set(err, HF_EINVAL, "no cluster given: use --cluster redis://host:port "
			   "(or start a sandbox with 'hotfix sandbox up')");
	free(dir);
	return seed;
}

/* ---- watch ------------------------------------------------------------------ */

static int watch_loop(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *x,
		      volatile sig_atomic_t *stop)
{
	char value[4096], last[4096] = "";
	long long shown = 0;

	while (!*stop) {
		struct hf_flags_details d;
		long long v = hf_flags_wait(c, shown, 200);

		if (v == 0)
			continue;
		hf_flags_json(c, key, x, value, sizeof(value), &d);
		if (d.version != shown || strcmp(value, last)) {
			printf("version %lld value %s\n", d.version, value);
			fflush(stdout);
			shown = d.version;
			snprintf(last, sizeof(last), "%s", value);
		}
	}
	return 0;
}

/* Watch 'key' on the cluster at 'uri' until SIGINT or SIGTERM. */
static int watch(const char *uri, const char *key, const char *context, const char *stale,
		 const char *poll, struct hf_err *err)
{
	struct hf_flags_options o;
	struct hf_flags_client *c = NULL;
	struct hf_flags_ctx *x = NULL;
	volatile sig_atomic_t *stop;
	char why[512];
	long n;
	int rc = 0;

	hf_flags_options_init(&o);
	o.uri = uri;
	if (stale && (rc = hf_opt_int("stale", stale, &n, err)))
		return rc;
	if (stale)
		o.stale_ms = n;
	if (poll && (rc = hf_opt_int("poll", poll, &n, err)))
		return rc;
	if (poll)
		o.poll_ms = n;
	x = context ? hf_flags_ctx_from_json(context, why, sizeof(why)) : hf_flags_ctx_new();
	if (!x)
		return hf_err_set(err, HF_EINVAL, "cannot use --context: %s", why);
	/* Caught before the client starts: a SIGTERM at any moment ends the
	 * watch with exit 0 (the client's thread blocks signals, they come
	 * to this one). */
	hf_cmd_catch_signals(&stop);
	if (hf_flags_client_new(&o, &c, why, sizeof(why))) {
		hf_flags_ctx_free(x);
		return hf_err_set(err, HF_EINVAL, "cannot watch: %s", why);
	}
	rc = watch_loop(c, key, x, stop);
	hf_flags_client_free(c);
	hf_flags_ctx_free(x);
	return rc;
}

static int flag_watch(struct hf_ctx *hctx, const char *key, const char *cluster,
		      const char *context, const char *stale, const char *poll, struct hf_err *err)
{
	char *uri = cluster_of(hctx, cluster, err);
	int rc;

	if (!uri)
		return HF_EINVAL;
	rc = watch(uri, key, context, stale, poll, err);
	free(uri);
	return rc;
}

/* ---- status ------------------------------------------------------------------- */

struct census {
	struct hf_flagstate st;
	struct hf_flagclient *c;
	size_t n;
	long long now_ms, stale_ms;
	long long *delays;        /* of the clients on the current version, sorted */
	size_t ndelays;
	long long *published;     /* per client: when its version was published, 0: unknown */
};

/* A client's delay from publish to apply, or -1 when it is not known. */
static long long delay_of(const struct census *s, size_t i)
{
	if (!s->c[i].applied_version || !s->published[i])
		return -1;
	return s->c[i].applied_ms - s->published[i];
}

static int by_value(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile 'p' of the sorted delays. */
static long long percentile(const struct census *s, double p)
{
	size_t rank;

	if (!s->ndelays)
		return 0;
	rank = (size_t)(p / 100.0 * (double)s->ndelays + 0.999999);
	return s->delays[(rank ? rank : 1) - 1];
}

static int is_stale(const struct census *s, const struct hf_flagclient *c)
{
	return s->now_ms - c->seen_ms > s->stale_ms;
}

static int acked(const struct census *s, const struct hf_flagclient *c)
{
	return s->st.version && c->applied_version >= s->st.version;
}

static json_t *client_json(const struct census *s, size_t i)
{
	const struct hf_flagclient *c = &s->c[i];
	long long delay = delay_of(s, i);
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:b, s:b}", "id", c->id,
			      "host", c->host, "pid", (json_int_t)c->pid, "lib", c->lib,
			      "started_ms", (json_int_t)c->started_ms, "seen_ms",
			      (json_int_t)c->seen_ms, "applied_version",
			      (json_int_t)c->applied_version, "applied_ms",
			      (json_int_t)c->applied_ms, "stale", is_stale(s, c), "acknowledged",
			      acked(s, c));

	json_object_set_new(o, "delay_ms", delay >= 0 ? json_integer(delay) : json_null());
	return o;
}

static void status_json(const struct census *s, const char *key, json_t *flag)
{
	json_t *root = json_object(), *cl = json_array(), *stale = json_array(),
	       *unacked = json_array();
	char *text;
	size_t i;

	for (i = 0; i < s->n; i++) {
		json_array_append_new(cl, client_json(s, i));
		if (is_stale(s, &s->c[i]))
			json_array_append_new(stale, json_string(s->c[i].id));
		if (!acked(s, &s->c[i]))
			json_array_append_new(unacked, json_string(s->c[i].id));
	}
	json_object_set_new(root, "version", json_integer(s->st.version));
	json_object_set_new(root, "published_ms", json_integer(s->st.published_ms));
	json_object_set_new(root, "run", json_string(s->st.run));
	if (key)
		json_object_set_new(root, "flag", flag ? json_incref(flag) : json_null());
	json_object_set_new(root, "stale_after_ms", json_integer(s->stale_ms));
	json_object_set_new(root, "clients", cl);
	json_object_set_new(root, "acknowledged", json_integer((json_int_t)s->ndelays));
	json_object_set_new(root, "p50_ms", s->ndelays ? json_integer(percentile(s, 50)) : json_null());
	json_object_set_new(root, "p99_ms", s->ndelays ? json_integer(percentile(s, 99)) : json_null());
	json_object_set_new(root, "stale", stale);
	json_object_set_new(root, "not_acknowledged", unacked);
	text = json_dumps(root, JSON_INDENT(2));
	puts(text);
	free(text);
	json_decref(root);
}

/* The names of the clients for which 'pred' holds, comma-separated. */
static void print_names(const struct census *s, const char *what,
			int (*pred)(const struct census *, const struct hf_flagclient *), int want)
{
	size_t i, k = 0;

	for (i = 0; i < s->n; i++)
		if (pred(s, &s->c[i]) == want)
			printf("%s%s", k++ ? ", " : what, s->c[i].id);
	if (k)
		printf("\n");
}

static void status_text(const struct census *s, const char *key, json_t *flag)
{
	char when[32], seen[32];
	size_t i;

	if (!s->st.version) {
		printf("no flag document published\n");
	} else {
		hf_fmt_time(s->st.published_ms, when, sizeof(when));
		printf("version %lld, published %s UTC%s%s\n", s->st.version, when,
		       *s->st.run ? " by run " : "", s->st.run);
	}
	if (key) {
		char *f = flag ? json_dumps(flag, JSON_COMPACT) : NULL;

		printf("flag %s: %s\n", key, f ? f : "not in the document");
		free(f);
	}
	printf("\n%-36s %-6s %-8s %-10s %8s %10s\n", "CLIENT", "LIB", "SEEN", "APPLIED",
	       "DELAY", "STATE");
	for (i = 0; i < s->n; i++) {
		const struct hf_flagclient *c = &s->c[i];
		char delay[32] = "-", applied[32] = "-";

		hf_fmt_duration(s->now_ms - c->seen_ms, seen, sizeof(seen));
		if (c->applied_version)
			snprintf(applied, sizeof(applied), "v%lld", c->applied_version);
		if (delay_of(s, i) >= 0)
			snprintf(delay, sizeof(delay), "%lld ms", delay_of(s, i));
		printf("%-36s %-6s %-8s %-10s %8s %10s\n", c->id, c->lib, seen, applied, delay,
		       is_stale(s, c) ? "stale" : acked(s, c) ? "current" : "behind");
	}
	printf("\n%zu client(s), %zu on the current version", s->n, s->ndelays);
	if (s->ndelays)
		printf(": delay p50 %lld ms, p99 %lld ms", percentile(s, 50), percentile(s, 99));
	printf("\n");
	print_names(s, "stale: ", is_stale, 1);
	print_names(s, "not acknowledged: ", acked, 0);
}

/* Read the store; with 'prune' >= 0, first forget the clients not seen
 * for that many ms. */
static int census_load(struct census *s, const char *cluster, long timeout_ms, long prune,
		       struct hf_err *err)
{
	struct hf_uri uri = {0};
	struct hf_flagstore *st = NULL;
	size_t i, pruned;
	int rc;

	if ((rc = hf_uri_parse(cluster, &uri, err)) ||
	    (rc = hf_flagstore_open(&uri, timeout_ms, &st, err)) ||
	    (prune >= 0 && (rc = hf_flagstore_prune(st, hf_wall_ms() - prune, &pruned, err))) ||
	    (rc = hf_flagstore_read(st, &s->st, err)) ||
	    (rc = hf_flagstore_clients(st, &s->c, &s->n, err)))
		goto out;
	s->now_ms = hf_wall_ms();
	s->delays = hf_xcalloc(s->n + 1, sizeof(*s->delays));
	s->published = hf_xcalloc(s->n + 1, sizeof(*s->published));
	for (i = 0; !rc && i < s->n; i++) {
		long long v = s->c[i].applied_version;

		if (v && v == s->st.version)
			s->published[i] = s->st.published_ms;
		else if (v && (rc = hf_flagstore_published(st, v, &s->published[i], err)))
			break;
		if (v && v == s->st.version)
			s->delays[s->ndelays++] = s->c[i].applied_ms - s->st.published_ms;
	}
	qsort(s->delays, s->ndelays, sizeof(*s->delays), by_value);
out:
	hf_flagstore_close(st);
	hf_uri_release(&uri);
	return rc;
}

static int flag_status(struct hf_ctx *hctx, const char *key, const char *cluster,
		       const char *stale, const char *prune, struct hf_err *err)
{
	struct census s = { .stale_ms = STALE_DEFAULT_MS };
	json_t *doc = NULL, *flag = NULL;
	long n, prune_ms = -1;
	char *uri = cluster_of(hctx, cluster, err);
	int rc = 0;

	if (!uri)
		return HF_EINVAL;
	if (stale && !(rc = hf_opt_int("stale", stale, &n, err)))
		s.stale_ms = n;
	if (!rc && prune && !(rc = hf_opt_int("prune", prune, &n, err)))
		prune_ms = n;
	if (rc || (rc = census_load(&s, uri, hctx->timeout_ms, prune_ms, err)))
		goto out;
	if (key && s.st.doc) {
		doc = json_loads(s.st.doc, 0, NULL);
		flag = json_object_get(json_object_get(doc, "flags"), key);
	}
	if (hctx->json)
		status_json(&s, key, flag);
	else
		status_text(&s, key, flag);
out:
	json_decref(doc);
	free(uri);
	free(s.delays);
	free(s.published);
	hf_flagclients_free(s.c, s.n);
	hf_flagstate_release(&s.st);
	return rc;
}

int hf_cmd_flag_client(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *cluster = NULL, *context = NULL, *stale = NULL, *poll = NULL, *prune = NULL,
		   *pos[3];
	const struct hf_opt opts[] = { { "cluster", &cluster, NULL }, { "context", &context, NULL },
				       { "stale", &stale, NULL }, { "poll", &poll, NULL },
				       { "prune", &prune, NULL }, { 0 } };
	int npos, help, rc;

	if ((rc = hf_opts_parse(argc, argv, opts, pos, 3, &npos, &help, err)))
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(pos[0], "watch")) {
		if (npos != 2)
			return hf_err_set(err, HF_EINVAL, "flag watch needs one KEY");
		return flag_watch(ctx, pos[1], cluster, context, stale, poll, err);
	}
	if (npos > 2)
		return hf_err_set(err, HF_EINVAL, "flag status takes at most one KEY");
	return flag_status(ctx, npos == 2 ? pos[1] : NULL, cluster, stale, prune, err);
}
