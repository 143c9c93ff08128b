/* 'hotfix flag': feature flags in flagd's format (issue 12), one group of
 * commands in one file. validate, eval and preview run the evaluator
 * (src/flags/) on files; watch and status are a client of the flags in a
 * cluster (watch is built on libhotfix-flags' public API alone, as any
 * application would be; status reads the flag store); set and kill
 * publish flags as runs of a manifest of inline 'flag' changes (so a
 * journaled run never depends on a file that may be gone at resume),
 * journaled, verified by the clients' acknowledgements and undone by
 * 'hotfix rollback RUN'. */
#include "cmd/cmd.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"
#include "engine/redis/flagstore.h"
#include "engine/redis/redis.h"
#include "flags/flags.h"
#include "hotfix/flags.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/misc.h"

/* ---- watch, status: a client of the cluster's flags ------------------- */

#define STALE_DEFAULT_MS 5000L

static const char usage_client[] =
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

static void flag_client_usage(FILE *f)
{
	fputs("\n", f);
	fputs(usage_client, f);
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

static int flag_client(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
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
		fputs(usage_client, stdout);
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

/* ---- set, kill: flags published as runs ------------------------------- */

static const char usage_publish[] =
	"usage: hotfix flag set FILE --cluster URI [--yes] [--json] [-q]\n"
	"                       [--approval FILE]... [--emergency --reason TEXT]\n"
	"       hotfix flag kill KEY --cluster URI [--reason TEXT] [--yes] [--json] [-q]\n"
	"\n"
	"  set   publish every flag of FILE (checked strictly first: FILE:LINE:COL,\n"
	"        exit 2, nothing published) as a run: journaled, verified when the\n"
	"        live clients acknowledged it, undone by 'hotfix rollback RUN'\n"
	"  kill  publish a version in which every context gets flag KEY's off variant\n"
	"        (metadata.killVariant, else 'off', else its defaultVariant), its\n"
	"        targeting removed; verified when every live client acknowledged it\n"
	"Both refuse without --yes when there is no terminal to ask on.\n"
	"Under a policy (--policy, $HOTFIX_POLICY; --sign-key KEY says who): 'set'\n"
	"follows apply's rules (approvals: 'hotfix approve --flag-set FILE'; windows;\n"
	"--emergency); 'kill' needs an operator and --reason, and waits for no\n"
	"approval and no window. Both are audited.\n";

static void flag_publish_usage(FILE *f)
{
	fputs(usage_publish, f);
}

static char *json_text(const json_t *j)
{
	return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The head of a generated manifest: one wave, no guard (a flag change is
 * verified by its clients; a kill switch must not wait for a baseline). */
static void manifest_head(struct hf_buf *b, const char *name, const char *problem)
{
	json_t *p = json_string(problem);
	char *q = json_text(p);

	hf_buf_printf(b, "apiVersion: hotfix/v1\nkind: Hotfix\nmetadata:\n  name: %s\n"
		      "  version: 1\n  owner: hotfix-flag\n  problem: %s\nspec:\n  changes:\n",
		      name, q);
	free(q);
	json_decref(p);
}

static void manifest_tail(struct hf_buf *b)
{
	hf_buf_printf(b, "  rollout:\n    waves:\n      - nodes: 100%%\n  guard: none\n");
}

/* One change: flag 'key' set to 'def' (JSON, which YAML reads as flow). */
static void manifest_change(struct hf_buf *b, const char *key, const json_t *def,
			    const json_t *evaluators)
{
	json_t *k = json_string(key);
	char *ks = json_text(k), *ds = json_text(def), *es = NULL;

	if (evaluators && json_object_size(evaluators))
		es = json_text(evaluators);
	hf_buf_printf(b, "    - flag: {key: %s, definition: %s%s%s}\n", ks, ds,
		      es ? ", evaluators: " : "", es ? es : "");
	free(ks);
	free(ds);
	free(es);
	json_decref(k);
}

/* Parse the generated text as a manifest named 'label'. */
static int generated(const char *label, const struct hf_buf *b, struct hf_manifest **m,
		     struct hf_err *err)
{
	return hf_manifest_parse(label, b->s, b->len, m, err);
}

int hf_cmd_flag_set_manifest(const char *file, struct hf_manifest **m, struct hf_err *err)
{
	struct hf_flagdoc *fd = NULL;
	struct hf_buf b = {0};
	json_t *doc = NULL, *flags, *def;
	const char *key, *base = strrchr(file, '/');
	char *canon = NULL, *problem;
	int rc;

	/* Strict, as 'flag validate': FILE:LINE:COL, exit 2, nothing published. */
	if ((rc = hf_flagdoc_load(file, 0, &fd, err)))
		return rc;
	canon = hf_flagdoc_json(fd);
	doc = json_loads(canon, 0, NULL);
	flags = json_object_get(doc, "flags");
	if (!json_object_size(flags)) {
		rc = hf_err_set(err, HF_EINVAL, "%s: no flag to set", file);
		goto out;
	}
	/* Nothing of who makes it or where the file lies: the author's and
	 * the approver's manifests are the same bytes (issue 13). */
	problem = hf_xasprintf("hotfix flag set %s", base ? base + 1 : file);
	manifest_head(&b, "flag-set", problem);
	free(problem);
	json_object_foreach(flags, key, def)
		manifest_change(&b, key, def, json_object_get(doc, "$evaluators"));
	manifest_tail(&b);
	rc = generated(file, &b, m, err);
out:
	hf_buf_release(&b);
	json_decref(doc);
	free(canon);
	hf_flagdoc_unref(fd);
	return rc;
}

static int flag_set(struct hf_ctx *ctx, const char *file, const struct hf_apply_opts *o,
		    struct hf_err *err)
{
	struct hf_manifest *m = NULL;
	int rc = hf_cmd_flag_set_manifest(file, &m, err);

	return rc ? rc : hf_cmd_apply_manifest(ctx, m, o, err);
}

/* The variant a kill gives every context: metadata.killVariant, else one
 * named 'off', else the default variant; NULL when the flag has none. */
static const char *off_variant(const json_t *def)
{
	const json_t *variants = json_object_get(def, "variants");
	const char *kv = json_string_value(json_object_get(json_object_get(def, "metadata"),
							   "killVariant"));

	if (kv && json_object_get(variants, kv))
		return kv;
	if (json_object_get(variants, "off"))
		return "off";
	return json_string_value(json_object_get(def, "defaultVariant"));
}

/* Flag 'key' as the store holds it now, killed: into '*out' (caller
 * decrefs). */
static int killed_def(struct hf_ctx *ctx, const char *cluster, const char *key, json_t **out,
		      struct hf_err *err)
{
	struct hf_uri uri = {0};
	struct hf_flagstore *s = NULL;
	struct hf_flagstate st = {0};
	json_t *doc = NULL, *def;
	const char *off;
	int rc;

	if ((rc = hf_cmd_cluster_uri(ctx, cluster, &uri, err)) ||
	    (rc = hf_flagstore_open(&uri, ctx->timeout_ms, &s, err)) ||
	    (rc = hf_flagstore_read(s, &st, err)))
		goto out;
	doc = st.doc ? json_loads(st.doc, 0, NULL) : NULL;
	def = json_object_get(json_object_get(doc, "flags"), key);
	if (!def) {
		rc = hf_err_set(err, HF_EINVAL, "no flag '%s' in the flag store (version %lld)", key,
				st.version);
		goto out;
	}
	if (!(off = off_variant(def))) {
		rc = hf_err_set(err, HF_EINVAL, "flag '%s' has no off variant: no "
				"metadata.killVariant, no variant 'off' and no defaultVariant", key);
		goto out;
	}
	def = json_deep_copy(def);
	json_object_set_new(def, "defaultVariant", json_string(off));
	json_object_set_new(def, "state", json_string("ENABLED"));
	json_object_del(def, "targeting");
	*out = def;
out:
	json_decref(doc);
	hf_flagstate_release(&st);
	hf_flagstore_close(s);
	hf_uri_release(&uri);
	return rc;
}

static int flag_kill(struct hf_ctx *ctx, const char *key, const char *reason,
		     const struct hf_apply_opts *o, struct hf_err *err)
{
	struct hf_manifest *m = NULL;
	struct hf_buf b = {0};
	json_t *def = NULL;
	char *problem;
	int rc;

	if ((rc = killed_def(ctx, o->cluster, key, &def, err)))
		return rc;
	problem = hf_xasprintf("hotfix flag kill %s%s%s", key, reason ? ": " : "",
			       reason ? reason : "");
	manifest_head(&b, "flag-kill", problem);
	free(problem);
	manifest_change(&b, key, def, NULL);
	manifest_tail(&b);
	if (!(rc = generated("flag-kill", &b, &m, err)))
		rc = hf_cmd_apply_manifest(ctx, m, o, err);
	hf_buf_release(&b);
	json_decref(def);
	return rc;
}

static int flag_publish(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct hf_apply_opts o = {0};
	const char *pos[2];
	const struct hf_opt opts[] = { { "cluster", &o.cluster, NULL }, { "yes", NULL, &o.yes },
				       { "reason", &o.reason, NULL },
				       { "emergency", NULL, &o.emergency }, { 0 } };
	int npos, help, rc;

	rc = hf_opts_take_list(&argc, argv, "approval", &o.approvals, err);
	if (!rc)
		rc = hf_opts_parse(argc, argv, opts, pos, 2, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage_publish, stdout);
		return 0;
	}
	if (npos < 2) {
		fputs(usage_publish, stderr);
		return hf_err_set(err, HF_EINVAL, "flag %s needs a %s", pos[0],
				  !strcmp(pos[0], "set") ? "FILE" : "KEY");
	}
	if (!strcmp(pos[0], "set")) {
		if (o.reason && !o.emergency)
			return hf_err_set(err, HF_EINVAL, "flag set: --reason goes with --emergency "
					  "(or with kill)");
		if (o.emergency && (!o.reason || !*o.reason))
			return hf_err_set(err, HF_EINVAL, "flag set: --emergency needs --reason TEXT");
		return flag_set(ctx, pos[1], &o, err);
	}
	/* The kill switch waits for nobody: no approval, no window. */
	if (o.approvals.n || o.emergency)
		return hf_err_set(err, HF_EINVAL, "flag kill needs no %s: it is the kill switch, "
				  "an operator's without approvals or windows",
				  o.emergency ? "--emergency" : "--approval");
	o.kill_switch = 1;
	return flag_kill(ctx, pos[1], o.reason, &o, err);
}

/* ---- validate, eval, preview, and the group ---------------------------- */

static const char usage[] =
	"usage: hotfix flag validate FILE\n"
	"       hotfix flag eval FILE --contexts CONTEXTS.jsonl\n"
	"       hotfix flag preview FILE --contexts CONTEXTS.jsonl [--against OLD]\n"
	"\n"
	"Feature flags in flagd's format (JSON or YAML): flags with variants, a\n"
	"default variant and JSONLogic targeting (fractional, sem_ver, starts_with,\n"
	"ends_with and the json-logic operators), evaluated as flagd does; and\n"
	"'slot', hotfix's own (a key's Redis Cluster hash slot; flagd has none).\n"
	"\n"
	"  validate  check FILE strictly: exit 0, or 2 with FILE:LINE:COL on stderr\n"
	"            (syntax, fields, unknown variants, operators, arguments, $ref)\n"
	"  eval      evaluate every flag of FILE (in file order) for each context of\n"
	"            CONTEXTS (one JSON object per line, with targetingKey and any\n"
	"            attributes); one JSON line per context and flag:\n"
	"            {\"context\": N, \"key\": K, \"value\": V, \"variant\": NAME,\n"
	"             \"reason\": R} (and \"error_code\" when R is ERROR); a rule that\n"
	"            does not compile is loaded as flagd loads it (PARSE_ERROR)\n"
	"  preview   which contexts get another value from FILE than from OLD\n"
	"            (--against; default: each flag's defaultVariant in FILE): one\n"
	"            line per flip and a summary per flag; --json: JSON lines\n";

/* A value's JSON text, kept per value (the values of a document never
 * move), so that a line costs no JSON encoding. */
struct vcache {
	const void *ptr;
	char *json;
};

struct printer {
	struct vcache *v;
	size_t n, cap;
};

static const char *cached_json(struct printer *p, const void *ptr, int is_str)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ptr == ptr)
			return p->v[i].json;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = hf_xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].ptr = ptr;
	if (is_str) {
		json_t *s = json_string(ptr);

		p->v[p->n].json = json_dumps(s, JSON_ENCODE_ANY);
		json_decref(s);
	} else {
		p->v[p->n].json = hf_fv_json(ptr);
	}
	return p->v[p->n++].json;
}

