#!/usr/bin/env bash
# Faults and other clusters: a node that stops answering mid-run, a
# failover between apply and rollback, a second apply while a run is in
# progress (pause, continue, abort), a password-protected cluster, and a
# primary with replicas without cluster mode.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"
role_of() { rcli -p "$1" ${PASS:+-a "$PASS" --no-auth-warning} ROLE | head -1; }
# run_state_is RUN STATE: the journal says RUN is in STATE.
run_state_is() { [ "$(hf --json status "$1" | json_get - .state)" = "$2" ]; }
# back_to_before: every node of PORTS holds the values of $T/before.
back_to_before() { snapshot "$T/now" "$PORTS" "$@"; test_cmp "$T/before" "$T/now"; }

# ---- a node stops answering in the middle of a run ----------------------
pid_of_port() { cat "$1/$2/redis.pid"; }
sandbox_up stop --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" stop-test "      - nodes: 1
        bake: 2s
      - nodes: 100%"

# (a) A node of the second wave stops before it is touched: the rollout
# stops, rolls back the canary, and says which node did not answer.
test_begin 'a node of the next wave stops answering: the rollout rolls back'
victim=$((BASE + 1))   # a primary, so it is in the second wave
"$HOTFIX" --state "$STATE" --timeout 400 apply "$T/m.yaml" --cluster "$SEED" --yes >"$T/stop.out" 2>"$T/stop.err" &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the first bake" 30 grep -q 'baking' "$T/stop.out"
kill -STOP "$(pid_of_port "$T/stop" "$victim")"
wait "$pid"
code=$?
kill -CONT "$(pid_of_port "$T/stop" "$victim")"
check "apply whose next node stopped answering fails and rolls back (exit $code)" test "$code" = 1
check "the error names the node that does not answer" grep -q "127.0.0.1:$victim" "$T/stop.err"
check "the error says everything was restored" grep -q "rolled back, every node restored" "$T/stop.err"
check "every node is back at its before-state" back_to_before $PARAMS
test_end

# (b) The canary stops answering after it took the hotfix: the rollback
# cannot reach it, says so (exit 4), and a later rollback finishes it.
test_begin 'the canary stops answering: exit 4, a later rollback finishes'
# The first apply could not give its lease back when the stopped node
# holds the lease's slot: the lease then ends with its TTL.
lease_free() { hf plan "$T/m.yaml" --cluster "$SEED" 2>/dev/null | grep -q '^lease: free'; }
wait_for "the first apply's lease to be free" 30 lease_free
"$HOTFIX" --state "$STATE" --timeout 400 apply "$T/m.yaml" --cluster "$SEED" --yes >"$T/stop2.out" 2>"$T/stop2.err" &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the first bake" 30 grep -q 'baking' "$T/stop2.out"
canary=$(sed -n 's/.*applied and verified on replica 127.0.0.1:\([0-9]*\).*/\1/p' "$T/stop2.out" | head -1)
kill -STOP "$(pid_of_port "$T/stop" "$canary")"
wait "$pid"
code=$?
check "apply whose canary stopped answering exits 4 (exit $code)" test "$code" = 4
check "the error names the canary" grep -q "127.0.0.1:$canary" "$T/stop2.err"
check "the error says what remains" grep -q "rollback of run .* incomplete" "$T/stop2.err"
run=$(last_run)
expect_exit 0 "status names the node left to revert" hf status "$run"
check "status shows the run still rolling back" contains "$T/out" "state     rolling_back"
kill -CONT "$(pid_of_port "$T/stop" "$canary")"
expect_exit 0 "a later rollback finishes it" hf rollback "$run"
check "every node is back at its before-state" back_to_before $PARAMS
test_end
hf sandbox down --dir "$T/stop" >/dev/null 2>&1

# ---- failover between apply and rollback --------------------------------
sandbox_up fo --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
rcli -p "$((BASE + 3))" CONFIG SET timeout 42 >/dev/null   # a replica with its own value
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" failover-test
test_begin 'a failover between apply and rollback: every node restored by node id'
expect_exit 0 "apply before the failover" hf apply "$T/m.yaml" --cluster "$SEED" --yes
run=$(last_run)
replica=""
for p in $PORTS; do [ "$(role_of "$p")" = slave ] && { replica=$p; break; }; done
old_primary=$(rcli -p "$replica" ROLE | sed -n 3p)
rcli -p "$replica" CLUSTER FAILOVER >/dev/null
wait_for "the failover" 30 sh -c "[ \"\$(redis-cli -p $replica ROLE | head -1)\" = master ]"
check "roles swapped: $replica is now a primary" test "$(role_of "$replica")" = master
wait_for "the old primary to follow" 30 sh -c "[ \"\$(redis-cli -p $old_primary ROLE | head -1)\" = slave ]"
expect_exit 0 "rollback after the failover" hf rollback "$run"
check "rollback after a failover restores every node exactly (by node id)" back_to_before $PARAMS
test_end
hf sandbox down --dir "$T/fo" >/dev/null 2>&1

