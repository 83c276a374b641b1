#!/usr/bin/env bash
# A name that stops reaching what the run has open is a change, as tar
# reports a file changed as it was read: a destination renamed over by
# another file or removed during copy, copy --verify or zero, a source
# replaced, a destination replaced during verify.  The run fails (exit 1)
# saying what became of the name, never "ok": the name the user will use
# does not hold the copy.
. "$(dirname "$0")/common.bash"
mib=$((1024 * 1024))
random src $((32 * mib))

DURING_AFTER=0.3
failed() { # what: the run failed and said the name moved
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "$1: exit $rc, expected 1"; }
	grep -q ": ok" "$T/out" && fail "$1: said ok: $(cat "$T/out")"
	true
}

rm -f d
during 'head -c 1M /dev/zero >d.new; mv d.new d' copy --rate 32M src d
failed "copy, destination renamed over"
err_has "d: changed during the copy by someone else: its name now gives another file"

rm -f d
during 'head -c 1M /dev/zero >d.new; mv d.new d' copy --verify --json --rate 32M src d
failed "copy --verify, destination renamed over"
json_is 'j["destinations"][0]["status"]' failed
json_is '"another file" in j["destinations"][0]["changed"]' True

rm -f d
during 'rm d' copy --rate 32M src d
failed "copy, destination removed"
err_has "d: changed during the copy by someone else: it was removed"
[ ! -e d ] || fail "d exists again"

# A hard link kept: the name removed still leaves the data reachable, but
# not by the name given.
rm -f d keep
during 'ln d keep; rm d' copy --rate 32M src d
failed "copy, name removed, data kept by another link"
err_has "its name was removed or renamed"

rm -f d d.moved
during 'mv d d.moved' copy --rate 32M src d
failed "copy, destination renamed away"
err_has "d: changed during the copy by someone else: its name was removed or renamed"
same src keep

cp src z
during 'cp src z.new; mv z.new z' zero --rate 32M z
failed "zero, destination renamed over"
err_has "z: changed during the zeroing by someone else: its name now gives another file"

# The source renamed over: what was copied is the old file, the name now
# gives another.
cp src s2; rm -f d
during 'head -c 1M /dev/zero >s2.new; mv s2.new s2' copy --rate 32M s2 d
[ "$rc" -eq 1 ] || fail "copy, source renamed over: exit $rc"
grep -q "s2: CHANGED during the run: its name now gives another file" "$T/out" ||
	fail "copy, source renamed over: $(cat "$T/out")"
same src d          # what it copied is what it had open
err_has "s2: changed during the copy: its name now gives another file"

# Nothing moved: ok, as before.
rm -f d
expect 0 copy --rate 64M src d
same src d
exit 0
