#!/usr/bin/env bash
# OFREP in 'hotfix serve' (issue 12): a flag document published to a real
# redis-server sandbox (tests/flags/publish.c) and evaluated over
# POST /ofrep/v1/evaluate/flags[/{key}] with curl: values, variants,
# reasons and metadata, the protocol's errors and statuses, the bulk
# answer's ETag and If-None-Match -> 304, a new version followed through
# hotfix:flags, the tokens; every body checked against docs/openapi.yaml.
# Then the real peer: the OpenFeature Node SDK with @openfeature/ofrep-provider
# (tests/ofrep, 'make flags-deps') evaluates the flags and sees a kill switch.
. "$(dirname "$0")/lib.sh"

SRC=${HF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PUBLISH=${HF_FLAGS_PUBLISH:?set HF_FLAGS_PUBLISH to the tests/flags/publish.c program}
PEER=$SRC/tests/ofrep
VIEW=view-$RANDOM$RANDOM$RANDOM
OPER=oper-$RANDOM$RANDOM$RANDOM

# ask TOKEN PATH BODY [HEADER]: POST BODY to PATH; the status on stdout,
# the body in $T/body, the headers in $T/headers. TOKEN '-' sends none.
ask() {
	local args=(-H 'Content-Type: application/json')
	[ "$1" != - ] && args+=(-H "Authorization: Bearer $1")
	[ -n "${4:-}" ] && args+=(-H "$4")
	rm -f "$T/body"
	curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X POST "${args[@]}" \
		--data-binary "$3" "$URL$2"
}
# answers WANT TOKEN PATH BODY [HEADER]: the request answers WANT.
answers() {
	local got
	got=$(ask "$2" "$3" "$4" "${5:-}")
	[ "$got" = "$1" ] && return 0
	echo "POST $3 $4: $got, wanted $1: $(cat "$T/body")"
	return 1
}
# fits SPEC-PATH STATUS: $T/body fits the schema of docs/openapi.yaml.
fits() {
	local out
	out=$(jq -n -r --slurpfile spec "$T/openapi.json" --slurpfile body "$T/body" \
		--arg path "$1" --arg method post --arg status "$2" -f "$SRC/tests/integration/openapi.jq") ||
		return 1
	[ -z "$out" ] && return 0
	echo "$out"
	echo "the body: $(cut -c1-1000 "$T/body")"
	return 1
}
ONE='/ofrep/v1/evaluate/flags/{key}'
ALL=/ofrep/v1/evaluate/flags
# one WANT KEY CONTEXT: evaluate flag KEY for CONTEXT (viewer) and check the
# answer against the spec.
one() { answers "$1" "$VIEW" "$ALL/$2" "{\"context\": $3}" && fits "$ONE" "$1"; }
# bulk WANT CONTEXT [HEADER]: every flag for CONTEXT.
bulk() { answers "$1" "$VIEW" "$ALL" "{\"context\": $2}" "${3:-}" && { [ "$1" = 304 ] || fits "$ALL" "$1"; }; }
etag() { sed -n 's/^ETag: *\(.*\)\r$/\1/Ip' "$T/headers"; }
# etag_of VERSION: the last answer's ETag is a strong tag of VERSION.
etag_of() { etag | grep -q "^\"$1-[0-9a-f]\{32\}\"\$" || { echo "ETag: '$(etag)'"; return 1; }; }
# flag_is KEY FILTER: the bulk answer's entry for KEY passes the jq FILTER.
flag_is() { json_true "$T/body" ".flags[] | select(.key == \"$1\") | $2"; }
# now_is KEY CONTEXT FILTER: flag KEY answers 200 for CONTEXT, passing FILTER.
now_is() { [ "$(ask "$VIEW" "$ALL/$1" "{\"context\": $2}")" = 200 ] && jq -e "$3" "$T/body" >/dev/null; }

# doc FILE DEFAULT TARGETING: the test document, 'new-checkout' with the
# default variant DEFAULT and the targeting TARGETING (JSON, or null).
doc() {
	jq -n --arg d "$2" --argjson t "$3" '{
	  metadata: {team: "payments"},
	  flags: {
	    "new-checkout": ({state: "ENABLED", variants: {on: true, off: false},
	                      defaultVariant: $d, metadata: {owner: "checkout", ticket: 12}}
	                     + (if $t == null then {} else {targeting: $t} end)),
	    banner: {state: "ENABLED", variants: {blue: "blue", red: "red"}, defaultVariant: "blue"},
	    "max-retries": {state: "ENABLED", variants: {low: 3, high: 10}, defaultVariant: "low",
	                    targeting: {if: [{"==": [{var: "plan"}, "pro"]}, "high", null]}},
	    rollout: {state: "ENABLED", variants: {a: "a", b: "b"}, defaultVariant: "a",
	              targeting: {fractional: [["a", 50], ["b", 50]]}},
	    "by-email": {state: "ENABLED", variants: {a: "a", b: "b"}, defaultVariant: "a",
	                 targeting: {fractional: [{var: "email"}, ["a", 50], ["b", 50]]}},
	    retired: {state: "DISABLED", variants: {on: true, off: false}, defaultVariant: "off"}
	  }}' >"$1"
}
TARGETED='{"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}'
doc "$T/v1.json" on "$TARGETED"
doc "$T/kill.json" off null
PRO='{"targetingKey": "user-1", "plan": "pro"}'

yq . "$SRC/docs/openapi.yaml" >"$T/openapi.json" || { bad "docs/openapi.yaml is not YAML"; finish; }
printf 'viewer %s\noperator %s\n' "$VIEW" "$OPER" >"$T/tokens"
chmod 600 "$T/tokens"

test_begin 'without --cluster: no flag is found, the bulk answer is empty'
start_serve nocluster || finish
check "a flag: 404" one 404 banner "$PRO"
check "... FLAG_NOT_FOUND, saying there is no --cluster" \
	json_true "$T/body" '.key == "banner" and .errorCode == "FLAG_NOT_FOUND" and (.errorDetails | test("--cluster"))'
check "every flag: 200" bulk 200 "$PRO"
check "... none" json_true "$T/body" '.flags == []'
check "GET is not OFREP: 405" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$URL$ALL') = 405 ]"
check "the server stops on SIGTERM" stop_pid "$SERVE_PID"
check "... with no sanitizer report" lacks "$T/serve-nocluster.out" Sanitizer
test_end

sandbox_up ofrep --shards 3 --replicas 0 || finish
start_serve main --tokens "$T/tokens" --cluster "$SEED" || finish

test_begin 'before any publish: no flag, an empty bulk answer of version 0'
check "a flag: 404 FLAG_NOT_FOUND" one 404 banner "$PRO"
check "... no document published" json_true "$T/body" '.errorCode == "FLAG_NOT_FOUND" and (.errorDetails | test("no flag document"))'
check "every flag: 200, none" bulk 200 "$PRO"
check "... none" json_true "$T/body" '.flags == []'
check "... with an ETag of version 0" etag_of 0
test_end

test_begin 'auth: no token 401, a wrong one 401, a viewer evaluates (POST), an operator too'
check "version 1 is published" "$PUBLISH" "$SEED" "$T/v1.json" 0
check "serve follows it: the flag is found" eventually 10 one 200 banner "$PRO"
check "no token: 401" answers 401 - "$ALL/banner" "{\"context\": $PRO}"
check "... asking for a bearer token" grep -qi '^WWW-Authenticate: Bearer' "$T/headers"
check "... a body that fits the spec" fits "$ONE" 401
check "no token on the bulk path: 401" answers 401 - "$ALL" "{\"context\": $PRO}"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/huge"
check "no token, a body over 1 MiB (not kept): 401" \
	sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --data-binary @'$T/huge' '$URL$ALL/banner') = 401 ]"
