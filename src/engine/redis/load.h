/* The load generator: GET/SET traffic against a Redis Cluster (or a plain
 * primary) that follows MOVED and ASK, survives failovers and measures
 * latency on the client side. Printing the report is src/cmd/load.c's job. */
#ifndef HF_ENGINE_REDIS_LOAD_H
#define HF_ENGINE_REDIS_LOAD_H

#include <signal.h>

#include "engine/redis/redis.h"
#include "util/err.h"

/* Keys written by the generator are "hotfix:load:{N}", N in [0, keys). */
#define HF_LOAD_KEY_PREFIX "hotfix:load:"
/* Without --seconds, a run with a request budget still stops after this. */
#define HF_LOAD_MAX_SECONDS 3600
#define HF_LOAD_MAX_ERROR_TYPES 16

struct hf_load_opts {
	long rate;            /* requests/s over all clients; 0: flat out */
	double seconds;       /* generate for this long; 0: only 'requests' bounds it */
	long long requests;   /* stop after this many requests; 0: only 'seconds' */
	int clients;          /* connections, spread over the primaries (default 50) */
	int pipeline;         /* requests in flight per connection (default 1) */
	long keys;            /* key space size (default 10000) */
	long value_size;      /* SET value length in bytes (default 64) */
	double read_ratio;    /* share of GETs, 0..1 (default 0.5) */
	long timeout_ms;      /* a request unanswered this long fails as "timeout" */
	unsigned long long seed;           /* random seed; 0: from the clock */
	volatile sig_atomic_t *stop;       /* optional: non-zero stops the run early */
};

struct hf_load_count {
	char type[24];        /* first word of the error reply, or "timeout", "conn" */
	unsigned long long n;
};

struct hf_load_report {
	int cluster_mode;
	int primaries;                 /* primaries known at the start */
	int stopped;                   /* ended early by 'stop' */
	unsigned long long requests;   /* finished requests: ok + errors */
	unsigned long long ok;
	unsigned long long errors;
	unsigned long long gets, sets; /* ok requests by command */
	struct hf_load_count error_types[HF_LOAD_MAX_ERROR_TYPES];
	size_t nerror_types;           /* the last slot collects "other" when full */
	unsigned long long moved, ask; /* redirections followed (not errors) */
	unsigned long long reconnects; /* connections re-opened after a failure */
	unsigned long long map_refreshes; /* CLUSTER SLOTS read during the run */
	double seconds;                /* from the first send to the last reply */
	double throughput;             /* ok requests per second */
	/* Latency of ok requests, send to reply, in milliseconds. */
	double p50_ms, p90_ms, p99_ms, p999_ms, max_ms, mean_ms;
};

/* Set the defaults documented in 'struct hf_load_opts'. */
void hf_load_opts_init(struct hf_load_opts *o);

/* Check 'o' for values the generator cannot run with. Returns 0, or
 * HF_EINVAL with 'err' naming the option. */
int hf_load_opts_check(const struct hf_load_opts *o, struct hf_err *err);

/* Run the workload against the cluster whose seed is 'uri' until
 * 'o->seconds' have passed or 'o->requests' finished, whichever comes first,
 * or until '*o->stop' becomes non-zero. The slot map is read from the seed
 * (CLUSTER SLOTS); without cluster mode every request goes to the seed.
 *
 * Errors while running (error replies, timeouts, lost connections) do not
 * fail the call: they are counted by type in 'report'. Returns 0 with
 * 'report' filled, HF_EINVAL for bad options, or HF_ERR with 'err' filled
 * when the seed cannot be reached or read at all ('report' untouched). */
int hf_load_run(const struct hf_uri *uri, const struct hf_load_opts *o,
		struct hf_load_report *report, /* OUT */
		struct hf_err *err);

/* Ask every running hf_load_run() of this process to stop at once and
 * report what it has. Async-signal-safe: meant for signal handlers. */
void hf_load_stop(void);

/* Redis Cluster's hash slot of a key: CRC16 (XMODEM) of its hash tag, or of
 * the whole key when it has none, modulo 16384. */
unsigned hf_load_key_slot(const char *key, size_t len);

#endif
