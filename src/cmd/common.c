/* Helpers shared by the subcommands: finding the cluster and the journal,
 * printing a plan. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/journal.h"
#include "core/manifest.h"
#include "core/plan.h"
#include "core/guard.h"
#include "core/rollout.h"
#include "engine/redis/redis.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/misc.h"

/* Is the TLS setting 'opt' given, on the command line or in 'env'? */
static int tls_given(const char *opt, const char *env)
{
	return (opt && *opt) || (getenv(env) && *getenv(env));
}

void hf_cmd_tls_setup(struct hf_ctx *ctx)
{
	struct hf_tls t = { .cacert = (char *)ctx->tls_cacert, .cert = (char *)ctx->tls_cert,
			    .key = (char *)ctx->tls_key, .sni = (char *)ctx->tls_sni,
			    .insecure = ctx->insecure };
	const char *env_insecure = getenv("HOTFIX_TLS_INSECURE");
	char *dir, *files[3] = { NULL, NULL, NULL };

	if (ctx->insecure || (env_insecure && !strcmp(env_insecure, "1")))
		fprintf(stderr, "hotfix: warning: %s: the servers' TLS certificates are not "
				"verified; anyone on the path can read and change what is sent\n",
			ctx->insecure ? "--insecure" : "HOTFIX_TLS_INSECURE=1");
	if (!tls_given(t.cacert, "HOTFIX_TLS_CACERT") && !tls_given(t.cert, "HOTFIX_TLS_CERT") &&
	    !tls_given(t.key, "HOTFIX_TLS_KEY")) {
		/* The sandbox's own CA and client certificate, when it has them. */
		dir = hf_sandbox_default_dir(ctx->state_dir);
		if (dir && !hf_sandbox_tls_files(dir, &files[0], &files[1], &files[2])) {
			t.cacert = files[0];
			t.cert = files[1];
			t.key = files[2];
		}
		free(dir);
	}
	/* Sessions are kept per user, with the journal (tlscache.c). */
	t.sessions = ctx->state_dir ? hf_xasprintf("%s/tls-sessions", ctx->state_dir) : NULL;
	hf_uri_tls_defaults(&t);
	free(t.sessions);
	free(files[0]);
	free(files[1]);
	free(files[2]);
}

int hf_cmd_cluster_uri(struct hf_ctx *ctx, const char *given, struct hf_uri *out,
		       struct hf_err *err)
{
	char *dir, *seed = NULL;
	int rc;

	if (given)
		return hf_uri_parse(given, out, err);
	if (getenv("HOTFIX_CLUSTER") && *getenv("HOTFIX_CLUSTER"))
		return hf_uri_parse(getenv("HOTFIX_CLUSTER"), out, err);
	dir = hf_sandbox_default_dir(ctx->state_dir);
	rc = hf_sandbox_seed(dir, &seed, NULL);
	free(dir);
	if (rc)
		return hf_err_set(err, HF_EINVAL, "no cluster given: use --cluster redis://host:port "
				  "(or start a sandbox with 'hotfix sandbox up')");
	rc = hf_uri_parse(seed, out, err);
	free(seed);
	return rc;
}

int hf_cmd_plan_for(struct hf_ctx *ctx, const struct hf_manifest *m, const char *cluster,
		    struct hf_cluster **c, struct hf_plan **p, struct hf_err *err)
{
	struct hf_uri uri = {0};
	int rc;

	/* Everything that can be refused without the cluster is refused first. */
	rc = hf_plan_precheck(m, err);
	if (!rc)
		rc = hf_cmd_cluster_uri(ctx, cluster, &uri, err);
	if (!rc)
		rc = hf_cluster_discover(&uri, ctx->timeout_ms, ctx->converge_ms, c, err);
	if (!rc) {
		hf_cluster_probe(*c);
		rc = hf_plan_build(m, *c, p, err);
	}
	hf_uri_release(&uri);
	return rc;
}

int hf_cmd_plan_load(struct hf_ctx *ctx, const char *file, const char *cluster,
		     struct hf_manifest **m, struct hf_cluster **c, struct hf_plan **p,
		     struct hf_err *err)
{
	int rc = hf_manifest_load(file, m, err);

	return rc ? rc : hf_cmd_plan_for(ctx, *m, cluster, c, p, err);
}

int hf_cmd_journal(struct hf_ctx *ctx, struct hf_journal **out, struct hf_err *err)
{
	return hf_journal_open(ctx->state_dir, out, err);
}

