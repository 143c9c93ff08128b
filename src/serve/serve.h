/* The HTTP server of 'hotfix serve': a JSON API over the journal
 * (/api/v1/...), Server-Sent Events of journal events as they are
 * committed, and the mutations (pause, continue, abort, rollback) as the
 * same journal requests the command line writes, and OFREP over the
 * cluster's flag document. Bearer tokens with two roles guard it. This module never prints and never exits; only
 * src/serve/http.c includes libmicrohttpd. */
#ifndef HF_SERVE_SERVE_H
#define HF_SERVE_SERVE_H

#include <jansson.h>
#include <sys/socket.h>

#include "util/err.h"

/* What a request may do: a viewer reads everything, an operator also
 * changes runs. */
enum hf_serve_role {
	HF_SERVE_NONE = 0,       /* no valid token: 401 */
	HF_SERVE_VIEWER = 1,
	HF_SERVE_OPERATOR = 2,
};

/* ---- tokens (src/serve/auth.c) ---------------------------------------- */

struct hf_tokens;

/* Load the tokens file 'path': one "ROLE TOKEN" a line, ROLE 'viewer' or
 * 'operator'; blank lines and lines starting with '#' are skipped. The
 * file must be a regular file of mode 0600, else it is refused. Returns
 * 0, or HF_EINVAL with 'err' naming the file and the line. Caller frees
 * with hf_tokens_free(). */
int hf_tokens_load(const char *path, struct hf_tokens **out, struct hf_err *err);
/* The role that the header 'authorization' ("Bearer TOKEN", may be NULL)
 * grants: HF_SERVE_NONE when it names no token of the file. Compares in
 * constant time (SHA-256 of both sides, CRYPTO_memcmp, every entry). */
enum hf_serve_role hf_tokens_check(const struct hf_tokens *t, const char *authorization);
/* The role that the bare token 'token' (may be NULL), as a cookie holds
 * it, grants; the same constant-time check as hf_tokens_check(). */
enum hf_serve_role hf_tokens_role(const struct hf_tokens *t, const char *token);
/* The line of the tokens file that the bearer token of 'authorization'
 * is on (the entry hf_tokens_check() grants by): the token's name in the
 * audit trail, which never holds the token. 0 when none. */
int hf_tokens_line(const struct hf_tokens *t, const char *authorization);
void hf_tokens_free(struct hf_tokens *t);

/* ---- the API, without HTTP (src/serve/api.c) --------------------------- */

struct hf_serve_cache;
struct hf_chain;

struct hf_serve_opts {
	const char *state_dir;          /* the journal's directory */
	const char *listen;             /* "HOST:PORT" ("[::1]:PORT"); port 0: any free one */
	const struct hf_tokens *tokens; /* NULL: no authentication (loopback only) */
	const char *exe;                /* the hotfix binary, for rollback drivers */
	const char *cluster;            /* seed URI for /api/v1/cluster (or NULL: the
					 * newest run's cluster) and the cluster whose
					 * flag document OFREP evaluates (NULL: none) */
	long timeout_ms;                /* per fan-out to the nodes */
};

/* Each API call returns an HTTP status and sets '*body' to the JSON
 * document to send (an object; {"error": "..."} on failure). Caller
 * decrefs '*body'. They open their own journal connection. */

/* GET /api/v1/runs[?state=S]: {"runs": [...]}, newest first. */
int hf_api_runs(const struct hf_serve_opts *o, const char *state, json_t **body);
/* GET /api/v1/runs/{run}[?events=N]: the run, its steps, waves, its
 * newest 'nevents' events (with events_total and events_more), every
 * verdict, guard event and guard sample, and whether its hash chain
 * holds, walked on from where 'cache' (may be NULL) remembers. */
int hf_api_run(const struct hf_serve_opts *o, struct hf_serve_cache *cache, const char *id,
	       size_t nevents, json_t **body);
/* GET /api/v1/runs/{run}/events[?before=SEQ&limit=N]: the newest 'limit'
 * events of the run whose seq is below 'before' (0: any), in order, and
 * whether older ones remain. */
int hf_api_run_events(const struct hf_serve_opts *o, const char *id, long long before,
		      size_t limit, json_t **body);
