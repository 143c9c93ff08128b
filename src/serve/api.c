/* The JSON API of 'hotfix serve', without HTTP: each call reads (or, for a
 * mutation, writes a request to) the journal through a connection of its
 * own and answers with an HTTP status and a JSON document. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "core/manifest.h"
#include "core/report.h"
#include "core/request.h"
#include "engine/redis/redis.h"
#include "serve/serve.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

json_t *hf_api_error(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", msg);
}

/* The HTTP status for a failed journal call: no such run is 404, a
 * refusal 409, anything else 500. */
static int status_of(int rc)
{
	if (rc == HF_EINVAL)
		return 404;
	if (rc == HF_EREFUSED)
		return 409;
	return 500;
}

int hf_api_report(const struct hf_serve_opts *o, const char *id, const char *format,
		  char **text, const char **ctype)
{
	enum hf_report_format f = HF_REPORT_HTML;
	struct hf_journal *j = NULL;
	struct hf_buf b = {0};
	struct hf_err err = {0};
	int rc, status = 200;

	*ctype = NULL;
	if (format && hf_report_format_parse(format, &f)) {
		*text = hf_xasprintf("unknown format '%s' (expected md or html)", format);
		return 400;
	}
	rc = hf_journal_open(o->state_dir, &j, &err);
	if (!rc)
		rc = hf_report_render(j, id, f, &b, &err);
	if (rc) {
		status = status_of(rc);
		*text = hf_xstrdup(err.msg);
		goto out;
	}
	*ctype = f == HF_REPORT_HTML ? "text/html; charset=utf-8" : "text/markdown; charset=utf-8";
	*text = b.s ? b.s : hf_xstrdup("");
	b.s = NULL;
out:
	hf_buf_release(&b);
	hf_journal_close(j);
	return status;
}

/* What every view of a run shows of it. */
static json_t *run_json(struct hf_journal *j, const struct hf_run *r)
{
	int driven = hf_journal_driven(j, r->id);

	return json_pack("{s:s,s:s,s:I,s:s,s:s?,s:s,s:s?,s:I,s:I,s:s?,s:s?,s:I,s:b}",
			 "run", r->id, "hotfix", r->hotfix, "version", (json_int_t)r->version,
			 "state", hf_run_state_name(r->state), "owner", r->owner,
			 "cluster", r->cluster, "operator", r->operator,
			 "created_ms", (json_int_t)r->created_ms, "updated_ms", (json_int_t)r->updated_ms,
			 "note", r->note, "request", r->request,
			 "driven_by", (json_int_t)(driven ? r->pid : 0), "driven", driven);
}

int hf_api_runs(const struct hf_serve_opts *o, const char *state, json_t **body)
{
	struct hf_journal *j = NULL;
	struct hf_run **runs = NULL;
	struct hf_err err = {0};
	enum hf_run_state s;
	json_t *arr;
	size_t n = 0, i;
	int status = 200;

	if (state && hf_run_state_parse(state, &s)) {
		*body = hf_api_error("unknown run state '%s'", state);
		return 400;
	}
	if (hf_journal_open(o->state_dir, &j, &err) ||
	    hf_journal_runs_in(j, state, &runs, &n, &err)) {
		*body = hf_api_error("%s", err.msg);
		status = 500;
		goto out;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, run_json(j, runs[i]));
	*body = json_pack("{s:o}", "runs", arr);
out:
	for (i = 0; i < n; i++)
		hf_run_free(runs[i]);
	free(runs);
	hf_journal_close(j);
	return status;
}

static json_t *step_json(const struct hf_step *s)
{
	json_t *o = json_pack("{s:I,s:i,s:i,s:s,s:s,s:s?,s:i,s:s,s:b,s:s?,s:I}",
			      "seq", (json_int_t)s->seq, "wave", s->wave, "change", s->change,
			      "node", s->node_id, "address", s->addr, "role", s->role,
			      "shard", s->shard + 1, "state", hf_step_state_name(s->state),
			      "persisted", s->persisted, "error", s->error,
			      "updated_ms", (json_int_t)s->updated_ms);
	json_t *b = s->before ? json_loads(s->before, 0, NULL) : NULL;
	json_t *a = s->after ? json_loads(s->after, 0, NULL) : NULL;

	json_object_set_new(o, "before", b ? b : json_null());
	json_object_set_new(o, "after", a ? a : json_null());
	return o;
}

