/* Notifications for the commands that drive a run (apply, resume,
 * rollback): a notifier from the manifest's notify: and --notify, chained
 * in front of the command's own event and progress callbacks; with
 * --otlp, the run's spans built from the journal and sent through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/kind.h"
#include "core/manifest.h"
#include "core/rollout.h"
#include "notify/notify.h"
#include "notify/otlp.h"

/* The final flush waits this long at most for the last messages. */
#define NOTIFY_FLUSH_MS		3000

/* Queue the spans of waves 'cn->waves_sent' + 1 to 'to' and, with
 * 'root', of the run, from what the journal holds now. A journal that
 * cannot be read costs the spans, never the run. */
static void export_spans(struct hf_cmd_notify *cn, int to, int root)
{
	struct hf_rollout *r = cn->r;
	struct hf_otlp_input in = {0};
	struct hf_run *run = NULL;
	struct hf_step *steps = NULL;
	struct hf_event *ev = NULL;
	const char **kinds = NULL;
	size_t nsteps = 0, nev = 0, i;
	int chain_ok = 1;
	char *body;

	if (cn->otlp < 0 || (to <= cn->waves_sent && !root))
		return;
	if (hf_journal_run_load(r->j, r->run->id, &run, &steps, &nsteps, NULL) ||
	    hf_journal_events(r->j, r->run->id, &ev, &nev, &chain_ok, NULL))
		goto out;
	kinds = hf_xcalloc(nsteps + 1, sizeof(*kinds));
	for (i = 0; i < nsteps; i++)
		if (steps[i].change >= 0 && (size_t)steps[i].change < r->m->nchanges)
			kinds[i] = r->m->changes[steps[i].change].kind->name;
	in = (struct hf_otlp_input){ .run = run, .steps = steps, .nsteps = nsteps, .kinds = kinds,
				     .events = ev, .nevents = nev };
	body = hf_otlp_export(&in, cn->waves_sent + 1, to, root);
	if (body)
		hf_notify_post(cn->n, cn->otlp, body);
	if (to > cn->waves_sent)
		cn->waves_sent = to;
out:
	free(kinds);
	hf_events_free(ev, nev);
	hf_steps_free(steps, nsteps);
	hf_run_free(run);
}

static void tee_event(void *ud, const char *kind, const char *msg)
{
	struct hf_cmd_notify *cn = ud;
	int w;

	if (cn->event)
		cn->event(cn->ud, kind, msg);
	hf_notify_event(cn->n, kind, msg);
	/* A wave starts when the one before it is over (baked): its batch. */
	if (!strcmp(kind, "wave") && sscanf(msg, "wave %d/", &w) == 1)
		export_spans(cn, w - 1, 0);
}

/* The waves of 'r' that are over: all their steps verified, reverted or
 * in conflict. */
static int waves_done(const struct hf_rollout *r)
{
	int w, done = 0;
	size_t i;

	for (w = 1;; w++) {
		int any = 0, over = 1;

		for (i = 0; i < r->nsteps; i++) {
			if (r->steps[i].wave != w)
				continue;
			any = 1;
			if (r->steps[i].state != HF_STEP_VERIFIED && r->steps[i].state != HF_STEP_REVERTED &&
			    r->steps[i].state != HF_STEP_CONFLICT)
				over = 0;
		}
		if (!any || !over)
			break;
		done = w;
	}
	return done;
}

static void tee_progress(void *ud, long long scanned, long long changed, double done)
{
	struct hf_cmd_notify *cn = ud;

	if (cn->progress)
		cn->progress(cn->ud, scanned, changed, done);
}

/* The notifier of 'r' with its destinations: the manifest's webhooks,
 * --notify 'url' and the --otlp collector 'otlp'. */
static struct hf_notifier *notifier(struct hf_cmd_notify *cn, struct hf_rollout *r,
				    const char *url, const char *otlp)
{
	const struct hf_manifest *m = r->m;
	struct hf_notifier *n = hf_notify_new(r->run->id, m->name, m->version);
	char *traces;
	size_t i;

	for (i = 0; i < m->nnotify; i++)
		hf_notify_add(n, m->notify[i].webhook, m->notify[i].every_ms);
	if (url)
		hf_notify_add(n, url, 0);
	if (otlp) {
		traces = hf_otlp_url(otlp);
		cn->otlp = hf_notify_add_raw(n, traces);
		free(traces);
	}
	return n;
}

int hf_cmd_otlp_check(const char *otlp, struct hf_err *err)
{
	if (otlp && !hf_notify_url_ok(otlp))
		return hf_err_set(err, HF_EINVAL, "invalid --otlp '%s' (expected an http:// or "
				  "https:// URL)", otlp);
	return 0;
}

int hf_cmd_notify_start(struct hf_cmd_notify *cn, struct hf_rollout *r, const char *url,
			const char *otlp, const char *phase, const char *text, struct hf_err *err)
{
	struct hf_err nerr = {0};

	cn->n = NULL;
	cn->otlp = -1;
	if (url && !hf_notify_url_ok(url))
		return hf_err_set(err, HF_EINVAL, "invalid --notify '%s' (expected an http:// or "
				  "https:// URL)", url);
	if (hf_cmd_otlp_check(otlp, err))
		return err->code;
	if (!url && !otlp && !r->m->nnotify)
		return 0;
	cn->r = r;
	/* A run that was paused, or is over, had the spans of its waves that
	 * were over sent by the process that stopped; one whose process died
	 * may have lost them: they are sent again, with the same ids. */
	cn->waves_sent = r->run->state == HF_RUN_PAUSED || !hf_run_state_active(r->run->state)
			 ? waves_done(r) : 0;
	cn->n = notifier(cn, r, url, otlp);
	/* The run is recorded by now: without a thread to send from, it goes
	 * on without notifications rather than not at all. */
	if (hf_notify_start(cn->n, &nerr)) {
		fprintf(stderr, "warning: no notifications for this run: %s\n", nerr.msg);
		hf_notify_finish(cn->n, 0);
		cn->n = NULL;
		cn->otlp = -1;
		return 0;
	}
	if (phase)
		hf_notify_phase_msg(cn->n, phase, text);
	cn->event = r->event;
	cn->progress = r->progress;
	cn->ud = r->ud;
	r->event = tee_event;
	r->progress = tee_progress;
	r->ud = cn;
	return 0;
}

void hf_cmd_notify_finish(struct hf_cmd_notify *cn, struct hf_ctx *ctx)
{
	struct hf_rollout *r = cn->r;
	int over, last = 0;
	long lost;
	size_t i;

	if (!cn->n)
		return;
	if (cn->otlp >= 0 && r) {
		/* A run that is over sends every wave it has and itself; one
		 * that stops (paused) the waves that are over, the rest for
		 * whoever resumes it. */
		over = !hf_run_state_active(r->run->state);
		for (i = 0; i < r->nsteps; i++)
			if (r->steps[i].wave > last)
				last = r->steps[i].wave;
		export_spans(cn, over ? last : waves_done(r), over);
	}
	lost = hf_notify_finish(cn->n, NOTIFY_FLUSH_MS);
	cn->n = NULL;
	if (lost && !ctx->quiet)
		fprintf(stderr, "warning: %ld notification(s) not delivered\n", lost);
}
