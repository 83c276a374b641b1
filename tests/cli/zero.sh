#!/usr/bin/env bash
# zero: whole files, a range (bytes outside untouched, a tail that is not
# a whole sector), a range past the end (the file is extended), several
# destinations of different sizes, and --json.
. "$(dirname "$0")/common.bash"

random a $((3 * 1024 * 1024 + 100))
random b 70000
expect 0 zero a b
cmp -n $((3 * 1024 * 1024 + 100)) a /dev/zero || fail "a not zero"
cmp -n 70000 b /dev/zero || fail "b not zero"
[ "$(stat -c %s a)" -eq $((3 * 1024 * 1024 + 100)) ] || fail "a changed size"
[ "$(stat -c %s b)" -eq 70000 ] || fail "b changed size"
grep -q "^zeroed " "$T/out" || fail "summary: $(cat "$T/out")"

# A range with a tail, in the middle of a file.
random c $((1024 * 1024))
cp c c.orig
expect 0 zero --offset 4K --length 10000 c
cmp -n 4096 c c.orig || fail "bytes before the range changed"
cmp -i 4096:0 -n 10000 c /dev/zero || fail "range not zero"
cmp -i 14096:14096 c c.orig || fail "bytes after the range changed"

# --dest-offset means the same as --offset here.
cp c.orig c2
expect 0 zero --dest-offset 4K --length 10000 c2
same c c2

# Past the end: extended, old bytes below the offset kept.
random d $((1536 * 1024))
cp d d.orig
expect 0 zero --offset 1M --length 2M d
[ "$(stat -c %s d)" -eq $((3 * 1024 * 1024)) ] || fail "d not extended"
cmp -n 1048576 d d.orig || fail "d: bytes before the range changed"
cmp -i 1048576:0 -n $((2 * 1024 * 1024)) d /dev/zero || fail "d: range not zero"

# --json.
random e 8192
expect 0 zero --json --no-flush e
json_is 'j["command"]' zero
json_is 'j["destinations"][0]["status"]' ok
json_is 'j["destinations"][0]["bytes"]' 8192
json_is 'j["exit_code"]' 0
cmp -n 8192 e /dev/zero || fail "e not zero"

# Zero a file that does not exist: refused, not created.
expect 2 zero nothere
[ ! -e nothere ] || fail "nothere created"
exit 0
