-- ARGV pairs of a key and "L" where its record's digests take the
-- previous release's form (hf_data_digests_legacy) or "N": the keys'
-- digests now, in that form.
local out = {}
for i = 1, #ARGV / 2 do out[i] = digest(ARGV[2 * i - 1], nil, ARGV[2 * i] == 'L') end
return out
