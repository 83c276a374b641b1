#!/usr/bin/env bash
# Every stop signal a shell user can send (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
# SIGALRM, SIGUSR2, SIGXCPU) ends a throttled copy within a second, however
# slow --rate makes it: exit 128 + the signal, a message naming it (not a
# death by signal), and destinations that hold whole sub-jobs of the source
# over what they held before, nothing else.  With --log the cancelled chunks
# are not recorded as done: the log's done chunks hold the source, and a
# resume finishes byte-identical.
. "$(dirname "$0")/common.bash"

kib=1024 mib=$((1024 * 1024))
random src $((4 * mib))
random orig $((4 * mib))

# blocks DEST OLD: every 512 KiB block of DEST is the source's or OLD's
# ("-": zeros, a new file); prints how many are the source's.
blocks() {
	"$PY" - "$1" "$2" <<'PYEOF'
import sys
bs = 512 * 1024
src = open("src", "rb").read()
dst = open(sys.argv[1], "rb").read()
old = bytes(len(src)) if sys.argv[2] == "-" else open(sys.argv[2], "rb").read()
if len(dst) != len(src):
    sys.exit("%s: %d bytes, expected %d" % (sys.argv[1], len(dst), len(src)))
n = 0
for i in range(0, len(src), bs):
    if dst[i:i + bs] == src[i:i + bs]:
        n += 1
    elif dst[i:i + bs] != old[i:i + bs]:
        sys.exit("%s: block at %d is neither the source's nor what was there" % (sys.argv[1], i))
print(n)
PYEOF
}

ms() { echo $(($(date +%s%N) / 1000000)); }

# stopped SIGNAL ARGS...: run kcopyd ARGS in the background, send SIGNAL
# once it is copying; sets rc and took (ms from the signal to the exit).
# A signal that still came during set-up (a loaded machine) wrote nothing,
# as it says: the run is tried again, later.
stopped() {
	local sig=$1 wait_s=0.4 try pid t0; shift
	for try in 1 2 3; do
		"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
		pid=$!
		signals_taken $pid
		sleep $wait_s                  # past set-up, even under a sanitizer
		t0=$(ms)
		kill -s "$sig" "$pid"
		wait "$pid"
		rc=$?
		took=$(($(ms) - t0))
		grep -q "during set-up: exiting; nothing was written" "$T/err" || return 0
		wait_s=$((try * 2))
	done
}

declare -A num=([INT]=2 [TERM]=15 [HUP]=1 [QUIT]=3 [ALRM]=14 [USR2]=12 [XCPU]=24)
for sig in INT TERM HUP QUIT ALRM USR2 XCPU; do
	rm -f a; cp orig b
	stopped $sig copy --rate 10K src a b
	want=$((128 + num[$sig]))
	[ "$rc" -eq "$want" ] || { cat "$T/err"; fail "SIG$sig: exit $rc, expected $want"; }
	err_has "not completed: interrupted (SIG$sig)"
	err_has "the copy is incomplete"
	grep -q "interrupted by SIG$sig" "$T/out" || fail "SIG$sig: summary: $(cat "$T/out")"
	[ "$took" -lt 3000 ] || fail "SIG$sig at --rate 10K took $took ms to stop"
	na=$(blocks a -) || fail "SIG$sig: $na"
	nb=$(blocks b orig) || fail "SIG$sig: $nb"
	[ "$na" -lt 8 ] && [ "$nb" -lt 8 ] || fail "SIG$sig: the copy was not stopped"
	echo "SIG$sig: exit $rc after $took ms; $na and $nb sub-jobs copied"
done

# A hang-up ignored at the start (nohup) stays ignored.
rm -f a
( trap '' HUP; exec "$KCOPYD" copy --rate 8M src a ) >"$T/out" 2>"$T/err" </dev/null &
pid=$!
sleep 0.2; kill -HUP $pid
wait $pid
rc=$?
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "nohup: SIGHUP stopped it (exit $rc)"; }
same src a

# --json says which signal.
rm -f a
stopped HUP copy --json --rate 10K src a
[ "$rc" -eq 129 ] || fail "--json SIGHUP: exit $rc"
json_is 'j["signal"]' SIGHUP
json_is 'j["exit_code"]' 129
json_is 'j["destinations"][0]["status"]' failed

# zero, throttled, stops too; what it zeroed is whole sub-jobs of zeros.
cp orig z
stopped TERM zero --rate 10K z
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "zero SIGTERM: exit $rc"; }
[ "$took" -lt 3000 ] || fail "zero: SIGTERM took $took ms"
err_has "the zeroing is incomplete"
"$PY" - <<'PYEOF' || fail "zero: a block is neither zeros nor the old data"
import sys
bs = 512 * 1024
z, o = open("z", "rb").read(), open("orig", "rb").read()
sys.exit(any(z[i:i+bs] not in (o[i:i+bs], bytes(bs)) for i in range(0, len(o), bs)))
PYEOF

# --log at --rate 10K: a stop within a second, the chunks cancelled are not
# recorded (each one the log says is done holds the source), the resume
# completes the copy.
for e in io_uring threads; do
	rm -f a c.log; cp orig b
	KCOPYD_ENGINE=$e stopped INT copy --rate 100K --log c.log --log-interval 0.01 src a b
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "$e --log SIGINT: exit $rc"; }
	[ "$took" -lt 3000 ] || fail "$e --log: SIGINT took $took ms"
	err_has "rerun with the same --log to resume"
	"$PY" - <<'PYEOF' || fail "$e: the log records a chunk as done that is not"
import sys
src = open("src", "rb").read()
dst = [open(n, "rb").read() for n in ("a", "b")]
bad = 0
for w in map(str.split, open("c.log")):
    if w and w[0] == "map" and w[4] == "+":
        d, off, n = int(w[1]), int(w[2], 0), int(w[3], 0)
        if dst[d][off:off + n] != src[off:off + n]:
            print("dest %d: %d+%d recorded done, but differs" % (d, off, n)); bad = 1
sys.exit(bad)
PYEOF
	KCOPYD_ENGINE=$e expect 0 copy --log c.log src a b
	same src a
	same src b
done
exit 0
