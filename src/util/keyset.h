/* A set of binary-safe keys, for the data kind: which keys a step has
 * already had answered, so that a key SCAN returns twice, or meets again
 * after a failover, is never sent to the script a second time. Open
 * addressing with linear probing; the set owns copies of its keys. */
#ifndef HF_UTIL_KEYSET_H
#define HF_UTIL_KEYSET_H

#include <stddef.h>

struct hf_keyset {
	struct hf_keyset_slot *slots;
	size_t cap;   /* a power of two, or 0 when empty */
	size_t n;
};

/* 1 when 'key' is in the set. */
int hf_keyset_has(const struct hf_keyset *s, const char *key, size_t len);
/* Add 'key'; returns 1 when it was new, 0 when it was there already. */
int hf_keyset_add(struct hf_keyset *s, const char *key, size_t len);
void hf_keyset_free(struct hf_keyset *s);

#endif
