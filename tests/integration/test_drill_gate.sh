#!/usr/bin/env bash
# Drills as a gate (issue 14, item 3): a policy's require_drill refuses an
# apply (exit 5) unless the newest drill of the same manifest passed within
# the bound; the command line's --require-drill and the policy's, the
# shorter holds; an emergency skips the policy's (recorded); 'plan' shows
# the newest drill and the gate's verdict, for people and in --json; a bad
# require_drill is FILE:LINE:COL, exit 2. The drills are the cheapest real
# ones: '--faults null' (passes) and the test-only 'tamper' (fails), on a
# sandbox that is both the mirror and the cluster applied to.
. "$(dirname "$0")/lib.sh"

K=$T/keys
mkdir -p "$K"
for who in alice dave; do
	openssl genpkey -algorithm ed25519 -out "$K/$who.key" 2>/dev/null &&
		openssl pkey -in "$K/$who.key" -pubout -out "$K/$who.pub" 2>/dev/null ||
		{ bad "openssl genpkey for $who"; finish; }
done
cat >"$T/policy.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Policy
require_drill: 24h
identities:
  - {name: alice, key: keys/alice.pub, roles: [operator]}
  - {name: dave,  key: keys/dave.pub,  roles: [admin]}
clusters:
  - match: "redis://10.*"
    require_drill: 1h
  - match: "redis://192.168.*"
    require_drill: none
  - match: "redis://127.0.0.1:*"
    emergency: [admin]
YAML
P="--policy $T/policy.yaml"
as() { local who=$1; shift; hf $P --sign-key "$K/$who.key" "$@"; }

test_begin 'policy check: require_drill at the top and per cluster; a bad one is FILE:LINE:COL, exit 2'
expect_exit 0 "the policy checks" hf policy check "$T/policy.yaml"
check "the default is listed" contains "$T/out" "require_drill 24h (the default"
check "each entry's bound is listed" contains "$T/out" "cluster redis://10.\*: .*require_drill 1h"
expect_exit 0 "policy check --json" hf --json policy check "$T/policy.yaml"
check "--json: overridden, turned off, inherited" json_true "$T/out" \
	'.require_drill == [{"match": "redis://10.*", "require_drill_s": 3600},
	  {"match": "redis://192.168.*", "require_drill_s": null},
	  {"match": "redis://127.0.0.1:*", "require_drill_s": 86400}]'
sed 's/require_drill: 1h/require_drill: soon/' "$T/policy.yaml" >"$T/bad.yaml"
expect_exit 2 "a bad per-cluster value" hf policy check "$T/bad.yaml"
check "the error names file, line, column and the value" \
	contains "$T/err" "bad.yaml:9:20: invalid require_drill 'soon'"
sed 's/^require_drill: 24h/require_drill: 0/' "$T/policy.yaml" >"$T/zero.yaml"
expect_exit 2 "a zero default, with any command" hf --policy "$T/zero.yaml" history
check "the error names file, line and column" contains "$T/err" "zero.yaml:3:16: invalid require_drill '0'"
test_end

sandbox_up gate --shards 3 --replicas 0 || finish
PORTS=$(ports_of "$BASE" 3)
manifest "$T/m.yaml" gate-fix
snapshot "$T/before" "$PORTS" timeout maxmemory-policy
unchanged() { snapshot "$T/now.cfg" "$PORTS" timeout maxmemory-policy && test_cmp "$T/before" "$T/now.cfg"; }
no_run() { [ "$(hf --json history | jq length)" = 0 ]; }

test_begin 'never drilled: plan says so, apply is refused (exit 5), nothing changed'
expect_exit 0 "plan" hf $P plan "$T/m.yaml" --cluster "$SEED"
check "plan: never drilled" contains "$T/out" "^drill: never drilled (manifest sha256 [0-9a-f]\{12\})"
check "plan: the gate would refuse" \
	contains "$T/out" "gate: policy .*require_drill 24h: an apply is refused now (never drilled)"
expect_exit 0 "plan --json" hf $P --json plan "$T/m.yaml" --cluster "$SEED"
check "--json: drill null, the gate's bound and verdict" json_true "$T/out" \
	'.drill == null, .drill_gate.bound_s == 86400, .drill_gate.ok == false,
	 .drill_gate.verdict == "never_drilled"'
expect_exit 5 "apply by an operator" as alice apply "$T/m.yaml" --cluster "$SEED" --yes
check "it says why, in --require-drill's words" contains "$T/err" \
	"apply: policy .*policy.yaml (cluster 'redis://127.0.0.1:\*'): require_drill 24h: this manifest (sha256 [0-9a-f]*) was never drilled"
check "no run was journaled" no_run
check "no node changed" unchanged
test_end

test_begin 'an emergency skips the policy'"'"'s gate (recorded), not the command line'"'"'s'
expect_exit 5 "emergency with --require-drill 1h: the command line's still holds" \
	as dave apply "$T/m.yaml" --cluster "$SEED" --yes --emergency --reason INC-7 --require-drill 1h
check "it names the command line's bound" contains "$T/err" "apply: --require-drill 1h: this manifest .* was never drilled"
expect_exit 0 "emergency by an admin" \
	as dave apply "$T/m.yaml" --cluster "$SEED" --yes --emergency --reason INC-7
