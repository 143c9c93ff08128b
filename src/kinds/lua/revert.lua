-- Restore a batch of keys from their records, each only where the key's
-- part the hotfix wrote is still as the hotfix left it (or already back).
--
-- ARGV[1] "1" to force, "check" to look only (verify: nothing is written);
-- ARGV[2] the change as JSON (a narrow record's after-state is the
-- change applied to its before-values); then pairs: a key and its record
-- (codec.lua). Returns per key "same", "restored", "merged" (restored,
-- while a client changed other fields of the hash since: kept), "forced",
-- "expired" or "conflict:<what was found>". A record that does not read
-- fails the batch; the keys restored before it answer "same" when it is
-- sent again.
-- KEYS[1], when given, is the node's fence key (fence.lua).
local check = ARGV[1] == 'check'
if not check then
  local fenced = fence(KEYS[1])
  if fenced then
    return fenced
  end
end
local force = ARGV[1] == '1'
local spec = cjson.decode(ARGV[2])
local now = redis.call('TIME')
local nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)

-- A value for a conflict's explanation.
local function show(v)
  if not v then return 'absent' end
  if #v > 40 then v = string.sub(v, 1, 40) .. '...' end
  return "'" .. v .. "'"
end

-- The hash fields as the change left them, from their before-values: the
-- change applied again, in apply.lua's order.
local function fields_after(before)
  local a = {}
  for _, p in ipairs(before) do a[p[1]] = p[2] end
  if spec.rename and a[spec.rename[1]] then
    a[spec.rename[2]] = a[spec.rename[1]]
    a[spec.rename[1]] = false
  end
  for i = 1, #(spec.set or {}), 2 do a[spec.set[i]] = spec.set[i + 1] end
  for _, f in ipairs(spec.unset or {}) do a[f] = false end
  return a
end

-- Is the touched part of key k (of type t) as the hotfix left it, as it
-- was before? And if it is neither, what is there.
local function compare(k, t, kind, before, e, aexp)
  local want = ({h = 'hash', s = 'string'})[kind]
  if t == 'none' then return false, false, 'the key is gone' end
  if want and t ~= want then return false, false, 'the key is a ' .. t .. ' now' end
  local at_after, at_before, why = true, true, nil
  if kind == 'h' then
    local names = {}
    for i, p in ipairs(before) do names[i] = p[1] end
    local cur, after = redis.call('HMGET', k, unpack(names)), fields_after(before)
    for i, p in ipairs(before) do
      if cur[i] ~= after[p[1]] then
        at_after = false
        why = why or string.format("field '%s' is %s where the hotfix left %s", p[1],
                                   show(cur[i]), show(after[p[1]]))
      end
      if cur[i] ~= p[2] then at_before = false end
    end
  elseif kind == 's' then
    local cur = redis.call('GET', k)
    if cur ~= spec.value then
      at_after = false
      why = 'the value is ' .. show(cur) .. ' where the hotfix left ' .. show(spec.value)
    end
    if cur ~= before then at_before = false end
  end
  if aexp then
    local cur = redis.call('PEXPIRETIME', k)
    if cur ~= aexp then
      at_after = false
      why = why or string.format('the expiry is %d where the hotfix left %d', cur, aexp)
    end
    if cur ~= e then at_before = false end
  end
  return at_after, at_before, why
end

-- Put the touched part of key k (of type t now) back to 'before'.
local function restore(k, t, kind, before, e, aexp)
  if kind == 'h' then
    if t ~= 'hash' and t ~= 'none' then redis.call('DEL', k) end
    local set, del = {}, {}
    for _, p in ipairs(before) do
      if p[2] then
        set[#set + 1] = p[1]
        set[#set + 1] = p[2]
      else
        del[#del + 1] = p[1]
      end
    end
    if #del > 0 and t == 'hash' then redis.call('HDEL', k, unpack(del)) end
    if #set > 0 then redis.call('HSET', k, unpack(set)) end
  elseif kind == 's' then
    redis.call('SET', k, before, 'KEEPTTL')
  end
  -- the expiry the change set, or of a key made again (forced)
  if (aexp or t == 'none') and redis.call('EXISTS', k) == 1 then
    if e == -1 then
      redis.call('PERSIST', k)
    else
      redis.call('PEXPIREAT', k, e)
    end
  end
end

-- A narrow record (codec.lua, version 3): only the touched part is
-- compared and restored, so a client's writes to the rest of the key are
-- kept.
local function revert_narrow(k, e, kind, ad, d)
  local aexp, ahlen = string.match(ad, '^([%-%d]+),([%-%d]+)$')
  local before = kind == 'h' and decode_fields(d) or d
  if not aexp or not before then return nil end
  aexp = aexp ~= '-' and tonumber(aexp) or nil
  local t = redis.call('TYPE', k)['ok']
  local at_after, at_before, why = compare(k, t, kind, before, e, aexp)
  local expired = e ~= -1 and e <= nowms
  if at_before then return 'same' end
  if expired and t == 'none' then return 'expired' end
  if not at_after and not force then return 'conflict:' .. why end
  if check then return 'conflict:' .. (why or 'as the hotfix left it') end
  if expired then
    redis.call('DEL', k)
    return 'expired'
  end
  local merged = at_after and kind == 'h' and ahlen ~= '-' and
                 redis.call('HLEN', k) ~= tonumber(ahlen)
  restore(k, t, kind, before, e, aexp)
  if not at_after then return 'forced' end
  return merged and 'merged' or 'restored'
end

local out = {}
for i = 1, (#ARGV - 2) / 2 do
  local k, rec = ARGV[2 * i + 1], ARGV[2 * i + 2]
  local e, bd, ad, d = decode_record(rec)
  if not e then return redis.error_reply('unreadable record of key ' .. i) end
  if string.sub(bd, 1, 1) == '=' then
    out[i] = revert_narrow(k, e, string.sub(bd, 2), ad, d)
    if not out[i] then return redis.error_reply('unreadable record of key ' .. i) end
  else
    local cd = digest(k, nil, legacy(bd, ad))
    local expired = e ~= -1 and e <= nowms
    if cd == bd then
      out[i] = 'same'
    elseif expired and cd == 'absent' then
      out[i] = 'expired'
    elseif check then
      out[i] = 'conflict:' .. cd
    elseif cd == ad or force then
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
end
return out
