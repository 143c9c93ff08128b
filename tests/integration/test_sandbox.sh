#!/usr/bin/env bash
# 'hotfix sandbox up|status|down' against real redis-server processes:
# cluster 3x1, standalone 1+2, a password, port conflicts, a SIGSTOPped
# node, a redis-server of our own that 'down' must leave alone, and a
# 40x1 sandbox (80 nodes) with its progress line and open-file limit.
#
# Needs HOTFIX (the binary), redis-server, redis-cli and jq.
. "$(dirname "$0")/lib.sh"

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

	[ $# -gt 0 ] || { echo "no pids recorded"; return 1; }
	for pid in "$@"; do
		pid_gone "$pid" || { echo "pid $pid is still there"; return 1; }
	done
}

# The pids recorded in a sandbox's state file, into the array PIDS.
pids_of() { mapfile -t PIDS < <(json_get "$1/sandbox.json" '.nodes[].pid' 2>/dev/null); }

field() { # field PORT SECTION NAME [PASSWORD]
	redis-cli -h 127.0.0.1 -p "$1" ${4:+-a "$4" --no-auth-warning} info "$2" 2>/dev/null | tr -d '\r' |
		sed -n "s/^$3://p"
}

# caught_up PRIMARY_PORT REPLICA_PORT: the replica is linked to the primary
# and at its offset.
caught_up() {
	[ "$(field "$2" replication master_link_status)" = up ] &&
		[ "$(field "$2" replication master_port)" = "$1" ] &&
		[ "$(field "$2" replication slave_repl_offset)" = "$(field "$1" replication master_repl_offset)" ]
}
# replicas_caught_up PRIMARY_PORT REPLICA_PORT...: every replica caught up;
# polled, as the primary's periodic PING to its replicas can land between
# the two reads of the offsets.
replicas_caught_up() {
	local primary=$1 port
	shift
	for port in "$@"; do
		eventually 10 caught_up "$primary" "$port" ||
			{ echo "replica $port is not caught up with $primary"; return 1; }
	done
}

command -v redis-server >/dev/null || { bad "redis-server not found"; finish; }

# ---- cluster 3 x 1 --------------------------------------------------------
BASE=$(free_base 6) || { bad "no free ports"; finish; }
echo "# cluster 3x1 on ports $BASE-$((BASE + 5)), state in $STATE"
test_begin 'up 3x1: every node ok, every slot assigned, every replica caught up'
SANDBOXES+=("$STATE/sandbox")
T0=$(date +%s%N)
expect_exit 0 "up 3x1" hf sandbox up --base-port "$BASE"
echo "# up took $(( ($(date +%s%N) - T0) / 1000000 )) ms"
check "up prints the seed URI on its last line" \
	[ "$(tail -n 1 "$T/out")" = "redis://127.0.0.1:$BASE" ]
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
test_end

test_begin 'status lists every node, with --json too'
expect_exit 0 "status exits 0 when every node is up" hf sandbox status
check "status lists 6 nodes up" [ "$(grep -c ' up ' "$T/out")" -eq 6 ]
expect_exit 0 "status --json" hf --json sandbox status
check "status --json lists 6 nodes with roles" json_true "$T/out" \
	'.up and ([.nodes[] | select(.role == "primary")] | length) == 3 and (.nodes | length) == 6'
test_end

test_begin 'up refuses overlapping ports, or a second sandbox, and starts nothing'
SANDBOXES+=("$T/other")
expect_exit 2 "up on an overlapping port fails" hf sandbox up --base-port $((BASE + 2)) --dir "$T/other"
check "  ... saying the port is in use" grep -q "in use" "$T/err"
check "  ... and records nothing" [ ! -e "$T/other/sandbox.json" ]
check "  ... and starts nothing" [ -z "$(redis-cli -p $((BASE + 6)) ping 2>/dev/null)" ]
expect_exit 2 "up where a sandbox is up fails" hf sandbox up --base-port "$BASE"
check "  ... saying it is already up" grep -q "already up" "$T/err"
test_end

