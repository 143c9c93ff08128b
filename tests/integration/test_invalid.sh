#!/usr/bin/env bash
# Invalid manifests and refused changes: exit 2 with FILE:LINE:COL, before
# any node is touched.
. "$(dirname "$0")/lib.sh"

sandbox_up inv --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
PARAMS="timeout maxmemory-policy maxmemory daemonize"
snapshot "$T/before" "$PORTS" $PARAMS

head_ok='apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: bad-one
  version: 1
  owner: test@example.com
  problem: testing refusals.'

# case_ NAME EXPECTED-POSITION-PREFIX YAML: a block where plan and apply
# both refuse the manifest and name the position.
n=0
case_() {
	local name=$1 where=$2 body=$3 f cmd
	n=$((n + 1))
	f="$T/bad$n.yaml"
	printf '%s\n' "$body" >"$f"
	test_begin "$name: refused at ${where%:}"
	for cmd in plan apply; do
		if [ $cmd = apply ]; then
			expect_exit 2 "$name: $cmd exits 2" hf apply "$f" --cluster "$SEED" --yes
		else
			expect_exit 2 "$name: $cmd exits 2" hf plan "$f" --cluster "$SEED"
		fi
		check "$name: $cmd names $where" grep -q "^hotfix: $f:$where" "$T/err"
	done
	test_end
}

case_ "yaml syntax error" "9:1:" "$head_ok
spec: [unclosed"
case_ "unknown top-level field" "8:1:" "$head_ok
wavez: 3
spec:
  changes:
    - config: {timeout: \"1\"}"
case_ "unknown rollout field" "12:5:" "$head_ok
spec:
  changes:
    - config: {timeout: \"1\"}
  rollout:
    wavez: []"
case_ "wrong apiVersion" "1:13:" "apiVersion: hotfix/v9
kind: Hotfix
metadata: {name: x, version: 1, owner: o, problem: p}
spec:
  changes:
    - config: {timeout: \"1\"}"
case_ "missing owner" "4:3:" 'apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: x
  version: 1
  problem: p
spec:
  changes:
    - config: {timeout: "1"}'
case_ "version is not an integer" "5:12:" 'apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: x
  version: abc
  owner: o
  problem: p
spec:
  changes:
    - config: {timeout: "1"}'
case_ "empty change list" "9:3:" "$head_ok
spec:
  changes: []"
case_ "bad duration" "14:15:" "$head_ok
spec:
  changes:
    - config: {timeout: \"1\"}
  rollout:
    waves:
      - nodes: 1
        bake: 10 seconds"
case_ "bad percentage" "13:16:" "$head_ok
spec:
  changes:
    - config: {timeout: \"1\"}
  rollout:
    waves:
      - nodes: 150%"
case_ "unknown change kind" "10:7:" "$head_ok
spec:
  changes:
    - sql: {drop: everything}"
case_ "duplicate key" "11:3:" "$head_ok
spec:
  changes:
    - config: {timeout: \"1\"}
  changes:
    - config: {timeout: \"2\"}"
case_ "parameter immutable at runtime" "11:9:" "$head_ok
spec:
  changes:
    - config:
        daemonize: \"yes\""
case_ "unknown parameter" "11:9:" "$head_ok
spec:
  changes:
    - config:
        no-such-parameter: \"1\""
case_ "unknown guard metric" "14:" "$head_ok
spec:
  changes:
    - config: {timeout: \"1\"}
  guard:
    interval: 1s
    checks:
      - metric: latency_p42_ms
        max: 10"

test_begin 'the refusals touched no node and recorded no run'
snapshot "$T/after" "$PORTS" $PARAMS
check "no node changed after $n invalid manifests" test_cmp "$T/before" "$T/after"
expect_exit 0 "no run was recorded" hf --json history
check "the journal holds no run" json_true "$T/out" 'length == 0'
test_end

# Found by fuzzing (issue 13): libfyaml 0.7.12 loops for ever on a
# directive line with a byte that is not UTF-8, so 'timeout 20' makes a
# hang fail here instead of hanging the suite (no timing is asserted).
test_begin 'text that is not UTF-8 and a NaN duration are refused with their position'
printf '%%\xff' >"$T/not-utf8.yaml"
expect_exit 2 "'%\\xff' is refused, not parsed for ever" timeout 20 "$HOTFIX" validate "$T/not-utf8.yaml"
check "the refusal names FILE:LINE:COL" \
	contains "$T/err" "$T/not-utf8.yaml:1:2: invalid yaml: the text is not UTF-8 (byte 0xff)"
printf '%s\n' "$head_ok" 'spec:' '  changes:' '    - config: {timeout: "1"}' \
	'  rollout:' '    waves:' '      - {percent: 100, bake: nans}' >"$T/nan.yaml"
expect_exit 2 "'bake: nans' is refused" hf validate "$T/nan.yaml"
check "the refusal says it is no duration" \
	contains "$T/err" "$T/nan.yaml:13:30: invalid duration 'nans' for 'bake'"
test_end

test_begin 'a missing manifest is invalid input; the design example is valid'
expect_exit 2 "a missing manifest file is invalid input" hf plan "$T/nope.yaml" --cluster "$SEED"
expect_exit 0 "validate accepts the design example" hf validate "$HF_SOURCE_DIR/examples/design-example.yaml"
expect_exit 0 "plan accepts the design example, guard included" \
	hf plan "$HF_SOURCE_DIR/examples/design-example.yaml" --cluster "$SEED"
check "plan lists the design example's guard checks" \
	contains "$T/out" "error_rate max 0.01; latency_p99_ms max 2x baseline; replication_lag_ms max 1000"
test_end

finish
