#!/usr/bin/env bash
# The cluster's lease: two state directories cannot change one cluster at
# once (the second is refused, exit 5, naming the holder); a driver whose
# lease is taken from it stops before its next change and the run stays
# resumable and rollbackable; a data script refuses a stale fencing token
# on the node itself; plan shows who holds the lease; standalone Redis
# works the same.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"
S1=$T/state-1
S2=$T/state-2
LEASE='hotfix:lease:{hotfix}'

sandbox_up lease --shards 2 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 4)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/slow.yaml" slow "      - nodes: 1
        bake: 30s
      - nodes: 100%"
manifest "$T/m.yaml" quick

all_before() {
	snapshot "$T/now" "$PORTS" $PARAMS
	test_cmp "$T/before" "$T/now"
}
# changed_nodes: how many nodes hold timeout 300.
changed_nodes() {
	local p n=0
	for p in $PORTS; do [ "$(cfg "$p" timeout)" = 300 ] && n=$((n + 1)); done
	echo $n
}
lease_field() { rcli -p "$BASE" -c HGET "$LEASE" "$1"; }

test_expect_success 'plan shows a free lease' '
	"$HOTFIX" --state "$S1" plan "$T/m.yaml" --cluster "$SEED" >"$T/plan.out" &&
	contains "$T/plan.out" "^lease: free" &&
	"$HOTFIX" --state "$S1" --json plan "$T/m.yaml" --cluster "$SEED" >"$T/plan.json" &&
	json_true "$T/plan.json" ".lease.state == \"free\""
'

test_begin 'a second state directory is refused while the first drives the cluster'
"$HOTFIX" --state "$S1" apply "$T/slow.yaml" --cluster "$SEED" --yes >"$T/slow.out" 2>&1 &
P1=$!
EXTRA_PIDS+=("$P1")
wait_for "the bake to start" 30 grep -q 'baking' "$T/slow.out"
RUN1=$("$HOTFIX" --state "$S1" --json history | jq -r '.[0].run')
check "the lease names the run" test "$(lease_field run)" = "$RUN1"
check "the lease names the holder's pid" contains <(lease_field holder) "pid $P1"
expect_exit 0 "plan from the second state directory" \
	"$HOTFIX" --state "$S2" plan "$T/m.yaml" --cluster "$SEED"
check "plan shows the holder" contains "$T/out" "^lease: held by .*pid $P1 (run $RUN1"
expect_exit 0 "plan --json" "$HOTFIX" --state "$S2" --json plan "$T/m.yaml" --cluster "$SEED"
check "plan --json shows the holder" json_true "$T/out" \
	'.lease.state == "held" and .lease.run == $run and .lease.token > 0' --arg run "$RUN1"
expect_exit 5 "apply from the second state directory" \
	"$HOTFIX" --state "$S2" apply "$T/m.yaml" --cluster "$SEED" --yes
check "the refusal names the holder and its run" \
	contains "$T/err" "cluster is being changed by .*pid $P1 (run $RUN1, since"
check "the second state directory has no run" \
	test "$("$HOTFIX" --state "$S2" --json history | jq length)" = 0
check "the refusal is audited there" test \
	"$("$HOTFIX" --state "$S2" audit export | jq -r .outcome)" = refused
check "only the canary holds the hotfix" test "$(changed_nodes)" = 1
test_end

test_begin 'a lease taken during the bake stops the driver before its next change'
rcli -p "$BASE" -c HSET "$LEASE" holder "thief@elsewhere pid 1" run other token 999999 >/dev/null
wait "$P1"
code=$?
check "the first apply is refused (exit $code)" test "$code" = 5
check "it says it lost the lease, to whom" contains "$T/slow.out" "lease lost to thief@elsewhere"
check "it stopped before its next change" contains "$T/slow.out" "stopped before its next change"
check "nothing changed after the canary" test "$(changed_nodes)" = 1
check "the run is paused" test "$("$HOTFIX" --state "$S1" --json status "$RUN1" | jq -r .state)" = paused
check "the thief's lease stands" test "$(lease_field token)" = 999999
expect_exit 5 "a resume while the thief holds the lease" "$HOTFIX" --state "$S1" resume "$RUN1"
check "names the thief" contains "$T/err" "cluster is being changed by thief@elsewhere"
rcli -p "$BASE" -c DEL "$LEASE" >/dev/null
expect_exit 0 "resume once the lease is free" "$HOTFIX" --state "$S1" resume "$RUN1"
check "every node holds the hotfix" test "$(changed_nodes)" = 4
expect_exit 0 "rollback" "$HOTFIX" --state "$S1" rollback "$RUN1"
check "every node back to before" all_before
check "the lease was given up" test "$(rcli -p "$BASE" -c EXISTS "$LEASE")" = 0
expect_exit 0 "the audit trail is intact" "$HOTFIX" --state "$S1" audit verify --cluster "$SEED"
test_end

