/* libhotfix-flags' client: options, the background thread that keeps the
 * document current (subscription, poll, heartbeat, acknowledgements), and
 * the swap of snapshots under readers that take no lock. Evaluation is in
 * eval.c; every word to Redis goes through src/engine/redis/.
 *
 * Reclamation. Readers pin a snapshot with a pair of counters indexed by
 * the parity of an epoch: a reader reads the epoch E, increments
 * readers[E & 1], checks that the epoch is still E (else it undoes the
 * increment and tries again), and only then loads 'cur'; it decrements
 * the same counter when done. The writer (this file's single thread)
 * exchanges 'cur', then increments the epoch to E + 1, then waits until
 * readers[E & 1] drops to zero before it frees the old snapshot. Every
 * access is sequentially consistent, so a reader that saw epoch E after
 * its increment is seen by the writer's wait, and a reader that saw E + 1
 * loads 'cur' after the exchange and so gets the new snapshot; a reader
 * whose check failed never loaded 'cur'. New readers count on the other
 * parity, so the wait ends within one evaluation. Readers never wait for
 * the writer (they retry only when an epoch changes under them) and never
 * allocate; the writer's wait is bounded by the slowest evaluation. Each
 * counter is in fact HF_FLAGSLIB_STRIPES counters, one per group of
 * threads (internal.h), and "zero" is their sum: the argument holds for
 * each stripe, and threads on different stripes share no cache line. */
#include "lib/flags/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/redis/flagstore.h"
#include "util/buf.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 1000

static long long clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long hf_flagslib_coarse_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC_COARSE);
}

static long long wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

void hf_flags_options_init(struct hf_flags_options *o)
{
	memset(o, 0, sizeof(*o));
	o->poll_ms = 1000;
	o->stale_ms = 5000;
	o->timeout_ms = 2000;
}

static void set_error(struct hf_flags_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_error(struct hf_flags_client *c, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->mu);
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->mu);
}

static void clear_error(struct hf_flags_client *c)
{
	pthread_mutex_lock(&c->mu);
	c->error[0] = '\0';
	pthread_mutex_unlock(&c->mu);
}

/* ---- snapshots ------------------------------------------------------------ */

void hf_flagslib_snap_free(struct snap *s)
{
	if (!s)
		return;
	hf_flagdoc_unref(s->doc);
	free(s->fail_default);
	free(s);
}

/* metadata.failPolicy of 'o', or 'inherited' when it has none. */
static int fails_to_default(const json_t *o, int inherited)
{
	const json_t *p = json_object_get(json_object_get(o, "metadata"), "failPolicy");

	return json_is_string(p) ? !strcmp(json_string_value(p), "default") : inherited;
}

/* A snapshot of version 'version' from the document text 'text': the
 * compiled document and its fail policies. NULL with 'err' filled when
 * the document does not load. */
static struct snap *snap_new(const char *text, long long version, struct hf_err *err)
{
	struct snap *s;
	json_t *root, *flags;
	size_t i, n;
	int doc_default;
	char name[64];

	snprintf(name, sizeof(name), "version %lld", version);
	s = hf_xcalloc(1, sizeof(*s));
	s->version = version;
	if (hf_flagdoc_parse(name, text, strlen(text), HF_FLAGDOC_LENIENT, &s->doc, err)) {
		free(s);
		return NULL;
	}
	/* The evaluator keeps no metadata: the policies are read here, once. */
	root = json_loads(text, 0, NULL);
	flags = json_object_get(root, "flags");
	doc_default = fails_to_default(root, 0);
	n = hf_flagdoc_count(s->doc);
	s->fail_default = hf_xcalloc(n + 1, sizeof(*s->fail_default));
	for (i = 0; i < n; i++) {
		const struct hf_flag *f = hf_flagdoc_at(s->doc, i);

		if (fails_to_default(json_object_get(flags, hf_flag_key(f)), doc_default))
			s->fail_default[s->nfail_default++] = f;
	}
	json_decref(root);
	return s;
}

/* Make 'n' the snapshot readers get and free the one it replaces once no
 * reader can hold it (the scheme is in this file's first comment). */
