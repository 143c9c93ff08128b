-- ARGV pairs of a key and "L" for a legacy digest (see legacy()) or "N":
-- their digests now.
local out = {}
for i = 1, #ARGV / 2 do out[i] = digest(ARGV[2 * i - 1], nil, ARGV[2 * i] == 'L') end
return out