# ---- one active run per cluster; pause, continue, abort ----------------
sandbox_up busy --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
snapshot "$T/before" "$PORTS" $PARAMS
cat >"$T/hz.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: hz, version: 1, owner: o, problem: p}
spec:
  changes:
    - config: {hz: "11"}
  rollout: {waves: [{nodes: 100%}]}
  guard: none
YAML
test_begin 'one active run per cluster; pause, continue, abort'
expect_exit 0 "an earlier hotfix, promoted" hf apply "$T/hz.yaml" --cluster "$SEED" --yes
earlier=$(last_run)
manifest "$T/slow.yaml" slow "      - nodes: 1
        bake: 60s
      - nodes: 100%"
"$HOTFIX" --state "$STATE" apply "$T/slow.yaml" --cluster "$SEED" --yes >"$T/busy.out" 2>"$T/busy.err" &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the bake" 30 grep -q 'baking' "$T/busy.out"
run=$(last_run)
manifest "$T/m.yaml" second
expect_exit 5 "a second apply on the same cluster is refused" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "the refusal names the active run" contains "$T/err" "$run"
expect_exit 5 "a rollback while another process drives the run is refused" hf rollback "$run"
check "the refusal says the run is driven" contains "$T/err" "driven by another hotfix process"
expect_exit 5 "so is a resume" hf resume "$run"
expect_exit 5 "rolling back the earlier run under the unfinished one is refused" hf rollback "$earlier"
check "the refusal names the unfinished run" contains "$T/err" "$run"
expect_exit 0 "pause" hf pause "$run"
wait_for "the run to pause" 10 run_state_is "$run" paused
expect_exit 0 "status of the paused run" hf status "$run"
check "status shows the pause" contains "$T/out" 'paused by request'
expect_exit 0 "continue" hf continue "$run"
wait_for "the run to go on" 10 run_state_is "$run" running
expect_exit 0 "abort rolls the run back" hf abort "$run"
wait "$pid"
code=$?
check "the aborted apply exits 1 (exit $code)" test "$code" = 1
check "the aborted apply says it rolled back" grep -q 'aborted by request; rolled back' "$T/busy.err"
check "after abort every node is back at its before-state" back_to_before $PARAMS
expect_exit 0 "apply once the first run is finished" hf apply "$T/m.yaml" --cluster "$SEED" --yes
expect_exit 0 "and roll it back" hf rollback "$(last_run)"
expect_exit 0 "the earlier run can be rolled back now" hf rollback "$earlier"
check "hz is back" test "$(cfg "$BASE" hz)" = 10
test_end
hf sandbox down --dir "$T/busy" >/dev/null 2>&1

# ---- a value changed by hand after the hotfix is never overwritten -----
sandbox_up conf --shards 2 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 4)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" conflict-test
test_begin 'a value changed by hand after the hotfix is never overwritten'
expect_exit 0 "apply" hf apply "$T/m.yaml" --cluster "$SEED" --yes
run=$(last_run)
rcli -p "$BASE" CONFIG SET timeout 555 >/dev/null   # an operator's own fix
expect_exit 4 "rollback with a value changed since the hotfix exits 4" hf rollback "$run"
check "the conflict names the node and both values" \
	grep -q "127.0.0.1:$BASE.*timeout is \"555\" (before \"0\", hotfix set \"300\")" "$T/err"
check "the operator's value is left as it is" test "$(cfg "$BASE" timeout)" = 555
check "the other parameter of that node is restored" test "$(cfg "$BASE" maxmemory-policy)" = noeviction
check "the other nodes are restored" test "$(cfg "$((BASE + 1))" timeout)" = 0
expect_exit 4 "a second rollback still reports the conflict" hf rollback "$run"
expect_exit 0 "rollback --force restores it anyway" hf rollback "$run" --force
check "after --force every node is at its before-state" back_to_before $PARAMS
expect_exit 0 "status records the forced rollback" hf status "$run"
check "status shows the forced rollback" contains "$T/out" "forced over conflicts"
test_end

# A parameter Redis spells its own way ("KEA" reads back as "AKE").
cat >"$T/kea.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: keyspace-events, version: 1, owner: o, problem: p}
spec:
  changes:
    - config: {notify-keyspace-events: "KEA", maxmemory: 100mb}
  rollout: {waves: [{nodes: 100%}]}
  guard: none
YAML
test_begin 'values Redis spells its own way roll back without a conflict'
snapshot "$T/before" "$PORTS" notify-keyspace-events maxmemory
expect_exit 0 "apply values Redis respells" hf apply "$T/kea.yaml" --cluster "$SEED" --yes
check "the node reports its own spelling" test "$(cfg "$BASE" notify-keyspace-events)" = AKE
check "memory units are normalized" test "$(cfg "$BASE" maxmemory)" = 104857600
expect_exit 0 "rollback of respelled values is not a conflict" hf rollback "$(last_run)"
check "respelled values restored exactly" back_to_before notify-keyspace-events maxmemory
test_end

