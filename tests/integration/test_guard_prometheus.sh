#!/usr/bin/env bash
# The guard reading metrics from a real Prometheus (Debian's prometheus,
# scraping every second) through 'promql' checks.
#
# etcd: a 3-member cluster (etcd/cluster.sh) driven by exec hotfixes, each
# member's /metrics scraped with instance="127.0.0.1:CLIENT-PORT". The
# harmless hotfix (--snapshot-count 5000, a restart each) passes the guard
# 'etcd_server_has_leader{instance="{node}"} min 1' and the database's use
# of its quota (etcd's own "backend quota low space" alert) and is
# promoted; the harmful one (a 16 KiB backend quota: the next put raises
# the cluster-wide NOSPACE alarm) is rolled back by the quota check on its
# canary (exit 3) before the leader is touched, the alarm disarmed by its
# revert. A writer's acknowledged puts all survive. (Heartbeat 5 ms and
# election timeout 25 ms on a follower is no test of the guard: it loses
# the cluster's leader only when the restarted follower does not win the
# election it forces, and in one run of three it won.)
#
# Redis: the same kind of config hotfix on a sandbox, driven natively
# (config change, INFO metric 'evictions') and through the exec engine
# (redis-cli templates, promql on prometheus-redis-exporter's metrics, one
# exporter per node, each series labelled node="HOST:PORT"); both roll the
# harmful one back, both promote the harmless one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/prom.sh"

. "$(dirname "$0")/etcd/lib.sh"

# with_guard FILE GUARD-FILE: the manifest's 'guard: none' replaced by the guard.
with_guard() {
	awk -v g="$2" '/^  guard: none$/ { while ((getline l < g) > 0) print l; next } { print }' "$1" >"$1.tmp" &&
		mv "$1.tmp" "$1"
}

# Client ports BASE..+2, peer ports +3..+5, metrics URLs +6..+8 (served
# before a member has joined: a member that never joins is still seen).
BASE=$(free_base 9) || { bad "no free ports"; finish; }
test_begin 'a 3-member etcd cluster and a Prometheus scraping each member'
check "init" cl init "$BASE" $((BASE + 6))
check "up: each member healthy" cl up
prom_start prom-etcd $(cl targets)
check "prometheus scrapes the three members" prom_wait_up 3 30
check "each member has a leader, by its client address" eventually 20 sh -c "
	for p in $BASE $((BASE + 1)) $((BASE + 2)); do
		[ \"\$(curl -fsS '$PROM_URL/api/v1/query' --data-urlencode \"query=etcd_server_has_leader{instance=\\\"127.0.0.1:\$p\\\"}\" |
			jq -r '.data.result[0].value[1]')\" = 1 ] || exit 1
	done"
test_end
[ -n "$(cl leader)" ] && [ -n "$PROM_PID" ] || finish

cat >"$T/inv.yaml" <<YAML
apiVersion: hotfix/v1
kind: Inventory
discover: bash '$C' discover '$D'
YAML
CLUSTER="exec:$T/inv.yaml"
cat >"$T/etcd-guard.yaml" <<YAML
  guard:
    prometheus: $PROM_URL
    interval: 1s
    baseline: 3s
    failure_limit: 2
    on_unobservable: hold
    checks:
      - promql: 'etcd_server_has_leader{instance="{node}"}'
        min: 1
      - promql: 'etcd_mvcc_db_total_size_in_bytes{instance="{node}"} / etcd_server_quota_backend_bytes{instance="{node}"}'
        max: 0.8
YAML
WAVES="      - nodes: 1
        bake: 5s
      - nodes: 100%"
cl manifest "$T/good.yaml" test@example.com "$WAVES"
with_guard "$T/good.yaml" "$T/etcd-guard.yaml"
cl manifest-quota "$T/quota.yaml" test@example.com "$WAVES"
with_guard "$T/quota.yaml" "$T/etcd-guard.yaml"

python3 "$WRITER" "$(cl endpoints)" "$T/acked" w1/ 0.02 &
W=$!
EXTRA_PIDS+=("$W")

test_begin 'etcd: the harmless hotfix passes the promql guard and is promoted; its rollback too'
wait_for "the writer's first puts" 10 sh -c "[ \$(wc -l <'$T/acked') -ge 5 ]"
expect_exit 0 "plan" hf plan "$T/good.yaml" --cluster "$CLUSTER"
check "plan names the promql guard" contains "$T/out" "etcd_server_has_leader"
ev=$(lines "$D/events.log")
expect_exit 0 "apply" hf apply "$T/good.yaml" --cluster "$CLUSTER" --yes
run=$(last_run)
check "promoted" test "$(hf --json history | json_get - '.[0].state')" = promoted
check "every member runs with --snapshot-count=5000" test "$(running snapshot-count)" = "5000 5000 5000 "
check "three restarts" test "$(restarted "$ev" | wc -w)" = 3
expect_exit 0 "status" hf status "$run"
check "the journal has passing verdicts of the promql check" grep -q "pass.*etcd_server_has_leader\|etcd_server_has_leader.*pass" "$T/out"
expect_exit 0 "rollback" hf rollback "$run"
check "every member runs with the old value again" test "$(running snapshot-count)" = "100000 100000 100000 "
test_end

