# Shared by the integration tests: a scratch directory, the hotfix binary,
# free loopback ports, sandboxes of real redis-server processes, checks.
# Every test ends with "N passed, M failed" and exits non-zero on failure.
set -u

HOTFIX=${HOTFIX:?set HOTFIX to the hotfix binary}
T=$(mktemp -d /tmp/hotfix-test.XXXXXX)
STATE=$T/state
passed=0
failed=0
SANDBOXES=()
EXTRA_PIDS=()

hf() { "$HOTFIX" --state "$STATE" "$@"; }

ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }

# check DESCRIPTION COMMAND...: pass when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else bad "$desc"; fi
}

# expect_exit CODE DESCRIPTION COMMAND...: run, keep output in $T/out and
# $T/err, pass when the exit code is CODE.
expect_exit() {
	local want=$1 desc=$2 got
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$desc (exit $got)"
	else
		bad "$desc: exit $got, wanted $want"
		sed 's/^/    out: /' "$T/out" | tail -20
		sed 's/^/    err: /' "$T/err" | tail -20
	fi
}

contains() { grep -q -- "$2" "$1"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_base N: a base port with N free ports and their bus ports (+10000),
# all below the kernel's ephemeral range (32768-), where outgoing
# connections could take a port between the check and the start.
free_base() {
	local n=$1 base i busy tries
	for tries in $(seq 1 50); do
		base=$((20000 + (RANDOM % 270) * 10))
		busy=0
		for ((i = 0; i < n; i++)); do
			if port_in_use $((base + i)) || port_in_use $((base + i + 10000)); then
				busy=1
				break
			fi
		done
		[ $busy = 0 ] && { echo "$base"; return 0; }
	done
	return 1
}

# sandbox_up NAME ARGS...: start a sandbox in $T/NAME; sets SEED and BASE.
sandbox_up() {
	local name=$1 nodes
	shift
	local shards=3 replicas=1 a prev=""
	for a in "$@"; do
		[ "$prev" = --shards ] && shards=$a
		[ "$prev" = --replicas ] && replicas=$a
		prev=$a
	done
	nodes=$((shards * (replicas + 1)))
	BASE=$(free_base "$nodes") || { bad "no free ports"; return 1; }
	SANDBOXES+=("$T/$name")
	if ! hf sandbox up --dir "$T/$name" --base-port "$BASE" "$@" >"$T/$name.up" 2>&1; then
		bad "sandbox up $name"
		cat "$T/$name.up"
		return 1
	fi
	SEED=$(tail -n 1 "$T/$name.up")
	return 0
}

cleanup() {
	local d p
	for p in "${EXTRA_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for d in "${SANDBOXES[@]}"; do hf sandbox down --dir "$d" >/dev/null 2>&1; done
	rm -rf "$T"
}
trap cleanup EXIT

rcli() { redis-cli -h 127.0.0.1 "$@"; }

# cfg PORT PARAM [PASSWORD]: the live value of a parameter.
cfg() {
	if [ -n "${3:-}" ]; then
		REDISCLI_AUTH=$3 rcli -p "$1" CONFIG GET "$2" | sed -n 2p
	else
		rcli -p "$1" CONFIG GET "$2" | sed -n 2p
	fi
}

# snapshot FILE PORTS PARAMS...: write "port param value" lines.
snapshot() {
	local out=$1 ports=$2 p k
	shift 2
	: >"$out"
	for p in $ports; do
		for k in "$@"; do echo "$p $k $(cfg "$p" "$k" "${PASS:-}")" >>"$out"; done
	done
}

ports_of() { seq "$1" $(($1 + $2 - 1)) | tr '\n' ' '; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
	local desc=$1 secs=$2 end
	shift 2
	end=$((SECONDS + secs))
	while ! "$@" 2>/dev/null; do
		if [ $SECONDS -ge $end ]; then bad "timed out waiting for $desc"; return 1; fi
		sleep 0.05
	done
	return 0
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit $?
}

# manifest FILE NAME [WAVES-YAML]: a config hotfix of timeout and
# maxmemory-policy with the given waves.
manifest() {
	local file=$1 name=$2 waves=${3:-"      - nodes: 1
      - nodes: 50%
      - nodes: 100%"}
	cat >"$file" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: $name
  version: 1
  owner: test@example.com
  problem: Integration test of a config hotfix.
spec:
  changes:
    - config:
        timeout: "300"
        maxmemory-policy: allkeys-lru
  rollout:
    order: replicas-first
    waves:
$waves
  guard: none
YAML
}
