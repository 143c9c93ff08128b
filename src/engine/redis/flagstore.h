/* The flag store (issue 12): the current flag document and its version,
 * the clients that read it and the versions they applied, kept in the
 * cluster the application already uses. Every key carries the hash tag
 * {hotfix}, so they all live in one slot on one primary; a new version is
 * announced on the channel 'hotfix:flags', which Redis Cluster forwards to
 * every node. What the document means is src/flags/'s business, not this
 * file's. */
#ifndef HF_ENGINE_REDIS_FLAGSTORE_H
#define HF_ENGINE_REDIS_FLAGSTORE_H

#include "engine/redis/redis.h"
#include "util/err.h"

#define HF_FLAGSTORE_DOC     "hotfix:flags:{hotfix}:doc"     /* hash: version, doc, published_ms, run */
#define HF_FLAGSTORE_CLIENTS "hotfix:flags:{hotfix}:clients" /* hash: id -> JSON of the client */
#define HF_FLAGSTORE_ACKS    "hotfix:flags:{hotfix}:acks"    /* hash: id -> "VERSION APPLIED_MS" */
#define HF_FLAGSTORE_VERSIONS "hotfix:flags:{hotfix}:versions" /* hash: version -> published_ms */
#define HF_FLAGSTORE_CHANNEL "hotfix:flags"                  /* messages "VERSION PUBLISHED_MS" */

/* The current document. 'version' 0: nothing was ever published. */
struct hf_flagstate {
	long long version;
	char *doc;               /* canonical JSON, NULL when version is 0 */
	long long published_ms;  /* the primary's clock (unix ms) */
	char *run;               /* the run that published it, or "" */
};
void hf_flagstate_release(struct hf_flagstate *s);

/* A client as it announced itself, with its last acknowledgement. */
struct hf_flagclient {
	char *id;
	char *host;
	long long pid;
	char *lib;               /* the library's version */
	long long started_ms;
	long long seen_ms;       /* its last heartbeat (its clock, unix ms) */
	long long applied_version;  /* 0: none acknowledged */
	long long applied_ms;
};
void hf_flagclients_free(struct hf_flagclient *c, size_t n);

/* Fill 'out' from a client's entry: 'json' its announcement (may be NULL
 * when only an acknowledgement is left) and 'ack' "VERSION APPLIED_MS"
 * (may be NULL). Pure, for tests. Returns 0, or HF_EINVAL for text that
 * is neither (then 'out' holds the id alone). */
int hf_flagclient_parse(const char *id, const char *json, const char *ack,
			struct hf_flagclient *out);
/* "VERSION PUBLISHED_MS" as published on the channel (or an ack). Returns
 * 0, or HF_EINVAL. */
int hf_flagstore_parse_message(const char *s, size_t len, long long *version, long long *ms);

/* A connection to the primary that owns the flag keys: found from the
 * seed in 'uri' (CLUSTER SLOTS and the keys' slot; the seed itself
 * without cluster mode), followed through MOVED after a failover. */
struct hf_flagstore;
int hf_flagstore_open(const struct hf_uri *uri, long timeout_ms, struct hf_flagstore **out,
		      struct hf_err *err);
void hf_flagstore_close(struct hf_flagstore *s);
/* Connect now when not connected (the seed, else the nodes CLUSTER SLOTS
 * named last time, then the keys' primary). Every call does so itself;
 * this is for callers that need the node before their first command. */
int hf_flagstore_connect(struct hf_flagstore *s, struct hf_err *err);
/* Close the connection; the next call connects again. */
void hf_flagstore_disconnect(struct hf_flagstore *s);
/* "host:port" of the node it talks to. */
const char *hf_flagstore_addr(const struct hf_flagstore *s);

/* The current document. Caller releases 'out' with hf_flagstate_release(). */
int hf_flagstore_read(struct hf_flagstore *s, struct hf_flagstate *out, struct hf_err *err);
/* Only the current version (0: none), for a cheap poll. */
int hf_flagstore_version(struct hf_flagstore *s, long long *version, struct hf_err *err);

/* Publish 'doc' (canonical JSON) as version 'expect' + 1, only when the
 * current version is 'expect', and announce it on the channel; 'run' may
 * be NULL. On success fills 'version' and 'published_ms'. Returns
 * HF_EREFUSED naming both versions when another version is current:
 * nothing is changed then. */
int hf_flagstore_publish(struct hf_flagstore *s, long long expect, const char *doc,
			 const char *run, long long *version, long long *published_ms,
			 struct hf_err *err);

/* A client's announcement (also its heartbeat): 'json' is its entry. */
int hf_flagstore_announce(struct hf_flagstore *s, const char *id, const char *json,
			  struct hf_err *err);
/* A client applied 'version' at 'applied_ms' (its clock, unix ms). */
int hf_flagstore_ack(struct hf_flagstore *s, const char *id, long long version,
		     long long applied_ms, struct hf_err *err);
/* Every client that announced itself or acknowledged, sorted by id.
 * Caller frees with hf_flagclients_free(). */
int hf_flagstore_clients(struct hf_flagstore *s, struct hf_flagclient **out, size_t *n,
			 struct hf_err *err);
/* When 'version' was published (the primary's clock, unix ms), from the
 * versions hash; 0 when it does not know (published before it existed). */
int hf_flagstore_published(struct hf_flagstore *s, long long version, long long *ms,
			   struct hf_err *err);
/* Forget the clients not seen since 'before_ms' (their entry and their
 * acknowledgement); '*pruned' says how many. */
int hf_flagstore_prune(struct hf_flagstore *s, long long before_ms, size_t *pruned,
		       struct hf_err *err);

/* ---- subscription (flags_io.c) --------------------------------------- */

/* A connection subscribed to the channel, on the node 's' talks to, read
 * without blocking: the caller polls hf_flagsub_fd() and reads when it is
 * readable. */
struct hf_flagsub;
int hf_flagsub_open(const struct hf_flagstore *s, struct hf_flagsub **out, struct hf_err *err);
void hf_flagsub_close(struct hf_flagsub *sub);
int hf_flagsub_fd(const struct hf_flagsub *sub);
/* Read what arrived: '*version' is the highest version announced in it
 * (0 when none). Returns 0, or HF_EUNREACH when the connection is lost. */
int hf_flagsub_read(struct hf_flagsub *sub, long long *version, struct hf_err *err);

#endif
