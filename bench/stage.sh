#!/usr/bin/env bash
# 'hotfix stage' throughput (keys/s copied) next to what 'redis-cli
# --cluster import --cluster-copy --cluster-replace' does (SCAN, then
# MIGRATE ... COPY REPLACE into the owner), which refuses a cluster node as
# its source: so by hand, per source primary, 'redis-cli --scan' and
# a MIGRATE ... COPY REPLACE per key (as import sends them; KEYS with
# several keys is refused across slots) into the primary owning the same
# slots, through one redis-cli reading them from stdin; on the same keys
# in the same run.
#
# A source sandbox of SHARDS primaries (no replicas) holds KEYS keys of six
# types, a third with TTLs (tests/integration/stage_data.py). Each round:
# 'hotfix stage --sample 100%' into a fresh mirror (its copy phase is timed
# by hotfix itself, and the whole command by this script), then a fresh
# sandbox of the same layout filled with redis-cli --cluster import;
# ROUNDS rounds, medians printed.
#
#   KEYS=200000 ROUNDS=3 bash bench/stage.sh build/hotfix
set -u
. "$(dirname "$0")/lib.sh"

HOTFIX=${1:-${HOTFIX:?give the hotfix binary as $1 or HOTFIX}}
KEYS=${KEYS:-200000}
SHARDS=${SHARDS:-3}
ROUNDS=${ROUNDS:-3}
DATA=$(dirname "$0")/../tests/integration/stage_data.py
W=$(mktemp -d /tmp/hotfix-bench-stage.XXXXXX)
trap 'for d in "$W"/src "$W"/m* "$W"/ref*; do "$HOTFIX" sandbox down --dir "$d" >/dev/null 2>&1; done; rm -rf "$W"' EXIT

SB=$(free_base "$SHARDS") || { echo "no free ports" >&2; exit 1; }
"$HOTFIX" sandbox up --dir "$W/src" --base-port "$SB" --shards "$SHARDS" --replicas 0 >/dev/null || exit 1
ranges=$(redis-cli -p "$SB" cluster nodes | awk '/master/ { split($2, a, "[:@]"); s = ""
	for (i = 9; i <= NF; i++) s = s (s ? "," : "") $i; print a[2], s }' | sort -n | cut -d' ' -f2)
mkdir -p "$W/data"
python3 "$DATA" "$KEYS" bench "$W/data" $ranges
for ((i = 0; i < SHARDS; i++)); do redis-cli -p $((SB + i)) --pipe <"$W/data/shard$i.resp" >/dev/null; done
total=0
for ((i = 0; i < SHARDS; i++)); do total=$((total + $(redis-cli -p $((SB + i)) dbsize))); done
echo "# source: $SHARDS primaries on $SB.., $total keys; redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"

for ((r = 1; r <= ROUNDS; r++)); do
	MB=$(free_base "$SHARDS" 22700 24000) || exit 1
	t0=$(now_ms)
	"$HOTFIX" stage --from "redis://127.0.0.1:$SB" --sample 100% --dir "$W/m$r" --base-port "$MB" >"$W/stage.$r" || exit 1
	t1=$(now_ms)
	copy=$(sed -n 's/^keys .* in \([0-9.]*\) s, .*/\1/p' "$W/stage.$r")
	n=$(sed -n 's/^keys  *\([0-9]*\) copied.*/\1/p' "$W/stage.$r")
	"$HOTFIX" sandbox down --dir "$W/m$r" >/dev/null
	RB=$(free_base "$SHARDS" 22700 24000) || exit 1
	"$HOTFIX" sandbox up --dir "$W/ref$r" --base-port "$RB" --shards "$SHARDS" --replicas 0 >/dev/null || exit 1
	t2=$(now_ms)
	for ((i = 0; i < SHARDS; i++)); do
		redis-cli -p $((SB + i)) --scan |
			awk -v p=$((RB + i)) '{ print "MIGRATE 127.0.0.1", p, $0, "0 10000 COPY REPLACE" }' |
			redis-cli -p $((SB + i)) >"$W/import.$r.$i" 2>&1
		grep -v '^OK$' "$W/import.$r.$i" && { echo "MIGRATE failed" >&2; exit 1; }
	done
	t3=$(now_ms)
	got=0
	for ((i = 0; i < SHARDS; i++)); do got=$((got + $(redis-cli -p $((RB + i)) dbsize))); done
	"$HOTFIX" sandbox down --dir "$W/ref$r" >/dev/null
	awk -v n="$n" -v c="$copy" -v w=$((t1 - t0)) -v g="$got" -v i=$((t3 - t2)) 'BEGIN {
		printf "round: stage %d keys, copy %.3f s = %.0f keys/s (whole command %.2f s = %.0f keys/s); scan+MIGRATE %d keys in %.3f s = %.0f keys/s\n",
			n, c, n / c, w / 1000, n / (w / 1000), g, i / 1000, g / (i / 1000) }' | tee -a "$W/rounds"
done
echo "# medians over $ROUNDS rounds"
sk=$(sed 's/.*copy [0-9.]* s = \([0-9]*\) keys.*/\1/' "$W/rounds" | median)
sw=$(sed 's/.*whole command [0-9.]* s = \([0-9]*\) keys.*/\1/' "$W/rounds" | median)
ik=$(sed 's/.*MIGRATE .* = \([0-9]*\) keys\/s$/\1/' "$W/rounds" | median)
awk -v sk="$sk" -v sw="$sw" -v ik="$ik" 'BEGIN {
	printf "stage copy            %8.0f keys/s\nstage whole command   %8.0f keys/s (start of the mirror included)\n", sk, sw
	printf "scan + MIGRATE COPY    %8.0f keys/s\nratio copy/MIGRATE     %8.1fx; whole command/MIGRATE %.1fx\n", ik, sk / ik, sw / ik }'
