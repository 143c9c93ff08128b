-- Which keys a change selects, for the plan (read-only: it may run on a
-- replica too). ARGV[1] the change as JSON, ARGV[2..] the keys: 1 where a
-- key is selected.
local spec = cjson.decode(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local k = ARGV[i]
  local t = redis.call('TYPE', k)['ok']
  local ok = t ~= 'none' and (spec.type == nil or spec.type == t)
  if ok and spec.where ~= nil then
    if spec.where_field ~= nil then
      ok = redis.call('HGET', k, spec.where_field) == spec.where
    else
      ok = redis.call('GET', k) == spec.where
    end
  end
  out[i - 1] = ok and 1 or 0
end
return out
