#!/usr/bin/env bash
# Benchmark: a data hotfix on a 3x1 sandbox with N hashes (default
# 1,000,000), half of them matching (user:<i> with plan=legacy for even i):
#
#   hotfix apply     MATCH user:* where plan = legacy, set plan = basic, with
#                    before-images (one wave, guard none): keys changed / s
#   hotfix rollback  the same keys restored, conflict-checked: keys / s
#
# next to, in the same run and on the same cluster:
#
#   raw HSET         redis-benchmark --cluster -P 32 -t hset (1,000,000
#                    requests over 3 primaries): requests / s
#   redis-py repair  a hand-written repair that keeps before-images (SCAN,
#                    then pipelined HGET + DUMP + PTTL per key, HSET where the
#                    plan matches; /usr/bin/python3 with Debian's python3-redis),
#                    run on the same data after hotfix's rollback: keys / s
#
# Goals (issue 4): apply >= 0.5x raw HSET; rollback >= 0.5x raw HSET;
# apply >= 10x the redis-py repair.
#
# Where the ceiling is: the servers' CPU (INFO cpu, all six nodes) per key
# of each phase, and of a floor script, the least an atomic before-image
# costs on the server: per batch of scanned keys, one script doing HGET
# (the filter), DUMP, HSET, DUMP and returning the before-images, with no
# digest, no stash and no journal (it sets another field, so the data still
# matches for the redis-py run).
#
#   bash bench/data_repair.sh [path/to/hotfix]      (N=1000000 by default)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
HOTFIX=${1:-build/hotfix}
HOTFIX=$(cd "$(dirname "$HOTFIX")" && pwd)/$(basename "$HOTFIX")
N=${N:-1000000}
T=$(mktemp -d /tmp/hotfix-bench.XXXXXX)
STATE=$T/state
hf() { "$HOTFIX" --state "$STATE" "$@"; }
cleanup() {
	hf sandbox down --dir "$T/sb" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
PY=/usr/bin/python3
# The peer baseline needs Debian's python3-redis: installed when missing.
$PY -c 'import redis' 2>/dev/null || apt-get install -y -q python3-redis >/dev/null ||
	{ echo "data_repair: needs python3-redis (apt-get install python3-redis)" >&2; exit 1; }

base=$(free_base 6)
hf sandbox up --dir "$T/sb" --base-port "$base" >"$T/up" 2>&1 || { cat "$T/up"; exit 1; }
SEED=$(tail -n 1 "$T/up")
# cpu_ms: CPU milliseconds (user + system) used so far by the six nodes.
cpu_ms() {
	local p
	for p in $(seq "$base" $((base + 5))); do redis-cli -p "$p" INFO cpu; done |
		tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ {s += $2} END {printf "%d\n", s * 1000}'
}

# The data: written per primary in pipelines, keys routed by slot.
cat >"$T/gen.py" <<'EOF'
import sys, redis
from redis.cluster import RedisCluster, key_slot
port, n = int(sys.argv[1]), int(sys.argv[2])
rc = RedisCluster(host='127.0.0.1', port=port)
owner = {}
conns = {}
for s in range(16384):
    nd = rc.nodes_manager.get_node_from_slot(s)
    owner[s] = (nd.host, nd.port)
    if owner[s] not in conns:
        conns[owner[s]] = redis.Redis(host=nd.host, port=nd.port)
pipes = {k: c.pipeline(transaction=False) for k, c in conns.items()}
for i in range(n):
    key = "user:%d" % i
    p = pipes[owner[key_slot(key.encode())]]
    p.hset(key, mapping={"plan": "legacy" if i % 2 == 0 else "pro", "name": "user %d" % i, "score": str(i)})
    if len(p) >= 5000:
        p.execute()
for p in pipes.values():
    p.execute()
EOF

# The hand-written repair: per primary, SCAN; per batch one pipeline of
# HGET + DUMP + PTTL for every key (the before-images, kept in memory), then
# one pipeline of HSET for the keys that match.
cat >"$T/repair.py" <<'EOF'
import sys, time, redis
from redis.cluster import RedisCluster
port = int(sys.argv[1])
rc = RedisCluster(host='127.0.0.1', port=port)
before = {}
changed = 0
t0 = time.monotonic()
for nd in rc.get_primaries():
    r = redis.Redis(host=nd.host, port=nd.port)
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor=cursor, match="user:*", count=1000)
        if keys:
            p = r.pipeline(transaction=False)
            for k in keys:
                p.hget(k, "plan")
                p.dump(k)
                p.pttl(k)
            res = p.execute()
            w = r.pipeline(transaction=False)
            for i, k in enumerate(keys):
                if res[3 * i] == b"legacy":
                    before[k] = (res[3 * i + 1], res[3 * i + 2])
                    w.hset(k, "plan", "basic")
            changed += len(w)
            w.execute()
        if cursor == 0:
            break
print("%d %.3f" % (changed, time.monotonic() - t0))
EOF

