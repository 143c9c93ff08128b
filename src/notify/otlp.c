/* The spans of a run as OTLP/HTTP JSON (ExportTraceServiceRequest): ids
 * derived from the run id, times from the journal's events and step
 * states. Building only: the notifier sends them. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/otlp.h"
#include "util/buf.h"
#include "util/misc.h"

#define KIND_INTERNAL	1      /* SpanKind SPAN_KIND_INTERNAL */
#define STATUS_UNSET	0
#define STATUS_OK	1
#define STATUS_ERROR	2

void hf_otlp_trace_id(const char *run_id, char out[33])
{
	char hex[65];

	hf_sha256_hex(run_id, strlen(run_id), hex);
	memcpy(out, hex, 32);
	out[32] = '\0';
}

void hf_otlp_span_id(const char *run_id, const char *what, char out[17])
{
	char hex[65], *s = hf_xasprintf("%s/%s", run_id, what);

	hf_sha256_hex(s, strlen(s), hex);
	free(s);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

char *hf_otlp_url(const char *base)
{
	static const char suffix[] = "/v1/traces";
	size_t n = strlen(base), k = sizeof(suffix) - 1;

	if (n >= k && !strcmp(base + n - k, suffix))
		k = 0;          /* posted to as it is */
	else if (n && base[n - 1] == '/')
		n--;
	return hf_xasprintf("%.*s%s", (int)n, base, k ? suffix : "");
}

static json_t *attr_str(const char *key, const char *v)
{
	return json_pack("{s:s,s:{s:s}}", "key", key, "value", "stringValue", v ? v : "");
}

/* OTLP JSON writes 64-bit integers as strings. */
static json_t *attr_int(const char *key, long long v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", v);
	return json_pack("{s:s,s:{s:s}}", "key", key, "value", "intValue", s);
}

static json_t *attr_bool(const char *key, int v)
{
	return json_pack("{s:s,s:{s:b}}", "key", key, "value", "boolValue", v);
}

/* The attributes every span of the run has. */
static json_t *run_attrs(const struct hf_run *run)
{
	json_t *a = json_array();

	json_array_append_new(a, attr_str("hotfix.name", run->hotfix));
	json_array_append_new(a, attr_int("hotfix.version", run->version));
	json_array_append_new(a, attr_str("hotfix.run", run->id));
	return a;
}

/* A span named 'name' with id of 'what', child of 'parent' (NULL: root),
 * from 'start_ms' to 'end_ms' (never before the start), with 'attrs'
 * (stolen) and status 'code'. */
static json_t *span(const struct hf_run *run, const char *what, const char *parent,
		    const char *name, long long start_ms, long long end_ms, json_t *attrs, int code)
{
	char tid[33], sid[17], pid[17] = "", st[32], en[32];

	hf_otlp_trace_id(run->id, tid);
	hf_otlp_span_id(run->id, what, sid);
	if (parent)
		hf_otlp_span_id(run->id, parent, pid);
	if (end_ms < start_ms)
		end_ms = start_ms;
	snprintf(st, sizeof(st), "%lld000000", start_ms);
	snprintf(en, sizeof(en), "%lld000000", end_ms);
	return json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:{s:i}}", "traceId", tid, "spanId", sid,
			 "parentSpanId", pid, "name", name, "kind", KIND_INTERNAL,
			 "startTimeUnixNano", st, "endTimeUnixNano", en, "attributes", attrs,
			 "status", "code", code);
}

/* The wave each journal event belongs to, into 'ew[i]' for event i: the
 * latest wave started at or before it (0: before the first wave). One
 * pass, so that a long bake's many verdicts cost no more than they are. */
static void event_waves(const struct hf_otlp_input *in, int *ew /* OUT */)
{
	size_t i;
	int w = 0, k;

	for (i = 0; i < in->nevents; i++) {
		if (!strcmp(in->events[i].kind, "wave") &&
		    sscanf(in->events[i].message, "wave %d/", &k) == 1)
			w = k;
		ew[i] = w;
	}
}

/* When wave 'w' started and ended: its "wave" event (else its first
 * step), to the latest of its steps and of its events. */
static void wave_times(const struct hf_otlp_input *in, const int *ew, int w, long long *start,
		       long long *end)
{
	size_t i;

	*start = 0;
	*end = 0;
	for (i = 0; i < in->nevents; i++) {
		if (ew[i] != w)
			continue;
		if (!*start)
			*start = in->events[i].ts_ms;
		if (in->events[i].ts_ms > *end)
			*end = in->events[i].ts_ms;
	}
	for (i = 0; i < in->nsteps; i++) {
		if (in->steps[i].wave != w)
			continue;
		if (!*start || in->steps[i].updated_ms < *start)
			*start = in->steps[i].updated_ms;
		if (in->steps[i].updated_ms > *end)
			*end = in->steps[i].updated_ms;
	}
	if (!*start)
		*start = in->run->created_ms;
}

