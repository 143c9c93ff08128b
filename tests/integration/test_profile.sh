#!/usr/bin/env bash
# The workload profile (hotfix-profile/2) and its replay: a 2x1 source
# driven with a known mix (30% HGET, 30% HSET, 30% GET of which a third on
# the replicas, 10% LPUSH) is staged; profile.json's mix, per-type lengths
# and sizes are those driven (shares within a tolerance; the replicas'
# reads in, their replicated writes out; a hash's fields, a list's
# elements, their sizes); 'load --profile' on the mirror
# sends the same mix (the mirror's INFO commandstats), with --check-writes
# too (nothing lost); commands it does not have are folded and said so; a
# hotfix-profile/1 file still loads as before; broken files are refused
# with FILE: message, exit 2.
#
# Needs HOTFIX, redis-server, redis-cli, python3, jq.
. "$(dirname "$0")/lib.sh"

DRIVE=$(dirname "$0")/profile_drive.py

# cmdstats PORTS...: "command calls" of INFO commandstats summed over PORTS.
cmdstats() {
	local p
	for p in "$@"; do rcli -p "$p" INFO commandstats; done | tr -d '\r' |
		sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' |
		awk '{ n[$1] += $2 } END { for (c in n) print c, n[c] }' | sort
}
# share_near FILE CMD WANT TOL: the share of CMD among the calls of the
# commands of FILE ("command calls" lines) listed in $MIX is WANT +- TOL.
share_near() {
	awk -v c="$2" -v want="$3" -v tol="$4" -v mix="$MIX" '
		BEGIN { split(mix, m, " "); for (i in m) in_mix[m[i]] = 1 }
		$1 in in_mix { total += $2 } $1 == c { n = $2 }
		END { s = total ? n / total : -1; printf "%s: %.3f of %d (want %s +- %s)\n", c, s, total, want, tol
		      exit !(s >= want - tol && s <= want + tol) }' "$1"
}
# within FILE FILTER LO HI: the number FILTER gives on FILE is in [LO, HI].
within() {
	local v
	v=$(json_get "$1" "$2") || return 1
	echo "$2 = $v (want $3..$4)"
	awk -v v="$v" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v >= lo && v <= hi) }'
}
resetstat() { local p; for p in "$@"; do rcli -p "$p" CONFIG RESETSTAT >/dev/null; done; }
no_check_keys() { local p; for p in "$@"; do [ -z "$(rcli -p "$p" --scan --pattern 'hotfix:check:*' | head -n 1)" ] || return 1; done; }
MIX="hget hset get lpush"

command -v redis-server >/dev/null || { bad "redis-server not found"; finish; }