test_begin 'etcd: a backend quota below the database is rolled back by the promql guard on its canary (exit 3), the leader untouched'
check "every member healthy first" eventually 30 all_healthy
LEADER0=$(cl leader)
ev=$(lines "$D/events.log")
expect_exit 3 "apply" hf apply "$T/quota.yaml" --cluster "$CLUSTER" --yes
run=$(last_run)
canary=$(restarted "$ev" | awk '{ print $1 }')
check "a follower was the canary ($canary, the leader was $LEADER0)" test -n "$canary" -a "$canary" != "$LEADER0"
check "it says so, naming the check and its value" grep -q \
	"rolled back by the guard: .*etcd_mvcc_db_total_size_in_bytes.* above max 0.8" "$T/err"
check "the run is rolled back" test "$(hf --json history | json_get - '.[0].state')" = rolled_back
check "only the canary was restarted, by the apply and by the revert" test "$(restarted "$ev")" = "$canary $canary "
check "the leader ($LEADER0) was never moved nor restarted" not grep -q "$LEADER0" <(events_since "$ev")
check "every member runs with the old quota" test "$(running quota-backend-bytes)" = "0 0 0 "
check "no alarm is left" test -z "$(etcdctl --endpoints="$(cl endpoints)" alarm list)"
check "every member healthy again" eventually 30 all_healthy
hf status "$run" >"$T/status.txt" 2>&1
check "status shows the failing verdicts" grep -q "fail.*etcd_mvcc_db_total_size_in_bytes" "$T/status.txt"
test_end

test_begin 'etcd: every acknowledged put survived'
check "the writer still writes" eventually 20 sh -c "[ \$(wc -l <'$T/acked') -gt $(lines "$T/acked") ]"
stop_pid "$W"
check "every acknowledged put is in etcd ($(lines "$T/acked") keys)" all_acked_present "$T/acked" w1/
test_end

prom_stop
cl down

# Redis: a sandbox of 2 shards x 1 replica under load, one exporter per
# node, one Prometheus; the same hotfixes natively and through exec.
sandbox_up redis --shards 2 --replicas 1 || finish
RPORTS=$(ports_of "$BASE" 4)
EBASE=$(free_base 4) || { bad "no free ports"; finish; }
targets=()
i=0
for p in $RPORTS; do
	prometheus-redis-exporter -redis.addr "redis://127.0.0.1:$p" \
		-web.listen-address "127.0.0.1:$((EBASE + i))" >"$T/exporter-$p.log" 2>&1 &
	EXTRA_PIDS+=($!)
	targets+=("127.0.0.1:$((EBASE + i)),node=127.0.0.1:$p")
	i=$((i + 1))
done
test_begin 'redis: one exporter per node, scraped by Prometheus, each series labelled with its node'
prom_start prom-redis "${targets[@]}"
check "prometheus scrapes the four exporters" prom_wait_up 4 30
check "each node's redis_up, by its node label" eventually 20 sh -c "[ \"\$(curl -fsS '$PROM_URL/api/v1/query' --data-urlencode 'query=count(redis_up{node=~\"127.0.0.1:.*\"} == 1)' | jq -r '.data.result[0].value[1]')\" = 4 ]"
test_end
{
	printf 'apiVersion: hotfix/v1\nkind: Inventory\nnodes:\n'
	i=0
	for p in $RPORTS; do
		role=primary
		[ "$i" -ge 2 ] && role=replica
		printf '  - {id: n%d, host: 127.0.0.1, port: %d, group: s%d, role: %s}\n' $((i + 1)) "$p" $((i % 2 + 1)) "$role"
		i=$((i + 1))
	done
} >"$T/redis-inv.yaml"
RCLUSTER="exec:$T/redis-inv.yaml"
PARAMS="maxmemory maxmemory-policy timeout"
start_load 600 1000
snapshot "$T/redis.before" "$RPORTS" $PARAMS

