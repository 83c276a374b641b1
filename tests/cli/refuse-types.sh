#!/usr/bin/env bash
# Refused before anything is written (exit 2): a missing source, and a
# directory, character device, FIFO, socket or symlink loop on either side;
# a healthy destination named alongside is left byte-identical and a new
# one is not created.
. "$(dirname "$0")/common.bash"

random src 100000
random good 50000
before=$(digest good)
mkdir dir
mkfifo fifo
ln -s loop1 loop2; ln -s loop2 loop1
ln -s nowhere/at/all dangling
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock

check() { # what, kcopyd args...
	local what=$1; shift
	expect 2 "$@"
	[ "$(digest good)" = "$before" ] || fail "$what: good was changed"
	[ ! -e new ] || fail "$what: new was created"
	[ -s "$T/err" ] || fail "$what: no message"
}

check "missing source" copy missing good new
err_has "missing: No such file or directory"
check "directory source" copy dir good new
err_has "dir: is a directory"
check "char source" copy /dev/zero good new
err_has "/dev/zero: is a character device"
check "fifo source" copy fifo good new
err_has "fifo: is a FIFO"
check "socket source" copy sock good new
err_has "is a socket"
check "loop source" copy loop1 good new
err_has "loop1: Too many levels of symbolic links"

check "directory dest" copy src good new dir
err_has "dir: is a directory"
check "char dest" copy src good new /dev/null
err_has "/dev/null: is a character device"
check "fifo dest" copy src good new fifo
err_has "fifo: is a FIFO"
check "socket dest" copy src good new sock
check "loop dest" copy src good new loop2
check "dangling dest" copy src good new dangling
err_has "dangling: is a symbolic link to nothing"
check "missing directory" copy src good new no/such/dir/file
check "new file in /dev" copy src good new /dev/kcopyd-no-such-device
err_has "refusing to create a regular file in /dev"
[ ! -e /dev/kcopyd-no-such-device ] || { rm -f /dev/kcopyd-no-such-device; fail "created in /dev"; }
check "zero missing" zero good missing
check "zero char" zero good /dev/null
check "zero fifo" zero good fifo
check "verify fifo" verify src fifo
exit 0