/* The waves of a run: per wave, its steps counted by state. */
static json_t *waves_json(const struct hf_step *steps, size_t n)
{
	json_t *arr = json_array(), *w = NULL;
	int cur = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *st = hf_step_state_name(steps[i].state);
		json_t *by;

		if (!w || steps[i].wave != cur) {
			cur = steps[i].wave;
			w = json_pack("{s:i,s:i,s:{}}", "wave", cur, "steps", 0, "by_state");
			json_array_append_new(arr, w);
		}
		json_object_set_new(w, "steps",
				    json_integer(json_integer_value(json_object_get(w, "steps")) + 1));
		by = json_object_get(w, "by_state");
		json_object_set_new(by, st, json_integer(json_integer_value(json_object_get(by, st)) + 1));
	}
	return arr;
}

/* A journaled number: NAN (none) is null. */
static json_t *num(double d)
{
	return isnan(d) ? json_null() : json_real(d);
}

/* One guard sample: the numbers behind a verdict (or the baseline). */
static json_t *sample_json(const struct hf_guard_sample *g)
{
	json_t *o = json_pack("{s:I,s:I,s:I,s:i,s:s,s:s}", "n", (json_int_t)g->n, "ts_ms",
			      (json_int_t)g->ts_ms, "verdict", (json_int_t)g->verdict, "wave", g->wave,
			      "metric", g->metric ? g->metric : "", "scope", g->scope ? g->scope : "");

	json_object_set_new(o, "value", num(g->value));
	json_object_set_new(o, "baseline", num(g->baseline));
	json_object_set_new(o, "threshold", num(g->threshold));
	json_object_set_new(o, "rule", json_string(g->rule ? g->rule : ""));
	json_object_set_new(o, "outcome", json_string(g->outcome ? g->outcome : ""));
	json_object_set_new(o, "detail", g->detail ? json_string(g->detail) : json_null());
	return o;
}

/* A verdict's outcome, the first word of its explanation. */
static const char *outcome(const char *explain)
{
	static const char *const words[] = { "pass", "fail", "unobservable" };
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strncmp(explain, words[i], strlen(words[i])))
			return words[i];
	return "other";
}

static json_t *event_json(const struct hf_event *e, const char *run)
{
	return json_pack("{s:I,s:s,s:I,s:s,s:s}", "seq", (json_int_t)e->seq, "run", run,
			 "ts_ms", (json_int_t)e->ts_ms, "kind", e->kind, "message", e->message);
}

static json_t *events_json(const struct hf_event *ev, size_t n, const char *run)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, event_json(&ev[i], run));
	return arr;
}

/* The guard's word over time: each verdict with its explanation, the
 * baseline and holds as 'guard' events, and the journaled samples, the
 * numbers behind each verdict and the baseline. */
static int guard_json(struct hf_journal *j, const char *run, json_t *doc, struct hf_err *err)
{
	struct hf_event *ev = NULL;
	struct hf_guard_sample *gs = NULL;
	size_t n = 0, i;
	json_t *arr;
	int more, rc;

	rc = hf_journal_events_page(j, run, "verdict", 0, 0, &ev, &n, &more, err);
	if (rc)
		return rc;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:I,s:I,s:s,s:s}", "seq", (json_int_t)ev[i].seq,
			"ts_ms", (json_int_t)ev[i].ts_ms, "outcome", outcome(ev[i].message),
			"explanation", ev[i].message));
	json_object_set_new(doc, "verdicts", arr);
	hf_events_free(ev, n);
	rc = hf_journal_events_page(j, run, "guard", 0, 0, &ev, &n, &more, err);
	if (rc)
		return rc;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:I,s:I,s:s}", "seq", (json_int_t)ev[i].seq,
			"ts_ms", (json_int_t)ev[i].ts_ms, "message", ev[i].message));
	json_object_set_new(doc, "guard", arr);
	hf_events_free(ev, n);
	rc = hf_journal_samples(j, run, 0, NULL, -1, &gs, &n, err);
	if (rc)
		return rc;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, sample_json(&gs[i]));
	json_object_set_new(doc, "samples", arr);
	hf_guard_samples_free(gs, n);
	return 0;
}

