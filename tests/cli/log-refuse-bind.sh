#!/usr/bin/env bash
# The log's own files reached by other names through a bind mount, and a
# log that is a mount point, are refused at set-up (exit 2), with nothing
# written:
#  - a new destination that is the log's temporary file, or its lock file,
#    through a bind mount of the log's directory (it was created, then the
#    log's rewrite failed or removed it);
#  - a log that is a file bind-mounted in place, which its rewrites (a
#    rename over it) cannot replace (it failed at the first rewrite, every
#    rerun the same, advising a rerun).
. "$(dirname "$0")/common.bash"
need_root
M=$((1024 * 1024))
random src $M
mkdir A B
mount --bind A B 2>/dev/null && _mounts+=("$T/B") || skip "cannot bind-mount"
files=(src)
for f in L.tmp L.lock; do
	refused "new destination $f" "the destination B/$f" copy --log A/L src "B/$f"
	[ -z "$(ls A)" ] || fail "new destination $f: left $(ls A)"
done
echo old >fa; touch L
mount --bind fa L 2>/dev/null && _mounts+=("$T/L") || skip "cannot bind-mount a file"
files=(src fa)
refused "a log that is a mount point" "it is a mount point" copy --log L src d
[ ! -e d ] || fail "a log that is a mount point: d was created"
exit 0
