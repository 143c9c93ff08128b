#!/usr/bin/env bash
# hotfix drill: a config hotfix rehearsed on a mirror (a 3x1 sandbox)
# under 'hotfix load --check-writes' with faults; the fingerprint before
# and after, the lost writes, the replicas, the guard's expectations.
. "$(dirname "$0")/lib.sh"

sandbox_up mirror --shards 3 --replicas 1 || finish
MIRROR=$T/mirror
manifest "$T/m.yaml" drill-test "      - nodes: 1
        bake: 2s
      - nodes: 50%
        bake: 2s
      - nodes: 100%"

# Sets and hashes past their small encodings (hashtable: over 128 members,
# over 512 fields): a DUMP of one follows its table's order, which differs
# on the replica that takes over in the failover; the fingerprint digests
# them by content (with DUMP digests this drill failed).
for i in $(seq 1 60); do
	echo "SADD drill:set:$i $(seq -f "m%g" -s ' ' 1 200)"
	echo "HSET drill:hash:$i $(seq -f "f%g v$i" -s ' ' 1 600)"
done | rcli -c -p "$BASE" >/dev/null

test_begin 'a drill with kill, failover, hang and crash-controller passes'
expect_exit 0 "the drill passes" \
	hf --json drill "$T/m.yaml" --mirror "$MIRROR" --faults kill,failover,hang@2500ms,crash-controller@3s
cp "$T/out" "$T/drill.json"
check "passed is true" json_true "$T/drill.json" '.passed'
check "one entry per fault, in order" json_true "$T/drill.json" \
	'[.faults[].fault] == ["kill", "failover", "hang", "crash-controller"]'
check "every fault as expected" json_true "$T/drill.json" '.faults | all(.ok)'
check "the fingerprint is equal" json_true "$T/drill.json" '.fingerprint.equal'
check "writes were acknowledged, none lost" json_true "$T/drill.json" \
	'.writes.acknowledged > 0, .writes.lost == 0'
check "the replicas converged" json_true "$T/drill.json" '.converged'
check "the crashed apply was rolled back by resume --rollback" json_true "$T/drill.json" \
	'.rollback.how == "resume --rollback"'
test_end

test_begin 'faults during the rollback: the driver killed, a primary hung; resumed, converged'
expect_exit 0 "the drill passes" hf --json drill "$T/m.yaml" --mirror "$MIRROR" \
	--faults crash-controller@rollback,hang@rollback+10ms
cp "$T/out" "$T/rb.json"
check "passed; both faults during the rollback" json_true "$T/rb.json" \
	'.passed, ([.faults[].during] == ["rollback", "rollback"]), .fingerprint.equal, .converged'
check "the killed rollback was finished by resume --rollback" json_true "$T/rb.json" \
	'.rollback.exit == 0, (.rollback.detail | test("exit 137 .*then resume --rollback exit 0"))'
test_end

test_begin 'a rollback that cannot be exact fails the drill, naming what differs'
hz=$(cfg "$BASE" hz)
expect_exit 1 "the drill fails" env HOTFIX_DRILL_TEST_FAULTS=1 \
	"$HOTFIX" --state "$STATE" drill "$T/m.yaml" --mirror "$MIRROR" --faults tamper
check "the verdict says FAILED" contains "$T/out" '^drill         FAILED'
check "the table names the fault" contains "$T/out" '^tamper .* hz set to 11 on 127.0.0.1:'
check "the difference is named: the node, the parameter, both values" \
	contains "$T/out" "config of 127.0.0.1:[0-9]*: hz \"$hz\" -> \"11\""
check "and the key: new" contains "$T/out" 'key drill:tamper is new'
check "the rest is as before: writes, replicas" contains "$T/out" '^writes .* 0 lost'
for p in $(ports_of "$BASE" 6); do rcli -p "$p" CONFIG SET hz "$hz" >/dev/null; done
rcli -c -p "$BASE" DEL drill:tamper >/dev/null
test_end

test_begin 'fault specs that make no sense are refused (exit 2)'
expect_exit 2 "an unknown fault" hf drill "$T/m.yaml" --mirror "$MIRROR" --faults kill,explode
check "it is named" contains "$T/err" "unknown fault 'explode'"
expect_exit 2 "a bad time" hf drill "$T/m.yaml" --mirror "$MIRROR" --faults kill@soon
check "it is named" contains "$T/err" "'soon' after '@' is no time"
expect_exit 2 "tamper outside tests" hf drill "$T/m.yaml" --mirror "$MIRROR" --faults tamper
expect_exit 2 "a guard expectation during the rollback" \
	hf drill "$T/m.yaml" --mirror "$MIRROR" --faults null@rollback
check "it says why" contains "$T/err" "the guard, which only watches the apply"
test_end

cat >"$T/guarded.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: drill-guarded, version: 1, owner: test@example.com, problem: drill test}
spec:
  changes:
    - config: {timeout: "300"}
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: 3s
      - nodes: 100%
  guard:
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    checks:
      - metric: probe_latency_ms
        max: 100
YAML

test_begin 'regression: the guard must trip, and does'
expect_exit 0 "the drill passes" hf --json drill "$T/guarded.yaml" --mirror "$MIRROR" --faults regression@1500ms
cp "$T/out" "$T/regression.json"
check "passed, the guard rolled back (apply exit 3)" json_true "$T/regression.json" \
	'.passed, .apply_exit == 3, .faults[0].fault == "regression", .faults[0].ok'
check "the fingerprint is equal" json_true "$T/regression.json" '.fingerprint.equal'
test_end

test_begin 'null: the guard must not trip, and does not'
expect_exit 0 "the drill passes" hf --json drill "$T/guarded.yaml" --mirror "$MIRROR" --faults null
cp "$T/out" "$T/null.json"
check "passed, the apply promoted (exit 0)" json_true "$T/null.json" \
	'.passed, .apply_exit == 0, .faults[0].fault == "null", .faults[0].ok'
test_end

test_begin 'apply --require-drill: only a manifest whose last drill passed within the bound'
expect_exit 5 "the last drill of the manifest (tamper) failed: refused" \
	hf apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill 1h
check "it says so" contains "$T/err" 'the last drill of this manifest, .* ago, failed'
expect_exit 0 "drilled again" hf drill "$T/m.yaml" --mirror "$MIRROR" --faults null
expect_exit 0 "now it may" hf apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill 1h
expect_exit 0 "rolled back" hf rollback last
expect_exit 5 "a drill too old is refused" hf apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill 1ms
check "it says how old" contains "$T/err" 'the last passed drill of this manifest is .* old'
manifest "$T/other.yaml" never-drilled
expect_exit 5 "a manifest never drilled is refused" \
	hf apply "$T/other.yaml" --cluster "$SEED" --yes --require-drill 24h
check "it says so" contains "$T/err" 'was never drilled'
expect_exit 2 "a bad bound" hf apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill soon
test_end

finish
