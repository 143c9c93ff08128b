#!/usr/bin/env bash
# A real 3-member etcd cluster on loopback for the tests and the benchmark,
# and the commands an exec hotfix runs on its members. Everything lives in
# one directory DIR:
#
#	members          "NAME CLIENT-PORT PEER-PORT [METRICS-PORT]" per member
#	NAME.flags       the member's etcd flags, one "--key=value" a line: the
#	                 settings it starts with (edit, then restart)
#	run-NAME.sh      the wrapper that starts it: its pid in NAME.pid, then
#	                 exec etcd with the flags file's flags
#	NAME.data/ NAME.log
#	events.log       "EPOCH-MS EVENT NAME [DETAIL]" of restarts, move-leader
#
# Usage: cluster.sh COMMAND DIR [ARGS...]
#	init DIR BASE [METRICS]   write the files: client ports BASE..BASE+2,
#	                          peer ports BASE+3..BASE+5; with METRICS, each
#	                          member also serves /metrics and /health on
#	                          http://127.0.0.1:METRICS..METRICS+2 (which,
#	                          unlike its client URL, answers before the
#	                          member has joined the cluster)
#	up DIR                    start the three, wait until each is healthy
#	down DIR                  stop every member, by its pid
#	start|stop|restart DIR NAME
#	launch DIR NAME           start it, waiting for its process only (not
#	                          for it to be healthy)
#	relaunch DIR NAME         stop it, then launch: a restart that leaves
#	                          judging the member's health to someone else
#	health DIR NAME           exit 0 iff the member answers healthy
#	get DIR NAME KEY          the value in the member's flags file
#	set DIR NAME KEY VALUE    write it there (the running member is untouched)
#	running DIR NAME KEY      the value the running process was started with
#	                          (/proc/PID/cmdline; etcd's default when absent)
#	leader DIR                the leader's name
#	move-leader DIR NAME      if NAME leads, hand leadership to another
#	                          healthy member and wait until it leads
#	discover DIR              the inventory's {"nodes": [...]}: the leader is
#	                          the primary; names in DIR/discover.exclude are
#	                          left out, DIR/discover.port NAME PORT moves one
#	endpoints DIR             http://127.0.0.1:P,... of all members
#	targets DIR               the members' Prometheus targets, one a line:
#	                          HOST:PORT of /metrics (the metrics URL if
#	                          any), then ",instance=127.0.0.1:CLIENT-PORT"
#	                          so that a series names the member by its
#	                          client address either way
#	manifest DIR FILE OWNER [WAVES-YAML]
#	                          write the exec hotfix of the tests and the
#	                          benchmark: --snapshot-count 5000 on each
#	                          member, restarting it, the leader moved first
#	manifest-quota DIR FILE OWNER [WAVES-YAML]
#	                          the same with a harmful setting: a backend
#	                          quota of 16384 bytes ("16 GiB" written in KiB),
#	                          below what each member's database holds: a
#	                          put the member takes raises the cluster-wide
#	                          NOSPACE alarm and every put fails after it.
#	                          Started again without waiting for health
#	                          (relaunch: an alarm makes a member unhealthy);
#	                          revert restarts it with its old quota, then
#	                          disarms the alarms (recover)
#	recover DIR NAME          wait until NAME answers, disarm every alarm,
#	                          wait until it is healthy
set -u

cmd=${1:?command}
D=${2:?directory}
ETCDCTL=(etcdctl --dial-timeout=1s --command-timeout=3s)

now_ms() { date +%s%3N; }
event() { echo "$(now_ms) $*" >>"$D/events.log"; }
die() { echo "cluster.sh $cmd: $*" >&2; exit 1; }

client_port() { awk -v n="$1" '$1 == n { print $2 }' "$D/members"; }
names() { awk '{ print $1 }' "$D/members"; }
endpoints() { awk '{ printf "%shttp://127.0.0.1:%s", (NR > 1 ? "," : ""), $2 }' "$D/members"; }
url_of() { echo "http://127.0.0.1:$(client_port "$1")"; }

