/* Redis Cluster's hash slot of a key (keyslot.c). */
#ifndef HF_UTIL_KEYSLOT_H
#define HF_UTIL_KEYSLOT_H

#include <stddef.h>

#define HF_NSLOTS 16384

/* Redis Cluster's hash slot of a key: CRC16 (XMODEM) of its hash tag (the
 * bytes between the first '{' and the first '}' after it, when there are
 * any), or of the whole key, modulo 16384. */
unsigned hf_key_slot(const char *key, size_t len);

#endif