/* The run's manifest as the journal keeps it, its webhooks' secret paths
 * hidden: every viewer reads it. */
static json_t *manifest_json(const struct hf_run *r)
{
	struct hf_manifest *m = NULL;
	char *shown;
	json_t *s;

	if (!r->manifest_text)
		return json_string("");
	if (hf_manifest_parse("manifest", r->manifest_text, strlen(r->manifest_text), &m, NULL))
		m = NULL;   /* the journal's own text: it parsed when the run began */
	shown = hf_notify_hide(m, r->manifest_text);
	s = json_string(shown);
	free(shown);
	hf_manifest_free(m);
	return s;
}

int hf_api_run(const struct hf_serve_opts *o, struct hf_serve_cache *cache, const char *id,
	       size_t nevents, json_t **body)
{
	struct hf_chain chain;
	struct hf_journal *j = NULL;
	struct hf_run *r = NULL;
	struct hf_step *steps = NULL;
	struct hf_event *ev = NULL;
	size_t nsteps = 0, nev = 0, total = 0, i;
	struct hf_err err = {0};
	json_t *doc = NULL, *arr;
	int from_start, more = 0, rc, status = 200;

	rc = hf_journal_open(o->state_dir, &j, &err);
	if (rc) {
		status = 500;
		goto fail;
	}
	rc = hf_journal_run_load(j, id, &r, &steps, &nsteps, &err);
	if (rc) {
		status = status_of(rc);
		goto fail;
	}
	/* The chain is walked on from where the last walk stopped (and from
	 * its start once a second: an edit anywhere shows), but only the
	 * newest events are sent: older ones are paged with .../events. */
	hf_cache_chain_get(cache, r->id, &chain);
	from_start = chain.n == 0;
	rc = hf_journal_chain_walk(j, r->id, &chain, &err);
	if (!rc)
		hf_cache_chain_put(cache, r->id, &chain, from_start);
	total = (size_t)chain.n;
	if (!rc)
		rc = hf_journal_events_page(j, r->id, NULL, 0, nevents, &ev, &nev, &more, &err);
	if (rc) {
		status = 500;
		goto fail;
	}
	doc = run_json(j, r);
	json_object_set_new(doc, "sha256", json_string(r->manifest_sha256));
	json_object_set_new(doc, "manifest", manifest_json(r));
	json_object_set_new(doc, "audit_chain_ok", json_boolean(chain.ok));
	arr = json_array();
	for (i = 0; i < nsteps; i++)
		json_array_append_new(arr, step_json(&steps[i]));
	json_object_set_new(doc, "steps", arr);
	json_object_set_new(doc, "waves", waves_json(steps, nsteps));
	json_object_set_new(doc, "events", events_json(ev, nev, r->id));
	json_object_set_new(doc, "events_total", json_integer((json_int_t)total));
	json_object_set_new(doc, "events_more", json_boolean(more));
	if (guard_json(j, r->id, doc, &err)) {
		status = 500;
		goto fail;
	}
	*body = doc;
	goto out;
fail:
	json_decref(doc);
	*body = hf_api_error("%s", err.msg);
out:
	hf_events_free(ev, nev);
	hf_steps_free(steps, nsteps);
	hf_run_free(r);
	hf_journal_close(j);
	return status;
}

int hf_api_run_events(const struct hf_serve_opts *o, const char *id, long long before,
		      size_t limit, json_t **body)
{
	struct hf_journal *j = NULL;
	struct hf_run *r = NULL;
	struct hf_step *steps = NULL;
	struct hf_event *ev = NULL;
	size_t nsteps = 0, nev = 0;
	struct hf_err err = {0};
	int more = 0, rc, status = 200;

	rc = hf_journal_open(o->state_dir, &j, &err);
	if (!rc)
		rc = hf_journal_run_load(j, id, &r, &steps, &nsteps, &err);
	if (!rc)
		rc = hf_journal_events_page(j, r->id, NULL, before, limit, &ev, &nev, &more, &err);
	if (rc) {
		status = status_of(rc);
		*body = hf_api_error("%s", err.msg);
	} else {
		*body = json_pack("{s:s,s:o,s:b}", "run", r->id, "events", events_json(ev, nev, r->id),
				  "more", more);
	}
	hf_events_free(ev, nev);
	hf_steps_free(steps, nsteps);
	hf_run_free(r);
	hf_journal_close(j);
	return status;
}