static const char *wave_nodes_label(const struct hf_manifest *m, size_t w, char *buf, size_t len)
{
	if (w >= m->nwaves)
		snprintf(buf, len, "the rest");
	else if (m->waves[w].is_percent)
		snprintf(buf, len, "%g%%", m->waves[w].percent);
	else
		snprintf(buf, len, "%ld", m->waves[w].count);
	return buf;
}

/* The plan's changes: each node that differs, with its differences. A
 * data hotfix ('data') lists each step of a primary with keys to change,
 * a node per step; other kinds each node once over its steps. */
static void print_plan_changes(FILE *f, const struct hf_cluster *c, const struct hf_plan *p,
			       int data)
{
	size_t i, k;

	fprintf(f, "changes (only nodes that differ: %zu of %zu):\n", p->ntargets, c->nnodes);
	for (i = 0; i < p->nsteps; i++) {
		const struct hf_plan_step *s = &p->steps[i];
		char addr[300];

		if (!s->ndiff && data)
			continue;
		if (!i || s->node != p->steps[i - 1].node || data) {
			snprintf(addr, sizeof(addr), "%s:%d", s->node->host, s->node->port);
			fprintf(f, "  %-21s %-7s  shard %-3d  %.12s\n", addr, hf_role_name(s->node->role),
				s->node->shard + 1, s->node->id);
		}
		for (k = 0; k < s->ndiff; k++)
			fprintf(f, "      %s\n", s->diff[k]);
	}
}

/* The plan's waves: a share of the keys of every primary for a data
 * hotfix ('data'), else how many nodes, and which. */
static void print_plan_waves(FILE *f, const struct hf_manifest *m, const struct hf_plan *p,
			     int data)
{
	char lbl[32], d[32];
	size_t i, w;

	if (data)
		fprintf(f, "\nwaves (a share of the selected keys on every primary at once):\n");
	else
		fprintf(f, "\nwaves (%s, at most one node per shard at a time):\n",
			hf_order_name(m->order));
	for (w = 0; w < p->nwaves; w++) {
		const struct hf_plan_wave *pw = &p->waves[w];

		hf_fmt_duration(pw->bake_ms, d, sizeof(d));
		if (data) {
			fprintf(f, "  wave %zu  keys: %-6s on %zu primar%s%s%s%s\n", w + 1,
				w < m->nwaves ? wave_nodes_label(m, w, lbl, sizeof(lbl)) : "100%",
				pw->nodes, pw->nodes == 1 ? "y" : "ies",
				pw->bake_ms ? ", then bake " : "", pw->bake_ms ? d : "",
				pw->implicit ? "  (added: the waves above stop short of every key)" : "");
			continue;
		}
		if (hf_manifest_ramps(m)) {
			double share = hf_manifest_ramp_share(m, (int)w + 1);

			if (share < 0)
				fprintf(f, "  wave %zu  node changes, in full (dark) -> %zu step(s)%s\n",
					w + 1, pw->nodes, pw->skipped ? "  (none: skipped)" : "");
			else
				fprintf(f, "  wave %zu  percent: %g%% of the traffic%s%s%s\n", w + 1,
					share, pw->bake_ms ? ", then bake " : "",
					pw->bake_ms ? d : "", pw->implicit ? "  (added: the ramps "
					"above stop short of 100%)" : "");
			continue;
		}
		fprintf(f, "  wave %zu  nodes: %-6s -> %zu node(s)%s%s%s\n", w + 1,
			wave_nodes_label(m, w, lbl, sizeof(lbl)), pw->nodes,
			pw->bake_ms ? ", then bake " : "", pw->bake_ms ? d : "",
			pw->skipped ? "  (no new node: skipped)" :
			pw->implicit ? "  (added: the waves above stop short of every target)" : "");
		for (i = 0; i < p->nsteps; i++) {
			const struct hf_plan_step *s = &p->steps[i];

			if (s->wave != (int)w + 1 || (i && s->node == p->steps[i - 1].node))
				continue;
			fprintf(f, "          %s:%d  %s, shard %d\n", s->node->host, s->node->port,
				hf_role_name(s->node->role), s->node->shard + 1);
		}
	}
}

