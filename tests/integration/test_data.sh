#!/usr/bin/env bash
# Data hotfixes on a 3x1 cluster with a writer running: every type (string,
# hash, list, set, sorted set, stream) applied and rolled back to DUMP- and
# expiry-identical values; keys written by clients since the hotfix are
# conflicts, kept as written; a second rollback changes nothing; kill -9 in
# the middle of apply (before and after the journal has a batch) and of
# rollback, then resume: every key patched exactly once or restored exactly;
# a failover between waves; a transform that fails, a bad selector and a
# missing key list change nothing; a stash of the previous release's forms
# and a run journaled with its SHA-1 digests are read.
. "$(dirname "$0")/lib.sh"

rc_() { redis-cli -c -h 127.0.0.1 -p "$BASE" "$@"; }
TYPES="string hash list set zset stream"
N=40   # keys per type

seed() {   # seed: N keys of every type under t:<type>:<i>, a third with a TTL
	local i
	{
		for i in $(seq 1 $N); do
			echo "SET t:string:$i old-$i"
			echo "HSET t:hash:$i f old-$i g keep-$i"
			echo "RPUSH t:list:$i a-$i b-$i"
			echo "SADD t:set:$i a-$i b-$i"
			echo "ZADD t:zset:$i 1 a-$i 2 b-$i"
			echo "XADD t:stream:$i 1-$i f v-$i"
			if [ $((i % 3)) = 0 ]; then
				for t in $TYPES; do echo "EXPIRE t:$t:$i 7200"; done
			fi
		done
	} | while read -r line; do
		# shellcheck disable=SC2086
		rc_ $line >/dev/null
	done
}
# state FILE: "key sha256-of-DUMP PEXPIRETIME" for every t:* key. A set in
# hash table encoding dumps its members in table order, which a RESTORE of
# the same payload need not reproduce: sets compare by sorted members and
# encoding instead.
state() {
	local t i v
	for t in $TYPES; do
		for i in $(seq 1 $N); do
			if [ "$t" = set ]; then
				v="$(rc_ OBJECT ENCODING "t:$t:$i") $(rc_ SMEMBERS "t:$t:$i" | sort | sha256sum | cut -c1-16)"
			else
				v=$(rc_ DUMP "t:$t:$i" | sha256sum | cut -c1-16)
			fi
			printf 't:%s:%s %s %s\n' "$t" "$i" "$v" "$(rc_ PEXPIRETIME "t:$t:$i")"
		done
	done >"$1"
}

sandbox_up c3 --shards 3 --replicas 1 || finish
test_begin 'seed every type'
seed
state "$T/before"
check "seeded every type" test "$(grep -c -v ' -2$' "$T/before")" = $((N * 6))
test_end

mkdir -p "$T/m"
echo "redis.call('RPUSH', key, 'new')" >"$T/m/list.lua"
echo "redis.call('SADD', key, 'new')" >"$T/m/set.lua"
echo "redis.call('XADD', key, '*', 'f', 'new')" >"$T/m/stream.lua"
data_manifest() {   # data_manifest FILE BATCH [WAVES]
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: repair-all-types, version: 1, owner: test@example.com, problem: every type needs a fix}
spec:
  changes:
    - data: {match: "t:string:*", value: new, batch: $2}
    - data: {match: "t:hash:*", set: {f: new}, unset: [g], batch: $2}
    - data: {match: "t:list:*", lua: list.lua, batch: $2}
    - data: {match: "t:set:*", lua: set.lua, batch: $2}
    - data: {match: "t:zset:*", ttl: 2h, batch: $2}
    - data: {match: "t:stream:*", lua: stream.lua, batch: $2}
  rollout:
    waves:
${3:-      - keys: 10%
      - keys: 100%}
  guard: none
