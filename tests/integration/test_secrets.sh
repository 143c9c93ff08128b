#!/usr/bin/env bash
# Credentials (issue 13): a password-protected sandbox reached with the
# password given each way — in a URI on the command line (accepted, with
# a warning that it shows in ps), --password-file, $HOTFIX_PASSWORD_FILE,
# $HOTFIX_PASSWORD, $REDISCLI_AUTH. A rollback of the journaled (redacted)
# URI without credentials fails saying how to give them; a wrong password
# says which one was wrong. Then the password is looked for, bytes and
# all, in every file hotfix wrote under its state directory (journal and
# WAL, audit key, locks, reports), in everything hotfix printed, and in
# what a --notify webhook received: it must be nowhere.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

PW='s3cr3t-XYZZY-pw'
PARAMS="timeout maxmemory-policy"
CAP=$T/cap        # a copy of the output of every hotfix command below
mkdir -p "$CAP"
ncap=0

# run_cap CODE DESCRIPTION COMMAND...: expect_exit, keeping its output.
run_cap() {
	expect_exit "$@"
	ncap=$((ncap + 1))
	cp "$T/out" "$CAP/$ncap.out"
	cp "$T/err" "$CAP/$ncap.err"
}

# The sandbox's own output names its seed, password included (that is how
# a user learns it); it is the only output of hotfix not searched below.
sandbox_up pw --shards 3 --replicas 1 --password "$PW" || finish
PLAIN=redis://127.0.0.1:$BASE
ports=$(ports_of "$BASE" 6)
rcli() { redis-cli -h 127.0.0.1 --no-auth-warning -a "$PW" "$@"; }
snapshot "$T/before" "$ports" $PARAMS
manifest "$T/fix.yaml" secrets-timeout

python3 "$HERE/webhook_receiver.py" "$T/hook.port" "$T/hook.log" ok >"$T/hook.out" 2>&1 &
EXTRA_PIDS+=("$!")
wait_for "the webhook receiver" 10 test -s "$T/hook.port" || finish
: >>"$T/hook.log"
URL="http://127.0.0.1:$(cat "$T/hook.port")/hook"

printf '%s\n' "$PW" >"$T/password"
chmod 600 "$T/password"

test_begin 'a password in a URI on the command line works, with one warning'
run_cap 0 'plan --cluster redis://:PW@...' hf plan "$T/fix.yaml" --cluster "redis://:$PW@127.0.0.1:$BASE"
check 'the plan lists the nodes' test "$(grep -c 'timeout: ' "$T/out")" = 6
check 'it warns that the password shows in ps' contains "$T/err" 'warning: a password in a cluster URI on the command line shows in ps'
check 'the warning names the other ways' contains "$T/err" '--password-file FILE, HOTFIX_PASSWORD or REDISCLI_AUTH'
check 'it warns once' test "$(grep -c warning "$T/err")" = 1
check 'the warning does not repeat the password' lacks "$T/err" "$PW"
run_cap 0 '--cluster=URI' hf cluster show "--cluster=redis://:$PW@127.0.0.1:$BASE"
check 'warned for --cluster=URI too' contains "$T/err" 'shows in ps'
test_end

test_begin 'no warning for --password-file, the environment or HOTFIX_CLUSTER'
run_cap 0 'plan --password-file' hf --password-file "$T/password" plan "$T/fix.yaml" --cluster "$PLAIN"
check 'no warning' lacks "$T/err" warning
run_cap 0 'HOTFIX_CLUSTER with the password' env HOTFIX_CLUSTER="redis://:$PW@127.0.0.1:$BASE" \
	"$HOTFIX" --state "$STATE" cluster show
check 'no warning for a URI from the environment' lacks "$T/err" warning
chmod 644 "$T/password"
run_cap 0 'a password file others may read' hf --password-file "$T/password" cluster show --cluster "$PLAIN"
check 'is warned about' contains "$T/err" 'may be read by its group or others'
chmod 600 "$T/password"
run_cap 2 'a password file that does not exist' hf --password-file "$T/nope" cluster show --cluster "$PLAIN"
check 'the error names it' contains "$T/err" "cannot read the password file $T/nope"
test_end