/* The dependencies checked before the first wave and between waves. */
static void print_plan_preflight(FILE *f, const struct hf_manifest *m)
{
	size_t i;

	if (!m->npreflight)
		return;
	fprintf(f, "preflight: %zu check(s) before the first wave and between waves:\n",
		m->npreflight);
	for (i = 0; i < m->npreflight; i++) {
		const struct hf_preflight *pf = &m->preflight[i];

		if (pf->command)
			fprintf(f, "  %zu. `%s` exits 0\n", i + 1, pf->command);
		else
			fprintf(f, "  %zu. GET %s answers %ld%s%s%s\n", i + 1, pf->url, pf->status,
				pf->body ? " with '" : "", pf->body ? pf->body : "",
				pf->body ? "' in its body" : "");
	}
}

/* Snapshot readiness (S19): can each primary be restored from disk? From
 * what the plan read, 'p->persistence'. */
static void print_plan_persistence(FILE *f, const struct hf_manifest *m,
				   const struct hf_cluster *c, const struct hf_plan *p)
{
	const struct hf_persistence *ps = p->persistence;
	size_t n;

	fprintf(f, "\npersistence (snapshot: %s):\n", m->snapshot_required ?
		"required, a fresh BGSAVE on every primary before the first wave" : "check");
	for (n = 0; n < c->nnodes; n++) {
		char addr[300], age[32];

		if (c->nodes[n].role != HF_ROLE_PRIMARY)
			continue;
		snprintf(addr, sizeof(addr), "%s:%d", c->nodes[n].host, c->nodes[n].port);
		hf_fmt_duration(ps[n].rdb_age_s * 1000, age, sizeof(age));
		if (!ps[n].ok)
			fprintf(f, "  %-21s did not answer\n", addr);
		else if (ps[n].rdb_saves)
			fprintf(f, "  %-21s last snapshot %s, %s ago; AOF %s\n", addr,
				ps[n].rdb_ok ? "ok" : "FAILED", age,
				!ps[n].aof_enabled ? "off" : ps[n].aof_ok ? "on, ok" : "on, FAILING");
		else
			fprintf(f, "  %-21s no snapshot since the node started; AOF %s\n", addr,
				!ps[n].aof_enabled ? "off" : ps[n].aof_ok ? "on, ok" : "on, FAILING");
	}
}

void hf_cmd_print_plan(FILE *f, const struct hf_manifest *m, const struct hf_cluster *c,
		       const struct hf_plan *p)
{
	char *uri = hf_uri_redacted(&c->uri);
	int data = hf_manifest_over_keys(m);

	fprintf(f, "hotfix   %s v%ld  (sha256 %.12s)\n", m->name, m->version, m->sha256);
	fprintf(f, "owner    %s\n", m->owner);
	fprintf(f, "problem  %s\n", m->problem);
	fprintf(f, "cluster  %s  (%s, %d %s, %zu node(s))\n\n", uri,
		c->inventory ? "exec engine" : c->cluster_mode ? "cluster mode" :
		"primary with replicas", c->nshards, c->inventory ? "group(s)" : "shard(s)",
		c->nnodes);
	free(uri);
	if (!p->nsteps) {
		fprintf(f, "nothing to do: every node already holds the target values\n");
		return;
	}
	print_plan_changes(f, c, p, data);
	print_plan_waves(f, m, p, data);
	if (!c->inventory)   /* the exec engine cannot read it */
		print_plan_persistence(f, m, c, p);
	fprintf(f, "\nrollback possible: %s\n", p->rollback_note);
	fprintf(f, "guard: %s\n", p->guard_note);
	print_plan_preflight(f, m);
}

char *hf_cmd_plan_json(const struct hf_manifest *m, const struct hf_cluster *c,
		       const struct hf_plan *p)
{
	json_t *doc = json_object(), *steps = json_array(), *waves = json_array();
	char *uri = hf_uri_redacted(&c->uri), *s;
	size_t i, k;

	json_object_set_new(doc, "hotfix", json_string(m->name));
	json_object_set_new(doc, "version", json_integer(m->version));
	json_object_set_new(doc, "sha256", json_string(m->sha256));
	json_object_set_new(doc, "cluster", json_string(uri));
	json_object_set_new(doc, "targets", json_integer((json_int_t)p->ntargets));
	for (i = 0; i < p->nsteps; i++) {
		json_t *st = json_object(), *diff = json_array();
		const struct hf_plan_step *ps = &p->steps[i];

		json_object_set_new(st, "node", json_string(ps->node->id));
		json_object_set_new(st, "address", json_sprintf("%s:%d", ps->node->host, ps->node->port));
		json_object_set_new(st, "role", json_string(hf_role_name(ps->node->role)));
		json_object_set_new(st, "shard", json_integer(ps->node->shard + 1));
		json_object_set_new(st, "wave", json_integer(ps->wave));
		json_object_set_new(st, "change", json_integer(ps->change));
		for (k = 0; k < ps->ndiff; k++)
			json_array_append_new(diff, json_string(ps->diff[k]));
		json_object_set_new(st, "diff", diff);
		json_array_append_new(steps, st);
	}
	for (i = 0; i < p->nwaves; i++)
		json_array_append_new(waves, json_pack("{s:I,s:I,s:b,s:b}", "nodes",
						       (json_int_t)p->waves[i].nodes, "bake_ms",
						       (json_int_t)p->waves[i].bake_ms, "implicit",
						       p->waves[i].implicit, "skipped", p->waves[i].skipped));
	json_object_set_new(doc, "steps", steps);
	json_object_set_new(doc, "waves", waves);
	json_object_set_new(doc, "rollback_possible", json_boolean(p->rollback_possible));
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	free(uri);
	return s;
}

