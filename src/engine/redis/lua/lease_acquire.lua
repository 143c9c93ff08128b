#!lua flags=allow-oom
-- Take the cluster's lease for one driving process of hotfix, or say who
-- holds it. A lease that expired is gone (PEXPIRE), so it is simply taken.
-- Every acquisition draws a new fencing token from a counter that only
-- grows, so a driver that lost its lease holds a token that is stale for
-- ever. Runs on the primary owning the {hotfix} slot.
--
-- KEYS[1]  the lease hash (holder, run, token, since_ms); its TTL is the
--          lease's
-- KEYS[2]  the token counter
-- ARGV[1]  the holder: "user@host pid N"
-- ARGV[2]  the run it drives ("" when not created yet)
-- ARGV[3]  time to live, ms
-- ARGV[4]  a holder whose lease may be taken over ("" for none): the
--          caller saw it dead (a resume after its driver was killed on
--          this host); taken only if it is still that holder's, and the
--          old token is fenced off by the new one
--
-- Returns {1, token} when taken, or {0, holder, run, token, pttl_ms,
-- since_ms} of the lease held by another.
local cur = redis.call('HMGET', KEYS[1], 'holder', 'run', 'token', 'since_ms')
if cur[1] and (ARGV[4] == '' or cur[1] ~= ARGV[4]) then
  return {0, cur[1], cur[2] or '', cur[3] or '0', redis.call('PTTL', KEYS[1]), cur[4] or '0'}
end
local token = redis.call('INCR', KEYS[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'run', ARGV[2], 'token', token,
           'since_ms', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, token}
