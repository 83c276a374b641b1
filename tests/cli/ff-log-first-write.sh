#!/usr/bin/env bash
# A fresh --log run whose first write of the log fails (ENOSPC on its
# temporary file, after the set-up probe): the run stops, and says a rerun
# starts from the beginning, as no log exists; it used to advise "rerun
# with the same --log to resume at byte 0" and give resume_at 0.  The JSON's
# resume_at is null.  A stop signal before any log was written says the
# same.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((8 * M))
ff_rule m "write lg.tmp after=1 err=ENOSPC"
k copy --json --log m/lg src d
ff_fires m 0
ff_clear m
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc, expected 1"; }
[ ! -e m.back/lg ] || fail "a log exists after all"
err_has "no log was written (m/lg does not exist): a rerun starts from the beginning"
grep -q "resume at byte" "$T/err" && fail "still advises a resume: $(cat "$T/err")"
json_is "j['resume_at']" None
exit 0
