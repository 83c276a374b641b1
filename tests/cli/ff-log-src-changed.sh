#!/usr/bin/env bash
# copy --log: a run that saw the source change under it (cut short, or
# modified) and did not complete must not offer to resume: a rerun with
# the log is refused (exit 2, the source changed since the log was
# written).  It says the log cannot resume this copy, JSON resume_at is
# null, and never "rerun with the same --log"; stopped by a signal too,
# and when it exits at once, stuck (its last words name the log).
. "$(dirname "$0")/faultfs.bash"
ff_begin
random orig $((4 * M))
random big $((64 * M))
cant="the log cannot resume this copy: the source changed during the run"
no_resume() {
	err_has "$cant"
	! grep -q "rerun with the same --log" "$T/err" || { cat "$T/err"; fail "$e: $1: offers to resume"; }
	k copy --log lg m/src d
	[ "$rc" -eq 2 ] || { cat "$T/err"; fail "$e: $1: the rerun exited $rc, not 2"; }
	rm -f lg d
}
for e in "${ENGINES[@]}"; do
	# Cut short at its first read: the reads past the new end fail.
	cp orig m.back/src
	ff_rule m "read src off=512K delay=200" "read src off=0 len=512K count=1 truncate=$((M + 102400))"
	fk "$e" copy --json --log lg m/src d
	ff_clear m
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "$e: cut short: exit $rc, expected 1"; }
	json_is "j['resume_at']" None
	json_is "j['source_changed'] is not None" True
	no_resume "cut short"

	# Modified (its times), then stopped by SIGINT while it copies (more
	# slow reads than the run keeps in flight).
	cp big m.back/src
	ff_rule m "read src off=1M delay=300"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --json --log lg m/src d >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	bg_pid "$pid"
	signals_taken "$pid" || fail "$e: kcopyd did not start"
	sleep 0.3
	touch -d "2 days ago" m.back/src
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	ff_clear m
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "$e: stopped: exit $rc, expected 130"; }
	json_is "j['resume_at']" None
	no_resume "modified, stopped"

	# The same, but the run is stuck in a read past the 3 s a stop waits
	# for, and exits at once: its last words do not offer the log either.
	cp big m.back/src
	ff_rule m "read src off=1M delay=3000"
	KCOPYD_ENGINE=$e "$KCOPYD" copy --log lg m/src d >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	bg_pid "$pid"
	signals_taken "$pid" || fail "$e: kcopyd did not start"
	sleep 0.3
	touch -d "2 days ago" m.back/src
	sleep 2.5                       # the run looks at its source at each tick
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	ff_clear m
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "$e: stuck: exit $rc, expected 130"; }
	err_has "exiting at once"
	err_has "the log lg cannot resume it: the source changed during the run"
	! grep -q "resumes it" "$T/err" || fail "$e: stuck: offers to resume"
	rm -f lg d
done
exit 0