/* Start 'hotfix --state DIR ACTION RUN' detached, to drive run 'id' back.
 * Its output goes to DIR/serve-ACTION-RUN.log. */
static int spawn_driver(const struct hf_serve_opts *o, const char *action, const char *id,
			json_t **body)
{
	char timeout[32];
	/* The driver talks to the nodes with serve's own timeout; the run
	 * names its cluster. */
	char *argv[] = { (char *)o->exe, "--state", (char *)o->state_dir, "--timeout", timeout,
			 (char *)action, (char *)id, NULL };
	char log[4096], why[256];

	snprintf(timeout, sizeof(timeout), "%ld", o->timeout_ms);
	snprintf(log, sizeof(log), "%s/serve-%s-%s.log", o->state_dir, action, id);
	if (hf_proc_spawn(argv, NULL, log, why, sizeof(why))) {
		*body = hf_api_error("cannot start a driver for run %s: %s", id, why);
		return 500;
	}
	*body = json_pack("{s:s,s:s,s:s,s:s}", "run", id, "action", action, "result",
			  "driver started", "log", log);
	return 202;
}

int hf_api_mutate(const struct hf_serve_opts *o, const char *id, const char *action,
		  const struct hf_requester *by, json_t **body)
{
	/* A rollback of a driven run is its driver's abort. */
	const char *what = strcmp(action, "rollback") ? action : "abort";
	struct hf_journal *j = NULL;
	struct hf_run *r = NULL;
	struct hf_err err = {0};
	int rc, status;

	rc = hf_journal_open(o->state_dir, &j, &err);
	if (rc) {
		status = 500;
		*body = hf_api_error("%s", err.msg);
		goto out;
	}
	rc = hf_request_run(j, id, what, by, &r, &err);
	if (rc == HF_EREFUSED && r && !strcmp(action, "rollback") && !hf_journal_driven(j, r->id)) {
		/* A finished run (promoted) can still be rolled back, as on
		 * the command line, which refuses what must be refused. */
		status = spawn_driver(o, "rollback", r->id, body);
		goto out;
	}
	if (rc < 0) {
		status = status_of(rc);
		*body = hf_api_error("%s", err.msg);
		goto out;
	}
	if (rc == 1) {
		if (!strcmp(what, "abort")) {
			status = spawn_driver(o, action, r->id, body);
			goto out;
		}
		status = 409;
		*body = hf_api_error("no process drives run %s (state %s); a rollback starts one",
				     r->id, hf_run_state_name(r->state));
		goto out;
	}
	status = 202;
	*body = json_pack("{s:s,s:s,s:s,s:I}", "run", r->id, "action", action, "result",
			  "requested", "driven_by", (json_int_t)r->pid);
out:
	hf_run_free(r);
	hf_journal_close(j);
	return status;
}

/* How many of the newest runs are looked at for what a node holds. */
#define HOLDS_RUNS 50

/* The hotfix node 'id' holds: the newest run, not rolled back, with a
 * step on it applied or verified; NULL when none. */
static json_t *holds(struct hf_journal *j, struct hf_run **runs, size_t n, const char *id)
{
	size_t i, k;

	for (i = 0; i < n && i < HOLDS_RUNS; i++) {
		struct hf_step *steps = NULL;
		struct hf_run *r = NULL;
		size_t ns = 0;
		json_t *h = NULL;

		if (runs[i]->state == HF_RUN_ROLLED_BACK)
			continue;
		if (hf_journal_run_load(j, runs[i]->id, &r, &steps, &ns, NULL))
			continue;
		for (k = 0; k < ns && !h; k++)
			if (!strcmp(steps[k].node_id, id) && (steps[k].state == HF_STEP_APPLIED ||
							       steps[k].state == HF_STEP_VERIFIED))
				h = json_pack("{s:s,s:s,s:I,s:s}", "run", r->id, "hotfix", r->hotfix,
					      "version", (json_int_t)r->version, "state",
					      hf_run_state_name(r->state));
		hf_steps_free(steps, ns);
		hf_run_free(r);
		if (h)
			return h;
	}
	return NULL;
}

