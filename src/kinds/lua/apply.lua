-- Apply a data change to a batch of keys, each in one atomic step: check
-- the filter, keep what the change is about to overwrite, change the key.
-- For the changes whose touched part is known (hash fields of set, unset
-- and rename; a string's value; the expiry) that is a narrow record: the
-- touched fields' or the string's before-values and the expiry (codec.lua,
-- version 3). 'delete', 'lua', and a hash the change could empty keep the
-- whole before-image (DUMP, PEXPIRETIME) and a digest of the result.
--
-- Redis Cluster routes a script by its declared keys, which must share a
-- slot; so the keys a script works on are passed in ARGV (the node serves
-- their slots: they come from its own SCAN), and only the stash, whose
-- slot the node serves, is declared.
--
-- KEYS[1] is the stash, KEYS[2] the fence key (fence.lua); ARGV[1] the change as JSON, ARGV[2] the batch's
-- field in the stash, ARGV[3..] the keys. Returns per key "" (not
-- selected), its record (codec.lua) or, for a transform that failed,
-- "E<message>" (the key is put back and nothing after it is touched).
-- The batch's records go to the stash as one field, so that keeping them
-- costs one write per batch, not one per key.
local spec = cjson.decode(ARGV[1])
local stash, field = KEYS[1], ARGV[2]
-- KEYS[2], when given, is the node's fence key (fence.lua).
local fenced = fence(KEYS[2])
if fenced then
  return fenced
end
local out, blob = {}, {}
-- Resumed: the records of a batch that ran but whose answer was lost
-- wait in the stash (see codec.lua).
local prev = nil
if spec.resumed then
  prev = {}
  local all = redis.call('HGETALL', stash)
  for i = 1, #all, 2 do
    if not stash_read(all[i], all[i + 1], prev) then
      return redis.error_reply('unreadable stash field in ' .. stash)
    end
  end
end
local used = {}
local function record(k, rec)
  stash_add(blob, k, rec)
  out[#out + 1] = rec
end
-- The fields answered from now hold records of this batch only: they
-- go, unless the batch stops at a failed transform before answering
-- them all (the rest of their records stay for the journal).
local function finish(complete)
  if complete then
    for f in pairs(used) do redis.call('HDEL', stash, f) end
  end
  if #blob > 0 then redis.call('HSET', stash, field, table.concat(blob)) end
  return out
end
local pure = spec.set or spec.unset or spec.rename or spec.value
-- The hash fields the change touches, each once, in the order it touches
-- them (rename's two, set's, unset's).
local touched, seen = {}, {}
local function touch(f)
  if not seen[f] then seen[f] = true; touched[#touched + 1] = f end
end
if spec.rename then touch(spec.rename[1]); touch(spec.rename[2]) end
for i = 1, #(spec.set or {}), 2 do touch(spec.set[i]) end
for _, f in ipairs(spec.unset or {}) do touch(f) end
local removes = #(spec.unset or {}) + (spec.rename and 1 or 0)
-- The narrow record's kind for key k: 'h' hash fields, 's' a string's
-- value, 'e' the expiry alone; nil for a whole before-image (a hash the
-- change could empty would be gone, and its expiry with it).
local function narrow_kind(k)
  if spec.delete or spec.lua then return nil end
  if spec.value ~= nil then return 's' end
  if #touched > 0 then
    if removes > 0 and redis.call('HLEN', k) <= removes then return nil end
    return 'h'
  end
  return 'e'
end
-- The structured operations on key k, in this order (the revert script
-- replays them on a narrow record's before-values).
local function operate(k)
  if spec.value ~= nil then redis.call('SET', k, spec.value, 'KEEPTTL') end
  if spec.rename ~= nil then
    local v = redis.call('HGET', k, spec.rename[1])
    if v then
      redis.call('HSET', k, spec.rename[2], v)
      redis.call('HDEL', k, spec.rename[1])
    end
  end
  if spec.set ~= nil then redis.call('HSET', k, unpack(spec.set)) end
  if spec.unset ~= nil then redis.call('HDEL', k, unpack(spec.unset)) end
  if spec.ttl ~= nil then redis.call('PEXPIRE', k, spec.ttl) end
  if spec.persist then redis.call('PERSIST', k) end
end
-- Change key k, whose narrow record is of kind 'kind', and return the
-- record.
local function apply_narrow(k, kind)
  local e = redis.call('PEXPIRETIME', k)
  local before = {}
  if kind == 'h' then
    local v = redis.call('HMGET', k, unpack(touched))
    for i, f in ipairs(touched) do before[#before + 1] = {f, v[i]} end
  elseif kind == 's' then
    before = redis.call('GET', k)
  end
  operate(k)
  local ae = nil
  if spec.ttl ~= nil then
    ae = redis.call('PEXPIRETIME', k)
  elseif spec.persist then
    ae = -1
  end
  return encode_narrow(kind, e, ae, kind == 'h' and redis.call('HLEN', k) or nil, before)
end
for i = 3, #ARGV do
  local k = ARGV[i]
  local p = prev and prev[k]
  if p then
    used[p[2]] = true
    record(k, p[1])
  else
    local ok
    if spec.where ~= nil then
      -- a key of another type answers an error, which equals no
      -- string: a match is a hash (HGET) or a string (GET), the
      -- type the manifest implies with 'where'
      if spec.where_field ~= nil then
        ok = redis.pcall('HGET', k, spec.where_field) == spec.where
      else
        ok = redis.pcall('GET', k) == spec.where
      end
    else
      local t = redis.call('TYPE', k)['ok']
      ok = t ~= 'none' and (spec.type == nil or spec.type == t)
    end
    local kind = ok and narrow_kind(k)
    if not ok then
      out[#out + 1] = ''
    elseif kind then
      record(k, apply_narrow(k, kind))
    else
      local bd, d, e = digest(k)
      local err = nil
      if spec.delete then
        redis.call('DEL', k)
      elseif spec.lua then
        local good, msg = pcall(transform, k)
        if not good then
          if type(msg) == 'table' then msg = msg.err or msg.ok end
          err = tostring(msg)
        end
      else
        operate(k)
      end
      if err then
        redis.call('DEL', k)
        redis.call('RESTORE', k, e > 0 and e or 0, d, 'ABSTTL')
        out[#out + 1] = 'E' .. err
        return finish(false)
      end
      -- field changes keep the expiry: no need to ask for it again
      local ad = digest(k, pure and not spec.ttl and not spec.persist and e or nil)
      record(k, encode_record(e, bd, ad, d))
    end
  end
end
return finish(true)
