#!/usr/bin/env bash
# Benchmark: guard detection time. From the moment a fault starts, injected
# from OUTSIDE the tool, to the first revert command of the rollback the
# guard decides on its own.
#
# Set-up: a 3x1 sandbox, `hotfix load --rate 2000` in the background, a
# harmless config hotfix (timeout: "300"), primaries first, waves
# `nodes: 1, bake: 30s` then `100%`, guard interval 1s, failure_limit 2,
# baseline 2s, check error_rate max 0.01. While wave 1 bakes, the script sets
# `maxmemory 1` with redis-cli on the canary primary (the node wave 1
# changed: the guard judges only changed nodes); under the default
# noeviction policy every write to it then fails with OOM.
#
#   fault_ts  = wall clock (ms) just before the redis-cli CONFIG SET
#   revert_ts = ts_ms of the journal event "rolling back ..." (journaled
#               just before the first revert is sent)
#   detection = revert_ts - fault_ts          goal <= 3000 ms
#
# After each repetition maxmemory is set back to 0 by hand (and the run is
# rolled back by hand if the guard did not). Not part of the tests.
#
#   bash bench/guard_detection.sh [path/to/hotfix]    (REPS=5 by default)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-5}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
LOAD=
APPLY=
PORTS=
cleanup() {
	local p
	[ -n "$APPLY" ] && kill "$APPLY" 2>/dev/null && wait "$APPLY" 2>/dev/null
	[ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null && wait "$LOAD" 2>/dev/null
	for p in $PORTS; do redis-cli -p "$p" CONFIG SET maxmemory 0 >/dev/null 2>&1 || true; done
	hf sandbox down --dir "$T/sb" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"

cat >"$T/fix.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: bench-guard-detection
  version: 1
  owner: bench@example.com
  problem: Detection benchmark; the hotfix itself is harmless, the fault comes from outside.
spec:
  changes:
    - config:
        timeout: "300"
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: 30s
      - nodes: 100%
  guard:
    interval: 1s
    baseline: 2s
    failure_limit: 2
    checks:
      - metric: error_rate
        max: 0.01
YAML

BASE=$(free_base 6 22000 22580 20) || { echo "no free ports in 22000-22600" >&2; exit 1; }
PORTS=$(seq "$BASE" $((BASE + 5)))
t0=$(now_ms)
hf sandbox up --dir "$T/sb" --base-port "$BASE" >"$T/up" 2>&1 || { cat "$T/up"; exit 1; }
SEED=$(tail -n 1 "$T/up")
echo "redis-server $(redis-server --version | cut -d' ' -f3), 3x1 sandbox on ports $BASE-$((BASE + 5)) (up in $(($(now_ms) - t0)) ms), $(nproc) CPU(s)"

"$HOTFIX" --state "$STATE" load --cluster "$SEED" --rate 2000 --seconds 3600 >"$T/load.out" 2>&1 &
LOAD=$!
echo "load:   hotfix load --rate 2000 (50% GET / 50% SET) in the background"
echo "guard:  interval 1s, baseline 2s, failure_limit 2, error_rate max 0.01"
echo "fault:  redis-cli -p CANARY CONFIG SET maxmemory 1, while wave 1 bakes"
echo

all=()
for i in $(seq 1 "$REPS"); do
	"$HOTFIX" --state "$STATE" apply "$T/fix.yaml" --cluster "$SEED" --yes >"$T/apply.out" 2>&1 &
	APPLY=$!
	if ! wait_for 60 grep -q 'wave 1/2 baking' "$T/apply.out"; then
		echo "run $i: the bake of wave 1 never started" >&2
		cat "$T/apply.out" >&2
		exit 1
	fi
	canary=$(sed -n 's/.*applied and verified on primary 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/apply.out" | head -n 1)
	[ -n "$canary" ] || { echo "run $i: no canary in apply's output" >&2; cat "$T/apply.out" >&2; exit 1; }
	# Let the guard see one healthy interval of the bake, then inject the
	# fault at a phase that varies from run to run (0..900 ms into an
	# interval), so the median is not tied to one phase of the sampler.
	sleep "$(printf '1.%03d' $(( (i * 370) % 1000 )))"
	fault_ts=$(now_ms)
	redis-cli -p "$canary" CONFIG SET maxmemory 1 >/dev/null
	code=0
	wait "$APPLY" || code=$?
	APPLY=
	redis-cli -p "$canary" CONFIG SET maxmemory 0 >/dev/null
	run=$(hf --json history | sed -n 's/.*"run": "\([^"]*\)".*/\1/p' | head -n 1)
	hf --json status "$run" >"$T/status.json"
	revert_ts=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ev = [e for e in d["events"] if e.get("message", e.get("text", "")).startswith("rolling back")]
print(ev[0]["ts_ms"] if ev else "")' "$T/status.json")
	if [ "$code" != 3 ] || [ -z "$revert_ts" ]; then
		echo "run $i: apply exited $code (wanted 3: rolled back by the guard)"
		sed 's/^/    /' "$T/apply.out" | tail -n 15
		hf rollback "$run" >/dev/null 2>&1 || true
		continue
	fi
	d=$((revert_ts - fault_ts))
	all+=("$d")
	passes=$(grep -c '\] verdict  pass' "$T/apply.out" || true)
	fails=$(grep -c '\] verdict  fail' "$T/apply.out" || true)
	printf 'run %d: canary 127.0.0.1:%s  fault at %s  rolling back at %s  detection %5d ms  (apply exit %s; verdicts: %s pass, then %s fail)\n' \
		"$i" "$canary" "$fault_ts" "$revert_ts" "$d" "$code" "$passes" "$fails"
	[ "$i" = 1 ] && { echo "    the guard's reason:"; grep -m1 'rolling back' "$T/apply.out" | cut -c1-300 | sed 's/^/    /'; }
	sleep 1   # let the canary's error counters settle before the next baseline
done

kill "$LOAD" 2>/dev/null || true
wait "$LOAD" 2>/dev/null || true
LOAD=
echo
[ ${#all[@]} -gt 0 ] || { echo "no successful run"; exit 1; }
med=$(printf '%s\n' "${all[@]}" | median)
max=$(printf '%s\n' "${all[@]}" | sort -n | tail -n 1)
printf 'detection: median %d ms, max %d ms over %d of %d run(s)  (goal <= 3000 ms with interval 1s, failure_limit 2): %s\n' \
	"$med" "$max" "${#all[@]}" "$REPS" "$([ "$med" -le 3000 ] && echo met || echo NOT met)"
