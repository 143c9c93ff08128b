#!/usr/bin/env bash
# hotfix load: exact request counts checked against the servers' own
# counters, keys spread over every primary, the rate limit, a failover in the
# middle of a run, a standalone primary, Ctrl-C, and option errors; the
# write check (--check-writes) passing, failing when a primary loses its data,
# and passing through a failover; the per-shard unavailable window.
# Counts are asserted, never wall-clock timings.
. "$(dirname "$0")/lib.sh"

# jget FILE EXPR: evaluate a Python expression over the JSON document 'd'.
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# jtrue FILE EXPR: succeed when the expression is true.
jtrue() { [ "$(jget "$1" "$2" 2>/dev/null)" = True ]; }

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
	jtrue "$1" 'len(d["shards"]) == d["primaries"] and all(s["window_ms"] >= 0 and s["errors"] >= 0 and s["primary"] for s in d["shards"]) and d["unavailable_ms"] == max(s["window_ms"] for s in d["shards"]) and sum(s["errors"] for s in d["shards"]) == d["errors"]'
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
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
	return 0
}

# ---- option errors: exit 2, nothing sent -------------------------------
for bad in "--clients 0" "--pipeline 0" "--read-ratio 1.5" "--read-ratio x" "--rate -5" \
	"--rate abc" "--keys 0" "--seconds 0" "--value-size 99999999999" "--bogus 1" "extra" \
	"--check-writes --read-ratio 1" "--check-pause-ms 10" "--check-writes --check-pause-ms x"; do
	# shellcheck disable=SC2086
	expect_exit 2 "load $bad is refused" hf load --cluster redis://127.0.0.1:1 $bad
done
expect_exit 0 "load --help" hf load --help
check "help names the options" contains "$T/out" "--read-ratio"
check "help names --check-writes" contains "$T/out" "--check-writes"
check "help defines the unavailable window" contains "$T/out" "unavailable window"

# ---- nothing to reach: exit 1 -----------------------------------------
NOPORT=$(free_base 1)
expect_exit 1 "load against a closed port" hf load --cluster "redis://127.0.0.1:$NOPORT" --requests 10
check "says it cannot reach the cluster" contains "$T/err" "cannot reach"

