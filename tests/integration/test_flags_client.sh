#!/usr/bin/env bash
# Flags in the cluster (issue 12): the flag store's versioned publish, the
# client library (libhotfix-flags) and 'hotfix flag watch|status' on real
# redis-server sandboxes, with 'hotfix load' running:
# 20 watchers apply and acknowledge every version; a stopped watcher is
# named stale and not acknowledged, and catches up when continued; a stale
# publish is refused and changes nothing; 8 threads evaluating while 50
# versions are published only ever see versions in order with their own
# values; STALE and the fail policies when the cluster goes away; the
# installed library builds the example; a standalone primary with a password.
# Nothing here asserts wall-clock timings: waits are bounded, not measured.
. "$(dirname "$0")/lib.sh"

PUBLISH=${HF_FLAGS_PUBLISH:?set HF_FLAGS_PUBLISH to the tests/flags/publish.c program}
CHECK=${HF_FLAGS_CHECK:?set HF_FLAGS_CHECK to the tests/flags/client_check.c program}
NWATCH=20

# doc FILE VALUE: one boolean flag 'ui' whose default variant is VALUE's.
doc() {
	printf '{"flags":{"ui":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"%s"}}}\n' "$2" >"$1"
}
# status FILE [ARGS...]: hotfix flag status --json into FILE.
status() { local f=$1; shift; hf --json flag status --cluster "$SEED" "$@" >"$f"; }
# all_print VERSION VALUE: every watcher printed that line.
all_print() {
	local i
	for ((i = 1; i <= NWATCH; i++)); do
		grep -qx "version $1 value $2" "$T/watch$i.out" || return 1
	done
}
# applied_by_all FILE VERSION: status lists NWATCH clients, all acknowledging VERSION.
applied_by_all() {
	status "$1" && json_true "$1" "(.clients | length) == $NWATCH,
		all(.clients[]; .applied_version == $2), .acknowledged == $NWATCH,
		.not_acknowledged == [], .p50_ms >= 0, .p99_ms >= .p50_ms"
}

test_begin 'usage errors exit 2; an unreachable cluster exits 4'
expect_exit 2 "watch without a KEY" env -u HOTFIX_CLUSTER "$HOTFIX" --state "$STATE" flag watch --cluster redis://127.0.0.1:1
expect_exit 2 "status with two KEYs" "$HOTFIX" --state "$STATE" flag status a b --cluster redis://127.0.0.1:1
expect_exit 2 "a --context that is no object" "$HOTFIX" --state "$STATE" flag watch ui --cluster redis://127.0.0.1:1 --context '[1]'
check "it says why" grep -q "cannot use --context: the context is not a JSON object" "$T/err"
expect_exit 2 "no cluster" env -u HOTFIX_CLUSTER "$HOTFIX" --state "$STATE" flag status
expect_exit 2 "a bad URI" "$HOTFIX" --state "$STATE" flag watch ui --cluster mongodb://x
expect_exit 4 "status of a cluster that does not answer" "$HOTFIX" --state "$STATE" flag status --cluster redis://127.0.0.1:1
check "help lists watch and status" sh -c "'$HOTFIX' flag --help | grep -q 'hotfix flag watch KEY --cluster URI'"
test_end

sandbox_up flags --shards 3 --replicas 0 || finish
start_load 600 500 || finish

test_begin 'publish version 1; 20 watchers print it and acknowledge it'
doc "$T/v1.json" off
check "version 1 is published" "$PUBLISH" "$SEED" "$T/v1.json" 0
for ((i = 1; i <= NWATCH; i++)); do
	# Not through hf(): $! must be the watcher's own pid.
	"$HOTFIX" --state "$STATE" flag watch ui --cluster "$SEED" >"$T/watch$i.out" 2>"$T/watch$i.err" &
	WATCH[i]=$!
	EXTRA_PIDS+=("$!")
done
check "every watcher prints version 1" eventually 30 all_print 1 false
check "status lists $NWATCH clients on version 1" eventually 30 applied_by_all "$T/s1.json" 1
test_end

