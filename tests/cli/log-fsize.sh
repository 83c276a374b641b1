#!/usr/bin/env bash
# copy --log under a small ulimit -f that the copy and its log fit under
# (4 KiB): the set-up's check that the log can be written does not refuse
# it for its margin (what the log's text may gain) past the limit.
. "$(dirname "$0")/common.bash"
random src 2048
(ulimit -f 4; exec "$KCOPYD" copy --log lg src d) >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "exit $rc, expected 0"; }
same src d
exit 0