static void swap(struct hf_flags_client *c, struct snap *n)
{
	struct snap *old = atomic_exchange(&c->cur, n);
	unsigned e = atomic_fetch_add(&c->epoch, 1);
	int i;

	/* A stripe seen at zero may count again, but only readers that
	 * will find the epoch moved and give their count back. */
	for (i = 0; i < HF_FLAGSLIB_STRIPES; i++)
		while (atomic_load(&c->readers[e & 1][i].n) != 0)
			sched_yield();
	hf_flagslib_snap_free(old);
	pthread_mutex_lock(&c->mu);
	atomic_store(&c->version, n->version);
	c->error[0] = '\0';
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- the background thread ---------------------------------------------- */

struct link {
	struct hf_flagstore *store;     /* kept across reconnections: it knows the nodes */
	struct hf_flagsub *sub;         /* NULL: not connected */
	long long acked;                /* the last version acknowledged */
	long long applied_ms;           /* when it was applied (wall clock) */
	long long retry_ms;             /* the wait before the next connection attempt */
	long long next_try;             /* monotonic ms */
	long long next_poll;            /* monotonic ms */
};

static void link_drop(struct link *l)
{
	hf_flagsub_close(l->sub);
	l->sub = NULL;
	if (l->store)
		hf_flagstore_disconnect(l->store);
}

/* The client's entry in the clients hash, with 'seen_ms' now: its
 * announcement and, every poll, its heartbeat. */
static int heartbeat(struct hf_flags_client *c, struct link *l, struct hf_err *err)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:I}", "host", c->host, "pid",
			      (json_int_t)getpid(), "lib", HF_FLAGS_LIB_VERSION, "started_ms",
			      (json_int_t)c->started_ms, "seen_ms", (json_int_t)wall_ms());
	char *text = json_dumps(o, JSON_COMPACT);
	int rc = hf_flagstore_announce(l->store, c->id, text, err);

	free(text);
	json_decref(o);
	return rc;
}

/* Acknowledge the version applied with the time it was swapped in. With
 * 'again', also a version already acknowledged: the poll does so, so
 * that an entry pruned while the client was away comes back whole. */
static int acknowledge(struct hf_flags_client *c, struct link *l, int again, struct hf_err *err)
{
	long long v = atomic_load(&c->version);
	int rc;

	if (!v || (v <= l->acked && !again))
		return 0;
	if ((rc = hf_flagstore_ack(l->store, c->id, v, l->applied_ms, err)))
		return rc;
	l->acked = v;
	return 0;
}

/* Read the document and apply it when it is newer than the one applied.
 * A document that does not load is not applied: the last one stays, and
 * the reason is kept for hf_flags_last_error(). */
static int fetch(struct hf_flags_client *c, struct link *l, struct hf_err *err)
{
	struct hf_flagstate st;
	struct snap *s;
	int rc = hf_flagstore_read(l->store, &st, err);

	if (rc)
		return rc;
	atomic_store(&c->last_ok_ms, hf_flagslib_coarse_ms());
	if (st.version > atomic_load(&c->version)) {
		s = snap_new(st.doc, st.version, err);
		if (!s) {
			set_error(c, "cannot apply %s", err->msg);
		} else {
			swap(c, s);
			l->applied_ms = wall_ms();
			rc = acknowledge(c, l, 0, err);
		}
	}
	hf_flagstate_release(&st);
	return rc;
}

/* Connect, subscribe, announce, load: in that order, so that a version
 * published while loading is announced on a channel already listened to. */
static int link_up(struct hf_flags_client *c, struct link *l, struct hf_err *err)
{
	int rc;

	if (!l->store)
		rc = hf_flagstore_open(&c->uri, c->timeout_ms, &l->store, err);
	else
		rc = hf_flagstore_connect(l->store, err);
	if (rc || (rc = hf_flagsub_open(l->store, &l->sub, err)) || (rc = heartbeat(c, l, err)) ||
	    (rc = fetch(c, l, err)))
		link_drop(l);
	return rc;
}

/* The poll: heartbeat, then the version; fetch when it moved. */
static int poll_version(struct hf_flags_client *c, struct link *l, struct hf_err *err)
{
	long long v;
	int rc;

	if ((rc = heartbeat(c, l, err)) || (rc = hf_flagstore_version(l->store, &v, err)))
		return rc;
	atomic_store(&c->last_ok_ms, hf_flagslib_coarse_ms());
	if (v > atomic_load(&c->version))
		return fetch(c, l, err);
	return acknowledge(c, l, 1, err);
}

/* One turn: (re)connect when due, wait for a message, the poll's time or
 * the stop, act. Returns 0 to go on, 1 to stop. */
static int turn(struct hf_flags_client *c, struct link *l)
{
	struct hf_err err = {0};
	struct pollfd p[2] = { { c->wake[0], POLLIN, 0 }, { -1, POLLIN, 0 } };
	long long now = hf_flagslib_coarse_ms(), until;
	int rc = 0;

	if (!l->sub && now >= l->next_try) {
		if (link_up(c, l, &err)) {
			set_error(c, "%s", err.msg);
			l->next_try = now + l->retry_ms;
			l->retry_ms = l->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : l->retry_ms * 2;
		} else {
			l->retry_ms = RETRY_MIN_MS;
			l->next_poll = now + c->poll_ms;
		}
	}
	until = l->sub ? l->next_poll : l->next_try;
	if (l->sub)
		p[1].fd = hf_flagsub_fd(l->sub);
	if (poll(p, 2, until > now ? (int)(until - now) : 0) < 0 && errno != EINTR)
		return 1;
	if (p[0].revents)
		return 1;
	if (l->sub && p[1].revents) {
		long long v;

		if (!(rc = hf_flagsub_read(l->sub, &v, &err)) && v > atomic_load(&c->version))
			rc = fetch(c, l, &err);
	}
	if (!rc && l->sub && hf_flagslib_coarse_ms() >= l->next_poll) {
		l->next_poll = hf_flagslib_coarse_ms() + c->poll_ms;
		rc = poll_version(c, l, &err);
	}
	if (rc) {
		set_error(c, "%s", err.msg);
		link_drop(l);
		l->next_try = hf_flagslib_coarse_ms() + l->retry_ms;
	} else if (l->sub) {
		clear_error(c);
	}
	return 0;
}

