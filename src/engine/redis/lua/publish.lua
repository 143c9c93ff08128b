-- Publish a flag document as the next version, only if the current one is
-- the version the caller read (compare-and-set): two writers that read the
-- same version cannot both win, and neither overwrites the other's
-- document unseen. Runs on the primary owning the flag keys' slot.
--
-- KEYS[1]  the document hash (version, doc, published_ms, run)
-- KEYS[2]  the versions hash (version -> published_ms), for the delays of
--          clients still on an older version
-- ARGV[1]  the version the caller expects to be current (0: none yet)
-- ARGV[2]  the document, canonical JSON
-- ARGV[3]  the run that publishes it ("" for none)
-- ARGV[4]  the channel to announce the version on
--
-- Returns {version, published_ms}, or the error "STALE <current>".
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) then
  return redis.error_reply('STALE ' .. cur)
end
-- The server's clock, so that every publisher stamps versions alike.
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = cur + 1
redis.call('HSET', KEYS[1], 'version', v, 'doc', ARGV[2], 'published_ms', ms, 'run', ARGV[3])
redis.call('HSET', KEYS[2], v, ms)
-- Redis Cluster forwards a PUBLISH to every node, so a client may
-- subscribe wherever it likes.
redis.call('PUBLISH', ARGV[4], v .. ' ' .. ms)
return {v, ms}
