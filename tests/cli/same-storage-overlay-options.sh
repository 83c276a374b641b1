#!/usr/bin/env bash
# An overlay's layers as its mount options name them, however they are
# written, and all of them: refused as the same storage (exit 2, nothing
# written) whatever the layer paths hold.  Layers given to fsconfig (no
# escapes: a ',' shows as \054 in mountinfo, a '\' in a "lowerdir+=" path
# is one), a legacy "upperdir=" with an escaped ',', a mountinfo line
# longer than 4096 bytes (its upperdir printed last), and more than 64
# lower layers.
. "$(dirname "$0")/common.bash"
need_root
M=$((1024 * 1024))
OVLMOUNT=${OVLMOUNT:-${KCOPYD_BUILD:-}/tests/ovlmount/ovlmount}

mkdir lo l2 up w
random lo/a $M
ovl "$T/m0" "lowerdir=$T/lo,upperdir=$T/up,workdir=$T/w" || skip "cannot mount overlayfs"
umount "$T/m0"

# fsconfig: "lowerdir+=" paths with ',' and '\' in them, an upperdir
# with ','.
if [ -x "$OVLMOUNT" ]; then
	mkdir -p "f/lo,a" 'f/lo\b' "f/up,x" f/w f/m
	random "f/lo,a/f" $M
	random 'f/lo\b/g' $M
	random "f/lo,a/h" $M
	cp "f/lo,a/f" f.orig
	cp 'f/lo\b/g' g.orig
	"$OVLMOUNT" "$T/f/m" "lowerdir+=$T/f/lo,a" "lowerdir+=$T/f/lo\\b" \
		"upperdir=$T/f/up,x" "workdir=$T/f/w"
	case $? in
	0)
		_mounts+=("$T/f/m")
		shares_refused f/m/f "f/lo,a/f"
		shares_refused f/m/g 'f/lo\b/g'
		same f.orig "f/lo,a/f"
		same g.orig 'f/lo\b/g'
		# A new file in the upper layer is the overlay's file there.
		shares_refused f/m/h "f/up,x/h"
		[ ! -e "f/up,x/h" ] || fail "up,x/h was created"
		umount "$T/f/m"
		;;
	77) echo "no fsconfig here: its part skipped" ;;
	*) fail "ovlmount" ;;
	esac
fi

# A legacy upperdir with an escaped ',': the log named by the upper
# layer's name of the new destination is that destination.
mkdir -p o5/lo "o5/up2,y" o5/w o5/mnt2
random o5/src $M
if ovl "$T/o5/mnt2" "lowerdir=$T/o5/lo,upperdir=$T/o5/up2\\,y,workdir=$T/o5/w"; then
	expect 2 copy o5/src o5/mnt2/new --log "o5/up2,y/new"
	err_has "--log o5/up2,y/new"
	[ ! -e o5/mnt2/new ] || fail "the destination was created"
fi

# A mountinfo line longer than 4096 bytes: five lower layers of 250
# spaces each (\040 in mountinfo: 1000 bytes each), the upperdir last.
sp=$(printf '%250s' '')
lower=
for i in 1 2 3 4 5; do
	mkdir -p "long/$i/$sp"
	lower+="${lower:+:}$T/long/$i/$sp"
done
mkdir -p long/up long/w long/m
random "long/1/$sp/f" $M
cp "long/1/$sp/f" lf.orig
random lsrc $M
if ovl "$T/long/m" "lowerdir=$lower,upperdir=$T/long/up,workdir=$T/long/w"; then
	[ "$(grep -F "$T/long/m " /proc/self/mountinfo | wc -c)" -gt 4096 ] ||
		fail "the mountinfo line is not longer than 4096 bytes"
	shares_refused long/m/f long/up/f
	[ ! -e long/up/f ] || fail "long/up/f was created"
	# Two new destinations, one file: the overlay creates it upper.
	expect 2 copy lsrc long/up/n long/m/n
	err_has "named twice"
	[ ! -e long/up/n ] || fail "a destination was created"
	same lf.orig "long/1/$sp/f"
fi

# 70 lower layers: the 65th holds the file.
lower=
for i in $(seq 1 70); do
	mkdir -p "many/$i"
	lower+="${lower:+:}$T/many/$i"
done
random many/65/h $M
cp many/65/h h.orig
mkdir -p many/up many/w many/m
if ovl "$T/many/m" "lowerdir=$lower,upperdir=$T/many/up,workdir=$T/many/w"; then
	shares_refused many/m/h many/65/h
	same h.orig many/65/h
fi
exit 0
