#!/usr/bin/env bash
# -q/--quiet and --progress/--no-progress: the later option decides
# whether the progress line is drawn.  --quiet --progress: the line, and
# still no summary; --progress --quiet: neither.
. "$(dirname "$0")/common.bash"

random src $((2 * 1024 * 1024))
expect 0 copy --quiet --progress src a
grep -q "100%" "$T/err" || fail "--quiet --progress: no progress line: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "--quiet --progress: a summary: $(cat "$T/out")"
expect 0 copy --progress --quiet src b
[ ! -s "$T/err" ] || fail "--progress --quiet: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "--progress --quiet: a summary: $(cat "$T/out")"
expect 0 zero --progress -q a
[ ! -s "$T/err" ] || fail "zero --progress -q: $(cat "$T/err")"
expect 0 verify --progress --quiet src b
[ ! -s "$T/err" ] || fail "verify --progress --quiet: $(cat "$T/err")"
expect 0 copy -q --no-progress --progress src c
grep -q "100%" "$T/err" || fail "-q --no-progress --progress: no progress line"
same src c
exit 0
