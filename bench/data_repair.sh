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
# Issue 16 adds, in the same run and on the same data:
#
#   unsafe C repair  bench/unsafe_repair.c (bench_unsafe_repair): the same
#                    repair with no safety at all (SCAN, pipelined HGET,
#                    pipelined HSET; a thread per primary), in the apply
#                    direction and back (plan legacy where plan is basic),
#                    right after hotfix's rollback: keys changed / s
#
# and for every phase the servers' CPU per changed key (INFO cpu, all six
# nodes, primaries and replicas apart) and where it goes by command (INFO
# commandstats, before/after), and the journal's bytes per changed key:
# journal.db + its WAL after apply minus before; the pages of data_keys
# and its index (dbstat); and hotfix's own count (status: key + dump +
# digests + 8 per record). Goals (issue 16): apply >= 0.8x the unsafe C
# repair's keys/s; apply's server CPU per changed key <= 1.1x the unsafe
# C repair's; rollback >= 0.8x the unsafe C repair back; apply >= 5x the
# redis-py repair; journal <= 48 bytes per changed key.
#
# The order leaves the data as it was for each measured repair: hotfix
# apply, rollback, unsafe C apply, unsafe C back, raw HSET (other keys),
# the floor script (another field), the redis-py repair.
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
# The unsafe C repair, built in hotfix's build directory (or build/ when
# hotfix is not in one: BUILD_DIR= to say which).
BUILD_DIR=${BUILD_DIR:-$(dirname "$HOTFIX")}
[ -e "$BUILD_DIR/CMakeCache.txt" ] || BUILD_DIR=$HERE/../build
cmake --build "$BUILD_DIR" --target bench_unsafe_repair >/dev/null
UNSAFE=$BUILD_DIR/bench_unsafe_repair
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
PORTS=$(seq "$base" $((base + 5)))

# snap NAME: the six nodes' role, CPU seconds (INFO cpu, user + system) and
# microseconds per command (INFO commandstats), into $T/NAME.json.
cat >"$T/snap.py" <<'EOF'
import sys, json, redis
out = {}
for p in sys.argv[2:]:
    r = redis.Redis(host='127.0.0.1', port=int(p))
    cpu = r.info('cpu')
    out[p] = {'role': r.info('replication')['role'],
              'cpu': cpu['used_cpu_user'] + cpu['used_cpu_sys'],
              'cmd': {k[8:]: v['usec'] for k, v in r.info('commandstats').items()},
              'calls': {k[8:]: v['calls'] for k, v in r.info('commandstats').items()}}
json.dump(out, open(sys.argv[1], 'w'))
EOF
snap() { $PY "$T/snap.py" "$T/$1.json" $PORTS; }
# cpu_us A B KEYS [master|slave]: the servers' CPU between snapshots A and B,
# in microseconds per key (all six nodes, or those of one role).
# cmd_us A B KEYS ROLE: per command, the microseconds per key that
# commandstats counted between A and B on the nodes of ROLE, largest first
# (commands a script calls count there too, inside the script's own time).
cat >"$T/diff.py" <<'EOF'
import sys, json
what, a, b, keys = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), float(sys.argv[4])
role = sys.argv[5] if len(sys.argv) > 5 else None
nodes = [p for p in b if role is None or b[p]['role'] == role]
if what == 'cpu':
    print('%.2f' % (sum(b[p]['cpu'] - a[p]['cpu'] for p in nodes) * 1e6 / keys))
else:
    us, calls = {}, {}
    for p in nodes:
        for c, v in b[p]['cmd'].items():
            d = v - a[p]['cmd'].get(c, 0)
            if d > 0:
                us[c] = us.get(c, 0) + d
                calls[c] = calls.get(c, 0) + b[p]['calls'][c] - a[p]['calls'].get(c, 0)
    top = sorted(us.items(), key=lambda kv: -kv[1])
    # DETAIL=1: the calls per changed key too, in brackets
    detail = len(sys.argv) > 6 and sys.argv[6] == '1'
    print(', '.join('%s %.2f%s' % (c, v / keys, ' [%.3f]' % (calls[c] / keys) if detail else '')
                    for c, v in top if v / keys >= 0.05) or '-')
EOF
cpu_us() { $PY "$T/diff.py" cpu "$T/$1.json" "$T/$2.json" "$3" ${4:-}; }
cmd_us() { $PY "$T/diff.py" cmd "$T/$1.json" "$T/$2.json" "$3" "$4" "${DETAIL:-0}"; }
# fsize FILE...: their bytes together (0 for a file that is not there).
fsize() { local f s=0; for f; do [ -e "$f" ] && s=$((s + $(stat -c %s "$f"))); done; echo "$s"; }

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

