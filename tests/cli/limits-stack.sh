#!/usr/bin/env bash
# ulimit -s: no stack limit a shell user can set kills kcopyd without a
# message.  A hard limit below what kcopyd needs (256 KiB) is refused at
# once (exit 2, the message naming the limit, JSON with --json, nothing
# written; below 64 KiB the message alone, from a static text); a soft limit below it with room under the hard one is raised
# and the run works; at the documented minimum every command works.
. "$(dirname "$0")/common.bash"

[ "$(ulimit -H -s)" = unlimited ] || skip "the hard stack limit is not unlimited here"
mib=$((1024 * 1024))
random a $mib
random b.orig $mib
cp a same
files=(a b same)

# limited HARD SOFT ARGS...: kcopyd ARGS under those limits (KiB, or
# unlimited).  With clean=1, in an empty environment (exec -c).
limited() {
	local hard=$1 soft=$2; shift 2
	( ulimit -S -s "$soft" && ulimit -H -s "$hard" || exit 99
	  if [ "${clean:-0}" = 1 ]; then exec -c "$KCOPYD" "$@"; fi
	  exec "$KCOPYD" "$@" ) >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

msg="kcopyd: the stack limit (ulimit -s) is 64 KiB; kcopyd needs at least 256 KiB"
for args in "copy a new" "copy a b" "copy --verify a b" "verify a same" "zero b" "info a b"; do
	cp b.orig b
	before=$(digest b)
	limited 64 64 $args
	[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -s 64, $args: exit $rc, expected 2"; }
	err_has "$msg"
	[ "$(digest b)" = "$before" ] || fail "ulimit -s 64, $args: b changed"
	[ ! -e new ] || fail "ulimit -s 64, $args: new was created"
done
limited 64 64 verify --json a same
[ "$rc" -eq 2 ] || fail "ulimit -s 64, verify --json: exit $rc"
json_is 'j["error"]' "the stack limit (ulimit -s) is 64 KiB; kcopyd needs at least 256 KiB"
json_is 'j["exit_code"]' 2

# Hard limits so small that formatting a message may not fit (16, 24 KiB:
# it crashed half the time): said with a static text, every time.  Not in
# a sanitizer build, whose runtime needs more before main.  In an empty
# environment: the arguments and the environment are on that stack too,
# below them the kernel leaves up to 8 KiB unused at random, and with a few
# KiB of environment the dynamic loader runs out of stack before main, in
# kcopyd as in /bin/true (kcopyd(1), LIMITS).
if ! grep -qaE '__(asan|tsan|msan)_init' "$KCOPYD"; then
	for kib in 16 24; do
		for ((i = 0; i < 10; i++)); do
			clean=1 limited $kib $kib copy a new
			[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -s $kib: exit $rc, expected 2"; }
			err_has "kcopyd: the stack limit (ulimit -s) is $kib KiB; kcopyd needs at least 256 KiB"
			[ ! -e new ] || fail "ulimit -s $kib: new was created"
		done
	done
fi

# works LIMITS...: every command works under limited LIMITS.
works() {
	rm -f new; cp b.orig b
	limited "$@" copy a new
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "ulimit $*: copy to a new file: exit $rc"; }
	same a new
	limited "$@" copy --verify a b
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "ulimit $*: copy to an existing file: exit $rc"; }
	same a b
	limited "$@" verify a same b
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "ulimit $*: verify: exit $rc"; }
	limited "$@" zero b
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "ulimit $*: zero: exit $rc"; }
	cmp -n $mib b /dev/zero || fail "ulimit $*: not zeroed"
	limited "$@" info a b
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "ulimit $*: info: exit $rc"; }
}
# Soft only, the hard limit unlimited: raised, and it works.  Not below
# 32 KiB: the kernel starts the stack up to 8 KiB below its top at random,
# and the dynamic loader runs before kcopyd can raise anything (at 16 KiB it
# crashed there now and then, in the TSan build and once in this one).
# A sanitizer's runtime needs more than that before main.
works unlimited 64
grep -qaE '__(asan|tsan|msan)_init' "$KCOPYD" || works unlimited 32
# At the documented minimum, soft and hard.
works 256 256
works 1024 1024
exit 0
