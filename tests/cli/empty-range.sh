#!/usr/bin/env bash
# A zero-length range changes nothing: zero --offset 100G --length 0 does
# not grow the file, copy --length 0 --dest-offset 100G neither grows an
# existing destination nor gives a new one any size (it is created empty);
# exit 0, saying the range is empty (not with -q).
. "$(dirname "$0")/common.bash"

random src $((1024 * 1024))
random f $((1024 * 1024))
cp f f.orig

expect 0 zero --offset 100G --length 0 f
err_has "the range is empty: nothing to zero"
same f.orig f
expect 0 copy --length 0 --dest-offset 100G src f
err_has "the range is empty: nothing to copy"
same f.orig f
expect 0 copy --length 0 --dest-offset 100G src new
[ -f new ] && [ "$(stat -c %s new)" -eq 0 ] || fail "new: $(stat -c %s new 2>&1), expected an empty file"
# The source's end as the start: the same.
expect 0 copy --offset 1M --dest-offset 50G src f
err_has "nothing to copy"
same f.orig f
expect 0 zero -q --offset 1M f
[ ! -s "$T/err" ] || fail "-q: $(cat "$T/err")"
same f.orig f
exit 0