# The pid of member NAME if that process is running etcd --name NAME.
pid_of() {
	local pid
	pid=$(cat "$D/$1.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && tr "\0" " " 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "etcd .*--name=$1 " &&
		echo "$pid"
}

health() { "${ETCDCTL[@]}" --endpoints="$(url_of "$1")" endpoint health >/dev/null 2>&1; }

# wait_until SECONDS COMMAND...: poll with a deadline.
wait_until() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

launch() {
	pid_of "$1" >/dev/null && return 0
	# Detached: its own session, no descriptor of the caller's (hotfix
	# waits for a command's output to close).
	setsid bash "$D/run-$1.sh" </dev/null >>"$D/$1.log" 2>&1 &
	wait_until 10 pid_of "$1" >/dev/null || die "$1 did not start (see $D/$1.log)"
}

stop() {
	local pid
	pid=$(pid_of "$1") || return 0
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null
	if ! wait_until 10 not_running "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait_until 5 not_running "$pid"
	fi
	return 0
}
not_running() { ! kill -0 "$1" 2>/dev/null; }

start() {
	launch "$1"
	wait_until 30 health "$1" || die "$1 is not healthy after 30 s (see $D/$1.log)"
}

# endpoint status, "NAME ID IS-LEADER" a line, of the members that answer.
status() {
	"${ETCDCTL[@]}" --endpoints="$(endpoints)" endpoint status -w simple 2>/dev/null |
		awk -F', ' -v m="$D/members" '
			BEGIN { while ((getline l < m) > 0) { split(l, f, " "); name["http://127.0.0.1:" f[2]] = f[1] } }
			{ print name[$1], $2, $5 }'
}
leader() { status | awk '$3 == "true" { print $1; exit }'; }
id_of() { status | awk -v n="$1" '$1 == n { print $2 }'; }

case $cmd in
init)
	base=${3:?base port}
	mbase=${4:-}
	mkdir -p "$D"
	: >"$D/members"
	cluster=
	for i in 1 2 3; do
		echo "m$i $((base + i - 1)) $((base + i + 2))${mbase:+ $((mbase + i - 1))}" >>"$D/members"
		cluster="$cluster${cluster:+,}m$i=http://127.0.0.1:$((base + i + 2))"
	done
	while read -r name cp pp mp; do
		{
			cat <<EOF
--name=$name
--data-dir=$D/$name.data
--listen-client-urls=http://127.0.0.1:$cp
--advertise-client-urls=http://127.0.0.1:$cp
--listen-peer-urls=http://127.0.0.1:$pp
--initial-advertise-peer-urls=http://127.0.0.1:$pp
--initial-cluster=$cluster
--initial-cluster-state=new
--initial-cluster-token=hotfix-test
--heartbeat-interval=100
--election-timeout=1000
--snapshot-count=100000
--quota-backend-bytes=0
EOF
			[ -n "$mp" ] && echo "--listen-metrics-urls=http://127.0.0.1:$mp"
		} >"$D/$name.flags"
		cat >"$D/run-$name.sh" <<EOF
#!/usr/bin/env bash
# Start etcd member $name with the flags in $name.flags (one a line).
echo \$\$ >"$D/$name.pid"
mapfile -t flags <"$D/$name.flags"
exec etcd "\${flags[@]}" --log-outputs=stderr
EOF
	done <"$D/members"
	: >"$D/events.log"
	;;
up)
	for n in $(names); do launch "$n"; done
	for n in $(names); do wait_until 30 health "$n" || die "$n is not healthy after 30 s"; done
	;;
down)
	for n in $(names); do stop "$n"; done
	;;
start)
	start "${3:?name}"
	;;
launch)
	launch "${3:?name}"
	;;
relaunch)
	name=${3:?name}
	event restart-begin "$name"
	stop "$name"
	launch "$name"
	event restart-end "$name"
	;;
stop)
	event stop "${3:?name}"
	stop "$3"
	;;
restart)
	name=${3:?name}
	event restart-begin "$name"
	stop "$name"
	start "$name"
	event restart-end "$name"
	;;
health)
	health "${3:?name}"
	;;
get)
	sed -n "s/^--${4:?key}=//p" "$D/${3:?name}.flags"
	;;
set)
	name=${3:?name} key=${4:?key} value=${5?value}
	grep -q -- "^--$key=" "$D/$name.flags" || die "$name.flags has no --$key"
	sed -i "s|^--$key=.*|--$key=$value|" "$D/$name.flags"
	;;
