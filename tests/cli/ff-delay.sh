#!/usr/bin/env bash
# Slow storage, on both engines: a destination whose writes are slow, a
# source whose first sub-job completes last, a slow fsync.  The copy is
# exact and exits 0 (no timing is asserted, only that the delays happened).
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $((4 * M))

# One of two destinations is slow (20 ms a write).
c_slow_dest() {
	ff_rule m "write d2 delay=20"
	fexpect 0 "$e" copy m/src m/d1 m/d2
	ff_fires m 0
	same m.back/src m.back/d1
	same m.back/src m.back/d2
}

# The first 512 KiB of the source answers 300 ms late: later sub-jobs
# complete first; onto an existing file, with --verify.
c_late_first() {
	random d1 $((4 * M))
	ff_rule m "read src off=0 len=512K delay=300"
	fexpect 0 "$e" copy --verify m/src d1
	ff_fires m 0
	same m.back/src d1
}

# A slow fsync, and slow writes in the middle.
c_slow_fsync() {
	ff_rule m "fsync d1 delay=300" "write d1 off=1M len=1M delay=100"
	fexpect 0 "$e" copy m/src m/d1
	ff_fires m 0; ff_fires m 1
	same m.back/src m.back/d1
}

# Slow reads everywhere with --queue-depth 1 and small sub-jobs.
c_slow_serial() {
	ff_rule m "read src delay=5"
	fexpect 0 "$e" copy --queue-depth 1 --sub-job-size 128K m/src d1
	ff_fires m 0
	same m.back/src d1
}

for e in "${ENGINES[@]}"; do
	for c in slow_dest late_first slow_fsync slow_serial; do
		ff_clear m; rm -f m.back/d1 m.back/d2 d1
		run_case "$e/$c" "c_$c"
	done
done
cases_done
