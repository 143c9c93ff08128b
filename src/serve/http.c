/* The HTTP side of 'hotfix serve' on libmicrohttpd (the only file that
 * includes it): one thread per connection, so a Server-Sent Events stream
 * can wait on the journal in its own thread; routing, the bearer-token
 * check (and the dashboard's cookie), the event stream, and the
 * dashboard's files. What the API answers is in api.c, the files in
 * web.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/journal.h"
#include "core/request.h"
#include "serve/serve.h"
#include "util/buf.h"
#include "util/misc.h"

/* How often an event stream looks for new journal events, and how long it
 * stays silent before it sends a comment to keep the connection open. */
#define SSE_POLL_MS 50
#define SSE_KEEPALIVE_MS 15000
/* How long a stop waits for the requests in flight. */
#define STOP_GRACE_MS 10000
/* How many events a run's detail holds by default, and at most; and how
 * long an answer holding what the nodes say now is kept. */
#define RUN_EVENTS 200
#define RUN_EVENTS_MAX 10000
#define LIVE_TTL_MS 1000

struct hf_serve {
	const struct hf_serve_opts *o;
	struct MHD_Daemon *d;
	struct hf_serve_cache *cache;
	struct hf_flagfeed *flags;  /* the flag document OFREP evaluates; NULL: no --cluster */
	volatile int stopping;   /* set by hf_serve_stop(): streams end */
	int port;
};

int hf_serve_listen_parse(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
			  int *loopback, struct hf_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(listen, ':'), *h = listen;
	size_t hl;
	int g;

	if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return hf_err_set(err, HF_EINVAL, "--listen '%s': expected HOST:PORT", listen);
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		h = listen + 1;
		hl -= 2;
	}
	if (!hl || hl >= sizeof(host))
		return hf_err_set(err, HF_EINVAL, "--listen '%s': expected HOST:PORT", listen);
	memcpy(host, h, hl);
	host[hl] = '\0';
	g = getaddrinfo(host, colon + 1, &hints, &res);
	if (g || !res)
		return hf_err_set(err, HF_EINVAL, "--listen '%s': %s", listen, gai_strerror(g));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	if (res->ai_family == AF_INET)
		*loopback = (ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr) >> 24) == 127;
	else
		*loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr);
	freeaddrinfo(res);
	return 0;
}

/* ---- answers over the journal, kept while it stands still ----------------- */

/* A GET that api.c answers, asked through the cache. */
struct ask {
	const struct hf_serve_opts *o;
	struct hf_serve_cache *cache;
	enum { ASK_RUNS, ASK_RUN, ASK_EVENTS, ASK_METRICS, ASK_CLUSTER, ASK_REPORT } what;
	const char *id;          /* the run */
	const char *arg;         /* a state filter, or a report's format */
	long long before;
	size_t limit;
};

static void render_json(int status, json_t *body, struct hf_rendered *out)
{
	out->status = status;
	out->ctype = "application/json";
	out->text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (!out->text) {
		/* A body jansson refused (text that is not UTF-8, from a node or
		 * a path): an answer all the same, never a dropped connection. */
		out->status = 500;
		out->text = hf_xstrdup("{\"error\":\"the answer could not be encoded as JSON\"}");
	}
	out->len = strlen(out->text);
}

/* Queue 'body' (stolen) as JSON with 'status'. */
static enum MHD_Result reply(struct MHD_Connection *c, int status, json_t *body)
{
	struct hf_rendered out = {0};
	struct MHD_Response *resp;
	enum MHD_Result r;

