#!/usr/bin/env bash
# Benchmark: hotfix on a sandbox of 300 nodes (150 shards x 1 replica), each
# figure next to a reference measured in the same run on the same nodes:
#   up        `hotfix sandbox up` (wall time; no reference);
#   show      `hotfix cluster show` (the topology consensus asks every node
#             for CLUSTER NODES: 300 x 300 lines), against one
#             `redis-cli CLUSTER NODES` per node;
#   apply     a config hotfix (timeout 0 -> 300, one wave of 100%, no bake,
#             guard: none), wall time and peak RSS (/usr/bin/time %M),
#             against a loop of `redis-cli CONFIG SET timeout 300`, one per
#             node; goals <= 2 s and <= 64 MB;
#   rollback  the same back (timeout 300 -> 0), against the loop back;
#   guard     hotfix's CPU (utime + stime from /proc/PID/stat) over WINDOW
#             seconds of a guarded bake (interval 1s: every node sampled
#             once a second), against a loop that runs `redis-cli INFO` on
#             every node once a second for as long; goal <= 10 % of one core;
#   down      `hotfix sandbox down` (wall time).
# Medians over REPS for apply and rollback. Ratios > 1 mean hotfix costs
# more than the reference. Not part of the tests.
#
#   bash bench/scale.sh [path/to/hotfix]    (SHARDS=150 REPLICAS=1 REPS=3 WINDOW=20)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
SHARDS=${SHARDS:-150}
REPLICAS=${REPLICAS:-1}
REPS=${REPS:-3}
WINDOW=${WINDOW:-20}
NODES=$((SHARDS * (REPLICAS + 1)))
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
APPLY=
REF=
cleanup() {
	[ -n "$REF" ] && { kill "$REF" 2>/dev/null || true; wait "$REF" 2>/dev/null || true; }
	if [ -n "$APPLY" ]; then
		kill "$APPLY" 2>/dev/null || true
		wait "$APPLY" 2>/dev/null || true
		hf rollback last >/dev/null 2>&1 || true
	fi
	[ -d "$T/sb" ] && hf sandbox down --dir "$T/sb" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

manifest() { # manifest FILE BAKE GUARD-YAML
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: bench-scale
  version: 1
  owner: bench@example.com
  problem: Benchmark of a config hotfix on a sandbox of $NODES nodes.
spec:
  changes:
    - config:
        timeout: "300"
  rollout:
    order: replicas-first
    waves:
      - nodes: 100%
        bake: $2
$3
YAML
}
manifest "$T/fix.yaml" 0 "  guard: none"
manifest "$T/guarded.yaml" $((WINDOW + 10))s "  guard:
    interval: 1s
    baseline: 1s
    failure_limit: 3
    checks:
      - metric: error_rate
        max: 0.01
      - metric: latency_p99_ms
        max_ratio_to_baseline: 2"

HZ=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# timed OUTFILE CMD...: run CMD under /usr/bin/time; appends "WALL_MS RSS_KB" to OUTFILE.
timed() {
	local out=$1
	shift
	/usr/bin/time -o "$T/time" -f '%e %M' "$@" >"$T/cmd.out" 2>&1 || { cat "$T/cmd.out" >&2; return 1; }
	awk '{printf "%d %d\n", $1 * 1000, $2}' "$T/time" >>"$out"
}
# ref_loop WHAT...: a plain shell loop of one redis-cli per node.
ref_loop() { local p; for p in $PORTS; do redis-cli -p "$p" "$@" >/dev/null; done; }
col() { awk -v c="$1" '{print $c}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

BASE=$(free_base "$NODES" 20000 22000 100) || { echo "no $NODES free ports (and bus ports) in 20000-22000" >&2; exit 1; }
PORTS=$(seq "$BASE" $((BASE + NODES - 1)))
echo "redis-server $(redis-server --version | cut -d' ' -f3), $(nproc) CPU(s), sandbox ${SHARDS}x$REPLICAS ($NODES nodes) on ports $BASE-$((BASE + NODES - 1))"

t0=$(now_ms)
hf sandbox up --dir "$T/sb" --shards "$SHARDS" --replicas "$REPLICAS" --base-port "$BASE" \
	>"$T/up.out" 2>"$T/up.err" || { cat "$T/up.out" "$T/up.err" >&2; exit 1; }
UP_MS=$(($(now_ms) - t0))
SEED=$(tail -n 1 "$T/up.out")
grep '^sandbox:' "$T/up.err" | tail -n 3 | sed 's/^/  /' || true

: >"$T/show"; : >"$T/show.ref"
: >"$T/apply"; : >"$T/rollback"; : >"$T/set.ref"; : >"$T/restore.ref"
for rep in $(seq 1 "$REPS"); do
	timed "$T/show" "$HOTFIX" --state "$STATE" cluster show --cluster "$SEED"
	timed "$T/show.ref" bash -c "$(declare -f ref_loop); PORTS='$PORTS'; ref_loop CLUSTER NODES"
	timed "$T/apply" "$HOTFIX" --state "$STATE" -q apply "$T/fix.yaml" --cluster "$SEED" --yes
	timed "$T/rollback" "$HOTFIX" --state "$STATE" -q rollback last --cluster "$SEED"
	timed "$T/set.ref" bash -c "$(declare -f ref_loop); PORTS='$PORTS'; ref_loop CONFIG SET timeout 300"
	timed "$T/restore.ref" bash -c "$(declare -f ref_loop); PORTS='$PORTS'; ref_loop CONFIG SET timeout 0"
done
med() { col "$2" <"$T/$1" | median; }
echo
printf '%-10s %12s %12s %14s %14s %8s\n' "" hotfix_ms hotfix_rss_MB reference_ms ref_rss_MB ratio
row() { # row NAME FILE REF-FILE
	printf '%-10s %12.0f %12.1f %14.0f %14.1f %8s\n' "$1" "$(med "$2" 1)" \
		"$(awk -v k="$(med "$2" 2)" 'BEGIN {print k / 1024}')" "$(med "$3" 1)" \
		"$(awk -v k="$(med "$3" 2)" 'BEGIN {print k / 1024}')" "$(ratio "$(med "$2" 1)" "$(med "$3" 1)")"
}
row show show show.ref
row apply apply set.ref
row rollback rollback restore.ref
echo "(medians of $REPS; reference: one redis-cli process per node in a shell loop, its RSS that of the loop's"
echo " largest process; goals: apply and rollback <= 2000 ms each, <= 64 MB)"

# ---- the guard at 1 Hz ----------------------------------------------------
"$HOTFIX" --state "$STATE" apply "$T/guarded.yaml" --cluster "$SEED" --yes >"$T/guard.out" 2>&1 &
APPLY=$!
wait_for 120 grep -q 'baking' "$T/guard.out" || { cat "$T/guard.out" >&2; exit 1; }
k0=$(cpu_ticks "$APPLY"); v0=$(grep -c 'verdict' "$T/guard.out" || true); t0=$(now_ms)
sleep "$WINDOW"   # a benchmark's window, not a wait for a condition
k1=$(cpu_ticks "$APPLY"); v1=$(grep -c 'verdict' "$T/guard.out" || true); t1=$(now_ms)
GUARD_MS=$((t1 - t0))
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$APPLY/status")
code=0
wait "$APPLY" || code=$?
APPLY=
hf -q rollback last >/dev/null
GUARD_PCT=$(awk -v k=$((k1 - k0)) -v hz="$HZ" -v ms="$GUARD_MS" 'BEGIN {printf "%.2f", 100 * k / hz / (ms / 1000)}')

# The reference: every node's INFO once a second, one redis-cli each.
ref_info() {
	local end=$(($(date +%s) + WINDOW)) next p rounds=0
	while [ "$(date +%s)" -lt "$end" ]; do
		next=$(($(date +%s%N) / 1000000 + 1000))
		for p in $PORTS; do redis-cli -p "$p" INFO >/dev/null; done
		rounds=$((rounds + 1))
		while [ $(($(date +%s%N) / 1000000)) -lt "$next" ]; do sleep 0.05; done
	done
	echo "$rounds" >"$T/rounds"
}
t0=$(now_ms)
/usr/bin/time -o "$T/time" -f '%U %S' bash -c "$(declare -f ref_info); T='$T'; WINDOW=$WINDOW; PORTS='$PORTS'; ref_info"
t1=$(now_ms)
REF_PCT=$(awk -v ms=$((t1 - t0)) '{printf "%.2f", 100 * ($1 + $2) / (ms / 1000)}' "$T/time")
REF_ROUND=$(awk -v r="$(cat "$T/rounds")" '{printf "%.0f", 1000 * ($1 + $2) / r}' "$T/time")
GUARD_ROUND=$(awk -v k=$((k1 - k0)) -v hz="$HZ" -v v=$((v1 - v0)) 'BEGIN {printf "%.0f", v ? 1000 * k / hz / v : 0}')
echo
printf 'guard     hotfix apply baking, guard interval 1s: %s %% of one core over %d ms (%d verdicts; peak RSS %.1f MB; apply exit %d)\n' \
	"$GUARD_PCT" "$GUARD_MS" $((v1 - v0)) "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$code"
printf '          reference, redis-cli INFO on every node once a second: %s %% of one core (%s rounds in %d s)\n' \
	"$REF_PCT" "$(cat "$T/rounds")" "$WINDOW"
printf '          ratio %s (goal: hotfix <= 10 %% of one core)\n' "$(ratio "$GUARD_PCT" "$REF_PCT")"
printf '          CPU per look at every node: hotfix %s ms per verdict, reference %s ms per round (ratio %s;\n' \
	"$GUARD_ROUND" "$REF_ROUND" "$(ratio "$GUARD_ROUND" "$REF_ROUND")"
echo "          a reference that cannot keep up with 1 Hz does fewer rounds, and costs less per second than it would)"

t0=$(now_ms)
hf sandbox down --dir "$T/sb" >/dev/null
echo
echo "sandbox up ${UP_MS} ms, down $(($(now_ms) - t0)) ms"
