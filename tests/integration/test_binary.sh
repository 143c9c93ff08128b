#!/usr/bin/env bash
# Binary hotfixes: the two Debian builds of redis-server 7.0.15 (deb12u7 and
# deb12u10) rolled forward and back on a 3x1 cluster under load, each node
# reporting the expected build after each step and every acknowledged write
# found afterwards; kill -9 of hotfix with a node stopped, then resume or
# roll back; the restart template; refusals before anything is touched.
. "$(dirname "$0")/lib.sh"

test_begin 'the two Debian builds of redis-server 7.0.15'
U7=$("$HF_SOURCE_DIR/scripts/redis-builds.sh" u7) && U10=$("$HF_SOURCE_DIR/scripts/redis-builds.sh" u10)
check "the two Debian builds are fetched" test -x "${U7:-/nonexistent}" -a -x "${U10:-/nonexistent}"
[ -x "${U7:-}" ] && [ -x "${U10:-}" ] || finish
B7=$("$U7" --version | sed -n 's/.*build=\([0-9a-f]*\).*/\1/p')
B10=$("$U10" --version | sed -n 's/.*build=\([0-9a-f]*\).*/\1/p')
check "the two builds differ" test -n "$B7" -a -n "$B10" -a "$B7" != "$B10"
test_end

build_of() { rcli -p "$1" INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^redis_build_id://p'; }
role_of() { rcli -p "$1" ROLE 2>/dev/null | head -n 1; }
# all_on BUILD PORTS...: every node answers with BUILD.
all_on() {
	local want=$1 p
	shift
	for p in "$@"; do [ "$(build_of "$p")" = "$want" ] || return 1; done
}
# one_primary_per_shard PORTS...: as many primaries as shards, all up.
primaries() { local p n=0; for p in "$@"; do [ "$(role_of "$p")" = master ] && n=$((n + 1)); done; echo $n; }
# synced PORTS...: every replica's link is up.
synced() {
	local p
	for p in "$@"; do
		[ "$(role_of "$p")" = slave ] || continue
		rcli -p "$p" INFO replication | tr -d '\r' | grep -q '^master_link_status:up' || return 1
	done
}

bin_manifest() {   # bin_manifest FILE PATH [EXTRA-LINES] [GUARD]
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: redis-u10, version: 1, owner: test@example.com, problem: crash fixed in deb12u10}
spec:
  changes:
    - binary:
        path: $2
${3:-}
  rollout:
    waves:
      - nodes: 1
      - nodes: 100%
${4:-  guard: none}
YAML
}

sandbox_up c3 --shards 3 --replicas 1 --redis-server "$U7" || finish
NODES=$(ports_of "$BASE" 6)
test_begin 'a sandbox on the u7 build; plan lists both builds for every node and touches nothing'
# shellcheck disable=SC2086
check "the sandbox runs the deb12u7 build" all_on "$B7" $NODES
mkdir -p "$T/m"
bin_manifest "$T/m/u10.yaml" "$U10"

# ---- plan: the diff, nothing touched ------------------------------------
expect_exit 0 "plan the upgrade" hf plan "$T/m/u10.yaml" --cluster "$SEED"
check "plan lists every node with both builds" test "$(grep -c "build $B7) -> .*build $B10" "$T/out")" = 6
check "plan says primaries fail over first" test "$(grep -c "fails over to a replica first" "$T/out")" = 3
# shellcheck disable=SC2086
check "plan changed nothing" all_on "$B7" $NODES
test_end

# ---- forward under load, the default guard watching, a write checker ----
test_begin 'the u10 build rolled out under load, the guard watching'
bin_manifest "$T/m/u10-guarded.yaml" "$U10" "" "  guard:
    baseline: 2s
    interval: 500ms"
"$HOTFIX" --state "$STATE" load --cluster "$SEED" --seconds 600 --rate 2000 --check-writes --json \
	>"$T/load1.json" 2>"$T/load1.err" &