	render_json(status, body, &out);
	resp = MHD_create_response_from_buffer(out.len, out.text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out.ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (out.status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"hotfix\"");
	if (out.status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, POST");
	r = MHD_queue_response(c, (unsigned)out.status, resp);
	MHD_destroy_response(resp);
	return r;
}

static void render(void *cls, struct hf_rendered *out)
{
	const struct ask *a = cls;
	json_t *body = NULL;
	int status = 500;

	switch (a->what) {
	case ASK_RUNS:
		status = hf_api_runs(a->o, a->arg, &body);
		break;
	case ASK_RUN:
		status = hf_api_run(a->o, a->cache, a->id, a->limit, &body);
		break;
	case ASK_EVENTS:
		status = hf_api_run_events(a->o, a->id, a->before, a->limit, &body);
		break;
	case ASK_CLUSTER:
		status = hf_api_cluster(a->o, &body);
		break;
	case ASK_METRICS:
		out->status = hf_api_metrics(a->o, &out->text);
		out->ctype = "text/plain; version=0.0.4; charset=utf-8";
		out->len = strlen(out->text);
		return;
	case ASK_REPORT:
		status = hf_api_report(a->o, a->id, a->arg, &out->text, &out->ctype);
		if (status == 200) {
			out->status = status;
			out->len = strlen(out->text);
			return;
		}
		body = hf_api_error("%s", out->text);
		free(out->text);
		break;
	}
	render_json(status, body, out);
}

/* Answer 'a' from the cache: an events page or a report, rendered from
 * the journal alone, is kept until the journal changes; what also holds
 * what the nodes say now (the cluster, the metrics' heartbeats) or
 * whether a driver still lives (a run, the runs), for a second at most. */
static enum MHD_Result ask(struct hf_serve *s, struct MHD_Connection *c, struct ask *a)
{
	static const char *const names[] = { "runs", "run", "events", "metrics", "cluster", "report" };
	struct hf_rendered r = {0};
	struct MHD_Response *resp;
	enum MHD_Result res;
	char *key;

	a->o = s->o;
	a->cache = s->cache;
	/* Lengths first, so that no run id can pass for another key. */
	key = hf_xasprintf("%s %zu:%s %zu:%s %lld %zu", names[a->what], a->id ? strlen(a->id) : 0,
			   a->id ? a->id : "", a->arg ? strlen(a->arg) : 0, a->arg ? a->arg : "",
			   a->before, a->limit);
	hf_cache_get(s->cache, key, a->what == ASK_EVENTS || a->what == ASK_REPORT ? -1 : LIVE_TTL_MS,
		     render, a, &r);
	free(key);
	resp = MHD_create_response_from_buffer(r.len, r.text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	res = MHD_queue_response(c, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	return res;
}

/* ---- the parts of a request, without a connection (fuzzed) --------------- */

long long hf_serve_count(const char *v, long long dflt, long long lo, long long hi)
{
	char *end = NULL;
	long long x;

	if (!v)
		return dflt;
	errno = 0;
	x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi)
		return -1;
	return x;
}

int hf_serve_run_path(const char *url, char *run, size_t len, const char **sub)
{
	static const char runs[] = "/api/v1/runs/";
	const char *id = url + sizeof(runs) - 1, *slash;
	size_t n;

	if (strncmp(url, runs, sizeof(runs) - 1))
		return 0;
	slash = strchr(id, '/');
	n = slash ? (size_t)(slash - id) : strlen(id);
	if (!n || n >= len)
		return 0;
	memcpy(run, id, n);
	run[n] = '\0';
	*sub = slash ? slash + 1 : NULL;
	return 1;
}

/* A count from the query: 'name' absent is 'dflt'; else a whole number
 * within [lo, hi], or -1. */
static long long query_count(struct MHD_Connection *c, const char *name, long long dflt,
			     long long lo, long long hi)
{
	return hf_serve_count(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name), dflt,
			      lo, hi);
}

/* ---- Server-Sent Events --------------------------------------------------- */

struct stream {
	struct hf_serve *s;
	struct hf_journal *j;    /* a reader connection of the stream's own */
	char *run;               /* only this run's events, or NULL */
	long long last;          /* seq of the last event sent */
	struct hf_buf out;       /* what is yet to be sent, from 'off' */
	size_t off;
	long long quiet_since;   /* when something was last sent (monotonic ms) */
};

static void stream_free(void *cls)
{
	struct stream *st = cls;

	hf_journal_close(st->j);
	free(st->run);
	hf_buf_release(&st->out);
	free(st);
}

/* Append the events committed since 'st->last' to 'st->out'. */
static void stream_fill(struct stream *st)
{
	struct hf_event *ev = NULL;
	size_t n = 0, i;

	if (hf_journal_events_after(st->j, st->run, st->last, 64, &ev, &n, NULL))
		return;   /* a busy journal is tried again at the next poll */
	for (i = 0; i < n; i++) {
		json_t *d = json_pack("{s:I,s:s,s:I,s:s,s:s}", "seq", (json_int_t)ev[i].seq,
				      "run", ev[i].run, "ts_ms", (json_int_t)ev[i].ts_ms, "kind",
				      ev[i].kind, "message", ev[i].message);
		char *s = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);

		/* JSON_COMPACT escapes newlines, so 'data' is one line. */
		hf_buf_printf(&st->out, "id: %lld\nevent: %s\ndata: %s\n\n", ev[i].seq, ev[i].kind, s);
		free(s);
		json_decref(d);
		st->last = ev[i].seq;
	}
	hf_events_free(ev, n);
}

/* libmicrohttpd asks for the next bytes of the stream; in this thread of
 * its own we wait for them, polling the journal, until the server stops. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t n;

	(void)pos;
	while (st->off == st->out.len) {
		st->off = 0;
		st->out.len = 0;
		if (st->s->stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		stream_fill(st);
		if (st->out.len)
			break;
		if (hf_mono_ms() - st->quiet_since > SSE_KEEPALIVE_MS) {
			hf_buf_printf(&st->out, ": keepalive\n\n");
			break;
		}
		hf_sleep_ms(SSE_POLL_MS);
	}
	n = st->out.len - st->off;
	if (n > max)
		n = max;
	memcpy(buf, st->out.s + st->off, n);
	st->off += n;
	st->quiet_since = hf_mono_ms();
	return (ssize_t)n;
}

static enum MHD_Result events(struct hf_serve *s, struct MHD_Connection *c)
{
	const char *run = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "run");
	const char *since = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	struct stream *st = hf_xcalloc(1, sizeof(*st));
	struct MHD_Response *resp;
	struct hf_err err = {0};
	enum MHD_Result r;
	char *end = NULL;

	st->s = s;
	st->run = run ? hf_xstrdup(run) : NULL;
	if (hf_journal_open(s->o->state_dir, &st->j, &err) ||
	    hf_journal_events_last(st->j, &st->last, &err)) {
		stream_free(st);
		return reply(c, 500, hf_api_error("%s", err.msg));
	}
	/* A client coming back says where it was; a new one gets what is
	 * committed from now on. */
	if (since && *since) {
		long long v = strtoll(since, &end, 10);

		if (*end || v < 0) {
			stream_free(st);
			return reply(c, 400, hf_api_error("Last-Event-ID '%s' is not an event id", since));
		}
		st->last = v;
	}
	hf_buf_printf(&st->out, ": hotfix journal events\nretry: 1000\n\n");
	st->quiet_since = hf_mono_ms();
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
	if (!resp) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	r = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

/* ---- the dashboard ---------------------------------------------------------- */

/* Its files are the only scripts and styles it may load: no inline script
 * or style, nothing from elsewhere, and no page may frame it. */
#define WEB_CSP "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* Queue the embedded file 'name' with 'status'; 404 for no such file. */
static enum MHD_Result web_file(struct MHD_Connection *c, int status, const char *name)
{
	struct MHD_Response *resp;
	const char *bytes, *ctype;
	enum MHD_Result r;
	size_t len;

