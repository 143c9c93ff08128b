/* The notifier: one queue and one worker thread per webhook, so that a
 * slow or dead webhook delays neither the rollout nor the other webhooks.
 * The rollout only appends to the queues under a lock that no worker
 * holds while it talks to the network. The only file that uses libcurl. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify/notify.h"
#include "util/buf.h"
#include "util/misc.h"

#define CONNECT_TIMEOUT_MS	2000
#define TOTAL_TIMEOUT_MS	5000
#define ATTEMPTS		4      /* a message is tried this often */
#define BACKOFF_MS		250    /* before the 2nd attempt, doubled each time */
#define QUEUE_MAX		256    /* more queued messages are dropped */
#define POLL_MS			50     /* how soon a send in flight sees the stop */

struct item {
	struct item *next;
	char *body;
};

struct hook {
	struct hf_notifier *n;
	char *url;
	long long every_ms;
	int raw;                   /* gets only hf_notify_post() bodies, no phases */
	long long next_status;     /* hf_mono_ms() of the next periodic status */
	struct item *head, *tail;
	size_t len;
	int busy;                  /* a message is being sent */
	int started;               /* the thread runs */
	pthread_t th;
	long lost;                 /* failed after every attempt, or dropped */
};

struct hf_notifier {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* any change of the queues or of the flags */
	int closing;               /* no more statuses: drain, then end */
	atomic_int stop;           /* give up at once, even a send in flight */
	struct hook *hooks;
	size_t nhooks;
	char *run_id, *hotfix;
	long version;
	long long t0;
	/* What the periodic status says. */
	char *phase, *wave, *verdict, *evidence, *baseline;
	struct hf_buf nodes;       /* every node a step was applied on */
};

struct hf_notifier *hf_notify_new(const char *run_id, const char *hotfix, long version)
{
	struct hf_notifier *n = hf_xcalloc(1, sizeof(*n));
	pthread_condattr_t ca;

	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&n->stop, 0);
	n->run_id = hf_xstrdup(run_id);
	n->hotfix = hf_xstrdup(hotfix);
	n->version = version;
	n->t0 = hf_mono_ms();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return n;
}

void hf_notify_add(struct hf_notifier *n, const char *url, long long every_ms)
{
	struct hook *h;

	n->hooks = hf_xrealloc(n->hooks, (n->nhooks + 1) * sizeof(*n->hooks));
	h = &n->hooks[n->nhooks++];
	memset(h, 0, sizeof(*h));
	h->url = hf_xstrdup(url);
	h->every_ms = every_ms;
}

int hf_notify_add_raw(struct hf_notifier *n, const char *url)
{
	hf_notify_add(n, url, 0);
	n->hooks[n->nhooks - 1].raw = 1;
	return (int)n->nhooks - 1;
}

/* Wait on the condition until hf_mono_ms() reaches 'until' (or a signal).
 * Called with the lock held. */
static void wait_until(struct hf_notifier *n, long long until)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = hf_mono_ms();
	if (until <= now)
		return;
	ts.tv_sec += (until - now) / 1000;
	ts.tv_nsec += ((until - now) % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&n->cv, &n->mu, &ts);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

/* POST 'body' to the hook's URL once, through the multi interface so that
 * a stop is seen within POLL_MS. 0 on a 2xx answer, -1 otherwise. */
static int post(struct hook *h, const char *body)
{
	CURL *e = curl_easy_init();
	CURLM *m = curl_multi_init();
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	CURLcode res = CURLE_ABORTED_BY_CALLBACK;
	struct CURLMsg *msg;
	int running = 1, left, rc = -1;
	long code = 0;

	if (!e || !m || !hd)
		goto out;
	curl_easy_setopt(e, CURLOPT_URL, h->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)TOTAL_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "hotfix/" HF_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	if (curl_multi_add_handle(m, e) != CURLM_OK)
		goto out;
	while (running && !atomic_load(&h->n->stop)) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
	}
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE)
			res = msg->data.result;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(m, e);
	rc = res == CURLE_OK && code >= 200 && code < 300 ? 0 : -1;
out:
	curl_slist_free_all(hd);
	curl_multi_cleanup(m);
	curl_easy_cleanup(e);
	return rc;
}

/* Send 'body' with up to ATTEMPTS tries and a doubling backoff between
 * them. Called with the lock held; drops it while sending or waiting. */