running)
	name=${3:?name} key=${4:?key}
	pid=$(pid_of "$name") || die "$name is not running"
	tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n "s/^--$key=//p"
	;;
leader)
	leader
	;;
move-leader)
	name=${3:?name}
	lead=$(leader)
	[ -n "$lead" ] || die "no leader"
	if [ "$lead" != "$name" ]; then
		event move-leader-none "$name" "leader is $lead"
		exit 0
	fi
	to=
	while read -r n id _; do
		[ "$n" != "$name" ] && health "$n" && { to=$n; toid=$id; break; }
	done < <(status)
	[ -n "$to" ] || die "no healthy member to hand leadership from $name to"
	"${ETCDCTL[@]}" --endpoints="$(url_of "$name")" move-leader "$toid" >/dev/null ||
		die "move-leader $name -> $to failed"
	wait_until 10 sh -c "[ \"\$(bash '$0' leader '$D')\" = '$to' ]" ||
		die "$to does not lead 10 s after move-leader"
	event move-leader "$name" "to $to"
	;;
discover)
	st=$(status)
	while read -r name cp _; do
		grep -qx "$name" "$D/discover.exclude" 2>/dev/null && continue
		moved=$(awk -v n="$name" '$1 == n { print $2 }' "$D/discover.port" 2>/dev/null)
		role=replica
		echo "$st" | awk -v n="$name" '$1 == n && $3 == "true" { f = 1 } END { exit !f }' &&
			role=primary
		printf '{"id": "%s", "host": "127.0.0.1", "port": %s, "role": "%s", "group": "main", "labels": {"name": "%s"}}\n' \
			"$name" "${moved:-$cp}" "$role" "$name"
	done <"$D/members" | jq -s '{nodes: .}'
	;;
endpoints)
	endpoints
	;;
targets)
	awk '{ printf "127.0.0.1:%s,instance=127.0.0.1:%s\n", ($4 != "" ? $4 : $2), $2 }' "$D/members"
	;;
manifest | manifest-quota)
	out=${3:?file}
	owner=${4:?owner}
	waves=${5:-"      - nodes: 1
      - nodes: 100%"}
	C="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
	# The setting and its value, how the member starts again, and what the
	# revert does after.
	if [ "$cmd" = manifest ]; then
		name=etcd-snapshot-count problem="etcd restart" key=snapshot-count value=5000
		start=restart recover=
	else
		name=etcd-quota problem="etcd disk use" key=quota-backend-bytes value=16384
		start=relaunch recover=" && bash '$C' recover '$D' {labels.name}"
	fi
	cat >"$out" <<EOF
apiVersion: hotfix/v1
kind: Hotfix
metadata: {name: $name, version: 1, owner: $owner, problem: $problem}
spec:
  changes:
    - exec:
        check: bash '$C' health '$D' {labels.name}
        capture: bash '$C' health '$D' {labels.name} && bash '$C' get '$D' {labels.name} $key
        apply: bash '$C' set '$D' {labels.name} $key $value && bash '$C' $start '$D' {labels.name}
        verify: >-
          v=\$(bash '$C' running '$D' {labels.name} $key);
          if [ {side} = after ]; then [ "\$v" = $value ]; else [ "\$v" = "\$(cat)" ]; fi
        revert: >-
          bash '$C' set '$D' {labels.name} $key "\$(cat)" &&
          bash '$C' $start '$D' {labels.name}$recover
        before_primary: bash '$C' move-leader '$D' {labels.name}
        timeout: 40s
  rollout:
    order: replicas-first
    waves:
$waves
  guard: none
EOF
	;;
recover)
	name=${3:?name}
	wait_until 30 "${ETCDCTL[@]}" --endpoints="$(url_of "$name")" endpoint status >/dev/null 2>&1 ||
		die "$name does not answer 30 s after its start"
	"${ETCDCTL[@]}" --endpoints="$(endpoints)" alarm disarm >/dev/null ||
		die "cannot disarm the alarms"
	wait_until 30 health "$name" || die "$name is not healthy 30 s after the alarms were disarmed"
	event recover "$name"
	;;
*)
	die "unknown command"
	;;
esac
