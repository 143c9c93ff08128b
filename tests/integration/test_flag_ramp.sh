#!/usr/bin/env bash
# Flag ramps (issue 12, item 4) on a real sandbox with 'hotfix load'
# running and 20 'hotfix flag watch' clients: a config change ships dark,
# then the flag opens 1 % -> 10 % -> 100 %, each ramp verified by every
# watcher's acknowledgement; a stopped watcher blocks the next ramp with
# its name; the guard rolls a bad ramp back, the flag first, straight to
# the document before the first ramp, acknowledged by every watcher;
# kill -9 of hotfix mid-ramp, then resume.
# Nothing here asserts wall-clock timings: waits are bounded, not measured.
. "$(dirname "$0")/lib.sh"

PUBLISH=${HF_FLAGS_PUBLISH:?set HF_FLAGS_PUBLISH to the tests/flags/publish.c program}
NWATCH=20
DOCKEY='hotfix:flags:{hotfix}:doc'

store_doc() { rcli -p "$STORE_PORT" HGET "$DOCKEY" doc; }
store_version() { rcli -p "$STORE_PORT" HGET "$DOCKEY" version; }
# all_print VERSION: every watcher printed that version.
all_print() {
	local i
	for ((i = 1; i <= NWATCH; i++)); do
		grep -q "^version $1 value " "$T/watch$i.out" || return 1
	done
}
acked_by_all() {
	hf --json flag status --cluster "$SEED" >"$T/st.json" &&
		json_true "$T/st.json" ".version == $1, .acknowledged == $NWATCH, .not_acknowledged == []"
}
# ramp FILE NAME TIMEOUT [BAKE1 [BAKE2 [GUARD-YAML]]]: a config change
# (timeout 301) and flag 'ui' turned on in ramps 1, 10, 100.
ramp() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: test@example.com, problem: ramp test}
spec:
  changes:
    - config: {timeout: "301"}
    - flag: {key: ui, file: on.json, ack_timeout: $3}
  rollout:
    waves:
      - percent: 1
        bake: ${4:-0s}
      - percent: 10
        bake: ${5:-0s}
      - percent: 100
  guard: ${6:-none}
YAML
}
# wait_line FILE PATTERN: the apply in the background printed it.
wait_line() { wait_for "'$2' in $1" 60 grep -q "$2" "$1"; }

sandbox_up ramp --shards 3 --replicas 0 || finish
STORE_PORT=$(rcli -p "$BASE" CLUSTER NODES | awk -v s="$(rcli -p "$BASE" CLUSTER KEYSLOT "$DOCKEY")" '
	$3 ~ /master/ { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (s >= r[1] && s <= (r[2] == "" ? r[1] : r[2])) { split($2, a, "[:@]"); print a[2] } } }')
for p in $(ports_of "$BASE" 3); do [ "$p" != "$STORE_PORT" ] && OTHER_PORT=$p; done
start_load 900 500 || finish

printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"},"other":{"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"a"}}}\n' >"$T/off.json"
printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}\n' >"$T/on.json"

test_begin 'invalid ramps are refused before the cluster is touched'
ramp "$T/bad.yaml" bad 5s
sed -i 's/      - percent: 10$/      - percent: 0.5/' "$T/bad.yaml"
expect_exit 2 "a ramp that shrinks" hf apply "$T/bad.yaml" --cluster "$SEED" --yes
check "FILE:LINE:COL" grep -q "bad.yaml:12:[0-9]*: wave 2 (0.5) must be larger than wave 1 (1)" "$T/err"
ramp "$T/bad2.yaml" bad 5s
sed -i 's/      - percent: 10$/      - nodes: 10%/' "$T/bad2.yaml"
expect_exit 2 "a ramp with a nodes wave" hf apply "$T/bad2.yaml" --cluster "$SEED" --yes
check "FILE:LINE:COL" grep -q "bad2.yaml:12:[0-9]*: wave 2 counts nodes, but the waves of a ramp are all 'percent: P'" "$T/err"
ramp "$T/bad3.yaml" bad 5s
sed -i '/- flag:/d' "$T/bad3.yaml"
expect_exit 2 "percent waves without a flag change" hf apply "$T/bad3.yaml" --cluster "$SEED" --yes
check "FILE:LINE:COL" grep -q "bad3.yaml:9:[0-9]*: 'percent' waves ramp a flag change's traffic" "$T/err"
test_end

