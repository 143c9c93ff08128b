-- Fencing (issue 13): a script that changes keys runs only for the
-- newest lease holder this node has seen. FENCE_TOKEN (set in the line
-- before this file) is the driver's fencing token, 0 for none; the node
-- keeps the highest token it was sent in 'key' (hotfix:fence:{tag}, a
-- slot it serves). An older token is refused before any key is touched,
-- so a driver that lost its lease cannot change data after its successor
-- started; the check and the change are one atomic script.
local function fence(key)
  if FENCE_TOKEN == 0 or not key then
    return nil
  end
  local seen = tonumber(redis.call('GET', key) or '0')
  if FENCE_TOKEN < seen then
    return redis.error_reply('FENCED lease token ' .. FENCE_TOKEN ..
                             ' is older than ' .. seen .. ' seen by this node')
  end
  if FENCE_TOKEN > seen then
    redis.call('SET', key, FENCE_TOKEN)
  end
  return nil
end