static const char *health(const struct hf_node *n)
{
	if (!n->reachable)
		return "unreachable";
	if (n->failed)
		return "failed";
	if (n->role == HF_ROLE_REPLICA && strcmp(n->link_status, "up"))
		return "link down";
	return "ok";
}

/* Discover and probe the cluster of --cluster, else of the newest of
 * 'runs'. Returns 0, or the HTTP status of the failure (404: no cluster
 * known, 502: it did not answer) with 'err' filled. The caller releases
 * 'uri' and frees '*c' either way. */
static int load_cluster(const struct hf_serve_opts *o, struct hf_run **runs, size_t n,
			struct hf_uri *uri, struct hf_cluster **c, struct hf_err *err)
{
	if (!o->cluster && !n) {
		hf_err_set(err, HF_EINVAL, "no cluster known: no run in the journal and no --cluster");
		return 404;
	}
	if (hf_uri_parse(o->cluster ? o->cluster : runs[0]->cluster, uri, err) ||
	    hf_cluster_discover(uri, o->timeout_ms, HF_CONVERGE_SEED_ONLY, c, err))
		return 502;
	hf_cluster_probe(*c);
	return 0;
}

int hf_api_cluster(const struct hf_serve_opts *o, json_t **body)
{
	struct hf_journal *j = NULL;
	struct hf_run **runs = NULL;
	struct hf_cluster *c = NULL;
	struct hf_uri uri = {0};
	struct hf_err err = {0};
	size_t n = 0, i;
	long long now;
	json_t *nodes;
	char *red;
	int status = 200;

	if (hf_journal_open(o->state_dir, &j, &err) || hf_journal_runs(j, &runs, &n, &err)) {
		status = 500;
		goto fail;
	}
	status = load_cluster(o, runs, n, &uri, &c, &err);
	if (status)
		goto fail;
	status = 200;
	now = hf_wall_ms();
	nodes = json_array();
	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *nd = &c->nodes[i];
		json_t *h = holds(j, runs, n, nd->id);
		json_t *age = json_null();

		/* The heartbeat is the cluster bus's: how long since the seed
		 * had a pong from the node; the seed itself answered just now. */
		if (nd->pong_ms > 0)
			age = json_integer(now > nd->pong_ms ? now - nd->pong_ms : 0);
		else if (c->cluster_mode && strstr(nd->flags ? nd->flags : "", "myself"))
			age = json_integer(0);

		json_array_append_new(nodes, json_pack("{s:s,s:s,s:i,s:s,s:i,s:s,s:b,s:o,s:s,s:I,s:s,s:o}",
			"id", nd->id, "host", nd->host, "port", nd->port, "role", hf_role_name(nd->role),
			"shard", nd->shard + 1, "health", health(nd), "reachable", nd->reachable,
			"heartbeat_age_ms", age, "build", nd->version, "repl_offset", (json_int_t)nd->repl_offset,
			"flags", nd->flags ? nd->flags : "", "hotfix", h ? h : json_null()));
	}
	red = hf_uri_redacted(&c->uri);
	*body = json_pack("{s:s,s:s,s:s,s:i,s:o}", "cluster", red, "mode",
			  c->cluster_mode ? "cluster" : "replication", "state",
			  c->cluster_mode ? c->cluster_state : "n/a", "shards", c->nshards, "nodes", nodes);
	free(red);
	goto out;
fail:
	*body = hf_api_error("%s", err.msg);
out:
	hf_cluster_free(c);
	hf_uri_release(&uri);
	for (i = 0; i < n; i++)
		hf_run_free(runs[i]);
	free(runs);
	hf_journal_close(j);
	return status;
}

/* How many of the newest runs /metrics describes. */
#define METRICS_RUNS 50