YAML
}
# patched_once: every key carries the fix exactly once.
patched_once() {
	local i
	for i in $(seq 1 $N); do
		[ "$(rc_ GET "t:string:$i")" = new ] || return 1
		[ "$(rc_ HGET "t:hash:$i" f)" = new ] && [ "$(rc_ HEXISTS "t:hash:$i" g)" = 0 ] || return 1
		[ "$(rc_ LRANGE "t:list:$i" 0 -1 | grep -c '^new$')" = 1 ] || return 1
		[ "$(rc_ SISMEMBER "t:set:$i" new)" = 1 ] || return 1
		[ "$(rc_ TTL "t:zset:$i")" -gt 3600 ] || return 1
		[ "$(rc_ XLEN "t:stream:$i")" = 2 ] || return 1
	done
}
# writer: a client writing its own keys all along (hotfix load).
"$HOTFIX" --state "$STATE" load --cluster "$SEED" --seconds 600 --rate 500 --keys 1000 >/dev/null 2>&1 &
WRITER=$!
EXTRA_PIDS+=("$WRITER")

# ---- plan ----------------------------------------------------------------
test_begin 'plan counts the keys of each change, shows an example, changes nothing'
data_manifest "$T/m/fix.yaml" 200
expect_exit 0 "plan a data hotfix" hf plan "$T/m/fix.yaml" --cluster "$SEED"
check "plan counts the selected keys of each change" \
	test "$(grep -o 'data: [0-9]* key(s)' "$T/out" | awk '{s += $2} END {print s}')" = $((N * 6))
check "plan shows a before -> after example" contains "$T/out" "{f: old-[0-9]*, g: keep-[0-9]*} -> {f: new, g: (none)}"
check "plan shows the key waves" contains "$T/out" "keys: 10%"
state "$T/s"
check "plan changed nothing" test_cmp "$T/before" "$T/s"
test_end

# ---- apply and rollback: every type exact --------------------------------
test_begin 'apply and rollback: every type exact, a second rollback changes nothing'
expect_exit 0 "apply" hf apply "$T/m/fix.yaml" --cluster "$SEED" --yes
check "every key of every type is patched exactly once" patched_once
RUN=$(last_run)
expect_exit 0 "status" hf status "$RUN"
check "status counts the keys" contains "$T/out" "$((N * 6)) recorded: $((N * 6)) changed"
check "status gives the journal bytes per key" contains "$T/out" "bytes per key"
expect_exit 0 "rollback" hf rollback "$RUN"
state "$T/after"
check "every key DUMP- and expiry-identical to before" test_cmp "$T/before" "$T/after"
expect_exit 0 "second rollback" hf rollback "$RUN"
check "second rollback is a verified no-op" contains "$T/out" "nothing to do"
state "$T/after2"
check "and changed nothing" test_cmp "$T/before" "$T/after2"
test_end

# ---- clients write since the hotfix: conflicts, kept as written ----------
test_begin 'keys clients wrote since the hotfix are conflicts, kept as written'
expect_exit 0 "apply again" hf apply "$T/m/fix.yaml" --cluster "$SEED" --yes
rc_ SET t:string:5 client >/dev/null
rc_ HSET t:hash:7 f client >/dev/null
rc_ DEL t:list:9 >/dev/null
expect_exit 4 "rollback with client writes since the hotfix" hf rollback "$(last_run)"
check "the conflicts are named" contains "$T/err" "'t:string:5'"
check "with both digests" contains "$T/err" "hotfix left [0-9a-f]*, now [0-9a-f]*"
check "the client's string is kept" test "$(rc_ GET t:string:5)" = client
check "the client's hash field is kept" test "$(rc_ HGET t:hash:7 f)" = client
check "the client's delete is kept" test "$(rc_ EXISTS t:list:9)" = 0
state "$T/s"
grep -v -e '^t:string:5 ' -e '^t:hash:7 ' -e '^t:list:9 ' "$T/before" >"$T/before.others"
grep -v -e '^t:string:5 ' -e '^t:hash:7 ' -e '^t:list:9 ' "$T/s" >"$T/s.others"
check "every other key is back exactly" test_cmp "$T/before.others" "$T/s.others"
expect_exit 4 "a second rollback still reports the conflicts" hf rollback "$(last_run)"
check "and still keeps the client's value" test "$(rc_ GET t:string:5)" = client
expect_exit 0 "rollback --force-conflicts restores them" hf rollback "$(last_run)" --force-conflicts
state "$T/s"
check "now every key is back exactly" test_cmp "$T/before" "$T/s"
test_end