check "a wrong token: 401" answers 401 wrong-token "$ALL/banner" "{\"context\": $PRO}"
check "a viewer's token in a cookie does not do for a POST: 401" \
	sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -X POST -b 'hotfix_token=$VIEW' -d '{}' '$URL$ALL/banner') = 401 ]"
check "a viewer: 200" answers 200 "$VIEW" "$ALL/banner" "{\"context\": $PRO}"
check "an operator: 200" answers 200 "$OPER" "$ALL/banner" "{\"context\": $PRO}"
test_end

test_begin 'one flag: values, variants, reasons, metadata'
check "new-checkout for a pro: 200" one 200 new-checkout "$PRO"
check "... true, variant on, TARGETING_MATCH" json_true "$T/body" \
	'.key == "new-checkout" and .value == true and .variant == "on" and .reason == "TARGETING_MATCH"'
check "... the document's metadata and the flag's" json_true "$T/body" \
	'.metadata == {team: "payments", owner: "checkout", ticket: 12}'
check "new-checkout for a free plan" one 200 new-checkout '{"targetingKey": "user-2", "plan": "free"}'
check "... false, variant off" json_true "$T/body" '.value == false and .variant == "off" and .reason == "TARGETING_MATCH"'
check "banner: a string, STATIC" one 200 banner '{}'
check "... blue" json_true "$T/body" '.value == "blue" and .variant == "blue" and .reason == "STATIC"'
check "max-retries for a pro: a number" one 200 max-retries "$PRO"
check "... 10, high" json_true "$T/body" '.value == 10 and .variant == "high" and .reason == "TARGETING_MATCH"'
check "max-retries without a plan: the default" one 200 max-retries '{"targetingKey": "user-3"}'
check "... 3, low, DEFAULT" json_true "$T/body" '.value == 3 and .variant == "low" and .reason == "DEFAULT"'
check "rollout with a targeting key: a variant" one 200 rollout "$PRO"
check "... a or b, TARGETING_MATCH" json_true "$T/body" '(.value == "a" or .value == "b") and .value == .variant and .reason == "TARGETING_MATCH"'
check "an empty body: the empty context" answers 200 "$VIEW" "$ALL/banner" ''
check "a context of null: the empty context" answers 200 "$VIEW" "$ALL/banner" '{"context": null}'
test_end

