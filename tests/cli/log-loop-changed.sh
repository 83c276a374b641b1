#!/usr/bin/env bash
# A block device has no times of its own, but the file under a loop device
# does: the log records them, and a rerun sees the file written since.  A
# loop device source whose file was rewritten in place (same size, same
# inode) after the copy with --log ended is refused (exit 2, the reason
# said, nothing written: the destinations' progress would be another
# source's); a loop device destination whose file was rewritten is copied
# again, and ends exact.  Unchanged, a rerun writes nothing; nor when the
# only writes to the source's file were the run's own.
. "$(dirname "$0")/common.bash"
need_loop
M=$((1024 * 1024))
random F $((8 * M))
truncate -s $((8 * M)) G
loopdev S F || fail "losetup F"
loopdev D G || fail "losetup G"

expect 0 copy -q --log lg "$S" d1 "$D"
same "$S" d1
same "$S" "$D"
expect 0 copy --json --log lg "$S" d1 "$D"
json_is 'j["bytes_written"]' 0

# The source's file rewritten in place.
sleep 0.01
printf 'XXXX' | dd of=F bs=1 seek=1000 conv=notrunc status=none
files=(F G d1 lg)
refused "source's file rewritten" "--log lg: refused: the source changed since the log was written (the loop device's backing file's modification time)" \
	copy --log lg "$S" d1 "$D"
rm lg
expect 0 copy -q --log lg "$S" d1 "$D"
same "$S" d1

# The destination's file rewritten in place: copied again.
sleep 0.01
printf 'YYYY' | dd of=G bs=1 seek=5000 conv=notrunc status=none
expect 0 copy --json --log lg "$S" d1 "$D"
same "$S" "$D"
same "$S" d1

# The same one level deeper: loop devices over loop devices over the files.
loopdev S2 "$S" || fail "losetup $S"
loopdev D2 "$D" || fail "losetup $D"
rm lg
expect 0 copy -q --log lg "$S2" d1 "$D2"
sleep 0.01
printf 'ZZZZ' | dd of=F bs=1 seek=2000 conv=notrunc status=none
blockdev --flushbufs "$S" "$S2"
files=(F G d1 lg)
refused "the file under the loop under the source rewritten" "--log lg: refused: the source changed since the log was written (the loop device's backing file's modification time)" \
	copy --log lg "$S2" d1 "$D2"
rm lg
expect 0 copy -q --log lg "$S2" d1 "$D2"
sleep 0.01
printf 'WWWW' | dd of=G bs=1 seek=7000 conv=notrunc status=none
blockdev --flushbufs "$D" "$D2"
expect 0 copy --json --log lg "$S2" d1 "$D2"
same "$S2" "$D2"
same "$S2" d1

# A loop device over one half of a file copied to the other half of that
# file (or to another loop device over it): the run's own writes move the
# file's times, so they do not make the log stale: a rerun is trusted.
random X $((8 * M))
loopdev XL X --sizelimit $((4 * M)) || fail "losetup X"
loopdev XB X -o $((4 * M)) || fail "losetup X -o 4M"
expect 0 copy -q --log lx --dest-offset $((4 * M)) "$XL" X
expect 0 copy --json --log lx --dest-offset $((4 * M)) "$XL" X
json_is 'j["bytes_written"]' 0
expect 0 copy -q --log ly "$XL" "$XB"
expect 0 copy --json --log ly "$XL" "$XB"
json_is 'j["bytes_written"]' 0
cmp -n $((4 * M)) X <(tail -c +$((4 * M + 1)) X) || fail "X's halves differ"

# The file under a loop device removed since the log was written: its
# times cannot be read, so what it holds is not vouched for (it was
# trusted, and a destination rewritten since kept its bytes, exit 0): a
# destination is copied again, a source refused.
random F3 $((4 * M))
truncate -s $((4 * M)) G3
loopdev S3 F3 || fail "losetup F3"
loopdev D3 G3 || fail "losetup G3"
expect 0 copy -q --log l3 "$S3" "$D3"
rm G3
dd if=/dev/zero of="$D3" bs=1M count=1 oflag=direct conv=notrunc status=none
expect 0 copy --json --log l3 "$S3" "$D3"
err_has "$D3: changed since the log was written (the loop device's backing file's times can no longer be read"
same "$S3" "$D3"
rm F3
files=(l3)
refused "the source's file removed" "--log l3: refused: the source changed since the log was written (the loop device's backing file's times can no longer be read" \
	copy --log l3 "$S3" "$D3"
exit 0