void hf_cmd_print_event(void *ud, const char *kind, const char *msg)
{
	static long long t0;
	struct hf_ctx *ctx = ud;
	FILE *f = ctx->json ? stderr : stdout;
	long long now = hf_mono_ms();

	if (ctx->quiet)
		return;
	if (!t0)
		t0 = now;
	fprintf(f, "[%7.2fs] %-8s %s\n", (double)(now - t0) / 1000.0, kind, msg);
	fflush(f);
}

/* Steps of one node follow each other; is step 'i' the first of its node? */
static int first_of_node(const struct hf_rollout *r, size_t i)
{
	return !i || strcmp(r->steps[i].node_id, r->steps[i - 1].node_id);
}

/* Print one line of at most 'width' - 1 columns: a wrapped line would
 * break the live view's redraw. */
static void line_out(FILE *f, int width, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void line_out(FILE *f, int width, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(f, "%.*s\n", width - 1, buf);
}

int hf_cmd_print_progress(FILE *f, struct hf_rollout *r, const char *verdict, int max_rows)
{
	size_t i, done = 0, nodes = 0, shown = 0;
	int wave = 0, waves = 0, lines = 0, k, width = 80, node_done = 1;
	struct winsize ws;
	char bar[21];

	if (!ioctl(fileno(f), TIOCGWINSZ, &ws) && ws.ws_col > 20)
		width = ws.ws_col;
	for (i = 0; i < r->nsteps; i++) {
		const struct hf_step *s = &r->steps[i];

		if (s->wave > waves)
			waves = s->wave;
		if (s->state > HF_STEP_PLANNED && s->wave > wave)
			wave = s->wave;
		if (first_of_node(r, i)) {
			nodes++;
			node_done = 1;
		}
		/* A node is done when every one of its steps is. */
		if (s->state != HF_STEP_VERIFIED && s->state != HF_STEP_REVERTED)
			node_done = 0;
		if (i + 1 == r->nsteps || first_of_node(r, i + 1))
			done += node_done;
	}
	for (k = 0; k < 20; k++)
		bar[k] = nodes && (size_t)k < done * 20 / nodes ? '#' : '.';
	bar[20] = '\0';
	line_out(f, width, "  wave %d/%d [%s] %zu/%zu node(s) %s", wave, waves, bar, done, nodes,
		 hf_run_state_name(r->run->state));
	lines++;
	if (max_rows >= 0) {
		line_out(f, width, "  %-21s %-7s %-5s %-10s %s", "NODE", "ROLE", "SHARD", "STEP", "HEALTH");
		lines++;
	}
	for (i = 0; max_rows >= 0 && i < r->nsteps; i++) {
		const struct hf_step *s = &r->steps[i];
		const char *health = "-";
		int seen = -1;

		if (!first_of_node(r, i))
			continue;
		if (max_rows && (int)shown >= max_rows) {
			line_out(f, width, "  ... %zu more node(s)", nodes - shown);
			lines++;
			break;
		}
		if (r->guard && r->node_of && r->c && r->node_of[i] >= r->c->nodes &&
		    r->node_of[i] < r->c->nodes + r->c->nnodes)
			seen = hf_guard_node_seen(r->guard, (size_t)(r->node_of[i] - r->c->nodes));
		if (s->error)
			health = "error";
		else if (seen == 1)
			health = "seen";
		else if (seen == 0)
			health = "unobservable";
		line_out(f, width, "  %-21s %-7s %-5d %-10s %s", s->addr, s->role, s->shard + 1,
			 hf_step_state_name(s->state), health);
		lines++;
		shown++;
	}
	if (verdict && *verdict) {
		line_out(f, width, "  guard: %s", verdict);
		lines++;
	}
	return lines;
}

void hf_cmd_live_event(void *ud, const char *kind, const char *msg)
{
	struct hf_live *lv = ud;
	int k;

	if (lv->ctx->quiet || lv->ctx->json || !isatty(STDOUT_FILENO)) {
		hf_cmd_print_event(lv->ctx, kind, msg);
		return;
	}
	if (!strcmp(kind, "verdict"))
		snprintf(lv->verdict, sizeof(lv->verdict), "%s", msg);
	if (lv->keyline) {
		fputs("\r\033[2K", stdout);
		lv->keyline = 0;
		lv->keys_last = 0;
	}
	for (k = 0; k < lv->lines; k++)
		fputs("\033[1A\033[2K", stdout);   /* up one line, erase it */
	hf_cmd_print_event(lv->ctx, kind, msg);
	lv->lines = hf_cmd_print_progress(stdout, lv->r, lv->verdict, 12);
	fflush(stdout);
}

void hf_cmd_live_progress(void *ud, long long scanned, long long changed, double done)
{
	struct hf_live *lv = ud;
	long long now = hf_mono_ms(), ms;
	char eta[32] = "";

	if (lv->ctx->quiet || lv->ctx->json || !isatty(STDOUT_FILENO))
		return;
	if (!lv->keyline || scanned < lv->keys_last)
		lv->keys_t0 = now;
	lv->keys_last = scanned;
	ms = now - lv->keys_t0 > 0 ? now - lv->keys_t0 : 1;
	if (done > 0.01 && done < 1)
		hf_fmt_duration((long long)((double)ms * (1 - done) / done), eta, sizeof(eta));
	printf("\r\033[2K  keys: %lld looked at, %lld changed, %.0f keys/s", scanned, changed,
	       (double)changed * 1000.0 / (double)ms);
	if (done >= 0)
		printf(", ~%.0f%% scanned%s%s", done * 100, eta[0] ? ", ETA " : "", eta);
	fflush(stdout);
	lv->keyline = 1;
}

json_t *hf_cmd_keys_json(struct hf_journal *j, const char *run_id)
{
	long long keys = 0, bytes = 0, by[HF_KEY_STATES] = {0};

	if (hf_journal_keys_stats(j, run_id, &keys, &bytes, by, NULL) || !keys)
		return NULL;
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "recorded", (json_int_t)keys,
			 "changed", (json_int_t)by[HF_KEY_APPLIED],
			 "restored", (json_int_t)by[HF_KEY_REVERTED],
			 "merged", (json_int_t)by[HF_KEY_MERGED],
			 "conflicts", (json_int_t)by[HF_KEY_CONFLICT],
			 "forced", (json_int_t)by[HF_KEY_FORCED],
			 "expired", (json_int_t)by[HF_KEY_EXPIRED], "journal_bytes", (json_int_t)bytes);
}