test_begin 'one flag: the errors of the protocol'
check "an unknown flag: 404" one 404 no-such-flag "$PRO"
check "... FLAG_NOT_FOUND" json_true "$T/body" '.key == "no-such-flag" and .errorCode == "FLAG_NOT_FOUND"'
check "a disabled flag: 404" one 404 retired "$PRO"
check "... FLAG_NOT_FOUND, saying it is disabled" json_true "$T/body" '.errorCode == "FLAG_NOT_FOUND" and (.errorDetails | test("disabled"))'
check "a body that is not JSON: 400" answers 400 "$VIEW" "$ALL/banner" '{"context": '
check "... PARSE_ERROR" json_true "$T/body" '.key == "banner" and .errorCode == "PARSE_ERROR"'
check "... a body that fits the spec" fits "$ONE" 400
check "a body that is no object: 400 PARSE_ERROR" answers 400 "$VIEW" "$ALL/banner" '[1]'
check "... PARSE_ERROR" json_true "$T/body" '.errorCode == "PARSE_ERROR"'
check "a context that is no object: 400" answers 400 "$VIEW" "$ALL/banner" '{"context": "x"}'
check "... INVALID_CONTEXT" json_true "$T/body" '.errorCode == "INVALID_CONTEXT"'
check "a fractional flag without a targeting key: 400" one 400 rollout '{"plan": "pro"}'
check "... TARGETING_KEY_MISSING" json_true "$T/body" '.key == "rollout" and .errorCode == "TARGETING_KEY_MISSING"'
check "a fractional flag that splits by another attribute needs none" one 200 by-email '{"email": "a@b.c"}'
check "a body over 1 MiB: 400 PARSE_ERROR" \
	sh -c "[ \$(curl -s -o '$T/body' -w '%{http_code}' -H 'Authorization: Bearer $VIEW' --data-binary @'$T/huge' '$URL$ALL/banner') = 400 ] &&
	       jq -e '.errorCode == \"PARSE_ERROR\"' '$T/body' >/dev/null"
