#!/usr/bin/env bash
# The log's temporary file FILE.tmp is always made new; one found there is
# removed only when it is a left-over of a kcopyd rewrite (it begins with
# the log's first word).  Anything else may be another name of someone's
# data, which no name check can tell for sure (a file of an overlayfs layer
# whose layers were given by relative paths, say): it is left as it is and
# the copy refused at set-up (exit 2), nothing created.
. "$(dirname "$0")/common.bash"
M=$((1024 * 1024))
random src $M

# Someone's file named l.tmp: untouched, refused.
random l.tmp 5000
before=$(digest l.tmp)
expect 2 copy --log l src d
err_has "its temporary file l.tmp is there and is not a left-over of a kcopyd log"
[ "$(digest l.tmp)" = "$before" ] || fail "l.tmp was changed"
[ ! -e d ] || fail "d was created"
[ ! -e l ] || fail "the log was created"

# Left-overs of ours (a kill during a rewrite: the start of a log, cut
# anywhere, even inside its first line): removed, the copy runs.
expect 0 copy -q --log real.log src real.d
for cut in 5 18 200; do
	head -c $cut real.log > l.tmp
	rm -f d
	expect 0 copy -q --log l src d
	same src d
	[ ! -e l.tmp ] || fail "our left-over l.tmp ($cut bytes of a log) is still there"
done
printf 'kcopyd-log 2\nboot x\nstate open\nsource ' > l.tmp
rm -f d
expect 0 copy -q --log l src d
same src d
[ ! -e l.tmp ] || fail "our left-over l.tmp is still there"
# A hard link at l.tmp: its file is not ours (through an overlay the count
# of links proves nothing): refused, untouched.
random other 3000
ln other l.tmp
rm -f d
expect 2 copy --log l src d
err_has "is not a left-over of a kcopyd log"
[ -e l.tmp ] || fail "the hard link was removed"
rm l.tmp
: >l.tmp                                # a crash just after making it
rm -f d
expect 0 copy -q --log l src d
same src d
[ ! -e l.tmp ] || fail "the empty left-over l.tmp is still there"

# The source is an overlay's upper-layer file S.tmp; the log is named
# through the overlay as S, whose .tmp is that file (layers given by
# relative paths, which mountinfo shows as given).
if [ "$(id -u)" -eq 0 ]; then
	mkdir lo up wk mg
	if mount -t overlay overlay -o lowerdir=lo,upperdir=up,workdir=wk mg 2>/dev/null; then
		_mounts+=("$T/mg")
		random up/S.tmp $M
		before=$(digest up/S.tmp)
		rm -f out.img
		expect 2 copy --log mg/S up/S.tmp out.img
		[ -e up/S.tmp ] || fail "the source was removed"
		[ "$(digest up/S.tmp)" = "$before" ] || fail "the source changed"
		[ ! -e out.img ] || fail "out.img was created"
	fi
fi
exit 0
