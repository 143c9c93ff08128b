#!/usr/bin/env bash
# Benchmark: apply and roll back a two-parameter config hotfix with zero
# bake on sandboxes of 3x1 (6 nodes) and 20x2 (60 nodes), next to a plain
# loop of `redis-cli CONFIG SET` over the same nodes, in the same run.
# Prints medians over REPS repetitions and the ratios. Not part of the tests.
#
#   bash bench/config_rollout.sh [path/to/hotfix]    (REPS=7 by default)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-7}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
trap 'for d in "$T"/sb-*; do [ -d "$d" ] && hf sandbox down --dir "$d" >/dev/null 2>&1; done; rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"

config_manifest "$T/fix.yaml" bench-two-params

printf '%-6s %-6s %12s %12s %14s %14s %12s %12s %16s\n' size nodes apply_ms rollback_ms \
	rollback_int_ms cli_set_ms cli_restore_ms apply/cli rollback/cli
for size in 3x1 20x2; do
	shards=${size%x*}
	replicas=${size#*x}
	nodes=$((shards * (replicas + 1)))
	base=$(free_base "$nodes" 20000 22600 100)
	dir=$T/sb-$size
	t0=$(now_us)
	hf sandbox up --dir "$dir" --shards "$shards" --replicas "$replicas" --base-port "$base" >"$T/up.log"
	up_ms=$((($(now_us) - t0) / 1000))
	seed=$(tail -n 1 "$T/up.log")
	ports=$(seq "$base" $((base + nodes - 1)))
	: >"$T/apply" ; : >"$T/rollback" ; : >"$T/rbint" ; : >"$T/cliset" ; : >"$T/clirestore"
	for rep in $(seq 1 "$REPS"); do
		t0=$(now_us)
		hf -q apply "$T/fix.yaml" --cluster "$seed" --yes
		echo $(($(now_us) - t0)) >>"$T/apply"
		t0=$(now_us)
		hf rollback last >"$T/rb.out"
		echo $(($(now_us) - t0)) >>"$T/rollback"
		# The engine's own decision -> verified time, from its event.
		sed -n 's/.*rolled back in \([0-9.]*\)\(ms\|s\):.*/\1 \2/p' "$T/rb.out" |
			awk '{print ($2 == "s") ? $1 * 1000000 : $1 * 1000}' >>"$T/rbint"

		# The reference: one redis-cli process per node, as a script would.
		t0=$(now_us)
		for p in $ports; do redis-cli -p "$p" CONFIG SET timeout 300 maxmemory-policy allkeys-lru >/dev/null; done
		echo $(($(now_us) - t0)) >>"$T/cliset"
		t0=$(now_us)
		for p in $ports; do redis-cli -p "$p" CONFIG SET timeout 0 maxmemory-policy noeviction >/dev/null; done
		echo $(($(now_us) - t0)) >>"$T/clirestore"
	done
	a=$(median <"$T/apply"); r=$(median <"$T/rollback"); ri=$(median <"$T/rbint")
	cs=$(median <"$T/cliset"); cr=$(median <"$T/clirestore")
	awk -v s="$size" -v n="$nodes" -v a="$a" -v r="$r" -v ri="$ri" -v cs="$cs" -v cr="$cr" 'BEGIN {
		printf "%-6s %-6s %12.1f %12.1f %14.1f %14.1f %12.1f %12.2f %16.2f\n", s, n,
			a / 1000, r / 1000, ri / 1000, cs / 1000, cr / 1000, a / cs, r / cr }'
	echo "       (sandbox up of $size took ${up_ms} ms; medians of $REPS runs; ratios < 1 mean hotfix is faster)"
	hf sandbox down --dir "$dir" >/dev/null
done