J=$STATE/journal.db
jfiles0=$(fsize "$J" "$J-wal")
snap s0
t0=$(now_ms)
hf -q apply "$T/fix.yaml" --cluster "$SEED" --yes >/dev/null
t1=$(now_ms)
snap s1
# The journal as apply left it: its files, then (read-only) the pages of
# data_keys and its primary key index, and the records' average parts.
jfiles1=$(fsize "$J" "$J-wal")
jpages=$(sqlite3 "file:$J?mode=ro" "SELECT sum(pgsize) FROM dbstat WHERE name IN
	('data_keys', 'sqlite_autoindex_data_keys_1')" 2>/dev/null || echo 0)
jsplit=$(sqlite3 "file:$J?mode=ro" "SELECT group_concat(name || ' ' || b, ', ') FROM (SELECT name,
	sum(pgsize) AS b FROM dbstat WHERE name IN ('data_keys', 'sqlite_autoindex_data_keys_1')
	GROUP BY name)" 2>/dev/null || echo -)
jparts=$(sqlite3 "file:$J?mode=ro" "SELECT printf('run %.1f, key %.1f, dump %.1f, before_digest %.1f, after_digest %.1f',
	avg(length(run)), avg(length(key)), avg(length(dump)), avg(length(before_digest)),
	avg(length(after_digest))) FROM data_keys" 2>/dev/null || echo -)
snap s2
t2=$(now_ms)
hf -q rollback last >/dev/null
t3=$(now_ms)
snap s3
keys=$(hf --json status last | $PY -c 'import json,sys; print(json.load(sys.stdin)["keys"]["recorded"])')
jbytes=$(hf --json status last | $PY -c 'import json,sys; print(json.load(sys.stdin)["keys"]["journal_bytes"])')
apply_s=$(echo "($t1 - $t0) / 1000" | bc -l)
rollback_s=$(echo "($t3 - $t2) / 1000" | bc -l)
apply_kps=$(echo "$keys / $apply_s" | bc -l)
rollback_kps=$(echo "$keys / $rollback_s" | bc -l)

# The unsafe C repair on the same data, there and back.
unsafe() {   # unsafe [--back]: "changed seconds" of one run
	local out
	out=$("$UNSAFE" "$@" "$SEED") || { echo "data_repair: bench_unsafe_repair $*: $out" >&2; exit 1; }
	echo "$out" | awk '{print $4, $8}'
}
snap u0
unsafe >"$T/ua"   # not in $(...): its exit must stop the script
read -r ua_keys ua_s <"$T/ua"
snap u1
unsafe --back >"$T/ub"
read -r ub_keys ub_s <"$T/ub"
snap u2
# Each repair must find the data as the first found it: every key hotfix
# changed, changed again.
[ "$ua_keys" = "$keys" ] && [ "$ub_keys" = "$keys" ] ||
	echo "data_repair: WARNING: hotfix changed $keys keys, the unsafe C repair $ua_keys and back $ub_keys" >&2
ua_kps=$(echo "$ua_keys / $ua_s" | bc -l)
ub_kps=$(echo "$ub_keys / $ub_s" | bc -l)

snap r0
raw=$(redis-benchmark -p "${SEED##*:}" --cluster -P 32 -n 1000000 -r 1000000 -q -t hset 2>/dev/null |
	tr '\r' '\n' | sed -n 's/^HSET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
snap r1
t4=$(now_ms)
floor_keys=$($PY "$T/floor.py" "${SEED##*:}")
t5=$(now_ms)
snap r2
floor_s=$(echo "($t5 - $t4) / 1000" | bc -l)

read -r py_keys py_s <<<"$($PY "$T/repair.py" "${SEED##*:}")"
snap r3
py_kps=$(echo "$py_keys / $py_s" | bc -l)

row() {   # row WHAT KEYS SECONDS KEYS/S A B [per-what]: one line of the table
	printf '%-36s %8s %8s %10.0f %8s %8s %8s\n' "$1" "$2" "$3" "$4" \
		"$(cpu_us "$5" "$6" "$7")" "$(cpu_us "$5" "$6" "$7" master)" "$(cpu_us "$5" "$6" "$7" slave)"
}
echo "N=$N hashes; server CPU in us per changed key (per request for raw HSET), all six nodes / primaries / replicas"
printf '%-36s %8s %8s %10s %8s %8s %8s\n' what keys seconds keys_per_s srv_us prim_us repl_us
row "hotfix apply (with before-images)" "$keys" "$(printf %.2f "$apply_s")" "$apply_kps" s0 s1 "$keys"
row "hotfix rollback (conflict-checked)" "$keys" "$(printf %.2f "$rollback_s")" "$rollback_kps" s2 s3 "$keys"
row "unsafe C repair (apply direction)" "$ua_keys" "$(printf %.2f "$ua_s")" "$ua_kps" u0 u1 "$ua_keys"
row "unsafe C repair (back)" "$ub_keys" "$(printf %.2f "$ub_s")" "$ub_kps" u1 u2 "$ub_keys"
row "raw HSET, redis-benchmark -P 32" 1000000 - "$raw" r0 r1 1000000
row "floor script (atomic before-image)" "$floor_keys" "$(printf %.2f "$floor_s")" \
	"$(echo "$floor_keys / $floor_s" | bc -l)" r1 r2 "$floor_keys"
row "redis-py repair with before-images" "$py_keys" "$(printf %.2f "$py_s")" "$py_kps" r2 r3 "$py_keys"
echo
echo "where the servers' time goes: INFO commandstats, us per changed key (a script's"
echo "own commands count both by name and inside the script's eval/evalsha; DETAIL=1:"
echo "[calls per changed key])"
for ph in "hotfix apply:s0:s1:$keys" "hotfix rollback:s2:s3:$keys" \
	"unsafe C apply:u0:u1:$ua_keys" "unsafe C back:u1:u2:$ub_keys"; do
	IFS=: read -r name a b k <<<"$ph"
	printf '  %-16s primaries: %s\n' "$name" "$(cmd_us "$a" "$b" "$k" master)"
	printf '  %-16s replicas:  %s\n' "" "$(cmd_us "$a" "$b" "$k" slave)"
done
echo
per() { echo "$1 / $2" | bc -l; }
jpages=${jpages:-0}
jfile_pk=$(per "$((jfiles1 - jfiles0))" "$keys")
jpage_pk=$(per "$jpages" "$keys")
jbytes_pk=$(per "$jbytes" "$keys")
printf 'journal after apply, per changed key (%d keys):\n' "$keys"
printf '  journal.db + WAL grew by %d bytes   %6.1f bytes/key\n' "$((jfiles1 - jfiles0))" "$jfile_pk"
printf '  data_keys + index pages  %d bytes   %6.1f bytes/key (dbstat)\n' "$jpages" "$jpage_pk"
printf '  hotfix status journal_bytes %d     %6.1f bytes/key (key + dump + digests + 8)\n' "$jbytes" "$jbytes_pk"
printf '  of which (bytes): %s\n' "$jsplit"
printf '  a record on average: %s bytes\n' "$jparts"
echo
apply_us=$(cpu_us s0 s1 "$keys")
rollback_us=$(cpu_us s2 s3 "$keys")
ua_us=$(cpu_us u0 u1 "$ua_keys")
ub_us=$(cpu_us u1 u2 "$ub_keys")
goal() {   # goal TEXT VALUE OP LIMIT
	local ok=no
	[ "$(echo "$2 $3 $4" | bc -l)" = 1 ] && ok=yes
	printf '%-44s %8.3f   (goal %s %s: %s)\n' "$1" "$2" "$3" "$4" "$ok"
}
echo "issue 16 goals:"
goal "apply keys/s / unsafe C keys/s" "$(per "$apply_kps" "$ua_kps")" '>=' 0.8
goal "apply server us/key / unsafe C's" "$(per "$apply_us" "$ua_us")" '<=' 1.1
goal "rollback keys/s / unsafe C back keys/s" "$(per "$rollback_kps" "$ub_kps")" '>=' 0.8
goal "apply keys/s / redis-py keys/s" "$(per "$apply_kps" "$py_kps")" '>=' 5
goal "journal bytes/key, files (db + WAL)" "$jfile_pk" '<=' 48
goal "journal bytes/key, data_keys pages" "$jpage_pk" '<=' 48
goal "journal bytes/key, hotfix's count" "$jbytes_pk" '<=' 48
printf '%-44s %8.3f   (no goal)\n' "rollback server us/key / unsafe C back's" "$(per "$rollback_us" "$ub_us")"
echo
echo "issue 4 goals:"
goal "apply / raw HSET" "$(per "$apply_kps" "$raw")" '>=' 0.5
goal "rollback / raw HSET" "$(per "$rollback_kps" "$raw")" '>=' 0.5
goal "apply / redis-py" "$(per "$apply_kps" "$py_kps")" '>=' 10
printf '%-44s %8.3f   (the most any atomic before-image could reach here,\n' \
	"floor script / raw HSET, server CPU" "$(per "$(cpu_us r0 r1 1000000)" "$(cpu_us r1 r2 "$floor_keys")")"
echo '                                                          were the client and the journal free)'