test_begin 'a ramp 1 % -> 10 % -> 100 % with 20 watchers under load, each ramp verified'
check "version 1 is published" "$PUBLISH" "$SEED" "$T/off.json" 0
for ((i = 1; i <= NWATCH; i++)); do
	"$HOTFIX" --state "$STATE" flag watch ui --cluster "$SEED" >"$T/watch$i.out" 2>"$T/watch$i.err" &
	WATCH[i]=$!
	EXTRA_PIDS+=("$!")
done
check "every client acknowledged version 1" eventually 60 acked_by_all 1
store_doc >"$T/v1.txt"
ramp "$T/r.yaml" ui-ramp 30s
expect_exit 0 "the ramp is promoted" hf apply "$T/r.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
check "the plan shows the dark wave and the ramps" grep -q "wave 3  percent: 10% of the traffic" "$T/out"
check "three versions were published, one per ramp" test "$(store_version)" = 4
check "every watcher printed each ramp's version" sh -c "for v in 2 3 4; do for f in '$T'/watch*.out; do grep -q \"^version \$v value \" \$f || exit 1; done; done"
hf --json status "$RUN" >"$T/s.json"
check "each ramp step was verified (every client acknowledged it) and recorded its version" \
	json_true "$T/s.json" '[.steps[] | select(.wave >= 2) | .after.version] == [2, 3, 4],
		all(.steps[]; .state == "verified")'
check "the 10 % ramp published fractional targeting 10000 of 100000" \
	json_true "$T/s.json" '(.steps[] | select(.wave == 3) | .after.doc | fromjson | .flags.ui.targeting.fractional) == [["on", 10000], ["off", 90000]]'
jq -r '.steps[] | select(.wave == 3) | .after.doc' "$T/s.json" >"$T/r10.json"
for i in $(seq 1 2000); do echo "{\"targetingKey\":\"user-$i\"}"; done >"$T/ctx.jsonl"
on_share() {
	local n
	n=$(hf flag eval "$T/r10.json" --contexts "$T/ctx.jsonl" | grep -c '"variant":"on"') &&
		[ "$n" -ge 150 ] && [ "$n" -le 250 ]
}
check "the 10 % ramp gives the new variant to about 10 % of 2000 contexts" on_share
check "the config change shipped first, in the dark wave" json_true "$T/s.json" '[.steps[] | select(.wave == 1)] | length == 3'
check "the 100 % ramp is the new definition itself" sh -c "rcli() { redis-cli -h 127.0.0.1 \"\$@\"; }; rcli -p $STORE_PORT HGET '$DOCKEY' doc | jq -e '.flags.ui == {defaultVariant: \"on\", state: \"ENABLED\", variants: {on: true, off: false}}'"
expect_exit 0 "rollback of the ramp" hf rollback "$RUN"
store_doc >"$T/back.txt"
check "straight back to the document before the first ramp, byte for byte, in one version" \
	sh -c "cmp '$T/v1.txt' '$T/back.txt' && test \"\$(redis-cli -p $STORE_PORT HGET '$DOCKEY' version)\" = 5"
check "every client acknowledged it" eventually 60 acked_by_all 5
check "the config is restored" test "$(rcli -p "$BASE" CONFIG GET timeout | tail -1)" = 0
test_end

test_begin 'a stopped watcher blocks the next ramp with its name'
ramp "$T/r2.yaml" ui-ramp-stop 3s 3s
"$HOTFIX" --state "$STATE" apply "$T/r2.yaml" --cluster "$SEED" --yes >"$T/r2.out" 2>"$T/r2.err" &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_line "$T/r2.out" "wave 2/4 baking"
STOPPED=${WATCH[5]}
kill -STOP "$STOPPED"
wait "$APPLY"
code=$?
# 4 while the stopped client is still live (seen in the last 10 s) when the
# rollback waits for the restored version: it acknowledges that no more;
# 1 once it went stale by then (a slow machine, ASan): no longer waited for.
check "the run did not finish (exit $code)" test "$code" = 4 -o "$code" = 1
check "the 10 % ramp is blocked, the stopped watcher named with its last-seen time" \
	grep -q "flag 'ui' version 7 acknowledged by 19 of 20 live client(s).*not by: [^ ]*:$STOPPED:[^ ]* (on version 6, last seen " "$T/r2.err"
check "the store is back to the document before the first ramp" sh -c "test \"\$(redis-cli -p $STORE_PORT HGET '$DOCKEY' doc)\" = \"\$(cat '$T/v1.txt')\""
check "status names it stale" eventually 30 sh -c "'$HOTFIX' --state '$STATE' --json flag status --cluster '$SEED' | jq -e '.stale | any(test(\":$STOPPED:\"))'"
kill -CONT "$STOPPED"
V=$(store_version)
check "continued, every client acknowledges the restored version" eventually 60 acked_by_all "$V"
test_end

