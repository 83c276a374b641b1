#!/usr/bin/env bash
# Hostile input: a table of malformed command lines, each of which must be
# refused with exit 2 and a message on stderr that starts with "kcopyd:"
# and names the culprit, without changing a byte of anything: every file
# under the scratch directory (existing destinations included) keeps its
# checksum, and no file appears or disappears.  Covers sizes that overflow,
# negative, empty, blank, fractional or unitless-garbage sizes, bad counts,
# ranges past the end or overflowing, missing files and directories, every
# kind of path that is not a regular file or block device, a symlink loop, a
# dangling symlink, the source as its own destination by any name, a
# destination named twice, a read-only mount (root only), unknown or stray
# options and commands, missing arguments.  Ends with the count:
# "N hostile inputs: all refused with exit 2, nothing written".
# Every case runs even after one fails; the failures are listed at the end.
. "$(dirname "$0")/common.bash"

# ---- the scratch tree ------------------------------------------------------
random src $((1024 * 1024))       # the source: 1 MiB
random good 50000                 # an existing destination
random small 4096                 # a short existing destination
mkdir dir sub
mkfifo fifo
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock
ln -s loop1 loop2; ln -s loop2 loop1
ln -s nowhere/at/all dangling
ln -s src link
ln src hard
ro_ok=0
if [ "$(id -u)" -eq 0 ]; then
	mkdir ro
	if mount -t tmpfs -o size=1m tmpfs ro 2>/dev/null; then
		_mounts+=("$T/ro")
		random ro/old 3000
		mount -o remount,ro ro 2>/dev/null && ro_ok=1
	fi
fi
devnew=/dev/kcopyd-hostile-$$

# Everything under $T but the last run's out and err: type, name, size,
# and the checksum of every regular file.
snapshot() {
	find . \( -path ./out -o -path ./err \) -prune -o -printf '%y %p %s\n' \
		-type f -exec sha256sum {} +
}
before=$(snapshot)
[ -n "$before" ] || fail "no snapshot"

n=0 skipped=0 failures=()
bad() { failures+=("$n [$label]: kcopyd ${args[*]@Q}: $*"); }

