#!/usr/bin/env bash
# copy --log: a destination changed by someone else during the run holds
# nothing the log can vouch for: the run fails it (exit 1), and the log
# forgets all of that destination's progress, so that a rerun with the log
# copies it whole again instead of reporting "ok" over the change.  The
# other destination keeps its progress.
. "$(dirname "$0")/common.bash"
mib=$((1024 * 1024))
random src $((20 * mib))
"$KCOPYD" copy --log lg --rate 10M src d e >"$T/out" 2>"$T/err" </dev/null &
pid=$!
sleep 1.2
truncate -s $mib d
wait $pid
rc=$?
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1"; }
err_has "d: changed during the copy by someone else"
same src e
k copy --json --log lg src d e
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "rerun: exit $rc, expected 0"; }
# e was whole: its 20 MiB are skipped; d is copied again from its start.
json_is "j['skipped_bytes']" $((20 * mib))
same src d
same src e
exit 0
