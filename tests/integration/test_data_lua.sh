#!/usr/bin/env bash
# The data kind's server-side scripts (src/kinds/lua/*.lua, which the build
# embeds) compile on a real redis-server: each file alone, and each script
# put together the way src/kinds/data.c sends it (the flags line,
# common.lua, then for the scripts that change keys codec.lua and a
# transform, then the body).
# SCRIPT LOAD compiles a script without running it and refuses one that
# does not compile; the test first shows that it does refuse one.
. "$(dirname "$0")/lib.sh"

LUA=${HF_SOURCE_DIR:-$(dirname "$0")/../..}/src/kinds/lua
WRITES="#!lua flags=allow-cross-slot-keys"
READS="#!lua flags=no-writes,allow-cross-slot-keys"

PORT=$(free_base 1) || { bad "no free port"; finish; }
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$T" >"$T/redis.log" 2>&1 &
EXTRA_PIDS+=("$!")
wait_for "redis-server" 10 sh -c "redis-cli -p $PORT PING | grep -q PONG" || finish

# compiles FILE: SCRIPT LOAD of the file's bytes answers a SHA-1 (an error
# otherwise, which goes to $T/load).
compiles() {
	rcli -p "$PORT" -x SCRIPT LOAD <"$1" >"$T/load" 2>&1
	grep -q -x '[0-9a-f]\{40\}' "$T/load" || { sed 's/^/    /' "$T/load"; return 1; }
}
# assemble FLAGS BODY [TRANSFORM]: the script as data.c puts it together.
assemble() {
	echo "$1"
	cat "$LUA/common.lua"
	if [ "$1" = "$WRITES" ]; then
		cat "$LUA/codec.lua"
		if [ -n "${3:-}" ]; then
			echo "local function transform(key)"
			echo "$3"
			echo "end"
		fi
	fi
	cat "$LUA/$2.lua"
}

refused() { ! compiles "$1" >/dev/null; }

test_begin 'SCRIPT LOAD refuses a script that does not compile'
printf 'local x = \n' >"$T/broken.lua"
check "a script that does not compile is refused" refused "$T/broken.lua"
test_end

test_begin 'every embedded file compiles on its own'

n=0
for f in "$LUA"/*.lua; do
	n=$((n + 1))
	check "$(basename "$f") ends with a newline" test "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n'
	check "$(basename "$f") compiles" compiles "$f"
done
check "there are scripts to check" test "$n" -ge 6
test_end

test_begin 'every script compiles as the data kind puts it together'
for s in apply revert; do
	assemble "$WRITES" "$s" >"$T/$s.lua"
	check "the $s script compiles" compiles "$T/$s.lua"
	assemble "$WRITES" "$s" "redis.call('SET', key, 'x')" >"$T/$s.lua"
	check "the $s script with a transform compiles" compiles "$T/$s.lua"
done
for s in digests match; do
	assemble "$READS" "$s" >"$T/$s.lua"
	check "the $s script compiles" compiles "$T/$s.lua"
done
test_end

finish
