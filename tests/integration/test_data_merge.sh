#!/usr/bin/env bash
# Narrow undo records and the three-way-merge rollback (issue 16): a data
# change that sets, unsets or renames hash fields, sets a string's value or
# an expiry keeps only what it touched. Its rollback restores the touched
# part where it is still as the hotfix left it, keeping a client's later
# writes to the rest of the key (merged, exit 0); a client's write to the
# touched part, a deleted or retyped key is a conflict, kept and named
# (exit 4); records of the previous release (whole images) still roll
# back exactly.
. "$(dirname "$0")/lib.sh"

rc_() { redis-cli -c -h 127.0.0.1 -p "$BASE" "$@"; }
N=60

manifest() {   # manifest FILE NAME CHANGE-FLOW
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: test@example.com, problem: legacy plans}
spec:
  changes:
    - data: $3
  rollout:
    waves:
      - keys: 100%
  guard: none
YAML
}
# state: every key's DEBUG DIGEST-VALUE (the value, whatever its encoding)
# and PEXPIRETIME.
state() {
	local i k
	for i in $(seq 1 $N); do
		for k in "u:$i" "s:$i"; do
			echo "$k $(rc_ DEBUG DIGEST-VALUE "$k") $(rc_ PEXPIRETIME "$k")"
		done
	done
}
seed() {
	local i
	for i in $(seq 1 $N); do
		rc_ DEL "u:$i" "s:$i" >/dev/null
		rc_ HSET "u:$i" plan legacy name "n$i" old_field "o$i" >/dev/null
		rc_ SET "s:$i" "v1-$i" >/dev/null
		[ $((i % 4)) = 0 ] && rc_ PEXPIRE "u:$i" 7200000 >/dev/null
	done
	return 0
}
records() {   # records RUN: the run's records, by version tag and kind
	sqlite3 "$STATE/journal.db" "SELECT before_digest, COUNT(*) FROM data_keys WHERE run = '$1'
		GROUP BY before_digest" | tr '\n' ' '
}

sandbox_up dm --shards 3 --replicas 1 || finish
seed
state >"$T/before"

mkdir -p "$T/m"
manifest "$T/m/hash.yaml" plans '{match: "u:*", where: {field: plan, equals: legacy}, set: {plan: basic, tier: "1"}, unset: [old_field], rename: {from: name, to: display}}'
manifest "$T/m/string.yaml" strings '{match: "s:*", value: v2, ttl: 2h}'

test_begin 'narrow records: only the touched fields, the string, the expiry'
expect_exit 0 "apply the hash change" hf apply "$T/m/hash.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
check "every record of the hash change is narrow" test "$(records "$RUN")" = "=h|$N "
check "a record holds the touched fields' before-values" sh -c "sqlite3 '$STATE/journal.db' \
	\"SELECT CAST(dump AS TEXT) FROM data_keys WHERE run = '$RUN' AND key = CAST('u:5' AS BLOB)\" |
	grep -qx '4:name2:n57:display-4:plan6:legacy4:tier-9:old_field2:o5'"
check "the change is there" test "$(rc_ HGET u:5 plan) $(rc_ HGET u:5 display) $(rc_ HEXISTS u:5 old_field)" = "basic n5 0"
expect_exit 0 "apply the string change" hf apply "$T/m/string.yaml" --cluster "$SEED" --yes
SRUN=$(last_run)
check "every record of the string change is narrow" test "$(records "$SRUN")" = "=s|$N "
check "the values and the expiry are set" test "$(rc_ GET s:3) $(rc_ TTL s:3)" = "v2 7200"
test_end

test_begin "a client's write to another field is kept by the rollback (merged, exit 0)"
rc_ HSET u:1 email a@example.com >/dev/null         # a field the hotfix did not touch
rc_ HSET u:2 name client >/dev/null                 # the renamed-away field, written again
rc_ SET s:1 v2 >/dev/null                           # the same value again, its TTL dropped
expect_exit 4 "rollback of the hash change: one conflict" hf rollback "$RUN"
check "u:2 is the conflict, named with what was found" contains "$T/err" \
	"'u:2' (field 'name' is 'client' where the hotfix left absent)"
check "u:1: the touched fields are back" test "$(rc_ HGET u:1 plan) $(rc_ HGET u:1 name) $(rc_ HGET u:1 old_field)" = "legacy n1 o1"
check "u:1: what the hotfix added is gone" test "$(rc_ HEXISTS u:1 display)$(rc_ HEXISTS u:1 tier)" = 00
check "u:1: the client's field is kept" test "$(rc_ HGET u:1 email)" = a@example.com
check "u:2 is kept as the client left it" test "$(rc_ HGET u:2 name) $(rc_ HGET u:2 plan)" = "client basic"
expect_exit 0 "status --json" hf --json status "$RUN"
check "one merged, one conflict, the rest restored" json_true "$T/out" \
	".keys.merged == 1 and .keys.conflicts == 1 and .keys.restored == $((N - 2))"
