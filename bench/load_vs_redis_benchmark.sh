#!/usr/bin/env bash
# Benchmark: `hotfix load` flat out against `redis-benchmark` with the same
# clients, pipeline depth and value size, on one standalone redis-server
# (no cluster, no replica: like with like). The two alternate REPS times;
# prints the median throughputs and the ratio hotfix/redis-benchmark
# (goal >= 0.8). Not part of the tests.
#
#   bash bench/load_vs_redis_benchmark.sh [path/to/hotfix]    (REPS=3 by default)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-3}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
trap 'hf sandbox down --dir "$T/sb" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"
PORT=$(free_base 1 20500 22500 10) || { echo "no free port" >&2; exit 1; }

hf sandbox up --standalone --replicas 0 --dir "$T/sb" --base-port "$PORT" >"$T/up" 2>&1 || { cat "$T/up"; exit 1; }
SEED=$(tail -n 1 "$T/up")

RB=(redis-benchmark -p "$PORT" -t set,get -n 200000 -c 50 -P 16 -d 64 -q)
HL=("$HOTFIX" --state "$STATE" --json load --cluster "$SEED" --clients 50 --pipeline 16
    --value-size 64 --read-ratio 0.5 --requests 400000 --seconds 120)
echo "redis-server: $(redis-server --version | cut -d' ' -f3), one standalone node on port $PORT, $(nproc) CPU(s)"
echo "redis-benchmark: ${RB[*]}"
echo "hotfix load:     ${HL[*]}"
echo

rb_all=()
hl_all=()
for i in $(seq 1 "$REPS"); do
	# redis-benchmark runs SET then GET, 200000 each: its throughput over
	# the 400000 requests is their harmonic mean.
	out=$("${RB[@]}" 2>/dev/null | tr '\r' '\n')
	set_rps=$(echo "$out" | sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
	get_rps=$(echo "$out" | sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
	rb=$(awk -v s="$set_rps" -v g="$get_rps" 'BEGIN {printf "%.0f", 400000 / (200000 / s + 200000 / g)}')
	rb_all+=("$rb")

	"${HL[@]}" >"$T/hl.json"
	read -r hl ok errors p99 < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
print("%.0f %d %d %.3f" % (d["throughput"], d["ok"], d["errors"], d["latency_ms"]["p99"]))' "$T/hl.json")
	hl_all+=("$hl")
	printf 'run %d: redis-benchmark %8s req/s (SET %s, GET %s)   hotfix load %8s req/s (%s ok, %s errors, p99 %s ms)\n' \
		"$i" "$rb" "$set_rps" "$get_rps" "$hl" "$ok" "$errors" "$p99"
done

rb_med=$(printf '%s\n' "${rb_all[@]}" | median)
hl_med=$(printf '%s\n' "${hl_all[@]}" | median)
echo
printf 'median redis-benchmark  %10.0f req/s\n' "$rb_med"
printf 'median hotfix load      %10.0f req/s\n' "$hl_med"
awk -v h="$hl_med" -v r="$rb_med" 'BEGIN {printf "ratio hotfix/redis-benchmark  %.2f  (goal >= 0.80)\n", h / r}'
