#!/usr/bin/env bash
# Flag ramps bucketed by Redis Cluster slot (issue 12, item 7): on a real
# 3-shard sandbox, 'bucket_by: slot, slot_key: key' ramps flag 'ui' 10 %
# -> 100 %. During the 10 % wave the flag is on for exactly the first
# round(10 % x 16384) slots of the canary shard, as Redis itself hashes
# 2,000 keys (CLUSTER KEYSLOT) and places slots (CLUSTER SLOTS); the guard
# judges that shard's nodes against the others; a kill -9 and resume
# publishes the same targeting; rollback restores the exact document.
. "$(dirname "$0")/lib.sh"

PUBLISH=${HF_FLAGS_PUBLISH:?set HF_FLAGS_PUBLISH to the tests/flags/publish.c program}
DOCKEY='hotfix:flags:{hotfix}:doc'
NKEYS=2000
# 10 % of the 16384 slots, rounded.
ON_SLOTS=1638

store_doc() { rcli -p "$STORE_PORT" HGET "$DOCKEY" doc; }
store_version() { rcli -p "$STORE_PORT" HGET "$DOCKEY" version; }
# ramp FILE NAME [BAKE1 [GUARD-YAML [FLAG-EXTRA]]]: flag 'ui' bucketed by
# the slot of context attribute 'key', 10 % then 100 %.
ramp() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: test@example.com, problem: slot ramp test}
spec:
  changes:
    - flag: {key: ui, file: on.json, ack_timeout: 10s, ${5:-bucket_by: slot, slot_key: key}}
  rollout:
    waves:
      - percent: 10
        bake: ${3:-0s}
      - percent: 100
  guard: ${4:-none}
YAML
}
# eval_on DOC: the numbers (1-based) of the contexts DOC turns 'ui' on for.
eval_on() { hf flag eval "$1" --contexts "$T/ctx.jsonl" | jq -r 'select(.variant == "on") | .context'; }
# canary_slots: every slot of the primary that serves slot 0 (the canary
# shard: the plan's first shard is the one of the lowest slots), as Redis
# reports them in CLUSTER SLOTS, one per line.
canary_slots() {
	rcli -p "$BASE" --json CLUSTER SLOTS | jq -r '
		(.[] | select(.[0] == 0) | .[2][1]) as $p
		| .[] | select(.[2][1] == $p) | range(.[0]; .[1] + 1)'
}

sandbox_up slot --shards 3 --replicas 1 || finish
STORE_PORT=$(rcli -p "$BASE" CLUSTER NODES | awk -v s="$(rcli -p "$BASE" CLUSTER KEYSLOT "$DOCKEY")" '
	$3 ~ /master/ { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (s >= r[1] && s <= (r[2] == "" ? r[1] : r[2])) { split($2, a, "[:@]"); print a[2] } } }')

printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"},"other":{"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"a"}}}\n' >"$T/off.json"
printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}\n' >"$T/on.json"
# 2,000 keys, hash tags and non-ASCII among them, and Redis's slot of each.
for ((i = 1; i <= NKEYS; i++)); do
	case $((i % 4)) in
	0) k="user:$i" ;; 1) k="{tag$((i % 50))}.item$i" ;; 2) k="clé-日本-$i" ;; 3) k="a{b$i" ;;
	esac
	printf '%s\n' "$k"
done >"$T/keys.txt"
jq -R -c '{key: .}' "$T/keys.txt" >"$T/ctx.jsonl"
while IFS= read -r k; do printf 'CLUSTER KEYSLOT "%s"\n' "$k"; done <"$T/keys.txt" |
	rcli -p "$BASE" >"$T/slots.txt"
canary_slots >"$T/canary.txt"