	if (hf_web_file(name, &bytes, &len, &ctype))
		return reply(c, 404, hf_api_error("no such file '%s'", name));
	resp = MHD_create_response_from_buffer(len, (void *)bytes, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	/* Always asked again, so a new binary's page is never mixed with an
	 * old script from the cache. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"hotfix\"");
	r = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Is 'url' one of the dashboard's files? Sets '*name'. */
static int static_path(const char *url, const char **name)
{
	if (strncmp(url, "/static/", 8) || !url[8] || strchr(url + 8, '/'))
		return 0;
	*name = url + 8;
	return 1;
}

/* The files the login page loads before it has a token: they hold no
 * journal data. Every other file needs a token like the rest. */
static int login_file(const char *name)
{
	return !strcmp(name, "login.js") || !strcmp(name, "style.css") ||
	       !strcmp(name, "favicon.svg");
}

/* ---- OFREP (evaluation is ofrep.c's) ---------------------------------------- */

#define OFREP_FLAGS "/ofrep/v1/evaluate/flags"
/* The most of a request body kept: a bigger one is refused whole. */
#define UPLOAD_MAX (1024 * 1024)

/* The body of a request to an OFREP path, as it arrives. */
struct upload {
	struct hf_buf b;
	int over;                /* more than UPLOAD_MAX bytes came */
};
/* The mark of a request whose body is not kept. */
static int not_kept;

static int ofrep_path(const char *url)
{
	return !strncmp(url, OFREP_FLAGS, strlen(OFREP_FLAGS)) &&
	       (!url[strlen(OFREP_FLAGS)] || url[strlen(OFREP_FLAGS)] == '/');
}

/* Queue an OFREP answer: 'body' (stolen; NULL for a 304) with 'status',
 * and the bulk answer's 'etag' when it has one. */
static enum MHD_Result ofrep_reply(struct MHD_Connection *c, int status, json_t *body,
				   const char *etag)
{
	struct hf_rendered out = {0};
	struct MHD_Response *resp;
	enum MHD_Result r;

	if (body) {
		render_json(status, body, &out);
		resp = MHD_create_response_from_buffer(out.len, out.text, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out.ctype);
		status = out.status;
	} else {
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	if (etag && *etag)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
	r = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* POST /ofrep/v1/evaluate/flags[/{key}] with the body 'up'. Evaluation
 * reads and changes nothing, so a viewer's token suffices although the
 * method is POST (the protocol's choice, to carry a context). */
static enum MHD_Result ofrep(struct hf_serve *s, struct MHD_Connection *c, const char *url,
			     const char *method, const struct upload *up)
{
	const char *key = url + strlen(OFREP_FLAGS);
	struct hf_ofrep_snap *snap = NULL;
	json_t *body = NULL;
	char why[2200] = "hotfix serve follows no cluster's flags (no --cluster)";
	char etag[64] = "";
	size_t len = up->over ? UPLOAD_MAX + 1 : up->b.len;
	int status;

	if (strcmp(method, "POST"))
		return ofrep_reply(c, 405, hf_api_error("%s %s: use POST", method, url), NULL);
	if (s->flags)
		snap = hf_flagfeed_get(s->flags, why, sizeof(why));
	if (*key == '/' && key[1]) {
		/* libmicrohttpd hands the path percent-decoded: the key as the
		 * client named it. */
		status = hf_ofrep_eval(snap, !s->flags, why, key + 1, up->b.s, len, &body);
	} else if (!*key) {
		status = hf_ofrep_bulk(snap, !s->flags, why, up->b.s, len,
				       MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								   MHD_HTTP_HEADER_IF_NONE_MATCH),
				       etag, &body);
	} else {
		status = 404;
		body = hf_api_error("no such path '%s'", url);
	}
	hf_ofrep_snap_unref(snap);
	return ofrep_reply(c, status, body, etag);
}

/* ---- routing -------------------------------------------------------------- */

static const char *const actions[] = { "pause", "continue", "abort", "rollback" };

/* Who asks, for the audit trail: serve's token (named by its line in the
 * tokens file; serve's tokens are its own identities, not the policy's)
 * and its role, and the client's address. 'actor' and 'who' are filled. */
static void who_of(struct hf_serve *s, struct MHD_Connection *c, enum hf_serve_role role,
		   struct hf_requester *by, char *actor, size_t alen, char *who, size_t wlen)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *rname = role == HF_SERVE_OPERATOR ? "operator" : "viewer";
	char host[INET6_ADDRSTRLEN] = "?";
	int line = hf_tokens_line(s->o->tokens, MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));

	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	}
	if (!s->o->tokens)
		snprintf(actor, alen, "serve (no token)");
	else
		snprintf(actor, alen, "serve token line %d", line);
	snprintf(who, wlen, "hotfix serve (%s%s) for %s", !s->o->tokens ? "no token" : rname,
		 !s->o->tokens ? "" : " token", host);
	by->who = who;
	by->actor = actor;
	by->role = !s->o->tokens ? NULL : role == HF_SERVE_OPERATOR ? "serve-operator" :
		"serve-viewer";
}

/* GET /api/v1/runs/{run}, .../events, .../report. */
static enum MHD_Result run_get(struct hf_serve *s, struct MHD_Connection *c, const char *url,
			       const char *run, const char *sub)
{
	struct ask a = { .id = run };
	long long n;

	if (!sub) {
		n = query_count(c, "events", RUN_EVENTS, 0, RUN_EVENTS_MAX);
		if (n < 0)
			return reply(c, 400, hf_api_error("events: a count of 0 to %d", RUN_EVENTS_MAX));
		a.what = ASK_RUN;
		a.limit = (size_t)n;
		return ask(s, c, &a);
	}
	if (!strcmp(sub, "events")) {
		n = query_count(c, "limit", RUN_EVENTS, 1, RUN_EVENTS_MAX);
		a.before = query_count(c, "before", 0, 0, LLONG_MAX);
		if (n < 0 || a.before < 0)
			return reply(c, 400, hf_api_error("limit: a count of 1 to %d; before: an "
							  "event's seq", RUN_EVENTS_MAX));
		a.what = ASK_EVENTS;
		a.limit = (size_t)n;
		return ask(s, c, &a);
	}
	if (!strcmp(sub, "report")) {
		a.what = ASK_REPORT;
		a.arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
		return ask(s, c, &a);
	}
	return reply(c, 404, hf_api_error("no such path '%s'", url));
}

/* POST /api/v1/runs/{run}/ACTION. */
static enum MHD_Result run_post(struct hf_serve *s, struct MHD_Connection *c, const char *url,
				const char *run, const char *action, enum hf_serve_role role)
{
	json_t *body = NULL;
	struct hf_requester by;
	char who[128], actor[64];
	size_t i;
	int status;

	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(action, actions[i]))
			continue;
		/* Refused before anything is read or written. */
		if (role < HF_SERVE_OPERATOR)
			return reply(c, 403, hf_api_error("%s needs an operator token", actions[i]));
		who_of(s, c, role, &by, actor, sizeof(actor), who, sizeof(who));
		status = hf_api_mutate(s->o, run, actions[i], &by, &body);
		return reply(c, status, body);
	}
	if (!strcmp(action, "events") || !strcmp(action, "report"))
		return reply(c, 405, hf_api_error("POST %s: use GET", url));
	return reply(c, 404, hf_api_error("no such path '%s'", url));
}

