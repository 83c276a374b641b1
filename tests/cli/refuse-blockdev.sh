#!/usr/bin/env bash
# Block devices: one too small for the copy, one held open exclusively by
# another program, one mounted, and a loop device over the source file
# itself are all refused (exit 2, device unchanged); --force writes to the
# held one.
. "$(dirname "$0")/common.bash"
need_loop

random src $((2 * 1024 * 1024))
random small.img $((1024 * 1024))
random held.img $((4 * 1024 * 1024))
loopdev small small.img || fail "losetup"
loopdev held held.img || fail "losetup"
s_before=$(digest "$small")
h_before=$(digest "$held")

expect 2 copy src "$small"
err_has "past the end of the block device"
[ "$(digest "$small")" = "$s_before" ] || fail "small device changed"

# Held with O_EXCL by another process, as a mounted device is.
hold "$held"
expect 2 copy src a "$held"
err_has "is mounted or in use"
[ ! -e a ] || fail "a created"
expect 2 zero "$held"
[ "$(digest "$held")" = "$h_before" ] || fail "held device changed"
expect 0 copy --force src "$held"
cmp -n $((2 * 1024 * 1024)) src "$held" || fail "--force copy differs"

# Mounted.
if command -v mkfs.ext4 >/dev/null; then
	truncate -s 16M fs.img
	mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 fs.img
	loopdev fsdev fs.img || fail "losetup"
	mkdir mnt
	if mount "$fsdev" mnt 2>/dev/null; then
		_mounts+=("$T/mnt")
		f_before=$(digest "$fsdev")
		expect 2 copy src "$fsdev"
		err_has "is mounted or in use"
		[ "$(digest "$fsdev")" = "$f_before" ] || fail "mounted device changed"
	fi
fi

# A loop device whose backing file is the source: the same bytes.
cp src img
loopdev over img || fail "losetup"
expect 2 copy img "$over"
err_has "is the source"
loopdev over2 img --offset 1048576 || fail "losetup"
expect 2 copy --length 1M img "$over2" --dest-offset 0 --offset 1M
same src img
exit 0
