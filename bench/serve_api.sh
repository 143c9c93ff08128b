#!/usr/bin/env bash
# Benchmark: `hotfix serve` under load, on a journal with a run of 10,000
# events (a real apply on a 3x1 sandbox, then events appended through
# hf_journal_event() by bench/journal_events.c; no SQL here).
#   1. latency p50/p99 under 50 concurrent clients (wrk, 2 threads) of
#      GET /api/v1/runs/RUN (the run's detail: its newest 200 events, every
#      verdict and sample, its whole hash chain checked), idle and while
#      an event is committed to the run every 20 ms, of
#      GET /metrics, and of the reference: a static file served by the same
#      server (the dashboard's style sheet, embedded in the binary); plus
#      the run's detail with one client, its service time without queueing;
#   2. SSE delay, journal commit -> a `curl -N` client, for events committed
#      every 20 ms: idle, and while 50 clients load the run's detail;
#   3. apply wall time of a six-wave config hotfix (zero bake) without and
#      with `serve` polling it (GET /api/v1/runs, /metrics and the newest
#      run's detail every 50 ms, and an event stream open), alternating.
# Prints figures and ratios; not part of the tests.
#
#   bash bench/serve_api.sh [path/to/hotfix]   (DURATION=10 seconds per wrk run,
#                                    EVENTS=10000, SSE_EVENTS=200, REPS=7)
set -euo pipefail

HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
BUILD=$(dirname "$HOTFIX")
DURATION=${DURATION:-10}
EVENTS=${EVENTS:-10000}
SSE_EVENTS=${SSE_EVENTS:-200}
REPS=${REPS:-7}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	hf sandbox down --dir "$T/sb" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"

command -v wrk >/dev/null || { echo "serve_api.sh: needs wrk (apt-get install wrk, or make setup)" >&2; exit 1; }
cmake --build "$BUILD" --target bench_journal_events >/dev/null
EV=$BUILD/bench_journal_events

manifest() {   # manifest FILE NAME WAVES: a timeout hotfix in WAVES waves (1, 2, ... nodes, then all)
	local w
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: $2
  version: 1
  owner: bench@example.com
  problem: Serve benchmark; a harmless hotfix with zero bake.
spec:
  changes:
    - config:
        timeout: "300"
  rollout:
    order: replicas-first
    waves:
YAML
	for ((w = 1; w < $3; w++)); do printf '      - nodes: %d\n        bake: 0\n' "$w" >>"$1"; done
	printf '      - nodes: 100%%\n        bake: 0\n  guard: none\n' >>"$1"
}
manifest "$T/big.yaml" bench-serve-big 2
manifest "$T/fix.yaml" bench-serve-watched 6

BASE=$(free_base 7 22000 22580 20) || { echo "no free ports in 22000-22600" >&2; exit 1; }
hf sandbox up --dir "$T/sb" --base-port "$BASE" >"$T/up" 2>&1 || { cat "$T/up"; exit 1; }
SEED=$(tail -n 1 "$T/up")
PORT=$((BASE + 6))
URL=http://127.0.0.1:$PORT

# The run of EVENTS events: a real apply, then the rest appended.
hf -q apply "$T/big.yaml" --cluster "$SEED" --yes
hf -q rollback last >/dev/null
RUN=$(hf --json history | jq -r '.[0].run')
have=$(hf --json status "$RUN" | jq '.events | length')
t0=$(now_ms)
"$EV" "$STATE" "$RUN" $((EVENTS - have))
append_ms=$(($(now_ms) - t0))

