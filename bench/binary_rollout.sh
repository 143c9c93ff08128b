#!/usr/bin/env bash
# Benchmark: rolling upgrade of a 3x1 and a 3x2 sandbox under load, from
# the deb12u7 build of redis-server 7.0.15 to the deb12u10 build and back
# (scripts/redis-builds.sh fetches both).
#
# Per topology, each repetition:
#   1. a sandbox on u7 with 100,000 keys written first;
#   2. `hotfix load --check-writes --rate 4000` in the background: every SET
#      writes a new key; at the end every acknowledged key is read back;
#   3. `hotfix apply` of the u10 binary (waves 1 node, then 100%; guard
#      none, so the time is the restarts' own), then `hotfix rollback`;
#   4. the load stops and reports, per shard, the longest client-visible
#      outage ("unavailable window": from a request that went wrong to the
#      shard's next successful reply) and the acknowledged writes lost.
# Then, side by side on the same sandbox and load, the reference: what a
# hand-written rolling restart does, node by node, replicas first, each node
# restarted in place (`SHUTDOWN SAVE`, start the other binary, wait for
# PING) with no failover.
#
# Goals: 0 acknowledged writes lost; error window per shard <= 2 s.
#
#   bash bench/binary_rollout.sh [path/to/hotfix]    (REPS=3 by default)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-3}
RATE=${RATE:-4000}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
LOAD=
cleanup() {
	[ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null && wait "$LOAD" 2>/dev/null
	hf sandbox down --dir "$T/sb" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

U7=$("$HERE/../scripts/redis-builds.sh" u7)
U10=$("$HERE/../scripts/redis-builds.sh" u10)
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

manifest() {
	cat >"$T/u10.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: redis-u10, version: 1, owner: bench@example.com, problem: upgrade}
spec:
  changes:
    - binary: {path: $U10}
  rollout:
    waves:
      - nodes: 1
      - nodes: 100%
  guard: none
YAML
}

start_load() {
	"$HOTFIX" --state "$STATE" load --cluster "$SEED" --seconds 3600 --rate "$RATE" --check-writes --json >"$1" 2>"$1.err" &
	LOAD=$!
	sleep 2
}
stop_load() {
	sleep 2
	kill -INT "$LOAD"
	wait "$LOAD" || true
	LOAD=
}

# The hand-written reference: every node restarted in place on binary $1,
# replicas first, one at a time.
naive_restart() {
	local bin=$1 p conf role
	for role in slave master; do
		for p in $NODES; do
			[ "$(redis-cli -p "$p" ROLE | head -n 1)" = "$role" ] || continue
			conf=$(redis-cli -p "$p" INFO server | tr -d '\r' | sed -n 's/^config_file://p')
			redis-cli -p "$p" SHUTDOWN SAVE >/dev/null 2>&1 || true
			wait_for 30 sh -c "! redis-cli -p $p PING >/dev/null 2>&1"
			"$bin" "$conf"
			wait_for 30 sh -c "redis-cli -p $p PING 2>/dev/null | grep -q PONG"
		done
	done
	sleep 1
}

summary() { # summary FILE: "max-window-ms lost acked errors"
	jget "$1" '"%.0f %d %d %d" % (d["unavailable_ms"], d["lost"], d["acked_writes"], d["errors"])'
}

manifest
printf '%-5s %-4s %9s %9s %13s %6s %9s %7s\n' topo rep apply_s rollback_s window_max_ms lost acked errors
for topo in "3 1" "3 2"; do
	read -r shards replicas <<<"$topo"
	nodes=$((shards * (replicas + 1)))
	for rep in $(seq 1 "$REPS"); do
		base=$(free_base "$nodes")
		hf sandbox up --dir "$T/sb" --base-port "$base" --shards "$shards" --replicas "$replicas" \
			--redis-server "$U7" >"$T/up" 2>&1 || { cat "$T/up"; exit 1; }
		SEED=$(tail -n 1 "$T/up")
		NODES=$(seq "$base" $((base + nodes - 1)))
		hf load --cluster "$SEED" --requests 100000 --keys 100000 --read-ratio 0 --pipeline 16 >/dev/null

		start_load "$T/hf.json"
		t0=$(now_ms)
		hf -q apply "$T/u10.yaml" --cluster "$SEED" --yes >/dev/null
		t1=$(now_ms)
		hf -q rollback last >/dev/null
		t2=$(now_ms)
		stop_load
		read -r win lost acked errs <<<"$(summary "$T/hf.json")"
		printf '%-5s %-4s %9.2f %9.2f %13s %6s %9s %7s\n' "${shards}x$replicas" "$rep" \
			"$(echo "($t1 - $t0) / 1000" | bc -l)" "$(echo "($t2 - $t1) / 1000" | bc -l)" \
			"$win" "$lost" "$acked" "$errs"
		echo "$win" >>"$T/hf-win-${shards}x$replicas"
		echo "$lost" >>"$T/hf-lost-${shards}x$replicas"

		start_load "$T/naive.json"
		t0=$(now_ms)
		naive_restart "$U10"
		naive_restart "$U7"
		t1=$(now_ms)
		stop_load
		read -r win lost acked errs <<<"$(summary "$T/naive.json")"
		printf '%-5s %-4s %9s %9s %13s %6s %9s %7s   (reference: in-place restarts, both ways, %.1f s)\n' \
			"${shards}x$replicas" "$rep" - - "$win" "$lost" "$acked" "$errs" \
			"$(echo "($t1 - $t0) / 1000" | bc -l)"
		echo "$win" >>"$T/ref-win-${shards}x$replicas"
		hf sandbox down --dir "$T/sb" >/dev/null
	done
done

echo
for topo in 3x1 3x2; do
	hw=$(median <"$T/hf-win-$topo")
	rw=$(median <"$T/ref-win-$topo")
	lost=$(awk '{s+=$1} END {print s}' "$T/hf-lost-$topo")
	printf '%s: hotfix max window per shard, median of %d: %s ms (goal <= 2000); in-place reference: %s ms; ratio %.2f; acknowledged writes lost over all runs: %s (goal 0)\n' \
		"$topo" "$REPS" "$hw" "$rw" "$(echo "$hw / ($rw + 0.001)" | bc -l)" "$lost"
done