static void printer_free(struct printer *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].json);
	free(p->v);
}

/* One context line: a JSON object, or CONTEXTS:LINE:COL. */
static int read_context(const char *path, long lineno, const char *line, size_t len,
			struct hf_flagctx_owned *c, struct hf_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(line, len, 0, &je);
	int rc;

	if (!j)
		return hf_err_set(err, HF_EINVAL, "%s:%ld:%d: invalid context: %s", path, lineno,
				  je.column > 0 ? je.column : 1, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return hf_err_set(err, HF_EINVAL, "%s:%ld:1: a context must be a JSON object", path,
				  lineno);
	}
	rc = hf_flagctx_from_json(j, c, err);
	json_decref(j);
	return rc;
}

static int blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

typedef int (*ctx_fn)(void *ud, long n, const struct hf_flagctx *ctx, struct hf_err *err);

/* Call 'fn' for each context of file 'path' with its line number;
 * blank lines are skipped (and counted). */
static int each_context(const char *path, ctx_fn fn, void *ud, struct hf_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n = 0;
	int rc = 0;

	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path, strerror(errno));
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		struct hf_flagctx_owned c;

		n++;
		if (blank(line, (size_t)len))
			continue;
		rc = read_context(path, n, line, (size_t)len, &c, err);
		if (!rc) {
			rc = fn(ud, n, &c.ctx, err);
			hf_flagctx_release(&c);
		}
	}
	free(line);
	fclose(f);
	return rc;
}

