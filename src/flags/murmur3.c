/* MurmurHash3 x86 32-bit, written from the algorithm's description
 * (blocks of 4 little-endian bytes, a tail, a final avalanche). Streamed
 * so that a prefix's state can be kept and extended without copying. */
#include "flags/murmur3.h"

#define C1 0xcc9e2d51u
#define C2 0x1b873593u

static uint32_t rotl(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static uint32_t mix_k(uint32_t k)
{
	k *= C1;
	k = rotl(k, 15);
	return k * C2;
}

static uint32_t block(uint32_t h, uint32_t k)
{
	h ^= mix_k(k);
	h = rotl(h, 13);
	return h * 5 + 0xe6546b64u;
}

void hf_murmur3_init(struct hf_murmur3 *m, uint32_t seed)
{
	m->h = seed;
	m->tail = 0;
	m->ntail = 0;
	m->len = 0;
}

void hf_murmur3_update(struct hf_murmur3 *m, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;

	m->len += (uint32_t)len;
	/* Complete a pending block first, then whole blocks, then keep the rest. */
	while (m->ntail && p < end) {
		m->tail |= (uint32_t)*p++ << (8 * m->ntail);
		if (++m->ntail == 4) {
			m->h = block(m->h, m->tail);
			m->tail = 0;
			m->ntail = 0;
		}
	}
	for (; end - p >= 4; p += 4)
		m->h = block(m->h, (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
	while (p < end)
		m->tail |= (uint32_t)*p++ << (8 * m->ntail++);
}

uint32_t hf_murmur3_final(const struct hf_murmur3 *m)
{
	uint32_t h = m->h;

	if (m->ntail)
		h ^= mix_k(m->tail);
	h ^= m->len;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

uint32_t hf_murmur3_32(const void *data, size_t len, uint32_t seed)
{
	struct hf_murmur3 m;

	hf_murmur3_init(&m, seed);
	hf_murmur3_update(&m, data, len);
	return hf_murmur3_final(&m);
}
