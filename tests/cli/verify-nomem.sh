#!/usr/bin/env bash
# Memory that runs out (ulimit -v, every limit from one where kcopyd barely
# starts to one where it has room) never turns into an answer it did not
# compute: verify of a destination that differs never says it matches, and
# copy --verify never says "verified" (exit 0) over a comparison that did
# not run; at some limit the comparison's buffer is refused, and that is
# said, at set-up: exit 2, nothing written.  (Not under the sanitizers or
# valgrind, whose runtimes need far more address space than any of these
# limits.)
. "$(dirname "$0")/common.bash"
[ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}${KCOPYD_WRAP:-}" ] && skip "ulimit -v under a sanitizer or valgrind"
random a $((2 * 1024 * 1024)); cp a b
flip b 5000
said=0
for ((v = 3000; v <= 36000; v += 750)); do
	(ulimit -v $v; exec "$KCOPYD" verify a b) >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" -eq 0 ] && { cat "$T/out" "$T/err"; fail "ulimit -v $v: verify said b matches a"; }
	if grep -q "out of memory for the comparison" "$T/err"; then
		said=1
		[ "$rc" -eq 2 ] || fail "ulimit -v $v: verify out of memory: exit $rc, expected 2 (set-up)"
	fi
	grep -q "matches" "$T/out" && fail "ulimit -v $v: 'matches' printed"
	rm -f o
	(ulimit -v $v; exec "$KCOPYD" copy --json --pages 1 --verify a o) >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" -eq 0 ]; then
		json_is "j['destinations'][0]['verified']" True
		same a o
	elif grep -q "out of memory for the comparison" "$T/err"; then
		# Found at set-up: nothing written.
		[ "$rc" -eq 2 ] || fail "ulimit -v $v: copy --verify out of memory: exit $rc, expected 2"
		[ ! -e o ] || fail "ulimit -v $v: o was created before the comparison's memory was had"
	fi
done
[ "$said" -eq 1 ] || skip "no limit made the comparison's buffer fail here"
exit 0