test_begin 'the guard rolls a bad ramp back: the flag first, every watcher acknowledges'
GUARD='
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    checks:
      - metric: error_rate
        max: 0.01'
ramp "$T/r3.yaml" ui-ramp-bad 30s 0s 60s "$GUARD"
V0=$(store_version)
"$HOTFIX" --state "$STATE" apply "$T/r3.yaml" --cluster "$SEED" --yes >"$T/r3.out" 2>"$T/r3.err" &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_line "$T/r3.out" "wave 3/4 baking"
# From outside the hotfix: writes fail on a node the dark wave changed.
rcli -p "$OTHER_PORT" CONFIG SET maxmemory-policy noeviction >/dev/null
rcli -p "$OTHER_PORT" CONFIG SET maxmemory 1 >/dev/null
wait "$APPLY"
code=$?
rcli -p "$OTHER_PORT" CONFIG SET maxmemory 0 >/dev/null
check "rolled back by the guard (exit $code)" test "$code" = 3
RUN=$(last_run)
hf --json status "$RUN" >"$T/s3.json"
check "the flag's steps were reverted before the config's" json_true "$T/s3.json" '
	([.steps[] | select(.wave >= 2) | .updated_ms] | max) <= ([.steps[] | select(.wave == 1) | .updated_ms] | min),
	([.steps[] | select(.before != null) | .state] | all(. == "reverted")),
	([.steps[] | select(.wave == 4) | .state] == ["planned"])'
check "straight back to the document before the first ramp" sh -c "test \"\$(redis-cli -p $STORE_PORT HGET '$DOCKEY' doc)\" = \"\$(cat '$T/v1.txt')\""
check "in one version after the two ramps" test "$(store_version)" = $((V0 + 3))
check "every watcher acknowledged it" eventually 60 acked_by_all $((V0 + 3))
test_end

test_begin 'kill -9 of hotfix mid-ramp (after the 10 % publish), then resume'
ramp "$T/r4.yaml" ui-ramp-crash 30s
V0=$(store_version)
expect_exit 137 "apply killed just after the second ramp's publish" hf_crash_at flag-published:2 apply "$T/r4.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
check "two ramps were published" test "$(store_version)" = $((V0 + 2))
expect_exit 0 "resume completes the ramp" hf resume "$RUN"
check "the run promoted" sh -c "'$HOTFIX' --state '$STATE' --json status $RUN | jq -e '.state == \"promoted\"'"
check "the last ramp was published once" test "$(store_version)" = $((V0 + 3))
check "every watcher acknowledged it" eventually 60 acked_by_all $((V0 + 3))
expect_exit 0 "rollback of the resumed run" hf rollback "$RUN"
check "straight back to the document before the first ramp" sh -c "test \"\$(redis-cli -p $STORE_PORT HGET '$DOCKEY' doc)\" = \"\$(cat '$T/v1.txt')\""
test_end

test_begin 'abort during a ramp: the flag first, straight back; a kill meanwhile is refused'
ramp "$T/r5.yaml" ui-ramp-abort 30s 60s
V0=$(store_version)
"$HOTFIX" --state "$STATE" apply "$T/r5.yaml" --cluster "$SEED" --yes >"$T/r5.out" 2>"$T/r5.err" &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_line "$T/r5.out" "wave 2/4 baking"
RUN=$(last_run)
# The kill switch is a run: it waits for the ramp's lock (docs/flags.md).
expect_exit 5 "flag kill while the ramp holds the store's primary is refused" hf flag kill ui --cluster "$SEED" --yes
check "the refusal names the ramp's run" grep -q "$RUN" "$T/err"
expect_exit 0 "abort the ramp" hf abort "$RUN"
wait "$APPLY"
code=$?
check "the aborted apply exits 1 (exit $code)" test "$code" = 1
hf --json status "$RUN" >"$T/s5.json"
check "the flag step was reverted before the config's" json_true "$T/s5.json" '
	([.steps[] | select(.wave >= 2) | .updated_ms] | max) <= ([.steps[] | select(.wave == 1) | .updated_ms] | min),
	([.steps[] | select(.before != null) | .state] | all(. == "reverted"))'
check "straight back to the document before the first ramp" sh -c "test \"\$(redis-cli -p $STORE_PORT HGET '$DOCKEY' doc)\" = \"\$(cat '$T/v1.txt')\""
check "in one version after the ramp" test "$(store_version)" = $((V0 + 2))
check "every watcher acknowledged it" eventually 60 acked_by_all $((V0 + 2))
test_end

stop_load
finish
