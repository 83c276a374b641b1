#!/usr/bin/env bash
# Run kcopyd's tests from a build directory.
#   tests/run-tests.sh BUILD_DIR [lib|cli|all] [LABEL]
# Library tests are the executables BUILD_DIR/tests/*/test-*; CLI tests are
# the scripts tests/cli/*.sh.  Each runs under a timeout (KCOPYD_TEST_TIMEOUT,
# default 180 s); exit 0 is a pass, 77 a skip, anything else a failure.
# Prints a line per test and a closing "N passed, N failed, N skipped"; the
# counts are also appended to $KCOPYD_TEST_TALLY when set.
set -u
build=$(cd "${1:?usage: run-tests.sh BUILD_DIR [lib|cli|all] [LABEL]}" && pwd)
which=${2:-all}
label=${3:-}
src=$(cd "$(dirname "$0")/.." && pwd)
timeout_s=${KCOPYD_TEST_TIMEOUT:-180}
# KCOPYD_WRAP: a script to run the command through (tests/valgrind-kcopyd.sh),
# which finds the real binary in KCOPYD_REAL.
export KCOPYD_REAL="$build/cmd/kcopyd"
export KCOPYD="${KCOPYD_WRAP:-$KCOPYD_REAL}" KCOPYD_BUILD="$build" KCOPYD_SRC="$src"
logdir="$build/test-logs${label:+-$label}"
mkdir -p "$logdir"
pass=0 fail=0 skip=0 failed=()

# KCOPYD_TEST_ONLY="name ...": run only these tests.
# KCOPYD_TEST_SKIP="pattern ...": not these (shell patterns, e.g. "ff-*").
wanted() {
	local p
	for p in ${KCOPYD_TEST_SKIP:-}; do
		# shellcheck disable=SC2254
		case $1 in $p) return 1 ;; esac
	done
	[ -z "${KCOPYD_TEST_ONLY:-}" ] && return 0
	case " $KCOPYD_TEST_ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

run_one() {
	local name=$1; shift
	wanted "$name" || return 0
	local start=$SECONDS rc
	timeout -k 10 "$timeout_s" "$@" >"$logdir/$name.log" 2>&1 </dev/null
	rc=$?
	local t=$((SECONDS - start))
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS %-40s %3ds\n' "$label${label:+/}$name" "$t" ;;
	77) skip=$((skip + 1)); printf 'SKIP %-40s %3ds  %s\n' "$label${label:+/}$name" "$t" "$(tail -n1 "$logdir/$name.log")" ;;
	*) fail=$((fail + 1)); failed+=("$name")
	   [ $rc -eq 124 ] && echo "timed out after ${timeout_s}s" >>"$logdir/$name.log"
	   printf 'FAIL %-40s %3ds  (exit %d)\n' "$label${label:+/}$name" "$t" "$rc"
	   sed 's/^/    | /' "$logdir/$name.log" | tail -n 30 ;;
	esac
}

if [ "$which" = lib ] || [ "$which" = all ]; then
	for t in "$build"/tests/*/test-*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		run_one "$(basename "$t")" "$t"
	done
fi
if [ "$which" = cli ] || [ "$which" = all ]; then
	for t in "$src"/tests/cli/*.sh; do
		[ -f "$t" ] || continue
		run_one "$(basename "$t" .sh)" bash "$t"
	done
fi
[ -n "${KCOPYD_TEST_TALLY:-}" ] && echo "$pass $fail $skip" >>"$KCOPYD_TEST_TALLY"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
