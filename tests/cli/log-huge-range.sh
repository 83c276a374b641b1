#!/usr/bin/env bash
# copy --log over a range of 1 EiB and more (sparse files on tmpfs): the log
# the run writes (its chunks grow past 2^40 bytes to stay within the chunk
# count) is one the next run reads; the rerun finds nothing to do and exits
# 0, and the destination is exact where the source has data.  A destination
# near 2^63 gets the source's holes as zeros over its old bytes.
. "$(dirname "$0")/common.bash"
need_root
tmpfs "$T/m" 64M
cd "$T/m" || fail "cd"
trap 'cd /; _cleanup' EXIT
for size in 1E 4611686018427387904 9223372036854771712 9223372036854775296; do
	rm -f big d l
	truncate -s "$size" big || skip "tmpfs refuses a $size file"
	printf 'data at the start' | dd of=big conv=notrunc status=none
	printf 'and at the end' | dd of=big bs=1 seek=$(($(stat -c %s big) - 14)) conv=notrunc status=none
	expect 0 copy -q --log l big d
	[ -s l ] || fail "$size: no log written"
	expect 0 copy --log l big d
	grep -qi "damaged\|not usable" "$T/err" && { cat "$T/err"; fail "$size: the run's own log refused"; }
	[ "$(stat -c %s d)" = "$(stat -c %s big)" ] || fail "$size: destination size differs"
	cmp -n 17 big d || fail "$size: the data at the start differs"
	[ "$(tail -c 14 d)" = "and at the end" ] || fail "$size: the data at the end differs"
done

# The destination's holes are looked at too (to leave its zeros unwritten):
# a destination near 2^63 whose last page holds old bytes gets the source's
# holes written there, as zeros (tmpfs says it has no data there).
rm -f big d l
truncate -s 4095 small
"$PY" -c "
import os
fd = os.open('d', os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 2**63 - 1)
os.pwrite(fd, b'\xAA' * 4095, 2**63 - 4096)"
expect 0 copy --dest-offset $((2 ** 63 - 4096)) small d
"$PY" -c "
import os, sys
fd = os.open('d', os.O_RDONLY)
got = os.pread(fd, 4095, 2**63 - 4096)
sys.exit('%d old bytes left where the source has zeros' % got.count(0xAA) if got.count(0xAA) else 0)" ||
	fail "the destination's last page near 2^63 kept old bytes"
echo "ok: logs of 1 EiB to 2^63-512 byte ranges are read back, the data at their end copied; holes near 2^63 written"
