#!/usr/bin/env bash
# spec.preflight: dependencies a hotfix needs healthy, as commands and as
# HTTP URLs (a real HTTP server, python3's), checked before the first wave
# (refused, exit 5, nothing journaled) and between waves (the run pauses,
# resume goes on once they pass); bad entries: FILE:LINE:COL, exit 2.
. "$(dirname "$0")/lib.sh"

sandbox_up pre --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
timeouts() { local p; for p in $PORTS; do cfg "$p" timeout; done | tr '\n' ' '; }
BEFORE=$(timeouts)

# A dependency's health page, served by a real HTTP server.
mkdir -p "$T/www"
echo '{"status":"up"}' >"$T/www/health"
HTTP=$(free_base 1)
python3 -m http.server "$HTTP" --bind 127.0.0.1 --directory "$T/www" >"$T/http.log" 2>&1 &
EXTRA_PIDS+=("$!")
wait_for "the health page is served" 20 curl -fsS -o /dev/null "http://127.0.0.1:$HTTP/health"
touch "$T/billing-ok"

# pre_manifest FILE WAVES: a timeout hotfix with two preflight checks.
pre_manifest() {
	manifest "$1" preflight-test "$2"
	cat >>"$1" <<YAML
  preflight:
    - command: test -e "$T/billing-ok" || { echo billing is draining >&2; exit 3; }
    - url: http://127.0.0.1:$HTTP/health
      status: 200
      body: '"status":"up"'
      timeout: 5s
YAML
}
pre_manifest "$T/m.yaml" "      - nodes: 1
        bake: 3s
      - nodes: 100%"

test_begin 'plan lists the checks; a dependency down refuses the apply before anything (exit 5)'
expect_exit 0 "plan" hf plan "$T/m.yaml" --cluster "$SEED"
check "plan lists the command" contains "$T/out" '1. `test -e .*billing-ok.*` exits 0'
check "and the URL" contains "$T/out" "2. GET http://127.0.0.1:$HTTP/health answers 200 with '\"status\":\"up\"' in its body"
rm "$T/billing-ok"
expect_exit 5 "apply" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "it names the check and what it said" contains "$T/err" 'preflight 1 (`test -e .*`): exit 3: billing is draining'
check "no run was journaled" test "$(hf --json history | jq length)" = 0
check "no node changed" test "$(timeouts)" = "$BEFORE"
touch "$T/billing-ok"
echo '{"status":"down"}' >"$T/www/health"
expect_exit 5 "apply with the health page saying down" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "the body is named" contains "$T/err" "preflight 2 (GET http://127.0.0.1:$HTTP/health): the body does not hold '\"status\":\"up\"'"
rm "$T/www/health"
expect_exit 5 "apply with no health page" hf apply "$T/m.yaml" --cluster "$SEED" --yes
check "the status is named" contains "$T/err" "status 404, expected 200"
echo '{"status":"up"}' >"$T/www/health"
test_end

test_begin 'a dependency that fails between waves pauses the run; resume goes on once it passes'
"$HOTFIX" --state "$STATE" apply "$T/m.yaml" --cluster "$SEED" --yes >"$T/run.out" 2>"$T/run.err" &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the first bake" 30 grep -q 'baking' "$T/run.out"
rm "$T/www/health"
wait "$pid"
code=$?
check "the apply stops with exit 5 (exit $code)" test "$code" = 5
check "it says the run paused before wave 2, and why" contains "$T/run.err" \
	"paused before wave 2: 'hotfix resume .*' goes on once its preflight checks pass"
check "the URL's status is named" contains "$T/run.err" "status 404, expected 200"
run=$(last_run)
check "the run is paused" test "$(hf --json status "$run" | jq -r .state)" = paused
check "only the canary took the hotfix" test "$(timeouts | tr ' ' '\n' | grep -c '^300$')" = 1
echo '{"status":"up"}' >"$T/www/health"
expect_exit 0 "resume" hf resume "$run"
check "every node holds the hotfix" test "$(timeouts)" = "300 300 300 300 300 300 "
expect_exit 0 "status" hf status "$run"
check "the journal says the checks passed before wave 2" contains "$T/out" "preflight .*2 check(s) healthy before wave 2"
expect_exit 0 "rollback" hf rollback "$run"
check "every node back" test "$(timeouts)" = "$BEFORE"
test_end

test_begin 'preflight entries that cannot be right: FILE:LINE:COL, exit 2'
bad() {   # bad NAME YAML-LINES: a manifest with these preflight entries
	manifest "$T/$1.yaml" preflight-bad
	printf '  preflight:\n%s\n' "$2" >>"$T/$1.yaml"
}
bad both "    - {command: 'true', url: 'http://127.0.0.1:1/'}"
expect_exit 2 "command and url" hf validate "$T/both.yaml"
check "named" contains "$T/err" "both.yaml:2[0-9]:[0-9]*: a 'preflight' entry has either 'command' or 'url', not both"
bad status "    - {url: 'http://127.0.0.1:1/', status: 700}"
expect_exit 2 "a status out of range" hf validate "$T/status.yaml"
check "named" contains "$T/err" "invalid status '700' (expected 100 to 599)"
bad scheme "    - {url: 'ftp://127.0.0.1/'}"
expect_exit 2 "not http" hf validate "$T/scheme.yaml"
check "named" contains "$T/err" "invalid url 'ftp://127.0.0.1/'"
bad cmdstatus "    - {command: 'true', status: 200}"
expect_exit 2 "a status for a command" hf validate "$T/cmdstatus.yaml"
check "named" contains "$T/err" "'status' and 'body' go with 'url', not 'command'"
test_end

finish
