#!/usr/bin/env bash
# copy --log FILE has files of its own: FILE, FILE.tmp (each rewrite goes
# through it) and FILE.lock.  None of them may be the source or a
# destination, however either is named: by the same path, through a
# symbolic link, a hard link, or as a loop device's backing file (however
# deep the loop devices are stacked); such a
# command is refused (exit 2) and every file is left exactly as it was.
# FILE.tmp and FILE.lock must be regular files, not symbolic links: the log
# never writes through a name it finds.  What merely shares a directory or
# a file system with the log is fine.
. "$(dirname "$0")/common.bash"

mib=$((1024 * 1024))
random src $((256 * 1024 + 100))
random d1 $((256 * 1024 + 100))
echo keep >victim

refused() { log_refused "$@"; }
own="cannot be the source or a destination"

# The temporary file is the source, or a destination (existing, or not yet).
cp src x.log.tmp
refused x.log "the log's temporary file x.log.tmp is the source x.log.tmp; the log $own" x.log.tmp a
rm x.log.tmp
cp d1 y.log.tmp
refused y.log "the log's temporary file y.log.tmp is the destination" src y.log.tmp
rm y.log.tmp
refused n.log "$own" src n.log.tmp
refused n.log "$own" src a ./n.log.tmp
# ... through a symbolic link or a hard link to it.
ln -s d1 s.log.tmp
refused s.log "the log's temporary file s.log.tmp is the destination d1" src d1
ln d1 h.log.tmp
refused h.log "the log's temporary file h.log.tmp is the destination d1" src d1
ln src hs.log.tmp
refused hs.log "the log's temporary file hs.log.tmp is the source src" src d1
mkdir sub
ln -s ../d1 sub/t.log.tmp
refused sub/t.log "$own" src d1
# The lock file.
ln src l.log.lock
refused l.log "the log's lock file l.log.lock is the source src" src d1
ln -s "$T/d1" m.log.lock
refused m.log "the log's lock file m.log.lock is the destination d1" src d1
# The log itself, through a hard link or a symbolic link.
ln d1 z.log
refused z.log "the log z.log is the destination d1" src d1
ln -s src zs.log
refused zs.log "the log $T/src is the source src" src d1
# A log that is a symbolic link is the file it points to: its temporary
# and lock files are beside that file.
mkdir logs
expect 0 copy -q --log logs/real.log src d1
ln -s logs/real.log ln.log
cp src logs/real.log.tmp
refused ln.log "the log's temporary file $T/logs/real.log.tmp is the source" logs/real.log.tmp d1
rm logs/real.log.tmp
# A temporary or lock file that is a symbolic link to anything else, or
# not a file at all: refused, and what it points to is untouched.
ln -s victim v.log.tmp
refused v.log "the log's temporary file v.log.tmp is not a regular file" src d1
ln -s victim w.log.lock
refused w.log "the log's lock file w.log.lock is not a regular file" src d1
mkfifo f.log.tmp
refused f.log "not a regular file" src d1
[ "$(cat victim)" = keep ] || fail "the victim was written"

# A loop device whose backing file is the temporary file, and a log that
# is a symbolic link to a block device.
if [ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null; then
	random lb.log.tmp $mib
	if loopdev ldev lb.log.tmp; then
		refused lb.log "the log's temporary file lb.log.tmp is the destination $ldev" \
			--length 256K src "$ldev"
		ln -s "$ldev" dev.log
		refused dev.log "not a regular file" --length 256K src d1
		rm dev.log
		# Stacked: a loop device over that loop device (at an offset),
		# as the destination, and as the source.
		if loopdev ldev2 "$ldev" --offset 512K; then
			refused lb.log "the log's temporary file lb.log.tmp is the destination $ldev2" \
				--length 256K src "$ldev2"
			refused lb.log "the log's temporary file lb.log.tmp is the source $ldev2" \
				--length 256K "$ldev2" d1
		fi
	fi
fi

# Not refused: a log beside its destination, on the same file system, or a
# stale temporary file of the log's own (a crash's left-over; anything else
# there is refused: log-tmp-not-ours).
mkdir dir
expect 0 copy -q --log dir/ok.log src dir/a d1
same src dir/a
same src d1
printf 'kcopyd-log 2\nboot 1234\nstate op' >dir/ok.log.tmp     # a rewrite cut short
expect 0 copy --json --log dir/ok.log src dir/a d1
json_is 'j["bytes_written"]' 0
[ ! -e dir/ok.log.tmp ] && [ ! -e dir/ok.log.lock ] || fail "the log left its files behind"

# A lock file that cannot be made (in /sys) is said so: not "another run".
if [ -d /sys/kernel ] && [ ! -e /sys/kernel/kcopyd-test.log.lock ]; then
	expect 2 copy --log /sys/kernel/kcopyd-test.log src d9
	err_has "cannot create its lock file /sys/kernel/kcopyd-test.log.lock"
	grep -q "another kcopyd run" "$T/err" && fail "blamed another run: $(cat "$T/err")"
	[ ! -e d9 ] || fail "d9 was created"
fi
exit 0