# ---- the source, driven -------------------------------------------------
sandbox_up src --shards 2 --replicas 1 || finish
SB=$BASE
SRC=$(ports_of "$SB" 4)
test_begin 'a source driven with a known mix'
mkdir -p "$T/pre" "$T/mix"
check "preload generated" python3 "$DRIVE" preload "$SB" "$T/pre"
for f in "$T"/pre/*.resp; do
	check "preload into $(basename "$f" .resp)" sh -c "redis-cli -p $(basename "$f" .resp) --pipe <'$f' | grep -q 'errors: 0'"
done
resetstat $SRC
check "mix generated" python3 "$DRIVE" mix "$SB" "$T/mix"
check "a file for a replica too" [ "$(ls "$T"/mix/*.resp | wc -l)" -ge 3 ]
for f in "$T"/mix/*.resp; do
	check "mix into $(basename "$f" .resp)" sh -c "redis-cli -p $(basename "$f" .resp) --pipe <'$f' | grep -q 'errors: 0'"
done
cmdstats $SRC >"$T/src.stats"
check "the source counted 1800 HGET" grep -qx 'hget 1800' "$T/src.stats"
test_end

MB=$(free_base 4) || { bad "no free ports"; finish; }
SANDBOXES+=("$T/mirror")
test_begin 'stage writes a hotfix-profile/2 with the mix driven'
expect_exit 0 "stage" hf stage --from "$SEED" --sample 100% --dir "$T/mirror" --base-port "$MB"
MSEED=$(tail -n 1 "$T/out")
P=$T/mirror/profile.json
check "format hotfix-profile/2" [ "$(json_get "$P" .format)" = hotfix-profile/2 ]
check "hget 30%" within "$P" .mix.hget 0.27 0.33
check "hset 30% (the replicas' replicated writes not counted)" within "$P" .mix.hset 0.27 0.33
check "get 30% (the replicas' reads counted)" within "$P" .mix.get 0.27 0.33
check "lpush 10%" within "$P" .mix.lpush 0.08 0.12
check "only data commands in the mix" json_true "$P" '(.mix | keys) - ["hget", "hset", "get", "lpush"] == []'
check "admin commands listed, not in the mix" json_true "$P" '.commands.info.data == false and .commands.hget.data'
check "the replicas' GETs are theirs" within "$P" .commands.get.replica_calls 500 700
check "read share 60%" within "$P" .read_share 0.57 0.63
check "a data rate, within the request rate" json_true "$P" \
	'(.data_rate | type) == "number", .data_rate >= 0, .data_rate <= .request_rate'
check "hash length: 8 fields" within "$P" .keys.by_type.hash.length.p50 8 8
check "list length: 120 elements" within "$P" .keys.by_type.list.length.p50 120 120
check "list element size: 20 bytes" within "$P" .keys.by_type.list.element_size.p50 20 20
check "hash value size: 40 bytes" within "$P" .keys.by_type.hash.element_size.p50 40 40
check "string length: 100 bytes" within "$P" .keys.by_type.string.length.p50 100 100
check "type shares: 500 strings, 90 hashes, 5 lists" json_true "$P" \
	'.keys.by_type.string.keys == 500 and .keys.by_type.hash.keys == 90 and .keys.by_type.list.keys == 5'
check "key sizes: 6 to 8 characters" json_true "$P" '.keys.key_size.min >= 6 and .keys.key_size.max <= 8'
test_end

MP=$(ports_of "$MB" 2)
test_begin 'load --profile replays the mix on the mirror'
resetstat $(ports_of "$MB" 4)
expect_exit 0 "load --profile" hf --json load --cluster "$MSEED" --profile "$P" --rate 1000 --seconds 3
cp "$T/out" "$T/load.json"
check "no errors" [ "$(json_get "$T/load.json" .errors)" = 0 ]
check "the replay: the profile's four commands, nothing folded" json_true "$T/load.json" \
	'(.replay.commands | keys) == ["get", "hget", "hset", "lpush"] and .replay.folded == []'
check "per-command counts add up" json_true "$T/load.json" '([.commands[]] | add) == .ok and .reads + .writes == .ok'
check "the rate given wins" [ "$(json_get "$T/load.json" .options.rate)" = 1000 ]
cmdstats $MP >"$T/mirror.stats"
check "the mirror saw hget 30%" share_near "$T/mirror.stats" hget 0.3 0.05
check "the mirror saw hset 30%" share_near "$T/mirror.stats" hset 0.3 0.05
check "the mirror saw get 30%" share_near "$T/mirror.stats" get 0.3 0.05
check "the mirror saw lpush 10%" share_near "$T/mirror.stats" lpush 0.1 0.04
rcli -p "$MB" --scan --pattern 'hotfix:load:h:*' | head -n 20 |
	while read -r k; do rcli -p "$MB" HLEN "$k" </dev/null; done | jq -s . >"$T/hlen.json"
check "its hashes hold the profile's field count at most" json_true "$T/hlen.json" 'length > 0 and all(.[]; . >= 1 and . <= 8)'
test_end

test_begin 'load --profile --check-writes: acknowledged writes all read back'
expect_exit 0 "load --profile --check-writes" hf --json load --cluster "$MSEED" --profile "$P" \
	--check-writes --rate 500 --seconds 2
cp "$T/out" "$T/check.json"
check "writes acknowledged" json_true "$T/check.json" '.acked_writes > 0'
check "none lost, all verified" json_true "$T/check.json" '.lost == 0 and .unverifiable == 0 and .verified == .acked_writes'
check "the mix's other commands ran too" json_true "$T/check.json" '.commands.hset > 0 and .commands.lpush > 0'
check "the check keys are gone" no_check_keys $MP
test_end

test_begin 'the profile rate; folded commands are said'
jq '.data_rate = 300 | .mix = {"hmget": 0.4, "xadd": 0.2, "eval": 0.2, "zpopmin": 0.1, "incrby": 0.1}
	| .commands.hmget.kind = "read" | .commands.xadd.kind = "write" | .commands.eval.kind = "other"
	| .commands.zpopmin.kind = "write" | .commands.incrby.kind = "write"' "$P" >"$T/fold.json"
expect_exit 0 "load" hf --json load --cluster "$MSEED" --profile "$T/fold.json" --requests 300 --seconds 20
cp "$T/out" "$T/fold.out.json"
check "the profile's data rate" [ "$(json_get "$T/fold.out.json" .options.rate)" = 300 ]
check "folded as said" json_true "$T/fold.out.json" '[.replay.folded[] | "\(.command)>\(.as)"] | sort ==
	["eval>get/set", "hmget>hget", "incrby>incr", "xadd>set", "zpopmin>zrem"]'
check "no errors" [ "$(json_get "$T/fold.out.json" .errors)" = 0 ]
expect_exit 0 "load, text" hf load --cluster "$MSEED" --profile "$T/fold.json" --requests 100 --seconds 20
check "the text says what it replays" contains "$T/out" '^replay .*hget 40.0%'
check "and what it folded" contains "$T/out" '^folded *hmget (40.0%) replayed as hget'
test_end

test_begin 'a hotfix-profile/1 file loads as before'
jq '.format = "hotfix-profile/1" | del(.mix, .data_rate, .keys.by_type)' "$P" >"$T/v1.json"
expect_exit 0 "load --profile v1" hf --json load --cluster "$MSEED" --profile "$T/v1.json" --rate 300 --seconds 1
cp "$T/out" "$T/v1.out.json"
check "GET and SET only" json_true "$T/v1.out.json" '.gets + .sets == .ok and .ok > 0 and (.replay == null)'
check "the median DUMP size less its framing" [ "$(json_get "$T/v1.out.json" .options.value_size)" = \
	$(( $(json_get "$P" .keys.value_size.p50) - 11 )) ]
check "its read share" within "$T/v1.out.json" .options.read_ratio 0.57 0.63
test_end

test_begin 'a broken profile: FILE: message, exit 2'
echo '{"format": "hotfix-profile/2", "mix": {"get": "x"}}' >"$T/b1.json"
echo 'not json' >"$T/b2.json"
echo '{"format": "hotfix-profile/3"}' >"$T/b3.json"
jq '.keys.key_size.p90 = 1' "$P" >"$T/b4.json"
jq '.read_share = 7' "$P" >"$T/b5.json"
for i in 1 2 3 4 5; do
	expect_exit 2 "b$i refused" hf load --cluster "$MSEED" --profile "$T/b$i.json" --requests 1
	check "b$i: the message starts with the file" grep -q "^hotfix: $T/b$i.json: " "$T/err"
	cp "$T/err" "$T/err.b$i"
done
check "b1 names the field" contains "$T/err.b1" "'mix.get' is not a share"
check "b4 names the distribution" contains "$T/err.b4" "'keys.key_size.p90' is not a size"
expect_exit 2 "a missing file" hf load --cluster "$MSEED" --profile "$T/none.json" --requests 1
check "said so" contains "$T/err" "$T/none.json: cannot read"
test_end

finish
