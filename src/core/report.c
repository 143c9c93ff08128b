/* The report of a run, as Markdown or as one HTML file with inline CSS and
 * SVG charts. Every section is written once against a small document
 * writer (heading, fields, table, code block) that knows both formats and
 * escapes everything it is given. No I/O here beyond reading the journal
 * in hf_report_render(); no printing. */
#include "core/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/guard.h"
#include "core/judge.h"
#include "core/manifest.h"
#include "util/misc.h"

int hf_report_format_parse(const char *name, enum hf_report_format *out)
{
	if (!name)
		return -1;
	if (!strcmp(name, "md") || !strcmp(name, "markdown")) {
		*out = HF_REPORT_MD;
		return 0;
	}
	if (!strcmp(name, "html")) {
		*out = HF_REPORT_HTML;
		return 0;
	}
	return -1;
}

void hf_report_md_cell(struct hf_buf *b, const char *s)
{
	const char *p;

	hf_buf_puts(b, "");   /* an empty cell is still a string */
	for (p = s ? s : ""; *p; p++) {
		if (*p == '|')
			hf_buf_puts(b, "\\|");
		else if (*p == '\n' || *p == '\r')
			hf_buf_puts(b, " ");
		else
			hf_buf_append(b, p, 1);
	}
}

void hf_report_html_escape(struct hf_buf *b, const char *s)
{
	const char *p;

	hf_buf_puts(b, "");
	for (p = s ? s : ""; *p; p++) {
		switch (*p) {
		case '&': hf_buf_puts(b, "&amp;"); break;
		case '<': hf_buf_puts(b, "&lt;"); break;
		case '>': hf_buf_puts(b, "&gt;"); break;
		case '"': hf_buf_puts(b, "&quot;"); break;
		case '\'': hf_buf_puts(b, "&#39;"); break;
		default: hf_buf_append(b, p, 1);
		}
	}
}

/* ---- the document writer ---------------------------------------------- */

struct doc {
	struct hf_buf *b;
	enum hf_report_format f;
};

/* Text in the body: escaped for the format (a Markdown line stays one
 * line). */
static void text(struct doc *d, const char *s)
{
	if (d->f == HF_REPORT_HTML)
		hf_report_html_escape(d->b, s);
	else
		hf_report_md_cell(d->b, s);
}

static void heading(struct doc *d, int level, const char *s)
{
	if (d->f == HF_REPORT_HTML) {
		hf_buf_printf(d->b, "<h%d>", level);
		text(d, s);
		hf_buf_printf(d->b, "</h%d>\n", level);
		return;
	}
	hf_buf_printf(d->b, "%.*s ", level, "######");
	text(d, s);
	hf_buf_puts(d->b, "\n\n");
}

static void para(struct doc *d, const char *s)
{
	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "<p>" : "");
	text(d, s);
	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</p>\n" : "\n\n");
}

static void fields_begin(struct doc *d)
{
	if (d->f == HF_REPORT_HTML)
		hf_buf_puts(d->b, "<table class=\"fields\">\n");
}

static void field(struct doc *d, const char *name, const char *value)
{
	if (d->f == HF_REPORT_HTML) {
		hf_buf_puts(d->b, "<tr><th>");
		text(d, name);
		hf_buf_puts(d->b, "</th><td>");
		text(d, value && *value ? value : "-");
		hf_buf_puts(d->b, "</td></tr>\n");
		return;
	}
	hf_buf_puts(d->b, "- **");
	text(d, name);
	hf_buf_puts(d->b, ":** ");
	text(d, value && *value ? value : "-");
	hf_buf_puts(d->b, "\n");
}

static void fields_end(struct doc *d)
{
	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</table>\n" : "\n");
}

static void table_begin(struct doc *d, const char *const *cols, size_t n)
{
	size_t i;

	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "<table>\n<tr>" : "|");
	for (i = 0; i < n; i++) {
		hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "<th>" : " ");
		text(d, cols[i]);
		hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</th>" : " |");
	}
	if (d->f == HF_REPORT_HTML) {
		hf_buf_puts(d->b, "</tr>\n");
		return;
	}
	hf_buf_puts(d->b, "\n|");
	for (i = 0; i < n; i++)
		hf_buf_puts(d->b, "---|");
	hf_buf_puts(d->b, "\n");
}