# ---- 3x1 cluster --------------------------------------------------------
if sandbox_up c3; then
	read -r -a PRIM <<<"$(primaries_of "$BASE" 6 | tr '\n' ' ')"
	check "three primaries found" [ "${#PRIM[@]}" = 3 ]
	reset_nodes "${PRIM[@]}"

	# A bounded write-only run over a key space larger than the run: every
	# request is one SET the servers count, and keys land everywhere.
	expect_exit 0 "bounded run of 20000 requests" \
		hf --json load --cluster "$SEED" --requests 20000 --read-ratio 0 --keys 1000000
	cp "$T/out" "$T/bounded.json"
	check "--json parses" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/bounded.json"
	check "report has every field" jtrue "$T/bounded.json" \
		'all(k in d for k in ("requests","ok","errors","errors_by_type","redirects","throughput","seconds","latency_ms")) and all(k in d["latency_ms"] for k in ("p50","p90","p99","p99.9","max"))'
	check "exactly 20000 ok" [ "$(jget "$T/bounded.json" 'd["ok"]')" = 20000 ]
	check "0 errors" [ "$(jget "$T/bounded.json" 'd["errors"]')" = 0 ]
	check "no MOVED: key slots match the servers' hashing" \
		[ "$(jget "$T/bounded.json" 'd["redirects"]["MOVED"]')" = 0 ]
	check "cluster mode with 3 primaries" jtrue "$T/bounded.json" 'd["mode"]=="cluster" and d["primaries"]==3'
	check "percentiles are ordered" jtrue "$T/bounded.json" \
		'0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p90"] <= d["latency_ms"]["p99"] <= d["latency_ms"]["p99.9"] <= d["latency_ms"]["max"]'
	check "SET calls summed over the primaries = 20000" [ "$(sum_cmd set "${PRIM[@]}")" = 20000 ]
	check "keys on every primary" all_positive "${PRIM[@]}"
	check "only hotfix:load:{N} keys written" only_load_keys "${PRIM[@]}"
	check "bounded run: one shard per primary, windows consistent" shards_ok "$T/bounded.json"
	check "bounded run: no write-check fields without --check-writes" jtrue "$T/bounded.json" \
		'not any(k in d for k in ("acked_writes","verified","lost","unverifiable")) and d["options"]["check_writes"] is False'

	# The text report.
	expect_exit 0 "text report of a mixed run" hf load --cluster "$SEED" --requests 3000 --pipeline 8
	check "text report counts the requests" contains "$T/out" "3000: 3000 ok"
	check "text report shows p99.9" contains "$T/out" "p99.9"
	check "text report shows the unavailable window" contains "$T/out" "^unavailable .* ms at most over 3 shards"

	# The rate limit, in request counts: 2000/s for 2 s.
	expect_exit 0 "rate-limited run" hf --json load --cluster "$SEED" --rate 2000 --seconds 2
	cp "$T/out" "$T/rate.json"
	n=$(jget "$T/rate.json" 'd["requests"]')
	check "rate run sent requests ($n)" [ "$n" -gt 0 ]
	check "rate run stays within 2000*2*1.1 + 50 requests ($n)" [ "$n" -le $((2000 * 2 * 11 / 10 + 50)) ]
	check "rate run had no errors" [ "$(jget "$T/rate.json" 'd["errors"]')" = 0 ]

	# --check-writes: every SET a new key, every acknowledged one read back
	# at the end, then everything deleted. The servers' counters agree.
	reset_nodes "${PRIM[@]}"
	expect_exit 0 "checked run of 20000 requests" \
		hf --json load --cluster "$SEED" --requests 20000 --check-writes --pipeline 4
	cp "$T/out" "$T/check.json"
	check "check: acked_writes > 0, all verified, none lost or unverifiable" jtrue "$T/check.json" \
		'd["acked_writes"] > 0 and d["verified"] == d["acked_writes"] and d["lost"] == 0 and d["unverifiable"] == 0'
	check "check: 20000 ok, every SET acknowledged" jtrue "$T/check.json" \
		'd["ok"] == 20000 and d["errors"] == 0 and d["acked_writes"] == d["sets"] and d["options"]["check_writes"] is True'
	acked=$(jget "$T/check.json" 'd["acked_writes"]')
	gets=$(jget "$T/check.json" 'd["gets"]')
	check "check: SET calls on the servers = acked_writes ($acked)" [ "$(sum_cmd set "${PRIM[@]}")" = "$acked" ]
	check "check: GET calls = traffic GETs + one read-back per acked write" \
		[ "$(sum_cmd get "${PRIM[@]}")" = $((gets + acked)) ]
	check "check: one DEL per key written" [ "$(sum_cmd del "${PRIM[@]}")" = "$acked" ]
	check "check: keys were written on every primary" set_on_each "${PRIM[@]}"
	check "check: no hotfix:check key remains" no_check_keys "${PRIM[@]}"
	check "check: shards consistent" shards_ok "$T/check.json"
	expect_exit 0 "checked run, text report" hf load --cluster "$SEED" --requests 2000 --check-writes
	check "text report counts the checked writes" contains "$T/out" "acknowledged: .* verified, 0 lost, 0 unverifiable"

	# The check can fail: the run's writes are all acknowledged, then one
	# primary loses its data before the read-back. --check-pause-ms holds the
	# read-back until Ctrl-C, which comes after the FLUSHALL; every key that
	# primary held must come back as lost, and no other.
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
	check "lost writes: 3000 acknowledged, $flushed lost, the rest verified" jtrue "$T/flush.json" \
		"d['acked_writes'] == 3000 and d['lost'] == $flushed and $flushed > 0 and d['verified'] == 3000 - $flushed and d['unverifiable'] == 0"
	check "lost writes: still no hotfix:check key remains" no_check_keys "${PRIM[@]}"
	sed 's/^/    /' "$T/flush.err"

	# A failover while load runs: the run finishes, mostly ok, and what went
	# wrong is counted by type (MOVED followed, errors by their first word).
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
	check "failover report parses" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/fo.json"
	check "failover run: at least 90% ok" jtrue "$T/fo.json" 'd["requests"] > 0 and d["ok"] >= 0.9 * d["requests"]'
	check "failover run: redirects or errors reported by type" jtrue "$T/fo.json" \
		'd["redirects"]["MOVED"] + d["redirects"]["ASK"] + d["errors"] > 0 and sum(d["errors_by_type"].values()) == d["errors"]'
	check "failover run: every request accounted for" jtrue "$T/fo.json" 'd["ok"] + d["errors"] == d["requests"]'
	sed 's/^/    /' "$T/fo.err"

	check "failover run: shards consistent" shards_ok "$T/fo.json"

	# After the failover, a bounded run is exact again.
	expect_exit 0 "bounded run after the failover" hf --json load --cluster "$SEED" --requests 5000
	check "5000 ok after the failover" jtrue "$T/out" 'd["ok"] == 5000 and d["errors"] == 0'

	# A failover during a checked run: a manual failover
	# loses no acknowledged write, and every shard reports its window. The
	# shard stays the one of the slot map at the start.
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
	check "checked failover: acked_writes > 0, lost == 0, all verified" jtrue "$T/cfo.json" \
		'd["acked_writes"] > 0 and d["lost"] == 0 and d["unverifiable"] == 0 and d["verified"] == d["acked_writes"] and "lost" not in d["errors_by_type"]'
	check "checked failover: a window for every shard, consistent" shards_ok "$T/cfo.json"
	check "checked failover: 3 shards, the failed-over one named by its old primary, its window > 0" jtrue "$T/cfo.json" \
		"len(d['shards']) == 3 and [s['window_ms'] > 0 for s in d['shards'] if s['primary'] == '127.0.0.1:$FO_PRIM'] == [True]"
	check "checked failover: no hotfix:check key remains" no_check_keys $(primaries_of "$BASE" 6)
	sed 's/^/    /' "$T/cfo.err"

	# Ctrl-C: stops early and still reports. The signal is sent once keys
	# show up, so the handler is in place by then.
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
	check "interrupted run reports stopped" jtrue "$T/int.json" 'd["stopped"] is True and d["ok"] > 0'
