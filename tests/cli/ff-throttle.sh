#!/usr/bin/env bash
# copy --throttle PERCENT, the kernel's throttle, on both engines: from a
# source whose every read takes 20 ms (served one at a time), a copy at
# 20 % takes at least about five times its reads' time and at least twice
# the unthrottled copy of the same run, and is exact; zero takes it too.
# Bad values are refused (exit 2, the option named, nothing created), as
# is --throttle on verify.  (Timing bounds only: a slow machine makes the
# reads slower, never the throttle's waits shorter.)
. "$(dirname "$0")/faultfs.bash"
ff_begin -s
random m.back/src $((1 * M))

secs() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t0 $t1" | awk '{print $2 - $1}'; }

c_share() {
	local t100 t20 n
	ff_rule m "read src delay=20"
	rm -f d1; t100=$(secs fexpect 0 "$e" copy --queue-depth 1 --sub-job-size 64K m/src d1)
	same m.back/src d1
	rm -f d1; t20=$(secs fexpect 0 "$e" copy --throttle 20% --queue-depth 1 --sub-job-size 64K m/src d1)
	same m.back/src d1
	n=$(ff_fired m 0)
	# 16 reads of 20 ms each run (0.32 s); at 20 % each but the first
	# waits four times its read: 1.6 s.
	[ "${n:-0}" -ge 32 ] || fail "the source was read $n times in 64K, not 32: the delays did not all happen"
	awk -v a="$t100" -v b="$t20" 'BEGIN { exit !(a >= 0.3 && b >= 1.2 && b >= 2 * a) }' ||
		fail "unthrottled $t100 s, at 20 % $t20 s: want at least 1.2 s and twice"
	echo "unthrottled $t100 s, --throttle 20% $t20 s"
}

c_zero() {
	random m.back/z $((1 * M))
	fexpect 0 "$e" zero --throttle 50 m/z
	cmp -n $((1 * M)) m.back/z /dev/zero || fail "zero --throttle left data"
}

for e in "${ENGINES[@]}"; do
	for c in share zero; do
		ff_clear m
		run_case "$e/$c" "c_$c"
	done
done

for bad in 0 101 -1 abc "" 20%% 1e2 " 5" 4294967297; do
	expect 2 copy --throttle "$bad" m.back/src new
	err_has "--throttle: '$bad' must be a per cent of the time from 1 to 100"
	[ ! -e new ] || fail "--throttle '$bad': new was created"
done
expect 2 verify --throttle 50 m.back/src m.back/src
err_has "verify: --throttle does not apply"
cases_done