/* A row; a cell whose text starts with "fail" is marked in HTML. */
static void table_row(struct doc *d, const char *const *cells, size_t n)
{
	size_t i;

	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "<tr>" : "|");
	for (i = 0; i < n; i++) {
		const char *c = cells[i] ? cells[i] : "";

		if (d->f == HF_REPORT_HTML)
			hf_buf_puts(d->b, !strncmp(c, "fail", 4) || !strncmp(c, "conflict", 8) ?
				    "<td class=\"fail\">" : "<td>");
		else
			hf_buf_puts(d->b, " ");
		text(d, c);
		hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</td>" : " |");
	}
	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</tr>\n" : "\n");
}

static void table_end(struct doc *d)
{
	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</table>\n" : "\n");
}

/* A block of text as it is: in Markdown a fence longer than any run of
 * backticks inside, so that the text cannot close it. */
static void code(struct doc *d, const char *lang, const char *s)
{
	size_t run = 0, longest = 0, fence;
	const char *p;

	if (d->f == HF_REPORT_HTML) {
		hf_buf_puts(d->b, "<pre>");
		hf_report_html_escape(d->b, s);
		hf_buf_puts(d->b, "</pre>\n");
		return;
	}
	for (p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	fence = longest >= 3 ? longest + 1 : 3;
	for (run = 0; run < fence; run++)
		hf_buf_puts(d->b, "`");
	hf_buf_printf(d->b, "%s\n%s%s", lang, s, *s && s[strlen(s) - 1] == '\n' ? "" : "\n");
	for (run = 0; run < fence; run++)
		hf_buf_puts(d->b, "`");
	hf_buf_puts(d->b, "\n\n");
}

/* ---- numbers and times ------------------------------------------------ */

/* 'v' of metric 'name' as an explanation shows it; "-" for no value. */
static void fmt_value(const char *name, double v, char *out, size_t len)
{
	int m = hf_judge_metric_of(name);

	if (isnan(v))
		snprintf(out, len, "-");
	else if (m >= 0)
		hf_judge_format(m, v, out, len);
	else
		snprintf(out, len, "%g", v);
}

static void fmt_time(long long ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms || !gmtime_r(&t, &tm)) {
		snprintf(out, len, "-");
		return;
	}
	strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* "+12.3s" from the run's start. */
static void fmt_offset(long long ms, long long t0, char *out, size_t len)
{
	snprintf(out, len, "+%.1fs", (double)(ms - t0) / 1000.0);
}

/* ---- what the samples say ---------------------------------------------- */

static int max_wave(const struct hf_report_input *in)
{
	size_t i;
	int w = 0;

	for (i = 0; i < in->nsteps; i++)
		if (in->steps[i].wave > w)
			w = in->steps[i].wave;
	for (i = 0; i < in->nsamples; i++)
		if (in->samples[i].wave > w)
			w = in->samples[i].wave;
	return w;
}

/* Has metric 'name' a sample before index 'i' (of any wave when 'wave' is
 * -1), a verdict's if sample 'i' is one, the baseline's if not? For
 * listing each metric once, in the order of first sight. */
static int seen_before(const struct hf_report_input *in, size_t i, const char *name, int wave)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (!strcmp(in->samples[k].metric, name) && (wave < 0 || in->samples[k].wave == wave) &&
		    !in->samples[k].verdict == !in->samples[i].verdict)
			return 1;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One metric over one wave's verdicts. */
struct agg {
	int pass, fail, na;
	double *v;                /* the values that were there, sorted */
	size_t nv;
	double baseline, threshold, u, p;
	const char *rule, *why, *scope;
};

static void aggregate(const struct hf_report_input *in, int wave, const char *metric,
		      struct agg *a)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->baseline = a->threshold = a->u = a->p = NAN;
	a->v = hf_xcalloc(in->nsamples + 1, sizeof(*a->v));
	for (i = 0; i < in->nsamples; i++) {
		const struct hf_guard_sample *s = &in->samples[i];

		if (s->wave != wave || !s->verdict || strcmp(s->metric, metric))
			continue;
		if (!strcmp(s->outcome, "fail")) {
			a->fail++;
			a->why = s->detail;
		} else if (!strcmp(s->outcome, "pass")) {
			a->pass++;
		} else {
			a->na++;
		}
		if (!isnan(s->value))
			a->v[a->nv++] = s->value;
		if (!isnan(s->baseline))
			a->baseline = s->baseline;
		if (!isnan(s->threshold))
			a->threshold = s->threshold;
		if (!isnan(s->p) && (isnan(a->p) || s->p < a->p)) {
			a->p = s->p;
			a->u = s->u;
		}
		a->rule = s->rule;
		a->scope = s->scope;
	}
	qsort(a->v, a->nv, sizeof(*a->v), cmp_double);
}