# The waves and guards: the canary is a primary (replicas do not evict).
# The limit evicts the load's keys in a burst, then seldom: one failing
# interval rolls back, the same on both paths.
rollout() {
	cat <<YAML
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: 5s
      - nodes: 100%
YAML
}
native_guard() {
	cat <<YAML
  guard:
    interval: 1s
    baseline: 2s
    failure_limit: 1
    checks:
      - metric: evictions
        max: 0
YAML
}
prom_guard() {
	cat <<YAML
  guard:
    prometheus: $PROM_URL
    interval: 1s
    baseline: 2s
    failure_limit: 1
    checks:
      - promql: 'increase(redis_evicted_keys_total{node="{node}"}[5s])'
        max: 0
YAML
}
# native_manifest FILE NAME KEY VALUE [KEY VALUE]
native_manifest() {
	local file=$1 name=$2
	shift 2
	{
		printf 'apiVersion: hotfix/v1\nkind: Hotfix\nmetadata: {name: %s, version: 1, owner: test@example.com, problem: redis config}\n' "$name"
		printf 'spec:\n  changes:\n    - config:\n'
		while [ $# -gt 0 ]; do printf '        %s: "%s"\n' "$1" "$2"; shift 2; done
		rollout
		native_guard
	} >"$file"
}
# exec_manifest FILE NAME KEY VALUE [KEY VALUE]: the same through redis-cli.
exec_manifest() {
	local file=$1 name=$2 keys= sets= want= reverts= n=1
	shift 2
	while [ $# -gt 0 ]; do
		keys="$keys $1"
		sets="$sets $1 $2"
		want="$want${want:+ }$2"
		reverts="$reverts $1 \"\$$n\""
		n=$((n + 1))
		shift 2
	done
	local capture="for k in$keys; do redis-cli -h {host} -p {port} CONFIG GET \"\$k\" | sed -n 2p; done | paste -sd' '"
	{
		cat <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $name, version: 1, owner: test@example.com, problem: redis config}
spec:
  changes:
    - exec:
        check: redis-cli -h {host} -p {port} PING | grep -q PONG
        capture: >-
          $capture
        apply: redis-cli -h {host} -p {port} CONFIG SET$sets | grep -q OK
        verify: >-
          v=\$($capture);
          if [ {side} = after ]; then [ "\$v" = "$want" ]; else [ "\$v" = "\$(cat)" ]; fi
        revert: >-
          set -- \$(cat); redis-cli -h {host} -p {port} CONFIG SET$reverts | grep -q OK
        timeout: 10s
YAML
		rollout
		prom_guard
	} >"$file"
}
# A limit 300 kB under what the first primary uses once the load's keys are
# there (an empty node uses ~1.9 MB, the load's keys ~0.5 MB more): the
# load's writes evict, again and again; far below, nothing could be evicted
# and every write (hotfix's lease too) would fail with OOM instead.
wait_for "the load's keys" 20 sh -c "[ \$(redis-cli -p $BASE DBSIZE) -ge 800 ]"
LIMIT=$(($(rcli -p "$BASE" INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p') - 300000))
BAD="maxmemory $LIMIT maxmemory-policy allkeys-lru"
GOOD="timeout 300"
native_manifest "$T/r-bad-native.yaml" redis-maxmemory $BAD
exec_manifest "$T/r-bad-exec.yaml" redis-maxmemory-exec $BAD
native_manifest "$T/r-good-native.yaml" redis-timeout $GOOD
exec_manifest "$T/r-good-exec.yaml" redis-timeout-exec $GOOD
back_as_before() { snapshot "$T/redis.now" "$RPORTS" $PARAMS && test_cmp "$T/redis.before" "$T/redis.now"; }
evictions_now() { local p; for p in $RPORTS; do rcli -p "$p" INFO stats | sed -n 's/^evicted_keys:\([0-9]*\).*/\1/p'; done | paste -sd+ | bc; }

test_begin 'redis: the harmful maxmemory hotfix is rolled back by the guard, natively and through exec + promql'
ev0=$(evictions_now)
expect_exit 3 "native apply (guard: evictions max 0)" hf apply "$T/r-bad-native.yaml" --cluster "$SEED" --yes
check "it names the metric" contains "$T/err" "evictions"
check "every node at its old config" back_as_before
check "the canary did evict (INFO: $ev0 -> $(evictions_now))" test "$(evictions_now)" -gt "$ev0"
check "Prometheus saw those evictions too" eventually 20 prom_has 'max(redis_evicted_keys_total)' -gt 0
check "and, once the evictions are older than its window, none" eventually 30 prom_has 'max(increase(redis_evicted_keys_total[5s]))' -eq 0
expect_exit 3 "exec apply (guard: promql increase(redis_evicted_keys_total) max 0)" hf apply "$T/r-bad-exec.yaml" --cluster "$RCLUSTER" --yes
check "it names the promql check" contains "$T/err" "redis_evicted_keys_total"
check "every node at its old config" back_as_before
hf --json history >"$T/hist.json"
check "both runs rolled back" json_true "$T/hist.json" '.[0].state == "rolled_back" and .[1].state == "rolled_back"'
test_end

test_begin 'redis: the harmless timeout hotfix is promoted both ways'
check "no eviction in the last 5 s first" eventually 30 prom_has 'max(increase(redis_evicted_keys_total[5s]))' -eq 0
expect_exit 0 "native apply" hf apply "$T/r-good-native.yaml" --cluster "$SEED" --yes
check "every node holds timeout 300" test "$(for p in $RPORTS; do cfg "$p" timeout; done | paste -sd' ')" = "300 300 300 300"
expect_exit 0 "native rollback" hf rollback "$(last_run)"
check "every node at its old config" back_as_before
expect_exit 0 "exec apply" hf apply "$T/r-good-exec.yaml" --cluster "$RCLUSTER" --yes
check "every node holds timeout 300" test "$(for p in $RPORTS; do cfg "$p" timeout; done | paste -sd' ')" = "300 300 300 300"
expect_exit 0 "exec rollback" hf rollback "$(last_run)"
check "every node at its old config" back_as_before
test_end
stop_load
prom_stop

finish