# ---- kill -9 mid-apply, then resume; mid-rollback, then rollback ---------
data_manifest "$T/m/small.yaml" 5
for point in data-script:4 data-batch:7; do
	test_begin "kill -9 at $point, resume; kill -9 in the rollback, roll back again"
	expect_exit 137 "killed at $point" hf_crash_at "$point" apply "$T/m/small.yaml" --cluster "$SEED" --yes
	RUN=$(last_run)
	expect_exit 0 "resume after kill -9 at $point" hf resume "$RUN"
	check "after resume every key is patched exactly once ($point)" patched_once
	expect_exit 137 "killed in the rollback" hf_crash_at data-revert:9 rollback "$RUN"
	expect_exit 0 "rollback again" hf rollback "$RUN"
	state "$T/s"
	check "every key restored exactly ($point)" test_cmp "$T/before" "$T/s"
	test_end
done

# ---- a failover between the waves -----------------------------------------
test_begin 'a failover between the waves'
data_manifest "$T/m/failover.yaml" 20 "      - keys: 30%
        bake: 3s
      - keys: 100%"
"$HOTFIX" --state "$STATE" apply "$T/m/failover.yaml" --cluster "$SEED" --yes >"$T/fo.out" 2>&1 &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_for "the first wave to bake" 30 grep -q "bake" "$T/fo.out"
REPLICA=$((BASE + 3))
rcli -p "$REPLICA" CLUSTER FAILOVER >/dev/null
wait_for "the failover" 20 sh -c "redis-cli -p $REPLICA ROLE | head -n 1 | grep -q master"
wait "$APPLY"
check "apply went on through the failover" test $? = 0
check "every key is patched exactly once after the failover" patched_once
expect_exit 0 "rollback after the failover" hf rollback "$(last_run)"
state "$T/s"
check "every key restored exactly after the failover" test_cmp "$T/before" "$T/s"
test_end

# ---- a failover in the middle of a wave -----------------------------------
# A slow transform (a busy loop per key, one key per call) keeps the wave
# running while a replica takes over its primary: the batch in flight is
# answered from the stash on the new primary, and no key is changed twice.
printf 'for i = 1, 1500000 do end\nredis.call(\x27RPUSH\x27, key, \x27new\x27)\n' >"$T/m/slow.lua"
cat >"$T/m/slow.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: slow, version: 1, owner: test@example.com, problem: a long wave}
spec:
  changes:
    - data: {match: "t:list:*", lua: slow.lua, batch: 1}
  rollout:
    waves:
      - keys: 100%
  guard: none
YAML
lists_once() {
	local i
	for i in $(seq 1 $N); do [ "$(rc_ LRANGE "t:list:$i" 0 -1 | grep -c '^new$')" = 1 ] || return 1; done
}
test_begin 'a failover in the middle of a wave: no key changed twice'
"$HOTFIX" --state "$STATE" apply "$T/m/slow.yaml" --cluster "$SEED" --yes >"$T/slow.out" 2>&1 &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_for "the wave to start" 30 grep -q "wave 1/1" "$T/slow.out"
for p in $(ports_of "$BASE" 6); do
	if [ "$(rcli -p "$p" ROLE | head -n 1)" = slave ]; then REPLICA=$p; break; fi
