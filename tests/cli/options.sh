#!/usr/bin/env bash
# Tuning options change how, never what: --pages 1, --sub-job-size,
# --queue-depth, --direct, --buffered, --no-flush, --fail-fast all give a
# byte-identical copy; --rate really slows the copy down.
. "$(dirname "$0")/common.bash"

sparse src
n=0
for opts in "--pages 1" "--pages 3 --sub-job-size 8K" "--sub-job-size 1M --pages 256" \
	    "--queue-depth 1" "--queue-depth 4096" "--buffered" "--no-flush" "--fail-fast" \
	    "--no-sparse --pages 16" "--flush --sparse"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	expect 0 copy $opts src "o$n"
	cmp src "o$n" || fail "copy with $opts differs"
done

# --direct where the file system takes O_DIRECT; refused (exit 2) where not.
expect_direct=0
"$PY" -c 'import os, sys
os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))' src 2>/dev/null || expect_direct=2
expect "$expect_direct" copy --direct src od
[ "$expect_direct" -ne 0 ] || same src od

# 3 MiB at 4 MiB/s cannot take less than about half a second.
random r $((3 * 1024 * 1024))
start=$(date +%s%N)
expect 0 copy --rate 4M r rr
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -ge 400 ] || fail "--rate 4M copied 3 MiB in ${elapsed} ms"
same r rr
exit 0
