/* The load generator: GET/SET traffic, or a profile's command mix (see
 * struct hf_load_mix), against a Redis Cluster (or a plain primary) that follows MOVED and ASK, survives failovers and measures
 * latency on the client side. Printing the report is src/cmd/load.c's job. */
#ifndef HF_ENGINE_REDIS_LOAD_H
#define HF_ENGINE_REDIS_LOAD_H

#include <signal.h>

#include "engine/redis/redis.h"
#include "util/err.h"

/* Keys written by the generator are "hotfix:load:{N}", N in [0, keys). */
#define HF_LOAD_KEY_PREFIX "hotfix:load:"
/* With 'check_writes', keys are "hotfix:check:RUN:{SEQ}" instead: RUN is 16
 * hex digits drawn for the run, so two runs never share a key, and SEQ
 * counts the run's SETs from 0. The hash tag is SEQ, so keys spread over
 * every slot as the load keys do. The value is SEQ in decimal, padded to
 * 'value_size' with the filler the load keys use. */
#define HF_LOAD_CHECK_PREFIX "hotfix:check:"
/* Verification and cleanup retry a key for this many request timeouts after
 * its first try, and give up on all that is left when no key got an answer
 * for that long. */
#define HF_LOAD_CHECK_TIMEOUTS 5
/* Without --seconds, a run with a request budget still stops after this. */
#define HF_LOAD_MAX_SECONDS 3600
#define HF_LOAD_MAX_ERROR_TYPES 16

/* The commands a workload profile's mix is replayed with; hf_load_op_name()
 * gives each one's name, as INFO commandstats spells it. */
enum hf_load_op {
	HF_OP_GET, HF_OP_SET, HF_OP_SETEX, HF_OP_INCR, HF_OP_DEL, HF_OP_EXISTS, HF_OP_EXPIRE,
	HF_OP_TTL,
	HF_OP_HGET, HF_OP_HSET, HF_OP_HGETALL, HF_OP_HINCRBY, HF_OP_HDEL, HF_OP_HLEN,
	HF_OP_LPUSH, HF_OP_RPUSH, HF_OP_LPOP, HF_OP_RPOP, HF_OP_LRANGE, HF_OP_LLEN,
	HF_OP_SADD, HF_OP_SREM, HF_OP_SMEMBERS, HF_OP_SISMEMBER, HF_OP_SCARD,
	HF_OP_ZADD, HF_OP_ZREM, HF_OP_ZRANGE, HF_OP_ZSCORE, HF_OP_ZINCRBY, HF_OP_ZCARD,
	HF_LOAD_NOPS
};

/* The key types of the replay, each with its own keys: "hotfix:load:{N}"
 * (strings; INCR's counters are "hotfix:load:n:{N}"), "hotfix:load:h:{N}",
 * ":l:", ":s:", ":z:". */
enum hf_load_family { HF_FAM_STRING, HF_FAM_HASH, HF_FAM_LIST, HF_FAM_SET, HF_FAM_ZSET,
		      HF_LOAD_NFAMS };

/* A size distribution given by its values 'v' at cumulative shares 'q'
 * (0 the smallest, 1 the largest), increasing; drawn by linear
 * interpolation between them. n == 0: none known. */
#define HF_LOAD_DIST_POINTS 8
struct hf_load_dist {
	int n;
	double q[HF_LOAD_DIST_POINTS], v[HF_LOAD_DIST_POINTS];
};

/* A command of the profile the replay does not have, and what it is
 * replayed as instead: an op's name, or "get/set" (split by the read
 * share: a command whose kind is unknown). */
struct hf_load_fold {
	char from[48];
	char to[16];
	double share;
};

/* A workload profile's command mix and sizes (hotfix-profile/2). */
struct hf_load_mix {
	double share[HF_LOAD_NOPS];      /* of the requests; they add up to 1 */
	double type_share[HF_LOAD_NFAMS]; /* of the keys; 0: unknown */
	struct hf_load_dist key_size;    /* key name length, all types */
	struct hf_load_dist length[HF_LOAD_NFAMS];       /* string bytes, elements */
	struct hf_load_dist element_size[HF_LOAD_NFAMS]; /* bytes per element */
	struct hf_load_fold *folded;
	size_t nfolded;
};

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
	/* Every SET writes a new key; GETs read acknowledged keys back and
	 * compare; at the end every acknowledged key is read back once more,
	 * then every key the run wrote is deleted. 'keys' is not used. */
	int check_writes;
	long check_pause_ms;  /* with check_writes: wait this long before the read-back
			       * (a testing aid; 'stop' ends the wait early) */
	volatile sig_atomic_t *stop;       /* optional: non-zero stops the run early */
	/* Optional: the command mix, keys and sizes of a profile instead of
	 * GET/SET of 'value_size' bytes ('read_ratio' is then unused). With
	 * check_writes its GETs and SETs are the checked ones, and at least
	 * HF_LOAD_CHECK_SHARE of the requests are checked SETs. */
	const struct hf_load_mix *mix;
};

/* With a mix and check_writes, the least share of checked SETs. */
#define HF_LOAD_CHECK_SHARE 0.1

/* The name of 'op' (lower case), or NULL out of range. */
const char *hf_load_op_name(int op);

/* Add 'share' of the profile's command 'name' (INFO commandstats' name,
 * lower case; 'kind' "read", "write" or anything else for unknown) to 'm':
 * as the op of that name, or folded into the nearest op of its type by its
 * kind (a read into the type's main read, a write into its main write, a
 * pop or removal into its removal), or for an unknown kind into GET and SET
 * by 'read_share'. A fold is recorded in 'm->folded'. */