/* GET / (the dashboard) and GET /api/v1/whoami (the role the page's token
 * grants, so that it offers only what the server would allow). */
static enum MHD_Result page(struct hf_serve *s, struct MHD_Connection *c, const char *url,
			    enum hf_serve_role role)
{
	if (strcmp(url, "/api/v1/whoami"))
		return web_file(c, 200, "index.html");
	return reply(c, 200, json_pack("{s:s,s:b}", "role", role == HF_SERVE_OPERATOR ? "operator" :
				       "viewer", "tokens", s->o->tokens != NULL));
}

static enum MHD_Result route(struct hf_serve *s, struct MHD_Connection *c, const char *url,
			     const char *method, enum hf_serve_role role)
{
	const char *runs = "/api/v1/runs", *sub;
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int post = !strcmp(method, "POST");
	struct ask a = {0};
	char run[256];

	if (!strcmp(url, "/") || !strcmp(url, "/index.html") || !strcmp(url, "/api/v1/whoami"))
		return get ? page(s, c, url, role)
			   : reply(c, 405, hf_api_error("%s %s: use GET", method, url));
	if (!strcmp(url, runs) || !strcmp(url, "/api/v1/runs/") || !strcmp(url, "/metrics") ||
	    !strcmp(url, "/api/v1/cluster") || !strcmp(url, "/api/v1/events")) {
		if (!get)
			return reply(c, 405, hf_api_error("%s %s: use GET", method, url));
		if (!strcmp(url, "/api/v1/events"))
			return events(s, c);
		a.what = !strcmp(url, "/metrics") ? ASK_METRICS
			 : !strcmp(url, "/api/v1/cluster") ? ASK_CLUSTER : ASK_RUNS;
		if (a.what == ASK_RUNS)
			a.arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
		return ask(s, c, &a);
	}
	if (!hf_serve_run_path(url, run, sizeof(run), &sub))
		return reply(c, 404, hf_api_error("no such path '%s'", url));
	if (!sub)
		return get ? run_get(s, c, url, run, NULL)
			   : reply(c, 405, hf_api_error("%s %s: use GET", method, url));
	if (post)
		return run_post(s, c, url, run, sub, role);
	if (get) {
		size_t i;

		for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
			if (!strcmp(sub, actions[i]))
				return reply(c, 405, hf_api_error("%s %s: use POST", method, url));
		return run_get(s, c, url, run, sub);
	}
	return reply(c, 405, hf_api_error("%s %s: use GET or POST", method, url));
}