check "the server still answers" one 200 banner '{}'
test_end

test_begin 'every flag: a list of answers and errors, ETag, If-None-Match -> 304'
check "every flag for a pro: 200" bulk 200 "$PRO"
check "... six entries, by key (the published document is canonical)" json_true "$T/body" \
	'[.flags[].key] == ["banner", "by-email", "max-retries", "new-checkout", "retired", "rollout"]'
check "... new-checkout true" flag_is new-checkout '.value == true and .variant == "on"'
check "... the disabled flag as FLAG_NOT_FOUND" flag_is retired '.errorCode == "FLAG_NOT_FOUND"'
check "... with an ETag of version 1" etag_of 1
E1=$(etag)
check "the same context with If-None-Match: 304" bulk 304 "$PRO" "If-None-Match: $E1"
check "... no body" not test -s "$T/body"
check "... the same ETag" test "$(etag)" = "$E1"
check "the same context, its keys in another order: 304" \
	bulk 304 '{"plan": "pro", "targetingKey": "user-1"}' "If-None-Match: $E1"
check "another context: 200" bulk 200 '{"targetingKey": "user-1", "plan": "free"}' "If-None-Match: $E1"
check "... another ETag" test "$(etag)" != "$E1"
check "without a targeting key: 200" bulk 200 '{"plan": "pro"}'
check "... rollout says TARGETING_KEY_MISSING" flag_is rollout '.errorCode == "TARGETING_KEY_MISSING"'
check "... the others answer" flag_is banner '.value == "blue"' 
check "a malformed body: 400 PARSE_ERROR" answers 400 "$VIEW" "$ALL" 'nope'
check "... with no key" json_true "$T/body" '.errorCode == "PARSE_ERROR" and (has("key") | not)'
check "... a body that fits the spec" fits "$ALL" 400
test_end

test_begin 'a new version: followed, 200 with a new ETag for the old tag'
check "the kill is published as version 2" "$PUBLISH" "$SEED" "$T/kill.json" 1
check "serve follows it: new-checkout is off for a pro, STATIC" eventually 10 \
	now_is new-checkout "$PRO" '.value == false and .variant == "off" and .reason == "STATIC"' 
check "every flag with the tag of version 1: 200" bulk 200 "$PRO" "If-None-Match: $E1"
check "... a tag of version 2" etag_of 2
check "... new-checkout false" flag_is new-checkout '.value == false' 
test_end

test_begin 'the OpenFeature Node SDK with the OFREP provider sees the flags and the kill switch'
check "node runs" node --version
check "tests/ofrep/node_modules holds the provider (make flags-deps)" \
	test -f "$PEER/node_modules/@openfeature/ofrep-provider/package.json"
doc "$T/v3.json" on "$TARGETED"
check "version 3 turns new-checkout on again" "$PUBLISH" "$SEED" "$T/v3.json" 2
check "serve follows it" eventually 10 now_is new-checkout "$PRO" '.value == true' 
check "the SDK evaluates, the kill is published, the SDK sees it" \
	sh -c "node '$PEER/peer.mjs' '$URL' '$VIEW' '$PUBLISH' '$SEED' '$T/kill.json' 3 >'$T/peer.json'"
check "before the kill: true, on, TARGETING_MATCH, with the metadata" json_true "$T/peer.json" \
	'.before | .value == true and .variant == "on" and .reason == "TARGETING_MATCH" and .errorCode == null
	 and .flagMetadata.owner == "checkout" and .flagMetadata.team == "payments"'
check "a free plan: false" json_true "$T/peer.json" '.free | .value == false and .variant == "off"'
check "a string flag: blue" json_true "$T/peer.json" '.banner | .value == "blue" and .reason == "STATIC"'
check "a number flag: 10" json_true "$T/peer.json" '.retries | .value == 10 and .variant == "high"'
check "an unknown flag: the default, FLAG_NOT_FOUND" json_true "$T/peer.json" \
	'.missing | .value == true and .reason == "ERROR" and .errorCode == "FLAG_NOT_FOUND"'
