/* libFuzzer target: the data kind's codec reads what a node's stash holds
 * after a crash (bytes a script wrote, or anyone with access to the node
 * did). Every field must be read or refused without reading past its end;
 * a record read must encode back to something that reads the same. Built
 * by 'make fuzz'. The input is split at its first NUL into the field's name
 * and its value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kinds/data_codec.h"

/* Does [p, p + n) lie within [base, base + len)? */
static int inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

/* Decode a record, encode it, decode that: the same record. */
static void round_trip(const char *rec, size_t len)
{
	struct hf_key_record a = {0}, b = {0};
	struct hf_buf out = {0};

	if (hf_data_record_decode(rec, len, &a))
		return;
	hf_data_record_encode(&a, &out);
	if (hf_data_record_decode(out.s, out.len, &b) || a.expire_at != b.expire_at ||
	    strcmp(a.before, b.before) || strcmp(a.after, b.after) || a.dumplen != b.dumplen ||
	    (a.dumplen && memcmp(a.dump, b.dump, a.dumplen)))
		abort();
	free(a.dump);
	free(b.dump);
	hf_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nul = memchr(s, '\0', size);
	size_t namelen = nul ? (size_t)(nul - s) : 0;
	const char *val = nul ? nul + 1 : s;
	size_t len = nul ? size - namelen - 1 : size;
	/* Copies of exactly their size, so ASan sees any read past the end. */
	char *name = malloc(namelen ? namelen : 1), *copy = malloc(len ? len : 1);
	struct hf_data_stash_iter it;
	const char *key, *rec;
	size_t keylen, reclen;
	int rc;

	memcpy(name, s, namelen);
	memcpy(copy, val, len);
	round_trip(copy, len);
	if (!hf_data_stash_iter_init(&it, name, namelen, copy, len))
		while ((rc = hf_data_stash_iter_next(&it, &key, &keylen, &rec, &reclen)) == 1) {
			/* A per-key field of the previous release names its key. */
			if ((!inside(key, keylen, copy, len) && !inside(key, keylen, name, namelen)) ||
			    !inside(rec, reclen, copy, len))
				abort();
			round_trip(rec, reclen);
		}
	free(name);
	free(copy);
	return 0;
}
