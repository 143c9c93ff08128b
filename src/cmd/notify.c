/* Notifications for the commands that drive a run (apply, resume,
 * rollback): a notifier from the manifest's notify: and --notify, chained
 * in front of the command's own event and progress callbacks. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "core/manifest.h"
#include "core/rollout.h"
#include "notify/notify.h"

/* The final flush waits this long at most for the last messages. */
#define NOTIFY_FLUSH_MS		3000

static void tee_event(void *ud, const char *kind, const char *msg)
{
	struct hf_cmd_notify *cn = ud;

	if (cn->event)
		cn->event(cn->ud, kind, msg);
	hf_notify_event(cn->n, kind, msg);
}

static void tee_progress(void *ud, long long scanned, long long changed, double done)
{
	struct hf_cmd_notify *cn = ud;

	if (cn->progress)
		cn->progress(cn->ud, scanned, changed, done);
}

int hf_cmd_notify_start(struct hf_cmd_notify *cn, struct hf_rollout *r, const char *url,
			const char *phase, const char *text, struct hf_err *err)
{
	const struct hf_manifest *m = r->m;
	struct hf_err nerr = {0};
	size_t i;

	cn->n = NULL;
	if (url && !hf_notify_url_ok(url))
		return hf_err_set(err, HF_EINVAL, "invalid --notify '%s' (expected an http:// or "
				  "https:// URL)", url);
	if (!url && !m->nnotify)
		return 0;
	cn->n = hf_notify_new(r->run->id, m->name, m->version);
	for (i = 0; i < m->nnotify; i++)
		hf_notify_add(cn->n, m->notify[i].webhook, m->notify[i].every_ms);
	if (url)
		hf_notify_add(cn->n, url, 0);
	/* The run is recorded by now: without a thread to send from, it goes
	 * on without notifications rather than not at all. */
	if (hf_notify_start(cn->n, &nerr)) {
		fprintf(stderr, "warning: no notifications for this run: %s\n", nerr.msg);
		hf_notify_finish(cn->n, 0);
		cn->n = NULL;
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
	long lost;

	if (!cn->n)
		return;
	lost = hf_notify_finish(cn->n, NOTIFY_FLUSH_MS);
	cn->n = NULL;
	if (lost && !ctx->quiet)
		fprintf(stderr, "warning: %ld notification(s) not delivered\n", lost);
}
