#!/usr/bin/env bash
# --help, --version and usage errors of gcksd, gcksctl and gmd: --help prints the usage to
# stdout and exits 0; --version prints exactly "PROGRAM (gikev2) VERSION" with configure's
# version (GK_PACKAGE_VERSION) and exits 0; an unknown option or a missing argument prints to
# stderr only and exits 1. Finds the programs through GK_BUILDDIR.
set -euo pipefail

B=${GK_BUILDDIR:-$(pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/gk-cli.XXXXXX")
fails=0
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/tap.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"

V=${GK_PACKAGE_VERSION:-}
[ -n "$V" ] || { echo "not ok - GK_PACKAGE_VERSION is not set (make check sets it from configure)"; exit 99; }

# run NAME PROGRAM ARGS...: exit code in $W/NAME.rc, output in $W/NAME.out and $W/NAME.err
run() {
	local n=$1 rc=0
	shift
	"$@" >"$W/$n.out" 2>"$W/$n.err" </dev/null || rc=$?
	echo "$rc" >"$W/$n.rc"
}
expect() { # DESC NAME RC STDOUT-TEST STDERR-TEST
	local desc=$1 n=$2 rc=$3 out=$4 err=$5 got
	got=$(cat "$W/$n.rc")
	if [ "$got" = "$rc" ] && $out "$W/$n.out" && $err "$W/$n.err"; then
		ok "$desc"
	else
		not_ok "$desc"
		echo "#   exit $got (want $rc); stdout:"
		sed 's/^/#     /' "$W/$n.out"
		echo "#   stderr:"
		sed 's/^/#     /' "$W/$n.err"
	fi
}
empty() { [ ! -s "$1" ]; }
nonempty() { [ -s "$1" ]; }

for p in gcks/gcksd gcks/gcksctl member/gmd; do
	prog=${p#*/}
	[ -x "$B/$p" ] || { echo "not ok - $B/$p is not built"; exit 99; }
	version_line() { [ "$(cat "$1")" = "$prog (gikev2) $V" ]; }
	usage_first() { head -n1 "$1" | grep -q "^usage: $prog "; }
	run "$prog-version" "$B/$p" --version
	expect "$prog --version prints '$prog (gikev2) $V' on stdout, exit 0" "$prog-version" 0 version_line empty
	run "$prog-help" "$B/$p" --help
	expect "$prog --help prints the usage on stdout, exit 0" "$prog-help" 0 usage_first empty
	run "$prog-h" "$B/$p" -h
	expect "$prog -h is --help" "$prog-h" 0 usage_first empty
	run "$prog-bad" "$B/$p" --no-such-option
	expect "$prog --no-such-option: stderr only, exit 1" "$prog-bad" 1 empty nonempty
	run "$prog-none" "$B/$p"
	expect "$prog without arguments: stderr only, exit 1" "$prog-none" 1 empty nonempty
done
# a missing option value and stray arguments are usage errors too
run gcksd-noval "$B/gcks/gcksd" --db
expect "gcksd --db without a value: stderr only, exit 1" gcksd-noval 1 empty nonempty
run gcksd-extra "$B/gcks/gcksd" --db "$W/x.db" extra
expect "gcksd with a stray argument: stderr only, exit 1" gcksd-extra 1 empty nonempty
run gcksctl-cmd "$B/gcks/gcksctl" --db "$W/x.db" no-such-command
expect "gcksctl with an unknown command: stderr only, exit 1" gcksctl-cmd 1 empty nonempty
run gmd-noval "$B/member/gmd" --gcks
expect "gmd --gcks without a value: stderr only, exit 1" gmd-noval 1 empty nonempty
exit $(( fails ? 1 : 0 ))
