#!/usr/bin/env bash
# Benchmark: what governance (issue 13: the cluster's lease and the audit
# trail) costs a config hotfix on a 60-node sandbox (20x2): apply and
# rollback with this hotfix, next to the same with the hotfix built from
# the commit before governance came (no lease, no audit), alternating
# run by run on the same sandbox, in the same run. Then the audit trail's
# own cost per record and per signed checkpoint (bench_audit_records).
# A third column runs this hotfix under a policy (issue 13's whole cost):
# Ed25519 keys made with openssl genpkey, a cluster entry with approvals: 1
# and a window open all week (checked at start and at each wave boundary),
# the actor's --sign-key, and an approval signed by an approver just before
# each apply (outside the apply's time; its own time is the approve_ms
# column). Prints medians over REPS repetitions and the ratios. Not part
# of the tests.
#
#   bash bench/governance.sh [path/to/hotfix] [path/to/hotfix-without]
#
# Without the second argument, the hotfix before governance is built from
# BASE_REF (by default the parent of the commit that added
# src/core/audit.c) in a scratch directory. REPS=9 by default.
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
BUILD=$(dirname "$HOTFIX")
REPS=${REPS:-9}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
STATE0=$T/state-without
STATE1=$T/state-policy
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

config_manifest "$T/fix.yaml" bench-governance

# The policy of the third column: alice applies, bob approves.
for who in alice bob; do
	openssl genpkey -algorithm ed25519 -out "$T/$who.key" 2>/dev/null
	openssl pkey -in "$T/$who.key" -pubout -out "$T/$who.pub" 2>/dev/null
done
cat >"$T/policy.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Policy
identities:
  - {name: alice, key: alice.pub, roles: [operator]}
  - {name: bob,   key: bob.pub,   roles: [approver]}
clusters:
  - match: "redis://127.0.0.1:*"
    approvals: 1
    windows:
      - {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "24:00"}
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
# The same under the policy: bob approves (timed apart, into OUT.p), then
# alice applies with the approval and rolls back, each with her key.
one_policy() {
	local t0 hp=("$HOTFIX" --state "$STATE1" --policy "$T/policy.yaml" -q)
	t0=$(now_us)
	"${hp[@]}" --sign-key "$T/bob.key" approve "$T/fix.yaml" --cluster "$seed" \
		--reason bench --out "$T/bob.approval"
	echo $(($(now_us) - t0)) >>"$1.p"
	t0=$(now_us)
	"${hp[@]}" --sign-key "$T/alice.key" apply "$T/fix.yaml" --cluster "$seed" --yes \
		--approval "$T/bob.approval"
	echo $(($(now_us) - t0)) >>"$1.a"
	t0=$(now_us)
	"${hp[@]}" --sign-key "$T/alice.key" rollback last
	echo $(($(now_us) - t0)) >>"$1.r"
}
# A warm-up of each, then alternating, so that all see the same machine.
one "$HOTFIX" "$STATE" "$T/warm"
one "$WITHOUT" "$STATE0" "$T/warm"
one_policy "$T/warm"
# The order turns each repetition (B C A, C A B, A B C): whichever follows
# whom pays for it evenly.
run_b() { one "$HOTFIX" "$STATE" "$T/with"; }
run_c() { one_policy "$T/policy"; }
run_a() { one "$WITHOUT" "$STATE0" "$T/without"; }
for rep in $(seq 1 "$REPS"); do
	case $((rep % 3)) in
	1) run_b; run_c; run_a ;;
	2) run_c; run_a; run_b ;;
	0) run_a; run_b; run_c ;;
	esac
done
aw=$(median <"$T/with.a"); rw=$(median <"$T/with.r")
a0=$(median <"$T/without.a"); r0=$(median <"$T/without.r")
ap=$(median <"$T/policy.a"); rp=$(median <"$T/policy.r"); pp=$(median <"$T/policy.p")
printf '%-34s %10s %12s %14s\n' "60 nodes (20x2), config" apply_ms rollback_ms apply+rollback
awk -v aw="$aw" -v rw="$rw" -v a0="$a0" -v r0="$r0" -v ap="$ap" -v rp="$rp" 'BEGIN {
	f = "%-34s %10.1f %12.1f %14.1f\n"; g = "%-34s %10.2f %12.2f %14.2f\n"
	printf f, "A: old build (no lease, no audit)", a0 / 1000, r0 / 1000, (a0 + r0) / 1000
	printf f, "B: this build, no policy", aw / 1000, rw / 1000, (aw + rw) / 1000
	printf f, "C: this build, policy + approval", ap / 1000, rp / 1000, (ap + rp) / 1000
	printf g, "C / B (goal <= 1.2)", ap / aw, rp / rw, (ap + rp) / (aw + rw)
	printf g, "C / A (goal <= 1.2)", ap / a0, rp / r0, (ap + rp) / (a0 + r0)
	printf g, "B / A", aw / a0, rw / r0, (aw + rw) / (a0 + r0) }'
awk -v pp="$pp" 'BEGIN { printf "approve (by bob, before each apply, not in C): %.1f ms\n", pp / 1000 }'
echo "(medians of $REPS runs each, interleaved in turning order; audit records: $(hf audit export | wc -l) (B), $("$HOTFIX" --state "$STATE1" audit export | wc -l) (C))"
hf audit verify >/dev/null && "$HOTFIX" --state "$STATE1" audit verify >/dev/null &&
	echo "(the audit trails of the benchmark verify)"
hf sandbox down --dir "$dir" >/dev/null

cmake --build "$BUILD" -j2 --target bench_audit_records >/dev/null
echo
echo "the audit trail alone (SQLite WAL, synchronous=FULL; Ed25519 checkpoints):"
"$BUILD/bench_audit_records" "$T/audit-only" 500