/* ---- the sections ----------------------------------------------------- */

/* The outcome in a phrase: what the run's state and note say. */
static void outcome_line(const struct hf_run *run, struct hf_buf *b)
{
	switch (run->state) {
	case HF_RUN_PROMOTED:
		hf_buf_puts(b, "promoted: every target verified");
		break;
	case HF_RUN_ROLLED_BACK:
		hf_buf_puts(b, run->note && *run->note ? run->note : "rolled back");
		break;
	default:
		hf_buf_printf(b, "%s%s%s", hf_run_state_name(run->state),
			      run->note && *run->note ? ": " : "", run->note ? run->note : "");
	}
}

/* The failing checks, each metric on its nodes once: "error_rate on
 * 127.0.0.1:7001 in wave 1: 0.5 above max 0.01". */
static void failures(struct doc *d, const struct hf_report_input *in)
{
	size_t i, k, shown = 0;

	for (i = 0; i < in->nsamples; i++) {
		const struct hf_guard_sample *s = &in->samples[i];
		char line[1024], val[64];
		int dup = 0;

		if (strcmp(s->outcome, "fail"))
			continue;
		for (k = 0; k < i && !dup; k++)
			dup = !strcmp(in->samples[k].outcome, "fail") &&
			      !strcmp(in->samples[k].metric, s->metric) &&
			      !strcmp(in->samples[k].scope, s->scope);
		if (dup)
			continue;
		if (!shown++)
			heading(d, 3, "Failing checks");
		fmt_value(s->metric, s->value, val, sizeof(val));
		snprintf(line, sizeof(line), "%s on %s in wave %d: %s %s", s->metric, s->scope,
			 s->wave, val, s->detail ? s->detail : "");
		hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "<p class=\"fail\">" : "- ");
		text(d, line);
		hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</p>\n" : "\n");
	}
	if (shown && d->f == HF_REPORT_MD)
		hf_buf_puts(d->b, "\n");
}

static void summary(struct doc *d, const struct hf_report_input *in, const struct hf_manifest *m)
{
	const struct hf_run *run = in->run;
	struct hf_buf b = {0};
	char t0[64], t1[64], ver[32];

	hf_buf_printf(&b, "Hotfix report: %s v%ld (run %s)", run->hotfix, run->version, run->id);
	if (d->f == HF_REPORT_HTML)
		hf_buf_puts(d->b, "<h1>");
	else
		hf_buf_puts(d->b, "# ");
	text(d, b.s);
	hf_buf_puts(d->b, d->f == HF_REPORT_HTML ? "</h1>\n" : "\n\n");
	hf_buf_release(&b);

	heading(d, 2, "Outcome");
	outcome_line(run, &b);
	if (d->f == HF_REPORT_HTML) {
		hf_buf_printf(d->b, "<p class=\"outcome %s\">", run->state == HF_RUN_PROMOTED ? "ok" :
			      "fail");
		text(d, b.s);
		hf_buf_puts(d->b, "</p>\n");
	} else {
		hf_buf_puts(d->b, "**");
		text(d, b.s);
		hf_buf_puts(d->b, "**\n\n");
	}
	hf_buf_release(&b);
	failures(d, in);

	heading(d, 2, "Problem and owner");
	fmt_time(run->created_ms, t0, sizeof(t0));
	fmt_time(run->updated_ms, t1, sizeof(t1));
	snprintf(ver, sizeof(ver), "%ld", run->version);
	fields_begin(d);
	field(d, "Problem", m && m->problem ? m->problem : "(not recorded)");
	field(d, "Owner", run->owner);
	field(d, "Hotfix", run->hotfix);
	field(d, "Version", ver);
	field(d, "Run", run->id);
	field(d, "State", hf_run_state_name(run->state));
	field(d, "Cluster", run->cluster);
	field(d, "Operator", run->operator);
	field(d, "Started", t0);
	field(d, "Last update", t1);
	field(d, "Manifest", run->manifest_path);
	field(d, "Manifest SHA-256", run->manifest_sha256);
	field(d, "Journal", in->chain_ok ? "the events' hash chain holds" :
	      "the events' hash chain is BROKEN: the journal was edited");
	fields_end(d);
}

