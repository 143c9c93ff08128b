#include "util/keyset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"

struct hf_keyset_slot {
	char *key;   /* NULL when free */
	size_t len;
	uint64_t hash;
};

static uint64_t hash_of(const char *key, size_t len)
{
	uint64_t h = hf_fnv1a(key, len);

	return h ^ (h >> 29);   /* the low bits pick the slot */
}

/* The slot holding 'key', or the free slot where it would go. */
static struct hf_keyset_slot *find(const struct hf_keyset *s, const char *key, size_t len,
				   uint64_t h)
{
	size_t i = (size_t)h & (s->cap - 1);

	for (;; i = (i + 1) & (s->cap - 1)) {
		struct hf_keyset_slot *e = &s->slots[i];

		if (!e->key || (e->hash == h && e->len == len && !memcmp(e->key, key, len)))
			return e;
	}
}

static void grow(struct hf_keyset *s)
{
	struct hf_keyset old = *s;
	size_t i;

	s->cap = old.cap ? old.cap * 2 : 64;
	s->slots = hf_xcalloc(s->cap, sizeof(*s->slots));
	for (i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*find(s, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
	free(old.slots);
}

int hf_keyset_has(const struct hf_keyset *s, const char *key, size_t len)
{
	return s->cap && find(s, key, len, hash_of(key, len))->key != NULL;
}

int hf_keyset_add(struct hf_keyset *s, const char *key, size_t len)
{
	uint64_t h = hash_of(key, len);
	struct hf_keyset_slot *e;

	if ((s->n + 1) * 4 > s->cap * 3)   /* at most three quarters full */
		grow(s);
	e = find(s, key, len, h);
	if (e->key)
		return 0;
	e->key = hf_xmalloc(len ? len : 1);
	memcpy(e->key, key, len);
	e->len = len;
	e->hash = h;
	s->n++;
	return 1;
}

void hf_keyset_free(struct hf_keyset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slots[i].key);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