static void send_with_retries(struct hook *h, const char *body)
{
	struct hf_notifier *n = h->n;
	long long backoff = BACKOFF_MS, until;
	int attempt, ok = 0;

	for (attempt = 0; !ok && attempt < ATTEMPTS && !atomic_load(&n->stop); attempt++) {
		if (attempt) {
			until = hf_mono_ms() + backoff;
			while (hf_mono_ms() < until && !atomic_load(&n->stop))
				wait_until(n, until);
			backoff *= 2;
			if (atomic_load(&n->stop))
				break;
		}
		pthread_mutex_unlock(&n->mu);
		ok = !post(h, body);
		pthread_mutex_lock(&n->mu);
	}
	if (!ok)
		h->lost++;
}

/* The periodic status: how long the run has lasted, its latest phase and
 * wave, and the guard's latest verdict. Called with the lock held. */
static char *status_body(struct hf_notifier *n)
{
	struct hf_notify_msg m = {
		.phase = "status", .hotfix = n->hotfix, .version = n->version, .run_id = n->run_id,
		.wave = n->wave, .verdict = n->verdict,
	};
	char d[32], *text, *body;

	hf_fmt_duration(hf_mono_ms() - n->t0, d, sizeof(d));
	text = hf_xasprintf("running for %s; last phase: %s", d, n->phase ? n->phase : "started");
	m.text = text;
	body = hf_notify_message(&m);
	free(text);
	return body;
}

static void *worker(void *arg)
{
	struct hook *h = arg;
	struct hf_notifier *n = h->n;
	struct item *it;
	char *body;

	pthread_mutex_lock(&n->mu);
	while (!atomic_load(&n->stop)) {
		if ((it = h->head)) {
			h->head = it->next;
			if (!h->head)
				h->tail = NULL;
			h->len--;
			h->busy = 1;
			send_with_retries(h, it->body);
			h->busy = 0;
			free(it->body);
			free(it);
			pthread_cond_broadcast(&n->cv);
			continue;
		}
		if (n->closing)
			break;
		if (h->every_ms && hf_mono_ms() >= h->next_status) {
			h->next_status = hf_mono_ms() + h->every_ms;
			body = status_body(n);
			if (body) {
				h->busy = 1;
				send_with_retries(h, body);
				h->busy = 0;
				free(body);
				pthread_cond_broadcast(&n->cv);
			}
			continue;
		}
		wait_until(n, h->every_ms ? h->next_status : hf_mono_ms() + 1000);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

int hf_notify_start(struct hf_notifier *n, struct hf_err *err)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&n->mu);
	for (i = 0; i < n->nhooks; i++) {
		n->hooks[i].n = n;
		n->hooks[i].next_status = n->t0 + n->hooks[i].every_ms;
	}
	pthread_mutex_unlock(&n->mu);
	for (i = 0; !rc && i < n->nhooks; i++) {
		if (pthread_create(&n->hooks[i].th, NULL, worker, &n->hooks[i]))
			rc = hf_err_set(err, HF_ERR, "cannot start a thread for webhook '%s'",
					n->hooks[i].url);
		else
			n->hooks[i].started = 1;
	}
	if (rc) {
		/* Those that started end at once: none runs after a failure. */
		atomic_store(&n->stop, 1);
		pthread_mutex_lock(&n->mu);
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
		for (i = 0; i < n->nhooks; i++)
			if (n->hooks[i].started)
				pthread_join(n->hooks[i].th, NULL);
		for (i = 0; i < n->nhooks; i++)
			n->hooks[i].started = 0;
		atomic_store(&n->stop, 0);
	}
	return rc;
}

static void replace(char **slot, const char *s)
{
	free(*slot);
	*slot = s ? hf_xstrdup(s) : NULL;
}

/* Append 'body' (stolen) to the queue of 'h', or drop it when the queue
 * is full. Called with the lock held. */
static void push(struct hook *h, char *body)
{
	struct item *it;

	if (h->len >= QUEUE_MAX) {
		h->lost++;
		free(body);
		return;
	}
	it = hf_xcalloc(1, sizeof(*it));
	it->body = body;
	if (h->tail)
		h->tail->next = it;
	else
		h->head = it;
	h->tail = it;
	h->len++;
}