static void fix_and_criteria(struct doc *d, const struct hf_report_input *in,
			     const struct hf_manifest *m)
{
	char checks[2048], num[64];

	char *shown = hf_notify_hide(m, in->run->manifest_text);

	heading(d, 2, "Fix (the manifest)");
	para(d, "As the journal keeps it: ACL secrets appear only as their hashes, webhooks "
	     "without their secret path.");
	code(d, "yaml", shown);
	free(shown);

	heading(d, 2, "Rollback criteria");
	if (!m) {
		para(d, "The manifest in the journal could not be read again: see the fix above.");
		return;
	}
	if (m->guard.none) {
		para(d, "guard: none. No check watched the bakes: waves were plain waits.");
		return;
	}
	hf_guard_describe(&m->guard, checks, sizeof(checks));
	fields_begin(d);
	field(d, "Checks", checks);
	field(d, "Always", "a changed node that sees the cluster down or slots on failed nodes");
	snprintf(num, sizeof(num), "%ld consecutive failing interval(s)",
		 m->guard.present && m->guard.failure_limit ? m->guard.failure_limit : 2);
	field(d, "Rolls back after", num);
	snprintf(num, sizeof(num), "%lld ms",
		 m->guard.present && m->guard.interval_ms ? m->guard.interval_ms : 1000);
	field(d, "Interval", num);
	snprintf(num, sizeof(num), "%lld ms", m->guard.present ? m->guard.baseline_ms : 10000);
	field(d, "Baseline window", num);
	field(d, "A changed node that cannot be seen",
	      m->guard.on_unobservable == HF_UNOBS_ROLLBACK ? "counts as a failure (rollback)" :
	      "holds the bake (hold)");
	field(d, "Canary versus control", "relative checks also fail when the changed nodes are "
	      "worse than the unchanged ones of the same role (Mann-Whitney U, one sided, p < 0.01)");
	fields_end(d);
}

static void timeline(struct doc *d, const struct hf_report_input *in)
{
	static const char *const cols[] = { "time", "since start", "event", "message" };
	long long t0 = in->run->created_ms;
	size_t i, k;

	heading(d, 2, "Timeline");
	if (!in->nevents) {
		para(d, "No event in the journal.");
		return;
	}
	table_begin(d, cols, 4);
	for (i = 0; i < in->nevents; i = k) {
		const struct hf_event *e = &in->events[i];
		struct hf_buf many = {0};
		char when[64], off[32];
		const char *cells[4];

		/* A row of passing verdicts is one line: the failures stand out. */
		for (k = i + 1; k < in->nevents && !strcmp(e->kind, "verdict") &&
		     !strncmp(e->message, "pass", 4) && !strcmp(in->events[k].kind, "verdict") &&
		     !strncmp(in->events[k].message, "pass", 4); k++)
			;
		fmt_time(e->ts_ms, when, sizeof(when));
		fmt_offset(e->ts_ms, t0, off, sizeof(off));
		cells[0] = when;
		cells[1] = off;
		cells[2] = e->kind;
		cells[3] = e->message;
		if (k - i > 1) {
			hf_buf_printf(&many, "%zu passing verdicts, the last: %s", k - i,
				      in->events[k - 1].message);
			cells[3] = many.s;
		}
		table_row(d, cells, 4);
		hf_buf_release(&many);
	}
	table_end(d);
}

