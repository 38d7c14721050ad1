# Shared by test/bench/restart.sh and test/bench/inband.sh (sourced, bash): a work directory,
# group policies, gcksd started and stopped. Every wait is bounded.
# Needs: build (the build directory) set before sourcing.
work=$(mktemp -d /tmp/gikev2-bench.XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
db=$work/gcks.db ctl=$work/gcksd.sock
gcksd_pid=
bench_cleanup() {
	if [ -n "$gcksd_pid" ]; then kill -9 "$gcksd_pid" 2>/dev/null || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap bench_cleanup EXIT
# One PSK for every member: a benchmark, not a deployment.
( umask 077; printf 'bench-%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" > "$work/bench.psk" )

. "$src/test/bench/policy.sh"

# gcksd_start [ARGS...]: gcksd on 127.0.0.1:$port, its log in $work/gcksd.log (appended);
# returns when its control socket answers.
gcksd_start() {
	rm -f "$ctl"
	"$build/gcks/gcksd" --db "$db" --listen "127.0.0.1:$port" --control "$ctl" --log-level "${BENCH_LOG_LEVEL:-info}" \
		--foreground ${BENCH_GCKSD_ARGS:-} "$@" 2>>"$work/gcksd.log" &
	gcksd_pid=$!
	for _ in $(seq 1200); do [ -S "$ctl" ] && return 0; [ -d "/proc/$gcksd_pid" ] || break; sleep 0.05; done
	echo "gcksd did not start:"; tail -n 20 "$work/gcksd.log"; exit 1
}

# gcksd_kill: SIGKILL, as a crash; waits until the process is gone.
gcksd_kill() {
	kill -9 "$gcksd_pid" 2>/dev/null || true
	for _ in $(seq 200); do [ -d "/proc/$gcksd_pid" ] || break; sleep 0.05; done
	wait "$gcksd_pid" 2>/dev/null || true
	gcksd_pid=
}

# gcksd_check: says so when gcksd is gone (and how it ended); 1 then.
gcksd_check() {
	[ -n "$gcksd_pid" ] || return 1
	[ -d "/proc/$gcksd_pid" ] && [ "$(awk '{ print $3 }' "/proc/$gcksd_pid/stat" 2>/dev/null)" != Z ] && return 0
	local st=0
	wait "$gcksd_pid" 2>/dev/null || st=$?
	echo "gcksd (pid $gcksd_pid) is gone: exit status $st$( [ "$st" -gt 128 ] && echo " (signal $(( st - 128 )))")"
	gcksd_pid=
	return 1
}

# wait_pid PID SECONDS: waits for a child at most that long, then kills it; its exit status
wait_pid() {
	local i
	for i in $(seq $(( $2 * 10 ))); do
		[ -d "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ] || break
		sleep 0.1
	done
	if [ -d "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; then
		echo "pid $1 still running after $2 s: killed"
		kill -9 "$1" 2>/dev/null || true
	fi
	wait "$1"
}

# now: seconds with nanoseconds
now() { date +%s.%N; }
