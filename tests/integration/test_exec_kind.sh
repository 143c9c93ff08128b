#!/usr/bin/env bash
# The 'exec' kind on an inventory (--cluster exec:FILE) of a real sandbox's
# redis-server nodes, driven by redis-cli templates: waves, before_primary,
# the journal's events (without the environment's secrets), exact rollback
# from the captured state, kill -9 then resume, a conflict, a refusing
# check, and templates that are refused with FILE:LINE:COL.
. "$(dirname "$0")/lib.sh"

sandbox_up ex --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
{
	printf 'apiVersion: hotfix/v1\nkind: Inventory\nnodes:\n'
	i=0
	for p in $PORTS; do
		role=primary
		[ "$i" -ge 3 ] && role=replica
		printf '  - {id: n%d, host: 127.0.0.1, port: %d, group: s%d, role: %s, labels: {slot: "%d"}}\n' \
			$((i + 1)) "$p" $((i % 3 + 1)) "$role" "$i"
		i=$((i + 1))
	done
} >"$T/inv.yaml"
CLUSTER="exec:$T/inv.yaml"

# exec_manifest FILE [EXTRA-LINES]: a timeout hotfix through redis-cli.
exec_manifest() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: exec-timeout, version: 1, owner: test@example.com, problem: exec kind test}
spec:
  changes:
    - exec:
        check: redis-cli -h {host} -p {port} PING | grep -q PONG
        capture: redis-cli -h {host} -p {port} CONFIG GET timeout | sed -n 2p
        apply: >-
          test "\$(printf %s "\$EXEC_SECRET" | wc -c)" = 6 &&
          redis-cli -h {host} -p {port} CONFIG SET timeout 300 | grep -q OK
        verify: >-
          v=\$(redis-cli -h {host} -p {port} CONFIG GET timeout | sed -n 2p);
          if [ {side} = after ]; then [ "\$v" = 300 ]; else [ "\$v" = "\$(cat)" ]; fi
        revert: redis-cli -h {host} -p {port} CONFIG SET timeout "\$(cat)" | grep -q OK
        before_primary: echo {id} {role} {labels.slot} >> "$T/primaries.log"
        timeout: 10s
${2:-}
  rollout:
    order: replicas-first
    waves:
      - nodes: 1
      - nodes: 100%
  guard: none
YAML
}
exec_manifest "$T/m.yaml"
export EXEC_SECRET=s3cret
timeouts() { local p; for p in $PORTS; do cfg "$p" timeout; done | tr '\n' ' '; }
rcli -p "$((BASE + 3))" CONFIG SET timeout 42 >/dev/null   # one node with its own value
BEFORE=$(timeouts)

test_begin 'plan, apply in waves with before_primary, rollback to each node'"'"'s own value'
expect_exit 0 "plan" hf plan "$T/m.yaml" --cluster "$CLUSTER"
check "it shows the command for each node, values quoted" contains "$T/out" \
	"redis-cli -h '127.0.0.1' -p '$BASE' CONFIG SET timeout 300"
check "and the engine" contains "$T/out" "exec engine, 3 group(s), 6 node(s)"
expect_exit 0 "apply" hf apply "$T/m.yaml" --cluster "$CLUSTER" --yes
check "every node holds 300" test "$(timeouts)" = "300 300 300 300 300 300 "
check "before_primary ran once for each primary, with its placeholders" test \
	"$(sort "$T/primaries.log" | tr '\n' ,)" = "n1 primary 0,n2 primary 1,n3 primary 2,"
run=$(last_run)
expect_exit 0 "status" hf status "$run"
check "each command is journaled with its exit status" contains "$T/out" \
	'exec *apply on n1: `test "$(printf %s "$EXEC_SECRET" | wc -c)" = 6 && redis-cli -h {host} -p {port} CONFIG SET timeout 300 | grep -q OK` exit 0'
check "the capture's output too" contains "$T/out" 'capture on n4: .* exit 0 in [0-9]* ms: 42$'
check "the secret is not in the journal" lacks <(sqlite3 "$STATE/journal.db" .dump) s3cret
expect_exit 0 "rollback" hf rollback "$run"
check "every node has its own value back" test "$(timeouts)" = "$BEFORE"
test_end

test_begin 'kill -9 of the apply, then resume finishes it; rollback'
expect_exit 137 "apply killed at its third apply" hf_crash_at apply:3 apply "$T/m.yaml" \
	--cluster "$CLUSTER" --yes
run=$(last_run)
expect_exit 0 "resume" hf resume "$run"
check "every node holds 300" test "$(timeouts)" = "300 300 300 300 300 300 "
expect_exit 0 "rollback" hf rollback "$run"
check "every node has its own value back" test "$(timeouts)" = "$BEFORE"
test_end

test_begin 'a node changed by someone else since: a conflict, kept, exit 4'
expect_exit 0 "apply" hf apply "$T/m.yaml" --cluster "$CLUSTER" --yes
run=$(last_run)
rcli -p "$((BASE + 4))" CONFIG SET timeout 77 >/dev/null
expect_exit 4 "the rollback stops at the conflict" hf rollback "$run"
check "n5 keeps what its operator set" test "$(cfg $((BASE + 4)) timeout)" = 77
check "the others are back" test "$(cfg "$BASE" timeout)" = 0
check "the conflict is named" contains "$T/err" "n5 holds neither the hotfix's state nor the before-state"
rcli -p "$((BASE + 4))" CONFIG SET timeout 0 >/dev/null
test_end

test_begin 'a check that refuses stops the apply before anything changes (exit 5)'
exec_manifest "$T/refuse.yaml"
sed -i 's/check: redis-cli .*/check: test {id} != n5 || { echo n5 is draining >\&2; exit 1; }/' "$T/refuse.yaml"
runs_before=$(hf --json history | jq length)
expect_exit 5 "apply" hf apply "$T/refuse.yaml" --cluster "$CLUSTER" --yes
check "it names the node and what the check said" contains "$T/err" "the check on n5 .* refuses: check exited 1: n5 is draining"
check "nothing changed" test "$(timeouts)" = "$BEFORE"
check "no run was journaled" test "$(hf --json history | jq length)" = "$runs_before"
test_end

test_begin 'templates that cannot be right are refused: FILE:LINE:COL, exit 2'
exec_manifest "$T/bad.yaml"
sed -i 's/CONFIG SET timeout 300/CONFIG SET timeout {hots}/' "$T/bad.yaml"
expect_exit 2 "a placeholder that is none" hf validate "$T/bad.yaml"
check "named with its position" contains "$T/err" "bad.yaml:10:[0-9]*: 'apply': {hots} is no placeholder"
exec_manifest "$T/side.yaml"
sed -i 's/CONFIG SET timeout 300/CONFIG SET timeout {side}/' "$T/side.yaml"
expect_exit 2 "{side} outside verify" hf validate "$T/side.yaml"
check "named" contains "$T/err" "{side} is only for 'verify'"
exec_manifest "$T/norevert.yaml"
sed -i '/^        revert:/d' "$T/norevert.yaml"
expect_exit 2 "no revert" hf validate "$T/norevert.yaml"
check "named" contains "$T/err" "norevert.yaml:.*revert"
exec_manifest "$T/shell.yaml"
sed -i 's/| sed -n 2p$/| awk '"'"'NR == 2 {print $1}'"'"' # ${HOME}/' "$T/shell.yaml"
expect_exit 0 "braces of the shell's own are left to it" hf validate "$T/shell.yaml"
test_end

finish