test_begin 'version 2 reaches every watcher, which acknowledges it'
doc "$T/v2.json" on
check "version 2 is published" "$PUBLISH" "$SEED" "$T/v2.json" 1
check "every watcher prints version 2" eventually 30 all_print 2 true
check "status: $NWATCH clients with applied_version 2" eventually 30 applied_by_all "$T/s2.json" 2
check "status without --json names the version" sh -c "'$HOTFIX' flag status ui --cluster '$SEED' | grep -q '^version 2, published'"
test_end

test_begin 'a stopped watcher is named stale and not acknowledged; continued, it catches up'
STOPPED=${WATCH[7]}
kill -STOP "$STOPPED"
doc "$T/v3.json" off
check "version 3 is published" "$PUBLISH" "$SEED" "$T/v3.json" 2
others_on_3() {
	status "$T/s3.json" --stale 1500 && json_true "$T/s3.json" ".acknowledged == $((NWATCH - 1)),
		([.clients[] | select(.pid == $STOPPED) | .id] == .not_acknowledged),
		([.clients[] | select(.pid == $STOPPED) | .id] == .stale),
		([.clients[] | select(.pid == $STOPPED) | .applied_version] == [2]),
		([.clients[] | select(.pid == $STOPPED) | .delay_ms >= 0] == [true])"
}
check "the others acknowledge v3, the stopped one is named stale and not acknowledged" \
	eventually 30 others_on_3
check "the text names it too" sh -c "'$HOTFIX' flag status --stale 1500 --cluster '$SEED' | grep -q '^not acknowledged: .*:$STOPPED:'"
kill -CONT "$STOPPED"
check "continued, it prints version 3" eventually 30 grep -qx "version 3 value false" "$T/watch7.out"
check "and every client acknowledges version 3" eventually 30 applied_by_all "$T/s3b.json" 3
test_end

test_begin 'a stale publish is refused and changes nothing'
owner_doc() { local p; for p in $(ports_of "$BASE" 3); do rcli -p "$p" HGETALL 'hotfix:flags:{hotfix}:doc' 2>/dev/null | grep -v '^MOVED'; done; }
owner_doc >"$T/before"
doc "$T/v4.json" on
expect_exit 5 "publishing over version 1 when 3 is current" "$PUBLISH" "$SEED" "$T/v4.json" 1
check "the message names both versions" sh -c "'$PUBLISH' '$SEED' '$T/v4.json' 1 2>&1 | grep -q 'expected version 1 to be current, but version 3 is'"
owner_doc >"$T/after"
check "the document and its version are unchanged" test_cmp "$T/before" "$T/after"
check "the watchers still print version 3 last" sh -c "for f in $T/watch*.out; do tail -n 1 \$f | grep -qx 'version 3 value false' || exit 1; done"
test_end

test_begin 'the watchers end on SIGTERM with exit 0; --prune forgets them'
for ((i = 1; i <= NWATCH; i++)); do
	kill "${WATCH[i]}"
done
for ((i = 1; i <= NWATCH; i++)); do
	wait "${WATCH[i]}"
	check "watcher $i exits 0" test $? = 0
done
check "--prune forgets the clients gone" eventually 30 sh -c "
	'$HOTFIX' --json flag status --prune 1 --cluster '$SEED' >'$T/pruned.json' &&
	jq -e '.clients == [] and .version == 3' '$T/pruned.json'"
test_end
stop_load

