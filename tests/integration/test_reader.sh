#!/usr/bin/env bash
# Client-version reader checks (S35): after each wave of a data hotfix, a
# reader command reads keys the wave changed the way an application does.
# A rewrite the reader understands is promoted; one it cannot read fails
# the guard's intervals and is rolled back (exit 3), the explanation naming
# the key and the reader's output; bad reader checks are refused before
# the cluster is touched (FILE:LINE:COL, exit 2).
. "$(dirname "$0")/lib.sh"

rc_() { redis-cli -c -h 127.0.0.1 -p "$BASE" "$@"; }
N=300

# A reader of the application's format: "v2:<number>" and nothing else.
mkdir -p "$T/m"
cat >"$T/m/reader-v2.sh" <<'SH'
#!/bin/sh
# reader-v2.sh HOST PORT KEY: print the value as the v2 client reads it.
v=$(redis-cli -c -h "$1" -p "$2" GET "$3") || exit 2
case $v in
v2:[0-9]*) echo "$v" ;;
*) echo "cannot parse '$v'" >&2; exit 1 ;;
esac
SH
chmod +x "$T/m/reader-v2.sh"

manifest() {   # manifest FILE NAME VALUE-LUA READER-CHECK
	echo "$3" >"$T/m/$2.lua"
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: test@example.com, problem: values in the old format}
spec:
  changes:
    - data: {match: "u:*", lua: $2.lua, batch: 50}
  rollout:
    waves:
      - {keys: 10%, bake: 3s}
      - {keys: 100%, bake: 1s}
  guard:
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    checks:
$4
YAML
}

sandbox_up rd --shards 3 --replicas 1 || finish
seq 1 $N | while read -r i; do echo "SET u:$i v1:$i"; done | while read -r c k v; do
	rc_ "$c" "$k" "$v" >/dev/null
done
digest() { for i in $(seq 1 $N); do echo "u:$i $(rc_ GET "u:$i")"; done; }
digest >"$T/before"

test_begin 'a rewrite the v2 reader reads is promoted, the reader having read its keys'
manifest "$T/m/good.yaml" to-v2 "redis.call('SET', key, 'v2:' .. string.sub(redis.call('GET', key), 4))" \
"      - reader: ./reader-v2.sh {host} {port} {key}
        match: '^v2:[0-9]+\$'
        keys: 4"
expect_exit 0 "the v2 rewrite is applied" hf apply --yes "$T/m/good.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/good.out"
check "every key is in the v2 format" test "$(digest | grep -c ' v2:')" = $N
check "the verdicts say keys were read" contains "$T/good.out" "key(s) read"
check "plan describes the reader check" sh -c \
	"$HOTFIX --state '$STATE' plan '$T/m/good.yaml' --cluster '$SEED' | grep -q 'reader \`./reader-v2.sh'"
RUN=$(last_run)
reads() {   # reads RUN OUTCOME: the reader verdicts of RUN the journal keeps
	sqlite3 "$STATE/journal.db" "SELECT count(*) FROM guard_samples WHERE run = '$1' AND
		metric = 'reader' AND outcome = '$2' AND rule = 'every read succeeds'"
}
check "the journal keeps the reader's passing verdicts" test "$(reads "$RUN" pass)" -gt 0
test_end

test_begin 'rolled back'
expect_exit 0 "rollback" hf rollback "$RUN"
digest >"$T/after-rollback"
check "every key is back at v1" test_cmp "$T/before" "$T/after-rollback"
test_end

test_begin 'a rewrite the reader cannot read is rolled back by the guard, naming the key'
manifest "$T/m/bad.yaml" to-v3 "redis.call('SET', key, 'v3|' .. redis.call('GET', key))" \
"      - reader: ./reader-v2.sh {host} {port} {key}"
expect_exit 3 "the v3 rewrite is rolled back by the guard" hf apply --yes "$T/m/bad.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/bad.out"
check "the reason names the reader, a key and its output" \
	grep -q "rolled back by the guard: .*reader \`./reader-v2.sh {host} {port} {key}\` on key 'u:[0-9]*': exit 1: cannot parse 'v3|v1:" "$T/bad.out"
digest >"$T/after-bad"
check "every key is back at v1" test_cmp "$T/before" "$T/after-bad"
check "the journal keeps the failing verdicts" test "$(reads "$(last_run)" fail)" -ge 2
test_end

test_begin 'output that does not match fails too'
manifest "$T/m/nomatch.yaml" to-v2b "redis.call('SET', key, 'v2:' .. string.sub(redis.call('GET', key), 4))" \
"      - reader: ./reader-v2.sh {host} {port} {key}
        match: '^v2:0\$'"
expect_exit 3 "a pattern no value matches rolls back" hf apply --yes "$T/m/nomatch.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/nomatch.out"
check "the reason shows the output and the pattern" \
	grep -q "output 'v2:[0-9]*' does not match '^v2:0\$'" "$T/nomatch.out"
digest >"$T/after-nomatch"
check "every key is back at v1" test_cmp "$T/before" "$T/after-nomatch"
test_end

test_begin 'bad reader checks are refused before the cluster is touched (FILE:LINE:COL, exit 2)'
manifest "$T/m/nokey.yaml" nokey "return" "      - reader: ./reader-v2.sh {host} {port}"
expect_exit 2 "nokey.yaml is refused" hf apply --yes "$T/m/nokey.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/nokey.out"
check "no {key}: named with its position" contains "$T/nokey.out" "nokey.yaml:16:17: 'reader' reads a key: it needs {key}"
manifest "$T/m/word.yaml" word "return" "      - reader: ./reader-v2.sh {hots} {key}"
expect_exit 2 "word.yaml is refused" hf apply --yes "$T/m/word.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/word.out"
check "an unknown placeholder" contains "$T/word.out" "word.yaml:16:17: 'reader': {hots} is no placeholder"
manifest "$T/m/re.yaml" re "return" "      - {reader: './reader-v2.sh {key}', match: 'v2:(('}"
expect_exit 2 "re.yaml is refused" hf apply --yes "$T/m/re.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/re.out"
check "a bad pattern" contains "$T/re.out" "re.yaml:16:49: invalid 'match' 'v2:(('"
cat >"$T/m/config.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: cfg, version: 1, owner: test@example.com, problem: p}
spec:
  changes:
    - config: {maxmemory-samples: "7"}
  guard:
    checks:
      - reader: ./reader-v2.sh {key}
YAML
expect_exit 2 "config.yaml is refused" hf apply --yes "$T/m/config.yaml" --cluster "$SEED"
cat "$T/out" "$T/err" >"$T/config.out"
check "a reader on a hotfix without a data change" contains "$T/config.out" \
	"config.yaml:9:9: guard check 1 is a reader: it reads the keys a data change wrote"
digest >"$T/after-refusals"
check "nothing changed" test_cmp "$T/before" "$T/after-refusals"
test_end

finish
