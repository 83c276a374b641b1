#!/usr/bin/env bash
# A stop signal while the destinations are being set up (a new file's open
# on a slow file system, after every check): before, a signal during the
# last open was seen only by the run, which left the new file, full size
# and all zeros, "not completed" (exit 130); and a set-up open that outlasted
# the grace period was said to be "the I/O, flush or log rewrite under way",
# the file it had created not named.  Now the first is undone (the file
# removed, "nothing was written", exit 130, JSON agreeing); the second says
# what it waited for and names the file left.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $((10 * M + 1))

# bg_int DELAY_S ARGS...: kcopyd ARGS in the background, SIGINT after DELAY_S.
bg_int() {
	local after=$1; shift
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	local p=$!
	sleep "$after"
	kill -INT "$p"
	wait "$p"
	rc=$?
}

# stopped DELAY_MS: SIGINT half a second into a copy whose new
# destination's open takes DELAY_MS; exit 130, JSON agreeing.
stopped() {
	ff_rule m "open dst delay=$1"
	bg_int 0.5 copy --json m/src m/dst
	[ "$rc" -eq 130 ] || fail "exit $rc, expected 130: $(cat "$T/err")"
	json_is 'j["exit_code"]' 130
}

c_undone() {
	stopped 1500
	err_has "kcopyd: interrupted by SIGINT during set-up: nothing was written"
	[ ! -e m.back/dst ] || fail "the new destination was left behind ($(stat -c %s m.back/dst) bytes)"
}

c_named() {
	stopped 4500
	err_has "SIGINT: the set-up of the destinations (an open, a create) under way did not end within 3 s: exiting at once; nothing was written, but these are left as set up: m/dst (created by this run)"
	ff_clear m
	sleep 4.5               # the daemon ends the delayed open
}

# The undo itself outlasts the grace period (cutting an extended file back
# takes 4.5 s): said so, with every file still left named (sweep 19a F2).
c_undo_slow() {
	random m.back/ex $((3 * M))
	ff_rule m "open n2 delay=1000" "truncate ex after=1 delay=4500"
	bg_int 0.5 copy m/src m/ex m/n1 m/n2
	[ "$rc" -eq 130 ] || fail "exit $rc, expected 130: $(cat "$T/err")"
	err_has "SIGINT: the undoing of the set-up of the destinations (a remove, a truncate) did not end within 3 s: exiting at once; nothing was written, but these may be left as set up: m/ex (extended by this run), m/n1 (created by this run), m/n2 (created by this run)"
	ff_clear m
	sleep 4.5
	rm -f m/ex m/n1 m/n2
}

# An extension that outlasts it: the file being extended is named (it
# was not: the list was made after each one was set up; sweep 19b F2).
c_extend_slow() {
	random m.back/ex "$M"
	ff_rule m "truncate ex delay=4500"
	bg_int 0.5 copy m/src m/ex
	[ "$rc" -eq 130 ] || fail "exit $rc, expected 130: $(cat "$T/err")"
	err_has "did not end within 3 s: exiting at once; nothing was written, but these are left as set up: m/ex (being extended by this run)"
	ff_clear m
	sleep 4.5
	rm -f m/ex
}

for c in undone named undo_slow extend_slow; do
	ff_clear m; rm -f m/dst
	run_case "$c" "c_$c"
done
cases_done
