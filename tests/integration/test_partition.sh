#!/usr/bin/env bash
# Partitions: a sandbox whose nodes live in network namespaces of their own
# (sandbox up --netns), a node cut off and healed; an apply that meets a
# cut-off replica stops naming it and a later rollback finishes; a drill
# whose rollback meets a partitioned replica converges once it is healed.
# Needs root (CAP_NET_ADMIN) and iproute2, as CI has.
. "$(dirname "$0")/lib.sh"

sandbox_up ns --shards 3 --replicas 1 --netns || finish
DIR=$T/ns
# node i (0-based) of the sandbox: its address and port
host_of() { jq -r ".nodes[$1].host" "$T/ns.json"; }
port_of() { jq -r ".nodes[$1].port" "$T/ns.json"; }
ncli() { redis-cli -h "$(host_of "$1")" -p "$(port_of "$1")" "${@:2}"; }
answers() { [ "$(timeout 3 redis-cli -h "$1" -p "$2" PING 2>/dev/null)" = PONG ]; }
silent() { ! answers "$@"; }
net_of() { jq -r .netns "$DIR/sandbox.json"; }
cluster_sees_all() {
	[ "$(ncli 0 CLUSTER INFO | tr -d '\r' | grep -c '^cluster_state:ok')" = 1 ] &&
		! ncli 0 CLUSTER NODES | grep -q 'fail'
}

test_begin 'sandbox up --netns: every node in a namespace of its own, on its own address'
expect_exit 0 "status" hf --json sandbox status --dir "$DIR"
cp "$T/out" "$T/ns.json"
check "six nodes on six private addresses, none on loopback" json_true "$T/ns.json" \
	'(.nodes | length) == 6, ([.nodes[].host] | unique | length) == 6,
	 (.nodes | all(.host | startswith("10.251.")))'
check "the seed is the first node's address" json_true "$T/ns.json" \
	'.seed == "redis://\(.nodes[0].host):\(.nodes[0].port)"'
NET=$(net_of)
check "node 3 runs in namespace hotfix-$NET-3" contains <(ip netns pids "hotfix-$NET-3") \
	"^$(jq -r '.nodes[3].pid' "$T/ns.json")\$"
check "the nodes are not on 127.0.0.1" silent 127.0.0.1 "$(port_of 0)"
check "the cluster is whole" cluster_sees_all
test_end

veth_of() {   # the host's end of the link of the node on port $1
	echo "hfv${NET}n$(jq -r "[.nodes[].port] | index($1)" "$T/ns.json")"
}

test_begin 'a replica cut off is unreachable, from here and from its shard, until healed'
REPL=$(jq -r '[.nodes[] | select(.role == "replica")][0].port' "$T/ns.json")
RHOST=$(jq -r "[.nodes[] | select(.port == $REPL)][0].host" "$T/ns.json")
ip link set "$(veth_of "$REPL")" down
check "it does not answer" silent "$RHOST" "$REPL"
wait_for "the cluster marks it failed" 20 eval 'ncli 0 CLUSTER NODES | grep -q "$RHOST:$REPL.*fail"'
ip link set "$(veth_of "$REPL")" up
wait_for "healed, it answers" 20 answers "$RHOST" "$REPL"
wait_for "and the cluster sees every node again" 30 cluster_sees_all
test_end

manifest "$T/m.yaml" partition-test "      - nodes: 1
        bake: 2s
      - nodes: 100%"
timeouts_are() {
	local i
	for i in 0 1 2 3 4 5; do
		[ "$(ncli "$i" CONFIG GET timeout | sed -n 2p)" = "$1" ] || return 1
	done
}

test_begin 'an apply while a replica is cut off is refused before anything changes'
ip link set "$(veth_of "$REPL")" down
expect_exit 1 "the apply cannot plan (exit 1)" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "it names the node" contains "$T/err" "$RHOST:$REPL"
ip link set "$(veth_of "$REPL")" up
wait_for "healed" 30 cluster_sees_all
check "no node was changed" timeouts_are 0
test_end

