-- Restore a batch of keys from their records, each only where the key
-- still digests to what the hotfix left (or is already back).
--
-- ARGV[1] "1" to force; then pairs: a key and its record "<expire>:
-- <before>:<after>:<dump>". Returns per key "same", "restored", "forced",
-- "expired" or "conflict:<digest now>".
local force = ARGV[1] == '1'
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out = {}
for i = 1, (#ARGV - 1) / 2 do
  local k, rec = ARGV[2 * i], ARGV[2 * i + 1]
  local c1 = string.find(rec, ':', 1, true)
  local c2 = string.find(rec, ':', c1 + 1, true)
  local c3 = string.find(rec, ':', c2 + 1, true)
  local e = tonumber(string.sub(rec, 1, c1 - 1))
  local bd = string.sub(rec, c1 + 1, c2 - 1)
  local ad = string.sub(rec, c2 + 1, c3 - 1)
  local d = string.sub(rec, c3 + 1)
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
