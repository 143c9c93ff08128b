#!/usr/bin/env bash
# The dashboard of 'hotfix serve' in Debian's headless Chromium, driven by
# playwright-core (tests/browser/dashboard.mjs), during real guarded applies
# on a sandbox under 'hotfix load': a canary turns applied with passing
# verdicts and a chart, a bad hotfix is rolled back by the guard and the page
# says why, Abort from the page rolls a run back, a viewer cannot abort.
# The screenshots are kept in $HF_BROWSER_ARTIFACTS (tests/browser/README.md).
. "$(dirname "$0")/../integration/lib.sh"

SRC=${HF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
VIEW=view-$RANDOM$RANDOM$RANDOM
OPER=oper-$RANDOM$RANDOM$RANDOM
PARAMS="timeout maxmemory maxmemory-policy"

run_state_is() { [ "$(hf --json status "$1" | json_get - .state)" = "$2" ]; }
back_to_before() { snapshot "$T/now" "$PORTS" $PARAMS; test_cmp "$T/before" "$T/now"; }
# newest_is_not PREV: the newest run is not PREV (the run an apply
# started in the background has reached the journal).
newest_is_not() { local r; r=$(last_run 2>/dev/null) && [ -n "$r" ] && [ "$r" != "$1" ]; }

# guarded FILE NAME CONFIG-FLOW BAKE: a guarded config hotfix, a canary
# wave of one node baking BAKE, then the rest. Primaries first: the canary
# is the first primary, 127.0.0.1:$BASE.
guarded() {
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $2, version: 1, owner: test@example.com, problem: browser test of the dashboard}
spec:
  changes:
    - config: $3
  rollout:
    order: primaries-first
    waves:
      - nodes: 1
        bake: $4
      - nodes: 100%
  guard:
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    on_unobservable: hold
    checks:
      - metric: error_rate
        max: 0.01
YAML
}

# start_apply NAME FILE: 'hotfix apply' in the background; sets APPLY (its
# pid) and RUN (its run, once in the journal). Output in $T/NAME.out|err.
start_apply() {
	local prev
	prev=$(last_run 2>/dev/null)
	"$HOTFIX" --state "$STATE" apply "$2" --cluster "$SEED" --yes >"$T/$1.out" 2>"$T/$1.err" &
	APPLY=$!
	EXTRA_PIDS+=("$APPLY")
	wait_for "the new run in the journal" 30 newest_is_not "$prev" || return 1
	RUN=$(last_run)
}

# browser PHASE: the page's part of a phase (dashboard.mjs), an assertion
# of the block; on failure the serve log is shown after the page's. Each
# wait of the page is bounded (30 s, a rollback 90 s), and so is the whole.
browser() {
	local rc
	HF_URL=$URL HF_OPERATOR_TOKEN=$OPER HF_VIEWER_TOKEN=$VIEW HF_RUN=$RUN \
		HF_ARTIFACTS=$ART HF_CANARY=127.0.0.1:$BASE \
		timeout -k 10 240 node "$SRC/tests/browser/dashboard.mjs" "$1" >"$T/browser-$1.out" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		ok "the page: $1"
		[ -n "$test_verbose" ] && sed 's/^/  /' "$T/browser-$1.out"
	else
		bad "the page: $1 (exit $rc)"
		sed 's/^/      /' "$T/browser-$1.out"
		echo "      the serve log:"
		test_show "$T/serve.out"
		return 1
	fi
	return 0
}

# wait_apply CODE: the background apply ends with exit CODE.
wait_apply() {
	local code
	wait "$APPLY"
	code=$?
	if [ "$code" = "$1" ]; then
		ok "the apply ends with exit $code"
	else
		bad "the apply ends with exit $code, wanted $1"
		test_show "$T/$2.out" "out: "
		test_show "$T/$2.err" "err: "
	fi
}

# ---- the npm packages, the sandbox, the load, the server -----------------
test_begin 'the browser test has its npm packages and Chromium'
if [ -d "$SRC/tests/browser/node_modules/playwright-core" ]; then
	ok "tests/browser/node_modules holds playwright-core"
else
	bad "tests/browser/node_modules is missing: run 'make browser-deps' (npm ci --prefix tests/browser) first"
	finish
