#!/bin/sh
# make check's LOG_COMPILER: runs one test under a time limit (GK_TEST_TIMEOUT seconds, 900 by
# default), so a test that hangs fails with a line saying so instead of stalling the whole suite
# until CI's own limit ends it without a word. timeout(1) signals the test's whole process
# group, so the daemons a script started go with it; a script's EXIT trap still runs on SIGTERM.
limit=${GK_TEST_TIMEOUT:-900}
timeout -k 30 "$limit" "$@"
rc=$?
case $rc in
124 | 137) echo "not ok - $1 ran longer than $limit s (GK_TEST_TIMEOUT) and was stopped" ;;
esac
exit $rc
