#!/usr/bin/env bash
# copy --log never trusts a log that is not this copy's: a log of another
# source, range or set of destinations, a damaged or cut short log, or one
# that cannot be written is refused with exit 2, a message naming the log
# and the reason, and every destination (and the log) left as it was.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((6 * mib + 1000))
random other $((6 * mib + 1000))

# A log half done: the first run copies, then the destinations are
# rewritten so that a copy that wrongly trusted a log would show.
expect 0 copy --log good.log src a b
cp good.log saved.log
random a $((6 * mib + 1000))
random b $((6 * mib + 1000))
cp a a.orig
cp b b.orig
unchanged() {
	same a.orig a
	same b.orig b
	[ ! -e c ] || fail "c was created"
	same saved.log good.log
}
# refused LOG REASON ARGS...: exit 2, the message names LOG and REASON.
refused() {
	local log=$1 why=$2; shift 2
	expect 2 copy --log "$log" "$@"
	err_has "--log $log"
	err_has "$why"
	unchanged
}

# Another copy.
refused good.log "another copy" other a b                    # another source
cp src src2
refused good.log "another copy" src2 a b                     # same bytes, another path
refused good.log "another copy" --offset 512 src a b          # another range
refused good.log "another copy" --length 4M src a b
refused good.log "another copy" --dest-offset 1M src a b
refused good.log "another copy" src b a                      # another order
refused good.log "another copy" src a                        # fewer destinations
refused good.log "another copy" src a b c                    # more
truncate -s $((6 * mib)) src2                                # the source changed size
cp good.log g2.log && sed -i "s|$T/src |$T/src2 |" g2.log && sed -i '/^checksum/d' g2.log
cp g2.log g2.saved
expect 2 copy --log g2.log src2 a b
err_has "another copy"
unchanged
same g2.saved g2.log
# The same log spelled differently is the same copy (real paths); a and b
# were rewritten after the log was, so both are copied again (log-stale.sh
# tests that in detail).
mkdir sub
cp good.log sub.log
expect 0 copy --json --log sub.log ./sub/../src "$T/a" ./b
json_is 'j["resumed"]' True
json_is 'j["bytes_written"]' $((2 * (6 * mib + 1000)))
err_has "changed since the log was written"
same src a
same src b
cp a.orig a; cp b.orig b

# Damaged logs.
damaged() {
	cp "$1" bad.log
	cp bad.log bad.saved
	expect 2 copy --log bad.log src a b
	err_has "--log bad.log"
	err_has "damaged"
	unchanged
	same bad.saved bad.log
}
size=$(stat -c %s good.log)
for trial in 1 2 3 4; do                   # a flipped byte somewhere
	cp good.log flip.log
	at=$((RANDOM % size))
	old=$(od -An -tu1 -j "$at" -N1 flip.log | tr -d ' ')
	printf "$(printf '\\%03o' $(((old ^ (1 << (RANDOM % 7))) & 255)))" |
		dd of=flip.log bs=1 seek="$at" conv=notrunc status=none
	cmp -s flip.log good.log && continue
	cp flip.log bad.log
	k copy --log bad.log src a b
	if [ "$rc" -eq 0 ] && cmp -s <(tr A-Z a-z <flip.log) <(tr A-Z a-z <good.log); then
		same src a                  # 0xA for 0xa in the checksum: the same log,
		same src b                  # whose destinations changed since
		cp a.orig a; cp b.orig b
		continue
	fi
	[ "$rc" -eq 2 ] || { cat "$T/err"; fail "byte $at flipped: exit $rc"; }
	err_has "--log bad.log"
	grep -qE "damaged|another copy" "$T/err" || fail "byte $at flipped: $(cat "$T/err")"
	unchanged
done
for cut in 20 $((size / 2)) $((size - 1)); do   # cut short
	head -c "$cut" good.log >cut.log
	damaged cut.log
done
printf 'not a log\n' >junk.log && damaged junk.log
head -c 3000 /dev/urandom >junk.log && damaged junk.log
sed 's/^map 0 0x0 .*/map 0 0x0 0x100000 +/' good.log | sed '/^checksum/d' >gap.log && damaged gap.log

# A log that cannot be written: nothing is created, nothing written.
expect 2 copy --log missing/dir/x.log src a b c
err_has "missing/dir/x.log"
unchanged
[ ! -e missing ] || fail "the missing directory was created"
# A log that is a directory, or the source or a destination itself.
mkdir logdir
expect 2 copy --log logdir src a b
unchanged
expect 2 copy --log a src a b
err_has "cannot be the source or a destination"
unchanged
expect 2 copy --log c src a b c
unchanged
# Another set-up error leaves no log behind.
expect 2 copy --log new.log missing-source a b
[ ! -e new.log ] || fail "a refused command left a log"
expect 2 copy --log new.log --length 100M src a b
[ ! -e new.log ] || fail "a refused command left a log"
expect 2 copy --log-interval 0 --log new.log src a b
expect 2 zero --log new.log a
[ ! -e new.log ] || fail "a refused command left a log"
unchanged
exit 0
