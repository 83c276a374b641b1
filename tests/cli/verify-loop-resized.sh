#!/usr/bin/env bash
# verify of a loop device that is made smaller under it (its backing file
# cut, losetup -c): the device now ends early, and that is where it
# differs, with the change said; never "not verified: the read ended early
# (the block device still has N bytes)" with its size at open.
. "$(dirname "$0")/common.bash"
need_loop
need_cmd strace
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
M=$((1024 * 1024))
random src $((8 * M))
cp src back
loopdev L back || fail "losetup"
# Every read from the fifth on takes 0.2 s: time to resize it under the run.
strace -f -o /dev/null -e inject=pread64:delay_enter=200000:when=5+ \
	"$KCOPYD" verify src "$L" >"$T/out" 2>"$T/err" </dev/null &
pid=$!
bg_pid $pid
sleep 0.6
truncate -s 2M back
losetup -c "$L"
wait $pid
rc=$?
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1"; }
grep -q "still has $((8 * M)) bytes" "$T/err" && { cat "$T/err"; fail "said it still has its old size"; }
err_has "$L: differs from src at byte $((2 * M))"
err_has "its size went from $((8 * M)) to $((2 * M)) bytes"
exit 0
