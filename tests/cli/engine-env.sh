#!/usr/bin/env bash
# KCOPYD_ENGINE set to no engine is named as the cause (not --pages):
# copy and zero exit 2 before touching anything, saying the value and the
# values allowed; info says the engine is unavailable and why.  The two
# real engines still work.
. "$(dirname "$0")/common.bash"

random src $((1024 * 1024))
random dst $((1024 * 1024))
files=(src dst)
msg="KCOPYD_ENGINE=bogus is not a copy engine: it is io_uring, threads, or unset"

KCOPYD_ENGINE=bogus refused "copy" "copy: $msg" copy src new
! grep -q -- "--pages" "$T/err" || fail "the message blames --pages: $(cat "$T/err")"
KCOPYD_ENGINE=bogus refused "copy" "copy: $msg" copy src dst
KCOPYD_ENGINE=bogus refused "zero" "zero: $msg" zero dst
KCOPYD_ENGINE=bogus expect 0 info src
grep -q "engine: unavailable (KCOPYD_ENGINE=bogus is not a copy engine" "$T/out" ||
	fail "info: $(cat "$T/out")"
for e in threads io_uring ""; do
	rm -f new
	KCOPYD_ENGINE=$e k copy --json src new
	[ "$rc" -eq 0 ] || [ "$e" = io_uring ] || { cat "$T/err"; fail "KCOPYD_ENGINE=$e: exit $rc"; }
	[ "$rc" -ne 0 ] || same src new
done
exit 0