struct eval_run {
	const struct hf_flagdoc *doc;
	struct printer p;
	char **keys;              /* each flag's key as JSON */
	char scratch[HF_FLAGS_SCRATCH];
};

static int eval_one(void *ud, long n, const struct hf_flagctx *ctx, struct hf_err *err)
{
	struct eval_run *r = ud;
	struct hf_flagarena arena = { r->scratch, sizeof(r->scratch), 0 };
	size_t i;

	(void)err;
	for (i = 0; i < hf_flagdoc_count(r->doc); i++) {
		const struct hf_flag *f = hf_flagdoc_at(r->doc, i);
		struct hf_flagresult res;

		hf_flag_eval(f, ctx, hf_flag_type(f), &arena, &res);
		printf("{\"context\":%ld,\"key\":%s,\"value\":%s,\"variant\":%s,\"reason\":\"%s\"", n,
		       r->keys[i], res.value ? cached_json(&r->p, res.value, 0) : "null",
		       res.variant ? cached_json(&r->p, res.variant, 1) : "null",
		       hf_flag_reason_name(res.reason));
		if (res.reason == HF_REASON_ERROR)
			printf(",\"error_code\":\"%s\"", hf_flag_errcode_name(res.error));
		fputs("}\n", stdout);
	}
	return 0;
}

