-- Restore a batch of keys from their records, each only where the key
-- still digests to what the hotfix left (or is already back).
--
-- ARGV[1] "1" to force; then pairs: a key and its record (codec.lua).
-- Returns per key "same", "restored", "forced", "expired" or
-- "conflict:<digest now>". A record that does not read fails the batch;
-- the keys restored before it answer "same" when it is sent again.
-- KEYS[1], when given, is the node's fence key (fence.lua).
local fenced = fence(KEYS[1])
if fenced then
  return fenced
end
local force = ARGV[1] == '1'
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out = {}
for i = 1, (#ARGV - 1) / 2 do
  local k, rec = ARGV[2 * i], ARGV[2 * i + 1]
  local e, bd, ad, d = decode_record(rec)
  if not e then return redis.error_reply('unreadable record of key ' .. i) end
  local cd = digest(k, nil, legacy(bd, ad))
  local expired = e ~= -1 and e <= nowms
  if cd == bd then
    out[i] = 'same'
  elseif cd == ad or force or (expired and cd == 'absent') then
    redis.call('DEL', k)
    if expired then
      out[i] = 'expired'
    else
      redis.call('RESTORE', k, e == -1 and 0 or e, d, 'ABSTTL')
      out[i] = cd == ad and 'restored' or 'forced'
    end
  else
    out[i] = 'conflict:' .. cd
  end
end
return out
