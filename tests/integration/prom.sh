# A real Prometheus (Debian's prometheus) for the integration tests, on a
# free loopback port, scraping the targets a test gives it every second.
# Sourced after lib.sh, whose $T, free_base, eventually, wait_for, stop_pid
# and EXTRA_PIDS it uses:
#
#	. "$(dirname "$0")/prom.sh"
#	prom_start prom 127.0.0.1:2379 '127.0.0.1:9121,node=127.0.0.1:7001' || finish
#	check "both targets scraped" prom_wait_up 2 20
#	prom_query 'up'              # "LABELS VALUE" a line
#	prom_stop
#
# A target is HOST:PORT, then optionally ",LABEL=VALUE" pairs that
# Prometheus attaches to every series scraped from it (a value cannot hold
# a comma). Everything the server writes lives in $T/NAME: prometheus.yml,
# data/, prometheus.log. The server is stopped by its pid (prom_stop, or
# lib.sh's cleanup through EXTRA_PIDS).
#
# Sets PROM_URL (http://127.0.0.1:PORT), PROM_PID, PROM_DIR.

PROM_URL=
PROM_PID=
PROM_DIR=

# prom_config FILE JOB TARGET...: the configuration; 1 s scrapes.
prom_config() {
	local file=$1 job=$2 t addr kv k v
	shift 2
	{
		cat <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: $job
    static_configs:
YAML
		for t in "$@"; do
			addr=${t%%,*}
			printf "      - targets: ['%s']\n" "$addr"
			[ "$addr" = "$t" ] && continue
			printf '        labels:\n'
			IFS=, read -r -a kv <<<"${t#*,}"
			for k in "${kv[@]}"; do
				v=${k#*=}
				k=${k%%=*}
				printf "          %s: '%s'\n" "$k" "$v"
			done
		done
	} >"$file"
}

prom_ready() { curl -fsS --max-time 1 "$PROM_URL/-/ready" >/dev/null 2>&1; }

# prom_start NAME TARGET...: start Prometheus in $T/NAME, wait until it is
# ready (30 s); a port taken between the check and the start is tried
# again with another.
prom_start() {
	local name=$1 port try
	shift
	PROM_DIR=$T/$name
	mkdir -p "$PROM_DIR"
	prom_config "$PROM_DIR/prometheus.yml" "$name" "$@"
	promtool check config "$PROM_DIR/prometheus.yml" >"$PROM_DIR/promtool.out" 2>&1 ||
		{ bad "prometheus.yml is not valid"; test_show "$PROM_DIR/promtool.out"; return 1; }
	for try in 1 2 3; do
		port=$(free_base 1) || { bad "no free port for prometheus"; return 1; }
		PROM_URL=http://127.0.0.1:$port
		prometheus --config.file="$PROM_DIR/prometheus.yml" \
			--storage.tsdb.path="$PROM_DIR/data" \
			--web.listen-address="127.0.0.1:$port" \
			>>"$PROM_DIR/prometheus.log" 2>&1 </dev/null &
		PROM_PID=$!
		EXTRA_PIDS+=("$PROM_PID")
		eventually 30 sh -c "! kill -0 $PROM_PID 2>/dev/null || curl -fsS --max-time 1 '$PROM_URL/-/ready' >/dev/null 2>&1"
		prom_ready && kill -0 "$PROM_PID" 2>/dev/null && return 0
		stop_pid "$PROM_PID" 5 >/dev/null
		grep -q 'address already in use' "$PROM_DIR/prometheus.log" || break
	done
	bad "prometheus is not ready on $PROM_URL within 30 s"
	test_show "$PROM_DIR/prometheus.log"
	return 1
}

prom_stop() {
	[ -n "$PROM_PID" ] || return 0
	stop_pid "$PROM_PID"
	local rc=$?
	PROM_PID=
	return $rc
}

# prom_query PROMQL: the instant query's vector, one "LABELS VALUE" a line
# (LABELS as {k="v",...}, sorted); fails when the query is refused.
prom_query() {
	curl -fsS --max-time 5 "$PROM_URL/api/v1/query" --data-urlencode "query=$1" |
		jq -er 'select(.status == "success") | .data.result[] |
			"{" + (.metric | to_entries | sort_by(.key) | map("\(.key)=\"\(.value)\"") | join(",")) + "} " + .value[1]'
}

# prom_value PROMQL: the largest value of the query's vector; fails on an
# empty vector (no sample).
prom_value() {
	curl -fsS --max-time 5 "$PROM_URL/api/v1/query" --data-urlencode "query=$1" |
		jq -er 'select(.status == "success") | [.data.result[].value[1] | tonumber] | max'
}

# prom_up_count: how many targets the last scrape reached.
prom_up_count() { prom_value 'count(up == 1)' 2>/dev/null || echo 0; }

# prom_wait_up N SECONDS: until N targets answer Prometheus' scrapes.
prom_wait_up() { eventually "$2" sh -c "[ \"\$(curl -fsS --max-time 1 '$PROM_URL/api/v1/query' --data-urlencode 'query=count(up == 1)' | jq -r '.data.result[0].value[1] // 0')\" = $1 ]"; }

# prom_has PROMQL OP NUMBER: the query's largest value compares so (for
# eventually/check: eventually 20 prom_has 'etcd_server_has_leader{...}' -eq 0).
prom_has() {
	local v
	v=$(prom_value "$1") || return 1
	awk -v v="$v" -v op="$2" -v n="$3" 'BEGIN {
		if (op == "-eq") exit !(v == n); if (op == "-ne") exit !(v != n)
		if (op == "-gt") exit !(v > n); if (op == "-ge") exit !(v >= n)
		if (op == "-lt") exit !(v < n); if (op == "-le") exit !(v <= n); exit 2 }'
}
