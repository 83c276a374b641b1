#!/usr/bin/env bash
# A loop device over a sparse file on a file system with too little free
# space: the kernel's loop driver takes a short write of its file as done,
# and the bytes that did not fit are lost without an error (the copy said
# "ok", exit 0, with the end of the range holes).  What may not fit makes
# the copy verified (a warning says why), so the loss is found: exit 1;
# what cannot fit (--no-sparse) is refused at set-up, exit 2, nothing
# written; --force copies it anyway, verified; what fits is copied, ok.
. "$(dirname "$0")/common.bash"
need_loop
M=$((1024 * 1024))
random src $((20 * M))
# fresh: a tmpfs 12 KiB too small for src, a sparse file on it, L over it.
fresh() {
	if [ -n "${L:-}" ]; then
		losetup -d "$L" && _loops=() || fail "losetup -d"
		umount tf && _mounts=() || fail "umount"
	fi
	tmpfs tf $((20 * 1024 - 12))k
	truncate -s 64M tf/sp.img
	loopdev L tf/sp.img || fail "losetup"
}
fresh
expect 1 copy --no-progress src "$L"
err_has "$L: warning: the file under it may need up to $((20 * M)) bytes more on its file system"
err_has "a loop device loses what does not fit without an error: the copy is verified"
grep -q "$L: FAILED: differs from the source at byte" out || fail "the loss was not found: $(cat out)"

# Room for all of it but 12 KiB, every byte to be written: refused.
fresh
expect 2 copy --no-sparse src "$L"
err_has "$L: the file under it needs $((20 * M)) bytes more on its file system, which has"
err_has "refusing to start a copy that cannot fit (--force to copy anyway, verified)"
[ "$(du -k tf/sp.img | cut -f1)" -eq 0 ] || fail "a refused run wrote the file"
expect 1 copy --force --no-sparse --no-progress src "$L"
grep -q "$L: FAILED: differs from the source at byte" out || fail "--force: the loss was not found: $(cat out)"

# What fits: no warning, no verify pass needed, exact.
expect 0 copy --no-progress --length 8M src "$L"
! grep -q "warning" err || fail "a warning for a copy that fits: $(cat err)"
cmp -n $((8 * M)) src "$L" || fail "the copy that fits differs"
exit 0
