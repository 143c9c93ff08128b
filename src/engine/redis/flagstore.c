/* The flag store: the document hash, the publish script, the clients and
 * their acknowledgements (flagstore.h). The subscriber is in flags_io.c. */
#include "engine/redis/flagstore.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/flags_lua.h"
#include "engine/redis/internal.h"
#include "util/buf.h"

#define MAX_REDIRECTS 3

void hf_flagstate_release(struct hf_flagstate *s)
{
	free(s->doc);
	free(s->run);
	memset(s, 0, sizeof(*s));
}

void hf_flagclients_free(struct hf_flagclient *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].id);
		free(c[i].host);
		free(c[i].lib);
	}
	free(c);
}

int hf_flagstore_parse_message(const char *s, size_t len, long long *version, long long *ms)
{
	char buf[64], *end;
	long long v, t;

	if (!s || len == 0 || len >= sizeof(buf))
		return HF_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	v = strtoll(buf, &end, 10);
	if (end == buf || *end != ' ' || v <= 0)
		return HF_EINVAL;
	t = strtoll(end + 1, &end, 10);
	if (*end || t < 0)
		return HF_EINVAL;
	*version = v;
	*ms = t;
	return 0;
}

static long long json_ll(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static char *json_str(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return hf_xstrdup(json_is_string(v) ? json_string_value(v) : "");
}

int hf_flagclient_parse(const char *id, const char *json, const char *ack,
			struct hf_flagclient *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->id = hf_xstrdup(id);
	if (json) {
		json_t *o = json_loads(json, 0, NULL);

		if (json_is_object(o)) {
			out->host = json_str(o, "host");
			out->lib = json_str(o, "lib");
			out->pid = json_ll(o, "pid");
			out->started_ms = json_ll(o, "started_ms");
			out->seen_ms = json_ll(o, "seen_ms");
		} else {
			rc = HF_EINVAL;
		}
		json_decref(o);
	}
	if (ack && hf_flagstore_parse_message(ack, strlen(ack), &out->applied_version,
					      &out->applied_ms))
		rc = HF_EINVAL;
	if (!out->host)
		out->host = hf_xstrdup("");
	if (!out->lib)
		out->lib = hf_xstrdup("");
	return rc;
}

/* ---- the connection ---------------------------------------------------- */

static void set_node(struct hf_flagstore *s, const char *host, size_t hlen, int port)
{
	free(s->host);
	s->host = hf_xstrndup(host, hlen);
	s->port = port;
	snprintf(s->addr, sizeof(s->addr), "%s:%d", s->host, port);
}

/* The node that serves slot 'slot' in a CLUSTER SLOTS reply, or 0. */
static int slot_owner(const redisReply *r, unsigned slot, struct hf_flagstore *s)
{
	size_t i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i], *m;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
			continue;
		if ((long long)slot < e->element[0]->integer || (long long)slot > e->element[1]->integer)
			continue;
		m = e->element[2];
		if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
		    m->element[0]->type != REDIS_REPLY_STRING)
			return 0;
		/* An empty host means "the address you reached me at". */
		if (m->element[0]->len)
			set_node(s, m->element[0]->str, m->element[0]->len, (int)m->element[1]->integer);
		return 1;
	}
	return 0;
}

/* Remember every node a CLUSTER SLOTS reply names, as seeds for when the
 * one given is down. */
static void learn_nodes(struct hf_flagstore *s, const redisReply *r)
{
	size_t i, j;

	for (i = 0; i < s->nalts; i++)
		free(s->alts[i]);
	s->nalts = 0;
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		for (j = 2; e->type == REDIS_REPLY_ARRAY && j < e->elements; j++) {
			const redisReply *m = e->element[j];

			if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 || !m->element[0]->len)
				continue;
			s->alts = hf_xrealloc(s->alts, (s->nalts + 1) * sizeof(*s->alts));
			s->alts[s->nalts++] = hf_xasprintf("%s:%lld", m->element[0]->str,
							   m->element[1]->integer);
		}
	}
}

/* Connect to the node set by set_node(), closing any connection first. */
static int open_node(struct hf_flagstore *s, struct hf_err *err)
{
	hf_conn_close(s->c);
	s->c = NULL;
	return hf_conn_open(&s->uri, s->host, s->port, s->timeout_ms, &s->c, err);
}

/* One command on the connection; NULL when it was lost ('err' filled,
 * the connection closed). */