test_begin 'the installed library: its .pc, its header alone, the example program'
BUILD_DIR=$(dirname "$HOTFIX")
SRC=${HF_SOURCE_DIR:-$(dirname "$0")/../..}
check "cmake --install into a prefix" cmake --install "$BUILD_DIR" --prefix "$T/inst"
PCFILE=$(find "$T/inst" -name hotfix-flags.pc | head -n 1)
LIBDIR=$(dirname "$(dirname "$PCFILE")")
check "the .pc names the prefix installed to" grep -qx "prefix=$T/inst" "$PCFILE"
check "the header and the soname are installed" test -f "$T/inst/include/hotfix/flags.h" -a -L "$LIBDIR/libhotfix-flags.so.0"
# A sanitized library needs a sanitized program (its runtime first).
SAN=
ldd "$LIBDIR/libhotfix-flags.so.0" | grep -q libasan && SAN="-fsanitize=address,undefined"
check "the example builds from pkg-config alone" sh -c "cc -std=c11 -Wall -Wextra -Werror $SAN \
	'$SRC/examples/flags_client.c' -o '$T/example' \
	\$(PKG_CONFIG_PATH='$(dirname "$PCFILE")' pkg-config --cflags --libs hotfix-flags)"
LD_LIBRARY_PATH=$LIBDIR "$T/example" "$SEED" ui user-1 >"$T/example.out" 2>&1 &
EXAMPLE=$!
EXTRA_PIDS+=("$EXAMPLE")
check "it evaluates the flag" eventually 30 grep -qx "ui is off for user-1 (version 3, STATIC)" "$T/example.out"
stop_pid "$EXAMPLE"
check "it ends on SIGTERM" not kill -0 "$EXAMPLE"
test_end

# ---- the library alone, on a sandbox of its own -------------------------------
sandbox_up lib --shards 3 --replicas 0 || finish

# numbered FILE K: version K's document: "n" is K and "s" is "version-K".
numbered() {
	printf '{"flags":{"n":{"state":"ENABLED","variants":{"v":%d},"defaultVariant":"v"},"s":{"state":"ENABLED","variants":{"v":"version-%d"},"defaultVariant":"v"}}}\n' "$2" "$2" >"$1"
}

test_begin '8 threads evaluate while 50 versions are published: versions in order, values of their version'
numbered "$T/n1.json" 1
check "version 1 is published" "$PUBLISH" "$SEED" "$T/n1.json" 0
"$CHECK" threads "$SEED" 50 >"$T/threads.out" 2>&1 &
CHECKER=$!
EXTRA_PIDS+=("$CHECKER")
published=1
for ((k = 2; k <= 50; k++)); do
	numbered "$T/n$k.json" "$k"
	"$PUBLISH" "$SEED" "$T/n$k.json" $((k - 1)) >/dev/null && published=$k
done
check "50 versions are published" test "$published" = 50
wait "$CHECKER"
check "the threads saw no version go back and no value of another version" test $? = 0
check "they say so" grep -q '^ok threads 8 ' "$T/threads.out"
test_show "$T/threads.out" "threads: "
test_end

test_begin 'a client reconnects when its connections are killed; STALE when the cluster goes away: last-known keeps the value, default takes the default variant'
cat >"$T/policy.json" <<'JSON'
{"flags":{
 "lk":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[true,"on","off"]}},
 "fd":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[true,"on","off"]},
       "metadata":{"failPolicy":"default"}}}}
JSON
check "the policies are published" "$PUBLISH" "$SEED" "$T/policy.json" 50
"$CHECK" eval "$SEED" 600 lk fd >"$T/eval.out" 2>&1 &
EVAL=$!
EXTRA_PIDS+=("$EVAL")
check "both flags evaluate to on by targeting" eventually 30 sh -c "
	grep -q '^lk version 51 value true reason TARGETING_MATCH variant on\$' '$T/eval.out' &&
	grep -q '^fd version 51 value true reason TARGETING_MATCH variant on\$' '$T/eval.out'"
for p in $(ports_of "$BASE" 3); do
	rcli -p "$p" CLIENT KILL TYPE pubsub >/dev/null
	rcli -p "$p" CLIENT KILL TYPE normal >/dev/null
done
check "with its connections killed, the client reconnects and applies version 52" sh -c "
	'$PUBLISH' '$SEED' '$T/policy.json' 51 >/dev/null"
