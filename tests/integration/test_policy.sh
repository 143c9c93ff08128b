#!/usr/bin/env bash
# Governance: a policy with Ed25519 identities, the two-person rule with
# signed approvals (refused without, with the author's own, after drift;
# accepted with two), a maintenance window that closes mid-run (the run
# pauses and goes on by itself when it opens), --emergency recorded, and
# a rollback that needs no window nor approval. The policy clock is moved
# through the test hook HOTFIX_POLICY_NOW (a file of epoch seconds).
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"
K=$T/keys
mkdir -p "$K"
for who in alice bob carol dave eve; do
	openssl genpkey -algorithm ed25519 -out "$K/$who.key" 2>/dev/null &&
		openssl pkey -in "$K/$who.key" -pubout -out "$K/$who.pub" 2>/dev/null ||
		{ bad "openssl genpkey for $who"; finish; }
done

# Mon 2026-11-30, the window is 09:00-17:00 Europe/Berlin (CET, UTC+1).
OPEN=$(date -u -d '2026-11-30 12:00:00' +%s)    # 13:00 in Berlin
CLOSED=$(date -u -d '2026-11-30 17:30:00' +%s)  # 18:30 in Berlin
export HOTFIX_POLICY_NOW=$T/now
echo "$OPEN" >"$T/now"

cat >"$T/policy.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Policy
identities:
  - {name: alice, key: keys/alice.pub, roles: [operator, approver]}
  - {name: bob,   key: keys/bob.pub,   roles: [approver]}
  - {name: carol, key: keys/carol.pub, roles: [approver]}
  - {name: dave,  key: keys/dave.pub,  roles: [admin]}
clusters:
  - match: "redis://127.0.0.1:*"
    approvals: 2
    windows:
      - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", tz: Europe/Berlin}
    emergency: [admin]
YAML
P="--policy $T/policy.yaml"
as() { local who=$1; shift; hf $P --sign-key "$K/$who.key" "$@"; }

test_begin 'a bad policy is refused with FILE:LINE:COL, exit 2'
sed 's/roles: \[approver\]}/roles: [approverr]}/' "$T/policy.yaml" >"$T/bad-role.yaml"
expect_exit 2 "unknown role" hf policy check "$T/bad-role.yaml"
check "the error names file, line, column and the role" \
	contains "$T/err" "bad-role.yaml:5:[0-9]*: unknown role 'approverr'"
sed 's/tz: Europe\/Berlin/tz: Europe\/Berlinn/' "$T/policy.yaml" >"$T/bad-tz.yaml"
expect_exit 2 "unknown time zone, with any command" hf --policy "$T/bad-tz.yaml" history
check "the error names the time zone" contains "$T/err" "bad-tz.yaml:12:[0-9]*: unknown time zone"
sed 's/to: "17:00"/to: "25:00"/; s/\[mon, tue/[mon, tuesday/' "$T/policy.yaml" >"$T/bad-day.yaml"
expect_exit 2 "unknown day" hf policy check "$T/bad-day.yaml"
check "the error names the day" contains "$T/err" "unknown day 'tuesday'"
expect_exit 0 "the good policy checks" hf policy check "$T/policy.yaml"
test_end

sandbox_up pol --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
manifest "$T/m.yaml" policy-fix "      - nodes: 1
        bake: 4s
      - nodes: 100%"
snapshot "$T/before" "$PORTS" $PARAMS
unchanged() { snapshot "$T/now.cfg" "$PORTS" $PARAMS && test_cmp "$T/before" "$T/now.cfg"; }
no_run() { [ "$(hf --json history | jq length)" = 0 ]; }

test_begin 'plan says what the policy asks, and that there is none without it'
expect_exit 0 "plan without policy" hf plan "$T/m.yaml" --cluster "$SEED"
check "plan says there is no policy" contains "$T/out" "policy: none: anyone who can reach"
check "plan shows the plan digest and topology hash" contains "$T/out" "plan digest [0-9a-f]\{12\}  topology [0-9a-f]\{12\}"
expect_exit 0 "plan with the policy" hf $P plan "$T/m.yaml" --cluster "$SEED"
check "plan shows the approvals needed" contains "$T/out" "approvals: 2"
check "plan shows the window open now" contains "$T/out" "now: open"
expect_exit 0 "plan --json" hf $P --json plan "$T/m.yaml" --cluster "$SEED"
check "plan --json has digest, topology and policy" json_true "$T/out" \
	'(.plan_digest | length) == 64 and (.topology_hash | length) == 64 and .policy.approvals == 2'
test_end

test_begin 'apply is refused without a key, without approvals, with the author'"'"'s own (exit 5, nothing changed)'
expect_exit 5 "apply without --sign-key" hf $P apply "$T/m.yaml" --cluster "$SEED" --yes
check "it asks who applies" contains "$T/err" "sign-key"
expect_exit 5 "approve by bob, an approver, as an operator applies" \
	as bob apply "$T/m.yaml" --cluster "$SEED" --yes
