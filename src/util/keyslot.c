/* Redis Cluster's key hashing, shared by the load generator, the data kind,
 * the flag store and the flag evaluator's 'slot' operator (which is why it
 * lives in util/, not in the engine: src/flags/ does not depend on it).
 * Pure: no connection, no allocation. */
#include <stdint.h>
#include <string.h>

#include "util/keyslot.h"


/* CRC16-CCITT as XMODEM computes it (polynomial 0x1021, initial value 0,
 * no reflection): the variant Redis Cluster hashes keys with. The table is
 * built on first use from the polynomial; two threads building it at once
 * write the same bytes, and the 'ready' flag is published after them. */
static uint16_t crc_table[256];
static _Atomic int crc_ready;

static uint16_t crc16(const char *s, size_t len)
{
	uint16_t crc = 0;
	size_t i;

	if (!crc_ready) {
		for (i = 0; i < 256; i++) {
			uint16_t c = (uint16_t)(i << 8);
			int b;

			for (b = 0; b < 8; b++)
				c = (uint16_t)(c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
			crc_table[i] = c;
		}
		crc_ready = 1;
	}
	for (i = 0; i < len; i++)
		crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ (uint8_t)s[i]) & 0xff]);
	return crc;
}

unsigned hf_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;

	/* Only a non-empty {tag} counts, and only the first '{' opens one. */
	if (open) {
		size_t rest = len - (size_t)(open - key) - 1;

		close = memchr(open + 1, '}', rest);
		if (close && close > open + 1)
			return crc16(open + 1, (size_t)(close - open - 1)) & (HF_NSLOTS - 1);
	}
	return crc16(key, len) & (HF_NSLOTS - 1);
}
