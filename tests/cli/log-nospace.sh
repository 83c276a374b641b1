#!/usr/bin/env bash
# --log on a file system with no room for the log (or for the temporary
# file it is rewritten through) is refused at set-up (exit 2), naming the
# log and ENOSPC: no destination is created, an existing one is untouched,
# and no file of the log's is left behind.  With room, the same run works.
. "$(dirname "$0")/common.bash"
need_root
random src $((4 * 1048576))
random old $((4 * 1048576))
tmpfs full 64k
head -c 64k /dev/zero >full/fill 2>/dev/null    # every block taken

files=(src)
refused "new destination" "--log full/log: unusable: cannot write it: No space left on device" \
	copy --log full/log src new
ls -A full | grep -vqx fill && fail "left in the log's directory: $(ls -A full)"

cp old dest
files=(src dest)
refused "existing destination" "No space left on device" copy --log full/log src dest
same old dest

# A log that exists already, on a file system filled since: its rewrite
# would fail, so it is refused the same way (and left as it was).
tmpfs room 256k
k copy --log room/log src dest
[ "$rc" -eq 0 ] || fail "copy with room for the log: exit $rc"
cp room/log saved.log
rm -f room/log
cp saved.log room/log
head -c 256k /dev/zero >room/fill 2>/dev/null
files=(src dest room/log)
refused "existing log" "No space left on device" copy --log room/log src dest
same saved.log room/log

rm -f room/fill
k copy --log room/log src dest
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "copy once there is room: exit $rc"; }
same src dest
exit 0
