#!/usr/bin/env bash
# 'hotfix stage': a mirror of a password-protected 3x1 source with a
# function library, ACL users, non-default config and 50,000 keys of six
# types (a third with TTLs): the same shards, replicas, slot ranges,
# config (as listed), libraries and users; every mirrored key's value
# (DEBUG DIGEST-VALUE) and expiry time equal to the source's, on the
# primary of the same slots;
# the source untouched (DEBUG DIGEST, CONFIG GET *, FUNCTION LIST, ACL
# LIST before and after). Then 'sandbox down' stops the mirror, and a
# source without a password with '--sample N' and 'load --profile'; a TLS
# source (rediss://) into a plain mirror.
#
# Needs HOTFIX, redis-server, redis-cli, python3.
. "$(dirname "$0")/lib.sh"

DATA=$(dirname "$0")/stage_data.py
PW=s3cret-Pw

command -v redis-server >/dev/null || { bad "redis-server not found"; finish; }

r() {
	if [ -n "$PW" ]; then REDISCLI_AUTH=$PW redis-cli -h 127.0.0.1 -p "$@"; else redis-cli -h 127.0.0.1 -p "$@"; fi
}

# masters PORT: "port slot-ranges" of each primary, by port.
masters() {
	r "$1" cluster nodes | awk '/master/ { split($2, a, "[:@]"); s = ""
		for (i = 9; i <= NF; i++) s = s (s ? "," : "") $i; print a[2], s }' | sort -n
}
# users PORT: ACL LIST with each user's rules sorted: a node describes
# single commands ("+get +set") in an order of its own.
users() { r "$1" acl list | while read -r l; do echo $(tr ' ' '\n' <<<"$l" | sort); done; }
# alice_ok PORT: alice logs in with her password and may GET.
alice_ok() {
	redis-cli -h 127.0.0.1 -p "$1" --user alice --pass alice-pw --no-auth-warning get app:none >"$T/alice" 2>&1
	cat "$T/alice"
	! grep -q -i 'err\|noperm\|wrongpass\|fail' "$T/alice"
}
replicas() { r "$1" cluster nodes | grep -c slave; }

# digest PORT...: what must not change on the source.
digest() {
	local p
	for p in "$@"; do
		echo "== $p"
		r "$p" debug digest
		r "$p" config get '*' | paste - - | sort
		r "$p" function list
		users "$p"
		r "$p" dbsize
	done
}

# keydump PORT KEYS-FILE: each key's value digest and PEXPIRETIME. Not
# DUMP's bytes: a set kept as a hash table serializes its members in the
# table's order, which differs between two servers holding the same set.
keydump() {
	awk '{ print "DEBUG DIGEST-VALUE", $0; print "PEXPIRETIME", $0 }' "$2" |
		REDISCLI_AUTH=$PW redis-cli --no-raw -h 127.0.0.1 -p "$1"
}

# ---- the source -----------------------------------------------------------
sandbox_up src --password "$PW" || finish
SRC_BASE=$BASE
SRC_SEED=$SEED
SRC_PRIMARIES="$SRC_BASE $((SRC_BASE + 1)) $((SRC_BASE + 2))"
SRC_ALL=$(ports_of "$SRC_BASE" 6)
echo "# source on $SRC_BASE-$((SRC_BASE + 5))"

test_begin 'the source: a library, two users, config, 50,000 keys of six types'
masters "$SRC_BASE" >"$T/src.masters"
mkdir -p "$T/data"
check "data generated" python3 "$DATA" 50000 app "$T/data" $(cut -d' ' -f2 "$T/src.masters")
i=0
for p in $SRC_PRIMARIES; do
	check "keys loaded into $p" sh -c "REDISCLI_AUTH=$PW redis-cli -h 127.0.0.1 -p $p --pipe <'$T/data/shard$i.resp' | grep -q 'errors: 0'"
	check "library loaded into $p" r "$p" function load \
		"#!lua name=stagelib
redis.register_function('echo1', function(keys, args) return args[1] end)"
	i=$((i + 1))
done
for p in $SRC_ALL; do
	r "$p" acl setuser alice on '>alice-pw' '~app:*' +get +set >/dev/null
	r "$p" acl setuser bob on '>bob-pw' '~*' '&*' +@read >/dev/null
	r "$p" config set maxmemory-policy allkeys-lru >/dev/null
	r "$p" config set slowlog-log-slower-than 5000 >/dev/null
	r "$p" config set hash-max-listpack-entries 256 >/dev/null
