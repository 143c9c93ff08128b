# Shared by the benchmarks: clocks, medians, free loopback ports, polling.
# Source it: . "$(dirname "$0")/lib.sh"

now_us() { echo $(($(date +%s%N) / 1000)); }
now_ms() { date +%s%3N; }

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_base N [FIRST LAST STEP]: a base port with N free ports and their
# cluster bus ports (+10000), kept below the kernel's ephemeral range.
free_base() {
	local n=$1 first=${2:-20000} last=${3:-22600} step=${4:-20} base i busy
	for base in $(seq "$first" "$step" "$last"); do
		busy=0
		for ((i = 0; i < n; i++)); do
			if port_in_use $((base + i)) || port_in_use $((base + i + 10000)); then busy=1; break; fi
		done
		[ $busy = 0 ] && { echo "$base"; return 0; }
	done
	return 1
}

# wait_for SECONDS COMMAND...: poll every 20 ms until the command succeeds.
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.02
	done
}

# config_manifest FILE NAME [WAVES-YAML]: a two-parameter config hotfix
# (timeout, maxmemory-policy) with no guard, by default in one wave with
# zero bake.
config_manifest() {
	local waves=${3:-"      - nodes: 100%
        bake: 0"}
	cat >"$1" <<YAML
apiVersion: hotfix/v1
kind: Hotfix
metadata:
  name: $2
  version: 1
  owner: bench@example.com
  problem: Benchmark of a two-parameter config hotfix.
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
