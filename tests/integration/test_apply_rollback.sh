#!/usr/bin/env bash
# Apply a config hotfix wave by wave on real clusters (3x1 and 2x2), verify
# every node, roll back to the exact prior values, and roll back again.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"

run_on() {
	local name=$1 shards=$2 replicas=$3 nodes run ports p bad_nodes
	nodes=$((shards * (replicas + 1)))
	echo "# $name: $shards shards x $replicas replicas"
	sandbox_up "$name" --shards "$shards" --replicas "$replicas" || return
	ports=$(ports_of "$BASE" "$nodes")
	# One node starts at a non-default value: the diff must skip nothing
	# else and rollback must restore it exactly, defaults included.
	rcli -p "$BASE" CONFIG SET timeout 17 >/dev/null
	snapshot "$T/$name.before" "$ports" $PARAMS
	manifest "$T/$name.yaml" "raise-timeout-$name"

	test_begin "$name: plan shows every node's diff and changes nothing"
	expect_exit 0 "$name: plan" hf plan "$T/$name.yaml" --cluster "$SEED"
	check "$name: plan lists every node that differs" \
		test "$(grep -c 'timeout: ' "$T/out")" = "$nodes"
	check "$name: plan shows the current -> target values" contains "$T/out" 'timeout: "17" -> "300"'
	check "$name: plan says rollback is possible" contains "$T/out" 'rollback possible: yes'
	snapshot "$T/$name.after-plan" "$ports" $PARAMS
	check "$name: plan changed nothing" test_cmp "$T/$name.before" "$T/$name.after-plan"
	test_end

	test_begin "$name: apply --yes promotes the hotfix on every node"
	expect_exit 0 "$name: apply --yes" hf --json apply "$T/$name.yaml" --cluster "$SEED" --yes
	run=$(json_get "$T/out" .run)
	check "$name: apply --json names the run" test -n "$run"
	check "$name: apply --json says promoted" json_true "$T/out" '.state == "promoted"'
	bad_nodes=0
	for p in $ports; do
		[ "$(cfg "$p" timeout)" = 300 ] && [ "$(cfg "$p" maxmemory-policy)" = allkeys-lru ] ||
			bad_nodes=$((bad_nodes + 1))
	done
	check "$name: every node holds the new values ($bad_nodes do not)" test "$bad_nodes" = 0
	check "$name: the config file was rewritten on promotion" \
		grep -q '^timeout 300' "$T/$name/$BASE/redis.conf"
	test_end

	test_begin "$name: status and history show the run"
	expect_exit 0 "$name: status" hf status "$run"
	check "$name: status shows the run promoted" contains "$T/out" 'state     promoted'
	expect_exit 0 "$name: history --json" hf --json history
	check "$name: history has run, hotfix, version, state" json_true "$T/out" \
		'any(.[]; .run == $run and has("hotfix") and has("version") and has("state"))' --arg run "$run"
	test_end

	test_begin "$name: rollback restores the exact prior values, a second one changes nothing"
	expect_exit 0 "$name: rollback" hf rollback "$run"
	snapshot "$T/$name.after-rollback" "$ports" $PARAMS
	check "$name: rollback restored the exact prior values" \
		test_cmp "$T/$name.before" "$T/$name.after-rollback"
	check "$name: the config file no longer holds the hotfix" \
		lacks "$T/$name/$BASE/redis.conf" '^timeout 300'
	expect_exit 0 "$name: second rollback" hf rollback "$run"
	check "$name: second rollback finds nothing to do" contains "$T/out" 'nothing to do'
	snapshot "$T/$name.after-rollback2" "$ports" $PARAMS
	check "$name: second rollback changed nothing" \
		test_cmp "$T/$name.before" "$T/$name.after-rollback2"
	expect_exit 0 "$name: status after rollback" hf --json status "$run"
	check "$name: run is rolled_back" json_true "$T/out" '.state == "rolled_back"'
	check "$name: audit chain verifies" json_true "$T/out" '.audit_chain_ok == true'
	test_end
	hf sandbox down --dir "$T/$name" >/dev/null 2>&1
}

run_on c3x1 3 1
run_on c2x2 2 2

# Waves follow the topology: replicas first, one node per shard at a time.
sandbox_up waves --shards 2 --replicas 2 || finish
manifest "$T/w.yaml" waves "      - nodes: 1
        bake: 0
      - nodes: 100%"
test_begin 'waves: replicas first, at most one node per shard at a time'
expect_exit 0 "waves: apply" hf --json apply "$T/w.yaml" --cluster "$SEED" --yes
run=$(json_get "$T/out" .run)
expect_exit 0 "waves: status --json" hf --json status "$run"
cp "$T/out" "$T/ws.json"
check "waves: wave 1 is one replica" json_true "$T/ws.json" \
	'[.steps[] | select(.wave == 1) | .role] == ["replica"]'
check "waves: every replica is applied before any primary" json_true "$T/ws.json" \
	'[.steps | sort_by(.seq)[] | .role] as $roles | ($roles | index("primary")) as $first
	 | $first != null and ($roles[$first:] | all(. == "primary"))'
check "waves: the journal shows rounds of at most one node per shard" json_true "$T/ws.json" \
	'any(.events[].message; contains("round(s) of at most one node per shard"))'
expect_exit 0 "waves: rollback" hf rollback "$run"
test_end

finish