/* Queue 'phase' with 'text' for every webhook. Called with the lock held. */
static void queue_locked(struct hf_notifier *n, const char *phase, const char *text)
{
	struct hf_notify_msg m = {
		.phase = phase, .hotfix = n->hotfix, .version = n->version, .run_id = n->run_id,
		.text = text, .wave = n->wave, .verdict = n->verdict, .nodes = n->nodes.s,
		.baseline = n->baseline,
	};
	char *body;
	size_t i;

	replace(&n->phase, phase);
	if (!strcmp(phase, "rolling back") || !strcmp(phase, "rolled back") ||
	    !strcmp(phase, "rollback incomplete") || !strcmp(phase, "error"))
		m.evidence = n->evidence;
	body = hf_notify_message(&m);
	if (!body)
		return;
	for (i = 0; i < n->nhooks; i++)
		if (!n->hooks[i].raw)
			push(&n->hooks[i], hf_xstrdup(body));
	free(body);
	pthread_cond_broadcast(&n->cv);
}

void hf_notify_post(struct hf_notifier *n, int hook, char *body)
{
	if (!n || hook < 0 || (size_t)hook >= n->nhooks) {
		free(body);
		return;
	}
	pthread_mutex_lock(&n->mu);
	push(&n->hooks[hook], body);
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void hf_notify_phase_msg(struct hf_notifier *n, const char *phase, const char *text)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	queue_locked(n, phase, text);
	pthread_mutex_unlock(&n->mu);
}

/* Remember the nodes of a step event "applied and verified on A, B; ...".
 * Called with the lock held. */
static void add_nodes(struct hf_notifier *n, const char *msg)
{
	static const char prefix[] = "applied and verified on ";
	size_t len;

	if (strncmp(msg, prefix, sizeof(prefix) - 1))
		return;
	msg += sizeof(prefix) - 1;
	len = strcspn(msg, ";");
	if (!len || !strncmp(msg, "no node", len))
		return;
	if (n->nodes.len)
		hf_buf_puts(&n->nodes, ", ");
	hf_buf_append(&n->nodes, msg, len);
}

void hf_notify_event(struct hf_notifier *n, const char *kind, const char *msg)
{
	static const char guard_prefix[] = "rolled back by the guard: ";
	static const char base_prefix[] = "baseline: ";
	const char *phase;

	if (!n || !kind || !msg)
		return;
	pthread_mutex_lock(&n->mu);
	if (!strcmp(kind, "verdict"))
		replace(&n->verdict, msg);
	else if (!strcmp(kind, "wave"))
		replace(&n->wave, msg);
	else if (!strcmp(kind, "guard") && !strncmp(msg, guard_prefix, sizeof(guard_prefix) - 1))
		replace(&n->evidence, msg + sizeof(guard_prefix) - 1);
	else if (!strcmp(kind, "guard") && !strncmp(msg, base_prefix, sizeof(base_prefix) - 1))
		replace(&n->baseline, msg + sizeof(base_prefix) - 1);
	else if (!strcmp(kind, "step"))
		add_nodes(n, msg);
	else if (!strcmp(kind, "error") && !n->evidence)
		replace(&n->evidence, msg);
	phase = hf_notify_phase(kind, msg);
	if (phase)
		queue_locked(n, phase, msg);
	pthread_mutex_unlock(&n->mu);
}

long hf_notify_finish(struct hf_notifier *n, long long wait_ms)
{
	long long deadline = hf_mono_ms() + wait_ms;
	struct item *it;
	long lost = 0;
	size_t i;
	int pending;

	if (!n)
		return 0;
	pthread_mutex_lock(&n->mu);
	n->closing = 1;
	pthread_cond_broadcast(&n->cv);
	for (;;) {
		pending = 0;
		for (i = 0; i < n->nhooks; i++)
			if (n->hooks[i].started && (n->hooks[i].head || n->hooks[i].busy))
				pending = 1;
		if (!pending || hf_mono_ms() >= deadline)
			break;
		wait_until(n, deadline);
	}
	atomic_store(&n->stop, 1);
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	for (i = 0; i < n->nhooks; i++) {
		struct hook *h = &n->hooks[i];

		if (h->started)
			pthread_join(h->th, NULL);
		lost += h->lost + (long)h->len;
		while ((it = h->head)) {
			h->head = it->next;
			free(it->body);
			free(it);
		}
		free(h->url);
	}
	free(n->hooks);
	free(n->run_id);
	free(n->hotfix);
	free(n->phase);
	free(n->wave);
	free(n->verdict);
	free(n->evidence);
	free(n->baseline);
	hf_buf_release(&n->nodes);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
	curl_global_cleanup();
	return lost;
}