/* The baseline's table: each metric once, with its threshold. */
static void baseline_table(struct doc *d, const struct hf_report_input *in)
{
	static const char *const cols[] = { "metric", "baseline", "threshold" };
	size_t i;

	heading(d, 3, "Baseline");
	table_begin(d, cols, 3);
	for (i = 0; i < in->nsamples; i++) {
		const struct hf_guard_sample *s = &in->samples[i];
		char v[64], th[96], tv[64];
		const char *cells[3];

		if (s->wave || s->verdict || !*s->metric || seen_before(in, i, s->metric, 0))
			continue;
		fmt_value(s->metric, s->value, v, sizeof(v));
		fmt_value(s->metric, s->threshold, tv, sizeof(tv));
		snprintf(th, sizeof(th), "%s (%s)", s->rule ? s->rule : "", tv);
		cells[0] = s->metric;
		cells[1] = v;
		cells[2] = th;
		table_row(d, cells, 3);
	}
	table_end(d);
}

/* One metric's row of wave 'w': expected, actual (median and worst of its
 * intervals), the intervals' outcomes, canary versus control, verdict. */
static void wave_row(struct doc *d, const struct hf_report_input *in, int w, const char *metric)
{
	char base[64], th[128], tv[64], med[64], worst[64], counts[64], mw[96];
	struct hf_buf verdict = {0};
	const char *cells[8];
	struct agg a;

	aggregate(in, w, metric, &a);
	fmt_value(metric, a.baseline, base, sizeof(base));
	fmt_value(metric, a.threshold, tv, sizeof(tv));
	snprintf(th, sizeof(th), "%s (%s)", a.rule ? a.rule : "", tv);
	fmt_value(metric, a.nv ? a.v[(a.nv - 1) / 2] : NAN, med, sizeof(med));
	fmt_value(metric, a.nv ? (a.rule && !strncmp(a.rule, "min", 3) ? a.v[0] : a.v[a.nv - 1]) :
		  NAN, worst, sizeof(worst));
	snprintf(counts, sizeof(counts), "%d/%d/%d", a.pass, a.fail, a.na);
	if (isnan(a.p))
		snprintf(mw, sizeof(mw), "-");
	else
		snprintf(mw, sizeof(mw), "U %.0f, p %.4f", a.u, a.p);
	if (a.fail)
		hf_buf_printf(&verdict, "fail: %s", a.why ? a.why : "");
	else
		hf_buf_puts(&verdict, a.pass ? "pass" : "n/a (no value)");
	cells[0] = metric;
	cells[1] = base;
	cells[2] = th;
	cells[3] = med;
	cells[4] = worst;
	cells[5] = counts;
	cells[6] = mw;
	cells[7] = verdict.s;
	table_row(d, cells, 8);
	hf_buf_release(&verdict);
	free(a.v);
}

/* Wave 'w' (from 1): its changed nodes, a row per metric, and how many of
 * its intervals could not be judged. */
static void wave_table(struct doc *d, const struct hf_report_input *in, int w, const char *scope,
		       size_t unobs)
{
	static const char *const cols[] = { "metric", "expected (baseline)", "threshold",
					    "canary median", "canary worst", "intervals pass/fail/n-a",
					    "canary vs control", "verdict" };
	struct hf_buf title = {0};
	size_t i;

	hf_buf_printf(&title, "Wave %d", w);
	heading(d, 3, title.s);
	hf_buf_release(&title);
	fields_begin(d);
	field(d, "Changed nodes", scope);
	fields_end(d);
	table_begin(d, cols, 8);
	for (i = 0; i < in->nsamples; i++) {
		const struct hf_guard_sample *s = &in->samples[i];

		if (s->wave == w && s->verdict && *s->metric && !seen_before(in, i, s->metric, w))
			wave_row(d, in, w, s->metric);
	}
	table_end(d);
	if (unobs) {
		char line[96];

		snprintf(line, sizeof(line), "%zu interval(s) could not be judged (unobservable).",
			 unobs);
		para(d, line);
	}
}

