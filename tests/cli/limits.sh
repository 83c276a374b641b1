#!/usr/bin/env bash
# Resource limits a shell user can meet end in a message and an exit code,
# never a death by signal: ulimit -f (a new file too large: refused at
# set-up, exit 2, nothing left, and so an existing file it would extend
# past the limit, and an existing 8 MiB file, as writes past the limit
# fail there too),
# ulimit -n (exit 2, the limit named, nothing created), ulimit -v (exit 2), RLIMIT_MEMLOCK 0
# (still copies), ulimit -u 1 (exit 2, the thread named), and ulimit -t
# (the soft limit is set a second under the hard one, for a SIGXCPU first).
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((8 * mib))
random orig $((8 * mib))

# ulimit -f 4096: 4 MiB.
( ulimit -f 4096; exec "$KCOPYD" copy src new ) >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -f, new file: exit $rc, expected 2"; }
# (Refused before anything is created, where it once failed to extend.)
err_has "new: needs 8388608 bytes, more than the file size limit of 4194304 bytes (ulimit -f); refusing to write it"
[ -e new ] && fail "ulimit -f: the new file was left"
# An existing file the copy would extend past the limit: refused alike,
# left as it was.
random short $mib; cp short short.orig
( ulimit -f 4096; exec "$KCOPYD" copy src short ) >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -f, short file: exit $rc, expected 2"; }
err_has "short: needs 8388608 bytes, more than the file size limit of 4194304 bytes (ulimit -f); refusing to write it"
same short.orig short

# An existing 8 MiB file: writes past the limit fail however large the
# file is, so it is refused alike, left as it was (limits-position.sh).
cp orig d
( ulimit -f 4096; exec "$KCOPYD" copy --json src d ) >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -f, existing file: exit $rc, expected 2"; }
err_has "d: needs 8388608 bytes, more than the file size limit of 4194304 bytes (ulimit -f); refusing to write it"
same orig d

# ulimit -n: too few descriptors, at any point of set-up: a refusal (exit
# 2, the message, nothing left) or, with enough of them, a whole copy.
refused=0
for n in 5 6 7 8 9 10 11 12; do
	rm -f new
	( ulimit -n $n; exec "$KCOPYD" copy src new ) >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		same src new
		continue
	fi
	[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -n $n: exit $rc, expected 2 or 0"; }
	grep -q "Too many open files\|out of file descriptors" "$T/err" || fail "ulimit -n $n: $(cat "$T/err")"
	err_has "ulimit -n"           # the limit is named, whatever the step that met it
	[ -e new ] && fail "ulimit -n $n: the new file was left"
	refused=$((refused + 1))
done
[ "$refused" -ge 2 ] || fail "ulimit -n: only $refused refusals"
# The same with --log: the limit, never a made-up reason (the log's
# directory was said to lie in the source when its identity could not be
# followed for want of descriptors).
refused=0
for n in 6 7 8 9 10 11 12 13 14; do
	rm -f new lg
	( ulimit -n $n; exec "$KCOPYD" copy --log lg src new ) >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		same src new
		continue
	fi
	[ "$rc" -eq 2 ] || { cat "$T/err"; fail "--log, ulimit -n $n: exit $rc, expected 2 or 0"; }
	err_has "ulimit -n"
	! grep -q "stored in the source" "$T/err" || fail "--log, ulimit -n $n: $(cat "$T/err")"
	[ -e new ] && fail "--log, ulimit -n $n: the new file was left"
	refused=$((refused + 1))
done
[ "$refused" -ge 2 ] || fail "--log, ulimit -n: only $refused refusals"
# Many destinations: the limit met at a destination's creation is named.
( ulimit -n 16; exec "$KCOPYD" copy src n1 n2 n3 n4 n5 n6 n7 n8 ) >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "ulimit -n 16, 8 destinations: exit $rc: $(cat "$T/err")"
err_has "Too many open files (the limit of open files, ulimit -n, is 16)"
for f in n1 n2 n3 n4 n5 n6 n7 n8; do [ ! -e $f ] || fail "ulimit -n 16: $f was left"; done

# RLIMIT_MEMLOCK 0: the pool cannot be locked for io_uring; still a copy.
rm -f new
( ulimit -l 0; exec "$KCOPYD" copy --direct src new ) >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "ulimit -l 0: exit $rc"; }
same src new

