#!/usr/bin/env bash
# hotfix serve: the tokens file and the loopback rule, the API's auth
# (no token, viewer, operator), runs and a run as docs/openapi.yaml
# describes them, pause/continue/abort over HTTP as journal requests, the
# event stream, a run's report, a rollback of a run nobody drives, clients polling while a
# driver writes the journal, the dashboard (its files and headers, the
# login page, the token cookie that reads but never changes, whoami), and
# a graceful SIGTERM.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"
SRC=${HF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
VIEW=view-$RANDOM$RANDOM$RANDOM
OPER=oper-$RANDOM$RANDOM$RANDOM
run_state_is() { [ "$(hf --json status "$1" | json_get - .state)" = "$2" ]; }
back_to_before() { snapshot "$T/now" "$PORTS" $PARAMS; test_cmp "$T/before" "$T/now"; }

# req TOKEN METHOD PATH: the HTTP status on stdout, the body in $T/body,
# the headers in $T/headers. TOKEN '-' sends none.
req() {
	local auth=()
	[ "$1" != - ] && auth=(-H "Authorization: Bearer $1")
	curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$2" "${auth[@]}" "$URL$3"
}
# creq TOKEN METHOD PATH: like req, with the token in the dashboard's
# cookie only, as a browser sends it.
creq() {
	curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$2" -b "hotfix_token=$1" "$URL$3"
}
# cstatus_is WANT TOKEN METHOD PATH: the request with the cookie answers WANT.
cstatus_is() {
	local got
	got=$(creq "$2" "$3" "$4")
	[ "$got" = "$1" ] && return 0
	echo "$3 $4 (cookie): $got, wanted $1: $(cat "$T/body")"
	return 1
}
# header_is NAME PATTERN: the last response had header NAME matching PATTERN.
header_is() { grep -qi "^$1: $2" "$T/headers" || { echo "no '$1: $2' in: $(cat "$T/headers")"; return 1; }; }
# web_headers: the headers every file of the dashboard is served with.
web_headers() {
	header_is Content-Security-Policy "default-src 'self'" && header_is Cache-Control no-cache &&
		header_is X-Content-Type-Options nosniff
}
# status_is WANT TOKEN METHOD PATH: the request answers WANT.
status_is() {
	local got
	got=$(req "$2" "$3" "$4")
	[ "$got" = "$1" ] && return 0
	echo "$3 $4: $got, wanted $1: $(cat "$T/body")"
	return 1
}
# fits SPEC-PATH METHOD STATUS: $T/body fits the schema of docs/openapi.yaml.
fits() {
	local out
	out=$(jq -n -r --slurpfile spec "$T/openapi.json" --slurpfile body "$T/body" \
		--arg path "$1" --arg method "$2" --arg status "$3" -f "$SRC/tests/integration/openapi.jq") ||
		return 1
	[ -z "$out" ] && return 0
	echo "$out"
	echo "the body: $(cut -c1-1000 "$T/body")"
	return 1
}
# api_ok TOKEN METHOD PATH SPEC-PATH STATUS: answers STATUS with a body
# that fits the spec.
api_ok() { status_is "$5" "$1" "$2" "$3" && fits "$4" "$(echo "$2" | tr A-Z a-z)" "$5"; }

yq . "$SRC/docs/openapi.yaml" >"$T/openapi.json" || { bad "docs/openapi.yaml is not YAML"; finish; }
printf '# roles\nviewer %s\noperator %s\n' "$VIEW" "$OPER" >"$T/tokens"
chmod 600 "$T/tokens"

# ---- refusals before listening -------------------------------------------
test_begin 'a tokens file not of mode 0600 is refused'
cp "$T/tokens" "$T/tokens644"
chmod 644 "$T/tokens644"
expect_exit 2 "serve with a tokens file of mode 0644" hf serve --listen 127.0.0.1:0 --tokens "$T/tokens644"
check "the refusal says the mode must be 0600" contains "$T/err" "mode 0644: it must be 0600"
printf 'admin %s\n' "$OPER" >"$T/tokens-role"
chmod 600 "$T/tokens-role"
expect_exit 2 "a role other than viewer and operator" hf serve --listen 127.0.0.1:0 --tokens "$T/tokens-role"
check "the refusal names the role" contains "$T/err" "unknown role 'admin'"
test_end

test_begin 'without --tokens only loopback is served'
expect_exit 2 "serve on 0.0.0.0 without tokens" hf serve --listen 0.0.0.0:0
check "the refusal says why" contains "$T/err" "needs --tokens"
expect_exit 2 "a --listen that is no HOST:PORT" hf serve --listen localhost
test_end

# ---- a run that lasts, and the server --------------------------------------
sandbox_up srv --shards 3 --replicas 1 || finish
PORTS=$(ports_of "$BASE" 6)
snapshot "$T/before" "$PORTS" $PARAMS
manifest "$T/slow.yaml" slow-serve "      - nodes: 1
        bake: 120s
      - nodes: 100%"
"$HOTFIX" --state "$STATE" apply "$T/slow.yaml" --cluster "$SEED" --yes >"$T/slow.out" 2>"$T/slow.err" &
APPLY=$!
EXTRA_PIDS+=("$APPLY")
wait_for "the bake" 30 grep -q 'baking' "$T/slow.out" || finish
RUN=$(last_run)
start_serve main --tokens "$T/tokens" || finish
# The server's own stream, from before anything below happens.
curl -s -N -H "Authorization: Bearer $VIEW" "$URL/api/v1/events" >"$T/sse" 2>/dev/null &
SSE=$!
EXTRA_PIDS+=("$SSE")

test_begin 'API auth: no token 401, viewer reads, viewer may not change a run (403), operator may'
check "no token: 401" status_is 401 - GET /api/v1/runs
check "the 401 asks for a bearer token" grep -qi '^WWW-Authenticate: Bearer' "$T/headers"
check "the 401 body fits the spec" fits /api/v1/runs get 401
check "a wrong token: 401" status_is 401 wrong-token GET /api/v1/runs
check "a viewer reads the runs" status_is 200 "$VIEW" GET /api/v1/runs
check "a viewer reads a run" status_is 200 "$VIEW" GET "/api/v1/runs/$RUN"
nev=$(jq '.events | length' "$T/body")
check "no token on a mutation: 401" status_is 401 - POST "/api/v1/runs/$RUN/pause"
check "a viewer may not pause: 403" status_is 403 "$VIEW" POST "/api/v1/runs/$RUN/pause"
check "the 403 body fits the spec" fits '/api/v1/runs/{run}/pause' post 403
check "a viewer may not roll back: 403" status_is 403 "$VIEW" POST "/api/v1/runs/$RUN/rollback"
check "nothing changed: the run still runs" run_state_is "$RUN" running
check "nothing changed: no event was written" status_is 200 "$VIEW" GET "/api/v1/runs/$RUN"
check "the run has as many events as before the refusals" json_true "$T/body" ".events | length == $nev"
check "the run has no pending request" json_true "$T/body" '.request == null'
test_end

test_begin 'the dashboard: its files, the login page, a cookie that reads but never changes, whoami'
check "/ without a token: 401" status_is 401 - GET /
check "... a login page as HTML" header_is Content-Type text/html
check "... with the token's input and its button" \
	sh -c "grep -q 'id=\"token\"' '$T/body' && grep -q 'id=\"login-submit\"' '$T/body'"
check "... under the dashboard's headers" web_headers
check "the login page's script needs no token" status_is 200 - GET /static/login.js
check "/ with a viewer token: the dashboard" status_is 200 "$VIEW" GET /
check "... as HTML" header_is Content-Type text/html
check "... with a CSP of 'self', no-cache and nosniff" web_headers
check "... its script and style from files, none inline (the CSP allows none)" \
	sh -c "grep -q 'src=\"/static/app.js\"' '$T/body' && grep -q 'href=\"/static/style.css\"' '$T/body' &&
	       ! grep -qi '<script>' '$T/body' && ! grep -qi '<style' '$T/body' && ! grep -qi ' on[a-z]*=' '$T/body'"
check "the dashboard's script without a token: 401" status_is 401 - GET /static/app.js
check "/static/app.js" status_is 200 "$VIEW" GET /static/app.js
check "... is JavaScript" header_is Content-Type text/javascript
check "... with the same headers" web_headers
check "/static/style.css is CSS" sh -c "[ \"\$(curl -s -o /dev/null -w '%{content_type}' '$URL/static/style.css')\" = 'text/css; charset=utf-8' ]"
check "an unknown file: 404" status_is 404 "$VIEW" GET /static/no-such.js
check "a file cannot be posted to: 405" status_is 405 "$OPER" POST /static/app.js
check "the cookie of a viewer opens the dashboard" cstatus_is 200 "$VIEW" GET /
check "... and reads the runs" cstatus_is 200 "$VIEW" GET /api/v1/runs
check "... and a run" cstatus_is 200 "$VIEW" GET "/api/v1/runs/$RUN"
nev=$(jq '.events | length' "$T/body")
check "a cookie with a wrong token: 401" cstatus_is 401 wrong-token GET /api/v1/runs
check "... and / is the login page again" cstatus_is 401 wrong-token GET /
check "the event stream takes the cookie" sh -c "curl -s -N --max-time 1 -b 'hotfix_token=$VIEW' '$URL/api/v1/events' | grep -q '^: hotfix journal events'"
check "whoami of a viewer" api_ok "$VIEW" GET /api/v1/whoami /api/v1/whoami 200
check "... says viewer, with tokens" json_true "$T/body" '.role == "viewer" and .tokens == true'
check "whoami of an operator" api_ok "$OPER" GET /api/v1/whoami /api/v1/whoami 200
check "... says operator" json_true "$T/body" '.role == "operator" and .tokens == true'
check "whoami from an operator's cookie" cstatus_is 200 "$OPER" GET /api/v1/whoami
check "... says operator" json_true "$T/body" '.role == "operator"'
check "whoami without a token: 401" api_ok - GET /api/v1/whoami /api/v1/whoami 401
check "whoami is read only: 405" status_is 405 "$OPER" POST /api/v1/whoami
# A cross-site form or fetch carries the cookie, never the header.
check "a pause with only an operator's cookie: 401" cstatus_is 401 "$OPER" POST "/api/v1/runs/$RUN/pause"
check "an abort with only an operator's cookie: 401" cstatus_is 401 "$OPER" POST "/api/v1/runs/$RUN/abort"
check "a rollback with only an operator's cookie: 401" cstatus_is 401 "$OPER" POST "/api/v1/runs/$RUN/rollback"
check "nothing changed: the run still runs" run_state_is "$RUN" running
check "nothing changed: no event was written" status_is 200 "$VIEW" GET "/api/v1/runs/$RUN"
check "the run has as many events as before" json_true "$T/body" ".events | length == $nev"
check "the run has no pending request" json_true "$T/body" '.request == null'
test_end

test_begin 'runs: list and filter by state, as docs/openapi.yaml says'
check "GET /api/v1/runs" api_ok "$VIEW" GET /api/v1/runs /api/v1/runs 200
check "the list holds the run with run, hotfix, version and state" json_true "$T/body" \
	".runs[] | select(.run == \"$RUN\") | .hotfix == \"slow-serve\" and .version == 1 and .state == \"running\""
check "filter state=running" api_ok "$VIEW" GET "/api/v1/runs?state=running" /api/v1/runs 200
check "the filtered list is the running run" json_true "$T/body" "[.runs[].run] == [\"$RUN\"]"
check "filter state=promoted" api_ok "$VIEW" GET "/api/v1/runs?state=promoted" /api/v1/runs 200
check "no promoted run yet" json_true "$T/body" '.runs == []'
check "an unknown state: 400" api_ok "$VIEW" GET "/api/v1/runs?state=bogus" /api/v1/runs 400
test_end

test_begin 'one run: steps, waves, events, as docs/openapi.yaml says'
check "GET /api/v1/runs/RUN" api_ok "$VIEW" GET "/api/v1/runs/$RUN" '/api/v1/runs/{run}' 200
check "six steps in two waves" json_true "$T/body" '(.steps | length) == 6 and (.waves | map(.wave)) == [1, 2]'
check "the first wave's step is verified" json_true "$T/body" '.waves[0].by_state.verified == 1'
check "driven by the apply process" json_true "$T/body" ".driven == true and .driven_by == $APPLY"
check "its events include the bake" json_true "$T/body" '[.events[].kind] | index("bake") != null'
check "'last' names the newest run" api_ok "$VIEW" GET /api/v1/runs/last '/api/v1/runs/{run}' 200
check "an unknown run: 404" api_ok "$VIEW" GET /api/v1/runs/no-such-run '/api/v1/runs/{run}' 404
test_end

test_begin "a run's events in pages: the newest in its detail, older ones before a seq"
check "events=2" api_ok "$VIEW" GET "/api/v1/runs/$RUN?events=2" '/api/v1/runs/{run}' 200
check "... holds two events, says more remain and counts them all" json_true "$T/body" \
	'(.events | length) == 2 and .events_more == true and .events_total > 2'
total=$(json_get "$T/body" .events_total)
newest=$(json_get "$T/body" '.events[1].seq')
oldest=$(json_get "$T/body" '.events[0].seq')
check "the same two are the newest of the whole detail" status_is 200 "$VIEW" GET "/api/v1/runs/$RUN?events=10000"
check "... in which the run's every event is (the run goes on: maybe more now)" json_true "$T/body" \
	"(.events | length) == .events_total and .events_total >= $total and .events_more == false and
	 (.events | map(.seq) | index($oldest)) + 1 == (.events | map(.seq) | index($newest))"
cp "$T/body" "$T/all"
check "the page before them" api_ok "$VIEW" GET "/api/v1/runs/$RUN/events?before=$oldest&limit=1" '/api/v1/runs/{run}/events' 200
check "... is the event just before, and more before it" json_true "$T/body" \
	"[\$all[0].events[].seq | select(. < $oldest)] as \$older |
	 (.events | map(.seq)) == \$older[-1:] and .more == (\$older | length > 1)" --slurpfile all "$T/all"
check "the first page of all: more is false" api_ok "$VIEW" GET "/api/v1/runs/$RUN/events?limit=10000" '/api/v1/runs/{run}/events' 200
check "... and holds them all" json_true "$T/body" "(.events | length) >= $total and .more == false"
check "events=bogus: 400" api_ok "$VIEW" GET "/api/v1/runs/$RUN?events=bogus" '/api/v1/runs/{run}' 400
check "limit=0: 400" api_ok "$VIEW" GET "/api/v1/runs/$RUN/events?limit=0" '/api/v1/runs/{run}/events' 400
check "events of an unknown run: 404" api_ok "$VIEW" GET /api/v1/runs/no-such-run/events '/api/v1/runs/{run}/events' 404
check "events cannot be posted: 405" status_is 405 "$OPER" POST "/api/v1/runs/$RUN/events"
test_end

test_begin 'the report of a run: HTML, or Markdown with format=md; viewer reads, 404 for an unknown run'
check "no token: 401" status_is 401 - GET "/api/v1/runs/$RUN/report"
check "GET /api/v1/runs/RUN/report as viewer" status_is 200 "$VIEW" GET "/api/v1/runs/$RUN/report"
check "served as HTML" grep -qi '^content-type: text/html' "$T/headers"
check "one HTML page" contains "$T/body" '<!DOCTYPE html>'
check "that names the run" contains "$T/body" "$RUN"
check "format=md" status_is 200 "$VIEW" GET "/api/v1/runs/$RUN/report?format=md"
check "served as Markdown" grep -qi '^content-type: text/markdown' "$T/headers"
check "a Markdown title" grep -q '^# ' "$T/body"
check "the Markdown names the run" contains "$T/body" "$RUN"
check "'last' is the newest run" status_is 200 "$VIEW" GET "/api/v1/runs/last/report?format=md"
check "an unknown format: 400" api_ok "$VIEW" GET "/api/v1/runs/$RUN/report?format=pdf" '/api/v1/runs/{run}/report' 400
check "an unknown run: 404" api_ok "$VIEW" GET /api/v1/runs/no-such-run/report '/api/v1/runs/{run}/report' 404
check "POST is refused: 405" status_is 405 "$OPER" POST "/api/v1/runs/$RUN/report"
test_end

test_begin 'the cluster now: topology, health, build, the hotfix each node holds'
check "GET /api/v1/cluster" api_ok "$VIEW" GET /api/v1/cluster /api/v1/cluster 200
check "six nodes in three shards, all healthy" json_true "$T/body" \
	'.shards == 3 and (.nodes | length) == 6 and all(.nodes[]; .health == "ok" and .build != "")'
check "every node has a heartbeat age" json_true "$T/body" 'all(.nodes[]; (.heartbeat_age_ms | type) == "number" and .heartbeat_age_ms >= 0)'
check "exactly the canary holds the running hotfix" json_true "$T/body" \
	"[.nodes[] | select(.hotfix != null) | .hotfix.run] == [\"$RUN\"]"
check "without a token: 401" status_is 401 - GET /api/v1/cluster
test_end

test_begin '/metrics: promtool accepts it, and a real prometheus scrapes the live run'
check "a viewer reads /metrics" status_is 200 "$VIEW" GET /metrics
check "in the text exposition format" grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/headers"
check "promtool check metrics accepts it" sh -c "promtool check metrics <'$T/body'"
check "the running run's state" grep -q "^hotfix_run_state{run=\"$RUN\",state=\"running\"} 1$" "$T/body"
check "its current wave" grep -q "^hotfix_run_current_wave{run=\"$RUN\"} 1$" "$T/body"
check "its verified step" grep -q "^hotfix_run_steps{run=\"$RUN\",state=\"verified\"} 1$" "$T/body"
check "every node is up" test "$(grep -c '^hotfix_node_up{.*} 1$' "$T/body")" = 6
check "every node has a heartbeat age" test "$(grep -c '^hotfix_node_heartbeat_age_seconds{' "$T/body")" = 6
check "without a token: 401" status_is 401 - GET /metrics
PROM_PORT=$(free_base 1)
printf '%s' "$VIEW" >"$T/prom-token"
cat >"$T/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: hotfix
    authorization: {type: Bearer, credentials_file: $T/prom-token}
    static_configs: [{targets: ["${URL#http://}"]}]
YAML
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$T/prom.log" 2>&1 &
PROM=$!
EXTRA_PIDS+=("$PROM")
# prom_running: prometheus answers that the run is running, from a scrape.
prom_running() {
	curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" \
		--data-urlencode "query=hotfix_run_state{state=\"running\",run=\"$RUN\"} == 1" >"$T/prom.json" &&
		json_true "$T/prom.json" '.status == "success" and (.data.result | length) == 1'
}
check "prometheus answers a PromQL query about the live run" eventually 60 prom_running
check "the scrape target is up" sh -c "curl -s 'http://127.0.0.1:$PROM_PORT/api/v1/query' --data-urlencode 'query=up{job=\"hotfix\"}' | jq -e '.data.result[0].value[1] == \"1\"'"
kill "$PROM"
wait "$PROM" 2>/dev/null
test_end

test_begin 'pause and continue through the API are the journal requests of the CLI'
check "an operator pauses: 202" api_ok "$OPER" POST "/api/v1/runs/$RUN/pause" '/api/v1/runs/{run}/pause' 202
check "the answer is a request" json_true "$T/body" '.result == "requested" and .action == "pause"'
wait_for "the run to pause" 10 run_state_is "$RUN" paused
expect_exit 0 "hotfix status of the run" hf status "$RUN"
check "hotfix status shows it paused by request" contains "$T/out" 'paused by request'
check "the audit event names the API and the role" contains "$T/out" 'pause requested by hotfix serve (operator token)'
expect_exit 0 "audit export" hf audit export --jsonl
check "the audit record's actor is serve's token, by its line, and its role" json_true "$T/out" \
	'any(.[]; .action == "pause" and .outcome == "requested" and .actor == "serve token line 3" and .role == "serve-operator")' --slurp
check "an operator continues: 202" api_ok "$OPER" POST "/api/v1/runs/$RUN/continue" '/api/v1/runs/{run}/continue' 202
wait_for "the run to go on" 10 run_state_is "$RUN" running
test_end

test_begin 'the event stream delivers journal events after their commit'
check "the stream sent the pause request" eventually 10 grep -q '^event: request' "$T/sse"
check "and the driver's pause" eventually 10 grep -q 'paused by request' "$T/sse"
check "each event has an id" grep -q '^id: [0-9][0-9]*$' "$T/sse"
check "each event's data is one JSON object of the run" \
	sh -c "grep '^data: ' '$T/sse' | sed 's/^data: //' | jq -e -s 'length > 0 and all(.run == \"$RUN\" and (.seq | type) == \"number\")'"
# Last-Event-ID: a client coming back gets what it missed, from there on.
curl -s -N --max-time 2 -H "Authorization: Bearer $VIEW" -H "Last-Event-ID: 0" \
	"$URL/api/v1/events?run=$RUN" >"$T/sse-replay" 2>/dev/null
check "from Last-Event-ID 0 the stream replays the run from its start" grep -q 'started by' "$T/sse-replay"
check "the stream refuses a client without a token" status_is 401 - GET /api/v1/events
test_end

test_begin 'abort through the API: the driver rolls the run back'
check "an operator aborts: 202" api_ok "$OPER" POST "/api/v1/runs/$RUN/abort" '/api/v1/runs/{run}/abort' 202
wait "$APPLY"
code=$?
check "the apply exits 1 after the abort (exit $code)" test "$code" = 1
check "the apply says it rolled back" grep -q 'aborted by request; rolled back' "$T/slow.err"
check "the run is rolled back" run_state_is "$RUN" rolled_back
check "every node is back at its before-state" back_to_before
check "the stream sent the rollback" eventually 10 grep -q '^event: rollback' "$T/sse"
check "pausing a finished run: 409" api_ok "$OPER" POST "/api/v1/runs/$RUN/pause" '/api/v1/runs/{run}/pause' 409
check "filter state=rolled_back" api_ok "$VIEW" GET "/api/v1/runs?state=rolled_back" /api/v1/runs 200
check "the run is there" json_true "$T/body" "[.runs[].run] == [\"$RUN\"]"
test_end

test_begin 'a rollback of a run no process drives starts a driver'
"$HOTFIX" --state "$STATE" apply "$T/slow.yaml" --cluster "$SEED" --yes >"$T/kill.out" 2>&1 &
pid=$!
EXTRA_PIDS+=("$pid")
wait_for "the bake" 30 grep -q 'baking' "$T/kill.out"
kill -9 "$pid"
wait "$pid" 2>/dev/null
run=$(last_run)
check "nobody drives the killed run" api_ok "$VIEW" GET "/api/v1/runs/$run" '/api/v1/runs/{run}' 200
check "the run says so" json_true "$T/body" '.driven == false and .state == "running"'
check "pause of a driverless run: 409" api_ok "$OPER" POST "/api/v1/runs/$run/pause" '/api/v1/runs/{run}/pause' 409
check "an operator rolls it back: 202" api_ok "$OPER" POST "/api/v1/runs/$run/rollback" '/api/v1/runs/{run}/rollback' 202
check "a driver was started" json_true "$T/body" '.result == "driver started"'
wait_for "the run to be rolled back" 60 run_state_is "$run" rolled_back
check "every node is back at its before-state" back_to_before
test_end

test_begin 'clients never see a locked journal while a driver writes it'
manifest "$T/quick.yaml" quick-serve "      - nodes: 1
        bake: 0
      - nodes: 50%
      - nodes: 100%"
(
	for i in 1 2 3; do
		"$HOTFIX" --state "$STATE" apply "$T/quick.yaml" --cluster "$SEED" --yes >/dev/null 2>&1 || exit 1
		"$HOTFIX" --state "$STATE" rollback last >/dev/null 2>&1 || exit 1
	done
) &
DRIVER=$!
EXTRA_PIDS+=("$DRIVER")
polls=0
bad_polls=0
: >"$T/poll-errors"
while kill -0 "$DRIVER" 2>/dev/null; do
	for p in /api/v1/runs /api/v1/runs/last "/api/v1/runs?state=running"; do
		code=$(req "$VIEW" GET "$p")
		polls=$((polls + 1))
		if [ "$code" != 200 ] || grep -qi 'locked' "$T/body"; then
			bad_polls=$((bad_polls + 1))
			echo "$p: $code $(cat "$T/body")" >>"$T/poll-errors"
		fi
	done
done
wait "$DRIVER"
code=$?
check "the driver applied and rolled back three times (exit $code)" test "$code" = 0
check "the clients polled while it wrote ($polls requests)" test "$polls" -gt 10
check "every poll answered 200 without 'locked' ($bad_polls did not)" test ! -s "$T/poll-errors"
check "the stream is still alive and got the driver's events" eventually 10 grep -q 'quick-serve' "$T/sse"
check "every node is back at its before-state" back_to_before
test_end

test_begin 'a guarded run: the guard samples over time, verdicts, guard metrics'
cat >"$T/guarded.yaml" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: guarded-serve, version: 1, owner: o, problem: p}
spec:
  changes:
    - config: {timeout: "300"}
  rollout:
    order: primaries-first
    waves: [{nodes: 1, bake: 2s}, {nodes: 100%}]
  guard:
    interval: 500ms
    baseline: 1s
    failure_limit: 2
    checks:
      - {metric: error_rate, max: 0.5}
YAML
"$HOTFIX" --state "$STATE" load --cluster "$SEED" --rate 1000 --seconds 60 >"$T/load.out" 2>&1 &
LOAD=$!
EXTRA_PIDS+=("$LOAD")
expect_exit 0 "a guarded apply under load is promoted" hf apply "$T/guarded.yaml" --cluster "$SEED" --yes
kill "$LOAD" 2>/dev/null
wait "$LOAD" 2>/dev/null
grun=$(last_run)
check "GET the guarded run" api_ok "$VIEW" GET "/api/v1/runs/$grun" '/api/v1/runs/{run}' 200
check "its samples hold the baseline and the verdicts' numbers" json_true "$T/body" \
	'any(.samples[]; .verdict == 0) and any(.samples[]; .verdict >= 1 and .metric == "error_rate" and (.value | type) == "number")'
check "its verdicts passed, with explanations" json_true "$T/body" \
	'(.verdicts | length) > 0 and all(.verdicts[]; .outcome == "pass" and (.explanation | startswith("pass")))'
check "/metrics" status_is 200 "$VIEW" GET /metrics
check "promtool still accepts it" sh -c "promtool check metrics <'$T/body'"
check "the guard's latest error_rate on the changed nodes" grep -q "^hotfix_guard_value{run=\"$grun\",metric=\"error_rate\",nodes=" "$T/body"
check "and its baseline" grep -q "^hotfix_guard_baseline{run=\"$grun\",metric=\"error_rate\"," "$T/body"
check "its verdicts by outcome" grep -q "^hotfix_run_verdicts_total{run=\"$grun\",outcome=\"pass\"} [1-9]" "$T/body"
test_end

test_begin "an event edited behind the journal's back shows in the run's detail"
check "the chain holds" api_ok "$VIEW" GET "/api/v1/runs/$RUN" '/api/v1/runs/{run}' 200
check "... says its detail" json_true "$T/body" '.audit_chain_ok == true'
sqlite3 "$STATE/journal.db" "UPDATE events SET message = 'nothing happened' WHERE run = '$RUN' AND n = 1"
chain_broken() { req "$VIEW" GET "/api/v1/runs/$RUN" >/dev/null && json_true "$T/body" '.audit_chain_ok == false'; }
check "the edit of its first event shows" wait_for "the broken chain" 10 chain_broken
check "... as in the CLI's status" json_true <(hf --json status "$RUN") '.audit_chain_ok == false'
test_end

test_begin 'SIGTERM stops the server gracefully (exit 0)'
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
code=$?
check "serve exits 0 on SIGTERM (exit $code)" test "$code" = 0
wait "$SSE"
code=$?
check "the event stream was ended, not cut (curl exit $code)" test "$code" = 0
check "nothing listens any more" not curl -s -o /dev/null "$URL/api/v1/runs"
test_end

test_begin 'without --tokens: a web page in the operator'\''s browser cannot change or read a run'
start_serve open || finish
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
check "a request to the loopback host is served" test "$(code "$URL/api/v1/runs")" = 200
check "a name rebound to 127.0.0.1 is refused (403)" \
	test "$(code -H "Host: evil.example:${URL##*:}" "$URL/api/v1/runs")" = 403
check "a cross-site POST is refused (403)" \
	test "$(code -X POST -H 'Origin: http://evil.example' "$URL/api/v1/runs/$RUN/pause")" = 403
check "... and said why" grep -q "loopback page" "$T/body"
check "a request from a page of the server itself is served" \
	test "$(code -H "Origin: $URL" "$URL/api/v1/runs")" = 200
check "the dashboard is served without a token" test "$(code -D "$T/headers" "$URL/")" = 200
check "... as HTML" header_is Content-Type text/html
check "... with the dashboard's headers" web_headers
check "... to a loopback host only (403)" \
	test "$(code -H "Host: evil.example:${URL##*:}" "$URL/")" = 403
check "whoami without tokens: an operator" test "$(code "$URL/api/v1/whoami")" = 200
check "... and says there are no tokens" json_true "$T/body" '.role == "operator" and .tokens == false'
check "the page's own POST (Origin of the server) is served" \
	test "$(code -X POST -H "Origin: $URL" "$URL/api/v1/runs/no-such-run/pause")" = 404
check "a path that is not UTF-8 is answered, not dropped" test "$(code "$URL/api/v1/runs/%ff")" != 000
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
test_end

finish
