/* Engine-private declarations shared by the files of src/engine/redis/. */
#ifndef HF_ENGINE_REDIS_INTERNAL_H
#define HF_ENGINE_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>

#include "engine/redis/redis.h"

struct hf_reply *hf_reply_from_hiredis(const redisReply *rr);
/* Connect and authenticate; NULL with 'err' filled on failure. */
redisContext *hf_redis_connect(const char *host, int port, const char *user,
			       const char *password, long timeout_ms, struct hf_err *err);

#endif
