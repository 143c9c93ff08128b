/* What one reply from a server may cost us: the reply objects hiredis'
 * reader builds, bounded, installed on every connection the engine opens;
 * and replies read from bytes alone (tests, fuzzing). Converting a reply
 * to 'struct hf_reply' lives in conn.c. */
#include "engine/redis/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* hiredis 0.14's own objects allocate an array of the length the header
 * declares as soon as it is read: "*427387904\r\n", twelve bytes from a
 * broken or hostile server, cost 3.4 GB. Here an array's elements are
 * allocated as they arrive, and what a reply holds in all is bounded:
 * twice the largest bulk a Redis server sends by default
 * (proto-max-bulk-len, 512 MB), far above any reply hotfix asks for. */
#define REPLY_MAX_BYTES (1024ull << 20)
/* The elements allocated when an array's header is read, at most. */
#define REPLY_FIRST_ELEMENTS 64

/* The reply at the root of what the reader is building: the objects of
 * one reply charge it. Freed by freeReplyObject() (free() of its first
 * member). */
struct root {
	redisReply r;
	unsigned long long used;   /* bytes allocated for this reply */
};

/* Charge 'bytes' to the reply 'task' belongs to; 0 when that is within the
 * bound. The root's own task has no parent and no object yet. */
static int charge(const redisReadTask *task, unsigned long long bytes)
{
	const redisReadTask *t = task;
	struct root *root;

	if (!t->parent)
		return bytes > REPLY_MAX_BYTES;
	while (t->parent)
		t = t->parent;
	root = t->obj;
	if (bytes > REPLY_MAX_BYTES - root->used)
		return -1;
	root->used += bytes;
	return 0;
}

/* Make room for element 'idx' of array 'a', whose header declared
 * 'declared' elements, and store 'r' there. Growing by doubling keeps
 * what was allocated within twice what arrived. */
static int attach(redisReply *a, int declared, int idx, redisReply *r,
		  const redisReadTask *task)
{
	size_t cap = a->elements, want = cap;
	redisReply **e;

	if (idx < 0 || idx >= declared)
		return -1;
	while ((size_t)idx >= want)
		want = want * 2 > (size_t)declared ? (size_t)declared : want * 2;
	if (want != cap) {
		if (charge(task, (want - cap) * sizeof(*e)))
			return -1;
		e = realloc(a->element, want * sizeof(*e));
		if (!e)
			return -1;
		memset(e + cap, 0, (want - cap) * sizeof(*e));
		a->element = e;
		a->elements = want;
	}
	a->element[idx] = r;
	return 0;
}

/* A new object of 'type' for 'task', attached to its parent array; NULL
 * (which the reader reports as out of memory) past the bound. The root
 * is a 'struct root'. */
static redisReply *object(const redisReadTask *task, int type, unsigned long long extra)
{
	redisReply *r;

	if (charge(task, sizeof(struct root) + extra))
		return NULL;
	r = calloc(1, task->parent ? sizeof(redisReply) : sizeof(struct root));
	if (!r)
		return NULL;
	r->type = type;
	if (!task->parent) {
		((struct root *)r)->used = sizeof(struct root) + extra;
		return r;
	}
	if (attach(task->parent->obj, task->parent->elements, task->idx, r, task)) {
		free(r);
		return NULL;
	}
	return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply *r;
	char *buf;

	if (len >= REPLY_MAX_BYTES)
		return NULL;
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	r = object(task, task->type, len + 1);
	if (!r) {
		free(buf);
		return NULL;
	}
	memcpy(buf, str, len);
	buf[len] = '\0';
	r->str = buf;
	r->len = len;
	return r;
}

/* The elements are allocated as they arrive (attach()), a few at once. */
static void *create_array(const redisReadTask *task, int elements)
{
	redisReply *r;
	size_t first = elements < REPLY_FIRST_ELEMENTS ? (size_t)elements : REPLY_FIRST_ELEMENTS;

	if (elements < 0)
		return NULL;
	r = object(task, REDIS_REPLY_ARRAY, first * sizeof(redisReply *));
	if (!r || !first)
		return r;
	r->element = calloc(first, sizeof(redisReply *));
	if (!r->element) {
		freeReplyObject(r);
		return NULL;
	}
	r->elements = first;
	return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
	redisReply *r = object(task, REDIS_REPLY_INTEGER, 0);

	if (r)
		r->integer = value;
	return r;
}

static void *create_nil(const redisReadTask *task)
{
	return object(task, REDIS_REPLY_NIL, 0);
}

static void free_object(void *r)
{
	freeReplyObject(r);
}

static redisReplyObjectFunctions bounded = {
	create_string, create_array, create_integer, create_nil, free_object,
};

redisReader *hf_reader_new(void)
{
	return redisReaderCreateWithFunctions(&bounded);
}

void hf_reply_bound(redisContext *c)
{
	if (c && c->reader)
		c->reader->fn = &bounded;
}

int hf_reply_parse(const void *buf, size_t len, struct hf_reply ***out, size_t *n,
		   struct hf_err *err)
{
	redisReader *reader = redisReaderCreateWithFunctions(&bounded);
	struct hf_reply **all = NULL;
	size_t count = 0;
	void *rr = NULL;
	int rc = 0;

	if (!reader)
		return hf_err_set(err, HF_ERR, "out of memory");
	/* The feed copies: a NUL-free, unterminated buffer is fine. */
	if (redisReaderFeed(reader, buf, len) != REDIS_OK) {
		rc = hf_err_set(err, HF_EINVAL, "invalid reply: %s", reader->errstr);
		goto out;
	}
	while ((rc = redisReaderGetReply(reader, &rr)) == REDIS_OK && rr) {
		all = hf_xrealloc(all, (count + 1) * sizeof(*all));
		all[count++] = hf_reply_from_hiredis(rr);
		freeReplyObject(rr);
		rr = NULL;
	}
	if (rc != REDIS_OK)
		rc = hf_err_set(err, HF_EINVAL, "invalid reply: %s", reader->errstr);
out:
	redisReaderFree(reader);
	if (rc) {
		while (count)
			hf_reply_free(all[--count]);
		free(all);
		return rc;
	}
	*out = all;
	*n = count;
	return 0;
}