/* 's' as a label value: backslash, double quote and newline escaped. */
static void label(struct hf_buf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			hf_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			hf_buf_puts(b, "\\n");
		else
			hf_buf_append(b, s, 1);
	}
}

static void family(struct hf_buf *b, const char *name, const char *type, const char *help)
{
	hf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: NAME{run="RUN"[,KEY="VALUE"]} VALUE. */
static void sample(struct hf_buf *b, const char *name, const char *run, const char *key,
		   const char *value, double v)
{
	hf_buf_printf(b, "%s{run=\"", name);
	label(b, run);
	if (key) {
		hf_buf_printf(b, "\",%s=\"", key);
		label(b, value);
	}
	hf_buf_printf(b, "\"} %.17g\n", v);
}

/* What /metrics needs of one run, read at once. */
struct run_view {
	struct hf_run *r;
	struct hf_step *steps;
	size_t nsteps;
	struct hf_event *ev;     /* its verdicts and rollback events, not the others */
	size_t nev;
};

/* How many of the newest runs have their guard's latest samples in
 * /metrics: each costs a read of all its samples. */
#define GUARD_RUNS 5

/* Append 's' (a metric and the changed nodes it was taken on) as a guard
 * series of run 'run' with value 'd' to 'b'; nothing for NAN. */
static void guard_sample(struct hf_buf *b, const char *name, const char *run,
			 const struct hf_guard_sample *g, double d)
{
	if (isnan(d))
		return;
	hf_buf_printf(b, "%s{run=\"", name);
	label(b, run);
	hf_buf_puts(b, "\",metric=\"");
	label(b, g->metric);
	hf_buf_puts(b, "\",nodes=\"");
	label(b, g->scope);
	hf_buf_printf(b, "\"} %.17g\n", d);
}

/* The guard's latest value and baseline of each metric, per run and per
 * set of changed nodes, from the journaled samples of the first 'nv' runs
 * of 'v'. */
static void guard_metrics(struct hf_journal *j, const struct run_view *v, size_t nv,
			  struct hf_buf *b);

/* The nodes of the cluster (as /api/v1/cluster finds it) into 'b': up,
 * and the age of their cluster-bus heartbeat. Nothing when no cluster is
 * known; hotfix_cluster_up 0 when it does not answer. */
static void node_metrics(const struct hf_serve_opts *o, struct hf_run **runs, size_t n,
			 struct hf_buf *b)
{
	struct hf_cluster *c = NULL;
	struct hf_uri uri = {0};
	struct hf_err err = {0};
	long long now = hf_wall_ms();
	int status;
	size_t i;

	status = load_cluster(o, runs, n, &uri, &c, &err);
	if (status == 404)
		goto out;
	family(b, "hotfix_cluster_up", "gauge", "Whether the cluster's seed answered this scrape.");
	hf_buf_printf(b, "hotfix_cluster_up %d\n", !status);
	if (status)
		goto out;
	family(b, "hotfix_node_up", "gauge", "Whether a node answered this scrape.");
	for (i = 0; i < c->nnodes; i++) {
		hf_buf_puts(b, "hotfix_node_up{node=\"");
		label(b, c->nodes[i].id);
		hf_buf_puts(b, "\",address=\"");
		label(b, c->nodes[i].host);
		hf_buf_printf(b, ":%d\"} %d\n", c->nodes[i].port, c->nodes[i].reachable);
	}
	family(b, "hotfix_node_heartbeat_age_seconds", "gauge",
	       "Since the seed last had a pong from a node on the cluster bus (cluster mode).");
	for (i = 0; i < c->nnodes; i++) {
		const struct hf_node *nd = &c->nodes[i];
		double age;

		if (nd->pong_ms > 0)
			age = now > nd->pong_ms ? (double)(now - nd->pong_ms) / 1000.0 : 0;
		else if (c->cluster_mode && strstr(nd->flags ? nd->flags : "", "myself"))
			age = 0;
		else
			continue;
		hf_buf_puts(b, "hotfix_node_heartbeat_age_seconds{node=\"");
		label(b, nd->id);
		hf_buf_puts(b, "\",address=\"");
		label(b, nd->host);
		hf_buf_printf(b, ":%d\"} %.17g\n", nd->port, age);
	}
out:
	hf_cluster_free(c);
	hf_uri_release(&uri);
}

static void guard_metrics(struct hf_journal *j, const struct run_view *v, size_t nv,
			  struct hf_buf *b)
{
	static const char *const names[] = { "hotfix_guard_value", "hotfix_guard_baseline" };
	const struct hf_guard_sample **seen = NULL;
	size_t i, k, x, ns, nseen;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		family(b, names[pass], "gauge", pass ? "The guard's baseline of a metric, in its "
		       "latest sample." : "The guard's latest value of a metric on the changed nodes.");
		for (i = 0; i < nv; i++) {
			struct hf_guard_sample *s = NULL;

			ns = 0;
			if (hf_journal_samples(j, v[i].r->id, 0, NULL, -1, &s, &ns, NULL))
				continue;
			/* The last sample of each (metric, nodes): walk back from the
			 * newest, keeping the pairs already seen (a handful). */
			nseen = 0;
			for (k = ns; k-- > 0;) {
				if (!s[k].metric || !*s[k].metric || !s[k].scope)
					continue;
				for (x = 0; x < nseen; x++)
					if (!strcmp(seen[x]->metric, s[k].metric) &&
					    !strcmp(seen[x]->scope, s[k].scope))
						break;
				if (x < nseen)
					continue;
				seen = hf_xrealloc(seen, sizeof(*seen) * (nseen + 1));
				seen[nseen++] = &s[k];
				guard_sample(b, names[pass], v[i].r->id, &s[k],
					     pass ? s[k].baseline : s[k].value);
			}
			hf_guard_samples_free(s, ns);
		}
	}
	free(seen);
}

