#!/usr/bin/env bash
# copy --log FILE: the log's own files (FILE, FILE.tmp, FILE.lock) named
# through an overlayfs mount are the files of its upper (or lower) layer
# they reach: a source or destination named by its layer path is the same
# file, and the other way round, also when neither exists yet (the
# overlay creates the file in its upper layer).  Refused (exit 2), every file left as it
# was, none created or removed.
. "$(dirname "$0")/common.bash"
need_root
mkdir lower upper work m
mount -t overlay overlay -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work" "$T/m" \
	2>/dev/null && _mounts+=("$T/m") || skip "cannot mount overlayfs"

random src $((256 * 1024 + 100))
random d1 $((256 * 1024 + 100))
SNAPSHOT_SKIP=work     # overlayfs's own
refused() { log_refused "$@"; }
own="the log cannot be the source or a destination"

for suf in "" .tmp .lock; do
	# The log's file in the upper layer, as the source and as a destination.
	cp src "upper/a.log$suf"
	refused m/a.log "is the source upper/a.log$suf; $own" "upper/a.log$suf" d1
	refused m/a.log "is the destination upper/a.log$suf; $own" src "upper/a.log$suf"
	refused m/a.log "is the destination upper/a.log$suf; $own" src d1 "upper/a.log$suf"
	# Named the other way round: the log by its layer path.
	refused upper/a.log "is the source m/a.log$suf; $own" "m/a.log$suf" d1
	refused upper/a.log "is the destination m/a.log$suf; $own" src "m/a.log$suf"
	rm "upper/a.log$suf"
	# In the lower layer (not copied up).
	cp src "lower/b.log$suf"
	refused m/b.log "is the source lower/b.log$suf; $own" "lower/b.log$suf" d1
	rm "lower/b.log$suf"
	# Neither there yet: a new destination by its layer path, the log's
	# file to be created through the overlay (which creates it there), or
	# the other way round.
	refused m/n.log "is the destination upper/n.log$suf; $own" src "upper/n.log$suf"
	refused upper/n.log "is the destination m/n.log$suf; $own" src d1 "m/n.log$suf"
done
# Not refused: a log in the overlay beside a source in its upper layer.
cp src upper/s
expect 0 copy -q --log m/ok.log upper/s d1
same src d1
same src upper/s
exit 0
