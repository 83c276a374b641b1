#!/usr/bin/env bash
# One log, one run at a time: while a copy with --log FILE runs, a second
# kcopyd run with the same log, the same command or another, is refused
# with exit 2 before it writes anything, and the first finishes exactly as
# if alone.  The lock goes with the first run: then the log is usable again.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
size=$((2 * mib + 1000))
random src $size
random b $size

# The first run: throttled to last about four seconds.
"$KCOPYD" copy -q --rate 512K --log-interval 0.2 --log x.log src a b >first.out 2>first.err &
first=$!
bg_pid "$first"
for ((i = 0; i < 200; i++)); do [ -e x.log ] && break; sleep 0.05; done
[ -e x.log ] || fail "the first run did not start its log"
kill -0 "$first" 2>/dev/null || fail "the first run ended early: $(cat first.err)"

# The same command again, and another copy with the same log.
# Its destinations are locked too: either lock may be the one that refuses.
expect 2 copy --log x.log src a b
grep -qE -- "--log x.log: refused: another kcopyd run is using it|a: another process is using it" "$T/err" ||
	{ cat "$T/err"; fail "the second run's refusal names neither lock"; }
expect 2 copy --log x.log src c
err_has "--log x.log: refused: another kcopyd run is using it"
[ ! -e c ] || fail "the refused run created its destination"
# Through another name of the same log (a symbolic link to its directory).
ln -s . here
expect 2 copy --log here/x.log src c
err_has "another kcopyd run is using it"
[ ! -e c ] || fail "the refused run created its destination"
# Through a symbolic link to the log: the same lock.
ln -s x.log y.log
expect 2 copy --log y.log src c
err_has "another kcopyd run is using it"
[ ! -e c ] || fail "the refused run created its destination"
kill -0 "$first" 2>/dev/null || fail "the first run ended before the second was tried"

wait "$first"
rc=$?
[ "$rc" -eq 0 ] || fail "the first run exited $rc: $(cat first.err)"
[ ! -s first.err ] || fail "the first run complained: $(cat first.err)"
same src a
same src b
[ ! -e x.log.lock ] || fail "the lock file outlived the run"
! grep -q '?$' x.log || fail "the first run's log is not complete"
# Now the log is free, and complete.
expect 0 copy --json --log x.log src a b
json_is 'j["resumed"]' True
json_is 'j["bytes_written"]' 0
exit 0