LOAD=$!
EXTRA_PIDS+=("$LOAD")
expect_exit 0 "apply the u10 build under load" hf apply "$T/m/u10-guarded.yaml" --cluster "$SEED" --yes
# shellcheck disable=SC2086
check "every node reports the u10 build" all_on "$B10" $NODES
# shellcheck disable=SC2086
check "three primaries, one per shard" test "$(primaries $NODES)" = 3
# shellcheck disable=SC2086
wait_for "replicas to be in sync" 30 synced $NODES
RUN1=$(last_run)
expect_exit 0 "status of the promoted run" hf status "$RUN1"
check "status says promoted" contains "$T/out" "promoted"
expect_exit 0 "status --json of the promoted run" hf --json status "$RUN1"
check "every step verified its node on the u10 build (journaled per step)" json_true "$T/out" \
	'(.steps | length) == 6 and all(.steps[]; .state == "verified" and .after.build == $b10 and .before.build == $b7)' \
	--arg b7 "$B7" --arg b10 "$B10"
test_end

# ---- back under the same load -------------------------------------------
test_begin 'rolled back to u7 under the same load, no acknowledged write lost'
expect_exit 0 "roll back to the u7 build under load" hf rollback "$RUN1"
# shellcheck disable=SC2086
check "every node reports the u7 build again" all_on "$B7" $NODES
# shellcheck disable=SC2086
check "the first three ports are primaries again" test "$(primaries $(ports_of "$BASE" 3))" = 3
expect_exit 0 "second rollback" hf rollback "$RUN1"
check "second rollback is a verified no-op" contains "$T/out" "nothing to do"
kill -INT "$LOAD" 2>/dev/null
wait "$LOAD"
check "the checker ran (its report parses)" json_get "$T/load1.json" .acked_writes
check "the checker acknowledged writes on every shard" \
	json_true "$T/load1.json" '.acked_writes > 0 and (.shards | length) == 3'
check "every acknowledged write is found (0 lost, 0 unverifiable)" \
	json_true "$T/load1.json" '.lost == 0 and .unverifiable == 0'
check "every acknowledged write was verified" \
	json_true "$T/load1.json" '.verified == .acked_writes'
echo "# load during upgrade and rollback: $(json_get "$T/load1.json" \
	'"\(.acked_writes) acked, \(.errors) errors, longest outage \(.unavailable_ms | round) ms"')"
test_end

# ---- kill -9 with a node stopped, then resume ---------------------------
test_begin 'kill -9 with a node stopped, then resume'
expect_exit 137 "hotfix was killed during the rolling restart" \
	hf_crash_at stopped:2 apply "$T/m/u10.yaml" --cluster "$SEED" --yes
RUN2=$(last_run)
down=0
for p in $NODES; do port_in_use "$p" || down=$((down + 1)); done
check "the crash left a node down" test "$down" -ge 1
expect_exit 0 "resume after kill -9" hf resume "$RUN2"
# shellcheck disable=SC2086
check "after resume every node is up on the u10 build" all_on "$B10" $NODES
test_end

# ---- kill -9 during the rollback, then roll back again ------------------
test_begin 'kill -9 during the rolling rollback, then roll back again'
expect_exit 137 "hotfix was killed during the rolling rollback" hf_crash_at stopped:3 rollback "$RUN2"
expect_exit 0 "rollback again after kill -9" hf rollback "$RUN2"
# shellcheck disable=SC2086
check "after the second rollback every node is up on the u7 build" all_on "$B7" $NODES
test_end

# ---- kill -9 right after a failover, then resume --rollback -------------
test_begin 'kill -9 right after a failover, then resume --rollback'
expect_exit 137 "hotfix was killed right after a failover" \
	hf_crash_at failover apply "$T/m/u10.yaml" --cluster "$SEED" --yes
RUN3=$(last_run)
expect_exit 0 "resume --rollback after kill -9" hf resume "$RUN3" --rollback
# shellcheck disable=SC2086
check "every node is up on the u7 build" all_on "$B7" $NODES
# shellcheck disable=SC2086
wait_for "replicas to be in sync" 30 synced $NODES
test_end