# A redis-server that is not part of the sandbox must survive 'down'.
test_begin 'down stops every pid, a SIGSTOPped one too, and leaves a foreign redis-server alone'
FPORT=$(free_base 1) || { bad "no free port"; finish; }
redis-server --port "$FPORT" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$T" --logfile "$T/foreign.log" >/dev/null 2>&1 &
FOREIGN_PID=$!
EXTRA_PIDS+=("$FOREIGN_PID")
wait_for "the foreign redis-server" 10 redis-cli -p "$FPORT" ping
check "a foreign redis-server runs on port $FPORT" [ "$(redis-cli -p "$FPORT" ping)" = PONG ]

pids_of "$STATE/sandbox"
STOPPED=$(cat "$STATE/sandbox/$((BASE + 4))/redis.pid")
[ -n "$STOPPED" ] && kill -STOP "$STOPPED"
expect_exit 1 "status exits 1 with a node SIGSTOPped" hf sandbox status
check "  ... naming the node" grep -q "$((BASE + 4)) (not answering)" "$T/err"

expect_exit 0 "down exits 0" hf sandbox down
sed 's/^/# /' "$T/out" "$T/err"
check "every sandbox pid is gone after down (the SIGSTOPped one too)" all_gone "${PIDS[@]}"
check "the sandbox directory is removed" [ ! -e "$STATE/sandbox/sandbox.json" ]
check "the foreign redis-server is still alive" kill -0 "$FOREIGN_PID"
check "  ... and answering" [ "$(redis-cli -p "$FPORT" ping)" = PONG ]
kill "$FOREIGN_PID"
wait "$FOREIGN_PID" 2>/dev/null
test_end

test_begin 'down and status with no sandbox'
expect_exit 0 "down with no sandbox exits 0" hf sandbox down
check "  ... and says there is none" grep -q "no sandbox" "$T/out" "$T/err"
expect_exit 1 "status with no sandbox exits 1" hf sandbox status
test_end

# The ports just released hold sockets in TIME_WAIT; they must not count.
test_begin 'up again on the same ports right after down'
expect_exit 0 "up again on the same ports right after down" hf -q sandbox up --base-port "$BASE"
sed 's/^/# /' "$T/err"
pids_of "$STATE/sandbox"
hf sandbox down >/dev/null 2>&1
check "  ... and down again" all_gone "${PIDS[@]}"
test_end

# ---- standalone 1 + 2 -----------------------------------------------------
SBASE=$(free_base 3) || { bad "no free ports"; finish; }
echo "# standalone 1+2 on ports $SBASE-$((SBASE + 2))"
test_begin 'standalone 1+2: a primary and two caught-up replicas, no cluster mode'
SANDBOXES+=("$T/standalone")
expect_exit 0 "up --standalone" hf sandbox up --standalone --replicas 2 --base-port "$SBASE" --dir "$T/standalone"
check "the seed is the primary" [ "$(tail -n 1 "$T/out")" = "redis://127.0.0.1:$SBASE" ]
check "the primary is a master" [ "$(field "$SBASE" replication role)" = master ]
check "  ... with 2 replicas" [ "$(field "$SBASE" replication connected_slaves)" = 2 ]
check "cluster mode is off" [ "$(field "$SBASE" cluster cluster_enabled)" = 0 ]
check "both replicas are caught up" replicas_caught_up "$SBASE" $((SBASE + 1)) $((SBASE + 2))
pids_of "$T/standalone"
hf sandbox down --dir "$T/standalone" >/dev/null 2>&1
check "standalone down stops every pid" all_gone "${PIDS[@]}"
test_end

# ---- password -------------------------------------------------------------
PBASE=$(free_base 2) || { bad "no free ports"; finish; }
echo "# cluster 2x0 with a password on ports $PBASE-$((PBASE + 1))"
test_begin 'a password: required by every node, kept out of the state file'
SANDBOXES+=("$T/secret")
expect_exit 0 "up --password" \
	hf sandbox up --shards 2 --replicas 0 --password secret --base-port "$PBASE" --dir "$T/secret"
check "the seed URI carries the password" \
	[ "$(tail -n 1 "$T/out")" = "redis://:secret@127.0.0.1:$PBASE" ]
check "redis-cli without the password gets NOAUTH" \
	grep -q NOAUTH <<<"$(redis-cli -p "$PBASE" ping 2>&1)"
check "redis-cli with the password gets PONG" \
	[ "$(redis-cli -p "$PBASE" -a secret --no-auth-warning ping)" = PONG ]
