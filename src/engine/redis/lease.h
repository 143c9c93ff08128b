/* The cluster's lease: one driving process of hotfix at a time changes a
 * cluster, whatever state directory it uses. The lease is a hash in the
 * {hotfix} slot (holder, run, fencing token, expiry) that its holder
 * renews; every acquisition draws a new token from a counter that only
 * grows, so a driver that lost the lease can tell before its next change.
 * Also the audit trail's witness: the newest signed checkpoint of each
 * state directory, kept outside it. */
#ifndef HF_ENGINE_REDIS_LEASE_H
#define HF_ENGINE_REDIS_LEASE_H

#include "engine/redis/redis.h"

#define HF_LEASE_KEY "hotfix:lease:{hotfix}"
#define HF_LEASE_TOKEN_KEY "hotfix:lease:{hotfix}:token"
#define HF_AUDIT_WITNESS_KEY "hotfix:audit:{hotfix}"   /* hash: key id -> "seq hash ts_ms" */
#define HF_LEASE_TTL_MS 15000L

/* Who holds a lease. */
struct hf_lease_info {
	int held;               /* 0: free */
	char holder[256];       /* "user@host pid N"; "" when it expired */
	char run[64];           /* the run it drives, "" before the run exists */
	long long token;
	long long ttl_ms;       /* time left */
	long long since_ms;     /* when it was taken (server clock, unix ms) */
};

struct hf_lease;

/* Connect to the primary of the {hotfix} slot of the cluster at 'uri'.
 * Nothing is taken yet. Caller frees with hf_lease_close(). */
int hf_lease_open(const struct hf_uri *uri, long timeout_ms, struct hf_lease **out,
		  struct hf_err *err);
/* Close the connection; the lease, if held, is kept until it expires
 * (hf_lease_release() gives it up). */
void hf_lease_close(struct hf_lease *l);

/* Take the lease for run 'run' ("" when it has no id yet). HF_EREFUSED
 * with 'other' filled when another holder has it; a lease of the same
 * run whose holder was a process of this host that is gone (a driver
 * killed, then resumed) is taken over. */
int hf_lease_acquire(struct hf_lease *l, const char *run, struct hf_lease_info *other,
		     struct hf_err *err);
/* Check the token and extend the lease ('run' recorded unless NULL).
 * HF_EREFUSED with 'other' filled when the lease is no longer ours: the
 * caller must not change anything more. When its node does not answer,
 * the lease is still ours (0) while our own clock says so: two thirds of
 * the time to live from the start of the last renewal that answered;
 * after that, the node's error (the lease cannot be told). */
int hf_lease_renew(struct hf_lease *l, const char *run, struct hf_lease_info *other,
		   struct hf_err *err);
/* hf_lease_renew() when a third of the time to live passed since the last
 * renewal, else 0 at once. */
int hf_lease_tick(struct hf_lease *l, struct hf_lease_info *other, struct hf_err *err);
/* Give the lease up (only if it is still ours). */
int hf_lease_release(struct hf_lease *l, struct hf_err *err);
/* Who holds the lease now. */
int hf_lease_show(struct hf_lease *l, struct hf_lease_info *out, struct hf_err *err);
/* The fencing token held (0 before acquire). */
long long hf_lease_token(const struct hf_lease *l);
/* This process as a holder: "user@host pid N". */
const char *hf_lease_holder(const struct hf_lease *l);

/* The audit witness of state directory key 'key_id': put its newest
 * checkpoint, or get it ('*found' 0 when none). */
int hf_witness_put(struct hf_lease *l, const char *key_id, long long seq, const char *hash,
		   long long ts_ms, struct hf_err *err);
int hf_witness_get(struct hf_lease *l, const char *key_id, long long *seq, char hash[65],
		   int *found, struct hf_err *err);

#endif
