/* What the files of libhotfix-flags share: the client, its snapshots and
 * the readers' counters (client.c keeps them current, eval.c reads). */
#ifndef HF_LIB_FLAGS_INTERNAL_H
#define HF_LIB_FLAGS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/redis/redis.h"
#include "flags/flags.h"
#include "hotfix/flags.h"

/* One applied version: immutable once published to readers. */
struct snap {
	struct hf_flagdoc *doc;
	long long version;
	/* The flags whose fail policy is "default" (metadata.failPolicy, of
	 * the flag or else of the document): looked at only when STALE. */
	const struct hf_flag **fail_default;
	size_t nfail_default;
};

/* Reader counters are striped: each thread counts on its own stripe (a
 * cache line of its own), so that threads evaluating at once do not fight
 * over one line; the writer sums a parity's stripes. */
#define HF_FLAGSLIB_STRIPES 16
struct readers {
	_Alignas(64) atomic_long n;
};

struct hf_flags_client {
	/* ---- read by evaluations (any thread) ---- */
	_Atomic(struct snap *) cur;     /* NULL until the first version */
	atomic_uint epoch;
	struct readers readers[2][HF_FLAGSLIB_STRIPES];
	_Alignas(64) _Atomic long long last_ok_ms;  /* monotonic, coarse clock */
	long stale_ms;

	/* ---- the background thread's ---- */
	struct hf_uri uri;
	long poll_ms, timeout_ms;
	char *id;
	char host[256];
	long long started_ms;
	pthread_t thread;
	int thread_started;
	int wake[2];                    /* a pipe: hf_flags_client_free() writes to stop it */

	/* ---- hf_flags_wait() and hf_flags_last_error() ---- */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	_Atomic long long version;
	char error[512];
};

/* Milliseconds of CLOCK_MONOTONIC_COARSE: what STALE is measured with,
 * cheap enough for every evaluation. */
long long hf_flagslib_coarse_ms(void);

void hf_flagslib_snap_free(struct snap *s);

#endif