check "the state file does not hold the password" lacks "$T/secret/sandbox.json" secret
expect_exit 0 "status works on a password sandbox" hf sandbox status --dir "$T/secret"
pids_of "$T/secret"
hf sandbox down --dir "$T/secret" >/dev/null 2>&1
check "password sandbox down stops every pid" all_gone "${PIDS[@]}"
test_end

# ---- 40 x 1: a bigger sandbox ----------------------------------------------
# Not the 300 nodes of bench/scale.sh (too slow for the suite), but big
# enough to be several looks in the making: its progress line, the open
# files it needs, and 'down' of all of it.
LBASE=$(free_base 80) || { bad "no free ports"; finish; }
echo "# cluster 40x1 on ports $LBASE-$((LBASE + 79))"
test_begin '40x1: refused with a clear error when the open-file limit is too low'
SANDBOXES+=("$T/large")
expect_exit 2 "up 40x1 with 'ulimit -n 100'" \
	bash -c 'ulimit -n 100 && exec "$@"' - "$HOTFIX" --state "$STATE" sandbox up --shards 40 \
	--replicas 1 --base-port "$LBASE" --dir "$T/large"
check "  ... saying how many it needs and what the limit is" \
	grep -q "a sandbox of 80 nodes needs [0-9]* open files per process, the limit is 100" "$T/err"
check "  ... and starts nothing" [ -z "$(redis-cli -p "$LBASE" ping 2>/dev/null)" ]
test_end

test_begin '40x1: up with a progress line on stderr, every node in the cluster, then down'
# A soft limit below what 80 nodes need: 'up' raises it (the hard one allows).
expect_exit 0 "up 40x1 (-v: the progress line from the start)" \
	bash -c 'ulimit -S -n 200 && exec "$@"' - "$HOTFIX" --state "$STATE" -v sandbox up \
	--shards 40 --replicas 1 --base-port "$LBASE" --dir "$T/large"
check "the progress line counts the nodes that answer" \
	grep -q '^sandbox: [0-9]*/80 nodes answer ([0-9]* s of at most 60 s)$' "$T/err"
check "  ... the replicas that know their primary" \
	grep -q '^sandbox: [0-9]*/40 replicas know their primary' "$T/err"
check "  ... and the nodes that agree on the topology, last all of them" \
	grep -q '^sandbox: 80/80 nodes agree on the topology, 40/40 replicas in sync' "$T/err"
check "no terminal control characters off a terminal" not grep -q $'\r\|\033' "$T/err"
check "up prints the seed URI on its last line" \
	[ "$(tail -n 1 "$T/out")" = "redis://127.0.0.1:$LBASE" ]
check "a node knows all 80" \
	[ "$(redis-cli -p $((LBASE + 79)) cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" = 80 ]
check "  ... and 40 shards with slots" \
	[ "$(redis-cli -p $((LBASE + 79)) cluster info | tr -d '\r' | sed -n 's/^cluster_size://p')" = 40 ]
expect_exit 0 "status: 80 nodes up" hf sandbox status --dir "$T/large"
check "  ... listed" [ "$(grep -c ' up ' "$T/out")" -eq 80 ]
# Ready means hotfix's own topology consensus agrees at once: no node
# still listing a replica whose primary it had not heard of.
expect_exit 0 "cluster show on the 80 nodes, agreeing at the first look" \
	hf --converge-timeout 1ms cluster show --cluster "redis://127.0.0.1:$LBASE"
pids_of "$T/large"
expect_exit 0 "down 40x1" hf sandbox down --dir "$T/large"
check "  ... stops all 80" grep -q "80 nodes stopped" "$T/out"
check "every pid is gone" all_gone "${PIDS[@]}"
test_end

test_begin '40x1: without -v, off a terminal, a line per phase at most, and a few'
T0=$(date +%s)
expect_exit 0 "up 40x1 again" hf sandbox up --shards 40 --replicas 1 --base-port "$LBASE" --dir "$T/large"
UP_S=$(($(date +%s) - T0))
# Lines come when the phase changes, and every 5 s at most while it stays.
check "  ... at most 3 phases + 1 per 5 s of its $UP_S s" \
	[ "$(grep -c '^sandbox:' "$T/err")" -le $((3 + UP_S / 5 + 1)) ]
pids_of "$T/large"
expect_exit 0 "down 40x1 again" hf sandbox down --dir "$T/large"
check "every pid is gone" all_gone "${PIDS[@]}"
test_end

finish
