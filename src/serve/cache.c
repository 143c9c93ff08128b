/* The answers of 'hotfix serve' kept while the journal does not change.
 *
 * A dashboard, a Prometheus and a few curl loops ask the same questions
 * many times a second, and the journal changes a few times a second at
 * most: rendering a run of 10,000 events for each of 50 clients would
 * spend the CPU the rollout needs. So each answer is rendered once per
 * state of the journal. SQLite's data version, read on a connection of
 * the cache's own, tells whether any other connection has committed since;
 * an answer rendered at an older version is rendered again, once, while
 * the other askers of it wait. Answers that also hold what the nodes say
 * now (heartbeats) are kept for 'ttl_ms' at most.
 *
 * It also remembers where the walk of each run's hash chain stopped, so
 * that a run of 10,000 events written to 50 times a second is not hashed
 * from its first event 50 times a second: the events since are walked,
 * and the whole chain again once a second. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "serve/serve.h"
#include "util/buf.h"
#include "util/misc.h"

#define CACHE_ENTRIES 64
/* The runs whose hash chain walk is remembered, and how often each is
 * walked again from its first event. */
#define CHAIN_RUNS 16
#define CHAIN_FULL_MS 1000

struct entry {
	char *key;               /* NULL: a free slot */
	long long version;       /* the journal's data version it was rendered at */
	long long rendered_ms;   /* monotonic */
	long long used_ms;       /* for eviction, least recently used first */
	int building;            /* a thread renders it now */
	int status;
	char *text;
	size_t len;
	const char *ctype;
};

/* Where the walk of a run's hash chain stopped. */
struct chain {
	char *run;
	struct hf_chain ch;
	long long full_ms;       /* when it was last walked from the first event */
};

struct hf_serve_cache {
	pthread_mutex_t mu;
	pthread_cond_t built;
	struct hf_journal *watch;  /* only ever reads the data version */
	struct entry e[CACHE_ENTRIES];
	struct chain chains[CHAIN_RUNS];
};

int hf_cache_open(const char *state_dir, struct hf_serve_cache **out, struct hf_err *err)
{
	struct hf_serve_cache *c = hf_xcalloc(1, sizeof(*c));
	int rc = hf_journal_open(state_dir, &c->watch, err);

	if (rc) {
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->built, NULL);
	*out = c;
	return 0;
}

void hf_cache_free(struct hf_serve_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < CACHE_ENTRIES; i++) {
		free(c->e[i].key);
		free(c->e[i].text);
	}
	for (i = 0; i < CHAIN_RUNS; i++)
		free(c->chains[i].run);
	hf_journal_close(c->watch);
	pthread_cond_destroy(&c->built);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The entry of 'key', or a slot for it: a free one, else the least
 * recently used one nobody is rendering; NULL when all are being
 * rendered. Called with the lock held. */
static struct entry *slot_of(struct hf_serve_cache *c, const char *key)
{
	struct entry *lru = NULL;
	size_t i;

	for (i = 0; i < CACHE_ENTRIES; i++)
		if (c->e[i].key && !strcmp(c->e[i].key, key))
			return &c->e[i];
	for (i = 0; i < CACHE_ENTRIES; i++) {
		struct entry *x = &c->e[i];

		if (!x->key)
			return x;
		if (!x->building && (!lru || x->used_ms < lru->used_ms))
			lru = x;
	}
	return lru;
}

/* A copy of a rendered text: 'len' bytes and the NUL after them. */
static char *copy(const char *text, size_t len)
{
	char *s = hf_xmalloc(len + 1);

	memcpy(s, text, len + 1);
	return s;
}

static int fresh(const struct entry *x, long long version, long ttl_ms, long long now)
{
	return x->text && x->version == version && (ttl_ms < 0 || now - x->rendered_ms <= ttl_ms);
}

void hf_cache_get(struct hf_serve_cache *c, const char *key, long ttl_ms, hf_render_fn render,
		  void *arg, struct hf_rendered *out)
{
	struct hf_rendered r = {0};
	struct entry *x;
	long long version = 0, now;

	pthread_mutex_lock(&c->mu);
	/* Read before rendering: what is rendered is at least this new. An
	 * unreadable version renders every time rather than serve stale. */
	if (hf_journal_data_version(c->watch, &version, NULL))
		version = -1;
	for (;;) {
		now = hf_mono_ms();
		x = slot_of(c, key);
		if (!x || !x->building)
			break;
		/* Only its time is up, and another thread renders it: the
		 * journal has not changed, so the answer kept is served. */
		if (x->text && version >= 0 && x->version == version)
			break;
		pthread_cond_wait(&c->built, &c->mu);
	}
	if (x && version >= 0 && (fresh(x, version, ttl_ms, now) || x->building)) {
		x->used_ms = now;
		out->status = x->status;
		out->text = copy(x->text, x->len);
		out->len = x->len;
		out->ctype = x->ctype;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (x) {
		/* The answer kept stays for those who may still have it while
		 * this one is rendered. */
		if (!x->key || strcmp(x->key, key)) {
			free(x->key);
			free(x->text);
			memset(x, 0, sizeof(*x));
			x->key = hf_xstrdup(key);
		}
		x->building = 1;
	}
	pthread_mutex_unlock(&c->mu);

	render(arg, &r);

	*out = r;
	out->text = copy(r.text, r.len);
	if (!x) {
		free(r.text);
		return;
	}
	pthread_mutex_lock(&c->mu);
	x->building = 0;
	x->version = version;
	x->rendered_ms = now;
	x->used_ms = hf_mono_ms();
	x->status = r.status;
	free(x->text);
	x->text = r.text;
	x->len = r.len;
	x->ctype = r.ctype;
	pthread_cond_broadcast(&c->built);
	pthread_mutex_unlock(&c->mu);
}

/* The chain remembered for 'run', or the slot to remember it in (the one
 * walked from its start longest ago). Called with the lock held. */
static struct chain *chain_of(struct hf_serve_cache *c, const char *run)
{
	struct chain *old = &c->chains[0];
	size_t i;

	for (i = 0; i < CHAIN_RUNS; i++) {
		if (c->chains[i].run && !strcmp(c->chains[i].run, run))
			return &c->chains[i];
		if (c->chains[i].full_ms < old->full_ms)
			old = &c->chains[i];
	}
	return old;
}

void hf_cache_chain_get(struct hf_serve_cache *c, const char *run, struct hf_chain *ch)
{
	struct chain *x;

	memset(ch, 0, sizeof(*ch));
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	x = chain_of(c, run);
	if (x->run && !strcmp(x->run, run) && hf_mono_ms() - x->full_ms <= CHAIN_FULL_MS)
		*ch = x->ch;
	pthread_mutex_unlock(&c->mu);
}

void hf_cache_chain_put(struct hf_serve_cache *c, const char *run, const struct hf_chain *ch,
			int from_start)
{
	struct chain *x;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	x = chain_of(c, run);
	if (!x->run || strcmp(x->run, run)) {
		if (!from_start)
			goto out;   /* forgotten meanwhile: the next walk starts over */
		free(x->run);
		x->run = hf_xstrdup(run);
	} else if (!from_start && ch->n < x->ch.n) {
		goto out;           /* another walk went further */
	}
	x->ch = *ch;
	if (from_start)
		x->full_ms = hf_mono_ms();
out:
	pthread_mutex_unlock(&c->mu);
}
