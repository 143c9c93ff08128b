#!/usr/bin/env bash
# Apply a config hotfix wave by wave on real clusters (3x1 and 2x2), verify
# every node, roll back to the exact prior values, and roll back again.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"

run_on() {
	local name=$1 shards=$2 replicas=$3 nodes run
	nodes=$((shards * (replicas + 1)))
	echo "# $name: $shards shards x $replicas replicas"
	sandbox_up "$name" --shards "$shards" --replicas "$replicas" || return
	local ports
	ports=$(ports_of "$BASE" "$nodes")
	# One node starts at a non-default value: the diff must skip nothing
	# else and rollback must restore it exactly, defaults included.
	rcli -p "$BASE" CONFIG SET timeout 17 >/dev/null
	snapshot "$T/$name.before" "$ports" $PARAMS
	manifest "$T/$name.yaml" "raise-timeout-$name"

	expect_exit 0 "$name: plan" hf plan "$T/$name.yaml" --cluster "$SEED"
	check "$name: plan lists every node that differs" \
		test "$(grep -c 'timeout: ' "$T/out")" = "$nodes"
	check "$name: plan shows the current -> target values" contains "$T/out" 'timeout: "17" -> "300"'
	check "$name: plan says rollback is possible" contains "$T/out" 'rollback possible: yes'
	snapshot "$T/$name.after-plan" "$ports" $PARAMS
	check "$name: plan changed nothing" cmp -s "$T/$name.before" "$T/$name.after-plan"

	expect_exit 0 "$name: apply --yes" hf --json apply "$T/$name.yaml" --cluster "$SEED" --yes
	run=$(sed -n 's/.*"run": "\([^"]*\)".*/\1/p' "$T/out" | head -1)
	check "$name: apply --json names the run" test -n "$run"
	check "$name: apply --json says promoted" contains "$T/out" '"state": "promoted"'
	local p bad_nodes=0
	for p in $ports; do
		[ "$(cfg "$p" timeout)" = 300 ] && [ "$(cfg "$p" maxmemory-policy)" = allkeys-lru ] ||
			bad_nodes=$((bad_nodes + 1))
	done
	check "$name: every node holds the new values" test "$bad_nodes" = 0
	check "$name: the config file was rewritten on promotion" \
		grep -q '^timeout 300' "$T/$name/$BASE/redis.conf"

	expect_exit 0 "$name: status" hf status "$run"
	check "$name: status shows the run promoted" contains "$T/out" 'state     promoted'
	expect_exit 0 "$name: history --json" hf --json history
	check "$name: history has run, hotfix, version, state" \
		grep -q "\"run\": \"$run\"" "$T/out"

	expect_exit 0 "$name: rollback" hf rollback "$run"
	snapshot "$T/$name.after-rollback" "$ports" $PARAMS
	check "$name: rollback restored the exact prior values" \
		cmp -s "$T/$name.before" "$T/$name.after-rollback"
	check "$name: the config file no longer holds the hotfix" \
		sh -c "! grep -q '^timeout 300' '$T/$name/$BASE/redis.conf'"
	expect_exit 0 "$name: second rollback" hf rollback "$run"
	check "$name: second rollback finds nothing to do" contains "$T/out" 'nothing to do'
	snapshot "$T/$name.after-rollback2" "$ports" $PARAMS
	check "$name: second rollback changed nothing" \
		cmp -s "$T/$name.before" "$T/$name.after-rollback2"
	expect_exit 0 "$name: status after rollback" hf --json status "$run"
	check "$name: run is rolled_back" contains "$T/out" '"state": "rolled_back"'
	check "$name: audit chain verifies" contains "$T/out" '"audit_chain_ok": true'
	hf sandbox down --dir "$T/$name" >/dev/null 2>&1
}

run_on c3x1 3 1
run_on c2x2 2 2

# Waves follow the topology: replicas first, one node per shard at a time.
sandbox_up waves --shards 2 --replicas 2
manifest "$T/w.yaml" waves "      - nodes: 1
        bake: 0
      - nodes: 100%"
expect_exit 0 "waves: apply" hf --json apply "$T/w.yaml" --cluster "$SEED" --yes
run=$(sed -n 's/.*"run": "\([^"]*\)".*/\1/p' "$T/out" | head -1)
hf --json status "$run" >"$T/ws.json"
check "waves: wave 1 is one replica" \
	sh -c "grep -B1 -A6 '\"wave\": 1' '$T/ws.json' | grep -q '\"role\": \"replica\"'"
check "waves: every replica is applied before any primary" \
	/usr/bin/python3 -c "
import json,sys
d=json.load(open('$T/ws.json'))
roles=[s['role'] for s in sorted(d['steps'], key=lambda s: s['seq'])]
first_primary=roles.index('primary')
sys.exit(0 if all(r=='primary' for r in roles[first_primary:]) else 1)"
check "waves: the journal shows rounds of at most one node per shard" \
	grep -q 'round(s) of at most one node per shard' "$T/ws.json"
hf rollback "$run" >/dev/null 2>&1

finish