"$HOTFIX" --state "$STATE" serve --listen "127.0.0.1:$PORT" >"$T/serve.log" 2>&1 &
SERVE=$!
PIDS+=("$SERVE")
wait_for 10 curl -sf -o /dev/null "$URL/api/v1/runs" || { cat "$T/serve.log"; exit 1; }
n=$(curl -sf "$URL/api/v1/runs/$RUN" | jq '.events_total')
bytes=$(curl -sf "$URL/api/v1/runs/$RUN" | wc -c)

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), 3x1 sandbox on $BASE-$((BASE + 5)), hotfix serve on $URL, $(nproc) CPU(s)"
echo "run $RUN: $n events (its detail: ${bytes} bytes of JSON with the newest 200); $((EVENTS - have)) appended in $append_ms ms"
echo

# ms: a wrk duration ("362.00us", "1.62ms", "1.31s", "1.00m") in ms.
ms() { awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); x = v + 0;
	if (u == "us") x /= 1000; else if (u == "s") x *= 1000; else if (u == "m") x *= 60000;
	printf "%.2f", x }'; }

# load NAME CONNECTIONS PATH: one wrk run; prints a row, keeps p99 in $T/p99.NAME.
load() {
	local name=$1 c=$2 path=$3 out=$T/wrk.$1 p50 p99 rps to bad
	wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${DURATION}s" --timeout 30s --latency "$URL$path" >"$out"
	p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$out")
	to=$(awk '/timeout/ { for (i = 1; i <= NF; i++) if ($i == "timeout") print $(i + 1) }' "$out")
	bad=$(awk '/Non-2xx/ { print $NF }' "$out")
	echo "$p99" >"$T/p99.$name"
	printf '%-24s %5s %10s %10s %10s %9s %9s\n' "$name" "$c" "$p50" "$p99" "$rps" "${to:-0}" "${bad:-0}"
}

echo "== 1. latency under load: wrk -t2 -c50 -d${DURATION}s --timeout 30s --latency =="
printf '%-24s %5s %10s %10s %10s %9s %9s\n' target conns p50_ms p99_ms req/s timeouts non-2xx
load static-file 50 /static/style.css
load metrics 50 /metrics
load run-detail 50 "/api/v1/runs/$RUN"
load metrics-1-client 1 /metrics
load run-detail-1-client 1 "/api/v1/runs/$RUN"
# The same while a driver writes the run: an event committed every 20 ms,
# so the answer kept is stale 50 times a second and rendered again.
"$EV" "$STATE" "$RUN" $((DURATION * 50)) 20 >/dev/null &
WRITER=$!
PIDS+=("$WRITER")
load run-detail-writing 50 "/api/v1/runs/$RUN"
wait "$WRITER" 2>/dev/null || true
floor=$(cat "$T/p99.static-file")
for k in metrics run-detail; do
	awk -v a="$(cat "$T/p99.$k")" -v b="$floor" -v k="$k" \
		'BEGIN { printf "p99 %s / static file: %.1f\n", k, (b > 0 ? a / b : 0) }'
done
for k in run-detail run-detail-writing; do
	awk -v a="$(cat "$T/p99.$k")" -v k="$k" 'BEGIN { printf "%s p99 %.1f ms under 50 clients (goal <= 20 ms): %s\n", k, a, (a <= 20 ? "met" : "NOT met") }'
done
echo

arrived() { [ "$(grep -c 'bench event' "$1")" -ge "$SSE_EVENTS" ]; }

