#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
# installs what is missing, builds, and runs every test with both I/O engines,
# then the library and command tests again under ASan+UBSan and TSan.
# Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

tally=$(mktemp); export KCOPYD_TEST_TALLY=$tally
# Three tests at a time: most of their time is waiting (see
# tests/run-tests.sh; a whole run keeps the 2 CPUs of CI's machine 40 %
# busy), and the whole run stays within CI's 20 minutes.
export KCOPYD_TEST_JOBS=${KCOPYD_TEST_JOBS:-3}
trap 'rm -f "$tally"' EXIT
build() { # dir, extra meson options...
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -n 50 "$dir.ninja.log"; return 1; }
}
step() { # label, command...
	local label=$1 t0=$SECONDS; shift
	echo "== $label"
	"$@" || true
	echo "== $label: $((SECONDS - t0)) s"
}
buildfail() { echo "== build $1 failed"; echo "0 1 0" >>"$tally"; }

if build build; then
	step "io_uring engine" tests/run-tests.sh build all uring
	KCOPYD_ENGINE=threads step "thread engine" tests/run-tests.sh build lib threads
	# Every library test again with clients driven by a loop of the test's
	# (KCOPYD_CLIENT_NO_THREAD), on both engines; the random fault runs
	# at a third of their length (they ran whole above).
	KCOPYD_TEST_MODE=loop KCOPYD_TEST_SCALE=0.3 \
		step "event-loop mode, io_uring" tests/run-tests.sh build lib loop-uring
	KCOPYD_TEST_MODE=loop KCOPYD_TEST_SCALE=0.3 KCOPYD_ENGINE=threads \
		step "event-loop mode, threads" tests/run-tests.sh build lib loop-threads
	# The command's tests with kcopyd under valgrind (memcheck, full leak
	# check): a representative set, as all of them would take half an hour.
	KCOPYD_WRAP=$PWD/tests/valgrind-kcopyd.sh KCOPYD_TEST_TIMEOUT=300 \
	KCOPYD_TEST_ONLY="copy-basic copy-existing copy-json copy-ranges verify zero info refuse-types refuse-same log-mirror" \
		step "valgrind, command tests" tests/run-tests.sh build cli valgrind
else buildfail build; fi

if [ "${KCOPYD_QUICK:-0}" != 1 ]; then
	if CC=clang build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true; then
		# Not the two long tests of stop timings (a minute between them:
		# waits on grace periods, whose code the other signal tests run).
		# The random fault runs at half their length (they ran whole
		# on both engines above), to keep CI within its 20 minutes.
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			KCOPYD_TEST_SKIP="ff-stop-stuck stop-output-full" KCOPYD_TEST_SCALE=0.5 \
			KCOPYD_FUZZ_SECONDS=10 step "ASan+UBSan" tests/run-tests.sh build-asan all asan
	else buildfail build-asan; fi
	if CC=clang build build-tsan -Db_sanitize=thread -Db_lundef=false; then
		# The faultfs scenarios (tests/cli/ff-*) test the command against
		# real faults, each on both engines; they run in the plain and the
		# ASan builds.  Under TSan they would double its time; the engine's
		# threads are exercised there by the library tests and the rest of
		# the command's tests.  Nor do the tests of set-up checks and
		# refusals, or of what the run notices changing under it, run under
		# TSan: they end before any engine thread starts
		# or run one plain copy, nor those of the JSON document's shape
		# and of a log's size (ASan and the plain build run them all).
		TSAN_OPTIONS=halt_on_error=1 KCOPYD_TEST_SKIP="ff-* hostile-inputs help-version man \
			options-interval refuse-* same-storage-* lock-storage log-refuse log-refuse-* \
			log-refused-untouched stop-output-full log-dir-swapped verify-stale-source \
			log-own-files log-stale log-unkeepable log-nospace limits-position empty-range \
			engine-env quiet-progress space-holes dest-replaced source-changed \
			source-changed-loop loop-partial-block loop-page-stacked unlinked-fd log-loop-changed \
			json-one-document log-huge-range" \
			step "TSan" tests/run-tests.sh build-tsan all tsan
		TSAN_OPTIONS=halt_on_error=1 KCOPYD_ENGINE=threads KCOPYD_TEST_SCALE=0.5 \
			step "TSan, thread engine" tests/run-tests.sh build-tsan lib tsan-threads
	else buildfail build-tsan; fi
fi

read -r p f s < <(awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}' "$tally")
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
