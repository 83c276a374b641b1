#!/usr/bin/env bash
# A loop device source whose file is rewritten in place during the copy
# (its own size and times unchanged: a block device has none) is reported
# as changed, by the file's times: exit 1, the message, the JSON (it was
# "ok", exit 0, with bytes of neither version).  A
# copy from a loop device over one half of a file to the other half, whose
# only writes to the file are the run's own, is not a change.
. "$(dirname "$0")/common.bash"
need_loop
M=$((1024 * 1024))
random F $((8 * M))
loopdev L F || fail "losetup"
during 'dd if=/dev/urandom of=F bs=1M count=1 conv=notrunc status=none' copy --json --rate 4M "$L" dst
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "the file rewritten: exit $rc, expected 1"; }
err_has "$L: changed during the copy: the file under the loop device was modified (mtime)"
json_is 'j["source_changed"] is not None' True
# Unchanged: ok.
rm -f dst
expect 0 copy -q "$L" dst
same F dst
# The run's own writes to the file: ok.
random X $((8 * M))
loopdev XL X --sizelimit $((4 * M)) || fail "losetup X"
expect 0 copy --json --rate 16M --dest-offset $((4 * M)) "$XL" X
json_is 'j["source_changed"]' None
cmp -n $((4 * M)) X <(tail -c +$((4 * M + 1)) X) || fail "X's halves differ"
exit 0
