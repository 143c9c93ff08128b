/* The data kind's codec: how a key's record (its before-image and both
 * digests) and a stash field (a batch's records on the node) are spelled.
 * The scripts write them (src/kinds/lua/codec.lua) and the kind reads them
 * here, so the two sides must agree byte for byte.
 *
 * What is written carries a version tag:
 *
 *   record       "@2:<expire>:<before>:<after>:<dump>"          whole image
 *                "@3:<expire>:=<kind>:<after>:<touched>"        narrow
 *   stash field  "@2:" then "<keylen>:<key><reclen>:<record>" per key
 *
 * A narrow record (issue 16) keeps only what the change touched: <kind>
 * 'h' hash fields, 's' a string's value, 'e' the expiry alone; <expire>
 * the expiry before; <after> "<expiry after>,<fields after>", each "-"
 * when the change did not set it; <touched> per hash field
 * "<len>:<field>" then "<len>:<value>" or "-" (absent before), or the
 * string's old value. In struct hf_key_record its "=<kind>" is 'before',
 * its <after> 'after' and <touched> 'dump'.
 *
 * <expire> is PEXPIRETIME (unix ms, or -1), <before> and <after> digests
 * (never a ':'), <dump> the DUMP payload (binary, to the end); lengths are
 * decimal byte counts, so keys are binary-safe. The previous release wrote
 * both untagged, and a stash or a journal may still hold its forms: a
 * record "R<expire>:...", a stash field of entries alone (it starts with a
 * digit), or one key's record in a field named after the key. They are
 * read; a tag this hotfix does not know is refused, never guessed at. */
#ifndef HF_KINDS_DATA_CODEC_H
#define HF_KINDS_DATA_CODEC_H

#include <stddef.h>

#include "core/journal.h"
#include "util/buf.h"

#define HF_DATA_CODEC_VERSION 2
#define HF_DATA_CODEC_TAG "@2:"
#define HF_DATA_NARROW_VERSION 3
#define HF_DATA_NARROW_TAG "@3:"

/* Read a record of 'len' bytes at 's' (tagged, or the previous release's
 * "R..."). Fills r->expire_at, before, after, dump and dumplen (caller
 * frees r->dump), leaving the key, state and note alone. Returns 0, or
 * HF_EINVAL when 's' is not a record (truncated, garbage, a digest longer
 * than the record holds, an unknown tag), with 'r' untouched. */
int hf_data_record_decode(const char *s, size_t len, struct hf_key_record *r);
/* Is 'r' a narrow record (only the touched part kept)? */
int hf_data_record_narrow(const struct hf_key_record *r);
/* Append 'r' as a tagged record to 'out'. */
void hf_data_record_encode(const struct hf_key_record *r, struct hf_buf *out);

/* A stash field being read entry by entry; its pointers borrow the
 * field's name and value. */
struct hf_data_stash_iter {
	const char *name;
	size_t namelen;
	const char *p, *end;   /* the entries not read yet */
	int version;           /* 1 (untagged) or HF_DATA_CODEC_VERSION */
	int per_key;           /* the previous release's one record per field */
};

/* Start reading the stash field 'name' whose value is 'val'. Returns 0, or
 * HF_EINVAL when the value carries a tag this hotfix does not know (its
 * number, when there is one, in it->version). */
int hf_data_stash_iter_init(struct hf_data_stash_iter *it, const char *name, size_t namelen,
			    const char *val, size_t len);
/* The next entry: its key and its record, pointing into the field. Returns
 * 1 with an entry, 0 after the last one, HF_EINVAL when the rest cannot be
 * read (a length running past the end, garbage). The record itself is not
 * checked: hf_data_record_decode() does that. */
int hf_data_stash_iter_next(struct hf_data_stash_iter *it, const char **key, size_t *keylen,
			    const char **rec, size_t *reclen);
/* Append an entry to the stash field value 'out', starting it with the tag
 * when 'out' is empty. The scripts write the stash on the node; this is
 * the same format in C, for tests and tools. */
void hf_data_stash_append(struct hf_buf *out, const char *key, size_t keylen, const char *rec,
			  size_t reclen);

/* Do a record's digests take the previous release's form (a SHA-1 of every
 * value)? A digest of the current form has a '.' ("<crc>.<type>.<expiry>"),
 * an older one none; "absent" is both. A node digests such a record's key
 * the older way, so that like is compared with like. */
int hf_data_digests_legacy(const char *before, const char *after);

#endif