check "bob may not apply" contains "$T/err" "bob (role approver) may not apply"
expect_exit 5 "apply by alice without approvals" as alice apply "$T/m.yaml" --cluster "$SEED" --yes
check "it says 2 approvals are needed" contains "$T/err" "needs 2 approval(s)"
expect_exit 0 "alice approves her own change" \
	as alice approve "$T/m.yaml" --cluster "$SEED" --reason mine --out "$T/alice.approval"
expect_exit 5 "apply by alice with her own approval" \
	as alice apply "$T/m.yaml" --cluster "$SEED" --yes --approval "$T/alice.approval"
check "the author's approval does not count" contains "$T/err" "alice is the author of this apply"
check "no node changed" unchanged
check "no run was journaled" no_run
test_end

test_begin 'approvals whose plan drifted are named and refused (exit 5)'
expect_exit 0 "bob approves" as bob approve "$T/m.yaml" --cluster "$SEED" --reason ok --out "$T/bob.approval"
expect_exit 0 "carol approves" as carol approve "$T/m.yaml" --cluster "$SEED" --out "$T/carol.approval"
check "the approval is signed JSON over the digests" json_true "$T/bob.approval" \
	'.approver == "bob" and (.signature | length) == 128 and (.plan_digest | length) == 64'
rcli -p "$((BASE + 1))" CONFIG SET timeout 17 >/dev/null
expect_exit 5 "apply after a node changed by hand" as alice apply "$T/m.yaml" --cluster "$SEED" \
	--yes --approval "$T/bob.approval" --approval "$T/carol.approval"
check "bob's approval is void: the plan changed, on that node" \
	contains "$T/err" "bob's approval does not count: the plan changed since it was signed: approved '127.0.0.1:$((BASE + 1)) .*timeout: \"0\""
check "carol's as well" contains "$T/err" "carol's approval does not count"
check "the node's hand-made value is left alone" test "$(cfg $((BASE + 1)) timeout)" = 17
rcli -p "$((BASE + 1))" CONFIG SET timeout 0 >/dev/null
check "no other node changed" unchanged
check "no run was journaled" no_run
sed 's/bob/mallory/' "$T/bob.approval" >"$T/forged.approval"
expect_exit 5 "a forged approval" as alice apply "$T/m.yaml" --cluster "$SEED" --yes \
	--approval "$T/forged.approval" --approval "$T/carol.approval"
check "it is no identity" contains "$T/err" "'mallory' is no identity of the policy"
test_end

test_begin 'two approvals: the run pauses when the window closes mid-run and goes on when it opens'
as alice apply "$T/m.yaml" --cluster "$SEED" --yes --approval "$T/bob.approval" \
	--approval "$T/carol.approval" >"$T/bg.out" 2>&1 &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_for "the first wave's bake" 30 grep -q "baking" "$T/bg.out"
echo "$CLOSED" >"$T/now"
run=$(last_run)
paused() { hf --json status "$run" >"$T/st.json" && json_true "$T/st.json" \
	'.state == "paused" and (.note | test("outside the maintenance window"))' >/dev/null; }
wait_for "the run to pause outside the window" 30 paused
check "the pause says until when the window is closed" json_true "$T/st.json" \
	'.note | test("opens Tue 2026-12-01 09:00 CET")'
check "status --json says until when, for machines" json_true "$T/st.json" \
	'.paused_until == "2026-12-01T08:00:00Z" and .paused_until_ms == 1796112000000'
expect_exit 0 "alice asks for a pause meanwhile (the window decides; the request is audited)" \
	as alice pause "$run"
# A pause not yet dropped when the window opens would be obeyed: continue.
expect_exit 0 "and for a continue" as alice continue "$run"
check "the apply process still drives it" kill -0 "$APPLY"
changed=0
for p in $PORTS; do [ "$(cfg "$p" timeout)" = 300 ] && changed=$((changed + 1)); done
check "only the canary holds the hotfix while paused ($changed)" test "$changed" = 1
echo "$OPEN" >"$T/now"
wait "$APPLY"
rc=$?
check "the apply goes on by itself and promotes (exit $rc)" test "$rc" = 0
expect_exit 0 "status" hf --json status "$run"
check "the run is promoted" json_true "$T/out" '.state == "promoted"'
check "the actor and the approvers are recorded" json_true "$T/out" \
	'any(.events[]; .kind == "policy" and (.message | test("apply by alice .*approved by bob, carol")))'
check "the window's pause and its end are events" json_true "$T/out" \
	'any(.events[]; .kind == "window" and (.message | test("window is open")))'
test_end