static void wave_tables(struct doc *d, const struct hf_report_input *in)
{
	int nw = max_wave(in), w;
	size_t i;

	heading(d, 2, "Expected versus actual, per wave");
	if (!in->nsamples) {
		para(d, "No guard sample in the journal: the run had no guard, did not reach a "
		     "bake, or was written before the journal kept samples (see the timeline).");
		return;
	}
	para(d, "Expected is the baseline of the whole cluster before the first wave; actual "
	     "is the changed nodes together over each interval of the wave's bake.");
	for (w = 0; w <= nw; w++) {
		const char *scope = NULL;
		size_t unobs = 0, rows = 0;

		for (i = 0; i < in->nsamples; i++) {
			if (in->samples[i].wave != w)
				continue;
			rows++;
			if (in->samples[i].verdict)
				scope = in->samples[i].scope;
			if (!strcmp(in->samples[i].outcome, "unobservable"))
				unobs++;
		}
		if (rows && w == 0)
			baseline_table(d, in);
		else if (rows)
			wave_table(d, in, w, scope, unobs);
	}
}

/* ---- charts (HTML only) ------------------------------------------------ */

#define CW 640.0   /* chart size, in SVG units */
#define CH 200.0
#define CL 70.0    /* left margin: the axis labels */
#define CR 10.0
#define CT 12.0
#define CB 24.0

/* A chart being drawn. */
struct plot {
	const struct hf_guard_sample **p;   /* the metric's verdicts, in order */
	size_t n;
	double ymax, base;                  /* the top of the y axis; the baseline (NAN) */
};

static double plot_x(const struct plot *pl, size_t k)
{
	return CL + (pl->n > 1 ? (double)k * (CW - CL - CR) / (double)(pl->n - 1)
			       : (CW - CL - CR) / 2);
}

static double plot_y(const struct plot *pl, double v)
{
	return CT + (CH - CT - CB) * (1.0 - v / pl->ymax);
}

/* The metric's verdicts and the scale they need; 0 when it has none. */
static size_t plot_collect(struct plot *pl, const struct hf_report_input *in, const char *metric)
{
	size_t i;

	pl->p = hf_xcalloc(in->nsamples + 1, sizeof(*pl->p));
	pl->base = NAN;
	for (i = 0; i < in->nsamples; i++) {
		const struct hf_guard_sample *s = &in->samples[i];

		if (strcmp(s->metric, metric))
			continue;
		if (!s->verdict) {
			if (!isnan(s->value))
				pl->base = s->value;
			continue;
		}
		pl->p[pl->n++] = s;
		if (!isnan(s->value) && s->value > pl->ymax)
			pl->ymax = s->value;
		if (!isnan(s->threshold) && s->threshold > pl->ymax)
			pl->ymax = s->threshold;
		if (!isnan(s->baseline))
			pl->base = s->baseline;
	}
	if (!isnan(pl->base) && pl->base > pl->ymax)
		pl->ymax = pl->base;
	pl->ymax = pl->ymax > 0 ? pl->ymax * 1.1 : 1;
	return pl->n;
}

/* The frame: caption, plot area, the y axis' ends, where each wave
 * starts, the baseline. */
static void plot_frame(struct doc *d, const struct plot *pl, const char *metric)
{
	char lab[64];
	size_t k;

	hf_buf_puts(d->b, "<figure><figcaption>");
	text(d, metric);
	hf_buf_printf(d->b, "</figcaption>\n<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
		      "height=\"%.0f\" role=\"img\">\n", CW, CH, CW, CH);
	hf_buf_printf(d->b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" "
		      "class=\"plot\"/>\n", CL, CT, CW - CL - CR, CH - CT - CB);
	fmt_value(metric, pl->ymax, lab, sizeof(lab));
	hf_buf_printf(d->b, "<text x=\"%.0f\" y=\"%.0f\" class=\"axis\">", CL - 4, CT + 8);
	text(d, lab);
	hf_buf_printf(d->b, "</text><text x=\"%.0f\" y=\"%.0f\" class=\"axis\">0</text>\n", CL - 4,
		      CH - CB);
	for (k = 0; k < pl->n; k++) {
		double x = plot_x(pl, k);

		if (k && pl->p[k]->wave == pl->p[k - 1]->wave)
			continue;
		hf_buf_printf(d->b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
			      "class=\"wave\"/><text x=\"%.1f\" y=\"%.0f\" class=\"wavelabel\">"
			      "wave %d</text>\n", x, CT, x, CH - CB, x + 3, CH - 8, pl->p[k]->wave);
	}
	if (!isnan(pl->base))
		hf_buf_printf(d->b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
			      "class=\"baseline\"><title>baseline</title></line>\n", CL,
			      plot_y(pl, pl->base), CW - CR, plot_y(pl, pl->base));
}

