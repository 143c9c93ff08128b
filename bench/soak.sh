#!/usr/bin/env bash
# Soak: random kill -9 of the hotfix driver, then resume or rollback, and a
# check that the cluster converged exactly; node faults during real
# rollouts; all under 'hotfix load --check-writes' running the whole time.
#
# One 3x1 sandbox (on the deb12u7 build of redis-server 7.0.15 when the
# binary kind is in KINDS) holds the before-state of five hotfixes, one of
# each kind: config (timeout, maxmemory-policy), function (a library v1 ->
# v2), acl (a password rotated, a user created), data (strings, hashes,
# lists, sets, zsets, streams under t:*) and binary (deb12u7 -> deb12u10).
# First each kind is applied and rolled back once, undisturbed: that gives
# its after-state and how long its apply and rollback take. Then, kind by
# kind in turn, a run:
#
#   - a kill run: 'hotfix apply' in the background, SIGKILL after a random
#     delay (0 to 110% of the kind's apply time); then, chosen at random,
#     'resume RUN', 'resume RUN --rollback' or 'rollback RUN'. A resumed run
#     must hold the after-state; it is then rolled back, that rollback also
#     killed at a random moment half of the time (then 'resume RUN' or
#     'rollback RUN' finishes it), and must give the before-state back. A
#     driver that ended before its kill counts apart ("ended before kill"),
#     never as a kill point; runs go on until POINTS real kills.
#   - every FAULT_EVERY-th run instead: a fault at a random moment of an
#     undisturbed apply, as the drill's, in turn: kill -9 and restart of a
#     replica, SIGSTOP of a primary for 1 s, CLUSTER FAILOVER of a shard
#     (the node picked at random). The apply
#     must end promoted (after-state; then rolled back), rolled back (exit 1
#     or 3: before-state), or exit 4, after which 'rollback RUN' must finish
#     it (before-state).
#
# "Converged exactly" is checked the same way everywhere, polled for up to
# 60 s (replicas catch up asynchronously): on every node, by port, the
# config values of the config hotfix, the function libraries (FUNCTION LIST
# WITHCODE), ACL LIST, redis_version and redis_build_id; the data keys'
# DEBUG DIGEST-VALUE and PEXPIRETIME on the primaries; every replica's link
# up and its keys' digests equal to its primaries'; three primaries.
# ACL LIST is compared without the 'sanitize-payload' flag: Redis 7.0 adds
# it to the default user read from a config file that CONFIG REWRITE wrote,
# so any restart (the binary kind's, a killed replica's) shows it, hotfix or
# not (docs/NOTES.md, Drills).
#
#   bash bench/soak.sh [path/to/hotfix]
#
# Environment: POINTS (100) kill points; SEED (random) the RNG's seed,
# printed as SEED=N to replay a run's choices (the moments still depend on
# the machine); KINDS (config,function,acl,data,binary); FAULT_EVERY (4;
# 0: no fault runs); MIN_FAULTS (0) fault runs to have at least, runs
# going on past POINTS kills until then; SOAK_SKIP=KIND:FAULT,... pairs of a kind and a fault
# not to combine (a known bug; the pair's run gets the next fault, and the
# summary says how many were skipped); LOAD_RATE (300 requests/s); SOAK_JSON=FILE the summary
# as JSON too; SOAK_KEEP=1 keeps the directory and the sandbox. Exits 1 if
# any point did not converge exactly or a write acknowledged was lost.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
POINTS=${POINTS:-100}
SEED=${SEED:-$(( $(date +%s%N) % 1000000007 ))}
KINDS=${KINDS:-config,function,acl,data,binary}
FAULT_EVERY=${FAULT_EVERY:-4}
MIN_FAULTS=${MIN_FAULTS:-0}
SOAK_SKIP=${SOAK_SKIP:-}
SKIPPED=0
LOAD_RATE=${LOAD_RATE:-300}
T=$(mktemp -d /tmp/hotfix-soak.XXXXXX)
STATE=$T/state
SB=$T/sb
LOG=$T/soak.log
hf() { "$HOTFIX" --state "$STATE" "$@"; }
rcli() { redis-cli -h 127.0.0.1 "$@"; }