done
check "50,000 keys on the source" [ "$(for p in $SRC_PRIMARIES; do r "$p" dbsize; done | paste -sd+ | bc)" = 50000 ]
test_end
# The replicas catch up before the digest: each replica's applied offset
# equals its primary's.
replicas_caught_up() {
	local p off
	for p in $SRC_PRIMARIES; do
		off=$(r "$p" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
		r "$p" info replication | tr -d '\r' | grep -q "^slave0:.*offset=$off," || return 1
	done
}
wait_for "the source's replicas to catch up" 30 replicas_caught_up
digest $SRC_ALL >"$T/digest.before"

# ---- stage ------------------------------------------------------------------
MB=$(free_base 6) || { bad "no free ports"; finish; }
SANDBOXES+=("$T/mirror")
test_begin 'stage --sample 10% of a password-protected 3x1 source'
T0=$(date +%s%N)
expect_exit 0 "stage" env HOTFIX_PASSWORD="$PW" "$HOTFIX" --state "$STATE" stage \
	--from "redis://127.0.0.1:$SRC_BASE" --sample 10% --dir "$T/mirror" --base-port "$MB"
echo "# stage took $(( ($(date +%s%N) - T0) / 1000000 )) ms"
cp "$T/out" "$T/stage.out"
check "the last line is the mirror's seed URI" [ "$(tail -n 1 "$T/stage.out")" = "redis://:$PW@127.0.0.1:$MB" ]
check "the report lists what was left out" contains "$T/stage.out" "requirepass .*never read in clear"
check "the profile is written" json_get "$T/mirror/profile.json" '.keys.sampled'
test_end

test_begin 'the mirror: shards, replicas, slot ranges, config, libraries, users'
masters "$MB" | cut -d' ' -f2 >"$T/m.ranges"
cut -d' ' -f2 "$T/src.masters" >"$T/s.ranges"
check "3 primaries with the source's slot ranges" test_cmp "$T/s.ranges" "$T/m.ranges"
check "3 replicas" [ "$(replicas "$MB")" = 3 ]
# The parameters listed as left out or refused are not compared.
listed() { awk 'NR == FNR { skip[$1]; next } !($1 in skip)' "$T/skipped" -; }
sed -n '/^left out\|^refused/,$p' "$T/stage.out" | awk '/^  / { print $1 }' | sort -u >"$T/skipped"
r "$SRC_BASE" config get '*' | paste - - | sort | listed >"$T/cfg.src"
for p in $(ports_of "$MB" 6); do
	r "$p" config get '*' | paste - - | sort | listed >"$T/cfg.$p"
	check "node $p: the config as listed equals the source's" test_cmp "$T/cfg.src" "$T/cfg.$p"
	check "node $p: the source's users (hashes)" test_cmp <(users "$SRC_BASE") <(users "$p")
done
check "maxmemory-policy copied" [ "$(r "$MB" config get maxmemory-policy | sed -n 2p)" = allkeys-lru ]
for i in 0 1 2; do
	check "primary $((MB + i)): the source's libraries" \
		test_cmp <(r "$SRC_BASE" function list) <(r $((MB + i)) function list)
done
check "alice logs in to the mirror with her password" \
	alice_ok "$MB"
test_end

test_begin 'every mirrored key: value and expiry time as on the source, in the same shard'
total=0
for i in 0 1 2; do
	r $((MB + i)) --scan | sort >"$T/keys.$i"
	total=$((total + $(wc -l <"$T/keys.$i")))
	keydump $((SRC_BASE + i)) "$T/keys.$i" >"$T/dump.src.$i"
	keydump $((MB + i)) "$T/keys.$i" >"$T/dump.m.$i"
	check "shard $i: $(wc -l <"$T/keys.$i") keys identical (value digest, PEXPIRETIME) on the same shard" \
		test_cmp "$T/dump.src.$i" "$T/dump.m.$i"
done
echo "# $total keys in the mirror"
check "about 10% of the keys are in the mirror" test "$total" -gt 4000 -a "$total" -lt 6000
check "the report counts them" contains "$T/stage.out" "^keys  *$total copied of 50000 scanned"
check "keys with a TTL were copied with it" [ "$(grep -c '^(integer) [1-9]' "$T/dump.m.0")" -gt 0 ]
check "all six types are there" [ "$(json_get "$T/mirror/profile.json" '[.keys.types[] | select(. > 0)] | length')" = 6 ]
test_end

test_begin 'the source is untouched'
digest $SRC_ALL >"$T/digest.after"
check "DEBUG DIGEST, config, libraries, users and sizes as before" test_cmp "$T/digest.before" "$T/digest.after"
test_end

test_begin 'sandbox down stops the mirror'
expect_exit 0 "sandbox down" hf sandbox down --dir "$T/mirror"
check "no node answers" not redis-cli -h 127.0.0.1 -p "$MB" ping
test_end

# ---- a source without a password, --sample N ---------------------------
test_begin 'stage --sample 100 of a source without a password'
PW=
sandbox_up plain --shards 2 --replicas 0 || finish
PB=$BASE
masters "$PB" | cut -d' ' -f2 >"$T/p.ranges"
mkdir -p "$T/pdata"
python3 "$DATA" 3000 p "$T/pdata" $(cat "$T/p.ranges")
for i in 0 1; do redis-cli -p $((PB + i)) --pipe <"$T/pdata/shard$i.resp" >/dev/null; done
MB2=$(free_base 2) || { bad "no free ports"; finish; }
SANDBOXES+=("$T/mirror2")
expect_exit 0 "stage" env -u HOTFIX_PASSWORD -u REDISCLI_AUTH "$HOTFIX" --state "$STATE" stage \
	--from "redis://127.0.0.1:$PB" --sample 100 --dir "$T/mirror2" --base-port "$MB2"
check "seed URI without a password" [ "$(tail -n 1 "$T/out")" = "redis://127.0.0.1:$MB2" ]
check "100 keys per primary" test "$(redis-cli -p "$MB2" dbsize)" = 100 -a "$(redis-cli -p $((MB2 + 1)) dbsize)" = 100
check "sandbox status knows the mirror" hf sandbox status --dir "$T/mirror2"
test_end

test_begin 'load --profile replays the profile on the mirror'
PROF=$T/mirror2/profile.json
check "the profile has a command mix" json_get "$PROF" '.commands.set.calls'
check "a hotfix-profile/2" [ "$(json_get "$PROF" '.format')" = hotfix-profile/2 ]
check "the profile says every key was a write" [ "$(json_get "$PROF" '.read_share')" = 0 ]
expect_exit 0 "load --profile" hf --json load --cluster "redis://127.0.0.1:$MB2" --profile "$PROF" \
	--seconds 1 --rate 200
cp "$T/out" "$T/load.json"
check "its read ratio is the profile's" [ "$(json_get "$T/load.json" '.options.read_ratio')" = 0 ]
check "its value size is the profile's median string length" \
	[ "$(json_get "$T/load.json" '.options.value_size')" = "$(json_get "$PROF" '.keys.by_type.string.length.p50')" ]
check "it replays the writes of the profile's mix" json_true "$T/load.json" \
	'.replay.commands.set > 0 and .replay.commands.hset > 0 and .commands.hset > 0'
check "its key count is the source's" [ "$(json_get "$T/load.json" '.options.keys')" = 3000 ]
check "--rate given wins over the profile's" [ "$(json_get "$T/load.json" '.options.rate')" = 200 ]
check "no errors" [ "$(json_get "$T/load.json" '.errors')" = 0 ]
echo '{"format": "other"}' >"$T/bad.json"
expect_exit 2 "a file that is no profile is refused" hf load --cluster "redis://127.0.0.1:$MB2" --profile "$T/bad.json"
test_end

test_begin 'stage from a TLS source (rediss://): a plain mirror'
sandbox_up tls --shards 2 --replicas 0 --tls || finish
TB=$BASE
TD=$T/tls/tls
for i in $(seq 1 50); do echo "SET t:$i v$i"; done |
	redis-cli --tls --cacert "$TD/ca.crt" --cert "$TD/client.crt" --key "$TD/client.key" -c -p "$TB" >/dev/null
MB3=$(free_base 2) || { bad "no free ports"; finish; }
SANDBOXES+=("$T/mirror3")
expect_exit 0 "stage" hf --tls-cacert "$TD/ca.crt" --tls-cert "$TD/client.crt" --tls-key "$TD/client.key" \
	stage --from "rediss://127.0.0.1:$TB" --sample 100% --dir "$T/mirror3" --base-port "$MB3"
check "the mirror is plain TCP" [ "$(tail -n 1 "$T/out")" = "redis://127.0.0.1:$MB3" ]
check "all 50 keys copied" test \
	$(( $(redis-cli -p "$MB3" dbsize) + $(redis-cli -p $((MB3 + 1)) dbsize) )) -eq 50
test_end

finish
