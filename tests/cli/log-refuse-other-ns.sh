#!/usr/bin/env bash
# copy --log (or a new destination) named through /proc/PID/root of a process in another mount
# namespace, where a file system stored in the source (or a destination)
# is mounted that is not mounted in ours: the log's directory is looked at
# as the log would be opened, so the copy is refused at set-up (exit 2),
# the file system's storage is unchanged and no log is written.  A log
# through the same kind of name on a harmless file system is accepted.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.ext4
need_cmd unshare

M=$((1024 * 1024))
truncate -s 32M fs.img
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 fs.img || skip "mkfs.ext4 failed"
loopdev L fs.img || fail "losetup"
mkdir nsm
unshare -m --propagation private sh -c "mount $L $T/nsm && exec sleep 120" &
ns=$!
bg_pid $ns
for ((i = 0; i < 100; i++)); do
	[ -d "/proc/$ns/root$T/nsm/lost+found" ] && break
	sleep 0.05
done
[ -d "/proc/$ns/root$T/nsm/lost+found" ] || skip "cannot mount ext4 in another mount namespace"
grep -q " $T/nsm " /proc/self/mountinfo && fail "the mount leaked into our namespace"
sync
before=$(digest fs.img)

# The source is the loop device: its file system holds the log's directory.
expect 2 copy --log "/proc/$ns/root$T/nsm/l" "$L" out.img
err_has "is on a file system stored in the source"
[ ! -e out.img ] || fail "out.img was created"
# A destination: the image file itself, with --force (refused even so).
random src $M
expect 2 copy --force --log "/proc/$ns/root$T/nsm/l2" --length 1M src fs.img --dest-offset 16M
err_has "is on a file system stored in the destination"
# A new destination in that file system, with the loop device as source.
expect 2 copy --length 1M "$L" "/proc/$ns/root$T/nsm/new.img"
err_has "is a file on the file system that lives on the source"
[ ! -e "/proc/$ns/root$T/nsm/new.img" ] || fail "new.img was created in the source's file system"
sync
[ "$(digest fs.img)" = "$before" ] || fail "the file system's storage changed"
[ ! -e "/proc/$ns/root$T/nsm/l" ] && [ ! -e "/proc/$ns/root$T/nsm/l2" ] || fail "a log was written"

# The same kind of name to a directory of ours: fine.
expect 0 copy -q --log "/proc/$ns/root$T/l3" src out2.img
same src out2.img
kill $ns
exit 0
