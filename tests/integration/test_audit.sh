#!/usr/bin/env bash
# The audit trail: every action is a record in a hash chain with signed
# checkpoints; 'hotfix audit verify' finds any changed byte, removed,
# swapped or inserted record (naming it); 'audit export --jsonl' gives one
# JSON object per record; no change runs without its record (fail closed).
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"

sandbox_up audit --shards 2 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 4)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" audited

all_before() {
	snapshot "$T/now" "$PORTS" $PARAMS
	test_cmp "$T/before" "$T/now"
}

# sql FILE SQL: run SQL on the journal of a copy of the state directory.
copy_state() { rm -rf "$T/copy" && cp -r "$STATE" "$T/copy"; }
sql_copy() { sqlite3 "$T/copy/journal.db" "$1"; }
verify_copy() { "$HOTFIX" --state "$T/copy" audit verify "$@"; }

test_expect_success 'an empty journal verifies and exports nothing' '
	"$HOTFIX" --state "$T/empty" audit verify >"$T/out" &&
	contains "$T/out" "0 record(s)" &&
	test -z "$("$HOTFIX" --state "$T/empty" audit export --jsonl)"
'

test_begin 'apply and rollback are records of one intact chain'
expect_exit 0 "apply" hf apply "$T/m.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
expect_exit 0 "rollback" hf rollback "$RUN"
check "every node back to before" all_before
expect_exit 0 "audit verify" hf audit verify
check "verify says intact" contains "$T/out" "audit trail intact: 4 record(s)"
expect_exit 0 "audit verify --cluster" hf audit verify --cluster "$SEED"
check "the cluster's witness agrees" contains "$T/out" "witness agrees"
expect_exit 0 "audit export --jsonl" hf audit export --jsonl
cp "$T/out" "$T/export"
check "one JSON object per record" test "$(jq -c 'select(type == "object")' "$T/export" | wc -l)" = 4
check "apply started, promoted; rollback started, rolled back" test \
	"$(jq -r '"\(.action) \(.outcome)"' "$T/export" | tr '\n' ,)" = \
	"apply started,apply promoted,rollback started,rollback rolled_back,"
check "records name the run, the manifest, the plan and the OS user" test \
	"$(jq -r --arg run "$RUN" 'select(.run_id == $run and (.manifest_sha256 | length) == 64
		and .os_user != null) | .seq' "$T/export" | wc -l)" = 4
check "the apply's record holds the plan's digest" \
	test "$(jq -r 'select(.seq == 1) | .plan_digest | length' "$T/export")" = 64
check "each record chains to the one before" test \
	"$(jq -s '[range(1; length) as $i | .[$i].prev_hash == .[$i - 1].hash] | all' "$T/export")" = true
check "the state directory's key is private" test "$(stat -c %a "$STATE/audit.key")" = 600
test_end

test_begin 'any single changed byte of a record is found and named'
n=0
for col in ts_ms os_user action why cluster run_id manifest_sha256 plan_digest outcome prev_hash hash; do
	copy_state
	# One character of the field, the second, replaced by another.
	sql_copy "UPDATE audit SET $col = substr($col, 1, 1) ||
		CASE substr($col, 2, 1) WHEN 'x' THEN 'y' ELSE 'x' END || substr($col, 3) WHERE seq = 1"
	if verify_copy >"$T/v.out" 2>"$T/v.err"; then
		bad "a changed byte of $col went unnoticed"
		test_show "$T/v.out"
	elif ! grep -q "broken at record 1:" "$T/v.err"; then
		bad "a changed $col: the error does not name record 1"
		test_show "$T/v.err"
	else
		n=$((n + 1))
	fi
done
check "11 columns: each change found ($n)" test "$n" = 11
copy_state
sql_copy "UPDATE audit SET why = 'another reason' WHERE seq = 3"
expect_exit 1 "a rewritten reason" verify_copy
check "names record 3" contains "$T/err" "broken at record 3: record 3 was changed"
test_end

test_begin 'a removed, swapped or inserted record is found'
copy_state
sql_copy "DELETE FROM audit WHERE seq = 2"
expect_exit 1 "a removed record" verify_copy
check "names the missing record" contains "$T/err" "record 2 is missing"
copy_state
sql_copy "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;
	UPDATE audit SET seq = 3 WHERE seq = 100"
expect_exit 1 "two swapped records" verify_copy
check "names the first of them" contains "$T/err" "at record 2"
copy_state
sql_copy "UPDATE audit SET seq = -(seq + 1) WHERE seq >= 2; UPDATE audit SET seq = -seq WHERE seq < 0;
	INSERT INTO audit (seq, ts_ms, action, outcome, prev_hash, hash)
	SELECT 2, ts_ms, 'apply', 'promoted', hash, hash FROM audit WHERE seq = 1"
expect_exit 1 "an inserted record" verify_copy
check "names the inserted record" contains "$T/err" "at record 2"
copy_state
sql_copy "UPDATE audit_checkpoints SET ts_ms = ts_ms + 1"
expect_exit 1 "a changed checkpoint" verify_copy
check "its signature does not verify" contains "$T/err" "signature does not verify"
test_end

test_begin 'the end of the chain removed: the checkpoint, then the cluster, tell'
copy_state
sql_copy "DELETE FROM audit WHERE seq = 4"
expect_exit 1 "the last record removed" verify_copy
check "the checkpoint sealed it" contains "$T/err" "record 4 is missing"
copy_state
sql_copy "DELETE FROM audit WHERE seq = 4; DELETE FROM audit_checkpoints WHERE seq = 4"
expect_exit 0 "the last record and its checkpoint removed: the journal alone cannot tell" verify_copy
expect_exit 1 "... the cluster's witness can" verify_copy --cluster "$SEED"
check "names the missing record" contains "$T/err" "record 4 is missing"
test_end

test_begin 'fail closed: no change without the audit record'
sqlite3 "$STATE/journal.db" "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit
	BEGIN SELECT RAISE(ABORT, 'audit disk full'); END;"
expect_exit 1 "apply with an audit trail that refuses records" \
	hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "says the record was not committed" contains "$T/err" "audit record not committed"
check "no node changed" all_before
check "the run did not start" test "$(hf --json history | jq -r '.[0].state')" = failed
sqlite3 "$STATE/journal.db" "DROP TRIGGER refuse_audit"
check "the lease was given up" test -z "$(rcli -p "$BASE" -c EXISTS 'hotfix:lease:{hotfix}' | grep 1)"
expect_exit 0 "apply once records go in again" hf apply "$T/m.yaml" --cluster "$SEED" --yes
expect_exit 0 "rollback" hf rollback "$(last_run)"
expect_exit 0 "the chain is intact" hf audit verify
test_end

finish
