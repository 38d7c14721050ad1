#!/usr/bin/env bash
# The restart scenario of `make bench` (`make bench-restart` alone; README "Performance"):
# RESTART_MEMBERS members (PSK, one multicast group) register, gcksd is killed (SIGKILL, as a
# crash) and started again, and every member registers again at a random time 1 s to
# RESTART_WINDOW s later, as gmd spreads its members with --rereg-delay. Prints the time gcksd
# took to start on its database, the time until every member is back, gcksd's peak memory
# (VmHWM) over the storm, refused and failed registrations, COOKIE rounds, retransmissions and
# the registrations' latency (from when each was due).
# Knobs: RESTART_MEMBERS (BENCH_MEMBERS, else 100000), RESTART_WINDOW (members / 2000 s, at
# least 5: on average 2,000 registrations a second, half of what gcksd sustains), RESTART_CONCURRENCY (512: at most
# that many registrations in flight; a due member waits for a free slot, which shows as
# "members due while every slot was busy"), BENCH_LOG_LEVEL, BENCH_GCKSD_ARGS, BENCH_KEEP.
set -euo pipefail
build=${1:?usage: restart.sh BUILDDIR SRCDIR}
src=${2:?usage: restart.sh BUILDDIR SRCDIR}
members=${RESTART_MEMBERS:-${BENCH_MEMBERS:-100000}}
window=${RESTART_WINDOW:-$(( members / 2000 > 5 ? members / 2000 : 5 ))}
concurrency=${RESTART_CONCURRENCY:-512}
. "$src/test/bench/lib.sh"

policy "$work/bench.yaml" keyid:bench-1 "$members" 0 multicast
"$build/gcks/gcksctl" --db "$db" init --id fqdn:gcks.example >/dev/null
"$build/gcks/gcksctl" --db "$db" policy load "$work/bench.yaml" >/dev/null

echo "== restart: $members members register"
gcksd_start
"$build/test/bench/bench_register" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl" \
	--psk-file "$work/bench.psk" --members "$members" --concurrency 128 >"$work/first.out" ||
	{ cat "$work/first.out"; tail -n 20 "$work/gcksd.log"; exit 1; }
grep -E '^(registrations|gcksd CPU per registration):' "$work/first.out"

echo "== gcksd killed (SIGKILL) and started again"
gcksd_kill
t0=$(now)
gcksd_start
t1=$(now)
rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$gcksd_pid/status")
awk -v a="$t0" -v b="$t1" -v r="$rss0" -v n="$members" \
	'BEGIN { printf "gcksd restart: %.2f s until its control socket answered (%d members registered in its database), RSS %d kB\n", b - a, n, r }'

echo "== every member registers again, each at a random 1 s to $window s (gmd --rereg-delay $window)"
rc=0
"$build/test/bench/bench_register" --gcks "127.0.0.1:$port" --pid "$gcksd_pid" --control "$ctl" \
	--psk-file "$work/bench.psk" --members "$members" --concurrency "$concurrency" --spread "$window" \
	>"$work/storm.out" || rc=$?
cat "$work/storm.out"
t2=$(now)
awk -v a="$t0" -v b="$t2" -v w="$window" '
	/^registrations: / { ok = $2; failed = $4; wall = $(NF - 1) }
	END { printf "restart: every member back %.1f s after the restart (window %d s; the storm itself %.1f s)\n", b - a, w, wall }' "$work/storm.out"
if [ "$rc" != 0 ]; then
	echo "== last lines of the gcksd log"
	tail -n 20 "$work/gcksd.log"
fi
exit "$rc"
