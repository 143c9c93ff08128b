#!/usr/bin/env bash
# Install the Debian packages hotfix needs to build, test and run its demo.
# Idempotent: asks apt only for what is missing, and runs 'apt-get update'
# only when something must be installed.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config
	redis-server redis-tools
	etcd-server etcd-client
	libhiredis-dev libuv1-dev libsqlite3-dev libfyaml-dev libjansson-dev
	libssl-dev libcmocka-dev libcurl4-openssl-dev libmicrohttpd-dev
	sqlite3 jq yq curl prometheus prometheus-redis-exporter libxml2-utils
	clang libclang-rt-14-dev
	dpkg-dev file groff-base gzip wrk
	chromium nodejs npm
)

# installed PACKAGE: the Debian package is installed, or, for npm, the
# command is there: a Node.js from another archive (NodeSource's nodejs)
# carries its own npm, provides 'npm' and conflicts with Debian's.
installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
	[ "$1" = npm ] && command -v npm >/dev/null 2>&1
}

missing=()
for p in "${pkgs[@]}"; do
	if ! installed "$p"; then
		missing+=("$p")
	fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a system redis-server on 6379; the sandbox and
# the tests never use it, and it is left as the package set it up.
# The Debian etcd-server package enables and may start a system etcd on
# 2379/2380; the tests start members of their own on free ports, so the
# one this install started is stopped and not started at boot.
for p in "${missing[@]}"; do
	if [ "$p" = etcd-server ] && [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now etcd >/dev/null 2>&1 || true
	fi
done
