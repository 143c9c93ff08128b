#!/usr/bin/env bash
# Benchmark of the flag evaluator (issue 12): ns per evaluation of a static
# flag, a targeting rule and a fractional flag (bench/flags_eval.json), on 1
# and 8 threads, next to a plain hash table lookup of a string key in the
# same run (bench/flags_eval.c); then flagd-core 4.0.1 in Node on the same
# flags and contexts (bench/flags_eval.mjs; skipped without
# tests/flags/node_modules, 'make flags-deps'). Prints figures and ratios
# against the goals: static <= 50 ns, fractional <= 150 ns, >= 10x faster
# than flagd-core. Not part of the tests.
#
#   bash bench/flags_eval.sh [path/to/hotfix]   (MILLIONS=5 evaluations per case,
#                                               NODE_MILLIONS=1)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
BUILD=$(cd "$(dirname "$HOTFIX")" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
MILLIONS=${MILLIONS:-5}
NODE_MILLIONS=${NODE_MILLIONS:-1}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT

cmake --build "$BUILD" --target bench_flags_eval >/dev/null
"$BUILD/bench_flags_eval" "$SRC/bench/flags_eval.json" "$MILLIONS" >"$T/c"
if [ -d "$SRC/tests/flags/node_modules/@openfeature/flagd-core" ]; then
	node "$SRC/bench/flags_eval.mjs" "$SRC/bench/flags_eval.json" "$NODE_MILLIONS" >"$T/node"
else
	echo "(flagd-core not installed: 'make flags-deps' for the comparison)" >&2
	: >"$T/node"
fi

# get FILE CASE THREADS: the ns/op of that line.
get() { awk -v c="$2" -v t="$3" '$1 == c && $2 == t { print $3 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }

echo "== flag evaluation (ns per evaluation; by key, or /handle: by a flag found once; $MILLIONS M per case) =="
printf '  %-18s %10s %10s %12s %14s %10s\n' CASE "1 THREAD" "8 THREADS" "x HASHTABLE" "FLAGD-CORE" "x FASTER"
h1=$(get "$T/c" hashtable 1)
for c in hashtable static rule fractional static/handle rule/handle fractional/handle; do
	one=$(get "$T/c" $c 1)
	eight=$(get "$T/c" $c 8)
	node=$(get "$T/node" "${c%/handle}" 1)
	printf '  %-18s %10s %10s %12s %14s %10s\n' "$c" "$one" "$eight" "$(ratio "$one" "$h1")" \
		"${node:--}" "$( [ -n "$node" ] && ratio "$node" "$one" || echo -)"
done
s=$(get "$T/c" static 1)
f=$(get "$T/c" fractional 1)
echo "goals: static <= 50 ns: $(awk -v x="$s" 'BEGIN { print (x <= 50 ? "met" : "MISSED") }')," \
	"fractional <= 150 ns: $(awk -v x="$f" 'BEGIN { print (x <= 150 ? "met" : "MISSED") }')"
if [ -s "$T/node" ]; then
	for c in static rule fractional; do
		r=$(ratio "$(get "$T/node" $c 1)" "$(get "$T/c" $c 1)")
		echo "  >= 10x faster than flagd-core, $c by key: $(awk -v r="$r" 'BEGIN { print (r >= 10 ? "met" : "missed") }') (${r}x)"
	done
fi
