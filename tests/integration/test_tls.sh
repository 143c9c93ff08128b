#!/usr/bin/env bash
# TLS: a sandbox that speaks TLS only (its own CA, client certificates
# required, tls-cluster and tls-replication), a config hotfix planned,
# applied and rolled back over rediss://; a wrong CA, a missing client
# certificate and plain redis:// on a TLS port refused with nothing
# changed. Then IPv6 literals ([::1]) where the machine has IPv6 loopback.
. "$(dirname "$0")/lib.sh"

PARAMS="timeout maxmemory-policy"

sandbox_up tls --tls --shards 3 --replicas 1 || finish
PKI=$T/tls/tls
TLSOPTS=(--tls-cacert "$PKI/ca.crt" --tls-cert "$PKI/client.crt" --tls-key "$PKI/client.key")
ports=$(ports_of "$BASE" 6)

# The test's own redis-cli speaks TLS with the sandbox's client certificate.
rcli() { redis-cli -h 127.0.0.1 --tls --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" "$@"; }

test_begin 'sandbox up --tls: a TLS-only cluster, seed rediss://'
check 'the seed URI is rediss://' contains "$T/tls.up" '^rediss://127.0.0.1:'
check 'the CA, server and client certificates were made' \
	test -s "$PKI/ca.crt" -a -s "$PKI/server.crt" -a -s "$PKI/client.crt" -a -s "$PKI/client.key"
check 'the client key is readable by its owner only' test "$(stat -c %a "$PKI/client.key")" = 600
check 'the server certificate names 127.0.0.1 and localhost' \
	sh -c "openssl x509 -in '$PKI/server.crt' -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1' &&
	       openssl x509 -in '$PKI/server.crt' -noout -ext subjectAltName | grep -q 'DNS:localhost'"
check 'the server certificate verifies against the CA' openssl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt"
check 'the nodes take no plain connection (port 0)' test "$(rcli -p "$BASE" CONFIG GET port | sed -n 2p)" = 0
check 'the cluster bus and replication are TLS' \
	test "$(rcli -p "$BASE" CONFIG GET tls-cluster | sed -n 2p)$(rcli -p "$BASE" CONFIG GET tls-replication | sed -n 2p)" = yesyes
check 'CLUSTER NODES gives the TLS ports' contains <(rcli -p "$BASE" CLUSTER NODES) "127.0.0.1:$((BASE + 5))@"
test_end

rcli -p "$BASE" CONFIG SET timeout 17 >/dev/null
snapshot "$T/before" "$ports" $PARAMS
manifest "$T/fix.yaml" tls-timeout

test_begin 'cluster show and plan over rediss:// with --tls-cacert/--tls-cert/--tls-key'
expect_exit 0 'cluster show' hf "${TLSOPTS[@]}" cluster show --cluster "$SEED"
check 'cluster show lists six nodes' test "$(grep -cE ' (primary|replica) ' "$T/out")" = 6
check 'cluster show prints the rediss:// URI' contains "$T/out" "rediss://127.0.0.1:$BASE"
expect_exit 0 'plan' hf "${TLSOPTS[@]}" plan "$T/fix.yaml" --cluster "$SEED"
check 'plan lists every node' test "$(grep -c 'timeout: ' "$T/out")" = 6
check 'plan shows the change' contains "$T/out" 'timeout: "17" -> "300"'
test_end

test_begin 'apply over TLS changes every node, rollback restores them'
expect_exit 0 'apply --yes' hf --json "${TLSOPTS[@]}" apply "$T/fix.yaml" --cluster "$SEED" --yes
run=$(json_get "$T/out" .run)
check 'apply says promoted' json_true "$T/out" '.state == "promoted"'
bad_nodes=0
for p in $ports; do
	[ "$(cfg "$p" timeout)" = 300 ] || bad_nodes=$((bad_nodes + 1))
done
check "every node holds timeout 300 ($bad_nodes do not)" test "$bad_nodes" = 0
check 'the journal records the rediss:// URI' json_true <(hf --json status "$run") '.cluster | startswith("rediss://")'
# Without --cluster the recorded URI is used, with the TLS options given.
expect_exit 0 'rollback' hf "${TLSOPTS[@]}" rollback "$run"
snapshot "$T/after" "$ports" $PARAMS
check 'rollback restored the exact prior values' test_cmp "$T/before" "$T/after"
test_end

# A CA of nobody's: the test makes it with the openssl command line.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=some other CA" -keyout "$T/other-ca.key" -out "$T/other-ca.crt" >/dev/null 2>&1

test_begin 'a wrong CA is refused: clear error, exit non-zero, nothing changed'
expect_exit 5 'plan with a wrong CA' hf --tls-cacert "$T/other-ca.crt" --tls-cert "$PKI/client.crt" \
	--tls-key "$PKI/client.key" plan "$T/fix.yaml" --cluster "$SEED"
check 'the error says the certificate is not trusted' contains "$T/err" 'certificate of 127.0.0.1:[0-9]* is not trusted'
expect_exit 5 'apply with a wrong CA' env HOTFIX_TLS_CACERT="$T/other-ca.crt" HOTFIX_TLS_CERT="$PKI/client.crt" \
	HOTFIX_TLS_KEY="$PKI/client.key" "$HOTFIX" --state "$STATE" apply "$T/fix.yaml" --cluster "$SEED" --yes
check 'the error says the certificate is not trusted (environment)' contains "$T/err" 'is not trusted'
snapshot "$T/after-wrong" "$ports" $PARAMS
check 'nothing changed' test_cmp "$T/before" "$T/after-wrong"
test_end

test_begin 'other mistakes are refused clearly, nothing changed'
expect_exit 4 'plain redis:// on the TLS port' hf "${TLSOPTS[@]}" plan "$T/fix.yaml" --cluster "redis://127.0.0.1:$BASE"
check 'the error suggests rediss://' contains "$T/err" 'use rediss://'
expect_exit 4 'no client certificate' hf --tls-cacert "$PKI/ca.crt" plan "$T/fix.yaml" --cluster "$SEED"
check 'the error mentions the client certificate' contains "$T/err" 'client certificate'
expect_exit 5 'a name the certificate does not hold (--tls-sni)' \
	hf "${TLSOPTS[@]}" --tls-sni redis.example.com plan "$T/fix.yaml" --cluster "$SEED"
check 'the error says the certificate is not trusted (name)' contains "$T/err" 'not trusted'
expect_exit 2 'a CA file that does not exist' hf --tls-cacert "$T/nope.crt" plan "$T/fix.yaml" --cluster "$SEED"
check 'the error names the file' contains "$T/err" "nope.crt"
expect_exit 0 '--insecure without a CA (warned)' hf --insecure --tls-cert "$PKI/client.crt" \
	--tls-key "$PKI/client.key" cluster show --cluster "$SEED"
check '--insecure is warned about' contains "$T/err" 'warning: --insecure'
expect_exit 2 'hotfix load refuses rediss://' hf "${TLSOPTS[@]}" load --cluster "$SEED" --seconds 1
check 'the error says load has no TLS' contains "$T/err" 'does not support TLS'
snapshot "$T/after-mistakes" "$ports" $PARAMS
check 'nothing changed' test_cmp "$T/before" "$T/after-mistakes"
test_end

# Sessions kept across processes (tlscache.c). The tests above already ran
# a wrong CA and a wrong name after sessions were kept: refused all the same.
S3=$T/st3
handshakes() { sed -n 's/^hotfix: TLS handshakes: \([0-9]*\) full, \([0-9]*\) resumed$/\1 \2/p' "$T/err"; }
test_begin 'TLS sessions are resumed by the next command, and only good ones'
expect_exit 0 'cluster show -v, fresh state' "$HOTFIX" --state "$S3" -v "${TLSOPTS[@]}" cluster show --cluster "$SEED"
check 'full handshakes, none resumed' test "$(handshakes | cut -d' ' -f2)" = 0
check 'a session file per node' test "$(find "$S3/tls-sessions" -type f | wc -l)" = 6
check 'the files are private (0600 in 0700)' \
	test "$(stat -c %a "$S3/tls-sessions")$(stat -c %a "$S3"/tls-sessions/* | sort -u)" = 700600
expect_exit 0 'cluster show -v again' "$HOTFIX" --state "$S3" -v "${TLSOPTS[@]}" cluster show --cluster "$SEED"
check 'every handshake resumed' test "$(handshakes | cut -d' ' -f1)" = 0
check 'at least one per node' test "$(handshakes | cut -d' ' -f2)" -ge 6
check 'the seed is shown' contains "$T/out" "rediss://127.0.0.1:$BASE"
for f in "$S3"/tls-sessions/*; do head -c 300 /dev/urandom >"$f"; done
expect_exit 0 'corrupted session files' "$HOTFIX" --state "$S3" -v "${TLSOPTS[@]}" cluster show --cluster "$SEED"
check 'are ignored: full handshakes' test "$(handshakes | cut -d' ' -f2)" = 0
chmod 644 "$S3"/tls-sessions/*
expect_exit 0 'session files readable by others' "$HOTFIX" --state "$S3" -v "${TLSOPTS[@]}" cluster show --cluster "$SEED"
check 'are not offered' test "$(handshakes | cut -d' ' -f2)" = 0
check 'and are removed' test -z "$(find "$S3/tls-sessions" -type f -perm /077)"
expect_exit 0 'cluster show -v after them' "$HOTFIX" --state "$S3" -v "${TLSOPTS[@]}" cluster show --cluster "$SEED"
check 'which keeps new private ones' \
	test "$(find "$S3/tls-sessions" -type f | wc -l)$(find "$S3/tls-sessions" -type f -perm /077 | wc -l)" = 60
expect_exit 0 '--insecure' "$HOTFIX" --state "$T/st4" -v --insecure --tls-cert "$PKI/client.crt" \
	--tls-key "$PKI/client.key" cluster show --cluster "$SEED"
check 'keeps no session' test ! -e "$T/st4/tls-sessions"
test_end

test_begin 'commands in the state directory find the TLS sandbox and its certificates'
mkdir -p "$T/st2" && ln -s "$T/tls" "$T/st2/sandbox"
expect_exit 0 'cluster show, no --cluster, no TLS option' "$HOTFIX" --state "$T/st2" cluster show
check 'it found the rediss:// seed' contains "$T/out" "rediss://127.0.0.1:"
test_end
hf sandbox down --dir "$T/tls" >/dev/null 2>&1

# IPv6 literals: a standalone sandbox that listens on ::1 too.
if ! ip -6 addr show lo 2>/dev/null | grep -q 'inet6 ::1'; then
	echo "# skipping IPv6: no ::1 on the loopback interface"
	finish
fi
sandbox_up v6 --standalone --replicas 1 --ipv6 || finish
test_begin 'IPv6 literals: redis://[::1]:PORT and [::1]:PORT'
expect_exit 0 'cluster show via redis://[::1]' hf cluster show --cluster "redis://[::1]:$BASE"
check 'the URI keeps its brackets' contains "$T/out" "redis://\[::1\]:$BASE"
check 'the primary and its replica are listed' test "$(grep -c 'primary\|replica' "$T/out")" -ge 2
manifest "$T/v6.yaml" v6-timeout
expect_exit 0 'apply via [::1]:PORT' hf apply "$T/v6.yaml" --cluster "[::1]:$BASE" --yes
check 'the primary holds timeout 300' test "$(redis-cli -h ::1 -p "$BASE" CONFIG GET timeout | sed -n 2p)" = 300
expect_exit 0 'rollback' hf rollback "$(last_run)" --cluster "redis://[::1]:$BASE"
check 'the primary is back to timeout 0' test "$(redis-cli -h ::1 -p "$BASE" CONFIG GET timeout | sed -n 2p)" = 0
expect_exit 4 'rediss:// on a plain port' hf --insecure cluster show --cluster "rediss://[::1]:$BASE"
check 'the error says it is no TLS port' contains "$T/err" 'not a TLS port'
expect_exit 2 'an IPv6 address without brackets is refused' hf cluster show --cluster "redis://::1:$BASE"
check 'the error says to use brackets' contains "$T/err" 'in brackets'
test_end
finish
