#!/usr/bin/env bash
# A btrfs reached where nothing says which devices it lives on is not
# taken as on none: a loop device over a file deleted from a subvolume
# (not mounted on its own: no mount has its device number) is refused as
# not fully known, next to a member device of that btrfs.
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

exit 0