fi

# ---- standalone primary ----------------------------------------------------
if sandbox_up sa --standalone; then
	SA_PRIM=$(primaries_of "$BASE" 2 | head -n 1)
	reset_nodes "$SA_PRIM"
	expect_exit 0 "standalone bounded run" \
		hf --json load --cluster "$SEED" --requests 5000 --read-ratio 0 --keys 100000 --pipeline 4
	check "standalone mode reported" jtrue "$T/out" 'd["mode"] == "standalone"'
	check "standalone: exactly 5000 ok, 0 errors" jtrue "$T/out" 'd["ok"] == 5000 and d["errors"] == 0'
	check "standalone: SET calls = 5000" [ "$(sum_cmd set "$SA_PRIM")" = 5000 ]
	expect_exit 0 "standalone read-only run" hf --json load --cluster "$SEED" --requests 2000 --read-ratio 1
	check "read-only run sends only GET" jtrue "$T/out" 'd["gets"] == 2000 and d["sets"] == 0'
	check "standalone: one shard, the seed" jtrue "$T/out" \
		"len(d['shards']) == 1 and d['shards'][0]['primary'] == '127.0.0.1:$SA_PRIM'"
	expect_exit 0 "standalone checked run" hf --json load --cluster "$SEED" --requests 3000 --check-writes --pipeline 4
	check "standalone checked run: all verified, none lost" jtrue "$T/out" \
		'd["acked_writes"] > 0 and d["verified"] == d["acked_writes"] and d["lost"] == 0 and d["unverifiable"] == 0'
	check "standalone checked run: no hotfix:check key remains" no_check_keys "$SA_PRIM"

	# A primary that stops answering (SIGSTOP): its requests time out after
	# --timeout 300 and no success follows, so its window is at least that
	# long whatever the clock says. Ctrl-C comes once the load's requests are
	# seen waiting unread on the stopped server's sockets.
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
	check "stalled run: timeouts counted on the shard" jtrue "$T/stall.json" \
		'd["errors_by_type"].get("timeout", 0) > 0 and d["shards"][0]["errors"] == d["errors"]'
	check "stalled run: the window covers at least the 300 ms timeout" jtrue "$T/stall.json" \
		'd["shards"][0]["window_ms"] >= 300 and d["unavailable_ms"] == d["shards"][0]["window_ms"]'
fi

# ---- a password: every connection authenticates ---------------------------
if sandbox_up pw --shards 1 --replicas 0 --password 'l0ad:p@ss'; then
	expect_exit 0 "run with the password from the URI" hf --json load --cluster "$SEED" --requests 1000 --pipeline 4
	check "authenticated run: 1000 ok" jtrue "$T/out" 'd["ok"] == 1000 and d["errors"] == 0'
	expect_exit 1 "a wrong password cannot run" hf load --cluster "redis://:wrong@127.0.0.1:$BASE" --requests 10
	check "the password is not printed" bash -c "! grep -q 'l0ad' '$T/out' '$T/err'"
fi

finish
