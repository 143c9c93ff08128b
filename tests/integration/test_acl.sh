#!/usr/bin/env bash
# ACL users, the security hotfix: applied on every node (Redis does not
# propagate ACLs), exact rollback, created users removed, no secret in the
# journal or the output, hotfix's own user protected, conflicts kept.
. "$(dirname "$0")/lib.sh"

sandbox_up acl --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
for p in $PORTS; do rcli -p "$p" ACL SETUSER app on '>old-secret' '~app:*' '+@read' >/dev/null; done
acls() { local p; for p in $PORTS; do echo "== $p"; rcli -p "$p" ACL LIST; done; }
auth_on() {   # auth_on PORT USER PASS...: AUTH works with each password
	local port=$1 user=$2 pw
	shift 2
	for pw in "$@"; do [ "$(rcli -p "$port" AUTH "$user" "$pw" 2>&1)" = OK ] || return 1; done
}
auth_ok() {   # auth_ok USER PASS: AUTH works on every node
	local p
	for p in $PORTS; do auth_on "$p" "$1" "$2" || { echo "AUTH $1 fails on $p"; return 1; }; done
}
auth_nowhere() {   # auth_nowhere USER PASS: AUTH fails on every node
	local p
	for p in $PORTS; do auth_on "$p" "$1" "$2" && { echo "AUTH $1 works on $p"; return 1; }; done
	return 0
}
acls >"$T/before"

cat >"$T/rotate.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: rotate-app-password, version: 1, owner: sec@example.com, problem: the app password leaked}
spec:
  changes:
    - acl:
        user: app
        rules: "on >new-secret-123 ~app:* +@read +@write -@dangerous"
    - acl:
        user: reporting
        rules: "on >report-pw-456 ~report:* +@read"
  rollout: {waves: [{nodes: 1}, {nodes: 100%}]}
  guard: none
YAML

test_begin 'plan an ACL change: every node, no secret printed'
expect_exit 0 "plan an ACL change" hf plan "$T/rotate.yaml" --cluster "$SEED"
check "plan lists all 6 nodes (ACLs are per node)" test "$(grep -c "acl user 'app'" "$T/out")" = 6
check "plan never prints a secret" lacks "$T/out" 'new-secret-123\|report-pw-456'
test_end

test_begin 'apply rotates the password on every node and keeps the secrets out of the journal'
expect_exit 0 "apply the ACL change" hf apply "$T/rotate.yaml" --cluster "$SEED" --yes
check "the new password works on every node" auth_ok app new-secret-123
check "the old password works nowhere" auth_nowhere app old-secret
check "the created user exists on every node" auth_ok reporting report-pw-456
check "no secret in the journal" journal_lacks 'new-secret-123\|report-pw-456'
expect_exit 0 "status" hf --json status last
check "no secret in status" lacks "$T/out" 'new-secret-123\|report-pw-456'
test_end

test_begin 'rollback gives back the exact ACL LIST; a second one does nothing'
expect_exit 0 "rollback" hf rollback "$(last_run)"
acls >"$T/after"
check "ACL LIST identical to before on every node" test_cmp "$T/before" "$T/after"
check "the old password works again" auth_ok app old-secret
expect_exit 0 "second rollback" hf rollback "$(last_run)"
check "second rollback finds nothing to do" contains "$T/out" "nothing to do"
test_end

test_begin 'kill -9 during the rollout, then resume --rollback'
expect_exit 137 "apply killed after the canary's ACL SETUSER" \
	hf_crash_at applied:1 apply "$T/rotate.yaml" --cluster "$SEED" --yes
expect_exit 0 "resume --rollback" hf resume "$(last_run)" --rollback
acls >"$T/after"
check "ACL LIST identical after kill and rollback" test_cmp "$T/before" "$T/after"
test_end

test_begin 'a user changed by someone since the hotfix is a conflict, left as it is'
expect_exit 0 "apply again" hf apply "$T/rotate.yaml" --cluster "$SEED" --yes
rcli -p "$BASE" ACL SETUSER app '>emergency-pw' >/dev/null
expect_exit 4 "rollback with a user changed since exits 4" hf rollback "$(last_run)"
check "the conflict names the user" contains "$T/err" "acl user 'app' changed since the hotfix"
check "the operator's emergency password still works there" auth_on "$BASE" app emergency-pw
expect_exit 0 "rollback --force" hf rollback "$(last_run)" --force
acls >"$T/after"
check "after --force every node is as before" test_cmp "$T/before" "$T/after"
test_end

# Flags no rule can clear (sanitize-payload) still come back exactly, and
# selectors survive the round trip.
cat >"$T/flags.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: app-flags, version: 1, owner: sec@example.com, problem: app needs a selector}
spec:
  changes:
    - acl:
        user: app
        rules: "on >x-pw ~app:* +@read skip-sanitize-payload (~x:* +get) allchannels"
  rollout: {waves: [{nodes: 100%}]}
  guard: none