static int flag_eval(const char *file, const char *contexts, struct hf_err *err)
{
	struct eval_run r = {0};
	struct hf_flagdoc *doc;
	size_t i, n;
	int rc;

	if (!contexts)
		return hf_err_set(err, HF_EINVAL, "flag eval needs --contexts FILE");
	if ((rc = hf_flagdoc_load(file, HF_FLAGDOC_LENIENT, &doc, err)))
		return rc;
	r.doc = doc;
	n = hf_flagdoc_count(doc);
	r.keys = hf_xcalloc(n ? n : 1, sizeof(*r.keys));
	for (i = 0; i < n; i++)
		r.keys[i] = hf_xstrdup(cached_json(&r.p, hf_flag_key(hf_flagdoc_at(doc, i)), 1));
	/* Millions of lines: one write per buffer, not per line. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	rc = each_context(contexts, eval_one, &r, err);
	fflush(stdout);
	for (i = 0; i < n; i++)
		free(r.keys[i]);
	free(r.keys);
	printer_free(&r.p);
	hf_flagdoc_unref(doc);
	return rc;
}

struct preview_run {
	const struct hf_flagdoc *doc, *old;
	struct printer p;
	struct hf_ctx *hctx;
	long *flips;              /* per flag of 'doc' */
	long contexts;
	char scratch[HF_FLAGS_SCRATCH];
};