# ---- the restart template -----------------------------------------------
test_begin 'the restart template, forward and back'
cat >"$T/m/restart.sh" <<'SH'
#!/bin/sh
# restart.sh HOST PORT BINARY: what an operator's restart script does.
conf=$(redis-cli -h "$1" -p "$2" INFO server | tr -d '\r' | sed -n 's/^config_file://p')
echo "$1 $2 $3" >>"$(dirname "$0")/restarts.log"
redis-cli -h "$1" -p "$2" SHUTDOWN >/dev/null 2>&1
while redis-cli -h "$1" -p "$2" PING >/dev/null 2>&1; do sleep 0.05; done
exec "$3" "$conf"
SH
chmod +x "$T/m/restart.sh"
bin_manifest "$T/m/u10-tpl.yaml" "$U10" "        restart: \"$T/m/restart.sh {host} {port} {binary}\""
expect_exit 0 "apply through the restart template" hf apply "$T/m/u10-tpl.yaml" --cluster "$SEED" --yes
# shellcheck disable=SC2086
check "every node reports the u10 build" all_on "$B10" $NODES
check "the template ran once per node" test "$(grep -c "$U10" "$T/m/restarts.log")" = 6
expect_exit 0 "rollback through the template" hf rollback "$(last_run)"
# shellcheck disable=SC2086
check "every node reports the u7 build" all_on "$B7" $NODES
check "the template ran back to u7 on every node" test "$(grep -c "$U7" "$T/m/restarts.log")" = 6
test_end

# ---- refusals: exit 2, nothing touched ----------------------------------
test_begin 'refusals: exit 2, nothing touched'
bin_manifest "$T/m/missing.yaml" /nonexistent/redis-server
expect_exit 2 "a binary that does not exist" hf apply "$T/m/missing.yaml" --cluster "$SEED" --yes
check "names the file, line and column" contains "$T/err" "missing.yaml:7:15: cannot run server binary"
bin_manifest "$T/m/placeholder.yaml" "$U10" '        restart: "restart {port} {node}"'
expect_exit 2 "an unknown placeholder in the template" hf plan "$T/m/placeholder.yaml" --cluster "$SEED"
check "names the placeholder" contains "$T/err" "unknown placeholder '{node}'"
cat >"$T/m/mixed.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: mixed, version: 1, owner: test@example.com, problem: two things at once}
spec:
  changes:
    - config: {timeout: "300"}
    - binary: {path: $U10}
  guard: none
YAML
expect_exit 2 "a binary change next to another change" hf plan "$T/m/mixed.yaml" --cluster "$SEED"
check "says it must be alone" contains "$T/err" "mixed.yaml:7:7: a binary change must be the only change"
bin_manifest "$T/m/order.yaml" "$U10"
sed -i 's/^    waves:/    order: primaries-first\n    waves:/' "$T/m/order.yaml"
expect_exit 2 "primaries-first" hf plan "$T/m/order.yaml" --cluster "$SEED"
check "says replicas go first" contains "$T/err" "rolls out replicas first"
# shellcheck disable=SC2086
check "nothing was restarted by the refusals" all_on "$B7" $NODES
test_end

# ---- a shard without replica needs confirm ------------------------------
sandbox_up solo --shards 3 --replicas 0 --redis-server "$U7" || finish
test_begin 'a shard without replica needs confirm: true, then restarts in place'
SOLO=$(ports_of "$BASE" 3)
bin_manifest "$T/m/solo.yaml" "$U10"
expect_exit 2 "a shard without replica is refused" hf plan "$T/m/solo.yaml" --cluster "$SEED"
check "says the shard would go down" contains "$T/err" "has no replica"
rcli -c -p "$BASE" SET "{solo}kept" 1 >/dev/null
bin_manifest "$T/m/solo-ok.yaml" "$U10" "        confirm: true"
expect_exit 0 "with confirm: true the primaries restart in place" hf apply "$T/m/solo-ok.yaml" --cluster "$SEED" --yes
# shellcheck disable=SC2086
check "every primary reports the u10 build" all_on "$B10" $SOLO
check "a key written before survives the restart (SHUTDOWN SAVE)" test "$(rcli -c -p "$BASE" GET "{solo}kept")" = 1
test_end

finish
