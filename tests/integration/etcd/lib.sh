# The etcd tests' shared ground, sourced after ../lib.sh: the cluster of
# cluster.sh in $T/etcd, stopped at exit by its members' pids, and what
# the tests ask of it.
C=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh
WRITER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/writer.py
D=$T/etcd
cl() { bash "$C" "$1" "$D" "${@:2}"; }

# The members are restarted by hotfix's commands, so their pids change:
# stop them by the pids their wrappers record, before lib.sh's cleanup.
etcd_cleanup() {
	local rc=$?
	[ -f "$D/members" ] && [ -z "$test_keep" ] && cl down
	(exit "$rc")
	cleanup
}
trap etcd_cleanup EXIT

lines() { wc -l <"$1" | tr -d ' '; }
# events_since SINCE: the restart and move-leader events after line SINCE
# of events.log.
events_since() { tail -n "+$(($1 + 1))" "$D/events.log" | cut -d' ' -f2-; }
restarted() { events_since "$1" | awk '$1 == "restart-begin" { print $2 }' | tr '\n' ' '; }
# running KEY: the value each member's process was started with.
running() { local m; for m in m1 m2 m3; do cl running "$m" "$1"; done | tr '\n' ' '; }
all_healthy() { local m; for m in m1 m2 m3; do cl health "$m" || return 1; done; }
# all_acked_present ACKED PREFIX: every key the writer had acknowledged is in etcd.
all_acked_present() {
	cut -d' ' -f1 "$1" | sort >"$T/acked.keys"
	etcdctl --endpoints="$(cl endpoints)" get --prefix "$2" --keys-only | sed '/^$/d' | sort >"$T/present.keys"
	[ -s "$T/acked.keys" ] || { echo "nothing was acknowledged"; return 1; }
	comm -23 "$T/acked.keys" "$T/present.keys" >"$T/lost.keys"
	[ ! -s "$T/lost.keys" ] || { echo "$(lines "$T/lost.keys") acknowledged key(s) lost:"; head "$T/lost.keys"; return 1; }
}
