#!/usr/bin/env bash
# A second stop signal while the first is being handled exits at once, with
# 128 + the signal and a message that says what is left incomplete (a
# destination this run created is named as such), never a silent death.
# What was written is whole sub-jobs of the source, and with --log a rerun
# resumes from the log's last record to a byte-identical copy.
# (Two signals of one kind sent together are one signal to the kernel; the
# process is stopped to receive SIGINT then SIGTERM, in that order.)
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((4 * mib))
random orig $((4 * mib))

twice() {
	"$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	sleep 0.4
	kill -STOP "$pid"
	kill -INT "$pid"
	kill -TERM "$pid"
	kill -CONT "$pid"
	wait "$pid"
	rc=$?
}

rm -f a; cp orig b
twice copy --rate 100K src a b
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "SIGINT then SIGTERM: exit $rc, expected 143"; }
err_has "SIGTERM after SIGINT: exiting at once"
err_has "left incomplete: a (created by this run), b"
# Nothing but source data over what was there.
"$PY" - <<'PYEOF' || fail "a destination holds bytes that are neither the source's nor the old"
import sys
s, o = open("src", "rb").read(), open("orig", "rb").read()
a, b = open("a", "rb").read(), open("b", "rb").read()
ok = all(a[i] == s[i] or a[i] == 0 for i in range(0, len(s), 4096)) and \
     all(b[i] == s[i] or b[i] == o[i] for i in range(0, len(s), 4096))
sys.exit(not ok or len(a) != len(s) or len(b) != len(s))
PYEOF

rm -f a c.log
twice copy --rate 100K --log c.log src a
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "--log: exit $rc"; }
err_has "the copy is incomplete: a (created by this run); the log c.log resumes it"
expect 0 copy --log c.log src a
same src a

# Zeroing too.
cp orig z
twice zero --rate 100K z
[ "$rc" -eq 143 ] || { cat "$T/err"; fail "zero: exit $rc"; }
err_has "SIGTERM after SIGINT: exiting at once; left incomplete: z"
exit 0