/* GET /api/v1/runs/{run}/report[?format=md|html]: the run's report
 * (hf_report_render()), HTML unless 'format' says otherwise. Sets '*text'
 * (caller frees) and returns 200 with '*ctype' its media type (static);
 * 400 for an unknown format, 404 for an unknown run, 500 otherwise, with
 * '*text' the error message and '*ctype' NULL. */
int hf_api_report(const struct hf_serve_opts *o, const char *id, const char *format,
		  char **text, const char **ctype);
/* POST /api/v1/runs/{run}/{action}: 'action' is pause, continue, abort or
 * rollback, asked by 'by' (the audit record's actor and role: serve's
 * token). A rollback (or abort) of a run no live process drives starts a
 * detached 'hotfix rollback' ('abort') driver: 202. */
struct hf_requester;
int hf_api_mutate(const struct hf_serve_opts *o, const char *id, const char *action,
		  const struct hf_requester *by, json_t **body);
/* GET /api/v1/cluster: the topology now, each node's health, build and
 * the hotfix it holds (the newest unfinished or promoted run with a step
 * applied on it). 404 when no cluster is known. */
int hf_api_cluster(const struct hf_serve_opts *o, json_t **body);
/* GET /metrics: Prometheus text exposition (0.0.4) of the newest runs:
 * info, state, current wave, steps by state, verdicts by outcome,
 * rollback duration. Sets '*text' (caller frees) and returns 200, or 500
 * with '*text' the error. */
int hf_api_metrics(const struct hf_serve_opts *o, char **text);
/* An {"error": msg} body, for the HTTP layer's own refusals. */
json_t *hf_api_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- answers kept while the journal stands still (src/serve/cache.c) ---- */

/* An answer as sent: its HTTP status, its body ('len' bytes, then a NUL)
 * and its media type (static). */
struct hf_rendered {
	int status;
	char *text;
	size_t len;
	const char *ctype;
};
/* Renders an answer into 'out' (text malloc'd). */
typedef void (*hf_render_fn)(void *arg, struct hf_rendered *out);

/* A cache of answers over the journal of 'state_dir', with a connection
 * of its own that only reads SQLite's data version. */
int hf_cache_open(const char *state_dir, struct hf_serve_cache **out, struct hf_err *err);
void hf_cache_free(struct hf_serve_cache *c);
/* The answer for 'key' as 'render' gives it for the journal as it is
 * now: kept from an earlier call while nothing has been committed since
 * (and, 'ttl_ms' >= 0, for that long at most), else rendered once while
 * other callers of the same key wait. '*out' is the caller's to free
 * (out->text). */
void hf_cache_get(struct hf_serve_cache *c, const char *key, long ttl_ms, hf_render_fn render,
		  void *arg, struct hf_rendered *out);

/* Where the walk of run 'run''s hash chain stopped ('ch->n' 0: walk it
 * from its first event, as every second), and where a walk stopped now;
 * 'from_start' says it began at the first event. */
void hf_cache_chain_get(struct hf_serve_cache *c, const char *run, struct hf_chain *ch);
void hf_cache_chain_put(struct hf_serve_cache *c, const char *run, const struct hf_chain *ch,
			int from_start);

/* ---- the flag document, followed (src/serve/flagfeed.c) ---------------- */

/* One version of the flag document as OFREP evaluates it: the compiled
 * document, each flag's metadata (the document's, then the flag's own) and
 * the flags whose fractional targeting buckets by the targeting key.
 * Immutable; shared by reference between the request threads. */
struct hf_ofrep_snap {
	int refs;                       /* atomic */
	long long version;              /* 0: nothing was ever published */
	struct hf_flagdoc *doc;         /* NULL when version is 0 */
	json_t *meta;                   /* flag key -> its metadata object */
	const struct hf_flag **needs_key;
	size_t nneeds;
};
/* Build a snapshot of version 'version' from the document text 'text'
 * (NULL for version 0). Returns NULL with 'err' filled when it does not
 * load. Caller drops it with hf_ofrep_snap_unref(). */
struct hf_ofrep_snap *hf_ofrep_snap_new(const char *text, long long version, struct hf_err *err);
void hf_ofrep_snap_unref(struct hf_ofrep_snap *s);

/* The flag document of the cluster 'cluster', kept current by a thread
 * of its own: read at start, then re-read at each message on the
 * 'hotfix:flags' channel and when the version polled every second moved. */