void hf_cmd_print_run_json(struct hf_rollout *r, int rc, const struct hf_err *err)
{
	json_t *doc = json_object(), *steps = json_array();
	char *s;
	size_t i;

	json_object_set_new(doc, "run", json_string(r->run->id));
	json_object_set_new(doc, "hotfix", json_string(r->run->hotfix));
	json_object_set_new(doc, "version", json_integer(r->run->version));
	json_object_set_new(doc, "state", json_string(hf_run_state_name(r->run->state)));
	json_object_set_new(doc, "exit_code", json_integer(hf_exit_code(rc)));
	if (rc && err->msg[0])
		json_object_set_new(doc, "error", json_string(err->msg));
	json_object_set_new(doc, "sha256", json_string(r->run->manifest_sha256));
	json_object_set_new(doc, "cluster", json_string(r->run->cluster));
	{
		json_t *keys = hf_cmd_keys_json(r->j, r->run->id);

		if (keys)
			json_object_set_new(doc, "keys", keys);
	}
	for (i = 0; i < r->nsteps; i++) {
		const struct hf_step *st = &r->steps[i];
		json_t *o = json_pack("{s:I,s:i,s:s,s:s,s:s,s:i,s:s}", "seq", (json_int_t)st->seq,
				      "wave", st->wave, "node", st->node_id, "address", st->addr,
				      "role", st->role, "shard", st->shard + 1, "state",
				      hf_step_state_name(st->state));

		if (st->error)
			json_object_set_new(o, "error", json_string(st->error));
		json_array_append_new(steps, o);
	}
	json_object_set_new(doc, "steps", steps);
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(doc);
}
