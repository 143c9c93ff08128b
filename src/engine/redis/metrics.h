/* Sampling a node's health for the guard: one pipelined fan-out of INFO
 * sections and LATENCY HISTOGRAM per interval. Counters are cumulative as
 * the node reports them; the guard takes deltas between samples. */
#ifndef HF_ENGINE_METRICS_H
#define HF_ENGINE_METRICS_H

#include <stddef.h>

#include "engine/redis/redis.h"

/* Redis' latency buckets sit near powers of two (1, 2, 4, 8, 16, 33, 66,
 * ...): bucket k is the one whose bound rounds to 2^k. */
#define HF_LAT_BUCKETS 40

struct hf_node_sample {
	int ok;                        /* answered within the deadline */
	long long rtt_us;              /* the sample's own round trip: a heartbeat */
	unsigned long long calls;      /* data commands executed (admin ones excluded) */
	unsigned long long errors;     /* data commands failed or rejected */
	unsigned long long lat_cum[HF_LAT_BUCKETS];    /* cumulative calls <= bound k */
	unsigned long long lat_bound[HF_LAT_BUCKETS];  /* bound of bucket k in µs, 0 unseen */
	int is_primary;
	long long repl_offset;         /* master_repl_offset or slave_repl_offset */
	char master_host[64];          /* replicas: their primary, as they report it */
	int master_port;
	struct hf_replica_seen {       /* primaries: each replica as the primary sees it */
		char ip[64];
		int port;
		long long offset;      /* acknowledged offset */
		long long lag_s;       /* seconds since its last acknowledgement */
	} replicas[8];
	int nreplicas;
	unsigned long long used_memory, maxmemory;
	unsigned long long rejected_conns, evicted_keys;
	char cluster_state[8];         /* "ok", "fail", or "" without cluster mode */
	int slots_fail;                /* slots whose owner this node sees failed (not
	                                * merely suspected: PFAIL clears on its own) */
};

/* Sample 'n' nodes at once into 'out' (one per node). A node that does not
 * answer within 'timeout_ms' gets ok = 0. Cluster redirections (MOVED, ASK),
 * which Redis counts as rejected calls, are not errors here. */
void hf_metrics_sample(struct hf_cluster *c, struct hf_node **nodes, size_t n,
		       struct hf_node_sample *out, long timeout_ms);

/* Synthetic probes (S10): a fresh value written to a probe key on every
 * primary ("hotfix:probe:{pN}", hash-tagged into the primary's own slots),
 * then read back from its replicas until it arrives. */
struct hf_probe_result {
	double write_ms;      /* primaries: the SET's round trip; -1 when it failed;
			       * -2 when not probed, or the node no longer owns the key
			       * (MOVED: a failover) */
	double converge_ms;   /* replicas: write to visible; -1 when not within the deadline */
	char error[64];       /* why a write failed */
};

/* Probe every shard of 'c' once with value 'seq'; 'out' has one entry per
 * cluster node. Waits at most 'timeout_ms' for the replicas. Probe keys
 * expire on their own after 'ttl_ms', so a crash leaves none for long. */
void hf_probe_run(struct hf_cluster *c, unsigned long long seq, struct hf_probe_result *out,
		  long timeout_ms, long ttl_ms);
/* Remove the probe keys from every primary. */
void hf_probe_cleanup(struct hf_cluster *c, long timeout_ms);

/* Is 'cmd' (as in cmdstat_<cmd>) one of the admin commands that hotfix and
 * monitoring send, which must not dilute error rates and latencies? */
int hf_metrics_admin_command(const char *cmd);

#endif
