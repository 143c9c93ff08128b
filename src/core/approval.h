/* Signed approvals: a statement over what is applied (the manifest's
 * SHA-256, the plan digest, the topology hash), signed with an approver's
 * Ed25519 key, and its verification against the policy and a plan
 * recomputed at apply time. Statements travel as files (canonical JSON);
 * nothing here reads the cluster or prints. */
#ifndef HF_CORE_APPROVAL_H
#define HF_CORE_APPROVAL_H

#include <stddef.h>

#include "core/manifest.h"
#include "core/plan.h"
#include "core/policy.h"
#include "engine/redis/redis.h"

/* What an approval is about, computed from a manifest, a live cluster and
 * the plan built on it. */
struct hf_approval_subject {
	char *hotfix;
	long version;
	char manifest_sha256[65];
	char plan_digest[65];
	char topology_hash[65];
	char *cluster;                /* the seed URI without its password */
	char **lines;                 /* hf_plan_lines() */
	size_t nlines;
};
void hf_approval_subject_init(struct hf_approval_subject *s, const struct hf_manifest *m,
			      const struct hf_cluster *c, const struct hf_plan *p);
void hf_approval_subject_release(struct hf_approval_subject *s);

/* The signed statement, as one JSON document (caller frees): 'approver'
 * signs with private key 'k'; valid from 'issued' to 'expires' (seconds
 * since the epoch). */
char *hf_approval_sign(const struct hf_approval_subject *s, const char *approver,
		       const struct hf_key *k, const char *reason, long long issued,
		       long long expires, struct hf_err *err);

/* One approval as judged at apply time. */
struct hf_approval_check {
	char approver[64];            /* as the statement names it; "" when unreadable */
	char reason[256];             /* the approver's reason, or "" */
	int counts;                   /* 1: it counts towards the approvals needed */
	char why[1024];               /* why it does not count */
};
/* Judge the statement 'text' ('len' bytes): its signature by the key of
 * the identity it names, that identity's role (approver or admin), not
 * 'author' (the actor applying), not expired at 't', and the same
 * manifest, topology and plan as 'now'. Fills 'out'; never fails. */
void hf_approval_check(const char *text, size_t len, const struct hf_policy *pol,
		       const struct hf_approval_subject *now, const char *author, long long t,
		       struct hf_approval_check *out);
/* Of 'n' judged approvals, count the distinct approvers that count; a
 * second approval by the same approver is marked as not counting. */
size_t hf_approval_count(struct hf_approval_check *v, size_t n);

#endif