expect_exit 0 "status says merged" hf status "$RUN"
check "in words" contains "$T/out" "$((N - 2)) restored, 1 merged, 1 conflict(s)"
expect_exit 4 "the string change: s:1's expiry is not the one the hotfix set" hf rollback "$SRUN"
check "named with both expiries" grep -q "'s:1' (the expiry is -1 where the hotfix left [0-9]*)" "$T/err"
check "every other string is back, without an expiry" test \
	"$(for i in $(seq 2 $N); do echo "$(rc_ GET "s:$i") $(rc_ PEXPIRETIME "s:$i")"; done | grep -c '^v1-[0-9]* -1$')" = $((N - 1))
test_end

test_begin '--force-conflicts restores the touched part of the conflicts too'
expect_exit 0 "forced" hf rollback --force-conflicts "$RUN"
check "u:2's touched fields are back, its other ones kept" test \
	"$(rc_ HGET u:2 name) $(rc_ HGET u:2 plan) $(rc_ HEXISTS u:2 display)" = "n2 legacy 0"
expect_exit 0 "forced" hf rollback --force-conflicts "$SRUN"
check "s:1 is back" test "$(rc_ GET s:1) $(rc_ PEXPIRETIME s:1)" = "v1-1 -1"
rc_ HDEL u:1 email >/dev/null
state >"$T/after"
check "every key as before the hotfixes, value and expiry" test_cmp "$T/before" "$T/after"
test_end

test_begin 'a key deleted or retyped by a client is a conflict, not made again'
expect_exit 0 "apply again" hf apply "$T/m/hash.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
rc_ DEL u:3 >/dev/null
rc_ DEL u:4 >/dev/null
rc_ SET u:4 now-a-string >/dev/null
expect_exit 4 "rollback" hf rollback "$RUN"
check "u:3 named as gone" contains "$T/err" "'u:3' (the key is gone)"
check "u:4 named as retyped" contains "$T/err" "'u:4' (the key is a string now)"
check "u:3 is not made again" test "$(rc_ EXISTS u:3)" = 0
check "u:4 is still the client's string" test "$(rc_ GET u:4)" = now-a-string
check "the others are back" test "$(rc_ HGET u:5 plan) $(rc_ HGET u:60 name)" = "legacy n60"
test_end

test_begin "records of the previous release (whole images) still roll back exactly"
seed
state >"$T/before2"
# The previous release's record of a key: its DUMP (hex-encoded by the
# script: redis-cli would mangle binary), PEXPIRETIME and the digest
# '<the DUMP's CRC-64>.<type>.<expiry>' it computed for listpack hashes.
cat >"$T/hex.lua" <<'LUA'
local d = redis.call('DUMP', KEYS[1])
local e = redis.call('PEXPIRETIME', KEYS[1])
local c1, c2, c3, c4, c5, c6, c7, c8 = string.byte(d, -8, -1)
local h = {}
for i = 1, #d do h[i] = string.format('%02x', string.byte(d, i)) end
return string.format('%02x%02x%02x%02x%02x%02x%02x%02x.hash.%d', c1, c2, c3, c4, c5, c6, c7, c8, e) ..
       ' ' .. e .. ' ' .. table.concat(h)
LUA
image() { rc_ EVAL "$(cat "$T/hex.lua")" 1 "$1"; }
for i in $(seq 1 $N); do image "u:$i"; done >"$T/images.before"
expect_exit 0 "apply (narrow records)" hf apply "$T/m/hash.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
# Rewrite each record as the previous release wrote it.
i=0
while read -r bd e hex; do
	i=$((i + 1))
	read -r ad _ _ < <(image "u:$i")
	echo "UPDATE data_keys SET dump = X'$hex', expire_at = $e, before_digest = '$bd',
		after_digest = '$ad' WHERE run = '$RUN' AND key = CAST('u:$i' AS BLOB);"
done <"$T/images.before" | sqlite3 "$STATE/journal.db"
check "the records are whole images now" test "$(records "$RUN" | grep -c '=h')" = 0
expect_exit 0 "rollback" hf rollback "$RUN"
for i in $(seq 1 $N); do image "u:$i"; done >"$T/images.after"
check "every key's DUMP and expiry as before" test_cmp "$T/images.before" "$T/images.after"
state >"$T/after2"
check "and every value" test_cmp "$T/before2" "$T/after2"
test_end

finish
