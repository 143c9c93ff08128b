/* libhotfix-flags: feature flags that live in your Redis cluster.
 *
 * A client connects with the same URIs as hotfix (redis://[user:pass@]
 * host:port, a seed of a Redis Cluster or a standalone primary; the
 * password may also come from HOTFIX_PASSWORD), loads the flag document
 * (flagd's format) that 'hotfix' publishes there, and keeps it current
 * from a background thread: it subscribes to the 'hotfix:flags' channel
 * and polls as a fallback. Each client announces itself (id, host, pid,
 * library version) and acknowledges every version it applied, so that
 * 'hotfix flag status' can tell who runs what.
 *
 * Evaluation (hf_flags_bool() and friends) takes no lock and allocates
 * nothing: any number of threads may evaluate at once while the document
 * is replaced. A failed call never changes the caller's memory except
 * 'details'.
 *
 *   cc app.c $(pkg-config --cflags --libs hotfix-flags)
 *
 * This header needs nothing but the C standard library. */
#ifndef HOTFIX_FLAGS_H
#define HOTFIX_FLAGS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HF_FLAGS_LIB_VERSION "0.1.0"

/* ---- the client ------------------------------------------------------- */

struct hf_flags_client;

struct hf_flags_options {
	const char *uri;        /* required: the cluster, as for hotfix --cluster */
	long poll_ms;           /* poll the version this often (and heartbeat); default 1000 */
	long stale_ms;          /* STALE after this long without an update or a successful
				 * poll; default 5000 */
	long timeout_ms;        /* per command to Redis; default 2000 */
	const char *id;         /* how the client is named in 'hotfix flag status';
				 * NULL: "HOST:PID:RANDOM" */
};

/* Fill 'o' with the defaults ('uri' NULL). */
void hf_flags_options_init(struct hf_flags_options *o);

/* Start a client: parses the URI, starts the background thread and
 * returns at once, before the first document is loaded (see
 * hf_flags_wait()). Returns 0 with '*out' set, or -1 with a message in
 * 'errbuf' (may be NULL) for a bad option or URI. Free with
 * hf_flags_client_free(). */
int hf_flags_client_new(const struct hf_flags_options *o, struct hf_flags_client **out,
			char *errbuf, size_t errlen);
/* Stop the thread, close the connections, free everything. Evaluations
 * must have returned. */
void hf_flags_client_free(struct hf_flags_client *c);

/* Wait until a version newer than 'after' is applied, at most 'timeout_ms'
 * (< 0: without limit). Returns the version applied now (0: none yet),
 * which is 'after' or older on a timeout. */
long long hf_flags_wait(struct hf_flags_client *c, long long after, long timeout_ms);
/* The version applied (0: none yet). */
long long hf_flags_version(const struct hf_flags_client *c);
/* The client's id as announced. */
const char *hf_flags_client_id(const struct hf_flags_client *c);
/* Why the last attempt to reach the cluster or to apply a document
 * failed, copied into 'buf' ("" when the last one succeeded). Returns 1
 * when there is such an error, else 0. */
int hf_flags_last_error(struct hf_flags_client *c, char *buf, size_t buflen);

/* ---- the evaluation context ------------------------------------------- */

/* The attributes a flag is evaluated for ("targetingKey" is the key that
 * fractional rollouts hash). Built once and reused: evaluating reads it
 * and never changes it, from any number of threads. Setting attributes is
 * not for the hot path (it allocates) and must not race evaluations that
 * use the same context. */
struct hf_flags_ctx;

struct hf_flags_ctx *hf_flags_ctx_new(void);
/* A context from a JSON object; NULL (with 'errbuf') when 'json' is not one. */
struct hf_flags_ctx *hf_flags_ctx_from_json(const char *json, char *errbuf, size_t errlen);
/* Set attribute 'name'; the last value set wins. Return 0, or -1 when out
 * of memory or 'value' is not valid UTF-8. */
