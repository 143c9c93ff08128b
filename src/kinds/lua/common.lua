-- Shared by the data kind's scripts (src/kinds/data.c puts it first in
-- each): a key's digest, of its type, PEXPIRETIME and contents.
-- Strings, streams and compact encodings (listpack, intset) dump their
-- contents in order, and DUMP ends with a CRC-64 of its payload: the digest
-- is that CRC, the type and the expiry ("<crc>.<type>.<expiry>", computed
-- by Redis anyway; a second hash of the payload cost as much as the DUMP).
-- A set, hash or sorted set in hash table encoding, and a list, dump their
-- elements in table or node order, which a RESTORE of the same payload
-- need not reproduce: their digest is the SHA-1 of a canonical form. No
-- digest has a ':', which separates a record's parts.
local function canon(k, t)
  local a, parts = nil, {}
  if t == 'hash' then
    a = redis.call('HGETALL', k)
    local f = {}
    for i = 1, #a, 2 do f[#f + 1] = {a[i], a[i + 1]} end
    table.sort(f, function(x, y) return x[1] < y[1] end)
    for _, p in ipairs(f) do
      parts[#parts + 1] = #p[1] .. ':' .. p[1] .. #p[2] .. ':' .. p[2]
    end
    return table.concat(parts)
  elseif t == 'set' then
    a = redis.call('SMEMBERS', k)
    table.sort(a)
  elseif t == 'zset' then
    a = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'list' then
    a = redis.call('LRANGE', k, 0, -1)
  else
    return nil
  end
  for _, m in ipairs(a) do parts[#parts + 1] = #m .. ':' .. m end
  return table.concat(parts)
end
-- DUMP's first byte is the RDB object type, which names both the type
-- and the encoding; DUMP is canonical for strings, streams and compact
-- encodings (listpack, intset), and 'canon' is used for the others.
local rdb = {[0] = {'string'}, [16] = {'hash'}, [11] = {'set'}, [20] = {'set'},
  [17] = {'zset'}, [15] = {'stream'}, [19] = {'stream'}, [21] = {'stream'},
  [4] = {'hash', true}, [2] = {'set', true}, [3] = {'zset', true},
  [5] = {'zset', true}, [1] = {'list', true}, [10] = {'list', true},
  [14] = {'list', true}, [18] = {'list', true}}
-- The digest, the DUMP payload and PEXPIRETIME of key k ('e' when the
-- caller knows it).
-- 'legacy': a SHA-1 for every value, as hotfix computed digests before
-- the CRC (a rollback of a run it journaled compares like with like).
local function digest(k, e, legacy)
  local d = redis.call('DUMP', k)
  if not d then return 'absent', false, -1 end
  local r, c = rdb[string.byte(d, 1)], nil
  local t = r and r[1] or redis.call('TYPE', k)['ok']
  if r and r[2] then c = canon(k, t) end
  e = e or redis.call('PEXPIRETIME', k)
  if c or not r or legacy then
    return redis.sha1hex(string.format('%s:%d:', t, e) .. (c or d)), d, e
  end
  -- the payload ends with its own CRC-64: the digest of the contents
  local c1, c2, c3, c4, c5, c6, c7, c8 = string.byte(d, -8, -1)
  return string.format('%02x%02x%02x%02x%02x%02x%02x%02x.%s.%d', c1, c2, c3, c4,
                       c5, c6, c7, c8, t, e), d, e
end
