#!/usr/bin/env bash
# Function libraries: v1 -> v2 -> rollback gives back an identical FUNCTION
# DUMP on every primary; replicas follow by replication; a library someone
# loads since the hotfix is a conflict, not overwritten; kill -9 and resume;
# invalid function changes refused before anything is touched.
. "$(dirname "$0")/lib.sh"

sandbox_up fn --shards 3 --replicas 1 || finish
PRIMARIES=$(ports_of "$BASE" 3)
REPLICAS=$(ports_of "$((BASE + 3))" 3)

mkdir -p "$T/m"
printf '#!lua name=billing\nredis.register_function("price", function(keys, args) return "v1" end)\n' >"$T/m/billing_v1.lua"
printf '#!lua name=billing\nredis.register_function("price", function(keys, args) return "v2" end)\n' >"$T/m/billing_v2.lua"
printf '#!lua name=other\nredis.register_function("other", function(keys, args) return 1 end)\n' >"$T/m/other.lua"
for p in $PRIMARIES; do rcli -p "$p" FUNCTION LOAD "$(cat "$T/m/billing_v1.lua")" >/dev/null; done

fn_manifest() {   # fn_manifest FILE LIBRARY CODE-FILE
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: billing-v2, version: 2, owner: test@example.com, problem: price says v1}
spec:
  changes:
    - function:
        library: $2
        file: $3
  rollout:
    waves:
      - nodes: 1
      - nodes: 100%
  guard: none
YAML
}
dumps() { local p; for p in $PRIMARIES; do printf '%s ' "$p"; rcli -p "$p" FUNCTION DUMP | sha256sum; done; }
all_say() {   # all_say VALUE: FCALL price on every primary and replica
	local p
	for p in $PRIMARIES; do [ "$(rcli -p "$p" FCALL price 0)" = "$1" ] || return 1; done
	for p in $REPLICAS; do [ "$(rcli -p "$p" FUNCTION LIST LIBRARYNAME billing WITHCODE | grep -c "\"$1\"")" = 1 ] || return 1; done
}

dumps >"$T/before"
fn_manifest "$T/m/fix.yaml" billing billing_v2.lua

test_begin 'v1 -> v2 -> rollback: the same FUNCTION DUMP on every primary'
expect_exit 0 "plan a function library change" hf plan "$T/m/fix.yaml" --cluster "$SEED"
check "plan targets the primaries only" test "$(grep -c "function library 'billing': code" "$T/out")" = 3
expect_exit 0 "apply v2" hf apply "$T/m/fix.yaml" --cluster "$SEED" --yes
wait_for "every primary and replica to run v2" 10 all_say v2
check "every primary and replica runs v2" all_say v2
expect_exit 0 "rollback to v1" hf rollback "$(last_run)"
dumps >"$T/after"
check "FUNCTION DUMP identical to before on every primary" test_cmp "$T/before" "$T/after"
wait_for "every node to be back at v1" 10 all_say v1
check "every primary and replica runs v1 again" all_say v1
expect_exit 0 "second rollback" hf rollback "$(last_run)"
check "second rollback finds nothing to do" contains "$T/out" "nothing to do"
test_end

test_begin 'kill -9 in the middle of the rollout, then resume forward and roll back'
expect_exit 137 "apply killed at the second wave" hf_crash_at apply:2 apply "$T/m/fix.yaml" --cluster "$SEED" --yes
run=$(last_run)
expect_exit 0 "resume after kill -9" hf resume "$run"
wait_for "every node at v2 after resume" 10 all_say v2
expect_exit 0 "rollback after resume" hf rollback "$run"
dumps >"$T/after"
check "FUNCTION DUMP identical after kill, resume and rollback" test_cmp "$T/before" "$T/after"
test_end

# kill -9 between the load and its record, then roll back: the library's
# code says the node holds this change, so it is restored, not a conflict.
test_begin 'kill -9 between the load and its record, then resume --rollback'
expect_exit 137 "apply killed right after the canary's load" \
	hf_crash_at applied:1 apply "$T/m/fix.yaml" --cluster "$SEED" --yes
