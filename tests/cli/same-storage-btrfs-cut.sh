#!/usr/bin/env bash
# A btrfs reached where nothing says which devices it lives on is not
# taken as on none: a loop device over a file deleted from a subvolume
# (not mounted on its own: no mount has its device number) is refused as
# not fully known, next to a member device of that btrfs.  And a btrfs
# over six partitions of one loop device, which reaches that disk and its
# file many times over, still fits what kcopyd follows: a plain copy from
# it is not refused.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd mkfs.btrfs
need_cmd btrfs
random src512 512

# Two members, a subvolume, a file in it under a loop device, deleted.
truncate -s 256M a.img b.img c.img
loopdev A a.img && loopdev B b.img || fail "losetup"
mkfs.btrfs -q -f "$A" "$B" >/dev/null 2>&1 || skip "mkfs.btrfs"
mkdir m
mount "$A" m 2>/dev/null && _mounts+=("$T/m") || skip "cannot mount btrfs"
btrfs -q subvolume create m/sv >/dev/null || fail "btrfs subvolume create"
mkdir m/sv/nested
truncate -s 8M m/sv/nested/img
loopdev C "$T/m/sv/nested/img" || fail "losetup"
rm m/sv/nested/img
# (The first 64 KiB of a btrfs device are not its own: the mounted
# btrfs may write the rest of it meanwhile.)
expect 2 copy --force --length 512 src512 "$C" "$B"
err_has "lies on more storage than kcopyd follows"
! head -c 512 "$B" | cmp -s - src512 || fail "the member device was written"
losetup -d "$C"
umount "$T/m"

# Six partitions of one loop device, one btrfs over them all.
truncate -s 800M p.img
loopdev P p.img || fail "losetup"
# Partitions outlive the loop device's detach (and keep the next user of
# its number from adding its own): deleted first, once unmounted.
_parts() {
	umount "$T/bp" 2>/dev/null
	for i in 1 2 3 4 5 6; do
		[ -e "/sys/class/block/${P#/dev/}p$i" ] || continue
		# (btrfs lets go of its devices a moment after the unmount.)
		for _ in $(seq 50); do delpart "$P" "$i" 2>/dev/null && break; sleep 0.1; done
	done
	_cleanup
}
trap _parts EXIT
for i in 1 2 3 4 5 6; do
	addpart "$P" "$i" $(((i - 1) * 262144 + 2048)) 260000 2>/dev/null ||
		skip "addpart does not work here"
done
for i in 1 2 3 4 5 6; do
	for _ in $(seq 50); do [ -b "${P}p$i" ] && break; sleep 0.1; done
	[ -b "${P}p$i" ] || skip "no ${P}p$i"
done
mkfs.btrfs -q -f "${P}p1" "${P}p2" "${P}p3" "${P}p4" "${P}p5" "${P}p6" >/dev/null 2>&1 ||
	fail "mkfs.btrfs over partitions"
mkdir bp
mount "${P}p1" bp 2>/dev/null && _mounts+=("$T/bp") || fail "cannot mount the btrfs"
random bp/f $((1024 * 1024))
expect 0 copy -q bp/f bp.copy
same bp/f bp.copy
# Its member partition as a destination is still refused.
expect 2 copy --force --length 512 bp/f "${P}p3"
err_has "is a file on the file system that lives there"
exit 0