done
rcli -p "$REPLICA" CLUSTER FAILOVER >/dev/null
wait "$APPLY"
check "apply went on through a failover in the middle of the wave" test $? = 0
echo "# the wave ended at $(grep "applied and verified" "$T/slow.out" | cut -c2-10 | tr -d ' ')"
check "every list got its element exactly once" lists_once
expect_exit 0 "rollback" hf rollback "$(last_run)"
state "$T/s"
check "every key restored exactly" test_cmp "$T/before" "$T/s"
test_end

# ---- refusals and failures change nothing ---------------------------------
echo "if key == 't:list:7' then error('boom on purpose') end
redis.call('RPUSH', key, 'new')" >"$T/m/boom.lua"
cat >"$T/m/boom.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: boom, version: 1, owner: test@example.com, problem: a transform that fails}
spec:
  changes:
    - data: {match: "t:list:*", lua: boom.lua, batch: 5}
  guard: none
YAML
test_begin 'refusals and failures change nothing'
expect_exit 1 "a transform that fails on one key" hf apply "$T/m/boom.yaml" --cluster "$SEED" --yes
check "says which key and why" contains "$T/err" "lua transform failed on key 't:list:7'.*boom on purpose"
check "at the line of the transform's file" contains "$T/err" "boom.lua:1: boom on purpose"
state "$T/s"
check "nothing changed (the keys done before it are rolled back)" test_cmp "$T/before" "$T/s"
echo "redis.call('RPUSH', key, " >"$T/m/syntax.lua"
sed 's/boom.lua/syntax.lua/' "$T/m/boom.yaml" >"$T/m/syntax.yaml"
expect_exit 2 "a transform that does not compile" hf apply "$T/m/syntax.yaml" --cluster "$SEED" --yes
check "says it does not compile" contains "$T/err" "does not compile"
sed 's/match: "t:list:\*", lua: boom.lua/match: "t:list:*", type: lists/' "$T/m/boom.yaml" >"$T/m/type.yaml"
expect_exit 2 "an unknown type selector" hf plan "$T/m/type.yaml" --cluster "$SEED"
check "names the file, line and column" contains "$T/err" "type.yaml:6:[0-9]*: .*lists"
sed 's/match: "t:list:\*", lua: boom.lua/keys_file: nope.txt, delete: true/' "$T/m/boom.yaml" >"$T/m/nofile.yaml"
expect_exit 2 "a key list that does not exist" hf apply "$T/m/nofile.yaml" --cluster "$SEED" --yes
check "says so" contains "$T/err" "nope.txt"
state "$T/s"
check "nothing changed" test_cmp "$T/before" "$T/s"
test_end

# ---- a key list and a cache invalidation ---------------------------------
printf '# keys to invalidate\nt:string:1\n\nt:hash:2\nt:zset:3\nno:such:key\n' >"$T/m/keys.txt"
cat >"$T/m/invalidate.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: invalidate, version: 1, owner: test@example.com, problem: stale cache entries}
spec:
  changes:
    - data: {keys_file: keys.txt, delete: true}
  guard: none
YAML
test_begin 'a key list: its keys deleted, and recreated exactly by the rollback'
expect_exit 0 "delete the keys of a list" hf apply "$T/m/invalidate.yaml" --cluster "$SEED" --yes
exists() { local k n=0; for k in "$@"; do n=$((n + $(rc_ EXISTS "$k"))); done; echo $n; }
check "the listed keys are gone" test "$(exists t:string:1 t:hash:2 t:zset:3)" = 0
check "no other key is touched" test "$(exists t:string:2 t:hash:1 t:zset:2)" = 3
expect_exit 0 "rollback recreates them" hf rollback "$(last_run)"
state "$T/s"
check "every key back exactly, TTL included" test_cmp "$T/before" "$T/s"
test_end