/* The JSON text of 'f's value for 'ctx', "null" when it has none. */
static const char *value_text(struct preview_run *r, const struct hf_flag *f,
			      const struct hf_flagctx *ctx)
{
	struct hf_flagarena arena = { r->scratch, sizeof(r->scratch), 0 };
	struct hf_flagresult res;

	if (!f)
		return "null";
	hf_flag_eval(f, ctx, hf_flag_type(f), &arena, &res);
	return res.value ? cached_json(&r->p, res.value, 0) : "null";
}

/* The baseline without --against: the flag's default variant, what it
 * serves without its targeting; a disabled flag serves none either way. */
static const char *default_text(struct preview_run *r, const struct hf_flag *f)
{
	const char *d = hf_flag_enabled(f) ? hf_flag_default_variant(f) : NULL;
	const struct hf_fv *v = d ? hf_flag_variant(f, d, strlen(d)) : NULL;

	return v ? cached_json(&r->p, v, 0) : "null";
}

static int preview_one(void *ud, long n, const struct hf_flagctx *ctx, struct hf_err *err)
{
	struct preview_run *r = ud;
	size_t i;

	(void)err;
	r->contexts++;
	for (i = 0; i < hf_flagdoc_count(r->doc); i++) {
		const struct hf_flag *f = hf_flagdoc_at(r->doc, i);
		const char *key = hf_flag_key(f), *now = value_text(r, f, ctx), *before;

		before = r->old ? value_text(r, hf_flagdoc_find(r->old, key, strlen(key)), ctx)
				: default_text(r, f);
		if (!strcmp(before, now))
			continue;
		r->flips[i]++;
		if (r->hctx->json)
			printf("{\"context\":%ld,\"key\":%s,\"before\":%s,\"after\":%s}\n", n,
			       cached_json(&r->p, key, 1), before, now);
		else if (!r->hctx->quiet)
			printf("context %-6ld %-24s %s -> %s\n", n, key, before, now);
	}
	return 0;
}

