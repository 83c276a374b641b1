#!/usr/bin/env bash
# In a memory cgroup whose limit is below the buffer pool (--pages), the
# command refuses at set-up, exit 2, naming the limit and the file it read,
# nothing created (the pool is reserved up front: the kernel's OOM killer
# ended it, "Killed", exit 137).  With the default pool the copy in that
# cgroup is exact.
. "$(dirname "$0")/common.bash"
need_root
# A sanitizer's or valgrind's own memory would count against the limit.
[ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}${KCOPYD_WRAP:-}" ] && skip "a memory limit under a sanitizer or valgrind"
grep -aq -e __asan_init -e __tsan_init "$KCOPYD" && skip "a memory limit under a sanitizer"
if [ -w /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/memory ]; then
	G=/sys/fs/cgroup/memory/kcopyd-test-$$
	mkdir "$G" || skip "cannot make a memory cgroup"
	echo $((40 * 1024 * 1024)) > "$G/memory.limit_in_bytes" || skip "cannot set its limit"
	file=memory.limit_in_bytes
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	G=/sys/fs/cgroup/kcopyd-test-$$
	mkdir "$G" || skip "cannot make a cgroup"
	echo $((40 * 1024 * 1024)) > "$G/memory.max" || skip "cannot set its limit"
	file=memory.max
else
	skip "no memory cgroup controller to use here"
fi
trap 'rmdir "$G" 2>/dev/null; _cleanup' EXIT
random src $((8 * 1024 * 1024))
in_cg() { sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$G" "$@"; }

in_cg "$KCOPYD" copy --pages 16384 src new >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "--pages 16384 in a 40 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
err_has "its 16384 pages of buffers (64 MiB), and 16 MiB for the rest, do not fit in the memory limit of its cgroup, 40 MiB ($G/$file)"
[ ! -e new ] || fail "the refused run created its destination"

in_cg "$KCOPYD" copy --no-progress src d1 d2 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] || fail "the default pool in a 40 MiB cgroup: exit $rc: $(cat "$T/err")"
same src d1
same src d2
exit 0