# ulimit -t: SIGXCPU a second before the hard limit's SIGKILL.
( ulimit -t 100; exec "$KCOPYD" copy --rate 1M src new2 ) >/dev/null 2>&1 &
pid=$!
sleep 0.3
grep -E '^Max cpu time +99 +100 ' /proc/$pid/limits >/dev/null ||
	{ grep 'cpu time' /proc/$pid/limits; kill $pid; fail "ulimit -t: the soft limit was not lowered"; }
kill -XCPU $pid
wait $pid
rc=$?
[ "$rc" -eq 152 ] || fail "SIGXCPU: exit $rc, expected 152"

# ulimit -v: too little address space for the pool or the engine's thread.
sanitized=
grep -qaE '__(asan|tsan|msan)_init' "$KCOPYD" && sanitized=1
if [ -z "$sanitized" ]; then
	for v in 6000 12000; do
		rm -f new
		( ulimit -v $v; exec "$KCOPYD" copy src new ) >"$T/out" 2>"$T/err"
		rc=$?
		[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -v $v: exit $rc, expected 2"; }
		err_has "cannot start the copy engine"
		err_has "ulimit -"
		[ -e new ] && fail "ulimit -v $v: the new file was left"
	done
else
	echo "ulimit -v: skipped for a sanitizer build"
fi

# ulimit -n so tight that a mounted loop device elsewhere cannot be
# followed: the limit is named, not the loop device as "mounted or in use"
# over a file it has nothing to do with (sweep 19b F1).
if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null; then
	truncate -s 16M fsimg && mkfs.ext4 -q -F fsimg
	if LM=$(losetup -f --show fsimg 2>/dev/null); then
		_loops+=("$LM")
		mkdir -p mnt_lm && mount "$LM" mnt_lm && _mounts+=("$T/mnt_lm")
		truncate -s "$(stat -c %s src)" exist
		for n in $(seq 9 24); do
			bash -c "ulimit -n $n; exec \"\$0\" copy src exist" "$KCOPYD" >"$T/out" 2>"$T/err" </dev/null
			rc=$?
			[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || fail "ulimit -n $n, a loop device mounted: exit $rc: $(cat "$T/err")"
			grep -q "mounted or in use" "$T/err" && fail "ulimit -n $n: the mounted loop device named: $(cat "$T/err")"
			[ "$rc" -eq 0 ] || err_has "ulimit -n, is $n)"
		done
		umount mnt_lm
	fi
fi

# ulimit -u 1 (as an unprivileged user: root is not held to it).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"; mkdir -m 777 u && cp src u/src && chmod 644 u/src
	# (LeakSanitizer needs a thread of its own: none in an ASan build.)
	for cmd in "copy u/src u/new" "verify u/src u/src" "zero --length 1M u/new"; do
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
			bash -c 'ulimit -u 1; exec "$0" $1 --json $2' "$KCOPYD" "${cmd%% *}" "${cmd#* }" \
			>"$T/out" 2>"$T/err"
		rc=$?
		[ "$rc" -eq 2 ] || { cat "$T/err"; fail "ulimit -u 1, $cmd: exit $rc, expected 2"; }
		err_has "(ulimit -u"
		# The JSON names the error, never a warning.
		json_is '"ulimit -u" in j["error"] and "warning" not in j["error"]' True
		[ -e u/new ] && fail "ulimit -u 1, $cmd: the new file was left"
	done
else
	echo "ulimit -u: skipped (needs root and setpriv)"
fi
exit 0
