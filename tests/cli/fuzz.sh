#!/usr/bin/env bash
# Run every libFuzzer target of this build (fuzz/fuzz-*, built with
# -Dfuzz=true, as the ASan build of scripts/test.sh is) for a bounded time
# from its seed corpus.  A crash, leak or failed property fails the test.
set -u
secs=${KCOPYD_FUZZ_SECONDS:-25}
targets=("$KCOPYD_BUILD"/fuzz/fuzz-*)
[ -f "${targets[0]}" ] || { echo "SKIP: no fuzz targets in this build (meson -Dfuzz=true, clang)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rc=0
for t in "${targets[@]}"; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=${t##*/fuzz-}
	mkdir -p "$work/$name"
	cp "$KCOPYD_SRC/fuzz/corpus/$name"/* "$work/$name/" 2>/dev/null
	log="$work/$name.log"
	if ! "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/" "$work/$name" >"$log" 2>&1; then
		echo "fuzz-$name FAILED:"; tail -n 40 "$log"; rc=1
		continue
	fi
	runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n1)
	echo "fuzz-$name: ${runs:-no run count} in ${secs}s, no finding"
done
exit $rc
