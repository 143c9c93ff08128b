#!/usr/bin/env bash
# Benchmark: a two-parameter config hotfix applied and rolled back (zero
# bake) on a TLS sandbox (rediss://, client certificates, tls-cluster and
# tls-replication) next to the same sandbox without TLS, in one run, the
# two interleaved repetition by repetition so that both see the same
# machine. Prints medians over REPS and the ratio TLS / plain (goal <= 1.5).
# The TLS runs resume the sessions the previous command kept in its state
# directory (<state>/tls-sessions), as an operator's apply then rollback
# would; COLD=1 removes them before each command: full handshakes only.
# Not part of the tests.
#
#   bash bench/tls.sh [path/to/hotfix]    (REPS=9, SIZES="3x1 20x2", COLD=0 by default)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-9}
SIZES=${SIZES:-"3x1 20x2"}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
trap 'for d in "$T"/sb-*; do [ -d "$d" ] && "$HOTFIX" sandbox down --dir "$d" >/dev/null 2>&1; done; rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"

config_manifest "$T/fix.yaml" bench-tls

# cold KIND: with COLD=1, forget the TLS sessions kept by the last command.
cold() { [ "${COLD:-0}" = 1 ] && rm -rf "$T/state-$1/tls-sessions"; return 0; }

# one KIND SEED: apply then roll back on one sandbox, appending the times
# (µs) to $T/KIND.apply and $T/KIND.rollback. Each kind has a journal of
# its own, so 'rollback last' is its own run.
one() {
	local kind=$1 seed=$2 t0 opts=()
	[ "$kind" = tls ] && opts=("${TLSOPTS[@]}")
	cold "$kind"
	t0=$(now_us)
	"$HOTFIX" --state "$T/state-$kind" "${opts[@]}" -q apply "$T/fix.yaml" --cluster "$seed" --yes
	echo $(($(now_us) - t0)) >>"$T/$kind.apply"
	cold "$kind"
	t0=$(now_us)
	"$HOTFIX" --state "$T/state-$kind" "${opts[@]}" -q rollback last --cluster "$seed"
	echo $(($(now_us) - t0)) >>"$T/$kind.rollback"
}

printf '%-6s %-6s %12s %12s %12s %12s %10s %10s %10s\n' size nodes plain_apply plain_rb \
	tls_apply tls_rb apply_x rollback_x total_x
for size in $SIZES; do
	shards=${size%x*}
	replicas=${size#*x}
	nodes=$((shards * (replicas + 1)))
	base=$(free_base "$nodes" 20000 22600 100)
	"$HOTFIX" sandbox up --dir "$T/sb-plain" --shards "$shards" --replicas "$replicas" \
		--base-port "$base" >"$T/up.plain"
	base_tls=$(free_base "$nodes" $((base + 100)) 22600 100)
	"$HOTFIX" sandbox up --dir "$T/sb-tls" --tls --shards "$shards" --replicas "$replicas" \
		--base-port "$base_tls" >"$T/up.tls"
	pki=$T/sb-tls/tls
	TLSOPTS=(--tls-cacert "$pki/ca.crt" --tls-cert "$pki/client.crt" --tls-key "$pki/client.key")
	: >"$T/plain.apply"; : >"$T/plain.rollback"; : >"$T/tls.apply"; : >"$T/tls.rollback"
	for rep in $(seq 1 "$REPS"); do
		one plain "$(tail -n 1 "$T/up.plain")"
		one tls "$(tail -n 1 "$T/up.tls")"
	done
	pa=$(median <"$T/plain.apply"); pr=$(median <"$T/plain.rollback")
	ta=$(median <"$T/tls.apply"); tr=$(median <"$T/tls.rollback")
	awk -v s="$size" -v n="$nodes" -v pa="$pa" -v pr="$pr" -v ta="$ta" -v tr="$tr" 'BEGIN {
		printf "%-6s %-6s %12.1f %12.1f %12.1f %12.1f %10.2f %10.2f %10.2f\n", s, n,
			pa / 1000, pr / 1000, ta / 1000, tr / 1000, ta / pa, tr / pr, (ta + tr) / (pa + pr) }'
	echo "       (ms, medians of $REPS runs each, interleaved; _x = TLS / plain, goal <= 1.5; COLD=${COLD:-0})"
	"$HOTFIX" sandbox down --dir "$T/sb-plain" >/dev/null
	"$HOTFIX" sandbox down --dir "$T/sb-tls" >/dev/null
done
