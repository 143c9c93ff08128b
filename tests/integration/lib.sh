# Shared by the integration tests: named test blocks and their report, a
# scratch directory, the hotfix binary, free loopback ports, sandboxes of
# real redis-server processes, checks, file and JSON comparisons.
#
# A test script is a sequence of named blocks. Most are written
#
#	test_begin 'a killed apply resumes'
#	expect_exit 137 "apply killed at apply:1" env HOTFIX_CRASH_AT=apply:1 hf apply ...
#	check "every node holds the hotfix" all_target
#	test_end
#
# where every check and expect_exit inside is an assertion of the block; a
# block that is one chain of commands can be given as a string instead:
#
#	test_expect_success 'plan changes nothing' '
#		hf plan "$T/m.yaml" --cluster "$SEED" >/dev/null &&
#		snapshot "$T/now" "$PORTS" $PARAMS &&
#		test_cmp "$T/before" "$T/now"
#	'
#
# Each block prints "ok N - NAME" or "not ok N - NAME", the latter after the
# assertions that failed, each with its command's output. A check outside
# any block is reported as a block of its own. The script ends with finish,
# which prints the counts and exits non-zero when anything failed; a script
# that ends without reaching finish fails too.
#
# Options (after the script's name) or the environment:
#	-v, --verbose     HF_TEST_VERBOSE=1  show every assertion and the output
#	                                     of the commands, not only on failure
#	-k, --keep        HF_TEST_KEEP=1     keep $T and leave its sandboxes
#	                                     running; say where they are
#	-i, --immediate   HF_TEST_IMMEDIATE=1  stop at the first failing block
#	-x, --trace       HF_TEST_TRACE=1    trace the commands of each block
# e.g.  HOTFIX=build/hotfix bash tests/integration/test_crash.sh -v --keep
# or    HF_TEST_KEEP=1 ctest -R test_crash --output-on-failure
set -u

HOTFIX=${HOTFIX:?set HOTFIX to the hotfix binary}
case $HOTFIX in /*) ;; */*) HOTFIX=$PWD/$HOTFIX ;; esac
test_verbose=${HF_TEST_VERBOSE:-}
test_keep=${HF_TEST_KEEP:-}
test_immediate=${HF_TEST_IMMEDIATE:-}
test_trace=${HF_TEST_TRACE:-}
[ "$test_verbose" = 0 ] && test_verbose=
[ "$test_keep" = 0 ] && test_keep=
[ "$test_immediate" = 0 ] && test_immediate=
[ "$test_trace" = 0 ] && test_trace=
for test_arg in "$@"; do
	case $test_arg in
	-v | --verbose) test_verbose=1 ;;
	-k | --keep) test_keep=1 ;;
	-i | --immediate) test_immediate=1 ;;
	-x | --trace) test_trace=1 ;;
	-h | --help)
		sed -n '/^# Options/,/^# or /s/^#//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "$0: unknown option '$test_arg' (try --help)" >&2
		exit 2
		;;
	esac
done
unset test_arg

T=$(mktemp -d /tmp/hotfix-test.XXXXXX)
STATE=$T/state
SANDBOXES=()
EXTRA_PIDS=()

# Counters: 'passed' and 'failed' count assertions (checks), test_count the
# reported tests (blocks, and checks outside any block).
passed=0
failed=0
test_count=0
test_ok=0
test_not_ok=0
test_failures=()
test_block=
test_block_asserts=0
test_block_failures=0
test_finished=

hf() { "$HOTFIX" --state "$STATE" "$@"; }
# hf_crash_at POINT ARGS...: hf, killing itself with SIGKILL at the named
# crash point (HOTFIX_CRASH_AT=NAME[:N]); expect exit 137 from it.
hf_crash_at() { HOTFIX_CRASH_AT=$1 "$HOTFIX" --state "$STATE" "${@:2}"; }

# test_show FILE [LABEL]: the last lines of a command's output, indented
# under the assertion that failed.
test_show() {
	local file=$1 label=${2:-} lines
	[ -s "$file" ] || return 0
	lines=$(wc -l <"$file")
	[ "$lines" -gt 40 ] && echo "      ... (the first $((lines - 40)) of $lines lines left out)"
	tail -n 40 "$file" | sed "s/^/      $label/"
}

