#!/usr/bin/env bash
# Fetch the two Debian builds of redis-server 7.0.15 (redis-tools
# 5:7.0.15-1~deb12u7 and ~deb12u10) side by side, for binary hotfixes:
# apt-get download + dpkg -x, cached. In redis-tools the server is
# redis-check-rdb, which runs as a server when invoked through a link named
# redis-server; each build gets such a link.
#
#   scripts/redis-builds.sh          fetch if missing; print "SUFFIX PATH" per build
#   scripts/redis-builds.sh u7       print the path of one build (u7 or u10)
#
# The cache is $HOTFIX_CACHE (default ~/.cache/hotfix)/redis-builds.
set -euo pipefail

cache=${HOTFIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hotfix}/redis-builds
versions=("5:7.0.15-1~deb12u7" "5:7.0.15-1~deb12u10")

fetch() { # fetch VERSION DIR
	local version=$1 dir=$2 tmp
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	# apt drops privileges to _apt, which must be able to write there.
	chmod 755 "$tmp"
	if ! (cd "$tmp" && apt-get download -q "redis-tools=$version" >/dev/null 2>"$tmp/apt.err"); then
		# The package lists may be stale on a fresh machine: refresh once.
		apt-get update -q >/dev/null 2>&1 || true
		(cd "$tmp" && apt-get download -q "redis-tools=$version" >/dev/null 2>"$tmp/apt.err") || {
			echo "redis-builds: cannot download redis-tools=$version:" >&2
			cat "$tmp/apt.err" >&2
			rm -rf "$tmp"
			return 1
		}
	fi
	dpkg -x "$tmp"/redis-tools_*.deb "$tmp/root"
	mkdir -p "$dir"
	mv "$tmp/root/usr/bin/redis-check-rdb" "$dir/redis-check-rdb"
	ln -sf redis-check-rdb "$dir/redis-server"
	rm -rf "$tmp"
	"$dir/redis-server" --version >/dev/null
}

mkdir -p "$cache"
want=${1:-}
for version in "${versions[@]}"; do
	suffix=${version##*~deb12}
	dir=$cache/$suffix
	[ -x "$dir/redis-server" ] || fetch "$version" "$dir"
	if [ -z "$want" ]; then
		echo "$suffix $dir/redis-server"
	elif [ "$want" = "$suffix" ]; then
		echo "$dir/redis-server"
	fi
done
