#!/usr/bin/env bash
# Benchmark: flag propagation (issue 12): from a version published (the
# primary's clock, in the publish script) to its acknowledgement by each
# client (the client's clock when it swapped the version in), over
# CLIENTS 'hotfix flag watch' processes on one 3-shard sandbox, for PUBS
# publishes, first idle, then under 'hotfix load'. The delays come from
# 'hotfix flag status --json' after each publish; p50/p99 over every
# (client, publish). Goal: p99 <= 50 ms. Not part of the tests.
#
#   bash bench/flags_propagation.sh [path/to/hotfix]   (CLIENTS=100 PUBS=10)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
BUILD=$(dirname "$HOTFIX")
PUBLISH=${HF_FLAGS_PUBLISH:-$BUILD/hf_flags_publish}
CLIENTS=${CLIENTS:-100}
PUBS=${PUBS:-10}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
PIDS=()
hf() { "$HOTFIX" --state "$STATE" "$@"; }
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -d "$T/sb" ] && hf sandbox down --dir "$T/sb" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"

[ -x "$PUBLISH" ] || { echo "no $PUBLISH: build the hf_flags_publish target" >&2; exit 2; }
BASE=$(free_base 3)
hf sandbox up --dir "$T/sb" --base-port "$BASE" --shards 3 --replicas 0 >"$T/up" 2>&1
SEED=$(tail -n 1 "$T/up")

# One static flag 'ui', and a 10/90 fractional 'rollout' for the
# evaluation benchmark at the end.
doc() {
	printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"%s"},"rollout":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"fractional":[["on",10],["off",90]]}}}}\n' "$2" >"$1"
}
doc "$T/on.json" on
doc "$T/off.json" off
"$PUBLISH" "$SEED" "$T/off.json" 0 >/dev/null
for ((i = 0; i < CLIENTS; i++)); do
	"$HOTFIX" --state "$STATE" flag watch ui --cluster "$SEED" >/dev/null 2>&1 &
	PIDS+=("$!")
done

# acked_all VERSION: every client acknowledged VERSION (status says so).
acked_all() {
	hf --json flag status --cluster "$SEED" >"$T/status.json" &&
		jq -e ".version == $1 and .acknowledged == $CLIENTS" "$T/status.json" >/dev/null
}
acked_all 1 || wait_for 60 acked_all 1

# round LABEL: PUBS publishes, each once all clients acknowledged the one
# before; the delays of every client for each are appended to $T/LABEL.
round() {
	local label=$1 k v file
	: >"$T/$label"
	for ((k = 0; k < PUBS; k++)); do
		file=$T/on.json
		[ $((k % 2)) = 1 ] && file=$T/off.json
		v=$("$PUBLISH" "$SEED" "$file" | awk '{print $2}')
		wait_for 60 acked_all "$v"
		jq -r '.clients[].delay_ms' "$T/status.json" >>"$T/$label"
		jq -r '"  publish \(.version): p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' "$T/status.json"
	done
}
# pct P FILE: nearest-rank percentile P of the numbers in FILE.
pct() { sort -n "$2" | awk -v p="$1" '{a[NR]=$1} END {r=int(p/100*NR+0.999999); if(r<1)r=1; print a[r]}'; }
report() {
	echo "$1: $(wc -l <"$T/$1") delays ($CLIENTS clients x $PUBS publishes): p50 $(pct 50 "$T/$1") ms, p99 $(pct 99 "$T/$1") ms, max $(pct 100 "$T/$1") ms"
}

echo "== idle: $CLIENTS watchers, $PUBS publishes =="
round idle
echo "== under 'hotfix load' (5000 requests/s) =="
"$HOTFIX" --state "$STATE" load --cluster "$SEED" --rate 5000 --seconds 600 >"$T/load.out" 2>&1 &
LOAD=$!
PIDS+=("$LOAD")
round load
kill "$LOAD"
echo
report idle
report load

# Evaluation through the library, while its thread keeps the document
# current (the watchers still run).
if cmake --build "$BUILD" --target bench_flags_client >/dev/null 2>&1; then
	echo
	echo "== libhotfix-flags evaluation (bench/flags_client.c) =="
	"$BUILD/bench_flags_client" "$SEED" "${EVALS:-10000000}"
fi