check "version 52 is applied" eventually 30 sh -c "
	grep -q '^lk version 52 value true reason TARGETING_MATCH variant on\$' '$T/eval.out' &&
	grep -q '^fd version 52 value true reason TARGETING_MATCH variant on\$' '$T/eval.out'"
for pidfile in "$T"/lib/*/redis.pid; do
	stop_pid "$(cat "$pidfile")"
done
check "lk: STALE, the last known value" eventually 30 \
	grep -q '^lk version 52 value true reason STALE variant on stale_ms>0$' "$T/eval.out"
check "fd: STALE, the default variant" eventually 30 \
	grep -q '^fd version 52 value false reason STALE variant off stale_ms>0$' "$T/eval.out"
stop_pid "$EVAL"
check "the client ends on SIGTERM" not kill -0 "$EVAL"
test_end

# ---- a failover of the keys' primary, which is the seed given ------------------
sandbox_up fo --shards 3 --replicas 1 || finish

# owner: the port of the primary that serves the flag keys (others answer MOVED).
owner() {
	local p
	for p in $(ports_of "$BASE" 6); do
		[ "$(rcli -p "$p" HGET 'hotfix:flags:{hotfix}:doc' version 2>/dev/null)" = "$1" ] &&
			{ echo "$p"; return 0; }
	done
	return 1
}

test_begin 'the primary of the flag keys fails over: the client finds the new one and applies the next version'
doc "$T/fo1.json" on
doc "$T/fo2.json" off
check "version 1 is published" "$PUBLISH" "$SEED" "$T/fo1.json" 0
"$CHECK" eval "$SEED" 600000 ui >"$T/fo.out" 2>&1 &
FOC=$!
EXTRA_PIDS+=("$FOC")
check "the client applies version 1" eventually 30 grep -qx "ui version 1 value true reason STATIC variant on" "$T/fo.out"
OWNER=$(owner 1)
# Slot 285 is in the first shard's range: the seed given is that primary,
# so the client must reconnect through the nodes it learned.
check "the keys' primary is the seed given" test "$OWNER" = "$BASE"
stop_pid "$(cat "$T/fo/$OWNER/redis.pid")"
OTHER=$BASE
[ "$OWNER" = "$BASE" ] && OTHER=$((BASE + 1))
check "version 2 is published once a replica took over" eventually 60 \
	"$PUBLISH" "redis://127.0.0.1:$OTHER" "$T/fo2.json" 1
check "the client applies version 2" eventually 60 grep -qx "ui version 2 value false reason STATIC variant off" "$T/fo.out"
stop_pid "$FOC"
test_end

# ---- without cluster mode, with a password ----------------------------------
sandbox_up pw --standalone --replicas 0 --password 's3cr:t@' || finish
PWSEED="redis://:s3cr%3At%40@127.0.0.1:$BASE"

test_begin 'a standalone primary with a password (in the URI, or HOTFIX_PASSWORD)'
doc "$T/pw1.json" on
check "the version is published with the password in the URI" "$PUBLISH" "$PWSEED" "$T/pw1.json" 0
HOTFIX_PASSWORD='s3cr:t@' "$HOTFIX" --state "$STATE" flag watch ui --cluster "redis://127.0.0.1:$BASE" \
	>"$T/pw.out" 2>&1 &
PWW=$!
EXTRA_PIDS+=("$PWW")
check "a watcher with HOTFIX_PASSWORD prints it" eventually 30 grep -qx "version 1 value true" "$T/pw.out"
check "status names its acknowledgement" eventually 30 sh -c "
	'$HOTFIX' --json flag status --cluster '$PWSEED' >'$T/pw.json' &&
	jq -e '.version == 1 and .acknowledged == 1 and .clients[0].pid == $PWW' '$T/pw.json'"
expect_exit 1 "a wrong password is refused" "$PUBLISH" "redis://:nope@127.0.0.1:$BASE" "$T/pw1.json" 1
check "the message says why" grep -q "wrong password for 127.0.0.1:$BASE (WRONGPASS" "$T/err"
stop_pid "$PWW"
test_end

finish
