/* flagd-core's fractional hash: the npm package imurmurhash 0.1.4 (which
 * @openfeature/flagd-core 4 calls as new MurmurHash3(string).result())
 * over the UTF-16 code units of a JavaScript string, reproduced over
 * UTF-8 input. It is MurmurHash3 x86_32's structure (seed 0) with
 * imurmurhash's folding of code units into 32-bit blocks: unit i of a
 * block is XORed in at bit 8*i, all 16 of its bits (the fourth: low byte
 * at bit 24, high byte at bit 0), so a unit above 0xFF overlaps its
 * neighbour; the length is the count of code units; the tail is mixed
 * only when, as a signed 32-bit number, it is positive. For code units up
 * to 0xFF (ASCII, Latin-1) this is MurmurHash3 x86_32 of those bytes.
 *
 * Streamed, so that the flag key's state can be computed once per flag
 * and extended by each targeting key without copying or allocating. A
 * code point above U+FFFF counts as its two surrogates; invalid UTF-8 is
 * decoded as Node decodes it (WHATWG: U+FFFD for each maximal invalid
 * subsequence), though JSON text reaching the evaluator is valid UTF-8. */
#ifndef HF_FLAGS_FLAGDHASH_H
#define HF_FLAGS_FLAGDHASH_H

#include <stddef.h>
#include <stdint.h>

struct hf_flagdhash {
	uint32_t h;      /* the hash of the whole blocks so far */
	uint32_t k;      /* the code units of an incomplete block, folded */
	uint32_t n;      /* how many (0-3) */
	uint32_t len;    /* code units hashed so far (mod 2^32) */
};

/* The hash of the UTF-8 string of 'len' bytes at 's'. */
uint32_t hf_flagdhash(const char *s, size_t len);

/* Streaming: init, update any number of times (split between code points:
 * each update decodes its own bytes, so a sequence cut in two would hash
 * as U+FFFDs), final (which does not change 'm', so a state can be copied
 * and finished many times). */
void hf_flagdhash_init(struct hf_flagdhash *m);
void hf_flagdhash_update(struct hf_flagdhash *m, const char *s, size_t len);
uint32_t hf_flagdhash_final(const struct hf_flagdhash *m);

#endif
