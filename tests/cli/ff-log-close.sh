#!/usr/bin/env bash
# copy --log: the last rewrite of the log, which closes it, can fail too
# (here: the last write of its text fails with EIO).  That is said, with
# exit 1 and the JSON's log_error, though every destination holds its
# range (they are ok): the log on disk is left open, so that a rerun takes
# the run for one that crashed, and the user knows it.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random src $((8 * M))
# How many writes of the log's text a run makes: the last is the closing one.
ff_rule m "write lg.tmp after=1000000 err=EIO"
k copy -q --log m/lg --log-interval 3600 src d0
[ "$rc" -eq 0 ] || { cat "$T/err"; fail "the counting run: exit $rc"; }
n=$(sed -n 's/^0 seen=\([0-9]*\) .*/\1/p' m/.faultfs)
[ "${n:-0}" -ge 2 ] || { cat m/.faultfs; fail "the counting run wrote the log $n times"; }
ff_clear m; rm -f m.back/lg
for e in "${ENGINES[@]}"; do
	rm -f d m.back/lg
	ff_rule m "write lg.tmp after=$((n - 1)) err=EIO"
	fk "$e" copy --json --log m/lg --log-interval 3600 src d
	ff_fires m 0
	ff_clear m
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "$e: exit $rc, expected 1"; }
	err_has "cannot close the copy log: Input/output error"
	json_is "j['log_error']" "cannot close the copy log: Input/output error"
	json_is "j['destinations'][0]['status']" ok
	json_is "j['exit_code']" 1
	same src d
	grep -q "^state open" m.back/lg || { cat m.back/lg; fail "$e: the log on disk is not the open one"; }
done
exit 0
