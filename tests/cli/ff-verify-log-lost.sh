#!/usr/bin/env bash
# copy --verify --log: when the verify pass finds a destination wrong, the
# log must forget the chunks it called copied there; if that rewrite fails
# (here: a write of the log's text fails with EIO), the log on disk still
# calls them copied, and a rerun would trust them.  So the log is removed
# (a rerun copies everything again), the failure is said, with exit 1, the
# JSON's log_error, and resume_at null; the rerun then makes the
# destination right.
. "$(dirname "$0")/faultfs.bash"
ff_begin
for e in "${ENGINES[@]}"; do
	random src $((4 * M))
	random dst $((4 * M))
	# A log that says the whole range was copied (it was not).
	printf 'kcopyd-log 2\nboot -\nstate closed\nsource %s 4194304\nrange 0 4194304 0\nchunk 1048576\ndest 0 %s\nmap 0 0 4194304 +\nend\n' \
		"$T/src" "$T/dst" >m/l
	ff_rule m "write l.tmp after=4 err=EIO"
	fk "$e" copy --json --verify --log m/l src dst
	ff_fires m 0
	ff_clear m
	[ "$rc" -eq 1 ] || { cat "$T/out" "$T/err"; fail "$e: exit $rc, expected 1"; }
	err_has "cannot record that the verify pass found differences: Input/output error"
	err_has "the log was removed: a rerun copies everything again"
	json_is "j['log_error']" "cannot record that the verify pass found differences: Input/output error; the log was removed"
	json_is "j['resume_at']" None
	json_is "j['exit_code']" 1
	json_is "j['destinations'][0]['status']" failed
	[ ! -e m.back/l ] || { cat m.back/l; fail "$e: the log that trusts the differences is still there"; }
	grep -q "rerun with the same --log" "$T/err" && fail "$e: told to resume from the log"
	# The rerun, without --verify, copies everything again.
	fexpect 0 "$e" copy -q --log m/l src dst
	same src dst
	rm -f m/l
done
exit 0
