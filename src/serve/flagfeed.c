/* The flag document that 'hotfix serve' evaluates for OFREP, kept current
 * by a thread of its own: the snapshots (compiled document, metadata, the
 * flags that need a targeting key) and the thread that follows the
 * cluster's flag store. Every word to Redis goes through
 * src/engine/redis/flagstore.h; what OFREP answers is in ofrep.c.
 *
 * Sharing. The current snapshot is a pointer under a mutex that is held
 * only to swap it or to take a reference (an atomic count), never while a
 * flag is evaluated: a request thread takes a reference, evaluates
 * without any lock, and drops it; the last one to drop a snapshot that
 * was replaced frees it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/redis/flagstore.h"
#include "flags/flags.h"
#include "serve/serve.h"
#include "util/buf.h"
#include "util/misc.h"

/* The poll that catches a message lost with a connection, and the waits
 * between two attempts to reach the store. */
#define POLL_MS 1000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 1000
/* How deep a rule is searched for 'fractional' (deeper rules are rare;
 * such a flag then buckets without the check, as flagd-core does). */
#define WALK_DEPTH 64

/* ---- snapshots ------------------------------------------------------------ */

void hf_ofrep_snap_unref(struct hf_ofrep_snap *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	hf_flagdoc_unref(s->doc);
	json_decref(s->meta);
	free(s->needs_key);
	free(s);
}

/* Does rule 'r' (of document 'root', whose $evaluators a $ref names) use
 * 'fractional' without a bucketing expression, so that it buckets by the
 * targeting key? */
static int buckets_by_key(const json_t *r, const json_t *root, int depth)
{
	const char *k;
	json_t *v;
	size_t i;

	if (depth > WALK_DEPTH)
		return 0;
	if (json_is_array(r)) {
		json_array_foreach(r, i, v)
			if (buckets_by_key(v, root, depth + 1))
				return 1;
		return 0;
	}
	if (!json_is_object(r))
		return 0;
	json_object_foreach((json_t *)r, k, v) {
		if (!strcmp(k, "fractional") && json_is_array(json_array_get(v, 0)))
			return 1;
		if (!strcmp(k, "$ref") && json_is_string(v)) {
			const json_t *e = json_object_get(json_object_get(root, "$evaluators"),
							  json_string_value(v));

			if (e && buckets_by_key(e, root, depth + 1))
				return 1;
			continue;
		}
		if (buckets_by_key(v, root, depth + 1))
			return 1;
	}
	return 0;
}

/* Each flag's metadata and its need of a targeting key, from the
 * document's JSON 'root' (the evaluator keeps neither). */
static void snap_scan(struct hf_ofrep_snap *s, const json_t *root)
{
	const json_t *flags = json_object_get(root, "flags");
	const json_t *docmeta = json_object_get(root, "metadata");
	size_t i, n = hf_flagdoc_count(s->doc);

	s->meta = json_object();
	s->needs_key = hf_xcalloc(n + 1, sizeof(*s->needs_key));
	for (i = 0; i < n; i++) {
		const struct hf_flag *f = hf_flagdoc_at(s->doc, i);
		const json_t *fj = json_object_get(flags, hf_flag_key(f));
		json_t *m = json_is_object(docmeta) ? json_deep_copy(docmeta) : json_object();

		if (json_is_object(json_object_get(fj, "metadata")))
			json_object_update(m, json_object_get(fj, "metadata"));
		json_object_set_new(s->meta, hf_flag_key(f), m);
		if (buckets_by_key(json_object_get(fj, "targeting"), root, 0))
			s->needs_key[s->nneeds++] = f;
	}
}

struct hf_ofrep_snap *hf_ofrep_snap_new(const char *text, long long version, struct hf_err *err)
{
	struct hf_ofrep_snap *s = hf_xcalloc(1, sizeof(*s));
	json_t *root;
	char name[64];

	s->refs = 1;
	s->version = version;
	if (!text) {
		s->meta = json_object();
		return s;
	}
	snprintf(name, sizeof(name), "flag document version %lld", version);
	if (hf_flagdoc_parse(name, text, strlen(text), HF_FLAGDOC_LENIENT, &s->doc, err)) {
		free(s);
		return NULL;
	}
	root = json_loads(text, 0, NULL);
	snap_scan(s, root);
	json_decref(root);
	return s;
}

/* ---- the thread that follows the store ------------------------------------ */

struct hf_flagfeed {
	struct hf_uri uri;
	long timeout_ms;
	pthread_mutex_t mu;
	struct hf_ofrep_snap *cur;      /* under 'mu'; NULL until a first read */
	char error[2048];              /* under 'mu': why the last attempt failed */
	int wake[2];                    /* a byte on wake[1] stops the thread */
	pthread_t th;
	/* The thread's own. */
	struct hf_flagstore *store;
	struct hf_flagsub *sub;
};

struct hf_ofrep_snap *hf_flagfeed_get(struct hf_flagfeed *f, char *why, size_t whylen)
{
	struct hf_ofrep_snap *s;

	pthread_mutex_lock(&f->mu);
	s = f->cur;
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	else
		snprintf(why, whylen, "the flag document has not been read yet: %s",
			 f->error[0] ? f->error : "connecting to the cluster");
	pthread_mutex_unlock(&f->mu);
	return s;
}

/* Record why the store could not be followed ('msg'), or clear it. */
static void feed_error(struct hf_flagfeed *f, const char *msg)
{
	pthread_mutex_lock(&f->mu);
	snprintf(f->error, sizeof(f->error), "%s", msg ? msg : "");
	pthread_mutex_unlock(&f->mu);
}

