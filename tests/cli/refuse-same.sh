#!/usr/bin/env bash
# The source's own file as a destination with overlapping ranges is refused
# (exit 2, nothing written) whatever path names it: the same name, ./,
# a symlink, a hard link.  Non-overlapping ranges of one file are copied.
# A destination named twice, even spelled differently, is refused.
. "$(dirname "$0")/common.bash"

random src $((2 * 1024 * 1024))
cp src orig
ln -s src link
ln src hard
random a 1000
before=$(digest a)

for d in src ./src link hard "$T/src" "../$(basename "$T")/src"; do
	expect 2 copy src a "$d"
	err_has "is the source"
	same orig src
	[ "$(digest a)" = "$before" ] || fail "a changed ($d)"
done
expect 2 copy --dest-offset 512 src src
expect 2 copy --length 1M --dest-offset 1048064 src src
expect 2 copy --offset 1M --length 1M --dest-offset 1536K src link
same orig src

# Disjoint ranges of one file are fine.
expect 0 copy --length 1M --dest-offset 1M src src
cmp -n 1048576 orig src || fail "first half changed"
cmp -i 0:1048576 -n 1048576 orig src || fail "second half is not the first"
cp orig src

# Named twice: an existing file, a new file, different spellings.
expect 2 copy src a a
expect 2 copy src a ./a
expect 2 copy src a "$T/a"
mkdir sub
expect 2 copy src n sub/../n
[ ! -e n ] || fail "n created"
expect 2 copy src sub/x "$T/sub/x"
[ ! -e sub/x ] || fail "sub/x created"
[ "$(digest a)" = "$before" ] || fail "a changed"
expect 2 zero a ./a
exit 0