/* Is 'host' (a Host header, or an Origin's host part) a loopback name with
 * the port the server listens on? */
static int loopback_host(const char *host, size_t len, int port)
{
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };
	char want[64];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "%s:%d", names[i], port);
		if (len == strlen(want) && !strncasecmp(host, want, len))
			return 1;
	}
	return 0;
}

/* Without tokens the server listens on loopback only, which keeps other
 * hosts out but not a web page in the operator's own browser: a page may
 * POST to 127.0.0.1 (no preflight for a bodiless POST) or reach it through
 * a name rebound to 127.0.0.1. So a request must name a loopback host, and
 * one that carries an Origin must come from such a host. */
static int same_host(struct MHD_Connection *c, int port)
{
	return hf_serve_host_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
				MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"), port);
}

int hf_serve_host_ok(const char *host, const char *origin, int port)
{
	const char *p;

	if (!host || !loopback_host(host, strlen(host), port))
		return 0;
	if (!origin)
		return 1;
	p = strstr(origin, "://");
	return p && !strncmp(origin, "http://", 7) && loopback_host(p + 3, strlen(p + 3), port);
}

/* The role a request's token grants. The Authorization header counts for
 * every method; the dashboard's cookie (a browser cannot put a header on
 * a page it navigates to, nor on an EventSource) only for reading: a
 * cross-site POST would carry the cookie, never the header, so it can
 * change nothing. */
