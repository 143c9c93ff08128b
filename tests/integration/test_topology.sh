#!/usr/bin/env bash
# The topology from the nodes' consensus, not from one seed (issue 10):
# a 3x2 cluster planned the moment 'redis-cli --cluster create' returns
# shows 3 shards of 3 nodes, the real ones, or is refused (exit 5) naming
# the nodes that disagree, never 9 shards of 1; a node that forgot another
# is named; a run whose nodes disagree before a wave pauses there and still
# rolls back; a failover started just before apply leaves no round with two
# nodes of one shard; without cluster mode, a seed its primary does not
# list is named.
. "$(dirname "$0")/lib.sh"

CLUSTER_PIDS=()

# cluster_up NAME: 9 fresh redis-server processes in cluster mode, made a
# 3x2 cluster by redis-cli; sets BASE. Returns as soon as redis-cli does.
# A node learns another's role from that node's own messages, and pings a
# node it has not heard from at the latest after half the node timeout:
# with Redis' 15 s, a role change took up to 12 s to reach every node here,
# so these clusters use 3 s.
cluster_up() {
	local name=$1 i p dir
	BASE=$(free_base 9) || { bad "no free ports"; return 1; }
	CLUSTER_PIDS=()
	for ((i = 0; i < 9; i++)); do
		p=$((BASE + i))
		dir=$T/$name/$p
		mkdir -p "$dir"
		redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
			--cluster-node-timeout 3000 --cluster-config-file "$dir/nodes.conf" \
			--dir "$dir" --save '' --appendonly no --logfile "$dir/log" &
		CLUSTER_PIDS+=($!)
		EXTRA_PIDS+=($!)
	done
	for ((i = 0; i < 9; i++)); do
		wait_for "node $((BASE + i)) to answer" 10 rcli -p $((BASE + i)) PING >/dev/null || return 1
	done
	# shellcheck disable=SC2046
	if ! redis-cli --cluster create $(for ((i = 0; i < 9; i++)); do echo 127.0.0.1:$((BASE + i)); done) \
		--cluster-replicas 2 --cluster-yes >"$T/$name.create" 2>&1; then
		bad "$name: redis-cli --cluster create"
		tail -5 "$T/$name.create"
		return 1
	fi
}

gone() { ! kill -0 "$1" 2>/dev/null; }

cluster_down() {
	local p
	for p in "${CLUSTER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${CLUSTER_PIDS[@]}"; do wait_for "process $p to end" 10 gone "$p"; done
	CLUSTER_PIDS=()
}

# converged PORTS...: every node lists 3 primaries and 6 replicas, all
# connected and none failing.
converged() {
	local p
	for p in "$@"; do
		rcli -p "$p" CLUSTER NODES | awk '
			$3 ~ /fail|handshake|noaddr/ || $8 != "connected" { bad = 1 }
			$3 ~ /master/ { m++ } $3 ~ /slave/ { s++ }
			END { exit !(m == 3 && s == 6 && !bad) }' || return 1
	done
}

# truth PORT: the shards of the converged cluster, one line each: its nodes'
# addresses, sorted and joined by ','.
truth() {
	rcli -p "$1" CLUSTER NODES | awk '{ split($2, a, "@"); k = $4 == "-" ? $1 : $4; print k, a[1] }' |
		sort | awk '$1 != k { if (k) print l; k = $1; l = $2; next } { l = l "," $2 } END { print l }' |
		while read -r line; do tr ',' '\n' <<<"$line" | sort | paste -sd, -; done | sort
}

# plan_shards PLAN.json: the shards of a plan in the same form.
plan_shards() {
	jq -r '[.steps[] | {s: .shard, a: .address}] | unique | group_by(.s)
		| map(map(.a) | sort | join(",")) | .[]' "$1" | sort
}

# config_manifest FILE VALUE: every node's 'timeout' to VALUE, in three
# waves without bakes or guard.
config_manifest() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: topology-$2, version: 1, owner: test@example.com, problem: Topology test.}
spec:
  changes:
    - config: {timeout: "$2"}
  rollout:
    waves:
      - nodes: 1
        bake: 0
      - nodes: 50%
        bake: 0
      - nodes: 100%
  guard: none
YAML
}

