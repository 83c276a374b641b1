#!/usr/bin/env bash
# What would fail only at the first write is refused at set-up (exit 2,
# nothing written, no destination created): a read-only block device
# (blockdev --setro), an immutable or append-only file, a destination the
# file size limit (ulimit -f) would cut short, and a copy that cannot fit
# in the free space of the destination's file system (--no-sparse: every
# byte is written; with --sparse zero blocks are skipped, so it is only a
# warning and the run goes on).
. "$(dirname "$0")/common.bash"
need_loop

M=$((1024 * 1024))

random src $((2 * M))
random ok.img $((4 * M))
random ro.img $((4 * M))
loopdev R ro.img || fail "losetup"
# The read-only flag stays with the loop device after it is detached: put
# it back however the test ends, or the next user of the device gets it.
trap 'blockdev --setrw "$R" 2>/dev/null; _cleanup' EXIT
blockdev --setro "$R" || skip "blockdev --setro failed"
random keep $M
files=(ro.img keep src)

# Read-only block device.
refused "read-only device" "$R: is a read-only block device" copy src "$R"
refused "read-only device, among others" "$R: is a read-only block device" copy src new keep "$R"
refused "read-only device, zero" "$R: is a read-only block device" zero keep "$R"
refused "read-only device, zero a range" "is a read-only block device" zero --offset 1M --length 4096 "$R"
blockdev --setrw "$R"
expect 0 copy src "$R"
cmp -n $((2 * M)) src "$R" || fail "copy once writable"

# Immutable and append-only files (where the file system has the flags).
random imm $M
random app $M
if chattr +i imm 2>/dev/null && chattr +a app 2>/dev/null; then
	files=(imm app keep src)
	refused "immutable" "imm: cannot open for writing: is immutable" copy src new imm
	refused "immutable, zero" "imm: cannot open for writing: is immutable" zero keep imm
	refused "append-only" "app: cannot open for writing: is append-only" copy src new app
	refused "append-only, zero" "is append-only" zero app
	chattr -i imm
	chattr -a app
fi

# The file size limit: the kernel would stop the run with SIGXFSZ.
files=(keep src)
lim() { (ulimit -f "$1"; "$KCOPYD" "${@:2}" >"$T/out" 2>"$T/err" </dev/null); rc=$?; }
lim 1024 copy src new                        # 1 MiB limit, 2 MiB copy
[ "$rc" -eq 2 ] || fail "ulimit -f: exit $rc"
err_has "new: needs 2097152 bytes, more than the file size limit of 1048576 bytes"
[ ! -e new ] || fail "ulimit -f: new created"
cp keep grow
before=$(digest grow)
rbefore=$(digest "$R")
lim 2560 copy --length 1M --dest-offset 2M src "$R" keep2
[ "$rc" -eq 2 ] || fail "ulimit -f, a device and a new file: exit $rc"
err_has "keep2: needs 3145728 bytes, more than the file size limit of 2621440 bytes"
[ "$(digest "$R")" = "$rbefore" ] || fail "ulimit -f: the device was written"
lim 2560 copy --length 1M --dest-offset 2M src grow
[ "$rc" -eq 2 ] || fail "ulimit -f, growing a file: exit $rc"
err_has "grow: needs 3145728 bytes, more than the file size limit of 2621440 bytes"
[ "$(digest grow)" = "$before" ] || fail "ulimit -f: grow changed"
[ ! -e keep2 ] || fail "ulimit -f: keep2 created"
lim 1024 zero --length 2M grow
[ "$rc" -eq 2 ] || fail "ulimit -f, zero: exit $rc"
[ "$(digest grow)" = "$before" ] || fail "ulimit -f: zero changed grow"
# Within the limit, and a block device (no limit): fine.
lim 4096 copy src new
[ "$rc" -eq 0 ] || fail "ulimit -f, within: exit $rc"
same src new
rm new
lim 1024 copy src "$R"
[ "$rc" -eq 0 ] || fail "ulimit -f, block device: exit $rc"

# Free space: 1 MiB of tmpfs, a 2 MiB copy that writes every byte.
tmpfs small 1m
random small/old 100000
files=(small/old keep src)
refused "no space" "small/new: needs 2097152 bytes more on its file system" copy --no-sparse src small/new
[ ! -e small/new ] || fail "no space: small/new created"
refused "no space, growing a file" "small/old: needs" copy --no-sparse --dest-offset 512K src small/old
refused "no space, shared" "small/a and 1 other destination: need 1228800 bytes more on their file system" \
	copy --no-sparse --length 600K src small/a small/b
[ ! -e small/a ] || fail "no space: small/a created"
# Each alone fits.
expect 0 copy --no-sparse --length 600K src small/a
cmp -n 614400 src small/a || fail "600K copy"
rm small/a
# A source of holes needs no room with --sparse: copied, no warning.
truncate -s 8M holes
expect 0 copy holes small/holes
same holes small/holes
rm small/holes
# With --sparse data blocks might be all zeros: a warning, and the run
# goes on (and fails with ENOSPC).
k copy src small/new
err_has "small/new: warning: may need up to 2097152 bytes more"
[ "$rc" -eq 1 ] || fail "--sparse, no space: exit $rc"
exit 0