void hf_load_mix_add(struct hf_load_mix *m, const char *name, const char *kind, double share,
		     double read_share);

/* The shares the run draws from: 'm->share' made to add up to 1 and, with
 * 'check_writes', SET raised to HF_LOAD_CHECK_SHARE when below it (the
 * others scaled down). Returns 0 when the mix has no share at all. */
int hf_load_mix_effective(const struct hf_load_mix *m, int check_writes,
			  double share[HF_LOAD_NOPS] /* OUT */);

/* Free what 'm' holds and clear it. */
void hf_load_mix_release(struct hf_load_mix *m);

struct hf_load_count {
	char type[24];        /* first word of the error reply, or "timeout", "conn" */
	unsigned long long n;
};

/* A shard is a primary of the slot map read at the start, with the slots it
 * owned then; it stays the same shard when a replica takes its slots over.
 * Without cluster mode there is one shard, the seed.
 *
 * The unavailable window of a shard is the longest time during which the
 * client got no successful reply for any of the shard's keys while it was
 * waiting for one: from the shard's last successful reply (or, when nothing
 * was outstanding then, from the next request for its keys) to its next
 * successful reply, counting only stretches during which at least one
 * request for its keys was outstanding or had failed. A failure keeps the
 * stretch open until a success, even when no request follows for a while;
 * one that no success follows ends with the traffic. Only the traffic
 * counts (GET and SET, or the mix's commands); a redirected request is outstanding until it is over.
 * A "lost" read (see check_writes) had an answer and counts as a success.
 *
 * So a healthy shard shows about the longest pause between replies it
 * gives under the load (at a low rate: about the slowest request), a few ms;
 * a shard whose primary fails shows the time its clients waited, through
 * errors, timeouts and redirections, until they were served again. */
struct hf_load_shard {
	char primary[272];    /* "host:port" of the primary at the start */
	double window_ms;     /* the unavailable window, see above */
	unsigned long long errors; /* failed requests for its keys */
};

struct hf_load_report {
	int cluster_mode;
	int primaries;                 /* primaries known at the start */
	int stopped;                   /* ended early by 'stop' */
	unsigned long long requests;   /* finished requests: ok + errors */
	unsigned long long ok;
	unsigned long long errors;
	unsigned long long gets, sets; /* ok requests by command */
	unsigned long long ops[HF_LOAD_NOPS]; /* ok requests by op (GET and SET included) */
	unsigned long long reads, writes;     /* ok requests that read, that write */
	struct hf_load_count error_types[HF_LOAD_MAX_ERROR_TYPES];
	size_t nerror_types;           /* the last slot collects "other" when full */
	unsigned long long moved, ask; /* redirections followed (not errors) */
	unsigned long long reconnects; /* connections re-opened after a failure */
	unsigned long long map_refreshes; /* CLUSTER SLOTS read during the run */
	double seconds;                /* from the first send to the last reply */
	double throughput;             /* ok requests per second */
	/* Latency of ok requests, send to reply, in milliseconds. */
	double p50_ms, p90_ms, p99_ms, p999_ms, max_ms, mean_ms;
	/* One entry per shard (see struct hf_load_shard); keys of slots that no
	 * primary owned at the start belong to none. */
	struct hf_load_shard *shards;
	size_t nshards;
	double unavailable_ms;         /* the largest 'window_ms' of the shards */
	/* With check_writes. A GET during the run that finds an acknowledged
	 * key missing or with another value fails as error type "lost". */
	int check_writes;
	unsigned long long acked_writes;  /* SETs answered OK */
	unsigned long long verified;      /* read back at the end with their value */
	unsigned long long lost;          /* read back missing or with another value */
	unsigned long long unverifiable;  /* could not be read back in time */
};

/* Set the defaults documented in 'struct hf_load_opts'. */
void hf_load_opts_init(struct hf_load_opts *o);

/* Check 'o' for values the generator cannot run with. Returns 0, or
 * HF_EINVAL with 'err' naming the option. */
int hf_load_opts_check(const struct hf_load_opts *o, struct hf_err *err);

/* Free what 'r' holds (its shards) and clear those fields. */
void hf_load_report_release(struct hf_load_report *r);

/* Run the workload against the cluster whose seed is 'uri' until
 * 'o->seconds' have passed or 'o->requests' finished, whichever comes first,
 * or until '*o->stop' becomes non-zero. The slot map is read from the seed
 * (CLUSTER SLOTS); without cluster mode every request goes to the seed.
 *
 * With 'o->check_writes', the traffic is followed by the read-back of every
 * acknowledged key and the deletion of every key the run wrote, pipelined and
 * routed like the traffic; 'stop' ends the traffic but not these two, which
 * are bounded by HF_LOAD_CHECK_TIMEOUTS. Only the traffic counts in the
 * request, latency and redirection figures.
 *
 * Errors while running (error replies, timeouts, lost connections) do not
 * fail the call: they are counted by type in 'report'. Returns 0 with
 * 'report' filled (caller frees with hf_load_report_release()), HF_EINVAL
 * for bad options, or HF_ERR with 'err' filled when the seed cannot be
 * reached or read at all ('report' untouched). */
int hf_load_run(const struct hf_uri *uri, const struct hf_load_opts *o,
		struct hf_load_report *report, /* OUT */
		struct hf_err *err);

/* Ask every running hf_load_run() of this process to stop at once and
 * report what it has. Async-signal-safe: meant for signal handlers. */
void hf_load_stop(void);

#endif
