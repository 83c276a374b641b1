#!/usr/bin/env bash
# The log's directory is renamed or replaced during the run (a symbolic
# link in its path switched, or the directory moved away and another put
# in its place holding a file of the log's name): the log's rewrites, its
# temporary file and its lock stay in the directory found at set-up, and
# the other file of that name (here the source itself) is never replaced.
. "$(dirname "$0")/common.bash"
M=$((1024 * 1024))

swap_case() {   # NAME: how the directory is swapped
	rm -rf A B A.old ldir ldir.new dst
	mkdir A B
	random B/L $((8 * M)); cp B/L L.orig
	case $1 in
	symlink) ln -s A ldir; log=ldir/L ;;
	rename) log=A/L ;;
	esac
	"$KCOPYD" copy --rate 4M --log "$log" --log-interval 0.1 B/L dst >"$T/out" 2>"$T/err" </dev/null &
	local pid=$!
	signals_taken $pid || fail "$1: kcopyd did not start"
	for ((i = 0; i < 100; i++)); do [ -s A/L ] && break; sleep 0.02; done
	[ -s A/L ] || { cat "$T/err"; fail "$1: no log written in A"; }
	case $1 in
	symlink) ln -s B ldir.new && mv -T ldir.new ldir ;;
	rename) mv A A.old && mv B A ;;
	esac
	sleep 0.6                       # several rewrites after the swap
	kill -INT $pid; wait $pid
	rc=$?
	[ "$rc" -eq 130 ] || { cat "$T/err"; fail "$1: exit $rc, expected 130"; }
	local src=B/L old=A
	[ "$1" = rename ] && { src=A/L; old=A.old; }
	cmp -s "$src" L.orig || fail "$1: the source was replaced by the log's rewrite"
	head -n1 "$old/L" | grep -q "kcopyd copy log" || fail "$1: the log is not where set-up found it"
	[ ! -e "$src.tmp" ] && [ ! -e "$src.lock" ] || fail "$1: log files left beside the source"
}
swap_case symlink
swap_case rename
exit 0
