/* A test program of libhotfix-flags, built against the shared library and
 * its public header alone, as an application is. Not installed.
 *
 *   client_check threads URI UNTIL
 *	8 threads evaluate flags "n" (an integer) and "s" (a string) in a
 *	loop until version UNTIL is applied (the test publishes versions
 *	meanwhile; each version k makes "n" k and "s" "version-k"). Each
 *	thread checks that the versions it sees never go back, that every
 *	value belongs to the version evaluated with it, and (without ASan,
 *	whose runtime owns malloc) that its evaluations allocate nothing
 *	(tests/common/alloc_count.h counts per thread). Exits 0 and prints
 *	"ok ..." or prints each failure and exits 1.
 *
 *   client_check eval URI STALE_MS KEY...
 *	Prints "KEY version V value X reason R" whenever one of them
 *	changes, for the tests of STALE and of the fail policies; ends on
 *	SIGTERM. */
#include <hotfix/flags.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 8

#include "../common/alloc_count.h"

struct worker {
	struct hf_flags_client *c;
	const struct hf_flags_ctx *ctx;
	long long until;
	long long evaluations, last_version, versions_seen;
	char failure[256];
};

static int check_one(struct worker *w)
{
	struct hf_flags_details dn, ds;
	char s[64], want[64];
	long long n = hf_flags_int(w->c, "n", w->ctx, -1, &dn);

	hf_flags_string(w->c, "s", w->ctx, "none", s, sizeof(s), &ds);
	w->evaluations++;
	if (dn.version < w->last_version || ds.version < dn.version) {
		snprintf(w->failure, sizeof(w->failure), "versions went back: %lld, then %lld, %lld",
			 w->last_version, dn.version, ds.version);
		return -1;
	}
	if (dn.version > w->last_version)
		w->versions_seen++;
	w->last_version = ds.version;
	if (dn.version && n != dn.version) {
		snprintf(w->failure, sizeof(w->failure), "n is %lld in version %lld", n, dn.version);
		return -1;
	}
	snprintf(want, sizeof(want), "version-%lld", ds.version);
	if (ds.version && strcmp(s, want)) {
		snprintf(w->failure, sizeof(w->failure), "s is '%s' in version %lld", s, ds.version);
		return -1;
	}
	return 0;
}

static long long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A bound on liveness, not a timing check: a test that publishes nothing
 * more must not hang. */
#define GIVE_UP_S 120

static void *work(void *ud)
{
	struct worker *w = ud;
	long long end = mono_s() + GIVE_UP_S;
	long before = alloc_count;

	while (w->last_version < w->until) {
		if (check_one(w))
			break;
		if ((w->evaluations & 0xfff) == 0 && mono_s() > end) {
			snprintf(w->failure, sizeof(w->failure), "gave up at version %lld",
				 w->last_version);
			break;
		}
	}
	if (ALLOC_COUNTING && alloc_count != before && !w->failure[0])
		snprintf(w->failure, sizeof(w->failure), "%ld allocations in %lld evaluations",
			 alloc_count - before, w->evaluations);
	return NULL;
}

static int threads(struct hf_flags_client *c, long long until)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	struct hf_flags_ctx *ctx = hf_flags_ctx_new();
	long long total = 0, least = -1;
	int i, failed = 0;

	hf_flags_ctx_set_string(ctx, "targetingKey", "user-1");
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = c;
		w[i].ctx = ctx;
		w[i].until = until;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failure[0]) {
			printf("thread %d: %s\n", i, w[i].failure);
			failed = 1;
		}
		total += w[i].evaluations;
		if (least < 0 || w[i].versions_seen < least)
			least = w[i].versions_seen;
	}
	hf_flags_ctx_free(ctx);
	if (!failed)
		printf("ok threads %d evaluations %lld versions seen by each at least %lld%s\n",
		       NTHREADS, total, least, ALLOC_COUNTING ? " allocations 0" : "");
	return failed;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* One line per change of a key's version, value or reason. */
static int eval(struct hf_flags_client *c, int nkeys, char **keys)
{
	char last[16][256] = { { 0 } }, line[256], value[128];
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	int i;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		for (i = 0; i < nkeys && i < 16; i++) {
			struct hf_flags_details d;

			hf_flags_json(c, keys[i], NULL, value, sizeof(value), &d);
			snprintf(line, sizeof(line), "%s version %lld value %s reason %s variant %s",
				 keys[i], d.version, value, hf_flags_reason_name(d.reason),
				 d.variant[0] ? d.variant : "-");
			if (strcmp(line, last[i])) {
				printf("%s%s\n", line, d.stale_ms > 0 ? " stale_ms>0" : "");
				fflush(stdout);
				memcpy(last[i], line, sizeof(line));
			}
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct hf_flags_options o;
	struct hf_flags_client *c;
	char err[512];
	int rc;

	if (argc < 4 || (strcmp(argv[1], "threads") && strcmp(argv[1], "eval")) ||
	    (!strcmp(argv[1], "eval") && argc < 5)) {
		fputs("usage: client_check threads URI UNTIL | eval URI STALE_MS KEY...\n", stderr);
		return 2;
	}
	hf_flags_options_init(&o);
	o.uri = argv[2];
	if (!strcmp(argv[1], "eval")) {
		o.stale_ms = atol(argv[3]);
		o.poll_ms = o.stale_ms / 4 > 0 ? o.stale_ms / 4 : 1;
		o.timeout_ms = 500;
	}
	if (hf_flags_client_new(&o, &c, err, sizeof(err))) {
		fprintf(stderr, "client_check: %s\n", err);
		return 1;
	}
	if (!strcmp(argv[1], "threads"))
		rc = threads(c, atoll(argv[3]));
	else
		rc = eval(c, argc - 4, argv + 4);
	hf_flags_client_free(c);
	return rc;
}