static redisReply *command(struct hf_flagstore *s, const struct hf_argv *a, struct hf_err *err)
{
	redisReply *r = NULL;

	if (!hf_conn_command(s->c, a, s->timeout_ms, &r))
		return r;
	hf_err_set(err, HF_EUNREACH, "%s did not answer '%s': %s", s->addr, a->argv[0],
		   hf_conn_error(s->c));
	hf_conn_close(s->c);
	s->c = NULL;
	return NULL;
}

/* Connect to the seed given, or else to one of the nodes learned. */
static int connect_seed(struct hf_flagstore *s, struct hf_err *err)
{
	size_t i;
	int rc;

	set_node(s, s->uri.host, strlen(s->uri.host), s->uri.port);
	rc = open_node(s, err);
	/* A certificate refused is refused by every node alike. */
	for (i = 0; rc && rc != HF_EREFUSED && i < s->nalts; i++) {
		const char *colon = strrchr(s->alts[i], ':');

		set_node(s, s->alts[i], (size_t)(colon - s->alts[i]), atoi(colon + 1));
		rc = open_node(s, err);
	}
	return rc;
}

/* Connect to a seed, find the keys' primary and connect to it. Without
 * cluster mode CLUSTER SLOTS is an error and the seed is the primary. */
static int reconnect(struct hf_flagstore *s, struct hf_err *err)
{
	const char *key = HF_FLAGSTORE_DOC;
	char seed[sizeof(s->addr)];
	struct hf_argv a = {0};
	redisReply *r;
	int rc;

	hf_flagstore_disconnect(s);
	if ((rc = connect_seed(s, err)))
		return rc;
	memcpy(seed, s->addr, sizeof(seed));
	hf_argv_push(&a, "CLUSTER");
	hf_argv_push(&a, "SLOTS");
	r = command(s, &a, err);
	hf_argv_release(&a);
	if (!r)
		return HF_EUNREACH;
	if (r->type == REDIS_REPLY_ARRAY)
		learn_nodes(s, r);
	if (r->type == REDIS_REPLY_ARRAY && slot_owner(r, hf_key_slot(key, strlen(key)), s) &&
	    strcmp(s->addr, seed))
		rc = open_node(s, err);
	freeReplyObject(r);
	return rc;
}

int hf_flagstore_open(const struct hf_uri *uri, long timeout_ms, struct hf_flagstore **out,
		      struct hf_err *err)
{
	struct hf_flagstore *s = hf_xcalloc(1, sizeof(*s));
	int rc;

	hf_uri_copy(&s->uri, uri);
	s->timeout_ms = timeout_ms;
	if ((rc = reconnect(s, err))) {
		hf_flagstore_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

int hf_flagstore_connect(struct hf_flagstore *s, struct hf_err *err)
{
	return s->c ? 0 : reconnect(s, err);
}

void hf_flagstore_disconnect(struct hf_flagstore *s)
{
	hf_conn_close(s->c);
	s->c = NULL;
}

void hf_flagstore_close(struct hf_flagstore *s)
{
	size_t i;

	if (!s)
		return;
	hf_flagstore_disconnect(s);
	for (i = 0; i < s->nalts; i++)
		free(s->alts[i]);
	free(s->alts);
	hf_uri_release(&s->uri);
	free(s->host);
	free(s);
}

const char *hf_flagstore_addr(const struct hf_flagstore *s)
{
	return s->addr;
}

/* Follow "MOVED slot host:port" to the node it names. */
static int follow_moved(struct hf_flagstore *s, const char *msg, struct hf_err *err)
{
	const char *addr = strrchr(msg, ' '), *colon;

	if (!addr || !(colon = strrchr(addr, ':')))
		return hf_err_set(err, HF_ERR, "%s: cannot follow '%s'", s->addr, msg);
	set_node(s, addr + 1, (size_t)(colon - addr - 1), atoi(colon + 1));
	return open_node(s, err);
}

/* Run one command on the keys' primary: reconnects once after a lost
 * connection, follows MOVED (a failover moved the slot). Error replies
 * other than MOVED are handed back. Caller frees '*out'. */
static int run(struct hf_flagstore *s, const struct hf_argv *a, redisReply **out,
	       struct hf_err *err)
{
	int tries, rc;

	for (tries = 0; tries <= MAX_REDIRECTS; tries++) {
		redisReply *r;

		if (!s->c && (rc = reconnect(s, err)))
			return rc;
		r = command(s, a, err);
		if (!r)
			continue;
		if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "MOVED ", 6)) {
			rc = follow_moved(s, r->str, err);
			freeReplyObject(r);
			if (rc)
				return rc;
			continue;
		}
		*out = r;
		return 0;
	}
	return err && err->code ? err->code : hf_err_set(err, HF_EUNREACH, "%s: too many redirections", s->addr);
}