test_begin 'bucket_by and slot_key are checked with FILE:LINE:COL'
ramp "$T/bad1.yaml" bad "" "" "bucket_by: hash"
expect_exit 2 "an unknown bucket_by" hf validate "$T/bad1.yaml"
check "names it" grep -q "bad1.yaml:6:[0-9]*: invalid bucket_by 'hash' (expected fractional or slot)" "$T/err"
ramp "$T/bad2.yaml" bad "" "" "slot_key: key"
expect_exit 2 "slot_key without bucket_by: slot" hf validate "$T/bad2.yaml"
check "names it" grep -q "bad2.yaml:6:[0-9]*: 'slot_key' goes with 'bucket_by: slot' only" "$T/err"
ramp "$T/bad3.yaml" bad
sed -i 's/- percent: 10$/- nodes: 1/; s/- percent: 100$/- nodes: 100%/' "$T/bad3.yaml"
expect_exit 2 "bucket_by: slot without ramp waves" hf validate "$T/bad3.yaml"
check "names it" grep -q "bad3.yaml:6:[0-9]*: 'bucket_by: slot' buckets the waves of a ramp" "$T/err"
ramp "$T/good.yaml" good
expect_exit 0 "a ramp by slot validates" hf validate "$T/good.yaml"
check "the summary says it" grep -q "ramped by the Redis Cluster slot of context attribute 'key'" "$T/out"
test_end

test_begin 'plan shows the slots and shards of each wave'
check "version 1 is published" "$PUBLISH" "$SEED" "$T/off.json" 0
store_doc >"$T/v1.txt"
CANARY_ADDR=$(rcli -p "$BASE" --json CLUSTER SLOTS | jq -r '.[] | select(.[0] == 0) | "\(.[2][0]):\(.[2][1])"')
ramp "$T/r.yaml" ui-slot
expect_exit 0 "plan" hf plan "$T/r.yaml" --cluster "$SEED"
check "wave 1: the first $ON_SLOTS slots of the canary shard" \
	grep -q "wave 1 (10%): flag 'ui' on for 'key' in slots 0-$((ON_SLOTS - 1)) ($ON_SLOTS slot(s)) of shard(s) $CANARY_ADDR$" "$T/out"
check "wave 2: every slot" grep -q "wave 2 (100%): flag 'ui' on for every slot" "$T/out"
test_end

test_begin 'the 10 % wave: on for exactly the canary shard'"'"'s first slots, as Redis hashes the keys'
expect_exit 137 "apply killed just after the 10 % publish" hf_crash_at flag-published:1 apply "$T/r.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
store_doc >"$T/d10.json"
check "the published targeting is JSONLogic with 'slot'" \
	jq -e '.flags.ui.targeting == {"if": [{"===": [{"slot": {"var": "key"}}, null]}, null,
		{"or": [{"<=": [0, {"slot": {"var": "key"}}, '$((ON_SLOTS - 1))']}]}, "on", "off"]}' "$T/d10.json"
check "it validates" hf flag validate "$T/d10.json"
eval_on "$T/d10.json" >"$T/on10.txt"
# The keys that should be on: Redis's slot among the canary shard's first ON_SLOTS slots.
head -n "$ON_SLOTS" "$T/canary.txt" | sort -n >"$T/want_slots.txt"
awk 'NR == FNR { want[$1] = 1; next } ($1 in want) { print FNR }' "$T/want_slots.txt" "$T/slots.txt" >"$T/want_on.txt"
check "some keys are on, not all ($(wc -l <"$T/on10.txt") of $NKEYS)" \
	sh -c "test \$(wc -l <'$T/on10.txt') -gt 50 && test \$(wc -l <'$T/on10.txt') -lt 400"
