#!/usr/bin/env bash
# Benchmark: rolling restart of a real 3-member etcd cluster (Debian's
# etcd-server 3.4) for a setting that needs a restart (--snapshot-count
# 100000 -> 5000), under a writer doing one put every 10 ms with unique
# keys (tests/integration/etcd/writer.py, each acknowledgement's time
# recorded).
#
# Per repetition, on the same cluster and writer:
#   hotfix  `hotfix apply` of an exec hotfix (tests/integration/etcd/
#           cluster.sh: edit the member's flags file, restart it by pid,
#           wait until it is healthy; replicas first, waves 1 then 100%,
#           no bake, move-leader before the leader), then `hotfix rollback`
#           (not timed);
#   by hand the same change in a plain loop, m1, m2, m3, each restarted in
#           place (no move-leader), then set back (not timed).
# Measured for each: total time; the longest window without a successful
# put (from the start of the restart to its end, edges included);
# acknowledged puts lost at the end (goal 0). Then hotfix/by-hand ratios
# of the medians.
#
#   bash bench/etcd_restart.sh [path/to/hotfix]    (REPS=3 by default)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
REPS=${REPS:-3}
C=$HERE/../tests/integration/etcd/cluster.sh
C=$(cd "$(dirname "$C")" && pwd)/cluster.sh
WRITER=$(dirname "$C")/writer.py
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
D=$T/etcd
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
cl() { bash "$C" "$1" "$D" "${@:2}"; }
W=
cleanup() {
	[ -n "$W" ] && kill "$W" 2>/dev/null && wait "$W" 2>/dev/null
	[ -f "$D/members" ] && cl down
	rm -rf "$T"
}
trap cleanup EXIT

command -v etcd >/dev/null || { echo "etcd-server is not installed (scripts/setup.sh)" >&2; exit 1; }
BASE=$(free_base 6)
cl init "$BASE"
cl up

cat >"$T/inv.yaml" <<EOF
apiVersion: hotfix/v1
kind: Inventory
discover: bash '$C' discover '$D'
EOF
bash "$C" manifest "$D" "$T/m.yaml" bench@example.com

ACKED=$T/acked
: >"$ACKED"
python3 "$WRITER" "$(cl endpoints)" "$ACKED" b/ 0.01 &
W=$!
wait_for 10 sh -c "[ \$(wc -l <'$ACKED') -ge 20 ]"

# gap FROM TO: the longest time (ms) in [FROM, TO] without an acknowledged put.
gap() {
	awk -v a="$1" -v b="$2" '
		BEGIN { last = a; m = 0 }
		$2 >= a && $2 <= b { if ($2 - last > m) m = $2 - last; last = $2 }
		END { if (b - last > m) m = b - last; print m }' "$ACKED"
}
# puts FROM TO: acknowledged puts in [FROM, TO].
puts() { awk -v a="$1" -v b="$2" '$2 >= a && $2 <= b { n++ } END { print n + 0 }' "$ACKED"; }

by_hand() {   # VALUE: set it on m1, m2, m3 in turn, each restarted in place
	local m
	for m in m1 m2 m3; do
		cl set "$m" snapshot-count "$1"
		cl restart "$m"
	done
}

printf '%-4s %-8s %9s %13s %6s\n' rep how total_ms max_no_put_ms puts
for rep in $(seq 1 "$REPS"); do
	t0=$(now_ms)
	hf apply "$T/m.yaml" --cluster "exec:$T/inv.yaml" --yes >"$T/apply.out" 2>&1 ||
		{ cat "$T/apply.out"; exit 1; }
	t1=$(now_ms)
	echo "$((t1 - t0)) $(gap "$t0" "$t1")" >>"$T/hotfix"
	printf '%-4s %-8s %9s %13s %6s\n' "$rep" hotfix $((t1 - t0)) "$(gap "$t0" "$t1")" "$(puts "$t0" "$t1")"
	hf rollback "$(hf --json history | jq -r '.[0].run')" >"$T/rollback.out" 2>&1 ||
		{ cat "$T/rollback.out"; exit 1; }

	t0=$(now_ms)
	by_hand 5000
	t1=$(now_ms)
	echo "$((t1 - t0)) $(gap "$t0" "$t1")" >>"$T/hand"
	printf '%-4s %-8s %9s %13s %6s\n' "$rep" by-hand $((t1 - t0)) "$(gap "$t0" "$t1")" "$(puts "$t0" "$t1")"
	by_hand 100000
done

kill "$W"
wait "$W" 2>/dev/null || true
W=
cut -d' ' -f1 "$ACKED" | sort >"$T/acked.keys"
etcdctl --endpoints="$(cl endpoints)" get --prefix b/ --keys-only | sed '/^$/d' | sort >"$T/present.keys"
lost=$(comm -23 "$T/acked.keys" "$T/present.keys" | wc -l)

ht=$(cut -d' ' -f1 "$T/hotfix" | median)
hg=$(cut -d' ' -f2 "$T/hotfix" | median)
mt=$(cut -d' ' -f1 "$T/hand" | median)
mg=$(cut -d' ' -f2 "$T/hand" | median)
echo
echo "median of $REPS: hotfix ${ht} ms total, ${hg} ms longest without a put;" \
	"by hand ${mt} ms total, ${mg} ms longest without a put"
awk -v ht="$ht" -v mt="$mt" -v hg="$hg" -v mg="$mg" 'BEGIN {
	printf "ratios hotfix/by-hand: total %.2f, longest window without a put %.2f\n", ht / mt, (mg ? hg / mg : 0) }'
echo "acknowledged puts: $(wc -l <"$T/acked.keys"), lost: $lost (goal 0)"
[ "$lost" = 0 ]