# sse NAME: the delay of SSE_EVENTS events, commit -> curl -N client, in ms.
sse() {
	local name=$1 log=$T/sse.$1 commits=$T/commits.$1 curlpid
	: >"$log"
	# $! is curl's own pid: the stamping loop ends when curl does.
	curl -sN "$URL/api/v1/events?run=$RUN" > >(while IFS= read -r line; do
		echo "${EPOCHREALTIME/./} $line"
	done >"$log") &
	curlpid=$!
	PIDS+=("$curlpid")
	wait_for 10 grep -q 'hotfix journal events' "$log"
	"$EV" "$STATE" "$RUN" "$SSE_EVENTS" 20 >"$commits"
	wait_for 10 arrived "$log" ||
		echo "($name: only $(grep -c 'bench event' "$log") of $SSE_EVENTS events arrived)"
	kill "$curlpid" 2>/dev/null || true
	wait "$curlpid" 2>/dev/null || true
	# Receive time minus commit time, matched by the event's number.
	awk 'NR == FNR { c[$1] = $2; next }
	     match($0, /bench event [0-9]+ of/) { i = substr($0, RSTART + 12, RLENGTH - 15) + 0;
		if (i in c) print ($1 - c[i]) / 1000 }' "$commits" "$log" | sort -n >"$T/delay.$name"
	awk -v name="$name" '{ a[NR] = $1 } END {
		p50 = a[int(NR * 0.50 + 0.5) > 0 ? int(NR * 0.50 + 0.5) : 1];
		p99 = a[int(NR * 0.99 + 0.5) > 0 ? int(NR * 0.99 + 0.5) : 1];
		printf "%-34s %6d %10.1f %10.1f %10.1f   (goal p99 <= 100 ms: %s)\n", name, NR, p50, p99, a[NR], (p99 <= 100 ? "met" : "NOT met") }' "$T/delay.$name"
}

echo "== 2. SSE delay, journal commit -> curl -N client ($SSE_EVENTS events, one every 20 ms; the server polls the journal every 50 ms) =="
printf '%-34s %6s %10s %10s %10s\n' case events p50_ms p99_ms max_ms
sse idle
wrk -t2 -c50 -d$((SSE_EVENTS / 50 + 6))s --timeout 30s "$URL/api/v1/runs/$RUN" >/dev/null &
WRK=$!
PIDS+=("$WRK")
sleep 1   # let the load build up before the first event
sse "under-50-clients-on-run-detail"
kill "$WRK" 2>/dev/null || true
wait "$WRK" 2>/dev/null || true
echo

# poller: what a dashboard watching the rollout does, every 50 ms (its
# event stream is opened next to it).
poller() {
	local newest
	while :; do
		newest=$(curl -sf "$URL/api/v1/runs" | jq -r '.runs[0].run // empty')
		curl -sf -o /dev/null "$URL/metrics"
		[ -n "$newest" ] && curl -sf -o /dev/null "$URL/api/v1/runs/$newest"
		sleep 0.05
	done
}
apply_once() {   # apply_once FILE: the wall time in ms of one apply; then rolled back
	local t0 t
	t0=$(now_us)
	hf -q apply "$T/fix.yaml" --cluster "$SEED" --yes
	t=$((($(now_us) - t0) / 1000))
	hf -q rollback last >/dev/null
	echo "$t" >>"$1"
}

echo "== 3. apply wall time (6 waves, zero bake, 3x1), (A) serve idle, (B) serve polled every 50 ms =="
: >"$T/A"
: >"$T/B"
for rep in $(seq 1 "$REPS"); do
	order="A B"
	[ $((rep % 2)) = 0 ] && order="B A"
	for side in $order; do
		if [ "$side" = B ]; then
			curl -sN "$URL/api/v1/events" >/dev/null 2>&1 &
			STREAM=$!
			poller >/dev/null 2>&1 &
			POLL=$!
			PIDS+=("$STREAM" "$POLL")
			sleep 0.3   # the poller under way
			apply_once "$T/B"
			kill "$POLL" "$STREAM" 2>/dev/null || true
			wait "$POLL" "$STREAM" 2>/dev/null || true
		else
			apply_once "$T/A"
		fi
	done
	echo "pair $rep ($order): A $(tail -n 1 "$T/A") ms   B $(tail -n 1 "$T/B") ms"
done
a=$(median <"$T/A")
b=$(median <"$T/B")
echo "median apply: A (serve idle) $a ms   B (serve polled) $b ms   ratio B/A $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')"
echo "spread of A: $(sort -n "$T/A" | head -n 1)-$(sort -n "$T/A" | tail -n 1) ms, of B: $(sort -n "$T/B" | head -n 1)-$(sort -n "$T/B" | tail -n 1) ms"
