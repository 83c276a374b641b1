#!/usr/bin/env bash
# A copy that could not keep its log is refused at set-up (exit 2) with
# nothing created or changed: too few descriptors (ulimit -n), a log that
# cannot be replaced (chattr +i, +a), a directory where LOG.tmp and
# LOG.lock could not be removed (chattr +a) or made (+i).  A refused run
# never leaves LOG.tmp or LOG.lock behind, and never removes a LOG.lock it
# did not create.
. "$(dirname "$0")/common.bash"

M=1048576
random src $((3 * M))
mkdir d

# nothing_new: no destination, no log, no LOG.tmp, no LOG.lock.
nothing_new() {
	for f in dst d/dst LN LN.tmp LN.lock d/LN.tmp d/LN.lock; do
		[ ! -e "$f" ] || fail "$f was left behind: $(cat "$T/err")"
	done
}

# Too few descriptors, at each limit where the run starts but could not
# end: refused, or it copies and keeps its log (never exit 1).
for n in $(seq 8 20); do
	rm -f dst LN LN.lock
	(ulimit -n "$n"; exec "$KCOPYD" copy --json --log LN src dst) >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	case $rc in
	2) nothing_new
	   json_is 'j["exit_code"]' 2 ;;
	0) same src dst ;;
	*) cat "$T/err"; fail "ulimit -n $n: exit $rc" ;;
	esac
done

# Attributes need a file system that has them, and root.
if [ "$(id -u)" -eq 0 ] && command -v chattr >/dev/null && touch probe && chattr +i probe 2>/dev/null; then
	chattr -i probe
	# A log that is immutable or append-only cannot be replaced.
	for a in +i +a; do
		rm -f dst2 LN
		cp src dst2
		expect 0 copy --log LN src dst2
		[ -e LN ] || fail "no log kept for the check"
		before=$(digest LN); d2=$(digest dst2)
		chattr $a LN
		k copy --log LN src dst2
		chattr ${a/+/-} LN
		[ "$rc" -eq 2 ] || { cat "$T/err"; fail "chattr $a LN: exit $rc"; }
		err_has "--log LN: unusable: cannot write it: it is"
		[ "$(digest LN)" = "$before" ] || fail "LN changed"
		[ "$(digest dst2)" = "$d2" ] || fail "dst2 changed"
		[ ! -e LN.tmp ] && [ ! -e LN.lock ] || fail "LN.tmp or LN.lock left"
	done
	# A directory where the log's files could not be removed or made.
	for a in +a +i; do
		rm -f dst LN d/LN d/LN.tmp d/LN.lock
		chattr $a d
		k copy --log d/LN src dst
		chattr ${a/+/-} d
		[ "$rc" -eq 2 ] || { cat "$T/err"; fail "chattr $a on the log's directory: exit $rc"; }
		err_has "--log d/LN: unusable: cannot write it: its directory d is"
		nothing_new
	done
else
	echo "no chattr here: the attribute cases are not run"
fi

# A refused run (the log is of another range) keeps a LOG.lock that was
# there before it, unlocked, as it was.
rm -f dst LN LN.lock
expect 0 copy --log LN --length 1M src dst
[ -e LN ] || fail "no log kept for the check"
echo "the user's own file" >LN.lock
lock=$(digest LN.lock)
expect 2 copy --log LN --length 2M src dst
[ "$(digest LN.lock)" = "$lock" ] || fail "LN.lock was removed or changed"
# And a run that uses it keeps it too.
rm -f dst
expect 0 copy --log LN --length 1M src dst
[ "$(digest LN.lock)" = "$lock" ] || fail "LN.lock was removed or changed by a run"
echo ok
