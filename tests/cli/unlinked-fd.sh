#!/usr/bin/env bash
# A file removed but still open, reached through /proc/self/fd/N, as
# source or destination: it had no name when the run began and lost none
# during it, so copy, verify and zero end ok (exit 0) and exact (they said
# "removed during the run", exit 1).  With --log, which names every device
# by its real path, it is refused at set-up: exit 2, said so, no log made.
. "$(dirname "$0")/common.bash"
random src 5000003
: >gone
exec 7<>gone
rm gone
expect 0 copy src /proc/self/fd/7
cmp src /proc/self/fd/7 || fail "the removed file does not hold src"
expect 0 verify src /proc/self/fd/7
expect 0 zero --length 1M /proc/self/fd/7
cmp -n $((1024 * 1024)) /dev/zero /proc/self/fd/7 || fail "not zeroed"
cp src gone2
exec 8<gone2
rm gone2
expect 0 copy /proc/self/fd/8 out2
same src out2
msg="--log needs the real path of each device, and this one has none (a removed file, still open"
expect 2 copy --log lg src /proc/self/fd/7
err_has "/proc/self/fd/7: $msg"
expect 2 copy --log lg /proc/self/fd/8 out3
err_has "/proc/self/fd/8: $msg"
[ ! -e lg ] || fail "a refused run made its log"
[ ! -e out3 ] || fail "a refused run made its destination"
exec 7>&- 8<&-
exit 0
