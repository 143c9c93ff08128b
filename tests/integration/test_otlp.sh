#!/usr/bin/env bash
# OpenTelemetry (--otlp): a recording receiver on loopback stands in for an
# OTLP/HTTP collector. Each body must be an ExportTraceServiceRequest in
# the OTLP JSON encoding: a run is one trace whose spans form a tree rooted
# at the run span (waves under it, steps and verdicts under their wave),
# with the hotfix, node, shard, kind and outcome as attributes; a rolled
# back run's root span has an error status; a resumed run continues its
# trace (an interrupted one without sending a span twice); a dead
# collector stops nothing.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

# collector_up NAME MODE: a recording receiver (webhook_receiver.py) in the
# background; its base URL in $URL, the bodies it accepted in $T/NAME.log,
# one a line, the paths posted to in $T/NAME.log.paths.
collector_up() {
	python3 "$HERE/webhook_receiver.py" "$T/$1.port" "$T/$1.log" "$2" >"$T/$1.out" 2>&1 &
	EXTRA_PIDS+=("$!")
	wait_for "the collector $1" 10 test -s "$T/$1.port" || return 1
	: >>"$T/$1.log"
	: >>"$T/$1.log.paths"
	URL="http://127.0.0.1:$(cat "$T/$1.port")"
}

# spans LOG: every span of every accepted body, as one JSON array.
spans() { jq -s '[.[].resourceSpans[].scopeSpans[].spans[]]' "$1"; }

# all_otlp LOG: every body is an ExportTraceServiceRequest with the
# service name, a scope, and spans in the OTLP JSON encoding.
all_otlp() {
	[ -s "$1" ] && jq -e -s 'length > 0 and all(.[];
		(.resourceSpans | type == "array" and length > 0) and all(.resourceSpans[];
			any(.resource.attributes[]; .key == "service.name" and .value.stringValue == "hotfix") and
			all(.scopeSpans[]; (.scope.name | type == "string") and (.spans | length > 0))))' \
		"$1" >/dev/null
}

# well_formed LOG: every span has the required fields in their formats:
# hex ids of the right length, times as strings of digits, an end not
# before the start, attributes as {key, value: {one typed value}}.
well_formed() {
	spans "$1" | jq -e 'length > 0 and all(.[];
		(.traceId | test("^[0-9a-f]{32}$")) and (.spanId | test("^[0-9a-f]{16}$")) and
		(.parentSpanId | test("^([0-9a-f]{16})?$")) and (.name | type == "string") and
		(.kind | type == "number") and
		(.startTimeUnixNano | test("^[0-9]+$")) and (.endTimeUnixNano | test("^[0-9]+$")) and
		((.endTimeUnixNano | length) > (.startTimeUnixNano | length) or
		 ((.endTimeUnixNano | length) == (.startTimeUnixNano | length) and
		  .endTimeUnixNano >= .startTimeUnixNano)) and
		(.status.code | IN(0, 1, 2)) and
		all(.attributes[]; (.key | type == "string") and (.value | keys | length == 1) and
			((.value.stringValue | type == "string") or (.value.intValue | test("^-?[0-9]+$")?) or
			 (.value.boolValue | type == "boolean"))))' >/dev/null
}

# a_tree LOG: one trace, unique span ids, one root (the run span), waves
# under the root, steps and verdicts under a wave.
a_tree() {
	spans "$1" | jq -e '
		([.[].traceId] | unique | length == 1) and
		([.[].spanId] | (unique | length) == length) and
		(map(select(.parentSpanId == "")) | length == 1 and .[0].name == "run") as $root |
		(map(select(.parentSpanId == "")) | .[0].spanId) as $rid |
		([.[] | select(.name == "wave") | .spanId]) as $waves |
		$root and all(.[] | select(.name == "wave"); .parentSpanId == $rid) and
		all(.[] | select(.name == "step" or .name == "verdict"); .parentSpanId as $p | $waves | index($p) != null)' \
		>/dev/null
}

# attr NAME KEY: the value of attribute KEY of a span, any type.
ATTR='def attr($k): (.attributes[] | select(.key == $k) | .value | (.stringValue // .intValue // .boolValue));'

# guarded FILE NAME CONFIG-FLOW: a guarded config hotfix in two waves, the
# first baking 2s.
guarded() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 3, owner: test@example.com, problem: otlp test}
spec:
  changes:
    - config: $3
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: 2s
      - nodes: 100%
  guard:
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    checks:
      - metric: error_rate
        max: 0.01
