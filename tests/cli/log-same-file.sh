#!/usr/bin/env bash
# copy --log inside one file (the source is its own destination, at another
# offset): the run's own writes change the source's modification time, and
# its size when the range is past its end; a rerun or a resume with the log
# is not refused for them (only which file it is is checked), and the
# result is the copy.
. "$(dirname "$0")/common.bash"
mib=$((1024 * 1024))
random f $((8 * mib))
k copy -q --log lg --length 2M f f --dest-offset 4M
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "first run: exit $rc"; }
k copy --json --log lg --length 2M f f --dest-offset 4M
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "rerun: exit $rc, expected 0"; }
json_is "j['skipped_bytes']" $((2 * mib))
cmp -s -i 0:4M -n $((2 * mib)) f f || fail "f at 4M is not f at 0"
# Past its end (the file grows): stopped, then resumed.
"$KCOPYD" copy --log lg2 --rate 4M --length 8M f f --dest-offset 8M >"$T/out" 2>"$T/err" </dev/null &
pid=$!
signals_taken $pid
sleep 1
kill -INT $pid
wait $pid
rc=$?
[ "$rc" -eq 130 ] || [ "$rc" -eq 0 ] || { cat "$T/err"; fail "stopped run: exit $rc"; }
k copy --log lg2 --length 8M f f --dest-offset 8M
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "resume: exit $rc, expected 0"; }
cmp -s -i 0:8M -n $((8 * mib)) f f || fail "f at 8M is not f at 0"
exit 0