test_begin 'apply with --password-file and --notify; status, history, report'
run_cap 0 'apply' hf --json --password-file "$T/password" apply "$T/fix.yaml" --cluster "$PLAIN" --yes --notify "$URL"
run=$(json_get "$T/out" .run)
check 'promoted' json_true "$T/out" '.state == "promoted"'
check 'every node holds timeout 300' test "$(for p in $ports; do cfg "$p" timeout; done | sort -u)" = 300
check 'the journal records the URI without the password' json_true <(hf --json status "$run") ".cluster == \"$PLAIN\""
run_cap 0 'status' hf status "$run"
run_cap 0 'status --json' hf --json status "$run"
run_cap 0 'history' hf history
run_cap 0 'report' hf report "$run"
run_cap 0 'report --format html' hf report "$run" --format html
cp "$T/out" "$STATE/report.html"
check 'the webhook got the run' wait_for 'the promoted message' 10 grep -q promoted "$T/hook.log"
test_end

test_begin 'rollback of the journaled URI: without credentials it says how to give them'
run_cap 1 'rollback without credentials' env -u HOTFIX_PASSWORD -u REDISCLI_AUTH -u HOTFIX_PASSWORD_FILE \
	"$HOTFIX" --state "$STATE" rollback "$run"
check 'the error says NOAUTH and how to give the password' \
	contains "$T/err" "127.0.0.1:$BASE needs a password (NOAUTH): give it with --password-file FILE, HOTFIX_PASSWORD or REDISCLI_AUTH"
check 'nothing was rolled back' test "$(cfg "$BASE" timeout)" = 300
run_cap 1 'rollback with a wrong password' env HOTFIX_PASSWORD=not-the-pw "$HOTFIX" --state "$STATE" rollback "$run"
check 'the error says the password is wrong and where it came from' \
	contains "$T/err" "wrong password for 127.0.0.1:$BASE (WRONGPASS, the password of HOTFIX_PASSWORD)"
check 'the error does not repeat the wrong password' lacks "$T/err" not-the-pw
run_cap 0 'rollback with REDISCLI_AUTH' env REDISCLI_AUTH="$PW" "$HOTFIX" --state "$STATE" rollback "$run"
snapshot "$T/after" "$ports" $PARAMS
check 'the before-state is back' test_cmp "$T/before" "$T/after"
test_end

test_begin 'HOTFIX_PASSWORD and HOTFIX_PASSWORD_FILE; --password-file before the environment'
run_cap 0 'apply with HOTFIX_PASSWORD' env HOTFIX_PASSWORD="$PW" "$HOTFIX" --state "$STATE" apply "$T/fix.yaml" --cluster "$PLAIN" --yes
run_cap 0 'rollback last with HOTFIX_PASSWORD_FILE' env HOTFIX_PASSWORD_FILE="$T/password" \
	"$HOTFIX" --state "$STATE" rollback last
snapshot "$T/after2" "$ports" $PARAMS
check 'the before-state is back' test_cmp "$T/before" "$T/after2"
run_cap 0 '--password-file wins over a wrong HOTFIX_PASSWORD' env HOTFIX_PASSWORD=wrong \
	"$HOTFIX" --state "$STATE" --password-file "$T/password" cluster show --cluster "$PLAIN"
run_cap 0 'HOTFIX_PASSWORD wins over a wrong REDISCLI_AUTH' env HOTFIX_PASSWORD="$PW" REDISCLI_AUTH=wrong \
	"$HOTFIX" --state "$STATE" cluster show --cluster "$PLAIN"
run_cap 0 'flag set with REDISCLI_AUTH' env REDISCLI_AUTH="$PW" "$HOTFIX" --state "$STATE" \
	flag set "$HERE/../../examples/flags.json" --cluster "$PLAIN" --yes
test_end

test_begin 'the password is nowhere hotfix wrote or printed'
check 'the search finds the password where it is (the sandbox'"'"'s redis.conf)' \
	grep -r -a -q -- "$PW" "$T/pw"
check 'the state directory has the journal' test -s "$STATE/journal.db"
check 'the webhook received messages' test -s "$T/hook.log"
check 'no file under the state directory holds it' not grep -r -a -l -- "$PW" "$STATE"
check 'no output of hotfix holds it' not grep -r -a -l -- "$PW" "$CAP"
check 'no webhook body holds it' not grep -a -l -- "$PW" "$T"/hook.log*
check 'the journal (and its WAL) lacks it' journal_lacks "$PW"
test_end
finish