# rounds_ok STATUS.json TRUTH: every "step" event (one per round) names
# nodes of distinct shards, and the rounds cover 'want' nodes.
rounds_ok() {
	local status=$1 truth=$2 want=$3 line a re g seen bad=0 nodes=0
	while IFS= read -r line; do
		seen=" "
		for a in $(grep -o '127\.0\.0\.1:[0-9]*' <<<"$line"); do
			re=${a//./\\.}
			g=$(grep -nE "(^|,)$re(,|$)" "$truth" | cut -d: -f1)
			nodes=$((nodes + 1))
			if [ -z "$g" ]; then
				echo "    $a is in no shard"
				bad=1
			elif [[ $seen == *" $g "* ]]; then
				echo "    two nodes of one shard in a round: $line"
				bad=1
			fi
			seen="$seen$g "
		done
	done < <(jq -r '.events[] | select(.kind == "step") | .message' "$status")
	[ "$nodes" = "$want" ] || echo "    the rounds name $nodes node(s), not $want"
	[ "$bad" = 0 ] && [ "$nodes" = "$want" ]
}

config_manifest "$T/plan.yaml" 301

# ---- plans the moment a cluster is created ----------------------------
test_begin '3x2 clusters planned the moment they are created: their real shards, or refused'
agreed=0
refused=0
waited=0
for k in 1 2 3 4 5; do
	cluster_up "c$k" || break
	ports=$(ports_of "$BASE" 9)
	# At once: no wait at all, then the default wait for agreement.
	for how in "--converge-timeout 0" ""; do
		# shellcheck disable=SC2086
		"$HOTFIX" --state "$STATE" --json $how plan "$T/plan.yaml" --cluster "127.0.0.1:$BASE" \
			>"$T/plan$k.json" 2>"$T/plan$k.err"
		rc=$?
		if [ "$rc" = 0 ]; then
			agreed=$((agreed + 1))
			[ -z "$how" ] && waited=$((waited + 1))
			plan_shards "$T/plan$k.json" >"$T/plan$k.shards"
		elif [ "$rc" = 5 ]; then
			refused=$((refused + 1))
			check "c$k: a refusal (${how:-default wait}) names a node and what each side says" \
				grep -qE "node '127\.0\.0\.1:[0-9]+' \([0-9a-f]{8}\): .* says? it is " "$T/plan$k.err"
			rm -f "$T/plan$k.shards"
			continue
		else
			bad "c$k: plan ${how:-(default wait)} exit $rc, wanted 0 or 5"
			sed 's/^/    err: /' "$T/plan$k.err" | tail -5
			continue
		fi
		# The real shards, once gossip has settled.
		# shellcheck disable=SC2086
		wait_for "c$k to converge" 30 converged $ports || continue
		truth "$BASE" >"$T/truth$k"
		check "c$k: plan (${how:-default wait}) shows 3 shards of 3 nodes: $(paste -sd' ' "$T/plan$k.shards")" \
			test "$(wc -l <"$T/plan$k.shards")" = 3 -a "$(grep -c '^[^,]*,[^,]*,[^,]*$' "$T/plan$k.shards")" = 3
		check "c$k: ... and they are the cluster's real shards" cmp -s "$T/plan$k.shards" "$T/truth$k"
	done
	[ "$k" = 5 ] || cluster_down
done
echo "# plans at creation: $agreed agreed on 3x3, $refused refused (exit 5)"
check "every plan at creation either agreed or was refused" test $((agreed + refused)) = 10
# These clusters gossip with a 3 s node timeout: the default wait (10 s)
# sees every one agree. A check that always refuses fails here.
check "with the default wait every plan agreed ($waited of 5)" test "$waited" = 5

test_end

# ---- a node that forgot another: refused, named; a run paused -----------
# The last cluster, settled. A run is killed at its first bake (wave 1
# applied); then a replica forgets another node (CLUSTER FORGET keeps it
# out of the replica's table for 60 s, longer than this part needs).
test_begin 'a node that forgot another: refused and named; a run paused before its wave rolls back'
ports=$(ports_of "$BASE" 9)
# shellcheck disable=SC2086
wait_for "the cluster to converge" 30 converged $ports
config_manifest "$T/pause.yaml" 302
snapshot "$T/pause.before" "$ports" timeout
HOTFIX_CRASH_AT=bake hf --json apply "$T/pause.yaml" --cluster "127.0.0.1:$BASE" --yes \
	>"$T/out" 2>"$T/err"
check "apply killed at its first bake" test $? = 137
RUN=$(hf --json history | jq -r '.[0].run')
check "the run is recorded" test -n "$RUN" -a "$RUN" != null
changed() { for p in $ports; do [ "$(cfg "$p" timeout)" = 302 ] && echo "$p"; done | wc -l; }
check "wave 1 changed one node" test "$(changed)" = 1

X=$(rcli -p "$BASE" CLUSTER NODES | awk '$3 ~ /slave/ { split($2, a, "[:@]"); print a[2]; exit }')
XP=$(rcli -p "$X" CLUSTER NODES | awk '$3 ~ /myself/ { print $4 }')
Y=$(rcli -p "$X" CLUSTER NODES | awk -v p="$XP" '$3 !~ /myself/ && $1 != p { split($2, a, "[:@]"); print a[2]; exit }')
YID=$(rcli -p "$Y" CLUSTER MYID)
check "replica $X forgets node $Y" test "$(rcli -p "$X" CLUSTER FORGET "$YID")" = OK
expect_exit 5 "plan refused while a node does not list another" \
	hf --converge-timeout 300ms plan "$T/plan.yaml" --cluster "127.0.0.1:$BASE"
check "the refusal names the node they disagree about" contains "$T/err" "node '127.0.0.1:$Y'"
check "... and the node that does not list it" contains "$T/err" "127.0.0.1:$X does not list it"
check "... and what the others say" grep -qE "127\.0\.0\.1:[0-9]+.* say it is a (primary|replica)" "$T/err"
check "... and how long it waited" contains "$T/err" "after 300ms (--converge-timeout):"
expect_exit 2 "a --converge-timeout that is no duration is invalid input" \
	hf --converge-timeout soon plan "$T/plan.yaml" --cluster "127.0.0.1:$BASE"

expect_exit 5 "resume refused: the nodes disagree before wave 2" \
	hf --converge-timeout 300ms resume "$RUN"
check "the refusal says the run is paused before wave 2" contains "$T/err" "paused before wave 2"
check "... and names the node they disagree about" contains "$T/err" "node '127.0.0.1:$Y'"
hf --json status "$RUN" >"$T/pause.json"
check "the run is paused" test "$(jq -r .state "$T/pause.json")" = paused
check "the journal says why" grep -q 'paused before wave 2' "$T/pause.json"
check "no node of wave 2 was touched" test "$(changed)" = 1
expect_exit 0 "the paused run rolls back though the nodes disagree" \
	hf --converge-timeout 300ms rollback "$RUN"
snapshot "$T/pause.after" "$ports" timeout
check "every node is restored" cmp -s "$T/pause.before" "$T/pause.after"
cluster_down

test_end

# ---- a failover started just before apply ------------------------------
# The rounds come from the shards at plan time: with the seed's view in
# the middle of a failover, a shard could be split in two and a round hold
# a primary and its own replica.
test_begin 'a failover started just before apply: no round holds two nodes of one shard'
if cluster_up fo; then
	ports=$(ports_of "$BASE" 9)
	# shellcheck disable=SC2086
	wait_for "the cluster to converge" 30 converged $ports
	truth "$BASE" >"$T/fo.truth"
	for k in 1 2 3; do
		# A replica of the k-th shard takes over, and apply starts at once.
		R=$(sed -n "${k}p" "$T/fo.truth" | tr ',' '\n' | while read -r a; do
			p=${a##*:}
			[ "$(rcli -p "$p" ROLE | head -1)" = slave ] && { echo "$p"; break; }
		done)
		config_manifest "$T/fo$k.yaml" $((310 + k))
		check "fo$k: CLUSTER FAILOVER on replica $R" test "$(rcli -p "$R" CLUSTER FAILOVER)" = OK
		expect_exit 0 "fo$k: apply right after the failover" \
			hf --json --converge-timeout 30s apply "$T/fo$k.yaml" --cluster "127.0.0.1:$BASE" --yes
		run=$(jq -r .run "$T/out")
		hf --json status "$run" >"$T/fo$k.json"
		check "fo$k: promoted" test "$(jq -r .state "$T/fo$k.json")" = promoted
		check "fo$k: no round held two nodes of one shard, every node in one" \
			rounds_ok "$T/fo$k.json" "$T/fo.truth" 9
		# shellcheck disable=SC2086
		wait_for "fo$k to converge" 30 converged $ports
		truth "$BASE" >"$T/fo$k.truth"
		check "fo$k: a failover moves no node to another shard" cmp -s "$T/fo.truth" "$T/fo$k.truth"
	done
	cluster_down
fi

test_end

# ---- a binary restart the nodes disagree about --------------------------
# Wave 1 restarts one replica on the other build and hotfix is killed at
# its bake; then a node forgets another. The rollback opens (on the seed's
# view) but restarts nothing: exit 4, the node left on the new build.
test_begin 'a binary rollback restarts nothing while the nodes disagree'
U7=$("$HF_SOURCE_DIR/scripts/redis-builds.sh" u7) && U10=$("$HF_SOURCE_DIR/scripts/redis-builds.sh" u10)
check "the two Debian builds are fetched" test -x "${U7:-/nonexistent}" -a -x "${U10:-/nonexistent}"
if [ -x "${U7:-}" ] && [ -x "${U10:-}" ] && sandbox_up bin --shards 3 --replicas 1 --redis-server "$U7"; then
	B10=$("$U10" --version | sed -n 's/.*build=\([0-9a-f]*\).*/\1/p')
	cat >"$T/bin.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: topology-binary, version: 1, owner: test@example.com, problem: Topology test.}
spec:
  changes:
    - binary: {path: $U10}
  rollout:
    waves:
      - nodes: 1
      - nodes: 100%
  guard: none
YAML
	HOTFIX_CRASH_AT=bake hf --json apply "$T/bin.yaml" --cluster "$SEED" --yes >"$T/out" 2>"$T/err"
	check "binary: apply killed at its first bake" test $? = 137
	RUN=$(hf --json history | jq -r '.[0].run')
	build_of() { rcli -p "$1" INFO server | tr -d '\r' | sed -n 's/^redis_build_id://p'; }
	NEW=$(for p in $(ports_of "$BASE" 6); do [ "$(build_of "$p")" = "$B10" ] && echo "$p"; done)
	check "binary: wave 1 restarted one node on the new build" test "$(echo "$NEW" | wc -w)" = 1
	X=$(rcli -p "$BASE" CLUSTER NODES | awk '$3 ~ /slave/ { split($2, a, "[:@]"); print a[2]; exit }')
	XP=$(rcli -p "$X" CLUSTER NODES | awk '$3 ~ /myself/ { print $4 }')
	YID=$(rcli -p "$X" CLUSTER NODES | awk -v p="$XP" '$3 !~ /myself/ && $1 != p { print $1; exit }')
	check "binary: replica $X forgets a node" test "$(rcli -p "$X" CLUSTER FORGET "$YID")" = OK
	expect_exit 4 "binary: the rollback restarts nothing while the nodes disagree" \
		hf --converge-timeout 300ms rollback "$RUN"
	check "binary: ... and says why" contains "$T/err" "not restarted: refused: the nodes do not agree"
	check "binary: the node is left on the new build" test "$(build_of "$NEW")" = "$B10"
fi

test_end

# ---- without cluster mode ----------------------------------------------
test_begin 'without cluster mode: one shard of three, a seed its primary does not list is named'
if sandbox_up plain --standalone --shards 1 --replicas 2; then
	P=$BASE
	expect_exit 0 "plain: plan from a replica" \
		hf --json --converge-timeout 2s plan "$T/plan.yaml" --cluster "127.0.0.1:$((BASE + 1))"
	cp "$T/out" "$T/plain.json"
	check "plain: one shard of 3 nodes" \
		test "$(plan_shards "$T/plain.json" | grep -c '^[^,]*,[^,]*,[^,]*$')" = 1 -a \
		"$(plan_shards "$T/plain.json" | wc -l)" = 1
	# A replica whose sync never succeeds (wrong masterauth): it names the
	# primary, which does not list it.
	Q=$(free_base 1)
	mkdir -p "$T/q"
	redis-server --port "$Q" --bind 127.0.0.1 --dir "$T/q" --save '' --appendonly no \
		--logfile "$T/q/log" --replicaof 127.0.0.1 "$P" --masterauth wrong &
	EXTRA_PIDS+=($!)
	wait_for "the extra replica to answer" 10 rcli -p "$Q" PING >/dev/null
	expect_exit 5 "plain: a seed its primary does not list is refused" \
		hf --converge-timeout 300ms plan "$T/plan.yaml" --cluster "127.0.0.1:$Q"
	check "plain: the refusal names the seed and what it says" \
		contains "$T/err" "127.0.0.1:$Q (seed) (itself) says it is a replica of 127.0.0.1:$P"
	check "plain: ... and that its primary does not list it" \
		contains "$T/err" "127.0.0.1:$P, the seed's INFO replication do not list it"
fi

test_end

finish