/* What each run is and where it stands: info, state, current wave, steps
 * by state. */
static void run_families(struct hf_buf *b, const struct run_view *v, size_t nv)
{
	size_t i, k, x;

	family(b, "hotfix_run_info", "gauge", "A run of a hotfix (always 1).");
	for (i = 0; i < nv; i++) {
		hf_buf_puts(b, "hotfix_run_info{run=\"");
		label(b, v[i].r->id);
		hf_buf_puts(b, "\",hotfix=\"");
		label(b, v[i].r->hotfix);
		hf_buf_printf(b, "\",version=\"%ld\",cluster=\"", v[i].r->version);
		label(b, v[i].r->cluster);
		hf_buf_puts(b, "\"} 1\n");
	}
	family(b, "hotfix_run_state", "gauge", "1 for the state a run is in, 0 for the others.");
	for (i = 0; i < nv; i++)
		for (k = 0; k <= HF_RUN_FAILED; k++)
			sample(b, "hotfix_run_state", v[i].r->id, "state",
			       hf_run_state_name((enum hf_run_state)k), v[i].r->state == (enum hf_run_state)k);
	family(b, "hotfix_run_current_wave", "gauge",
	       "The highest wave with a step past planned (0 before the first).");
	for (i = 0; i < nv; i++) {
		int w = 0;

		for (k = 0; k < v[i].nsteps; k++)
			if (v[i].steps[k].state != HF_STEP_PLANNED && v[i].steps[k].wave > w)
				w = v[i].steps[k].wave;
		sample(b, "hotfix_run_current_wave", v[i].r->id, NULL, NULL, w);
	}
	family(b, "hotfix_run_steps", "gauge", "A run's steps in each state.");
	for (i = 0; i < nv; i++)
		for (k = 0; k <= HF_STEP_CONFLICT; k++) {
			size_t c = 0;

			for (x = 0; x < v[i].nsteps; x++)
				c += v[i].steps[x].state == (enum hf_step_state)k;
			sample(b, "hotfix_run_steps", v[i].r->id, "state",
			       hf_step_state_name((enum hf_step_state)k), (double)c);
		}
}

/* How each run went: the guard's verdicts by outcome, how long a finished
 * rollback took, when the run was last committed. */