/* run() for a command whose error reply is a failure. */
static int run_ok(struct hf_flagstore *s, const struct hf_argv *a, redisReply **out,
		  struct hf_err *err)
{
	int rc = run(s, a, out, err);

	if (!rc && (*out)->type == REDIS_REPLY_ERROR) {
		rc = hf_err_set(err, HF_ERR, "%s refused '%s': %s", s->addr, a->argv[0], (*out)->str);
		freeReplyObject(*out);
	}
	return rc;
}

/* ---- the document ------------------------------------------------------- */

static long long reply_ll(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

int hf_flagstore_read(struct hf_flagstore *s, struct hf_flagstate *out, struct hf_err *err)
{
	struct hf_argv a = {0};
	struct hf_flagstate st = {0};
	redisReply *r;
	size_t i;
	int rc;

	hf_argv_push(&a, "HGETALL");
	hf_argv_push(&a, HF_FLAGSTORE_DOC);
	rc = run_ok(s, &a, &r, err);
	hf_argv_release(&a);
	if (rc)
		return rc;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const char *k = r->element[i]->str;
		const redisReply *v = r->element[i + 1];

		if (!k || v->type != REDIS_REPLY_STRING)
			continue;
		if (!strcmp(k, "version"))
			st.version = reply_ll(v);
		else if (!strcmp(k, "published_ms"))
			st.published_ms = reply_ll(v);
		else if (!strcmp(k, "doc") && !st.doc)
			st.doc = hf_xstrndup(v->str, v->len);
		else if (!strcmp(k, "run") && !st.run)
			st.run = hf_xstrndup(v->str, v->len);
	}
	freeReplyObject(r);
	if (st.version > 0 && !st.doc) {
		hf_flagstate_release(&st);
		return hf_err_set(err, HF_ERR, "%s: '%s' has a version but no document", s->addr,
				  HF_FLAGSTORE_DOC);
	}
	if (!st.run)
		st.run = hf_xstrdup("");
	*out = st;
	return 0;
}

int hf_flagstore_version(struct hf_flagstore *s, long long *version, struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r;
	int rc;

	hf_argv_push(&a, "HGET");
	hf_argv_push(&a, HF_FLAGSTORE_DOC);
	hf_argv_push(&a, "version");
	rc = run_ok(s, &a, &r, err);
	hf_argv_release(&a);
	if (rc)
		return rc;
	*version = reply_ll(r);
	freeReplyObject(r);
	return 0;
}

int hf_flagstore_publish(struct hf_flagstore *s, long long expect, const char *doc,
			 const char *run_id, long long *version, long long *published_ms,
			 struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r;
	int rc;

	hf_argv_pushb(&a, "EVAL", 4);
	hf_argv_pushb(&a, hf_flags_lua_publish, hf_flags_lua_publish_len);
	hf_argv_push(&a, "2");
	hf_argv_push(&a, HF_FLAGSTORE_DOC);
	hf_argv_push(&a, HF_FLAGSTORE_VERSIONS);
	hf_argv_pushf(&a, "%lld", expect);
	hf_argv_push(&a, doc);
	hf_argv_push(&a, run_id ? run_id : "");
	hf_argv_push(&a, HF_FLAGSTORE_CHANNEL);
	rc = run(s, &a, &r, err);
	hf_argv_release(&a);
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "STALE ", 6)) {
		rc = hf_err_set(err, HF_EREFUSED,
				"cannot publish version %lld: expected version %lld to be current, "
				"but version %s is (nothing was changed)",
				expect + 1, expect, r->str + 6);
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		rc = hf_err_set(err, HF_ERR, "%s: the publish script failed: %s", s->addr,
				r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	} else {
		*version = reply_ll(r->element[0]);
		*published_ms = reply_ll(r->element[1]);
	}
	freeReplyObject(r);
	return rc;
}

int hf_flagstore_published(struct hf_flagstore *s, long long version, long long *ms,
			   struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r;
	int rc;

	hf_argv_push(&a, "HGET");
	hf_argv_push(&a, HF_FLAGSTORE_VERSIONS);
	hf_argv_pushf(&a, "%lld", version);
	rc = run_ok(s, &a, &r, err);
	hf_argv_release(&a);
	if (rc)
		return rc;
	*ms = reply_ll(r);
	freeReplyObject(r);
	return 0;
}

/* ---- clients ------------------------------------------------------------ */

static int hset(struct hf_flagstore *s, const char *key, const char *field, const char *value,
		struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r;
	int rc;

	hf_argv_push(&a, "HSET");
	hf_argv_push(&a, key);
	hf_argv_push(&a, field);
	hf_argv_push(&a, value);
	rc = run_ok(s, &a, &r, err);
	hf_argv_release(&a);
	if (!rc)
		freeReplyObject(r);
	return rc;
}

