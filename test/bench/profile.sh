#!/usr/bin/env bash
# The deterministic figure of the registration benchmark (`make bench-profile`): instructions
# per registration, counted by valgrind's callgrind, which a shared or noisy machine does not
# change (timed figures do). Future sessions compare this one.
# Loads a policy of PROFILE_MEMBERS members (default 2000) as test/bench/run.sh does, runs gcksd
# under callgrind (PROFILE_TARGET=gcksd, the default) or the load generator
# test/bench/bench_register under callgrind against a plain gcksd (PROFILE_TARGET=generator),
# registers every member once, PROFILE_CONCURRENCY (8: few enough that no request waits past
# the members' 1 s retransmission timeout under callgrind; retransmissions are printed) at a
# time, and prints
#   - instructions per registration of the whole process (its start and stop included, spread
#     over the registrations), and inside gk_gcks_input (gcksd: the registrations alone);
#   - the self instructions per registration grouped by category (as perf_categories.awk
#     groups perf's samples: libcrypto, SQLite, libc allocation, the kernel's share is not
#     counted: callgrind sees user space only);
#   - the top 25 functions by inclusive instructions.
# gcksd, started as root, drops to the user gikev2, and callgrind writes its file as that
# user: so when run as root the whole script runs again as gikev2 (runuser), and the build
# directory must be readable by it (chmod 755 on the path). Every registration pays no COOKIE
# round: gcksd runs with --cookie-rate above any rate callgrind allows (see run.sh).
# Knobs: PROFILE_MEMBERS, PROFILE_CONCURRENCY, PROFILE_TARGET, PROFILE_GCKSD_ARGS (more gcksd
# options, e.g. "--dh-reuse 64"), PROFILE_REGISTER_ARGS (more bench_register options, e.g.
# --fresh-dh), PROFILE_DIR (where cg.out stays; default a new directory in
# /tmp), BENCH_LOG_LEVEL (info).
set -euo pipefail
build=${1:?usage: profile.sh BUILDDIR SRCDIR}
src=${2:?usage: profile.sh BUILDDIR SRCDIR}
build=$(cd "$build" && pwd) src=$(cd "$src" && pwd)
if [ "$(id -u)" = 0 ] && id gikev2 >/dev/null 2>&1; then
	if ! runuser -u gikev2 -- test -x "$build/gcks/gcksd"; then
		echo "profile.sh: user gikev2 cannot run $build/gcks/gcksd (chmod 755 every directory on the path)"
		exit 1
	fi
	exec runuser -u gikev2 -- env PATH="$PATH" PROFILE_MEMBERS="${PROFILE_MEMBERS:-}" \
		PROFILE_CONCURRENCY="${PROFILE_CONCURRENCY:-}" PROFILE_TARGET="${PROFILE_TARGET:-}" \
		PROFILE_GCKSD_ARGS="${PROFILE_GCKSD_ARGS:-}" PROFILE_REGISTER_ARGS="${PROFILE_REGISTER_ARGS:-}" PROFILE_DIR="${PROFILE_DIR:-}" \
		BENCH_LOG_LEVEL="${BENCH_LOG_LEVEL:-}" "$0" "$build" "$src"
fi
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
	{ echo "profile.sh: valgrind (callgrind, callgrind_annotate) is needed"; exit 1; }