# ---- binary key names, read back from the stash after kill -9 ------------
# Key names with a NUL and ':' in them (given on stdin: redis-cli -x makes
# it the script's last argument, binary-safe).
binkey() { printf 't:bin:%s\0:%s' "$1" "$1"; }
bin_() { local i=$1; shift; binkey "$i" | rc_ -x "$@"; }
for i in 1 2 3 4 5 6; do
	bin_ $i EVAL "return redis.call('SET', KEYS[1], 'old')" 1 >/dev/null
done
cat >"$T/m/bin.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: binary-keys, version: 1, owner: test@example.com, problem: keys with NUL bytes}
spec:
  changes:
    - data: {match: "t:bin:*", value: new}
  rollout:
    waves:
      - keys: 100%
  guard: none
YAML
bins() { local i; for i in 1 2 3 4 5 6; do bin_ $i EVAL "return redis.call('GET', KEYS[1])" 1; done | sort | uniq -c | tr -s ' '; }
test_begin 'binary key names, read back from the stash after kill -9'
expect_exit 137 "killed with the first batch of binary keys only in the stash" \
	hf_crash_at data-script:1 apply "$T/m/bin.yaml" --cluster "$SEED" --yes
expect_exit 0 "resume reads the binary keys back from the stash" hf resume "$(last_run)"
check "every binary key is changed" test "$(bins)" = " 6 new"
expect_exit 0 "rollback of the binary keys" hf rollback "$(last_run)"
check "every binary key is back" test "$(bins)" = " 6 old"
expect_exit 0 "plan over binary keys" hf plan "$T/m/bin.yaml" --cluster "$SEED"
check "plan counts them all" test "$(grep -o '[0-9]* key(s) selected' "$T/out" | awk '{s += $1} END {print s}')" = 6
expect_exit 0 "status --json of the binary keys' run" hf --json status "$(last_run)"
check "six records" json_true "$T/out" '.keys.recorded == 6'
check "six restored" json_true "$T/out" '.keys.restored == 6'
test_end

# ---- the stash: tagged now, and the previous release's forms still read --
# A run killed with records only in the stash (a key list: the first
# call to each primary runs the script); the stash is rewritten to
# the untagged forms the previous release wrote (a batch's entries alone,
# or one key's record in a field named after the key), then the run is
# resumed and rolled back: the scripts write, and hotfix reads, both.
printf "redis.call('APPEND', key, '+')\n" >"$T/m/append.lua"
cat >"$T/m/old.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: old-stash, version: 1, owner: test@example.com, problem: a stash of the previous release}
spec:
  changes:
    - data: {keys_file: old.txt, lua: append.lua, batch: 2}
  rollout:
    waves:
      - keys: 100%
  guard: none
