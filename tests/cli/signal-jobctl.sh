#!/usr/bin/env bash
# Job control: a copy stopped (SIGTSTP, SIGSTOP) and continued (SIGCONT)
# resumes and ends exact; a copy run in the background of a terminal with
# "stty tostop", drawing --progress there, is not stopped by SIGTTOU: it
# draws only in the foreground, and finishes.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((4 * mib))

for stop in TSTP STOP; do
	rm -f a
	"$KCOPYD" copy --rate 2M src a >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
	sleep 0.2; kill -s $stop $pid
	sleep 0.5; kill -CONT $pid
	sleep 0.1; kill -s $stop $pid
	sleep 0.2; kill -CONT $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "SIG$stop then SIGCONT: exit $rc"; }
	same src a
	grep -q "^copied 4.00 MiB" "$T/out" || fail "SIG$stop: summary $(cat "$T/out")"
done

# In the background of a terminal (a pseudo-terminal here) with tostop.
rm -f a
"$PY" - "$KCOPYD" <<'PYEOF' || fail "background copy on a tostop terminal"
import os, pty, sys, termios, time, select
kcopyd = sys.argv[1]
pid, master = pty.fork()
if pid == 0:                       # session leader, the pty its terminal
    attr = termios.tcgetattr(0)
    attr[3] |= termios.TOSTOP
    termios.tcsetattr(0, termios.TCSANOW, attr)
    child = os.fork()
    if child == 0:                 # a background process group
        os.setpgid(0, 0)
        fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(fd, 0)
        os.execv(kcopyd, [kcopyd, "copy", "--progress", "--rate", "8M", "src", "a"])
    try:
        os.setpgid(child, child)   # the child does it too: whichever is first
    except OSError:
        pass
    deadline = time.time() + 20
    while time.time() < deadline:
        p, st = os.waitpid(child, os.WUNTRACED | os.WNOHANG)
        if p:
            if os.WIFSTOPPED(st):
                print("kcopyd was stopped by signal %d" % os.WSTOPSIG(st), flush=True)
                os.kill(child, 9)
                os._exit(2)
            os._exit(os.waitstatus_to_exitcode(st) if hasattr(os, "waitstatus_to_exitcode") else st >> 8)
        time.sleep(0.02)
    print("kcopyd did not finish", flush=True)
    os._exit(3)
out = b""
while True:
    try:
        r, _, _ = select.select([master], [], [], 30)
        if not r:
            break
        data = os.read(master, 4096)
        if not data:
            break
        out += data
    except OSError:
        break
_, st = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(st) if hasattr(os, "waitstatus_to_exitcode") else st >> 8
sys.stdout.write(out.decode(errors="replace"))
if code != 0:
    print("\nexit %d" % code)
    sys.exit(1)
if b"% " in out and b"left" in out:
    print("\nprogress was drawn from the background")
    sys.exit(1)
PYEOF
same src a
exit 0
