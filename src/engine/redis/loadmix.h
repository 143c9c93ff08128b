/* The load generator's command mix (loadmix.c): the ops a profile is
 * replayed with, how a profile's command becomes one, size draws, and each
 * op's command in RESP. Internal to the engine: load.c uses it. */
#ifndef HF_ENGINE_REDIS_LOADMIX_H
#define HF_ENGINE_REDIS_LOADMIX_H

#include <stddef.h>
#include <stdint.h>

#include "engine/redis/load.h"

/* The arguments an op's command takes after its key. */
enum hf_load_shape {
	HF_SH_K,    /* CMD key */
	HF_SH_KV,   /* CMD key value */
	HF_SH_KTV,  /* CMD key ttl value (SETEX) */
	HF_SH_KT,   /* CMD key ttl (EXPIRE) */
	HF_SH_KF,   /* CMD key field */
	HF_SH_KFV,  /* CMD key field value */
	HF_SH_KFN,  /* CMD key counter-field 1 (HINCRBY) */
	HF_SH_KM,   /* CMD key member */
	HF_SH_KSM,  /* CMD key score member (ZADD) */
	HF_SH_KNM,  /* CMD key 1 member (ZINCRBY) */
	HF_SH_KR,   /* CMD key 0 count-1 (LRANGE, ZRANGE) */
};

/* The key space of an op: its family's, or the counters' for INCR. */
#define HF_LOAD_COUNTERS HF_LOAD_NFAMS
#define HF_LOAD_NSPACES (HF_LOAD_NFAMS + 1)

struct hf_load_opdef {
	const char *name;   /* lower case; upper case on the wire */
	uint8_t space;      /* HF_FAM_... or HF_LOAD_COUNTERS */
	uint8_t write;      /* 1: changes its key */
	uint8_t shape;      /* enum hf_load_shape */
};

extern const struct hf_load_opdef hf_load_opdefs[HF_LOAD_NOPS];

/* The key spaces' tags in key names: "" (strings), "h:", "l:", "s:", "z:",
 * "n:" (counters). */
extern const char *const hf_load_space_tags[HF_LOAD_NSPACES];

/* The value of 'd' at cumulative share 'u' (0..1), or 'dflt' when 'd' has
 * no points. */
double hf_load_dist_at(const struct hf_load_dist *d, double u, double dflt);

/* What one op's command needs besides its name: the key, the field or
 * member index, the range's count and the value's (or member's) length,
 * drawn from 'filler' (at least 'vlen' bytes). */
struct hf_load_oparg {
	const char *key;
	size_t klen;
	unsigned long idx;
	unsigned long count;
	size_t vlen;
	const char *filler;
};

/* The RESP of op 'op' with 'a' into 'b', which has room for the key, the
 * value and 128 bytes more. Returns its length. */
size_t hf_load_op_format(char *b, int op, const struct hf_load_oparg *a);

#endif
