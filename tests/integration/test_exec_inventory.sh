#!/usr/bin/env bash
# The exec engine's inventory (--cluster exec:FILE): static nodes and a
# discovery command, seen by 'cluster show'; what is not an inventory is
# refused with FILE:LINE:COL (exit 2); a discovery that fails says why.
. "$(dirname "$0")/lib.sh"

sandbox_up live --shards 1 --replicas 1 || finish
LIVE=$BASE
LIVE2=$((BASE + 1))
DEAD=$(free_base 1)   # nothing listens there
mkdir -p "$T/inv"
cat >"$T/inv/static.yaml" <<YAML
apiVersion: hotfix/v1
kind: Inventory
nodes:
  - {id: m1, host: 127.0.0.1, port: $LIVE, group: main, role: replica, labels: {name: m1}}
  - {id: m2, host: 127.0.0.1, port: $DEAD, group: main, role: primary}
  - {id: r1, host: 127.0.0.1, port: $LIVE2, group: other, role: primary}
YAML
node() { jq -e --arg id "$2" ".nodes[] | select(.id == \$id) | $3" "$1" >/dev/null; }

test_begin 'cluster show: an inventory'"'"'s nodes by group, primaries first, reachable or not'
expect_exit 0 "cluster show" hf --json cluster show --cluster "exec:$T/inv/static.yaml"
cp "$T/out" "$T/static.json"
check "mode exec, two groups, three nodes" json_true "$T/static.json" \
	'.mode == "exec", .shards == 2, (.nodes | length) == 3'
check "the order: main's primary, main's replica, other's" json_true "$T/static.json" \
	'[.nodes[].id] == ["m2", "m1", "r1"]'
check "m1: a replica in main, reachable" node "$T/static.json" m1 \
	'.role == "replica" and .group == "main" and .health == "ok"'
check "m2: nothing listens on its port" node "$T/static.json" m2 '.health == "unreachable"'
expect_exit 0 "the text table" hf cluster show --cluster "exec:$T/inv/static.yaml"
check "it says which engine and inventory" contains "$T/out" "^mode     exec engine: inventory $T/inv/static.yaml, 2 group(s), 3 node(s)"
check "a row per node with its group" contains "$T/out" "^other  *127.0.0.1:$LIVE2  *primary  *ok  *r1\$"
test_end

test_begin 'a discovery command, run in the inventory'"'"'s directory each time'
cat >"$T/inv/discover.sh" <<SH
#!/bin/sh
# the members as some tool lists them; the second call finds a third
n=\$(cat count 2>/dev/null || echo 0); echo \$((n + 1)) >count
printf '{"nodes": [{"id": "a", "host": "127.0.0.1", "port": $LIVE, "group": "g", "role": "primary"}'
[ "\$n" -ge 1 ] && printf ', {"id": "c", "host": "127.0.0.1", "port": $DEAD, "group": "g", "role": "replica"}'
printf ']}\n'
SH
chmod +x "$T/inv/discover.sh"
printf 'apiVersion: hotfix/v1\nkind: Inventory\ndiscover: ./discover.sh\n' >"$T/inv/found.yaml"
expect_exit 0 "cluster show from another directory" \
	hf --json cluster show --cluster "exec:$T/inv/found.yaml"
check "the discovered node" json_true "$T/out" '[.nodes[].id] == ["a"], .nodes[0].health == "ok"'
expect_exit 0 "again: what it finds now" hf --json cluster show --cluster "exec:$T/inv/found.yaml"
check "two nodes now" json_true "$T/out" '[.nodes[].id] == ["a", "c"]'
test_end

test_begin 'what is not an inventory: FILE:LINE:COL, exit 2; a failing discovery: exit 1'
printf 'apiVersion: hotfix/v1\nkind: Inventory\nnodes:\n  - {id: a, host: h, port: 99999, group: g, role: primary}\n' >"$T/inv/bad.yaml"
expect_exit 2 "a port out of range" hf cluster show --cluster "exec:$T/inv/bad.yaml"
check "named with its position" contains "$T/err" "$T/inv/bad.yaml:4:28: 'port' must be a port (1-65535), not '99999'"
printf 'apiVersion: hotfix/v1\nkind: Inventory\nnodes:\n  - {id: a, host: h, port: 1, group: g, role: leader}\n' >"$T/inv/role.yaml"
expect_exit 2 "a role that is not one" hf cluster show --cluster "exec:$T/inv/role.yaml"
check "named" contains "$T/err" "role.yaml:4:.*invalid role 'leader'"
expect_exit 2 "no such file" hf cluster show --cluster "exec:$T/inv/none.yaml"
check "named" contains "$T/err" "cannot read inventory"
expect_exit 2 "exec: without a file" hf cluster show --cluster "exec:"
printf 'apiVersion: hotfix/v1\nkind: Inventory\ndiscover: "echo no members here >&2; exit 7"\n' >"$T/inv/fails.yaml"
expect_exit 1 "a discovery that fails" hf cluster show --cluster "exec:$T/inv/fails.yaml"
check "its status and stderr" contains "$T/err" "discover (echo no members here >&2; exit 7): exit status 7: no members here"
cat >"$T/inv/junk.yaml" <<'YAML'
apiVersion: hotfix/v1
kind: Inventory
discover: >-
  echo '{"nodes": [{"id": "a"}]}'
YAML
expect_exit 2 "a discovery whose output is no inventory" hf cluster show --cluster "exec:$T/inv/junk.yaml"
check "the node and the field named" contains "$T/err" "nodes\[0\].host is missing"
test_end

test_begin 'a Redis change on an inventory is refused before anything'
manifest "$T/m.yaml" exec-refused
expect_exit 2 "plan" hf plan "$T/m.yaml" --cluster "exec:$T/inv/static.yaml"
check "it says why" contains "$T/err" "is an inventory of the exec engine.*change 1 is 'config', which speaks to Redis"
expect_exit 2 "apply" hf apply "$T/m.yaml" --cluster "exec:$T/inv/static.yaml" --yes
check "nothing was journaled" test "$(hf --json history | jq length)" = 0
test_end

finish
