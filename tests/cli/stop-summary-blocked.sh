#!/usr/bin/env bash
# A stop signal while the run's summary is blocked on standard output (a
# full pipe nobody reads: the run itself had ended, every destination
# complete and flushed): after the grace period kcopyd exits with the
# run's own status, saying the run had ended; never "left incomplete" for
# destinations that are complete.  Text and JSON.
. "$(dirname "$0")/common.bash"
M=$((1024 * 1024))
random src $M
modes=(--json "")
# Under TSan, an exit (_exit) while another thread is blocked inside
# stdio's fflush waits on the sanitizer's own lock: the text summary, blocked
# so, cannot be tried there (the JSON one is written with write(2)).
[ -n "${TSAN_OPTIONS:-}" ] && modes=(--json)
for mode in "${modes[@]}"; do
	"$PY" - "$KCOPYD" "$T" $mode >"$T/res" <<'PYEOF' || fail "$mode: $(cat "$T/res")"
import fcntl, os, subprocess, sys, time
kcopyd, d, mode = sys.argv[1], sys.argv[2], sys.argv[3:]
dests = [os.path.join(d, "pd%d" % i) for i in range(32)]
for p in dests:
    if os.path.exists(p):
        os.unlink(p)
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)          # F_SETPIPE_SZ: the smallest pipe
os.write(w, b"x" * 4096)            # full already: the summary cannot go
p = subprocess.Popen([kcopyd, "copy"] + mode + [os.path.join(d, "src")] + dests,
                     stdout=w, stderr=subprocess.PIPE)
os.close(w)
# Until a thread of it is blocked writing standard output (write(2) on fd
# 1, as /proc says): the run has ended, its summary is what is left.
def blocked_on_stdout(pid):
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/syscall" % (pid, t)) as f:
                a = f.read().split()
            if len(a) > 1 and a[0] == "1" and int(a[1], 16) == 1:
                return True
    except OSError:
        pass
    return False
t0 = time.time()
while not blocked_on_stdout(p.pid):
    if p.poll() is not None or time.time() - t0 > 60:
        sys.exit("kcopyd never blocked on its standard output")
    time.sleep(0.05)
time.sleep(0.2)
p.send_signal(2)
try:
    err = p.communicate(timeout=20)[1].decode()
except subprocess.TimeoutExpired:
    p.kill()
    sys.exit("no exit 20 s after SIGINT")
os.close(r)
if "left incomplete" in err or "is incomplete" in err:
    sys.exit("said incomplete: " + err)
if p.returncode != 0:
    sys.exit("exit %d, expected the run's own 0: %s" % (p.returncode, err))
if "after the run had ended: exiting with its status 0" not in err:
    sys.exit("no word of the run's end: " + err)
PYEOF
	for i in $(seq 0 31); do same src "pd$i"; done
done
exit 0
