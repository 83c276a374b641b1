#!/usr/bin/env bash
# A buffered copy of a sparse source onto a block device held exclusively,
# at an offset that is not a whole page: zeroing a hole there can meet the
# run's own dirty pages in the device's cache, and the kernel answers the
# fallocate with EBUSY; the zeroing is then done by writes: exit 0, exact.
. "$(dirname "$0")/common.bash"
need_loop
truncate -s 8M bk
loopdev L bk -b 512 || fail "losetup"
truncate -s 1M src
random src 4096 0
random src 4096 $((100 * 4096))
for try in 1 2 3 4 5; do
	expect 0 copy -q --buffered --offset 512 src "$L"
	cmp -n $((1024 * 1024 - 512)) <(tail -c +513 src) "$L" || fail "try $try: the device differs"
done
exit 0
