#!/usr/bin/env bash
# Run kcopyd's tests from a build directory.
#   tests/run-tests.sh BUILD_DIR [lib|cli|all] [LABEL]
# Library tests are the executables BUILD_DIR/tests/*/test-*; CLI tests are
# the scripts tests/cli/*.sh.  Each runs under a timeout (KCOPYD_TEST_TIMEOUT,
# default 180 s); exit 0 is a pass, 77 a skip, anything else a failure.
# Prints a line per test and a closing "N passed, N failed, N skipped"; the
# counts are also appended to $KCOPYD_TEST_TALLY when set.
# KCOPYD_TEST_JOBS=N: the tests run N at a time (most of the command's time
# is waiting: on signals, grace periods, slow fault-injected I/O), but those
# in KCOPYD_TEST_ALONE, which change what every run on the machine sees (swap
# in use) or measure time closely, run alone after the others.
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

# One test, its result line (and a failed one's log tail) printed at once,
# its outcome (pass, fail, skip) written to $logdir/NAME.outcome.
run_one() {
	local name=$1; shift
	local t0=$SECONDS rc out
	timeout -k 10 "$timeout_s" "$@" >"$logdir/$name.log" 2>&1 </dev/null
	rc=$?
	local t=$((SECONDS - t0))
	case $rc in
	0) out=pass; printf 'PASS %-40s %3ds\n' "$label${label:+/}$name" "$t" ;;
	77) out=skip; printf 'SKIP %-40s %3ds  %s\n' "$label${label:+/}$name" "$t" "$(tail -n1 "$logdir/$name.log")" ;;
	*) out=fail
	   [ $rc -eq 124 ] && echo "timed out after ${timeout_s}s" >>"$logdir/$name.log"
	   { printf 'FAIL %-40s %3ds  (exit %d)\n' "$label${label:+/}$name" "$t" "$rc"
	     sed 's/^/    | /' "$logdir/$name.log" | tail -n 30; } >"$logdir/$name.fail"
	   cat "$logdir/$name.fail" ;;
	esac
	echo "$out" >"$logdir/$name.outcome"
}

jobs_n=${KCOPYD_TEST_JOBS:-1}
alone=" ${KCOPYD_TEST_ALONE:-refuse-swap refuse-swap-loop refuse-swap-unseen refuse-swap-page refuse-swap-fs same-storage-ovl-relative ff-stop-stuck stop-output-full loop-page-stacked test-throttle test-throttle-time} "
names=()
# start NAME COMMAND...: run it now (solo=1, or one at a time), else in
# the background, at most jobs_n at once.
solo=0
start() {
	wanted "$1" || return 0
	rm -f "$logdir/$1.outcome" "$logdir/$1.fail"
	names+=("$1")
	if [ "$jobs_n" -le 1 ] || [ "$solo" = 1 ]; then
		wait
		run_one "$@"
		return
	fi
	while [ "$(jobs -pr | wc -l)" -ge "$jobs_n" ]; do wait -n; done
	run_one "$@" &
}

later=()      # the alone ones: NAME, then its program or script
if [ "$which" = lib ] || [ "$which" = all ]; then
	for t in "$build"/tests/*/test-*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		n=$(basename "$t")
		case $alone in *" $n "*) later+=("$n" "$t"); continue ;; esac
		start "$n" "$t"
	done
fi
if [ "$which" = cli ] || [ "$which" = all ]; then
	for t in "$src"/tests/cli/*.sh; do
		[ -f "$t" ] || continue
		n=$(basename "$t" .sh)
		case $alone in *" $n "*) later+=("$n" "$t"); continue ;; esac
		start "$n" bash "$t"
	done
fi
for ((i = 0; i < ${#later[@]}; i += 2)); do
	case ${later[i + 1]} in
	*.sh) solo=1 start "${later[i]}" bash "${later[i + 1]}" ;;
	*) solo=1 start "${later[i]}" "${later[i + 1]}" ;;
	esac
done
wait
for n in "${names[@]}"; do
	case $(cat "$logdir/$n.outcome" 2>/dev/null) in
	pass) pass=$((pass + 1)) ;;
	skip) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)); failed+=("$n") ;;
	esac
done
[ -n "${KCOPYD_TEST_TALLY:-}" ] && echo "$pass $fail $skip" >>"$KCOPYD_TEST_TALLY"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
