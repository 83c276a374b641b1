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
# cg LIMIT: a new memory cgroup of that limit, as G (its limit file: file).
groups=()
cg() {
	if [ -w /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/memory ]; then
		G=/sys/fs/cgroup/memory/kcopyd-test-$$-$1
		file=memory.limit_in_bytes
	elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		G=/sys/fs/cgroup/kcopyd-test-$$-$1
		file=memory.max
	else
		skip "no memory cgroup controller to use here"
	fi
	mkdir "$G" || skip "cannot make a memory cgroup"
	groups+=("$G")
	echo "$1" > "$G/$file" || skip "cannot set its limit"
}
trap 'for g in "${groups[@]}"; do rmdir "$g" 2>/dev/null; done; _cleanup' EXIT
cg $((40 * 1024 * 1024))
random src $((8 * 1024 * 1024))
in_cg() { sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$G" "$@"; }

in_cg "$KCOPYD" copy --pages 16384 src new >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "--pages 16384 in a 40 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
err_has "its 16384 pages of buffers (65536 KiB), and 6656 KiB for the rest (with --queue-depth 64), do not fit in the memory limit of its cgroup, 40960 KiB ($G/$file); --pages 8576 at most?"
[ ! -e new ] || fail "the refused run created its destination"

in_cg "$KCOPYD" copy --no-progress src d1 d2 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] || fail "the default pool in a 40 MiB cgroup: exit $rc: $(cat "$T/err")"
same src d1
same src d2

# A small limit (12 MiB): the default pool (8 MiB) and the rest do not
# fit; the largest pool the message offers does, and copies exactly.
cg $((12 * 1024 * 1024))
in_cg "$KCOPYD" copy --no-progress src new >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "the default pool in a 12 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
err_has "its 2048 pages of buffers (8192 KiB), and 6656 KiB for the rest (with --queue-depth 64), do not fit in the memory limit of its cgroup, 12288 KiB ($G/$file); --pages 1408 at most?"
[ ! -e new ] || fail "the refused run created its destination"
in_cg "$KCOPYD" copy --no-progress --pages 1408 src d3 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] || fail "--pages 1408 in a 12 MiB cgroup: exit $rc: $(cat "$T/err")"
same src d3
# Each I/O in flight needs memory too: a deep queue is counted (it was
# not: the advised --pages with --queue-depth 1024 was killed by the
# kernel's OOM killer, exit 137).
in_cg "$KCOPYD" copy --no-progress --pages 1408 --queue-depth 1024 src new >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "--queue-depth 1024 in a 12 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
err_has "and 14336 KiB for the rest (with --queue-depth 1024), do not fit in the memory limit of its cgroup, 12288 KiB ($G/$file); a limit above 19968 KiB (above 14340 KiB with fewer --pages), or a smaller --queue-depth?"
[ ! -e new ] || fail "the refused run created its destination"
# In a cgroup namespace of its own (unshare -C, the hierarchy not mounted
# again): /proc/self/cgroup says "/", and the limit is still found (it read
# the host's root, no limit, and the kernel's OOM killer ended it, 137).
if unshare -C true 2>/dev/null; then
	in_cg unshare -C "$KCOPYD" copy --no-progress src new >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 2 ] || fail "in a cgroup namespace: exit $rc, not 2: $(cat "$T/err")"
	err_has "do not fit in the memory limit of its cgroup, 12288 KiB ($G/$file); --pages 1408 at most?"
	[ ! -e new ] || fail "the refused run created its destination"
fi
# In 64 MiB with --queue-depth 4096, the --pages the refusal offers runs.
cg $((64 * 1024 * 1024))
random big $((64 * 1024 * 1024))
in_cg "$KCOPYD" copy --no-progress --pages 20000 --queue-depth 4096 src new >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "--pages 20000 in a 64 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
pages=$(sed -n 's/.*; --pages \([0-9]*\) at most?$/\1/p' "$T/err")
[ -n "$pages" ] || fail "no --pages offered: $(cat "$T/err")"
for engine in io_uring threads; do
	rm -f d4
	KCOPYD_ENGINE=$engine in_cg "$KCOPYD" copy --no-progress --pages "$pages" --queue-depth 4096 big d4 >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] || fail "$engine: the offered --pages $pages with --queue-depth 4096 in 64 MiB: exit $rc: $(cat "$T/err")"
	same big d4
done
# The comparison's buffers (8 MiB) count too, with --verify and in verify
# (they did not: in 8 to 13 MiB, verify and the read-back of copy --verify
# were killed by the kernel's OOM killer, exit 137, the copy written).
cg $((13 * 1024 * 1024))
random big50 $((50 * 1024 * 1024))
cp big50 big50.copy
for engine in io_uring threads; do
	KCOPYD_ENGINE=$engine in_cg "$KCOPYD" verify big50 big50.copy >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 2 ] || fail "$engine: verify in a 13 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
	err_has "kcopyd: cannot compare: the comparison's buffers (8192 KiB), and 6144 KiB for the rest, do not fit in the memory limit of its cgroup, 13312 KiB ($G/$file); a limit above 14336 KiB?"
	KCOPYD_ENGINE=$engine in_cg "$KCOPYD" copy --no-progress --pages 512 --verify big50 new >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 2 ] || fail "$engine: copy --verify in a 13 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
	err_has "its 512 pages of buffers (2048 KiB), the comparison's buffers (8192 KiB), and 6656 KiB for the rest (with --queue-depth 64), do not fit in the memory limit of its cgroup, 13312 KiB ($G/$file); a limit above 16896 KiB (above 14852 KiB with fewer --pages)?"
	[ ! -e new ] || fail "the refused run created its destination"
done
# Where they fit, both run, and the copy is verified.
cg $((16 * 1024 * 1024))
for engine in io_uring threads; do
	rm -f d5
	KCOPYD_ENGINE=$engine in_cg "$KCOPYD" copy --no-progress --pages 256 --verify big50 d5 >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] || fail "$engine: copy --verify --pages 256 in a 16 MiB cgroup: exit $rc: $(cat "$T/err")"
	grep -q "d5: ok, verified" "$T/out" || fail "$engine: d5 not verified: $(cat "$T/out")"
	same big50 d5
	KCOPYD_ENGINE=$engine in_cg "$KCOPYD" verify big50 d5 >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] || fail "$engine: verify in a 16 MiB cgroup: exit $rc: $(cat "$T/err")"
done
rm -f big50 big50.copy d5
# Below what the command needs beside any pool: no --pages to offer.
cg $((5 * 1024 * 1024))
in_cg "$KCOPYD" copy --no-progress --pages 1 src new >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "a 5 MiB cgroup: exit $rc, not 2: $(cat "$T/err")"
err_has "its 1 page of buffers (4 KiB), and 6656 KiB for the rest (with --queue-depth 64), do not fit in the memory limit of its cgroup, 5120 KiB ($G/$file); a limit above 6660 KiB?"
[ ! -e new ] || fail "the refused run created its destination"
exit 0