check "exactly the keys whose slot (CLUSTER KEYSLOT) is among them" test_cmp "$T/want_on.txt" "$T/on10.txt"
# on_in_canary: every on key's slot (CLUSTER KEYSLOT) is served by the canary shard (CLUSTER SLOTS).
on_in_canary() {
	awk 'FILENAME == ARGV[1] { c[$1] = 1; next } FILENAME == ARGV[2] { s[FNR] = $1; next }
		!(s[$1] in c) { print "key " $1 " has slot " s[$1] ", not the canary shard'"'"'s"; bad = 1 }
		END { exit bad }' "$T/canary.txt" "$T/slots.txt" "$T/on10.txt"
}
check "every on key's slot is the canary shard's (CLUSTER SLOTS)" on_in_canary
echo '{"other": "no key"}' >"$T/nokey.jsonl"
check "a context without the key gets the default variant (off)" sh -c \
	"'$HOTFIX' flag eval '$T/d10.json' --contexts '$T/nokey.jsonl' | grep '\"key\":\"ui\"' | grep -q '\"variant\":\"off\",\"reason\":\"DEFAULT\"'"
hf --json status "$RUN" >"$T/s.json"
check "the first ramp's before-state journals the slot order, canary shard first" json_true "$T/s.json" '
	(.steps[] | select(.wave == 1) | .before.slots[0].ranges[0][0]) == 0,
	(.steps[] | select(.wave == 1) | .before.slots | length) == 3'
test_end

test_begin 'resume finishes the ramp; after the last wave every key is on'
expect_exit 0 "resume" hf resume "$RUN"
check "the run promoted" sh -c "'$HOTFIX' --state '$STATE' --json status $RUN | jq -e '.state == \"promoted\"'"
check "two versions were published, one per wave" test "$(store_version)" = 3
store_doc >"$T/d100.json"
check "every key is on" test "$(eval_on "$T/d100.json" | wc -l)" = "$NKEYS"
expect_exit 0 "rollback" hf rollback "$RUN"
store_doc >"$T/back.txt"
check "the exact document before the first ramp, in one version" \
	sh -c "cmp '$T/v1.txt' '$T/back.txt' && test \"\$(redis-cli -p $STORE_PORT HGET '$DOCKEY' version)\" = 4"
test_end

test_begin 'kill -9 before the 10 % publish, then resume: the same targeting'
ramp "$T/r2.yaml" ui-slot-crash
expect_exit 137 "apply killed just before the 10 % publish" hf_crash_at flag-publish:1 apply "$T/r2.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
check "nothing was published yet" test "$(store_version)" = 4
expect_exit 137 "the resume publishes the 10 % wave (killed after it)" hf_crash_at flag-published:1 resume "$RUN"
store_doc >"$T/d10b.json"
check "the same targeting as the first run's" sh -c "test \"\$(jq -c .flags.ui '$T/d10.json')\" = \"\$(jq -c .flags.ui '$T/d10b.json')\""
expect_exit 0 "resume again" hf resume "$RUN"
expect_exit 0 "rollback" hf rollback "$RUN"
store_doc >"$T/back2.txt"
check "the exact document before the first ramp" cmp "$T/v1.txt" "$T/back2.txt"
test_end

test_begin 'the guard judges the canary shard'"'"'s nodes while the flag is partly on'
GUARD='
    interval: 500ms
    baseline: 1s
    failure_limit: 3
    checks:
      - metric: error_rate
        max: 0.5'
start_load 60 300 || finish
ramp "$T/r3.yaml" ui-slot-guard 3s "$GUARD"
expect_exit 0 "the guarded ramp is promoted" hf apply "$T/r3.yaml" --cluster "$SEED" --yes
RUN=$(last_run)
stop_load
# The nodes the guard judged as changed at each verdict of wave 1 (the
# journaled samples' scope), and the canary shard's (CLUSTER SLOTS).
sqlite3 "$STATE/journal.db" "SELECT DISTINCT scope FROM guard_samples WHERE run = '$RUN' AND verdict = 1 AND wave = 1" |
	tr ',' '\n' | tr -d ' ' | grep . | sort -u >"$T/judged.txt"
rcli -p "$BASE" --json CLUSTER SLOTS | jq -r '.[] | select(.[0] == 0) | .[2:][] | "\(.[0]):\(.[1])"' | sort -u >"$T/canary_nodes.txt"
check "wave 1 had verdicts" test -s "$T/judged.txt"
check "they judged the canary shard's primary and replica, and no other node" test_cmp "$T/canary_nodes.txt" "$T/judged.txt"
expect_exit 0 "rollback" hf rollback "$RUN"
test_end

finish