YAML
}

sandbox_up otlp --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)

# ---- a promoted run ------------------------------------------------------
test_begin 'a promoted run is one trace of OTLP JSON spans: run, waves, steps, verdicts'
collector_up ok ok
guarded "$T/ok.yaml" traced-timeout '{timeout: "300"}'
start_load 30 500
expect_exit 0 "a harmless hotfix is promoted" \
	hf apply "$T/ok.yaml" --cluster "$SEED" --yes --otlp "$URL"
stop_load
run=$(last_run)
check "every body went to /v1/traces" sh -c "[ -s '$T/ok.log.paths' ] && ! grep -vx /v1/traces '$T/ok.log.paths'"
check "sent in batches (the first wave's end, then the run's end)" \
	test "$(wc -l <"$T/ok.log")" -ge 2
check "every body is an ExportTraceServiceRequest of service hotfix" all_otlp "$T/ok.log"
check "every span has the required fields and formats" well_formed "$T/ok.log"
check "the spans form one trace, a tree rooted at the run span" a_tree "$T/ok.log"
spans "$T/ok.log" >"$T/ok.spans"
check "two waves" jq -e '[.[] | select(.name == "wave")] | length == 2' "$T/ok.spans"
check "six steps, each verified, of kind config, with its node and shard" jq -e "$ATTR"'
	[.[] | select(.name == "step")] | length == 6 and all(.[];
		attr("hotfix.outcome") == "verified" and attr("hotfix.kind") == "config" and
		(attr("hotfix.node.address") | test("^127\\.0\\.0\\.1:[0-9]+$")) and
		(attr("hotfix.shard") | test("^[0-9]+$")))' "$T/ok.spans"
check "the nodes are the sandbox's six" sh -c "jq -r '$ATTR"' .[] | select(.name == "step") | attr("hotfix.node.address")'"' '$T/ok.spans' | sort -u | wc -l | grep -qx 6"
check "verdicts of the guard, with their outcome" jq -e "$ATTR"'
	[.[] | select(.name == "verdict")] | length > 0 and all(.[]; attr("hotfix.outcome") == "pass")' "$T/ok.spans"
check "every span names the hotfix and its version" jq -e "$ATTR"'
	all(.[]; attr("hotfix.name") == "traced-timeout" and attr("hotfix.version") == "3")' "$T/ok.spans"
check "the root span is promoted, status ok" jq -e "$ATTR"'
	.[] | select(.parentSpanId == "") | attr("hotfix.outcome") == "promoted" and .status.code == 1' "$T/ok.spans"
check "the trace id is derived from the run id" jq -e --arg t "$(printf %s "$run" | sha256sum | cut -c1-32)" \
	'all(.[]; .traceId == $t)' "$T/ok.spans"
test_end

# ---- a rolled back run ---------------------------------------------------
test_begin "a run the guard rolls back: its root span has an error status"
collector_up rb ok
guarded "$T/oom.yaml" traced-oom '{maxmemory: "1", maxmemory-policy: noeviction}'
start_load 30 500
expect_exit 3 "a hotfix that makes writes fail is rolled back by the guard" \
	hf apply "$T/oom.yaml" --cluster "$SEED" --yes --otlp "$URL/v1/traces"
stop_load
check "a URL ending in /v1/traces is posted to as it is" \
	sh -c "[ -s '$T/rb.log.paths' ] && ! grep -vx /v1/traces '$T/rb.log.paths'"
check "every span has the required fields and formats" well_formed "$T/rb.log"
check "the spans form one trace rooted at the run span" a_tree "$T/rb.log"
spans "$T/rb.log" >"$T/rb.spans"
check "the root span is rolled back with an error status and why" jq -e "$ATTR"'
	.[] | select(.parentSpanId == "") | attr("hotfix.outcome") == "rolled_back" and
	.status.code == 2 and (.status.message | length > 0)' "$T/rb.spans"
check "the step is reverted" jq -e "$ATTR"'
	[.[] | select(.name == "step")] | length > 0 and all(.[]; attr("hotfix.outcome") == "reverted")' "$T/rb.spans"
check "a failing verdict is among the verdicts" jq -e "$ATTR"'
	any(.[] | select(.name == "verdict"); attr("hotfix.outcome") == "fail" and .status.code == 2)' "$T/rb.spans"
test_end

