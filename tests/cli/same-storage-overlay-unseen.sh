#!/usr/bin/env bash
# An overlay whose layer directories no name reaches from here (as a
# container's root, mounted in another mount namespace: here the layers'
# tmpfs is unmounted lazily after the overlay is made): a copy of its files
# runs, saying it cannot check the layers (it used to be refused, which
# would refuse every copy of a container's files), and copies exactly.
. "$(dirname "$0")/common.bash"
need_root
need_cmd unshare
M=$((1024 * 1024))
mkdir hidden ov
unshare -m --propagation private bash -c '
	set -e
	mount -t tmpfs tmpfs hidden
	mkdir hidden/lo hidden/up hidden/wk
	head -c $((2 * 1024 * 1024)) /dev/urandom >hidden/lo/f
	cp hidden/lo/f f.orig
	mount -t overlay overlay -o lowerdir=$PWD/hidden/lo,upperdir=$PWD/hidden/up,workdir=$PWD/hidden/wk ov
	umount -l hidden
	[ ! -e hidden/lo ]
	r=0; "$KCOPYD" copy ov/f d >out 2>err || r=$?; echo $r >rc
	umount ov
' || skip "cannot make an overlay in a private mount namespace"
rc=$(cat rc)
[ "$rc" -eq 0 ] || { cat err; fail "exit $rc, expected 0"; }
grep -q "ov/f: warning: it is on an overlay whose layer $T/hidden/lo no name reaches from here" err ||
	{ cat err; fail "no warning about the unseen layer"; }
cmp -s d f.orig || fail "d does not hold the file"
exit 0
