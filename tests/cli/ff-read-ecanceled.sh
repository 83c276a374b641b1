#!/usr/bin/env bash
# A read of the source that fails with ECANCELED (as io_uring's reads do
# when the kernel cannot start a worker thread, under ulimit -u) is a read
# error like any other: not taken for the run's own cancel, which only a
# stop signal asks for.  Exit 1, the error named at its byte, and the
# destination not ok; with --log, the JSON agrees.
. "$(dirname "$0")/faultfs.bash"
ff_begin
random m.back/s $((10 * M))
for e in "${ENGINES[@]}"; do
	rm -f d lg
	ff_rule m "read s off=2M len=1 err=125 whole=1"
	fk "$e" copy m/s d
	ff_fires m 0
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "$e: exit $rc, expected 1"; }
	err_has "m/s: read failed at byte $((2 * M)): Operation canceled"
	grep -q "d: ok" "$T/out" && fail "$e: d said ok"
	cmp -s -n $((2 * M)) m.back/s d || fail "$e: d does not hold the source below the failed read"
	rm -f d
	fk "$e" copy --json --log lg m/s d
	ff_clear m
	[ "$rc" -eq 1 ] || { cat "$T/err"; fail "$e, --log: exit $rc, expected 1"; }
	json_is "j['destinations'][0]['status']" failed
	json_is "j['source_error']['offset']" $((2 * M))
	k copy --log lg m/s d
	[ "$rc" -eq 0 ] || { cat "$T/err"; fail "$e: the resumed copy: exit $rc"; }
	same m.back/s d
done
exit 0
