#!/usr/bin/env bash
# The in-kernel copy (copy_file_range, taken for one buffered destination
# on the same kind of file system) is not used on FUSE: there the kernel
# takes a short reply of the daemon's for the end of the file, fills the
# rest with zeros and says it copied all of it.  Source and an existing
# destination on one faultfs mount, --buffered, both engines:
#  - reads answered short: the copy is exact, exit 0;
#  - a read error inside the range: reported (at most at its offset), exit
#    1, and the destination holds the source's bytes in the chunk below it.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/src $M

existing_dst() { random m.back/dst 900000; }

c_short() {
	existing_dst
	ff_rule m "read src off=64K len=64K short=1000"
	fexpect 0 "$e" copy --buffered m/src m/dst
	ff_fires m 0
	same m.back/src m.back/dst
}

c_eio() {
	existing_dst
	ff_rule m "read src off=600K len=4K err=EIO"
	fk "$e" copy --buffered m/src m/dst
	ff_fires m 0
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "exit $rc with a read error"; }
	err_has "read failed at byte "
	grep -q "m/dst: ok" "$T/out" && fail "dst said ok: $(cat "$T/out")"
	local at
	at=$(sed -n 's/.*read failed at byte \([0-9]*\).*/\1/p' "$T/err" | head -1)
	[ -n "$at" ] && [ "$at" -ge $((512 * 1024)) ] && [ "$at" -le $((600 * 1024)) ] ||
		fail "read error said at byte '$at', expected in its 512 KiB chunk, at most at $((600 * 1024))"
	# The first chunk (512 KiB, a sub-job) was read whole and written.
	cmp -n $((512 * 1024)) m.back/src m.back/dst || fail "the chunk before the error's differs"
}

for e in "${ENGINES[@]}"; do
	for c in short eio; do
		ff_clear m; rm -f m.back/dst
		for try in 1 2 3; do            # the kernel's zero fill hit one try in two
			run_case "$e/$c/$try" "c_$c"
		done
	done
done
cases_done