test_begin 'a rollback from another state directory is refused while the lease is held'
"$HOTFIX" --state "$S1" apply "$T/slow.yaml" --cluster "$SEED" --yes >"$T/slow2.out" 2>&1 &
P1=$!
EXTRA_PIDS+=("$P1")
wait_for "the bake to start" 30 grep -q 'baking' "$T/slow2.out"
RUN2=$("$HOTFIX" --state "$S1" --json history | jq -r '.[0].run')
cp -r "$S1" "$T/copy"
expect_exit 5 "rollback of the run from a copy of the state directory" \
	"$HOTFIX" --state "$T/copy" rollback "$RUN2"
check "names the holder" contains "$T/err" "cluster is being changed by .*pid $P1"
expect_exit 0 "abort from the first" "$HOTFIX" --state "$S1" abort "$RUN2"
wait "$P1"
check "every node back to before" all_before
test_end

test_begin 'data: a node that saw a newer fencing token refuses the older driver atomically'
for i in $(seq 1 40); do rcli -p "$BASE" -c SET "d:$i" old >/dev/null; done
cat >"$T/data.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: data-fenced, version: 1, owner: test@example.com, problem: keys need a fix}
spec:
  changes:
    - data: {match: "d:*", value: new, batch: 10}
  rollout:
    waves:
      - keys: 100%
  guard: none
YAML
# A newer holder's token, as its data scripts leave it on every primary
# (the tags hotfix picks are the first of s0, s1, ... in a primary's slots).
for i in $(seq 0 60); do rcli -p "$BASE" -c SET "hotfix:fence:{s$i}" 999999 >/dev/null; done
expect_exit 1 "apply with an older token (the run fails before any key changed)" "$HOTFIX" --state "$S1" apply "$T/data.yaml" --cluster "$SEED" --yes
check "the node refused it as fenced" contains "$T/err" "FENCED lease token"
check "no key changed" test "$(for i in $(seq 1 40); do rcli -p "$BASE" -c GET "d:$i"; done | sort -u)" = old
for i in $(seq 0 60); do rcli -p "$BASE" -c DEL "hotfix:fence:{s$i}" >/dev/null; done
expect_exit 0 "a second rollback has nothing to do" \
	"$HOTFIX" --state "$S1" rollback last
expect_exit 0 "apply with the fence cleared" "$HOTFIX" --state "$S1" apply "$T/data.yaml" --cluster "$SEED" --yes
check "every key changed" test "$(for i in $(seq 1 40); do rcli -p "$BASE" -c GET "d:$i"; done | sort -u)" = new
check "the primaries keep the driver's token" test \
	"$(for p in $PORTS; do rcli -p "$p" --scan --pattern 'hotfix:fence:*'; done | wc -l)" -ge 2
expect_exit 0 "rollback" "$HOTFIX" --state "$S1" rollback last
check "every key back" test "$(for i in $(seq 1 40); do rcli -p "$BASE" -c GET "d:$i"; done | sort -u)" = old
test_end

test_begin 'a lease node out of memory (what a bad maxmemory hotfix does) still takes, renews and frees the lease'
# The primary that serves the lease's slot, full: it refuses every write
# that needs memory, and once the hotfix sets allkeys-lru it evicts the
# lease and its counter; a driver must still be able to fence and roll back.
OWNER=$(rcli -p "$BASE" CLUSTER NODES | awk -v s="$(rcli -p "$BASE" CLUSTER KEYSLOT "$LEASE")" '
	/master/ { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (s >= r[1] && s <= (r[2] == "" ? r[1] : r[2])) { split($2, a, "[:@]"); print a[2] } } }')
check "found the lease slot's primary" test -n "$OWNER"
rcli -p "$OWNER" SET 'oom:{hotfix}:filler' "$(head -c 100000 /dev/zero | tr '\0' x)" >/dev/null
rcli -p "$OWNER" CONFIG SET maxmemory-policy noeviction >/dev/null
rcli -p "$OWNER" CONFIG SET maxmemory 1 >/dev/null
check "the node refuses writes" sh -c "redis-cli -p $OWNER SET 'oom:{hotfix}:x' 1 2>&1 | grep -q OOM"
expect_exit 0 "apply" "$HOTFIX" --state "$S1" apply "$T/m.yaml" --cluster "$SEED" --yes
check "released after the run" test "$(rcli -p "$OWNER" EXISTS "$LEASE")" = 0
expect_exit 0 "rollback" "$HOTFIX" --state "$S1" rollback last
rcli -p "$OWNER" CONFIG SET maxmemory 0 >/dev/null
rcli -p "$OWNER" CONFIG SET maxmemory-policy noeviction >/dev/null
rcli -p "$OWNER" DEL 'oom:{hotfix}:filler' >/dev/null
check "every node as before" all_before
test_end

if sandbox_up plain --standalone --shards 1 --replicas 1; then
	test_begin 'standalone Redis: the lease on its primary'
	expect_exit 0 "apply" "$HOTFIX" --state "$S1" apply "$T/m.yaml" --cluster "$SEED" --yes
	check "released after the run" test "$(rcli -p "$BASE" EXISTS "$LEASE")" = 0
	check "the token counter moved" test "$(rcli -p "$BASE" GET "$LEASE:token")" -ge 1
	expect_exit 0 "rollback" "$HOTFIX" --state "$S1" rollback last
	test_end
fi

finish