static void outcome_families(struct hf_buf *b, const struct run_view *v, size_t nv)
{
	static const char *const outcomes[] = { "pass", "fail", "unobservable", "other" };
	size_t i, k, x;

	family(b, "hotfix_run_verdicts_total", "counter", "The guard's verdicts on a run, by outcome.");
	for (i = 0; i < nv; i++)
		for (k = 0; k < sizeof(outcomes) / sizeof(outcomes[0]); k++) {
			size_t c = 0;

			for (x = 0; x < v[i].nev; x++)
				c += !strcmp(v[i].ev[x].kind, "verdict") &&
				     !strcmp(outcome(v[i].ev[x].message), outcomes[k]);
			sample(b, "hotfix_run_verdicts_total", v[i].r->id, "outcome", outcomes[k],
			       (double)c);
		}
	/* From the first rollback event to the last one of a rolled-back run:
	 * the journal holds no other record of when a rollback began. */
	family(b, "hotfix_run_rollback_duration_seconds", "gauge",
	       "How long a finished rollback took, from its first journal event to its last.");
	for (i = 0; i < nv; i++) {
		long long first = -1, last = -1;

		if (v[i].r->state != HF_RUN_ROLLED_BACK)
			continue;
		for (x = 0; x < v[i].nev; x++)
			if (!strcmp(v[i].ev[x].kind, "rollback")) {
				if (first < 0)
					first = v[i].ev[x].ts_ms;
				last = v[i].ev[x].ts_ms;
			}
		if (first >= 0)
			sample(b, "hotfix_run_rollback_duration_seconds", v[i].r->id, NULL, NULL,
			       (double)(last - first) / 1000.0);
	}
	family(b, "hotfix_run_updated_seconds", "gauge",
	       "When a run's state was last committed (unix time).");
	for (i = 0; i < nv; i++)
		sample(b, "hotfix_run_updated_seconds", v[i].r->id, NULL, NULL,
		       (double)v[i].r->updated_ms / 1000.0);
}

/* The events /metrics counts: the verdicts and the rollback's. */
static int run_events(struct hf_journal *j, struct run_view *v, struct hf_err *err)
{
	static const char *const kinds[] = { "verdict", "rollback" };
	struct hf_event *ev = NULL;
	size_t n = 0, k;
	int more;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (hf_journal_events_page(j, v->r->id, kinds[k], 0, 0, &ev, &n, &more, err))
			return HF_ERR;
		if (n) {
			v->ev = hf_xrealloc(v->ev, sizeof(*v->ev) * (v->nev + n));
			memcpy(v->ev + v->nev, ev, sizeof(*ev) * n);
			v->nev += n;
		}
		free(ev);
	}
	return 0;
}

int hf_api_metrics(const struct hf_serve_opts *o, char **text)
{
	struct hf_journal *j = NULL;
	struct hf_run **runs = NULL;
	struct run_view *v = NULL;
	struct hf_err err = {0};
	struct hf_buf b = {0};
	size_t n = 0, nv = 0, i;
	int status = 200;

	if (hf_journal_open(o->state_dir, &j, &err) || hf_journal_runs(j, &runs, &n, &err)) {
		status = 500;
		hf_buf_printf(&b, "%s\n", err.msg);
		goto out;
	}
	nv = n < METRICS_RUNS ? n : METRICS_RUNS;
	v = hf_xcalloc(nv ? nv : 1, sizeof(*v));
	for (i = 0; i < nv; i++) {
		if (hf_journal_run_load(j, runs[i]->id, &v[i].r, &v[i].steps, &v[i].nsteps, &err) ||
		    run_events(j, &v[i], &err)) {
			status = 500;
			hf_buf_release(&b);
			hf_buf_printf(&b, "%s\n", err.msg);
			goto out;
		}
	}
	run_families(&b, v, nv);
	outcome_families(&b, v, nv);
	guard_metrics(j, v, nv < GUARD_RUNS ? nv : GUARD_RUNS, &b);
	node_metrics(o, runs, n, &b);
out:
	for (i = 0; i < nv && v; i++) {
		hf_run_free(v[i].r);
		hf_steps_free(v[i].steps, v[i].nsteps);
		hf_events_free(v[i].ev, v[i].nev);
	}
	free(v);
	for (i = 0; i < n; i++)
		hf_run_free(runs[i]);
	free(runs);
	hf_journal_close(j);
	*text = b.s ? hf_buf_detach(&b) : hf_xstrdup("");
	return status;
}
