#!/usr/bin/env bash
# A destination that cannot be opened for writing is refused before
# anything is written: a file on a read-only mount, a new file in a
# read-only mount, and (as an unprivileged user) a file or directory
# without write permission.
. "$(dirname "$0")/common.bash"
need_root

random src 100000
random good 5000
before=$(digest good)
tmpfs ro 1m
random ro/old 3000
mount -o remount,ro ro 2>/dev/null || skip "cannot remount read-only"
old=$(digest ro/old)

expect 2 copy src good ro/old
err_has "ro/old: cannot open for writing: Read-only file system"
expect 2 copy src good ro/new
err_has "ro/new: cannot create: Read-only file system"
expect 2 zero good ro/old
[ "$(digest good)" = "$before" ] || fail "good changed"
[ "$(digest ro/old)" = "$old" ] || fail "ro/old changed"

# Permissions: run as nobody where a file and a directory are root's.
need_cmd setpriv
chmod 755 "$T"
chmod 644 src good
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$KCOPYD" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
as_nobody --version || skip "cannot run kcopyd as nobody"
mkdir -m 777 open
as_nobody copy src open/mine good
[ "$rc" -eq 2 ] || fail "as nobody: exit $rc"
err_has "good: cannot open for writing: Permission denied"
[ ! -e open/mine ] || fail "open/mine created"
mkdir -m 755 closed
as_nobody copy src open/mine closed/x
[ "$rc" -eq 2 ] || fail "as nobody, closed dir: exit $rc"
err_has "closed/x: cannot create: Permission denied"
[ "$(digest good)" = "$before" ] || fail "good changed"
exit 0
