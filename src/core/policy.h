/* The governance policy (--policy FILE, $HOTFIX_POLICY): who is who (Ed25519
 * public keys), which roles they hold, and per cluster how many approvals an
 * apply needs, its maintenance windows and who may override them. Parsing
 * and pure decisions live here; nothing here prints, reads the cluster or
 * knows about runs. */
#ifndef HF_CORE_POLICY_H
#define HF_CORE_POLICY_H

#include <stddef.h>

#include "util/err.h"
#include "util/sign.h"

enum hf_policy_role {
	HF_PROLE_VIEWER = 1 << 0,     /* plan, status */
	HF_PROLE_OPERATOR = 1 << 1,   /* plan, apply, rollback, resume, pause, continue, abort */
	HF_PROLE_APPROVER = 1 << 2,   /* approve */
	HF_PROLE_ADMIN = 1 << 3,      /* all of it; --emergency when the cluster lists it */
};

enum hf_policy_action {
	HF_ACT_PLAN,
	HF_ACT_APPLY,       /* also resume, pause, continue, abort: driving a run */
	HF_ACT_ROLLBACK,    /* any role on the cluster; never blocked by windows or approvals */
	HF_ACT_APPROVE,
	HF_ACT_EMERGENCY,   /* a role listed in the cluster's 'emergency' */
};

struct hf_policy_identity {
	char *name;
	struct hf_key *key;
	char key_id[HF_KEYID_HEX];
	unsigned roles;               /* enum hf_policy_role bits */
};

struct hf_policy_window {
	unsigned days;                /* bit 0 Monday ... bit 6 Sunday: the day a window opens */
	int from, to;                 /* minutes after local midnight; to < from spans midnight */
	char *tz;                     /* a zoneinfo name, "UTC" by default */
	char *text;                   /* "mon,tue 09:00-17:00 Europe/Berlin", for messages */
};

struct hf_policy_cluster {
	char *match;                  /* glob over "redis://host:port" (no credentials) */
	int approvals;                /* distinct approvers needed, never the author */
	struct hf_policy_window *windows;  /* none: always open */
	size_t nwindows;
	unsigned emergency;           /* roles that may use --emergency */
	long long require_drill_ms;   /* an apply needs a passed drill this young; 0: none */
	char require_drill[32];       /* as written ("24h"), or "none" */
};

struct hf_policy {
	char *path;
	char sha256[65];
	struct hf_policy_identity *ids;
	size_t nids;
	struct hf_policy_cluster *clusters;
	size_t nclusters;
	long long require_drill_ms;   /* the default of the cluster entries; 0: none */
	char require_drill[32];
};

/* Read and validate policy 'path': unknown fields, roles or days, bad
 * times, time zones not in /usr/share/zoneinfo, key files that do not
 * load (relative to the policy's directory), duplicate names or keys are
 * HF_EINVAL with "PATH:LINE:COL: ..." in 'err'. Caller frees with
 * hf_policy_free(). */
int hf_policy_load(const char *path, struct hf_policy **out, struct hf_err *err);
/* The same over 'len' bytes of 'text' named 'path'. */
int hf_policy_parse(const char *path, const char *text, size_t len, struct hf_policy **out,
		    struct hf_err *err);
void hf_policy_free(struct hf_policy *pol);

/* The identity whose public key is 'k' (a private key serves), or NULL. */
const struct hf_policy_identity *hf_policy_identity_of(const struct hf_policy *pol,
						       const struct hf_key *k);
const struct hf_policy_identity *hf_policy_identity_named(const struct hf_policy *pol,
							  const char *name);
/* The first cluster entry whose 'match' matches 'uri' (credentials are
 * left out before matching), or NULL. */
const struct hf_policy_cluster *hf_policy_cluster_for(const struct hf_policy *pol,
						      const char *uri);
/* May 'roles' do 'a' on cluster 'pc'? 1 or 0. */
int hf_policy_allows(unsigned roles, enum hf_policy_action a, const struct hf_policy_cluster *pc);
/* The roles that may do 'a' on 'pc' (for messages). */
unsigned hf_policy_roles_for(enum hf_policy_action a, const struct hf_policy_cluster *pc);
/* "operator,approver" into 'buf' ("none" for 0); returns 'buf'. */
const char *hf_policy_roles_text(unsigned roles, char *buf, size_t len);

/* Is one of 'pc''s windows open at 't' (seconds since the epoch)? A
 * cluster without windows is always open. '*which' (may be NULL) gets the
 * open window, or NULL. */
int hf_policy_window_open(const struct hf_policy_cluster *pc, long long t,
			  const struct hf_policy_window **which);
/* When a window of 'pc' opens next after 't' ('t' itself when one is
 * open), -1 when none does within eight days. '*which' (may be NULL) gets
 * that window. */
long long hf_policy_next_open(const struct hf_policy_cluster *pc, long long t,
			      const struct hf_policy_window **which);
/* 't' as "Mon 2026-11-30 09:00 CET" in time zone 'tz'. */
void hf_policy_fmt_local(long long t, const char *tz, char *out, size_t len);

/* The drill gate ('require_drill'): may an apply start, given the newest
 * drill of its manifest? */
enum hf_policy_drill {
	HF_DRILL_OK,                  /* no bound, or passed within it */
	HF_DRILL_NEVER,               /* never drilled */
	HF_DRILL_FAILED,              /* the newest drill failed */
	HF_DRILL_TOO_OLD,             /* it passed, longer than the bound ago */
};
/* The verdict for 'bound_ms' (0: no gate) on a newest drill 'found' (0:
 * none) that 'passed', 'age_ms' old. Only the newest drill counts: a
 * failed drill after a passed one refuses. */
enum hf_policy_drill hf_policy_drill_verdict(long long bound_ms, int found, int passed,
					     long long age_ms);

/* The policy clock, seconds since the epoch: the wall clock, unless the
 * test hook $HOTFIX_POLICY_NOW is set, to seconds or to a file holding
 * them (read at each call, so a test can move time during a run). */
long long hf_policy_now(void);

/* Who acts: the identity proved by the signing key, for the run's events
 * and the audit log. */
struct hf_policy_actor {
	char name[64];                /* the identity, or "" without a policy or key */
	char roles[64];               /* "operator,admin", or "" */
	char key_id[HF_KEYID_HEX];    /* "" without a key */
	char os_user[64];             /* hf_operator() */
};
/* Fill 'a' for identity 'id' (may be NULL: only the OS user). */
void hf_policy_actor_set(struct hf_policy_actor *a, const struct hf_policy_identity *id);
/* "alice (operator; key 0a1b...; os user bob)" into 'buf'; returns 'buf'. */
const char *hf_policy_actor_text(const struct hf_policy_actor *a, char *buf, size_t len);

#endif
