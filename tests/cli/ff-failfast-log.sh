#!/usr/bin/env bash
# copy --fail-fast --log: a destination that a job left short when
# --fail-fast stopped it at another destination's error (small sub-jobs, so
# that the stop lands inside jobs) is not recorded as done for that chunk:
# a rerun with the log copies it again, and both destinations end equal to
# the source.  On both engines.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((32 * M))
for e in "${ENGINES[@]}"; do
	rm -f m.back/d1 m.back/d2 m.back/lg
	ff_rule m "write d1 off=17M len=1 err=EIO"
	fk "$e" copy --fail-fast --sub-job-size 4K --log m/lg src m/d1 m/d2
	ff_fires m 0
	ff_clear m
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "$e: exit $rc, expected 1"; }
	fk "$e" copy --log m/lg src m/d1 m/d2
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "$e: rerun: exit $rc, expected 0"; }
	same src m.back/d1
	same src m.back/d2
done
exit 0
