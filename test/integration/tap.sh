# Sourced by the integration scripts: their result lines (TAP-like "ok - ..." / "not ok - ...",
# failures counted in $fails) and check, which runs a command as one check. Needs $W (the
# script's work directory) and fails=0 set before use.
ok() { echo "ok - $1"; }
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
