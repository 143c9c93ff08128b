/* The flag channel's subscriber: a connection of its own (a subscribed
 * connection takes no other command), read without blocking from the
 * caller's poll(). Used by the flag client library (src/lib/flags/). */
#include <stdlib.h>
#include <string.h>

#include "engine/redis/flagstore.h"
#include "engine/redis/internal.h"
#include "util/buf.h"

struct hf_flagsub {
	struct hf_conn *c;
	char addr[300];
};

int hf_flagsub_open(const struct hf_flagstore *s, struct hf_flagsub **out, struct hf_err *err)
{
	struct hf_flagsub *sub;
	struct hf_argv a = {0};
	struct hf_conn *c;
	redisReply *r = NULL;
	int rc = hf_conn_open(&s->uri, s->host, s->port, s->timeout_ms, &c, err);

	if (rc)
		return rc;
	hf_argv_push(&a, "SUBSCRIBE");
	hf_argv_push(&a, HF_FLAGSTORE_CHANNEL);
	rc = hf_conn_command(c, &a, s->timeout_ms, &r);
	hf_argv_release(&a);
	if (rc || r->type != REDIS_REPLY_ARRAY) {
		hf_err_set(err, HF_EUNREACH, "%s did not take SUBSCRIBE: %s", s->addr,
			   r && r->type == REDIS_REPLY_ERROR ? r->str : hf_conn_error(c));
		if (r)
			freeReplyObject(r);
		hf_conn_close(c);
		return HF_EUNREACH;
	}
	freeReplyObject(r);
	sub = hf_xcalloc(1, sizeof(*sub));
	sub->c = c;
	memcpy(sub->addr, s->addr, sizeof(sub->addr));
	*out = sub;
	return 0;
}

void hf_flagsub_close(struct hf_flagsub *sub)
{
	if (!sub)
		return;
	hf_conn_close(sub->c);
	free(sub);
}

int hf_flagsub_fd(const struct hf_flagsub *sub)
{
	return hf_conn_fd(sub->c);
}

/* A "message" push: ["message", channel, "VERSION PUBLISHED_MS"]. */
static long long version_of(const redisReply *r)
{
	long long v, ms;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return 0;
	if (hf_flagstore_parse_message(r->element[2]->str, r->element[2]->len, &v, &ms))
		return 0;
	return v;
}

int hf_flagsub_read(struct hf_flagsub *sub, long long *version, struct hf_err *err)
{
	redisReply *r = NULL;

	*version = 0;
	/* The caller's poll() said the socket is readable: this reads what is
	 * there without blocking (TLS included: nothing is left inside
	 * OpenSSL for a poll() to miss); it may hold several messages, or part
	 * of one (kept in the reader for the next call). */
	if (hf_conn_read(sub->c))
		return hf_err_set(err, HF_EUNREACH, "%s: the subscription was lost: %s", sub->addr,
				  hf_conn_error(sub->c));
	for (;;) {
		long long v;

		if (hf_conn_get(sub->c, &r))
			return hf_err_set(err, HF_EUNREACH, "%s: the subscription was lost: %s",
					  sub->addr, hf_conn_error(sub->c));
		if (!r)
			return 0;
		v = version_of(r);
		if (v > *version)
			*version = v;
		freeReplyObject(r);
	}
}
