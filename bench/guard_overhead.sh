#!/usr/bin/env bash
# Benchmark: what the guard's sampling costs the cluster. Throughput of
# `redis-benchmark --cluster` on a 3x1 sandbox, in alternating runs:
#   (A) no hotfix process at all;
#   (B) while `hotfix apply` of a harmless hotfix (timeout: "300") bakes
#       its first wave (60 s) with the guard sampling every node at 1 Hz
#       (interval 1s, check error_rate max 0.01). The apply is started and
#       its bake reached before redis-benchmark starts; after the run it is
#       stopped with `hotfix abort RUN`, which rolls it back.
# The order alternates per pair (AB, BA, AB, ...) so that a drift of the
# machine does not always favour the same side. Prints each pair, the
# medians and the ratio B/A (goal >= 0.99). Not part of the tests.
#
#   bash bench/guard_overhead.sh [path/to/hotfix]    (REPS=5 by default;
#                                        WARMUP=1, WINDOW=3 seconds per command;
#                                        B_GUARD=none for the control run)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-5}
N=${N:-100000000}     # more than a window needs: redis-benchmark is stopped after it
WARMUP=${WARMUP:-1}
WINDOW=${WINDOW:-3}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
APPLY=
cleanup() {
	if [ -n "$APPLY" ]; then
		kill "$APPLY" 2>/dev/null || true
		wait "$APPLY" 2>/dev/null || true
		hf rollback last >/dev/null 2>&1 || true
	fi
	hf sandbox down --dir "$T/sb" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"

cat >"$T/fix.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: bench-guard-overhead
  version: 1
  owner: bench@example.com
  problem: Overhead benchmark; a harmless hotfix baking with the guard sampling at 1 Hz.
spec:
  changes:
    - config:
        timeout: "300"
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: 60s
      - nodes: 100%
  guard:
    interval: 1s
    baseline: 1s
    failure_limit: 2
    checks:
      - metric: error_rate
        max: 0.01
YAML
# B_GUARD=none: a control experiment, (B) the same apply baking with
# `guard: none` (a plain wait, no sampling), to tell the guard's cost from
# that of a hotfix process and of the changed node.
BLABEL="guard at 1 Hz"
if [ "${B_GUARD:-}" = none ]; then
	BLABEL="apply, no guard"
	sed -i '/^  guard:/,$d' "$T/fix.yaml"
	echo '  guard: none' >>"$T/fix.yaml"
fi

BASE=$(free_base 6 22000 22580 20) || { echo "no free ports in 22000-22600" >&2; exit 1; }
hf sandbox up --dir "$T/sb" --base-port "$BASE" >"$T/up" 2>&1 || { cat "$T/up"; exit 1; }
SEED=$(tail -n 1 "$T/up")
PRIMARIES="$BASE $((BASE + 1)) $((BASE + 2))"
ALL=$(seq "$BASE" $((BASE + 5)))
HZ=$(getconf CLK_TCK)
RB=(redis-benchmark --cluster -p "$BASE" -n "$N" -c 50 -P 16 -q)
echo "redis-server $(redis-server --version | cut -d' ' -f3), 3x1 sandbox on ports $BASE-$((BASE + 5)), $(nproc) CPU(s)"
echo "redis-benchmark: ${RB[*]} -t set, then -t get; each measured at the servers over ${WINDOW}s after ${WARMUP}s"
if [ "${B_GUARD:-}" = none ]; then
	echo "(B): CONTROL, B_GUARD=none: hotfix apply (primaries-first, wave 1 bake 60s, guard: none) baking during the run, then hotfix abort"
else
	echo "(B): hotfix apply (primaries-first, wave 1 bake 60s, guard interval 1s) baking during the run, then hotfix abort"
fi
echo

# redis-benchmark --cluster ends its runs only on its 250 ms timer tick,
# so its own req/s figure moves in steps of 250 ms of a few-second run (up
# to 15 %). Throughput is therefore measured at the servers: redis-benchmark
# runs one command type with more requests than it can finish, and the SET
# (or GET) calls the primaries count in INFO commandstats over a window of
# WINDOW seconds, after WARMUP seconds, give the cluster's throughput; then
# redis-benchmark is stopped (by its pid). The guard's own commands (INFO,
# LATENCY HISTOGRAM, ...) are not counted: only the benchmark's.
# stats CMD: "CALLS OTHER_USEC": CMD's calls summed over the primaries,
# and the server time (usec) of every other command summed over all six
# nodes: the guard's INFO, LATENCY HISTOGRAM, ... (and this script's INFO).
stats() {
	local p calls=0 other=0 c o
	for p in $ALL; do
		read -r c o < <(redis-cli -p "$p" INFO commandstats | tr -d '\r' | awk -F'[:,=]' -v cmd="cmdstat_$1" '
			/^cmdstat_/ { if ($1 == cmd) c += $3; else o += $5 }
			END { printf "%d %d\n", c, o }')
		case " $PRIMARIES " in *" $p "*) calls=$((calls + c)) ;; esac
		other=$((other + o))
	done
	echo "$calls $other"
}
cpu_ticks() {   # utime+stime of a process, in clock ticks (0 when none)
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
# window CMD: "REQ/S OTHER_USEC_PER_S APPLY_CPU_MS" over the window
window() {
	local cmd=$1 pid c0 c1 o0 o1 t0 t1 k0 k1
	"${RB[@]}" -t "$cmd" >/dev/null 2>&1 &
	pid=$!
	sleep "$WARMUP"
	k0=$(cpu_ticks "$APPLY")
	t0=$(date +%s%N); read -r c0 o0 < <(stats "$cmd")
	sleep "$WINDOW"
	t1=$(date +%s%N); read -r c1 o1 < <(stats "$cmd")
	k1=$(cpu_ticks "$APPLY")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	kill -0 "$pid" 2>/dev/null && { echo "redis-benchmark $pid did not stop" >&2; return 1; }
	awk -v c=$((c1 - c0)) -v o=$((o1 - o0)) -v ns=$((t1 - t0)) -v k=$((k1 - k0)) -v hz="$HZ" \
		'BEGIN {s = ns / 1e9; printf "%.0f %.0f %.0f\n", c / s, o / s, 1000 * k / hz}'
}
# bench: prints "TOTAL SET GET" in req/s, TOTAL being the harmonic mean of
# SET and GET (the rate of a half-SET, half-GET workload).
bench() {
	local s g so go sk gk
	read -r s so sk < <(window set) && read -r g go gk < <(window get) || return 1
	[ "${s:-0}" -gt 0 ] && [ "${g:-0}" -gt 0 ] || { echo "no calls counted" >&2; return 1; }
	awk -v s="$s" -v g="$g" -v so="$so" -v go="$go" -v sk="$sk" -v gk="$gk" \
		'BEGIN {printf "%.0f %.0f %.0f %.0f %.0f\n", 2 / (1 / s + 1 / g), s, g, (so + go) / 2, sk + gk}'
}

run_a() { local o; o=$(bench) || exit 1; read -r a a_set a_get a_other a_cpu <<<"$o"; }
run_b() {
	local run v0 v1 code o
	"$HOTFIX" --state "$STATE" apply "$T/fix.yaml" --cluster "$SEED" --yes >"$T/apply.out" 2>&1 &
	APPLY=$!
	wait_for 60 grep -q 'wave 1/2 baking' "$T/apply.out" || { cat "$T/apply.out" >&2; return 1; }
	v0=$(grep -c 'verdict' "$T/apply.out" || true)
	o=$(bench) || exit 1
	read -r b b_set b_get b_other b_cpu <<<"$o"
	v1=$(grep -c 'verdict' "$T/apply.out" || true)
	run=$(hf --json history | sed -n 's/.*"run": "\([^"]*\)".*/\1/p' | head -n 1)
	if grep -q 'rolling back' "$T/apply.out"; then
		b_note="INVALID: the guard rolled back during the run"
	else
		b_note="$((v1 - v0)) guard verdicts during the run"
	fi
	hf abort "$run" >/dev/null 2>&1 || true
	code=0
	wait "$APPLY" || code=$?
	APPLY=
	b_note="$b_note; aborted, apply exit $code"
}

as=()
bs=()
rs=()
aos=()
bos=()
bcs=()
for i in $(seq 1 "$REPS"); do
	if [ $((i % 2)) = 1 ]; then run_a; run_b; order=AB; else run_b; run_a; order=BA; fi
	as+=("$a")
	bs+=("$b")
	rs+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')")
	printf 'pair %d (%s): A no hotfix %8d req/s (SET %d, GET %d)   B %s %8d req/s (SET %d, GET %d)   B/A %s\n' \
		"$i" "$order" "$a" "$a_set" "$a_get" "$BLABEL" "$b" "$b_set" "$b_get" "${rs[-1]}"
	printf '        other commands on the 6 servers: A %d us/s, B %d us/s;  hotfix apply CPU in B'"'"'s %ss of windows: %d ms  [%s]\n' \
		"$a_other" "$b_other" "$((2 * WINDOW))" "$b_cpu" "$b_note"
	aos+=("$a_other")
	bos+=("$b_other")
	bcs+=("$b_cpu")
done

am=$(printf '%s\n' "${as[@]}" | median)
bm=$(printf '%s\n' "${bs[@]}" | median)
echo
printf '%-28s %10.0f req/s\n' "median A (no hotfix)" "$am"
printf '%-28s %10.0f req/s\n' "median B ($BLABEL)" "$bm"
ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN {printf "%.3f", b / a}')
printf 'ratio B/A  %s  (goal >= 0.99): %s\n' "$ratio" \
	"$(awk -v r="$ratio" 'BEGIN {print (r >= 0.99 ? "met" : "NOT met")}')"
mm() { sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {print lo, hi}'; }
read -r alo ahi <<<"$(printf '%s\n' "${as[@]}" | mm)"
read -r blo bhi <<<"$(printf '%s\n' "${bs[@]}" | mm)"
read -r rlo rhi <<<"$(printf '%s\n' "${rs[@]}" | mm)"
printf 'median of the per-pair ratios B/A  %s  (pairs from %s to %s)\n' \
	"$(printf '%s\n' "${rs[@]}" | median)" "$rlo" "$rhi"
awk -v lo="$alo" -v hi="$ahi" -v m="$am" 'BEGIN {printf "noise: A alone ranges %.0f .. %.0f req/s, %.1f %% of its median\n", lo, hi, 100 * (hi - lo) / m}'
awk -v lo="$blo" -v hi="$bhi" -v m="$bm" 'BEGIN {printf "       B alone ranges %.0f .. %.0f req/s, %.1f %% of its median\n", lo, hi, 100 * (hi - lo) / m}'
ao=$(printf '%s\n' "${aos[@]}" | median)
bo=$(printf '%s\n' "${bos[@]}" | median)
bc=$(printf '%s\n' "${bcs[@]}" | median)
echo
echo "direct cost of (B), counted rather than inferred from throughput:"
awk -v ao="$ao" -v bo="$bo" 'BEGIN {printf "  server time of commands other than SET/GET, all 6 nodes: A %.0f us/s, B %.0f us/s (medians):\n  B adds %.0f us of server time per second: %.0f us/s per node, %.3f %% of a single-threaded server\n", ao, bo, bo - ao, (bo - ao) / 6, (bo - ao) / 6 / 1e4}'
awk -v c="$bc" -v w="$((2 * WINDOW))" 'BEGIN {printf "  hotfix apply itself (client side, same machine): %.0f ms of CPU per %d s of windows (median), %.2f %% of one core\n  (CPU time is counted in clock ticks of 10 ms)\n", c, w, c / (10 * w)}'
