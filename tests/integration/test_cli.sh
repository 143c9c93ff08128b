#!/usr/bin/env bash
# The command line: confirmation on a terminal, refusal without one, the
# sandbox as the default cluster, --json documents, --help everywhere.
. "$(dirname "$0")/lib.sh"

sandbox_up cli --shards 3 --replicas 1 || finish
manifest "$T/m.yaml" cli-test

test_begin 'without a terminal and without --yes, apply is refused'
expect_exit 5 "apply without a terminal and without --yes is refused" \
	hf apply "$T/m.yaml" --cluster "$SEED" </dev/null
check "the refusal says why" contains "$T/err" "no terminal to ask on; pass --yes"
check "no node changed" test "$(cfg "$BASE" timeout)" = 0
test_end

# on_tty ANSWER OUTPUT-FILE ARGUMENTS: hotfix on a pseudo-terminal from
# script(1), ANSWER typed on it; ARGUMENTS is one string, quoted for sh.
on_tty() {
	printf '%s\n' "$1" | script -qec "'$HOTFIX' --state '$STATE' $3" /dev/null >"$2" 2>&1
}

test_begin 'on a terminal, apply shows the plan and asks'
on_tty n "$T/tty-no.out" "apply '$T/m.yaml' --cluster '$SEED'"
check "on a terminal, apply shows the plan and asks" grep -q 'apply hotfix cli-test v1 to 6 node(s) in 3 wave(s)? \[y/N\]' "$T/tty-no.out"
check "answering no applies nothing" test "$(cfg "$BASE" timeout)" = 0
check "answering no says so" grep -q 'not confirmed' "$T/tty-no.out"
on_tty y "$T/tty-yes.out" "apply '$T/m.yaml' --cluster '$SEED'"
check "answering yes applies the hotfix" test "$(cfg "$BASE" timeout)" = 300
check "answering yes promotes the run" grep -q 'promoted' "$T/tty-yes.out"
test_end

# On a terminal, apply redraws a progress block under the events; off a
# terminal it prints one line per event and no block.
test_begin 'a progress block on a terminal, one line per event off it'
check "on a terminal, apply shows the waves' progress" grep -q 'wave 3/3 \[####################\] 6/6 node(s) promoted' "$T/tty-yes.out"
check "on a terminal, apply shows the node table" grep -q 'NODE  *ROLE  *SHARD STEP  *HEALTH' "$T/tty-yes.out"
expect_exit 0 "status shows the same progress" hf status last
check "status has the progress line" contains "$T/out" 'wave 3/3 \[####################\] 6/6 node(s) promoted'
expect_exit 0 "rollback before the next case" hf rollback last
expect_exit 0 "apply off a terminal" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "off a terminal, no progress block is drawn" lacks "$T/out" 'NODE  *ROLE  *SHARD STEP'
check "off a terminal, one line per event" grep -q '^\[ *[0-9.]*s\] run  *promoted' "$T/out"
expect_exit 0 "rollback" hf rollback last
expect_exit 0 "history --json" hf --json history
check "the journal tells both runs apart" json_true "$T/out" '[.[] | select(.state == "rolled_back")] | length == 2'
test_end

test_begin 'with no --cluster, the sandbox of the state directory is the cluster'
expect_exit 0 "sandbox up in the state directory" hf sandbox up --base-port "$(free_base 6)"
SANDBOXES+=("$STATE/sandbox")
cp "$T/out" "$T/default-up.out"
expect_exit 0 "cluster show without --cluster uses the sandbox" hf cluster show
check "it shows the default sandbox's seed" contains "$T/out" "$(tail -n 1 "$T/default-up.out")"
expect_exit 0 "sandbox status" hf sandbox status
expect_exit 0 "sandbox down" hf sandbox down
expect_exit 2 "plan without --cluster and without a sandbox says what to do" hf plan "$T/m.yaml"
check "the message names --cluster" contains "$T/err" "use --cluster"
test_end

test_begin '--json documents'
expect_exit 0 "cluster show --json" hf --json cluster show --cluster "$SEED"
check "cluster show --json parses and lists 6 nodes" json_true "$T/out" \
	'(.nodes | length) == 6 and ([.nodes[].role] | unique) == ["primary", "replica"]'
expect_exit 0 "plan --json" hf --json plan "$T/m.yaml" --cluster "$SEED"
check "plan --json parses, with every node's diff and the waves" json_true "$T/out" \
	'.targets == 6 and (.steps | length) == 6 and [.waves[].nodes] == [1, 2, 3]'
expect_exit 0 "rollback --json" hf --json rollback last
check "rollback --json has run and state" json_true "$T/out" \
	'.state == "rolled_back" and (.run | type) == "string" and .run != ""'
expect_exit 0 "history --json" hf --json history
check "history --json has run, hotfix, version, state per run" json_true "$T/out" \
	'length > 0 and all(.[]; has("run") and has("hotfix") and has("version") and has("state"))'
test_end

test_begin '--help on every command, unknown commands and options refused'
for c in sandbox cluster validate plan apply rollback resume abort pause continue status history report; do
	expect_exit 0 "$c --help" hf "$c" --help
done
expect_exit 2 "an unknown command is invalid input" hf frobnicate
expect_exit 2 "an unknown option is invalid input" hf plan "$T/m.yaml" --wavez 3
expect_exit 2 "rollback of an unknown run is invalid input" hf rollback no-such-run
test_end

finish
