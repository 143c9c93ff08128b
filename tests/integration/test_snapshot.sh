#!/usr/bin/env bash
# Snapshot readiness (S19): plan shows each primary's persistence;
# 'snapshot: required' takes a fresh BGSAVE on every primary before the
# first wave, and refuses (exit 5, nothing changed) when one fails.
. "$(dirname "$0")/lib.sh"

sandbox_up snap --shards 3 --replicas 1 || finish
PRIMARIES=$(ports_of "$BASE" 3)
saves() { rcli -p "$1" INFO persistence | sed -n 's/^rdb_saves:\([0-9]*\).*/\1/p'; }

manifest "$T/m.yaml" snapshot-test
sed -i 's/^  guard: none/  guard: none\n  snapshot: required/' "$T/m.yaml"

test_begin 'plan shows each primary'\''s persistence'
expect_exit 0 "plan shows persistence" hf plan "$T/m.yaml" --cluster "$SEED"
check "plan says a snapshot is required" contains "$T/out" "persistence (snapshot: required"
check "plan lists each primary's last snapshot" test "$(grep -c -e 'last snapshot ok' -e 'no snapshot since the node started' "$T/out")" = 3
test_end

test_begin 'snapshot: required saves every primary before the first wave'
for p in $PRIMARIES; do echo "$p $(saves "$p")"; done >"$T/saves.before"
expect_exit 0 "apply with snapshot: required" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "apply says every primary has a fresh snapshot" contains "$T/out" "every primary has a fresh snapshot"
fresh=0
while read -r p n; do [ "$(saves "$p")" -gt "$n" ] && fresh=$((fresh + 1)); done <"$T/saves.before"
check "every primary saved once more ($fresh of 3)" test "$fresh" = 3
for p in $PRIMARIES; do check "a dump exists for $p" test -s "$T/snap/$p/dump.rdb"; done
expect_exit 0 "rollback" hf rollback last
test_end

test_begin 'the snapshot is a journaled phase: a run killed right after it resumes without a second one'
for p in $PRIMARIES; do echo "$p $(saves "$p")"; done >"$T/saves.before"
expect_exit 137 "apply killed right after its snapshot" hf_crash_at snapshot:1 apply "$T/m.yaml" --cluster "$SEED" --yes
expect_exit 0 "resume" hf resume last
once=0
while read -r p n; do [ "$(saves "$p")" = $((n + 1)) ] && once=$((once + 1)); done <"$T/saves.before"
check "every primary saved exactly once more ($once of 3)" test "$once" = 3
check "the resumed run went on to every node" test "$(cfg "$((BASE + 1))" timeout)" = 300
expect_exit 0 "rollback" hf rollback last
test_end

test_begin 'a primary that cannot write its snapshot: refused before anything changes'
rm -f "$T/snap/$BASE/dump.rdb"
mkdir "$T/snap/$BASE/dump.rdb"   # the final rename onto it fails
expect_exit 5 "apply refuses when a snapshot fails" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "the refusal names the node and the reason" grep -q "127.0.0.1:$BASE: the snapshot failed" "$T/err"
check "no node changed" test "$(cfg "$((BASE + 1))" timeout)" = 0
expect_exit 0 "history after the refused apply" hf --json history
check "the refused run is journaled as failed, the earlier ones rolled back" json_true "$T/out" \
	'length == 3 and .[0].state == "failed" and .[1].state == "rolled_back" and .[2].state == "rolled_back"'
expect_exit 0 "status of the refused run" hf status last
check "its status says it was refused" grep -q "^state  *failed (refused: snapshot: required" "$T/out"
check "and names the node whose snapshot failed" grep -q "127.0.0.1:$BASE: the snapshot failed" "$T/out"
expect_exit 0 "status --json of the refused run" hf --json status last
check "none of its steps started" json_true "$T/out" '[.steps[] | select(.state != "planned")] | length == 0'
rmdir "$T/snap/$BASE/dump.rdb"
test_end

test_begin 'an invalid snapshot value is bad input'
sed -i 's/^  snapshot: required/  snapshot: always/' "$T/m.yaml"
expect_exit 2 "an invalid snapshot value" hf plan "$T/m.yaml" --cluster "$SEED"
check "names its position" grep -q "m.yaml:20:13: invalid snapshot 'always'" "$T/err"
test_end

finish
