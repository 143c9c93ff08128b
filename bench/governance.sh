#!/usr/bin/env bash
# Benchmark: what governance (issue 13: the cluster's lease and the audit
# trail) costs a config hotfix on a 60-node sandbox (20x2): apply and
# rollback with this hotfix, next to the same with the hotfix built from
# the commit before governance came (no lease, no audit), alternating
# run by run on the same sandbox, in the same run. Then the audit trail's
# own cost per record and per signed checkpoint (bench_audit_records).
# Prints medians over REPS repetitions and the ratios. Not part of the tests.
#
#   bash bench/governance.sh [path/to/hotfix] [path/to/hotfix-without]
#
# Without the second argument, the hotfix before governance is built from
# BASE_REF (by default the parent of the commit that added
# src/core/audit.c) in a scratch directory. REPS=9 by default.
#
# [policy + signed approvals: the lead adds their cost here, a third
# column measured the same way.]
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
BUILD=$(dirname "$HOTFIX")
REPS=${REPS:-9}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
STATE0=$T/state-without
hf() { "$HOTFIX" --state "$STATE" "$@"; }
trap 'for d in "$T"/sb-*; do [ -d "$d" ] && hf sandbox down --dir "$d" >/dev/null 2>&1; done; rm -rf "$T"' EXIT

. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -ge 2 ]; then
	WITHOUT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
else
	ref=${BASE_REF:-$(git -C "$SRC" log --diff-filter=A --format=%H -- src/core/audit.c | tail -n 1)^}
	echo "building hotfix without governance from $(git -C "$SRC" rev-parse --short "$ref") ..."
	mkdir -p "$T/base"
	git -C "$SRC" archive "$ref" | tar -x -C "$T/base"
	cmake -S "$T/base" -B "$T/base/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$T/base/build" -j2 --target hotfix >/dev/null
	WITHOUT=$T/base/build/hotfix
fi

cat >"$T/fix.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: bench-governance
  version: 1
  owner: bench@example.com
  problem: Benchmark of governance on a two-parameter config hotfix with zero bake.
spec:
  changes:
    - config:
        timeout: "300"
        maxmemory-policy: allkeys-lru
  rollout:
    order: replicas-first
    waves:
      - nodes: 100%
        bake: 0
  guard: none
YAML

shards=20 replicas=2
nodes=$((shards * (replicas + 1)))
base=$(free_base "$nodes" 20000 22600 100)
dir=$T/sb-60
hf sandbox up --dir "$dir" --shards "$shards" --replicas "$replicas" --base-port "$base" >"$T/up.log"
seed=$(tail -n 1 "$T/up.log")

# one BINARY STATE OUT: apply + rollback, microseconds of each into OUT.a/OUT.r
one() {
	local t0
	t0=$(now_us)
	"$1" --state "$2" -q apply "$T/fix.yaml" --cluster "$seed" --yes
	echo $(($(now_us) - t0)) >>"$3.a"
	t0=$(now_us)
	"$1" --state "$2" -q rollback last
	echo $(($(now_us) - t0)) >>"$3.r"
}
# A warm-up of each, then alternating, so that both see the same machine.
one "$HOTFIX" "$STATE" "$T/warm"
one "$WITHOUT" "$STATE0" "$T/warm"
for rep in $(seq 1 "$REPS"); do
	one "$HOTFIX" "$STATE" "$T/with"
	one "$WITHOUT" "$STATE0" "$T/without"
done
aw=$(median <"$T/with.a"); rw=$(median <"$T/with.r")
a0=$(median <"$T/without.a"); r0=$(median <"$T/without.r")
printf '%-28s %12s %12s %14s\n' "60 nodes (20x2), config" apply_ms rollback_ms apply+rollback
awk -v aw="$aw" -v rw="$rw" -v a0="$a0" -v r0="$r0" 'BEGIN {
	printf "%-28s %12.1f %12.1f %14.1f\n", "without lease and audit", a0 / 1000, r0 / 1000, (a0 + r0) / 1000
	printf "%-28s %12.1f %12.1f %14.1f\n", "with lease and audit", aw / 1000, rw / 1000, (aw + rw) / 1000
	printf "%-28s %12.2f %12.2f %14.2f\n", "ratio (goal <= 1.2)", aw / a0, rw / r0, (aw + rw) / (a0 + r0) }'
echo "(medians of $REPS runs each, alternating; records in the audit trail: $(hf audit export | wc -l))"
hf audit verify >/dev/null && echo "(the audit trail of the benchmark verifies)"
hf sandbox down --dir "$dir" >/dev/null

cmake --build "$BUILD" -j2 --target bench_audit_records >/dev/null
echo
echo "the audit trail alone (SQLite WAL, synchronous=FULL; Ed25519 checkpoints):"
"$BUILD/bench_audit_records" "$T/audit-only" 500
