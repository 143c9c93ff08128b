#!/usr/bin/env bash
# make demo: the main job of hotfix on a local sandbox cluster, narrated.
# Starts 3 shards x 1 replica of real redis-server processes, plans and
# applies a config hotfix wave by wave, rolls it back, shows every node back
# at its original value; then, under load, shows the guard rolling a bad
# hotfix back on its own and promoting a harmless one; and stops the sandbox.
set -euo pipefail

HOTFIX=${1:-build/hotfix}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MANIFEST=$ROOT/examples/raise-timeout.yaml
BAD=$ROOT/examples/bad-maxmemory.yaml
GOOD=$ROOT/examples/raise-timeout-guarded.yaml
STATE=$(mktemp -d /tmp/hotfix-demo.XXXXXX)
hf() { "$HOTFIX" --state "$STATE" "$@"; }
LOAD=
stop_load() {
	[ -n "$LOAD" ] || return 0
	kill -INT "$LOAD" 2>/dev/null || true
	wait "$LOAD" 2>/dev/null || true
	LOAD=
}
trap 'stop_load; hf sandbox down >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT

if [ -t 1 ]; then B=$'\033[1m'; N=$'\033[0m'; else B=; N=; fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
note() { printf '   %s\n' "$@"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
BASE=
for b in 22001 22101 22201 22301 22401 22501; do
	busy=0
	for i in 0 1 2 3 4 5; do
		if port_in_use $((b + i)) || port_in_use $((b + i + 10000)); then busy=1; fi
	done
	[ $busy = 0 ] && { BASE=$b; break; }
done
[ -n "$BASE" ] || { echo "demo: no free ports around 22001-22506" >&2; exit 1; }
PORTS=$(seq "$BASE" $((BASE + 5)))

values() {
	local p
	printf '   %-17s %-8s %-18s\n' NODE TIMEOUT MAXMEMORY-POLICY
	for p in $PORTS; do
		printf '   127.0.0.1:%-7s %-8s %-18s\n' "$p" \
			"$(redis-cli -p "$p" CONFIG GET timeout | sed -n 2p)" \
			"$(redis-cli -p "$p" CONFIG GET maxmemory-policy | sed -n 2p)"
	done
}

step "1. Start a sandbox: a real Redis Cluster of 3 primaries and 3 replicas on 127.0.0.1"
hf sandbox up --base-port "$BASE"

step "2. The cluster as hotfix sees it (from any seed node)"
hf cluster show

step "3. The hotfix: a narrow, versioned change in a manifest ($MANIFEST)"
sed 's/^/   | /' "$MANIFEST"
values >"$STATE/before.txt"
note "The values on every node before the hotfix:"
cat "$STATE/before.txt"

step "4. Plan: the live diff per node, the waves, and whether rollback is possible"
note "Nothing is changed by a plan."
hf plan "$MANIFEST"

step "5. Apply, canary first: one replica, bake, the other replicas, bake, then the primaries"
note "apply shows the plan again, then for each node: capture the before-state into" \
     "the journal, apply with one CONFIG SET, verify from the node. Every state is" "written to the journal before its action."
hf apply "$MANIFEST" --yes

step "6. Every node now holds the hotfix"
values

step "7. The run in the journal: each step and each event, with an audit hash chain"
hf status

step "8. Roll back: newest wave first, restoring the exact values captured before"
hf rollback last

step "9. Every node is back at its original value"
values >"$STATE/after.txt"
cat "$STATE/after.txt"
if cmp -s "$STATE/before.txt" "$STATE/after.txt"; then
	note "identical to the values before the hotfix, on all 6 nodes"
else
	note "DIFFERENT from the values before the hotfix"
	exit 1
fi

step "10. Roll back again: idempotent, it asks every node and finds nothing to do"
hf rollback last

memory() {
	local p
	printf '   %-17s %-10s %-18s\n' NODE MAXMEMORY MAXMEMORY-POLICY
	for p in $PORTS; do
		printf '   127.0.0.1:%-7s %-10s %-18s\n' "$p" \
			"$(redis-cli -p "$p" CONFIG GET maxmemory | sed -n 2p)" \
			"$(redis-cli -p "$p" CONFIG GET maxmemory-policy | sed -n 2p)"
	done
}

printf '\n%s== Part 2: the guard under load%s\n' "$B" "$N"
note "So far the bakes were plain waits. Now a guard watches each bake: every second" \
     "it samples every node (INFO commandstats, errorstats, LATENCY HISTOGRAM, ...)" \
     "and judges the nodes the hotfix has already changed."

step "11. Start a client workload: hotfix load, 2000 requests/s, half GET half SET, for at most 40 s"
"$HOTFIX" --state "$STATE" load --rate 2000 --seconds 40 >"$STATE/load.out" 2>&1 &
LOAD=$!
sleep 1
kill -0 "$LOAD" 2>/dev/null || { cat "$STATE/load.out"; exit 1; }
note "load runs in the background (pid $LOAD); it is the client's view: it counts every" \
     "error and every latency the applications would see."

step "12. A BAD hotfix: maxmemory 1 byte with noeviction ($BAD)"
sed -n '/^apiVersion/,$p' "$BAD" | sed 's/^/   | /'
memory >"$STATE/mem-before.txt"
note "maxmemory and maxmemory-policy on every node before:"
cat "$STATE/mem-before.txt"
note "" "What will happen: the guard first takes a 2 s baseline of the whole cluster." \
     "Then the canary (one primary) gets the change; from then on, once a second, the" \
     "guard compares the canary's error rate (failed / all commands in that second)" \
     "against the limit 0.01, and its p99 latency against 5x the baseline's." \
     "One failing second could be a blip; two failing intervals in a row -> rollback," \
     "at once, with no prompt. Writes to a primary at its memory limit fail with OOM."
code=0
hf apply "$BAD" --yes || code=$?
if [ "$code" = 3 ]; then
	note "" "apply exited 3: 'rolled back by the guard'. Nobody typed a command: the" \
	     "verdicts above show the canary's error rate above 0.01 twice in a row, and the" \
	     "rollback that followed. The other primaries and the replicas were never touched."
else
	note "" "apply exited $code, NOT 3: the guard did not roll the bad hotfix back"
	exit 1
fi

step "13. Every node is back at its original maxmemory (0 = no limit) and policy"
memory >"$STATE/mem-after.txt"
cat "$STATE/mem-after.txt"
if cmp -s "$STATE/mem-before.txt" "$STATE/mem-after.txt"; then
	note "identical to the values before the bad hotfix, on all 6 nodes"
else
	note "DIFFERENT from the values before the bad hotfix"
	exit 1
fi

step "14. The guard's decision, as the journal recorded it (hotfix status)"
hf status last | grep -E '^(run|state|guard|  *\[|\[)|verdict|baseline|rolling back|rolled back' | head -n 20 || true

step "15. A HARMLESS hotfix under the same guard and load ($GOOD)"
note "timeout 300 on every node, primaries first: 3 s of bake after the canary, then a" \
     "final bake after the last wave (2 s: room for two failing intervals). The same" \
     "checks run each second against the same limits; they all pass, so the guard lets" \
     "the rollout go on and the hotfix is promoted."
code=0
hf apply "$GOOD" --yes || code=$?
if [ "$code" = 0 ]; then
	note "" "apply exited 0: every verdict passed, so after the canary's bake the rest of" \
	     "the cluster got the change, baked under the guard too, and the run was promoted."
else
	note "" "apply exited $code, NOT 0: the harmless hotfix was not promoted"
	exit 1
fi

step "16. Roll the harmless hotfix back too, so the sandbox ends as it started"
hf rollback last

step "17. Stop the load and read its report: the client-side truth"
stop_load
sed 's/^/   /' "$STATE/load.out"
note "" "The errors above are writes that failed with OOM. The only change that could" \
     "cause them was the bad hotfix on the canary, in the two seconds or so before the" \
     "guard rolled it back (its verdicts counted them too); every verdict of the" \
     "harmless hotfix read error_rate 0. That is the cost of a canary: a few hundred" \
     "failed writes on one shard, instead of every write on every shard."

step "18. History, then stop the sandbox (only the processes it started)"
hf history
hf sandbox down