YAML
test_begin 'flags no rule can clear and selectors come back exactly'
expect_exit 0 "apply flags and a selector" hf apply "$T/flags.yaml" --cluster "$SEED" --yes
rcli -p "$BASE" ACL GETUSER app >"$T/getuser"
check "the selector is set" grep -q '~x:\*' "$T/getuser"
expect_exit 0 "rollback of flags and a selector" hf rollback last
acls >"$T/after"
check "ACL LIST identical after a flag no rule clears" test_cmp "$T/before" "$T/after"
test_end

# Passwords: a secret that is a prefix of another is hashed as a whole
# token; an escaped secret is refused rather than stored.
cat >"$T/prefix.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: app-two-pw, version: 1, owner: sec@example.com, problem: two passwords}
spec:
  changes:
    - acl:
        user: app
        rules: "on >pass-one >pass-one-longer ~app:* +@read"
  rollout: {waves: [{nodes: 100%}]}
  guard: none
YAML
test_begin 'a password that is a prefix of another is hashed whole; an escaped one is refused'
expect_exit 0 "apply two passwords, one a prefix of the other" hf apply "$T/prefix.yaml" --cluster "$SEED" --yes
check "both passwords work" auth_on "$BASE" app pass-one pass-one-longer
check "neither is in the journal, not even in part" journal_lacks 'pass-one'
expect_exit 0 "rollback" hf rollback last
sed 's/>pass-one-longer/\\x3esneaky-secret/' "$T/prefix.yaml" >"$T/escaped.yaml"
expect_exit 2 "an escaped password is refused" hf plan "$T/escaped.yaml" --cluster "$SEED"
check "the refusal says to write passwords plainly" contains "$T/err" "write each ACL password plainly"
test_end

# Hotfix's own user: refused unless confirmed.
cat >"$T/self.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: lock-default, version: 1, owner: sec@example.com, problem: default user too open}
spec:
  changes:
    - acl:
        user: default
        rules: "on nopass ~* -@dangerous"
  guard: none
YAML
test_begin "rules that would lock hotfix's own user out need 'confirm: true'"
expect_exit 2 "rules that would lock hotfix's own user out are refused" hf plan "$T/self.yaml" --cluster "$SEED"
check "the refusal names the position and says how to confirm" grep -q "self.yaml:6:7: .*'confirm: true'" "$T/err"
sed 's/rules: "on nopass ~\* -@dangerous"/rules: "on >new-default-pw ~* \&* +@all"/' "$T/self.yaml" >"$T/self-pw.yaml"
expect_exit 2 "a new password for hotfix's own user is refused too" hf plan "$T/self-pw.yaml" --cluster "$SEED"
check "it explains why" contains "$T/err" "'confirm: true'"
sed 's/rules: "on nopass ~\* -@dangerous"/rules: "on nopass ~* \&* +@all"/' "$T/self.yaml" >"$T/self-ok.yaml"
expect_exit 0 "rules that keep hotfix's access need no confirm" hf plan "$T/self-ok.yaml" --cluster "$SEED"
acls >"$T/after"
check "nothing changed" test_cmp "$T/before" "$T/after"
test_end

# A node restarted after it was verified comes back with its config file's
# users: its ACL change lost. Before the run is promoted hotfix verifies
# every node again and applies the change again where it was lost, rather
# than calling it verified (or writing the old users down with ACL SAVE).
test_begin 'a node restarted between its verification and the promotion gets the change again'
sed 's/{waves: \[{nodes: 1}, {nodes: 100%}\]}/{waves: [{nodes: 1, bake: 3s}, {nodes: 100%}]}/' \
	"$T/rotate.yaml" >"$T/bake.yaml"
check "the manifest bakes its canary" grep -q 'bake: 3s' "$T/bake.yaml"
"$HOTFIX" --state "$STATE" apply "$T/bake.yaml" --cluster "$SEED" --yes >"$T/bake.out" 2>"$T/bake.err" &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the canary's bake" 30 grep -q 'baking' "$T/bake.out"
canary=$(sed -n 's/.*applied and verified on replica 127.0.0.1:\([0-9]*\).*/\1/p' "$T/bake.out" | head -1)
kill -9 "$(cat "$T/acl/$canary/redis.pid")"
wait_for "the canary to be down" 10 eval '! rcli -p $canary PING >/dev/null 2>&1'
redis-server "$T/acl/$canary/redis.conf" >/dev/null
wait_for "the canary to be back" 20 eval '[ "$(rcli -p $canary PING 2>/dev/null)" = PONG ]'
check "it came back without the created user" test "$(rcli -p "$canary" ACL GETUSER reporting)" = ""
wait "$pid"
code=$?
check "the apply is promoted (exit $code)" test "$code" = 0
check "it said so, and applied the change again" grep -q "2 step(s) no longer hold the hotfix .*applying them again" "$T/bake.out"
check "the canary has the created user" auth_on "$canary" reporting report-pw-456
check "and the new password" auth_on "$canary" app new-secret-123
expect_exit 0 "rollback" hf rollback "$(last_run)"
check "the old password works again everywhere" auth_ok app old-secret
test_end

finish
