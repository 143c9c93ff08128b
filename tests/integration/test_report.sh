#!/usr/bin/env bash
# hotfix report: a run rolled back by the guard is reported with the
# failing metric, its nodes, the timeline and the outcome; a promoted run
# with a table per wave; --format html is one self-contained file with SVG
# charts; unknown runs and formats are invalid input.
. "$(dirname "$0")/lib.sh"

start_load() {   # start_load SECONDS: a rate-limited workload in the background
	"$HOTFIX" --state "$STATE" load --cluster "$SEED" --rate 2000 --seconds "$1" \
		>"$T/load.out" 2>&1 &
	LOAD=$!
	EXTRA_PIDS+=("$LOAD")
	wait_for "the load to start" 10 sh -c "[ \$(redis-cli -p $BASE INFO commandstats | grep -c cmdstat_set) = 1 ]"
}

stop_load() {
	kill "$LOAD" 2>/dev/null
	wait "$LOAD" 2>/dev/null
	return 0
}

guarded() {   # guarded FILE NAME CONFIG-FLOW
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: oncall@example.com, problem: "report test | with a pipe"}
spec:
  changes:
    - config: $3
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: 2s
      - nodes: 100%
        bake: 2s
  guard:
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    checks:
      - metric: error_rate
        max: 0.01
      - metric: latency_p99_ms
        max_ratio_to_baseline: 5
YAML
}

# html_ok FILE: one document, no reference to anything outside it, well
# formed as XML (so every tag is closed and every '<' '&' of the data
# escaped) and read by libxml2's HTML parser (which knows no HTML5 tag,
# hence its messages are not looked at, only its exit code).
html_ok() {
	grep -q '^<!DOCTYPE html>' "$1" || { echo "no doctype"; return 1; }
	! grep -Eiq 'https?://|<script|<link|src=' "$1" || { echo "an outside reference"; return 1; }
	[ "$(grep -c '<html' "$1")" = 1 ] || { echo "not one document"; return 1; }
	if command -v xmllint >/dev/null; then
		xmllint --noout "$1" || return 1
		xmllint --noout --html "$1" 2>/dev/null || return 1
	fi
	return 0
}

sandbox_up report --shards 3 --replicas 1 || finish

# ---- a run the guard rolled back -----------------------------------------
test_begin 'the report of a run the guard rolled back names the failing metric and nodes'
guarded "$T/oom.yaml" oom-maxmemory '{maxmemory: "1", maxmemory-policy: noeviction}'
start_load 30
expect_exit 3 "a hotfix that makes writes fail is rolled back by the guard" \
	hf apply "$T/oom.yaml" --cluster "$SEED" --yes
stop_load
run=$(last_run)
canary=$(hf --json status "$run" | jq -r '[.steps[] | select(.wave == 1)][0].address')
expect_exit 0 "report of the rolled-back run" hf report "$run"
cp "$T/out" "$T/rb.md"
check "it has a title with the hotfix and the run" grep -q "^# Hotfix report: oom-maxmemory v1 (run $run)" "$T/rb.md"
check "the outcome is 'rolled back by the guard'" grep -q '^\*\*rolled back by the guard: 2 consecutive failing' "$T/rb.md"
check "the failing metric is named with its nodes" \
	grep -q "^- error_rate on $canary in wave 1: .* above max 0.01" "$T/rb.md"
check "the owner and the problem (its '|' escaped)" \
	sh -c "grep -q '^- \*\*Owner:\*\* oncall@example.com' '$T/rb.md' && grep -q 'report test \\\\| with a pipe' '$T/rb.md'"
check "the manifest is in a fenced block" grep -q '^```yaml' "$T/rb.md"
check "the rollback criteria are the guard's checks" \
	grep -q "^- \*\*Checks:\*\* error_rate max 0.01; latency_p99_ms max 5x baseline" "$T/rb.md"
check "the timeline has the baseline, the verdicts and the rollback" \
	sh -c "grep -q '^## Timeline' '$T/rb.md' && grep -q '| guard | baseline:' '$T/rb.md' && grep -q '| verdict | fail on 1 changed node(s)' '$T/rb.md' && grep -q '| guard | rolled back by the guard' '$T/rb.md'"
check "wave 1 has its table, error_rate failing there" \
	sh -c "grep -q '^### Wave 1' '$T/rb.md' && grep -q '^| error_rate | .* | fail: above max 0.01' '$T/rb.md'"
check "the canary's step is reverted, no step is left applied" \
	sh -c "grep -q '^| 1 | 1 | $canary | primary | 1 | reverted |' '$T/rb.md' && ! grep -Eq '\| (applied|verified) \|' '$T/rb.md'"
test_end

# ---- a promoted run --------------------------------------------------------
test_begin 'the report of a promoted run says promoted and has a table per wave'
guarded "$T/ok.yaml" harmless-timeout '{timeout: "300"}'
start_load 30
expect_exit 0 "a harmless hotfix is promoted" hf apply "$T/ok.yaml" --cluster "$SEED" --yes
stop_load
expect_exit 0 "report of the newest run" hf report last
cp "$T/out" "$T/ok.md"
check "the outcome is promoted" grep -q '^\*\*promoted: every target verified\*\*' "$T/ok.md"
check "no failing check" lacks "$T/ok.md" "Failing checks"
check "the baseline table" grep -q '^### Baseline' "$T/ok.md"
for w in 1 2; do
	check "wave $w has a table of expected versus actual" \
		sh -c "sed -n '/^### Wave $w/,/^##/p' '$T/ok.md' | grep -q '^| error_rate | .* | pass |\$'"
done
check "each step is verified" sh -c "grep -c '| verified |' '$T/ok.md' | grep -qx 6"
expect_exit 0 "and its rollback" hf rollback last
test_end

# ---- html --------------------------------------------------------------------
test_begin '--format html is one self-contained file with SVG charts'
expect_exit 0 "the rolled-back run's report as HTML" hf report "$run" --format html
cp "$T/out" "$T/rb.html"
check "it is one HTML document with nothing from outside" html_ok "$T/rb.html"
check "it has inline SVG charts" sh -c "[ \$(grep -c '<svg' '$T/rb.html') -ge 2 ]"
check "the chart of error_rate marks failing verdicts" grep -q '<circle [^>]*class="fail"' "$T/rb.html"
check "its threshold and baseline lines are drawn" \
	sh -c "grep -q 'class=\"threshold\"' '$T/rb.html' && grep -q 'class=\"baseline\"' '$T/rb.html'"
check "the failing metric and node are named" grep -q "error_rate on $canary in wave 1" "$T/rb.html"
check "text is escaped (the problem's '|' stays, '<' never comes raw from data)" \
	grep -q 'report test | with a pipe' "$T/rb.html"
test_end

# ---- invalid input -------------------------------------------------------------
test_begin 'an unknown run or format is invalid input (exit 2)'
expect_exit 2 "an unknown run" hf report no-such-run
check "the error names the run" grep -q "no run 'no-such-run'" "$T/err"
expect_exit 2 "an unknown format" hf report "$run" --format pdf
check "the error names the format" grep -q "'pdf' is not a format" "$T/err"
expect_exit 2 "no run given" hf report
expect_exit 0 "--help" hf report --help
check "help gives the usage" grep -q "usage: hotfix report RUN \[--format md|html\]" "$T/out"
test_end

finish