# test_report RESULT NAME [NOTE]: one "ok N - NAME" or "not ok N - NAME" line.
test_report() {
	test_count=$((test_count + 1))
	if [ "$1" = ok ]; then
		test_ok=$((test_ok + 1))
		echo "ok $test_count - $2${3:+ # $3}"
	else
		test_not_ok=$((test_not_ok + 1))
		test_failures+=("$test_count - $2")
		echo "not ok $test_count - $2${3:+ # $3}"
		[ -n "$test_immediate" ] && finish
	fi
	return 0
}

# ok DESCRIPTION, bad DESCRIPTION: one assertion passed or failed. Inside a
# block they count towards it; outside, each is reported as a test.
ok() {
	passed=$((passed + 1))
	if [ -n "$test_block" ]; then
		test_block_asserts=$((test_block_asserts + 1))
		[ -n "$test_verbose" ] && echo "    ok - $*"
	else
		test_report ok "$*"
	fi
	return 0
}
bad() {
	failed=$((failed + 1))
	if [ -n "$test_block" ]; then
		test_block_asserts=$((test_block_asserts + 1))
		test_block_failures=$((test_block_failures + 1))
		echo "    not ok - $*"
	else
		test_report "not ok" "$*"
	fi
	return 0
}

# test_begin NAME ... test_end: a named block of assertions.
test_begin() {
	if [ -n "$test_block" ]; then
		bad "test_begin '$1' inside block '$test_block', whose test_end is missing"
		test_end
	fi
	test_block=$1
	test_block_asserts=0
	test_block_failures=0
	[ -n "$test_verbose" ] && echo "# $test_block"
	[ -n "$test_trace" ] && set -x
	return 0
}

# test_end: report the block. One that asserted nothing fails: it could not
# have failed otherwise.
test_end() {
	{ [ -n "$test_trace" ] && set +x; } 2>/dev/null
	local name=$test_block
	if [ -z "$name" ]; then
		bad "test_end without test_begin"
		return 0
	fi
	test_block=
	if [ "$test_block_failures" -gt 0 ]; then
		test_report "not ok" "$name" "$test_block_failures of $test_block_asserts assertion(s) failed"
	elif [ "$test_block_asserts" = 0 ]; then
		failed=$((failed + 1))
		test_report "not ok" "$name" "the block asserts nothing"
	else
		test_report ok "$name"
	fi
}

# test_expect_success NAME BODY: a block whose assertion is that BODY, run
# with eval in this shell, succeeds. Checks inside BODY count too. On
# failure the body and its output are shown.
test_expect_success() {
	local test_rc
	test_begin "$1"
	if [ -n "$test_verbose" ]; then
		eval "$2"
		test_rc=$?
	else
		eval "$2" >"$T/.block.out" 2>&1
		test_rc=$?
	fi
	{ [ -n "$test_trace" ] && set +x; } 2>/dev/null
	if [ "$test_rc" = 0 ]; then
		ok "the block's commands succeed"
		# A check inside the body that failed printed into its output.
		[ "$test_block_failures" = 0 ] || [ -n "$test_verbose" ] || test_show "$T/.block.out"
	else
		bad "the block's commands fail (exit $test_rc):"
		printf '%s\n' "$2" | sed '/^[[:space:]]*$/d; s/^[[:space:]]*/      > /'
		[ -n "$test_verbose" ] || test_show "$T/.block.out"
	fi
	test_end
}

# check DESCRIPTION COMMAND...: pass when the command succeeds. Its output
# is shown when it fails (always with --verbose).
check() {
	local desc=$1 rc
	shift
	if [ -n "$test_verbose" ]; then
		"$@"
		rc=$?
	else
		"$@" >"$T/.check.out" 2>&1
		rc=$?
	fi
	if [ "$rc" = 0 ]; then
		ok "$desc"
	else
		bad "$desc"
		[ -n "$test_verbose" ] || test_show "$T/.check.out"
	fi
	return 0
}

# expect_exit CODE DESCRIPTION COMMAND...: run, keep output in $T/out and
# $T/err, pass when the exit code is CODE.
expect_exit() {
	local want=$1 desc=$2 got
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$desc (exit $got)"
		if [ -n "$test_verbose" ]; then
			test_show "$T/out" "out: "
			test_show "$T/err" "err: "
		fi
	else
		bad "$desc: exit $got, wanted $want"
		test_show "$T/out" "out: "
		test_show "$T/err" "err: "
	fi
	return 0
}

