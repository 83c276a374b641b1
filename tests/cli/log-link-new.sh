#!/usr/bin/env bash
# --log naming a symbolic link to a log not made yet: the log is made
# where the link points (through a chain of links too) and the link is
# kept, as for a link to a log that exists (it replaced the link with a
# regular file, exit 0); a second run through the link, or the target's
# own name, finds the same log (and its lock); a link into a directory
# that does not exist is refused, exit 2, nothing created.
. "$(dirname "$0")/common.bash"
random src $((3 * 1024 * 1024))
mkdir sub
ln -s sub/new.log L1
expect 0 copy -q --log L1 src d1
same src d1
[ -L L1 ] || fail "the link L1 was replaced: $(ls -l L1)"
[ -f sub/new.log ] || fail "no log made where L1 points: $(ls -l sub)"
grep -q . sub/new.log || fail "the log is empty"
# The same log, by the link and by its name: the run is done, nothing to do.
expect 0 copy -q --log L1 src d1
expect 0 copy -q --log sub/new.log src d1
same src d1
# A chain of links.
ln -s L2b L2a
ln -s sub/chain.log L2b
expect 0 copy -q --log L2a src d2
same src d2
[ -L L2a ] && [ -L L2b ] || fail "a link of the chain was replaced"
[ -f sub/chain.log ] || fail "no log at the chain's end"
# Into a directory that is not there.
ln -s nodir/x.log L3
expect 2 copy -q --log L3 src d3
err_has "--log L3: cannot create it"
[ ! -e d3 ] || fail "the refused run created its destination"
[ -L L3 ] || fail "the link L3 was replaced"
exit 0
