-- Renew the lease, only for the holder of its fencing token: the check
-- and the new expiry are one step on the server. A lease that expired
-- while nobody took another token is taken back (the counter still
-- stands at this token, so nothing was fenced in between).
--
-- Renewing writes nothing but the expiry (PEXPIRE is allowed when the
-- node is out of memory, which a hotfix under rollback may have caused;
-- HSET is not): the expiry is the key's TTL, read with PTTL.
--
-- KEYS[1]  the lease hash, KEYS[2] the token counter
-- ARGV[1]  the caller's token
-- ARGV[2]  time to live, ms
-- ARGV[3]  the run it drives now ("" leaves it)
-- ARGV[4]  the holder, for a lease taken back
--
-- Returns {1, token}, or {0, holder, run, token, pttl_ms, since_ms} of
-- whoever holds it now (holder "" when nobody does: it expired and a
-- newer token was drawn since).
local cur = redis.call('HMGET', KEYS[1], 'holder', 'run', 'token', 'since_ms')
if not cur[1] and redis.call('GET', KEYS[2]) == ARGV[1] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'holder', ARGV[4], 'run', ARGV[3], 'token', ARGV[1],
             'since_ms', now)
  cur = {ARGV[4], ARGV[3], ARGV[1], now}
end
if cur[3] ~= ARGV[1] then
  return {0, cur[1] or '', cur[2] or '', cur[3] or '0', redis.call('PTTL', KEYS[1]), cur[4] or '0'}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' and cur[2] ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'run', ARGV[3])
end
return {1, tonumber(ARGV[1])}