static long long feed_version(struct hf_flagfeed *f)
{
	long long v;

	pthread_mutex_lock(&f->mu);
	v = f->cur ? f->cur->version : -1;
	pthread_mutex_unlock(&f->mu);
	return v;
}

/* Read the document and make it current when it is newer. A document that
 * does not load is not applied: the last one stays, and the reason is
 * kept. */
static int fetch(struct hf_flagfeed *f, struct hf_err *err)
{
	struct hf_flagstate st = {0};
	struct hf_ofrep_snap *s, *old = NULL;
	int rc = hf_flagstore_read(f->store, &st, err);

	if (rc)
		return rc;
	if (st.version > feed_version(f)) {
		s = hf_ofrep_snap_new(st.version ? st.doc : NULL, st.version, err);
		if (!s) {
			feed_error(f, err->msg);
		} else {
			pthread_mutex_lock(&f->mu);
			old = f->cur;
			f->cur = s;
			f->error[0] = '\0';
			pthread_mutex_unlock(&f->mu);
			hf_ofrep_snap_unref(old);
		}
	}
	hf_flagstate_release(&st);
	return 0;
}

static void link_drop(struct hf_flagfeed *f)
{
	hf_flagsub_close(f->sub);
	hf_flagstore_close(f->store);
	f->sub = NULL;
	f->store = NULL;
}

/* Connect, subscribe, then read: a version published while reading is
 * announced on a channel already listened to. */
static int link_up(struct hf_flagfeed *f, struct hf_err *err)
{
	int rc;

	if ((rc = hf_flagstore_open(&f->uri, f->timeout_ms, &f->store, err)) ||
	    (rc = hf_flagsub_open(f->store, &f->sub, err)) || (rc = fetch(f, err)))
		link_drop(f);
	return rc;
}

/* Wait for a message, the poll's time or the stop ('*retry_ms' the wait
 * before the next connection attempt), and act. Returns 1 to stop. */
static int turn(struct hf_flagfeed *f, long long *next, long *retry_ms)
{
	struct pollfd p[2] = { { f->wake[0], POLLIN, 0 }, { -1, POLLIN, 0 } };
	struct hf_err err = {0};
	long long now = hf_mono_ms(), v = 0;
	int rc = 0;

	if (f->sub)
		p[1].fd = hf_flagsub_fd(f->sub);
	if (poll(p, 2, *next > now ? (int)(*next - now) : 0) < 0 && errno != EINTR)
		return 1;
	if (p[0].revents)
		return 1;
	if (!f->store) {
		if (hf_mono_ms() < *next)
			return 0;
		rc = link_up(f, &err);
		*retry_ms = rc ? (*retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *retry_ms * 2)
			       : RETRY_MIN_MS;
	} else if (p[1].revents) {
		if (!(rc = hf_flagsub_read(f->sub, &v, &err)) && v > feed_version(f))
			rc = fetch(f, &err);
	} else if (hf_mono_ms() >= *next) {
		if (!(rc = hf_flagstore_version(f->store, &v, &err)) && v > feed_version(f))
			rc = fetch(f, &err);
	}
	if (rc) {
		feed_error(f, err.msg);
		link_drop(f);
		*next = hf_mono_ms() + *retry_ms;
	} else if (hf_mono_ms() >= *next || !p[1].revents) {
		*next = hf_mono_ms() + POLL_MS;
	}
	return 0;
}

static void *run(void *arg)
{
	struct hf_flagfeed *f = arg;
	long long next = 0;
	long retry = RETRY_MIN_MS;
	sigset_t all;

	/* No signal for this thread: the command's go to its own thread, and
	 * a connection the cluster closed is an error, not a SIGPIPE. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!turn(f, &next, &retry))
		;
	link_drop(f);
	return NULL;
}

int hf_flagfeed_start(const char *cluster, long timeout_ms, struct hf_flagfeed **out,
		      struct hf_err *err)
{
	struct hf_flagfeed *f = hf_xcalloc(1, sizeof(*f));
	struct hf_err first = {0};
	int rc;

	rc = hf_uri_parse(cluster, &f->uri, err);
	if (rc) {
		free(f);
		return rc;
	}
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	pthread_mutex_init(&f->mu, NULL);
	if (pipe2(f->wake, O_CLOEXEC)) {
		rc = hf_err_set(err, HF_ERR, "pipe: %s", strerror(errno));
		goto fail;
	}
	/* Read at start, so that the first requests find the document; a
	 * cluster that does not answer now is tried again by the thread. */
	if (link_up(f, &first))
		feed_error(f, first.msg);
	if (pthread_create(&f->th, NULL, run, f)) {
		rc = hf_err_set(err, HF_ERR, "cannot start the flag document's thread");
		goto fail;
	}
	*out = f;
	return 0;
fail:
	link_drop(f);
	if (f->wake[0] > 0) {
		close(f->wake[0]);
		close(f->wake[1]);
	}
	hf_ofrep_snap_unref(f->cur);
	pthread_mutex_destroy(&f->mu);
	hf_uri_release(&f->uri);
	free(f);
	return rc;
}

void hf_flagfeed_stop(struct hf_flagfeed *f)
{
	if (!f)
		return;
	while (write(f->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(f->th, NULL);
	close(f->wake[0]);
	close(f->wake[1]);
	hf_ofrep_snap_unref(f->cur);
	pthread_mutex_destroy(&f->mu);
	hf_uri_release(&f->uri);
	free(f);
}
