#!/usr/bin/env bash
# hotfix load: exact request counts checked against the servers' own
# counters, keys spread over every primary, the rate limit, a failover in the
# middle of a run, a standalone primary, Ctrl-C, and option errors.
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
wait_pid() { # wait_pid PID SECONDS: the process ended (a liveness bound, not a timing check)
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
	return 0
}

# ---- option errors: exit 2, nothing sent -------------------------------
for bad in "--clients 0" "--pipeline 0" "--read-ratio 1.5" "--read-ratio x" "--rate -5" \
	"--rate abc" "--keys 0" "--seconds 0" "--value-size 99999999999" "--bogus 1" "extra"; do
	# shellcheck disable=SC2086
	expect_exit 2 "load $bad is refused" hf load --cluster redis://127.0.0.1:1 $bad
done
expect_exit 0 "load --help" hf load --help
check "help names the options" contains "$T/out" "--read-ratio"

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

	# The text report.
	expect_exit 0 "text report of a mixed run" hf load --cluster "$SEED" --requests 3000 --pipeline 8
	check "text report counts the requests" contains "$T/out" "3000: 3000 ok"
	check "text report shows p99.9" contains "$T/out" "p99.9"

	# The rate limit, in request counts: 2000/s for 2 s.
	expect_exit 0 "rate-limited run" hf --json load --cluster "$SEED" --rate 2000 --seconds 2
	cp "$T/out" "$T/rate.json"
	n=$(jget "$T/rate.json" 'd["requests"]')
	check "rate run sent requests ($n)" [ "$n" -gt 0 ]
	check "rate run stays within 2000*2*1.1 + 50 requests ($n)" [ "$n" -le $((2000 * 2 * 11 / 10 + 50)) ]
	check "rate run had no errors" [ "$(jget "$T/rate.json" 'd["errors"]')" = 0 ]

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

	# After the failover, a bounded run is exact again.
	expect_exit 0 "bounded run after the failover" hf --json load --cluster "$SEED" --requests 5000
	check "5000 ok after the failover" jtrue "$T/out" 'd["ok"] == 5000 and d["errors"] == 0'

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
fi

# ---- a password: every connection authenticates ---------------------------
if sandbox_up pw --shards 1 --replicas 0 --password 'l0ad:p@ss'; then
	expect_exit 0 "run with the password from the URI" hf --json load --cluster "$SEED" --requests 1000 --pipeline 4
	check "authenticated run: 1000 ok" jtrue "$T/out" 'd["ok"] == 1000 and d["errors"] == 0'
	expect_exit 1 "a wrong password cannot run" hf load --cluster "redis://:wrong@127.0.0.1:$BASE" --requests 10
	check "the password is not printed" bash -c "! grep -q 'l0ad' '$T/out' '$T/err'"
fi

finish