LOAD=
DRIVER=
FAULT_PID=
cleanup() {
	local rc=$? p
	for p in $DRIVER $FAULT_PID $LOAD; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
	if [ -n "${SOAK_KEEP:-}" ]; then
		echo "# kept $T; stop its sandbox with: $HOTFIX --state $STATE sandbox down --dir $SB"
	else
		hf sandbox down --dir "$SB" >/dev/null 2>&1
		for p in "$SB"/*/redis.pid; do
			[ -f "$p" ] || continue
			p=$(cat "$p")
			grep -q redis "/proc/$p/cmdline" 2>/dev/null && kill -CONT "$p" && kill -KILL "$p"
		done
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- a seeded RNG of our own: $RANDOM in subshells would not advance ----
rng=$SEED
# rnd N: a number in [0, N) in R.
rnd() {
	rng=$(((rng * 1103515245 + 12345) % 2147483648))
	R=$(((rng >> 8) % $1))
}
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
say() { echo "$*" | tee -a "$LOG"; }

# ---- the cluster's state ------------------------------------------------
PORTS=
CONFIG_PARAMS="timeout maxmemory-policy"
role_of() { rcli -p "$1" ROLE 2>/dev/null | head -n 1; }
info_field() { rcli -p "$1" INFO server 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

# key_digests PORT: "key digest pexpiretime" for every t:* key on the node.
key_digests() {
	local p=$1 keys
	keys=$(rcli -p "$p" --scan --pattern 't:*' | sort)
	[ -n "$keys" ] || return 0
	{
		echo READONLY
		for k in $keys; do echo "DEBUG DIGEST-VALUE $k"; echo "PEXPIRETIME $k"; done
	} | rcli -p "$p" | tail -n +2 | paste -d ' ' - - | paste -d ' ' <(echo "$keys") -
}

# acl_canonical: ACL LIST lines with their rules sorted and without the
# 'sanitize-payload' flag. Redis describes a user's command rules in the
# order of a dictionary's walk (the same rules set twice can come back as
# '+function|load +function|delete' and as '+function|delete
# +function|load'); ACL LIST's description is already a normal form, so
# two with the same rules are the same permissions.
acl_canonical() {
	sed 's/ sanitize-payload//' | while read -r u name rules; do
		echo "$u $name $(tr ' ' '\n' <<<"$rules" | sort | tr '\n' ' ')"
	done
}

# state FILE: the state compared, one fact a line; replica convergence
# problems as "! ..." lines (never equal to an expected state).
state() {
	local out=$1 p k role primaries=0
	: >"$out.prim"
	: >"$out.repl"
	{
		for p in $PORTS; do
			for k in $CONFIG_PARAMS; do echo "$p config $k $(rcli -p "$p" CONFIG GET "$k" | sed -n 2p)"; done
			echo "$p functions $(rcli -p "$p" FUNCTION LIST WITHCODE | sort | sha256sum | cut -c1-16)"
			rcli -p "$p" ACL LIST | acl_canonical | sed 's/^/'"$p"' acl /'
			echo "$p redis $(info_field "$p" redis_version) build $(info_field "$p" redis_build_id)"
			role=$(role_of "$p")
			case $role in
			master)
				primaries=$((primaries + 1))
				key_digests "$p" >>"$out.prim"
				;;
			slave)
				rcli -p "$p" INFO replication | tr -d '\r' | grep -q '^master_link_status:up' ||
					echo "! replica $p: link not up"
				key_digests "$p" >>"$out.repl"
				;;
			*) echo "! node $p: no role ($role)" ;;
			esac
		done
		[ "$primaries" = 3 ] || echo "! $primaries primaries, not 3"
		sort "$out.prim" | sed 's/^/data /'
		sort "$out.prim" >"$out.prim.s"
		sort "$out.repl" >"$out.repl.s"
		cmp -s "$out.prim.s" "$out.repl.s" || echo "! the replicas' keys differ from the primaries'"
	} >"$out"
	rm -f "$out.prim" "$out.repl" "$out.prim.s" "$out.repl.s"
}

# converged_to EXPECTED: the state now equals EXPECTED (the last one read
# is left in $T/now).
converged_to() { state "$T/now" && cmp -s "$1" "$T/now"; }

# settled FILE: the state, in FILE, has no convergence problem.
settled() { state "$1" && ! grep -q '^!' "$1"; }

# healthy: every node answers, three primaries, every replica's link up.
healthy() {
	local p n=0
	for p in $PORTS; do
		case $(role_of "$p") in
		master) n=$((n + 1)) ;;
		slave) rcli -p "$p" INFO replication | tr -d '\r' | grep -q '^master_link_status:up' || return 1 ;;
		*) return 1 ;;
		esac
	done
	[ "$n" = 3 ] && [ "$(rcli -p "$BASE" CLUSTER INFO | tr -d '\r' | sed -n 's/^cluster_state://p')" = ok ]
}

newest_run() { hf --json history 2>/dev/null | jq -r '.[0].run // empty'; }
lease_free() { hf plan "$T/m/config.yaml" --cluster "$SEED_URI" 2>/dev/null | grep -q '^lease: free'; }

# ---- counters -------------------------------------------------------------
declare -A K_RUNS K_KILLS K_OK K_ENDED K_FAULTS K_FAULT_OK APPLY_MS ROLLBACK_MS
RUNS=0 KILLS=0 KILLS_OK=0 ENDED=0 FAULTS=0 FAULTS_OK=0 CHECKS=0 CHECKS_OK=0 FAILED=0
FAILURES=()

# verify WHAT EXPECTED: poll up to 60 s for the state to equal EXPECTED;
# on failure keep the difference and say so. Returns 1 on failure.
verify() {
	local what=$1 expected=$2
	CHECKS=$((CHECKS + 1))
	if wait_for 60 converged_to "$expected"; then
		CHECKS_OK=$((CHECKS_OK + 1))
		return 0
	fi
	FAILED=$((FAILED + 1))
	cp "$T/now" "$T/fail-$FAILED.state"
	diff "$expected" "$T/now" >"$T/fail-$FAILED.diff"
	FAILURES+=("$what (difference in $T/fail-$FAILED.diff)")
	say "  NOT CONVERGED: $what"
	sed 's/^/    /' "$T/fail-$FAILED.diff" | head -n 20 | tee -a "$LOG"
	return 1
}

# ---- the sandbox, the load, the manifests ---------------------------------
START=$(date +%s)
echo "SEED=$SEED POINTS=$POINTS KINDS=$KINDS FAULT_EVERY=$FAULT_EVERY LOAD_RATE=$LOAD_RATE${SOAK_SKIP:+ SOAK_SKIP=$SOAK_SKIP}"
IFS=, read -r -a KIND_LIST <<<"$KINDS"
for k in "${KIND_LIST[@]}"; do
	case $k in config | function | acl | data | binary) ;; *) echo "soak: unknown kind '$k'" >&2; exit 2 ;; esac
done
SERVER_ARGS=()
case ",$KINDS," in
*,binary,*)
	U7=$("$HERE/../scripts/redis-builds.sh" u7) && U10=$("$HERE/../scripts/redis-builds.sh" u10) || {
		echo "soak: cannot fetch the two Debian builds for the binary kind" >&2
		exit 2
	}
	SERVER_ARGS=(--redis-server "$U7")
	;;
esac
BASE=$(free_base 6) || { echo "soak: no free ports" >&2; exit 2; }
hf sandbox up --dir "$SB" --base-port "$BASE" --shards 3 --replicas 1 "${SERVER_ARGS[@]}" >"$T/sb.up" 2>&1 || {
	cat "$T/sb.up" >&2
	exit 2
}
SEED_URI=$(tail -n 1 "$T/sb.up")
PORTS=$(seq "$BASE" $((BASE + 5)) | tr '\n' ' ')
PRIMARY_PORTS=$(seq "$BASE" $((BASE + 2)))
rc_() { redis-cli -c -h 127.0.0.1 -p "$BASE" "$@"; }

mkdir -p "$T/m"
# function: billing v1 on every primary (replicas follow), the hotfix loads v2.
printf '#!lua name=billing\nredis.register_function("price", function(keys, args) return "v1" end)\n' >"$T/m/billing_v1.lua"
printf '#!lua name=billing\nredis.register_function("price", function(keys, args) return "v2" end)\n' >"$T/m/billing_v2.lua"
for p in $PRIMARY_PORTS; do rcli -p "$p" FUNCTION LOAD "$(cat "$T/m/billing_v1.lua")" >/dev/null; done
# acl: the user app on every node (ACLs are per node).
for p in $PORTS; do rcli -p "$p" ACL SETUSER app on '>old-secret' '~app:*' '+@read' >/dev/null; done
# data: 20 keys of each type, a third with a TTL of two days; the changes
# are deterministic (no generated stream id, no relative TTL), so every
# forward run has the same after-state.
N=20
{
	for i in $(seq 1 $N); do
		echo "SET t:string:$i old-$i"
		echo "HSET t:hash:$i f old-$i g keep-$i"
		echo "RPUSH t:list:$i a-$i b-$i"
		echo "SADD t:set:$i a-$i b-$i"
		echo "ZADD t:zset:$i 1 a-$i 2 b-$i"
		echo "XADD t:stream:$i 1-$i f v-$i"
		if [ $((i % 3)) = 0 ]; then
			for t in string hash list set zset stream; do echo "EXPIRE t:$t:$i 172800"; done
		fi
	done
} | while read -r line; do
	# shellcheck disable=SC2086
	rc_ $line >/dev/null
done
# Persisted, as an operator would before a rolling restart: ACL users are
# not replicated, and a restarted node (the binary kind's, a fault's)
# reads them from its config file.
for p in $PORTS; do rcli -p "$p" CONFIG REWRITE >/dev/null; done
echo "redis.call('RPUSH', key, 'new')" >"$T/m/list.lua"
echo "redis.call('SADD', key, 'new')" >"$T/m/set.lua"
echo "redis.call('ZADD', key, 3, 'new')" >"$T/m/zset.lua"
echo "redis.call('XADD', key, '2-0', 'f', 'new')" >"$T/m/stream.lua"

# Waves of one node, half, all, with short bakes: a kill can land in a
# bake, a step, the capture or the start.
WAVES="    waves:
      - nodes: 1
        bake: 300ms
      - nodes: 50%
        bake: 300ms
      - nodes: 100%"
head_of() {   # head_of NAME: the manifest's metadata
	cat <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: soak-$1, version: 1, owner: soak@example.com, problem: soak test of the $1 kind}
spec:
  changes:
YAML
}
{ head_of config; cat <<YAML; } >"$T/m/config.yaml"
    - config: {timeout: "300", maxmemory-policy: allkeys-lru}
  rollout:
    order: replicas-first
$WAVES
  guard: none
YAML
{ head_of function; cat <<YAML; } >"$T/m/function.yaml"
    - function: {library: billing, file: billing_v2.lua}
  rollout:
$WAVES
  guard: none
YAML
{ head_of acl; cat <<YAML; } >"$T/m/acl.yaml"
    - acl: {user: app, rules: "on >new-secret-123 ~app:* +@read +@write -@dangerous"}
    - acl: {user: reporting, rules: "on >report-pw-456 ~report:* +@read"}
  rollout:
$WAVES
  guard: none
YAML
{ head_of data; cat <<YAML; } >"$T/m/data.yaml"
    - data: {match: "t:string:*", value: new, batch: 5}
    - data: {match: "t:hash:*", set: {f: new}, unset: [g], batch: 5}
    - data: {match: "t:list:*", lua: list.lua, batch: 5}
    - data: {match: "t:set:*", lua: set.lua, batch: 5}
    - data: {match: "t:zset:*", lua: zset.lua, batch: 5}
    - data: {match: "t:stream:*", lua: stream.lua, batch: 5}
  rollout:
    waves:
      - keys: 10%
        bake: 300ms
      - keys: 50%
        bake: 300ms
      - keys: 100%
  guard: none
YAML
if [ -n "${U10:-}" ]; then
	{ head_of binary; cat <<YAML; } >"$T/m/binary.yaml"
    - binary: {path: $U10}
  rollout:
    waves:
      - nodes: 1
      - nodes: 100%
  guard: none
YAML
fi

# The load, the whole time (at most an hour: its limit): every SET a new key, every acknowledged one
# read back at the end (SIGTERM ends the traffic, not the read-back).
"$HOTFIX" --state "$T/load-state" load --cluster "$SEED_URI" --seconds 3600 --rate "$LOAD_RATE" \
	--check-writes --json >"$T/load.json" 2>"$T/load.err" &
LOAD=$!

wait_for 60 settled "$T/before"
grep -q '^!' "$T/before" && { echo "soak: the first state is not converged:" >&2; grep '^!' "$T/before" >&2; exit 2; }
say "sandbox 3x1 on ports $BASE-$((BASE + 5)), load $LOAD_RATE requests/s with --check-writes"

# ---- calibration: each kind applied and rolled back undisturbed -----------
for k in "${KIND_LIST[@]}"; do
	t0=$(now_ms)
	hf apply "$T/m/$k.yaml" --cluster "$SEED_URI" --yes >"$T/cal-$k.out" 2>&1
	code=$?
	APPLY_MS[$k]=$(($(now_ms) - t0))
	run=$(newest_run)
	if [ "$code" != 0 ]; then
		echo "soak: the undisturbed apply of the $k hotfix failed (exit $code):" >&2
		tail -n 20 "$T/cal-$k.out" >&2
		exit 2
	fi
	wait_for 60 settled "$T/after-$k"
	if grep -q '^!' "$T/after-$k" || cmp -s "$T/after-$k" "$T/before"; then
		echo "soak: the after-state of the $k hotfix is not settled or equals the before-state:" >&2
		diff "$T/before" "$T/after-$k" >&2
		exit 2
	fi
	t0=$(now_ms)
	hf rollback "$run" >"$T/cal-$k.rb" 2>&1
	code=$?
	ROLLBACK_MS[$k]=$(($(now_ms) - t0))
	[ "$code" = 0 ] || { echo "soak: the undisturbed rollback of the $k hotfix failed (exit $code)" >&2; exit 2; }
	verify "calibration of $k: rollback" "$T/before" || exit 1
	K_RUNS[$k]=0 K_KILLS[$k]=0 K_OK[$k]=0 K_ENDED[$k]=0 K_FAULTS[$k]=0 K_FAULT_OK[$k]=0
	say "calibrated $k: apply ${APPLY_MS[$k]} ms, rollback ${ROLLBACK_MS[$k]} ms, $(diff "$T/before" "$T/after-$k" | grep -c '^>') fact(s) changed"
done

# ---- the points -------------------------------------------------------------
# drive NAME MS CMD...: CMD in the background, SIGKILL after MS ms; sets
# KILLED (1 when the kill ended it) and CODE (its exit).
drive() {
	local name=$1 ms=$2
	shift 2
	"$HOTFIX" --state "$STATE" "$@" >"$T/$name.out" 2>&1 &
	DRIVER=$!
	sleep_ms "$ms"
	kill -KILL "$DRIVER" 2>/dev/null
	wait "$DRIVER" 2>/dev/null
	CODE=$?
	DRIVER=
	KILLED=0
	[ "$CODE" = 137 ] && KILLED=1
	return 0
}

# recover RUN HOW: finish a killed run with 'resume', 'resume --rollback'
# or 'rollback'; sets CODE.
recover() {
	local run=$1 how=$2
	case $how in
	resume) hf resume "$run" >"$T/recover.out" 2>&1 ;;
	resume-rollback) hf resume "$run" --rollback >"$T/recover.out" 2>&1 ;;
	rollback) hf rollback "$run" >"$T/recover.out" 2>&1 ;;
	esac
	CODE=$?
	# A node that a fault or the kill left without an answer can make the
	# rollback exit 4 (needs a human): once the cluster is healthy, a later
	# rollback finishes it.
	if [ "$CODE" = 4 ] && [ "$how" != resume ]; then
		wait_for 60 healthy
		hf rollback "$run" >>"$T/recover.out" 2>&1
		CODE=$?
	fi
}

# roles_back: the primaries of $T/roles (as they were before the run)
# primaries again (a failover undone by another).
roles_back() {
	local p
	for p in $(cat "$T/roles"); do
		[ "$(role_of "$p")" = slave ] || continue
		rcli -p "$p" CLUSTER FAILOVER >/dev/null
		wait_for 30 sh -c "[ \"\$(redis-cli -p $p ROLE 2>/dev/null | head -n 1)\" = master ]"
	done
	wait_for 60 healthy
}

# reset RUN: after a run that failed, roll RUN back (counted nowhere) so
# that the next runs start from the before-state; when that rollback
# needs a human (exit 4), do what the operator would: the roles as they
# were at the start, then the rollback again.
reset() {
	local code
	hf rollback "$1" >"$T/reset.out" 2>&1
	code=$?
	if [ "$code" = 4 ]; then
		roles_back
		hf rollback "$1" >>"$T/reset.out" 2>&1
		code=$?
	fi
	[ "$code" = 0 ] || say "  (the rollback after that exits $code)"
	wait_for 60 converged_to "$T/before" || say "  (and the cluster is not back at the before-state)"
}

# kill_rollback K RUN LABEL: roll the promoted RUN back, half of the time
# killed at a random moment and finished by resume or rollback; then the
# before-state. Counts a kill point when the kill landed.
kill_rollback() {
	local k=$1 run=$2 label=$3 ms how expected
	rnd 2
	if [ "$R" = 0 ]; then
		hf rollback "$run" >"$T/rb.out" 2>&1
		CODE=$?
		[ "$CODE" = 0 ] || { FAILURES+=("$label: rollback exit $CODE: $(tail -n 3 "$T/rb.out" | tr '\n' ' ')"); FAILED=$((FAILED + 1)); say "  FAILED: rollback exit $CODE"; return 1; }
		verify "$label: rollback" "$T/before"
		return
	fi
	rnd $((ROLLBACK_MS[$k] * 11 / 10 + 1))
	ms=$R
	drive rb "$ms" rollback "$run"
	if [ "$KILLED" = 1 ]; then
		rnd 2
		how=$([ "$R" = 0 ] && echo resume || echo rollback)
		recover "$run" "$how"
		KILLS=$((KILLS + 1))
		K_KILLS[$k]=$((K_KILLS[$k] + 1))
		# A rollback killed before it journaled its start leaves the run
		# promoted, and 'resume' of a promoted run has nothing to finish:
		# then the after-state is the exact one, and a rollback follows.
		expected=$T/before
		if [ "$CODE" = 0 ] && [ "$how" = resume ] &&
			[ "$(hf --json status "$run" 2>/dev/null | jq -r .state)" = promoted ]; then
			expected=$T/after-$k
			how="resume (the run was still promoted: nothing to finish)"
		fi
		say "  point $KILLS: $k run $run, rollback killed at ${ms} ms, then $how (exit $CODE)"
		if [ "$CODE" = 0 ] && verify "$label: rollback killed at $ms ms, then $how" "$expected"; then
			KILLS_OK=$((KILLS_OK + 1))
			K_OK[$k]=$((K_OK[$k] + 1))
			[ "$expected" = "$T/before" ] || reset "$run"
		elif [ "$CODE" != 0 ]; then
			FAILED=$((FAILED + 1))
			FAILURES+=("$label: rollback killed at $ms ms, then $how: exit $CODE: $(tail -n 3 "$T/recover.out" | tr '\n' ' ')")
			say "  FAILED: $how exit $CODE"
			reset "$run"
		else
			reset "$run"
		fi
	else
		ENDED=$((ENDED + 1))
		K_ENDED[$k]=$((K_ENDED[$k] + 1))
		[ "$CODE" = 0 ] || { FAILED=$((FAILED + 1)); FAILURES+=("$label: rollback (not killed) exit $CODE"); return 1; }
		verify "$label: rollback ended before its kill at $ms ms" "$T/before"
	fi
}

# kill_run K: one kill run of kind K.
kill_run() {
	local k=$1 ms how run prev label
	rnd $((APPLY_MS[$k] * 11 / 10 + 1))
	ms=$R
	prev=$(newest_run)
	drive apply "$ms" apply "$T/m/$k.yaml" --cluster "$SEED_URI" --yes
	run=$(newest_run)
	[ "$run" = "$prev" ] && run=
	label="run ${RUNS} ($k${run:+, $run})"
	if [ "$KILLED" = 0 ]; then
		ENDED=$((ENDED + 1))
		K_ENDED[$k]=$((K_ENDED[$k] + 1))
		say "  $k: apply ended (exit $CODE) before its kill at $ms ms"
		if [ "$CODE" = 0 ]; then
			if verify "$label: apply ended before its kill" "$T/after-$k"; then
				kill_rollback "$k" "$run" "$label"
			else
				reset "$run"
			fi
		else
			FAILED=$((FAILED + 1))
			FAILURES+=("$label: undisturbed apply exit $CODE: $(tail -n 3 "$T/apply.out" | tr '\n' ' ')")
			say "  FAILED: undisturbed apply exit $CODE"
		fi
		return
	fi
	KILLS=$((KILLS + 1))
	K_KILLS[$k]=$((K_KILLS[$k] + 1))
	if [ -z "$run" ]; then
		# Killed before the run was journaled: nothing may have changed.
		say "  point $KILLS: $k apply killed at ${ms} ms, before its run was journaled"
		if verify "$label: apply killed at $ms ms before its run existed" "$T/before"; then
			KILLS_OK=$((KILLS_OK + 1))
			K_OK[$k]=$((K_OK[$k] + 1))
		fi
		# Its lease, if it took it, is only given back by its TTL.
		wait_for 120 lease_free
		return
	fi
	rnd 3
	how=$(case $R in 0) echo resume ;; 1) echo resume-rollback ;; 2) echo rollback ;; esac)
	recover "$run" "$how"
	say "  point $KILLS: $k run $run, apply killed at ${ms} ms, then ${how/-/ --} (exit $CODE)"
	if [ "$CODE" != 0 ]; then
		FAILED=$((FAILED + 1))
		FAILURES+=("$label: apply killed at $ms ms, then ${how/-/ --}: exit $CODE: $(tail -n 3 "$T/recover.out" | tr '\n' ' ')")
		say "  FAILED: ${how/-/ --} exit $CODE: $(tail -n 1 "$T/recover.out")"
		# Not to leave the cluster to the next runs in that state: the
		# lease free, then the run rolled back.
		wait_for 60 lease_free
		reset "$run"
		return
	fi
	if [ "$how" = resume ]; then
		if verify "$label: apply killed at $ms ms, then resume" "$T/after-$k"; then
			KILLS_OK=$((KILLS_OK + 1))
			K_OK[$k]=$((K_OK[$k] + 1))
			kill_rollback "$k" "$run" "$label"
		else
			reset "$run"
		fi
	elif verify "$label: apply killed at $ms ms, then ${how/-/ --}" "$T/before"; then
		KILLS_OK=$((KILLS_OK + 1))
		K_OK[$k]=$((K_OK[$k] + 1))
	fi
}

# fault NAME: the drill's node faults, on a node picked at random.
fault() {
	local f=$1 p pid exe conf reps=() prims=()
	for p in $PORTS; do
		case $(role_of "$p") in master) prims+=("$p") ;; slave) reps+=("$p") ;; esac
	done
	case $f in
	kill-replica)
		rnd ${#reps[@]}
		p=${reps[$R]}
		pid=$(info_field "$p" process_id)
		exe=$(info_field "$p" executable)
		conf=$(info_field "$p" config_file)
		kill -KILL "$pid"
		wait_for 10 sh -c "! kill -0 $pid 2>/dev/null"
		# The same build it ran (the binary kind may have changed it),
		# through the path it was started by (the link named redis-server).
		"$exe" "$conf" >/dev/null 2>&1
		wait_for 30 sh -c "[ \"\$(redis-cli -p $p PING 2>/dev/null)\" = PONG ]"
		echo "kill -9 of replica $p (pid $pid), restarted"
		;;
	stop-primary)
		rnd ${#prims[@]}
		p=${prims[$R]}
		pid=$(info_field "$p" process_id)
		kill -STOP "$pid"
		sleep 1
		kill -CONT "$pid"
		echo "SIGSTOP of primary $p for 1 s"
		;;
	failover)
		rnd ${#reps[@]}
		p=${reps[$R]}
		rcli -p "$p" CLUSTER FAILOVER >/dev/null
		wait_for 30 sh -c "[ \"\$(redis-cli -p $p ROLE 2>/dev/null | head -n 1)\" = master ]"
		echo "CLUSTER FAILOVER of replica $p: $(role_of "$p")"
		;;
	esac
}

# fault_run K: an undisturbed apply of kind K with a node fault at a random
# moment of it.
fault_run() {
	local k=$1 ms f run label
	# The three faults in turn (any three fault runs have them all), each
	# at a random moment; a pair of SOAK_SKIP gets the next fault instead.
	local n
	for n in 0 1 2; do
		f=$(case $(((FAULTS + n) % 3)) in 0) echo kill-replica ;; 1) echo stop-primary ;; 2) echo failover ;; esac)
		case ",$SOAK_SKIP," in *",$k:$f,"*) SKIPPED=$((SKIPPED + 1)) ;; *) break ;; esac
	done
	rnd $((APPLY_MS[$k] + 1))
	ms=$R
	FAULTS=$((FAULTS + 1))
	K_FAULTS[$k]=$((K_FAULTS[$k] + 1))
	(sleep_ms "$ms"; fault "$f") >"$T/fault.out" 2>&1 &
	FAULT_PID=$!
	rm -f "$T/rb.out"
	hf apply "$T/m/$k.yaml" --cluster "$SEED_URI" --yes >"$T/fapply.out" 2>&1
	CODE=$?
	wait "$FAULT_PID"
	FAULT_PID=
	run=$(newest_run)
	label="run $RUNS ($k, $run, fault $f at $ms ms)"
	say "  fault $FAULTS: $k run $run, $(cat "$T/fault.out" | tr '\n' ' ')at ${ms} ms; apply exit $CODE"
	wait_for 60 healthy
	case $CODE in
	0)
		verify "$label: promoted" "$T/after-$k" || { reset "$run"; return; }
		hf rollback "$run" >"$T/rb.out" 2>&1
		CODE=$?
		;;
	1 | 3) ;;
	5)
		# Refused: nothing was started; a failure of the soak itself
		# (the previous run left the cluster held).
		;;
	4)
		hf rollback "$run" >"$T/rb.out" 2>&1
		CODE=$?
		;;
	esac
	# A rollback that needs a human may be finished by a later one once
	# the cluster is healthy again.
	if [ "$CODE" = 4 ]; then
		wait_for 60 healthy
		hf rollback "$run" >>"$T/rb.out" 2>&1
		CODE=$?
	fi
	if [ "$CODE" != 0 ] && [ "$CODE" != 1 ] && [ "$CODE" != 3 ]; then
		FAILED=$((FAILED + 1))
		FAILURES+=("$label: exit $CODE: $(tail -n 3 "$T/fapply.out" "$T/rb.out" 2>/dev/null | tr '\n' ' ')")
		say "  FAILED: exit $CODE: $(grep -m1 -A1 'incomplete\|refused' "$T/rb.out" "$T/fapply.out" 2>/dev/null | tr '\n' ' ')"
		[ "$CODE" = 5 ] || reset "$run"
		return
	fi
	if verify "$label: rolled back" "$T/before"; then
		FAULTS_OK=$((FAULTS_OK + 1))
		K_FAULT_OK[$k]=$((K_FAULT_OK[$k] + 1))
	fi
}

i=0
while [ "$KILLS" -lt "$POINTS" ] || { [ "$FAULT_EVERY" -gt 0 ] && [ "$FAULTS" -lt "$MIN_FAULTS" ]; }; do
	k=${KIND_LIST[$((i % ${#KIND_LIST[@]}))]}
	i=$((i + 1))
	RUNS=$((RUNS + 1))
	K_RUNS[$k]=$((K_RUNS[$k] + 1))
	wait_for 60 healthy || say "  (the cluster is not healthy before run $RUNS)"
	# A driver killed after its run was finished but before it gave the
	# lease back leaves the lease to its TTL (nobody may take over a
	# finished run's lease): the next apply would be refused until then.
	wait_for 30 lease_free || say "  (the lease is not free before run $RUNS)"
	# A safety net: a run that failed in a way not foreseen must not make
	# every later run fail too.
	for p in $PORTS; do [ "$(role_of "$p")" = master ] && echo "$p"; done >"$T/roles"
	if ! converged_to "$T/before"; then
		say "  (the cluster is not at the before-state before run $RUNS: the newest run rolled back)"
		reset "$(newest_run)"
	fi
	if [ "$FAULT_EVERY" -gt 0 ] && [ $((RUNS % FAULT_EVERY)) = 0 ]; then
		fault_run "$k"
	else
		kill_run "$k"
	fi
done

# ---- the load's verdict, the summary ---------------------------------------
# The load's limit is an hour: a longer soak says it ran without it.
LOAD_NOTE=
kill -0 "$LOAD" 2>/dev/null || LOAD_NOTE=" (the load had ended before the soak: it runs at most 3600 s)"
kill -TERM "$LOAD" 2>/dev/null
wait "$LOAD"
LOAD=
ACKED=$(jq -r '.acked_writes // "?"' "$T/load.json" 2>/dev/null)
LOST=$(jq -r '.lost // "?"' "$T/load.json" 2>/dev/null)
UNVERIFIABLE=$(jq -r '.unverifiable // "?"' "$T/load.json" 2>/dev/null)
ELAPSED=$(($(date +%s) - START))
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b ? "%.1f%%" : "-"), 100 * a / b }'; }

echo
printf '%-9s %5s %12s %10s %18s %7s %10s\n' kind runs "kill points" converged "ended before kill" faults "fault ok"
for k in "${KIND_LIST[@]}"; do
	printf '%-9s %5s %12s %10s %18s %7s %10s\n' "$k" "${K_RUNS[$k]}" "${K_KILLS[$k]}" "${K_OK[$k]}" \
		"${K_ENDED[$k]}" "${K_FAULTS[$k]}" "${K_FAULT_OK[$k]}"
done
echo
echo "seed               SEED=$SEED"
echo "runs               $RUNS ($FAULTS with a node fault${SOAK_SKIP:+; $SKIPPED time(s) a fault of SOAK_SKIP=$SOAK_SKIP was passed over})"
echo "kill points        $KILLS ($ENDED more ended before their kill)"
echo "converged exactly  $KILLS_OK of $KILLS kill points ($(pct "$KILLS_OK" "$KILLS")); $FAULTS_OK of $FAULTS fault runs; $CHECKS_OK of $CHECKS checks"
echo "writes             $ACKED acknowledged, $LOST lost, $UNVERIFIABLE unverifiable$LOAD_NOTE"
echo "time               ${ELAPSED} s"
for f in "${FAILURES[@]}"; do echo "FAILED: $f"; done

if [ -n "${SOAK_JSON:-}" ]; then
	{
		printf '{"seed": %s, "points": %s, "runs": %s, "kill_points": %s, "ended_before_kill": %s, ' \
			"$SEED" "$POINTS" "$RUNS" "$KILLS" "$ENDED"
		printf '"converged": %s, "fault_runs": %s, "fault_runs_ok": %s, "checks": %s, "checks_ok": %s, ' \
			"$KILLS_OK" "$FAULTS" "$FAULTS_OK" "$CHECKS" "$CHECKS_OK"
		printf '"failures": %s, "skipped_faults": %s, "seconds": %s, "load": %s, "kinds": {' "$FAILED" "$SKIPPED" "$ELAPSED" \
			"$(jq -c '{acked_writes, verified, lost, unverifiable}' "$T/load.json" 2>/dev/null || echo null)"
		sep=
		for k in "${KIND_LIST[@]}"; do
			printf '%s"%s": {"runs": %s, "kill_points": %s, "converged": %s, "ended_before_kill": %s, "fault_runs": %s, "fault_runs_ok": %s}' \
				"$sep" "$k" "${K_RUNS[$k]}" "${K_KILLS[$k]}" "${K_OK[$k]}" "${K_ENDED[$k]}" "${K_FAULTS[$k]}" "${K_FAULT_OK[$k]}"
			sep=", "
		done
		printf '}}\n'
	} >"$SOAK_JSON"
fi

[ "$FAILED" = 0 ] && [ "$KILLS_OK" = "$KILLS" ] && [ "$FAULTS_OK" = "$FAULTS" ] &&
	[ "$LOST" = 0 ] && [ "$UNVERIFIABLE" = 0 ] && [ "$ACKED" != "?" ] && [ "$ACKED" -gt 0 ]