static enum hf_serve_role request_role(const struct hf_tokens *t, struct MHD_Connection *c,
				       const char *method)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie;
	enum hf_serve_role role;
	char tok[512];
	size_t len;

	if (auth)
		return hf_tokens_check(t, auth);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return HF_SERVE_NONE;
	cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "hotfix_token");
	if (!cookie || (len = strlen(cookie)) >= sizeof(tok))
		return HF_SERVE_NONE;
	/* The page stores it URI-encoded (a token may hold ';' or ','). */
	memcpy(tok, cookie, len + 1);
	MHD_http_unescape(tok);
	role = hf_tokens_role(t, tok);
	explicit_bzero(tok, sizeof(tok));
	return role;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct hf_serve *s = cls;
	enum hf_serve_role role = HF_SERVE_OPERATOR;
	const char *name;

	(void)version;
	/* The first call only announces the request (its headers). Only
	 * OFREP's bodies are kept (up to UPLOAD_MAX), and only when the token
	 * is good: a request that is refused 401 keeps nothing. Every other
	 * body is read and dropped. */
	if (!*con_cls) {
		int keep = ofrep_path(url) &&
			   (!s->o->tokens || request_role(s->o->tokens, c, method) != HF_SERVE_NONE);

		*con_cls = keep ? hf_xcalloc(1, sizeof(struct upload)) : (void *)&not_kept;
		return MHD_YES;
	}
	if (*upload_size) {
		struct upload *up = *con_cls;

		if (*con_cls != &not_kept && !up->over) {
			if (up->b.len + *upload_size > UPLOAD_MAX)
				up->over = 1;
			else
				hf_buf_append(&up->b, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (s->stopping)
		return reply(c, 503, hf_api_error("the server is stopping"));
	if (!s->o->tokens && !same_host(c, s->port))
		return reply(c, 403, hf_api_error("without --tokens only requests to a loopback "
						  "host from a loopback page are served"));
	if (s->o->tokens)
		role = request_role(s->o->tokens, c, method);
	if (static_path(url, &name) && (role != HF_SERVE_NONE || login_file(name))) {
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			return reply(c, 405, hf_api_error("%s %s: use GET", method, url));
		return web_file(c, 200, name);
	}
	if (s->o->tokens) {
		if (role == HF_SERVE_NONE && (!strcmp(url, "/") || !strcmp(url, "/index.html")))
			return web_file(c, 401, "login.html");
		if (role == HF_SERVE_NONE)
			return reply(c, 401, hf_api_error("a bearer token is needed "
							  "(Authorization: Bearer TOKEN)"));
	}
	/* Any role reaches OFREP: a viewer's token (in the header; the cookie
	 * counts for GET only) evaluates flags although the method is POST,
	 * since evaluation changes nothing. */
	if (*con_cls != &not_kept)
		return ofrep(s, c, url, method, *con_cls);
	return route(s, c, url, method, role);
}

/* A request ended: free the body it kept. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode why)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (!up || *con_cls == &not_kept)
		return;
	hf_buf_release(&up->b);
	free(up);
	*con_cls = NULL;
}

int hf_serve_start(const struct hf_serve_opts *o, struct hf_serve **out, struct hf_err *err)
{
	struct sockaddr_storage addr;
	socklen_t len;
	struct hf_serve *s;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ITC;
	int loopback = 0, rc;

	rc = hf_serve_listen_parse(o->listen, &addr, &len, &loopback, err);
	if (rc)
		return rc;
	if (!loopback && !o->tokens)
		return hf_err_set(err, HF_EINVAL, "--listen '%s' is not a loopback address: "
				  "serving beyond this machine needs --tokens FILE", o->listen);
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s = hf_xcalloc(1, sizeof(*s));
	s->o = o;
	rc = hf_cache_open(o->state_dir, &s->cache, err);
	if (!rc && o->cluster)
		rc = hf_flagfeed_start(o->cluster, o->timeout_ms, &s->flags, err);
	if (rc) {
		hf_cache_free(s->cache);
		free(s);
		return rc;
	}
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				/* An idle connection gives its slot back soon; a
				 * stream stays, kept alive every 15 s. */
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				MHD_OPTION_END);
	if (!s->d) {
		hf_flagfeed_stop(s->flags);
		hf_cache_free(s->cache);
		free(s);
		return hf_err_set(err, HF_ERR, "cannot listen on '%s' (address in use?)", o->listen);
	}
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	*out = s;
	return 0;
}

int hf_serve_port(const struct hf_serve *s)
{
	return s->port;
}

void hf_serve_stop(struct hf_serve *s)
{
	long long deadline = hf_mono_ms() + STOP_GRACE_MS;
	MHD_socket fd;

	if (!s)
		return;
	s->stopping = 1;
	fd = MHD_quiesce_daemon(s->d);
	for (;;) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (!di || !di->num_connections || hf_mono_ms() > deadline)
			break;
		hf_sleep_ms(20);
	}
	MHD_stop_daemon(s->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	hf_flagfeed_stop(s->flags);
	hf_cache_free(s->cache);
	free(s);
}
