/* The flag channel's subscriber: a connection of its own (a subscribed
 * connection takes no other command), read without blocking from the
 * caller's poll(). Used by the flag client library (src/lib/flags/). */
#include <stdlib.h>
#include <string.h>

#include "engine/redis/flagstore.h"
#include "engine/redis/internal.h"
#include "util/buf.h"

struct hf_flagsub {
	redisContext *c;
	char addr[300];
};

int hf_flagsub_open(const struct hf_flagstore *s, struct hf_flagsub **out, struct hf_err *err)
{
	struct hf_flagsub *sub;
	redisContext *c;
	redisReply *r;

	c = hf_redis_connect(s->host, s->port, s->uri.user, s->uri.password, s->timeout_ms, err);
	if (!c)
		return err ? err->code : HF_EUNREACH;
	r = redisCommand(c, "SUBSCRIBE %s", HF_FLAGSTORE_CHANNEL);
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		hf_err_set(err, HF_EUNREACH, "%s did not take SUBSCRIBE: %s", s->addr,
			   r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
		if (r)
			freeReplyObject(r);
		redisFree(c);
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
	redisFree(sub->c);
	free(sub);
}

int hf_flagsub_fd(const struct hf_flagsub *sub)
{
	return sub->c->fd;
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
	void *r = NULL;

	*version = 0;
	/* One read(2): the caller's poll() said the socket is readable, so
	 * this does not block; what it brings may hold several messages, or
	 * part of one (kept in the reader for the next call). */
	if (redisBufferRead(sub->c) != REDIS_OK)
		return hf_err_set(err, HF_EUNREACH, "%s: the subscription was lost: %s", sub->addr,
				  sub->c->errstr);
	for (;;) {
		long long v;

		if (redisGetReplyFromReader(sub->c, &r) != REDIS_OK)
			return hf_err_set(err, HF_EUNREACH, "%s: the subscription was lost: %s",
					  sub->addr, sub->c->errstr);
		if (!r)
			return 0;
		v = version_of(r);
		if (v > *version)
			*version = v;
		freeReplyObject(r);
	}
}