# ---- resume ----------------------------------------------------------------
test_begin 'a resumed run continues its trace'
collector_up again ok
manifest "$T/again.yaml" traced-resume "      - nodes: 1
        bake: 1s
      - nodes: 100%"
sed -i 's|timeout: "300"|timeout: "302"|' "$T/again.yaml"
expect_exit 137 "apply killed in the first bake" \
	hf_crash_at bake:1 apply "$T/again.yaml" --cluster "$SEED" --yes --otlp "$URL"
run=$(last_run)
expect_exit 0 "resume goes on to the promotion" hf resume "$run" --otlp "$URL"
check "every span has the required fields and formats" well_formed "$T/again.log"
check "the resume's spans form one tree rooted at the run span" a_tree "$T/again.log"
spans "$T/again.log" >"$T/again.spans"
check "both waves are there, and the root is promoted" jq -e "$ATTR"'
	([.[] | select(.name == "wave")] | length == 2) and
	(.[] | select(.parentSpanId == "") | attr("hotfix.outcome") == "promoted")' "$T/again.spans"
check "in the trace of the run" jq -e --arg t "$(printf %s "$run" | sha256sum | cut -c1-32)" \
	'all(.[]; .traceId == $t)' "$T/again.spans"
test_end

test_begin 'a run interrupted and resumed sends each span once'
collector_up paused ok
manifest "$T/paused.yaml" traced-paused "      - nodes: 1
        bake: 20s
      - nodes: 100%"
sed -i 's|timeout: "300"|timeout: "304"|' "$T/paused.yaml"
"$HOTFIX" --state "$STATE" apply "$T/paused.yaml" --cluster "$SEED" --yes --otlp "$URL" \
	>"$T/paused.out" 2>&1 &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_for "the bake" 30 grep -q 'baking' "$T/paused.out"
kill -TERM "$APPLY"
wait "$APPLY"
run=$(last_run)
expect_exit 0 "status of the interrupted run" hf --json status "$run"
check "the run is paused" sh -c "jq -e '.state == \"paused\"' '$T/out' >/dev/null"
spans "$T/paused.log" >"$T/paused.first"
check "the interrupted apply sent the first wave, without a run span" jq -e '
	([.[] | select(.name == "wave")] | length == 1) and ([.[] | select(.name == "run")] | length == 0)' \
	"$T/paused.first"
expect_exit 0 "resume goes on to the promotion" hf resume "$run" --otlp "$URL"
check "every span has the required fields and formats" well_formed "$T/paused.log"
check "one tree, each span id once" a_tree "$T/paused.log"
spans "$T/paused.log" >"$T/paused.spans"
check "two waves and the promoted run" jq -e "$ATTR"'
	([.[] | select(.name == "wave")] | length == 2) and
	(.[] | select(.parentSpanId == "") | attr("hotfix.outcome") == "promoted")' "$T/paused.spans"
test_end

# ---- dead collectors -------------------------------------------------------
test_begin 'a dead collector does not stop the run'
collector_up hang hang
DEAD=$(free_base 1)
manifest "$T/dead.yaml" traced-dead "      - nodes: 1
      - nodes: 100%"
sed -i 's|timeout: "300"|timeout: "301"|' "$T/dead.yaml"
expect_exit 0 "apply with nobody listening at --otlp is promoted" \
	hf apply "$T/dead.yaml" --cluster "$SEED" --yes --otlp "http://127.0.0.1:$DEAD"
check "it says what was not delivered" grep -q "not delivered" "$T/err"
run=$(last_run)
expect_exit 0 "status of the run" hf --json status "$run"
check "the run is promoted" sh -c "jq -e '.state == \"promoted\"' '$T/out' >/dev/null"
expect_exit 0 "rollback with a collector that never answers" hf rollback "$run" --otlp "$URL"
check "the never-answering collector was reached" test -s "$T/hang.log.attempts"
check "nothing was accepted by it" not test -s "$T/hang.log"
test_end

test_begin 'a bad --otlp URL is refused before anything runs'
expect_exit 2 "apply --otlp with a URL that is not http(s)" \
	hf apply "$T/dead.yaml" --cluster "$SEED" --yes --otlp ftp://example.com/x
check "the error names the option" grep -q "invalid --otlp 'ftp://example.com/x'" "$T/err"
expect_exit 2 "resume --otlp with a URL that is not http(s)" hf resume "$run" --otlp nothing
check "the error names the option" grep -q "invalid --otlp 'nothing'" "$T/err"
test_end

finish
