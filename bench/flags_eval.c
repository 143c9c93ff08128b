/* Benchmark of the flag evaluator (issue 12): ns per evaluation of a
 * static flag, a targeting rule and a fractional flag, by key, on 1 and on
 * 8 threads evaluating the same document at once, next to a plain
 * open-addressing hash table lookup of a string key in the same run.
 *
 *   bench_flags_eval FLAGS.json [MILLIONS]   (bench/flags_eval.sh runs it)
 *
 * Prints one line per case: "CASE THREADS NS_PER_OP", where for 8 threads
 * NS_PER_OP is wall time over all their evaluations (throughput). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flags/flags.h"

#define NCTX 1024
#define NKEYS 64

static struct hf_flagdoc *doc;
static struct hf_fkv attrs[NCTX][4];
static struct hf_flagctx ctxs[NCTX];
static char keys[NCTX][32], emails[NCTX][48];
static long iters;

/* The reference: a table of NKEYS string keys, FNV-1a, linear probing. */
static struct { const char *k; size_t len; int v; } table[NKEYS * 2];
static char tkeys[NKEYS][24];

static uint32_t fnv(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int table_get(const char *k, size_t n)
{
	uint32_t h = fnv(k, n) & (NKEYS * 2 - 1);

	while (table[h].k) {
		if (table[h].len == n && !memcmp(table[h].k, k, n))
			return table[h].v;
		h = (h + 1) & (NKEYS * 2 - 1);
	}
	return -1;
}

static void setup(void)
{
	static const char *plans[] = { "free", "pro", "enterprise" };
	int i;

	for (i = 0; i < NCTX; i++) {
		int n = snprintf(keys[i], sizeof(keys[i]), "user-%d", i * 7919);
		int m = snprintf(emails[i], sizeof(emails[i]), "u%d@%s", i,
				 i % 3 ? "example.com" : "mail.org");

		attrs[i][0] = (struct hf_fkv){ "targetingKey", 12, { .type = HF_FV_STR, .len = (uint32_t)n,
								      .u.s = keys[i] } };
		attrs[i][1] = (struct hf_fkv){ "email", 5, { .type = HF_FV_STR, .len = (uint32_t)m,
							       .u.s = emails[i] } };
		attrs[i][2] = (struct hf_fkv){ "plan", 4, { .type = HF_FV_STR,
							     .len = (uint32_t)strlen(plans[i % 3]),
							     .u.s = plans[i % 3] } };
		attrs[i][3] = (struct hf_fkv){ "age", 3, { .type = HF_FV_NUM, .u.n = i % 40 } };
		ctxs[i] = (struct hf_flagctx){ attrs[i], 4, 1800000000 };
	}
	for (i = 0; i < NKEYS; i++) {
		size_t n = (size_t)snprintf(tkeys[i], sizeof(tkeys[i]), "feature-%d", i);
		uint32_t h = fnv(tkeys[i], n) & (NKEYS * 2 - 1);

		while (table[h].k)
			h = (h + 1) & (NKEYS * 2 - 1);
		table[h].k = tkeys[i];
		table[h].len = n;
		table[h].v = i;
	}
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct job {
	const char *flag;     /* NULL: the hash table; "NAME/handle": by a flag found once */
	double ns;
	long sink;
};

static void *run(void *arg)
{
	struct job *j = arg;
	char scratch[HF_FLAGS_SCRATCH];
	struct hf_flagarena arena = { scratch, sizeof(scratch), 0 };
	struct hf_flagresult res;
	size_t klen = j->flag ? strcspn(j->flag, "/") : 0;
	const struct hf_flag *handle = j->flag && j->flag[klen] ? hf_flagdoc_find(doc, j->flag, klen)
								 : NULL;
	double t0 = now_ns();
	long i, sink = 0;

	for (i = 0; i < iters; i++) {
		if (handle) {
			hf_flag_eval(handle, &ctxs[i & (NCTX - 1)], HF_FLAG_BOOL, &arena, &res);
			sink += res.value && res.value->u.b;
		} else if (j->flag) {
			hf_flagdoc_eval(doc, j->flag, klen, &ctxs[i & (NCTX - 1)], HF_FLAG_BOOL, &arena,
					&res);
			sink += res.value && res.value->u.b;
		} else {
			sink += table_get(tkeys[i & (NKEYS - 1)], strlen(tkeys[i & (NKEYS - 1)]));
		}
	}
	j->ns = (now_ns() - t0) / (double)iters;
	j->sink = sink;
	return NULL;
}

/* ns per operation: for one thread its own time per operation; for
 * several running at once, the wall time over all their operations (the
 * inverse of the throughput: on N cores at best 1/N of one thread's). */
static double measure(const char *flag, int threads)
{
	pthread_t t[8];
	struct job jobs[8];
	double t0 = now_ns();
	int i;

	for (i = 0; i < threads; i++) {
		jobs[i] = (struct job){ .flag = flag };
		pthread_create(&t[i], NULL, run, &jobs[i]);
	}
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	if (threads == 1)
		return jobs[0].ns;
	return (now_ns() - t0) / ((double)iters * threads);
}

int main(int argc, char **argv)
{
	static const char *cases[] = { "static", "rule", "fractional", "static/handle",
				       "rule/handle", "fractional/handle", NULL };
	struct hf_err err = {0};
	int c, threads;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_flags_eval FLAGS.json [MILLIONS]\n");
		return 2;
	}
	iters = (long)((argc > 2 ? atof(argv[2]) : 5) * 1e6);
	if (hf_flagdoc_load(argv[1], 0, &doc, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	setup();
	measure("static", 1);   /* warm up */
	for (threads = 1; threads <= 8; threads += 7) {
		printf("hashtable %d %.1f\n", threads, measure(NULL, threads));
		for (c = 0; cases[c]; c++)
			printf("%s %d %.1f\n", cases[c], threads, measure(cases[c], threads));
	}
	hf_flagdoc_unref(doc);
	return 0;
}
