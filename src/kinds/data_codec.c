/* The data kind's codec: records and stash fields as the scripts write
 * them, read and written in C (the formats are in data_codec.h). Nothing
 * here talks to a node or to the journal. */
#include "kinds/data_codec.h"

#include <string.h>

#include "util/err.h"

#define TAG_LEN (sizeof(HF_DATA_CODEC_TAG) - 1)
/* Decimal digits of a length or an expiry: more is garbage. */
#define NUMBER_MAX 18

/* A version tag "@<digits>:" at 's': its length, with its number in
 * '*version'; 0 when 's' does not start with one. */
static size_t read_tag(const char *s, const char *end, int *version)
{
	const char *p = s + 1;
	int v = 0;

	if (s >= end || *s != '@')
		return 0;
	while (p < end && *p >= '0' && *p <= '9' && p - s <= 4)
		v = v * 10 + (*p++ - '0');
	if (p == s + 1 || p >= end || *p != ':')
		return 0;
	*version = v;
	return (size_t)(p + 1 - s);
}

/* A decimal number from '*p' up to a ':' before 'end' (an optional '-'
 * first when 'sign'); '*p' moves past the ':'. -1 when there is none. */
static int read_number(const char **p, const char *end, int sign, long long *out)
{
	const char *s = *p;
	long long v = 0;
	int neg = 0, digits = 0;

	if (sign && s < end && *s == '-') {
		neg = 1;
		s++;
	}
	for (; s < end && *s >= '0' && *s <= '9' && digits < NUMBER_MAX; s++, digits++)
		v = v * 10 + (*s - '0');
	if (!digits || s >= end || *s != ':')
		return -1;
	*out = neg ? -v : v;
	*p = s + 1;
	return 0;
}

/* A digest from '*p' up to its ':': not empty, short enough for a
 * record's field of 'size' bytes, and printable (digests are hex, dots and
 * words; a NUL in one would cut it short where it is compared). */
static int read_digest(const char **p, const char *end, char *out, size_t size)
{
	const char *c = memchr(*p, ':', (size_t)(end - *p)), *q;
	size_t n;

	if (!c)
		return -1;
	n = (size_t)(c - *p);
	if (!n || n >= size)
		return -1;
	for (q = *p; q < c; q++)
		if (*q < '!' || *q > '~')
			return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = c + 1;
	return 0;
}

int hf_data_record_decode(const char *s, size_t len, struct hf_key_record *r)
{
	const char *p = s, *end = s + len;
	char before[sizeof(r->before)], after[sizeof(r->after)];
	long long expire;
	size_t tag;
	int version = 0;

	if (!len)
		return HF_EINVAL;
	tag = read_tag(s, end, &version);
	if (tag && (version == HF_DATA_CODEC_VERSION || version == HF_DATA_NARROW_VERSION))
		p += tag;
	else if (!tag && *s == 'R')
		p++;   /* the previous release's */
	else
		return HF_EINVAL;
	if (read_number(&p, end, 1, &expire) || read_digest(&p, end, before, sizeof(before)) ||
	    read_digest(&p, end, after, sizeof(after)))
		return HF_EINVAL;
	/* A narrow record says so in its version and in its kind, both. */
	if ((version == HF_DATA_NARROW_VERSION) != (before[0] == '=') ||
	    (before[0] == '=' && (!strchr("hse", before[1]) || !before[1] || before[2])))
		return HF_EINVAL;
	r->expire_at = expire;
	memcpy(r->before, before, sizeof(before));
	memcpy(r->after, after, sizeof(after));
	r->dumplen = (size_t)(end - p);
	r->dump = hf_xmalloc(r->dumplen + 1);
	memcpy(r->dump, p, r->dumplen);
	r->dump[r->dumplen] = '\0';
	return 0;
}

int hf_data_record_narrow(const struct hf_key_record *r)
{
	return r->before[0] == '=';
}

void hf_data_record_encode(const struct hf_key_record *r, struct hf_buf *out)
{
	hf_buf_printf(out, "%s%lld:%s:%s:", hf_data_record_narrow(r) ? HF_DATA_NARROW_TAG :
		      HF_DATA_CODEC_TAG, r->expire_at, r->before, r->after);
	hf_buf_append(out, r->dump ? r->dump : "", r->dumplen);
}

int hf_data_stash_iter_init(struct hf_data_stash_iter *it, const char *name, size_t namelen,
			    const char *val, size_t len)
{
	const char *end = val + len;
	size_t tag;
	int version = 0;

	memset(it, 0, sizeof(*it));
	tag = read_tag(val, end, &version);
	if (tag && version != HF_DATA_CODEC_VERSION) {
		it->version = version;
		return HF_EINVAL;
	}
	if (!tag && len && *val == '@') {
		it->version = -1;   /* a tag, but not one that reads */
		return HF_EINVAL;
	}
	it->name = name;
	it->namelen = namelen;
	it->p = val + tag;
	it->end = end;
	it->version = tag ? version : 1;
	/* Entries start with a digit: a record ("R...") is a field of one key. */
	it->per_key = !tag && len && *val == 'R';
	return 0;
}

int hf_data_stash_iter_next(struct hf_data_stash_iter *it, const char **key, size_t *keylen,
			    const char **rec, size_t *reclen)
{
	const char *p = it->p;
	long long n;

	if (p >= it->end)
		return 0;
	if (it->per_key) {
		*key = it->name;
		*keylen = it->namelen;
		*rec = p;
		*reclen = (size_t)(it->end - p);
		it->p = it->end;
		return 1;
	}
	if (read_number(&p, it->end, 0, &n) || (unsigned long long)n > (size_t)(it->end - p))
		return HF_EINVAL;
	*key = p;
	*keylen = (size_t)n;
	p += n;
	if (read_number(&p, it->end, 0, &n) || (unsigned long long)n > (size_t)(it->end - p))
		return HF_EINVAL;
	*rec = p;
	*reclen = (size_t)n;
	it->p = p + n;
	return 1;
}

void hf_data_stash_append(struct hf_buf *out, const char *key, size_t keylen, const char *rec,
			  size_t reclen)
{
	if (!out->len)
		hf_buf_puts(out, HF_DATA_CODEC_TAG);
	hf_buf_printf(out, "%zu:", keylen);
	hf_buf_append(out, key, keylen);
	hf_buf_printf(out, "%zu:", reclen);
	hf_buf_append(out, rec, reclen);
}

int hf_data_digests_legacy(const char *before, const char *after)
{
	return !strchr(before, '.') && !strchr(after, '.');
}
