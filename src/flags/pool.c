/* Memory of src/flags/: a document's pool (blocks freed together, so a
 * compiled document is one free) and the evaluation arena (a bump
 * pointer over the caller's buffer, never malloc). */
#include <stdlib.h>
#include <string.h>

#include "flags/internal.h"
#include "util/buf.h"

#define BLOCK 16384

struct block {
	struct block *next;
	size_t used, cap;
	max_align_t data[];
};

struct hf_pool {
	struct block *head;
};

struct hf_pool *hf_pool_new(void)
{
	return hf_xcalloc(1, sizeof(struct hf_pool));
}

void *hf_pool_alloc(struct hf_pool *p, size_t n)
{
	struct block *b = p->head;
	void *r;

	n = (n + 7) & ~(size_t)7;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > BLOCK ? n : BLOCK;

		b = hf_xmalloc(sizeof(*b) + cap);
		b->cap = cap;
		b->used = 0;
		b->next = p->head;
		p->head = b;
	}
	r = (char *)b->data + b->used;
	b->used += n;
	memset(r, 0, n);
	return r;
}

char *hf_pool_strndup(struct hf_pool *p, const char *s, size_t n)
{
	char *d = hf_pool_alloc(p, n + 1);

	memcpy(d, s, n);
	return d;
}

void hf_pool_free(struct hf_pool *p)
{
	struct block *b, *next;

	if (!p)
		return;
	for (b = p->head; b; b = next) {
		next = b->next;
		free(b);
	}
	free(p);
}

void *hf_arena_alloc(struct hf_flagarena *a, size_t n)
{
	void *r;

	if (a->cap - a->used < n)
		return NULL;
	r = a->buf + a->used;
	a->used += n;
	return r;
}

struct hf_fv *hf_arena_items(struct hf_flagarena *a, size_t n)
{
	size_t pad = (8 - ((uintptr_t)(a->buf + a->used) & 7)) & 7;

	if (a->cap - a->used < pad || !hf_arena_alloc(a, pad))
		return NULL;
	return hf_arena_alloc(a, n * sizeof(struct hf_fv));
}