YAML
for i in $(seq 1 12); do rc_ SET "t:old:$i" old >/dev/null; echo "t:old:$i"; done >"$T/m/old.txt"
olds() { local i; for i in $(seq 1 12); do rc_ GET "t:old:$i"; done | sort | uniq -c | tr -s ' '; }
# on_stashes SCRIPT: run SCRIPT on every primary's stash; the sum of its answers.
on_stashes() {
	local p k sum=0
	for p in $(ports_of "$BASE" 6); do
		[ "$(rcli -p "$p" ROLE | head -n 1)" = master ] || continue
		for k in $(rcli -p "$p" --scan --pattern 'hotfix:stash:*'); do
			sum=$((sum + $(rcli -p "$p" EVAL "$1" 1 "$k")))
		done
	done
	echo "$sum"
}
TAGGED="local n = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  if string.sub(v, 1, 3) == '@2:' then n = n + 1 else return -1000 end
end
return n"
UNTAG="local all, n = redis.call('HGETALL', KEYS[1]), 0
for i = 1, #all, 2 do
  local v, p, out = all[i + 1], 4, {}
  while p <= #v do
    local c = string.find(v, ':', p, true)
    local kl = tonumber(string.sub(v, p, c - 1))
    local k = string.sub(v, c + 1, c + kl)
    local c2 = string.find(v, ':', c + kl + 1, true)
    local rl = tonumber(string.sub(v, c + kl + 1, c2 - 1))
    local rec = 'R' .. string.sub(v, c2 + 4, c2 + rl)
    p = c2 + rl + 1
    if n % 2 == 0 then
      redis.call('HSET', KEYS[1], k, rec)
    else
      out[#out + 1] = #k .. ':' .. k .. #rec .. ':' .. rec
    end
    n = n + 1
  end
  redis.call('HDEL', KEYS[1], all[i])
  if #out > 0 then redis.call('HSET', KEYS[1], all[i], table.concat(out)) end
end
return n"
HOTFIX_CRASH_AT=data-script:1 hf apply "$T/m/old.yaml" --cluster "$SEED" --yes >"$T/out" 2>&1
check "killed with records only in the stash" test $? = 137
check "the stash's fields carry the version tag" test "$(on_stashes "$TAGGED")" -gt 0
check "rewritten to the previous release's forms" test "$(on_stashes "$UNTAG")" -gt 0
check "which carry no tag" test "$(on_stashes "$TAGGED")" -lt 0
expect_exit 0 "resume reads the previous release's stash" hf resume "$(last_run)"
check "every key changed exactly once" test "$(olds)" = " 12 old+"
expect_exit 0 "rollback" hf rollback "$(last_run)"
check "every key is back" test "$(olds)" = " 12 old"
hf --json status "$(last_run)" >"$T/out"
check "twelve records" grep -q '"recorded": 12,' "$T/out"
check "twelve restored" grep -q '"restored": 12,' "$T/out"

# ---- a run journaled with SHA-1 digests (an older hotfix) rolls back -----
# Its records are rewritten to the digests the previous release computed,
# sha1("<type>:<expiry>:<DUMP>"), before the rollback.
legacy_digest() {
	rc_ EVAL "return redis.sha1hex('string:' .. redis.call('PEXPIRETIME', KEYS[1]) .. ':' ..
		redis.call('DUMP', KEYS[1]))" 1 "$1"
}
test_begin 'a run journaled with SHA-1 digests rolls back, conflicts still seen'
declare -A was
for i in 1 2 3; do
	rc_ SET "t:leg:$i" old >/dev/null
	was[$i]=$(legacy_digest "t:leg:$i")
done
# A lua change: its records keep whole images and digests, as every
# record did before narrow records (a 'value' change keeps the old value).
printf "redis.call('SET', key, 'new')\n" >"$T/m/setnew.lua"
sed 's/t:bin:\*/t:leg:*/; s/value: new/lua: setnew.lua/' "$T/m/bin.yaml" >"$T/m/leg.yaml"
expect_exit 0 "apply a run to journal with SHA-1 digests" hf apply "$T/m/leg.yaml" --cluster "$SEED" --yes
run=$(last_run)
for i in 1 2 3; do
	sqlite3 "$STATE/journal.db" "UPDATE data_keys SET before_digest = '${was[$i]}',
		after_digest = '$(legacy_digest "t:leg:$i")'
		WHERE run = '$run' AND key = CAST('t:leg:$i' AS BLOB)"
done
check "its records hold SHA-1 digests" test "$(sqlite3 "$STATE/journal.db" \
	"SELECT COUNT(*) FROM data_keys WHERE run = '$run' AND after_digest NOT LIKE '%.%'")" = 3
rc_ SET t:leg:3 client >/dev/null
expect_exit 4 "its rollback finds the one key a client wrote since" hf rollback "$run"
expect_exit 0 "status --json of that run" hf --json status "$run"
check "and only that one" json_true "$T/out" '.keys.conflicts == 1'
check "the keys the hotfix left are restored" test "$(rc_ GET t:leg:1) $(rc_ GET t:leg:2)" = "old old"
check "the client's write is kept" test "$(rc_ GET t:leg:3)" = client
test_end

stop_pid "$WRITER"
finish