members=${PROFILE_MEMBERS:-2000}
members=${members:-2000}
concurrency=${PROFILE_CONCURRENCY:-8}
concurrency=${concurrency:-8}
target=${PROFILE_TARGET:-gcksd}
target=${target:-gcksd}
log_level=${BENCH_LOG_LEVEL:-info}
log_level=${log_level:-info}
case $target in gcksd|generator) ;; *) echo "profile.sh: PROFILE_TARGET is gcksd or generator"; exit 2;; esac
work=$(mktemp -d /tmp/gikev2-profile.XXXXXX)
out=${PROFILE_DIR:-$work}
mkdir -p "$out"
gcksd_pid=
cleanup() {
	if [ -n "$gcksd_pid" ]; then kill "$gcksd_pid" 2>/dev/null || true; fi
	rm -f "$work/gcks.db"* "$work/bench.psk"
}
trap cleanup EXIT
port=$(( 20000 + RANDOM % 20000 ))
db=$work/gcks.db ctl=$work/gcksd.sock
( umask 077; printf 'bench-%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" > "$work/bench.psk" )
. "$src/test/bench/policy.sh"
policy "$work/bench.yaml" keyid:bench-1 "$members" 0 multicast # the group of run.sh
"$build/gcks/gcksctl" --db "$db" init --id fqdn:gcks.example >/dev/null
"$build/gcks/gcksctl" --db "$db" --control "$ctl" policy load "$work/bench.yaml" 2>&1 | grep -v 'not running' || true

# no COOKIE round: --cookie-rate far above what a run under callgrind reaches
gcksd_args=(--db "$db" --listen "127.0.0.1:$port" --control "$ctl" --log-level "$log_level" --foreground
	--cookie-rate 1000000)
# shellcheck disable=SC2206
extra=(${PROFILE_GCKSD_ARGS:-})
cg=(valgrind --tool=callgrind --callgrind-out-file="$out/cg.out")
echo "== callgrind on $target: $members registrations, $concurrency in flight${PROFILE_GCKSD_ARGS:+, gcksd $PROFILE_GCKSD_ARGS}"
if [ "$target" = gcksd ]; then
	"${cg[@]}" "$build/gcks/gcksd" "${gcksd_args[@]}" "${extra[@]}" 2>"$work/gcksd.log" &
else
	"$build/gcks/gcksd" "${gcksd_args[@]}" "${extra[@]}" 2>"$work/gcksd.log" &
fi
gcksd_pid=$!
for _ in $(seq 1200); do [ -S "$ctl" ] && break; [ -d "/proc/$gcksd_pid" ] || break; sleep 0.1; done
[ -S "$ctl" ] || { echo "gcksd did not start:"; tail -n 20 "$work/gcksd.log"; exit 1; }
# valgrind runs gcksd as its child process image: the pid is the same
# shellcheck disable=SC2206
reg=("$build/test/bench/bench_register" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl"
	--psk-file "$work/bench.psk" --members "$members" --concurrency "$concurrency" --settle-seconds 0
	${PROFILE_REGISTER_ARGS:-})
rc=0
if [ "$target" = gcksd ]; then
	timeout 1800 "${reg[@]}" >"$work/register.out" || rc=$?
else
	timeout 1800 "${cg[@]}" "${reg[@]}" >"$work/register.out" 2>"$work/callgrind.log" || rc=$?
fi
grep -E '^registrations:|^COOKIE' "$work/register.out" || true
kill -TERM "$gcksd_pid" 2>/dev/null || true
for _ in $(seq 600); do [ -d "/proc/$gcksd_pid" ] || break; sleep 0.1; done
wait "$gcksd_pid" 2>/dev/null || true
gcksd_pid=
[ "$rc" = 0 ] || { echo "bench_register failed ($rc):"; tail -n 5 "$work/register.out"; tail -n 5 "$work/gcksd.log"; exit 1; }
[ -s "$out/cg.out" ] || { echo "no callgrind output"; exit 1; }

# the warm-up member registers too: members registrations in all
callgrind_annotate --auto=no --inclusive=yes "$out/cg.out" 2>/dev/null >"$work/incl.txt"
callgrind_annotate --auto=no --threshold=100 "$out/cg.out" 2>/dev/null >"$work/self.txt"
awk -v n="$members" -v t="$target" '
	/PROGRAM TOTALS/ { gsub(/,/, "", $1); printf "instructions per registration, whole %s process: %d\n", t, $1 / n }
	/gcks_core.c:gk_gcks_input / { gsub(/,/, "", $1); printf "instructions per registration in gk_gcks_input: %d\n", $1 / n }' "$work/incl.txt"
echo
echo "== self instructions per registration by category ($target, user space only)"
# callgrind_annotate lines: "COUNT (PCT)  FILE:FUNCTION [OBJECT]"; without an object, a file
# of glibc's sources (./malloc/..., ./nptl/...) is libc's, any other the program's own
prog=gcksd; [ "$target" = gcksd ] || prog=bench_register
awk -v prog="$prog" '
	/^ *[0-9,]+ +\(/ && !/PROGRAM TOTALS/ {
		c = $1; gsub(/,/, "", c)
		fn = $0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", fn)
		obj = ""
		if (match(fn, / \[[^]]*\]$/)) { obj = substr(fn, RSTART + 2, RLENGTH - 3); fn = substr(fn, 1, RSTART - 1) }
		else if (fn ~ /^\.\//) obj = "libc.so.6"
		else obj = prog
		sub(/.*\//, "", obj); sub(/^.*:/, "", fn)
		print c "\t" obj "\t" fn
	}' "$work/self.txt" |
	awk -F'\t' -v n="$members" -f "$src/test/bench/categories.awk" -f "$src/test/bench/cg_categories.awk"
echo
echo "== top 25 functions by inclusive instructions per registration ($target)"
# a function may be listed twice (its file named two ways): once here
awk -v n="$members" '
	/^ *[0-9,]+ +\(/ && !/PROGRAM TOTALS/ {
		c = $1; gsub(/,/, "", c)
		fn = $0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", fn)
		obj = ""
		if (match(fn, / \[[^]]*\]$/)) { obj = substr(fn, RSTART + 2, RLENGTH - 3); fn = substr(fn, 1, RSTART - 1) }
		sub(/.*\//, "", obj); f = fn; sub(/^.*:/, "", f)
		if (f in seen) next
		seen[f] = 1
		if (++k > 25) exit
		printf "  %10d  %-60s %s\n", c / n, substr(fn, 1, 60), obj != "" ? "[" obj "]" : ""
	}' "$work/incl.txt"
echo
echo "profile: $out/cg.out (callgrind_annotate --inclusive=yes; --tree=caller)"
