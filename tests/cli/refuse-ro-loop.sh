#!/usr/bin/env bash
# A loop device attached read-only (losetup -r) is refused with advice
# that works: blockdev --setrw does not make it writable, attaching it
# again without -r does.  A device made
# read-only with blockdev --setro keeps the --setrw advice.
. "$(dirname "$0")/common.bash"
need_loop

random src 4096
random r.img $((4 * 1024 * 1024))
loopdev R r.img -r || fail "losetup -r"
blockdev --setrw "$R" 2>/dev/null
[ "$(blockdev --getro "$R")" = 1 ] || skip "losetup -r gives a writable device here"
files=(r.img src)
refused "losetup -r" "$R: is a read-only block device: the loop device $R was attached read-only (losetup -r)" \
	copy src "$R"
err_has "attach its file again without -r"
! grep -q "blockdev --setrw to make it writable" "$T/err" || fail "setrw advice for losetup -r"
refused "losetup -r, zero" "attached read-only (losetup -r)" zero "$R"

random w.img $((4 * 1024 * 1024))
loopdev W w.img || fail "losetup"
trap 'blockdev --setrw "$W" 2>/dev/null; _cleanup' EXIT
blockdev --setro "$W" || skip "blockdev --setro failed"
files=(w.img src)
refused "--setro" "$W: is a read-only block device (blockdev --setrw to make it writable)" copy src "$W"
! grep -q "losetup" "$T/err" || fail "losetup advice for --setro"
exit 0