# h LABEL CULPRIT ARGS...: kcopyd ARGS must exit 2, print a "kcopyd:" line
# on stderr that contains CULPRIT (when not empty), and change nothing.
h() {
	local label=$1 culprit=$2 after
	shift 2
	local args=("$@")
	n=$((n + 1))
	timeout -s KILL 60 "$KCOPYD" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" -ne 137 ] || bad "killed after 60 s: it hung"
	[ "$rc" -eq 2 ] || bad "exit $rc, expected 2"
	grep -q '^kcopyd: ' "$T/err" || bad "no message starting with 'kcopyd:' on stderr"
	if [ -n "$culprit" ] && ! grep '^kcopyd: ' "$T/err" | grep -qF -- "$culprit"; then
		bad "message does not name '$culprit'"
	fi
	grep -qE 'Sanitizer|runtime error|Assertion' "$T/err" && bad "sanitizer or assertion output"
	after=$(snapshot)
	if [ "$after" != "$before" ]; then
		bad "files changed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
		before=$after       # judge the next cases on their own
	fi
	[ ! -e "$devnew" ] || { rm -f "$devnew"; bad "created $devnew"; }
	if [ ${#failures[@]} -gt 0 ] && [[ ${failures[-1]} == "$n "* ]]; then
		echo "FAILED $n: $label"; sed 's/^/    stderr: /' "$T/err" | head -n 5
	else
		local msg
		msg=$(grep -m1 '^kcopyd: ' "$T/err")
		printf 'ok %3d  %-44s %s\n' "$n" "$label" "${msg:0:140}"
	fi
}

# ---- the table -------------------------------------------------------------
# Sizes.
h "length 2^64 overflows"            --length copy --length 18446744073709551616 src good new
h "length 16E overflows"             "too large" copy --length 16E src good new
h "offset 99999999999T overflows"    "too large" copy --offset 99999999999T src good new
h "length 8E is past off_t"          "too large" copy --length 8E src good new
h "dest-offset 2^63 is past off_t"   "too large" copy --dest-offset 9223372036854775808 src good new
h "length of 40 digits"              --length copy --length 9999999999999999999999999999999999999999 src good new
h "negative length"                  "'-1'" copy --length -1 src good new
h "negative offset"                  "'-512'" copy --offset -512 src good new
h "negative dest-offset"             --dest-offset copy --dest-offset -4K src good new
h "negative pages"                   --pages copy --pages -1 src good new
h "unknown unit MB"                  "'10MB'" copy --length 10MB src good new
h "unknown unit Q"                   "'1Q'" copy --length 1Q src good new
h "unknown unit Ki"                  "'4Ki'" copy --offset 4Ki src good new
h "unit without digits"              "'K'" copy --length K src good new
h "empty size"                       --length copy --length '' src good new
h "blank size"                       --length copy --length ' ' src good new
h "leading space in size"            --offset copy --offset ' 512' src good new
h "trailing space in size"           --length copy --length '512 ' src good new
h "newline in size"                  --length copy --length $'512\n' src good new
h "fractional size 1.5M"             "'1.5M'" copy --length 1.5M src good new
h "fractional size 0.5"              "'0.5'" copy --length 0.5 src good new
h "exponent 1e6"                     "'1e6'" copy --length 1e6 src good new
h "hexadecimal 0x1000"               "'0x1000'" copy --offset 0x1000 src good new
h "size given as --length=abc"       "'abc'" copy --length=abc src good new
h "second --offset is bad"           "'x'" copy --offset 0 --offset x src good new
h "zero: --length garbage"           --length zero --length 1x good
# Counts and tuning.
h "--pages 0"                        --pages copy --pages 0 src good new
h "--pages huge"                     --pages copy --pages 1048577 src good new
h "--pages of 23 digits"             --pages copy --pages 99999999999999999999999 src good new
h "--pages 2.5"                      --pages copy --pages 2.5 src good new
h "--queue-depth 0"                  --queue-depth copy --queue-depth 0 src good new
h "--queue-depth 4097"               --queue-depth copy --queue-depth 4097 src good new
h "--sub-job-size 1000"              --sub-job-size copy --sub-job-size 1000 src good new
h "--sub-job-size 6K (not 4K-multiple)" --sub-job-size copy --sub-job-size 6K src good new
h "--sub-job-size 4097"              --sub-job-size copy --sub-job-size 4097 src good new
h "--sub-job-size 0"                 --sub-job-size copy --sub-job-size 0 src good new
h "--sub-job-size 2G"                --sub-job-size copy --sub-job-size 2G src good new
h "--rate garbage"                   "'fast'" copy --rate fast src good new
h "--rate 5Mbps"                     "'5Mbps'" copy --rate 5Mbps src good new
h "--rate -1"                        --rate copy --rate -1 src good new
# Ranges.
h "offset not a multiple of 512"     "not a multiple of 512" copy --offset 100 src good new
h "dest-offset not a multiple of 512" "not a multiple of 512" copy --dest-offset 1000 src good new
h "offset past the end of the source" "src: --offset 2097152 is past the end of the regular file" copy --offset 2M src good new
h "length past the end of the source" "past the end" copy --length 2M src good new
h "offset at the end plus 512"       "past the end" copy --offset 1M --length 512 src good new
h "range straddles the end"          "past the end" copy --offset 1023K --length 2K src good new
h "length 0 at an offset past the end" "past the end" copy --offset 2M --length 0 src good new
h "offset 2^62"                      src copy --offset 4611686018427387904 src good new
h "offset+length overflow 4E+4E"     "too large" copy --offset 4E --length 4E src good new
h "offset+length overflow 512+max"   "" copy --offset 512 --length 9223372036854775807 src good new
h "dest-offset+length past off_t"    "too large" copy --dest-offset 9007199254740991K src good new
h "dest-offset max aligned"          "too large" copy --dest-offset 9223372036854775296 src good new
h "zero: offset past the end"        "past its end" zero --offset 8K small
h "zero: offset+length overflow"     "too large" zero --offset 4E --length 4E good
h "zero: --offset and --dest-offset differ" "--dest-offset" zero --offset 512 --dest-offset 1024 good
h "zero: offset not a multiple of 512" "not a multiple of 512" zero --offset 100 --length 512 good
h "verify: offset past the end"      "src: --offset 2097152 is past the end" verify --offset 2M src good
h "verify: length past the end"      "past the end" verify --length 2M src good
# Paths that are not there, or not files.
h "missing source"                   missing copy missing good new
h "empty source path"                "No such file" copy '' good new
h "missing destination directory"    no/such/dir/file copy src good no/such/dir/file
h "a file used as a directory"       good/x copy src new good/x
h "source with a trailing slash"     src/ copy src/ good new
h "new destination with a trailing slash" new/ copy src good new/
h "empty destination path"           "" copy src good new ''
h "source name past NAME_MAX"       "File name too long" copy "$(printf 'a%.0s' $(seq 300))" good new
h "destination name past NAME_MAX"  "File name too long" copy src good "$(printf 'a%.0s' $(seq 300))"
h "destination path past PATH_MAX"  "File name too long" copy src good "$(printf 'd%.0s/' $(seq 2100))x"
h "directory as source"              "dir: is a directory" copy dir good new
h "directory as destination"         "dir: is a directory" copy src good new dir
h "/dev/null as source"              "/dev/null: is a character device" copy /dev/null good new
h "/dev/zero as source"              "/dev/zero: is a character device" copy /dev/zero good new
h "/dev/null as destination"         "/dev/null: is a character device" copy src good new /dev/null
h "/dev/zero as destination"         "/dev/zero: is a character device" copy src good new /dev/zero
h "zero of /dev/zero"                "/dev/zero" zero good /dev/zero
h "FIFO as source"                   "fifo: is a FIFO" copy fifo good new
h "FIFO as destination"              "fifo: is a FIFO" copy src good new fifo
h "socket as source"                 "sock: is a socket" copy sock good new
h "socket as destination"            "sock: is a socket" copy src good new sock
h "symlink loop as source"           "loop1" copy loop1 good new
h "symlink loop as destination"      "loop2" copy src good new loop2
h "dangling symlink as source"       dangling copy dangling good new
h "dangling symlink as destination"  dangling copy src good new dangling
h "verify against a FIFO"            fifo verify src fifo
h "info of a FIFO"                   fifo info fifo
h "new file in /dev"                 "$devnew" copy src good "$devnew"
# The source as its own destination.
h "source as destination"            "is the source" copy src good src
h "source as ./destination"          "is the source" copy src good ./src
h "source through a symlink"         "is the source" copy src good link
h "source through a hard link"       "is the source" copy src good hard
h "source by absolute path"          "is the source" copy src good "$T/src"
h "source by sub/../src"             "is the source" copy src good sub/../src
h "source as destination, overlapping dest-offset" "is the source" copy --dest-offset 512 src src
h "source through a symlink, overlapping ranges" "is the source" copy --offset 512K --length 256K --dest-offset 640K link src
# A destination named twice.
h "destination named twice"          "named twice" copy src good good
h "destination named twice, ./"      "named twice" copy src good ./good
h "new destination named twice"      "named twice" copy src new new
h "new destination, sub/../new"      "named twice" copy src new sub/../new
h "zero: destination named twice"    "named twice" zero good "$T/good"
# A read-only mount.
if [ "$ro_ok" -eq 1 ]; then
	h "file on a read-only mount"     "Read-only file system" copy src good ro/old
	h "new file on a read-only mount" "Read-only file system" copy src good ro/new
	h "zero on a read-only mount"     "Read-only file system" zero good ro/old
else
	echo "skipped: the read-only mount cases (not root, or tmpfs cannot be mounted)"
	skipped=3
fi
# Usage.
h "no arguments at all"              "" # (nothing)
h "unknown command"                  "'frobnicate'" frobnicate src good
h "an abbreviated command"           "'cop'" cop src good new
h "a command in capitals"            "'COPY'" COPY src good new
h "an option for a command"          "'--json'" --json copy src good new
h "unknown long option"              "--no-such-option" copy --no-such-option src good new
h "ambiguous abbreviation --no"      "--no" copy --no src good new
h "unknown short option"             "-x" copy -x src good new
h "unknown short option after -q"    "-qx" copy -qx src good new
h "unknown short option before -q"   "-xq" copy -xq src good new
h "missing argument at the end"      "--length" copy src good --length
h "copy without a destination"       "SOURCE DEST" copy src
h "copy with nothing"                "SOURCE DEST" copy
h "zero with nothing"                "DEVICE" zero
h "verify with one path"             "SOURCE DEST" verify src
h "info with nothing"                "DEVICE" info
# shellcheck disable=SC2046
h "33 destinations"                  "at most 32" copy src good $(printf 'n%d ' $(seq 1 32))
# Options of one command given to another.
h "info --length"                    "--length" info --length 1M src
h "info --force"                     "--force" info --force src
h "zero --verify"                    "--verify" zero --verify good
h "zero --sparse"                    "--sparse" zero --sparse good
h "verify --pages"                   "--pages" verify --pages 4 src good
h "verify --rate"                    "--rate" verify --rate 1M src good
h "verify --direct"                  "--direct" verify --direct src good
# copy --log FILE, --log-interval SECONDS (where this kcopyd has them).
if "$KCOPYD" --help 2>/dev/null | grep -q -- '--log FILE'; then
	h "--log with an empty name"      --log copy --log '' src good new
	h "--log-interval 0"              --log-interval copy --log-interval 0 --log x.log src good new
	h "--log-interval -1"             --log-interval copy --log-interval -1 --log x.log src good new
	h "--log-interval 3601"           --log-interval copy --log-interval 3601 --log x.log src good new
	h "--log-interval abc"            --log-interval copy --log-interval abc --log x.log src good new
	h "--log-interval nan"            --log-interval copy --log-interval nan --log x.log src good new
	h "--log-interval of 400 digits"  --log-interval copy --log-interval "$(printf '9%.0s' $(seq 400))" --log x.log src good new
	h "--log in a missing directory"  no/such/x.log copy --log no/such/x.log src good new
	h "--log is a directory"          "--log dir" copy --log dir src good new
	h "--log is a FIFO"               "--log fifo" copy --log fifo src good new
	h "--log is /dev/null"            "--log /dev/null" copy --log /dev/null src good new
	h "--log is the source"           "--log src" copy --log src src good new
	h "--log is a destination"        "--log good" copy --log good src good new
	h "--log is the new destination"  "--log new" copy --log new src good new
	h "--log is a symlink to the source" "--log link" copy --log link src good new
	h "--log is a hard link to the source" "--log hard" copy --log hard src good new
	h "--log with a bad size"         --length copy --log x.log --length 1x src good new
	h "--log with a missing source"   missing copy --log x.log missing good new
	h "zero --log"                    --log zero --log x.log good
	h "verify --log"                  --log verify --log x.log src good
	h "info --log-interval"           --log-interval info --log-interval 1 src
else
	echo "skipped: the --log cases (this kcopyd has no --log)"
fi
# --json does not change the exit code or the message.
h "--json with a bad size"           "--length" copy --json --length 1x src good new
h "--json with a missing source"     missing copy --json missing good new
# ... and the JSON summary on stdout says so.
"$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
assert j["exit_code"] == 2 and "missing" in j["error"], j' "$T/out" ||
	failures+=("--json: stdout is not a JSON summary with exit_code 2: $(cat "$T/out")")

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "$(printf '%s\n' "${failures[@]}" | grep -oE '^[0-9]+ ' | sort -u | wc -l) of $n hostile inputs mishandled:"
	printf '  %s\n' "${failures[@]}"
	exit 1
fi
[ "$n" -ge 40 ] || fail "only $n cases"
note=
[ "$skipped" -eq 0 ] || note=" ($skipped read-only mount cases skipped)"
echo "$n hostile inputs: all refused with exit 2, nothing written$note"
exit 0
