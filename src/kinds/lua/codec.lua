-- The records and stash fields the scripts write, in the format that
-- src/kinds/data_codec.c reads (src/kinds/data_codec.h describes it):
--
--   record       '@2:<expire>:<before>:<after>:<dump>'       whole image
--                '@3:<expire>:=<kind>:<after>:<touched>'     narrow
--   stash field  '@2:' then '<len>:<key><len>:<record>' per key
--
-- A narrow record keeps what the change touched: <kind> 'h' hash fields,
-- 's' a string's value, 'e' the expiry alone; <expire> the key's expiry
-- before; <after> '<expiry after>,<fields after>', each '-' when the
-- change did not set it; <touched> per hash field '<len>:<field>' then
-- '<len>:<value>' or '-' (absent), or a string's old value.
--
-- The previous release wrote both untagged: a record 'R<expire>:...', a
-- stash field of entries alone, or one key's record in a field named
-- after the key. They are read, and their records written again tagged;
-- a tag not known here is refused, never guessed at. Keys and dumps are
-- binary: only numbers go through string.format. A digest never has a
-- ':', and one of the current form has a '.' ('<crc>.<type>.<expiry>').
local TAG = '@2:'
local TAG3 = '@3:'

local function encode_narrow(kind, e, ae, hlen, before)
  local parts = {TAG3, string.format('%d:=%s:%s,%s:', e, kind, ae and string.format('%d', ae) or '-',
                                     hlen and string.format('%d', hlen) or '-')}
  if kind == 'h' then
    for _, p in ipairs(before) do
      parts[#parts + 1] = string.format('%d:', #p[1])
      parts[#parts + 1] = p[1]
      if p[2] then
        parts[#parts + 1] = string.format('%d:', #p[2])
        parts[#parts + 1] = p[2]
      else
        parts[#parts + 1] = '-'
      end
    end
  elseif kind == 's' then
    parts[#parts + 1] = before
  end
  return table.concat(parts)
end

local function encode_record(e, bd, ad, d)
  return TAG .. string.format('%d:%s:%s:', e, bd, ad) .. d
end

-- Digests without a '.' on both sides (SHA-1 or 'absent') may come from
-- the previous release, which took a SHA-1 of every value; a canonical
-- form's digest is the same either way.
local function legacy(bd, ad)
  return not string.find(bd, '.', 1, true) and not string.find(ad, '.', 1, true)
end

-- A record of the previous release, tagged: the rest is the same.
local function retag(rec)
  if string.sub(rec, 1, 1) == 'R' then return TAG .. string.sub(rec, 2) end
  return rec
end

-- The expiry, both digests and the dump of a record; nil when 'rec' is
-- not one.
local function decode_record(rec)
  rec = retag(rec)
  local tag = string.sub(rec, 1, #TAG)
  if tag ~= TAG and tag ~= TAG3 then return nil end
  local p = #TAG + 1
  local c1 = string.find(rec, ':', p, true)
  local c2 = c1 and string.find(rec, ':', c1 + 1, true)
  local c3 = c2 and string.find(rec, ':', c2 + 1, true)
  if not c3 or c2 == c1 + 1 or c3 == c2 + 1 then return nil end
  local e = string.sub(rec, p, c1 - 1)
  if not string.find(e, '^%-?%d+$') then return nil end
  return tonumber(e), string.sub(rec, c1 + 1, c2 - 1), string.sub(rec, c2 + 1, c3 - 1),
         string.sub(rec, c3 + 1)
end

-- A narrow record's hash fields ('touched'): a list of {field, value or
-- false}; nil when they do not read.
local function decode_fields(d)
  local out, p = {}, 1
  while p <= #d do
    local c = string.find(d, ':', p, true)
    local n = c and tonumber(string.sub(d, p, c - 1))
    if not n then return nil end
    local f = string.sub(d, c + 1, c + n)
    p = c + n + 1
    if string.sub(d, p, p) == '-' then
      out[#out + 1] = {f, false}
      p = p + 1
    else
      c = string.find(d, ':', p, true)
      n = c and tonumber(string.sub(d, p, c - 1))
      if not n then return nil end
      out[#out + 1] = {f, string.sub(d, c + 1, c + n)}
      p = c + n + 1
    end
  end
  return out
end

-- Add key k's record to a stash field being built in table 'parts'.
local function stash_add(parts, k, rec)
  if #parts == 0 then parts[1] = TAG end
  parts[#parts + 1] = string.format('%d:', #k)
  parts[#parts + 1] = k
  parts[#parts + 1] = string.format('%d:', #rec)
  parts[#parts + 1] = rec
end

-- A decimal length from p up to a ':' in v: the length and the position
-- after the ':', or nil.
local function stash_len(v, p)
  local c = string.find(v, ':', p, true)
  local n = c and string.sub(v, p, c - 1)
  if not n or not string.find(n, '^%d+$') then return nil end
  n = tonumber(n)
  if c + n > #v then return nil end
  return n, c + 1
end

-- The entries of the stash field 'name' whose value is 'v', into 'into'
-- as key -> {record (tagged), name}; false when 'v' cannot be read.
local function stash_read(name, v, into)
  local p = 1
  if string.sub(v, 1, 1) == 'R' then
    into[name] = {retag(v), name}
    return true
  elseif string.sub(v, 1, #TAG) == TAG then
    p = #TAG + 1
  elseif string.sub(v, 1, 1) == '@' then
    return false
  end
  while p <= #v do
    local kl, rl, k
    kl, p = stash_len(v, p)
    if not kl then return false end
    k = string.sub(v, p, p + kl - 1)
    rl, p = stash_len(v, p + kl)
    if not rl then return false end
    into[k] = {retag(string.sub(v, p, p + rl - 1)), name}
    p = p + rl
  end
  return true
end
