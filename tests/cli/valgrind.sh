#!/usr/bin/env bash
# The command under valgrind (memcheck, --leak-check=full): a copy of a
# sparse file to two destinations, copy --verify --json, zero, verify (same
# and differing), info, and two refusals.  Any memory error, or a definite
# or indirect leak, makes valgrind exit 99: a failure.  Every run has a
# timeout.  The thread engine is used (KCOPYD_ENGINE=threads): valgrind 3.19
# serialises threads and io_uring_enter blocks holding its lock; one run
# leaves the choice to the library, which must pick threads by itself.
# Skipped (77) without valgrind, and for a sanitizer build, which valgrind
# cannot run.
. "$(dirname "$0")/common.bash"
need_cmd valgrind
[ -n "${KCOPYD_WRAP:-}" ] && skip "the command already runs through $KCOPYD_WRAP"

# ASan, TSan or MSan runtimes (clang links them statically, gcc dynamically).
for f in "$KCOPYD" "${KCOPYD_BUILD:-/nonexistent}"/lib/libkcopyd.so; do
	[ -f "$f" ] || continue
	if grep -qaE '__(asan|tsan|msan)_init' "$f" ||
	   { command -v ldd >/dev/null && ldd "$f" 2>/dev/null | grep -qE 'lib(asan|tsan|msan)|clang_rt\.(asan|tsan|msan)'; }; then
		skip "$(basename "$f") is built with a sanitizer; valgrind cannot run it"
	fi
done
case ${KCOPYD_BUILD:-} in
*asan*|*tsan*|*msan*) skip "KCOPYD_BUILD=$KCOPYD_BUILD is a sanitizer build" ;;
esac

export KCOPYD_ENGINE=threads
runs=0

# vg EXPECTED_EXIT LABEL ARGS...: kcopyd ARGS under valgrind.
vg() {
	local want=$1 label=$2
	shift 2
	runs=$((runs + 1))
	timeout -s KILL 120 valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 --quiet --log-file="$T/vg.log" \
		"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "--- valgrind"; cat "$T/vg.log"; echo "--- stdout"; cat "$T/out"
		echo "--- stderr"; cat "$T/err"
		case $rc in
		99) fail "$label: valgrind found errors (kcopyd $*)" ;;
		137) fail "$label: killed after 120 s under valgrind (kcopyd $*)" ;;
		*) fail "$label: exit $rc, expected $want (kcopyd $*)" ;;
		esac
	fi
	# Anything valgrind said (with --quiet: only errors and leaks) is a finding.
	if grep -qE 'definitely lost|indirectly lost|Invalid (read|write|free)|uninitialised|Mismatched|overlap' "$T/vg.log"; then
		cat "$T/vg.log"
		fail "$label: valgrind reported a problem (kcopyd $*)"
	fi
	echo "ok: $label (exit $rc)"
}

sparse src
random old 3000000

vg 0 "copy to 2 destinations" copy --no-progress src new old
same src new
same src old

vg 0 "copy --verify --json" copy --verify --json --pages 16 --sub-job-size 64K src v1
same src v1
json_is 'j["engine"]' threads
json_is 'j["destinations"][0]["status"]' ok
json_is 'j["destinations"][0]["verified"]' True
json_is 'j["exit_code"]' 0

# [3 MiB, 4 MiB) of src is random data (see sparse in common.bash).
vg 0 "zero a range" zero --offset 3M --length 1M new
cmp -n $((1024 * 1024)) -i 0:$((3 * 1024 * 1024)) /dev/zero new ||
	fail "zero: the range is not zero"
cmp -n $((3 * 1024 * 1024)) src new || fail "zero: bytes before the range changed"
cmp -i $((4 * 1024 * 1024)) src new || fail "zero: bytes after the range changed"

vg 0 "verify, same" verify src old
vg 1 "verify, differs" verify src new
grep -q '^kcopyd: ' "$T/err" || fail "verify, differs: no message"

vg 0 "info --json" info --json src new
# No engine asked for: the library must see valgrind and take threads by
# itself (io_uring_enter would block valgrind's single running thread).
KCOPYD_ENGINE='' vg 0 "copy, engine chosen by the library" copy --json src auto
json_is 'j["engine"]' threads
same src auto
vg 0 "info" info src

# copy --log, and a resume from its log (where this kcopyd has --log).
if "$KCOPYD" --help 2>/dev/null | grep -q -- '--log FILE'; then
	vg 0 "copy --log" copy --log copy.log src l1 l2
	same src l1
	vg 0 "copy --log, resumed" copy --json --log copy.log src l1 l2
	json_is 'j["resumed"]' True
	same src l2
	vg 2 "copy --log, refused log" copy --log copy.log src l2 l1
fi

before=$(digest old)
vg 2 "refusal: bad size" copy --length 10MB src old
grep -q "^kcopyd: --length" "$T/err" || fail "bad size: no message"
vg 2 "refusal: source as destination" copy src old ./src
grep -q "is the source" "$T/err" || fail "same file: no message"
[ "$(digest old)" = "$before" ] || fail "a refusal changed old"
same src v1

echo "$runs valgrind runs: no memory error, no leak"
exit 0
