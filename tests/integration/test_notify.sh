#!/usr/bin/env bash
# Notifications (spec.notify and apply --notify): real webhook receivers on
# loopback record what hotfix posts. A promoted run is announced phase by
# phase in order, a run the guard rolls back carries the guard's evidence,
# a failed post is retried, and a dead webhook (nobody listening, or a
# server that never answers) delays nothing.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

# receiver_up NAME MODE: a recording webhook (webhook_receiver.py) in the
# background; its URL in $URL, what it accepted in $T/NAME.log, every
# attempt in $T/NAME.log.attempts.
receiver_up() {
	python3 "$HERE/webhook_receiver.py" "$T/$1.port" "$T/$1.log" "$2" >"$T/$1.out" 2>&1 &
	EXTRA_PIDS+=("$!")
	wait_for "the receiver $1" 10 test -s "$T/$1.port" || return 1
	: >>"$T/$1.log"
	: >>"$T/$1.log.attempts"
	URL="http://127.0.0.1:$(cat "$T/$1.port")/hook"
}

# phases LOG: the phase of each accepted message, one a line, statuses
# left out.
phases() {
	jq -r '.text' "$1" | sed -E 's/^hotfix [^ ]+ v[0-9]+, run [^ ]+: ([a-z ]+): .*/\1/' |
		grep -vx status
}

# all_slack LOG: every line is a JSON object with a text and blocks of
# sections with mrkdwn text.
all_slack() {
	[ -s "$1" ] && jq -e -s 'length > 0 and all(.[]; (.text | type == "string") and
		(.blocks | type == "array" and length > 0) and
		all(.blocks[]; .type == "section" and .text.type == "mrkdwn"))' "$1" >/dev/null
}

# message LOG PHASE: the blocks' text of the last message of PHASE.
message() {
	jq -r --arg p "$2" 'select(.text | test("^hotfix [^ ]+ v[0-9]+, run [^ ]+: " + $p + ": "))
		| [.blocks[].text.text] | join("\n")' "$1" | tail -n 40
}

# notified FILE NAME CONFIG-FLOW NOTIFY-YAML: a guarded config hotfix in
# two waves, the first baking 2s, notifying as NOTIFY-YAML says.
notified() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: test@example.com, problem: notify test}
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
      - metric: latency_p99_ms
        max_ratio_to_baseline: 5
  notify: $4
YAML
}

sandbox_up notify --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)

# ---- a promoted run, phase by phase ------------------------------------
test_begin 'a promoted run notifies started, each wave and promoted, in order'
receiver_up ok ok
OK_URL=$URL
receiver_up flag ok
FLAG_URL=$URL
notified "$T/ok.yaml" harmless-timeout '{timeout: "300"}' "{webhook: \"$OK_URL\", every: 1s}"
start_load 30 500
expect_exit 0 "a harmless hotfix is promoted" \
	hf apply "$T/ok.yaml" --cluster "$SEED" --yes --notify "$FLAG_URL"
phases "$T/ok.log" >"$T/ok.phases"
printf '%s\n' started wave wave promoted >"$T/want.phases"
check "the manifest's webhook got started, wave 1, wave 2, promoted in order" \
	test_cmp "$T/want.phases" "$T/ok.phases"
phases "$T/flag.log" >"$T/flag.phases"
check "the --notify webhook got the same phases" test_cmp "$T/want.phases" "$T/flag.phases"
check "every message is Slack JSON: text and mrkdwn sections" all_slack "$T/ok.log"
check "the messages name the hotfix and the run" \
	grep -q "hotfix harmless-timeout v1, run $(last_run): started: " "$T/ok.log"
message "$T/ok.log" wave >"$T/ok.wave"
check "the waves are numbered" grep -q 'wave 2/2' "$T/ok.wave"
check "statuses came while the run lasted, with the guard's latest verdict" \
	sh -c "jq -r 'select(.text | test(\": status: running for\")) | .blocks[].text.text' '$T/ok.log' | grep -q 'latest verdict'"
