#!/usr/bin/env bash
# kill -9 of hotfix at named points of apply and rollback, and from outside
# during a bake; then resume: every node ends fully applied or fully
# reverted, never in between. Every kill is asserted (exit 137): a crash
# point that no longer fires fails the test instead of passing unnoticed.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"
sandbox_up crash --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/m.yaml" crash-test

all_target() {
	local p
	for p in $PORTS; do
		[ "$(cfg "$p" timeout)" = 300 ] && [ "$(cfg "$p" maxmemory-policy)" = allkeys-lru ] || {
			echo "127.0.0.1:$p: timeout $(cfg "$p" timeout), maxmemory-policy $(cfg "$p" maxmemory-policy)"
			return 1
		}
	done
}
all_before() {
	snapshot "$T/now" "$PORTS" $PARAMS
	test_cmp "$T/before" "$T/now"
}
conf_holds_target() {   # the config files of the first and the last node
	grep -q '^timeout 300' "$T/crash/$BASE/redis.conf" &&
		grep -q '^timeout 300' "$T/crash/$((BASE + 5))/redis.conf"
}

# Crash during apply at POINT (Nth time), then resume forward.
for point in capture:1 apply:1 apply:2 applied:2 bake:1 promote:1; do
	test_begin "apply killed at $point, resumed, then rolled back"
	expect_exit 137 "apply killed at $point" hf_crash_at "$point" apply "$T/m.yaml" --cluster "$SEED" --yes
	run=$(last_run)
	expect_exit 0 "resume after kill at $point" hf resume "$run"
	check "after kill at $point and resume: every node holds the hotfix" all_target
	check "after kill at $point and resume: the config files hold it too" conf_holds_target
	expect_exit 0 "rollback after kill at $point" hf rollback "$run"
	check "after kill at $point and rollback: every node back to before" all_before
	test_end
done

# Crash during apply, then resume --rollback.
for point in apply:2 applied:1 bake:2; do
	test_begin "apply killed at $point, then resume --rollback"
	expect_exit 137 "apply killed at $point" hf_crash_at "$point" apply "$T/m.yaml" --cluster "$SEED" --yes
	run=$(last_run)
	expect_exit 0 "resume --rollback after kill at $point" hf resume "$run" --rollback
	check "after kill at $point and resume --rollback: every node back to before" all_before
	test_end
done

# Crash during rollback, then resume finishes the rollback.
for point in revert:1 revert:2 reverted:2; do
	test_begin "rollback killed at $point, then resumed"
	expect_exit 0 "apply before rollback crash at $point" hf apply "$T/m.yaml" --cluster "$SEED" --yes
	run=$(last_run)
	expect_exit 137 "rollback killed at $point" hf_crash_at "$point" rollback "$run"
	expect_exit 0 "resume after rollback kill at $point" hf resume "$run"
	check "after rollback kill at $point and resume: every node back to before" all_before
	expect_exit 0 "second rollback after $point" hf rollback "$run"
	check "second rollback after $point finds nothing to do" contains "$T/out" 'nothing to do'
	test_end
done

test_begin 'kill -9 from outside during a bake, then resume --rollback'
manifest "$T/slow.yaml" slow-bake "      - nodes: 1
        bake: 30s
      - nodes: 100%"
# The binary itself, not the hf function: $! must be hotfix's own pid.
"$HOTFIX" --state "$STATE" apply "$T/slow.yaml" --cluster "$SEED" --yes >"$T/slow.out" 2>&1 &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the bake to start" 30 grep -q 'baking' "$T/slow.out"
kill -9 "$pid"
wait "$pid" 2>/dev/null
code=$?
check "the apply died of the kill -9 (exit $code)" test "$code" = 137
run=$(last_run)
expect_exit 0 "status of a killed run" hf status "$run"
check "status says nobody drives the killed run" contains "$T/out" "driver    none"
expect_exit 5 "a second apply while the killed run is unfinished is refused" \
	hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "the refusal names the unfinished run" contains "$T/err" "$run"
expect_exit 0 "resume --rollback of the externally killed run" hf resume "$run" --rollback
check "after external kill -9 and rollback: every node back to before" all_before
test_end

finish
