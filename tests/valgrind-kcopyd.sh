#!/usr/bin/env bash
# Run the kcopyd command under valgrind, for the command's tests:
#   KCOPYD=tests/valgrind-kcopyd.sh tests/run-tests.sh BUILD cli valgrind
# A memory error or a definite/indirect leak makes the command exit 99, which
# every test then sees as a failure.  The real binary is $KCOPYD_REAL.
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--error-exitcode=99 "${KCOPYD_REAL:?}" "$@"
