#!/usr/bin/env bash
# Benchmark of the fuzzers (issue 13, item 8): builds the libFuzzer targets
# (clang, ASan+UBSan: 'make build-fuzz') and runs each for FUZZ_SECONDS
# from its seed corpus, one after the other, as 'make fuzz' does (same
# options, same leak suppressions), in a corpus of its own that starts
# from the seeds each time. Prints the executions of each target, their
# total and the crashes (a crash, leak, abort or a 10 s input stops its
# target and is counted; its input is kept under FUZZ_BUILD). Goal:
# >= 10 M executions in total, 0 crashes. Not part of the tests.
#
#   bash bench/fuzz.sh   (FUZZ_SECONDS=120 per target, FUZZ_BUILD=build-fuzz)
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
cd "$SRC"
T=$(mktemp -d /tmp/hotfix-fuzz.XXXXXX)
trap 'rm -rf "$T"' EXIT

make --no-print-directory build-fuzz FUZZ_BUILD="$FUZZ_BUILD" >/dev/null || exit 1
mkdir -p "$FUZZ_BUILD/artifacts"
total=0
crashes=0
printf '%-18s %14s %12s %8s\n' target executions exec/s crashes
for f in "$FUZZ_BUILD"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	mkdir -p "$T/$name"
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$SRC/tests/fuzz/lsan.supp" \
		"$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$FUZZ_BUILD/artifacts/$name-" "$T/$name" \
		"tests/fuzz/corpus/${name#fuzz_}" >"$T/$name.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$name.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$T/$name.log" | tail -n 1)
	c=0
	if [ "$rc" -ne 0 ]; then
		c=1
		cp "$T/$name.log" "$FUZZ_BUILD/artifacts/$name.log"
	fi
	printf '%-18s %14s %12s %8s\n' "$name" "${runs:-?}" "${rate:-?}" "$c"
	total=$((total + ${runs:-0}))
	crashes=$((crashes + c))
done
printf '%-18s %14s %12s %8s\n' total "$total" "" "$crashes"
echo "($FUZZ_SECONDS s per target; goal: >= 10000000 executions, 0 crashes)"
[ "$crashes" -eq 0 ]
