#!/usr/bin/env bash
# 'hotfix sandbox up|status|down' against real redis-server processes:
# cluster 3x1, standalone 1+2, a password, port conflicts, a SIGSTOPped
# node, and a redis-server of our own that 'down' must leave alone.
#
# Needs HOTFIX (the binary), redis-server, redis-cli and python3.
set -u

HOTFIX=${HOTFIX:?set HOTFIX to the hotfix binary}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hf-sandbox.XXXXXX")
STATE=$TMP/state
PASSED=0
FAILED=0
FOREIGN_PID=

hf() { "$HOTFIX" --state "$STATE" "$@"; }

cleanup() {
	local d pidfile pid

	for d in "$STATE/sandbox" "$TMP"/other "$TMP"/standalone "$TMP"/secret; do
		[ -f "$d/sandbox.json" ] && "$HOTFIX" --state "$STATE" sandbox down --dir "$d" >/dev/null 2>&1
	done
	# Last resort, should 'down' itself be broken: our pids, by pidfile.
	for pidfile in "$TMP"/*/*/redis.pid "$TMP"/*/*/*/redis.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null && kill -CONT "$pid" && kill -KILL "$pid"
	done
	if [ -n "$FOREIGN_PID" ]; then
		kill "$FOREIGN_PID" 2>/dev/null
		wait "$FOREIGN_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
not() { ! "$@"; }

# A base port from which 'count' ports, and with 'bus' set their cluster
# bus ports (+10000), can all be bound on 127.0.0.1; the scan starts at a
# random offset so parallel runs rarely collide. With bus ports the range
# stays below 32768, where Linux's ephemeral ports (and the TIME_WAIT
# sockets of every closed client connection) begin.
free_base() { # free_base COUNT [bus]
	python3 - "$1" "${2:-}" <<'EOF'
import random, socket, sys
count, bus = int(sys.argv[1]), sys.argv[2] == "bus"
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
low, high = 20000, (32768 - 10000 - count) if bus else 29000
start = random.randrange(low, high)
for base in list(range(start, high)) + list(range(low, start)):
    ports = list(range(base, base + count))
    if bus:
        ports += [p + 10000 for p in ports]
    if all(free(p) for p in ports):
        print(base)
        sys.exit(0)
sys.exit(1)
EOF
}

# 'kill -0' is not enough: where init does not reap orphans promptly, a
# daemon that exited lingers as a zombie for a while.
pid_gone() {
	local state

	kill -0 "$1" 2>/dev/null || return 0
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$state" ] || [ "$state" = Z ]
}

all_gone() {
	local pid

	[ $# -gt 0 ] || { echo "  no pids recorded" >&2; return 1; }
	for pid in "$@"; do
		pid_gone "$pid" || return 1
	done
}

# The pids recorded in a sandbox's state file, into the array PIDS.
pids_of() {
	PIDS=()
	read -ra PIDS <<<"$(python3 -c 'import json,sys; print(" ".join(str(n["pid"]) for n in json.load(open(sys.argv[1]))["nodes"]))' "$1/sandbox.json" 2>/dev/null)"
}

field() { # field PORT SECTION NAME [PASSWORD]
	redis-cli -h 127.0.0.1 -p "$1" ${4:+-a "$4" --no-auth-warning} info "$2" 2>/dev/null | tr -d '\r' |
		sed -n "s/^$3://p"
}

# Every replica linked and at its primary's offset; retried briefly, as the
# primary's periodic PING to its replicas can land between the two reads.
replicas_caught_up() { # replicas_caught_up PRIMARY_PORT REPLICA_PORT... [via PASSWORD=...]
	local primary=$1 port tries
	shift
	for port in "$@"; do
		for tries in 1 2 3 4 5 6 7 8 9 10; do
			[ "$(field "$port" replication master_link_status "${PW:-}")" = up ] &&
				[ "$(field "$port" replication master_port "${PW:-}")" = "$primary" ] &&
				[ "$(field "$port" replication slave_repl_offset "${PW:-}")" = \
				  "$(field "$primary" replication master_repl_offset "${PW:-}")" ] && break
			[ $tries = 10 ] && { echo "  replica $port is not caught up with $primary" >&2; return 1; }
			sleep 0.2
		done
	done
}

command -v redis-server >/dev/null || { echo "redis-server not found"; exit 1; }

# ---- cluster 3 x 1 --------------------------------------------------------
BASE=$(free_base 6 bus) || { echo "no free ports"; exit 1; }
echo "# cluster 3x1 on ports $BASE-$((BASE + 5)), state in $STATE"
T0=$(date +%s%N)
OUT=$(hf sandbox up --base-port "$BASE" 2>"$TMP/err")
RC=$?
echo "  (up took $(( ($(date +%s%N) - T0) / 1000000 )) ms)"
check "up 3x1 exits 0" [ $RC -eq 0 ]
[ $RC -eq 0 ] || sed 's/^/  /' "$TMP/err"
check "up prints the seed URI on its last line" \
	[ "$(printf '%s\n' "$OUT" | tail -n 1)" = "redis://127.0.0.1:$BASE" ]
check "state file records the sandbox" [ -f "$STATE/sandbox/sandbox.json" ]

STATE_OK=1
for p in $(seq "$BASE" $((BASE + 5))); do
	[ "$(redis-cli -p "$p" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')" = ok ] || STATE_OK=0
done
check "every node reports cluster_state:ok" [ $STATE_OK -eq 1 ]
NODES=$(redis-cli -p "$BASE" cluster nodes)
check "CLUSTER NODES shows 3 masters" [ "$(grep -c master <<<"$NODES")" -eq 3 ]
check "CLUSTER NODES shows 3 slaves" [ "$(grep -c slave <<<"$NODES")" -eq 3 ]
check "slots 0-16383 are all assigned" \
	[ "$(redis-cli -p "$BASE" cluster info | tr -d '\r' | sed -n 's/^cluster_slots_assigned://p')" = 16384 ]
check "replica of shard 0 is caught up" replicas_caught_up "$BASE" $((BASE + 3))
check "replica of shard 1 is caught up" replicas_caught_up $((BASE + 1)) $((BASE + 4))
check "replica of shard 2 is caught up" replicas_caught_up $((BASE + 2)) $((BASE + 5))
check "node config has a config file for CONFIG REWRITE" \
	[ "$(redis-cli -p "$BASE" config rewrite | tr -d '\r')" = OK ]

STATUS=$(hf sandbox status 2>&1)
check "status exits 0 when every node is up" [ $? -eq 0 ]
check "status lists 6 nodes up" [ "$(grep -c ' up ' <<<"$STATUS")" -eq 6 ]
JSON=$(hf --json sandbox status)
check "status --json lists 6 nodes with roles" \
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["up"] and [n["role"] for n in d["nodes"]].count("primary")==3 and len(d["nodes"])==6' "$JSON"

hf sandbox up --base-port $((BASE + 2)) --dir "$TMP/other" >/dev/null 2>"$TMP/err"
RC=$?
check "up on an overlapping port fails" [ $RC -ne 0 ]
check "  ... saying the port is in use" grep -q "in use" "$TMP/err"
check "  ... and records nothing" [ ! -e "$TMP/other/sandbox.json" ]
check "  ... and starts nothing" [ -z "$(redis-cli -p $((BASE + 6)) ping 2>/dev/null)" ]
hf sandbox up --base-port "$BASE" >/dev/null 2>"$TMP/err"
check "up where a sandbox is up fails" [ $? -ne 0 ]
check "  ... saying it is already up" grep -q "already up" "$TMP/err"

# A redis-server that is not part of the sandbox must survive 'down'.
FPORT=$(free_base 1) || { echo "no free port"; exit 1; }
redis-server --port "$FPORT" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$TMP" --logfile "$TMP/foreign.log" >/dev/null 2>&1 &
FOREIGN_PID=$!
for _ in $(seq 50); do redis-cli -p "$FPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
check "a foreign redis-server runs on port $FPORT" [ "$(redis-cli -p "$FPORT" ping)" = PONG ]

pids_of "$STATE/sandbox"
STOPPED=$(cat "$STATE/sandbox/$((BASE + 4))/redis.pid")
[ -n "$STOPPED" ] && kill -STOP "$STOPPED"
hf sandbox status >"$TMP/out" 2>"$TMP/err"
check "status exits 1 with a node SIGSTOPped" [ $? -eq 1 ]
check "  ... naming the node" grep -q "$((BASE + 4)) (not answering)" "$TMP/err"

OUT=$(hf sandbox down 2>&1)
check "down exits 0" [ $? -eq 0 ]
echo "  $OUT"
check "every sandbox pid is gone after down (the SIGSTOPped one too)" all_gone "${PIDS[@]}"
check "the sandbox directory is removed" [ ! -e "$STATE/sandbox/sandbox.json" ]
check "the foreign redis-server is still alive" kill -0 "$FOREIGN_PID"
check "  ... and answering" [ "$(redis-cli -p "$FPORT" ping)" = PONG ]
kill "$FOREIGN_PID"
wait "$FOREIGN_PID" 2>/dev/null
FOREIGN_PID=

OUT=$(hf sandbox down 2>&1)
check "down with no sandbox exits 0" [ $? -eq 0 ]
check "  ... and says there is none" grep -q "no sandbox" <<<"$OUT"
hf sandbox status >/dev/null 2>&1
check "status with no sandbox exits 1" [ $? -eq 1 ]

# The ports just released hold sockets in TIME_WAIT; they must not count.
OUT=$(hf -q sandbox up --base-port "$BASE" 2>"$TMP/err")
check "up again on the same ports right after down" [ $? -eq 0 ]
[ -s "$TMP/err" ] && sed 's/^/  /' "$TMP/err"
pids_of "$STATE/sandbox"
hf sandbox down >/dev/null 2>&1
check "  ... and down again" all_gone "${PIDS[@]}"

# ---- standalone 1 + 2 -----------------------------------------------------
SBASE=$(free_base 3) || { echo "no free ports"; exit 1; }
echo "# standalone 1+2 on ports $SBASE-$((SBASE + 2))"
OUT=$(hf sandbox up --standalone --replicas 2 --base-port "$SBASE" --dir "$TMP/standalone" 2>"$TMP/err")
RC=$?
check "up --standalone exits 0" [ $RC -eq 0 ]
[ $RC -eq 0 ] || sed 's/^/  /' "$TMP/err"
check "the seed is the primary" [ "$(printf '%s\n' "$OUT" | tail -n 1)" = "redis://127.0.0.1:$SBASE" ]
check "the primary is a master" [ "$(field "$SBASE" replication role)" = master ]
check "  ... with 2 replicas" [ "$(field "$SBASE" replication connected_slaves)" = 2 ]
check "cluster mode is off" [ "$(field "$SBASE" cluster cluster_enabled)" = 0 ]
check "both replicas are caught up" replicas_caught_up "$SBASE" $((SBASE + 1)) $((SBASE + 2))
pids_of "$TMP/standalone"
hf sandbox down --dir "$TMP/standalone" >/dev/null 2>&1
check "standalone down stops every pid" all_gone "${PIDS[@]}"

# ---- password -------------------------------------------------------------
PBASE=$(free_base 2 bus) || { echo "no free ports"; exit 1; }
echo "# cluster 2x0 with a password on ports $PBASE-$((PBASE + 1))"
OUT=$(hf sandbox up --shards 2 --replicas 0 --password secret --base-port "$PBASE" --dir "$TMP/secret" 2>"$TMP/err")
RC=$?
check "up --password exits 0" [ $RC -eq 0 ]
[ $RC -eq 0 ] || sed 's/^/  /' "$TMP/err"
check "the seed URI carries the password" \
	[ "$(printf '%s\n' "$OUT" | tail -n 1)" = "redis://:secret@127.0.0.1:$PBASE" ]
check "redis-cli without the password gets NOAUTH" \
	grep -q NOAUTH <<<"$(redis-cli -p "$PBASE" ping 2>&1)"
check "redis-cli with the password gets PONG" \
	[ "$(redis-cli -p "$PBASE" -a secret --no-auth-warning ping)" = PONG ]
check "the state file does not hold the password" not grep -q secret "$TMP/secret/sandbox.json"
hf sandbox status --dir "$TMP/secret" >/dev/null 2>&1
check "status works on a password sandbox" [ $? -eq 0 ]
pids_of "$TMP/secret"
hf sandbox down --dir "$TMP/secret" >/dev/null 2>&1
check "password sandbox down stops every pid" all_gone "${PIDS[@]}"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
