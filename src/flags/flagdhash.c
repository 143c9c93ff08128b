/* flagd-core's fractional hash (imurmurhash 0.1.4 over UTF-16 code
 * units), over UTF-8 input: see flagdhash.h. Written from imurmurhash.js:
 *
 *   k1 ^= c0 & 0xffff; k1 ^= (c1 & 0xffff) << 8; k1 ^= (c2 & 0xffff) << 16;
 *   k1 ^= (c3 & 0xff) << 24; k1 ^= (c3 & 0xff00) >> 8;       -- a block
 *   ... result(): if (k1 > 0) { mix the tail }  h1 ^= len (code units)
 */
#include "flags/flagdhash.h"

#include <string.h>

#define C1 0xcc9e2d51u
#define C2 0x1b873593u

static inline uint32_t rotl(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static inline uint32_t mix_k(uint32_t k)
{
	k *= C1;
	k = rotl(k, 15);
	return k * C2;
}

static inline uint32_t block(uint32_t h, uint32_t k)
{
	h ^= mix_k(k);
	h = rotl(h, 13);
	return h * 5 + 0xe6546b64u;
}

/* One UTF-16 code unit u into the state (h, k, n, len). */
#define UNIT(u) do { \
		uint32_t u_ = (u); \
		if (n == 3) { \
			h = block(h, k ^ (u_ & 0xff) << 24 ^ u_ >> 8); \
			k = 0; \
			n = 0; \
		} else { \
			k ^= u_ << (8 * n); \
			n++; \
		} \
		len++; \
	} while (0)

/* Four bytes, little-endian. */
static inline uint32_t load_le32(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t w;

	memcpy(&w, p, 4);
	return w;
#else
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

/* One code point from UTF-8 at p (p < end), as the WHATWG decoder reads
 * it (Buffer.toString, TextDecoder): a maximal invalid subsequence is one
 * U+FFFD. Returns the bytes consumed. */
static inline size_t decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
	uint32_t c = p[0], need, lo = 0x80, hi = 0xbf;
	size_t i;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
		c &= 0x07;
	} else {
		*cp = 0xfffd;   /* a continuation byte, C0, C1, F5-FF */
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if (p + i >= end || p[i] < lo || p[i] > hi) {
			*cp = 0xfffd;
			return i;   /* the offending byte starts the next */
		}
		c = c << 6 | (p[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = c;
	return i;
}

void hf_flagdhash_init(struct hf_flagdhash *m)
{
	m->h = 0;
	m->k = 0;
	m->n = 0;
	m->len = 0;
}

/* Whether the n bytes at p are all ASCII, eight at a time. */
static inline int all_ascii(const unsigned char *p, size_t n)
{
	uint64_t w, acc = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= p[i];
	return !(acc & 0x8080808080808080ull);
}

/* ASCII input: each byte is one code unit that UNIT would fold at bit
 * 8*n, which is MurmurHash3's streaming over bytes on the same state
 * (XORed into k, not ORed: a unit above 0xFF before it, from an earlier
 * update, may have set bits there). */
static void update_ascii(struct hf_flagdhash *m, const unsigned char *p, const unsigned char *end)
{
	uint32_t h = m->h, k = m->k, n = m->n;

	m->len += (uint32_t)(end - p);
	while (n && p < end) {
		k ^= (uint32_t)*p++ << (8 * n);
		if (++n == 4) {
			h = block(h, k);
			k = 0;
			n = 0;
		}
	}
	for (; end - p >= 4; p += 4)
		h = block(h, load_le32(p));
	while (p < end)
		k ^= (uint32_t)*p++ << (8 * n++);
	m->h = h;
	m->k = k;
	m->n = n;
}

void hf_flagdhash_update(struct hf_flagdhash *m, const char *s, size_t nbytes)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + nbytes;
	uint32_t h, k, n, len, cp;

	if (all_ascii(p, nbytes)) {
		update_ascii(m, p, end);
		return;
	}
	/* In locals: the input's bytes could alias the state otherwise. */
	h = m->h;
	k = m->k;
	n = m->n;
	len = m->len;
	while (p < end) {
		if (*p < 0x80) {
			UNIT(*p);
			p++;
			continue;
		}
		p += decode(p, end, &cp);
		if (cp > 0xffff) {
			UNIT(0xd800 | (cp - 0x10000) >> 10);
			UNIT(0xdc00 | (cp & 0x3ff));
		} else {
			UNIT(cp);
		}
	}
	m->h = h;
	m->k = k;
	m->n = n;
	m->len = len;
}

uint32_t hf_flagdhash_final(const struct hf_flagdhash *m)
{
	uint32_t h = m->h;

	/* imurmurhash: 'if (k1 > 0)' on a signed 32-bit k1: a tail whose
	 * third unit is 0x8000 or above (bit 31 set) is not mixed in. */
	if (m->k && !(m->k & 0x80000000u))
		h ^= mix_k(m->k);
	h ^= m->len;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

uint32_t hf_flagdhash(const char *s, size_t len)
{
	struct hf_flagdhash m;

	hf_flagdhash_init(&m);
	hf_flagdhash_update(&m, s, len);
	return hf_flagdhash_final(&m);
}
