#!/usr/bin/env bash
# copy --verify --log: a chunk the verify pass finds wrong on a destination
# is no longer recorded as done there, so the next run with the log copies
# it again (before, the log kept it "+" and the rerun said ok, exit 0, with
# the difference still on the disk).  A block device overwritten behind the
# log's back is not noticed by its identity: the verify pass is what tells.
# (A loop device whose file was removed, so that no name finds it: one
# over a file that a name reaches is noticed by the file's times, see
# log-loop-changed.)
. "$(dirname "$0")/common.bash"
need_loop

mib=$((1024 * 1024))
truncate -s $((4 * mib)) bk
loopdev L bk || fail "losetup"
rm bk
random src $((4 * mib))
expect 0 copy -q --log lg src "$L"
same src "$L"

# Someone writes into the third MiB of the device.
printf ZZZZ | dd of="$L" bs=1 seek=$((2 * mib + 100000)) conv=notrunc status=none
blockdev --flushbufs "$L"

expect 1 copy --json --verify --log lg src "$L"
json_is 'j["destinations"][0]["status"]' failed
json_is '"differs" in j["destinations"][0]["error"]' True
json_is 'j["resume_at"]' $((2 * mib))
grep -q "^map 0 0x200000 0x200000 ?" lg || fail "the log still calls the bad chunk done: $(grep map lg)"
grep -q "^map 0 0x0 0x200000 +" lg || fail "the log forgot the good chunks too: $(grep map lg)"

# The rerun copies what the verify pass found wrong, and only that.
expect 0 copy --json --log lg src "$L"
json_is 'j["bytes_moved"]' $((2 * mib))
same src "$L"
exit 0