# test_cmp EXPECTED ACTUAL: the two files are identical; if not, print a
# unified diff of them and fail.
test_cmp() {
	diff -u --label "$1" --label "$2" "$1" "$2"
}

contains() { grep -q -- "$2" "$1"; }
# lacks FILE PATTERN: FILE exists and holds no line matching PATTERN (a
# missing file would pass a plain '! grep').
lacks() { [ -e "$1" ] || { echo "no file $1"; return 1; }; ! grep -q -- "$2" "$1"; }
# not COMMAND...: succeed when the command fails (for check: check "..." not grep ...).
not() { ! "$@"; }
# journal_lacks PATTERN: the journal exists, and none of its files (the
# database, its WAL) holds PATTERN; for secrets that must never be stored.
journal_lacks() { [ -f "$STATE/journal.db" ] && ! grep -a -q -- "$1" "$STATE"/journal.db*; }

# json_get FILE FILTER [JQ-OPTION...]: print what the jq FILTER gives on the
# JSON document FILE ('-' for standard input), strings without quotes. Fails
# when FILE is not JSON or the filter gives null (a missing field).
json_get() {
	local file=$1 filter=$2
	shift 2
	jq -r "$@" "($filter) | if . == null then error(\"no value\") else . end" "$file"
}

# json_true FILE EXPRESSION [JQ-OPTION...]: pass when the jq EXPRESSION is
# true on the JSON document FILE; otherwise show what it gave.
json_true() {
	local file=$1 expr=$2
	shift 2
	jq -e "$@" "[$expr] | length > 0 and all(. == true)" "$file" >/dev/null && return 0
	echo "json_true: '$expr' on $file gives $(jq -c "$@" "[$expr]" "$file" 2>&1)"
	echo "the document: $(jq -c . "$file" 2>&1 | cut -c1-2000)"
	return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_base N: a base port with N free ports and their bus ports (+10000),
# all below the kernel's ephemeral range (32768-), where outgoing
# connections could take a port between the check and the start.
free_base() {
	local n=$1 base i busy tries
	for tries in $(seq 1 50); do
		base=$((20000 + (RANDOM % 270) * 10))
		busy=0
		for ((i = 0; i < n; i++)); do
			if port_in_use $((base + i)) || port_in_use $((base + i + 10000)); then
				busy=1
				break
			fi
		done
		[ $busy = 0 ] && { echo "$base"; return 0; }
	done
	return 1
}

# sandbox_up NAME ARGS...: start a sandbox in $T/NAME; sets SEED and BASE.
sandbox_up() {
	local name=$1 nodes
	shift
	local shards=3 replicas=1 a prev=""
	for a in "$@"; do
		[ "$prev" = --shards ] && shards=$a
		[ "$prev" = --replicas ] && replicas=$a
		prev=$a
	done
	nodes=$((shards * (replicas + 1)))
	BASE=$(free_base "$nodes") || { bad "no free ports"; return 1; }
	SANDBOXES+=("$T/$name")
	if ! hf sandbox up --dir "$T/$name" --base-port "$BASE" "$@" >"$T/$name.up" 2>&1; then
		bad "sandbox up $name"
		test_show "$T/$name.up"
		return 1
	fi
	SEED=$(tail -n 1 "$T/$name.up")
	return 0
}

# sandbox_kill_leftovers DIR: should 'sandbox down' itself be broken, stop
# the servers whose pid files are still in DIR, by pid.
sandbox_kill_leftovers() {
	local pidfile pid
	for pidfile in "$1"/*/redis.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null && kill -CONT "$pid" && kill -KILL "$pid"
	done
	return 0
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL if it has not ended within
# SECONDS (10). Returns 1, saying so, when it had to be killed: a process
# of ours that ignores SIGTERM is a finding, never a test that hangs.
stop_pid() {
	local pid=$1 i
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.05
	done
	echo "# pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)) did not end on SIGTERM: killed"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

cleanup() {
	local rc=$? d p
	for p in "${EXTRA_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for p in "${EXTRA_PIDS[@]}"; do stop_pid "$p" 5 >/dev/null; done
	if [ -z "$test_finished" ] && [ "$rc" = 0 ]; then
		echo "not ok - the script ended before finish"
		rc=1
	fi
	if [ -n "$test_keep" ]; then
		echo "# kept the test directory $T"
		for d in "${SANDBOXES[@]}" "$STATE/sandbox"; do
			[ -f "$d/sandbox.json" ] || continue
			echo "#   a sandbox is still up in $d; stop it with"
			echo "#   $HOTFIX --state $STATE sandbox down --dir $d"
		done
	else
		for d in "${SANDBOXES[@]}" "$STATE/sandbox"; do
			[ -e "$d" ] || continue
			hf sandbox down --dir "$d" >/dev/null 2>&1
			sandbox_kill_leftovers "$d"
		done
		rm -rf "$T"
		[ "$rc" != 0 ] && echo "# to keep the test directory and its servers, run again with --keep (or HF_TEST_KEEP=1)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rcli() { redis-cli -h 127.0.0.1 "$@"; }

# cfg PORT PARAM [PASSWORD]: the live value of a parameter.
cfg() {
	if [ -n "${3:-}" ]; then
		REDISCLI_AUTH=$3 rcli -p "$1" CONFIG GET "$2" | sed -n 2p
	else
		rcli -p "$1" CONFIG GET "$2" | sed -n 2p
	fi
}

# snapshot FILE PORTS PARAMS...: write "port param value" lines.
snapshot() {
	local out=$1 ports=$2 p k
	shift 2
	: >"$out"
	for p in $ports; do
		for k in "$@"; do echo "$p $k $(cfg "$p" "$k" "${PASS:-}")" >>"$out"; done
	done
}

ports_of() { seq "$1" $(($1 + $2 - 1)) | tr '\n' ' '; }

# last_run: the id of the newest run in the journal.
last_run() { hf --json history | json_get - '.[0].run'; }

# eventually SECONDS COMMAND...: poll until the command succeeds; fail,
# quietly, once SECONDS have passed. For use under check.
eventually() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
	return 0
}

# start_load SECONDS [RATE]: 'hotfix load' on $SEED in the background (RATE
# requests/s, 2000 by default) until SECONDS pass or stop_load; returns once
# its writes reach the first primary ($BASE). Its output is in $T/load.out.
start_load() {
	"$HOTFIX" --state "$STATE" load --cluster "$SEED" --rate "${2:-2000}" --seconds "$1" \
		>"$T/load.out" 2>&1 &
	LOAD=$!
	EXTRA_PIDS+=("$LOAD")
	wait_for "the load to start" 10 sh -c "[ \$(redis-cli -p $BASE INFO commandstats | grep -c cmdstat_set) = 1 ]"
}

# start_serve NAME ARGS...: 'hotfix serve' on a free loopback port; sets
# SERVE_PID and URL.
start_serve() {
	local out=$T/serve-$1.out
	shift
	"$HOTFIX" --state "$STATE" serve --listen 127.0.0.1:0 "$@" >"$out" 2>&1 &
	SERVE_PID=$!
	EXTRA_PIDS+=("$SERVE_PID")
	wait_for "the server to listen" 10 grep -q 'listening on' "$out" || return 1
	URL=$(sed -n 's|.*listening on \(http://[^/]*\)/.*|\1|p' "$out")
}

stop_load() {
	stop_pid "$LOAD"
	return 0
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until the command succeeds;
# a timeout is a failed assertion.
wait_for() {
	local desc=$1 secs=$2
	shift 2
	eventually "$secs" "$@" 2>/dev/null && return 0
	bad "timed out waiting for $desc"
	return 1
}

# finish: close a block left open (as by 'sandbox_up ... || finish'),
# print the counts, exit non-zero when anything failed.
finish() {
	local f
	[ -n "$test_block" ] && test_end
	test_finished=1
	if [ "$test_count" = 0 ]; then
		failed=$((failed + 1))
		echo "not ok - no test ran"
	fi
	echo "# $test_count test(s): $test_ok ok, $test_not_ok not ok ($passed assertion(s) passed, $failed failed)"
	for f in "${test_failures[@]}"; do echo "# failed: $f"; done
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ] && [ "$test_not_ok" = 0 ]
	exit $?
}

# manifest FILE NAME [WAVES-YAML]: a config hotfix of timeout and
# maxmemory-policy with the given waves.
manifest() {
	local file=$1 name=$2 waves=${3:-"      - nodes: 1
      - nodes: 50%
      - nodes: 100%"}
	cat >"$file" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: $name
  version: 1
  owner: test@example.com
  problem: Integration test of a config hotfix.
spec:
  changes:
    - config:
        timeout: "300"
        maxmemory-policy: allkeys-lru
  rollout:
    order: replicas-first
    waves:
$waves
  guard: none
YAML
}