run=$(last_run)
expect_exit 0 "status" hf status "$run"
check "the skipped gate is an event of the run" \
	contains "$T/out" "drill gate: require_drill 24h of policy .* skipped by the emergency override"
expect_exit 0 "rollback by dave" as dave rollback "$run"
check "every node is back" unchanged
test_end

test_begin 'a passed drill opens the gate: plan shows it, apply is allowed and records it'
expect_exit 0 "the drill (null) passes" hf drill "$T/m.yaml" --mirror "$T/gate" --faults null
expect_exit 0 "plan" hf $P plan "$T/m.yaml" --cluster "$SEED"
check "plan: passed, how long ago" contains "$T/out" "^drill: passed [0-9]*s ago ("
check "plan: its faults and outcome" contains "$T/out" "faults: null@apply (ok)"
check "plan: fingerprint, writes" contains "$T/out" "fingerprint equal; writes [0-9]* acknowledged, 0 lost"
check "plan: the gate allows" contains "$T/out" "require_drill 24h: an apply is allowed now (for [0-9]*h[0-9]*m more)"
expect_exit 0 "plan --json" hf $P --json plan "$T/m.yaml" --cluster "$SEED"
check "--json: the drill and the gate" json_true "$T/out" \
	'.drill.passed, (.drill.age_s >= 0), (.drill.at | test("^[0-9-]+T[0-9:]+Z$")),
	 ([.drill.faults[].fault] == ["null"]), .drill.faults[0].ok, .drill.fingerprint_equal,
	 .drill.writes_lost == 0, .drill.rollback_exit == 0, .drill_gate.ok,
	 .drill_gate.verdict == "ok"'
check "the drill is not in the plan digest" json_true "$T/out" '(.plan_digest | length) == 64'
expect_exit 5 "the command line's shorter bound holds" \
	as alice apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill 1ms
check "it names the command line's bound" contains "$T/err" "apply: --require-drill 1ms: the last passed drill of this manifest is .* old"
expect_exit 0 "apply by an operator" as alice apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill 48h
run=$(last_run)
expect_exit 0 "status" hf status "$run"
check "the gate's verdict is an event of the run (the policy's bound, the shorter)" \
	contains "$T/out" "drill gate: policy .*require_drill 24h: the last drill of this manifest passed .* ago"
expect_exit 0 "rollback" as alice rollback "$run"
check "every node is back" unchanged
test_end

test_begin 'a policy bound shorter than the command line'"'"'s holds'
sed 's/^require_drill: 24h/require_drill: 1ms/' "$T/policy.yaml" >"$T/strict.yaml"
expect_exit 5 "refused" hf --policy "$T/strict.yaml" --sign-key "$K/alice.key" \
	apply "$T/m.yaml" --cluster "$SEED" --yes --require-drill 24h
check "it names the policy's bound" contains "$T/err" "strict.yaml (cluster .*): require_drill 1ms: the last passed drill of this manifest is .* old"
test_end

test_begin 'a failed drill after a passed one keeps the gate shut'
hz=$(cfg "$BASE" hz)
expect_exit 1 "the drill (tamper) fails" env HOTFIX_DRILL_TEST_FAULTS=1 \
	"$HOTFIX" --state "$STATE" drill "$T/m.yaml" --mirror "$T/gate" --faults tamper
for p in $PORTS; do rcli -p "$p" CONFIG SET hz "$hz" >/dev/null; done
rcli -c -p "$BASE" DEL drill:tamper >/dev/null
expect_exit 5 "apply refused" as alice apply "$T/m.yaml" --cluster "$SEED" --yes
check "it says the last drill failed" contains "$T/err" "require_drill 24h: the last drill of this manifest, .* ago, failed"
expect_exit 0 "plan" hf $P plan "$T/m.yaml" --cluster "$SEED"
check "plan: FAILED, the fault, what differs" contains "$T/out" "^drill: FAILED .* ago"
check "plan: the fault" contains "$T/out" "faults: tamper@apply (ok)"
check "plan: the fingerprint differs" contains "$T/out" "fingerprint DIFFERS"
check "plan: the gate refuses" contains "$T/out" "an apply is refused now (the last drill failed)"
expect_exit 0 "plan --json" hf $P --json plan "$T/m.yaml" --cluster "$SEED"
check "--json: failed, its fault, the verdict" json_true "$T/out" \
	'.drill.passed == false, .drill.faults[0].fault == "tamper", .drill.fingerprint_equal == false,
	 .drill_gate.ok == false, .drill_gate.verdict == "failed"'
check "no node changed" unchanged
test_end

test_begin 'without a bound: plan shows the drill, no gate'
expect_exit 0 "plan without policy" hf --json plan "$T/m.yaml" --cluster "$SEED"
check "--json: the drill, drill_gate null" json_true "$T/out" '.drill.passed == false, .drill_gate == null'
expect_exit 0 "plan without policy" hf plan "$T/m.yaml" --cluster "$SEED"
check "the gate: none" contains "$T/out" "gate: none (the policy asks no drill here"
test_end

finish
