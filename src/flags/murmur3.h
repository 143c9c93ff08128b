/* MurmurHash3 x86 32-bit (Austin Appleby's public-domain algorithm) of
 * bytes, in one call or streamed: the flag key table's hash for keys over
 * 16 bytes (doc.c). The fractional operator does not use it: it hashes as
 * flagd-core does (flagdhash.h), which differs for non-ASCII strings. */
#ifndef HF_FLAGS_MURMUR3_H
#define HF_FLAGS_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

struct hf_murmur3 {
	uint32_t h;      /* the hash of the whole blocks so far */
	uint32_t tail;   /* the bytes of an incomplete block, little-endian */
	uint32_t ntail;  /* how many (0-3) */
	uint32_t len;    /* bytes hashed so far (mod 2^32, as the algorithm wants) */
};

/* The hash of 'len' bytes at 'data' with 'seed'. */
uint32_t hf_murmur3_32(const void *data, size_t len, uint32_t seed);

/* Streaming: init, update any number of times, final (which does not
 * change 'm', so a state can be copied and finished many times). */
void hf_murmur3_init(struct hf_murmur3 *m, uint32_t seed);
void hf_murmur3_update(struct hf_murmur3 *m, const void *data, size_t len);
uint32_t hf_murmur3_final(const struct hf_murmur3 *m);

#endif
