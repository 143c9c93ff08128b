/* Notifications about a run to Slack-compatible incoming webhooks: which
 * events are phase changes, the JSON of a message (message.c), and a
 * notifier that sends them from worker threads (notify.c) so that the
 * rollout never waits for a webhook; the same notifier sends other
 * bodies (OTLP spans, otlp.h) to destinations of their own. Nothing here
 * prints. */
#ifndef HF_NOTIFY_NOTIFY_H
#define HF_NOTIFY_NOTIFY_H

#include "util/err.h"

/* What one message says. Every field but 'phase' and 'text' may be NULL. */
struct hf_notify_msg {
	const char *phase;      /* "started", "wave", "paused", "rolled back", "status", ... */
	const char *hotfix;     /* the hotfix's name */
	long version;
	const char *run_id;
	const char *text;       /* the event's sentence, or the status */
	const char *wave;       /* the latest wave event, e.g. "wave 2/3: 4 node(s) ..." */
	const char *evidence;   /* why the run is being rolled back: the failing verdict */
	const char *verdict;    /* the guard's latest verdict, the key metrics */
	const char *nodes;      /* the nodes the hotfix was applied to, ", " between */
	const char *baseline;   /* the guard's baseline, as its event said it */
};

/* The phase a rollout event ('kind' and 'msg' as hf_event_fn gets them)
 * announces: "started", "wave", "paused", "continued", "aborted",
 * "rolling back", "rolled back", "rollback incomplete", "promoted",
 * "failed" or "error"; NULL when the event is no phase change (a step, a
 * verdict, a bake). */
const char *hf_notify_phase(const char *kind, const char *msg);

/* The message as Slack incoming-webhook JSON: a "text" fallback and
 * "blocks" (sections in mrkdwn, '&', '<' and '>' escaped, text cut to
 * what a section holds, invalid UTF-8 replaced). Caller frees. */
char *hf_notify_message(const struct hf_notify_msg *m);

struct hf_notifier;

/* A notifier for run 'run_id' of hotfix 'hotfix' v'version'; nothing is
 * sent before hf_notify_start(). Caller ends it with hf_notify_finish(). */
struct hf_notifier *hf_notify_new(const char *run_id, const char *hotfix, long version);

/* Add webhook 'url' with a status every 'every_ms' (0: none). Before
 * hf_notify_start() only. */
void hf_notify_add(struct hf_notifier *n, const char *url, long long every_ms);

/* Add 'url' as a destination of its own bodies only (hf_notify_post()),
 * e.g. an OTLP collector: no phase message nor status goes to it, but it
 * has its own queue, worker, retries and the final flush. Returns its
 * number for hf_notify_post(). Before hf_notify_start() only. */
int hf_notify_add_raw(struct hf_notifier *n, const char *url);

/* Queue 'body' (stolen: freed when sent or given up) for destination
 * 'hook' from hf_notify_add_raw(). Never blocks on the network; a full
 * queue drops it. NULL 'n' frees 'body'. */
void hf_notify_post(struct hf_notifier *n, int hook, char *body);

/* Start one worker thread per webhook. HF_ERR with 'err' filled when a
 * thread cannot be started (then no thread runs). */
int hf_notify_start(struct hf_notifier *n, struct hf_err *err);

/* Hand a rollout event to the notifier: a phase change is queued for
 * every webhook; every event updates what the periodic status says. Never
 * blocks on the network: it takes a lock that no sender holds while
 * sending, and a full queue drops the message. */
void hf_notify_event(struct hf_notifier *n, const char *kind, const char *msg);

/* Queue a phase change that is no rollout event (e.g. "resumed"). */
void hf_notify_phase_msg(struct hf_notifier *n, const char *phase, const char *text);

/* Stop the periodic statuses, wait at most 'wait_ms' for the queued
 * messages to go out, then give up on the rest, join the threads and free
 * 'n'. Returns how many messages were not delivered (failed after the
 * retries, dropped, or still queued). NULL 'n' is a no-op. */
long hf_notify_finish(struct hf_notifier *n, long long wait_ms);

#endif