check "the --notify webhook gets no periodic status" lacks "$T/flag.log" ": status: "
hf report "$(last_run)" >"$T/ok.report"
check "the run's report shows the manifest's webhook by its host" contains "$T/ok.report" "${OK_URL%/hook}/(hidden)"
check "... never its secret path" lacks "$T/ok.report" "$OK_URL"
test_end

# ---- a run the guard rolls back: the evidence --------------------------
test_begin 'a run the guard rolls back notifies the evidence'
receiver_up rb ok
notified "$T/oom.yaml" oom-maxmemory '{maxmemory: "1", maxmemory-policy: noeviction}' \
	"[{webhook: \"$URL\"}]"
start_load 30 500
expect_exit 3 "a hotfix that makes writes fail is rolled back by the guard" \
	hf apply "$T/oom.yaml" --cluster "$SEED" --yes
phases "$T/rb.log" >"$T/rb.phases"
printf '%s\n' started wave 'rolling back' 'rolled back' >"$T/want.phases"
check "started, wave 1, rolling back, rolled back, in order" test_cmp "$T/want.phases" "$T/rb.phases"
check "every message is Slack JSON" all_slack "$T/rb.log"
message "$T/rb.log" 'rolled back' >"$T/rb.msg"
check "the rolled back message gives the guard's evidence" contains "$T/rb.msg" "*evidence*"
check "... the metric, its value and the threshold" \
	grep -q "fail on 1 changed node(s), .*error_rate [0-9.]* above max 0.01" "$T/rb.msg"
check "... the changed nodes" grep -q "changed nodes.*" "$T/rb.msg"
check "... a node address among them" sh -c "grep -A1 'changed nodes' '$T/rb.msg' | grep -q '127.0.0.1:'"
check "... the baseline" sh -c "grep -A1 '\\*baseline\\*' '$T/rb.msg' | grep -q 'calls, error_rate'"
test_end

# ---- a failed post is retried ------------------------------------------
test_begin 'a webhook that answers 500 once gets the message on a retry'
receiver_up flaky fail-first
manifest "$T/plain.yaml" plain-retry "      - nodes: 1
      - nodes: 100%"
expect_exit 0 "apply with a flaky webhook is promoted" \
	hf apply "$T/plain.yaml" --cluster "$SEED" --yes --notify "$URL"
check "the first attempt was answered 500" sh -c "head -n 1 '$T/flaky.log.attempts' | grep -q '^1 500 .*: started: '"
check "the second attempt carried the same message and was accepted" \
	sh -c "sed -n 2p '$T/flaky.log.attempts' | grep -q '^2 200 .*: started: '"
phases "$T/flaky.log" >"$T/flaky.phases"
printf '%s\n' started wave wave promoted >"$T/want.phases"
check "every phase arrived once, in order" test_cmp "$T/want.phases" "$T/flaky.phases"
test_end

# ---- dead webhooks delay nothing ---------------------------------------
test_begin 'a dead webhook delays nothing'
receiver_up hang hang
HANG_URL=$URL
DEAD=$(free_base 1)
manifest "$T/dead.yaml" dead-webhooks "      - nodes: 1
        bake: 1s
      - nodes: 100%"
sed -i "s|timeout: \"300\"|timeout: \"301\"|; s|  guard: none|  guard: none\n  notify:\n    - webhook: http://127.0.0.1:$DEAD/hook\n    - webhook: $HANG_URL\n      every: 1s|" "$T/dead.yaml"
expect_exit 0 "apply with a refused and a never-answering webhook is promoted" \
	hf apply "$T/dead.yaml" --cluster "$SEED" --yes
check "it says which notifications were not delivered" grep -q "notification(s) not delivered" "$T/err"
run=$(last_run)
expect_exit 0 "status of the run" hf --json status "$run"
check "the run is promoted" sh -c "jq -e '.state == \"promoted\"' '$T/out' >/dev/null"
check "the never-answering webhook was reached" grep -q ': started: ' "$T/hang.log.attempts"
check "... and was still on its first message when the run was promoted" \
	not grep -q ': promoted: ' "$T/hang.log.attempts"
