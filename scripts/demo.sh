#!/usr/bin/env bash
# make demo: the main job of hotfix on a local sandbox cluster, narrated.
# Starts 3 shards x 1 replica of real redis-server processes, plans and
# applies a config hotfix wave by wave, rolls it back, shows every node back
# at its original value, and stops the sandbox.
set -euo pipefail

HOTFIX=${1:-build/hotfix}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MANIFEST=$ROOT/examples/raise-timeout.yaml
STATE=$(mktemp -d /tmp/hotfix-demo.XXXXXX)
hf() { "$HOTFIX" --state "$STATE" "$@"; }
trap 'hf sandbox down >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT

if [ -t 1 ]; then B=$'\033[1m'; N=$'\033[0m'; else B=; N=; fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
note() { printf '   %s\n' "$@"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
BASE=
for b in 21001 21101 21201 21301 21401 21501; do
	busy=0
	for i in 0 1 2 3 4 5; do
		if port_in_use $((b + i)) || port_in_use $((b + i + 10000)); then busy=1; fi
	done
	[ $busy = 0 ] && { BASE=$b; break; }
done
[ -n "$BASE" ] || { echo "demo: no free ports around 21001-21506" >&2; exit 1; }
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

step "11. History, then stop the sandbox (only the processes it started)"
hf history
hf sandbox down