int hf_flagstore_announce(struct hf_flagstore *s, const char *id, const char *json,
			  struct hf_err *err)
{
	return hset(s, HF_FLAGSTORE_CLIENTS, id, json, err);
}

int hf_flagstore_ack(struct hf_flagstore *s, const char *id, long long version,
		     long long applied_ms, struct hf_err *err)
{
	char v[64];

	snprintf(v, sizeof(v), "%lld %lld", version, applied_ms);
	return hset(s, HF_FLAGSTORE_ACKS, id, v, err);
}

static int hgetall(struct hf_flagstore *s, const char *key, redisReply **out, struct hf_err *err)
{
	struct hf_argv a = {0};
	int rc;

	hf_argv_push(&a, "HGETALL");
	hf_argv_push(&a, key);
	rc = run_ok(s, &a, out, err);
	hf_argv_release(&a);
	if (!rc && (*out)->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(*out);
		rc = hf_err_set(err, HF_ERR, "%s: '%s' is not a hash", s->addr, key);
	}
	return rc;
}

/* The value of 'field' in an HGETALL reply, or NULL. */
static const char *field_of(const redisReply *h, const char *field)
{
	size_t i;

	for (i = 0; i + 1 < h->elements; i += 2)
		if (h->element[i]->str && !strcmp(h->element[i]->str, field))
			return h->element[i + 1]->str;
	return NULL;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct hf_flagclient *)a)->id, ((const struct hf_flagclient *)b)->id);
}

int hf_flagstore_clients(struct hf_flagstore *s, struct hf_flagclient **out, size_t *n,
			 struct hf_err *err)
{
	redisReply *cl = NULL, *ack = NULL;
	struct hf_flagclient *c;
	size_t i, k = 0;
	int rc;

	if ((rc = hgetall(s, HF_FLAGSTORE_CLIENTS, &cl, err)) ||
	    (rc = hgetall(s, HF_FLAGSTORE_ACKS, &ack, err))) {
		if (cl)
			freeReplyObject(cl);
		return rc;
	}
	c = hf_xcalloc(cl->elements / 2 + ack->elements / 2 + 1, sizeof(*c));
	for (i = 0; i + 1 < cl->elements; i += 2)
		hf_flagclient_parse(cl->element[i]->str, cl->element[i + 1]->str,
				    field_of(ack, cl->element[i]->str), &c[k++]);
	/* An acknowledgement whose client entry is gone still names a client. */
	for (i = 0; i + 1 < ack->elements; i += 2)
		if (!field_of(cl, ack->element[i]->str))
			hf_flagclient_parse(ack->element[i]->str, NULL, ack->element[i + 1]->str,
					    &c[k++]);
	freeReplyObject(cl);
	freeReplyObject(ack);
	qsort(c, k, sizeof(*c), by_id);
	*out = c;
	*n = k;
	return 0;
}

int hf_flagstore_prune(struct hf_flagstore *s, long long before_ms, size_t *pruned,
		       struct hf_err *err)
{
	struct hf_flagclient *c;
	size_t n, i;
	int rc = hf_flagstore_clients(s, &c, &n, err);

	*pruned = 0;
	for (i = 0; !rc && i < n; i++) {
		struct hf_argv a = {0};
		redisReply *r;

		if (c[i].seen_ms >= before_ms)
			continue;
		/* Each hash by itself: MULTI would buy nothing, a client that
		 * comes back announces itself again. */
		hf_argv_push(&a, "HDEL");
		hf_argv_push(&a, HF_FLAGSTORE_CLIENTS);
		hf_argv_push(&a, c[i].id);
		if (!(rc = run_ok(s, &a, &r, err))) {
			freeReplyObject(r);
			hf_argv_release(&a);
			hf_argv_push(&a, "HDEL");
			hf_argv_push(&a, HF_FLAGSTORE_ACKS);
			hf_argv_push(&a, c[i].id);
			if (!(rc = run_ok(s, &a, &r, err))) {
				freeReplyObject(r);
				(*pruned)++;
			}
		}
		hf_argv_release(&a);
	}
	hf_flagclients_free(c, n);
	return rc;
}

/* For the other users of the {hotfix} slot (lease.c): run() with an error
 * reply as a failure. */
int hf_flagstore_call(struct hf_flagstore *s, const struct hf_argv *a, redisReply **out,
		      struct hf_err *err)
{
	return run_ok(s, a, out, err);
}