# A kept connection closed by the server's idle timeout during a bake.
test_begin 'bakes longer than the nodes'\'' idle timeout'
for p in $PORTS; do rcli -p "$p" CONFIG SET timeout 1 >/dev/null; done
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/idle.yaml" idle-test "      - nodes: 1
        bake: 2500ms
      - nodes: 100%"
expect_exit 0 "apply across bakes longer than the nodes' idle timeout" hf apply "$T/idle.yaml" --cluster "$SEED" --yes
expect_exit 0 "and its rollback" hf rollback "$(last_run)"
check "restored exactly, timeout 1 included" back_to_before $PARAMS
test_end
hf sandbox down --dir "$T/conf" >/dev/null 2>&1

# ---- a password-protected cluster reached through the URI --------------
PASS=s3cret-pw
sandbox_up pw --shards 3 --replicas 1 --password "$PASS" || finish
PORTS=$(ports_of "$BASE" 6)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" pw-test
test_begin 'a password-protected cluster, the password in the URI'
check "the seed URI carries the password" grep -q ":$PASS@" <<<"$SEED"
expect_exit 0 "cluster show with the password in the URI" hf cluster show --cluster "$SEED"
check "cluster show lists 6 nodes" test "$(grep -cE '^[0-9]+ +127\.0\.0\.1:' "$T/out")" = 6
check "cluster show never prints the password" lacks "$T/out" "$PASS"
expect_exit 1 "without the password the cluster refuses" hf cluster show --cluster "redis://127.0.0.1:$BASE"
expect_exit 0 "apply on the password-protected cluster" hf apply "$T/m.yaml" --cluster "$SEED" --yes
run=$(last_run)
check "every node holds the hotfix" test "$(cfg "$BASE" timeout "$PASS")" = 300
check "the journal never stores the password" journal_lacks "$PASS"
expect_exit 0 "status" hf status "$run"
check "status never shows the password" lacks "$T/out" "$PASS"
expect_exit 0 "rollback with the password in --cluster" hf rollback "$run" --cluster "$SEED"
check "password cluster restored exactly" back_to_before $PARAMS
test_end

test_begin 'the password from HOTFIX_PASSWORD'
expect_exit 0 "apply again" hf apply "$T/m.yaml" --cluster "$SEED" --yes
expect_exit 0 "rollback with the password from HOTFIX_PASSWORD" \
	env HOTFIX_PASSWORD="$PASS" "$HOTFIX" --state "$STATE" rollback "$(last_run)"
check "restored again" back_to_before $PARAMS
test_end

# A named ACL user in the URI: redis://user:pass@host:port
test_begin 'a named ACL user in the URI'
for p in $PORTS; do
	REDISCLI_AUTH=$PASS rcli -p "$p" ACL SETUSER ops on '>ops-pw' '~*' '&*' '+@all' >/dev/null
done
OPS_URI="redis://ops:ops-pw@127.0.0.1:$BASE"
expect_exit 0 "cluster show as the ACL user ops" hf cluster show --cluster "$OPS_URI"
check "it shows the user" contains "$T/out" 'redis://ops@127.0.0.1'
check "but not its password" lacks "$T/out" 'ops-pw'
expect_exit 0 "apply as the ACL user ops" hf apply "$T/m.yaml" --cluster "$OPS_URI" --yes
expect_exit 0 "status records the user, not the password" hf status last
check "status shows redis://ops@" contains "$T/out" "redis://ops@127.0.0.1:$BASE"
check "the journal never stores the user's password" journal_lacks 'ops-pw'
expect_exit 0 "rollback as the ACL user ops" hf rollback last --cluster "$OPS_URI"
check "restored as ops" back_to_before $PARAMS
expect_exit 1 "a wrong password for ops is refused" hf cluster show --cluster "redis://ops:nope@127.0.0.1:$BASE"
check "the refusal says the password is wrong, and where it came from" contains "$T/err" "wrong password for 127.0.0.1:$BASE (WRONGPASS, the password of the URI)"
test_end
hf sandbox down --dir "$T/pw" >/dev/null 2>&1
unset PASS

# ---- a primary with replicas, no cluster mode ---------------------------
sandbox_up plain --standalone --shards 1 --replicas 2 || finish
PORTS=$(ports_of "$BASE" 3)
test_begin 'a primary with replicas, no cluster mode'
expect_exit 0 "cluster show from a replica of a plain primary" hf cluster show --cluster "redis://127.0.0.1:$((BASE + 2))"
check "it finds the primary and both replicas" test "$(grep -cE '^[0-9]+ +127\.0\.0\.1:' "$T/out")" = 3
check "it says there is no cluster mode" contains "$T/out" "no cluster mode"
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" plain-test
expect_exit 0 "apply on a plain primary with replicas" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "the primary holds the hotfix" test "$(cfg "$BASE" timeout)" = 300
check "a replica holds the hotfix" test "$(cfg "$((BASE + 2))" timeout)" = 300
expect_exit 0 "rollback on a plain primary with replicas" hf rollback "$(last_run)"
check "plain primary with replicas restored exactly" back_to_before $PARAMS
test_end

finish
