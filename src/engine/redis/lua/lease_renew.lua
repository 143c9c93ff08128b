#!lua flags=allow-oom
-- Renew the lease, only for the holder of its fencing token: the check
-- and the new expiry are one step on the server. A lease that expired
-- while nobody took another token is taken back (the counter still
-- stands at this token, so nothing was fenced in between); so is one
-- whose counter is gone too: a node at its maxmemory with an allkeys-*
-- policy (what a bad maxmemory hotfix under rollback may have caused)
-- evicts both, and any acquisition since would have drawn a new counter.
-- The script may write when the node is out of memory (allow-oom): the
-- driver must keep its lease to roll back.
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
local counter = redis.call('GET', KEYS[2])
if not cur[1] and (counter == ARGV[1] or not counter) then
  if not counter then
    redis.call('SET', KEYS[2], ARGV[1])
  end
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
