/* Benchmark of libhotfix-flags' evaluation, through the shared library's
 * public API: ns per hf_flags_bool() on 1 and on 8 threads, for a static
 * flag and a fractional one, while the client's thread keeps the document
 * current. bench/flags_propagation.sh runs it on its sandbox.
 *
 *   bench_flags_client URI COUNT */
#define _POSIX_C_SOURCE 200809L
#include <hotfix/flags.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAXTHREADS 8
#define NCTX 256

struct job {
	struct hf_flags_client *c;
	struct hf_flags_ctx **ctx;
	const char *key;
	long count;
	long on;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *work(void *ud)
{
	struct job *j = ud;
	long i;

	for (i = 0; i < j->count; i++)
		j->on += hf_flags_bool(j->c, j->key, j->ctx[i % NCTX], 0, NULL);
	return NULL;
}

/* Wall time over every evaluation of 'n' threads: ns per evaluation. */
static double run(struct hf_flags_client *c, struct hf_flags_ctx **ctx, const char *key,
		  long count, int n)
{
	pthread_t t[MAXTHREADS];
	struct job j[MAXTHREADS];
	double t0 = now_ns();
	int i;

	for (i = 0; i < n; i++) {
		j[i] = (struct job){ c, ctx, key, count, 0 };
		pthread_create(&t[i], NULL, work, &j[i]);
	}
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return (now_ns() - t0) / ((double)count * n);
}

int main(int argc, char **argv)
{
	struct hf_flags_options o;
	struct hf_flags_client *c;
	struct hf_flags_ctx *ctx[NCTX];
	const char *keys[] = { "ui", "rollout" };
	char err[256], key[32];
	long count;
	int i, k;

	if (argc != 3) {
		fputs("usage: bench_flags_client URI COUNT\n", stderr);
		return 2;
	}
	count = atol(argv[2]);
	hf_flags_options_init(&o);
	o.uri = argv[1];
	if (hf_flags_client_new(&o, &c, err, sizeof(err)) || hf_flags_wait(c, 0, 10000) == 0) {
		fprintf(stderr, "bench_flags_client: no document\n");
		return 1;
	}
	for (i = 0; i < NCTX; i++) {
		ctx[i] = hf_flags_ctx_new();
		snprintf(key, sizeof(key), "user-%d", i);
		hf_flags_ctx_set_string(ctx[i], "targetingKey", key);
	}
	printf("  FLAG        1 THREAD  8 THREADS   (ns per hf_flags_bool, %ld per thread)\n", count);
	for (k = 0; k < 2; k++)
		printf("  %-10s %9.1f %10.1f\n", keys[k], run(c, ctx, keys[k], count, 1),
		       run(c, ctx, keys[k], count, MAXTHREADS));
	for (i = 0; i < NCTX; i++)
		hf_flags_ctx_free(ctx[i]);
	hf_flags_client_free(c);
	return 0;
}
