#!/usr/bin/env bash
# A copy log that cannot be written mid-run (ENOSPC on LOG.tmp, faultfs)
# stops the run as a stop signal does: the jobs queued in the library are
# cancelled, not run to the end; the exit status is 1; the summary's and the
# JSON's resume point is the one the log on disk holds; and a rerun with the
# log, once it can be written, completes the copy byte for byte.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.bash"
. "$here/faultfs.bash"
need_faultfs
ff_engines
ff_mount m
M=1048576
random src $((8 * M))

# The first offset the log on disk has still to copy for destination 0.
log_resume() {
	local w d off len st
	while read -r w d off len st; do
		[ "$w" = map ] && [ "$d" = 0 ] && [ "$st" = "?" ] && { echo $((off)); return; }
	done <"$1"
}

c_stop() {
	# The set-up's probe of the log's room and its first write succeed,
	# the next fails.
	ff_rule m "write LG.tmp err=ENOSPC after=2"
	fk "$e" copy --json --rate 4M --log-interval 0.2 --log m/LG src dst
	ff_fires m 0
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc with a log that cannot be written"; }
	err_has "cannot write the copy log: No space left on device; stopping"
	moved=$(json 'j["bytes_moved"]')
	# 8 MiB at 4 MiB/s takes 2 s; the stop came at 0.2 s.
	[ "$moved" -lt $((6 * M)) ] || fail "the run went on after the log failed: $moved bytes moved"
	at=$(log_resume m.back/LG)
	[ -n "$at" ] || { cat m.back/LG; fail "the log on disk has nothing to do"; }
	json_is 'j["resume_at"]' "$at"
	err_has "rerun with the same --log to resume at byte $at"
	json_is 'j["destinations"][0]["status"]' failed
	[ ! -e m.back/LG.tmp ] || fail "LG.tmp left behind"
	ff_clear m
	fexpect 0 "$e" copy --log m/LG src dst
	same src dst
}

for e in "${ENGINES[@]}"; do
	for c in stop; do
		ff_clear m; rm -f dst m.back/LG m.back/LG.tmp
		run_case "$e/$c" "c_$c"
	done
done
cases_done
