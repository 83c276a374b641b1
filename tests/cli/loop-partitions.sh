#!/usr/bin/env bash
# Partitions of a loop device: kcopyd's own exclusive hold on a partition
# (which the kernel extends to the disk) is not "another program": a file
# to a partition, a partition to another, are copied.  A partition that
# another program holds is still refused, and so is the image file's range
# under it; what does not overlap that partition is not.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd partx

M=$((1024 * 1024))
# An MBR with two partitions: sectors 2048 + 40960 (1 MiB, 20 MiB) and
# 43008 + 20480 (21 MiB, 10 MiB).
truncate -s $((64 * M)) pimg
"$PY" - <<'PY' || fail "cannot write the partition table"
import struct
m = bytearray(512)
for i, (s, n) in enumerate([(2048, 40960), (43008, 20480)]):
    m[446 + 16 * i:462 + 16 * i] = struct.pack('<B3sB3sII', 0, b'\0' * 3, 0x83, b'\0' * 3, s, n)
m[510:512] = b'\x55\xaa'
with open('pimg', 'r+b') as f:
    f.write(m)
PY
loopdev P pimg -P || fail "losetup -P"
[ -b "${P}p2" ] || partx -a "$P" 2>/dev/null
[ -b "${P}p1" ] && [ -b "${P}p2" ] || skip "no partitions on loop devices here (losetup -P, partx -a)"
random one $M
random two $M

expect 0 copy one "${P}p2"
cmp -n $M one "${P}p2" || fail "one -> p2 differs"
expect 0 copy one "${P}p1"
expect 0 copy --length $M "${P}p1" "${P}p2"
cmp -n $M one "${P}p2" || fail "p1 -> p2 differs"
expect 0 copy two "${P}p1" "${P}p2"
cmp -n $M two "${P}p1" || fail "two -> p1 differs"
cmp -n $M two "${P}p2" || fail "two -> p2 differs"
expect 0 zero --length $M "${P}p2"
cmp -n $M "${P}p2" /dev/zero || fail "p2 not zeroed"

# Another program holds p1 (O_EXCL, as a mount does).
"$PY" -c 'import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
open(sys.argv[2], "w").close()
time.sleep(60)' "${P}p1" held &
bg_pid $!
for _ in $(seq 50); do [ -e held ] && break; sleep 0.1; done
[ -e held ] || fail "could not hold p1"
files=(pimg one)
refused "held partition" "${P}p1: is mounted or in use by another program" copy one "${P}p1"
refused "the image under the held partition" "pimg: lies under ${P}p1, which is mounted or in use by another program" \
	copy --dest-offset $M one pimg
refused "the disk of the held partition" "$P: is mounted or in use by another program" copy one "$P"
# Not under p1: the other partition, and the image's range under it.
expect 0 copy one "${P}p2"
cmp -n $M one "${P}p2" || fail "one -> p2 differs while p1 is held"
expect 0 copy --dest-offset $((21 * M)) two pimg
cmp -n $M two "${P}p2" || fail "two -> the image under p2 differs"
exit 0