check "a string flag asked as a number: the default, TYPE_MISMATCH" json_true "$T/peer.json" \
	'.mismatch | .value == 7 and .errorCode == "TYPE_MISMATCH"'
check "without a token: the default, an error" json_true "$T/peer.json" \
	'.anonymous | .value == false and .reason == "ERROR" and .errorCode == "GENERAL"'
check "after the kill: false, off, STATIC" json_true "$T/peer.json" \
	'.after | .value == false and .variant == "off" and .reason == "STATIC" and .errorCode == null'
test_end

test_begin 'its subscription killed, serve connects again and catches up'
killed=0
for p in $(ports_of "$BASE" 3); do
	killed=$((killed + $(redis-cli -h 127.0.0.1 -p "$p" CLIENT KILL TYPE pubsub)))
done
check "the nodes killed serve's subscription" test "$killed" -ge 1
check "version 5 turns new-checkout on again" "$PUBLISH" "$SEED" "$T/v3.json" 4
check "serve follows it" eventually 10 now_is new-checkout "$PRO" '.value == true'
test_end

test_begin '4 clients evaluate while 10 versions are published: every answer whole, of some version'
for i in 1 2 3 4; do
	(
		for ((n = 0; n < 100; n++)); do
			curl -s -X POST -H "Authorization: Bearer $VIEW" --data-binary "{\"context\": $PRO}" \
				-w ' %{http_code}\n' "$URL$ALL/new-checkout"
		done >"$T/burst$i"
	) &
	BURST[$i]=$!
done
published=5
for k in $(seq 6 15); do
	# Odd versions turn new-checkout on, even ones kill it.
	if [ $((k % 2)) = 1 ]; then f=$T/v3.json; else f=$T/kill.json; fi
	"$PUBLISH" "$SEED" "$f" $((k - 1)) >/dev/null && published=$k
done
for i in 1 2 3 4; do wait "${BURST[$i]}"; done
check "versions 6 to 15 are published" test "$published" = 15
check "400 answers, all 200" test "$(cat "$T"/burst? | grep -c ' 200$')" = 400
check "each one on or off as a version says" sh -c "sed 's/ 200\$//' '$T'/burst? | jq -e -s 'all(.[];
	(.value == true and .variant == \"on\" and .reason == \"TARGETING_MATCH\") or
	(.value == false and .variant == \"off\" and .reason == \"STATIC\"))' >/dev/null"
check "serve ends on version 15: on" eventually 10 now_is new-checkout "$PRO" '.value == true'
check "the bulk answer is of version 15" bulk 200 "$PRO"
check "... its tag says so" etag_of 15
test_end

# A fault: version 16 written without its message on hotfix:flags, as
# when the message is lost; only the poll can find it.
test_begin 'a version whose message is lost: the poll finds it'
check "version 16 (the kill) is written, unannounced" sh -c "
	redis-cli -c -h 127.0.0.1 -p $BASE HSET 'hotfix:flags:{hotfix}:doc' version 16 \
		doc \"\$(jq -c . '$T/kill.json')\" published_ms 0 run '' >/dev/null"
check "serve applies it: new-checkout is off" eventually 10 \
	now_is new-checkout "$PRO" '.value == false and .reason == "STATIC"'
check "the bulk answer is of version 16" bulk 200 "$PRO"
check "... its tag says so" etag_of 16
test_end

test_begin 'the cluster gone: the last document is still served; SIGTERM stops serve'
check "the sandbox stops" hf sandbox down --dir "$T/ofrep"
check "new-checkout is still answered" one 200 new-checkout "$PRO"
check "... off, as version 16 says" json_true "$T/body" '.value == false'
check "serve stops on SIGTERM" stop_pid "$SERVE_PID"
check "... with no sanitizer report (a leak is one, under ASan)" lacks "$T/serve-main.out" Sanitizer
check "... nor undefined behaviour" lacks "$T/serve-main.out" "runtime error"
test_end

finish
