#!/usr/bin/env bash
# Under a pids cgroup with no room for io_uring's kernel workers (pids.max
# 3: the command's own threads), io_uring fails the requests it would hand
# to a worker with ECANCELED.  Before, that was a write error ("Operation
# canceled", exit 1, the destination incomplete); now the library makes
# such a call again itself, on its engine thread, and copies, zeroing and
# --verify are exact, exit 0.  The thread engine, which needs threads of
# its own, is refused at set-up (exit 2, the limit named, nothing created).
# Files on FUSE, which io_uring leaves to threads of the library's own,
# are copied and zeroed exactly too.
. "$(dirname "$0")/faultfs.bash"     # (common.bash too)
need_root
[ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}${KCOPYD_WRAP:-}" ] && skip "a sanitizer's or valgrind's own threads count in the limit"
grep -aq -e __asan_init -e __tsan_init "$KCOPYD" && skip "a sanitizer's own threads count in the limit"
if [ -d /sys/fs/cgroup/pids ] && [ -w /sys/fs/cgroup/pids ]; then
	G=/sys/fs/cgroup/pids/kcopyd-test-$$
elif grep -qw pids /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	G=/sys/fs/cgroup/kcopyd-test-$$
else
	skip "no pids cgroup controller to use here"
fi
mkdir "$G" || skip "cannot make a pids cgroup"
trap 'rmdir "$G" 2>/dev/null; _ff_cleanup; _cleanup' EXIT
echo 3 > "$G/pids.max" || skip "cannot set pids.max"
in_cg() { sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$G" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
random src $((20 * 1024 * 1024 + 1000))
random old $((20 * 1024 * 1024 + 1000))

KCOPYD_ENGINE=io_uring "$KCOPYD" copy -q src probe >/dev/null 2>&1 || skip "no io_uring engine here"
rm -f probe

for args in "copy src new" "copy --buffered src new2" "copy --verify src ex"; do
	cp old ex
	KCOPYD_ENGINE=io_uring in_cg "$KCOPYD" $args
	[ "$rc" -eq 0 ] || fail "pids.max 3, io_uring: $args: exit $rc: $(cat "$T/err")"
done
same src new
same src new2
same src ex
KCOPYD_ENGINE=io_uring in_cg "$KCOPYD" zero ex
[ "$rc" -eq 0 ] || fail "pids.max 3, io_uring: zero: exit $rc: $(cat "$T/err")"
cmp -n $((20 * 1024 * 1024 + 1000)) ex /dev/zero || fail "pids.max 3: not zeroed"

# Files on FUSE go to threads of the library's own even on io_uring
# (kcopyd(3)); where none can start, the calls are made on the engine
# thread (they were a read error at byte 0, EAGAIN: sweep 19a F5).
if (need_faultfs) >/dev/null 2>&1; then
	ff_mount m
	cp src m/src
	cp old m/ex
	KCOPYD_ENGINE=io_uring in_cg "$KCOPYD" copy m/src m/new m/ex
	[ "$rc" -eq 0 ] || fail "pids.max 3, io_uring, FUSE: copy: exit $rc: $(cat "$T/err")"
	same src m.back/new
	same src m.back/ex
	KCOPYD_ENGINE=io_uring in_cg "$KCOPYD" zero m/ex
	[ "$rc" -eq 0 ] || fail "pids.max 3, io_uring, FUSE: zero: exit $rc: $(cat "$T/err")"
	cmp -n $((20 * 1024 * 1024 + 1000)) m.back/ex /dev/zero || fail "pids.max 3, FUSE: not zeroed"
fi

KCOPYD_ENGINE=threads in_cg "$KCOPYD" copy src new3
[ "$rc" -eq 2 ] || fail "pids.max 3, threads: exit $rc, expected 2: $(cat "$T/err")"
err_has "ulimit -u"
[ ! -e new3 ] || fail "the refused run created its destination"
exit 0