# The floor: the atomic capture and change alone, batched like hotfix's.
cat >"$T/floor.py" <<'EOF'
import sys, redis
from redis.cluster import RedisCluster
rc = RedisCluster(host='127.0.0.1', port=int(sys.argv[1]))
code = """#!lua flags=allow-cross-slot-keys
local out = {}
for i = 1, #ARGV do
  local k = ARGV[i]
  if redis.call('HGET', k, 'plan') == 'legacy' then
    local d = redis.call('DUMP', k)
    redis.call('HSET', k, 'floor', '1')
    redis.call('DUMP', k)
    out[#out + 1] = d
  else
    out[#out + 1] = ''
  end
end
return out
"""
changed = 0
for nd in rc.get_primaries():
    r = redis.Redis(host=nd.host, port=nd.port)
    sha = r.script_load(code)
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor=cursor, match="user:*", count=1000)
        if keys:
            changed += sum(1 for v in r.evalsha(sha, 0, *keys) if v)
        if cursor == 0:
            break
print(changed)
EOF

cat >"$T/fix.yaml" <<'EOF'
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: plan-repair, version: 1, owner: bench@example.com, problem: legacy plans must be basic}
spec:
  changes:
    - data:
        match: "user:*"
        where: {field: plan, equals: legacy}
        set: {plan: basic}
        batch: 1000
  rollout:
    waves:
      - keys: 100%
  guard: none
EOF

echo "writing $N hashes..."
$PY "$T/gen.py" "${SEED##*:}" "$N"

c0=$(cpu_ms)
t0=$(now_ms)
hf -q apply "$T/fix.yaml" --cluster "$SEED" --yes >/dev/null
t1=$(now_ms)
c1=$(cpu_ms)
hf -q rollback last >/dev/null
t2=$(now_ms)
c2=$(cpu_ms)
keys=$(hf --json status last | $PY -c 'import json,sys; print(json.load(sys.stdin)["keys"]["recorded"])')
jbytes=$(hf --json status last | $PY -c 'import json,sys; print(json.load(sys.stdin)["keys"]["journal_bytes"])')
apply_s=$(echo "($t1 - $t0) / 1000" | bc -l)
rollback_s=$(echo "($t2 - $t1) / 1000" | bc -l)
apply_kps=$(echo "$keys / $apply_s" | bc -l)
rollback_kps=$(echo "$keys / $rollback_s" | bc -l)

c3=$(cpu_ms)
raw=$(redis-benchmark -p "${SEED##*:}" --cluster -P 32 -n 1000000 -r 1000000 -q -t hset 2>/dev/null |
	tr '\r' '\n' | sed -n 's/^HSET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
c4=$(cpu_ms)
floor_keys=$($PY "$T/floor.py" "${SEED##*:}")
c5=$(cpu_ms)

read -r py_keys py_s <<<"$($PY "$T/repair.py" "${SEED##*:}")"
py_kps=$(echo "$py_keys / $py_s" | bc -l)

printf '%-34s %10s %9s %12s\n' what keys seconds keys_per_s
printf '%-34s %10d %9.2f %12.0f\n' "hotfix apply (with before-images)" "$keys" "$apply_s" "$apply_kps"
printf '%-34s %10d %9.2f %12.0f\n' "hotfix rollback (conflict-checked)" "$keys" "$rollback_s" "$rollback_kps"
printf '%-34s %10s %9s %12.0f\n' "raw HSET, redis-benchmark -P 32" 1000000 - "$raw"
printf '%-34s %10d %9.2f %12.0f\n' "redis-py repair with before-images" "$py_keys" "$py_s" "$py_kps"
echo
printf 'journal: %d bytes for %d keys (%.0f bytes per key)\n' "$jbytes" "$keys" "$(echo "$jbytes / $keys" | bc -l)"
printf 'apply / raw HSET     %.3f   (goal >= 0.5)\n' "$(echo "$apply_kps / $raw" | bc -l)"
printf 'rollback / raw HSET  %.3f   (goal >= 0.5)\n' "$(echo "$rollback_kps / $raw" | bc -l)"
printf 'apply / redis-py     %.2f    (goal >= 10)\n' "$(echo "$apply_kps / $py_kps" | bc -l)"
echo
# Server CPU per key changed (per request for raw HSET), all six nodes.
us() { echo "($1) * 1000 / $2" | bc -l; }
apply_us=$(us "$c1 - $c0" "$keys")
rollback_us=$(us "$c2 - $c1" "$keys")
raw_us=$(us "$c4 - $c3" 1000000)
floor_us=$(us "$c5 - $c4" "$floor_keys")
printf 'server CPU per key:  apply %.2f us, rollback %.2f us, raw HSET %.2f us, floor script %.2f us\n' \
	"$apply_us" "$rollback_us" "$raw_us" "$floor_us"
printf 'floor / raw HSET     %.3f   (the most any atomic before-image could reach here,\n' \
	"$(echo "$raw_us / $floor_us" | bc -l)"
echo '                             were the client and the journal free)'
