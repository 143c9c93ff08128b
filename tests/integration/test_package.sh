#!/usr/bin/env bash
# The Debian package: cpack builds it from the build tree that holds
# $HOTFIX (into a scratch directory; the build tree only gains the unit it
# renders for the install);
# it is extracted with dpkg -x into a scratch root, and its binary, man
# page, unit and metadata are checked there. No server is started.
. "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$HOTFIX")
ROOT=$T/root
SRC=${HF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
VERSION=$(sed -n 's/^project(hotfix VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")

# deb: the one package cpack wrote.
deb() { ls "$T"/pkg/hotfix_*.deb; }

test_begin 'cpack builds one .deb from the build tree'
check "the build tree has a CPack configuration" test -f "$BUILD/CPackConfig.cmake"
expect_exit 0 "cpack -G DEB" cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/pkg"
check "one package, named for the version" test "$(deb)" = "$T/pkg/hotfix_${VERSION}_$(dpkg --print-architecture).deb"
test_end

[ -f "$(deb)" ] || finish
dpkg-deb -I "$(deb)" >"$T/info"

test_begin 'the metadata: name, version, maintainer, description'
check "Package: hotfix" contains "$T/info" '^ Package: hotfix$'
check "Version: $VERSION" contains "$T/info" "^ Version: $VERSION\$"
check "Architecture: the machine's" contains "$T/info" "^ Architecture: $(dpkg --print-architecture)\$"
check "a Maintainer" contains "$T/info" '^ Maintainer: .*<.*@.*>$'
check "Section: admin" contains "$T/info" '^ Section: admin$'
check "a description with a long part" test "$(sed -n '/^ Description:/,/^ [A-Z][a-z-]*:/p' "$T/info" | wc -l)" -gt 3
test_end

test_begin 'Depends names every library the binary links'
deps=$(sed -n 's/^ Depends: //p' "$T/info")
for p in libc6 libhiredis0.14 libfyaml0 libjansson4 libsqlite3-0 libssl3 libcurl4 libmicrohttpd12; do
	check "Depends on $p" grep -q "\\(^\\|, \\)$p\\( (\\|,\\|\$\\)" <<<"$deps"
done
test_end

test_begin 'dpkg -x into a scratch root: the binary runs and tells its version'
expect_exit 0 "dpkg -x" dpkg -x "$(deb)" "$ROOT"
check "usr/bin/hotfix is executable" test -x "$ROOT/usr/bin/hotfix"
expect_exit 0 "hotfix --version" "$ROOT/usr/bin/hotfix" --version
check "it prints 'hotfix $VERSION'" test "$(cat "$T/out")" = "hotfix $VERSION"
check "the packaged binary is stripped" not grep -q 'with debug_info' <<<"$(file "$ROOT/usr/bin/hotfix")"
test_end

test_begin 'the man page is there, renders without warnings and covers every command'
man1=$ROOT/usr/share/man/man1/hotfix.1.gz
check "usr/share/man/man1/hotfix.1.gz" test -f "$man1"
zcat "$man1" >"$T/hotfix.1"
expect_exit 0 "groff renders it" groff -man -Tutf8 -ww -P-cbou "$T/hotfix.1"
check "without warnings" test ! -s "$T/err"
mv "$T/out" "$T/man.txt"
check "it names the version" contains "$T/man.txt" "hotfix $VERSION"
for c in $("$HOTFIX" --help | awk '/^  [a-z]+ / { print $1 }'); do
	check "it has the section of '$c' with its usage" contains "$T/man.txt" "usage: hotfix $c"
done
check "it has the exit status" contains "$T/man.txt" 'EXIT STATUS'
test_end

test_begin 'the systemd unit runs the packaged binary'
unit=$ROOT/usr/lib/systemd/system/hotfix-serve.service
check "usr/lib/systemd/system/hotfix-serve.service" test -f "$unit"
check "ExecStart is /usr/bin/hotfix serve" contains "$unit" '^ExecStart=/usr/bin/hotfix serve '
check "it is the unit of dist/ otherwise" test_cmp <(grep -v '^ExecStart=' "$SRC/dist/hotfix-serve.service") \
	<(grep -v '^ExecStart=' "$unit")
check "its user comes from usr/lib/sysusers.d/hotfix.conf" \
	grep -q '^u hotfix ' "$ROOT/usr/lib/sysusers.d/hotfix.conf"
check "the unit runs as that user" contains "$unit" '^User=hotfix$'
if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$ROOT/etc"
	check "systemd-sysusers creates it in the scratch root" \
		systemd-sysusers --root="$ROOT" hotfix.conf
	check "a system user with no login, at home in /var/lib/hotfix" \
		grep -q '^hotfix:x:[0-9]*:[0-9]*:[^:]*:/var/lib/hotfix:/usr/sbin/nologin$' "$ROOT/etc/passwd"
fi
expect_exit 0 "dpkg-deb -e" dpkg-deb -e "$(deb)" "$T/control"
check "a postinst that runs systemd-sysusers" contains "$T/control/postinst" 'systemd-sysusers hotfix.conf'
check "the postinst is executable" test -x "$T/control/postinst"
check "the postinst is valid sh" sh -n "$T/control/postinst"
test_end

test_begin 'the docs are in usr/share/doc/hotfix'
check "README.md" test -s "$ROOT/usr/share/doc/hotfix/README.md"
check "openapi.yaml" test -s "$ROOT/usr/share/doc/hotfix/openapi.yaml"
check "the example manifests" test -s "$ROOT/usr/share/doc/hotfix/examples/raise-timeout.yaml"
test_end

finish