fi
check "node runs" node --version
check "Debian's chromium is at /usr/bin/chromium (apt-get install chromium)" test -x /usr/bin/chromium
test_end

# A ctest run names the artifacts directory; a run by hand keeps its own.
ART=${HF_BROWSER_ARTIFACTS:-}
if [ -n "$ART" ]; then
	mkdir -p "$ART" && rm -f "$ART"/*.png "$ART"/*.html "$ART"/*.txt
else
	ART=$(mktemp -d /tmp/hotfix-browser-artifacts.XXXXXX)
fi
echo "# screenshots go to $ART"

sandbox_up web --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
snapshot "$T/before" "$PORTS" $PARAMS
start_load 600 || finish
printf '# roles\nviewer %s\noperator %s\n' "$VIEW" "$OPER" >"$T/tokens"
chmod 600 "$T/tokens"
"$HOTFIX" --state "$STATE" serve --listen 127.0.0.1:0 --tokens "$T/tokens" --cluster "$SEED" \
	>"$T/serve.out" 2>&1 &
SERVE=$!
EXTRA_PIDS+=("$SERVE")
wait_for "the server to listen" 10 grep -q 'listening on' "$T/serve.out" || finish
URL=$(sed -n 's|.*listening on \(http://[^/]*\)/.*|\1|p' "$T/serve.out")
RUN=

# ---- (a) a harmless guarded apply: canary applied, verdicts, a chart -----
test_begin 'a guarded apply under load: the canary turns applied, verdicts pass, the chart has points'
guarded "$T/ok.yaml" dash-harmless '{timeout: "300"}' 8s
start_apply ok "$T/ok.yaml" || finish
wait_for "the canary's bake" 30 grep -q 'baking' "$T/ok.out"
browser canary
wait_apply 0 ok
check "the run is promoted" run_state_is "$RUN" promoted
expect_exit 0 "the promoted run is rolled back by the CLI" hf rollback "$RUN"
check "every node is back at its before-state" back_to_before
test_end

# ---- (b) a bad hotfix is rolled back by the guard; the page says why -----
test_begin 'a bad hotfix under load is rolled back by the guard, and the page shows why'
guarded "$T/oom.yaml" dash-oom '{maxmemory: "1", maxmemory-policy: noeviction}' 8s
start_apply oom "$T/oom.yaml" || finish
browser guard-rollback
wait_apply 3 oom
check "the apply says it was the guard" grep -q 'rolled back by the guard' "$T/oom.err"
check "the run is rolled back" run_state_is "$RUN" rolled_back
check "every node is back at its before-state" back_to_before
test_end

# ---- (d) a viewer sees a running run but cannot abort it ----------------
test_begin 'a viewer sees the running run but cannot abort it; the operator can'
guarded "$T/long.yaml" dash-long-bake '{timeout: "120", maxmemory-policy: allkeys-lru}' 60s
start_apply long "$T/long.yaml" || finish
wait_for "the long bake" 30 grep -q 'baking' "$T/long.out"
browser viewer
check "the visit changed nothing: the run still runs" run_state_is "$RUN" running
test_end

# ---- (c) Abort from the page rolls the run back ---------------------------
test_begin 'Pause and Continue from the page; Abort from the page rolls the run back'
# Should the page not abort, the CLI does, so that the apply does not bake
# for a minute; the block has failed already.
browser abort || hf abort "$RUN" >/dev/null 2>&1
wait_apply 1 long
check "the apply says it was aborted" grep -q 'aborted by request; rolled back' "$T/long.err"
check "it was paused and went on before" grep -q 'paused by request' "$T/long.out"
expect_exit 0 "hotfix --json status of the aborted run" hf --json status "$RUN"
check "hotfix status says rolled_back" json_true "$T/out" '.state == "rolled_back"'
check "every node's config is what it was before (CONFIG GET)" back_to_before
test_end

test_begin 'hotfix serve stops on SIGTERM (exit 0; under ASan: nothing leaked)'
kill "$SERVE"
wait "$SERVE"
code=$?
check "serve exits 0 (exit $code)" test "$code" = 0
stop_load
test_end

echo "# screenshots: $ART"
ls "$ART" | sed 's/^/#   /'
finish