static void preview_summary(struct preview_run *r, const char *against)
{
	size_t i, n = hf_flagdoc_count(r->doc);
	long total = 0;

	for (i = 0; i < n; i++)
		total += r->flips[i];
	if (r->hctx->json) {
		printf("{\"summary\":{\"contexts\":%ld,\"flags\":%zu,\"flips\":%ld}}\n", r->contexts, n,
		       total);
		return;
	}
	printf("%ld flip(s) over %ld context(s) and %zu flag(s), against %s\n", total, r->contexts, n,
	       against ? against : "each flag's defaultVariant");
	for (i = 0; i < n; i++)
		if (r->flips[i])
			printf("  %-24s %ld of %ld contexts (%.2f%%)\n",
			       hf_flag_key(hf_flagdoc_at(r->doc, i)), r->flips[i], r->contexts,
			       100.0 * (double)r->flips[i] / (double)r->contexts);
}

static int flag_preview(struct hf_ctx *hctx, const char *file, const char *contexts,
			const char *against, struct hf_err *err)
{
	struct preview_run r = { .hctx = hctx };
	struct hf_flagdoc *doc = NULL, *old = NULL;
	int rc;

	if (!contexts)
		return hf_err_set(err, HF_EINVAL, "flag preview needs --contexts FILE");
	if ((rc = hf_flagdoc_load(file, HF_FLAGDOC_LENIENT, &doc, err)) ||
	    (against && (rc = hf_flagdoc_load(against, HF_FLAGDOC_LENIENT, &old, err))))
		goto out;
	r.doc = doc;
	r.old = old;
	r.flips = hf_xcalloc(hf_flagdoc_count(doc) + 1, sizeof(*r.flips));
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	rc = each_context(contexts, preview_one, &r, err);
	if (!rc)
		preview_summary(&r, against);
	fflush(stdout);
out:
	free(r.flips);
	printer_free(&r.p);
	hf_flagdoc_unref(old);
	hf_flagdoc_unref(doc);
	return rc;
}

static int flag_validate(struct hf_ctx *hctx, const char *file, struct hf_err *err)
{
	struct hf_flagdoc *doc;
	size_t i, n, disabled = 0;
	int rc = hf_flagdoc_load(file, 0, &doc, err);

	if (rc)
		return rc;
	n = hf_flagdoc_count(doc);
	for (i = 0; i < n; i++)
		disabled += !hf_flag_enabled(hf_flagdoc_at(doc, i));
	if (hctx->json)
		printf("{\"valid\":true,\"flags\":%zu,\"disabled\":%zu}\n", n, disabled);
	else if (!hctx->quiet)
		printf("%s: valid: %zu flag(s), %zu disabled\n", file, n, disabled);
	hf_flagdoc_unref(doc);
	return 0;
}

int cmd_flag(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *contexts = NULL, *against = NULL, *pos[2];
	const struct hf_opt opts[] = { { "contexts", &contexts, NULL }, { "against", &against, NULL },
				       { 0 } };
	int npos, help, rc;

	/* The cluster's clients have options of their own (below). */
	if (argc > 1 && (!strcmp(argv[1], "watch") || !strcmp(argv[1], "status")))
		return flag_client(argc, argv, ctx, err);
	if (argc > 1 && (!strcmp(argv[1], "set") || !strcmp(argv[1], "kill")))
		return flag_publish(argc, argv, ctx, err);
	rc = hf_opts_parse(argc, argv, opts, pos, 2, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		flag_client_usage(stdout);
		flag_publish_usage(stdout);
		return 0;
	}
	if (npos < 2) {
		fputs(usage, stderr);
		return hf_err_set(err, HF_EINVAL, "flag needs a subcommand and a FILE");
	}
	if (!strcmp(pos[0], "validate"))
		return flag_validate(ctx, pos[1], err);
	if (!strcmp(pos[0], "eval"))
		return flag_eval(pos[1], contexts, err);
	if (!strcmp(pos[0], "preview"))
		return flag_preview(ctx, pos[1], contexts, against, err);
	return hf_err_set(err, HF_EINVAL, "'%s' is not a flag subcommand (validate, eval, preview)",
			  pos[0]);
}