struct hf_flagfeed;
/* Start following; a cluster that cannot be reached now is not an error
 * (the thread keeps trying, and hf_flagfeed_get() says why there is no
 * document). Returns HF_EINVAL for a URI that does not parse. Caller
 * stops with hf_flagfeed_stop(). */
int hf_flagfeed_start(const char *cluster, long timeout_ms, struct hf_flagfeed **out,
		      struct hf_err *err);
/* The current snapshot, referenced (caller drops it with
 * hf_ofrep_snap_unref()), or NULL with 'why' saying what went wrong. */
struct hf_ofrep_snap *hf_flagfeed_get(struct hf_flagfeed *f, char *why, size_t whylen);
void hf_flagfeed_stop(struct hf_flagfeed *f);

/* ---- OFREP, without HTTP (src/serve/ofrep.c) ----------------------------- */

/* POST /ofrep/v1/evaluate/flags/{key}: evaluate flag 'key' of 'snap' (NULL:
 * no document, 'why' says why; 'none' says that no document exists, as
 * without --cluster, rather than that it could not be read) for the
 * request body 'body' ('len' bytes). Returns the HTTP status and sets
 * '*out' to the body (caller decrefs). */
int hf_ofrep_eval(const struct hf_ofrep_snap *snap, int none, const char *why, const char *key,
		  const char *body, size_t len, json_t **out);
/* POST /ofrep/v1/evaluate/flags: every flag. 'etag' (OUT, 64 bytes) is
 * the answer's entity tag, the document's version and a digest of the
 * context; when it equals 'if_none_match' (may be NULL) the answer is 304
 * with no body ('*out' NULL). */
int hf_ofrep_bulk(const struct hf_ofrep_snap *snap, int none, const char *why,
		  const char *body, size_t len, const char *if_none_match, char *etag,
		  json_t **out);

/* ---- the dashboard's files (src/serve/web.c) --------------------------- */

/* The embedded file 'name' of src/serve/web/ ("index.html", "app.js"...):
 * sets '*bytes' (static, NUL-terminated), '*len' (without the NUL) and
 * '*ctype' (its media type). Returns 0, or HF_EINVAL for no such file. */
int hf_web_file(const char *name, const char **bytes, size_t *len, const char **ctype);

/* ---- the server (src/serve/http.c) -------------------------------------- */

struct hf_serve;

/* Parse 'listen' ("HOST:PORT", "[V6]:PORT") into 'addr'/'len' (numeric
 * port, host resolved) and say whether it is a loopback address. Returns 0
 * or HF_EINVAL. */
int hf_serve_listen_parse(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
			  int *loopback, struct hf_err *err);
/* The parts of a request the server reads without its connection (pure,
 * for the fuzzer too). A count from the query string, as libmicrohttpd
 * hands it ('v' NULL when absent: 'dflt'): a whole number within [lo, hi],
 * else -1. */
long long hf_serve_count(const char *v, long long dflt, long long lo, long long hi);
/* Split "/api/v1/runs/RUN[/SUB]" into 'run' (not empty, shorter than
 * 'len') and '*sub' (NULL without a '/' after RUN). Returns 1, or 0 for
 * any other path. */
int hf_serve_run_path(const char *url, char *run, size_t len, const char **sub);
/* Without tokens: do the Host header 'host' and the Origin 'origin' (each
 * may be NULL) name this server on loopback, port 'port'? */
int hf_serve_host_ok(const char *host, const char *origin, int port);

/* Start serving on 'o->listen' in threads of its own; 'o' and what it
 * points to must outlive the server. With 'o->cluster' it also follows
 * that cluster's flag document for OFREP (hf_flagfeed_start()). Refuses
 * (HF_EINVAL) a non-loopback address without tokens. Caller stops with
 * hf_serve_stop(). */
int hf_serve_start(const struct hf_serve_opts *o, struct hf_serve **out, struct hf_err *err);
/* The port it listens on (the one the kernel chose for port 0). */
int hf_serve_port(const struct hf_serve *s);
/* Stop gracefully: accept nothing new, end the event streams, let the
 * requests in flight finish (10 s at most), then free the server. */
void hf_serve_stop(struct hf_serve *s);

#endif
