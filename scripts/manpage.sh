#!/usr/bin/env bash
# Write hotfix(1) in roff from the binary's own help texts: 'hotfix --help'
# for the synopsis, the command list and the exit codes, and each
# command's '--help' for its section, so the page never drifts from them.
#
#   bash scripts/manpage.sh path/to/hotfix VERSION OUT.1
#
# The date is that of SOURCE_DATE_EPOCH when set (reproducible builds),
# else today's. A command whose --help fails stops the build.
set -euo pipefail

HOTFIX=$1
VERSION=$2
OUT=$3
DATE=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)

# roff_lines: stdin as literal roff lines: backslashes escaped, and a line
# that would start with a control character ('.' or "'") guarded by '\&'.
roff_lines() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

help=$("$HOTFIX" --help)
commands=$(printf '%s\n' "$help" | awk '/^  [a-z]+ / { print $1 }')
[ -n "$commands" ] || { echo "manpage.sh: no commands in '$HOTFIX --help'" >&2; exit 1; }

tmp=$(mktemp "$OUT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
	cat <<EOF
.TH HOTFIX 1 "$DATE" "hotfix $VERSION" "User Commands"
.SH NAME
hotfix \\- apply urgent fixes to Redis clusters, canary first, with a rollback that is always ready
.SH SYNOPSIS
.nf
EOF
	printf '%s\n' "$help" | sed -n '1,/^$/p' | sed '/^$/d' | roff_lines
	cat <<'EOF'
.fi
.SH DESCRIPTION
A hotfix is a narrow, versioned change written as a YAML manifest: runtime
configuration parameters, function libraries, ACL users, server binaries or
data repairs.
.B hotfix
shows the live diff, rolls it out canary first in waves that follow the
cluster's topology, journals every step before it acts, and restores the
exact prior state, idempotently, even after it was itself killed half-way or
a node failed over.
.SH COMMANDS
.nf
EOF
	printf '%s\n' "$help" | awk '/^  [a-z]+ /' | roff_lines
	echo ".fi"
	for c in $commands; do
		echo ".SS $c"
		echo ".nf"
		"$HOTFIX" "$c" --help | roff_lines
		echo ".fi"
	done
	cat <<'EOF'
.SH EXIT STATUS
.nf
EOF
	printf '%s\n' "$help" | sed -n '/^exit codes:/,$p' | roff_lines
	cat <<'EOF'
.fi
.SH ENVIRONMENT
.TP
.B HOTFIX_STATE
The state directory (the journal); \fB\-\-state\fR overrides it. Without
either, \fI$XDG_STATE_HOME/hotfix\fR, else \fI~/.local/state/hotfix\fR.
.TP
.B HOTFIX_PASSWORD_FILE
A file whose first line is the cluster's password, when the URI holds
none and \fB\-\-password\-file\fR is not given.
.TP
.B HOTFIX_PASSWORD
The cluster's password, after the URI's and a password file.
.TP
.B REDISCLI_AUTH
redis\-cli's password variable, taken last.
.SH FILES
.TP
.I /usr/lib/systemd/system/hotfix-serve.service
A unit running \fBhotfix serve\fR on the journal of \fI/var/lib/hotfix\fR.
.TP
.I /usr/share/doc/hotfix/
The README (manifest reference) and the HTTP API's OpenAPI description.
EOF
} >"$tmp"
mv "$tmp" "$OUT"
trap - EXIT