/* A line through each verdict's value ('threshold' 0) or threshold (1;
 * it may move with the baseline, for a ratio), broken where there is none. */
static void plot_line(struct doc *d, const struct plot *pl, int threshold)
{
	struct hf_buf path = {0};
	int pen = 0;
	size_t k;

	for (k = 0; k < pl->n; k++) {
		double v = threshold ? pl->p[k]->threshold : pl->p[k]->value;

		if (isnan(v)) {
			pen = 0;
			continue;
		}
		hf_buf_printf(&path, "%s%.1f,%.1f", pen ? " L" : " M", plot_x(pl, k), plot_y(pl, v));
		pen = 1;
	}
	if (path.len && threshold)
		hf_buf_printf(d->b, "<path d=\"%s\" class=\"threshold\"><title>threshold</title>"
			      "</path>\n", path.s);
	else if (path.len)
		hf_buf_printf(d->b, "<path d=\"%s\" class=\"value\"/>\n", path.s);
	hf_buf_release(&path);
}

/* A point per verdict, coloured by its outcome, its value in its title. */
static void plot_points(struct doc *d, const struct plot *pl, const char *metric)
{
	struct hf_buf title = {0};
	size_t k;

	for (k = 0; k < pl->n; k++) {
		const struct hf_guard_sample *s = pl->p[k];
		char v[64];

		fmt_value(metric, s->value, v, sizeof(v));
		hf_buf_printf(d->b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" class=\"%s\"><title>",
			      plot_x(pl, k), isnan(s->value) ? CH - CB : plot_y(pl, s->value),
			      !strcmp(s->outcome, "fail") ? "fail" :
			      !strcmp(s->outcome, "pass") ? "pass" : "na");
		hf_buf_printf(&title, "wave %d, verdict %ld: %s %s", s->wave, s->verdict, s->outcome,
			      v);
		text(d, title.s);
		hf_buf_release(&title);
		hf_buf_puts(d->b, "</title></circle>\n");
	}
}

/* One metric's line chart over every verdict of the run: its values, its
 * baseline and threshold as lines, each verdict a dot coloured by its
 * outcome, a mark where a wave starts. */
static void chart(struct doc *d, const struct hf_report_input *in, const char *metric)
{
	struct plot pl = {0};

	if (plot_collect(&pl, in, metric)) {
		plot_frame(d, &pl, metric);
		plot_line(d, &pl, 1);
		plot_line(d, &pl, 0);
		plot_points(d, &pl, metric);
		hf_buf_puts(d->b, "</svg></figure>\n");
	}
	free(pl.p);
}

static void charts(struct doc *d, const struct hf_report_input *in)
{
	size_t i;

	if (d->f != HF_REPORT_HTML || !in->nsamples)
		return;
	heading(d, 2, "Charts");
	para(d, "Each verdict in order: the changed nodes' value (blue), the baseline (grey, "
	     "dashed), the threshold (red, dashed); dots are verdicts: green pass, red fail, "
	     "grey no value.");
	for (i = 0; i < in->nsamples; i++) {
		const char *mt = in->samples[i].metric;

		if (*mt && in->samples[i].verdict && !seen_before(in, i, mt, -1))
			chart(d, in, mt);
	}
}

static void validation(struct doc *d, const struct hf_report_input *in)
{
	static const char *const cols[] = { "step", "wave", "node", "role", "shard", "state",
					    "persisted", "error or conflict" };
	size_t i, conflicts = 0, errors = 0;
	char line[128];

	heading(d, 2, "Validation per node");
	table_begin(d, cols, 8);
	for (i = 0; i < in->nsteps; i++) {
		const struct hf_step *s = &in->steps[i];
		char seq[24], wave[16], shard[16];
		const char *cells[8];

		snprintf(seq, sizeof(seq), "%lld", s->seq);
		snprintf(wave, sizeof(wave), "%d", s->wave);
		snprintf(shard, sizeof(shard), "%d", s->shard + 1);
		cells[0] = seq;
		cells[1] = wave;
		cells[2] = s->addr;
		cells[3] = s->role;
		cells[4] = shard;
		cells[5] = hf_step_state_name(s->state);
		cells[6] = s->persisted ? "yes" : "no";
		cells[7] = s->error ? s->error : "";
		table_row(d, cells, 8);
		if (s->state == HF_STEP_CONFLICT)
			conflicts++;
		if (s->error)
			errors++;
	}
	table_end(d);
	snprintf(line, sizeof(line), "%zu step(s), %zu conflict(s), %zu with an error.", in->nsteps,
		 conflicts, errors);
	para(d, line);
}