int hf_flags_ctx_set_string(struct hf_flags_ctx *x, const char *name, const char *value);
int hf_flags_ctx_set_number(struct hf_flags_ctx *x, const char *name, double value);
int hf_flags_ctx_set_bool(struct hf_flags_ctx *x, const char *name, int value);
void hf_flags_ctx_free(struct hf_flags_ctx *x);

/* ---- evaluation ------------------------------------------------------- */

/* Why a value is what it is: flagd's reasons, and STALE. */
enum hf_flags_reason {
	HF_FLAGS_STATIC,           /* no targeting: the default variant */
	HF_FLAGS_TARGETING_MATCH,  /* targeting named a variant */
	HF_FLAGS_DEFAULT,          /* targeting returned null: the default variant */
	HF_FLAGS_DISABLED,         /* the flag is DISABLED: the caller's default */
	HF_FLAGS_ERROR,            /* see 'error': the caller's default */
	HF_FLAGS_STALE,            /* the document may be out of date (see 'stale_ms');
				    * the flag's fail policy chose the value */
};

enum hf_flags_error {
	HF_FLAGS_ERR_NONE,
	HF_FLAGS_ERR_PROVIDER_NOT_READY,  /* no document loaded yet */
	HF_FLAGS_ERR_FLAG_NOT_FOUND,
	HF_FLAGS_ERR_PARSE_ERROR,         /* the flag's targeting does not compile */
	HF_FLAGS_ERR_TYPE_MISMATCH,       /* the value is not of the type asked for */
	HF_FLAGS_ERR_GENERAL,
};

/* Where the value came from. */
enum hf_flags_source {
	HF_FLAGS_FROM_CALLER,      /* the caller's default */
	HF_FLAGS_FROM_VARIANT,     /* a variant of the flag */
};

struct hf_flags_details {
	enum hf_flags_source source;
	enum hf_flags_reason reason;
	enum hf_flags_error error;
	char variant[64];          /* the variant's name ("" when none), truncated to fit */
	long long version;         /* of the document evaluated, 0 when none */
	long long stale_ms;        /* STALE: how long since the last update or successful
				    * poll; 0 otherwise */
	/* STALE only: what the flag would have evaluated to otherwise. */
	enum hf_flags_reason stale_reason;
};

/* Evaluate flag 'key' for 'ctx' (may be NULL: no attributes). The value,
 * or 'def' when the flag has none for the type asked (see 'details', may
 * be NULL). Lock-free, allocation-free. */
int hf_flags_bool(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		  int def, struct hf_flags_details *details);
long long hf_flags_int(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       long long def, struct hf_flags_details *details);
double hf_flags_double(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       double def, struct hf_flags_details *details);
/* Strings and objects are copied into 'buf' (a string as it is, an object
 * as JSON text), NUL-terminated and truncated to 'buflen': the document
 * they come from may be replaced the moment the call returns, and
 * handing out a pointer into it would need the caller to pin it. Return
 * the length of the whole value (as snprintf does: a value at least
 * 'buflen' long was truncated); 'def' is copied when the flag gives no
 * value. */
size_t hf_flags_string(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       const char *def, char *buf, size_t buflen, struct hf_flags_details *details);
size_t hf_flags_object(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		       const char *def_json, char *buf, size_t buflen,
		       struct hf_flags_details *details);

/* The value of any type as JSON text into 'buf' ("null" when the flag
 * gives none), as hf_flags_object() copies it: for tools that print
 * flags whatever their type. */
size_t hf_flags_json(struct hf_flags_client *c, const char *key, const struct hf_flags_ctx *ctx,
		     char *buf, size_t buflen, struct hf_flags_details *details);

const char *hf_flags_reason_name(enum hf_flags_reason r);
const char *hf_flags_error_name(enum hf_flags_error e);

#ifdef __cplusplus
}
#endif

#endif