test_begin 'rollback: no window, no approval, but an identity'
echo "$CLOSED" >"$T/now"
expect_exit 5 "rollback without a key" hf $P rollback "$run"
expect_exit 0 "rollback by bob (approver) outside the window" as bob rollback "$run"
check "every node is back" unchanged
expect_exit 0 "status" hf --json status "$run"
check "the rollback's actor is recorded" json_true "$T/out" \
	'any(.events[]; .kind == "policy" and (.message | test("rollback by bob")))'
test_end

test_begin '--emergency by an allowed role overrides window and approvals, recorded'
expect_exit 5 "alice (operator) may not use --emergency" \
	as alice apply "$T/m.yaml" --cluster "$SEED" --yes --emergency --reason INC-1
check "it names the roles that may" contains "$T/err" "may not use --emergency on cluster 'redis://127.0.0.1:\*' (allowed: admin)"
expect_exit 2 "--emergency needs --reason" as dave apply "$T/m.yaml" --cluster "$SEED" --yes --emergency
expect_exit 0 "dave (admin) applies outside the window without approvals" \
	as dave apply "$T/m.yaml" --cluster "$SEED" --yes --emergency --reason "INC-1 sessions dropped"
run=$(last_run)
expect_exit 0 "status" hf status "$run"
check "status shows the emergency, its actor and reason" \
	contains "$T/out" "emergency override by dave: INC-1 sessions dropped"
expect_exit 0 "rollback by dave" as dave rollback "$run"
check "every node is back" unchanged
test_end

test_begin 'flag set follows apply'"'"'s rules; flag kill is an operator'"'"'s, without approvals or windows'
echo "$OPEN" >"$T/now"
printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}\n' >"$T/flags.json"
mkdir -p "$T/elsewhere" && cp "$T/flags.json" "$T/elsewhere/flags.json"
expect_exit 5 "flag set by alice without approvals" as alice flag set "$T/flags.json" --cluster "$SEED" --yes
check "it says 2 approvals are needed" contains "$T/err" "needs 2 approval(s)"
expect_exit 0 "bob approves the flag set (his copy of the file)" as bob approve --flag-set \
	"$T/elsewhere/flags.json" --cluster "$SEED" --reason ok --out "$T/fbob.approval"
expect_exit 0 "carol approves the flag set" \
	as carol approve --flag-set "$T/flags.json" --cluster "$SEED" --out "$T/fcarol.approval"
expect_exit 0 "alice sets the flags with both approvals" as alice flag set "$T/flags.json" \
	--cluster "$SEED" --yes --approval "$T/fbob.approval" --approval "$T/fcarol.approval"
echo "$CLOSED" >"$T/now"
expect_exit 2 "a kill switch under a policy needs --reason" \
	as alice flag kill ui --cluster "$SEED" --yes
expect_exit 5 "bob (approver) may not pull the kill switch" \
	as bob flag kill ui --cluster "$SEED" --yes --reason INC-2
expect_exit 2 "flag kill takes no approval" as alice flag kill ui --cluster "$SEED" --yes \
	--reason INC-2 --approval "$T/fbob.approval"
expect_exit 0 "alice (operator) kills the flag outside the window, without approvals" \
	as alice flag kill ui --cluster "$SEED" --yes --reason "INC-2 checkout broken"
expect_exit 0 "status" hf --json status "$(last_run)"
check "the kill switch, its actor and reason are an event" json_true "$T/out" \
	'.state == "promoted" and any(.events[]; .kind == "kill" and (.message | test("kill switch by alice: INC-2")))'
test_end

test_begin 'the audit trail names actor, role, approvals and the emergency'
expect_exit 0 "audit export" hf audit export --jsonl
check "alice's apply: her role and both approvers, the plan digest approvals sign" json_true "$T/out" \
	'.[] | select(.action == "apply" and .outcome == "started" and .actor == "alice" and (.why | test("config hotfix"))) |
	 (.role | test("operator")) and .approvals == "bob, carol" and (.plan_digest | length) == 64' --slurp
check "bob's rollback with his role" json_true "$T/out" \
	'any(.[]; .action == "rollback" and .actor == "bob" and .role == "approver")' --slurp
check "dave's emergency with its reason" json_true "$T/out" \
	'any(.[]; .action == "apply" and .actor == "dave" and .why == "emergency override: INC-1 sessions dropped")' --slurp
check "alice's pause request with her role" json_true "$T/out" \
	'any(.[]; .action == "pause" and .outcome == "requested" and .actor == "alice" and (.role | test("operator")))' --slurp
check "alice's flag set with both approvers" json_true "$T/out" \
	'any(.[]; .action == "apply" and .actor == "alice" and (.why // "" | test("flag set flags.json")) and .approvals == "bob, carol")' --slurp
check "alice's kill switch, named as one" json_true "$T/out" \
	'any(.[]; .action == "apply" and .actor == "alice" and (.why // "" | test("^kill switch .*flag kill ui: INC-2")))' --slurp
expect_exit 0 "audit verify" hf audit verify
test_end

finish