test_begin 'the canary cut off after it took the hotfix: exit 4, a rollback finishes once healed'
"$HOTFIX" --state "$STATE" apply "$T/m.yaml" --cluster "$SEED" --yes >"$T/cut.out" 2>"$T/cut.err" &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the first bake" 30 grep -q 'baking' "$T/cut.out"
canary=$(sed -n 's/.*applied and verified on replica [0-9.]*:\([0-9]*\).*/\1/p' "$T/cut.out" | head -1)
ip link set "$(veth_of "$canary")" down
wait "$pid"
code=$?
check "the apply exits 4 (exit $code)" test "$code" = 4
check "it names the canary" grep -q ":$canary" "$T/cut.err"
ip link set "$(veth_of "$canary")" up
wait_for "healed" 30 cluster_sees_all
expect_exit 0 "the rollback finishes" hf rollback last
check "every node is back to timeout 0" timeouts_are 0
test_end

test_begin 'drill: a partition of a replica during the rollback converges when healed'
# Longer than the converge timeout (10 s): the first rollback cannot
# reach the replica and says so (exit 4); healed, the second finishes.
expect_exit 0 "the drill passes" \
	hf --json drill "$T/m.yaml" --mirror "$DIR" --faults partition:13s@rollback
cp "$T/out" "$T/drill.json"
check "passed; the partition was made and healed" json_true "$T/drill.json" \
	'.passed, .faults[0].fault == "partition", .faults[0].during == "rollback", .faults[0].ok,
	 (.faults[0].outcome | test("cut off for [0-9]+ ms, healed"))'
check "the first rollback stopped at the cut-off replica, the second finished" \
	json_true "$T/drill.json" '.rollback.detail == "rollback exit 4, then rollback exit 0"'
check "fingerprint equal, replicas converged, no acknowledged write lost" \
	json_true "$T/drill.json" '.fingerprint.equal, .converged, .writes.acknowledged > 0,
	 .writes.lost == 0'
wait_for "the node is part of the cluster again" 30 cluster_sees_all
test_end

test_begin 'partition needs a mirror with namespaces; sandbox down removes them'
sandbox_up plain --shards 1 --replicas 1 || finish
expect_exit 2 "refused on a plain mirror" \
	hf drill "$T/m.yaml" --mirror "$T/plain" --faults partition
check "it says why" contains "$T/err" "'partition' needs a mirror whose nodes have network namespaces"
expect_exit 2 "a bad duration" hf drill "$T/m.yaml" --mirror "$DIR" --faults partition:soon
expect_exit 2 "kill takes none" hf drill "$T/m.yaml" --mirror "$DIR" --faults kill:2s
rcli -c -p "$BASE" SET staged:key v1 >/dev/null
expect_exit 0 "stage --netns: a mirror of the plain sandbox in namespaces" \
	hf stage --from "$SEED" --sample 100% --dir "$T/staged" --netns
SANDBOXES+=("$T/staged")
MSEED=$(tail -n 1 "$T/out")
check "its seed is a namespace address" test "${MSEED#redis://10.251.}" != "$MSEED"
mhost=${MSEED#redis://}
check "the key was copied" test "$(redis-cli -c -h "${mhost%:*}" -p "${mhost#*:}" GET staged:key)" = v1
expect_exit 0 "down" hf sandbox down --dir "$DIR"
check "no namespace of it is left" lacks <(ip netns list) "^hotfix-$NET-"
check "nor its bridge" lacks <(ip -br link) "^hfbr$NET "
test_end

test_begin 'a dead netns sandbox started again, a start that fails: no namespace left behind'
netns_now() { { ip netns list; ip -br link; } | grep -c -e '^hotfix-' -e '^hfbr' -e '^hfv'; }
before=$(netns_now)
sandbox_up stale --shards 1 --replicas 0 --netns || finish
old=$(jq .netns "$T/stale/sandbox.json")
kill -9 "$(cat "$T/stale/$BASE/redis.pid")"
wait_for "the node is gone" 10 eval '! redis-cli -h 10.251.$old.1 -p $BASE PING >/dev/null 2>&1'
expect_exit 0 "up again in the same directory" \
	hf sandbox up --dir "$T/stale" --base-port "$BASE" --shards 1 --replicas 0 --netns
new=$(jq .netns "$T/stale/sandbox.json")
check "one namespace, one link, one bridge: the new sandbox's" test "$(netns_now)" = $((before + 3))
[ "$old" = "$new" ] || check "the old network is gone" lacks <(ip -br link) "^hfbr$old "
expect_exit 0 "down" hf sandbox down --dir "$T/stale"
check "nothing left" test "$(netns_now)" = "$before"
expect_exit 1 "an up whose server cannot start" hf sandbox up --dir "$T/fails" --base-port "$BASE" \
	--shards 1 --replicas 0 --netns --redis-server /bin/false
check "leaves no namespace" test "$(netns_now)" = "$before"
test_end

finish
