#!lua flags=allow-oom
-- Give the lease up, only for the holder of its fencing token.
--
-- KEYS[1]  the lease hash
-- ARGV[1]  the caller's token
--
-- Returns 1 when released, 0 when the lease was not (or no longer) the
-- caller's.
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