static const char style[] =
	"body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
	"color:#222}\n"
	"table{border-collapse:collapse;margin:0.5em 0 1em}\n"
	"th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;"
	"font-size:0.9em}\n"
	"th{background:#f3f3f3}\n"
	"table.fields th{width:14em}\n"
	"pre{background:#f6f8fa;padding:1em;overflow:auto}\n"
	"td.fail,p.fail{color:#b00020}\n"
	"p.outcome{font-size:1.2em;font-weight:bold}\n"
	"p.outcome.ok{color:#1b7f3b}\n"
	"p.outcome.fail{color:#b00020}\n"
	"figure{margin:1em 0}\n"
	"figcaption{font-weight:bold}\n"
	"svg .plot{fill:#fff;stroke:#999}\n"
	"svg .axis{font-size:10px;text-anchor:end;fill:#555}\n"
	"svg .wave{stroke:#bbb;stroke-dasharray:2 3}\n"
	"svg .wavelabel{font-size:10px;fill:#777}\n"
	"svg .baseline{stroke:#888;stroke-dasharray:6 4}\n"
	"svg .threshold{fill:none;stroke:#d33;stroke-dasharray:4 3}\n"
	"svg .value{fill:none;stroke:#1f6feb;stroke-width:1.5}\n"
	"svg circle.pass{fill:#1b7f3b}\n"
	"svg circle.fail{fill:#d00}\n"
	"svg circle.na{fill:#aaa}\n";

void hf_report_build(const struct hf_report_input *in, enum hf_report_format f,
		     struct hf_buf *out)
{
	struct doc d = { out, f };
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};
	const char *text_ = in->run->manifest_text;

	/* The manifest again, from the journal's text, for what the run does
	 * not keep (the problem, the guard); a report without them is still
	 * a report. */
	if (text_ && hf_manifest_parse(in->run->manifest_path ? in->run->manifest_path : "manifest",
				       text_, strlen(text_), &m, &err))
		m = NULL;
	if (f == HF_REPORT_HTML) {
		hf_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
			    "<title>");
		text(&d, in->run->hotfix);
		hf_buf_puts(out, " - run ");
		text(&d, in->run->id);
		hf_buf_printf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", style);
	}
	summary(&d, in, m);
	fix_and_criteria(&d, in, m);
	timeline(&d, in);
	wave_tables(&d, in);
	charts(&d, in);
	validation(&d, in);
	if (f == HF_REPORT_HTML)
		hf_buf_puts(out, "</body>\n</html>\n");
	hf_manifest_free(m);
}

int hf_report_render(struct hf_journal *j, const char *run_id, enum hf_report_format f,
		     struct hf_buf *out, struct hf_err *err)
{
	struct hf_report_input in = {0};
	struct hf_run *run = NULL;
	struct hf_step *steps = NULL;
	struct hf_event *ev = NULL;
	struct hf_guard_sample *samples = NULL;
	size_t nsteps = 0, nev = 0, nsamples = 0;
	int chain_ok = 1, rc;

	rc = hf_journal_run_load(j, run_id, &run, &steps, &nsteps, err);
	if (!rc)
		rc = hf_journal_events(j, run->id, &ev, &nev, &chain_ok, err);
	if (!rc)
		rc = hf_journal_samples(j, run->id, 0, NULL, -1, &samples, &nsamples, err);
	if (rc)
		goto out;
	in.run = run;
	in.steps = steps;
	in.nsteps = nsteps;
	in.events = ev;
	in.nevents = nev;
	in.chain_ok = chain_ok;
	in.samples = samples;
	in.nsamples = nsamples;
	hf_report_build(&in, f, out);
out:
	hf_guard_samples_free(samples, nsamples);
	hf_events_free(ev, nev);
	hf_steps_free(steps, nsteps);
	hf_run_free(run);
	return rc;
}
