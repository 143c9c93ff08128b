#!/usr/bin/env bash
# 'hotfix flag eval' against the real peer, @openfeature/flagd-core 4.0.1
# (pinned in package-lock.json; 'make flags-deps' installs it): a seeded
# set of contexts (HF_FLAGS_CONTEXTS, 100000 by default) times a document
# with a flag for every operator, each answer compared line by line (value,
# variant, reason, error code). Run by ctest like the integration tests.
. "$(dirname "$0")/../integration/lib.sh"

DIR=$(cd "$(dirname "$0")" && pwd)
COUNT=${HF_FLAGS_CONTEXTS:-100000}

test_begin "flagd-core is installed"
check "node runs" node --version
check "node_modules holds @openfeature/flagd-core (make flags-deps)" \
	test -f "$DIR/node_modules/@openfeature/flagd-core/package.json"
test_end

test_begin "hotfix flag eval answers as flagd-core, $COUNT contexts"
check "the set is generated with flagd-core's answers" node "$DIR/gen.mjs" "$T/set" "$COUNT"
# The set holds rules flagd-core loads but that fail (a branch naming no
# variant, an unknown operator: GENERAL and PARSE_ERROR, as eval answers):
# validate refuses the first of them.
expect_exit 2 "validate refuses what would fail at evaluation" hf flag validate "$T/set/flags.json"
check "validate names the first: a variant that does not exist" \
	grep -q "flags.json:[0-9]*:[0-9]*: unknown variant 'ghost'" "$T/err"
jq 'del(.flags["ghost-variant"])' "$T/set/flags.json" >"$T/noghost.json"
expect_exit 2 "without it, validate refuses the next" hf flag validate "$T/noghost.json"
check "the unknown operator" grep -q "noghost.json:[0-9]*:[0-9]*: unknown operator 'no_such_op'" "$T/err"
check "hotfix evaluates every flag for every context" \
	sh -c "'$HOTFIX' flag eval '$T/set/flags.json' --contexts '$T/set/contexts.jsonl' >'$T/actual.jsonl'"
check "no mismatch" node "$DIR/compare.mjs" "$T/set/expected.jsonl" "$T/actual.jsonl"
test_end

test_begin "the set covers what it claims"
check "a line per context and flag" \
	test "$(wc -l <"$T/actual.jsonl")" -eq "$(( COUNT * $(grep -c '"state"' "$T/set/flags.json") ))"
for reason in STATIC TARGETING_MATCH DEFAULT DISABLED ERROR; do
	check "some answers are $reason" grep -q "\"reason\":\"$reason\"" "$T/set/expected.jsonl"
done
for code in GENERAL PARSE_ERROR; do
	check "some errors are $code" grep -q "\"error_code\":\"$code\"" "$T/set/expected.jsonl"
done
test_end

test_begin "a malformed context line is named CONTEXTS:LINE:COL"
printf '%s\n' '{"targetingKey": "a"}' '{"targetingKey": }' >"$T/bad.jsonl"
expect_exit 2 "eval exits 2" hf flag eval "$T/set/flags.json" --contexts "$T/bad.jsonl"
check "the error names line 2" grep -q "^hotfix: $T/bad.jsonl:2:[0-9]*: " "$T/err"
test_end

test_begin "preview counts the flips between two documents"
jq '.flags["frac-50-50"].targeting.fractional = [["a", 0], ["b", 100]]' "$T/set/flags.json" >"$T/new.json"
head -n 1000 "$T/set/contexts.jsonl" >"$T/c1000.jsonl"
check "the edited document differs" not cmp -s "$T/set/flags.json" "$T/new.json"
expect_exit 0 "preview against itself" hf flag preview "$T/set/flags.json" --contexts "$T/c1000.jsonl" \
	--against "$T/set/flags.json"
check "no flip against itself" grep -q "^0 flip(s) over 1000 context(s)" "$T/out"
expect_exit 0 "preview of 50/50 -> 0/100" hf --json flag preview "$T/new.json" --contexts "$T/c1000.jsonl" \
	--against "$T/set/flags.json"
# Every context that was on 'a' flips to 'b': half of those with a
# targeting key (about 4 in 5 have a non-empty one), so about 400.
check "only frac-50-50 flips" sh -c "! grep '\"key\"' '$T/out' | grep -vq '\"key\":\"frac-50-50\"'"
check "about half the contexts flip" \
	sh -c "n=\$(grep -c '\"key\":\"frac-50-50\"' '$T/out'); [ \$n -gt 300 ] && [ \$n -lt 500 ]"
check "the summary closes the output" sh -c "tail -n 1 '$T/out' | grep -q '\"summary\"'"
test_end

test_begin "hotfix flag: help, YAML, usage errors"
expect_exit 0 "flag --help" hf flag --help
check "the help names the three subcommands" sh -c "grep -q validate '$T/out' && grep -q eval '$T/out' && grep -q preview '$T/out'"
printf 'flags:\n  f:\n    state: ENABLED\n    variants: {on: true, off: false}\n    defaultVariant: on\n' >"$T/f.yaml"
expect_exit 0 "a YAML document validates" hf flag validate "$T/f.yaml"
check "validate counts its flag" grep -q "valid: 1 flag(s)" "$T/out"
expect_exit 2 "an unknown subcommand" hf flag frobnicate "$T/f.yaml"
expect_exit 2 "eval without --contexts" hf flag eval "$T/f.yaml"
expect_exit 2 "a missing file" hf flag validate "$T/none.json"
test_end

finish
