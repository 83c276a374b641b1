#!/usr/bin/env bash
# A btrfs's devices are asked of the file system itself (its fsid), not
# read from mountinfo's text: mounted through a device node since removed,
# or mounted only in another mount namespace (reached through
# /proc/PID/root), a file in it and a log in it are still refused when
# the source is its device (exit 2, nothing created).
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.btrfs
need_cmd unshare
truncate -s 200M bt.img
mkfs.btrfs -q -f -M bt.img >/dev/null 2>&1 || skip "mkfs.btrfs failed"
loopdev L bt.img || fail "losetup"
mknod node b $(($(stat -c '0x%t' "$L"))) $(($(stat -c '0x%T' "$L"))) || fail "mknod"
mkdir m
mount -o noatime "$T/node" m 2>/dev/null && _mounts+=("$T/m") || skip "cannot mount btrfs"
rm node
expect 2 copy --length 1M "$L" m/f
err_has "is a file on the file system that lives on the source"
expect 2 copy --length 1M --log m/L "$L" d1
err_has "the log would be written inside the source"
[ ! -e m/f ] && [ ! -e m/L ] && [ ! -e d1 ] || fail "something was created"
umount m

# Mounted in another mount namespace only.
mkdir ns
unshare -m --propagation private sh -c "mount -o noatime $L $T/ns && exec sleep 120" &
ns=$!
bg_pid $ns
for ((i = 0; i < 100; i++)); do
	grep -q " $T/ns " "/proc/$ns/mountinfo" 2>/dev/null && break
	sleep 0.05
done
grep -q " $T/ns " "/proc/$ns/mountinfo" || skip "cannot mount btrfs in another namespace"
R=/proc/$ns/root$T/ns
expect 2 copy --length 1M "$L" "$R/f"
err_has "is a file on the file system that lives on the source"
expect 2 copy --length 1M --log "$R/L" "$L" d2
err_has "the log would be written inside the source"
[ ! -e "$R/f" ] && [ ! -e "$R/L" ] && [ ! -e d2 ] || fail "something was created"
kill $ns
wait $ns 2>/dev/null
exit 0
