# Sourced by the integration scripts: their result lines (TAP-like "ok - ..." / "not ok - ...",
# failures counted in $fails), check, which runs a command as one check, skip, the sanitizer
# check, and the helpers every script needs (wait_for, free_port, show_logs). check needs $W (the
# script's work directory) and fails=0 set before use; skip needs neither.
ok() { echo "ok - $1"; }
# wait_for SECONDS CMD...: until CMD succeeds, polled every 0.1 s (wait for markers, never sleep
# a fixed time); fails after SECONDS.
wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
# free_port [SOCK_DGRAM|SOCK_STREAM]: a port free on 127.0.0.1 now (UDP unless told), never one
# this script was given before (the kernel may hand the same free port out twice before anyone
# binds it; the ports given are kept in $W/.ports_given).
free_port() {
	local p f=${W:+$W/.ports_given}
	for _ in 1 2 3 4 5 6 7 8; do
		p=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.'"${1:-SOCK_DGRAM}"'); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		if [ -z "$f" ] || ! grep -qx "$p" "$f" 2>/dev/null; then
			break
		fi
	done
	[ -n "$f" ] && echo "$p" >>"$f"
	echo "$p"
}
# show_logs FILE...: the last 40 lines of each file that exists, as TAP diagnostics (for a
# script's cleanup when a check failed).
show_logs() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		echo "# ---- $(basename "$f") (last 40 lines)"
		tail -n 40 "$f" | sed 's/^/# /'
	done
}
not_ok() { echo "not ok - $1"; fails=$((fails + 1)); }
# check DESC COMMAND...: one line, with the command's output as diagnostics on failure.
check() {
	local desc=$1
	shift
	if "$@" >"$W/check.out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		sed 's/^/#   /' "$W/check.out"
	fi
}
# skip REASON: the script cannot run here (not root, a program or package missing): exit 77,
# which make check reports as SKIP. With GK_REQUIRE_ALL=1 (CI, which runs as root with every
# package of tools/deps) that is a failure instead: nothing may skip there.
skip() {
	if [ "${GK_REQUIRE_ALL:-0}" = 1 ]; then
		echo "not ok - cannot run here: $* (GK_REQUIRE_ALL=1: no test may skip)"
		exit 99
	fi
	echo "SKIP: $*"
	exit 77
}
# sanitizer_check DESC LOG...: one check that no log holds an AddressSanitizer, LeakSanitizer or
# UndefinedBehaviorSanitizer report. Only a sanitizer build can write one: make check passes
# GK_SANITIZERS=yes there (configure --enable-sanitizers, as make check-sanitizers does); in
# any other build the line says the check was not run.
sanitizer_check() {
	local desc=$1
	shift
	if [ "${GK_SANITIZERS:-no}" != yes ]; then
		echo "ok - $desc # SKIP not a sanitizer build (make check-sanitizers runs this check)"
		return 0
	fi
	check "$desc" sanitizer_clean "$@"
}
# sanitizer_clean LOG...: no report in any of the logs (grep status 1); a report (0) or a log
# that cannot be read (2) fails.
sanitizer_clean() {
	local rc=0
	grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|Sanitizer has encountered a fatal error|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$@" || rc=$?
	[ "$rc" = 1 ]
}
