#!/usr/bin/env bash
# 'hotfix drill' of a config hotfix with five faults, next to the same
# hotfix applied and rolled back with no fault and no load, on the same
# mirror in the same run: the ratio is the drill's overhead.
#
# A source sandbox of 3 shards x 1 replica holds KEYS keys
# (tests/integration/stage_data.py); 'hotfix stage' makes its mirror (the
# real path: a drill rehearses on a staged mirror). The hotfix sets timeout
# and maxmemory-policy in three waves (1 node, 50%, 100%) with 2 s bakes,
# as tests/integration/test_drill.sh does, so the faults land during the
# apply (kill, failover, hang, null) and the rollback (crash-controller:
# the rollback killed, then 'resume --rollback'). Each round, on a mirror
# staged afresh:
#   drill      hotfix drill FILE --mirror M --faults FAULTS  (whole process)
#   reference  hotfix apply FILE --yes, then hotfix rollback last  (each timed,
#              on the same mirror after the drill)
# The drill's phases come from its run's events in the journal: "before"
# (load started, replicas converged, first fingerprint) up to the run's
# first event, "apply" (with the faults; up to the first rollback event),
# "rollback" (to the run's last event, the resumed rollback included),
# "after" (replicas converged, second fingerprint, the load stopped and
# every acknowledged write read back).
#
#   ROUNDS=3 KEYS=20000 bash bench/drill.sh build/hotfix
set -u
. "$(dirname "$0")/lib.sh"

HOTFIX=${1:-${HOTFIX:?give the hotfix binary as $1 or HOTFIX}}
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-20000}
FAULTS=${FAULTS:-kill,failover,hang@2500ms,null@3500ms,crash-controller@rollback}
DATA=$(dirname "$0")/../tests/integration/stage_data.py
W=$(mktemp -d /tmp/hotfix-bench-drill.XXXXXX)
trap 'for d in "$W"/src "$W"/mirror; do "$HOTFIX" sandbox down --dir "$d" >/dev/null 2>&1; done; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT

config_manifest "$W/m.yaml" bench-drill "      - nodes: 1
        bake: 2s
      - nodes: 50%
        bake: 2s
      - nodes: 100%"

SB=$(free_base 6) || { echo "no free ports" >&2; exit 1; }
"$HOTFIX" sandbox up --dir "$W/src" --base-port "$SB" --shards 3 --replicas 1 >/dev/null || exit 1
ranges=$(redis-cli -p "$SB" cluster nodes | awk '/master/ { split($2, a, "[:@]"); s = ""
	for (i = 9; i <= NF; i++) s = s (s ? "," : "") $i; print a[2], s }' | sort -n | cut -d' ' -f2)
ports=$(redis-cli -p "$SB" cluster nodes | awk '/master/ { split($2, a, "[:@]"); print a[2] }' | sort -n)
mkdir -p "$W/data"
python3 "$DATA" "$KEYS" bench "$W/data" $ranges
i=0
for p in $ports; do redis-cli -p "$p" --pipe <"$W/data/shard$i.resp" >/dev/null; i=$((i + 1)); done
# A fresh mirror each round: a node killed after an earlier round's
# CONFIG REWRITE comes back with another ACL LIST (docs/NOTES.md, "A
# finding of the first runs"), which the next drill would rightly report.
stage_mirror() {
	"$HOTFIX" sandbox down --dir "$W/mirror" >/dev/null 2>&1
	rm -rf "$W/mirror"
	MB=$(free_base 6 22700 24000) || exit 1
	t=$(now_ms)
	"$HOTFIX" stage --from "redis://127.0.0.1:$SB" --sample 100% --dir "$W/mirror" --base-port "$MB" >"$W/stage.out" || exit 1
	stage_ms=$(($(now_ms) - t))
	SEED=redis://127.0.0.1:$MB
}
stage_mirror
nodes=$(redis-cli -p "$MB" cluster nodes | wc -l)
keys=0
for p in $(redis-cli -p "$MB" cluster nodes | awk '/master/ { split($2, a, "[:@]"); print a[2] }'); do
	keys=$((keys + $(redis-cli -p "$p" dbsize)))
done
echo "# mirror: $nodes nodes (3x1, staged from a 3x1 sandbox in $stage_ms ms), $keys keys; redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
echo "# faults: $FAULTS"

# The phases of the drill's run, from its events (ms since the epoch).
phases() {
	jq -r --argjson t0 "$1" --argjson t1 "$2" '
		(.events | map(.ts_ms)) as $ts
		| ([.events[] | select(.kind | test("rollback|rolling")) | .ts_ms] | first // $ts[-1]) as $rb
		| [$ts[0] - $t0, $rb - $ts[0], $ts[-1] - $rb, $t1 - $ts[-1]] | @tsv' "$3"
}

for ((r = 1; r <= ROUNDS; r++)); do
	[ "$r" = 1 ] || stage_mirror
	S=$W/state$r
	t0=$(now_ms)
	"$HOTFIX" --state "$S" --json drill "$W/m.yaml" --mirror "$W/mirror" --faults "$FAULTS" >"$W/drill.$r.json" ||
		{ echo "the drill failed (round $r):" >&2; jq -c . "$W/drill.$r.json" >&2; exit 1; }
	t1=$(now_ms)
	"$HOTFIX" --state "$S" --json status last >"$W/run.$r.json" || exit 1
	read -r before apply rollback after < <(phases "$t0" "$t1" "$W/run.$r.json")
	R=$W/ref$r
	t2=$(now_ms)
	HOTFIX_CLUSTER=$SEED "$HOTFIX" --state "$R" apply "$W/m.yaml" --yes >"$W/ref.$r.out" 2>&1 || exit 1
	t3=$(now_ms)
	HOTFIX_CLUSTER=$SEED "$HOTFIX" --state "$R" rollback last >>"$W/ref.$r.out" 2>&1 || exit 1
	t4=$(now_ms)
	echo "$((t1 - t0)) $before $apply $rollback $after $((t3 - t2)) $((t4 - t3))" | tee -a "$W/rounds" |
		awk -v r="$r" '{ printf "round %d: drill %6d ms (before %d, apply %d, rollback %d, after %d); apply %d ms + rollback %d ms\n", r, $1, $2, $3, $4, $5, $6, $7 }'
done

med() { awk -v c="$1" '{ print $c }' "$W/rounds" | median; }
d=$(med 1) b=$(med 2) a=$(med 3) rb=$(med 4) af=$(med 5) ra=$(med 6) rr=$(med 7)
echo "# medians over $ROUNDS rounds (ms)"
awk -v d="$d" -v b="$b" -v a="$a" -v rb="$rb" -v af="$af" -v ra="$ra" -v rr="$rr" 'BEGIN {
	printf "%-40s %8s\n", "what", "ms"
	printf "%-40s %8.0f\n", "drill, whole process", d
	printf "%-40s %8.0f\n", "  before (load, converge, fingerprint)", b
	printf "%-40s %8.0f\n", "  apply, with the faults", a
	printf "%-40s %8.0f\n", "  rollback (resumed after the kill)", rb
	printf "%-40s %8.0f\n", "  after (converge, fingerprint, writes)", af
	printf "%-40s %8.0f\n", "reference: apply", ra
	printf "%-40s %8.0f\n", "reference: rollback", rr
	printf "%-40s %8.0f\n", "reference: apply + rollback", ra + rr
	printf "%-40s %8.2fx\n", "drill / (apply + rollback)", d / (ra + rr) }'