static json_t *step_span(const struct hf_otlp_input *in, size_t i, const char *wave,
			 long long start)
{
	const struct hf_step *s = &in->steps[i];
	json_t *a = run_attrs(in->run);
	int bad = s->state == HF_STEP_CONFLICT || s->error;
	char what[48];

	json_array_append_new(a, attr_str("hotfix.node.address", s->addr));
	json_array_append_new(a, attr_str("hotfix.node.id", s->node_id));
	json_array_append_new(a, attr_str("hotfix.node.role", s->role));
	json_array_append_new(a, attr_int("hotfix.shard", s->shard));
	json_array_append_new(a, attr_int("hotfix.wave", s->wave));
	json_array_append_new(a, attr_str("hotfix.kind", in->kinds ? in->kinds[i] : NULL));
	json_array_append_new(a, attr_str("hotfix.outcome", hf_step_state_name(s->state)));
	json_array_append_new(a, attr_bool("hotfix.persisted", s->persisted));
	if (s->error)
		json_array_append_new(a, attr_str("hotfix.error", s->error));
	snprintf(what, sizeof(what), "step/%lld", s->seq);
	return span(in->run, what, wave, "step", start, s->updated_ms, a,
		    bad ? STATUS_ERROR : STATUS_OK);
}

/* The verdict in event 'e': its outcome is the explanation's first word
 * ("pass", "fail", ...). */
static json_t *verdict_span(const struct hf_otlp_input *in, size_t e, const char *wave)
{
	const struct hf_event *ev = &in->events[e];
	json_t *a = run_attrs(in->run);
	char what[48], outcome[16];
	size_t n = strcspn(ev->message, " :;,");

	if (n >= sizeof(outcome))
		n = sizeof(outcome) - 1;
	memcpy(outcome, ev->message, n);
	outcome[n] = '\0';
	json_array_append_new(a, attr_str("hotfix.outcome", outcome));
	json_array_append_new(a, attr_str("hotfix.verdict", ev->message));
	snprintf(what, sizeof(what), "verdict/%lld", ev->seq);
	return span(in->run, what, wave, "verdict", ev->ts_ms, ev->ts_ms, a,
		    !strcmp(outcome, "fail") ? STATUS_ERROR : STATUS_OK);
}

/* Wave 'w''s span, its steps' and its verdicts', appended to 'spans'.
 * Nothing when no step of the wave was started. */
static void wave_spans(const struct hf_otlp_input *in, const int *ew, int w, json_t *spans)
{
	long long start, end;
	char what[32];
	size_t i, n = 0;
	int started = 0;
	json_t *a;

	for (i = 0; i < in->nsteps; i++)
		if (in->steps[i].wave == w) {
			n++;
			started |= in->steps[i].state != HF_STEP_PLANNED;
		}
	if (!started)
		return;
	wave_times(in, ew, w, &start, &end);
	snprintf(what, sizeof(what), "wave/%d", w);
	a = run_attrs(in->run);
	json_array_append_new(a, attr_int("hotfix.wave", w));
	json_array_append_new(a, attr_int("hotfix.steps", (long long)n));
	json_array_append_new(spans, span(in->run, what, "run", "wave", start, end, a, STATUS_UNSET));
	/* The journal keeps the time of a step's latest state only, and the
	 * steps of a wave run side by side: each lasts from its wave's start. */
	for (i = 0; i < in->nsteps; i++)
		if (in->steps[i].wave == w)
			json_array_append_new(spans, step_span(in, i, what, start));
	for (i = 0; i < in->nevents; i++)
		if (!strcmp(in->events[i].kind, "verdict") && ew[i] == w)
			json_array_append_new(spans, verdict_span(in, i, what));
}

static json_t *root_span(const struct hf_otlp_input *in)
{
	const struct hf_run *r = in->run;
	long long end = r->updated_ms;
	json_t *a = run_attrs(r), *sp;
	int code = STATUS_UNSET;
	size_t i;

	for (i = 0; i < in->nevents; i++)
		if (in->events[i].ts_ms > end)
			end = in->events[i].ts_ms;
	if (r->state == HF_RUN_PROMOTED)
		code = STATUS_OK;
	else if (r->state == HF_RUN_ROLLED_BACK || r->state == HF_RUN_FAILED)
		code = STATUS_ERROR;
	json_array_append_new(a, attr_str("hotfix.outcome", hf_run_state_name(r->state)));
	json_array_append_new(a, attr_str("hotfix.cluster", r->cluster));
	json_array_append_new(a, attr_str("hotfix.operator", r->operator));
	sp = span(r, "run", NULL, "run", r->created_ms, end, a, code);
	if (code == STATUS_ERROR && r->note)
		json_object_set_new(json_object_get(sp, "status"), "message", json_string(r->note));
	return sp;
}

char *hf_otlp_export(const struct hf_otlp_input *in, int from, int to, int root)
{
	json_t *spans = json_array(), *doc = NULL;
	int *ew = hf_xcalloc(in->nevents + 1, sizeof(*ew));
	char *s = NULL;
	int w;

	event_waves(in, ew);
	if (root)
		json_array_append_new(spans, root_span(in));
	for (w = from; w <= to; w++)
		wave_spans(in, ew, w, spans);
	free(ew);
	if (!json_array_size(spans))
		json_decref(spans);
	else
		doc = json_pack("{s:[{s:{s:[o]},s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource",
				"attributes", attr_str("service.name", "hotfix"), "scopeSpans",
				"scope", "name", "hotfix", "version", HF_VERSION, "spans", spans);
	if (doc)
		s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	return s;
}
