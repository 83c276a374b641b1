#!/usr/bin/env bash
# The example programs of examples/, each one built (kcopyd-example on the
# kernel's API; kcopyd-loop-poll and kcopyd-loop-uv, KCOPYD_CLIENT_NO_THREAD
# clients in a poll() and a libuv loop; one not built is left out), on both
# engines: a partly sparse source of an odd size copied exactly to one and
# to three destinations, an existing longer one cut and a shorter one
# extended to the source's size, an empty source; a missing source exits 2
# and creates nothing; a destination in a missing directory exits 1 and
# resizes no other; no arguments exit 2.  A larger block device gets a
# copy of whole sectors and keeps its size; a source that is not whole
# sectors (its last one would overwrite the device's bytes after it) and a
# smaller device are refused.  Over faultfs: a
# failed write is reported for its destination only (exit 1, the others
# copied), a failed read for the source, and the loop programs print their
# progress tick during a slow copy.  (The loop devices and faultfs where
# they work: their cases are left out elsewhere.)
. "$(dirname "$0")/faultfs.bash"
: "${KCOPYD_BUILD:?KCOPYD_BUILD must name the build directory}"

progs=()
for p in kcopyd-example kcopyd-loop-poll kcopyd-loop-uv; do
	[ -x "$KCOPYD_BUILD/examples/$p" ] && progs+=("$KCOPYD_BUILD/examples/$p")
done
[ ${#progs[@]} -gt 0 ] || skip "no example programs in $KCOPYD_BUILD/examples"
ff_engines        # threads, and io_uring where it works: in ENGINES

M=1048576
size=$((3 * M + 1234))
random src "$M" 0                       # data, a hole, data to an odd end
truncate -s $((2 * M)) src
random src $((M + 1234)) $((2 * M))
random old $((5 * M))
: >empty

# ex CODE ARGS...: the program $p with the engine $e exits CODE (common.bash's
# expect, on $p instead of kcopyd).
ex() { KCOPYD=$p KCOPYD_ENGINE=$e expect "$@"; }
out_has() { grep -qF -- "$1" "$T/out" || { cat "$T/out"; fail "${p##*/} ($e): stdout lacks '$1'"; }; }
size_is() {
	[ "$(stat -c %s "$1")" = "$2" ] || fail "${p##*/} ($e): $1 is $(stat -c %s "$1") bytes, not $2"
}
is_loop() { case ${p##*/} in kcopyd-loop-*) return 0 ;; esac; return 1; }

for p in "${progs[@]}"; do
	for e in "${ENGINES[@]}"; do
		echo "== ${p##*/}, $e"
		rm -f d1 d2 d3 e1 e2 n1 n2
		ex 0 src d1
		same src d1
		out_has "d1: copied $size bytes"
		if is_loop; then err_has "$size of $size bytes read"; fi

		cp old d2                       # longer: cut
		head -c 1000 old >d3            # shorter: extended
		ex 0 src d1 d2 d3
		for d in d1 d2 d3; do
			same src "$d"
			out_has "$d: copied $size bytes"
		done

		printf x >e2
		ex 0 empty e1 e2
		size_is e1 0
		size_is e2 0

		ex 2 nosuch n1 n2
		err_has "nosuch: cannot open the source: No such file or directory"
		[ ! -e n1 ] && [ ! -e n2 ] || fail "${p##*/} ($e): a missing source created a destination"

		cp old d1
		ex 1 src d1 nodir/d2
		err_has "nodir/d2: cannot create or open: No such file or directory"
		same old d1                     # not cut to the source's size

		ex 2
		err_has "usage: "
		ex 2 src
		err_has "usage: "
	done
done

# Block devices (as root, where loop devices work): one larger than the
# source gets the copy and keeps its size and the bytes after it; one
# smaller is refused (exit 1) before the other destination is resized.
if (need_loop) >/dev/null 2>&1; then
	random big.img $((4 * M))
	truncate -s $M small.img
	loopdev big big.img || fail "losetup big.img"
	loopdev small small.img || fail "losetup small.img"
	end=$(( size / 512 * 512 ))
	head -c "$end" src > src512
	for p in "${progs[@]}"; do
		for e in "${ENGINES[@]}"; do
			echo "== ${p##*/}, $e, block devices"
			random big.img $((4 * M))
			cp big.img big.before
			# Not whole sectors: refused, the device untouched (its bytes
			# after the source's end were overwritten with zeros, exit 0).
			ex 1 src "$big"
			err_has "$big: the source's $size bytes are not whole 512-byte sectors"
			blockdev --flushbufs "$big"
			cmp big.before big.img || fail "${p##*/} ($e): a refused copy changed $big"
			ex 0 src512 "$big"
			cmp -n "$end" src512 "$big" || fail "${p##*/} ($e): $big differs from src512"
			cmp -i "$end" big.before "$big" || fail "${p##*/} ($e): $big changed past the copy"
			[ "$(blockdev --getsize64 "$big")" = $((4 * M)) ] || fail "$big resized"
			cp old d1
			ex 1 src d1 "$small"
			err_has "$small: a block device of $M bytes, smaller than the source ($size bytes)"
			same old d1
		done
	done
else
	echo "no loop devices here: the block device cases not run"
fi

if ! (need_faultfs) >/dev/null 2>&1; then
	echo "no faultfs here: the cases of failed I/O and of the progress tick not run"
	exit 0
fi
ff_mount m -s                           # one request at a time, as a slow disk
cp src m.back/src
random big $((12 * M))
for p in "${progs[@]}"; do
	for e in "${ENGINES[@]}"; do
		echo "== ${p##*/}, $e, faultfs"
		ff_clear m
		rm -f m.back/d1 m.back/d2 m.back/d3 d1
		ff_rule m "write d2 off=1M len=4K err=EIO"
		ex 1 src m/d1 m/d2 m/d3
		ff_fires m 0
		err_has "m/d2: write failed"
		if is_loop; then err_has "m/d2: write failed: Input/output error"; fi
		same src m.back/d1
		same src m.back/d3
		out_has "m/d1: copied $size bytes"
		out_has "m/d3: copied $size bytes"
		! grep -q "m/d2: copied" "$T/out" || fail "${p##*/} ($e): m/d2 said copied"

		# A write error early in a larger copy: the others still get all
		# of it (the jobs stopped at the first error, and the examples
		# said "copied" of destinations that lacked the rest).
		ff_clear m
		rm -f m.back/d1 m.back/d2 m.back/d3
		ff_rule m "write d2 off=64K len=4K err=EIO"
		ex 1 big m/d1 m/d2 m/d3
		ff_fires m 0
		same big m.back/d1
		same big m.back/d3
		out_has "m/d1: copied $((12 * M)) bytes"

		ff_clear m
		ff_rule m "read src off=2M len=4K err=EIO"
		ex 1 m/src d1
		ff_fires m 0
		err_has "m/src: read failed: Input/output error"
		! grep -q "d1: copied" "$T/out" || fail "${p##*/} ($e): d1 said copied after a failed read"

		is_loop || continue
		ff_clear m
		ff_rule m "read src delay=150"
		rm -f d1
		ex 0 m/src d1
		same src d1
		echo "$(ff_fired m 0) reads of 150 ms"
		n=$(grep -c "bytes read" "$T/err")
		# The last line is printed after the copy; any other is a tick.
		[ "$n" -ge 2 ] || { cat "$T/err"; fail "${p##*/} ($e): no progress tick during a slow copy"; }
		echo "$n progress lines"
	done
done
exit 0