expect_exit 0 "resume --rollback after that kill" hf resume "$(last_run)" --rollback
dumps >"$T/after"
check "FUNCTION DUMP identical after that kill and rollback" test_cmp "$T/before" "$T/after"
test_end

test_begin 'a library loaded by someone else since the hotfix is a conflict'
expect_exit 0 "apply v2 again" hf apply "$T/m/fix.yaml" --cluster "$SEED" --yes
run=$(last_run)
rcli -p "$BASE" FUNCTION LOAD "$(cat "$T/m/other.lua")" >/dev/null
expect_exit 4 "rollback with a library loaded since exits 4" hf rollback "$run"
check "the conflict names the node" grep -q "127.0.0.1:$BASE.*function libraries changed since the hotfix" "$T/err"
check "the library loaded since is still there" test "$(rcli -p "$BASE" FUNCTION LIST LIBRARYNAME other | grep -c other)" -ge 1
check "the other primaries are restored" test "$(rcli -p "$((BASE + 1))" FCALL price 0)" = v1
expect_exit 0 "rollback --force restores the dump anyway" hf rollback "$run" --force
dumps >"$T/after"
check "after --force every primary's dump is identical to before" test_cmp "$T/before" "$T/after"
test_end

# A failover between apply and rollback: the shard's library is restored
# on its new primary (the old one, a replica now, refuses writes).
role_of() { rcli -p "$1" ROLE | head -1; }
says_everywhere() {   # says_everywhere VALUE: every node's library returns VALUE
	local p
	for p in $PRIMARIES $REPLICAS; do
		rcli -p "$p" FUNCTION LIST LIBRARYNAME billing WITHCODE | grep -q "\"$1\"" || return 1
	done
}
test_begin 'a failover between apply and rollback: restored on the shard'"'"'s new primary'
expect_exit 0 "apply v2" hf apply "$T/m/fix.yaml" --cluster "$SEED" --yes
run=$(last_run)
replica=$((BASE + 3))
old=$(rcli -p "$replica" ROLE | sed -n 3p)
rcli -p "$replica" CLUSTER FAILOVER >/dev/null
wait_for "the replica on $replica to take its shard over" 20 eval '[ "$(role_of $replica)" = master ]'
wait_for "its old primary on $old to follow it" 20 eval '[ "$(role_of $old)" = slave ]'
expect_exit 0 "rollback" hf rollback "$run"
wait_for "every node, both of the failed-over shard, at v1" 10 says_everywhere v1
check "every node runs v1" says_everywhere v1
rcli -p "$old" CLUSTER FAILOVER >/dev/null
wait_for "the shard back as it was" 20 eval '[ "$(role_of $old)" = master ]'
test_end

test_begin 'invalid function changes: refused with a position, nothing touched'
fn_manifest "$T/m/missing.yaml" billing no_such_file.lua
expect_exit 2 "a function file that does not exist" hf plan "$T/m/missing.yaml" --cluster "$SEED"
check "the error names the file with its position" grep -q "missing.yaml:8:15: cannot read function file" "$T/err"
fn_manifest "$T/m/wrongname.yaml" payments billing_v2.lua
expect_exit 2 "a file that declares another library" hf apply "$T/m/wrongname.yaml" --cluster "$SEED" --yes
check "the error says which library the file declares" grep -q "declares 'billing', not library 'payments'" "$T/err"
printf '#!lua name=billing\nthis is not lua(\n' >"$T/m/broken.lua"
fn_manifest "$T/m/broken.yaml" billing broken.lua
expect_exit 1 "code that does not compile fails on the canary and is rolled back" \
	hf apply "$T/m/broken.yaml" --cluster "$SEED" --yes
check "the error carries the server's message" grep -q "FUNCTION LOAD: ERR" "$T/err"
dumps >"$T/after"
check "no primary changed" test_cmp "$T/before" "$T/after"
test_end

finish
