-- Apply a data change to a batch of keys, each in one atomic step: check
-- the filter, take the before-image (DUMP, PEXPIRETIME), change the key,
-- digest the result.
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
    if not ok then
      out[#out + 1] = ''
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
