#!/usr/bin/env bash
# Standard output that cannot be written (a full device, a pipe whose
# reader is gone, a closed descriptor) is no death and no silence: the copy
# completes, the failure to write the summary or the JSON is said on stderr
# at the end, and the exit code is not 0.  A closed standard output is not
# reused for a device: the summary never lands in a destination.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((2 * mib))

for json in --json ""; do
	rm -f a
	"$KCOPYD" copy $json src a >/dev/full 2>"$T/err"
	rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "copy $json >/dev/full: exit $rc, expected 1"; }
	err_has "standard output: cannot write the summary: No space left on device"
	same src a
done

# The reader of the pipe is gone before the summary comes.
rm -f a
"$PY" - "$KCOPYD" <<'PYEOF' 2>"$T/err" || fail "broken pipe: $(cat "$T/err")"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], "copy", "--json", "src", "a"], stdout=w, stderr=subprocess.PIPE)
sys.stderr.write(p.stderr.decode())
if p.returncode != 1:
    sys.exit("exit %d, expected 1" % p.returncode)
if b"cannot write the summary: Broken pipe" not in p.stderr:
    sys.exit("no message about the pipe")
PYEOF
same src a

# Closed standard output: the summary must not go into the destination.
rm -f a
"$KCOPYD" copy src a >&- 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "closed stdout: exit $rc, expected 1"; }
err_has "standard output: cannot write the summary"
same src a
cp src b
"$KCOPYD" copy --json src b >&- 2>"$T/err"
same src b

# A progress line on a pipe whose reader is gone: no death, the copy whole.
rm -f a
"$PY" - "$KCOPYD" <<'PYEOF' || fail "progress on a broken pipe"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], "copy", "--progress", "--rate", "8M", "src", "a"],
                   stdout=subprocess.DEVNULL, stderr=w)
sys.exit(p.returncode != 0)
PYEOF
same src a

# Output before any run (--help, --version, an option error): a write
# that fails is said, never a death by SIGPIPE or SIGXFSZ (the signals are
# ignored from the start), and --help is not exit 0 when it was not written.
for args in "--help" "-V" "copy --help" "nosuchcommand" "copy --pages 0 a b"; do
	"$PY" - "$KCOPYD" $args <<'PYEOF' || fail "kcopyd $args into a closed pipe"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=w)
if p.returncode < 0 or p.returncode >= 128:
    sys.exit("%s: killed (%d)" % (sys.argv[2:], p.returncode))
if p.returncode == 0:
    sys.exit("%s: exit 0 with nothing written" % sys.argv[2:])
PYEOF
done
"$KCOPYD" --help >/dev/full 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || fail "--help >/dev/full: exit $rc, expected 1"
err_has "standard output: cannot write"
if command -v prlimit >/dev/null; then
	prlimit --fsize=100 "$KCOPYD" --help >"$T/help" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 1 ] || fail "--help past ulimit -f: exit $rc, expected 1"
	err_has "File too large"
fi

# A set-up error's JSON that cannot be written keeps exit 2.
"$KCOPYD" copy --json nonexistent a >/dev/full 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || fail "set-up error to /dev/full: exit $rc, expected 2"
err_has "standard output: cannot write the error"
exit 0
