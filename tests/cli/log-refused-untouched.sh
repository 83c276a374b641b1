#!/usr/bin/env bash
# A log that the command refuses is left byte for byte as it was: the
# refusal comes before anything is written, the log included (a hand-written
# log keeps its layout; a new log is not created).
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((2 * mib))

# The header as a person writes it: the key of this very copy, without the
# identities of the devices.
expect 0 copy --log real.log src dsh
header() { sed -n '/^kcopyd-log/,/^dest 0/p' "$1" | sed -E 's/^((source|dest) [^ ]+ [^ ]+) .*/\1/'; }

# It says the first MiB of dsh is copied, but dsh now has half of that.
truncate -s $((512 * 1024)) dsh
{
	header real.log
	echo "map 0 0 $mib +"
	echo "map 0 $mib $mib ?"
	echo "end"
} >hand.log
before=$(digest hand.log)
dsh_before=$(digest dsh)
expect 2 copy --log hand.log src dsh
err_has "which is shorter"
[ "$(digest hand.log)" = "$before" ] || fail "the refused log was rewritten: $(cat hand.log)"
[ "$(digest dsh)" = "$dsh_before" ] || fail "the refused run changed its destination"
[ ! -e hand.log.tmp ] || fail "the refused run left hand.log.tmp"

# A new log refused for its destination (a directory) is not created at all.
mkdir adir
expect 2 copy --log new.log src adir
[ ! -e new.log ] && [ ! -e new.log.tmp ] || fail "a refused run created its new log"

# Accepted (all of it to copy), a hand-written log is written by the run.
{
	header real.log
	echo "map 0 0 $((2 * mib)) ?"
	echo "end"
} >hand.log
expect 0 copy --log hand.log src dsh
same src dsh
grep -q '^checksum' hand.log || fail "the accepted log was not rewritten by its run"
exit 0
