#!/usr/bin/env bash
# --log-interval takes any number strtod reads (.5, 5e-1, +0.5, 0x10) that
# is finite and from 0.01 to 3600 seconds; the rest is refused (exit 2, the
# option named, nothing written).  Without --log it is refused: it sets how
# often the log is written (it was taken silently).
. "$(dirname "$0")/common.bash"

random src 65536
for v in .5 0.5 5e-1 +0.5 0x10 1e3 3600 0.01; do
	rm -f new x.log
	expect 0 copy --quiet --log-interval "$v" --log x.log src new
	same src new
done
files=(src)
rm -f new
for v in inf nan -.5 0 0.001 3601 1e9 .5x "" . 0x abc; do
	rm -f x.log
	refused "--log-interval '$v'" "--log-interval: '$v' must be a number of seconds" \
		copy --log-interval "$v" --log x.log src new
	[ ! -e x.log ] || fail "--log-interval '$v': a refused run left x.log"
done
refused "--log-interval without --log" "--log-interval applies to the log: it needs --log FILE" \
	copy --log-interval 1 src new
exit 0