static void *run(void *ud)
{
	struct hf_flags_client *c = ud;
	struct link l = { .retry_ms = RETRY_MIN_MS };

	while (!turn(c, &l))
		;
	link_drop(&l);
	hf_flagstore_close(l.store);
	return NULL;
}

/* ---- the client's life ------------------------------------------------------ */

static void make_id(struct hf_flags_client *c, const char *given)
{
	unsigned char r[4] = {0};

	if (given && *given) {
		c->id = hf_xstrdup(given);
		return;
	}
	/* The random part tells apart two clients of one process, and a
	 * process from an earlier one that had the same pid. */
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memcpy(r, &c, sizeof(r) < sizeof(c) ? sizeof(r) : sizeof(c));
	c->id = hf_xasprintf("%s:%ld:%02x%02x%02x%02x", c->host, (long)getpid(), r[0], r[1], r[2],
			     r[3]);
}

static int fail(char *errbuf, size_t errlen, const char *msg)
{
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", msg);
	return -1;
}

static int check_options(const struct hf_flags_options *o, char *errbuf, size_t errlen)
{
	if (!o || !o->uri)
		return fail(errbuf, errlen, "no cluster URI given");
	if (o->poll_ms <= 0 || o->stale_ms <= 0 || o->timeout_ms <= 0)
		return fail(errbuf, errlen, "poll_ms, stale_ms and timeout_ms must be positive");
	return 0;
}

/* Start the thread with every signal blocked (it inherits the mask at
 * creation, so there is no window): the application's signals go to its
 * own threads, and a write to a connection the server closed fails with
 * EPIPE instead of killing the application with SIGPIPE, which hiredis'
 * write(2) would raise and which a library cannot ask its host to ignore. */
static int start_thread(struct hf_flags_client *c)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, run, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int hf_flags_client_new(const struct hf_flags_options *o, struct hf_flags_client **out,
			char *errbuf, size_t errlen)
{
	struct hf_flags_client *c;
	struct hf_err err = {0};
	pthread_condattr_t ca;

	if (check_options(o, errbuf, errlen))
		return -1;
	c = hf_xcalloc(1, sizeof(*c));
	if (hf_uri_parse(o->uri, &c->uri, &err)) {
		free(c);
		return fail(errbuf, errlen, err.msg);
	}
	if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK)) {
		hf_uri_release(&c->uri);
		free(c);
		return fail(errbuf, errlen, "cannot create a pipe");
	}
	c->poll_ms = o->poll_ms;
	c->stale_ms = o->stale_ms;
	c->timeout_ms = o->timeout_ms;
	c->started_ms = wall_ms();
	if (gethostname(c->host, sizeof(c->host) - 1))
		snprintf(c->host, sizeof(c->host), "unknown");
	make_id(c, o->id);
	atomic_store(&c->last_ok_ms, hf_flagslib_coarse_ms());
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (start_thread(c)) {
		hf_flags_client_free(c);
		return fail(errbuf, errlen, "cannot start the client's thread");
	}
	c->thread_started = 1;
	*out = c;
	return 0;
}

void hf_flags_client_free(struct hf_flags_client *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		/* A full pipe already wakes the thread: the write may fail. */
		if (write(c->wake[1], "x", 1) < 0 && errno != EAGAIN)
			abort();
		pthread_join(c->thread, NULL);
	}
	close(c->wake[0]);
	close(c->wake[1]);
	hf_flagslib_snap_free(atomic_load(&c->cur));
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	hf_uri_release(&c->uri);
	free(c->id);
	free(c);
}

long long hf_flags_wait(struct hf_flags_client *c, long long after, long timeout_ms)
{
	struct timespec until;
	long long v;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->mu);
	while ((v = atomic_load(&c->version)) <= after) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&c->cv, &c->mu)
					: pthread_cond_timedwait(&c->cv, &c->mu, &until);

		if (rc == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&c->mu);
	return v;
}

long long hf_flags_version(const struct hf_flags_client *c)
{
	return atomic_load(&((struct hf_flags_client *)c)->version);
}

const char *hf_flags_client_id(const struct hf_flags_client *c)
{
	return c->id;
}

int hf_flags_last_error(struct hf_flags_client *c, char *buf, size_t buflen)
{
	int has;

	pthread_mutex_lock(&c->mu);
	has = c->error[0] != '\0';
	if (buf && buflen)
		snprintf(buf, buflen, "%s", c->error);
	pthread_mutex_unlock(&c->mu);
	return has;
}
