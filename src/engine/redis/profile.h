/* Reading a workload profile of 'hotfix stage' (D/profile.json, formats
 * hotfix-profile/1 and /2) into the load generator's options and command
 * mix (profile.c). Writing one is src/cmd/stage.c's. */
#ifndef HF_ENGINE_REDIS_PROFILE_H
#define HF_ENGINE_REDIS_PROFILE_H

#include <stddef.h>

#include "engine/redis/load.h"
#include "util/err.h"

/* Keys a profile's key count may ask for, at most. */
#define HF_PROFILE_MAX_KEYS 10000000L

/* DUMP's framing around a value: its type byte, RDB version and CRC64. */
#define HF_DUMP_FRAMING 11

/* Read the profile in the file 'path' into 'o' and 'mix'.
 *
 * Both formats set 'o->rate' (the profile's rate, when at least 1/s: for
 * /2 its data_rate), 'o->read_ratio', 'o->value_size' and 'o->keys'
 * (source_total, at most HF_PROFILE_MAX_KEYS). A /2 file also fills 'mix'
 * (its "mix" folded into the generator's ops, key and value sizes, type
 * shares); a /1 file leaves it empty. 'o->mix' is not set: the caller
 * points it at 'mix' when hf_load_mix_effective() finds shares in it.
 *
 * Returns 0, or HF_EINVAL with 'err' saying "PATH: what is wrong"; 'mix'
 * is then empty. Caller releases 'mix' with hf_load_mix_release(). */
int hf_profile_read(const char *path, struct hf_load_opts *o, struct hf_load_mix *mix,
		    struct hf_err *err);

/* The same from 'len' bytes at 'text', named 'path' in errors. */
int hf_profile_parse(const char *text, size_t len, const char *path, struct hf_load_opts *o,
		     struct hf_load_mix *mix, struct hf_err *err);

#endif
