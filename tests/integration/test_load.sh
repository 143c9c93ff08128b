#!/usr/bin/env bash
# hotfix load: exact request counts checked against the servers' own
# counters, keys spread over every primary, the rate limit, a failover in the
# middle of a run, a standalone primary, Ctrl-C, and option errors; the
# write check (--check-writes) passing, failing when a primary loses its data,
# and passing through a failover; the per-shard unavailable window.
# Counts are asserted, never wall-clock timings.
. "$(dirname "$0")/lib.sh"

role_of() { rcli -p "$1" ROLE 2>/dev/null | head -n 1; }
primaries_of() { local p; for p in $(ports_of "$1" "$2"); do [ "$(role_of "$p")" = master ] && echo "$p"; done; }
replicas_of() { local p; for p in $(ports_of "$1" "$2"); do [ "$(role_of "$p")" = slave ] && echo "$p"; done; }
sum_cmd() { # sum_cmd CMD PORTS...: calls of CMD summed over the nodes
	local cmd=$1 p n total=0
	shift
	for p in "$@"; do
		n=$(rcli -p "$p" INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$cmd:calls=\([0-9]*\),.*/\1/p")
		total=$((total + ${n:-0}))
	done
	echo "$total"
}
reset_nodes() { local p; for p in "$@"; do rcli -p "$p" FLUSHALL >/dev/null; rcli -p "$p" CONFIG RESETSTAT >/dev/null; done; }
all_positive() { local p; for p in "$@"; do [ "$(rcli -p "$p" DBSIZE)" -gt 0 ] || return 1; done; }
only_load_keys() { local p; for p in "$@"; do [ -z "$(rcli -p "$p" --scan | grep -v '^hotfix:load:{[0-9]*}$' | head -n 1)" ] || return 1; done; }
no_check_keys() { local p; for p in "$@"; do [ -z "$(rcli -p "$p" --scan --pattern 'hotfix:check:*' | head -n 1)" ] || return 1; done; }
set_on_each() { local p; for p in "$@"; do [ "$(sum_cmd set "$p")" -gt 0 ] || return 1; done; }
keys_total_is() { # keys_total_is N PORTS...: the DBSIZEs add up to N
	local want=$1 p t=0
	shift
	for p in "$@"; do t=$((t + $(rcli -p "$p" DBSIZE))); done
	[ "$t" = "$want" ]
}
# shards_ok FILE: one shard per primary, each with a window and an error
# count, unavailable_ms their maximum, their errors adding up to 'errors'.
shards_ok() {
	json_true "$1" '(.shards | length) == .primaries
		and all(.shards[]; .window_ms >= 0 and .errors >= 0 and (.primary // "") != "")
		and .unavailable_ms == ([.shards[].window_ms] | max)
		and ([.shards[].errors] | add) == .errors'
}
# waiting_on PID PORT: process PID has bytes that the server on PORT has not
# read: one of its connections to PORT has a non-empty receive queue on the
# server's side (the replicas' own links to PORT do not count).
waiting_on() {
	local pid=$1 port=$2 lp
	for lp in $(ss -Htnp state established "( dport = :$port )" | grep "pid=$pid," |
		awk '{ n = split($3, a, ":"); print a[n] }'); do
		ss -Htn state established "( sport = :$port and dport = :$lp )" |
			awk '$1 > 0 { f = 1 } END { exit !f }' && return 0
	done
	return 1
}
wait_pid() { # wait_pid PID SECONDS: the process ended (a liveness bound, not a timing check)
	eventually "$2" not kill -0 "$1" 2>/dev/null
}

# ---- option errors: exit 2, nothing sent -------------------------------
test_begin 'option errors: exit 2, nothing sent'
for bad in "--clients 0" "--pipeline 0" "--read-ratio 1.5" "--read-ratio x" "--rate -5" \
	"--rate abc" "--keys 0" "--seconds 0" "--value-size 99999999999" "--bogus 1" "extra" \
	"--check-writes --read-ratio 1" "--check-pause-ms 10" "--check-writes --check-pause-ms x"; do
	# shellcheck disable=SC2086
	expect_exit 2 "load $bad is refused" hf load --cluster redis://127.0.0.1:1 $bad
done
test_end

test_begin 'load --help names the options and defines the unavailable window'
expect_exit 0 "load --help" hf load --help
check "help names the options" contains "$T/out" "--read-ratio"
check "help names --check-writes" contains "$T/out" "--check-writes"
check "help defines the unavailable window" contains "$T/out" "unavailable window"

test_end

# ---- nothing to reach: exit 1 -----------------------------------------
test_begin 'nothing to reach: exit 1'
NOPORT=$(free_base 1)
expect_exit 1 "load against a closed port" hf load --cluster "redis://127.0.0.1:$NOPORT" --requests 10
check "says it cannot reach the cluster" contains "$T/err" "cannot reach"
test_end

# ---- 3x1 cluster --------------------------------------------------------
if sandbox_up c3; then
	# A bounded write-only run over a key space larger than the run: every
	# request is one SET the servers count, and keys land everywhere.
	test_begin 'a bounded write-only run: exact counts on the servers, keys on every primary'
	read -r -a PRIM <<<"$(primaries_of "$BASE" 6 | tr '\n' ' ')"
	check "three primaries found" [ "${#PRIM[@]}" = 3 ]
	reset_nodes "${PRIM[@]}"
	expect_exit 0 "bounded run of 20000 requests" \
		hf --json load --cluster "$SEED" --requests 20000 --read-ratio 0 --keys 1000000
	cp "$T/out" "$T/bounded.json"
	check "--json parses" jq empty "$T/bounded.json"
	check "report has every field" json_true "$T/bounded.json" \
		'(["requests", "ok", "errors", "errors_by_type", "redirects", "throughput", "seconds", "latency_ms"] - keys) == []
		 and (["p50", "p90", "p99", "p99.9", "max"] - (.latency_ms | keys)) == []'
	check "exactly 20000 ok" [ "$(json_get "$T/bounded.json" .ok)" = 20000 ]
	check "0 errors" [ "$(json_get "$T/bounded.json" .errors)" = 0 ]
	check "no MOVED: key slots match the servers' hashing" \
		[ "$(json_get "$T/bounded.json" .redirects.MOVED)" = 0 ]
	check "cluster mode with 3 primaries" json_true "$T/bounded.json" '.mode == "cluster" and .primaries == 3'
	check "percentiles are ordered" json_true "$T/bounded.json" \
		'.latency_ms | 0 < .p50 and .p50 <= .p90 and .p90 <= .p99 and .p99 <= ."p99.9" and ."p99.9" <= .max'
	check "SET calls summed over the primaries = 20000" [ "$(sum_cmd set "${PRIM[@]}")" = 20000 ]
	check "keys on every primary" all_positive "${PRIM[@]}"
	check "only hotfix:load:{N} keys written" only_load_keys "${PRIM[@]}"
	check "bounded run: one shard per primary, windows consistent" shards_ok "$T/bounded.json"
	check "bounded run: no write-check fields without --check-writes" json_true "$T/bounded.json" \
		'([has("acked_writes", "verified", "lost", "unverifiable")] | any | not) and .options.check_writes == false'
	test_end

	# The text report.
	test_begin 'the text report'
	expect_exit 0 "text report of a mixed run" hf load --cluster "$SEED" --requests 3000 --pipeline 8
	check "text report counts the requests" contains "$T/out" "3000: 3000 ok"
	check "text report shows p99.9" contains "$T/out" "p99.9"
	check "text report shows the unavailable window" contains "$T/out" "^unavailable .* ms at most over 3 shards"

	test_end

	# The rate limit, in request counts: 2000/s for 2 s.
	test_begin 'the rate limit, in request counts'
	expect_exit 0 "rate-limited run" hf --json load --cluster "$SEED" --rate 2000 --seconds 2
	cp "$T/out" "$T/rate.json"
	n=$(json_get "$T/rate.json" .requests)
	check "rate run sent requests ($n)" [ "$n" -gt 0 ]
	check "rate run stays within 2000*2*1.1 + 50 requests ($n)" [ "$n" -le $((2000 * 2 * 11 / 10 + 50)) ]
	check "rate run had no errors" [ "$(json_get "$T/rate.json" .errors)" = 0 ]
	test_end

	# --check-writes: every SET a new key, every acknowledged one read back
	# at the end, then everything deleted. The servers' counters agree.
	test_begin '--check-writes reads every acknowledged write back; the servers agree'
	reset_nodes "${PRIM[@]}"
	expect_exit 0 "checked run of 20000 requests" \
		hf --json load --cluster "$SEED" --requests 20000 --check-writes --pipeline 4
	cp "$T/out" "$T/check.json"
	check "check: acked_writes > 0, all verified, none lost or unverifiable" json_true "$T/check.json" \
		'.acked_writes > 0 and .verified == .acked_writes and .lost == 0 and .unverifiable == 0'
	check "check: 20000 ok, every SET acknowledged" json_true "$T/check.json" \
		'.ok == 20000 and .errors == 0 and .acked_writes == .sets and .options.check_writes == true'
	acked=$(json_get "$T/check.json" .acked_writes)
	gets=$(json_get "$T/check.json" .gets)
	check "check: SET calls on the servers = acked_writes ($acked)" [ "$(sum_cmd set "${PRIM[@]}")" = "$acked" ]
	check "check: GET calls = traffic GETs + one read-back per acked write" \
		[ "$(sum_cmd get "${PRIM[@]}")" = $((gets + acked)) ]
	check "check: one DEL per key written" [ "$(sum_cmd del "${PRIM[@]}")" = "$acked" ]
	check "check: keys were written on every primary" set_on_each "${PRIM[@]}"
	check "check: no hotfix:check key remains" no_check_keys "${PRIM[@]}"
	check "check: shards consistent" shards_ok "$T/check.json"
	expect_exit 0 "checked run, text report" hf load --cluster "$SEED" --requests 2000 --check-writes
	check "text report counts the checked writes" contains "$T/out" "acknowledged: .* verified, 0 lost, 0 unverifiable"

	test_end

	# The check can fail: the run's writes are all acknowledged, then one
	# primary loses its data before the read-back. --check-pause-ms holds the
	# read-back until Ctrl-C, which comes after the FLUSHALL; every key that
	# primary held must come back as lost, and no other.
	test_begin 'the write check fails when a primary loses its data'
	reset_nodes "${PRIM[@]}"
	"$HOTFIX" --state "$STATE" --json load --cluster "$SEED" --requests 3000 --read-ratio 0 \
		--check-writes --check-pause-ms 120000 >"$T/flush.json" 2>"$T/flush.err" &
	LOADPID=$!
	EXTRA_PIDS+=("$LOADPID")
	wait_for "3000 checked keys on the primaries" 30 keys_total_is 3000 "${PRIM[@]}"
	flushed=$(rcli -p "${PRIM[1]}" DBSIZE)
	check "FLUSHALL on ${PRIM[1]} ($flushed keys)" [ "$(rcli -p "${PRIM[1]}" FLUSHALL)" = OK ]
	kill -INT "$LOADPID"
	check "the read-back ends" wait_pid "$LOADPID" 60
	wait "$LOADPID"
	rc=$?
	check "run with lost writes exits 0 (got $rc)" [ "$rc" = 0 ]
	check "lost writes: 3000 acknowledged, $flushed lost, the rest verified" json_true "$T/flush.json" \
		".acked_writes == 3000 and .lost == $flushed and $flushed > 0 and .verified == 3000 - $flushed and .unverifiable == 0"
	check "lost writes: still no hotfix:check key remains" no_check_keys "${PRIM[@]}"
	sed 's/^/# /' "$T/flush.err"
	test_end

	# A failover while load runs: the run finishes, mostly ok, and what went
	# wrong is counted by type (MOVED followed, errors by their first word).
	test_begin 'a failover while load runs: every request accounted for'
	read -r -a REPL <<<"$(replicas_of "$BASE" 6 | tr '\n' ' ')"
	reset_nodes "${PRIM[@]}"
	"$HOTFIX" --state "$STATE" --json load --cluster "$SEED" --seconds 4 --rate 5000 --pipeline 2 >"$T/fo.json" 2>"$T/fo.err" &
	LOADPID=$!
	EXTRA_PIDS+=("$LOADPID")
	wait_for "load to start writing" 10 bash -c "[ \$(redis-cli -p ${PRIM[0]} DBSIZE) -gt 0 ]"
	check "CLUSTER FAILOVER accepted" [ "$(rcli -p "${REPL[0]}" CLUSTER FAILOVER)" = OK ]
	wait_for "replica ${REPL[0]} to become primary" 10 bash -c "[ \"\$(redis-cli -p ${REPL[0]} ROLE | head -n 1)\" = master ]"
	wait "$LOADPID"
	rc=$?
	check "load through a failover exits 0 (got $rc)" [ "$rc" = 0 ]
	check "failover report parses" jq empty "$T/fo.json"
	check "failover run: at least 90% ok" json_true "$T/fo.json" '.requests > 0 and .ok >= 0.9 * .requests'
	check "failover run: redirects or errors reported by type" json_true "$T/fo.json" \
		'.redirects.MOVED + .redirects.ASK + .errors > 0 and ([.errors_by_type[]] | add // 0) == .errors'
	check "failover run: every request accounted for" json_true "$T/fo.json" '.ok + .errors == .requests'
	sed 's/^/# /' "$T/fo.err"

	check "failover run: shards consistent" shards_ok "$T/fo.json"

	# After the failover, a bounded run is exact again.
	expect_exit 0 "bounded run after the failover" hf --json load --cluster "$SEED" --requests 5000
	check "5000 ok after the failover" json_true "$T/out" '.ok == 5000 and .errors == 0'
	test_end

	# A failover during a checked run: a manual failover
	# loses no acknowledged write, and every shard reports its window. The
	# shard stays the one of the slot map at the start.
	test_begin 'a failover during a checked run loses no acknowledged write'
	read -r -a PRIM <<<"$(primaries_of "$BASE" 6 | tr '\n' ' ')"
	FO_REPL=$(replicas_of "$BASE" 6 | head -n 1)
	FO_PRIM=$(rcli -p "$FO_REPL" ROLE | sed -n 3p)
	reset_nodes "${PRIM[@]}"
	"$HOTFIX" --state "$STATE" --json load --cluster "$SEED" --seconds 4 --rate 5000 --pipeline 2 \
		--check-writes >"$T/cfo.json" 2>"$T/cfo.err" &
	LOADPID=$!
	EXTRA_PIDS+=("$LOADPID")
	wait_for "checked load to start writing" 10 bash -c "[ \$(redis-cli -p $FO_PRIM DBSIZE) -gt 0 ]"
	check "CLUSTER FAILOVER on $FO_REPL accepted" [ "$(rcli -p "$FO_REPL" CLUSTER FAILOVER)" = OK ]
	wait_for "replica $FO_REPL to become primary" 10 bash -c "[ \"\$(redis-cli -p $FO_REPL ROLE | head -n 1)\" = master ]"
	wait "$LOADPID"
	rc=$?
	check "checked run through a failover exits 0 (got $rc)" [ "$rc" = 0 ]
	check "checked failover: acked_writes > 0, lost == 0, all verified" json_true "$T/cfo.json" \
		'.acked_writes > 0 and .lost == 0 and .unverifiable == 0 and .verified == .acked_writes
		 and (.errors_by_type | has("lost") | not)'
	check "checked failover: a window for every shard, consistent" shards_ok "$T/cfo.json"
	check "checked failover: 3 shards, the failed-over one named by its old primary, its window > 0" json_true "$T/cfo.json" \
		'(.shards | length) == 3 and [.shards[] | select(.primary == $old) | .window_ms > 0] == [true]' \
		--arg old "127.0.0.1:$FO_PRIM"
	check "checked failover: no hotfix:check key remains" no_check_keys $(primaries_of "$BASE" 6)
	sed 's/^/# /' "$T/cfo.err"
	test_end

	# Ctrl-C: stops early and still reports. The signal is sent once keys
	# show up, so the handler is in place by then.
	test_begin 'Ctrl-C stops the run early, and it still reports'
	read -r -a PRIM <<<"$(primaries_of "$BASE" 6 | tr '\n' ' ')"
	reset_nodes "${PRIM[@]}"
	"$HOTFIX" --state "$STATE" --json load --cluster "$SEED" --seconds 60 --rate 1000 --read-ratio 0 >"$T/int.json" 2>"$T/int.err" &
	LOADPID=$!
	EXTRA_PIDS+=("$LOADPID")
	wait_for "load to run" 10 bash -c "[ \$(redis-cli -p ${PRIM[0]} DBSIZE) -gt 0 ]"
	kill -INT "$LOADPID"
	check "SIGINT ends the run" wait_pid "$LOADPID" 15
	wait "$LOADPID"
	rc=$?
	check "interrupted run exits 0 (got $rc)" [ "$rc" = 0 ]
	check "interrupted run reports stopped" json_true "$T/int.json" '.stopped == true and .ok > 0'
	test_end
fi

# ---- standalone primary ----------------------------------------------------
if sandbox_up sa --standalone; then
	test_begin 'a standalone primary: exact counts, read-only, checked'
	SA_PRIM=$(primaries_of "$BASE" 2 | head -n 1)
	reset_nodes "$SA_PRIM"
	expect_exit 0 "standalone bounded run" \
		hf --json load --cluster "$SEED" --requests 5000 --read-ratio 0 --keys 100000 --pipeline 4
	check "standalone mode reported" json_true "$T/out" '.mode == "standalone"'
	check "standalone: exactly 5000 ok, 0 errors" json_true "$T/out" '.ok == 5000 and .errors == 0'
	check "standalone: SET calls = 5000" [ "$(sum_cmd set "$SA_PRIM")" = 5000 ]
	expect_exit 0 "standalone read-only run" hf --json load --cluster "$SEED" --requests 2000 --read-ratio 1
	check "read-only run sends only GET" json_true "$T/out" '.gets == 2000 and .sets == 0'
	check "standalone: one shard, the seed" json_true "$T/out" \
		'(.shards | length) == 1 and .shards[0].primary == $seed' --arg seed "127.0.0.1:$SA_PRIM"
	expect_exit 0 "standalone checked run" hf --json load --cluster "$SEED" --requests 3000 --check-writes --pipeline 4
	check "standalone checked run: all verified, none lost" json_true "$T/out" \
		'.acked_writes > 0 and .verified == .acked_writes and .lost == 0 and .unverifiable == 0'
	check "standalone checked run: no hotfix:check key remains" no_check_keys "$SA_PRIM"
	test_end

	# A primary that stops answering (SIGSTOP): its requests time out after
	# --timeout 300 and no success follows, so its window is at least that
	# long whatever the clock says. Ctrl-C comes once the load's requests are
	# seen waiting unread on the stopped server's sockets.
	test_begin 'a primary that stops answering: its window covers the timeout'
	SA_PID=$(cat "$T/sa/$SA_PRIM/redis.pid")
	reset_nodes "$SA_PRIM"   # so keys show up only once this run writes
	"$HOTFIX" --state "$STATE" --timeout 300 --json load --cluster "$SEED" --seconds 60 --rate 500 \
		>"$T/stall.json" 2>"$T/stall.err" &
	LOADPID=$!
	EXTRA_PIDS+=("$LOADPID")
	wait_for "load to run" 10 bash -c "[ \$(redis-cli -p $SA_PRIM DBSIZE) -gt 0 ]"
	kill -STOP "$SA_PID"
	wait_for "requests waiting on the stopped primary" 10 waiting_on "$LOADPID" "$SA_PRIM"
	kill -INT "$LOADPID"
	check "the run ends while the primary is stopped" wait_pid "$LOADPID" 30
	kill -CONT "$SA_PID"
	wait "$LOADPID"
	rc=$?
	check "stalled run exits 0 (got $rc)" [ "$rc" = 0 ]
	check "stalled run: timeouts counted on the shard" json_true "$T/stall.json" \
		'(.errors_by_type.timeout // 0) > 0 and .shards[0].errors == .errors'
	check "stalled run: the window covers at least the 300 ms timeout" json_true "$T/stall.json" \
		'.shards[0].window_ms >= 300 and .unavailable_ms == .shards[0].window_ms'
	test_end
fi

# ---- a password: every connection authenticates ---------------------------
if sandbox_up pw --shards 1 --replicas 0 --password 'l0ad:p@ss'; then
	test_begin 'a password: every connection authenticates, the password never printed'
	expect_exit 0 "run with the password from the URI" hf --json load --cluster "$SEED" --requests 1000 --pipeline 4
	check "authenticated run: 1000 ok" json_true "$T/out" '.ok == 1000 and .errors == 0'
	expect_exit 1 "a wrong password cannot run" hf load --cluster "redis://:wrong@127.0.0.1:$BASE" --requests 10
	check "the password is not printed" not grep -q 'l0ad' "$T/out" "$T/err"
	test_end
fi

finish
