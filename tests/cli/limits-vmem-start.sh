#!/usr/bin/env bash
# Address space that runs out as kcopyd starts (ulimit -v, every limit from
# one where the loader cannot map it to one where it runs): never a death
# by signal (glibc used to abort, "libgcc_s.so.1 must be installed for
# pthread_cancel to work", when the signal thread's set-up loaded it late):
# the loader's refusal (127), a set-up error (2), or the answer.
. "$(dirname "$0")/common.bash"
[ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}${KCOPYD_WRAP:-}" ] && skip "ulimit -v under a sanitizer or valgrind"
random src 4096
# Below the least limit where "kcopyd -V" runs, the dynamic loader itself
# fails (127, or a SIGSEGV inside ld.so before any of our code): the sweep
# starts there, where the loader has room.
lo=
for ((v = 1500; v <= 8000; v += 10)); do
	(ulimit -v $v; exec "$KCOPYD" -V) >/dev/null 2>&1 && { lo=$v; break; }
done
[ -n "$lo" ] || skip "kcopyd -V does not run under any ulimit -v up to 8000 KiB"
ran=0
for ((v = lo; v <= lo + 3000; v += 5)); do
	(ulimit -v $v; exec "$KCOPYD" info src) >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" -ge 128 ] && { cat "$T/err"; fail "ulimit -v $v: kcopyd info died (exit $rc)"; }
	[ "$rc" -eq 0 ] && ran=1
	(ulimit -v $v; exec "$KCOPYD" copy -q src dst) >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" -ge 128 ] && { cat "$T/err"; fail "ulimit -v $v: kcopyd copy died (exit $rc)"; }
	rm -f dst
done
[ "$ran" -eq 1 ] || skip "no limit from $lo KiB up let kcopyd info run here"
exit 0
