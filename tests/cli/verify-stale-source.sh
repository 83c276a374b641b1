#!/usr/bin/env bash
# A loop device whose page cache is stale: held open while its backing file
# is rewritten through the file's own name (the loop device's cache is not
# told).  The copy reads the device with O_DIRECT, that is the file; the
# comparisons read it too, not the stale cache: copy --verify says the
# destination it wrote is verified, and verify against the old bytes says
# they differ (it said "matches", exit 0).
. "$(dirname "$0")/common.bash"
need_loop
M=$((1024 * 1024))
random X $((4 * M)); cp X X.old
loopdev A X || fail "losetup"
sleep 1000 <"$A" &
bg_pid $!
cat "$A" >/dev/null                     # its cache holds the old bytes
random X $M; sync X                     # the file rewritten through its name
expect 0 copy --verify "$A" D
cmp -s D X || fail "D does not hold what the device holds"
expect 1 verify "$A" X.old
err_has "X.old: differs from $A at byte 0"
exit 0