check "nothing was accepted by it" not test -s "$T/hang.log"
test_end

# ---- pause, continue and abort are phase changes -----------------------
test_begin 'pause, continue and abort are announced'
receiver_up req ok
manifest "$T/req.yaml" requested "      - nodes: 1
        bake: 30s
      - nodes: 100%"
sed -i "s|timeout: \"300\"|timeout: \"303\"|" "$T/req.yaml"
hf apply "$T/req.yaml" --cluster "$SEED" --yes --notify "$URL" >"$T/req.out" 2>&1 &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_for "the bake" 30 grep -q 'baking for' "$T/req.out"
run=$(last_run)
expect_exit 0 "pause the run" hf pause "$run"
wait_for "the paused message" 10 grep -q ': paused: ' "$T/req.log"
expect_exit 0 "continue the run" hf continue "$run"
wait_for "the continued message" 10 grep -q ': continued: ' "$T/req.log"
expect_exit 0 "abort the run" hf abort "$run"
wait "$APPLY"
check "the aborted apply exits non-zero" test $? != 0
phases "$T/req.log" >"$T/req.phases"
printf '%s\n' started wave paused continued aborted 'rolling back' 'rolled back' >"$T/want.phases"
check "started, wave, paused, continued, aborted, rolling back, rolled back" \
	test_cmp "$T/want.phases" "$T/req.phases"
test_end

# ---- resume and rollback notify too --------------------------------------
test_begin "resume and rollback notify the manifest's webhooks"
receiver_up again ok
manifest "$T/again.yaml" resume-notify "      - nodes: 1
        bake: 1s
      - nodes: 100%"
sed -i "s|timeout: \"300\"|timeout: \"302\"|; s|  guard: none|  guard: none\n  notify: {webhook: \"$URL\"}|" "$T/again.yaml"
expect_exit 137 "apply killed in the first bake" hf_crash_at bake:1 apply "$T/again.yaml" --cluster "$SEED" --yes
run=$(last_run)
expect_exit 0 "resume goes on to the promotion" hf resume "$run"
expect_exit 0 "rollback of the promoted run" hf rollback "$run"
# What the killed process had not sent yet died with it; from the resume
# on, every phase is there.
phases "$T/again.log" | sed -n '/^resumed$/,$p' >"$T/again.phases"
printf '%s\n' resumed wave promoted 'rolling back' 'rolled back' >"$T/want.phases"
check "the resume and the rollback were announced in order" \
	test_cmp "$T/want.phases" "$T/again.phases"
check "the resume names its operator" grep -q ": resumed: run $run resumed by " "$T/again.log"
check "every message is Slack JSON" all_slack "$T/again.log"
test_end

# ---- the contract's errors ---------------------------------------------
test_begin 'a bad webhook is refused before anything runs'
expect_exit 2 "apply --notify with a URL that is not http(s)" \
	hf apply "$T/plain.yaml" --cluster "$SEED" --yes --notify ftp://example.com/x
check "the error names the option" grep -q "invalid --notify 'ftp://example.com/x'" "$T/err"
sed 's|  guard: none|  guard: none\n  notify: {webhook: "file:///etc/passwd"}|' "$T/plain.yaml" >"$T/badurl.yaml"
expect_exit 2 "a manifest whose webhook is not http(s)" hf validate "$T/badurl.yaml"
check "the error names FILE:LINE:COL" grep -q "badurl.yaml:[0-9]*:[0-9]*: invalid webhook 'file:///etc/passwd'" "$T/err"
sed 's|  guard: none|  guard: none\n  notify: {webhook: "http://x/", evry: 1m}|' "$T/plain.yaml" >"$T/badkey.yaml"
expect_exit 2 "a notify entry with an unknown field" hf validate "$T/badkey.yaml"
check "the error names the field" grep -q "badkey.yaml:[0-9]*:[0-9]*: .*'evry'" "$T/err"
test_end

finish
