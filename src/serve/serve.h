/* The HTTP server of 'hotfix serve': a JSON API over the journal
 * (/api/v1/...), Server-Sent Events of journal events as they are
 * committed, and the mutations (pause, continue, abort, rollback) as the
 * same journal requests the command line writes. Bearer tokens with two
 * roles guard it. This module never prints and never exits; only
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
void hf_tokens_free(struct hf_tokens *t);

/* ---- the API, without HTTP (src/serve/api.c) --------------------------- */

struct hf_serve_opts {
	const char *state_dir;          /* the journal's directory */
	const char *listen;             /* "HOST:PORT" ("[::1]:PORT"); port 0: any free one */
	const struct hf_tokens *tokens; /* NULL: no authentication (loopback only) */
	const char *exe;                /* the hotfix binary, for rollback drivers */
	const char *cluster;            /* seed URI for /api/v1/cluster, or NULL: the
					 * newest run's cluster */
	long timeout_ms;                /* per fan-out to the nodes */
};

/* Each API call returns an HTTP status and sets '*body' to the JSON
 * document to send (an object; {"error": "..."} on failure). Caller
 * decrefs '*body'. They open their own journal connection. */

/* GET /api/v1/runs[?state=S]: {"runs": [...]}, newest first. */
int hf_api_runs(const struct hf_serve_opts *o, const char *state, json_t **body);
/* GET /api/v1/runs/{run}: the run, its steps, waves, events and verdicts. */
int hf_api_run(const struct hf_serve_opts *o, const char *id, json_t **body);
/* GET /api/v1/runs/{run}/report[?format=md|html]: the run's report
 * (hf_report_render()), HTML unless 'format' says otherwise. Sets '*text'
 * (caller frees) and returns 200 with '*ctype' its media type (static);
 * 400 for an unknown format, 404 for an unknown run, 500 otherwise, with
 * '*text' the error message and '*ctype' NULL. */
int hf_api_report(const struct hf_serve_opts *o, const char *id, const char *format,
		  char **text, const char **ctype);
/* POST /api/v1/runs/{run}/{action}: 'action' is pause, continue, abort or
 * rollback, asked by 'who' (for the audit event). A rollback (or abort)
 * of a run no live process drives starts a detached 'hotfix rollback'
 * ('abort') driver: 202. */
int hf_api_mutate(const struct hf_serve_opts *o, const char *id, const char *action,
		  const char *who, json_t **body);
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
/* Start serving on 'o->listen' in threads of its own; 'o' and what it
 * points to must outlive the server. Refuses (HF_EINVAL) a non-loopback
 * address without tokens. Caller stops with hf_serve_stop(). */
int hf_serve_start(const struct hf_serve_opts *o, struct hf_serve **out, struct hf_err *err);
/* The port it listens on (the one the kernel chose for port 0). */
int hf_serve_port(const struct hf_serve *s);
/* Stop gracefully: accept nothing new, end the event streams, let the
 * requests in flight finish (10 s at most), then free the server. */
void hf_serve_stop(struct hf_serve *s);

#endif
